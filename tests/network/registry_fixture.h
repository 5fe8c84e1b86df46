#pragma once
// Shared fixture of the network tests: a network CA in a temporary folder with node certificates
// for a few organisations, a registry signer (role registry) and signers that must be refused
// (no role, another CA); a sample registry with a member's service (fi.example.benefits.v1,
// tests/network/protos) and its descriptor set; a fake directory that serves WatchRegistry the
// way the test drives it; and the Benefits service itself.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "aurora/network/v1/network.grpc.pb.h"
#include "common/tls.h"
#include "fi/example/benefits/v1/benefits.grpc.pb.h"

namespace aurora::network::testing {

inline constexpr char kOrgA[] = "aaaaaaaa-0000-4000-8000-00000000000a";      // provides Benefits
inline constexpr char kOrgB[] = "bbbbbbbb-0000-4000-8000-00000000000b";      // Benefits' allow-list
inline constexpr char kOrgC[] = "cccccccc-0000-4000-8000-00000000000c";      // Apply's allow-list
inline constexpr char kOrgD[] = "dddddddd-0000-4000-8000-00000000000d";      // provides Maps
inline constexpr char kStranger[] = "eeeeeeee-0000-4000-8000-00000000000e";  // not a member
inline constexpr char kBenefits[] = "fi.example.benefits.v1.Benefits";
inline constexpr char kMaps[] = "fi.other.v1.Maps";

struct TempDir {
  TempDir();
  ~TempDir();
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// REQUIRE(status.ok()) with the status in the failure message.
void RequireOk(const absl::Status& status);

class TestNetwork {
 public:
  enum class Signer { kRegistry, kWithoutRole, kForeignCa };

  TestNetwork();  // the CA, the signers, and node certificates for kOrgA..kOrgD and kStranger

  // The network CA and its CRL folder: what a node verifies registry copies against.
  TlsFiles Trust() const;
  // An organisation's node certificate, key and the CA (for ServerCredentials and channels).
  TlsFiles NodeFiles(const std::string& organization_id) const;
  // `snapshot` serialized and signed by `signer`.
  v1::SignedRegistry Sign(const v1::RegistrySnapshot& snapshot,
                          Signer signer = Signer::kRegistry) const;

  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
};

// The registry the tests use: members kOrgA (node address a.example:443), kOrgB, kOrgC, kOrgD;
// kBenefits by kOrgA, with its descriptor set: the service open to kOrgB only, GetDecision open to
// members, Apply to kOrgC only; kMaps by kOrgD (d.example:443), open to members.
v1::RegistrySnapshot SampleSnapshot(int64_t version,
                                    absl::Time valid_until = absl::Now() + absl::Hours(1));

// The serialized FileDescriptorSet of benefits.proto with its imports, as protoc
// --include_imports would make it.
std::string BenefitsDescriptorSet();

// The directory's NetworkRegistry as far as a node uses it: WatchRegistry sends the copy last
// published at once, then every copy published while the stream is open. The other methods are
// left UNIMPLEMENTED. Thread-safe.
class FakeRegistry final : public v1::NetworkRegistry::CallbackService {
 public:
  ~FakeRegistry() override;

  grpc::ServerWriteReactor<v1::SignedRegistry>* WatchRegistry(
      grpc::CallbackServerContext* context, const v1::WatchRegistryRequest* request) override;

  // Makes `copy` the current one and sends it to every open stream.
  void Publish(const v1::SignedRegistry& copy);
  // Waits until `n` streams have been opened in all; false after `timeout`.
  bool WaitForStreams(int n, absl::Duration timeout);

 private:
  class Stream;
  void Remove(Stream* stream);

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<Stream*> streams_;
  int opened_ = 0;
  std::unique_ptr<v1::SignedRegistry> current_;
};

// fi.example.benefits.v1.Benefits: every method answers (ListDecisions with one message) with
// `outcome` set to the caller organisation (x-aurora-organization-id) the service saw, or "none".
class BenefitsService final : public fi::example::benefits::v1::Benefits::CallbackService {
 public:
  grpc::ServerWriteReactor<fi::example::benefits::v1::Decision>* ListDecisions(
      grpc::CallbackServerContext* context,
      const fi::example::benefits::v1::ListDecisionsRequest* request) override;
  grpc::ServerUnaryReactor* GetDecision(
      grpc::CallbackServerContext* context,
      const fi::example::benefits::v1::GetDecisionRequest* request,
      fi::example::benefits::v1::Decision* response) override;
  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* context,
                                  const fi::example::benefits::v1::ApplyRequest* request,
                                  fi::example::benefits::v1::Decision* response) override;
};

}  // namespace aurora::network::testing
