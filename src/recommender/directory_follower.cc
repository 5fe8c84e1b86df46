#include "recommender/directory_follower.h"

#include <algorithm>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace aurora::recommender {

namespace dv1 = aurora::directory::v1;

DirectoryFollower::DirectoryFollower(std::shared_ptr<grpc::Channel> directory,
                                     CatalogueIndex* index)
    : stub_(dv1::Directory::NewStub(std::move(directory))), index_(index) {}

DirectoryFollower::~DirectoryFollower() { Stop(); }

void DirectoryFollower::Start() { thread_ = std::thread([this] { Run(); }); }

void DirectoryFollower::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool DirectoryFollower::WaitUntilSynced(absl::Duration timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [this] { return synced_.load() || stopping_; }) &&
         synced_.load();
}

bool DirectoryFollower::WaitForRevision(int64_t revision, absl::Duration timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [&] { return applied_.load() >= revision || stopping_; }) &&
         applied_.load() >= revision;
}

void DirectoryFollower::Apply(const dv1::WatchResponse& response) {
  // Services are analysed in parallel (the snapshot of a large catalogue arrives in big
  // batches), then inserted in revision order.
  std::vector<const dv1::ChangeEvent*> puts;
  for (const auto& event : response.events()) {
    if (event.type() == dv1::ChangeEvent::TYPE_SERVICE_PUT) puts.push_back(&event);
  }
  const bool live_change = !in_snapshot_;
  std::vector<std::unique_ptr<PreparedService>> prepared(puts.size());
  const size_t threads =
      puts.size() < 64 ? 1 : std::max<size_t>(1, std::thread::hardware_concurrency());
  auto work = [&](size_t from) {
    for (size_t i = from; i < puts.size(); i += threads) {
      prepared[i] = index_->Prepare(puts[i]->service());
    }
  };
  std::vector<std::future<void>> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.push_back(std::async(std::launch::async, work, t));
  work(0);
  for (auto& h : helpers) h.get();
  size_t next = 0;
  for (const auto& event : response.events()) {
    if (event.type() == dv1::ChangeEvent::TYPE_SERVICE_PUT) {
      if (in_snapshot_) snapshot_ids_.insert(event.service().id());
      index_->Insert(std::move(prepared[next++]));
    } else if (event.type() == dv1::ChangeEvent::TYPE_SERVICE_DELETE) {
      index_->Remove(event.service_id());
    } else if (event.type() == dv1::ChangeEvent::TYPE_MEMBER_PUT) {
      index_->SetOrganizationNode(event.member().organization_id(), event.member().node_address());
    } else if (event.type() == dv1::ChangeEvent::TYPE_ORGANIZATION_PUT) {
      const auto& name = event.organization().name();
      index_->SetOrganizationName(event.organization().id(),
                                  !name.fi().empty() ? name.fi()
                                  : !name.sv().empty() ? name.sv()
                                                       : name.en());
    }
  }
  // Within a snapshot the directory's revision is the truth (it may be below an older one).
  const int64_t revision =
      in_snapshot_ ? response.revision() : std::max(response.revision(), applied_.load());
  if (in_snapshot_ && response.snapshot_complete()) {
    size_t removed = 0;
    for (const std::string& id : index_->LiveIds()) {
      if (!snapshot_ids_.contains(id)) {
        index_->Remove(id);
        ++removed;
      }
    }
    if (removed > 0) {
      LogInfo("recommender", "services not in the directory's snapshot removed",
              {{"removed", absl::StrCat(removed)}});
    }
    in_snapshot_ = false;
    resnapshot_ = false;
    snapshot_ids_.clear();
  }
  index_->SetRevision(revision);
  index_->CompactIfWorthIt();
  {
    std::lock_guard lock(mu_);
    applied_.store(revision);
    if (response.snapshot_complete()) synced_.store(true);
  }
  cv_.notify_all();
  if (live_change && listener_ && !puts.empty()) {
    std::vector<std::string> ids;
    ids.reserve(puts.size());
    for (const auto* event : puts) ids.push_back(event->service().id());
    listener_(revision, std::move(ids));
  }
}

void DirectoryFollower::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  bool first = true;
  for (;;) {
    grpc::ClientContext context;
    dv1::WatchRequest request;
    if (!synced_.load() || resnapshot_) {
      request.set_snapshot(true);
      in_snapshot_ = true;
      snapshot_ids_.clear();
    } else {
      in_snapshot_ = false;
      request.set_after_revision(applied_.load());
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      context_ = &context;
    }
    auto reader = stub_->Watch(&context, request);
    dv1::WatchResponse response;
    bool progressed = false;
    while (reader->Read(&response)) {
      Apply(response);
      progressed = true;
    }
    grpc::Status status = reader->Finish();
    {
      std::lock_guard lock(mu_);
      context_ = nullptr;
      if (stopping_) return;
    }
    if (progressed) backoff = absl::Milliseconds(100);
    if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      LogWarning("recommender", "the directory is behind the index; taking a fresh snapshot",
                 {{"revision", absl::StrCat(applied_.load())}, {"error", status.error_message()}});
      resnapshot_ = true;
    }
    if (!first || !status.ok()) {
      LogWarning("recommender", "directory watch ended; reconnecting",
                 {{"code", absl::StrCat(status.error_code())},
                  {"error", status.error_message()},
                  {"revision", absl::StrCat(applied_.load())},
                  {"retry_ms", absl::StrCat(absl::ToInt64Milliseconds(backoff))}});
    }
    first = false;
    reconnects_.fetch_add(1);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(backoff), [this] { return stopping_; });
    if (stopping_) return;
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace aurora::recommender
