#pragma once
// RegistryCopy: the node's verified copy of the directory's network registry (network.proto:
// SignedRegistry), read on every inbound call from another organisation (AccessGuard) and by
// Discovery.
//
// Where copies come from:
//   * at Start, the cache file (the last copy this node took, as a SignedRegistry), verified as
//     any copy is; kept even when it has expired, so that the node knows which version it had
//     (Decide then answers UNAVAILABLE until a fresh copy arrives);
//   * then a background thread that follows NetworkRegistry.WatchRegistry on the directory
//     channel and reconnects after every failure with capped exponential backoff.
//
// A copy is taken only when (1) its signature verifies against the network CA with a signer that
// carries the registry role, (2) its snapshot parses and indexes (RegistryView::Build), and (3)
// its version is not older than the current one; an equal version replaces the current copy only
// when it is valid longer (the directory's periodic re-signature). Everything else is refused and
// logged, and the current copy keeps serving. A taken copy is written to the cache file
// (temporary file, fsync, rename: a crash leaves the previous copy or the new one) and then
// swapped in atomically.
//
// Without a CA (trust.ca empty: the in-process plaintext default, where the directory is this
// very process) copies are taken unsigned.
//
// Usage:
//   RegistryCopy copy({.directory = channel, .trust = tls_files,
//                      .cache_path = data_dir + "/network-registry.pb", .metrics = &metrics});
//   copy.Start();
//   std::shared_ptr<const RegistryView> view = copy.Current();   // null until a copy is taken
//   ...
//   copy.Stop();
//
// Thread-safe. Current() is one atomic load of a shared_ptr (no mutex), for the per-call path.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "aurora/network/v1/network.grpc.pb.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "network/access_policy.h"

namespace prometheus {
class Gauge;
class Counter;
}  // namespace prometheus

namespace aurora::network {

struct RegistryCopyOptions {
  // A channel to the directory's NetworkRegistry service. Give it keepalive pings (e.g.
  // GRPC_ARG_KEEPALIVE_TIME_MS) so that a silently dropped connection is noticed; the watch also
  // reconnects after `max_stream_age` whatever happens.
  std::shared_ptr<grpc::Channel> directory;
  // The network CA (ca) and revocation lists (crl_dir) that the signer's certificate must pass.
  // Empty ca: copies are taken without checking a signature.
  TlsFiles trust;
  // Where the newest copy is kept (e.g. <data-dir>/network-registry.pb); empty: not kept.
  std::string cache_path;
  Metrics* metrics = nullptr;  // may be null
  // Reconnect delays: doubling from `initial_backoff` up to `max_backoff`.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Each WatchRegistry stream is ended and reopened after this long, so that a connection that
  // died without an error cannot hold the node on an old copy forever.
  absl::Duration max_stream_age = absl::Minutes(10);
};

class RegistryCopy {
 public:
  explicit RegistryCopy(RegistryCopyOptions options);
  ~RegistryCopy();  // Stop()
  RegistryCopy(const RegistryCopy&) = delete;
  RegistryCopy& operator=(const RegistryCopy&) = delete;

  // Loads the cache file (if any) and starts following the directory: `directory` if given (a
  // node whose own directory's in-process channel exists only once its server runs, while the
  // access guard needs the copy before), else RegistryCopyOptions.directory. INVALID_ARGUMENT if
  // there is neither; a missing, unreadable or refused cache file is logged, not an error. Call
  // once.
  absl::Status Start(std::shared_ptr<grpc::Channel> directory = nullptr);
  // Ends the watch stream and joins the thread. Idempotent; Current() keeps answering.
  void Stop();

  // The current copy; null while there is none. It may have expired (RegistryView::expired).
  std::shared_ptr<const RegistryView> Current() const { return current_.load(); }
  // The current copy's version, 0 while there is none.
  int64_t version() const;

  // Waits until a copy of at least `version` is current; false after `timeout`.
  bool WaitForVersion(int64_t version, absl::Duration timeout) const;

  // Verifies `copy` and takes it as the rules above say, as if it came from the directory (the
  // watch uses it; public for tests and tools). OK: persisted and taken (a failed write is
  // logged: the copy still serves). ALREADY_EXISTS: the same version, not valid longer (nothing
  // changes). FAILED_PRECONDITION: an older version. PERMISSION_DENIED: the signature, signer or
  // role does not hold. INVALID_ARGUMENT: the snapshot does not parse or index.
  absl::Status Offer(const v1::SignedRegistry& copy);

 private:
  absl::Status Take(const v1::SignedRegistry& copy, bool from_cache);
  void LoadCache();
  void Watch();
  // Sleeps up to `delay` unless Stop() is called; false if it was.
  bool SleepUnlessStopped(absl::Duration delay);

  const RegistryCopyOptions options_;
  std::unique_ptr<v1::NetworkRegistry::Stub> stub_;

  std::atomic<std::shared_ptr<const RegistryView>> current_;

  std::mutex take_mu_;  // serialises Take(): compare, swap and persist in version order

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // a copy was taken, or Stop() was called
  bool started_ = false;
  bool stopping_ = false;
  grpc::ClientContext* stream_context_ = nullptr;  // the open watch stream's, for Stop()
  std::thread thread_;

  prometheus::Gauge* version_gauge_ = nullptr;
  prometheus::Gauge* valid_until_gauge_ = nullptr;
  prometheus::Counter* taken_ = nullptr;
  prometheus::Counter* refused_ = nullptr;
};

}  // namespace aurora::network
