#include "registry_fixture.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <catch2/catch.hpp>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <vector>

#include "common/caller.h"
#include "common/files.h"
#include "node/network_ca.h"

namespace aurora::network::testing {
namespace {

namespace fs = std::filesystem;
namespace bv1 = fi::example::benefits::v1;

void SetTime(google::protobuf::Timestamp* out, absl::Time t) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

void Issue(const std::string& ca_dir, const std::string& org, const std::string& out,
           std::vector<std::string> roles = {}) {
  node::NodeCertificateRequest request;
  request.ca_dir = ca_dir;
  request.organization_id = org;
  request.out_dir = out;
  request.roles = std::move(roles);
  RequireOk(node::IssueNodeCertificate(request).status());
}

std::string Read(const std::string& path) {
  auto text = ReadFile(path);
  RequireOk(text.status());
  return *text;
}

}  // namespace

TempDir::TempDir() {
  char pattern[] = "/tmp/aurora-network-test-XXXXXX";
  path = mkdtemp(pattern);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

void RequireOk(const absl::Status& status) {
  INFO(status.ToString());
  REQUIRE(status.ok());
}

TestNetwork::TestNetwork() {
  node::CaInitOptions init;
  init.dir = dir_ / "ca";
  init.name = "Aurora test network";
  RequireOk(node::InitNetworkCa(init).status());
  node::CaInitOptions foreign;
  foreign.dir = dir_ / "other-ca";
  foreign.name = "Someone else's network";
  RequireOk(node::InitNetworkCa(foreign).status());

  Issue(dir_ / "ca", kOrgA, dir_ / "signers/registry", {kRegistryRole});
  Issue(dir_ / "ca", kOrgA, dir_ / "signers/without-role");
  Issue(dir_ / "other-ca", kOrgA, dir_ / "signers/foreign-ca", {kRegistryRole});
  for (const char* org : {kOrgA, kOrgB, kOrgC, kOrgD, kStranger}) {
    Issue(dir_ / "ca", org, dir_ / ("nodes/" + std::string(org)));
  }
}

TlsFiles TestNetwork::Trust() const {
  TlsFiles trust;
  trust.ca = dir_ / "ca/ca.crt";
  trust.crl_dir = dir_ / "ca/crl";
  return trust;
}

TlsFiles TestNetwork::NodeFiles(const std::string& organization_id) const {
  const std::string node = dir_ / ("nodes/" + organization_id);
  TlsFiles files;
  files.cert = node + "/node.crt";
  files.key = node + "/node.key";
  files.ca = dir_ / "ca/ca.crt";
  files.crl_dir = dir_ / "ca/crl";
  return files;
}

v1::SignedRegistry TestNetwork::Sign(const v1::RegistrySnapshot& snapshot, Signer signer) const {
  const std::string folder = signer == Signer::kRegistry      ? "signers/registry"
                             : signer == Signer::kWithoutRole ? "signers/without-role"
                                                              : "signers/foreign-ca";
  v1::SignedRegistry signed_copy;
  signed_copy.set_snapshot(snapshot.SerializeAsString());
  auto signature = SignSha256(Read(dir_ / (folder + "/node.key")), signed_copy.snapshot());
  RequireOk(signature.status());
  signed_copy.set_signature(*signature);
  signed_copy.set_signer_certificate(Read(dir_ / (folder + "/node.crt")));
  return signed_copy;
}

v1::RegistrySnapshot SampleSnapshot(int64_t version, absl::Time valid_until) {
  v1::RegistrySnapshot s;
  s.set_version(version);
  SetTime(s.mutable_issue_time(), absl::Now() - absl::Minutes(1));
  SetTime(s.mutable_valid_until(), valid_until);
  const auto member = [&](const char* id, const char* name, const char* address) {
    v1::Member* m = s.add_members();
    m->set_organization_id(id);
    m->mutable_name()->set_fi(name);
    m->set_node_address(address);
    m->set_revision(1);
  };
  member(kOrgA, "Kela", "a.example:443");
  member(kOrgB, "Verohallinto", "");
  member(kOrgC, "Työmarkkinatori", "");
  member(kOrgD, "Maanmittauslaitos", "d.example:443");

  v1::NetworkService* benefits = s.add_services();
  benefits->set_name(kBenefits);
  benefits->set_organization_id(kOrgA);
  benefits->mutable_title()->set_en("Benefit decisions");
  benefits->mutable_access()->add_allowed_organizations(kOrgB);
  v1::MethodAccess* get = benefits->add_method_access();
  get->set_method("GetDecision");
  get->mutable_access()->set_open_to_members(true);
  v1::MethodAccess* apply = benefits->add_method_access();
  apply->set_method("Apply");
  apply->mutable_access()->add_allowed_organizations(kOrgC);
  benefits->set_descriptor_set(BenefitsDescriptorSet());
  for (const char* method : {"GetDecision", "ListDecisions", "Apply"}) {
    benefits->add_methods(method);
  }
  benefits->set_revision(version);

  v1::NetworkService* maps = s.add_services();
  maps->set_name(kMaps);
  maps->set_organization_id(kOrgD);
  maps->mutable_access()->set_open_to_members(true);
  maps->add_methods("Find");
  maps->set_revision(2);
  return s;
}

std::string BenefitsDescriptorSet() {
  // Dependencies first, each file once.
  google::protobuf::FileDescriptorSet set;
  std::set<std::string> added;
  std::function<void(const google::protobuf::FileDescriptor*)> add =
      [&](const google::protobuf::FileDescriptor* file) {
        if (!added.insert(file->name()).second) return;
        for (int i = 0; i < file->dependency_count(); ++i) add(file->dependency(i));
        file->CopyTo(set.add_file());
      };
  add(bv1::Decision::descriptor()->file());
  return set.SerializeAsString();
}

// ---------------------------------------------------------------------------------------------
// FakeRegistry

// One WatchRegistry stream: copies queue up and are written one at a time. The mutex is
// recursive because gRPC may run a reaction on the thread that starts an operation.
class FakeRegistry::Stream final : public grpc::ServerWriteReactor<v1::SignedRegistry> {
 public:
  explicit Stream(FakeRegistry* owner) : owner_(owner) {}

  void Send(const v1::SignedRegistry& copy) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    queue_.push_back(copy);
    if (!writing_) WriteNext();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (ok && !finished_ && !queue_.empty()) WriteNext();
  }

  void OnCancel() override {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;  // no write starts after this
    }
    Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    owner_->Remove(this);
    delete this;
  }

 private:
  void WriteNext() {
    writing_ = true;
    sending_ = std::move(queue_.front());
    queue_.pop_front();
    StartWrite(&sending_);
  }

  FakeRegistry* const owner_;
  std::recursive_mutex mu_;
  std::deque<v1::SignedRegistry> queue_;
  v1::SignedRegistry sending_;
  bool writing_ = false;
  bool finished_ = false;
};

FakeRegistry::~FakeRegistry() {
  // The server has been shut down: every stream is done.
  std::lock_guard lock(mu_);
  CHECK(streams_.empty());
}

grpc::ServerWriteReactor<v1::SignedRegistry>* FakeRegistry::WatchRegistry(
    grpc::CallbackServerContext* /*context*/, const v1::WatchRegistryRequest* /*request*/) {
  auto* stream = new Stream(this);
  std::lock_guard lock(mu_);
  streams_.insert(stream);
  ++opened_;
  cv_.notify_all();
  if (current_) stream->Send(*current_);
  return stream;
}

void FakeRegistry::Publish(const v1::SignedRegistry& copy) {
  std::lock_guard lock(mu_);
  current_ = std::make_unique<v1::SignedRegistry>(copy);
  for (Stream* stream : streams_) stream->Send(copy);
}

bool FakeRegistry::WaitForStreams(int n, absl::Duration timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return opened_ >= n; });
}

void FakeRegistry::Remove(Stream* stream) {
  std::lock_guard lock(mu_);
  streams_.erase(stream);
}

// ---------------------------------------------------------------------------------------------
// BenefitsService

grpc::ServerUnaryReactor* BenefitsService::GetDecision(grpc::CallbackServerContext* context,
                                                       const bv1::GetDecisionRequest* request,
                                                       bv1::Decision* response) {
  response->set_decision_id(request->decision_id());
  const std::string caller = CallerOrganization(*context);
  response->set_outcome(caller.empty() ? "none" : caller);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<bv1::Decision>* BenefitsService::ListDecisions(
    grpc::CallbackServerContext* context, const bv1::ListDecisionsRequest* /*request*/) {
  class OneDecision final : public grpc::ServerWriteReactor<bv1::Decision> {
   public:
    explicit OneDecision(std::string caller) {
      decision_.set_decision_id("d-1");
      decision_.set_outcome(caller.empty() ? "none" : caller);
      StartWriteAndFinish(&decision_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    bv1::Decision decision_;
  };
  return new OneDecision(CallerOrganization(*context));
}

grpc::ServerUnaryReactor* BenefitsService::Apply(grpc::CallbackServerContext* context,
                                                 const bv1::ApplyRequest* request,
                                                 bv1::Decision* response) {
  response->set_decision_id(request->benefit());
  const std::string caller = CallerOrganization(*context);
  response->set_outcome(caller.empty() ? "none" : caller);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace aurora::network::testing
