#include "gateway/json_printer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/text.h"
#include "gateway/route_table.h"

namespace aurora::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr int kMaxDepth = 100;

enum class WellKnown {
  kNone,
  kTimestamp,
  kDuration,
  kWrapper,
  kStruct,
  kValue,
  kListValue,
  kFieldMask,
  kAny,
  kEmpty
};

WellKnown WellKnownOf(const Descriptor* type) {
  const std::string& name = type->full_name();
  if (name.compare(0, 16, "google.protobuf.") != 0) return WellKnown::kNone;
  std::string_view short_name = std::string_view(name).substr(16);
  if (short_name == "Timestamp") return WellKnown::kTimestamp;
  if (short_name == "Duration") return WellKnown::kDuration;
  if (short_name == "Struct") return WellKnown::kStruct;
  if (short_name == "Value") return WellKnown::kValue;
  if (short_name == "ListValue") return WellKnown::kListValue;
  if (short_name == "FieldMask") return WellKnown::kFieldMask;
  if (short_name == "Any") return WellKnown::kAny;
  if (short_name == "Empty") return WellKnown::kEmpty;
  if (short_name == "DoubleValue" || short_name == "FloatValue" || short_name == "Int64Value" ||
      short_name == "UInt64Value" || short_name == "Int32Value" || short_name == "UInt32Value" ||
      short_name == "BoolValue" || short_name == "StringValue" || short_name == "BytesValue") {
    return WellKnown::kWrapper;
  }
  return WellKnown::kNone;
}

// Shortest of %.15g/%.17g (doubles) or %.6g/%.9g (floats) that reads back to the same value.
template <typename T>
void AppendFloating(T value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  constexpr bool kIsFloat = std::is_same_v<T, float>;
  char buffer[40];
  // Whole numbers below 10^21 are written out in full, as ECMAScript's Number::toString does
  // (1234567890123456 rather than 1.23456789012346e+15): identifiers carried in doubles, such
  // as the AuroraAI API's recommendation ids, stay readable and exact.
  if (value == std::trunc(value) && std::fabs(value) < 1e21) {
    const int whole = std::snprintf(buffer, sizeof buffer, "%.0f", static_cast<double>(value));
    out->append(buffer, static_cast<size_t>(whole));
    return;
  }
  int length = std::snprintf(buffer, sizeof buffer, "%.*g", kIsFloat ? 6 : 15, value);
  T back = kIsFloat ? std::strtof(buffer, nullptr) : static_cast<T>(std::strtod(buffer, nullptr));
  if (back != value) {
    length = std::snprintf(buffer, sizeof buffer, "%.*g", kIsFloat ? 9 : 17, value);
  }
  out->append(buffer, static_cast<size_t>(length));
}

// "1.5s", "-0.000001s": seconds plus 0, 3, 6 or 9 fractional digits.
void AppendFraction(int32_t nanos, std::string* out) {
  if (nanos == 0) return;
  char buffer[16];
  if (nanos % 1000000 == 0) {
    std::snprintf(buffer, sizeof buffer, ".%03d", nanos / 1000000);
  } else if (nanos % 1000 == 0) {
    std::snprintf(buffer, sizeof buffer, ".%06d", nanos / 1000);
  } else {
    std::snprintf(buffer, sizeof buffer, ".%09d", nanos);
  }
  out->append(buffer);
}

std::string ToLowerCamel(std::string_view path) {
  std::string result;
  bool upper = false;
  for (char c : path) {
    if (c == '_') {
      upper = true;
    } else {
      result.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
      upper = false;
    }
  }
  return result;
}

class Printer {
 public:
  Printer(const ContractSet* contracts, std::string* out) : contracts_(contracts), out_(out) {}

  absl::Status Field(const google::protobuf::Message& message, const FieldDescriptor* field) {
    if (field->is_map()) return Map(message, field, 0);
    if (field->is_repeated()) return Repeated(message, field, 0);
    return Value(message, field, 0);
  }

  absl::Status Message(const google::protobuf::Message& message, int depth) {
    if (depth > kMaxDepth) {
      return absl::InvalidArgumentError("message nesting deeper than 100 levels");
    }
    const Descriptor* type = message.GetDescriptor();
    switch (WellKnownOf(type)) {
      case WellKnown::kNone:
        return Fields(message, depth, /*first=*/true);
      case WellKnown::kTimestamp:
        return Timestamp(message);
      case WellKnown::kDuration:
        return Duration(message);
      case WellKnown::kWrapper:
        return Value(message, type->FindFieldByNumber(1), depth);
      case WellKnown::kStruct:
        return Map(message, type->FindFieldByNumber(1), depth);
      case WellKnown::kValue:
        return StructValue(message, depth);
      case WellKnown::kListValue:
        return Repeated(message, type->FindFieldByNumber(1), depth);
      case WellKnown::kFieldMask:
        return FieldMask(message);
      case WellKnown::kAny:
        return Any(message, depth);
      case WellKnown::kEmpty:
        out_->append("{}");
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

 private:
  // `{` + the fields + `}`; with `first` false, the opening brace and at least one member were
  // already written (Any).
  absl::Status Fields(const google::protobuf::Message& message, int depth, bool first) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection* reflection = message.GetReflection();
    if (first) out_->push_back('{');
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      if (field->is_repeated()) {
        // printed even when empty: [] or {}
      } else if (field->has_presence()) {
        if (!reflection->HasField(message, field)) continue;
      }
      if (!first) out_->push_back(',');
      first = false;
      // Field names are identifiers ([A-Za-z0-9_]): nothing to escape.
      out_->push_back('"');
      out_->append(field->name());
      out_->append("\":", 2);
      absl::Status status = field->is_map()        ? Map(message, field, depth)
                            : field->is_repeated() ? Repeated(message, field, depth)
                                                   : Value(message, field, depth);
      if (!status.ok()) return status;
    }
    out_->push_back('}');
    return absl::OkStatus();
  }

  absl::Status Repeated(const google::protobuf::Message& message, const FieldDescriptor* field,
                        int depth) {
    const Reflection* reflection = message.GetReflection();
    int size = reflection->FieldSize(message, field);
    out_->push_back('[');
    for (int i = 0; i < size; ++i) {
      if (i > 0) out_->push_back(',');
      absl::Status status = Element(message, field, i, depth);
      if (!status.ok()) return status;
    }
    out_->push_back(']');
    return absl::OkStatus();
  }

  // A map field: its entries (key field 1, value field 2) as a JSON object.
  absl::Status Map(const google::protobuf::Message& message, const FieldDescriptor* field,
                   int depth) {
    const Reflection* reflection = message.GetReflection();
    int size = reflection->FieldSize(message, field);
    out_->push_back('{');
    for (int i = 0; i < size; ++i) {
      const google::protobuf::Message& entry = reflection->GetRepeatedMessage(message, field, i);
      const Descriptor* entry_type = entry.GetDescriptor();
      const FieldDescriptor* key = entry_type->FindFieldByNumber(1);
      const FieldDescriptor* value = entry_type->FindFieldByNumber(2);
      if (i > 0) out_->push_back(',');
      const Reflection* entry_reflection = entry.GetReflection();
      if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        AppendJsonString(entry_reflection->GetString(entry, key), out_);
      } else {
        // Integer and bool keys print as strings.
        std::string scalar;
        std::swap(scalar, *out_);
        absl::Status status = Value(entry, key, depth);
        std::swap(scalar, *out_);
        if (!status.ok()) return status;
        if (scalar.front() != '"') out_->push_back('"');
        out_->append(scalar);
        if (scalar.front() != '"') out_->push_back('"');
      }
      out_->push_back(':');
      absl::Status status = Value(entry, value, depth);
      if (!status.ok()) return status;
    }
    out_->push_back('}');
    return absl::OkStatus();
  }

  absl::Status Element(const google::protobuf::Message& message, const FieldDescriptor* field,
                       int index, int depth) {
    const Reflection* r = message.GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        absl::StrAppend(out_, r->GetRepeatedInt32(message, field, index));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        absl::StrAppend(out_, r->GetRepeatedUInt32(message, field, index));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        absl::StrAppend(out_, "\"", r->GetRepeatedInt64(message, field, index), "\"");
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        absl::StrAppend(out_, "\"", r->GetRepeatedUInt64(message, field, index), "\"");
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        AppendFloating(r->GetRepeatedDouble(message, field, index), out_);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        AppendFloating(r->GetRepeatedFloat(message, field, index), out_);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        out_->append(r->GetRepeatedBool(message, field, index) ? "true" : "false");
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        Enum(field, r->GetRepeatedEnumValue(message, field, index));
        break;
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& value = r->GetRepeatedStringReference(message, field, index, &scratch);
        String(field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return Message(r->GetRepeatedMessage(message, field, index), depth + 1);
    }
    return absl::OkStatus();
  }

  absl::Status Value(const google::protobuf::Message& message, const FieldDescriptor* field,
                     int depth) {
    const Reflection* r = message.GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        absl::StrAppend(out_, r->GetInt32(message, field));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        absl::StrAppend(out_, r->GetUInt32(message, field));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        absl::StrAppend(out_, "\"", r->GetInt64(message, field), "\"");
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        absl::StrAppend(out_, "\"", r->GetUInt64(message, field), "\"");
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        AppendFloating(r->GetDouble(message, field), out_);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        AppendFloating(r->GetFloat(message, field), out_);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        out_->append(r->GetBool(message, field) ? "true" : "false");
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        Enum(field, r->GetEnumValue(message, field));
        break;
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        String(field, r->GetStringReference(message, field, &scratch));
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return Message(r->GetMessage(message, field), depth + 1);
    }
    return absl::OkStatus();
  }

  void Enum(const FieldDescriptor* field, int number) {
    if (field->enum_type()->full_name() == "google.protobuf.NullValue") {
      out_->append("null");
      return;
    }
    const google::protobuf::EnumValueDescriptor* value =
        field->enum_type()->FindValueByNumber(number);
    if (value != nullptr) {
      AppendJsonString(value->name(), out_);
    } else {
      absl::StrAppend(out_, number);
    }
  }

  void String(const FieldDescriptor* field, const std::string& value) {
    if (field->type() == FieldDescriptor::TYPE_BYTES) {
      out_->push_back('"');
      out_->append(absl::Base64Escape(value));
      out_->push_back('"');
    } else {
      AppendJsonString(value, out_);
    }
  }

  absl::Status Timestamp(const google::protobuf::Message& message) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection* r = message.GetReflection();
    int64_t seconds = r->GetInt64(message, type->FindFieldByNumber(1));
    int32_t nanos = r->GetInt32(message, type->FindFieldByNumber(2));
    // 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, as the JSON mapping requires.
    if (seconds < -62135596800 || seconds > 253402300799 || nanos < 0 || nanos > 999999999) {
      return absl::InvalidArgumentError(
          absl::StrCat("Timestamp out of range: seconds=", seconds, " nanos=", nanos));
    }
    out_->push_back('"');
    out_->append(absl::FormatTime("%4Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(seconds),
                                  absl::UTCTimeZone()));
    AppendFraction(nanos, out_);
    out_->append("Z\"");
    return absl::OkStatus();
  }

  absl::Status Duration(const google::protobuf::Message& message) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection* r = message.GetReflection();
    int64_t seconds = r->GetInt64(message, type->FindFieldByNumber(1));
    int32_t nanos = r->GetInt32(message, type->FindFieldByNumber(2));
    if (seconds < -315576000000 || seconds > 315576000000 || nanos < -999999999 ||
        nanos > 999999999 || (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Duration out of range: seconds=", seconds, " nanos=", nanos));
    }
    out_->push_back('"');
    if (seconds < 0 || nanos < 0) out_->push_back('-');
    absl::StrAppend(out_, seconds < 0 ? -seconds : seconds);
    AppendFraction(nanos < 0 ? -nanos : nanos, out_);
    out_->append("s\"");
    return absl::OkStatus();
  }

  absl::Status StructValue(const google::protobuf::Message& message, int depth) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection* r = message.GetReflection();
    const google::protobuf::OneofDescriptor* kind = type->FindOneofByName("kind");
    const FieldDescriptor* set = r->GetOneofFieldDescriptor(message, kind);
    if (set == nullptr) {
      // An empty Value has no JSON form; protobuf prints null for it too.
      out_->append("null");
      return absl::OkStatus();
    }
    return Value(message, set, depth);
  }

  absl::Status FieldMask(const google::protobuf::Message& message) {
    const FieldDescriptor* paths = message.GetDescriptor()->FindFieldByNumber(1);
    const Reflection* r = message.GetReflection();
    std::string joined;
    for (int i = 0; i < r->FieldSize(message, paths); ++i) {
      if (i > 0) joined.push_back(',');
      joined.append(ToLowerCamel(r->GetRepeatedString(message, paths, i)));
    }
    AppendJsonString(joined, out_);
    return absl::OkStatus();
  }

  absl::Status Any(const google::protobuf::Message& message, int depth) {
    const Descriptor* type = message.GetDescriptor();
    const Reflection* r = message.GetReflection();
    std::string url = r->GetString(message, type->FindFieldByNumber(1));
    std::string value = r->GetString(message, type->FindFieldByNumber(2));
    if (url.empty()) {
      out_->append("{}");
      return absl::OkStatus();
    }
    size_t slash = url.rfind('/');
    std::string name = slash == std::string::npos ? url : url.substr(slash + 1);
    const Descriptor* inner_type =
        contracts_ == nullptr ? nullptr : contracts_->pool().FindMessageTypeByName(name);
    if (inner_type == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("Any holds a type this gateway does not know: ", QuoteForMessage(url)));
    }
    std::unique_ptr<google::protobuf::Message> inner(contracts_->Prototype(inner_type)->New());
    if (!inner->ParseFromString(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Any of type ", QuoteForMessage(url), " does not parse"));
    }
    out_->append("{\"@type\":");
    AppendJsonString(url, out_);
    if (WellKnownOf(inner_type) != WellKnown::kNone) {
      out_->append(",\"value\":");
      absl::Status status = Message(*inner, depth + 1);
      if (!status.ok()) return status;
      out_->push_back('}');
      return absl::OkStatus();
    }
    return Fields(*inner, depth + 1, /*first=*/false);
  }

  const ContractSet* contracts_;
  std::string* out_;
};

}  // namespace

namespace {
// 1 for the bytes AppendJsonString must look at: '"', '\\', controls, DEL, and 0xE2 (the lead
// byte of U+2028/U+2029).
constexpr std::array<uint8_t, 256> kJsonSpecial = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = 1;
  table['"'] = table['\\'] = table[0x7f] = table[0xe2] = 1;
  return table;
}();
}  // namespace

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->reserve(out->size() + text.size() + 2);
  out->push_back('"');
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t run = 0;  // start of the current run of bytes that need no escaping
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = bytes[i];
    if (kJsonSpecial[c] == 0) continue;
    const char* escape = nullptr;
    switch (c) {
      case '"':
        escape = "\\\"";
        break;
      case '\\':
        escape = "\\\\";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      case '\t':
        escape = "\\t";
        break;
      case '\b':
        escape = "\\b";
        break;
      case '\f':
        escape = "\\f";
        break;
      default:
        break;
    }
    if (c == 0xe2) {
      // U+2028 and U+2029 are valid JSON but end lines in JavaScript source; escape them.
      if (!(i + 2 < n && bytes[i + 1] == 0x80 && (bytes[i + 2] & 0xfe) == 0xa8)) continue;
      out->append(text.data() + run, i - run);
      out->append(bytes[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
      i += 2;
      run = i + 1;
      continue;
    }
    out->append(text.data() + run, i - run);
    if (escape != nullptr) {
      out->append(escape);
    } else {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
    }
    run = i + 1;
  }
  out->append(text.data() + run, n - run);
  out->push_back('"');
}

absl::Status AppendMessageJson(const google::protobuf::Message& message,
                               const ContractSet* contracts, std::string* out) {
  return Printer(contracts, out).Message(message, 0);
}

absl::Status AppendFieldJson(const google::protobuf::Message& message, const FieldDescriptor* field,
                             const ContractSet* contracts, std::string* out) {
  return Printer(contracts, out).Field(message, field);
}

}  // namespace aurora::gateway
