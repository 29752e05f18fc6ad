// CapacityActions: CreateCapacityProvider, UpdateCapacityProvider, DeleteCapacityProvider and
// DescribeCapacityProviders (capacity.cc); tasks waiting in PROVISIONING placed when capacity
// appears (scheduler::PlanWaitingTask); and what managed scaling and the Fargate pool
// (capacity_controller.h) read of state.
#pragma once

#include <atomic>

#include "src/controlplane/actions/action_base.h"
#include "src/controlplane/actions/launcher.h"

namespace berth::controlplane {

class CapacityActions : public ActionBase {
 public:
  CapacityActions(const ActionContext& context, Launcher* launcher) : ActionBase(context), launcher_(launcher) {}

  void CreateCapacityProvider(const v1::CreateCapacityProviderRequest& request,
                              v1::CreateCapacityProviderResponse* response, Done done);
  void UpdateCapacityProvider(const v1::UpdateCapacityProviderRequest& request,
                              v1::UpdateCapacityProviderResponse* response, Done done);
  void DeleteCapacityProvider(const v1::DeleteCapacityProviderRequest& request,
                              v1::DeleteCapacityProviderResponse* response, Done done);
  void DescribeCapacityProviders(const v1::DescribeCapacityProvidersRequest& request,
                                 v1::DescribeCapacityProvidersResponse* response, Done done);

  // Called periodically from one thread: submits one proposal that places tasks waiting in
  // PROVISIONING where capacity has appeared and stops those past the timeout, when any wait.
  void CapacityTick();

  // What managed scaling needs to know about one instance group: the ACTIVE capacity provider
  // with managed scaling ENABLED that scales it, the cluster it serves, the group's registered
  // hosts, and the tasks waiting for it.
  struct GroupHost {
    std::string instance_id;
    std::string status;  // ACTIVE | DRAINING
    bool agent_connected = true;
    bool busy = false;  // runs a task that is not STOPPED and not a DAEMON service's
    int tasks = 0;      // tasks not STOPPED, any
    int64_t cpu = 0;    // registered resources
    int64_t memory = 0;
  };
  struct GroupUsage {
    std::string provider;
    std::string cluster;
    v1::AutoScalingGroupProvider settings;
    std::map<std::string, GroupHost> hosts;            // by berth.provider-host-id; instances without one are left out
    std::vector<std::pair<int64_t, int64_t>> waiting;  // (cpu, memory) of each PROVISIONING task
  };
  // Every such group, by group name (state lock taken shared).
  std::map<std::string, GroupUsage> CapacityUsage() const;

  // What the Fargate pool of the capacity controller needs: the FARGATE tasks waiting for a host,
  // the Fargate hosts registered, and the FARGATE tasks not yet STOPPED.
  struct FargateTask {
    std::string cluster;
    std::string id;
    std::string group;  // task group, for spreading over availability zones
    int64_t cpu = 0;    // the task size
    int64_t memory = 0;
  };
  struct FargateHost {
    std::string cluster;
    std::string instance_id;
    std::string task_id;  // its berth.fargate-task
    bool agent_connected = true;
  };
  struct FargateUsage {
    std::vector<FargateTask> waiting;          // PROVISIONING, oldest first
    std::map<std::string, FargateHost> hosts;  // by berth.provider-host-id
    absl::flat_hash_set<std::string> live;     // "cluster/task id" of FARGATE tasks not STOPPED
  };
  // `watch`: (cluster, task id) pairs whose liveness the caller wants too (the tasks it started
  // hosts for that have not registered yet).
  FargateUsage FargateSnapshot(const std::vector<std::pair<std::string, std::string>>& watch) const;

 private:
  // CapacityTick's proposal: places or times out the waiting tasks of every cluster.
  absl::Status ApplyProvisioning(Applier& txn);
  // Where a task waiting in PROVISIONING may go now (state lock held); NotFound or
  // InvalidArgument saying why it never can.
  absl::StatusOr<placement::PlacementRequest> WaitingTaskRequest(const v1::TaskRecord& r) const;
  // Places the waiting `task` on `placed`'s instance: PENDING from here.
  void PlaceProvisioned(Applier& txn, const ClusterEntry& cluster, const TaskEntry& task,
                        const placement::Placement& placed);

  Launcher* const launcher_;
  int64_t next_provisioning_us_ = 0;  // CapacityTick's thread only
  std::atomic<bool> provisioning_in_flight_{false};
};

}  // namespace berth::controlplane
