// Tests of the access guard (src/network/access_guard.*) on a real mutual-TLS GrpcServer over
// loopback: certificates from a real network CA name the calling organisation; the guard lets
// the node's own organisation through, members through to open services, the network's own
// services and the methods they are allow-listed for, and refuses everything else with
// PERMISSION_DENIED (UNAVAILABLE without a registry copy) before any service runs, counting each
// decision.

#include "network/access_guard.h"

#include <grpcpp/generic/generic_stub.h>

#include <catch2/catch.hpp>
#include <future>
#include <map>
#include <string>

#include "common/metrics.h"
#include "common/server.h"
#include "common/status.h"
#include "common/tls.h"
#include "fi/example/benefits/v1/benefits.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "network/discovery_service.h"
#include "registry_fixture.h"

namespace aurora::network {
namespace {

using Catch::Matchers::Contains;
using testing::kOrgA;
using testing::kOrgB;
using testing::kOrgC;
using testing::kOrgD;
using testing::kStranger;
using testing::RequireOk;
using testing::SampleSnapshot;
using testing::TestNetwork;
namespace bv1 = fi::example::benefits::v1;

// Organisation A's node: Benefits and Discovery on a mutual-TLS port guarded by `copy`.
struct GuardedNode {
  GuardedNode(const TestNetwork& net, const RegistryCopy* copy)
      : discovery(copy, kOrgA), guard(std::make_shared<AccessGuard>(copy, kOrgA, &metrics)) {
    server.AddService(&benefits, testing::kBenefits);
    server.AddService(&discovery, v1::Discovery::service_full_name());
    std::shared_ptr<grpc::ServerCredentials> credentials = ServerCredentials(net.NodeFiles(kOrgA));
    credentials->SetAuthMetadataProcessor(guard);
    server.SetCredentials(credentials, kOrgA);
    RequireOk(server.Start("127.0.0.1:0", &metrics));
    server.SetServing(true);
  }
  ~GuardedNode() { server.Shutdown(absl::ZeroDuration()); }

  double Decisions(const std::string& decision) {
    for (const auto& family : metrics.registry().Collect()) {
      if (family.name != "aurora_network_access_decisions_total") continue;
      for (const auto& metric : family.metric) {
        if (metric.label.size() == 1 && metric.label[0].value == decision) {
          return metric.counter.value;
        }
      }
    }
    return -1;
  }

  Metrics metrics;
  testing::BenefitsService benefits;
  DiscoveryService discovery;
  std::shared_ptr<AccessGuard> guard;
  GrpcServer server;
};

// A client node of `org`: its own certificate, a fresh connection.
std::shared_ptr<grpc::Channel> ChannelAs(const TestNetwork& net, const std::string& org, int port) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   ChannelCredentials(net.NodeFiles(org)), args);
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

struct Answer {
  grpc::Status status;
  std::string outcome;  // the caller the service saw
};

Answer GetDecision(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = bv1::Benefits::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  bv1::GetDecisionRequest request;
  request.set_decision_id("d-1");
  bv1::Decision decision;
  Answer answer;
  answer.status = stub->GetDecision(&context, request, &decision);
  answer.outcome = decision.outcome();
  return answer;
}

Answer Apply(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = bv1::Benefits::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  bv1::ApplyRequest request;
  request.set_benefit("housing");
  bv1::Decision decision;
  Answer answer;
  answer.status = stub->Apply(&context, request, &decision);
  answer.outcome = decision.outcome();
  return answer;
}

Answer ListDecisions(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = bv1::Benefits::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  auto reader = stub->ListDecisions(&context, bv1::ListDecisionsRequest());
  bv1::Decision decision;
  Answer answer;
  while (reader->Read(&decision)) answer.outcome = decision.outcome();
  answer.status = reader->Finish();
  return answer;
}

// A unary call of any path, with an empty request.
grpc::Status CallPath(const std::shared_ptr<grpc::Channel>& channel, const std::string& path) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Slice empty{std::string()};
  grpc::ByteBuffer request(&empty, 1);  // an empty message (a ByteBuffer without slices is none)
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, path, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  if (status.ok()) CHECK(response.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  return status;
}

// A copy that is given its registry by Offer (never started: no directory).
RegistryCopyOptions UnstartedCopy(const TestNetwork& net) {
  RegistryCopyOptions options;
  options.trust = net.Trust();
  return options;
}

void CheckDenied(const grpc::Status& status, const std::string& fragment) {
  INFO(status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK_THAT(status.error_message(), Contains(fragment));
}

TEST_CASE("the guard enforces the registry's rights on other organisations' calls",
          "[network][guard]") {
  TestNetwork net;
  RegistryCopy copy(UnstartedCopy(net));
  RequireOk(copy.Offer(net.Sign(SampleSnapshot(5))));
  GuardedNode node(net, &copy);
  const int port = node.server.port();
  const std::string benefits = testing::kBenefits;

  // The node's own organisation: everything, without a decision being counted.
  auto a = ChannelAs(net, kOrgA, port);
  Answer own = Apply(a);
  INFO(own.status.error_message());
  REQUIRE(own.status.ok());
  CHECK(own.outcome == "none");  // its own calls carry no caller organisation
  CHECK(CallPath(a, "/fi.nowhere.v1.Thing/Do").error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(node.Decisions("allowed") == 0);

  // B: GetDecision is open to members; the service (ListDecisions) allow-lists B; Apply is C's.
  auto b = ChannelAs(net, kOrgB, port);
  Answer open = GetDecision(b);
  INFO(open.status.error_message());
  REQUIRE(open.status.ok());
  CHECK(open.outcome == kOrgB);
  Answer listed_by_b = ListDecisions(b);
  REQUIRE(listed_by_b.status.ok());
  CHECK(listed_by_b.outcome == kOrgB);
  Answer refused = Apply(b);
  CHECK(refused.status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(refused.status.error_message() ==
        absl::StrCat("organisation ", kOrgB, " may not call /", benefits,
                     "/Apply: the right to call it is granted by ", kOrgA,
                     " (Kela) to 1 organisation, not to ", kOrgB,
                     " (the method's own access rights)"));

  // C: Apply by its allow-list entry; not the service-wide list.
  auto c = ChannelAs(net, kOrgC, port);
  Answer applied = Apply(c);
  REQUIRE(applied.status.ok());
  CHECK(applied.outcome == kOrgC);
  CheckDenied(
      ListDecisions(c).status,
      absl::StrCat("organisation ", kOrgC, " may not call /", benefits,
                   "/ListDecisions: the right to call it is granted by ", kOrgA,
                   " (Kela) to 1 organisation, not to ", kOrgC, " (the service's access rights)"));
  CheckDenied(CallPath(c, absl::StrCat("/", benefits, "/Remove")),
              "Remove is not a method of the published service");

  // D offers Maps from its own node; nobody offers Nowhere.
  auto d = ChannelAs(net, kOrgD, port);
  REQUIRE(GetDecision(d).status.ok());
  CheckDenied(CallPath(d, "/fi.other.v1.Maps/Find"), "offered by organisation " +
                                                         std::string(kOrgD) +
                                                         " (Maanmittauslaitos) from its node "
                                                         "d.example:443");
  CheckDenied(CallPath(b, "/fi.nowhere.v1.Thing/Do"), "no member of the network offers it");

  // The network's own services are open to members.
  RequireOk(FromGrpcStatus(HealthCheck(b)));
  auto discovery = v1::Discovery::NewStub(b);
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListMembersResponse members;
  grpc::Status listed = discovery->ListMembers(&context, v1::ListMembersRequest(), &members);
  REQUIRE(listed.ok());
  CHECK(members.members_size() == 4);

  // A certificate of the network CA does not make its organisation a member.
  auto stranger = ChannelAs(net, kStranger, port);
  CheckDenied(GetDecision(stranger).status, "not a member of the network");
  CheckDenied(HealthCheck(stranger), "not a member of the network");

  // Allowed: B GetDecision, ListDecisions, Health, ListMembers; C Apply; D GetDecision.
  CHECK(node.Decisions("allowed") == 6);
  // Denied: B Apply, Nowhere; C ListDecisions, Remove; D Maps; the stranger twice.
  CHECK(node.Decisions("denied") == 7);
  CHECK(node.Decisions("unavailable") == 0);
}

TEST_CASE("without a registry copy the guard refuses other organisations with UNAVAILABLE",
          "[network][guard]") {
  TestNetwork net;
  RegistryCopy copy(UnstartedCopy(net));
  GuardedNode node(net, &copy);
  const int port = node.server.port();

  grpc::Status status = GetDecision(ChannelAs(net, kOrgB, port)).status;
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(status.error_message(), Contains("no copy of the network registry"));
  CHECK(HealthCheck(ChannelAs(net, kOrgB, port)).error_code() == grpc::StatusCode::UNAVAILABLE);
  // The node's own organisation is not held up.
  CHECK(GetDecision(ChannelAs(net, kOrgA, port)).status.ok());

  // An expired copy: the same.
  RequireOk(copy.Offer(net.Sign(SampleSnapshot(2, absl::Now() - absl::Seconds(1)))));
  status = GetDecision(ChannelAs(net, kOrgB, port)).status;
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(status.error_message(), Contains("version 2") && Contains("expired at"));
  CHECK(node.Decisions("unavailable") == 3);

  // A fresh copy: B is a member again.
  RequireOk(copy.Offer(net.Sign(SampleSnapshot(3))));
  CHECK(GetDecision(ChannelAs(net, kOrgB, port)).status.ok());
  CHECK(node.Decisions("allowed") == 1);
}

}  // namespace
}  // namespace aurora::network
