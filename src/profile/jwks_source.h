#pragma once
// JwksSource: the identity provider's public keys, from a JWKS file (read once) or from a URL
// (fetched with libcurl at start, then again every `refresh` in the background, so that the
// provider can rotate its keys without a restart of the node). A failed refetch keeps the keys
// already held and is logged; the first fetch must succeed.
//
// URLs must be https://, with the server's certificate verified against the system's CA store
// (or `ca_file`); http:// is accepted only for a loopback host (tests, a provider on the same
// machine). Thread-safe.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profile/jwt.h"

namespace aurora::profile {

struct JwksUrlOptions {
  absl::Duration refresh = absl::Minutes(5);
  absl::Duration timeout = absl::Seconds(5);
  size_t max_bytes = 1 << 20;
  std::string ca_file;  // empty: the system's CA store
};

class JwksSource {
 public:
  static absl::StatusOr<std::unique_ptr<JwksSource>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<JwksSource>> FromUrl(std::string url,
                                                             JwksUrlOptions options = {});
  ~JwksSource();
  JwksSource(const JwksSource&) = delete;
  JwksSource& operator=(const JwksSource&) = delete;

  // The keys held now.
  JwkSet Keys() const;
  // Fetches the URL now and replaces the keys if that works (a file source: no-op, OK).
  absl::Status Refresh();

  // Fetches `url` once (exposed for tests): the body of a 200 answer, at most `max_bytes`.
  static absl::StatusOr<std::string> Fetch(const std::string& url, const JwksUrlOptions& options);

 private:
  explicit JwksSource(JwkSet keys) : keys_(std::move(keys)) {}
  void RefreshLoop();

  std::string url_;  // empty for a file
  JwksUrlOptions options_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  JwkSet keys_;
  std::thread refresher_;
};

}  // namespace aurora::profile
