#include "profile/attributes.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_join.h"
#include "common/text.h"
#include "nlohmann/json.hpp"

namespace aurora::profile {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

namespace {

// The schema language: a strict subset of JSON Schema. Each schema is an object with
//   type                  required: "integer", "number", "string", "boolean", "object" or "array"
//                         (one type; null is never valid)
//   title, description    any type: annotations (strings), published but not checked
//   minimum, maximum      integer, number: inclusive bounds
//   enum                  integer, string: the allowed values (non-empty, distinct, of the type)
//   minLength, maxLength  string: length in code points; maxLength defaults to and may not exceed
//                         kMaxStringLength
//   format                string: only "municipality_code" (a code of the official code list)
//   properties            object, required: the allowed keys ([A-Za-z][A-Za-z0-9_]{0,63}, at
//                         most kMaxObjectKeys) and their schemas
//   additionalProperties  object, required and false: a value holds only keys that are validated
//   minProperties         object: the fewest keys (at most the number of properties)
//   required              object: keys that must be present (each one of the properties)
//   items                 array, required: the schema of every item
//   minItems, maxItems    array: item count; maxItems defaults to and may not exceed kMaxArrayItems
// Any other keyword, or a keyword of another type, is an error at load time, so a typo never
// weakens validation silently. Objects and arrays may nest kMaxValueDepth levels deep.
// Strings must be valid UTF-8 without control characters (no tabs or newlines either).
// Integers are numbers without a fractional part within ±2^53 (5.0 counts as 5).
//
// The schema of 3X10D answers, in life_situation_meters and in each life_situation_history entry
// ($METERS below).
constexpr std::string_view kMetersSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "minProperties": 1,
  "properties": {
    "health": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "resilience": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "housing": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "working_studying": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "family": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "friends": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "finance": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "improvement_of_strengths": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "self_esteem": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}},
    "life_satisfaction": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}}
  }
})json";

// The built-in attributes, read by the same parser as a configuration file ($METERS: the schema
// above).
constexpr std::string_view kBuiltInAttributes = R"json({"attributes": [
{
  "name": "age",
  "labels": {"fi": "Ikä", "sv": "Ålder", "en": "Age"},
  "descriptions": {
    "fi": "Ikä vuosina.",
    "sv": "Ålder i år.",
    "en": "Age in years."
  },
  "schema": {"type": "integer", "minimum": 0, "maximum": 200}
},
{
  "name": "municipality_code",
  "labels": {"fi": "Kunta", "sv": "Kommun", "en": "Municipality"},
  "descriptions": {
    "fi": "Kotikunnan kolminumeroinen kuntanumero virallisesta kuntaluettelosta, esim. 091 (Helsinki).",
    "sv": "Hemkommunens tresiffriga kommunnummer i den officiella kommunförteckningen, t.ex. 091 (Helsingfors).",
    "en": "The three-digit code of the home municipality in the official list, e.g. 091 (Helsinki)."
  },
  "schema": {"type": "string", "minLength": 3, "maxLength": 3, "format": "municipality_code"}
},
{
  "name": "life_situation_meters",
  "labels": {"fi": "Elämäntilannemittari", "sv": "Livssituationsmätare", "en": "Life situation meters"},
  "descriptions": {
    "fi": "Omat arviot 3X10D-elämäntilannemittarilla kymmenellä elämänalueella asteikolla 0 (erittäin huono) – 10 (erittäin hyvä); yhdelle alueelle voi antaa useita arvioita.",
    "sv": "Självskattningar med 3X10D-livssituationsmätaren inom tio livsområden på skalan 0 (mycket dålig) – 10 (mycket bra); ett område kan ha flera svar.",
    "en": "Self-assessments with the 3X10D life situation meter in ten areas of life on a scale from 0 (very poor) to 10 (very good); an area may have several answers."
  },
  "schema": $METERS
},
{
  "name": "life_situation_history",
  "labels": {"fi": "Elämäntilannearviot", "sv": "Livssituationsbedömningar", "en": "Life situation assessments"},
  "descriptions": {
    "fi": "Aiemmat omat 3X10D-arviot päivämäärineen (enintään 100), jotta muutoksen voi nähdä.",
    "sv": "Tidigare egna 3X10D-bedömningar med datum (högst 100), så att förändringen syns.",
    "en": "Earlier own 3X10D assessments with their dates (at most 100), to see how things change."
  },
  "schema": {
    "type": "array",
    "maxItems": 100,
    "items": {
      "type": "object",
      "additionalProperties": false,
      "required": ["date", "meters"],
      "properties": {
        "date": {"type": "string", "minLength": 10, "maxLength": 10},
        "meters": $METERS
      }
    }
  }
}
]})json";

constexpr double kMaxSafeInteger = 9007199254740992.0;  // 2^53
constexpr int kMaxConfigDepth = 64;
constexpr size_t kMaxLabelLength = 200;
constexpr size_t kMaxEnumValues = 1000;
constexpr size_t kMaxEnumInMessage = 10;

bool IsInteger(double x) {
  return std::isfinite(x) && std::trunc(x) == x && std::fabs(x) <= kMaxSafeInteger;
}

std::string FormatNumber(double x) {
  if (!std::isfinite(x)) return "null";
  if (IsInteger(x)) return absl::StrCat(static_cast<int64_t>(x));
  char buffer[64];
  // A whole number beyond ±2^53 in exponent form ("9.007199254740994e+15"): its shortest plain
  // form is an integer literal, which ParseJsonValue refuses as not exactly representable, so the
  // canonical JSON would not read back (found by tests/fuzz/attribute_validation_fuzz).
  auto [end, ec] =
      std::trunc(x) == x
          ? std::to_chars(buffer, buffer + sizeof(buffer), x, std::chars_format::scientific)
          : std::to_chars(buffer, buffer + sizeof(buffer), x);
  return ec == std::errc() ? std::string(buffer, end) : absl::StrCat(x);
}

std::string Plural(size_t n, absl::string_view singular, absl::string_view plural) {
  return absl::StrCat(n, " ", n == 1 ? singular : plural);
}

// What a value is, for a message: scalars shown (strings quoted and cut at 80 bytes), containers
// only summarized, so that a message never carries more than the offending piece.
std::string Describe(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kBoolValue:
      return absl::StrCat(value.bool_value() ? "true" : "false", " (a boolean)");
    case Value::kNumberValue: {
      const double x = value.number_value();
      if (!std::isfinite(x)) return "not a finite number";
      if (IsInteger(x)) return absl::StrCat(FormatNumber(x), " (a number)");
      if (std::trunc(x) == x) return absl::StrCat(FormatNumber(x), " (a number beyond ±2^53)");
      return absl::StrCat(FormatNumber(x), " (a number with a fraction)");
    }
    case Value::kStringValue:
      return absl::StrCat(QuoteForMessage(value.string_value()), " (a string)");
    case Value::kListValue:
      return absl::StrCat("an array of ",
                          Plural(value.list_value().values_size(), "item", "items"));
    case Value::kStructValue:
      return absl::StrCat("an object with ",
                          Plural(value.struct_value().fields_size(), "key", "keys"));
    default:
      return "a google.protobuf.Value without a kind";
  }
}

std::vector<std::string> SortedKeys(const Struct& object) {
  std::vector<std::string> keys;
  keys.reserve(object.fields_size());
  for (const auto& [key, unused] : object.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendCanonical(const Value& value, std::string* out) {
  switch (value.kind_case()) {
    case Value::kBoolValue:
      out->append(value.bool_value() ? "true" : "false");
      break;
    case Value::kNumberValue:
      out->append(FormatNumber(value.number_value()));
      break;
    case Value::kStringValue:
      AppendJsonString(value.string_value(), out);
      break;
    case Value::kListValue: {
      out->push_back('[');
      bool first = true;
      for (const Value& item : value.list_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonical(item, out);
      }
      out->push_back(']');
      break;
    }
    case Value::kStructValue: {
      const Struct& object = value.struct_value();
      out->push_back('{');
      bool first = true;
      for (const std::string& key : SortedKeys(object)) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(key, out);
        out->push_back(':');
        AppendCanonical(object.fields().at(key), out);
      }
      out->push_back('}');
      break;
    }
    default:
      out->append("null");
  }
}

// nlohmann's message without its "[json.exception...] " prefix and without the "last read" token,
// which may hold a piece of a personal value.
std::string ParseErrorMessage(const std::string& what, const std::string& last_token) {
  std::string message = what;
  if (message.rfind("[json.exception.", 0) == 0) {
    const size_t end = message.find("] ");
    if (end != std::string::npos) message.erase(0, end + 2);
  }
  const std::string last_read = absl::StrCat("; last read: '", last_token, "'");
  const size_t at = message.find(last_read);
  if (at != std::string::npos) message.erase(at, last_read.size());
  return message;
}

// Builds a google.protobuf.Value from nlohmann's SAX events, refusing duplicate keys, nesting
// beyond `max_depth` and integers that a double cannot hold exactly.
class ValueBuilder {
 public:
  explicit ValueBuilder(int max_depth) : max_depth_(max_depth) {}

  bool null() {
    Next()->set_null_value(google::protobuf::NULL_VALUE);
    return true;
  }
  bool boolean(bool b) {
    Next()->set_bool_value(b);
    return true;
  }
  bool number_integer(int64_t n) {
    if (n > static_cast<int64_t>(kMaxSafeInteger) || n < -static_cast<int64_t>(kMaxSafeInteger)) {
      return Fail(
          absl::StrCat("JSON integer ", n, " is beyond ±2^53 and cannot be represented exactly"));
    }
    Next()->set_number_value(static_cast<double>(n));
    return true;
  }
  bool number_unsigned(uint64_t n) {
    if (n > static_cast<uint64_t>(kMaxSafeInteger)) {
      return Fail(
          absl::StrCat("JSON integer ", n, " is beyond ±2^53 and cannot be represented exactly"));
    }
    Next()->set_number_value(static_cast<double>(n));
    return true;
  }
  bool number_float(double x, const std::string& /*text*/) {
    if (!std::isfinite(x)) return Fail("JSON number out of the range of a double");
    Next()->set_number_value(x);
    return true;
  }
  bool string(std::string& s) {
    Next()->set_string_value(std::move(s));
    return true;
  }
  bool binary(nlohmann::json::binary_t& /*unused*/) { return Fail("binary JSON values"); }
  bool start_object(size_t /*elements*/) {
    if (!Enter()) return false;
    stack_.back()->mutable_struct_value();
    return true;
  }
  bool key(std::string& key) {
    auto* fields = stack_.back()->mutable_struct_value()->mutable_fields();
    if (fields->contains(key)) {
      return Fail(absl::StrCat("JSON object has a duplicate key ", QuoteForMessage(key)));
    }
    key_ = std::move(key);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(size_t /*elements*/) {
    if (!Enter()) return false;
    stack_.back()->mutable_list_value();
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(size_t /*position*/, const std::string& last_token,
                   const nlohmann::detail::exception& error) {
    return Fail(absl::StrCat("invalid JSON: ", ParseErrorMessage(error.what(), last_token)));
  }

  Value& root() { return root_; }
  const std::string& error() const { return error_; }

 private:
  Value* Next() {
    if (stack_.empty()) return &root_;
    Value* container = stack_.back();
    if (container->has_list_value()) return container->mutable_list_value()->add_values();
    return &(*container->mutable_struct_value()->mutable_fields())[key_];
  }
  bool Enter() {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      return Fail(absl::StrCat("JSON value nested deeper than ", max_depth_, " levels"));
    }
    stack_.push_back(Next());
    return true;
  }
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  const int max_depth_;
  Value root_;
  std::vector<Value*> stack_;
  std::string key_;
  std::string error_;
};

absl::StatusOr<Value> ParseJson(std::string_view text, int max_depth) {
  if (text.size() > kMaxJsonTextBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JSON text of ", text.size(), " bytes is longer than the limit ", kMaxJsonTextBytes));
  }
  ValueBuilder builder(max_depth);
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &builder)) {
    return absl::InvalidArgumentError(builder.error().empty() ? "invalid JSON" : builder.error());
  }
  return std::move(builder.root());
}

// ---------------------------------------------------------------------------------------------
// Schemas

enum class ValueType { kInteger, kNumber, kString, kBoolean, kObject, kArray };

constexpr std::pair<absl::string_view, ValueType> kTypeNames[] = {
    {"array", ValueType::kArray},     {"boolean", ValueType::kBoolean},
    {"integer", ValueType::kInteger}, {"number", ValueType::kNumber},
    {"object", ValueType::kObject},   {"string", ValueType::kString},
};

absl::string_view TypeName(ValueType type) {
  for (const auto& [name, t] : kTypeNames) {
    if (t == type) return name;
  }
  return "?";
}

absl::string_view Expected(ValueType type) {
  switch (type) {
    case ValueType::kInteger:
      return "an integer";
    case ValueType::kNumber:
      return "a number";
    case ValueType::kString:
      return "a string";
    case ValueType::kBoolean:
      return "a boolean";
    case ValueType::kObject:
      return "an object";
    case ValueType::kArray:
      return "an array";
  }
  return "?";
}

// The keywords of the schema language and the types they apply to (empty: all).
struct Keyword {
  absl::string_view name;
  std::vector<ValueType> types;
};

const std::vector<Keyword>& Keywords() {
  using T = ValueType;
  static const auto* keywords = new std::vector<Keyword>{
      {"additionalProperties", {T::kObject}},
      {"description", {}},
      {"enum", {T::kInteger, T::kString}},
      {"format", {T::kString}},
      {"items", {T::kArray}},
      {"maxItems", {T::kArray}},
      {"maxLength", {T::kString}},
      {"maximum", {T::kInteger, T::kNumber}},
      {"minItems", {T::kArray}},
      {"minLength", {T::kString}},
      {"minProperties", {T::kObject}},
      {"minimum", {T::kInteger, T::kNumber}},
      {"properties", {T::kObject}},
      {"required", {T::kObject}},
      {"title", {}},
      {"type", {}},
  };
  return *keywords;
}

bool IsPropertyName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!absl::ascii_isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool IsAttributeName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A problem with a text field: empty string if it is valid UTF-8 without control characters and
// at most `max_length` code points long.
std::string CheckText(std::string_view text, size_t max_length) {
  const std::optional<size_t> length = Utf8Length(text);
  if (!length) return "is not valid UTF-8";
  if (HasControlCharacters(text, /*allow_newlines=*/false)) return "contains a control character";
  if (*length > max_length) {
    return absl::StrCat("is ", *length, " characters long, more than the maximum ", max_length);
  }
  return "";
}

}  // namespace

// One node of a parsed schema.
class SchemaNode {
 public:
  ValueType type = ValueType::kString;
  std::optional<double> minimum, maximum;
  std::vector<std::string> enum_strings;
  std::vector<double> enum_integers;
  size_t min_length = 0, max_length = kMaxStringLength;
  bool municipality_code = false;
  std::map<std::string, std::unique_ptr<const SchemaNode>> properties;
  size_t min_properties = 0;
  std::vector<std::string> required;
  std::unique_ptr<const SchemaNode> items;
  size_t min_items = 0, max_items = kMaxArrayItems;
};

namespace {

absl::Status SchemaError(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

absl::StatusOr<size_t> ReadCount(const Value& value, absl::string_view path, absl::string_view key,
                                 size_t limit) {
  if (!value.has_number_value() || !IsInteger(value.number_value()) || value.number_value() < 0) {
    return SchemaError(path, absl::StrCat("\"", key, "\" is ", Describe(value),
                                          ", expected a non-negative integer"));
  }
  if (value.number_value() > static_cast<double>(limit)) {
    return SchemaError(path, absl::StrCat("\"", key, "\" is ", FormatNumber(value.number_value()),
                                          ", more than the limit ", limit));
  }
  return static_cast<size_t>(value.number_value());
}

absl::StatusOr<std::unique_ptr<const SchemaNode>> ParseSchema(const Value& json,
                                                              const std::string& path, int depth);

absl::Status ParseEnum(const Value& json, absl::string_view path, SchemaNode* node) {
  if (!json.has_list_value() || json.list_value().values_size() == 0) {
    return SchemaError(
        path, absl::StrCat("\"enum\" is ", Describe(json), ", expected a non-empty array"));
  }
  if (static_cast<size_t>(json.list_value().values_size()) > kMaxEnumValues) {
    return SchemaError(path, absl::StrCat("\"enum\" has more than ", kMaxEnumValues, " values"));
  }
  for (const Value& entry : json.list_value().values()) {
    if (node->type == ValueType::kString) {
      if (!entry.has_string_value()) {
        return SchemaError(path,
                           absl::StrCat("\"enum\" value ", Describe(entry), " is not a string"));
      }
      const std::string& s = entry.string_value();
      if (std::string problem = CheckText(s, kMaxStringLength); !problem.empty()) {
        return SchemaError(path, absl::StrCat("\"enum\" value ", QuoteForMessage(s), " ", problem));
      }
      if (std::find(node->enum_strings.begin(), node->enum_strings.end(), s) !=
          node->enum_strings.end()) {
        return SchemaError(path, absl::StrCat("\"enum\" lists ", QuoteForMessage(s), " twice"));
      }
      node->enum_strings.push_back(s);
    } else {
      if (!entry.has_number_value() || !IsInteger(entry.number_value())) {
        return SchemaError(path,
                           absl::StrCat("\"enum\" value ", Describe(entry), " is not an integer"));
      }
      const double x = entry.number_value();
      if (std::find(node->enum_integers.begin(), node->enum_integers.end(), x) !=
          node->enum_integers.end()) {
        return SchemaError(path, absl::StrCat("\"enum\" lists ", FormatNumber(x), " twice"));
      }
      node->enum_integers.push_back(x);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseObjectKeywords(const Struct& schema, const std::string& path, int depth,
                                 SchemaNode* node) {
  const auto& fields = schema.fields();
  auto additional = fields.find("additionalProperties");
  if (additional == fields.end() || !additional->second.has_bool_value() ||
      additional->second.bool_value()) {
    return SchemaError(path,
                       "object schemas need \"additionalProperties\": false (a value may hold "
                       "only keys that are validated)");
  }
  auto properties = fields.find("properties");
  if (properties == fields.end() || !properties->second.has_struct_value() ||
      properties->second.struct_value().fields_size() == 0) {
    return SchemaError(path, "object schemas need a non-empty \"properties\" object");
  }
  const Struct& property_schemas = properties->second.struct_value();
  if (static_cast<size_t>(property_schemas.fields_size()) > kMaxObjectKeys) {
    return SchemaError(path, absl::StrCat("\"properties\" lists ", property_schemas.fields_size(),
                                          " keys, more than the limit ", kMaxObjectKeys));
  }
  for (const std::string& key : SortedKeys(property_schemas)) {
    if (!IsPropertyName(key)) {
      return SchemaError(path, absl::StrCat("property name ", QuoteForMessage(key),
                                            " is not valid: expected [A-Za-z][A-Za-z0-9_]{0,63}"));
    }
    auto child = ParseSchema(property_schemas.fields().at(key),
                             absl::StrCat(path, ".properties.", key), depth + 1);
    if (!child.ok()) return child.status();
    node->properties.emplace(key, std::move(*child));
  }
  if (auto it = fields.find("minProperties"); it != fields.end()) {
    auto count = ReadCount(it->second, path, "minProperties", node->properties.size());
    if (!count.ok()) return count.status();
    node->min_properties = *count;
  }
  if (auto it = fields.find("required"); it != fields.end()) {
    if (!it->second.has_list_value()) {
      return SchemaError(path, absl::StrCat("\"required\" is ", Describe(it->second),
                                            ", expected an array of property names"));
    }
    for (const Value& entry : it->second.list_value().values()) {
      if (!entry.has_string_value() || !node->properties.contains(entry.string_value())) {
        return SchemaError(path, absl::StrCat("\"required\" names ", Describe(entry),
                                              ", which is not one of the properties"));
      }
      if (std::find(node->required.begin(), node->required.end(), entry.string_value()) !=
          node->required.end()) {
        return SchemaError(path, absl::StrCat("\"required\" lists ",
                                              QuoteForMessage(entry.string_value()), " twice"));
      }
      node->required.push_back(entry.string_value());
    }
  }
  return absl::OkStatus();
}

absl::Status ParseArrayKeywords(const Struct& schema, const std::string& path, int depth,
                                SchemaNode* node) {
  const auto& fields = schema.fields();
  auto items = fields.find("items");
  if (items == fields.end()) return SchemaError(path, "array schemas need \"items\"");
  auto child = ParseSchema(items->second, absl::StrCat(path, ".items"), depth + 1);
  if (!child.ok()) return child.status();
  node->items = std::move(*child);
  if (auto it = fields.find("maxItems"); it != fields.end()) {
    auto count = ReadCount(it->second, path, "maxItems", kMaxArrayItems);
    if (!count.ok()) return count.status();
    node->max_items = *count;
  }
  if (auto it = fields.find("minItems"); it != fields.end()) {
    auto count = ReadCount(it->second, path, "minItems", node->max_items);
    if (!count.ok()) return count.status();
    node->min_items = *count;
  }
  return absl::OkStatus();
}

absl::Status ParseStringKeywords(const Struct& schema, const std::string& path, SchemaNode* node) {
  const auto& fields = schema.fields();
  if (auto it = fields.find("maxLength"); it != fields.end()) {
    auto count = ReadCount(it->second, path, "maxLength", kMaxStringLength);
    if (!count.ok()) return count.status();
    node->max_length = *count;
  }
  if (auto it = fields.find("minLength"); it != fields.end()) {
    auto count = ReadCount(it->second, path, "minLength", node->max_length);
    if (!count.ok()) return count.status();
    node->min_length = *count;
  }
  if (auto it = fields.find("format"); it != fields.end()) {
    if (!it->second.has_string_value() || it->second.string_value() != "municipality_code") {
      return SchemaError(path, absl::StrCat("\"format\" ", Describe(it->second),
                                            " is not supported (supported: municipality_code)"));
    }
    node->municipality_code = true;
  }
  return absl::OkStatus();
}

absl::Status ParseBounds(const Struct& schema, const std::string& path, SchemaNode* node) {
  for (const char* key : {"minimum", "maximum"}) {
    auto it = schema.fields().find(key);
    if (it == schema.fields().end()) continue;
    if (!it->second.has_number_value() || !std::isfinite(it->second.number_value())) {
      return SchemaError(
          path, absl::StrCat("\"", key, "\" is ", Describe(it->second), ", expected a number"));
    }
    (std::string_view(key) == "minimum" ? node->minimum : node->maximum) =
        it->second.number_value();
  }
  if (node->minimum && node->maximum && *node->minimum > *node->maximum) {
    return SchemaError(path, absl::StrCat("\"minimum\" ", FormatNumber(*node->minimum),
                                          " is above \"maximum\" ", FormatNumber(*node->maximum)));
  }
  return absl::OkStatus();
}

// `depth`: how many arrays and objects enclose the values this schema describes.
absl::StatusOr<std::unique_ptr<const SchemaNode>> ParseSchema(const Value& json,
                                                              const std::string& path, int depth) {
  if (!json.has_struct_value()) {
    return SchemaError(path,
                       absl::StrCat("the schema is ", Describe(json), ", expected an object"));
  }
  const Struct& schema = json.struct_value();
  auto node = std::make_unique<SchemaNode>();

  auto type = schema.fields().find("type");
  if (type == schema.fields().end()) return SchemaError(path, "keyword \"type\" is required");
  bool known_type = false;
  for (const auto& [name, t] : kTypeNames) {
    if (type->second.has_string_value() && type->second.string_value() == name) {
      node->type = t;
      known_type = true;
    }
  }
  if (!known_type) {
    return SchemaError(path, absl::StrCat("type ", Describe(type->second),
                                          " is not supported (supported: array, boolean, integer, "
                                          "number, object, string)"));
  }

  for (const std::string& key : SortedKeys(schema)) {
    auto keyword = std::find_if(Keywords().begin(), Keywords().end(),
                                [&](const Keyword& k) { return k.name == key; });
    if (keyword == Keywords().end()) {
      std::vector<absl::string_view> names;
      for (const Keyword& k : Keywords()) names.push_back(k.name);
      return SchemaError(path, absl::StrCat("unknown keyword ", QuoteForMessage(key),
                                            " (supported: ", absl::StrJoin(names, ", "), ")"));
    }
    if (!keyword->types.empty() && std::find(keyword->types.begin(), keyword->types.end(),
                                             node->type) == keyword->types.end()) {
      return SchemaError(path, absl::StrCat("keyword \"", key, "\" does not apply to type \"",
                                            TypeName(node->type), "\""));
    }
    if (key == "title" || key == "description") {
      const Value& text = schema.fields().at(key);
      if (!text.has_string_value()) {
        return SchemaError(
            path, absl::StrCat("\"", key, "\" is ", Describe(text), ", expected a string"));
      }
      if (std::string problem = CheckText(text.string_value(), kMaxStringLength);
          !problem.empty()) {
        return SchemaError(path, absl::StrCat("\"", key, "\" ", problem));
      }
    }
  }

  if ((node->type == ValueType::kObject || node->type == ValueType::kArray) &&
      depth >= kMaxValueDepth) {
    return SchemaError(path, absl::StrCat("arrays and objects nest deeper than the limit of ",
                                          kMaxValueDepth, " levels"));
  }
  absl::Status status;
  switch (node->type) {
    case ValueType::kInteger:
    case ValueType::kNumber:
      status = ParseBounds(schema, path, node.get());
      break;
    case ValueType::kString:
      status = ParseStringKeywords(schema, path, node.get());
      break;
    case ValueType::kObject:
      status = ParseObjectKeywords(schema, path, depth, node.get());
      break;
    case ValueType::kArray:
      status = ParseArrayKeywords(schema, path, depth, node.get());
      break;
    case ValueType::kBoolean:
      break;
  }
  if (!status.ok()) return status;
  if (auto it = schema.fields().find("enum"); it != schema.fields().end()) {
    if (absl::Status s = ParseEnum(it->second, path, node.get()); !s.ok()) return s;
  }
  return std::unique_ptr<const SchemaNode>(std::move(node));
}

// ---------------------------------------------------------------------------------------------
// Values

absl::Status ValueError(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, " ", message));
}

template <typename T, typename Format>
std::string EnumList(const std::vector<T>& values, Format format) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < values.size() && i < kMaxEnumInMessage; ++i) {
    shown.push_back(format(values[i]));
  }
  if (values.size() > kMaxEnumInMessage) shown.push_back("...");
  return absl::StrJoin(shown, ", ");
}

absl::Status CheckValue(const SchemaNode& schema, const Value& value, const CodeLists& codes,
                        std::string* path);

absl::Status CheckNumber(const SchemaNode& schema, const Value& value, absl::string_view path) {
  const double x = value.number_value();
  if (!std::isfinite(x) || (schema.type == ValueType::kInteger && !IsInteger(x))) {
    return ValueError(path,
                      absl::StrCat("is ", Describe(value), ", expected ", Expected(schema.type)));
  }
  if (!schema.enum_integers.empty() &&
      std::find(schema.enum_integers.begin(), schema.enum_integers.end(), x) ==
          schema.enum_integers.end()) {
    return ValueError(path, absl::StrCat("is ", FormatNumber(x), ", not one of ",
                                         EnumList(schema.enum_integers, FormatNumber)));
  }
  if (schema.minimum && x < *schema.minimum) {
    return ValueError(path, absl::StrCat("is ", FormatNumber(x), ", below the minimum ",
                                         FormatNumber(*schema.minimum)));
  }
  if (schema.maximum && x > *schema.maximum) {
    return ValueError(path, absl::StrCat("is ", FormatNumber(x), ", above the maximum ",
                                         FormatNumber(*schema.maximum)));
  }
  return absl::OkStatus();
}

absl::Status CheckString(const SchemaNode& schema, const std::string& s, const CodeLists& codes,
                         absl::string_view path) {
  const std::string quoted = QuoteForMessage(s);
  const std::optional<size_t> length = Utf8Length(s);
  if (!length) return ValueError(path, absl::StrCat("is ", quoted, ", not valid UTF-8"));
  if (HasControlCharacters(s, /*allow_newlines=*/false)) {
    return ValueError(path, absl::StrCat("is ", quoted, ", which contains a control character"));
  }
  if (*length > schema.max_length) {
    return ValueError(path,
                      absl::StrCat("is ", quoted, " (", Plural(*length, "character", "characters"),
                                   "), longer than the maximum length ", schema.max_length));
  }
  if (*length < schema.min_length) {
    return ValueError(path,
                      absl::StrCat("is ", quoted, " (", Plural(*length, "character", "characters"),
                                   "), shorter than the minimum length ", schema.min_length));
  }
  if (!schema.enum_strings.empty() &&
      std::find(schema.enum_strings.begin(), schema.enum_strings.end(), s) ==
          schema.enum_strings.end()) {
    return ValueError(path, absl::StrCat("is ", quoted, ", not one of ",
                                         EnumList(schema.enum_strings, [](const std::string& e) {
                                           return QuoteForMessage(e);
                                         })));
  }
  if (schema.municipality_code && codes.FindMunicipality(s) == nullptr) {
    return ValueError(path,
                      absl::StrCat("is ", quoted, ", not a municipality code of the code list"));
  }
  return absl::OkStatus();
}

absl::Status CheckObject(const SchemaNode& schema, const Struct& object, const CodeLists& codes,
                         std::string* path) {
  const size_t size = object.fields_size();
  if (size > kMaxObjectKeys) {
    return ValueError(*path,
                      absl::StrCat("has ", size, " keys, more than the limit ", kMaxObjectKeys));
  }
  const std::vector<std::string> keys = SortedKeys(object);
  for (const std::string& key : keys) {
    if (!schema.properties.contains(key)) {
      std::vector<absl::string_view> allowed;
      for (const auto& [name, unused] : schema.properties) allowed.push_back(name);
      return ValueError(*path, absl::StrCat("has an unknown key ", QuoteForMessage(key),
                                            " (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  for (const std::string& key : schema.required) {
    if (!object.fields().contains(key)) {
      return ValueError(*path, absl::StrCat("lacks the required key \"", key, "\""));
    }
  }
  if (size < schema.min_properties) {
    return ValueError(*path, absl::StrCat("has ", Plural(size, "key", "keys"),
                                          ", fewer than the minimum ", schema.min_properties));
  }
  for (const std::string& key : keys) {
    const size_t length = path->size();
    absl::StrAppend(path, ".", key);
    absl::Status status =
        CheckValue(*schema.properties.at(key), object.fields().at(key), codes, path);
    if (!status.ok()) return status;
    path->resize(length);
  }
  return absl::OkStatus();
}

absl::Status CheckArray(const SchemaNode& schema, const ListValue& list, const CodeLists& codes,
                        std::string* path) {
  const size_t size = list.values_size();
  if (size > schema.max_items) {
    return ValueError(
        *path, absl::StrCat("has ", size, " items, more than the maximum ", schema.max_items));
  }
  if (size < schema.min_items) {
    return ValueError(*path, absl::StrCat("has ", Plural(size, "item", "items"),
                                          ", fewer than the minimum ", schema.min_items));
  }
  for (size_t i = 0; i < size; ++i) {
    const size_t length = path->size();
    absl::StrAppend(path, "[", i, "]");
    absl::Status status = CheckValue(*schema.items, list.values(static_cast<int>(i)), codes, path);
    if (!status.ok()) return status;
    path->resize(length);
  }
  return absl::OkStatus();
}

// The schema bounds the depth of the walk (kMaxValueDepth), whatever the value's nesting.
absl::Status CheckValue(const SchemaNode& schema, const Value& value, const CodeLists& codes,
                        std::string* path) {
  const bool type_ok = [&] {
    switch (schema.type) {
      case ValueType::kInteger:
      case ValueType::kNumber:
        return value.has_number_value();
      case ValueType::kString:
        return value.has_string_value();
      case ValueType::kBoolean:
        return value.has_bool_value();
      case ValueType::kObject:
        return value.has_struct_value();
      case ValueType::kArray:
        return value.has_list_value();
    }
    return false;
  }();
  if (!type_ok) {
    return ValueError(*path,
                      absl::StrCat("is ", Describe(value), ", expected ", Expected(schema.type)));
  }
  switch (schema.type) {
    case ValueType::kInteger:
    case ValueType::kNumber:
      return CheckNumber(schema, value, *path);
    case ValueType::kString:
      return CheckString(schema, value.string_value(), codes, *path);
    case ValueType::kObject:
      return CheckObject(schema, value.struct_value(), codes, path);
    case ValueType::kArray:
      return CheckArray(schema, value.list_value(), codes, path);
    case ValueType::kBoolean:
      break;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Definitions

struct ParsedDefinition {
  AttributeDefinition definition;
  std::shared_ptr<const SchemaNode> schema;
};

// Reads {"fi", "sv", "en"} into the three strings; `what` is "labels" or "descriptions".
absl::Status ReadLocalized(const Value& json, absl::string_view what, size_t max_length,
                           std::string* fi, std::string* sv, std::string* en) {
  if (!json.has_struct_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", Describe(json), ", expected an object with \"fi\", \"sv\" and \"en\""));
  }
  const Struct& texts = json.struct_value();
  for (const std::string& key : SortedKeys(texts)) {
    if (key != "fi" && key != "sv" && key != "en") {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has an unknown language ", QuoteForMessage(key), " (allowed: fi, sv, en)"));
    }
  }
  const std::pair<const char*, std::string*> outputs[] = {{"fi", fi}, {"sv", sv}, {"en", en}};
  for (const auto& [language, out] : outputs) {
    auto it = texts.fields().find(language);
    if (it == texts.fields().end()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ".", language, " is missing"));
    }
    if (!it->second.has_string_value() || it->second.string_value().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ".", language, " is ", Describe(it->second), ", expected a non-empty string"));
    }
    if (std::string problem = CheckText(it->second.string_value(), max_length); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ".", language, " ", problem));
    }
    *out = it->second.string_value();
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedDefinition> ParseDefinition(const Value& entry, absl::string_view where,
                                                 bool built_in) {
  auto error = [&](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
  };
  if (!entry.has_struct_value()) {
    return error(absl::StrCat("the entry is ", Describe(entry), ", expected an object"));
  }
  const Struct& fields = entry.struct_value();
  for (const std::string& key : SortedKeys(fields)) {
    if (key != "name" && key != "labels" && key != "descriptions" && key != "schema") {
      return error(absl::StrCat("unknown key ", QuoteForMessage(key),
                                " (allowed: descriptions, labels, name, schema)"));
    }
  }
  auto name = fields.fields().find("name");
  if (name == fields.fields().end()) return error("\"name\" is missing");
  if (!name->second.has_string_value() || !IsAttributeName(name->second.string_value())) {
    return error(absl::StrCat("name ", Describe(name->second),
                              " is not valid: expected [a-z][a-z0-9_]{0,62}"));
  }
  ParsedDefinition parsed;
  AttributeDefinition& def = parsed.definition;
  def.name = name->second.string_value();
  def.built_in = built_in;
  auto named_error = [&](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("attribute \"", def.name, "\": ", message));
  };

  auto labels = fields.fields().find("labels");
  if (labels == fields.fields().end()) return named_error("\"labels\" are missing");
  if (absl::Status s = ReadLocalized(labels->second, "labels", kMaxLabelLength, &def.label_fi,
                                     &def.label_sv, &def.label_en);
      !s.ok()) {
    return named_error(s.message());
  }
  if (auto descriptions = fields.fields().find("descriptions");
      descriptions != fields.fields().end()) {
    if (absl::Status s =
            ReadLocalized(descriptions->second, "descriptions", kMaxStringLength,
                          &def.description_fi, &def.description_sv, &def.description_en);
        !s.ok()) {
      return named_error(s.message());
    }
  }
  auto schema = fields.fields().find("schema");
  if (schema == fields.fields().end()) {
    return named_error("\"schema\" is missing");
  }
  auto node = ParseSchema(schema->second, "schema", 0);
  if (!node.ok()) return named_error(node.status().message());
  parsed.schema = std::move(*node);
  def.schema_json = AttributeRegistry::CanonicalJson(schema->second);
  return parsed;
}

// Adds the definitions of a configuration text ({"attributes": [...]}) to `out`.
absl::Status AddDefinitions(std::string_view text, bool built_in,
                            std::map<std::string, ParsedDefinition>* out) {
  auto config = ParseJson(text, kMaxConfigDepth);
  if (!config.ok()) return config.status();
  if (!config->has_struct_value()) {
    return absl::InvalidArgumentError(absl::StrCat("the configuration is ", Describe(*config),
                                                   ", expected an object with \"attributes\""));
  }
  const Struct& top = config->struct_value();
  for (const std::string& key : SortedKeys(top)) {
    if (key != "attributes") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key ", QuoteForMessage(key), " (allowed: attributes)"));
    }
  }
  auto attributes = top.fields().find("attributes");
  if (attributes == top.fields().end() || !attributes->second.has_list_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"attributes\" is ",
                     attributes == top.fields().end() ? "missing" : Describe(attributes->second),
                     ", expected an array"));
  }
  const ListValue& entries = attributes->second.list_value();
  for (int i = 0; i < entries.values_size(); ++i) {
    auto parsed = ParseDefinition(entries.values(i), absl::StrCat("attributes[", i, "]"), built_in);
    if (!parsed.ok()) return parsed.status();
    const std::string& name = parsed->definition.name;
    if (auto it = out->find(name); it != out->end()) {
      return absl::InvalidArgumentError(
          it->second.definition.built_in
              ? absl::StrCat("attribute \"", name, "\" is built in and cannot be redefined")
              : absl::StrCat("attribute \"", name, "\" is defined twice"));
    }
    out->emplace(name, *std::move(parsed));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AttributeRegistry> AttributeRegistry::Create(const CodeLists* codes,
                                                            std::string_view config_json) {
  if (codes == nullptr) {
    return absl::InvalidArgumentError("attribute registry: the code lists are required");
  }
  std::map<std::string, ParsedDefinition> parsed;
  const std::string built_in = absl::StrReplaceAll(
      Sv(kBuiltInAttributes), {{"$METERS", Sv(kMetersSchema)}});
  if (absl::Status s = AddDefinitions(built_in, /*built_in=*/true, &parsed); !s.ok()) {
    return absl::InternalError(absl::StrCat("built-in attribute definitions: ", s.message()));
  }
  if (!config_json.empty()) {
    if (absl::Status s = AddDefinitions(config_json, /*built_in=*/false, &parsed); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("attribute configuration: ", s.message()));
    }
  }
  AttributeRegistry registry;
  registry.codes_ = codes;
  for (auto& [name, definition] : parsed) {
    registry.definitions_.push_back(std::move(definition.definition));
    registry.schemas_.push_back(std::move(definition.schema));
  }
  return registry;
}

absl::StatusOr<AttributeRegistry> AttributeRegistry::LoadFile(const CodeLists* codes,
                                                              const std::string& path) {
  std::error_code error;
  std::ifstream in(path, std::ios::binary);
  if (!std::filesystem::is_regular_file(path, error) || !in) {
    return absl::NotFoundError(
        absl::StrCat("attribute configuration file ", path, " cannot be opened"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute configuration file ", path, " is empty"));
  }
  auto registry = Create(codes, text.str());
  if (!registry.ok()) {
    return absl::Status(
        registry.status().code(),
        absl::StrCat("attribute configuration file ", path, ": ", registry.status().message()));
  }
  return registry;
}

const AttributeDefinition* AttributeRegistry::Find(std::string_view name) const {
  auto it = std::lower_bound(
      definitions_.begin(), definitions_.end(), name,
      [](const AttributeDefinition& def, std::string_view n) { return def.name < n; });
  return it != definitions_.end() && it->name == name ? &*it : nullptr;
}

absl::Status AttributeRegistry::Validate(std::string_view name, const Value& value) const {
  const AttributeDefinition* def = Find(name);
  if (def == nullptr) {
    std::vector<absl::string_view> known;
    for (const AttributeDefinition& d : definitions_) known.push_back(d.name);
    return absl::InvalidArgumentError(absl::StrCat("unknown attribute ", QuoteForMessage(name),
                                                   " (known: ", absl::StrJoin(known, ", "), ")"));
  }
  std::string path = "value";
  absl::Status status = CheckValue(*schemas_[def - definitions_.data()], value, *codes_, &path);
  if (status.ok()) return status;
  return absl::InvalidArgumentError(
      absl::StrCat("attribute \"", def->name, "\": ", status.message()));
}

absl::Status AttributeRegistry::ValidateJson(std::string_view name, std::string_view json) const {
  if (Find(name) == nullptr) return Validate(name, Value());
  auto value = ParseJsonValue(json);
  if (!value.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute \"", Sv(name), "\": ", value.status().message()));
  }
  return Validate(name, *value);
}

std::string AttributeRegistry::CanonicalJson(const Value& value) {
  std::string out;
  AppendCanonical(value, &out);
  return out;
}

absl::StatusOr<Value> AttributeRegistry::ParseJsonValue(std::string_view json) {
  return ParseJson(json, kMaxValueDepth);
}

}  // namespace aurora::profile
