#include "recommender/area_classifier.h"

#include <fasttext/args.h>
#include <fasttext/fasttext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/codelists.h"

namespace aurora::recommender {
namespace {

namespace dv1 = aurora::directory::v1;

constexpr char kLabelPrefix[] = "__label__";
constexpr char kNoneLabel[] = "none";

// Serialises predictions: fastText's predictLine reads through its dictionary, which we do not
// rely on being reentrant.
std::mutex& PredictMutex() {
  static std::mutex mu;
  return mu;
}

std::string LabelLine(const LabelledText& example) {
  std::string line;
  if (example.areas.empty()) {
    absl::StrAppend(&line, kLabelPrefix, kNoneLabel, " ");
  }
  for (int area : example.areas) {
    absl::StrAppend(&line, kLabelPrefix, std::string(LifeAreaKey(area)), " ");
  }
  absl::StrAppend(&line, example.text, "\n");
  return line;
}

// A scratch file fastText trains from; removed when destroyed.
class TrainingFile {
 public:
  TrainingFile(const std::string& dir) {
    std::string pattern = dir + "/aurora-area-classifier-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    const int fd = mkstemp(name.data());
    if (fd >= 0) {
      close(fd);
      path_ = name.data();
    }
  }
  ~TrainingFile() {
    if (!path_.empty()) std::remove(path_.c_str());
  }
  bool Write(const std::vector<const LabelledText*>& examples) const {
    if (path_.empty()) return false;
    std::ofstream out(path_, std::ios::trunc);
    for (const LabelledText* e : examples) out << LabelLine(*e);
    out.flush();
    return out.good();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

absl::StatusOr<std::unique_ptr<fasttext::FastText>> TrainModel(
    const std::vector<const LabelledText*>& examples, const ClassifierOptions& options) {
  TrainingFile file(options.scratch_dir);
  if (!file.Write(examples)) {
    return absl::InternalError(
        absl::StrCat("could not write the classifier's training file in ", options.scratch_dir));
  }
  fasttext::Args args;
  args.input = file.path();
  args.model = fasttext::model_name::sup;
  args.loss = fasttext::loss_name::ova;
  args.epoch = options.epoch;
  args.lr = options.learning_rate;
  args.dim = options.dim;
  args.wordNgrams = options.word_ngrams;
  args.minCount = options.min_count;
  args.minn = 0;  // whole words: the text is base forms already
  args.maxn = 0;
  args.bucket = options.word_ngrams > 1 ? 50000 : 0;
  args.thread = 1;  // deterministic
  args.seed = options.seed;
  args.verbose = 0;
  auto model = std::make_unique<fasttext::FastText>();
  try {
    model->train(args);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("fastText training failed: ", e.what()));
  }
  return model;
}

std::array<float, kLifeAreaCount> Predict(const fasttext::FastText& model,
                                          const std::string& text) {
  std::array<float, kLifeAreaCount> out{};
  std::istringstream in(text + "\n");
  std::vector<std::pair<fasttext::real, std::string>> predictions;
  {
    std::lock_guard<std::mutex> lock(PredictMutex());
    model.predictLine(in, predictions, kLifeAreaCount + 1, 0.0);
  }
  for (const auto& [probability, label] : predictions) {
    const std::string key = label.substr(sizeof(kLabelPrefix) - 1);
    for (int i = 0; i < kLifeAreaCount; ++i) {
      if (LifeAreaKey(i) == key) out[i] = probability;
    }
  }
  return out;
}

// The best threshold of one area from held-out (probability, positive) pairs.
AreaCalibration Calibrate(std::vector<std::pair<float, bool>> scored, double min_precision) {
  AreaCalibration out;
  for (const auto& s : scored) out.support += s.second ? 1 : 0;
  if (out.support == 0) return out;
  std::sort(scored.begin(), scored.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  int true_positives = 0;
  double best_f1 = -1;
  for (size_t i = 0; i < scored.size(); ++i) {
    true_positives += scored[i].second ? 1 : 0;
    // Only between distinct probabilities: a threshold admits every example at or above it.
    if (i + 1 < scored.size() && scored[i + 1].first == scored[i].first) continue;
    const double precision = static_cast<double>(true_positives) / static_cast<double>(i + 1);
    const double recall = static_cast<double>(true_positives) / out.support;
    if (precision < min_precision || true_positives == 0) continue;
    const double f1 = 2 * precision * recall / (precision + recall);
    if (f1 > best_f1) {
      best_f1 = f1;
      out.inferred = true;
      out.threshold = scored[i].first;
      out.precision = precision;
      out.recall = recall;
    }
  }
  return out;
}

void AddTerms(const TextAnalyzer& analyzer, const std::string& text, std::string* out,
              std::vector<AnalyzedTerm>* scratch) {
  scratch->clear();
  analyzer.Analyze(text, Language::kFinnish, scratch);
  for (const auto& t : *scratch) {
    if (t.compound_part) continue;
    if (!out->empty()) out->push_back(' ');
    out->append(t.term);
  }
}

}  // namespace

std::string ClassifierText(const dv1::Service& service, const TextAnalyzer& analyzer,
                           const CodeLists& codes) {
  std::string out;
  std::vector<AnalyzedTerm> scratch;
  AddTerms(analyzer, service.name().fi(), &out, &scratch);
  AddTerms(analyzer, service.alternative_name().fi(), &out, &scratch);
  AddTerms(analyzer, service.summary().fi(), &out, &scratch);
  AddTerms(analyzer, service.description().fi(), &out, &scratch);
  for (const auto& keyword : service.keywords()) AddTerms(analyzer, keyword, &out, &scratch);
  const auto labels = [&](CodeKind kind, const auto& list) {
    for (const auto& code : list) {
      if (const HierarchicalCode* entry = codes.Find(kind, code)) {
        AddTerms(analyzer, entry->name.fi(), &out, &scratch);
      }
    }
  };
  labels(CodeKind::kServiceClass, service.service_classes());
  labels(CodeKind::kTargetGroup, service.target_groups());
  labels(CodeKind::kLifeEvent, service.life_events());
  return out;
}

LifeAreaClassifier::LifeAreaClassifier(std::unique_ptr<fasttext::FastText> model,
                                       ClassifierReport report)
    : model_(std::move(model)), report_(report) {}

LifeAreaClassifier::~LifeAreaClassifier() = default;

absl::StatusOr<std::unique_ptr<LifeAreaClassifier>> LifeAreaClassifier::Train(
    const std::vector<LabelledText>& examples, ClassifierOptions options) {
  std::vector<const LabelledText*> usable;
  for (const auto& e : examples) {
    if (!e.text.empty()) usable.push_back(&e);
  }
  if (usable.empty()) {
    return absl::InvalidArgumentError("no labelled service with a Finnish text to train on");
  }
  if (options.folds < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("folds: at least 2 for cross-validation, got ", options.folds));
  }
  ClassifierReport report;
  report.examples = static_cast<int>(usable.size());
  report.folds = options.folds;
  for (const auto* e : usable) report.labelled_none += e->areas.empty() ? 1 : 0;

  // Folds: a seeded shuffle, then every k-th example.
  std::vector<size_t> order(usable.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(static_cast<uint32_t>(options.seed));
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int> fold(usable.size());
  for (size_t i = 0; i < order.size(); ++i) {
    fold[order[i]] = static_cast<int>(i % static_cast<size_t>(options.folds));
  }
  std::array<std::vector<std::pair<float, bool>>, kLifeAreaCount> held_out;
  for (int k = 0; k < options.folds; ++k) {
    std::vector<const LabelledText*> train;
    for (size_t i = 0; i < usable.size(); ++i) {
      if (fold[i] != k) train.push_back(usable[i]);
    }
    auto model = TrainModel(train, options);
    if (!model.ok()) return model.status();
    for (size_t i = 0; i < usable.size(); ++i) {
      if (fold[i] != k) continue;
      const auto p = Predict(**model, usable[i]->text);
      for (int a = 0; a < kLifeAreaCount; ++a) {
        const bool positive = std::find(usable[i]->areas.begin(), usable[i]->areas.end(), a) !=
                              usable[i]->areas.end();
        held_out[a].push_back({p[a], positive});
      }
    }
  }
  for (int a = 0; a < kLifeAreaCount; ++a) {
    report.areas[a] = Calibrate(std::move(held_out[a]), options.min_precision);
  }
  auto model = TrainModel(usable, options);
  if (!model.ok()) return model.status();
  return std::unique_ptr<LifeAreaClassifier>(new LifeAreaClassifier(*std::move(model), report));
}

std::array<float, kLifeAreaCount> LifeAreaClassifier::Probabilities(const std::string& text) const {
  return Predict(*model_, text);
}

std::vector<InferredArea> LifeAreaClassifier::Infer(const std::string& text) const {
  std::vector<InferredArea> out;
  if (text.empty()) return out;
  const auto p = Probabilities(text);
  for (int a = 0; a < kLifeAreaCount; ++a) {
    const AreaCalibration& c = report_.areas[a];
    if (c.inferred && p[a] >= c.threshold) {
      out.push_back({a, p[a], static_cast<float>(c.precision)});
    }
  }
  return out;
}

}  // namespace aurora::recommender
