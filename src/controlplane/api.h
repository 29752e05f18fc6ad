// Api: the transport-neutral implementation of the ContainerService actions. The gRPC service
// and the AWS JSON gateway are thin adapters over it, so every door shares one validation layer
// and one behaviour.
//
// Each method validates its request on the calling thread (bad input completes `done` with
// INVALID_ARGUMENT and changes nothing), then either
//   - reads: takes the state mutex shared, fills the response, and completes `done` inline; or
//   - writes: submits a proposal to the commit pipeline; `done` runs on the pipeline thread once
//     the change is durable (or with the error that rejected it).
// `request` and `response` must stay valid until `done` runs.
//
// Thread-safe: methods may be called concurrently from any number of threads.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "berth/common/arn.h"
#include "berth/common/clock.h"
#include "berth/placement/engine.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/ecs.pb.h"
#include "src/controlplane/agent_sessions.h"
#include "src/controlplane/pipeline.h"
#include "src/controlplane/state.h"
#include "src/controlplane/validation.h"

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
  X(TagResource)                   \
  X(UntagResource)                 \
  X(ListTagsForResource)           \
  X(ExplainPlacement)

// The agent protocol's timing.
struct AgentOptions {
  // An instance whose agent has not polled or reported for this long is marked
  // agentConnected=false (its tasks keep running; nothing new is placed there).
  int64_t disconnect_after_us = 60'000'000;
  // Upper bound of a long poll's wait, whatever the agent asks.
  int64_t max_poll_wait_us = 30'000'000;
  // How long STOPPED tasks stay visible (DescribeTasks, ListTasks) before they are deleted.
  int64_t stopped_task_retention_us = 3'600'000'000;
  // How often AgentTick looks for silent agents and expired tasks.
  int64_t check_interval_us = 1'000'000;
};

struct ApiOptions {
  ArnContext arn_context;
  Limits limits;
  AgentOptions agent;
};

class Api {
 public:
  using Done = std::function<void(absl::Status)>;

  // `state` is guarded by `mu`; both, `pipeline` and `clock` must outlive the Api.
  Api(ApiOptions options, State* state, absl::Mutex* mu, CommitPipeline* pipeline, const Clock* clock);

#define BERTH_DECLARE_ACTION(A) void A(const v1::A##Request& request, v1::A##Response* response, Done done);
  BERTH_API_ACTIONS(BERTH_DECLARE_ACTION)
#undef BERTH_DECLARE_ACTION

  // On the first start of a store: records the schema version and creates the `default`
  // cluster. A later start changes nothing (a deleted `default` stays deleted until CreateCluster
  // re-creates it). Blocks until durable.
  absl::Status Bootstrap();

  const Arns& arns() const { return arns_; }

  // --- The agent protocol (agent.proto); see api_agent.cc. ---

  // Registers or re-registers the agent's host (RegisterContainerInstance).
  void RegisterInstance(const v1::RegisterContainerInstanceRequest& request,
                        v1::RegisterContainerInstanceResponse* response, Done done);
  // Answers at once when the desired state differs from request.known_version, otherwise parks the
  // poll until it changes or the wait ends. Returns the waiter id to pass to CancelPoll when the
  // poll was parked, else 0.
  uint64_t Poll(const v1::PollRequest& request, v1::PollResponse* response, Done done);
  // The client went away: completes a parked poll with CANCELLED.
  void CancelPoll(uint64_t waiter_id) { sessions_.Cancel(waiter_id); }
  void ReportStateChanges(const v1::ReportStateChangesRequest& request, v1::ReportStateChangesResponse* response,
                          Done done);
  // Housekeeping, called periodically from one thread: expires long polls, marks silent agents
  // disconnected, deletes STOPPED tasks past their retention.
  void AgentTick();
  // The pipeline's touch listener: wakes the long polls of instances whose desired state changed.
  void OnInstancesTouched(std::vector<InstanceKey> instances) { sessions_.WakeChanged(instances); }
  // Answers every parked poll (at shutdown).
  void ShutdownPolls() { sessions_.Shutdown(); }
  const AgentSessions& agent_sessions() const { return sessions_; }

 private:
  // Submits a write. `apply` runs on the pipeline thread under the exclusive state lock; it must
  // validate against state before mutating anything, and return an error having changed nothing.
  void Submit(std::function<absl::Status(Txn&)> apply, Done done);

  // Helpers used inside proposals (state lock held).
  absl::StatusOr<ClusterEntry*> ActiveCluster(const std::string& name);
  void PutCluster(Txn& txn, ClusterEntry& cluster);
  void PutInstance(Txn& txn, InstanceEntry& instance);
  void PutTask(Txn& txn, TaskEntry& task);
  void PutTaskDefinition(Txn& txn, v1::TaskDefinitionRecord& record);
  void DeleteTask(Txn& txn, const std::string& cluster, const std::string& task_id);
  // The instance's desired state changed: bump its version and wake its agent after commit.
  void TouchInstance(Txn& txn, InstanceEntry& instance);
  // Sets agentConnected (proposal side).
  void SetAgentConnected(Txn& txn, ClusterEntry& cluster, InstanceEntry& instance, bool connected);
  // The instance's desired state as the agent sees it (state lock held).
  void RenderDesired(const ClusterEntry& cluster, const InstanceEntry& instance, v1::PollResponse* out) const;
  // Applies one task report (proposal side); true when the record changed.
  bool ApplyTaskReport(ClusterEntry& cluster, TaskEntry& task, const v1::TaskStateChange& change, double now);
  void PutAttribute(Txn& txn, const std::string& cluster, const std::string& instance_id, v1::AttributeRecord& record);

  // Rendering: records -> API shapes with derived fields filled.
  void RenderCluster(const ClusterEntry& cluster, bool with_tags, v1::Cluster* out) const;
  void RenderTaskDefinition(const v1::TaskDefinitionRecord& record, v1::TaskDefinition* out) const;
  void RenderInstance(const ClusterEntry& cluster, const InstanceEntry& instance, bool with_tags,
                      v1::ContainerInstance* out) const;
  void RenderTask(const TaskEntry& task, bool with_tags, v1::Task* out) const;

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
    uint64_t seed = 0;  // for the random strategy
  };
  // A launch resolved against state (lock held): cluster, task definition, demand with overrides,
  // and the placement request (the task definition's constraints included).
  struct ResolvedLaunch {
    ClusterEntry* cluster = nullptr;
    const v1::TaskDefinitionRecord* definition = nullptr;
    v1::ResourceDemand demand;
    placement::PlacementRequest request;
  };
  absl::StatusOr<ResolvedLaunch> ResolveLaunch(const Launch& launch);
  // RunTask's request checked and parsed (also used by ExplainPlacement).
  absl::StatusOr<std::shared_ptr<Launch>> NewRunLaunch(const v1::RunTaskRequest& request) const;
  absl::Status ApplyLaunch(Txn& txn, const Launch& launch, google::protobuf::RepeatedPtrField<v1::Task>* tasks,
                           google::protobuf::RepeatedPtrField<v1::Failure>* failures);

  // A taggable resource located in state: its tags and how to persist a change to them.
  struct Tagged {
    google::protobuf::RepeatedPtrField<v1::Tag>* tags = nullptr;
    std::function<void(Txn&)> persist;
  };
  // Resolves a resource ARN (state lock held). NotFound when the resource does not exist.
  absl::StatusOr<Tagged> FindTagged(const std::string& arn);

  std::string ClusterFromRequest(bool has, const std::string& value, absl::Status* error) const;

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
  int64_t next_agent_check_us_ = 0;  // AgentTick's thread only
};

}  // namespace berth::controlplane
