#pragma once
// DirectoryFollower: keeps a CatalogueIndex in step with the directory through its Watch stream —
// a snapshot first, then every change as it is committed. When the stream breaks (the directory
// restarts, the network fails) it reconnects with backoff and resumes after the last revision it
// applied, so nothing is missed and nothing is reloaded; until then the index keeps serving what
// it has. A snapshot that completes removes from the index every service it did not contain (so a
// snapshot retried after a broken one forgets services deleted in between). When the directory
// answers OUT_OF_RANGE (it is behind the follower: restored from a backup, or a new directory at
// the same address) the follower takes a fresh snapshot and its revision follows the directory's.
//
// Thread-safe; one background thread.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "recommender/catalogue_index.h"

namespace aurora::recommender {

class DirectoryFollower {
 public:
  DirectoryFollower(std::shared_ptr<grpc::Channel> directory, CatalogueIndex* index);
  ~DirectoryFollower();

  // Called on the follower's thread after each live change is applied (never for a snapshot)
  // with its revision and the ids of the services it put. Set before Start.
  using ChangeListener = std::function<void(int64_t revision, std::vector<std::string> put_ids)>;
  void SetChangeListener(ChangeListener listener) { listener_ = std::move(listener); }

  void Start();
  // Ends the stream and joins the thread; idempotent.
  void Stop();
  // True once the first snapshot has been applied; waits up to `timeout`.
  bool WaitUntilSynced(absl::Duration timeout);
  // Waits until the index has applied `revision` (or a later one).
  bool WaitForRevision(int64_t revision, absl::Duration timeout);
  bool synced() const { return synced_.load(); }
  int64_t applied_revision() const { return applied_.load(); }
  // Seconds since the last response on the stream (for the lag metric); 0 when connected and
  // idle is indistinguishable from fresh, so the metric is the revision gap instead.
  int64_t reconnects() const { return reconnects_.load(); }

 private:
  void Run();
  void Apply(const aurora::directory::v1::WatchResponse& response);

  std::unique_ptr<aurora::directory::v1::Directory::Stub> stub_;
  CatalogueIndex* index_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* context_ = nullptr;  // the stream's, under mu_
  std::atomic<bool> synced_{false};
  std::atomic<int64_t> applied_{0};
  std::atomic<int64_t> reconnects_{0};
  // Follower thread only: whether the next stream must start with a snapshot although synced,
  // whether the open stream is still in its snapshot, and the services the snapshot has sent.
  bool resnapshot_ = false;
  bool in_snapshot_ = false;
  absl::flat_hash_set<std::string> snapshot_ids_;
  ChangeListener listener_;
};

}  // namespace aurora::recommender
