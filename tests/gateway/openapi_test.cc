// The OpenAPI document and the docs page, from the test contract aurora.testing.v1.Library (every
// google.api.http form), the built-in contracts, and a contract built here with field_behavior
// annotations. Validation against the official OpenAPI 3.0 JSON Schema is the ctest
// openapi_schema_valid (tests/tools/validate-openapi.mjs).

#include "gateway/openapi.h"

#include <google/protobuf/descriptor.pb.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "aurora/testing/v1/library.pb.h"
#include "google/api/annotations.pb.h"
#include "google/api/field_behavior.pb.h"

namespace aurora {
std::string_view BuiltInDescriptorSet();
}  // namespace aurora

namespace aurora::gateway {
namespace {

using Json = nlohmann::json;

struct Api {
  std::unique_ptr<ContractSet> contracts;
  RouteTable routes;
};

Api Build(absl::StatusOr<std::unique_ptr<ContractSet>> contracts) {
  REQUIRE(contracts.ok());
  auto routes = RouteTable::Build((*contracts)->services());
  REQUIRE(routes.ok());
  return Api{*std::move(contracts), *std::move(routes)};
}

Api Library() {
  aurora::testing::v1::Book::descriptor();  // links the generated library.proto
  return Build(ContractSet::FromGeneratedFiles({"aurora/testing/v1/library.proto"}));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Json Document(const Api& api, std::string_view source_info = {}) {
  OpenApiInfo info;
  info.version = "1.2.3";
  return Json::parse(BuildOpenApiDocument(api.routes, info, source_info));
}

std::vector<std::string> ParamNames(const Json& op, const std::string& in) {
  std::vector<std::string> names;
  for (const Json& p : op.value("parameters", Json::array())) {
    if (p["in"] == in) names.push_back(p["name"]);
  }
  return names;
}

const Json& Param(const Json& op, const std::string& name) {
  for (const Json& p : op["parameters"]) {
    if (p["name"] == name) return p;
  }
  FAIL("no parameter " << name);
  static Json none;
  return none;
}

Json Ref(const std::string& name) { return Json{{"$ref", "#/components/schemas/" + name}}; }

// The first well-formedness problem of the generated HTML, "" if none: every opened element is
// closed in order (void elements excepted), and every '&' starts one of the entities we emit.
std::string HtmlProblem(const std::string& html) {
  static const std::set<std::string> kVoid = {"meta", "br", "hr", "img", "input", "link"};
  static const std::set<std::string> kEntities = {"amp", "lt", "gt", "quot", "#39"};
  std::vector<std::string> open;
  for (size_t i = 0; i < html.size(); ++i) {
    const std::string at = " at offset " + std::to_string(i);
    if (html[i] == '&') {
      size_t semi = html.find(';', i);
      if (semi == std::string::npos || kEntities.count(html.substr(i + 1, semi - i - 1)) == 0) {
        return "a bare '&'" + at;
      }
      continue;
    }
    if (html[i] != '<') continue;
    size_t end = html.find('>', i);
    if (end == std::string::npos) return "an unclosed tag" + at;
    std::string tag = html.substr(i + 1, end - i - 1);
    if (tag.rfind("!DOCTYPE", 0) == 0) continue;
    if (tag.empty() || tag.find('<') != std::string::npos) return "a stray '<'" + at;
    const bool closing = tag[0] == '/';
    const std::string name = tag.substr(closing ? 1 : 0, tag.find(' ') - (closing ? 1 : 0));
    if (name == "style") {  // raw text up to </style>
      end = html.find("</style>", end);
      if (end == std::string::npos) return "an unclosed <style>" + at;
      i = end + 7;
      continue;
    }
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes <" + (open.empty() ? "" : open.back()) + ">" + at;
      }
      open.pop_back();
    } else if (kVoid.count(name) == 0) {
      open.push_back(name);
    }
    i = end;
  }
  return open.empty() ? "" : "<" + open.back() + "> is never closed";
}

TEST_CASE("openapi: library paths, operation ids and path parameters") {
  Json doc = Document(Library());
  CHECK(doc["openapi"] == "3.0.3");
  CHECK(doc["info"]["title"] == "Aurora Network API");
  CHECK(doc["info"]["version"] == "1.2.3");
  const Json& paths = doc["paths"];

  const Json& get_book = paths["/v1/{name}"]["get"];
  CHECK(get_book["operationId"] == "Library_GetBook");
  CHECK(get_book["tags"] == Json::array({"Library"}));
  CHECK(get_book["x-aurora-grpc-method"] == "/aurora.testing.v1.Library/GetBook");
  const Json& name = Param(get_book, "name");
  CHECK(name["in"] == "path");
  CHECK(name["required"] == true);
  CHECK(name["schema"]["type"] == "string");
  CHECK(name["schema"]["pattern"] == "^shelves/[^/]+/books/[^/]+$");
  CHECK(ParamNames(get_book, "query").empty());

  // /v1/{book.name} has the shape of /v1/{name}: OpenAPI wants one path, so it is filed there
  // and its parameter says which field it sets.
  CHECK(paths.count("/v1/{book.name}") == 0);
  CHECK(paths["/v1/{name}"]["patch"]["operationId"] == "Library_UpdateBook");
  CHECK(ParamNames(paths["/v1/{name}"]["patch"], "path") == std::vector<std::string>{"name"});
  CHECK(Param(paths["/v1/{name}"]["patch"], "name")["x-aurora-field"] == "book.name");
  CHECK(paths["/v1/{name}:publish"]["post"]["operationId"] == "Library_PublishBook");
  CHECK(paths["/v1/{name}/cover"]["get"]["operationId"] == "Library_GetCover");
  CHECK(paths["/v1/files/{path}"]["get"]["operationId"] == "Library_GetFile");
  CHECK(paths["/v1/files/{path}"]["get"]["parameters"][0]["schema"].count("pattern") == 0);
  // The additional binding gets a suffix.
  CHECK(paths["/v1/shelves/{shelf}/books"]["get"]["operationId"] == "Library_ListBooks");
  CHECK(paths["/v1/books"]["get"]["operationId"] == "Library_ListBooks_2");

  // A path variable of a non-string field has that field's type.
  const Json& code = Param(paths["/v1/fail/{code}"]["post"], "code");
  CHECK(code["schema"] == Json{{"type", "integer"}, {"format", "int32"}});

  // REPORT cannot be an OpenAPI operation: listed under the extension instead.
  CHECK(paths.count("/v1/reports/{report_id}") == 0);
  REQUIRE(doc["x-aurora-custom-methods"].size() == 1);
  const Json& report = doc["x-aurora-custom-methods"][0];
  CHECK(report["method"] == "REPORT");
  CHECK(report["path"] == "/v1/reports/{report_id}");
  CHECK(report["operation"]["operationId"] == "Library_Report");

  // Operation ids are unique; every operation has a default error response.
  std::set<std::string> ids;
  size_t operations = 0;
  for (const auto& [path, item] : paths.items()) {
    for (const auto& [method, op] : item.items()) {
      INFO(method << " " << path);
      ++operations;
      CHECK(ids.insert(op["operationId"].get<std::string>()).second);
      CHECK(op["responses"]["default"]["content"]["application/json"]["schema"] ==
            Ref("google.rpc.Status"));
    }
  }
  CHECK(operations == 18);  // 19 routes, REPORT left out
  const Json& status = doc["components"]["schemas"]["google.rpc.Status"];
  CHECK(status["properties"]["code"]["type"] == "integer");
  CHECK(status["properties"]["message"]["type"] == "string");
  CHECK(status["properties"]["details"]["type"] == "array");
}

TEST_CASE("openapi: query parameters are the leaf fields bound neither by path nor by body") {
  Json doc = Document(Library());
  const Json& list = doc["paths"]["/v1/shelves/{shelf}/books"]["get"];
  CHECK(ParamNames(list, "path") == std::vector<std::string>{"shelf"});
  CHECK(ParamNames(list, "query") == std::vector<std::string>{"page_size", "page_token", "genres",
                                                              "filter.author", "filter.min_pages",
                                                              "include_drafts"});
  const Json& genres = Param(list, "genres");
  CHECK(genres["schema"]["type"] == "array");
  CHECK(genres["schema"]["items"]["type"] == "string");
  CHECK(genres["schema"]["items"]["enum"] ==
        Json::array({"GENRE_UNSPECIFIED", "GENRE_FICTION", "GENRE_POETRY"}));
  CHECK(genres["style"] == "form");
  CHECK(genres["explode"] == true);
  CHECK(Param(list, "filter.min_pages")["schema"] == Json{{"type", "string"}, {"format", "int64"}});
  CHECK(Param(list, "page_size").count("required") == 0);

  // Without the path binding, shelf is a query parameter.
  CHECK(ParamNames(doc["paths"]["/v1/books"]["get"], "query").front() == "shelf");
  // body "*": nothing from the query.
  CHECK(ParamNames(doc["paths"]["/v1/{name}:publish"]["post"], "query").empty());
  CHECK(doc["paths"]["/v1/echo"]["post"].count("parameters") == 0);
  // A named body: its field is not a query parameter, the rest is.
  CHECK(ParamNames(doc["paths"]["/v1/shelves/{shelf}/books"]["post"], "query") ==
        std::vector<std::string>{"request_id"});
  CHECK(ParamNames(doc["paths"]["/v1/{name}"]["patch"], "query") ==
        std::vector<std::string>{"update_mask"});

  // Every field type: maps, repeated messages and opaque well-known types cannot be set from
  // the query; nested messages can, field by field; Timestamp, Duration, FieldMask and the
  // wrappers take their JSON string form, as one parameter.
  std::vector<std::string> echo = ParamNames(doc["paths"]["/v1/echo"]["get"], "query");
  std::set<std::string> names(echo.begin(), echo.end());
  for (const char* expected :
       {"f_int64", "r_enum", "f_message.title", "c_book.genre", "nested.author", "t_timestamp",
        "w_int64", "t_field_mask", "o_int32", "c_string"}) {
    INFO(expected);
    CHECK(names.count(expected) == 1);
  }
  for (const char* absent :
       {"m_string_int32", "m_int64_book", "r_message", "r_message.name", "t_any", "t_any.type_url",
        "t_struct", "t_value", "t_list", "t_empty", "f_message", "t_timestamp.seconds"}) {
    INFO(absent);
    CHECK(names.count(absent) == 0);
  }
}

TEST_CASE("openapi: request bodies, responses, streaming and security") {
  Json doc = Document(Library());
  const Json& paths = doc["paths"];

  const Json& create = paths["/v1/shelves/{shelf}/books"]["post"];
  CHECK(create["requestBody"]["content"]["application/json"]["schema"] ==
        Ref("aurora.testing.v1.Book"));
  CHECK(create["requestBody"].count("required") == 0);  // nothing is marked REQUIRED
  CHECK(create["security"] == Json::parse(R"([{"apiClient": []}])"));
  CHECK(create["responses"]["401"]["headers"].count("WWW-Authenticate") == 1);
  CHECK(doc["components"]["securitySchemes"]["apiClient"] ==
        Json::parse(R"({"type": "http", "scheme": "basic", "description":
          "An API client's id as the user name and its secret as the password."})"));
  CHECK(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");

  const Json& whoami = paths["/v1/whoami"]["get"];
  CHECK(whoami["security"] == Json::parse(R"([{"bearer": []}])"));
  CHECK(whoami["x-aurora-default-timeout-ms"] == 1500);
  // strict_json, on every binding of the RPC.
  CHECK(paths["/v1/echo:strict"]["post"]["x-aurora-strict-json"] == true);
  CHECK(paths["/v1/echo:strictMessage"]["post"]["x-aurora-strict-json"] == true);
  CHECK(paths["/v1/echo"]["post"].count("x-aurora-strict-json") == 0);
  CHECK(paths["/v1/{name}"]["get"].count("security") == 0);
  CHECK(paths["/v1/{name}"]["get"]["responses"].count("401") == 0);

  const Json& publish = paths["/v1/{name}:publish"]["post"];
  CHECK(publish["requestBody"]["content"]["application/json"]["schema"] ==
        Ref("aurora.testing.v1.PublishBookRequest"));
  CHECK(paths["/v1/echo"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] ==
        Ref("aurora.testing.v1.Everything"));

  const Json& watch = paths["/v1/shelves/{shelf}:watch"]["get"];
  CHECK(watch["x-aurora-streaming"] == "server");
  const Json& stream = watch["responses"]["200"]["content"];
  CHECK(stream.size() == 2);
  CHECK(stream["application/x-ndjson"]["schema"] == Ref("aurora.testing.v1.Book"));
  CHECK(stream["text/event-stream"]["schema"] == Ref("aurora.testing.v1.Book"));
  CHECK(watch["responses"]["200"]["description"].get<std::string>().find("{\"error\":") !=
        std::string::npos);

  const Json& upload = paths["/v1/books:upload"]["post"];
  CHECK(upload["x-aurora-streaming"] == "client");
  CHECK(upload["requestBody"]["content"]["application/json"]["schema"] ==
        Json{{"type", "array"}, {"items", Ref("aurora.testing.v1.Book")}});
  CHECK(upload["requestBody"]["content"]["application/x-ndjson"]["schema"] ==
        Ref("aurora.testing.v1.Book"));

  // google.api.HttpBody: raw bytes, whole response or response_body.
  const Json binary{{"schema", {{"type", "string"}, {"format", "binary"}}}};
  CHECK(paths["/v1/files/{path}"]["get"]["responses"]["200"]["content"] == Json{{"*/*", binary}});
  CHECK(paths["/v1/{name}/cover"]["get"]["responses"]["200"]["content"] == Json{{"*/*", binary}});
  // A non-HttpBody response_body is that field's schema.
  CHECK(paths["/v1/shelves/{shelf}/titles"]["get"]["responses"]["200"]["content"] ==
        Json::parse(R"({"application/json": {"schema": {"type": "array",
                        "items": {"type": "string"}}}})"));
}

TEST_CASE("openapi: schemas follow the gateway's proto3 JSON mapping") {
  Json doc = Document(Library());
  const Json& schemas = doc["components"]["schemas"];
  CHECK(schemas.count("aurora.testing.v1.Book") == 1);
  CHECK(schemas.count("aurora.testing.v1.Filter") == 1);
  CHECK(schemas.count("google.protobuf.Timestamp") == 0);  // well-known types are inline
  CHECK(schemas.count("google.api.HttpBody") == 0);        // only in raw bodies here
  const Json& everything = schemas["aurora.testing.v1.Everything"];
  CHECK(everything["type"] == "object");
  CHECK(everything.count("required") == 0);
  const Json& p = everything["properties"];
  auto type = [&](const char* field) {
    Json schema = p[field];
    schema.erase("description");
    return schema;
  };
  CHECK(type("f_double") == Json{{"type", "number"}, {"format", "double"}});
  CHECK(type("f_float") == Json{{"type", "number"}, {"format", "float"}});
  CHECK(type("f_int32") == Json{{"type", "integer"}, {"format", "int32"}});
  CHECK(type("f_sint32") == Json{{"type", "integer"}, {"format", "int32"}});
  CHECK(type("f_sfixed32") == Json{{"type", "integer"}, {"format", "int32"}});
  const Json uint32{
      {"type", "integer"}, {"format", "int64"}, {"minimum", 0}, {"maximum", 4294967295LL}};
  CHECK(type("f_uint32") == uint32);
  CHECK(type("f_fixed32") == uint32);
  CHECK(type("f_int64") == Json{{"type", "string"}, {"format", "int64"}});
  CHECK(type("f_sint64") == Json{{"type", "string"}, {"format", "int64"}});
  CHECK(type("f_sfixed64") == Json{{"type", "string"}, {"format", "int64"}});
  CHECK(type("f_uint64") == Json{{"type", "string"}, {"format", "uint64"}});
  CHECK(type("f_fixed64") == Json{{"type", "string"}, {"format", "uint64"}});
  CHECK(type("f_bool") == Json{{"type", "boolean"}});
  CHECK(type("f_string") == Json{{"type", "string"}});
  CHECK(type("f_bytes") == Json{{"type", "string"}, {"format", "byte"}});
  CHECK(type("f_enum")["enum"] ==
        Json::array({"GENRE_UNSPECIFIED", "GENRE_FICTION", "GENRE_POETRY"}));
  CHECK(type("f_enum")["title"] == "aurora.testing.v1.Genre");
  CHECK(type("f_message") == Ref("aurora.testing.v1.Book"));
  CHECK(type("r_int32") == Json::parse(R"({"type": "array",
                                           "items": {"type": "integer", "format": "int32"}})"));
  CHECK(type("r_enum")["items"]["enum"].size() == 3);
  CHECK(type("r_message") == Json{{"type", "array"}, {"items", Ref("aurora.testing.v1.Book")}});
  CHECK(type("m_string_int32") == Json::parse(R"({"type": "object",
                        "additionalProperties": {"type": "integer", "format": "int32"}})"));
  CHECK(type("m_int64_book")["additionalProperties"] == Ref("aurora.testing.v1.Book"));
  CHECK(type("m_int64_book")["x-aurora-map-key"] == "int64");
  CHECK(type("m_bool_string")["additionalProperties"] == Json{{"type", "string"}});
  // proto3 optional and oneof members: described, never required.
  CHECK(p["o_int32"]["description"].get<std::string>().find("Optional") != std::string::npos);
  CHECK(p["c_string"]["description"].get<std::string>().find("oneof `choice`") !=
        std::string::npos);
  // A described $ref is wrapped in allOf (siblings of $ref are ignored in OpenAPI 3.0).
  CHECK(p["c_book"]["allOf"] == Json::array({Ref("aurora.testing.v1.Book")}));
  // Well-known types.
  CHECK(type("t_timestamp")["type"] == "string");
  CHECK(type("t_timestamp")["format"] == "date-time");
  CHECK(type("t_duration")["type"] == "string");
  CHECK(type("t_duration")["pattern"] == "^-?[0-9]+(\\.[0-9]+)?s$");
  CHECK(type("w_int64") == Json{{"type", "string"},
                                {"format", "int64"},
                                {"nullable", true},
                                {"title", "google.protobuf.Int64Value"}});
  CHECK(type("w_string")["nullable"] == true);
  CHECK(type("w_bool")["type"] == "boolean");
  CHECK(type("w_double")["type"] == "number");
  CHECK(type("t_struct")["type"] == "object");
  CHECK(type("t_struct")["additionalProperties"] == true);
  CHECK(type("t_value").count("type") == 0);
  CHECK(type("t_list")["type"] == "array");
  CHECK(type("t_field_mask")["type"] == "string");
  CHECK(type("t_any")["type"] == "object");
  CHECK(type("t_any")["required"] == Json::array({"@type"}));
  CHECK(type("t_any")["properties"]["@type"]["type"] == "string");
  CHECK(type("t_empty")["type"] == "object");
  CHECK(type("nested") == Ref("aurora.testing.v1.Filter"));
}

TEST_CASE("openapi: descriptions come from proto comments given as source info") {
  Api library = Library();
  // The generated pool carries no comments.
  Json bare = Document(library);
  CHECK(bare["tags"][0] ==
        Json{{"name", "Library"}, {"x-aurora-grpc-service", "aurora.testing.v1.Library"}});
  CHECK(bare["paths"]["/v1/{name}"]["get"].count("summary") == 0);
  CHECK(bare["components"]["schemas"]["aurora.testing.v1.Book"].count("description") == 0);

  Json doc = Document(library, ReadFile(AURORA_LIBRARY_DESCRIPTORS));
  // The file's leading comment describes its only service.
  CHECK(doc["tags"][0]["description"].get<std::string>().rfind("A test-only contract", 0) == 0);
  CHECK(
      doc["components"]["schemas"]["aurora.testing.v1.Book"]["properties"]["name"]["description"] ==
      "\"shelves/<shelf>/books/<book>\"");
  CHECK(Param(doc["paths"]["/v1/shelves/{shelf}:watch"]["get"], "fail_after")["description"] ==
        "After this many messages the stream fails with this code (0: it ends normally).");

  // The built-in contracts with the embedded descriptor set.
  Api builtin = Build(ContractSet::BuiltIn());
  Json directory = Document(builtin, BuiltInDescriptorSet());
  // Tags follow the files' order in the set (network.proto, which directory.proto imports, comes
  // first).
  const Json* directory_tag = nullptr;
  for (const Json& tag : directory["tags"]) {
    if (tag["name"] == "Directory") directory_tag = &tag;
  }
  REQUIRE(directory_tag != nullptr);
  // (Loose checks: directory.proto's comments evolve; library.proto's above are exact.)
  CHECK(!(*directory_tag)["description"].get<std::string>().empty());
  const Json& get_service = directory["paths"]["/v1/services/{id}"]["get"];
  CHECK(get_service["operationId"] == "Directory_GetService");
  CHECK(get_service["summary"].get<std::string>().find("NOT_FOUND") != std::string::npos);
  const Json& create_service = directory["paths"]["/v1/services"]["post"];
  CHECK(create_service["summary"].get<std::string>().find("Creates a service") == 0);
  CHECK(create_service["description"].get<std::string>().find("ALREADY_EXISTS") !=
        std::string::npos);
  CHECK(create_service["requestBody"]["content"]["application/json"]["schema"] ==
        Ref("aurora.directory.v1.Service"));
  const Json& service = directory["components"]["schemas"]["aurora.directory.v1.Service"];
  auto field_doc = [&](const char* field) {
    return service["properties"][field].value("description", std::string());
  };
  CHECK(field_doc("id").find("UUID") == 0);
  CHECK(field_doc("summary").find("at most 1000") != std::string::npos);  // a trailing comment
  CHECK(field_doc("revision").find("Output only") == 0);
  CHECK(service["properties"]["name"]["allOf"] ==
        Json::array({Ref("aurora.common.v1.LocalizedText")}));
  const std::string kind = service["properties"]["kind"]["description"];
  CHECK(kind.find("- `SERVICE_KIND_GENERAL_DESCRIPTION`: A national template") !=
        std::string::npos);
  // Nested query parameters and additional bindings of the directory.
  std::vector<std::string> list = ParamNames(directory["paths"]["/v1/services"]["get"], "query");
  std::set<std::string> names(list.begin(), list.end());
  CHECK(names.count("area.municipality_codes") == 1);
  CHECK(names.count("area.include_national_services") == 1);
  CHECK(names.count("page.page_size") == 1);
  CHECK(names.count("funding_types") == 1);
  CHECK(directory["paths"]["/v1/services:search"]["post"]["operationId"] ==
        "Directory_ListServices_2");
  CHECK(directory["paths"]["/v1/services/{service_id}:checkText"]["get"]["operationId"] ==
        "Directory_CheckServiceText_2");
  CHECK(directory["paths"]["/v1/directory:watch"]["get"]["x-aurora-streaming"] == "server");
  CHECK(directory["paths"]["/v1/services:import"]["post"]["x-aurora-streaming"] == "client");
  // UpdateService binds service.id by the path and service by the body.
  CHECK(ParamNames(directory["paths"]["/v1/services/{id}"]["put"], "query") ==
        std::vector<std::string>{"expected_revision"});
  CHECK(directory.count("x-aurora-custom-methods") == 0);
}

// A contract with google.api.field_behavior annotations, which no checked-in proto uses yet.
std::string BehaviorContract() {
  google::protobuf::FileDescriptorSet set;
  google::api::FieldBehavior_descriptor();  // links field_behavior.proto
  for (const char* name : {"google/protobuf/descriptor.proto", "google/api/http.proto",
                           "google/api/annotations.proto", "google/api/field_behavior.proto"}) {
    const google::protobuf::FileDescriptor* file =
        google::protobuf::DescriptorPool::generated_pool()->FindFileByName(name);
    REQUIRE(file != nullptr);
    file->CopyTo(set.add_file());
  }
  google::protobuf::FileDescriptorProto* file = set.add_file();
  file->set_name("aurora/testing/v1/behavior.proto");
  file->set_package("aurora.testing.behavior");
  file->set_syntax("proto3");
  file->add_dependency("google/api/annotations.proto");
  file->add_dependency("google/api/field_behavior.proto");
  auto* thing = file->add_message_type();
  thing->set_name("Thing");
  auto add_field = [&](const char* name, int number,
                       google::protobuf::FieldDescriptorProto::Type type,
                       std::vector<google::api::FieldBehavior> behaviors) {
    auto* field = thing->add_field();
    field->set_name(name);
    field->set_json_name(name);
    field->set_number(number);
    field->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
    field->set_type(type);
    for (auto behavior : behaviors) {
      field->mutable_options()->AddExtension(google::api::field_behavior, behavior);
    }
  };
  add_field("name", 1, google::protobuf::FieldDescriptorProto::TYPE_STRING,
            {google::api::REQUIRED});
  add_field("id", 2, google::protobuf::FieldDescriptorProto::TYPE_STRING,
            {google::api::OUTPUT_ONLY});
  add_field("count", 3, google::protobuf::FieldDescriptorProto::TYPE_INT32, {});
  auto* service = file->add_service();
  service->set_name("Things");
  auto add_method = [&](const char* name, google::api::HttpRule rule) {
    auto* method = service->add_method();
    method->set_name(name);
    method->set_input_type(".aurora.testing.behavior.Thing");
    method->set_output_type(".aurora.testing.behavior.Thing");
    *method->mutable_options()->MutableExtension(google::api::http) = std::move(rule);
  };
  google::api::HttpRule create;
  create.set_post("/v1/things");
  create.set_body("*");
  add_method("CreateThing", create);
  google::api::HttpRule get;
  get.set_get("/v1/things/{id}");
  add_method("GetThing", get);
  // Two templates that differ only in the pattern of `id` share the OpenAPI path /v1/{id}.
  google::api::HttpRule get_a;
  get_a.set_get("/v1/{id=a/*}");
  add_method("GetA", get_a);
  google::api::HttpRule get_b;
  get_b.set_get("/v1/{id=b/*}");
  add_method("GetB", get_b);
  return set.SerializeAsString();
}

TEST_CASE("openapi: field_behavior REQUIRED and OUTPUT_ONLY are honoured") {
  Api api = Build(ContractSet::FromSerialized(BehaviorContract()));
  Json doc = Document(api);
  const Json& thing = doc["components"]["schemas"]["aurora.testing.behavior.Thing"];
  CHECK(thing["required"] == Json::array({"name"}));
  CHECK(thing["properties"]["id"]["readOnly"] == true);
  CHECK(thing["properties"]["name"].count("readOnly") == 0);
  CHECK(doc["paths"]["/v1/things"]["post"]["requestBody"]["required"] == true);
  const Json& get = doc["paths"]["/v1/things/{id}"]["get"];
  CHECK(Param(get, "name")["required"] == true);
  CHECK(Param(get, "count").count("required") == 0);

  // The second of two routes with one OpenAPI path and method cannot be in `paths`.
  CHECK(doc["paths"]["/v1/{id}"]["get"]["operationId"] == "Things_GetA");
  CHECK(Param(doc["paths"]["/v1/{id}"]["get"], "id")["schema"]["pattern"] == "^a/[^/]+$");
  REQUIRE(doc["x-aurora-shadowed-routes"].size() == 1);
  CHECK(doc["x-aurora-shadowed-routes"][0]["template"] == "/v1/{id=b/*}");
  CHECK(doc["x-aurora-shadowed-routes"][0]["operation"]["operationId"] == "Things_GetB");
  std::string html = BuildDocsPage(api.routes, {});
  CHECK(HtmlProblem(html) == "");
  CHECK(html.find("<code>/v1/{id=b/*}</code>") != std::string::npos);
  CHECK(html.find("x-aurora-shadowed-routes") != std::string::npos);
}

TEST_CASE("openapi: output is deterministic") {
  std::string library = ReadFile(AURORA_LIBRARY_DESCRIPTORS);
  OpenApiInfo info;
  info.server_urls = {"https://api.example.fi"};
  Api a = Library();
  Api b = Library();
  CHECK(BuildOpenApiDocument(a.routes, info, library) ==
        BuildOpenApiDocument(b.routes, info, library));
  CHECK(BuildDocsPage(a.routes, info, library) == BuildDocsPage(b.routes, info, library));
  Api c = Build(ContractSet::BuiltIn());
  Api d = Build(ContractSet::BuiltIn());
  std::string first = BuildOpenApiDocument(c.routes, info, BuiltInDescriptorSet());
  CHECK(first == BuildOpenApiDocument(d.routes, info, BuiltInDescriptorSet()));
  Json doc = Json::parse(first);
  CHECK(doc["info"]["version"] == "unversioned");
  CHECK(doc["servers"] == Json::parse(R"([{"url": "https://api.example.fi"}])"));
  CHECK(first.find('\n') == std::string::npos);  // compact
}

TEST_CASE("openapi: the docs page is self-contained HTML with every text escaped") {
  // The checker itself.
  CHECK(HtmlProblem("<p><b>x</b></p>") == "");
  CHECK(HtmlProblem("<p><b>x</p>") != "");
  CHECK(HtmlProblem("<p>a & b</p>") != "");
  CHECK(HtmlProblem("<p>a <script> b</p>") != "");

  // Source info with markup in comments, as a hostile or careless contract author might write.
  google::protobuf::FileDescriptorSet set;
  const google::protobuf::FileDescriptor* library_file =
      aurora::testing::v1::Book::descriptor()->file();
  library_file->CopyTo(set.add_file());
  auto* info = set.mutable_file(0)->mutable_source_code_info();
  auto comment = [&](std::vector<int> path, const char* text) {
    auto* location = info->add_location();
    for (int p : path) location->add_path(p);
    location->set_leading_comments(text);
  };
  const int book = aurora::testing::v1::Book::descriptor()->index();
  comment({4, book}, " A book. <script>alert(1)</script> & \"quotes\" 'single'\n");
  comment({4, book, 2, 0}, " Name <b>bold</b>.\n");
  comment({6, 0}, " Library <img src=x onerror=alert(2)>.\n");
  comment({6, 0, 2, 0}, " Gets a <i>book</i>. Then `code` & more.\n");

  Api api = Library();
  OpenApiInfo page_info;
  page_info.title = "Aurora <API> & co";
  page_info.description = "Try <script>x</script>.";
  std::string html = BuildDocsPage(api.routes, page_info, set.SerializeAsString());
  CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find(
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;single&#39;") !=
        std::string::npos);
  CHECK(html.find("Name &lt;b&gt;bold&lt;/b&gt;.") != std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("Gets a &lt;i&gt;book&lt;/i&gt;. Then <code>code</code> &amp; more.") !=
        std::string::npos);
  CHECK(html.find("<title>Aurora &lt;API&gt; &amp; co</title>") != std::string::npos);
  // Nothing external: no scripts, stylesheets, fonts or images to fetch.
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find(" src=\"") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  CHECK(HtmlProblem(html) == "");

  // The content: table of contents, operations, auth, parameters, schemas, errors, streaming.
  CHECK(html.find("<a href=\"#service-Library\">Library</a>") != std::string::npos);
  CHECK(html.find("<section class=\"op\" id=\"op-Library_GetBook\">") != std::string::npos);
  CHECK(html.find("<a href=\"#op-Library_ListBooks_2\">GET /v1/books</a>") != std::string::npos);
  CHECK(html.find("<span class=\"verb verb-post\">POST</span> <code>/v1/shelves/{shelf}/books") !=
        std::string::npos);
  CHECK(html.find("apiClient</a> (HTTP Basic") != std::string::npos);
  CHECK(html.find("<td><code>filter.author</code></td><td>query</td>") != std::string::npos);
  CHECK(html.find("id=\"schema-aurora.testing.v1.Book\"") != std::string::npos);
  CHECK(html.find("<a href=\"#schema-aurora.testing.v1.Book\">aurora.testing.v1.Book</a>") !=
        std::string::npos);
  CHECK(html.find("id=\"errors\"") != std::string::npos);
  CHECK(html.find("id=\"streaming\"") != std::string::npos);
  CHECK(html.find("<code>application/x-ndjson</code>") != std::string::npos);
  CHECK(html.find("REPORT") != std::string::npos);
  CHECK(html.find("<dt>JSON typing</dt><dd><a href=\"#conventions\">strict</a></dd>") !=
        std::string::npos);
  CHECK(html.find("href=\"/openapi.json\"") != std::string::npos);

  // The JSON document carries the same comment verbatim (JSON-escaped, not HTML-escaped).
  Json doc = Json::parse(BuildOpenApiDocument(api.routes, page_info, set.SerializeAsString()));
  CHECK(doc["components"]["schemas"]["aurora.testing.v1.Book"]["description"] ==
        "A book. <script>alert(1)</script> & \"quotes\" 'single'");
  CHECK(doc["paths"]["/v1/{name}"]["get"]["summary"] == "Gets a <i>book</i>.");

  // The built-in contracts render too.
  Api builtin = Build(ContractSet::BuiltIn());
  std::string directory = BuildDocsPage(builtin.routes, {}, BuiltInDescriptorSet());
  CHECK(HtmlProblem(directory) == "");
  CHECK(directory.find("id=\"op-Directory_Watch\"") != std::string::npos);
}

}  // namespace
}  // namespace aurora::gateway
