#include "recommender/area_labeller.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"

namespace aurora::recommender {
namespace {

namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::common::v1;

bool IsTrainingExample(const dv1::Service& service) {
  return !service.life_areas().empty() || service.life_situation_excluded();
}

// FNV-1a, order-independent over services (a sum of per-service digests).
uint64_t Digest(const dv1::Service& service) {
  uint64_t h = 1469598103934665603ull;
  const auto mix = [&h](const std::string& bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(service.id());
  for (int area : service.life_areas()) mix(absl::StrCat(":", area));
  mix(service.life_situation_excluded() ? "x" : "-");
  // The texts the model reads.
  mix(service.name().fi());
  mix(service.summary().fi());
  mix(service.description().fi());
  return h;
}

}  // namespace

AreaLabeller::AreaLabeller(CatalogueIndex* index, AreaLabellerOptions options)
    : index_(index), options_(std::move(options)) {
  if (options_.metrics == nullptr) return;
  auto& registry = *options_.metrics;
  auto& precision = prometheus::BuildGauge()
                        .Name("aurora_recommender_area_classifier_precision")
                        .Help(
                            "Cross-validated precision of the life-area classifier per area, at "
                            "its threshold")
                        .Register(registry);
  auto& recall = prometheus::BuildGauge()
                     .Name("aurora_recommender_area_classifier_recall")
                     .Help(
                         "Cross-validated recall of the life-area classifier per area, at its "
                         "threshold")
                     .Register(registry);
  auto& threshold = prometheus::BuildGauge()
                        .Name("aurora_recommender_area_classifier_threshold")
                        .Help(
                            "Probability at or above which the classifier infers the area (-1: "
                            "never inferred)")
                        .Register(registry);
  for (int a = 0; a < kLifeAreaCount; ++a) {
    const std::map<std::string, std::string> labels = {{"area", std::string(LifeAreaKey(a))}};
    precision_[a] = &precision.Add(labels);
    recall_[a] = &recall.Add(labels);
    threshold_[a] = &threshold.Add(labels);
    threshold_[a]->Set(-1);
  }
  examples_ = &prometheus::BuildGauge()
                   .Name("aurora_recommender_area_classifier_examples")
                   .Help("Hand-labelled services the current life-area model was trained on")
                   .Register(registry)
                   .Add({});
  last_training_ = &prometheus::BuildGauge()
                        .Name("aurora_recommender_area_classifier_last_training_seconds")
                        .Help("Unix time of the current life-area model's training (0: none)")
                        .Register(registry)
                        .Add({});
  inferred_services_ = &prometheus::BuildGauge()
                            .Name("aurora_recommender_inferred_services")
                            .Help("Services with at least one life area inferred by the classifier")
                            .Register(registry)
                            .Add({});
  auto& trainings = prometheus::BuildCounter()
                        .Name("aurora_recommender_area_classifier_trainings_total")
                        .Help("Trainings of the life-area classifier by result")
                        .Register(registry);
  succeeded_ = &trainings.Add({{"result", "ok"}});
  failed_ = &trainings.Add({{"result", "failed"}});
}

AreaLabeller::~AreaLabeller() { Stop(); }

void AreaLabeller::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void AreaLabeller::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t AreaLabeller::trainings() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trainings_;
}

uint64_t AreaLabeller::TrainingDataDigest() const {
  CatalogueIndex::ReadLock lock(*index_);
  uint64_t sum = 0;
  for (const auto& doc : lock.data().docs) {
    if (doc.live && IsTrainingExample(*doc.service)) sum += Digest(*doc.service);
  }
  return sum;
}

absl::Status AreaLabeller::TrainNow() {
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<const dv1::Service>> services;
  {
    CatalogueIndex::ReadLock lock(*index_);
    for (const auto& doc : lock.data().docs) {
      if (doc.live && IsTrainingExample(*doc.service)) services.push_back(doc.service);
    }
  }
  if (services.empty()) {
    return absl::FailedPreconditionError(
        "no service with hand labels (life_areas) or marked not for the life-situation "
        "recommender: nothing to train the life-area classifier on");
  }
  std::vector<LabelledText> examples;
  examples.reserve(services.size());
  for (const auto& s : services) {
    LabelledText e;
    e.text = ClassifierText(*s, index_->analyzer(), index_->codes());
    for (int area : s->life_areas()) {
      e.areas.push_back(LifeAreaIndex(static_cast<cv1::LifeArea>(area)));
    }
    examples.push_back(std::move(e));
  }
  auto classifier = LifeAreaClassifier::Train(examples, options_.classifier);
  if (!classifier.ok()) {
    if (failed_ != nullptr) failed_->Increment();
    return classifier.status();
  }
  std::shared_ptr<const LifeAreaClassifier> model = *std::move(classifier);
  index_->SetAreaClassifier(model);
  const auto& report = model->report();
  int inferred = 0;
  {
    CatalogueIndex::ReadLock lock(*index_);
    for (const auto& doc : lock.data().docs) {
      if (!doc.live) continue;
      for (auto source : doc.profile.source) {
        if (source == AreaSource::kInferred) {
          ++inferred;
          break;
        }
      }
    }
  }
  std::string areas;
  for (int a = 0; a < kLifeAreaCount; ++a) {
    const AreaCalibration& c = report.areas[a];
    absl::StrAppend(&areas, areas.empty() ? "" : " ", std::string(LifeAreaKey(a)), "=",
                    c.inferred
                        ? absl::StrFormat("p%.2f/r%.2f@%.3f", c.precision, c.recall, c.threshold)
                        : std::string("never"));
    if (precision_[a] != nullptr) {
      precision_[a]->Set(c.precision);
      recall_[a]->Set(c.recall);
      threshold_[a]->Set(c.inferred ? c.threshold : -1);
    }
  }
  if (examples_ != nullptr) {
    examples_->Set(report.examples);
    last_training_->Set(static_cast<double>(absl::ToUnixSeconds(absl::Now())));
    inferred_services_->Set(inferred);
    succeeded_->Increment();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++trainings_;
  }
  LogInfo("recommender", "life-area classifier trained",
          {{"examples", absl::StrCat(report.examples)},
           {"labelled_none", absl::StrCat(report.labelled_none)},
           {"inferred_services", absl::StrCat(inferred)},
           {"seconds",
            absl::StrFormat(
                "%.2f",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count())},
           {"cross_validated", areas}});
  return absl::OkStatus();
}

void AreaLabeller::Run() {
  uint64_t trained_on = 0;  // the digest of the data of the current model (0: none)
  uint64_t seen = 0;
  auto seen_since = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.poll), [this] { return stopping_; });
      if (stopping_) return;
    }
    const uint64_t digest = TrainingDataDigest();
    const auto now = std::chrono::steady_clock::now();
    if (digest != seen) {
      seen = digest;
      seen_since = now;
      continue;
    }
    if (digest == 0 || digest == trained_on) continue;
    if (now - seen_since < absl::ToChronoNanoseconds(options_.quiet)) continue;
    if (auto status = TrainNow(); !status.ok()) {
      LogWarning("recommender", "life-area classifier not trained; the previous model stays",
                 {{"error", std::string(status.message())}});
    }
    trained_on = digest;  // a failure is not retried until the data changes
  }
}

}  // namespace aurora::recommender
