// The life-area classifier (fastText, recommender/area_classifier.h) and its labeller
// (recommender/area_labeller.h): calibration, inference, determinism and bad input on texts made
// for it; on an index, inferred areas for services without hand labels (hand labels win), the
// explanation that says so with the confidence, and retraining when hand labels change.

#include "recommender/area_classifier.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "catalogue_fixture.h"
#include "recommender/area_labeller.h"

namespace aurora::recommender {
namespace {

namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::common::v1;
namespace rv1 = aurora::recommender::v1;

constexpr int kHealth = 0;
constexpr int kHousing = 2;
constexpr int kFinance = 6;

// Word pools of three areas and of services for none of them.
const std::vector<std::string> kHealthWords = {"lääkäri",     "terveyskeskus", "hammashoito",
                                               "rokotus",     "sairaala",      "hoitaja",
                                               "vastaanotto", "lääke"};
const std::vector<std::string> kHousingWords = {"asunto",        "vuokra", "asumistuki",
                                                "kerrostalo",    "muutto", "isännöitsijä",
                                                "vuokrasopimus", "koti"};
const std::vector<std::string> kFinanceWords = {"raha",     "velka", "toimeentulotuki", "laina",
                                                "budjetti", "maksu", "talousneuvonta",  "tulot"};
const std::vector<std::string> kOtherWords = {"metsästys",    "kalastus", "kartta", "tie",
                                              "rakennuslupa", "maatila",  "vene",   "ympäristö"};

std::string Sentence(const std::vector<std::string>& words, int seed) {
  std::string out;
  for (int i = 0; i < 5; ++i) {
    absl::StrAppend(&out, out.empty() ? "" : " ", words[(seed * 3 + i * 5) % words.size()]);
  }
  return out;
}

std::vector<LabelledText> Examples() {
  std::vector<LabelledText> out;
  for (int i = 0; i < 40; ++i) {
    out.push_back({Sentence(kHealthWords, i), {kHealth}});
    out.push_back({Sentence(kHousingWords, i), {kHousing}});
    out.push_back({Sentence(kFinanceWords, i), {kFinance}});
    out.push_back({Sentence(kOtherWords, i), {}});
  }
  // Some serve two areas.
  for (int i = 0; i < 10; ++i) {
    out.push_back(
        {Sentence(kHousingWords, i) + " " + Sentence(kFinanceWords, i + 1), {kHousing, kFinance}});
  }
  return out;
}

ClassifierOptions Fast() {
  ClassifierOptions o;
  o.epoch = 30;
  o.word_ngrams = 1;
  return o;
}

TEST_CASE("the classifier calibrates each area on held-out data and infers above the threshold",
          "[area_classifier]") {
  auto classifier = LifeAreaClassifier::Train(Examples(), Fast());
  REQUIRE(classifier.ok());
  const ClassifierReport& report = (*classifier)->report();
  CHECK(report.examples == 170);
  CHECK(report.labelled_none == 40);
  CHECK(report.folds == 5);
  for (int area : {kHealth, kHousing, kFinance}) {
    INFO("area " << area);
    const AreaCalibration& c = report.areas[area];
    CHECK(c.inferred);
    CHECK(c.precision >= 0.6);
    CHECK(c.recall > 0.5);
    CHECK(c.threshold > 0);
    CHECK(c.threshold <= 1.0001);
  }
  CHECK(report.areas[kHousing].support == 50);
  // An area no example has is never inferred.
  CHECK_FALSE(report.areas[1].inferred);
  CHECK(report.areas[1].support == 0);

  const auto housing = (*classifier)->Infer("vuokra asunto asumistuki koti");
  REQUIRE(housing.size() >= 1);
  CHECK(housing[0].area == kHousing);
  CHECK(housing[0].probability >= report.areas[kHousing].threshold);
  CHECK(housing[0].precision == static_cast<float>(report.areas[kHousing].precision));
  for (const auto& i : (*classifier)->Infer("metsästys kalastus vene kartta")) {
    CHECK(i.area != kHealth);
    CHECK(i.area != kHousing);
  }
  CHECK((*classifier)->Infer("").empty());

  // The same data and options give the same model.
  auto again = LifeAreaClassifier::Train(Examples(), Fast());
  REQUIRE(again.ok());
  CHECK((*again)->Probabilities("velka laina raha") ==
        (*classifier)->Probabilities("velka laina raha"));
  CHECK((*again)->report().areas[kFinance].threshold == report.areas[kFinance].threshold);
}

TEST_CASE("the classifier refuses nothing to train on and too few folds", "[area_classifier]") {
  auto empty = LifeAreaClassifier::Train({}, Fast());
  CHECK(empty.status().code() == absl::StatusCode::kInvalidArgument);
  auto blank = LifeAreaClassifier::Train({{"", {kHealth}}}, Fast());
  CHECK(blank.status().code() == absl::StatusCode::kInvalidArgument);
  ClassifierOptions one = Fast();
  one.folds = 1;
  auto folds = LifeAreaClassifier::Train(Examples(), one);
  CHECK(folds.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(folds.status().message()), Catch::Contains("folds"));
}

dv1::Service Service(int n, const std::string& name, const std::string& summary,
                     std::vector<cv1::LifeArea> hand, bool excluded = false) {
  dv1::Service s;
  s.set_id(absl::StrCat("a0000000-0000-4000-8000-", absl::StrFormat("%012d", n)));
  s.set_kind(dv1::SERVICE_KIND_SERVICE);
  s.mutable_name()->set_fi(name);
  s.mutable_summary()->set_fi(summary);
  s.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
  for (auto a : hand) s.add_life_areas(a);
  s.set_life_situation_excluded(excluded);
  return s;
}

// An index with hand-labelled services of three areas, some marked not for the recommender,
// and unlabelled ones.
void Fill(CatalogueIndex& index) {
  int n = 0;
  const auto name = [](const std::vector<std::string>& words, int i) {
    return words[(i * 7 + 1) % words.size()];
  };
  for (int i = 0; i < 30; ++i) {
    index.Upsert(
        Service(++n, name(kHealthWords, i), Sentence(kHealthWords, i), {cv1::LIFE_AREA_HEALTH}));
    index.Upsert(
        Service(++n, name(kHousingWords, i), Sentence(kHousingWords, i), {cv1::LIFE_AREA_HOUSING}));
    index.Upsert(
        Service(++n, name(kFinanceWords, i), Sentence(kFinanceWords, i), {cv1::LIFE_AREA_FINANCE}));
    index.Upsert(Service(++n, name(kOtherWords, i), Sentence(kOtherWords, i), {},
                         /*excluded=*/true));
  }
}

const dv1::Service kUnlabelledHousing =
    Service(900, "Vuokra", "asunto kerrostalo vuokrasopimus koti asumistuki", {});
// Housing's words, labelled finance by hand.
const dv1::Service kHandFinance = Service(
    901, "Vuokra", "asunto kerrostalo vuokrasopimus koti isännöitsijä", {cv1::LIFE_AREA_FINANCE});

TEST_CASE(
    "services without hand labels get the inferred areas, explained with the confidence; "
    "hand labels win",
    "[area_classifier]") {
  auto catalogue = testing::Empty();
  Fill(*catalogue.index);
  catalogue.index->Upsert(kUnlabelledHousing);
  catalogue.index->Upsert(kHandFinance);
  AreaLabellerOptions options;
  options.classifier = Fast();
  AreaLabeller labeller(catalogue.index.get(), options);

  // Before training: no relevance for the unlabelled service, so the housing need misses it.
  RankRequest r;
  r.meters.add_housing(1);
  r.limit = 200;
  const auto find = [&](const std::string& id) -> const RankedService* {
    static RankResult result;
    result = catalogue.ranker->Rank(r);
    for (const auto& s : result.services) {
      if (s.service->id() == id) return &s;
    }
    return nullptr;
  };
  CHECK(find(kUnlabelledHousing.id()) == nullptr);

  REQUIRE(labeller.TrainNow().ok());
  CHECK(labeller.trainings() == 1);
  REQUIRE(catalogue.index->area_classifier() != nullptr);
  const RankedService* inferred = find(kUnlabelledHousing.id());
  REQUIRE(inferred != nullptr);
  REQUIRE(inferred->explanation.life_areas_size() == 1);
  const auto& match = inferred->explanation.life_areas(0);
  CHECK(match.area() == cv1::LIFE_AREA_HOUSING);
  CHECK(match.source() == rv1::Explanation::LABEL_SOURCE_INFERRED);
  const auto& calibration = catalogue.index->area_classifier()->report().areas[kHousing];
  CHECK(match.confidence() >= calibration.threshold);
  CHECK(match.relevance() == Approx(kMappedConfidence * calibration.precision));
  // The hand-labelled service with the same text keeps its hand label only.
  CHECK(find(kHandFinance.id()) == nullptr);
  r.meters.Clear();
  r.meters.add_finance(1);
  const RankedService* hand = find(kHandFinance.id());
  REQUIRE(hand != nullptr);
  CHECK(hand->explanation.life_areas(0).source() == rv1::Explanation::LABEL_SOURCE_HAND);

  // A service added after training is inferred as it arrives.
  dv1::Service later = kUnlabelledHousing;
  later.set_id("a0000000-0000-4000-8000-000000000902");
  catalogue.index->Upsert(later);
  r.meters.Clear();
  r.meters.add_housing(1);
  const RankedService* arrived = find(later.id());
  REQUIRE(arrived != nullptr);
  CHECK(arrived->explanation.life_areas(0).source() == rv1::Explanation::LABEL_SOURCE_INFERRED);

  // Without a classifier, the mapping alone again.
  catalogue.index->SetAreaClassifier(nullptr);
  CHECK(find(kUnlabelledHousing.id()) == nullptr);
}

TEST_CASE("the labeller trains once the hand labels settle, and again when they change",
          "[area_classifier]") {
  auto catalogue = testing::Empty();
  AreaLabellerOptions options;
  options.classifier = Fast();
  options.poll = absl::Milliseconds(20);
  options.quiet = absl::Milliseconds(100);
  AreaLabeller labeller(catalogue.index.get(), options);
  CHECK(labeller.TrainingDataDigest() == 0);
  CHECK(labeller.TrainNow().code() == absl::StatusCode::kFailedPrecondition);
  labeller.Start();
  Fill(*catalogue.index);
  const uint64_t before = labeller.TrainingDataDigest();
  CHECK(before != 0);
  const auto wait_for = [&](int64_t trainings) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (labeller.trainings() < trainings && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the pace of the poll
    }
    return labeller.trainings();
  };
  CHECK(wait_for(1) == 1);
  // An unlabelled service changes no training data: no retraining.
  catalogue.index->Upsert(kUnlabelledHousing);
  CHECK(labeller.TrainingDataDigest() == before);
  // A new hand label (an import) does.
  catalogue.index->Upsert(kHandFinance);
  CHECK(labeller.TrainingDataDigest() != before);
  CHECK(wait_for(2) == 2);
  labeller.Stop();
}

}  // namespace
}  // namespace aurora::recommender
