// Managed scaling (docs/capacity.md, "Managed scaling"): how many hosts a capacity provider's
// instance group should have, as ECS computes it.
//
//   N = hosts running at least one non-daemon task + hosts the waiting (PROVISIONING) tasks need
//   M = hosts the group has (launched, registered or not yet)
//   CapacityProviderReservation = N / M x 100   (M = 0: 100 when N = 0, else 200)
//   desired = ceil(N x 100 / targetCapacity), moved from M by at least minimumScalingStepSize and
//             at most maximumScalingStepSize when it differs, and kept within the group's min/max.
//
// Scaling in removes only hosts without non-daemon tasks (with a target of 100% or less there
// are always enough of those); the caller drains them before terminating.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace berth::scheduler {

struct TaskSize {
  int64_t cpu = 0;     // CPU units
  int64_t memory = 0;  // MiB
};

// A lower bound of the hosts of capacity `host` that `tasks` need: first-fit decreasing by
// memory, each host holding tasks while both resources last. A task larger than a host counts
// one host of its own (it can never be placed; the task times out). A host of zero capacity
// (unknown): one host per task, at most `unknown_cap`.
int HostsNeeded(std::vector<TaskSize> tasks, TaskSize host, int unknown_cap);

struct ScalingInput {
  int target_capacity = 100;  // percent, 1-100
  int min_step = 1;
  int max_step = 10000;
  int group_min = 0;
  int group_max = 0;
  int hosts = 0;         // M
  int busy_hosts = 0;    // hosts running at least one non-daemon task
  int hosts_needed = 0;  // for the waiting tasks (HostsNeeded)
};

struct ScalingDecision {
  int reservation = 100;  // CapacityProviderReservation, percent
  int desired = 0;        // the group's new desired size
};

ScalingDecision DecideScaling(const ScalingInput& in);

}  // namespace berth::scheduler
