#pragma once
// The official code lists for a fuzz target's fixture: from $AURORA_DATA_DIR/codelists, else from
// the AURORA_DATA_DIR the build was configured with. A target that cannot load them stops with
// the reason (FUZZ_CHECK).

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "common/codelists.h"
#include "fuzz_check.h"

#ifndef AURORA_DATA_DIR
#define AURORA_DATA_DIR ""
#endif

inline aurora::CodeLists LoadFuzzCodeLists() {
  const char* env = std::getenv("AURORA_DATA_DIR");
  const std::string data_dir = env != nullptr && *env != '\0' ? env : AURORA_DATA_DIR;
  absl::StatusOr<aurora::CodeLists> codes =
      aurora::CodeLists::LoadFromDirectory(data_dir + "/codelists");
  if (!codes.ok()) {
    std::fprintf(stderr, "cannot load the code lists from %s/codelists (set AURORA_DATA_DIR): %s\n",
                 data_dir.c_str(), codes.status().ToString().c_str());
  }
  FUZZ_CHECK(codes.ok());
  return *std::move(codes);
}
