// recommender_bench: the recommender at scale. In this process:
//   1. index build: N synthetic services (bench/service_generator.h, fixed seed, derived from the
//      real ../shared/data/services.ndjson) fed to CatalogueIndex as the directory follower feeds
//      it (src/recommender/directory_follower.cc Apply): batches of the directory's watch batch
//      size (256), each analysed with CatalogueIndex::Prepare on every core, then inserted in
//      order with Insert. Build time (Prepare and Insert apart), RSS before and after, VmHWM;
//   2. serving: RecommenderService on a GrpcServer on 127.0.0.1:0, wired as `aurora serve` wires it
//      (TextAnalyzer, CrisisLexicon, BilingualDictionary, CatalogueIndex, Ranker, FeedbackStore
//      on RocksDB in a fresh temporary folder, RecommenderEngine with its default pool), driven
//      over real TCP channels by C concurrent closed-loop clients (the callback API: C calls kept
//      in flight over K channels) for a fixed time per phase: the baseline
//      grpc.health.v1.Health/Check, then Recommend (random meter profiles), then Search (the texts
//      of bench/quality/queries.json). Per phase: requests, errors, throughput, p50/p90/p99/max,
//      process CPU per request; the ratios to the baseline; one line per target of bench/README.md.
// --breakdown adds the parts of one call timed in-process on one thread without gRPC (validation,
// Ranker::Rank, SaveRecommendation, building and serializing the response).
// Not a test: the exit status is 0 unless the benchmark could not run or more than 1 % of the
// calls of a phase failed.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <stdlib.h>  // mkdtemp
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "aurora/recommender/v1/recommender.grpc.pb.h"
#include "bench/bench_args.h"
#include "bench/grpc_load.h"
#include "bench/process_figures.h"
#include "bench/service_generator.h"
#include "common/codelists.h"
#include "common/database.h"
#include "common/metrics.h"
#include "common/server.h"
#include "directory/catalogue_format.h"
#include "directory/validation.h"
#include "grpc/health/v1/health.pb.h"
#include "nlohmann/json.hpp"
#include "recommender/catalogue_index.h"
#include "recommender/crisis.h"
#include "recommender/engine.h"
#include "recommender/feedback_store.h"
#include "recommender/ranker.h"
#include "recommender/recommender_service.h"
#include "recommender/requests.h"
#include "recommender/text_analyzer.h"

#ifndef AURORA_DATA_DIR
#define AURORA_DATA_DIR "../shared/data"
#endif
#ifndef AURORA_BENCH_QUERIES
#define AURORA_BENCH_QUERIES "bench/quality/queries.json"
#endif

namespace aurora::bench {
namespace {

namespace dv1 = aurora::directory::v1;
namespace rv1 = aurora::recommender::v1;
namespace rec = aurora::recommender;
using Clock = std::chrono::steady_clock;

// Targets of the issue, on the 2-core reference machine.
constexpr double kTargetP99Ms = 10;             // Recommend and Search
constexpr double kTargetThroughput = 2000;      // requests/s, Recommend and Search
constexpr double kTargetPeakRssMiB = 1536;      // 1.5 GiB
constexpr double kTargetBuildSeconds = 15;      // 100,000 services
constexpr double kMaxErrorShare = 0.01;         // more fails the run (exit status 1)

constexpr char kRecommendMethod[] = "/aurora.recommender.v1.Recommender/Recommend";
constexpr char kSearchMethod[] = "/aurora.recommender.v1.Recommender/Search";
constexpr char kHealthMethod[] = "/grpc.health.v1.Health/Check";
// Home municipalities of the requests that give one: Helsinki, Oulu, Vaasa, Mikkeli, Turku.
constexpr const char* kMunicipalities[] = {"091", "564", "905", "491", "853"};
constexpr uint64_t kSeed = 20221231;
// Distinct requests per phase (drawn at random by the clients).
constexpr size_t kRequestPool = 4096;

constexpr char kUsage[] =
    "Usage: recommender_bench [--services N] [--seconds S] [--clients C] [--channels K]\n"
    "         [--warmup-seconds W] [--batch B] [--ranking-threads T] [--inline-rankings I]\n"
    "         [--data-dir DIR] [--source-dir DIR] [--queries FILE] [--rate R]\n"
    "         [--breakdown [R]]\n"
    "  --services N         synthetic services to index (default 100000)\n"
    "  --seconds S          measured seconds per phase (default 10)\n"
    "  --clients C          concurrent calls of every phase, each a closed loop (default 64)\n"
    "  --channels K         gRPC channels (one TCP connection each) the C calls are spread\n"
    "                       over (default 4)\n"
    "  --warmup-seconds W   unrecorded seconds before each measured phase (default 1)\n"
    "  --batch B            services per Prepare/Insert round of the index build (default 256,\n"
    "                       the directory's watch batch, as the follower receives them)\n"
    "  --ranking-threads T  the engine's ranking threads (default 0: one per hardware thread,\n"
    "                       as `aurora serve`)\n"
    "  --inline-rankings I  of those, how many may run on gRPC's threads (default -1: all\n"
    "                       where gRPC has a callback thread for each, else none, as\n"
    "                       `aurora serve`)\n"
    "  --data-dir DIR       where the fresh temporary folder for RocksDB is made (default: the\n"
    "                       system's temporary folder); the folder is removed at the end\n"
    "  --source-dir DIR     folder with services.ndjson and codelists/\n"
    "                       (default " AURORA_DATA_DIR
    ")\n"
    "  --queries FILE       the search texts: every non-empty \"text\" of the file's \"queries\"\n"
    "                       (default " AURORA_BENCH_QUERIES
    ")\n"
    "  --rate R             the offered load of the paced phases (default 2000 req/s; 0: none):\n"
    "                       the C clients start R calls per second together (Poisson arrivals),\n"
    "                       whatever the answers' speed; latency counts from the scheduled start\n"
    "  --breakdown [R]      also time the parts of R Recommend and R Search calls (default 1000)\n"
    "                       in-process on one thread, without gRPC (where the time goes)\n";

struct BenchOptions {
  size_t services = 100000;
  double seconds = 10;
  int clients = 64;
  int channels = 4;
  double warmup_seconds = 1;
  size_t batch = 256;
  int ranking_threads = 0;
  int inline_rankings = -1;
  int breakdown = 0;  // requests per kind; 0: no breakdown
  double rate = 2000;  // the paced phases' offered load (req/s); 0: no paced phases
  std::string data_dir;
  std::string source_dir = AURORA_DATA_DIR;
  std::string queries = AURORA_BENCH_QUERIES;
};

bool ParseArgs(int argc, char** argv, BenchOptions* options) {
  ArgReader args(argc, argv, kUsage);
  while (args.Next()) {
    if (args.option() == "--breakdown") {
      options->breakdown = 1000;
      // An optional count.
      int64_t count = 0;
      if (args.Peek() != nullptr && absl::SimpleAtoi(args.Peek(), &count)) {
        if (count < 1 || count > 1000000) {
          std::fprintf(stderr, "--breakdown: expected 1..1000000 requests, got %s\n", args.Peek());
          return false;
        }
        options->breakdown = static_cast<int>(count);
        args.Skip();
      }
      continue;
    }
    if (!args.TakeValue()) return false;
    const std::string& arg = args.option();
    if (arg == "--services") {
      if (!args.Integer(1, 10000000, &options->services)) return false;
    } else if (arg == "--seconds") {
      if (!args.Seconds(0.1, 3600, &options->seconds)) return false;
    } else if (arg == "--clients") {
      if (!args.Integer(1, 10000, &options->clients)) return false;
    } else if (arg == "--channels") {
      if (!args.Integer(1, 1024, &options->channels)) return false;
    } else if (arg == "--warmup-seconds") {
      if (!args.Seconds(0, 3600, &options->warmup_seconds)) return false;
    } else if (arg == "--rate") {
      if (!args.Integer(0, 1000000, &options->rate)) return false;
    } else if (arg == "--batch") {
      if (!args.Integer(1, 10000000, &options->batch)) return false;
    } else if (arg == "--ranking-threads") {
      if (!args.Integer(0, 256, &options->ranking_threads)) return false;
    } else if (arg == "--inline-rankings") {
      if (!args.Integer(-1, 256, &options->inline_rankings)) return false;
    } else if (arg == "--data-dir") {
      options->data_dir = args.value();
    } else if (arg == "--source-dir") {
      options->source_dir = args.value();
    } else if (arg == "--queries") {
      options->queries = args.value();
    } else {
      return args.Unknown();
    }
  }
  options->channels = std::min(options->channels, options->clients);
  return true;
}

// ------------------------------------------------------------------------------------------------
// Input: the real catalogue (as directory_bench loads it) and the search texts.

struct Catalogue {
  std::unique_ptr<CodeLists> codes;
  std::vector<dv1::Service> real;
  std::map<std::string, std::string> organization_names;  // id -> name, as the follower keeps
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
    const auto& organization = record.organization;
    if (!organization.id().empty()) {
      const auto& name = organization.name();
      out->organization_names.emplace(organization.id(), !name.fi().empty()   ? name.fi()
                                                         : !name.sv().empty() ? name.sv()
                                                                              : name.en());
    }
    out->real.push_back(std::move(record.service));
  }
  if (out->real.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(file, ": no valid services"));
  }
  return absl::OkStatus();
}

struct SearchText {
  std::string text;
  std::string language;  // "fi", "sv", "en"
};

absl::StatusOr<std::vector<SearchText>> LoadSearchTexts(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object() || !doc.contains("queries") || !doc["queries"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no \"queries\" array"));
  }
  std::vector<SearchText> out;
  for (const auto& query : doc["queries"]) {
    if (!query.is_object()) continue;
    const std::string text = query.value("text", "");
    if (text.empty()) continue;
    out.push_back({text, query.value("language", "")});
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no query texts"));
  return out;
}

// ------------------------------------------------------------------------------------------------
// Requests. The random stream is std::mt19937_64 mapped with plain modulo, so the requests are the
// same on every machine.

bool Chance(std::mt19937_64& rng, double p) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53 < p;
}

// Recommend: 1–4 of the ten meters answered 0..10 (uniform), a home municipality in half of
// them, an age (15..85) in 30 %; no text, no life events; the default limit (5) in two thirds,
// 10 in one third.
rv1::RecommendRequest MakeRecommendRequest(std::mt19937_64& rng) {
  rv1::RecommendRequest request;
  auto* meters = request.mutable_life_situation_meters();
  const auto* descriptor = meters->GetDescriptor();
  const auto* reflection = meters->GetReflection();
  std::vector<int> areas = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const size_t count = 1 + rng() % 4;
  for (size_t i = 0; i < count; ++i) {  // a partial Fisher–Yates shuffle
    std::swap(areas[i], areas[i + rng() % (areas.size() - i)]);
    reflection->AddInt32(meters, descriptor->FindFieldByNumber(areas[i] + 1),
                         static_cast<int32_t>(rng() % 11));
  }
  if (Chance(rng, 0.5)) request.set_municipality_code(kMunicipalities[rng() % 5]);
  if (Chance(rng, 0.3)) request.set_age(static_cast<int32_t>(15 + rng() % 71));
  if (Chance(rng, 1.0 / 3)) request.set_limit(10);
  return request;
}

// Search: a text of the query file; its language given in half of the requests (else the
// recogniser decides); a home municipality in half, an age in 20 %; limit as above.
rv1::SearchRequest MakeSearchRequest(std::mt19937_64& rng, const std::vector<SearchText>& texts) {
  rv1::SearchRequest request;
  const SearchText& text = texts[rng() % texts.size()];
  request.set_text(text.text);
  if (Chance(rng, 0.5)) request.set_language(text.language);
  if (Chance(rng, 0.5)) request.set_municipality_code(kMunicipalities[rng() % 5]);
  if (Chance(rng, 0.2)) request.set_age(static_cast<int32_t>(15 + rng() % 71));
  if (Chance(rng, 1.0 / 3)) request.set_limit(10);
  return request;
}

// ------------------------------------------------------------------------------------------------
// Index build, as DirectoryFollower::Apply does it for each watch message.

struct BuildFigures {
  size_t services = 0;
  double prepare_seconds = 0;  // parallel CatalogueIndex::Prepare, wall time
  double insert_seconds = 0;   // CatalogueIndex::Insert in order, wall time
  double generate_seconds = 0;
  double prepare_cpu_seconds = 0;  // process CPU during the Prepare rounds
  uint64_t fingerprint = 1469598103934665603ull;  // FNV-1a of the serialized services
  size_t batches = 0;
  double build_seconds() const { return prepare_seconds + insert_seconds; }
};

void PrepareAndInsert(rec::CatalogueIndex& index, std::vector<dv1::Service>& batch,
                      BuildFigures* figures) {
  auto start = Clock::now();
  const double cpu_start = ProcessCpuSeconds();
  std::vector<std::unique_ptr<rec::PreparedService>> prepared(batch.size());
  const size_t threads =
      batch.size() < 64 ? 1 : std::max<size_t>(1, std::thread::hardware_concurrency());
  auto work = [&](size_t from) {
    for (size_t i = from; i < batch.size(); i += threads) prepared[i] = index.Prepare(batch[i]);
  };
  std::vector<std::future<void>> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.push_back(std::async(std::launch::async, work, t));
  work(0);
  for (auto& h : helpers) h.get();
  figures->prepare_seconds += SecondsSince(start);
  figures->prepare_cpu_seconds += ProcessCpuSeconds() - cpu_start;
  start = Clock::now();
  for (auto& p : prepared) index.Insert(std::move(p));
  figures->insert_seconds += SecondsSince(start);
  figures->services += batch.size();
  ++figures->batches;
  batch.clear();
}

BuildFigures BuildIndex(const Catalogue& catalogue, size_t n, size_t batch_size,
                        rec::CatalogueIndex& index) {
  BuildFigures figures;
  for (const auto& [id, name] : catalogue.organization_names) index.SetOrganizationName(id, name);
  const auto start = Clock::now();
  double fingerprint_seconds = 0;
  std::vector<dv1::Service> batch;
  batch.reserve(std::min(batch_size, n));
  GenerateServicesStreaming(catalogue.real, *catalogue.codes, n,
                            [&](size_t, dv1::Service& service) {
                              const auto fp_start = Clock::now();
                              for (unsigned char c : service.SerializeAsString()) {
                                figures.fingerprint = (figures.fingerprint ^ c) * 1099511628211ull;
                              }
                              fingerprint_seconds += SecondsSince(fp_start);
                              batch.push_back(std::move(service));
                              if (batch.size() == batch_size) {
                                PrepareAndInsert(index, batch, &figures);
                              }
                            });
  if (!batch.empty()) PrepareAndInsert(index, batch, &figures);
  index.SetRevision(static_cast<int64_t>(n));
  index.CompactIfWorthIt();
  figures.generate_seconds =
      SecondsSince(start) - figures.build_seconds() - fingerprint_seconds;
  return figures;
}

// ------------------------------------------------------------------------------------------------
// Report

// The phases are GrpcLoad's (grpc_load.h): the closed loop, and the paced phases at --rate.
using PhaseResult = LoadResult;

// Failed calls of all the phase's calls (all of them when none completed).
double ErrorShare(const PhaseResult& r) {
  return r.calls > 0 ? static_cast<double>(r.errors) / static_cast<double>(r.calls) : 1.0;
}

void PrintHeader() { PrintPhaseHeader(22); }

void PrintRow(const PhaseResult& r) { PrintPhaseRow(r, 22, 0); }

// ------------------------------------------------------------------------------------------------
// --breakdown: the parts of a Recommend or Search call, in-process on one thread, no gRPC. Each
// part is timed in CPU time of this thread (the machine is shared: wall time would count time
// spent waiting for a core). The steps are those of RecommenderService::Recommend/Search and
// RecommenderEngine::RankAndSave, called one after the other.

struct Breakdown {
  double parse = 0, validate = 0, rank = 0, save = 0, fill = 0, serialize = 0, destroy = 0;
  double results = 0, bytes = 0, crisis = 0, more = 0;
  int calls = 0;
};

// Ranker::Rank's CPU time per kind of request (mean over the calls of that kind).
struct KindTimes {
  std::map<std::string, std::pair<double, int>> seconds_and_calls;
  void Add(const std::string& kind, double seconds) {
    auto& [total, calls] = seconds_and_calls[kind];
    total += seconds;
    ++calls;
  }
};

template <typename Request, typename Response>
absl::Status TimeCall(const std::string& bytes, const CodeLists& codes, const rec::Ranker& ranker,
                      rec::FeedbackStore& store, const char* path, Breakdown* b,
                      double* rank_seconds) {
  double t = ThreadCpuSeconds();
  const auto lap = [&](double* into) {
    const double now = ThreadCpuSeconds();
    *into += now - t;
    t = now;
  };
  auto request = std::make_unique<Request>();
  if (!request->ParseFromString(bytes)) return absl::InternalError("unparseable request");
  lap(&b->parse);
  auto rank = rec::ToRankRequest(*request, codes);
  if (!rank.ok()) return rank.status();
  lap(&b->validate);
  rec::Outcome outcome;
  outcome.result = ranker.Rank(*rank);
  const double rank_before = b->rank;
  lap(&b->rank);
  *rank_seconds = b->rank - rank_before;
  // As RecommenderEngine::RankAndSave stores it.
  rec::StoredRecommendation stored;
  stored.path = path;
  stored.session = request->session_id();
  for (const auto& ranked : outcome.result.services) {
    rec::StoredService service{ranked.service->id(), {}};
    for (const auto& channel : ranked.service->channels()) {
      service.channels.push_back(
          {channel.id(), std::vector<std::string>(channel.urls().begin(), channel.urls().end())});
    }
    stored.services.push_back(std::move(service));
  }
  auto id = store.SaveRecommendation(std::move(stored));
  if (!id.ok()) return id.status();
  outcome.recommendation_id = *id;
  lap(&b->save);
  auto response = std::make_unique<Response>();
  rec::FillResponse(outcome, *request, rank->offset, response.get());
  lap(&b->fill);
  std::string out;
  response->SerializeToString(&out);
  lap(&b->serialize);
  b->results += static_cast<double>(response->services_size());
  b->bytes += static_cast<double>(out.size());
  b->crisis += response->crisis().empty() ? 0 : 1;
  b->more += response->next_page_token().empty() ? 0 : 1;
  rec::ReturnServices(response.get());
  response.reset();
  outcome = {};
  rank = absl::InternalError("");
  request.reset();
  lap(&b->destroy);
  ++b->calls;
  return absl::OkStatus();
}

void PrintBreakdown(const char* name, const Breakdown& b) {
  const double n = std::max(1, b.calls);
  const double total =
      b.parse + b.validate + b.rank + b.save + b.fill + b.serialize + b.destroy;
  std::printf(
      "\nbreakdown of %s (%d calls on one thread, no gRPC; CPU time; %.1f services, %.1f KiB per "
      "response; %.0f %% with a next page token, %.1f %% crisis):\n",
      name, b.calls, b.results / n, b.bytes / n / 1024, 100 * b.more / n, 100 * b.crisis / n);
  for (auto [step, seconds] : {
           std::pair{"parse request", b.parse},
           std::pair{"ToRankRequest (validate)", b.validate},
           std::pair{"Ranker::Rank", b.rank},
           std::pair{"SaveRecommendation (JSON + RocksDB Put)", b.save},
           std::pair{"FillResponse (lend services, page token)", b.fill},
           std::pair{"serialize response", b.serialize},
           std::pair{"free request + response", b.destroy},
       }) {
    std::printf("  %-44s %9.1f us  %5.1f%%\n", step, seconds / n * 1e6, 100 * seconds / total);
  }
  std::printf("  %-44s %9.1f us\n", "total", total / n * 1e6);
}

void PrintKindTimes(const char* title, const KindTimes& times, size_t max_rows) {
  std::vector<std::pair<double, std::string>> rows;  // mean µs, kind
  for (const auto& [kind, total_and_calls] : times.seconds_and_calls) {
    rows.emplace_back(total_and_calls.first / total_and_calls.second * 1e6,
                      absl::StrCat(kind, " (", total_and_calls.second, " calls)"));
  }
  std::sort(rows.begin(), rows.end(), std::greater<>());
  std::printf("%s\n", title);
  for (size_t i = 0; i < rows.size() && i < max_rows; ++i) {
    std::printf("  %9.1f us  %s\n", rows[i].first, rows[i].second.c_str());
  }
}

int RunBreakdown(int calls, const std::vector<std::string>& recommend,
                 const std::vector<std::string>& search, const CodeLists& codes,
                 const rec::Ranker& ranker, rec::FeedbackStore& store) {
  Breakdown b_recommend, b_search;
  KindTimes recommend_kinds, search_kinds;
  for (int i = 0; i < calls; ++i) {
    const std::string& bytes = recommend[static_cast<size_t>(i) % recommend.size()];
    double rank_seconds = 0;
    if (auto s = TimeCall<rv1::RecommendRequest, rv1::RecommendResponse>(
            bytes, codes, ranker, store, "recommend", &b_recommend, &rank_seconds);
        !s.ok()) {
      std::fprintf(stderr, "breakdown: Recommend: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    rv1::RecommendRequest request;
    (void)request.ParseFromString(bytes);
    recommend_kinds.Add(request.municipality_code().empty() ? "no municipality"
                                                            : "with a municipality",
                        rank_seconds);
  }
  for (int i = 0; i < calls; ++i) {
    const std::string& bytes = search[static_cast<size_t>(i) % search.size()];
    double rank_seconds = 0;
    if (auto s = TimeCall<rv1::SearchRequest, rv1::SearchResponse>(
            bytes, codes, ranker, store, "search", &b_search, &rank_seconds);
        !s.ok()) {
      std::fprintf(stderr, "breakdown: Search: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    rv1::SearchRequest request;
    (void)request.ParseFromString(bytes);
    search_kinds.Add(absl::StrCat("\"", request.text(), "\""), rank_seconds);
  }
  PrintBreakdown("Recommend", b_recommend);
  PrintKindTimes("Ranker::Rank per Recommend request kind (mean CPU):", recommend_kinds, 2);
  PrintBreakdown("Search", b_search);
  PrintKindTimes("Ranker::Rank per Search text, the 8 most expensive (mean CPU):", search_kinds,
                 8);
  return 0;
}

// ------------------------------------------------------------------------------------------------
// Run

int Run(const BenchOptions& options) {
  std::printf(
      "recommender_bench: %zu services, %d concurrent calls over %d gRPC channels, %.1f s warm-up "
      "+ %.1f s measured per phase\n",
      options.services, options.clients, options.channels, options.warmup_seconds,
      options.seconds);
  const std::string load_before = LoadAverage();
  std::printf(
      "machine: %u hardware threads, shared by the load generator and the server (same "
      "process); load average %s\n",
      std::thread::hardware_concurrency(), load_before.c_str());

  // Input.
  auto phase_start = Clock::now();
  Catalogue catalogue;
  if (auto s = LoadCatalogue(options.source_dir, &catalogue); !s.ok()) {
    std::fprintf(stderr, "cannot load the real catalogue: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const CodeLists& codes = *catalogue.codes;
  std::printf("real catalogue: %zu valid services (%zu dropped), %zu organisations, %.2f s\n",
              catalogue.real.size(), catalogue.dropped, catalogue.organization_names.size(),
              SecondsSince(phase_start));
  auto texts = LoadSearchTexts(options.queries);
  if (!texts.ok()) {
    std::fprintf(stderr, "search texts: %s\n", std::string(texts.status().message()).c_str());
    return 1;
  }
  size_t per_language[3] = {0, 0, 0};
  for (const auto& t : *texts) {
    per_language[t.language == "fi" ? 0 : t.language == "sv" ? 1 : 2]++;
  }
  std::printf("search texts: %zu (fi %zu, sv %zu, en %zu) from %s\n", texts->size(),
              per_language[0], per_language[1], per_language[2], options.queries.c_str());

  // The recommender's parts, as Node::StartImpl creates them.
  phase_start = Clock::now();
  auto analyzer = rec::TextAnalyzer::Create();
  if (!analyzer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(analyzer.status().message()).c_str());
    return 1;
  }
  auto crisis = std::make_unique<rec::CrisisLexicon>(**analyzer);
  auto dictionary = rec::BilingualDictionary::Load("/usr/share/dictd", **analyzer);
  if (!dictionary.ok()) {
    std::fprintf(stderr, "%s\n", std::string(dictionary.status().message()).c_str());
    return 1;
  }
  auto index = std::make_unique<rec::CatalogueIndex>(&codes, analyzer->get(), crisis.get());
  auto ranker =
      std::make_unique<rec::Ranker>(index.get(), rec::RankingParameters{}, dictionary->get());
  std::printf("TextAnalyzer + CrisisLexicon + BilingualDictionary + Ranker created in %.2f s\n",
              SecondsSince(phase_start));
  malloc_trim(0);
  const double rss_before_build = ProcStatusMiB("VmRSS");

  // 1. Index build.
  std::printf("building the index: %zu services in batches of %zu, Prepare on %u threads...\n",
              options.services, options.batch, std::thread::hardware_concurrency());
  std::fflush(stdout);
  const double cpu_before_build = ProcessCpuSeconds();
  const auto build_start = Clock::now();
  const BuildFigures build = BuildIndex(catalogue, options.services, options.batch, *index);
  const double build_wall = SecondsSince(build_start);
  const double build_cpu = ProcessCpuSeconds() - cpu_before_build;
  std::vector<dv1::Service>().swap(catalogue.real);  // only the generator needed them
  malloc_trim(0);
  const double rss_after_build = ProcStatusMiB("VmRSS");
  const double hwm_after_build = ProcStatusMiB("VmHWM");
  const size_t indexed = index->size();
  std::printf(
      "index: %zu services (fingerprint %016llx) in %.2f s: Prepare %.2f s (%.2f cores), Insert "
      "%.2f s; generating them %.2f s more (not counted); %.1f us of Prepare CPU per service\n",
      indexed, static_cast<unsigned long long>(build.fingerprint), build.build_seconds(),
      build.prepare_seconds, build.prepare_cpu_seconds / std::max(build.prepare_seconds, 1e-9),
      build.insert_seconds, build.generate_seconds,
      build.prepare_cpu_seconds * 1e6 / static_cast<double>(std::max<size_t>(indexed, 1)));
  std::printf(
      "RSS: %.0f MiB before the build, %.0f MiB after it (heap trimmed; index %.0f MiB), peak "
      "%.0f MiB; analyzer cache %zu fi / %zu sv / %zu en words; %.1f s wall, %.1f s CPU in all\n",
      rss_before_build, rss_after_build, rss_after_build - rss_before_build, hwm_after_build,
      (*analyzer)->CachedWords(rec::Language::kFinnish),
      (*analyzer)->CachedWords(rec::Language::kSwedish),
      (*analyzer)->CachedWords(rec::Language::kEnglish), build_wall, build_cpu);
  if (indexed != options.services) {
    std::fprintf(stderr, "expected %zu services in the index, found %zu\n", options.services,
                 indexed);
    return 1;
  }

  // 2. The server, as `aurora serve` wires the recommender.
  TempDir temp(options.data_dir, "aurora-recommender-bench");
  if (temp.path().empty()) {
    std::fprintf(
        stderr, "cannot create a temporary folder in %s\n",
        options.data_dir.empty() ? "the system's temporary folder" : options.data_dir.c_str());
    return 1;
  }
  auto database = Database::Open(temp.path() + "/rocksdb", {rec::kRecommenderColumnFamily});
  if (!database.ok()) {
    std::fprintf(stderr, "%s\n", std::string(database.status().message()).c_str());
    return 1;
  }
  auto store = rec::FeedbackStore::Open(database->get());
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  rec::EngineOptions engine_options;
  engine_options.ranking_threads = options.ranking_threads;
  engine_options.inline_rankings = options.inline_rankings;
  auto engine = std::make_unique<rec::RecommenderEngine>(index.get(), ranker.get(), store->get(),
                                                         engine_options);
  auto service = std::make_unique<rec::RecommenderService>(engine.get(), &codes);
  Metrics metrics;
  GrpcServer server;
  server.AddService(service.get(), rv1::Recommender::service_full_name());
  if (auto s = server.Start("127.0.0.1:0", &metrics); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  server.SetServing(true);
  const std::string target = absl::StrCat("127.0.0.1:", server.port());
  std::printf("server: %s on %s, %d ranking threads (%d of the rankings at a time on gRPC's "
              "threads), RocksDB in %s\n",
              rv1::Recommender::service_full_name(), target.c_str(),
              options.ranking_threads > 0 ? options.ranking_threads
                                          : static_cast<int>(std::thread::hardware_concurrency()),
              rec::InlineRankings(engine_options), temp.path().c_str());
  const auto stop_server = [&] {
    server.Shutdown(absl::Seconds(5));
    engine->Shutdown();
    service.reset();
    engine.reset();
    store->reset();
    (void)(*database)->Close();
  };

  // The requests, serialized once.
  std::mt19937_64 rng(kSeed);
  std::vector<std::string> recommend_requests, search_requests, health_requests;
  for (size_t i = 0; i < kRequestPool; ++i) {
    recommend_requests.push_back(MakeRecommendRequest(rng).SerializeAsString());
    search_requests.push_back(MakeSearchRequest(rng, *texts).SerializeAsString());
  }
  {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(rv1::Recommender::service_full_name());
    health_requests.push_back(request.SerializeAsString());
  }

  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int k = 0; k < options.channels; ++k) {
    auto channel = NewChannel(target);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "channel %d cannot connect to %s\n", k, target.c_str());
      stop_server();
      return 1;
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }

  // One call of each kind first: the setup works and the answers make sense.
  {
    std::string reply;
    grpc::Status s = SyncCall(*stubs.front(), kHealthMethod, health_requests.front(), &reply);
    grpc::health::v1::HealthCheckResponse health;
    if (!s.ok() || !health.ParseFromString(reply) ||
        health.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      std::fprintf(stderr, "health check: %s\n",
                   s.ok() ? "not SERVING" : s.error_message().c_str());
      stop_server();
      return 1;
    }
    s = SyncCall(*stubs.front(), kRecommendMethod, recommend_requests.front(), &reply);
    rv1::RecommendResponse recommended;
    if (!s.ok() || !recommended.ParseFromString(reply) || recommended.services_size() == 0) {
      std::fprintf(stderr, "Recommend: %s\n",
                   s.ok() ? "no services recommended" : s.error_message().c_str());
      stop_server();
      return 1;
    }
    s = SyncCall(*stubs.front(), kSearchMethod, search_requests.front(), &reply);
    rv1::SearchResponse found;
    if (!s.ok() || !found.ParseFromString(reply)) {
      std::fprintf(stderr, "Search: %s\n", s.error_message().c_str());
      stop_server();
      return 1;
    }
  }

  std::printf(
      "\nphases: %d concurrent calls each; latency in ms; CPU us/r = CPU time of the whole process "
      "(load generator and server) per request; cores = CPU seconds per second of the phase (at "
      "most %u)\n",
      options.clients, std::thread::hardware_concurrency());
  PrintHeader();
  const auto phase = [&](const std::string& name, const char* method,
                         const std::vector<std::string>& requests, double rate = 0) {
    GrpcLoad load(stubs, options.clients, method, AnyOf(requests), kSeed, rate);
    PhaseResult result = load.Run(name, options.warmup_seconds, options.seconds);
    PrintRow(result);
    std::fflush(stdout);
    return result;
  };
  const PhaseResult health = phase("baseline Health/Check", kHealthMethod, health_requests);
  const PhaseResult recommend = phase("Recommend", kRecommendMethod, recommend_requests);
  const PhaseResult search = phase("Search", kSearchMethod, search_requests);
  // Latency at the target throughput: an open loop at --rate.
  std::optional<PhaseResult> recommend_paced, search_paced;
  if (options.rate > 0) {
    const std::string at = absl::StrFormat(" at %.0f/s", options.rate);
    recommend_paced = phase("Recommend" + at, kRecommendMethod, recommend_requests, options.rate);
    search_paced = phase("Search" + at, kSearchMethod, search_requests, options.rate);
  }
  const double hwm_end = ProcStatusMiB("VmHWM");
  const double rss_end = ProcStatusMiB("VmRSS");
  const std::string load_after = LoadAverage();
  uint64_t stored_estimate = 0;
  (*database)->db()->GetIntProperty((*database)->family(rec::kRecommenderColumnFamily),
                                    "rocksdb.estimate-num-keys", &stored_estimate);

  int breakdown_status = 0;
  if (options.breakdown > 0) {
    breakdown_status = RunBreakdown(options.breakdown, recommend_requests, search_requests, codes,
                                    *ranker, **store);
  }
  stop_server();
  if (breakdown_status != 0) return breakdown_status;

  std::vector<const PhaseResult*> all_phases = {&health, &recommend, &search};
  if (recommend_paced) all_phases.push_back(&*recommend_paced);
  if (search_paced) all_phases.push_back(&*search_paced);
  for (const PhaseResult* r : all_phases) {
    if (r->errors == 0) continue;
    std::string codes_seen;
    for (const auto& [code, count] : r->error_codes) {
      absl::StrAppend(&codes_seen, codes_seen.empty() ? "" : ", ", count, " x ",
                      code < 0 ? "empty reply" : absl::StrCat("code ", code));
    }
    std::printf("errors of %s: %lld of %lld calls (%s); first: %s\n", r->name.c_str(),
                static_cast<long long>(r->errors), static_cast<long long>(r->calls),
                codes_seen.c_str(), r->first_error.c_str());
  }

  const PhaseFigures base = Figures(health), rf = Figures(recommend), sf = Figures(search);
  std::printf("\n%-34s %10s %10s %10s %10s %10s\n", "figure", "Recommend", "Search", "baseline",
              "Rec/base", "Search/base");
  const auto row = [&](const char* name, double r, double s, double b, int decimals) {
    std::printf("%-34s %10.*f %10.*f %10.*f %10.2f %10.2f\n", name, decimals, r, decimals, s,
                decimals, b, r / b, s / b);
  };
  row("throughput (req/s)", rf.rate, sf.rate, base.rate, 0);
  row("latency p50 (ms)", rf.latency.p50, sf.latency.p50, base.latency.p50, 3);
  row("latency p90 (ms)", rf.latency.p90, sf.latency.p90, base.latency.p90, 3);
  row("latency p99 (ms)", rf.latency.p99, sf.latency.p99, base.latency.p99, 3);
  row("latency max (ms)", rf.latency.max, sf.latency.max, base.latency.max, 3);
  row("process CPU per request (us)", rf.cpu_us, sf.cpu_us, base.cpu_us, 0);
  row("response bytes", rf.mean_bytes, sf.mean_bytes, base.mean_bytes, 0);
  std::printf("(baseline: grpc.health.v1.Health/Check on the same server, same concurrency)\n");
  std::printf("%-34s %10.2f s (Prepare %.2f s + Insert %.2f s), %zu services\n",
              "index build", build.build_seconds(), build.prepare_seconds, build.insert_seconds,
              indexed);
  std::printf("%-34s %10.0f MiB (before the build %.0f MiB)\n", "RSS after the build",
              rss_after_build, rss_before_build);
  std::printf("%-34s %10.0f MiB\n", "peak RSS after the build (VmHWM)", hwm_after_build);
  std::printf("%-34s %10.0f MiB (RSS %.0f MiB; ~%llu recommendations stored)\n",
              "peak RSS at the end (VmHWM)", hwm_end, rss_end,
              static_cast<unsigned long long>(stored_estimate));
  std::printf("load average before / after: %s / %s\n\n", load_before.c_str(),
              load_after.c_str());

  const auto verdict = [](bool pass) { return pass ? "PASS" : "FAIL"; };
  for (const auto& [name, f] : {std::pair{"Recommend", rf}, std::pair{"Search", sf}}) {
    std::printf("%s p99 <= %.0f ms: %s (measured %.2f ms; %.1fx the baseline's)\n", name,
                kTargetP99Ms, verdict(f.latency.p99 <= kTargetP99Ms), f.latency.p99,
                f.latency.p99 / base.latency.p99);
    std::printf("%s >= %.0f req/s: %s (measured %.0f req/s; %.2fx the baseline's)\n", name,
                kTargetThroughput, verdict(f.rate >= kTargetThroughput), f.rate,
                f.rate / base.rate);
  }
  if (recommend_paced && search_paced) {
    for (const auto& [name, f] : {std::pair{"Recommend", Figures(*recommend_paced)},
                                  std::pair{"Search", Figures(*search_paced)}}) {
      const bool kept_up = f.rate >= 0.98 * options.rate;
      std::printf("%s p99 <= %.0f ms at %.0f req/s offered: %s (measured p99 %.2f ms, p50 %.2f ms, "
                  "%.0f req/s answered%s)\n",
                  name, kTargetP99Ms, options.rate,
                  verdict(kept_up && f.latency.p99 <= kTargetP99Ms), f.latency.p99, f.latency.p50,
                  f.rate, kept_up ? "" : ": the server did not keep up");
    }
  }
  std::printf("peak RSS <= %.0f MiB: %s (measured %.0f MiB)\n", kTargetPeakRssMiB,
              verdict(hwm_end <= kTargetPeakRssMiB), hwm_end);
  std::printf("index build <= %.0f s for %zu services: %s (measured %.2f s)\n",
              kTargetBuildSeconds, indexed, verdict(build.build_seconds() <= kTargetBuildSeconds),
              build.build_seconds());
  std::printf(
      "recommender_bench: services=%zu build_s=%.2f rss_mib=%.0f peak_mib=%.0f recommend_rps=%.0f "
      "recommend_p99_ms=%.2f search_rps=%.0f search_p99_ms=%.2f health_rps=%.0f "
      "health_p99_ms=%.2f\n",
      indexed, build.build_seconds(), rss_after_build, hwm_end, rf.rate, rf.latency.p99, sf.rate,
      sf.latency.p99, base.rate, base.latency.p99);

  bool too_many_errors = false;
  for (const PhaseResult* r : all_phases) {
    too_many_errors |= ErrorShare(*r) > kMaxErrorShare;
  }
  if (too_many_errors) {
    std::fprintf(stderr, "more than %.0f %% of the calls of a phase failed\n",
                 100 * kMaxErrorShare);
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
