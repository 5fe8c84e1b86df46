// The ranking logic over the real demo catalogue: need weighting, eligibility, cross-lingual
// search, explanations that are true, filters, determinism, crisis routing, the relevance cut-off,
// live changes and paging.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "catalogue_fixture.h"

namespace aurora::recommender {
namespace {

using testing::Demo;
namespace rv1 = aurora::recommender::v1;
namespace dv1 = aurora::directory::v1;

RankRequest Meters(std::initializer_list<std::pair<const char*, int>> answers) {
  RankRequest r;
  auto* d = r.meters.GetDescriptor();
  for (const auto& [key, value] : answers) {
    r.meters.GetReflection()->AddInt32(&r.meters, d->FindFieldByName(key), value);
  }
  r.limit = 10;
  return r;
}

RankRequest AllMeters(int value) {
  return Meters({{"health", value},
                 {"resilience", value},
                 {"housing", value},
                 {"working_studying", value},
                 {"family", value},
                 {"friends", value},
                 {"finance", value},
                 {"improvement_of_strengths", value},
                 {"self_esteem", value},
                 {"life_satisfaction", value}});
}

RankRequest Search(const std::string& text, std::optional<Language> language = std::nullopt) {
  RankRequest r;
  r.text = text;
  r.language = language;
  r.search = true;
  r.limit = 10;
  return r;
}

std::vector<std::string> Ids(const RankResult& result) {
  std::vector<std::string> ids;
  for (const auto& s : result.services) ids.push_back(s.service->id());
  return ids;
}

bool HasNoEnglishOrSwedishName(const dv1::Service& s) {
  return s.name().en().empty() && s.name().sv().empty();
}

TEST_CASE("need weighting: all-0 and all-10 answers do not give the same list", "[ranker]") {
  const auto& demo = Demo();
  RankResult zero = demo.ranker->Rank(AllMeters(0));
  RankResult ten = demo.ranker->Rank(AllMeters(10));
  REQUIRE(zero.services.size() == 10);
  // All-10 means no need: nothing is need-driven.
  CHECK(ten.services.empty());
  // A middling answer gives results, but their needs score lower than the same areas at 0.
  RankResult five = demo.ranker->Rank(AllMeters(5));
  REQUIRE_FALSE(five.services.empty());
  auto best_need = [](const RankResult& r) {
    double best = 0;
    for (const auto& s : r.services) best = std::max(best, s.explanation.life_situation_score());
    return best;
  };
  CHECK(best_need(five) < best_need(zero));
}

TEST_CASE("need weighting: a low meter weighs more than a middling one", "[ranker]") {
  const auto& demo = Demo();
  RankResult r = demo.ranker->Rank(Meters({{"housing", 1}, {"health", 6}}));
  REQUIRE(r.services.size() >= 5);
  // The top results serve housing, and housing contributes most to each of them.
  for (size_t i = 0; i < 5; ++i) {
    const auto& e = r.services[i].explanation;
    CAPTURE(r.services[i].service->name().fi());
    const aurora::common::v1::LifeArea top_area =
        std::max_element(e.life_areas().begin(), e.life_areas().end(),
                         [](const auto& a, const auto& b) {
                           return a.contribution() < b.contribution();
                         })
            ->area();
    CHECK(top_area == aurora::common::v1::LIFE_AREA_HOUSING);
  }
  // The explanation says how strongly: need 0.9 for housing.
  bool found = false;
  for (const auto& area : r.services[0].explanation.life_areas()) {
    if (area.area() == aurora::common::v1::LIFE_AREA_HOUSING) {
      found = true;
      CHECK(area.need() == Approx(0.9));
      CHECK(area.relevance() > 0);
    }
  }
  CHECK(found);
}

TEST_CASE("life areas for services without hand labels come from the class mapping", "[ranker]") {
  const auto& demo = Demo();
  // Helsinki's records have no hand labels; day care (P3.4) maps to family.
  RankRequest r = Meters({{"family", 0}});
  r.municipality_code = "091";
  r.limit = 50;
  RankResult result = demo.ranker->Rank(r);
  bool mapped = false;
  for (const auto& s : result.services) {
    for (const auto& area : s.explanation.life_areas()) {
      if (area.source() == rv1::Explanation::LABEL_SOURCE_MAPPED) {
        mapped = true;
        CHECK_FALSE(area.mapped_from().empty());
        CHECK(s.service->life_areas().empty());
      } else {
        CHECK_FALSE(s.service->life_areas().empty());
      }
    }
  }
  CHECK(mapped);
}

TEST_CASE("age eligibility: youth-only services are not shown to a 36-year-old", "[ranker]") {
  const auto& demo = Demo();
  auto youth_only = [](const dv1::Service& s) {
    std::set<std::string> groups(s.target_groups().begin(), s.target_groups().end());
    return groups == std::set<std::string>{"KR1.3"};
  };
  for (bool search : {true, false}) {
    CAPTURE(search);
    RankRequest r = Search("nuoret harrastukset ja työ");
    r.search = search;
    if (!search) r.meters.add_improvement_of_strengths(2);
    r.municipality_code = "091";
    r.limit = 50;
    size_t youth_without_age = 0;
    for (const auto& s : demo.ranker->Rank(r).services) youth_without_age += youth_only(*s.service);
    REQUIRE(youth_without_age > 0);  // the test means something

    r.age = 36;
    RankResult adult = demo.ranker->Rank(r);
    REQUIRE_FALSE(adult.services.empty());
    for (const auto& s : adult.services) {
      CAPTURE(s.service->name().fi());
      CHECK_FALSE(youth_only(*s.service));
      CHECK_FALSE(s.explanation.eligibility().empty());
    }
    r.age = 17;
    size_t youth_for_17 = 0;
    for (const auto& s : demo.ranker->Rank(r).services) {
      if (!youth_only(*s.service)) continue;
      ++youth_for_17;
      CHECK(absl::StrContains(s.explanation.eligibility(0), "age 17 admitted"));
    }
    CHECK(youth_for_17 > 0);
  }
}

TEST_CASE("a known age puts the services aimed at that age group first", "[ranker]") {
  const auto& demo = Demo();
  const double bonus = demo.ranker->parameters().age_group_bonus;
  REQUIRE(bonus > 0);
  auto has_group = [](const dv1::Service& s, const char* group) {
    return std::find(s.target_groups().begin(), s.target_groups().end(), group) !=
           s.target_groups().end();
  };
  auto aimed_at_young = [&](const dv1::Service& s) {
    return has_group(s, "KR1.3") || has_group(s, "KR1.2");
  };
  RankRequest r = Meters({{"health", 2}, {"self_esteem", 3}});
  r.limit = 20;
  std::map<std::string, int> rank_without_age;  // of the services for the young
  for (const auto& s : demo.ranker->Rank(r).services) {
    CHECK(s.explanation.age_group_bonus() == 0);
    if (aimed_at_young(*s.service)) rank_without_age[s.service->id()] = s.rank;
  }
  REQUIRE_FALSE(rank_without_age.empty());  // the test means something
  r.age = 17;
  size_t moved_up = 0;
  for (const auto& s : demo.ranker->Rank(r).services) {
    CAPTURE(s.service->name().fi());
    // The bonus goes to exactly the services for children or young people, and is in the score.
    CHECK(s.explanation.age_group_bonus() == (aimed_at_young(*s.service) ? bonus : 0.0));
    CHECK(s.score == Approx(s.explanation.life_situation_score() +
                            s.explanation.life_event_score() + s.explanation.locality_bonus() +
                            s.explanation.age_group_bonus()));
    auto before = rank_without_age.find(s.service->id());
    if (before == rank_without_age.end()) continue;
    CHECK(s.rank <= before->second);
    moved_up += s.rank < before->second;
  }
  CHECK(moved_up > 0);
  // A 75-year-old gets it for the services for seniors only.
  r.age = 75;
  size_t senior = 0;
  for (const auto& s : demo.ranker->Rank(r).services) {
    CHECK(s.explanation.age_group_bonus() == (has_group(*s.service, "KR1.1") ? bonus : 0.0));
    senior += s.explanation.age_group_bonus() > 0;
  }
  CHECK(senior > 0);
}

TEST_CASE("children's services need a family context for an adult", "[ranker]") {
  const auto& demo = Demo();
  auto children_only = [](const dv1::Service& s) {
    std::set<std::string> groups(s.target_groups().begin(), s.target_groups().end());
    return groups == std::set<std::string>{"KR1.2"};
  };
  RankRequest r = Meters({{"health", 2}, {"resilience", 3}});
  r.age = 36;
  r.limit = 50;
  for (const auto& s : demo.ranker->Rank(r).services) CHECK_FALSE(children_only(*s.service));
  r.life_events = {"KE1"};  // having a child: now they are for this person
  size_t children = 0;
  for (const auto& s : demo.ranker->Rank(r).services) children += children_only(*s.service);
  CHECK(children > 0);
}

TEST_CASE("cross-lingual search finds Finnish-only services", "[ranker]") {
  const auto& demo = Demo();
  struct Case {
    const char* text;
    Language language;
  };
  // Through the code labels ("arbetslöshet" is in the Swedish label of P10) and through the
  // lexicon learnt from the catalogue's parallel texts ("unemployed" - "työtön").
  for (const Case& c : {Case{"unemployed", Language::kEnglish},
                        Case{"debt counselling", Language::kEnglish},
                        Case{"arbetslöshet", Language::kSwedish}}) {
    CAPTURE(c.text);
    RankRequest request = Search(c.text, c.language);
    // Templates have English and Swedish text, so they would fill the list: this is about
    // reaching the services that have none. (Services that have the word in the query's own
    // language come first; for "arbetslöshet" they are more than ten.)
    request.filters.set_general_descriptions(rv1::GENERAL_DESCRIPTIONS_EXCLUDE);
    request.limit = 20;
    RankResult r = demo.ranker->Rank(request);
    size_t finnish_only = 0;
    for (const auto& s : r.services) {
      if (!HasNoEnglishOrSwedishName(*s.service)) continue;
      ++finnish_only;
      // Reached through a code label or a translation, in words that say so.
      bool bridged = false;
      for (const auto& t : s.explanation.terms()) {
        bridged |= !t.via().empty() || t.language() != "fi";
      }
      CHECK(bridged);
    }
    CHECK(finnish_only > 0);
  }
}

TEST_CASE("the dictionary takes a phrase to the Finnish word no parallel text pairs it with",
          "[ranker]") {
  const auto& demo = Demo();
  // No service has "residence permit" beside "oleskelulupa"; FreeDict has the pair, and the
  // phrase wins over its words ("residence" alone would be "asuinpaikka").
  RankRequest request = Search("how to apply for a residence permit", Language::kEnglish);
  request.filters.set_general_descriptions(rv1::GENERAL_DESCRIPTIONS_EXCLUDE);
  auto permits = [](const RankResult& r) {
    std::set<std::string> words;  // query words that reached Finnish-only services as the pair
    for (const auto& s : r.services) {
      if (!HasNoEnglishOrSwedishName(*s.service)) continue;
      for (const auto& t : s.explanation.terms()) {
        if (t.via() == "dictionary" && t.term() == "oleskelulupa") words.insert(t.query_word());
      }
    }
    return words;
  };
  CHECK(permits(demo.ranker->Rank(request)) == std::set<std::string>{"residence", "permit"});
  const Ranker without(demo.index.get());
  CHECK(permits(without.Rank(request)).empty());
  // Swedish too: "våld" -> "väkivalta" reaches the Finnish-only shelter services.
  bool reached = false;
  for (const auto& s : demo.ranker->Rank(Search("våld i hemmet", Language::kSwedish)).services) {
    if (!HasNoEnglishOrSwedishName(*s.service)) continue;
    for (const auto& t : s.explanation.terms()) {
      reached |= t.via() == "dictionary" && t.term() == "väkivalta";
    }
  }
  CHECK(reached);
}

TEST_CASE("a word's translations count as one term: a rare wrong sense does not lead", "[ranker]") {
  const auto& demo = Demo();
  // "apply" translates into "hakea" (apply for) and "soveltaa" (apply a method); the rarer
  // "soveltaa" would have the higher idf and put "Soveltava liikunta" (adapted sports) first
  // if each translation counted on its own.
  auto adapted_sports_in_top = [&](const Ranker& ranker) {
    for (const auto& s :
         ranker.Rank(Search("how do I apply for a pension", Language::kEnglish)).services) {
      if (s.service->name().fi() == "Soveltava liikunta") return true;
    }
    return false;
  };
  // With the dictionary's first three translations, so that "soveltaa" is among them.
  RankingParameters grouped;
  grouped.max_dictionary_terms = 3;
  CHECK_FALSE(adapted_sports_in_top(*demo.ranker));
  CHECK_FALSE(adapted_sports_in_top(Ranker(demo.index.get(), grouped, demo.dictionary.get())));
  RankingParameters alone = grouped;
  alone.structured_translations = false;
  CHECK(adapted_sports_in_top(Ranker(demo.index.get(), alone, demo.dictionary.get())));
}

TEST_CASE("code labels translate a word into the Finnish terms that go with it", "[ranker]") {
  const auto& demo = Demo();
  // "pension" is in the labels of P13 and its subclasses; "eläke" (also as a compound part) in
  // all of them, while words of one subclass's label ("ulkomaalainen", "asuva") are not
  // translations of it.
  RankResult r = demo.ranker->Rank(Search("pension", Language::kEnglish));
  REQUIRE_FALSE(r.services.empty());
  std::set<std::string> label_terms;
  for (const auto& s : r.services) {
    for (const auto& t : s.explanation.terms()) {
      if (absl::StartsWith(t.via(), "P")) label_terms.insert(t.term());
    }
  }
  CHECK(label_terms.contains("eläke"));
  for (const char* unrelated : {"ulkomaalainen", "asuva", "pysyvä", "suomalainen"}) {
    CHECK_FALSE(label_terms.contains(unrelated));
  }
}

TEST_CASE("a Swedish compound the catalogue lacks is split into words it has", "[ranker]") {
  const auto& demo = Demo();
  // No service has "bostadsbidrag"; "bostad" and "bidrag" occur.
  RankResult r = demo.ranker->Rank(Search("bostadsbidrag", Language::kSwedish));
  REQUIRE_FALSE(r.services.empty());
  std::set<std::string> terms;
  for (const auto& s : r.services) {
    for (const auto& t : s.explanation.terms()) {
      CHECK(t.query_word() == "bostadsbidrag");
      if (t.language() == "sv") terms.insert(t.term());
    }
  }
  CHECK(terms.contains("bidrag"));
  // A word the catalogue has stays whole.
  for (const auto& s : demo.ranker->Rank(Search("arbetslöshet", Language::kSwedish)).services) {
    for (const auto& t : s.explanation.terms()) {
      if (t.language() == "sv") CHECK(absl::StartsWith(t.term(), "arbetslös"));
    }
  }
}

// The text of a field of a service in a language, as the index saw it.
std::string FieldText(const dv1::Service& s, rv1::Explanation::Field field, const std::string& lang,
                      const CodeLists& codes) {
  auto in = [&](const aurora::common::v1::LocalizedText& t) {
    return lang == "fi" ? t.fi() : lang == "sv" ? t.sv() : t.en();
  };
  std::string text;
  switch (field) {
    case rv1::Explanation::FIELD_NAME:
      return in(s.name());
    case rv1::Explanation::FIELD_ALTERNATIVE_NAME:
      return in(s.alternative_name());
    case rv1::Explanation::FIELD_SUMMARY:
      return in(s.summary());
    case rv1::Explanation::FIELD_DESCRIPTION:
      return in(s.description());
    case rv1::Explanation::FIELD_KEYWORDS:
      for (const auto& k : s.keywords()) text += k + "\n";
      return text;
    case rv1::Explanation::FIELD_ONTOLOGY_TERMS:
      for (const auto& o : s.ontology_terms()) text += o.fi() + "\n";
      return text;
    case rv1::Explanation::FIELD_CLASSIFICATION:
      for (const auto& c : s.service_classes()) {
        if (auto* e = codes.Find(CodeKind::kServiceClass, c)) text += in(e->name) + "\n";
      }
      for (const auto& c : s.target_groups()) {
        if (auto* e = codes.Find(CodeKind::kTargetGroup, c)) text += in(e->name) + "\n";
      }
      for (const auto& c : s.life_events()) {
        if (auto* e = codes.Find(CodeKind::kLifeEvent, c)) text += in(e->name) + "\n";
      }
      return text;
    default:
      return "";
  }
}

TEST_CASE("explanations are true: every matched term occurs in the fields named", "[ranker]") {
  const auto& demo = Demo();
  size_t checked = 0;
  for (const char* q : {"työttömyysturva", "asumistuki opiskelijalle", "mental health support",
                        "hjälp med skulder", "päivähoito"}) {
    RankResult r = demo.ranker->Rank(Search(q));
    CAPTURE(q);
    REQUIRE_FALSE(r.services.empty());
    for (const auto& s : r.services) {
      REQUIRE_FALSE(s.explanation.terms().empty());
      double sum = 0;
      for (const auto& t : s.explanation.terms()) {
        const Language lang = *ParseLanguage(t.language());
        REQUIRE_FALSE(t.fields().empty());
        for (int f : t.fields()) {
          const std::string text =
              FieldText(*s.service, static_cast<rv1::Explanation::Field>(f), t.language(),
                        *demo.codes);
          std::vector<AnalyzedTerm> terms;
          demo.analyzer->Analyze(text, lang, &terms);
          bool occurs = false;
          for (const auto& a : terms) occurs |= a.term == t.term();
          CAPTURE(t.term(), f, text);
          CHECK(occurs);
          ++checked;
        }
        // The query word is a word of the query.
        CHECK(absl::StrContains(FoldText(q), FoldText(t.query_word())));
        sum += t.contribution();
      }
      CHECK(sum == Approx(1.0));
    }
  }
  CHECK(checked > 20);
}

TEST_CASE("filters: area, service class, target group, funding and organisation admit only what they "
          "say",
          "[ranker]") {
  const auto& demo = Demo();
  RankRequest r = Meters({{"health", 1}, {"finance", 2}});
  r.limit = 50;
  r.filters.mutable_area()->add_municipality_codes("564");
  RankResult oulu = demo.ranker->Rank(r);
  REQUIRE_FALSE(oulu.services.empty());
  size_t local = 0;
  for (const auto& s : oulu.services) {
    const bool national = s.service->area_type() != dv1::AREA_TYPE_LIMITED;
    const bool in_oulu = std::find(s.service->municipality_codes().begin(),
                                   s.service->municipality_codes().end(),
                                   "564") != s.service->municipality_codes().end();
    CHECK((national || in_oulu));
    local += in_oulu;
    CHECK_FALSE(s.explanation.filters().empty());
  }
  CHECK(local > 0);

  r.filters.mutable_area()->set_include_national_services(false);
  for (const auto& s : demo.ranker->Rank(r).services) {
    CHECK(s.service->area_type() == dv1::AREA_TYPE_LIMITED);
  }

  RankRequest c = Meters({{"health", 0}});
  c.limit = 50;
  c.filters.add_service_classes("P5");
  RankResult health = demo.ranker->Rank(c);
  REQUIRE_FALSE(health.services.empty());
  for (const auto& s : health.services) {
    bool under = false;
    for (const auto& cls : s.service->service_classes()) under |= absl::StartsWith(cls, "P5");
    CHECK(under);
    bool explained = false;
    for (const auto& f : s.explanation.filters()) explained |= absl::StartsWith(f, "service class P5");
    CHECK(explained);
  }

  RankRequest w = Meters({{"health", 0}});
  w.limit = 20;
  w.filters.mutable_area()->add_wellbeing_service_county_codes("90");  // Helsinki
  w.filters.mutable_area()->set_include_national_services(false);
  for (const auto& s : demo.ranker->Rank(w).services) {
    CHECK(std::find(s.service->municipality_codes().begin(), s.service->municipality_codes().end(),
                    "091") != s.service->municipality_codes().end());
  }

  // Organisations: only the services of the two named, each explained.
  RankRequest o = Meters({{"health", 1}, {"family", 2}});
  o.limit = 500;
  std::set<std::string> some;
  for (const auto& s : demo.ranker->Rank(o).services) {
    if (!s.service->organization_id().empty() && some.size() < 2) {
      some.insert(s.service->organization_id());
    }
  }
  REQUIRE(some.size() == 2);
  for (const auto& id : some) o.filters.add_organization_ids(id);
  RankResult theirs = demo.ranker->Rank(o);
  REQUIRE_FALSE(theirs.services.empty());
  for (const auto& s : theirs.services) {
    CHECK(some.contains(s.service->organization_id()));
    bool explained = false;
    for (const auto& f : s.explanation.filters()) {
      explained |= f.rfind("organisation " + s.service->organization_id(), 0) == 0;
    }
    CHECK(explained);
  }
  o.filters.clear_organization_ids();
  o.filters.add_organization_ids("0f000000-0000-4000-8000-00000000000f");
  CHECK(demo.ranker->Rank(o).services.empty());
}

TEST_CASE("deterministic: the same request gives the same list, scores and order", "[ranker]") {
  const auto& demo = Demo();
  for (const RankRequest& r : {AllMeters(0), Meters({{"friends", 2}}), Search("kirjasto")}) {
    RankRequest big = r;
    big.limit = 50;
    RankResult a = demo.ranker->Rank(big);
    RankResult b = demo.ranker->Rank(big);
    REQUIRE(Ids(a) == Ids(b));
    for (size_t i = 0; i < a.services.size(); ++i) {
      CHECK(a.services[i].score == b.services[i].score);
      if (i > 0 && a.services[i - 1].explanation.crisis().empty()) {
        // Ordered by score, ties by id (after any crisis services).
        const auto& p = a.services[i - 1];
        const auto& q = a.services[i];
        CHECK((p.score > q.score || (p.score == q.score && p.service->id() < q.service->id())));
      }
    }
  }
}

TEST_CASE("crisis routing puts crisis and emergency services first, with the reason",
          "[ranker]") {
  const auto& demo = Demo();
  for (const char* text : {"minulla on itsemurha-ajatuksia", "I have suicidal thoughts",
                           "väkivalta kotona", "jag har självmordstankar"}) {
    CAPTURE(text);
    RankRequest r;
    r.text = text;
    r.limit = 10;
    RankResult result = demo.ranker->Rank(r);
    CHECK_FALSE(result.crisis.empty());
    REQUIRE(result.services.size() >= 2);
    CHECK_FALSE(result.services[0].explanation.crisis().empty());
    const std::string& name = result.services[0].service->name().fi();
    CAPTURE(name);
    CHECK((absl::StrContains(FoldText(name), "päivystys") ||
           absl::StrContains(FoldText(name), "kriisi") ||
           absl::StrContains(FoldText(name), "turvakoti") ||
           absl::StrContains(FoldText(name), "nollalinja") ||
           absl::StrContains(FoldText(name), "hätä")));
  }
  // Meters alone can signal it too.
  RankResult meters = demo.ranker->Rank(Meters({{"life_satisfaction", 0}, {"resilience", 1}}));
  CHECK_FALSE(meters.crisis.empty());
  REQUIRE_FALSE(meters.services.empty());
  CHECK_FALSE(meters.services[0].explanation.crisis().empty());
  // And an ordinary request does not.
  CHECK(demo.ranker->Rank(Search("kirjasto")).crisis.empty());
  CHECK(demo.ranker->Rank(Search("substance abuse help")).crisis.empty());
}

TEST_CASE("search never pads with unrelated services", "[ranker]") {
  const auto& demo = Demo();
  CHECK(demo.ranker->Rank(Search("xqzvwk blorft")).services.empty());
  RankResult fishing = demo.ranker->Rank(Search("kalastuslupa"));
  REQUIRE_FALSE(fishing.services.empty());
  for (const auto& s : fishing.services) {
    CAPTURE(s.service->name().fi());
    CHECK(s.explanation.text_score() > 0);
    CHECK_FALSE(s.explanation.terms().empty());
  }
  // A long query needs most of its words to match, not one common word.
  RankResult r = demo.ranker->Rank(Search("palvelu kalastuslupa vesialue"));
  for (const auto& s : r.services) {
    std::set<std::string> words;
    for (const auto& t : s.explanation.terms()) words.insert(t.query_word());
    CHECK(words.size() >= 2);
  }
}

TEST_CASE("words that phrase the request do not match", "[ranker]") {
  const auto& demo = Demo();
  // "jäin" (I was left) is also read as "jää" (ice): ice halls must not answer job loss.
  RankResult r = demo.ranker->Rank(Search("jäin työttömäksi", Language::kFinnish));
  REQUIRE_FALSE(r.services.empty());
  for (const auto& s : r.services) {
    CAPTURE(s.service->name().fi());
    for (const auto& t : s.explanation.terms()) CHECK(t.query_word() != "jäin");
  }
  // Only phrasing: nothing to search for.
  CHECK(demo.ranker->Rank(Search("I need help", Language::kEnglish)).services.empty());
  CHECK(demo.ranker->Rank(Search("haluan apua", Language::kFinnish)).services.empty());
}

TEST_CASE("paging continues the list without overlap", "[ranker]") {
  const auto& demo = Demo();
  RankRequest r = AllMeters(3);
  r.limit = 20;
  RankResult all = demo.ranker->Rank(r);
  REQUIRE(all.services.size() == 20);
  CHECK(all.more);
  r.limit = 10;
  RankResult first = demo.ranker->Rank(r);
  r.offset = 10;
  RankResult second = demo.ranker->Rank(r);
  std::vector<std::string> joined = Ids(first);
  for (const auto& id : Ids(second)) joined.push_back(id);
  CHECK(joined == Ids(all));
  CHECK(second.services[0].rank == 11);
}

TEST_CASE("a general description stands in for its service where no one provides it",
          "[ranker]") {
  auto catalogue = testing::Empty();
  dv1::Service gd;
  gd.set_id("9b1c4a1e-2222-4c2b-8d3e-123456789abc");
  gd.set_kind(dv1::SERVICE_KIND_GENERAL_DESCRIPTION);
  gd.mutable_name()->set_fi("Revontulituki");
  gd.mutable_summary()->set_fi("Revontulitukea myönnetään revontulten katseluun.");
  gd.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
  dv1::Service helsinki;
  helsinki.set_id("9b1c4a1e-3333-4c2b-8d3e-123456789abc");
  helsinki.set_kind(dv1::SERVICE_KIND_SERVICE);
  helsinki.mutable_name()->set_fi("Revontulituki Helsingissä");
  helsinki.mutable_summary()->set_fi("Helsinki myöntää revontulitukea.");
  helsinki.set_area_type(dv1::AREA_TYPE_LIMITED);
  helsinki.add_municipality_codes("091");
  helsinki.set_general_description_id(gd.id());
  catalogue.index->Upsert(gd);
  catalogue.index->Upsert(helsinki);

  auto search = [&](const std::string& municipality,
                    rv1::GeneralDescriptions templates = rv1::GENERAL_DESCRIPTIONS_UNSPECIFIED) {
    RankRequest r = Search("revontulituki");
    r.municipality_code = municipality;
    r.filters.set_general_descriptions(templates);
    return catalogue.ranker->Rank(r);
  };
  // In Helsinki the service is provided: the template is not shown.
  CHECK(Ids(search("091")) == std::vector<std::string>{helsinki.id()});
  // Without a municipality the Helsinki service is admitted too.
  CHECK(Ids(search("")) == std::vector<std::string>{helsinki.id()});
  // In Oulu nobody provides it: the template stands in, and says why.
  RankResult oulu = search("564");
  REQUIRE(Ids(oulu) == std::vector<std::string>{gd.id()});
  const auto& filters = oulu.services[0].explanation.filters();
  CHECK(std::any_of(filters.begin(), filters.end(), [](const std::string& f) {
    return absl::StrContains(f, "general description") &&
           absl::StrContains(f, "no service based on it is admitted");
  }));
  // Asked for every template: both in Helsinki. Asked for none: nothing in Oulu.
  CHECK(search("091", rv1::GENERAL_DESCRIPTIONS_INCLUDE).services.size() == 2);
  CHECK(search("564", rv1::GENERAL_DESCRIPTIONS_EXCLUDE).services.empty());
  CHECK(Ids(search("564", rv1::GENERAL_DESCRIPTIONS_STAND_IN)) == std::vector<std::string>{gd.id()});
  // The provider leaves: the template stands in in Helsinki too.
  catalogue.index->Remove(helsinki.id());
  CHECK(Ids(search("091")) == std::vector<std::string>{gd.id()});
}

TEST_CASE("a recommendation without a location prefers services usable anywhere", "[ranker]") {
  auto catalogue = testing::Empty();
  auto make = [](const std::string& id, const std::string& name, bool local) {
    dv1::Service s;
    s.set_id(id);
    s.set_kind(dv1::SERVICE_KIND_SERVICE);
    s.mutable_name()->set_fi(name);
    s.add_life_areas(aurora::common::v1::LIFE_AREA_HEALTH);
    if (local) {
      s.set_area_type(dv1::AREA_TYPE_LIMITED);
      s.add_municipality_codes("564");
    } else {
      s.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
    }
    return s;
  };
  // The local one sorts first by id, so only the locality rule can put the other ahead.
  const dv1::Service oulu = make("1b1c4a1e-0000-4c2b-8d3e-123456789abc", "Terveysneuvonta Oulu", true);
  const dv1::Service everywhere =
      make("9b1c4a1e-0000-4c2b-8d3e-123456789abc", "Terveysneuvonta", false);
  catalogue.index->Upsert(oulu);
  catalogue.index->Upsert(everywhere);

  RankResult unknown = catalogue.ranker->Rank(Meters({{"health", 2}}));
  REQUIRE(Ids(unknown) == std::vector<std::string>{everywhere.id(), oulu.id()});
  CHECK(unknown.services[0].explanation.locality_bonus() > 0);
  CHECK(unknown.services[1].explanation.locality_bonus() == 0);

  // In Oulu the local service is preferred.
  RankRequest in_oulu = Meters({{"health", 2}});
  in_oulu.municipality_code = "564";
  CHECK(Ids(catalogue.ranker->Rank(in_oulu)) == std::vector<std::string>{oulu.id(), everywhere.id()});
  // A search is about its text, not the person: no preference either way (ties by id).
  RankResult searched = catalogue.ranker->Rank(Search("terveysneuvonta"));
  REQUIRE(searched.services.size() == 2);
  CHECK(searched.services[0].explanation.locality_bonus() == 0);
  CHECK(searched.services[1].explanation.locality_bonus() == 0);
}

TEST_CASE("field lengths fit in a byte: exact when short, within 2 % up to 10,000 words",
          "[ranker]") {
  for (uint32_t length = 0; length <= 96; ++length) {
    CHECK(DecodeFieldLength(EncodeFieldLength(length)) == length);
  }
  uint32_t previous = 0;
  for (uint32_t length = 97; length <= 10000; ++length) {
    const uint32_t decoded = DecodeFieldLength(EncodeFieldLength(length));
    CHECK(std::abs(static_cast<double>(decoded) - length) <= 0.02 * length);
    CHECK(decoded >= previous);  // monotone
    previous = decoded;
  }
  CHECK(EncodeFieldLength(65535) == 255);
  CHECK(DecodeFieldLength(255) > 10000);
}

TEST_CASE("live changes: an added service is found, a changed one re-indexed, a removed one gone",
          "[ranker]") {
  auto catalogue = testing::Empty();
  dv1::Service s;
  s.set_id("9b1c4a1e-1111-4c2b-8d3e-123456789abc");
  s.mutable_name()->set_fi("Kuutamokalastuksen neuvonta");
  s.mutable_summary()->set_fi("Neuvontaa kuutamokalastukseen.");
  s.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
  s.set_kind(dv1::SERVICE_KIND_SERVICE);
  catalogue.index->Upsert(s);
  RankResult found = catalogue.ranker->Rank(Search("kuutamokalastus"));
  REQUIRE(found.services.size() == 1);
  CHECK(found.services[0].service->id() == s.id());

  s.mutable_name()->set_fi("Revontulivalokuvauksen neuvonta");
  s.mutable_summary()->set_fi("Neuvontaa revontulten kuvaamiseen.");
  catalogue.index->Upsert(s);
  CHECK(catalogue.ranker->Rank(Search("kuutamokalastus")).services.empty());
  CHECK(catalogue.ranker->Rank(Search("revontulivalokuvaus")).services.size() == 1);
  CHECK(catalogue.index->size() == 1);
  CHECK(catalogue.index->tombstones() == 1);

  catalogue.index->Remove(s.id());
  CHECK(catalogue.ranker->Rank(Search("revontulivalokuvaus")).services.empty());
  CHECK(catalogue.index->size() == 0);
}

TEST_CASE("live changes reach the translation lexicon: a new word pair translates at once",
          "[ranker]") {
  auto catalogue = testing::Empty();
  auto service = [](const std::string& id, const char* fi, const char* en) {
    dv1::Service s;
    s.set_id(id);
    s.mutable_name()->set_fi(fi);
    if (en != nullptr) s.mutable_name()->set_en(en);
    s.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
    s.set_kind(dv1::SERVICE_KIND_SERVICE);
    return s;
  };
  const dv1::Service finnish_only =
      service("9b1c4a1e-2222-4c2b-8d3e-000000000001", "Kalastusluvan neuvonta", nullptr);
  catalogue.index->Upsert(finnish_only);
  // Other services, so that the words are rare enough to translate into (a translation into a
  // term most services have is left out).
  int number = 100;
  for (const char* name : {"Rakennuslupa", "Pysäköintilupa", "Kirjastokortti", "Uimahalli",
                           "Jätehuolto", "Vesihuolto", "Kotihoito", "Neuvola", "Hammashoito",
                           "Kansalaisopisto", "Nuorisotila", "Liikuntaneuvonta"}) {
    catalogue.index->Upsert(
        service("9b1c4a1e-2222-4c2b-8d3e-000000000" + std::to_string(number++), name, nullptr));
  }
  // Whether the English word reaches the Finnish-only service through the lexicon (the code
  // labels may bridge it too: "fishing" is in a service class label).
  auto via_lexicon = [&] {
    RankResult r = catalogue.ranker->Rank(Search("fishing", Language::kEnglish));
    for (const auto& ranked : r.services) {
      if (ranked.service->id() != finnish_only.id()) continue;
      for (const auto& t : ranked.explanation.terms()) {
        if (t.via() == "lexicon") return true;
      }
    }
    return false;
  };
  // No parallel text yet. (Asked twice on this thread, so that any memo is warm.)
  CHECK_FALSE(via_lexicon());
  CHECK_FALSE(via_lexicon());
  // Two services say it in both languages: the lexicon pairs "fishing" with "kalastuslupa",
  // and the same thread's next query uses the pair.
  catalogue.index->Upsert(service("9b1c4a1e-2222-4c2b-8d3e-000000000002", "Kalastuslupa",
                                  "Fishing licence"));
  catalogue.index->Upsert(service("9b1c4a1e-2222-4c2b-8d3e-000000000003",
                                  "Kalastuslupien myynti", "Selling fishing licences"));
  CHECK(via_lexicon());
  // And when they go, so does the pair.
  catalogue.index->Remove("9b1c4a1e-2222-4c2b-8d3e-000000000002");
  catalogue.index->Remove("9b1c4a1e-2222-4c2b-8d3e-000000000003");
  CHECK_FALSE(via_lexicon());
}

}  // namespace
}  // namespace aurora::recommender
