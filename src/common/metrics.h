#pragma once
// Prometheus metrics of a node: one registry, the /metrics exposer, a gRPC server interceptor
// that counts every call by service, method and status code and observes its latency
// (grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds, as in
// go-grpc-prometheus), gauges read at scrape time, and RocksDB statistics.
//
// Thread-safe. Label children are created once per (method, code) and cached, so the per-call
// cost is a hash lookup and two atomic adds.

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace aurora {

class Database;

class Metrics {
 public:
  Metrics();
  ~Metrics();

  prometheus::Registry& registry() { return *registry_; }
  const std::shared_ptr<prometheus::Registry>& shared_registry() const { return registry_; }

  // Serves GET /metrics on `address` ("127.0.0.1:9464"; port 0 picks a free one).
  absl::Status StartExposer(const std::string& address);
  // The bound port, or 0 if not started.
  int exposer_port() const;
  // Stops serving /metrics (civetweb may take up to ~2 s after a scrape).
  void StopExposer();

  // aurora_build_info{version, grpc_version} 1: what runs, for dashboards and alerts.
  void SetBuildInfo(const std::string& version);

  // A gauge whose value is read by `read` at every scrape.
  void AddGaugeCallback(const std::string& name, const std::string& help,
                        std::function<double()> read);
  // RocksDB properties per column family and statistics tickers, read at every scrape. The
  // database must outlive the exposer (call StopExposer() before closing it).
  void AddDatabase(const Database* database);

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators().
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // Record a call's start and its end (used by the interceptor; public for tests).
  void RecordStart(const std::string& full_method, const char* type);
  void RecordCall(const std::string& full_method, const char* type, int code, double seconds);

 private:
  struct MethodMetrics;
  MethodMetrics& ForMethod(const std::string& full_method, const char* type);

  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& latency_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods_;
};

}  // namespace aurora
