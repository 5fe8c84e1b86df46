// libFuzzer target for profile/attributes: AttributeRegistry's validation of attribute values
// against the attribute schemas (the built-ins plus kConfig below, which uses every keyword of the
// schema language), its JSON value parser (ParseJsonValue) and its canonical printer
// (CanonicalJson). Attribute configuration files (AttributeRegistry::Create) are not fuzzed here:
// each Create parses the built-in definitions again, some twenty times the cost of a validation.
//
// Input: one byte, then the rest:
//   byte 0      bits 7-6: where the value comes from:
//                 00, 11  JSON text, for ParseJsonValue / ValidateJson (the library's own parser)
//                 01      JSON text, for protobuf's JSON parser into a google.protobuf.Value (how
//                         the gateway turns PutAttributes bodies into values)
//                 10      a serialized google.protobuf.Value (a gRPC client; unknown fields are
//                         dropped)
//               bit 5: the attribute name is the rest up to the first '\n' (any bytes), and the
//                 value the text after it; else the name is definitions()[(byte & 31) % count]
//   the rest    the value (and the name)
// The code lists (for "format": "municipality_code") are loaded once from
// $AURORA_DATA_DIR/codelists, or from the AURORA_DATA_DIR the build was configured with.
//
// Invariants (a broken one prints what broke and calls __builtin_trap()):
//   * Validate / ValidateJson return OK or INVALID_ARGUMENT with a message, which starts with
//     `unknown attribute` exactly when the name is not defined and with `attribute "<name>": `
//     otherwise; ValidateJson agrees with Validate on the value ParseJsonValue returns, and
//     fails whenever ParseJsonValue fails (INVALID_ARGUMENT with a message);
//   * an accepted value is within the limits attributes.h puts on every value, whatever its
//     schema: no null, finite numbers, strings of valid UTF-8 without control characters and at
//     most kMaxStringLength code points, arrays of at most kMaxArrayItems, objects of at most
//     kMaxObjectKeys keys named [A-Za-z][A-Za-z0-9_]{0,63}, nesting at most kMaxValueDepth;
//   * an accepted value's CanonicalJson parses back (ParseJsonValue) to an equal value that is
//     valid again and has the same canonical text (this found whole numbers beyond ±2^53 printed
//     as integer literals that ParseJsonValue refuses; attributes.cc now prints them with an
//     exponent).

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/codelists.h"
#include "common/text.h"
#include "profile/attributes.h"
#include "fuzz_check.h"
#include "fuzz_codelists.h"

namespace aurora::profile {
namespace {

using google::protobuf::Value;


// Attributes that use every keyword of the schema language, on top of the built-ins.
constexpr std::string_view kConfig = R"json({"attributes": [
{"name": "employment_status",
 "labels": {"fi": "Työtilanne", "sv": "Sysselsättning", "en": "Employment"},
 "descriptions": {"fi": "Nykyinen tilanne.", "sv": "Nuvarande situation.", "en": "Current status."},
 "schema": {"type": "string", "title": "Status", "enum": ["employed", "unemployed", "student", "retired"]}},
{"name": "household_size",
 "labels": {"fi": "Kotitalouden koko", "sv": "Hushållets storlek", "en": "Household size"},
 "schema": {"type": "integer", "minimum": 1, "maximum": 20}},
{"name": "monthly_income",
 "labels": {"fi": "Kuukausitulot", "sv": "Månadsinkomst", "en": "Monthly income"},
 "schema": {"type": "number", "minimum": 0, "description": "Euroa kuukaudessa"}},
{"name": "temperature",
 "labels": {"fi": "Lämpötila", "sv": "Temperatur", "en": "Temperature"},
 "schema": {"type": "number"}},
{"name": "wants_contact",
 "labels": {"fi": "Yhteydenotto", "sv": "Kontakt", "en": "Contact wanted"},
 "schema": {"type": "boolean"}},
{"name": "children_ages",
 "labels": {"fi": "Lasten iät", "sv": "Barnens åldrar", "en": "Ages of children"},
 "schema": {"type": "array", "minItems": 1, "maxItems": 12,
            "items": {"type": "integer", "minimum": 0, "maximum": 17}}},
{"name": "home_municipalities",
 "labels": {"fi": "Kotikunnat", "sv": "Hemkommuner", "en": "Home municipalities"},
 "schema": {"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 3,
                                       "format": "municipality_code"}}},
{"name": "contact",
 "labels": {"fi": "Yhteystiedot", "sv": "Kontaktuppgifter", "en": "Contact details"},
 "schema": {"type": "object", "additionalProperties": false, "minProperties": 1,
            "required": ["preferred"],
            "properties": {
              "preferred": {"type": "string", "enum": ["phone", "email"]},
              "phone": {"type": "string", "minLength": 5, "maxLength": 20},
              "hours": {"type": "array", "maxItems": 3, "items": {"type": "integer", "enum": [8, 12, 16]}},
              "note": {"type": "string"}}}},
{"name": "deep_lists",
 "labels": {"fi": "Syvä", "sv": "Djup", "en": "Deep"},
 "schema": {"type": "array", "items": {"type": "array", "items": {"type": "array", "items":
           {"type": "array", "items": {"type": "array", "items": {"type": "array", "items":
           {"type": "array", "items": {"type": "object", "additionalProperties": false,
            "properties": {"x": {"type": "number", "maximum": 1e300}}}}}}}}}}}
]})json";

struct Fixture {
  CodeLists codes;
  std::unique_ptr<AttributeRegistry> registry;
};

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    // protobuf logs an ERROR line for every string that is not UTF-8, which is most inputs.
    google::protobuf::SetLogHandler(nullptr);
    f->codes = LoadFuzzCodeLists();
    absl::StatusOr<AttributeRegistry> registry = AttributeRegistry::Create(&f->codes, kConfig);
    if (!registry.ok()) std::fprintf(stderr, "%s\n", registry.status().ToString().c_str());
    FUZZ_CHECK(registry.ok());
    f->registry = std::make_unique<AttributeRegistry>(*std::move(registry));
    return f;
  }();
  return *fixture;
}

bool IsPropertyName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '_') return false;
  }
  return true;
}

// The limits every accepted value is within (attributes.h). `depth`: containers around `value`.
void CheckWithinLimits(const Value& value, int depth) {
  switch (value.kind_case()) {
    case Value::kBoolValue:
      return;
    case Value::kNumberValue:
      FUZZ_CHECK(std::isfinite(value.number_value()));
      return;
    case Value::kStringValue: {
      const std::optional<size_t> length = Utf8Length(value.string_value());
      FUZZ_CHECK(length.has_value());
      FUZZ_CHECK(*length <= kMaxStringLength);
      FUZZ_CHECK(!HasControlCharacters(value.string_value(), /*allow_newlines=*/false));
      return;
    }
    case Value::kListValue:
      FUZZ_CHECK(depth < kMaxValueDepth);
      FUZZ_CHECK(static_cast<size_t>(value.list_value().values_size()) <= kMaxArrayItems);
      for (const Value& item : value.list_value().values()) CheckWithinLimits(item, depth + 1);
      return;
    case Value::kStructValue:
      FUZZ_CHECK(depth < kMaxValueDepth);
      FUZZ_CHECK(static_cast<size_t>(value.struct_value().fields_size()) <= kMaxObjectKeys);
      for (const auto& [key, item] : value.struct_value().fields()) {
        FUZZ_CHECK(IsPropertyName(key));
        CheckWithinLimits(item, depth + 1);
      }
      return;
    default:  // null, or no kind
      FUZZ_CHECK(false);
  }
}

void CheckValidateStatus(const AttributeRegistry& registry, std::string_view name,
                         const absl::Status& status) {
  if (status.ok()) return;
  const bool known = registry.Find(name) != nullptr;
  const std::string prefix =
      known ? absl::StrCat("attribute \"", Sv(name), "\": ") : std::string("unknown attribute ");
  if (status.code() != absl::StatusCode::kInvalidArgument ||
      !absl::StartsWith(status.message(), prefix) || status.message().size() <= prefix.size()) {
    std::fprintf(stderr, "Validate(%s): %s\n", QuoteForMessage(name).c_str(),
                 status.ToString().c_str());
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(absl::StartsWith(status.message(), prefix));
  FUZZ_CHECK(status.message().size() > prefix.size());
}

// CanonicalJson(value) parsed back with ParseJsonValue: it must parse.
void CanonicalTextParses(const std::string& canonical, Value* parsed) {
  absl::StatusOr<Value> again = AttributeRegistry::ParseJsonValue(canonical);
  if (!again.ok()) {
    std::fprintf(stderr, "the canonical JSON %s does not parse: %s\n", canonical.c_str(),
                 again.status().ToString().c_str());
  }
  FUZZ_CHECK(again.ok());
  *parsed = *std::move(again);
}

void CheckAccepted(const AttributeRegistry& registry, std::string_view name, const Value& value) {
  FUZZ_CHECK(registry.Find(name) != nullptr);
  CheckWithinLimits(value, 0);
  const std::string canonical = AttributeRegistry::CanonicalJson(value);
  Value parsed;
  CanonicalTextParses(canonical, &parsed);
  if (!google::protobuf::util::MessageDifferencer::Equals(value, parsed)) {
    std::fprintf(stderr, "canonical JSON %s reads back as a different value:\n%s\n%s\n",
                 canonical.c_str(), value.DebugString().c_str(), parsed.DebugString().c_str());
  }
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(value, parsed));
  const absl::Status again = registry.Validate(name, parsed);
  if (!again.ok()) {
    std::fprintf(stderr, "canonical JSON %s is not valid again: %s\n", canonical.c_str(),
                 again.ToString().c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(AttributeRegistry::CanonicalJson(parsed) == canonical);
}

void RunValue(const Fixture& f, int source, std::string_view name, std::string_view text) {
  const AttributeRegistry& registry = *f.registry;
  Value value;
  if (source == 0) {
    const absl::Status by_json = registry.ValidateJson(name, text);
    CheckValidateStatus(registry, name, by_json);
    absl::StatusOr<Value> parsed = AttributeRegistry::ParseJsonValue(text);
    if (!parsed.ok()) {
      FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
      FUZZ_CHECK(!parsed.status().message().empty());
      FUZZ_CHECK(!by_json.ok());
      return;
    }
    value = *std::move(parsed);
    FUZZ_CHECK(registry.Validate(name, value) == by_json);
  } else if (source == 1) {
    google::protobuf::util::JsonParseOptions options;
    if (!google::protobuf::util::JsonStringToMessage(std::string(text), &value, options).ok()) {
      return;
    }
  } else {
    if (!value.ParseFromArray(text.data(), static_cast<int>(text.size()))) return;
    // Unknown fields are no part of the value (no validation or printing sees them); dropped so
    // that the comparisons below compare values.
    value.DiscardUnknownFields();
  }
  (void)AttributeRegistry::CanonicalJson(value);  // prints whatever the value holds
  const absl::Status status = registry.Validate(name, value);
  CheckValidateStatus(registry, name, status);
  if (status.ok()) CheckAccepted(registry, name, value);
}

void RunOne(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const Fixture& f = GetFixture();
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const int source = (data[0] >> 6) % 3;
  std::string_view name;
  if ((data[0] & 0x20) != 0) {
    const size_t newline = rest.find('\n');
    name = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  } else {
    const std::vector<AttributeDefinition>& definitions = f.registry->definitions();
    name = definitions[(data[0] & 0x1f) % definitions.size()].name;
  }
  RunValue(f, source, name, rest);
}

}  // namespace
}  // namespace aurora::profile

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aurora::profile::RunOne(data, size);
  return 0;
}
