#pragma once
// Reads service catalogues in the two formats `aurora import` accepts and turns each record into
// a directory Service (and, where the record names one, its Organization):
//   * kNdjson: the Aurora catalogue format of ../shared/data/services.ndjson, one JSON object per
//     line (fields documented in ../shared/data/SOURCES.md);
//   * kPtv: raw PTV Open API records (../shared/data/raw/ptv_api_kunta_api/services.ndjson), one
//     JSON object per line or one JSON array; channels and organisations are resolved from
//     `servicechannels.ndjson` and `organizations.ndjson` in the same folder when present.
//
// Conversion is syntactic: codes are carried over as given (old PTV URIs are mapped to codes via
// the code lists) and semantic validation is left to the directory, which reports what it rejects.
// Ids that are not UUIDs (e.g. Helsinki's "hel-tpr:123") become name-based UUIDs in
// kCatalogueIdNamespace and keep the original in Service.external_ref. Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aurora/directory/v1/directory.pb.h"
#include "common/codelists.h"

namespace aurora::directory {

enum class CatalogueFormat { kNdjson, kPtv };

// Namespace of the name-based UUIDs given to records whose source id is not a UUID.
inline constexpr std::string_view kCatalogueIdNamespace = "6f0c1a52-3b1e-5c8e-9d27-4a7b2f3e8c10";

struct CatalogueRecord {
  // 1-based line (or array element) number in the file, for messages.
  int64_t line = 0;
  aurora::directory::v1::Service service;
  // The responsible organisation when the record names one (id and name), else id is empty.
  aurora::directory::v1::Organization organization;
};

struct CatalogueReadResult {
  std::vector<CatalogueRecord> records;
  // Records that could not be read at all (malformed JSON, not an object): "line N: why".
  std::vector<std::string> errors;
};

// Parses "ndjson" / "ptv" (as given to --format).
absl::StatusOr<CatalogueFormat> ParseCatalogueFormat(std::string_view name);

// Converts one services.ndjson line.
absl::StatusOr<CatalogueRecord> ParseNdjsonRecord(std::string_view line, const CodeLists& codes);

// Reads a whole file. Fails only when the file cannot be opened; bad records go to `errors`.
absl::StatusOr<CatalogueReadResult> ReadCatalogueFile(const std::string& path,
                                                      CatalogueFormat format,
                                                      const CodeLists& codes);

}  // namespace aurora::directory
