#pragma once
// Small text helpers shared by the HTTP server and its request parser (std::string_view versions:
// Debian's Abseil has its own absl::string_view, which std::string_view does not convert to).
// Pure functions; thread-safe.

#include <algorithm>
#include <string_view>

#include "absl/strings/ascii.h"

namespace aurora::gateway {

// ASCII case-insensitive equality, as HTTP header names compare.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return absl::ascii_tolower(static_cast<unsigned char>(x)) ==
                  absl::ascii_tolower(static_cast<unsigned char>(y));
         });
}

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
inline std::string_view StripWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace aurora::gateway
