// Service packages (PackageBuilder): the rules on small catalogues made for each rule — one step
// covering two needs, duplicates left out, another organisation preferred, the order of steps,
// uncovered needs and the step limit — and hand-written life situations over the real demo
// catalogue, asserting coverage of every need, the ordering rules and diversity.

#include "recommender/package.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "catalogue_fixture.h"
#include "recommender/life_areas.h"

namespace aurora::recommender {
namespace {

using testing::Demo;
namespace rv1 = aurora::recommender::v1;
namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::common::v1;

void Answer(RankRequest* r, const char* meter, int value) {
  r->meters.GetReflection()->AddInt32(&r->meters, r->meters.GetDescriptor()->FindFieldByName(meter),
                                      value);
}

dv1::Service Make(const std::string& id, const std::string& organization, const std::string& name,
                  std::vector<cv1::LifeArea> areas) {
  dv1::Service s;
  s.set_id(id);
  s.set_organization_id(organization);
  s.set_kind(dv1::SERVICE_KIND_SERVICE);
  s.set_type(dv1::SERVICE_TYPE_SERVICE);
  s.mutable_name()->set_fi(name);
  s.mutable_summary()->set_fi(name);
  s.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
  for (auto a : areas) s.add_life_areas(a);
  return s;
}

constexpr char kOrgA[] = "0a000000-0000-4000-8000-00000000000a";
constexpr char kOrgB[] = "0b000000-0000-4000-8000-00000000000b";
constexpr char kOrgC[] = "0c000000-0000-4000-8000-00000000000c";

const rv1::PackageNeed& NeedOf(const Package& p, const std::string& id) {
  for (const auto& n : p.needs) {
    if (n.id() == id) return n;
  }
  FAIL("no need " << id);
  return p.needs.front();
}

std::vector<std::string> StepIds(const Package& p) {
  std::vector<std::string> ids;
  for (const auto& s : p.steps) ids.push_back(s.ranked.service->id());
  return ids;
}

bool Mentions(const std::vector<std::string>& reasons, const std::string& text) {
  for (const auto& r : reasons) {
    if (absl::StrContains(r, text)) return true;
  }
  return false;
}

// What holds of every package: each need is covered by steps that list it, or says why not;
// each step covers a need; step numbers run 1..n; no two steps do the same thing; the order
// follows the tiers and, within a tier, the need.
void CheckWellFormed(const Package& p, size_t max_steps) {
  INFO("package of " << p.steps.size() << " steps, " << p.needs.size() << " needs");
  CHECK(p.steps.size() <= max_steps);
  std::map<std::string, double> severity;
  std::map<std::string, rv1::PackageNeed::Kind> kind;
  for (const auto& n : p.needs) {
    severity[n.id()] = n.severity();
    kind[n.id()] = n.kind();
    if (n.covered_by().empty()) {
      CHECK_FALSE(n.uncovered_reason().empty());
    } else {
      CHECK(n.uncovered_reason().empty());
    }
    for (int step : n.covered_by()) {
      REQUIRE(step >= 1);
      REQUIRE(static_cast<size_t>(step) <= p.steps.size());
      const auto& ids = p.steps[step - 1].need_ids;
      CHECK(std::find(ids.begin(), ids.end(), n.id()) != ids.end());
    }
  }
  int last_tier = -1;
  double last_severity = 2;
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const PackageStep& s = p.steps[i];
    CHECK(s.ranked.rank == static_cast<int>(i) + 1);
    REQUIRE_FALSE(s.need_ids.empty());
    CHECK_FALSE(s.reasons.empty());
    int tier = 3;
    double most = 0;
    for (const auto& id : s.need_ids) {
      REQUIRE(severity.contains(id));
      most = std::max(most, severity[id]);
      if (kind[id] == rv1::PackageNeed::KIND_CRISIS) tier = 0;
    }
    if (tier != 0 && s.ranked.service->type() == dv1::SERVICE_TYPE_PERMIT_OR_OBLIGATION) tier = 1;
    if (tier == 3) {
      for (const auto& id : s.need_ids) {
        if (kind[id] == rv1::PackageNeed::KIND_LIFE_EVENT) tier = 2;
      }
    }
    INFO("step " << i + 1 << " " << s.ranked.service->name().fi());
    CHECK(tier >= last_tier);
    if (tier == last_tier) CHECK(most <= last_severity);
    last_tier = tier;
    last_severity = most;
    for (size_t j = 0; j < i; ++j) {
      CHECK(PackageBuilder::SameThing(*s.ranked.service, *p.steps[j].ranked.service).empty());
    }
  }
}

TEST_CASE("one step covers every need it serves well; needs come most pressing first",
          "[package]") {
  auto catalogue = testing::Empty();
  // Sorted by id, so the ranker's ties fall to the first.
  catalogue.index->Upsert(Make("10000000-0000-4000-8000-000000000001", kOrgA, "Asumisen tuki",
                               {cv1::LIFE_AREA_HOUSING, cv1::LIFE_AREA_FINANCE}));
  catalogue.index->Upsert(Make("10000000-0000-4000-8000-000000000002", kOrgB, "Vuokra-asunnot",
                               {cv1::LIFE_AREA_HOUSING}));
  catalogue.index->Upsert(Make("10000000-0000-4000-8000-000000000003", kOrgB, "Velkaneuvonta",
                               {cv1::LIFE_AREA_FINANCE}));
  PackageBuilder builder(catalogue.ranker.get(), Demo().codes.get());
  PackageRequest r;
  Answer(&r.base, "finance", 3);  // need 0.7
  Answer(&r.base, "housing", 1);  // need 0.9
  Answer(&r.base, "health", 8);   // need 0.2: not a need
  const Package p = builder.Build(r);
  CheckWellFormed(p, 6);
  REQUIRE(p.needs.size() == 2);
  CHECK(p.needs[0].id() == "life_area:housing");
  CHECK(p.needs[0].severity() == Approx(0.9));
  CHECK(p.needs[0].life_area() == cv1::LIFE_AREA_HOUSING);
  CHECK(p.needs[0].title().en() == "housing");
  CHECK(p.needs[1].id() == "life_area:finance");
  // Housing's best service serves finances as well: one step covers both.
  REQUIRE(StepIds(p) == std::vector<std::string>{"10000000-0000-4000-8000-000000000001"});
  CHECK(p.steps[0].need_ids == std::vector<std::string>{"life_area:housing", "life_area:finance"});
  CHECK(Mentions(p.steps[0].reasons, "best match for housing (asuminen)"));
  CHECK(Mentions(p.steps[0].reasons, "also covers finances (raha-asiat)"));
  CHECK(NeedOf(p, "life_area:finance").covered_by().size() == 1);
}

TEST_CASE(
    "a step that does the same as one chosen is left out; another organisation is "
    "preferred among equals",
    "[package]") {
  auto catalogue = testing::Empty();
  catalogue.index->Upsert(Make("20000000-0000-4000-8000-000000000001", kOrgA, "Asumisneuvonta",
                               {cv1::LIFE_AREA_HOUSING}));
  // Health: A's service first by id, B's equally good: B is taken, the package has A already.
  catalogue.index->Upsert(Make("20000000-0000-4000-8000-000000000002", kOrgA, "Terveysneuvonta",
                               {cv1::LIFE_AREA_HEALTH}));
  catalogue.index->Upsert(Make("20000000-0000-4000-8000-000000000003", kOrgB,
                               "Terveyskeskuksen vastaanotto", {cv1::LIFE_AREA_HEALTH}));
  // Friends: the first is named as the housing step (the same thing), so the second is taken.
  catalogue.index->Upsert(Make("20000000-0000-4000-8000-000000000004", kOrgC, "Asumisneuvonta",
                               {cv1::LIFE_AREA_FRIENDS}));
  catalogue.index->Upsert(Make("20000000-0000-4000-8000-000000000005", kOrgC, "Ystävätoiminta",
                               {cv1::LIFE_AREA_FRIENDS}));
  PackageBuilder builder(catalogue.ranker.get(), Demo().codes.get());
  PackageRequest r;
  Answer(&r.base, "housing", 1);
  Answer(&r.base, "health", 2);
  Answer(&r.base, "friends", 4);
  const Package p = builder.Build(r);
  CheckWellFormed(p, 6);
  CHECK(StepIds(p) == std::vector<std::string>{"20000000-0000-4000-8000-000000000001",
                                               "20000000-0000-4000-8000-000000000003",
                                               "20000000-0000-4000-8000-000000000005"});
  CHECK(Mentions(p.steps[1].reasons, "from an organisation the package does not have yet"));
  CHECK(Mentions(p.steps[2].reasons, "left out as a duplicate: \"Asumisneuvonta\" (the same name"));
  CHECK(PackageBuilder::SameThing(*p.steps[0].ranked.service, *p.steps[2].ranked.service).empty());

  dv1::Service template_service = Make("20000000-0000-4000-8000-0000000000a0", "", "Kotihoito", {});
  dv1::Service based = Make("20000000-0000-4000-8000-0000000000a1", kOrgA, "Kotipalvelu", {});
  based.set_general_description_id(template_service.id());
  dv1::Service other = Make("20000000-0000-4000-8000-0000000000a2", kOrgB, "Kotiapu", {});
  other.set_general_description_id(template_service.id());
  CHECK(PackageBuilder::SameThing(based, template_service) ==
        "one is the general description of the other");
  CHECK(PackageBuilder::SameThing(based, other) == "the same general description");
  CHECK_THAT(PackageBuilder::SameThing(Make("x", kOrgA, "Nuorten työpajat Oulu", {}),
                                       Make("y", kOrgB, "nuorten työpajat, Oulu", {})),
             Catch::Contains("the same name"));
  CHECK(PackageBuilder::SameThing(Make("x", kOrgA, "Nuorten työpajat", {}),
                                  Make("y", kOrgB, "Nuorten neuvonta", {}))
            .empty());
}

TEST_CASE("obligations come before other steps whatever their need; then the greatest need",
          "[package]") {
  auto catalogue = testing::Empty();
  catalogue.index->Upsert(Make("30000000-0000-4000-8000-000000000001", kOrgA, "Asumisneuvonta",
                               {cv1::LIFE_AREA_HOUSING}));
  dv1::Service permit = Make("30000000-0000-4000-8000-000000000002", kOrgB,
                             "Toimeentulotuen hakeminen", {cv1::LIFE_AREA_FINANCE});
  permit.set_type(dv1::SERVICE_TYPE_PERMIT_OR_OBLIGATION);
  catalogue.index->Upsert(permit);
  catalogue.index->Upsert(Make("30000000-0000-4000-8000-000000000003", kOrgC, "Terveysneuvonta",
                               {cv1::LIFE_AREA_HEALTH}));
  PackageBuilder builder(catalogue.ranker.get(), Demo().codes.get());
  PackageRequest r;
  Answer(&r.base, "housing", 0);  // 1.0
  Answer(&r.base, "health", 3);   // 0.7
  Answer(&r.base, "finance", 5);  // 0.5
  const Package p = builder.Build(r);
  CheckWellFormed(p, 6);
  CHECK(StepIds(p) == std::vector<std::string>{"30000000-0000-4000-8000-000000000002",
                                               "30000000-0000-4000-8000-000000000001",
                                               "30000000-0000-4000-8000-000000000003"});
  CHECK(Mentions(p.steps[0].reasons, "an obligation or permit, which has deadlines"));
  CHECK(Mentions(p.steps[1].reasons, "in order of need"));
}

TEST_CASE("needs no service covers say why; the step limit leaves the rest uncovered",
          "[package]") {
  auto catalogue = testing::Empty();
  dv1::Service helsinki = Make("40000000-0000-4000-8000-000000000001", kOrgA, "Itsetuntoryhmä",
                               {cv1::LIFE_AREA_SELF_ESTEEM});
  helsinki.set_area_type(dv1::AREA_TYPE_LIMITED);
  helsinki.add_municipality_codes("091");
  catalogue.index->Upsert(helsinki);
  catalogue.index->Upsert(Make("40000000-0000-4000-8000-000000000002", kOrgA, "Asumisneuvonta",
                               {cv1::LIFE_AREA_HOUSING}));
  catalogue.index->Upsert(Make("40000000-0000-4000-8000-000000000003", kOrgB, "Talousneuvonta",
                               {cv1::LIFE_AREA_FINANCE}));
  PackageBuilder builder(catalogue.ranker.get(), Demo().codes.get());
  PackageRequest r;
  Answer(&r.base, "self_esteem", 1);
  Answer(&r.base, "housing", 2);
  Answer(&r.base, "finance", 3);
  r.base.municipality_code = "564";
  Package p = builder.Build(r);
  CheckWellFormed(p, 6);
  CHECK(NeedOf(p, "life_area:self_esteem").covered_by().empty());
  CHECK(NeedOf(p, "life_area:self_esteem").uncovered_reason() ==
        "no service available in 564 Oulu or nationwide serves self-esteem (itsetunto)");
  CHECK(p.steps.size() == 2);
  // In Helsinki the group is there.
  r.base.municipality_code = "091";
  CHECK(builder.Build(r).steps.size() == 3);
  // With filters that admit nothing, the reason says so.
  r.base.filters.add_organization_ids(kOrgC);
  p = builder.Build(r);
  CHECK(p.steps.empty());
  CHECK(NeedOf(p, "life_area:housing").uncovered_reason() ==
        "no service available in 091 Helsinki or nationwide under the given filters serves "
        "housing (asuminen)");
  r.base.filters.Clear();
  // At most one step: the most pressing need gets it.
  r.max_steps = 1;
  p = builder.Build(r);
  CheckWellFormed(p, 1);
  REQUIRE(p.steps.size() == 1);
  CHECK(p.steps[0].need_ids == std::vector<std::string>{"life_area:self_esteem"});
  CHECK(NeedOf(p, "life_area:finance").uncovered_reason() ==
        "left out: the package already has its 1 steps (max_steps)");
}

// --- Life situations over the real demo catalogue ------------------------------------------

// Every step is available where the person lives (or nationwide).
void CheckAvailableIn(const Package& p, const std::string& municipality) {
  for (const auto& s : p.steps) {
    INFO(s.ranked.service->name().fi());
    const auto& service = *s.ranked.service;
    const bool nationwide = service.area_type() == dv1::AREA_TYPE_NATIONWIDE ||
                            service.area_type() == dv1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS;
    const bool local =
        std::find(service.municipality_codes().begin(), service.municipality_codes().end(),
                  municipality) != service.municipality_codes().end();
    CHECK((nationwide || local || service.kind() == dv1::SERVICE_KIND_GENERAL_DESCRIPTION));
  }
}

// A step covering a life-area need serves that area (by its labels or its classification).
void CheckAreaSteps(const Package& p) {
  for (const auto& n : p.needs) {
    if (n.kind() != rv1::PackageNeed::KIND_LIFE_AREA) continue;
    for (int step : n.covered_by()) {
      const auto& service = *p.steps[step - 1].ranked.service;
      INFO(n.id() << " by " << service.name().fi());
      CHECK(ProfileOf(service).relevance[LifeAreaIndex(n.life_area())] > 0);
    }
  }
}

TEST_CASE("a student moving to Turku: both life events and every area with a need covered",
          "[package][demo]") {
  PackageBuilder builder(Demo().ranker.get(), Demo().codes.get());
  PackageRequest r;
  r.base.age = 20;
  r.base.municipality_code = "853";
  r.base.life_events = {"KE4", "KE3"};  // moving; beginning full-time studies
  Answer(&r.base, "housing", 3);
  Answer(&r.base, "finance", 2);
  Answer(&r.base, "friends", 4);
  Answer(&r.base, "health", 8);
  const Package p = builder.Build(r);
  CheckWellFormed(p, 6);
  CheckAvailableIn(p, "853");
  CheckAreaSteps(p);
  std::vector<std::string> needs;
  for (const auto& n : p.needs) needs.push_back(n.id());
  CHECK(needs == std::vector<std::string>{"life_event:KE4", "life_event:KE3", "life_area:finance",
                                          "life_area:housing", "life_area:friends"});
  CHECK(p.needs[0].title().en() == "Moving");
  for (const auto& n : p.needs) {
    INFO(n.id());
    CHECK_FALSE(n.covered_by().empty());
  }
  CHECK(p.crisis.empty());
  // The life events' steps come before the others.
  CHECK(Mentions(p.steps.front().reasons, "a step of the life event"));
  // Deterministic.
  CHECK(StepIds(builder.Build(r)) == StepIds(p));
}

TEST_CASE(
    "a parent in Oulu who lost their job: the job loss, money, work, family and what they "
    "wrote",
    "[package][demo]") {
  PackageBuilder builder(Demo().ranker.get(), Demo().codes.get());
  PackageRequest r;
  r.base.age = 38;
  r.base.municipality_code = "564";
  r.base.life_events = {"KE8"};  // losing a job
  r.base.text = "menetin työpaikkani ja lapset tarvitsevat päivähoitoa";
  Answer(&r.base, "finance", 1);
  Answer(&r.base, "working_studying", 2);
  Answer(&r.base, "family", 4);
  const Package p = builder.Build(r);
  CheckWellFormed(p, 6);
  CheckAvailableIn(p, "564");
  CheckAreaSteps(p);
  std::vector<std::string> needs;
  for (const auto& n : p.needs) needs.push_back(n.id());
  CHECK(needs == std::vector<std::string>{"life_event:KE8", "life_area:finance",
                                          "life_area:working_studying", "life_area:family",
                                          "text"});
  for (const auto& n : p.needs) {
    INFO(n.id());
    CHECK_FALSE(n.covered_by().empty());
  }
  // The job loss is covered by a service PTV tags with it.
  const auto& job = p.steps[NeedOf(p, "life_event:KE8").covered_by(0) - 1];
  CHECK(std::find(job.ranked.service->life_events().begin(),
                  job.ranked.service->life_events().end(),
                  "KE8") != job.ranked.service->life_events().end());
  // Day care, which the text asks for, is in the package.
  bool day_care = false;
  for (const auto& s : p.steps)
    day_care |= absl::StrContains(s.ranked.service->name().fi(), "hoito");
  CHECK(day_care);
  CHECK(p.steps.size() >= 3);
}

TEST_CASE("a crisis puts its contacts first as a need of its own", "[package][demo]") {
  PackageBuilder builder(Demo().ranker.get(), Demo().codes.get());
  PackageRequest r;
  r.base.municipality_code = "091";
  r.base.text = "en jaksa enää, haluan tappaa itseni";
  Answer(&r.base, "life_satisfaction", 0);
  Answer(&r.base, "resilience", 1);
  const Package p = builder.Build(r);
  CheckWellFormed(p, 6);
  CHECK_FALSE(p.crisis.empty());
  REQUIRE_FALSE(p.needs.empty());
  CHECK(p.needs[0].id() == "crisis");
  CHECK(p.needs[0].severity() == 1.0);
  CHECK(p.needs[0].covered_by().size() == 1);
  CHECK(p.needs[0].covered_by(0) == 1);
  REQUIRE_FALSE(p.steps.empty());
  CHECK_FALSE(p.steps[0].ranked.explanation.crisis().empty());
  CHECK(Mentions(p.steps[0].reasons, "crisis and emergency contacts come before everything else"));
}

}  // namespace
}  // namespace aurora::recommender
