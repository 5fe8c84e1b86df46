#pragma once
// Verification of OpenID Connect-style bearer tokens: JWTs (RFC 7519) in JWS compact serialization
// (RFC 7515) signed with ES256 or RS256, checked against the issuer's public keys (a JWKS, RFC
// 7517) with OpenSSL 3.
//
// Usage:
//   absl::StatusOr<JwkSet> keys = JwkSet::LoadFile("/etc/aurora/issuer-jwks.json");
//   JwtVerifierOptions options;
//   options.issuer = "https://id.example";
//   options.audience = "aurora";
//   JwtVerifier verifier(*std::move(keys), options);
//   absl::StatusOr<JwtClaims> claims = verifier.Verify(bearer_token, absl::Now());
//   if (!claims.ok()) return claims.status();  // UNAUTHENTICATED, with the reason

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aurora::profile {

// The signing keys an issuer publishes, parsed from a JWKS document: EC P-256 keys (for ES256) and
// RSA keys of at least 2048 bits (for RS256). Keys of other types or curves are skipped. Immutable
// after parsing; copies share the same keys; safe to use from any number of threads at once.
class JwkSet {
 public:
  // INVALID_ARGUMENT naming the key, field and value when the document or a supported key is
  // malformed, or when no usable key remains.
  static absl::StatusOr<JwkSet> Parse(std::string_view json);
  // As Parse, from a file; NOT_FOUND naming the path when the file does not exist.
  static absl::StatusOr<JwkSet> LoadFile(const std::string& path);

  // Number of usable keys.
  size_t size() const;
  // The "kid" of each usable key in document order ("" for a key without one).
  std::vector<std::string> key_ids() const;

 private:
  struct Keys;
  struct VerifiedJws;

  explicit JwkSet(std::shared_ptr<const Keys> keys);

  // Checks the compact serialization, the header's "alg" and "kid" and the signature; on success
  // returns the decoded header fields and payload (a JSON object). Errors are UNAUTHENTICATED and
  // start with `label`; they never contain the token or its signature.
  absl::StatusOr<VerifiedJws> VerifyCompact(std::string_view jws, size_t max_bytes,
                                            std::string_view label) const;

  friend class JwtVerifier;
  friend absl::StatusOr<std::string> VerifyJws(const JwkSet& keys, std::string_view jws);

  std::shared_ptr<const Keys> keys_;
};

// The claims of a verified token. `payload_json` is the decoded payload text, for claims not
// listed here (such as "scope").
struct JwtClaims {
  std::string issuer;
  std::string subject;
  std::vector<std::string> audience;
  std::optional<absl::Time> expires;
  std::optional<absl::Time> not_before;
  std::optional<absl::Time> issued_at;
  std::string key_id;
  std::string algorithm;
  std::string payload_json;
};

struct JwtVerifierOptions {
  // Required: the exact "iss" value and one value that "aud" must contain.
  std::string issuer;
  std::string audience;
  absl::Duration clock_skew = absl::Seconds(60);
  // Upper bound on "exp" - "iat" when the token has both.
  absl::Duration max_lifetime = absl::Hours(24);
  // Tokens whose signature and claims were verified are remembered (by their SHA-256, never the
  // token itself) until they expire, so that a client presenting the same token again costs a
  // hash and a lookup instead of a signature verification; the time claims are still checked on
  // every call, and an entry is used only while the issuer's keys are the ones that verified it.
  // At most this many entries (0: no cache).
  size_t cache_entries = 4096;
};

// Largest bearer token JwtVerifier accepts.
inline constexpr size_t kMaxJwtBytes = 8 * 1024;
// Largest JWS VerifyJws accepts (signed documents such as consent receipts).
inline constexpr size_t kMaxJwsBytes = 64 * 1024;

// Verifies bearer tokens of one issuer for one audience: signature first, then "typ", "iss",
// "aud", "sub", "exp", "nbf", "iat" and the lifetime. Thread-safe.
class JwtVerifier {
 public:
  JwtVerifier(JwkSet keys, JwtVerifierOptions options);
  // Keys that may change (JwksSource): `keys` is asked on every verification.
  JwtVerifier(std::function<JwkSet()> keys, JwtVerifierOptions options);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // UNAUTHENTICATED with the reason when the token is not acceptable at `now`;
  // FAILED_PRECONDITION when the options lack an issuer or audience.
  absl::StatusOr<JwtClaims> Verify(std::string_view token, absl::Time now) const;

  // Verifications answered from the cache, and entries held now (for tests and metrics).
  uint64_t cache_hits() const;
  size_t cache_size() const;

 private:
  struct Cache;
  // The checks that do not depend on the time: signature, "typ", "iss", "aud", "sub", the date
  // claims' syntax and the lifetime.
  absl::StatusOr<JwtClaims> VerifyStatic(const JwkSet& keys, std::string_view token) const;
  // "exp", "nbf" and "iat" against `now`.
  absl::Status CheckTimes(const JwtClaims& claims, absl::Time now) const;

  std::function<JwkSet()> keys_;
  JwtVerifierOptions options_;
  std::unique_ptr<Cache> cache_;
};

// Verifies a compact JWS (ES256 or RS256, signature, "alg" and "kid" only; no claim checks) and
// returns its payload, a JSON object. UNAUTHENTICATED with the reason otherwise.
absl::StatusOr<std::string> VerifyJws(const JwkSet& keys, std::string_view jws);

}  // namespace aurora::profile
