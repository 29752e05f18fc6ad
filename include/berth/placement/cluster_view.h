// ClusterView: the compact, placement-oriented picture of one cluster's container instances, with
// the incremental indexes that let the engine place a task without a pass over the cluster.
//
// The control plane keeps one ClusterView per cluster and updates it as instances register, change
// status or attributes, and as tasks reserve and release resources. The placement engine reads it;
// it never sees protobuf records or the store.
//
// Resource quantities are integers: CPU units (1024 = one vCPU), MiB, GPU count, task-network
// (awsvpc) attachment slots.
//
// Indexes (all exact, updated on every change, never rebuilt):
// - per resource (remaining cpu, remaining memory) and for the tie-break alone: a B-tree of
//   (value, tiebreak, slot) over every instance, so "the least remaining memory that still fits"
//   is a lower_bound and a short walk;
// - per attribute name used by a spread strategy (created by Prepare() on first use): the same
//   B-trees partitioned by the attribute's value;
// - per task group: tasks of the group on each instance, and (created by Prepare() on first use)
//   per value of an attribute, so spread(attribute:X) reads the count of every value directly.
//
// Thread safety: not synchronized. The control plane mutates it only on the commit-pipeline thread
// and places there (placement runs inside proposals).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace berth::placement {

enum class InstanceStatus : uint8_t { kActive, kDraining, kInactive };

// Which launch type an instance serves: EC2 instances run EC2 tasks, external (ECS Anywhere style)
// instances run EXTERNAL tasks, and the hosts berthd starts for FARGATE tasks run those.
enum class LaunchType : uint8_t { kEc2, kExternal, kFargate };

inline constexpr int32_t kDefaultEphemeralLow = 49153;
inline constexpr int32_t kDefaultEphemeralHigh = 65535;
// ENI slots of an instance that registered none: no limit.
inline constexpr int32_t kUnlimitedEni = -1;

// Resources one task needs.
struct TaskDemand {
  int64_t cpu = 0;
  int64_t memory = 0;
  int32_t gpus = 0;
  bool eni = false;                // awsvpc: one task-network attachment slot
  std::vector<int32_t> tcp_ports;  // static host ports
  std::vector<int32_t> udp_ports;
  int32_t dynamic_tcp_ports = 0;  // bridge-mode mappings without a host port
  int32_t dynamic_udp_ports = 0;
};

// What a placed task holds on its instance: its demand, with the dynamic host ports it was given.
struct TaskHold {
  int64_t cpu = 0;
  int64_t memory = 0;
  int32_t gpus = 0;
  bool eni = false;
  std::vector<int32_t> tcp_ports;  // static and dynamic
  std::vector<int32_t> udp_ports;
  std::string group;     // task group ("family:web", "service:api"); may be empty
  bool running = false;  // lastStatus RUNNING (counted by runningTasksCount)
};

struct InstanceView {
  std::string id;  // container instance id (32 hex)
  InstanceStatus status = InstanceStatus::kActive;
  bool agent_connected = true;
  LaunchType launch_type = LaunchType::kEc2;
  int64_t cpu_total = 0;
  int64_t memory_total = 0;
  int32_t gpu_total = 0;
  int32_t eni_total = kUnlimitedEni;
  int32_t ephemeral_low = kDefaultEphemeralLow;
  int32_t ephemeral_high = kDefaultEphemeralHigh;
  // Host ports reserved at registration (never handed to tasks).
  absl::flat_hash_set<int32_t> tcp_ports_reserved;
  absl::flat_hash_set<int32_t> udp_ports_reserved;
  // Attributes, built-in (ecs.availability-zone, ...) and custom; a value may be empty.
  absl::flat_hash_map<std::string, std::string> attributes;
  std::string agent_version;
  std::string ec2_instance_id;
  double registered_at = 0;

  // Maintained by ClusterView from reservations; whatever Upsert() is given is ignored.
  int64_t cpu_used = 0;
  int64_t memory_used = 0;
  int32_t gpu_used = 0;
  int32_t eni_used = 0;
  absl::flat_hash_set<int32_t> tcp_ports_used;  // reserved + held by tasks
  absl::flat_hash_set<int32_t> udp_ports_used;
  // Ports held by tasks, with how many tasks hold each (recovery may replay overlapping holds,
  // and a port may be both reserved and held after a re-registration).
  absl::flat_hash_map<int32_t, int32_t> tcp_ports_held;
  absl::flat_hash_map<int32_t, int32_t> udp_ports_held;
  int32_t tcp_ephemeral_used = 0;  // of tcp_ports_used, those inside the ephemeral range
  int32_t udp_ephemeral_used = 0;
  int32_t task_count = 0;          // tasks holding resources here (pending and running)
  int32_t running_task_count = 0;  // of those, RUNNING ones: the query language's runningTasksCount
  absl::flat_hash_map<std::string, int32_t> group_counts;  // task group -> tasks here
  uint64_t tiebreak = 0;                                   // a hash of the id: the last tie-break

  int64_t cpu_remaining() const { return cpu_total - cpu_used; }
  int64_t memory_remaining() const { return memory_total - memory_used; }
  int32_t gpu_remaining() const { return gpu_total - gpu_used; }
  // Free ENI slots; kUnlimitedEni when the instance has no limit.
  int32_t eni_remaining() const { return eni_total == kUnlimitedEni ? kUnlimitedEni : eni_total - eni_used; }
  int32_t GroupCount(std::string_view group) const;
  // The attribute's value, or nullptr.
  const std::string* Attribute(std::string_view name) const;
};

class ClusterView {
 public:
  // An index key: (ordering value, tiebreak, slot).
  struct Key {
    int64_t value;
    uint64_t tiebreak;
    uint32_t slot;
    friend bool operator<(const Key& a, const Key& b) {
      if (a.value != b.value) return a.value < b.value;
      if (a.tiebreak != b.tiebreak) return a.tiebreak < b.tiebreak;
      return a.slot < b.slot;
    }
  };
  using KeySet = absl::btree_set<Key>;
  enum class Order : uint8_t { kCpu, kMemory };
  // Buckets of the other resource's remaining amount: 0 for <= 0, else its bit width (so bucket b
  // holds [2^(b-1), 2^b - 1]); the last one is open-ended.
  static constexpr int kBuckets = 33;
  static int Bucket(int64_t remaining);
  // The largest amount bucket b holds (INT64_MAX for the last).
  static int64_t BucketMax(int b);

  // One set of instances in every order the engine walks. The cpu order is split by the bucket of
  // remaining memory and the memory order by the bucket of remaining cpu, so a walk for a demand
  // skips whole buckets of instances that cannot fit the other resource.
  struct Orders {
    std::array<std::array<KeySet, kBuckets>, 2> by_resource;  // [Order][bucket of the other]
    KeySet by_tiebreak;                                       // value 0
    bool empty() const { return by_tiebreak.empty(); }
  };

  // Instances of one attribute, partitioned by value ("" for instances without it).
  struct AttributeIndex {
    absl::flat_hash_map<std::string, Orders> by_value;
  };
  // Tasks of one group.
  struct GroupIndex {
    int64_t total = 0;
    // Tasks per value of each attribute a spread strategy asked about ("" = instances without it).
    absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, int64_t>> per_value;
  };

  ClusterView();
  ClusterView(const ClusterView&) = delete;
  ClusterView& operator=(const ClusterView&) = delete;

  // Adds the instance, or updates its registration (status, resources, attributes) keeping what
  // its tasks hold. Reservations are never taken from the argument.
  const InstanceView& Upsert(InstanceView instance);
  // Removes the instance and whatever its tasks held.
  void Remove(std::string_view id);
  const InstanceView* Find(std::string_view id) const;

  // Reserves / releases a placed task's hold on an instance. Both CHECK that the instance exists;
  // callers decide fit first (placement) or replay what was durably decided (recovery).
  void Reserve(std::string_view id, const TaskHold& hold);
  void Release(std::string_view id, const TaskHold& hold);
  // Between these, Reserve and Release take an instance out of the placement orders the first
  // time they touch it and leave it out; the End call puts every such instance back once. For
  // recovery, which replays a hold per task (re-sorting the instance after each of a million
  // holds was most of berthd's start). Nothing but Reserve and Release may be called in between.
  void BeginDeferredIndexing();
  void EndDeferredIndexing();
  // Moves the instance's count of RUNNING tasks (the query language's runningTasksCount) by
  // `delta`, for a held task whose status changed; nothing else about the hold changes.
  void AdjustRunning(std::string_view id, int delta);

  // Builds the indexes a request with these spread attributes and group will use (cheap when they
  // exist). Placement is exact without them, only slower.
  void PrepareAttribute(std::string_view attribute);
  void PrepareGroupAttribute(std::string_view group, std::string_view attribute);

  size_t size() const { return live_; }
  // Every instance, in slot order.
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& slot : slots_) {
      if (slot) f(*slot);
    }
  }
  const InstanceView* AtSlot(uint32_t slot) const { return slots_[slot].get(); }
  uint32_t SlotOf(std::string_view id) const;  // CHECKs presence
  static constexpr uint32_t kNoSlot = ~0u;
  uint32_t FindSlot(std::string_view id) const;

  // Indexes, for the engine.
  const Orders& ordered() const { return global_; }
  const AttributeIndex* FindAttributeIndex(std::string_view attribute) const;
  const GroupIndex* FindGroup(std::string_view group) const;

 private:
  void Index(uint32_t slot);
  void Unindex(uint32_t slot);
  // Unindex / Index around a reservation change, deferred between Begin/EndDeferredIndexing.
  void UnindexForChange(uint32_t slot);
  void IndexAfterChange(uint32_t slot);
  void CountGroup(uint32_t slot, const std::string& group, int delta);

  std::vector<std::unique_ptr<InstanceView>> slots_;
  std::vector<uint32_t> free_slots_;
  bool deferring_ = false;
  std::vector<uint32_t> unindexed_;   // slots out of the orders while deferring
  std::vector<bool> unindexed_slot_;  // by slot: in unindexed_
  size_t live_ = 0;
  absl::flat_hash_map<std::string, uint32_t> by_id_;
  Orders global_;
  absl::flat_hash_map<std::string, AttributeIndex> attribute_indexes_;
  absl::flat_hash_map<std::string, GroupIndex> groups_;
};

}  // namespace berth::placement
