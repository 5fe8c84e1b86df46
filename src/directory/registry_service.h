#pragma once
// The aurora.network.v1.NetworkRegistry gRPC service (callback API), held by the directory:
// validation and mapping over DirectoryStore's registry, and the signed copies every node follows.
//
// Signed copies. A copy is the store's registry (as of its newest durable version) with an issue
// time and a validity, serialized and signed with the key of the directory's certificate, which
// must carry the role urn:aurora:role:registry (`aurora ca issue --role registry`). The key and
// certificate files are read when a copy is signed, so a renewed certificate is used without a
// restart. One copy is shared by every caller until the version changes or a quarter of its
// validity has passed. Without signer files the copies are unsigned: only for a node without TLS,
// whose registry never leaves the process.
//
// Watch streams are driven by one notifier thread: it wakes on every directory revision and at
// the next re-signing deadline, and writes the current copy to each idle stream that is behind
// (a newer version, or half of its last copy's validity gone). A slow watcher costs one pending
// write, never a queue.
//
// Thread-safe. Call Shutdown() before the gRPC server shuts down: it ends the watch streams with
// UNAVAILABLE so that the drain does not wait for them.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/network/v1/network.grpc.pb.h"
#include "common/executor.h"
#include "directory/store.h"

namespace aurora::directory {

struct RegistryServiceOptions {
  // PEM files of the signer: a certificate with the registry role and its key. Both empty:
  // unsigned copies.
  std::string signer_cert_file;
  std::string signer_key_file;
  // How long a copy is valid; nodes refuse other organisations' calls once theirs has expired.
  absl::Duration validity = absl::Hours(1);
  int worker_threads = 2;
  size_t max_queued_calls = 256;
};

class RegistryWatchReactor;

class RegistryService final : public network::v1::NetworkRegistry::CallbackService {
 public:
  RegistryService(DirectoryStore* store, RegistryServiceOptions options = {});
  ~RegistryService() override;

  void Shutdown();

  // The current signed copy (shared while it is fresh; see the header comment).
  absl::StatusOr<std::shared_ptr<const network::v1::SignedRegistry>> SignedCopy();

  grpc::ServerUnaryReactor* SetNodeAddress(grpc::CallbackServerContext* context,
                                           const network::v1::SetNodeAddressRequest* request,
                                           network::v1::Member* response) override;
  grpc::ServerUnaryReactor* PublishService(grpc::CallbackServerContext* context,
                                           const network::v1::PublishServiceRequest* request,
                                           network::v1::NetworkService* response) override;
  grpc::ServerUnaryReactor* WithdrawService(
      grpc::CallbackServerContext* context, const network::v1::WithdrawServiceRequest* request,
      network::v1::WithdrawServiceResponse* response) override;
  grpc::ServerUnaryReactor* GetSignedRegistry(grpc::CallbackServerContext* context,
                                              const network::v1::GetSignedRegistryRequest* request,
                                              network::v1::SignedRegistry* response) override;
  grpc::ServerWriteReactor<network::v1::SignedRegistry>* WatchRegistry(
      grpc::CallbackServerContext* context,
      const network::v1::WatchRegistryRequest* request) override;

 private:
  friend class RegistryWatchReactor;

  struct Cached {
    std::shared_ptr<const network::v1::SignedRegistry> copy;
    int64_t version = 0;
    absl::Time issued = absl::InfinitePast();
  };
  absl::StatusOr<Cached> Sign();

  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                std::function<absl::Status()> work);
  void NotifierLoop();
  // Under watch_mu_.
  bool DueLocked(const RegistryWatchReactor* reactor, int64_t version, absl::Time now) const;
  void Idle(RegistryWatchReactor* reactor);
  void Done(RegistryWatchReactor* reactor);

  DirectoryStore* store_;
  RegistryServiceOptions options_;
  Executor executor_;
  int listener_id_ = 0;

  std::mutex sign_mu_;
  Cached cached_;  // guarded by sign_mu_

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool wake_ = false;
  bool shutting_down_ = false;
  std::set<RegistryWatchReactor*> watchers_;
  std::set<RegistryWatchReactor*> idle_;
  std::thread notifier_;
};

}  // namespace aurora::directory
