// Tests of the Discovery service (src/network/discovery_service.*) through its generated stub on
// an in-process GrpcServer: answers from the registry copy, FAILED_PRECONDITION without a valid
// one, input validation naming the field and value, who may list whose allowed methods, and the
// OpenAPI description of a member's service (gateway RouteTable with grpc_paths), cached per
// revision.

#include "network/discovery_service.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/caller.h"
#include "common/server.h"
#include "gateway/route_table.h"
#include "registry_fixture.h"

namespace aurora::network {
namespace {

using Catch::Matchers::Contains;
using testing::kBenefits;
using testing::kMaps;
using testing::kOrgA;
using testing::kOrgB;
using testing::kOrgC;
using testing::kOrgD;
using testing::kStranger;
using testing::RequireOk;
using testing::SampleSnapshot;

v1::SignedRegistry Unsigned(const v1::RegistrySnapshot& snapshot) {
  v1::SignedRegistry copy;
  copy.set_snapshot(snapshot.SerializeAsString());
  return copy;
}

// Organisation A's node with Discovery over an unsigned registry copy (no CA: in-process).
struct DiscoveryNode {
  DiscoveryNode() : discovery(&copy, kOrgA) {
    server.AddService(&discovery, v1::Discovery::service_full_name());
    RequireOk(server.Start("127.0.0.1:0", nullptr));
    server.SetServing(true);
    stub = v1::Discovery::NewStub(server.InProcessChannel());
  }
  ~DiscoveryNode() { server.Shutdown(absl::ZeroDuration()); }

  RegistryCopy copy{RegistryCopyOptions{}};
  DiscoveryService discovery;
  GrpcServer server;
  std::unique_ptr<v1::Discovery::Stub> stub;
};

// A client context for a caller of `organization` (empty: an operator, no metadata).
std::unique_ptr<grpc::ClientContext> As(const std::string& organization = "") {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!organization.empty()) context->AddMetadata(kCallerOrganizationMetadata, organization);
  return context;
}

void CheckStatus(const grpc::Status& status, grpc::StatusCode code, const std::string& fragment) {
  INFO(status.error_message());
  CHECK(status.error_code() == code);
  CHECK_THAT(status.error_message(), Contains(fragment));
}

struct Allowed {
  grpc::Status status;
  v1::ListAllowedMethodsResponse response;
  std::vector<std::string> paths;
};

Allowed ListAllowed(DiscoveryNode& node, const std::string& caller,
                    const std::string& organization_id = "") {
  v1::ListAllowedMethodsRequest request;
  request.set_organization_id(organization_id);
  Allowed out;
  out.status = node.stub->ListAllowedMethods(As(caller).get(), request, &out.response);
  for (const auto& m : out.response.methods()) out.paths.push_back(m.path() + " " + m.grant());
  return out;
}

TEST_CASE("discovery needs a valid registry copy", "[network][discovery]") {
  DiscoveryNode node;
  const auto check_all = [&](const std::string& fragment) {
    v1::ListMembersResponse members;
    CheckStatus(node.stub->ListMembers(As().get(), {}, &members),
                grpc::StatusCode::FAILED_PRECONDITION, fragment);
    v1::ListMemberServicesRequest services_request;
    services_request.set_organization_id(kOrgA);
    v1::ListMemberServicesResponse services;
    CheckStatus(node.stub->ListMemberServices(As().get(), services_request, &services),
                grpc::StatusCode::FAILED_PRECONDITION, fragment);
    CheckStatus(ListAllowed(node, kOrgB).status, grpc::StatusCode::FAILED_PRECONDITION, fragment);
    v1::GetServiceDescriptionRequest description_request;
    description_request.set_name(kBenefits);
    v1::ServiceDescription description;
    CheckStatus(node.stub->GetServiceDescription(As().get(), description_request, &description),
                grpc::StatusCode::FAILED_PRECONDITION, fragment);
  };
  check_all("no copy of the network registry");
  RequireOk(node.copy.Offer(Unsigned(SampleSnapshot(4, absl::Now() - absl::Seconds(1)))));
  check_all("(version 4) expired at");
}

TEST_CASE("members and their services are listed from the copy", "[network][discovery]") {
  DiscoveryNode node;
  RequireOk(node.copy.Offer(Unsigned(SampleSnapshot(5))));

  v1::ListMembersResponse members;
  REQUIRE(node.stub->ListMembers(As(kOrgB).get(), {}, &members).ok());
  CHECK(members.registry_version() == 5);
  std::vector<std::string> ids;
  for (const auto& m : members.members()) ids.push_back(m.organization_id());
  CHECK(ids == std::vector<std::string>{kOrgA, kOrgB, kOrgC, kOrgD});
  CHECK(members.members(0).node_address() == "a.example:443");

  v1::ListMemberServicesRequest request;
  request.set_organization_id(kOrgA);
  v1::ListMemberServicesResponse services;
  REQUIRE(node.stub->ListMemberServices(As().get(), request, &services).ok());
  CHECK(services.registry_version() == 5);
  REQUIRE(services.services_size() == 1);
  const v1::NetworkService& benefits = services.services(0);
  CHECK(benefits.name() == kBenefits);
  CHECK(benefits.descriptor_set().empty());  // left out of listings
  CHECK(benefits.methods_size() == 3);
  CHECK(benefits.method_access_size() == 2);
  CHECK(benefits.access().allowed_organizations(0) == kOrgB);

  request.set_organization_id(kOrgD);
  services.Clear();
  REQUIRE(node.stub->ListMemberServices(As().get(), request, &services).ok());
  REQUIRE(services.services_size() == 1);
  CHECK(services.services(0).name() == kMaps);

  request.set_organization_id(kOrgB);  // a member without services
  services.Clear();
  REQUIRE(node.stub->ListMemberServices(As().get(), request, &services).ok());
  CHECK(services.services_size() == 0);

  request.set_organization_id("AAAAAAAA-0000-4000-8000-00000000000A");
  CheckStatus(node.stub->ListMemberServices(As().get(), request, &services),
              grpc::StatusCode::INVALID_ARGUMENT,
              "organization_id: \"AAAAAAAA-0000-4000-8000-00000000000A\" is not a canonical UUID");
  request.set_organization_id("");
  CheckStatus(node.stub->ListMemberServices(As().get(), request, &services),
              grpc::StatusCode::INVALID_ARGUMENT, "organization_id: required");
  request.set_organization_id(kStranger);
  CheckStatus(node.stub->ListMemberServices(As().get(), request, &services),
              grpc::StatusCode::NOT_FOUND,
              absl::StrCat("organization_id: ", kStranger, " is not a member"));
}

TEST_CASE("allowed methods are listed for the caller, or for another by the node's own",
          "[network][discovery]") {
  DiscoveryNode node;
  RequireOk(node.copy.Offer(Unsigned(SampleSnapshot(5))));
  const std::string benefits = absl::StrCat("/", kBenefits, "/");
  const std::vector<std::string> for_b = {benefits + "GetDecision open to members",
                                          benefits + "ListDecisions allow-list",
                                          "/fi.other.v1.Maps/Find open to members"};
  const std::vector<std::string> for_c = {benefits + "Apply allow-list",
                                          benefits + "GetDecision open to members",
                                          "/fi.other.v1.Maps/Find open to members"};

  // A caller's own: by default, or named.
  Allowed b = ListAllowed(node, kOrgB);
  REQUIRE(b.status.ok());
  CHECK(b.response.organization_id() == kOrgB);
  CHECK(b.response.registry_version() == 5);
  CHECK(b.paths == for_b);
  REQUIRE(b.response.methods_size() == 3);
  const v1::AllowedMethod& find = b.response.methods(2);
  CHECK(find.service() == kMaps);
  CHECK(find.method() == "Find");
  CHECK(find.organization_id() == kOrgD);
  CHECK(find.node_address() == "d.example:443");
  CHECK(ListAllowed(node, kOrgB, kOrgB).paths == for_b);

  // Another organisation's: refused to a member, allowed to the node's own organisation and to
  // operators.
  CheckStatus(ListAllowed(node, kOrgB, kOrgC).status, grpc::StatusCode::PERMISSION_DENIED,
              absl::StrCat("may list only its own allowed methods, not those of ", kOrgC));
  Allowed c = ListAllowed(node, kOrgA, kOrgC);
  REQUIRE(c.status.ok());
  CHECK(c.response.organization_id() == kOrgC);
  CHECK(c.paths == for_c);
  CHECK(ListAllowed(node, "", kOrgC).paths == for_c);
  // An operator without a choice: the node's own organisation, whose own services are not
  // granted to it.
  Allowed own = ListAllowed(node, "");
  REQUIRE(own.status.ok());
  CHECK(own.response.organization_id() == kOrgA);
  CHECK(own.paths == std::vector<std::string>{"/fi.other.v1.Maps/Find open to members"});

  CheckStatus(ListAllowed(node, "", "not-a-uuid").status, grpc::StatusCode::INVALID_ARGUMENT,
              "organization_id: \"not-a-uuid\" is not a canonical UUID");
  CheckStatus(ListAllowed(node, "", kStranger).status, grpc::StatusCode::NOT_FOUND,
              "is not a member");
  CheckStatus(ListAllowed(node, kStranger).status, grpc::StatusCode::NOT_FOUND, kStranger);
}

TEST_CASE("a service's description carries its registration, provider and OpenAPI",
          "[network][discovery]") {
  DiscoveryNode node;
  RequireOk(node.copy.Offer(Unsigned(SampleSnapshot(5))));
  const auto describe = [&](const std::string& name, v1::ServiceDescription* out) {
    v1::GetServiceDescriptionRequest request;
    request.set_name(name);
    return node.stub->GetServiceDescription(As(kOrgC).get(), request, out);
  };

  v1::ServiceDescription description;
  grpc::Status status = describe(kBenefits, &description);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(description.registry_version() == 5);
  CHECK(description.service().name() == kBenefits);
  CHECK(description.service().descriptor_set() == testing::BenefitsDescriptorSet());
  CHECK(description.provider().organization_id() == kOrgA);
  CHECK(description.provider().node_address() == "a.example:443");

  const nlohmann::json doc = nlohmann::json::parse(description.openapi_json());
  CHECK(doc["openapi"].get<std::string>().rfind("3.0", 0) == 0);
  CHECK(doc["info"]["title"] == "Benefit decisions");
  CHECK(doc["info"]["version"] == "revision 5");
  CHECK_THAT(doc["info"]["description"].get<std::string>(),
             Contains(kOrgA) && Contains("Kela") && Contains("a.example:443"));
  for (const char* method : {"GetDecision", "ListDecisions", "Apply"}) {
    const std::string path = absl::StrCat("/", kBenefits, "/", method);
    INFO(path);
    REQUIRE(doc["paths"].contains(path));
    const auto& post = doc["paths"][path]["post"];
    CHECK(post["x-aurora-grpc-method"] == path);
    CHECK(post.contains("requestBody"));
  }
  CHECK(doc["paths"].size() == 3);
  CHECK(
      doc["paths"][absl::StrCat("/", kBenefits, "/ListDecisions")]["post"]["x-aurora-streaming"] ==
      "server");
  CHECK_THAT(description.openapi_json(), Contains("fi.example.benefits.v1.Decision"));

  // The same revision: the same document; a new revision: a new one.
  v1::ServiceDescription again;
  REQUIRE(describe(kBenefits, &again).ok());
  CHECK(again.openapi_json() == description.openapi_json());
  RequireOk(node.copy.Offer(Unsigned(SampleSnapshot(6))));
  REQUIRE(describe(kBenefits, &again).ok());
  CHECK(again.registry_version() == 6);
  CHECK(nlohmann::json::parse(again.openapi_json())["info"]["version"] == "revision 6");

  // Maps was registered without a descriptor set: nothing to describe it from.
  CheckStatus(describe(kMaps, &again), grpc::StatusCode::INTERNAL,
              "the descriptor set of fi.other.v1.Maps (revision 2) does not define the service");
  CheckStatus(describe("fi.nowhere.v1.Thing", &again), grpc::StatusCode::NOT_FOUND,
              "name: no member of the network offers \"fi.nowhere.v1.Thing\"");
  CheckStatus(describe("", &again), grpc::StatusCode::INVALID_ARGUMENT, "name: required");
  CheckStatus(describe(std::string(201, 'x'), &again), grpc::StatusCode::INVALID_ARGUMENT,
              "is longer than 200 characters");
}

TEST_CASE("RouteTable with grpc_paths routes every method as POST /<service>/<method>",
          "[network][discovery][gateway]") {
  auto contracts = gateway::ContractSet::FromSerialized(testing::BenefitsDescriptorSet());
  RequireOk(contracts.status());
  // No method has a google.api.http rule: by default, no routes and no services.
  CHECK((*contracts)->services().empty());
  const google::protobuf::ServiceDescriptor* service =
      (*contracts)->pool().FindServiceByName(kBenefits);
  REQUIRE(service != nullptr);
  auto plain = gateway::RouteTable::Build({service});
  RequireOk(plain.status());
  CHECK(plain->routes().empty());

  gateway::RouteTableOptions options;
  options.grpc_paths = true;
  auto routes = gateway::RouteTable::Build({service}, options);
  RequireOk(routes.status());
  std::vector<std::string> labels;
  for (const gateway::Route& route : routes->routes()) {
    labels.push_back(route.label);
    CHECK(route.body == "*");
    CHECK(route.grpc_method == route.path_text);
  }
  CHECK(labels == std::vector<std::string>{absl::StrCat("POST /", kBenefits, "/GetDecision"),
                                           absl::StrCat("POST /", kBenefits, "/ListDecisions"),
                                           absl::StrCat("POST /", kBenefits, "/Apply")});
  auto found = routes->Find("POST", absl::StrCat("/", kBenefits, "/Apply"));
  REQUIRE(found.route != nullptr);
  CHECK(found.route->method->name() == "Apply");
  CHECK(routes->routes()[1].server_streaming);
}

}  // namespace
}  // namespace aurora::network
