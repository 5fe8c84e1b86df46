#include "common/codelists.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace aurora {
namespace {

using aurora::common::v1::LocalizedText;
using nlohmann::json;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("code list file ", path, " cannot be opened"));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::StatusOr<json> ReadJson(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("code list file ", path, " is not valid JSON"));
  }
  return doc;
}

std::string StringOr(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

LocalizedText TextFrom(const json& obj) {
  LocalizedText text;
  text.set_fi(StringOr(obj, "fi"));
  text.set_sv(StringOr(obj, "sv"));
  text.set_en(StringOr(obj, "en"));
  return text;
}

// {"scheme": ..., "codes": [{"code", "fi", "sv", "en"}]}
absl::Status LoadAreaCodes(const std::string& path, std::map<std::string, AreaCode>* out) {
  auto doc = ReadJson(path);
  if (!doc.ok()) return doc.status();
  auto codes = doc->find("codes");
  if (codes == doc->end() || !codes->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("code list file ", path, " has no \"codes\" array"));
  }
  for (const json& entry : *codes) {
    AreaCode code{StringOr(entry, "code"), TextFrom(entry)};
    if (code.code.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("code list file ", path, ": entry without code"));
    }
    (*out)[code.code] = std::move(code);
  }
  return absl::OkStatus();
}

// [{"code", "parent", "uri", "old_uri", "name": {fi, sv, en}}]
absl::Status LoadHierarchical(const std::string& path, std::vector<HierarchicalCode>* out) {
  auto doc = ReadJson(path);
  if (!doc.ok()) return doc.status();
  if (!doc->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("code list file ", path, " is not a JSON array"));
  }
  for (const json& entry : *doc) {
    HierarchicalCode code;
    code.code = StringOr(entry, "code");
    code.parent = StringOr(entry, "parent");
    code.uri = StringOr(entry, "uri");
    code.old_uri = StringOr(entry, "old_uri");
    if (auto name = entry.find("name"); name != entry.end() && name->is_object()) {
      code.name = TextFrom(*name);
    }
    if (code.code.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("code list file ", path, ": entry without code"));
    }
    out->push_back(std::move(code));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CodeLists> CodeLists::LoadFromDirectory(const std::string& dir) {
  CodeLists lists;
  const std::string csv_path = dir + "/municipalities.csv";
  auto csv = ReadFile(csv_path);
  if (!csv.ok()) return csv.status();
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*csv, '\n')) {
    ++line_no;
    line = absl::StripSuffix(line, "\r");
    if (line.empty() || line_no == 1) continue;  // header
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    if (cells.size() != 7) {
      return absl::InvalidArgumentError(absl::StrCat("code list file ", csv_path, " line ", line_no,
                                                     ": expected 7 columns, got ", cells.size()));
    }
    Municipality m;
    m.code = cells[0];
    m.name.set_fi(cells[1]);
    m.name.set_sv(cells[2]);
    m.name.set_en(cells[3]);
    m.region_code = cells[4];
    m.hospital_district_code = cells[5];
    m.wellbeing_county_code = cells[6];
    lists.municipalities_[m.code] = std::move(m);
  }
  if (lists.municipalities_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("code list file ", csv_path, " has no rows"));
  }
  for (auto [file, target] :
       {std::pair{"regions.json", &lists.regions_},
        std::pair{"hospital_districts.json", &lists.hospital_districts_},
        std::pair{"wellbeing_service_counties.json", &lists.wellbeing_counties_}}) {
    if (auto s = LoadAreaCodes(dir + "/" + file, target); !s.ok()) return s;
  }
  const char* files[3] = {"service_classes.json", "target_groups.json", "life_events.json"};
  for (int k = 0; k < 3; ++k) {
    if (auto s = LoadHierarchical(dir + "/" + files[k], &lists.lists_[k]); !s.ok()) return s;
    for (size_t i = 0; i < lists.lists_[k].size(); ++i) {
      const HierarchicalCode& code = lists.lists_[k][i];
      lists.by_code_[k][code.code] = i;
      if (!code.uri.empty()) lists.by_uri_[k][code.uri] = i;
      if (!code.old_uri.empty()) lists.by_uri_[k][code.old_uri] = i;
    }
  }
  return lists;
}

const Municipality* CodeLists::FindMunicipality(std::string_view code) const {
  auto it = municipalities_.find(std::string(code));
  return it == municipalities_.end() ? nullptr : &it->second;
}

namespace {
const AreaCode* FindIn(const std::map<std::string, AreaCode>& map, std::string_view code) {
  auto it = map.find(std::string(code));
  return it == map.end() ? nullptr : &it->second;
}
}  // namespace

const AreaCode* CodeLists::FindRegion(std::string_view code) const {
  return FindIn(regions_, code);
}
const AreaCode* CodeLists::FindHospitalDistrict(std::string_view code) const {
  return FindIn(hospital_districts_, code);
}
const AreaCode* CodeLists::FindWellbeingCounty(std::string_view code) const {
  return FindIn(wellbeing_counties_, code);
}

const HierarchicalCode* CodeLists::Find(CodeKind kind, std::string_view code) const {
  const int k = static_cast<int>(kind);
  auto it = by_code_[k].find(std::string(code));
  return it == by_code_[k].end() ? nullptr : &lists_[k][it->second];
}

const HierarchicalCode* CodeLists::FindByUri(CodeKind kind, std::string_view uri) const {
  const int k = static_cast<int>(kind);
  auto it = by_uri_[k].find(std::string(uri));
  return it == by_uri_[k].end() ? nullptr : &lists_[k][it->second];
}

std::vector<std::string> CodeLists::WithAncestors(CodeKind kind, std::string_view code) const {
  std::vector<std::string> out;
  const HierarchicalCode* current = Find(kind, code);
  // Bounded by the list size so that a cyclic list cannot loop forever.
  for (size_t depth = 0; current != nullptr && depth <= lists_[static_cast<int>(kind)].size();
       ++depth) {
    out.push_back(current->code);
    current = current->parent.empty() ? nullptr : Find(kind, current->parent);
  }
  return out;
}

std::vector<std::string> CodeLists::MunicipalitiesInRegion(std::string_view code) const {
  std::vector<std::string> out;
  for (const auto& [c, m] : municipalities_) {
    if (m.region_code == code) out.push_back(c);
  }
  return out;
}

std::vector<std::string> CodeLists::MunicipalitiesInHospitalDistrict(std::string_view code) const {
  std::vector<std::string> out;
  for (const auto& [c, m] : municipalities_) {
    if (m.hospital_district_code == code) out.push_back(c);
  }
  return out;
}

std::vector<std::string> CodeLists::MunicipalitiesInWellbeingCounty(std::string_view code) const {
  std::vector<std::string> out;
  for (const auto& [c, m] : municipalities_) {
    if (m.wellbeing_county_code == code) out.push_back(c);
  }
  return out;
}

bool CodeLists::IsInAland(std::string_view municipality_code) const {
  const Municipality* m = FindMunicipality(municipality_code);
  return m != nullptr && m->region_code == kAlandRegionCode;
}

const std::vector<HierarchicalCode>& CodeLists::codes(CodeKind kind) const {
  return lists_[static_cast<int>(kind)];
}

const char* CodeLists::KindName(CodeKind kind) {
  switch (kind) {
    case CodeKind::kServiceClass:
      return "service class";
    case CodeKind::kTargetGroup:
      return "target group";
    case CodeKind::kLifeEvent:
      return "life event";
  }
  return "code";
}

}  // namespace aurora
