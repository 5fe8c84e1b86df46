// Tests of the node's copy of the network registry (src/network/registry_copy.*): copies are
// followed from a real gRPC WatchRegistry stream (a fake directory on 127.0.0.1 that the test
// drives), verified against a real network CA (signature, CA, registry role), never replaced by
// an older version, persisted and read back at start-up, kept serving while the directory is
// down, and kept (but refusing other organisations) once expired.

#include "network/registry_copy.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>

#include "common/files.h"
#include "common/metrics.h"
#include "common/server.h"
#include "registry_fixture.h"

namespace aurora::network {
namespace {

using Catch::Matchers::Contains;
using testing::kBenefits;
using testing::kOrgA;
using testing::kOrgB;
using testing::RequireOk;
using testing::SampleSnapshot;
using testing::TempDir;
using testing::TestNetwork;

constexpr absl::Duration kWait = absl::Seconds(20);

// A fake directory: NetworkRegistry on 127.0.0.1 (a free port, or the one given).
struct Directory {
  explicit Directory(int port = 0) {
    server.AddService(&registry, v1::NetworkRegistry::service_full_name());
    RequireOk(server.Start(absl::StrCat("127.0.0.1:", port), nullptr));
    server.SetServing(true);
  }
  testing::FakeRegistry registry;  // outlives the server
  GrpcServer server;
};

// A channel that reconnects quickly, so that a directory back on its port is found at once.
std::shared_ptr<grpc::Channel> ChannelTo(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

// Port 1 on loopback: nothing listens there, so every call fails at once.
std::shared_ptr<grpc::Channel> Nowhere() { return ChannelTo(1); }

RegistryCopyOptions Options(std::shared_ptr<grpc::Channel> channel, TlsFiles trust,
                            std::string cache_path, Metrics* metrics = nullptr) {
  RegistryCopyOptions options;
  options.directory = std::move(channel);
  options.trust = std::move(trust);
  options.cache_path = std::move(cache_path);
  options.metrics = metrics;
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(200);
  return options;
}

// The values of the metric `name` by their "result" (or no) label.
std::map<std::string, double> MetricValues(Metrics& metrics, const std::string& name) {
  std::map<std::string, double> values;
  for (const auto& family : metrics.registry().Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      std::string key;
      for (const auto& label : metric.label) key = label.value;
      values[key] =
          family.type == prometheus::MetricType::Gauge ? metric.gauge.value : metric.counter.value;
    }
  }
  return values;
}

v1::SignedRegistry CachedCopy(const std::string& path) {
  auto bytes = ReadFile(path);
  RequireOk(bytes.status());
  v1::SignedRegistry copy;
  REQUIRE(copy.ParseFromString(*bytes));
  return copy;
}

int64_t VersionOf(const v1::SignedRegistry& copy) {
  v1::RegistrySnapshot snapshot;
  REQUIRE(snapshot.ParseFromString(copy.snapshot()));
  return snapshot.version();
}

TEST_CASE("a node follows the directory's signed copies, keeps them, and refuses bad ones",
          "[network][registry]") {
  TestNetwork net;
  TempDir dir;
  Directory directory;
  const v1::SignedRegistry first = net.Sign(SampleSnapshot(5));
  directory.registry.Publish(first);

  Metrics metrics;
  RegistryCopy copy(Options(ChannelTo(directory.server.port()), net.Trust(),
                            dir / "network-registry.pb", &metrics));
  CHECK(copy.Current() == nullptr);
  CHECK(copy.version() == 0);
  RequireOk(copy.Start());
  REQUIRE(copy.WaitForVersion(5, kWait));
  std::shared_ptr<const RegistryView> view = copy.Current();
  REQUIRE(view != nullptr);
  CHECK(view->version() == 5);
  CHECK(view->FindService(kBenefits) != nullptr);
  CHECK(CachedCopy(dir / "network-registry.pb").SerializeAsString() == first.SerializeAsString());
  CHECK(MetricValues(metrics, "aurora_network_registry_version")[""] == 5);
  CHECK(MetricValues(metrics, "aurora_network_registry_valid_until_seconds")[""] ==
        Approx(absl::ToDoubleSeconds(view->valid_until() - absl::UnixEpoch())));

  // Refused, in this order, while the stream stays open: a signature over other bytes, a signer
  // from another CA, a signer without the registry role, an older version. Then a good copy.
  v1::SignedRegistry tampered = net.Sign(SampleSnapshot(6));
  tampered.set_snapshot(SampleSnapshot(7).SerializeAsString());
  directory.registry.Publish(tampered);
  directory.registry.Publish(net.Sign(SampleSnapshot(8), TestNetwork::Signer::kForeignCa));
  directory.registry.Publish(net.Sign(SampleSnapshot(9), TestNetwork::Signer::kWithoutRole));
  directory.registry.Publish(net.Sign(SampleSnapshot(4)));
  directory.registry.Publish(net.Sign(SampleSnapshot(6)));
  REQUIRE(copy.WaitForVersion(6, kWait));
  CHECK(copy.version() == 6);  // none of 7, 8, 9 got in
  CHECK(VersionOf(CachedCopy(dir / "network-registry.pb")) == 6);
  auto copies = MetricValues(metrics, "aurora_network_registry_copies_total");
  CHECK(copies["taken"] == 2);
  CHECK(copies["refused"] == 4);
  CHECK(MetricValues(metrics, "aurora_network_registry_version")[""] == 6);

  SECTION("Start is refused twice, and Stop is idempotent") {
    CHECK(copy.Start().code() == absl::StatusCode::kFailedPrecondition);
    copy.Stop();
    copy.Stop();
    CHECK(copy.version() == 6);  // the copy keeps answering after Stop
  }
  copy.Stop();
}

TEST_CASE("Offer applies the rules every copy must pass", "[network][registry]") {
  TestNetwork net;
  TempDir dir;
  RegistryCopy copy(Options(Nowhere(), net.Trust(), dir / "registry.pb"));
  const absl::Time until = absl::Now() + absl::Hours(1);
  RequireOk(copy.Offer(net.Sign(SampleSnapshot(5, until))));
  CHECK(copy.version() == 5);

  const auto refused = [&](const v1::SignedRegistry& offered, absl::StatusCode code) {
    absl::Status status = copy.Offer(offered);
    INFO(status.ToString());
    CHECK(status.code() == code);
    CHECK(copy.version() == 5);
    return std::string(status.message());
  };
  v1::SignedRegistry tampered = net.Sign(SampleSnapshot(6, until));
  tampered.set_snapshot(SampleSnapshot(7, until).SerializeAsString());
  CHECK_THAT(refused(tampered, absl::StatusCode::kPermissionDenied),
             Contains("registry copy refused") && Contains("signature does not match"));
  CHECK_THAT(refused(net.Sign(SampleSnapshot(6, until), TestNetwork::Signer::kForeignCa),
                     absl::StatusCode::kPermissionDenied),
             Contains("not accepted by the network CA"));
  CHECK_THAT(refused(net.Sign(SampleSnapshot(6, until), TestNetwork::Signer::kWithoutRole),
                     absl::StatusCode::kPermissionDenied),
             Contains("does not carry the role registry"));
  v1::SignedRegistry unsigned_copy;
  unsigned_copy.set_snapshot(SampleSnapshot(6, until).SerializeAsString());
  refused(unsigned_copy, absl::StatusCode::kInvalidArgument);
  CHECK_THAT(refused(net.Sign(SampleSnapshot(4, until)), absl::StatusCode::kFailedPrecondition),
             Contains("version 4 is older than the current copy's 5"));

  // Correctly signed bytes that are not a usable snapshot.
  v1::SignedRegistry garbage = net.Sign(SampleSnapshot(6, until));
  garbage.set_snapshot("\xff\xff not a snapshot");
  auto key = ReadFile(net.dir() / "signers/registry/node.key");
  RequireOk(key.status());
  auto signature = SignSha256(*key, garbage.snapshot());
  RequireOk(signature.status());
  garbage.set_signature(*signature);
  CHECK_THAT(refused(garbage, absl::StatusCode::kInvalidArgument),
             Contains("not a serialized RegistrySnapshot"));
  v1::RegistrySnapshot no_expiry = SampleSnapshot(6, until);
  no_expiry.clear_valid_until();
  CHECK_THAT(refused(net.Sign(no_expiry), absl::StatusCode::kInvalidArgument),
             Contains("valid_until is not set"));

  // The same version replaces the copy only when it is valid longer (a re-signature).
  CHECK(copy.Offer(net.Sign(SampleSnapshot(5, until))).code() == absl::StatusCode::kAlreadyExists);
  CHECK(copy.Offer(net.Sign(SampleSnapshot(5, until - absl::Minutes(5)))).code() ==
        absl::StatusCode::kAlreadyExists);
  RequireOk(copy.Offer(net.Sign(SampleSnapshot(5, until + absl::Minutes(30)))));
  CHECK(copy.Current()->valid_until() == until + absl::Minutes(30));
  CHECK(copy.Current()->version() == 5);

  // The file holds the newest copy taken, never a refused one.
  v1::RegistrySnapshot cached;
  REQUIRE(cached.ParseFromString(CachedCopy(dir / "registry.pb").snapshot()));
  CHECK(cached.version() == 5);
  CHECK(cached.valid_until().seconds() == absl::ToUnixSeconds(until + absl::Minutes(30)));
}

TEST_CASE("without a network CA copies are taken unsigned", "[network][registry]") {
  RegistryCopy copy(Options(Nowhere(), TlsFiles{}, ""));
  v1::SignedRegistry unsigned_copy;
  unsigned_copy.set_snapshot(SampleSnapshot(3).SerializeAsString());
  RequireOk(copy.Offer(unsigned_copy));
  CHECK(copy.version() == 3);

  RegistryCopy no_channel(Options(nullptr, TlsFiles{}, ""));
  CHECK(no_channel.Start().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the copy keeps serving while the directory is down and follows it again",
          "[network][registry]") {
  TestNetwork net;
  TempDir dir;
  auto directory = std::make_unique<Directory>();
  const int port = directory->server.port();
  directory->registry.Publish(net.Sign(SampleSnapshot(3)));
  RegistryCopy copy(Options(ChannelTo(port), net.Trust(), dir / "registry.pb"));
  RequireOk(copy.Start());
  REQUIRE(copy.WaitForVersion(3, kWait));

  directory.reset();  // the directory stops: the stream fails, the copy keeps answering
  REQUIRE(copy.Current() != nullptr);
  CHECK(copy.version() == 3);
  const std::string path = absl::StrCat("/", kBenefits, "/GetDecision");
  CHECK(Decide(copy.Current().get(), absl::Now(), kOrgA, kOrgB, path).allowed());

  // Back on the same port with a newer version: the watch reconnects by itself.
  directory = std::make_unique<Directory>(port);
  directory->registry.Publish(net.Sign(SampleSnapshot(4)));
  REQUIRE(copy.WaitForVersion(4, kWait));
  copy.Stop();
  directory.reset();

  SECTION("a node restarted while the directory is down starts from the kept copy") {
    RegistryCopy restarted(Options(ChannelTo(port), net.Trust(), dir / "registry.pb"));
    CHECK(restarted.Current() == nullptr);
    RequireOk(restarted.Start());
    REQUIRE(restarted.Current() != nullptr);  // read at Start, before any directory answers
    CHECK(restarted.version() == 4);
    CHECK(Decide(restarted.Current().get(), absl::Now(), kOrgA, kOrgB, path).allowed());
    restarted.Stop();
  }
  SECTION("a kept copy that does not verify is ignored") {
    v1::SignedRegistry tampered = CachedCopy(dir / "registry.pb");
    tampered.set_snapshot(SampleSnapshot(99).SerializeAsString());
    RequireOk(WriteFileAtomically(dir / "registry.pb", tampered.SerializeAsString(), 0644));
    RegistryCopy restarted(Options(Nowhere(), net.Trust(), dir / "registry.pb"));
    RequireOk(restarted.Start());
    CHECK(restarted.Current() == nullptr);
    restarted.Stop();

    RequireOk(WriteFileAtomically(dir / "registry.pb", "not a protobuf \xff", 0644));
    RegistryCopy garbage(Options(Nowhere(), net.Trust(), dir / "registry.pb"));
    RequireOk(garbage.Start());
    CHECK(garbage.Current() == nullptr);
    garbage.Stop();
  }
}

TEST_CASE("an expired copy is loaded but other organisations get UNAVAILABLE",
          "[network][registry]") {
  TestNetwork net;
  TempDir dir;
  const absl::Time expired_at = absl::Now() - absl::Minutes(1);
  RequireOk(WriteFileAtomically(dir / "registry.pb",
                                net.Sign(SampleSnapshot(9, expired_at)).SerializeAsString(), 0644));
  RegistryCopy copy(Options(Nowhere(), net.Trust(), dir / "registry.pb"));
  RequireOk(copy.Start());
  std::shared_ptr<const RegistryView> view = copy.Current();
  REQUIRE(view != nullptr);
  CHECK(view->version() == 9);
  CHECK(view->expired(absl::Now()));
  const std::string path = absl::StrCat("/", kBenefits, "/GetDecision");
  const Decision refused = Decide(view.get(), absl::Now(), kOrgA, kOrgB, path);
  CHECK(refused.status.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(refused.status.message()), Contains("version 9") && Contains("expired"));
  CHECK(Decide(view.get(), absl::Now(), kOrgA, kOrgA, path).allowed());

  // A fresh copy of the same version (the directory's re-signature) makes it valid again.
  RequireOk(copy.Offer(net.Sign(SampleSnapshot(9))));
  CHECK(Decide(copy.Current().get(), absl::Now(), kOrgA, kOrgB, path).allowed());
  copy.Stop();
}

}  // namespace
}  // namespace aurora::network
