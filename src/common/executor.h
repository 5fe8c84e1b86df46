#pragma once
// A fixed pool of threads with a bounded queue, for blocking work (RocksDB syncs, slow hashes,
// change-log reads) that must stay off gRPC's callback threads. Submit() refuses work when the
// queue is full or the pool is shutting down, so that callers can answer RESOURCE_EXHAUSTED or
// UNAVAILABLE instead of growing memory without bound.
//
// The pool also bounds how many tasks run at once: as many as it has threads. RunOrSubmit()
// is for short CPU-bound work (ranking): it takes a free slot and runs the task on the calling
// thread, saving the two thread hand-offs of a queued task, as long as fewer than `max_inline`
// tasks run on callers' threads; otherwise it queues the task. Both count against the same bound.
//
// Thread-safe.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace aurora {

class Executor {
 public:
  // `max_inline`: how many RunOrSubmit() tasks may run on callers' threads at once (0: none;
  // at most `threads`).
  Executor(std::string name, int threads, size_t max_queue, int max_inline = 0);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // False if the queue is full or Shutdown() was called; the task is then not run.
  bool Submit(std::function<void()> task);
  // Runs the task on the calling thread if fewer tasks than threads are running, fewer than
  // `max_inline` of them on callers' threads, and none is queued (and returns when it is done);
  // otherwise as Submit().
  bool RunOrSubmit(std::function<void()> task);
  // Stops accepting work, runs what is queued, joins the threads. Idempotent.
  void Shutdown();
  size_t queued() const;

 private:
  void Run();

  const std::string name_;
  const size_t max_queue_;
  const size_t slots_;       // tasks that may run at once: the number of threads
  const size_t max_inline_;  // of them, on callers' threads (RunOrSubmit)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;  // on the pool's threads and on callers' (RunOrSubmit)
  size_t running_inline_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace aurora
