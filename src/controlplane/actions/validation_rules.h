// The small pieces every validation rule is written with, and what the task-definition checks
// share between their files (task_definition_validation.cc: the whole task and its launch types;
// container_validation.cc: each container). Private to berth_controlplane_validation.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "berth/v1/ecs.pb.h"

namespace berth::controlplane::validation_internal {

inline constexpr int kMaxNameLength = 255;            // family, container and volume names
inline constexpr int64_t kMinContainerMemoryMiB = 6;  // Docker 20.10+ minimum (ECS-SEMANTICS.md)

// absl::string_view is its own type in this abseil build (ABSL_OPTION_USE_STD_STRING_VIEW 0), so
// the std::string_view of the public signatures is converted once at entry and the absl string
// functions see only their own type. Where the two are the same type this is a no-op.
inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// INVALID_ARGUMENT "<path>: <args...>".
template <typename... Args>
absl::Status Invalid(absl::string_view path, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", args...));
}

// A value quoted for an error message; long values are cut so one bad field cannot flood a log.
std::string Quote(absl::string_view value);

bool OneOf(absl::string_view value, std::initializer_list<absl::string_view> allowed);
absl::Status CheckOneOf(absl::string_view path, absl::string_view value,
                        std::initializer_list<absl::string_view> allowed);
// `value` in [lo, hi]; the message names the bounds with `unit` after them.
absl::Status CheckRange(absl::string_view path, int64_t value, int64_t lo, int64_t hi, absl::string_view unit = "");

// A letter, digit, '_' or '-': what family, container and volume names are made of.
bool IsNameChar(char c);
// Family, container and volume names: 1-255 of [A-Za-z0-9_-].
absl::Status CheckName(absl::string_view path, bool present, absl::string_view value);
absl::Status Required(absl::string_view path, bool present, absl::string_view value);

// ---- What the task-definition checks share ----

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

inline bool Essential(const v1::ContainerDefinition& c) { return !c.has_essential() || c.essential(); }

inline std::string ContainerPath(int i) { return absl::StrCat("containerDefinitions[", i, "]"); }

// Every rule of one container (containerDefinitions[i]), in a fixed order; records what the
// container takes (host ports, dynamic ports, GPUs, port mapping names) in `ctx`. Containers are
// checked after the task-level members and the names of all containers are in `ctx.containers`.
absl::Status CheckContainer(const v1::ContainerDefinition& c, int i, const v1::RegisterTaskDefinitionRequest& req,
                            TaskContext& ctx);

}  // namespace berth::controlplane::validation_internal
