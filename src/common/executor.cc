#include "common/executor.h"

#include <pthread.h>

#include <algorithm>

namespace aurora {

namespace {

// The weight of the newest task in the moving average of run times: about the last 30 tasks.
constexpr double kRunTimeWeight = 1.0 / 32;

}  // namespace

Executor::Executor(std::string name, int threads, size_t max_queue, int max_inline,
                   std::chrono::microseconds max_wait)
    : name_(std::move(name)),
      max_queue_(max_queue),
      slots_(static_cast<size_t>(threads)),
      max_inline_(static_cast<size_t>(std::clamp(max_inline, 0, threads))),
      max_wait_us_(static_cast<double>(std::max<int64_t>(0, max_wait.count()))) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Run(); });
    pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

Executor::~Executor() { Shutdown(); }

bool Executor::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !QueueHasRoom()) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void Executor::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) thread.join();
  }
  std::lock_guard lock(mu_);
  threads_.clear();
}

bool Executor::RunOrSubmit(std::function<void()> task) {
  {
    std::unique_lock lock(mu_);
    if (stopping_) return false;
    if (!queue_.empty() || running_ >= slots_ || running_inline_ >= max_inline_) {
      if (!QueueHasRoom()) return false;
      queue_.push_back(std::move(task));
      lock.unlock();
      cv_.notify_one();
      return true;
    }
    ++running_;
    ++running_inline_;
  }
  const auto start = std::chrono::steady_clock::now();
  task();
  task = nullptr;  // what the closure owns is released before the slot
  const auto took = std::chrono::steady_clock::now() - start;
  {
    std::lock_guard lock(mu_);
    Finished(took);
    --running_;
    --running_inline_;
  }
  cv_.notify_one();  // a queued task may be waiting for the slot
  return true;
}

size_t Executor::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::chrono::microseconds Executor::mean_run_time() const {
  std::lock_guard lock(mu_);
  return std::chrono::microseconds(static_cast<int64_t>(mean_run_us_));
}

bool Executor::QueueHasRoom() const {
  if (queue_.size() >= max_queue_) return false;
  if (max_wait_us_ <= 0 || slots_ == 0) return true;
  // The new task starts once the tasks ahead of it have run, `slots_` at a time.
  const double expected_wait_us =
      static_cast<double>(queue_.size() + 1) * mean_run_us_ / static_cast<double>(slots_);
  return expected_wait_us <= max_wait_us_;
}

void Executor::Finished(std::chrono::steady_clock::duration took) {
  const double us = std::chrono::duration<double, std::micro>(took).count();
  mean_run_us_ = mean_run_us_ == 0 ? us : mean_run_us_ + kRunTimeWeight * (us - mean_run_us_);
}

void Executor::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    // A queued task waits for a free slot (when stopping, the queue is drained regardless).
    cv_.wait(lock,
             [this] { return queue_.empty() ? stopping_ : (running_ < slots_ || stopping_); });
    if (queue_.empty()) return;  // stopping and drained
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    const auto start = std::chrono::steady_clock::now();
    task();
    task = nullptr;
    const auto took = std::chrono::steady_clock::now() - start;
    lock.lock();
    Finished(took);
    --running_;
  }
}

}  // namespace aurora
