#include "profile/dev_issuer.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/openssl_handles.h"
#include "common/secret_hash.h"
#include "common/text.h"

namespace aurora::profile {
namespace {

using Json = nlohmann::json;

constexpr int kCoordinateBytes = 32;
constexpr size_t kMaxPemBytes = 64 * 1024;
constexpr size_t kMaxSubjectBytes = 255;

// The affine coordinate `name` (OSSL_PKEY_PARAM_EC_PUB_X or _Y) as 32 big-endian bytes.
absl::StatusOr<std::string> Coordinate(const EVP_PKEY* key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    return absl::InternalError(absl::StrCat("reading the EC public key failed: ", OpenSslError()));
  }
  BnPtr value(raw);
  std::string bytes(kCoordinateBytes, '\0');
  if (BN_bn2binpad(value.get(), reinterpret_cast<unsigned char*>(bytes.data()), kCoordinateBytes) !=
      kCoordinateBytes) {
    return absl::InternalError("EC public key coordinate does not fit in 32 bytes");
  }
  return bytes;
}

absl::Status ValidateIssuer(std::string_view issuer) {
  if (issuer.empty()) return absl::InvalidArgumentError("dev issuer: the issuer is empty");
  if (!Utf8Length(issuer) || HasControlCharacters(issuer, /*allow_newlines=*/false)) {
    return absl::InvalidArgumentError(absl::StrCat("dev issuer: the issuer ",
                                                   QuoteForMessage(issuer),
                                                   " is not UTF-8 text without control "
                                                   "characters"));
  }
  return absl::OkStatus();
}

int RefusePassword(char*, int, int, void*) { return -1; }

}  // namespace

void DevIssuer::KeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

DevIssuer::DevIssuer(std::string issuer, KeyPtr key, std::string key_id, std::string jwks_json,
                     JwkSet keys)
    : issuer_(std::move(issuer)),
      key_(std::move(key)),
      key_id_(std::move(key_id)),
      jwks_json_(std::move(jwks_json)),
      keys_(std::move(keys)),
      encoded_header_(
          Base64UrlEncode(Json{{"alg", "ES256"}, {"typ", "JWT"}, {"kid", key_id_}}.dump())) {}

DevIssuer::~DevIssuer() = default;

absl::StatusOr<std::unique_ptr<DevIssuer>> DevIssuer::FromKey(std::string issuer, KeyPtr key) {
  char group[64] = {};
  size_t group_length = 0;
  if (EVP_PKEY_is_a(key.get(), "EC") != 1 ||
      EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &group_length) != 1 ||
      (std::string_view(group) != "prime256v1" && std::string_view(group) != "P-256")) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "dev issuer key is not an EC P-256 key (type ",
        EVP_PKEY_get0_type_name(key.get()) ? EVP_PKEY_get0_type_name(key.get()) : "unknown",
        ", group ", QuoteForMessage(group), ")"));
  }
  absl::StatusOr<std::string> x = Coordinate(key.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = Coordinate(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (!y.ok()) return y.status();
  const std::string x64 = Base64UrlEncode(*x);
  const std::string y64 = Base64UrlEncode(*y);

  // RFC 7638: SHA-256 over the required members in lexicographic order, without whitespace.
  const std::string thumbprint_input =
      absl::StrCat(R"({"crv":"P-256","kty":"EC","x":")", x64, R"(","y":")", y64, R"("})");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_Digest(thumbprint_input.data(), thumbprint_input.size(), digest, &digest_length,
                 EVP_sha256(), nullptr) != 1) {
    return absl::InternalError(absl::StrCat("SHA-256 failed: ", OpenSslError()));
  }
  std::string key_id =
      Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), digest_length));

  const Json jwk = {{"kty", "EC"},   {"crv", "P-256"}, {"x", x64},      {"y", y64},
                    {"kid", key_id}, {"use", "sig"},   {"alg", "ES256"}};
  std::string jwks_json = Json{{"keys", Json::array({jwk})}}.dump();
  absl::StatusOr<JwkSet> keys = JwkSet::Parse(jwks_json);
  if (!keys.ok()) {
    return absl::InternalError(
        absl::StrCat("dev issuer JWKS does not parse: ", keys.status().message()));
  }
  return std::unique_ptr<DevIssuer>(new DevIssuer(std::move(issuer), std::move(key),
                                                  std::move(key_id), std::move(jwks_json),
                                                  *std::move(keys)));
}

absl::StatusOr<std::unique_ptr<DevIssuer>> DevIssuer::Create(std::string issuer) {
  if (absl::Status valid = ValidateIssuer(issuer); !valid.ok()) return valid;
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-256")));
  if (!key) {
    return absl::InternalError(absl::StrCat("EC P-256 key generation failed: ", OpenSslError()));
  }
  return FromKey(std::move(issuer), std::move(key));
}

absl::StatusOr<std::unique_ptr<DevIssuer>> DevIssuer::LoadOrCreate(std::string issuer,
                                                                   const std::string& pem_path) {
  if (absl::Status valid = ValidateIssuer(issuer); !valid.ok()) return valid;
  const std::string quoted = QuoteForMessage(pem_path, 1024);
  std::error_code ec;
  const bool exists = std::filesystem::exists(pem_path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot look up dev issuer key file ", quoted, ": ", ec.message()));
  }
  if (exists) {
    absl::StatusOr<std::string> pem = ReadFile(pem_path);
    if (!pem.ok()) return pem.status();
    if (pem->size() > kMaxPemBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("dev issuer key file ", quoted, " is over ", kMaxPemBytes, " bytes"));
    }
    BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
    KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, RefusePassword, nullptr)
                   : nullptr);
    OPENSSL_cleanse(pem->data(), pem->size());
    if (!key) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(
          "dev issuer key file ", quoted, " does not hold an unencrypted PEM private key"));
    }
    absl::StatusOr<std::unique_ptr<DevIssuer>> loaded = FromKey(std::move(issuer), std::move(key));
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat(loaded.status().message(), " in ", quoted));
    }
    return loaded;
  }

  absl::StatusOr<std::unique_ptr<DevIssuer>> created = Create(std::move(issuer));
  if (!created.ok()) return created.status();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), (*created)->key_.get(), nullptr, nullptr, 0,
                                            nullptr, nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("PEM encoding of the dev issuer key failed: ", OpenSslError()));
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  if (length <= 0 || data == nullptr) {
    return absl::InternalError("PEM encoding of the dev issuer key is empty");
  }
  const absl::Status written =
      WriteFileAtomically(pem_path, std::string(data, static_cast<size_t>(length)), 0600);
  OPENSSL_cleanse(data, static_cast<size_t>(length));
  if (!written.ok()) return written;
  return created;
}

absl::StatusOr<std::string> DevIssuer::SignJws(std::string_view payload_json) const {
  const Json payload = Json::parse(payload_json, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded() || !payload.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWS payload ", QuoteForMessage(payload_json, 80), " is not a JSON object"));
  }
  const std::string signing_input =
      absl::StrCat(encoded_header_, ".", Base64UrlEncode(payload_json));

  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t der_length = 0;
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key_.get(), nullptr) !=
          1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError(absl::StrCat("ES256 signing failed: ", OpenSslError()));
  }
  std::string der(der_length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError(absl::StrCat("ES256 signing failed: ", OpenSslError()));
  }
  const auto* der_bytes = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &der_bytes, static_cast<long>(der_length)));
  if (!sig)
    return absl::InternalError(absl::StrCat("ECDSA signature decoding failed: ", OpenSslError()));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * kCoordinateBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kCoordinateBytes) != kCoordinateBytes ||
      BN_bn2binpad(s, out + kCoordinateBytes, kCoordinateBytes) != kCoordinateBytes) {
    return absl::InternalError("ECDSA signature component does not fit in 32 bytes");
  }
  return absl::StrCat(signing_input, ".", Base64UrlEncode(raw));
}

absl::StatusOr<std::string> DevIssuer::Issue(const DevTokenRequest& request, absl::Time now) const {
  const auto invalid = [](const auto&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("dev token request: ", parts...));
  };
  if (request.subject.empty()) return invalid("\"subject\" is empty");
  if (request.subject.size() > kMaxSubjectBytes) {
    return invalid("\"subject\" is ", request.subject.size(), " bytes, over the ", kMaxSubjectBytes,
                   "-byte limit");
  }
  if (HasControlCharacters(request.subject, /*allow_newlines=*/false)) {
    return invalid("\"subject\" ", QuoteForMessage(request.subject), " has control characters");
  }
  if (request.audience.empty()) return invalid("\"audience\" is empty");
  for (const auto& [name, value] :
       {std::pair{"subject", &request.subject}, std::pair{"audience", &request.audience},
        std::pair{"scope", &request.scope}}) {
    if (!Utf8Length(*value)) {
      return invalid("\"", name, "\" ", QuoteForMessage(*value), " is not valid UTF-8");
    }
  }
  if (request.lifetime < absl::Seconds(1)) {
    return invalid("\"lifetime\" ", absl::FormatDuration(request.lifetime),
                   " is shorter than one second");
  }
  const int64_t issued_at = absl::ToUnixSeconds(now);
  Json claims = {
      {"iss", issuer_},          {"sub", request.subject},
      {"aud", request.audience}, {"iat", issued_at},
      {"nbf", issued_at},        {"exp", issued_at + absl::ToInt64Seconds(request.lifetime)},
      {"jti", NewRandomUuid()}};
  if (!request.scope.empty()) claims["scope"] = request.scope;
  return SignJws(claims.dump());
}

}  // namespace aurora::profile
