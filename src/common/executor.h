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
// The queue can also be bounded in time: with `max_wait` set, a task is queued only while the
// wait it can expect (the tasks ahead of it times the mean run time of recent tasks, over the
// threads) is within `max_wait`, so that under overload the excess is refused at once and what
// is admitted keeps its latency, instead of every call waiting behind a long queue.
//
// Thread-safe.

#include <chrono>
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
  // at most `threads`). `max_wait`: the longest wait a queued task may expect (zero: no bound
  // but `max_queue`).
  Executor(std::string name, int threads, size_t max_queue, int max_inline = 0,
           std::chrono::microseconds max_wait = std::chrono::microseconds(0));
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
  // The mean run time of recent tasks (an exponentially weighted moving average), 0 before the
  // first task has finished.
  std::chrono::microseconds mean_run_time() const;

 private:
  void Run();
  // Whether one more task fits in the queue (under mu_).
  bool QueueHasRoom() const;
  // Adds a finished task's run time to the moving average (under mu_).
  void Finished(std::chrono::steady_clock::duration took);

  const std::string name_;
  const size_t max_queue_;
  const size_t slots_;       // tasks that may run at once: the number of threads
  const size_t max_inline_;  // of them, on callers' threads (RunOrSubmit)
  const double max_wait_us_;  // 0: no bound in time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;  // on the pool's threads and on callers' (RunOrSubmit)
  size_t running_inline_ = 0;
  bool stopping_ = false;
  double mean_run_us_ = 0;  // moving average of the tasks' run times
  std::vector<std::thread> threads_;
};

}  // namespace aurora
