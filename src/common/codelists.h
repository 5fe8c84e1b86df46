#pragma once
// The official code lists that components validate against and expand filters with:
// municipalities (with their region, hospital district and wellbeing services county), regions,
// hospital districts, wellbeing services counties, PTV service classes, target groups and life
// events (hierarchical, with parents), loaded from a directory such as ../shared/data/codelists.
//
// Immutable after loading; safe to share between threads.

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "aurora/common/v1/common.pb.h"

namespace aurora {

struct Municipality {
  std::string code;  // "091"
  aurora::common::v1::LocalizedText name;
  std::string region_code;             // "01"
  std::string hospital_district_code;  // "25"
  std::string wellbeing_county_code;   // "90"
};

// One entry of a hierarchical code list (service classes, target groups, life events).
struct HierarchicalCode {
  std::string code;     // "P5.7"
  std::string parent;   // "P5", or empty for a main class
  std::string uri;      // http://uri.suomi.fi/codelist/ptv/...
  std::string old_uri;  // http://urn.fi/URN:NBN:fi:au:ptvl:... (older PTV API versions)
  aurora::common::v1::LocalizedText name;
};

// A flat code list (regions, hospital districts, wellbeing services counties).
struct AreaCode {
  std::string code;
  aurora::common::v1::LocalizedText name;
};

enum class CodeKind { kServiceClass, kTargetGroup, kLifeEvent };

class CodeLists {
 public:
  // Reads municipalities.csv, regions.json, hospital_districts.json,
  // wellbeing_service_counties.json, service_classes.json, target_groups.json and
  // life_events.json from `dir`. Errors name the file and what was wrong with it.
  static absl::StatusOr<CodeLists> LoadFromDirectory(const std::string& dir);

  const Municipality* FindMunicipality(std::string_view code) const;
  const AreaCode* FindRegion(std::string_view code) const;
  const AreaCode* FindHospitalDistrict(std::string_view code) const;
  const AreaCode* FindWellbeingCounty(std::string_view code) const;
  const HierarchicalCode* Find(CodeKind kind, std::string_view code) const;
  // Looks a code up by its current or old URI (PTV API records carry URIs).
  const HierarchicalCode* FindByUri(CodeKind kind, std::string_view uri) const;

  // The code and all its ancestors, the code first ("P5.7" -> {"P5.7", "P5"}). Empty if unknown.
  std::vector<std::string> WithAncestors(CodeKind kind, std::string_view code) const;

  // Municipality codes of a region / hospital district / wellbeing county (sorted).
  std::vector<std::string> MunicipalitiesInRegion(std::string_view code) const;
  std::vector<std::string> MunicipalitiesInHospitalDistrict(std::string_view code) const;
  std::vector<std::string> MunicipalitiesInWellbeingCounty(std::string_view code) const;

  // True for the municipalities of the Åland Islands (region 21).
  bool IsInAland(std::string_view municipality_code) const;

  const std::map<std::string, Municipality>& municipalities() const { return municipalities_; }
  const std::vector<HierarchicalCode>& codes(CodeKind kind) const;

  static const char* KindName(CodeKind kind);

 private:
  std::map<std::string, Municipality> municipalities_;
  std::map<std::string, AreaCode> regions_, hospital_districts_, wellbeing_counties_;
  std::vector<HierarchicalCode> lists_[3];
  absl::flat_hash_map<std::string, size_t> by_code_[3];
  absl::flat_hash_map<std::string, size_t> by_uri_[3];
};

// The region code of the Åland Islands.
inline constexpr std::string_view kAlandRegionCode = "21";

}  // namespace aurora
