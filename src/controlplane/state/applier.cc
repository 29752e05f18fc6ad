#include "src/controlplane/state/applier.h"

#include <utility>

#include "berth/common/status.h"
#include "berth/store/keys.h"

namespace berth::controlplane {
namespace {

template <typename Record>
std::string Serialize(Record& record, uint64_t revision) {
  record.set_revision(revision);
  return record.SerializeAsString();
}

// Notes the change for the delta of the agent of the task's instance, when it has one.
void NoteTaskChange(ClusterEntry& cluster, const std::string& instance_id, uint64_t revision, const TaskId& id) {
  if (instance_id.empty()) return;
  auto it = cluster.instances.find(instance_id);
  if (it != cluster.instances.end()) State::NoteTaskChange(it->second, revision, id);
}

}  // namespace

const ClusterEntry& Applier::AddCluster(v1::ClusterRecord record) {
  ClusterEntry& cluster = state_.AddCluster(std::move(record));
  edited_clusters_.insert(cluster.record.cluster().cluster_name());
  return cluster;
}

v1::ClusterRecord& Applier::EditCluster(const ClusterEntry& cluster) {
  edited_clusters_.insert(cluster.record.cluster().cluster_name());
  return Mutable(cluster).record;
}

const InstanceEntry& Applier::AddInstance(const ClusterEntry& cluster, v1::ContainerInstanceRecord record) {
  InstanceEntry& instance = state_.AddInstance(Mutable(cluster), std::move(record));
  edited_instances_.insert({instance.record.cluster(), instance.record.id()});
  return instance;
}

v1::ContainerInstanceRecord& Applier::EditInstance(const ClusterEntry& /*cluster*/, const InstanceEntry& instance) {
  edited_instances_.insert({instance.record.cluster(), instance.record.id()});
  return Mutable(instance).record;
}

void Applier::RefreshInstanceView(const ClusterEntry& cluster, const InstanceEntry& instance) {
  state_.RefreshInstanceView(Mutable(cluster), Mutable(instance));
}

void Applier::PreparePlacement(const ClusterEntry& cluster, const placement::PlacementRequest& request) {
  placement::Engine::Prepare(Mutable(cluster).view, request);
}

void Applier::TouchInstance(const InstanceEntry& instance) {
  Mutable(instance).desired_version = txn_.revision();
  txn_.Touch(instance.record.cluster(), instance.record.id());
}

const v1::AttributeRecord& Applier::PutAttribute(const ClusterEntry& /*cluster*/, const InstanceEntry& instance,
                                                 v1::AttributeRecord record) {
  std::string name = record.attribute().name();
  txn_.batch().Put(store::Table::kAttributes,
                   store::AttributeKey(instance.record.cluster(), instance.record.id(), name),
                   Serialize(record, txn_.revision()));
  return Mutable(instance).attributes.insert_or_assign(std::move(name), std::move(record)).first->second;
}

void Applier::DeleteAttribute(const ClusterEntry& /*cluster*/, const InstanceEntry& instance, const std::string& name) {
  InstanceEntry& mutable_instance = Mutable(instance);
  auto it = mutable_instance.attributes.find(name);
  if (it == mutable_instance.attributes.end()) return;
  mutable_instance.attributes.erase(it);
  txn_.batch().Delete(store::Table::kAttributes,
                      store::AttributeKey(instance.record.cluster(), instance.record.id(), name));
}

const TaskEntry& Applier::AddTask(const ClusterEntry& cluster, v1::TaskRecord& record) {
  std::string encoded = Serialize(record, txn_.revision());
  txn_.batch().Put(store::Table::kTasks, store::TaskKey(record.cluster(), record.id()), encoded);
  NoteTaskChange(Mutable(cluster), record.container_instance_id(), txn_.revision(), record.id());
  return state_.AddTask(Mutable(cluster), record, std::move(encoded));
}

bool Applier::UpdateTask(const ClusterEntry& cluster, const TaskEntry& task,
                         const std::function<bool(v1::TaskRecord&)>& update) {
  std::string key;
  std::string instance_before;
  std::string instance_after;
  TaskId id;
  const bool changed = state_.UpdateTask(Mutable(cluster), const_cast<TaskEntry&>(task), [&](v1::TaskRecord& r) {
    instance_before = r.container_instance_id();
    if (!update(r)) return false;
    r.set_revision(txn_.revision());
    key = store::TaskKey(r.cluster(), r.id());
    instance_after = r.container_instance_id();
    id = r.id();
    return true;
  });
  if (!changed) return false;
  txn_.batch().Put(store::Table::kTasks, std::move(key), task.encoded());
  NoteTaskChange(Mutable(cluster), instance_after, txn_.revision(), id);
  if (instance_before != instance_after) NoteTaskChange(Mutable(cluster), instance_before, txn_.revision(), id);
  return true;
}

void Applier::RemoveTask(const ClusterEntry& cluster, const std::string& task_id) {
  state_.RemoveTask(Mutable(cluster), task_id);
  txn_.batch().Delete(store::Table::kTasks, store::TaskKey(cluster.record.cluster().cluster_name(), task_id));
}

const ServiceEntry& Applier::PutService(const ClusterEntry& cluster, v1::ServiceRecord record) {
  ServiceEntry& service = state_.PutService(Mutable(cluster), std::move(record));
  edited_services_.insert({service.record.cluster(), service.record.service().service_name()});
  return service;
}

bool Applier::UpdateService(const ClusterEntry& cluster, const ServiceEntry& service,
                            const std::function<bool(v1::ServiceRecord&)>& update) {
  ServiceEntry& entry = const_cast<ServiceEntry&>(service);
  const bool was_active = entry.active();
  if (!update(entry.record)) return false;
  edited_services_.insert({entry.record.cluster(), entry.record.service().service_name()});
  Mutable(cluster).active_services += static_cast<int>(entry.active()) - static_cast<int>(was_active);
  return true;
}

void Applier::RemoveService(const ClusterEntry& cluster, const std::string& name) {
  const std::string& cluster_name = cluster.record.cluster().cluster_name();
  state_.RemoveService(Mutable(cluster), name);
  edited_services_.erase({cluster_name, name});
  txn_.batch().Delete(store::Table::kServices, store::ServiceKey(cluster_name, name));
}

void Applier::WatchInstances(const ClusterEntry& cluster, const std::string& service, bool watch) {
  if (watch) {
    Mutable(cluster).instance_watchers.insert(service);
  } else {
    Mutable(cluster).instance_watchers.erase(service);
  }
}

const v1::TaskDefinitionRecord& Applier::AddTaskDefinition(v1::TaskDefinitionRecord record) {
  FamilyEntry& family = state_.Family(record.task_definition().family());
  const uint32_t revision = family.last_revision + 1;
  record.mutable_task_definition()->set_revision(static_cast<int32_t>(revision));
  family.last_revision = revision;
  if (record.task_definition().status() == "ACTIVE") family.active_revisions++;
  ++state_.task_definition_count_;
  auto& stored = family.revisions.emplace(revision, std::move(record)).first->second;
  txn_.batch().Put(store::Table::kTaskDefinitions,
                   store::TaskDefinitionKey(stored.task_definition().family(), revision),
                   Serialize(stored, txn_.revision()));
  return stored;
}

v1::TaskDefinitionRecord& Applier::EditTaskDefinition(const v1::TaskDefinitionRecord& record) {
  const auto& td = record.task_definition();
  edited_task_definitions_.insert({td.family(), static_cast<uint32_t>(td.revision())});
  return const_cast<v1::TaskDefinitionRecord&>(record);
}

bool Applier::DeregisterTaskDefinition(const v1::TaskDefinitionRecord& record, double deregistered_at) {
  if (record.task_definition().status() != "ACTIVE") return false;
  v1::TaskDefinitionRecord& rec = EditTaskDefinition(record);
  rec.mutable_task_definition()->set_status("INACTIVE");
  rec.mutable_task_definition()->set_deregistered_at(deregistered_at);
  state_.Family(rec.task_definition().family()).active_revisions--;
  return true;
}

void Applier::PutCapacityProvider(v1::CapacityProviderRecord record) {
  std::string key = store::CapacityProviderKey(record.capacity_provider().name());
  txn_.batch().Put(store::Table::kCapacityProviders, std::move(key), Serialize(record, txn_.revision()));
  state_.PutCapacityProvider(std::move(record));
}

void Applier::SetSchemaVersion(uint64_t version) {
  state_.schema_version_ = version;
  txn_.batch().Put(store::Table::kMeta, std::string(store::kSchemaVersionKey), EncodeRevision(version));
}

void Applier::Finish() {
  const uint64_t revision = txn_.revision();
  for (const std::string& name : std::exchange(edited_clusters_, {})) {
    ClusterEntry* cluster = state_.MutableCluster(name);
    if (cluster == nullptr) continue;
    txn_.batch().Put(store::Table::kClusters, store::ClusterKey(name), Serialize(cluster->record, revision));
  }
  for (const auto& [cluster_name, id] : std::exchange(edited_instances_, {})) {
    ClusterEntry* cluster = state_.MutableCluster(cluster_name);
    if (cluster == nullptr) continue;
    auto it = cluster->instances.find(id);
    if (it == cluster->instances.end()) continue;
    txn_.batch().Put(store::Table::kContainerInstances, store::ContainerInstanceKey(cluster_name, id),
                     Serialize(it->second.record, revision));
  }
  for (const auto& [cluster_name, name] : std::exchange(edited_services_, {})) {
    ClusterEntry* cluster = state_.MutableCluster(cluster_name);
    if (cluster == nullptr) continue;
    auto it = cluster->services.find(name);
    if (it == cluster->services.end()) continue;
    txn_.batch().Put(store::Table::kServices, store::ServiceKey(cluster_name, name),
                     Serialize(it->second.record, revision));
  }
  for (const auto& [family, number] : std::exchange(edited_task_definitions_, {})) {
    auto f = state_.families_.find(family);
    if (f == state_.families_.end()) continue;
    auto it = f->second.revisions.find(number);
    if (it == f->second.revisions.end()) continue;
    txn_.batch().Put(store::Table::kTaskDefinitions, store::TaskDefinitionKey(family, number),
                     Serialize(it->second, revision));
  }
}

Proposal MakeProposal(State* state, std::function<absl::Status(Applier&)> apply,
                      std::function<void(absl::Status)> done) {
  return Proposal{[state, apply = std::move(apply)](Txn& txn) -> absl::Status {
                    Applier applier(*state, txn);
                    absl::Status status = apply(applier);
                    if (status.ok()) applier.Finish();
                    return status;
                  },
                  std::move(done)};
}

std::function<void(Txn&)> MakeBatchHook(State* state, std::function<void(Applier&)> hook) {
  return [state, hook = std::move(hook)](Txn& txn) {
    Applier applier(*state, txn);
    hook(applier);
    applier.Finish();
  };
}

}  // namespace berth::controlplane
