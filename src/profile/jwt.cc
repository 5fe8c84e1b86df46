#include "profile/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl_handles.h"
#include "common/secret_hash.h"
#include "common/text.h"
#include "profile/crypto.h"

namespace aurora::profile {
namespace {

using Json = nlohmann::json;

enum class Algorithm { kES256, kRS256 };

constexpr std::string_view AlgorithmName(Algorithm alg) {
  return alg == Algorithm::kES256 ? "ES256" : "RS256";
}

constexpr size_t kEcCoordinateBytes = 32;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;
constexpr size_t kMaxJwksFileBytes = 1024 * 1024;
constexpr size_t kMaxSubjectBytes = 255;
// 9999-12-31T23:59:59Z: NumericDates beyond this are refused rather than overflowing.
constexpr int64_t kMaxNumericDate = 253402300799;

struct PublicKey {
  size_t index = 0;  // position in the JWKS "keys" array
  std::string kid;
  Algorithm algorithm = Algorithm::kES256;
  PkeyPtr pkey;
};

std::string Quote(std::string_view text) { return QuoteForMessage(text, 80); }

bool IsBase64UrlChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }

// Decodes canonical unpadded base64url (RFC 7515 §2); the error says what is wrong, without
// repeating the text.
absl::StatusOr<std::string> DecodeBase64UrlStrict(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=') {
      return absl::InvalidArgumentError(absl::StrCat("has base64 padding '=' at offset ", i,
                                                     " (base64url without padding is required)"));
    }
    if (!IsBase64UrlChar(text[i])) {
      return absl::InvalidArgumentError(absl::StrCat("has the character ", Quote(text.substr(i, 1)),
                                                     " at offset ", i, ", which is not base64url"));
    }
  }
  absl::StatusOr<std::string> decoded = Base64UrlDecode(text);
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("has a length of ", text.size(), " characters, impossible in base64url"));
  }
  if (Base64UrlEncode(*decoded) != text) {
    return absl::InvalidArgumentError("is not canonical base64url (non-zero trailing bits)");
  }
  return decoded;
}

// Builds a public key of `type` ("EC" or "RSA") from the parameters in `builder`, and checks it.
absl::StatusOr<PkeyPtr> PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* builder) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(builder));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("is not a valid public key");
  }
  PkeyPtr key(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("is not a valid public key");
  }
  return key;
}

// One entry of a JWKS "keys" array: a usable key, or the reason it is skipped.
struct JwkOutcome {
  std::optional<PublicKey> key;
  std::string skipped_because;
};

absl::StatusOr<JwkOutcome> ParseJwk(const Json& jwk, size_t index) {
  if (!jwk.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("JWKS key ", index, " is not a JSON object"));
  }
  std::string label = absl::StrCat("JWKS key ", index);
  std::string kid;
  if (auto it = jwk.find("kid"); it != jwk.end()) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": \"kid\" is not a string"));
    }
    kid = it->get<std::string>();
    absl::StrAppend(&label, " (\"kid\" ", Quote(kid), ")");
  }
  const auto error = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", parts...));
  };
  // A required string member, or an error naming it.
  const auto string_member = [&](const char* name) -> absl::StatusOr<std::string> {
    auto it = jwk.find(name);
    if (it == jwk.end()) return error("has no \"", name, "\"");
    if (!it->is_string()) return error("\"", name, "\" is not a string");
    return it->get<std::string>();
  };
  const auto binary_member = [&](const char* name) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> text = string_member(name);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::string> bytes = DecodeBase64UrlStrict(*text);
    if (!bytes.ok()) return error("\"", name, "\" ", Quote(*text), " ", bytes.status().message());
    return bytes;
  };

  absl::StatusOr<std::string> kty = string_member("kty");
  if (!kty.ok()) return kty.status();
  Algorithm algorithm;
  if (*kty == "EC") {
    absl::StatusOr<std::string> crv = string_member("crv");
    if (!crv.ok()) return crv.status();
    if (*crv != "P-256") {
      return JwkOutcome{
          .key = std::nullopt,
          .skipped_because = absl::StrCat(label, ": \"crv\" ", Quote(*crv), " is not supported")};
    }
    algorithm = Algorithm::kES256;
  } else if (*kty == "RSA") {
    algorithm = Algorithm::kRS256;
  } else {
    return JwkOutcome{
        .key = std::nullopt,
        .skipped_because = absl::StrCat(label, ": \"kty\" ", Quote(*kty), " is not supported")};
  }
  // Providers publish encryption keys and keys for other algorithms (RSA-OAEP, PS256) beside
  // their token signing keys: those are passed over, not errors.
  if (auto it = jwk.find("use"); it != jwk.end()) {
    if (!it->is_string()) return error("\"use\" is not a string");
    if (it->get<std::string>() != "sig") {
      return JwkOutcome{.key = std::nullopt,
                        .skipped_because = absl::StrCat(
                            label, ": \"use\" ", Quote(it->get<std::string>()), " is not \"sig\"")};
    }
  }
  if (auto it = jwk.find("alg"); it != jwk.end()) {
    if (!it->is_string()) return error("\"alg\" is not a string");
    const std::string alg = it->get<std::string>();
    if (alg != "ES256" && alg != "RS256") {
      return JwkOutcome{
          .key = std::nullopt,
          .skipped_because = absl::StrCat(label, ": \"alg\" ", Quote(alg), " is not supported")};
    }
    if (alg != AlgorithmName(algorithm)) {
      return error("\"alg\" ", Quote(it->get<std::string>()), " does not match the key type ",
                   Sv(*kty), " (expected \"", Sv(AlgorithmName(algorithm)), "\")");
    }
  }

  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder) return absl::ResourceExhaustedError("OSSL_PARAM_BLD_new failed");
  BnPtr n, e;  // referenced by `builder` until PublicKeyFromParams
  std::string point;
  if (algorithm == Algorithm::kES256) {
    absl::StatusOr<std::string> x = binary_member("x");
    if (!x.ok()) return x.status();
    absl::StatusOr<std::string> y = binary_member("y");
    if (!y.ok()) return y.status();
    for (const auto& [name, bytes] : {std::pair{"x", &*x}, std::pair{"y", &*y}}) {
      if (bytes->size() != kEcCoordinateBytes) {
        return error("\"", name, "\" is ", bytes->size(), " bytes, expected ", kEcCoordinateBytes,
                     " for P-256");
      }
    }
    point = absl::StrCat("\x04", *x, *y);
    if (OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1",
                                        0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return absl::ResourceExhaustedError("OSSL_PARAM_BLD_push failed");
    }
  } else {
    absl::StatusOr<std::string> n_bytes = binary_member("n");
    if (!n_bytes.ok()) return n_bytes.status();
    absl::StatusOr<std::string> e_bytes = binary_member("e");
    if (!e_bytes.ok()) return e_bytes.status();
    if (n_bytes->size() > kMaxRsaBits / 8 + 1 || e_bytes->size() > 8) {
      return error("\"n\" or \"e\" is too long (", n_bytes->size(), " and ", e_bytes->size(),
                   " bytes)");
    }
    n.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_bytes->data()),
                      static_cast<int>(n_bytes->size()), nullptr));
    e.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes->data()),
                      static_cast<int>(e_bytes->size()), nullptr));
    if (!n || !e) return absl::ResourceExhaustedError("BN_bin2bn failed");
    const int bits = BN_num_bits(n.get());
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      return error("\"n\" is a ", bits, "-bit modulus; RS256 keys need ", kMinRsaBits, " to ",
                   kMaxRsaBits, " bits");
    }
    if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) < 2) {
      return error("\"e\" ", Quote(jwk.at("e").get<std::string>()),
                   " is not a valid RSA public exponent");
    }
    if (OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
      return absl::ResourceExhaustedError("OSSL_PARAM_BLD_push_BN failed");
    }
  }
  absl::StatusOr<PkeyPtr> pkey =
      PublicKeyFromParams(algorithm == Algorithm::kES256 ? "EC" : "RSA", builder.get());
  if (!pkey.ok()) {
    return error(
        algorithm == Algorithm::kES256 ? "\"x\", \"y\" (not a point on P-256) " : "\"n\", \"e\" ",
        pkey.status().message());
  }
  return JwkOutcome{.key = PublicKey{.index = index,
                                     .kid = std::move(kid),
                                     .algorithm = algorithm,
                                     .pkey = *std::move(pkey)},
                    .skipped_because = ""};
}

// The JWS signature over `signing_input`: raw R||S for ES256 (converted to DER for OpenSSL),
// PKCS #1 v1.5 for RS256.
bool SignatureVerifies(const PublicKey& key, std::string_view signing_input,
                       std::string_view signature) {
  std::string der;
  if (key.algorithm == Algorithm::kES256) {
    if (signature.size() != 2 * kEcCoordinateBytes) return false;
    const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
    EcdsaSigPtr sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(raw, kEcCoordinateBytes, nullptr);
    BIGNUM* s = BN_bin2bn(raw + kEcCoordinateBytes, kEcCoordinateBytes, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (length <= 0) return false;
    der.resize(static_cast<size_t>(length));
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ECDSA_SIG(sig.get(), &out) != length) return false;
    signature = der;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok =
      ctx &&
      EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.pkey.get(),
                              nullptr) == 1 &&
      EVP_DigestVerify(
          ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
          reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string FormatDate(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// A NumericDate (RFC 7519 §2): seconds since the epoch, integer or not; nullopt when `value` is
// not a number in [0, year 9999].
std::optional<absl::Time> NumericDate(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t seconds = value.get<uint64_t>();
    if (seconds > static_cast<uint64_t>(kMaxNumericDate)) return std::nullopt;
    return absl::FromUnixSeconds(static_cast<int64_t>(seconds));
  }
  if (value.is_number_integer()) {
    const int64_t seconds = value.get<int64_t>();
    if (seconds < 0 || seconds > kMaxNumericDate) return std::nullopt;
    return absl::FromUnixSeconds(seconds);
  }
  if (value.is_number_float()) {
    const double seconds = value.get<double>();
    if (!std::isfinite(seconds) || seconds < 0 || seconds > static_cast<double>(kMaxNumericDate)) {
      return std::nullopt;
    }
    return absl::UnixEpoch() + absl::Seconds(seconds);
  }
  return std::nullopt;
}

template <typename... Parts>
absl::Status Unauthenticated(const Parts&... parts) {
  return absl::UnauthenticatedError(absl::StrCat("token ", parts...));
}

// The date claim `name` of `payload`: nullopt when absent, an error when not a NumericDate.
absl::StatusOr<std::optional<absl::Time>> DateClaim(const Json& payload, const char* name) {
  auto it = payload.find(name);
  if (it == payload.end()) return std::optional<absl::Time>();
  std::optional<absl::Time> date = NumericDate(*it);
  if (!date) {
    return Unauthenticated("\"", name, "\" is not a NumericDate (seconds since 1970 as a number)");
  }
  return date;
}

}  // namespace

struct JwkSet::Keys {
  std::vector<PublicKey> keys;
};

struct JwkSet::VerifiedJws {
  const PublicKey* key = nullptr;
  Json header;
  Json payload;
  std::string payload_text;
};

JwkSet::JwkSet(std::shared_ptr<const Keys> keys) : keys_(std::move(keys)) {}

size_t JwkSet::size() const { return keys_->keys.size(); }

std::vector<std::string> JwkSet::key_ids() const {
  std::vector<std::string> ids;
  for (const PublicKey& key : keys_->keys) ids.push_back(key.kid);
  return ids;
}

absl::StatusOr<JwkSet> JwkSet::Parse(std::string_view json) {
  Json doc;
  try {
    doc = Json::parse(json.begin(), json.end());
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS is not valid JSON (syntax error at byte ", e.byte, ")"));
  }
  if (!doc.is_object()) return absl::InvalidArgumentError("JWKS is not a JSON object");
  auto keys_it = doc.find("keys");
  if (keys_it == doc.end()) return absl::InvalidArgumentError("JWKS has no \"keys\" member");
  if (!keys_it->is_array()) return absl::InvalidArgumentError("JWKS \"keys\" is not an array");

  auto keys = std::make_shared<Keys>();
  std::vector<std::string> skipped;
  for (size_t i = 0; i < keys_it->size(); ++i) {
    absl::StatusOr<JwkOutcome> outcome = ParseJwk((*keys_it)[i], i);
    if (!outcome.ok()) return outcome.status();
    if (outcome->key) {
      keys->keys.push_back(*std::move(outcome->key));
    } else {
      skipped.push_back(std::move(outcome->skipped_because));
    }
  }
  if (keys->keys.empty()) {
    if (skipped.empty()) return absl::InvalidArgumentError("JWKS \"keys\" is empty");
    if (skipped.size() > 3) skipped.resize(3);
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS has no usable key (EC P-256 or RSA): ", absl::StrJoin(skipped, "; ")));
  }
  if (keys->keys.size() > 1) {
    for (size_t i = 0; i < keys->keys.size(); ++i) {
      const PublicKey& key = keys->keys[i];
      if (key.kid.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "JWKS key ", key.index, " has no \"kid\", which is required when the set has ",
            keys->keys.size(), " usable keys"));
      }
      for (size_t j = 0; j < i; ++j) {
        if (keys->keys[j].kid == key.kid) {
          return absl::InvalidArgumentError(absl::StrCat("JWKS keys ", keys->keys[j].index, " and ",
                                                         key.index, " have the same \"kid\" ",
                                                         Quote(key.kid)));
        }
      }
    }
  }
  return JwkSet(std::move(keys));
}

absl::StatusOr<JwkSet> JwkSet::LoadFile(const std::string& path) {
  const std::string quoted = QuoteForMessage(path, 1024);
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot look up JWKS file ", quoted, ": ", ec.message()));
  }
  if (!exists) {
    return absl::NotFoundError(absl::StrCat("JWKS file ", quoted, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open JWKS file ", quoted, ": ", std::strerror(errno)));
  }
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxJwksFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWKS file ", quoted, " is over ", kMaxJwksFileBytes, " bytes"));
    }
  }
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read JWKS file ", quoted));
  }
  absl::StatusOr<JwkSet> set = Parse(text);
  if (!set.ok()) {
    return absl::Status(set.status().code(),
                        absl::StrCat("JWKS file ", quoted, ": ", set.status().message()));
  }
  return set;
}

absl::StatusOr<JwkSet::VerifiedJws> JwkSet::VerifyCompact(std::string_view jws, size_t max_bytes,
                                                          std::string_view label) const {
  const auto fail = [&](const auto&... parts) {
    return absl::UnauthenticatedError(absl::StrCat(Sv(label), " ", parts...));
  };
  if (jws.empty()) return fail("is empty");
  if (jws.size() > max_bytes) {
    return fail("is ", jws.size(), " bytes, over the ", max_bytes, "-byte limit");
  }
  const size_t first_dot = jws.find('.');
  const size_t second_dot = first_dot == jws.npos ? jws.npos : jws.find('.', first_dot + 1);
  if (second_dot == jws.npos || jws.find('.', second_dot + 1) != jws.npos) {
    const size_t dots = static_cast<size_t>(std::count(jws.begin(), jws.end(), '.'));
    return fail("has ", dots + 1, " dot-separated segments, expected 3 (header.payload.signature)");
  }
  const std::string_view segments[3] = {jws.substr(0, first_dot),
                                        jws.substr(first_dot + 1, second_dot - first_dot - 1),
                                        jws.substr(second_dot + 1)};
  constexpr const char* kSegmentNames[3] = {"header", "payload", "signature"};
  std::string decoded[3];
  for (int i = 0; i < 3; ++i) {
    if (segments[i].empty()) return fail(kSegmentNames[i], " segment is empty");
    absl::StatusOr<std::string> bytes = DecodeBase64UrlStrict(segments[i]);
    if (!bytes.ok()) return fail(kSegmentNames[i], " segment ", bytes.status().message());
    decoded[i] = *std::move(bytes);
  }

  Json header = Json::parse(decoded[0], nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return fail("header is not valid JSON");
  if (!header.is_object()) return fail("header is not a JSON object");
  auto alg_it = header.find("alg");
  if (alg_it == header.end()) return fail("header has no \"alg\"");
  if (!alg_it->is_string()) return fail("header \"alg\" is not a string");
  const std::string alg = alg_it->get<std::string>();
  if (absl::AsciiStrToLower(alg) == "none") {
    return fail("header \"alg\" ", Quote(alg), " is refused: unsigned tokens are not accepted");
  }
  if (alg.size() > 2 && alg[0] == 'H' && alg[1] == 'S') {
    return fail("header \"alg\" ", Quote(alg),
                " is refused: shared-secret (HMAC) algorithms are not accepted");
  }
  if (alg != "ES256" && alg != "RS256") {
    return fail("header \"alg\" ", Quote(alg), " is not supported (ES256 or RS256)");
  }
  if (header.contains("crit")) {
    return fail("header has \"crit\", but no JWS extension is supported");
  }

  const PublicKey* key = nullptr;
  const std::vector<PublicKey>& keys = keys_->keys;
  if (auto kid_it = header.find("kid"); kid_it != header.end()) {
    if (!kid_it->is_string()) return fail("header \"kid\" is not a string");
    const std::string kid = kid_it->get<std::string>();
    for (const PublicKey& candidate : keys) {
      if (candidate.kid == kid) key = &candidate;
    }
    if (key == nullptr) return fail("header \"kid\" ", Quote(kid), " matches no key of the JWKS");
  } else if (keys.size() == 1) {
    key = &keys.front();
  } else {
    return fail("header has no \"kid\", which is required as the JWKS has ", keys.size(), " keys");
  }
  if (alg != AlgorithmName(key->algorithm)) {
    return fail("header \"alg\" ", Quote(alg), " does not match the key ", Quote(key->kid),
                ", which is for ", Sv(AlgorithmName(key->algorithm)));
  }
  if (key->algorithm == Algorithm::kES256 && decoded[2].size() != 2 * kEcCoordinateBytes) {
    return fail("signature is ", decoded[2].size(), " bytes, ES256 needs ", 2 * kEcCoordinateBytes);
  }
  if (!SignatureVerifies(*key, jws.substr(0, second_dot), decoded[2])) {
    return fail("signature does not verify with the key ", Quote(key->kid), " (", Sv(alg), ")");
  }

  Json payload = Json::parse(decoded[1], nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) return fail("payload is not valid JSON");
  if (!payload.is_object()) return fail("payload is not a JSON object");
  return VerifiedJws{.key = key,
                     .header = std::move(header),
                     .payload = std::move(payload),
                     .payload_text = std::move(decoded[1])};
}

absl::StatusOr<std::string> VerifyJws(const JwkSet& keys, std::string_view jws) {
  absl::StatusOr<JwkSet::VerifiedJws> verified = keys.VerifyCompact(jws, kMaxJwsBytes, "JWS");
  if (!verified.ok()) return verified.status();
  return std::move(verified->payload_text);
}

struct JwtVerifier::Cache {
  struct Entry {
    std::shared_ptr<const JwkSet::Keys> keys;  // the keys that verified the token
    JwtClaims claims;
  };
  mutable std::mutex mu;
  absl::flat_hash_map<std::string, Entry> entries;  // by the token's SHA-256
  uint64_t hits = 0;
};

JwtVerifier::JwtVerifier(JwkSet keys, JwtVerifierOptions options)
    : JwtVerifier(std::function<JwkSet()>([keys = std::move(keys)] { return keys; }),
                  std::move(options)) {}

JwtVerifier::JwtVerifier(std::function<JwkSet()> keys, JwtVerifierOptions options)
    : keys_(std::move(keys)), options_(std::move(options)), cache_(std::make_unique<Cache>()) {}

JwtVerifier::~JwtVerifier() = default;

uint64_t JwtVerifier::cache_hits() const {
  std::lock_guard<std::mutex> lock(cache_->mu);
  return cache_->hits;
}

size_t JwtVerifier::cache_size() const {
  std::lock_guard<std::mutex> lock(cache_->mu);
  return cache_->entries.size();
}

absl::StatusOr<JwtClaims> JwtVerifier::Verify(std::string_view token, absl::Time now) const {
  if (options_.issuer.empty() || options_.audience.empty()) {
    return absl::FailedPreconditionError(
        "JwtVerifier is misconfigured: the expected issuer and audience must be set");
  }
  const JwkSet keys = keys_();
  std::string digest;
  if (options_.cache_entries > 0 && token.size() <= kMaxJwtBytes) {
    digest = Sha256(token);
    std::optional<JwtClaims> cached;
    {
      std::lock_guard<std::mutex> lock(cache_->mu);
      auto it = cache_->entries.find(digest);
      if (it != cache_->entries.end() && it->second.keys == keys.keys_) {
        cached = it->second.claims;
        ++cache_->hits;
      }
    }
    if (cached) {
      if (auto status = CheckTimes(*cached, now); !status.ok()) return status;
      return *std::move(cached);
    }
  }
  absl::StatusOr<JwtClaims> claims = VerifyStatic(keys, token);
  if (!claims.ok()) return claims.status();
  if (auto status = CheckTimes(*claims, now); !status.ok()) return status;
  if (!digest.empty()) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto& entries = cache_->entries;
    if (entries.size() >= options_.cache_entries) {
      // Make room: drop what has expired; if everything is live, start over.
      absl::erase_if(entries, [&](const auto& entry) {
        return *entry.second.claims.expires + options_.clock_skew <= now;
      });
      if (entries.size() >= options_.cache_entries) entries.clear();
    }
    entries[digest] = Cache::Entry{keys.keys_, *claims};
  }
  return claims;
}

absl::StatusOr<JwtClaims> JwtVerifier::VerifyStatic(const JwkSet& keys,
                                                    std::string_view token) const {
  absl::StatusOr<JwkSet::VerifiedJws> verified = keys.VerifyCompact(token, kMaxJwtBytes, "token");
  if (!verified.ok()) return verified.status();
  const Json& header = verified->header;
  const Json& payload = verified->payload;

  if (auto it = header.find("typ"); it != header.end()) {
    if (!it->is_string()) return Unauthenticated("header \"typ\" is not a string");
    std::string typ = absl::AsciiStrToLower(it->get<std::string>());
    if (typ.starts_with("application/")) typ.erase(0, std::strlen("application/"));
    if (typ != "jwt" && typ != "at+jwt") {
      return Unauthenticated("header \"typ\" ", Quote(it->get<std::string>()),
                             " is not \"JWT\" or \"at+jwt\"");
    }
  }

  JwtClaims claims;
  claims.key_id = verified->key->kid;
  claims.algorithm = std::string(AlgorithmName(verified->key->algorithm));

  auto iss = payload.find("iss");
  if (iss == payload.end()) return Unauthenticated("has no \"iss\" claim");
  if (!iss->is_string()) return Unauthenticated("\"iss\" is not a string");
  claims.issuer = iss->get<std::string>();
  if (claims.issuer != options_.issuer) {
    return Unauthenticated("\"iss\" ", Quote(claims.issuer), " is not the expected issuer ",
                           Quote(options_.issuer));
  }

  auto aud = payload.find("aud");
  if (aud == payload.end()) return Unauthenticated("has no \"aud\" claim");
  if (aud->is_string()) {
    claims.audience.push_back(aud->get<std::string>());
  } else if (aud->is_array()) {
    for (const Json& value : *aud) {
      if (!value.is_string())
        return Unauthenticated("\"aud\" array has a value that is not a string");
      claims.audience.push_back(value.get<std::string>());
    }
  } else {
    return Unauthenticated("\"aud\" is not a string or an array of strings");
  }
  if (std::find(claims.audience.begin(), claims.audience.end(), options_.audience) ==
      claims.audience.end()) {
    std::vector<std::string> shown;
    for (size_t i = 0; i < claims.audience.size() && i < 3; ++i) {
      shown.push_back(Quote(claims.audience[i]));
    }
    if (claims.audience.size() > 3) shown.push_back("...");
    return Unauthenticated("\"aud\" [", absl::StrJoin(shown, ", "),
                           "] does not contain the expected audience ", Quote(options_.audience));
  }

  auto sub = payload.find("sub");
  if (sub == payload.end()) return Unauthenticated("has no \"sub\" claim");
  if (!sub->is_string()) return Unauthenticated("\"sub\" is not a string");
  claims.subject = sub->get<std::string>();
  if (claims.subject.empty()) return Unauthenticated("\"sub\" is empty");
  if (claims.subject.size() > kMaxSubjectBytes) {
    return Unauthenticated("\"sub\" is ", claims.subject.size(), " bytes, over the ",
                           kMaxSubjectBytes, "-byte limit");
  }
  if (HasControlCharacters(claims.subject, /*allow_newlines=*/false)) {
    return Unauthenticated("\"sub\" ", Quote(claims.subject), " contains control characters");
  }

  absl::StatusOr<std::optional<absl::Time>> exp = DateClaim(payload, "exp");
  if (!exp.ok()) return exp.status();
  if (!*exp) return Unauthenticated("has no \"exp\" claim");
  claims.expires = *exp;
  absl::StatusOr<std::optional<absl::Time>> nbf = DateClaim(payload, "nbf");
  if (!nbf.ok()) return nbf.status();
  claims.not_before = *nbf;
  absl::StatusOr<std::optional<absl::Time>> iat = DateClaim(payload, "iat");
  if (!iat.ok()) return iat.status();
  claims.issued_at = *iat;
  if (*iat && **exp - **iat > options_.max_lifetime) {
    return Unauthenticated("lifetime (\"exp\" - \"iat\") of ", absl::FormatDuration(**exp - **iat),
                           " is over the maximum of ", absl::FormatDuration(options_.max_lifetime));
  }

  claims.payload_json = std::move(verified->payload_text);
  return claims;
}

absl::Status JwtVerifier::CheckTimes(const JwtClaims& claims, absl::Time now) const {
  const absl::Duration skew = options_.clock_skew;
  const std::string shown_skew = absl::FormatDuration(skew);
  if (*claims.expires + skew <= now) {
    return Unauthenticated("has expired: \"exp\" ", FormatDate(*claims.expires), " is before now (",
                           FormatDate(now), ") by more than the clock skew of ", shown_skew);
  }
  if (claims.not_before && *claims.not_before - skew > now) {
    return Unauthenticated("is not valid yet: \"nbf\" ", FormatDate(*claims.not_before),
                           " is after now (", FormatDate(now), ") by more than the clock skew of ",
                           shown_skew);
  }
  if (claims.issued_at && *claims.issued_at - skew > now) {
    return Unauthenticated("\"iat\" ", FormatDate(*claims.issued_at), " is after now (",
                           FormatDate(now), ") by more than the clock skew of ", shown_skew);
  }
  return absl::OkStatus();
}

}  // namespace aurora::profile
