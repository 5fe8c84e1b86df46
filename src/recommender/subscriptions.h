#pragma once
// Subscriptions: services that come to the person. A person (signed in or not) saves their
// situation with their consent, and the node tells them of every new or changed service that
// matches it — a service matches when Recommend would list it for that situation.
//
// Key layout (column family "recommender", protobuf values):
//   "s/" <subscription id>                       StoredSubscription (the token as its SHA-256)
//   "q/" <subscription id> "/" <sequence: 16 hex> ServiceMatch
//
//   * Create, the matches of one change and Delete are each one synced batch: an acknowledged
//     subscription, and a match a watcher was told of, survive a crash.
//   * Matching: OnChanges(revision, ids) queues the services put at a directory revision (the
//     DirectoryFollower's live changes, never its snapshots). One thread ranks, for every live
//     subscription that started before that revision, those services against its situation
//     (Ranker, restricted to them); each one ranked is a match. Then the listener is told the
//     subscription's id.
//   * At most `max_matches` matches are kept per subscription; older ones are dropped.
//   * Expiry: an expired subscription is deleted with its matches when the thread meets it and
//     when it is read (it is then NOT_FOUND, as is a wrong token: the answer never tells one
//     from the other).
//
// Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/recommender/v1/recommender.pb.h"
#include "common/codelists.h"
#include "common/database.h"
#include "recommender/ranker.h"

namespace aurora::recommender {

struct SubscriptionOptions {
  absl::Duration default_lifetime = absl::Hours(24 * 90);
  absl::Duration max_lifetime = absl::Hours(24 * 365);
  size_t max_matches = 200;
  std::function<absl::Time()> now;  // default absl::Now
};

class Subscriptions {
 public:
  // `ranker` and `codes` must outlive this object. Loads the live subscriptions (each situation
  // validated again: one that no longer validates, e.g. after a code list change, is logged and
  // left unmatched).
  static absl::StatusOr<std::unique_ptr<Subscriptions>> Open(Database* database,
                                                             const Ranker* ranker,
                                                             const CodeLists* codes,
                                                             SubscriptionOptions options = {});
  ~Subscriptions();  // Stop()

  void Start();
  void Stop();  // idempotent; changes still queued are not matched

  // `request` must be validated (the situation as Recommend's, consent true, days 0..365).
  // Starts after directory revision `revision`.
  absl::StatusOr<aurora::recommender::v1::Subscription> Create(
      const aurora::recommender::v1::SubscribeRequest& request, int64_t revision);
  // OK if `token` is the subscription's and it is live; NOT_FOUND naming the id otherwise.
  absl::Status Authorize(const std::string& id, std::string_view token);
  // Matches after `after`, oldest first, at most `limit`. NOT_FOUND when the subscription is
  // gone.
  absl::StatusOr<aurora::recommender::v1::ListMatchesResponse> List(const std::string& id,
                                                                    int64_t after, size_t limit);
  // Deletes the subscription and its matches; how many matches. NOT_FOUND if there is none.
  absl::StatusOr<int> Delete(const std::string& id);

  // The follower's live changes: the services put at `revision`.
  void OnChanges(int64_t revision, std::vector<std::string> ids);
  // Called (on the matching thread, or the deleting one) with a subscription's id when it has
  // new matches or is gone.
  void SetListener(std::function<void(const std::string& id)> listener);

  size_t active() const;
  // The newest revision the matcher has finished (for tests).
  int64_t matched_revision() const;
  bool WaitForRevision(int64_t revision, absl::Duration timeout) const;

 private:
  struct Live {
    aurora::recommender::v1::StoredSubscription stored;
    bool matchable = false;  // the situation validated
    RankRequest situation;
  };
  Subscriptions(Database* database, rocksdb::ColumnFamilyHandle* family, const Ranker* ranker,
                const CodeLists* codes, SubscriptionOptions options);
  absl::Time Now() const;
  void Run();
  void Match(int64_t revision, const std::vector<std::string>& ids);
  // Under mu_: deletes it from the store and the map when expired; true if it was.
  bool ExpireLocked(const std::string& id);
  absl::StatusOr<int> DeleteLocked(const std::string& id);
  void Notify(const std::string& id);

  Database* database_;
  rocksdb::ColumnFamilyHandle* family_;
  const Ranker* ranker_;
  const CodeLists* codes_;
  const SubscriptionOptions options_;

  mutable std::mutex mu_;  // the map and the store's subscription records
  std::map<std::string, Live> live_;
  std::function<void(const std::string&)> listener_;

  mutable std::mutex queue_mu_;
  mutable std::condition_variable queue_cv_;
  std::deque<std::pair<int64_t, std::vector<std::string>>> queue_;
  int64_t matched_revision_ = 0;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace aurora::recommender
