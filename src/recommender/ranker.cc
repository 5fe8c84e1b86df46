#include "recommender/ranker.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace aurora::recommender {
namespace {

namespace v1 = aurora::recommender::v1;
namespace dv1 = aurora::directory::v1;

double Mean(const google::protobuf::RepeatedField<int32_t>& values) {
  double sum = 0;
  for (int v : values) sum += v;
  return values.empty() ? NAN : sum / values.size();
}

// Per-thread score buffers, one slot per document number.
struct Scratch {
  std::vector<float> total, word, lang, group, life_situation;
  std::vector<uint8_t> matched_words;
  std::vector<uint32_t> touched_total, touched_word, touched_lang, touched_group,
      touched_life_situation;
  // Per language and field, the BM25F factor of each encoded field length, and what it was
  // computed from (field weight, b, average length): recomputed only when those change.
  std::array<std::array<std::array<float, 256>, kFieldCount>, kLanguageCount> length_factor{};
  std::array<std::array<std::array<double, 3>, kFieldCount>, kLanguageCount> length_factor_of{};
  void Reserve(size_t n) {
    if (total.size() < n) {
      total.resize(n, 0);
      word.resize(n, 0);
      lang.resize(n, 0);
      group.resize(n, 0);
      life_situation.resize(n, 0);
      matched_words.resize(n, 0);
    }
  }
};

// How people phrase a request in fi, sv and en ("haluan", "tarvitsen", "jäin", "behöver",
// "I need help"), written folded. Beyond the analyzer's stop words (which apply to the catalogue
// too), these say nothing of the need: "jäin työttömäksi" must not match ice halls (jää).
bool IsRequestPhrasing(std::string_view folded) {
  static const auto* const words = new absl::flat_hash_set<std::string_view>{
      "haluan",    "haluaisin", "haluamme", "tarvitsen", "tarvitsisin", "tarvitsemme",
      "tarvitsee", "jäin",      "jäi",      "jäimme",    "jäänyt",      "jouduin",
      "olen",      "olin",      "minulla",  "meillä",    "voinko",      "saanko",
      "kuinka",    "etsin",     "apua",     "tietoa",    "behöver",     "söker",
      "hjälp",     "få",        "need",     "needs",     "want",        "help",
      "looking",   "find",      "get",      "please",    "i'm",         "i've"};
  return words->contains(folded);
}

// A Swedish query word the catalogue does not have ("bostadsbidrag") is read as a compound of
// two words it has ("bostad" + "bidrag", the left part also without a linking s): of the
// possible splits, the one whose rarer part occurs in the most services. Appends the parts as
// compound parts of the same word. (Voikko does this for Finnish; Snowball does not split.)
void AddSwedishCompoundParts(const TextAnalyzer& analyzer, const IndexData& data,
                             std::vector<AnalyzedTerm>* terms) {
  auto df = [&](std::string_view term) -> uint32_t {
    const PostingList* list = data.Find(Language::kSwedish, term);
    return list == nullptr ? 0 : list->live_df;
  };
  auto stem = [&](std::string_view part) -> std::string {
    std::vector<AnalyzedTerm> out;
    analyzer.Analyze(part, Language::kSwedish, &out, nullptr);
    return out.size() == 1 ? out[0].term : std::string();
  };
  constexpr size_t kMinPart = 3;  // bytes
  const size_t count = terms->size();
  for (size_t i = 0; i < count; ++i) {
    const AnalyzedTerm t = (*terms)[i];
    if (t.compound_part || t.term.size() < 2 * kMinPart || df(t.term) > 0) continue;
    std::string best_left, best_right;
    uint32_t best = 0;
    for (size_t cut = kMinPart; cut + kMinPart <= t.term.size(); ++cut) {
      if ((static_cast<unsigned char>(t.term[cut]) & 0xC0) == 0x80) continue;  // inside a letter
      const std::string right = stem(std::string_view(t.term).substr(cut));
      const uint32_t right_df = right.empty() ? 0 : df(right);
      if (right_df <= best) continue;
      std::string_view left = std::string_view(t.term).substr(0, cut);
      for (int linking = 0; linking < 2; ++linking) {
        if (linking == 1) {
          if (left.back() != 's' || left.size() <= kMinPart) break;
          left.remove_suffix(1);
        }
        const std::string left_stem = stem(left);
        const uint32_t d = left_stem.empty() ? 0 : std::min(df(left_stem), right_df);
        if (d > best) {
          best = d;
          best_left = left_stem;
          best_right = right;
        }
      }
    }
    if (best == 0) continue;
    terms->push_back({best_left, t.word, true});
    if (best_right != best_left) terms->push_back({best_right, t.word, true});
  }
}

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

}  // namespace

struct Ranker::QueryTerm {
  Language language;
  std::string term;
  double weight;    // 1, compound part, or translation
  std::string via;  // the code that translated it, or empty
  const PostingList* postings = nullptr;
  double idf = 0;
  float weight_idf = 0;  // weight · idf, as the scoring loop uses it
  float share = 0;       // a grouped translation's share of its word's translations' weight
};

struct Ranker::Query {
  // Per query word (in order): its surface form and its terms.
  struct Word {
    std::string surface;
    std::vector<QueryTerm> terms;
    // Its Finnish translations scored as one term (RankingParameters::structured_translations):
    // weight · idf of the group, from the shares' weighted document frequency.
    float translations_weight_idf = 0;
  };
  std::vector<Word> words;
  TermSets term_sets;
  size_t content_words = 0;
};

namespace {
uint64_t NextRankerId() {
  static std::atomic<uint64_t> ids{0};
  return ++ids;
}
}  // namespace

Ranker::Ranker(const CatalogueIndex* index, RankingParameters parameters,
               const BilingualDictionary* dictionary)
    : index_(index),
      parameters_(std::move(parameters)),
      dictionary_(dictionary),
      id_(NextRankerId()) {
  const CodeLists& codes = index_->codes();
  const TextAnalyzer& analyzer = index_->analyzer();
  std::vector<AnalyzedTerm> terms;
  for (CodeKind kind : {CodeKind::kServiceClass, CodeKind::kTargetGroup, CodeKind::kLifeEvent}) {
    for (const HierarchicalCode& code : codes.codes(kind)) {
      for (int l = 0; l < kLanguageCount; ++l) {
        terms.clear();
        analyzer.Analyze(TextIn(code.name, static_cast<Language>(l)), static_cast<Language>(l),
                         &terms);
        for (const auto& t : terms) {
          // Finnish compound parts count ("eläke" of "kansaneläke"): they are what a Swedish or
          // English word ("pension") corresponds to.
          if (t.compound_part && l != 0) continue;
          auto& list = label_codes_[l][t.term];
          if (std::find(list.begin(), list.end(), code.code) == list.end()) {
            list.push_back(code.code);
          }
          if (l == 0) {
            auto& fi = finnish_label_terms_[code.code];
            if (std::find(fi.begin(), fi.end(), t.term) == fi.end()) fi.push_back(t.term);
          }
        }
      }
    }
  }
  for (auto& [term, list] : label_codes_[0]) std::sort(list.begin(), list.end());
  for (auto& [code, fi] : finnish_label_terms_) std::sort(fi.begin(), fi.end());
}

const std::vector<std::pair<double, std::string>>& Ranker::LexiconTranslations(
    const TranslationLexicon& lexicon, int language, const std::string& term) const {
  // A common word's row has thousands of pairs, and the same words come again and again: the
  // answer is kept until the lexicon changes (per thread, so without a lock; bounded).
  struct Memo {
    uint64_t ranker = 0;
    std::array<uint64_t, kLanguageCount> generation{};
    std::array<absl::node_hash_map<std::string, std::vector<std::pair<double, std::string>>>,
               kLanguageCount>
        terms;
  };
  constexpr size_t kMaxMemoTerms = 20000;
  thread_local Memo memo;
  auto& terms = memo.terms[language];
  if (memo.ranker != id_ || memo.generation[language] != lexicon.generation ||
      terms.size() >= kMaxMemoTerms) {
    if (memo.ranker != id_) {
      for (auto& t : memo.terms) t.clear();
      memo.ranker = id_;
    }
    terms.clear();
    memo.generation[language] = lexicon.generation;
  }
  auto [it, inserted] = terms.try_emplace(term);
  std::vector<std::pair<double, std::string>>& out = it->second;
  if (!inserted) return out;
  const RankingParameters& p = parameters_;
  auto row = lexicon.pairs.find(term);
  auto df = lexicon.foreign_df.find(term);
  if (row == lexicon.pairs.end() || df == lexicon.foreign_df.end() || df->second <= 0) return out;
  std::vector<std::pair<double, const std::string*>> best;
  // Dice >= min_dice needs 2·count >= min_dice·(df + fi_df) and fi_df >= count, so
  // count >= min_dice·df / (2 - min_dice): rarer pairs are passed over without looking up the
  // Finnish term's frequency (a common word has thousands of them). The bound is lowered by a
  // hair so that rounding never skips a pair exactly at it.
  const double min_dice = std::min(p.min_dice, 1.0);
  const double min_count =
      std::max<double>(p.min_pairs, min_dice * df->second / (2.0 - min_dice) * (1 - 1e-9));
  for (const auto& [fi_term, count] : row->second) {
    if (count < min_count) continue;
    auto fdf = lexicon.finnish_df.find(fi_term);
    if (fdf == lexicon.finnish_df.end()) continue;
    const double dice = 2.0 * count / (df->second + fdf->second);
    if (dice >= p.min_dice) best.emplace_back(dice, &fi_term);
  }
  std::sort(best.begin(), best.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  if (best.size() > p.max_lexicon_terms) best.resize(p.max_lexicon_terms);
  for (const auto& [dice, fi_term] : best) out.emplace_back(dice, *fi_term);
  return out;
}

bool Ranker::HasFinnishTerm(const std::vector<QueryTerm>& terms, const std::string& term) {
  return std::any_of(terms.begin(), terms.end(), [&](const QueryTerm& q) {
    return q.language == Language::kFinnish && q.term == term;
  });
}

void Ranker::AddDictionaryTranslations(Language language, const std::vector<AnalyzedTerm>& terms,
                                       size_t split_from, const IndexData& data,
                                       Query* query) const {
  const RankingParameters& p = parameters_;
  const TextAnalyzer& analyzer = index_->analyzer();
  // The query's words in order, by their terms (the parts of hyphenated or split compounds left
  // out): the longest run from each position that is a headword wins ("residence permit" before
  // "residence"), and its translations go to every word of the run.
  std::vector<const AnalyzedTerm*> run;
  for (size_t i = 0; i < split_from; ++i) {
    if (!terms[i].compound_part) run.push_back(&terms[i]);
  }
  // Translations the catalogue does not have are passed over.
  auto in_catalogue = [&](const std::string& term) {
    const PostingList* list = data.Find(Language::kFinnish, term);
    return list != nullptr && list->live_df > 0;
  };
  std::string key;
  for (size_t i = 0; i < run.size();) {
    const std::vector<std::string>* found = nullptr;
    size_t n = std::min(BilingualDictionary::kMaxPhraseTerms, run.size() - i);
    for (; n > 0; --n) {
      key.clear();
      for (size_t j = i; j < i + n; ++j) {
        if (j > i) key += ' ';
        key += run[j]->term;
      }
      found = dictionary_->Find(language, key);
      if (found != nullptr) break;
    }
    if (found == nullptr) {
      ++i;
      continue;
    }
    // The first translations that the catalogue has (the dictionary lists the main sense first;
    // a wrong sense among them weighs little: the word's translations are scored as one term,
    // see Rank).
    std::vector<std::string> chosen;
    size_t translations = 0;
    for (const std::string& translation : *found) {
      if (translations >= p.max_dictionary_terms) break;
      const size_t before = chosen.size();
      // Its base forms (several if Voikko finds the word ambiguous: "tuki" -> "tuki", "tukea"),
      // not its compound parts ("majatalo" is no "talo").
      for (const AnalyzedTerm& t : analyzer.WordTerms(translation, Language::kFinnish)) {
        if (!t.compound_part && in_catalogue(t.term)) chosen.push_back(t.term);
      }
      translations += chosen.size() > before ? 1 : 0;
    }
    for (size_t j = i; j < i + n; ++j) {
      auto& word = query->words[run[j]->word].terms;
      for (const std::string& term : chosen) {
        if (HasFinnishTerm(word, term)) continue;
        word.push_back({Language::kFinnish, term, p.translation_weight * p.dictionary_weight,
                        "dictionary", nullptr, 0});
      }
    }
    i += n;
  }
}

Ranker::Query Ranker::AnalyseQuery(const RankRequest& request, const IndexData* data) const {
  const RankingParameters& p_ = parameters_;
  Query query;
  if (request.text.empty()) return query;
  const TextAnalyzer& analyzer = index_->analyzer();
  std::vector<AnalyzedTerm> terms;
  std::vector<AnalyzedWord> words;
  for (int l = 0; l < kLanguageCount; ++l) {
    const auto language = static_cast<Language>(l);
    terms.clear();
    words.clear();
    analyzer.Analyze(request.text, language, &terms, &words);
    const size_t split_from = terms.size();
    if (language == Language::kSwedish && data != nullptr) {
      AddSwedishCompoundParts(analyzer, *data, &terms);
    }
    if (query.words.size() < words.size()) query.words.resize(words.size());
    for (size_t w = 0; w < words.size(); ++w) query.words[w].surface = words[w].surface;
    for (const auto& t : terms) query.term_sets[l].insert(t.term);
    if (request.language.has_value() && *request.language != language) continue;
    for (size_t i = 0; i < terms.size(); ++i) {
      const AnalyzedTerm& t = terms[i];
      auto& word = query.words[t.word].terms;
      const double weight = t.compound_part ? parameters_.compound_part_weight : 1.0;
      bool seen = false;
      for (const auto& q : word) seen |= q.language == language && q.term == t.term;
      if (!seen) word.push_back({language, t.term, weight, "", nullptr, 0});
      // Swedish and English words reach Finnish texts through the labels of codes that carry
      // the word in their own language ("housing" -> P1 "Asuminen").
      // (The parts of a split Swedish compound are translated like words.)
      if (language == Language::kFinnish || (t.compound_part && i < split_from)) continue;
      if (data != nullptr) {
        // Through the lexicon learnt from the catalogue's parallel texts.
        for (const auto& [dice, fi_term] : LexiconTranslations(data->lexicon[l], l, t.term)) {
          if (HasFinnishTerm(word, fi_term)) continue;
          word.push_back(
              {Language::kFinnish, fi_term, p_.translation_weight * dice, "lexicon", nullptr, 0});
        }
      }
      // Through the code labels: of the Finnish terms of the labels that have the word, those
      // that go with it across the labels (Dice coefficient over the codes: "pension" is in the
      // labels of P13 and P13.1-P13.5, "eläke" in all of them, "ulkomaalainen" in one).
      auto it = label_codes_[l].find(t.term);
      if (it == label_codes_[l].end() || it->second.size() > parameters_.max_label_codes) continue;
      const std::vector<std::string>& word_codes = it->second;
      for (const auto& code : word_codes) {
        auto fi = finnish_label_terms_.find(code);
        if (fi == finnish_label_terms_.end()) continue;
        for (const auto& fi_term : fi->second) {
          if (HasFinnishTerm(word, fi_term)) continue;
          const std::vector<std::string>& term_codes = label_codes_[0].find(fi_term)->second;
          size_t shared = 0;
          for (const auto& c : word_codes) {
            shared += std::binary_search(term_codes.begin(), term_codes.end(), c) ? 1 : 0;
          }
          const double dice = 2.0 * static_cast<double>(shared) /
                              static_cast<double>(word_codes.size() + term_codes.size());
          if (dice < p_.min_label_dice) continue;
          word.push_back(
              {Language::kFinnish, fi_term, p_.translation_weight * dice, code, nullptr, 0});
        }
      }
    }
    if (language != Language::kFinnish && dictionary_ != nullptr && data != nullptr) {
      AddDictionaryTranslations(language, terms, split_from, *data, &query);
    }
  }
  // Words that phrase the request rather than the need carry no weight (their terms still
  // count for crisis detection).
  for (auto& word : query.words) {
    if (IsRequestPhrasing(FoldText(word.surface))) word.terms.clear();
  }
  return query;
}

CrisisSignal Ranker::DetectCrisis(const RankRequest& request) const {
  CrisisSignal signal = CrisisLexicon::FromMeters(request.meters);
  if (!request.text.empty()) {
    Query query = AnalyseQuery(request, nullptr);
    CrisisSignal text = index_->crisis().FromText(query.term_sets);
    if (text.kinds != 0) {
      signal.kinds |= text.kinds;
      signal.reason = signal.reason.empty() ? text.reason : signal.reason + "; " + text.reason;
    }
  }
  return signal;
}

namespace {

// The documents an area filter admits (AreaFilter semantics in common.proto).
DocSet AreaSet(const IndexData& data, const CodeLists& codes,
               const aurora::common::v1::AreaFilter& area) {
  std::vector<std::string> municipalities(area.municipality_codes().begin(),
                                          area.municipality_codes().end());
  for (const auto& c : area.region_codes()) {
    for (auto& m : codes.MunicipalitiesInRegion(c)) municipalities.push_back(std::move(m));
  }
  for (const auto& c : area.hospital_district_codes()) {
    for (auto& m : codes.MunicipalitiesInHospitalDistrict(c))
      municipalities.push_back(std::move(m));
  }
  for (const auto& c : area.wellbeing_service_county_codes()) {
    for (auto& m : codes.MunicipalitiesInWellbeingCounty(c)) municipalities.push_back(std::move(m));
  }
  const bool include_national =
      !area.has_include_national_services() || area.include_national_services();
  DocSet set;
  if (area.only_national_services()) {
    set = data.nationwide;
    return set;
  }
  if (municipalities.empty()) {
    set = data.live;
    if (!include_national) {
      for (size_t i = 0; i < set.words().size() && i < data.nationwide.words().size(); ++i) {
        set.mutable_words()[i] &= ~data.nationwide.words()[i];
      }
    }
    return set;
  }
  bool all_aland = true;
  for (const auto& m : municipalities) {
    if (auto it = data.by_municipality.find(m); it != data.by_municipality.end()) {
      set.UnionWith(it->second);
    }
    all_aland &= codes.IsInAland(m);
  }
  if (include_national) {
    DocSet national = data.nationwide;
    if (all_aland) {
      for (size_t i = 0;
           i < national.words().size() && i < data.nationwide_except_aland.words().size(); ++i) {
        national.mutable_words()[i] &= ~data.nationwide_except_aland.words()[i];
      }
    }
    set.UnionWith(national);
  }
  return set;
}

DocSet UnionOf(const absl::flat_hash_map<std::string, DocSet>& sets,
               const google::protobuf::RepeatedPtrField<std::string>& keys) {
  DocSet set;
  for (const auto& key : keys) {
    if (auto it = sets.find(key); it != sets.end()) set.UnionWith(it->second);
  }
  return set;
}

const char* KindWord(uint8_t kinds) {
  if (kinds & kCrisisMentalHealth) return "mental-health crisis service";
  if (kinds & kCrisisViolence) return "service for victims of violence";
  return "emergency service";
}

std::string CodeName(const CodeLists& codes, CodeKind kind, const std::string& code) {
  const HierarchicalCode* entry = codes.Find(kind, code);
  if (entry == nullptr) return code;
  return absl::StrCat(code, " ", entry->name.en().empty() ? entry->name.fi() : entry->name.en());
}

}  // namespace

RankResult Ranker::Rank(const RankRequest& request) const {
  const RankingParameters& p = parameters_;
  CatalogueIndex::ReadLock lock(*index_);
  const IndexData& data = lock.data();
  const CodeLists& codes = index_->codes();
  RankResult result;
  result.revision = data.revision;
  const size_t n = data.docs.size();

  // --- Admission: filter sets, then per-document eligibility.
  DocSet admitted = data.live;
  const auto& filters = request.filters;
  DocSet area_only = admitted;  // crisis services ignore every filter but the area
  for (size_t i = 0; i < area_only.words().size() && i < data.general_descriptions.words().size();
       ++i) {
    area_only.mutable_words()[i] &= ~data.general_descriptions.words()[i];
  }
  if (!request.only_services.empty()) {
    DocSet only;
    for (const auto& id : request.only_services) {
      if (auto it = data.by_id.find(id); it != data.by_id.end()) only.Set(it->second);
    }
    admitted.IntersectWith(only);
    area_only.IntersectWith(only);
  }
  if (filters.has_area()) {
    DocSet area = AreaSet(data, codes, filters.area());
    admitted.IntersectWith(area);
    area_only.IntersectWith(area);
  }
  if (!request.municipality_code.empty()) {
    aurora::common::v1::AreaFilter home;
    home.add_municipality_codes(request.municipality_code);
    DocSet area = AreaSet(data, codes, home);
    admitted.IntersectWith(area);
    area_only.IntersectWith(area);
  }
  if (!filters.service_classes().empty()) {
    admitted.IntersectWith(UnionOf(data.by_class, filters.service_classes()));
  }
  if (!filters.target_groups().empty()) {
    admitted.IntersectWith(UnionOf(data.by_target_group, filters.target_groups()));
  }
  if (!filters.life_events().empty()) {
    admitted.IntersectWith(UnionOf(data.by_life_event, filters.life_events()));
  }
  if (!filters.funding_types().empty()) {
    DocSet funding;
    for (int f : filters.funding_types()) {
      if (auto it = data.by_funding.find(f); it != data.by_funding.end()) {
        funding.UnionWith(it->second);
      }
    }
    admitted.IntersectWith(funding);
  }
  if (!filters.organization_ids().empty()) {
    admitted.IntersectWith(UnionOf(data.by_organization, filters.organization_ids()));
  }
  // General descriptions (national templates, no provider): by default a template stands in
  // for its service only where the filters admit no service based on it. Checked for the
  // candidates only (a catalogue can have thousands of templates).
  const auto templates_wanted = filters.general_descriptions();
  if (templates_wanted == v1::GENERAL_DESCRIPTIONS_EXCLUDE) {
    for (size_t i = 0; i < admitted.words().size() && i < data.general_descriptions.words().size();
         ++i) {
      admitted.mutable_words()[i] &= ~data.general_descriptions.words()[i];
    }
  }
  // Whether an admitted service is based on template d; answered once per template and query
  // (a template can have thousands of instances, and it is asked for each of its matches).
  std::vector<int8_t> provided_memo(data.template_instances.size(), -1);
  auto provided = [&](uint32_t d) {
    const uint32_t t = data.doc_template[d];
    if (t == IndexData::kNoTemplate) return false;
    if (provided_memo[t] < 0) {
      const auto& instances = data.template_instances[t];
      provided_memo[t] = std::any_of(instances.begin(), instances.end(),
                                     [&](uint32_t instance) { return admitted.Test(instance); });
    }
    return provided_memo[t] == 1;
  };
  auto template_left_out = [&](uint32_t d) {
    return (data.doc_flags[d] & kDocTemplate) != 0 &&
           templates_wanted != v1::GENERAL_DESCRIPTIONS_INCLUDE && provided(d);
  };
  const bool businesses_asked = std::any_of(
      filters.target_groups().begin(), filters.target_groups().end(), [](const std::string& g) {
        return absl::StartsWith(g, "KR2") || absl::StartsWith(g, "KR3");
      });

  // Needs: from the meters, and implied by the life events named.
  std::array<double, kLifeAreaCount> need{};
  std::array<bool, kLifeAreaCount> from_meter{};
  for (int k = 0; k < kLifeAreaCount; ++k) {
    const double m = Mean(MeterAnswers(request.meters, k));
    if (!std::isnan(m)) {
      need[k] = std::clamp(1.0 - m / 10.0, 0.0, 1.0);
      from_meter[k] = true;
    }
  }
  for (const auto& event : request.life_events) {
    for (const auto& [area, weight] : AreasOfLifeEvent(event)) {
      if (!from_meter[area]) need[area] = std::max(need[area], 0.6 * weight);
    }
  }
  std::array<double, kLifeAreaCount> need_weight{};
  for (int k = 0; k < kLifeAreaCount; ++k) {
    need_weight[k] = std::pow(need[k], p.need_exponent);
  }
  bool family_context = false;
  for (const auto& e : request.life_events) {
    family_context |= absl::StartsWith(e, "KE1") && !absl::StartsWith(e, "KE10") &&
                      !absl::StartsWith(e, "KE11") && !absl::StartsWith(e, "KE12") &&
                      !absl::StartsWith(e, "KE13") && !absl::StartsWith(e, "KE14");
    family_context |= e == "KE7" || e == "KE13";
  }
  family_context |= from_meter[4] && need[4] >= 0.3;

  auto eligible = [&](uint32_t d, bool text_matched) {
    const uint8_t f = data.doc_flags[d];
    if (!request.search && (f & kDocBusinessOnly) != 0 && !businesses_asked) return false;
    if (!request.age.has_value() || (f & kDocAgeRestricted) == 0) return true;
    const int age = *request.age;
    return ((f & kDocSeniors) != 0 && age >= p.senior_min_age) ||
           ((f & kDocYouth) != 0 && age <= p.youth_max_age) ||
           ((f & kDocChildren) != 0 && (age <= p.child_max_age || family_context || text_matched));
  };

  // --- Text relevance (BM25F), per query word the best language.
  Query query = AnalyseQuery(request, &data);
  Scratch& s = ThreadScratch();
  s.Reserve(n);
  s.touched_total.clear();
  const double N = static_cast<double>(data.live_count);
  // BM25F: a field's frequency counts w_f · tf / (1 - b_f + b_f · length / average). The
  // factor w_f / (...) per encoded length, for the languages the query reads (postings carry
  // their document's encoded field lengths).
  std::array<bool, kLanguageCount> read{};
  for (const auto& word : query.words) {
    for (const auto& t : word.terms) read[static_cast<int>(t.language)] = true;
  }
  for (int l = 0; l < kLanguageCount; ++l) {
    if (!read[l]) continue;
    for (int f = 0; f < kFieldCount; ++f) {
      const double average =
          data.AverageFieldLength(static_cast<Language>(l), static_cast<Field>(f));
      const std::array<double, 3> of{p.field_weight[f], p.field_b[f], average};
      if (s.length_factor_of[l][f] == of) continue;
      s.length_factor_of[l][f] = of;
      auto& factor = s.length_factor[l][f];
      for (int code = 0; code < 256; ++code) {
        factor[code] = static_cast<float>(
            p.field_weight[f] /
            (1 - p.field_b[f] +
             p.field_b[f] / average * DecodeFieldLength(static_cast<uint8_t>(code))));
      }
    }
  }
  // In single precision throughout (the accumulators are floats): a float division is half
  // the latency of a double one, and this runs once per posting read.
  const auto k1 = static_cast<float>(p.k1);
  // BM25F's pseudo-frequency of a term in a document: Σ_f w_f · tf / (1 - b_f + b_f · len / avg).
  auto term_frequency = [&](const QueryTerm& t, const Posting& posting) -> float {
    const auto& factor = s.length_factor[static_cast<int>(t.language)];
    float tfw = 0;
    for (int f = 0; f < kFieldCount; ++f) {
      tfw += static_cast<float>(posting.tf[f]) * factor[f][posting.length[f]];
    }
    return tfw;
  };
  auto term_score = [&](const QueryTerm& t, const Posting& posting) -> float {
    const float tfw = term_frequency(t, posting);
    return t.weight_idf * tfw / (k1 + tfw);
  };
  // A word counts towards the coverage a match needs only if the catalogue has it in some
  // language (a Finnish word read as Swedish gives a stem nobody uses). A translation into a
  // term that a large share of the services has ("services" -> "palvelu", "voida") says
  // nothing and would touch most of the catalogue: it is left out.
  const double max_translation_df = p.max_translation_df_share * N;
  for (auto& word : query.words) {
    bool known = false;
    for (auto& t : word.terms) {
      t.postings = data.Find(t.language, t.term);
      if (t.postings != nullptr && !t.via.empty() && t.postings->live_df > max_translation_df) {
        t.postings = nullptr;
      }
      if (t.postings != nullptr && t.postings->live_df > 0) {
        const double df = t.postings->live_df;
        t.idf = std::log(1 + (N - df + 0.5) / (df + 0.5));
        t.weight_idf = static_cast<float>(t.weight * t.idf);
        known |= t.via.empty();
      }
    }
    query.content_words += known ? 1 : 0;
    if (!p.structured_translations) continue;
    // A word's Finnish translations act as one term (probabilistic structured queries, Darwish
    // & Oard 2003): its frequency in a document is the translations' frequencies weighted by
    // their shares, its document frequency theirs weighted alike, its weight that of the most
    // confident translation. A wrong, rare translation ("apply" -> "soveltaa") then adds little,
    // where on its own it would have the highest idf of the query.
    double total_weight = 0, max_weight = 0, df = 0;
    for (const auto& t : word.terms) {
      if (t.via.empty() || t.postings == nullptr || t.postings->live_df == 0) continue;
      total_weight += t.weight;
      max_weight = std::max(max_weight, t.weight);
    }
    if (total_weight <= 0) continue;
    for (auto& t : word.terms) {
      if (t.via.empty() || t.postings == nullptr || t.postings->live_df == 0) continue;
      t.share = static_cast<float>(t.weight / total_weight);
      df += t.share * t.postings->live_df;
    }
    word.translations_weight_idf =
        static_cast<float>(max_weight * std::log(1 + (N - df + 0.5) / (df + 0.5)));
  }
  // The coverage rule: a document has a text score only if it matches `words_needed` of the
  // query's content words.
  const size_t words_needed = query.content_words <= 4
                                  ? (query.content_words + 1) / 2
                                  : static_cast<size_t>(std::ceil(0.4 * query.content_words));
  // Words are read cheapest first (fewest postings). Once fewer words are left than the rule
  // needs, a document none of the words so far touched can no longer reach it: the remaining
  // words only add to the documents already touched, and their other postings are skipped
  // unscored. Exact: no document that could have a text score is lost.
  std::vector<std::pair<size_t, size_t>> order;  // postings to read, word
  for (size_t w = 0; w < query.words.size(); ++w) {
    size_t cost = 0;
    for (const auto& t : query.words[w].terms) {
      if (t.postings != nullptr && t.idf > 0) cost += t.postings->postings.size();
    }
    if (cost > 0) order.emplace_back(cost, w);
  }
  std::sort(order.begin(), order.end());
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& word = query.words[order[i].second];
    const bool touched_only = order.size() - i < words_needed;
    s.touched_word.clear();
    for (int l = 0; l < kLanguageCount; ++l) {
      s.touched_lang.clear();
      for (const auto& t : word.terms) {
        if (static_cast<int>(t.language) != l || t.postings == nullptr || t.idf <= 0) continue;
        if (t.share > 0) {
          for (const Posting& posting : t.postings->postings) {
            if (touched_only && s.total[posting.doc] == 0) continue;
            if (!admitted.Test(posting.doc)) continue;
            if (s.group[posting.doc] == 0) s.touched_group.push_back(posting.doc);
            s.group[posting.doc] += t.share * term_frequency(t, posting);
          }
          continue;
        }
        for (const Posting& posting : t.postings->postings) {
          if (touched_only && s.total[posting.doc] == 0) continue;
          if (!admitted.Test(posting.doc)) continue;
          if (s.lang[posting.doc] == 0) s.touched_lang.push_back(posting.doc);
          s.lang[posting.doc] += term_score(t, posting);
        }
      }
      for (uint32_t d : s.touched_group) {
        if (s.lang[d] == 0) s.touched_lang.push_back(d);
        s.lang[d] += word.translations_weight_idf * s.group[d] / (k1 + s.group[d]);
        s.group[d] = 0;
      }
      s.touched_group.clear();
      for (uint32_t d : s.touched_lang) {
        if (s.word[d] == 0) s.touched_word.push_back(d);
        s.word[d] = std::max(s.word[d], s.lang[d]);
        s.lang[d] = 0;
      }
    }
    for (uint32_t d : s.touched_word) {
      if (s.total[d] == 0) s.touched_total.push_back(d);
      s.total[d] += s.word[d];
      ++s.matched_words[d];
      s.word[d] = 0;
    }
  }

  // --- Candidates.
  struct Candidate {
    uint32_t doc;
    double score, text, life_situation, life_event, locality, age_group;
  };
  double top_text = 0;  // the best text score among the documents the coverage rule admits
  for (uint32_t d : s.touched_total) {
    if (s.matched_words[d] >= words_needed && !template_left_out(d)) {
      top_text = std::max<double>(top_text, s.total[d]);
    }
  }
  const double text_floor = std::max(
      p.min_text_score,
      top_text * (request.search ? p.min_relative_text_score : p.min_relative_text_score * 0.8));
  auto text_of = [&](uint32_t d) -> double {
    if (s.total[d] < text_floor || s.matched_words[d] < words_needed) return 0;
    return s.total[d] / top_text;
  };
  // Life situation: Σ_k need_weight_k · relevance_k / max(1, |relevance|), summed from the
  // postings of the needed areas only, for the admitted documents.
  s.touched_life_situation.clear();
  for (int k = 0; k < kLifeAreaCount && !request.search; ++k) {
    if (need_weight[k] <= 0) continue;
    const auto w = static_cast<float>(need_weight[k]);
    for (const AreaPosting& a : data.area_postings[k]) {
      if (!admitted.Test(a.doc)) continue;
      if (s.life_situation[a.doc] == 0) s.touched_life_situation.push_back(a.doc);
      s.life_situation[a.doc] += w * a.weight;
    }
  }
  std::vector<const DocSet*> event_sets;
  for (const auto& e : request.life_events) {
    auto it = data.by_life_event.find(e);
    if (it != data.by_life_event.end()) event_sets.push_back(&it->second);
  }
  auto life_event_of = [&](uint32_t d) {
    double bonus = 0;
    for (const DocSet* set : event_sets) {
      if (set->Test(d)) bonus += p.life_event_bonus;
    }
    return std::min(bonus, p.max_life_event_bonus);
  };
  const DocSet* home = nullptr;
  if (!request.municipality_code.empty()) {
    auto it = data.by_municipality.find(request.municipality_code);
    if (it != data.by_municipality.end()) home = &it->second;
  }
  // Where the person can use the service: with a home municipality, its own services are
  // preferred; a recommendation for someone whose location nobody knows (no municipality, no
  // area filter) prefers what they can use wherever they live, the nationwide services.
  const bool location_unknown =
      !request.search && request.municipality_code.empty() && !filters.has_area();
  auto locality_of = [&](uint32_t d) {
    if (location_unknown) {
      return (data.doc_flags[d] & kDocLocal) == 0 ? p.locality_bonus : 0.0;
    }
    return home != nullptr && (data.doc_flags[d] & kDocLocal) != 0 && home->Test(d)
               ? p.locality_bonus
               : 0.0;
  };

  // A person who gives their age prefers the services aimed at their age group (PTV target
  // groups KR1.2 children, KR1.3 young people, KR1.1 seniors) to those for everyone.
  auto age_group_of = [&](uint32_t d) {
    if (!request.age.has_value()) return 0.0;
    const uint8_t f = data.doc_flags[d];
    const int age = *request.age;
    const bool aimed = ((f & kDocSeniors) != 0 && age >= p.senior_min_age) ||
                       ((f & kDocYouth) != 0 && age <= p.youth_max_age) ||
                       ((f & kDocChildren) != 0 && age <= p.child_max_age);
    return aimed ? p.age_group_bonus : 0.0;
  };

  // --- Crisis services first.
  CrisisSignal crisis = CrisisLexicon::FromMeters(request.meters);
  if (CrisisSignal text = index_->crisis().FromText(query.term_sets); text.kinds != 0) {
    crisis.kinds |= text.kinds;
    crisis.reason = crisis.reason.empty() ? text.reason : crisis.reason + "; " + text.reason;
  }
  std::vector<uint32_t> crisis_docs;
  if (crisis.kinds != 0) {
    result.crisis = crisis.reason;
    const uint8_t wanted = crisis.kinds | kCrisisEmergency;
    const auto& words = area_only.words();
    const auto& crisis_words = data.crisis_services.words();
    for (size_t w = 0; w < words.size() && w < crisis_words.size(); ++w) {
      for (uint64_t bits = words[w] & crisis_words[w]; bits != 0; bits &= bits - 1) {
        const auto d = static_cast<uint32_t>(w * 64 + std::countr_zero(bits));
        const IndexedService& doc = data.docs[d];
        if ((doc.crisis_kinds & wanted) != 0 && !doc.eligibility.business_only) {
          crisis_docs.push_back(d);
        }
      }
    }
    auto key = [&](uint32_t d) {
      const IndexedService& doc = data.docs[d];
      return std::make_tuple((doc.crisis_kinds & crisis.kinds) == 0, locality_of(d) == 0,
                             std::cref(doc.service->id()));
    };
    // Only the first few are shown: a partial sort (a large catalogue has thousands).
    const size_t shown = std::min(crisis_docs.size(), p.max_crisis_services);
    std::partial_sort(crisis_docs.begin(), crisis_docs.begin() + static_cast<ptrdiff_t>(shown),
                      crisis_docs.end(), [&](uint32_t a, uint32_t b) { return key(a) < key(b); });
    crisis_docs.resize(shown);
  }

  auto is_crisis = [&](uint32_t d) {
    return std::find(crisis_docs.begin(), crisis_docs.end(), d) != crisis_docs.end();
  };

  // --- Candidates: each document the text or the needs bring, offered once.
  auto admit = [&](uint32_t d, double text, Candidate* c) {
    if (request.search && text <= 0) return false;
    // (A search has no life situation: its accumulator is not read, a cache miss per match.)
    const double life_situation = request.search ? 0.0 : s.life_situation[d];
    *c = Candidate{d, 0, text, life_situation, event_sets.empty() ? 0 : life_event_of(d), 0, 0};
    const bool need_driven = c->life_situation >= p.min_life_situation_score || c->life_event > 0;
    if (text <= 0 && !need_driven) return false;
    if (!eligible(d, text > 0) || template_left_out(d)) return false;
    c->locality = locality_of(d);
    c->age_group = age_group_of(d);
    return true;
  };
  auto for_each_candidate = [&](auto&& visit) {
    if (!query.words.empty()) {
      for (uint32_t d : s.touched_total) visit(d, text_of(d));
    }
    if (request.search) return;
    // Need-driven: the documents of the needed areas, and those tagged with a requested life
    // event (each once, and not again if the text touched it).
    for (uint32_t d : s.touched_life_situation) {
      if (s.total[d] == 0) visit(d, 0.0);
    }
    if (event_sets.empty()) return;
    const auto& words = admitted.words();
    for (size_t w = 0; w < words.size(); ++w) {
      uint64_t tagged = 0;
      for (const DocSet* set : event_sets) {
        if (w < set->words().size()) tagged |= set->words()[w];
      }
      for (uint64_t bits = words[w] & tagged; bits != 0; bits &= bits - 1) {
        const auto d = static_cast<uint32_t>(w * 64 + std::countr_zero(bits));
        if (d < n && s.total[d] == 0 && s.life_situation[d] == 0) visit(d, 0.0);
      }
    }
  };
  // Recommend with text and needs: the life situation is normalised to the best candidate's.
  const bool has_text = !query.words.empty() && top_text > 0;
  double top_ls = 0;
  if (!request.search && has_text) {
    for_each_candidate([&](uint32_t d, double text) {
      Candidate c;
      if (admit(d, text, &c)) top_ls = std::max(top_ls, c.life_situation);
    });
  }
  // The best `wanted_total` in a bounded heap (the worst on top); crisis services apart.
  auto by_score = [&](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (data.id_keys[a.doc] != data.id_keys[b.doc])
      return data.id_keys[a.doc] < data.id_keys[b.doc];
    return data.docs[a.doc].service->id() < data.docs[b.doc].service->id();
  };
  const size_t wanted_total = std::min(p.max_results, request.offset + request.limit + 1);
  std::vector<Candidate> best, crisis_candidates;
  best.reserve(wanted_total);
  for_each_candidate([&](uint32_t d, double text) {
    Candidate c;
    if (!admit(d, text, &c)) return;
    if (request.search) {
      c.score = c.text + c.locality + c.age_group;
    } else {
      const double ls = top_ls > 0 ? c.life_situation / top_ls : 0;
      c.score = (has_text ? p.text_share * c.text + (1 - p.text_share) * ls : c.life_situation) +
                c.life_event + c.locality + c.age_group;
    }
    if (is_crisis(d)) {
      crisis_candidates.push_back(c);
    } else if (best.size() < wanted_total) {
      best.push_back(c);
      std::push_heap(best.begin(), best.end(), by_score);
    } else if (by_score(c, best.front())) {
      std::pop_heap(best.begin(), best.end(), by_score);
      best.back() = c;
      std::push_heap(best.begin(), best.end(), by_score);
    }
  });
  std::sort_heap(best.begin(), best.end(), by_score);  // best first
  // Reset the scratch buffers for the next query on this thread.
  for (uint32_t d : s.touched_total) {
    s.total[d] = 0;
    s.matched_words[d] = 0;
  }
  for (uint32_t d : s.touched_life_situation) s.life_situation[d] = 0;

  // --- Order: crisis services, then by score, ties by id.
  std::vector<Candidate> ordered;
  for (uint32_t d : crisis_docs) {
    Candidate c{d, 0, 0, 0, 0, locality_of(d), age_group_of(d)};
    for (const auto& other : crisis_candidates) {
      if (other.doc == d) c = other;
    }
    ordered.push_back(c);
  }
  for (auto& c : best) ordered.push_back(c);
  if (ordered.size() > p.max_results) ordered.resize(p.max_results);

  // --- The page, explained.
  const size_t end = std::min(ordered.size(), request.offset + request.limit);
  result.more = ordered.size() > end && end < p.max_results;
  for (size_t i = request.offset; i < end; ++i) {
    const Candidate& c = ordered[i];
    const IndexedService& doc = data.docs[c.doc];
    const dv1::Service& service = *doc.service;
    RankedService out;
    out.service = doc.service;
    out.rank = static_cast<int>(i + 1);
    out.score = c.score;
    if (auto node = data.organization_nodes.find(service.organization_id());
        node != data.organization_nodes.end()) {
      out.provider_node_address = node->second;
    }
    v1::Explanation& e = out.explanation;
    e.set_text_score(c.text);
    e.set_life_situation_score(c.life_situation);
    e.set_life_event_score(c.life_event);
    e.set_locality_bonus(c.locality);
    e.set_age_group_bonus(c.age_group);
    if (std::find(crisis_docs.begin(), crisis_docs.end(), c.doc) != crisis_docs.end()) {
      e.set_crisis(absl::StrCat("placed first: ", crisis.reason, "; this is a ",
                                KindWord(doc.crisis_kinds), ""));
    }
    // Life areas.
    double ls_total = 0;
    for (int k = 0; k < kLifeAreaCount; ++k) {
      ls_total += need_weight[k] * doc.profile.relevance[k];
    }
    for (int k = 0; k < kLifeAreaCount; ++k) {
      if (need[k] <= 0 || doc.profile.relevance[k] <= 0) continue;
      auto* area = e.add_life_areas();
      area->set_area(LifeAreaAt(k));
      area->set_need(need[k]);
      area->set_relevance(doc.profile.relevance[k]);
      switch (doc.profile.source[k]) {
        case AreaSource::kHand:
          area->set_source(v1::Explanation::LABEL_SOURCE_HAND);
          break;
        case AreaSource::kInferred:
          area->set_source(v1::Explanation::LABEL_SOURCE_INFERRED);
          area->set_confidence(doc.profile.confidence[k]);
          break;
        default:
          area->set_source(v1::Explanation::LABEL_SOURCE_MAPPED);
          break;
      }
      for (const auto& code : doc.profile.mapped_from[k]) area->add_mapped_from(code);
      area->set_contribution(ls_total > 0 ? need_weight[k] * doc.profile.relevance[k] / ls_total
                                          : 0);
    }
    // Terms: which query words matched which fields.
    if (c.text > 0) {
      double text_total = 0;
      std::vector<std::pair<v1::Explanation::TermMatch, double>> matches;
      std::vector<std::pair<const QueryTerm*, const Posting*>> found;
      for (const auto& word : query.words) {
        found.clear();
        float group = 0;  // the word's translations' pseudo-frequency, as Rank scored them
        for (const auto& t : word.terms) {
          if (t.postings == nullptr || t.idf <= 0) continue;
          const auto& list = t.postings->postings;
          auto it = std::lower_bound(list.begin(), list.end(), c.doc,
                                     [](const Posting& a, uint32_t d) { return a.doc < d; });
          if (it == list.end() || it->doc != c.doc) continue;
          found.emplace_back(&t, &*it);
          if (t.share > 0) group += t.share * term_frequency(t, *it);
        }
        for (const auto& [t, posting] : found) {
          v1::Explanation::TermMatch m;
          m.set_query_word(word.surface);
          m.set_term(t->term);
          m.set_language(std::string(LanguageCode(t->language)));
          for (int f = 0; f < kFieldCount; ++f) {
            if (posting->tf[f] > 0) m.add_fields(static_cast<v1::Explanation::Field>(f + 1));
          }
          m.set_via(t->via);
          // A grouped translation: its part of the group's score.
          const double score = t->share > 0 ? word.translations_weight_idf / (k1 + group) *
                                                  t->share * term_frequency(*t, *posting)
                                            : term_score(*t, *posting);
          text_total += score;
          matches.emplace_back(std::move(m), score);
        }
      }
      for (auto& [m, score] : matches) {
        m.set_contribution(text_total > 0 ? score / text_total : 0);
        *e.add_terms() = std::move(m);
      }
    }
    // Filters.
    if (doc.local) {
      std::vector<std::string> where;
      auto note = [&](const std::string& m) {
        for (const auto& code : service.municipality_codes()) {
          if (code == m) {
            const Municipality* muni = codes.FindMunicipality(m);
            where.push_back(absl::StrCat(m, " ", muni ? muni->name.fi() : ""));
          }
        }
      };
      if (!request.municipality_code.empty()) note(request.municipality_code);
      if (filters.has_area()) {
        for (const auto& m : filters.area().municipality_codes()) note(m);
      }
      if (!where.empty()) e.add_filters(absl::StrCat("available in ", absl::StrJoin(where, ", ")));
    } else {
      e.add_filters(service.area_type() == dv1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS
                        ? "nationwide service (except the Åland Islands)"
                        : "nationwide service");
    }
    if (doc.general_description) {
      e.add_filters(absl::StrCat("general description (a national template without a provider): ",
                                 provided(c.doc)
                                     ? "general_descriptions INCLUDE"
                                     : "no service based on it is admitted by this request"));
    }
    auto explain_codes = [&](CodeKind kind, const char* what,
                             const google::protobuf::RepeatedPtrField<std::string>& wanted,
                             const google::protobuf::RepeatedPtrField<std::string>& has) {
      for (const auto& w : wanted) {
        for (const auto& h : has) {
          const auto ancestors = codes.WithAncestors(kind, h);
          if (std::find(ancestors.begin(), ancestors.end(), w) != ancestors.end()) {
            e.add_filters(absl::StrCat(what, " ", CodeName(codes, kind, w),
                                       h == w ? "" : absl::StrCat(" (has ", h, ")")));
            break;
          }
        }
      }
    };
    explain_codes(CodeKind::kServiceClass, "service class", filters.service_classes(),
                  service.service_classes());
    explain_codes(CodeKind::kTargetGroup, "target group", filters.target_groups(),
                  service.target_groups());
    explain_codes(CodeKind::kLifeEvent, "life event", filters.life_events(), service.life_events());
    if (!filters.funding_types().empty()) {
      e.add_filters(absl::StrCat("funding ", dv1::FundingType_Name(service.funding_type())));
    }
    if (!filters.organization_ids().empty()) {
      auto name = data.organization_names.find(service.organization_id());
      e.add_filters(absl::StrCat("organisation ", service.organization_id(),
                                 name != data.organization_names.end() ? " " : "",
                                 name != data.organization_names.end() ? name->second : ""));
    }
    for (const auto& event : request.life_events) {
      auto it = data.by_life_event.find(event);
      if (it != data.by_life_event.end() && it->second.Test(c.doc)) e.add_life_events(event);
    }
    // Eligibility.
    const Eligibility& el = doc.eligibility;
    if (!el.age_restricted) {
      e.add_eligibility(el.business_only ? "for businesses and organisations (a search result)"
                                         : "open to people of any age");
    } else {
      std::vector<std::string> groups;
      if (el.youth)
        groups.push_back(absl::StrCat("young people (KR1.3, up to ", p.youth_max_age, ")"));
      if (el.seniors)
        groups.push_back(absl::StrCat("seniors (KR1.1, from ", p.senior_min_age, ")"));
      if (el.children) groups.push_back("children and families (KR1.2)");
      std::string rule = absl::StrCat("for ", absl::StrJoin(groups, " and "));
      if (!request.age.has_value()) {
        absl::StrAppend(&rule, "; no age given, not checked");
      } else {
        absl::StrAppend(&rule, "; age ", *request.age, " admitted");
        if (el.children && *request.age > p.child_max_age) {
          absl::StrAppend(&rule, family_context ? " (family context from the request)"
                                                : " (the text asked for it)");
        }
      }
      e.add_eligibility(rule);
    }
    result.services.push_back(std::move(out));
  }
  return result;
}

}  // namespace aurora::recommender
