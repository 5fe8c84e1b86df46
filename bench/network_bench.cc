// network_bench: calls between members' nodes over mutual TLS against plaintext, in the same run,
// and how soon a service created at one member's directory is found by another member's
// recommender, and a new member's network service by another member's node. In this process:
//   1. a network CA and node certificates for two organisations, A and B (node/network_ca.h), in a
//      fresh temporary folder;
//   2. two real nodes (node::Node::Start) with the directory component and the same data (an
//      organisation and S real services from services.ndjson, the same ids, created through the
//      Directory API): node P plaintext, node A with mutual TLS (A's certificate, the CA and its
//      CRL folder);
//   3. phases, each W s warm-up then S s measured, C concurrent closed-loop calls (GrpcLoad) over
//      K channels created once and kept (keep-alive), plaintext and mTLS alternately:
//      grpc.health.v1.Health/Check (the floor of a call) and Directory/GetService of a random one
//      of the S services (a small cross-node read); the mTLS client presents B's certificate, as
//      member B's node calling A's would; GetService is measured in N rounds of S/N s per
//      transport, in ABBA order, and the target takes the median of the rounds' ratios;
//   4. new connections: N times, a fresh channel of its own (own subchannel pool, so a new TCP
//      connection and, with TLS, a full handshake) and one GetService on it, plaintext and mTLS
//      alternately: connect + first call, and process CPU per connection;
//   5. visibility: node B, the recommender component only, following A's directory (and its
//      network registry) over mTLS with B's certificate; then R rounds of: register a new
//      organisation at A, create a service with a unique word in its name at A, and poll B's
//      Recommender/Search for that word until the service is among the results; then publish the
//      new member's own gRPC service in the registry at A and poll B's registry copy (what B's
//      access guard and discovery answer from) until it lists the service.
// Printed: the phase table (requests, errors, req/s, p50/p90/p99/max, process CPU per request,
// cores, bytes per reply), mTLS ÷ plaintext ratios, the new-connection table, the visibility
// times, one PASS/FAIL line per target of the issue (bench/README.md, "Network") and a one-line
// summary. Not a test: the exit status is 0 whether or not the targets are met, 1 if any call
// failed, a service never became visible, or the benchmark could not run.

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "aurora/network/v1/network.grpc.pb.h"
#include "aurora/recommender/v1/recommender.grpc.pb.h"
#include "bench/bench_args.h"
#include "bench/grpc_load.h"
#include "bench/process_figures.h"
#include "common/codelists.h"
#include "common/text.h"
#include "common/tls.h"
#include "directory/catalogue_format.h"
#include "directory/validation.h"
#include "grpc/health/v1/health.pb.h"
#include "node/network_ca.h"
#include "node/node.h"

#ifndef AURORA_DATA_DIR
#define AURORA_DATA_DIR "../shared/data"
#endif

namespace aurora::bench {
namespace {

namespace dv1 = aurora::directory::v1;
namespace nv1 = aurora::network::v1;
namespace rv1 = aurora::recommender::v1;
using Clock = std::chrono::steady_clock;

// Targets of the issue.
constexpr double kTargetThroughputRatio = 0.8;  // mTLS ÷ plaintext req/s, kept-alive connections
constexpr double kTargetVisibleMs = 1000;       // a new service found at another member

constexpr char kGetMethod[] = "/aurora.directory.v1.Directory/GetService";
constexpr char kHealthMethod[] = "/grpc.health.v1.Health/Check";
// The organisations of the two members' nodes (the directory's ids are lowercase canonical UUIDs).
constexpr char kOrgA[] = "6f1c2a9e-3b7d-4c58-9e21-0a4d8b6c1e3a";
constexpr char kOrgB[] = "b8e4d0f2-7a19-4e63-8c5d-2f9a1b7e4c60";
constexpr uint64_t kSeed = 20221231;
// How long a round of the visibility test waits for the service before it counts as never seen.
constexpr absl::Duration kVisibleTimeout = absl::Seconds(10);
constexpr auto kPollInterval = std::chrono::milliseconds(1);

constexpr char kUsage[] =
    "Usage: network_bench [--seconds S] [--rounds N] [--warmup-seconds W] [--clients C]\n"
    "         [--channels K] [--handshakes N] [--visibility-rounds R] [--services M]\n"
    "         [--data-dir DIR] [--source-dir DIR]\n"
    "  --seconds S            measured seconds per phase (default 10)\n"
    "  --rounds N             GetService: the S seconds of each transport are measured in N\n"
    "                         rounds, plaintext and mTLS alternately (ABBA order); the\n"
    "                         throughput target takes the median of the rounds' ratios\n"
    "                         (default 5)\n"
    "  --warmup-seconds W     unrecorded seconds before each measured phase (default 1)\n"
    "  --clients C            concurrent calls of every phase, each a closed loop (default 32)\n"
    "  --channels K           gRPC channels (one TCP connection each, created once and kept)\n"
    "                         the C calls are spread over (default 4)\n"
    "  --handshakes N         new connections (fresh channel + one GetService) per transport\n"
    "                         (default 200)\n"
    "  --visibility-rounds R  services created at node A and looked for at node B (default 20)\n"
    "  --services M           real services loaded into both directories (default 100)\n"
    "  --data-dir DIR         where the fresh temporary folder (CA, certificates, the nodes'\n"
    "                         RocksDB) is made (default: the system's temporary folder);\n"
    "                         removed at the end\n"
    "  --source-dir DIR       folder with services.ndjson and codelists/ (default " AURORA_DATA_DIR
    ")\n";

struct BenchOptions {
  double seconds = 10;
  double warmup_seconds = 1;
  int rounds = 5;
  int clients = 32;
  int channels = 4;
  int handshakes = 200;
  int visibility_rounds = 20;
  size_t services = 100;
  std::string data_dir;
  std::string source_dir = AURORA_DATA_DIR;
};

bool ParseArgs(int argc, char** argv, BenchOptions* options) {
  ArgReader args(argc, argv, kUsage);
  while (args.Next()) {
    if (!args.TakeValue()) return false;
    const std::string& arg = args.option();
    if (arg == "--seconds") {
      if (!args.Seconds(0.1, 3600, &options->seconds)) return false;
    } else if (arg == "--rounds") {
      if (!args.Integer(1, 100, &options->rounds)) return false;
    } else if (arg == "--warmup-seconds") {
      if (!args.Seconds(0, 3600, &options->warmup_seconds)) return false;
    } else if (arg == "--clients") {
      if (!args.Integer(1, 10000, &options->clients)) return false;
    } else if (arg == "--channels") {
      if (!args.Integer(1, 1024, &options->channels)) return false;
    } else if (arg == "--handshakes") {
      if (!args.Integer(1, 100000, &options->handshakes)) return false;
    } else if (arg == "--visibility-rounds") {
      if (!args.Integer(1, 10000, &options->visibility_rounds)) return false;
    } else if (arg == "--services") {
      if (!args.Integer(1, 10000, &options->services)) return false;
    } else if (arg == "--data-dir") {
      options->data_dir = args.value();
    } else if (arg == "--source-dir") {
      options->source_dir = args.value();
    } else {
      return args.Unknown();
    }
  }
  options->channels = std::min(options->channels, options->clients);
  return true;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

std::string GrpcMessage(const grpc::Status& status) {
  return absl::StrCat("gRPC code ", static_cast<int>(status.error_code()), ": ",
                      status.error_message());
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

// A channel with its own connection (no subchannel sharing between channels with equal
// arguments) and 256 MiB message limits: bench::NewChannel with the given credentials, so that
// the plaintext and the mTLS channels differ in nothing else.
std::shared_ptr<grpc::Channel> Connect(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, credentials, args);
}

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ------------------------------------------------------------------------------------------------
// Setup: the CA and the certificates; the services; the nodes.

struct Member {
  TlsFiles tls;
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // one object for all its channels
};

absl::StatusOr<Member> IssueMember(const std::string& ca_dir, const std::string& organization,
                                   const std::string& out_dir,
                                   std::vector<std::string> roles = {}) {
  node::NodeCertificateRequest request;
  request.ca_dir = ca_dir;
  request.organization_id = organization;
  request.out_dir = out_dir;
  request.roles = std::move(roles);
  auto issued = node::IssueNodeCertificate(request);
  if (!issued.ok()) return issued.status();
  Member member;
  member.tls.cert = out_dir + "/node.crt";
  member.tls.key = out_dir + "/node.key";
  member.tls.ca = out_dir + "/ca.crt";
  member.tls.crl_dir = ca_dir + "/crl";
  if (auto own = CheckTlsFiles(member.tls); !own.ok()) return own.status();
  member.credentials = ChannelCredentials(member.tls);
  return member;
}

// The first `count` real services that pass ValidateService, re-homed to organisation A (which
// both directories hold), without references to records the directories do not hold.
absl::StatusOr<std::vector<dv1::Service>> LoadServices(const std::string& source_dir,
                                                       size_t count) {
  auto codes = CodeLists::LoadFromDirectory(source_dir + "/codelists");
  if (!codes.ok()) return codes.status();
  const std::string file = source_dir + "/services.ndjson";
  auto read = directory::ReadCatalogueFile(file, directory::CatalogueFormat::kNdjson, *codes);
  if (!read.ok()) return read.status();
  std::vector<dv1::Service> out;
  for (auto& record : read->records) {
    if (out.size() == count) break;
    dv1::Service service = std::move(record.service);
    service.set_organization_id(kOrgA);
    service.clear_general_description_id();
    for (auto& channel : *service.mutable_channels()) channel.clear_session_transfer();
    if (!directory::ValidateService(service, *codes, /*id_required=*/true).ok()) continue;
    out.push_back(std::move(service));
  }
  if (out.size() < count) {
    return absl::FailedPreconditionError(
        absl::StrCat(file, ": only ", out.size(), " valid services, ", count, " wanted"));
  }
  return out;
}

// Organisation A and the services, through the Directory API of the node behind `channel`.
absl::Status Populate(const std::shared_ptr<grpc::Channel>& channel,
                      const std::vector<dv1::Service>& services) {
  auto directory = dv1::Directory::NewStub(channel);
  // A holds the services; B is a member too (a node admits only members' calls).
  for (const char* id : {kOrgA, kOrgB}) {
    dv1::RegisterOrganizationRequest org_request;
    org_request.mutable_organization()->set_id(id);
    org_request.mutable_organization()->mutable_name()->set_fi(
        absl::StrCat("Verkkopenkin kunta ", std::string(1, id[0])));
    dv1::Organization organization;
    if (auto s = directory->RegisterOrganization(Context().get(), org_request, &organization);
        !s.ok()) {
      return absl::UnavailableError(absl::StrCat("RegisterOrganization: ", GrpcMessage(s)));
    }
  }
  for (const auto& service : services) {
    dv1::CreateServiceRequest request;
    *request.mutable_service() = service;
    dv1::Service created;
    if (auto s = directory->CreateService(Context().get(), request, &created); !s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("CreateService ", service.id(), ": ", GrpcMessage(s)));
    }
  }
  return absl::OkStatus();
}

node::NodeConfig NodeConfigIn(const std::string& data_dir, const std::string& codelists_dir) {
  node::NodeConfig config;
  config.data_dir = data_dir;
  config.grpc_listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.http_listen = "127.0.0.1:0";
  config.components = {"directory"};
  config.codelists_dir = codelists_dir;
  config.dictionary_dir = "";
  config.drain = absl::ZeroDuration();
  config.grace = absl::Seconds(10);
  config.secret_hash_iterations = 1000;
  return config;
}

// ------------------------------------------------------------------------------------------------
// Report

void PrintHeader() { PrintPhaseHeader(28); }

void PrintRow(const LoadResult& r) { PrintPhaseRow(r, 28, 1); }

// ------------------------------------------------------------------------------------------------
// New connections: a fresh channel and one call on it, plaintext and mTLS alternately.

struct ConnectResult {
  std::string name;
  std::vector<float> micros;  // connect + first call
  double cpu_seconds = 0;     // process CPU over the connections (teardown of the last excluded)
  int64_t errors = 0;
  std::string first_error;
};

void OneConnection(const std::string& target,
                   const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                   const std::string& request, ConnectResult* result, bool record) {
  const double cpu_before = ProcessCpuSeconds();
  const auto start = Clock::now();
  grpc::Status status;
  {
    auto channel = Connect(target, credentials);
    grpc::GenericStub stub(channel);
    std::string reply;
    status = SyncCall(stub, kGetMethod, request, &reply);
    if (status.ok() && reply.empty()) status = grpc::Status(grpc::StatusCode::INTERNAL, "empty");
  }
  const auto done = Clock::now();
  if (!record) return;
  result->cpu_seconds += ProcessCpuSeconds() - cpu_before;
  if (!status.ok()) {
    ++result->errors;
    if (result->first_error.empty()) result->first_error = GrpcMessage(status);
    return;
  }
  result->micros.push_back(
      static_cast<float>(std::chrono::duration<double, std::micro>(done - start).count()));
}

// ------------------------------------------------------------------------------------------------
// Visibility: a service created at A, found by B's recommender.

struct Round {
  std::string organization_id;  // the round's new member
  double create_ms = 0;         // CreateService at A
  double applied_ms = 0;        // until B's follower had applied its revision (-1: not seen)
  double visible_ms = 0;        // until B's Search returned it (-1: not within kVisibleTimeout)
  int searches = 0;
};

// A word no catalogue holds: letters only, so that every analyser keeps it one token.
std::string UniqueWord(std::mt19937_64& rng) {
  static constexpr char kConsonants[] = "bdfghjklmnprstv";
  static constexpr char kVowels[] = "aeiou";
  std::string word = "zq";
  for (int i = 0; i < 5; ++i) {
    word += kConsonants[rng() % (sizeof(kConsonants) - 1)];
    word += kVowels[rng() % (sizeof(kVowels) - 1)];
  }
  return word;
}

absl::StatusOr<Round> VisibilityRound(dv1::Directory::Stub& directory_a,
                                      rv1::Recommender::Stub& recommender_b,
                                      const node::Node& node_b, int round, std::mt19937_64& rng) {
  // A new member organisation, and its first service.
  dv1::RegisterOrganizationRequest org_request;
  org_request.mutable_organization()->mutable_name()->set_fi(
      absl::StrCat("Verkkopenkin jäsen ", round + 1));
  dv1::Organization organization;
  if (auto s = directory_a.RegisterOrganization(Context().get(), org_request, &organization);
      !s.ok()) {
    return absl::UnavailableError(absl::StrCat("RegisterOrganization at A: ", GrpcMessage(s)));
  }
  const std::string word = UniqueWord(rng);
  dv1::CreateServiceRequest create;
  dv1::Service& service = *create.mutable_service();
  service.set_organization_id(organization.id());
  service.mutable_name()->set_fi(absl::StrCat("Verkkopenkin palvelu ", word));
  service.mutable_name()->set_en(absl::StrCat("Network bench service ", word));
  service.mutable_summary()->set_fi("Verkkopenkin näkyvyyskierroksen palvelu.");
  service.set_area_type(dv1::AREA_TYPE_LIMITED);
  service.add_municipality_codes("091");
  service.add_languages("fi");
  rv1::SearchRequest search;
  search.set_text(word);
  search.set_language("fi");

  Round out;
  out.organization_id = organization.id();
  const auto start = Clock::now();
  dv1::Service created;
  if (auto s = directory_a.CreateService(Context().get(), create, &created); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("CreateService at A: ", GrpcMessage(s)));
  }
  out.create_ms = Millis(Clock::now() - start);
  out.applied_ms = -1;
  out.visible_ms = -1;
  const auto deadline = start + absl::ToChronoNanoseconds(kVisibleTimeout);
  while (Clock::now() < deadline) {
    if (out.applied_ms < 0 &&
        node_b.recommender_follower()->applied_revision() >= created.revision()) {
      out.applied_ms = Millis(Clock::now() - start);
    }
    rv1::SearchResponse response;
    ++out.searches;
    if (auto s = recommender_b.Search(Context(5).get(), search, &response); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("Search at B: ", GrpcMessage(s)));
    }
    const bool found = std::any_of(
        response.services().begin(), response.services().end(),
        [&](const rv1::RecommendedService& r) { return r.service().id() == created.id(); });
    if (found) {
      out.visible_ms = Millis(Clock::now() - start);
      if (out.applied_ms < 0) out.applied_ms = out.visible_ms;
      return out;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return out;
}

// The new member's own gRPC service published in the registry at A, until B's registry copy (which
// B's access guard and discovery answer from) has it. Returns {publish ms, visible ms (-1: not
// within kVisibleTimeout)}.
absl::StatusOr<std::pair<double, double>> RegistryRound(nv1::NetworkRegistry::Stub& registry_a,
                                                        const node::Node& node_b,
                                                        const std::string& organization_id,
                                                        int round) {
  // A small contract of its own: fi.bench.r<N>.v1.Probe/Ping.
  const std::string package = absl::StrCat("fi.bench.r", round + 1, ".v1");
  google::protobuf::FileDescriptorSet files;
  google::protobuf::FileDescriptorProto* file = files.add_file();
  file->set_name(absl::StrCat("fi/bench/r", round + 1, "/v1/probe.proto"));
  file->set_package(package);
  file->set_syntax("proto3");
  file->add_message_type()->set_name("Ping");
  google::protobuf::MethodDescriptorProto* method = file->add_service()->add_method();
  file->mutable_service(0)->set_name("Probe");
  method->set_name("Ping");
  method->set_input_type(absl::StrCat(".", package, ".Ping"));
  method->set_output_type(absl::StrCat(".", package, ".Ping"));
  nv1::PublishServiceRequest request;
  nv1::NetworkService& service = *request.mutable_service();
  service.set_name(absl::StrCat(package, ".Probe"));
  service.set_organization_id(organization_id);
  service.mutable_access()->set_open_to_members(true);
  service.set_descriptor_set(files.SerializeAsString());

  const auto start = Clock::now();
  nv1::NetworkService published;
  if (auto s = registry_a.PublishService(Context().get(), request, &published); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("PublishService at A: ", GrpcMessage(s)));
  }
  const double publish_ms = Millis(Clock::now() - start);
  const auto deadline = start + absl::ToChronoNanoseconds(kVisibleTimeout);
  while (Clock::now() < deadline) {
    auto copy = node_b.registry_copy()->Current();
    if (copy != nullptr && copy->FindService(service.name()) != nullptr) {
      return std::pair{publish_ms, Millis(Clock::now() - start)};
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return std::pair{publish_ms, -1.0};
}

// p-quantile (nearest rank) of `values`, which it sorts.
double Quantile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(p * static_cast<double>(values.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

// ------------------------------------------------------------------------------------------------
// Run

int Run(const BenchOptions& options) {
  std::printf(
      "network_bench: %zu services, %d concurrent calls over %d kept-alive gRPC channels, %.1f s "
      "warm-up + %.1f s measured per phase, %d new connections per transport, %d visibility "
      "rounds\n",
      options.services, options.clients, options.channels, options.warmup_seconds, options.seconds,
      options.handshakes, options.visibility_rounds);
  const std::string load_before = LoadAverage();
  std::printf(
      "machine: %u hardware threads, shared by the load generator and the nodes (same process); "
      "load average %s\n",
      std::thread::hardware_concurrency(), load_before.c_str());

  TempDir temp(options.data_dir, "aurora-network-bench");
  if (temp.path().empty()) {
    std::fprintf(
        stderr, "cannot create a temporary folder in %s\n",
        options.data_dir.empty() ? "the system's temporary folder" : options.data_dir.c_str());
    return 1;
  }
  const std::string codelists_dir = options.source_dir + "/codelists";

  // 1. The network CA and the members' certificates.
  auto setup_start = Clock::now();
  const std::string ca_dir = temp.path() + "/ca";
  {
    node::CaInitOptions ca;
    ca.dir = ca_dir;
    ca.name = "Aurora network_bench CA";
    if (auto root = node::InitNetworkCa(ca); !root.ok()) {
      std::fprintf(stderr, "InitNetworkCa: %s\n", Message(root.status()).c_str());
      return 1;
    }
  }
  // A runs the directory, which signs the network registry: its certificate has that role.
  auto member_a = IssueMember(ca_dir, kOrgA, temp.path() + "/org-a", {kRegistryRole});
  auto member_b = member_a.ok() ? IssueMember(ca_dir, kOrgB, temp.path() + "/org-b")
                                : absl::StatusOr<Member>(member_a.status());
  if (!member_b.ok()) {
    std::fprintf(stderr, "IssueNodeCertificate: %s\n", Message(member_b.status()).c_str());
    return 1;
  }
  std::printf("CA and node certificates (EC P-256) for A %s and B %s: %.0f ms\n", kOrgA, kOrgB,
              Millis(Clock::now() - setup_start));

  // 2. The two directory nodes, the same data in both.
  auto services = LoadServices(options.source_dir, options.services);
  if (!services.ok()) {
    std::fprintf(stderr, "%s\n", Message(services.status()).c_str());
    return 1;
  }
  node::NodeConfig plain_config = NodeConfigIn(temp.path() + "/node-p", codelists_dir);
  node::NodeConfig tls_config = NodeConfigIn(temp.path() + "/node-a", codelists_dir);
  tls_config.tls = member_a->tls;
  auto started_p = node::Node::Start(plain_config);
  if (!started_p.ok()) {
    std::fprintf(stderr, "node P (plaintext) did not start: %s\n",
                 Message(started_p.status()).c_str());
    return 1;
  }
  std::unique_ptr<node::Node> node_p = *std::move(started_p);
  auto started_a = node::Node::Start(tls_config);
  if (!started_a.ok()) {
    std::fprintf(stderr, "node A (mTLS) did not start: %s\n", Message(started_a.status()).c_str());
    return 1;
  }
  std::unique_ptr<node::Node> node_a = *std::move(started_a);
  const std::string target_p = absl::StrCat("127.0.0.1:", node_p->grpc_port());
  const std::string target_a = absl::StrCat("127.0.0.1:", node_a->grpc_port());
  std::printf(
      "node P: directory, plaintext, on %s; node A: directory, mutual TLS (A's "
      "certificate, CRL folder), on %s\n",
      target_p.c_str(), target_a.c_str());

  const auto plain_credentials = grpc::InsecureChannelCredentials();
  // A's own operator writes to A with A's certificate; member B calls with B's.
  const auto admin_a = Connect(target_a, member_a->credentials);
  setup_start = Clock::now();
  if (auto s = Populate(NewChannel(target_p), *services); !s.ok()) {
    std::fprintf(stderr, "node P: %s\n", Message(s).c_str());
    return 1;
  }
  if (auto s = Populate(admin_a, *services); !s.ok()) {
    std::fprintf(stderr, "node A over mTLS: %s\n", Message(s).c_str());
    return 1;
  }
  std::printf(
      "both directories: organisations A and B and %zu real services through the Directory API, "
      "%.2f s\n",
      services->size(), SecondsSince(setup_start));
  // B's calls are admitted once A's registry copy lists B (moments after its registration).
  if (!node_a->registry_copy()->WaitForVersion(node_a->directory_store()->registry_version(),
                                               absl::Seconds(10))) {
    std::fprintf(stderr, "node A's registry copy did not catch up with its directory\n");
    return 1;
  }

  // 3. The kept-alive channels.
  struct Transport {
    std::string name;
    std::string target;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  };
  Transport plain{"plaintext", target_p, plain_credentials, {}, {}};
  Transport mtls{"mTLS", target_a, member_b->credentials, {}, {}};
  for (Transport* t : {&plain, &mtls}) {
    for (int k = 0; k < options.channels; ++k) {
      auto channel = Connect(t->target, t->credentials);
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
        // Why: one call says it (a failed handshake, a refused certificate).
        grpc::GenericStub stub(channel);
        grpc::health::v1::HealthCheckRequest request;
        const grpc::Status s = SyncCall(stub, kHealthMethod, request.SerializeAsString(), nullptr);
        std::fprintf(stderr, "%s channel %d cannot connect to %s: %s\n", t->name.c_str(), k,
                     t->target.c_str(), GrpcMessage(s).c_str());
        return 1;
      }
      t->stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
      t->channels.push_back(std::move(channel));
    }
  }

  std::vector<std::string> get_requests;
  for (const auto& service : *services) {
    dv1::GetServiceRequest request;
    request.set_id(service.id());
    get_requests.push_back(request.SerializeAsString());
  }
  std::vector<std::string> health_requests(1);
  {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(dv1::Directory::service_full_name());
    health_requests[0] = request.SerializeAsString();
  }
  // The same reply from both: the same data.
  for (size_t i = 0; i < get_requests.size(); ++i) {
    std::string a, p;
    const grpc::Status sp = SyncCall(*plain.stubs.front(), kGetMethod, get_requests[i], &p);
    const grpc::Status sa = SyncCall(*mtls.stubs.front(), kGetMethod, get_requests[i], &a);
    if (!sp.ok() || !sa.ok()) {
      std::fprintf(stderr, "GetService %s: plaintext %s; mTLS %s\n", (*services)[i].id().c_str(),
                   sp.ok() ? "OK" : GrpcMessage(sp).c_str(),
                   sa.ok() ? "OK" : GrpcMessage(sa).c_str());
      return 1;
    }
    dv1::Service from_a, from_p;
    (void)from_a.ParseFromString(a);
    (void)from_p.ParseFromString(p);
    from_a.clear_update_time();
    from_p.clear_update_time();
    if (from_a.SerializeAsString() != from_p.SerializeAsString()) {
      std::fprintf(stderr, "GetService %s: the two directories answer differently\n",
                   (*services)[i].id().c_str());
      return 1;
    }
  }

  // 4. The phases, plaintext and mTLS alternately.
  std::printf(
      "\nphases: %d concurrent calls each over %d kept-alive channels; latency in ms; CPU us/r = "
      "CPU time of the whole process (load generator, both ends of every connection, the node) "
      "per request; cores = CPU seconds per second of the phase (at most %u)\n",
      options.clients, options.channels, std::thread::hardware_concurrency());
  PrintHeader();
  const auto phase = [&](const Transport& t, const std::string& name, const char* method,
                         const std::vector<std::string>& requests, double seconds) {
    GrpcLoad load(t.stubs, options.clients, method, AnyOf(requests), kSeed);
    LoadResult result = load.Run(name, options.warmup_seconds, seconds);
    PrintRow(result);
    std::fflush(stdout);
    return result;
  };
  const LoadResult health_p =
      phase(plain, "Health/Check plaintext", kHealthMethod, health_requests, options.seconds);
  const LoadResult health_m =
      phase(mtls, "Health/Check mTLS", kHealthMethod, health_requests, options.seconds);
  // GetService, the figure of the target: in rounds, plaintext and mTLS alternately in ABBA
  // order, so that a drift of the shared machine's speed over the run falls on both transports
  // alike; each round gives a ratio, and the target takes their median.
  std::vector<LoadResult> get_plain_rounds, get_mtls_rounds;
  std::vector<double> round_ratios;
  for (int round = 1; round <= options.rounds; ++round) {
    LoadResult first, second;
    const bool plain_first = round % 2 == 1;
    const auto run = [&](bool is_plain) {
      return phase(is_plain ? plain : mtls,
                   absl::StrCat("GetService ", is_plain ? "plaintext" : "mTLS", " r", round),
                   kGetMethod, get_requests, options.seconds / options.rounds);
    };
    first = run(plain_first);
    second = run(!plain_first);
    LoadResult& p = plain_first ? first : second;
    LoadResult& m = plain_first ? second : first;
    round_ratios.push_back(Figures(m).rate / Figures(p).rate);
    get_plain_rounds.push_back(std::move(p));
    get_mtls_rounds.push_back(std::move(m));
  }
  const LoadResult get_p = Pooled("GetService plaintext", get_plain_rounds);
  const LoadResult get_m = Pooled("GetService mTLS", get_mtls_rounds);
  if (options.rounds > 1) {
    PrintRow(get_p);
    PrintRow(get_m);
  }
  std::vector<double> sorted_ratios = round_ratios;
  std::sort(sorted_ratios.begin(), sorted_ratios.end());
  const size_t middle = sorted_ratios.size() / 2;
  const double median_ratio = sorted_ratios.size() % 2 == 1
                                  ? sorted_ratios[middle]
                                  : (sorted_ratios[middle - 1] + sorted_ratios[middle]) / 2;
  int64_t errors = 0;
  for (const LoadResult* r : {&health_p, &health_m, &get_p, &get_m}) {
    errors += r->errors;
    if (r->errors == 0) continue;
    std::string kinds;
    for (const auto& [code, count] : r->error_codes) {
      absl::StrAppend(&kinds, kinds.empty() ? "" : ", ", count, " x ",
                      code < 0 ? std::string("empty reply") : absl::StrCat("gRPC code ", code));
    }
    std::printf("errors of %s: %lld of %lld calls (%s); first: %s\n", r->name.c_str(),
                static_cast<long long>(r->errors), static_cast<long long>(r->calls), kinds.c_str(),
                r->first_error.c_str());
  }
  const PhaseFigures hp = Figures(health_p), hm = Figures(health_m), gp = Figures(get_p),
                     gm = Figures(get_m);
  std::printf("\n%-34s %12s %12s %12s %12s\n", "ratio mTLS / plaintext (same run)", "req/s", "p50",
              "p99", "CPU/req");
  const auto ratio = [](const char* name, const PhaseFigures& a, const PhaseFigures& b) {
    std::printf("%-34s %11.3fx %11.2fx %11.2fx %11.2fx\n", name, a.rate / b.rate,
                a.latency.p50 / b.latency.p50, a.latency.p99 / b.latency.p99, a.cpu_us / b.cpu_us);
  };
  ratio("GetService", gm, gp);
  ratio("Health/Check", hm, hp);
  std::printf("%-34s %12.1f us of CPU per call (GetService), %.1f (Health/Check)\n", "mTLS extra",
              gm.cpu_us - gp.cpu_us, hm.cpu_us - hp.cpu_us);
  std::string listed;
  for (double r : round_ratios)
    absl::StrAppend(&listed, listed.empty() ? "" : " ", absl::StrFormat("%.3f", r));
  std::printf("%-34s %11.3fx (median of %zu rounds: %s)\n", "GetService req/s, per round",
              median_ratio, round_ratios.size(), listed.c_str());

  // 5. New connections, alternately; the first few of each unrecorded.
  std::printf(
      "\nnew connections: %d per transport, one at a time, alternately: a fresh channel (own "
      "subchannel pool: a new TCP connection, and with mTLS a full handshake with B's "
      "certificate) and one GetService on it, then the channel destroyed\n",
      options.handshakes);
  ConnectResult fresh_p{"new connection plaintext", {}, 0, 0, {}};
  ConnectResult fresh_m{"new connection mTLS", {}, 0, 0, {}};
  {
    std::mt19937_64 rng(kSeed + 7);
    constexpr int kUnrecorded = 5;
    for (int i = 0; i < options.handshakes + kUnrecorded; ++i) {
      const std::string& request = get_requests[rng() % get_requests.size()];
      OneConnection(target_p, plain_credentials, request, &fresh_p, i >= kUnrecorded);
      OneConnection(target_a, member_b->credentials, request, &fresh_m, i >= kUnrecorded);
    }
  }
  std::printf("  %-28s %9s %7s %8s %8s %8s %8s %8s %12s\n", "phase", "conns", "errors", "mean ms",
              "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU us/conn");
  for (const ConnectResult* r : {&fresh_p, &fresh_m}) {
    const LatencyStats s = Summarise(r->micros);
    double mean = 0;
    for (float m : r->micros) mean += m;
    mean = r->micros.empty() ? 0 : mean / static_cast<double>(r->micros.size()) / 1000;
    std::printf("  %-28s %9zu %7lld %8.3f %8.3f %8.3f %8.3f %8.3f %12.0f\n", r->name.c_str(),
                s.count, static_cast<long long>(r->errors), mean, s.p50, s.p90, s.p99, s.max,
                r->cpu_seconds /
                    std::max<double>(
                        static_cast<double>(r->micros.size()) + static_cast<double>(r->errors), 1) *
                    1e6);
    errors += r->errors;
    if (r->errors > 0) {
      std::printf("errors of %s: %lld; first: %s\n", r->name.c_str(),
                  static_cast<long long>(r->errors), r->first_error.c_str());
    }
  }
  const LatencyStats cp = Summarise(fresh_p.micros), cm = Summarise(fresh_m.micros);
  std::printf("%-34s %11.2fx p50, %.2fx p99 (%.3f ms more at p50)\n", "new connection mTLS / plain",
              cm.p50 / cp.p50, cm.p99 / cp.p99, cm.p50 - cp.p50);

  // 6. Visibility: node B's recommender following A's directory over mTLS.
  std::printf(
      "\nvisibility: node B (recommender only, B's certificate) follows A's directory at %s over "
      "mTLS\n",
      target_a.c_str());
  node::NodeConfig b_config = NodeConfigIn(temp.path() + "/node-b", codelists_dir);
  b_config.components = {"recommender"};
  b_config.tls = member_b->tls;
  b_config.directory_target = target_a;
  b_config.recommender_sync_timeout = absl::Seconds(60);
  setup_start = Clock::now();
  auto started_b = node::Node::Start(b_config);
  if (!started_b.ok()) {
    std::fprintf(stderr, "node B (recommender following A over mTLS) did not start: %s\n",
                 Message(started_b.status()).c_str());
    return 1;
  }
  std::unique_ptr<node::Node> node_b = *std::move(started_b);
  const double b_start_seconds = SecondsSince(setup_start);
  const std::string target_b = absl::StrCat("127.0.0.1:", node_b->grpc_port());
  std::printf("node B serving on %s after %.2f s (snapshot of revision %lld loaded over mTLS)\n",
              target_b.c_str(), b_start_seconds,
              static_cast<long long>(node_b->recommender_follower()->applied_revision()));
  auto directory_a = dv1::Directory::NewStub(admin_a);
  auto recommender_b = rv1::Recommender::NewStub(Connect(target_b, member_b->credentials));
  auto registry_a = nv1::NetworkRegistry::NewStub(admin_a);
  std::vector<Round> rounds;
  std::vector<double> publish_ms, registry_ms;
  int64_t not_visible = 0;
  {
    std::mt19937_64 rng(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^
                        static_cast<uint64_t>(getpid()));
    for (int r = 0; r < options.visibility_rounds; ++r) {
      auto round = VisibilityRound(*directory_a, *recommender_b, *node_b, r, rng);
      if (!round.ok()) {
        ++errors;
        std::printf("visibility round %d: %s\n", r + 1, Message(round.status()).c_str());
        break;
      }
      if (round->visible_ms < 0) {
        ++not_visible;
        std::printf("visibility round %d: not found at B within %s\n", r + 1,
                    absl::FormatDuration(kVisibleTimeout).c_str());
      }
      rounds.push_back(*round);
      auto registry = RegistryRound(*registry_a, *node_b, round->organization_id, r);
      if (!registry.ok()) {
        ++errors;
        std::printf("registry round %d: %s\n", r + 1, Message(registry.status()).c_str());
        break;
      }
      publish_ms.push_back(registry->first);
      if (registry->second < 0) {
        ++not_visible;
        std::printf("registry round %d: not in B's registry copy within %s\n", r + 1,
                    absl::FormatDuration(kVisibleTimeout).c_str());
      } else {
        registry_ms.push_back(registry->second);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::vector<double> create_ms, applied_ms, visible_ms;
  int searches = 0;
  for (const Round& r : rounds) {
    create_ms.push_back(r.create_ms);
    searches += r.searches;
    if (r.visible_ms >= 0) {
      applied_ms.push_back(r.applied_ms);
      visible_ms.push_back(r.visible_ms);
    }
  }
  const double visible_p50 = Quantile(visible_ms, 0.5), visible_p90 = Quantile(visible_ms, 0.9),
               visible_max = visible_ms.empty() ? 0 : visible_ms.back();
  std::printf("  %-44s %8s %8s %8s %8s\n", "from sending CreateService at A (ms)", "p50", "p90",
              "max", "rounds");
  const auto visibility_row = [](const char* name, std::vector<double> values) {
    const double p50 = Quantile(values, 0.5), p90 = Quantile(values, 0.9);
    std::printf("  %-44s %8.1f %8.1f %8.1f %8zu\n", name, p50, p90,
                values.empty() ? 0 : values.back(), values.size());
  };
  visibility_row("CreateService answered", create_ms);
  visibility_row("B's follower applied its revision", applied_ms);
  visibility_row("B's Search returns it", visible_ms);
  std::printf("  %-44s %8s %8s %8s %8s\n", "from sending PublishService at A (ms)", "p50", "p90",
              "max", "rounds");
  visibility_row("PublishService answered", publish_ms);
  visibility_row("in B's registry copy (guard, discovery)", registry_ms);
  const double registry_p50 = Quantile(registry_ms, 0.5),
               registry_max = registry_ms.empty() ? 0 : registry_ms.back();
  std::printf(
      "  (Search at B polled every %lld ms after CreateService answered, %d searches in all; a "
      "round gives up after %s)\n",
      static_cast<long long>(kPollInterval.count()), searches,
      absl::FormatDuration(kVisibleTimeout).c_str());
  const int64_t b_reconnects = node_b->recommender_follower()->reconnects();

  const std::string load_after = LoadAverage();
  recommender_b.reset();
  directory_a.reset();
  node_b->Stop();
  node_b.reset();
  plain.stubs.clear();
  plain.channels.clear();
  mtls.stubs.clear();
  mtls.channels.clear();
  node_a->Stop();
  node_p->Stop();
  node_a.reset();
  node_p.reset();
  std::printf("B's watch reconnects: %lld; load average before / after: %s / %s\n\n",
              static_cast<long long>(b_reconnects), load_before.c_str(), load_after.c_str());

  // 7. The targets.
  const auto verdict = [](bool pass) { return pass ? "PASS" : "FAIL"; };
  const double rps_ratio = gm.rate / gp.rate;
  std::printf(
      "mTLS GetService >= %.1fx plaintext throughput (kept-alive connections): %s (measured "
      "%.3fx, the median of %zu alternating rounds; pooled %.3fx: %.0f vs %.0f req/s)\n",
      kTargetThroughputRatio, verdict(median_ratio >= kTargetThroughputRatio), median_ratio,
      round_ratios.size(), rps_ratio, gm.rate, gp.rate);
  const bool all_visible = not_visible == 0 && !rounds.empty() &&
                           static_cast<int>(rounds.size()) == options.visibility_rounds;
  std::printf(
      "new service visible at another member <= %.0f ms (every round): %s (measured p50 %.1f ms, "
      "max %.1f ms over %zu rounds%s)\n",
      kTargetVisibleMs, verdict(all_visible && visible_max <= kTargetVisibleMs), visible_p50,
      visible_max, visible_ms.size(),
      all_visible ? "" : absl::StrCat(", ", not_visible, " never seen").c_str());
  const bool all_in_registry =
      !registry_ms.empty() && static_cast<int>(registry_ms.size()) == options.visibility_rounds;
  std::printf(
      "new member's network service in another node's registry copy <= %.0f ms (every round): "
      "%s (measured p50 %.1f ms, max %.1f ms over %zu rounds)\n",
      kTargetVisibleMs, verdict(all_in_registry && registry_max <= kTargetVisibleMs), registry_p50,
      registry_max, registry_ms.size());
  std::printf(
      "network_bench: clients=%d channels=%d plain_rps=%.0f mtls_rps=%.0f rps_ratio=%.3f "
      "rps_ratio_median=%.3f "
      "plain_p99_ms=%.2f mtls_p99_ms=%.2f health_plain_rps=%.0f health_mtls_rps=%.0f "
      "connect_plain_p50_ms=%.2f connect_mtls_p50_ms=%.2f visible_p50_ms=%.1f visible_p90_ms=%.1f "
      "visible_max_ms=%.1f registry_p50_ms=%.1f registry_max_ms=%.1f errors=%lld\n",
      options.clients, options.channels, gp.rate, gm.rate, rps_ratio, median_ratio, gp.latency.p99,
      gm.latency.p99, hp.rate, hm.rate, cp.p50, cm.p50, visible_p50, visible_p90, visible_max,
      registry_p50, registry_max, static_cast<long long>(errors));
  if (errors > 0 || not_visible > 0) {
    std::fprintf(stderr, "%lld calls failed, %lld services never became visible\n",
                 static_cast<long long>(errors), static_cast<long long>(not_visible));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace aurora::bench

int main(int argc, char** argv) {
  // As `aurora` does (src/node/main.cc): no lock-graph bookkeeping in Debian's debug-built Abseil.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  aurora::bench::BenchOptions options;
  if (!aurora::bench::ParseArgs(argc, argv, &options)) return 64;
  return aurora::bench::Run(options);
}
