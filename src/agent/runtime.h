// Runtime: what the task engine needs from a container runtime. Two implementations: docker
// (the Docker Engine API, for real hosts) and sim (containers that "run" in memory, for fleets of
// simulated agents in berth-bench and for tests).
//
// Calls block until done (a pull can take minutes; Stop waits up to the stop timeout); the engine
// calls them from its worker threads, never with its own lock held. Implementations are
// thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/ecs.pb.h"

namespace berth::agent {

// Labels on every container the agent creates, so that a restarted agent finds its containers.
inline constexpr char kLabelCluster[] = "com.berth.cluster";
inline constexpr char kLabelInstance[] = "com.berth.container-instance";
inline constexpr char kLabelTaskArn[] = "com.berth.task-arn";
inline constexpr char kLabelContainerName[] = "com.berth.container-name";
inline constexpr char kLabelTaskDefinition[] = "com.berth.task-definition";
// Marks the per-task network holder of an awsvpc task.
inline constexpr char kLabelNetworkHolder[] = "com.berth.network-holder";

struct PortBinding {
  int32_t container_port = 0;
  int32_t host_port = 0;  // 0: let the runtime choose (then read back)
  std::string protocol = "tcp";
  std::string host_ip;  // empty: all addresses
};

// A task volume as the runtime mounts it.
struct VolumeSpec {
  std::string name;         // the task definition's volume name
  std::string host_path;    // bind mount source; empty for a Docker volume
  std::string docker_name;  // Docker volume name (scope task: per task; shared: as named)
  std::string driver;
  std::map<std::string, std::string> driver_opts;
  std::map<std::string, std::string> labels;
  // An efsVolumeConfiguration volume berthd sent no mount for (a berthd without the file system).
  bool missing_file_system = false;
};

struct ContainerSpec {
  std::string name;  // the runtime's container name (unique per host)
  std::string task_arn;
  // The container definition with the task's overrides applied (command, environment, cpu,
  // memory, memoryReservation).
  v1::ContainerDefinition definition;
  std::string network_mode;       // bridge | host | none | awsvpc
  std::string network_container;  // awsvpc: runtime id of the task's network holder
  std::vector<PortBinding> ports;
  std::vector<VolumeSpec> volumes;  // the task's volumes (mounted per definition.mount_points)
  std::map<std::string, std::string> labels;
  // The task-level size (CPU units, MiB; 0: not set): the container's hard limits do not exceed it.
  int64_t task_cpu = 0;
  int64_t task_memory = 0;
  // The task's cgroup (Runtime::CreateTaskCgroup); empty: none.
  std::string cgroup_parent;
};

enum class ContainerState { kCreated, kRunning, kExited, kMissing };

struct ContainerStatus {
  ContainerState state = ContainerState::kMissing;
  std::optional<int32_t> exit_code;
  std::string health;  // "" (no check), "starting", "healthy", "unhealthy"
  std::vector<PortBinding> bindings;
  std::string error;         // why it exited, when the runtime says (OOMKilled, ...)
  std::string image_digest;  // sha256:... when known
  double started_at = 0;     // epoch seconds, 0 when never started
  double finished_at = 0;
};

// A container the runtime holds that this agent created (found by label).
struct ManagedContainer {
  std::string id;
  std::string task_arn;
  std::string container_name;  // the task definition's name; empty for a network holder
  bool network_holder = false;
};

// The per-task network of an awsvpc task.
struct TaskNetwork {
  std::string holder_id;  // runtime id of the container that owns the namespace
  std::string address;    // IPv4 address of the task
};

// One line a container wrote.
struct OutputLine {
  int stream = 1;  // 1 stdout, 2 stderr
  int64_t timestamp_ns = 0;
  std::string text;  // without its newline
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  virtual std::string Name() const = 0;
  // The engine's version, for registration's versionInfo.dockerVersion.
  virtual std::string Version() const = 0;
  // Pulls the container's image (spec.definition.image; the spec also carries its repository
  // credentials). Errors carry the runtime's message.
  virtual absl::Status Pull(const ContainerSpec& spec) = 0;
  // Creates (does not start) a container; returns its runtime id.
  virtual absl::StatusOr<std::string> Create(const ContainerSpec& spec) = 0;
  virtual absl::Status Start(const std::string& id) = 0;
  // SIGTERM (or the image's stop signal), then SIGKILL after `timeout_seconds`. Returns when the
  // container has exited.
  virtual absl::Status Stop(const std::string& id, int timeout_seconds) = 0;
  virtual absl::Status Remove(const std::string& id) = 0;
  // Removes a volume the agent created for one task (VolumeSpec.docker_name); absent is success.
  virtual absl::Status RemoveVolume(const std::string& name) = 0;
  virtual absl::StatusOr<ContainerStatus> Inspect(const std::string& id) = 0;
  // Containers (and network holders) labelled with this cluster and instance.
  virtual absl::StatusOr<std::vector<ManagedContainer>> ListManaged(const std::string& cluster,
                                                                    const std::string& instance_arn) = 0;
  // awsvpc: a network namespace with `address` for one task, held by a small container.
  virtual absl::StatusOr<TaskNetwork> CreateTaskNetwork(const std::string& task_arn, const std::string& address,
                                                        const std::map<std::string, std::string>& labels) = 0;
  // Task-level limits: a cgroup with the task's cpu (ECS units) and memory (MiB) that its
  // containers are created under (ContainerSpec.cgroup_parent), so the limits bind the task as a
  // whole. Returns the cgroup parent, or "" when this runtime keeps no task cgroups (then each
  // container is capped at the task's size on its own). Idempotent.
  virtual absl::StatusOr<std::string> CreateTaskCgroup(const std::string& task_id, int64_t cpu, int64_t memory_mib) = 0;
  // Removes what CreateTaskCgroup made, once the task's containers are gone; absent is success.
  virtual absl::Status RemoveTaskCgroup(const std::string& task_id) = 0;
  // Bytes the container has written to its own writable layer (its ephemeral storage use).
  virtual absl::StatusOr<int64_t> DiskUsage(const std::string& id) = 0;
  // The container's output from `since_ns` on (inclusive; 0: all of it), line by line, oldest
  // first, as it is written: returns OK once the container has exited and every line was handed
  // over (or when `on_line` returns false), NOT_FOUND when the container is gone, CANCELLED after
  // CancelCalls.
  virtual absl::Status FollowOutput(const std::string& id, int64_t since_ns,
                                    const std::function<bool(OutputLine)>& on_line) = 0;
  // The agent is stopping: calls in progress return CANCELLED at once, and so does every later
  // call (a stop waiting out its timeout or a pull is abandoned; what the engine did not record
  // is done again after a restart). Thread-safe; never undone.
  virtual void CancelCalls() {}
  // Called with a container's runtime id whenever its state may have changed (it exited, its
  // health changed). May be called from any thread; set before the first Create.
  virtual void SetListener(std::function<void(const std::string& id)> listener) = 0;
};

}  // namespace berth::agent
