#pragma once
// The client side of `aurora import` (and of `aurora serve --demo`): reads catalogue files,
// registers the organisations they name, and streams the services to Directory.ImportServices
// in batches, reporting progress. Not thread-safe; one import at a time per object.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "directory/catalogue_format.h"
#include "common/codelists.h"

namespace aurora::node {

struct ImportSummary {
  int64_t records = 0;     // read from the files
  int64_t unreadable = 0;  // lines that were not records at all
  int64_t organizations_registered = 0;
  int64_t created = 0, updated = 0, unchanged = 0, rejected = 0;
  int64_t revision = 0;               // directory revision after the import
  std::vector<std::string> problems;  // "file:line: why" for unreadable and rejected records
};

struct ImportOptions {
  directory::CatalogueFormat format = directory::CatalogueFormat::kNdjson;
  int batch_size = 500;
  // Deadline of the whole import (each organisation registration gets at most 30 s of it).
  std::chrono::seconds timeout{600};
  // Called after each batch with (records sent, records total).
  std::function<void(int64_t, int64_t)> progress;
};

absl::StatusOr<ImportSummary> ImportCatalogueFiles(
    aurora::directory::v1::Directory::StubInterface* stub, const std::vector<std::string>& files,
    const CodeLists& codes, const ImportOptions& options);

// A one-line text progress bar for terminals ("\r[=====>     ]  1234/3088").
std::string ProgressBar(int64_t done, int64_t total, int width = 30);

}  // namespace aurora::node
