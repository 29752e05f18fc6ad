// Api: the transport-neutral implementation of the ContainerService actions and the agent
// protocol, one action class per resource over one ActionContext (action_base.h). The gRPC
// service, the AWS JSON gateway and the agent service are thin adapters over it, so every door
// shares one validation layer and one behaviour.
//
// How an action reads and writes is ActionBase's contract (action_base.h). Thread-safe: actions
// may be called concurrently from any number of threads.
#pragma once

#include <type_traits>

#include "src/controlplane/actions/action_base.h"
#include "src/controlplane/actions/agent_protocol.h"
#include "src/controlplane/actions/agent_sessions.h"
#include "src/controlplane/actions/capacity.h"
#include "src/controlplane/actions/clusters.h"
#include "src/controlplane/actions/instances.h"
#include "src/controlplane/actions/launcher.h"
#include "src/controlplane/actions/logs.h"
#include "src/controlplane/actions/services.h"
#include "src/controlplane/actions/tags.h"
#include "src/controlplane/actions/task_definitions.h"
#include "src/controlplane/actions/tasks.h"
#include "src/controlplane/auth/join_tokens.h"

namespace berth::controlplane {

// X(Class, Action) for every action berthd serves, with the action class that serves it. The doors
// expand it to wire each action to api.actions<Class>().Action.
#define BERTH_API_ACTIONS(X)                           \
  X(ClusterActions, CreateCluster)                     \
  X(ClusterActions, DeleteCluster)                     \
  X(ClusterActions, DescribeClusters)                  \
  X(ClusterActions, ListClusters)                      \
  X(TaskDefinitionActions, RegisterTaskDefinition)     \
  X(TaskDefinitionActions, DeregisterTaskDefinition)   \
  X(TaskDefinitionActions, DescribeTaskDefinition)     \
  X(TaskDefinitionActions, ListTaskDefinitions)        \
  X(TaskDefinitionActions, ListTaskDefinitionFamilies) \
  X(InstanceActions, RegisterContainerInstance)        \
  X(InstanceActions, DeregisterContainerInstance)      \
  X(InstanceActions, DescribeContainerInstances)       \
  X(InstanceActions, ListContainerInstances)           \
  X(InstanceActions, UpdateContainerInstancesState)    \
  X(InstanceActions, PutAttributes)                    \
  X(InstanceActions, DeleteAttributes)                 \
  X(InstanceActions, ListAttributes)                   \
  X(TaskActions, RunTask)                              \
  X(TaskActions, StartTask)                            \
  X(TaskActions, StopTask)                             \
  X(TaskActions, DescribeTasks)                        \
  X(TaskActions, ListTasks)                            \
  X(ServiceActions, UpdateTaskProtection)              \
  X(ServiceActions, GetTaskProtection)                 \
  X(ServiceActions, CreateService)                     \
  X(ServiceActions, UpdateService)                     \
  X(ServiceActions, DeleteService)                     \
  X(ServiceActions, DescribeServices)                  \
  X(ServiceActions, ListServices)                      \
  X(TagActions, TagResource)                           \
  X(TagActions, UntagResource)                         \
  X(TagActions, ListTagsForResource)                   \
  X(TaskActions, ExplainPlacement)                     \
  X(JoinTokenActions, CreateJoinToken)                 \
  X(JoinTokenActions, ListJoinTokens)                  \
  X(JoinTokenActions, DeleteJoinToken)                 \
  X(ClusterActions, UpdateClusterSettings)             \
  X(ClusterActions, PutClusterCapacityProviders)       \
  X(CapacityActions, CreateCapacityProvider)           \
  X(CapacityActions, UpdateCapacityProvider)           \
  X(CapacityActions, DeleteCapacityProvider)           \
  X(CapacityActions, DescribeCapacityProviders)

class Api {
 public:
  using Done = ActionBase::Done;

  // `state` is guarded by `mu`; both, `pipeline` and `clock` must outlive the Api.
  Api(ApiOptions options, State* state, absl::Mutex* mu, CommitPipeline* pipeline, const Clock* clock);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  ClusterActions& clusters() { return clusters_; }
  TaskDefinitionActions& task_definitions() { return task_definitions_; }
  const TaskDefinitionActions& task_definitions() const { return task_definitions_; }
  InstanceActions& instances() { return instances_; }
  TaskActions& tasks() { return tasks_; }
  ServiceActions& services() { return services_; }
  CapacityActions& capacity() { return capacity_; }
  TagActions& tags() { return tags_; }
  JoinTokenActions& join_tokens() { return join_tokens_; }
  AgentProtocol& agent() { return agent_; }
  LogActions& logs() { return logs_; }

  // The action class `Actions` (for the doors' generated dispatch, BERTH_API_ACTIONS).
  template <typename Actions>
  Actions& actions();

  // On the first start of a store: records the schema version and creates the `default` cluster
  // (ClusterActions::Bootstrap). Blocks until durable.
  absl::Status Bootstrap() { return clusters_.Bootstrap(); }

  const Arns& arns() const { return context_.arns; }

  // Wraps a door's answer so it leaves berthd only once the state it may show is durable. Readers
  // hold the state lock shared and can see a batch whose write is still in flight (the pipeline
  // applies the next batch while the previous one syncs); such an answer waits for that write.
  // Proposals' own completions run after their batch is durable and pass straight through. Every
  // door (gRPC, agent protocol, AWS JSON) wraps every action's `done` with it, except Poll, which
  // fences its own answers at the revision of what it rendered.
  Done AnswerWhenDurable(Done done) const;

 private:
  const ActionContext context_;
  AgentSessions sessions_;  // the agent protocol's; registration tells it of each instance
  Launcher launcher_;
  ClusterActions clusters_;
  TaskDefinitionActions task_definitions_;
  InstanceActions instances_;
  TaskActions tasks_;
  ServiceActions services_;
  CapacityActions capacity_;
  TagActions tags_;
  JoinTokenActions join_tokens_;
  AgentProtocol agent_;
  LogActions logs_;
};

template <typename Actions>
Actions& Api::actions() {
  if constexpr (std::is_same_v<Actions, ClusterActions>)
    return clusters_;
  else if constexpr (std::is_same_v<Actions, TaskDefinitionActions>)
    return task_definitions_;
  else if constexpr (std::is_same_v<Actions, InstanceActions>)
    return instances_;
  else if constexpr (std::is_same_v<Actions, TaskActions>)
    return tasks_;
  else if constexpr (std::is_same_v<Actions, ServiceActions>)
    return services_;
  else if constexpr (std::is_same_v<Actions, CapacityActions>)
    return capacity_;
  else if constexpr (std::is_same_v<Actions, TagActions>)
    return tags_;
  else if constexpr (std::is_same_v<Actions, JoinTokenActions>)
    return join_tokens_;
  else if constexpr (std::is_same_v<Actions, AgentProtocol>)
    return agent_;
  else if constexpr (std::is_same_v<Actions, LogActions>)
    return logs_;
  else
    static_assert(sizeof(Actions) == 0, "not an action class of Api");
}

}  // namespace berth::controlplane
