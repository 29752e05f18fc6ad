// Request validation: the ECS rules for task definitions, tags, task-level cpu/memory strings and
// task overrides. See validation.h for the contract.
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
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "berth/common/status.h"
#include "berth/placement/expression.h"

namespace berth::controlplane {
namespace {

using google::protobuf::RepeatedPtrField;

// ---- Limits and value sets (ECS API reference unless noted) ----

constexpr int kMaxNameLength = 255;                // family, container and volume names
constexpr int kMaxImageLength = 255;               // before '@' for digests
constexpr int64_t kMinContainerMemoryMiB = 6;      // Docker 20.10+ minimum (ECS-SEMANTICS.md)
constexpr int64_t kMinTaskCpu = 128;               // ECS-SEMANTICS.md
constexpr int64_t kMaxTaskCpu = 196608;            // 192 vCPU
constexpr int64_t kMaxTaskMemoryMiB = 2147483647;  // int32 range: what a container limit can hold
constexpr int kMaxPlacementConstraints = 10;
constexpr int kMaxPlacementExpressionLength = 2000;
constexpr int kMaxPortRangesPerContainer = 100;
constexpr int kMaxEnvironmentFiles = 10;
constexpr int kMaxIgnoredExitCodes = 50;
constexpr int kMaxTagKeyLength = 128;
constexpr int kMaxTagValueLength = 256;
constexpr int kFargateMaxTimeoutSeconds = 120;

const std::initializer_list<absl::string_view> kNetworkModes = {"bridge", "host", "awsvpc", "none"};
const std::initializer_list<absl::string_view> kLaunchTypes = {"EC2", "FARGATE", "EXTERNAL"};
const std::initializer_list<absl::string_view> kPidModes = {"host", "task"};
const std::initializer_list<absl::string_view> kIpcModes = {"host", "task", "none"};
const std::initializer_list<absl::string_view> kProtocols = {"tcp", "udp"};
const std::initializer_list<absl::string_view> kAppProtocols = {"http", "http2", "grpc"};
const std::initializer_list<absl::string_view> kConditions = {"START", "COMPLETE", "SUCCESS", "HEALTHY"};
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
// The API's LogDriver enumeration; logentries is kept from its older revisions so definitions
// written against them still register. Docker's "none" is not an ECS value.
const std::initializer_list<absl::string_view> kLogDrivers = {
    "awslogs", "fluentd", "gelf", "json-file", "journald", "logentries", "splunk", "syslog", "awsfirelens"};
const std::initializer_list<absl::string_view> kFargateLogDrivers = {"awslogs", "splunk", "awsfirelens"};
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
const std::initializer_list<absl::string_view> kEnabledDisabled = {"ENABLED", "DISABLED"};
const std::initializer_list<absl::string_view> kDockerVolumeScopes = {"task", "shared"};
const std::initializer_list<absl::string_view> kResourceTypes = {"GPU", "InferenceAccelerator"};
const std::initializer_list<absl::string_view> kFirelensTypes = {"fluentd", "fluentbit"};
const std::initializer_list<absl::string_view> kProxyTypes = {"APPMESH"};
const std::initializer_list<absl::string_view> kProxyProperties = {
    "IgnoredUID",      "IgnoredGID",         "AppPorts",        "ProxyIngressPort",
    "ProxyEgressPort", "EgressIgnoredPorts", "EgressIgnoredIPs"};
const std::initializer_list<absl::string_view> kVersionConsistency = {"enabled", "disabled"};
const std::initializer_list<absl::string_view> kEnvironmentFileTypes = {"s3"};

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

// ---- Small helpers ----

// absl::string_view is its own type in this abseil build (ABSL_OPTION_USE_STD_STRING_VIEW 0), so
// the std::string_view of the public signatures is converted once at entry and the absl string
// functions see only their own type. Where the two are the same type this is a no-op.
absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

template <typename... Args>
absl::Status Invalid(absl::string_view path, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", args...));
}

// A value quoted for an error message; long values are cut so one bad field cannot flood a log.
std::string Quote(absl::string_view value) {
  constexpr size_t kMax = 80;
  if (value.size() <= kMax) return absl::StrCat("'", absl::CHexEscape(value), "'");
  return absl::StrCat("'", absl::CHexEscape(value.substr(0, kMax)), "...' (", value.size(), " bytes)");
}

bool OneOf(absl::string_view value, std::initializer_list<absl::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

absl::Status CheckOneOf(absl::string_view path, absl::string_view value,
                        std::initializer_list<absl::string_view> allowed) {
  if (OneOf(value, allowed)) return absl::OkStatus();
  return Invalid(path, "must be one of ", absl::StrJoin(allowed, ", "), " (got ", Quote(value), ")");
}

absl::Status CheckRange(absl::string_view path, int64_t value, int64_t lo, int64_t hi, absl::string_view unit = "") {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return Invalid(path, "must be between ", lo, " and ", hi, unit, " (got ", value, ")");
}

bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// Family, container and volume names: 1-255 of [A-Za-z0-9_-].
absl::Status CheckName(absl::string_view path, bool present, absl::string_view value) {
  if (!present || value.empty()) return Invalid(path, "required: 1-255 letters, digits, '_' or '-'");
  if (value.size() > static_cast<size_t>(kMaxNameLength)) {
    return Invalid(path, "must be at most ", kMaxNameLength, " characters (got ", value.size(), ")");
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!IsNameChar(value[i])) {
      return Invalid(path, "may contain only letters, digits, '_' and '-' (got ", Quote(value), ", bad character at ",
                     i, ")");
    }
  }
  return absl::OkStatus();
}

absl::Status Required(absl::string_view path, bool present, absl::string_view value) {
  if (!present || value.empty()) return Invalid(path, "required and must not be empty");
  return absl::OkStatus();
}

// UTF-8 code points in `s` (tag limits count characters, not bytes).
size_t Utf8Length(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Strict decimal "123" or "1.25" scaled by `scale`; nullopt unless the result is a whole number.
std::optional<int64_t> ScaledDecimal(absl::string_view text, int64_t scale) {
  if (text.empty()) return std::nullopt;
  absl::string_view whole = text, fraction;
  if (size_t dot = text.find('.'); dot != absl::string_view::npos) {
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
    if (fraction.empty()) return std::nullopt;
  }
  if (whole.empty() && fraction.empty()) return std::nullopt;
  if (whole.size() > 12 || fraction.size() > 9) return std::nullopt;
  int64_t w = 0;
  for (char c : whole) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    w = w * 10 + (c - '0');
  }
  int64_t f = 0, denominator = 1;
  for (char c : fraction) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    f = f * 10 + (c - '0');
    denominator *= 10;
  }
  if ((f * scale) % denominator != 0) return std::nullopt;
  return w * scale + f * scale / denominator;
}

// If `text` ends with `suffix` (ASCII case-insensitive), the part before it, trimmed.
std::optional<absl::string_view> StripSuffixIgnoreCase(absl::string_view text, absl::string_view suffix) {
  if (text.size() < suffix.size()) return std::nullopt;
  if (!absl::EqualsIgnoreCase(text.substr(text.size() - suffix.size()), suffix)) return std::nullopt;
  return absl::StripAsciiWhitespace(text.substr(0, text.size() - suffix.size()));
}

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

// ---- Task context ----

struct PortKey {
  std::string protocol;
  int32_t port;
  bool operator<(const PortKey& o) const { return std::tie(protocol, port) < std::tie(o.protocol, o.port); }
};

// What the whole-task checks learn once and every container check reads.
struct TaskContext {
  std::string network_mode;  // effective: "bridge" when absent
  std::optional<int64_t> cpu;
  std::optional<int64_t> memory;
  std::set<std::string> launch_types;     // requiresCompatibilities
  std::map<std::string, int> containers;  // name -> index
  std::map<std::string, int> volumes;     // name -> index
  // Static host ports of the task, with the path of the mapping that took each.
  std::map<PortKey, std::string> host_ports;
  std::map<std::string, std::string> port_mapping_names;  // portMappings[].name -> path
  std::set<std::string> inference_accelerators;           // deviceName
  // Bridge mappings without a host port (each port of a range counts), per protocol.
  int32_t dynamic_tcp_ports = 0;
  int32_t dynamic_udp_ports = 0;
  int32_t gpus = 0;  // sum of the containers' GPU requirements
};

bool Essential(const v1::ContainerDefinition& c) { return !c.has_essential() || c.essential(); }

std::string ContainerPath(int i) { return absl::StrCat("containerDefinitions[", i, "]"); }

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

// ---- Containers ----

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

absl::Status CheckContainer(const v1::ContainerDefinition& c, int i, const v1::RegisterTaskDefinitionRequest& req,
                            TaskContext& ctx) {
  const std::string cpath = ContainerPath(i);
  auto at = [&](absl::string_view member) { return absl::StrCat(cpath, ".", member); };

  RETURN_IF_ERROR(CheckImage(at("image"), c.has_image(), c.image()));
  if (c.has_repository_credentials()) {
    const auto& rc = c.repository_credentials();
    RETURN_IF_ERROR(Required(at("repositoryCredentials.credentialsParameter"), rc.has_credentials_parameter(),
                             rc.credentials_parameter()));
  }

  // Resources.
  if (c.has_cpu() && c.cpu() < 0) return Invalid(at("cpu"), "must be 0 or more CPU units (got ", c.cpu(), ")");
  if (c.has_memory() && c.memory() < kMinContainerMemoryMiB) {
    return Invalid(at("memory"), "must be at least ", kMinContainerMemoryMiB, " MiB (got ", c.memory(), ")");
  }
  if (c.has_memory_reservation() && c.memory_reservation() < kMinContainerMemoryMiB) {
    return Invalid(at("memoryReservation"), "must be at least ", kMinContainerMemoryMiB, " MiB (got ",
                   c.memory_reservation(), ")");
  }
  // The API reference says "memory must be greater than memoryReservation"; ECS accepts them
  // equal (describe-task-definition output in the corpus holds 256/256, and the developer guide's
  // maintainers confirmed "greater than or equal"), so equal passes.
  if (c.has_memory() && c.has_memory_reservation() && c.memory() < c.memory_reservation()) {
    return Invalid(at("memory"), "must be at least memoryReservation (", c.memory_reservation(), " MiB) (got ",
                   c.memory(), ")");
  }
  if (!c.has_memory() && !c.has_memory_reservation() && !ctx.memory) {
    return Invalid(at("memory"),
                   "set memory or memoryReservation on the container, or memory on the task (neither is set)");
  }
  if (ctx.memory) {
    if (c.has_memory() && c.memory() > *ctx.memory) {
      return Invalid(at("memory"), "must not exceed the task-level memory (", *ctx.memory, " MiB) (got ", c.memory(),
                     ")");
    }
    if (c.has_memory_reservation() && c.memory_reservation() > *ctx.memory) {
      return Invalid(at("memoryReservation"), "must not exceed the task-level memory (", *ctx.memory, " MiB) (got ",
                     c.memory_reservation(), ")");
    }
  }
  if (ctx.cpu && c.has_cpu() && c.cpu() > *ctx.cpu) {
    return Invalid(at("cpu"), "must not exceed the task-level cpu (", *ctx.cpu, " units) (got ", c.cpu(), ")");
  }

  // Links: "name" or "name:alias", naming another container; bridge mode only.
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

  RETURN_IF_ERROR(CheckPortMappings(c, cpath, ctx));

  if (c.has_restart_policy()) {
    const auto& rp = c.restart_policy();
    if (rp.ignored_exit_codes_size() > kMaxIgnoredExitCodes) {
      return Invalid(at("restartPolicy.ignoredExitCodes"), "at most ", kMaxIgnoredExitCodes, " exit codes (got ",
                     rp.ignored_exit_codes_size(), ")");
    }
    if (rp.has_restart_attempt_period()) {
      RETURN_IF_ERROR(
          CheckRange(at("restartPolicy.restartAttemptPeriod"), rp.restart_attempt_period(), 60, 1800, " seconds"));
    }
  }

  for (int k = 0; k < c.environment_size(); ++k) {
    const auto& e = c.environment(k);
    RETURN_IF_ERROR(Required(absl::StrCat(cpath, ".environment[", k, "].name"), e.has_name(), e.name()));
  }
  if (c.environment_files_size() > kMaxEnvironmentFiles) {
    return Invalid(at("environmentFiles"), "at most ", kMaxEnvironmentFiles, " files (got ", c.environment_files_size(),
                   ")");
  }
  for (int k = 0; k < c.environment_files_size(); ++k) {
    const auto& f = c.environment_files(k);
    std::string fpath = absl::StrCat(cpath, ".environmentFiles[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(fpath, ".value"), f.has_value(), f.value()));
    if (!f.has_type()) return Invalid(absl::StrCat(fpath, ".type"), "required: s3");
    RETURN_IF_ERROR(CheckOneOf(absl::StrCat(fpath, ".type"), f.type(), kEnvironmentFileTypes));
  }

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

  if (c.has_linux_parameters()) RETURN_IF_ERROR(CheckLinuxParameters(c.linux_parameters(), cpath));

  for (int k = 0; k < c.secrets_size(); ++k) {
    const auto& s = c.secrets(k);
    std::string spath = absl::StrCat(cpath, ".secrets[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(spath, ".name"), s.has_name(), s.name()));
    RETURN_IF_ERROR(Required(absl::StrCat(spath, ".valueFrom"), s.has_value_from(), s.value_from()));
  }

  // dependsOn: existence, self, condition, HEALTHY needs a health check, COMPLETE/SUCCESS only on
  // non-essential containers (ContainerDependency). Cycles are a whole-task check.
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

  if (c.has_start_timeout() && c.start_timeout() < 0) {
    return Invalid(at("startTimeout"), "must be 0 or more seconds (got ", c.start_timeout(), ")");
  }
  if (c.has_stop_timeout() && c.stop_timeout() < 0) {
    return Invalid(at("stopTimeout"), "must be 0 or more seconds (got ", c.stop_timeout(), ")");
  }
  if (c.has_version_consistency()) {
    RETURN_IF_ERROR(CheckOneOf(at("versionConsistency"), c.version_consistency(), kVersionConsistency));
  }
  if (c.has_hostname() && ctx.network_mode == "awsvpc") {
    return Invalid(at("hostname"), "not supported in awsvpc network mode");
  }
  for (int k = 0; k < c.extra_hosts_size(); ++k) {
    const auto& h = c.extra_hosts(k);
    std::string hpath = absl::StrCat(cpath, ".extraHosts[", k, "]");
    if (ctx.network_mode == "awsvpc") return Invalid(hpath, "extraHosts are not supported in awsvpc network mode");
    RETURN_IF_ERROR(Required(absl::StrCat(hpath, ".hostname"), h.has_hostname(), h.hostname()));
    RETURN_IF_ERROR(Required(absl::StrCat(hpath, ".ipAddress"), h.has_ip_address(), h.ip_address()));
  }
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
    if (key.empty()) return Invalid(at("dockerLabels"), "label names must not be empty");
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
  if (c.has_log_configuration()) RETURN_IF_ERROR(CheckLogConfiguration(c.log_configuration(), cpath, req));
  if (c.has_health_check()) RETURN_IF_ERROR(CheckHealthCheck(c.health_check(), cpath));
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
  if (c.has_firelens_configuration()) {
    const auto& fc = c.firelens_configuration();
    if (!fc.has_type()) return Invalid(at("firelensConfiguration.type"), "required: fluentd or fluentbit");
    RETURN_IF_ERROR(CheckOneOf(at("firelensConfiguration.type"), fc.type(), kFirelensTypes));
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

// ---- Public functions ----

absl::StatusOr<int64_t> ParseTaskCpu(std::string_view text_in, std::string_view field_in) {
  absl::string_view text = ToAbsl(text_in), field = ToAbsl(field_in);
  absl::string_view t = absl::StripAsciiWhitespace(text);
  std::optional<int64_t> units;
  if (auto vcpu = StripSuffixIgnoreCase(t, "vcpu")) {
    units = ScaledDecimal(*vcpu, 1024);
  } else {
    units = ScaledDecimal(t, 1);
  }
  if (!units) {
    return Invalid(field, "must be CPU units (\"1024\") or vCPUs (\"1 vCPU\", \"0.5 vCPU\") (got ", Quote(text), ")");
  }
  RETURN_IF_ERROR(CheckRange(field, *units, kMinTaskCpu, kMaxTaskCpu, " CPU units"));
  return *units;
}

absl::StatusOr<int64_t> ParseTaskMemory(std::string_view text_in, std::string_view field_in) {
  absl::string_view text = ToAbsl(text_in), field = ToAbsl(field_in);
  absl::string_view t = absl::StripAsciiWhitespace(text);
  std::optional<int64_t> mib;
  if (auto gb = StripSuffixIgnoreCase(t, "gb")) {
    mib = ScaledDecimal(*gb, 1024);  // ECS's "GB" is GiB: "2GB" is 2048 MiB
  } else {
    mib = ScaledDecimal(t, 1);
  }
  if (!mib) return Invalid(field, "must be MiB (\"2048\") or GB (\"2GB\", \"2 GB\") (got ", Quote(text), ")");
  RETURN_IF_ERROR(CheckRange(field, *mib, kMinContainerMemoryMiB, kMaxTaskMemoryMiB, " MiB"));
  return *mib;
}

absl::Status ValidateTags(const RepeatedPtrField<v1::Tag>& tags, std::string_view field_in, const Limits& limits) {
  absl::string_view field = ToAbsl(field_in);
  if (tags.size() > limits.max_tags) {
    return Invalid(field, "at most ", limits.max_tags, " tags (got ", tags.size(), ")");
  }
  std::map<std::string, int> seen;
  for (int i = 0; i < tags.size(); ++i) {
    const auto& tag = tags[i];
    std::string path = absl::StrCat(field, "[", i, "]");
    if (!tag.has_key() || tag.key().empty()) return Invalid(absl::StrCat(path, ".key"), "required: 1-128 characters");
    if (Utf8Length(tag.key()) > static_cast<size_t>(kMaxTagKeyLength)) {
      return Invalid(absl::StrCat(path, ".key"), "must be at most ", kMaxTagKeyLength, " characters (got ",
                     Utf8Length(tag.key()), ")");
    }
    if (absl::StartsWithIgnoreCase(tag.key(), "aws:")) {
      return Invalid(absl::StrCat(path, ".key"), "the aws: prefix is reserved (got ", Quote(tag.key()), ")");
    }
    if (Utf8Length(tag.value()) > static_cast<size_t>(kMaxTagValueLength)) {
      return Invalid(absl::StrCat(path, ".value"), "must be at most ", kMaxTagValueLength, " characters (got ",
                     Utf8Length(tag.value()), ")");
    }
    if (auto [it, inserted] = seen.emplace(tag.key(), i); !inserted) {
      return Invalid(absl::StrCat(path, ".key"), "key ", Quote(tag.key()), " is already used by ", field, "[",
                     it->second, "]; keys must be unique");
    }
  }
  return absl::OkStatus();
}

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

absl::StatusOr<v1::ResourceDemand> DemandWithOverrides(const v1::TaskDefinition& task_definition,
                                                       const v1::ResourceDemand& base,
                                                       const v1::TaskOverride& overrides) {
  const auto& containers = task_definition.container_definitions();
  std::map<std::string, int> index;
  for (int i = 0; i < containers.size(); ++i) index.emplace(containers[i].name(), i);

  // Effective per-container values: the definition's, replaced member by member by overrides.
  struct Effective {
    std::optional<int32_t> cpu, memory, memory_reservation;
  };
  std::vector<Effective> eff(containers.size());
  for (int i = 0; i < containers.size(); ++i) {
    const auto& c = containers[i];
    if (c.has_cpu()) eff[i].cpu = c.cpu();
    if (c.has_memory()) eff[i].memory = c.memory();
    if (c.has_memory_reservation()) eff[i].memory_reservation = c.memory_reservation();
  }
  std::map<std::string, int> overridden;
  for (int k = 0; k < overrides.container_overrides_size(); ++k) {
    const auto& o = overrides.container_overrides(k);
    std::string path = absl::StrCat("overrides.containerOverrides[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(path, ".name"), o.has_name(), o.name()));
    auto it = index.find(o.name());
    if (it == index.end()) {
      return Invalid(absl::StrCat(path, ".name"), Quote(o.name()), " names no container of task definition ",
                     Quote(task_definition.family()));
    }
    if (auto [prev, inserted] = overridden.emplace(o.name(), k); !inserted) {
      return Invalid(absl::StrCat(path, ".name"), Quote(o.name()),
                     " is already overridden by overrides.containerOverrides[", prev->second, "]");
    }
    Effective& e = eff[it->second];
    if (o.has_cpu()) {
      if (o.cpu() < 0) return Invalid(absl::StrCat(path, ".cpu"), "must be 0 or more CPU units (got ", o.cpu(), ")");
      e.cpu = o.cpu();
    }
    if (o.has_memory()) {
      if (o.memory() < kMinContainerMemoryMiB) {
        return Invalid(absl::StrCat(path, ".memory"), "must be at least ", kMinContainerMemoryMiB, " MiB (got ",
                       o.memory(), ")");
      }
      e.memory = o.memory();
    }
    if (o.has_memory_reservation()) {
      if (o.memory_reservation() < kMinContainerMemoryMiB) {
        return Invalid(absl::StrCat(path, ".memoryReservation"), "must be at least ", kMinContainerMemoryMiB,
                       " MiB (got ", o.memory_reservation(), ")");
      }
      e.memory_reservation = o.memory_reservation();
    }
    if (e.memory && e.memory_reservation && *e.memory < *e.memory_reservation) {
      return Invalid(absl::StrCat(path, o.has_memory() ? ".memory" : ".memoryReservation"), "memory (", *e.memory,
                     " MiB) must be at least memoryReservation (", *e.memory_reservation, " MiB) once overrides apply");
    }
  }

  std::optional<int64_t> task_cpu, task_memory;
  if (overrides.has_cpu()) {
    ASSIGN_OR_RETURN(task_cpu, ParseTaskCpu(overrides.cpu(), "overrides.cpu"));
  } else if (task_definition.has_cpu()) {
    ASSIGN_OR_RETURN(task_cpu, ParseTaskCpu(task_definition.cpu(), "taskDefinition.cpu"));
  }
  if (overrides.has_memory()) {
    ASSIGN_OR_RETURN(task_memory, ParseTaskMemory(overrides.memory(), "overrides.memory"));
  } else if (task_definition.has_memory()) {
    ASSIGN_OR_RETURN(task_memory, ParseTaskMemory(task_definition.memory(), "taskDefinition.memory"));
  }
  if (overrides.has_ephemeral_storage()) {
    RETURN_IF_ERROR(CheckRange("overrides.ephemeralStorage.sizeInGiB", overrides.ephemeral_storage().size_in_gib(), 21,
                               200, " GiB"));
  }

  int64_t cpu_sum = 0, memory_sum = 0;
  for (const auto& e : eff) {
    cpu_sum += e.cpu.value_or(0);
    memory_sum += e.memory_reservation ? *e.memory_reservation : e.memory.value_or(0);
  }
  if (task_cpu && cpu_sum > *task_cpu) {
    return Invalid(overrides.has_cpu() ? "overrides.cpu" : "overrides.containerOverrides", "container cpu adds up to ",
                   cpu_sum, " units, more than the task-level cpu (", *task_cpu, ")");
  }
  if (task_memory && memory_sum > *task_memory) {
    return Invalid(overrides.has_memory() ? "overrides.memory" : "overrides.containerOverrides",
                   "container memory reservations add up to ", memory_sum, " MiB, more than the task-level memory (",
                   *task_memory, " MiB)");
  }

  v1::ResourceDemand demand;
  demand.set_cpu(task_cpu ? *task_cpu : cpu_sum);
  demand.set_memory(task_memory ? *task_memory : memory_sum);
  *demand.mutable_tcp_ports() = base.tcp_ports();  // overrides cannot change port mappings
  *demand.mutable_udp_ports() = base.udp_ports();
  demand.set_gpus(base.gpus());
  demand.set_eni(base.eni());
  demand.set_dynamic_tcp_ports(base.dynamic_tcp_ports());
  demand.set_dynamic_udp_ports(base.dynamic_udp_ports());
  return demand;
}

}  // namespace berth::controlplane
