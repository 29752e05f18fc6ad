// Launcher: launches checked, resolved against state, planned by the scheduler and applied; and
// how a task is made to stop.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <optional>
#include <random>

#include "berth/common/strings.h"
#include "berth/scheduler/launch.h"
#include "src/controlplane/actions/launcher.h"
#include "src/controlplane/actions/pagination.h"
#include "src/controlplane/doors/errors.h"
#include "src/controlplane/providers/instance_provider.h"

namespace berth::controlplane {
namespace {

// ECS documents startedBy as letters, digits, '-', '/' and '_', but enforces only the length:
// deploy tools have sent "ECS Deploy" for years. Berth takes up to 128 characters of any kind, as ECS does.
absl::Status ValidateStartedBy(const std::string& started_by) {
  // Characters, not bytes: continuation bytes (10xxxxxx) do not start one.
  const size_t characters = static_cast<size_t>(
      std::count_if(started_by.begin(), started_by.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  if (characters > 128) return InvalidParameter("startedBy: at most 128 characters (got ", characters, ")");
  return absl::OkStatus();
}

absl::Status ValidateGroup(const std::string& group) {
  if (group.empty() || group.size() > 255) return InvalidParameter("group: must be 1-255 characters when given");
  return absl::OkStatus();
}

absl::Status ValidateOverridesSize(const v1::TaskOverride& overrides, size_t limit) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(overrides, &json).ok()) return absl::OkStatus();
  if (json.size() > limit) {
    return InvalidParameter("overrides: at most ", limit, " bytes of JSON (got ", json.size(), ")");
  }
  return absl::OkStatus();
}

// Shared request checks of RunTask and StartTask.
template <typename Request>
absl::Status ValidateLaunchRequest(const Request& request, const Limits& limits) {
  if (!request.has_task_definition() || request.task_definition().empty()) {
    return InvalidParameter("taskDefinition: required: give family, family:revision or the full ARN");
  }
  if (request.has_group()) RETURN_IF_ERROR(ValidateGroup(request.group()));
  if (request.has_started_by()) RETURN_IF_ERROR(ValidateStartedBy(request.started_by()));
  if (request.has_overrides()) RETURN_IF_ERROR(ValidateOverridesSize(request.overrides(), limits.max_overrides_bytes));
  RETURN_IF_ERROR(ValidateTags(request.tags(), "tags", limits));
  if (request.has_propagate_tags() && request.propagate_tags() != "TASK_DEFINITION" &&
      request.propagate_tags() != "SERVICE" && request.propagate_tags() != "NONE") {
    return InvalidParameter("propagateTags: must be TASK_DEFINITION, SERVICE or NONE (got '", request.propagate_tags(),
                            "')");
  }
  if (!request.volume_configurations().empty()) {
    return Unimplemented("volumeConfigurations: volumes configured at launch are not supported by this version");
  }
  return absl::OkStatus();
}

// The container entries of a new task, from its definition and overrides.
void InitContainers(const v1::TaskDefinition& td, const v1::TaskOverride& overrides, v1::Task* task) {
  for (const auto& def : td.container_definitions()) {
    auto* c = task->add_containers();
    c->set_name(def.name());
    c->set_image(def.image());
    c->set_last_status("PENDING");
    int32_t cpu = def.cpu();
    std::optional<int32_t> memory, reservation;
    if (def.has_memory()) memory = def.memory();
    if (def.has_memory_reservation()) reservation = def.memory_reservation();
    for (const auto& o : overrides.container_overrides()) {
      if (o.name() != def.name()) continue;
      if (o.has_cpu()) cpu = o.cpu();
      if (o.has_memory()) memory = o.memory();
      if (o.has_memory_reservation()) reservation = o.memory_reservation();
    }
    c->set_cpu(std::to_string(cpu));
    if (memory) c->set_memory(std::to_string(*memory));
    if (reservation) c->set_memory_reservation(std::to_string(*reservation));
  }
}

}  // namespace

std::vector<placement::RequiredAttribute> RequiredAttributes(const v1::TaskDefinition& td) {
  std::vector<placement::RequiredAttribute> out;
  if (!td.has_runtime_platform()) return out;
  const auto& rp = td.runtime_platform();
  if (rp.has_cpu_architecture()) {
    out.push_back({"ecs.cpu-architecture", rp.cpu_architecture() == "ARM64" ? "arm64" : "x86_64"});
  }
  if (rp.has_operating_system_family() && rp.operating_system_family() != "LINUX") {
    out.push_back({"ecs.os-type", "windows"});
  }
  return out;
}

uint64_t NewSeed() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

absl::Status ParsePlacement(const google::protobuf::RepeatedPtrField<v1::PlacementConstraint>& in_constraints,
                            const google::protobuf::RepeatedPtrField<v1::PlacementStrategy>& in_strategies,
                            const Limits& limits, std::vector<placement::Constraint>* constraints,
                            std::vector<placement::Strategy>* strategies) {
  if (in_constraints.size() > limits.max_placement_constraints) {
    return InvalidParameter("placementConstraints: at most ", limits.max_placement_constraints, " (got ",
                            in_constraints.size(), ")");
  }
  for (int i = 0; i < in_constraints.size(); ++i) {
    const auto& pc = in_constraints[i];
    auto c = placement::Constraint::FromApi(pc.type(), pc.expression());
    if (!c.ok()) {
      return InvalidParameter("placementConstraints[", i, "].", c.status().message());
    }
    constraints->push_back(*std::move(c));
  }
  if (in_strategies.size() > limits.max_placement_strategies) {
    return InvalidParameter("placementStrategy: at most ", limits.max_placement_strategies, " (got ",
                            in_strategies.size(), ")");
  }
  for (int i = 0; i < in_strategies.size(); ++i) {
    const auto& ps = in_strategies[i];
    auto st = placement::Strategy::FromApi(ps.type(), ps.field());
    if (!st.ok()) {
      return InvalidParameter("placementStrategy[", i, "].", st.status().message());
    }
    strategies->push_back(*std::move(st));
  }
  return absl::OkStatus();
}

absl::StatusOr<Launcher::ResolvedLaunch> Launcher::ResolveLaunch(const Launch& launch) {
  ResolvedLaunch r;
  ASSIGN_OR_RETURN(r.cluster, ActiveCluster(launch.cluster));
  const v1::TaskDefinitionRecord* rec = launch.revision == 0
                                            ? state_->LatestActive(launch.family)
                                            : state_->FindTaskDefinition(launch.family, launch.revision);
  if (rec == nullptr) {
    return NotFound(
        "taskDefinition: task definition '", launch.family,
        launch.revision == 0 ? "' has no ACTIVE revision" : StrCat(":", launch.revision, "' does not exist"));
  }
  const v1::TaskDefinition& td = rec->task_definition();
  if (td.status() != "ACTIVE" && !launch.allow_inactive) {
    return Conflict("taskDefinition: ", td.family(), ":", td.revision(),
                    " is INACTIVE: tasks cannot be started from a deregistered revision");
  }
  bool compatible = false;
  for (const auto& lt : td.compatibilities()) compatible |= lt == launch.launch_type;
  if (!compatible) {
    return InvalidParameter("taskDefinition: ", td.family(), ":", td.revision(), " is not compatible with launch type ",
                            launch.launch_type);
  }
  RETURN_IF_ERROR(CheckRuntimeRestrictions(r.cluster->record.cluster(), td));
  for (int i = 0; i < td.volumes_size(); ++i) {
    if (!td.volumes(i).has_efs_volume_configuration()) continue;
    absl::Status s = CheckEfsVolume(
        options_.file_systems, td.volumes(i).efs_volume_configuration(),
        StrCat("taskDefinition: ", td.family(), ":", td.revision(), " volumes[", i, "].efsVolumeConfiguration"));
    if (!s.ok()) {
      return WithType(s, absl::IsUnimplemented(s) ? "UnsupportedFeatureException" : "InvalidParameterException");
    }
  }
  r.definition = rec;
  ASSIGN_OR_RETURN(r.demand, DemandWithOverrides(td, rec->demand(), launch.overrides));
  placement::PlacementRequest& preq = r.request;
  preq.demand = ToDemand(r.demand);
  preq.launch_type = LaunchTypeOf(launch.launch_type);
  preq.group = launch.group;
  preq.constraints = launch.constraints;
  for (int i = 0; i < td.placement_constraints_size(); ++i) {
    const auto& pc = td.placement_constraints(i);
    auto constraint = placement::Constraint::FromApi(pc.type(), pc.expression());
    if (!constraint.ok()) {
      return InvalidParameter("taskDefinition: ", td.family(), ":", td.revision(), " placementConstraints[", i, "].",
                              constraint.status().message());
    }
    preq.constraints.push_back(*std::move(constraint));
  }
  if (static_cast<int>(preq.constraints.size()) > options_.limits.max_placement_constraints) {
    return InvalidParameter("placementConstraints: at most ", options_.limits.max_placement_constraints,
                            " together with the task definition's (got ", preq.constraints.size(), ")");
  }
  preq.max_per_instance = launch.max_per_instance;
  preq.strategies = launch.strategies;
  if (preq.strategies.empty()) {
    // ECS places standalone tasks without a strategy at random among the feasible instances.
    preq.strategies.push_back(placement::Strategy{placement::Strategy::Type::kRandom, {}, {}});
  }
  preq.required_attributes = RequiredAttributes(td);
  preq.seed = launch.seed;

  return r;
}

void Launcher::AddLaunchedTask(Applier& txn, const Launch& launch, const ResolvedLaunch& resolved,
                               const google::protobuf::RepeatedPtrField<v1::Tag>& tags,
                               const placement::Placement* placement, const std::string& provider,
                               google::protobuf::RepeatedPtrField<v1::Task>* tasks, std::string_view launch_type) {
  const ClusterEntry* c = resolved.cluster;
  const v1::TaskDefinition& td = resolved.definition->task_definition();
  const v1::ResourceDemand& demand = resolved.demand;
  const double now = clock_->NowSeconds();
  v1::TaskRecord tr;
  tr.set_cluster(launch.cluster);
  tr.set_id(NewId());
  tr.set_family(td.family());
  tr.set_task_definition_revision(static_cast<uint32_t>(td.revision()));
  if (placement != nullptr) tr.set_container_instance_id(placement->instance_id);
  if (!launch.service.empty()) {
    tr.set_service(launch.service);
    tr.set_deployment_id(launch.deployment_id);
  }
  *tr.mutable_reservation() = demand;
  if (placement != nullptr) {
    for (int32_t p : placement->dynamic_tcp_ports) tr.add_dynamic_tcp_ports(p);
    for (int32_t p : placement->dynamic_udp_ports) tr.add_dynamic_udp_ports(p);
  } else {
    *tr.mutable_placement_constraints() = launch.api_constraints;
    *tr.mutable_placement_strategy() = launch.api_strategies;
    tr.set_max_per_instance(launch.max_per_instance);
  }
  v1::Task* t = tr.mutable_task();
  t->set_last_status(placement != nullptr ? "PENDING" : "PROVISIONING");
  t->set_desired_status("RUNNING");
  t->set_created_at(now);
  t->set_group(launch.group);
  if (!launch.started_by.empty()) t->set_started_by(launch.started_by);
  t->set_launch_type(launch_type.empty() ? launch.launch_type : std::string(launch_type));
  if (!provider.empty()) t->set_capacity_provider_name(provider);
  if (t->launch_type() == "FARGATE") {
    t->set_platform_version(kFargatePlatformVersion);
    t->set_platform_family("Linux");
    t->mutable_ephemeral_storage()->set_size_in_gib(FargateEphemeralStorageGiB(launch.overrides, td));
  }
  t->set_version(1);
  if (launch.overrides.has_cpu()) {
    t->set_cpu(launch.overrides.cpu());
  } else if (td.has_cpu()) {
    t->set_cpu(td.cpu());
  }
  if (launch.overrides.has_memory()) {
    t->set_memory(launch.overrides.memory());
  } else if (td.has_memory()) {
    t->set_memory(td.memory());
  }
  *t->mutable_overrides() = launch.overrides;
  *t->mutable_tags() = tags;
  if (launch.enable_execute_command) t->set_enable_execute_command(true);
  InitContainers(td, launch.overrides, t);
  for (int i = 0; i < t->containers_size() && i < td.container_definitions_size(); ++i) {
    auto stream = LogStreamOf(td.container_definitions(i), launch.cluster, tr.id(), options_.log_routing);
    if (!stream) continue;
    t->mutable_containers(i)->set_log_group(std::move(stream->group));
    t->mutable_containers(i)->set_log_stream(std::move(stream->stream));
  }
  if (placement != nullptr) {
    const InstanceEntry& inst = c->instances.at(placement->instance_id);
    if (auto az = inst.attributes.find("ecs.availability-zone"); az != inst.attributes.end()) {
      t->set_availability_zone(az->second.attribute().value());
    }
  }
  txn.AddTask(*c, tr);
  if (placement != nullptr) txn.TouchInstance(c->instances.at(placement->instance_id));
  RenderTask(tr, true, tasks->Add());
}

absl::Status Launcher::ApplyFargateLaunch(
    Applier& txn, const Launch& launch, const ResolvedLaunch& resolved,
    const google::protobuf::RepeatedPtrField<v1::Tag>& tags,
    const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>* strategy,
    std::string_view strategy_field, google::protobuf::RepeatedPtrField<v1::Task>* tasks,
    google::protobuf::RepeatedPtrField<v1::Failure>* failures) {
  const ClusterEntry* c = resolved.cluster;
  const v1::TaskDefinition& td = resolved.definition->task_definition();
  if (!launch.instance_ids.empty()) return InvalidParameter("launchType: StartTask does not run FARGATE tasks");
  RETURN_IF_ERROR(
      CheckPlatformVersion(launch.platform_version.has_value(), launch.platform_version.value_or(""), true));
  scheduler::LaunchSpec spec;
  if (strategy != nullptr) {
    // The Fargate capacity providers: the launch is a FARGATE one, with what that requires.
    RETURN_IF_ERROR(CheckClusterStrategy(*c, *strategy, strategy_field));
    RETURN_IF_ERROR(
        CheckFargateLaunch(options_.capacity.fargate, launch.api_constraints.size(), launch.api_strategies.size()));
    if (std::find(td.compatibilities().begin(), td.compatibilities().end(), "FARGATE") == td.compatibilities().end()) {
      return InvalidParameter("taskDefinition: ", td.family(), ":", td.revision(),
                              " is not compatible with launch type FARGATE (", strategy_field, " names ",
                              (*strategy)[0].capacity_provider(), ")");
    }
    for (const auto& item : *strategy) {
      auto count = launch.provider_counts.find(item.capacity_provider());
      scheduler::LaunchProvider provider;
      provider.name = item.capacity_provider();
      provider.base = item.base();
      provider.weight = item.weight();
      provider.count = count == launch.provider_counts.end() ? 0 : count->second;
      spec.providers.push_back(std::move(provider));
    }
  }
  // Each task waits in PROVISIONING for the host the capacity controller starts for it alone
  // (ApplyProvisioning places it there).
  spec.fargate = true;
  spec.count = launch.count;
  spec.cluster = launch.cluster;
  spec.provisioning_waiting = static_cast<int64_t>(c->provisioning.size());
  spec.provisioning_limit = options_.capacity.max_provisioning_per_cluster;
  spec.provisioning_room = std::max<int64_t>(0, spec.provisioning_limit - spec.provisioning_waiting);
  scheduler::PlanLaunch(std::move(spec), c->view, engine_, [&](const scheduler::LaunchStep& step) {
    if (step.kind == scheduler::LaunchStep::Kind::kWait) {
      AddLaunchedTask(txn, launch, resolved, tags, nullptr, step.provider, tasks, "FARGATE");
      return;
    }
    auto* out = failures->Add();
    out->set_reason(step.failure.reason);
    out->set_detail(step.failure.detail);
  });
  return absl::OkStatus();
}

absl::Status Launcher::ApplyLaunch(Applier& txn, const Launch& launch,
                                   google::protobuf::RepeatedPtrField<v1::Task>* tasks,
                                   google::protobuf::RepeatedPtrField<v1::Failure>* failures) {
  ASSIGN_OR_RETURN(ResolvedLaunch resolved, ResolveLaunch(launch));
  const ClusterEntry* c = resolved.cluster;
  const v1::TaskDefinitionRecord* rec = resolved.definition;
  placement::PlacementRequest& preq = resolved.request;
  google::protobuf::RepeatedPtrField<v1::Tag> tags = launch.tags;
  if (launch.propagate_task_definition_tags) {
    for (const auto& tag : rec->tags()) {
      bool present = false;
      for (const auto& t : tags) present |= t.key() == tag.key();
      if (!present) *tags.Add() = tag;
    }
    if (tags.size() > options_.limits.max_tags) {
      return InvalidParameter("propagateTags: the task would have ", tags.size(),
                              " tags with the task definition's; the limit is ", options_.limits.max_tags);
    }
  }

  // StartTask: report instances that do not exist before placing on the others.
  std::vector<std::string> candidates;
  for (const auto& id : launch.instance_ids) {
    auto it = c->instances.find(id);
    if (it == c->instances.end() || it->second.record.instance().status() == "INACTIVE") {
      auto* f = failures->Add();
      f->set_arn(arns_.ContainerInstance(launch.cluster, id));
      f->set_reason(it == c->instances.end() ? "MISSING" : "INACTIVE");
      continue;
    }
    candidates.push_back(id);
  }
  // The capacity provider strategy: the launch's own, else (RunTask without a launch type) the
  // cluster's default; each provider's instance group.
  const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>* strategy = &launch.provider_strategy;
  std::string_view strategy_field = "capacityProviderStrategy";
  if (strategy->empty() && !launch.launch_type_given && launch.instance_ids.empty()) {
    strategy = &c->record.cluster().default_capacity_provider_strategy();
    strategy_field = "the cluster's defaultCapacityProviderStrategy";
  }
  const bool fargate_strategy = !strategy->empty() && IsFargateProvider((*strategy)[0].capacity_provider());
  if (launch.launch_type == "FARGATE" || fargate_strategy) {
    return ApplyFargateLaunch(txn, launch, resolved, tags, fargate_strategy ? strategy : nullptr, strategy_field, tasks,
                              failures);
  }
  RETURN_IF_ERROR(
      CheckPlatformVersion(launch.platform_version.has_value(), launch.platform_version.value_or(""), false));
  scheduler::LaunchSpec spec;
  if (!strategy->empty()) {
    RETURN_IF_ERROR(CheckClusterStrategy(*c, *strategy, strategy_field));
    for (const auto& item : *strategy) {
      const v1::CapacityProviderRecord* cp = state_->FindCapacityProvider(item.capacity_provider());
      if (cp == nullptr || cp->capacity_provider().status() != "ACTIVE") {
        return InvalidParameter(strategy_field, ": capacity provider '", item.capacity_provider(), "' does not exist");
      }
      auto count = launch.provider_counts.find(item.capacity_provider());
      spec.providers.push_back(scheduler::LaunchProvider{
          .name = item.capacity_provider(),
          .hosts = {providers::kInstanceGroupAttribute, GroupOfProvider(*cp)},
          .managed_scaling =
              cp->capacity_provider().auto_scaling_group_provider().managed_scaling().status() == "ENABLED",
          .base = item.base(),
          .weight = item.weight(),
          .count = count == launch.provider_counts.end() ? 0 : count->second,
      });
    }
  }
  spec.request = std::move(preq);
  spec.count = launch.count;
  spec.instances = std::move(candidates);
  spec.provisioning_room = std::max<int64_t>(
      0, options_.capacity.max_provisioning_per_cluster - static_cast<int64_t>(c->provisioning.size()));
  txn.PreparePlacement(*c, spec.request);
  scheduler::PlanLaunch(std::move(spec), c->view, engine_, [&](const scheduler::LaunchStep& step) {
    switch (step.kind) {
      case scheduler::LaunchStep::Kind::kPlace:
        AddLaunchedTask(txn, launch, resolved, tags, &*step.placement, step.provider, tasks);
        return;
      case scheduler::LaunchStep::Kind::kWait:
        AddLaunchedTask(txn, launch, resolved, tags, nullptr, step.provider, tasks);
        return;
      case scheduler::LaunchStep::Kind::kFail: {
        auto* out = failures->Add();
        if (!step.instance.empty()) out->set_arn(arns_.ContainerInstance(launch.cluster, step.instance));
        out->set_reason(step.failure.reason);
        out->set_detail(step.failure.detail);
        return;
      }
    }
  });
  return absl::OkStatus();
}

template <typename Request>
absl::StatusOr<std::shared_ptr<Launcher::Launch>> Launcher::NewLaunch(const Request& request) const {
  absl::Status error;
  auto launch = std::make_shared<Launch>();
  launch->cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  RETURN_IF_ERROR(error);
  RETURN_IF_ERROR(ValidateLaunchRequest(request, options_.limits));
  auto ref = arns_.TaskDefinition(request.task_definition(), "taskDefinition");
  if (!ref.ok()) return WithType(ref.status(), "InvalidParameterException");
  launch->family = ref->family;
  launch->revision = ref->revision;
  launch->overrides = request.overrides();
  launch->group = request.has_group() ? request.group() : StrCat("family:", ref->family);
  launch->started_by = request.started_by();
  launch->tags = request.tags();
  launch->enable_execute_command = request.enable_execute_command();
  launch->propagate_task_definition_tags = request.propagate_tags() == "TASK_DEFINITION";
  return launch;
}

absl::StatusOr<std::shared_ptr<Launcher::Launch>> Launcher::NewRunLaunch(const v1::RunTaskRequest& request) const {
  ASSIGN_OR_RETURN(std::shared_ptr<Launch> launch, NewLaunch(request));
  launch->count = request.has_count() ? request.count() : 1;
  if (launch->count < 1 || launch->count > options_.limits.max_tasks_per_run) {
    return InvalidParameter("count: must be between 1 and ", options_.limits.max_tasks_per_run, " (got ", launch->count,
                            ")");
  }
  launch->launch_type = request.has_launch_type() ? request.launch_type() : "EC2";
  launch->launch_type_given = request.has_launch_type();
  if (request.has_platform_version()) launch->platform_version = request.platform_version();
  if (launch->launch_type == "MANAGED_INSTANCES") {
    return Unimplemented("launchType: ", launch->launch_type,
                         " is not supported by this version of berthd; use EC2, EXTERNAL or FARGATE");
  }
  if (launch->launch_type == "FARGATE") {
    RETURN_IF_ERROR(CheckFargateLaunch(options_.capacity.fargate, request.placement_constraints_size(),
                                       request.placement_strategy_size()));
  } else if (launch->launch_type != "EC2" && launch->launch_type != "EXTERNAL") {
    return InvalidParameter("launchType: must be EC2, EXTERNAL, FARGATE or MANAGED_INSTANCES (got '",
                            launch->launch_type, "')");
  }
  if (!request.capacity_provider_strategy().empty()) {
    if (request.has_launch_type()) {
      return InvalidParameter("capacityProviderStrategy: give either launchType or capacityProviderStrategy, not both");
    }
    RETURN_IF_ERROR(ValidateCapacityProviderStrategy(request.capacity_provider_strategy(), "capacityProviderStrategy"));
    launch->provider_strategy = request.capacity_provider_strategy();
  }
  RETURN_IF_ERROR(ParsePlacement(request.placement_constraints(), request.placement_strategy(), options_.limits,
                                 &launch->constraints, &launch->strategies));
  launch->api_constraints = request.placement_constraints();
  launch->api_strategies = request.placement_strategy();
  launch->seed = NewSeed();
  return launch;
}

absl::StatusOr<std::shared_ptr<Launcher::Launch>> Launcher::NewStartLaunch(const v1::StartTaskRequest& request) const {
  return NewLaunch(request);
}

void Launcher::StopTaskRecord(Applier& txn, const ClusterEntry& cluster, const TaskEntry& task,
                              const std::string& stop_code, const std::string& reason) {
  if (task.stopping()) return;
  const double now = clock_->NowSeconds();
  std::string instance_id;
  txn.UpdateTask(cluster, task, [&](v1::TaskRecord& r) {
    v1::Task* t = r.mutable_task();
    t->set_desired_status("STOPPED");
    t->set_stop_code(stop_code);
    t->set_stopped_reason(reason);
    t->set_stopping_at(now);
    t->set_version(t->version() + 1);
    instance_id = r.container_instance_id();
    if (instance_id.empty()) {
      // Never placed (waiting for capacity): no agent will report it, so it stops now.
      t->set_last_status("STOPPED");
      t->set_stopped_at(now);
      t->set_execution_stopped_at(now);
      for (auto& container : *t->mutable_containers()) container.set_last_status("STOPPED");
      r.clear_placement_constraints();
      r.clear_placement_strategy();
    }
    return true;
  });
  if (auto inst = cluster.instances.find(instance_id); inst != cluster.instances.end()) {
    txn.TouchInstance(inst->second);
  }
}

}  // namespace berth::controlplane
