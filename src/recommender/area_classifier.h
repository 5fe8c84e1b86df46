#pragma once
// LifeAreaClassifier: infers which of the ten 3X10D life areas a service serves from its texts,
// for the services AuroraAI's team did not label by hand.
//
//   * Model: fastText supervised (libfasttext), one-vs-all loss, so that every area gets a
//     probability of its own and a service may serve several. Input: ClassifierText — the
//     Finnish base forms (Voikko) of the service's name, summary, description, keywords and the
//     names of its classes, target groups and life events.
//   * Training data: the services with hand labels (each labelled area is a label) and those the
//     team marked "not for the life-situation recommender" (label "none"), as the catalogue holds
//     them now.
//   * Calibration: k-fold cross-validation over that data gives, per area, the predicted
//     probabilities of held-out services. The area's threshold is the one with the best F1 among
//     those with a precision of at least `min_precision`; an area for which no threshold
//     reaches that precision gets none and is never inferred. The report holds each area's
//     cross-validated precision, recall and support at its threshold.
//   * The final model is trained on all the data. Training is deterministic for the same data
//     and options (one thread, a fixed seed).
//
// Thread-safe once made (Probabilities is const and reentrant).

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aurora/directory/v1/directory.pb.h"
#include "common/codelists.h"
#include "recommender/life_areas.h"
#include "recommender/text_analyzer.h"

namespace fasttext {
class FastText;
}  // namespace fasttext

namespace aurora::recommender {

// The text the classifier reads for a service (space-separated Finnish base forms).
std::string ClassifierText(const aurora::directory::v1::Service& service,
                           const TextAnalyzer& analyzer, const CodeLists& codes);

struct LabelledText {
  std::string text;        // ClassifierText
  std::vector<int> areas;  // area indexes; empty: labelled "none"
};

struct AreaCalibration {
  // Whether the area is ever inferred: some threshold reached the precision asked for.
  bool inferred = false;
  // Probability at or above which the area is inferred (when `inferred`).
  double threshold = 0;
  // Cross-validated, at the threshold.
  double precision = 0;
  double recall = 0;
  int support = 0;  // examples labelled with the area
};

struct ClassifierReport {
  std::array<AreaCalibration, kLifeAreaCount> areas;
  int examples = 0;
  int labelled_none = 0;
  int folds = 0;
};

struct ClassifierOptions {
  int folds = 5;
  int epoch = 40;
  double learning_rate = 0.5;
  int dim = 50;
  int word_ngrams = 2;
  int min_count = 1;
  int seed = 7;
  double min_precision = 0.6;
  std::string scratch_dir = "/tmp";  // fastText trains from a file: written and removed here
};

class LifeAreaClassifier {
 public:
  // INVALID_ARGUMENT when some area has fewer than `folds` examples to learn from, or there is
  // nothing to train on; INTERNAL when fastText fails.
  static absl::StatusOr<std::unique_ptr<LifeAreaClassifier>> Train(
      const std::vector<LabelledText>& examples, ClassifierOptions options = {});
  ~LifeAreaClassifier();

  // Each area's probability for `text` (a ClassifierText).
  std::array<float, kLifeAreaCount> Probabilities(const std::string& text) const;
  // The areas at or above their thresholds, with their probabilities and cross-validated
  // precisions.
  std::vector<InferredArea> Infer(const std::string& text) const;

  const ClassifierReport& report() const { return report_; }

 private:
  LifeAreaClassifier(std::unique_ptr<fasttext::FastText> model, ClassifierReport report);

  std::unique_ptr<fasttext::FastText> model_;
  ClassifierReport report_;
};

}  // namespace aurora::recommender
