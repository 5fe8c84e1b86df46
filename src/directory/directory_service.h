#pragma once
// The aurora.directory.v1.Directory gRPC service (callback API): validation and mapping only; the
// logic lives in DirectoryStore, ServiceIndex and CheckServiceText.
//
// Writes, secret hashing and change-log reads run on a bounded executor, never on gRPC's callback
// threads; when its queue is full a call fails with RESOURCE_EXHAUSTED. Watch streams follow the
// durable change log with one cursor each, so a slow watcher costs no memory beyond its cursor.
//
// Thread-safe. Call Shutdown() before the gRPC server shuts down: it ends every watch stream with
// UNAVAILABLE so that the drain does not wait for them.

#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "aurora/directory/v1/directory.grpc.pb.h"
#include "common/executor.h"
#include "common/codelists.h"
#include "directory/store.h"

namespace aurora::directory {

struct DirectoryServiceOptions {
  int worker_threads = 4;
  size_t max_queued_calls = 1024;
  // Events per watch response.
  int watch_batch = 256;
};

class WatchReactor;

// ListServices is a raw method: its response is assembled from the serialized services the index
// holds, without parsing and re-serializing them.
class DirectoryService final
    : public v1::Directory::WithRawCallbackMethod_ListServices<v1::Directory::CallbackService> {
 public:
  DirectoryService(DirectoryStore* store, const CodeLists* codes,
                   DirectoryServiceOptions options = {});
  ~DirectoryService() override;

  void Shutdown();

  grpc::ServerUnaryReactor* RegisterOrganization(grpc::CallbackServerContext* context,
                                                 const v1::RegisterOrganizationRequest* request,
                                                 v1::Organization* response) override;
  grpc::ServerUnaryReactor* GetOrganization(grpc::CallbackServerContext* context,
                                            const v1::GetOrganizationRequest* request,
                                            v1::Organization* response) override;
  grpc::ServerUnaryReactor* ListOrganizations(grpc::CallbackServerContext* context,
                                              const v1::ListOrganizationsRequest* request,
                                              v1::ListOrganizationsResponse* response) override;
  grpc::ServerUnaryReactor* RegisterApiClient(grpc::CallbackServerContext* context,
                                              const v1::RegisterApiClientRequest* request,
                                              v1::ApiClientCredentials* response) override;
  grpc::ServerUnaryReactor* RotateApiClientSecret(grpc::CallbackServerContext* context,
                                                  const v1::RotateApiClientSecretRequest* request,
                                                  v1::ApiClientCredentials* response) override;
  grpc::ServerUnaryReactor* ListApiClients(grpc::CallbackServerContext* context,
                                           const v1::ListApiClientsRequest* request,
                                           v1::ListApiClientsResponse* response) override;
  grpc::ServerUnaryReactor* RevokeApiClient(grpc::CallbackServerContext* context,
                                            const v1::RevokeApiClientRequest* request,
                                            v1::ApiClient* response) override;
  grpc::ServerUnaryReactor* CreateService(grpc::CallbackServerContext* context,
                                          const v1::CreateServiceRequest* request,
                                          v1::Service* response) override;
  grpc::ServerUnaryReactor* UpdateService(grpc::CallbackServerContext* context,
                                          const v1::UpdateServiceRequest* request,
                                          v1::Service* response) override;
  grpc::ServerUnaryReactor* GetService(grpc::CallbackServerContext* context,
                                       const v1::GetServiceRequest* request,
                                       v1::Service* response) override;
  grpc::ServerUnaryReactor* DeleteService(grpc::CallbackServerContext* context,
                                          const v1::DeleteServiceRequest* request,
                                          v1::DeleteServiceResponse* response) override;
  grpc::ServerUnaryReactor* ListServices(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerReadReactor<v1::ImportServicesRequest>* ImportServices(
      grpc::CallbackServerContext* context, v1::ImportServicesResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(grpc::CallbackServerContext* context,
                                                     const v1::WatchRequest* request) override;
  grpc::ServerUnaryReactor* VerifyApiClient(grpc::CallbackServerContext* context,
                                            const v1::VerifyApiClientRequest* request,
                                            v1::ApiClient* response) override;
  grpc::ServerUnaryReactor* DescribeApiClient(grpc::CallbackServerContext* context,
                                              const v1::DescribeApiClientRequest* request,
                                              v1::ApiClientDescription* response) override;
  grpc::ServerUnaryReactor* CheckServiceText(grpc::CallbackServerContext* context,
                                             const v1::CheckServiceTextRequest* request,
                                             v1::CheckServiceTextResponse* response) override;

 private:
  friend class WatchReactor;
  friend class ImportReactor;

  // OK for direct gRPC callers and for an HTTP caller of `service_id`'s organisation (or when no
  // such service exists); PERMISSION_DENIED otherwise.
  absl::Status CheckCallerOwnsService(const std::string& caller,
                                      const std::string& service_id) const;

  // Runs `work` on the executor and finishes the call with its status.
  grpc::ServerUnaryReactor* RunBlocking(grpc::CallbackServerContext* context,
                                        std::function<absl::Status()> work);
  // Runs `work` (returning absl::StatusOr<Response>) on the executor; on success moves the value
  // into *response; finishes the call with the status.
  template <typename Response, typename Work>
  grpc::ServerUnaryReactor* RunBlockingInto(grpc::CallbackServerContext* context,
                                            Response* response, Work work) {
    return RunBlocking(context, [response, work = std::move(work)]() -> absl::Status {
      auto result = work();
      if (!result.ok()) return result.status();
      *response = std::move(*result);
      return absl::OkStatus();
    });
  }
  // Watch bookkeeping, all under watch_mu_.
  void OnRevision();
  void ScheduleFill(WatchReactor* reactor);
  void Fill(WatchReactor* reactor);
  void WatchDone(WatchReactor* reactor);

  DirectoryStore* store_;
  const CodeLists* codes_;
  DirectoryServiceOptions options_;
  Executor executor_;
  int listener_id_ = 0;

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool shutting_down_ = false;
  std::set<WatchReactor*> watchers_;
  std::vector<WatchReactor*> waiting_;
};

}  // namespace aurora::directory
