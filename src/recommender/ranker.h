#pragma once
// Ranker: answers one recommendation or search over the CatalogueIndex — admits services through
// the precomputed filter sets and the eligibility rules, scores them (BM25F text relevance across
// languages, need-weighted life-area relevance, life events, locality), puts crisis services
// first when the request signals a crisis, and explains every result. Deterministic: ties are
// broken by service id. README "How recommendations are ranked" documents the formulas.
//
// Stateless apart from immutable tables built at construction; thread-safe.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "aurora/recommender/v1/recommender.pb.h"
#include "recommender/bilingual_dictionary.h"
#include "recommender/catalogue_index.h"

namespace aurora::recommender {

// A validated request (the service checks codes, ranges and lengths first).
struct RankRequest {
  aurora::common::v1::LifeSituationAnswers meters;
  std::optional<int> age;
  std::string municipality_code;
  std::vector<std::string> life_events;
  std::string text;
  std::optional<Language> language;  // unset: every language
  aurora::recommender::v1::ServiceFilters filters;
  // Search: text only, services must match the text. Recommend: need-driven candidates too, and
  // services for businesses only are left out.
  bool search = false;
  size_t offset = 0;
  size_t limit = 5;
  // Not from the API: when non-empty, only these services are ranked (a subscription's
  // matching of the services a change put).
  std::vector<std::string> only_services;
};

struct RankedService {
  std::shared_ptr<const aurora::directory::v1::Service> service;
  double score = 0;
  int rank = 0;
  aurora::recommender::v1::Explanation explanation;
  // The providing organisation's node in the network (empty: none registered).
  std::string provider_node_address;
};

struct RankResult {
  std::vector<RankedService> services;  // the requested page
  bool more = false;                    // results after this page
  int64_t revision = 0;
  std::string crisis;  // the crisis signal's reason, if any
};

// Weights and thresholds (README "How recommendations are ranked"); the values were chosen with
// bench/recommender_quality --experiments (bench/README.md).
struct RankingParameters {
  double k1 = 1.2;
  std::array<double, kFieldCount> field_weight = {3.0, 2.5, 2.0, 1.5, 0.5, 1.5, 1.5};
  std::array<double, kFieldCount> field_b = {0.5, 0.5, 0.3, 0.6, 0.75, 0.3, 0.3};
  double compound_part_weight = 1.0;
  double translation_weight = 0.7;
  // A query word found in more code labels than this is too general to translate through them.
  size_t max_label_codes = 8;
  // A label translation needs this Dice coefficient between the word and the Finnish term over
  // the codes whose labels have them.
  double min_label_dice = 0.6;
  // Lexicon translations: at most this many Finnish terms per word, each with a Dice coefficient
  // of at least min_dice over at least min_pairs services.
  size_t max_lexicon_terms = 3;
  double min_dice = 0.2;
  int min_pairs = 2;
  // Dictionary translations (BilingualDictionary): the first max_dictionary_terms Finnish
  // translations of a word or phrase that the catalogue has, each with weight
  // translation_weight · dictionary_weight. (3 instead of 1: +0.003 recall@10 on the judged
  // set, for up to two more Finnish posting lists to read per English or Swedish word.)
  double dictionary_weight = 1.0;
  size_t max_dictionary_terms = 1;
  // A word's Finnish translations scored as one term (see Rank) rather than each on its own.
  bool structured_translations = true;
  // Translations into a term more than this share of the services have are left out.
  double max_translation_df_share = 0.2;
  double need_exponent = 1.5;
  double min_life_situation_score = 0.05;
  double min_text_score = 0.1;            // absolute BM25F floor of a text match
  double min_relative_text_score = 0.25;  // of the best text match
  double text_share = 0.6;                // with text and needs: text vs life situation
  double life_event_bonus = 0.3;          // per requested life event the service is tagged with
  double max_life_event_bonus = 0.6;
  double locality_bonus = 0.5;
  // For a service aimed at the person's age group (see youth_max_age etc.), when the age is known.
  double age_group_bonus = 0.15;
  int youth_max_age = 29;
  int senior_min_age = 60;
  int child_max_age = 17;
  size_t max_crisis_services = 3;
  size_t max_results = 500;  // across all pages
};

class Ranker {
 public:
  // `dictionary` (may be null: none) translates Swedish and English query words into Finnish
  // beside the code labels and the catalogue's own lexicon.
  explicit Ranker(const CatalogueIndex* index, RankingParameters parameters = {},
                  const BilingualDictionary* dictionary = nullptr);

  RankResult Rank(const RankRequest& request) const;

  // Whether a request would signal a crisis (exposed for tests and the compat layer).
  CrisisSignal DetectCrisis(const RankRequest& request) const;

  const RankingParameters& parameters() const { return parameters_; }

 private:
  struct QueryTerm;
  struct Query;
  // `data` (may be null: no lexicon translations) is read under the caller's lock.
  Query AnalyseQuery(const RankRequest& request, const IndexData* data) const;

  // Whether a query word already has `term` as a Finnish term (each translation source adds a
  // term once: the first source that reaches it).
  static bool HasFinnishTerm(const std::vector<QueryTerm>& terms, const std::string& term);

  // Appends to the query's words the dictionary's Finnish translations of the words of
  // `language` (`terms`: the query's terms in it, the first `split_from` of them its own words).
  void AddDictionaryTranslations(Language language, const std::vector<AnalyzedTerm>& terms,
                                 size_t split_from, const IndexData& data, Query* query) const;

  // The lexicon's Finnish terms for a Swedish or English term (best Dice first, at most
  // max_lexicon_terms), memoized per thread for this Ranker and the lexicon's generation.
  const std::vector<std::pair<double, std::string>>& LexiconTranslations(
      const TranslationLexicon& lexicon, int language, const std::string& term) const;

  const CatalogueIndex* index_;
  RankingParameters parameters_;
  const BilingualDictionary* dictionary_;
  const uint64_t id_;  // unique in the process (the per-thread memo's key)
  // Cross-language bridge from the code lists: (language, label term) -> codes whose label in that
  // language has the term (sorted for Finnish; Finnish compound parts included); and each code's
  // Finnish label terms.
  std::array<absl::flat_hash_map<std::string, std::vector<std::string>>, kLanguageCount>
      label_codes_;
  absl::flat_hash_map<std::string, std::vector<std::string>> finnish_label_terms_;
};

}  // namespace aurora::recommender
