#include "profile/pseudonym.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"
#include "profile/crypto.h"

namespace aurora::profile {
namespace {

constexpr size_t kMinKeyBytes = 32;

std::string FormatUuid(std::string_view bytes16) {
  const std::string hex = HexEncode(bytes16);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20, 12));
}

}  // namespace

absl::StatusOr<PseudonymKeyring> PseudonymKeyring::Create(std::map<int, std::string> keys,
                                                          int current) {
  if (keys.empty()) return absl::InvalidArgumentError("pseudonym keys: none given");
  for (const auto& [version, key] : keys) {
    if (version < 1 || version > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("pseudonym key version ", version, " is outside 1..255"));
    }
    if (key.size() < kMinKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat("pseudonym key version ", version, " has ",
                                                     key.size(), " bytes, at least ", kMinKeyBytes,
                                                     " are needed"));
    }
  }
  if (!keys.contains(current)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the current pseudonym key version ", current, " is not among the keys"));
  }
  return PseudonymKeyring(std::move(keys), current);
}

absl::StatusOr<std::string> PseudonymKeyring::Pseudonym(std::string_view issuer,
                                                        std::string_view subject,
                                                        std::string_view sector,
                                                        int version) const {
  if (version == 0) version = current_;
  auto key = keys_.find(version);
  if (key == keys_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pseudonym key version ", version, " is not (or no longer) kept"));
  }
  if (subject.empty()) return absl::InvalidArgumentError("pseudonym: empty subject");
  if (sector.empty()) return absl::InvalidArgumentError("pseudonym: empty sector");
  // Length-unambiguous input: the parts are separated by NUL, which none of them may contain.
  for (std::string_view part : {issuer, subject, sector}) {
    if (part.find('\0') != std::string_view::npos) {
      return absl::InvalidArgumentError("pseudonym: an input contains a NUL character");
    }
  }
  std::string input("aurora-pairwise");
  for (std::string_view part : {issuer, subject, sector}) {
    input.push_back('\0');
    input.append(part);
  }
  std::string mac = HmacSha256(key->second, input).substr(0, 16);
  mac[0] = static_cast<char>(version);
  mac[6] = static_cast<char>((mac[6] & 0x0f) | 0x80);  // version 8
  mac[8] = static_cast<char>((mac[8] & 0x3f) | 0x80);  // RFC 9562 variant
  return FormatUuid(mac);
}

int PseudonymKeyring::VersionOf(std::string_view id) {
  if (!IsCanonicalUuid(id) || id[14] != '8') return 0;
  const int high = id[0] >= 'a' ? id[0] - 'a' + 10 : id[0] - '0';
  const int low = id[1] >= 'a' ? id[1] - 'a' + 10 : id[1] - '0';
  return high * 16 + low;
}

bool PseudonymKeyring::Matches(std::string_view id, std::string_view issuer,
                               std::string_view subject, std::string_view sector) const {
  const int version = VersionOf(id);
  if (version == 0) return false;
  auto expected = Pseudonym(issuer, subject, sector, version);
  return expected.ok() && ConstantTimeEquals(*expected, id);
}

}  // namespace aurora::profile
