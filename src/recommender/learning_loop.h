#pragma once
// LearningLoop: the learnt re-ranking's life in a node — training from the recommendations,
// clicks and feedback the FeedbackStore holds, the versions of the model, and the state the
// engine ranks with.
//
//   * Training (TrainNow, and a background thread every `interval` when there is something new):
//     every logged recommendation whose services carry features is an impression per service,
//     clicked or not, with its last feedback; the statistics (StatsTable) are rebuilt from the
//     same log. A model that trains (enough data: TrainingOptions) becomes version last + 1,
//     is stored and becomes active.
//   * Versions are kept (RocksDB, column family "recommender": "m/v/" <16 hex version> -> the
//     model's JSON, "m/active" -> the active version, "0" for none). Activate(version) rolls back
//     (or forward) to any kept version; 0 turns the re-ranking off until the next training
//     activates a new one. The active model survives restarts.
//   * Current() is what the engine ranks with: the model, the statistics it was trained with,
//     and whether to explore (only when a model is active: without one there is nothing to learn
//     for yet, and answers stay exactly the ranker's).
//
// Metrics (when given a registry): aurora_recommender_model_version,
// aurora_recommender_model_trainings_total{result}, aurora_recommender_model_impressions,
// aurora_recommender_explorations_total (counted by the engine through CountExploration).
//
// Thread-safe.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/database.h"
#include "recommender/feedback_store.h"
#include "recommender/learning.h"

namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace aurora::recommender {

struct LearningOptions {
  absl::Duration interval = absl::Minutes(10);
  TrainingOptions training;
  RerankOptions rerank;
  StatsOptions stats;
  prometheus::Registry* metrics = nullptr;  // may be null
};

// What ranking reads: immutable once published.
struct LearnedState {
  RankingModel model;  // version 0: none
  StatsTable stats;
  RerankOptions rerank;
};

class LearningLoop {
 public:
  // Loads the active model (and rebuilds its statistics from the log). `database` and `store`
  // must outlive the loop.
  static absl::StatusOr<std::unique_ptr<LearningLoop>> Open(Database* database,
                                                            const FeedbackStore* store,
                                                            LearningOptions options);
  ~LearningLoop();  // Stop()

  void Start();
  void Stop();

  std::shared_ptr<const LearnedState> Current() const;
  // Trains now; the new version's description. FAILED_PRECONDITION with too little data.
  absl::StatusOr<RankingModel> TrainNow();
  // Every kept version, newest first, and the active one (0: none).
  absl::StatusOr<std::vector<RankingModel>> Versions() const;
  int64_t active_version() const;
  // NOT_FOUND naming the version when it is not kept.
  absl::Status Activate(int64_t version);
  void CountExploration();

 private:
  LearningLoop(Database* database, rocksdb::ColumnFamilyHandle* family, const FeedbackStore* store,
               LearningOptions options);
  // The impressions and statistics of the whole log.
  absl::Status ReadLog(std::vector<Impression>* impressions, StatsTable* stats,
                       int64_t* events) const;
  absl::StatusOr<RankingModel> Load(int64_t version) const;
  void Publish(RankingModel model, StatsTable stats);
  void Run();

  Database* database_;
  rocksdb::ColumnFamilyHandle* family_;
  const FeedbackStore* store_;
  const LearningOptions options_;
  std::atomic<std::shared_ptr<const LearnedState>> current_;
  std::mutex train_mu_;  // one training or activation at a time
  std::atomic<int64_t> trained_on_events_{-1};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  prometheus::Gauge* version_gauge_ = nullptr;
  prometheus::Gauge* impressions_gauge_ = nullptr;
  prometheus::Counter* trained_ = nullptr;
  prometheus::Counter* not_trained_ = nullptr;
  prometheus::Counter* explorations_ = nullptr;
};

}  // namespace aurora::recommender
