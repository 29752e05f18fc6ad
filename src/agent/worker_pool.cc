#include "src/agent/worker_pool.h"

#include <algorithm>
#include <utility>

namespace berth::agent {

WorkerPool::WorkerPool(int max_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(std::max(1, max_threads)), idle_timeout_(idle_timeout) {}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Submit(std::function<void()> job) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  ReapLocked();
  queue_.push_back(std::move(job));
  // A waiting thread takes it; otherwise a new one does, while under the bound.
  if (idle_ >= static_cast<int>(queue_.size())) {
    cv_.notify_one();
    return;
  }
  if (static_cast<int>(threads_.size()) < max_threads_) {
    std::thread thread([this] { Loop(); });
    const std::thread::id id = thread.get_id();
    threads_.emplace(id, std::move(thread));
  }
}

void WorkerPool::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    const bool woken = cv_.wait_for(lock, idle_timeout_, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (stopping_) return;  // Stop joins this thread
    if (!woken) {
      // Idle for long enough: leave; the next Submit (or Stop) joins this thread.
      exited_.push_back(std::this_thread::get_id());
      return;
    }
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // whatever the job holds is released outside the lock
    lock.lock();
  }
}

void WorkerPool::ReapLocked() {
  // A thread is in exited_ only after it let go of the lock for the last time: joining it here
  // waits for nothing but its return.
  for (const std::thread::id& id : exited_) {
    auto it = threads_.find(id);
    if (it == threads_.end()) continue;
    it->second.join();
    threads_.erase(it);
  }
  exited_.clear();
}

void WorkerPool::Stop() {
  std::map<std::thread::id, std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
    threads.swap(threads_);
    exited_.clear();
  }
  cv_.notify_all();
  for (auto& [id, thread] : threads) thread.join();
}

int WorkerPool::threads() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size() - exited_.size());
}

int WorkerPool::busy() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size() - exited_.size()) - idle_;
}

}  // namespace berth::agent
