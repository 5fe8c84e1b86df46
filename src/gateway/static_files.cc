#include "gateway/static_files.h"

#include <openssl/sha.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace aurora::gateway {
namespace {

std::string ContentType(const std::filesystem::path& path) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".webmanifest", "application/manifest+json"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
  };
  auto it = kTypes.find(absl::AsciiStrToLower(path.extension().string()));
  return it != kTypes.end() ? it->second : "application/octet-stream";
}

std::string Etag(const std::string& body) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
  return absl::StrCat(
      "\"", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 16)), "\"");
}

}  // namespace

absl::StatusOr<std::unique_ptr<StaticFiles>> StaticFiles::Load(const std::string& folder,
                                                               size_t max_bytes) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web-root: \"", folder, "\" is not a folder"));
  }
  auto out = std::unique_ptr<StaticFiles>(new StaticFiles());
  const fs::path root = fs::canonical(folder, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web-root: \"", folder, "\": ", error.message()));
  }
  fs::recursive_directory_iterator it(root, fs::directory_options::none, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    const fs::path relative = fs::relative(it->path(), root);
    const std::string name = relative.filename().string();
    if (!name.empty() && name.front() == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in && !in.eof()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--web-root: cannot read \"", it->path().string(), "\""));
    }
    StaticFile file;
    file.body = content.str();
    out->bytes_ += file.body.size();
    if (out->bytes_ > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("--web-root: \"", folder,
                                                      "\" holds more than ", max_bytes >> 20,
                                                      " MiB; serve large files elsewhere"));
    }
    file.content_type = ContentType(relative);
    file.etag = Etag(file.body);
    file.cache_control = absl::StartsWith(file.content_type, "text/html")
                             ? "no-cache"
                             : "public, max-age=3600";
    out->files_.emplace("/" + relative.generic_string(), std::move(file));
  }
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web-root: reading \"", folder, "\": ", error.message()));
  }
  return out;
}

const StaticFile* StaticFiles::Find(std::string_view path) const {
  std::string key(path);
  if (key.empty() || key.back() == '/') key += "index.html";
  auto it = files_.find(key);
  return it != files_.end() ? &it->second : nullptr;
}

}  // namespace aurora::gateway
