#pragma once
// The development token issuer behind `aurora serve --dev-issuer`: one EC P-256 key that signs
// ES256 bearer tokens for the embedded default and the tests, publishes itself as a JWKS, and
// signs other JSON documents (consent receipts) as compact JWS. Immutable after creation;
// thread-safe.
//
// Usage:
//   absl::StatusOr<std::unique_ptr<DevIssuer>> issuer =
//       DevIssuer::LoadOrCreate("https://dev.aurora.local", data_dir + "/dev-issuer.pem");
//   DevTokenRequest request;
//   request.subject = "user-1";
//   request.audience = "aurora";
//   absl::StatusOr<std::string> token = (*issuer)->Issue(request, absl::Now());
//   // Verify with JwtVerifier((*issuer)->Keys(), options).

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profile/jwt.h"

namespace aurora::profile {

struct DevTokenRequest {
  std::string subject;
  std::string audience;
  absl::Duration lifetime = absl::Minutes(15);
  // The "scope" claim, left out when empty.
  std::string scope;
};

class DevIssuer {
 public:
  // A fresh key. INVALID_ARGUMENT when `issuer` is empty or not UTF-8 text.
  static absl::StatusOr<std::unique_ptr<DevIssuer>> Create(std::string issuer);
  // The key in the PKCS #8 PEM file `pem_path` (which must hold an EC P-256 private key), or a
  // fresh key written there (mode 0600, through a temporary file renamed into place) when the
  // file does not exist, so that tokens stay valid across restarts.
  static absl::StatusOr<std::unique_ptr<DevIssuer>> LoadOrCreate(std::string issuer,
                                                                 const std::string& pem_path);

  ~DevIssuer();
  DevIssuer(const DevIssuer&) = delete;
  DevIssuer& operator=(const DevIssuer&) = delete;

  const std::string& issuer() const { return issuer_; }
  // The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
  const std::string& key_id() const { return key_id_; }
  // {"keys":[{"kty":"EC","crv":"P-256","x":..,"y":..,"kid":..,"use":"sig","alg":"ES256"}]}
  std::string JwksJson() const { return jwks_json_; }
  // JwksJson() parsed.
  JwkSet Keys() const { return keys_; }

  // An ES256 JWT with "iss", "sub", "aud", "iat", "nbf" (= now), "exp" (now + lifetime, whole
  // seconds), "jti" (random) and "scope" when set. INVALID_ARGUMENT when the subject is empty,
  // over 255 bytes or has control characters, the audience is empty, a value is not UTF-8, or the
  // lifetime is under one second.
  absl::StatusOr<std::string> Issue(const DevTokenRequest& request, absl::Time now) const;

  // A compact JWS with the header {"alg":"ES256","kid":..,"typ":"JWT"} over exactly the bytes of
  // `payload_json`, which must be a JSON object (INVALID_ARGUMENT otherwise). VerifyJws with
  // Keys() returns `payload_json` unchanged.
  absl::StatusOr<std::string> SignJws(std::string_view payload_json) const;

 private:
  struct KeyFree {
    void operator()(EVP_PKEY* key) const;
  };
  using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

  static absl::StatusOr<std::unique_ptr<DevIssuer>> FromKey(std::string issuer, KeyPtr key);
  DevIssuer(std::string issuer, KeyPtr key, std::string key_id, std::string jwks_json, JwkSet keys);

  std::string issuer_;
  KeyPtr key_;
  std::string key_id_;
  std::string jwks_json_;
  JwkSet keys_;
  std::string encoded_header_;
};

}  // namespace aurora::profile
