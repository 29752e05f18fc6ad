// Tests of TaskEngine's concurrency: a task in a slow runtime call (a stop waiting out its timeout,
// a pull) never delays another task's pass, more tasks than the old fixed four workers are in
// runtime calls at once, the pool's bound holds, and one image is pulled once for tasks that need
// it at the same time. The runtime's calls block on latches the tests release: no timing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/common/strings.h"
#include "src/agent/sim_runtime.h"
#include "tests/unit/agent/task_engine_fixture.h"

namespace berth::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// Holds the runtime calls a test routes through it until opened, and counts those inside.
class Gate {
 public:
  void Pass() {
    std::unique_lock lock(mu_);
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    --inside_;
  }
  // Waits until `n` calls are inside at once. The deadline only keeps a failing test from hanging.
  bool WaitInside(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return inside_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int max_inside() const {
    std::lock_guard lock(mu_);
    return max_inside_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  int max_inside_ = 0;
  bool open_ = false;
};

class TaskEngineConcurrencyTest : public TaskEngineTest {
 protected:
  // Whatever a test left closed opens before the engine goes: its workers may be in the gate.
  void TearDown() override {
    runtime_.knobs().OnCall(nullptr);
    gate_.Open();
    TaskEngineTest::TearDown();
  }

  Gate gate_;
};

const std::string kSleepTd = Td("sleep", R"([{"name":"app","image":"busybox:1","stopTimeout":120}])");

// Four tasks whose containers ignore SIGTERM are being stopped (each Stop blocks, as a stop that
// waits out its stopTimeout does); a fifth task is launched meanwhile. With the engine's old
// four fixed workers the launch waited for a stop to return: now it reaches RUNNING while the four
// stops are still in the runtime.
TEST_F(TaskEngineConcurrencyTest, ATaskBlockedInStopDoesNotDelayAnotherTasksLaunch) {
  Boot();
  std::vector<std::string> running;
  for (int i = 1; i <= 4; ++i) running.push_back(Task(StrCat("slow", i), "sleep"));
  Apply(Desired(running, {kSleepTd}));
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(Status(StrCat("slow", i)), "RUNNING");

  runtime_.knobs().OnCall([this](const FakeRuntime::Call& call) {
    if (call.op == "Stop") gate_.Pass();
  });
  std::vector<std::string> next;
  for (int i = 1; i <= 4; ++i) next.push_back(Task(StrCat("slow", i), "sleep", "STOPPED", "RUNNING"));
  next.push_back(Task("fast", "sleep"));
  engine_->ApplyDesired(Desired(next, {kSleepTd}));

  ASSERT_TRUE(gate_.WaitInside(4)) << "the four stops did not all begin";
  EXPECT_TRUE(reports_.WaitForStatus(TaskArn("fast"), "RUNNING")) << "the launch waited behind the stops";
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(Status(StrCat("slow", i)), "STOPPING");
  EXPECT_THAT(runtime_.Log(TaskArn("fast")), ElementsAre("Pull busybox:1", "Create app", "Start app"));

  gate_.Open();
  Settle();
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(Status(StrCat("slow", i)), "STOPPED");
  EXPECT_EQ(runtime_.Count("Stop"), 4);
  EXPECT_EQ(Status("fast"), "RUNNING");
}

// Sixteen tasks are created at once: every Create waits until all sixteen are inside the runtime,
// which only happens when sixteen workers run at the same time (the old engine had four).
TEST_F(TaskEngineConcurrencyTest, MoreThanFourTasksAreInRuntimeCallsAtOnce) {
  Boot();
  constexpr int kTasks = 16;
  runtime_.knobs().OnCall([this](const FakeRuntime::Call& call) {
    if (call.op == "Create") gate_.Pass();
  });
  std::vector<std::string> tasks;
  for (int i = 0; i < kTasks; ++i) tasks.push_back(Task(StrCat("t", i), "sleep"));
  engine_->ApplyDesired(Desired(tasks, {kSleepTd}));

  EXPECT_TRUE(gate_.WaitInside(kTasks));
  gate_.Open();
  Settle();
  EXPECT_EQ(gate_.max_inside(), kTasks);
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(Status(StrCat("t", i)), "RUNNING");
}

// max_workers bounds the tasks in runtime calls: with two, a third task's Create begins only
// after one of the first two returned.
TEST_F(TaskEngineConcurrencyTest, MaxWorkersBoundsTheTasksInRuntimeCalls) {
  EngineOptions options = Options();
  options.max_workers = 2;
  Boot(options);
  runtime_.knobs().OnCall([this](const FakeRuntime::Call& call) {
    if (call.op == "Create") gate_.Pass();
  });
  engine_->ApplyDesired(Desired({Task("t1", "sleep"), Task("t2", "sleep"), Task("t3", "sleep")}, {kSleepTd}));

  ASSERT_TRUE(gate_.WaitInside(2));
  gate_.Open();
  Settle();
  EXPECT_EQ(gate_.max_inside(), 2);
  for (const char* t : {"t1", "t2", "t3"}) EXPECT_EQ(Status(t), "RUNNING");
}

// Five tasks of one image arrive while its pull is in progress: the image is pulled once and the
// five tasks share the result. A task reports pullStartedAt under the engine's lock and holds it
// until it waits for the pull, so once all five reports are in, all five are past that point.
TEST_F(TaskEngineConcurrencyTest, OneImageIsPulledOnceForTasksThatNeedItAtOnce) {
  Boot();
  runtime_.knobs().OnCall([this](const FakeRuntime::Call& call) {
    if (call.op == "Pull") gate_.Pass();
  });
  std::vector<std::string> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(Task(StrCat("t", i), "sleep"));
  engine_->ApplyDesired(Desired(tasks, {kSleepTd}));

  ASSERT_TRUE(gate_.WaitInside(1));
  ASSERT_TRUE(reports_.WaitFor([](const std::vector<v1::TaskStateChange>& all) {
    std::set<std::string> pulling;
    for (const auto& r : all) {
      if (r.has_pull_started_at()) pulling.insert(r.task_arn());
    }
    return pulling.size() == 5;
  }));
  gate_.Open();
  Settle();
  EXPECT_EQ(runtime_.Count("Pull"), 1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Status(StrCat("t", i)), "RUNNING");
}

// A failed pull fails every task that waited for it, each with the runtime's message.
TEST_F(TaskEngineConcurrencyTest, ASharedPullThatFailsFailsEveryTaskWaitingForIt) {
  Boot();
  runtime_.knobs().FailPull("busybox:1", "manifest unknown");
  runtime_.knobs().OnCall([this](const FakeRuntime::Call& call) {
    if (call.op == "Pull") gate_.Pass();
  });
  engine_->ApplyDesired(Desired({Task("t1", "sleep"), Task("t2", "sleep"), Task("t3", "sleep")}, {kSleepTd}));
  ASSERT_TRUE(gate_.WaitInside(1));
  ASSERT_TRUE(reports_.WaitFor([](const std::vector<v1::TaskStateChange>& all) {
    std::set<std::string> pulling;
    for (const auto& r : all) {
      if (r.has_pull_started_at()) pulling.insert(r.task_arn());
    }
    return pulling.size() == 3;
  }));
  gate_.Open();
  Settle();
  EXPECT_EQ(runtime_.Count("Pull"), 1);
  for (const char* t : {"t1", "t2", "t3"}) {
    EXPECT_EQ(Status(t), "STOPPED");
    EXPECT_THAT(Snap(t).stopped_reason(),
                HasSubstr("CannotPullContainerError: pull image busybox:1: manifest unknown"));
  }
  EXPECT_EQ(runtime_.Count("Create"), 0);
}

// --- over the sim runtime ---

// Many awsvpc tasks at once over the sim, whose task networks are made concurrently by the
// workers: each gets its own. The sim's containers take "forever" to start (the fake clock does
// not move), so no sim timer calls into the engine and the test sees just the pass of
// ApplyDesired.
TEST(TaskEngineOverSimTest, ConcurrentAwsvpcTasksEachGetTheirNetwork) {
  testutil::FakeClock clock;
  SimRuntime::Options sim_options;
  sim_options.start_delay_seconds = 1e6;
  SimRuntime sim(sim_options, &clock);
  EngineOptions options;
  options.cluster = kCluster;
  options.instance_arn = kInstance;
  options.max_workers = 8;
  {
    TaskEngine engine(options, &sim, &clock, nullptr);
    ASSERT_TRUE(engine.Recover().ok());
    engine.Start();
    std::vector<std::string> tasks;
    for (int i = 0; i < 64; ++i) tasks.push_back(Task(StrCat("s", i), "vpc"));
    engine.ApplyDesired(Desired(tasks, {kVpcTd}));
    engine.WaitIdle();

    std::set<std::string> addresses;
    for (const auto& s : engine.SnapshotAll()) {
      EXPECT_EQ(s.status(), "PENDING") << s.task_arn() << ": " << s.stopped_reason();
      ASSERT_EQ(s.containers_size(), 2);
      ASSERT_EQ(s.containers(0).network_interfaces_size(), 1) << s.task_arn();
      addresses.insert(s.containers(0).network_interfaces(0).private_ipv4_address());
    }
    EXPECT_EQ(addresses.size(), 64u);
  }
  EXPECT_EQ(sim.container_count(), 64u * 3);
}

}  // namespace
}  // namespace berth::agent
