// area_classifier_bench: the life-area classifier (recommender/area_classifier.h) on the demo
// catalogue — its cross-validated precision and recall per area at the calibrated thresholds,
// how many unlabelled services get an inferred area, and how long training and inference take.
//
//   ./build/release/bench/area_classifier_bench [--source-dir DIR] [--folds K] [--epoch N]
//       [--min-precision P]
//
// Exit status 0 when it ran (whatever the figures), 1 when it could not.

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_args.h"
#include "common/codelists.h"
#include "directory/catalogue_format.h"
#include "recommender/area_classifier.h"
#include "recommender/life_areas.h"
#include "recommender/text_analyzer.h"

namespace aurora {
namespace {

constexpr char kUsage[] =
    "Usage: area_classifier_bench [--source-dir DIR] [--folds K] [--epoch N] [--dim D]\n"
    "         [--word-ngrams N] [--learning-rate R] [--min-precision P]\n"
    "  --source-dir DIR    services.ndjson and codelists/ (default " AURORA_DATA_DIR
    ")\n"
    "  --folds K           cross-validation folds (default 5)\n"
    "  --epoch N           fastText epochs (default 40)\n"
    "  --dim D             fastText vector size (default 50)\n"
    "  --word-ngrams N     fastText word n-grams (default 2)\n"
    "  --learning-rate R   fastText learning rate (default 0.5)\n"
    "  --min-precision P   the precision a threshold must reach (default 0.6)\n";

int Run(int argc, char** argv) {
  std::string source = AURORA_DATA_DIR;
  recommender::ClassifierOptions options;
  double min_precision = options.min_precision;
  bench::ArgReader args(argc, argv, kUsage);
  while (args.Next()) {
    if (!args.TakeValue()) return 1;
    if (args.option() == "--source-dir") {
      source = args.value();
    } else if (args.option() == "--folds") {
      if (!args.Integer(2, 20, &options.folds)) return 1;
    } else if (args.option() == "--epoch") {
      if (!args.Integer(1, 1000, &options.epoch)) return 1;
    } else if (args.option() == "--dim") {
      if (!args.Integer(2, 1000, &options.dim)) return 1;
    } else if (args.option() == "--word-ngrams") {
      if (!args.Integer(1, 5, &options.word_ngrams)) return 1;
    } else if (args.option() == "--learning-rate") {
      if (!absl::SimpleAtod(args.value(), &options.learning_rate) ||
          !(options.learning_rate > 0 && options.learning_rate <= 10)) {
        std::fprintf(stderr, "--learning-rate: expected a number in (0, 10], got \"%s\"\n",
                     args.value().c_str());
        return 1;
      }
    } else if (args.option() == "--min-precision") {
      if (!absl::SimpleAtod(args.value(), &min_precision) || min_precision < 0 ||
          min_precision > 1) {
        std::fprintf(stderr, "--min-precision: expected a number in 0..1, got \"%s\"\n",
                     args.value().c_str());
        return 1;
      }
    } else {
      args.Unknown();
      return 1;
    }
  }
  options.min_precision = min_precision;
  using Clock = std::chrono::steady_clock;
  auto codes = CodeLists::LoadFromDirectory(source + "/codelists");
  auto analyzer = recommender::TextAnalyzer::Create();
  if (!codes.ok() || !analyzer.ok()) {
    std::fprintf(stderr, "cannot load the code lists or the text analyzer\n");
    return 1;
  }
  auto read = directory::ReadCatalogueFile(source + "/services.ndjson",
                                           directory::CatalogueFormat::kNdjson, *codes);
  if (!read.ok()) {
    std::fprintf(stderr, "%s\n", std::string(read.status().message()).c_str());
    return 1;
  }
  auto t0 = Clock::now();
  std::vector<recommender::LabelledText> examples;
  std::vector<std::string> unlabelled;
  for (const auto& record : read->records) {
    const auto& s = record.service;
    std::string text = recommender::ClassifierText(s, **analyzer, *codes);
    if (!s.life_areas().empty() || s.life_situation_excluded()) {
      recommender::LabelledText e;
      e.text = std::move(text);
      for (int a : s.life_areas()) e.areas.push_back(a - 1);
      examples.push_back(std::move(e));
    } else {
      unlabelled.push_back(std::move(text));
    }
  }
  const double text_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  auto classifier = recommender::LifeAreaClassifier::Train(examples, options);
  if (!classifier.ok()) {
    std::fprintf(stderr, "training: %s\n", std::string(classifier.status().message()).c_str());
    return 1;
  }
  const double train_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto& report = (*classifier)->report();
  std::printf(
      "area_classifier_bench: %zu services, %d labelled (%d \"none\"), %zu unlabelled; "
      "%d folds, %d epochs, min precision %.2f\n",
      read->records.size(), report.examples, report.labelled_none, unlabelled.size(), report.folds,
      options.epoch, options.min_precision);
  std::printf("texts %.2f s, training with cross-validation %.2f s\n\n", text_s, train_s);
  std::printf("  %-26s %8s %10s %10s %10s %12s\n", "area", "support", "threshold", "precision",
              "recall", "inferred for");
  t0 = Clock::now();
  std::array<int, recommender::kLifeAreaCount> inferred{};
  int with_any = 0;
  for (const auto& text : unlabelled) {
    auto areas = (*classifier)->Infer(text);
    with_any += areas.empty() ? 0 : 1;
    for (const auto& i : areas) ++inferred[i.area];
  }
  const double infer_s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (int a = 0; a < recommender::kLifeAreaCount; ++a) {
    const auto& c = report.areas[a];
    std::printf("  %-26s %8d %10s %10.3f %10.3f %12d\n",
                std::string(recommender::LifeAreaKey(a)).c_str(), c.support,
                c.inferred ? absl::StrFormat("%.3f", c.threshold).c_str() : "never", c.precision,
                c.recall, inferred[a]);
  }
  std::printf("\nunlabelled services with an inferred area: %d of %zu; inference %.1f us each\n",
              with_any, unlabelled.size(), 1e6 * infer_s / std::max<size_t>(unlabelled.size(), 1));
  return 0;
}

}  // namespace
}  // namespace aurora

int main(int argc, char** argv) { return aurora::Run(argc, argv); }
