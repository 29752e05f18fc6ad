// Service actions: CreateService, UpdateService, DeleteService, DescribeServices, ListServices,
// and task scale-in protection (UpdateTaskProtection, GetTaskProtection). The scheduler that
// keeps services converged lives in actions/services_reconcile.cc and src/scheduler.
#include <random>

#include "berth/common/strings.h"
#include "berth/store/keys.h"
#include "src/controlplane/actions/pagination.h"
#include "src/controlplane/actions/services.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

constexpr int kMaxServicesPerDescribe = 10;
constexpr int kMaxTasksPerProtectionUpdate = 10;
constexpr int kMaxTasksPerProtectionGet = 100;
constexpr int kDefaultListServicesPage = 10;  // as ECS
constexpr int kDefaultProtectionMinutes = 120;
constexpr int kMaxProtectionMinutes = 2880;
constexpr int kMaxLostAfterSeconds = 7 * 24 * 3600;
constexpr int kMaxTasksPerInstanceCap = 10000;

absl::Status ServiceNotFound(const std::string& cluster, const std::string& name) {
  return WithType(absl::NotFoundError(StrCat("service '", name, "' not found in cluster '", cluster, "'")),
                  "ServiceNotFoundException");
}

absl::Status ServiceNotActive(const std::string& name, const std::string& status) {
  return WithType(absl::FailedPreconditionError(StrCat("service '", name, "' is ", status, ": it is being or has been ",
                                                       "deleted and cannot be changed")),
                  "ServiceNotActiveException");
}

absl::Status ValidateServiceName(const std::string& name) {
  if (name.empty()) return InvalidParameter("serviceName: required");
  if (name.size() > 255) return InvalidParameter("serviceName: at most 255 characters (got ", name.size(), ")");
  if (!IsValidName(name)) {
    return InvalidParameter("serviceName: '", name, "' may contain only letters, digits, hyphens and underscores");
  }
  return absl::OkStatus();
}

// Deployment configuration: what Berth applies, with the ranges it accepts.
absl::Status ValidateDeploymentConfiguration(const v1::DeploymentConfiguration& dc) {
  if (dc.has_minimum_healthy_percent() && (dc.minimum_healthy_percent() < 0 || dc.minimum_healthy_percent() > 100)) {
    return InvalidParameter("deploymentConfiguration.minimumHealthyPercent: must be between 0 and 100 (got ",
                            dc.minimum_healthy_percent(), ")");
  }
  if (dc.has_maximum_percent() && (dc.maximum_percent() < 100 || dc.maximum_percent() > 200)) {
    return InvalidParameter("deploymentConfiguration.maximumPercent: must be between 100 and 200 (got ",
                            dc.maximum_percent(), ")");
  }
  if (dc.has_alarms() && dc.alarms().enable()) {
    return Unimplemented("deploymentConfiguration.alarms: CloudWatch alarms are not available to Berth; use the ",
                         "deployment circuit breaker");
  }
  if (dc.has_strategy() && dc.strategy() != "ROLLING") {
    return Unimplemented("deploymentConfiguration.strategy: only ROLLING deployments are supported (got '",
                         dc.strategy(), "')");
  }
  if (!dc.lifecycle_hooks().empty()) {
    return Unimplemented("deploymentConfiguration.lifecycleHooks: not supported by this version");
  }
  return absl::OkStatus();
}

absl::Status ValidateBerthLimits(bool has_lost, int32_t lost, bool has_max, int32_t max) {
  if (has_lost && (lost < 0 || lost > kMaxLostAfterSeconds)) {
    return InvalidParameter("lostAfterSeconds: must be between 0 (off) and ", kMaxLostAfterSeconds, " (got ", lost,
                            ")");
  }
  if (has_max && (max < 0 || max > kMaxTasksPerInstanceCap)) {
    return InvalidParameter("maxTasksPerInstance: must be between 0 (no limit) and ", kMaxTasksPerInstanceCap, " (got ",
                            max, ")");
  }
  return absl::OkStatus();
}

// Features of the service shapes that Berth does not provide; refused rather than ignored.
template <typename Request>
absl::Status RefuseUnsupported(const Request& request) {
  if (!request.load_balancers().empty()) {
    return Unimplemented("loadBalancers: Elastic Load Balancing is not available to Berth");
  }
  if (!request.service_registries().empty()) {
    return Unimplemented("serviceRegistries: Cloud Map service discovery is not available to Berth");
  }
  if (request.has_service_connect_configuration() && request.service_connect_configuration().enabled()) {
    return Unimplemented("serviceConnectConfiguration: Service Connect is not available to Berth");
  }
  if (!request.volume_configurations().empty()) {
    return Unimplemented("volumeConfigurations: volumes configured at launch are not supported by this version");
  }
  if (!request.vpc_lattice_configurations().empty()) {
    return Unimplemented("vpcLatticeConfigurations: VPC Lattice is not available to Berth");
  }
  if (request.has_deployment_controller() && request.deployment_controller().type() != "ECS") {
    return Unimplemented("deploymentController.type: only ECS (rolling update) is supported (got '",
                         request.deployment_controller().type(), "')");
  }
  if (request.has_health_check_grace_period_seconds() && request.health_check_grace_period_seconds() < 0) {
    return InvalidParameter("healthCheckGracePeriodSeconds: must not be negative (got ",
                            request.health_check_grace_period_seconds(), ")");
  }
  if (request.has_propagate_tags() && request.propagate_tags() != "TASK_DEFINITION" &&
      request.propagate_tags() != "SERVICE" && request.propagate_tags() != "NONE") {
    return InvalidParameter("propagateTags: must be TASK_DEFINITION, SERVICE or NONE (got '", request.propagate_tags(),
                            "')");
  }
  RETURN_IF_ERROR(ValidateBerthLimits(request.has_lost_after_seconds(), request.lost_after_seconds(),
                                      request.has_max_tasks_per_instance(), request.max_tasks_per_instance()));
  return absl::OkStatus();
}

bool IsDaemon(const v1::Service& s) { return s.scheduling_strategy() == "DAEMON"; }

// The service's constraints and its task definition's together stay within the limit, as RunTask's
// do (checked once both are known, so that a service never exists that could not launch).
absl::Status CheckConstraintCount(int service_constraints, const v1::TaskDefinition& td, const Limits& limits) {
  const int total = service_constraints + td.placement_constraints_size();
  if (total > limits.max_placement_constraints) {
    return InvalidParameter("placementConstraints: at most ", limits.max_placement_constraints,
                            " together with the task definition's (got ", total, ")");
  }
  return absl::OkStatus();
}

}  // namespace

std::string NewDeploymentId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<uint64_t> digits(1'000'000'000'000'000'000ull, 9'999'999'999'999'999'999ull);
  return StrCat("ecs-svc/", digits(rng));
}

absl::Status ServiceActions::ServiceRef(bool has_cluster, const std::string& cluster_in, bool has_service,
                                        const std::string& service_in, std::string* cluster, std::string* name) const {
  absl::Status error;
  *cluster = ClusterFromRequest(has_cluster, cluster_in, &error);
  RETURN_IF_ERROR(error);
  if (!has_service || service_in.empty()) return InvalidParameter("service: required: the service name or ARN");
  auto parsed = arns_.ServiceName(service_in, *cluster, "service");
  if (!parsed.ok()) return WithType(parsed.status(), "InvalidParameterException");
  *name = *std::move(parsed);
  return absl::OkStatus();
}

absl::StatusOr<const v1::TaskDefinitionRecord*> ServiceActions::ServiceTaskDefinition(const ClusterEntry& cluster,
                                                                                      const std::string& family,
                                                                                      uint32_t revision,
                                                                                      const std::string& launch_type) {
  const v1::TaskDefinitionRecord* td =
      revision == 0 ? state_->LatestActive(family) : state_->FindTaskDefinition(family, revision);
  if (td == nullptr) {
    return WithType(NotFound("taskDefinition: task definition '", family,
                             revision == 0 ? "' has no ACTIVE revision" : StrCat(":", revision, "' does not exist")),
                    "InvalidParameterException");
  }
  if (td->task_definition().status() != "ACTIVE") {
    return InvalidParameter("taskDefinition: ", family, ":", td->task_definition().revision(),
                            " is INACTIVE: a service deployment needs an ACTIVE revision");
  }
  bool compatible = false;
  for (const auto& lt : td->task_definition().compatibilities()) compatible |= lt == launch_type;
  if (!compatible) {
    return InvalidParameter("taskDefinition: ", family, ":", td->task_definition().revision(),
                            " is not compatible with launch type ", launch_type);
  }
  RETURN_IF_ERROR(CheckRuntimeRestrictions(cluster.record.cluster(), td->task_definition()));
  return td;
}

void ServiceActions::RenderService(const ClusterEntry& cluster, const ServiceEntry& service, bool with_tags,
                                   v1::Service* out) const {
  const v1::ServiceRecord& r = service.record;
  *out = r.service();
  out->set_service_arn(arns_.Service(r.cluster(), r.service().service_name()));
  out->set_cluster_arn(arns_.Cluster(r.cluster()));
  out->set_task_definition(arns_.TaskDefinition(r.family(), r.task_definition_revision()));
  if (!with_tags) out->clear_tags();
  // Counts per deployment, in one pass over the service's live tasks.
  absl::flat_hash_map<std::string, std::pair<int32_t, int32_t>> counts;  // deployment -> (running, pending)
  int32_t running = 0;
  int32_t pending = 0;
  v1::TaskRecord record;
  for (const auto& id : service.task_ids) {
    auto it = cluster.tasks.find(id);
    if (it == cluster.tasks.end() || it->second.stopping()) continue;
    it->second.Decode(&record);
    auto& c = counts[record.deployment_id()];
    if (it->second.last_status() == "RUNNING") {
      ++running;
      ++c.first;
    } else {
      ++pending;
      ++c.second;
    }
  }
  out->set_running_count(running);
  out->set_pending_count(pending);
  for (const auto& d : r.deployments()) {
    v1::Deployment* o = out->add_deployments();
    *o = d.deployment();
    o->set_task_definition(arns_.TaskDefinition(d.family(), d.task_definition_revision()));
    auto it = counts.find(d.deployment().id());
    o->set_running_count(it == counts.end() ? 0 : it->second.first);
    o->set_pending_count(it == counts.end() ? 0 : it->second.second);
  }
  if (!r.deployments().empty()) out->set_current_service_deployment(r.deployments(0).deployment().id());
  *out->mutable_events() = r.events();
}

namespace {

// Whether a CreateService makes a FARGATE service: its launch type, or its strategy's providers.
bool IsFargateService(const v1::CreateServiceRequest& request) {
  return request.launch_type() == "FARGATE" ||
         (!request.capacity_provider_strategy().empty() &&
          IsFargateProvider(request.capacity_provider_strategy(0).capacity_provider()));
}

// CreateService's launch type, capacity provider strategy and platform version checked together.
absl::Status CheckServiceLaunchType(const v1::CreateServiceRequest& request, bool daemon, bool fargate_enabled) {
  const std::string launch_type = request.has_launch_type() ? request.launch_type() : "EC2";
  if (launch_type == "MANAGED_INSTANCES") {
    return Unimplemented("launchType: ", launch_type, " is not supported by this version of berthd; use EC2, ",
                         "EXTERNAL or FARGATE");
  }
  if (launch_type == "FARGATE") {
    if (daemon) return InvalidParameter("schedulingStrategy: DAEMON is not supported with launchType FARGATE");
    if (absl::Status s = CheckFargateLaunch(fargate_enabled, request.placement_constraints_size(),
                                            request.placement_strategy_size());
        !s.ok()) {
      return s;
    }
  } else if (launch_type != "EC2" && launch_type != "EXTERNAL") {
    return InvalidParameter("launchType: must be EC2, EXTERNAL, FARGATE or MANAGED_INSTANCES (got '", launch_type,
                            "')");
  }
  if (!request.capacity_provider_strategy().empty()) {
    if (request.has_launch_type()) {
      return InvalidParameter("capacityProviderStrategy: give either launchType or capacityProviderStrategy, not both");
    }
    if (daemon) {
      return InvalidParameter("capacityProviderStrategy: not supported with the DAEMON scheduling strategy");
    }
    if (absl::Status s =
            ValidateCapacityProviderStrategy(request.capacity_provider_strategy(), "capacityProviderStrategy");
        !s.ok()) {
      return s;
    }
    if (IsFargateProvider(request.capacity_provider_strategy(0).capacity_provider())) {
      if (absl::Status s = CheckFargateLaunch(fargate_enabled, request.placement_constraints_size(),
                                              request.placement_strategy_size());
          !s.ok()) {
        return s;
      }
    }
  }
  const bool fargate_service = IsFargateService(request);
  if (absl::Status s =
          CheckPlatformVersion(request.has_platform_version(), request.platform_version(), fargate_service);
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

// A new service's record from CreateService, with ECS's defaults filled in.
v1::ServiceRecord NewServiceRecord(const v1::CreateServiceRequest& request, const std::string& cluster, bool daemon,
                                   const std::string& launch_type, bool fargate_service) {
  v1::ServiceRecord rec;
  rec.set_cluster(cluster);
  v1::Service* svc = rec.mutable_service();
  svc->set_service_name(request.service_name());
  svc->set_status("ACTIVE");
  svc->set_desired_count(daemon ? 0 : request.desired_count());
  svc->set_launch_type(launch_type);
  if (fargate_service) {
    svc->set_platform_version(request.has_platform_version() ? request.platform_version() : "LATEST");
    svc->set_platform_family("Linux");
  }
  svc->set_scheduling_strategy(daemon ? "DAEMON" : "REPLICA");
  v1::DeploymentConfiguration* dc = svc->mutable_deployment_configuration();
  *dc = request.deployment_configuration();
  if (!dc->has_minimum_healthy_percent()) dc->set_minimum_healthy_percent(daemon ? 0 : 100);
  if (!dc->has_maximum_percent()) dc->set_maximum_percent(daemon ? 100 : 200);
  if (!dc->has_deployment_circuit_breaker()) {
    dc->mutable_deployment_circuit_breaker()->set_enable(false);
    dc->mutable_deployment_circuit_breaker()->set_rollback(false);
  }
  if (!dc->has_strategy()) dc->set_strategy("ROLLING");
  *svc->mutable_placement_constraints() = request.placement_constraints();
  *svc->mutable_placement_strategy() = request.placement_strategy();
  if (request.has_health_check_grace_period_seconds()) {
    svc->set_health_check_grace_period_seconds(request.health_check_grace_period_seconds());
  }
  svc->mutable_deployment_controller()->set_type("ECS");
  *svc->mutable_tags() = request.tags();
  svc->set_enable_ecs_managed_tags(request.enable_ecs_managed_tags());
  svc->set_propagate_tags(request.has_propagate_tags() ? request.propagate_tags() : "NONE");
  svc->set_enable_execute_command(request.enable_execute_command());
  // Berth's own members are stored only when given, so a service made by an ECS tool answers
  // with ECS's members alone.
  if (request.has_lost_after_seconds()) svc->set_lost_after_seconds(request.lost_after_seconds());
  if (request.has_max_tasks_per_instance()) svc->set_max_tasks_per_instance(request.max_tasks_per_instance());
  *svc->mutable_capacity_provider_strategy() = request.capacity_provider_strategy();
  return rec;
}

}  // namespace

void ServiceActions::CreateService(const v1::CreateServiceRequest& request, v1::CreateServiceResponse* response,
                                   Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (absl::Status s = ValidateServiceName(request.service_name()); !s.ok()) return done(s);
  if (absl::Status s = RefuseUnsupported(request); !s.ok()) return done(s);
  if (!request.has_task_definition() || request.task_definition().empty()) {
    return done(InvalidParameter("taskDefinition: required: give family, family:revision or the full ARN"));
  }
  auto ref = arns_.TaskDefinition(request.task_definition(), "taskDefinition");
  if (!ref.ok()) return done(WithType(ref.status(), "InvalidParameterException"));
  const std::string strategy = request.has_scheduling_strategy() ? request.scheduling_strategy() : "REPLICA";
  if (strategy != "REPLICA" && strategy != "DAEMON") {
    return done(InvalidParameter("schedulingStrategy: must be REPLICA or DAEMON (got '", strategy, "')"));
  }
  const bool daemon = strategy == "DAEMON";
  if (!daemon) {
    if (!request.has_desired_count()) {
      return done(InvalidParameter("desiredCount: required for a REPLICA service"));
    }
    if (request.desired_count() < 0 || request.desired_count() > options_.limits.max_tasks_per_service) {
      return done(InvalidParameter("desiredCount: must be between 0 and ", options_.limits.max_tasks_per_service,
                                   " (got ", request.desired_count(), ")"));
    }
  } else {
    if (request.has_desired_count() && request.desired_count() != 0) {
      return done(InvalidParameter("desiredCount: a DAEMON service runs one task per instance; leave it unset"));
    }
    if (!request.placement_strategy().empty()) {
      return done(InvalidParameter("placementStrategy: not supported with the DAEMON scheduling strategy"));
    }
  }
  const std::string launch_type = request.has_launch_type() ? request.launch_type() : "EC2";
  if (absl::Status s = CheckServiceLaunchType(request, daemon, options_.capacity.fargate); !s.ok()) return done(s);
  const bool fargate_service = IsFargateService(request);
  if (absl::Status s = ValidateDeploymentConfiguration(request.deployment_configuration()); !s.ok()) return done(s);
  if (absl::Status s = ValidateTags(request.tags(), "tags", options_.limits); !s.ok()) return done(s);
  std::vector<placement::Constraint> constraints;
  std::vector<placement::Strategy> strategies;
  if (absl::Status s = ParsePlacement(request.placement_constraints(), request.placement_strategy(), options_.limits,
                                      &constraints, &strategies);
      !s.ok()) {
    return done(s);
  }

  auto rec =
      std::make_shared<v1::ServiceRecord>(NewServiceRecord(request, cluster, daemon, launch_type, fargate_service));
  const bool use_default_strategy =
      !request.has_launch_type() && !daemon && request.capacity_provider_strategy().empty();

  Submit(
      [this, response, rec, ref = *ref, cluster, use_default_strategy](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        if (use_default_strategy) {
          // As in ECS: a service given neither launchType nor a strategy takes the cluster's
          // default strategy, kept with the service.
          *rec->mutable_service()->mutable_capacity_provider_strategy() =
              c->record.cluster().default_capacity_provider_strategy();
        }
        RETURN_IF_ERROR(
            CheckClusterStrategy(*c, rec->service().capacity_provider_strategy(), "capacityProviderStrategy"));
        for (const auto& item : rec->service().capacity_provider_strategy()) {
          const v1::CapacityProviderRecord* cp = state_->FindCapacityProvider(item.capacity_provider());
          if (cp == nullptr || cp->capacity_provider().status() != "ACTIVE") {
            return InvalidParameter("capacityProviderStrategy: capacity provider '", item.capacity_provider(),
                                    "' does not exist");
          }
        }
        const std::string& name = rec->service().service_name();
        if (auto it = c->services.find(name); it != c->services.end() && it->second.active()) {
          return InvalidParameter("serviceName: creation of service was not idempotent: service '", name,
                                  "' already exists in cluster '", cluster, "' (", it->second.record.service().status(),
                                  ")");
        }
        if (c->active_services >= options_.limits.max_services_per_cluster) {
          return WithType(
              Conflict("cluster '", cluster, "' already has ", c->active_services, " services, the limit per cluster"),
              "LimitExceededException");
        }
        ASSIGN_OR_RETURN(const v1::TaskDefinitionRecord* td,
                         ServiceTaskDefinition(*c, ref.family, ref.revision, rec->service().launch_type()));
        RETURN_IF_ERROR(
            CheckConstraintCount(rec->service().placement_constraints_size(), td->task_definition(), options_.limits));
        const double now = clock_->NowSeconds();
        v1::ServiceRecord record = *rec;
        record.set_family(ref.family);
        record.set_task_definition_revision(static_cast<uint32_t>(td->task_definition().revision()));
        record.mutable_service()->set_created_at(now);
        scheduler::StartDeployment(record, NewDeploymentId(), now);
        const ServiceEntry& entry = txn.PutService(*c, std::move(record));
        ReconcileService(txn, *c, entry);
        RenderService(*c, entry, true, response->mutable_service());
        return absl::OkStatus();
      },
      std::move(done));
}

void ServiceActions::UpdateService(const v1::UpdateServiceRequest& request, v1::UpdateServiceResponse* response,
                                   Done done) {
  std::string cluster;
  std::string name;
  if (absl::Status s = ServiceRef(request.has_cluster(), request.cluster(), request.has_service(), request.service(),
                                  &cluster, &name);
      !s.ok()) {
    return done(s);
  }
  if (absl::Status s = RefuseUnsupported(request); !s.ok()) return done(s);
  if (!request.capacity_provider_strategy().empty()) {
    return done(
        Unimplemented("capacityProviderStrategy: changing a service's capacity provider strategy is not "
                      "supported by this version; create a new service"));
  }
  if (request.has_desired_count() &&
      (request.desired_count() < 0 || request.desired_count() > options_.limits.max_tasks_per_service)) {
    return done(InvalidParameter("desiredCount: must be between 0 and ", options_.limits.max_tasks_per_service,
                                 " (got ", request.desired_count(), ")"));
  }
  if (absl::Status s = ValidateDeploymentConfiguration(request.deployment_configuration()); !s.ok()) return done(s);
  std::vector<placement::Constraint> constraints;
  std::vector<placement::Strategy> strategies;
  if (absl::Status s = ParsePlacement(request.placement_constraints(), request.placement_strategy(), options_.limits,
                                      &constraints, &strategies);
      !s.ok()) {
    return done(s);
  }
  std::optional<Arns::TaskDefinitionRef> ref;
  if (request.has_task_definition() && !request.task_definition().empty()) {
    auto r = arns_.TaskDefinition(request.task_definition(), "taskDefinition");
    if (!r.ok()) return done(WithType(r.status(), "InvalidParameterException"));
    ref = *r;
  }
  Submit(
      [this, &request, response, cluster, name, ref](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        auto it = c->services.find(name);
        if (it == c->services.end()) return ServiceNotFound(cluster, name);
        const ServiceEntry& entry = it->second;
        const v1::Service& current = entry.record.service();
        if (current.status() != "ACTIVE") return ServiceNotActive(name, current.status());
        const bool daemon = IsDaemon(current);
        if (daemon && request.has_desired_count()) {
          return InvalidParameter(
              "desiredCount: a DAEMON service runs one task per eligible instance; it cannot "
              "be set");
        }
        if (daemon && !request.placement_strategy().empty()) {
          return InvalidParameter("placementStrategy: not supported with the DAEMON scheduling strategy");
        }
        if (current.launch_type() == "FARGATE") {
          RETURN_IF_ERROR(
              CheckFargateLaunch(true, request.placement_constraints_size(), request.placement_strategy_size()));
        }
        // Validate everything against state before changing anything.
        const v1::TaskDefinitionRecord* td = nullptr;
        if (ref) {
          ASSIGN_OR_RETURN(td, ServiceTaskDefinition(*c, ref->family, ref->revision, current.launch_type()));
        }
        {
          const v1::TaskDefinitionRecord* effective =
              td != nullptr
                  ? td
                  : state_->FindTaskDefinition(entry.record.family(), entry.record.task_definition_revision());
          const int service_constraints = request.placement_constraints().empty()
                                              ? current.placement_constraints_size()
                                              : request.placement_constraints_size();
          if (effective != nullptr) {
            RETURN_IF_ERROR(CheckConstraintCount(service_constraints, effective->task_definition(), options_.limits));
          }
        }
        v1::ServiceRecord record = entry.record;
        v1::Service* svc = record.mutable_service();
        bool new_deployment = request.force_new_deployment();
        if (td != nullptr) {
          const uint32_t revision = static_cast<uint32_t>(td->task_definition().revision());
          if (record.family() != ref->family || record.task_definition_revision() != revision) {
            new_deployment = true;
            record.set_family(ref->family);
            record.set_task_definition_revision(revision);
          }
        }
        if (request.has_desired_count()) svc->set_desired_count(request.desired_count());
        if (request.has_deployment_configuration()) {
          const auto& in = request.deployment_configuration();
          auto* dc = svc->mutable_deployment_configuration();
          if (in.has_minimum_healthy_percent()) dc->set_minimum_healthy_percent(in.minimum_healthy_percent());
          if (in.has_maximum_percent()) dc->set_maximum_percent(in.maximum_percent());
          if (in.has_deployment_circuit_breaker()) {
            *dc->mutable_deployment_circuit_breaker() = in.deployment_circuit_breaker();
          }
        }
        if (!request.placement_constraints().empty()) {
          *svc->mutable_placement_constraints() = request.placement_constraints();
          new_deployment = true;
        }
        if (!request.placement_strategy().empty()) {
          *svc->mutable_placement_strategy() = request.placement_strategy();
          new_deployment = true;
        }
        if (request.has_health_check_grace_period_seconds()) {
          svc->set_health_check_grace_period_seconds(request.health_check_grace_period_seconds());
        }
        if (request.has_propagate_tags()) svc->set_propagate_tags(request.propagate_tags());
        if (request.has_enable_execute_command()) svc->set_enable_execute_command(request.enable_execute_command());
        if (request.has_enable_ecs_managed_tags()) svc->set_enable_ecs_managed_tags(request.enable_ecs_managed_tags());
        if (request.has_lost_after_seconds()) svc->set_lost_after_seconds(request.lost_after_seconds());
        if (request.has_max_tasks_per_instance()) svc->set_max_tasks_per_instance(request.max_tasks_per_instance());
        const double now = clock_->NowSeconds();
        if (new_deployment) scheduler::StartDeployment(record, NewDeploymentId(), now);
        record.set_steady(record.steady() && !new_deployment && !request.has_desired_count());
        const ServiceEntry& updated = txn.PutService(*c, std::move(record));
        ReconcileService(txn, *c, updated);
        RenderService(*c, updated, true, response->mutable_service());
        return absl::OkStatus();
      },
      std::move(done));
}

void ServiceActions::DeleteService(const v1::DeleteServiceRequest& request, v1::DeleteServiceResponse* response,
                                   Done done) {
  std::string cluster;
  std::string name;
  if (absl::Status s = ServiceRef(request.has_cluster(), request.cluster(), request.has_service(), request.service(),
                                  &cluster, &name);
      !s.ok()) {
    return done(s);
  }
  const bool force = request.force();
  Submit(
      [this, response, cluster, name, force](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        auto it = c->services.find(name);
        if (it == c->services.end()) return ServiceNotFound(cluster, name);
        const v1::Service& current = it->second.record.service();
        if (current.status() != "ACTIVE") return ServiceNotActive(name, current.status());
        if (!force && !IsDaemon(current) && current.desired_count() > 0) {
          return InvalidParameter("service: the service cannot be stopped while it is scaled above 0 (desiredCount ",
                                  current.desired_count(), "): scale it to 0 with UpdateService, or delete with force");
        }
        v1::ServiceRecord record = it->second.record;
        record.mutable_service()->set_status("DRAINING");
        record.mutable_service()->set_desired_count(0);
        const ServiceEntry& entry = txn.PutService(*c, std::move(record));
        // ECS answers with the service DRAINING; the pass below may already finish it.
        RenderService(*c, entry, true, response->mutable_service());
        ReconcileService(txn, *c, entry);
        return absl::OkStatus();
      },
      std::move(done));
}

void ServiceActions::DescribeServices(const v1::DescribeServicesRequest& request,
                                      v1::DescribeServicesResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (request.services().empty() || request.services_size() > kMaxServicesPerDescribe) {
    return done(InvalidParameter("services: give 1 to ", kMaxServicesPerDescribe, " service names or ARNs (got ",
                                 request.services_size(), ")"));
  }
  bool with_tags = false;
  for (int i = 0; i < request.include_size(); ++i) {
    if (request.include(i) != "TAGS") {
      return done(InvalidParameter("include[", i, "]: must be TAGS (got '", request.include(i), "')"));
    }
    with_tags = true;
  }
  std::vector<std::string> names;
  for (int i = 0; i < request.services_size(); ++i) {
    auto name = arns_.ServiceName(request.services(i), cluster, StrCat("services[", i, "]"));
    if (!name.ok()) return done(WithType(name.status(), "InvalidParameterException"));
    names.push_back(*std::move(name));
  }
  absl::ReaderMutexLock lock(mu_);
  const ClusterEntry* c = state_->FindCluster(cluster);
  if (c == nullptr || !c->active()) return done(ClusterNotFound(cluster));
  for (const auto& name : names) {
    auto it = c->services.find(name);
    if (it == c->services.end()) {
      auto* f = response->add_failures();
      f->set_arn(arns_.Service(cluster, name));
      f->set_reason("MISSING");
      continue;
    }
    RenderService(*c, it->second, with_tags, response->add_services());
  }
  done(absl::OkStatus());
}

void ServiceActions::ListServices(const v1::ListServicesRequest& request, v1::ListServicesResponse* response,
                                  Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  auto after = DecodePageToken(request.has_next_token(), request.next_token());
  if (!after.ok()) return done(after.status());
  auto page = PageSize(request.has_max_results(), request.max_results());
  if (!page.ok()) return done(page.status());
  const int page_size = request.has_max_results() ? *page : kDefaultListServicesPage;
  if (request.has_launch_type() && request.launch_type() != "EC2" && request.launch_type() != "EXTERNAL" &&
      request.launch_type() != "FARGATE" && request.launch_type() != "MANAGED_INSTANCES") {
    return done(InvalidParameter("launchType: must be EC2, EXTERNAL, FARGATE or MANAGED_INSTANCES (got '",
                                 request.launch_type(), "')"));
  }
  if (request.has_scheduling_strategy() && request.scheduling_strategy() != "REPLICA" &&
      request.scheduling_strategy() != "DAEMON") {
    return done(
        InvalidParameter("schedulingStrategy: must be REPLICA or DAEMON (got '", request.scheduling_strategy(), "')"));
  }
  absl::ReaderMutexLock lock(mu_);
  const ClusterEntry* c = state_->FindCluster(cluster);
  if (c == nullptr || !c->active()) return done(ClusterNotFound(cluster));
  for (auto it = c->services.upper_bound(*after); it != c->services.end(); ++it) {
    const v1::Service& s = it->second.record.service();
    if (s.status() == "INACTIVE") continue;
    if (request.has_launch_type() && s.launch_type() != request.launch_type()) continue;
    if (request.has_scheduling_strategy() && s.scheduling_strategy() != request.scheduling_strategy()) continue;
    if (response->service_arns_size() == page_size) {
      response->set_next_token(EncodePageToken(std::prev(it)->first));
      break;
    }
    response->add_service_arns(arns_.Service(cluster, it->first));
  }
  done(absl::OkStatus());
}

void ServiceActions::UpdateTaskProtection(const v1::UpdateTaskProtectionRequest& request,
                                          v1::UpdateTaskProtectionResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  auto ids = ParseIds(request.tasks(), cluster, "tasks", ResourceKind::kTask, kMaxTasksPerProtectionUpdate);
  if (!ids.ok()) return done(ids.status());
  if (!request.has_protection_enabled()) {
    return done(InvalidParameter("protectionEnabled: required: true to protect the tasks, false to release them"));
  }
  const bool enable = request.protection_enabled();
  int minutes = kDefaultProtectionMinutes;
  if (request.has_expires_in_minutes()) {
    if (!enable) return done(InvalidParameter("expiresInMinutes: only with protectionEnabled true"));
    minutes = request.expires_in_minutes();
    if (minutes < 1 || minutes > kMaxProtectionMinutes) {
      return done(
          InvalidParameter("expiresInMinutes: must be between 1 and ", kMaxProtectionMinutes, " (got ", minutes, ")"));
    }
  }
  Submit(
      [this, response, cluster, ids = *std::move(ids), enable, minutes](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        const double now = clock_->NowSeconds();
        for (const auto& id : ids) {
          auto it = c->tasks.find(id);
          if (it == c->tasks.end()) {
            auto* f = response->add_failures();
            f->set_arn(arns_.Task(cluster, id));
            f->set_reason("MISSING");
            continue;
          }
          const TaskEntry& task = it->second;
          const v1::TaskRecord record = task.record();
          if (record.service().empty()) {
            auto* f = response->add_failures();
            f->set_arn(arns_.Task(cluster, id));
            f->set_reason("TASK_NOT_VALID");
            f->set_detail("only tasks of a service can be protected from scale-in");
            continue;
          }
          if (task.stopped()) {
            auto* f = response->add_failures();
            f->set_arn(arns_.Task(cluster, id));
            f->set_reason("TASK_NOT_VALID");
            f->set_detail("the task is STOPPED");
            continue;
          }
          const double until = enable ? now + minutes * 60.0 : 0;
          txn.UpdateTask(*c, task, [&](v1::TaskRecord& r) {
            r.set_protected_until(until);
            return true;
          });
          auto* p = response->add_protected_tasks();
          p->set_task_arn(arns_.Task(cluster, id));
          p->set_protection_enabled(enable);
          if (enable) p->set_expiration_date(until);
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void ServiceActions::GetTaskProtection(const v1::GetTaskProtectionRequest& request,
                                       v1::GetTaskProtectionResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  auto ids = ParseIds(request.tasks(), cluster, "tasks", ResourceKind::kTask, kMaxTasksPerProtectionGet);
  if (!ids.ok()) return done(ids.status());
  const double now = clock_->NowSeconds();
  absl::ReaderMutexLock lock(mu_);
  const ClusterEntry* c = state_->FindCluster(cluster);
  if (c == nullptr || !c->active()) return done(ClusterNotFound(cluster));
  for (const auto& id : *ids) {
    auto it = c->tasks.find(id);
    if (it == c->tasks.end()) {
      auto* f = response->add_failures();
      f->set_arn(arns_.Task(cluster, id));
      f->set_reason("MISSING");
      continue;
    }
    const double until = it->second.record().protected_until();
    auto* p = response->add_protected_tasks();
    p->set_task_arn(arns_.Task(cluster, id));
    p->set_protection_enabled(until > now);
    if (until > now) p->set_expiration_date(until);
  }
  done(absl::OkStatus());
}

}  // namespace berth::controlplane
