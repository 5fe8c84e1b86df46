#include "network/registry_copy.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/text.h"

namespace aurora::network {
namespace {

constexpr char kComponent[] = "network";

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string Seconds(absl::Duration d) { return absl::StrCat(absl::ToDoubleSeconds(d)); }

}  // namespace

RegistryCopy::RegistryCopy(RegistryCopyOptions options) : options_(std::move(options)) {
  if (options_.directory) stub_ = v1::NetworkRegistry::NewStub(options_.directory);
  if (options_.metrics != nullptr) {
    prometheus::Registry& registry = options_.metrics->registry();
    version_gauge_ = &prometheus::BuildGauge()
                          .Name("aurora_network_registry_version")
                          .Help("Version of the node's copy of the network registry (0: none)")
                          .Register(registry)
                          .Add({});
    valid_until_gauge_ =
        &prometheus::BuildGauge()
             .Name("aurora_network_registry_valid_until_seconds")
             .Help("Unix time until which the node's registry copy is valid (0: no copy)")
             .Register(registry)
             .Add({});
    auto& copies = prometheus::BuildCounter()
                       .Name("aurora_network_registry_copies_total")
                       .Help(
                           "Registry copies received (from the directory or the cache file), "
                           "by result: taken, or refused (bad signature, older version, "
                           "unparseable)")
                       .Register(registry);
    taken_ = &copies.Add({{"result", "taken"}});
    refused_ = &copies.Add({{"result", "refused"}});
  }
}

RegistryCopy::~RegistryCopy() { Stop(); }

int64_t RegistryCopy::version() const {
  auto view = Current();
  return view ? view->version() : 0;
}

absl::Status RegistryCopy::Start(std::shared_ptr<grpc::Channel> directory) {
  if (directory != nullptr) stub_ = v1::NetworkRegistry::NewStub(directory);
  if (!stub_) {
    return absl::InvalidArgumentError(
        "network registry copy: no channel to the directory (RegistryCopyOptions.directory)");
  }
  {
    std::lock_guard lock(mu_);
    if (started_) return absl::FailedPreconditionError("network registry copy: already started");
    started_ = true;
  }
  if (options_.trust.ca.empty()) {
    LogInfo(kComponent,
            "registry copies are taken without checking a signature (no network CA given)");
  }
  LoadCache();
  thread_ = std::thread([this] { Watch(); });
  return absl::OkStatus();
}

void RegistryCopy::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RegistryCopy::WaitForVersion(int64_t version, absl::Duration timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [&] { return this->version() >= version; });
}

absl::Status RegistryCopy::Offer(const v1::SignedRegistry& copy) { return Take(copy, false); }

absl::Status RegistryCopy::Take(const v1::SignedRegistry& copy, bool from_cache) {
  std::string signer = "unsigned";
  if (!options_.trust.ca.empty()) {
    auto info = VerifySignedBy(options_.trust, copy.signer_certificate(), kRegistryRole,
                               copy.snapshot(), copy.signature(), absl::Now());
    if (!info.ok()) {
      if (refused_ != nullptr) refused_->Increment();
      return absl::Status(info.status().code(),
                          absl::StrCat("registry copy refused: ", info.status().message()));
    }
    signer = info->subject;
  }
  v1::RegistrySnapshot snapshot;
  if (!snapshot.ParseFromString(copy.snapshot())) {
    if (refused_ != nullptr) refused_->Increment();
    return absl::InvalidArgumentError(absl::StrCat("registry copy refused: its snapshot (",
                                                   copy.snapshot().size(),
                                                   " bytes) is not a serialized RegistrySnapshot"));
  }
  auto view = RegistryView::Build(std::move(snapshot));
  if (!view.ok()) {
    if (refused_ != nullptr) refused_->Increment();
    return absl::InvalidArgumentError(
        absl::StrCat("registry copy refused: ", view.status().message()));
  }
  const RegistryView& next = **view;

  std::lock_guard take_lock(take_mu_);
  const std::shared_ptr<const RegistryView> current = Current();
  if (current != nullptr) {
    if (next.version() < current->version()) {
      if (refused_ != nullptr) refused_->Increment();
      return absl::FailedPreconditionError(absl::StrCat(
          "registry copy refused: version ", next.version(), " is older than the current copy's ",
          current->version(), " (a node never goes back to an older registry)"));
    }
    if (next.version() == current->version() && next.valid_until() <= current->valid_until()) {
      return absl::AlreadyExistsError(
          absl::StrCat("registry copy ignored: version ", next.version(), " valid until ",
                       FormatUtc(next.valid_until()), " is not newer than the current copy"));
    }
  }
  const bool resigned = current != nullptr && next.version() == current->version();
  // Written before the swap (under take_mu_, so in version order): whoever sees a version as
  // current finds it on disk too, and a restart never starts from an older copy than the node
  // last served. A failed write is logged; the copy still serves.
  if (!from_cache && !options_.cache_path.empty()) {
    absl::Status written = WriteFileAtomically(options_.cache_path, copy.SerializeAsString(), 0644);
    if (!written.ok()) {
      LogWarning(kComponent, "cannot keep the network registry copy on disk",
                 {{"path", options_.cache_path}, {"error", std::string(written.message())}});
    }
  }
  // The metrics first: whoever sees the new copy (WaitForVersion) sees them too.
  if (taken_ != nullptr) taken_->Increment();
  if (version_gauge_ != nullptr) version_gauge_->Set(static_cast<double>(next.version()));
  if (valid_until_gauge_ != nullptr) {
    valid_until_gauge_->Set(absl::ToDoubleSeconds(next.valid_until() - absl::UnixEpoch()));
  }
  current_.store(*view);
  {
    // Under mu_, so that WaitForVersion cannot miss the change between its check and its wait.
    std::lock_guard lock(mu_);
  }
  changed_.notify_all();

  const bool expired = next.expired(absl::Now());
  Log(from_cache || !resigned ? LogLevel::kInfo : LogLevel::kDebug, kComponent,
      from_cache ? "loaded the cached network registry copy"
      : resigned ? "took a fresh signature of the network registry"
                 : "took a new network registry copy",
      {{"version", absl::StrCat(next.version())},
       {"valid_until", FormatUtc(next.valid_until())},
       {"expired", expired ? "true" : "false"},
       {"members", absl::StrCat(next.snapshot().members_size())},
       {"services", absl::StrCat(next.snapshot().services_size())},
       {"signer", signer}});
  if (expired && !from_cache) {
    LogWarning(kComponent, "the directory sent a registry copy that has already expired",
               {{"version", absl::StrCat(next.version())},
                {"valid_until", FormatUtc(next.valid_until())}});
  }

  return absl::OkStatus();
}

void RegistryCopy::LoadCache() {
  if (options_.cache_path.empty()) return;
  auto bytes = ReadFile(options_.cache_path);
  if (!bytes.ok()) {
    if (bytes.status().code() == absl::StatusCode::kNotFound) {
      LogInfo(kComponent, "no cached network registry copy yet; waiting for the directory",
              {{"path", options_.cache_path}});
    } else {
      LogWarning(kComponent, "cannot read the cached network registry copy",
                 {{"path", options_.cache_path}, {"error", std::string(bytes.status().message())}});
    }
    return;
  }
  v1::SignedRegistry copy;
  if (!copy.ParseFromString(*bytes)) {
    if (refused_ != nullptr) refused_->Increment();
    LogWarning(kComponent, "the cached network registry copy is not a SignedRegistry; ignored",
               {{"path", options_.cache_path}, {"bytes", absl::StrCat(bytes->size())}});
    return;
  }
  absl::Status taken = Take(copy, /*from_cache=*/true);
  if (!taken.ok()) {
    LogWarning(kComponent, "the cached network registry copy is refused; ignored",
               {{"path", options_.cache_path}, {"error", std::string(taken.message())}});
  }
}

bool RegistryCopy::SleepUnlessStopped(absl::Duration delay) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, absl::ToChronoNanoseconds(delay), [&] { return stopping_; });
  return !stopping_;
}

void RegistryCopy::Watch() {
  absl::Duration backoff = options_.initial_backoff;
  bool failing = false;  // a failure was reported and no copy has arrived since
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.max_stream_age));
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stream_context_ = &context;
    }
    // Each stream starts with the directory's current copy: after an outage, a node whose copy
    // expired meanwhile is valid again at once.
    v1::WatchRegistryRequest request;

    int received = 0;
    grpc::Status status;
    {
      std::unique_ptr<grpc::ClientReader<v1::SignedRegistry>> reader =
          stub_->WatchRegistry(&context, request);
      v1::SignedRegistry copy;
      while (reader->Read(&copy)) {
        ++received;
        if (failing) {
          LogInfo(kComponent, "following the directory's network registry again");
          failing = false;
        }
        absl::Status taken = Take(copy, /*from_cache=*/false);
        if (!taken.ok() && taken.code() != absl::StatusCode::kAlreadyExists) {
          LogWarning(kComponent, "refused a network registry copy from the directory",
                     {{"error", std::string(taken.message())},
                      {"current_version", absl::StrCat(version())}});
        }
      }
      status = reader->Finish();
    }
    {
      std::lock_guard lock(mu_);
      stream_context_ = nullptr;
      if (stopping_) return;
    }
    // A stream that delivered copies was healthy: its end is a reconnect, not a failure streak.
    if (received > 0) backoff = options_.initial_backoff;
    // The only deadline is max_stream_age (the call fails fast when the directory cannot be
    // reached): the stream was open all along, so reopen it at once.
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      backoff = options_.initial_backoff;
      continue;
    }
    if (!failing) {
      LogWarning(kComponent,
                 "cannot follow the directory's network registry; the current copy keeps "
                 "serving until it expires",
                 {{"code", absl::StrCat(static_cast<int>(status.error_code()))},
                  {"error", status.ok() ? std::string("the directory ended the stream")
                                        : status.error_message()},
                  {"current_version", absl::StrCat(version())},
                  {"retry_in_seconds", Seconds(backoff)}});
      failing = true;
    } else {
      Log(LogLevel::kDebug, kComponent, "still cannot follow the directory's network registry",
          {{"error", status.error_message()}, {"retry_in_seconds", Seconds(backoff)}});
    }
    if (!SleepUnlessStopped(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace aurora::network
