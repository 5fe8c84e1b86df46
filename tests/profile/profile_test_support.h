#pragma once
// What the profile tests share: the official code lists of the shared data, loaded once.

#include <catch2/catch.hpp>
#include <string>

#include "common/codelists.h"

namespace aurora::profile::testing {

inline const CodeLists& Codes() {
  static const CodeLists* codes = [] {
    auto loaded = CodeLists::LoadFromDirectory(std::string(AURORA_DATA_DIR) + "/codelists");
    REQUIRE(loaded.ok());
    return new CodeLists(*std::move(loaded));
  }();
  return *codes;
}

}  // namespace aurora::profile::testing
