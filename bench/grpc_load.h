#pragma once
// The gRPC load of the benchmarks and what they compute from it:
//   * GrpcLoad: C calls kept in flight with the callback API (grpc::GenericStub), spread over K
//     channels, one call at a time per slot, the next started from the previous one's completion
//     (on gRPC's callback threads), for a warm-up and then a measured window. C OS threads doing
//     blocking calls would add C threads contending for the cores the server in the same process
//     also needs. Requests are serialized in advance; replies are checked for being non-empty,
//     not decoded. Optionally paced (an open loop at a given rate) instead of closed.
//   * Summarise: p50/p90/p99/p99.9/max of latencies; Figures: rate, CPU and bytes per request.
//   * SyncCall: one unary call through a GenericStub, the calling thread waiting for it.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace aurora::bench {

// The timeline of a phase: calls completing in [measure_start, measure_end) are recorded; no call
// starts after measure_end.
struct LoadWindow {
  using Clock = std::chrono::steady_clock;
  Clock::time_point measure_start;
  Clock::time_point measure_end;

  // `warmup_seconds` from `start`, then `seconds` measured.
  static LoadWindow After(double warmup_seconds, double seconds, Clock::time_point start);
  static LoadWindow After(double warmup_seconds, double seconds) {
    return After(warmup_seconds, seconds, Clock::now());
  }
  bool Measures(Clock::time_point done) const {
    return done >= measure_start && done < measure_end;
  }
  double seconds() const;
};

// User + system CPU seconds of the process over `window`; the calling thread sleeps through it.
double CpuOverWindow(const LoadWindow& window);

// One phase of load.
struct LoadResult {
  std::string name;
  std::vector<float> micros;           // latency of every call completed in the measured window
  double seconds = 0;                  // the measured window
  int64_t calls = 0;                   // every completed call of the phase, warm-up included
  int64_t errors = 0;                  // of those
  std::map<int, int64_t> error_codes;  // errors by gRPC status code; -1: an empty reply
  std::string first_error;
  double response_bytes = 0;  // sum over the recorded calls
  double process_cpu = 0;     // CPU seconds of the process in the measured window
};

// What a slot sends next: the serialized request, which must stay alive until the call completes
// (it is sent without a copy), and any metadata, added to `context`. Random choices are drawn from
// `rng`, the slot's own stream. Called on gRPC's threads, concurrently for different slots.
using NextRequest =
    std::function<const std::string&(std::mt19937_64& rng, grpc::ClientContext* context)>;

// One of `requests` at random (plain modulo of one draw), without metadata. `requests` must
// outlive the load.
NextRequest AnyOf(const std::vector<std::string>& requests);

class GrpcLoad {
 public:
  // `slots` calls of `method` in flight, slot i on stubs[i % stubs.size()] with its random stream
  // seeded `seed + i` (so that each benchmark's requests are the same from run to run).
  // `rate` 0: closed loop (each slot starts its next call when the last completes). `rate` > 0:
  // paced (open loop): the slots together start `rate` calls per second, each slot at Poisson
  // arrival times of its own; a call is started at its scheduled time, or at once when the slot
  // is behind, and its latency counts from the scheduled time (no coordinated omission).
  GrpcLoad(const std::vector<std::unique_ptr<grpc::GenericStub>>& stubs, int slots,
           std::string method, NextRequest next, uint64_t seed, double rate = 0);
  ~GrpcLoad();
  GrpcLoad(const GrpcLoad&) = delete;
  GrpcLoad& operator=(const GrpcLoad&) = delete;

  // Runs the load for `warmup_seconds` unrecorded, then `seconds` measured, and waits for the
  // calls in flight at the end. Call once.
  LoadResult Run(const std::string& name, double warmup_seconds, double seconds);

 private:
  struct Slot;
  using Clock = LoadWindow::Clock;

  Clock::duration NextGap(Slot& slot);
  void Schedule(Slot& slot);
  void Issue(Slot& slot);
  void Completed(Slot& slot, const grpc::Status& status);

  const std::string method_;
  const NextRequest next_;
  const double rate_;
  std::vector<std::unique_ptr<Slot>> slots_;
  LoadWindow window_;
  std::mutex mu_;
  std::condition_variable done_;
  int active_ = 0;
};

struct LatencyStats {
  size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // milliseconds
};

// Percentiles of latencies in microseconds, by nearest rank.
LatencyStats Summarise(std::vector<float> micros);

struct PhaseFigures {
  LatencyStats latency;
  double rate = 0;    // recorded requests per second of the measured window
  double cpu_us = 0;  // process CPU per recorded request (µs)
  double mean_bytes = 0;
};

PhaseFigures Figures(const LoadResult& r);

// Several measured windows of the same kind of load as one (latencies, windows, calls, errors,
// bytes and CPU added up), named `name`.
LoadResult Pooled(std::string name, const std::vector<LoadResult>& parts);

// The phase table of recommender_bench, profile_bench and network_bench: requests, errors, req/s,
// p50/p90/p99/max ms, process CPU per request, cores, bytes per reply; the phase name padded to
// `name_width`, the CPU printed with `cpu_decimals`.
void PrintPhaseHeader(int name_width);
void PrintPhaseRow(const LoadResult& r, int name_width, int cpu_decimals);

// One unary call of `method` through `stub` (30 s deadline), the calling thread waiting for it.
// `reply` (if not null) gets the reply's bytes when the call succeeds, else is emptied. `micros`
// (if not null) gets the call's latency: from starting it to its completion, without building the
// request buffer or copying out the reply.
grpc::Status SyncCall(grpc::GenericStub& stub, const std::string& method,
                      const std::string& request, std::string* reply, double* micros = nullptr);

}  // namespace aurora::bench
