#pragma once
// CatalogueIndex: the recommender's in-memory index of every live service of the directory.
//
//   * text: per language (fi, sv, en) an inverted index of analysed terms with per-field term
//     frequencies for BM25F over name, alternative names, keywords, summary, description,
//     ontology terms and "classification" (the fi/sv/en labels of the service's classes, target
//     groups and life events — which is what lets an English query reach a Finnish-only service);
//   * filters: precomputed document sets per municipality, nationwide type, service class and
//     target group and life event (each with its ancestors), funding type, and kind, so that a
//     filter is a few set operations, never a scan;
//   * per service: its life-area profile, eligibility (age groups, businesses only), whether it
//     is a crisis or emergency service, and the service record itself.
//
// Documents are numbered densely in insertion order; a changed service gets a new number and the
// old one becomes a tombstone (skipped by queries, compacted when tombstones outnumber the live).
//
// Thread-safety: one writer (the directory follower) and any number of readers. Readers hold a
// ReadLock for the whole query; Upsert/Remove take the exclusive lock only for the insertion
// (analysis happens before it).

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "aurora/directory/v1/directory.pb.h"
#include "common/codelists.h"
#include "recommender/area_classifier.h"
#include "recommender/crisis.h"
#include "recommender/life_areas.h"
#include "recommender/text_analyzer.h"

namespace aurora::recommender {

enum class Field : uint8_t {
  kName = 0,
  kAlternativeName,
  kKeywords,
  kSummary,
  kDescription,
  kOntology,
  kClassification,
};
inline constexpr int kFieldCount = 7;

// The text of `text` in `language` (may be empty).
inline const std::string& TextIn(const aurora::common::v1::LocalizedText& text, Language language) {
  switch (language) {
    case Language::kFinnish:
      return text.fi();
    case Language::kSwedish:
      return text.sv();
    default:
      return text.en();
  }
}

// A growable bit set of document numbers.
class DocSet {
 public:
  void Set(uint32_t doc);
  void Clear(uint32_t doc);
  bool Test(uint32_t doc) const {
    const size_t w = doc >> 6;
    return w < words_.size() && ((words_[w] >> (doc & 63)) & 1) != 0;
  }
  void UnionWith(const DocSet& other);
  void IntersectWith(const DocSet& other);
  size_t Count() const;
  const std::vector<uint64_t>& words() const { return words_; }
  std::vector<uint64_t>& mutable_words() { return words_; }

 private:
  std::vector<uint64_t> words_;
};

// A field's length (words) in one byte: exact up to 96, then in steps of 3 % (within 2 %) up
// to ~10,500 (longer is clamped). Kept in every posting, so that BM25F's length normalisation
// reads the posting list only, not a per-document table (as Lucene keeps its norms).
uint8_t EncodeFieldLength(uint32_t length);
uint32_t DecodeFieldLength(uint8_t code);

struct Posting {
  uint32_t doc;
  std::array<uint8_t, kFieldCount> tf;      // per field, capped at 255
  std::array<uint8_t, kFieldCount> length;  // the document's field lengths, EncodeFieldLength
};

struct PostingList {
  std::vector<Posting> postings;  // ascending doc
  uint32_t live_df = 0;
};

// Who a service is for, from its target groups.
struct Eligibility {
  bool business_only = false;   // only KR2/KR3 groups
  bool age_restricted = false;  // only age-specific citizen groups (below)
  bool seniors = false;         // KR1.1
  bool children = false;        // KR1.2
  bool youth = false;           // KR1.3
};

struct IndexedService {
  std::shared_ptr<const aurora::directory::v1::Service> service;
  bool live = true;
  bool local = false;  // available in listed municipalities only
  bool general_description = false;
  LifeAreaProfile profile;
  float profile_norm = 0;
  // The area classifier generation `profile` was inferred with (CatalogueIndex::
  // SetAreaClassifier); 0: none.
  uint64_t classifier_generation = 0;
  Eligibility eligibility;
  uint8_t crisis_kinds = 0;  // CrisisKind bits
  std::array<std::array<uint16_t, kFieldCount>, kLanguageCount> field_length{};
  // Base forms of the name, alternative name and summary per language, kept for documents that
  // have them in Finnish and in another language (the translation lexicon's evidence).
  std::array<std::vector<std::string>, kLanguageCount> aligned_terms;
  // Every (language, term id) of the document, for tombstoning.
  std::vector<uint32_t> terms;  // language in the top 2 bits
};

// A word lexicon learnt from the catalogue's own parallel texts: for services whose name or
// summary is given both in Finnish and in Swedish (or English), how often each foreign term and
// each Finnish term occur together, and in how many such services each occurs at all. A query
// word translates to the Finnish terms with the highest Dice coefficient 2c/(df_foreign + df_fi).
struct TranslationLexicon {
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, int>> pairs;
  absl::flat_hash_map<std::string, int> foreign_df, finnish_df;
  // Changes with every change of the counts, and is unique in the process: what a reader keys a
  // memo of translations on (0: empty since it was made).
  uint64_t generation = 0;
};

// A service's relevance to one life area divided by max(1, |profile|): what the life-situation
// score sums (Ranker), kept per area so that a request reads only the areas it needs.
struct AreaPosting {
  uint32_t doc;
  float weight;
};

// Bits of IndexData::doc_flags.
enum DocFlag : uint8_t {
  kDocBusinessOnly = 1,
  kDocAgeRestricted = 2,
  kDocSeniors = 4,
  kDocChildren = 8,
  kDocYouth = 16,
  kDocLocal = 32,
  kDocTemplate = 64,  // a general description
};

// Everything a query reads. Not thread-safe by itself: CatalogueIndex guards it.
struct IndexData {
  std::vector<IndexedService> docs;
  // What ranking reads for many documents per query, packed apart from `docs` (a scan then
  // touches a few bytes per document, not a cache line of IndexedService): eligibility and
  // locality bits, the life-area postings (ascending doc).
  std::vector<uint8_t> doc_flags;
  std::vector<uint64_t> id_keys;  // the id's first 8 bytes, big-endian: orders as the id does
  std::array<std::vector<AreaPosting>, kLifeAreaCount> area_postings;
  absl::flat_hash_map<std::string, uint32_t> by_id;  // live documents
  std::array<absl::flat_hash_map<std::string, uint32_t>, kLanguageCount> term_ids;
  std::array<std::vector<PostingList>, kLanguageCount> postings;
  std::array<std::array<double, kFieldCount>, kLanguageCount> total_field_length{};
  size_t live_count = 0;

  DocSet live;
  DocSet nationwide;  // NATIONWIDE and NATIONWIDE_EXCEPT_ALAND_ISLANDS
  DocSet nationwide_except_aland;
  DocSet general_descriptions;
  DocSet crisis_services;  // crisis_kinds != 0
  absl::flat_hash_map<std::string, DocSet> by_municipality;
  absl::flat_hash_map<std::string, DocSet> by_class;         // with ancestors
  absl::flat_hash_map<std::string, DocSet> by_target_group;  // with ancestors
  absl::flat_hash_map<std::string, DocSet> by_life_event;    // with ancestors
  absl::flat_hash_map<int, DocSet> by_funding;
  absl::flat_hash_map<std::string, DocSet> by_organization;
  // General descriptions ("templates"), numbered densely by id as they or services based on
  // them arrive: per document the number of the template it is (kNoTemplate if it is not one),
  // and per template the documents based on it. Append-only like the postings (a replaced or
  // removed document stays listed, but is never live, so never admitted).
  static constexpr uint32_t kNoTemplate = ~0u;
  std::vector<uint32_t> doc_template;
  absl::flat_hash_map<std::string, uint32_t> template_numbers;
  std::vector<std::vector<uint32_t>> template_instances;
  uint32_t TemplateNumber(const std::string& id);                    // assigns one if new
  absl::flat_hash_map<std::string, std::string> organization_names;  // id -> name (fi, sv or en)
  // id -> its node's gRPC address in the network registry (only organisations that set one).
  absl::flat_hash_map<std::string, std::string> organization_nodes;
  std::array<TranslationLexicon, kLanguageCount> lexicon;  // [sv], [en]; [fi] unused
  int64_t revision = 0;

  const PostingList* Find(Language language, std::string_view term) const;
  double AverageFieldLength(Language language, Field field) const;
};

// A service analysed and ready to insert.
struct PreparedService {
  IndexedService doc;
  // Per language: term -> per-field frequency.
  std::array<absl::flat_hash_map<std::string, std::array<uint8_t, kFieldCount>>, kLanguageCount>
      terms;
  std::vector<std::string> municipalities, classes, target_groups, life_events;
};

class CatalogueIndex {
 public:
  CatalogueIndex(const CodeLists* codes, const TextAnalyzer* analyzer, const CrisisLexicon* crisis);
  ~CatalogueIndex();

  // Analysis without the lock (any thread), then insertion under it. Replaces a service with the
  // same id.
  std::unique_ptr<PreparedService> Prepare(const aurora::directory::v1::Service& service) const;
  void Insert(std::unique_ptr<PreparedService> prepared);
  void Upsert(const aurora::directory::v1::Service& service) { Insert(Prepare(service)); }
  void Remove(const std::string& id);
  void SetRevision(int64_t revision);
  void SetOrganizationName(const std::string& id, const std::string& name);
  // Empty `address`: the organisation has no node (any more).
  void SetOrganizationNode(const std::string& id, const std::string& address);
  // The ids of every live service.
  std::vector<std::string> LiveIds() const;
  // Empty if unknown.
  std::string OrganizationName(const std::string& id) const;
  // Rebuilds without tombstones if they outnumber the live documents (and there are > 1000).
  void CompactIfWorthIt();

  // The life-area classifier for the services without hand labels (null: none; the mapping from
  // classes alone). Every live service is profiled again with it: the analysis outside the lock,
  // then the profiles and the life-area postings swapped in under it. Any thread.
  void SetAreaClassifier(std::shared_ptr<const LifeAreaClassifier> classifier);
  std::shared_ptr<const LifeAreaClassifier> area_classifier() const;
  // The classifier's inference for one service (empty: hand-labelled, marked not for the
  // life-situation recommender, or no classifier).
  std::vector<InferredArea> InferAreas(const aurora::directory::v1::Service& service,
                                       const LifeAreaClassifier* classifier) const;

  // Shared access for queries.
  class ReadLock {
   public:
    explicit ReadLock(const CatalogueIndex& index) : lock_(index.mu_), data_(*index.data_) {}
    const IndexData& data() const { return data_; }

   private:
    std::shared_lock<std::shared_mutex> lock_;
    const IndexData& data_;
  };

  size_t size() const;
  int64_t revision() const;
  size_t tombstones() const;

  const CodeLists& codes() const { return *codes_; }
  const TextAnalyzer& analyzer() const { return *analyzer_; }
  const CrisisLexicon& crisis() const { return *crisis_; }

 private:
  void InsertLocked(IndexData& data, PreparedService& prepared);
  void RemoveLocked(IndexData& data, uint32_t doc);
  static void AddToLexicon(IndexData& data, const IndexedService& doc, int delta);
  static void RebuildAreaPostings(IndexData& data);

  const CodeLists* codes_;
  const TextAnalyzer* analyzer_;
  const CrisisLexicon* crisis_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<IndexData> data_;
  mutable std::mutex classifier_mu_;  // guards the two below
  std::shared_ptr<const LifeAreaClassifier> classifier_;
  uint64_t classifier_generation_ = 0;
};

}  // namespace aurora::recommender
