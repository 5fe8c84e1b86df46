#pragma once
// User attributes of the profile node: the definitions of what a user may store about themselves
// (age, municipality_code, life_situation_meters, plus any added by a configuration file), with
// fi/sv/en labels, and the validation of stored values against them.
//
// Every definition, built-ins included, is written in one small schema language, a strict subset
// of JSON Schema (type, minimum, maximum, enum, minLength, maxLength, format, properties,
// additionalProperties, minProperties, required, items, minItems, maxItems, and the annotations
// title and description). The language is documented in attributes.cc above kBuiltInAttributes.
// A configuration file adds definitions without code changes:
//
//   {"attributes": [{"name": "employment_status",
//                    "labels": {"fi": "Työtilanne", "sv": "Sysselsättning", "en": "Employment"},
//                    "descriptions": {"fi": "...", "sv": "...", "en": "..."},   (optional)
//                    "schema": {"type": "string", "enum": ["employed", "unemployed"]}}]}
//
// Usage:
//   auto registry = AttributeRegistry::LoadFile(&codes, "/etc/aurora/attributes.json");
//   if (!registry.ok()) return registry.status();
//   absl::Status valid = registry->ValidateJson("age", R"(42)");
//   if (valid.ok()) store.Put(..., AttributeRegistry::CanonicalJson(value));

#include <google/protobuf/struct.pb.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/codelists.h"

namespace aurora::profile {

// Limits on every attribute value, whatever its schema says. A schema may only tighten them
// (a schema with maxItems 500 is refused at load time).
inline constexpr int kMaxValueDepth = 8;              // nested arrays/objects; a scalar has depth 0
inline constexpr size_t kMaxArrayItems = 100;         // the default maxItems
inline constexpr size_t kMaxStringLength = 1000;      // code points; the default maxLength
inline constexpr size_t kMaxObjectKeys = 64;          // also the most properties a schema may list
inline constexpr size_t kMaxJsonTextBytes = 1 << 20;  // ParseJsonValue / ValidateJson input

class SchemaNode;

// One attribute a user may store: its name, labels and schema.
struct AttributeDefinition {
  std::string name;  // [a-z][a-z0-9_]{0,62}
  std::string label_fi, label_sv, label_en;
  std::string description_fi, description_sv, description_en;  // all empty or all set
  bool built_in = false;
  // The schema as canonical JSON text (keys sorted, no spaces), for publishing.
  std::string schema_json;
};

// The attribute definitions of one profile node: the built-ins plus those of a configuration file.
// Immutable after creation; all methods are const and safe to call from any thread.
class AttributeRegistry {
 public:
  // Built-in definitions plus those of `config_json` (empty: none). INVALID_ARGUMENT for invalid
  // JSON (with the position), unknown keys or schema keywords, bad names or labels, a redefined
  // built-in or a duplicate name, each naming the attribute and what was wrong. `codes` must not
  // be null and must outlive the registry.
  static absl::StatusOr<AttributeRegistry> Create(const CodeLists* codes,
                                                  std::string_view config_json = {});
  // Create() with the contents of the file at `path`: NOT_FOUND naming the path if it cannot be
  // read, other errors prefixed with the path.
  static absl::StatusOr<AttributeRegistry> LoadFile(const CodeLists* codes,
                                                    const std::string& path);

  // nullptr if `name` is not defined.
  const AttributeDefinition* Find(std::string_view name) const;
  // Sorted by name.
  const std::vector<AttributeDefinition>& definitions() const { return definitions_; }

  // OK, or INVALID_ARGUMENT naming the attribute, the path inside the value and the offending
  // value (quoted, at most 80 bytes), e.g.
  //   attribute "life_situation_meters": value.health[0] is 11, above the maximum 10
  //   attribute "age": value is "30" (a string), expected an integer
  //   unknown attribute "shoe_size" (known: age, life_situation_meters, municipality_code)
  // An integer is a number without a fractional part within ±2^53; 5.0 is the integer 5, as
  // neither JSON numbers nor google.protobuf.Value distinguish them. null is never valid.
  absl::Status Validate(std::string_view name, const google::protobuf::Value& value) const;
  // Validate() for a JSON text value; invalid JSON is INVALID_ARGUMENT too.
  absl::Status ValidateJson(std::string_view name, std::string_view json) const;

  // Canonical JSON text of a valid value: object keys sorted by byte, no spaces, integers (within
  // ±2^53) without fraction or exponent, other numbers in the shortest form that reads back the
  // same double, strings with only '"', '\\' and control characters escaped. The form the store
  // encrypts, so equal values have equal texts. Non-finite numbers and unset kinds print as null.
  static std::string CanonicalJson(const google::protobuf::Value& value);
  // Parses one JSON value. INVALID_ARGUMENT with the position for invalid JSON (including trailing
  // text and invalid UTF-8), a duplicate object key, nesting deeper than kMaxValueDepth, integers
  // beyond ±2^53 (not exactly representable), or a text longer than kMaxJsonTextBytes.
  static absl::StatusOr<google::protobuf::Value> ParseJsonValue(std::string_view json);

 private:
  AttributeRegistry() = default;

  const CodeLists* codes_ = nullptr;
  std::vector<AttributeDefinition> definitions_;
  std::vector<std::shared_ptr<const SchemaNode>> schemas_;  // parallel to definitions_
};

}  // namespace aurora::profile
