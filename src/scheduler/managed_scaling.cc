#include "berth/scheduler/managed_scaling.h"

#include <algorithm>

namespace berth::scheduler {

int HostsNeeded(std::vector<TaskSize> tasks, TaskSize host, int unknown_cap) {
  if (tasks.empty()) return 0;
  if (host.cpu <= 0 || host.memory <= 0) return std::min(static_cast<int>(tasks.size()), unknown_cap);
  std::sort(tasks.begin(), tasks.end(), [](const TaskSize& a, const TaskSize& b) {
    return a.memory != b.memory ? a.memory > b.memory : a.cpu > b.cpu;
  });
  std::vector<TaskSize> free;  // what each new host has left
  for (const TaskSize& t : tasks) {
    bool placed = false;
    for (TaskSize& f : free) {
      if (f.cpu >= t.cpu && f.memory >= t.memory) {
        f.cpu -= t.cpu;
        f.memory -= t.memory;
        placed = true;
        break;
      }
    }
    if (placed) continue;
    TaskSize fresh = host;
    fresh.cpu = std::max<int64_t>(0, fresh.cpu - t.cpu);
    fresh.memory = std::max<int64_t>(0, fresh.memory - t.memory);
    free.push_back(fresh);
  }
  return static_cast<int>(free.size());
}

ScalingDecision DecideScaling(const ScalingInput& in) {
  ScalingDecision d;
  const int64_t needed = static_cast<int64_t>(in.busy_hosts) + in.hosts_needed;
  if (in.hosts == 0) {
    d.reservation = needed == 0 ? 100 : 200;
  } else {
    d.reservation = static_cast<int>(needed * 100 / in.hosts);
  }
  const int target = std::clamp(in.target_capacity, 1, 100);
  int64_t desired = (needed * 100 + target - 1) / target;
  const int64_t delta = desired - in.hosts;
  if (delta > 0) {
    desired = in.hosts + std::clamp<int64_t>(delta, in.min_step, in.max_step);
  } else if (delta < 0) {
    desired = in.hosts - std::min<int64_t>(-delta, in.max_step);
  }
  d.desired = static_cast<int>(std::clamp<int64_t>(desired, in.group_min, in.group_max));
  return d;
}

}  // namespace berth::scheduler
