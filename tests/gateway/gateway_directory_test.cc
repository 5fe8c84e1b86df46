// The gateway in front of the real directory service (RocksDB in a temp dir, real gRPC and HTTP
// sockets): the REST face of the directory, its authorization rules, its change feed as NDJSON and
// SSE, and bad input that must change nothing.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../directory/directory_test_support.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/text.h"
#include "gateway/gateway.h"
#include "google/protobuf/util/json_util.h"
#include "http_test_client.h"

namespace aurora::testing {
namespace {

using nlohmann::json;

class DirectoryGateway {
 public:
  DirectoryGateway() : DirectoryGateway(gateway::GatewayOptions()) {}
  explicit DirectoryGateway(gateway::GatewayOptions options) {
    auto created =
        gateway::Gateway::Create(options, server_.channel(), server_.metrics().shared_registry());
    REQUIRE(created.ok());
    gateway_ = std::move(*created);
    REQUIRE(gateway_->Start("127.0.0.1:0").ok());
  }
  ~DirectoryGateway() { gateway_->Shutdown(absl::Seconds(1)); }

  DirectoryServer& server() { return server_; }
  int port() const { return gateway_->port(); }

  // A new organisation and an API client of it: {organisation id, "Basic ..."}.
  std::pair<std::string, std::string> Client() {
    std::string organization = RegisterOrganization(server_.stub());
    grpc::ClientContext context;
    v1::RegisterApiClientRequest request;
    request.set_organization_id(organization);
    request.set_display_name("REST client");
    v1::ApiClientCredentials credentials;
    REQUIRE(server_.stub().RegisterApiClient(&context, request, &credentials).ok());
    return {organization, "Basic " + absl::Base64Escape(credentials.client().client_id() + ":" +
                                                        credentials.client_secret())};
  }

 private:
  DirectoryServer server_;
  std::unique_ptr<gateway::Gateway> gateway_;
};

std::string ServiceJson(const v1::Service& service) {
  std::string out;
  REQUIRE(google::protobuf::util::MessageToJsonString(service, &out).ok());
  return out;
}

json Json(const TestHttpResponse& response) {
  INFO(response.status << " " << response.body);
  return json::parse(response.body);
}

TEST_CASE("the directory's REST face: create, list, get, update, delete", "[gateway]") {
  DirectoryGateway node;
  auto [organization, basic] = node.Client();
  TestHttpClient client(node.port());
  TestHttpHeaders auth = {{"Authorization", basic}, {"Content-Type", "application/json"}};

  auto created =
      client.Request("POST", "/v1/services", ServiceJson(MakeService("", organization)), auth);
  REQUIRE(created.status == 200);
  json service = Json(created);
  std::string id = service["id"];
  CHECK(IsCanonicalUuid(id));
  CHECK(service["organization_id"] == organization);
  CHECK(service["revision"].is_string());  // int64 as a string
  std::string revision = service["revision"];

  // List with filters from the query: nested (area.*), repeated, enum-free.
  auto listed = client.Request(
      "GET", "/v1/services?area.municipality_codes=091&service_classes=P10&page.page_size=5");
  REQUIRE(listed.status == 200);
  json page = Json(listed);
  REQUIRE(page["services"].size() == 1);
  CHECK(page["services"][0]["id"] == id);
  auto elsewhere = client.Request("GET", "/v1/services?area.municipality_codes=049");
  REQUIRE(elsewhere.status == 200);
  CHECK(Json(elsewhere)["services"].empty());
  // The POST binding of the same method takes the filter as a body.
  auto searched =
      client.Request("POST", "/v1/services:search", R"({"area": {"municipality_codes": ["091"]}})");
  REQUIRE(searched.status == 200);
  CHECK(Json(searched)["services"].size() == 1);

  auto got = client.Request("GET", "/v1/services/" + id);
  REQUIRE(got.status == 200);
  CHECK(Json(got)["name"]["fi"] == "Nuorten työpaja");

  // Update with a stale revision: ABORTED -> 409; nothing changes.
  v1::Service changed = MakeService(id, organization);
  changed.mutable_name()->set_fi("Nuorten työpaja ja kahvila");
  // The body is the service; expected_revision comes from the query and is required.
  auto unversioned = client.Request("PUT", "/v1/services/" + id, ServiceJson(changed), auth);
  CHECK(unversioned.status == 400);
  auto stale = client.Request("PUT", "/v1/services/" + id + "?expected_revision=1",
                              ServiceJson(changed), auth);
  REQUIRE(stale.status == 409);
  CHECK(Json(stale)["code"] == 10);
  CHECK(Json(client.Request("GET", "/v1/services/" + id))["name"]["fi"] == "Nuorten työpaja");
  auto fresh = client.Request("PUT", "/v1/services/" + id + "?expected_revision=" + revision,
                              ServiceJson(changed), auth);
  REQUIRE(fresh.status == 200);
  CHECK(Json(fresh)["name"]["fi"] == "Nuorten työpaja ja kahvila");

  // Another organisation's client may not touch it.
  auto [other_organization, other_basic] = node.Client();
  auto foreign =
      client.Request("DELETE", "/v1/services/" + id, "", {{"Authorization", other_basic}});
  REQUIRE(foreign.status == 403);
  CHECK(Json(foreign)["code"] == 7);
  auto foreign_create =
      client.Request("POST", "/v1/services", ServiceJson(MakeService("", organization)),
                     {{"Authorization", other_basic}});
  CHECK(foreign_create.status == 403);
  // And nobody registers organisations over HTTP.
  auto organization_attempt =
      client.Request("POST", "/v1/organizations", R"({"name": {"fi": "Uusi"}})", auth);
  CHECK(organization_attempt.status == 403);

  auto deleted = client.Request("DELETE", "/v1/services/" + id, "", auth);
  REQUIRE(deleted.status == 200);
  auto gone = client.Request("GET", "/v1/services/" + id);
  CHECK(gone.status == 404);
  CHECK(Json(gone)["code"] == 5);
}

TEST_CASE("bad input through the gateway changes nothing", "[gateway]") {
  gateway::GatewayOptions options;
  options.http.max_body_bytes = 64 << 10;
  DirectoryGateway node(options);
  auto [organization, basic] = node.Client();
  const int64_t before = node.server().store().durable_revision();
  TestHttpHeaders auth = {{"Authorization", basic}};
  std::string good = ServiceJson(MakeService("", organization));
  {
    TestHttpClient client(node.port());
    auto truncated = client.Request("POST", "/v1/services", good.substr(0, good.size() / 2), auth);
    CHECK(truncated.status == 400);
    CHECK(absl::StrContains(Json(truncated)["message"].get<std::string>(), "column"));
    auto wrong_type = client.Request("POST", "/v1/services", R"({"name": 5})", auth);
    CHECK(wrong_type.status == 400);
    auto unknown = client.Request("POST", "/v1/services", R"({"colour": "red"})", auth);
    CHECK(unknown.status == 400);
    CHECK(absl::StrContains(Json(unknown)["message"].get<std::string>(), "colour"));
    auto invalid = client.Request("POST", "/v1/services", R"({"name": {"fi": ""}})", auth);
    CHECK(invalid.status == 400);  // the directory's own validation
    std::string latin1 = good;
    latin1.replace(latin1.find("ty\xc3\xb6"), 4, "ty\xf6");  // "työ" in Latin-1
    CHECK(client.Request("POST", "/v1/services", latin1, auth).status == 400);
    auto unknown_param = client.Request("GET", "/v1/services?municipality=091");
    CHECK(unknown_param.status == 400);
  }
  {
    TestHttpClient client(node.port());
    auto oversize =
        client.Request("POST", "/v1/services", std::string(100 << 10, ' ') + good, auth);
    CHECK(oversize.status == 413);
    CHECK(Json(oversize)["code"].is_number());
  }
  CHECK(node.server().store().durable_revision() == before);
}

TEST_CASE("the change feed streams as NDJSON and as SSE", "[gateway]") {
  DirectoryGateway node;
  auto [organization, basic] = node.Client();
  const int64_t start = node.server().store().durable_revision();
  TestHttpClient writer(node.port());
  for (int i = 0; i < 2; ++i) {
    REQUIRE(writer
                .Request("POST", "/v1/services", ServiceJson(MakeService("", organization)),
                         {{"Authorization", basic}})
                .status == 200);
  }

  for (bool sse : {false, true}) {
    INFO("sse " << sse);
    TestHttpClient watcher(node.port());
    TestHttpHeaders headers;
    if (sse) headers.push_back({"Accept", "text/event-stream"});
    watcher.SendRequest("GET", "/v1/directory:watch?after_revision=" + std::to_string(start), "",
                        headers);
    auto head = watcher.ReadResponseHead();
    REQUIRE(head.status == 200);
    CHECK(head.Header("content-type") == (sse ? "text/event-stream" : "application/x-ndjson"));
    // The two stored changes arrive, then a live one as it is committed.
    std::vector<json> events;
    auto read_events = [&](size_t want) {
      while (events.size() < want) {
        auto chunk = watcher.ReadChunk();
        REQUIRE(chunk.has_value());
        std::string record = *chunk;
        if (sse) {
          REQUIRE(absl::StartsWith(record, "data: "));
          record = record.substr(6);
        }
        json message = json::parse(record);
        for (const auto& event : message["events"]) events.push_back(event);
      }
    };
    read_events(2);
    CHECK(events[0]["type"] == "TYPE_SERVICE_PUT");
    CHECK(events[0]["revision"] == std::to_string(start + 1));
    REQUIRE(writer
                .Request("POST", "/v1/services", ServiceJson(MakeService("", organization)),
                         {{"Authorization", basic}})
                .status == 200);
    read_events(3);
    CHECK(events[2]["service"]["organization_id"] == organization);
  }

  // Ahead of the directory: an error before any message keeps its status (OUT_OF_RANGE -> 400).
  TestHttpClient client(node.port());
  auto ahead = client.Request("GET", "/v1/directory:watch?after_revision=999999");
  CHECK(ahead.status == 400);
  CHECK(Json(ahead)["code"] == 11);
}

TEST_CASE("a slow-loris connection is closed after the header timeout", "[gateway]") {
  gateway::GatewayOptions options;
  options.http.header_timeout = absl::Milliseconds(300);
  DirectoryGateway node(options);
  TestHttpClient client(node.port());
  client.SendRaw("GET /v1/services HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  auto response = client.ReadResponse();
  CHECK(response.status == 408);
  CHECK(Json(response)["code"] == 4);
  CHECK(client.WaitClosed(std::chrono::seconds(5)));
}

}  // namespace
}  // namespace aurora::testing
