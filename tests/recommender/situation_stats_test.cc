// The situational picture (recommender/situation_stats.h) over a real RocksDB and the official
// code lists: cells, k-anonymity, complete windows only, noise that does not average out, no
// trace of a lone request, persistence and retention.

#include "recommender/situation_stats.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "catalogue_fixture.h"
#include "common/database.h"
#include "common/text.h"
#include "recommender/feedback_store.h"

namespace aurora::recommender {
namespace {

namespace fs = std::filesystem;
namespace rv1 = aurora::recommender::v1;

const absl::Time kMonday = absl::FromUnixSeconds(1800000000 - 1800000000 % 86400);

RankRequest Request(const std::string& municipality, std::optional<int> age, int housing,
                    int finance = -1) {
  RankRequest r;
  r.municipality_code = municipality;
  r.age = age;
  r.meters.add_housing(housing);
  if (finance >= 0) r.meters.add_finance(finance);
  return r;
}

class Fixture {
 public:
  explicit Fixture(SituationOptions options = {})
      : dir_(fs::temp_directory_path() / ("aurora-situation-" + NewRandomUuid())) {
    fs::create_directories(dir_);
    options_ = std::move(options);
    options_.now = [this] { return now; };
    Reopen();
  }
  ~Fixture() {
    stats_.reset();
    database_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    stats_.reset();
    database_.reset();
    auto database = Database::Open(dir_.string(), {kRecommenderColumnFamily});
    REQUIRE(database.ok());
    database_ = *std::move(database);
    auto stats = SituationStats::Open(database_.get(), testing::Demo().codes.get(), options_);
    REQUIRE(stats.ok());
    stats_ = *std::move(stats);
  }
  SituationStats& stats() { return *stats_; }
  rv1::SituationalPicture Picture(int days = 7, std::vector<std::string> counties = {}) {
    auto p = stats_->Query(days, counties);
    REQUIRE(p.ok());
    return *p;
  }

  absl::Time now = kMonday + absl::Hours(10);

 private:
  fs::path dir_;
  SituationOptions options_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<SituationStats> stats_;
};

const rv1::SituationCell* Find(const rv1::SituationalPicture& p, const std::string& county,
                               const std::string& band) {
  for (const auto& c : p.cells()) {
    if (c.wellbeing_service_county_code() == county && c.age_band() == band) return &c;
  }
  return nullptr;
}

TEST_CASE("cells by county and age band; small cells suppressed; only complete windows",
          "[situation]") {
  Fixture f;
  // Helsinki (county 90), 30-64: 12 requests; Oulu (county 17? from the code list), 18-29: 3.
  for (int i = 0; i < 12; ++i) f.stats().Record(Request("091", 40, i % 2 == 0 ? 2 : 8, 5));
  for (int i = 0; i < 3; ++i) f.stats().Record(Request("564", 20, 1));
  RankRequest no_meters;
  no_meters.municipality_code = "091";
  no_meters.text = "asunto";
  f.stats().Record(no_meters);  // not counted: no 3X10D answers

  // The window is still open: nothing is shown.
  CHECK(f.Picture().cells().empty());
  f.now += absl::Hours(24);
  const rv1::SituationalPicture p = f.Picture();
  CHECK(p.k() == 10);
  CHECK(p.epsilon() == 0);
  CHECK(p.window_seconds() == 86400);
  REQUIRE(p.cells_size() == 2);
  const auto* helsinki = Find(p, "90", "30-64");
  REQUIRE(helsinki != nullptr);
  CHECK_FALSE(helsinki->suppressed());
  CHECK(helsinki->requests() == 12);
  CHECK(helsinki->window_start().seconds() == absl::ToUnixSeconds(kMonday));
  CHECK(helsinki->window_end().seconds() == absl::ToUnixSeconds(kMonday) + 86400);
  CHECK_FALSE(helsinki->wellbeing_service_county_name().empty());
  REQUIRE(helsinki->meters_size() == kLifeAreaCount);
  const auto& housing = helsinki->meters(LifeAreaIndex(aurora::common::v1::LIFE_AREA_HOUSING));
  CHECK(housing.answered() == 12);
  CHECK(housing.needs() == 6);  // the answers of 2
  REQUIRE(housing.histogram_size() == 11);
  CHECK(housing.histogram(2) == 6);
  CHECK(housing.histogram(8) == 6);
  CHECK(helsinki->meters(LifeAreaIndex(aurora::common::v1::LIFE_AREA_HEALTH)).answered() == 0);
  // Three requests: suppressed, and nothing of them anywhere.
  const std::string oulu_county =
      testing::Demo().codes->FindMunicipality("564")->wellbeing_county_code;
  const auto* oulu = Find(p, oulu_county, "18-29");
  REQUIRE(oulu != nullptr);
  CHECK(oulu->suppressed());
  CHECK(oulu->requests() == 0);
  CHECK(oulu->meters().empty());
  // A county filter shows the same cells, no more.
  const rv1::SituationalPicture only = f.Picture(7, {"90"});
  REQUIRE(only.cells_size() == 1);
  CHECK(only.cells(0).requests() == 12);
  CHECK(AgeBand(std::nullopt) == "unknown");
  CHECK(AgeBand(17) == "0-17");
  CHECK(AgeBand(65) == "65+");
}

TEST_CASE("a lone request leaves no trace in what is published, also over time", "[situation]") {
  Fixture f;
  for (int i = 0; i < 20; ++i) f.stats().Record(Request("091", 40, 3));
  // The one person of their county and age band.
  f.stats().Record(Request("564", 90, 0));
  f.now += absl::Hours(24);
  const rv1::SituationalPicture before = f.Picture();
  // Later requests go to later windows: a published window never changes.
  for (int i = 0; i < 20; ++i) f.stats().Record(Request("091", 40, 9));
  const rv1::SituationalPicture after = f.Picture();
  CHECK(before.SerializeAsString() == after.SerializeAsString());
  int64_t published = 0;
  for (const auto& c : after.cells()) {
    if (!c.suppressed()) published += c.requests();
    if (c.age_band() == "65+") CHECK(c.suppressed());
  }
  CHECK(published == 20);  // the lone request is in none of the published counts
}

TEST_CASE("noise: Laplace of scale 1/epsilon, the same on every asking", "[situation]") {
  SituationOptions options;
  options.epsilon = 0.5;
  Fixture f(options);
  // 22 counties' worth of cells of 50 requests, over several age bands.
  const std::vector<std::string> municipalities = {"091", "564", "853", "837", "179", "398",
                                                   "167", "743", "405", "609", "286"};
  int cells = 0;
  for (const auto& m : municipalities) {
    for (int age : {10, 20, 40, 70}) {
      for (int i = 0; i < 50; ++i) f.stats().Record(Request(m, age, 5));
      ++cells;
    }
  }
  f.now += absl::Hours(24);
  const rv1::SituationalPicture p = f.Picture();
  CHECK(p.epsilon() == 0.5);
  double deviation = 0;
  int differing = 0, counted = 0;
  for (const auto& c : p.cells()) {
    REQUIRE_FALSE(c.suppressed());
    deviation += std::abs(static_cast<double>(c.requests()) - 50);
    differing += c.requests() != 50 ? 1 : 0;
    ++counted;
  }
  REQUIRE(counted == cells);
  // The mean absolute deviation of Laplace(0, b) is b = 1/epsilon = 2.
  CHECK(deviation / counted == Approx(2.0).margin(0.8));
  CHECK(differing > counted / 2);
  // Asking again gives the same figures: averaging answers learns nothing.
  CHECK(f.Picture().SerializeAsString() == p.SerializeAsString());
}

TEST_CASE("counts survive a reopen; windows past the retention are deleted", "[situation]") {
  SituationOptions options;
  options.retention = absl::Hours(24 * 30);
  Fixture f(options);
  for (int i = 0; i < 15; ++i) f.stats().Record(Request("091", 40, 4));
  REQUIRE(f.stats().Flush().ok());
  f.Reopen();
  f.now += absl::Hours(24);
  const auto* cell = Find(f.Picture(), "90", "30-64");
  REQUIRE(cell != nullptr);
  CHECK(cell->requests() == 15);
  f.now += absl::Hours(24 * 40);
  REQUIRE(f.stats().Flush().ok());
  f.Reopen();
  CHECK(f.Picture(366).cells().empty());
}

}  // namespace
}  // namespace aurora::recommender
