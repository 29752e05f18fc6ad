// The service scheduler against the rules in docs/services.md: the deployment arithmetic, rollouts,
// scaling, draining instances, lost tasks, health checks and the replacement throttle. Most tests
// drive a FakeCluster (fake_cluster.h); the circuit breaker, deletion, steady state and DAEMON
// services are in service_scheduler_lifecycle_test.cc.
#include "berth/scheduler/service_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/common/strings.h"
#include "tests/unit/scheduler/fake_cluster.h"

namespace berth::scheduler {
namespace {

// ---------------------------------------------------------------------------------------------
// Arithmetic and small functions

TEST(DeploymentArithmetic, MinHealthyRoundsUpMaxTotalRoundsDown) {
  struct Row {
    int desired, percent, min_healthy, max_total;
  };
  for (const Row& row : std::vector<Row>{
           {0, 100, 0, 0},
           {1, 0, 0, 0},
           {1, 50, 1, 0},
           {1, 100, 1, 1},
           {1, 150, 2, 1},
           {1, 200, 2, 2},
           {3, 50, 2, 1},
           {3, 67, 3, 2},
           {3, 100, 3, 3},
           {3, 150, 5, 4},
           {5, 60, 3, 3},
           {5, 140, 7, 7},
           {7, 57, 4, 3},
           {7, 150, 11, 10},
           {1000, 100, 1000, 1000},
       }) {
    EXPECT_EQ(MinHealthyTasks(row.desired, row.percent), row.min_healthy) << row.desired << " x " << row.percent;
    EXPECT_EQ(MaxTotalTasks(row.desired, row.percent), row.max_total) << row.desired << " x " << row.percent;
  }
}

TEST(DeploymentArithmetic, CircuitBreakerThreshold) {
  for (auto [desired, threshold] : std::vector<std::pair<int, int>>{
           {0, 10}, {1, 10}, {3, 10}, {20, 10}, {21, 11}, {22, 11}, {100, 50}, {399, 200}, {400, 200}, {1000, 200}}) {
    EXPECT_EQ(CircuitBreakerThreshold(desired), threshold) << desired;
  }
}

TEST(IsFailedStop, Table) {
  struct Row {
    const char* code;
    const char* reason;
    bool failed;
  };
  for (const Row& row : std::vector<Row>{
           {"TaskFailedToStart", "CannotPullContainerError", true},
           {"EssentialContainerExited", "Essential container in task exited", true},
           {"", "", true},
           {"ServiceSchedulerInitiated", kReasonHealthCheck, true},
           {"ServiceSchedulerInitiated", "Scaling activity initiated by (deployment ecs-svc/1)", false},
           {"UserInitiated", "", false},
           {"SpotInterruption", "", false},
           {"TerminationNotice", "", false},
       }) {
    EXPECT_EQ(IsFailedStop(row.code, row.reason), row.failed) << row.code << " / " << row.reason;
  }
}

TEST(AddEvent, NewestFirstBoundedAndDeduplicated) {
  v1::ServiceRecord r;
  Options o;
  o.max_events = 3;
  o.event_repeat_s = 300;
  EXPECT_TRUE(AddEvent(r, "e1", "one", kT0, o));
  EXPECT_TRUE(AddEvent(r, "e2", "two", kT0 + 1, o));
  EXPECT_FALSE(AddEvent(r, "e3", "two", kT0 + 299, o)) << "same as the newest within the window";
  EXPECT_TRUE(AddEvent(r, "e4", "one", kT0 + 2, o)) << "same as an older one: not a repeat";
  EXPECT_TRUE(AddEvent(r, "e5", "one", kT0 + 302, o)) << "the window has passed";
  ASSERT_EQ(r.events_size(), 3);
  EXPECT_EQ(r.events(0).id(), "e5");
  EXPECT_EQ(r.events(0).created_at(), kT0 + 302);
  EXPECT_EQ(r.events(1).id(), "e4");
  EXPECT_EQ(r.events(2).id(), "e2");
}

TEST(StartDeployment, NewPrimaryAndPreviousActive) {
  v1::ServiceRecord r;
  r.mutable_service()->set_desired_count(4);
  r.mutable_service()->set_launch_type("EXTERNAL");
  r.set_family("web");
  r.set_task_definition_revision(7);
  r.set_steady(true);
  StartDeployment(r, "ecs-svc/1", kT0);
  r.set_task_definition_revision(8);
  StartDeployment(r, "ecs-svc/2", kT0 + 5);
  ASSERT_EQ(r.deployments_size(), 2);
  const v1::Deployment& d = r.deployments(0).deployment();
  EXPECT_EQ(d.id(), "ecs-svc/2");
  EXPECT_EQ(d.status(), "PRIMARY");
  EXPECT_EQ(d.desired_count(), 4);
  EXPECT_EQ(d.failed_tasks(), 0);
  EXPECT_EQ(d.created_at(), kT0 + 5);
  EXPECT_EQ(d.updated_at(), kT0 + 5);
  EXPECT_EQ(d.launch_type(), "EXTERNAL");
  EXPECT_EQ(d.rollout_state(), "IN_PROGRESS");
  EXPECT_EQ(d.rollout_state_reason(), "ECS deployment ecs-svc/2 in progress.");
  EXPECT_EQ(r.deployments(0).family(), "web");
  EXPECT_EQ(r.deployments(0).task_definition_revision(), 8u);
  EXPECT_EQ(r.deployments(1).deployment().status(), "ACTIVE");
  EXPECT_EQ(r.deployments(1).task_definition_revision(), 7u);
  EXPECT_FALSE(r.steady());
}

// ---------------------------------------------------------------------------------------------
// Rollouts at the edges of the deployment arithmetic

struct RolloutRow {
  const char* name;
  int desired, min_pct, max_pct;
  int min_healthy, max_total;  // expected arithmetic
  bool completes;              // else: reported stuck
};

// Each row runs twice: tasks without health checks, and tasks with checks (healthy 3 s after
// RUNNING) under spread(zone), spread(instanceId).
class Rollout : public testing::TestWithParam<std::tuple<RolloutRow, bool>> {};

TEST_P(Rollout, BoundsHoldAndRolloutCompletesOrReportsStuck) {
  const auto& [row, checks] = GetParam();
  ASSERT_EQ(MinHealthyTasks(row.desired, row.min_pct), row.min_healthy);
  ASSERT_EQ(MaxTotalTasks(row.desired, row.max_pct), row.max_total);
  FakeCluster c(row.desired, row.min_pct, row.max_pct);
  if (checks) {
    c.healthy_after = 3;
    c.spreads = {Spread::kZone, Spread::kInstance};
  }
  ASSERT_TRUE(c.Settle());
  ASSERT_EQ(c.Primary().rollout_state(), "COMPLETED");
  ASSERT_EQ(c.Healthy(), row.desired);
  const std::string first = c.PrimaryId();
  const std::string second = c.NewDeployment(2);

  auto check = [&](const char* when) {
    EXPECT_GE(c.Healthy(), row.min_healthy) << when << " at +" << c.now - kT0;
    EXPECT_LE(c.Total(), row.max_total) << when << " at +" << c.now - kT0;
  };
  bool stuck = false;
  for (int i = 0; i < 500 && c.Primary().rollout_state() == "IN_PROGRESS"; ++i) {
    c.Run();
    check("after a plan");
    if (c.Events("is unable to make progress") > 0) {
      stuck = true;
      break;
    }
    c.Step();
    check("after a step");
  }
  if (row.completes) {
    EXPECT_FALSE(stuck);
    EXPECT_EQ(c.Primary().id(), second);
    EXPECT_EQ(c.Primary().rollout_state(), "COMPLETED");
    EXPECT_EQ(c.Primary().rollout_state_reason(), StrCat("ECS deployment ", second, " completed."));
    EXPECT_EQ(c.record.deployments_size(), 1);
    EXPECT_EQ(c.record.last_completed().deployment().id(), second);
    EXPECT_EQ(c.OfDeployment(second), row.desired);
    EXPECT_EQ(c.Total(), row.desired);
    EXPECT_EQ(c.Events(StrCat("(service web) (deployment ", second, ") deployment completed.")), 1);
    c.Run();
    EXPECT_TRUE(c.record.steady());
  } else {
    ASSERT_TRUE(stuck);
    EXPECT_EQ(c.Primary().rollout_state(), "IN_PROGRESS");
    EXPECT_EQ(c.OfDeployment(first), row.desired) << "nothing was stopped";
    const std::string numbers = StrCat("desiredCount ", row.desired, " with minimumHealthyPercent ", row.min_pct,
                                       " and maximumPercent ", row.max_pct);
    EXPECT_EQ(c.Events(numbers), 1);
    EXPECT_NE(c.Primary().rollout_state_reason().find("cannot make progress"), std::string::npos);
    EXPECT_NE(c.Primary().rollout_state_reason().find(numbers), std::string::npos);
    // Reconciling later keeps the bounds and does not repeat the event.
    for (int i = 0; i < 5; ++i) {
      c.Step(10);
      EXPECT_TRUE(c.Run().empty());
    }
    EXPECT_EQ(c.Events(numbers), 1);
  }
}

const RolloutRow kRolloutRows[] = {
    {"D0", 0, 100, 200, 0, 0, true},          {"D1_0_100", 1, 0, 100, 0, 1, true},
    {"D1_0_200", 1, 0, 200, 0, 2, true},      {"D1_100_200", 1, 100, 200, 1, 2, true},
    {"D1_50_200", 1, 50, 200, 1, 2, true},    {"D1_100_100", 1, 100, 100, 1, 1, false},
    {"D1_50_100", 1, 50, 100, 1, 1, false},   {"D1_100_150", 1, 100, 150, 1, 1, false},
    {"D2_50_100", 2, 50, 100, 1, 2, true},    {"D2_100_100", 2, 100, 100, 2, 2, false},
    {"D3_0_100", 3, 0, 100, 0, 3, true},      {"D3_50_100", 3, 50, 100, 2, 3, true},
    {"D3_67_100", 3, 67, 100, 3, 3, false},   {"D3_100_150", 3, 100, 150, 3, 4, true},
    {"D3_100_200", 3, 100, 200, 3, 6, true},  {"D5_0_100", 5, 0, 100, 0, 5, true},
    {"D5_60_140", 5, 60, 140, 3, 7, true},    {"D5_100_120", 5, 100, 120, 5, 6, true},
    {"D5_100_100", 5, 100, 100, 5, 5, false}, {"D7_0_100", 7, 0, 100, 0, 7, true},
    {"D7_50_200", 7, 50, 200, 4, 14, true},   {"D7_57_100", 7, 57, 100, 4, 7, true},
    {"D7_100_150", 7, 100, 150, 7, 10, true},
};

INSTANTIATE_TEST_SUITE_P(Edges, Rollout, testing::Combine(testing::ValuesIn(kRolloutRows), testing::Bool()),
                         [](const testing::TestParamInfo<std::tuple<RolloutRow, bool>>& info) {
                           return StrCat(std::get<0>(info.param).name, std::get<1>(info.param) ? "_checks" : "");
                         });

TEST(Rollout, StuckReasonClearsOnceMaximumPercentIsRaised) {
  FakeCluster c(1, 100, 100);
  ASSERT_TRUE(c.Settle());
  const std::string second = c.NewDeployment(2);
  c.Run();
  EXPECT_EQ(c.Events("is unable to make progress"), 1);
  EXPECT_NE(c.Primary().rollout_state_reason().find("cannot make progress"), std::string::npos);
  c.record.mutable_service()->mutable_deployment_configuration()->set_maximum_percent(200);
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 1);
  EXPECT_EQ(c.Primary().rollout_state_reason(), StrCat("ECS deployment ", second, " in progress."));
  EXPECT_TRUE(c.Settle());
  EXPECT_EQ(c.Primary().rollout_state(), "COMPLETED");
}

TEST(Rollout, NewerDeploymentBeforeCompletionStopsOldestFirst) {
  FakeCluster c(2, 100, 200);
  ASSERT_TRUE(c.Settle());
  const std::string first = c.PrimaryId();
  const std::string second = c.NewDeployment(2);
  EXPECT_EQ(c.Run().start, 2);
  c.Step();
  ASSERT_EQ(c.OfDeployment(second), 2);
  // A third deployment before the second completed: two old deployments to replace.
  const std::string third = c.NewDeployment(3);
  ASSERT_EQ(c.record.deployments_size(), 3);
  c.record.mutable_service()->mutable_deployment_configuration()->set_minimum_healthy_percent(50);
  // Total 4 = maximum: nothing starts. 4 healthy, minimum 1: three leavers may go, the first
  // deployment's before the second's.
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 0);
  ASSERT_EQ(plan.stops.size(), 3u);
  EXPECT_EQ(c.Task(plan.stops[0].task_id)->deployment_id, first);
  EXPECT_EQ(c.Task(plan.stops[1].task_id)->deployment_id, first);
  EXPECT_EQ(c.Task(plan.stops[2].task_id)->deployment_id, second);
  EXPECT_EQ(plan.stops[0].reason, StrCat("Scaling activity initiated by (deployment ", third, ")"));
  EXPECT_TRUE(c.Settle());
  EXPECT_EQ(c.OfDeployment(third), 2);
  EXPECT_EQ(c.record.deployments_size(), 1);
}

TEST(Rollout, TasksOfUnknownDeploymentsAreStoppedFirst) {
  FakeCluster c(2, 50, 200);
  ASSERT_TRUE(c.Settle());
  c.NewDeployment(2);
  c.AddTask("i-0", TaskPhase::kRunning, "ecs-svc/0000000000000000001");
  // 3 healthy leavers, minimum 1: two go, the unknown deployment's first.
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 1);
  ASSERT_EQ(plan.stops.size(), 2u);
  EXPECT_EQ(c.Task(plan.stops[0].task_id)->deployment_id, "ecs-svc/0000000000000000001");
  EXPECT_TRUE(c.Settle());
}

TEST(Rollout, ProtectedOldTasksWaitForExpiry) {
  FakeCluster c(2, 0, 100);
  ASSERT_TRUE(c.Settle());
  c.tasks[0].protected_until = c.now + 120;
  const std::string shielded = c.tasks[0].id;
  const std::string second = c.NewDeployment(2);
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_NE(plan.stops[0].task_id, shielded);
  EXPECT_EQ(plan.wake_at, c.now + 120);
  c.Step();
  c.Run();
  c.Step();
  c.Run();
  EXPECT_EQ(c.Primary().rollout_state(), "IN_PROGRESS");
  EXPECT_NE(c.Task(shielded), nullptr);
  c.now += 120;
  plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].task_id, shielded);
  EXPECT_TRUE(c.Settle());
  EXPECT_EQ(c.OfDeployment(second), 2);
}

TEST(Rollout, IdleActiveDeploymentsAreDroppedAtOnce) {
  FakeCluster c(0, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.NewDeployment(2);
  ASSERT_EQ(c.record.deployments_size(), 2);
  Plan plan = c.Run();
  EXPECT_TRUE(plan.record_changed);
  EXPECT_EQ(c.record.deployments_size(), 1);
  EXPECT_EQ(c.Primary().rollout_state(), "COMPLETED");
}

TEST(Rollout, DesiredCountsFollowTheService) {
  FakeCluster c(3, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.NewDeployment(2);
  c.record.mutable_service()->set_desired_count(5);
  c.Run();
  EXPECT_EQ(c.record.deployments(0).deployment().desired_count(), 5);
  EXPECT_EQ(c.record.deployments(1).deployment().desired_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Scale out and in

TEST(Scale, OutWithinMaximumAndInToDesired) {
  FakeCluster c(2, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.record.mutable_service()->set_desired_count(6);
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 4) << "need 4, room 12 - 2";
  EXPECT_TRUE(plan.stops.empty());
  EXPECT_FALSE(c.record.steady());
  ASSERT_TRUE(c.Settle());
  EXPECT_EQ(c.Healthy(), 6);

  c.record.mutable_service()->set_desired_count(4);
  plan = c.Run();
  EXPECT_EQ(plan.start, 0);
  ASSERT_EQ(plan.stops.size(), 2u);
  EXPECT_EQ(plan.stops[0].reason, StrCat("Scaling activity initiated by (deployment ", c.PrimaryId(), ")"));
  EXPECT_EQ(c.Events("(service web) has stopped 2 running tasks: (task "), 1);
  EXPECT_FALSE(c.record.steady());
  c.Step();
  c.Run();
  EXPECT_TRUE(c.record.steady());
  EXPECT_EQ(c.Total(), 4);
}

TEST(Scale, OutLimitedByMaximumPercentCountsStoppingTasks) {
  FakeCluster c(4, 50, 100);
  ASSERT_TRUE(c.Settle());
  // One task is still stopping (a stop the scheduler did not order): it holds a slot in the total.
  c.tasks[0].phase = TaskPhase::kStopping;
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 0) << "3 running + 1 stopping = maximum 4";
  c.Step();
  plan = c.Run();
  EXPECT_EQ(plan.start, 1);
}

TEST(ScaleIn, OrderPendingThenUnhealthyThenNewestHealthy) {
  FakeCluster c(0, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.record.mutable_service()->set_desired_count(5);
  c.record.set_steady(false);
  const std::string old_healthy = c.AddTask("i-0", TaskPhase::kRunning).id;
  c.now += 1;
  const std::string new_healthy = c.AddTask("i-1", TaskPhase::kRunning).id;
  const std::string unhealthy_old = c.AddTask("i-2", TaskPhase::kRunning).id;
  c.Task(unhealthy_old)->health = TaskHealth::kUnknown;
  c.now += 1;
  const std::string pending = c.AddTask("i-0", TaskPhase::kPending).id;
  const std::string healthy_newest = c.AddTask("i-1", TaskPhase::kRunning).id;
  for (auto [desired, expected] : std::vector<std::pair<int, std::vector<std::string>>>{
           {4, {pending}},
           {3, {pending, unhealthy_old}},
           {2, {pending, unhealthy_old, healthy_newest}},
           {1, {pending, unhealthy_old, healthy_newest, new_healthy}},
           {0, {pending, unhealthy_old, healthy_newest, new_healthy, old_healthy}},
       }) {
    v1::ServiceRecord copy = c.record;
    copy.mutable_service()->set_desired_count(desired);
    Plan plan = Reconcile(copy, c.Snapshot(), {}, c.Policy(), c.now, c.options, [] { return std::string("e"); });
    std::vector<std::string> got;
    for (const StopOrder& s : plan.stops) got.push_back(s.task_id);
    EXPECT_EQ(got, expected) << "desired " << desired;
  }
}

TEST(ScaleIn, BalancesAcrossSpreadLevels) {
  FakeCluster c(6, 100, 200, 4);
  c.spreads = {Spread::kZone, Spread::kInstance};
  // Zone a: i-0 (2 tasks), i-2 (1); zone b: i-1 (3), i-3 (0). Equal ages: only balance decides.
  for (const char* i : {"i-0", "i-0", "i-2", "i-1", "i-1", "i-1"}) c.AddTask(i, TaskPhase::kRunning);
  c.Run();
  ASSERT_TRUE(c.Settle());
  c.record.mutable_service()->set_desired_count(3);
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 3u);
  std::map<std::string, int> left;
  for (const ServiceTask& t : c.tasks) {
    if (t.phase != TaskPhase::kStopping) ++left[t.instance_id];
  }
  // Zones tie at 3/3: the fullest instance i-1 gives first (a 3, b 2), then zone a's fullest i-0
  // (a 2, b 2), then i-1 again (instances i-0 1, i-1 2, i-2 1).
  EXPECT_EQ(c.Task(plan.stops[0].task_id)->instance_id, "i-1");
  EXPECT_EQ(c.Task(plan.stops[1].task_id)->instance_id, "i-0");
  EXPECT_EQ(c.Task(plan.stops[2].task_id)->instance_id, "i-1");
  EXPECT_EQ(left, (std::map<std::string, int>{{"i-0", 1}, {"i-1", 1}, {"i-2", 1}}));
}

TEST(ScaleIn, BinpackEmptiesTheLeastUsedInstanceFirst) {
  FakeCluster c(3, 100, 200);
  c.binpack = true;
  c.instances[0].remaining = 100;
  c.instances[1].remaining = 3000;
  c.instances[2].remaining = 900;
  ASSERT_TRUE(c.Settle());
  c.record.mutable_service()->set_desired_count(1);
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 2u);
  EXPECT_EQ(c.Task(plan.stops[0].task_id)->instance_id, "i-1");
  EXPECT_EQ(c.Task(plan.stops[1].task_id)->instance_id, "i-2");
}

TEST(ScaleIn, ProtectedTasksAreSkippedAndWokenAtExpiry) {
  FakeCluster c(3, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.tasks[1].protected_until = c.now + 600;
  c.tasks[2].protected_until = c.now + 300;
  const std::string unprotected = c.tasks[0].id;
  const std::string expires_first = c.tasks[2].id;
  c.record.mutable_service()->set_desired_count(1);
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].task_id, unprotected);
  EXPECT_EQ(plan.wake_at, c.now + 300);
  c.Step();
  EXPECT_TRUE(c.Run().empty()) << "still protected";
  c.now = plan.wake_at;
  plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].task_id, expires_first);
  EXPECT_EQ(plan.wake_at, 0) << "one task left for one desired: the other expiry no longer matters";
}

// ---------------------------------------------------------------------------------------------
// Draining instances

TEST(Draining, TasksAreReplacedThenStoppedWithinMinimumHealthy) {
  FakeCluster c(3, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.Instance("i-0").draining = true;
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 1) << "the replacement comes first";
  EXPECT_TRUE(plan.stops.empty()) << "3 healthy, minimum 3";
  EXPECT_FALSE(c.record.steady());
  c.Step();
  plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(c.Task(plan.stops[0].task_id)->instance_id, "i-0");
  EXPECT_EQ(plan.stops[0].reason, "Task stopped because container instance i-0 is DRAINING");
  EXPECT_TRUE(c.Settle());
  EXPECT_EQ(c.Count([](const ServiceTask& t) { return t.instance_id == "i-0"; }), 0);
  EXPECT_EQ(c.Healthy(), 3);
  EXPECT_EQ(c.Events("has reached a steady state."), 2);
}

TEST(Draining, BlocksCompletionUntilTheTaskMoved) {
  FakeCluster c(2, 100, 200);
  c.Instance("i-0").draining = true;
  c.AddTask("i-0", TaskPhase::kRunning);
  c.AddTask("i-1", TaskPhase::kRunning);
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 1);
  EXPECT_EQ(c.Primary().rollout_state(), "IN_PROGRESS");
  ASSERT_TRUE(c.Settle());
  EXPECT_EQ(c.Primary().rollout_state(), "COMPLETED");
}

// ---------------------------------------------------------------------------------------------
// Disconnect policy: lost tasks

TEST(Lost, ReplacedAfterThresholdThenNewestTrimmedWhenTheAgentReturns) {
  FakeCluster c(3, 100, 200);
  c.record.mutable_service()->set_lost_after_seconds(60);
  ASSERT_TRUE(c.Settle());
  const std::string on_lost = c.tasks[0].id;
  ASSERT_EQ(c.tasks[0].instance_id, "i-0");
  c.Disconnect("i-0");
  const double disconnected = c.now;
  c.Step(30);
  Plan plan = c.Run();
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.wake_at, disconnected + 60);
  c.now = disconnected + 60;
  plan = c.Run();
  EXPECT_EQ(plan.start, 1);
  EXPECT_TRUE(plan.stops.empty()) << "lost tasks are never stopped";
  EXPECT_EQ(c.Events("(service web) 1 task on container instance i-0 is lost: disconnected for more than 60 s; "
                     "replacing it."),
            1);
  c.Step();
  c.Run();
  EXPECT_TRUE(c.record.steady()) << "3 healthy countable tasks";
  c.Step(10);
  c.Run();
  EXPECT_EQ(c.Events("is lost"), 1) << "not repeated within the event window";
  const std::string replacement = c.tasks.back().id;
  ASSERT_NE(replacement, on_lost);

  c.Reconnect("i-0");
  plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].task_id, replacement) << "the returning (older) task stays";
  EXPECT_TRUE(c.Settle());
  EXPECT_NE(c.Task(on_lost), nullptr);
  EXPECT_EQ(c.Total(), 3);
}

TEST(Lost, OneEventCountsTheTasksOfEveryLostInstance) {
  FakeCluster c(4, 100, 200, 2);
  c.record.mutable_service()->set_lost_after_seconds(90);
  ASSERT_TRUE(c.Settle());
  c.Disconnect("i-0");
  c.Step(90);
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 2);
  EXPECT_EQ(c.Events("(service web) 2 tasks on container instance i-0 are lost: disconnected for more than 90 s; "
                     "replacing them."),
            1);
}

TEST(Lost, OneEventForSeveralInstances) {
  FakeCluster c(6, 100, 200, 3);
  c.record.mutable_service()->set_lost_after_seconds(90);
  ASSERT_TRUE(c.Settle());
  c.Disconnect("i-0");
  c.Disconnect("i-1");
  c.Step(90);
  c.Run();
  EXPECT_EQ(c.Events("lost"), 1);
  EXPECT_EQ(c.Events("(service web) 4 tasks on 2 container instances (i-0 and others) are lost: disconnected for "
                     "more than 90 s; replacing them."),
            1);
}

TEST(Lost, OffByDefault) {
  FakeCluster c(2, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.Disconnect("i-0");
  c.Step(100000);
  Plan plan = c.Run();
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.wake_at, 0);
}

TEST(Lost, DoNotBlockCompletion) {
  FakeCluster c(2, 0, 100);
  c.record.mutable_service()->set_lost_after_seconds(60);
  ASSERT_TRUE(c.Settle());
  const std::string first = c.PrimaryId();
  c.Disconnect("i-0");
  c.Step(61);
  c.NewDeployment(2);
  ASSERT_TRUE(c.Settle());
  EXPECT_EQ(c.record.deployments_size(), 1);
  EXPECT_EQ(c.OfDeployment(first), 1) << "the lost task stays desired RUNNING";
  // Back: its deployment is gone from the list, so it is a leaver of an unknown deployment.
  c.Reconnect("i-0");
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(c.Task(plan.stops[0].task_id)->deployment_id, first);
}

// ---------------------------------------------------------------------------------------------
// Health checks

TEST(Health, UnhealthyStoppedAfterGracePeriodAndCountedAsFailure) {
  FakeCluster c(2, 50, 200);
  c.record.mutable_service()->set_health_check_grace_period_seconds(30);
  c.start_health = TaskHealth::kUnknown;
  c.Run();
  c.Step();
  for (ServiceTask& t : c.tasks) t.health = TaskHealth::kHealthy;
  c.Run();
  ASSERT_TRUE(c.record.steady());
  ServiceTask& sick = c.tasks[0];
  sick.health = TaskHealth::kUnhealthy;
  const double started = sick.started_at;
  c.now = started + 10;
  Plan plan = c.Run();
  EXPECT_TRUE(plan.empty()) << "within the grace period";
  EXPECT_EQ(plan.wake_at, started + 30);
  c.now = started + 30;
  plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].reason, kReasonHealthCheck);
  EXPECT_EQ(plan.start, 1) << "room 4 - 2 (the stopping task counts)";
  c.Step();
  EXPECT_EQ(c.record.consecutive_failures(), 1);
  EXPECT_EQ(c.Primary().failed_tasks(), 1);
}

TEST(Health, ProtectionDoesNotShieldUnhealthyTasks) {
  FakeCluster c(1, 0, 100);
  ASSERT_TRUE(c.Settle());
  c.tasks[0].protected_until = c.now + 3600;
  c.tasks[0].health = TaskHealth::kUnhealthy;
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.start, 0) << "maximum 1: the stopping task holds the slot";
  c.Step();
  EXPECT_EQ(c.Run().start, 1);
}

TEST(Health, UnknownHealthIsNotHealthy) {
  FakeCluster c(2, 100, 200);
  c.start_health = TaskHealth::kUnknown;
  c.Run();
  c.Step();
  c.Run();
  EXPECT_FALSE(c.record.steady());
  EXPECT_EQ(c.Primary().rollout_state(), "IN_PROGRESS");
  for (ServiceTask& t : c.tasks) t.health = TaskHealth::kHealthy;
  c.Run();
  EXPECT_TRUE(c.record.steady());
  EXPECT_EQ(c.Primary().rollout_state(), "COMPLETED");
}

// ---------------------------------------------------------------------------------------------
// Replacement throttle

TEST(Throttle, DelayGrowsAndIsCapped) {
  FakeCluster c(1, 100, 200);
  const std::vector<double> delays = {0, 0, 0, 10, 20, 40, 80, 160, 320, 640, 900, 900, 900};
  for (size_t i = 0; i < delays.size(); ++i) {
    ServiceTask t;
    t.id = StrCat("f", i);
    t.deployment_id = c.PrimaryId();
    c.Stopped(t, kFailedToStart, "");
    EXPECT_EQ(c.record.consecutive_failures(), static_cast<int>(i + 1));
    EXPECT_EQ(c.record.last_failure_at(), c.now);
    EXPECT_EQ(c.record.launch_not_before() - c.now, delays[i]) << "failure " << i + 1;
    c.now += 1;
  }
}

TEST(Throttle, BlocksStartsUntilExpiryThenResetsOnceStable) {
  FakeCluster c(1, 0, 200);
  c.failing.insert(c.PrimaryId());
  c.options.free_retries = 1;
  c.Run();
  c.Step();  // failure 1: free
  EXPECT_EQ(c.Run().start, 1);
  c.Step();  // failure 2: 10 s
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 0);
  EXPECT_EQ(plan.wake_at, c.record.launch_not_before());
  EXPECT_EQ(c.record.launch_not_before(), c.now + 10);
  c.failing.clear();
  c.now = plan.wake_at;
  EXPECT_EQ(c.Run().start, 1);
  c.Step();  // running and healthy
  const double started = c.now;
  plan = c.Run();
  EXPECT_EQ(c.record.consecutive_failures(), 2) << "not yet stable";
  EXPECT_EQ(plan.wake_at, started + c.options.stable_after_s);
  c.now = started + c.options.stable_after_s;
  plan = c.Run();
  EXPECT_TRUE(plan.record_changed);
  EXPECT_EQ(c.record.consecutive_failures(), 0);
  EXPECT_EQ(c.record.launch_not_before(), 0);
  EXPECT_GT(c.record.last_failure_at(), 0) << "kept";
}

TEST(Throttle, UserAndSchedulerStopsAreNotFailures) {
  FakeCluster c(1, 100, 200);
  ServiceTask t;
  t.id = "x";
  t.deployment_id = c.PrimaryId();
  for (const char* code : {"UserInitiated", "SpotInterruption", "TerminationNotice"}) c.Stopped(t, code, "");
  c.Stopped(t, kStopCodeScheduler, "Scaling activity initiated by (deployment x)");
  EXPECT_EQ(c.record.consecutive_failures(), 0);
  EXPECT_EQ(c.Primary().failed_tasks(), 0);
  // Another service's task is ignored.
  v1::TaskRecord other;
  other.set_service("api");
  other.set_deployment_id(c.PrimaryId());
  other.mutable_task()->set_stop_code(kFailedToStart);
  EXPECT_FALSE(OnTaskStopped(c.record, other, c.now, c.options, "ecs-svc/9"));
  EXPECT_EQ(c.record.consecutive_failures(), 0);
}

}  // namespace
}  // namespace berth::scheduler
