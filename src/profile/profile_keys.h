#pragma once
// The profile node's secret keys, kept in one JSON file (a Kubernetes Secret in production, a
// file in the data dir for the embedded default):
//
//   {"master_key": "<32 bytes, base64url>",
//    "pseudonym_keys": {"1": "<at least 32 bytes, base64url>", "2": "..."},
//    "pseudonym_key_version": 2}
//
// master_key wraps every person's data key (store.h); pseudonym_keys are the PRF keys of the
// pairwise pseudonyms (pseudonym.h), rotated by adding a version and making it current. Losing
// the file loses every profile of the node: back it up apart from the data dir.

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace aurora::profile {

struct ProfileKeys {
  std::string master_key;
  std::map<int, std::string> pseudonym_keys;
  int pseudonym_key_version = 0;

  // Parses and checks the file's contents; INVALID_ARGUMENT naming the field otherwise.
  static absl::StatusOr<ProfileKeys> Parse(std::string_view json);
  // Reads `path`; when it does not exist and `create` is true, makes fresh keys and writes them
  // there (mode 0600) first.
  static absl::StatusOr<ProfileKeys> LoadOrCreate(const std::string& path, bool create);
  std::string ToJson() const;
};

}  // namespace aurora::profile
