// Capacity providers (docs/capacity.md): CreateCapacityProvider, UpdateCapacityProvider,
// DeleteCapacityProvider, DescribeCapacityProviders, PutClusterCapacityProviders; capacity
// provider strategies on launches; tasks waiting in PROVISIONING for capacity.
//
// A capacity provider names an instance group ("Auto Scaling group") by its autoScalingGroupArn:
// the group's name, or an Auto Scaling group ARN whose autoScalingGroupName/ part is the name.
// A container instance belongs to the group whose name its attribute berth.instance-group holds
// (the hosts of a group berthd runs get it from their provider; other hosts are started with
// --attribute berth.instance-group=NAME). Placing a task for a provider requires that attribute.
#include "src/controlplane/actions/capacity.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"
#include "berth/scheduler/launch.h"
#include "berth/store/keys.h"
#include "src/controlplane/actions/clusters.h"
#include "src/controlplane/actions/pagination.h"
#include "src/controlplane/doors/errors.h"
#include "src/controlplane/providers/instance_provider.h"

namespace berth::controlplane {
namespace {

constexpr int kMaxProvidersPerCluster = 20;
constexpr int kMaxStrategyItems = 20;
constexpr int kMaxBase = 100000;
constexpr int kMaxWeight = 1000;
constexpr int kMaxStepSize = 10000;
constexpr int kMaxWarmupSeconds = 10000;
constexpr std::string_view kGroupArnMarker = ":autoScalingGroupName/";

absl::Status InUse(std::string message) {
  return WithType(absl::FailedPreconditionError(std::move(message)), "ResourceInUseException");
}

bool IsGroupNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

absl::Status ValidateProviderName(const std::string& name, std::string_view field) {
  if (!IsValidName(name)) {
    return InvalidParameter(field, ": '", name, "' is invalid: use 1-255 letters, digits, hyphens and underscores");
  }
  for (std::string_view reserved : {"aws", "ecs", "fargate"}) {
    if (absl::StartsWithIgnoreCase(name, ToAbsl(reserved))) {
      return InvalidParameter(field, ": '", name, "' may not begin with '", reserved,
                              "' (aws, ecs and fargate are reserved prefixes)");
    }
  }
  return absl::OkStatus();
}

// The instance group an autoScalingGroupArn names; errors name `field`.
absl::StatusOr<std::string> GroupOfReference(const std::string& ref, std::string_view field) {
  std::string name = ref;
  if (absl::StartsWith(ref, "arn:")) {
    const size_t at = ref.find(kGroupArnMarker);
    if (at == std::string::npos || ref.find(":autoscaling:") == std::string::npos) {
      return InvalidParameter(field, ": '", ref,
                              "' is not an Auto Scaling group ARN (arn:aws:autoscaling:REGION:ACCOUNT:autoScalingGroup:"
                              "ID:autoScalingGroupName/NAME) or a group name");
    }
    name = ref.substr(at + kGroupArnMarker.size());
  }
  if (name.empty() || name.size() > 255 || !std::all_of(name.begin(), name.end(), IsGroupNameChar)) {
    return InvalidParameter(field, ": the instance group name '", name,
                            "' is invalid: use 1-255 letters, digits, '.', '-' and '_'");
  }
  return name;
}

// managedScaling with ECS's defaults filled in, checked; errors name `field`.
absl::Status CompleteManagedScaling(v1::ManagedScaling* ms, std::string_view field) {
  if (!ms->has_status()) ms->set_status("DISABLED");
  if (ms->status() != "ENABLED" && ms->status() != "DISABLED") {
    return InvalidParameter(field, ".status: must be ENABLED or DISABLED (got '", ms->status(), "')");
  }
  if (!ms->has_target_capacity()) ms->set_target_capacity(100);
  if (ms->target_capacity() < 1 || ms->target_capacity() > 100) {
    return InvalidParameter(field, ".targetCapacity: must be between 1 and 100 percent (got ", ms->target_capacity(),
                            ")");
  }
  if (!ms->has_minimum_scaling_step_size()) ms->set_minimum_scaling_step_size(1);
  if (!ms->has_maximum_scaling_step_size()) ms->set_maximum_scaling_step_size(kMaxStepSize);
  if (ms->minimum_scaling_step_size() < 1 || ms->minimum_scaling_step_size() > kMaxStepSize) {
    return InvalidParameter(field, ".minimumScalingStepSize: must be between 1 and ", kMaxStepSize, " (got ",
                            ms->minimum_scaling_step_size(), ")");
  }
  if (ms->maximum_scaling_step_size() < 1 || ms->maximum_scaling_step_size() > kMaxStepSize) {
    return InvalidParameter(field, ".maximumScalingStepSize: must be between 1 and ", kMaxStepSize, " (got ",
                            ms->maximum_scaling_step_size(), ")");
  }
  if (ms->minimum_scaling_step_size() > ms->maximum_scaling_step_size()) {
    return InvalidParameter(field, ".minimumScalingStepSize: ", ms->minimum_scaling_step_size(),
                            " is greater than maximumScalingStepSize ", ms->maximum_scaling_step_size());
  }
  if (!ms->has_instance_warmup_period()) ms->set_instance_warmup_period(300);
  if (ms->instance_warmup_period() < 0 || ms->instance_warmup_period() > kMaxWarmupSeconds) {
    return InvalidParameter(field, ".instanceWarmupPeriod: must be between 0 and ", kMaxWarmupSeconds, " seconds (got ",
                            ms->instance_warmup_period(), ")");
  }
  return absl::OkStatus();
}

absl::Status CheckEnabledDisabled(const std::string& value, std::string_view field) {
  if (value != "ENABLED" && value != "DISABLED") {
    return InvalidParameter(field, ": must be ENABLED or DISABLED (got '", value, "')");
  }
  return absl::OkStatus();
}

// The protection settings' rule: managed termination protection needs managed scaling.
absl::Status CheckProtection(const v1::AutoScalingGroupProvider& asg, std::string_view field) {
  if (asg.managed_termination_protection() == "ENABLED" && asg.managed_scaling().status() != "ENABLED") {
    return InvalidParameter(field, ".managedTerminationProtection: ENABLED requires managedScaling.status ENABLED");
  }
  return absl::OkStatus();
}

// `cluster` of the capacity provider actions belongs to ECS Managed Instances providers.
absl::Status ClusterRefused() {
  return InvalidParameter("cluster: only for Managed Instances capacity providers, which Berth does not have");
}

bool Includes(const google::protobuf::RepeatedPtrField<std::string>& include, std::string_view what) {
  return std::find(include.begin(), include.end(), what) != include.end();
}

bool Lists(const google::protobuf::RepeatedPtrField<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

absl::Status ValidateCapacityProviderStrategy(
    const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy, std::string_view field) {
  if (strategy.size() > kMaxStrategyItems) {
    return InvalidParameter(field, ": at most ", kMaxStrategyItems, " capacity providers (got ", strategy.size(), ")");
  }
  int with_base = -1;
  int64_t total_weight = 0;
  for (int i = 0; i < strategy.size(); ++i) {
    const auto& item = strategy[i];
    const std::string at = StrCat(field, "[", i, "]");
    if (!item.has_capacity_provider() || item.capacity_provider().empty()) {
      return InvalidParameter(at, ".capacityProvider: required");
    }
    if (!IsValidName(item.capacity_provider())) {
      return InvalidParameter(at, ".capacityProvider: '", item.capacity_provider(),
                              "' is not a valid capacity provider name");
    }
    for (int j = 0; j < i; ++j) {
      if (strategy[j].capacity_provider() == item.capacity_provider()) {
        return InvalidParameter(at, ".capacityProvider: '", item.capacity_provider(), "' is given twice (also ", field,
                                "[", j, "])");
      }
    }
    if (item.weight() < 0 || item.weight() > kMaxWeight) {
      return InvalidParameter(at, ".weight: must be between 0 and ", kMaxWeight, " (got ", item.weight(), ")");
    }
    if (item.base() < 0 || item.base() > kMaxBase) {
      return InvalidParameter(at, ".base: must be between 0 and ", kMaxBase, " (got ", item.base(), ")");
    }
    if (item.base() > 0) {
      if (with_base >= 0) {
        return InvalidParameter(at, ".base: only one capacity provider of a strategy may have a base (", field, "[",
                                with_base, "] has one)");
      }
      with_base = i;
    }
    total_weight += item.weight();
  }
  if (!strategy.empty() && total_weight == 0) {
    return InvalidParameter(field, ": at least one capacity provider must have a weight greater than 0");
  }
  for (int i = 1; i < strategy.size(); ++i) {
    if (IsFargateProvider(strategy[i].capacity_provider()) != IsFargateProvider(strategy[0].capacity_provider())) {
      return InvalidParameter(field, "[", i,
                              "].capacityProvider: a strategy names either Fargate capacity providers (FARGATE, "
                              "FARGATE_SPOT) or Auto Scaling group ones, not both");
    }
  }
  return absl::OkStatus();
}

bool IsFargateProvider(std::string_view name) { return name == "FARGATE" || name == "FARGATE_SPOT"; }

absl::Status CheckFargateLaunch(bool enabled, int placement_constraints, int placement_strategies) {
  if (!enabled) {
    return InvalidParameter(
        "launchType: FARGATE needs Fargate capacity, and this berthd has none: declare a fargate section in its "
        "--capacity-config (docs/capacity.md)");
  }
  constexpr std::string_view kWhy =
      ": not supported with launchType FARGATE (each task runs on a host of its own, spread over availability "
      "zones)";
  if (placement_constraints > 0) return InvalidParameter("placementConstraints", kWhy);
  if (placement_strategies > 0) return InvalidParameter("placementStrategy", kWhy);
  return absl::OkStatus();
}

absl::Status CheckPlatformVersion(bool given, std::string_view version, bool fargate) {
  if (!given) return absl::OkStatus();
  if (!fargate) {
    return InvalidParameter("platformVersion: only FARGATE tasks have a platform version; leave it unset for ",
                            "other launch types");
  }
  if (version != "LATEST" && version != kFargatePlatformVersion) {
    return InvalidParameter("platformVersion: Berth runs FARGATE tasks on platform version ", kFargatePlatformVersion,
                            " (LATEST); got '", version, "'");
  }
  return absl::OkStatus();
}

int32_t FargateEphemeralStorageGiB(const v1::TaskOverride& overrides, const v1::TaskDefinition& td) {
  if (overrides.has_ephemeral_storage() && overrides.ephemeral_storage().size_in_gib() > 0) {
    return overrides.ephemeral_storage().size_in_gib();
  }
  if (td.has_ephemeral_storage() && td.ephemeral_storage().size_in_gib() > 0)
    return td.ephemeral_storage().size_in_gib();
  return 20;
}

std::string ActionBase::GroupOfProvider(const v1::CapacityProviderRecord& record) {
  auto group = GroupOfReference(record.capacity_provider().auto_scaling_group_provider().auto_scaling_group_arn(),
                                "autoScalingGroupArn");
  return group.ok() ? *group : std::string();
}

std::string ActionBase::CapacityProviderOf(const ClusterEntry& cluster, const InstanceEntry& instance) const {
  auto attr = instance.attributes.find(providers::kInstanceGroupAttribute);
  if (attr == instance.attributes.end()) return {};
  for (const auto& name : cluster.record.cluster().capacity_providers()) {
    const v1::CapacityProviderRecord* cp = state_->FindCapacityProvider(name);
    if (cp != nullptr && GroupOfProvider(*cp) == attr->second.attribute().value()) return name;
  }
  return {};
}

absl::Status ActionBase::CheckClusterStrategy(
    const ClusterEntry& cluster, const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy,
    std::string_view field) const {
  for (int i = 0; i < strategy.size(); ++i) {
    const std::string& name = strategy[i].capacity_provider();
    if (!Lists(cluster.record.cluster().capacity_providers(), name)) {
      return InvalidParameter(field, "[", i, "].capacityProvider: capacity provider '", name,
                              "' is not associated with cluster '", cluster.record.cluster().cluster_name(),
                              "' (PutClusterCapacityProviders)");
    }
  }
  return absl::OkStatus();
}

void ActionBase::RenderFargateProvider(const std::string& name, v1::CapacityProvider* out) const {
  out->set_name(name);
  out->set_capacity_provider_arn(arns_.CapacityProvider(name));
  out->set_status("ACTIVE");
}

void ActionBase::RenderCapacityProvider(const v1::CapacityProviderRecord& record, bool with_tags,
                                        v1::CapacityProvider* out) const {
  *out = record.capacity_provider();
  out->set_capacity_provider_arn(arns_.CapacityProvider(out->name()));
  if (!with_tags) out->clear_tags();
}

void CapacityActions::CreateCapacityProvider(const v1::CreateCapacityProviderRequest& request,
                                             v1::CreateCapacityProviderResponse* response, Done done) {
  if (!request.has_name() || request.name().empty()) return done(InvalidParameter("name: required"));
  if (absl::Status s = ValidateProviderName(request.name(), "name"); !s.ok()) return done(s);
  if (request.has_managed_instances_provider()) {
    return done(
        Unimplemented("managedInstancesProvider: ECS Managed Instances are not available in Berth; give an "
                      "autoScalingGroupProvider naming an instance group"));
  }
  if (request.has_cluster()) {
    return done(
        InvalidParameter("cluster: only for Managed Instances capacity providers, which Berth does not have; "
                         "associate the provider with PutClusterCapacityProviders"));
  }
  if (!request.has_auto_scaling_group_provider()) {
    return done(InvalidParameter("autoScalingGroupProvider: required: name the instance group the provider scales"));
  }
  if (absl::Status s = ValidateTags(request.tags(), "tags", options_.limits); !s.ok()) return done(s);
  v1::AutoScalingGroupProvider asg = request.auto_scaling_group_provider();
  if (!asg.has_auto_scaling_group_arn() || asg.auto_scaling_group_arn().empty()) {
    return done(InvalidParameter("autoScalingGroupProvider.autoScalingGroupArn: required"));
  }
  auto group = GroupOfReference(asg.auto_scaling_group_arn(), "autoScalingGroupProvider.autoScalingGroupArn");
  if (!group.ok()) return done(group.status());
  if (absl::Status s = CompleteManagedScaling(asg.mutable_managed_scaling(), "autoScalingGroupProvider.managedScaling");
      !s.ok()) {
    return done(s);
  }
  if (!asg.has_managed_termination_protection()) asg.set_managed_termination_protection("DISABLED");
  if (!asg.has_managed_draining()) asg.set_managed_draining("ENABLED");
  for (auto [value, field] : {std::pair{&asg.managed_termination_protection(), "managedTerminationProtection"},
                              std::pair{&asg.managed_draining(), "managedDraining"}}) {
    if (absl::Status s = CheckEnabledDisabled(*value, StrCat("autoScalingGroupProvider.", field)); !s.ok()) {
      return done(s);
    }
  }
  if (absl::Status s = CheckProtection(asg, "autoScalingGroupProvider"); !s.ok()) return done(s);

  Submit(
      [this, &request, response, asg = std::move(asg), group = *std::move(group)](Applier& txn) -> absl::Status {
        const std::string& name = request.name();
        const v1::CapacityProviderRecord* existing = state_->FindCapacityProvider(name);
        if (existing != nullptr && existing->capacity_provider().status() == "ACTIVE") {
          return Conflict("name: capacity provider '", name, "' already exists");
        }
        for (const auto& [other, rec] : state_->capacity_providers()) {
          if (rec.capacity_provider().status() == "ACTIVE" && GroupOfProvider(rec) == group) {
            return InvalidParameter("autoScalingGroupProvider.autoScalingGroupArn: instance group '", group,
                                    "' is already used by capacity provider '", other, "'");
          }
        }
        v1::CapacityProviderRecord rec;
        v1::CapacityProvider* cp = rec.mutable_capacity_provider();
        cp->set_name(name);
        cp->set_status("ACTIVE");
        cp->set_type("EC2_AUTOSCALING");
        *cp->mutable_auto_scaling_group_provider() = asg;
        *cp->mutable_tags() = request.tags();
        rec.set_created_at(clock_->NowSeconds());
        RenderCapacityProvider(rec, true, response->mutable_capacity_provider());
        txn.PutCapacityProvider(std::move(rec));
        return absl::OkStatus();
      },
      std::move(done));
}

void CapacityActions::UpdateCapacityProvider(const v1::UpdateCapacityProviderRequest& request,
                                             v1::UpdateCapacityProviderResponse* response, Done done) {
  if (!request.has_name() || request.name().empty()) return done(InvalidParameter("name: required"));
  auto name = arns_.CapacityProviderName(request.name(), "name");
  if (!name.ok()) return done(WithType(name.status(), "InvalidParameterException"));
  if (request.has_managed_instances_provider()) {
    return done(Unimplemented("managedInstancesProvider: ECS Managed Instances are not available in Berth"));
  }
  if (request.has_cluster()) {
    return done(ClusterRefused());
  }
  if (!request.has_auto_scaling_group_provider()) {
    return done(InvalidParameter("autoScalingGroupProvider: required: the settings to change"));
  }
  const v1::AutoScalingGroupProviderUpdate& update = request.auto_scaling_group_provider();
  if (update.has_managed_termination_protection()) {
    if (absl::Status s = CheckEnabledDisabled(update.managed_termination_protection(),
                                              "autoScalingGroupProvider.managedTerminationProtection");
        !s.ok()) {
      return done(s);
    }
  }
  if (update.has_managed_draining()) {
    if (absl::Status s = CheckEnabledDisabled(update.managed_draining(), "autoScalingGroupProvider.managedDraining");
        !s.ok()) {
      return done(s);
    }
  }
  Submit(
      [this, &update, response, name = *std::move(name)](Applier& txn) -> absl::Status {
        const v1::CapacityProviderRecord* existing = state_->FindCapacityProvider(name);
        if (existing == nullptr || existing->capacity_provider().status() != "ACTIVE") {
          return NotFound("name: capacity provider '", name, "' does not exist");
        }
        v1::CapacityProviderRecord rec = *existing;
        v1::AutoScalingGroupProvider* asg = rec.mutable_capacity_provider()->mutable_auto_scaling_group_provider();
        if (update.has_managed_scaling()) {
          // The fields given replace the current ones; the others keep their values.
          v1::ManagedScaling merged = asg->managed_scaling();
          merged.MergeFrom(update.managed_scaling());
          RETURN_IF_ERROR(CompleteManagedScaling(&merged, "autoScalingGroupProvider.managedScaling"));
          *asg->mutable_managed_scaling() = merged;
        }
        if (update.has_managed_termination_protection()) {
          asg->set_managed_termination_protection(update.managed_termination_protection());
        }
        if (update.has_managed_draining()) asg->set_managed_draining(update.managed_draining());
        RETURN_IF_ERROR(CheckProtection(*asg, "autoScalingGroupProvider"));
        rec.mutable_capacity_provider()->set_update_status("UPDATE_COMPLETE");
        RenderCapacityProvider(rec, true, response->mutable_capacity_provider());
        txn.PutCapacityProvider(std::move(rec));
        return absl::OkStatus();
      },
      std::move(done));
}

void CapacityActions::DeleteCapacityProvider(const v1::DeleteCapacityProviderRequest& request,
                                             v1::DeleteCapacityProviderResponse* response, Done done) {
  if (!request.has_capacity_provider() || request.capacity_provider().empty()) {
    return done(InvalidParameter("capacityProvider: required: the name or ARN of the capacity provider to delete"));
  }
  if (request.has_cluster()) {
    return done(ClusterRefused());
  }
  auto name = arns_.CapacityProviderName(request.capacity_provider(), "capacityProvider");
  if (!name.ok()) return done(WithType(name.status(), "InvalidParameterException"));
  Submit(
      [this, response, name = *std::move(name)](Applier& txn) -> absl::Status {
        const v1::CapacityProviderRecord* existing = state_->FindCapacityProvider(name);
        if (existing == nullptr || existing->capacity_provider().status() != "ACTIVE") {
          return NotFound("capacityProvider: capacity provider '", name, "' does not exist");
        }
        for (const auto& [cluster_name, cluster] : state_->clusters()) {
          if (cluster->active() && Lists(cluster->record.cluster().capacity_providers(), name)) {
            // DeleteCapacityProvider declares no ResourceInUseException: ECS answers a ClientException.
            return Conflict("capacity provider '", name, "' is associated with cluster '", cluster_name,
                            "': remove it from the cluster first (PutClusterCapacityProviders)");
          }
        }
        v1::CapacityProviderRecord rec = *existing;
        rec.mutable_capacity_provider()->set_status("INACTIVE");
        rec.mutable_capacity_provider()->set_update_status("DELETE_COMPLETE");
        rec.set_deleted_at(clock_->NowSeconds());
        RenderCapacityProvider(rec, true, response->mutable_capacity_provider());
        txn.PutCapacityProvider(std::move(rec));
        return absl::OkStatus();
      },
      std::move(done));
}

void CapacityActions::DescribeCapacityProviders(const v1::DescribeCapacityProvidersRequest& request,
                                                v1::DescribeCapacityProvidersResponse* response, Done done) {
  if (request.capacity_providers_size() > 100) {
    return done(
        InvalidParameter("capacityProviders: at most 100 per call (got ", request.capacity_providers_size(), ")"));
  }
  if (request.has_cluster()) {
    return done(ClusterRefused());
  }
  for (int i = 0; i < request.include_size(); ++i) {
    if (request.include(i) != "TAGS") {
      return done(InvalidParameter("include[", i, "]: must be TAGS (got '", request.include(i), "')"));
    }
  }
  const bool with_tags = Includes(request.include(), "TAGS");
  std::vector<std::string> wanted;
  for (int i = 0; i < request.capacity_providers_size(); ++i) {
    auto name = arns_.CapacityProviderName(request.capacity_providers(i), StrCat("capacityProviders[", i, "]"));
    if (!name.ok()) return done(WithType(name.status(), "InvalidParameterException"));
    wanted.push_back(*std::move(name));
  }
  auto start = DecodePageToken(request.has_next_token(), request.next_token());
  if (!start.ok()) return done(start.status());
  auto limit = PageSize(request.has_max_results(), request.max_results());
  if (!limit.ok()) return done(limit.status());
  {
    absl::ReaderMutexLock lock(mu_);
    if (!wanted.empty()) {
      for (const auto& name : wanted) {
        if (IsFargateProvider(name) && options_.capacity.fargate) {
          RenderFargateProvider(name, response->add_capacity_providers());
          continue;
        }
        const v1::CapacityProviderRecord* rec = state_->FindCapacityProvider(name);
        if (rec == nullptr) {
          auto* f = response->add_failures();
          f->set_arn(arns_.CapacityProvider(name));
          f->set_reason("MISSING");
          continue;
        }
        RenderCapacityProvider(*rec, with_tags, response->add_capacity_providers());
      }
    } else {
      // Every ACTIVE provider, by name, a page at a time (maxResults and nextToken apply only
      // here); FARGATE and FARGATE_SPOT first, as ECS lists them, when berthd has Fargate capacity.
      const auto& all = state_->capacity_providers();
      auto it = start->empty() ? all.begin() : all.upper_bound(*start);
      std::string last;
      if (start->empty() && options_.capacity.fargate) {
        for (const char* name : {"FARGATE", "FARGATE_SPOT"})
          RenderFargateProvider(name, response->add_capacity_providers());
      }
      for (; it != all.end(); ++it) {
        if (it->second.capacity_provider().status() != "ACTIVE") continue;
        if (response->capacity_providers_size() == *limit) {
          response->set_next_token(EncodePageToken(last));
          break;
        }
        RenderCapacityProvider(it->second, with_tags, response->add_capacity_providers());
        last = it->first;
      }
    }
  }
  done(absl::OkStatus());
}

absl::Status ClusterActions::ValidateClusterProviders(
    const google::protobuf::RepeatedPtrField<std::string>& providers,
    const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy) {
  if (providers.size() > kMaxProvidersPerCluster) {
    return InvalidParameter("capacityProviders: at most ", kMaxProvidersPerCluster, " per cluster (got ",
                            providers.size(), ")");
  }
  for (int i = 0; i < providers.size(); ++i) {
    if (!IsValidName(providers[i])) {
      return InvalidParameter("capacityProviders[", i, "]: '", providers[i], "' is not a valid capacity provider name");
    }
    for (int j = 0; j < i; ++j) {
      if (providers[j] == providers[i]) {
        return InvalidParameter("capacityProviders[", i, "]: '", providers[i], "' is given twice");
      }
    }
  }
  RETURN_IF_ERROR(ValidateCapacityProviderStrategy(strategy, "defaultCapacityProviderStrategy"));
  for (int i = 0; i < strategy.size(); ++i) {
    if (!Lists(providers, strategy[i].capacity_provider())) {
      return InvalidParameter("defaultCapacityProviderStrategy[", i, "].capacityProvider: '",
                              strategy[i].capacity_provider(), "' is not one of capacityProviders");
    }
  }
  return absl::OkStatus();
}

absl::Status ClusterActions::CheckProvidersAssignable(
    const std::string& cluster, const google::protobuf::RepeatedPtrField<std::string>& providers) const {
  for (int i = 0; i < providers.size(); ++i) {
    if (IsFargateProvider(providers[i])) {
      // Berth's own: any cluster may have them, when there is Fargate capacity.
      if (!options_.capacity.fargate) {
        return InvalidParameter("capacityProviders[", i, "]: ", providers[i],
                                " needs Fargate capacity, and this berthd has none: declare a fargate section in its "
                                "--capacity-config (docs/capacity.md)");
      }
      continue;
    }
    const v1::CapacityProviderRecord* cp = state_->FindCapacityProvider(providers[i]);
    if (cp == nullptr || cp->capacity_provider().status() != "ACTIVE") {
      return InvalidParameter("capacityProviders[", i, "]: capacity provider '", providers[i], "' does not exist");
    }
    // An Auto Scaling group provider serves one cluster, as in ECS.
    for (const auto& [name, other] : state_->clusters()) {
      if (name != cluster && other->active() && Lists(other->record.cluster().capacity_providers(), providers[i])) {
        return InUse(StrCat("capacityProviders[", i, "]: capacity provider '", providers[i],
                            "' is already associated with cluster '", name, "'"));
      }
    }
  }
  return absl::OkStatus();
}

void ClusterActions::PutClusterCapacityProviders(const v1::PutClusterCapacityProvidersRequest& request,
                                                 v1::PutClusterCapacityProvidersResponse* response, Done done) {
  if (!request.has_cluster() || request.cluster().empty()) {
    return done(InvalidParameter("cluster: required: the cluster whose capacity providers to set"));
  }
  absl::Status error;
  std::string name = ClusterFromRequest(true, request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (absl::Status s =
          ValidateClusterProviders(request.capacity_providers(), request.default_capacity_provider_strategy());
      !s.ok()) {
    return done(s);
  }
  Submit(
      [this, &request, response, name](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(name));
        RETURN_IF_ERROR(CheckProvidersAssignable(name, request.capacity_providers()));
        // A provider leaving the cluster must not be in use by a task that is not STOPPED or by a
        // service's strategy.
        for (const auto& old : c->record.cluster().capacity_providers()) {
          if (Lists(request.capacity_providers(), old)) continue;
          for (const auto& [svc_name, svc] : c->services) {
            if (!svc.active()) continue;
            for (const auto& item : svc.record.service().capacity_provider_strategy()) {
              if (item.capacity_provider() == old) {
                return InUse(StrCat("capacity provider '", old, "' is in use by service '", svc_name,
                                    "' and cannot be removed from cluster '", name, "'"));
              }
            }
          }
          for (const auto& [id, inst] : c->instances) {
            if (inst.task_ids.empty() || inst.record.instance().status() == "INACTIVE") continue;
            if (CapacityProviderOf(*c, inst) == old) {
              return InUse(StrCat("capacity provider '", old, "' has tasks running on container instance ", id,
                                  " and cannot be removed from cluster '", name, "'"));
            }
          }
          if (!c->provisioning.empty()) {
            v1::TaskRecord r;
            for (const auto& [created, id] : c->provisioning) {
              c->tasks.at(id).Decode(&r);
              if (r.task().capacity_provider_name() == old) {
                return InUse(StrCat("capacity provider '", old, "' has task ", id.view(),
                                    " waiting for capacity and cannot be removed from cluster '", name, "'"));
              }
            }
          }
        }
        v1::Cluster* cl = txn.EditCluster(*c).mutable_cluster();
        *cl->mutable_capacity_providers() = request.capacity_providers();
        *cl->mutable_default_capacity_provider_strategy() = request.default_capacity_provider_strategy();
        RenderCluster(*c, true, response->mutable_cluster());
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace berth::controlplane

namespace berth::controlplane {

void CapacityActions::CapacityTick() {
  const int64_t now = clock_->MonotonicMicros();
  if (now < next_provisioning_us_ || provisioning_in_flight_.load()) return;
  next_provisioning_us_ = now + options_.capacity.provisioning_interval_us;
  {
    absl::ReaderMutexLock lock(mu_);
    bool waiting = false;
    for (const auto& [name, c] : state_->clusters()) waiting |= !c->provisioning.empty();
    if (!waiting) return;
  }
  provisioning_in_flight_ = true;
  Submit([this](Applier& txn) { return ApplyProvisioning(txn); },
         [this](absl::Status s) {
           if (!s.ok()) log::Warn("placing tasks waiting for capacity failed: {}", s.ToString());
           provisioning_in_flight_ = false;
         });
}

absl::StatusOr<placement::PlacementRequest> CapacityActions::WaitingTaskRequest(const v1::TaskRecord& r) const {
  placement::PlacementRequest preq;
  preq.demand = ToDemand(r.reservation());
  preq.launch_type = LaunchTypeOf(r.task().launch_type());
  preq.seed = NewSeed();
  if (preq.launch_type == placement::LaunchType::kFargate) {
    // Only on the host started for it.
    preq.required_attributes.push_back({kFargateTaskAttribute, r.id()});
    preq.strategies.push_back(placement::Strategy{placement::Strategy::Type::kRandom, {}, {}});
    return preq;
  }
  const std::string& provider = r.task().capacity_provider_name();
  const v1::CapacityProviderRecord* cp = state_->FindCapacityProvider(provider);
  if (cp == nullptr) return absl::NotFoundError(StrCat("capacity provider ", provider, " no longer exists"));
  const v1::TaskDefinitionRecord* rec = state_->FindTaskDefinition(r.family(), r.task_definition_revision());
  if (rec == nullptr) {
    return absl::NotFoundError(
        StrCat("task definition ", r.family(), ":", r.task_definition_revision(), " no longer exists"));
  }
  const v1::TaskDefinition& td = rec->task_definition();
  preq.group = r.task().group();
  preq.max_per_instance = r.max_per_instance();
  absl::Status parsed = ParsePlacement(r.placement_constraints(), r.placement_strategy(), options_.limits,
                                       &preq.constraints, &preq.strategies);
  if (!parsed.ok()) return parsed;
  for (const auto& pc : td.placement_constraints()) {
    auto constraint = placement::Constraint::FromApi(pc.type(), pc.expression());
    if (constraint.ok()) preq.constraints.push_back(*std::move(constraint));
  }
  if (preq.strategies.empty()) {
    if (r.service().empty()) {
      preq.strategies.push_back(placement::Strategy{placement::Strategy::Type::kRandom, {}, {}});
    } else {
      preq.strategies = DefaultServiceStrategies();
    }
  }
  preq.required_attributes = RequiredAttributes(td);
  preq.required_attributes.push_back({providers::kInstanceGroupAttribute, GroupOfProvider(*cp)});
  return preq;
}

absl::Status CapacityActions::ApplyProvisioning(Applier& txn) {
  const double now = clock_->NowSeconds();
  const double timeout_s = static_cast<double>(options_.capacity.provisioning_timeout_us) / 1e6;
  v1::TaskRecord r;
  for (const auto& [cluster_name, c] : state_->clusters()) {
    if (c->provisioning.empty()) continue;
    // A provider that could not place one task this pass is not tried again until the next:
    // first come, first placed, and one failed placement per provider per pass.
    absl::flat_hash_set<std::string> full;
    const std::vector<std::pair<double, TaskId>> waiting(c->provisioning.begin(), c->provisioning.end());
    for (const auto& [created_at, id] : waiting) {
      auto it = c->tasks.find(id);
      if (it == c->tasks.end()) continue;
      const TaskEntry& task = it->second;
      task.Decode(&r);
      const bool fargate = LaunchTypeOf(r.task().launch_type()) == placement::LaunchType::kFargate;
      const std::string& provider = r.task().capacity_provider_name();
      const scheduler::WaitingTask waiting_task{
          .waited_s = now - created_at,
          .timeout_s = timeout_s,
          .fargate = fargate,
          .provider = provider,
          .provider_full = !fargate && full.contains(provider),
      };
      // The cluster by name, not the structured binding: a lambda may not capture a binding
      // before C++20's rule, which clang (the fuzz build) does not implement yet.
      const auto& cluster = c;
      auto request = [&]() -> absl::StatusOr<placement::PlacementRequest> {
        ASSIGN_OR_RETURN(placement::PlacementRequest preq, WaitingTaskRequest(r));
        txn.PreparePlacement(*cluster, preq);
        return preq;
      };
      const scheduler::WaitingStep step = scheduler::PlanWaitingTask(waiting_task, request, c->view, engine_);
      switch (step.kind) {
        case scheduler::WaitingStep::Kind::kStop:
          launcher_->StopTaskRecord(txn, *c, task, "TaskFailedToStart", step.reason);
          break;
        case scheduler::WaitingStep::Kind::kPlace:
          PlaceProvisioned(txn, *c, task, *step.placement);
          break;
        case scheduler::WaitingStep::Kind::kWait:
          if (!waiting_task.fargate) full.insert(waiting_task.provider);
          break;
      }
    }
  }
  return absl::OkStatus();
}

void CapacityActions::PlaceProvisioned(Applier& txn, const ClusterEntry& cluster, const TaskEntry& task,
                                       const placement::Placement& placed) {
  const ClusterEntry* c = &cluster;
  std::string az;
  const InstanceEntry& inst = c->instances.at(placed.instance_id);
  if (auto a = inst.attributes.find("ecs.availability-zone"); a != inst.attributes.end()) {
    az = a->second.attribute().value();
  }
  txn.UpdateTask(*c, task, [&](v1::TaskRecord& rec) {
    rec.set_container_instance_id(placed.instance_id);
    for (int32_t p : placed.dynamic_tcp_ports) rec.add_dynamic_tcp_ports(p);
    for (int32_t p : placed.dynamic_udp_ports) rec.add_dynamic_udp_ports(p);
    rec.clear_placement_constraints();
    rec.clear_placement_strategy();
    rec.clear_max_per_instance();
    v1::Task* t = rec.mutable_task();
    t->set_last_status("PENDING");
    t->set_version(t->version() + 1);
    if (!az.empty()) t->set_availability_zone(az);
    return true;
  });
  txn.TouchInstance(c->instances.at(placed.instance_id));
}

}  // namespace berth::controlplane

namespace berth::controlplane {

std::map<std::string, CapacityActions::GroupUsage> CapacityActions::CapacityUsage() const {
  std::map<std::string, GroupUsage> out;
  absl::ReaderMutexLock lock(mu_);
  v1::TaskRecord r;
  for (const auto& [cluster_name, c] : state_->clusters()) {
    if (!c->active() || c->record.cluster().capacity_providers().empty()) continue;
    // The managed groups of this cluster's providers.
    std::map<std::string, GroupUsage*> groups;
    for (const auto& name : c->record.cluster().capacity_providers()) {
      const v1::CapacityProviderRecord* cp = state_->FindCapacityProvider(name);
      if (cp == nullptr || cp->capacity_provider().status() != "ACTIVE") continue;
      const auto& asg = cp->capacity_provider().auto_scaling_group_provider();
      if (asg.managed_scaling().status() != "ENABLED") continue;
      const std::string group = GroupOfProvider(*cp);
      if (group.empty()) continue;
      GroupUsage& u = out[group];
      u.provider = name;
      u.cluster = cluster_name;
      u.settings = asg;
      groups[group] = &u;
    }
    if (groups.empty()) continue;
    for (const auto& [id, inst] : c->instances) {
      const std::string& status = inst.record.instance().status();
      if (status != "ACTIVE" && status != "DRAINING") continue;
      auto group_attr = inst.attributes.find(providers::kInstanceGroupAttribute);
      auto host_attr = inst.attributes.find(providers::kProviderHostIdAttribute);
      if (group_attr == inst.attributes.end() || host_attr == inst.attributes.end()) continue;
      auto g = groups.find(group_attr->second.attribute().value());
      if (g == groups.end()) continue;
      GroupHost h;
      h.instance_id = id;
      h.status = status;
      h.agent_connected = inst.record.instance().agent_connected();
      h.tasks = static_cast<int>(inst.task_ids.size());
      for (const auto& res : inst.record.instance().registered_resources()) {
        if (res.name() == "CPU") h.cpu = res.integer_value();
        if (res.name() == "MEMORY") h.memory = res.integer_value();
      }
      for (const auto& task_id : inst.task_ids) {
        auto t = c->tasks.find(task_id);
        if (t == c->tasks.end() || t->second.stopped()) continue;
        t->second.Decode(&r);
        bool daemon = false;
        if (!r.service().empty()) {
          auto svc = c->services.find(r.service());
          daemon = svc != c->services.end() && svc->second.record.service().scheduling_strategy() == "DAEMON";
        }
        if (!daemon) {
          h.busy = true;
          break;
        }
      }
      g->second->hosts[host_attr->second.attribute().value()] = std::move(h);
    }
    for (const auto& [created, id] : c->provisioning) {
      auto t = c->tasks.find(id);
      if (t == c->tasks.end()) continue;
      t->second.Decode(&r);
      for (const auto& [group, u] : groups) {
        if (u->provider == r.task().capacity_provider_name()) {
          u->waiting.emplace_back(r.reservation().cpu(), r.reservation().memory());
        }
      }
    }
  }
  return out;
}

}  // namespace berth::controlplane

namespace berth::controlplane {

CapacityActions::FargateUsage CapacityActions::FargateSnapshot(
    const std::vector<std::pair<std::string, std::string>>& watch) const {
  FargateUsage out;
  absl::ReaderMutexLock lock(mu_);
  v1::TaskRecord r;
  // Notes a task of `c` that is not STOPPED.
  auto live = [&](const ClusterEntry& c, const std::string& id) {
    auto t = c.tasks.find(TaskId(id));
    if (t != c.tasks.end() && !t->second.stopped()) out.live.insert(StrCat(c.record.cluster().cluster_name(), "/", id));
  };
  for (const auto& [cluster_name, c] : state_->clusters()) {
    if (c->fargate_hosts > 0) {
      for (const auto& [id, inst] : c->instances) {
        const std::string& status = inst.record.instance().status();
        if (!inst.fargate() || (status != "ACTIVE" && status != "DRAINING")) continue;
        auto host_attr = inst.attributes.find(providers::kProviderHostIdAttribute);
        if (host_attr == inst.attributes.end()) continue;
        FargateHost h;
        h.cluster = cluster_name;
        h.instance_id = id;
        h.task_id = inst.attributes.at(kFargateTaskAttribute).attribute().value();
        h.agent_connected = inst.record.instance().agent_connected();
        live(*c, h.task_id);
        out.hosts[host_attr->second.attribute().value()] = std::move(h);
      }
    }
    for (const auto& [created, id] : c->provisioning) {
      auto t = c->tasks.find(id);
      if (t == c->tasks.end()) continue;
      t->second.Decode(&r);
      if (r.task().launch_type() != "FARGATE") continue;
      out.live.insert(StrCat(cluster_name, "/", r.id()));
      FargateTask w;
      w.cluster = cluster_name;
      w.id = r.id();
      w.group = r.task().group();
      w.cpu = r.reservation().cpu();
      w.memory = r.reservation().memory();
      out.waiting.push_back(std::move(w));
    }
  }
  for (const auto& [cluster_name, id] : watch) {
    const ClusterEntry* c = state_->FindCluster(cluster_name);
    if (c != nullptr) live(*c, id);
  }
  return out;
}

}  // namespace berth::controlplane
