#include "directory/service_index.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aurora::directory {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr char kNationwide[] = "nat";
constexpr char kNationwideExceptAland[] = "natx";
constexpr char kLimited[] = "lim";

}  // namespace

bool ParseServiceKey(std::string_view uuid, ServiceKey* key) {
  if (uuid.size() != 36) return false;
  uint64_t parts[2] = {0, 0};
  int nibbles = 0;
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (uuid[i] != '-') return false;
      continue;
    }
    const int v = Hex(uuid[i]);
    if (v < 0) return false;
    parts[nibbles / 16] = (parts[nibbles / 16] << 4) | static_cast<uint64_t>(v);
    ++nibbles;
  }
  (*key)[0] = parts[0];
  (*key)[1] = parts[1];
  return true;
}

std::string FormatServiceKey(const ServiceKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t pos = 0;
  for (int nibble = 0; nibble < 32; ++nibble) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
    const uint64_t part = key[nibble / 16];
    out[pos++] = kHex[(part >> (60 - 4 * (nibble % 16))) & 0xF];
  }
  return out;
}

const std::vector<uint32_t>& ServiceIndex::CodeTermsLocked(char prefix, const std::string& code) {
  std::string key(1, prefix);
  key += code;
  auto found = code_terms_.find(key);
  if (found != code_terms_.end()) return found->second;
  std::vector<std::string> terms;
  const auto with_ancestors = [&](CodeKind kind) {
    for (const auto& c : codes_->WithAncestors(kind, code))
      terms.push_back(std::string(1, prefix) + ":" + c);
  };
  switch (prefix) {
    case 'm':
      terms.push_back("m:" + code);
      if (const Municipality* m = codes_->FindMunicipality(code)) {
        terms.push_back("r:" + m->region_code);
        terms.push_back("h:" + m->hospital_district_code);
        terms.push_back("w:" + m->wellbeing_county_code);
      }
      break;
    case 'c':
      with_ancestors(CodeKind::kServiceClass);
      break;
    case 't':
      with_ancestors(CodeKind::kTargetGroup);
      break;
    case 'e':
      with_ancestors(CodeKind::kLifeEvent);
      break;
    default:
      terms.push_back(std::string(1, prefix) + ":" + code);
      break;
  }
  std::vector<uint32_t> ids;
  ids.reserve(terms.size());
  for (const auto& term : terms) ids.push_back(InternLocked(term));
  return code_terms_.emplace(std::move(key), std::move(ids)).first->second;
}

std::vector<uint32_t> ServiceIndex::TermIdsLocked(const v1::Service& s) {
  std::vector<uint32_t> ids;
  const auto add = [&](char prefix, const std::string& code) {
    const auto& terms = CodeTermsLocked(prefix, code);
    ids.insert(ids.end(), terms.begin(), terms.end());
  };
  switch (s.area_type()) {
    case v1::AREA_TYPE_NATIONWIDE:
      ids.push_back(InternLocked(kNationwide));
      break;
    case v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS:
      ids.push_back(InternLocked(kNationwideExceptAland));
      break;
    default:
      ids.push_back(InternLocked(kLimited));
      break;
  }
  for (const auto& code : s.municipality_codes()) add('m', code);
  for (const auto& code : s.service_classes()) add('c', code);
  for (const auto& code : s.target_groups()) add('t', code);
  for (const auto& code : s.life_events()) add('e', code);
  if (!s.organization_id().empty()) add('o', s.organization_id());
  for (const auto& lang : s.languages()) add('l', lang);
  for (const auto& channel : s.channels()) {
    if (!channel.id().empty()) ids.push_back(InternLocked(absl::StrCat("ch:", channel.id())));
  }
  if (s.funding_type() != v1::FUNDING_TYPE_UNSPECIFIED) {
    add('f', std::to_string(static_cast<int>(s.funding_type())));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

uint32_t ServiceIndex::InternLocked(const std::string& term) {
  auto [it, inserted] = term_ids_.try_emplace(term, static_cast<uint32_t>(postings_.size()));
  if (inserted) postings_.emplace_back();
  return it->second;
}

int64_t ServiceIndex::LookupLocked(const std::string& term) const {
  auto it = term_ids_.find(term);
  return it == term_ids_.end() ? -1 : static_cast<int64_t>(it->second);
}

void ServiceIndex::RemoveLocked(const ServiceKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  for (uint32_t term : it->second.terms) postings_[term].erase(key);
  entries_.erase(it);
}

void ServiceIndex::Put(const v1::Service& service, Bytes bytes) {
  ServiceKey key;
  if (!ParseServiceKey(service.id(), &key)) return;
  std::unique_lock lock(mu_);
  RemoveLocked(key);
  Entry entry;
  entry.terms = TermIdsLocked(service);
  for (uint32_t term : entry.terms) postings_[term].insert(key);
  entry.stored = Stored{std::move(bytes), service.revision(), service.create_revision()};
  entries_.emplace(key, std::move(entry));
}

void ServiceIndex::Remove(std::string_view service_id) {
  ServiceKey key;
  if (!ParseServiceKey(service_id, &key)) return;
  std::unique_lock lock(mu_);
  RemoveLocked(key);
}

void ServiceIndex::Clear() {
  std::unique_lock lock(mu_);
  entries_.clear();
  term_ids_.clear();
  code_terms_.clear();
  postings_.clear();
}

size_t ServiceIndex::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

std::optional<ServiceIndex::Stored> ServiceIndex::Get(std::string_view service_id) const {
  ServiceKey key;
  if (!ParseServiceKey(service_id, &key)) return std::nullopt;
  std::shared_lock lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.stored;
}

ServiceIndex::Query ServiceIndex::Compile(const v1::ListServicesRequest& request) const {
  // Dimensions as term strings first; resolved to ids under the lock.
  std::vector<std::vector<std::string>> dims;
  const auto& area = request.area();
  const bool any_codes = area.municipality_codes_size() + area.region_codes_size() +
                             area.hospital_district_codes_size() +
                             area.wellbeing_service_county_codes_size() >
                         0;
  const bool include_national =
      !area.has_include_national_services() || area.include_national_services();
  if (area.only_national_services()) {
    dims.push_back({kNationwide, kNationwideExceptAland});
  } else if (any_codes || !include_national) {
    std::vector<std::string> terms;
    bool wholly_aland = true;
    for (const auto& c : area.municipality_codes()) {
      terms.push_back(absl::StrCat("m:", c));
      wholly_aland = wholly_aland && codes_->IsInAland(c);
    }
    for (const auto& c : area.region_codes()) {
      terms.push_back(absl::StrCat("r:", c));
      wholly_aland = wholly_aland && c == kAlandRegionCode;
    }
    for (const auto& c : area.hospital_district_codes()) {
      terms.push_back(absl::StrCat("h:", c));
      for (const auto& m : codes_->MunicipalitiesInHospitalDistrict(c)) {
        wholly_aland = wholly_aland && codes_->IsInAland(m);
      }
    }
    for (const auto& c : area.wellbeing_service_county_codes()) {
      terms.push_back(absl::StrCat("w:", c));
      for (const auto& m : codes_->MunicipalitiesInWellbeingCounty(c)) {
        wholly_aland = wholly_aland && codes_->IsInAland(m);
      }
    }
    if (!any_codes) terms.emplace_back(kLimited);  // include_national_services = false alone
    if (include_national) {
      terms.emplace_back(kNationwide);
      if (!wholly_aland) terms.emplace_back(kNationwideExceptAland);
    }
    dims.push_back(std::move(terms));
  }
  for (auto [list, prefix] :
       {std::pair{&request.service_classes(), "c:"}, std::pair{&request.target_groups(), "t:"},
        std::pair{&request.life_events(), "e:"}, std::pair{&request.organization_ids(), "o:"},
        std::pair{&request.languages(), "l:"}, std::pair{&request.channel_ids(), "ch:"}}) {
    if (list->empty()) continue;
    std::vector<std::string> terms;
    for (const auto& code : *list) terms.push_back(absl::StrCat(prefix, code));
    dims.push_back(std::move(terms));
  }
  if (!request.funding_types().empty()) {
    std::vector<std::string> terms;
    for (int f : request.funding_types()) terms.push_back(absl::StrCat("f:", f));
    dims.push_back(std::move(terms));
  }

  Query query;
  std::shared_lock lock(mu_);
  for (const auto& dim : dims) {
    std::vector<uint32_t> ids;
    for (const auto& term : dim) {
      const int64_t id = LookupLocked(term);
      if (id >= 0) ids.push_back(static_cast<uint32_t>(id));
    }
    if (ids.empty()) query.matches_nothing = true;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    query.dimensions.push_back(std::move(ids));
  }
  return query;
}

std::vector<ServiceIndex::Hit> ServiceIndex::Find(const Query& query, std::string_view after,
                                                  size_t limit, bool* more) const {
  *more = false;
  std::vector<Hit> out;
  if (query.matches_nothing || limit == 0) return out;
  ServiceKey cursor{0, 0};
  const bool has_cursor = !after.empty() && ParseServiceKey(after, &cursor);

  std::shared_lock lock(mu_);
  // Term ids are never reused, but a query compiled before Clear() may name ids that are gone.
  for (const auto& dim : query.dimensions) {
    for (uint32_t term : dim) {
      if (term >= postings_.size()) return out;
    }
  }
  const auto matches = [&](const Entry& entry, size_t skip) {
    for (size_t d = 0; d < query.dimensions.size(); ++d) {
      if (d == skip) continue;
      bool any = false;
      for (uint32_t term : query.dimensions[d]) {
        if (std::binary_search(entry.terms.begin(), entry.terms.end(), term)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    return true;
  };

  if (query.dimensions.empty()) {
    auto it = has_cursor ? entries_.upper_bound(cursor) : entries_.begin();
    for (; it != entries_.end(); ++it) {
      if (out.size() == limit) {
        *more = true;
        break;
      }
      out.push_back(Hit{it->first, it->second.stored.bytes});
    }
    return out;
  }

  // Drive with the dimension whose posting lists are smallest in total.
  size_t driver = 0, best = SIZE_MAX;
  for (size_t d = 0; d < query.dimensions.size(); ++d) {
    size_t total = 0;
    for (uint32_t term : query.dimensions[d]) total += postings_[term].size();
    if (total < best) {
      best = total;
      driver = d;
    }
  }
  using Iter = absl::btree_set<ServiceKey>::const_iterator;
  std::vector<std::pair<Iter, Iter>> cursors;
  for (uint32_t term : query.dimensions[driver]) {
    const auto& list = postings_[term];
    cursors.emplace_back(has_cursor ? list.upper_bound(cursor) : list.begin(), list.end());
  }
  // Union of the driver's lists in key order (a linear minimum: dimensions have few terms).
  while (true) {
    const ServiceKey* smallest = nullptr;
    for (auto& [it, end] : cursors) {
      if (it != end && (smallest == nullptr || *it < *smallest)) smallest = &*it;
    }
    if (smallest == nullptr) break;
    const ServiceKey key = *smallest;
    for (auto& [it, end] : cursors) {
      if (it != end && *it == key) ++it;
    }
    auto entry = entries_.find(key);
    if (entry == entries_.end() || !matches(entry->second, driver)) continue;
    if (out.size() == limit) {
      *more = true;
      break;
    }
    out.push_back(Hit{key, entry->second.stored.bytes});
  }
  return out;
}

}  // namespace aurora::directory
