// Applier: the one way to change control-plane state.
//
// A proposal's apply (and the pipeline's batch hook) receives an Applier bound to the in-memory
// State and the batch being built. Every mutation goes through it and records itself in both:
//   - records are changed in memory through Add*/Put* (which also write them) or Edit* (which hand
//     out the record to change and mark it for writing); Finish() writes every edited record once,
//     stamped with the batch's revision, so a record changed three times in a proposal is written
//     once and none is forgotten;
//   - tasks, deletions, attributes and capacity providers are written as they change;
//   - the indexes derived from records (counts, instance task sets, the placement view, the
//     scheduler's queues) are kept by State behind it.
// State's public interface is read-only and Txn's batch is closed to everyone but the pipeline and
// the Applier, so no handler can change memory without writing it, or write without changing
// memory. This is also the unit a replicated store ships to its followers: the batch is derived
// from the mutations.
//
// Thread safety: used on the pipeline's apply thread only, with the state lock held exclusively.
// Entries handed out stay valid until the next mutation of the same container (instances and
// services live in B-trees: adding one may move its neighbours); code holds keys across
// mutations, not pointers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "berth/placement/engine.h"
#include "src/controlplane/state/pipeline.h"
#include "src/controlplane/state/state.h"

namespace berth::controlplane {

class Applier {
 public:
  // `state` and `txn` must outlive the Applier.
  Applier(State& state, Txn& txn) : state_(state), txn_(txn) {}
  Applier(const Applier&) = delete;
  Applier& operator=(const Applier&) = delete;

  // The revision every record written in this batch carries.
  uint64_t revision() const { return txn_.revision(); }
  const State& state() const { return state_; }

  // --- Clusters ---
  const ClusterEntry& AddCluster(v1::ClusterRecord record);
  v1::ClusterRecord& EditCluster(const ClusterEntry& cluster);

  // --- Container instances and their attributes ---
  const InstanceEntry& AddInstance(const ClusterEntry& cluster, v1::ContainerInstanceRecord record);
  // The record to change; written at Finish(). Call RefreshInstanceView after changing what
  // placement sees (status, resources, connectivity, attributes).
  v1::ContainerInstanceRecord& EditInstance(const ClusterEntry& cluster, const InstanceEntry& instance);
  void RefreshInstanceView(const ClusterEntry& cluster, const InstanceEntry& instance);
  // The instance's desired state changed: its version becomes this batch's revision and its
  // agent's long poll is woken once the batch is durable.
  void TouchInstance(const InstanceEntry& instance);
  // Adds or replaces an attribute (the record's cluster and instance fields are the caller's).
  const v1::AttributeRecord& PutAttribute(const ClusterEntry& cluster, const InstanceEntry& instance,
                                          v1::AttributeRecord record);
  void DeleteAttribute(const ClusterEntry& cluster, const InstanceEntry& instance, const std::string& name);

  // Builds the placement indexes `request`'s strategies use in the cluster's view (a cache of the
  // view: nothing durable changes).
  void PreparePlacement(const ClusterEntry& cluster, const placement::PlacementRequest& request);

  // --- Tasks ---
  const TaskEntry& AddTask(const ClusterEntry& cluster, v1::TaskRecord& record);
  // Applies `update` to the task's record; when it returns true (it changed the record), stamps
  // the revision, writes the task and notes the change for its agent. Returns what `update` did.
  bool UpdateTask(const ClusterEntry& cluster, const TaskEntry& task,
                  const std::function<bool(v1::TaskRecord&)>& update);
  // Deletes a task (STOPPED past its retention).
  void RemoveTask(const ClusterEntry& cluster, const std::string& task_id);

  // --- Services ---
  // Adds a service, or replaces the record of an existing one; written at Finish().
  const ServiceEntry& PutService(const ClusterEntry& cluster, v1::ServiceRecord record);
  // Applies `update` to the service's record; when it returns true (it changed the record), the
  // record is written at Finish() and the cluster's count of active services follows its status.
  // Returns what `update` returned.
  bool UpdateService(const ClusterEntry& cluster, const ServiceEntry& service,
                     const std::function<bool(v1::ServiceRecord&)>& update);
  // Deletes an INACTIVE service (retention expired).
  void RemoveService(const ClusterEntry& cluster, const std::string& name);
  // Whether the service is woken by every change of the cluster's instances (DAEMON services and
  // services with tasks left to place). Memory only: the scheduler re-derives it.
  void WatchInstances(const ClusterEntry& cluster, const std::string& service, bool watch);
  // The scheduler's queues (State::TakeDirtyServices, State::TakeStoppedServiceTasks).
  absl::btree_set<ServiceKey> TakeDirtyServices() { return state_.TakeDirtyServices(); }
  std::vector<std::pair<std::string, std::string>> TakeStoppedServiceTasks() {
    return state_.TakeStoppedServiceTasks();
  }

  // --- Task definitions ---
  // Registers `record` as its family's next revision (set here); written at once.
  const v1::TaskDefinitionRecord& AddTaskDefinition(v1::TaskDefinitionRecord record);
  // The record to change (its tags); written at Finish(). Status changes go through
  // DeregisterTaskDefinition, which keeps the family's counts.
  v1::TaskDefinitionRecord& EditTaskDefinition(const v1::TaskDefinitionRecord& record);
  // Marks an ACTIVE revision INACTIVE (`deregistered_at` in seconds); written at once. False when
  // it was not ACTIVE (nothing changed).
  bool DeregisterTaskDefinition(const v1::TaskDefinitionRecord& record, double deregistered_at);

  // --- Capacity providers ---
  // Adds a capacity provider or replaces its record; written at once.
  void PutCapacityProvider(v1::CapacityProviderRecord record);

  // --- The store's layout ---
  void SetSchemaVersion(uint64_t version);

  // Writes every record edited since the last call, stamped with the revision. The proposal
  // wrapper (MakeProposal) and the batch hook call it after a successful apply.
  void Finish();

 private:
  ClusterEntry& Mutable(const ClusterEntry& cluster) { return const_cast<ClusterEntry&>(cluster); }
  InstanceEntry& Mutable(const InstanceEntry& instance) { return const_cast<InstanceEntry&>(instance); }

  State& state_;
  Txn& txn_;
  // Edited records, by key, written at Finish().
  absl::btree_set<std::string> edited_clusters_;
  absl::btree_set<std::pair<std::string, std::string>> edited_instances_;
  absl::btree_set<std::pair<std::string, std::string>> edited_services_;
  absl::btree_set<std::pair<std::string, uint32_t>> edited_task_definitions_;
};

// A proposal whose apply works through an Applier: the only kind the control plane's actions
// submit. Finish() runs when `apply` succeeded.
Proposal MakeProposal(State* state, std::function<absl::Status(Applier&)> apply,
                      std::function<void(absl::Status)> done);
// The pipeline's batch hook, given an Applier the same way.
std::function<void(Txn&)> MakeBatchHook(State* state, std::function<void(Applier&)> hook);

}  // namespace berth::controlplane
