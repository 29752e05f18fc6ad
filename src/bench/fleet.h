// Fleet: the cluster state a scenario starts from, built over gRPC like any client would build it:
// a cluster, container instances registered with given resources, and task definitions.
//
// Scenarios that simulate agents (later) will attach them to the instances registered here.
// Setup runs on the calling thread (instance registration fans out over a few worker threads);
// a Fleet is not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/ecs.grpc.pb.h"

namespace berth::bench {

// Resources large enough that placement never runs out during a run: CPU and MEMORY are int32
// (integerValue) in the ECS shape, so 1e9 units per instance, a little under half of INT32_MAX.
inline constexpr int32_t kHugeCpuUnits = 1'000'000'000;
inline constexpr int32_t kHugeMemoryMiB = 1'000'000'000;

struct FleetSpec {
  std::string cluster = "bench";
  int instances = 100;
  int32_t cpu_units = kHugeCpuUnits;
  int32_t memory_mib = kHugeMemoryMiB;
  int parallelism = 16;  // concurrent RegisterContainerInstance calls
};

// A small task definition: one essential container.
struct TaskDefinitionSpec {
  std::string family = "bench-app";
  std::string network_mode = "bridge";
  std::string container = "app";
  std::string image = "busybox";
  int32_t cpu = 1;
  int32_t memory_mib = 6;
};

class Fleet {
 public:
  // Creates the cluster (an existing one is reused) and registers the instances.
  static absl::StatusOr<Fleet> Create(const std::shared_ptr<grpc::Channel>& channel, const FleetSpec& spec);

  // Registers a revision of the task definition; returns "family:revision".
  absl::StatusOr<std::string> RegisterTaskDefinition(const TaskDefinitionSpec& spec);

  const std::string& cluster() const { return spec_.cluster; }
  const std::vector<std::string>& instance_arns() const { return instance_arns_; }

 private:
  Fleet(std::shared_ptr<grpc::Channel> channel, FleetSpec spec);
  absl::Status CreateCluster();
  absl::Status RegisterInstances();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
  FleetSpec spec_;
  std::vector<std::string> instance_arns_;
};

}  // namespace berth::bench
