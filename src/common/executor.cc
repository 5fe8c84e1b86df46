#include "common/executor.h"

#include <pthread.h>

#include <algorithm>

namespace aurora {

Executor::Executor(std::string name, int threads, size_t max_queue, int max_inline)
    : name_(std::move(name)),
      max_queue_(max_queue),
      slots_(static_cast<size_t>(threads)),
      max_inline_(static_cast<size_t>(std::clamp(max_inline, 0, threads))) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Run(); });
    pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

Executor::~Executor() { Shutdown(); }

bool Executor::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
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
      if (queue_.size() >= max_queue_) return false;
      queue_.push_back(std::move(task));
      lock.unlock();
      cv_.notify_one();
      return true;
    }
    ++running_;
    ++running_inline_;
  }
  task();
  task = nullptr;  // what the closure owns is released before the slot
  {
    std::lock_guard lock(mu_);
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
    task();
    task = nullptr;
    lock.lock();
    --running_;
  }
}

}  // namespace aurora
