// Launcher: how tasks come to be (launcher.cc). RunTask's and StartTask's requests checked and
// parsed into a Launch; a Launch resolved against state, planned by the scheduler
// (scheduler::PlanLaunch) and applied: each task placed, waiting in PROVISIONING for capacity or
// its Fargate host, or failed. Also how a task is made to stop. TaskActions, ServiceActions and
// CapacityActions launch and stop tasks through it, all on the proposal side.
#pragma once

#include <memory>

#include "src/controlplane/actions/action_base.h"

namespace berth::controlplane {

class Launcher : public ActionBase {
 public:
  explicit Launcher(const ActionContext& context) : ActionBase(context) {}

  // What to launch: RunTask, StartTask, or a service's starts.
  struct Launch {
    std::string cluster;
    std::string family;
    uint32_t revision = 0;
    v1::TaskOverride overrides;
    std::string group;
    std::string started_by;
    std::string launch_type;
    int count = 1;
    std::vector<std::string> instance_ids;  // StartTask: one task on each
    google::protobuf::RepeatedPtrField<v1::Tag> tags;
    bool enable_execute_command = false;
    bool propagate_task_definition_tags = false;
    // RunTask's placement (the task definition's constraints are added when applied).
    std::vector<placement::Constraint> constraints;
    std::vector<placement::Strategy> strategies;
    // The same as given (kept on a task that waits for capacity, to place it later).
    google::protobuf::RepeatedPtrField<v1::PlacementConstraint> api_constraints;
    google::protobuf::RepeatedPtrField<v1::PlacementStrategy> api_strategies;
    uint64_t seed = 0;  // for the random strategy
    // Service launches: the service and deployment the tasks belong to, its per-instance cap, and
    // leave to use an INACTIVE revision (a service keeps running the revision it was given).
    std::string service;
    std::string deployment_id;
    int32_t max_per_instance = 0;
    bool allow_inactive = false;
    // The capacity provider strategy given (RunTask, the service's); empty: the cluster's
    // default strategy when `launch_type_given` is false, else none.
    google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem> provider_strategy;
    bool launch_type_given = false;
    // RunTask's platformVersion (FARGATE only; checked when the launch is known to be FARGATE).
    std::optional<std::string> platform_version;
    // Tasks each provider already has (a service's), by provider name.
    absl::flat_hash_map<std::string, int64_t> provider_counts;
  };
  // A launch resolved against state (lock held): cluster, task definition, demand with overrides,
  // and the placement request (the task definition's constraints included).
  struct ResolvedLaunch {
    const ClusterEntry* cluster = nullptr;
    const v1::TaskDefinitionRecord* definition = nullptr;
    v1::ResourceDemand demand;
    placement::PlacementRequest request;
  };
  absl::StatusOr<ResolvedLaunch> ResolveLaunch(const Launch& launch);
  // RunTask's request checked and parsed (also used by ExplainPlacement).
  absl::StatusOr<std::shared_ptr<Launch>> NewRunLaunch(const v1::RunTaskRequest& request) const;
  // StartTask's request checked and parsed (its container instances are left to the caller).
  absl::StatusOr<std::shared_ptr<Launch>> NewStartLaunch(const v1::StartTaskRequest& request) const;
  // Places and creates the tasks of `launch` (proposal side), rendered into `tasks`; what could not
  // be placed goes to `failures`.
  absl::Status ApplyLaunch(Applier& txn, const Launch& launch, google::protobuf::RepeatedPtrField<v1::Task>* tasks,
                           google::protobuf::RepeatedPtrField<v1::Failure>* failures);
  // Marks a task desired STOPPED (StopTask, the service scheduler, capacity timeouts).
  void StopTaskRecord(Applier& txn, const ClusterEntry& cluster, const TaskEntry& task, const std::string& stop_code,
                      const std::string& reason);

 private:
  // The validated, request-independent description of a RunTask / StartTask.
  template <typename Request>
  absl::StatusOr<std::shared_ptr<Launch>> NewLaunch(const Request& request) const;
  // Adds one task of `launch`: placed on `placement`'s instance, or waiting in PROVISIONING when it
  // is null (for capacity from `provider`, or for its Fargate host); rendered into `tasks`.
  void AddLaunchedTask(Applier& txn, const Launch& launch, const ResolvedLaunch& resolved,
                       const google::protobuf::RepeatedPtrField<v1::Tag>& tags, const placement::Placement* placement,
                       const std::string& provider, google::protobuf::RepeatedPtrField<v1::Task>* tasks,
                       std::string_view launch_type = {});
  // ApplyLaunch of FARGATE tasks: launchType FARGATE, or a `strategy` of the Fargate capacity
  // providers (null otherwise). Every task waits in PROVISIONING for its own host.
  absl::Status ApplyFargateLaunch(Applier& txn, const Launch& launch, const ResolvedLaunch& resolved,
                                  const google::protobuf::RepeatedPtrField<v1::Tag>& tags,
                                  const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>* strategy,
                                  std::string_view strategy_field, google::protobuf::RepeatedPtrField<v1::Task>* tasks,
                                  google::protobuf::RepeatedPtrField<v1::Failure>* failures);
};

}  // namespace berth::controlplane
