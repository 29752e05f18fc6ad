// State: the control plane's in-memory picture of everything durable, with the indexes the API
// needs. Rebuilt from the store on start (Load), then mutated only by proposals on the commit
// pipeline's apply thread. It can run one batch or a few ahead of the store; nothing read from it
// leaves berthd before that is durable (Api::AnswerWhenDurable).
//
// Changed only through an Applier (state/applier.h), which records every mutation in memory
// and in the batch together.
//
// Thread safety: guarded by `mu` (owned by the Server). The pipeline's apply thread holds it
// exclusively while applying a batch (not while writing it); API readers hold it shared. Nothing here is
// synchronized on its own.
//
// Records are kept exactly as persisted (records.proto): derived values (ARNs, counts, remaining
// resources) are computed when rendering API responses, so they cannot drift from the records.
#pragma once

#include <atomic>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "berth/placement/cluster_view.h"
#include "berth/store/store.h"
#include "berth/v1/records.pb.h"

namespace berth::controlplane {

// The attribute that marks an external (ECS Anywhere style) instance, besides an "mi-" id.
inline constexpr char kExternalAttribute[] = "ecs.capability.external";
// The attribute of a host berthd started for one FARGATE task: the task's id. Such hosts run only
// that task and are hidden from the cluster's container instances (docs/capacity.md, "FARGATE").
inline constexpr char kFargateTaskAttribute[] = "berth.fargate-task";

// The placement launch type of a task's launchType (EC2 when empty).
placement::LaunchType LaunchTypeOf(std::string_view launch_type);

// Task statuses in lifecycle order (ECS lastStatus).
inline constexpr std::string_view kTaskStatusOrder[] = {"PROVISIONING", "PENDING",  "ACTIVATING",     "RUNNING",
                                                        "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"};
// A status's place in kTaskStatusOrder; -1 for any other string.
inline int TaskStatusRank(std::string_view status) {
  for (size_t i = 0; i < std::size(kTaskStatusOrder); ++i) {
    if (kTaskStatusOrder[i] == status) return static_cast<int>(i);
  }
  return -1;
}

// The key of a cluster's task map: a task id held inline. Task ids are 32 hex digits (NewId), and
// the map compares them on every lookup; inline bytes keep those comparisons inside the map's own
// nodes instead of chasing each key's heap buffer (at a million tasks that chase was a sixth of
// the commit thread's time). Orders like the id strings (ids hold no NUL byte). A longer string
// keeps its first 32 bytes and is marked too long: it equals no stored id, which is what a lookup
// of a malformed id needs; the map itself only ever holds ids of at most 32 bytes.
class TaskId {
 public:
  static constexpr size_t kMaxSize = 32;

  TaskId() = default;
  TaskId(std::string_view id) { Assign(id); }           // NOLINT(google-explicit-constructor)
  TaskId(const std::string& id) { Assign(id); }         // NOLINT(google-explicit-constructor)
  TaskId(const char* id) { Assign(id); }                // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  std::string_view view() const { return {data_, size_ > kMaxSize ? kMaxSize : size_}; }
  std::string str() const { return std::string(view()); }
  bool too_long() const { return size_ > kMaxSize; }

  friend bool operator==(const TaskId& a, const TaskId& b) {
    if (a.size_ != b.size_) return false;
    for (size_t i = 0; i < kMaxSize; i += 8) {
      if (a.Word(i) != b.Word(i)) return false;
    }
    return true;
  }
  template <typename H>
  friend H AbslHashValue(H h, const TaskId& id) {
    return H::combine(std::move(h), id.view(), id.size_);
  }
  friend std::strong_ordering operator<=>(const TaskId& a, const TaskId& b) {
    // Zero-padded bytes, then the size: the order of the strings themselves. Compared as four
    // big-endian words, inline (a call to memcmp per comparison was the top symbol of the ordered
    // sets' inserts).
    for (size_t i = 0; i < kMaxSize; i += 8) {
      const uint64_t x = a.BigEndianWord(i);
      const uint64_t y = b.BigEndianWord(i);
      if (x != y) return x < y ? std::strong_ordering::less : std::strong_ordering::greater;
    }
    return a.size_ <=> b.size_;
  }

 private:
  uint64_t Word(size_t offset) const {
    uint64_t w;
    std::memcpy(&w, data_ + offset, sizeof(w));
    return w;
  }
  // Bytes [offset, offset + 8) as a number that orders like the bytes (as unsigned chars).
  uint64_t BigEndianWord(size_t offset) const {
    const uint64_t w = Word(offset);
    if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(w);
    return w;
  }

  void Assign(std::string_view id) {
    const size_t n = id.size() > kMaxSize ? kMaxSize : id.size();
    std::memcpy(data_, id.data(), n);
    std::memset(data_ + n, 0, kMaxSize - n);
    size_ = static_cast<uint8_t>(id.size() > kMaxSize ? kMaxSize + 1 : id.size());
  }

  char data_[kMaxSize] = {};
  uint8_t size_ = 0;
};

// A version that readers holding the state lock shared may raise. Copied and moved only under the
// exclusive lock (when the map holding it rebalances), so those need no atomicity of their own.
class RaisableVersion {
 public:
  RaisableVersion() = default;
  RaisableVersion(const RaisableVersion& other) : v_(other.get()) {}
  RaisableVersion& operator=(const RaisableVersion& other) {
    v_.store(other.get(), std::memory_order_relaxed);
    return *this;
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }
  void Raise(uint64_t v) {
    uint64_t cur = get();
    while (cur < v && !v_.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
  }

 private:
  std::atomic<uint64_t> v_{0};
};

struct InstanceEntry {
  v1::ContainerInstanceRecord record;
  absl::btree_map<std::string, v1::AttributeRecord> attributes;  // by attribute name
  absl::btree_set<TaskId> task_ids;                              // tasks placed here, not yet STOPPED
  int32_t running_tasks = 0;
  int32_t pending_tasks = 0;
  // A host berthd started for one FARGATE task (attribute berth.fargate-task): hidden from the
  // user's container instance actions.
  bool fargate() const { return attributes.contains(kFargateTaskAttribute); }
  // Version of the desired state its agent polls for: the revision of the last batch that changed
  // what the agent should run (Applier::TouchInstance), or the last revision at load. Not persisted: after a
  // restart every agent is sent its desired state once, and a version an agent holds from before
  // can only equal the loaded one if nothing changed since.
  uint64_t desired_version = 0;
  // The tasks placed here that changed after revision `changes_floor`, as (revision, task id) in
  // revision order: an agent that holds a version at or after the floor is sent only those tasks
  // (a delta), not its whole desired state. Entries the agent has acknowledged (`acked`) are
  // dropped as new ones arrive, and at most kMaxInstanceChanges are kept; an agent further behind
  // is sent everything.
  std::vector<std::pair<uint64_t, TaskId>> changes;
  uint64_t changes_floor = 0;
  // The highest version the agent has polled with (so holds); raised by polls.
  mutable RaisableVersion acked;
};

inline constexpr size_t kMaxInstanceChanges = 4096;

// A task as berthd keeps it in memory: its record encoded exactly as stored (records.proto
// TaskRecord, revision included), plus the two statuses that loops over many tasks test. A
// decoded one-container TaskRecord holds about 1.6 KB of heap in a dozen allocations; its encoding
// is about 250 bytes in one (S4 in docs/benchmarks.md). Reading a task decodes it, about a
// microsecond; code that reads many decodes each into one reused record.
class TaskEntry {
 public:
  // `encoded` must be `record` serialized: callers that write the record to the store anyway pass
  // the bytes they wrote, so a task is serialized once per change.
  TaskEntry(const v1::TaskRecord& record, std::string encoded) { Set(record, std::move(encoded)); }

  // The record, decoded.
  v1::TaskRecord record() const;
  // Decodes into `out`, reusing its allocations (a record kept across a loop).
  void Decode(v1::TaskRecord* out) const;
  // The record as stored.
  const std::string& encoded() const { return encoded_; }

  // task.lastStatus and task.desiredStatus.
  std::string_view last_status() const { return StatusName(last_status_); }
  std::string_view desired_status() const { return StatusName(desired_status_); }
  bool stopped() const { return last_status() == "STOPPED"; }
  bool stopping() const { return desired_status() == "STOPPED"; }

 private:
  friend class State;
  // kTaskStatusOrder's index of a status; kOtherStatus for any other string (the empty one).
  static constexpr uint8_t kOtherStatus = 255;
  static uint8_t StatusIndex(std::string_view status);
  static std::string_view StatusName(uint8_t index);

  void Set(const v1::TaskRecord& record, std::string encoded);

  std::string encoded_;
  uint8_t last_status_ = kOtherStatus;
  uint8_t desired_status_ = kOtherStatus;
};

// A cluster's tasks by id. Lookups (every report, stop, poll and placement touches a task by id)
// go through a hash map of pointer-stable nodes; ListTasks pages through the ids in order, kept in
// a B-tree of ids beside it. A B-tree map alone made each lookup a dozen levels of 80-byte entries,
// three to a node, at a million tasks: the commit thread's top symbol (docs/benchmarks.md).
class TaskMap {
 public:
  using Map = absl::node_hash_map<TaskId, TaskEntry>;
  using iterator = Map::iterator;
  using const_iterator = Map::const_iterator;

  iterator find(const TaskId& id) { return map_.find(id); }
  const_iterator find(const TaskId& id) const { return map_.find(id); }
  iterator end() { return map_.end(); }
  const_iterator end() const { return map_.end(); }
  TaskEntry& at(const TaskId& id) { return map_.at(id); }
  const TaskEntry& at(const TaskId& id) const { return map_.at(id); }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

  // Inserts unless the id is present (then returns the present entry and false).
  std::pair<iterator, bool> emplace(const TaskId& id, TaskEntry entry) {
    auto result = map_.try_emplace(id, std::move(entry));
    if (result.second) ordered_.insert(ordered_.end(), id);  // ids arrive in order at load
    return result;
  }
  void erase(iterator it) {
    ordered_.erase(it->first);
    map_.erase(it);
  }

  // Every id, in order: ListTasks' pages.
  const absl::btree_set<TaskId>& ordered_ids() const { return ordered_; }

 private:
  Map map_;
  absl::btree_set<TaskId> ordered_;
};

struct ServiceEntry {
  v1::ServiceRecord record;
  absl::btree_set<TaskId> task_ids;  // the service's tasks not yet STOPPED
  bool active() const { return record.service().status() != "INACTIVE"; }
};

// A service, named by cluster and service name.
using ServiceKey = std::pair<std::string, std::string>;

struct ClusterEntry {
  v1::ClusterRecord record;
  absl::btree_map<std::string, InstanceEntry> instances;  // by instance id
  TaskMap tasks;                                          // by task id
  absl::btree_map<std::string, ServiceEntry> services;    // by service name (INACTIVE ones too)
  // Services that an instance change may help, besides those with tasks on the instance: DAEMON
  // services, and services with tasks the last pass could not place. Kept by the scheduler.
  absl::btree_set<std::string> instance_watchers;
  placement::ClusterView view;  // ACTIVE and DRAINING instances
  // Tasks waiting for capacity: lastStatus PROVISIONING and not placed yet (docs/capacity.md),
  // by (createdAt, id): first come, first placed.
  absl::btree_set<std::pair<double, TaskId>> provisioning;
  // STOPPED tasks by (stoppedAt, id), for retention.
  absl::btree_set<std::pair<double, std::string>> stopped_tasks;
  int64_t running_tasks = 0;
  int64_t pending_tasks = 0;
  int64_t active_services = 0;
  // Of the instances in the view, the Fargate hosts (not counted as the cluster's instances).
  int64_t fargate_hosts = 0;
  // Only while Load adds tasks (no instance is added then, so the pointers hold): instances by id
  // in a hash map, for the million lookups recovery makes.
  absl::flat_hash_map<std::string_view, InstanceEntry*> load_index;

  bool active() const { return record.cluster().status() == "ACTIVE"; }
  // ACTIVE + DRAINING instances the user sees: those in the placement view but Fargate hosts.
  int64_t registered_instances() const { return static_cast<int64_t>(view.size()) - fargate_hosts; }
};

// What the task indexes and counts read from a task record, taken before and after an update.
struct TaskAccounting {
  explicit TaskAccounting(const v1::TaskRecord& record);
  // Same instance, service and hold (resources, ports, group): the task's place in the indexes
  // does not depend on its status while it is not STOPPED.
  bool SamePlace(const TaskAccounting& other) const;

  std::string status;
  std::string service;
  std::string instance;
  double stopped_at = 0;
  placement::TaskHold hold;
};

struct FamilyEntry {
  absl::btree_map<uint32_t, v1::TaskDefinitionRecord> revisions;
  uint32_t last_revision = 0;  // highest revision ever registered (never reused)
  int32_t active_revisions = 0;
};

// The layout of records and keys this berthd reads and writes (meta key "schema_version").
// A store written by a newer berthd is refused rather than misread.
inline constexpr uint64_t kSchemaVersion = 1;

class Applier;

// Read-only to everyone but Applier (state/applier.h), the one way to change it, and Load.
class State {
 public:
  // Rebuilds everything from the store. `last_revision` receives the highest committed revision.
  // FailedPrecondition when the store's schema version is not kSchemaVersion.
  absl::Status Load(store::Store& store, uint64_t* last_revision);

  // The store's schema version as loaded; 0 for a store never bootstrapped.
  uint64_t schema_version() const { return schema_version_; }

  // Lookups: nullptr when absent.
  const ClusterEntry* FindCluster(std::string_view name) const;
  const FamilyEntry* FindFamily(std::string_view family) const;
  const v1::TaskDefinitionRecord* FindTaskDefinition(std::string_view family, uint32_t revision) const;
  // Latest ACTIVE revision of a family.
  const v1::TaskDefinitionRecord* LatestActive(std::string_view family) const;
  // Capacity providers (account-wide), ACTIVE and INACTIVE ones, by name.
  const v1::CapacityProviderRecord* FindCapacityProvider(std::string_view name) const;
  const std::map<std::string, v1::CapacityProviderRecord, std::less<>>& capacity_providers() const {
    return capacity_providers_;
  }

  const std::map<std::string, std::unique_ptr<ClusterEntry>, std::less<>>& clusters() const { return clusters_; }
  const std::map<std::string, FamilyEntry, std::less<>>& families() const { return families_; }

  int64_t task_count() const { return task_count_; }
  int64_t instance_count() const { return instance_count_; }
  int64_t task_definition_count() const { return task_definition_count_; }

  // Notes, for the agent's next delta, that task `id` on `instance` changed at `revision`.
  static void NoteTaskChange(InstanceEntry& instance, uint64_t revision, const TaskId& id);

 private:
  friend class Applier;

  ClusterEntry* MutableCluster(std::string_view name) {
    return const_cast<ClusterEntry*>(std::as_const(*this).FindCluster(name));
  }
  FamilyEntry& Family(std::string_view family);
  ClusterEntry& AddCluster(v1::ClusterRecord record);
  // Adds a capacity provider or replaces its record.
  v1::CapacityProviderRecord& PutCapacityProvider(v1::CapacityProviderRecord record);

  // Task accounting: every change of a task's lastStatus, instance or existence goes through these
  // so that counts, instance task sets and ClusterView reservations stay consistent.
  // `encoded` is `record` serialized (what the caller stores).
  TaskEntry& AddTask(ClusterEntry& cluster, const v1::TaskRecord& record, std::string encoded);
  // The same with `accounting` = TaskAccounting(record), computed by the caller (Load computes it
  // on its reading thread).
  TaskEntry& AddTask(ClusterEntry& cluster, const v1::TaskRecord& record, std::string encoded,
                     const TaskAccounting& accounting);
  // Applies `update` to the task's record; when it returns true (it changed the record; false
  // means it changed nothing), re-encodes the task and re-accounts it (releasing its reservation
  // when it reaches STOPPED). Returns what `update` returned.
  bool UpdateTask(ClusterEntry& cluster, TaskEntry& task, const std::function<bool(v1::TaskRecord&)>& update);
  // Forgets a task (retention expired).
  void RemoveTask(ClusterEntry& cluster, const std::string& task_id);

  // Adds a service, or replaces the record of an existing one (keeping its task index).
  ServiceEntry& PutService(ClusterEntry& cluster, v1::ServiceRecord record);
  // Forgets an INACTIVE service (retention expired).
  void RemoveService(ClusterEntry& cluster, const std::string& name);

  // What the service scheduler must look at: services whose tasks or instances changed since
  // the last call (every service of a cluster whose instances changed), and service tasks that
  // reached STOPPED (cluster, task id), in order. Both are cleared by the call.
  absl::btree_set<ServiceKey> TakeDirtyServices() { return std::exchange(dirty_services_, {}); }
  std::vector<std::pair<std::string, std::string>> TakeStoppedServiceTasks() {
    return std::exchange(stopped_service_tasks_, {});
  }

  InstanceEntry& AddInstance(ClusterEntry& cluster, v1::ContainerInstanceRecord record);
  // Re-derives the instance's ClusterView entry after a status or resource change.
  void RefreshInstanceView(ClusterEntry& cluster, InstanceEntry& instance);

  // Adds (sign +1) or removes (-1) the task described by `a` (a snapshot of `record`, whose id and
  // cluster it uses) to or from every count and index.
  void Account(ClusterEntry& cluster, const v1::TaskRecord& record, const TaskAccounting& a, int sign);
  // Load's last step: every task, read and parsed on a second thread.
  absl::Status LoadTasks(store::Store& store);
  // Moves the counts of a task whose status changed within the non-STOPPED ones, in place.
  void Recount(ClusterEntry& cluster, const v1::TaskRecord& record, const TaskAccounting& before,
               const TaskAccounting& after);

  std::map<std::string, std::unique_ptr<ClusterEntry>, std::less<>> clusters_;
  std::map<std::string, FamilyEntry, std::less<>> families_;
  std::map<std::string, v1::CapacityProviderRecord, std::less<>> capacity_providers_;
  uint64_t schema_version_ = 0;
  int64_t task_count_ = 0;
  int64_t instance_count_ = 0;
  int64_t task_definition_count_ = 0;
  absl::btree_set<ServiceKey> dirty_services_;
  std::vector<std::pair<std::string, std::string>> stopped_service_tasks_;
  v1::TaskRecord scratch_;  // UpdateTask's decoded record, kept for its allocations
};

// The placement demand stored in a record, as the placement library's struct.
placement::TaskDemand ToDemand(const v1::ResourceDemand& demand);
// A task's full hold on its instance: reservation, dynamic ports, group.
placement::TaskHold TaskHold(const v1::TaskRecord& record);

}  // namespace berth::controlplane
