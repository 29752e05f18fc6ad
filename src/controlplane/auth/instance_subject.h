// InstanceSubject: one container instance of the control plane's State seen as a
// placement::ExpressionSubject, so the cluster query language (include/berth/placement/
// expression.h) can be evaluated against it: ListContainerInstances `filter` now, memberOf
// placement constraints later.
//
// Every value comes from the records as DescribeContainerInstances renders them:
//   attribute:<name>   InstanceEntry::attributes: the attributes given at registration (the agent's
//                      built-in ecs.* ones included; RegisterContainerInstance stores them all
//                      there) and those added by PutAttributes. One stored without a value exists,
//                      with the value "".
//   agentConnected     the record's agentConnected (false when unset)
//   agentVersion       the record's versionInfo.agentVersion ("" when unset)
//   ec2InstanceId      the record's ec2InstanceId ("" when unset)
//   registeredAt       the record's registeredAt, seconds since the epoch
//   runningTasksCount  InstanceEntry::running_tasks: tasks whose lastStatus is RUNNING (pending
//                      ones are not counted, as in the rendered runningTasksCount)
//   task:group         whether a task on the instance that is not STOPPED (InstanceEntry::task_ids,
//                      pending ones included) has that group
//
// A view over `cluster` and `instance`: valid while the caller holds the state mutex (shared is
// enough) and no longer. Cheap to construct: one per instance evaluated.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "berth/placement/expression.h"
#include "src/controlplane/state/state.h"

namespace berth::controlplane {

class InstanceSubject final : public placement::ExpressionSubject {
 public:
  // `instance` must belong to `cluster` (its task ids are looked up in cluster.tasks).
  InstanceSubject(const ClusterEntry& cluster, const InstanceEntry& instance)
      : cluster_(cluster), instance_(instance) {}

  // placement::ExpressionSubject
  std::optional<std::string_view> Attribute(std::string_view name) const override;
  bool AgentConnected() const override;
  std::string_view AgentVersion() const override;
  std::string_view Ec2InstanceId() const override;
  double RegisteredAt() const override;
  int64_t RunningTasksCount() const override;
  bool HasTaskGroup(std::string_view group) const override;

 private:
  const ClusterEntry& cluster_;
  const InstanceEntry& instance_;
};

}  // namespace berth::controlplane
