#pragma once
// ClientDirectory: the profile node's view of the network's API clients, read from the directory
// over gRPC (Directory.DescribeApiClient) and kept for a short while, so that a consented read
// does not wait on the directory each time. A client revoked in the directory is seen as such
// within `ttl`.
//
// Thread-safe.

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "profile/vault.h"

namespace aurora::profile {

class ClientDirectory {
 public:
  // `directory` gives the channel to the directory when the first lookup needs it (a node's
  // in-process channel exists only once its server runs).
  explicit ClientDirectory(std::function<std::shared_ptr<grpc::Channel>()> directory,
                           absl::Duration ttl = absl::Seconds(30),
                           absl::Duration deadline = absl::Seconds(5));

  // NOT_FOUND if the directory has no such client; UNAVAILABLE if it cannot be asked (and nothing
  // fresh enough is kept).
  absl::StatusOr<ServiceClient> Lookup(const std::string& client_id);

  // For ProfileVault.
  ClientLookup AsLookup() {
    return [this](const std::string& client_id) { return Lookup(client_id); };
  }

 private:
  struct Entry {
    ServiceClient client;
    absl::Time fetched;
  };
  aurora::directory::v1::Directory::Stub* Stub();

  std::function<std::shared_ptr<grpc::Channel>()> directory_;
  std::once_flag stub_once_;
  std::unique_ptr<aurora::directory::v1::Directory::Stub> stub_;
  const absl::Duration ttl_, deadline_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_;  // bounded: cleared when it grows past 10,000
};

}  // namespace aurora::profile
