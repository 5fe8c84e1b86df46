#include "recommender/package.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "recommender/life_areas.h"

namespace aurora::recommender {
namespace {

namespace rv1 = aurora::recommender::v1;
namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::common::v1;

constexpr double kCrisisSeverity = 1.0;
constexpr double kLifeEventSeverity = 0.8;
constexpr double kTextSeverity = 0.7;
// A service serving an event's life area this strongly stands in for one tagged with the event.
constexpr double kEventAreaRelevance = 0.5;

// "housing (asuminen)": the English name, and the Finnish one where it differs.
std::string Title(const cv1::LocalizedText& text) {
  if (text.en().empty()) return text.fi();
  if (text.fi().empty() || text.fi() == text.en()) return text.en();
  return absl::StrCat(text.en(), " (", text.fi(), ")");
}

// " in 564 Oulu or nationwide", or "" without a municipality.
std::string Where(const RankRequest& request, const CodeLists& codes) {
  if (request.municipality_code.empty()) return "";
  const Municipality* m = codes.FindMunicipality(request.municipality_code);
  return absl::StrCat(" in ", request.municipality_code, m != nullptr ? " " : "",
                      m != nullptr ? m->name.fi() : "", " or nationwide");
}

bool HasFilters(const rv1::ServiceFilters& f) {
  return f.has_area() || !f.service_classes().empty() || !f.target_groups().empty() ||
         !f.life_events().empty() || !f.funding_types().empty() || !f.organization_ids().empty();
}

// Lower-case words of a name (ASCII letters folded; other bytes, such as ä, kept).
std::vector<std::string> Words(const std::string& name) {
  std::vector<std::string> words;
  std::string word;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u)) {
      word.push_back(static_cast<char>(std::tolower(u)));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

struct Candidate {
  const RankedService* ranked;
  std::string via;  // how it serves the need, for the step's reasons
};

struct NeedWork {
  rv1::PackageNeed need;
  std::shared_ptr<const RankResult> result;  // owns what the candidates point to
  std::vector<Candidate> candidates;         // best first
};

int Tier(const PackageStep& step, const std::vector<NeedWork>& work,
         const std::vector<size_t>& need_indexes) {
  for (size_t i : need_indexes) {
    if (work[i].need.kind() == rv1::PackageNeed::KIND_CRISIS) return 0;
  }
  if (step.ranked.service->type() == dv1::SERVICE_TYPE_PERMIT_OR_OBLIGATION) return 1;
  for (size_t i : need_indexes) {
    if (work[i].need.kind() == rv1::PackageNeed::KIND_LIFE_EVENT) return 2;
  }
  return 3;
}

constexpr const char* kTierReasons[] = {
    "first: crisis and emergency contacts come before everything else",
    "early: an obligation or permit, which has deadlines",
    "early: a step of the life event",
    "in order of need",
};

}  // namespace

PackageBuilder::PackageBuilder(const Ranker* ranker, const CodeLists* codes,
                               PackageParameters parameters)
    : ranker_(ranker), codes_(codes), parameters_(parameters) {}

std::string PackageBuilder::SameThing(const dv1::Service& a, const dv1::Service& b) {
  if (a.id() == b.id()) return "the same service";
  if (!a.general_description_id().empty() &&
      a.general_description_id() == b.general_description_id()) {
    return "the same general description";
  }
  if (a.general_description_id() == b.id() || b.general_description_id() == a.id()) {
    return "one is the general description of the other";
  }
  const std::pair<const std::string*, const std::string*> names[] = {
      {&a.name().fi(), &b.name().fi()},
      {&a.name().sv(), &b.name().sv()},
      {&a.name().en(), &b.name().en()}};
  for (const auto& [x, y] : names) {
    if (x->empty() || y->empty()) continue;
    const std::vector<std::string> wx = Words(*x), wy = Words(*y);
    if (wx == wy) return absl::StrCat("the same name \"", *x, "\"");
    const std::set<std::string> sx(wx.begin(), wx.end()), sy(wy.begin(), wy.end());
    if (sx.size() < 2 || sy.size() < 2) continue;
    size_t shared = 0;
    for (const auto& w : sx) shared += sy.count(w);
    const double jaccard =
        static_cast<double>(shared) / static_cast<double>(sx.size() + sy.size() - shared);
    if (jaccard >= 0.6) {
      return absl::StrCat("names of mostly the same words (\"", *x, "\", \"", *y, "\")");
    }
  }
  return "";
}

Package PackageBuilder::Build(const PackageRequest& request) const {
  const PackageParameters& p = parameters_;
  const size_t max_steps =
      std::min(request.max_steps == 0 ? p.default_steps : request.max_steps, p.max_steps);
  const std::string where = Where(request.base, *codes_);
  Package out;

  // The request for one need: the person's context, narrowed as `shape` says.
  RankRequest context = request.base;
  context.search = false;
  context.offset = 0;
  context.limit = p.candidates_per_need * 3;

  // --- 1. Needs, most pressing first, each with its candidates.
  std::vector<NeedWork> work;
  const CrisisSignal crisis = ranker_->DetectCrisis(request.base);
  if (crisis.kinds != 0) {
    NeedWork w;
    w.need.set_id("crisis");
    w.need.set_kind(rv1::PackageNeed::KIND_CRISIS);
    w.need.mutable_title()->set_fi("kriisi");
    w.need.mutable_title()->set_sv("kris");
    w.need.mutable_title()->set_en("crisis");
    w.need.set_severity(kCrisisSeverity);
    w.result = std::make_shared<RankResult>(ranker_->Rank(context));
    out.crisis = w.result->crisis;
    for (const auto& r : w.result->services) {
      if (!r.explanation.crisis().empty()) {
        w.candidates.push_back(
            {&r, absl::StrCat("is a crisis contact (", r.explanation.crisis(), ")")});
      }
    }
    work.push_back(std::move(w));
  }
  std::set<std::string> seen_events;
  for (const std::string& event : request.base.life_events) {
    if (!seen_events.insert(event).second) continue;
    NeedWork w;
    w.need.set_id(absl::StrCat("life_event:", event));
    w.need.set_kind(rv1::PackageNeed::KIND_LIFE_EVENT);
    w.need.set_life_event(event);
    if (const HierarchicalCode* code = codes_->Find(CodeKind::kLifeEvent, event)) {
      *w.need.mutable_title() = code->name;
    }
    w.need.set_severity(kLifeEventSeverity);
    RankRequest r = context;
    r.meters.Clear();
    r.life_events = {event};
    // The event's name finds the services about it (few carry the event's tag).
    r.text = w.need.title().fi();
    r.language = Language::kFinnish;
    w.result = std::make_shared<RankResult>(ranker_->Rank(r));
    // Services tagged with the event first (PTV's own judgement), then those whose texts are
    // about it.
    for (const auto& ranked : w.result->services) {
      if (!ranked.explanation.life_events().empty()) {
        w.candidates.push_back({&ranked, absl::StrCat("is tagged with ", Title(w.need.title()))});
      }
    }
    for (const auto& ranked : w.result->services) {
      if (ranked.explanation.life_events().empty() && !ranked.explanation.terms().empty() &&
          ranked.explanation.crisis().empty()) {
        w.candidates.push_back(
            {&ranked, absl::StrCat("is about ", Title(w.need.title()), " (its texts)")});
      }
    }
    if (w.candidates.empty()) {
      // Few services carry life-event tags: one that serves the event's life areas stands in.
      const auto areas = AreasOfLifeEvent(event);
      for (const auto& ranked : w.result->services) {
        for (const auto& match : ranked.explanation.life_areas()) {
          const int index = LifeAreaIndex(match.area());
          const bool of_event = std::any_of(areas.begin(), areas.end(),
                                            [&](const auto& a) { return a.first == index; });
          if (of_event && match.relevance() >= kEventAreaRelevance) {
            w.candidates.push_back(
                {&ranked, absl::StrCat("serves ", Title(LifeAreaName(index)), ", which ",
                                       Title(w.need.title()), " concerns")});
            break;
          }
        }
      }
    }
    work.push_back(std::move(w));
  }
  std::vector<std::pair<double, int>> areas;  // (need, index)
  for (int i = 0; i < kLifeAreaCount; ++i) {
    const auto& answers = MeterAnswers(request.base.meters, i);
    if (answers.empty()) continue;
    double sum = 0;
    for (int a : answers) sum += a;
    const double need = 1.0 - sum / static_cast<double>(answers.size()) / 10.0;
    if (need >= p.min_area_need) areas.push_back({need, i});
  }
  std::stable_sort(areas.begin(), areas.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  // One ranking of the whole situation: among the services serving an area, the ones that fit
  // the whole situation best come first (one serving several of the person's needs ranks above
  // one serving only this one). An area with none there gets a ranking of its own.
  std::shared_ptr<const RankResult> whole;
  if (!areas.empty()) {
    RankRequest r = context;
    r.limit = p.whole_situation_candidates;
    whole = std::make_shared<RankResult>(ranker_->Rank(r));
  }
  const auto serving = [](const RankResult& result, int index, std::vector<Candidate>* out) {
    for (const auto& ranked : result.services) {
      if (!ranked.explanation.crisis().empty()) continue;
      for (const auto& match : ranked.explanation.life_areas()) {
        if (LifeAreaIndex(match.area()) == index && match.relevance() > 0) {
          out->push_back(
              {&ranked, absl::StrCat("serves ", Title(LifeAreaName(index)),
                                     match.source() == rv1::Explanation::LABEL_SOURCE_HAND
                                         ? " (hand label)"
                                         : " (from its classification)")});
          break;
        }
      }
    }
  };
  for (const auto& [need, index] : areas) {
    NeedWork w;
    w.need.set_id(absl::StrCat("life_area:", std::string(LifeAreaKey(index))));
    w.need.set_kind(rv1::PackageNeed::KIND_LIFE_AREA);
    w.need.set_life_area(LifeAreaAt(index));
    *w.need.mutable_title() = LifeAreaName(index);
    w.need.set_severity(need);
    w.result = whole;
    serving(*whole, index, &w.candidates);
    if (w.candidates.empty()) {
      RankRequest r = context;
      r.meters.Clear();
      const auto* field =
          r.meters.GetDescriptor()->FindFieldByName(std::string(LifeAreaKey(index)));
      for (int a : MeterAnswers(request.base.meters, index)) {
        r.meters.GetReflection()->AddInt32(&r.meters, field, a);
      }
      w.result = std::make_shared<RankResult>(ranker_->Rank(r));
      serving(*w.result, index, &w.candidates);
    }
    work.push_back(std::move(w));
  }
  if (!request.base.text.empty()) {
    NeedWork w;
    w.need.set_id("text");
    w.need.set_kind(rv1::PackageNeed::KIND_TEXT);
    w.need.mutable_title()->set_fi(request.base.text);
    w.need.mutable_title()->set_sv(request.base.text);
    w.need.mutable_title()->set_en(request.base.text);
    w.need.set_severity(kTextSeverity);
    RankRequest r = context;
    r.meters.Clear();
    r.life_events.clear();
    r.search = true;
    w.result = std::make_shared<RankResult>(ranker_->Rank(r));
    for (const auto& ranked : w.result->services) {
      // A crisis the text signals is what the text is about: the crisis contacts answer it.
      if (!ranked.explanation.crisis().empty()) {
        w.candidates.push_back({&ranked, "answers the crisis in what you wrote"});
      } else if (!ranked.explanation.terms().empty()) {
        w.candidates.push_back({&ranked, "matches what you wrote"});
      }
    }
    work.push_back(std::move(w));
  }
  for (auto& w : work) {
    if (w.candidates.size() > p.candidates_per_need) w.candidates.resize(p.candidates_per_need);
    out.revision = std::max(out.revision, w.result->revision);
  }

  // --- 2. Selection, need by need.
  struct Chosen {
    PackageStep step;
    std::vector<size_t> needs;  // indexes into `work`
  };
  std::vector<Chosen> chosen;
  absl::flat_hash_set<std::string> organizations;
  for (size_t n = 0; n < work.size(); ++n) {
    NeedWork& w = work[n];
    const std::string title = Title(w.need.title());
    const std::string quoted =
        w.need.kind() == rv1::PackageNeed::KIND_TEXT ? absl::StrCat("\"", title, "\"") : title;
    if (w.candidates.empty()) {
      w.need.set_uncovered_reason(absl::StrCat(
          "no service available", where.empty() ? "" : where,
          HasFilters(request.base.filters) ? " under the given filters" : "",
          w.need.kind() == rv1::PackageNeed::KIND_TEXT ? " matches " : " serves ", quoted));
      continue;
    }
    const double best = w.candidates.front().ranked->score;
    bool covered = false;
    for (auto& c : chosen) {
      for (const auto& candidate : w.candidates) {
        if (candidate.ranked->service->id() != c.step.ranked.service->id()) continue;
        if (candidate.ranked->score >= p.cover_share * best) {
          c.needs.push_back(n);
          c.step.reasons.push_back(
              absl::StrCat("also covers ", quoted, ": it ", candidate.via,
                           best > 0 ? absl::StrFormat(" (%.0f %% of the best match's score)",
                                                      100.0 * candidate.ranked->score / best)
                                    : ""));
          covered = true;
        }
        break;
      }
      if (covered) break;
    }
    if (covered) continue;
    if (chosen.size() >= max_steps) {
      w.need.set_uncovered_reason(
          absl::StrCat("left out: the package already has its ", max_steps, " steps (max_steps)"));
      continue;
    }
    std::vector<const Candidate*> eligible;
    std::string duplicate;
    for (const auto& candidate : w.candidates) {
      std::string same;
      for (const auto& c : chosen) {
        // A step already chosen that does not cover this need well enough is not offered again.
        if (candidate.ranked->service->id() == c.step.ranked.service->id()) {
          same = "chosen";
          break;
        }
        same = SameThing(*candidate.ranked->service, *c.step.ranked.service);
        if (!same.empty()) {
          if (duplicate.empty()) {
            duplicate = absl::StrCat("\"", candidate.ranked->service->name().fi(), "\" (", same,
                                     " as a step already chosen)");
          }
          break;
        }
      }
      if (same.empty()) eligible.push_back(&candidate);
    }
    if (eligible.empty()) {
      // Every candidate is a step already chosen (or does the same as one): the best of those
      // steps covers this need too, although less well than the need's best match.
      const Candidate& first = w.candidates.front();
      for (auto& c : chosen) {
        if (first.ranked->service->id() == c.step.ranked.service->id() ||
            !SameThing(*first.ranked->service, *c.step.ranked.service).empty()) {
          c.needs.push_back(n);
          c.step.reasons.push_back(
              absl::StrCat("also covers ", quoted, ": it ", first.via,
                           first.ranked->service->id() == c.step.ranked.service->id()
                               ? ""
                               : absl::StrCat(" (through ", duplicate, ")"),
                           "; no other service serves it"));
          break;
        }
      }
      continue;
    }
    const Candidate* pick = eligible.front();
    std::string why = absl::StrCat("best match for ", quoted, where, ": it ", pick->via);
    const std::string& first_org = pick->ranked->service->organization_id();
    if (!first_org.empty() && organizations.contains(first_org)) {
      for (const Candidate* other : eligible) {
        const std::string& org = other->ranked->service->organization_id();
        if (other->ranked->score < p.diversity_share * pick->ranked->score) continue;
        if (!org.empty() && !organizations.contains(org)) {
          why = absl::StrCat(
              "for ", quoted, where, ": it ", other->via,
              absl::StrFormat("; from an organisation the package does not have yet, with "
                              "%.0f %% of the best match's score",
                              100.0 * other->ranked->score / std::max(pick->ranked->score, 1e-9)));
          pick = other;
          break;
        }
      }
    }
    if (!duplicate.empty()) {
      absl::StrAppend(&why, "; left out as a duplicate: ", duplicate);
    }
    Chosen c;
    c.step.ranked = *pick->ranked;
    c.step.reasons.push_back(std::move(why));
    c.needs.push_back(n);
    if (!c.step.ranked.service->organization_id().empty()) {
      organizations.insert(c.step.ranked.service->organization_id());
    }
    chosen.push_back(std::move(c));
  }

  // --- 3. Order.
  std::vector<std::tuple<int, double, double, std::string, size_t>> keys;
  for (size_t i = 0; i < chosen.size(); ++i) {
    double severity = 0;
    for (size_t n : chosen[i].needs) severity = std::max(severity, work[n].need.severity());
    keys.emplace_back(Tier(chosen[i].step, work, chosen[i].needs), -severity,
                      -chosen[i].step.ranked.score, chosen[i].step.ranked.service->id(), i);
  }
  std::sort(keys.begin(), keys.end());
  for (size_t position = 0; position < keys.size(); ++position) {
    Chosen& c = chosen[std::get<4>(keys[position])];
    c.step.ranked.rank = static_cast<int>(position) + 1;
    c.step.reasons.push_back(kTierReasons[std::get<0>(keys[position])]);
    std::sort(c.needs.begin(), c.needs.end());
    for (size_t n : c.needs) {
      c.step.need_ids.push_back(work[n].need.id());
      work[n].need.add_covered_by(static_cast<int>(position) + 1);
    }
    out.steps.push_back(std::move(c.step));
  }
  for (auto& w : work) out.needs.push_back(std::move(w.need));
  return out;
}

}  // namespace aurora::recommender
