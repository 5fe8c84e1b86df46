#pragma once
// Pairwise pseudonymous identifiers (OpenID Connect's "pairwise" subject type, made with a keyed
// PRF): the same person gets a different, stable id in every sector (every API client by
// default), and nobody without the node's pseudonym key can link two of them or recover the
// person's identifier from one.
//
//   id = UUID(HMAC-SHA-256(key_v, "aurora-pairwise\0" issuer "\0" subject "\0" sector))
//
// The first octet of the UUID carries the key version v (1..255), the version and variant bits
// are those of RFC 9562's UUIDv8 (custom), and the remaining 114 bits come from the HMAC. Keys
// rotate by adding a version: a pseudonym made with an older version stays valid and can be
// checked (Matches) as long as its key is kept, so a service's id for a person does not change
// when the key does; new sectors get the current version.
//
// The node's own records are keyed by a pseudonym too (sector kStoreSector), never by the
// issuer's subject. Immutable after construction; thread-safe.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aurora::profile {

// The sector under which the node keys its own records.
inline constexpr std::string_view kStoreSector = "aurora:profile-store";

class PseudonymKeyring {
 public:
  // `keys`: version (1..255) -> key (at least 32 bytes); `current` must be one of them.
  static absl::StatusOr<PseudonymKeyring> Create(std::map<int, std::string> keys, int current);

  int current_version() const { return current_; }

  // The pseudonym of (issuer, subject) in `sector` under key `version` (0: the current one).
  // INVALID_ARGUMENT for an unknown version or an empty subject or sector.
  absl::StatusOr<std::string> Pseudonym(std::string_view issuer, std::string_view subject,
                                        std::string_view sector, int version = 0) const;

  // The key version a pseudonym was made with (from its first octet), or 0 if `id` is not a
  // canonical UUID of this form.
  static int VersionOf(std::string_view id);

  // True if `id` is the pseudonym of (issuer, subject) in `sector` under the version it carries.
  bool Matches(std::string_view id, std::string_view issuer, std::string_view subject,
               std::string_view sector) const;

 private:
  PseudonymKeyring(std::map<int, std::string> keys, int current)
      : keys_(std::move(keys)), current_(current) {}

  std::map<int, std::string> keys_;
  int current_;
};

}  // namespace aurora::profile
