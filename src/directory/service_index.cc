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
  const std::string hex = absl::StrFormat("%016x%016x", key[0], key[1]);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20, 12));
}

std::vector<std::string> ServiceIndex::TermsOf(const v1::Service& s) const {
  std::vector<std::string> terms;
  switch (s.area_type()) {
    case v1::AREA_TYPE_NATIONWIDE:
      terms.emplace_back(kNationwide);
      break;
    case v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS:
      terms.emplace_back(kNationwideExceptAland);
      break;
    default:
      terms.emplace_back(kLimited);
      break;
  }
  for (const auto& code : s.municipality_codes()) {
    terms.push_back(absl::StrCat("m:", code));
    if (const Municipality* m = codes_->FindMunicipality(code)) {
      terms.push_back(absl::StrCat("r:", m->region_code));
      terms.push_back(absl::StrCat("h:", m->hospital_district_code));
      terms.push_back(absl::StrCat("w:", m->wellbeing_county_code));
    }
  }
  for (const auto& code : s.service_classes()) {
    for (const auto& c : codes_->WithAncestors(CodeKind::kServiceClass, code)) {
      terms.push_back(absl::StrCat("c:", c));
    }
  }
  for (const auto& code : s.target_groups()) {
    for (const auto& c : codes_->WithAncestors(CodeKind::kTargetGroup, code)) {
      terms.push_back(absl::StrCat("t:", c));
    }
  }
  for (const auto& code : s.life_events()) {
    for (const auto& c : codes_->WithAncestors(CodeKind::kLifeEvent, code)) {
      terms.push_back(absl::StrCat("e:", c));
    }
  }
  if (!s.organization_id().empty()) terms.push_back(absl::StrCat("o:", s.organization_id()));
  for (const auto& lang : s.languages()) terms.push_back(absl::StrCat("l:", lang));
  if (s.funding_type() != v1::FUNDING_TYPE_UNSPECIFIED) {
    terms.push_back(absl::StrCat("f:", static_cast<int>(s.funding_type())));
  }
  return terms;
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

void ServiceIndex::Put(const v1::Service& service) {
  ServiceKey key;
  if (!ParseServiceKey(service.id(), &key)) return;
  const std::vector<std::string> terms = TermsOf(service);
  std::unique_lock lock(mu_);
  RemoveLocked(key);
  Entry entry;
  entry.terms.reserve(terms.size());
  for (const auto& term : terms) entry.terms.push_back(InternLocked(term));
  std::sort(entry.terms.begin(), entry.terms.end());
  entry.terms.erase(std::unique(entry.terms.begin(), entry.terms.end()), entry.terms.end());
  for (uint32_t term : entry.terms) postings_[term].insert(key);
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
  postings_.clear();
}

size_t ServiceIndex::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
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
        std::pair{&request.languages(), "l:"}}) {
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

std::vector<std::string> ServiceIndex::Find(const Query& query, std::string_view after,
                                            size_t limit, bool* more) const {
  *more = false;
  std::vector<std::string> out;
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
      out.push_back(FormatServiceKey(it->first));
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
    out.push_back(FormatServiceKey(key));
  }
  return out;
}

}  // namespace aurora::directory
