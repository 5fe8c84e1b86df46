// gateway_bench: the HTTP/JSON gateway's overhead against native gRPC for the same read call.
// Starts DirectoryStore + DirectoryService + GrpcServer in this process on 127.0.0.1:0 (RocksDB in
// a fresh temporary folder), imports the real catalogue (or N synthetic services), and starts a
// Gateway in the same process whose upstream is the server's in-process channel, as `aurora serve`
// wires them. Then, in the same run and at the same concurrency, it measures
//   (a) native gRPC: GetService by id over real TCP gRPC channels, C calls kept in flight by
//       callbacks (grpc::GenericStub) spread over a few channels (one TCP connection each);
//   (b) HTTP/JSON through the gateway: GET /v1/services/{id} from C keep-alive TCP connections,
//       each with one request at a time (closed loop), driven by one Boost.Asio thread;
//   (c) the HTTP ceiling: GET /healthz from the same generator (the gateway's HTTP server and
//       per-request bookkeeping without routing, transcoding or an upstream call);
// optionally also a filtered ListServices (GET /v1/services?area.municipality_codes=091&...) as
// (a) and (b). Each phase: a warm-up, then a measured window: requests, throughput, p50/p99/p99.9,
// errors, process CPU per request; then the ratios gateway/native (throughput, latency, requests
// per CPU-second) and gateway/ceiling, peak RSS, and one line per target of bench/README.md.
// Client and server share the machine's cores. --breakdown adds the gateway's own steps timed
// in-process on one thread. Not a test: the exit status is 0 unless the benchmark could not run.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>  // mkdtemp
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
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
#include "directory/catalogue_format.h"
#include "directory/directory_service.h"
#include "directory/store.h"
#include "directory/validation.h"
#include "gateway/gateway.h"
#include "gateway/route_table.h"
#include "gateway/transcoder.h"

#ifndef AURORA_DATA_DIR
#define AURORA_DATA_DIR "../shared/data"
#endif

namespace aurora::bench {
namespace {

namespace v1 = aurora::directory::v1;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

// Targets of the issue, on the 2-core reference machine.
constexpr double kTargetThroughputRatio = 0.7;  // gateway / native gRPC, same call
constexpr double kTargetP99Ratio = 2.0;         // gateway / native gRPC, same call

constexpr char kGetMethod[] = "/aurora.directory.v1.Directory/GetService";
constexpr char kListMethod[] = "/aurora.directory.v1.Directory/ListServices";
// The list scenario's filter: Helsinki's services (and the nationwide ones), 20 per page.
constexpr char kListMunicipality[] = "091";
constexpr int kListPageSize = 20;
constexpr uint64_t kSeed = 20221231;
// Requests per step of --breakdown.
constexpr int kBreakdownRequests = 2000;

constexpr char kUsage[] =
    "Usage: gateway_bench [--connections C] [--seconds S] [--warmup-seconds W] [--channels K]\n"
    "         [--scenario get|list|both] [--rounds R] [--http-threads T] [--services N]\n"
    "         [--data-dir DIR] [--source-dir DIR] [--breakdown]\n"
    "  --connections C     concurrency of every phase (default 256): C keep-alive HTTP\n"
    "                      connections, one request at a time each; for native gRPC, C calls\n"
    "                      kept in flight over K channels (gRPC multiplexes calls on one\n"
    "                      connection)\n"
    "  --seconds S         measured seconds per phase (default 5)\n"
    "  --warmup-seconds W  unrecorded seconds before each measured phase (default 1)\n"
    "  --channels K        gRPC channels (TCP connections) of the native phases (default 8)\n"
    "  --scenario X        get: GetService by id; list: ListServices filtered by municipality\n"
    "                      091, 20 per page; both (default)\n"
    "  --rounds R          repeat the phases R times, alternating native and gateway; the\n"
    "                      figures and ratios pool every round (default 1)\n"
    "  --http-threads T    the gateway's HTTP I/O threads (default 2, as `aurora serve`)\n"
    "  --services N        import N synthetic services (bench/service_generator.h) instead of\n"
    "                      the real catalogue as it is (default 0: the real services)\n"
    "  --data-dir DIR      where the fresh temporary folder for RocksDB is made (default: the\n"
    "                      system's temporary folder); the folder is removed at the end\n"
    "  --source-dir DIR    folder with services.ndjson and codelists/\n"
    "                      (default " AURORA_DATA_DIR
    ")\n"
    "  --breakdown         also time the gateway's own steps for one request in-process on one\n"
    "                      thread, and one unary call at a time over the in-process channel vs\n"
    "                      TCP (where the time goes)\n";

struct BenchOptions {
  int connections = 256;
  double seconds = 5;
  double warmup_seconds = 1;
  int channels = 8;
  bool get = true;
  bool list = true;
  int rounds = 1;
  int http_threads = 2;
  size_t services = 0;
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
    const std::string& value = args.value();
    if (arg == "--connections") {
      if (!args.Integer(1, 20000, &options->connections)) return false;
    } else if (arg == "--seconds") {
      if (!args.Seconds(0.1, 3600, &options->seconds)) return false;
    } else if (arg == "--warmup-seconds") {
      if (!args.Seconds(0, 3600, &options->warmup_seconds)) return false;
    } else if (arg == "--channels") {
      if (!args.Integer(1, 1024, &options->channels)) return false;
    } else if (arg == "--scenario") {
      if (value != "get" && value != "list" && value != "both") {
        std::fprintf(stderr, "--scenario: expected get, list or both, got \"%s\"\n", value.c_str());
        return false;
      }
      options->get = value != "list";
      options->list = value != "get";
    } else if (arg == "--rounds") {
      if (!args.Integer(1, 1000, &options->rounds)) return false;
    } else if (arg == "--http-threads") {
      if (!args.Integer(1, 64, &options->http_threads)) return false;
    } else if (arg == "--services") {
      if (!args.Integer(0, 10000000, &options->services)) return false;
    } else if (arg == "--data-dir") {
      options->data_dir = value;
    } else if (arg == "--source-dir") {
      options->source_dir = value;
    } else {
      return args.Unknown();
    }
  }
  options->channels = std::min(options->channels, options->connections);
  return true;
}

// ------------------------------------------------------------------------------------------------
// Input: the real catalogue and its organisations (as directory_bench loads them).

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

// ------------------------------------------------------------------------------------------------
// Phases

// A phase: what the load generator saw (grpc_load.h), and for the HTTP phases the CPU of the
// generator's own thread.
struct PhaseResult : LoadResult {
  double client_cpu = -1;  // CPU seconds of the load generator's thread (HTTP phases), or -1

  PhaseResult() = default;
  explicit PhaseResult(LoadResult load) : LoadResult(std::move(load)) {}

  // Pools another round of the same phase.
  void Merge(const PhaseResult& other) {
    micros.insert(micros.end(), other.micros.begin(), other.micros.end());
    seconds += other.seconds;
    calls += other.calls;
    errors += other.errors;
    for (const auto& [code, count] : other.error_codes) error_codes[code] += count;
    if (first_error.empty()) first_error = other.first_error;
    response_bytes += other.response_bytes;
    process_cpu += other.process_cpu;
    if (other.client_cpu >= 0) client_cpu = std::max(0.0, client_cpu) + other.client_cpu;
  }
};

// Measures the CPU of the process and of the load generator's thread over the window from the
// calling thread (which only sleeps).
void SampleCpuOverWindow(const LoadWindow& window, pthread_t client_thread, PhaseResult* result) {
  std::this_thread::sleep_until(window.measure_start);
  const double process_start = ProcessCpuSeconds();
  const double client_start = ThreadCpuSeconds(client_thread);
  std::this_thread::sleep_until(window.measure_end);
  result->process_cpu = ProcessCpuSeconds() - process_start;
  result->client_cpu = ThreadCpuSeconds(client_thread) - client_start;
}

// (a) Native gRPC is GrpcLoad (grpc_load.h): C calls kept in flight over K channels, the reply
// checked for being non-empty, not decoded (the HTTP generator does not decode JSON either).

// (b), (c) HTTP/1.1: C keep-alive connections, each sending one request at a time (closed loop),
// on one io_context run by one thread, like wrk. Requests are prebuilt bytes; a response is
// parsed only as far as needed: the status code, Content-Length or the end of a chunked body,
// Connection: close. A non-200 response or a connection failure is an error (the connection is
// then opened again).
class HttpLoad {
 public:
  HttpLoad(int port, int connections, const std::vector<std::string>* requests)
      : endpoint_(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
        requests_(requests),
        guard_timer_(io_) {
    for (int i = 0; i < connections; ++i) {
      auto connection = std::make_unique<Connection>(io_);
      connection->rng.seed(kSeed + static_cast<uint64_t>(i));
      connections_.push_back(std::move(connection));
    }
  }

  PhaseResult Run(const std::string& name, double warmup_seconds, double seconds) {
    window_ = LoadWindow::After(warmup_seconds, seconds);
    active_ = static_cast<int>(connections_.size());
    for (auto& connection : connections_) Connect(*connection);
    // Connections still waiting for a response 30 s after the end are cut (and counted).
    guard_timer_.expires_at(window_.measure_end + std::chrono::seconds(30));
    guard_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      for (auto& connection : connections_) {
        if (connection->finished) continue;
        Error(*connection, "no response 30 s after the end of the phase");
        Finish(*connection);
      }
    });
    std::thread thread([this] { io_.run(); });
    PhaseResult result;
    result.name = name;
    SampleCpuOverWindow(window_, thread.native_handle(), &result);
    thread.join();
    result.seconds = window_.seconds();
    for (auto& connection : connections_) {
      result.micros.insert(result.micros.end(), connection->micros.begin(),
                           connection->micros.end());
      result.errors += connection->errors;
      result.response_bytes += connection->response_bytes;
      if (result.first_error.empty()) result.first_error = connection->first_error;
    }
    return result;
  }

 private:
  struct Connection {
    explicit Connection(asio::io_context& io) : socket(io), retry(io) {}
    tcp::socket socket;
    asio::steady_timer retry;
    std::mt19937_64 rng;
    std::vector<char> buffer = std::vector<char>(16 << 10);
    size_t filled = 0;
    Clock::time_point sent;
    bool finished = false;
    std::vector<float> micros;
    int64_t errors = 0;
    double response_bytes = 0;
    std::string first_error;
  };

  void Connect(Connection& c) {
    c.socket.async_connect(endpoint_, [this, &c](const boost::system::error_code& ec) {
      if (c.finished) return;
      if (ec) {
        Error(c, absl::StrCat("connect: ", ec.message()));
        Reconnect(c);
        return;
      }
      boost::system::error_code ignored;
      c.socket.set_option(tcp::no_delay(true), ignored);
      c.filled = 0;
      SendNext(c);
    });
  }

  void Reconnect(Connection& c) {
    boost::system::error_code ignored;
    c.socket.close(ignored);
    if (Clock::now() >= window_.measure_end) {
      Finish(c);
      return;
    }
    c.retry.expires_after(std::chrono::milliseconds(10));
    c.retry.async_wait([this, &c](const boost::system::error_code&) {
      if (!c.finished) Connect(c);
    });
  }

  void SendNext(Connection& c) {
    const auto now = Clock::now();
    if (now >= window_.measure_end) {
      Finish(c);
      return;
    }
    const std::string& request = (*requests_)[c.rng() % requests_->size()];
    c.sent = now;
    asio::async_write(c.socket, asio::buffer(request),
                      [this, &c](const boost::system::error_code& ec, size_t) {
                        if (c.finished) return;
                        if (ec) {
                          Error(c, absl::StrCat("write: ", ec.message()));
                          Reconnect(c);
                          return;
                        }
                        ReadResponse(c);
                      });
  }

  // Parses what is buffered; reads more until one whole response is there.
  void ReadResponse(Connection& c) {
    size_t total = 0;
    int status = 0;
    bool close = false;
    size_t body = 0;
    if (ParseResponse(std::string_view(c.buffer.data(), c.filled), &total, &status, &close,
                      &body)) {
      Completed(c, total, status, close, body);
      return;
    }
    if (total > c.buffer.size()) c.buffer.resize(total);  // Content-Length known: room for it
    if (c.filled == c.buffer.size()) c.buffer.resize(c.buffer.size() * 2);
    c.socket.async_read_some(
        asio::buffer(c.buffer.data() + c.filled, c.buffer.size() - c.filled),
        [this, &c](const boost::system::error_code& ec, size_t n) {
          if (c.finished) return;
          if (ec) {
            Error(c, absl::StrCat("read: ", ec == asio::error::eof ? "connection closed by the "
                                                                     "server"
                                                                   : ec.message()));
            Reconnect(c);
            return;
          }
          c.filled += n;
          ReadResponse(c);
        });
  }

  // True when `in` starts with a whole response; `total` is its length. When false, `total` is
  // the whole length if already known (Content-Length), else 0.
  static bool ParseResponse(std::string_view in, size_t* total, int* status, bool* close,
                            size_t* body_bytes) {
    *total = 0;
    const size_t header_end = in.find("\r\n\r\n");
    if (header_end == std::string_view::npos) return false;
    const std::string_view head = in.substr(0, header_end + 2);
    // "HTTP/1.1 200 OK"
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") {
      *status = -1;
      *total = header_end + 4;
      return true;
    }
    *status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
    size_t content_length = 0;
    bool has_length = false, chunked = false;
    *close = false;
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      const size_t eol = head.find("\r\n", pos);
      const std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view field = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      const auto is = [&](std::string_view name) {
        return field.size() == name.size() &&
               std::equal(field.begin(), field.end(), name.begin(), [](char a, char b) {
                 return (a | 0x20) == b;  // `name` is lowercase letters and '-'
               });
      };
      if (is("content-length")) {
        has_length = absl::SimpleAtoi(std::string(value), &content_length);
      } else if (is("transfer-encoding")) {
        chunked = value.find("chunked") != std::string_view::npos;
      } else if (is("connection")) {
        *close = value.find("close") != std::string_view::npos;
      }
    }
    const size_t body_start = header_end + 4;
    if (!chunked) {
      if (!has_length) content_length = 0;  // no body (the gateway always sends a length)
      *total = body_start + content_length;
      *body_bytes = content_length;
      return in.size() >= *total;
    }
    // Chunked: size line, data, CRLF ... "0" CRLF, then (no trailers expected) CRLF.
    size_t at = body_start;
    *body_bytes = 0;
    for (;;) {
      const size_t eol = in.find("\r\n", at);
      if (eol == std::string_view::npos) return false;
      size_t size = 0;
      for (size_t i = at; i < eol; ++i) {
        const char ch = in[i];
        int digit = -1;
        if (ch >= '0' && ch <= '9') digit = ch - '0';
        if (ch >= 'a' && ch <= 'f') digit = ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F') digit = ch - 'A' + 10;
        if (digit < 0) break;  // chunk extensions
        size = size * 16 + static_cast<size_t>(digit);
      }
      if (size == 0) {
        const size_t end = in.find("\r\n\r\n", eol);  // no trailers expected
        if (end == std::string_view::npos) return false;
        *total = end + 4;
        return true;
      }
      at = eol + 2 + size + 2;
      *body_bytes += size;
      if (at > in.size()) return false;
    }
  }

  void Completed(Connection& c, size_t total, int status, bool close, size_t body) {
    const auto now = Clock::now();
    if (status != 200) {
      if (c.errors++ == 0) {
        c.first_error = absl::StrCat("HTTP ", status, ": ",
                                     std::string(c.buffer.data(), std::min<size_t>(total, 400)));
      }
    } else if (window_.Measures(now)) {
      c.micros.push_back(
          static_cast<float>(std::chrono::duration<double, std::micro>(now - c.sent).count()));
      c.response_bytes += static_cast<double>(body);
    }
    // Keep any bytes past this response (there should be none: one request at a time).
    std::memmove(c.buffer.data(), c.buffer.data() + total, c.filled - total);
    c.filled -= total;
    if (close) {
      Reconnect(c);
      return;
    }
    SendNext(c);
  }

  void Error(Connection& c, std::string message) {
    if (c.errors++ == 0) c.first_error = std::move(message);
  }

  void Finish(Connection& c) {
    if (c.finished) return;
    c.finished = true;
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.retry.cancel();
    if (--active_ == 0) guard_timer_.cancel();
  }

  asio::io_context io_{1};
  tcp::endpoint endpoint_;
  const std::vector<std::string>* requests_;
  std::vector<std::unique_ptr<Connection>> connections_;
  asio::steady_timer guard_timer_;
  LoadWindow window_;
  int active_ = 0;  // touched only on the io_context's thread
};

// ------------------------------------------------------------------------------------------------
// Report

void PrintHeader() {
  std::printf("  %-34s %9s %9s %8s %8s %8s %8s %7s %9s %6s %8s\n", "phase", "requests", "req/s",
              "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "CPU us/r", "cores", "bytes/r");
}

void PrintRow(const PhaseResult& r) {
  const PhaseFigures f = Figures(r);
  std::string cpu = absl::StrFormat("%.0f", f.cpu_us);
  if (r.client_cpu >= 0) {
    const double client_cpu_us =
        r.client_cpu / static_cast<double>(std::max<size_t>(r.micros.size(), 1)) * 1e6;
    cpu = absl::StrFormat("%.0f(%.0f)", f.cpu_us, client_cpu_us);
  }
  std::printf("  %-34s %9zu %9.0f %8.3f %8.3f %8.3f %8.3f %7lld %9s %6.2f %8.0f\n", r.name.c_str(),
              f.latency.count, f.rate, f.latency.p50, f.latency.p99, f.latency.p999, f.latency.max,
              static_cast<long long>(r.errors), cpu.c_str(), r.process_cpu / r.seconds,
              f.mean_bytes);
}

// ------------------------------------------------------------------------------------------------
// --breakdown: the gateway's own steps, timed in-process on one thread.

int PrintBreakdown(const std::vector<std::string>& ids, const std::vector<std::string>& grpc_get,
                   const std::string& grpc_list, const std::string& http_list_path,
                   grpc::GenericStub& tcp, grpc::GenericStub& in_process) {
  auto contracts = gateway::ContractSet::BuiltIn();
  if (!contracts.ok()) {
    std::fprintf(stderr, "breakdown: %s\n", std::string(contracts.status().message()).c_str());
    return 1;
  }
  auto routes = gateway::RouteTable::Build((*contracts)->services());
  if (!routes.ok()) {
    std::fprintf(stderr, "breakdown: %s\n", std::string(routes.status().message()).c_str());
    return 1;
  }
  const gateway::Transcoder transcoder(contracts->get());
  const int n = kBreakdownRequests;
  std::mt19937_64 rng(kSeed);
  std::vector<size_t> picks;
  std::vector<std::string> replies(n), paths;
  for (int i = 0; i < n; ++i) {
    picks.push_back(rng() % ids.size());
    paths.push_back(absl::StrCat("/v1/services/", ids[picks.back()]));
    if (grpc::Status s = SyncCall(tcp, kGetMethod, grpc_get[picks.back()], &replies[i]); !s.ok()) {
      std::fprintf(stderr, "breakdown: GetService: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  // Each step runs over all n inputs in its own loop; the figure is the smallest of 5 repetitions
  // of the loop, in CPU time of this thread (the machine is shared: wall time would count time
  // spent waiting for a core).
  const auto cpu_per_item = [&](auto&& step, int count = kBreakdownRequests) {
    double best = 1e9;
    for (int repetition = 0; repetition < 5; ++repetition) {
      const double start = ThreadCpuSeconds(pthread_self());
      for (int i = 0; i < count; ++i) step(static_cast<size_t>(i));
      best = std::min(best, ThreadCpuSeconds(pthread_self()) - start);
    }
    return best * 1e6 / count;
  };
  std::vector<gateway::RouteTable::Lookup> lookups(n);
  for (int i = 0; i < n; ++i) {
    lookups[i] = routes->Find("GET", paths[i]);
    if (lookups[i].route == nullptr) {
      std::fprintf(stderr, "breakdown: no route for GET %s\n", paths[i].c_str());
      return 1;
    }
  }
  size_t proto_bytes = 0, json_bytes = 0, failures = 0;
  for (int i = 0; i < n; ++i) {
    gateway::HttpBody body;
    if (!transcoder.RenderResponse(*lookups[i].route, replies[i], &body).ok()) ++failures;
    proto_bytes += replies[i].size();
    json_bytes += body.data.size();
  }
  size_t sink = 0;  // keeps the results alive
  const double find =
      cpu_per_item([&](size_t i) { sink += routes->Find("GET", paths[i]).bindings.size(); });
  const double build = cpu_per_item([&](size_t i) {
    std::vector<std::string> messages;
    if (!transcoder.BuildRequests(*lookups[i].route, lookups[i].bindings, "", "", "", &messages)
             .ok()) {
      ++failures;
    }
    sink += messages.size();
  });
  const double uuid = cpu_per_item([&](size_t) { sink += NewRandomUuid().size(); });
  const double parse = cpu_per_item([&](size_t i) {
    v1::Service service;
    if (!service.ParseFromString(replies[i])) ++failures;
  });
  const double render = cpu_per_item([&](size_t i) {
    gateway::HttpBody body;
    if (!transcoder.RenderResponse(*lookups[i].route, replies[i], &body).ok()) ++failures;
    sink += body.data.size();
  });
  if (failures > 0) {
    std::fprintf(stderr, "breakdown: %zu transcoding failures\n", failures);
    return 1;
  }
  std::printf(
      "\nbreakdown of the gateway's own steps for GET /v1/services/{id} (one thread, no HTTP, no "
      "gRPC; CPU time, best of 5 x %d requests; %.0f bytes of protobuf -> %.0f bytes of JSON):\n",
      n, static_cast<double>(proto_bytes) / n, static_cast<double>(json_bytes) / n);
  std::printf("  %-52s %7.1f us\n", "route lookup (RouteTable::Find)", find);
  std::printf("  %-52s %7.1f us\n", "upstream request (Transcoder::BuildRequests)", build);
  std::printf("  %-52s %7.1f us\n", "X-Request-Id (NewRandomUuid)", uuid);
  std::printf("  %-52s %7.1f us\n", "Transcoder::RenderResponse (parse + print JSON)", render);
  std::printf("  %-52s %7.1f us\n", "  of which parsing the Service (timed apart)", parse);
  if (sink == 0) std::printf("\n");
  const double per = 1e6 / n;

  // One call at a time: the in-process channel the gateway uses vs a TCP channel.
  const auto round_trips = [&](grpc::GenericStub& stub, const char* name) {
    std::vector<float> micros;
    const double cpu_start = ProcessCpuSeconds();
    for (int i = 0; i < n; ++i) {
      const auto start = Clock::now();
      std::string reply;
      (void)SyncCall(stub, kGetMethod, grpc_get[picks[static_cast<size_t>(i)]], &reply);
      micros.push_back(static_cast<float>(
          std::chrono::duration<double, std::micro>(Clock::now() - start).count()));
    }
    const double cpu = ProcessCpuSeconds() - cpu_start;
    const LatencyStats stats = Summarise(micros);
    std::printf("  %-52s p50 %7.1f us  p99 %7.1f us  process CPU %6.1f us/call\n", name,
                stats.p50 * 1000, stats.p99 * 1000, cpu * per);
  };
  std::printf("unary GetService, one call at a time (%d calls; CPU of client and server):\n", n);
  round_trips(in_process, "in-process channel (the gateway's upstream)");
  round_trips(tcp, "TCP channel (the native client)");

  std::string page;
  if (grpc::Status s = SyncCall(tcp, kListMethod, grpc_list, &page); !s.ok()) {
    std::fprintf(stderr, "breakdown: ListServices: %s\n", s.error_message().c_str());
    return 1;
  }
  gateway::RouteTable::Lookup list_route = routes->Find("GET", http_list_path);
  if (list_route.route == nullptr) {
    std::fprintf(stderr, "breakdown: no route for GET %s\n", http_list_path.c_str());
    return 1;
  }
  size_t list_json = 0;
  const double list_parse = cpu_per_item(
      [&](size_t) {
        v1::ListServicesResponse response;
        if (!response.ParseFromString(page)) ++failures;
      },
      200);
  const double list_render = cpu_per_item(
      [&](size_t) {
        gateway::HttpBody body;
        if (!transcoder.RenderResponse(*list_route.route, page, &body).ok()) ++failures;
        list_json = body.data.size();
      },
      200);
  std::printf(
      "ListServices page (%.1f KiB of protobuf -> %.1f KiB of JSON): RenderResponse %.1f us, of "
      "which parsing %.1f us (CPU time, best of 5 x 200)\n",
      static_cast<double>(page.size()) / 1024, static_cast<double>(list_json) / 1024, list_render,
      list_parse);
  return 0;
}

// ------------------------------------------------------------------------------------------------
// Run

int Run(const BenchOptions& options) {
  std::printf(
      "gateway_bench: %d connections, %d gRPC channels, %.1f s warm-up + %.1f s measured per "
      "phase, %d round(s), gateway HTTP threads %d\n",
      options.connections, options.channels, options.warmup_seconds, options.seconds,
      options.rounds, options.http_threads);
  const std::string load_before = LoadAverage();
  std::printf(
      "machine: %u hardware threads, shared by the load generators and the node (same process); "
      "load average %s\n",
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
              catalogue.real.size(), catalogue.dropped, catalogue.organizations.size(),
              SecondsSince(phase_start));
  std::vector<v1::Service> services;
  if (options.services > 0) {
    services = GenerateServices(catalogue.real, codes, options.services);
    std::printf("generated %zu synthetic services\n", services.size());
  } else {
    services = std::move(catalogue.real);
  }

  TempDir temp(options.data_dir, "aurora-gateway-bench");
  if (temp.path().empty()) {
    std::fprintf(
        stderr, "cannot create a temporary folder in %s\n",
        options.data_dir.empty() ? "the system's temporary folder" : options.data_dir.c_str());
    return 1;
  }

  // The node, as `aurora serve` wires it: directory service on the gRPC server, the gateway on
  // the server's in-process channel, both exporting to the same metrics registry.
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
  gateway::GatewayOptions gateway_options;
  gateway_options.http.io_threads = options.http_threads;
  auto gateway = gateway::Gateway::Create(gateway_options, server.InProcessChannel(),
                                          metrics.shared_registry());
  if (!gateway.ok()) {
    std::fprintf(stderr, "gateway: %s\n", std::string(gateway.status().message()).c_str());
    return 1;
  }
  if (auto s = (*gateway)->Start("127.0.0.1:0"); !s.ok()) {
    std::fprintf(stderr, "gateway: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  server.SetServing(true);
  const std::string target = absl::StrCat("127.0.0.1:", server.port());
  const int http_port = (*gateway)->port();
  std::printf("node: gRPC on %s, gateway on 127.0.0.1:%d, data folder %s\n", target.c_str(),
              http_port, temp.path().c_str());
  const auto stop_node = [&] {
    (*gateway)->Shutdown(absl::Seconds(5));
    service->Shutdown();
    server.Shutdown(absl::Seconds(5));
    gateway->reset();
    service.reset();
    store->reset();
    (void)(*database)->Close();
  };

  // Organisations, then the services through ImportServices.
  auto import_stub = v1::Directory::NewStub(NewChannel(target));
  const auto deadline = [](grpc::ClientContext* context, int seconds) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  };
  phase_start = Clock::now();
  for (const auto& [id, organization] : catalogue.organizations) {
    grpc::ClientContext context;
    deadline(&context, 30);
    v1::RegisterOrganizationRequest request;
    *request.mutable_organization() = organization;
    v1::Organization response;
    if (grpc::Status s = import_stub->RegisterOrganization(&context, request, &response); !s.ok()) {
      std::fprintf(stderr, "registering organisation %s: %s\n", id.c_str(),
                   s.error_message().c_str());
      stop_node();
      return 1;
    }
  }
  std::vector<std::string> ids;
  ids.reserve(services.size());
  {
    grpc::ClientContext context;
    deadline(&context, 3600);
    v1::ImportServicesResponse response;
    auto writer = import_stub->ImportServices(&context, &response);
    v1::ImportServicesRequest request;
    request.set_report_rejected_only(true);
    for (size_t i = 0; i < services.size(); ++i) {
      ids.push_back(services[i].id());
      *request.add_services() = std::move(services[i]);
      if (request.services_size() == 500 || i + 1 == services.size()) {
        if (!writer->Write(request)) break;  // the server ended the call; Finish() says why
        request.clear_services();
      }
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (!status.ok() || response.created() != static_cast<int64_t>(ids.size())) {
      std::fprintf(stderr, "ImportServices: %s; %lld of %zu created\n",
                   status.ok() ? "OK" : status.error_message().c_str(),
                   static_cast<long long>(response.created()), ids.size());
      stop_node();
      return 1;
    }
  }
  std::vector<v1::Service>().swap(services);
  std::printf("imported %zu services and %zu organisations in %.2f s\n", ids.size(),
              catalogue.organizations.size(), SecondsSince(phase_start));
  malloc_trim(0);
  std::printf("RSS after the import: %.0f MiB\n", ProcStatusMiB("VmRSS"));

  // The requests, built once: the same call natively and over HTTP/JSON.
  std::vector<std::string> grpc_get, http_get;
  for (const auto& id : ids) {
    v1::GetServiceRequest request;
    request.set_id(id);
    grpc_get.push_back(request.SerializeAsString());
    http_get.push_back(
        absl::StrCat("GET /v1/services/", id, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  }
  std::vector<std::string> grpc_list, http_list;
  {
    v1::ListServicesRequest request;
    request.mutable_area()->add_municipality_codes(kListMunicipality);
    request.mutable_page()->set_page_size(kListPageSize);
    grpc_list.push_back(request.SerializeAsString());
    http_list.push_back(absl::StrCat("GET /v1/services?area.municipality_codes=", kListMunicipality,
                                     "&page.page_size=", kListPageSize,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  }
  const std::vector<std::string> http_health = {"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"};

  // Native clients: K channels, each its own TCP connection.
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int k = 0; k < options.channels; ++k) {
    auto channel = NewChannel(target);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "channel %d cannot connect to %s\n", k, target.c_str());
      stop_node();
      return 1;
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }

  const int c = options.connections;
  const auto native = [&](const char* label, const char* method,
                          const std::vector<std::string>& requests) {
    GrpcLoad load(stubs, c, method, AnyOf(requests), kSeed);
    return PhaseResult(load.Run(label, options.warmup_seconds, options.seconds));
  };
  const auto http = [&](const char* label, const std::vector<std::string>& requests) {
    HttpLoad load(http_port, c, &requests);
    return load.Run(label, options.warmup_seconds, options.seconds);
  };

  std::printf(
      "\nphases: %d concurrent requests each; latency in ms; CPU us/r = CPU time of the whole "
      "process (load generator and node) per request, in brackets the HTTP load generator's "
      "thread; cores = CPU seconds per second of the phase (at most %u)\n",
      c, std::thread::hardware_concurrency());
  PhaseResult ceiling, native_get, gateway_get, native_list, gateway_list;
  ceiling.name = "(c) HTTP ceiling GET /healthz";
  native_get.name = "(a) native gRPC GetService";
  gateway_get.name = "(b) gateway GET /v1/services/{id}";
  native_list.name = "(a) native gRPC ListServices";
  gateway_list.name = "(b) gateway GET /v1/services?...";
  for (int round = 1; round <= options.rounds; ++round) {
    if (options.rounds > 1) std::printf("round %d\n", round);
    PrintHeader();
    const auto run = [&](PhaseResult phase, PhaseResult* pooled) {
      PrintRow(phase);
      std::fflush(stdout);
      pooled->Merge(phase);
    };
    // Alternate the order between rounds so that a drift of the machine's load does not favour
    // one side.
    const bool native_first = round % 2 == 1;
    if (options.get) {
      if (native_first)
        run(native("(a) native gRPC GetService", kGetMethod, grpc_get), &native_get);
      run(http("(b) gateway GET /v1/services/{id}", http_get), &gateway_get);
      if (!native_first)
        run(native("(a) native gRPC GetService", kGetMethod, grpc_get), &native_get);
    }
    if (options.list) {
      if (native_first) {
        run(native("(a) native gRPC ListServices", kListMethod, grpc_list), &native_list);
      }
      run(http("(b) gateway GET /v1/services?...", http_list), &gateway_list);
      if (!native_first) {
        run(native("(a) native gRPC ListServices", kListMethod, grpc_list), &native_list);
      }
    }
    run(http("(c) HTTP ceiling GET /healthz", http_health), &ceiling);
  }
  const double hwm = ProcStatusMiB("VmHWM");
  const std::string load_after = LoadAverage();
  if (options.breakdown) {
    grpc::GenericStub in_process(server.InProcessChannel());
    std::fflush(stdout);
    if (PrintBreakdown(ids, grpc_get, grpc_list.front(), absl::StrCat("/v1/services"),
                       *stubs.front(), in_process) != 0) {
      stop_node();
      return 1;
    }
  }
  stop_node();

  if (options.rounds > 1) {
    std::printf("\nall %d rounds pooled:\n", options.rounds);
    PrintHeader();
    if (options.get) {
      PrintRow(native_get);
      PrintRow(gateway_get);
    }
    if (options.list) {
      PrintRow(native_list);
      PrintRow(gateway_list);
    }
    PrintRow(ceiling);
  }
  if (!native_get.first_error.empty() || !native_list.first_error.empty() ||
      !gateway_get.first_error.empty() || !gateway_list.first_error.empty() ||
      !ceiling.first_error.empty()) {
    for (const PhaseResult* r :
         {&native_get, &gateway_get, &native_list, &gateway_list, &ceiling}) {
      if (!r->first_error.empty()) {
        std::printf("first error of %s: %s\n", r->name.c_str(), r->first_error.c_str());
      }
    }
  }

  const PhaseFigures ceiling_f = Figures(ceiling);
  std::printf("\n%-46s %10s %10s %8s\n", "ratio", "gateway", "baseline", "ratio");
  struct Verdict {
    std::string scenario;
    double throughput_ratio, p99_ratio, per_cpu_ratio;
  };
  std::vector<Verdict> verdicts;
  const auto ratios = [&](const char* scenario, const PhaseResult& gw, const PhaseResult& nat) {
    const PhaseFigures g = Figures(gw), n = Figures(nat);
    std::printf("%-46s %10.0f %10.0f %8.2f   (baseline: native gRPC)\n",
                absl::StrCat(scenario, " throughput (req/s)").c_str(), g.rate, n.rate,
                g.rate / n.rate);
    std::printf("%-46s %10.3f %10.3f %8.2f   (baseline: native gRPC)\n",
                absl::StrCat(scenario, " p50 (ms)").c_str(), g.latency.p50, n.latency.p50,
                g.latency.p50 / n.latency.p50);
    std::printf("%-46s %10.3f %10.3f %8.2f   (baseline: native gRPC)\n",
                absl::StrCat(scenario, " p99 (ms)").c_str(), g.latency.p99, n.latency.p99,
                g.latency.p99 / n.latency.p99);
    std::printf("%-46s %10.0f %10.0f %8.2f   (baseline: native gRPC)\n",
                absl::StrCat(scenario, " CPU per request (us)").c_str(), g.cpu_us, n.cpu_us,
                g.cpu_us / n.cpu_us);
    std::printf("%-46s %10.0f %10.0f %8.2f   (baseline: native gRPC; = 1 / CPU ratio)\n",
                absl::StrCat(scenario, " requests per CPU-second").c_str(), 1e6 / g.cpu_us,
                1e6 / n.cpu_us, n.cpu_us / g.cpu_us);
    std::printf("%-46s %10.0f %10.0f %8.2f   (baseline: HTTP ceiling /healthz)\n",
                absl::StrCat(scenario, " throughput (req/s)").c_str(), g.rate, ceiling_f.rate,
                g.rate / ceiling_f.rate);
    std::printf("%-46s %10.0f %10.0f %8.2f   (JSON body vs protobuf message)\n",
                absl::StrCat(scenario, " response bytes").c_str(), g.mean_bytes, n.mean_bytes,
                g.mean_bytes / n.mean_bytes);
    verdicts.push_back(
        {scenario, g.rate / n.rate, g.latency.p99 / n.latency.p99, n.cpu_us / g.cpu_us});
  };
  if (options.get) ratios("GetService", gateway_get, native_get);
  if (options.list) ratios("ListServices", gateway_list, native_list);
  std::printf("%-46s %10.0f\n", "peak RSS (MiB)", hwm);
  std::printf("load average before / after: %s / %s\n\n", load_before.c_str(), load_after.c_str());

  const int64_t http_errors = gateway_get.errors + gateway_list.errors + ceiling.errors;
  const int64_t native_errors = native_get.errors + native_list.errors;
  const auto verdict = [](bool pass) { return pass ? "PASS" : "FAIL"; };
  for (const Verdict& v : verdicts) {
    std::printf(
        "gateway throughput >= %.1fx native gRPC (%s): %s (measured %.2fx; per CPU-second "
        "%.2fx)\n",
        kTargetThroughputRatio, v.scenario.c_str(),
        verdict(v.throughput_ratio >= kTargetThroughputRatio), v.throughput_ratio, v.per_cpu_ratio);
    std::printf("gateway p99 <= %.1fx native gRPC (%s): %s (measured %.2fx)\n", kTargetP99Ratio,
                v.scenario.c_str(), verdict(v.p99_ratio <= kTargetP99Ratio), v.p99_ratio);
  }
  std::printf(
      "zero errors at %d concurrent keep-alive connections: %s (measured %lld; native "
      "gRPC %lld)\n",
      c, verdict(http_errors == 0), static_cast<long long>(http_errors),
      static_cast<long long>(native_errors));
  // The summary of the read call (GetService when measured).
  const Verdict& main = verdicts.front();
  std::printf(
      "gateway_bench: %s throughput_ratio=%.2f (target >= %.1f) p99_ratio=%.2f (target <= %.0f) "
      "errors=%lld per_cpu_ratio=%.2f\n",
      main.scenario.c_str(), main.throughput_ratio, kTargetThroughputRatio, main.p99_ratio,
      kTargetP99Ratio, static_cast<long long>(http_errors), main.per_cpu_ratio);
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
