#include "recommender/catalogue_index.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <mutex>

#include "absl/strings/match.h"
#include "common/text.h"

namespace aurora::recommender {
namespace v1 = aurora::directory::v1;

// ---------------------------------------------------------------------------------------------
// DocSet

void DocSet::Set(uint32_t doc) {
  const size_t w = doc >> 6;
  if (w >= words_.size()) words_.resize(w + 1, 0);
  words_[w] |= uint64_t{1} << (doc & 63);
}

void DocSet::Clear(uint32_t doc) {
  const size_t w = doc >> 6;
  if (w < words_.size()) words_[w] &= ~(uint64_t{1} << (doc & 63));
}

void DocSet::UnionWith(const DocSet& other) {
  if (other.words_.size() > words_.size()) words_.resize(other.words_.size(), 0);
  for (size_t i = 0; i < other.words_.size(); ++i) words_[i] |= other.words_[i];
}

void DocSet::IntersectWith(const DocSet& other) {
  if (words_.size() > other.words_.size()) words_.resize(other.words_.size());
  for (size_t i = 0; i < words_.size(); ++i) words_[i] &= other.words_[i];
}

size_t DocSet::Count() const {
  size_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

// ---------------------------------------------------------------------------------------------
// IndexData

const PostingList* IndexData::Find(Language language, std::string_view term) const {
  const int l = static_cast<int>(language);
  auto it = term_ids[l].find(Sv(term));
  if (it == term_ids[l].end()) return nullptr;
  return &postings[l][it->second];
}

namespace {

constexpr uint32_t kExactLengths = 96;
constexpr double kLengthStep = 1.03;

const std::array<uint32_t, 256>& LengthTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t code = 0; code < 256; ++code) {
      t[code] = code <= kExactLengths
                    ? code
                    : static_cast<uint32_t>(
                          std::lround(kExactLengths * std::pow(kLengthStep, code - kExactLengths)));
    }
    return t;
  }();
  return table;
}

}  // namespace

uint8_t EncodeFieldLength(uint32_t length) {
  if (length <= kExactLengths) return static_cast<uint8_t>(length);
  const auto& table = LengthTable();
  // The nearest code (the table ascends).
  const auto above = std::lower_bound(table.begin() + kExactLengths, table.end(), length);
  if (above == table.end()) return 255;
  const auto below = above - 1;
  return static_cast<uint8_t>((length - *below <= *above - length ? below : above) - table.begin());
}

uint32_t DecodeFieldLength(uint8_t code) { return LengthTable()[code]; }

double IndexData::AverageFieldLength(Language language, Field field) const {
  if (live_count == 0) return 1;
  const double avg = total_field_length[static_cast<int>(language)][static_cast<int>(field)] /
                     static_cast<double>(live_count);
  return avg > 0 ? avg : 1;
}

// ---------------------------------------------------------------------------------------------
// Preparation (no lock)

namespace {

void AddText(const TextAnalyzer& analyzer, std::string_view text, Language language, Field field,
             PreparedService& out, std::vector<AnalyzedTerm>& scratch) {
  if (text.empty()) return;
  scratch.clear();
  analyzer.Analyze(text, language, &scratch);
  const int l = static_cast<int>(language);
  const int f = static_cast<int>(field);
  uint32_t length = out.doc.field_length[l][f];
  for (const auto& t : scratch) {
    auto& tf = out.terms[l][t.term];
    if (tf[f] < 255) ++tf[f];
    if (!t.compound_part) ++length;
  }
  out.doc.field_length[l][f] = static_cast<uint16_t>(std::min<uint32_t>(length, 65535));
}

Eligibility EligibilityOf(const v1::Service& service) {
  Eligibility e;
  bool citizens_any_age = false, any_citizen = false, any_other = false;
  for (const auto& group : service.target_groups()) {
    if (absl::StartsWith(group, "KR1")) {
      any_citizen = true;
      if (group == "KR1.1") {
        e.seniors = true;
      } else if (group == "KR1.2") {
        e.children = true;
      } else if (group == "KR1.3") {
        e.youth = true;
      } else {
        citizens_any_age = true;  // KR1 itself, long-term ill, expatriates, disabled
      }
    } else {
      any_other = true;
    }
  }
  e.business_only = any_other && !any_citizen;
  e.age_restricted = any_citizen && !citizens_any_age;
  return e;
}

}  // namespace

void CatalogueIndex::AddToLexicon(IndexData& data, const IndexedService& doc, int delta) {
  const auto& finnish = doc.aligned_terms[0];
  if (finnish.empty()) return;
  for (int l = 1; l < kLanguageCount; ++l) {
    const auto& foreign = doc.aligned_terms[l];
    if (foreign.empty()) continue;
    TranslationLexicon& lexicon = data.lexicon[l];
    static std::atomic<uint64_t> generations{0};
    lexicon.generation = ++generations;
    for (const auto& f : finnish) lexicon.finnish_df[f] += delta;
    for (const auto& e : foreign) {
      lexicon.foreign_df[e] += delta;
      auto& row = lexicon.pairs[e];
      for (const auto& f : finnish) row[f] += delta;
    }
  }
}

CatalogueIndex::CatalogueIndex(const CodeLists* codes, const TextAnalyzer* analyzer,
                               const CrisisLexicon* crisis)
    : codes_(codes), analyzer_(analyzer), crisis_(crisis), data_(std::make_unique<IndexData>()) {}

CatalogueIndex::~CatalogueIndex() = default;

std::unique_ptr<PreparedService> CatalogueIndex::Prepare(const v1::Service& service) const {
  auto out = std::make_unique<PreparedService>();
  auto shared = std::make_shared<v1::Service>(service);
  IndexedService& doc = out->doc;
  doc.local = service.area_type() == v1::AREA_TYPE_LIMITED;
  doc.general_description = service.kind() == v1::SERVICE_KIND_GENERAL_DESCRIPTION;
  {
    std::shared_ptr<const LifeAreaClassifier> classifier;
    {
      std::lock_guard<std::mutex> lock(classifier_mu_);
      classifier = classifier_;
      doc.classifier_generation = classifier_generation_;
    }
    doc.profile = ProfileOf(service, InferAreas(service, classifier.get()));
  }
  doc.profile_norm = doc.profile.Norm();
  doc.eligibility = EligibilityOf(service);

  std::vector<AnalyzedTerm> scratch;
  for (int l = 0; l < kLanguageCount; ++l) {
    const auto language = static_cast<Language>(l);
    AddText(*analyzer_, TextIn(service.name(), language), language, Field::kName, *out, scratch);
    AddText(*analyzer_, TextIn(service.alternative_name(), language), language,
            Field::kAlternativeName, *out, scratch);
    AddText(*analyzer_, TextIn(service.summary(), language), language, Field::kSummary, *out,
            scratch);
    AddText(*analyzer_, TextIn(service.description(), language), language, Field::kDescription,
            *out, scratch);
    // The labels of the service's codes in this language: the bridge between languages.
    auto add_labels = [&](CodeKind kind, const auto& list) {
      for (const auto& code : list) {
        const HierarchicalCode* entry = codes_->Find(kind, code);
        if (entry != nullptr) {
          AddText(*analyzer_, TextIn(entry->name, language), language, Field::kClassification, *out,
                  scratch);
        }
      }
    };
    add_labels(CodeKind::kServiceClass, service.service_classes());
    add_labels(CodeKind::kTargetGroup, service.target_groups());
    add_labels(CodeKind::kLifeEvent, service.life_events());
  }
  TermSets name_terms;
  for (int l = 0; l < kLanguageCount; ++l) {
    const auto language = static_cast<Language>(l);
    for (const auto* text :
         {&TextIn(service.name(), language), &TextIn(service.alternative_name(), language)}) {
      scratch.clear();
      analyzer_->Analyze(*text, language, &scratch);
      for (auto& t : scratch) name_terms[l].insert(std::move(t.term));
    }
  }
  doc.crisis_kinds = crisis_->ServiceKinds(name_terms);
  // Parallel texts for the translation lexicon.
  std::array<std::vector<std::string>, kLanguageCount> aligned;
  for (int l = 0; l < kLanguageCount; ++l) {
    const auto language = static_cast<Language>(l);
    for (const auto* text :
         {&TextIn(service.name(), language), &TextIn(service.alternative_name(), language),
          &TextIn(service.summary(), language)}) {
      scratch.clear();
      analyzer_->Analyze(*text, language, &scratch);
      for (auto& t : scratch) {
        if (t.compound_part) continue;
        if (std::find(aligned[l].begin(), aligned[l].end(), t.term) == aligned[l].end()) {
          aligned[l].push_back(std::move(t.term));
        }
      }
    }
  }
  if (!aligned[0].empty() && (!aligned[1].empty() || !aligned[2].empty())) {
    doc.aligned_terms = std::move(aligned);
  }
  // Keywords and ontology terms are Finnish in the catalogue.
  for (const auto& keyword : service.keywords()) {
    AddText(*analyzer_, keyword, Language::kFinnish, Field::kKeywords, *out, scratch);
  }
  for (const auto& term : service.ontology_terms()) {
    AddText(*analyzer_, term.fi(), Language::kFinnish, Field::kOntology, *out, scratch);
  }

  for (const auto& m : service.municipality_codes()) out->municipalities.push_back(m);
  auto with_ancestors = [this](CodeKind kind, const auto& list, std::vector<std::string>& into) {
    for (const auto& code : list) {
      for (auto& c : codes_->WithAncestors(kind, code)) {
        if (std::find(into.begin(), into.end(), c) == into.end()) into.push_back(std::move(c));
      }
    }
  };
  with_ancestors(CodeKind::kServiceClass, service.service_classes(), out->classes);
  with_ancestors(CodeKind::kTargetGroup, service.target_groups(), out->target_groups);
  with_ancestors(CodeKind::kLifeEvent, service.life_events(), out->life_events);

  doc.service = std::move(shared);
  return out;
}

void CatalogueIndex::Insert(std::unique_ptr<PreparedService> prepared) {
  std::unique_lock lock(mu_);
  InsertLocked(*data_, *prepared);
}

void CatalogueIndex::InsertLocked(IndexData& data, PreparedService& prepared) {
  const std::string& id = prepared.doc.service->id();
  if (auto it = data.by_id.find(id); it != data.by_id.end()) RemoveLocked(data, it->second);
  const auto doc_number = static_cast<uint32_t>(data.docs.size());
  IndexedService& doc = prepared.doc;
  for (int l = 0; l < kLanguageCount; ++l) {
    std::array<uint8_t, kFieldCount> length;
    for (int f = 0; f < kFieldCount; ++f) length[f] = EncodeFieldLength(doc.field_length[l][f]);
    for (const auto& [term, tf] : prepared.terms[l]) {
      auto [it, inserted] = data.term_ids[l].try_emplace(term, data.postings[l].size());
      if (inserted) data.postings[l].emplace_back();
      PostingList& list = data.postings[l][it->second];
      list.postings.push_back({doc_number, tf, length});
      ++list.live_df;
      doc.terms.push_back((static_cast<uint32_t>(l) << 30) | it->second);
    }
    for (int f = 0; f < kFieldCount; ++f) data.total_field_length[l][f] += doc.field_length[l][f];
  }
  AddToLexicon(data, doc, +1);
  data.live.Set(doc_number);
  const auto& service = *doc.service;
  if (service.area_type() == v1::AREA_TYPE_NATIONWIDE ||
      service.area_type() == v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS) {
    data.nationwide.Set(doc_number);
  }
  if (service.area_type() == v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS) {
    data.nationwide_except_aland.Set(doc_number);
  }
  if (doc.general_description) data.general_descriptions.Set(doc_number);
  if (doc.crisis_kinds != 0) data.crisis_services.Set(doc_number);
  for (const auto& m : prepared.municipalities) data.by_municipality[m].Set(doc_number);
  for (const auto& c : prepared.classes) data.by_class[c].Set(doc_number);
  for (const auto& c : prepared.target_groups) data.by_target_group[c].Set(doc_number);
  for (const auto& c : prepared.life_events) data.by_life_event[c].Set(doc_number);
  data.by_funding[service.funding_type()].Set(doc_number);
  if (!service.organization_id().empty()) {
    data.by_organization[service.organization_id()].Set(doc_number);
  }
  if (!service.general_description_id().empty()) {
    data.template_instances[data.TemplateNumber(service.general_description_id())].push_back(
        doc_number);
  }
  data.doc_template.push_back(doc.general_description ? data.TemplateNumber(id)
                                                      : IndexData::kNoTemplate);
  data.by_id[id] = doc_number;
  ++data.live_count;
  const Eligibility& e = doc.eligibility;
  data.doc_flags.push_back(static_cast<uint8_t>(
      (e.business_only ? kDocBusinessOnly : 0) | (e.age_restricted ? kDocAgeRestricted : 0) |
      (e.seniors ? kDocSeniors : 0) | (e.children ? kDocChildren : 0) | (e.youth ? kDocYouth : 0) |
      (doc.local ? kDocLocal : 0) | (doc.general_description ? kDocTemplate : 0)));
  uint64_t id_key = 0;
  for (size_t i = 0; i < 8; ++i) {
    id_key = (id_key << 8) | (i < id.size() ? static_cast<unsigned char>(id[i]) : 0u);
  }
  data.id_keys.push_back(id_key);
  const float inverse_norm = 1.0f / std::max(1.0f, doc.profile_norm);
  for (int k = 0; k < kLifeAreaCount; ++k) {
    if (doc.profile.relevance[k] > 0) {
      data.area_postings[k].push_back({doc_number, doc.profile.relevance[k] * inverse_norm});
    }
  }
  data.docs.push_back(std::move(doc));
}

void CatalogueIndex::RebuildAreaPostings(IndexData& data) {
  for (auto& postings : data.area_postings) postings.clear();
  for (uint32_t d = 0; d < data.docs.size(); ++d) {
    const IndexedService& doc = data.docs[d];
    if (!doc.live) continue;
    const float inverse_norm = 1.0f / std::max(1.0f, doc.profile_norm);
    for (int k = 0; k < kLifeAreaCount; ++k) {
      if (doc.profile.relevance[k] > 0) {
        data.area_postings[k].push_back({d, doc.profile.relevance[k] * inverse_norm});
      }
    }
  }
}

std::vector<InferredArea> CatalogueIndex::InferAreas(const v1::Service& service,
                                                     const LifeAreaClassifier* classifier) const {
  if (classifier == nullptr || !service.life_areas().empty() || service.life_situation_excluded()) {
    return {};
  }
  return classifier->Infer(ClassifierText(service, *analyzer_, *codes_));
}

std::shared_ptr<const LifeAreaClassifier> CatalogueIndex::area_classifier() const {
  std::lock_guard<std::mutex> lock(classifier_mu_);
  return classifier_;
}

void CatalogueIndex::SetAreaClassifier(std::shared_ptr<const LifeAreaClassifier> classifier) {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(classifier_mu_);
    classifier_ = classifier;
    generation = ++classifier_generation_;
  }
  // Profiles of the live services as they are now, outside the lock (the analysis is the cost).
  std::vector<std::shared_ptr<const v1::Service>> services;
  {
    std::shared_lock lock(mu_);
    for (const auto& doc : data_->docs) {
      if (doc.live && !doc.profile.hand_labelled) services.push_back(doc.service);
    }
  }
  absl::flat_hash_map<const v1::Service*, LifeAreaProfile> profiles;
  for (const auto& service : services) {
    profiles.emplace(service.get(), ProfileOf(*service, InferAreas(*service, classifier.get())));
  }
  std::unique_lock lock(mu_);
  for (IndexedService& doc : data_->docs) {
    if (!doc.live || doc.profile.hand_labelled || doc.classifier_generation == generation) continue;
    if (auto it = profiles.find(doc.service.get()); it != profiles.end()) {
      doc.profile = std::move(it->second);
    } else {
      // Inserted meanwhile, perhaps with the classifier before this one.
      doc.profile = ProfileOf(*doc.service, InferAreas(*doc.service, classifier.get()));
    }
    doc.profile_norm = doc.profile.Norm();
    doc.classifier_generation = generation;
  }
  RebuildAreaPostings(*data_);
}

uint32_t IndexData::TemplateNumber(const std::string& id) {
  auto [it, inserted] =
      template_numbers.try_emplace(id, static_cast<uint32_t>(template_instances.size()));
  if (inserted) template_instances.emplace_back();
  return it->second;
}

void CatalogueIndex::Remove(const std::string& id) {
  std::unique_lock lock(mu_);
  auto it = data_->by_id.find(id);
  if (it != data_->by_id.end()) RemoveLocked(*data_, it->second);
}

void CatalogueIndex::RemoveLocked(IndexData& data, uint32_t doc_number) {
  IndexedService& doc = data.docs[doc_number];
  if (!doc.live) return;
  doc.live = false;
  for (uint32_t packed : doc.terms) {
    --data.postings[packed >> 30][packed & ((1u << 30) - 1)].live_df;
  }
  doc.terms.clear();
  doc.terms.shrink_to_fit();
  AddToLexicon(data, doc, -1);
  for (int l = 0; l < kLanguageCount; ++l) {
    for (int f = 0; f < kFieldCount; ++f) data.total_field_length[l][f] -= doc.field_length[l][f];
  }
  data.live.Clear(doc_number);
  data.crisis_services.Clear(doc_number);
  data.by_id.erase(doc.service->id());
  --data.live_count;
}

void CatalogueIndex::SetRevision(int64_t revision) {
  std::unique_lock lock(mu_);
  data_->revision = revision;
}

void CatalogueIndex::SetOrganizationName(const std::string& id, const std::string& name) {
  std::unique_lock lock(mu_);
  data_->organization_names[id] = name;
}

void CatalogueIndex::SetOrganizationNode(const std::string& id, const std::string& address) {
  std::unique_lock lock(mu_);
  if (address.empty()) {
    data_->organization_nodes.erase(id);
  } else {
    data_->organization_nodes[id] = address;
  }
}

std::vector<std::string> CatalogueIndex::LiveIds() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> ids;
  ids.reserve(data_->by_id.size());
  for (const auto& [id, doc] : data_->by_id) ids.push_back(id);
  return ids;
}

std::string CatalogueIndex::OrganizationName(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = data_->organization_names.find(id);
  return it == data_->organization_names.end() ? std::string() : it->second;
}

void CatalogueIndex::CompactIfWorthIt() {
  std::vector<std::shared_ptr<const v1::Service>> live;
  int64_t revision;
  {
    std::shared_lock lock(mu_);
    const size_t dead = data_->docs.size() - data_->live_count;
    if (dead <= 1000 || dead <= data_->live_count) return;
    for (const auto& doc : data_->docs) {
      if (doc.live) live.push_back(doc.service);
    }
    revision = data_->revision;
  }
  // Only the writer calls this, so nothing changes between the copy above and the swap below.
  auto fresh = std::make_unique<IndexData>();
  for (const auto& service : live) {
    auto prepared = Prepare(*service);
    InsertLocked(*fresh, *prepared);
  }
  fresh->revision = revision;
  std::unique_lock lock(mu_);
  fresh->organization_names = std::move(data_->organization_names);
  fresh->organization_nodes = std::move(data_->organization_nodes);
  data_ = std::move(fresh);
}

size_t CatalogueIndex::size() const {
  std::shared_lock lock(mu_);
  return data_->live_count;
}

int64_t CatalogueIndex::revision() const {
  std::shared_lock lock(mu_);
  return data_->revision;
}

size_t CatalogueIndex::tombstones() const {
  std::shared_lock lock(mu_);
  return data_->docs.size() - data_->live_count;
}

}  // namespace aurora::recommender
