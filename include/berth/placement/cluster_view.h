// ClusterView: the compact, placement-oriented picture of one cluster's container instances.
//
// The control plane keeps one ClusterView per cluster and updates it incrementally as instances
// register, change status and as tasks reserve and release resources. The placement engine reads
// it; it never sees protobuf records or the store.
//
// Resource quantities are integers: CPU units (1024 = one vCPU) and MiB.
//
// Thread safety: not synchronized. The control plane mutates it only on the commit-pipeline
// thread and reads it there (placement runs inside proposals).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace berth::placement {

enum class InstanceStatus : uint8_t { kActive, kDraining, kInactive };

// Resources one task needs.
struct TaskDemand {
  int64_t cpu = 0;
  int64_t memory = 0;
  std::vector<int32_t> tcp_ports;  // static host ports
  std::vector<int32_t> udp_ports;
};

struct InstanceView {
  std::string id;  // container instance id (32 hex)
  InstanceStatus status = InstanceStatus::kActive;
  bool agent_connected = true;
  int64_t cpu_total = 0;
  int64_t memory_total = 0;
  int64_t cpu_used = 0;
  int64_t memory_used = 0;
  // Host ports held: reserved at registration plus those of placed tasks.
  absl::flat_hash_set<int32_t> tcp_ports_used;
  absl::flat_hash_set<int32_t> udp_ports_used;
  int32_t task_count = 0;

  int64_t cpu_remaining() const { return cpu_total - cpu_used; }
  int64_t memory_remaining() const { return memory_total - memory_used; }
};

class ClusterView {
 public:
  // Adds or replaces the instance (keeps its position if present).
  InstanceView& Upsert(InstanceView instance);
  void Remove(std::string_view id);
  InstanceView* Find(std::string_view id);
  const InstanceView* Find(std::string_view id) const;

  // Reserves / releases a task's demand on an instance. Reserve CHECKs that the instance exists;
  // callers decide fit first (placement) or replay what was durably decided (recovery).
  void Reserve(std::string_view id, const TaskDemand& demand);
  void Release(std::string_view id, const TaskDemand& demand);

  const std::vector<InstanceView>& instances() const { return instances_; }
  size_t size() const { return instances_.size(); }

 private:
  std::vector<InstanceView> instances_;
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace berth::placement
