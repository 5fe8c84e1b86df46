#pragma once
// ClientDirectory: what the profile node asks the directory over gRPC — the network's API clients
// (Directory.DescribeApiClient, kept for a short while, so that a consented read does not wait on
// the directory each time; a client revoked in the directory is seen as such within `ttl`), and
// the service channels that take session transfers (ListServices by channel id, not kept).
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

  // The channel and its session transfer declaration; NOT_FOUND if no service has the channel.
  absl::StatusOr<ChannelTarget> LookupChannel(const std::string& channel_id);

  // For ProfileVault.
  ClientLookup AsLookup() {
    return [this](const std::string& client_id) { return Lookup(client_id); };
  }
  ChannelLookup AsChannelLookup() {
    return [this](const std::string& channel_id) { return LookupChannel(channel_id); };
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
