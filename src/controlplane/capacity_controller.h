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
// Thread-safe: Start/Stop from the owning thread; the pass runs on the controller's own thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "berth/scheduler/instance_provider.h"
#include "src/controlplane/api.h"

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
  std::optional<scheduler::LocalProviderOptions> local;
  std::optional<scheduler::CommandProviderOptions> command;
};

struct CapacityConfig {
  std::vector<InstanceGroupConfig> groups;
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
    std::unique_ptr<scheduler::InstanceGroup> group;
    std::set<std::string> draining;  // hosts drained for scale-in, terminated once empty
    int last_reservation = -1;
    // When each host was first seen in the group (launched), for instanceWarmupPeriod.
    std::map<std::string, std::chrono::steady_clock::time_point> launched_at;
  };
  CapacityController(Api* api, double interval_seconds) : api_(api), interval_seconds_(interval_seconds) {}
  void Pass(Group& g, const Api::GroupUsage* usage);
  // Stops hosts `ids` of `g` and deregisters their instances.
  void Terminate(Group& g, const Api::GroupUsage& usage, const std::vector<std::string>& ids);

  Api* const api_;
  const double interval_seconds_;
  std::vector<Group> groups_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace berth::controlplane
