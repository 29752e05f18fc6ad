// CapacityController: managed scaling for the instance groups berthd runs itself (docs/capacity.md,
// "Managed scaling"). Groups are declared in the capacity config file (--capacity-config); a
// capacity provider scales the group its autoScalingGroupArn names when its managed scaling is
// ENABLED and it is associated with the group's cluster.
//
// Every pass (default 10 s) it reads the groups' usage from the Api, and per group:
//   0. replaces hosts that have not registered within the provider's instanceWarmupPeriod;
//   1. terminates the hosts it drained in an earlier pass that have no task left, and
//     deregisters their container instances;
//   2. computes the desired size (scheduler::DecideScaling) from the busy hosts and the hosts the
//      tasks waiting in PROVISIONING need;
//   3. scales out by launching hosts, or scales in by draining idle hosts (managedDraining
//      ENABLED, the default: they are terminated in a later pass once empty) or terminating them
//      at once (DISABLED). Only hosts without non-daemon tasks are ever scaled in, so managed
//      termination protection always holds.
//
// With a fargate section it also runs the Fargate pool (every fargate.intervalSeconds, default
// 1 s): one host per FARGATE task waiting in PROVISIONING, sized to the task and marked with the
// attribute berth.fargate-task=<task id> so only that task is placed there; hosts go in the zone
// where the task's group has fewest, and are stopped (and deregistered) once their task is STOPPED.
//
// Thread-safe: Start/Stop from the owning thread; the pass runs on the controller's own thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "berth/scheduler/managed_scaling.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/providers/instance_provider.h"

namespace berth::controlplane {

struct InstanceGroupConfig {
  std::string name;
  std::string cluster = "default";
  int min_size = 0;
  int max_size = 0;
  int desired_capacity = 0;
  // The size of one host, for estimating how many hosts waiting tasks need; 0: learnt from the
  // group's registered hosts.
  int64_t host_cpu = 0;
  int64_t host_memory = 0;
  // Exactly one of these.
  std::optional<providers::LocalProviderOptions> local;
  std::optional<providers::CommandProviderOptions> command;
};

// Fargate capacity (docs/capacity.md, "FARGATE"): the provider that starts one host per FARGATE
// task, sized to the task, in the availability zone the pool picks.
struct FargateConfig {
  // Exactly one of these. The local provider's hosts share one Docker network (subnet_cidr), each
  // handing out addresses from its own /28 of it.
  std::optional<providers::LocalProviderOptions> local;
  std::optional<providers::CommandProviderOptions> command;
  std::vector<std::string> availability_zones;  // tasks of a group spread over these; empty: none
  int max_hosts = 100;                          // FARGATE tasks with a host at once; others wait
  std::string subnet_cidr = "172.31.0.0/16";
  std::string network = "berth-fargate";
  double registration_timeout_seconds = 300;  // a host not registered by then is replaced
  double cleanup_seconds = 2;                 // after its task stops, before its host is stopped
  double interval_seconds = 1;
};

struct CapacityConfig {
  std::vector<InstanceGroupConfig> groups;
  std::optional<FargateConfig> fargate;
  double interval_seconds = 10;
};

// Parses the capacity config file's JSON; errors name the field ("instanceGroups[1].maxSize").
absl::StatusOr<CapacityConfig> ParseCapacityConfig(const std::string& json);

class CapacityController {
 public:
  // `endpoint`: berthd's gRPC address, given to the local provider's agents with the group's
  // cluster and berth.instance-group attribute. Errors name the group whose provider failed to start.
  static absl::StatusOr<std::unique_ptr<CapacityController>> Create(Api* api, CapacityConfig config,
                                                                    const std::string& endpoint);
  ~CapacityController();  // stops the pass thread and the groups' hosts

  void Start();
  void Stop();
  // One pass (tests; the thread calls it every interval).
  void RunOnce();

 private:
  struct Group {
    InstanceGroupConfig config;
    std::unique_ptr<providers::InstanceGroup> group;
    std::set<std::string> draining;  // hosts drained for scale-in, terminated once empty
    int last_reservation = -1;
    // When each host was first seen in the group (launched), for instanceWarmupPeriod.
    std::map<std::string, std::chrono::steady_clock::time_point> launched_at;
  };
  // A host started for one FARGATE task.
  struct FargateHost {
    std::string cluster;
    std::string task_id;
    std::string group;  // the task's group, for spreading over zones
    std::string zone;
    int slot = -1;  // its /28 of the subnet (local provider), or -1
    std::chrono::steady_clock::time_point launched_at;
    std::optional<std::chrono::steady_clock::time_point> done_since;  // its task is STOPPED
    std::optional<std::chrono::steady_clock::time_point> lost_since;  // its agent is disconnected
  };
  struct Fargate {
    FargateConfig config;
    std::shared_ptr<providers::InstanceProvider> provider;
    std::map<std::string, FargateHost> hosts;    // by provider host id
    std::map<std::string, std::string> by_task;  // "cluster/task id" -> host id
    std::vector<bool> slots;                     // which /28s are handed out
    uint32_t subnet = 0;                         // subnet_cidr's network address, host order
    size_t next_zone = 0;                        // tie-break between zones
    std::chrono::steady_clock::time_point next_pass;
  };
  CapacityController(Api* api, double interval_seconds) : api_(api), interval_seconds_(interval_seconds) {}
  // One pass of instance group `g`, scaled by `usage`'s capacity provider (null: by none).
  void Pass(Group& g, const CapacityActions::GroupUsage* usage);
  // The steps of Pass (numbered as in it). 0: hosts of the group's instances the group does not
  // know (berthd restarted) are taken over or their instances deregistered.
  void AdoptOrDeregisterUnknown(Group& g, const CapacityActions::GroupUsage& usage);
  // Hosts whose agent did not register within the instanceWarmupPeriod are replaced.
  void ReplaceUnregistered(Group& g, const CapacityActions::GroupUsage& usage);
  // 2. The desired size of the group's `active` (not draining) hosts.
  scheduler::ScalingDecision DecideSize(Group& g, const CapacityActions::GroupUsage& usage,
                                        const std::vector<std::string>& active);
  // 3. Scale-in: up to `count` idle hosts of `active`, newest first, are drained (or terminated).
  void ScaleIn(Group& g, const CapacityActions::GroupUsage& usage, const std::vector<std::string>& active, int count);
  // One pass of the Fargate pool: hosts for waiting tasks, hosts of finished tasks stopped.
  void FargatePass(Fargate& f);
  // Stops host `id` of the pool and deregisters its instance `instance_id` (when registered).
  void StopFargateHost(Fargate& f, const std::string& id, const std::string& instance_id);
  // Stops hosts `ids` of `g` and deregisters their instances.
  void Terminate(Group& g, const CapacityActions::GroupUsage& usage, const std::vector<std::string>& ids);

  Api* const api_;
  const double interval_seconds_;
  std::vector<Group> groups_;
  std::optional<Fargate> fargate_;
  std::chrono::steady_clock::time_point next_groups_pass_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace berth::controlplane
