// The service scheduler against the rules in docs/services.md: the circuit breaker, deletion, the
// steady state, idempotence and DAEMON services, driven through a FakeCluster (fake_cluster.h).
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
// Circuit breaker

void EnableBreaker(FakeCluster& c, bool rollback) {
  auto* b = c.record.mutable_service()->mutable_deployment_configuration()->mutable_deployment_circuit_breaker();
  b->set_enable(true);
  b->set_rollback(rollback);
}

TEST(CircuitBreaker, TripsExactlyAtThreshold) {
  for (auto [desired, threshold] : std::vector<std::pair<int, int>>{{1, 10}, {3, 10}, {41, 21}, {1000, 200}}) {
    FakeCluster c(desired, 100, 200);
    EnableBreaker(c, false);
    ServiceTask t;
    t.deployment_id = c.PrimaryId();
    for (int i = 1; i < threshold; ++i) {
      t.id = StrCat("f", i);
      c.Stopped(t, "EssentialContainerExited", "");
    }
    EXPECT_EQ(c.Primary().failed_tasks(), threshold - 1);
    EXPECT_EQ(c.Primary().rollout_state(), "IN_PROGRESS") << desired;
    t.id = "last";
    c.Stopped(t, "EssentialContainerExited", "");
    EXPECT_EQ(c.Primary().rollout_state(), "FAILED") << desired;
    EXPECT_EQ(c.Primary().rollout_state_reason(), "ECS deployment circuit breaker: tasks failed to start.");
    // Stragglers count against the deployment, not the throttle.
    const int failures = c.record.consecutive_failures();
    t.id = "straggler";
    c.Stopped(t, kFailedToStart, "");
    EXPECT_EQ(c.Primary().failed_tasks(), threshold + 1);
    EXPECT_EQ(c.record.consecutive_failures(), failures);
  }
}

TEST(CircuitBreaker, FailedWithoutRollbackStopsLaunchingAndKeepsOldTasks) {
  FakeCluster c(3, 100, 200);
  EnableBreaker(c, false);
  c.options.free_retries = 1000;
  ASSERT_TRUE(c.Settle());
  const std::string first = c.PrimaryId();
  const std::string second = c.NewDeployment(2);
  c.failing.insert(second);
  for (int i = 0; i < 50 && c.Primary().rollout_state() == "IN_PROGRESS"; ++i) {
    c.Run();
    c.Step();
  }
  EXPECT_EQ(c.Primary().rollout_state(), "FAILED");
  // Tasks in flight when it tripped still count; none started after.
  EXPECT_GE(c.Primary().failed_tasks(), 10);
  EXPECT_LT(c.Primary().failed_tasks(), 10 + 3);
  EXPECT_EQ(c.Events(StrCat("(service web) (deployment ", second, ") deployment failed: tasks failed to start.")), 1);
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 0);
  EXPECT_TRUE(plan.stops.empty());
  EXPECT_EQ(c.OfDeployment(first), 3);
  c.Step(1000);
  EXPECT_TRUE(c.Run().empty());
  EXPECT_EQ(c.Events("unable to make progress"), 0) << "a failed rollout is not stuck";
}

TEST(CircuitBreaker, FailedStillHandlesHealthAndScaleIn) {
  FakeCluster c(3, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.record.mutable_deployments(0)->mutable_deployment()->set_rollout_state("FAILED");
  c.tasks[0].health = TaskHealth::kUnhealthy;
  c.record.mutable_service()->set_desired_count(1);
  Plan plan = c.Run();
  EXPECT_EQ(plan.start, 0);
  ASSERT_EQ(plan.stops.size(), 2u);
  EXPECT_EQ(plan.stops[0].reason, kReasonHealthCheck);
  EXPECT_EQ(plan.stops[1].reason, StrCat("Scaling activity initiated by (deployment ", c.PrimaryId(), ")"));
}

TEST(CircuitBreaker, RollsBackToLastCompleted) {
  FakeCluster c(3, 100, 200);
  EnableBreaker(c, true);
  c.options.free_retries = 2;
  ASSERT_TRUE(c.Settle());
  const std::string first = c.PrimaryId();
  const std::string second = c.NewDeployment(2);
  c.record.set_family("web-v2");
  c.failing.insert(second);
  for (int i = 0; i < 100 && c.PrimaryId() == second; ++i) {
    Plan plan = c.Run();
    if (plan.empty() && plan.wake_at > c.now) c.now = plan.wake_at - 1;  // wait out the backoff
    c.Step();
  }
  ASSERT_NE(c.PrimaryId(), second);
  const std::string third = c.PrimaryId();
  ASSERT_EQ(c.record.deployments_size(), 3);
  EXPECT_EQ(c.record.deployments(1).deployment().id(), second);
  EXPECT_EQ(c.record.deployments(1).deployment().status(), "ACTIVE");
  EXPECT_EQ(c.record.deployments(1).deployment().rollout_state(), "FAILED");
  EXPECT_GE(c.record.deployments(1).deployment().failed_tasks(), 10);
  EXPECT_EQ(c.record.family(), "web");
  EXPECT_EQ(c.record.task_definition_revision(), 1u);
  EXPECT_EQ(c.record.deployments(0).task_definition_revision(), 1u);
  EXPECT_EQ(c.Primary().rollout_state(), "IN_PROGRESS");
  EXPECT_EQ(c.record.consecutive_failures(), 0);
  EXPECT_EQ(c.record.launch_not_before(), 0);
  EXPECT_EQ(c.Events(StrCat("(service web) (deployment ", second, ") rolling back to deployment ", first, ".")), 1);
  EXPECT_EQ(c.Run().start, 3) << "the rollback launches at once";
  ASSERT_TRUE(c.Settle());
  EXPECT_EQ(c.PrimaryId(), third);
  EXPECT_EQ(c.record.deployments_size(), 1);
  EXPECT_EQ(c.OfDeployment(third), 3);
}

TEST(CircuitBreaker, NoRollbackTargetLeavesTheDeploymentFailed) {
  FakeCluster c(1, 100, 200);
  EnableBreaker(c, true);
  ServiceTask t;
  t.deployment_id = c.PrimaryId();
  for (int i = 0; i < 10; ++i) {
    t.id = StrCat("f", i);
    c.Stopped(t, kFailedToStart, "");
  }
  EXPECT_EQ(c.record.deployments_size(), 1);
  EXPECT_EQ(c.Primary().rollout_state(), "FAILED");
}

TEST(CircuitBreaker, FailuresOfOldDeploymentsAreCountedButDoNotTrip) {
  FakeCluster c(1, 100, 200);
  EnableBreaker(c, false);
  const std::string first = c.PrimaryId();
  c.NewDeployment(2);
  ServiceTask t;
  t.deployment_id = first;
  for (int i = 0; i < 12; ++i) {
    t.id = StrCat("f", i);
    c.Stopped(t, kFailedToStart, "");
  }
  EXPECT_EQ(c.record.deployments(1).deployment().failed_tasks(), 12);
  EXPECT_EQ(c.record.deployments(1).deployment().rollout_state(), "IN_PROGRESS");
  EXPECT_EQ(c.Primary().failed_tasks(), 0);
}

// ---------------------------------------------------------------------------------------------
// Deletion, steady state, idempotence

TEST(Deletion, StopsEverythingThenBecomesInactive) {
  FakeCluster c(3, 100, 200);
  ASSERT_TRUE(c.Settle());
  c.tasks[0].phase = TaskPhase::kStopping;
  c.record.mutable_service()->set_status("DRAINING");
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 2u);
  EXPECT_EQ(plan.stops[0].reason, "Service is being deleted");
  EXPECT_EQ(c.Events("has stopped 2 running tasks"), 1);
  EXPECT_EQ(c.record.service().status(), "DRAINING");
  c.Step();
  plan = c.Run();
  EXPECT_TRUE(plan.record_changed);
  EXPECT_EQ(c.record.service().status(), "INACTIVE");
  EXPECT_EQ(c.record.deleted_at(), c.now);
  plan = c.Run();
  EXPECT_TRUE(plan.empty());
  EXPECT_FALSE(plan.record_changed);
}

TEST(Deletion, LostTasksDoNotHoldTheServiceDraining) {
  FakeCluster c(3, 100, 200);
  c.record.mutable_service()->set_lost_after_seconds(60);
  ASSERT_TRUE(c.Settle());
  c.Disconnect("i-0");
  c.record.mutable_service()->set_status("DRAINING");
  Plan plan = c.Run();
  EXPECT_EQ(plan.stops.size(), 3u) << "every task is told to stop, the unreachable one too";
  c.Step();
  c.Run();
  EXPECT_EQ(c.record.service().status(), "DRAINING") << "its agent may still return within lostAfterSeconds";
  c.Step(60);
  c.Run();
  EXPECT_EQ(c.record.service().status(), "INACTIVE") << "a lost task does not wait for an agent that may never return";
}

TEST(Steady, EventOnlyOnTransition) {
  FakeCluster c(2, 100, 200);
  ASSERT_TRUE(c.Settle());
  EXPECT_EQ(c.Events("(service web) has reached a steady state."), 1);
  for (int i = 0; i < 3; ++i) {
    c.Step(1000);
    EXPECT_FALSE(c.Run().record_changed);
  }
  EXPECT_EQ(c.Events("has reached a steady state."), 1);
  c.record.mutable_service()->set_desired_count(3);
  c.Run();
  EXPECT_FALSE(c.record.steady());
  ASSERT_TRUE(c.Settle());
  EXPECT_EQ(c.Events("has reached a steady state."), 2);
}

TEST(Idempotence, SameSnapshotSamePlanAndAppliedPlanIsFinal) {
  FakeCluster c(4, 50, 150);
  c.spreads = {Spread::kZone};
  ASSERT_TRUE(c.Settle());
  c.NewDeployment(2);
  c.record.mutable_service()->set_desired_count(3);
  const v1::ServiceRecord before = c.record;
  Plan first = c.Decide();
  v1::ServiceRecord after_first = c.record;
  c.record = before;
  Plan second = c.Decide();
  EXPECT_EQ(first.start, second.start);
  EXPECT_EQ(c.StoppedIds(first), c.StoppedIds(second));
  c.Apply(second);
  v1::ServiceRecord copy = c.record;
  Plan third = Reconcile(copy, c.Snapshot(), {}, c.Policy(), c.now, c.options, [] { return std::string("x"); });
  EXPECT_TRUE(third.empty());
  EXPECT_FALSE(third.record_changed);
}

TEST(Reconcile, InactiveServiceIsLeftAlone) {
  FakeCluster c(2, 100, 200);
  c.record.mutable_service()->set_status("INACTIVE");
  c.AddTask("i-0", TaskPhase::kRunning);
  Plan plan = c.Decide();
  EXPECT_TRUE(plan.empty());
  EXPECT_FALSE(plan.record_changed);
}

// ---------------------------------------------------------------------------------------------
// DAEMON

FakeCluster Daemon(int instances, int min_pct) { return FakeCluster(0, min_pct, 100, instances, "DAEMON"); }

TEST(Daemon, OneTaskPerEligibleInstanceAndNewInstancesGetOne) {
  FakeCluster c = Daemon(2, 0);
  Plan plan = c.Run();
  EXPECT_EQ(plan.start_on, (std::vector<std::string>{"i-0", "i-1"}));
  EXPECT_EQ(plan.start, 0);
  EXPECT_EQ(c.record.service().desired_count(), 2);
  EXPECT_EQ(c.Primary().desired_count(), 2);
  ASSERT_TRUE(c.Settle());
  EXPECT_EQ(c.Primary().rollout_state(), "COMPLETED");
  c.AddInstance();
  plan = c.Run();
  EXPECT_EQ(plan.start_on, (std::vector<std::string>{"i-2"}));
  EXPECT_EQ(c.record.service().desired_count(), 3);
  EXPECT_FALSE(c.record.steady());
  EXPECT_TRUE(c.Settle());
}

TEST(Daemon, IneligibleAndRemovedInstancesLoseTheirTask) {
  FakeCluster c = Daemon(3, 100);
  ASSERT_TRUE(c.Settle());
  c.Instance("i-1").draining = true;
  c.Instance("i-2").eligible = false;
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 2u) << "regardless of minimumHealthyPercent";
  EXPECT_EQ(plan.stops[0].reason,
            "Task stopped because container instance i-1 is DRAINING or no longer satisfies the service's placement "
            "constraints");
  EXPECT_EQ(c.record.service().desired_count(), 1);
  c.instances.erase(c.instances.begin());
  plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].reason, "Task stopped because container instance i-0 is no longer in the cluster");
  EXPECT_EQ(c.record.service().desired_count(), 0);
  EXPECT_TRUE(c.Settle());
  EXPECT_EQ(c.Total(), 0);
}

TEST(Daemon, DuplicatesKeepPrimaryThenHealthyThenOldest) {
  FakeCluster c = Daemon(3, 0);
  const std::string first = c.PrimaryId();
  const std::string old_on_0 = c.AddTask("i-0", TaskPhase::kRunning, "ecs-svc/0").id;
  c.now += 1;
  const std::string keep_0 = c.AddTask("i-0", TaskPhase::kRunning).id;
  const std::string keep_1 = c.AddTask("i-1", TaskPhase::kRunning).id;
  c.now += 1;
  const std::string newer_1 = c.AddTask("i-1", TaskPhase::kRunning).id;
  const std::string pending_2 = c.AddTask("i-2", TaskPhase::kPending).id;
  const std::string keep_2 = c.AddTask("i-2", TaskPhase::kRunning).id;
  Plan plan = c.Run();
  EXPECT_EQ(c.StoppedIds(plan), (std::set<std::string>{old_on_0, newer_1, pending_2}));
  EXPECT_TRUE(plan.start_on.empty());
  EXPECT_NE(c.Task(keep_0), nullptr);
  EXPECT_NE(c.Task(keep_1), nullptr);
  EXPECT_NE(c.Task(keep_2), nullptr);
  EXPECT_TRUE(c.Settle());
  EXPECT_EQ(c.OfDeployment(first), 3);
}

TEST(Daemon, RolloutReplacesOneInstanceAtATimeWithinMinimumHealthy) {
  FakeCluster c = Daemon(4, 75);
  ASSERT_TRUE(c.Settle());
  const std::string second = c.NewDeployment(2);
  const int min_healthy = MinHealthyTasks(4, 75);
  ASSERT_EQ(min_healthy, 3);
  int max_stops = 0;
  for (int i = 0; i < 100 && c.Primary().rollout_state() == "IN_PROGRESS"; ++i) {
    Plan plan = c.Run();
    max_stops = std::max(max_stops, static_cast<int>(plan.stops.size()));
    EXPECT_GE(c.Healthy(), min_healthy);
    EXPECT_LE(c.Total(), 4);
    c.Step();
    EXPECT_GE(c.Healthy(), min_healthy);
  }
  EXPECT_EQ(max_stops, 1);
  EXPECT_EQ(c.Primary().rollout_state(), "COMPLETED");
  EXPECT_EQ(c.OfDeployment(second), 4);
  EXPECT_EQ(c.record.deployments_size(), 1);
}

TEST(Daemon, MinimumHundredPercentIsReportedStuck) {
  FakeCluster c = Daemon(2, 100);
  ASSERT_TRUE(c.Settle());
  c.NewDeployment(2);
  Plan plan = c.Run();
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(c.Events("desiredCount 2 with minimumHealthyPercent 100"), 1);
  EXPECT_NE(c.Primary().rollout_state_reason().find("cannot make progress"), std::string::npos);
}

TEST(Daemon, DisconnectedOrThrottledInstancesGetNoTask) {
  FakeCluster c = Daemon(2, 0);
  c.Disconnect("i-1");
  c.record.set_launch_not_before(c.now + 50);
  Plan plan = c.Run();
  EXPECT_TRUE(plan.start_on.empty());
  EXPECT_EQ(plan.wake_at, c.now + 50);
  c.now += 50;
  plan = c.Run();
  EXPECT_EQ(plan.start_on, (std::vector<std::string>{"i-0"}));
  c.Step();
  c.Run();
  EXPECT_TRUE(c.record.steady()) << "the disconnected instance does not count";
}

TEST(Daemon, UnhealthyTaskIsReplacedOnItsInstance) {
  FakeCluster c = Daemon(2, 0);
  c.record.mutable_service()->set_health_check_grace_period_seconds(10);
  ASSERT_TRUE(c.Settle());
  c.tasks[1].health = TaskHealth::kUnhealthy;
  const std::string instance = c.tasks[1].instance_id;
  c.now = c.tasks[1].started_at + 10;
  Plan plan = c.Run();
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].reason, kReasonHealthCheck);
  EXPECT_TRUE(plan.start_on.empty()) << "the stopping task holds the instance";
  c.Step();
  EXPECT_EQ(c.record.consecutive_failures(), 1);
  EXPECT_EQ(c.Run().start_on, (std::vector<std::string>{instance}));
}

TEST(Daemon, StoppingTaskBlocksItsInstance) {
  FakeCluster c = Daemon(1, 0);
  c.AddTask("i-0", TaskPhase::kStopping);
  EXPECT_TRUE(c.Run().empty());
  c.Step();
  EXPECT_EQ(c.Run().start_on, (std::vector<std::string>{"i-0"}));
}

}  // namespace
}  // namespace berth::scheduler
