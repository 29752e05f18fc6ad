// ValidateTaskDefinition (validation.h): the ECS rules for a whole task definition and the launch
// types it is compatible with; each container's rules are in container_validation.cc.
//
// Rule sources: ECS-SEMANTICS.md "Task definitions" first; beyond it, the ECS API reference
// (ContainerDefinition, PortMapping, HealthCheck, Volume, ...) and the developer guide's Fargate
// and ECS Anywhere pages. Where the documentation and ECS's observed behaviour differ, the comment
// at the rule says which one Berth follows and why.
//
// Checks run in a fixed order and the first failure is returned, so one request always gets the
// same error. The order: size, family, task-level members, volumes, container names (every
// reference resolves against them), each container in index order, whole-task rules (essential,
// dependency cycles, resource sums), then the launch types the request requires.
#include "src/controlplane/actions/validation.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/common/status.h"
#include "berth/placement/expression.h"
#include "src/controlplane/actions/validation_rules.h"

namespace berth::controlplane {
namespace {

using validation_internal::CheckContainer;
using validation_internal::CheckName;
using validation_internal::CheckOneOf;
using validation_internal::CheckRange;
using validation_internal::ContainerPath;
using validation_internal::Essential;
using validation_internal::Invalid;
using validation_internal::OneOf;
using validation_internal::Quote;
using validation_internal::Required;
using validation_internal::TaskContext;

constexpr int kMaxPlacementConstraints = 10;
constexpr int kMaxPlacementExpressionLength = 2000;
constexpr int kFargateMaxTimeoutSeconds = 120;

const std::initializer_list<absl::string_view> kNetworkModes = {"bridge", "host", "awsvpc", "none"};
const std::initializer_list<absl::string_view> kLaunchTypes = {"EC2", "FARGATE", "EXTERNAL"};
const std::initializer_list<absl::string_view> kPidModes = {"host", "task"};
const std::initializer_list<absl::string_view> kIpcModes = {"host", "task", "none"};
const std::initializer_list<absl::string_view> kCpuArchitectures = {"X86_64", "ARM64"};
const std::initializer_list<absl::string_view> kOsFamilies = {
    "LINUX",
    "WINDOWS_SERVER_2016_FULL",
    "WINDOWS_SERVER_2019_FULL",
    "WINDOWS_SERVER_2019_CORE",
    "WINDOWS_SERVER_2022_FULL",
    "WINDOWS_SERVER_2022_CORE",
    "WINDOWS_SERVER_2025_FULL",
    "WINDOWS_SERVER_2025_CORE",
    "WINDOWS_SERVER_2004_CORE",
    "WINDOWS_SERVER_20H2_CORE",
};
const std::initializer_list<absl::string_view> kFargateLogDrivers = {"awslogs", "splunk", "awsfirelens"};
const std::initializer_list<absl::string_view> kEnabledDisabled = {"ENABLED", "DISABLED"};
const std::initializer_list<absl::string_view> kDockerVolumeScopes = {"task", "shared"};
const std::initializer_list<absl::string_view> kProxyTypes = {"APPMESH"};
const std::initializer_list<absl::string_view> kProxyProperties = {
    "IgnoredUID",      "IgnoredGID",         "AppPorts",        "ProxyIngressPort",
    "ProxyEgressPort", "EgressIgnoredPorts", "EgressIgnoredIPs"};

// Fargate task sizes: cpu -> memory (MiB) {min, max, step} (ECS-SEMANTICS.md table).
struct FargateMemoryRange {
  int64_t cpu;
  int64_t min;
  int64_t max;
  int64_t step;
};
// 256 -> 512, 1024, 2048 is not a step range and is checked in FargateSize.
constexpr FargateMemoryRange kFargateSizes[] = {
    {512, 1024, 4096, 1024},   {1024, 2048, 8192, 1024},   {2048, 4096, 16384, 1024},
    {4096, 8192, 30720, 1024}, {8192, 16384, 61440, 4096}, {16384, 32768, 122880, 8192},
};

// ---- Task-level members ----

absl::Status CheckRuntimePlatform(const v1::RegisterTaskDefinitionRequest& req) {
  if (!req.has_runtime_platform()) return absl::OkStatus();
  const auto& rp = req.runtime_platform();
  if (rp.has_cpu_architecture()) {
    RETURN_IF_ERROR(CheckOneOf("runtimePlatform.cpuArchitecture", rp.cpu_architecture(), kCpuArchitectures));
  }
  if (rp.has_operating_system_family()) {
    RETURN_IF_ERROR(CheckOneOf("runtimePlatform.operatingSystemFamily", rp.operating_system_family(), kOsFamilies));
  }
  return absl::OkStatus();
}

absl::Status CheckVolume(const v1::Volume& v, int i, TaskContext& ctx) {
  std::string path = absl::StrCat("volumes[", i, "]");
  RETURN_IF_ERROR(CheckName(absl::StrCat(path, ".name"), v.has_name(), v.name()));
  if (auto [it, inserted] = ctx.volumes.emplace(v.name(), i); !inserted) {
    return Invalid(absl::StrCat(path, ".name"), "volume name ", Quote(v.name()), " is already used by volumes[",
                   it->second, "]; volume names must be unique");
  }
  int kinds = v.has_host() + v.has_docker_volume_configuration() + v.has_efs_volume_configuration() +
              v.has_fsx_windows_file_server_volume_configuration() + v.has_s3files_volume_configuration();
  if (kinds > 1) {
    return Invalid(path,
                   "give at most one of host, dockerVolumeConfiguration, efsVolumeConfiguration, "
                   "fsxWindowsFileServerVolumeConfiguration, s3filesVolumeConfiguration");
  }
  if (v.has_docker_volume_configuration()) {
    const auto& d = v.docker_volume_configuration();
    if (d.has_scope()) {
      RETURN_IF_ERROR(
          CheckOneOf(absl::StrCat(path, ".dockerVolumeConfiguration.scope"), d.scope(), kDockerVolumeScopes));
    }
  }
  if (v.has_efs_volume_configuration()) {
    const auto& e = v.efs_volume_configuration();
    std::string epath = absl::StrCat(path, ".efsVolumeConfiguration");
    RETURN_IF_ERROR(Required(absl::StrCat(epath, ".fileSystemId"), e.has_file_system_id(), e.file_system_id()));
    if (e.has_transit_encryption()) {
      RETURN_IF_ERROR(CheckOneOf(absl::StrCat(epath, ".transitEncryption"), e.transit_encryption(), kEnabledDisabled));
    }
    bool encrypted = e.transit_encryption() == "ENABLED";
    if (e.has_transit_encryption_port()) {
      RETURN_IF_ERROR(CheckRange(absl::StrCat(epath, ".transitEncryptionPort"), e.transit_encryption_port(), 1, 65535));
    }
    if (e.has_authorization_config()) {
      const auto& a = e.authorization_config();
      if (a.has_iam()) {
        RETURN_IF_ERROR(CheckOneOf(absl::StrCat(epath, ".authorizationConfig.iam"), a.iam(), kEnabledDisabled));
        if (a.iam() == "ENABLED" && !encrypted) {
          return Invalid(absl::StrCat(epath, ".authorizationConfig.iam"),
                         "ENABLED requires transitEncryption ENABLED on the volume");
        }
      }
      if (a.has_access_point_id() && !a.access_point_id().empty()) {
        if (!encrypted) {
          return Invalid(absl::StrCat(epath, ".authorizationConfig.accessPointId"),
                         "an access point requires transitEncryption ENABLED on the volume");
        }
        if (e.has_root_directory() && !e.root_directory().empty() && e.root_directory() != "/") {
          return Invalid(absl::StrCat(epath, ".rootDirectory"),
                         "must be omitted or '/' when an access point is used (got ", Quote(e.root_directory()), ")");
        }
      }
    }
  }
  if (v.has_fsx_windows_file_server_volume_configuration()) {
    const auto& f = v.fsx_windows_file_server_volume_configuration();
    std::string fpath = absl::StrCat(path, ".fsxWindowsFileServerVolumeConfiguration");
    RETURN_IF_ERROR(Required(absl::StrCat(fpath, ".fileSystemId"), f.has_file_system_id(), f.file_system_id()));
    RETURN_IF_ERROR(Required(absl::StrCat(fpath, ".rootDirectory"), f.has_root_directory(), f.root_directory()));
    const auto& a = f.authorization_config();
    RETURN_IF_ERROR(Required(absl::StrCat(fpath, ".authorizationConfig.credentialsParameter"),
                             a.has_credentials_parameter(), a.credentials_parameter()));
    RETURN_IF_ERROR(Required(absl::StrCat(fpath, ".authorizationConfig.domain"), a.has_domain(), a.domain()));
  }
  if (v.has_s3files_volume_configuration()) {
    const auto& s = v.s3files_volume_configuration();
    RETURN_IF_ERROR(Required(absl::StrCat(path, ".s3filesVolumeConfiguration.fileSystemArn"), s.has_file_system_arn(),
                             s.file_system_arn()));
  }
  return absl::OkStatus();
}

// Depth-first search over dependsOn edges; a back edge closes a cycle, reported with its members.
absl::Status CheckDependencyCycles(const v1::RegisterTaskDefinitionRequest& req, const TaskContext& ctx) {
  const int n = req.container_definitions_size();
  enum Color { kWhite, kGrey, kBlack };
  std::vector<Color> color(n, kWhite);
  std::vector<int> stack;
  std::function<absl::Status(int)> visit = [&](int u) -> absl::Status {
    color[u] = kGrey;
    stack.push_back(u);
    const auto& c = req.container_definitions(u);
    for (int k = 0; k < c.depends_on_size(); ++k) {
      int v = ctx.containers.at(c.depends_on(k).container_name());
      if (color[v] == kGrey) {
        std::vector<std::string> cycle;
        auto from = std::find(stack.begin(), stack.end(), v);
        for (auto it = from; it != stack.end(); ++it) cycle.push_back(req.container_definitions(*it).name());
        cycle.push_back(req.container_definitions(v).name());
        return Invalid(absl::StrCat(ContainerPath(u), ".dependsOn[", k, "].containerName"), "dependency cycle ",
                       absl::StrJoin(cycle, " -> "));
      }
      if (color[v] == kWhite) RETURN_IF_ERROR(visit(v));
    }
    stack.pop_back();
    color[u] = kBlack;
    return absl::OkStatus();
  };
  for (int i = 0; i < n; ++i) {
    if (color[i] == kWhite) RETURN_IF_ERROR(visit(i));
  }
  return absl::OkStatus();
}

absl::Status CheckProxyConfiguration(const v1::RegisterTaskDefinitionRequest& req, const TaskContext& ctx) {
  if (!req.has_proxy_configuration()) return absl::OkStatus();
  const auto& pc = req.proxy_configuration();
  if (pc.has_type()) RETURN_IF_ERROR(CheckOneOf("proxyConfiguration.type", pc.type(), kProxyTypes));
  RETURN_IF_ERROR(Required("proxyConfiguration.containerName", pc.has_container_name(), pc.container_name()));
  if (!ctx.containers.contains(pc.container_name())) {
    return Invalid("proxyConfiguration.containerName", Quote(pc.container_name()),
                   " names no container of this task definition");
  }
  if (ctx.network_mode != "awsvpc") {
    return Invalid("proxyConfiguration", "App Mesh proxy configuration needs networkMode awsvpc (networkMode is ",
                   ctx.network_mode, ")");
  }
  std::set<std::string> seen;
  for (int k = 0; k < pc.properties_size(); ++k) {
    const auto& p = pc.properties(k);
    std::string ppath = absl::StrCat("proxyConfiguration.properties[", k, "].name");
    if (!p.has_name()) return Invalid(ppath, "required");
    RETURN_IF_ERROR(CheckOneOf(ppath, p.name(), kProxyProperties));
    if (!seen.insert(p.name()).second) return Invalid(ppath, Quote(p.name()), " is given twice");
  }
  for (absl::string_view needed : {"AppPorts", "ProxyIngressPort", "ProxyEgressPort"}) {
    if (!seen.contains(std::string(needed))) {
      return Invalid("proxyConfiguration.properties", "must set ", needed);
    }
  }
  if (!seen.contains("IgnoredUID") && !seen.contains("IgnoredGID")) {
    return Invalid("proxyConfiguration.properties", "must set IgnoredUID or IgnoredGID");
  }
  return absl::OkStatus();
}

// ---- Launch types ----

bool FargateSize(int64_t cpu, int64_t memory) {
  if (cpu == 256) return memory == 512 || memory == 1024 || memory == 2048;
  for (const auto& r : kFargateSizes) {
    if (r.cpu == cpu) return memory >= r.min && memory <= r.max && (memory - r.min) % r.step == 0;
  }
  return false;
}

// The first thing in `req` Fargate does not run (developer guide, "task definition differences for
// Fargate"), or OK.
absl::Status FargateViolation(const v1::RegisterTaskDefinitionRequest& req, const TaskContext& ctx) {
  constexpr absl::string_view kWhy = "not supported on FARGATE";
  if (ctx.network_mode != "awsvpc") {
    return Invalid("networkMode", "FARGATE requires awsvpc (got ",
                   req.has_network_mode() ? req.network_mode() : "bridge (default)", ")");
  }
  if (!ctx.cpu) return Invalid("cpu", "FARGATE requires task-level cpu");
  if (!ctx.memory) return Invalid("memory", "FARGATE requires task-level memory");
  if (!FargateSize(*ctx.cpu, *ctx.memory)) {
    return Invalid("memory", "FARGATE does not offer ", *ctx.memory, " MiB with cpu ", *ctx.cpu,
                   " (256: 512, 1024, 2048; 512: 1024-4096 step 1024; 1024: 2048-8192 step 1024; 2048: 4096-16384 step "
                   "1024; 4096: 8192-30720 step 1024; 8192: 16384-61440 step 4096; 16384: 32768-122880 step 8192)");
  }
  // ECS-SEMANTICS.md lists pidMode among what FARGATE forbids; ECS runs pidMode task on Fargate
  // (Linux platform 1.4.0+) and refuses only host, so only host is refused here.
  if (req.pid_mode() == "host") return Invalid("pidMode", "host is ", kWhy, " (task is)");
  if (req.has_ipc_mode()) return Invalid("ipcMode", kWhy);
  if (req.placement_constraints_size() > 0) return Invalid("placementConstraints", kWhy);
  if (req.inference_accelerators_size() > 0) return Invalid("inferenceAccelerators", kWhy);
  for (int i = 0; i < req.volumes_size(); ++i) {
    const auto& v = req.volumes(i);
    std::string path = absl::StrCat("volumes[", i, "]");
    if (v.has_host() && v.host().has_source_path()) {
      return Invalid(absl::StrCat(path, ".host.sourcePath"), kWhy, " (Fargate bind mounts take no host path)");
    }
    if (v.has_docker_volume_configuration()) return Invalid(absl::StrCat(path, ".dockerVolumeConfiguration"), kWhy);
  }
  for (int i = 0; i < req.container_definitions_size(); ++i) {
    const auto& c = req.container_definitions(i);
    std::string cpath = ContainerPath(i);
    auto at = [&](absl::string_view member) { return absl::StrCat(cpath, ".", member); };
    if (c.privileged()) return Invalid(at("privileged"), kWhy);
    if (c.links_size() > 0) return Invalid(at("links"), kWhy);
    if (c.disable_networking()) return Invalid(at("disableNetworking"), kWhy);
    if (c.dns_servers_size() > 0) return Invalid(at("dnsServers"), kWhy);
    if (c.dns_search_domains_size() > 0) return Invalid(at("dnsSearchDomains"), kWhy);
    if (c.extra_hosts_size() > 0) return Invalid(at("extraHosts"), kWhy);
    if (c.docker_security_options_size() > 0) return Invalid(at("dockerSecurityOptions"), kWhy);
    for (int k = 0; k < c.resource_requirements_size(); ++k) {
      if (c.resource_requirements(k).type() == "GPU") {
        return Invalid(absl::StrCat(cpath, ".resourceRequirements[", k, "]"), "GPU is ", kWhy);
      }
    }
    if (c.has_linux_parameters()) {
      const auto& lp = c.linux_parameters();
      for (int k = 0; k < lp.capabilities().add_size(); ++k) {
        if (lp.capabilities().add(k) != "SYS_PTRACE") {
          return Invalid(absl::StrCat(cpath, ".linuxParameters.capabilities.add[", k, "]"),
                         "FARGATE can add only SYS_PTRACE (got ", Quote(lp.capabilities().add(k)), ")");
        }
      }
      if (lp.devices_size() > 0) return Invalid(at("linuxParameters.devices"), kWhy);
      if (lp.has_shared_memory_size()) return Invalid(at("linuxParameters.sharedMemorySize"), kWhy);
      if (lp.tmpfs_size() > 0) return Invalid(at("linuxParameters.tmpfs"), kWhy);
      if (lp.has_max_swap()) return Invalid(at("linuxParameters.maxSwap"), kWhy);
      if (lp.has_swappiness()) return Invalid(at("linuxParameters.swappiness"), kWhy);
    }
    if (c.has_log_configuration() && !OneOf(c.log_configuration().log_driver(), kFargateLogDrivers)) {
      return Invalid(at("logConfiguration.logDriver"), "FARGATE supports only ",
                     absl::StrJoin(kFargateLogDrivers, ", "), " (got ", Quote(c.log_configuration().log_driver()), ")");
    }
    if (c.has_start_timeout()) {
      RETURN_IF_ERROR(
          CheckRange(at("startTimeout"), c.start_timeout(), 2, kFargateMaxTimeoutSeconds, " seconds on FARGATE"));
    }
    if (c.has_stop_timeout()) {
      RETURN_IF_ERROR(
          CheckRange(at("stopTimeout"), c.stop_timeout(), 2, kFargateMaxTimeoutSeconds, " seconds on FARGATE"));
    }
  }
  return absl::OkStatus();
}

// ECS Anywhere runs bridge, host and none; no ENIs (awsvpc), EFS or App Mesh.
absl::Status ExternalViolation(const v1::RegisterTaskDefinitionRequest& req, const TaskContext& ctx) {
  if (ctx.network_mode == "awsvpc") return Invalid("networkMode", "awsvpc is not supported on EXTERNAL");
  for (int i = 0; i < req.volumes_size(); ++i) {
    if (req.volumes(i).has_efs_volume_configuration()) {
      return Invalid(absl::StrCat("volumes[", i, "].efsVolumeConfiguration"), "not supported on EXTERNAL");
    }
  }
  if (req.has_proxy_configuration()) return Invalid("proxyConfiguration", "not supported on EXTERNAL");
  if (req.inference_accelerators_size() > 0) return Invalid("inferenceAccelerators", "not supported on EXTERNAL");
  return absl::OkStatus();
}

// Static host ports of the task, for placement (sorted, each once). In awsvpc mode these are the
// ports of the task's own network interface; they are reported like host ports so that placement
// can decide what to do with them.
void CollectPorts(const TaskContext& ctx, v1::ResourceDemand* demand) {
  for (const auto& [key, path] : ctx.host_ports) {
    (key.protocol == "udp" ? demand->mutable_udp_ports() : demand->mutable_tcp_ports())->Add(key.port);
  }
}

}  // namespace

absl::StatusOr<TaskDefinitionFacts> ValidateTaskDefinition(const v1::RegisterTaskDefinitionRequest& req,
                                                           const Limits& limits) {
  // Size: ECS limits the JSON of a task definition (64 KiB), so the limit is measured on the
  // request's canonical JSON; the binary encoding is smaller and would let through definitions
  // ECS refuses.
  {
    std::string json;
    auto status = google::protobuf::util::MessageToJsonString(req, &json);
    if (!status.ok()) return Invalid("taskDefinition", "cannot be encoded as JSON: ", std::string(status.message()));
    if (json.size() > limits.max_task_definition_bytes) {
      return Invalid("taskDefinition", "is ", json.size(), " bytes of JSON; at most ", limits.max_task_definition_bytes,
                     " bytes are allowed");
    }
  }
  RETURN_IF_ERROR(CheckName("family", req.has_family(), req.family()));

  TaskContext ctx;
  if (req.has_network_mode()) RETURN_IF_ERROR(CheckOneOf("networkMode", req.network_mode(), kNetworkModes));
  ctx.network_mode = req.has_network_mode() ? req.network_mode() : "bridge";

  for (int i = 0; i < req.requires_compatibilities_size(); ++i) {
    RETURN_IF_ERROR(
        CheckOneOf(absl::StrCat("requiresCompatibilities[", i, "]"), req.requires_compatibilities(i), kLaunchTypes));
    ctx.launch_types.insert(req.requires_compatibilities(i));
  }
  if (req.has_cpu()) {
    ASSIGN_OR_RETURN(ctx.cpu, ParseTaskCpu(req.cpu(), "cpu"));
  }
  if (req.has_memory()) {
    ASSIGN_OR_RETURN(ctx.memory, ParseTaskMemory(req.memory(), "memory"));
  }
  if (req.has_pid_mode()) RETURN_IF_ERROR(CheckOneOf("pidMode", req.pid_mode(), kPidModes));
  if (req.has_ipc_mode()) RETURN_IF_ERROR(CheckOneOf("ipcMode", req.ipc_mode(), kIpcModes));
  if (req.has_ephemeral_storage()) {
    if (!req.ephemeral_storage().has_size_in_gib())
      return Invalid("ephemeralStorage.sizeInGiB", "required: 21-200 GiB");
    RETURN_IF_ERROR(CheckRange("ephemeralStorage.sizeInGiB", req.ephemeral_storage().size_in_gib(), 21, 200, " GiB"));
  }
  RETURN_IF_ERROR(CheckRuntimePlatform(req));
  for (int i = 0; i < req.inference_accelerators_size(); ++i) {
    const auto& ia = req.inference_accelerators(i);
    std::string path = absl::StrCat("inferenceAccelerators[", i, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(path, ".deviceName"), ia.has_device_name(), ia.device_name()));
    RETURN_IF_ERROR(Required(absl::StrCat(path, ".deviceType"), ia.has_device_type(), ia.device_type()));
    if (!ctx.inference_accelerators.insert(ia.device_name()).second) {
      return Invalid(absl::StrCat(path, ".deviceName"), Quote(ia.device_name()), " is given twice");
    }
  }
  for (int i = 0; i < req.volumes_size(); ++i) RETURN_IF_ERROR(CheckVolume(req.volumes(i), i, ctx));

  // Containers: count, then names (references resolve against them), then each in order.
  const int n = req.container_definitions_size();
  if (n == 0) return Invalid("containerDefinitions", "at least one container is required");
  if (n > limits.max_containers_per_task_definition) {
    return Invalid("containerDefinitions", "at most ", limits.max_containers_per_task_definition, " containers (got ",
                   n, ")");
  }
  for (int i = 0; i < n; ++i) {
    const auto& c = req.container_definitions(i);
    std::string path = absl::StrCat(ContainerPath(i), ".name");
    RETURN_IF_ERROR(CheckName(path, c.has_name(), c.name()));
    if (auto [it, inserted] = ctx.containers.emplace(c.name(), i); !inserted) {
      return Invalid(path, "container name ", Quote(c.name()), " is already used by ", ContainerPath(it->second),
                     "; container names must be unique");
    }
  }
  for (int i = 0; i < n; ++i) RETURN_IF_ERROR(CheckContainer(req.container_definitions(i), i, req, ctx));

  // Whole task.
  if (std::none_of(req.container_definitions().begin(), req.container_definitions().end(), Essential)) {
    return Invalid("containerDefinitions", "at least one container must be essential (essential defaults to true)");
  }
  RETURN_IF_ERROR(CheckDependencyCycles(req, ctx));
  bool uses_secrets = false;
  for (const auto& c : req.container_definitions()) {
    uses_secrets |= c.secrets_size() > 0 || c.log_configuration().secret_options_size() > 0;
  }
  if (uses_secrets && (!req.has_execution_role_arn() || req.execution_role_arn().empty())) {
    return Invalid("executionRoleArn", "required when containers use secrets or logConfiguration.secretOptions");
  }
  if (req.placement_constraints_size() > kMaxPlacementConstraints) {
    return Invalid("placementConstraints", "at most ", kMaxPlacementConstraints, " constraints (got ",
                   req.placement_constraints_size(), ")");
  }
  for (int i = 0; i < req.placement_constraints_size(); ++i) {
    const auto& pc = req.placement_constraints(i);
    std::string path = absl::StrCat("placementConstraints[", i, "]");
    if (!pc.has_type()) return Invalid(absl::StrCat(path, ".type"), "required: memberOf");
    RETURN_IF_ERROR(CheckOneOf(absl::StrCat(path, ".type"), pc.type(), {"memberOf"}));
    RETURN_IF_ERROR(Required(absl::StrCat(path, ".expression"), pc.has_expression(), pc.expression()));
    if (pc.expression().size() > static_cast<size_t>(kMaxPlacementExpressionLength)) {
      return Invalid(absl::StrCat(path, ".expression"), "must be at most ", kMaxPlacementExpressionLength,
                     " characters (got ", pc.expression().size(), ")");
    }
    if (auto parsed = placement::ParseExpression(pc.expression()); !parsed.ok()) {
      return Invalid(path, parsed.status().message());  // "expression: column N: ..."
    }
  }
  RETURN_IF_ERROR(CheckProxyConfiguration(req, ctx));
  RETURN_IF_ERROR(ValidateTags(req.tags(), "tags", limits));

  // Resource sums against task-level values.
  int64_t cpu_sum = 0, memory_sum = 0;
  for (const auto& c : req.container_definitions()) {
    cpu_sum += c.cpu();
    memory_sum += c.has_memory_reservation() ? c.memory_reservation() : c.memory();
  }
  if (ctx.cpu && cpu_sum > *ctx.cpu) {
    return Invalid("containerDefinitions", "container cpu adds up to ", cpu_sum,
                   " units, more than the task-level cpu (", *ctx.cpu, ")");
  }
  if (ctx.memory && memory_sum > *ctx.memory) {
    return Invalid("containerDefinitions", "container memory reservations add up to ", memory_sum,
                   " MiB, more than the task-level memory (", *ctx.memory, " MiB)");
  }

  // Launch types: each required one must hold; the others are computed.
  absl::Status fargate = FargateViolation(req, ctx);
  absl::Status external = ExternalViolation(req, ctx);
  if (ctx.launch_types.contains("FARGATE") && !fargate.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(fargate.message(), " (requiresCompatibilities includes FARGATE)"));
  }
  if (ctx.launch_types.contains("EXTERNAL") && !external.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(external.message(), " (requiresCompatibilities includes EXTERNAL)"));
  }

  TaskDefinitionFacts facts;
  facts.network_mode = ctx.network_mode;
  facts.demand.set_cpu(ctx.cpu ? *ctx.cpu : cpu_sum);
  facts.demand.set_memory(ctx.memory ? *ctx.memory : memory_sum);
  if (ctx.network_mode == "awsvpc") {
    facts.demand.set_eni(true);  // the task's ports are on its own interface, not the host's
  } else {
    CollectPorts(ctx, &facts.demand);
  }
  facts.demand.set_gpus(ctx.gpus);
  facts.demand.set_dynamic_tcp_ports(ctx.dynamic_tcp_ports);
  facts.demand.set_dynamic_udp_ports(ctx.dynamic_udp_ports);
  facts.compatibilities.push_back("EC2");
  if (external.ok()) facts.compatibilities.push_back("EXTERNAL");
  if (fargate.ok()) facts.compatibilities.push_back("FARGATE");
  return facts;
}

}  // namespace berth::controlplane
