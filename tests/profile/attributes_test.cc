// Unit tests of src/profile/attributes: built-in and configured attribute definitions, the schema
// language, value validation and canonical JSON.

#include "profile/attributes.h"

#include <google/protobuf/util/message_differencer.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/text.h"
#include "profile_test_support.h"

namespace aurora::profile {
namespace {

using google::protobuf::Value;

using testing::Codes;

const AttributeRegistry& BuiltIns() {
  static const AttributeRegistry* registry = [] {
    auto created = AttributeRegistry::Create(&Codes());
    REQUIRE(created.ok());
    return new AttributeRegistry(*std::move(created));
  }();
  return *registry;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// The error of validating `json` as `name`, which must be INVALID_ARGUMENT.
std::string Rejection(const AttributeRegistry& registry, std::string_view name,
                      std::string_view json) {
  absl::Status status = registry.ValidateJson(name, json);
  INFO(json);
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  return Message(status);
}

std::string Rejection(std::string_view name, std::string_view json) {
  return Rejection(BuiltIns(), name, json);
}

absl::StatusOr<AttributeRegistry> WithConfig(std::string_view config) {
  return AttributeRegistry::Create(&Codes(), config);
}

std::string ConfigError(std::string_view config) {
  auto registry = WithConfig(config);
  INFO(config);
  REQUIRE(registry.status().code() == absl::StatusCode::kInvalidArgument);
  return Message(registry.status());
}

// A configuration with one attribute "x" of the given schema.
std::string OneAttribute(std::string_view schema) {
  return absl::StrCat(
      R"({"attributes": [{"name": "x", "labels": {"fi": "X", "sv": "X", "en": "X"}, "schema": )",
      Sv(schema), "}]}");
}

Value Parse(std::string_view json) {
  auto value = AttributeRegistry::ParseJsonValue(json);
  INFO(json);
  REQUIRE(value.ok());
  return *value;
}

TEST_CASE("built-in attributes with fi/sv/en labels", "[profile][attributes]") {
  const AttributeRegistry& registry = BuiltIns();
  REQUIRE(registry.definitions().size() == 4);
  CHECK(registry.definitions()[0].name == "age");
  CHECK(registry.definitions()[1].name == "life_situation_history");
  CHECK(registry.definitions()[2].name == "life_situation_meters");
  CHECK(registry.definitions()[3].name == "municipality_code");

  const AttributeDefinition* age = registry.Find("age");
  REQUIRE(age != nullptr);
  CHECK(age->built_in);
  CHECK(age->label_fi == "Ikä");
  CHECK(age->label_sv == "Ålder");
  CHECK(age->label_en == "Age");
  CHECK(age->schema_json == R"({"maximum":200,"minimum":0,"type":"integer"})");

  const AttributeDefinition* municipality = registry.Find("municipality_code");
  REQUIRE(municipality != nullptr);
  CHECK(municipality->label_fi == "Kunta");
  CHECK(municipality->label_sv == "Kommun");
  CHECK(municipality->label_en == "Municipality");

  const AttributeDefinition* meters = registry.Find("life_situation_meters");
  REQUIRE(meters != nullptr);
  CHECK(meters->label_fi == "Elämäntilannemittari");
  CHECK(meters->label_sv == "Livssituationsmätare");
  CHECK(meters->label_en == "Life situation meters");
  CHECK_FALSE(meters->description_en.empty());
  CHECK(meters->schema_json.find(R"("additionalProperties":false)") != std::string::npos);

  CHECK(registry.Find("shoe_size") == nullptr);
  CHECK(registry.Find("") == nullptr);
}

TEST_CASE("age is an integer 0..200", "[profile][attributes]") {
  CHECK(BuiltIns().ValidateJson("age", "0").ok());
  CHECK(BuiltIns().ValidateJson("age", "200").ok());
  CHECK(BuiltIns().ValidateJson("age", "30.0").ok());  // JSON cannot tell 30.0 from 30

  CHECK(Rejection("age", "-1") == R"(attribute "age": value is -1, below the minimum 0)");
  CHECK(Rejection("age", "201") == R"(attribute "age": value is 201, above the maximum 200)");
  CHECK(Rejection("age", "5.5") ==
        R"(attribute "age": value is 5.5 (a number with a fraction), expected an integer)");
  CHECK(Rejection("age", R"("30")") ==
        R"(attribute "age": value is "30" (a string), expected an integer)");
  CHECK(Rejection("age", "null") == R"(attribute "age": value is null, expected an integer)");
  CHECK(Rejection("age", "true") ==
        R"(attribute "age": value is true (a boolean), expected an integer)");
  CHECK(Rejection("age", "[30]") ==
        R"(attribute "age": value is an array of 1 item, expected an integer)");
  CHECK(Rejection("age", R"({"age": 30})") ==
        R"(attribute "age": value is an object with 1 key, expected an integer)");
  CHECK(Rejection("age", "1e300").find("beyond") != std::string::npos);

  Value nan;
  nan.set_number_value(std::nan(""));
  CHECK(Message(BuiltIns().Validate("age", nan)).find("not a finite number") != std::string::npos);
  CHECK(BuiltIns().Validate("age", Value()).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("municipality_code is a code of the official list", "[profile][attributes]") {
  CHECK(BuiltIns().ValidateJson("municipality_code", R"("091")").ok());
  CHECK(BuiltIns().ValidateJson("municipality_code", R"("478")").ok());

  CHECK(
      Rejection("municipality_code", R"("999")") ==
      R"(attribute "municipality_code": value is "999", not a municipality code of the code list)");
  CHECK(Rejection("municipality_code", R"("91")").find(R"("91")") != std::string::npos);
  CHECK(Rejection("municipality_code", "91") ==
        R"(attribute "municipality_code": value is 91 (a number), expected a string)");
  CHECK(Rejection("municipality_code", R"("09\n")").find("control character") != std::string::npos);
}

TEST_CASE("life_situation_meters: arrays of integers 0..10 under the ten 3X10D keys",
          "[profile][attributes]") {
  const AttributeRegistry& registry = BuiltIns();
  CHECK(registry
            .ValidateJson("life_situation_history",
                          R"([{"date": "2026-12-01", "meters": {"health": [4]}},
                              {"date": "2026-12-07", "meters": {"health": [6], "family": [8]}}])")
            .ok());
  CHECK(Rejection("life_situation_history", R"([{"date": "2026-12-01"}])") ==
        R"(attribute "life_situation_history": value[0] lacks the required key "meters")");
  CHECK(Rejection("life_situation_history",
                  R"([{"date": "2026-12-01", "meters": {"health": [12]}}])") ==
        R"(attribute "life_situation_history": value[0].meters.health[0] is 12, )"
        R"(above the maximum 10)");
  CHECK(registry.ValidateJson("life_situation_meters", R"({"health": [2, 3]})").ok());
  CHECK(registry.ValidateJson("life_situation_meters", R"({"health": []})").ok());
  CHECK(registry
            .ValidateJson("life_situation_meters",
                          R"({"health": [0], "resilience": [1], "housing": [2],
                              "working_studying": [3], "family": [4], "friends": [5],
                              "finance": [6], "improvement_of_strengths": [7],
                              "self_esteem": [8], "life_satisfaction": [9, 10]})")
            .ok());

  CHECK(Rejection("life_situation_meters", "{}") ==
        R"(attribute "life_situation_meters": value has 0 keys, fewer than the minimum 1)");
  CHECK(Rejection("life_situation_meters", R"({"health": [11]})") ==
        R"(attribute "life_situation_meters": value.health[0] is 11, above the maximum 10)");
  CHECK(Rejection("life_situation_meters", R"({"family": [1, -1]})") ==
        R"(attribute "life_situation_meters": value.family[1] is -1, below the minimum 0)");
  CHECK(Rejection("life_situation_meters", R"({"health": 5})") ==
        R"(attribute "life_situation_meters": value.health is 5 (a number), expected an array)");
  CHECK(Rejection("life_situation_meters", R"({"health": [1.5]})") ==
        "attribute \"life_situation_meters\": value.health[0] is 1.5 (a number with a fraction), "
        "expected an integer");
  CHECK(
      Rejection("life_situation_meters", R"({"health": [null]})").find("value.health[0] is null") !=
      std::string::npos);
  CHECK(Rejection("life_situation_meters", R"({"health": ["5"]})")
            .find(R"(value.health[0] is "5" (a string))") != std::string::npos);

  const std::string unknown = Rejection("life_situation_meters", R"({"health": [1], "shoe": [1]})");
  CHECK(unknown.find(R"(value has an unknown key "shoe")") != std::string::npos);
  CHECK(unknown.find("allowed: family, finance, friends, health") != std::string::npos);
  CHECK(Rejection("life_situation_meters", "[1]").find("expected an object") != std::string::npos);
}

TEST_CASE("value nesting and size limits", "[profile][attributes]") {
  const AttributeRegistry& registry = BuiltIns();
  // Arrays hold at most 100 items.
  std::string hundred = "[", too_many = "[";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&hundred, i ? "," : "", i % 11);
  too_many = hundred + ",1]";
  hundred += "]";
  CHECK(registry.ValidateJson("life_situation_meters", absl::StrCat(R"({"health":)", hundred, "}"))
            .ok());
  CHECK(Rejection("life_situation_meters", absl::StrCat(R"({"health":)", too_many, "}")) ==
        "attribute \"life_situation_meters\": value.health has 101 items, more than the maximum "
        "100");

  // Objects hold at most 64 keys.
  std::string wide = "{";
  for (int i = 0; i < 65; ++i) absl::StrAppend(&wide, i ? "," : "", "\"k", i, "\":[]");
  wide += "}";
  CHECK(Rejection("life_situation_meters", wide).find("has 65 keys, more than the limit 64") !=
        std::string::npos);

  // The JSON parser refuses nesting beyond 8 levels; a deep Value built in code is refused
  // without recursing through it.
  CHECK(AttributeRegistry::ParseJsonValue("[[[[[[[[1]]]]]]]]").ok());
  auto deep = AttributeRegistry::ParseJsonValue("[[[[[[[[[1]]]]]]]]]");
  REQUIRE(deep.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(deep.status()) == "JSON value nested deeper than 8 levels");
  CHECK(Rejection("life_situation_meters", std::string(100000, '[')).find("deeper than 8") !=
        std::string::npos);
  Value nested;
  Value* inner = nested.mutable_struct_value()
                     ->mutable_fields()
                     ->
                     operator[]("health")
                     .mutable_list_value()
                     ->add_values();
  for (int i = 0; i < 1000; ++i) inner = inner->mutable_list_value()->add_values();
  inner->set_number_value(1);
  CHECK(Message(registry.Validate("life_situation_meters", nested)) ==
        "attribute \"life_situation_meters\": value.health[0] is an array of 1 item, expected an "
        "integer");

  // Strings: at most 1000 code points by default.
  auto strings = WithConfig(OneAttribute(R"({"type": "string"})"));
  REQUIRE(strings.ok());
  CHECK(strings->ValidateJson("x", absl::StrCat("\"", std::string(1000, 'a'), "\"")).ok());
  const std::string long_string =
      Rejection(*strings, "x", absl::StrCat("\"", std::string(1001, 'a'), "\""));
  CHECK(long_string.find("(1001 characters), longer than the maximum length 1000") !=
        std::string::npos);
  CHECK(long_string.find(std::string(80, 'a') + "...\"") != std::string::npos);
  CHECK(long_string.find(std::string(81, 'a')) == std::string::npos);
  Value bad_utf8;
  bad_utf8.set_string_value("\xC3\x28");
  CHECK(Message(strings->Validate("x", bad_utf8)).find("not valid UTF-8") != std::string::npos);
}

TEST_CASE("unknown attribute names list the known ones", "[profile][attributes]") {
  CHECK(Message(BuiltIns().Validate("shoe_size", Parse("42"))) ==
        R"(unknown attribute "shoe_size" (known: age, life_situation_history, )"
        R"(life_situation_meters, municipality_code))");
  CHECK(Message(BuiltIns().ValidateJson("shoe_size", "42")).find("unknown attribute") == 0);
}

TEST_CASE("a configuration adds definitions", "[profile][attributes]") {
  auto registry = WithConfig(R"({"attributes": [
    {"name": "employment_status",
     "labels": {"fi": "Työtilanne", "sv": "Sysselsättning", "en": "Employment status"},
     "descriptions": {"fi": "Nykyinen työtilanne.", "sv": "Nuvarande sysselsättning.",
                      "en": "Current employment status."},
     "schema": {"type": "string", "enum": ["employed", "unemployed", "student", "retired"],
                "title": "Employment status"}},
    {"name": "household",
     "labels": {"fi": "Kotitalous", "sv": "Hushåll", "en": "Household"},
     "schema": {"type": "object", "additionalProperties": false, "required": ["adults"],
                "properties": {"adults": {"type": "integer", "minimum": 1, "maximum": 20},
                               "children": {"type": "integer", "enum": [0, 1, 2, 3]},
                               "pets": {"type": "boolean"},
                               "income": {"type": "number", "minimum": 0},
                               "languages": {"type": "array", "minItems": 1, "maxItems": 3,
                                             "items": {"type": "string", "minLength": 2,
                                                       "maxLength": 2}},
                               "home": {"type": "string", "format": "municipality_code"}}}}
  ]})");
  REQUIRE(registry.ok());
  REQUIRE(registry->definitions().size() == 6);
  CHECK(registry->definitions()[0].name == "age");
  CHECK(registry->definitions()[1].name == "employment_status");
  CHECK(registry->definitions()[2].name == "household");

  const AttributeDefinition* employment = registry->Find("employment_status");
  REQUIRE(employment != nullptr);
  CHECK_FALSE(employment->built_in);
  CHECK(employment->label_sv == "Sysselsättning");
  CHECK(employment->description_en == "Current employment status.");
  CHECK(employment->schema_json ==
        R"({"enum":["employed","unemployed","student","retired"],"title":"Employment status",)"
        R"("type":"string"})");
  CHECK(registry->Find("household")->description_fi.empty());

  CHECK(registry->ValidateJson("employment_status", R"("student")").ok());
  CHECK(Rejection(*registry, "employment_status", R"("astronaut")") ==
        "attribute \"employment_status\": value is \"astronaut\", not one of \"employed\", "
        "\"unemployed\", \"student\", \"retired\"");
  CHECK(registry->ValidateJson("age", "40").ok());

  CHECK(registry
            ->ValidateJson("household", R"({"adults": 2, "children": 3, "pets": false,
                                            "income": 2500.5, "languages": ["fi", "sv"],
                                            "home": "091"})")
            .ok());
  CHECK(Rejection(*registry, "household", R"({"children": 1})") ==
        R"(attribute "household": value lacks the required key "adults")");
  CHECK(Rejection(*registry, "household", R"({"adults": 1, "children": 4})") ==
        R"(attribute "household": value.children is 4, not one of 0, 1, 2, 3)");
  CHECK(Rejection(*registry, "household", R"({"adults": 1, "pets": 1})") ==
        R"(attribute "household": value.pets is 1 (a number), expected a boolean)");
  CHECK(Rejection(*registry, "household", R"({"adults": 1, "income": -0.5})") ==
        R"(attribute "household": value.income is -0.5, below the minimum 0)");
  CHECK(Rejection(*registry, "household", R"({"adults": 1, "languages": []})") ==
        R"(attribute "household": value.languages has 0 items, fewer than the minimum 1)");
  CHECK(Rejection(*registry, "household", R"({"adults": 1, "languages": ["fi","sv","en","de"]})") ==
        R"(attribute "household": value.languages has 4 items, more than the maximum 3)");
  CHECK(Rejection(*registry, "household", R"({"adults": 1, "languages": ["fin"]})") ==
        "attribute \"household\": value.languages[0] is \"fin\" (3 characters), longer than the "
        "maximum length 2");
  CHECK(Rejection(*registry, "household", R"({"adults": 1, "home": "000"})") ==
        R"(attribute "household": value.home is "000", not a municipality code of the code list)");
}

TEST_CASE("configuration errors name the attribute and the problem", "[profile][attributes]") {
  CHECK(ConfigError(OneAttribute(R"({"type": "integer", "maximun": 5})")) ==
        "attribute configuration: attribute \"x\": schema: unknown keyword \"maximun\" "
        "(supported: additionalProperties, description, enum, format, items, maxItems, maxLength, "
        "maximum, minItems, minLength, minProperties, minimum, properties, required, title, "
        "type)");
  CHECK(
      ConfigError(OneAttribute(R"({"type": "array", "items": {"type": "integer", "pattern": 1}})"))
          .find(R"(attribute "x": schema.items: unknown keyword "pattern")") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "integer", "minLength": 1})")) ==
        "attribute configuration: attribute \"x\": schema: keyword \"minLength\" does not apply "
        "to type \"integer\"");
  CHECK(ConfigError(OneAttribute(R"({"minimum": 1})")).find("keyword \"type\" is required") !=
        std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "float"})")).find("type \"float\"") !=
        std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "integer", "minimum": 5, "maximum": 1})"))
            .find("\"minimum\" 5 is above \"maximum\" 1") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "string", "format": "email"})"))
            .find("\"format\" \"email\" (a string) is not supported") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "string", "enum": []})"))
            .find("expected a non-empty array") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "string", "enum": ["a", "a"]})"))
            .find("\"enum\" lists \"a\" twice") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "integer", "enum": [1, 2.5]})"))
            .find("is not an integer") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "array", "items": {"type": "integer"},
                                     "maxItems": 500})"))
            .find("\"maxItems\" is 500, more than the limit 100") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "string", "maxLength": 5000})"))
            .find("more than the limit 1000") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "array"})")).find("need \"items\"") !=
        std::string::npos);

  // Objects must list their keys and refuse all others.
  CHECK(ConfigError(OneAttribute(R"({"type": "object", "properties": {"a": {"type": "integer"}}})"))
            .find("\"additionalProperties\": false") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "object", "additionalProperties": true,
                                     "properties": {"a": {"type": "integer"}}})"))
            .find("\"additionalProperties\": false") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "object", "additionalProperties": false,
                                     "properties": {"a": {"type": "integer"}},
                                     "required": ["b"]})"))
            .find("\"required\" names \"b\" (a string), which is not one of the properties") !=
        std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "object", "additionalProperties": false,
                                     "properties": {"a": {"type": "integer"}},
                                     "minProperties": 2})"))
            .find("more than the limit 1") != std::string::npos);
  CHECK(ConfigError(OneAttribute(R"({"type": "object", "additionalProperties": false,
                                     "properties": {"a b": {"type": "integer"}}})"))
            .find("property name \"a b\" is not valid") != std::string::npos);

  // Schemas nest arrays and objects at most 8 levels deep.
  std::string eight = R"({"type": "integer"})", nine;
  for (int i = 0; i < 8; ++i) eight = absl::StrCat(R"({"type": "array", "items": )", eight, "}");
  nine = absl::StrCat(R"({"type": "array", "items": )", eight, "}");
  CHECK(WithConfig(OneAttribute(eight)).ok());
  CHECK(ConfigError(OneAttribute(nine)).find("nest deeper than the limit of 8 levels") !=
        std::string::npos);

  // Names, labels and duplicates.
  const std::string labels = R"("labels": {"fi": "A", "sv": "A", "en": "A"})";
  const std::string schema = R"("schema": {"type": "boolean"})";
  CHECK(ConfigError(
            absl::StrCat(R"({"attributes": [{"name": "age", )", labels, ", ", schema, "}]}")) ==
        "attribute configuration: attribute \"age\" is built in and cannot be redefined");
  CHECK(ConfigError(absl::StrCat(R"({"attributes": [{"name": "a", )", labels, ", ", schema,
                                 R"(}, {"name": "a", )", labels, ", ", schema, "}]}")) ==
        "attribute configuration: attribute \"a\" is defined twice");
  CHECK(ConfigError(
            absl::StrCat(R"({"attributes": [{"name": "Age!", )", labels, ", ", schema, "}]}")) ==
        "attribute configuration: attributes[0]: name \"Age!\" (a string) is not valid: expected "
        "[a-z][a-z0-9_]{0,62}");
  CHECK(ConfigError(absl::StrCat(R"({"attributes": [{"name": ")", std::string(64, 'a'), R"(", )",
                                 labels, ", ", schema, "}]}"))
            .find("is not valid") != std::string::npos);
  CHECK(ConfigError(absl::StrCat(
            R"({"attributes": [{"name": "a", "labels": {"fi": "A", "en": "A"},)", schema, "}]}")) ==
        "attribute configuration: attribute \"a\": labels.sv is missing");
  CHECK(ConfigError(
            absl::StrCat(
                R"({"attributes": [{"name": "a", "labels": {"fi": "A", "sv": "", "en": "A"},)",
                schema, "}]}"))
            .find("labels.sv is \"\" (a string), expected a non-empty string") !=
        std::string::npos);
  CHECK(ConfigError(absl::StrCat(R"({"attributes": [{"name": "a", "lables": {}, )", schema, "}]}"))
            .find("unknown key \"lables\"") != std::string::npos);
  CHECK(ConfigError(absl::StrCat(R"({"attributes": [{"name": "a", )", labels, "}]}")) ==
        "attribute configuration: attribute \"a\": \"schema\" is missing");
  CHECK(ConfigError(R"({"attribute": []})").find("unknown key \"attribute\"") != std::string::npos);
  CHECK(ConfigError(R"({"attributes": [], "attributes": []})").find("duplicate key") !=
        std::string::npos);

  // Invalid JSON names the position.
  CHECK(ConfigError(R"({"attributes": [}")") ==
        "attribute configuration: invalid JSON: parse error at line 1, column 17: syntax error "
        "while parsing value - unexpected '}'; expected '[', '{', or a literal");

  // An empty configuration adds nothing.
  auto empty = WithConfig(R"({"attributes": []})");
  REQUIRE(empty.ok());
  CHECK(empty->definitions().size() == 4);
}

TEST_CASE("LoadFile reads a configuration file", "[profile][attributes]") {
  const std::string missing = "/nonexistent/aurora/attributes.json";
  auto not_found = AttributeRegistry::LoadFile(&Codes(), missing);
  CHECK(not_found.status().code() == absl::StatusCode::kNotFound);
  CHECK(Message(not_found.status()).find(missing) != std::string::npos);

  CHECK(AttributeRegistry::LoadFile(&Codes(), "/tmp").status().code() ==
        absl::StatusCode::kNotFound);

  char path[] = "/tmp/attributes_test_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  CHECK(Message(AttributeRegistry::LoadFile(&Codes(), path).status()) ==
        absl::StrCat("attribute configuration file ", path, " is empty"));
  {
    std::ofstream out(path);
    out << OneAttribute(R"({"type": "boolean"})");
  }
  auto loaded = AttributeRegistry::LoadFile(&Codes(), path);
  REQUIRE(loaded.ok());
  CHECK(loaded->ValidateJson("x", "true").ok());
  {
    std::ofstream out(path);
    out << OneAttribute(R"({"type": "boolean", "default": true})");
  }
  auto bad = AttributeRegistry::LoadFile(&Codes(), path);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(bad.status()).find(path) != std::string::npos);
  CHECK(Message(bad.status()).find("unknown keyword \"default\"") != std::string::npos);
  std::remove(path);
}

TEST_CASE("canonical JSON: sorted keys, plain integers, round trip", "[profile][attributes]") {
  const Value value = Parse(R"({"b": [3.0, 1.5, -0.25, 1e21], "a": {"y": true, "x": null},
                               "c": "t\"e\\x\u00e4\n", "d": 9007199254740992})");
  const std::string canonical = AttributeRegistry::CanonicalJson(value);
  CHECK(
      canonical ==
      R"({"a":{"x":null,"y":true},"b":[3,1.5,-0.25,1e+21],"c":"t\"e\\xä\n","d":9007199254740992})");
  auto round_trip = AttributeRegistry::ParseJsonValue(canonical);
  REQUIRE(round_trip.ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(*round_trip, value));
  CHECK(AttributeRegistry::CanonicalJson(*round_trip) == canonical);

  Value meters = Parse(R"({"housing": [5], "health": [10, 0]})");
  CHECK(AttributeRegistry::CanonicalJson(meters) == R"({"health":[10,0],"housing":[5]})");
  CHECK(AttributeRegistry::CanonicalJson(Parse("0.1")) == "0.1");
  // Whole numbers beyond 2^53 in exponent form, which reads back (an integer literal would be
  // refused as not exactly representable; found by attribute_validation_fuzz).
  const std::string big = AttributeRegistry::CanonicalJson(Parse("9007199254740994.0"));
  CHECK(big == "9.007199254740994e+15");
  auto big_again = AttributeRegistry::ParseJsonValue(big);
  REQUIRE(big_again.ok());
  CHECK(big_again->number_value() == 9007199254740994.0);
  CHECK(AttributeRegistry::CanonicalJson(Parse("\"\"")) == "\"\"");
}

TEST_CASE("ParseJsonValue and ValidateJson refuse invalid JSON", "[profile][attributes]") {
  for (std::string_view bad :
       {"", "30 years", "{\"health\": [1,]}", "[1", "'30'", "NaN", "\"\xC3\x28\"",
        "{\"a\": 1, \"a\": 2}", "9007199254740993", "1e400"}) {
    INFO(bad);
    CHECK(AttributeRegistry::ParseJsonValue(bad).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  const std::string error = Rejection("age", "30 years");
  CHECK(error.find(R"(attribute "age": invalid JSON: parse error at line 1, column 4)") == 0);
  // The "last read" token, a piece of the value, is not repeated.
  CHECK(Rejection("municipality_code", "\"secret").find("secret") == std::string::npos);
  CHECK(Rejection("life_situation_meters", R"({"health": [1], "health": [2]})")
            .find(R"(duplicate key "health")") != std::string::npos);
  CHECK(Message(AttributeRegistry::ParseJsonValue(std::string(kMaxJsonTextBytes + 1, ' ')).status())
            .find("longer than the limit") != std::string::npos);
}

}  // namespace
}  // namespace aurora::profile
