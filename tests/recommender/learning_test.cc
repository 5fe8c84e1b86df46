// Learning to re-rank (recommender/learning.h): features, smoothing, training with position
// debiasing, the stored form, and re-ranking with exploration.

#include "recommender/learning.h"

#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aurora::recommender {
namespace {

namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::common::v1;

RankedService Ranked(int n, double score, const std::string& service_class = "") {
  auto service = std::make_shared<dv1::Service>();
  service->set_id(absl::StrCat("c0000000-0000-4000-8000-", absl::StrFormat("%012d", n)));
  if (!service_class.empty()) service->add_service_classes(service_class);
  RankedService r;
  r.service = service;
  r.score = score;
  r.explanation.set_life_situation_score(score);
  auto* area = r.explanation.add_life_areas();
  area->set_area(cv1::LIFE_AREA_HOUSING);
  area->set_need(0.9);
  area->set_relevance(0.5);
  return r;
}

int Index(const std::string& name) {
  const auto& names = FeatureNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  FAIL("no feature " << name);
  return -1;
}

TEST_CASE("features: a new service sits at the prior; position, class and areas as stated",
          "[learning]") {
  REQUIRE(FeatureNames().size() == static_cast<size_t>(kFeatureCount));
  StatsTable stats;
  const RankedService r = Ranked(1, 0.5, "P12.3");
  const FeatureVector fresh = Features(r, 1.0, stats.Of("x"), stats, 3);
  CHECK(fresh[Index("bias")] == 1);
  CHECK(fresh[Index("relative_score")] == Approx(0.5));
  CHECK(fresh[Index("smoothed_ctr")] == 0);
  CHECK(fresh[Index("feedback_balance")] == 0);
  CHECK(fresh[Index("log_impressions")] == 0);
  CHECK(fresh[Index("need_x_relevance:housing")] == Approx(0.45));
  CHECK(fresh[Index("class:P12")] == 1);
  CHECK(fresh[Index("class:none")] == 0);
  CHECK(fresh[Index("position:3")] == 1);
  CHECK(fresh[Index("position:1")] == 0);
  // When ranking, every candidate has position 1's value.
  CHECK(Features(r, 1.0, stats.Of("x"), stats, 0)[Index("position:1")] == 1);
  CHECK(Features(r, 1.0, stats.Of("x"), stats, 40)[Index("position:11+")] == 1);

  // History: clicks above the examination-weighted prior raise the CTR feature; clicks at
  // position 5 count more than at position 1 (it was less likely to be seen).
  StatsTable a, b;
  for (int i = 0; i < 20; ++i) {
    a.Impression("s", 1);
    b.Impression("s", 5);
  }
  for (int i = 0; i < 3; ++i) {
    a.Click("s");
    b.Click("s");
  }
  CHECK(a.SmoothedCtr(a.Of("s")) > a.SmoothedCtr({}));
  CHECK(b.SmoothedCtr(b.Of("s")) > a.SmoothedCtr(a.Of("s")));
  a.Feedback("s", 1);
  a.Feedback("s", 1);
  a.Feedback("s", -1);
  CHECK(Features(r, 1.0, a.Of("s"), a, 0)[Index("feedback_balance")] == Approx(0.2));
}

// Impressions of `n` requests of 10 services: services of class P5 are clicked when seen, the
// others never; position 1 is clicked twice as often whatever it holds.
std::vector<Impression> Logged(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  StatsTable stats;
  std::vector<Impression> out;
  for (int request = 0; request < n; ++request) {
    for (int k = 1; k <= 10; ++k) {
      const int id = static_cast<int>(rng() % 40);
      const RankedService r = Ranked(id, 1.0 - k * 0.05, id % 4 == 0 ? "P5" : "P7");
      Impression imp;
      imp.service_id = r.service->id();
      imp.position = k;
      imp.features = Features(r, 1.0, stats.Of(imp.service_id), stats, k);
      imp.time_ms = request;
      const double seen = 1.0 / k;
      const double u = std::uniform_real_distribution<double>(0, 1)(rng);
      imp.clicked = (id % 4 == 0 && u < seen) || (k == 1 && u < 0.3);
      out.push_back(imp);
    }
  }
  return out;
}

TEST_CASE("training learns what generalises, keeps position apart, and refuses too little data",
          "[learning]") {
  auto model = TrainRankingModel(Logged(400, 3));
  REQUIRE(model.ok());
  CHECK(model->impressions == 4000);
  CHECK(model->positives > 100);
  CHECK(model->weights[Index("class:P5")] > model->weights[Index("class:P7")]);
  CHECK(model->weights[Index("position:1")] > model->weights[Index("position:5")]);
  // The same data gives the same model.
  auto again = TrainRankingModel(Logged(400, 3));
  REQUIRE(again.ok());
  CHECK(again->weights == model->weights);
  // Stored and read back.
  model->version = 7;
  auto read = RankingModel::FromJson(model->ToJson());
  REQUIRE(read.ok());
  CHECK(read->version == 7);
  CHECK(read->weights.size() == model->weights.size());
  for (size_t i = 0; i < read->weights.size(); ++i) {
    CHECK(read->weights[i] == Approx(model->weights[i]));
  }
  CHECK(RankingModel::FromJson("[1, 2]").status().code() == absl::StatusCode::kDataLoss);

  auto little = TrainRankingModel(Logged(5, 3));
  CHECK(little.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(little.status().message()), Catch::Contains("too little to learn from"));
}

TEST_CASE(
    "re-ranking by the model keeps crisis services first; exploration puts a rarely shown "
    "service on the page, never in the first two places",
    "[learning]") {
  auto model = TrainRankingModel(Logged(400, 3));
  REQUIRE(model.ok());
  model->version = 4;
  StatsTable stats;
  std::vector<RankedService> list;
  for (int i = 0; i < 30; ++i) {
    list.push_back(Ranked(i, 1.0 - i * 0.01, i % 4 == 0 ? "P5" : "P7"));
    for (int n = 0; n < 100; ++n) stats.Impression(list.back().service->id(), 1);
  }
  list.push_back(Ranked(99, 0.5, "P7"));  // never shown
  RerankOptions options;
  options.epsilon = 0;

  // Without a model: the ranker's order.
  auto plain = list;
  CHECK_FALSE(Rerank(&plain, RankingModel{}, stats, options, 10, nullptr));
  for (size_t i = 0; i < plain.size(); ++i) {
    CHECK(plain[i].service->id() == list[i].service->id());
    CHECK(plain[i].explanation.model_version() == 0);
  }
  // With the model: the P5 services lead, and the explanation says which model.
  auto learnt = list;
  Rerank(&learnt, *model, stats, options, 10, nullptr);
  CHECK(learnt[0].service->service_classes(0) == "P5");
  CHECK(learnt[0].explanation.model_version() == 4);
  CHECK(learnt[0].explanation.learned_score() >= learnt[1].explanation.learned_score());
  for (size_t i = 0; i < learnt.size(); ++i) CHECK(learnt[i].rank == static_cast<int>(i) + 1);
  // A crisis service stays first.
  auto crisis = list;
  crisis[5].explanation.set_crisis("placed first: crisis");
  std::swap(crisis[0], crisis[5]);
  Rerank(&crisis, *model, stats, options, 10, nullptr);
  CHECK_FALSE(crisis[0].explanation.crisis().empty());

  // Exploration: the never-shown service comes onto the page, marked, at place 3 or later.
  options.epsilon = 1.0;
  std::mt19937_64 rng(5);
  auto explored = list;
  REQUIRE(Rerank(&explored, *model, stats, options, 10, &rng));
  size_t where = explored.size();
  for (size_t i = 0; i < explored.size(); ++i) {
    if (explored[i].service->id() == list.back().service->id()) where = i;
  }
  REQUIRE(where < 10);
  CHECK(where >= 2);
  CHECK(explored[where].explanation.explored());
  // Not with a crisis on the page.
  CHECK_FALSE(Rerank(&crisis, *model, stats, options, 10, &rng));
}

}  // namespace
}  // namespace aurora::recommender
