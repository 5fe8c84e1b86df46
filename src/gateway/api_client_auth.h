#pragma once
// ApiClientAuthenticator: checks HTTP Basic credentials (API client id and secret) against the
// directory's VerifyApiClient RPC. The directory hashes secrets with PBKDF2 (600k iterations,
// ~0.2 s of CPU), so successful verifications are cached for `ttl` by client id together with a
// SHA-256 of the secret, compared in constant time; concurrent requests with the same credentials
// share one verification; at most `max_in_flight` verifications run at once (more: UNAVAILABLE,
// so a flood of bad credentials cannot occupy the directory). Failures are not cached.
//
// A revoked or rotated client keeps working through this gateway until its cache entry expires
// (at most `ttl`).
//
// Thread-safe.

#include <grpcpp/grpcpp.h>

#include <array>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/directory/v1/directory.grpc.pb.h"

namespace aurora::gateway {

struct Caller {
  std::string organization_id;
  std::string client_id;
};

struct ApiClientAuthOptions {
  absl::Duration ttl = absl::Seconds(60);
  size_t max_entries = 100000;
  int max_in_flight = 4;
  absl::Duration timeout = absl::Seconds(10);
};

class ApiClientAuthenticator {
 public:
  ApiClientAuthenticator(std::shared_ptr<grpc::Channel> directory, ApiClientAuthOptions options);
  // Waits for verifications under way (each is bounded by `timeout`).
  ~ApiClientAuthenticator();

  using Done = std::function<void(absl::StatusOr<Caller>)>;
  // `authorization` is the Authorization header's value. `done` runs exactly once: at once for a
  // cache hit or malformed credentials, otherwise on a gRPC thread. UNAUTHENTICATED for missing,
  // malformed or wrong credentials; UNAVAILABLE when the directory cannot be asked.
  void Authenticate(std::string_view authorization, Done done);

  // Parses "Basic base64(id:secret)"; false when malformed.
  static bool ParseBasic(std::string_view authorization, std::string* client_id,
                         std::string* secret);

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    Digest digest;
    Caller caller;
    absl::Time expires;
  };
  struct Pending;

  void Finish(const std::string& key, absl::StatusOr<Caller> result, const std::string& client_id,
              const Digest& digest);

  std::unique_ptr<directory::v1::Directory::Stub> stub_;
  ApiClientAuthOptions options_;
  std::mutex mu_;
  std::condition_variable idle_;                   // in_flight_ reached 0
  absl::flat_hash_map<std::string, Entry> cache_;  // by client id
  // Verifications under way, by client id + digest, with the callers waiting for them.
  absl::flat_hash_map<std::string, std::vector<Done>> pending_;
  int in_flight_ = 0;
};

}  // namespace aurora::gateway
