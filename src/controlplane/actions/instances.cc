// Container instance and attribute actions: RegisterContainerInstance,
// DeregisterContainerInstance, DescribeContainerInstances, ListContainerInstances,
// UpdateContainerInstancesState, PutAttributes, DeleteAttributes, ListAttributes.
#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "berth/common/strings.h"
#include "berth/placement/expression.h"
#include "berth/store/keys.h"
#include "src/controlplane/actions/instances.h"
#include "src/controlplane/actions/pagination.h"
#include "src/controlplane/auth/instance_subject.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

constexpr int kMaxReservedPorts = 100;
constexpr int kMaxCustomAttributes = 10;

bool IsAttributeNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '/' || c == '\\';
}
bool IsAttributeValueChar(char c) { return IsAttributeNameChar(c) || c == '@' || c == ':' || c == ' '; }

// ECS attribute rules. `field` is the path of the attribute ("attributes[2]").
absl::Status ValidateAttribute(const v1::Attribute& a, const std::string& field, bool need_target) {
  if (!a.has_name() || a.name().empty() || a.name().size() > 128) {
    return InvalidParameter(field, ".name: required, 1-128 characters");
  }
  for (char c : a.name()) {
    if (!IsAttributeNameChar(c)) {
      return InvalidParameter(field, ".name: '", a.name(),
                              "' may contain only letters, digits, '-', '_', '.', '/' and '\\'");
    }
  }
  if (a.has_value()) {
    const std::string& v = a.value();
    if (v.empty() || v.size() > 128) return InvalidParameter(field, ".value: must be 1-128 characters when given");
    if (v.front() == ' ' || v.back() == ' ')
      return InvalidParameter(field, ".value: may not start or end with a space");
    for (char c : v) {
      if (!IsAttributeValueChar(c)) {
        return InvalidParameter(field, ".value: '", v,
                                "' may contain only letters, digits, spaces and '-', '_', '.', '@', '/', '\\', ':'");
      }
    }
  }
  if (a.has_target_type() && a.target_type() != "container-instance") {
    return InvalidParameter(field, ".targetType: must be 'container-instance' (got '", a.target_type(), "')");
  }
  if (need_target && (!a.has_target_id() || a.target_id().empty())) {
    return InvalidParameter(field, ".targetId: required: the container instance id or ARN");
  }
  return absl::OkStatus();
}

absl::Status ValidateTotalResources(const google::protobuf::RepeatedPtrField<v1::Resource>& resources) {
  absl::flat_hash_set<std::string> seen;
  int ports = 0;
  for (int i = 0; i < resources.size(); ++i) {
    const auto& r = resources[i];
    std::string field = StrCat("totalResources[", i, "]");
    if (!seen.insert(r.name()).second) return InvalidParameter(field, ".name: '", r.name(), "' is given twice");
    if (r.name() == "CPU" || r.name() == "MEMORY") {
      if (r.type() != "INTEGER") return InvalidParameter(field, ".type: ", r.name(), " must be INTEGER");
      if (!r.has_integer_value() || r.integer_value() < 0) {
        return InvalidParameter(field, ".integerValue: ", r.name(), " needs a non-negative integerValue");
      }
    } else if (r.name() == "PORTS" || r.name() == "PORTS_UDP") {
      if (r.type() != "STRINGSET") return InvalidParameter(field, ".type: ", r.name(), " must be STRINGSET");
      for (int j = 0; j < r.string_set_value_size(); ++j) {
        int port = 0;
        if (!ParseInt(r.string_set_value(j), &port) || port < 1 || port > 65535) {
          return InvalidParameter(field, ".stringSetValue[", j, "]: '", r.string_set_value(j),
                                  "' is not a port number 1-65535");
        }
        ++ports;
      }
    } else if (r.name() == "GPU") {
      if (r.type() != "STRINGSET") return InvalidParameter(field, ".type: GPU must be STRINGSET (of GPU ids)");
    } else {
      return InvalidParameter(field, ".name: must be CPU, MEMORY, PORTS, PORTS_UDP or GPU (got '", r.name(), "')");
    }
  }
  if (ports > kMaxReservedPorts) {
    return InvalidParameter("totalResources: at most ", kMaxReservedPorts, " reserved ports per instance (got ", ports,
                            ")");
  }
  return absl::OkStatus();
}

// totalResources is optional (ECS's model): CPU and MEMORY that are not given are registered as
// 0, so that DescribeContainerInstances always shows both, and nothing that reserves either is
// placed there until the instance registers again with its resources.
google::protobuf::RepeatedPtrField<v1::Resource> RegisteredResourcesOf(
    const google::protobuf::RepeatedPtrField<v1::Resource>& given) {
  google::protobuf::RepeatedPtrField<v1::Resource> out = given;
  for (const char* name : {"CPU", "MEMORY"}) {
    if (std::any_of(given.begin(), given.end(), [name](const v1::Resource& r) { return r.name() == name; })) continue;
    v1::Resource* r = out.Add();
    r->set_name(name);
    r->set_type("INTEGER");
    r->set_integer_value(0);
  }
  return out;
}

// The ecs.* attributes ECS takes from an EC2 instance identity document (its members
// availabilityZone, instanceType, imageId). Errors name the member and the attribute rule.
absl::StatusOr<std::vector<v1::Attribute>> AttributesOfIdentityDocument(const std::string& document) {
  std::vector<v1::Attribute> out;
  auto doc = nlohmann::json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return out;
  static constexpr std::pair<const char*, const char*> kDerived[] = {
      {"availabilityZone", "ecs.availability-zone"}, {"instanceType", "ecs.instance-type"}, {"imageId", "ecs.ami-id"}};
  for (const auto& [member, attribute] : kDerived) {
    auto it = doc.find(member);
    if (it == doc.end() || !it->is_string()) continue;
    v1::Attribute a;
    a.set_name(attribute);
    a.set_value(it->get<std::string>());
    RETURN_IF_ERROR(
        ValidateAttribute(a, StrCat("instanceIdentityDocument.", member, " (as attribute ", attribute, ")"), false));
    out.push_back(std::move(a));
  }
  return out;
}

std::string Ec2InstanceId(const std::string& document) {
  auto doc = nlohmann::json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("instanceId") && doc["instanceId"].is_string()) {
    return doc["instanceId"].get<std::string>();
  }
  return {};
}

// The request's attributes and those of its identity document; the caller's win.
absl::StatusOr<std::vector<v1::Attribute>> AttributesToRegister(const v1::RegisterContainerInstanceRequest& request) {
  std::vector<v1::Attribute> attributes(request.attributes().begin(), request.attributes().end());
  if (!request.has_instance_identity_document()) return attributes;
  ASSIGN_OR_RETURN(std::vector<v1::Attribute> derived,
                   AttributesOfIdentityDocument(request.instance_identity_document()));
  for (auto& a : derived) {
    const bool given = std::any_of(request.attributes().begin(), request.attributes().end(),
                                   [&a](const v1::Attribute& g) { return g.name() == a.name(); });
    if (!given) attributes.push_back(std::move(a));
  }
  return attributes;
}

bool IsCustomAttribute(const std::string& name) { return name.rfind("ecs.", 0) != 0; }

}  // namespace

void InstanceActions::RegisterContainerInstance(const v1::RegisterContainerInstanceRequest& request,
                                                v1::RegisterContainerInstanceResponse* response, Done done) {
  Register(request, response, std::nullopt, false, std::move(done));
}

void InstanceActions::Register(const v1::RegisterContainerInstanceRequest& request,
                               v1::RegisterContainerInstanceResponse* response, std::optional<JoinUse> join,
                               bool as_bound_instance, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (absl::Status s = ValidateTotalResources(request.total_resources()); !s.ok()) return done(s);
  for (int i = 0; i < request.attributes_size(); ++i) {
    if (absl::Status s = ValidateAttribute(request.attributes(i), StrCat("attributes[", i, "]"), false); !s.ok()) {
      return done(s);
    }
  }
  if (absl::Status s = ValidateTags(request.tags(), "tags", options_.limits); !s.ok()) return done(s);
  std::string existing_id;
  if (request.has_container_instance_arn() && !request.container_instance_arn().empty()) {
    auto id = arns_.ContainerInstanceId(request.container_instance_arn(), cluster, "containerInstanceArn");
    if (!id.ok()) return done(WithType(id.status(), "InvalidParameterException"));
    existing_id = *std::move(id);
  }
  if (request.has_instance_identity_document() && !request.instance_identity_document().empty() &&
      !nlohmann::json::accept(request.instance_identity_document())) {
    return done(InvalidParameter("instanceIdentityDocument: must be a JSON document"));
  }
  auto attributes = AttributesToRegister(request);
  if (!attributes.ok()) return done(attributes.status());
  if (join.has_value() && !existing_id.empty()) {
    return done(WithType(absl::PermissionDeniedError("containerInstanceArn: a join token registers new container "
                                                     "instances only; re-register with the instance's credential"),
                         "AccessDeniedException"));
  }
  Submit(
      [this, &request, response, cluster, existing_id, join = std::move(join), as_bound_instance,
       attributes = *std::move(attributes)](Applier& txn) -> absl::Status {
        absl::StatusOr<const ClusterEntry*> active = ActiveCluster(cluster);
        if (!active.ok()) {
          // RegisterContainerInstance declares no ClusterNotFoundException: ECS answers
          // "ClientException: Cluster not found.", and container agents match those words.
          return WithType(absl::NotFoundError(StrCat("Cluster not found. ", active.status().message())),
                          "ClientException");
        }
        const ClusterEntry* c = *active;
        const v1::JoinTokenRecord* token = nullptr;
        if (join.has_value()) {
          ASSIGN_OR_RETURN(token, UsableJoinToken(*c, join->token_id, join->token_sha256));
        }
        const InstanceEntry* inst = nullptr;
        if (!existing_id.empty()) {
          auto it = c->instances.find(existing_id);
          if (it == c->instances.end()) {
            return NotFound("containerInstanceArn: container instance ", existing_id, " is not registered in cluster '",
                            cluster, "'");
          }
          inst = &it->second;
          // An instance that registered with a join token is re-registered by its own credential
          // only, on any door (docs/security.md, "Agents: join tokens").
          if (!inst->record.credential_sha256().empty() && !as_bound_instance) {
            return WithType(absl::PermissionDeniedError(StrCat(
                                "containerInstanceArn: container instance ", existing_id,
                                " registered with a join token: only its own instance credential may re-register it")),
                            "AccessDeniedException");
          }
        }
        // Count custom attributes after this registration before changing anything.
        int custom = 0;
        if (inst != nullptr) {
          for (const auto& [name, rec] : inst->attributes) custom += IsCustomAttribute(name);
        }
        for (const auto& a : attributes) {
          custom += IsCustomAttribute(a.name()) && (inst == nullptr || !inst->attributes.contains(a.name()));
        }
        if (custom > kMaxCustomAttributes) {
          return InvalidParameter("attributes: at most ", kMaxCustomAttributes,
                                  " custom attributes per container instance");
        }
        v1::ContainerInstance ci;
        if (inst != nullptr) ci = inst->record.instance();
        *ci.mutable_registered_resources() = RegisteredResourcesOf(request.total_resources());
        if (request.has_version_info()) *ci.mutable_version_info() = request.version_info();
        if (request.has_instance_identity_document()) {
          std::string ec2 = Ec2InstanceId(request.instance_identity_document());
          if (!ec2.empty()) ci.set_ec2_instance_id(ec2);
        }
        const std::string id = inst == nullptr ? NewId() : inst->record.id();
        if (ci.ec2_instance_id().empty()) {
          for (const auto& a : attributes) {
            // An external host is a "managed instance" in ECS Anywhere: mi- and 17 hex digits.
            if (a.name() == kExternalAttribute) ci.set_ec2_instance_id(StrCat("mi-", id.substr(0, 17)));
          }
        }
        ci.set_status("ACTIVE");
        ci.set_agent_connected(true);
        ci.set_version(ci.version() + 1);
        if (!ci.has_registered_at()) ci.set_registered_at(clock_->NowSeconds());
        if (!request.tags().empty()) *ci.mutable_tags() = request.tags();
        if (inst == nullptr) {
          v1::ContainerInstanceRecord rec;
          rec.set_cluster(cluster);
          rec.set_id(id);
          if (join.has_value()) rec.set_credential_sha256(join->credential_sha256);
          *rec.mutable_instance() = std::move(ci);
          inst = &txn.AddInstance(*c, std::move(rec));
        } else {
          v1::ContainerInstanceRecord& rec = txn.EditInstance(*c, *inst);
          *rec.mutable_instance() = std::move(ci);
          rec.set_disconnected_at(0);  // connected again by registering
        }
        for (const auto& a : attributes) {
          v1::AttributeRecord rec;
          rec.mutable_attribute()->set_name(a.name());
          if (a.has_value()) rec.mutable_attribute()->set_value(a.value());
          rec.mutable_attribute()->set_target_type("container-instance");
          rec.mutable_attribute()->set_target_id(inst->record.id());
          txn.PutAttribute(*c, *inst, std::move(rec));
        }
        txn.RefreshInstanceView(*c, *inst);
        txn.TouchInstance(*inst);
        RenderInstance(*c, *inst, true, response->mutable_container_instance());
        if (token != nullptr) CountJoinTokenUse(txn, *c, *token);
        return absl::OkStatus();
      },
      [this, cluster, response, done = std::move(done)](absl::Status s) {
        // Registered: heard from now, so the disconnect check counts from here.
        if (s.ok()) {
          auto id = arns_.ContainerInstanceId(response->container_instance().container_instance_arn(), cluster,
                                              "containerInstanceArn");
          if (id.ok()) sessions_->Heartbeat(cluster, *id, clock_->MonotonicMicros());
        }
        done(std::move(s));
      });
}

void InstanceActions::DeregisterContainerInstance(const v1::DeregisterContainerInstanceRequest& request,
                                                  v1::DeregisterContainerInstanceResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (!request.has_container_instance() || request.container_instance().empty()) {
    return done(InvalidParameter("containerInstance: required: the container instance id or ARN"));
  }
  auto id = arns_.ContainerInstanceId(request.container_instance(), cluster, "containerInstance");
  if (!id.ok()) return done(WithType(id.status(), "InvalidParameterException"));
  bool force = request.has_force() && request.force();
  Submit(
      [this, response, cluster, id = *id, force](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        auto it = c->instances.find(id);
        if (it == c->instances.end() || it->second.record.instance().status() == "INACTIVE") {
          return NotFound("containerInstance: container instance ", id, " is not registered in cluster '", cluster,
                          "'");
        }
        const InstanceEntry& inst = it->second;
        if (!inst.task_ids.empty() && !force) {
          return Conflict("container instance ", id, " still has ", inst.task_ids.size(),
                          " tasks that are not STOPPED: stop them first, or pass force to deregister anyway "
                          "(the tasks are then orphaned)");
        }
        // With force, the instance's tasks stop here and now: their resources go with the instance,
        // and an agent still polling is told the instance is INACTIVE and stops their containers.
        const double now = clock_->NowSeconds();
        std::vector<std::string> orphans(inst.task_ids.begin(), inst.task_ids.end());
        for (const auto& task_id : orphans) {
          auto t = c->tasks.find(task_id);
          if (t == c->tasks.end()) continue;
          txn.UpdateTask(*c, t->second, [&](v1::TaskRecord& r) {
            v1::Task* task = r.mutable_task();
            task->set_desired_status("STOPPED");
            task->set_last_status("STOPPED");
            if (!task->has_stop_code()) task->set_stop_code("UserInitiated");
            if (!task->has_stopped_reason()) {
              task->set_stopped_reason(StrCat("Container instance ", id, " was deregistered with force"));
            }
            if (!task->has_stopping_at()) task->set_stopping_at(now);
            task->set_stopped_at(now);
            for (auto& container : *task->mutable_containers()) container.set_last_status("STOPPED");
            task->set_version(task->version() + 1);
            return true;
          });
        }
        auto* ci = txn.EditInstance(*c, inst).mutable_instance();
        ci->set_status("INACTIVE");
        ci->set_version(ci->version() + 1);
        txn.RefreshInstanceView(*c, inst);
        txn.TouchInstance(inst);
        RenderInstance(*c, inst, true, response->mutable_container_instance());
        return absl::OkStatus();
      },
      std::move(done));
}

void InstanceActions::DescribeContainerInstances(const v1::DescribeContainerInstancesRequest& request,
                                                 v1::DescribeContainerInstancesResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  bool with_tags = false;
  for (int i = 0; i < request.include_size(); ++i) {
    if (request.include(i) == "TAGS") {
      with_tags = true;
    } else if (request.include(i) != "CONTAINER_INSTANCE_HEALTH") {
      return done(InvalidParameter("include[", i, "]: must be TAGS or CONTAINER_INSTANCE_HEALTH (got '",
                                   request.include(i), "')"));
    }
  }
  auto ids =
      ParseIds(request.container_instances(), cluster, "containerInstances", ResourceKind::kContainerInstance, 100);
  if (!ids.ok()) return done(ids.status());
  absl::Status result = [&]() -> absl::Status {
    absl::ReaderMutexLock lock(mu_);
    const ClusterEntry* c = state_->FindCluster(cluster);
    if (c == nullptr) return ClusterNotFound(cluster);
    for (const auto& id : *ids) {
      auto it = c->instances.find(id);
      if (it == c->instances.end() || it->second.fargate()) {
        auto* f = response->add_failures();
        f->set_arn(arns_.ContainerInstance(cluster, id));
        f->set_reason("MISSING");
        continue;
      }
      RenderInstance(*c, it->second, with_tags, response->add_container_instances());
    }
    return absl::OkStatus();
  }();
  done(result);
}

void InstanceActions::ListContainerInstances(const v1::ListContainerInstancesRequest& request,
                                             v1::ListContainerInstancesResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  // The filter is parsed once here and evaluated per instance under the lock.
  std::optional<placement::Expression> filter;
  if (request.has_filter() && !request.filter().empty()) {
    absl::StatusOr<placement::Expression> parsed = placement::ParseExpression(request.filter());
    if (!parsed.ok()) return done(InvalidParameter("filter: ", parsed.status().message()));
    filter = *std::move(parsed);
  }
  std::string status = request.status();
  if (request.has_status() && status != "ACTIVE" && status != "DRAINING" && status != "REGISTERING" &&
      status != "DEREGISTERING" && status != "REGISTRATION_FAILED") {
    return done(InvalidParameter(
        "status: must be ACTIVE, DRAINING, REGISTERING, DEREGISTERING or REGISTRATION_FAILED (got '", status, "')"));
  }
  auto after = DecodePageToken(request.has_next_token(), request.next_token());
  if (!after.ok()) return done(after.status());
  auto limit = PageSize(request.has_max_results(), request.max_results());
  if (!limit.ok()) return done(limit.status());
  absl::Status result = [&]() -> absl::Status {
    absl::ReaderMutexLock lock(mu_);
    const ClusterEntry* c = state_->FindCluster(cluster);
    if (c == nullptr) return ClusterNotFound(cluster);
    // Filters first, then the page: the token is the last id returned, so the next page starts
    // after it and evaluates the filter again on what follows.
    const std::string* last = nullptr;
    auto it = after->empty() ? c->instances.begin() : c->instances.upper_bound(*after);
    for (; it != c->instances.end(); ++it) {
      const std::string& st = it->second.record.instance().status();
      bool match = request.has_status() ? st == status : (st == "ACTIVE" || st == "DRAINING");
      if (!match || it->second.fargate()) continue;
      if (filter && !filter->Matches(InstanceSubject(*c, it->second))) continue;
      if (response->container_instance_arns_size() == *limit) {
        response->set_next_token(EncodePageToken(*last));
        break;
      }
      response->add_container_instance_arns(arns_.ContainerInstance(cluster, it->first));
      last = &it->first;
    }
    return absl::OkStatus();
  }();
  done(result);
}

void InstanceActions::UpdateContainerInstancesState(const v1::UpdateContainerInstancesStateRequest& request,
                                                    v1::UpdateContainerInstancesStateResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  auto ids =
      ParseIds(request.container_instances(), cluster, "containerInstances", ResourceKind::kContainerInstance, 10);
  if (!ids.ok()) return done(ids.status());
  if (request.status() != "ACTIVE" && request.status() != "DRAINING") {
    return done(InvalidParameter("status: must be ACTIVE or DRAINING (got '", request.status(), "')"));
  }
  Submit(
      [this, response, cluster, ids = *std::move(ids), status = request.status()](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        for (const auto& id : ids) {
          auto it = c->instances.find(id);
          if (it == c->instances.end() || it->second.fargate()) {
            auto* f = response->add_failures();
            f->set_arn(arns_.ContainerInstance(cluster, id));
            f->set_reason("MISSING");
            continue;
          }
          const InstanceEntry& inst = it->second;
          if (inst.record.instance().status() == "INACTIVE") {
            auto* f = response->add_failures();
            f->set_arn(arns_.ContainerInstance(cluster, id));
            f->set_reason("INACTIVE");
            f->set_detail("the container instance is deregistered");
            continue;
          }
          if (inst.record.instance().status() != status) {
            auto* ci = txn.EditInstance(*c, inst).mutable_instance();
            ci->set_status(status);
            ci->set_version(ci->version() + 1);
            txn.RefreshInstanceView(*c, inst);
            txn.TouchInstance(inst);
          }
          RenderInstance(*c, inst, false, response->add_container_instances());
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void InstanceActions::PutAttributes(const v1::PutAttributesRequest& request, v1::PutAttributesResponse* response,
                                    Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (request.attributes().empty() || request.attributes_size() > 10) {
    return done(InvalidParameter("attributes: give 1 to 10 attributes (got ", request.attributes_size(), ")"));
  }
  std::vector<std::string> targets;
  for (int i = 0; i < request.attributes_size(); ++i) {
    std::string field = StrCat("attributes[", i, "]");
    if (absl::Status s = ValidateAttribute(request.attributes(i), field, true); !s.ok()) return done(s);
    if (request.attributes(i).name() == kFargateTaskAttribute) {
      return done(InvalidParameter(field, ".name: ", kFargateTaskAttribute,
                                   " is set by berthd on the hosts it starts for FARGATE tasks"));
    }
    auto id = arns_.ContainerInstanceId(request.attributes(i).target_id(), cluster, field + ".targetId");
    if (!id.ok()) return done(WithType(id.status(), "InvalidParameterException"));
    targets.push_back(*std::move(id));
  }
  Submit(
      [this, &request, response, cluster, targets](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        // Check every target and the custom-attribute limit before changing anything.
        absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> added;
        for (size_t i = 0; i < targets.size(); ++i) {
          auto it = c->instances.find(targets[i]);
          if (it == c->instances.end() || it->second.record.instance().status() == "INACTIVE" || it->second.fargate()) {
            return WithType(NotFound("attributes[", i, "].targetId: container instance ", targets[i],
                                     " is not registered in cluster '", cluster, "'"),
                            "TargetNotFoundException");
          }
          const auto& name = request.attributes(static_cast<int>(i)).name();
          if (IsCustomAttribute(name) && !it->second.attributes.contains(name)) added[targets[i]].insert(name);
        }
        for (const auto& [id, names] : added) {
          int custom = static_cast<int>(names.size());
          for (const auto& [name, rec] : c->instances.at(id).attributes) custom += IsCustomAttribute(name);
          if (custom > kMaxCustomAttributes) {
            return WithType(InvalidParameter("attributes: container instance ", id, " would have ", custom,
                                             " custom attributes; the limit is ", kMaxCustomAttributes),
                            "AttributeLimitExceededException");
          }
        }
        for (size_t i = 0; i < targets.size(); ++i) {
          const auto& a = request.attributes(static_cast<int>(i));
          const InstanceEntry& inst = c->instances.at(targets[i]);
          v1::AttributeRecord rec;
          rec.mutable_attribute()->set_name(a.name());
          if (a.has_value()) rec.mutable_attribute()->set_value(a.value());
          rec.mutable_attribute()->set_target_type("container-instance");
          rec.mutable_attribute()->set_target_id(targets[i]);
          const v1::AttributeRecord& stored = txn.PutAttribute(*c, inst, std::move(rec));
          txn.RefreshInstanceView(*c, inst);  // placement sees the new value
          auto* out = response->add_attributes();
          *out = stored.attribute();
          out->set_target_id(arns_.ContainerInstance(cluster, targets[i]));
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void InstanceActions::DeleteAttributes(const v1::DeleteAttributesRequest& request,
                                       v1::DeleteAttributesResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (request.attributes().empty() || request.attributes_size() > 10) {
    return done(InvalidParameter("attributes: give 1 to 10 attributes (got ", request.attributes_size(), ")"));
  }
  std::vector<std::string> targets;
  for (int i = 0; i < request.attributes_size(); ++i) {
    std::string field = StrCat("attributes[", i, "]");
    const auto& a = request.attributes(i);
    if (!a.has_name() || a.name().empty()) return done(InvalidParameter(field, ".name: required"));
    if (!a.has_target_id() || a.target_id().empty()) {
      return done(InvalidParameter(field, ".targetId: required: the container instance id or ARN"));
    }
    auto id = arns_.ContainerInstanceId(a.target_id(), cluster, field + ".targetId");
    if (!id.ok()) return done(WithType(id.status(), "InvalidParameterException"));
    targets.push_back(*std::move(id));
  }
  Submit(
      [this, &request, response, cluster, targets](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        for (size_t i = 0; i < targets.size(); ++i) {
          auto it = c->instances.find(targets[i]);
          if (it == c->instances.end() || it->second.fargate()) {
            return WithType(NotFound("attributes[", i, "].targetId: container instance ", targets[i],
                                     " is not registered in cluster '", cluster, "'"),
                            "TargetNotFoundException");
          }
        }
        for (size_t i = 0; i < targets.size(); ++i) {
          const auto& a = request.attributes(static_cast<int>(i));
          const InstanceEntry& inst = c->instances.at(targets[i]);
          auto it = inst.attributes.find(a.name());
          if (it == inst.attributes.end()) continue;
          auto* out = response->add_attributes();
          *out = it->second.attribute();
          out->set_target_id(arns_.ContainerInstance(cluster, targets[i]));
          txn.DeleteAttribute(*c, inst, a.name());
          txn.RefreshInstanceView(*c, inst);
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void InstanceActions::ListAttributes(const v1::ListAttributesRequest& request, v1::ListAttributesResponse* response,
                                     Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (request.target_type() != "container-instance") {
    return done(
        InvalidParameter("targetType: required and must be 'container-instance' (got '", request.target_type(), "')"));
  }
  if (request.has_attribute_value() && !request.has_attribute_name()) {
    return done(InvalidParameter("attributeValue: filtering by value needs attributeName too"));
  }
  auto after = DecodePageToken(request.has_next_token(), request.next_token());
  if (!after.ok()) return done(after.status());
  auto limit = PageSize(request.has_max_results(), request.max_results());
  if (!limit.ok()) return done(limit.status());
  absl::Status result = [&]() -> absl::Status {
    absl::ReaderMutexLock lock(mu_);
    const ClusterEntry* c = state_->FindCluster(cluster);
    if (c == nullptr) return ClusterNotFound(cluster);
    std::string last;
    for (const auto& [id, inst] : c->instances) {
      if (inst.record.instance().status() == "INACTIVE" || inst.fargate()) continue;
      for (const auto& [name, rec] : inst.attributes) {
        std::string key = StrCat(id, std::string_view("\0", 1), name);
        if (!after->empty() && key <= *after) continue;
        if (request.has_attribute_name() && name != request.attribute_name()) continue;
        if (request.has_attribute_value() && rec.attribute().value() != request.attribute_value()) continue;
        if (response->attributes_size() == *limit) {
          response->set_next_token(EncodePageToken(last));
          return absl::OkStatus();
        }
        auto* out = response->add_attributes();
        *out = rec.attribute();
        out->set_target_id(arns_.ContainerInstance(cluster, id));
        last = std::move(key);
      }
    }
    return absl::OkStatus();
  }();
  done(result);
}

}  // namespace berth::controlplane
