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
#include "aurora/directory/v1/directory.pb.h"
#include "aurora/testing/v1/library.pb.h"
#include "directory/catalogue_format.h"
#include "common/codelists.h"
#include "gateway/json_printer.h"
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
  };
  for (const Case& c : cases) {
    INFO(c.method << " " << c.target << " " << c.body);
    auto bound = library.Bind<lib::Everything>(c.method, c.target, c.body);
    REQUIRE_FALSE(bound.ok());
    CHECK(bound.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(bound.status().message(), c.message));
  }
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
