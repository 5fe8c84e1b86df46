#pragma once
// Small, dependency-free checks on text used at every API boundary: UTF-8 validity, length in
// code points, control characters, and UUID syntax. Pure functions; thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace aurora {

// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0),
// which does not convert from std::string_view. Pass std::string_view to Abseil through Sv().
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view StdSv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// Number of Unicode code points in `text`, or nullopt if it is not valid UTF-8 (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
std::optional<size_t> Utf8Length(std::string_view text);

// True if `text` contains a C0 control character or DEL; tab, LF and CR are allowed when
// `allow_newlines` is true.
bool HasControlCharacters(std::string_view text, bool allow_newlines);

// True for a canonical UUID: 36 characters, lowercase hex digits, hyphens at 8-4-4-4-12.
bool IsCanonicalUuid(std::string_view text);

// A random (version 4) UUID in canonical form, from OpenSSL's CSPRNG.
std::string NewRandomUuid();

// A name-based (version 5, SHA-1) UUID of `name` in the namespace `namespace_uuid` (canonical).
std::string NameBasedUuid(std::string_view namespace_uuid, std::string_view name);

// `text` quoted for an error message: at most `max_chars` bytes (cut on a UTF-8 boundary, with
// "..." appended), invalid UTF-8 and control bytes shown as \xNN, inside double quotes.
std::string QuoteForMessage(std::string_view text, size_t max_chars = 80);

}  // namespace aurora
