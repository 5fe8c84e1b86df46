#pragma once
// Learning to re-rank from feedback and clicks: the features, the per-service statistics, the
// model, its training and the re-ranking with exploration. Plain logic, no storage
// (learning_loop.h keeps models and feeds them from the FeedbackStore).
//
//   * Features of a (request, service) pair that generalise beyond single services: the ranker's
//     score relative to the best of the list and its parts (text, life situation, life event,
//     locality, age group), per life area need × relevance, the service's top-level PTV class,
//     and its history — position-corrected click-through rate, feedback balance and popularity,
//     each smoothed so that a new service starts at the prior, not at zero.
//   * Position bias: the position a service was shown at is a feature during training (one-hot,
//     positions 1..10 and "later"); when ranking, every candidate gets position 1's value, so the
//     position's effect on clicks is learnt apart from relevance and not fed back into it. The
//     statistics count an impression at position k as 1/k^eta of an examination.
//   * Model: logistic regression (clicked or +1 feedback against shown and not clicked, -1
//     feedback counting as a negative twice), trained with AdaGrad and L2 over the impressions in
//     time order. Deterministic for the same data and options.
//   * Re-ranking: the ranker's top `depth` by the model's score. Exploration: with probability
//     epsilon per request, one candidate from beyond the page that has been shown fewer than
//     `explore_below` times is put on the page (never in the first two places) and marked
//     "explored", so that new and rarely shown services get the impressions the model needs.
//
// Thread-safe where const; StatsTable is guarded by its owner.

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "recommender/ranker.h"

namespace aurora::recommender {

inline constexpr int kPositionSlots = 11;  // positions 1..10, and 11 for "later"
inline constexpr int kClassSlots = 30;     // PTV top-level classes P1..P29 (and 0: none)
inline constexpr int kFeatureCount = 10 + kLifeAreaCount + kClassSlots + kPositionSlots;

// The feature names, in order (for the stored model and the README).
const std::vector<std::string>& FeatureNames();

// What the node knows of how a service fared when it was recommended.
struct ServiceStats {
  double impressions = 0;
  double examinations = 0;  // position-weighted impressions (1/k^eta)
  double clicks = 0;
  double positive = 0;  // +1 feedback
  double negative = 0;  // -1 feedback
};

struct StatsOptions {
  double eta = 1.0;          // examination of position k: 1/k^eta
  double prior_ctr = 0.05;   // smoothing: a new service's click-through rate
  double prior_weight = 20;  // examinations the prior counts as
};

class StatsTable {
 public:
  explicit StatsTable(StatsOptions options = {}) : options_(options) {}
  void Impression(const std::string& service_id, int position);
  void Click(const std::string& service_id);
  void Feedback(const std::string& service_id, int score);
  // Zero stats for a service never recommended.
  const ServiceStats& Of(const std::string& service_id) const;
  double SmoothedCtr(const ServiceStats& stats) const;
  double Examination(int position) const;
  size_t size() const { return stats_.size(); }

 private:
  StatsOptions options_;
  absl::flat_hash_map<std::string, ServiceStats> stats_;
};

using FeatureVector = std::array<float, kFeatureCount>;

// `position`: 1-based where it was shown (training), or 0 when ranking (position 1's value).
FeatureVector Features(const RankedService& ranked, double top_score, const ServiceStats& stats,
                       const StatsTable& table, int position);

// Sets the history part of `features` (click-through rate, feedback balance, popularity) from
// `stats`: for training, the statistics as they were when the service was shown.
void SetHistoryFeatures(FeatureVector* features, const ServiceStats& stats,
                        const StatsTable& table);

// One shown service and what the person did with it.
struct Impression {
  std::string service_id;
  FeatureVector features{};  // with its position
  int position = 1;
  bool clicked = false;
  int feedback = 0;  // -1, 0, +1
  int64_t time_ms = 0;
};

struct RankingModel {
  int64_t version = 0;          // 0: none (the ranker's order)
  std::vector<double> weights;  // kFeatureCount
  int64_t impressions = 0;
  int64_t positives = 0;
  double train_log_loss = 0;
  int64_t trained_unix_ms = 0;
  // The model's score for a feature vector (a logit).
  double Score(const FeatureVector& features) const;
  std::string ToJson() const;
  static absl::StatusOr<RankingModel> FromJson(const std::string& json);
};

struct TrainingOptions {
  int epochs = 5;
  double learning_rate = 0.2;
  double l2 = 1e-4;
  uint32_t seed = 11;
  int64_t min_impressions = 200;  // fewer: no model (FAILED_PRECONDITION)
  int64_t min_positives = 10;
};

// Trains on `impressions` (any order; sorted by time inside). FAILED_PRECONDITION when there
// are too few to learn from.
absl::StatusOr<RankingModel> TrainRankingModel(std::vector<Impression> impressions,
                                               TrainingOptions options = {});

struct RerankOptions {
  size_t depth = 50;          // how many of the ranker's best are re-ranked
  double epsilon = 0.1;       // exploration: share of requests
  double explore_below = 30;  // impressions under which a service may be explored
  size_t protected_top = 2;   // exploration never displaces these
};

// Re-orders `ranked` (the ranker's list, best first, at least the page) by `model` and, with
// `rng`, explores; sets each explanation's model_version, learned_score and explored, and the
// ranks 1..n. Returns whether it explored. A model of version 0 leaves the order as it is.
bool Rerank(std::vector<RankedService>* ranked, const RankingModel& model, const StatsTable& stats,
            const RerankOptions& options, size_t page_end, std::mt19937_64* rng);

}  // namespace aurora::recommender
