// WorkerPool: runs jobs on threads started on demand, at most `max_threads` of them at once.
//
// The task engine's jobs block in runtime calls (a pull, a stop that waits out a container's stop
// timeout), so a fixed handful of threads lets one slow call hold up every other task. This pool
// starts a thread whenever a job arrives and no thread is free, up to the bound; only past the
// bound do jobs wait, in the order they came. A thread with nothing to do for `idle_timeout`
// exits, so the threads of a burst do not stay.
//
// Thread-safe. Jobs may Submit more jobs. Stop lets the running jobs finish, drops those not
// started, and joins every thread; Submit after Stop drops the job.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace berth::agent {

class WorkerPool {
 public:
  explicit WorkerPool(int max_threads, std::chrono::milliseconds idle_timeout = std::chrono::seconds(30));
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> job);
  void Stop();

  // Threads alive, and how many of them run a job (for tests and logs).
  int threads() const;
  int busy() const;
  int max_threads() const { return max_threads_; }

 private:
  void Loop();
  void ReapLocked();  // joins threads that have exited; lock held

  const int max_threads_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::map<std::thread::id, std::thread> threads_;
  std::vector<std::thread::id> exited_;  // left Loop, not joined yet
  int idle_ = 0;                         // threads waiting for a job
  bool stopping_ = false;
};

}  // namespace berth::agent
