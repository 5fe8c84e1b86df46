// Tests of the network CA (src/node/network_ca.*) and mutual TLS between nodes (src/common/tls.*,
// GrpcServer with TLS credentials): certificates name their organisation, a callee learns the
// caller's organisation from the verified certificate, other organisations cannot set the caller
// metadata, foreign, revoked and missing certificates are refused at the handshake, and a renewed
// certificate is served without a restart. Real gRPC over loopback sockets, real OpenSSL.

#include "node/network_ca.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "aurora/directory/v1/directory.grpc.pb.h"
#include "common/caller.h"
#include "common/files.h"
#include "common/server.h"
#include "common/tls.h"

namespace aurora::node {
namespace {

namespace fs = std::filesystem;
namespace dv1 = aurora::directory::v1;
using Catch::Matchers::Contains;

constexpr char kOrgA[] = "aaaaaaaa-0000-4000-8000-00000000000a";
constexpr char kOrgB[] = "bbbbbbbb-0000-4000-8000-00000000000b";
constexpr char kOrgC[] = "cccccccc-0000-4000-8000-00000000000c";

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/aurora-ca-test-XXXXXX";
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

CertificateInfo Issue(const std::string& ca_dir, const std::string& org, const std::string& out) {
  NodeCertificateRequest request;
  request.ca_dir = ca_dir;
  request.organization_id = org;
  request.out_dir = out;
  auto info = IssueNodeCertificate(request);
  RequireOk(info.status());
  return *info;
}

TlsFiles FilesOf(const std::string& dir, const std::string& crl_dir = "") {
  TlsFiles files;
  files.cert = dir + "/node.crt";
  files.key = dir + "/node.key";
  files.ca = dir + "/ca.crt";
  files.crl_dir = crl_dir;
  files.refresh = absl::Seconds(1);
  return files;
}

// Answers GetOrganization with the caller as the callee sees it: id = the organisation of the
// peer's certificate, name.fi = the x-aurora-client-id and name.sv = the x-aurora-organization-id
// metadata that reached the service.
class WhoCallsService final : public dv1::Directory::CallbackService {
  grpc::ServerUnaryReactor* GetOrganization(grpc::CallbackServerContext* context,
                                            const dv1::GetOrganizationRequest*,
                                            dv1::Organization* response) override {
    response->set_id(PeerOrganization(*context).value_or("none"));
    const auto& metadata = context->client_metadata();
    const auto value = [&](const char* key) {
      auto it = metadata.find(key);
      return it == metadata.end() ? std::string("none")
                                  : std::string(it->second.data(), it->second.size());
    };
    response->mutable_name()->set_fi(value(kCallerClientMetadata));
    response->mutable_name()->set_sv(value(kCallerOrganizationMetadata));
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

struct Call {
  grpc::Status status;
  dv1::Organization answer;
  std::string server_serial;  // of the certificate the server presented
};

Call CallWith(int port, std::shared_ptr<grpc::ChannelCredentials> credentials,
              const std::string& client_id = "", const std::string& organization_id = "") {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a new connection for every channel
  // An IP literal: no DNS resolution (whose resolver library leaves allocations LeakSanitizer
  // reports); the certificates name 127.0.0.1.
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), credentials, args);
  auto stub = dv1::Directory::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!client_id.empty()) context.AddMetadata(kCallerClientMetadata, client_id);
  if (!organization_id.empty()) context.AddMetadata(kCallerOrganizationMetadata, organization_id);
  dv1::GetOrganizationRequest request;
  Call call;
  call.status = stub->GetOrganization(&context, request, &call.answer);
  if (call.status.ok() && context.auth_context()) {
    auto pem = context.auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (!pem.empty()) {
      auto info = InspectCertificate(std::string(pem[0].data(), pem[0].size()), "server");
      if (info.ok()) call.server_serial = info->serial_hex;
    }
  }
  return call;
}

TEST_CASE("the CA issues node certificates that name their organisation", "[node][tls]") {
  TempDir dir;
  CaInitOptions init;
  init.dir = dir / "ca";
  auto root = InitNetworkCa(init);
  RequireOk(root.status());
  CHECK(root->organization_id.empty());
  struct stat key_stat {};
  REQUIRE(stat((dir / "ca/ca.key").c_str(), &key_stat) == 0);
  CHECK((key_stat.st_mode & 0777) == 0600);
  auto crl = CrlPath(dir / "ca");
  RequireOk(crl.status());
  CHECK(fs::exists(*crl));

  SECTION("init refuses to replace a CA") {
    auto again = InitNetworkCa(init);
    CHECK(again.status().code() == absl::StatusCode::kAlreadyExists);
  }

  const CertificateInfo a = Issue(dir / "ca", kOrgA, dir / "a");
  CHECK(a.organization_id == kOrgA);
  CHECK(a.not_after > absl::Now() + absl::Hours(24 * 364));
  REQUIRE(stat((dir / "a/node.key").c_str(), &key_stat) == 0);
  CHECK((key_stat.st_mode & 0777) == 0600);
  auto checked = CheckTlsFiles(FilesOf(dir / "a", dir / "ca/crl"));
  RequireOk(checked.status());
  CHECK(checked->organization_id == kOrgA);
  CHECK(checked->serial_hex == a.serial_hex);
  auto issued = ReadFile(dir / "ca/issued.tsv");
  RequireOk(issued.status());
  CHECK_THAT(*issued, Contains(a.serial_hex) && Contains(kOrgA));

  SECTION("bad requests are refused naming the field and value, and write nothing") {
    NodeCertificateRequest request;
    request.ca_dir = dir / "ca";
    request.out_dir = dir / "x";
    request.organization_id = "not-a-uuid";
    auto bad = IssueNodeCertificate(request);
    CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(bad.status().message()), Contains("--org") && Contains("not-a-uuid"));
    request.organization_id = kOrgB;
    request.dns_names = {"evil,URI:urn:aurora:org:" + std::string(kOrgA)};
    bad = IssueNodeCertificate(request);
    CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(bad.status().message()), Contains("--dns"));
    request.dns_names = {"localhost"};
    request.ip_addresses = {"300.1.1.1"};
    bad = IssueNodeCertificate(request);
    CHECK_THAT(std::string(bad.status().message()), Contains("--ip") && Contains("300.1.1.1"));
    request.ip_addresses = {};
    request.days = 0;
    bad = IssueNodeCertificate(request);
    CHECK_THAT(std::string(bad.status().message()), Contains("--days"));
    request.days = 365;
    request.ca_dir = dir / "nowhere";
    bad = IssueNodeCertificate(request);
    CHECK(bad.status().code() == absl::StatusCode::kNotFound);
    CHECK_FALSE(fs::exists(dir / "x"));
  }
  SECTION("CheckTlsFiles names the file and the problem") {
    TlsFiles files = FilesOf(dir / "a");
    files.cert = dir / "missing.crt";
    auto missing = CheckTlsFiles(files);
    CHECK(missing.status().code() == absl::StatusCode::kNotFound);
    CHECK_THAT(std::string(missing.status().message()), Contains("--tls-cert"));

    Issue(dir / "ca", kOrgB, dir / "b");
    files = FilesOf(dir / "a");
    files.key = dir / "b/node.key";
    auto mismatch = CheckTlsFiles(files);
    CHECK_THAT(std::string(mismatch.status().message()), Contains("does not belong"));

    TempDir other;
    CaInitOptions foreign;
    foreign.dir = other / "ca";
    RequireOk(InitNetworkCa(foreign).status());
    files = FilesOf(dir / "a");
    files.ca = other / "ca/ca.crt";
    auto stranger = CheckTlsFiles(files);
    CHECK(stranger.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(stranger.status().message()),
               Contains("not accepted by the network CA"));

    files = FilesOf(dir / "a");
    auto expired = CheckTlsFiles(files, absl::Now() + absl::Hours(24 * 400));
    CHECK_THAT(std::string(expired.status().message()), Contains("expired"));

    files.ca = "";
    auto partial = CheckTlsFiles(files);
    CHECK_THAT(std::string(partial.status().message()), Contains("--tls-ca is required"));
  }
  SECTION("a revoked certificate fails the check once the CRL names it") {
    auto serial = RevokeCertificate(dir / "ca", dir / "a/node.crt");
    RequireOk(serial.status());
    CHECK(*serial == a.serial_hex);
    auto revoked = CheckTlsFiles(FilesOf(dir / "a", dir / "ca/crl"));
    CHECK_THAT(std::string(revoked.status().message()), Contains("revoked"));
    // Twice is not an error; by serial too; garbage is.
    RequireOk(RevokeCertificate(dir / "ca", a.serial_hex).status());
    auto garbage = RevokeCertificate(dir / "ca", "zz-not-hex");
    CHECK(garbage.status().code() == absl::StatusCode::kInvalidArgument);
    auto revoked_list = ReadFile(dir / "ca/revoked.tsv");
    RequireOk(revoked_list.status());
    CHECK(std::count(revoked_list->begin(), revoked_list->end(), '\n') == 1);
  }
}

TEST_CASE("mutual TLS: the callee knows the caller's organisation from its certificate",
          "[node][tls]") {
  TempDir dir;
  CaInitOptions init;
  init.dir = dir / "ca";
  RequireOk(InitNetworkCa(init).status());
  Issue(dir / "ca", kOrgA, dir / "a");
  Issue(dir / "ca", kOrgB, dir / "b");
  const CertificateInfo c = Issue(dir / "ca", kOrgC, dir / "c");
  TempDir other;
  CaInitOptions foreign_init;
  foreign_init.dir = other / "ca";
  RequireOk(InitNetworkCa(foreign_init).status());
  Issue(other / "ca", kOrgA, other / "a");  // the right organisation id, the wrong CA

  const TlsFiles server_files = FilesOf(dir / "c", dir / "ca/crl");
  RequireOk(CheckTlsFiles(server_files).status());
  WhoCallsService service;
  GrpcServer server;
  server.AddService(&service, dv1::Directory::service_full_name());
  server.SetCredentials(ServerCredentials(server_files), kOrgC);
  RequireOk(server.Start("127.0.0.1:0", nullptr));
  server.SetServing(true);

  // A member's call: its organisation comes from the certificate, whatever organisation it
  // claims in the metadata, and it cannot speak for organisation C's API clients.
  Call from_a =
      CallWith(server.port(), ChannelCredentials(FilesOf(dir / "a")), "client-of-c", kOrgC);
  INFO(from_a.status.error_message());
  REQUIRE(from_a.status.ok());
  CHECK(from_a.answer.id() == kOrgA);
  CHECK(from_a.answer.name().fi() == "none");
  CHECK(from_a.answer.name().sv() == kOrgA);
  CHECK(from_a.server_serial == c.serial_hex);

  // The node's own organisation (its gateway or tools) may name the API client; without
  // metadata it calls as the node's operators do.
  Call from_c =
      CallWith(server.port(), ChannelCredentials(FilesOf(dir / "c")), "client-of-c", kOrgC);
  REQUIRE(from_c.status.ok());
  CHECK(from_c.answer.id() == kOrgC);
  CHECK(from_c.answer.name().fi() == "client-of-c");
  CHECK(from_c.answer.name().sv() == kOrgC);
  Call operator_call = CallWith(server.port(), ChannelCredentials(FilesOf(dir / "c")));
  REQUIRE(operator_call.status.ok());
  CHECK(operator_call.answer.name().sv() == "none");

  // Refused at the handshake: a certificate of another CA, no client certificate, plaintext.
  Call foreign = CallWith(server.port(), ChannelCredentials(FilesOf(other / "a")));
  CHECK(foreign.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions anonymous;
  anonymous.pem_root_certs = *ReadFile(dir / "ca/ca.crt");
  Call no_cert = CallWith(server.port(), grpc::SslCredentials(anonymous));
  CHECK(no_cert.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  Call plaintext = CallWith(server.port(), grpc::InsecureChannelCredentials());
  CHECK(plaintext.status.error_code() == grpc::StatusCode::UNAVAILABLE);

  SECTION("a revoked certificate is refused at the handshake") {
    RequireOk(RevokeCertificate(dir / "ca", dir / "b/node.crt").status());
    // The server re-reads its files every second; the CRL applies to new connections.
    grpc::Status status;
    for (int attempt = 0; attempt < 50; ++attempt) {
      status = CallWith(server.port(), ChannelCredentials(FilesOf(dir / "b"))).status;
      if (!status.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(CallWith(server.port(), ChannelCredentials(FilesOf(dir / "a"))).status.ok());
  }
  SECTION("a client refuses a server whose certificate does not name the target host") {
    NodeCertificateRequest request;
    request.ca_dir = dir / "ca";
    request.organization_id = kOrgB;
    request.out_dir = dir / "elsewhere";
    request.dns_names = {"elsewhere.example"};
    request.ip_addresses = {"10.0.0.1"};
    RequireOk(IssueNodeCertificate(request).status());
    GrpcServer misnamed;
    WhoCallsService other_service;
    misnamed.AddService(&other_service, dv1::Directory::service_full_name());
    misnamed.SetCredentials(ServerCredentials(FilesOf(dir / "elsewhere")), kOrgB);
    RequireOk(misnamed.Start("127.0.0.1:0", nullptr));
    Call call = CallWith(misnamed.port(), ChannelCredentials(FilesOf(dir / "a")));
    CHECK(call.status.error_code() == grpc::StatusCode::UNAVAILABLE);
    misnamed.Shutdown(absl::ZeroDuration());
  }
  SECTION("a renewed certificate is served without a restart") {
    const CertificateInfo renewed = Issue(dir / "ca", kOrgC, dir / "c");
    REQUIRE(renewed.serial_hex != c.serial_hex);
    std::string served;
    for (int attempt = 0; attempt < 50 && served != renewed.serial_hex; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      Call call = CallWith(server.port(), ChannelCredentials(FilesOf(dir / "a")));
      REQUIRE(call.status.ok());
      served = call.server_serial;
    }
    CHECK(served == renewed.serial_hex);
  }
  server.Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace aurora::node

namespace aurora::node {
namespace {

TEST_CASE("a certificate with the registry role signs, and signatures are checked against the CA",
          "[node][tls]") {
  TempDir dir;
  CaInitOptions init;
  init.dir = dir / "ca";
  RequireOk(InitNetworkCa(init).status());
  NodeCertificateRequest request;
  request.ca_dir = dir / "ca";
  request.organization_id = kOrgC;
  request.out_dir = dir / "directory";
  request.roles = {kRegistryRole};
  auto signer = IssueNodeCertificate(request);
  RequireOk(signer.status());
  CHECK(signer->roles == std::vector<std::string>{kRegistryRole});
  const CertificateInfo member = Issue(dir / "ca", kOrgA, dir / "a");
  CHECK(member.roles.empty());
  TempDir other;
  CaInitOptions foreign_init;
  foreign_init.dir = other / "ca";
  RequireOk(InitNetworkCa(foreign_init).status());
  request.ca_dir = other / "ca";
  request.out_dir = other / "directory";
  RequireOk(IssueNodeCertificate(request).status());

  request.roles = {"Registry"};
  auto bad = IssueNodeCertificate(request);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(bad.status().message()), Contains("--role") && Contains("\"Registry\""));

  const TlsFiles trust = FilesOf(dir / "a", dir / "ca/crl");
  const std::string data = "version 7 of the registry";
  const auto sign = [&](const std::string& folder) {
    auto key = ReadFile(folder + "/node.key");
    RequireOk(key.status());
    auto signature = SignSha256(*key, data);
    RequireOk(signature.status());
    return *signature;
  };
  const std::string signer_pem = *ReadFile(dir / "directory/node.crt");
  const std::string signature = sign(dir / "directory");

  auto verified = VerifySignedBy(trust, signer_pem, kRegistryRole, data, signature);
  RequireOk(verified.status());
  CHECK(verified->organization_id == kOrgC);

  // Changed data, a member without the role, a signer of another CA, a revoked signer.
  CHECK(VerifySignedBy(trust, signer_pem, kRegistryRole, data + "!", signature).status().code() ==
        absl::StatusCode::kPermissionDenied);
  auto no_role = VerifySignedBy(trust, *ReadFile(dir / "a/node.crt"), kRegistryRole, data,
                                sign(dir / "a"));
  CHECK(no_role.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(no_role.status().message()), Contains("role registry"));
  RequireOk(VerifySignedBy(trust, *ReadFile(dir / "a/node.crt"), "", data, sign(dir / "a"))
                .status());
  auto foreign = VerifySignedBy(trust, *ReadFile(other / "directory/node.crt"), kRegistryRole,
                                data, sign(other / "directory"));
  CHECK(foreign.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(foreign.status().message()), Contains("not accepted by the network CA"));
  RequireOk(RevokeCertificate(dir / "ca", dir / "directory/node.crt").status());
  CHECK(VerifySignedBy(trust, signer_pem, kRegistryRole, data, signature).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace aurora::node
