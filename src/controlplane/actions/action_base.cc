// ActionContext and ActionBase: the proposal plumbing, lookups and rendering of records into API
// shapes shared by every action class. The capacity-provider lookups are in capacity.cc.
#include "src/controlplane/actions/action_base.h"

#include <algorithm>

#include "berth/common/strings.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {

ActionContext::ActionContext(ApiOptions options_in, State* state_in, absl::Mutex* mu_in, CommitPipeline* pipeline_in,
                             const Clock* clock_in)
    : options(std::move(options_in)),
      arns(options.arn_context),
      state(state_in),
      mu(mu_in),
      pipeline(pipeline_in),
      clock(clock_in),
      started_at(clock_in->NowSeconds()) {}

ActionBase::ActionBase(const ActionContext& context)
    : options_(context.options),
      arns_(context.arns),
      state_(context.state),
      mu_(context.mu),
      pipeline_(context.pipeline),
      clock_(context.clock),
      engine_(context.engine),
      started_at_(context.started_at) {}

void ActionBase::Submit(std::function<absl::Status(Applier&)> apply, Done done) {
  pipeline_->Submit(MakeProposal(state_, std::move(apply), std::move(done)));
}

absl::StatusOr<const ClusterEntry*> ActionBase::ActiveCluster(const std::string& name) const {
  const ClusterEntry* c = state_->FindCluster(name);
  if (c == nullptr || !c->active()) return ClusterNotFound(name);
  return c;
}

std::string ActionBase::ClusterFromRequest(bool has, const std::string& value, absl::Status* error) const {
  if (!has || value.empty()) return "default";
  auto name = arns_.ClusterName(value, "cluster");
  if (!name.ok()) {
    *error = WithType(name.status(), "InvalidParameterException");
    return {};
  }
  return *std::move(name);
}

absl::StatusOr<std::vector<std::string>> ActionBase::ParseIds(
    const google::protobuf::RepeatedPtrField<std::string>& items, const std::string& cluster, std::string_view field,
    ResourceKind kind, int max) const {
  const char* noun = kind == ResourceKind::kTask ? "task" : "container instance";
  if (items.empty() || items.size() > max) {
    return InvalidParameter(field, ": give 1 to ", max, " ", noun, " ids or ARNs (got ", items.size(), ")");
  }
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (int i = 0; i < items.size(); ++i) {
    std::string item_field = StrCat(field, "[", i, "]");
    auto id = kind == ResourceKind::kTask ? arns_.TaskId(items[i], cluster, item_field)
                                          : arns_.ContainerInstanceId(items[i], cluster, item_field);
    if (!id.ok()) return WithType(id.status(), "InvalidParameterException");
    ids.push_back(*std::move(id));
  }
  return ids;
}

// --- rendering ---

void ActionBase::RenderCluster(const ClusterEntry& cluster, bool with_tags, v1::Cluster* out) const {
  *out = cluster.record.cluster();
  out->set_cluster_arn(arns_.Cluster(out->cluster_name()));
  out->set_registered_container_instances_count(static_cast<int32_t>(cluster.registered_instances()));
  out->set_running_tasks_count(static_cast<int32_t>(cluster.running_tasks));
  out->set_pending_tasks_count(static_cast<int32_t>(cluster.pending_tasks));
  out->set_active_services_count(static_cast<int32_t>(cluster.active_services));
  if (!with_tags) out->clear_tags();
}

void ActionBase::RenderTaskDefinition(const v1::TaskDefinitionRecord& record, v1::TaskDefinition* out) const {
  *out = record.task_definition();
  out->set_task_definition_arn(arns_.TaskDefinition(out->family(), static_cast<uint32_t>(out->revision())));
}

namespace {
void AddIntegerResource(google::protobuf::RepeatedPtrField<v1::Resource>* out, const char* name, int64_t value) {
  auto* r = out->Add();
  r->set_name(name);
  r->set_type("INTEGER");
  r->set_double_value(0);
  r->set_long_value(0);
  r->set_integer_value(static_cast<int32_t>(value));
}

void AddPortsResource(google::protobuf::RepeatedPtrField<v1::Resource>* out, const char* name,
                      const absl::flat_hash_set<int32_t>& ports) {
  auto* r = out->Add();
  r->set_name(name);
  r->set_type("STRINGSET");
  r->set_double_value(0);
  r->set_long_value(0);
  r->set_integer_value(0);
  std::vector<int32_t> sorted(ports.begin(), ports.end());
  std::sort(sorted.begin(), sorted.end());
  for (int32_t p : sorted) r->add_string_set_value(std::to_string(p));
}
}  // namespace

void ActionBase::RenderInstance(const ClusterEntry& cluster, const InstanceEntry& instance, bool with_tags,
                                v1::ContainerInstance* out) const {
  *out = instance.record.instance();
  out->set_container_instance_arn(arns_.ContainerInstance(instance.record.cluster(), instance.record.id()));
  out->set_running_tasks_count(instance.running_tasks);
  out->set_pending_tasks_count(instance.pending_tasks);
  if (std::string provider = CapacityProviderOf(cluster, instance); !provider.empty()) {
    out->set_capacity_provider_name(std::move(provider));
  }
  if (const placement::InstanceView* view = cluster.view.Find(instance.record.id())) {
    AddIntegerResource(out->mutable_remaining_resources(), "CPU", view->cpu_remaining());
    AddIntegerResource(out->mutable_remaining_resources(), "MEMORY", view->memory_remaining());
    AddPortsResource(out->mutable_remaining_resources(), "PORTS", view->tcp_ports_used);
    AddPortsResource(out->mutable_remaining_resources(), "PORTS_UDP", view->udp_ports_used);
  }
  for (const auto& [name, rec] : instance.attributes) {
    auto* a = out->add_attributes();
    a->set_name(rec.attribute().name());
    if (rec.attribute().has_value()) a->set_value(rec.attribute().value());
  }
  if (!with_tags) out->clear_tags();
}

void ActionBase::RenderTask(const TaskEntry& task, bool with_tags, v1::Task* out) const {
  RenderTask(task.record(), with_tags, out);
}

void ActionBase::RenderTask(const v1::TaskRecord& rec, bool with_tags, v1::Task* out) const {
  *out = rec.task();
  out->set_task_arn(arns_.Task(rec.cluster(), rec.id()));
  out->set_cluster_arn(arns_.Cluster(rec.cluster()));
  out->set_task_definition_arn(arns_.TaskDefinition(rec.family(), rec.task_definition_revision()));
  // A FARGATE task's host is Berth's, not the user's: ECS shows no container instance for it.
  if (!rec.container_instance_id().empty() && rec.task().launch_type() != "FARGATE") {
    out->set_container_instance_arn(arns_.ContainerInstance(rec.cluster(), rec.container_instance_id()));
  }
  for (auto& c : *out->mutable_containers()) {
    c.set_task_arn(out->task_arn());
    c.set_container_arn(arns_.Container(rec.cluster(), rec.id(), c.name()));
  }
  if (!with_tags) out->clear_tags();
}

}  // namespace berth::controlplane
