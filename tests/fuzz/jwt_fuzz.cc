// libFuzzer target for profile/jwt: JwtVerifier::Verify (bearer tokens: JWS compact serialization,
// base64url, header and payload JSON, ES256 / RS256 signatures against a JWKS, then the claims) and
// VerifyJws (signed documents such as consent receipts: signature only), against a fixed JWKS of an
// EC P-256 key ("fuzz-ec", ES256) and an RSA 2048 key ("fuzz-rsa", RS256) whose private keys are
// embedded below (made once for this target; they sign nothing else), plus a P-384 key the JWKS
// parser must skip. The clock is fixed at kNow.
//
// Input: the token, as is (no configuration byte).
//
// Documents() lists every header and payload this target ever signs, each with whether Verify and
// VerifyJws must accept it (checked on the seeds: a wrong expectation fails at once). With
// AURORA_FUZZ_WRITE_SEEDS=<folder> in the environment the target signs each of them, writes the
// tokens there with a few unsigned ones, and exits: that is how corpus/jwt/ was made (ES256
// signatures are randomized, so the seeds' signatures differ from the ones this target would make;
// both verify).
//
// Invariants (a broken one prints what broke and calls __builtin_trap()):
//   * an accepted token (by Verify or VerifyJws) is one of Documents(): its signing input
//     (header.payload, as text) is one of theirs and its signature verifies by this target's own
//     check (its own strict base64url decoding; for RS256, PKCS #1 v1.5 is deterministic, so the
//     signature must be byte for byte the one this target makes; for ES256 an OpenSSL
//     verification of r||s with the public key); a fuzzer cannot forge a signature, so any other
//     acceptance is a finding. No byte of a token is free: base64url must be canonical (no '=',
//     zero trailing bits) and the signature covers the header and payload texts as sent, so a
//     mutation that keeps a token accepted is itself a finding (ECDSA's (r, n - s) twin aside,
//     which a fuzzer does not find and RFC 7518 does not forbid);
//   * conversely a token whose signing input is one of theirs and whose signature passes that
//     check gets exactly the verdicts listed there (Verify: claims and times at kNow; VerifyJws:
//     the payload is a JSON object), and Verify's claims match the document;
//   * the JwtVerifier with a cache and one without agree (verdict and claims);
//   * a refusal is UNAUTHENTICATED with a message starting with "token " (Verify) or "JWS "
//     (VerifyJws), which never repeats the signature segment (of 16 base64url characters or
//     more: no fixed text of the messages has such a run) unless a JSON string of the header or
//     payload holds that text, which the message may quote.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/openssl_handles.h"
#include "common/secret_hash.h"
#include "profile/jwt.h"
#include "fuzz_check.h"

namespace aurora::profile {
namespace {

using Json = nlohmann::json;

constexpr char kIssuer[] = "https://issuer.fuzz.test";
constexpr char kAudience[] = "aurora-profile";
constexpr int64_t kNowSeconds = 1735689600;  // 2025-01-01T00:00:00Z
const absl::Time kNow = absl::FromUnixSeconds(kNowSeconds);

// Test keys, generated with `openssl genpkey` for this target only: they protect nothing, and are
// fixed so that the seed tokens in corpus/jwt/ verify against the JWKS made from them.
constexpr char kEcKeyPem[] = R"(
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5BHDwHEuk9GUUuYm
wb2gnhHA6NCl1/Kd3gHUmBvs+jGhRANCAATp9aTPD+g77ItvJewqiCnIru5HoYlV
UZhEhtIEwQCVza9INNxEKnsCVgtcdHihMf8h2UjYGg3dIi6Lx9JH6YPi
-----END PRIVATE KEY-----
)";
constexpr char kRsaKeyPem[] = R"(
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCkNcMiDerelGpp
8KyIkLcBXqz67acZLxxSzMqjPScsSM2igxCxmc6uRcUb8lJ3qX3ir56roJgI11aO
BWXnNhAfklmE3gFRpkswqh3I+p2uWbY+ai13A8KmljOfHTEFz+Y19w7uhUiAj81L
n9qxLf48PBiBcgiw8D10nzhBw6l6Z+K6Uvw6e+FH4HnkdKbaFil9jIcpEcL0f3cP
tAbL5BU4CnQobXc4djPtXa2hJ0qsFsOUDzCw5LkLL4J3mVpIaG797+CC+Tqq/hNk
WTOCqpeTHUnlYZrvwggAEA7nNUwIm6eSC+Jq9es1QpyERwcGXUs9udQjyt4FCFfF
IzHOV9spAgMBAAECggEAEeyrbPFzeJHfTsqebrbLPytIOwjLg2h80T35BZoUh1U4
Gxvu69AD+0py4mLQZS77Zo3whj/8sIRe9pg4wCUK3ANj4ajBIJpEHV8IasqOgTxa
NBRve40Nx5TgNCdh1UZVFQFvoBIs8Jmh2XYsz0fbt1QBAcpCkBvdPXhu0eDrhEib
eHqBgto5xr5xH4XQuvrZ/wFHFWBKWDa+drTm6jG5sBAH+Dx6wTsus2y++bGHGgyt
FPDGXJJPffkS8jbJ+V8hG01wlccDNJeNUhtqwInGpwQb3SiiiWm5qhWQ5PnJGHqW
2ckrAzgtiaBF0piDdTrU7F1mKY+bCm846zBg69/agQKBgQDNO2XLf8NJa2ZBrSLt
tI+wCe7YhbBrM5Dfc18ywERsNch4hg9QtTzfJkyqYXwMRK0ShlsMYzF4m58HoZeY
zkYwq5oI2HBexz1bAR9QcXjw04MfsaZHhdmKk1lGhqPzAQ8PND0B2Y1sXz7T/PQt
sbmK0QShEVNEqnkWaB4RseCDwQKBgQDM1Ja3GYtB5ZO2Z91G/5b9gUaz2TJ0uxGn
1QnF4T+rhXmegtDX0mR7XAHevaR4Qd0vM7HuIT+gcB3e9lSgylD2TAR9AUQbV6lb
Aj+AWstsaGI+1zeuoQkB1mp4l5TX3tPlEWoc1/hhJB+N/QTRIIaUwByy7Qs+/n3+
fhWFKQIRaQKBgGSPZiGASMAAz+n+W879Wip3s4CEgR0F90aF0W+cpeofsErd5UM2
is0MhyQ1AANC40rgalx3fhYKqrGijBVjfSD79E3BP84w8e9VbXKNJyVZfjZZZZBG
FYHBEU1tS4gWTLq2be4qGxGu2aoll7+MBc3u/MWvJ43NuecwvQsOjWQBAoGBAItr
9P7C22BKZWYWgq7uEJeTpE2M/OQp5VWpFBLmRJF6tBLqFj+hjRXOxdMYoNfedTDI
7kcZyJZrWlnGsEoWDE/p5HA2KWa3H6a7+/9hTfAHiUAe/F7YbCodCbH187GQkgjs
9p6VfxKYJQZgACRdEF41+hLseOgzEA3nQry18htpAoGABjvyCJN23iS5nC6wkX1c
K3ewU2WbOAsG3xdk7znfJdQ1hQ0izXzF9eH8RiYoSrLoDwGRcpEN8Z6JjetGUQIw
MmUPM/5pUvDW7dxgCHxeDTvPefDjA97VFT0z/m+se7TqPS90qr11Ftv77qdnHNzR
ONNyGxSjwZEqio3Necj5I7E=
-----END PRIVATE KEY-----
)";

// A header and payload this target signs (with the key the header's "alg" names: ES256 the EC
// key, anything else the RSA key), and the verdicts Verify and VerifyJws must give it.
struct Document {
  const char* name;
  std::string header;
  std::string payload;
  bool verify_ok;
  bool jws_ok;
};

std::string Claims(const std::string& extra = "", int64_t iat = kNowSeconds - 60,
                   int64_t exp = kNowSeconds + 600) {
  return absl::StrCat(R"({"iss":"https://issuer.fuzz.test","sub":"user-1","aud":"aurora-profile",)",
                      R"("iat":)", iat, R"(,"nbf":)", iat, R"(,"exp":)", exp, extra, "}");
}

const std::vector<Document>& Documents() {
  static const auto* const documents = new std::vector<Document>{
      {"es256_valid", R"({"alg":"ES256","kid":"fuzz-ec","typ":"JWT"})",
       Claims(R"(,"scope":"profile consent")"), true, true},
      {"rs256_valid_aud_array", R"({"typ":"at+jwt","kid":"fuzz-rsa","alg":"RS256"})",
       absl::StrCat(R"({"iss":"https://issuer.fuzz.test","sub":"user-2","aud":["other",)",
                    R"("aurora-profile"],"exp":)", kNowSeconds + 300, "}"),
       true, true},
      {"es256_typ_application", R"({"alg":"ES256","kid":"fuzz-ec","typ":"application/JWT"})",
       Claims(), true, true},
      {"es256_fractional_dates", R"({"alg":"ES256","kid":"fuzz-ec"})",
       absl::StrCat(R"({"iss":"https://issuer.fuzz.test","sub":"u\u00e4","aud":"aurora-profile",)",
                    R"("iat":)", kNowSeconds - 1, R"(.25,"exp":)", kNowSeconds + 30, ".5}"),
       true, true},
      {"es256_expired", R"({"alg":"ES256","kid":"fuzz-ec","typ":"JWT"})",
       Claims("", kNowSeconds - 7200, kNowSeconds - 3600), false, true},
      {"rs256_not_yet_valid", R"({"alg":"RS256","kid":"fuzz-rsa"})",
       absl::StrCat(R"({"iss":"https://issuer.fuzz.test","sub":"user-1","aud":"aurora-profile",)",
                    R"("nbf":)", kNowSeconds + 3600, R"(,"exp":)", kNowSeconds + 7200, "}"),
       false, true},
      {"es256_wrong_audience", R"({"alg":"ES256","kid":"fuzz-ec"})",
       absl::StrCat(R"({"iss":"https://issuer.fuzz.test","sub":"user-1","aud":["a","b","c","d"],)",
                    R"("exp":)", kNowSeconds + 60, "}"),
       false, true},
      {"rs256_wrong_issuer", R"({"alg":"RS256","kid":"fuzz-rsa"})",
       absl::StrCat(R"({"iss":"https://issuer.fuzz.test/","sub":"user-1","aud":"aurora-profile",)",
                    R"("exp":)", kNowSeconds + 60, "}"),
       false, true},
      {"es256_empty_subject", R"({"alg":"ES256","kid":"fuzz-ec"})",
       absl::StrCat(R"({"iss":"https://issuer.fuzz.test","sub":"","aud":"aurora-profile",)",
                    R"("exp":)", kNowSeconds + 60, "}"),
       false, true},
      {"es256_subject_control", R"({"alg":"ES256","kid":"fuzz-ec"})",
       absl::StrCat(R"({"iss":"https://issuer.fuzz.test","sub":"a\u0001b","aud":"aurora-profile",)",
                    R"("exp":)", kNowSeconds + 60, "}"),
       false, true},
      {"rs256_lifetime_too_long", R"({"alg":"RS256","kid":"fuzz-rsa"})",
       Claims("", kNowSeconds - 60, kNowSeconds + 48 * 3600), false, true},
      {"es256_exp_beyond_9999", R"({"alg":"ES256","kid":"fuzz-ec"})",
       Claims("", kNowSeconds - 60, 253402300800), false, true},
      {"es256_exp_string", R"({"alg":"ES256","kid":"fuzz-ec"})",
       R"({"iss":"https://issuer.fuzz.test","sub":"user-1","aud":"aurora-profile","exp":"soon"})",
       false, true},
      {"es256_typ_dpop", R"({"alg":"ES256","kid":"fuzz-ec","typ":"dpop+jwt"})", Claims(), false,
       true},
      {"es256_receipt", R"({"alg":"ES256","kid":"fuzz-ec","typ":"JWT"})",
       R"({"receipt_id":"r-1","client_id":"c-1","attributes":["age","municipality_code"]})", false,
       true},
      {"rs256_payload_array", R"({"alg":"RS256","kid":"fuzz-rsa"})", R"([1,2,3])", false, false},
      {"rs256_payload_not_json", R"({"alg":"RS256","kid":"fuzz-rsa"})", "not json", false, false},
      {"rs256_crit", R"({"alg":"RS256","kid":"fuzz-rsa","crit":["exp"]})", Claims(), false, false},
      {"rs256_alg_for_ec_key", R"({"alg":"RS256","kid":"fuzz-ec"})", Claims(), false, false},
      {"es256_no_kid", R"({"alg":"ES256"})", Claims(), false, false},
      {"es256_unknown_kid", R"({"alg":"ES256","kid":"fuzz-ec-2"})", Claims(), false, false},
  };
  return *documents;
}

// Strict base64url, written here independently of the library: the alphabet without '=', no
// impossible length, zero trailing bits.
std::optional<std::string> DecodeBase64Url(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  if ((bits & ((1u << count) - 1)) != 0) return std::nullopt;
  return out;
}

bool IsBase64UrlText(std::string_view text) {
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

PkeyPtr ReadKey(const char* pem) {
  BioPtr bio(BIO_new_mem_buf(pem, -1));
  FUZZ_CHECK(bio != nullptr);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  FUZZ_CHECK(key != nullptr);
  return key;
}

std::string BnParam(EVP_PKEY* key, const char* name, int pad) {
  BIGNUM* raw = nullptr;
  FUZZ_CHECK(EVP_PKEY_get_bn_param(key, name, &raw) == 1);
  BnPtr bn(raw);
  std::string bytes(static_cast<size_t>(pad > 0 ? pad : BN_num_bytes(bn.get())), '\0');
  FUZZ_CHECK(BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size())) == static_cast<int>(bytes.size()));
  return bytes;
}

// The JWS signature of `input`: raw r||s for the EC key, PKCS #1 v1.5 for the RSA key.
std::string Sign(EVP_PKEY* key, bool ec, std::string_view input) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t length = 0;
  FUZZ_CHECK(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1);
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  FUZZ_CHECK(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) == 1);
  std::string der(length, '\0');
  FUZZ_CHECK(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &length, data,
                            input.size()) == 1);
  der.resize(length);
  if (!ec) return der;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  FUZZ_CHECK(sig != nullptr);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  FUZZ_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32) == 32);
  FUZZ_CHECK(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32) == 32);
  return raw;
}

bool EcSignatureVerifies(EVP_PKEY* key, std::string_view input, std::string_view raw) {
  if (raw.size() != 64) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  FUZZ_CHECK(sig != nullptr && r != nullptr && s != nullptr);
  FUZZ_CHECK(ECDSA_SIG_set0(sig.get(), r, s) == 1);
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &der);
  FUZZ_CHECK(length > 0);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx.get(), der, static_cast<size_t>(length),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

struct Signed {
  const Document* document;
  bool ec;                    // signed with the EC key (else RSA)
  std::string rsa_signature;  // for RSA: the (deterministic) signature
};

struct Fixture {
  PkeyPtr ec_key, rsa_key;
  std::unique_ptr<JwkSet> keys;
  std::unique_ptr<JwtVerifier> cached, uncached;
  std::map<std::string, Signed, std::less<>> by_signing_input;
};

std::string SigningInput(const Document& d) {
  return absl::StrCat(Base64UrlEncode(d.header), ".", Base64UrlEncode(d.payload));
}

bool SignsWithEc(const Document& d) { return absl::StrContains(d.header, R"("alg":"ES256")"); }

// The tokens of Documents(), freshly signed, and a few unsigned ones, into `folder`.
void WriteSeeds(const Fixture& f, const std::string& folder) {
  std::filesystem::create_directories(folder);
  auto write = [&](const std::string& name, const std::string& token) {
    FILE* file = std::fopen((folder + "/" + name).c_str(), "wb");
    FUZZ_CHECK(file != nullptr);
    std::fwrite(token.data(), 1, token.size(), file);
    std::fclose(file);
  };
  for (const Document& d : Documents()) {
    const std::string input = SigningInput(d);
    const bool ec = SignsWithEc(d);
    write(d.name,
          absl::StrCat(input, ".",
                       Base64UrlEncode(Sign(ec ? f.ec_key.get() : f.rsa_key.get(), ec, input))));
  }
  const std::string claims = Base64UrlEncode(Claims());
  write("unsigned_alg_none",
        absl::StrCat(Base64UrlEncode(R"({"alg":"none","typ":"JWT"})"), ".", claims, ".AA"));
  write("unsigned_hs256", absl::StrCat(Base64UrlEncode(R"({"alg":"HS256","kid":"fuzz-rsa"})"), ".",
                                       claims, ".", Base64UrlEncode(std::string(32, 'k'))));
  write("unsigned_es256_zero_signature",
        absl::StrCat(Base64UrlEncode(R"({"alg":"ES256","kid":"fuzz-ec"})"), ".", claims, ".",
                     Base64UrlEncode(std::string(64, '\0'))));
  write("padded_segments", absl::StrCat(Base64UrlEncode(R"({"alg":"RS256"})"), "==.", claims, "=.",
                                        Base64UrlEncode(std::string(256, '\1'))));
  write("two_segments", absl::StrCat(Base64UrlEncode(R"({"alg":"ES256"})"), ".", claims));
}

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    f->ec_key = ReadKey(kEcKeyPem);
    f->rsa_key = ReadKey(kRsaKeyPem);
    const std::string point = BnParam(f->ec_key.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32) +
                              BnParam(f->ec_key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    const Json jwks = {
        {"keys",
         {{{"kty", "EC"}, {"crv", "P-384"}, {"kid", "skipped"}, {"x", "AA"}, {"y", "AA"}},
          {{"kty", "EC"},
           {"crv", "P-256"},
           {"kid", "fuzz-ec"},
           {"use", "sig"},
           {"alg", "ES256"},
           {"x", Base64UrlEncode(point.substr(0, 32))},
           {"y", Base64UrlEncode(point.substr(32))}},
          {{"kty", "RSA"},
           {"kid", "fuzz-rsa"},
           {"n", Base64UrlEncode(BnParam(f->rsa_key.get(), OSSL_PKEY_PARAM_RSA_N, 0))},
           {"e", Base64UrlEncode(BnParam(f->rsa_key.get(), OSSL_PKEY_PARAM_RSA_E, 0))}}}}};
    absl::StatusOr<JwkSet> keys = JwkSet::Parse(jwks.dump());
    if (!keys.ok()) std::fprintf(stderr, "JWKS: %s\n", keys.status().ToString().c_str());
    FUZZ_CHECK(keys.ok());
    FUZZ_CHECK(keys->size() == 2);
    f->keys = std::make_unique<JwkSet>(*keys);
    JwtVerifierOptions options;
    options.issuer = kIssuer;
    options.audience = kAudience;
    f->cached = std::make_unique<JwtVerifier>(*keys, options);
    options.cache_entries = 0;
    f->uncached = std::make_unique<JwtVerifier>(*keys, options);

    for (const Document& d : Documents()) {
      const std::string input = SigningInput(d);
      const bool ec = SignsWithEc(d);
      Signed s{&d, ec, ec ? "" : Sign(f->rsa_key.get(), false, input)};
      FUZZ_CHECK(f->by_signing_input.emplace(input, std::move(s)).second);
    }
    if (const char* folder = std::getenv("AURORA_FUZZ_WRITE_SEEDS")) {
      WriteSeeds(*f, folder);
      std::fprintf(stderr, "seeds written to %s\n", folder);
      std::_Exit(0);  // not exit(): libFuzzer reports a target that calls exit() as a crash
    }
    return f;
  }();
  return *fixture;
}

// Every string (keys and values) in `text` parsed as JSON, when it is JSON.
void CollectStrings(const Json& value, std::vector<std::string>* out) {
  if (value.is_string()) {
    out->push_back(value.get<std::string>());
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      out->push_back(key);
      CollectStrings(item, out);
    }
  } else if (value.is_array()) {
    for (const Json& item : value) CollectStrings(item, out);
  }
}

void CheckRefusal(const absl::Status& status, std::string_view prefix, std::string_view token) {
  if (status.code() != absl::StatusCode::kUnauthenticated ||
      !absl::StartsWith(status.message(), absl::string_view(prefix.data(), prefix.size()))) {
    std::fprintf(stderr, "refusal: %s\n", status.ToString().c_str());
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kUnauthenticated);
  FUZZ_CHECK(absl::StartsWith(status.message(), absl::string_view(prefix.data(), prefix.size())));
  FUZZ_CHECK(status.message().size() > prefix.size());

  // The signature segment (of a token with three segments, made of base64url characters, as
  // long as no run of those characters in the messages' fixed text) is never echoed.
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return;
  }
  const std::string_view signature = token.substr(second + 1);
  if (signature.size() < 16 || !IsBase64UrlText(signature)) return;
  const std::string_view message(status.message().data(), status.message().size());
  if (message.find(signature) == std::string_view::npos) return;
  std::vector<std::string> strings;
  for (std::string_view segment :
       {token.substr(0, first), token.substr(first + 1, second - first - 1)}) {
    std::optional<std::string> decoded = DecodeBase64Url(segment);
    if (!decoded) continue;
    const Json json = Json::parse(*decoded, nullptr, /*allow_exceptions=*/false);
    if (!json.is_discarded()) CollectStrings(json, &strings);
  }
  bool quoted = false;
  for (const std::string& s : strings) quoted = quoted || s.find(signature) != std::string::npos;
  if (!quoted)
    std::fprintf(stderr, "the message repeats the signature: %s\n", status.ToString().c_str());
  FUZZ_CHECK(quoted);
}

bool SameClaims(const JwtClaims& a, const JwtClaims& b) {
  return a.issuer == b.issuer && a.subject == b.subject && a.audience == b.audience &&
         a.expires == b.expires && a.not_before == b.not_before && a.issued_at == b.issued_at &&
         a.key_id == b.key_id && a.algorithm == b.algorithm && a.payload_json == b.payload_json;
}

void RunOne(const uint8_t* data, size_t size) {
  const Fixture& f = GetFixture();
  const std::string_view token(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<JwtClaims> cached = f.cached->Verify(token, kNow);
  const absl::StatusOr<JwtClaims> uncached = f.uncached->Verify(token, kNow);
  const absl::StatusOr<std::string> jws = VerifyJws(*f.keys, token);
  FUZZ_CHECK(cached.ok() == uncached.ok());
  if (cached.ok()) {
    FUZZ_CHECK(SameClaims(*cached, *uncached));
  } else {
    FUZZ_CHECK(cached.status() == uncached.status());
    CheckRefusal(uncached.status(), "token ", token);
  }
  if (!jws.ok()) CheckRefusal(jws.status(), "JWS ", token);

  // Is the token one this target signed, by its own check?
  const Signed* signed_document = nullptr;
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second != std::string_view::npos && token.find('.', second + 1) == std::string_view::npos) {
    const std::string_view input = token.substr(0, second);
    auto it = f.by_signing_input.find(input);
    const std::optional<std::string> signature = DecodeBase64Url(token.substr(second + 1));
    if (it != f.by_signing_input.end() && signature.has_value()) {
      const Signed& s = it->second;
      const bool verifies = s.ec ? EcSignatureVerifies(f.ec_key.get(), input, *signature)
                                 : *signature == s.rsa_signature;
      if (verifies) signed_document = &s;
    }
  }
  if (signed_document == nullptr) {
    if (uncached.ok() || jws.ok()) {
      std::fprintf(stderr, "accepted a token this target did not sign (Verify %d, VerifyJws %d)\n",
                   uncached.ok(), jws.ok());
    }
    FUZZ_CHECK(!uncached.ok());
    FUZZ_CHECK(!jws.ok());
    return;
  }
  const Document& d = *signed_document->document;
  if (uncached.ok() != d.verify_ok || jws.ok() != d.jws_ok) {
    std::fprintf(stderr, "document %s: Verify %s, VerifyJws %s\n", d.name,
                 uncached.ok() ? "OK" : uncached.status().ToString().c_str(),
                 jws.ok() ? "OK" : jws.status().ToString().c_str());
  }
  FUZZ_CHECK(uncached.ok() == d.verify_ok);
  FUZZ_CHECK(jws.ok() == d.jws_ok);
  if (jws.ok()) FUZZ_CHECK(*jws == d.payload);
  if (uncached.ok()) {
    FUZZ_CHECK(uncached->payload_json == d.payload);
    FUZZ_CHECK(uncached->issuer == kIssuer);
    FUZZ_CHECK(uncached->key_id == (signed_document->ec ? "fuzz-ec" : "fuzz-rsa"));
    FUZZ_CHECK(uncached->algorithm == (signed_document->ec ? "ES256" : "RS256"));
  }
}

}  // namespace
}  // namespace aurora::profile

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aurora::profile::RunOne(data, size);
  return 0;
}
