#include "common/metrics.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <rocksdb/db.h>
#include <rocksdb/statistics.h>
#include <sys/statvfs.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/database.h"

namespace aurora {
namespace {

const char* const kGrpcCodes[] = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}.
std::pair<std::string, std::string> SplitMethod(const std::string& full) {
  const size_t slash = full.rfind('/');
  if (full.size() < 2 || full[0] != '/' || slash == 0 || slash == std::string::npos) {
    return {"unknown", full};
  }
  return {full.substr(1, slash - 1), full.substr(slash + 1)};
}

const char* TypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics* metrics, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics),
        method_(info->method() != nullptr ? info->method() : ""),
        type_(TypeName(info->type())),
        start_(std::chrono::steady_clock::now()) {
    metrics_->RecordStart(method_, type_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->RecordCall(method_, type_, methods->GetSendStatus().error_code(), seconds);
    }
    methods->Proceed();
  }

 private:
  Metrics* metrics_;
  std::string method_;
  const char* type_;
  std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info);
  }

 private:
  Metrics* metrics_;
};

// Gauges whose values are read at scrape time.
class CallbackGauges final : public prometheus::Collectable {
 public:
  void Add(std::string name, std::string help, std::function<double()> read) {
    std::lock_guard lock(mu_);
    gauges_.push_back({std::move(name), std::move(help), std::move(read)});
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mu_);
    std::vector<prometheus::MetricFamily> out;
    for (const auto& g : gauges_) {
      prometheus::MetricFamily family;
      family.name = g.name;
      family.help = g.help;
      family.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric metric;
      metric.gauge.value = g.read();
      family.metric.push_back(std::move(metric));
      out.push_back(std::move(family));
    }
    return out;
  }

 private:
  struct Gauge {
    std::string name, help;
    std::function<double()> read;
  };
  mutable std::mutex mu_;
  std::vector<Gauge> gauges_;
};

prometheus::MetricFamily GaugeFamily(const std::string& name, const std::string& help,
                                     double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
  return family;
}

// RocksDB properties (gauges per column family) and statistics tickers (counters).
class RocksDbCollector final : public prometheus::Collectable {
 public:
  explicit RocksDbCollector(const Database* database) : database_(database) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    rocksdb::DB* db = database_->db();
    if (db == nullptr) return out;
    static const std::pair<const char*, const char*> kProperties[] = {
        {"rocksdb.estimate-num-keys", "aurora_rocksdb_estimated_keys"},
        {"rocksdb.total-sst-files-size", "aurora_rocksdb_sst_files_bytes"},
        {"rocksdb.cur-size-all-mem-tables", "aurora_rocksdb_memtable_bytes"},
        {"rocksdb.estimate-live-data-size", "aurora_rocksdb_live_data_bytes"},
        {"rocksdb.num-running-compactions", "aurora_rocksdb_running_compactions"},
        {"rocksdb.num-running-flushes", "aurora_rocksdb_running_flushes"},
        {"rocksdb.estimate-pending-compaction-bytes", "aurora_rocksdb_pending_compaction_bytes"},
        {"rocksdb.block-cache-usage", "aurora_rocksdb_block_cache_bytes"},
    };
    std::vector<rocksdb::ColumnFamilyHandle*> families;
    for (const char* name : {"default", "directory", "recommender", "profile"}) {
      if (auto* handle = database_->family(name)) families.push_back(handle);
    }
    for (const auto& [property, metric_name] : kProperties) {
      prometheus::MetricFamily family;
      family.name = metric_name;
      family.help = absl::StrCat("RocksDB property ", property, " per column family");
      family.type = prometheus::MetricType::Gauge;
      for (auto* handle : families) {
        uint64_t value = 0;
        if (!db->GetIntProperty(handle, property, &value)) continue;
        prometheus::ClientMetric metric;
        metric.label.push_back({"column_family", handle->GetName()});
        metric.gauge.value = static_cast<double>(value);
        family.metric.push_back(std::move(metric));
      }
      out.push_back(std::move(family));
    }
    // Whole-database health: writes stopped or slowed by compaction debt, background errors
    // (a full disk among them), and the filesystem the data directory is on.
    static const std::pair<const char*, const char*> kDbProperties[] = {
        {"rocksdb.is-write-stopped", "aurora_rocksdb_write_stopped"},
        {"rocksdb.actual-delayed-write-rate", "aurora_rocksdb_delayed_write_rate_bytes"},
        {"rocksdb.background-errors", "aurora_rocksdb_background_errors"},
    };
    for (const auto& [property, metric_name] : kDbProperties) {
      uint64_t value = 0;
      if (!db->GetIntProperty(property, &value)) continue;
      out.push_back(GaugeFamily(metric_name, absl::StrCat("RocksDB property ", property), value));
    }
    struct statvfs fs {};
    if (statvfs(database_->path().c_str(), &fs) == 0) {
      out.push_back(GaugeFamily("aurora_data_dir_available_bytes",
                                "Bytes available to the node on its data directory's filesystem",
                                static_cast<double>(fs.f_bavail) * fs.f_frsize));
      out.push_back(GaugeFamily("aurora_data_dir_capacity_bytes",
                                "Size of the node's data directory's filesystem",
                                static_cast<double>(fs.f_blocks) * fs.f_frsize));
    }
    if (rocksdb::Statistics* stats = database_->statistics()) {
      prometheus::MetricFamily tickers;
      tickers.name = "aurora_rocksdb_ticker_total";
      tickers.help = "RocksDB statistics tickers (cumulative counts since the node started)";
      tickers.type = prometheus::MetricType::Counter;
      for (const auto& [ticker, name] : rocksdb::TickersNameMap) {
        const uint64_t value = stats->getTickerCount(ticker);
        // Hundreds of tickers: export the ones in use, and always those alerts and dashboards
        // read (write stalls, compaction and flush traffic, WAL syncs).
        if (value == 0 && ticker != rocksdb::STALL_MICROS && ticker != rocksdb::COMPACT_READ_BYTES &&
            ticker != rocksdb::COMPACT_WRITE_BYTES && ticker != rocksdb::FLUSH_WRITE_BYTES &&
            ticker != rocksdb::WAL_FILE_SYNCED) {
          continue;
        }
        prometheus::ClientMetric metric;
        metric.label.push_back({"ticker", name});
        metric.counter.value = static_cast<double>(value);
        tickers.metric.push_back(std::move(metric));
      }
      out.push_back(std::move(tickers));
    }
    return out;
  }

 private:
  const Database* database_;
};

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace

struct Metrics::MethodMetrics {
  prometheus::Counter* started = nullptr;
  prometheus::Counter* handled[17] = {};
  prometheus::Histogram* latency = nullptr;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("gRPC calls started on the server")
                   .Register(*registry_)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("gRPC calls completed on the server, by status code")
                   .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("grpc_server_handling_seconds")
                   .Help("Time from the start of a gRPC call to its status, in seconds")
                   .Register(*registry_)) {
  auto gauges = std::make_shared<CallbackGauges>();
  collectables_.push_back(gauges);
}

Metrics::~Metrics() { StopExposer(); }

absl::Status Metrics::StartExposer(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-listen: cannot listen on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  for (const auto& collectable : collectables_) exposer_->RegisterCollectable(collectable);
  return absl::OkStatus();
}

int Metrics::exposer_port() const {
  if (!exposer_) return 0;
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void Metrics::StopExposer() { exposer_.reset(); }

void Metrics::AddGaugeCallback(const std::string& name, const std::string& help,
                               std::function<double()> read) {
  static_cast<CallbackGauges*>(collectables_.front().get())->Add(name, help, std::move(read));
}

void Metrics::AddDatabase(const Database* database) {
  auto collector = std::make_shared<RocksDbCollector>(database);
  collectables_.push_back(collector);
  if (exposer_) exposer_->RegisterCollectable(collector);
}

Metrics::MethodMetrics& Metrics::ForMethod(const std::string& full_method, const char* type) {
  std::lock_guard lock(mu_);
  auto found = methods_.find(full_method);
  if (found != methods_.end()) return *found->second;
  // Only methods this binary knows get their own series; any other name a client sends is
  // counted under "unknown", so callers cannot grow the label space.
  auto [service, method] = SplitMethod(full_method);
  std::string key = full_method;
  if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          absl::StrCat(service, ".", method)) == nullptr) {
    service = "unknown";
    method = "unknown";
    key = "unknown";
  }
  auto& slot = methods_[key];
  if (!slot) {
    slot = std::make_unique<MethodMetrics>();
    const prometheus::Labels labels = {
        {"grpc_type", type}, {"grpc_service", service}, {"grpc_method", method}};
    slot->started = &started_.Add(labels);
    slot->latency = &latency_.Add(labels, LatencyBuckets());
    for (int code = 0; code < 17; ++code) {
      prometheus::Labels with_code = labels;
      with_code["grpc_code"] = kGrpcCodes[code];
      slot->handled[code] = &handled_.Add(with_code);
    }
  }
  return *slot;
}

void Metrics::RecordStart(const std::string& full_method, const char* type) {
  ForMethod(full_method, type).started->Increment();
}

void Metrics::RecordCall(const std::string& full_method, const char* type, int code,
                         double seconds) {
  MethodMetrics& m = ForMethod(full_method, type);
  if (code >= 0 && code < 17) m.handled[code]->Increment();
  m.latency->Observe(seconds);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

void Metrics::SetBuildInfo(const std::string& version) {
  prometheus::BuildGauge()
      .Name("aurora_build_info")
      .Help("The running aurora's version and its gRPC library's (always 1)")
      .Register(*registry_)
      .Add({{"version", version.empty() ? "unversioned" : version},
            {"grpc_version", grpc::Version()}})
      .Set(1);
}

}  // namespace aurora
