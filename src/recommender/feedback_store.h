#pragma once
// FeedbackStore: what the recommender keeps in RocksDB (column family "recommender") — each
// recommendation it gave (who asked, when, which services and channel links; never the free text
// or the meters), the feedback on it and the clicks on its links. They are the training signal of
// the learning-to-rank issue.
//
// Key layout (values are JSON):
//   "format"                      -> {"version": 1}
//   "r/" <id: 16 hex digits>      -> recommendation {"time_ms", "path", "client", "organization",
//                                    "session", "services": [{"id", "channels": [{"id", "urls"}]}]}
//   "f/" <id> "/" <uuid>          -> feedback {"time_ms", "service_id" ("" = overall), "score"}
//   "c/" <id> "/" <uuid>          -> click {"time_ms", "service_id", "channel_id", "link", "url"}
//   (each service of a recommendation may also carry "p", its position, and "f", its learning
//   features)
//
// Recommendations are written through the WAL without waiting for fsync (losing the newest ones
// in a power cut only makes their feedback impossible); feedback and clicks are acknowledged only
// after their WAL record is synced. Recommendation ids are random (53 bits from OpenSSL's CSPRNG).
//
// Thread-safe.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/database.h"

namespace aurora::recommender {

inline constexpr char kRecommenderColumnFamily[] = "recommender";

struct StoredChannel {
  std::string id;
  std::vector<std::string> urls;
};
struct StoredService {
  std::string id;
  std::vector<StoredChannel> channels;
  // Where it was shown (1-based, across pages) and its learning features then (learning.h);
  // 0 and empty in records from before learning.
  int position = 0;
  std::vector<float> features{};
};
struct StoredRecommendation {
  int64_t id = 0;
  int64_t time_ms = 0;
  std::string path;  // "recommend", "search", "compat/recommend_service", ...
  std::string client, organization, session;
  std::vector<StoredService> services;
};

struct FeedbackEntry {
  std::string service_id;  // empty: the recommendation as a whole
  int score = 0;           // -1 or 1
};

class FeedbackStore {
 public:
  static absl::StatusOr<std::unique_ptr<FeedbackStore>> Open(Database* database);

  // Assigns a fresh random id (1..2^53-1) and stores the recommendation.
  absl::StatusOr<int64_t> SaveRecommendation(StoredRecommendation recommendation);
  // NOT_FOUND naming the id.
  absl::StatusOr<StoredRecommendation> GetRecommendation(int64_t id) const;
  // Whether recommendation `id` is in this store (a key lookup, nothing parsed).
  bool HasRecommendation(int64_t id) const;
  // Checks every service against the recommendation (NOT_FOUND naming the first one that was not
  // part of it) and stores all entries in one synced batch; returns how many were stored.
  absl::StatusOr<int> RecordFeedback(int64_t id, const std::vector<FeedbackEntry>& entries);
  // Checks that the link exists in the recommendation, stores the click (synced) and returns its
  // URL. NOT_FOUND naming what did not match.
  absl::StatusOr<std::string> RecordClick(int64_t id, const std::string& service_id,
                                          const std::string& channel_id, int link);

  // Every recommendation with what happened to it: the services clicked, and the last feedback
  // per service (+1/-1). In no particular order; for training (learning_loop.h).
  struct Logged {
    StoredRecommendation recommendation;
    std::vector<std::string> clicked;
    std::vector<std::pair<std::string, int>> feedback;
  };
  absl::Status ForEachLogged(const std::function<void(const Logged&)>& visit) const;

  // For tests: every feedback / click of a recommendation.
  std::vector<FeedbackEntry> FeedbackOf(int64_t id) const;
  std::vector<std::string> ClicksOf(int64_t id) const;  // the URLs, in key order

 private:
  explicit FeedbackStore(Database* database, rocksdb::ColumnFamilyHandle* family)
      : database_(database), family_(family) {}

  Database* database_;
  rocksdb::ColumnFamilyHandle* family_;
};

}  // namespace aurora::recommender
