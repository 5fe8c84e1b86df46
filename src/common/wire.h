#pragma once
// Protobuf wire-format encoding of single fields, for building a message's bytes around parts that
// are already serialized (e.g. a list response from stored service bytes) without parsing and
// re-serializing them. Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

namespace aurora::wire {

inline void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Field `field` of wire type 0 (int32/int64/enum/bool).
inline void AppendVarintField(std::string* out, int field, uint64_t value) {
  AppendVarint(out, static_cast<uint64_t>(field) << 3);
  AppendVarint(out, value);
}

// Field `field` of wire type 2 (string, bytes or an embedded message's serialization).
inline void AppendLengthDelimitedField(std::string* out, int field, std::string_view bytes) {
  AppendVarint(out, static_cast<uint64_t>(field) << 3 | 2);
  AppendVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

}  // namespace aurora::wire
