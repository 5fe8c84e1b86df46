// directory_bench: the service directory at scale. Starts DirectoryStore + DirectoryService +
// GrpcServer in this process on 127.0.0.1:0 (RocksDB in a fresh temporary folder), reached over
// real TCP gRPC channels, and measures
//   * import: N synthetic services (bench/service_generator.h) streamed through ImportServices;
//     baseline: the same serialized services written straight into a fresh RocksDB with one
//     WriteBatch and one sync per batch (the raw storage cost);
//   * list: C client threads, each with its own channel, each making K ListServices calls with a
//     mix of realistic filters; baseline: GetService by id from the same clients (the raw gRPC
//     round trip plus one lookup);
//   * peak RSS (VmHWM) after the import and at the end.
// Figures are printed with their ratio to the baseline measured in the same run, and one line per
// target of bench/README.md. Not a test: the exit status is 0 unless the benchmark could not run.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "bench/bench_args.h"
#include "bench/grpc_load.h"
#include "bench/process_figures.h"
#include "bench/service_generator.h"
#include "common/codelists.h"
#include "common/database.h"
#include "common/metrics.h"
#include "common/server.h"
#include "common/text.h"
#include "common/wire.h"
#include "directory/catalogue_format.h"
#include "directory/directory_service.h"
#include "directory/store.h"
#include "directory/validation.h"

#ifndef AURORA_DATA_DIR
#define AURORA_DATA_DIR "../shared/data"
#endif

namespace aurora::bench {
namespace {

namespace v1 = aurora::directory::v1;
using Clock = std::chrono::steady_clock;

// Targets of the issue, on the 2-core reference machine.
constexpr double kTargetImportRate = 20000;  // services/s
constexpr double kTargetListP99Ms = 2.0;
constexpr double kTargetPeakRssMiB = 1024;

constexpr char kUsage[] =
    "Usage: directory_bench [--services N] [--clients C] [--calls K] [--batch B]\n"
    "         [--warmup W] [--data-dir DIR] [--source-dir DIR] [--breakdown]\n"
    "  --services N      synthetic services to import (default 100000)\n"
    "  --clients C       concurrent list/get clients, one channel each (default: one per\n"
    "                    hardware thread, i.e. as many closed loops as cores)\n"
    "  --calls K         measured calls per client, list and get phases each (default 2000)\n"
    "  --batch B         services per ImportServices message, 1..1000 (default 500)\n"
    "  --warmup W        unrecorded calls per client before the measured phases (default 100)\n"
    "  --data-dir DIR    where the fresh temporary folder for RocksDB is made (default: the\n"
    "                    system's temporary folder); the folder is removed at the end\n"
    "  --source-dir DIR  folder with services.ndjson and codelists/\n"
    "                    (default " AURORA_DATA_DIR
    ")\n"
    "  --breakdown       also time the parts of an import and of a list call in-process,\n"
    "                    without gRPC, on one thread (where the time goes)\n";

struct BenchOptions {
  size_t services = 100000;
  int clients = 0;  // 0: one per hardware thread
  int calls = 2000;
  int batch = 500;
  int warmup = 100;
  bool breakdown = false;
  std::string data_dir;
  std::string source_dir = AURORA_DATA_DIR;
};

bool ParseArgs(int argc, char** argv, BenchOptions* options) {
  ArgReader args(argc, argv, kUsage);
  while (args.Next()) {
    if (args.option() == "--breakdown") {
      options->breakdown = true;
      continue;
    }
    if (!args.TakeValue()) return false;
    const std::string& arg = args.option();
    if (arg == "--services") {
      if (!args.Integer(1, 100000000, &options->services)) return false;
    } else if (arg == "--clients") {
      if (!args.Integer(1, 1024, &options->clients)) return false;
    } else if (arg == "--calls") {
      if (!args.Integer(1, 100000000, &options->calls)) return false;
    } else if (arg == "--batch") {
      if (!args.Integer(1, 1000, &options->batch)) return false;
    } else if (arg == "--warmup") {
      if (!args.Integer(0, 100000000, &options->warmup)) return false;
    } else if (arg == "--data-dir") {
      options->data_dir = args.value();
    } else if (arg == "--source-dir") {
      options->source_dir = args.value();
    } else {
      return args.Unknown();
    }
  }
  return true;
}

void SetDeadline(grpc::ClientContext* context, int seconds) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

// ------------------------------------------------------------------------------------------------
// Input: the real catalogue, its organisations, and the synthetic services.

struct Catalogue {
  std::unique_ptr<CodeLists> codes;
  std::vector<v1::Service> real;
  std::map<std::string, v1::Organization> organizations;
  size_t dropped = 0;
};

absl::Status LoadCatalogue(const std::string& source_dir, Catalogue* out) {
  auto codes = CodeLists::LoadFromDirectory(source_dir + "/codelists");
  if (!codes.ok()) return codes.status();
  out->codes = std::make_unique<CodeLists>(std::move(*codes));
  const std::string file = source_dir + "/services.ndjson";
  auto read = directory::ReadCatalogueFile(file, directory::CatalogueFormat::kNdjson, *out->codes);
  if (!read.ok()) return read.status();
  out->dropped = read->errors.size();
  for (auto& record : read->records) {
    if (!directory::ValidateService(record.service, *out->codes, /*id_required=*/true).ok()) {
      ++out->dropped;
      continue;
    }
    const std::string& organization_id = record.service.organization_id();
    if (!organization_id.empty() && !out->organizations.contains(organization_id)) {
      v1::Organization organization = record.organization;
      const auto& name = organization.name();
      if (name.fi().empty() && name.sv().empty() && name.en().empty()) {
        organization.mutable_name()->set_fi(absl::StrCat("Organisaatio ", organization_id));
      }
      if (!directory::ValidateOrganization(organization, *out->codes).ok()) {
        ++out->dropped;
        continue;
      }
      out->organizations.emplace(organization_id, std::move(organization));
    }
    out->real.push_back(std::move(record.service));
  }
  if (out->real.empty())
    return absl::FailedPreconditionError(absl::StrCat(file, ": no valid services"));
  return absl::OkStatus();
}

// The codes the list clients filter by, one entry per occurrence in the synthetic services, so
// that a uniform draw favours what many services carry (Helsinki more than Kaskinen).
struct FilterPools {
  std::vector<std::string> municipalities, regions, wellbeing_counties, class_parents,
      target_groups, life_events;
};

void AddToPools(const v1::Service& service, const CodeLists& codes, FilterPools* pools) {
  using aurora::CodeKind;
  for (const auto& code : service.municipality_codes()) {
    pools->municipalities.push_back(code);
    if (const auto* m = codes.FindMunicipality(code)) {
      pools->regions.push_back(m->region_code);
      pools->wellbeing_counties.push_back(m->wellbeing_county_code);
    }
  }
  for (const auto& code : service.service_classes()) {
    const auto chain = codes.WithAncestors(CodeKind::kServiceClass, code);
    if (!chain.empty()) pools->class_parents.push_back(chain.back());  // the main class, "P5"
  }
  for (const auto& code : service.target_groups()) pools->target_groups.push_back(code);
  for (const auto& code : service.life_events()) pools->life_events.push_back(code);
}

// ------------------------------------------------------------------------------------------------
// List queries

enum class QueryKind {
  kMunicipality,
  kRegion,
  kWellbeingCounty,
  kServiceClass,
  kTargetGroup,
  kLifeEvent,
  kMunicipalityAndClass,
  kRegionAndTargetGroup,
  kCountyAndLifeEvent,
};
constexpr int kQueryKinds = 9;
constexpr const char* kQueryNames[kQueryKinds] = {
    "municipality",         "region",          "wellbeing county",
    "class parent (P5)",    "target group",    "life event",
    "municipality + class", "region + target", "county + life event"};
// Relative frequency of each kind in the mix (percent).
constexpr int kQueryWeights[kQueryKinds] = {20, 10, 10, 10, 10, 10, 15, 10, 5};
// Share of calls whose next_page_token is followed (a second call for page 2).
constexpr double kPage2Probability = 0.2;

const std::string& Pick(const std::vector<std::string>& pool, std::mt19937_64& rng) {
  return pool[rng() % pool.size()];
}

v1::ListServicesRequest MakeListRequest(QueryKind kind, const FilterPools& pools,
                                        std::mt19937_64& rng) {
  v1::ListServicesRequest request;
  auto* area = request.mutable_area();
  switch (kind) {
    case QueryKind::kMunicipality:
      area->add_municipality_codes(Pick(pools.municipalities, rng));
      break;
    case QueryKind::kRegion:
      area->add_region_codes(Pick(pools.regions, rng));
      break;
    case QueryKind::kWellbeingCounty:
      area->add_wellbeing_service_county_codes(Pick(pools.wellbeing_counties, rng));
      break;
    case QueryKind::kServiceClass:
      request.add_service_classes(Pick(pools.class_parents, rng));
      break;
    case QueryKind::kTargetGroup:
      request.add_target_groups(Pick(pools.target_groups, rng));
      break;
    case QueryKind::kLifeEvent:
      request.add_life_events(Pick(pools.life_events, rng));
      break;
    case QueryKind::kMunicipalityAndClass:
      area->add_municipality_codes(Pick(pools.municipalities, rng));
      request.add_service_classes(Pick(pools.class_parents, rng));
      break;
    case QueryKind::kRegionAndTargetGroup:
      area->add_region_codes(Pick(pools.regions, rng));
      request.add_target_groups(Pick(pools.target_groups, rng));
      break;
    case QueryKind::kCountyAndLifeEvent:
      area->add_wellbeing_service_county_codes(Pick(pools.wellbeing_counties, rng));
      request.add_life_events(Pick(pools.life_events, rng));
      break;
  }
  if (!area->municipality_codes_size() && !area->region_codes_size() &&
      !area->wellbeing_service_county_codes_size()) {
    request.clear_area();
  }
  request.mutable_page()->set_page_size(20 + static_cast<int>(rng() % 31));  // 20..50
  return request;
}

bool PoolsCover(QueryKind kind, const FilterPools& pools) {
  switch (kind) {
    case QueryKind::kMunicipality:
      return !pools.municipalities.empty();
    case QueryKind::kRegion:
      return !pools.regions.empty();
    case QueryKind::kWellbeingCounty:
      return !pools.wellbeing_counties.empty();
    case QueryKind::kServiceClass:
      return !pools.class_parents.empty();
    case QueryKind::kTargetGroup:
      return !pools.target_groups.empty();
    case QueryKind::kLifeEvent:
      return !pools.life_events.empty();
    case QueryKind::kMunicipalityAndClass:
      return !pools.municipalities.empty() && !pools.class_parents.empty();
    case QueryKind::kRegionAndTargetGroup:
      return !pools.regions.empty() && !pools.target_groups.empty();
    case QueryKind::kCountyAndLifeEvent:
      return !pools.wellbeing_counties.empty() && !pools.life_events.empty();
  }
  return false;
}

// One call's record.
struct CallSample {
  float micros;
  uint8_t kind;  // QueryKind, or 0 for Get
  bool page2;
  uint16_t results;
};

struct PhaseResult {
  std::vector<CallSample> samples;
  double seconds = 0;
  int64_t errors = 0;
  std::string first_error;
};

// Runs `calls` calls on each of the clients' threads at once; `call(client, rng, samples)` makes
// one or more calls and appends their samples (returning false on an RPC error, with a message).
template <typename Call>
PhaseResult RunPhase(int clients, int calls, uint64_t seed, Call call) {
  std::vector<std::vector<CallSample>> per_client(static_cast<size_t>(clients));
  std::vector<std::string> errors(static_cast<size_t>(clients));
  std::vector<int64_t> error_counts(static_cast<size_t>(clients), 0);
  std::latch ready(clients + 1), go(1);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(seed + static_cast<uint64_t>(c));
      auto& samples = per_client[static_cast<size_t>(c)];
      samples.reserve(static_cast<size_t>(calls) + 16);
      ready.count_down();
      go.wait();
      while (samples.size() < static_cast<size_t>(calls)) {
        std::string error;
        if (!call(c, rng, &samples, &error)) {
          if (error_counts[static_cast<size_t>(c)]++ == 0) errors[static_cast<size_t>(c)] = error;
          if (error_counts[static_cast<size_t>(c)] > 100) break;
        }
      }
      samples.resize(std::min(samples.size(), static_cast<size_t>(calls)));
    });
  }
  ready.arrive_and_wait();
  const auto start = Clock::now();
  go.count_down();
  for (auto& thread : threads) thread.join();
  PhaseResult result;
  result.seconds = SecondsSince(start);
  for (size_t c = 0; c < per_client.size(); ++c) {
    result.samples.insert(result.samples.end(), per_client[c].begin(), per_client[c].end());
    result.errors += error_counts[c];
    if (result.first_error.empty()) result.first_error = errors[c];
  }
  return result;
}

// RocksDB block cache lookups of data blocks (from the database's statistics).
struct BlockCacheCounts {
  uint64_t hits = 0, misses = 0;
};

BlockCacheCounts ReadBlockCache(const Database& database) {
  BlockCacheCounts counts;
  if (rocksdb::Statistics* stats = database.statistics()) {
    counts.hits = stats->getTickerCount(rocksdb::BLOCK_CACHE_DATA_HIT);
    counts.misses = stats->getTickerCount(rocksdb::BLOCK_CACHE_DATA_MISS);
  }
  return counts;
}

// "hit ratio (misses per call)" between two readings.
std::string DescribeBlockCache(const BlockCacheCounts& before, const BlockCacheCounts& after,
                               size_t calls) {
  const double hits = static_cast<double>(after.hits - before.hits);
  const double misses = static_cast<double>(after.misses - before.misses);
  if (hits + misses == 0) return "no data block reads";
  return absl::StrFormat("%.1f%% hits, %.1f misses per call", 100 * hits / (hits + misses),
                         misses / static_cast<double>(std::max<size_t>(calls, 1)));
}

std::vector<float> Micros(const std::vector<CallSample>& samples,
                          const std::function<bool(const CallSample&)>& keep) {
  std::vector<float> out;
  for (const auto& s : samples) {
    if (keep(s)) out.push_back(s.micros);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// --breakdown: the parts of a list call and of an import, timed in-process on one thread.

class Laps {
 public:
  // Adds the time since the previous lap (or construction) to `*total`.
  void Lap(double* total) {
    const auto now = Clock::now();
    *total += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  Clock::time_point last_ = Clock::now();
};

bool ReadVarint(std::string_view* in, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Top-level fields of a serialized ListServicesResponse: services (1) counted, next_page_token (2).
bool ScanListPage(std::string_view in, int* services, std::string* token) {
  *services = 0;
  token->clear();
  while (!in.empty()) {
    uint64_t tag = 0, value = 0;
    if (!ReadVarint(&in, &tag)) return false;
    if ((tag & 7) == 0) {
      if (!ReadVarint(&in, &value)) return false;
      continue;
    }
    if ((tag & 7) != 2 || !ReadVarint(&in, &value) || value > in.size()) return false;
    if ((tag >> 3) == 1) ++*services;
    if ((tag >> 3) == 2) token->assign(in.substr(0, value));
    in.remove_prefix(value);
  }
  return true;
}

std::string ListBreakdown(const directory::DirectoryStore& store, const Database& /*database*/,
                          const CodeLists& codes, const FilterPools& pools,
                          const std::vector<QueryKind>& mix, int calls) {
  std::mt19937_64 rng(5000);
  double validate = 0, compile = 0, find = 0, assemble = 0, client_parse = 0;
  size_t results = 0, bytes = 0;
  for (int i = 0; i < calls; ++i) {
    const v1::ListServicesRequest request = MakeListRequest(mix[rng() % mix.size()], pools, rng);
    Laps laps;
    if (auto s = directory::ValidateListServicesRequest(request, codes); !s.ok()) {
      return absl::StrCat("breakdown: ", s.message(), "\n");
    }
    laps.Lap(&validate);
    const directory::ServiceIndex::Query query = store.index().Compile(request);
    laps.Lap(&compile);
    bool more = false;
    const std::vector<directory::ServiceIndex::Hit> hits =
        store.index().Find(query, "", static_cast<size_t>(request.page().page_size()), &more);
    laps.Lap(&find);
    // What the service does: the response's wire bytes from the stored serialized services.
    std::string bytes_out;
    for (const auto& hit : hits) {
      wire::AppendLengthDelimitedField(&bytes_out, v1::ListServicesResponse::kServicesFieldNumber,
                                       *hit.bytes);
    }
    laps.Lap(&assemble);
    v1::ListServicesResponse received;
    (void)received.ParseFromString(bytes_out);
    laps.Lap(&client_parse);
    const size_t found = hits.size();
    results += found;
    bytes += bytes_out.size();
  }
  const double n = calls;
  const double total = validate + compile + find + assemble + client_parse;
  std::string out = absl::StrFormat(
      "\nbreakdown of a list call (%d calls on one thread, no gRPC; %.1f services, %.1f KiB per "
      "page):\n",
      calls, static_cast<double>(results) / n, static_cast<double>(bytes) / n / 1024);
  for (auto [name, seconds] :
       {std::pair{"validate request", validate}, std::pair{"compile query (index)", compile},
        std::pair{"find (index)", find}, std::pair{"assemble response bytes", assemble},
        std::pair{"client parses response", client_parse}}) {
    absl::StrAppendFormat(&out, "  %-26s %8.1f us  %5.1f%%\n", name, seconds / n * 1e6,
                          100 * seconds / total);
  }
  absl::StrAppendFormat(&out, "  %-26s %8.1f us\n", "total", total / n * 1e6);
  return out;
}

int PrintImportBreakdown(const std::string& folder, const Catalogue& catalogue, size_t n,
                         int batch_size) {
  const CodeLists& codes = *catalogue.codes;
  std::vector<v1::Service> services = GenerateServices(catalogue.real, codes, n);
  auto database = Database::Open(folder, {directory::kDirectoryColumnFamily});
  if (!database.ok()) {
    std::fprintf(stderr, "%s\n", std::string(database.status().message()).c_str());
    return 1;
  }
  auto store = directory::DirectoryStore::Open(database->get(), &codes);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  for (const auto& [id, organization] : catalogue.organizations) {
    if (auto s = (*store)->RegisterOrganization(organization); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
      return 1;
    }
  }
  directory::ServiceIndex index(&codes);
  double receive = 0, validate = 0, index_put = 0, import = 0;
  std::vector<double> batch_seconds;
  for (size_t start = 0; start < services.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(services.size(), start + static_cast<size_t>(batch_size));
    v1::ImportServicesRequest sent;
    for (size_t i = start; i < end; ++i) *sent.add_services() = std::move(services[i]);
    Laps laps;
    const std::string message_bytes = sent.SerializeAsString();
    v1::ImportServicesRequest received;
    (void)received.ParseFromString(message_bytes);
    laps.Lap(&receive);
    for (const auto& service : received.services()) {
      (void)directory::ValidateService(service, codes, /*id_required=*/false);
    }
    laps.Lap(&validate);
    for (const auto& service : received.services()) {
      index.Put(service, std::make_shared<const std::string>(service.SerializeAsString()));
    }
    laps.Lap(&index_put);
    std::vector<directory::ImportRecord> records;
    int64_t position = static_cast<int64_t>(start);
    for (auto& service : *received.mutable_services()) {
      records.push_back(directory::ImportRecord{position++, std::move(service)});
    }
    double seconds = 0;
    Laps import_laps;
    if (auto results = (*store)->ImportBatch(std::move(records)); !results.ok()) {
      std::fprintf(stderr, "%s\n", std::string(results.status().message()).c_str());
      return 1;
    }
    import_laps.Lap(&seconds);
    import += seconds;
    batch_seconds.push_back(seconds);
  }
  // The existence check ImportBatch makes for every record, at the final size: point lookups of
  // ids that are not there.
  rocksdb::ColumnFamilyHandle* cf = (*database)->family(directory::kDirectoryColumnFamily);
  const size_t probes = std::min<size_t>(n, 20000);
  double missing = 0;
  {
    Laps laps;
    std::string value;
    for (size_t i = 0; i < probes; ++i) {
      (void)(*database)->db()->Get(rocksdb::ReadOptions(), cf,
                                   absl::StrCat("s/", SyntheticServiceId(n + i)), &value);
    }
    laps.Lap(&missing);
    double ids = 0;
    for (size_t i = 0; i < probes; ++i) (void)SyntheticServiceId(n + i);
    laps.Lap(&ids);
    missing -= ids;
  }
  std::string l0, l1, l2, sst_bytes;
  (*database)->db()->GetProperty(cf, "rocksdb.num-files-at-level0", &l0);
  (*database)->db()->GetProperty(cf, "rocksdb.num-files-at-level1", &l1);
  (*database)->db()->GetProperty(cf, "rocksdb.num-files-at-level2", &l2);
  (*database)->db()->GetProperty(cf, "rocksdb.total-sst-files-size", &sst_bytes);
  uint64_t wal_bytes = 0, flushed_bytes = 0;
  if (auto* stats = (*database)->statistics()) {
    wal_bytes = stats->getTickerCount(rocksdb::WAL_FILE_BYTES);
    flushed_bytes = stats->getTickerCount(rocksdb::FLUSH_WRITE_BYTES);
  }
  const size_t tenth = std::max<size_t>(1, batch_seconds.size() / 10);
  double first = 0, last = 0;
  for (size_t i = 0; i < tenth; ++i) {
    first += batch_seconds[i];
    last += batch_seconds[batch_seconds.size() - 1 - i];
  }
  const double per = 1e6 / static_cast<double>(n);
  const double total = receive + validate + import;
  std::printf("\nbreakdown of the import (%zu services in batches of %d, one thread, no gRPC):\n",
              n, batch_size);
  std::printf("  %-44s %7.1f us/service  %5.1f%%\n", "serialize + parse the messages",
              receive * per, 100 * receive / total);
  std::printf("  %-44s %7.1f us/service  %5.1f%%\n", "ValidateService", validate * per,
              100 * validate / total);
  std::printf("  %-44s %7.1f us/service  %5.1f%%\n", "DirectoryStore::ImportBatch", import * per,
              100 * import / total);
  std::printf("  %-44s %7.1f us/service\n", "  of which ServiceIndex::Put (timed apart)",
              index_put * per);
  std::printf("  %-44s %7.1f us/service\n", "RocksDB Get of a new id (at the final size)",
              missing * 1e6 / static_cast<double>(probes));
  std::printf("  %-44s %7.0f services/s\n", "rate without gRPC", static_cast<double>(n) / total);
  std::printf("  ImportBatch per batch: first 10%% of batches %.1f ms, last 10%% %.1f ms\n",
              first / static_cast<double>(tenth) * 1e3, last / static_cast<double>(tenth) * 1e3);
  std::printf(
      "  RocksDB at the end: L0 %s files, L1 %s, L2 %s, %.0f MiB in SST files; WAL %.0f "
      "MiB written, %.0f MiB flushed\n",
      l0.c_str(), l1.c_str(), l2.c_str(),
      static_cast<double>(std::strtoull(sst_bytes.c_str(), nullptr, 10)) / (1 << 20),
      static_cast<double>(wal_bytes) / (1 << 20), static_cast<double>(flushed_bytes) / (1 << 20));
  store->reset();
  (void)(*database)->Close();
  return 0;
}

// ------------------------------------------------------------------------------------------------

int Run(const BenchOptions& options) {
  std::printf("directory_bench: %zu services, %d clients x %d calls, batches of %d\n",
              options.services, options.clients, options.calls, options.batch);
  std::printf("machine: %u hardware threads\n", std::thread::hardware_concurrency());

  // Input.
  auto phase_start = Clock::now();
  Catalogue catalogue;
  if (auto s = LoadCatalogue(options.source_dir, &catalogue); !s.ok()) {
    std::fprintf(stderr, "cannot load the real catalogue: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const CodeLists& codes = *catalogue.codes;
  std::printf("real catalogue: %zu valid services (%zu dropped), %zu organisations, %.2f s\n",
              catalogue.real.size(), catalogue.dropped, catalogue.organizations.size(),
              SecondsSince(phase_start));

  phase_start = Clock::now();
  std::vector<v1::Service> services = GenerateServices(catalogue.real, codes, options.services);
  const double generate_seconds = SecondsSince(phase_start);
  phase_start = Clock::now();
  for (size_t i = 0; i < services.size(); ++i) {
    if (auto s = directory::ValidateService(services[i], codes, /*id_required=*/true); !s.ok()) {
      std::fprintf(stderr, "synthetic service %zu (derived from %s) fails validation: %s\n", i,
                   services[i].external_ref().external_id().c_str(),
                   std::string(s.message()).c_str());
      return 2;
    }
  }
  const double validate_seconds = SecondsSince(phase_start);
  uint64_t fingerprint = 1469598103934665603ull;  // FNV-1a of the serialized services
  for (const auto& service : services) {
    for (unsigned char c : service.SerializeAsString())
      fingerprint = (fingerprint ^ c) * 1099511628211ull;
  }
  std::printf(
      "generated %zu services in %.2f s (fingerprint %016llx); all pass ValidateService (%.1f "
      "us/service on one thread)\n",
      services.size(), generate_seconds, static_cast<unsigned long long>(fingerprint),
      validate_seconds * 1e6 / static_cast<double>(services.size()));

  // Client-side data: the import messages, the ids to Get, the filter codes.
  FilterPools pools;
  std::vector<std::string> ids;
  ids.reserve(services.size());
  std::vector<v1::ImportServicesRequest> batches;
  size_t total_bytes = 0;
  for (size_t start = 0; start < services.size(); start += static_cast<size_t>(options.batch)) {
    v1::ImportServicesRequest& request = batches.emplace_back();
    request.set_report_rejected_only(true);
    const size_t end = std::min(services.size(), start + static_cast<size_t>(options.batch));
    for (size_t i = start; i < end; ++i) {
      AddToPools(services[i], codes, &pools);
      ids.push_back(services[i].id());
      *request.add_services() = std::move(services[i]);
    }
    total_bytes += request.ByteSizeLong();
  }
  std::vector<v1::Service>().swap(services);
  if (!options.breakdown) {
    catalogue.real.clear();
    catalogue.real.shrink_to_fit();
  }
  std::printf("import messages: %zu x %d services, %.1f MiB serialized (%.0f bytes/service)\n",
              batches.size(), options.batch, static_cast<double>(total_bytes) / (1 << 20),
              static_cast<double>(total_bytes) / static_cast<double>(ids.size()));
  malloc_trim(0);
  const double client_rss = ProcStatusMiB("VmRSS");
  std::printf("RSS with the client-side data ready: %.0f MiB\n", client_rss);

  TempDir temp(options.data_dir, "aurora-directory-bench");
  if (temp.path().empty()) {
    std::fprintf(
        stderr, "cannot create a temporary folder in %s\n",
        options.data_dir.empty() ? "the system's temporary folder" : options.data_dir.c_str());
    return 1;
  }
  std::printf("data folder: %s\n\n", temp.path().c_str());

  // Import baseline: the raw storage cost, one WriteBatch + one sync per batch on a fresh
  // RocksDB with the node's options. Serialisation is done before the clock runs for each batch.
  double baseline_import_rate = 0;
  {
    auto database = Database::Open(temp.path() + "/baseline", {directory::kDirectoryColumnFamily});
    if (!database.ok()) {
      std::fprintf(stderr, "%s\n", std::string(database.status().message()).c_str());
      return 1;
    }
    rocksdb::ColumnFamilyHandle* cf = (*database)->family(directory::kDirectoryColumnFamily);
    rocksdb::WriteOptions sync;
    sync.sync = true;
    double seconds = 0;
    for (const auto& request : batches) {
      std::vector<std::pair<std::string, std::string>> records;
      records.reserve(static_cast<size_t>(request.services_size()));
      for (const auto& service : request.services()) {
        records.emplace_back(absl::StrCat("s/", service.id()), service.SerializeAsString());
      }
      const auto start = Clock::now();
      rocksdb::WriteBatch batch;
      for (const auto& [key, value] : records) batch.Put(cf, key, value);
      if (auto s = (*database)->db()->Write(sync, &batch); !s.ok()) {
        std::fprintf(stderr, "baseline write: %s\n", s.ToString().c_str());
        return 1;
      }
      seconds += SecondsSince(start);
    }
    baseline_import_rate = static_cast<double>(ids.size()) / seconds;
    (void)(*database)->Close();
    std::error_code ec;
    std::filesystem::remove_all(temp.path() + "/baseline", ec);
  }
  const bool hwm_reset = ResetPeakRss();

  // The directory, as `aurora serve` wires it.
  auto database = Database::Open(temp.path() + "/rocksdb", {directory::kDirectoryColumnFamily});
  if (!database.ok()) {
    std::fprintf(stderr, "%s\n", std::string(database.status().message()).c_str());
    return 1;
  }
  auto store = directory::DirectoryStore::Open(database->get(), &codes);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  auto service = std::make_unique<directory::DirectoryService>(store->get(), &codes);
  Metrics metrics;
  GrpcServer server;
  server.AddService(service.get(), v1::Directory::service_full_name());
  if (auto s = server.Start("127.0.0.1:0", &metrics); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  server.SetServing(true);
  const std::string target = absl::StrCat("127.0.0.1:", server.port());
  const auto stop_server = [&] {
    service->Shutdown();
    server.Shutdown(absl::Seconds(5));
    service.reset();
    store->reset();
    (void)(*database)->Close();
  };

  // Organisations the services reference.
  auto import_stub = v1::Directory::NewStub(NewChannel(target));
  phase_start = Clock::now();
  for (const auto& [id, organization] : catalogue.organizations) {
    grpc::ClientContext context;
    SetDeadline(&context, 30);
    v1::RegisterOrganizationRequest request;
    *request.mutable_organization() = organization;
    v1::Organization response;
    if (grpc::Status s = import_stub->RegisterOrganization(&context, request, &response); !s.ok()) {
      std::fprintf(stderr, "registering organisation %s: %s\n", id.c_str(),
                   s.error_message().c_str());
      stop_server();
      return 1;
    }
  }
  std::printf("registered %zu organisations in %.2f s\n", catalogue.organizations.size(),
              SecondsSince(phase_start));

  // Import.
  v1::ImportServicesResponse import_response;
  double import_seconds = 0;
  {
    grpc::ClientContext context;
    SetDeadline(&context, 3600);
    const auto start = Clock::now();
    auto writer = import_stub->ImportServices(&context, &import_response);
    for (auto& request : batches) {
      if (!writer->Write(request)) break;          // the server ended the call; Finish() says why
      v1::ImportServicesRequest().Swap(&request);  // frees the sent batch
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    import_seconds = SecondsSince(start);
    if (!status.ok()) {
      std::fprintf(stderr, "ImportServices failed: %s\n", status.error_message().c_str());
      stop_server();
      return 1;
    }
  }
  std::vector<v1::ImportServicesRequest>().swap(batches);
  const double import_rate = static_cast<double>(ids.size()) / import_seconds;
  std::printf("import: %lld created, %lld rejected in %.2f s\n",
              static_cast<long long>(import_response.created()),
              static_cast<long long>(import_response.rejected()), import_seconds);
  if (import_response.created() != static_cast<int64_t>(ids.size())) {
    std::fprintf(stderr, "expected %zu services to be created, got %lld\n", ids.size(),
                 static_cast<long long>(import_response.created()));
    for (int i = 0; i < std::min(5, import_response.results_size()); ++i) {
      std::fprintf(stderr, "  record %lld: %s\n",
                   static_cast<long long>(import_response.results(i).index()),
                   import_response.results(i).error().c_str());
    }
    stop_server();
    return 1;
  }
  malloc_trim(0);  // the sent batches are freed: what stays resident is mostly the directory's
  const double rss_after_import = ProcStatusMiB("VmRSS");
  const double hwm_after_import = ProcStatusMiB("VmHWM");
  std::printf("RSS after the import: %.0f MiB (peak %.0f MiB)\n\n", rss_after_import,
              hwm_after_import);

  // List and Get from C clients, each with its own channel (TCP connection). The load generator
  // stays light so that it disturbs the server (which shares the 2 cores) as little as possible,
  // like wrk or h2load: calls go through grpc::GenericStub with the request serialized once and
  // the reply kept as bytes. A list reply is only scanned for its top-level fields (how many
  // services, the next page token); the services are not decoded.
  std::vector<std::unique_ptr<grpc::GenericStub>> callers;
  for (int c = 0; c < options.clients; ++c) {
    auto channel = NewChannel(target);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "client %d cannot connect to %s\n", c, target.c_str());
      stop_server();
      return 1;
    }
    callers.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
  std::vector<QueryKind> mix;  // one entry per percent
  for (int k = 0; k < kQueryKinds; ++k) {
    if (!PoolsCover(static_cast<QueryKind>(k), pools)) continue;
    for (int w = 0; w < kQueryWeights[k]; ++w) mix.push_back(static_cast<QueryKind>(k));
  }
  const auto list_call = [&](int client, std::mt19937_64& rng, std::vector<CallSample>* samples,
                             std::string* error) {
    const QueryKind kind = mix[rng() % mix.size()];
    v1::ListServicesRequest request = MakeListRequest(kind, pools, rng);
    const bool follow = static_cast<double>(rng() >> 11) * 0x1.0p-53 < kPage2Probability;
    for (int page = 1; page <= 2; ++page) {
      std::string reply;
      double micros = 0;
      grpc::Status status = SyncCall(*callers[static_cast<size_t>(client)],
                                     "/aurora.directory.v1.Directory/ListServices",
                                     request.SerializeAsString(), &reply, &micros);
      int services = 0;
      std::string token;
      if (!status.ok() || !ScanListPage(reply, &services, &token)) {
        *error = absl::StrCat("ListServices ", request.ShortDebugString(), ": ",
                              status.ok() ? "malformed reply" : status.error_message());
        return false;
      }
      samples->push_back({static_cast<float>(micros), static_cast<uint8_t>(kind), page == 2,
                          static_cast<uint16_t>(services)});
      if (!follow || token.empty()) break;
      request.mutable_page()->set_page_token(token);
    }
    return true;
  };
  const auto get_call = [&](int client, std::mt19937_64& rng, std::vector<CallSample>* samples,
                            std::string* error) {
    v1::GetServiceRequest request;
    request.set_id(ids[rng() % ids.size()]);
    std::string reply;
    double micros = 0;
    grpc::Status status =
        SyncCall(*callers[static_cast<size_t>(client)], "/aurora.directory.v1.Directory/GetService",
                 request.SerializeAsString(), &reply, &micros);
    if (!status.ok() || reply.empty()) {
      *error = absl::StrCat("GetService ", request.id(), ": ",
                            status.ok() ? "empty reply" : status.error_message());
      return false;
    }
    samples->push_back({static_cast<float>(micros), 0, false, 1});
    return true;
  };

  if (options.warmup > 0) {
    RunPhase(options.clients, options.warmup, 1000, list_call);
    RunPhase(options.clients, options.warmup, 2000, get_call);
  }
  const BlockCacheCounts cache_before = ReadBlockCache(**database);
  const PhaseResult list = RunPhase(options.clients, options.calls, 3000, list_call);
  const BlockCacheCounts cache_list = ReadBlockCache(**database);
  const PhaseResult get = RunPhase(options.clients, options.calls, 4000, get_call);
  const BlockCacheCounts cache_get = ReadBlockCache(**database);
  malloc_trim(0);
  const double rss_end = ProcStatusMiB("VmRSS");
  const double hwm_end = ProcStatusMiB("VmHWM");
  const size_t live = (*store)->index().size();
  std::string list_breakdown;
  if (options.breakdown) {
    list_breakdown =
        ListBreakdown(**store, **database, codes, pools, mix, std::min(options.calls, 2000));
  }
  stop_server();

  if (list.errors > 0 || get.errors > 0) {
    std::fprintf(stderr, "calls failed: %lld list, %lld get; first: %s\n",
                 static_cast<long long>(list.errors), static_cast<long long>(get.errors),
                 (list.first_error.empty() ? get.first_error : list.first_error).c_str());
    return 1;
  }

  // Report.
  const auto all = [](const CallSample&) { return true; };
  const LatencyStats list_stats = Summarise(Micros(list.samples, all));
  const LatencyStats get_stats = Summarise(Micros(get.samples, all));
  const double list_rate = static_cast<double>(list.samples.size()) / list.seconds;
  const double get_rate = static_cast<double>(get.samples.size()) / get.seconds;

  std::printf("ListServices by filter (%zu services live; latency in ms):\n", live);
  std::printf("  %-22s %7s %7s %7s %7s %7s %9s\n", "filter", "calls", "p50", "p90", "p99", "max",
              "results");
  for (int k = 0; k < kQueryKinds; ++k) {
    std::vector<CallSample> of_kind;
    for (const auto& s : list.samples) {
      if (s.kind == k) of_kind.push_back(s);
    }
    if (of_kind.empty()) continue;
    const LatencyStats stats = Summarise(Micros(of_kind, all));
    double results = 0;
    for (const auto& s : of_kind) results += s.results;
    std::printf("  %-22s %7zu %7.3f %7.3f %7.3f %7.3f %9.1f\n", kQueryNames[k], stats.count,
                stats.p50, stats.p90, stats.p99, stats.max,
                results / static_cast<double>(of_kind.size()));
  }
  {
    const LatencyStats page2 =
        Summarise(Micros(list.samples, [](const CallSample& s) { return s.page2; }));
    std::printf("  %-22s %7zu %7.3f %7.3f %7.3f %7.3f\n\n", "(page 2 calls)", page2.count,
                page2.p50, page2.p90, page2.p99, page2.max);
  }

  std::printf("%-34s %14s %16s %9s\n", "figure", "measured", "baseline", "ratio");
  std::printf("%-34s %14.0f %16.0f %9.2f   (baseline: raw RocksDB WriteBatch + sync)\n",
              "import rate (services/s)", import_rate, baseline_import_rate,
              import_rate / baseline_import_rate);
  const auto latency_row = [&](const char* name, double list_ms, double get_ms) {
    std::printf("%-34s %14.3f %16.3f %9.2f   (baseline: GetService)\n", name, list_ms, get_ms,
                list_ms / get_ms);
  };
  latency_row("list latency p50 (ms)", list_stats.p50, get_stats.p50);
  latency_row("list latency p90 (ms)", list_stats.p90, get_stats.p90);
  latency_row("list latency p99 (ms)", list_stats.p99, get_stats.p99);
  latency_row("list latency max (ms)", list_stats.max, get_stats.max);
  std::printf("%-34s %14.0f %16.0f %9.2f   (baseline: GetService)\n", "list calls/s", list_rate,
              get_rate, list_rate / get_rate);
  std::printf("RocksDB block cache, data blocks: list %s; get %s\n",
              DescribeBlockCache(cache_before, cache_list, list.samples.size()).c_str(),
              DescribeBlockCache(cache_list, cache_get, get.samples.size()).c_str());
  std::printf("%-34s %14.0f %16s\n", "RSS with client data only (MiB)", client_rss, "");
  std::printf("%-34s %14.0f %16s\n", "peak RSS after import (MiB)", hwm_after_import, "");
  std::printf("%-34s %14.0f %16s\n", "peak RSS at end (MiB)", hwm_end, "");
  std::printf("%-34s %14.0f %16s\n", "RSS at end, heap trimmed (MiB)", rss_end, "");
  if (!hwm_reset) {
    std::printf("(could not reset VmHWM after the baseline: the peak includes it)\n");
  }
  std::printf("\n");

  const auto verdict = [](bool pass) { return pass ? "PASS" : "FAIL"; };
  std::printf("import rate >= %.0f/s: %s (measured %.0f/s)\n", kTargetImportRate,
              verdict(import_rate >= kTargetImportRate), import_rate);
  std::printf("list p99 <= %.1f ms with %zu services: %s (measured %.3f ms)\n", kTargetListP99Ms,
              live, verdict(list_stats.p99 <= kTargetListP99Ms), list_stats.p99);
  std::printf("peak RSS <= %.0f MiB: %s (measured %.0f MiB)\n", kTargetPeakRssMiB,
              verdict(hwm_end <= kTargetPeakRssMiB), hwm_end);
  if (options.breakdown) {
    std::fputs(list_breakdown.c_str(), stdout);
    std::error_code ec;
    std::filesystem::remove_all(temp.path() + "/rocksdb", ec);
    return PrintImportBreakdown(temp.path() + "/breakdown", catalogue, ids.size(), options.batch);
  }
  return 0;
}

}  // namespace
}  // namespace aurora::bench

int main(int argc, char** argv) {
  aurora::bench::BenchOptions options;
  if (!aurora::bench::ParseArgs(argc, argv, &options)) return 64;
  if (options.clients == 0) {
    options.clients = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  return aurora::bench::Run(options);
}
