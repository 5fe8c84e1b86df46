#include "profile/vault.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/text.h"
#include "nlohmann/json.hpp"
#include "profile/crypto.h"

namespace aurora::profile {
namespace {

// The store's own pseudonyms always use key version 1: the records of a person must stay where
// they are when the key for new service pseudonyms rotates.
constexpr int kStoreKeyVersion = 1;

google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp out;
  const int64_t nanos = absl::ToUnixNanos(time);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  if (out.nanos() < 0) {
    out.set_seconds(out.seconds() - 1);
    out.set_nanos(out.nanos() + 1000000000);
  }
  return out;
}

absl::Time FromProto(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
}

std::string Rfc3339(const google::protobuf::Timestamp& time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", FromProto(time), absl::UTCTimeZone());
}

const char* AccessName(v1::Consent::Access access) {
  return access == v1::Consent::ACCESS_STORE ? "store" : "read";
}

// What a service hears when it may not read or store: the same whether or not the person exists.
absl::Status NoConsent(v1::Consent::Access access, const std::string& client_id,
                       const std::string& purpose, const std::set<std::string>& attributes) {
  return absl::PermissionDeniedError(absl::StrCat(
      "no live ", AccessName(access), " consent of this person to API client ", client_id,
      " for purpose ", QuoteForMessage(purpose), " covering ", absl::StrJoin(attributes, ", ")));
}

bool IsLive(const v1::Consent& consent, absl::Time now) {
  return !consent.has_withdraw_time() && FromProto(consent.expire_time()) > now;
}

// The namespace (the "issuer") of the people a node makes for the transfers it receives: each one
// a random subject, never seen outside the node, from which only pseudonyms are derived.
constexpr char kReceivedTransferIssuer[] = "urn:aurora:profile:received-transfer";
// The purpose of the consents a received transfer comes with, and of its log entries.
constexpr char kTransferPurpose[] = "session transfer";

// A transfer token as the node makes them. The message describes a bad one without repeating it:
// a near miss (e.g. a real token in upper case) must not end up in logs.
absl::Status CheckAccessToken(const std::string& token) {
  if (token.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "access_token: expected 64 lower-case hexadecimal characters, got ", token.size()));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    const char c = token[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(
          absl::StrCat("access_token: expected 64 lower-case hexadecimal characters; character ",
                       i + 1, " is not one"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

ProfileVault::ProfileVault(ProfileStore* store, const AttributeRegistry* attributes,
                           const PseudonymKeyring* pseudonyms, const JwtVerifier* tokens,
                           const DevIssuer* receipt_signer, ClientLookup clients,
                           ChannelLookup channels, ProfileVaultOptions options)
    : store_(store),
      attributes_(attributes),
      pseudonyms_(pseudonyms),
      tokens_(tokens),
      receipt_signer_(receipt_signer),
      clients_(std::move(clients)),
      channels_(std::move(channels)),
      options_(std::move(options)) {}

absl::Time ProfileVault::Now() const { return options_.now ? options_.now() : absl::Now(); }

absl::StatusOr<Person> ProfileVault::Authenticate(std::string_view bearer_token) const {
  if (tokens_ == nullptr) {
    return absl::FailedPreconditionError(
        "this node has no identity provider: start it with --token-issuer and --jwks-file, or "
        "--dev-issuer");
  }
  auto claims = tokens_->Verify(bearer_token, Now());
  if (!claims.ok()) return claims.status();
  auto user =
      pseudonyms_->Pseudonym(claims->issuer, claims->subject, kStoreSector, kStoreKeyVersion);
  if (!user.ok()) return user.status();
  return Person{claims->issuer, claims->subject, *std::move(user)};
}

absl::Status ProfileVault::CheckAttributeNames(
    const google::protobuf::RepeatedPtrField<std::string>& names, std::string_view field) const {
  if (names.empty() || static_cast<size_t>(names.size()) > options_.max_attributes_per_request) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": give 1 to ",
                                                   options_.max_attributes_per_request,
                                                   " attribute names, not ", names.size()));
  }
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (attributes_->Find(name) == nullptr) {
      std::vector<std::string> known;
      for (const auto& d : attributes_->definitions()) known.push_back(d.name);
      return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": unknown attribute ",
                                                     QuoteForMessage(name),
                                                     " (known: ", absl::StrJoin(known, ", "), ")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(field), ": attribute ", QuoteForMessage(name), " is named twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ProfileVault::CheckPurpose(const std::string& purpose) const {
  const auto length = Utf8Length(purpose);
  if (!length.has_value() || *length == 0 || *length > options_.max_purpose_length ||
      HasControlCharacters(purpose, false)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "purpose: 1 to ", options_.max_purpose_length,
        " characters of UTF-8 text without control characters, not ", QuoteForMessage(purpose)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Attribute>> ProfileVault::CheckValues(
    const google::protobuf::Map<std::string, google::protobuf::Value>& values,
    const std::string& source) const {
  if (values.empty() || values.size() > options_.max_attributes_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("attributes: give 1 to ",
                                                   options_.max_attributes_per_request,
                                                   " attributes, not ", values.size()));
  }
  const auto now = ToProto(Now());
  std::vector<v1::Attribute> out;
  for (const auto& [name, value] : values) {
    if (auto status = attributes_->Validate(name, value); !status.ok()) return status;
    v1::Attribute attribute;
    attribute.set_name(name);
    *attribute.mutable_value() = value;
    *attribute.mutable_update_time() = now;
    attribute.set_source(source);
    out.push_back(std::move(attribute));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  return out;
}

absl::StatusOr<v1::MyProfile> ProfileVault::GetMyProfile(const Person& person) const {
  v1::MyProfile out;
  auto attributes = store_->GetAttributes(person.user);
  if (!attributes.ok()) return attributes.status();
  for (auto& a : *attributes) *out.add_attributes() = std::move(a);
  auto services = store_->ListServicePseudonyms(person.user);
  if (!services.ok()) return services.status();
  for (auto& s : *services) *out.add_services() = std::move(s);
  return out;
}

absl::StatusOr<v1::MyProfile> ProfileVault::PutAttributes(const Person& person,
                                                          const v1::PutAttributesRequest& request) {
  auto attributes = CheckValues(request.attributes(), "user");
  if (!attributes.ok()) return attributes.status();
  if (auto status = store_->PutAttributes(person.user, *attributes); !status.ok()) return status;
  return GetMyProfile(person);
}

absl::StatusOr<v1::MyProfile> ProfileVault::DeleteAttributes(
    const Person& person, const v1::DeleteAttributesRequest& request) {
  if (auto status = CheckAttributeNames(request.names(), "names"); !status.ok()) return status;
  auto deleted = store_->DeleteAttributes(
      person.user, std::vector<std::string>(request.names().begin(), request.names().end()));
  if (!deleted.ok()) return deleted.status();
  return GetMyProfile(person);
}

absl::StatusOr<std::string> ProfileVault::ServicePseudonym(const Person& person,
                                                           const ServiceClient& client) {
  auto services = store_->ListServicePseudonyms(person.user);
  if (!services.ok()) return services.status();
  for (const auto& s : *services) {
    if (s.client_id() == client.client_id) return s.user_id();
  }
  auto id = pseudonyms_->Pseudonym(person.issuer, person.subject, client.client_id);
  if (!id.ok()) return id.status();
  v1::ServicePseudonym record;
  record.set_client_id(client.client_id);
  record.set_client_name(client.client_name);
  record.set_user_id(*id);
  if (auto status = store_->PutServicePseudonym(person.user, record); !status.ok()) return status;
  return *id;
}

absl::StatusOr<v1::ConsentReceipt> ProfileVault::MakeReceipt(const std::string& event,
                                                             const v1::Consent& consent,
                                                             const ServiceClient& client) const {
  v1::ConsentReceipt receipt;
  receipt.set_receipt_id(NewRandomUuid());
  receipt.set_event(event);
  *receipt.mutable_consent() = consent;
  receipt.set_controller_organization_id(client.organization_id);
  receipt.set_controller_name(client.organization_name);
  *receipt.mutable_issue_time() = ToProto(Now());

  nlohmann::json consent_json = {
      {"consent_id", consent.consent_id()},
      {"attributes",
       std::vector<std::string>(consent.attributes().begin(), consent.attributes().end())},
      {"purpose", consent.purpose()},
      {"access", AccessName(consent.access())},
      {"granted_at", Rfc3339(consent.grant_time())},
      {"expires_at", Rfc3339(consent.expire_time())}};
  if (consent.has_withdraw_time()) consent_json["withdrawn_at"] = Rfc3339(consent.withdraw_time());
  const nlohmann::json payload = {
      {"receipt_version", "aurora-consent-receipt-1"},
      {"receipt_id", receipt.receipt_id()},
      {"event", event},
      {"issued_at", Rfc3339(receipt.issue_time())},
      {"controller",
       {{"organization_id", client.organization_id}, {"name", client.organization_name}}},
      {"service", {{"client_id", client.client_id}, {"name", client.client_name}}},
      {"principal", consent.user_id()},
      {"consent", consent_json}};
  auto signed_receipt = receipt_signer_->SignJws(payload.dump());
  if (!signed_receipt.ok()) return signed_receipt.status();
  receipt.set_signed_receipt(*std::move(signed_receipt));
  return receipt;
}

absl::StatusOr<v1::ConsentReceipt> ProfileVault::GrantConsent(
    const Person& person, const v1::GrantConsentRequest& request) {
  if (!IsCanonicalUuid(request.client_id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("client_id: expected an API client's id (a UUID), not ",
                     QuoteForMessage(request.client_id())));
  }
  if (auto status = CheckAttributeNames(request.attributes(), "attributes"); !status.ok()) {
    return status;
  }
  if (auto status = CheckPurpose(request.purpose()); !status.ok()) return status;
  if (request.access() != v1::Consent::ACCESS_READ &&
      request.access() != v1::Consent::ACCESS_STORE) {
    return absl::InvalidArgumentError(absl::StrCat("access: ACCESS_READ or ACCESS_STORE, not ",
                                                   v1::Consent::Access_Name(request.access())));
  }
  const absl::Time now = Now();
  absl::Time expires = now + options_.default_consent_lifetime;
  if (request.has_expire_time()) {
    expires = FromProto(request.expire_time());
    if (expires <= now || expires > now + options_.max_consent_lifetime) {
      return absl::InvalidArgumentError(
          absl::StrCat("expire_time: must be in the future and at most ",
                       absl::FormatDuration(options_.max_consent_lifetime), " ahead, not ",
                       Rfc3339(request.expire_time())));
    }
  }
  auto client = clients_(request.client_id());
  if (!client.ok()) {
    if (absl::IsNotFound(client.status())) {
      return absl::NotFoundError(absl::StrCat(
          "client_id: no API client ", QuoteForMessage(request.client_id()), " in the directory"));
    }
    return client.status();
  }
  if (!client->active) {
    return absl::FailedPreconditionError(absl::StrCat(
        "client_id: API client ", QuoteForMessage(request.client_id()), " is revoked"));
  }
  auto user_id = ServicePseudonym(person, *client);
  if (!user_id.ok()) return user_id.status();

  v1::Consent consent;
  consent.set_consent_id(NewRandomUuid());
  consent.set_client_id(client->client_id);
  consent.set_client_name(client->client_name);
  *consent.mutable_attributes() = request.attributes();
  consent.set_purpose(request.purpose());
  consent.set_access(request.access());
  *consent.mutable_grant_time() = ToProto(now);
  *consent.mutable_expire_time() = ToProto(expires);
  consent.set_user_id(*user_id);
  auto receipt = MakeReceipt("grant", consent, *client);
  if (!receipt.ok()) return receipt.status();
  if (auto status = store_->PutConsent(person.user, consent, *receipt); !status.ok()) return status;
  return receipt;
}

absl::StatusOr<v1::ConsentReceipt> ProfileVault::WithdrawConsent(
    const Person& person, const v1::WithdrawConsentRequest& request) {
  if (!IsCanonicalUuid(request.consent_id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("consent_id: expected a UUID, not ", QuoteForMessage(request.consent_id())));
  }
  auto consent = store_->GetConsent(person.user, request.consent_id());
  if (!consent.ok()) return consent.status();
  if (!consent->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("consent_id: no consent ", QuoteForMessage(request.consent_id())));
  }
  v1::Consent withdrawn = **consent;
  if (withdrawn.has_withdraw_time()) {
    return absl::FailedPreconditionError(absl::StrCat("consent ", request.consent_id(),
                                                      " was withdrawn at ",
                                                      Rfc3339(withdrawn.withdraw_time())));
  }
  *withdrawn.mutable_withdraw_time() = ToProto(Now());
  ServiceClient client{withdrawn.client_id(), withdrawn.client_name(), "", "", false};
  // The controller as the directory knows it now; a client removed since keeps its stored name.
  if (auto found = clients_(withdrawn.client_id()); found.ok()) client = *found;
  auto receipt = MakeReceipt("withdrawal", withdrawn, client);
  if (!receipt.ok()) return receipt.status();
  if (auto status = store_->PutConsent(person.user, withdrawn, *receipt); !status.ok()) {
    return status;
  }
  return receipt;
}

absl::StatusOr<v1::ListConsentsResponse> ProfileVault::ListConsents(
    const Person& person, const v1::ListConsentsRequest& request) const {
  auto consents = store_->ListConsents(person.user);
  if (!consents.ok()) return consents.status();
  auto receipts = store_->ListReceipts(person.user);
  if (!receipts.ok()) return receipts.status();
  const absl::Time now = Now();
  v1::ListConsentsResponse out;
  std::set<std::string> listed;
  for (auto& consent : *consents) {
    if (!request.include_inactive() && !IsLive(consent, now)) continue;
    listed.insert(consent.consent_id());
    *out.add_consents() = std::move(consent);
  }
  std::sort(out.mutable_consents()->begin(), out.mutable_consents()->end(),
            [](const v1::Consent& a, const v1::Consent& b) {
              return std::make_pair(a.grant_time().seconds(), a.consent_id()) <
                     std::make_pair(b.grant_time().seconds(), b.consent_id());
            });
  for (auto& receipt : *receipts) {
    if (listed.contains(receipt.consent().consent_id())) *out.add_receipts() = std::move(receipt);
  }
  std::sort(
      out.mutable_receipts()->begin(), out.mutable_receipts()->end(),
      [](const v1::ConsentReceipt& a, const v1::ConsentReceipt& b) {
        return std::make_tuple(a.issue_time().seconds(), a.issue_time().nanos(), a.receipt_id()) <
               std::make_tuple(b.issue_time().seconds(), b.issue_time().nanos(), b.receipt_id());
      });
  return out;
}

absl::StatusOr<v1::ListAccessLogResponse> ProfileVault::ListAccessLog(
    const Person& person, const v1::ListAccessLogRequest& request) const {
  if (request.limit() < 0 || request.limit() > 500) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: 1 to 500 (0: 100), not ", request.limit()));
  }
  auto entries = store_->ListAccessLog(person.user, request.limit() == 0 ? 100 : request.limit());
  if (!entries.ok()) return entries.status();
  v1::ListAccessLogResponse out;
  for (auto& e : *entries) *out.add_entries() = std::move(e);
  return out;
}

absl::StatusOr<v1::ProfileExport> ProfileVault::Export(const Person& person) const {
  v1::ProfileExport out;
  *out.mutable_export_time() = ToProto(Now());
  auto profile = GetMyProfile(person);
  if (!profile.ok()) return profile.status();
  *out.mutable_attributes() = std::move(*profile->mutable_attributes());
  *out.mutable_services() = std::move(*profile->mutable_services());
  v1::ListConsentsRequest all;
  all.set_include_inactive(true);
  auto consents = ListConsents(person, all);
  if (!consents.ok()) return consents.status();
  *out.mutable_consents() = std::move(*consents->mutable_consents());
  *out.mutable_receipts() = std::move(*consents->mutable_receipts());
  auto log = store_->ListAccessLog(person.user);
  if (!log.ok()) return log.status();
  for (auto& e : *log) *out.add_access_log() = std::move(e);
  return out;
}

absl::StatusOr<v1::DeleteProfileResponse> ProfileVault::Erase(const Person& person) {
  auto deleted = store_->Erase(person.user);
  if (!deleted.ok()) return deleted.status();
  v1::DeleteProfileResponse out;
  out.set_deleted_records(*deleted);
  return out;
}

absl::StatusOr<std::string> ProfileVault::Authorize(const std::string& client_id,
                                                    const std::string& user_id,
                                                    const std::vector<std::string>& attributes,
                                                    const std::string& purpose,
                                                    v1::Consent::Access access,
                                                    std::vector<std::string>* consent_ids) const {
  if (!IsCanonicalUuid(user_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("user_id: expected the person's pseudonym for this service (a UUID), not ",
                     QuoteForMessage(user_id)));
  }
  std::set<std::string> missing(attributes.begin(), attributes.end());
  auto user = store_->FindUser(client_id, user_id);
  if (!user.ok()) return user.status();
  if (user->has_value()) {
    auto consents = store_->ListConsents(**user);
    if (!consents.ok()) return consents.status();
    const absl::Time now = Now();
    for (const auto& consent : *consents) {
      if (consent.client_id() != client_id || consent.access() != access ||
          consent.purpose() != purpose || !IsLive(consent, now)) {
        continue;
      }
      bool used = false;
      for (const auto& a : consent.attributes()) used |= missing.erase(a) > 0;
      if (used) consent_ids->push_back(consent.consent_id());
    }
  }
  if (!missing.empty()) return NoConsent(access, client_id, purpose, missing);
  return **user;
}

absl::Status ProfileVault::Log(const std::string& user, const std::string& client_id,
                               const std::vector<std::string>& attributes,
                               const std::string& purpose, const std::string& operation,
                               const std::vector<std::string>& consent_ids) {
  v1::AccessLogEntry entry;
  *entry.mutable_time() = ToProto(Now());
  entry.set_client_id(client_id);
  if (auto client = clients_(client_id); client.ok()) {
    entry.set_client_name(client->client_name);
    entry.set_organization_id(client->organization_id);
  }
  for (const auto& a : attributes) entry.add_attributes(a);
  entry.set_purpose(purpose);
  entry.set_operation(operation);
  for (const auto& id : consent_ids) entry.add_consent_ids(id);
  return store_->AppendAccessLog(user, entry);
}

absl::StatusOr<v1::ReadAttributesResponse> ProfileVault::ReadAttributes(
    const std::string& client_id, const v1::ReadAttributesRequest& request) {
  if (auto status = CheckAttributeNames(request.attributes(), "attributes"); !status.ok()) {
    return status;
  }
  if (auto status = CheckPurpose(request.purpose()); !status.ok()) return status;
  const std::vector<std::string> names(request.attributes().begin(), request.attributes().end());
  std::vector<std::string> consent_ids;
  auto user = Authorize(client_id, request.user_id(), names, request.purpose(),
                        v1::Consent::ACCESS_READ, &consent_ids);
  if (!user.ok()) return user.status();
  auto values = store_->GetAttributes(*user, names);
  if (!values.ok()) return values.status();
  // A person erased since the check: no log entry, no values.
  if (auto status = Log(*user, client_id, names, request.purpose(), "read", consent_ids);
      !status.ok()) {
    if (absl::IsNotFound(status)) {
      return NoConsent(v1::Consent::ACCESS_READ, client_id, request.purpose(),
                       std::set<std::string>(names.begin(), names.end()));
    }
    return status;
  }
  v1::ReadAttributesResponse out;
  for (auto& v : *values) *out.add_attributes() = std::move(v);
  return out;
}

absl::StatusOr<v1::StoreAttributesResponse> ProfileVault::StoreAttributes(
    const std::string& client_id, const v1::StoreAttributesRequest& request) {
  if (auto status = CheckPurpose(request.purpose()); !status.ok()) return status;
  auto attributes = CheckValues(request.attributes(), client_id);
  if (!attributes.ok()) return attributes.status();
  std::vector<std::string> names;
  for (const auto& a : *attributes) names.push_back(a.name());
  std::vector<std::string> consent_ids;
  auto user = Authorize(client_id, request.user_id(), names, request.purpose(),
                        v1::Consent::ACCESS_STORE, &consent_ids);
  if (!user.ok()) return user.status();
  if (auto status = store_->PutAttributes(*user, *attributes, /*existing_only=*/true);
      !status.ok()) {
    if (absl::IsNotFound(status)) {  // erased since the check
      return NoConsent(v1::Consent::ACCESS_STORE, client_id, request.purpose(),
                       std::set<std::string>(names.begin(), names.end()));
    }
    return status;
  }
  if (auto status = Log(*user, client_id, names, request.purpose(), "store", consent_ids);
      !status.ok()) {
    return status;
  }
  v1::StoreAttributesResponse out;
  for (auto& a : *attributes) *out.add_attributes() = std::move(a);
  return out;
}

absl::StatusOr<v1::Transfer> ProfileVault::CreateTransfer(
    const Person& person, const v1::CreateTransferRequest& request) {
  return MakeTransfer(&person, request);
}

absl::StatusOr<v1::Transfer> ProfileVault::CreateAnonymousTransfer(
    const std::string& client_id, const v1::CreateTransferRequest& request) {
  if (!request.attribute_names().empty()) {
    return absl::InvalidArgumentError(
        "attribute_names: only a signed-in person sends stored attributes; give the values in "
        "attributes");
  }
  (void)client_id;  // authenticated by the gateway; the transfer is the person's, not its own
  return MakeTransfer(nullptr, request);
}

absl::StatusOr<v1::Transfer> ProfileVault::MakeTransfer(const Person* person,
                                                        const v1::CreateTransferRequest& request) {
  if (!IsCanonicalUuid(request.service_channel_id())) {
    return absl::InvalidArgumentError(absl::StrCat("service_channel_id: expected a UUID, not ",
                                                   QuoteForMessage(request.service_channel_id())));
  }
  if (!request.service_id().empty() && !IsCanonicalUuid(request.service_id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("service_id: expected a UUID, not ", QuoteForMessage(request.service_id())));
  }
  if (request.attributes().empty() && request.attribute_names().empty()) {
    return absl::InvalidArgumentError("attributes: give at least one attribute to send");
  }
  if (!request.attribute_names().empty()) {
    if (auto s = CheckAttributeNames(request.attribute_names(), "attribute_names"); !s.ok()) {
      return s;
    }
  }
  std::vector<v1::Attribute> given;
  if (!request.attributes().empty()) {
    auto checked = CheckValues(request.attributes(), person != nullptr ? "user" : "service");
    if (!checked.ok()) return checked.status();
    given = *std::move(checked);
  }
  auto target = channels_(request.service_channel_id());
  if (!target.ok()) return target.status();
  if (!request.service_id().empty() && request.service_id() != target->service_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("service_id: channel ", request.service_channel_id(), " belongs to service ",
                     target->service_id, ", not ", request.service_id()));
  }
  if (target->client_id.empty()) {
    return absl::NotFoundError(absl::StrCat("service_channel_id: channel ",
                                            request.service_channel_id(),
                                            " takes no session transfers"));
  }
  auto client = clients_(target->client_id);
  if (!client.ok()) return client.status();
  if (!client->active) {
    return absl::FailedPreconditionError(
        absl::StrCat("service_channel_id: the receiving API client of channel ",
                     request.service_channel_id(), " is revoked"));
  }

  // What goes: the accepted attributes among those given, then among the named stored ones.
  std::map<std::string, v1::Attribute> sending;
  const auto accepted = [&](const std::string& name) {
    return std::find(target->accepted_attributes.begin(), target->accepted_attributes.end(),
                     name) != target->accepted_attributes.end();
  };
  for (auto& a : given) {
    if (accepted(a.name())) sending[a.name()] = std::move(a);
  }
  if (person != nullptr && !request.attribute_names().empty()) {
    auto stored = store_->GetAttributes(person->user,
                                        std::vector<std::string>(request.attribute_names().begin(),
                                                                 request.attribute_names().end()));
    if (!stored.ok()) return stored.status();
    for (auto& a : *stored) {
      if (accepted(a.name()) && !sending.contains(a.name())) sending[a.name()] = std::move(a);
    }
  }

  v1::Transfer out;
  out.set_client_id(client->client_id);
  out.set_client_name(client->client_name);
  out.set_redirect_url(target->web_page);
  if (sending.empty()) return out;  // as AuroraAI: nothing acceptable, no token

  if (auto swept = store_->SweepTransfers(Now()); !swept.ok()) return swept.status();
  const std::string token = HexEncode(RandomBytes(32));
  v1::StoredTransfer record;
  record.set_client_id(client->client_id);
  record.set_service_channel_id(target->channel_id);
  for (auto& [name, attribute] : sending) {
    out.add_attributes(name);
    *record.add_attributes() = std::move(attribute);
  }
  *record.mutable_expire_time() = ToProto(Now() + options_.transfer_lifetime);
  *out.mutable_expire_time() = record.expire_time();
  if (person != nullptr) {
    const std::vector<std::string> names(out.attributes().begin(), out.attributes().end());
    // The person's record of it first: a transfer they cannot see never leaves.
    if (auto status =
            Log(person->user, client->client_id, names, "session transfer", "transfer", {});
        !status.ok() && !absl::IsNotFound(status)) {
      return status;
    }
  }
  if (auto status = store_->PutTransfer(token, record); !status.ok()) {
    return status;
  }
  out.set_access_token(token);
  out.set_source_organization_id(options_.own_organization_id);
  if (!target->web_page.empty()) {
    const bool has_query = target->web_page.find('?') != std::string::npos;
    out.set_redirect_url(
        absl::StrCat(target->web_page, has_query ? "&" : "?", "auroraai_access_token=", token));
    // The receiving service may run at another organisation's node: the link says where the
    // token can be redeemed (ReceiveTransfer there calls this node).
    if (!options_.own_organization_id.empty()) {
      out.set_redirect_url(absl::StrCat(out.redirect_url(),
                                        "&aurora_transfer_source=", options_.own_organization_id));
    }
  }
  return out;
}

absl::StatusOr<v1::RedeemTransferResponse> ProfileVault::TakeTransfer(
    const std::string& access_token,
    const std::function<absl::Status(const v1::StoredTransfer&)>& check) {
  auto taken = store_->TakeTransfer(access_token, Now(), check);
  if (!taken.ok()) return taken.status();
  if (!taken->has_value()) {
    return absl::NotFoundError("access_token: no such transfer (unknown, used or expired)");
  }
  v1::RedeemTransferResponse out;
  *out.mutable_attributes() = std::move(*(*taken)->mutable_attributes());
  out.set_service_channel_id((*taken)->service_channel_id());
  out.set_client_id((*taken)->client_id());
  return out;
}

absl::StatusOr<v1::RedeemTransferResponse> ProfileVault::RedeemTransfer(
    const std::string& client_id, const std::string& access_token) {
  if (auto status = CheckAccessToken(access_token); !status.ok()) return status;
  return TakeTransfer(access_token, [&](const v1::StoredTransfer& transfer) -> absl::Status {
    if (!client_id.empty() && transfer.client_id() != client_id) {
      return absl::PermissionDeniedError("access_token: the transfer is for another API client");
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<ServiceClient> ProfileVault::ActiveClient(const std::string& client_id,
                                                         const char* field) const {
  auto client = clients_(client_id);
  if (!client.ok()) {
    if (absl::IsNotFound(client.status())) {
      return absl::PermissionDeniedError(
          absl::StrCat(field, "no API client ", client_id, " in the directory"));
    }
    return client.status();
  }
  if (!client->active) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, "API client ", client_id, " is revoked"));
  }
  return client;
}

absl::StatusOr<v1::RedeemTransferResponse> ProfileVault::RedeemTransferForOrganization(
    const std::string& organization_id, const v1::RedeemTransferRequest& request) {
  if (auto status = CheckAccessToken(request.access_token()); !status.ok()) return status;
  const std::string& client_id = request.client_id();
  if (!IsCanonicalUuid(client_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client_id: another organisation's node names the API client of its organisation that it "
        "redeems for (a UUID), not ",
        QuoteForMessage(client_id)));
  }
  // The client's organisation is settled before the token is touched (and outside the store's
  // transfer lock, since it may ask the directory): a refused caller uses nothing up.
  auto client = ActiveClient(client_id, "client_id: ");
  if (!client.ok()) return client.status();
  if (client->organization_id != organization_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("client_id: API client ", client_id, " belongs to organisation ",
                     QuoteForMessage(client->organization_id), ", not to the calling organisation ",
                     QuoteForMessage(organization_id)));
  }
  auto redeemed =
      TakeTransfer(request.access_token(), [&](const v1::StoredTransfer& transfer) -> absl::Status {
        if (transfer.client_id() != client_id) {
          return absl::PermissionDeniedError(
              "access_token: the transfer is for another API client");
        }
        return absl::OkStatus();
      });
  if (redeemed.ok()) {
    LogInfo("profile", "session transfer redeemed by another organisation's node",
            {{"caller_organization", organization_id},
             {"client_id", client_id},
             {"attributes", absl::StrCat(redeemed->attributes_size())}});
  }
  return redeemed;
}

absl::StatusOr<v1::ReceivedTransfer> ProfileVault::ReceiveTransfer(
    const std::string& client_id, const v1::ReceiveTransferRequest& request) {
  if (auto status = CheckAccessToken(request.access_token()); !status.ok()) return status;
  const std::string& source = request.source_organization_id();
  if (!source.empty() && !IsCanonicalUuid(source)) {
    return absl::InvalidArgumentError(
        absl::StrCat("source_organization_id: expected the id of the organisation whose node "
                     "holds the transfer (a UUID, the link's aurora_transfer_source), or empty "
                     "for this node, not ",
                     QuoteForMessage(source)));
  }
  auto client = ActiveClient(client_id, "");
  if (!client.ok()) return client.status();
  const std::string& own = options_.own_organization_id;
  if (source.empty() || source == own) {
    auto redeemed = RedeemTransfer(client_id, request.access_token());
    if (!redeemed.ok()) return redeemed.status();
    return StoreReceived(*client, own, *std::move(redeemed));
  }

  // Held at another organisation's node: this node redeems it there for its own organisation's
  // clients only (that node checks the same against this node's certificate).
  if (own.empty() || !options_.redeem_at_source) {
    return absl::FailedPreconditionError(absl::StrCat(
        "source_organization_id: the transfer is held at organisation ", source,
        "'s node, and this node is not a network member node that can call it (it runs without "
        "--tls-cert)"));
  }
  if (client->organization_id != own) {
    return absl::PermissionDeniedError(
        absl::StrCat("API client ", client_id, " belongs to organisation ",
                     QuoteForMessage(client->organization_id),
                     "; this node receives transfers for the API clients of organisation ", own));
  }
  v1::RedeemTransferRequest redeem;
  redeem.set_access_token(request.access_token());
  redeem.set_client_id(client_id);
  auto redeemed = options_.redeem_at_source(source, redeem);
  if (!redeemed.ok()) return redeemed.status();
  if (redeemed->client_id() != client_id) {
    // The source node checked this; a node that answers otherwise is not to be believed.
    return absl::FailedPreconditionError(
        absl::StrCat("organisation ", source, "'s node handed over a transfer for API client ",
                     QuoteForMessage(redeemed->client_id()), ", not for ", client_id));
  }
  return StoreReceived(*client, source, *std::move(redeemed));
}

absl::StatusOr<v1::ReceivedTransfer> ProfileVault::StoreReceived(
    const ServiceClient& client, const std::string& source_organization_id,
    v1::RedeemTransferResponse redeemed) {
  const std::string from =
      source_organization_id.empty() ? "this node" : "organisation " + source_organization_id;
  // What another node sends is checked like any input: this node's definitions decide what it
  // stores. The transfer is used up at its source already, so the error says it is lost.
  if (!IsCanonicalUuid(redeemed.service_channel_id())) {
    return absl::FailedPreconditionError(absl::StrCat(
        from, " handed over a transfer with the service_channel_id ",
        QuoteForMessage(redeemed.service_channel_id()), ", not a UUID; nothing was stored"));
  }
  google::protobuf::Map<std::string, google::protobuf::Value> values;
  for (auto& attribute : *redeemed.mutable_attributes()) {
    if (!values.insert({attribute.name(), std::move(*attribute.mutable_value())}).second) {
      return absl::FailedPreconditionError(absl::StrCat(from, " handed over the attribute ",
                                                        QuoteForMessage(attribute.name()),
                                                        " twice; nothing was stored"));
    }
  }
  auto attributes = CheckValues(values, client.client_id);
  if (!attributes.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(from, " handed over attributes that this node does not take (",
                     attributes.status().message(), "); nothing was stored"));
  }

  // A person of this node's own making: a random subject in this node's namespace, from which
  // the store pseudonym and the client's pairwise pseudonym are derived as for anyone else.
  Person person{kReceivedTransferIssuer, HexEncode(RandomBytes(32)), ""};
  auto user = pseudonyms_->Pseudonym(person.issuer, person.subject, kStoreSector, kStoreKeyVersion);
  if (!user.ok()) return user.status();
  person.user = *std::move(user);
  auto user_id = pseudonyms_->Pseudonym(person.issuer, person.subject, client.client_id);
  if (!user_id.ok()) return user_id.status();

  ProfileStore::NewProfile profile;
  profile.user = person.user;
  v1::ServicePseudonym service;
  service.set_client_id(client.client_id);
  service.set_client_name(client.client_name);
  service.set_user_id(*user_id);
  profile.services.push_back(service);

  v1::ReceivedTransfer out;
  out.set_user_id(*user_id);
  out.set_service_channel_id(redeemed.service_channel_id());
  out.set_source_organization_id(source_organization_id);
  const absl::Time now = Now();
  std::vector<std::string> names;
  for (const auto& a : *attributes) names.push_back(a.name());
  for (auto access : {v1::Consent::ACCESS_READ, v1::Consent::ACCESS_STORE}) {
    v1::Consent consent;
    consent.set_consent_id(NewRandomUuid());
    consent.set_client_id(client.client_id);
    consent.set_client_name(client.client_name);
    for (const auto& name : names) consent.add_attributes(name);
    consent.set_purpose(kTransferPurpose);
    consent.set_access(access);
    *consent.mutable_grant_time() = ToProto(now);
    *consent.mutable_expire_time() = ToProto(now + options_.default_consent_lifetime);
    consent.set_user_id(*user_id);
    auto receipt = MakeReceipt("grant", consent, client);
    if (!receipt.ok()) return receipt.status();
    *out.add_consents() = consent;
    profile.consents.emplace_back(std::move(consent), *std::move(receipt));
  }
  v1::AccessLogEntry entry;
  *entry.mutable_time() = ToProto(now);
  entry.set_client_id(client.client_id);
  entry.set_client_name(client.client_name);
  entry.set_organization_id(client.organization_id);
  for (const auto& name : names) entry.add_attributes(name);
  entry.set_purpose(kTransferPurpose);
  entry.set_operation("transfer");
  for (const auto& consent : out.consents()) entry.add_consent_ids(consent.consent_id());
  profile.access_log.push_back(std::move(entry));
  for (const auto& a : *attributes) *out.add_attributes() = a;
  profile.attributes = *std::move(attributes);

  if (auto status = store_->Create(profile); !status.ok()) return status;
  LogInfo("profile", "session transfer received",
          {{"source_organization",
            source_organization_id.empty() ? "this node" : source_organization_id},
           {"client_id", client.client_id},
           {"attributes", absl::StrCat(out.attributes_size())}});
  return out;
}

}  // namespace aurora::profile
