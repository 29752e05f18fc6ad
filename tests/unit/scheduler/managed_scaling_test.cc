// Managed scaling arithmetic (include/berth/scheduler/managed_scaling.h).
#include "berth/scheduler/managed_scaling.h"

#include <gtest/gtest.h>

namespace berth::scheduler {
namespace {

TEST(HostsNeededTest, PacksFirstFitDecreasingOnBothResources) {
  const TaskSize host{2048, 4096};
  EXPECT_EQ(HostsNeeded({}, host, 10), 0);
  // 50 tasks of 512 CPU / 512 MiB: 4 per host by CPU -> 13 hosts.
  EXPECT_EQ(HostsNeeded(std::vector<TaskSize>(50, {512, 512}), host, 10), 13);
  // Memory binds: 3 tasks of 1500 MiB fit 2 per host -> 2 hosts.
  EXPECT_EQ(HostsNeeded(std::vector<TaskSize>(3, {10, 1500}), host, 10), 2);
  // Mixed sizes fill the gaps the large ones leave.
  EXPECT_EQ(HostsNeeded({{1024, 3000}, {1024, 3000}, {512, 1000}, {512, 1000}}, host, 10), 2);
  // Larger than a host: a host of its own (it will never fit; it times out).
  EXPECT_EQ(HostsNeeded({{4096, 100}}, host, 10), 1);
  // Unknown host size: one per task, capped.
  EXPECT_EQ(HostsNeeded(std::vector<TaskSize>(50, {1, 1}), {0, 0}, 10), 10);
}

TEST(DecideScalingTest, ScalesOutFromNothingToWhatTheWaitingTasksNeed) {
  ScalingInput in{.target_capacity = 100,
                  .min_step = 1,
                  .max_step = 100,
                  .group_min = 0,
                  .group_max = 20,
                  .hosts = 0,
                  .busy_hosts = 0,
                  .hosts_needed = 13};
  ScalingDecision d = DecideScaling(in);
  EXPECT_EQ(d.reservation, 200);
  EXPECT_EQ(d.desired, 13);
  in.max_step = 5;  // at most 5 at a time
  EXPECT_EQ(DecideScaling(in).desired, 5);
  in.max_step = 100;
  in.group_max = 10;  // never above max
  EXPECT_EQ(DecideScaling(in).desired, 10);
}

TEST(DecideScalingTest, TargetCapacityKeepsSpareHosts) {
  ScalingInput in{.target_capacity = 80,
                  .min_step = 1,
                  .max_step = 100,
                  .group_min = 0,
                  .group_max = 100,
                  .hosts = 8,
                  .busy_hosts = 8,
                  .hosts_needed = 0};
  ScalingDecision d = DecideScaling(in);
  EXPECT_EQ(d.reservation, 100);
  EXPECT_EQ(d.desired, 10);  // ceil(8 x 100 / 80)
  in.hosts = 10;
  d = DecideScaling(in);
  EXPECT_EQ(d.reservation, 80);
  EXPECT_EQ(d.desired, 10);  // steady at the target
}

TEST(DecideScalingTest, MinimumStepAndScaleIn) {
  ScalingInput in{.target_capacity = 100,
                  .min_step = 3,
                  .max_step = 100,
                  .group_min = 1,
                  .group_max = 100,
                  .hosts = 4,
                  .busy_hosts = 4,
                  .hosts_needed = 1};
  EXPECT_EQ(DecideScaling(in).desired, 7);  // one more needed, three at least
  in = {.target_capacity = 100,
        .min_step = 1,
        .max_step = 2,
        .group_min = 1,
        .group_max = 100,
        .hosts = 10,
        .busy_hosts = 3,
        .hosts_needed = 0};
  ScalingDecision d = DecideScaling(in);
  EXPECT_EQ(d.reservation, 30);
  EXPECT_EQ(d.desired, 8);  // at most max_step away
  in.hosts = 2;
  in.busy_hosts = 0;
  EXPECT_EQ(DecideScaling(in).desired, 1) << "never below the group's min";
  in.group_min = 0;
  EXPECT_EQ(DecideScaling(in).desired, 0);
}

}  // namespace
}  // namespace berth::scheduler
