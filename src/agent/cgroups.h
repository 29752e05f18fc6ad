// TaskCgroups: one cgroup per task that holds the task-level cpu and memory limits and is the
// parent of the task's containers (Docker's HostConfig.CgroupParent), as the ECS agent does for
// task-level resources on Linux. The limit then binds the task as a whole: two containers of a
// 512 MiB task share 512 MiB, where per-container limits alone would allow 512 MiB each.
//
// Layout, for the cgroupfs driver (the paths runc uses for a CgroupParent of /berth/<task id>):
//   cgroup v1  <root>/memory/berth/<task id>/memory.limit_in_bytes
//              <root>/cpu/berth/<task id>/{cpu.shares, cpu.cfs_period_us, cpu.cfs_quota_us}
//   cgroup v2  <root>/berth/<task id>/{memory.max, cpu.max, cpu.weight}, with the cpu and memory
//              controllers enabled in <root> and <root>/berth (cgroup.subtree_control)
// cpu is in ECS units (1024 per vCPU): the quota is cpu/1024 of every 100 ms period, the shares
// (weight) its relative share under contention. Thread-safe: calls only touch the file system.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::agent {

struct TaskCgroupsOptions {
  std::string root = "/sys/fs/cgroup";  // where the hierarchies are mounted
  int version = 1;                      // 1 or 2
  std::string parent = "berth";         // the cgroup that holds every task's
};

class TaskCgroups {
 public:
  explicit TaskCgroups(TaskCgroupsOptions options);

  // Creates the task's cgroup (or finds it, after a restart) and writes its limits (0: none).
  // Returns the CgroupParent for the task's containers, "/<parent>/<task id>".
  absl::StatusOr<std::string> Create(const std::string& task_id, int64_t cpu_units, int64_t memory_mib) const;
  // Removes the task's cgroup; absent is success. Fails while a process is still in it.
  absl::Status Remove(const std::string& task_id) const;

  // The hierarchy version mounted at `root` ("cgroup2fs" at the root is 2; otherwise 1).
  static int DetectVersion(const std::string& root);
  // The CFS quota (microseconds per 100 ms period) of `cpu_units`; at least the kernel's 1 ms.
  static int64_t QuotaMicros(int64_t cpu_units);

  const TaskCgroupsOptions& options() const { return options_; }

 private:
  const TaskCgroupsOptions options_;
};

}  // namespace berth::agent
