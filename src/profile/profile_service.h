#pragma once
// The aurora.profile.v1 gRPC services (callback API), mapping only: ProfileVault does the work.
//   * Profile: the person, with `authorization: Bearer <JWT>` metadata.
//   * ProfileAccess: a service, whose API client the gateway verified (HTTP Basic) and passes as
//     x-aurora-client-id metadata. RedeemTransfer also serves other organisations' nodes, which
//     carry no client but their organisation (x-aurora-organization-id, which the server sets
//     from their certificate: common/caller.h).
//   * DevIdentity: the development token issuer, registered only with `--dev-issuer`.
// Every call runs on a bounded pool (token checks, synced RocksDB writes), never on gRPC's
// callback threads; past the pool's queue, RESOURCE_EXHAUSTED with retry-after.
//
// Thread-safe.

#include <functional>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "aurora/compat/v1/compat.grpc.pb.h"
#include "aurora/profile/v1/profile.grpc.pb.h"
#include "common/executor.h"
#include "profile/dev_issuer.h"
#include "profile/vault.h"

namespace aurora::profile {

struct ProfileServiceOptions {
  int threads = 8;  // synced writes wait on the disk, not the CPU
  size_t max_queued_calls = 1024;
  int retry_after_seconds = 1;
};

// The pool the profile services share.
class ProfileCalls {
 public:
  explicit ProfileCalls(ProfileServiceOptions options);
  ~ProfileCalls();
  // Runs `work` on the pool and finishes the call with its status.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                std::function<absl::Status()> work);
  void Shutdown() { executor_.Shutdown(); }

 private:
  ProfileServiceOptions options_;
  Executor executor_;
};

class ProfileService final : public v1::Profile::CallbackService {
 public:
  ProfileService(ProfileVault* vault, ProfileCalls* calls) : vault_(vault), calls_(calls) {}

  grpc::ServerUnaryReactor* GetMyProfile(grpc::CallbackServerContext* context,
                                         const v1::GetMyProfileRequest* request,
                                         v1::MyProfile* response) override;
  grpc::ServerUnaryReactor* PutAttributes(grpc::CallbackServerContext* context,
                                          const v1::PutAttributesRequest* request,
                                          v1::MyProfile* response) override;
  grpc::ServerUnaryReactor* DeleteAttributes(grpc::CallbackServerContext* context,
                                             const v1::DeleteAttributesRequest* request,
                                             v1::MyProfile* response) override;
  grpc::ServerUnaryReactor* GrantConsent(grpc::CallbackServerContext* context,
                                         const v1::GrantConsentRequest* request,
                                         v1::ConsentReceipt* response) override;
  grpc::ServerUnaryReactor* WithdrawConsent(grpc::CallbackServerContext* context,
                                            const v1::WithdrawConsentRequest* request,
                                            v1::ConsentReceipt* response) override;
  grpc::ServerUnaryReactor* ListConsents(grpc::CallbackServerContext* context,
                                         const v1::ListConsentsRequest* request,
                                         v1::ListConsentsResponse* response) override;
  grpc::ServerUnaryReactor* ListAccessLog(grpc::CallbackServerContext* context,
                                          const v1::ListAccessLogRequest* request,
                                          v1::ListAccessLogResponse* response) override;
  grpc::ServerUnaryReactor* ExportProfile(grpc::CallbackServerContext* context,
                                          const v1::ExportProfileRequest* request,
                                          v1::ProfileExport* response) override;
  grpc::ServerUnaryReactor* CreateTransfer(grpc::CallbackServerContext* context,
                                           const v1::CreateTransferRequest* request,
                                           v1::Transfer* response) override;
  grpc::ServerUnaryReactor* GetReceiptKeys(grpc::CallbackServerContext* context,
                                           const v1::GetReceiptKeysRequest* request,
                                           google::api::HttpBody* response) override;
  grpc::ServerUnaryReactor* DeleteProfile(grpc::CallbackServerContext* context,
                                          const v1::DeleteProfileRequest* request,
                                          v1::DeleteProfileResponse* response) override;

 private:
  // Authenticates the bearer token of the call, then runs `work` for the person, on the pool.
  template <typename Response>
  grpc::ServerUnaryReactor* AsPerson(
      grpc::CallbackServerContext* context, Response* response,
      std::function<absl::StatusOr<Response>(const Person& person)> work);

  ProfileVault* vault_;
  ProfileCalls* calls_;
};

class ProfileAccessService final : public v1::ProfileAccess::CallbackService {
 public:
  ProfileAccessService(ProfileVault* vault, ProfileCalls* calls) : vault_(vault), calls_(calls) {}

  grpc::ServerUnaryReactor* ReadAttributes(grpc::CallbackServerContext* context,
                                           const v1::ReadAttributesRequest* request,
                                           v1::ReadAttributesResponse* response) override;
  grpc::ServerUnaryReactor* StoreAttributes(grpc::CallbackServerContext* context,
                                            const v1::StoreAttributesRequest* request,
                                            v1::StoreAttributesResponse* response) override;
  grpc::ServerUnaryReactor* CreateTransfer(grpc::CallbackServerContext* context,
                                           const v1::CreateTransferRequest* request,
                                           v1::Transfer* response) override;
  grpc::ServerUnaryReactor* RedeemTransfer(grpc::CallbackServerContext* context,
                                           const v1::RedeemTransferRequest* request,
                                           v1::RedeemTransferResponse* response) override;
  grpc::ServerUnaryReactor* ReceiveTransfer(grpc::CallbackServerContext* context,
                                            const v1::ReceiveTransferRequest* request,
                                            v1::ReceivedTransfer* response) override;

 private:
  // Runs `work` for the calling API client on the pool.
  template <typename Response>
  grpc::ServerUnaryReactor* AsClient(
      grpc::CallbackServerContext* context, Response* response,
      std::function<absl::StatusOr<Response>(const std::string& client_id)> work);

  ProfileVault* vault_;
  ProfileCalls* calls_;
};

// AuroraAI's session_attributes endpoints (aurora.compat.v1.SessionAttributes) over the vault's
// session transfer: see compat.proto for the differences from the original.
class CompatSessionService final : public aurora::compat::v1::SessionAttributes::CallbackService {
 public:
  CompatSessionService(ProfileVault* vault, ProfileCalls* calls) : vault_(vault), calls_(calls) {}

  // The gateway's address as browsers see it, for tracking links (known once the gateway runs).
  void SetPublicUrl(std::string url) {
    std::lock_guard<std::mutex> lock(mu_);
    public_url_ = std::move(url);
  }

  grpc::ServerUnaryReactor* CreateSessionAttributes(
      grpc::CallbackServerContext* context,
      const aurora::compat::v1::CreateSessionAttributesRequest* request,
      google::api::HttpBody* response) override;
  grpc::ServerUnaryReactor* GetSessionAttributes(
      grpc::CallbackServerContext* context,
      const aurora::compat::v1::GetSessionAttributesRequest* request,
      google::api::HttpBody* response) override;

 private:
  std::string PublicUrl() const {
    std::lock_guard<std::mutex> lock(mu_);
    return public_url_;
  }

  ProfileVault* vault_;
  ProfileCalls* calls_;
  mutable std::mutex mu_;
  std::string public_url_;
};

class DevIdentityService final : public v1::DevIdentity::CallbackService {
 public:
  // `audience`: the "aud" of the tokens (what the node's verifier expects).
  DevIdentityService(const DevIssuer* issuer, std::string audience)
      : issuer_(issuer), audience_(std::move(audience)) {}

  grpc::ServerUnaryReactor* IssueDevToken(grpc::CallbackServerContext* context,
                                          const v1::IssueDevTokenRequest* request,
                                          v1::DevToken* response) override;
  grpc::ServerUnaryReactor* GetDevIssuerKeys(grpc::CallbackServerContext* context,
                                             const v1::GetDevIssuerKeysRequest* request,
                                             google::api::HttpBody* response) override;

 private:
  const DevIssuer* issuer_;
  std::string audience_;
};

}  // namespace aurora::profile
