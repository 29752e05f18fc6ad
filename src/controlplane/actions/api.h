// Api: the transport-neutral implementation of the ContainerService actions. The gRPC service
// and the AWS JSON gateway are thin adapters over it, so every door shares one validation layer
// and one behaviour.
//
// Each method validates its request on the calling thread (bad input completes `done` with
// INVALID_ARGUMENT and changes nothing), then either
//   - reads: takes the state mutex shared, fills the response, and completes `done` inline (the
//     doors wrap `done` with AnswerWhenDurable, which holds the answer until what it saw is
//     durable); or
//   - writes: submits a proposal to the commit pipeline; `done` runs on the completion thread once
//     the change is durable (or with the error that rejected it).
// `request` and `response` must stay valid until `done` runs.
//
// Thread-safe: methods may be called concurrently from any number of threads.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
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
#include "src/controlplane/actions/agent_sessions.h"
#include "src/controlplane/actions/file_systems.h"
#include "src/controlplane/actions/validation.h"
#include "src/controlplane/state/applier.h"
#include "src/controlplane/state/pipeline.h"
#include "src/controlplane/state/state.h"

namespace berth::controlplane {

// X(Action) for every action the Api serves. Adapters expand it to wire each door.
#define BERTH_API_ACTIONS(X)       \
  X(CreateCluster)                 \
  X(DeleteCluster)                 \
  X(DescribeClusters)              \
  X(ListClusters)                  \
  X(RegisterTaskDefinition)        \
  X(DeregisterTaskDefinition)      \
  X(DescribeTaskDefinition)        \
  X(ListTaskDefinitions)           \
  X(ListTaskDefinitionFamilies)    \
  X(RegisterContainerInstance)     \
  X(DeregisterContainerInstance)   \
  X(DescribeContainerInstances)    \
  X(ListContainerInstances)        \
  X(UpdateContainerInstancesState) \
  X(PutAttributes)                 \
  X(DeleteAttributes)              \
  X(ListAttributes)                \
  X(RunTask)                       \
  X(StartTask)                     \
  X(StopTask)                      \
  X(DescribeTasks)                 \
  X(ListTasks)                     \
  X(UpdateTaskProtection)          \
  X(GetTaskProtection)             \
  X(CreateService)                 \
  X(UpdateService)                 \
  X(DeleteService)                 \
  X(DescribeServices)              \
  X(ListServices)                  \
  X(TagResource)                   \
  X(UntagResource)                 \
  X(ListTagsForResource)           \
  X(ExplainPlacement)              \
  X(CreateJoinToken)               \
  X(ListJoinTokens)                \
  X(DeleteJoinToken)               \
  X(UpdateClusterSettings)         \
  X(PutClusterCapacityProviders)   \
  X(CreateCapacityProvider)        \
  X(UpdateCapacityProvider)        \
  X(DeleteCapacityProvider)        \
  X(DescribeCapacityProviders)

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
};

class Api {
 public:
  using Done = std::function<void(absl::Status)>;

  // `state` is guarded by `mu`; both, `pipeline` and `clock` must outlive the Api.
  Api(ApiOptions options, State* state, absl::Mutex* mu, CommitPipeline* pipeline, const Clock* clock);
  // Stops the poll waker (after answering what it had queued).
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

#define BERTH_DECLARE_ACTION(A) void A(const v1::A##Request& request, v1::A##Response* response, Done done);
  BERTH_API_ACTIONS(BERTH_DECLARE_ACTION)
#undef BERTH_DECLARE_ACTION

  // On the first start of a store: records the schema version and creates the `default`
  // cluster. A later start changes nothing (a deleted `default` stays deleted until CreateCluster
  // re-creates it). Blocks until durable.
  absl::Status Bootstrap();

  const Arns& arns() const { return arns_; }

  // Wraps a door's answer so it leaves berthd only once the state it may show is durable. Readers
  // hold the state lock shared and can see a batch whose write is still in flight (the pipeline
  // applies the next batch while the previous one syncs); such an answer waits for that write.
  // Proposals' own completions run after their batch is durable and pass straight through. Every
  // door (gRPC, agent protocol, AWS JSON) wraps every action's `done` with it, except Poll, which
  // fences its own answers at the revision of what it rendered.
  Done AnswerWhenDurable(Done done) const;

  // For iam:PassRole (authz.h): the revision a launch's task definition reference ("family",
  // "family:revision" or the ARN) names now, pinned as "family:revision", and that revision's
  // roles. Errors as RunTask gives them (InvalidParameter naming taskDefinition, NotFound).
  struct TaskDefinitionRoles {
    std::string pinned;
    std::string task_role_arn;
    std::string execution_role_arn;
  };
  absl::StatusOr<TaskDefinitionRoles> RolesOfTaskDefinition(const std::string& reference) const;

  // --- The agent protocol (agent.proto); see actions/agent_protocol.cc. ---

  // The role ARN of task `task_arn` placed on instance `instance` of `cluster` (the request's
  // fields): its overrides' taskRoleArn, else its task definition's. NotFound when the task is not
  // on that instance or is STOPPED; FailedPrecondition when it has no role.
  absl::StatusOr<std::string> TaskRoleOf(const v1::GetTaskCredentialsRequest& request) const;

  // Registers or re-registers the agent's host (RegisterContainerInstance). With a join token,
  // registers a new instance only, uses the token once and answers the instance's credential.
  void RegisterInstance(const v1::RegisterContainerInstanceRequest& request,
                        v1::RegisterContainerInstanceResponse* response, const AgentCredential& credential, Done done);
  // May the caller presenting `credential` act as the container instance named by a request's
  // cluster and containerInstance fields (Poll, ReportStateChanges, re-registration)? An instance
  // credential only as its own instance; with `enforce_binding` (authentication on), an instance
  // that registered with a join token only through its credential. A name that does not parse or
  // an instance that does not exist is left to the handler, except for an instance credential.
  absl::Status AdmitInstanceCaller(const std::string& cluster_field, const std::string& instance_field,
                                   const AgentCredential& credential, bool enforce_binding) const;
  // Whether the join token `credential` could register an instance in the cluster a request names
  // now (RegisterInstance checks again when it commits); UNAUTHENTICATED saying why not.
  absl::Status CheckJoinToken(const std::string& cluster_field, const AgentCredential& credential) const;
  // Answers at once when the desired state differs from request.known_version, otherwise parks the
  // poll until it changes or the wait ends. Returns the waiter id to pass to CancelPoll when the
  // poll was parked, else 0.
  // Unlike the other actions, Poll fences its own answers, so `done` must not be wrapped with
  // AnswerWhenDurable: an answer waits only until the records it rendered are durable (the highest
  // revision among them, usually long durable), not for the latest applied batch. An idle poll's
  // "unchanged" answer at its wait's end reveals nothing and goes at once.
  uint64_t Poll(const v1::PollRequest& request, v1::PollResponse* response, Done done);
  // The client went away: completes a parked poll with CANCELLED.
  void CancelPoll(uint64_t waiter_id) { sessions_.Cancel(waiter_id, clock_->MonotonicMicros()); }
  void ReportStateChanges(const v1::ReportStateChangesRequest& request, v1::ReportStateChangesResponse* response,
                          Done done);
  // Answers the parked long polls whose wait is over. Called often (every 10 ms) from one thread,
  // so expiries leave in small groups: the agents' next polls then arrive spread out instead of in
  // one burst that queues API calls behind them on the server's threads.
  void ExpirePolls();
  // Housekeeping, called periodically (every 100 ms) from the same thread: expires long polls,
  // marks silent agents disconnected, deletes STOPPED tasks past their retention.
  void AgentTick();
  // The pipeline's touch listener: queues the instances whose desired state changed for the poll
  // waker, which answers their parked long polls.
  void OnInstancesTouched(std::vector<InstanceKey> instances);
  // --- Managed scaling (capacity_controller.h) reads this; see actions/capacity.cc. ---

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

  // --- The service scheduler; see actions/services_reconcile.cc. ---

  // The pipeline's batch hook: counts service tasks that reached STOPPED against their
  // deployments, and queues the services the batch changed for reconciliation.
  void OnBatchApplied(Applier& txn);
  // Called periodically from one thread: submits one proposal reconciling the services that are
  // queued, due (a timer of theirs expired) or due for their periodic resync. At most one such
  // proposal is in flight.
  void ServiceTick();
  // Called periodically from one thread: submits one proposal that places tasks waiting in
  // PROVISIONING where capacity has appeared and stops those past the timeout, when any wait.
  void CapacityTick();

  // Returns once the poll waker has answered every poll that instances touched so far woke (tests:
  // a touch still queued would otherwise wake a poll parked after it).
  void DrainPollWaker();

  // Answers every parked poll (at shutdown).
  void ShutdownPolls() { sessions_.Shutdown(); }
  const AgentSessions& agent_sessions() const { return sessions_; }

 private:
  // Submits a write. `apply` runs on the pipeline's apply thread under the exclusive state lock; it must
  // validate against state before mutating anything, and return an error having changed nothing.
  void Submit(std::function<absl::Status(Applier&)> apply, Done done);

  // Helpers used inside proposals (state lock held).
  absl::StatusOr<const ClusterEntry*> ActiveCluster(const std::string& name) const;
  // Sets agentConnected (proposal side).
  void SetAgentConnected(Applier& txn, const ClusterEntry& cluster, const InstanceEntry& instance, bool connected);
  // The instance's desired state as the agent sees it (state lock held): only what changed since
  // `known` when the agent accepts deltas and the instance's change log reaches back that far,
  // else all of it.
  // Returns the highest revision among the records it rendered (the instance's, its desired
  // version, its tasks' and their task definitions'): what must be durable before the answer leaves.
  uint64_t RenderDesired(const ClusterEntry& cluster, const InstanceEntry& instance, uint64_t known,
                         bool accepts_deltas, v1::PollResponse* out) const;
  // Completes `done` with `status` once `revision` is durable: at once on this thread if it is.
  void AnswerAt(uint64_t revision, const Done& done, absl::Status status) const;
  // Applies one task report to the task's record (proposal side); true when the record changed.
  bool ApplyTaskReport(const v1::TaskStateChange& change, double now, v1::TaskRecord& r) const;

  // Rendering: records -> API shapes with derived fields filled.
  void RenderCluster(const ClusterEntry& cluster, bool with_tags, v1::Cluster* out) const;
  void RenderTaskDefinition(const v1::TaskDefinitionRecord& record, v1::TaskDefinition* out) const;
  void RenderInstance(const ClusterEntry& cluster, const InstanceEntry& instance, bool with_tags,
                      v1::ContainerInstance* out) const;
  void RenderTask(const v1::TaskRecord& record, bool with_tags, v1::Task* out) const;
  void RenderTask(const TaskEntry& task, bool with_tags, v1::Task* out) const;
  void RenderService(const ClusterEntry& cluster, const ServiceEntry& service, bool with_tags, v1::Service* out) const;
  void RenderFargateProvider(const std::string& name, v1::CapacityProvider* out) const;
  void RenderCapacityProvider(const v1::CapacityProviderRecord& record, bool with_tags,
                              v1::CapacityProvider* out) const;

  // --- Capacity providers; see actions/capacity.cc. ---
  // The instance group a provider scales (from its autoScalingGroupArn); "" if malformed.
  static std::string GroupOfProvider(const v1::CapacityProviderRecord& record);
  // The capacity provider of `cluster` whose group `instance` belongs to; "" for none.
  std::string CapacityProviderOf(const ClusterEntry& cluster, const InstanceEntry& instance) const;
  // Every provider of `strategy` is associated with `cluster`; errors name `field`[i].
  absl::Status CheckClusterStrategy(
      const ClusterEntry& cluster, const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy,
      std::string_view field) const;
  // capacityProviders and defaultCapacityProviderStrategy of CreateCluster and
  // PutClusterCapacityProviders, checked on their own.
  static absl::Status ValidateClusterProviders(
      const google::protobuf::RepeatedPtrField<std::string>& providers,
      const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy);
  // Each provider exists, is ACTIVE and is not associated with another cluster (state lock held).
  absl::Status CheckProvidersAssignable(const std::string& cluster,
                                        const google::protobuf::RepeatedPtrField<std::string>& providers) const;
  // CapacityTick's proposal: places or times out the waiting tasks of every cluster.
  absl::Status ApplyProvisioning(Applier& txn);
  // Where a task waiting in PROVISIONING may go now (state lock held); NotFound or
  // InvalidArgument saying why it never can.
  absl::StatusOr<placement::PlacementRequest> WaitingTaskRequest(const v1::TaskRecord& r) const;
  // Places the waiting `task` on `placed`'s instance: PENDING from here.
  void PlaceProvisioned(Applier& txn, const ClusterEntry& cluster, const TaskEntry& task,
                        const placement::Placement& placed);

  // A service's task definition (family, revision 0 = latest ACTIVE), checked: it exists, is
  // ACTIVE and is compatible with the launch type. State lock held.
  absl::StatusOr<const v1::TaskDefinitionRecord*> ServiceTaskDefinition(const ClusterEntry& cluster,
                                                                        const std::string& family, uint32_t revision,
                                                                        const std::string& launch_type);
  // The service scheduler (proposal side): reconciles one service and carries out the plan.
  // Returns whether the service record changed (the Applier writes it).
  bool ReconcileService(Applier& txn, const ClusterEntry& cluster, const ServiceEntry& service);
  // How a service's placement strategies shape its scale-in.
  struct ScaleInShape {
    std::vector<placement::Strategy> strategies;
    scheduler::ScaleInPolicy policy;
    placement::Strategy::Field binpack_field = placement::Strategy::Field::kNone;
  };
  ScaleInShape ServiceScaleIn(const v1::Service& svc) const;
  // The scheduler's snapshot of a service: each live task with the facts of its instance.
  std::vector<scheduler::ServiceTask> ServiceSnapshot(const ClusterEntry& cluster, const ServiceEntry& service,
                                                      const ScaleInShape& shape) const;
  // DAEMON: the cluster's instances, each marked whether a task of the service belongs on it.
  std::vector<scheduler::DaemonInstance> DaemonInstances(const ClusterEntry& cluster,
                                                         const v1::ServiceRecord& rec) const;
  // What one reconcile pass leaves for later: when to look again, and whether tasks went unplaced.
  struct PassOutcome {
    double wake_at = 0;
    bool unplaced = false;
  };
  // Launches the starts of `plan` and records them (and failures) as events in `rec`; true when
  // `rec` changed.
  bool StartPlanned(Applier& txn, const ClusterEntry& cluster, const ServiceEntry& service, v1::ServiceRecord& rec,
                    const scheduler::Plan& plan, double now, PassOutcome* outcome);
  // The cluster and service name of UpdateService / DeleteService; errors name the field.
  absl::Status ServiceRef(bool has_cluster, const std::string& cluster_in, bool has_service,
                          const std::string& service_in, std::string* cluster, std::string* name) const;
  // Counts the service tasks that reached STOPPED since the last call against their deployments
  // (scheduler::OnTaskStopped), persisting each changed service once.
  void ApplyStoppedServiceTasks(Applier& txn);
  // Queues services for ServiceTick (scheduler_mu_ held).
  void QueueService(const ServiceKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(scheduler_mu_);
  // Marks a task desired STOPPED (StopTask, the scheduler).
  void StopTaskRecord(Applier& txn, const ClusterEntry& cluster, const TaskEntry& task, const std::string& stop_code,
                      const std::string& reason);

  // Places and creates tasks for RunTask / StartTask (proposal side).
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
  absl::Status ApplyLaunch(Applier& txn, const Launch& launch, google::protobuf::RepeatedPtrField<v1::Task>* tasks,
                           google::protobuf::RepeatedPtrField<v1::Failure>* failures);
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
  // A service's launch of its PRIMARY deployment (state lock held); constraints and strategies
  // from the service record.
  absl::StatusOr<Launch> ServiceLaunch(const ClusterEntry& cluster, const ServiceEntry& service) const;

  // A taggable resource located in state: a copy of its tags, and how to replace them (proposal
  // side: changes the record and writes it).
  struct Tagged {
    google::protobuf::RepeatedPtrField<v1::Tag> tags;
    std::function<void(Applier&, google::protobuf::RepeatedPtrField<v1::Tag>)> replace;
  };
  // Resolves a resource ARN (state lock held). NotFound when the resource does not exist.
  absl::StatusOr<Tagged> FindTagged(const std::string& arn);

  std::string ClusterFromRequest(bool has, const std::string& value, absl::Status* error) const;
  // RegisterContainerInstance, and with `join` (a join token's id and digest, and the digest of
  // the credential to issue) the agent's first registration with a join token.
  struct JoinUse {
    std::string token_id;
    std::string token_sha256;
    std::string credential_sha256;
  };
  // `as_bound_instance`: the caller presented the instance's own credential (checked already).
  void Register(const v1::RegisterContainerInstanceRequest& request, v1::RegisterContainerInstanceResponse* response,
                std::optional<JoinUse> join, bool as_bound_instance, Done done);
  // The join token `id` of `cluster` if its secret's digest matches and it is neither expired nor
  // used up; else UNAUTHENTICATED saying which.
  absl::StatusOr<const v1::JoinTokenRecord*> UsableJoinToken(const ClusterEntry& cluster, const std::string& id,
                                                             const std::string& secret_sha256);
  // Counts one registration against `token` (a join token of `cluster`).
  static void CountJoinTokenUse(Applier& txn, const ClusterEntry& cluster, const v1::JoinTokenRecord& token);

  // Task or container-instance ids from a list of ids or ARNs of `cluster`: 1 to `max` of them;
  // errors name `field[i]`.
  absl::StatusOr<std::vector<std::string>> ParseIds(const google::protobuf::RepeatedPtrField<std::string>& items,
                                                    const std::string& cluster, std::string_view field,
                                                    ResourceKind kind, int max) const;

  // The validated, request-independent description of a RunTask / StartTask.
  template <typename Request>
  absl::StatusOr<std::shared_ptr<Launch>> NewLaunch(const Request& request) const;

  const ApiOptions options_;
  const Arns arns_;
  State* const state_;
  absl::Mutex* const mu_;
  CommitPipeline* const pipeline_;
  const Clock* const clock_;
  const placement::Engine engine_{};
  AgentSessions sessions_;
  int64_t next_agent_check_us_ = 0;   // AgentTick's thread only
  int64_t next_provisioning_us_ = 0;  // CapacityTick's thread only
  std::atomic<bool> provisioning_in_flight_{false};
  bool sessions_seeded_ = false;  // AgentTick has given every loaded instance a session
  // When this berthd started (wall clock seconds): an agent's disconnection counts for the
  // disconnect policy from no earlier than this, so a control-plane outage does not make tasks lost.
  const double started_at_;

  // The wait of a parked poll the agent asked to hold for `wait_us` (AgentOptions::poll_wait_jitter).
  int64_t JitteredWait(int64_t wait_us);
  absl::Mutex jitter_mu_;
  std::mt19937_64 jitter_rng_ ABSL_GUARDED_BY(jitter_mu_);

  // The poll waker: a thread that answers the parked polls of touched instances, rendering all
  // that are queued under one hold of the state lock and finishing their RPCs after releasing it.
  // Off the pipeline's completion thread, so acknowledging writes never waits for the state lock
  // or for rendering.
  void RunPollWaker();
  // Renders (under the shared state lock) and answers the polls a batch of touches woke.
  void AnswerWoken(std::vector<AgentSessions::Parked> woken);
  absl::Mutex waker_mu_;
  std::vector<InstanceKey> waker_queue_ ABSL_GUARDED_BY(waker_mu_);
  bool waker_stopping_ ABSL_GUARDED_BY(waker_mu_) = false;
  bool waker_busy_ ABSL_GUARDED_BY(waker_mu_) = false;  // answering what it took off the queue
  std::thread waker_;

  // Service scheduler bookkeeping (scheduler_mu_ is taken after the state mutex, never before).
  absl::Mutex scheduler_mu_;
  // Services waiting to be reconciled, first queued first served (a service is queued once).
  std::deque<ServiceKey> queue_ ABSL_GUARDED_BY(scheduler_mu_);
  absl::flat_hash_set<ServiceKey> queued_ ABSL_GUARDED_BY(scheduler_mu_);
  absl::btree_map<ServiceKey, int64_t> service_wake_us_ ABSL_GUARDED_BY(scheduler_mu_);  // monotonic
  bool reconcile_in_flight_ ABSL_GUARDED_BY(scheduler_mu_) = false;
  int64_t next_resync_us_ ABSL_GUARDED_BY(scheduler_mu_) = 0;
};

}  // namespace berth::controlplane
