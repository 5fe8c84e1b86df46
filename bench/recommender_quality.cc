// recommender_quality: how good the recommendations are, on a judged query set.
//
// Reads the judged queries of bench/quality/queries.json (described in bench/quality/README.md)
// and the demo catalogue (services.ndjson), builds the recommender's CatalogueIndex in-process
// exactly as the node does, and asks every query of
//   * "aurora": the Ranker with the default RankingParameters (meters, text, age, municipality);
//   * "plain BM25": a second Ranker over the same index with parameters approximating plain
//     BM25: every field weight 1, every field b 0.75, no compound-part or translation terms
//     (weight 1e-6, see below), no crisis placement, no locality bonus; a "recommend" query gives
//     it only its text and filters, not the meters (no text: no results, counted as 0);
//   * "cosine": for "recommend" queries, the original AuroraAI's cosine between the answered
//     meters' needs (1 - mean/10.1) and the services' hand labels restricted to those meters
//     (services without such labels are invisible).
// It prints recall@10 and nDCG@10 (gains 2^grade - 1, log2(rank + 1) discount, ideal from the
// judged grades) per kind x language and overall, with --verbose a line per query, and the
// failure analysis of the worst queries of "aurora": which judged services were missed, why (as
// far as the index can tell: filtered out, ranked below 10, cut by a floor, too few query words,
// no text in the query's language, no query word at all, no need relevance), and what came
// instead. --experiments reruns "aurora" with single parameters changed; --pool lists the
// unjudged results to judge next. Not a test: the exit status is 0 unless the benchmark could not
// run. How to run it and the last figures: bench/README.md.

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "aurora/common/v1/common.pb.h"
#include "common/codelists.h"
#include "directory/catalogue_format.h"
#include "nlohmann/json.hpp"
#include "recommender/area_labeller.h"
#include "recommender/catalogue_index.h"
#include "recommender/crisis.h"
#include "recommender/life_areas.h"
#include "recommender/ranker.h"
#include "recommender/text_analyzer.h"

#ifndef AURORA_DATA_DIR
#define AURORA_DATA_DIR "../shared/data"
#endif
#ifndef AURORA_QUALITY_DIR
#define AURORA_QUALITY_DIR "bench/quality"
#endif

namespace aurora::bench {
namespace {

namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::common::v1;
using recommender::CatalogueIndex;
using recommender::Language;
using recommender::RankingParameters;
using recommender::RankRequest;
using recommender::Ranker;
using json = nlohmann::json;

constexpr size_t kCutoff = 10;            // recall@10, nDCG@10
constexpr double kTargetRecall = 0.8;     // "aurora", mean over all queries
constexpr size_t kDeepLimit = 500;        // ranks looked at when explaining a miss (max_results)

constexpr char kUsage[] =
    "Usage: recommender_quality [--verbose] [--worst N] [--queries FILE] [--source-dir DIR]\n"
    "         [--general-descriptions] [--national-without-municipality] [--experiments]\n"
    "         [--pool] [--area-classifier]\n"
    "  --verbose          also one line per query and system\n"
    "  --worst N          failure analysis of the N queries with the lowest recall@10 of\n"
    "                     \"aurora\" (default 10; 0: none)\n"
    "  --queries FILE     the judged queries (default " AURORA_QUALITY_DIR "/queries.json)\n"
    "  --source-dir DIR   folder with services.ndjson and codelists/\n"
    "                     (default " AURORA_DATA_DIR ")\n"
    "  --general-descriptions\n"
    "                     ServiceFilters.general_descriptions = INCLUDE (default: STAND_IN,\n"
    "                     as in the API: a national template is recommended only where no\n"
    "                     service based on it is admitted)\n"
    "  --national-without-municipality\n"
    "                     a recommend query without a municipality admits nationwide services\n"
    "                     only (the judging rule of queries.json; default off, as in the API)\n"
    "  --experiments      also \"aurora\" with single RankingParameters changed (and with the\n"
    "                     records AuroraAI excluded dropped from recommendations), as evidence\n"
    "                     for tuning ranker.cc\n"
    "  --dictionary-dir DIR  the FreeDict dictd files (default /usr/share/dictd; \"\": none)\n"
    "  --pool             also list, per query, the unjudged services in the top 10 of\n"
    "                     aurora and plain BM25 (a worksheet for extending the judgments)\n"
    "  --area-classifier  train the life-area classifier on the catalogue's hand labels first\n"
    "                     (as the node does) and rank with its inferred areas\n";

struct Options {
  bool verbose = false;
  size_t worst = 10;
  std::string queries = std::string(AURORA_QUALITY_DIR) + "/queries.json";
  std::string source_dir = AURORA_DATA_DIR;
  std::string dictionary_dir = "/usr/share/dictd";
  bool general_descriptions = false;
  bool national_without_municipality = false;
  bool experiments = false;
  bool pool = false;
  bool area_classifier = false;
};

bool ParseArgs(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--verbose" || arg == "-v") {
      options->verbose = true;
      continue;
    }
    if (arg == "--general-descriptions") {
      options->general_descriptions = true;
      continue;
    }
    if (arg == "--national-without-municipality") {
      options->national_without_municipality = true;
      continue;
    }
    if (arg == "--experiments") {
      options->experiments = true;
      continue;
    }
    if (arg == "--pool") {
      options->pool = true;
      continue;
    }
    if (arg == "--area-classifier") {
      options->area_classifier = true;
      continue;
    }
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "%s: a value is required\n%s", arg.c_str(), kUsage);
      return false;
    }
    if (arg == "--worst") {
      int64_t number = 0;
      if (!absl::SimpleAtoi(value, &number) || number < 0 || number > 1000) {
        std::fprintf(stderr, "--worst: expected an integer in 0..1000, got \"%s\"\n",
                     value.c_str());
        return false;
      }
      options->worst = static_cast<size_t>(number);
    } else if (arg == "--queries") {
      options->queries = value;
    } else if (arg == "--source-dir") {
      options->source_dir = value;
    } else if (arg == "--dictionary-dir") {
      options->dictionary_dir = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n%s", arg.c_str(), kUsage);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The judged queries.

struct Judgment {
  std::string judged_id;   // as written in queries.json ("hel-tpr:N" or a UUID)
  std::string service_id;  // the directory's id
  std::string name;
  int grade = 1;
};

struct JudgedQuery {
  std::string id, kind, language, text, municipality;
  std::optional<int> age;
  cv1::LifeSituationAnswers meters;
  std::vector<std::pair<std::string, std::vector<int>>> meter_list;  // as given, for printing
  std::vector<Judgment> relevant;
  std::set<std::string> not_relevant;  // service ids judged and found not relevant (grade 0)
  bool recommend = false;
  std::string group() const { return absl::StrCat(kind, " ", language); }
};

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

// Reads queries.json and maps every judged id to a service of the catalogue: a UUID must be a
// service id; any other id (Helsinki's "hel-tpr:N") must be the external id of exactly one
// service. Names are never used. Fails (with every problem listed) if an id is not found.
std::optional<std::vector<JudgedQuery>> ReadQueries(
    const std::string& path, const std::vector<directory::CatalogueRecord>& records) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    return std::nullopt;
  }
  json doc;
  try {
    doc = json::parse(in);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), e.what());
    return std::nullopt;
  }
  std::set<std::string> ids;
  std::map<std::string, std::vector<std::string>> by_external;
  for (const auto& r : records) {
    ids.insert(r.service.id());
    if (!r.service.external_ref().external_id().empty()) {
      by_external[r.service.external_ref().external_id()].push_back(r.service.id());
    }
  }
  std::vector<std::string> problems;
  std::vector<JudgedQuery> out;
  const auto* descriptor = cv1::LifeSituationAnswers::descriptor();
  try {
    for (const json& q : doc.at("queries")) {
      JudgedQuery query;
      query.id = q.at("id").get<std::string>();
      query.kind = q.at("kind").get<std::string>();
      query.language = q.at("language").get<std::string>();
      query.text = q.value("text", "");
      if (q.contains("municipality_code") && q["municipality_code"].is_string()) {
        query.municipality = q["municipality_code"].get<std::string>();
      }
      if (q.contains("age") && q["age"].is_number_integer()) query.age = q["age"].get<int>();
      query.recommend = query.kind == "recommend";
      if (query.kind != "search" && !query.recommend) {
        problems.push_back(absl::StrCat(query.id, ": unknown kind \"", query.kind, "\""));
      }
      if (!recommender::ParseLanguage(query.language).has_value()) {
        problems.push_back(absl::StrCat(query.id, ": unknown language \"", query.language, "\""));
      }
      if (q.contains("life_situation_meters") && q["life_situation_meters"].is_object()) {
        for (const auto& [key, values] : q["life_situation_meters"].items()) {
          const auto* field = descriptor->FindFieldByName(key);
          if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_INT32 ||
              !field->is_repeated()) {
            problems.push_back(absl::StrCat(query.id, ": unknown meter \"", key, "\""));
            continue;
          }
          std::vector<int> list;
          for (const json& v : values) {
            list.push_back(v.get<int>());
            query.meters.GetReflection()->AddInt32(&query.meters, field, list.back());
          }
          query.meter_list.emplace_back(key, std::move(list));
        }
      }
      // A judged id to the directory's service id, or "" (a problem is recorded).
      auto resolve = [&](const std::string& judged_id, const std::string& name) -> std::string {
        std::string service_id;
        if (IsUuid(judged_id)) {
          if (ids.count(judged_id) != 0) service_id = judged_id;
        } else if (auto it = by_external.find(judged_id);
                   it != by_external.end() && it->second.size() == 1) {
          service_id = it->second.front();
        }
        if (service_id.empty()) {
          problems.push_back(absl::StrCat(query.id, ": judged id ", judged_id, " (", name,
                                          ") is not in the catalogue"));
        }
        return service_id;
      };
      for (const json& r : q.at("relevant")) {
        Judgment j;
        j.judged_id = r.at("id").get<std::string>();
        j.name = r.value("name", "");
        j.grade = r.value("grade", 1);
        j.service_id = resolve(j.judged_id, j.name);
        if (j.grade < 1 || j.grade > 2) {
          problems.push_back(absl::StrCat(query.id, ": judged id ", j.judged_id,
                                          ": grade must be 1 or 2 (not relevant: \"not_relevant\"), got ",
                                          j.grade));
        }
        if (!j.service_id.empty()) query.relevant.push_back(std::move(j));
      }
      for (const json& r : q.value("not_relevant", json::array())) {
        const std::string id = resolve(r.at("id").get<std::string>(), r.value("name", ""));
        if (!id.empty()) query.not_relevant.insert(id);
      }
      out.push_back(std::move(query));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), e.what());
    return std::nullopt;
  }
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
  if (!problems.empty()) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Metrics.

struct Scored {
  std::vector<std::string> ids;  // the ranked list (at most kCutoff for the metrics)
  bool asked = true;             // false: the system cannot answer this query (counted as 0)
  double recall = 0, ndcg = 0;
};

void Score(const JudgedQuery& q, Scored* s) {
  std::map<std::string, int> grade;
  for (const auto& j : q.relevant) grade[j.service_id] = std::max(grade[j.service_id], j.grade);
  size_t found = 0;
  double dcg = 0;
  for (size_t i = 0; i < s->ids.size() && i < kCutoff; ++i) {
    auto it = grade.find(s->ids[i]);
    if (it == grade.end()) continue;
    ++found;
    dcg += (std::pow(2.0, it->second) - 1) / std::log2(static_cast<double>(i) + 2);
  }
  std::vector<int> ideal;
  for (const auto& [id, g] : grade) ideal.push_back(g);
  std::sort(ideal.rbegin(), ideal.rend());
  double idcg = 0;
  for (size_t i = 0; i < ideal.size() && i < kCutoff; ++i) {
    idcg += (std::pow(2.0, ideal[i]) - 1) / std::log2(static_cast<double>(i) + 2);
  }
  const size_t denominator = std::min(kCutoff, grade.size());
  s->recall = denominator == 0 ? 0 : static_cast<double>(found) / denominator;
  s->ndcg = idcg == 0 ? 0 : dcg / idcg;
}

// ---------------------------------------------------------------------------------------------
// The systems.

struct Catalogue {
  std::unique_ptr<CodeLists> codes;
  std::unique_ptr<recommender::TextAnalyzer> analyzer;
  std::unique_ptr<recommender::CrisisLexicon> crisis;
  std::unique_ptr<CatalogueIndex> index;
  std::unique_ptr<recommender::BilingualDictionary> dictionary;  // null: none
  std::vector<directory::CatalogueRecord> records;
  std::map<std::string, const dv1::Service*> by_id;
};

RankingParameters PlainBm25Parameters() {
  RankingParameters p;
  p.field_weight.fill(1.0);
  p.field_b.fill(0.75);
  // Not 0: a term of weight 0 still "touches" a document without raising its score, and
  // Rank() then lists the document twice in its per-word scratch lists (and counts the word
  // twice towards the coverage rule). 1e-6 keeps the term out of every ranking decision.
  p.compound_part_weight = 1e-6;
  p.translation_weight = 1e-6;
  p.max_crisis_services = 0;
  p.locality_bonus = 0;
  p.age_group_bonus = 0;
  return p;
}

// The request both Rankers get for a query (meters only for "aurora").
RankRequest RequestFor(const JudgedQuery& q, const Options& options, bool with_meters,
                       size_t limit) {
  RankRequest r;
  r.text = q.text;
  r.language = recommender::ParseLanguage(q.language);
  r.municipality_code = q.municipality;
  r.age = q.age;
  r.search = !q.recommend;
  if (q.recommend && with_meters) r.meters = q.meters;
  if (options.general_descriptions) {
    r.filters.set_general_descriptions(recommender::v1::GENERAL_DESCRIPTIONS_INCLUDE);
  }
  if (q.recommend && q.municipality.empty() && options.national_without_municipality) {
    r.filters.mutable_area()->set_only_national_services(true);
  }
  r.limit = limit;
  return r;
}

std::vector<std::string> Ids(const recommender::RankResult& result) {
  std::vector<std::string> ids;
  for (const auto& s : result.services) ids.push_back(s.service->id());
  return ids;
}

bool Nationwide(const dv1::Service& s) {
  return s.area_type() == dv1::AREA_TYPE_NATIONWIDE ||
         s.area_type() == dv1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS;
}

bool AvailableIn(const dv1::Service& s, const std::string& municipality) {
  if (Nationwide(s)) return true;
  return std::find(s.municipality_codes().begin(), s.municipality_codes().end(), municipality) !=
         s.municipality_codes().end();
}

// The original AuroraAI recommender: cosine between the need vector over the answered meters
// (q_k = 1 - mean/10.1) and the service's hand labels restricted to those meters. Admits what
// the area admits (as the Ranker's filters do), never records marked aurora_3x10d_excluded, and
// general descriptions only with --general-descriptions. Ties by id.
std::vector<std::string> Cosine(const Catalogue& c, const JudgedQuery& q, const Options& options) {
  std::array<double, recommender::kLifeAreaCount> need{};
  std::array<bool, recommender::kLifeAreaCount> answered{};
  double qnorm = 0;
  for (int k = 0; k < recommender::kLifeAreaCount; ++k) {
    const auto& values = recommender::MeterAnswers(q.meters, k);
    if (values.empty()) continue;
    double sum = 0;
    for (int v : values) sum += v;
    need[k] = 1.0 - sum / values.size() / 10.1;
    answered[k] = true;
    qnorm += need[k] * need[k];
  }
  std::vector<std::pair<double, std::string>> scored;
  if (qnorm == 0) return {};
  for (const auto& r : c.records) {
    const dv1::Service& s = r.service;
    if (s.life_situation_excluded()) continue;
    if (s.kind() == dv1::SERVICE_KIND_GENERAL_DESCRIPTION && !options.general_descriptions) continue;
    if (!q.municipality.empty() && !AvailableIn(s, q.municipality)) continue;
    if (q.municipality.empty() && options.national_without_municipality && !Nationwide(s)) {
      continue;
    }
    double dot = 0, snorm = 0;
    for (int area : s.life_areas()) {
      const int k = recommender::LifeAreaIndex(static_cast<cv1::LifeArea>(area));
      if (k < 0 || k >= recommender::kLifeAreaCount || !answered[k]) continue;
      dot += need[k];
      snorm += 1;
    }
    if (snorm == 0 || dot <= 0) continue;
    scored.emplace_back(dot / (std::sqrt(qnorm) * std::sqrt(snorm)), s.id());
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> ids;
  for (size_t i = 0; i < scored.size() && i < kCutoff; ++i) ids.push_back(scored[i].second);
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Printing helpers.

std::string NameOf(const dv1::Service& s) {
  if (!s.name().fi().empty()) return s.name().fi();
  if (!s.name().sv().empty()) return s.name().sv();
  return s.name().en();
}

// The languages the service's name is given in, e.g. "fi sv".
std::string NameLanguages(const dv1::Service& s) {
  std::vector<std::string> l;
  if (!s.name().fi().empty()) l.push_back("fi");
  if (!s.name().sv().empty()) l.push_back("sv");
  if (!s.name().en().empty()) l.push_back("en");
  return absl::StrJoin(l, " ");
}


bool HasTextIn(const dv1::Service& s, Language language) {
  auto has = [language](const cv1::LocalizedText& t) {
    switch (language) {
      case Language::kFinnish:
        return !t.fi().empty();
      case Language::kSwedish:
        return !t.sv().empty();
      default:
        return !t.en().empty();
    }
  };
  return has(s.name()) || has(s.summary()) || has(s.description());
}

// At most `width` code points (UTF-8), with "…" when cut.
std::string Clip(const std::string& s, size_t width) {
  size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (points == width - 1) {
        size_t rest = 0;
        for (size_t j = i; j < s.size(); ++j) rest += (static_cast<unsigned char>(s[j]) & 0xC0) != 0x80;
        if (rest > 1) return s.substr(0, i) + "…";
        return s;
      }
      ++points;
    }
  }
  return s;
}

// Pads to `width` code points.
std::string Pad(const std::string& s, size_t width) {
  size_t points = 0;
  for (unsigned char ch : s) points += (ch & 0xC0) != 0x80;
  return points >= width ? s : s + std::string(width - points, ' ');
}

std::string Where(const dv1::Service& s, const CodeLists& codes) {
  if (Nationwide(s)) return "nationwide";
  std::vector<std::string> names;
  for (const auto& m : s.municipality_codes()) {
    const Municipality* muni = codes.FindMunicipality(m);
    names.push_back(muni != nullptr ? muni->name.fi() : m);
    if (names.size() == 2 && s.municipality_codes().size() > 2) {
      names.push_back(absl::StrCat("+", s.municipality_codes().size() - 2));
      break;
    }
  }
  return absl::StrJoin(names, ",");
}

// "fi sv | Helsinki | GD EXCL": the languages of the name, where, and GD (general description)
// and, for a recommend query, EXCL (marked by AuroraAI as not for the life-situation
// recommender).
std::string Info(const dv1::Service& s, const CodeLists& codes, bool recommend) {
  std::string info = absl::StrCat(NameLanguages(s), " | ", Clip(Where(s, codes), 12));
  if (s.kind() == dv1::SERVICE_KIND_GENERAL_DESCRIPTION) info += " | GD";
  if (recommend && s.life_situation_excluded()) {
    info += s.kind() == dv1::SERVICE_KIND_GENERAL_DESCRIPTION ? " EXCL" : " | EXCL";
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// Failure analysis: why "aurora" missed a judged service, as far as the index can tell.

struct Diagnosis {
  std::string category;  // see kCategories
  std::string detail;
};

// In the order they are checked and printed.
constexpr const char* kCategories[] = {
    "filter",         // not admitted: general description, area
    "eligibility",    // age groups or businesses only
    "ranking",        // a candidate, ranked below 10
    "cut-off",        // matched, but under the absolute/relative text floor or the need floor
    "word coverage",  // matched too few of the query's words
    "cross-lingual",  // no text in the query's language, and no bridge reached it
    "vocabulary",     // has text in the query's language, but none of the query's words
    "needs",          // (recommend) no relevance to the answered life areas, no text match
};

class Analyst {
 public:
  Analyst(const Catalogue& c, const Ranker& aurora, const Options& options)
      : c_(c), aurora_(aurora), options_(options) {
    RankingParameters loose = aurora.parameters();
    loose.min_text_score = 1e-9;
    loose.min_relative_text_score = 0;
    loose.min_life_situation_score = 1e-9;
    loose_ = std::make_unique<Ranker>(c.index.get(), loose, c.dictionary.get());
  }

  // Whether the filters and eligibility rules admit the service for the query; if not, why.
  std::optional<Diagnosis> NotAdmitted(const JudgedQuery& q, const std::string& service_id) const {
    const dv1::Service& s = *c_.by_id.at(service_id);
    CatalogueIndex::ReadLock lock(*c_.index);
    const recommender::IndexData& data = lock.data();
    const auto it = data.by_id.find(service_id);
    if (it == data.by_id.end()) return Diagnosis{"filter", "not in the index"};
    const recommender::IndexedService& doc = data.docs[it->second];
    if (auto where = NotInArea(q, s); where.has_value()) return Diagnosis{"filter", *where};
    if (doc.general_description && !options_.general_descriptions) {
      // A general description stands in only where no service based on it is admitted.
      auto number = data.template_numbers.find(service_id);
      if (number != data.template_numbers.end()) {
        for (uint32_t d : data.template_instances[number->second]) {
          if (data.docs[d].live && !NotInArea(q, *data.docs[d].service).has_value()) {
            return Diagnosis{"filter", absl::StrCat("general description, provided here by \"",
                                                    Clip(NameOf(*data.docs[d].service), 40),
                                                    "\"")};
          }
        }
      }
    }
    if (q.recommend && doc.eligibility.business_only) {
      return Diagnosis{"eligibility", "for businesses only (target groups KR2/KR3)"};
    }
    if (q.age.has_value() && doc.eligibility.age_restricted) {
      const RankingParameters& p = aurora_.parameters();
      const recommender::Eligibility& e = doc.eligibility;
      const int age = *q.age;
      if (!((e.seniors && age >= p.senior_min_age) || (e.youth && age <= p.youth_max_age) ||
            (e.children && age <= p.child_max_age))) {
        return Diagnosis{"eligibility",
                         absl::StrCat("age ", age, ", target groups ",
                                      absl::StrJoin(s.target_groups(), " "),
                                      e.children ? " (children: only with family context or a "
                                                   "text match)"
                                                 : "")};
      }
    }
    return std::nullopt;
  }

  // Why the query's area does not admit the service, if it does not.
  std::optional<std::string> NotInArea(const JudgedQuery& q, const dv1::Service& s) const {
    if (!q.municipality.empty() && !AvailableIn(s, q.municipality)) {
      return absl::StrCat("not in ", q.municipality, ": ", Where(s, *c_.codes));
    }
    if (q.recommend && q.municipality.empty() && options_.national_without_municipality &&
        !Nationwide(s)) {
      return absl::StrCat("not nationwide: ", Where(s, *c_.codes));
    }
    return std::nullopt;
  }

  Diagnosis Explain(const JudgedQuery& q, const std::string& service_id) const {
    // The age rule admits children's services for adults when the text asks for them, so an
    // eligibility verdict waits until the ranked lists are looked at.
    const std::optional<Diagnosis> not_admitted = NotAdmitted(q, service_id);
    if (not_admitted.has_value() && not_admitted->category == "filter") return *not_admitted;
    // A candidate below the cut?
    const RankRequest deep = RequestFor(q, options_, true, kDeepLimit);
    const auto result = aurora_.Rank(deep);
    for (const auto& r : result.services) {
      if (r.service->id() != service_id) continue;
      const auto& e = r.explanation;
      const double tenth =
          result.services.size() >= kCutoff ? result.services[kCutoff - 1].score : 0;
      return {"ranking",
              absl::StrFormat("rank %d: %.2f vs %.2f at 10 (text %.2f, needs %.2f)", r.rank,
                              r.score, tenth, e.text_score(), e.life_situation_score())};
    }
    if (result.services.size() >= kDeepLimit) return {"ranking", "beyond rank 500"};
    // A candidate only without the floors?
    const auto loose = loose_->Rank(deep);
    for (const auto& r : loose.services) {
      if (r.service->id() != service_id) continue;
      return {"cut-off",
              q.recommend
                  ? absl::StrFormat("rank %d without the floors (text %.2f, needs %.3f)", r.rank,
                                    r.explanation.text_score(),
                                    r.explanation.life_situation_score())
                  : absl::StrFormat("rank %d without the floors (text %.2f)", r.rank,
                                    r.explanation.text_score())};
    }
    if (not_admitted.has_value()) return *not_admitted;
    const dv1::Service& s = *c_.by_id.at(service_id);
    const Language language = *recommender::ParseLanguage(q.language);
    if (q.recommend) {
      std::string detail = absl::StrCat("no relevance to the answered areas; ", Profile(s));
      if (!q.text.empty()) {
        const auto [matched, content] = MatchedWords(q.text, language, service_id);
        absl::StrAppend(&detail, absl::StrFormat("; %d of %d query words", matched, content));
      }
      return {"needs", detail};
    }
    const auto [matched, content] = MatchedWords(q.text, language, service_id);
    if (matched > 0) {
      return {"word coverage", absl::StrFormat("%d of %d query words in its %s text", matched,
                                               content, q.language)};
    }
    if (!HasTextIn(s, language)) {
      return {"cross-lingual",
              absl::StrCat("no ", q.language, " text (name in ", NameLanguages(s), ")")};
    }
    return {"vocabulary", absl::StrCat("none of the query words in its ", q.language, " text")};
  }

  // The service's life-area profile, e.g. "hand labels: housing finance".
  std::string Profile(const dv1::Service& s) const {
    const recommender::LifeAreaProfile p = recommender::ProfileOf(s);
    std::vector<std::string> areas;
    for (int k = 0; k < recommender::kLifeAreaCount; ++k) {
      if (p.relevance[k] > 0) {
        areas.push_back(absl::StrFormat("%s %.1f", recommender::LifeAreaKey(k), p.relevance[k]));
      }
    }
    return absl::StrCat(p.hand_labelled ? "hand labels: " : "mapped: ",
                        areas.empty() ? "none" : absl::StrJoin(areas, ", "));
  }

 private:
  // How many of the query's words (those the catalogue knows in `language`) the service has in
  // its `language` text, counting compound parts; and how many such words there are.
  std::pair<int, int> MatchedWords(const std::string& text, Language language,
                                   const std::string& service_id) const {
    std::vector<recommender::AnalyzedTerm> terms;
    std::vector<recommender::AnalyzedWord> words;
    c_.analyzer->Analyze(text, language, &terms, &words);
    CatalogueIndex::ReadLock lock(*c_.index);
    const recommender::IndexData& data = lock.data();
    const uint32_t doc = data.by_id.at(service_id);
    std::vector<int> known(words.size(), 0), hit(words.size(), 0);
    for (const auto& t : terms) {
      const recommender::PostingList* list = data.Find(language, t.term);
      if (list == nullptr || list->live_df == 0) continue;
      if (!t.compound_part) known[t.word] = 1;
      auto it = std::lower_bound(
          list->postings.begin(), list->postings.end(), doc,
          [](const recommender::Posting& p, uint32_t d) { return p.doc < d; });
      if (it != list->postings.end() && it->doc == doc) hit[t.word] = 1;
    }
    int matched = 0, content = 0;
    for (size_t w = 0; w < words.size(); ++w) {
      content += known[w];
      matched += hit[w];
    }
    return {matched, content};
  }

  const Catalogue& c_;
  const Ranker& aurora_;
  const Options& options_;
  std::unique_ptr<Ranker> loose_;
};

// ---------------------------------------------------------------------------------------------
// Experiments: "aurora" with one change at a time.

struct Variant {
  std::string name;
  std::function<void(RankingParameters&)> change;
  bool drop_excluded = false;  // recommend: leave out records AuroraAI marked as excluded
};

std::vector<Variant> Variants() {
  using P = RankingParameters;
  std::vector<Variant> v;
  v.push_back({"default", [](P&) {}});
  v.push_back({"max_label_codes 8", [](P& p) { p.max_label_codes = 8; }});
  v.push_back({"max_label_codes 16", [](P& p) { p.max_label_codes = 16; }});
  v.push_back({"translation_weight 0.7", [](P& p) { p.translation_weight = 0.7; }});
  v.push_back({"translation_weight 0.2", [](P& p) { p.translation_weight = 0.2; }});
  v.push_back({"min_dice 0.2", [](P& p) { p.min_dice = 0.2; }});
  v.push_back({"min_dice 0.5", [](P& p) { p.min_dice = 0.5; }});
  v.push_back({"max_lexicon_terms 1", [](P& p) { p.max_lexicon_terms = 1; }});
  v.push_back({"compound_part_weight 0.25", [](P& p) { p.compound_part_weight = 0.25; }});
  v.push_back({"compound_part_weight 1.0", [](P& p) { p.compound_part_weight = 1.0; }});
  v.push_back({"classification weight 3", [](P& p) { p.field_weight[6] = 3.0; }});
  v.push_back({"description weight 0.5", [](P& p) { p.field_weight[4] = 0.5; }});
  v.push_back({"k1 2.0", [](P& p) { p.k1 = 2.0; }});
  v.push_back({"min_relative_text_score 0.1", [](P& p) { p.min_relative_text_score = 0.1; }});
  v.push_back({"need_exponent 1.0", [](P& p) { p.need_exponent = 1.0; }});
  v.push_back({"need_exponent 3.0", [](P& p) { p.need_exponent = 3.0; }});
  v.push_back({"text_share 0.8", [](P& p) { p.text_share = 0.8; }});
  v.push_back({"locality_bonus 0.3", [](P& p) { p.locality_bonus = 0.3; }});
  v.push_back({"locality_bonus 0.5", [](P& p) { p.locality_bonus = 0.5; }});
  v.push_back({"max_translation_df_share 1 (all)", [](P& p) { p.max_translation_df_share = 1; }});
  v.push_back({"max_translation_df_share 0.05", [](P& p) { p.max_translation_df_share = 0.05; }});
  v.push_back({"max_translation_df_share 0.1", [](P& p) { p.max_translation_df_share = 0.1; }});
  v.push_back({"max_translation_df_share 0.02", [](P& p) { p.max_translation_df_share = 0.02; }});
  v.push_back({"locality_bonus 0.7", [](P& p) { p.locality_bonus = 0.7; }});
  v.push_back({"locality_bonus 1.0", [](P& p) { p.locality_bonus = 1.0; }});
  v.push_back({"age_group_bonus 0", [](P& p) { p.age_group_bonus = 0; }});
  v.push_back({"age_group_bonus 0.3", [](P& p) { p.age_group_bonus = 0.3; }});
  v.push_back({"age_group_bonus 0.5", [](P& p) { p.age_group_bonus = 0.5; }});
  v.push_back({"min_label_dice 0.2", [](P& p) { p.min_label_dice = 0.2; }});
  v.push_back({"min_label_dice 0.4", [](P& p) { p.min_label_dice = 0.4; }});
  v.push_back({"min_label_dice 0.8", [](P& p) { p.min_label_dice = 0.8; }});
  v.push_back({"min_label_dice 0 (every label term)", [](P& p) { p.min_label_dice = 0; }});
  v.push_back({"drop EXCL records (recommend)", [](P&) {}, true});
  v.push_back({"no dictionary translations", [](P& p) { p.max_dictionary_terms = 0; }});
  v.push_back({"translations scored alone", [](P& p) { p.structured_translations = false; }});
  v.push_back({"alone, no dictionary", [](P& p) {
                 p.structured_translations = false;
                 p.max_dictionary_terms = 0;
               }});
  v.push_back({"max_dictionary_terms 3", [](P& p) { p.max_dictionary_terms = 3; }});
  v.push_back({"max_dictionary_terms 5", [](P& p) { p.max_dictionary_terms = 5; }});
  v.push_back({"dictionary_weight 0.5", [](P& p) { p.dictionary_weight = 0.5; }});
  v.push_back({"dictionary_weight 1.4", [](P& p) { p.dictionary_weight = 1.4; }});
  v.push_back({"drop EXCL + locality_bonus 0.3",
               [](P& p) { p.locality_bonus = 0.3; }, true});
  // The changes above that helped, together.
  v.push_back({"combined (see bench/README.md)",
               [](P& p) {
                 p.compound_part_weight = 1.0;
                 p.translation_weight = 0.7;
                 p.max_label_codes = 8;
                 p.min_dice = 0.2;
                 p.field_weight[4] = 0.5;
                 p.locality_bonus = 0.5;
               },
               true});
  return v;
}

// The top 10 of `ranker` for every query (meters included), as "aurora" is asked.
std::vector<Scored> Evaluate(const Catalogue& c, const Ranker& ranker,
                             const std::vector<JudgedQuery>& queries, const Options& options,
                             bool drop_excluded) {
  std::vector<Scored> out(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    const JudgedQuery& q = queries[i];
    const bool drop = drop_excluded && q.recommend;
    const auto result = ranker.Rank(RequestFor(q, options, true, drop ? kDeepLimit : kCutoff));
    for (const auto& r : result.services) {
      if (out[i].ids.size() == kCutoff) break;
      if (drop && c.by_id.at(r.service->id())->life_situation_excluded()) continue;
      out[i].ids.push_back(r.service->id());
    }
    Score(q, &out[i]);
  }
  return out;
}

struct Mean {
  double recall = 0, ndcg = 0;
  int n = 0;
  void Add(const Scored& s) {
    recall += s.recall;
    ndcg += s.ndcg;
    ++n;
  }
  std::string Cell() const {
    if (n == 0) return absl::StrFormat("%-13s", "  -");
    return absl::StrFormat("%5.3f  %5.3f ", recall / n, ndcg / n);
  }
};

int Run(const Options& options) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  Catalogue c;
  auto codes = CodeLists::LoadFromDirectory(options.source_dir + "/codelists");
  if (!codes.ok()) {
    std::fprintf(stderr, "code lists: %s\n", std::string(codes.status().message()).c_str());
    return 1;
  }
  c.codes = std::make_unique<CodeLists>(std::move(*codes));
  auto analyzer = recommender::TextAnalyzer::Create();
  if (!analyzer.ok()) {
    std::fprintf(stderr, "text analyzer: %s\n", std::string(analyzer.status().message()).c_str());
    return 1;
  }
  c.analyzer = std::move(*analyzer);
  c.crisis = std::make_unique<recommender::CrisisLexicon>(*c.analyzer);
  if (!options.dictionary_dir.empty()) {
    auto dictionary = recommender::BilingualDictionary::Load(options.dictionary_dir, *c.analyzer);
    if (!dictionary.ok()) {
      std::fprintf(stderr, "dictionary: %s\n", std::string(dictionary.status().message()).c_str());
      return 1;
    }
    c.dictionary = std::move(*dictionary);
  }
  c.index = std::make_unique<CatalogueIndex>(c.codes.get(), c.analyzer.get(), c.crisis.get());
  const std::string file = options.source_dir + "/services.ndjson";
  auto read = directory::ReadCatalogueFile(file, directory::CatalogueFormat::kNdjson, *c.codes);
  if (!read.ok()) {
    std::fprintf(stderr, "%s: %s\n", file.c_str(), std::string(read.status().message()).c_str());
    return 1;
  }
  c.records = std::move(read->records);
  for (const auto& record : c.records) {
    c.index->Upsert(record.service);
    if (!record.organization.id().empty()) {
      c.index->SetOrganizationName(record.organization.id(), record.organization.name().fi());
    }
    c.by_id[record.service.id()] = &record.service;
  }
  c.index->SetRevision(1);
  if (options.area_classifier) {
    recommender::AreaLabeller labeller(c.index.get(), {});
    if (auto status = labeller.TrainNow(); !status.ok()) {
      std::fprintf(stderr, "area classifier: %s\n", std::string(status.message()).c_str());
      return 1;
    }
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();

  auto queries = ReadQueries(options.queries, c.records);
  if (!queries.has_value()) return 1;
  size_t judgments = 0;
  for (const auto& q : *queries) judgments += q.relevant.size();

  const Ranker aurora(c.index.get(), {}, c.dictionary.get());
  const Ranker plain(c.index.get(), PlainBm25Parameters());
  const Analyst analyst(c, aurora, options);

  std::printf("recommender_quality: %zu judged queries (%zu judgments) from %s\n",
              queries->size(), judgments, options.queries.c_str());
  std::printf("catalogue: %zu services from %s, indexed in %.1f s (%zu read errors)\n",
              c.records.size(), file.c_str(), load_s, read->errors.size());
  std::printf("filters: general descriptions %s;\n"
              "         a recommend query without a municipality admits %s\n\n",
              options.general_descriptions ? "all included"
                                           : "only where no service based on them is admitted "
                                             "(API default)",
              options.national_without_municipality ? "nationwide services only"
                                                    : "every service (API default)");

  // --- Run every query.
  struct Row {
    Scored aurora, plain, cosine;
    double ceiling = 0;  // recall@10 if every admitted judged service were in the top 10
  };
  std::vector<Row> rows(queries->size());
  double aurora_ms = 0;
  for (size_t i = 0; i < queries->size(); ++i) {
    const JudgedQuery& q = (*queries)[i];
    Row& row = rows[i];
    const auto t = Clock::now();
    row.aurora.ids = Ids(aurora.Rank(RequestFor(q, options, true, kCutoff)));
    aurora_ms += std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    if (q.recommend && q.text.empty()) {
      row.plain.asked = false;
    } else {
      row.plain.ids = Ids(plain.Rank(RequestFor(q, options, false, kCutoff)));
    }
    if (q.recommend) row.cosine.ids = Cosine(c, q, options);
    Score(q, &row.aurora);
    Score(q, &row.plain);
    Score(q, &row.cosine);
    std::set<std::string> admitted;
    for (const auto& j : q.relevant) {
      if (!analyst.NotAdmitted(q, j.service_id)) admitted.insert(j.service_id);
    }
    std::set<std::string> all;
    for (const auto& j : q.relevant) all.insert(j.service_id);
    row.ceiling = static_cast<double>(std::min(kCutoff, admitted.size())) /
                  std::min(kCutoff, all.size());
  }

  if (options.verbose) {
    std::printf("Per query (R = recall@10, nDCG = nDCG@10, # = results returned, at most 10;\n"
                "ceiling = recall@10 if every judged service the filters admit were in the top 10)\n");
    std::printf("%-34s %-12s %-4s %7s | %-18s | %-18s | %-18s\n", "query", "kind", "rel", "ceiling",
                "aurora R  nDCG  #", "plain R  nDCG  #", "cosine R  nDCG  #");
    for (size_t i = 0; i < queries->size(); ++i) {
      const JudgedQuery& q = (*queries)[i];
      const Row& row = rows[i];
      auto cell = [](const Scored& s, bool applies) {
        if (!applies) return std::string(18, ' ');
        if (!s.asked) return absl::StrFormat("%-18s", "  (no text) 0");
        return absl::StrFormat("%5.2f %5.2f %3zu   ", s.recall, s.ndcg, s.ids.size());
      };
      std::printf("%-34s %-12s %4zu %7.2f | %s | %s | %s\n", q.id.c_str(), q.group().c_str(),
                  q.relevant.size(), row.ceiling, cell(row.aurora, true).c_str(),
                  cell(row.plain, true).c_str(), cell(row.cosine, q.recommend).c_str());
    }
    std::printf("\n");
  }

  // --- Summary.
  std::map<std::string, std::array<Mean, 3>> groups;
  std::map<std::string, double> ceilings;
  std::vector<std::string> order;
  for (size_t i = 0; i < queries->size(); ++i) {
    const JudgedQuery& q = (*queries)[i];
    for (const std::string& g : {q.group(), std::string("all")}) {
      if (!groups.contains(g)) order.push_back(g);
      auto& m = groups[g];
      m[0].Add(rows[i].aurora);
      m[1].Add(rows[i].plain);
      if (q.recommend) m[2].Add(rows[i].cosine);
      ceilings[g] += rows[i].ceiling;
    }
  }
  std::stable_partition(order.begin(), order.end(), [](const auto& g) { return g != "all"; });
  std::printf("Mean recall@10 and nDCG@10 (ceiling: mean recall@10 if every judged service the\n"
              "filters admit were in the top 10)\n");
  std::printf("%-13s %3s %7s | %-13s | %-13s | %-13s\n", "", "n", "ceiling", "aurora",
              "plain BM25", "cosine labels");
  std::printf("%-13s %3s %7s | %-13s | %-13s | %-13s\n", "", "", "", "R@10   nDCG", "R@10   nDCG",
              "R@10   nDCG");
  for (const auto& g : order) {
    const auto& m = groups[g];
    std::printf("%-13s %3d %7.3f | %s | %s | %s\n", g.c_str(), m[0].n, ceilings[g] / m[0].n,
                m[0].Cell().c_str(), m[1].Cell().c_str(), m[2].Cell().c_str());
  }
  int no_text = 0;
  for (size_t i = 0; i < queries->size(); ++i) no_text += rows[i].plain.asked ? 0 : 1;
  std::printf("plain BM25 gets no meters: the %d recommend queries without text count as 0 for it.\n",
              no_text);
  std::printf("cosine labels: recommend queries only (hand labels of AuroraAI, excluded records "
              "left out).\n");
  std::printf("aurora: %.2f ms per query (mean, one thread)\n", aurora_ms / queries->size());
  const double mean_recall = groups["all"][0].recall / groups["all"][0].n;
  std::printf("\ntarget: aurora mean recall@10 >= %.2f: %s (measured %.3f)\n", kTargetRecall,
              mean_recall >= kTargetRecall ? "PASS" : "FAIL", mean_recall);

  // --- Experiments.
  if (options.experiments) {
    std::printf("\nExperiments: aurora with one change (mean recall@10 per group; all: R@10 and "
                "nDCG@10)\n");
    std::printf("%-32s %9s %9s %9s %9s | %-13s\n", "variant", "search fi", "search sv",
                "search en", "recomm.", "all R   nDCG");
    for (const Variant& v : Variants()) {
      RankingParameters p;
      v.change(p);
      const Ranker ranker(c.index.get(), p, c.dictionary.get());
      const auto scored = Evaluate(c, ranker, *queries, options, v.drop_excluded);
      std::map<std::string, Mean> by;
      Mean all;
      for (size_t i = 0; i < queries->size(); ++i) {
        by[(*queries)[i].group()].Add(scored[i]);
        all.Add(scored[i]);
      }
      auto r = [&](const char* g) { return by[g].n == 0 ? 0.0 : by[g].recall / by[g].n; };
      std::printf("%-32s %9.3f %9.3f %9.3f %9.3f | %s\n", v.name.c_str(), r("search fi"),
                  r("search sv"), r("search en"), r("recommend fi"), all.Cell().c_str());
    }
  }

  // --- Pool: the unjudged services the systems return, to judge next.
  if (options.pool) {
    std::printf("\nUnjudged services in the top 10 (a: aurora, p: plain BM25), by query; the id is\n"
                "written as queries.json expects it\n");
    for (size_t i = 0; i < queries->size(); ++i) {
      const JudgedQuery& q = (*queries)[i];
      std::set<std::string> judged = q.not_relevant;
      for (const auto& j : q.relevant) judged.insert(j.service_id);
      std::vector<std::string> order;
      std::map<std::string, std::string> by;
      for (const auto& [system, ids] :
           {std::pair{"a", &rows[i].aurora.ids}, std::pair{"p", &rows[i].plain.ids}}) {
        for (const auto& id : *ids) {
          if (judged.contains(id)) continue;
          if (!by.contains(id)) order.push_back(id);
          by[id] += system;
        }
      }
      if (order.empty()) continue;
      std::printf("== %s \"%s\"\n", q.id.c_str(), q.text.c_str());
      for (const auto& id : order) {
        const dv1::Service& s = *c.by_id.at(id);
        const std::string& external = s.external_ref().external_id();
        std::printf("   %-2s %-38s %s | %s\n", by[id].c_str(),
                    (!external.empty() && !IsUuid(external) ? external : id).c_str(),
                    Clip(NameOf(s), 56).c_str(), Info(s, *c.codes, q.recommend).c_str());
      }
    }
  }

  // --- Failure analysis.
  if (options.worst == 0) return 0;
  std::vector<size_t> worst(queries->size());
  for (size_t i = 0; i < worst.size(); ++i) worst[i] = i;
  std::stable_sort(worst.begin(), worst.end(), [&](size_t a, size_t b) {
    if (rows[a].aurora.recall != rows[b].aurora.recall) {
      return rows[a].aurora.recall < rows[b].aurora.recall;
    }
    return rows[a].aurora.ndcg < rows[b].aurora.ndcg;
  });
  size_t tied = 0;  // queries with the same recall and nDCG as the last one shown
  if (options.worst < worst.size()) {
    const Scored& last = rows[worst[options.worst - 1]].aurora;
    for (size_t i : worst) {
      tied += rows[i].aurora.recall == last.recall && rows[i].aurora.ndcg == last.ndcg;
    }
  }
  worst.resize(std::min(worst.size(), options.worst));
  std::map<std::string, int> tally;
  std::map<std::string, int> tally_grade2;
  std::printf("\nFailure analysis: the %zu queries with the lowest recall@10 of aurora\n",
              worst.size());
  if (tied > 1) {
    std::printf("(%zu queries tie at the last place shown, recall %.2f and nDCG %.2f: those\n"
                "first in queries.json are shown; --worst 52 shows every query)\n",
                tied, rows[worst.back()].aurora.recall, rows[worst.back()].aurora.ndcg);
  }
  std::printf("(missed: judged services not in the top 10 and why; top 10: '+N' judged grade N,\n"
              "'~N' not judged but named like a judged service of grade N, '.' not judged)\n");
  int namesakes = 0;
  for (size_t i : worst) {
    const JudgedQuery& q = (*queries)[i];
    const Row& row = rows[i];
    std::printf("\n== %s (%s) \"%s\"", q.id.c_str(), q.group().c_str(), q.text.c_str());
    if (!q.municipality.empty()) std::printf(" municipality %s", q.municipality.c_str());
    if (q.age.has_value()) std::printf(" age %d", *q.age);
    for (const auto& [key, values] : q.meter_list) {
      std::printf(" %s=%s", key.c_str(), absl::StrJoin(values, ",").c_str());
    }
    std::printf("\n   aurora recall %.2f nDCG %.2f | plain BM25 %.2f %.2f%s | ceiling %.2f\n",
                row.aurora.recall, row.aurora.ndcg, row.plain.recall, row.plain.ndcg,
                q.recommend ? absl::StrFormat(" | cosine %.2f %.2f", row.cosine.recall,
                                              row.cosine.ndcg)
                                  .c_str()
                            : "",
                row.ceiling);
    std::map<std::string, int> grade;
    for (const auto& j : q.relevant) grade[j.service_id] = j.grade;
    std::set<std::string> top(row.aurora.ids.begin(), row.aurora.ids.end());
    std::vector<const Judgment*> missed;
    for (const auto& j : q.relevant) {
      if (!top.contains(j.service_id)) missed.push_back(&j);
    }
    std::stable_sort(missed.begin(), missed.end(),
                     [](const Judgment* a, const Judgment* b) { return a->grade > b->grade; });
    std::printf("   missed %zu of %zu:\n", missed.size(), q.relevant.size());
    for (const Judgment* j : missed) {
      const dv1::Service& s = *c.by_id.at(j->service_id);
      const Diagnosis d = analyst.Explain(q, j->service_id);
      ++tally[d.category];
      if (j->grade == 2) ++tally_grade2[d.category];
      std::printf("    +%d %s %s %-13s %s\n", j->grade, Pad(Clip(NameOf(s), 36), 36).c_str(),
                  Pad(Info(s, *c.codes, q.recommend), 26).c_str(), d.category.c_str(), d.detail.c_str());
    }
    // Unjudged services named like a judged one (another municipality's instance of it): a hint
    // that the judgment may be incomplete.
    std::map<std::string, int> judged_names;
    for (const auto& j : q.relevant) {
      int& g = judged_names[NameOf(*c.by_id.at(j.service_id))];
      g = std::max(g, j.grade);
    }
    std::printf("   top 10 instead:\n");
    for (size_t r = 0; r < row.aurora.ids.size(); ++r) {
      const dv1::Service& s = *c.by_id.at(row.aurora.ids[r]);
      std::string mark = " .";
      if (auto it = grade.find(s.id()); it != grade.end()) {
        mark = absl::StrCat("+", it->second);
      } else if (auto n = judged_names.find(NameOf(s)); n != judged_names.end()) {
        mark = absl::StrCat("~", n->second);
        ++namesakes;
      }
      std::printf("    %2zu %s %s %s\n", r + 1, mark.c_str(), Pad(Clip(NameOf(s), 56), 56).c_str(),
                  Info(s, *c.codes, q.recommend).c_str());
    }
  }
  std::printf("\nWhy the judged services were missed (worst %zu queries; grade 2 in brackets):\n",
              worst.size());
  for (const char* category : kCategories) {
    if (!tally.contains(category)) continue;
    std::printf("  %-14s %3d (%d)\n", category, tally[category], tally_grade2[category]);
  }
  std::printf("Unjudged namesakes of judged services in these top 10s ('~'): %d\n", namesakes);
  return 0;
}

}  // namespace
}  // namespace aurora::bench

int main(int argc, char** argv) {
  aurora::bench::Options options;
  if (!aurora::bench::ParseArgs(argc, argv, &options)) return 64;
  return aurora::bench::Run(options);
}
