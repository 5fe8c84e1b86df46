#include "common/health.h"

namespace aurora {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthWatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  HealthWatchReactor(HealthService* service, std::string name)
      : service_(service), name_(std::move(name)) {}

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(service_->mu_);
      writing_ = false;
      if (!ok) finish_ = true;  // the watcher went away
    }
    service_->Advance(this);
  }

  void OnCancel() override {
    {
      std::lock_guard lock(service_->mu_);
      finish_ = true;
    }
    service_->Advance(this);
  }

  void OnDone() override {
    {
      std::lock_guard lock(service_->mu_);
      service_->watchers_.erase(this);
      service_->done_cv_.notify_all();
    }
    delete this;
  }

  HealthService* service_;
  const std::string name_;
  // Guarded by service_->mu_.
  bool writing_ = false;
  bool finish_ = false;    // end the stream once the last status is sent
  bool finished_ = false;  // Finish() called
  int sent_ = -1;          // the last status written
  HealthCheckResponse response_;
};

HealthService::~HealthService() {
  Shutdown();
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [this] { return watchers_.empty(); });
}

HealthService::Status HealthService::StatusLocked(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void HealthService::SetStatus(const std::string& service, bool serving) {
  std::set<HealthWatchReactor*> watchers;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    statuses_[service] = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
    watchers = watchers_;
  }
  for (HealthWatchReactor* watcher : watchers) Advance(watcher);
}

void HealthService::Shutdown() {
  std::set<HealthWatchReactor*> watchers;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [name, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
    for (HealthWatchReactor* watcher : watchers_) watcher->finish_ = true;
    watchers = watchers_;
  }
  for (HealthWatchReactor* watcher : watchers) Advance(watcher);
}

void HealthService::Advance(HealthWatchReactor* watcher) {
  bool write = false, finish = false;
  {
    std::lock_guard lock(mu_);
    if (!watchers_.contains(watcher) || watcher->finished_ || watcher->writing_) return;
    const Status status = StatusLocked(watcher->name_);
    // Unknown names are reported as SERVICE_UNKNOWN; after shutdown everything as NOT_SERVING.
    const int due = shut_down_ && status == HealthCheckResponse::SERVICE_UNKNOWN
                        ? HealthCheckResponse::NOT_SERVING
                        : status;
    if (due != watcher->sent_ && !(watcher->finish_ && !shut_down_)) {
      watcher->sent_ = due;
      watcher->response_.set_status(static_cast<Status>(due));
      watcher->writing_ = write = true;
    } else if (watcher->finish_) {
      watcher->finished_ = finish = true;
    }
  }
  // Outside the lock: OnDone may run (and delete the watcher) as soon as Finish is called.
  if (write) watcher->StartWrite(&watcher->response_);
  if (finish) watcher->Finish(grpc::Status::OK);
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Status status;
  {
    std::lock_guard lock(mu_);
    status = StatusLocked(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "service: no health status for \"" + request->service() + "\""));
    return reactor;
  }
  response->set_status(status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  auto* watcher = new HealthWatchReactor(this, request->service());
  {
    std::lock_guard lock(mu_);
    watchers_.insert(watcher);
    if (shut_down_) watcher->finish_ = true;
  }
  Advance(watcher);
  return watcher;
}

}  // namespace aurora
