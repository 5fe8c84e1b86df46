#include "gateway/api_client_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "common/status.h"
#include "common/text.h"

namespace aurora::gateway {
namespace {

absl::Status Unauthenticated() {
  return absl::UnauthenticatedError("invalid API client credentials");
}

}  // namespace

struct ApiClientAuthenticator::Pending {
  grpc::ClientContext context;
  directory::v1::VerifyApiClientRequest request;
  directory::v1::ApiClient response;
};

ApiClientAuthenticator::ApiClientAuthenticator(std::shared_ptr<grpc::Channel> directory,
                                               ApiClientAuthOptions options)
    : stub_(directory::v1::Directory::NewStub(std::move(directory))), options_(options) {}

ApiClientAuthenticator::~ApiClientAuthenticator() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

bool ApiClientAuthenticator::ParseBasic(std::string_view authorization, std::string* client_id,
                                        std::string* secret) {
  constexpr std::string_view kScheme = "basic ";
  if (authorization.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(Sv(authorization.substr(0, kScheme.size())), Sv(kScheme))) {
    return false;
  }
  std::string_view encoded = authorization.substr(kScheme.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  std::string decoded;
  if (encoded.size() > 512 || !absl::Base64Unescape(Sv(encoded), &decoded)) return false;
  size_t colon = decoded.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  *client_id = decoded.substr(0, colon);
  *secret = decoded.substr(colon + 1);
  return !secret->empty();
}

void ApiClientAuthenticator::Authenticate(std::string_view authorization, Done done) {
  std::string client_id, secret;
  if (!ParseBasic(authorization, &client_id, &secret)) {
    done(absl::UnauthenticatedError(
        "expected `Authorization: Basic base64(client_id:client_secret)` with API client "
        "credentials"));
    return;
  }
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.data());
  std::string key = client_id;
  key.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  absl::Time now = absl::Now();
  {
    std::unique_lock lock(mu_);
    auto cached = cache_.find(client_id);
    if (cached != cache_.end() && cached->second.expires > now) {
      if (CRYPTO_memcmp(cached->second.digest.data(), digest.data(), digest.size()) == 0) {
        Caller caller = cached->second.caller;
        lock.unlock();
        done(std::move(caller));
        return;
      }
    }
    auto waiting = pending_.find(key);
    if (waiting != pending_.end()) {
      waiting->second.push_back(std::move(done));
      return;
    }
    if (in_flight_ >= options_.max_in_flight) {
      lock.unlock();
      done(absl::UnavailableError("too many API client verifications under way; retry shortly"));
      return;
    }
    ++in_flight_;
    pending_[key].push_back(std::move(done));
  }
  auto* call = new Pending();
  call->request.set_client_id(client_id);
  call->request.set_client_secret(std::move(secret));
  call->context.set_deadline(absl::ToChronoTime(now + options_.timeout));
  stub_->async()->VerifyApiClient(
      &call->context, &call->request, &call->response,
      [this, call, key, client_id, digest](grpc::Status status) {
        absl::StatusOr<Caller> result;
        if (status.ok()) {
          result = Caller{call->response.organization_id(), call->response.client_id()};
        } else if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
          result = Unauthenticated();
        } else {
          result = absl::UnavailableError(
              absl::StrCat("cannot verify API client credentials: ", status.error_message()));
        }
        delete call;
        Finish(key, std::move(result), client_id, digest);
      });
}

void ApiClientAuthenticator::Finish(const std::string& key, absl::StatusOr<Caller> result,
                                    const std::string& client_id, const Digest& digest) {
  std::vector<Done> waiting;
  {
    std::lock_guard lock(mu_);
    auto found = pending_.find(key);
    if (found != pending_.end()) {
      waiting = std::move(found->second);
      pending_.erase(found);
    }
    if (result.ok()) {
      if (cache_.size() >= options_.max_entries) {
        // Drop expired entries; if none, start afresh rather than grow without bound.
        absl::Time now = absl::Now();
        absl::erase_if(cache_, [now](const auto& entry) { return entry.second.expires <= now; });
        if (cache_.size() >= options_.max_entries) cache_.clear();
      }
      cache_[client_id] = Entry{digest, *result, absl::Now() + options_.ttl};
    }
  }
  for (Done& done : waiting) done(result);
  // Only now may the destructor go on: the waiters above used this object's callers.
  std::lock_guard lock(mu_);
  if (--in_flight_ == 0) idle_.notify_all();
}

}  // namespace aurora::gateway
