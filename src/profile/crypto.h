#pragma once
// The profile node's symmetric cryptography, through OpenSSL: random bytes, SHA-256, HMAC-SHA-256
// and authenticated encryption with AES-256-GCM. Values at rest are sealed with a per-user data
// key, and each data key is sealed (wrapped) with the node's master key; erasing a user destroys
// the wrapped data key first, so that every copy of their ciphertext, wherever RocksDB left it,
// becomes unreadable (crypto-shredding).
//
// Stateless functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aurora::profile {

inline constexpr size_t kAeadKeyBytes = 32;    // AES-256
inline constexpr size_t kAeadNonceBytes = 12;  // GCM's 96-bit IV, random per message
inline constexpr size_t kAeadTagBytes = 16;

// `n` bytes from OpenSSL's CSPRNG.
std::string RandomBytes(size_t n);

// 32 raw bytes.
std::string Sha256(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);

// Compares without an early exit (for secrets and MACs); false if the sizes differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// AES-256-GCM with a fresh random nonce: returns nonce || ciphertext || tag. `aad` is
// authenticated but not stored: opening needs the same `aad` (the store binds each value to its
// key, so that a sealed value cannot be moved to another user or attribute). INVALID_ARGUMENT if
// the key is not kAeadKeyBytes long.
absl::StatusOr<std::string> Seal(std::string_view key, std::string_view plaintext,
                                 std::string_view aad);

// The inverse of Seal. DATA_LOSS if `sealed` is too short or does not authenticate (wrong key,
// wrong `aad`, or altered bytes).
absl::StatusOr<std::string> Unseal(std::string_view key, std::string_view sealed,
                                   std::string_view aad);

std::string HexEncode(std::string_view bytes);

}  // namespace aurora::profile
