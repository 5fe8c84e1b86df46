#include "directory/registry_service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "common/text.h"
#include "common/tls.h"
#include "directory/validation.h"

namespace aurora::directory {
namespace nv1 = aurora::network::v1;
using google::protobuf::util::TimeUtil;

namespace {

google::protobuf::Timestamp ToProto(absl::Time time) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

}  // namespace

// One WatchRegistry stream. Its state changes under the service's watch_mu_. Finish is never
// called while a write is in flight: a finish asked for then (cancel, shutdown) waits for
// OnWriteDone.
class RegistryWatchReactor final : public grpc::ServerWriteReactor<nv1::SignedRegistry> {
 public:
  explicit RegistryWatchReactor(RegistryService* service) : service_(service) {}

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> pending;
    {
      std::lock_guard lock(service_->watch_mu_);
      writing_ = false;
      pending = finish_pending_;
    }
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
    } else if (pending) {
      FinishOnce(*pending);
    } else {
      service_->Idle(this);
    }
  }
  void OnCancel() override {
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher cancelled"));
  }
  void OnDone() override {
    service_->Done(this);
    delete this;
  }

  // Under watch_mu_: whether Finish may be called now (and then marks it finished); otherwise
  // remembers `status` for when the write in flight is done.
  bool FinishNowLocked(const grpc::Status& status) {
    if (finished_) return false;
    if (writing_) {
      if (!finish_pending_) finish_pending_ = status;
      return false;
    }
    finished_ = true;
    service_->idle_.erase(this);
    return true;
  }
  void FinishOnce(const grpc::Status& status) {
    bool now;
    {
      std::lock_guard lock(service_->watch_mu_);
      now = FinishNowLocked(status);
    }
    if (now) Finish(status);
  }
  // Under watch_mu_: claims the stream for a write (a finish asked for from now on waits).
  void ClaimLocked() { writing_ = true; }
  // Under watch_mu_, after ClaimLocked when no write follows after all: the status to finish with
  // now, if one was asked for meanwhile (or `status` if given).
  std::optional<grpc::Status> UnclaimLocked(std::optional<grpc::Status> status = std::nullopt) {
    writing_ = false;
    if (!status) status = finish_pending_;
    if (status && FinishNowLocked(*status)) return status;
    return std::nullopt;
  }
  bool finish_pending() const { return finish_pending_.has_value(); }
  // After ClaimLocked: writes `copy` (kept alive until the write is done).
  void Send(std::shared_ptr<const nv1::SignedRegistry> copy) {
    sent_ = std::move(copy);
    StartWrite(sent_.get());
  }

  // Guarded by watch_mu_.
  int64_t sent_version_ = -1;
  absl::Time sent_issued_ = absl::InfinitePast();

 private:
  RegistryService* service_;
  std::shared_ptr<const nv1::SignedRegistry> sent_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> finish_pending_;
};

RegistryService::RegistryService(DirectoryStore* store, RegistryServiceOptions options)
    : store_(store),
      options_(std::move(options)),
      executor_("registry", options_.worker_threads, options_.max_queued_calls) {
  listener_id_ = store_->AddRevisionListener([this](int64_t) {
    {
      std::lock_guard lock(watch_mu_);
      wake_ = true;
    }
    watch_cv_.notify_one();
  });
  notifier_ = std::thread([this] { NotifierLoop(); });
}

RegistryService::~RegistryService() {
  Shutdown();
  store_->RemoveRevisionListener(listener_id_);
  executor_.Shutdown();
}

void RegistryService::Shutdown() {
  std::vector<RegistryWatchReactor*> finish;
  const grpc::Status stopping(grpc::StatusCode::UNAVAILABLE, "the directory is stopping");
  {
    std::lock_guard lock(watch_mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    for (auto* reactor : watchers_) {
      if (reactor->FinishNowLocked(stopping)) finish.push_back(reactor);
    }
  }
  watch_cv_.notify_all();
  if (notifier_.joinable()) notifier_.join();
  for (auto* reactor : finish) reactor->Finish(stopping);
}

absl::StatusOr<RegistryService::Cached> RegistryService::Sign() {
  auto registry = store_->Registry();
  if (!registry.ok()) return registry.status();
  const absl::Time now = absl::Now();
  *registry->mutable_issue_time() = ToProto(now);
  *registry->mutable_valid_until() = ToProto(now + options_.validity);
  auto copy = std::make_shared<nv1::SignedRegistry>();
  copy->set_snapshot(SerializeDeterministic(*registry));
  if (!options_.signer_cert_file.empty() || !options_.signer_key_file.empty()) {
    auto key = ReadFile(options_.signer_key_file);
    if (!key.ok()) return key.status();
    auto cert = ReadFile(options_.signer_cert_file);
    if (!cert.ok()) return cert.status();
    auto signature = SignSha256(*key, copy->snapshot());
    if (!signature.ok()) return signature.status();
    copy->set_signature(std::move(*signature));
    copy->set_signer_certificate(std::move(*cert));
  }
  Cached cached;
  cached.version = registry->version();
  cached.issued = now;
  cached.copy = std::move(copy);
  return cached;
}

absl::StatusOr<std::shared_ptr<const nv1::SignedRegistry>> RegistryService::SignedCopy() {
  std::lock_guard lock(sign_mu_);
  if (cached_.copy == nullptr || cached_.version != store_->registry_version() ||
      absl::Now() >= cached_.issued + options_.validity / 4) {
    auto fresh = Sign();
    if (!fresh.ok()) return fresh.status();
    cached_ = std::move(*fresh);
  }
  return cached_.copy;
}

bool RegistryService::DueLocked(const RegistryWatchReactor* reactor, int64_t version,
                                absl::Time now) const {
  return version > reactor->sent_version_ || now >= reactor->sent_issued_ + options_.validity / 2;
}

void RegistryService::Idle(RegistryWatchReactor* reactor) {
  grpc::Status stopping(grpc::StatusCode::UNAVAILABLE, "the directory is stopping");
  bool finish = false;
  {
    std::lock_guard lock(watch_mu_);
    if (shutting_down_) {
      finish = reactor->FinishNowLocked(stopping);
    } else {
      idle_.insert(reactor);
      wake_ = true;
    }
  }
  if (finish) {
    reactor->Finish(stopping);
  } else {
    watch_cv_.notify_one();
  }
}

void RegistryService::Done(RegistryWatchReactor* reactor) {
  std::lock_guard lock(watch_mu_);
  watchers_.erase(reactor);
  idle_.erase(reactor);
}

void RegistryService::NotifierLoop() {
  std::unique_lock lock(watch_mu_);
  while (!shutting_down_) {
    // Sleep until a revision, a stream going idle, or the earliest re-signing deadline.
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (const auto* reactor : idle_) {
      deadline = std::min(deadline, reactor->sent_issued_ + options_.validity / 2);
    }
    watch_cv_.wait_for(lock,
                       absl::ToChronoMilliseconds(std::max(
                           absl::ZeroDuration(), deadline - absl::Now() + absl::Milliseconds(1))),
                       [&] { return wake_ || shutting_down_; });
    wake_ = false;
    if (shutting_down_) break;
    const int64_t version = store_->registry_version();
    const absl::Time now = absl::Now();
    std::vector<RegistryWatchReactor*> due;
    for (auto* reactor : idle_) {
      if (DueLocked(reactor, version, now)) due.push_back(reactor);
    }
    if (due.empty()) continue;
    for (auto* reactor : due) {
      idle_.erase(reactor);
      reactor->ClaimLocked();  // from here a cancel waits for us: the reactor stays alive
    }
    lock.unlock();
    auto copy = SignedCopy();
    Cached sent;
    if (copy.ok()) {
      std::lock_guard sign_lock(sign_mu_);
      sent = cached_;
    } else {
      LogWarning("directory", "cannot sign the network registry",
                 {{"error", std::string(copy.status().message())}});
    }
    lock.lock();
    // Decide under the lock, act outside it.
    std::vector<RegistryWatchReactor*> send;
    std::vector<std::pair<RegistryWatchReactor*, grpc::Status>> finish;
    for (auto* reactor : due) {
      std::optional<grpc::Status> stop;
      if (!copy.ok()) {
        stop = reactor->UnclaimLocked(ToGrpcStatus(copy.status()));
      } else if (reactor->finish_pending()) {
        stop = reactor->UnclaimLocked();
      } else {
        reactor->sent_version_ = sent.version;
        reactor->sent_issued_ = sent.issued;
        send.push_back(reactor);
      }
      if (stop) finish.emplace_back(reactor, *stop);
    }
    lock.unlock();
    for (auto* reactor : send) reactor->Send(sent.copy);
    for (auto& [reactor, status] : finish) reactor->Finish(status);
    lock.lock();
  }
}

grpc::ServerWriteReactor<nv1::SignedRegistry>* RegistryService::WatchRegistry(
    grpc::CallbackServerContext*, const nv1::WatchRegistryRequest*) {
  auto* reactor = new RegistryWatchReactor(this);
  bool refuse = false;
  {
    std::lock_guard lock(watch_mu_);
    if (shutting_down_) {
      refuse = true;
    } else {
      watchers_.insert(reactor);
      idle_.insert(reactor);  // sent_version_ -1: due at once
      wake_ = true;
    }
  }
  if (refuse) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the directory is stopping"));
  } else {
    watch_cv_.notify_one();
  }
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::Run(grpc::CallbackServerContext* context,
                                               std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!executor_.Submit(
          [reactor, work = std::move(work)] { reactor->Finish(ToGrpcStatus(work())); })) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the directory is overloaded; retry later"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::SetNodeAddress(grpc::CallbackServerContext* context,
                                                          const nv1::SetNodeAddressRequest* request,
                                                          nv1::Member* response) {
  const std::string caller = CallerOrganization(*context);
  return Run(context, [this, caller, request, response]() -> absl::Status {
    if (auto s = ValidateUuid(request->organization_id(), "organization_id"); !s.ok()) return s;
    if (auto s = ValidateNodeAddress(request->node_address(), "node_address"); !s.ok()) return s;
    if (auto s = CheckCallerOwns(caller, request->organization_id(), "organization_id"); !s.ok()) {
      return s;
    }
    auto member = store_->SetNodeAddress(request->organization_id(), request->node_address());
    if (!member.ok()) return member.status();
    *response = std::move(*member);
    LogInfo("directory", "member node address set",
            {{"organization_id", request->organization_id()},
             {"node_address", request->node_address()},
             {"revision", absl::StrCat(response->revision())}});
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RegistryService::PublishService(grpc::CallbackServerContext* context,
                                                          const nv1::PublishServiceRequest* request,
                                                          nv1::NetworkService* response) {
  const std::string caller = CallerOrganization(*context);
  return Run(context, [this, caller, request, response]() -> absl::Status {
    if (request->expected_revision() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected_revision: must be 0 or a revision, got ", request->expected_revision()));
    }
    nv1::NetworkService service = request->service();
    auto methods = ValidateNetworkService(service);
    if (!methods.ok()) return methods.status();
    if (auto s = CheckCallerOwns(caller, service.organization_id(), "service.organization_id");
        !s.ok()) {
      return s;
    }
    // Every organisation a right names must be a member, so that a typo is not a silent denial.
    const auto check_members = [&](const nv1::AccessRights& access,
                                   const std::string& field) -> absl::Status {
      for (int i = 0; i < access.allowed_organizations_size(); ++i) {
        if (!store_->HasOrganization(access.allowed_organizations(i))) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".allowed_organizations[", i, "]: no member organisation ",
                           QuoteForMessage(access.allowed_organizations(i))));
        }
      }
      return absl::OkStatus();
    };
    if (auto s = check_members(service.access(), "service.access"); !s.ok()) return s;
    for (int i = 0; i < service.method_access_size(); ++i) {
      if (auto s = check_members(service.method_access(i).access(),
                                 absl::StrCat("service.method_access[", i, "].access"));
          !s.ok()) {
        return s;
      }
    }
    service.clear_methods();
    for (auto& method : *methods) service.add_methods(std::move(method));
    service.clear_revision();
    service.clear_update_time();
    auto stored = store_->PublishNetworkService(std::move(service), request->expected_revision());
    if (!stored.ok()) return stored.status();
    *response = std::move(*stored);
    LogInfo(
        "directory", "network service published",
        {{"service", response->name()},
         {"organization_id", response->organization_id()},
         {"open_to_members", response->access().open_to_members() ? "true" : "false"},
         {"allowed_organizations", absl::StrCat(response->access().allowed_organizations_size())},
         {"revision", absl::StrCat(response->revision())}});
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RegistryService::WithdrawService(
    grpc::CallbackServerContext* context, const nv1::WithdrawServiceRequest* request,
    nv1::WithdrawServiceResponse* response) {
  const std::string caller = CallerOrganization(*context);
  return Run(context, [this, caller, request, response]() -> absl::Status {
    if (request->name().empty()) return absl::InvalidArgumentError("name: is required");
    if (request->expected_revision() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected_revision: must be 0 or a revision, got ", request->expected_revision()));
    }
    auto existing = store_->GetNetworkService(request->name());
    if (!existing) {
      return absl::NotFoundError(
          absl::StrCat("name: no published service ", QuoteForMessage(request->name())));
    }
    if (auto s = CheckCallerOwns(caller, existing->organization_id(), "name (its organisation)");
        !s.ok()) {
      return s;
    }
    auto revision = store_->WithdrawNetworkService(request->name(), request->expected_revision());
    if (!revision.ok()) return revision.status();
    response->set_revision(*revision);
    LogInfo("directory", "network service withdrawn",
            {{"service", request->name()}, {"revision", absl::StrCat(*revision)}});
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RegistryService::GetSignedRegistry(grpc::CallbackServerContext* context,
                                                             const nv1::GetSignedRegistryRequest*,
                                                             nv1::SignedRegistry* response) {
  return Run(context, [this, response]() -> absl::Status {
    auto copy = SignedCopy();
    if (!copy.ok()) return copy.status();
    *response = **copy;
    return absl::OkStatus();
  });
}

}  // namespace aurora::directory
