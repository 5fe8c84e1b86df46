#include "recommender/learning.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "recommender/life_areas.h"

namespace aurora::recommender {
namespace {

// Feature layout.
constexpr int kBias = 0;
constexpr int kRelativeScore = 1;
constexpr int kText = 2;
constexpr int kLifeSituation = 3;
constexpr int kLifeEvent = 4;
constexpr int kLocality = 5;
constexpr int kAgeGroup = 6;
constexpr int kCtr = 7;
constexpr int kFeedbackBalance = 8;
constexpr int kPopularity = 9;
constexpr int kAreas = 10;
constexpr int kClasses = kAreas + kLifeAreaCount;
constexpr int kPositions = kClasses + kClassSlots;
static_assert(kPositions + kPositionSlots == kFeatureCount);

int ClassSlot(const std::string& code) {
  // "P12.3" -> 12; anything else -> 0.
  if (code.size() < 2 || code[0] != 'P') return 0;
  int n = 0;
  for (size_t i = 1; i < code.size() && code[i] != '.'; ++i) {
    if (code[i] < '0' || code[i] > '9') return 0;
    n = n * 10 + (code[i] - '0');
  }
  return n > 0 && n < kClassSlots ? n : 0;
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

const std::vector<std::string>& FeatureNames() {
  static const auto* names = [] {
    auto* out = new std::vector<std::string>{"bias",
                                             "relative_score",
                                             "text_score",
                                             "life_situation_score",
                                             "life_event_score",
                                             "locality_bonus",
                                             "age_group_bonus",
                                             "smoothed_ctr",
                                             "feedback_balance",
                                             "log_impressions"};
    for (int a = 0; a < kLifeAreaCount; ++a) {
      out->push_back(absl::StrCat("need_x_relevance:", std::string(LifeAreaKey(a))));
    }
    out->push_back("class:none");
    for (int c = 1; c < kClassSlots; ++c) out->push_back(absl::StrCat("class:P", c));
    for (int p = 1; p < kPositionSlots; ++p) out->push_back(absl::StrCat("position:", p));
    out->push_back(absl::StrCat("position:", kPositionSlots, "+"));
    return out;
  }();
  return *names;
}

void StatsTable::Impression(const std::string& service_id, int position) {
  ServiceStats& s = stats_[service_id];
  s.impressions += 1;
  s.examinations += Examination(position);
}

void StatsTable::Click(const std::string& service_id) { stats_[service_id].clicks += 1; }

void StatsTable::Feedback(const std::string& service_id, int score) {
  if (score > 0) stats_[service_id].positive += 1;
  if (score < 0) stats_[service_id].negative += 1;
}

const ServiceStats& StatsTable::Of(const std::string& service_id) const {
  static const ServiceStats kNone;
  auto it = stats_.find(service_id);
  return it == stats_.end() ? kNone : it->second;
}

double StatsTable::SmoothedCtr(const ServiceStats& s) const {
  return (s.clicks + options_.prior_ctr * options_.prior_weight) /
         (s.examinations + options_.prior_weight);
}

double StatsTable::Examination(int position) const {
  return 1.0 / std::pow(std::max(position, 1), options_.eta);
}

void SetHistoryFeatures(FeatureVector* features, const ServiceStats& stats,
                        const StatsTable& table) {
  FeatureVector& f = *features;
  // Relative to the prior, so that a service without history contributes nothing either way.
  f[kCtr] = static_cast<float>(10.0 * (table.SmoothedCtr(stats) - table.SmoothedCtr({})));
  f[kFeedbackBalance] =
      static_cast<float>((stats.positive - stats.negative) / (stats.positive + stats.negative + 2));
  f[kPopularity] = static_cast<float>(std::log1p(stats.impressions) / 5.0);
}

FeatureVector Features(const RankedService& ranked, double top_score, const ServiceStats& stats,
                       const StatsTable& table, int position) {
  FeatureVector f{};
  const auto& e = ranked.explanation;
  f[kBias] = 1;
  f[kRelativeScore] = top_score > 0 ? static_cast<float>(ranked.score / top_score) : 0;
  f[kText] = static_cast<float>(e.text_score());
  f[kLifeSituation] = static_cast<float>(e.life_situation_score());
  f[kLifeEvent] = static_cast<float>(e.life_event_score());
  f[kLocality] = static_cast<float>(e.locality_bonus());
  f[kAgeGroup] = static_cast<float>(e.age_group_bonus());
  SetHistoryFeatures(&f, stats, table);
  for (const auto& area : e.life_areas()) {
    const int k = LifeAreaIndex(area.area());
    if (k >= 0 && k < kLifeAreaCount)
      f[kAreas + k] = static_cast<float>(area.need() * area.relevance());
  }
  bool any_class = false;
  for (const auto& code : ranked.service->service_classes()) {
    const int slot = ClassSlot(code);
    if (slot > 0) {
      f[kClasses + slot] = 1;
      any_class = true;
    }
  }
  if (!any_class) f[kClasses] = 1;
  const int p = position <= 0 ? 1 : std::min(position, kPositionSlots);
  f[kPositions + p - 1] = 1;
  return f;
}

double RankingModel::Score(const FeatureVector& features) const {
  if (weights.size() != static_cast<size_t>(kFeatureCount)) return 0;
  double s = 0;
  for (int i = 0; i < kFeatureCount; ++i) s += weights[i] * features[i];
  return s;
}

std::string RankingModel::ToJson() const {
  nlohmann::json j;
  j["version"] = version;
  j["impressions"] = impressions;
  j["positives"] = positives;
  j["train_log_loss"] = train_log_loss;
  j["trained_unix_ms"] = trained_unix_ms;
  nlohmann::json w = nlohmann::json::object();
  const auto& names = FeatureNames();
  for (size_t i = 0; i < weights.size() && i < names.size(); ++i) w[names[i]] = weights[i];
  j["weights"] = w;
  return j.dump();
}

absl::StatusOr<RankingModel> RankingModel::FromJson(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError("a stored ranking model is not a JSON object");
  }
  RankingModel m;
  try {
    m.version = j.at("version").get<int64_t>();
    m.impressions = j.at("impressions").get<int64_t>();
    m.positives = j.at("positives").get<int64_t>();
    m.train_log_loss = j.at("train_log_loss").get<double>();
    m.trained_unix_ms = j.at("trained_unix_ms").get<int64_t>();
    m.weights.assign(kFeatureCount, 0.0);
    const auto& names = FeatureNames();
    const auto& w = j.at("weights");
    for (int i = 0; i < kFeatureCount; ++i) {
      // A feature this version does not know stays at 0; one it lacks is ignored.
      if (auto it = w.find(names[i]); it != w.end()) m.weights[i] = it->get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("a stored ranking model is malformed: ", e.what()));
  }
  return m;
}

absl::StatusOr<RankingModel> TrainRankingModel(std::vector<Impression> impressions,
                                               TrainingOptions options) {
  int64_t positives = 0;
  for (const auto& i : impressions) positives += (i.clicked || i.feedback > 0) ? 1 : 0;
  if (static_cast<int64_t>(impressions.size()) < options.min_impressions ||
      positives < options.min_positives) {
    return absl::FailedPreconditionError(
        absl::StrCat("too little to learn from: ", impressions.size(), " impressions with ",
                     positives, " clicked or liked (at least ", options.min_impressions, " and ",
                     options.min_positives, " are needed)"));
  }
  std::stable_sort(impressions.begin(), impressions.end(),
                   [](const auto& a, const auto& b) { return a.time_ms < b.time_ms; });
  RankingModel model;
  model.weights.assign(kFeatureCount, 0.0);
  // Start from the ranker's order: its relative score carries the ranking until data says more.
  model.weights[kRelativeScore] = 1.0;
  std::vector<double> squared(kFeatureCount, 1e-6);
  std::mt19937 rng(options.seed);
  std::vector<size_t> order(impressions.size());
  std::iota(order.begin(), order.end(), 0);
  double loss = 0;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    if (epoch > 0) std::shuffle(order.begin(), order.end(), rng);
    loss = 0;
    for (size_t idx : order) {
      const Impression& imp = impressions[idx];
      const double label = (imp.clicked || imp.feedback > 0) ? 1.0 : 0.0;
      const double weight = imp.feedback < 0 ? 2.0 : 1.0;
      const double p = Sigmoid(model.Score(imp.features));
      loss += -weight * (label * std::log(std::max(p, 1e-12)) +
                         (1 - label) * std::log(std::max(1 - p, 1e-12)));
      const double g = weight * (p - label);
      for (int f = 0; f < kFeatureCount; ++f) {
        const double grad = g * imp.features[f] + options.l2 * model.weights[f];
        if (grad == 0) continue;
        squared[f] += grad * grad;
        model.weights[f] -= options.learning_rate * grad / std::sqrt(squared[f]);
      }
    }
  }
  model.impressions = static_cast<int64_t>(impressions.size());
  model.positives = positives;
  model.train_log_loss = loss / static_cast<double>(impressions.size());
  return model;
}

bool Rerank(std::vector<RankedService>* ranked, const RankingModel& model, const StatsTable& stats,
            const RerankOptions& options, size_t page_end, std::mt19937_64* rng) {
  if (ranked->empty()) return false;
  const size_t depth = std::min(ranked->size(), std::max(options.depth, page_end));
  const double top = ranked->front().score;
  if (model.version > 0) {
    std::vector<std::pair<double, size_t>> scored;
    for (size_t i = 0; i < depth; ++i) {
      const auto& r = (*ranked)[i];
      // Crisis services stay first whatever the model says.
      const bool crisis = !r.explanation.crisis().empty();
      const double s = model.Score(Features(r, top, stats.Of(r.service->id()), stats, 0));
      (*ranked)[i].explanation.set_model_version(model.version);
      (*ranked)[i].explanation.set_learned_score(s);
      scored.push_back({crisis ? 1e9 - static_cast<double>(i) : s, i});
    }
    std::stable_sort(scored.begin(), scored.end(), [&](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first > b.first;
      return (*ranked)[a.second].service->id() < (*ranked)[b.second].service->id();
    });
    std::vector<RankedService> reordered;
    reordered.reserve(ranked->size());
    for (const auto& [s, i] : scored) reordered.push_back(std::move((*ranked)[i]));
    for (size_t i = depth; i < ranked->size(); ++i) reordered.push_back(std::move((*ranked)[i]));
    *ranked = std::move(reordered);
  }
  bool explored = false;
  const size_t page = std::min(page_end, ranked->size());
  const bool crisis = !ranked->front().explanation.crisis().empty();
  if (rng != nullptr && !crisis && options.epsilon > 0 && page > options.protected_top &&
      std::uniform_real_distribution<double>(0, 1)(*rng) < options.epsilon) {
    std::vector<size_t> rare;
    for (size_t i = page; i < depth; ++i) {
      if (stats.Of((*ranked)[i].service->id()).impressions < options.explore_below &&
          (*ranked)[i].explanation.crisis().empty()) {
        rare.push_back(i);
      }
    }
    if (!rare.empty()) {
      const size_t from = rare[std::uniform_int_distribution<size_t>(0, rare.size() - 1)(*rng)];
      const size_t to =
          std::uniform_int_distribution<size_t>(options.protected_top, page - 1)(*rng);
      RankedService moved = std::move((*ranked)[from]);
      moved.explanation.set_explored(true);
      ranked->erase(ranked->begin() + static_cast<ptrdiff_t>(from));
      ranked->insert(ranked->begin() + static_cast<ptrdiff_t>(to), std::move(moved));
      explored = true;
    }
  }
  for (size_t i = 0; i < ranked->size(); ++i) (*ranked)[i].rank = static_cast<int>(i) + 1;
  return explored;
}

}  // namespace aurora::recommender
