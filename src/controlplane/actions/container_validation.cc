// The rules of one container definition (CheckContainer, validation_rules.h), in the order they
// run: image and registry credentials, resources, links, port mappings, restart policy,
// environment, volume references, Linux parameters, secrets, dependsOn, start and stop, host
// names, Docker options, log configuration, health check, sysctls, resource requirements,
// FireLens. The first failure is returned. Rule sources as in task_definition_validation.cc.
#include "src/controlplane/actions/validation_rules.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "berth/common/status.h"
#include "src/controlplane/actions/log_routing.h"

namespace berth::controlplane::validation_internal {
namespace {

constexpr int kMaxImageLength = 255;  // before '@' for digests
constexpr int kMaxPortRangesPerContainer = 100;
constexpr int kMaxEnvironmentFiles = 10;
constexpr int kMaxIgnoredExitCodes = 50;

const std::initializer_list<absl::string_view> kProtocols = {"tcp", "udp"};
const std::initializer_list<absl::string_view> kAppProtocols = {"http", "http2", "grpc"};
const std::initializer_list<absl::string_view> kConditions = {"START", "COMPLETE", "SUCCESS", "HEALTHY"};
// The API's LogDriver enumeration; logentries is kept from its older revisions so definitions
// written against them still register. Docker's "none" is not an ECS value.
const std::initializer_list<absl::string_view> kLogDrivers = {
    "awslogs", "fluentd", "gelf", "json-file", "journald", "logentries", "splunk", "syslog", "awsfirelens"};
// Docker's ulimit names (the API's UlimitName enumeration).
const std::initializer_list<absl::string_view> kUlimitNames = {"core",    "cpu",      "data",   "fsize",      "locks",
                                                               "memlock", "msgqueue", "nice",   "nofile",     "nproc",
                                                               "rss",     "rtprio",   "rttime", "sigpending", "stack"};
const std::initializer_list<absl::string_view> kCapabilities = {
    "ALL",        "AUDIT_CONTROL",   "AUDIT_WRITE",      "BLOCK_SUSPEND",
    "CHOWN",      "DAC_OVERRIDE",    "DAC_READ_SEARCH",  "FOWNER",
    "FSETID",     "IPC_LOCK",        "IPC_OWNER",        "KILL",
    "LEASE",      "LINUX_IMMUTABLE", "MAC_ADMIN",        "MAC_OVERRIDE",
    "MKNOD",      "NET_ADMIN",       "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_RAW",    "SETFCAP",         "SETGID",           "SETPCAP",
    "SETUID",     "SYS_ADMIN",       "SYS_BOOT",         "SYS_CHROOT",
    "SYS_MODULE", "SYS_NICE",        "SYS_PACCT",        "SYS_PTRACE",
    "SYS_RAWIO",  "SYS_RESOURCE",    "SYS_TIME",         "SYS_TTY_CONFIG",
    "SYSLOG",     "WAKE_ALARM"};
const std::initializer_list<absl::string_view> kDevicePermissions = {"read", "write", "mknod"};
const std::initializer_list<absl::string_view> kResourceTypes = {"GPU", "InferenceAccelerator"};
const std::initializer_list<absl::string_view> kFirelensTypes = {"fluentd", "fluentbit"};
const std::initializer_list<absl::string_view> kVersionConsistency = {"enabled", "disabled"};
const std::initializer_list<absl::string_view> kEnvironmentFileTypes = {"s3"};

// `cpath`.`member`: the path of one member of the container at `cpath`.
std::string At(absl::string_view cpath, absl::string_view member) { return absl::StrCat(cpath, ".", member); }

// Image reference as the ECS API reference states it: up to 255 letters, digits, '-', '_', ':',
// '.', '/' and '#'; with a digest, the 255 apply before '@' and the digest is sha256 with 64 hex
// digits.
absl::Status CheckImage(absl::string_view path, bool present, absl::string_view image) {
  if (!present || image.empty()) return Invalid(path, "required: the image reference to run");
  absl::string_view name = image, digest;
  bool has_digest = false;
  if (size_t at = image.find('@'); at != absl::string_view::npos) {
    name = image.substr(0, at);
    digest = image.substr(at + 1);
    has_digest = true;
  }
  if (name.empty()) return Invalid(path, "names no repository before '@' (got ", Quote(image), ")");
  if (name.size() > static_cast<size_t>(kMaxImageLength)) {
    return Invalid(path, "must be at most ", kMaxImageLength, " characters", has_digest ? " before '@'" : "", " (got ",
                   name.size(), ")");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.' ||
          c == '/' || c == '#')) {
      return Invalid(path,
                     "may contain only letters, digits, '-', '_', ':', '.', '/' and '#' (and '@sha256:<digest>') "
                     "(got ",
                     Quote(image), ", bad character at ", i, ")");
    }
  }
  if (has_digest) {
    absl::string_view hex = digest;
    if (!absl::ConsumePrefix(&hex, "sha256:") || hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(c));
        })) {
      return Invalid(path, "digest must be sha256: followed by 64 hexadecimal digits (got ", Quote(digest), ")");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPortMappings(const v1::ContainerDefinition& c, const std::string& cpath, TaskContext& ctx) {
  if (c.port_mappings_size() > 0 && ctx.network_mode == "none") {
    return Invalid(absl::StrCat(cpath, ".portMappings"), "not allowed when networkMode is none");
  }
  // Ranges of this container, per protocol: "a port can only be included in one port mapping
  // per container" once ranges are involved (PortMapping.containerPortRange). Plain ports may
  // repeat (bridge maps one container port to several host ports).
  struct Span {
    int32_t lo;
    int32_t hi;
    bool range;
  };
  std::map<std::string, std::vector<Span>> spans;
  int range_count = 0;
  for (int j = 0; j < c.port_mappings_size(); ++j) {
    const auto& pm = c.port_mappings(j);
    std::string path = absl::StrCat(cpath, ".portMappings[", j, "]");
    std::string protocol = pm.has_protocol() ? pm.protocol() : "tcp";
    if (pm.has_protocol()) RETURN_IF_ERROR(CheckOneOf(absl::StrCat(path, ".protocol"), pm.protocol(), kProtocols));
    if (pm.has_app_protocol()) {
      RETURN_IF_ERROR(CheckOneOf(absl::StrCat(path, ".appProtocol"), pm.app_protocol(), kAppProtocols));
    }
    if (pm.has_name()) {
      // Service Connect port names: up to 64 of [a-z0-9_-], not starting with '-'; unique per task.
      const std::string& name = pm.name();
      bool ok =
          !name.empty() && name.size() <= 64 && name[0] != '-' && std::all_of(name.begin(), name.end(), [](char ch) {
            return absl::ascii_islower(static_cast<unsigned char>(ch)) ||
                   absl::ascii_isdigit(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
          });
      if (!ok) {
        return Invalid(absl::StrCat(path, ".name"),
                       "must be 1-64 lowercase letters, digits, '_' or '-', not starting with '-' (got ", Quote(name),
                       ")");
      }
      if (auto [it, inserted] = ctx.port_mapping_names.emplace(name, path); !inserted) {
        return Invalid(absl::StrCat(path, ".name"), "port mapping name ", Quote(name), " is already used by ",
                       it->second);
      }
    }
    int32_t lo = 0, hi = 0;
    bool is_range = pm.has_container_port_range();
    if (is_range) {
      std::string rpath = absl::StrCat(path, ".containerPortRange");
      if (pm.has_container_port()) {
        return Invalid(path, "give containerPort or containerPortRange, not both");
      }
      if (ctx.network_mode != "bridge" && ctx.network_mode != "awsvpc") {
        return Invalid(rpath, "needs networkMode bridge or awsvpc (got ", ctx.network_mode, ")");
      }
      if (pm.has_host_port()) {
        return Invalid(absl::StrCat(path, ".hostPort"),
                       "must be absent with containerPortRange (ECS sets the host range)");
      }
      std::vector<absl::string_view> parts = absl::StrSplit(pm.container_port_range(), '-');
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &lo) || !absl::SimpleAtoi(parts[1], &hi) || lo < 1 ||
          hi > 65535 || lo >= hi) {
        return Invalid(rpath, "must be 'first-last' with 1 <= first < last <= 65535 (got ",
                       Quote(pm.container_port_range()), ")");
      }
      if (++range_count > kMaxPortRangesPerContainer) {
        return Invalid(rpath, "at most ", kMaxPortRangesPerContainer, " port ranges per container");
      }
    } else {
      if (!pm.has_container_port()) {
        return Invalid(absl::StrCat(path, ".containerPort"), "required unless containerPortRange is given");
      }
      RETURN_IF_ERROR(CheckRange(absl::StrCat(path, ".containerPort"), pm.container_port(), 1, 65535));
      lo = hi = pm.container_port();
    }
    for (const Span& other : spans[protocol]) {
      if ((is_range || other.range) && lo <= other.hi && other.lo <= hi) {
        return Invalid(absl::StrCat(path, is_range ? ".containerPortRange" : ".containerPort"), "overlaps another ",
                       protocol, " port mapping of this container (", other.lo, "-", other.hi, ")");
      }
    }
    spans[protocol].push_back(Span{lo, hi, is_range});

    // Host ports. bridge: 0 or absent = dynamic, else static 1-65535. host/awsvpc: absent or equal
    // to containerPort, and the container port is the host (or ENI) port.
    std::optional<int32_t> static_port;
    if (ctx.network_mode == "bridge") {
      if (pm.has_host_port() && pm.host_port() != 0) {
        RETURN_IF_ERROR(CheckRange(absl::StrCat(path, ".hostPort"), pm.host_port(), 0, 65535));
        static_port = pm.host_port();
      }
    } else if (!is_range) {
      if (pm.has_host_port() && pm.host_port() != pm.container_port()) {
        return Invalid(absl::StrCat(path, ".hostPort"), "must be absent or equal to containerPort (",
                       pm.container_port(), ") in ", ctx.network_mode, " network mode (got ", pm.host_port(), ")");
      }
      static_port = pm.container_port();
    }
    // ECS: "TCP host port '3000' is mapped multiple times in task."
    auto take = [&](int32_t port) -> absl::Status {
      if (auto [it, inserted] = ctx.host_ports.emplace(PortKey{protocol, port}, path); !inserted) {
        return Invalid(absl::StrCat(path, is_range ? ".containerPortRange" : ".hostPort"), protocol, " host port ",
                       port, " is already mapped by ", it->second, "; a host port can be mapped once per task");
      }
      return absl::OkStatus();
    };
    if (static_port) RETURN_IF_ERROR(take(*static_port));
    if (!static_port && ctx.network_mode == "bridge") {
      (protocol == "udp" ? ctx.dynamic_udp_ports : ctx.dynamic_tcp_ports) += hi - lo + 1;
    }
    if (is_range && ctx.network_mode == "awsvpc") {
      for (int32_t p = lo; p <= hi; ++p) RETURN_IF_ERROR(take(p));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLinuxParameters(const v1::LinuxParameters& lp, const std::string& cpath) {
  std::string path = absl::StrCat(cpath, ".linuxParameters");
  for (int k = 0; k < lp.capabilities().add_size(); ++k) {
    RETURN_IF_ERROR(
        CheckOneOf(absl::StrCat(path, ".capabilities.add[", k, "]"), lp.capabilities().add(k), kCapabilities));
  }
  for (int k = 0; k < lp.capabilities().drop_size(); ++k) {
    RETURN_IF_ERROR(
        CheckOneOf(absl::StrCat(path, ".capabilities.drop[", k, "]"), lp.capabilities().drop(k), kCapabilities));
  }
  for (int k = 0; k < lp.devices_size(); ++k) {
    const auto& d = lp.devices(k);
    std::string dpath = absl::StrCat(path, ".devices[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(dpath, ".hostPath"), d.has_host_path(), d.host_path()));
    for (int m = 0; m < d.permissions_size(); ++m) {
      RETURN_IF_ERROR(CheckOneOf(absl::StrCat(dpath, ".permissions[", m, "]"), d.permissions(m), kDevicePermissions));
    }
  }
  if (lp.has_shared_memory_size() && lp.shared_memory_size() < 1) {
    return Invalid(absl::StrCat(path, ".sharedMemorySize"), "must be at least 1 MiB (got ", lp.shared_memory_size(),
                   ")");
  }
  for (int k = 0; k < lp.tmpfs_size(); ++k) {
    const auto& t = lp.tmpfs(k);
    std::string tpath = absl::StrCat(path, ".tmpfs[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(tpath, ".containerPath"), t.has_container_path(), t.container_path()));
    if (!t.has_size() || t.size() < 1) {
      return Invalid(absl::StrCat(tpath, ".size"), "required: at least 1 MiB (got ", t.size(), ")");
    }
  }
  if (lp.has_max_swap() && lp.max_swap() < 0) {
    return Invalid(absl::StrCat(path, ".maxSwap"), "must be 0 or more MiB (got ", lp.max_swap(), ")");
  }
  if (lp.has_swappiness()) RETURN_IF_ERROR(CheckRange(absl::StrCat(path, ".swappiness"), lp.swappiness(), 0, 100));
  return absl::OkStatus();
}

absl::Status CheckHealthCheck(const v1::HealthCheck& hc, const std::string& cpath) {
  std::string path = absl::StrCat(cpath, ".healthCheck");
  if (hc.command_size() == 0) {
    return Invalid(absl::StrCat(path, ".command"),
                   "required: [\"CMD\", executable, args...] or [\"CMD-SHELL\", command]");
  }
  const std::string& form = hc.command(0);
  if (form != "CMD" && form != "CMD-SHELL") {
    return Invalid(absl::StrCat(path, ".command[0]"), "must be CMD or CMD-SHELL (got ", Quote(form), ")");
  }
  if (hc.command_size() < 2 || hc.command(1).empty()) {
    return Invalid(absl::StrCat(path, ".command"), form, " must be followed by the command to run");
  }
  if (hc.has_interval())
    RETURN_IF_ERROR(CheckRange(absl::StrCat(path, ".interval"), hc.interval(), 5, 300, " seconds"));
  if (hc.has_timeout()) RETURN_IF_ERROR(CheckRange(absl::StrCat(path, ".timeout"), hc.timeout(), 2, 60, " seconds"));
  if (hc.has_retries()) RETURN_IF_ERROR(CheckRange(absl::StrCat(path, ".retries"), hc.retries(), 1, 10));
  if (hc.has_start_period()) {
    RETURN_IF_ERROR(CheckRange(absl::StrCat(path, ".startPeriod"), hc.start_period(), 0, 300, " seconds"));
  }
  return absl::OkStatus();
}

absl::Status CheckLogConfiguration(const v1::LogConfiguration& lc, const std::string& cpath,
                                   const v1::RegisterTaskDefinitionRequest& req) {
  std::string path = absl::StrCat(cpath, ".logConfiguration");
  if (!lc.has_log_driver()) return Invalid(absl::StrCat(path, ".logDriver"), "required");
  RETURN_IF_ERROR(CheckOneOf(absl::StrCat(path, ".logDriver"), lc.log_driver(), kLogDrivers));
  for (int k = 0; k < lc.secret_options_size(); ++k) {
    const auto& s = lc.secret_options(k);
    std::string spath = absl::StrCat(path, ".secretOptions[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(spath, ".name"), s.has_name(), s.name()));
    RETURN_IF_ERROR(Required(absl::StrCat(spath, ".valueFrom"), s.has_value_from(), s.value_from()));
  }
  RETURN_IF_ERROR(CheckAwsLogsOptions(lc, path));
  if (lc.log_driver() == "awsfirelens") {
    bool router = std::any_of(req.container_definitions().begin(), req.container_definitions().end(),
                              [](const v1::ContainerDefinition& c) { return c.has_firelens_configuration(); });
    if (!router) {
      return Invalid(absl::StrCat(path, ".logDriver"),
                     "awsfirelens needs a log router: a container of the task with firelensConfiguration");
    }
  }
  return absl::OkStatus();
}

// IPC-namespaced sysctls (Docker's list); with ipcMode host they would change the host's.
bool IsIpcSysctl(absl::string_view ns) {
  return ns == "kernel.msgmax" || ns == "kernel.msgmnb" || ns == "kernel.msgmni" || ns == "kernel.sem" ||
         ns == "kernel.shmall" || ns == "kernel.shmmax" || ns == "kernel.shmmni" || ns == "kernel.shm_rmid_forced" ||
         absl::StartsWith(ns, "fs.mqueue.");
}

// cpu, memory and memoryReservation: their minimums, memory against memoryReservation, and each
// against the task-level value when there is one.
absl::Status CheckContainerResources(const v1::ContainerDefinition& c, const std::string& cpath,
                                     const TaskContext& ctx) {
  if (c.has_cpu() && c.cpu() < 0) return Invalid(At(cpath, "cpu"), "must be 0 or more CPU units (got ", c.cpu(), ")");
  if (c.has_memory() && c.memory() < kMinContainerMemoryMiB) {
    return Invalid(At(cpath, "memory"), "must be at least ", kMinContainerMemoryMiB, " MiB (got ", c.memory(), ")");
  }
  if (c.has_memory_reservation() && c.memory_reservation() < kMinContainerMemoryMiB) {
    return Invalid(At(cpath, "memoryReservation"), "must be at least ", kMinContainerMemoryMiB, " MiB (got ",
                   c.memory_reservation(), ")");
  }
  // The API reference says "memory must be greater than memoryReservation"; ECS accepts them
  // equal (describe-task-definition output in the corpus holds 256/256, and the developer guide's
  // maintainers confirmed "greater than or equal"), so equal passes.
  if (c.has_memory() && c.has_memory_reservation() && c.memory() < c.memory_reservation()) {
    return Invalid(At(cpath, "memory"), "must be at least memoryReservation (", c.memory_reservation(), " MiB) (got ",
                   c.memory(), ")");
  }
  if (!c.has_memory() && !c.has_memory_reservation() && !ctx.memory) {
    return Invalid(At(cpath, "memory"),
                   "set memory or memoryReservation on the container, or memory on the task (neither is set)");
  }
  if (ctx.memory) {
    if (c.has_memory() && c.memory() > *ctx.memory) {
      return Invalid(At(cpath, "memory"), "must not exceed the task-level memory (", *ctx.memory, " MiB) (got ",
                     c.memory(), ")");
    }
    if (c.has_memory_reservation() && c.memory_reservation() > *ctx.memory) {
      return Invalid(At(cpath, "memoryReservation"), "must not exceed the task-level memory (", *ctx.memory,
                     " MiB) (got ", c.memory_reservation(), ")");
    }
  }
  if (ctx.cpu && c.has_cpu() && c.cpu() > *ctx.cpu) {
    return Invalid(At(cpath, "cpu"), "must not exceed the task-level cpu (", *ctx.cpu, " units) (got ", c.cpu(), ")");
  }
  return absl::OkStatus();
}

// Links: "name" or "name:alias", naming another container; bridge mode only.
absl::Status CheckLinks(const v1::ContainerDefinition& c, int i, const std::string& cpath, const TaskContext& ctx) {
  for (int k = 0; k < c.links_size(); ++k) {
    std::string lpath = absl::StrCat(cpath, ".links[", k, "]");
    if (ctx.network_mode != "bridge") {
      return Invalid(lpath, "links need networkMode bridge (networkMode is ", ctx.network_mode, ")");
    }
    absl::string_view link = c.links(k);
    absl::string_view target = link, alias;
    if (size_t colon = link.find(':'); colon != absl::string_view::npos) {
      target = link.substr(0, colon);
      alias = link.substr(colon + 1);
      if (alias.empty() || !std::all_of(alias.begin(), alias.end(), IsNameChar)) {
        return Invalid(lpath, "alias after ':' must be letters, digits, '_' or '-' (got ", Quote(link), ")");
      }
    }
    auto it = ctx.containers.find(std::string(target));
    if (it == ctx.containers.end()) {
      return Invalid(lpath, Quote(target), " names no container of this task definition");
    }
    if (it->second == i) return Invalid(lpath, "a container cannot link to itself (", Quote(target), ")");
  }
  return absl::OkStatus();
}

absl::Status CheckRestartPolicy(const v1::ContainerDefinition& c, const std::string& cpath) {
  if (!c.has_restart_policy()) return absl::OkStatus();
  const auto& rp = c.restart_policy();
  if (rp.ignored_exit_codes_size() > kMaxIgnoredExitCodes) {
    return Invalid(At(cpath, "restartPolicy.ignoredExitCodes"), "at most ", kMaxIgnoredExitCodes, " exit codes (got ",
                   rp.ignored_exit_codes_size(), ")");
  }
  if (rp.has_restart_attempt_period()) {
    RETURN_IF_ERROR(
        CheckRange(At(cpath, "restartPolicy.restartAttemptPeriod"), rp.restart_attempt_period(), 60, 1800, " seconds"));
  }
  return absl::OkStatus();
}

// environment names, and environmentFiles (at most 10, each an s3 object).
absl::Status CheckEnvironment(const v1::ContainerDefinition& c, const std::string& cpath) {
  for (int k = 0; k < c.environment_size(); ++k) {
    const auto& e = c.environment(k);
    RETURN_IF_ERROR(Required(absl::StrCat(cpath, ".environment[", k, "].name"), e.has_name(), e.name()));
  }
  if (c.environment_files_size() > kMaxEnvironmentFiles) {
    return Invalid(At(cpath, "environmentFiles"), "at most ", kMaxEnvironmentFiles, " files (got ",
                   c.environment_files_size(), ")");
  }
  for (int k = 0; k < c.environment_files_size(); ++k) {
    const auto& f = c.environment_files(k);
    std::string fpath = absl::StrCat(cpath, ".environmentFiles[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(fpath, ".value"), f.has_value(), f.value()));
    if (!f.has_type()) return Invalid(absl::StrCat(fpath, ".type"), "required: s3");
    RETURN_IF_ERROR(CheckOneOf(absl::StrCat(fpath, ".type"), f.type(), kEnvironmentFileTypes));
  }
  return absl::OkStatus();
}

// mountPoints name volumes of the task; volumesFrom names another container.
absl::Status CheckVolumeReferences(const v1::ContainerDefinition& c, int i, const std::string& cpath,
                                   const TaskContext& ctx) {
  for (int k = 0; k < c.mount_points_size(); ++k) {
    const auto& mp = c.mount_points(k);
    std::string mpath = absl::StrCat(cpath, ".mountPoints[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(mpath, ".sourceVolume"), mp.has_source_volume(), mp.source_volume()));
    if (!ctx.volumes.contains(mp.source_volume())) {
      return Invalid(absl::StrCat(mpath, ".sourceVolume"), Quote(mp.source_volume()),
                     " names no volume of this task definition");
    }
    RETURN_IF_ERROR(Required(absl::StrCat(mpath, ".containerPath"), mp.has_container_path(), mp.container_path()));
  }
  for (int k = 0; k < c.volumes_from_size(); ++k) {
    const auto& vf = c.volumes_from(k);
    std::string vpath = absl::StrCat(cpath, ".volumesFrom[", k, "].sourceContainer");
    RETURN_IF_ERROR(Required(vpath, vf.has_source_container(), vf.source_container()));
    auto it = ctx.containers.find(vf.source_container());
    if (it == ctx.containers.end()) {
      return Invalid(vpath, Quote(vf.source_container()), " names no container of this task definition");
    }
    if (it->second == i) return Invalid(vpath, "a container cannot mount volumes from itself");
  }
  return absl::OkStatus();
}

absl::Status CheckSecrets(const v1::ContainerDefinition& c, const std::string& cpath) {
  for (int k = 0; k < c.secrets_size(); ++k) {
    const auto& s = c.secrets(k);
    std::string spath = absl::StrCat(cpath, ".secrets[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(spath, ".name"), s.has_name(), s.name()));
    RETURN_IF_ERROR(Required(absl::StrCat(spath, ".valueFrom"), s.has_value_from(), s.value_from()));
  }
  return absl::OkStatus();
}

// dependsOn: existence, self, condition, HEALTHY needs a health check, COMPLETE/SUCCESS only on
// non-essential containers (ContainerDependency). Cycles are a whole-task check.
absl::Status CheckDependsOn(const v1::ContainerDefinition& c, int i, const std::string& cpath,
                            const v1::RegisterTaskDefinitionRequest& req, const TaskContext& ctx) {
  for (int k = 0; k < c.depends_on_size(); ++k) {
    const auto& d = c.depends_on(k);
    std::string dpath = absl::StrCat(cpath, ".dependsOn[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(dpath, ".containerName"), d.has_container_name(), d.container_name()));
    auto it = ctx.containers.find(d.container_name());
    if (it == ctx.containers.end()) {
      return Invalid(absl::StrCat(dpath, ".containerName"), Quote(d.container_name()),
                     " names no container of this task definition");
    }
    if (it->second == i) {
      return Invalid(absl::StrCat(dpath, ".containerName"), "a container cannot depend on itself (",
                     Quote(d.container_name()), ")");
    }
    if (!d.has_condition())
      return Invalid(absl::StrCat(dpath, ".condition"), "required: START, COMPLETE, SUCCESS or HEALTHY");
    RETURN_IF_ERROR(CheckOneOf(absl::StrCat(dpath, ".condition"), d.condition(), kConditions));
    const auto& target = req.container_definitions(it->second);
    if (d.condition() == "HEALTHY" && !target.has_health_check()) {
      return Invalid(absl::StrCat(dpath, ".condition"), "HEALTHY needs a healthCheck on ", ContainerPath(it->second),
                     " (", Quote(d.container_name()), ")");
    }
    if ((d.condition() == "COMPLETE" || d.condition() == "SUCCESS") && Essential(target)) {
      return Invalid(absl::StrCat(dpath, ".condition"), d.condition(), " cannot be set on an essential container (",
                     Quote(d.container_name()), "); mark it essential: false");
    }
  }
  return absl::OkStatus();
}

// startTimeout, stopTimeout and versionConsistency.
absl::Status CheckStartAndStop(const v1::ContainerDefinition& c, const std::string& cpath) {
  if (c.has_start_timeout() && c.start_timeout() < 0) {
    return Invalid(At(cpath, "startTimeout"), "must be 0 or more seconds (got ", c.start_timeout(), ")");
  }
  if (c.has_stop_timeout() && c.stop_timeout() < 0) {
    return Invalid(At(cpath, "stopTimeout"), "must be 0 or more seconds (got ", c.stop_timeout(), ")");
  }
  if (c.has_version_consistency()) {
    RETURN_IF_ERROR(CheckOneOf(At(cpath, "versionConsistency"), c.version_consistency(), kVersionConsistency));
  }
  return absl::OkStatus();
}

// hostname and extraHosts, which awsvpc network mode does not take.
absl::Status CheckHostNames(const v1::ContainerDefinition& c, const std::string& cpath, const TaskContext& ctx) {
  if (c.has_hostname() && ctx.network_mode == "awsvpc") {
    return Invalid(At(cpath, "hostname"), "not supported in awsvpc network mode");
  }
  for (int k = 0; k < c.extra_hosts_size(); ++k) {
    const auto& h = c.extra_hosts(k);
    std::string hpath = absl::StrCat(cpath, ".extraHosts[", k, "]");
    if (ctx.network_mode == "awsvpc") return Invalid(hpath, "extraHosts are not supported in awsvpc network mode");
    RETURN_IF_ERROR(Required(absl::StrCat(hpath, ".hostname"), h.has_hostname(), h.hostname()));
    RETURN_IF_ERROR(Required(absl::StrCat(hpath, ".ipAddress"), h.has_ip_address(), h.ip_address()));
  }
  return absl::OkStatus();
}

// dockerSecurityOptions, dockerLabels and ulimits: what is handed to Docker as it is.
absl::Status CheckDockerOptions(const v1::ContainerDefinition& c, const std::string& cpath) {
  for (int k = 0; k < c.docker_security_options_size(); ++k) {
    absl::string_view opt = c.docker_security_options(k);
    if (!(opt == "no-new-privileges" || absl::StartsWith(opt, "apparmor:") || absl::StartsWith(opt, "label:") ||
          absl::StartsWith(opt, "credentialspec:"))) {
      return Invalid(absl::StrCat(cpath, ".dockerSecurityOptions[", k, "]"),
                     "must be no-new-privileges, apparmor:PROFILE, label:value or credentialspec:PATH (got ",
                     Quote(opt), ")");
    }
  }
  for (const auto& [key, value] : c.docker_labels()) {
    if (key.empty()) return Invalid(At(cpath, "dockerLabels"), "label names must not be empty");
  }
  for (int k = 0; k < c.ulimits_size(); ++k) {
    const auto& u = c.ulimits(k);
    std::string upath = absl::StrCat(cpath, ".ulimits[", k, "]");
    if (!u.has_name()) return Invalid(absl::StrCat(upath, ".name"), "required");
    RETURN_IF_ERROR(CheckOneOf(absl::StrCat(upath, ".name"), u.name(), kUlimitNames));
    if (!u.has_soft_limit()) return Invalid(absl::StrCat(upath, ".softLimit"), "required");
    if (!u.has_hard_limit()) return Invalid(absl::StrCat(upath, ".hardLimit"), "required");
    if (u.soft_limit() > u.hard_limit()) {
      return Invalid(absl::StrCat(upath, ".softLimit"), "must not exceed hardLimit (", u.hard_limit(), ") (got ",
                     u.soft_limit(), ")");
    }
  }
  return absl::OkStatus();
}

// systemControls: no network sysctls in host network mode, no IPC ones with ipcMode host.
absl::Status CheckSystemControls(const v1::ContainerDefinition& c, const std::string& cpath,
                                 const v1::RegisterTaskDefinitionRequest& req, const TaskContext& ctx) {
  for (int k = 0; k < c.system_controls_size(); ++k) {
    const auto& sc = c.system_controls(k);
    std::string spath = absl::StrCat(cpath, ".systemControls[", k, "].namespace");
    RETURN_IF_ERROR(Required(spath, sc.has_namespace_(), sc.namespace_()));
    if (ctx.network_mode == "host" && absl::StartsWith(sc.namespace_(), "net.")) {
      return Invalid(spath, "network sysctls (", Quote(sc.namespace_()), ") are not supported in host network mode");
    }
    if (req.ipc_mode() == "host" && IsIpcSysctl(sc.namespace_())) {
      return Invalid(spath, "IPC sysctls (", Quote(sc.namespace_()), ") are not supported with ipcMode host");
    }
  }
  return absl::OkStatus();
}

// resourceRequirements: one of each type; GPUs are counted into the task, accelerators resolve
// against the task's inferenceAccelerators.
absl::Status CheckResourceRequirements(const v1::ContainerDefinition& c, const std::string& cpath, TaskContext& ctx) {
  std::set<std::string> resource_types;
  for (int k = 0; k < c.resource_requirements_size(); ++k) {
    const auto& rr = c.resource_requirements(k);
    std::string rpath = absl::StrCat(cpath, ".resourceRequirements[", k, "]");
    if (!rr.has_type()) return Invalid(absl::StrCat(rpath, ".type"), "required: GPU or InferenceAccelerator");
    RETURN_IF_ERROR(CheckOneOf(absl::StrCat(rpath, ".type"), rr.type(), kResourceTypes));
    if (!resource_types.insert(rr.type()).second) {
      return Invalid(absl::StrCat(rpath, ".type"), rr.type(), " is already required by this container");
    }
    RETURN_IF_ERROR(Required(absl::StrCat(rpath, ".value"), rr.has_value(), rr.value()));
    if (rr.type() == "GPU") {
      int gpus = 0;
      if (!absl::SimpleAtoi(rr.value(), &gpus) || gpus < 1) {
        return Invalid(absl::StrCat(rpath, ".value"), "GPU count must be a whole number of at least 1 (got ",
                       Quote(rr.value()), ")");
      }
      ctx.gpus += gpus;
    } else if (!ctx.inference_accelerators.contains(rr.value())) {
      return Invalid(absl::StrCat(rpath, ".value"), Quote(rr.value()),
                     " names no inferenceAccelerators[].deviceName of this task definition");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckContainer(const v1::ContainerDefinition& c, int i, const v1::RegisterTaskDefinitionRequest& req,
                            TaskContext& ctx) {
  const std::string cpath = ContainerPath(i);
  RETURN_IF_ERROR(CheckImage(At(cpath, "image"), c.has_image(), c.image()));
  if (c.has_repository_credentials()) {
    const auto& rc = c.repository_credentials();
    RETURN_IF_ERROR(Required(At(cpath, "repositoryCredentials.credentialsParameter"), rc.has_credentials_parameter(),
                             rc.credentials_parameter()));
  }
  RETURN_IF_ERROR(CheckContainerResources(c, cpath, ctx));
  RETURN_IF_ERROR(CheckLinks(c, i, cpath, ctx));
  RETURN_IF_ERROR(CheckPortMappings(c, cpath, ctx));
  RETURN_IF_ERROR(CheckRestartPolicy(c, cpath));
  RETURN_IF_ERROR(CheckEnvironment(c, cpath));
  RETURN_IF_ERROR(CheckVolumeReferences(c, i, cpath, ctx));
  if (c.has_linux_parameters()) RETURN_IF_ERROR(CheckLinuxParameters(c.linux_parameters(), cpath));
  RETURN_IF_ERROR(CheckSecrets(c, cpath));
  RETURN_IF_ERROR(CheckDependsOn(c, i, cpath, req, ctx));
  RETURN_IF_ERROR(CheckStartAndStop(c, cpath));
  RETURN_IF_ERROR(CheckHostNames(c, cpath, ctx));
  RETURN_IF_ERROR(CheckDockerOptions(c, cpath));
  if (c.has_log_configuration()) RETURN_IF_ERROR(CheckLogConfiguration(c.log_configuration(), cpath, req));
  if (c.has_health_check()) RETURN_IF_ERROR(CheckHealthCheck(c.health_check(), cpath));
  RETURN_IF_ERROR(CheckSystemControls(c, cpath, req, ctx));
  RETURN_IF_ERROR(CheckResourceRequirements(c, cpath, ctx));
  if (c.has_firelens_configuration()) {
    const auto& fc = c.firelens_configuration();
    if (!fc.has_type()) return Invalid(At(cpath, "firelensConfiguration.type"), "required: fluentd or fluentbit");
    RETURN_IF_ERROR(CheckOneOf(At(cpath, "firelensConfiguration.type"), fc.type(), kFirelensTypes));
  }
  return absl::OkStatus();
}

}  // namespace berth::controlplane::validation_internal
