// profile_bench: the profile node's durable attribute writes and consented reads over gRPC, beside
// raw RocksDB on the same machine in the same run. In this process:
//   1. a real node (node::Node::Start) with the directory and profile components and the
//      development token issuer, RocksDB in a fresh temporary folder; an organisation and an API
//      client registered through the Directory service;
//   2. setup (timed, not measured): N people, each with a dev token (DevIdentity.IssueDevToken),
//      initial attributes (Profile.PutAttributes: age, municipality_code, life_situation_meters)
//      and a read consent of the API client for the three (Profile.GrantConsent), whose receipt
//      gives the person's pairwise pseudonym for that client;
//   3. a second RocksDB (the node's options, same file system) filled with 3 N records of the size
//      of the sealed attribute records;
//   4. phases, each W s warm-up then S s measured, C concurrent closed-loop calls:
//      baseline grpc.health.v1.Health/Check (the floor of a gRPC call on this machine);
//      raw RocksDB Put (synced) from C threads; Profile.PutAttributes over K TCP channels with
//      `authorization: Bearer` (every write synced to the WAL before the reply); raw RocksDB Get
//      from C threads; ProfileAccess.ReadAttributes with `x-aurora-client-id` metadata standing in
//      for the gateway (each read appends a synced access-log entry before it answers).
// Per phase: requests, errors, req/s, p50/p90/p99/max, process CPU per request; the ratios to the
// raw RocksDB phases; one line per target of the issue (bench/README.md, "Profile").
// Not a test: the exit status is 0 whether or not the targets are met, 1 if any call failed or the
// benchmark could not run.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "aurora/profile/v1/profile.grpc.pb.h"
#include "bench/bench_args.h"
#include "bench/grpc_load.h"
#include "bench/process_figures.h"
#include "common/caller.h"
#include "common/database.h"
#include "common/text.h"
#include "grpc/health/v1/health.pb.h"
#include "node/node.h"
#include "profile/crypto.h"
#include "profile/store.h"

#ifndef AURORA_DATA_DIR
#define AURORA_DATA_DIR "../shared/data"
#endif

namespace aurora::bench {
namespace {

namespace dv1 = aurora::directory::v1;
namespace pv1 = aurora::profile::v1;
using Clock = std::chrono::steady_clock;

// Targets of the issue, on the 2-core reference machine.
constexpr double kTargetRatio = 0.5;    // of raw RocksDB's throughput, writes and reads
constexpr double kTargetReadP99Ms = 5;  // consented reads

constexpr char kPutMethod[] = "/aurora.profile.v1.Profile/PutAttributes";
constexpr char kReadMethod[] = "/aurora.profile.v1.ProfileAccess/ReadAttributes";
constexpr char kHealthMethod[] = "/grpc.health.v1.Health/Check";
constexpr char kPurpose[] = "recommend services";
constexpr const char* kAttributeNames[] = {"age", "municipality_code", "life_situation_meters"};
constexpr const char* kMeterAreas[] = {
    "health",      "resilience",       "housing", "working_studying",
    "family",      "friends",          "finance", "improvement_of_strengths",
    "self_esteem", "life_satisfaction"};
// Home municipalities: Helsinki, Espoo, Vantaa, Tampere, Oulu, Turku, Jyväskylä, Lahti, Vaasa,
// Mikkeli.
constexpr const char* kMunicipalities[] = {"091", "049", "092", "837", "564",
                                           "853", "179", "398", "905", "491"};
constexpr uint64_t kSeed = 20221231;
// Distinct attribute values the writes draw from (and the raw Puts, sealed).
constexpr size_t kValuePool = 4096;
constexpr int kTokenLifetimeSeconds = 3600;

constexpr char kUsage[] =
    "Usage: profile_bench [--people N] [--seconds S] [--clients C] [--channels K]\n"
    "         [--warmup-seconds W] [--profile-threads T] [--data-dir DIR] [--source-dir DIR]\n"
    "  --people N           people with a profile and a read consent (default 10000)\n"
    "  --seconds S          measured seconds per phase (default 10)\n"
    "  --clients C          concurrent calls of every phase, each a closed loop; also the\n"
    "                       threads of the raw RocksDB phases and of the setup (default 32)\n"
    "  --channels K         gRPC channels (one TCP connection each) the C calls are spread\n"
    "                       over (default 4)\n"
    "  --warmup-seconds W   unrecorded seconds before each measured phase (default 1)\n"
    "  --profile-threads T  the profile services' pool (default 8, as `aurora serve`)\n"
    "  --data-dir DIR       where the fresh temporary folder for both databases is made\n"
    "                       (default: the system's temporary folder); removed at the end\n"
    "  --source-dir DIR     folder with codelists/ (default " AURORA_DATA_DIR ")\n";

struct BenchOptions {
  size_t people = 10000;
  double seconds = 10;
  int clients = 32;
  int channels = 4;
  double warmup_seconds = 1;
  int profile_threads = profile::ProfileServiceOptions().threads;
  std::string data_dir;
  std::string source_dir = AURORA_DATA_DIR;
};

bool ParseArgs(int argc, char** argv, BenchOptions* options) {
  ArgReader args(argc, argv, kUsage);
  while (args.Next()) {
    if (!args.TakeValue()) return false;
    const std::string& arg = args.option();
    if (arg == "--people") {
      if (!args.Integer(1, 10000000, &options->people)) return false;
    } else if (arg == "--seconds") {
      if (!args.Seconds(0.1, 3600, &options->seconds)) return false;
    } else if (arg == "--clients") {
      if (!args.Integer(1, 10000, &options->clients)) return false;
    } else if (arg == "--channels") {
      if (!args.Integer(1, 1024, &options->channels)) return false;
    } else if (arg == "--warmup-seconds") {
      if (!args.Seconds(0, 3600, &options->warmup_seconds)) return false;
    } else if (arg == "--profile-threads") {
      if (!args.Integer(1, 1024, &options->profile_threads)) return false;
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

// ------------------------------------------------------------------------------------------------
// Values. The random stream is std::mt19937_64 mapped with plain modulo, so the values are the same
// on every machine.

// age 15..95, a home municipality, and 1–10 of the ten meters with 1–3 answers 0..10 each.
pv1::PutAttributesRequest MakeAttributes(std::mt19937_64& rng) {
  pv1::PutAttributesRequest request;
  auto& values = *request.mutable_attributes();
  values["age"].set_number_value(static_cast<double>(15 + rng() % 81));
  values["municipality_code"].set_string_value(kMunicipalities[rng() % std::size(kMunicipalities)]);
  auto* meters = values["life_situation_meters"].mutable_struct_value()->mutable_fields();
  std::vector<size_t> areas(std::size(kMeterAreas));
  for (size_t i = 0; i < areas.size(); ++i) areas[i] = i;
  const size_t count = 1 + rng() % areas.size();
  for (size_t i = 0; i < count; ++i) {  // a partial Fisher–Yates shuffle
    std::swap(areas[i], areas[i + rng() % (areas.size() - i)]);
    auto* answers = (*meters)[kMeterAreas[areas[i]]].mutable_list_value();
    for (size_t k = 1 + rng() % 3; k > 0; --k) {
      answers->add_values()->set_number_value(static_cast<double>(rng() % 11));
    }
  }
  return request;
}

// The records ProfileStore writes for `request`: key "a/<user>/<name>", the Attribute sealed with
// a data key (AES-256-GCM, the key as the authenticated context).
std::vector<std::pair<std::string, std::string>> SealedRecords(
    const std::string& user, const pv1::PutAttributesRequest& request,
    const std::string& data_key) {
  std::vector<std::pair<std::string, std::string>> out;
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (const char* name : kAttributeNames) {
    pv1::Attribute attribute;
    attribute.set_name(name);
    *attribute.mutable_value() = request.attributes().at(name);
    attribute.mutable_update_time()->set_seconds(now);
    attribute.mutable_update_time()->set_nanos(123456789);
    attribute.set_source("user");
    std::string key = absl::StrCat("a/", user, "/", name);
    auto sealed = profile::Seal(data_key, attribute.SerializeAsString(), key);
    out.emplace_back(std::move(key), sealed.ok() ? *std::move(sealed) : std::string());
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Measuring. The gRPC phases are GrpcLoad's (grpc_load.h), seeded apart from the raw phases'
// threads; those run here and are recorded the same way.

// A phase, gRPC or raw RocksDB, with its errors by kind as printed: "gRPC code 14", "empty reply"
// or the name of a RocksDB error's status code.
struct PhaseResult : LoadResult {
  std::map<std::string, int64_t> error_kinds;
};

PhaseResult FromGrpcLoad(LoadResult load) {
  PhaseResult result;
  static_cast<LoadResult&>(result) = std::move(load);
  for (const auto& [code, count] : result.error_codes) {
    result.error_kinds[code < 0 ? "empty reply" : absl::StrCat("gRPC code ", code)] += count;
  }
  return result;
}

// What one raw thread keeps; merged into the PhaseResult at the end.
struct Tally {
  std::vector<float> micros;
  int64_t calls = 0;
  int64_t errors = 0;
  std::map<std::string, int64_t> error_kinds;
  std::string first_error;
  double bytes = 0;

  void Record(const LoadWindow& window, Clock::time_point sent, Clock::time_point done,
              double length) {
    ++calls;
    if (window.Measures(done)) {
      micros.push_back(
          static_cast<float>(std::chrono::duration<double, std::micro>(done - sent).count()));
      bytes += length;
    }
  }
  void Fail(const std::string& kind, const std::string& message) {
    ++calls;
    ++errors;
    ++error_kinds[kind];
    if (first_error.empty()) first_error = message;
  }
  void MergeInto(PhaseResult* result) const {
    result->micros.insert(result->micros.end(), micros.begin(), micros.end());
    result->calls += calls;
    result->errors += errors;
    for (const auto& [kind, count] : error_kinds) result->error_kinds[kind] += count;
    result->response_bytes += bytes;
    if (result->first_error.empty()) result->first_error = first_error;
  }
};

// `threads` threads each calling `call` in a closed loop (the raw RocksDB phases). `call` returns
// the bytes moved, or an error message.
using RawCall = std::function<absl::StatusOr<size_t>(std::mt19937_64& rng)>;

PhaseResult RunThreads(const std::string& name, int threads, double warmup_seconds, double seconds,
                       const RawCall& call) {
  const LoadWindow window = LoadWindow::After(warmup_seconds, seconds);
  std::vector<Tally> tallies(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(kSeed + 2000 + static_cast<uint64_t>(t));
      Tally& tally = tallies[static_cast<size_t>(t)];
      for (auto sent = Clock::now(); sent < window.measure_end; sent = Clock::now()) {
        absl::StatusOr<size_t> bytes = call(rng);
        if (!bytes.ok()) {
          tally.Fail(std::string(absl::StatusCodeToString(bytes.status().code())),
                     std::string(bytes.status().message()));
          continue;
        }
        tally.Record(window, sent, Clock::now(), static_cast<double>(*bytes));
      }
    });
  }
  PhaseResult result;
  result.name = name;
  result.process_cpu = CpuOverWindow(window);
  for (auto& w : workers) w.join();
  result.seconds = window.seconds();
  for (const auto& tally : tallies) tally.MergeInto(&result);
  return result;
}

// ------------------------------------------------------------------------------------------------
// Report

void PrintHeader() { PrintPhaseHeader(28); }

void PrintRow(const PhaseResult& r) { PrintPhaseRow(r, 28, 1); }

// Bytes of the files under `path`.
uint64_t FolderBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// ------------------------------------------------------------------------------------------------
// Setup: an organisation and an API client, then the people, over gRPC.

struct Person {
  std::string bearer;   // "Bearer <token>"
  std::string user_id;  // the pairwise pseudonym the API client knows the person by
};

absl::Status CallStatus(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return context;
}

// The API client's id.
absl::StatusOr<std::string> RegisterClient(const std::shared_ptr<grpc::Channel>& channel) {
  auto directory = dv1::Directory::NewStub(channel);
  dv1::RegisterOrganizationRequest org_request;
  org_request.mutable_organization()->mutable_name()->set_fi("Profiilipenkin kunta");
  dv1::Organization organization;
  if (auto s =
          CallStatus(directory->RegisterOrganization(Context().get(), org_request, &organization),
                     "RegisterOrganization");
      !s.ok()) {
    return s;
  }
  dv1::RegisterApiClientRequest client_request;
  client_request.set_organization_id(organization.id());
  client_request.set_display_name("profile_bench service");
  dv1::ApiClientCredentials credentials;
  if (auto s =
          CallStatus(directory->RegisterApiClient(Context().get(), client_request, &credentials),
                     "RegisterApiClient");
      !s.ok()) {
    return s;
  }
  return credentials.client().client_id();
}

// Person i: a token, the initial attributes, a read consent of `client_id`.
absl::Status SetUpPerson(size_t i, const std::string& client_id,
                         const pv1::PutAttributesRequest& attributes, pv1::DevIdentity::Stub& dev,
                         pv1::Profile::Stub& profile, Person* person) {
  pv1::IssueDevTokenRequest token_request;
  token_request.set_subject(absl::StrCat("bench-person-", i));
  token_request.set_lifetime_seconds(kTokenLifetimeSeconds);
  pv1::DevToken token;
  if (auto s =
          CallStatus(dev.IssueDevToken(Context().get(), token_request, &token), "IssueDevToken");
      !s.ok()) {
    return s;
  }
  person->bearer = absl::StrCat("Bearer ", token.access_token());
  {
    auto context = Context();
    context->AddMetadata("authorization", person->bearer);
    pv1::MyProfile reply;
    if (auto s =
            CallStatus(profile.PutAttributes(context.get(), attributes, &reply), "PutAttributes");
        !s.ok()) {
      return s;
    }
  }
  pv1::GrantConsentRequest grant;
  grant.set_client_id(client_id);
  for (const char* name : kAttributeNames) grant.add_attributes(name);
  grant.set_purpose(kPurpose);
  grant.set_access(pv1::Consent::ACCESS_READ);
  auto context = Context();
  context->AddMetadata("authorization", person->bearer);
  pv1::ConsentReceipt receipt;
  if (auto s = CallStatus(profile.GrantConsent(context.get(), grant, &receipt), "GrantConsent");
      !s.ok()) {
    return s;
  }
  person->user_id = receipt.consent().user_id();
  if (!IsCanonicalUuid(person->user_id)) {
    return absl::InternalError(absl::StrCat("GrantConsent: the receipt's user_id ",
                                            QuoteForMessage(person->user_id),
                                            " is not a pseudonym (UUID)"));
  }
  return absl::OkStatus();
}

absl::Status SetUpPeople(const std::vector<std::shared_ptr<grpc::Channel>>& channels, int threads,
                         const std::string& client_id,
                         const std::vector<pv1::PutAttributesRequest>& initial,
                         std::vector<Person>* people) {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const auto& channel = channels[static_cast<size_t>(t) % channels.size()];
      auto dev = pv1::DevIdentity::NewStub(channel);
      auto profile = pv1::Profile::NewStub(channel);
      for (size_t i = next++; i < people->size(); i = next++) {
        absl::Status s = SetUpPerson(i, client_id, initial[i], *dev, *profile, &(*people)[i]);
        if (!s.ok()) {
          absl::MutexLock lock(&mu);
          if (first_error.ok()) {
            first_error = absl::Status(s.code(), absl::StrCat("person ", i, ": ", s.message()));
          }
          next = people->size();  // stop every worker
          return;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return first_error;
}

// ------------------------------------------------------------------------------------------------
// Run

int Run(const BenchOptions& options) {
  std::printf(
      "profile_bench: %zu people, %d concurrent calls over %d gRPC channels (raw RocksDB: %d "
      "threads), %.1f s warm-up + %.1f s measured per phase, profile pool of %d threads\n",
      options.people, options.clients, options.channels, options.clients, options.warmup_seconds,
      options.seconds, options.profile_threads);
  const std::string load_before = LoadAverage();
  std::printf(
      "machine: %u hardware threads, shared by the load generator and the node (same process); "
      "load average %s\n",
      std::thread::hardware_concurrency(), load_before.c_str());

  TempDir temp(options.data_dir, "aurora-profile-bench");
  if (temp.path().empty()) {
    std::fprintf(
        stderr, "cannot create a temporary folder in %s\n",
        options.data_dir.empty() ? "the system's temporary folder" : options.data_dir.c_str());
    return 1;
  }

  // 1. The node, as `aurora serve --components directory,profile --dev-issuer` starts it.
  node::NodeConfig config;
  config.data_dir = temp.path() + "/node";
  config.grpc_listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.components = {"directory", "profile"};
  config.codelists_dir = options.source_dir + "/codelists";
  config.drain = absl::ZeroDuration();
  config.grace = absl::Seconds(10);
  config.secret_hash_iterations = 1000;
  config.dev_issuer = true;
  config.profile.threads = options.profile_threads;
  auto started = node::Node::Start(config);
  if (!started.ok()) {
    std::fprintf(stderr, "the node did not start: %s\n", Message(started.status()).c_str());
    return 1;
  }
  std::unique_ptr<node::Node> node = *std::move(started);
  const std::string target = absl::StrCat("127.0.0.1:", node->grpc_port());
  std::printf("node: directory + profile (dev issuer) on %s, data in %s\n", target.c_str(),
              config.data_dir.c_str());

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int k = 0; k < options.channels; ++k) {
    auto channel = NewChannel(target);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "channel %d cannot connect to %s\n", k, target.c_str());
      return 1;
    }
    channels.push_back(channel);
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
  auto client_id = RegisterClient(channels.front());
  if (!client_id.ok()) {
    std::fprintf(stderr, "%s\n", Message(client_id.status()).c_str());
    return 1;
  }

  // 2. The people (timed, not measured).
  std::mt19937_64 rng(kSeed);
  std::vector<pv1::PutAttributesRequest> initial;
  initial.reserve(options.people);
  for (size_t i = 0; i < options.people; ++i) initial.push_back(MakeAttributes(rng));
  std::vector<Person> people(options.people);
  std::printf("setup: %zu people (token, PutAttributes, GrantConsent each) from %d threads...\n",
              options.people, options.clients);
  std::fflush(stdout);
  auto setup_start = Clock::now();
  double setup_cpu = ProcessCpuSeconds();
  if (auto s = SetUpPeople(channels, options.clients, *client_id, initial, &people); !s.ok()) {
    std::fprintf(stderr, "setup failed: %s\n", Message(s).c_str());
    return 1;
  }
  const double setup_seconds = SecondsSince(setup_start);
  setup_cpu = ProcessCpuSeconds() - setup_cpu;
  std::printf("setup: %.1f s (%.0f people/s, %.2f cores; 3 calls and 4 synced writes per person)\n",
              setup_seconds, static_cast<double>(options.people) / setup_seconds,
              setup_cpu / setup_seconds);

  // 3. The raw database: the node's RocksDB options, the same file system, 3 records per person
  // of the sealed attribute records' size (the same values, sealed as the store seals them).
  setup_start = Clock::now();
  auto raw = Database::Open(temp.path() + "/raw", {profile::kProfileColumnFamily});
  if (!raw.ok()) {
    std::fprintf(stderr, "%s\n", Message(raw.status()).c_str());
    return 1;
  }
  rocksdb::DB* raw_db = (*raw)->db();
  rocksdb::ColumnFamilyHandle* raw_family = (*raw)->family(profile::kProfileColumnFamily);
  const std::string data_key = profile::RandomBytes(profile::kAeadKeyBytes);
  std::vector<std::string> raw_keys;
  raw_keys.reserve(options.people * std::size(kAttributeNames));
  double record_bytes = 0;
  {
    rocksdb::WriteBatch batch;
    for (size_t i = 0; i < options.people; ++i) {
      for (auto& [key, value] : SealedRecords(NewRandomUuid(), initial[i], data_key)) {
        record_bytes += static_cast<double>(value.size());
        batch.Put(raw_family, key, value);
        raw_keys.push_back(std::move(key));
      }
      if (batch.Count() >= 3000 || i + 1 == options.people) {
        rocksdb::WriteOptions sync;
        sync.sync = true;
        if (auto s = raw_db->Write(sync, &batch); !s.ok()) {
          std::fprintf(stderr, "filling the raw database: %s\n", s.ToString().c_str());
          return 1;
        }
        batch.Clear();
      }
    }
  }
  // The values of the raw Puts: fresh attribute values, sealed.
  std::vector<std::string> raw_values;
  std::vector<std::string> put_requests;  // serialized PutAttributesRequest
  for (size_t i = 0; i < kValuePool; ++i) {
    const pv1::PutAttributesRequest request = MakeAttributes(rng);
    put_requests.push_back(request.SerializeAsString());
    for (auto& [key, value] : SealedRecords(NewRandomUuid(), request, data_key)) {
      raw_values.push_back(std::move(value));
    }
  }
  std::printf(
      "raw RocksDB: %zu records of %.0f bytes on average (sealed attributes), the node's options, "
      "filled in %.1f s\n",
      raw_keys.size(), record_bytes / static_cast<double>(std::max<size_t>(raw_keys.size(), 1)),
      SecondsSince(setup_start));

  // The requests.
  std::vector<std::string> read_requests;  // one per person
  read_requests.reserve(people.size());
  for (const Person& person : people) {
    pv1::ReadAttributesRequest request;
    request.set_user_id(person.user_id);
    for (const char* name : kAttributeNames) request.add_attributes(name);
    request.set_purpose(kPurpose);
    read_requests.push_back(request.SerializeAsString());
  }
  std::string health_request;
  {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(pv1::Profile::service_full_name());
    health_request = request.SerializeAsString();
  }
  const std::string caller_client = *client_id;
  const NextRequest next_health =
      [&](std::mt19937_64&, grpc::ClientContext*) -> const std::string& { return health_request; };
  const NextRequest next_put = [&](std::mt19937_64& r,
                                   grpc::ClientContext* context) -> const std::string& {
    context->AddMetadata("authorization", people[r() % people.size()].bearer);
    return put_requests[r() % put_requests.size()];
  };
  const NextRequest next_read = [&](std::mt19937_64& r,
                                    grpc::ClientContext* context) -> const std::string& {
    context->AddMetadata(kCallerClientMetadata, caller_client);
    return read_requests[r() % read_requests.size()];
  };

  // One read first: the consent works and all three values come back.
  {
    auto stub = pv1::ProfileAccess::NewStub(channels.front());
    auto context = Context();
    context->AddMetadata(kCallerClientMetadata, caller_client);
    pv1::ReadAttributesRequest request;
    (void)request.ParseFromString(read_requests.front());
    pv1::ReadAttributesResponse reply;
    auto s = CallStatus(stub->ReadAttributes(context.get(), request, &reply), "ReadAttributes");
    if (!s.ok() || reply.attributes_size() != static_cast<int>(std::size(kAttributeNames))) {
      std::fprintf(stderr, "the first consented read: %s\n",
                   s.ok() ? absl::StrCat(reply.attributes_size(), " attributes, expected 3").c_str()
                          : Message(s).c_str());
      return 1;
    }
  }
  const double hwm_setup = ProcStatusMiB("VmHWM");
  ResetPeakRss();

  // 4. The phases.
  std::printf(
      "\nphases: %d concurrent calls (or threads) each; latency in ms; CPU us/r = CPU time of the "
      "whole process (load generator and node) per request; cores = CPU seconds per second of the "
      "phase (at most %u)\n",
      options.clients, std::thread::hardware_concurrency());
  PrintHeader();
  const auto grpc_phase = [&](const std::string& name, const char* method,
                              const NextRequest& next) {
    GrpcLoad load(stubs, options.clients, method, next, kSeed + 1000);
    PhaseResult result = FromGrpcLoad(load.Run(name, options.warmup_seconds, options.seconds));
    PrintRow(result);
    std::fflush(stdout);
    return result;
  };
  const auto raw_phase = [&](const std::string& name, const RawCall& call) {
    PhaseResult result =
        RunThreads(name, options.clients, options.warmup_seconds, options.seconds, call);
    PrintRow(result);
    std::fflush(stdout);
    return result;
  };
  const PhaseResult health = grpc_phase("baseline gRPC Health/Check", kHealthMethod, next_health);
  const PhaseResult raw_put =
      raw_phase("raw RocksDB Put (synced)", [&](std::mt19937_64& r) -> absl::StatusOr<size_t> {
        rocksdb::WriteOptions sync;
        sync.sync = true;
        const std::string& value = raw_values[r() % raw_values.size()];
        auto s = raw_db->Put(sync, raw_family, raw_keys[r() % raw_keys.size()], value);
        if (!s.ok()) return absl::InternalError(s.ToString());
        return value.size();
      });
  const PhaseResult writes = grpc_phase("PutAttributes (durable)", kPutMethod, next_put);
  const PhaseResult raw_get =
      raw_phase("raw RocksDB Get", [&](std::mt19937_64& r) -> absl::StatusOr<size_t> {
        std::string value;
        auto s = raw_db->Get(rocksdb::ReadOptions(), raw_family, raw_keys[r() % raw_keys.size()],
                             &value);
        if (!s.ok()) return absl::InternalError(s.ToString());
        return value.size();
      });
  const PhaseResult reads = grpc_phase("ReadAttributes (consented)", kReadMethod, next_read);
  const double hwm_end = ProcStatusMiB("VmHWM");
  const double rss_end = ProcStatusMiB("VmRSS");
  const std::string load_after = LoadAverage();

  // The reads were logged: the access log of the first person.
  int logged = -1;
  {
    auto stub = pv1::Profile::NewStub(channels.front());
    auto context = Context();
    context->AddMetadata("authorization", people.front().bearer);
    pv1::ListAccessLogRequest request;
    request.set_limit(500);
    pv1::ListAccessLogResponse reply;
    if (stub->ListAccessLog(context.get(), request, &reply).ok()) logged = reply.entries_size();
  }
  const double node_mib = static_cast<double>(FolderBytes(config.data_dir)) / (1 << 20);
  const double raw_mib = static_cast<double>(FolderBytes(temp.path() + "/raw")) / (1 << 20);
  stubs.clear();
  channels.clear();
  node->Stop();
  node.reset();
  (void)(*raw)->Close();

  std::vector<const PhaseResult*> all_phases = {&health, &raw_put, &writes, &raw_get, &reads};
  int64_t errors = 0;
  for (const PhaseResult* r : all_phases) {
    errors += r->errors;
    if (r->errors == 0) continue;
    std::string kinds;
    for (const auto& [kind, count] : r->error_kinds) {
      absl::StrAppend(&kinds, kinds.empty() ? "" : ", ", count, " x ", kind);
    }
    std::printf("errors of %s: %lld of %lld calls (%s); first: %s\n", r->name.c_str(),
                static_cast<long long>(r->errors), static_cast<long long>(r->calls), kinds.c_str(),
                r->first_error.c_str());
  }

  const PhaseFigures hf = Figures(health), pf = Figures(raw_put), wf = Figures(writes),
                     gf = Figures(raw_get), rf = Figures(reads);
  std::printf("\n%-34s %12s %12s %12s\n", "ratio (same run)", "req/s", "p50", "p99");
  const auto ratio = [](const char* name, const PhaseFigures& a, const PhaseFigures& b) {
    std::printf("%-34s %11.3fx %11.2fx %11.2fx\n", name, a.rate / b.rate,
                a.latency.p50 / b.latency.p50, a.latency.p99 / b.latency.p99);
  };
  ratio("writes / raw synced Put", wf, pf);
  ratio("reads / raw Get", rf, gf);
  ratio("reads / raw synced Put", rf, pf);
  ratio("writes / gRPC Health/Check", wf, hf);
  ratio("reads / gRPC Health/Check", rf, hf);
  std::printf(
      "(a consented read appends a synced access-log entry: it costs a synced write too; "
      "access log of person 0 after the run: %d entries)\n",
      logged);
  std::printf("%-34s %10.1f s for %zu people\n", "setup", setup_seconds, options.people);
  std::printf("%-34s %10.0f MiB (RSS at the end %.0f MiB; peak through the setup %.0f MiB)\n",
              "peak RSS during the phases (VmHWM)", hwm_end, rss_end, hwm_setup);
  std::printf("%-34s %10.0f MiB node, %.0f MiB raw\n", "data on disk at the end", node_mib,
              raw_mib);
  std::printf("load average before / after: %s / %s\n\n", load_before.c_str(), load_after.c_str());

  const auto verdict = [](bool pass) { return pass ? "PASS" : "FAIL"; };
  std::printf(
      "durable writes >= %.1fx raw synced Put throughput: %s (measured %.3fx: %.0f vs %.0f "
      "req/s)\n",
      kTargetRatio, verdict(wf.rate >= kTargetRatio * pf.rate), wf.rate / pf.rate, wf.rate,
      pf.rate);
  std::printf(
      "consented reads >= %.1fx raw Get throughput: %s (measured %.3fx: %.0f vs %.0f "
      "req/s)\n",
      kTargetRatio, verdict(rf.rate >= kTargetRatio * gf.rate), rf.rate / gf.rate, rf.rate,
      gf.rate);
  std::printf("consented read p99 <= %.0f ms: %s (measured %.2f ms)\n", kTargetReadP99Ms,
              verdict(rf.latency.p99 <= kTargetReadP99Ms), rf.latency.p99);
  std::printf(
      "profile_bench: people=%zu clients=%d write_rps=%.0f write_p99_ms=%.2f raw_put_rps=%.0f "
      "read_rps=%.0f read_p99_ms=%.2f raw_get_rps=%.0f health_rps=%.0f peak_mib=%.0f errors=%lld\n",
      options.people, options.clients, wf.rate, wf.latency.p99, pf.rate, rf.rate, rf.latency.p99,
      gf.rate, hf.rate, hwm_end, static_cast<long long>(errors));
  if (errors > 0) {
    std::fprintf(stderr, "%lld calls failed\n", static_cast<long long>(errors));
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
