#include "gateway/openapi.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/openapi_internal.h"
#include "gateway/transcoder.h"
#include "google/api/field_behavior.pb.h"

namespace aurora::gateway {
namespace {

using openapi_internal::AppendParagraph;
using openapi_internal::Json;
using openapi_internal::kApiClientScheme;
using openapi_internal::kBearerScheme;
using openapi_internal::kSchemaRef;
using openapi_internal::Lower;

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

constexpr char kStatusSchema[] = "google.rpc.Status";
constexpr char kHttpBody[] = "google.api.HttpBody";
// Nesting depth of query parameters (`a.b.c` is 3); deeper fields are left out.
constexpr size_t kMaxQueryDepth = 6;

constexpr char kConventions[] =
    "**JSON mapping.** Responses use the proto field names (snake_case) and print every field "
    "without presence, also when it holds its default (0, \"\", false, [], {}); `optional` and "
    "oneof fields appear only when set. Requests accept proto names and lowerCamelCase names. "
    "Enums are their value names; 64-bit integers are decimal strings; bytes are base64; float "
    "and double fields may also be \"NaN\", \"Infinity\" or \"-Infinity\"; Timestamp is RFC 3339, "
    "Duration is seconds with the suffix \"s\" (\"1.5s\"), FieldMask is comma-separated "
    "lowerCamelCase paths, wrappers are their value or null, Struct, Value and ListValue are "
    "plain JSON, Any is an object with \"@type\". Operations marked `x-aurora-strict-json` type "
    "their request body strictly: every value must have its field's own JSON type (numbers, "
    "64-bit integers included, as JSON numbers, integers without a fraction or exponent, booleans "
    "as true or false, no null except for Value and Struct), or the request is refused with 400 "
    "naming the field.\n\n"
    "**Parameters.** Path variables set (nested) request fields; a variable spanning several "
    "segments (e.g. `shelves/*/books/*`) is sent with its slashes unescaped. Query parameters set "
    "the other fields by dotted path (`page.page_size=10`); repeat the key for a repeated field. "
    "An unknown parameter is rejected with 400.\n\n"
    "**Errors.** Every error body is a google.rpc.Status: {\"code\": <gRPC code>, \"message\": "
    "<text>, \"details\": [<Any>…]}. The HTTP status follows the standard gRPC mapping "
    "(INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE 400; UNAUTHENTICATED 401; "
    "PERMISSION_DENIED 403; NOT_FOUND 404; ALREADY_EXISTS, ABORTED 409; RESOURCE_EXHAUSTED 429; "
    "CANCELLED 499; UNIMPLEMENTED 501; UNAVAILABLE 503; DEADLINE_EXCEEDED 504; others 500). A 401 "
    "carries WWW-Authenticate; a 429 or 503 carries Retry-After (seconds). A service may answer a "
    "successful call with another status from 200 to 399, and a redirection with Location.\n\n"
    "**Streaming.** A server-streaming operation answers with newline-delimited JSON "
    "(application/x-ndjson), one message per line; an error after the first message ends the "
    "stream with the line {\"error\": <google.rpc.Status>}. With `Accept: text/event-stream` the "
    "messages arrive as Server-Sent Events (`data: <JSON>`) and such an error as an event of type "
    "`error` (`event: error` + `data: <google.rpc.Status>`). A client-streaming operation "
    "takes a JSON array of messages or newline-delimited JSON.\n\n"
    "**Authentication.** Operations with the `apiClient` scheme need HTTP Basic with an API "
    "client's id and secret; `bearer` operations need `Authorization: Bearer <token>`.";

// ---------------------------------------------------------------------------------------------
// Comments

// A proto comment without the one leading space per line, trailing blanks and blank edge lines.
std::string CleanComment(std::string_view raw) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= raw.size()) {
    size_t end = raw.find('\n', start);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view line = raw.substr(start, end - start);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    start = end + 1;
  }
  size_t first = 0;
  while (first < lines.size() && lines[first].empty()) ++first;
  size_t last = lines.size();
  while (last > first && lines[last - 1].empty()) --last;
  std::string text;
  for (size_t i = first; i < last; ++i) {
    if (i > first) text.push_back('\n');
    text.append(lines[i]);
  }
  return text;
}

std::string PickComment(const std::string& leading, const std::string& trailing) {
  std::string comment = CleanComment(leading);
  return comment.empty() ? CleanComment(trailing) : comment;
}

// Proto comments by element name: from the descriptors' own source info, else from a serialized
// FileDescriptorSet with source info. Enum values are keyed "<enum full name>.<value name>".
class CommentIndex {
 public:
  explicit CommentIndex(std::string_view source_info) {
    if (source_info.empty()) return;
    google::protobuf::FileDescriptorSet set;
    if (!set.ParseFromArray(source_info.data(), static_cast<int>(source_info.size()))) return;
    for (const google::protobuf::FileDescriptorProto& file : set.file()) {
      if (file.has_source_code_info()) AddFile(file);
    }
  }

  template <typename D>
  std::string Of(const D* element) const {
    google::protobuf::SourceLocation location;
    if (element->GetSourceLocation(&location)) {
      std::string comment = PickComment(location.leading_comments, location.trailing_comments);
      if (!comment.empty()) return comment;
    }
    auto it = comments_.find(KeyOf(element));
    return it == comments_.end() ? std::string() : it->second;
  }

  // The comment on a file's `syntax` or `package` statement.
  std::string OfFile(const google::protobuf::FileDescriptor* file) const {
    for (int statement : {12, 2}) {  // FileDescriptorProto.syntax, .package
      google::protobuf::SourceLocation location;
      if (file->GetSourceLocation({statement}, &location)) {
        std::string comment = PickComment(location.leading_comments, location.trailing_comments);
        if (!comment.empty()) return comment;
      }
    }
    auto it = comments_.find(FileKey(file->name()));
    return it == comments_.end() ? std::string() : it->second;
  }

 private:
  using Names = std::map<std::vector<int>, std::string>;

  static std::string FileKey(const std::string& file_name) { return "file " + file_name; }

  template <typename D>
  static std::string KeyOf(const D* element) {
    return element->full_name();
  }
  static std::string KeyOf(const EnumValueDescriptor* value) {
    return value->type()->full_name() + "." + value->name();
  }

  static void AddEnum(const google::protobuf::EnumDescriptorProto& proto, const std::string& name,
                      std::vector<int> path, Names* names) {
    (*names)[path] = name;
    path.push_back(2);  // EnumDescriptorProto.value
    for (int i = 0; i < proto.value_size(); ++i) {
      path.push_back(i);
      (*names)[path] = name + "." + proto.value(i).name();
      path.pop_back();
    }
  }

  static void AddMessage(const google::protobuf::DescriptorProto& proto, const std::string& name,
                         std::vector<int> path, Names* names) {
    (*names)[path] = name;
    auto child = [&](int kind, int index) {
      std::vector<int> p = path;
      p.push_back(kind);
      p.push_back(index);
      return p;
    };
    for (int i = 0; i < proto.field_size(); ++i) {
      (*names)[child(2, i)] = name + "." + proto.field(i).name();  // DescriptorProto.field
    }
    for (int i = 0; i < proto.nested_type_size(); ++i) {
      AddMessage(proto.nested_type(i), name + "." + proto.nested_type(i).name(), child(3, i),
                 names);
    }
    for (int i = 0; i < proto.enum_type_size(); ++i) {
      AddEnum(proto.enum_type(i), name + "." + proto.enum_type(i).name(), child(4, i), names);
    }
  }

  void AddFile(const google::protobuf::FileDescriptorProto& file) {
    const std::string prefix = file.package().empty() ? "" : file.package() + ".";
    Names names;
    // FileDescriptorProto: syntax = 12, package = 2, message_type = 4, enum_type = 5,
    // service = 6; method = 2 in a service.
    names[{12}] = FileKey(file.name());
    names[{2}] = FileKey(file.name());
    for (int i = 0; i < file.message_type_size(); ++i) {
      AddMessage(file.message_type(i), prefix + file.message_type(i).name(), {4, i}, &names);
    }
    for (int i = 0; i < file.enum_type_size(); ++i) {
      AddEnum(file.enum_type(i), prefix + file.enum_type(i).name(), {5, i}, &names);
    }
    for (int i = 0; i < file.service_size(); ++i) {
      const std::string service = prefix + file.service(i).name();
      names[{6, i}] = service;
      for (int j = 0; j < file.service(i).method_size(); ++j) {
        names[{6, i, 2, j}] = service + "." + file.service(i).method(j).name();
      }
    }
    for (const auto& location : file.source_code_info().location()) {
      std::vector<int> path(location.path().begin(), location.path().end());
      auto it = names.find(path);
      if (it == names.end()) continue;
      std::string comment = PickComment(location.leading_comments(), location.trailing_comments());
      if (!comment.empty()) comments_.emplace(it->second, std::move(comment));
    }
  }

  std::unordered_map<std::string, std::string> comments_;
};

// The first sentence of a comment's first paragraph, on one line ("" for no comment).
std::string Summary(const std::string& comment) {
  std::string paragraph = comment.substr(0, comment.find("\n\n"));
  for (char& c : paragraph) {
    if (c == '\n') c = ' ';
  }
  for (size_t dot = paragraph.find(". "); dot != std::string::npos;
       dot = paragraph.find(". ", dot + 1)) {
    // A sentence ends where the next word starts with a capital ("e.g. its" does not end one).
    if (dot + 2 < paragraph.size() && paragraph[dot + 2] >= 'A' && paragraph[dot + 2] <= 'Z') {
      return paragraph.substr(0, dot + 1);
    }
  }
  return paragraph;
}

// ---------------------------------------------------------------------------------------------
// Schemas

bool IsHttpBody(const Descriptor* type) {
  return type != nullptr && type->full_name() == kHttpBody;
}

bool IsSingularHttpBody(const FieldDescriptor* field) {
  return field != nullptr && !field->is_repeated() &&
         field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && IsHttpBody(field->message_type());
}

bool HasBehavior(const FieldDescriptor* field, google::api::FieldBehavior behavior) {
  const auto& options = field->options();
  for (int i = 0; i < options.ExtensionSize(google::api::field_behavior); ++i) {
    if (options.GetExtension(google::api::field_behavior, i) == behavior) return true;
  }
  return false;
}

Json Ref(const std::string& name) { return Json{{"$ref", kSchemaRef + name}}; }

Json BinarySchema() { return Json{{"type", "string"}, {"format", "binary"}}; }

Json ScalarSchema(FieldDescriptor::Type type) {
  switch (type) {
    case FieldDescriptor::TYPE_DOUBLE:
      return Json{{"type", "number"}, {"format", "double"}};
    case FieldDescriptor::TYPE_FLOAT:
      return Json{{"type", "number"}, {"format", "float"}};
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_SFIXED64:
      return Json{{"type", "string"}, {"format", "int64"}};
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_FIXED64:
      return Json{{"type", "string"}, {"format", "uint64"}};
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SFIXED32:
      return Json{{"type", "integer"}, {"format", "int32"}};
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_FIXED32:
      // int32 cannot hold the upper half of the range.
      return Json{
          {"type", "integer"}, {"format", "int64"}, {"minimum", 0}, {"maximum", 4294967295LL}};
    case FieldDescriptor::TYPE_BOOL:
      return Json{{"type", "boolean"}};
    case FieldDescriptor::TYPE_BYTES:
      return Json{{"type", "string"}, {"format", "byte"}};
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_ENUM:
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      break;
  }
  return Json{{"type", "string"}};
}

// The well-known types in their proto3 JSON forms, inline; nullopt for other messages.
std::optional<Json> WellKnownSchema(const Descriptor* type) {
  const std::string& name = type->full_name();
  if (name.rfind("google.protobuf.", 0) != 0) return std::nullopt;
  Json schema;
  if (name == "google.protobuf.Timestamp") {
    schema = Json{{"type", "string"}, {"format", "date-time"}};
  } else if (name == "google.protobuf.Duration") {
    schema = Json{{"type", "string"}, {"pattern", "^-?[0-9]+(\\.[0-9]+)?s$"}, {"example", "1.5s"}};
  } else if (name == "google.protobuf.FieldMask") {
    schema =
        Json{{"type", "string"}, {"description", "Comma-separated field paths in lowerCamelCase."}};
  } else if (name == "google.protobuf.Struct") {
    schema = Json{{"type", "object"}, {"additionalProperties", true}};
  } else if (name == "google.protobuf.Value") {
    schema = Json{{"description", "Any JSON value."}};
  } else if (name == "google.protobuf.ListValue") {
    schema = Json{{"type", "array"}, {"items", Json::object()}};
  } else if (name == "google.protobuf.Empty") {
    schema = Json{{"type", "object"}};
  } else if (name == "google.protobuf.Any") {
    schema =
        Json{{"type", "object"},
             {"properties",
              {{"@type",
                {{"type", "string"},
                 {"description", "type.googleapis.com/ followed by the full message name"}}}}},
             {"required", {"@type"}},
             {"additionalProperties", true},
             {"description", "A message of the type named by @type, with that type's fields."}};
  } else if (name.size() > 5 && name.compare(name.size() - 5, 5, "Value") == 0 &&
             type->field_count() == 1 && type->field(0)->name() == "value") {
    schema = ScalarSchema(type->field(0)->type());  // the wrappers: Int64Value, …
    schema["nullable"] = true;
  } else {
    return std::nullopt;
  }
  schema["title"] = name;
  return schema;
}

std::string EnumDoc(const EnumDescriptor* type, const CommentIndex& comments) {
  std::string doc = comments.Of(type);
  std::string values;
  for (int i = 0; i < type->value_count(); ++i) {
    std::string comment = comments.Of(type->value(i));
    if (comment.empty()) continue;
    for (char& c : comment) {
      if (c == '\n') c = ' ';
    }
    if (!values.empty()) values.push_back('\n');
    values.append("- `" + type->value(i)->name() + "`: " + comment);
  }
  AppendParagraph(&doc, values);
  return doc;
}

// Builds field schemas and collects, transitively, the message schemas they reference.
class SchemaSet {
 public:
  explicit SchemaSet(const CommentIndex& comments) : comments_(comments) {}

  // A message as a schema: well-known types inline, others as a $ref to components.schemas.
  Json Message(const Descriptor* type) {
    if (std::optional<Json> known = WellKnownSchema(type)) return *std::move(known);
    if (type->full_name() == kStatusSchema) return Ref(kStatusSchema);
    referenced_.emplace(type->full_name(), type);
    return Ref(type->full_name());
  }

  // One value of `field`'s type (an element, for a repeated field).
  Json Element(const FieldDescriptor* field) {
    switch (field->type()) {
      case FieldDescriptor::TYPE_MESSAGE:
      case FieldDescriptor::TYPE_GROUP:
        return Message(field->message_type());
      case FieldDescriptor::TYPE_ENUM:
        return Enum(field->enum_type());
      default:
        return ScalarSchema(field->type());
    }
  }

  // The field's value: an array for a repeated field, an object for a map.
  Json Type(const FieldDescriptor* field) {
    if (field->is_map()) {
      const FieldDescriptor* key = field->message_type()->map_key();
      Json schema{{"type", "object"},
                  {"additionalProperties", Element(field->message_type()->map_value())}};
      if (key->type() != FieldDescriptor::TYPE_STRING) {
        schema["x-aurora-map-key"] = key->type_name();
      }
      return schema;
    }
    if (field->is_repeated()) return Json{{"type", "array"}, {"items", Element(field)}};
    return Element(field);
  }

  // Type() with the field's description and behaviours, as a property of its message.
  Json Property(const FieldDescriptor* field) {
    Json schema = Type(field);
    std::string doc = comments_.Of(field);
    if (field->is_map() &&
        field->message_type()->map_key()->type() != FieldDescriptor::TYPE_STRING) {
      AppendParagraph(&doc, "Keys are " +
                                std::string(field->message_type()->map_key()->type_name()) +
                                " values written as JSON strings.");
    }
    if (const auto* oneof = field->real_containing_oneof()) {
      std::string members;
      for (int i = 0; i < oneof->field_count(); ++i) {
        if (i > 0) members.append(", ");
        members.append("`" + oneof->field(i)->name() + "`");
      }
      AppendParagraph(&doc, "Part of oneof `" + oneof->name() + "`: at most one of " + members +
                                " is set; omitted when not set.");
    } else if (field->has_optional_keyword()) {
      AppendParagraph(&doc, "Optional: omitted when not set.");
    }
    const bool output_only = HasBehavior(field, google::api::OUTPUT_ONLY);
    const bool input_only = HasBehavior(field, google::api::INPUT_ONLY);
    if (HasBehavior(field, google::api::IMMUTABLE)) {
      AppendParagraph(&doc, "Immutable: cannot be changed once set.");
    }
    if (schema.contains("$ref") &&
        (!doc.empty() || output_only || input_only || field->options().deprecated())) {
      // Siblings of $ref are ignored in OpenAPI 3.0; wrap it to describe the field.
      Json all = Json::array();
      all.push_back(std::move(schema));
      schema = Json{{"allOf", std::move(all)}};
    }
    if (!doc.empty()) {
      std::string own = schema.value("description", "");
      AppendParagraph(&doc, own);
      schema["description"] = doc;
    }
    if (output_only) schema["readOnly"] = true;
    if (input_only) schema["writeOnly"] = true;
    if (field->options().deprecated()) schema["deprecated"] = true;
    return schema;
  }

  // The components.schemas object: every referenced message and google.rpc.Status, by name.
  Json Components() {
    std::map<std::string, Json> built;
    built.emplace(kStatusSchema, StatusSchema());
    bool added = true;
    while (added) {
      added = false;
      // Building a schema may reference more messages; copy the names first.
      std::vector<std::pair<std::string, const Descriptor*>> pending;
      for (const auto& [name, type] : referenced_) {
        if (built.count(name) == 0) pending.emplace_back(name, type);
      }
      for (const auto& [name, type] : pending) {
        built.emplace(name, MessageSchema(type));
        added = true;
      }
    }
    Json schemas = Json::object();
    for (auto& [name, schema] : built) schemas[name] = std::move(schema);
    return schemas;
  }

  const CommentIndex& comments() const { return comments_; }

 private:
  Json Enum(const EnumDescriptor* type) {
    if (type->full_name() == "google.protobuf.NullValue") {
      return Json{{"title", type->full_name()}, {"description", "JSON null."}};
    }
    Json names = Json::array();
    for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
    Json schema{{"type", "string"}, {"title", type->full_name()}, {"enum", std::move(names)}};
    std::string doc = EnumDoc(type, comments_);
    if (!doc.empty()) schema["description"] = doc;
    return schema;
  }

  Json MessageSchema(const Descriptor* type) {
    Json schema{{"type", "object"}};
    std::string doc = comments_.Of(type);
    if (!doc.empty()) schema["description"] = doc;
    Json properties = Json::object();
    Json required = Json::array();
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      properties[field->name()] = Property(field);
      if (HasBehavior(field, google::api::REQUIRED)) required.push_back(field->name());
    }
    if (!properties.empty()) schema["properties"] = std::move(properties);
    if (!required.empty()) schema["required"] = std::move(required);
    return schema;
  }

  static Json StatusSchema() {
    Json any{{"type", "object"},
             {"properties", {{"@type", {{"type", "string"}}}}},
             {"required", {"@type"}},
             {"additionalProperties", true}};
    return Json{
        {"type", "object"},
        {"description",
         "The error body of every failed call: the gRPC status with its code, message and "
         "details."},
        {"properties",
         {{"code",
           {{"type", "integer"},
            {"format", "int32"},
            {"description", "The gRPC status code (google.rpc.Code), e.g. 5 for NOT_FOUND."}}},
          {"message",
           {{"type", "string"},
            {"description", "What went wrong, naming the offending field or value."}}},
          {"details",
           {{"type", "array"},
            {"items", any},
            {"description", "Typed details (google.rpc error details), each with its @type."}}}}},
        {"required", {"code", "message", "details"}}};
  }

  const CommentIndex& comments_;
  std::map<std::string, const Descriptor*> referenced_;
};

// ---------------------------------------------------------------------------------------------
// Operations

bool IsOpenApiMethod(const std::string& method) {
  return method == "GET" || method == "PUT" || method == "POST" || method == "DELETE" ||
         method == "PATCH";
}

std::string RegexEscape(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}/").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// A path variable as a parameter; constrained variables (`{name=shelves/*/books/*}`) get a
// pattern and a note, since OpenAPI paths only have `{name}`.
Json PathParameter(const Route& route, size_t index, SchemaSet* schemas) {
  const TemplateVariable& variable = route.path.variables()[index];
  const FieldDescriptor* leaf = route.path_fields[index].back();
  Json schema = schemas->Element(leaf);
  std::string doc = schemas->comments().Of(leaf);
  const auto& segments = route.path.segments();
  bool plain = variable.end_segment - variable.first_segment == 1 &&
               segments[variable.first_segment].kind == TemplateSegment::Kind::kWildcard;
  if (!plain) {
    std::string shape;
    std::string pattern = "^";
    bool any_depth = false;
    for (int s = variable.first_segment; s < variable.end_segment; ++s) {
      if (s > variable.first_segment) {
        shape.push_back('/');
        pattern.append("/");
      }
      switch (segments[s].kind) {
        case TemplateSegment::Kind::kLiteral:
          shape.append(segments[s].literal);
          pattern.append(RegexEscape(segments[s].literal));
          break;
        case TemplateSegment::Kind::kWildcard:
          shape.push_back('*');
          pattern.append("[^/]+");
          break;
        case TemplateSegment::Kind::kDoubleWildcard:
          shape.append("**");
          any_depth = true;
          break;
      }
    }
    if (!any_depth && leaf->type() == FieldDescriptor::TYPE_STRING) {
      schema["pattern"] = pattern + "$";
    }
    AppendParagraph(&doc, "Matches `" + shape + "`" +
                              (variable.multi_segment ? "; send its slashes unescaped." : "."));
  }
  Json parameter{{"name", variable.field_path}, {"in", "path"}, {"required", true}};
  if (!doc.empty()) parameter["description"] = doc;
  parameter["schema"] = std::move(schema);
  return parameter;
}

void AddQueryParameters(const Route& route, const Descriptor* type, FieldPath* prefix,
                        std::vector<const Descriptor*>* stack, SchemaSet* schemas, Json* params) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (prefix->empty() && field == route.body_field) continue;
    if (field->is_map()) continue;  // the query cannot set maps
    prefix->push_back(field);
    const bool scalar_form = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                             HasScalarJsonForm(field->message_type());
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !scalar_form) {
      const Descriptor* nested = field->message_type();
      const std::string& name = nested->full_name();
      bool opaque = name == "google.protobuf.Any" || name == "google.protobuf.Struct" ||
                    name == "google.protobuf.Value" || name == "google.protobuf.ListValue";
      bool cycle = false;
      for (const Descriptor* outer : *stack) cycle = cycle || outer == nested;
      // After a repeated message nothing can be addressed; recursive types stop at their first
      // repetition.
      if (!field->is_repeated() && !opaque && !cycle && prefix->size() < kMaxQueryDepth) {
        stack->push_back(nested);
        AddQueryParameters(route, nested, prefix, stack, schemas, params);
        stack->pop_back();
      }
    } else {
      bool bound = false;
      for (const FieldPath& path : route.path_fields) bound = bound || path == *prefix;
      if (!bound) {
        Json parameter{{"name", Dotted(*prefix)}, {"in", "query"}};
        std::string doc = schemas->comments().Of(field);
        if (!doc.empty()) parameter["description"] = doc;
        if (prefix->size() == 1 && HasBehavior(field, google::api::REQUIRED)) {
          parameter["required"] = true;
        }
        if (field->options().deprecated()) parameter["deprecated"] = true;
        if (field->is_repeated()) {
          parameter["style"] = "form";
          parameter["explode"] = true;
        }
        parameter["schema"] = schemas->Type(field);
        params->push_back(std::move(parameter));
      }
    }
    prefix->pop_back();
  }
}

bool AnyRequiredUnbound(const Route& route) {
  const Descriptor* input = route.method->input_type();
  for (int i = 0; i < input->field_count(); ++i) {
    const FieldDescriptor* field = input->field(i);
    if (!HasBehavior(field, google::api::REQUIRED)) continue;
    bool bound = false;
    for (const FieldPath& path : route.path_fields) bound = bound || path.front() == field;
    if (!bound) return true;
  }
  return false;
}

std::optional<Json> RequestBody(const Route& route, SchemaSet* schemas) {
  if (route.body.empty()) return std::nullopt;
  const Descriptor* input = route.method->input_type();
  const std::string code_name = "`" + input->full_name() + "`";
  Json body = Json::object();
  Json content = Json::object();
  bool required = false;
  if (route.client_streaming) {
    Json item = schemas->Message(input);
    body["description"] = "A stream of " + code_name +
                          " messages: a JSON array, or newline-delimited JSON with one message "
                          "per line. Fields bound by the URL path apply to every message.";
    content["application/json"] = {{"schema", {{"type", "array"}, {"items", item}}}};
    content["application/x-ndjson"] = {{"schema", item}};
  } else if (route.body == "*") {
    if (IsHttpBody(input)) {
      body["description"] = "The raw request body; its Content-Type is passed on.";
      content["*/*"] = {{"schema", BinarySchema()}};
    } else {
      std::string doc = "The " + code_name + " message.";
      if (!route.path_fields.empty()) {
        doc += " Fields bound by the URL path are taken from the path.";
      }
      body["description"] = doc;
      content["application/json"] = {{"schema", schemas->Message(input)}};
      required = AnyRequiredUnbound(route);
    }
  } else {
    const FieldDescriptor* field = route.body_field;
    std::string doc = schemas->comments().Of(field);
    if (doc.empty()) doc = "The `" + field->name() + "` field of " + code_name + ".";
    body["description"] = doc;
    if (IsSingularHttpBody(field)) {
      content["*/*"] = {{"schema", BinarySchema()}};
    } else {
      content["application/json"] = {{"schema", schemas->Type(field)}};
    }
    required = HasBehavior(field, google::api::REQUIRED);
  }
  body["content"] = std::move(content);
  if (required) body["required"] = true;
  return body;
}

Json ErrorContent() { return Json{{"application/json", {{"schema", Ref(kStatusSchema)}}}}; }

Json Responses(const Route& route, SchemaSet* schemas) {
  const Descriptor* output = route.method->output_type();
  const FieldDescriptor* field = route.response_body_field;
  const bool raw = field != nullptr ? IsSingularHttpBody(field) : IsHttpBody(output);
  const std::string code_name = "`" + output->full_name() + "`";
  std::string what =
      field != nullptr ? "the `" + field->name() + "` field of " + code_name : code_name;
  Json ok = Json::object();
  Json content = Json::object();
  if (raw) {
    ok["description"] = "The raw bytes of " + what + ", with its content type.";
    content["*/*"] = {{"schema", BinarySchema()}};
  } else {
    Json schema = field != nullptr ? schemas->Type(field) : schemas->Message(output);
    if (route.server_streaming) {
      ok["description"] =
          "A stream of " + what +
          ": newline-delimited JSON, one message per line (an error after the first message "
          "ends the stream with the line `{\"error\": <google.rpc.Status>}`), or Server-Sent "
          "Events (`data: <JSON>` per message; an error as `event: error` with "
          "`data: <google.rpc.Status>`) when the request has `Accept: text/event-stream`.";
      content["application/x-ndjson"] = {{"schema", schema}};
      content["text/event-stream"] = {{"schema", schema}};
    } else {
      ok["description"] = "OK: " + what + ".";
      content["application/json"] = {{"schema", schema}};
    }
  }
  ok["content"] = std::move(content);
  Json responses{{"200", std::move(ok)}};
  if (route.auth != RouteAuth::kNone) {
    responses["401"] = {{"description", "UNAUTHENTICATED: credentials missing or wrong."},
                        {"headers",
                         {{"WWW-Authenticate",
                           {{"description", "The scheme to authenticate with."},
                            {"schema", {{"type", "string"}}}}}}},
                        {"content", ErrorContent()}};
  }
  responses["default"] = {
      {"description", "An error: a google.rpc.Status; the HTTP status follows its code."},
      {"content", ErrorContent()}};
  return responses;
}

// Service display names: the short name, or the full name when two services share it.
std::map<const ServiceDescriptor*, std::string> ServiceNames(const RouteTable& routes) {
  std::map<std::string, std::set<const ServiceDescriptor*>> by_short;
  for (const Route& route : routes.routes()) {
    by_short[route.method->service()->name()].insert(route.method->service());
  }
  std::map<const ServiceDescriptor*, std::string> names;
  for (const auto& [short_name, services] : by_short) {
    for (const ServiceDescriptor* service : services) {
      names[service] = services.size() == 1 ? short_name : service->full_name();
    }
  }
  return names;
}

// "/v1/services/{service.id}:x" -> "/v1/services/{}:x".
std::string PathShape(std::string_view path) {
  std::string shape;
  bool in_variable = false;
  for (char c : path) {
    if (c == '{') {
      in_variable = true;
      shape.append("{}");
    } else if (c == '}') {
      in_variable = false;
    } else if (!in_variable) {
      shape.push_back(c);
    }
  }
  return shape;
}

std::vector<std::string> VariableNames(std::string_view path) {
  std::vector<std::string> names;
  size_t open = path.find('{');
  while (open != std::string_view::npos) {
    size_t close = path.find('}', open);
    names.emplace_back(path.substr(open + 1, close - open - 1));
    open = path.find('{', close);
  }
  return names;
}

// Gives an operation's path parameters the names of the path item it is filed under; each keeps
// the field it binds in x-aurora-field and says so in its description.
void RenamePathParameters(const std::vector<std::string>& names, Json* op) {
  size_t next = 0;
  for (Json& parameter : (*op)["parameters"]) {
    if (parameter["in"] != "path" || next >= names.size()) continue;
    std::string field = parameter["name"];
    parameter["name"] = names[next++];
    parameter["x-aurora-field"] = field;
    std::string description = parameter.value("description", "");
    AppendParagraph(&description, "Sets the request field `" + field + "`.");
    parameter["description"] = description;
  }
}

Json Operation(const Route& route, const std::string& tag, const std::string& operation_id,
               SchemaSet* schemas) {
  Json op{{"tags", {tag}}};
  std::string doc = schemas->comments().Of(route.method);
  std::string summary = Summary(doc);
  if (!summary.empty()) op["summary"] = summary;
  if (!doc.empty()) op["description"] = doc;
  op["operationId"] = operation_id;
  Json params = Json::array();
  for (size_t i = 0; i < route.path_fields.size(); ++i) {
    params.push_back(PathParameter(route, i, schemas));
  }
  if (route.body != "*") {
    FieldPath prefix;
    std::vector<const Descriptor*> stack{route.method->input_type()};
    AddQueryParameters(route, route.method->input_type(), &prefix, &stack, schemas, &params);
  }
  if (!params.empty()) op["parameters"] = std::move(params);
  if (std::optional<Json> body = RequestBody(route, schemas)) op["requestBody"] = *std::move(body);
  op["responses"] = Responses(route, schemas);
  if (route.method->options().deprecated()) op["deprecated"] = true;
  if (route.auth == RouteAuth::kApiClient) {
    op["security"] = Json::array({Json{{kApiClientScheme, Json::array()}}});
  } else if (route.auth == RouteAuth::kBearer) {
    op["security"] = Json::array({Json{{kBearerScheme, Json::array()}}});
  }
  op["x-aurora-grpc-method"] = route.grpc_method;
  if (route.server_streaming || route.client_streaming) {
    op["x-aurora-streaming"] = route.client_streaming && route.server_streaming ? "bidi"
                               : route.server_streaming                         ? "server"
                                                                                : "client";
  }
  if (route.default_timeout > absl::ZeroDuration()) {
    op["x-aurora-default-timeout-ms"] = absl::ToInt64Milliseconds(route.default_timeout);
  }
  if (route.strict_json) op["x-aurora-strict-json"] = true;
  return op;
}

}  // namespace

namespace openapi_internal {

Json BuildDocumentJson(const RouteTable& routes, const OpenApiInfo& info, std::string_view source) {
  CommentIndex comments(source);
  SchemaSet schemas(comments);
  Json doc{{"openapi", "3.0.3"}};
  std::string description = info.description;
  AppendParagraph(&description, kConventions);
  doc["info"] = {{"title", info.title},
                 {"description", description},
                 {"version", info.version.empty() ? "unversioned" : info.version}};
  if (!info.server_urls.empty()) {
    Json servers = Json::array();
    for (const std::string& url : info.server_urls) servers.push_back({{"url", url}});
    doc["servers"] = std::move(servers);
  }

  std::map<const ServiceDescriptor*, std::string> service_names = ServiceNames(routes);
  Json tags = Json::array();
  std::set<const ServiceDescriptor*> tagged;
  for (const Route& route : routes.routes()) {
    const ServiceDescriptor* service = route.method->service();
    if (!tagged.insert(service).second) continue;
    Json tag{{"name", service_names[service]}};
    std::string service_doc = comments.Of(service);
    // A file with one service usually describes it at the top.
    if (service_doc.empty() && service->file()->service_count() == 1) {
      service_doc = comments.OfFile(service->file());
    }
    if (!service_doc.empty()) tag["description"] = service_doc;
    tag["x-aurora-grpc-service"] = service->full_name();
    tags.push_back(std::move(tag));
  }
  doc["tags"] = std::move(tags);

  Json paths = Json::object();
  Json custom = Json::array();
  Json shadowed = Json::array();
  // OpenAPI treats paths that differ only in their parameters' names as the same path (and
  // forbids both): /v1/services/{id} and /v1/services/{service.id} are filed under the one with
  // the plainest names (fewest dots, then shortest, then first).
  std::map<std::string, std::string> canonical_paths;  // shape ("/v1/services/{}") -> path
  for (const Route& route : routes.routes()) {
    std::string path = route.path.ToOpenApiPath();
    auto [canonical, inserted] = canonical_paths.emplace(PathShape(path), path);
    auto plainness = [](const std::string& p) {
      return std::pair(std::count(p.begin(), p.end(), '.'), p.size());
    };
    if (!inserted && plainness(path) < plainness(canonical->second)) canonical->second = path;
  }
  std::map<const MethodDescriptor*, int> bindings;
  for (const Route& route : routes.routes()) {
    const std::string& tag = service_names[route.method->service()];
    int binding = ++bindings[route.method];
    std::string operation_id = tag + "_" + route.method->name();
    if (binding > 1) operation_id += "_" + std::to_string(binding);
    Json op = Operation(route, tag, operation_id, &schemas);
    std::string path = route.path.ToOpenApiPath();
    if (!IsOpenApiMethod(route.http_method)) {
      custom.push_back({{"method", route.http_method},
                        {"path", path},
                        {"template", route.path_text},
                        {"operation", std::move(op)}});
      continue;
    }
    const std::string& canonical = canonical_paths[PathShape(path)];
    if (canonical != path) {
      RenamePathParameters(VariableNames(canonical), &op);
      path = canonical;
    }
    Json& item = paths[path];
    std::string method = Lower(route.http_method);
    if (item.contains(method)) {
      // Two templates that differ only in their variables' patterns share an OpenAPI path.
      shadowed.push_back({{"method", route.http_method},
                          {"path", path},
                          {"template", route.path_text},
                          {"operation", std::move(op)}});
      continue;
    }
    item[method] = std::move(op);
  }
  doc["paths"] = std::move(paths);
  doc["components"] = {
      {"schemas", schemas.Components()},
      {"securitySchemes",
       {{kApiClientScheme,
         {{"type", "http"},
          {"scheme", "basic"},
          {"description", "An API client's id as the user name and its secret as the password."}}},
        {kBearerScheme,
         {{"type", "http"},
          {"scheme", "bearer"},
          {"description", "A token issued by the service, forwarded to it as-is."}}}}}};
  if (!custom.empty()) doc["x-aurora-custom-methods"] = std::move(custom);
  if (!shadowed.empty()) doc["x-aurora-shadowed-routes"] = std::move(shadowed);
  return doc;
}

}  // namespace openapi_internal

std::string BuildOpenApiDocument(const RouteTable& routes, const OpenApiInfo& info,
                                 std::string_view source_info) {
  return openapi_internal::BuildDocumentJson(routes, info, source_info)
      .dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

std::string BuildDocsPage(const RouteTable& routes, const OpenApiInfo& info,
                          std::string_view source_info) {
  return openapi_internal::RenderDocsPage(
      openapi_internal::BuildDocumentJson(routes, info, source_info), info);
}

}  // namespace aurora::gateway
