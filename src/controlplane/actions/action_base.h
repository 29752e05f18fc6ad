// The pieces every action class shares: the options of the actions, the ActionContext they run
// over (state, its mutex, the commit pipeline, the clock, ARNs, the placement engine), and
// ActionBase, which gives each action class its proposal plumbing, lookups and rendering of records
// into API shapes. The action classes themselves (clusters.h, tasks.h, ...) and Api, which holds
// them, are built on it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "berth/common/arn.h"
#include "berth/common/clock.h"
#include "berth/placement/engine.h"
#include "berth/scheduler/launch.h"
#include "berth/scheduler/service_scheduler.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/ecs.pb.h"
#include "src/controlplane/actions/file_systems.h"
#include "src/controlplane/actions/log_routing.h"
#include "src/controlplane/actions/validation.h"
#include "src/controlplane/state/applier.h"
#include "src/controlplane/state/pipeline.h"
#include "src/controlplane/state/state.h"

namespace berth::logs {
class LogStore;
}  // namespace berth::logs

namespace berth::controlplane {

// A credential berthd issued itself, presented on the agent protocol as `authorization: Bearer`:
// a join token ("bjt-<id>.<secret>") or an instance credential ("bic-<instance id>.<secret>").
struct AgentCredential {
  enum class Kind { kNone, kJoinToken, kInstance };
  Kind kind = Kind::kNone;
  std::string id;             // the join token's id, or the instance's id
  std::string secret_sha256;  // of the secret part, lower-case hex
};
// The agent credential an `authorization` value carries; kNone for anything else.
AgentCredential ParseAgentCredential(const std::string* authorization);

// Whether `cluster`'s runtime restrictions (the Berth cluster settings berth:privilegedContainers,
// berth:hostNetworking and berth:hostPathVolumes, docs/security.md) let tasks of `td` run in it;
// InvalidParameter naming the container or volume and the setting otherwise.
absl::Status CheckRuntimeRestrictions(const v1::Cluster& cluster, const v1::TaskDefinition& td);

// A capacityProviderStrategy (RunTask, CreateService, a cluster's default) checked on its own:
// at most 20 items, each naming a provider once, weight 0-1000, base 0-100000 on one item at
// most, some weight above 0. Errors name `field`.
absl::Status ValidateCapacityProviderStrategy(
    const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy, std::string_view field);

// FARGATE and FARGATE_SPOT: the capacity providers of Berth's Fargate capacity, which need not be
// created (and cannot be: the fargate prefix is reserved).
bool IsFargateProvider(std::string_view name);
// The failure reason of a FARGATE task that cannot wait for a host (ECS's wording,
// include/berth/scheduler/launch.h).
using scheduler::kFargateCapacityUnavailable;
// A FARGATE launch needs Fargate capacity (`enabled`: a fargate section in --capacity-config) and
// takes no placement constraints or strategies: each task gets a host of its own, spread over
// availability zones. InvalidParameter naming the field otherwise.
absl::Status CheckFargateLaunch(bool enabled, int placement_constraints, int placement_strategies);
// The one Fargate platform version Berth runs (what LATEST means).
inline constexpr char kFargatePlatformVersion[] = "1.4.0";
// platformVersion as given (`given` false: not given) for a launch that is FARGATE or not:
// only FARGATE launches take one, and it must be LATEST or 1.4.0. InvalidParameter otherwise.
absl::Status CheckPlatformVersion(bool given, std::string_view version, bool fargate);
// The ephemeral storage of a FARGATE task (GiB): the overrides', else the task definition's, else
// ECS's default of 20.
int32_t FargateEphemeralStorageGiB(const v1::TaskOverride& overrides, const v1::TaskDefinition& td);

// placementConstraints and placementStrategy of a request (RunTask, CreateService,
// UpdateService), checked and parsed; errors name the field.
absl::Status ParsePlacement(const google::protobuf::RepeatedPtrField<v1::PlacementConstraint>& in_constraints,
                            const google::protobuf::RepeatedPtrField<v1::PlacementStrategy>& in_strategies,
                            const Limits& limits, std::vector<placement::Constraint>* constraints,
                            std::vector<placement::Strategy>* strategies);

// Attributes an instance must have for the task definition's runtimePlatform. Linux is what an
// instance without ecs.os-type runs, so only other families are required explicitly.
std::vector<placement::RequiredAttribute> RequiredAttributes(const v1::TaskDefinition& td);
// ECS's placement for services without a placementStrategy: spread over availability zones, then
// over instances.
std::vector<placement::Strategy> DefaultServiceStrategies();
// A seed for the random placement strategy.
uint64_t NewSeed();

// A new deployment id: "ecs-svc/" and 19 digits, as ECS names deployments.
std::string NewDeploymentId();

// The agent protocol's timing.
struct AgentOptions {
  // An instance whose agent has not polled or reported for this long is marked
  // agentConnected=false (its tasks keep running; nothing new is placed there).
  int64_t disconnect_after_us = 60'000'000;
  // Upper bound of a long poll's wait, whatever the agent asks.
  int64_t max_poll_wait_us = 30'000'000;
  // A parked poll with nothing to say is answered after a wait drawn uniformly from
  // [(1 - jitter) x wait, wait], as Consul and Nomad spread their blocking queries: polls that
  // began together (a fleet registering, an agent restart wave) would otherwise all expire in the
  // same instant and again every wait after that. 0 answers at exactly the wait.
  double poll_wait_jitter = 0.25;
  // Seeds the jitter (0: a random seed), so a test can fix it.
  uint64_t poll_jitter_seed = 0;
  // How long STOPPED tasks stay visible (DescribeTasks, ListTasks) before they are deleted.
  int64_t stopped_task_retention_us = 3'600'000'000;
  // How often AgentTick looks for silent agents and expired tasks.
  int64_t check_interval_us = 1'000'000;
};

// Tasks waiting for capacity (docs/capacity.md, "Waiting for capacity").
struct CapacityOptions {
  // At most this many tasks wait in PROVISIONING per cluster; beyond it a launch fails as it
  // would without a capacity provider (ECS: 500).
  int max_provisioning_per_cluster = 500;
  // A task still unplaced this long after it was created stops (stopCode TaskFailedToStart).
  int64_t provisioning_timeout_us = 1'800'000'000;
  // How often CapacityTick tries to place waiting tasks and stops the ones past the timeout.
  int64_t provisioning_interval_us = 1'000'000;
  // Whether berthd runs Fargate capacity (a fargate section in --capacity-config): without it,
  // launchType FARGATE is refused.
  bool fargate = false;
};

// The service scheduler's timing (see docs/services.md).
struct ServiceOptions {
  scheduler::Options rules;
  // Every service is reconciled at least this often, even without an event.
  int64_t resync_interval_us = 30'000'000;
  // A service whose tasks could not all be placed is tried again after this long (sooner when
  // an instance or task changes).
  int64_t placement_retry_us = 10'000'000;
  // How long a deleted (INACTIVE) service stays visible to DescribeServices.
  int64_t inactive_retention_us = 3'600'000'000;
  // Services reconciled per proposal (the rest wait for the next tick).
  size_t max_per_pass = 256;
};

struct ApiOptions {
  ArnContext arn_context;
  Limits limits;
  AgentOptions agent;
  ServiceOptions services;
  CapacityOptions capacity;
  // What efsVolumeConfiguration volumes mount (--file-systems).
  FileSystems file_systems;
  // Where container output is kept (docs/logs.md); null: the logs actions answer
  // ServiceUnavailableException. Not owned; it must outlive the Api.
  logs::LogStore* log_store = nullptr;
  // Where containers' output goes (log_routing.h).
  LogRoutingOptions log_routing;
};

// What every action class runs over. Owned by Api; `state` is guarded by `mu`, and both,
// `pipeline` and `clock` must outlive it.
struct ActionContext {
  ActionContext(ApiOptions options, State* state, absl::Mutex* mu, CommitPipeline* pipeline, const Clock* clock);
  ActionContext(const ActionContext&) = delete;
  ActionContext& operator=(const ActionContext&) = delete;

  const ApiOptions options;
  const Arns arns;
  State* const state;
  absl::Mutex* const mu;
  CommitPipeline* const pipeline;
  const Clock* const clock;
  const placement::Engine engine{};
  // When this berthd started (wall clock seconds): an agent's disconnection counts for the
  // disconnect policy from no earlier than this, so a control-plane outage does not make tasks lost.
  const double started_at;
};

// The base of every action class: how an action reads and writes, and the lookups and rendering
// they share.
//
// Each action validates its request on the calling thread (bad input completes `done` with
// INVALID_ARGUMENT and changes nothing), then either
//   - reads: takes the state mutex shared, fills the response, and completes `done` inline (the
//     doors wrap `done` with Api::AnswerWhenDurable, which holds the answer until what it saw is
//     durable); or
//   - writes: submits a proposal to the commit pipeline; `done` runs on the completion thread once
//     the change is durable (or with the error that rejected it).
// `request` and `response` must stay valid until `done` runs. Actions may be called concurrently
// from any number of threads.
class ActionBase {
 public:
  using Done = std::function<void(absl::Status)>;

  ActionBase(const ActionBase&) = delete;
  ActionBase& operator=(const ActionBase&) = delete;

 protected:
  explicit ActionBase(const ActionContext& context);
  ~ActionBase() = default;

  // Submits a write. `apply` runs on the pipeline's apply thread under the exclusive state lock; it
  // must validate against state before mutating anything, and return an error having changed nothing.
  void Submit(std::function<absl::Status(Applier&)> apply, Done done);

  // Lookups (state lock held).
  absl::StatusOr<const ClusterEntry*> ActiveCluster(const std::string& name) const;
  std::string ClusterFromRequest(bool has, const std::string& value, absl::Status* error) const;
  // Task or container-instance ids from a list of ids or ARNs of `cluster`: 1 to `max` of them;
  // errors name `field[i]`.
  absl::StatusOr<std::vector<std::string>> ParseIds(const google::protobuf::RepeatedPtrField<std::string>& items,
                                                    const std::string& cluster, std::string_view field,
                                                    ResourceKind kind, int max) const;

  // Rendering: records -> API shapes with derived fields filled.
  void RenderCluster(const ClusterEntry& cluster, bool with_tags, v1::Cluster* out) const;
  void RenderTaskDefinition(const v1::TaskDefinitionRecord& record, v1::TaskDefinition* out) const;
  void RenderInstance(const ClusterEntry& cluster, const InstanceEntry& instance, bool with_tags,
                      v1::ContainerInstance* out) const;
  void RenderTask(const v1::TaskRecord& record, bool with_tags, v1::Task* out) const;
  void RenderTask(const TaskEntry& task, bool with_tags, v1::Task* out) const;
  void RenderFargateProvider(const std::string& name, v1::CapacityProvider* out) const;
  void RenderCapacityProvider(const v1::CapacityProviderRecord& record, bool with_tags,
                              v1::CapacityProvider* out) const;

  // Capacity providers as clusters, tasks and services see them (state lock held).
  // The instance group a provider scales (from its autoScalingGroupArn); "" if malformed.
  static std::string GroupOfProvider(const v1::CapacityProviderRecord& record);
  // The capacity provider of `cluster` whose group `instance` belongs to; "" for none.
  std::string CapacityProviderOf(const ClusterEntry& cluster, const InstanceEntry& instance) const;
  // Every provider of `strategy` is associated with `cluster`; errors name `field`[i].
  absl::Status CheckClusterStrategy(
      const ClusterEntry& cluster, const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy,
      std::string_view field) const;

  const ApiOptions& options_;
  const Arns& arns_;
  State* const state_;
  absl::Mutex* const mu_;
  CommitPipeline* const pipeline_;
  const Clock* const clock_;
  const placement::Engine& engine_;
  const double started_at_;
};

}  // namespace berth::controlplane
