// DockerRuntime: the Runtime on a real Docker engine, through the Engine API (DockerClient).
//
// The Docker mapping of ECS-SEMANTICS.md: cpu -> HostConfig.CpuShares (values <= 1 become 2),
// memory -> Memory (bytes), memoryReservation -> MemoryReservation, environment, command,
// entryPoint, workingDirectory, user, privileged, readonlyRootFilesystem, ulimits, dns, extraHosts,
// dockerSecurityOptions, linuxParameters (capabilities, devices, initProcessEnabled,
// sharedMemorySize, tmpfs, maxSwap, swappiness),
// systemControls, dockerLabels plus Berth's own labels, healthCheck -> Healthcheck, mountPoints
// (host paths as binds, Docker volumes as volume mounts), volumesFrom, and the network mode:
//   bridge  ports published with the host ports berthd chose (read back from inspect)
//   host    NetworkMode host
//   none    NetworkMode none
//   awsvpc  NetworkMode container:<holder>, where the holder is a small container (the pause
//           image, running `sleep`) on the per-instance network `berth-awsvpc` with the task's
//           own address
// logConfiguration: awslogs and none -> LogConfig json-file (10m x 3, with mode and
// max-buffer-size), read back by FollowOutput for the agent to ship to berthd; another driver ->
// LogConfig of that driver with its options (the engine's; Berth does not read it back).
// Not applied: secrets and environmentFiles (no secret store yet), restartPolicy,
// repositoryCredentials (Pull refuses them), firelensConfiguration, resourceRequirements (GPUs).
// Container events (exits, health changes) are found by listing the agent's containers every
// `watch_interval`; any change of a container's state calls the listener.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "src/agent/cgroups.h"
#include "src/agent/docker/docker_client.h"
#include "src/agent/runtime.h"

namespace berth::agent {

struct DockerRuntimeOptions {
  docker::DockerClientOptions client;
  // The per-instance network of awsvpc tasks and its address range.
  std::string awsvpc_network = "berth-awsvpc";
  std::string awsvpc_cidr = "172.30.0.0/24";
  // Holds an awsvpc task's network namespace; must have a `sleep` binary.
  std::string pause_image = "berth/pause:latest";
  std::chrono::milliseconds watch_interval{500};
  // Task-level cpu and memory in a cgroup per task (TaskCgroups), when the engine's cgroup driver
  // is cgroupfs and `cgroup_root` is writable; otherwise each container is capped on its own.
  bool task_cgroups = true;
  std::string cgroup_root = "/sys/fs/cgroup";
};

class DockerRuntime final : public Runtime {
 public:
  explicit DockerRuntime(DockerRuntimeOptions options);
  ~DockerRuntime() override;

  // Connects to the engine (version negotiation) and starts watching containers.
  absl::Status Start();
  std::string Name() const override { return "docker"; }
  std::string Version() const override { return "DockerVersion: " + client_.server_version(); }
  absl::Status Pull(const ContainerSpec& spec) override;
  absl::StatusOr<std::string> Create(const ContainerSpec& spec) override;
  absl::Status Start(const std::string& id) override;
  absl::Status Stop(const std::string& id, int timeout_seconds) override;
  absl::Status Remove(const std::string& id) override;
  absl::Status RemoveVolume(const std::string& name) override { return client_.RemoveVolume(name, false); }
  absl::StatusOr<ContainerStatus> Inspect(const std::string& id) override;
  absl::StatusOr<std::vector<ManagedContainer>> ListManaged(const std::string& cluster,
                                                            const std::string& instance_arn) override;
  absl::StatusOr<TaskNetwork> CreateTaskNetwork(const std::string& task_arn, const std::string& address,
                                                const std::map<std::string, std::string>& labels) override;
  void SetListener(std::function<void(const std::string& id)> listener) override;
  void CancelCalls() override { client_.CancelAll(); }
  absl::StatusOr<std::string> CreateTaskCgroup(const std::string& task_id, int64_t cpu, int64_t memory_mib) override;
  absl::Status RemoveTaskCgroup(const std::string& task_id) override;
  // The container's SizeRw (the engine walks its writable layer).
  absl::StatusOr<int64_t> DiskUsage(const std::string& id) override;
  absl::Status FollowOutput(const std::string& id, int64_t since_ns,
                            const std::function<bool(OutputLine)>& on_line) override;

  // The Engine API body for a container (exposed for tests of the mapping).
  static nlohmann::json ContainerConfig(const ContainerSpec& spec);
  // HostConfig.LogConfig of a container definition.
  static nlohmann::json LogConfig(const v1::ContainerDefinition& d);

 private:
  absl::Status EnsureAwsvpcNetwork();
  absl::Status EnsureVolumes(const ContainerSpec& spec);
  void Watch();

  const DockerRuntimeOptions options_;
  docker::DockerClient client_;
  std::optional<TaskCgroups> cgroups_;  // set by Start when task cgroups can be kept
  std::mutex mu_;
  std::condition_variable cv_;
  std::mutex listener_mu_;  // held while the listener runs; never with mu_
  std::function<void(const std::string&)> listener_;
  bool stopping_ = false;
  bool network_ready_ = false;
  std::thread watcher_;
};

}  // namespace berth::agent
