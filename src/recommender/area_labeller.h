#pragma once
// AreaLabeller: keeps the index's life-area classifier trained on the catalogue's hand labels.
//
// A background thread looks at the index every `poll` for the training data: the live services
// with hand labels (their areas) and those marked not for the life-situation recommender. When
// that data differs from what the current model was trained on and has not changed for `quiet`
// (an import in progress settles first), it trains a new LifeAreaClassifier (cross-validation
// included) and gives it to the index (CatalogueIndex::SetAreaClassifier), which profiles every
// service without hand labels again. So the first model comes after the directory's snapshot,
// and an import that brings hand labels retrains; services added without hand labels between
// trainings are inferred by the current model as they arrive. A failed training is logged and
// the previous model stays.
//
// Metrics (when given a registry): aurora_recommender_area_classifier_{precision,recall,
// threshold}{area} (cross-validated, at the threshold; threshold -1: never inferred),
// aurora_recommender_area_classifier_examples, _trainings_total{result},
// _last_training_seconds, and aurora_recommender_inferred_services (services with at least one
// inferred area).
//
// Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "recommender/area_classifier.h"
#include "recommender/catalogue_index.h"

namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace aurora::recommender {

struct AreaLabellerOptions {
  absl::Duration poll = absl::Seconds(2);
  absl::Duration quiet = absl::Seconds(5);
  ClassifierOptions classifier;
  prometheus::Registry* metrics = nullptr;  // may be null
};

class AreaLabeller {
 public:
  // `index` must outlive the labeller.
  AreaLabeller(CatalogueIndex* index, AreaLabellerOptions options);
  ~AreaLabeller();  // Stop()

  void Start();
  void Stop();  // idempotent

  // Trains now on the index's current data and installs the model (what the thread does);
  // FAILED_PRECONDITION when there is nothing to train on.
  absl::Status TrainNow();

  // A digest of the training data the index holds now (changes when a hand label does).
  uint64_t TrainingDataDigest() const;
  // How many trainings succeeded so far.
  int64_t trainings() const;

 private:
  void Run();

  CatalogueIndex* const index_;
  const AreaLabellerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  int64_t trainings_ = 0;
  std::thread thread_;
  prometheus::Gauge* precision_[kLifeAreaCount] = {};
  prometheus::Gauge* recall_[kLifeAreaCount] = {};
  prometheus::Gauge* threshold_[kLifeAreaCount] = {};
  prometheus::Gauge* examples_ = nullptr;
  prometheus::Gauge* last_training_ = nullptr;
  prometheus::Gauge* inferred_services_ = nullptr;
  prometheus::Counter* succeeded_ = nullptr;
  prometheus::Counter* failed_ = nullptr;
};

}  // namespace aurora::recommender
