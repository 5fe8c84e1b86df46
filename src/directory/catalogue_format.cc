#include "directory/catalogue_format.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/text.h"
#include "nlohmann/json.hpp"

namespace aurora::directory {
namespace {

using aurora::common::v1::LifeArea;
using aurora::common::v1::LocalizedText;
using nlohmann::json;
namespace v1 = aurora::directory::v1;

// Debian's Abseil has its own absl::string_view, not an alias of std::string_view.
std::string_view StdView(absl::string_view text) { return {text.data(), text.size()}; }

// external_ref.source of records read in the kPtv format.
constexpr absl::string_view kPtvSource = "ptv";
// Files next to a PTV services file that its records' channels and organisations are looked up in.
constexpr const char* kPtvChannelsFile = "servicechannels.ndjson";
constexpr const char* kPtvOrganizationsFile = "organizations.ndjson";

// ------------------------------------------------------------------------------------------------
// Reading JSON

// The syntax error of text that nlohmann::json rejected, as "at column C: why" (or "at line L,
// column C" when the text spans lines). Parses with a SAX handler so that no exception is thrown.
// One instance per parse; not shared between threads.
class SyntaxErrorCapture : public nlohmann::json_sax<json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&, const json::exception& ex) override {
    position_ = position;
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 5: <why>".
    std::string_view what = ex.what();
    const size_t column = what.find("column ");
    const size_t colon = column == std::string_view::npos ? column : what.find(": ", column);
    reason_ = std::string(colon == std::string_view::npos ? what : what.substr(colon + 2));
    return false;
  }

  size_t position() const { return position_; }
  const std::string& reason() const { return reason_; }

 private:
  size_t position_ = 0;
  std::string reason_ = "unknown syntax error";
};

std::string DescribeSyntaxError(std::string_view text) {
  SyntaxErrorCapture capture;
  json::sax_parse(text, &capture);
  // position() counts bytes from 1 and points just past the offending character.
  const size_t offset = std::min(capture.position() > 0 ? capture.position() - 1 : 0, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = static_cast<size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
  const size_t line_start = before.rfind('\n');
  const size_t column = line_start == std::string_view::npos ? offset + 1 : offset - line_start;
  if (line > 1) {
    return absl::StrCat("not valid JSON at line ", line, ", column ", column, ": ",
                        capture.reason());
  }
  return absl::StrCat("not valid JSON at column ", column, ": ", capture.reason());
}

// A JSON value for an error message: strings quoted, other values as (ASCII) JSON, both shortened.
std::string DescribeValue(const json& value) {
  if (value.is_string()) return QuoteForMessage(value.get_ref<const std::string&>());
  std::string dump = value.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  if (dump.size() > 60) dump = absl::StrCat(dump.substr(0, 60), "...");
  return absl::StrCat(value.type_name(), " ", dump);
}

std::string FieldPath(absl::string_view prefix, absl::string_view key) {
  return prefix.empty() ? std::string(key) : absl::StrCat(prefix, ".", key);
}

std::string ElementPath(absl::string_view prefix, size_t index) {
  return absl::StrCat(prefix, "[", index, "]");
}

// Keeps the first problem found in a record, so that its message names the first bad field; the
// conversion goes on with an empty value in place of the bad one and the record is then dropped.
// One instance per record; not shared between threads.
class FirstFieldError {
 public:
  void Add(absl::string_view field, absl::string_view what) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
  }
  void WrongType(absl::string_view field, const char* expected, const json& value) {
    Add(field, absl::StrCat("expected ", expected, ", got ", DescribeValue(value)));
  }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

// The member `key` of `obj`, or nullptr when it is missing or null (or `obj` is not an object).
const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// Typed member access: a missing or null member gives an empty value; a member of another type
// gives an empty value and an error naming `prefix`.`key` and the value.
const json* ObjectMember(const json& obj, const char* key, absl::string_view prefix,
                         FirstFieldError& errors) {
  const json* value = Member(obj, key);
  if (value == nullptr || value->is_object()) return value;
  errors.WrongType(FieldPath(prefix, key), "an object", *value);
  return nullptr;
}

const json* ArrayMember(const json& obj, const char* key, absl::string_view prefix,
                        FirstFieldError& errors) {
  const json* value = Member(obj, key);
  if (value == nullptr || value->is_array()) return value;
  errors.WrongType(FieldPath(prefix, key), "an array", *value);
  return nullptr;
}

std::string StringValue(const json& value, absl::string_view field, FirstFieldError& errors) {
  if (value.is_string()) return value.get<std::string>();
  if (!value.is_null()) errors.WrongType(field, "a string", value);
  return "";
}

std::string StringMember(const json& obj, const char* key, absl::string_view prefix,
                         FirstFieldError& errors) {
  const json* value = Member(obj, key);
  return value == nullptr ? "" : StringValue(*value, FieldPath(prefix, key), errors);
}

// A string member without error reporting, for optional details of nested PTV structures.
std::string OptionalString(const json& obj, const char* key) {
  const json* value = Member(obj, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

// Strings of an array member; null elements are skipped.
std::vector<std::string> StringsMember(const json& obj, const char* key, absl::string_view prefix,
                                       FirstFieldError& errors) {
  std::vector<std::string> out;
  const json* array = ArrayMember(obj, key, prefix, errors);
  if (array == nullptr) return out;
  const std::string field = FieldPath(prefix, key);
  for (size_t i = 0; i < array->size(); ++i) {
    const json& element = (*array)[i];
    if (element.is_null()) continue;
    if (!element.is_string()) {
      errors.WrongType(ElementPath(field, i), "a string", element);
      continue;
    }
    out.push_back(element.get<std::string>());
  }
  return out;
}

// Maps a string member through `names`; missing or null gives `fallback`, an unknown value an
// error listing the accepted ones.
template <typename Enum>
Enum EnumMember(const json& obj, const char* key, absl::string_view prefix,
                std::initializer_list<std::pair<absl::string_view, Enum>> names, Enum fallback,
                FirstFieldError& errors) {
  const std::string field = FieldPath(prefix, key);
  const json* value = Member(obj, key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) {
    errors.WrongType(field, "a string", *value);
    return fallback;
  }
  const std::string& text = value->get_ref<const std::string&>();
  std::vector<absl::string_view> accepted;
  for (const auto& [name, mapped] : names) {
    if (name == text) return mapped;
    accepted.push_back(name);
  }
  errors.Add(field, absl::StrCat("unknown value ", QuoteForMessage(text),
                                 " (accepted: ", absl::StrJoin(accepted, ", "), ")"));
  return fallback;
}

// ------------------------------------------------------------------------------------------------
// Values shared by both formats

// Source ids that are canonical UUIDs are kept, uppercase UUIDs are lowercased, and anything else
// (e.g. "hel-tpr:123") becomes a name-based UUID of "<source>:<id>".
std::string NormalizeId(absl::string_view source, absl::string_view id) {
  if (id.empty() || IsCanonicalUuid(StdView(id))) return std::string(id);
  std::string lower = absl::AsciiStrToLower(id);
  if (IsCanonicalUuid(lower)) return lower;
  return NameBasedUuid(kCatalogueIdNamespace, absl::StrCat(source, ":", id));
}

// A code as given, or the code of a (current or old) code-list URI.
std::string CodeOrMappedUri(CodeKind kind, std::string code, const CodeLists& codes) {
  if (absl::StartsWith(code, "http://") || absl::StartsWith(code, "https://")) {
    if (const HierarchicalCode* found = codes.FindByUri(kind, code)) return found->code;
  }
  return code;
}

void AppendUnique(std::string value, google::protobuf::RepeatedPtrField<std::string>* out) {
  if (value.empty() || std::find(out->begin(), out->end(), value) != out->end()) return;
  out->Add(std::move(value));
}

std::string* MutableLanguage(LocalizedText& text, absl::string_view language) {
  if (language == "fi") return text.mutable_fi();
  if (language == "sv") return text.mutable_sv();
  if (language == "en") return text.mutable_en();
  return nullptr;
}

// Copies the languages of `from` that `into` lacks.
void FillMissingLanguages(const LocalizedText& from, LocalizedText& into) {
  if (into.fi().empty()) into.set_fi(from.fi());
  if (into.sv().empty()) into.set_sv(from.sv());
  if (into.en().empty()) into.set_en(from.en());
}

// Appends each language of `more` to the same language of `into`, separated by a blank line.
void AppendParagraphs(const LocalizedText& more, LocalizedText& into) {
  for (const auto& [language, extra] :
       {std::pair<const char*, const std::string*>{"fi", &more.fi()},
        {"sv", &more.sv()},
        {"en", &more.en()}}) {
    if (extra->empty()) continue;
    std::string* target = MutableLanguage(into, language);
    *target = target->empty() ? *extra : absl::StrCat(*target, "\n\n", *extra);
  }
}

v1::ServiceType ServiceTypeMember(const json& obj, const char* key, FirstFieldError& errors) {
  return EnumMember<v1::ServiceType>(
      obj, key, "",
      {{"Service", v1::SERVICE_TYPE_SERVICE},
       {"PermitOrObligation", v1::SERVICE_TYPE_PERMIT_OR_OBLIGATION},
       {"PermissionAndObligation", v1::SERVICE_TYPE_PERMIT_OR_OBLIGATION},
       {"ProfessionalQualifications", v1::SERVICE_TYPE_PROFESSIONAL_QUALIFICATION},
       {"ProfessionalQualification", v1::SERVICE_TYPE_PROFESSIONAL_QUALIFICATION}},
      v1::SERVICE_TYPE_UNSPECIFIED, errors);
}

// Current PTV spellings and the older WholeCountry / AreaType.
v1::AreaType AreaTypeMember(const json& obj, const char* key, FirstFieldError& errors) {
  return EnumMember<v1::AreaType>(
      obj, key, "",
      {{"Nationwide", v1::AREA_TYPE_NATIONWIDE},
       {"NationwideExceptAlandIslands", v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS},
       {"LimitedType", v1::AREA_TYPE_LIMITED},
       {"WholeCountry", v1::AREA_TYPE_NATIONWIDE},
       {"WholeCountryExceptAlandIslands", v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS},
       {"AreaType", v1::AREA_TYPE_LIMITED}},
      v1::AREA_TYPE_UNSPECIFIED, errors);
}

v1::ChannelType ChannelTypeMember(const json& obj, const char* key, absl::string_view prefix,
                                  FirstFieldError& errors) {
  return EnumMember<v1::ChannelType>(obj, key, prefix,
                                     {{"EChannel", v1::CHANNEL_TYPE_ELECTRONIC},
                                      {"WebPage", v1::CHANNEL_TYPE_WEB_PAGE},
                                      {"Phone", v1::CHANNEL_TYPE_PHONE},
                                      {"ServiceLocation", v1::CHANNEL_TYPE_SERVICE_LOCATION},
                                      {"PrintableForm", v1::CHANNEL_TYPE_PRINTABLE_FORM}},
                                     v1::CHANNEL_TYPE_UNSPECIFIED, errors);
}

// ------------------------------------------------------------------------------------------------
// kNdjson: the Aurora catalogue format

// {fi?, sv?, en?}; other languages are ignored.
LocalizedText NdjsonText(const json& obj, const char* key, absl::string_view prefix,
                         FirstFieldError& errors) {
  LocalizedText text;
  const json* value = ObjectMember(obj, key, prefix, errors);
  if (value == nullptr) return text;
  const std::string field = FieldPath(prefix, key);
  for (const char* language : {"fi", "sv", "en"}) {
    *MutableLanguage(text, language) = StringMember(*value, language, field, errors);
  }
  return text;
}

// The 3X10D meter keys in the order of the LifeArea enum.
constexpr std::pair<absl::string_view, LifeArea> kMeterLifeAreas[] = {
    {"health", aurora::common::v1::LIFE_AREA_HEALTH},
    {"resilience", aurora::common::v1::LIFE_AREA_RESILIENCE},
    {"housing", aurora::common::v1::LIFE_AREA_HOUSING},
    {"working_studying", aurora::common::v1::LIFE_AREA_WORKING_STUDYING},
    {"family", aurora::common::v1::LIFE_AREA_FAMILY},
    {"friends", aurora::common::v1::LIFE_AREA_FRIENDS},
    {"finance", aurora::common::v1::LIFE_AREA_FINANCE},
    {"improvement_of_strengths", aurora::common::v1::LIFE_AREA_IMPROVEMENT_OF_STRENGTHS},
    {"self_esteem", aurora::common::v1::LIFE_AREA_SELF_ESTEEM},
    {"life_satisfaction", aurora::common::v1::LIFE_AREA_LIFE_SATISFACTION},
};

void ReadLifeSituationMeters(const json& record, v1::Service& service, FirstFieldError& errors) {
  const json* meters = ObjectMember(record, "life_situation_meters", "", errors);
  if (meters == nullptr) return;
  for (const auto& item : meters->items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    const bool known = std::any_of(std::begin(kMeterLifeAreas), std::end(kMeterLifeAreas),
                                   [&key](const auto& meter) { return meter.first == key; });
    if (!known) {
      errors.Add(FieldPath("life_situation_meters", key), "unknown 3X10D meter");
      return;
    }
    const bool valid = value.is_null() || value.is_boolean() ||
                       (value.is_number_integer() && (value == 0 || value == 1));
    if (!valid) {
      errors.WrongType(FieldPath("life_situation_meters", key), "0 or 1", value);
      return;
    }
  }
  for (const auto& [key, area] : kMeterLifeAreas) {
    const json* value = Member(*meters, std::string(key).c_str());
    if (value != nullptr && (*value == 1 || *value == true)) service.add_life_areas(area);
  }
}

v1::ServiceChannel NdjsonChannel(const json& channel, absl::string_view path,
                                 absl::string_view source, FirstFieldError& errors) {
  v1::ServiceChannel out;
  out.set_id(NormalizeId(source, StringMember(channel, "id", path, errors)));
  out.set_type(ChannelTypeMember(channel, "type", path, errors));
  *out.mutable_name() = NdjsonText(channel, "name", path, errors);
  *out.mutable_summary() = NdjsonText(channel, "summary", path, errors);
  for (std::string& url : StringsMember(channel, "urls", path, errors))
    out.add_urls(std::move(url));
  for (std::string& phone : StringsMember(channel, "phones", path, errors)) {
    out.add_phones(std::move(phone));
  }
  for (std::string& email : StringsMember(channel, "emails", path, errors)) {
    out.add_emails(std::move(email));
  }
  if (const json* addresses = ArrayMember(channel, "addresses", path, errors)) {
    const std::string field = FieldPath(path, "addresses");
    for (size_t i = 0; i < addresses->size(); ++i) {
      const json& address = (*addresses)[i];
      const std::string at = ElementPath(field, i);
      if (!address.is_object()) {
        errors.WrongType(at, "an object", address);
        continue;
      }
      v1::Address* a = out.add_addresses();
      a->set_type(StringMember(address, "type", at, errors));
      a->set_street(StringMember(address, "street", at, errors));
      a->set_street_number(StringMember(address, "street_number", at, errors));
      a->set_postal_code(StringMember(address, "postal_code", at, errors));
      a->set_post_office(StringMember(address, "post_office", at, errors));
      a->set_municipality_code(StringMember(address, "municipality_code", at, errors));
    }
  }
  return out;
}

absl::StatusOr<CatalogueRecord> ConvertNdjsonRecord(const json& record, const CodeLists& codes) {
  if (!record.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object, got ", DescribeValue(record)));
  }
  FirstFieldError errors;
  CatalogueRecord out;
  v1::Service& service = out.service;

  const std::string source = StringMember(record, "source", "", errors);
  const std::string id = StringMember(record, "id", "", errors);
  service.set_id(NormalizeId(source, id));
  service.mutable_external_ref()->set_source(source);
  service.mutable_external_ref()->set_external_id(id);

  service.set_kind(
      EnumMember<v1::ServiceKind>(record, "kind", "",
                                  {{"service", v1::SERVICE_KIND_SERVICE},
                                   {"general_description", v1::SERVICE_KIND_GENERAL_DESCRIPTION}},
                                  v1::SERVICE_KIND_UNSPECIFIED, errors));
  service.set_type(ServiceTypeMember(record, "type", errors));

  const std::string organization_id =
      NormalizeId(source, StringMember(record, "organization_id", "", errors));
  const std::string organization_name = StringMember(record, "organization_name", "", errors);
  service.set_organization_id(organization_id);
  out.organization.set_id(organization_id);
  out.organization.mutable_name()->set_fi(organization_name);

  *service.mutable_name() = NdjsonText(record, "names", "", errors);
  *service.mutable_alternative_name() = NdjsonText(record, "alternative_names", "", errors);
  *service.mutable_summary() = NdjsonText(record, "summary", "", errors);
  *service.mutable_description() = NdjsonText(record, "description", "", errors);
  *service.mutable_user_instruction() = NdjsonText(record, "user_instruction", "", errors);
  *service.mutable_requirements() = NdjsonText(record, "requirements", "", errors);

  for (std::string& keyword : StringsMember(record, "keywords", "", errors)) {
    service.add_keywords(std::move(keyword));
  }
  for (std::string& code : StringsMember(record, "service_classes", "", errors)) {
    service.add_service_classes(CodeOrMappedUri(CodeKind::kServiceClass, std::move(code), codes));
  }
  for (std::string& code : StringsMember(record, "target_groups", "", errors)) {
    service.add_target_groups(CodeOrMappedUri(CodeKind::kTargetGroup, std::move(code), codes));
  }
  for (std::string& code : StringsMember(record, "life_events", "", errors)) {
    service.add_life_events(CodeOrMappedUri(CodeKind::kLifeEvent, std::move(code), codes));
  }
  if (const json* terms = ArrayMember(record, "ontology_terms", "", errors)) {
    for (size_t i = 0; i < terms->size(); ++i) {
      const json& term = (*terms)[i];
      const std::string at = ElementPath("ontology_terms", i);
      if (!term.is_object()) {
        errors.WrongType(at, "an object", term);
        continue;
      }
      v1::OntologyTerm* t = service.add_ontology_terms();
      t->set_uri(StringMember(term, "uri", at, errors));
      t->set_fi(StringMember(term, "fi", at, errors));
    }
  }

  service.set_area_type(AreaTypeMember(record, "area_type", errors));
  for (std::string& code : StringsMember(record, "municipality_codes", "", errors)) {
    service.add_municipality_codes(std::move(code));
  }
  if (const json* channels = ArrayMember(record, "channels", "", errors)) {
    for (size_t i = 0; i < channels->size(); ++i) {
      const json& channel = (*channels)[i];
      const std::string at = ElementPath("channels", i);
      if (!channel.is_object()) {
        errors.WrongType(at, "an object", channel);
        continue;
      }
      *service.add_channels() = NdjsonChannel(channel, at, source, errors);
    }
  }
  for (std::string& language : StringsMember(record, "languages", "", errors)) {
    service.add_languages(std::move(language));
  }
  service.set_general_description_id(
      NormalizeId(source, StringMember(record, "general_description_id", "", errors)));

  ReadLifeSituationMeters(record, service, errors);
  if (const json* excluded = Member(record, "aurora_3x10d_excluded")) {
    if (excluded->is_boolean()) {
      service.set_life_situation_excluded(excluded->get<bool>());
    } else {
      errors.WrongType("aurora_3x10d_excluded", "a boolean", *excluded);
    }
  }

  if (!errors.status().ok()) return errors.status();
  return out;
}

// ------------------------------------------------------------------------------------------------
// kPtv: PTV Open API records

// Draft.js raw content ({"blocks": [{"text", "type"}, ...], "entityMap": {}}) as plain text: one
// line per block, list items prefixed "* ". Any other text is returned unchanged.
std::string FlattenDraftJs(absl::string_view text) {
  const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(text);
  if (!absl::StartsWith(trimmed, "{") || !absl::StrContains(trimmed, "\"blocks\"")) {
    return std::string(text);
  }
  const json doc = json::parse(StdView(trimmed), nullptr, /*allow_exceptions=*/false);
  const json* blocks = Member(doc, "blocks");
  if (blocks == nullptr || !blocks->is_array()) return std::string(text);
  std::vector<std::string> lines;
  for (const json& block : *blocks) {
    std::string line = OptionalString(block, "text");
    const std::string type = OptionalString(block, "type");
    if (type == "unordered-list-item" || type == "ordered-list-item") {
      line = absl::StrCat("* ", line);
    }
    lines.push_back(std::move(line));
  }
  return absl::StrJoin(lines, "\n");
}

std::string CleanPtvText(absl::string_view text) {
  return std::string(absl::StripAsciiWhitespace(FlattenDraftJs(text)));
}

// [{language, value, type?}] entries of `key` whose type is `type` (any type when empty), as text:
// Draft.js flattened, whitespace trimmed, the first non-empty value of each language.
LocalizedText PtvTexts(const json& obj, const char* key, absl::string_view type,
                       FirstFieldError& errors) {
  LocalizedText text;
  const json* entries = ArrayMember(obj, key, "", errors);
  if (entries == nullptr) return text;
  for (size_t i = 0; i < entries->size(); ++i) {
    const json& entry = (*entries)[i];
    const std::string at = ElementPath(key, i);
    if (!entry.is_object()) {
      errors.WrongType(at, "an object", entry);
      continue;
    }
    if (!type.empty() && OptionalString(entry, "type") != type) continue;
    std::string* target = MutableLanguage(text, StringMember(entry, "language", at, errors));
    if (target == nullptr || !target->empty()) continue;
    *target = CleanPtvText(StringMember(entry, "value", at, errors));
  }
  return text;
}

// One value of a PTV localized list ([{language, value}]) or plain string: Finnish, else Swedish,
// else English, else the first non-empty one.
std::string PickLanguage(const json* value) {
  if (value == nullptr) return "";
  if (value->is_string()) return std::string(absl::StripAsciiWhitespace(value->get<std::string>()));
  if (!value->is_array()) return "";
  std::string first;
  for (const char* language : {"fi", "sv", "en"}) {
    for (const json& entry : *value) {
      std::string text(absl::StripAsciiWhitespace(OptionalString(entry, "value")));
      if (text.empty()) continue;
      if (first.empty()) first = text;
      if (OptionalString(entry, "language") == language) return text;
    }
  }
  return first;
}

// Service classes, target groups or life events: each entry's code, or the code its current or
// old URI maps to. A URI the code lists do not know is carried over as given so that the
// directory names it when it rejects the record. Duplicates are dropped.
void ReadPtvCodes(const json& record, const char* key, CodeKind kind, const CodeLists& codes,
                  google::protobuf::RepeatedPtrField<std::string>* out, FirstFieldError& errors) {
  const json* entries = ArrayMember(record, key, "", errors);
  if (entries == nullptr) return;
  for (size_t i = 0; i < entries->size(); ++i) {
    const json& entry = (*entries)[i];
    const std::string at = ElementPath(key, i);
    if (entry.is_string()) {
      AppendUnique(CodeOrMappedUri(kind, entry.get<std::string>(), codes), out);
      continue;
    }
    if (!entry.is_object()) {
      errors.WrongType(at, "an object", entry);
      continue;
    }
    std::string code = StringMember(entry, "code", at, errors);
    if (code.empty()) {
      for (const char* uri_key : {"uri", "oldUri", "old_uri"}) {
        std::string uri = StringMember(entry, uri_key, at, errors);
        if (uri.empty()) continue;
        if (const HierarchicalCode* found = codes.FindByUri(kind, uri)) {
          code = found->code;
          break;
        }
        if (code.empty()) code = std::move(uri);
      }
    }
    AppendUnique(CodeOrMappedUri(kind, std::move(code), codes), out);
  }
}

// Municipality codes of the record's areas: the listed municipalities of every area, Municipality
// areas' own codes, and Region / HospitalRegions expanded through the code lists (business regions
// cannot be expanded and count only through their listed municipalities). Sorted, no duplicates.
std::vector<std::string> PtvMunicipalityCodes(const json& record, const CodeLists& codes,
                                              FirstFieldError& errors) {
  std::vector<std::string> out;
  const json* areas = ArrayMember(record, "areas", "", errors);
  if (areas == nullptr) return out;
  for (size_t i = 0; i < areas->size(); ++i) {
    const json& area = (*areas)[i];
    const std::string at = ElementPath("areas", i);
    if (!area.is_object()) {
      errors.WrongType(at, "an object", area);
      continue;
    }
    const std::string type = StringMember(area, "type", at, errors);
    const std::string code = StringMember(area, "code", at, errors);
    if (const json* municipalities = ArrayMember(area, "municipalities", at, errors)) {
      const std::string field = FieldPath(at, "municipalities");
      for (size_t j = 0; j < municipalities->size(); ++j) {
        const json& municipality = (*municipalities)[j];
        if (!municipality.is_object()) {
          errors.WrongType(ElementPath(field, j), "an object", municipality);
          continue;
        }
        std::string m = StringMember(municipality, "code", ElementPath(field, j), errors);
        if (!m.empty()) out.push_back(std::move(m));
      }
    }
    if (code.empty()) continue;
    if (type == "Municipality") {
      out.push_back(code);
    } else if (type == "Region") {
      for (std::string& m : codes.MunicipalitiesInRegion(code)) out.push_back(std::move(m));
    } else if (type == "HospitalRegions") {
      for (std::string& m : codes.MunicipalitiesInHospitalDistrict(code)) {
        out.push_back(std::move(m));
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Channels and organisations of a PTV folder, by lowercased id.
struct PtvLookups {
  absl::flat_hash_map<std::string, json> channels;
  absl::flat_hash_map<std::string, json> organizations;
};

void AddPtvAddress(const json& address, absl::string_view default_type, v1::ServiceChannel& out) {
  // v7+ nest the fields in streetAddress or postOfficeBoxAddress; older versions have them flat.
  const json* street_address = Member(address, "streetAddress");
  const json* po_box_address = Member(address, "postOfficeBoxAddress");
  const json* fields = &address;
  if (street_address != nullptr && street_address->is_object()) {
    fields = street_address;
  } else if (po_box_address != nullptr && po_box_address->is_object()) {
    fields = po_box_address;
  }
  v1::Address a;
  const std::string type = OptionalString(address, "type");
  a.set_type(type.empty() ? std::string(default_type) : type);
  a.set_street(PickLanguage(Member(*fields, "street")));
  if (a.street().empty()) a.set_street(PickLanguage(Member(*fields, "postOfficeBox")));
  a.set_street_number(PickLanguage(Member(*fields, "streetNumber")));
  a.set_postal_code(PickLanguage(Member(*fields, "postalCode")));
  a.set_post_office(PickLanguage(Member(*fields, "postOffice")));
  if (const json* municipality = Member(*fields, "municipality")) {
    a.set_municipality_code(municipality->is_string() ? municipality->get<std::string>()
                                                      : OptionalString(*municipality, "code"));
  }
  if (a.street().empty() && a.postal_code().empty() && a.post_office().empty()) return;
  *out.add_addresses() = std::move(a);
}

v1::ServiceChannel ConvertPtvChannel(const json& channel, absl::string_view path,
                                     FirstFieldError& errors) {
  v1::ServiceChannel out;
  out.set_id(NormalizeId(kPtvSource, OptionalString(channel, "id")));
  out.set_type(ChannelTypeMember(channel, "serviceChannelType", path, errors));
  FirstFieldError ignored;  // malformed optional details of a channel do not drop the service
  *out.mutable_name() = PtvTexts(channel, "serviceChannelNames", "Name", ignored);
  *out.mutable_summary() = PtvTexts(channel, "serviceChannelDescriptions", "Summary", ignored);
  FillMissingLanguages(PtvTexts(channel, "serviceChannelDescriptions", "ShortDescription", ignored),
                       *out.mutable_summary());

  auto each = [&channel](const char* key, auto fn) {
    const json* entries = Member(channel, key);
    if (entries == nullptr || !entries->is_array()) return;
    for (const json& entry : *entries) {
      if (entry.is_object()) fn(entry);
    }
  };
  auto add_url = [&out](const json& entry) {
    std::string url = OptionalString(entry, "url");
    if (url.empty()) url = OptionalString(entry, "value");
    AppendUnique(std::string(absl::StripAsciiWhitespace(url)), out.mutable_urls());
  };
  each("webPages", [&out](const json& entry) {
    AppendUnique(std::string(absl::StripAsciiWhitespace(OptionalString(entry, "url"))),
                 out.mutable_urls());
  });
  each("urls", add_url);         // EChannel and WebPage in some API versions
  each("channelUrls", add_url);  // PrintableForm
  auto add_phone = [&out](const json& entry) {
    if (OptionalString(entry, "type") == "Fax") return;
    const std::string number(absl::StripAsciiWhitespace(OptionalString(entry, "number")));
    if (number.empty()) return;
    AppendUnique(std::string(absl::StripAsciiWhitespace(
                     absl::StrCat(OptionalString(entry, "prefixNumber"), " ", number))),
                 out.mutable_phones());
  };
  each("phoneNumbers", add_phone);
  each("supportPhones", add_phone);
  auto add_email = [&out](const json& entry) {
    AppendUnique(std::string(absl::StripAsciiWhitespace(OptionalString(entry, "value"))),
                 out.mutable_emails());
  };
  each("emails", add_email);
  each("supportEmails", add_email);
  each("addresses", [&out](const json& entry) { AddPtvAddress(entry, "Location", out); });
  each("deliveryAddresses", [&out](const json& entry) { AddPtvAddress(entry, "Postal", out); });
  return out;
}

absl::StatusOr<CatalogueRecord> ConvertPtvRecord(const json& record, const PtvLookups& lookups,
                                                 const CodeLists& codes) {
  if (!record.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object, got ", DescribeValue(record)));
  }
  FirstFieldError errors;
  CatalogueRecord out;
  v1::Service& service = out.service;

  const std::string id = StringMember(record, "id", "", errors);
  service.set_id(NormalizeId(kPtvSource, id));
  service.mutable_external_ref()->set_source(std::string(kPtvSource));
  service.mutable_external_ref()->set_external_id(id);
  service.set_kind(v1::SERVICE_KIND_SERVICE);
  service.set_type(ServiceTypeMember(record, "type", errors));

  *service.mutable_name() = PtvTexts(record, "serviceNames", "Name", errors);
  *service.mutable_alternative_name() = PtvTexts(record, "serviceNames", "AlternativeName", errors);
  FillMissingLanguages(PtvTexts(record, "serviceNames", "AlternateName", errors),
                       *service.mutable_alternative_name());
  *service.mutable_summary() = PtvTexts(record, "serviceDescriptions", "Summary", errors);
  FillMissingLanguages(PtvTexts(record, "serviceDescriptions", "ShortDescription", errors),
                       *service.mutable_summary());
  *service.mutable_description() = PtvTexts(record, "serviceDescriptions", "Description", errors);
  AppendParagraphs(PtvTexts(record, "serviceDescriptions", "BackgroundDescription", errors),
                   *service.mutable_description());
  *service.mutable_user_instruction() =
      PtvTexts(record, "serviceDescriptions", "UserInstruction", errors);
  FillMissingLanguages(PtvTexts(record, "serviceDescriptions", "ServiceUserInstruction", errors),
                       *service.mutable_user_instruction());
  *service.mutable_requirements() = PtvTexts(record, "requirements", "", errors);

  if (const json* keywords = ArrayMember(record, "keywords", "", errors)) {
    for (const json& keyword : *keywords) {
      const std::string text =
          keyword.is_string() ? keyword.get<std::string>() : OptionalString(keyword, "value");
      AppendUnique(std::string(absl::StripAsciiWhitespace(text)), service.mutable_keywords());
    }
  }
  ReadPtvCodes(record, "serviceClasses", CodeKind::kServiceClass, codes,
               service.mutable_service_classes(), errors);
  ReadPtvCodes(record, "targetGroups", CodeKind::kTargetGroup, codes,
               service.mutable_target_groups(), errors);
  ReadPtvCodes(record, "lifeEvents", CodeKind::kLifeEvent, codes, service.mutable_life_events(),
               errors);
  if (const json* terms = ArrayMember(record, "ontologyTerms", "", errors)) {
    for (const json& term : *terms) {
      const std::string uri = OptionalString(term, "uri");
      if (uri.empty()) continue;
      v1::OntologyTerm* t = service.add_ontology_terms();
      t->set_uri(uri);
      LocalizedText name;
      if (const json* names = Member(term, "name"); names != nullptr && names->is_array()) {
        for (const json& entry : *names) {
          std::string* target = MutableLanguage(name, OptionalString(entry, "language"));
          if (target != nullptr && target->empty()) *target = OptionalString(entry, "value");
        }
      }
      t->set_fi(std::string(absl::StripAsciiWhitespace(name.fi())));
    }
  }

  service.set_area_type(AreaTypeMember(record, "areaType", errors));
  for (std::string& code : PtvMunicipalityCodes(record, codes, errors)) {
    service.add_municipality_codes(std::move(code));
  }
  for (std::string& language : StringsMember(record, "languages", "", errors)) {
    AppendUnique(std::move(language), service.mutable_languages());
  }
  service.set_funding_type(
      EnumMember<v1::FundingType>(record, "fundingType", "",
                                  {{"PubliclyFunded", v1::FUNDING_TYPE_PUBLICLY_FUNDED},
                                   {"MarketFunded", v1::FUNDING_TYPE_MARKET_FUNDED}},
                                  v1::FUNDING_TYPE_UNSPECIFIED, errors));
  std::string general_description_id = StringMember(record, "generalDescriptionId", "", errors);
  if (general_description_id.empty()) {
    // The older API's name for the same link.
    general_description_id =
        StringMember(record, "statutoryServiceGeneralDescriptionId", "", errors);
  }
  service.set_general_description_id(NormalizeId(kPtvSource, general_description_id));

  if (const json* links = ArrayMember(record, "serviceChannels", "", errors)) {
    for (size_t i = 0; i < links->size(); ++i) {
      const std::string at = ElementPath("serviceChannels", i);
      const json* linked = ObjectMember((*links)[i], "serviceChannel", at, errors);
      const std::string link_path = FieldPath(at, "serviceChannel");
      const std::string channel_id =
          linked == nullptr ? "" : StringMember(*linked, "id", link_path, errors);
      if (channel_id.empty()) continue;
      auto found = lookups.channels.find(absl::AsciiStrToLower(channel_id));
      if (found != lookups.channels.end()) {
        *service.add_channels() = ConvertPtvChannel(found->second, link_path, errors);
        continue;
      }
      // Not in servicechannels.ndjson: keep the link with what the service record says.
      v1::ServiceChannel* channel = service.add_channels();
      channel->set_id(NormalizeId(kPtvSource, channel_id));
      channel->mutable_name()->set_fi(
          std::string(absl::StripAsciiWhitespace(OptionalString(*linked, "name"))));
    }
  }

  if (const json* organizations = ArrayMember(record, "organizations", "", errors)) {
    for (const json& role : *organizations) {
      if (OptionalString(role, "roleType") != "Responsible") continue;
      const json* organization = Member(role, "organization");
      if (organization == nullptr) continue;
      const std::string organization_id = OptionalString(*organization, "id");
      if (organization_id.empty()) continue;
      out.organization.set_id(NormalizeId(kPtvSource, organization_id));
      service.set_organization_id(out.organization.id());
      auto found = lookups.organizations.find(absl::AsciiStrToLower(organization_id));
      if (found != lookups.organizations.end()) {
        FirstFieldError ignored;
        *out.organization.mutable_name() =
            PtvTexts(found->second, "organizationNames", "Name", ignored);
        out.organization.set_business_id(OptionalString(found->second, "businessCode"));
        if (const json* municipality = Member(found->second, "municipality")) {
          out.organization.set_municipality_code(OptionalString(*municipality, "code"));
        }
      }
      const LocalizedText& name = out.organization.name();
      if (name.fi().empty() && name.sv().empty() && name.en().empty()) {
        out.organization.mutable_name()->set_fi(
            std::string(absl::StripAsciiWhitespace(OptionalString(*organization, "name"))));
      }
      break;
    }
  }

  if (!errors.status().ok()) return errors.status();
  return out;
}

// ------------------------------------------------------------------------------------------------
// Files

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, " ", path, " cannot be opened"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Calls fn(line_number, line) for every line that is not blank (without its line break and a
// leading UTF-8 byte order mark).
template <typename Fn>
void ForEachLine(absl::string_view text, Fn fn) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);
  int64_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripSuffix(line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    fn(number, line);
  }
}

// Calls fn(number, StatusOr<json>) for every record of a file that is one JSON array (numbers are
// 1-based element positions) or one JSON value per line (numbers are line numbers).
template <typename Fn>
void ForEachJsonRecord(absl::string_view text, Fn fn) {
  absl::string_view body = text;
  if (absl::StartsWith(body, "\xEF\xBB\xBF")) body.remove_prefix(3);
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(body), "[")) {
    json doc = json::parse(StdView(body), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      fn(1, absl::StatusOr<json>(absl::InvalidArgumentError(DescribeSyntaxError(StdView(body)))));
      return;
    }
    for (size_t i = 0; i < doc.size(); ++i) {
      fn(static_cast<int64_t>(i) + 1, absl::StatusOr<json>(std::move(doc[i])));
    }
    return;
  }
  ForEachLine(body, [&fn](int64_t number, absl::string_view line) {
    json doc = json::parse(StdView(line), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      fn(number,
         absl::StatusOr<json>(absl::InvalidArgumentError(DescribeSyntaxError(StdView(line)))));
    } else {
      fn(number, absl::StatusOr<json>(std::move(doc)));
    }
  });
}

// Loads `file_name` next to the services file, if it exists, into `by_id`. Records that cannot be
// read are reported in `errors` with the file name.
void LoadPtvLookup(const std::filesystem::path& folder, const char* file_name,
                   absl::flat_hash_map<std::string, json>& by_id,
                   std::vector<std::string>& errors) {
  const std::filesystem::path path = folder / file_name;
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) return;
  auto text = ReadWholeFile(path.string(), "PTV file");
  if (!text.ok()) {
    errors.push_back(std::string(text.status().message()));
    return;
  }
  ForEachJsonRecord(*text, [&](int64_t number, absl::StatusOr<json> doc) {
    if (!doc.ok()) {
      errors.push_back(absl::StrCat(file_name, " line ", number, ": ", doc.status().message()));
      return;
    }
    const std::string id = OptionalString(*doc, "id");
    if (id.empty()) {
      errors.push_back(absl::StrCat(file_name, " line ", number, ": record without an \"id\""));
      return;
    }
    by_id.insert_or_assign(absl::AsciiStrToLower(id), *std::move(doc));
  });
}

}  // namespace

absl::StatusOr<CatalogueFormat> ParseCatalogueFormat(std::string_view name) {
  if (name == "ndjson") return CatalogueFormat::kNdjson;
  if (name == "ptv") return CatalogueFormat::kPtv;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown catalogue format ", QuoteForMessage(name), " (accepted: ndjson, ptv)"));
}

absl::StatusOr<CatalogueRecord> ParseNdjsonRecord(std::string_view line, const CodeLists& codes) {
  const json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError(DescribeSyntaxError(line));
  return ConvertNdjsonRecord(doc, codes);
}

absl::StatusOr<CatalogueReadResult> ReadCatalogueFile(const std::string& path,
                                                      CatalogueFormat format,
                                                      const CodeLists& codes) {
  auto text = ReadWholeFile(path, "catalogue file");
  if (!text.ok()) return text.status();
  CatalogueReadResult result;
  auto add = [&result](int64_t number, absl::StatusOr<CatalogueRecord> record) {
    if (!record.ok()) {
      result.errors.push_back(absl::StrCat("line ", number, ": ", record.status().message()));
      return;
    }
    record->line = number;
    result.records.push_back(*std::move(record));
  };

  switch (format) {
    case CatalogueFormat::kNdjson:
      ForEachLine(*text, [&](int64_t number, absl::string_view line) {
        add(number, ParseNdjsonRecord(StdView(line), codes));
      });
      break;
    case CatalogueFormat::kPtv: {
      PtvLookups lookups;
      const std::filesystem::path folder = std::filesystem::path(path).parent_path();
      LoadPtvLookup(folder, kPtvChannelsFile, lookups.channels, result.errors);
      LoadPtvLookup(folder, kPtvOrganizationsFile, lookups.organizations, result.errors);
      ForEachJsonRecord(*text, [&](int64_t number, absl::StatusOr<json> doc) {
        if (!doc.ok()) {
          add(number, doc.status());
          return;
        }
        add(number, ConvertPtvRecord(*doc, lookups, codes));
      });
      break;
    }
  }
  return result;
}

}  // namespace aurora::directory
