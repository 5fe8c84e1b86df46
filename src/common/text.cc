#include "common/text.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <stdexcept>

#include "absl/strings/str_format.h"

namespace aurora {

std::optional<size_t> Utf8Length(std::string_view text) {
  size_t count = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (static_cast<size_t>(end - p) < len) return std::nullopt;
    for (size_t i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    p += len;
    ++count;
  }
  return count;
}

bool HasControlCharacters(std::string_view text, bool allow_newlines) {
  for (unsigned char c : text) {
    if (c == 0x7F) return true;
    if (c < 0x20) {
      if (allow_newlines && (c == '\t' || c == '\n' || c == '\r')) continue;
      return true;
    }
  }
  return false;
}

bool IsCanonicalUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

namespace {

std::string FormatUuid(const unsigned char* b) {
  return absl::StrFormat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string NewRandomUuid() {
  std::array<unsigned char, 16> b;
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    throw std::runtime_error(
        "RAND_bytes failed: the system random number generator is unavailable");
  }
  b[6] = (b[6] & 0x0F) | 0x40;
  b[8] = (b[8] & 0x3F) | 0x80;
  return FormatUuid(b.data());
}

std::string NameBasedUuid(std::string_view namespace_uuid, std::string_view name) {
  std::string input;
  input.reserve(16 + name.size());
  for (size_t i = 0; i + 1 < namespace_uuid.size();) {
    if (namespace_uuid[i] == '-') {
      ++i;
      continue;
    }
    const int hi = HexValue(namespace_uuid[i]), lo = HexValue(namespace_uuid[i + 1]);
    if (hi < 0 || lo < 0) throw std::invalid_argument("NameBasedUuid: malformed namespace UUID");
    input.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  if (input.size() != 16) throw std::invalid_argument("NameBasedUuid: malformed namespace UUID");
  input.append(name);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha1(), nullptr);
  digest[6] = (digest[6] & 0x0F) | 0x50;
  digest[8] = (digest[8] & 0x3F) | 0x80;
  return FormatUuid(digest);
}

std::string QuoteForMessage(std::string_view text, size_t max_chars) {
  std::string out = "\"";
  size_t i = 0;
  while (i < text.size() && i < max_chars) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = 1;
    if (c >= 0x80) {
      len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (len == 0 || i + len > text.size() || !Utf8Length(text.substr(i, len))) {
        out += absl::StrFormat("\\x%02x", c);
        ++i;
        continue;
      }
      out.append(text.substr(i, len));
      i += len;
      continue;
    }
    if (c < 0x20 || c == 0x7F) {
      out += absl::StrFormat("\\x%02x", c);
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  if (i < text.size()) out += "...";
  out += "\"";
  return out;
}

}  // namespace aurora
