// Launch planning: each task of a launch placed, left waiting for capacity, or failed, with the
// view updated between steps by the caller (here: by reserving what each step placed).
#include "berth/scheduler/launch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::scheduler {
namespace {

placement::InstanceView Instance(const std::string& id, const std::string& group, int64_t cpu) {
  placement::InstanceView v;
  v.id = id;
  v.cpu_total = cpu;
  v.memory_total = 8192;
  v.attributes["berth.instance-group"] = group;
  return v;
}

LaunchSpec Spec(int count, int64_t cpu) {
  LaunchSpec spec;
  spec.count = count;
  spec.request.demand.cpu = cpu;
  spec.request.demand.memory = 128;
  spec.request.strategies.push_back(
      placement::Strategy{placement::Strategy::Type::kBinpack, placement::Strategy::Field::kCpu, {}});
  return spec;
}

LaunchProvider Provider(const std::string& name, int64_t base, int64_t weight, bool managed) {
  return LaunchProvider{.name = name,
                        .hosts = {"berth.instance-group", name + "-group"},
                        .managed_scaling = managed,
                        .base = base,
                        .weight = weight};
}

// Plans `spec`, reserving each placement in `view` as the control plane's applier does.
std::vector<LaunchStep> Plan(const LaunchSpec& spec, placement::ClusterView& view) {
  placement::Engine engine;
  std::vector<LaunchStep> steps;
  PlanLaunch(spec, view, engine, [&](const LaunchStep& step) {
    if (step.placement) view.Reserve(step.placement->instance_id, step.placement->Hold(spec.request));
    steps.push_back(step);
  });
  return steps;
}

TEST(PickStrategyItemTest, BasesFirstThenWeights) {
  EXPECT_EQ(PickStrategyItem({2, 0}, {1, 1}, {0, 0}), 0);
  EXPECT_EQ(PickStrategyItem({2, 0}, {1, 1}, {2, 0}), 0);  // bases met: equal shares, the earlier
  EXPECT_EQ(PickStrategyItem({2, 0}, {1, 1}, {3, 0}), 1);
  EXPECT_EQ(PickStrategyItem({0, 0}, {1, 3}, {1, 0}), 1);
  EXPECT_EQ(PickStrategyItem({0, 0}, {1, 3}, {1, 3}), 1);  // 2/1 behind 4/3
  EXPECT_EQ(PickStrategyItem({0, 0}, {1, 3}, {1, 6}), 0);
  EXPECT_EQ(PickStrategyItem({0, 0}, {0, 0}, {0, 0}), -1);
}

TEST(PickStrategyItemTest, ATenTaskLaunchHonoursBaseThenWeights) {
  const std::vector<int64_t> bases = {2, 0};
  const std::vector<int64_t> weights = {1, 3};
  std::vector<int64_t> counts = {0, 0};
  for (int i = 0; i < 10; ++i) ++counts[PickStrategyItem(bases, weights, counts)];
  EXPECT_EQ(counts[0], 4);  // the base of 2, then 2 of the 8 others (1:3)
  EXPECT_EQ(counts[1], 6);
  // A service that already has tasks: the new ones restore the ratio beyond the base.
  counts = {4, 0};
  for (int i = 0; i < 4; ++i) ++counts[PickStrategyItem(bases, weights, counts)];
  EXPECT_EQ(counts[0], 4);
  EXPECT_EQ(counts[1], 4);
}

TEST(PlanLaunchTest, FargateTasksEachWaitForAHostWhileThereIsRoom) {
  placement::ClusterView view;
  LaunchSpec spec;
  spec.fargate = true;
  spec.count = 3;
  spec.cluster = "c";
  spec.providers = {Provider("FARGATE", 0, 1, false), Provider("FARGATE_SPOT", 0, 1, false)};
  spec.provisioning_waiting = 8;
  spec.provisioning_limit = 10;
  spec.provisioning_room = 2;
  std::vector<LaunchStep> steps = Plan(spec, view);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].kind, LaunchStep::Kind::kWait);
  EXPECT_EQ(steps[0].provider, "FARGATE");
  EXPECT_EQ(steps[1].kind, LaunchStep::Kind::kWait);
  EXPECT_EQ(steps[1].provider, "FARGATE_SPOT");
  EXPECT_EQ(steps[2].kind, LaunchStep::Kind::kFail);
  EXPECT_EQ(steps[2].failure.reason, kFargateCapacityUnavailable);
  EXPECT_EQ(steps[2].failure.detail, "10 tasks already wait for capacity in cluster c (the limit is 10)");
}

TEST(PlanWaitingTaskTest, StopsAfterItsTimeoutSkipsAFullProviderAndPlacesWhereItFits) {
  placement::ClusterView view;
  view.Upsert(Instance("a", "p-group", 1024));
  placement::Engine engine;
  int built = 0;
  auto request = [&]() -> absl::StatusOr<placement::PlacementRequest> {
    ++built;
    return Spec(1, 512).request;
  };
  WaitingTask task{.waited_s = 301, .timeout_s = 300, .fargate = false, .provider = "p", .provider_full = false};
  WaitingStep step = PlanWaitingTask(task, request, view, engine);
  EXPECT_EQ(step.kind, WaitingStep::Kind::kStop);
  EXPECT_EQ(step.reason,
            "Capacity is unavailable: capacity provider p brought no instance the task fits on within 300 seconds");
  task.waited_s = 10;
  task.provider_full = true;
  EXPECT_EQ(PlanWaitingTask(task, request, view, engine).kind, WaitingStep::Kind::kWait);
  EXPECT_EQ(built, 0);  // neither asked where it may go
  task.provider_full = false;
  step = PlanWaitingTask(task, request, view, engine);
  ASSERT_EQ(step.kind, WaitingStep::Kind::kPlace);
  EXPECT_EQ(step.placement->instance_id, "a");
  auto gone = []() -> absl::StatusOr<placement::PlacementRequest> {
    return absl::NotFoundError("capacity provider p no longer exists");
  };
  step = PlanWaitingTask(task, gone, view, engine);
  EXPECT_EQ(step.kind, WaitingStep::Kind::kStop);
  EXPECT_EQ(step.reason, "capacity provider p no longer exists");
}

TEST(PlanLaunchTest, EachStepSeesTheReservationsOfTheStepsBefore) {
  placement::ClusterView view;
  view.Upsert(Instance("a", "g", 1024));
  std::vector<LaunchStep> steps = Plan(Spec(3, 512), view);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].kind, LaunchStep::Kind::kPlace);
  EXPECT_EQ(steps[1].kind, LaunchStep::Kind::kPlace);
  // Without a provider, nothing changes before the next task: the rest fail alike.
  EXPECT_EQ(steps[2].kind, LaunchStep::Kind::kFail);
  EXPECT_EQ(steps[2].failure.reason, "RESOURCE:CPU");
}

TEST(PlanLaunchTest, StartTaskPlacesOneTaskOnEachNamedInstanceAndNamesTheOneThatFails) {
  placement::ClusterView view;
  view.Upsert(Instance("a", "g", 1024));
  view.Upsert(Instance("b", "g", 256));
  LaunchSpec spec = Spec(0, 512);
  spec.instances = {"a", "b"};
  std::vector<LaunchStep> steps = Plan(spec, view);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].kind, LaunchStep::Kind::kPlace);
  EXPECT_EQ(steps[0].placement->instance_id, "a");
  EXPECT_EQ(steps[1].kind, LaunchStep::Kind::kFail);
  EXPECT_EQ(steps[1].instance, "b");
}

TEST(PlanLaunchTest, ProvidersSplitByStrategyAndManagedOnesLetTasksWaitWhileThereIsRoom) {
  placement::ClusterView view;
  view.Upsert(Instance("a", "one-group", 1024));
  LaunchSpec spec = Spec(5, 512);
  spec.providers = {Provider("one", 1, 1, false), Provider("two", 0, 1, true)};
  spec.provisioning_room = 1;
  std::vector<LaunchStep> steps = Plan(spec, view);
  ASSERT_EQ(steps.size(), 5u);
  // one (its base), one (equal shares: the earlier), two (behind), one, two. "two" has no host;
  // it may keep one task waiting.
  EXPECT_EQ(steps[0].kind, LaunchStep::Kind::kPlace);
  EXPECT_EQ(steps[0].provider, "one");
  EXPECT_EQ(steps[1].kind, LaunchStep::Kind::kPlace);
  EXPECT_EQ(steps[1].provider, "one");
  EXPECT_EQ(steps[2].kind, LaunchStep::Kind::kWait);
  EXPECT_EQ(steps[2].provider, "two");
  EXPECT_EQ(steps[3].kind, LaunchStep::Kind::kFail);  // "one" is full now
  EXPECT_EQ(steps[3].provider, "one");
  EXPECT_EQ(steps[3].failure.reason, "RESOURCE:CPU");
  EXPECT_EQ(steps[4].kind, LaunchStep::Kind::kFail);  // no room left to wait
  EXPECT_EQ(steps[4].provider, "two");
  EXPECT_NE(steps[4].failure.detail.find("capacity provider two"), std::string::npos);
}

}  // namespace
}  // namespace berth::scheduler
