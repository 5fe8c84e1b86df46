#include "profile/profile_keys.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/secret_hash.h"
#include "common/text.h"
#include "nlohmann/json.hpp"
#include "profile/crypto.h"
#include "profile/pseudonym.h"

namespace aurora::profile {
namespace {

absl::StatusOr<std::string> DecodeKey(const nlohmann::json& value, const std::string& field,
                                      size_t min_bytes, size_t max_bytes) {
  if (!value.is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected a base64url string"));
  }
  auto key = Base64UrlDecode(value.get<std::string>());
  if (!key.ok() || key->size() < min_bytes || key->size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": expected ", min_bytes == max_bytes ? "" : "at least ", min_bytes,
        " bytes in unpadded base64url", key.ok() ? absl::StrCat(", got ", key->size()) : ""));
  }
  return *std::move(key);
}

}  // namespace

absl::StatusOr<ProfileKeys> ProfileKeys::Parse(std::string_view json) {
  const auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("expected a JSON object");
  }
  for (const auto& [name, value] : doc.items()) {
    if (name != "master_key" && name != "pseudonym_keys" && name != "pseudonym_key_version") {
      return absl::InvalidArgumentError(absl::StrCat("unknown field ", QuoteForMessage(name)));
    }
  }
  ProfileKeys keys;
  if (!doc.contains("master_key")) return absl::InvalidArgumentError("master_key: missing");
  auto master = DecodeKey(doc["master_key"], "master_key", kAeadKeyBytes, kAeadKeyBytes);
  if (!master.ok()) return master.status();
  keys.master_key = *std::move(master);
  if (!doc.contains("pseudonym_keys") || !doc["pseudonym_keys"].is_object() ||
      doc["pseudonym_keys"].empty()) {
    return absl::InvalidArgumentError(
        "pseudonym_keys: expected an object of version -> key with at least one entry");
  }
  for (const auto& [version, value] : doc["pseudonym_keys"].items()) {
    int v = 0;
    if (!absl::SimpleAtoi(version, &v) || v < 1 || v > 255) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pseudonym_keys: version ", QuoteForMessage(version), " is not a number 1..255"));
    }
    auto key = DecodeKey(value, absl::StrCat("pseudonym_keys.", version), 32, 1024);
    if (!key.ok()) return key.status();
    keys.pseudonym_keys[v] = *std::move(key);
  }
  if (!doc.contains("pseudonym_key_version") || !doc["pseudonym_key_version"].is_number_integer()) {
    return absl::InvalidArgumentError("pseudonym_key_version: expected an integer");
  }
  keys.pseudonym_key_version = doc["pseudonym_key_version"].get<int>();
  if (!keys.pseudonym_keys.contains(keys.pseudonym_key_version)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pseudonym_key_version: ", keys.pseudonym_key_version, " is not among pseudonym_keys"));
  }
  if (!keys.pseudonym_keys.contains(1)) {
    // The store's own pseudonyms use version 1 (vault.cc): without it no profile can be found.
    return absl::InvalidArgumentError(
        "pseudonym_keys: version 1 must be kept (the node's records are keyed with it)");
  }
  return keys;
}

std::string ProfileKeys::ToJson() const {
  nlohmann::json doc;
  doc["master_key"] = Base64UrlEncode(master_key);
  for (const auto& [version, key] : pseudonym_keys) {
    doc["pseudonym_keys"][std::to_string(version)] = Base64UrlEncode(key);
  }
  doc["pseudonym_key_version"] = pseudonym_key_version;
  return doc.dump(2) + "\n";
}

absl::StatusOr<ProfileKeys> ProfileKeys::LoadOrCreate(const std::string& path, bool create) {
  auto text = ReadFile(path);
  if (absl::IsNotFound(text.status()) && create) {
    ProfileKeys keys;
    keys.master_key = RandomBytes(kAeadKeyBytes);
    keys.pseudonym_keys[1] = RandomBytes(32);
    keys.pseudonym_key_version = 1;
    if (auto s = WriteFileAtomically(path, keys.ToJson(), 0600); !s.ok()) return s;
    return keys;
  }
  if (!text.ok()) return text.status();
  auto keys = Parse(*text);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", keys.status().message()));
  }
  return keys;
}

}  // namespace aurora::profile
