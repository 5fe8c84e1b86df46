// Unit tests of the descriptor-driven parts of the gateway: the route table built from the
// contracts, request binding (path, query, body), response rendering, the JSON printer against
// protobuf's own json_util, and the status table.

#include "gateway/transcoder.h"

#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "aurora/directory/v1/directory.pb.h"
#include "aurora/testing/v1/library.pb.h"
#include "common/codelists.h"
#include "directory/catalogue_format.h"
#include "gateway/json_printer.h"
#include "gateway/response_metadata.h"
#include "gateway/route_table.h"
#include "google/api/annotations.pb.h"

namespace aurora::gateway {
namespace {

using nlohmann::json;
namespace lib = aurora::testing::v1;

struct Library {
  Library() {
    lib::Book::descriptor();  // links library.proto's generated code
    auto built = ContractSet::FromGeneratedFiles({"aurora/testing/v1/library.proto"});
    REQUIRE(built.ok());
    contracts = *std::move(built);
    auto table = RouteTable::Build(contracts->services());
    REQUIRE(table.ok());
    routes = std::make_unique<RouteTable>(*std::move(table));
    transcoder = std::make_unique<Transcoder>(contracts.get());
  }

  // Binds a request for `method` and `path` and parses it as `T`.
  template <typename T>
  absl::StatusOr<T> Bind(std::string_view method, std::string_view target,
                         std::string_view body = "") {
    size_t question = target.find('?');
    std::string_view path = target.substr(0, question);
    std::string_view query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    RouteTable::Lookup found = routes->Find(method, path);
    if (found.route == nullptr) return absl::NotFoundError("no route");
    std::vector<std::string> requests;
    absl::Status status =
        transcoder->BuildRequests(*found.route, found.bindings, query, body, "", &requests);
    if (!status.ok()) return status;
    REQUIRE(requests.size() == 1);
    T message;
    REQUIRE(message.ParseFromString(requests[0]));
    return message;
  }

  std::unique_ptr<ContractSet> contracts;
  std::unique_ptr<RouteTable> routes;
  std::unique_ptr<Transcoder> transcoder;
};

std::string ProtobufJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  REQUIRE(google::protobuf::util::MessageToJsonString(message, &out, options).ok());
  return out;
}

std::string OurJson(const google::protobuf::Message& message, const ContractSet* contracts) {
  std::string out;
  absl::Status status = AppendMessageJson(message, contracts, &out);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return out;
}

TEST_CASE("routes come from every rule, with their options", "[transcoder]") {
  Library library;
  const auto& routes = library.routes->routes();
  auto find = [&](const std::string& label) -> const Route& {
    for (const Route& route : routes) {
      if (route.label == label) return route;
    }
    FAIL("no route " << label);
    return routes.front();
  };
  CHECK(find("GET /v1/books").additional_binding);
  CHECK(find("GET /v1/books").grpc_method == "/aurora.testing.v1.Library/ListBooks");
  const Route& create = find("POST /v1/shelves/{shelf}/books");
  CHECK(create.auth == RouteAuth::kApiClient);
  CHECK(create.body_field->name() == "book");
  const Route& who = find("GET /v1/whoami");
  CHECK(who.auth == RouteAuth::kBearer);
  CHECK(who.default_timeout == absl::Milliseconds(1500));
  CHECK_FALSE(who.strict_json);
  CHECK(find("POST /v1/echo:strict").strict_json);
  CHECK(find("POST /v1/echo:strictMessage").strict_json);  // the option holds for every binding
  CHECK_FALSE(find("POST /v1/echo").strict_json);
  CHECK(find("GET /v1/shelves/{shelf}:watch").server_streaming);
  CHECK(find("POST /v1/books:upload").client_streaming);
  CHECK(find("GET /v1/{name=shelves/*/books/*}/cover").response_body_field->name() == "image");
  const Route& update = find("PATCH /v1/{book.name=shelves/*/books/*}");
  REQUIRE(update.path_fields.size() == 1);
  REQUIRE(update.path_fields[0].size() == 2);
  CHECK(update.path_fields[0][1]->name() == "name");
  // Internal has no rule and so no route.
  for (const Route& route : routes) CHECK(route.method->name() != "Internal");

  RouteTable::Lookup wrong = library.routes->Find("DELETE", "/v1/echo");
  CHECK(wrong.route == nullptr);
  CHECK(wrong.allowed_methods == std::vector<std::string>{"GET", "POST"});
}

TEST_CASE("the built-in contracts give the directory's routes", "[transcoder]") {
  auto contracts = ContractSet::BuiltIn();
  REQUIRE(contracts.ok());
  auto table = RouteTable::Build((*contracts)->services());
  REQUIRE(table.ok());
  RouteTable::Lookup get = table->Find("GET", "/v1/services/abc");
  REQUIRE(get.route != nullptr);
  CHECK(get.route->grpc_method == "/aurora.directory.v1.Directory/GetService");
  RouteTable::Lookup check = table->Find("GET", "/v1/services/abc:checkText");
  REQUIRE(check.route != nullptr);
  CHECK(check.route->grpc_method == "/aurora.directory.v1.Directory/CheckServiceText");
  RouteTable::Lookup search = table->Find("POST", "/v1/services:search");
  REQUIRE(search.route != nullptr);
  CHECK(search.route->grpc_method == "/aurora.directory.v1.Directory/ListServices");
  // VerifyApiClient has no HTTP rule: it is not on the gateway.
  for (const Route& route : table->routes()) CHECK(route.method->name() != "VerifyApiClient");
}

TEST_CASE("broken rules are refused at start-up, naming the RPC", "[transcoder]") {
  // A descriptor set whose rule names a field the request does not have.
  google::protobuf::FileDescriptorSet set;
  google::protobuf::FileDescriptorProto* file = set.add_file();
  lib::Book::descriptor()->file()->CopyTo(file);
  // Also the imports, so that the pool builds.
  std::vector<const google::protobuf::FileDescriptor*> pending = {lib::Book::descriptor()->file()};
  std::set<std::string> seen = {file->name()};
  google::protobuf::FileDescriptorSet imports;
  while (!pending.empty()) {
    const auto* current = pending.back();
    pending.pop_back();
    for (int i = 0; i < current->dependency_count(); ++i) {
      const auto* dependency = current->dependency(i);
      if (seen.insert(dependency->name()).second) {
        dependency->CopyTo(imports.add_file());
        pending.push_back(dependency);
      }
    }
  }
  for (auto& method : *file->mutable_service(0)->mutable_method()) {
    if (method.name() != "GetBook") continue;
    google::api::HttpRule rule;
    rule.set_get("/v1/{title_of_book}");
    *method.mutable_options()->MutableExtension(google::api::http) = rule;
  }
  google::protobuf::FileDescriptorSet all = imports;
  *all.add_file() = *file;
  auto contracts = ContractSet::FromSerialized(all.SerializeAsString());
  REQUIRE(contracts.ok());
  auto table = RouteTable::Build((*contracts)->services());
  REQUIRE_FALSE(table.ok());
  CHECK(absl::StrContains(table.status().message(), "aurora.testing.v1.Library.GetBook"));
  CHECK(absl::StrContains(table.status().message(), "title_of_book"));
}

TEST_CASE("path, query and body bind into the request", "[transcoder]") {
  Library library;
  auto listed = library.Bind<lib::ListBooksRequest>(
      "GET",
      "/v1/shelves/s%20one/books?page_size=3&genres=GENRE_POETRY&genres=1&filter.author=a+b"
      "&filter.min_pages=-4&includeDrafts=true");
  REQUIRE(listed.ok());
  CHECK(listed->shelf() == "s one");
  CHECK(listed->page_size() == 3);
  REQUIRE(listed->genres_size() == 2);
  CHECK(listed->genres(1) == lib::GENRE_FICTION);
  CHECK(listed->filter().author() == "a b");
  CHECK(listed->filter().min_pages() == -4);
  CHECK(listed->include_drafts());

  auto created = library.Bind<lib::CreateBookRequest>("POST", "/v1/shelves/s1/books?request_id=r",
                                                      R"({"title": "T", "pages": "12"})");
  REQUIRE(created.ok());
  CHECK(created->shelf() == "s1");
  CHECK(created->book().title() == "T");
  CHECK(created->book().pages() == 12);
  CHECK(created->request_id() == "r");

  // The path wins over the body.
  auto updated = library.Bind<lib::UpdateBookRequest>(
      "PATCH", "/v1/shelves/s1/books/b1?update_mask=title,pages", R"({"name": "x", "title": "T"})");
  REQUIRE(updated.ok());
  CHECK(updated->book().name() == "shelves/s1/books/b1");
  CHECK(updated->book().title() == "T");
  REQUIRE(updated->update_mask().paths_size() == 2);
  CHECK(updated->update_mask().paths(1) == "pages");

  // A Timestamp in the query takes its JSON form; a bad one is named.
  auto echo = library.Bind<lib::Everything>("GET",
                                            "/v1/echo?t_timestamp=2024-01-02T03:04:05Z"
                                            "&w_int64=7&t_duration=1.5s");
  REQUIRE(echo.ok());
  CHECK(echo->t_timestamp().seconds() == 1704164645);
  CHECK(echo->w_int64().value() == 7);
  CHECK(echo->t_duration().nanos() == 500000000);
  auto bad_time = library.Bind<lib::Everything>("GET", "/v1/echo?t_timestamp=yesterday");
  REQUIRE_FALSE(bad_time.ok());
  CHECK(absl::StrContains(bad_time.status().message(), "t_timestamp"));

  auto empty_body = library.Bind<lib::Everything>("POST", "/v1/echo", "  \n");
  REQUIRE(empty_body.ok());
  CHECK(empty_body->ByteSizeLong() == 0);
}

TEST_CASE("binding errors name the parameter and the value", "[transcoder]") {
  Library library;
  struct Case {
    std::string method, target, body, message;
  };
  const std::vector<Case> cases = {
      {"GET", "/v1/shelves/s/books?nope=1", "", "unknown query parameter \"nope\""},
      {"GET", "/v1/shelves/s/books?filter.nope=1", "", "unknown query parameter \"filter.nope\""},
      {"GET", "/v1/shelves/s/books?page_size=1.5", "", "\"1.5\" is not an int32"},
      {"GET", "/v1/shelves/s/books?page_size=%201", "", "is not an int32"},
      {"GET", "/v1/shelves/s/books?include_drafts=maybe", "", "is not a bool"},
      {"GET", "/v1/echo?f_uint32=-1", "", "is not a uint32"},
      {"GET", "/v1/echo?f_bytes=***", "", "is not base64"},
      {"GET", "/v1/echo?f_string=%FF", "", "is not valid UTF-8"},
      {"GET", "/v1/echo?f_float=1e40", "", "is not a float"},
      {"GET", "/v1/echo?r_message.title=x", "", "unknown query parameter"},
      {"GET", "/v1/shelves/s/books?shelf=t", "", "bound by the URL path"},
      {"POST", "/v1/shelves/s/books?book.title=x", "{}", "comes from the body"},
      {"POST", "/v1/echo", "{\"f_int32\": 1", "line 1, column"},
      {"POST", "/v1/echo", "{\"f_enum\": \"GENRE_JAZZ\"}", "field \"f_enum\""},
      {"POST", "/v1/shelves/s/books", "[1]", "request body"},
      // Found by transcoder_fuzz: a named body closing its wrapper to set other fields.
      {"POST", "/v1/shelves/s/books", R"({"title": "x"}, "request_id": "r")", "request body"},
      {"POST", "/v1/shelves/s/books", "{},", "request body"},
      // Nesting that would make a JSON library recurse until the stack runs out.
      {"POST", "/v1/books:upload", std::string(100000, '[') + std::string(100000, ']'),
       "nested deeper than 100"},
      // Found by request_json_fuzz: times that leave the JSON mapping's range only once their
      // UTC offset is applied (protobuf checks the range before), named by their path.
      {"POST", "/v1/echo", R"({"t_timestamp": "9999-12-31T23:59:59-01:00"})",
       "t_timestamp: the time is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"},
      {"POST", "/v1/echo", R"({"r_message": [{}, {"publish_time": "0001-01-01T00:00:00+01:00"}]})",
       "r_message[1].publish_time: the time is outside"},
  };
  for (const Case& c : cases) {
    INFO(c.method << " " << c.target << " " << c.body);
    auto bound = library.Bind<lib::Everything>(c.method, c.target, c.body);
    REQUIRE_FALSE(bound.ok());
    CHECK(bound.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(bound.status().message(), c.message));
  }
}

TEST_CASE("strict_json refuses values of the wrong JSON type, naming the field", "[transcoder]") {
  Library library;
  // The message as a whole.
  auto string_for_int =
      library.Bind<lib::Everything>("POST", "/v1/echo:strict", R"({"f_int32": "5"})");
  REQUIRE_FALSE(string_for_int.ok());
  CHECK(string_for_int.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(string_for_int.status().message() ==
        R"(request body: field "f_int32": expected a JSON integer, got "5")");
  // Without the option the same body is taken (protobuf's JSON parser converts).
  auto lenient = library.Bind<lib::Everything>("POST", "/v1/echo", R"({"f_int32": "5"})");
  REQUIRE(lenient.ok());
  CHECK(lenient->f_int32() == 5);

  struct Case {
    std::string body, message;
  };
  const std::vector<Case> cases = {
      // A string for a number or a bool, also where the proto3 JSON mapping prints strings.
      {R"({"f_int64": "5"})", R"(field "f_int64": expected a JSON integer, got "5")"},
      {R"({"f_uint64": "18446744073709551615"})", R"(field "f_uint64": expected a JSON integer)"},
      {R"({"f_sint32": "-1"})", R"(field "f_sint32": expected a JSON integer, got "-1")"},
      {R"({"f_fixed64": "1"})", R"(field "f_fixed64": expected a JSON integer, got "1")"},
      {R"({"f_double": "1.5"})", R"(field "f_double": expected a JSON number, got "1.5")"},
      {R"({"f_float": "NaN"})", R"(field "f_float": expected a JSON number, got "NaN")"},
      {R"({"r_double": [1, "Infinity"]})",
       R"(field "r_double[1]": expected a JSON number, got "Infinity")"},
      {R"({"f_bool": "true"})", R"(field "f_bool": expected a JSON boolean, got "true")"},
      // A fraction or an exponent for an integer, even when the value is whole.
      {R"({"f_int32": 1.5})", R"(field "f_int32": expected a JSON integer, got 1.5)"},
      {R"({"f_int32": 1e2})", R"(field "f_int32": expected a JSON integer, got 1e2)"},
      {R"({"f_int64": 1.0})", R"(field "f_int64": expected a JSON integer, got 1.0)"},
      {R"({"f_uint32": 5E0})", R"(field "f_uint32": expected a JSON integer, got 5E0)"},
      {R"({"r_int32": [1, -2.50]})", R"(field "r_int32[1]": expected a JSON integer, got -2.50)"},
      // Anything but true or false for a bool.
      {R"({"f_bool": 0})", R"(field "f_bool": expected a JSON boolean, got 0)"},
      {R"({"f_bool": 1})", R"(field "f_bool": expected a JSON boolean, got 1)"},
      {R"({"f_bool": "false"})", R"(field "f_bool": expected a JSON boolean, got "false")"},
      // null, for every kind of field, array element and map value.
      {R"({"f_string": null})", R"(field "f_string": expected a JSON string, got null)"},
      {R"({"f_int32": null})", R"(field "f_int32": expected a JSON integer, got null)"},
      {R"({"f_bool": null})", R"(field "f_bool": expected a JSON boolean, got null)"},
      {R"({"o_int32": null})", R"(field "o_int32": expected a JSON integer, got null)"},
      {R"({"f_enum": null})",
       R"(field "f_enum": expected a value name (a JSON string) or number of aurora.testing.v1.Genre, got null)"},
      {R"({"f_message": null})", R"(field "f_message": expected a JSON object, got null)"},
      {R"({"c_book": null})", R"(field "c_book": expected a JSON object, got null)"},
      {R"({"r_int32": null})", R"(field "r_int32": expected a JSON array, got null)"},
      {R"({"m_string_int32": null})",
       R"(field "m_string_int32": expected a JSON object, got null)"},
      {R"({"r_string": ["a", null]})", R"(field "r_string[1]": expected a JSON string, got null)"},
      {R"({"r_message": [null]})", R"(field "r_message[0]": expected a JSON object, got null)"},
      {R"({"m_string_int32": {"a": 1, "b": null}})",
       R"(field "m_string_int32[b]": expected a JSON integer, got null)"},
      {R"({"w_int64": null})", R"(field "w_int64": expected a JSON integer, got null)"},
      {R"({"t_timestamp": null})",
       R"(field "t_timestamp": expected a JSON string (google.protobuf.Timestamp), got null)"},
      {R"({"t_list": null})", R"(field "t_list": expected a JSON array, got null)"},
      {R"({"t_any": null})", R"(field "t_any": expected a JSON object, got null)"},
      {R"({"t_empty": null})", R"(field "t_empty": expected a JSON object, got null)"},
      // Nested messages, repeated messages and maps of messages, by either name.
      {R"({"f_message": {"pages": "12"}})",
       R"(field "f_message.pages": expected a JSON integer, got "12")"},
      {R"({"fMessage": {"publishTime": 5}})",
       R"(field "fMessage.publishTime": expected a JSON string (google.protobuf.Timestamp), got 5)"},
      {R"({"r_message": [{}, {"authors": ["a", null]}]})",
       R"(field "r_message[1].authors[1]": expected a JSON string, got null)"},
      {R"({"m_int64_book": {"7": {"pages": 1.5}}})",
       R"(field "m_int64_book[7].pages": expected a JSON integer, got 1.5)"},
      {R"({"m_bool_string": {"true": false}})",
       R"(field "m_bool_string[true]": expected a JSON string, got false)"},
      {R"({"nested": {"min_pages": "3"}})",
       R"(field "nested.min_pages": expected a JSON integer, got "3")"},
      // Wrappers are their value; an Any is the message it names.
      {R"({"w_bool": "true"})", R"(field "w_bool": expected a JSON boolean, got "true")"},
      {R"({"w_double": "1"})", R"(field "w_double": expected a JSON number, got "1")"},
      {R"({"t_any": {"@type": "type.googleapis.com/aurora.testing.v1.Book", "pages": "5"}})",
       R"(field "t_any.pages": expected a JSON integer, got "5")"},
      {R"({"t_any": {"@type": "type.googleapis.com/google.protobuf.Int32Value", "value": "5"}})",
       R"(field "t_any.value": expected a JSON integer, got "5")"},
      {R"({"t_any": {"title": "x", "@type": "type.googleapis.com/aurora.testing.v1.Book"}})",
       R"(field "t_any": an Any must start with its "@type")"},
      {R"({"t_any": {"@type": null}})", R"(field "t_any.@type": expected a JSON string, got null)"},
      // Values of the wrong kind.
      {R"({"f_string": 5})", R"(field "f_string": expected a JSON string, got 5)"},
      {R"({"f_bytes": 5})", R"(field "f_bytes": expected a JSON string (base64), got 5)"},
      {R"({"f_enum": 1.5})", R"(field "f_enum": expected a value name (a JSON string) or number)"},
      {R"({"f_enum": true})", R"(field "f_enum": expected a value name (a JSON string) or number)"},
      {R"({"r_int32": 5})", R"(field "r_int32": expected a JSON array, got 5)"},
      {R"({"r_string": "a"})", R"(field "r_string": expected a JSON array, got "a")"},
      {R"({"f_message": []})", R"(field "f_message": expected a JSON object, got an array)"},
      {R"({"f_int32": {}})", R"(field "f_int32": expected a JSON integer, got an object)"},
      {R"({"m_string_int32": [1]})",
       R"(field "m_string_int32": expected a JSON object, got an array)"},
      {R"({"t_struct": [1]})", R"(field "t_struct": expected a JSON object, got an array)"},
      {R"({"t_duration": 1.5})",
       R"(field "t_duration": expected a JSON string (google.protobuf.Duration), got 1.5)"},
      {"[1]", "request body: expected a JSON object, got an array"},
      {"null", "request body: expected a JSON object, got null"},
      // Every value is checked, also the ones a repeated key would hide.
      {R"({"f_int32": "1", "f_int32": 2})", R"(field "f_int32": expected a JSON integer, got "1")"},
      {R"({"f_message": {"pages": "1"}, "fMessage": {"title": "t"}})",
       R"(field "f_message.pages": expected a JSON integer, got "1")"},
      // Long values are cut short.
      {R"({"f_int32": ")" + std::string(200, '9') + R"("})", R"(99999...")"},
      // Syntax errors and unknown fields are reported as before.
      {R"({"f_int32": 1,)", "line 1, column"},
      {R"({"nope": "5"})", R"(unknown field "nope")"},
      {R"({"f_message": {"colour": null}})", R"(unknown field "f_message.colour")"},
      {R"({"f_int64": 9223372036854775808})", R"(f_int64)"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    auto bound = library.Bind<lib::Everything>("POST", "/v1/echo:strict", c.body);
    REQUIRE_FALSE(bound.ok());
    CHECK(bound.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(bound.status().message(), "request body: "));
    CHECK(absl::StrContains(bound.status().message(), c.message));
  }

  // A named body: the value of its field, named from the request message.
  const std::vector<Case> named = {
      {R"({"pages": "12"})",
       R"(request body: field "f_message.pages": expected a JSON integer, got "12")"},
      {"null", R"(request body: field "f_message": expected a JSON object, got null)"},
      {R"("x")", R"(request body: field "f_message": expected a JSON object, got "x")"},
      {R"({"authors": [1]})",
       R"(request body: field "f_message.authors[0]": expected a JSON string, got 1)"},
  };
  for (const Case& c : named) {
    INFO(c.body);
    auto bound = library.Bind<lib::Everything>("POST", "/v1/echo:strictMessage", c.body);
    REQUIRE_FALSE(bound.ok());
    CHECK(bound.status().message() == c.message);
  }

  // Every message of a client-streaming call.
  const Route* upload = library.routes->Find("POST", "/v1/books:upload").route;
  REQUIRE(upload != nullptr);
  Route strict_upload = *upload;
  strict_upload.strict_json = true;
  std::vector<std::string> requests;
  for (std::string body :
       {R"([{"title": "a"}, {"pages": "5"}])", "{\"title\": \"a\"}\n{\"pages\": \"5\"}\n"}) {
    INFO(body);
    absl::Status status =
        library.transcoder->BuildRequests(strict_upload, {}, "", body, "", &requests);
    CHECK(status.message() ==
          R"(request body message 2: field "pages": expected a JSON integer, got "5")");
    REQUIRE(library.transcoder->BuildRequests(*upload, {}, "", body, "", &requests).ok());
  }
  REQUIRE(
      library.transcoder
          ->BuildRequests(strict_upload, {}, "", R"([{"title": "a", "pages": 5}])", "", &requests)
          .ok());
  CHECK(requests.size() == 1);
}

TEST_CASE("strict_json takes every proto3 JSON value of the right type", "[transcoder]") {
  Library library;
  const std::string body = R"({
    "f_double": 1.5, "f_float": -2, "f_int32": -7, "f_int64": -9007199254740993,
    "f_uint32": 4000000000, "f_uint64": 18446744073709551615, "f_sint32": -3, "f_sint64": -4,
    "f_fixed32": 5, "f_fixed64": 6, "f_sfixed32": -8, "f_sfixed64": -9, "f_bool": false,
    "f_string": "s", "f_bytes": "AAH/", "f_enum": "GENRE_POETRY",
    "fMessage": {"title": "t", "pages": 3, "authors": ["a"], "publishTime": "2024-01-01T00:00:00Z"},
    "r_int32": [1, -2], "r_enum": ["GENRE_FICTION", 2], "r_message": [{"title": "x"}],
    "m_string_int32": {"a": 1}, "m_int64_book": {"7": {"pages": 7}}, "m_bool_string": {"true": "y"},
    "o_int32": 0, "c_book": {"title": "c"}, "t_timestamp": "2024-02-29T12:00:00Z",
    "t_duration": "1.5s", "w_int64": 5, "w_string": "w", "w_bool": true, "w_double": 2,
    "t_struct": {"k": [1, "two", null, true, {"n": null}]}, "t_value": null, "t_list": [null, 1],
    "t_field_mask": "fInt32", "t_empty": {}, "r_double": [0.1, 1e300, -0, 2E-3],
    "t_any": {"@type": "type.googleapis.com/aurora.testing.v1.Book", "pages": 5, "authors": []}
  })";
  auto bound = library.Bind<lib::Everything>("POST", "/v1/echo:strict", body);
  INFO(bound.status().ToString());
  REQUIRE(bound.ok());
  CHECK(bound->f_float() == -2);
  CHECK(bound->f_int64() == -9007199254740993LL);
  CHECK(bound->f_uint64() == 18446744073709551615ULL);
  CHECK(bound->f_message().pages() == 3);
  CHECK(bound->f_message().publish_time().seconds() == 1704067200);
  CHECK(bound->m_int64_book().at(7).pages() == 7);
  CHECK(bound->w_int64().value() == 5);
  CHECK(bound->w_double().value() == 2);
  CHECK(bound->t_struct().fields().at("k").list_value().values(2).has_null_value());
  CHECK(bound->t_value().has_null_value());
  CHECK(bound->r_double(2) == 0);
  lib::Book packed;
  REQUIRE(bound->t_any().UnpackTo(&packed));
  CHECK(packed.pages() == 5);

  // An Any of a type with a JSON form of its own, the empty body, and a named body.
  auto wrapped = library.Bind<lib::Everything>(
      "POST", "/v1/echo:strict",
      R"({"t_any": {"@type": "type.googleapis.com/google.protobuf.Int32Value", "value": 5}})");
  INFO(wrapped.status().ToString());
  REQUIRE(wrapped.ok());
  CHECK(wrapped->t_any().type_url() == "type.googleapis.com/google.protobuf.Int32Value");
  REQUIRE(library.Bind<lib::Everything>("POST", "/v1/echo:strict", " \n").ok());
  auto named = library.Bind<lib::Everything>("POST", "/v1/echo:strictMessage",
                                             R"({"title": "T", "pages": 12, "genre": 1})");
  REQUIRE(named.ok());
  CHECK(named->f_message().pages() == 12);
  CHECK(named->f_message().genre() == lib::GENRE_FICTION);
}

TEST_CASE("the status, Location and Retry-After a service asks for", "[transcoder]") {
  auto head = [](const char* status, const char* location, size_t warnings_expected) {
    std::string status_text = status != nullptr ? status : "";
    std::string location_text = location != nullptr ? location : "";
    std::vector<std::string> warnings;
    SuccessHead result =
        SuccessHeadFromMetadata(status != nullptr ? &status_text : nullptr,
                                location != nullptr ? &location_text : nullptr, &warnings);
    INFO((status ? status : "(none)")
         << " " << (location ? location : "(none)") << ": " << absl::StrJoin(warnings, "; "));
    CHECK(warnings.size() == warnings_expected);
    return result;
  };
  CHECK(head(nullptr, nullptr, 0).status == 200);
  SuccessHead found = head("302", "https://books.example/b1?x=1", 0);
  CHECK(found.status == 302);
  CHECK(found.location == "https://books.example/b1?x=1");
  CHECK(head("200", nullptr, 0).status == 200);
  CHECK(head("201", nullptr, 0).status == 201);
  CHECK(head("304", nullptr, 0).status == 304);  // a 3xx without Location
  CHECK(head("304", nullptr, 0).location.empty());
  CHECK(head("399", "/x", 0).location == "/x");
  // Statuses outside 200-399, or not three digits: ignored, the answer stays 200.
  for (const char* bad : {"199", "400", "404", "500", "600", "abc", "20", "2000", " 200", "200 ",
                          "+20", "-200", "", "2e2"}) {
    CHECK(head(bad, nullptr, 1).status == 200);
  }
  // A Location only goes with a 3xx, and never with a control character.
  CHECK(head("201", "/books/b1", 1).location.empty());
  CHECK(head("201", "/books/b1", 1).status == 201);
  CHECK(head(nullptr, "/books/b1", 1).location.empty());
  CHECK(head("600", "/books/b1", 2).location.empty());
  CHECK(head("302", "", 1).location.empty());
  for (const char* bad :
       {"https://a.example/\r\nSet-Cookie: x=1", "/a\nb", "/a\rb", "/a\tb", "/a\x7f", "/a\x01"}) {
    SuccessHead refused = head("302", bad, 1);
    CHECK(refused.status == 302);
    CHECK(refused.location.empty());
  }
  std::vector<std::string> warnings;
  std::string crlf = "/x\r\ny";
  std::string status = "301";
  SuccessHeadFromMetadata(&status, &crlf, &warnings);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] ==
        R"(x-aurora-http-location "/x\x0d\x0ay" ignored: it contains control characters)");

  auto retry_after = [](const char* value, int expected, bool warned) {
    INFO((value ? value : "(none)"));
    std::string text = value != nullptr ? value : "";
    std::string warning;
    CHECK(RetryAfterFromMetadata(value != nullptr ? &text : nullptr, 1, &warning) == expected);
    CHECK(warning.empty() != warned);
  };
  retry_after(nullptr, 1, false);
  retry_after("0", 0, false);
  retry_after("30", 30, false);
  retry_after("0030", 30, false);
  retry_after("3600", 3600, false);
  for (const char* bad : {"3601", "99999", "-1", "+5", "1.5", "", "abc", " 5", "5 ", "1e3"}) {
    retry_after(bad, 1, true);
  }

  for (const char* key : {"x-aurora-http-status", "x-aurora-http-location", "retry-after"}) {
    CHECK(IsResponseControlMetadata(key));
  }
  CHECK_FALSE(IsResponseControlMetadata("x-request-id"));
}

TEST_CASE("the JSON printer agrees with protobuf on the whole demo catalogue", "[transcoder]") {
  auto contracts = ContractSet::BuiltIn();
  REQUIRE(contracts.ok());
  auto codes = CodeLists::LoadFromDirectory(std::string(AURORA_DATA_DIR) + "/codelists");
  REQUIRE(codes.ok());
  std::ifstream in(std::string(AURORA_DATA_DIR) + "/services.ndjson");
  REQUIRE(in);
  std::string line;
  int compared = 0;
  while (std::getline(in, line)) {
    auto record = directory::ParseNdjsonRecord(line, *codes);
    if (!record.ok()) continue;
    directory::v1::Service* service = &record->service;
    service->set_revision(1099511627776 + compared);
    service->mutable_update_time()->set_seconds(1700000000);
    service->mutable_update_time()->set_nanos(5000000);
    INFO(service->id());
    REQUIRE(json::parse(OurJson(*service, contracts->get())) ==
            json::parse(ProtobufJson(*service)));
    ++compared;
  }
  CHECK(compared > 3000);
}

TEST_CASE("the JSON printer agrees with protobuf on every field type", "[transcoder]") {
  Library library;
  lib::Everything e;
  e.set_f_double(0.1);
  e.set_f_float(1.1f);
  e.set_f_int32(-2147483647 - 1);
  e.set_f_int64(-9223372036854775807LL - 1);
  e.set_f_uint32(4294967295u);
  e.set_f_uint64(18446744073709551615ull);
  e.set_f_sint32(-5);
  e.set_f_sint64(-6);
  e.set_f_fixed32(7);
  e.set_f_fixed64(8);
  e.set_f_sfixed32(-9);
  e.set_f_sfixed64(-10);
  e.set_f_bool(true);
  e.set_f_string(std::string("quote\" backslash\\ tab\t nul\0 del\x7f ä \xe2\x80\xa8 end", 40));
  e.set_f_bytes(std::string("\0\xff\x10", 3));
  e.set_f_enum(lib::GENRE_POETRY);
  e.mutable_f_message()->set_title("t");
  e.add_r_int32(1);
  e.add_r_int32(-1);
  e.add_r_string("a");
  e.add_r_enum(lib::GENRE_FICTION);
  e.add_r_enum(static_cast<lib::Genre>(42));  // unknown enum values print as numbers
  e.add_r_message()->set_pages(3);
  (*e.mutable_m_string_int32())["k"] = 1;
  (*e.mutable_m_int64_book())[-3].set_title("minus three");
  (*e.mutable_m_bool_string())[false] = "no";
  e.set_o_int32(0);
  e.set_c_string("");
  e.mutable_t_timestamp()->set_seconds(-3471292800);  // 1860-01-01
  e.mutable_t_timestamp()->set_nanos(123456000);
  e.mutable_t_duration()->set_seconds(-3);
  e.mutable_t_duration()->set_nanos(-500);
  e.mutable_w_int64()->set_value(-1);
  e.mutable_w_string();
  e.mutable_w_bool()->set_value(false);
  e.mutable_w_double()->set_value(2.5);
  (*e.mutable_t_struct()->mutable_fields())["list"]
      .mutable_list_value()
      ->add_values()
      ->set_bool_value(true);
  (*e.mutable_t_struct()->mutable_fields())["null"].set_null_value(google::protobuf::NULL_VALUE);
  e.mutable_t_value()->set_number_value(1e21);
  e.mutable_t_list()->add_values()->set_string_value("s");
  e.mutable_t_field_mask()->add_paths("f_message.publish_time");
  lib::Book inner;
  inner.set_title("packed");
  e.mutable_t_any()->PackFrom(inner);
  e.mutable_t_empty();
  e.add_r_double(-0.0);
  e.add_r_double(1e-300);
  e.add_r_double(123456789.125);
  std::string ours = OurJson(e, library.contracts.get());
  INFO(ours);
  CHECK(json::parse(ours) == json::parse(ProtobufJson(e)));
  CHECK(absl::StrContains(ours, "\\u2028"));  // safe to embed in JavaScript

  // Floating point and the special values, compared as text.
  lib::Everything special;
  special.add_r_double(std::numeric_limits<double>::quiet_NaN());
  special.add_r_double(std::numeric_limits<double>::infinity());
  special.add_r_double(-std::numeric_limits<double>::infinity());
  special.set_f_float(0.1f);
  std::string text = OurJson(special, library.contracts.get());
  CHECK(absl::StrContains(text, R"("r_double":["NaN","Infinity","-Infinity"])"));
  CHECK(absl::StrContains(text, R"("f_float":0.1)"));

  // Whole numbers are written out in full below 10^21 (identifiers carried in doubles stay
  // readable and exact), as ECMAScript prints them; beyond, the exponent form.
  lib::Everything whole;
  for (double v : {8270081654048790.0, 9007199254740991.0, -1e20, 1e21, 2.5}) {
    whole.add_r_double(v);
  }
  CHECK(absl::StrContains(
      OurJson(whole, library.contracts.get()),
      R"("r_double":[8270081654048790,9007199254740991,-100000000000000000000,1e+21,2.5])"));

  // RFC 3339 wants four-digit years (protobuf 3.21 prints year 1 as "1-01-01").
  lib::Everything first_day;
  first_day.mutable_t_timestamp()->set_seconds(-62135596800);
  CHECK(absl::StrContains(OurJson(first_day, library.contracts.get()),
                          R"("t_timestamp":"0001-01-01T00:00:00Z")"));

  // An Any of an unknown type is an error, not a silent drop.
  lib::Everything unknown;
  unknown.mutable_t_any()->set_type_url("type.googleapis.com/no.such.Type");
  std::string out;
  CHECK_FALSE(AppendMessageJson(unknown, library.contracts.get(), &out).ok());
}

TEST_CASE("responses render whole, by response_body, or raw for HttpBody", "[transcoder]") {
  Library library;
  auto route_of = [&](std::string_view method, std::string_view path) {
    const Route* route = library.routes->Find(method, path).route;
    REQUIRE(route != nullptr);
    return route;
  };
  lib::ListBooksResponse titles;
  titles.add_titles("a");
  titles.set_next_page_token("hidden");
  HttpBody body;
  REQUIRE(library.transcoder
              ->RenderResponse(*route_of("GET", "/v1/shelves/s/titles"), titles.SerializeAsString(),
                               &body)
              .ok());
  CHECK(body.data == R"(["a"])");
  CHECK(body.content_type == "application/json");

  lib::Cover cover;
  cover.mutable_image()->set_data("raw");
  REQUIRE(library.transcoder
              ->RenderResponse(*route_of("GET", "/v1/shelves/s/books/b/cover"),
                               cover.SerializeAsString(), &body)
              .ok());
  CHECK(body.data == "raw");
  CHECK(body.content_type == "application/octet-stream");  // none given

  CHECK_FALSE(library.transcoder
                  ->RenderResponse(*route_of("GET", "/v1/shelves/s/books/b"), "\xff\xff\xff", &body)
                  .ok());
}

TEST_CASE("every row of the gRPC -> HTTP status table", "[transcoder]") {
  const std::vector<std::pair<int, int>> table = {
      {0, 200},  {1, 499},  {2, 500},  {3, 400},  {4, 504},  {5, 404},  {6, 409},
      {7, 403},  {8, 429},  {9, 400},  {10, 409}, {11, 400}, {12, 501}, {13, 500},
      {14, 503}, {15, 500}, {16, 401}, {17, 500}, {-1, 500}};
  for (auto [code, http] : table) {
    INFO("code " << code);
    CHECK(HttpStatusFromGrpcCode(code) == http);
  }
  CHECK(GrpcCodeFromHttpStatus(400) == 3);
  CHECK(GrpcCodeFromHttpStatus(404) == 5);
  CHECK(GrpcCodeFromHttpStatus(405) == 12);
  CHECK(GrpcCodeFromHttpStatus(408) == 4);
  CHECK(GrpcCodeFromHttpStatus(413) == 3);
  CHECK(GrpcCodeFromHttpStatus(431) == 3);
  CHECK(GrpcCodeFromHttpStatus(505) == 12);

  json plain = json::parse(StatusJson(5, "no \"x\"\n"));
  CHECK(plain == json({{"code", 5}, {"message", "no \"x\"\n"}, {"details", json::array()}}));
  // Invalid UTF-8 in a message never makes the JSON invalid.
  json replaced = json::parse(StatusJson(3, "bad \xff byte"));
  CHECK(replaced["message"] == "bad \xEF\xBF\xBD byte");
}

}  // namespace
}  // namespace aurora::gateway
