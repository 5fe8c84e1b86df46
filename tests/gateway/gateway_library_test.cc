// The gateway against aurora.testing.v1.Library (every google.api.http feature) and a real
// directory for API-client authentication, all through real sockets: HTTP in, gRPC out.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "common/codelists.h"
#include "common/database.h"
#include "common/metrics.h"
#include "common/server.h"
#include "common/text.h"
#include "directory/directory_service.h"
#include "directory/store.h"
#include "gateway/gateway.h"
#include "http_test_client.h"
#include "library_service.h"

namespace aurora::testing {
namespace {

using nlohmann::json;
namespace dv1 = aurora::directory::v1;

std::string Basic(const std::string& id, const std::string& secret) {
  return "Basic " + absl::Base64Escape(id + ":" + secret);
}

// A node with the Library and the directory on a real gRPC port, and a gateway in front of it
// reached through a real gRPC channel (as `aurora gateway --upstream` does).
class LibraryNode {
 public:
  LibraryNode() : LibraryNode(gateway::GatewayOptions()) {}
  explicit LibraryNode(gateway::GatewayOptions options) {
    dir_ = std::filesystem::temp_directory_path() /
           ("aurora-gateway-test-" + std::to_string(::getpid()) + "-" + NewRandomUuid());
    std::filesystem::create_directories(dir_);
    auto codes = CodeLists::LoadFromDirectory(std::string(AURORA_DATA_DIR) + "/codelists");
    REQUIRE(codes.ok());
    codes_ = std::make_unique<CodeLists>(std::move(*codes));
    auto database = Database::Open(dir_.string(), {directory::kDirectoryColumnFamily}, {});
    REQUIRE(database.ok());
    database_ = std::move(*database);
    directory::DirectoryStoreOptions store_options;
    store_options.secret_hash_iterations = 1000;
    auto store = directory::DirectoryStore::Open(database_.get(), codes_.get(), store_options);
    REQUIRE(store.ok());
    store_ = std::move(*store);
    directory_ = std::make_unique<directory::DirectoryService>(store_.get(), codes_.get());
    server_.AddService(directory_.get(), dv1::Directory::service_full_name());
    server_.AddService(&library_, v1::Library::service_full_name());
    REQUIRE(server_.Start("127.0.0.1:0", &metrics_).ok());
    server_.SetServing(true);

    aurora::testing::v1::Book::descriptor();  // links library.proto's generated code
    auto contracts = gateway::ContractSet::FromGeneratedFiles(
        {"aurora/testing/v1/library.proto", "aurora/directory/v1/directory.proto"});
    REQUIRE(contracts.ok());
    options.http.io_threads = 2;
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_.port()),
                                       grpc::InsecureChannelCredentials());
    auto created = gateway::Gateway::Create(options, channel, metrics_.shared_registry(),
                                            *std::move(contracts));
    REQUIRE(created.ok());
    gateway_ = std::move(*created);
    REQUIRE(gateway_->Start("127.0.0.1:0").ok());
  }
  ~LibraryNode() {
    gateway_->Shutdown(absl::Seconds(1));
    directory_->Shutdown();
    server_.Shutdown(absl::Seconds(1));
    directory_.reset();
    store_.reset();
    (void)database_->Close();
    database_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return gateway_->port(); }
  LibraryService& library() { return library_; }

  // An organisation with one API client; returns "Basic ..." for it and sets *organization.
  std::string RegisterClient(std::string* organization = nullptr) {
    auto stub = dv1::Directory::NewStub(server_.InProcessChannel());
    grpc::ClientContext c1;
    dv1::RegisterOrganizationRequest org_request;
    org_request.mutable_organization()->mutable_name()->set_fi("Testikirjasto");
    dv1::Organization org;
    REQUIRE(stub->RegisterOrganization(&c1, org_request, &org).ok());
    grpc::ClientContext c2;
    dv1::RegisterApiClientRequest client_request;
    client_request.set_organization_id(org.id());
    client_request.set_display_name("test");
    dv1::ApiClientCredentials credentials;
    REQUIRE(stub->RegisterApiClient(&c2, client_request, &credentials).ok());
    if (organization != nullptr) *organization = org.id();
    client_id_ = credentials.client().client_id();
    return Basic(credentials.client().client_id(), credentials.client_secret());
  }
  const std::string& client_id() const { return client_id_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<CodeLists> codes_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<directory::DirectoryStore> store_;
  std::unique_ptr<directory::DirectoryService> directory_;
  LibraryService library_;
  Metrics metrics_;
  GrpcServer server_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::string client_id_;
};

json Json(const TestHttpResponse& response) {
  INFO(response.body);
  return json::parse(response.body);
}

// The status code and the google.rpc.Status code and message of an error answer.
void RequireError(const TestHttpResponse& response, int http_status, int grpc_code,
                  const std::string& message_part) {
  INFO(response.status << " " << response.body);
  REQUIRE(response.status == http_status);
  CHECK(response.Header("content-type") == "application/json");
  json body = json::parse(response.body);
  CHECK(body["code"] == grpc_code);
  CHECK(body["details"].is_array());
  CHECK(absl::StrContains(body["message"].get<std::string>(), message_part));
}

TEST_CASE("path templates bind nested, multi-segment and verb routes", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());

  auto book = client.Request("GET", "/v1/shelves/s1/books/b%2F1");
  REQUIRE(book.status == 200);
  json b = Json(book);
  // A multi-segment variable keeps %2F encoded (google/api/http.proto).
  CHECK(b["name"] == "shelves/s1/books/b%2F1");
  CHECK(b["pages"] == "1099511627776");  // int64 as a string
  CHECK(b["genre"] == "GENRE_FICTION");  // enums by name
  CHECK(b["publish_time"] == "1860-01-01T00:00:00Z");
  CHECK(book.Header("content-type") == "application/json");
  CHECK(!book.Header("x-request-id").empty());

  auto published = client.Request("POST", "/v1/shelves/s1/books/b1:publish", R"({"notify":true})");
  REQUIRE(published.status == 200);
  CHECK(Json(published)["title"] == "published, notified");
  CHECK(Json(published)["name"] == "shelves/s1/books/b1");

  // `**` captures the rest of the path; a single-segment variable decodes %2F.
  auto file = client.Request("GET", "/v1/files/a/b/c.txt");
  REQUIRE(file.status == 200);
  CHECK(file.body == "file:a/b/c.txt");
  CHECK(file.Header("content-type") == "text/plain; charset=utf-8");

  auto shelf = client.Request("GET", "/v1/shelves/a%2Fb/books");
  REQUIRE(shelf.status == 200);
  CHECK(Json(shelf)["books"][0]["name"] == "shelves/a/b");

  // A custom HTTP method.
  auto report = client.Request("REPORT", "/v1/reports/r1?format=csv");
  REQUIRE(report.status == 200);
  CHECK(Json(report) == json({{"report_id", "r1"}, {"format", "csv"}}));
}

TEST_CASE("query parameters bind leaf fields strictly", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());

  auto listed = client.Request(
      "GET",
      "/v1/shelves/s1/books?pageSize=25&page_token=a+b%26c&genres=GENRE_POETRY&genres=1"
      "&filter.author=Minna%20Canth&filter.minPages=12&include_drafts=false");
  REQUIRE(listed.status == 200);
  json body = Json(listed);
  CHECK(body["books"][0]["title"] == "Minna Canth");
  CHECK(body["books"][0]["pages"] == "12");
  CHECK(body["books"][0]["authors"] == json({"GENRE_POETRY", "GENRE_FICTION"}));
  // '+' is a space, %26 an ampersand; an explicit false of an optional field is present.
  CHECK(body["next_page_token"] == "25|a b&c|no-drafts");

  // The additional binding reaches the same method.
  auto all = client.Request("GET", "/v1/books?filter.author=x");
  REQUIRE(all.status == 200);
  CHECK(Json(all)["books"][0]["title"] == "x");

  RequireError(client.Request("GET", "/v1/shelves/s1/books?colour=red"), 400, 3,
               "unknown query parameter \"colour\"");
  RequireError(client.Request("GET", "/v1/shelves/s1/books?page_size=ten"), 400, 3,
               "\"ten\" is not an int32");
  RequireError(client.Request("GET", "/v1/shelves/s1/books?page_size=99999999999"), 400, 3,
               "is not an int32");
  RequireError(client.Request("GET", "/v1/shelves/s1/books?genres=GENRE_JAZZ"), 400, 3,
               "GENRE_JAZZ");
  RequireError(client.Request("GET", "/v1/shelves/s1/books?page_size=1&page_size=2"), 400, 3,
               "more than once");
  RequireError(client.Request("GET", "/v1/shelves/s1/books?shelf=s2"), 400, 3,
               "bound by the URL path");
  RequireError(client.Request("GET", "/v1/shelves/s1/books?filter=x"), 400, 3, "is a message");
  RequireError(client.Request("GET", "/v1/shelves/s1/books?filter.author=%ZZ"), 400, 3,
               "percent-encoding");
  // body "*" takes nothing from the query.
  RequireError(client.Request("POST", "/v1/shelves/s1/books/b1:publish?notify=true", "{}"), 400, 3,
               "none from the query");
}

TEST_CASE("every proto3 JSON type round-trips through the body and the query", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  json everything = {
      {"f_double", 1.5},
      {"f_float", -2.25},
      {"f_int32", -7},
      {"f_int64", "-9007199254740993"},
      {"f_uint32", 4000000000u},
      {"f_uint64", "18446744073709551615"},
      {"f_sint32", -3},
      {"f_sint64", "-4"},
      {"f_fixed32", 5},
      {"f_fixed64", "6"},
      {"f_sfixed32", -8},
      {"f_sfixed64", "-9"},
      {"f_bool", true},
      {"f_string", "Älä \"lainaa\"\n\u2028"},
      {"f_bytes", "AAH/"},
      {"f_enum", "GENRE_POETRY"},
      {"f_message", {{"name", "n"}, {"title", "t"}}},
      {"r_int32", {1, 2, 3}},
      {"r_enum", {"GENRE_FICTION"}},
      {"m_string_int32", {{"a", 1}}},
      {"m_int64_book", {{"7", {{"title", "seven"}}}}},
      {"m_bool_string", {{"true", "yes"}}},
      {"o_int32", 0},
      {"c_book", {{"title", "chosen"}}},
      {"t_timestamp", "2024-02-29T12:00:00.500Z"},
      {"t_duration", "-1.000000001s"},
      {"w_int64", "5"},
      {"w_string", "wrapped"},
      {"t_struct", {{"k", {1, "two", nullptr, true}}}},
      {"t_value", {{"nested", {{"x", 1}}}}},
      {"t_list", {1, "a"}},
      {"t_field_mask", "fMessage.title,rInt32"},
      {"t_any", {{"@type", "type.googleapis.com/aurora.testing.v1.Book"}, {"title", "any"}}},
      {"t_empty", json::object()},
      {"r_double", {"NaN", "Infinity", 0.1}},
  };
  auto echoed = client.Request("POST", "/v1/echo", everything.dump());
  REQUIRE(echoed.status == 200);
  json out = Json(echoed);
  for (auto& [key, value] : everything.items()) {
    INFO(key);
    // Messages come back with their defaults printed; checked below.
    if (key == "f_message" || key == "c_book" || key == "t_any" || key == "m_int64_book") continue;
    CHECK(out[key] == value);
  }
  CHECK(out["f_message"]["title"] == "t");
  CHECK(out["f_message"]["pages"] == "0");  // fields without presence always printed
  CHECK(out["c_book"]["title"] == "chosen");
  CHECK(out["m_int64_book"]["7"]["title"] == "seven");
  CHECK(out["m_int64_book"]["7"]["pages"] == "0");
  CHECK(out["t_any"]["@type"] == "type.googleapis.com/aurora.testing.v1.Book");
  CHECK(out["t_any"]["title"] == "any");
  CHECK(!out.contains("o_string"));  // an unset optional is left out
  CHECK(!out.contains("c_string"));  // so is the unset member of a oneof
  CHECK(out["r_string"] == json::array());
  CHECK(out["f_int32"] == -7);

  // lowerCamel names are accepted too.
  auto camel = client.Request("POST", "/v1/echo", R"({"fInt32": 3, "rString": ["x"]})");
  REQUIRE(camel.status == 200);
  CHECK(Json(camel)["f_int32"] == 3);
  CHECK(Json(camel)["r_string"] == json({"x"}));

  auto query = client.Request(
      "GET",
      "/v1/echo?f_double=-0.5&f_int64=-9007199254740993&f_uint64=18446744073709551615&f_bool=true"
      "&f_bytes=AAH_&f_enum=2&r_string=a&r_string=b&nested.author=k&o_int32=0&f_float=Infinity");
  REQUIRE(query.status == 200);
  json q = Json(query);
  CHECK(q["f_double"] == -0.5);
  CHECK(q["f_int64"] == "-9007199254740993");
  CHECK(q["f_uint64"] == "18446744073709551615");
  CHECK(q["f_bool"] == true);
  CHECK(q["f_bytes"] == "AAH/");
  CHECK(q["f_enum"] == "GENRE_POETRY");
  CHECK(q["r_string"] == json({"a", "b"}));
  CHECK(q["nested"]["author"] == "k");
  CHECK(q["o_int32"] == 0);
  CHECK(q["f_float"] == "Infinity");
  RequireError(client.Request("GET", "/v1/echo?m_string_int32=1"), 400, 3, "map");
  RequireError(client.Request("GET", "/v1/echo?f_bool=yes"), 400, 3, "is not a bool");
}

TEST_CASE("bad bodies get 400 naming the problem and reach no service", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  RequireError(client.Request("POST", "/v1/echo", R"({"f_int32": 1,)"), 400, 3, "line 1, column");
  RequireError(client.Request("POST", "/v1/echo", "{\n  \"f_int32\": 1\n  \"f_bool\": true}"), 400,
               3, "line 3");
  RequireError(client.Request("POST", "/v1/echo", R"({"f_int32": "seven"})"), 400, 3,
               "field \"f_int32\"");
  RequireError(client.Request("POST", "/v1/echo", R"({"f_message": {"colour": 1}})"), 400, 3,
               "unknown field \"f_message.colour\"");
  RequireError(client.Request("POST", "/v1/echo", R"({"nope": 1})"), 400, 3,
               "unknown field \"nope\"");
  RequireError(client.Request("POST", "/v1/echo", "[1, 2]"), 400, 3, "JSON object");
  RequireError(client.Request("POST", "/v1/echo", "{\"f_string\": \"\xff\xfe\"}"), 400, 3, "UTF-8");
  RequireError(client.Request("POST", "/v1/echo", R"({"f_int64": "9223372036854775808"})"), 400, 3,
               "f_int64");
  RequireError(client.Request("GET", "/v1/shelves/s1/books/b1", "{}"), 400, 3, "takes no body");
}

TEST_CASE("named bodies, response_body and HttpBody", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  auto updated = client.Request("PATCH", "/v1/shelves/s1/books/b9?update_mask=title,genre",
                                R"({"name": "ignored", "title": "Uusi"})");
  REQUIRE(updated.status == 200);
  json u = Json(updated);
  CHECK(u["name"] == "shelves/s1/books/b9");  // the path wins over the body
  CHECK(u["title"] == "Uusi");

  auto titles = client.Request("GET", "/v1/shelves/s7/titles");
  REQUIRE(titles.status == 200);
  CHECK(Json(titles) == json({"s7-1", "s7-2"}));

  auto cover = client.Request("GET", "/v1/shelves/s1/books/b1/cover");
  REQUIRE(cover.status == 200);
  CHECK(cover.Header("content-type") == "image/png");
  CHECK(cover.body == std::string("\x89PNG\r\n\x1a\n\0\xff", 10));
}

TEST_CASE("errors follow the status table with a google.rpc.Status body", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  const std::vector<std::pair<int, int>> table = {
      {1, 499}, {2, 500},  {3, 400},  {4, 504},  {5, 404},  {6, 409},  {7, 403},  {8, 429},
      {9, 400}, {10, 409}, {11, 400}, {12, 501}, {13, 500}, {14, 503}, {15, 500}, {16, 401}};
  for (auto [code, http] : table) {
    INFO("grpc code " << code);
    auto response = client.Request("POST", "/v1/fail/" + std::to_string(code),
                                   R"({"message": "failed \"on purpose\""})");
    RequireError(response, http, code, "failed \"on purpose\"");
    if (code == 16) CHECK(!response.Header("www-authenticate").empty());
    if (code == 8 || code == 14) CHECK(response.Header("retry-after") == "1");
  }
  auto detailed = client.Request("POST", "/v1/fail/9", R"({"message": "m", "with_details": true})");
  REQUIRE(detailed.status == 400);
  json d = Json(detailed);
  REQUIRE(d["details"].size() == 1);
  CHECK(d["details"][0]["@type"] == "type.googleapis.com/aurora.testing.v1.Book");
  CHECK(d["details"][0]["name"] == "shelves/s1/books/detail");

  RequireError(client.Request("GET", "/v1/shelves/s1/books/missing"), 404, 5, "missing");
  auto not_found = client.Request("GET", "/v2/nothing");
  RequireError(not_found, 404, 5, "no route");
  auto wrong_method = client.Request("DELETE", "/v1/echo");
  RequireError(wrong_method, 405, 12, "not allowed");
  CHECK(wrong_method.Header("allow") == "GET, POST");
}

TEST_CASE("strict_json routes refuse loosely typed bodies with 400", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  auto refused = client.Request("POST", "/v1/echo:strict", R"({"f_message": {"pages": "5"}})");
  RequireError(refused, 400, 3,
               R"(request body: field "f_message.pages": expected a JSON integer, got "5")");
  RequireError(client.Request("POST", "/v1/echo:strict", R"({"f_int32": 2.5})"), 400, 3,
               R"(field "f_int32": expected a JSON integer, got 2.5)");
  RequireError(client.Request("POST", "/v1/echo:strict", R"({"f_bool": 1})"), 400, 3,
               R"(field "f_bool": expected a JSON boolean, got 1)");
  RequireError(client.Request("POST", "/v1/echo:strict", R"({"r_string": ["a", null]})"), 400, 3,
               R"(field "r_string[1]": expected a JSON string, got null)");
  RequireError(client.Request("POST", "/v1/echo:strictMessage", R"({"title": null})"), 400, 3,
               R"(field "f_message.title": expected a JSON string, got null)");
  RequireError(client.Request("POST", "/v1/echo:strict", R"({"colour": 1})"), 400, 3,
               R"(unknown field "colour")");

  auto taken = client.Request(
      "POST", "/v1/echo:strict",
      R"({"f_int32": 5, "f_int64": 6, "f_double": 1e3, "f_bool": true, "t_value": null,
          "f_message": {"title": "t", "authors": ["a"]}, "m_string_int32": {"k": -1}})");
  REQUIRE(taken.status == 200);
  json t = Json(taken);
  CHECK(t["f_int32"] == 5);
  CHECK(t["f_int64"] == "6");
  CHECK(t["f_double"] == 1000.0);
  CHECK(t["f_bool"] == true);
  CHECK(t["t_value"].is_null());
  CHECK(t["f_message"]["authors"] == json({"a"}));
  CHECK(t["m_string_int32"] == json({{"k", -1}}));

  // The same bodies on a route without the option are converted as the JSON mapping says.
  auto lenient = client.Request("POST", "/v1/echo", R"({"f_int32": "5", "f_bool": null})");
  REQUIRE(lenient.status == 200);
  CHECK(Json(lenient)["f_int32"] == 5);
}

TEST_CASE("a service sets the status and Location of a successful answer", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  const std::string open = "/v1/shelves/s1/books/b1:open";

  // A redirect with an empty HttpBody, from the initial metadata.
  auto found =
      client.Request("GET", open + "?status=302&location=https%3A%2F%2Fbooks.example%2Fb1%3Fp%3D1");
  CHECK(found.status == 302);
  CHECK(found.Header("location") == "https://books.example/b1?p=1");
  CHECK(found.body.empty());
  CHECK(found.Header("content-length") == "0");
  CHECK(!found.Header("x-request-id").empty());
  CHECK(!found.HasHeader("x-aurora-http-status"));  // metadata is not copied into headers
  CHECK(!found.HasHeader("x-aurora-http-location"));

  // From the trailing metadata, with a body.
  const std::string see_other_query =
      "?trailing=true&status=303&location=/v1/shelves/s1/books/b1&content=see+there"
      "&content_type=text/plain";
  auto see_other = client.Request("GET", open + see_other_query);
  CHECK(see_other.status == 303);
  CHECK(see_other.Header("location") == "/v1/shelves/s1/books/b1");
  CHECK(see_other.Header("content-type") == "text/plain");
  CHECK(see_other.body == "see there");

  // Another 2xx: the status, but no Location (it goes only with 3xx).
  auto created = client.Request(
      "GET", open + "?status=201&location=/elsewhere&content=%7B%7D&content_type=application/json");
  CHECK(created.status == 201);
  CHECK(!created.HasHeader("location"));
  CHECK(created.body == "{}");
  auto not_modified = client.Request("GET", open + "?status=304");
  CHECK(not_modified.status == 304);
  CHECK(!not_modified.HasHeader("location"));

  // Statuses outside 200-399 are ignored (and logged): the answer is the usual 200.
  for (const char* status : {"404", "500", "199", "600", "abc", "3020"}) {
    INFO(status);
    for (const char* trailing : {"false", "true"}) {
      auto ignored = client.Request("GET", open + "?status=" + status + "&trailing=" + trailing +
                                               "&location=/x&content=body");
      CHECK(ignored.status == 200);
      CHECK(!ignored.HasHeader("location"));
      CHECK(ignored.body == "body");
    }
  }
  // No metadata: 200, as always; a request header of the same name changes nothing.
  auto plain = client.Request("GET", open + "?content=plain", "",
                              {{"X-Aurora-Http-Status", "302"}, {"X-Aurora-Http-Location", "/x"}});
  CHECK(plain.status == 200);
  CHECK(!plain.HasHeader("location"));
  CHECK(plain.body == "plain");

  auto metrics = client.Request("GET", "/metrics");
  CHECK(absl::StrContains(
      metrics.body,
      R"(aurora_http_requests_total{code="302",route="GET /v1/{name=shelves/*/books/*}:open"} 1)"));
}

TEST_CASE("Retry-After comes from the service's trailing metadata", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  auto fail = [&](int code, const std::string& retry_after) {
    json body = {{"message", "busy"}};
    if (!retry_after.empty()) body["retry_after"] = retry_after;
    return client.Request("POST", "/v1/fail/" + std::to_string(code), body.dump());
  };
  auto exhausted = fail(8, "30");
  RequireError(exhausted, 429, 8, "busy");
  CHECK(exhausted.Header("retry-after") == "30");
  CHECK(fail(14, "0").Header("retry-after") == "0");
  CHECK(fail(14, "3600").Header("retry-after") == "3600");
  // Not a whole number of seconds from 0 to 3600: ignored (and logged), the default stays.
  for (const char* bad : {"3601", "-1", "1.5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"}) {
    INFO(bad);
    auto response = fail(14, bad);
    CHECK(response.status == 503);
    CHECK(response.Header("retry-after") == "1");
  }
  CHECK(fail(8, "").Header("retry-after") == "1");
  // Only RESOURCE_EXHAUSTED and UNAVAILABLE answers carry it.
  auto invalid = fail(9, "30");
  CHECK(invalid.status == 400);
  CHECK(!invalid.HasHeader("retry-after"));
}

TEST_CASE("server streaming as NDJSON and SSE, with an error record", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());

  auto ndjson = client.Request("GET", "/v1/shelves/s3:watch?count=3");
  REQUIRE(ndjson.status == 200);
  CHECK(ndjson.Header("content-type") == "application/x-ndjson");
  CHECK(ndjson.Header("transfer-encoding") == "chunked");
  std::vector<std::string> lines = absl::StrSplit(ndjson.body, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 3);
  CHECK(json::parse(lines[2])["name"] == "shelves/s3/books/2");
  CHECK(json::parse(lines[0])["title"] == "line\nbreak 0");  // a newline stays inside its record

  client.SendRequest("GET", "/v1/shelves/s3:watch?count=2", "", {{"Accept", "text/event-stream"}});
  auto head = client.ReadResponseHead();
  REQUIRE(head.status == 200);
  CHECK(head.Header("content-type") == "text/event-stream");
  std::string sse;
  while (auto chunk = client.ReadChunk()) {
    CHECK(absl::StartsWith(*chunk, "data: "));  // one flushed chunk per message
    CHECK(absl::EndsWith(*chunk, "\n\n"));
    sse += *chunk;
  }
  CHECK(absl::StrContains(sse, R"("name":"shelves/s3/books/1")"));

  auto failed = client.Request("GET", "/v1/shelves/s4:watch?count=5&fail_after=2&fail_code=14");
  REQUIRE(failed.status == 200);  // the error came after the first message
  std::vector<std::string> records = absl::StrSplit(failed.body, '\n', absl::SkipEmpty());
  REQUIRE(records.size() == 3);
  json error = json::parse(records[2]);
  CHECK(error["error"]["code"] == 14);
  CHECK(error["error"]["message"] == "the shelf burned down");

  auto failed_sse = client.Request("GET", "/v1/shelves/s4:watch?count=5&fail_after=1&fail_code=13",
                                   "", {{"Accept", "text/event-stream"}});
  CHECK(absl::StrContains(failed_sse.body, "event: error\ndata: {\"code\":13"));

  // An error before the first message keeps its HTTP status.
  RequireError(client.Request("GET", "/v1/shelves/s5:watch?count=5&fail_after=0&fail_code=5"), 404,
               5, "burned");
}

TEST_CASE("a client that goes away cancels the upstream stream", "[gateway]") {
  LibraryNode node;
  {
    TestHttpClient client(node.port());
    client.SendRequest("GET", "/v1/shelves/s6:watch?count=0");  // open until cancelled
    // No message comes, so no response head either: the client leaves while the call waits.
    for (int i = 0; i < 500 && node.library().started_watches() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(node.library().started_watches() == 1);
  }
  for (int i = 0; i < 200 && node.library().cancelled_watches() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(node.library().cancelled_watches() == 1);
}

TEST_CASE("client streaming takes a JSON array or NDJSON", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  auto array = client.Request("POST", "/v1/books:upload",
                              R"([{"title": "a", "name": "1"}, {"title": "b"}])");
  REQUIRE(array.status == 200);
  CHECK(Json(array) == json({{"count", 2}, {"titles", {"a@1", "b@"}}}));
  auto lines =
      client.Request("POST", "/v1/books:upload", "{\"title\": \"x\"}\n\n{\"title\": \"y\"}\n");
  REQUIRE(lines.status == 200);
  CHECK(Json(lines)["count"] == 3 - 1);
  RequireError(client.Request("POST", "/v1/books:upload", "{\"title\": \"x\"}\n{\"colour\": 1}"),
               400, 3, "message 2");
}

TEST_CASE("API client and Bearer authentication", "[gateway]") {
  LibraryNode node;
  std::string organization;
  std::string basic = node.RegisterClient(&organization);
  TestHttpClient client(node.port());

  auto anonymous = client.Request("POST", "/v1/shelves/s1/books", R"({"title": "t"})");
  RequireError(anonymous, 401, 16, "Authorization: Basic");
  CHECK(absl::StartsWith(anonymous.Header("www-authenticate"), "Basic realm=\"aurora\""));

  auto created = client.Request("POST", "/v1/shelves/s1/books?request_id=r1", R"({"title": "t"})",
                                {{"Authorization", basic}});
  REQUIRE(created.status == 200);
  json book = Json(created);
  CHECK(book["name"] == "shelves/s1/books/r1");
  // The caller identity reaches the service as metadata.
  CHECK(book["authors"] == json({"org:" + organization, "client:" + node.client_id()}));

  // Cached: the same credentials again, many times.
  for (int i = 0; i < 20; ++i) {
    REQUIRE(
        client.Request("POST", "/v1/shelves/s1/books", "{}", {{"Authorization", basic}}).status ==
        200);
  }
  auto wrong = client.Request("POST", "/v1/shelves/s1/books", "{}",
                              {{"Authorization", Basic(node.client_id(), "wrong-secret")}});
  RequireError(wrong, 401, 16, "invalid API client credentials");
  RequireError(
      client.Request("POST", "/v1/shelves/s1/books", "{}", {{"Authorization", "Basic !!!"}}), 401,
      16, "Basic");
  // HTTP callers cannot pose as an organisation through headers.
  auto spoofed =
      client.Request("POST", "/v1/shelves/s1/books", "{}",
                     {{"Authorization", basic}, {"X-Aurora-Organization-Id", "someone-else"}});
  REQUIRE(spoofed.status == 200);
  CHECK(Json(spoofed)["authors"][0] == "org:" + organization);

  auto no_token = client.Request("GET", "/v1/whoami");
  RequireError(no_token, 401, 16, "Bearer");
  CHECK(absl::StartsWith(no_token.Header("www-authenticate"), "Bearer"));
  auto who = client.Request("GET", "/v1/whoami", "",
                            {{"Authorization", "Bearer abc.def-ghi"}, {"X-Request-Id", "req-42"}});
  REQUIRE(who.status == 200);
  json w = Json(who);
  CHECK(w["authorization"] == "Bearer abc.def-ghi");
  CHECK(w["request_id"] == "req-42");
  CHECK(who.Header("x-request-id") == "req-42");
  CHECK(w["organization_id"] == "");
  // The route's default deadline is 1.5 s (gRPC's coarse clocks may add a few milliseconds).
  CHECK(std::stoll(w["deadline_ms"].get<std::string>()) <= 1500 + 50);
  CHECK(std::stoll(w["deadline_ms"].get<std::string>()) > 1000);
  auto expired = client.Request("GET", "/v1/whoami", "", {{"Authorization", "Bearer expired"}});
  RequireError(expired, 401, 16, "expired");
  CHECK(absl::StartsWith(expired.Header("www-authenticate"), "Bearer"));
}

TEST_CASE("deadlines come from the caller, capped", "[gateway]") {
  gateway::GatewayOptions options;
  options.max_timeout = absl::Seconds(3);
  LibraryNode node(options);
  TestHttpClient client(node.port());
  auto deadline_of = [&](const TestHttpHeaders& headers) {
    TestHttpHeaders with_token = headers;
    with_token.push_back({"Authorization", "Bearer t"});
    auto response = client.Request("GET", "/v1/whoami", "", with_token);
    REQUIRE(response.status == 200);
    return std::stoll(Json(response)["deadline_ms"].get<std::string>());
  };
  // What is left when the service reads it depends on the machine's load; the caller's 200 ms,
  // not the 10 s default, is what the upper bound shows.
  int64_t grpc_timeout = deadline_of({{"grpc-timeout", "200m"}});
  CHECK(grpc_timeout <= 200 + 50);
  CHECK(grpc_timeout > 0);
  int64_t seconds = deadline_of({{"X-Request-Timeout", "2.5"}});
  CHECK(seconds <= 2500 + 50);
  CHECK(seconds > 2000);
  int64_t capped = deadline_of({{"X-Request-Timeout", "60"}});
  CHECK(capped <= 3000 + 50);
  CHECK(capped > 2500);
  RequireError(client.Request("GET", "/v1/whoami", "",
                              {{"Authorization", "Bearer t"}, {"grpc-timeout", "soon"}}),
               400, 3, "grpc-timeout");
  RequireError(client.Request("GET", "/v1/whoami", "",
                              {{"Authorization", "Bearer t"}, {"X-Request-Timeout", "-1"}}),
               400, 3, "X-Request-Timeout");
}

TEST_CASE("reserved metadata keys are never forwarded from HTTP headers", "[gateway]") {
  gateway::GatewayOptions options;
  options.forwarded_headers = {"Accept-Language",        "X-Aurora-Organization-Id",
                               "x-aurora-client-id",     "x-aurora-http-status",
                               "X-Aurora-Http-Location", "retry-after"};
  LibraryNode node(options);
  TestHttpClient client(node.port());
  auto who = client.Request("GET", "/v1/whoami", "",
                            {{"Authorization", "Bearer t"},
                             {"Accept-Language", "fi"},
                             {"X-Aurora-Organization-Id", "someone"},
                             {"X-Aurora-Client-Id", "someone"},
                             {"X-Aurora-Http-Status", "302"},
                             {"X-Aurora-Http-Location", "/x"},
                             {"Retry-After", "5"}});
  REQUIRE(who.status == 200);
  json keys = Json(who)["metadata_keys"];
  INFO(keys.dump());
  CHECK(std::find(keys.begin(), keys.end(), "accept-language") != keys.end());
  for (const char* reserved : {"x-aurora-organization-id", "x-aurora-client-id",
                               "x-aurora-http-status", "x-aurora-http-location", "retry-after"}) {
    CHECK(std::find(keys.begin(), keys.end(), reserved) == keys.end());
  }
  CHECK(Json(who)["organization_id"] == "");
}

TEST_CASE("CORS is off by default and follows the allow-list", "[gateway]") {
  {
    LibraryNode node;
    TestHttpClient client(node.port());
    auto response = client.Request("GET", "/v1/books", "", {{"Origin", "https://evil.example"}});
    REQUIRE(response.status == 200);
    CHECK(!response.HasHeader("access-control-allow-origin"));
  }
  gateway::GatewayOptions options;
  options.cors_origins = {"https://app.example"};
  LibraryNode node(options);
  TestHttpClient client(node.port());
  auto preflight = client.Request("OPTIONS", "/v1/shelves/s1/books", "",
                                  {{"Origin", "https://app.example"},
                                   {"Access-Control-Request-Method", "POST"},
                                   {"Access-Control-Request-Headers", "authorization"}});
  REQUIRE(preflight.status == 204);
  CHECK(preflight.Header("access-control-allow-origin") == "https://app.example");
  CHECK(preflight.Header("access-control-allow-methods") == "GET, POST");
  CHECK(absl::StrContains(preflight.Header("access-control-allow-headers"), "Authorization"));
  auto simple = client.Request("GET", "/v1/books", "", {{"Origin", "https://app.example"}});
  CHECK(simple.Header("access-control-allow-origin") == "https://app.example");
  CHECK(simple.Header("vary") == "Origin");
  auto denied = client.Request(
      "OPTIONS", "/v1/books", "",
      {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}});
  RequireError(denied, 403, 7, "not allowed");
  CHECK(!denied.HasHeader("access-control-allow-origin"));
}

TEST_CASE("built-in health, metrics, OpenAPI and docs", "[gateway]") {
  LibraryNode node;
  TestHttpClient client(node.port());
  CHECK(client.Request("GET", "/healthz").status == 200);
  auto ready = client.Request("GET", "/readyz");
  CHECK(ready.status == 200);
  CHECK(Json(ready)["status"] == "SERVING");
  REQUIRE(client.Request("GET", "/v1/shelves/s1/books/b1").status == 200);
  client.Request("GET", "/v1/shelves/s1/books/missing");
  auto metrics = client.Request("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(absl::StrContains(
      metrics.body,
      R"(aurora_http_requests_total{code="200",route="GET /v1/{name=shelves/*/books/*}"} 1)"));
  CHECK(absl::StrContains(
      metrics.body,
      R"(aurora_http_requests_total{code="404",route="GET /v1/{name=shelves/*/books/*}"} 1)"));
  CHECK(absl::StrContains(metrics.body, "aurora_http_request_duration_seconds_bucket"));
  CHECK(absl::StrContains(metrics.body, "aurora_http_requests_in_flight"));
  CHECK(absl::StrContains(metrics.body, "aurora_http_response_bytes_total"));
  auto openapi = client.Request("GET", "/openapi.json");
  REQUIRE(openapi.status == 200);
  json document = Json(openapi);
  CHECK(document["openapi"] == "3.0.3");
  CHECK(document["paths"].contains("/v1/{name}:publish"));
  auto docs = client.Request("GET", "/docs");
  REQUIRE(docs.status == 200);
  CHECK(absl::StartsWith(docs.Header("content-type"), "text/html"));
  RequireError(client.Request("POST", "/healthz"), 405, 12, "allowed: GET");
}

}  // namespace
}  // namespace aurora::testing
