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
#include "berth/v1/ecs.pb.h"
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

struct ApiOptions {
  ArnContext arn_context;
  Limits limits;
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
};

}  // namespace berth::controlplane
