// The network registry held by the directory (aurora.network.v1.NetworkRegistry): members' node
// addresses, published services with access rights, versions, signed copies and the watch stream.
// The real server on 127.0.0.1:0 with RocksDB in a temp dir, a real network CA for signatures.

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/time_util.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/files.h"
#include "common/tls.h"
#include "directory_test_support.h"
#include "node/network_ca.h"

namespace aurora::testing {
namespace {

namespace nv1 = aurora::network::v1;
using Catch::Matchers::Contains;
using google::protobuf::util::TimeUtil;

// A FileDescriptorSet defining fi.example.benefits.v1.Benefits with GetDecision and
// ListDecisions, as `protoc --include_imports --descriptor_set_out` writes it.
std::string BenefitsDescriptorSet(const std::string& service = "Benefits") {
  google::protobuf::FileDescriptorSet set;
  auto* file = set.add_file();
  file->set_name("fi/example/benefits/v1/benefits.proto");
  file->set_package("fi.example.benefits.v1");
  file->set_syntax("proto3");
  for (const char* name : {"DecisionRequest", "Decision"}) {
    auto* message = file->add_message_type();
    message->set_name(name);
    auto* field = message->add_field();
    field->set_name("id");
    field->set_number(1);
    field->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
    field->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  }
  auto* svc = file->add_service();
  svc->set_name(service);
  for (const char* name : {"GetDecision", "ListDecisions"}) {
    auto* method = svc->add_method();
    method->set_name(name);
    method->set_input_type(".fi.example.benefits.v1.DecisionRequest");
    method->set_output_type(".fi.example.benefits.v1.Decision");
  }
  return set.SerializeAsString();
}

nv1::NetworkService Benefits(const std::string& organization_id) {
  nv1::NetworkService service;
  service.set_name("fi.example.benefits.v1.Benefits");
  service.set_organization_id(organization_id);
  service.mutable_title()->set_en("Benefit decisions");
  service.set_descriptor_set(BenefitsDescriptorSet());
  return service;
}

grpc::Status Publish(nv1::NetworkRegistry::Stub& stub, const nv1::NetworkService& service,
                     int64_t expected_revision = 0, nv1::NetworkService* out = nullptr,
                     const std::string& caller = "") {
  grpc::ClientContext context;
  if (!caller.empty()) context.AddMetadata(kCallerOrganizationMetadata, caller);
  nv1::PublishServiceRequest request;
  *request.mutable_service() = service;
  request.set_expected_revision(expected_revision);
  nv1::NetworkService response;
  grpc::Status status = stub.PublishService(&context, request, &response);
  if (out != nullptr) *out = response;
  return status;
}

grpc::Status SetAddress(nv1::NetworkRegistry::Stub& stub, const std::string& organization_id,
                        const std::string& address, const std::string& caller = "") {
  grpc::ClientContext context;
  if (!caller.empty()) context.AddMetadata(kCallerOrganizationMetadata, caller);
  nv1::SetNodeAddressRequest request;
  request.set_organization_id(organization_id);
  request.set_node_address(address);
  nv1::Member member;
  return stub.SetNodeAddress(&context, request, &member);
}

nv1::SignedRegistry GetSigned(nv1::NetworkRegistry::Stub& stub) {
  grpc::ClientContext context;
  nv1::SignedRegistry copy;
  grpc::Status status = stub.GetSignedRegistry(&context, {}, &copy);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return copy;
}

nv1::RegistrySnapshot Snapshot(const nv1::SignedRegistry& copy) {
  nv1::RegistrySnapshot snapshot;
  REQUIRE(snapshot.ParseFromString(copy.snapshot()));
  return snapshot;
}

void CheckRefused(const grpc::Status& status, grpc::StatusCode code, const std::string& text) {
  INFO(status.error_message());
  CHECK(status.error_code() == code);
  CHECK_THAT(status.error_message(), Contains(text));
}

}  // namespace

TEST_CASE("network registry: node addresses, publishing with access rights, versions",
          "[directory][network]") {
  TempDir dir;
  const std::string path = dir.path();
  std::string a, b, c;
  int64_t version_after_withdraw = 0;
  {
    DirectoryServer server(&path);
    auto& stub = server.registry_stub();
    a = RegisterOrganization(server.stub(), "A Oy");
    b = RegisterOrganization(server.stub(), "B Oy");
    c = RegisterOrganization(server.stub(), "C Oy");

    nv1::SignedRegistry first = GetSigned(stub);
    CHECK(first.signature().empty());  // no signer configured: unsigned copies
    nv1::RegistrySnapshot snapshot = Snapshot(first);
    CHECK(snapshot.version() == 3);  // the third organisation's revision
    REQUIRE(snapshot.members_size() == 3);
    CHECK(std::is_sorted(
        snapshot.members().begin(), snapshot.members().end(),
        [](const auto& x, const auto& y) { return x.organization_id() < y.organization_id(); }));
    CHECK(TimeUtil::TimestampToSeconds(snapshot.valid_until()) -
              TimeUtil::TimestampToSeconds(snapshot.issue_time()) ==
          3600);

    // Node addresses.
    REQUIRE(SetAddress(stub, a, "node-a.example.fi:8443").ok());
    REQUIRE(SetAddress(stub, b, "127.0.0.1:50052").ok());
    REQUIRE(SetAddress(stub, c, "[::1]:50053").ok());
    const int64_t version = server.store().registry_version();
    CheckRefused(SetAddress(stub, a, "node-a.example.fi"), grpc::StatusCode::INVALID_ARGUMENT,
                 "node_address: needs host:port: \"node-a.example.fi\"");
    CheckRefused(SetAddress(stub, a, "bad_host:1"), grpc::StatusCode::INVALID_ARGUMENT,
                 "node_address");
    CheckRefused(SetAddress(stub, a, "h:70000"), grpc::StatusCode::INVALID_ARGUMENT, "1..65535");
    CheckRefused(SetAddress(stub, "not-a-uuid", "h:1"), grpc::StatusCode::INVALID_ARGUMENT,
                 "organization_id");
    CheckRefused(SetAddress(stub, "00000000-0000-4000-8000-000000000000", "h:1"),
                 grpc::StatusCode::NOT_FOUND, "no organisation");
    CheckRefused(SetAddress(stub, a, "h:1", b), grpc::StatusCode::PERMISSION_DENIED,
                 "is not the caller's organisation");
    CHECK(server.store().registry_version() == version);  // nothing refused was written

    // The directory's change feed carries node addresses, in its snapshot too (a recommender
    // links recommendations to the providers' nodes).
    {
      grpc::ClientContext watch_context;
      v1::WatchRequest watch;
      watch.set_snapshot(true);
      auto reader = server.stub().Watch(&watch_context, watch);
      v1::WatchResponse response;
      std::map<std::string, std::string> addresses;
      while (reader->Read(&response)) {
        for (const auto& event : response.events()) {
          if (event.type() == v1::ChangeEvent::TYPE_MEMBER_PUT) {
            addresses[event.member().organization_id()] = event.member().node_address();
          }
        }
        if (response.snapshot_complete()) break;
      }
      watch_context.TryCancel();
      CHECK(addresses == std::map<std::string, std::string>{{a, "node-a.example.fi:8443"},
                                                            {b, "127.0.0.1:50052"},
                                                            {c, "[::1]:50053"}});
    }

    // Publishing: open to members, with a per-method allow-list.
    nv1::NetworkService benefits = Benefits(c);
    benefits.mutable_access()->set_open_to_members(true);
    auto* list = benefits.add_method_access();
    list->set_method("ListDecisions");
    list->mutable_access()->add_allowed_organizations(a);
    benefits.add_methods("Invented");  // output only: replaced from the descriptor set
    nv1::NetworkService stored;
    grpc::Status published = Publish(stub, benefits, 0, &stored, c);
    INFO(published.error_message());
    REQUIRE(published.ok());
    CHECK(stored.revision() == version + 1);
    CHECK(std::vector<std::string>(stored.methods().begin(), stored.methods().end()) ==
          std::vector<std::string>{"GetDecision", "ListDecisions"});
    CHECK(stored.update_time().seconds() > 0);

    // Refused, each naming the field and value, and nothing written.
    const int64_t before = server.store().registry_version();
    nv1::NetworkService bad = Benefits(c);
    bad.set_name("aurora.directory.v1.Directory");
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "service.name: the package aurora is the network's own");
    bad = Benefits(c);
    bad.set_name("Benefits");
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "service.name: not a full gRPC service name");
    bad = Benefits(c);
    bad.clear_descriptor_set();
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "service.descriptor_set: is required");
    bad = Benefits(c);
    bad.set_descriptor_set("not a descriptor set");
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT, "service.descriptor_set");
    bad = Benefits(c);
    bad.set_descriptor_set(BenefitsDescriptorSet("Pensions"));
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "defines no service \"fi.example.benefits.v1.Benefits\"");
    bad = Benefits(c);
    bad.add_method_access()->set_method("Delete");
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "service.method_access[0].method: the service has no method \"Delete\"");
    bad = Benefits(c);
    bad.mutable_access()->add_allowed_organizations(a);
    bad.mutable_access()->add_allowed_organizations(a);
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "service.access.allowed_organizations[1]: repeats organisation");
    bad = Benefits(c);
    bad.mutable_access()->add_allowed_organizations("00000000-0000-4000-8000-000000000000");
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "service.access.allowed_organizations[0]: no member organisation");
    bad = Benefits(c);
    bad.mutable_access()->add_allowed_organizations("A");
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT,
                 "service.access.allowed_organizations[0]: not a canonical lowercase UUID");
    bad = Benefits(c);
    bad.set_name("fi.example.benefits.v1.Other");
    CheckRefused(Publish(stub, bad), grpc::StatusCode::INVALID_ARGUMENT, "defines no service");
    // Another organisation may not publish for C, nor take over C's service name.
    CheckRefused(Publish(stub, Benefits(c), 0, nullptr, b), grpc::StatusCode::PERMISSION_DENIED,
                 "service.organization_id");
    CheckRefused(Publish(stub, Benefits(b), stored.revision(), nullptr, b),
                 grpc::StatusCode::PERMISSION_DENIED, "is published by organisation");
    CheckRefused(Publish(stub, Benefits(c)), grpc::StatusCode::ALREADY_EXISTS,
                 "give expected_revision");
    CheckRefused(Publish(stub, Benefits(c), stored.revision() + 5), grpc::StatusCode::ABORTED,
                 "expected_revision");
    CHECK(server.store().registry_version() == before);

    // Replacing with the right revision: now an allow-list of A only.
    nv1::NetworkService restricted = Benefits(c);
    restricted.mutable_access()->add_allowed_organizations(a);
    nv1::NetworkService replaced;
    REQUIRE(Publish(stub, restricted, stored.revision(), &replaced).ok());
    CHECK(replaced.revision() == before + 1);

    snapshot = Snapshot(GetSigned(stub));
    CHECK(snapshot.version() == replaced.revision());
    REQUIRE(snapshot.services_size() == 1);
    CHECK(snapshot.services(0).access().allowed_organizations(0) == a);
    CHECK_FALSE(snapshot.services(0).access().open_to_members());
    CHECK_FALSE(snapshot.services(0).descriptor_set().empty());
    for (const auto& member : snapshot.members()) {
      if (member.organization_id() == c) CHECK(member.node_address() == "[::1]:50053");
    }

    // A second service, then a withdrawal as the registry's newest change.
    nv1::NetworkService second = Benefits(b);
    second.set_name("fi.example.benefits.v1.Benefits2");
    second.set_descriptor_set(BenefitsDescriptorSet("Benefits2"));
    REQUIRE(Publish(stub, second).ok());
    {
      grpc::ClientContext context;
      context.AddMetadata(kCallerOrganizationMetadata, a);
      nv1::WithdrawServiceRequest request;
      request.set_name(second.name());
      nv1::WithdrawServiceResponse response;
      CheckRefused(stub.WithdrawService(&context, request, &response),
                   grpc::StatusCode::PERMISSION_DENIED, "is not the caller's organisation");
    }
    grpc::ClientContext context;
    nv1::WithdrawServiceRequest request;
    request.set_name(second.name());
    nv1::WithdrawServiceResponse response;
    REQUIRE(stub.WithdrawService(&context, request, &response).ok());
    version_after_withdraw = response.revision();
    snapshot = Snapshot(GetSigned(stub));
    CHECK(snapshot.version() == version_after_withdraw);
    CHECK(snapshot.services_size() == 1);
  }
  // After a restart: the same registry and version (the withdrawal was the newest change).
  DirectoryServer again(&path);
  nv1::RegistrySnapshot snapshot = Snapshot(GetSigned(again.registry_stub()));
  CHECK(snapshot.version() == version_after_withdraw);
  CHECK(snapshot.members_size() == 3);
  REQUIRE(snapshot.services_size() == 1);
  CHECK(snapshot.services(0).name() == "fi.example.benefits.v1.Benefits");
  CHECK(snapshot.services(0).access().allowed_organizations(0) == a);
}

TEST_CASE("network registry: copies are signed by the registry certificate and watched",
          "[directory][network]") {
  TempDir ca;
  node::CaInitOptions init;
  init.dir = ca.path() + "/ca";
  REQUIRE(node::InitNetworkCa(init).ok());
  node::NodeCertificateRequest request;
  request.ca_dir = init.dir;
  request.organization_id = "dddddddd-0000-4000-8000-00000000000d";
  request.out_dir = ca.path() + "/directory";
  request.roles = {kRegistryRole};
  REQUIRE(node::IssueNodeCertificate(request).ok());

  directory::RegistryServiceOptions options;
  options.signer_cert_file = request.out_dir + "/node.crt";
  options.signer_key_file = request.out_dir + "/node.key";
  options.validity = absl::Seconds(2);  // re-signed every second on a watch stream
  DirectoryServer server(nullptr, options);
  auto& stub = server.registry_stub();
  const std::string a = RegisterOrganization(server.stub(), "A Oy");

  TlsFiles trust;
  trust.ca = init.dir + "/ca.crt";
  trust.crl_dir = init.dir + "/crl";
  nv1::SignedRegistry copy = GetSigned(stub);
  auto signer = VerifySignedBy(trust, copy.signer_certificate(), kRegistryRole, copy.snapshot(),
                               copy.signature());
  INFO(signer.status().ToString());
  REQUIRE(signer.ok());
  CHECK(signer->organization_id == request.organization_id);

  grpc::ClientContext context;
  auto reader = stub.WatchRegistry(&context, {});
  nv1::SignedRegistry watched;
  REQUIRE(reader->Read(&watched));
  const nv1::RegistrySnapshot first = Snapshot(watched);
  CHECK(first.version() == Snapshot(copy).version());

  // A change reaches the stream at once.
  const auto published_at = std::chrono::steady_clock::now();
  nv1::NetworkService service = Benefits(a);
  service.mutable_access()->set_open_to_members(true);
  REQUIRE(Publish(stub, service).ok());
  REQUIRE(reader->Read(&watched));
  CHECK(std::chrono::steady_clock::now() - published_at < std::chrono::seconds(1));
  const nv1::RegistrySnapshot second = Snapshot(watched);
  CHECK(second.version() > first.version());
  CHECK(second.services_size() == 1);
  CHECK(VerifySignedBy(trust, watched.signer_certificate(), kRegistryRole, watched.snapshot(),
                       watched.signature())
            .ok());

  // Without changes, a fresh signature of the same version before half the validity is gone.
  REQUIRE(reader->Read(&watched));
  const nv1::RegistrySnapshot third = Snapshot(watched);
  CHECK(third.version() == second.version());
  CHECK(TimeUtil::TimestampToMilliseconds(third.issue_time()) >
        TimeUtil::TimestampToMilliseconds(second.issue_time()));
  CHECK(TimeUtil::TimestampToMilliseconds(third.issue_time()) -
            TimeUtil::TimestampToMilliseconds(second.issue_time()) <
        1500);

  // Shutdown ends the stream with UNAVAILABLE.
  server.registry_service().Shutdown();
  while (reader->Read(&watched)) {
  }
  grpc::Status status = reader->Finish();
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
}

}  // namespace aurora::testing
