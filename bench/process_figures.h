#pragma once
// What the benchmarks measure of their own process, and the small pieces every benchmark needs:
// wall and CPU time, RSS from /proc, the load average, a temporary folder, a gRPC channel of its
// own TCP connection. Linux only.

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <chrono>
#include <memory>
#include <string>

namespace aurora::bench {

double SecondsSince(std::chrono::steady_clock::time_point start);

// A field of /proc/self/status in MiB ("VmHWM", "VmRSS"), or -1.
double ProcStatusMiB(const std::string& field);

// Returns freed heap to the system and restarts VmHWM at the current RSS (Linux clear_refs 5).
bool ResetPeakRss();

// /proc/loadavg's three figures, "0.52 0.61 0.70".
std::string LoadAverage();

// User + system CPU seconds of the whole process.
double ProcessCpuSeconds();

// CPU seconds of the calling thread; of another thread (0 if unreadable).
double ThreadCpuSeconds();
double ThreadCpuSeconds(pthread_t thread);

// A fresh folder (mkdtemp) "<parent or the system's temporary folder>/<prefix>-XXXXXX", removed
// with everything in it on destruction; path() is empty if it could not be made.
class TempDir {
 public:
  TempDir(const std::string& parent, const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An insecure channel with its own TCP connection (no subchannel sharing between channels with
// equal arguments) and 256 MiB message limits.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target);

}  // namespace aurora::bench
