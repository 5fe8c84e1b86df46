#include "gateway/transcoder.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/text.h"
#include "gateway/json_printer.h"
#include "gateway/strict_json.h"
#include "google/rpc/status.pb.h"

namespace aurora::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr char kHttpBodyType[] = "google.api.HttpBody";

bool IsHttpBody(const Descriptor* type) { return type->full_name() == kHttpBodyType; }

bool IsBlank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

// "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error ..." -> the part
// after the bracket.
std::string SyntaxErrorOf(std::string_view json) {
  try {
    if (nlohmann::json::accept(json.begin(), json.end())) return "";
    nlohmann::json parsed = nlohmann::json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::exception& e) {
    std::string_view text = e.what();
    size_t bracket = text.find("] ");
    if (bracket != std::string_view::npos) text.remove_prefix(bracket + 2);
    // "; last read: '...'" quotes the raw input, which may not be valid UTF-8.
    size_t last_read = text.find("; last read: ");
    if (last_read != std::string_view::npos) text = text.substr(0, last_read);
    return std::string(text);
  }
  return "";
}

// Nesting deeper than protobuf's own parser allows (100) is refused before any JSON library
// recurses over it.
constexpr int kMaxJsonDepth = 100;

bool NestsTooDeep(std::string_view json) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

std::string TypeNameForMessage(std::string_view type) {
  if (absl::StartsWith(Sv(type), "TYPE_")) return absl::AsciiStrToLower(Sv(type.substr(5)));
  size_t slash = type.rfind('/');
  return std::string(slash == std::string_view::npos ? type : type.substr(slash + 1));
}

// Rewrites protobuf's JSON parser messages into ones that name the field:
//   "(channels[0]) bad: Cannot find field."  -> unknown field "channels[0].bad"
//   "(revision): invalid value \"abc\" for type TYPE_INT64" -> field "revision": invalid int64 ...
std::string DescribeFieldError(std::string_view message) {
  std::string_view location;
  std::string_view rest = message;
  if (absl::StartsWith(Sv(rest), "(")) {
    size_t close = rest.find(')');
    if (close != std::string_view::npos) {
      location = rest.substr(1, close - 1);
      rest.remove_prefix(close + 1);
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == ':')) rest.remove_prefix(1);
    }
  }
  constexpr std::string_view kNoField = ": Cannot find field.";
  if (absl::EndsWith(Sv(rest), Sv(kNoField))) {
    std::string_view name = rest.substr(0, rest.size() - kNoField.size());
    std::string path =
        location.empty() ? std::string(name) : absl::StrCat(Sv(location), ".", Sv(name));
    return absl::StrCat("unknown field ", QuoteForMessage(path));
  }
  constexpr std::string_view kInvalid = "invalid value ";
  size_t for_type = rest.rfind(" for type ");
  if (absl::StartsWith(Sv(rest), Sv(kInvalid)) && for_type != std::string_view::npos) {
    std::string_view value = rest.substr(kInvalid.size(), for_type - kInvalid.size());
    std::string_view type = rest.substr(for_type + 10);
    return absl::StrCat("field ", QuoteForMessage(location), ": invalid value ", Sv(value),
                        " (expected ", TypeNameForMessage(type), ")");
  }
  if (absl::StrContains(Sv(rest), "Root element must be a message")) {
    return "expected a JSON object";
  }
  return std::string(message);
}

absl::StatusOr<std::string> DecodeQueryComponent(std::string_view text) {
  std::string plus_as_space(text);
  for (char& c : plus_as_space) {
    if (c == '+') c = ' ';
  }
  std::optional<std::string> decoded = PercentDecode(plus_as_space, /*keep_slash=*/false);
  if (!decoded) {
    return absl::InvalidArgumentError(
        absl::StrCat("query: malformed percent-encoding in ", QuoteForMessage(text)));
  }
  return *std::move(decoded);
}

const FieldDescriptor* FindFieldByAnyName(const Descriptor* type, std::string_view name) {
  const FieldDescriptor* field = type->FindFieldByName(std::string(name));
  if (field != nullptr) return field;
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->json_name() == name) return type->field(i);
  }
  return nullptr;
}

bool IsPrefix(const FieldPath& shorter, const FieldPath& longer) {
  if (shorter.size() > longer.size()) return false;
  for (size_t i = 0; i < shorter.size(); ++i) {
    if (shorter[i] != longer[i]) return false;
  }
  return true;
}

template <typename T>
bool ParseInteger(std::string_view text, T* out) {
  // SimpleAtoi tolerates surrounding whitespace; a query or path value must not have any.
  if (text.empty() || absl::ascii_isspace(static_cast<unsigned char>(text.front())) ||
      absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    return false;
  }
  return absl::SimpleAtoi(Sv(text), out);
}

bool ParseFloating(std::string_view text, double* out) {
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (text == "Infinity") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-Infinity") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  return absl::SimpleAtod(Sv(text), out) && std::isfinite(*out);
}

// `text` with every byte sequence that is not UTF-8 replaced by U+FFFD, so that JSON stays valid.
std::string ValidUtf8(std::string_view text) {
  if (Utf8Length(text)) return std::string(text);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (length > 0 && i + length <= text.size() && Utf8Length(text.substr(i, length))) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

// The range of google.protobuf.Timestamp in the JSON mapping: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z. Protobuf's JSON parser (3.21) checks the range before it
// applies a UTC offset, so "9999-12-31T23:59:59-01:00" parses to a time after it, which nothing
// can print back (found by tests/fuzz/request_json_fuzz).
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Whether messages of `type` can hold a Timestamp anywhere: whether one is among the message
// types reachable from it (memoised per type).
bool MayHoldTimestamp(const Descriptor* type) {
  static std::mutex mu;
  static std::unordered_map<const Descriptor*, bool> known;
  {
    std::lock_guard lock(mu);
    if (auto it = known.find(type); it != known.end()) return it->second;
  }
  std::set<const Descriptor*> seen{type};
  std::vector<const Descriptor*> pending{type};
  bool holds = false;
  while (!pending.empty() && !holds) {
    const Descriptor* t = pending.back();
    pending.pop_back();
    holds = t->full_name() == "google.protobuf.Timestamp";
    for (int i = 0; i < t->field_count(); ++i) {
      const FieldDescriptor* field = t->field(i);
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          seen.insert(field->message_type()).second) {
        pending.push_back(field->message_type());
      }
    }
  }
  std::lock_guard lock(mu);
  known[type] = holds;
  return holds;
}

// The first Timestamp in `message` outside the JSON mapping's range, as an error naming its
// field path (`path` is the path of `message`).
absl::Status CheckTimestamps(const Message& message, const std::string& path) {
  const Descriptor* type = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  if (type->full_name() == "google.protobuf.Timestamp") {
    const int64_t seconds = r->GetInt64(message, type->FindFieldByNumber(1));
    if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": the time is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z once its "
                "UTC offset is applied"));
    }
    return absl::OkStatus();
  }
  if (!MayHoldTimestamp(type)) return absl::OkStatus();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
        !MayHoldTimestamp(field->message_type())) {
      continue;
    }
    const std::string at = path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
    if (!field->is_repeated()) {
      absl::Status s = CheckTimestamps(r->GetMessage(message, field), at);
      if (!s.ok()) return s;
      continue;
    }
    for (int i = 0; i < r->FieldSize(message, field); ++i) {
      absl::Status s = CheckTimestamps(r->GetRepeatedMessage(message, field, i),
                                       absl::StrCat(at, "[", i, "]"));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SetFieldFromText(Message* message, const FieldPath& path, std::string_view value,
                              std::string_view name) {
  Message* target = message;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    target = target->GetReflection()->MutableMessage(target, path[i]);
  }
  const FieldDescriptor* field = path.back();
  const Reflection* r = target->GetReflection();
  bool repeated = field->is_repeated();
  auto invalid = [&](std::string_view expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(name), ": ", QuoteForMessage(value), " is not ", Sv(expected)));
  };
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!ParseInteger(value, &v)) return invalid("an int32");
      repeated ? r->AddInt32(target, field, v) : r->SetInt32(target, field, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!ParseInteger(value, &v)) return invalid("an int64");
      repeated ? r->AddInt64(target, field, v) : r->SetInt64(target, field, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!ParseInteger(value, &v)) return invalid("a uint32");
      repeated ? r->AddUInt32(target, field, v) : r->SetUInt32(target, field, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!ParseInteger(value, &v)) return invalid("a uint64");
      repeated ? r->AddUInt64(target, field, v) : r->SetUInt64(target, field, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!ParseFloating(value, &v)) return invalid("a number");
      repeated ? r->AddDouble(target, field, v) : r->SetDouble(target, field, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!ParseFloating(value, &v) ||
          (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max())) {
        return invalid("a float");
      }
      repeated ? r->AddFloat(target, field, static_cast<float>(v))
               : r->SetFloat(target, field, static_cast<float>(v));
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (value == "true" || value == "1") {
        v = true;
      } else if (value == "false" || value == "0") {
        v = false;
      } else {
        return invalid("a bool (true or false)");
      }
      repeated ? r->AddBool(target, field, v) : r->SetBool(target, field, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumValueDescriptor* v =
          field->enum_type()->FindValueByName(std::string(value));
      int number;
      if (v == nullptr && absl::SimpleAtoi(Sv(value), &number)) {
        v = field->enum_type()->FindValueByNumber(number);
      }
      if (v == nullptr) {
        return invalid(absl::StrCat("a value of ", Sv(field->enum_type()->full_name())));
      }
      repeated ? r->AddEnum(target, field, v) : r->SetEnum(target, field, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v;
      if (field->type() == FieldDescriptor::TYPE_BYTES) {
        if (!absl::WebSafeBase64Unescape(Sv(value), &v) && !absl::Base64Unescape(Sv(value), &v)) {
          return invalid("base64");
        }
      } else {
        if (!Utf8Length(value)) return invalid("valid UTF-8");
        v.assign(value);
      }
      repeated ? r->AddString(target, field, std::move(v))
               : r->SetString(target, field, std::move(v));
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return absl::InvalidArgumentError(absl::StrCat(Sv(name), ": field ",
                                                     QuoteForMessage(field->name()),
                                                     " is a message; set its fields one by one"));
  }
  return absl::OkStatus();
}

bool HasScalarJsonForm(const google::protobuf::Descriptor* type) {
  static const auto* kTypes = new std::set<std::string>{
      "google.protobuf.Timestamp",   "google.protobuf.Duration",    "google.protobuf.FieldMask",
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
      "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue"};
  return kTypes->contains(type->full_name());
}

absl::Status Transcoder::SetWellKnownFromText(Message* message, const FieldPath& path,
                                              std::string_view value, std::string_view name) const {
  Message* target = message;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    target = target->GetReflection()->MutableMessage(target, path[i]);
  }
  const FieldDescriptor* field = path.back();
  std::unique_ptr<Message> parsed(contracts_->Prototype(field->message_type())->New());
  // The JSON form of these types is a string (or, for the numeric and bool wrappers, a bare
  // value, which their parser also takes as a string).
  std::string quoted;
  AppendJsonString(value, &quoted);
  std::string binary;
  auto status = google::protobuf::util::JsonToBinaryString(
      contracts_->type_resolver(), ContractSet::TypeUrl(field->message_type()), quoted, &binary);
  if (!status.ok() || !parsed->ParseFromString(binary)) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(name), ": ", QuoteForMessage(value),
                                                   " is not a valid ",
                                                   Sv(field->message_type()->full_name())));
  }
  const Reflection* r = target->GetReflection();
  if (field->is_repeated()) {
    r->AddMessage(target, field)->CopyFrom(*parsed);
  } else {
    r->MutableMessage(target, field)->CopyFrom(*parsed);
  }
  return absl::OkStatus();
}

absl::Status Transcoder::ParseJsonInto(std::string_view json, std::string_view what,
                                       Message* message, bool strict,
                                       std::string_view original) const {
  const Descriptor* type = message->GetDescriptor();
  if (strict) {
    absl::Status typed = CheckStrictJson(json, type);
    if (!typed.ok()) {
      std::string syntax = SyntaxErrorOf(original.data() == nullptr ? json : original);
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(what), ": ", syntax.empty() ? typed.message() : Sv(syntax)));
    }
  }
  std::string binary;
  google::protobuf::util::JsonParseOptions options;
  auto status = google::protobuf::util::JsonToBinaryString(
      contracts_->type_resolver(), ContractSet::TypeUrl(type), std::string(json), &binary, options);
  if (!status.ok()) {
    std::string syntax = SyntaxErrorOf(original.data() == nullptr ? json : original);
    return absl::InvalidArgumentError(absl::StrCat(
        Sv(what), ": ",
        syntax.empty()
            ? DescribeFieldError(std::string_view(status.message().data(), status.message().size()))
            : syntax));
  }
  if (!message->MergeFromString(binary)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(what), ": does not form a valid ", Sv(type->full_name())));
  }
  absl::Status times = CheckTimestamps(*message, "");
  if (!times.ok()) return absl::InvalidArgumentError(absl::StrCat(Sv(what), ": ", times.message()));
  return absl::OkStatus();
}

absl::Status Transcoder::BindBody(const Route& route, std::string_view body,
                                  std::string_view content_type, Message* request) const {
  if (route.body.empty()) {
    if (!IsBlank(body)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request body: ", Sv(route.label), " takes no body (got ", body.size(), " bytes)"));
    }
    return absl::OkStatus();
  }
  const Reflection* r = request->GetReflection();
  if (route.body == "*") {
    if (IsHttpBody(request->GetDescriptor())) {
      const Descriptor* type = request->GetDescriptor();
      r->SetString(request, type->FindFieldByName("content_type"), std::string(content_type));
      r->SetString(request, type->FindFieldByName("data"), std::string(body));
      return absl::OkStatus();
    }
    if (IsBlank(body)) return absl::OkStatus();
    return ParseJsonInto(body, "request body", request, route.strict_json);
  }
  const FieldDescriptor* field = route.body_field;
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated() &&
      IsHttpBody(field->message_type())) {
    Message* http_body = r->MutableMessage(request, field);
    const Descriptor* type = http_body->GetDescriptor();
    http_body->GetReflection()->SetString(http_body, type->FindFieldByName("content_type"),
                                          std::string(content_type));
    http_body->GetReflection()->SetString(http_body, type->FindFieldByName("data"),
                                          std::string(body));
    return absl::OkStatus();
  }
  if (IsBlank(body)) return absl::OkStatus();
  // The body is the value of one field: exactly one JSON value (so that it cannot close the
  // wrapper below and set other fields), parsed as {"field": <body>}.
  if (!nlohmann::json::accept(body.begin(), body.end())) {
    return absl::InvalidArgumentError(absl::StrCat("request body: ", SyntaxErrorOf(body)));
  }
  std::string wrapped;
  wrapped.reserve(body.size() + field->name().size() + 6);
  absl::StrAppend(&wrapped, "{\"", Sv(field->name()), "\":", Sv(body), "\n}");
  return ParseJsonInto(wrapped, "request body", request, route.strict_json, body);
}

absl::Status Transcoder::BindQuery(const Route& route, std::string_view query,
                                   Message* request) const {
  if (query.empty()) return absl::OkStatus();
  std::vector<FieldPath> seen_singular;
  for (absl::string_view pair_view : absl::StrSplit(Sv(query), '&')) {
    std::string_view pair = StdSv(pair_view);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = DecodeQueryComponent(pair.substr(0, eq));
    if (!key.ok()) return key.status();
    auto value = DecodeQueryComponent(eq == std::string_view::npos ? std::string_view()
                                                                   : pair.substr(eq + 1));
    if (!value.ok()) return value.status();
    std::string name = absl::StrCat("query parameter ", QuoteForMessage(*key));
    if (route.body == "*") {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ", Sv(route.label), " takes every field from the body, none from the query"));
    }
    FieldPath path;
    const Descriptor* type = request->GetDescriptor();
    for (absl::string_view part_view : absl::StrSplit(Sv(*key), '.')) {
      std::string_view part = StdSv(part_view);
      const FieldDescriptor* field = type == nullptr ? nullptr : FindFieldByAnyName(type, part);
      if (field == nullptr || (!path.empty() && path.back()->is_repeated())) {
        return absl::InvalidArgumentError(absl::StrCat("unknown ", name, " for ", Sv(route.label)));
      }
      path.push_back(field);
      type =
          field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? field->message_type() : nullptr;
    }
    if (path.back()->is_map()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": map fields cannot be set from the query"));
    }
    for (const FieldPath& bound : route.path_fields) {
      if (IsPrefix(bound, path) || IsPrefix(path, bound)) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": field ", QuoteForMessage(Dotted(bound)), " is bound by the URL path"));
      }
    }
    if (route.body_field != nullptr && path.front() == route.body_field) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": field ", QuoteForMessage(route.body_field->name()), " comes from the body"));
    }
    if (!path.back()->is_repeated()) {
      for (const FieldPath& earlier : seen_singular) {
        if (earlier == path) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, " is given more than once; the field is not repeated"));
        }
      }
      seen_singular.push_back(path);
    }
    const FieldDescriptor* leaf = path.back();
    absl::Status set = leaf->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                               HasScalarJsonForm(leaf->message_type())
                           ? SetWellKnownFromText(request, path, *value, name)
                           : SetFieldFromText(request, path, *value, name);
    if (!set.ok()) return set;
  }
  return absl::OkStatus();
}

absl::Status Transcoder::BuildRequests(const Route& route, const std::vector<PathBinding>& bindings,
                                       std::string_view query, std::string_view body,
                                       std::string_view content_type,
                                       std::vector<std::string>* requests) const {
  requests->clear();
  if (NestsTooDeep(body)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request body: JSON nested deeper than ", kMaxJsonDepth, " levels"));
  }
  const Message* prototype = contracts_->Prototype(route.method->input_type());
  // The parts every message shares: the query and the path (which wins over the body, so it is
  // applied after it).
  std::unique_ptr<Message> bound(prototype->New());
  if (absl::Status status = BindQuery(route, query, bound.get()); !status.ok()) return status;
  if (bindings.size() != route.path_fields.size()) {
    return absl::InternalError(absl::StrCat("route ", Sv(route.label), ": ", bindings.size(),
                                            " path values for ", route.path_fields.size(),
                                            " variables"));
  }
  for (size_t i = 0; i < bindings.size(); ++i) {
    absl::Status status =
        SetFieldFromText(bound.get(), route.path_fields[i], bindings[i].value,
                         absl::StrCat("path variable ", QuoteForMessage(bindings[i].field_path)));
    if (!status.ok()) return status;
  }
  std::string bound_bytes = bound->SerializeAsString();

  if (!route.client_streaming) {
    std::unique_ptr<Message> request(prototype->New());
    if (absl::Status status = BindBody(route, body, content_type, request.get()); !status.ok()) {
      return status;
    }
    // Serialized messages concatenate as a merge; the bound fields come last and win.
    std::string serialized = request->SerializeAsString();
    serialized.append(bound_bytes);
    requests->push_back(std::move(serialized));
    return absl::OkStatus();
  }

  // Client streaming: a JSON array of messages, or one JSON message per line.
  std::vector<std::string> documents;
  std::string_view trimmed = StdSv(absl::StripAsciiWhitespace(Sv(body)));
  if (!trimmed.empty() && trimmed.front() == '[') {
    nlohmann::json array;
    try {
      array = nlohmann::json::parse(trimmed.begin(), trimmed.end());
    } catch (const nlohmann::json::exception&) {
      return absl::InvalidArgumentError(absl::StrCat("request body: ", SyntaxErrorOf(trimmed)));
    }
    for (const auto& element : array) documents.push_back(element.dump());
  } else {
    for (absl::string_view line : absl::StrSplit(Sv(trimmed), '\n')) {
      if (!IsBlank(StdSv(line))) documents.emplace_back(line);
    }
  }
  for (size_t i = 0; i < documents.size(); ++i) {
    std::unique_ptr<Message> request(prototype->New());
    absl::Status status = ParseJsonInto(documents[i], absl::StrCat("request body message ", i + 1),
                                        request.get(), route.strict_json);
    if (!status.ok()) return status;
    std::string serialized = request->SerializeAsString();
    serialized.append(bound_bytes);
    requests->push_back(std::move(serialized));
  }
  return absl::OkStatus();
}

absl::Status Transcoder::MessageJson(const Descriptor* type, std::string_view serialized,
                                     std::string* out) const {
  out->reserve(out->size() + serialized.size() * 3 / 2 + 64);  // JSON is ~1.5x the protobuf
  // On an arena: the parsed message's strings and submessages are freed at once.
  google::protobuf::Arena arena;
  Message* message = contracts_->Prototype(type)->New(&arena);
  if (!message->ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) {
    return absl::InternalError(
        absl::StrCat("the upstream sent a message that is not a valid ", Sv(type->full_name())));
  }
  return AppendMessageJson(*message, contracts_, out);
}

absl::Status Transcoder::RenderResponse(const Route& route, std::string_view response,
                                        HttpBody* out) const {
  const Descriptor* type = route.method->output_type();
  out->content_type = "application/json";
  out->data.clear();
  if (route.response_body_field == nullptr && !IsHttpBody(type)) {
    return MessageJson(type, response, &out->data);
  }
  std::unique_ptr<Message> message(contracts_->Prototype(type)->New());
  if (!message->ParseFromArray(response.data(), static_cast<int>(response.size()))) {
    return absl::InternalError(
        absl::StrCat("the upstream sent a message that is not a valid ", Sv(type->full_name())));
  }
  const Message* holder = message.get();
  const FieldDescriptor* field = route.response_body_field;
  if (field != nullptr && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
      !field->is_repeated() && IsHttpBody(field->message_type())) {
    holder = &message->GetReflection()->GetMessage(*message, field);
    field = nullptr;
  }
  if (field == nullptr) {  // an HttpBody: raw bytes
    const Descriptor* http_body = holder->GetDescriptor();
    const Reflection* r = holder->GetReflection();
    out->content_type = r->GetString(*holder, http_body->FindFieldByName("content_type"));
    out->data = r->GetString(*holder, http_body->FindFieldByName("data"));
    if (out->content_type.empty()) out->content_type = "application/octet-stream";
    return absl::OkStatus();
  }
  return AppendFieldJson(*message, field, contracts_, &out->data);
}

int HttpStatusFromGrpcCode(int code) {
  switch (code) {
    case 0:
      return 200;
    case 1:
      return 499;
    case 2:
      return 500;
    case 3:
      return 400;
    case 4:
      return 504;
    case 5:
      return 404;
    case 6:
      return 409;
    case 7:
      return 403;
    case 8:
      return 429;
    case 9:
      return 400;
    case 10:
      return 409;
    case 11:
      return 400;
    case 12:
      return 501;
    case 13:
      return 500;
    case 14:
      return 503;
    case 15:
      return 500;
    case 16:
      return 401;
    default:
      return 500;
  }
}

int GrpcCodeFromHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
    case 411:
    case 413:
    case 414:
    case 415:
    case 431:
      return 3;  // INVALID_ARGUMENT: the request itself is unacceptable
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 5;
    case 405:
    case 501:
    case 505:
      return 12;  // UNIMPLEMENTED
    case 408:
    case 504:
      return 4;
    case 409:
      return 10;
    case 429:
      return 8;
    case 499:
      return 1;
    case 503:
      return 14;
    default:
      return http_status >= 200 && http_status < 300 ? 0 : 2;
  }
}

std::string StatusJson(int code, std::string_view message, std::string_view details_status,
                       const ContractSet* contracts) {
  if (!details_status.empty() && contracts != nullptr) {
    google::rpc::Status status;
    std::string json;
    if (status.ParseFromArray(details_status.data(), static_cast<int>(details_status.size())) &&
        status.code() == code && AppendMessageJson(status, contracts, &json).ok()) {
      return json;
    }
  }
  std::string json = absl::StrCat("{\"code\":", code, ",\"message\":");
  AppendJsonString(ValidUtf8(message), &json);
  json.append(",\"details\":[]}");
  return json;
}

}  // namespace aurora::gateway
