#pragma once
// Small file helpers for keys and credentials the node writes once and reads at start-up.

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

namespace aurora {

// Writes `content` to `path` through a temporary file that is synced and renamed into place, so
// that a crash leaves either the old file or the whole new one; the file gets `mode` (e.g. 0600
// for secrets) before any byte is written.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode);

// The whole file; NOT_FOUND naming the path if it does not exist, UNAVAILABLE if it cannot be
// read.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace aurora
