// The C++ client library (src/client/network_client.*) against a real node in-process: the
// directory with TLS (its certificate carries the registry role), a real network CA, and a member's
// service behind mutual TLS that the client finds through discovery and calls.

#include "client/network_client.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "common/server.h"
#include "fi/example/benefits/v1/benefits.grpc.pb.h"
#include "node/network_ca.h"
#include "node/node.h"

namespace aurora::client {
namespace {

namespace fs = std::filesystem;
namespace nv1 = aurora::network::v1;
namespace bv1 = fi::example::benefits::v1;
using Catch::Matchers::Contains;

constexpr char kOrgA[] = "aaaaaaaa-0000-4000-8000-00000000000a";  // runs the directory
constexpr char kOrgB[] = "bbbbbbbb-0000-4000-8000-00000000000b";  // another member
constexpr char kOrgC[] = "cccccccc-0000-4000-8000-00000000000c";  // offers Benefits
constexpr char kBenefits[] = "fi.example.benefits.v1.Benefits";

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/aurora-client-test-XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

void RequireOk(const absl::Status& status) {
  INFO(status.ToString());
  REQUIRE(status.ok());
}

TlsFiles Issue(const std::string& ca, const std::string& org, const std::string& out,
               std::vector<std::string> roles = {}) {
  node::NodeCertificateRequest request;
  request.ca_dir = ca;
  request.organization_id = org;
  request.out_dir = out;
  request.roles = std::move(roles);
  RequireOk(node::IssueNodeCertificate(request).status());
  TlsFiles files;
  files.cert = out + "/node.crt";
  files.key = out + "/node.key";
  files.ca = out + "/ca.crt";
  return files;
}

// The generated file of the service and every file it imports, dependencies first.
std::string DescriptorSetOf(const std::string& service) {
  google::protobuf::FileDescriptorSet set;
  std::set<std::string> seen;
  std::function<void(const google::protobuf::FileDescriptor*)> add =
      [&](const google::protobuf::FileDescriptor* file) {
        if (!seen.insert(file->name()).second) return;
        for (int i = 0; i < file->dependency_count(); ++i) add(file->dependency(i));
        file->CopyTo(set.add_file());
      };
  add(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service)->file());
  return set.SerializeAsString();
}

// C's backend, reached directly over mutual TLS in this test: answers with the caller's
// organisation from its certificate.
class Benefits final : public bv1::Benefits::CallbackService {
  grpc::ServerUnaryReactor* GetDecision(grpc::CallbackServerContext* context,
                                        const bv1::GetDecisionRequest* request,
                                        bv1::Decision* response) override {
    response->set_decision_id(request->decision_id());
    response->set_outcome(PeerOrganization(*context).value_or("none"));
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Polls `check` for up to 30 s (moments on an idle machine; a loaded CI machine needs more).
template <typename Check>
void Eventually(Check check) {
  for (int i = 0; i < 600 && !check(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(check());
}

}  // namespace

TEST_CASE("the C++ client publishes, discovers and calls a member's service over mutual TLS",
          "[client][network]") {
  TempDir dir;
  node::CaInitOptions init;
  init.dir = dir / "ca";
  RequireOk(node::InitNetworkCa(init).status());
  const TlsFiles a = Issue(init.dir, kOrgA, dir / "a", {kRegistryRole});
  const TlsFiles b = Issue(init.dir, kOrgB, dir / "b");
  const TlsFiles c = Issue(init.dir, kOrgC, dir / "c");

  node::NodeConfig config;
  config.data_dir = dir / "node-a";
  config.grpc_listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.components = {"directory", "recommender"};
  config.codelists_dir = std::string(AURORA_DATA_DIR) + "/codelists";
  config.dictionary_dir = "";
  config.tls = a;
  config.drain = absl::ZeroDuration();
  config.grace = absl::Seconds(1);
  config.secret_hash_iterations = 1000;
  auto node = node::Node::Start(config);
  RequireOk(node.status());
  const std::string directory = absl::StrCat("127.0.0.1:", (*node)->grpc_port());

  // The operator (A's own certificate) registers the members.
  auto operator_stub = aurora::directory::v1::Directory::NewStub(MemberChannel(directory, a));
  for (const char* org : {kOrgA, kOrgB, kOrgC}) {
    grpc::ClientContext context;
    aurora::directory::v1::RegisterOrganizationRequest request;
    request.mutable_organization()->set_id(org);
    request.mutable_organization()->mutable_name()->set_fi(absl::StrCat("Organisaatio ", std::string(1, org[0])));
    aurora::directory::v1::Organization registered;
    grpc::Status status = operator_stub->RegisterOrganization(&context, request, &registered);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  // Members' calls are admitted once the node's registry copy lists them (within moments).
  Eventually([&] {
    auto copy = (*node)->registry_copy()->Current();
    return copy != nullptr && copy->FindMember(kOrgB) != nullptr &&
           copy->FindMember(kOrgC) != nullptr;
  });

  // C's service, behind mutual TLS with C's certificate.
  Benefits backend;
  GrpcServer backend_server;
  backend_server.AddService(&backend, kBenefits);
  backend_server.SetCredentials(ServerCredentials(c), kOrgC);
  RequireOk(backend_server.Start("127.0.0.1:0", nullptr));
  const std::string c_node = absl::StrCat("127.0.0.1:", backend_server.port());

  auto as_c = NetworkClient::Connect(c, directory, directory);
  RequireOk(as_c.status());
  CHECK((*as_c)->organization_id() == kOrgC);
  auto member = (*as_c)->SetNodeAddress(c_node);
  RequireOk(member.status());
  CHECK(member->node_address() == c_node);

  nv1::NetworkService service;
  service.set_name(kBenefits);
  service.set_descriptor_set(DescriptorSetOf(kBenefits));
  service.mutable_access()->add_allowed_organizations(kOrgA);
  auto published = (*as_c)->Publish(service);
  RequireOk(published.status());
  CHECK(published->organization_id() == kOrgC);
  CHECK(published->methods_size() == 3);
  // Discovery answers from the node's registry copy, which follows within moments.
  Eventually([&] {
    auto described = (*as_c)->Describe(kBenefits);
    return described.ok() && described->service().revision() == published->revision();
  });
  // Publishing again replaces it (the client finds the current revision itself).
  service.mutable_access()->set_open_to_members(true);
  auto republished = (*as_c)->Publish(service);
  RequireOk(republished.status());
  CHECK(republished->revision() > published->revision());
  CHECK(republished->access().open_to_members());

  auto as_a = NetworkClient::Connect(a, directory, directory);
  RequireOk(as_a.status());
  Eventually([&] {
    auto described = (*as_a)->Describe(kBenefits);
    return described.ok() && described->service().revision() == republished->revision();
  });
  auto members = (*as_a)->Members();
  RequireOk(members.status());
  REQUIRE(members->size() == 3);
  CHECK((*members)[2].node_address() == c_node);
  auto services = (*as_a)->ServicesOf(kOrgC);
  RequireOk(services.status());
  REQUIRE(services->size() == 1);
  CHECK(services->front().name() == kBenefits);
  auto allowed = (*as_a)->AllowedMethods();
  RequireOk(allowed.status());
  std::set<std::string> paths;
  for (const auto& method : *allowed) paths.insert(method.path());
  CHECK(paths == std::set<std::string>{"/fi.example.benefits.v1.Benefits/Apply",
                                       "/fi.example.benefits.v1.Benefits/GetDecision",
                                       "/fi.example.benefits.v1.Benefits/ListDecisions"});

  // A finds C's node through discovery and calls the service with its own certificate.
  auto channel = (*as_a)->ChannelToProvider(kBenefits);
  RequireOk(channel.status());
  auto stub = bv1::Benefits::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  bv1::GetDecisionRequest request;
  request.set_decision_id("d-1");
  bv1::Decision decision;
  grpc::Status status = stub->GetDecision(&context, request, &decision);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(decision.outcome() == kOrgA);

  auto unknown = (*as_a)->ChannelToProvider("fi.nobody.v1.Nothing");
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(unknown.status().message()), Contains("GetServiceDescription: "));
  // Another member cannot withdraw C's service (A could: it runs the directory); C can.
  auto as_b = NetworkClient::Connect(b, directory, directory);
  RequireOk(as_b.status());
  auto foreign = (*as_b)->Withdraw(kBenefits);
  CHECK(foreign.status().code() == absl::StatusCode::kPermissionDenied);
  auto withdrawn = (*as_c)->Withdraw(kBenefits);
  RequireOk(withdrawn.status());

  aurora::recommender::v1::SearchRequest search;
  search.set_text("toimeentulotuki");
  auto found = (*as_a)->Search(search);
  RequireOk(found.status());  // an empty catalogue: no services, but a real answer

  TlsFiles broken = c;
  broken.key = a.key;  // C's certificate with A's key
  auto refused = NetworkClient::Connect(broken, directory, directory);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(refused.status().message()), Contains("does not belong to the certificate"));

  backend_server.Shutdown(absl::ZeroDuration());
  (*node)->Stop();
}

}  // namespace aurora::client
