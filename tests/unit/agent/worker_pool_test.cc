// WorkerPool: threads start on demand up to the bound, past it jobs wait their turn, idle threads
// exit. Jobs block on a gate the test opens: no timing, except the deadline of a wait for idle
// threads to leave, which only keeps a failing test from hanging.
#include "src/agent/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace berth::agent {
namespace {

class Gate {
 public:
  void Pass() {
    std::unique_lock lock(mu_);
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    --inside_;
    ++passed_;
    cv_.notify_all();
  }
  bool WaitInside(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return inside_ >= n; });
  }
  bool WaitPassed(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return passed_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int max_inside() {
    std::lock_guard lock(mu_);
    return max_inside_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0, max_inside_ = 0, passed_ = 0;
  bool open_ = false;
};

TEST(WorkerPoolTest, StartsAThreadPerWaitingJobUpToTheBound) {
  Gate gate;
  WorkerPool pool(3);
  for (int i = 0; i < 5; ++i) pool.Submit([&gate] { gate.Pass(); });
  ASSERT_TRUE(gate.WaitInside(3));
  EXPECT_EQ(pool.threads(), 3);
  EXPECT_EQ(pool.busy(), 3);
  gate.Open();
  ASSERT_TRUE(gate.WaitPassed(5));
  EXPECT_EQ(gate.max_inside(), 3);
  EXPECT_LE(pool.threads(), 3);
}

TEST(WorkerPoolTest, AJobCanSubmitAnother) {
  Gate gate;
  gate.Open();
  WorkerPool pool(1);
  pool.Submit([&] { pool.Submit([&gate] { gate.Pass(); }); });
  EXPECT_TRUE(gate.WaitPassed(1));
}

TEST(WorkerPoolTest, IdleThreadsExit) {
  Gate gate;
  gate.Open();
  WorkerPool pool(4, std::chrono::milliseconds(1));
  for (int i = 0; i < 4; ++i) pool.Submit([&gate] { gate.Pass(); });
  ASSERT_TRUE(gate.WaitPassed(4));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (pool.threads() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(pool.threads(), 0);
  // And new ones start for the next job (the exited ones are joined on the way).
  pool.Submit([&gate] { gate.Pass(); });
  EXPECT_TRUE(gate.WaitPassed(5));
}

TEST(WorkerPoolTest, StopWaitsForTheRunningJobAndLaterJobsAreDropped) {
  Gate gate;
  std::atomic<int> ran{0};
  WorkerPool pool(1);
  pool.Submit([&] {
    gate.Pass();
    ++ran;
  });
  ASSERT_TRUE(gate.WaitInside(1));
  std::thread opener([&gate] { gate.Open(); });
  pool.Stop();  // returns once the job left the gate and finished
  opener.join();
  EXPECT_EQ(ran.load(), 1);
  pool.Submit([&] { ++ran; });
  EXPECT_EQ(pool.threads(), 0);
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace berth::agent
