#pragma once
// StaticFiles: the files of a folder (the reference web UIs in web/), read into memory once at
// start and served by the gateway at their paths. Only what was found at start is ever served, so
// no request path can reach outside the folder; dot files and folders are left out. Each file has
// its content type (by extension), a strong ETag (SHA-256 of the content) and the cache policy:
// HTML is revalidated on every load, the rest may be cached for an hour and revalidated.
//
// Immutable after Load(); thread-safe.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aurora::gateway {

struct StaticFile {
  std::string body;
  std::string content_type;
  std::string etag;           // "\"<hex of the first 128 bits of SHA-256>\""
  std::string cache_control;  // "no-cache" for HTML, else "public, max-age=3600"
};

class StaticFiles {
 public:
  // Reads every regular file below `folder` (at most `max_bytes` in all). INVALID_ARGUMENT naming
  // the folder when it is not a readable folder or holds more than max_bytes.
  static absl::StatusOr<std::unique_ptr<StaticFiles>> Load(const std::string& folder,
                                                           size_t max_bytes = 32 << 20);

  // The file served at request path `path` (without the query): "/x/y.js" is x/y.js, and a path
  // ending in "/" is its index.html. Null when there is none.
  const StaticFile* Find(std::string_view path) const;

  size_t size() const { return files_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  std::map<std::string, StaticFile, std::less<>> files_;  // by request path ("/index.html")
  size_t bytes_ = 0;
};

}  // namespace aurora::gateway
