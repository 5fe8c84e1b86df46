#pragma once
// ProfileVault: what the profile node does for people and services, without gRPC. A person
// (authenticated by a bearer token from the node's identity provider) keeps attributes, grants
// and withdraws consents and reads their access log, exports or erases everything; a service (an
// API client of the directory) reads or stores a person's attributes only under a live consent,
// naming the person by the pairwise pseudonym the node gave it.
//
// Rules:
//   * The node's records are keyed by the person's store pseudonym (kStoreSector), never by the
//     identity provider's subject; a service sees only its own pairwise pseudonym of them.
//   * A service's read or store needs, for every attribute it names, a consent of the person to
//     that service, for exactly that purpose and access, neither withdrawn nor expired. Otherwise
//     PERMISSION_DENIED, with the same answer whether the person or the value exists or not.
//   * A read is written (synced) to the person's access log before the values are returned.
//   * Every grant and withdrawal yields a receipt signed by the node's receipt key.
//   * Bad input is INVALID_ARGUMENT naming the field and the value, and changes nothing.
//   * Session transfer: the token is kept as its hash only, used once, by the channel's client
//     (or, across organisations, by the node of that client's organisation); the receiving node
//     stores what a transfer carried under a person record of its own making, never under an
//     identifier of the sending node.
//
// Thread-safe (the store serialises each person's writes).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/profile/v1/profile.pb.h"
#include "profile/attributes.h"
#include "profile/dev_issuer.h"
#include "profile/jwt.h"
#include "profile/pseudonym.h"
#include "profile/store.h"

namespace aurora::profile {

// A signed-in person: who the identity provider says they are, and their store pseudonym.
struct Person {
  std::string issuer;
  std::string subject;
  std::string user;  // store pseudonym
};

// A service as the directory describes its API client.
struct ServiceClient {
  std::string client_id;
  std::string client_name;
  std::string organization_id;
  std::string organization_name;
  bool active = false;
};

// Looks an API client up in the directory: NOT_FOUND if there is no such client.
using ClientLookup = std::function<absl::StatusOr<ServiceClient>(const std::string& client_id)>;

// A service channel as the directory describes it, for session transfer.
struct ChannelTarget {
  std::string service_id;
  std::string organization_id;
  std::string channel_id;
  bool electronic = false;
  std::string web_page;  // the channel's first URL; may be empty
  // Its Service.channels[].session_transfer: empty client_id if it takes none.
  std::string client_id;
  std::vector<std::string> accepted_attributes;
};

// Looks a channel up in the directory: NOT_FOUND if no service has it.
using ChannelLookup = std::function<absl::StatusOr<ChannelTarget>(const std::string& channel_id)>;

// Redeems a session transfer at the node of another organisation (`organization_id`), which
// holds its token (ProfileAccess.RedeemTransfer there, for `request.client_id`); transfer_source.h
// does it over mutual TLS. Errors say what went wrong with which organisation or node.
using SourceRedeem = std::function<absl::StatusOr<v1::RedeemTransferResponse>(
    const std::string& organization_id, const v1::RedeemTransferRequest& request)>;

struct ProfileVaultOptions {
  absl::Duration default_consent_lifetime = absl::Hours(24 * 90);
  absl::Duration max_consent_lifetime = absl::Hours(24 * 366);
  size_t max_attributes_per_request = 16;
  size_t max_purpose_length = 200;  // code points
  // How long a session transfer token may wait to be redeemed.
  absl::Duration transfer_lifetime = absl::Minutes(10);
  // The node's organisation (from its TLS certificate); empty on a node outside a network. Named
  // in transfer links as the place to redeem them.
  std::string own_organization_id;
  // Redeems transfers held at other organisations' nodes; null: only transfers held here can be
  // received.
  SourceRedeem redeem_at_source;
  // The clock (tests set it; default absl::Now).
  std::function<absl::Time()> now;
};

class ProfileVault {
 public:
  // The pointers must outlive the vault; only `tokens` may be null (no identity provider: people
  // cannot sign in, services still read and store). `receipt_signer` signs consent receipts (its
  // Keys() verify them).
  ProfileVault(ProfileStore* store, const AttributeRegistry* attributes,
               const PseudonymKeyring* pseudonyms, const JwtVerifier* tokens,
               const DevIssuer* receipt_signer, ClientLookup clients, ChannelLookup channels,
               ProfileVaultOptions options = {});

  // UNAUTHENTICATED with the reason if the bearer token is not acceptable; FAILED_PRECONDITION
  // without an identity provider.
  absl::StatusOr<Person> Authenticate(std::string_view bearer_token) const;

  absl::StatusOr<v1::MyProfile> GetMyProfile(const Person& person) const;
  absl::StatusOr<v1::MyProfile> PutAttributes(const Person& person,
                                              const v1::PutAttributesRequest& request);
  absl::StatusOr<v1::MyProfile> DeleteAttributes(const Person& person,
                                                 const v1::DeleteAttributesRequest& request);
  absl::StatusOr<v1::ConsentReceipt> GrantConsent(const Person& person,
                                                  const v1::GrantConsentRequest& request);
  absl::StatusOr<v1::ConsentReceipt> WithdrawConsent(const Person& person,
                                                     const v1::WithdrawConsentRequest& request);
  absl::StatusOr<v1::ListConsentsResponse> ListConsents(
      const Person& person, const v1::ListConsentsRequest& request) const;
  absl::StatusOr<v1::ListAccessLogResponse> ListAccessLog(
      const Person& person, const v1::ListAccessLogRequest& request) const;
  absl::StatusOr<v1::ProfileExport> Export(const Person& person) const;
  absl::StatusOr<v1::DeleteProfileResponse> Erase(const Person& person);

  // For the service `client_id` (already authenticated by the caller).
  absl::StatusOr<v1::ReadAttributesResponse> ReadAttributes(
      const std::string& client_id, const v1::ReadAttributesRequest& request);
  absl::StatusOr<v1::StoreAttributesResponse> StoreAttributes(
      const std::string& client_id, const v1::StoreAttributesRequest& request);

  // Session transfer by the signed-in person: `attribute_names` from their profile, `attributes`
  // as given. Written to their access log.
  absl::StatusOr<v1::Transfer> CreateTransfer(const Person& person,
                                              const v1::CreateTransferRequest& request);
  // Session transfer by the service `client_id` for a person who is not signed in.
  absl::StatusOr<v1::Transfer> CreateAnonymousTransfer(const std::string& client_id,
                                                       const v1::CreateTransferRequest& request);
  // The transfer's attributes, once. `client_id` must be the channel's receiving client; empty
  // only in AuroraAI's compatibility mode (the original did not authenticate the reader).
  absl::StatusOr<v1::RedeemTransferResponse> RedeemTransfer(const std::string& client_id,
                                                            const std::string& access_token);
  // The same for another organisation's node, acting for the organisation `organization_id` its
  // certificate names: `request.client_id` must be an API client of that organisation (as the
  // directory says; PERMISSION_DENIED otherwise) and the transfer's client. A refused call does
  // not use the token up.
  absl::StatusOr<v1::RedeemTransferResponse> RedeemTransferForOrganization(
      const std::string& organization_id, const v1::RedeemTransferRequest& request);
  // Session transfer across organisations, at the receiving node, for its API client `client_id`
  // (profile.proto: ProfileAccess.ReceiveTransfer): redeems the token where it is held (here, or
  // through redeem_at_source) and stores what it carried under a new person record of this
  // node's own making, with a read and a store consent to the client for "session transfer".
  absl::StatusOr<v1::ReceivedTransfer> ReceiveTransfer(const std::string& client_id,
                                                       const v1::ReceiveTransferRequest& request);

  // The JWKS that verifies consent receipts.
  std::string ReceiptKeysJson() const { return receipt_signer_->JwksJson(); }

 private:
  absl::Time Now() const;
  // Checks names: defined, unique, 1..max_attributes_per_request of them.
  absl::Status CheckAttributeNames(const google::protobuf::RepeatedPtrField<std::string>& names,
                                   std::string_view field) const;
  absl::Status CheckPurpose(const std::string& purpose) const;
  // The person's pseudonym for the service, made and recorded on first use.
  absl::StatusOr<std::string> ServicePseudonym(const Person& person, const ServiceClient& client);
  absl::StatusOr<v1::ConsentReceipt> MakeReceipt(const std::string& event,
                                                 const v1::Consent& consent,
                                                 const ServiceClient& client) const;
  // The person behind a service's pseudonym, if every attribute has a live consent of `access`
  // for `purpose`; the consent ids used, in `consent_ids`. PERMISSION_DENIED otherwise.
  absl::StatusOr<std::string> Authorize(const std::string& client_id, const std::string& user_id,
                                        const std::vector<std::string>& attributes,
                                        const std::string& purpose, v1::Consent::Access access,
                                        std::vector<std::string>* consent_ids) const;
  absl::Status Log(const std::string& user, const std::string& client_id,
                   const std::vector<std::string>& attributes, const std::string& purpose,
                   const std::string& operation, const std::vector<std::string>& consent_ids);
  // Validated attributes from a name -> value map.
  absl::StatusOr<std::vector<v1::Attribute>> CheckValues(
      const google::protobuf::Map<std::string, google::protobuf::Value>& values,
      const std::string& source) const;

  // Both CreateTransfer flavours: `person` null for an anonymous one.
  absl::StatusOr<v1::Transfer> MakeTransfer(const Person* person,
                                            const v1::CreateTransferRequest& request);
  // The API client from the directory if it is active; otherwise PERMISSION_DENIED, the message
  // starting with `field` (e.g. "client_id: ").
  absl::StatusOr<ServiceClient> ActiveClient(const std::string& client_id, const char* field) const;
  // Takes the transfer of `access_token` if `check` accepts it (both RedeemTransfer flavours).
  absl::StatusOr<v1::RedeemTransferResponse> TakeTransfer(
      const std::string& access_token,
      const std::function<absl::Status(const v1::StoredTransfer&)>& check);
  // ReceiveTransfer's second half: a new person with what `redeemed` carried, for `client`.
  absl::StatusOr<v1::ReceivedTransfer> StoreReceived(const ServiceClient& client,
                                                     const std::string& source_organization_id,
                                                     v1::RedeemTransferResponse redeemed);

  ProfileStore* store_;
  const AttributeRegistry* attributes_;
  const PseudonymKeyring* pseudonyms_;
  const JwtVerifier* tokens_;
  const DevIssuer* receipt_signer_;
  ClientLookup clients_;
  ChannelLookup channels_;
  ProfileVaultOptions options_;
};

}  // namespace aurora::profile
