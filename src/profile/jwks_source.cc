#include "profile/jwks_source.h"

#include <curl/curl.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/text.h"

namespace aurora::profile {
namespace {

struct Body {
  std::string data;
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t Append(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t bytes = size * count;
  if (body->data.size() + bytes > body->max_bytes) {
    body->too_large = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  body->data.append(data, bytes);
  return bytes;
}

// http:// only to this machine; everything else must be https://.
absl::Status CheckScheme(const std::string& url) {
  if (absl::StartsWith(Sv(url), "https://")) return absl::OkStatus();
  for (const char* loopback : {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:",
                               "http://localhost/", "http://[::1]:", "http://[::1]/"}) {
    if (absl::StartsWith(Sv(url), loopback)) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "JWKS URL ", QuoteForMessage(url), ": must be https:// (http:// only to a loopback host)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<JwksSource>> JwksSource::FromFile(const std::string& path) {
  auto keys = JwkSet::LoadFile(path);
  if (!keys.ok()) return keys.status();
  return std::unique_ptr<JwksSource>(new JwksSource(*std::move(keys)));
}

absl::StatusOr<std::string> JwksSource::Fetch(const std::string& url,
                                              const JwksUrlOptions& options) {
  if (auto s = CheckScheme(url); !s.ok()) return s;
  static std::once_flag curl_initialised;
  std::call_once(curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("libcurl could not make a handle");
  Body body;
  body.max_bytes = options.max_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.timeout)));
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty())
    curl_easy_setopt(curl.get(), CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(curl.get());
  if (body.too_large) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JWKS URL ", QuoteForMessage(url), ": the answer is over ", options.max_bytes, " bytes"));
  }
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("JWKS URL ", QuoteForMessage(url), ": ",
                                               error[0] != 0 ? error : curl_easy_strerror(code)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return absl::UnavailableError(
        absl::StrCat("JWKS URL ", QuoteForMessage(url), ": HTTP status ", status));
  }
  return std::move(body.data);
}

absl::StatusOr<std::unique_ptr<JwksSource>> JwksSource::FromUrl(std::string url,
                                                                JwksUrlOptions options) {
  auto text = Fetch(url, options);
  if (!text.ok()) return text.status();
  auto keys = JwkSet::Parse(*text);
  if (!keys.ok()) {
    return absl::Status(keys.status().code(), absl::StrCat("JWKS URL ", QuoteForMessage(url), ": ",
                                                           keys.status().message()));
  }
  std::unique_ptr<JwksSource> source(new JwksSource(*std::move(keys)));
  source->url_ = std::move(url);
  source->options_ = std::move(options);
  source->refresher_ = std::thread([s = source.get()] { s->RefreshLoop(); });
  return source;
}

JwksSource::~JwksSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

JwkSet JwksSource::Keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

absl::Status JwksSource::Refresh() {
  if (url_.empty()) return absl::OkStatus();
  auto text = Fetch(url_, options_);
  if (!text.ok()) return text.status();
  auto keys = JwkSet::Parse(*text);
  if (!keys.ok()) return keys.status();
  std::lock_guard<std::mutex> lock(mu_);
  keys_ = *std::move(keys);
  return absl::OkStatus();
}

void JwksSource::RefreshLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.refresh),
                            [this] { return stopping_; })) {
    lock.unlock();
    if (auto s = Refresh(); !s.ok()) {
      LogWarning("profile", "refetching the identity provider's keys failed; keeping the old ones",
                 {{"error", std::string(s.message())}});
    }
    lock.lock();
  }
}

}  // namespace aurora::profile
