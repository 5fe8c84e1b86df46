#include "bench/grpc_load.h"

#include <grpcpp/alarm.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/process_figures.h"

namespace aurora::bench {
namespace {

constexpr int kDeadlineSeconds = 30;

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(kDeadlineSeconds);
}

}  // namespace

LoadWindow LoadWindow::After(double warmup_seconds, double seconds, Clock::time_point start) {
  const auto to_duration = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  LoadWindow window;
  window.measure_start = start + to_duration(warmup_seconds);
  window.measure_end = window.measure_start + to_duration(seconds);
  return window;
}

double LoadWindow::seconds() const {
  return std::chrono::duration<double>(measure_end - measure_start).count();
}

double CpuOverWindow(const LoadWindow& window) {
  std::this_thread::sleep_until(window.measure_start);
  const double cpu_start = ProcessCpuSeconds();
  std::this_thread::sleep_until(window.measure_end);
  return ProcessCpuSeconds() - cpu_start;
}

NextRequest AnyOf(const std::vector<std::string>& requests) {
  return [&requests](std::mt19937_64& rng, grpc::ClientContext*) -> const std::string& {
    return requests[rng() % requests.size()];
  };
}

// ------------------------------------------------------------------------------------------------
// GrpcLoad

struct GrpcLoad::Slot {
  grpc::GenericStub* stub = nullptr;
  std::mt19937_64 rng;
  std::unique_ptr<grpc::ClientContext> context;
  grpc::ByteBuffer request, response;
  Clock::time_point sent, scheduled;
  grpc::Alarm alarm;
  // What the slot saw; merged into the LoadResult at the end, so that the slots share nothing.
  std::vector<float> micros;
  int64_t calls = 0;
  int64_t errors = 0;
  std::map<int, int64_t> error_codes;
  double response_bytes = 0;
  std::string first_error;
};

GrpcLoad::GrpcLoad(const std::vector<std::unique_ptr<grpc::GenericStub>>& stubs, int slots,
                   std::string method, NextRequest next, uint64_t seed, double rate)
    : method_(std::move(method)), next_(std::move(next)), rate_(rate) {
  for (int i = 0; i < slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->stub = stubs[static_cast<size_t>(i) % stubs.size()].get();
    slot->rng.seed(seed + static_cast<uint64_t>(i));
    slots_.push_back(std::move(slot));
  }
}

GrpcLoad::~GrpcLoad() = default;

LoadResult GrpcLoad::Run(const std::string& name, double warmup_seconds, double seconds) {
  const auto start = Clock::now();
  window_ = LoadWindow::After(warmup_seconds, seconds, start);
  active_ = static_cast<int>(slots_.size());
  for (auto& slot : slots_) {
    slot->scheduled = start;
    if (rate_ > 0) slot->scheduled += NextGap(*slot);
    Schedule(*slot);
  }
  LoadResult result;
  result.name = name;
  result.process_cpu = CpuOverWindow(window_);
  {
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return active_ == 0; });
  }
  result.seconds = window_.seconds();
  for (auto& slot : slots_) {
    result.micros.insert(result.micros.end(), slot->micros.begin(), slot->micros.end());
    result.calls += slot->calls;
    result.errors += slot->errors;
    for (const auto& [code, count] : slot->error_codes) result.error_codes[code] += count;
    result.response_bytes += slot->response_bytes;
    if (result.first_error.empty()) result.first_error = slot->first_error;
  }
  return result;
}

// Paced: the time to a slot's next call, exponential with mean slots / rate.
GrpcLoad::Clock::duration GrpcLoad::NextGap(Slot& slot) {
  std::exponential_distribution<double> gap(rate_ / static_cast<double>(slots_.size()));
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(slot.rng)));
}

// Starts the slot's next call now (closed loop, or a paced slot that is behind) or at its
// scheduled time.
void GrpcLoad::Schedule(Slot& slot) {
  const auto now = Clock::now();
  if (rate_ <= 0 || slot.scheduled <= now || slot.scheduled >= window_.measure_end) {
    Issue(slot);
    return;
  }
  const auto when =
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(slot.scheduled - now);
  slot.alarm.Set(when, [this, &slot](bool) { Issue(slot); });
}

void GrpcLoad::Issue(Slot& slot) {
  const auto now = Clock::now();
  if (now >= window_.measure_end || (rate_ > 0 && slot.scheduled >= window_.measure_end)) {
    std::lock_guard lock(mu_);
    if (--active_ == 0) done_.notify_all();
    return;
  }
  slot.context = std::make_unique<grpc::ClientContext>();  // the previous call's is done
  slot.context->set_deadline(Deadline());
  const std::string& bytes = next_(slot.rng, slot.context.get());
  grpc::Slice slice(bytes.data(), bytes.size(), grpc::Slice::STATIC_SLICE);
  slot.request = grpc::ByteBuffer(&slice, 1);
  slot.response.Clear();
  slot.sent = rate_ > 0 ? slot.scheduled : now;
  slot.stub->UnaryCall(slot.context.get(), method_, grpc::StubOptions(), &slot.request,
                       &slot.response,
                       [this, &slot](grpc::Status status) { Completed(slot, status); });
}

void GrpcLoad::Completed(Slot& slot, const grpc::Status& status) {
  const auto now = Clock::now();
  const size_t length = slot.response.Length();
  ++slot.calls;
  if (!status.ok() || length == 0) {
    ++slot.errors;
    ++slot.error_codes[status.ok() ? -1 : static_cast<int>(status.error_code())];
    if (slot.first_error.empty()) {
      slot.first_error = status.ok() ? "empty reply"
                                     : absl::StrCat("gRPC code ", status.error_code(), ": ",
                                                    status.error_message());
    }
  } else if (window_.Measures(now)) {
    slot.micros.push_back(
        static_cast<float>(std::chrono::duration<double, std::micro>(now - slot.sent).count()));
    slot.response_bytes += static_cast<double>(length);
  }
  if (rate_ > 0) slot.scheduled += NextGap(slot);
  Schedule(slot);
}

// ------------------------------------------------------------------------------------------------
// Figures

LatencyStats Summarise(std::vector<float> micros) {
  LatencyStats stats;
  stats.count = micros.size();
  if (micros.empty()) return stats;
  std::sort(micros.begin(), micros.end());
  const auto rank = [&](double q) {
    const size_t i = static_cast<size_t>(q * static_cast<double>(micros.size() - 1) + 0.5);
    return static_cast<double>(micros[std::min(i, micros.size() - 1)]) / 1000.0;
  };
  stats.p50 = rank(0.50);
  stats.p90 = rank(0.90);
  stats.p99 = rank(0.99);
  stats.p999 = rank(0.999);
  stats.max = static_cast<double>(micros.back()) / 1000.0;
  return stats;
}

PhaseFigures Figures(const LoadResult& r) {
  PhaseFigures f;
  f.latency = Summarise(r.micros);
  const double n = static_cast<double>(std::max<size_t>(r.micros.size(), 1));
  f.rate = static_cast<double>(r.micros.size()) / r.seconds;
  f.cpu_us = r.process_cpu / n * 1e6;
  f.mean_bytes = r.response_bytes / n;
  return f;
}

LoadResult Pooled(std::string name, const std::vector<LoadResult>& parts) {
  LoadResult out;
  out.name = std::move(name);
  for (const LoadResult& part : parts) {
    out.micros.insert(out.micros.end(), part.micros.begin(), part.micros.end());
    out.seconds += part.seconds;
    out.calls += part.calls;
    out.errors += part.errors;
    for (const auto& [code, count] : part.error_codes) out.error_codes[code] += count;
    if (out.first_error.empty()) out.first_error = part.first_error;
    out.response_bytes += part.response_bytes;
    out.process_cpu += part.process_cpu;
  }
  return out;
}

void PrintPhaseHeader(int name_width) {
  std::printf("  %-*s %9s %7s %9s %8s %8s %8s %8s %9s %6s %8s\n", name_width, "phase", "requests",
              "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU us/r", "cores",
              "bytes/r");
}

void PrintPhaseRow(const LoadResult& r, int name_width, int cpu_decimals) {
  const PhaseFigures f = Figures(r);
  std::printf("  %-*s %9zu %7lld %9.0f %8.3f %8.3f %8.3f %8.3f %9.*f %6.2f %8.0f\n", name_width,
              r.name.c_str(), f.latency.count, static_cast<long long>(r.errors), f.rate,
              f.latency.p50, f.latency.p90, f.latency.p99, f.latency.max, cpu_decimals, f.cpu_us,
              r.process_cpu / r.seconds, f.mean_bytes);
}

// ------------------------------------------------------------------------------------------------
// SyncCall

grpc::Status SyncCall(grpc::GenericStub& stub, const std::string& method,
                      const std::string& request, std::string* reply, double* micros) {
  // Shared with the callback, which may still be unlocking the mutex when this returns.
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
  };
  auto done = std::make_shared<Done>();
  grpc::Slice slice(request.data(), request.size(), grpc::Slice::STATIC_SLICE);
  grpc::ByteBuffer request_buffer(&slice, 1), reply_buffer;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const auto start = std::chrono::steady_clock::now();
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &reply_buffer,
                 [done](grpc::Status status) {
                   std::lock_guard lock(done->mu);
                   done->status = std::move(status);
                   done->done = true;
                   done->cv.notify_one();
                 });
  {
    std::unique_lock lock(done->mu);
    done->cv.wait(lock, [&] { return done->done; });
  }
  if (micros != nullptr) *micros = SecondsSince(start) * 1e6;
  if (reply != nullptr) {
    reply->clear();
    std::vector<grpc::Slice> slices;
    if (done->status.ok() && reply_buffer.Dump(&slices).ok()) {
      for (const auto& part : slices) {
        reply->append(reinterpret_cast<const char*>(part.begin()), part.size());
      }
    }
  }
  return done->status;
}

}  // namespace aurora::bench
