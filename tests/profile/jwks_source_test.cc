// JwksSource against a real HTTP server on 127.0.0.1 (the gateway's): the identity provider's
// keys fetched with libcurl, rotated without a restart, failures keeping the keys already held.

#include "profile/jwks_source.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gateway/http_server.h"
#include "profile/dev_issuer.h"

namespace aurora::profile {
namespace {

// Serves whatever `body` and `status` say at any path.
class KeyServer {
 public:
  KeyServer() {
    server_ = std::make_unique<gateway::HttpServer>(
        gateway::HttpServerOptions{},
        [this](gateway::HttpRequest&&, std::shared_ptr<gateway::HttpExchange> exchange) {
          gateway::HttpResponse response;
          std::lock_guard<std::mutex> lock(mu_);
          response.status = status_;
          response.headers.push_back({"Content-Type", "application/json"});
          response.body = body_;
          ++requests_;
          exchange->Send(std::move(response));
        });
    REQUIRE(server_->Start("127.0.0.1:0").ok());
  }
  ~KeyServer() { server_->Shutdown(absl::ZeroDuration()); }

  void Serve(std::string body, int status = 200) {
    std::lock_guard<std::mutex> lock(mu_);
    body_ = std::move(body);
    status_ = status;
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", server_->port(), "/jwks"); }

 private:
  std::mutex mu_;
  std::string body_;
  int status_ = 200;
  int requests_ = 0;
  std::unique_ptr<gateway::HttpServer> server_;
};

std::unique_ptr<DevIssuer> Issuer() {
  auto issuer = DevIssuer::Create("https://id.example");
  REQUIRE(issuer.ok());
  return *std::move(issuer);
}

std::string Token(const DevIssuer& issuer) {
  DevTokenRequest request;
  request.subject = "person";
  request.audience = "aurora";
  auto token = issuer.Issue(request, absl::Now());
  REQUIRE(token.ok());
  return *token;
}

TEST_CASE("keys from a URL verify tokens and rotate without a restart", "[profile][jwks]") {
  KeyServer server;
  auto first = Issuer(), second = Issuer();
  server.Serve(first->JwksJson());
  JwksUrlOptions options;
  options.refresh = absl::Hours(1);  // refreshed by hand below
  auto source = JwksSource::FromUrl(server.url(), options);
  REQUIRE(source.ok());
  JwtVerifierOptions verify;
  verify.issuer = "https://id.example";
  verify.audience = "aurora";
  JwksSource* keys = source->get();
  const JwtVerifier verifier(std::function<JwkSet()>([keys] { return keys->Keys(); }), verify);
  CHECK(verifier.Verify(Token(*first), absl::Now()).ok());
  CHECK_FALSE(verifier.Verify(Token(*second), absl::Now()).ok());

  // The provider rotates: the new key verifies, the old one no longer.
  server.Serve(second->JwksJson());
  REQUIRE((*source)->Refresh().ok());
  CHECK(verifier.Verify(Token(*second), absl::Now()).ok());
  CHECK_FALSE(verifier.Verify(Token(*first), absl::Now()).ok());

  // A failing provider or a broken document: an error, and the keys held stay.
  server.Serve("{}", 500);
  absl::Status failed = (*source)->Refresh();
  CHECK(failed.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(failed.message()), Catch::Contains("HTTP status 500"));
  server.Serve("{\"keys\": 3}");
  CHECK((*source)->Refresh().code() == absl::StatusCode::kInvalidArgument);
  CHECK(verifier.Verify(Token(*second), absl::Now()).ok());
}

TEST_CASE("keys from a URL are fetched again in the background", "[profile][jwks]") {
  KeyServer server;
  auto first = Issuer(), second = Issuer();
  server.Serve(first->JwksJson());
  JwksUrlOptions options;
  options.refresh = absl::Milliseconds(50);
  auto source = JwksSource::FromUrl(server.url(), options);
  REQUIRE(source.ok());
  server.Serve(second->JwksJson());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*source)->Keys().key_ids() != std::vector<std::string>{second->key_id()} &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK((*source)->Keys().key_ids() == std::vector<std::string>{second->key_id()});
  const int requests = server.requests();
  CHECK(requests >= 2);
  source->reset();  // stops the refresher
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(server.requests() == requests);
}

TEST_CASE("JWKS URLs are checked and their failures named", "[profile][jwks]") {
  auto plain = JwksSource::FromUrl("http://id.example/jwks");
  CHECK(plain.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(plain.status().message()), Catch::Contains("https://"));
  CHECK(JwksSource::FromUrl("file:///etc/passwd").status().code() ==
        absl::StatusCode::kInvalidArgument);

  KeyServer server;
  server.Serve(std::string(2000, ' ') + "{}");
  JwksUrlOptions small;
  small.max_bytes = 1000;
  auto large = JwksSource::FromUrl(server.url(), small);
  CHECK(large.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(large.status().message()), Catch::Contains("over 1000 bytes"));
  // TLS to a server that does not speak it fails, naming the URL.
  std::string https = server.url();
  https.replace(0, 4, "https");
  auto tls = JwksSource::FromUrl(https);
  CHECK(tls.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(tls.status().message()), Catch::Contains(https));
  // The first fetch must work.
  server.Serve("", 404);
  CHECK(JwksSource::FromUrl(server.url()).status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace aurora::profile
