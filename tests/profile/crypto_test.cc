// Unit tests of the profile node's cryptography: AES-256-GCM sealing, HMAC, and pairwise
// pseudonyms.

#include "profile/crypto.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/text.h"
#include "profile/pseudonym.h"

namespace aurora::profile {
namespace {

TEST_CASE("Seal and Unseal round-trip, bound to the key and the context", "[profile][crypto]") {
  const std::string key = RandomBytes(kAeadKeyBytes);
  auto sealed = Seal(key, "age=37", "user-1/age");
  REQUIRE(sealed.ok());
  CHECK(sealed->size() == kAeadNonceBytes + 6 + kAeadTagBytes);
  CHECK(sealed->find("age=37") == std::string::npos);
  auto opened = Unseal(key, *sealed, "user-1/age");
  REQUIRE(opened.ok());
  CHECK(*opened == "age=37");

  // A fresh nonce each time: the same plaintext never seals to the same bytes.
  auto again = Seal(key, "age=37", "user-1/age");
  REQUIRE(again.ok());
  CHECK(*again != *sealed);

  // Moved to another user or attribute: does not authenticate.
  auto moved = Unseal(key, *sealed, "user-2/age");
  CHECK(moved.status().code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(moved.status().message()).find("does not authenticate") != std::string::npos);
  // Another key.
  CHECK(Unseal(RandomBytes(kAeadKeyBytes), *sealed, "user-1/age").status().code() ==
        absl::StatusCode::kDataLoss);
  // Each byte altered in turn.
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string altered = *sealed;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    INFO("byte " << i);
    CHECK(Unseal(key, altered, "user-1/age").status().code() == absl::StatusCode::kDataLoss);
  }
  // Truncated.
  CHECK(Unseal(key, sealed->substr(0, kAeadNonceBytes + kAeadTagBytes - 1), "user-1/age")
            .status()
            .code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("Seal and Unseal refuse keys of the wrong size", "[profile][crypto]") {
  auto sealed = Seal(std::string(16, 'k'), "x", "");
  CHECK(sealed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(sealed.status().message()).find("this one has 16") != std::string::npos);
  CHECK(Unseal(std::string(31, 'k'), std::string(40, 'x'), "").status().code() ==
        absl::StatusCode::kInvalidArgument);
  // Empty plaintext is fine.
  const std::string key = RandomBytes(kAeadKeyBytes);
  auto empty = Seal(key, "", "ctx");
  REQUIRE(empty.ok());
  auto opened = Unseal(key, *empty, "ctx");
  REQUIRE(opened.ok());
  CHECK(opened->empty());
}

TEST_CASE("HMAC-SHA-256 and SHA-256 match the RFC 4231 and FIPS 180-2 vectors",
          "[profile][crypto]") {
  // RFC 4231 test case 2.
  CHECK(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(HexEncode(Sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abcd"));
  CHECK(RandomBytes(32) != RandomBytes(32));
}

PseudonymKeyring TestKeyring() {
  auto keyring =
      PseudonymKeyring::Create({{1, std::string(32, 'a')}, {2, std::string(32, 'b')}}, 2);
  REQUIRE(keyring.ok());
  return *keyring;
}

TEST_CASE("pairwise pseudonyms differ per sector and are stable per sector",
          "[profile][pseudonym]") {
  const PseudonymKeyring keyring = TestKeyring();
  const std::string issuer = "https://login.example.fi";
  std::set<std::string> ids;
  const std::string store_sector(kStoreSector);
  for (const std::string& sector :
       std::vector<std::string>{"client-a", "client-b", "client-c", store_sector}) {
    auto id = keyring.Pseudonym(issuer, "user-123", sector);
    REQUIRE(id.ok());
    CHECK(IsCanonicalUuid(*id));
    CHECK(id->find("user-123") == std::string::npos);
    CHECK(PseudonymKeyring::VersionOf(*id) == 2);
    CHECK((*id)[14] == '8');                                          // UUIDv8
    CHECK(std::string("89ab").find((*id)[19]) != std::string::npos);  // RFC 9562 variant
    // Stable: the same inputs give the same id.
    CHECK(*keyring.Pseudonym(issuer, "user-123", sector) == *id);
    CHECK(keyring.Matches(*id, issuer, "user-123", sector));
    CHECK_FALSE(keyring.Matches(*id, issuer, "user-124", sector));
    CHECK_FALSE(keyring.Matches(*id, "https://other.example", "user-123", sector));
    ids.insert(*id);
  }
  CHECK(ids.size() == 4);
  // Another person in the same sector, and the same subject at another issuer.
  CHECK(*keyring.Pseudonym(issuer, "user-124", "client-a") !=
        *keyring.Pseudonym(issuer, "user-123", "client-a"));
  CHECK(*keyring.Pseudonym("https://other.example", "user-123", "client-a") !=
        *keyring.Pseudonym(issuer, "user-123", "client-a"));
  // Separators cannot be forged by moving text between the parts.
  CHECK(*keyring.Pseudonym(issuer, "user", "1client") !=
        *keyring.Pseudonym(issuer, "user1", "client"));
}

TEST_CASE("pseudonym keys rotate without changing existing pseudonyms", "[profile][pseudonym]") {
  auto old_ring = PseudonymKeyring::Create({{1, std::string(32, 'a')}}, 1);
  REQUIRE(old_ring.ok());
  auto issued = old_ring->Pseudonym("iss", "user-1", "client-a");
  REQUIRE(issued.ok());
  CHECK(PseudonymKeyring::VersionOf(*issued) == 1);

  const PseudonymKeyring rotated = TestKeyring();  // keeps version 1, current 2
  CHECK(rotated.Matches(*issued, "iss", "user-1", "client-a"));
  CHECK(*rotated.Pseudonym("iss", "user-1", "client-a", 1) == *issued);
  auto fresh = rotated.Pseudonym("iss", "user-1", "client-a");
  REQUIRE(fresh.ok());
  CHECK(*fresh != *issued);
  CHECK(PseudonymKeyring::VersionOf(*fresh) == 2);

  // A retired version can no longer be checked.
  auto retired = PseudonymKeyring::Create({{2, std::string(32, 'b')}}, 2);
  REQUIRE(retired.ok());
  CHECK_FALSE(retired->Matches(*issued, "iss", "user-1", "client-a"));
  auto gone = retired->Pseudonym("iss", "user-1", "client-a", 1);
  CHECK(gone.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(gone.status().message()).find("version 1") != std::string::npos);
}

TEST_CASE("pseudonym keyring and inputs are validated", "[profile][pseudonym]") {
  auto short_key = PseudonymKeyring::Create({{1, std::string(16, 'a')}}, 1);
  CHECK(short_key.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(short_key.status().message()).find("16 bytes") != std::string::npos);
  auto bad_version = PseudonymKeyring::Create({{256, std::string(32, 'a')}}, 256);
  CHECK(std::string(bad_version.status().message()).find("256") != std::string::npos);
  auto no_current = PseudonymKeyring::Create({{1, std::string(32, 'a')}}, 2);
  CHECK(std::string(no_current.status().message()).find("current") != std::string::npos);
  CHECK_FALSE(PseudonymKeyring::Create({}, 1).ok());

  const PseudonymKeyring keyring = TestKeyring();
  CHECK_FALSE(keyring.Pseudonym("iss", "", "client").ok());
  CHECK_FALSE(keyring.Pseudonym("iss", "user", "").ok());
  CHECK_FALSE(keyring.Pseudonym("iss", std::string("us\0er", 5), "client").ok());
  CHECK(PseudonymKeyring::VersionOf("not a uuid") == 0);
  CHECK(PseudonymKeyring::VersionOf("02345678-1234-4234-8234-123456789abc") == 0);  // not v8
  CHECK_FALSE(keyring.Matches("02345678-1234-8234-8234-123456789abc", "iss", "user", "client"));
}

}  // namespace
}  // namespace aurora::profile
