#pragma once
// HealthService: grpc.health.v1.Health (Check and Watch) with one status per component plus the
// overall "" status. Unlike gRPC's built-in service, Shutdown() tells every watcher NOT_SERVING and
// then ends its stream, so that long-lived Watch calls (client-side health checking keeps one
// open) do not hold a draining server until its grace deadline.
//
// Thread-safe.

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"

namespace aurora {

class HealthWatchReactor;

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  HealthService() = default;
  ~HealthService() override;

  // Registers or updates a service name's status ("" is the overall status). Ignored after
  // Shutdown().
  void SetStatus(const std::string& service, bool serving);
  // Every status becomes NOT_SERVING for good; watchers receive it and their streams end.
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  friend class HealthWatchReactor;
  Status StatusLocked(const std::string& service) const;
  // Starts the next write or the finish of `watcher`, if one is due (called without mu_).
  void Advance(HealthWatchReactor* watcher);

  std::mutex mu_;
  std::condition_variable done_cv_;
  std::map<std::string, Status> statuses_;
  bool shut_down_ = false;
  std::set<HealthWatchReactor*> watchers_;
};

}  // namespace aurora
