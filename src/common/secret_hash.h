#pragma once
// Random secrets and their salted slow hashes (PBKDF2-HMAC-SHA-256 through OpenSSL), stored as
// "pbkdf2-sha256$<iterations>$<salt base64url>$<hash base64url>" so that the parameters travel
// with each hash and can be raised later without invalidating old ones. Thread-safe.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aurora {

// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA-256.
inline constexpr int kDefaultSecretHashIterations = 600000;

// 256 random bits from OpenSSL's CSPRNG as 43 characters of unpadded base64url.
std::string NewSecret();

// Hashes `secret` with a fresh 16-byte salt.
std::string HashSecret(std::string_view secret, int iterations = kDefaultSecretHashIterations);

// True when `secret` matches `encoded` (constant-time comparison); false for malformed encodings.
bool VerifySecret(std::string_view secret, std::string_view encoded);

std::string Base64UrlEncode(std::string_view bytes);
// Accepts unpadded base64url; nullopt-like error on bad input.
absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

}  // namespace aurora
