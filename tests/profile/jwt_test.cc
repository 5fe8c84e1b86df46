// Unit tests of src/profile/jwt.* and dev_issuer.*: JWKS parsing, JWT verification (ES256 and
// RS256) with every rejection rule, the development issuer and its key file, and compact JWS.

#include "profile/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/secret_hash.h"
#include "common/text.h"
#include "profile/dev_issuer.h"

namespace aurora::profile {
namespace {

using Json = nlohmann::json;
using Catch::Matchers::Contains;

constexpr char kIssuer[] = "https://issuer.test";
constexpr char kAudience[] = "aurora-profile";
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

JwtVerifierOptions Options() {
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  options.audience = kAudience;
  return options;
}

DevTokenRequest Request(std::string subject, std::string audience = kAudience,
                        std::string scope = "") {
  DevTokenRequest request;
  request.subject = std::move(subject);
  request.audience = std::move(audience);
  request.scope = std::move(scope);
  return request;
}

int64_t Seconds(absl::Time t) { return absl::ToUnixSeconds(t); }

// Claims every rule accepts at kNow.
Json GoodClaims() {
  return {{"iss", kIssuer},
          {"sub", "user-1"},
          {"aud", kAudience},
          {"iat", Seconds(kNow) - 10},
          {"nbf", Seconds(kNow) - 10},
          {"exp", Seconds(kNow) + 600}};
}

std::unique_ptr<DevIssuer> NewIssuer() {
  absl::StatusOr<std::unique_ptr<DevIssuer>> issuer = DevIssuer::Create(kIssuer);
  REQUIRE(issuer.ok());
  return *std::move(issuer);
}

JwkSet ParseOk(const std::string& json) {
  absl::StatusOr<JwkSet> keys = JwkSet::Parse(json);
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());
  return *std::move(keys);
}

std::string Sign(const DevIssuer& issuer, const Json& claims) {
  absl::StatusOr<std::string> jws = issuer.SignJws(claims.dump());
  REQUIRE(jws.ok());
  return *jws;
}

std::vector<std::string> Segments(const std::string& token) {
  return absl::StrSplit(Sv(token), '.');
}

std::string Join(const std::vector<std::string>& segments) {
  std::string out;
  for (size_t i = 0; i < segments.size(); ++i) out += (i ? "." : "") + segments[i];
  return out;
}

// A token with the given header, `payload` and a 64-byte dummy signature.
std::string Unsigned(const Json& header, const Json& payload) {
  return Join({Base64UrlEncode(header.dump()), Base64UrlEncode(payload.dump()),
               Base64UrlEncode(std::string(64, '\x01'))});
}

void ExpectRejected(const absl::Status& status, const std::string& expected_fragment,
                    absl::StatusCode code = absl::StatusCode::kUnauthenticated) {
  INFO(status.ToString());
  CHECK(status.code() == code);
  CHECK_THAT(std::string(status.message()), Contains(expected_fragment));
}

// Rejects `token` with UNAUTHENTICATED naming `expected_fragment`, without echoing the signature.
void ExpectTokenRejected(const JwtVerifier& verifier, const std::string& token,
                         const std::string& expected_fragment, absl::Time now = kNow) {
  absl::StatusOr<JwtClaims> claims = verifier.Verify(token, now);
  ExpectRejected(claims.status(), expected_fragment);
  const std::vector<std::string> segments = Segments(token);
  if (segments.size() == 3 && segments[2].size() > 8) {
    CHECK_THAT(std::string(claims.status().message()), !Contains(segments[2]));
  }
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// One RSA 2048 key for the whole test run (generation takes a while).
EVP_PKEY* TestRsaKey() {
  static const PkeyPtr key(EVP_RSA_gen(2048));
  REQUIRE(key != nullptr);
  return key.get();
}

std::string BnParam(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, name, &bn) == 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return bytes;
}

Json RsaJwk(EVP_PKEY* key, const std::string& kid) {
  Json jwk = {{"kty", "RSA"},
              {"n", Base64UrlEncode(BnParam(key, OSSL_PKEY_PARAM_RSA_N))},
              {"e", Base64UrlEncode(BnParam(key, OSSL_PKEY_PARAM_RSA_E))}};
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

// An RS256 JWS signed here, independently of the code under test.
std::string SignRs256(EVP_PKEY* key, const Json& header, const std::string& payload) {
  const std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  REQUIRE(ctx != nullptr);
  size_t length = 0;
  REQUIRE(EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1);
  REQUIRE(EVP_DigestSign(ctx, nullptr, &length,
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  std::string signature(length, '\0');
  REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  EVP_MD_CTX_free(ctx);
  signature.resize(length);
  return input + "." + Base64UrlEncode(signature);
}

Json EcJwkOf(const DevIssuer& issuer) { return Json::parse(issuer.JwksJson())["keys"][0]; }

std::string JwksOf(const std::vector<Json>& keys) {
  Json array = Json::array();
  for (const Json& key : keys) array.push_back(key);
  return Json{{"keys", array}}.dump();
}

// A temporary folder removed when the test ends, pass or fail.
struct TempDir {
  TempDir()
      : path(std::filesystem::temp_directory_path() / ("aurora-jwt-test-" + NewRandomUuid())) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

TEST_CASE("DevIssuer tokens verify against its published JWKS", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const Json jwks = Json::parse(issuer->JwksJson());
  REQUIRE(jwks["keys"].size() == 1);
  const Json& jwk = jwks["keys"][0];
  CHECK(jwk["kty"] == "EC");
  CHECK(jwk["crv"] == "P-256");
  CHECK(jwk["use"] == "sig");
  CHECK(jwk["alg"] == "ES256");
  CHECK(jwk["kid"] == issuer->key_id());
  // The kid is the RFC 7638 thumbprint.
  const std::string thumbprint_input = R"({"crv":"P-256","kty":"EC","x":")" +
                                       jwk["x"].get<std::string>() + R"(","y":")" +
                                       jwk["y"].get<std::string>() + R"("})";
  unsigned char digest[32];
  unsigned int digest_length = 0;
  REQUIRE(EVP_Digest(thumbprint_input.data(), thumbprint_input.size(), digest, &digest_length,
                     EVP_sha256(), nullptr) == 1);
  CHECK(issuer->key_id() ==
        Base64UrlEncode(std::string(reinterpret_cast<const char*>(digest), digest_length)));

  absl::StatusOr<std::string> token =
      issuer->Issue(Request("user-1", kAudience, "profile:read"), kNow);
  REQUIRE(token.ok());
  const std::vector<std::string> segments = Segments(*token);
  REQUIRE(segments.size() == 3);
  const Json header = Json::parse(*Base64UrlDecode(segments[0]));
  CHECK(header == Json{{"alg", "ES256"}, {"typ", "JWT"}, {"kid", issuer->key_id()}});

  const JwtVerifier verifier(ParseOk(issuer->JwksJson()), Options());
  absl::StatusOr<JwtClaims> claims = verifier.Verify(*token, kNow);
  INFO(claims.status().ToString());
  REQUIRE(claims.ok());
  CHECK(claims->issuer == kIssuer);
  CHECK(claims->subject == "user-1");
  CHECK(claims->audience == std::vector<std::string>{kAudience});
  CHECK(claims->expires == kNow + absl::Minutes(15));
  CHECK(claims->not_before == kNow);
  CHECK(claims->issued_at == kNow);
  CHECK(claims->key_id == issuer->key_id());
  CHECK(claims->algorithm == "ES256");
  const Json payload = Json::parse(claims->payload_json);
  CHECK(payload["scope"] == "profile:read");
  CHECK(payload["jti"].is_string());
  CHECK(payload["exp"].is_number_integer());

  // Keys() is the parsed JWKS; two tokens have distinct "jti".
  CHECK(issuer->Keys().key_ids() == std::vector<std::string>{issuer->key_id()});
  CHECK(JwtVerifier(issuer->Keys(), Options()).Verify(*token, kNow).ok());
  absl::StatusOr<std::string> second = issuer->Issue(Request("user-1"), kNow);
  REQUIRE(second.ok());
  absl::StatusOr<JwtClaims> second_claims = verifier.Verify(*second, kNow);
  REQUIRE(second_claims.ok());
  const Json second_payload = Json::parse(second_claims->payload_json);
  CHECK(second_payload["jti"] != payload["jti"]);
  CHECK_FALSE(second_payload.contains("scope"));
}

TEST_CASE("DevIssuer::Issue validates the request", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  ExpectRejected(issuer->Issue(Request(""), kNow).status(), "\"subject\" is empty",
                 absl::StatusCode::kInvalidArgument);
  ExpectRejected(issuer->Issue(Request("a\nb"), kNow).status(), "control characters",
                 absl::StatusCode::kInvalidArgument);
  ExpectRejected(issuer->Issue(Request("u", ""), kNow).status(), "\"audience\" is empty",
                 absl::StatusCode::kInvalidArgument);
  DevTokenRequest instant = Request("u");
  instant.lifetime = absl::ZeroDuration();
  ExpectRejected(issuer->Issue(instant, kNow).status(), "\"lifetime\" 0",
                 absl::StatusCode::kInvalidArgument);
  ExpectRejected(issuer->Issue(Request("u", kAudience, "\xC3\x28"), kNow).status(), "\"scope\"",
                 absl::StatusCode::kInvalidArgument);
  ExpectRejected(DevIssuer::Create("").status(), "issuer is empty",
                 absl::StatusCode::kInvalidArgument);
}

TEST_CASE("RS256 tokens signed with an RSA JWK verify", "[profile][jwt]") {
  EVP_PKEY* rsa = TestRsaKey();
  const JwtVerifier verifier(ParseOk(JwksOf({RsaJwk(rsa, "rsa-1")})), Options());
  const std::string token =
      SignRs256(rsa, {{"alg", "RS256"}, {"typ", "at+jwt"}, {"kid", "rsa-1"}}, GoodClaims().dump());
  absl::StatusOr<JwtClaims> claims = verifier.Verify(token, kNow);
  INFO(claims.status().ToString());
  REQUIRE(claims.ok());
  CHECK(claims->algorithm == "RS256");
  CHECK(claims->key_id == "rsa-1");
  CHECK(claims->subject == "user-1");

  // A single key without "kid" is chosen for a token without "kid".
  const JwtVerifier keyless(ParseOk(JwksOf({RsaJwk(rsa, "")})), Options());
  CHECK(keyless.Verify(SignRs256(rsa, {{"alg", "RS256"}}, GoodClaims().dump()), kNow).ok());

  SECTION("the signature of another RSA key fails") {
    const PkeyPtr other(EVP_RSA_gen(2048));
    REQUIRE(other != nullptr);
    ExpectTokenRejected(
        verifier, SignRs256(other.get(), {{"alg", "RS256"}, {"kid", "rsa-1"}}, GoodClaims().dump()),
        "signature does not verify with the key \"rsa-1\"");
  }
  SECTION("a payload that is not a JSON object fails after the signature check") {
    ExpectTokenRejected(verifier, SignRs256(rsa, {{"alg", "RS256"}, {"kid", "rsa-1"}}, "[1,2]"),
                        "payload is not a JSON object");
    ExpectTokenRejected(verifier, SignRs256(rsa, {{"alg", "RS256"}, {"kid", "rsa-1"}}, "{\"a\":"),
                        "payload is not valid JSON");
  }
}

TEST_CASE("a JWKS with an EC and an RSA key picks the key by kid", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  EVP_PKEY* rsa = TestRsaKey();
  const JwkSet keys = ParseOk(JwksOf({EcJwkOf(*issuer), RsaJwk(rsa, "rsa-1")}));
  CHECK(keys.size() == 2);
  CHECK(keys.key_ids() == std::vector<std::string>{issuer->key_id(), "rsa-1"});
  const JwtVerifier verifier(keys, Options());

  absl::StatusOr<JwtClaims> ec = verifier.Verify(Sign(*issuer, GoodClaims()), kNow);
  REQUIRE(ec.ok());
  CHECK(ec->key_id == issuer->key_id());
  absl::StatusOr<JwtClaims> rs = verifier.Verify(
      SignRs256(rsa, {{"alg", "RS256"}, {"kid", "rsa-1"}}, GoodClaims().dump()), kNow);
  REQUIRE(rs.ok());
  CHECK(rs->key_id == "rsa-1");

  ExpectTokenRejected(verifier, SignRs256(rsa, {{"alg", "RS256"}}, GoodClaims().dump()),
                      "no \"kid\", which is required as the JWKS has 2 keys");
  ExpectTokenRejected(verifier,
                      SignRs256(rsa, {{"alg", "RS256"}, {"kid", "rsa-9"}}, GoodClaims().dump()),
                      "\"kid\" \"rsa-9\" matches no key");
  // ES256 claimed for the RSA key, and RS256 for the EC key.
  ExpectTokenRejected(verifier, Unsigned({{"alg", "ES256"}, {"kid", "rsa-1"}}, GoodClaims()),
                      "\"alg\" \"ES256\" does not match the key \"rsa-1\"");
  ExpectTokenRejected(verifier,
                      Unsigned({{"alg", "RS256"}, {"kid", issuer->key_id()}}, GoodClaims()),
                      "\"alg\" \"RS256\" does not match the key");
}

TEST_CASE("malformed tokens are rejected", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const JwtVerifier verifier(issuer->Keys(), Options());
  const std::string good = Sign(*issuer, GoodClaims());
  REQUIRE(verifier.Verify(good, kNow).ok());
  const std::vector<std::string> s = Segments(good);

  ExpectTokenRejected(verifier, "", "token is empty");
  ExpectTokenRejected(verifier, Join({s[0], s[1]}), "has 2 dot-separated segments, expected 3");
  ExpectTokenRejected(verifier, Join({s[0], s[1], s[2], s[2]}),
                      "has 4 dot-separated segments, expected 3");
  ExpectTokenRejected(verifier, Join({s[0], "", s[2]}), "payload segment is empty");
  ExpectTokenRejected(verifier, Join({s[0], s[1] + "*", s[2]}),
                      "payload segment has the character \"*\"");
  ExpectTokenRejected(verifier, Join({s[0], s[1], s[2] + "/"}),
                      "signature segment has the character");
  ExpectTokenRejected(verifier, Join({s[0] + "=", s[1], s[2]}),
                      "header segment has base64 padding");
  ExpectTokenRejected(verifier, Join({s[0], s[1], s[2] + "=="}),
                      "signature segment has base64 padding");
  ExpectTokenRejected(verifier, Join({s[0], s[1], s[2] + "AAA"}), "impossible in base64url");
  // The signature of ES256 is 64 bytes: 86 characters whose last one carries 2 unused bits.
  std::string non_canonical = s[2];
  REQUIRE(non_canonical.size() == 86);
  non_canonical.back() = non_canonical.back() == 'B' ? 'C' : 'B';
  ExpectTokenRejected(verifier, Join({s[0], s[1], non_canonical}), "not canonical base64url");
  ExpectTokenRejected(verifier, Join({Base64UrlEncode("{\"alg\":"), s[1], s[2]}),
                      "header is not valid JSON");
  ExpectTokenRejected(verifier, Join({Base64UrlEncode("[\"ES256\"]"), s[1], s[2]}),
                      "header is not a JSON object");
  ExpectTokenRejected(verifier, Unsigned({{"kid", issuer->key_id()}}, GoodClaims()),
                      "header has no \"alg\"");
  ExpectTokenRejected(
      verifier,
      Unsigned({{"alg", "ES256"}, {"crit", {"exp"}}, {"kid", issuer->key_id()}}, GoodClaims()),
      "\"crit\"");
  ExpectTokenRejected(verifier, Join({s[0], s[1], Base64UrlEncode(std::string(63, '\x01'))}),
                      "signature is 63 bytes, ES256 needs 64");
}

TEST_CASE("unsigned and shared-secret algorithms are refused", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const JwtVerifier verifier(issuer->Keys(), Options());
  const std::string kid = issuer->key_id();
  // "alg":"none" with an empty signature, the classic downgrade.
  const std::string none = Join({Base64UrlEncode(Json{{"alg", "none"}, {"kid", kid}}.dump()),
                                 Base64UrlEncode(GoodClaims().dump()), ""});
  ExpectTokenRejected(verifier, none, "signature segment is empty");
  ExpectTokenRejected(verifier, Unsigned({{"alg", "none"}, {"kid", kid}}, GoodClaims()),
                      "\"alg\" \"none\" is refused");
  ExpectTokenRejected(verifier, Unsigned({{"alg", "None"}}, GoodClaims()),
                      "\"alg\" \"None\" is refused");
  ExpectTokenRejected(verifier, Unsigned({{"alg", "HS256"}, {"kid", kid}}, GoodClaims()),
                      "\"alg\" \"HS256\" is refused: shared-secret");
  ExpectTokenRejected(verifier, Unsigned({{"alg", "PS256"}, {"kid", kid}}, GoodClaims()),
                      "\"alg\" \"PS256\" is not supported");
  ExpectTokenRejected(verifier, Unsigned({{"alg", 256}, {"kid", kid}}, GoodClaims()),
                      "\"alg\" is not a string");
}

TEST_CASE("tampered tokens are rejected", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const JwtVerifier verifier(issuer->Keys(), Options());
  const std::vector<std::string> s = Segments(Sign(*issuer, GoodClaims()));

  Json changed = GoodClaims();
  changed["sub"] = "admin";
  ExpectTokenRejected(verifier, Join({s[0], Base64UrlEncode(changed.dump()), s[2]}),
                      "signature does not verify");

  std::string signature = *Base64UrlDecode(s[2]);
  signature[10] = static_cast<char>(signature[10] ^ 0x01);
  ExpectTokenRejected(verifier, Join({s[0], s[1], Base64UrlEncode(signature)}),
                      "signature does not verify");

  // A header changed to another accepted form still breaks the signature.
  const std::string header = Json{{"alg", "ES256"}, {"kid", issuer->key_id()}}.dump();
  ExpectTokenRejected(verifier, Join({Base64UrlEncode(header), s[1], s[2]}),
                      "signature does not verify");

  // A token of another issuer key with the same kid.
  const auto impostor = NewIssuer();
  const std::vector<std::string> other = Segments(Sign(*impostor, GoodClaims()));
  ExpectTokenRejected(verifier, Join({s[0], other[1], other[2]}), "signature does not verify");
}

TEST_CASE("issuer and audience must match", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const JwtVerifier verifier(issuer->Keys(), Options());
  Json claims = GoodClaims();

  SECTION("issuer") {
    claims["iss"] = "https://evil.test";
    ExpectTokenRejected(verifier, Sign(*issuer, claims),
                        "\"iss\" \"https://evil.test\" is not the expected issuer "
                        "\"https://issuer.test\"");
    claims.erase("iss");
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "no \"iss\" claim");
  }
  SECTION("audience as a string") {
    claims["aud"] = "someone-else";
    ExpectTokenRejected(verifier, Sign(*issuer, claims),
                        "\"aud\" [\"someone-else\"] does not contain the expected audience "
                        "\"aurora-profile\"");
    claims.erase("aud");
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "no \"aud\" claim");
    claims["aud"] = 7;
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"aud\" is not a string or an array");
  }
  SECTION("audience as an array") {
    claims["aud"] = {"other", kAudience};
    absl::StatusOr<JwtClaims> ok = verifier.Verify(Sign(*issuer, claims), kNow);
    REQUIRE(ok.ok());
    CHECK(ok->audience == std::vector<std::string>{"other", kAudience});
    claims["aud"] = {"other", "third"};
    ExpectTokenRejected(verifier, Sign(*issuer, claims),
                        "\"aud\" [\"other\", \"third\"] does not contain");
    claims["aud"] = {kAudience, 3};
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "value that is not a string");
  }
  SECTION("a long claim value is truncated in the message") {
    claims["iss"] = std::string(500, 'x');
    absl::StatusOr<JwtClaims> result = verifier.Verify(Sign(*issuer, claims), kNow);
    ExpectRejected(result.status(), "xxx...\" is not the expected issuer");
    CHECK(result.status().message().size() < 200);
  }
}

TEST_CASE("expiry, not-before and issued-at honour the clock skew", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const JwtVerifier verifier(issuer->Keys(), Options());  // 60 s skew
  Json claims = GoodClaims();
  const int64_t now = Seconds(kNow);

  SECTION("exp") {
    claims["exp"] = now - 61;
    ExpectTokenRejected(verifier, Sign(*issuer, claims),
                        "has expired: \"exp\" 2023-11-14T22:12:19Z");
    claims["exp"] = now - 60;  // exp + skew must be after now
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "has expired");
    claims["exp"] = now - 59;
    CHECK(verifier.Verify(Sign(*issuer, claims), kNow).ok());
    claims["exp"] = now - 59.5;  // NumericDate may have a fraction
    absl::StatusOr<JwtClaims> fractional = verifier.Verify(Sign(*issuer, claims), kNow);
    REQUIRE(fractional.ok());
    CHECK(fractional->expires == kNow - absl::Milliseconds(59500));
    // The same token is refused later: `now` is the only clock.
    ExpectTokenRejected(verifier, Sign(*issuer, GoodClaims()), "has expired",
                        kNow + absl::Seconds(660));
  }
  SECTION("nbf") {
    claims["nbf"] = now + 61;
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "is not valid yet: \"nbf\"");
    claims["nbf"] = now + 60;
    CHECK(verifier.Verify(Sign(*issuer, claims), kNow).ok());
  }
  SECTION("iat") {
    claims["iat"] = now + 61;
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"iat\" 2023-11-14T22:14:21Z is after");
    claims["iat"] = now + 30;
    CHECK(verifier.Verify(Sign(*issuer, claims), kNow).ok());
  }
  SECTION("dates must be numbers in range") {
    claims["exp"] = std::to_string(now + 600);
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"exp\" is not a NumericDate");
    claims["exp"] = -5;
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"exp\" is not a NumericDate");
    claims["exp"] = 1e300;
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"exp\" is not a NumericDate");
    claims["exp"] = now + 600;
    claims["nbf"] = true;
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"nbf\" is not a NumericDate");
  }
  SECTION("a custom skew") {
    JwtVerifierOptions options = Options();
    options.clock_skew = absl::ZeroDuration();
    const JwtVerifier strict(issuer->Keys(), options);
    claims["exp"] = now - 1;
    ExpectTokenRejected(strict, Sign(*issuer, claims), "by more than the clock skew of 0");
  }
}

TEST_CASE("required claims, lifetime and size limits", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const JwtVerifier verifier(issuer->Keys(), Options());
  Json claims = GoodClaims();

  SECTION("exp is required") {
    claims.erase("exp");
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "no \"exp\" claim");
  }
  SECTION("sub is required, short and printable") {
    claims.erase("sub");
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "no \"sub\" claim");
    claims["sub"] = "";
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"sub\" is empty");
    claims["sub"] = 42;
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"sub\" is not a string");
    claims["sub"] = std::string(256, 'u');
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"sub\" is 256 bytes, over the 255");
    claims["sub"] = std::string(255, 'u');
    CHECK(verifier.Verify(Sign(*issuer, claims), kNow).ok());
    claims["sub"] = "user\x01";
    ExpectTokenRejected(verifier, Sign(*issuer, claims), "\"sub\" \"user\\x01\" contains control");
  }
  SECTION("exp - iat is at most max_lifetime") {
    claims["iat"] = Seconds(kNow) - 10;
    claims["exp"] = Seconds(kNow) - 10 + 24 * 3600 + 1;
    ExpectTokenRejected(verifier, Sign(*issuer, claims),
                        "lifetime (\"exp\" - \"iat\") of 24h1s is over the maximum of 24h");
    claims["exp"] = Seconds(kNow) - 10 + 24 * 3600;
    CHECK(verifier.Verify(Sign(*issuer, claims), kNow).ok());
    JwtVerifierOptions options = Options();
    options.max_lifetime = absl::Hours(1);
    ExpectTokenRejected(JwtVerifier(issuer->Keys(), options), Sign(*issuer, claims),
                        "over the maximum of 1h");
  }
  SECTION("typ is JWT or at+jwt in any case") {
    // DevIssuer always writes "typ":"JWT": sign by hand with an RSA key to choose the header.
    EVP_PKEY* rsa = TestRsaKey();
    const JwtVerifier rsa_verifier(ParseOk(JwksOf({RsaJwk(rsa, "r")})), Options());
    for (const char* typ : {"JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt"}) {
      INFO(typ);
      CHECK(rsa_verifier
                .Verify(SignRs256(rsa, {{"alg", "RS256"}, {"typ", typ}}, GoodClaims().dump()), kNow)
                .ok());
    }
  }
  SECTION("tokens over 8 KiB") {
    absl::StatusOr<std::string> big =
        issuer->Issue(Request("user-1", kAudience, std::string(9000, 's')), kNow);
    REQUIRE(big.ok());
    ExpectTokenRejected(verifier, *big, "bytes, over the 8192-byte limit");
    absl::StatusOr<std::string> fits =
        issuer->Issue(Request("user-1", kAudience, std::string(5000, 's')), kNow);
    REQUIRE(fits.ok());
    CHECK(verifier.Verify(*fits, kNow).ok());
  }
  SECTION("a verifier without issuer or audience refuses everything") {
    JwtVerifierOptions options = Options();
    options.audience.clear();
    const JwtVerifier misconfigured(issuer->Keys(), options);
    ExpectRejected(misconfigured.Verify(Sign(*issuer, claims), kNow).status(), "audience",
                   absl::StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("JWKS documents are validated", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const Json ec = EcJwkOf(*issuer);
  const auto invalid = [](const std::string& json, const std::string& fragment) {
    ExpectRejected(JwkSet::Parse(json).status(), fragment, absl::StatusCode::kInvalidArgument);
  };

  invalid("{\"keys\": [", "JWKS is not valid JSON");
  invalid("[]", "JWKS is not a JSON object");
  invalid("{}", "JWKS has no \"keys\" member");
  invalid("{\"keys\": {}}", "\"keys\" is not an array");
  invalid("{\"keys\": []}", "\"keys\" is empty");
  invalid("{\"keys\": [7]}", "JWKS key 0 is not a JSON object");

  SECTION("EC keys") {
    Json bad = ec;
    bad["x"] = Base64UrlEncode(std::string(31, 'x'));
    invalid(JwksOf({bad}), "\"x\" is 31 bytes, expected 32");
    bad = ec;
    bad["y"] = bad["y"].get<std::string>() + "=";
    invalid(JwksOf({bad}), "\"y\"");
    invalid(JwksOf({bad}), "padding");
    bad = ec;
    bad["y"] = bad["x"];  // (x, x) is not on the curve
    invalid(JwksOf({bad}), "not a point on P-256");
    bad = ec;
    bad.erase("x");
    invalid(JwksOf({bad}), "has no \"x\"");
    bad = ec;
    bad["alg"] = "RS256";
    invalid(JwksOf({bad}), "\"alg\" \"RS256\" does not match the key type EC");
    bad = ec;
    bad["kid"] = 5;
    invalid(JwksOf({bad}), "\"kid\" is not a string");
  }
  SECTION("RSA keys") {
    Json weak = {{"kty", "RSA"},
                 {"kid", "weak"},
                 {"n", Base64UrlEncode("\x80" + std::string(127, '\x01'))},
                 {"e", "AQAB"}};
    invalid(JwksOf({weak}), "JWKS key 0 (\"kid\" \"weak\"): \"n\" is a 1024-bit modulus");
    Json even = RsaJwk(TestRsaKey(), "even");
    even["e"] = Base64UrlEncode(std::string("\x01\x00\x00", 3));
    invalid(JwksOf({even}), "\"e\" \"AQAA\" is not a valid RSA public exponent");
    Json wrong_alg = RsaJwk(TestRsaKey(), "r");
    wrong_alg["alg"] = "ES256";
    invalid(JwksOf({wrong_alg}), "\"alg\" \"ES256\" does not match the key type RSA");
  }
  SECTION("kid is required and unique when there are several keys") {
    Json rsa = RsaJwk(TestRsaKey(), "");
    invalid(JwksOf({ec, rsa}), "JWKS key 1 has no \"kid\", which is required");
    rsa["kid"] = ec["kid"];
    invalid(JwksOf({ec, rsa}), "JWKS keys 0 and 1 have the same \"kid\"");
  }
  SECTION("unsupported keys are skipped, but not all of them") {
    const Json p384 = {{"kty", "EC"},
                       {"crv", "P-384"},
                       {"kid", "k2"},
                       {"x", Base64UrlEncode(std::string(48, 'x'))},
                       {"y", Base64UrlEncode(std::string(48, 'y'))}};
    const Json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AAAA"}};
    invalid(JwksOf({p384}), "JWKS key 0 (\"kid\" \"k2\"): \"crv\" \"P-384\" is not supported");
    invalid(JwksOf({okp}), "\"kty\" \"OKP\" is not supported");
    // An identity provider's encryption key, or a key for another algorithm, beside its
    // signing key (as Keycloak publishes them).
    Json encryption = RsaJwk(TestRsaKey(), "enc-key");
    encryption["use"] = "enc";
    Json oaep = RsaJwk(TestRsaKey(), "oaep-key");
    oaep["alg"] = "RSA-OAEP";
    invalid(JwksOf({encryption}), "\"use\" \"enc\" is not \"sig\"");
    invalid(JwksOf({oaep}), "\"alg\" \"RSA-OAEP\" is not supported");
    const JwkSet keys = ParseOk(JwksOf({p384, ec, okp, encryption, oaep}));
    CHECK(keys.size() == 1);
    CHECK(keys.key_ids() == std::vector<std::string>{issuer->key_id()});
    CHECK(JwtVerifier(keys, Options()).Verify(Sign(*issuer, GoodClaims()), kNow).ok());
  }
  SECTION("messages do not dump the document") {
    Json bad = ec;
    bad["x"] = std::string(300, 'A');
    absl::StatusOr<JwkSet> result = JwkSet::Parse(JwksOf({bad}));
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().message().size() < 250);
  }
}

TEST_CASE("JwkSet::LoadFile reads a JWKS file", "[profile][jwt]") {
  const TempDir dir;
  const auto issuer = NewIssuer();
  const std::string path = (dir.path / "jwks.json").string();
  ExpectRejected(JwkSet::LoadFile(path).status(), path, absl::StatusCode::kNotFound);
  std::ofstream(path) << issuer->JwksJson();
  absl::StatusOr<JwkSet> keys = JwkSet::LoadFile(path);
  REQUIRE(keys.ok());
  CHECK(keys->key_ids() == std::vector<std::string>{issuer->key_id()});
  std::ofstream(path) << "{\"keys\": 3}";
  ExpectRejected(JwkSet::LoadFile(path).status(), "jwks.json\": JWKS \"keys\" is not an array",
                 absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DevIssuer::LoadOrCreate keeps its key in a private PEM file", "[profile][jwt]") {
  const TempDir dir;
  const std::string path = (dir.path / "dev-issuer.pem").string();
  absl::StatusOr<std::unique_ptr<DevIssuer>> first = DevIssuer::LoadOrCreate(kIssuer, path);
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  REQUIRE(std::filesystem::exists(path));
  struct stat info {};
  REQUIRE(stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  std::ifstream in(path);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(pem, Contains("-----BEGIN PRIVATE KEY-----"));
  // Only the key file is left in the folder: the temporary file was renamed.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 1);

  absl::StatusOr<std::unique_ptr<DevIssuer>> second = DevIssuer::LoadOrCreate(kIssuer, path);
  REQUIRE(second.ok());
  CHECK((*second)->key_id() == (*first)->key_id());
  CHECK((*second)->JwksJson() == (*first)->JwksJson());
  absl::StatusOr<std::string> token = (*first)->Issue(Request("user-1"), kNow);
  REQUIRE(token.ok());
  CHECK(JwtVerifier((*second)->Keys(), Options()).Verify(*token, kNow).ok());
  // A fresh issuer has another key.
  CHECK(NewIssuer()->key_id() != (*first)->key_id());

  SECTION("a file that is not a PEM private key is refused") {
    std::ofstream(path, std::ios::trunc) << "not a key";
    ExpectRejected(DevIssuer::LoadOrCreate(kIssuer, path).status(),
                   "does not hold an unencrypted PEM private key",
                   absl::StatusCode::kInvalidArgument);
  }
  SECTION("an RSA key is refused") {
    BIO* bio = BIO_new(BIO_s_mem());
    REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio, TestRsaKey(), nullptr, nullptr, 0, nullptr,
                                          nullptr) == 1);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    std::ofstream(path, std::ios::trunc) << std::string(data, static_cast<size_t>(length));
    BIO_free(bio);
    ExpectRejected(DevIssuer::LoadOrCreate(kIssuer, path).status(), "not an EC P-256 key",
                   absl::StatusCode::kInvalidArgument);
  }
  SECTION("a missing folder is an error naming the path") {
    const std::string nowhere = (dir.path / "missing" / "key.pem").string();
    ExpectRejected(DevIssuer::LoadOrCreate(kIssuer, nowhere).status(), "missing/key.pem",
                   absl::StatusCode::kUnavailable);
  }
}

TEST_CASE("SignJws and VerifyJws round trip and detect tampering", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const std::string receipt = R"({"consent":"c-1","attributes":["email"],"granted":1700000000})";
  absl::StatusOr<std::string> jws = issuer->SignJws(receipt);
  REQUIRE(jws.ok());
  absl::StatusOr<std::string> payload = VerifyJws(issuer->Keys(), *jws);
  INFO(payload.status().ToString());
  REQUIRE(payload.ok());
  CHECK(*payload == receipt);

  const std::vector<std::string> s = Segments(*jws);
  const std::string forged = R"({"consent":"c-1","attributes":["email","ssn"],"granted":1})";
  ExpectRejected(VerifyJws(issuer->Keys(), Join({s[0], Base64UrlEncode(forged), s[2]})).status(),
                 "JWS signature does not verify");
  std::string signature = *Base64UrlDecode(s[2]);
  signature[40] = static_cast<char>(signature[40] ^ 0x80);
  ExpectRejected(VerifyJws(issuer->Keys(), Join({s[0], s[1], Base64UrlEncode(signature)})).status(),
                 "JWS signature does not verify");
  ExpectRejected(VerifyJws(NewIssuer()->Keys(), *jws).status(), "matches no key");
  ExpectRejected(VerifyJws(issuer->Keys(), "a.b").status(), "JWS has 2 dot-separated segments");
  // VerifyJws checks no claims: a payload without any is fine.
  absl::StatusOr<std::string> bare = issuer->SignJws("{}");
  REQUIRE(bare.ok());
  CHECK(VerifyJws(issuer->Keys(), *bare).ok());

  ExpectRejected(issuer->SignJws("[1]").status(), "is not a JSON object",
                 absl::StatusCode::kInvalidArgument);
  ExpectRejected(issuer->SignJws("{").status(), "is not a JSON object",
                 absl::StatusCode::kInvalidArgument);
}

TEST_CASE("verified tokens are cached; time and keys are checked on every call", "[profile][jwt]") {
  const auto issuer = NewIssuer();
  const JwtVerifier verifier(issuer->Keys(), Options());
  const std::string token = Sign(*issuer, GoodClaims());
  REQUIRE(verifier.Verify(token, kNow).ok());
  CHECK(verifier.cache_hits() == 0);
  CHECK(verifier.cache_size() == 1);
  absl::StatusOr<JwtClaims> again = verifier.Verify(token, kNow + absl::Seconds(30));
  REQUIRE(again.ok());
  CHECK(verifier.cache_hits() == 1);
  CHECK(again->subject == "user-1");
  CHECK(again->expires == kNow + absl::Seconds(600));

  SECTION("a cached token still expires, and is not valid before nbf") {
    ExpectTokenRejected(verifier, token, "has expired", kNow + absl::Seconds(661));
    ExpectTokenRejected(verifier, token, "is not valid yet", kNow - absl::Seconds(71));
    CHECK(verifier.cache_hits() == 3);
  }
  SECTION("a token that fails is not cached, and a tampered copy of a cached one fails") {
    std::vector<std::string> segments = Segments(token);
    segments[2][5] = segments[2][5] == 'A' ? 'B' : 'A';
    ExpectTokenRejected(verifier, Join(segments), "signature");
    ExpectTokenRejected(verifier, Sign(*issuer, GoodClaims()), "has expired",
                        kNow + absl::Hours(1));
    CHECK(verifier.cache_size() == 1);
  }
  SECTION("new keys are not trusted with the old keys' verdicts") {
    auto other = NewIssuer();
    std::atomic<bool> rotated{false};
    const JwtVerifier rotating([&] { return rotated ? other->Keys() : issuer->Keys(); }, Options());
    REQUIRE(rotating.Verify(token, kNow).ok());
    REQUIRE(rotating.Verify(token, kNow).ok());
    CHECK(rotating.cache_hits() == 1);
    rotated = true;  // the issuer's JWKS no longer has the key that signed `token`
    ExpectTokenRejected(rotating, token, "kid");
    CHECK(rotating.cache_hits() == 1);
  }
  SECTION("the cache stays within its bound") {
    JwtVerifierOptions options = Options();
    options.cache_entries = 3;
    const JwtVerifier small(issuer->Keys(), options);
    for (int i = 0; i < 10; ++i) REQUIRE(small.Verify(Sign(*issuer, GoodClaims()), kNow).ok());
    CHECK(small.cache_size() <= 3);
    options.cache_entries = 0;
    const JwtVerifier none(issuer->Keys(), options);
    REQUIRE(none.Verify(token, kNow).ok());
    REQUIRE(none.Verify(token, kNow).ok());
    CHECK(none.cache_hits() == 0);
    CHECK(none.cache_size() == 0);
  }
}

TEST_CASE("verification is safe from several threads at once", "[profile][jwt][concurrency]") {
  const auto issuer = NewIssuer();
  EVP_PKEY* rsa = TestRsaKey();
  const JwtVerifier verifier(ParseOk(JwksOf({EcJwkOf(*issuer), RsaJwk(rsa, "rsa-1")})), Options());
  const std::string ec_token = Sign(*issuer, GoodClaims());
  const std::string rs_token =
      SignRs256(rsa, {{"alg", "RS256"}, {"kid", "rsa-1"}}, GoodClaims().dump());
  std::atomic<int> verified{0};
  std::atomic<int> issued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (verifier.Verify(ec_token, kNow).ok()) ++verified;
        if (verifier.Verify(rs_token, kNow).ok()) ++verified;
        absl::StatusOr<std::string> token = issuer->Issue(Request("user-1"), kNow);
        if (token.ok() && verifier.Verify(*token, kNow).ok()) ++issued;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(verified == 400);
  CHECK(issued == 200);
}

}  // namespace
}  // namespace aurora::profile
