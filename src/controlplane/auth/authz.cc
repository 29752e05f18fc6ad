#include "src/controlplane/auth/authz.h"

#include <string>
#include <utility>

#include "berth/common/strings.h"

namespace berth::controlplane::auth {
namespace {

using Requests = std::vector<AccessRequest>;

// "...:task-definition/<family>:*": every revision of a family.
std::string EveryRevision(const Arns& arns, std::string_view family) {
  std::string arn = arns.TaskDefinition(family, 1);
  arn.back() = '*';  // "...:<family>:1" -> "...:<family>:*"
  return arn;
}

// Builds the access requests of one request: the action, and per resource its ARN and cluster.
class Builder {
 public:
  Builder(const Arns& arns, std::string_view action) : arns_(arns), action_(StrCat("ecs:", action)) {}

  // The request's cluster by name or ARN; "default" when absent, as the handlers do.
  absl::Status Cluster(bool has, const std::string& value) {
    if (!has || value.empty()) {
      cluster_ = "default";
      return absl::OkStatus();
    }
    auto name = arns_.ClusterName(value, "cluster");
    if (!name.ok()) return name.status();
    cluster_ = *std::move(name);
    return absl::OkStatus();
  }
  const std::string& cluster() const { return cluster_; }
  std::string ClusterArn() const { return arns_.Cluster(cluster_); }

  void Add(std::string resource, bool in_cluster = true) {
    AccessRequest r{.action = action_, .resource = std::move(resource), .context = {}};
    if (in_cluster && !cluster_.empty()) r.context.emplace_back("ecs:cluster", ClusterArn());
    out_.push_back(std::move(r));
  }
  void AddCluster() { Add(ClusterArn()); }
  void AddAny() { Add("*", /*in_cluster=*/false); }

  // "family", "family:rev" or the ARN; without a revision, every revision of the family.
  absl::Status AddTaskDefinition(const std::string& ref, std::string_view field, bool in_cluster) {
    auto parsed = arns_.TaskDefinition(ref, field);
    if (!parsed.ok()) return parsed.status();
    Add(TaskDefinitionArn(parsed->family, parsed->revision), in_cluster);
    return absl::OkStatus();
  }
  std::string TaskDefinitionArn(std::string_view family, uint32_t revision) const {
    return revision != 0 ? arns_.TaskDefinition(family, revision) : EveryRevision(arns_, family);
  }

  absl::Status AddTasks(const google::protobuf::RepeatedPtrField<std::string>& tasks, std::string_view field) {
    for (int i = 0; i < tasks.size(); ++i) {
      auto id = arns_.TaskId(tasks[i], cluster_, StrCat(field, "[", i, "]"));
      if (!id.ok()) return id.status();
      Add(arns_.Task(cluster_, *id));
    }
    return absl::OkStatus();
  }
  absl::Status AddTask(const std::string& task, std::string_view field) {
    auto id = arns_.TaskId(task, cluster_, field);
    if (!id.ok()) return id.status();
    Add(arns_.Task(cluster_, *id));
    return absl::OkStatus();
  }
  absl::Status AddInstance(const std::string& instance, std::string_view field) {
    auto id = arns_.ContainerInstanceId(instance, cluster_, field);
    if (!id.ok()) return id.status();
    Add(arns_.ContainerInstance(cluster_, *id));
    return absl::OkStatus();
  }
  absl::Status AddService(const std::string& service, std::string_view field) {
    auto name = arns_.ServiceName(service, cluster_, field);
    if (!name.ok()) return name.status();
    Add(arns_.Service(cluster_, *name));
    return absl::OkStatus();
  }

  Requests Done() { return std::move(out_); }

 private:
  const Arns& arns_;
  const std::string action_;
  std::string cluster_;
  Requests out_;
};

#define RETURN_IF_ERROR_AUTHZ(expr) \
  do {                              \
    absl::Status _st = (expr);      \
    if (!_st.ok()) return _st;      \
  } while (0)

// Actions on the cluster itself, or on something of a cluster with no finer ARN.
template <typename Request>
absl::StatusOr<Requests> OnCluster(const Arns& arns, std::string_view action, const Request& r) {
  Builder b(arns, action);
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  b.AddCluster();
  return b.Done();
}

// Actions on each task a request lists (on the cluster when it lists none).
template <typename Request>
absl::StatusOr<Requests> OnTasks(const Arns& arns, std::string_view action, const Request& r) {
  Builder b(arns, action);
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddTasks(r.tasks(), "tasks"));
  if (r.tasks().empty()) b.AddCluster();
  return b.Done();
}

// Actions on each container instance a request lists (on the cluster when it lists none).
template <typename Request>
absl::StatusOr<Requests> OnInstances(const Arns& arns, std::string_view action, const Request& r) {
  Builder b(arns, action);
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  for (int i = 0; i < r.container_instances_size(); ++i) {
    RETURN_IF_ERROR_AUTHZ(b.AddInstance(r.container_instances(i), StrCat("containerInstances[", i, "]")));
  }
  if (r.container_instances().empty()) b.AddCluster();
  return b.Done();
}

// An ARN given to the tagging actions: its own, with the cluster it belongs to as ecs:cluster.
absl::StatusOr<Requests> OnArn(const Arns& arns, std::string_view action, const std::string& resource_arn) {
  if (resource_arn.empty()) return absl::InvalidArgumentError("resourceArn: required");
  auto arn = ParseArn(resource_arn, "resourceArn");
  if (!arn.ok()) return arn.status();
  Builder b(arns, action);
  std::string cluster;
  switch (arn->kind) {
    case ResourceKind::kCluster:
      cluster = arn->resource;
      break;
    case ResourceKind::kTask:
    case ResourceKind::kContainerInstance:
    case ResourceKind::kService:
    case ResourceKind::kContainer:
      cluster = arn->resource.substr(0, arn->resource.find('/'));
      break;
    default:
      break;
  }
  if (!cluster.empty()) RETURN_IF_ERROR_AUTHZ(b.Cluster(true, cluster));
  b.Add(resource_arn, !cluster.empty());
  return b.Done();
}

}  // namespace

std::string RoleArn(const Arns& arns, std::string_view name_or_arn) {
  if (name_or_arn.substr(0, 4) == "arn:") return std::string(name_or_arn);
  return StrCat("arn:aws:iam::", arns.context().account, ":role/", name_or_arn);
}

std::string IamAction(std::string_view action) {
  if (action == "RegisterInstance") return "ecs:RegisterContainerInstance";
  if (action == "ReportStateChanges") return "ecs:SubmitTaskStateChange";
  if (action == "GetTaskCredentials") return "ecs:Poll";
  if (action == "PushLogs") return "ecs:SubmitTaskStateChange";
  return StrCat("ecs:", action);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::CreateClusterRequest& r) {
  Builder b(arns, "CreateCluster");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster_name(), r.cluster_name()));
  b.AddCluster();
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteClusterRequest& r) {
  return OnCluster(arns, "DeleteCluster", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::UpdateClusterSettingsRequest& r) {
  return OnCluster(arns, "UpdateClusterSettings", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DescribeClustersRequest& r) {
  Builder b(arns, "DescribeClusters");
  if (r.clusters().empty()) {
    RETURN_IF_ERROR_AUTHZ(b.Cluster(false, ""));
    b.AddCluster();
  }
  for (const std::string& c : r.clusters()) {
    RETURN_IF_ERROR_AUTHZ(b.Cluster(true, c));
    b.AddCluster();
  }
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListClustersRequest&) {
  Builder b(arns, "ListClusters");
  b.AddAny();
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::RegisterTaskDefinitionRequest& r) {
  Builder b(arns, "RegisterTaskDefinition");
  if (!r.has_family() || !IsValidName(r.family())) {
    return absl::InvalidArgumentError("family: required, 1-255 letters, digits, hyphens and underscores");
  }
  b.Add(b.TaskDefinitionArn(r.family(), 0), /*in_cluster=*/false);
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeregisterTaskDefinitionRequest& r) {
  Builder b(arns, "DeregisterTaskDefinition");
  RETURN_IF_ERROR_AUTHZ(b.AddTaskDefinition(r.task_definition(), "taskDefinition", /*in_cluster=*/false));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DescribeTaskDefinitionRequest& r) {
  Builder b(arns, "DescribeTaskDefinition");
  RETURN_IF_ERROR_AUTHZ(b.AddTaskDefinition(r.task_definition(), "taskDefinition", /*in_cluster=*/false));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListTaskDefinitionsRequest&) {
  Builder b(arns, "ListTaskDefinitions");
  b.AddAny();
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListTaskDefinitionFamiliesRequest&) {
  Builder b(arns, "ListTaskDefinitionFamilies");
  b.AddAny();
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::RegisterContainerInstanceRequest& r) {
  return OnCluster(arns, "RegisterContainerInstance", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeregisterContainerInstanceRequest& r) {
  Builder b(arns, "DeregisterContainerInstance");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddInstance(r.container_instance(), "containerInstance"));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DescribeContainerInstancesRequest& r) {
  return OnInstances(arns, "DescribeContainerInstances", r);
}

// Capacity providers are account-wide: their ARN, outside any cluster.
absl::StatusOr<Requests> OnCapacityProvider(const Arns& arns, std::string_view action, bool has,
                                            const std::string& name_or_arn, std::string_view field) {
  Builder b(arns, action);
  if (!has || name_or_arn.empty()) return absl::InvalidArgumentError(StrCat(field, ": required"));
  auto name = arns.CapacityProviderName(name_or_arn, field);
  if (!name.ok()) return name.status();
  b.Add(arns.CapacityProvider(*name), /*in_cluster=*/false);
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::CreateCapacityProviderRequest& r) {
  return OnCapacityProvider(arns, "CreateCapacityProvider", r.has_name(), r.name(), "name");
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::UpdateCapacityProviderRequest& r) {
  return OnCapacityProvider(arns, "UpdateCapacityProvider", r.has_name(), r.name(), "name");
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteCapacityProviderRequest& r) {
  return OnCapacityProvider(arns, "DeleteCapacityProvider", r.has_capacity_provider(), r.capacity_provider(),
                            "capacityProvider");
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DescribeCapacityProvidersRequest& r) {
  Builder b(arns, "DescribeCapacityProviders");
  for (int i = 0; i < r.capacity_providers_size(); ++i) {
    auto name = arns.CapacityProviderName(r.capacity_providers(i), StrCat("capacityProviders[", i, "]"));
    if (!name.ok()) return name.status();
    b.Add(arns.CapacityProvider(*name), /*in_cluster=*/false);
  }
  if (r.capacity_providers().empty()) b.AddAny();
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::PutClusterCapacityProvidersRequest& r) {
  return OnCluster(arns, "PutClusterCapacityProviders", r);
}

// Join tokens are Berth's own actions (ecs:CreateJoinToken, ...), on the cluster they admit to.
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::CreateJoinTokenRequest& r) {
  return OnCluster(arns, "CreateJoinToken", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListJoinTokensRequest& r) {
  return OnCluster(arns, "ListJoinTokens", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteJoinTokenRequest& r) {
  return OnCluster(arns, "DeleteJoinToken", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListContainerInstancesRequest& r) {
  return OnCluster(arns, "ListContainerInstances", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::UpdateContainerInstancesStateRequest& r) {
  return OnInstances(arns, "UpdateContainerInstancesState", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::PutAttributesRequest& r) {
  return OnCluster(arns, "PutAttributes", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteAttributesRequest& r) {
  return OnCluster(arns, "DeleteAttributes", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListAttributesRequest& r) {
  return OnCluster(arns, "ListAttributes", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::RunTaskRequest& r) {
  Builder b(arns, "RunTask");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddTaskDefinition(r.task_definition(), "taskDefinition", /*in_cluster=*/true));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::StartTaskRequest& r) {
  Builder b(arns, "StartTask");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddTaskDefinition(r.task_definition(), "taskDefinition", /*in_cluster=*/true));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::StopTaskRequest& r) {
  Builder b(arns, "StopTask");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddTask(r.task(), "task"));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DescribeTasksRequest& r) {
  return OnTasks(arns, "DescribeTasks", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListTasksRequest& r) {
  return OnCluster(arns, "ListTasks", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::UpdateTaskProtectionRequest& r) {
  return OnTasks(arns, "UpdateTaskProtection", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::GetTaskProtectionRequest& r) {
  return OnTasks(arns, "GetTaskProtection", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::CreateServiceRequest& r) {
  Builder b(arns, "CreateService");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  if (!r.has_service_name() || !IsValidName(r.service_name())) {
    return absl::InvalidArgumentError("serviceName: required, 1-255 letters, digits, hyphens and underscores");
  }
  b.Add(arns.Service(b.cluster(), r.service_name()));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::UpdateServiceRequest& r) {
  Builder b(arns, "UpdateService");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddService(r.service(), "service"));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteServiceRequest& r) {
  Builder b(arns, "DeleteService");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddService(r.service(), "service"));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DescribeServicesRequest& r) {
  Builder b(arns, "DescribeServices");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  for (int i = 0; i < r.services_size(); ++i) {
    RETURN_IF_ERROR_AUTHZ(b.AddService(r.services(i), StrCat("services[", i, "]")));
  }
  if (r.services().empty()) b.AddCluster();
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListServicesRequest& r) {
  return OnCluster(arns, "ListServices", r);
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::TagResourceRequest& r) {
  return OnArn(arns, "TagResource", r.resource_arn());
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::UntagResourceRequest& r) {
  return OnArn(arns, "UntagResource", r.resource_arn());
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ListTagsForResourceRequest& r) {
  return OnArn(arns, "ListTagsForResource", r.resource_arn());
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ExplainPlacementRequest& r) {
  Builder b(arns, "ExplainPlacement");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(r.has_cluster(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddTaskDefinition(r.task_definition(), "taskDefinition", /*in_cluster=*/true));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::PollRequest& r) {
  Builder b(arns, "Poll");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(!r.cluster().empty(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddInstance(r.container_instance(), "containerInstance"));
  return b.Done();
}

// Reading a task's role credentials is part of reading the instance's desired state.
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::GetTaskCredentialsRequest& r) {
  Builder b(arns, "Poll");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(!r.cluster().empty(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddInstance(r.container_instance(), "containerInstance"));
  return b.Done();
}

// Shipping the output of the instance's containers is part of reporting on its tasks.
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::PushLogsRequest& r) {
  Builder b(arns, "SubmitTaskStateChange");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(!r.cluster().empty(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddInstance(r.container_instance(), "containerInstance"));
  return b.Done();
}

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::ReportStateChangesRequest& r) {
  Builder b(arns, "SubmitTaskStateChange");
  RETURN_IF_ERROR_AUTHZ(b.Cluster(!r.cluster().empty(), r.cluster()));
  RETURN_IF_ERROR_AUTHZ(b.AddInstance(r.container_instance(), "containerInstance"));
  return b.Done();
}

namespace {

// Keeps the ARNs of `list` that `who` may see through `action`.
void KeepVisible(const Authority& authority, const Identity& who, std::string_view action,
                 google::protobuf::RepeatedPtrField<std::string>* list) {
  if (who.unrestricted) return;
  auto cluster_arn = [&](const std::string& text) -> std::string {
    auto arn = ParseArn(text, "arn");
    if (!arn.ok()) return "";
    switch (arn->kind) {
      case ResourceKind::kCluster:
        return text;
      case ResourceKind::kTask:
      case ResourceKind::kContainerInstance:
      case ResourceKind::kService:
        return authority.arns().Cluster(arn->resource.substr(0, arn->resource.find('/')));
      default:
        return "";
    }
  };
  int kept = 0;
  for (int i = 0; i < list->size(); ++i) {
    const std::string& arn = list->Get(i);
    if (!authority.Visible(who, action, arn, cluster_arn(arn))) continue;
    if (kept != i) list->Mutable(kept)->swap(*list->Mutable(i));
    ++kept;
  }
  while (list->size() > kept) list->RemoveLast();
}

}  // namespace

void FilterVisible(const Authority& authority, const Identity& who, v1::ListClustersResponse* response) {
  KeepVisible(authority, who, "DescribeClusters", response->mutable_cluster_arns());
}
void FilterVisible(const Authority& authority, const Identity& who, v1::ListTaskDefinitionsResponse* response) {
  KeepVisible(authority, who, "DescribeTaskDefinition", response->mutable_task_definition_arns());
}
void FilterVisible(const Authority& authority, const Identity& who, v1::ListTaskDefinitionFamiliesResponse* response) {
  if (who.unrestricted) return;
  auto* families = response->mutable_families();
  int kept = 0;
  for (int i = 0; i < families->size(); ++i) {
    if (!authority.Visible(who, "DescribeTaskDefinition", EveryRevision(authority.arns(), families->Get(i)), "")) {
      continue;
    }
    if (kept != i) families->Mutable(kept)->swap(*families->Mutable(i));
    ++kept;
  }
  while (families->size() > kept) families->RemoveLast();
}
void FilterVisible(const Authority& authority, const Identity& who, v1::ListContainerInstancesResponse* response) {
  KeepVisible(authority, who, "DescribeContainerInstances", response->mutable_container_instance_arns());
}
void FilterVisible(const Authority& authority, const Identity& who, v1::ListTasksResponse* response) {
  KeepVisible(authority, who, "DescribeTasks", response->mutable_task_arns());
}
void FilterVisible(const Authority& authority, const Identity& who, v1::ListServicesResponse* response) {
  KeepVisible(authority, who, "DescribeServices", response->mutable_service_arns());
}

}  // namespace berth::controlplane::auth
