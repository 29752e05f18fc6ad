#include "src/controlplane/state/state.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/escaping.h"
#include "berth/common/logging.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/store/keys.h"
#include "src/controlplane/state/pipeline.h"

namespace berth::controlplane {
namespace {

bool IsPendingStatus(std::string_view s) { return s == "PROVISIONING" || s == "PENDING" || s == "ACTIVATING"; }

template <typename Record>
absl::Status ParseRecord(std::string_view table, std::string_view key, std::string_view value, Record* out) {
  if (!out->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(StrCat("store table '", table, "': record at key '", absl::CHexEscape(ToAbsl(key)),
                                      "' does not parse as ", Record::descriptor()->full_name()));
  }
  return absl::OkStatus();
}

// The placement view of an instance's registration: resources, reserved ports, attributes.
void Registration(const InstanceEntry& instance, placement::InstanceView* view) {
  const auto& ci = instance.record.instance();
  for (const auto& r : ci.registered_resources()) {
    if (r.name() == "CPU") {
      view->cpu_total = r.integer_value();
    } else if (r.name() == "MEMORY") {
      view->memory_total = r.integer_value();
    } else if (r.name() == "GPU") {
      // ECS registers GPUs as a STRINGSET of device ids; an INTEGER count is accepted too.
      view->gpu_total =
          r.string_set_value_size() > 0 ? r.string_set_value_size() : static_cast<int32_t>(r.integer_value());
    } else if (r.name() == "ENI") {
      view->eni_total = static_cast<int32_t>(r.integer_value());
    } else if (r.name() == "PORTS" || r.name() == "PORTS_UDP") {
      auto& reserved = r.name() == "PORTS" ? view->tcp_ports_reserved : view->udp_ports_reserved;
      for (const auto& p : r.string_set_value()) {
        int32_t port = 0;
        if (ParseInt(p, &port)) reserved.insert(port);
      }
    }
  }
  for (const auto& [name, rec] : instance.attributes) view->attributes[name] = rec.attribute().value();
  // ECS Anywhere instances are SSM managed instances ("mi-..."), or say so by attribute.
  if (view->attributes.contains(kFargateTaskAttribute)) {
    view->launch_type = placement::LaunchType::kFargate;
  } else if (ci.ec2_instance_id().rfind("mi-", 0) == 0 || view->attributes.contains(kExternalAttribute)) {
    view->launch_type = placement::LaunchType::kExternal;
  }
  view->agent_version = ci.version_info().agent_version();
  view->ec2_instance_id = ci.ec2_instance_id();
  view->registered_at = ci.registered_at();
}

}  // namespace

placement::LaunchType LaunchTypeOf(std::string_view launch_type) {
  if (launch_type == "EXTERNAL") return placement::LaunchType::kExternal;
  if (launch_type == "FARGATE") return placement::LaunchType::kFargate;
  return placement::LaunchType::kEc2;
}

placement::TaskDemand ToDemand(const v1::ResourceDemand& d) {
  placement::TaskDemand out;
  out.cpu = d.cpu();
  out.memory = d.memory();
  out.gpus = d.gpus();
  out.eni = d.eni();
  out.tcp_ports.assign(d.tcp_ports().begin(), d.tcp_ports().end());
  out.udp_ports.assign(d.udp_ports().begin(), d.udp_ports().end());
  out.dynamic_tcp_ports = d.dynamic_tcp_ports();
  out.dynamic_udp_ports = d.dynamic_udp_ports();
  return out;
}

placement::TaskHold TaskHold(const v1::TaskRecord& record) {
  const v1::ResourceDemand& d = record.reservation();
  placement::TaskHold out;
  out.cpu = d.cpu();
  out.memory = d.memory();
  out.gpus = d.gpus();
  out.eni = d.eni();
  out.tcp_ports.assign(d.tcp_ports().begin(), d.tcp_ports().end());
  out.tcp_ports.insert(out.tcp_ports.end(), record.dynamic_tcp_ports().begin(), record.dynamic_tcp_ports().end());
  out.udp_ports.assign(d.udp_ports().begin(), d.udp_ports().end());
  out.udp_ports.insert(out.udp_ports.end(), record.dynamic_udp_ports().begin(), record.dynamic_udp_ports().end());
  out.group = record.task().group();
  out.running = record.task().last_status() == "RUNNING";
  return out;
}

const ClusterEntry* State::FindCluster(std::string_view name) const {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second.get();
}

const FamilyEntry* State::FindFamily(std::string_view family) const {
  auto it = families_.find(family);
  return it == families_.end() ? nullptr : &it->second;
}

const v1::TaskDefinitionRecord* State::FindTaskDefinition(std::string_view family, uint32_t revision) const {
  const FamilyEntry* f = FindFamily(family);
  if (f == nullptr) return nullptr;
  auto it = f->revisions.find(revision);
  return it == f->revisions.end() ? nullptr : &it->second;
}

const v1::TaskDefinitionRecord* State::LatestActive(std::string_view family) const {
  const FamilyEntry* f = FindFamily(family);
  if (f == nullptr) return nullptr;
  for (auto it = f->revisions.rbegin(); it != f->revisions.rend(); ++it) {
    if (it->second.task_definition().status() == "ACTIVE") return &it->second;
  }
  return nullptr;
}

const v1::CapacityProviderRecord* State::FindCapacityProvider(std::string_view name) const {
  auto it = capacity_providers_.find(name);
  return it == capacity_providers_.end() ? nullptr : &it->second;
}

v1::CapacityProviderRecord& State::PutCapacityProvider(v1::CapacityProviderRecord record) {
  std::string name = record.capacity_provider().name();
  v1::CapacityProviderRecord& slot = capacity_providers_[name];
  slot = std::move(record);
  return slot;
}

ClusterEntry& State::AddCluster(v1::ClusterRecord record) {
  auto entry = std::make_unique<ClusterEntry>();
  entry->record = std::move(record);
  std::string name = entry->record.cluster().cluster_name();
  auto [it, inserted] = clusters_.emplace(name, std::move(entry));
  BERTH_CHECK_MSG(inserted, "AddCluster on an existing cluster");
  return *it->second;
}

FamilyEntry& State::Family(std::string_view family) {
  auto it = families_.find(family);
  if (it != families_.end()) return it->second;
  return families_.emplace(std::string(family), FamilyEntry{}).first->second;
}

TaskAccounting::TaskAccounting(const v1::TaskRecord& record)
    : status(record.task().last_status()),
      service(record.service()),
      instance(record.container_instance_id()),
      stopped_at(record.task().stopped_at()),
      hold(TaskHold(record)) {}

bool TaskAccounting::SamePlace(const TaskAccounting& other) const {
  return instance == other.instance && service == other.service && hold.cpu == other.hold.cpu &&
         hold.memory == other.hold.memory && hold.gpus == other.hold.gpus && hold.eni == other.hold.eni &&
         hold.tcp_ports == other.hold.tcp_ports && hold.udp_ports == other.hold.udp_ports &&
         hold.group == other.hold.group;
}

namespace {

InstanceEntry* FindInstance(ClusterEntry& cluster, const std::string& id) {
  if (id.empty()) return nullptr;
  if (!cluster.load_index.empty()) {
    auto it = cluster.load_index.find(id);
    return it == cluster.load_index.end() ? nullptr : it->second;
  }
  auto it = cluster.instances.find(id);
  return it == cluster.instances.end() ? nullptr : &it->second;
}

// Moves the cluster's and the instance's (when known) pending or running count by `sign`.
void CountStatus(ClusterEntry& cluster, InstanceEntry* inst, const std::string& status, int sign) {
  if (IsPendingStatus(status)) {
    cluster.pending_tasks += sign;
    if (inst != nullptr) inst->pending_tasks += sign;
  } else if (status == "RUNNING") {
    cluster.running_tasks += sign;
    if (inst != nullptr) inst->running_tasks += sign;
  }
}

}  // namespace

void State::Recount(ClusterEntry& cluster, const v1::TaskRecord& record, const TaskAccounting& before,
                    const TaskAccounting& after) {
  InstanceEntry* inst = FindInstance(cluster, after.instance);
  CountStatus(cluster, inst, before.status, -1);
  CountStatus(cluster, inst, after.status, +1);
  if (inst != nullptr && before.hold.running != after.hold.running && cluster.view.Find(after.instance) != nullptr) {
    cluster.view.AdjustRunning(after.instance, after.hold.running ? 1 : -1);
  }
  if (!after.service.empty() && cluster.services.contains(after.service)) {
    dirty_services_.insert({record.cluster(), after.service});
  }
}

void State::Account(ClusterEntry& cluster, const v1::TaskRecord& record, const TaskAccounting& a, int sign) {
  const std::string& status = a.status;
  if (!a.service.empty()) {
    auto svc = cluster.services.find(a.service);
    if (svc != cluster.services.end()) {
      if (status != "STOPPED") {
        if (sign > 0) {
          svc->second.task_ids.insert(record.id());
        } else {
          svc->second.task_ids.erase(record.id());
        }
      }
      if (sign > 0) dirty_services_.insert({record.cluster(), a.service});
    }
  }
  if (status == "STOPPED") {
    std::pair<double, std::string> key{a.stopped_at, record.id()};
    if (sign > 0) {
      cluster.stopped_tasks.insert(std::move(key));
    } else {
      cluster.stopped_tasks.erase(key);
    }
    return;
  }
  if (a.instance.empty() && status == "PROVISIONING") {
    std::pair<double, TaskId> key{record.task().created_at(), TaskId(record.id())};
    if (sign > 0) {
      cluster.provisioning.insert(key);
    } else {
      cluster.provisioning.erase(key);
    }
  }
  InstanceEntry* inst = FindInstance(cluster, a.instance);
  CountStatus(cluster, inst, status, sign);
  if (inst == nullptr) return;
  if (sign > 0) {
    inst->task_ids.insert(inst->task_ids.end(), record.id());
  } else {
    inst->task_ids.erase(record.id());
  }
  if (cluster.view.Find(a.instance) != nullptr) {
    if (sign > 0) {
      cluster.view.Reserve(a.instance, a.hold);
    } else {
      cluster.view.Release(a.instance, a.hold);
    }
  }
}

uint8_t TaskEntry::StatusIndex(std::string_view status) {
  const int rank = TaskStatusRank(status);
  return rank < 0 ? kOtherStatus : static_cast<uint8_t>(rank);
}

std::string_view TaskEntry::StatusName(uint8_t index) {
  return index < std::size(kTaskStatusOrder) ? kTaskStatusOrder[index] : std::string_view();
}

void TaskEntry::Set(const v1::TaskRecord& record, std::string encoded) {
  encoded_ = std::move(encoded);
  encoded_.shrink_to_fit();
  last_status_ = StatusIndex(record.task().last_status());
  desired_status_ = StatusIndex(record.task().desired_status());
}

void TaskEntry::Decode(v1::TaskRecord* out) const {
  // The bytes are berthd's own serialization of a record it held: failing to parse them is memory
  // corruption, not bad input.
  const bool parsed = out->ParseFromString(encoded_);
  BERTH_CHECK_MSG(parsed, "a task's encoded record does not parse");
}

v1::TaskRecord TaskEntry::record() const {
  v1::TaskRecord out;
  Decode(&out);
  return out;
}

TaskEntry& State::AddTask(ClusterEntry& cluster, const v1::TaskRecord& record, std::string encoded) {
  return AddTask(cluster, record, std::move(encoded), TaskAccounting(record));
}

TaskEntry& State::AddTask(ClusterEntry& cluster, const v1::TaskRecord& record, std::string encoded,
                          const TaskAccounting& accounting) {
  const TaskId key(record.id());
  BERTH_CHECK_MSG(!key.too_long(), "AddTask with a task id longer than 32 bytes");
  auto [it, inserted] = cluster.tasks.emplace(key, TaskEntry(record, std::move(encoded)));
  BERTH_CHECK_MSG(inserted, "AddTask with an existing task id");
  Account(cluster, record, accounting, +1);
  ++task_count_;
  return it->second;
}

bool State::UpdateTask(ClusterEntry& cluster, TaskEntry& task, const std::function<bool(v1::TaskRecord&)>& update) {
  v1::TaskRecord& record = scratch_;
  task.Decode(&record);
  const TaskAccounting before(record);
  if (!update(record)) return false;
  task.Set(record, record.SerializeAsString());
  const TaskAccounting after(record);
  const bool was_stopped = before.status == "STOPPED";
  const bool is_stopped = after.status == "STOPPED";
  if (!was_stopped && !is_stopped && before.SamePlace(after)) {
    // The common case (an agent reporting PENDING -> RUNNING): the task keeps its place in every
    // index; only the counts move.
    Recount(cluster, record, before, after);
    return true;
  }
  Account(cluster, record, before, -1);
  Account(cluster, record, after, +1);
  if (!was_stopped && !record.service().empty() && is_stopped) {
    stopped_service_tasks_.emplace_back(record.cluster(), record.id());
  }
  return true;
}

ServiceEntry& State::PutService(ClusterEntry& cluster, v1::ServiceRecord record) {
  std::string name = record.service().service_name();
  dirty_services_.insert({cluster.record.cluster().cluster_name(), name});
  auto [it, inserted] = cluster.services.try_emplace(std::move(name));
  const bool was_active = !inserted && it->second.active();
  it->second.record = std::move(record);
  cluster.active_services += static_cast<int>(it->second.active()) - static_cast<int>(was_active);
  return it->second;
}

void State::RemoveService(ClusterEntry& cluster, const std::string& name) {
  auto it = cluster.services.find(name);
  if (it == cluster.services.end()) return;
  if (it->second.active()) --cluster.active_services;
  cluster.instance_watchers.erase(name);
  cluster.services.erase(it);
}

void State::RemoveTask(ClusterEntry& cluster, const std::string& task_id) {
  auto it = cluster.tasks.find(task_id);
  if (it == cluster.tasks.end()) return;
  const v1::TaskRecord record = it->second.record();
  Account(cluster, record, TaskAccounting(record), -1);
  cluster.tasks.erase(it);
  --task_count_;
}

void State::NoteTaskChange(InstanceEntry& instance, uint64_t revision, const TaskId& id) {
  auto& changes = instance.changes;
  // Drops the entries up to `floor`: no delta is sent from before it any more.
  auto drop_through = [&](uint64_t floor) {
    auto end = std::upper_bound(changes.begin(), changes.end(), floor,
                                [](uint64_t r, const auto& entry) { return r < entry.first; });
    changes.erase(changes.begin(), end);
    instance.changes_floor = std::max(instance.changes_floor, floor);
  };
  if (const uint64_t acked = instance.acked.get(); acked > instance.changes_floor) drop_through(acked);
  if (changes.size() >= kMaxInstanceChanges) drop_through(changes[changes.size() / 2].first);
  changes.emplace_back(revision, id);
}

InstanceEntry& State::AddInstance(ClusterEntry& cluster, v1::ContainerInstanceRecord record) {
  std::string id = record.id();
  auto [it, inserted] = cluster.instances.emplace(id, InstanceEntry{});
  BERTH_CHECK_MSG(inserted, "AddInstance with an existing instance id");
  it->second.record = std::move(record);
  ++instance_count_;
  RefreshInstanceView(cluster, it->second);
  return it->second;
}

void State::RefreshInstanceView(ClusterEntry& cluster, InstanceEntry& instance) {
  // Draining, connectivity, registration and attributes matter to the services with tasks here
  // and to those watching for instances (daemons, services waiting for room).
  const std::string& cluster_name = instance.record.cluster();
  v1::TaskRecord record;
  for (const auto& task_id : instance.task_ids) {
    auto t = cluster.tasks.find(task_id);
    if (t == cluster.tasks.end()) continue;
    t->second.Decode(&record);
    if (!record.service().empty()) dirty_services_.insert({cluster_name, record.service()});
  }
  for (const auto& name : cluster.instance_watchers) dirty_services_.insert({cluster_name, name});
  const auto& ci = instance.record.instance();
  const std::string& id = instance.record.id();
  bool registered = ci.status() == "ACTIVE" || ci.status() == "DRAINING";
  const placement::InstanceView* before = cluster.view.Find(id);
  const bool present = before != nullptr;
  if (present && before->launch_type == placement::LaunchType::kFargate) --cluster.fargate_hosts;
  if (!registered) {
    cluster.view.Remove(id);
    return;
  }
  placement::InstanceView view;
  view.id = id;
  view.status = ci.status() == "ACTIVE" ? placement::InstanceStatus::kActive : placement::InstanceStatus::kDraining;
  view.agent_connected = ci.agent_connected();
  Registration(instance, &view);
  if (view.launch_type == placement::LaunchType::kFargate) ++cluster.fargate_hosts;
  cluster.view.Upsert(std::move(view));  // keeps what tasks hold when present
  if (present) return;
  // Newly in the view (registered, or back from INACTIVE): its unstopped tasks hold resources.
  for (const auto& task_id : instance.task_ids) {
    auto t = cluster.tasks.find(task_id);
    if (t == cluster.tasks.end()) continue;
    t->second.Decode(&record);
    cluster.view.Reserve(id, TaskHold(record));
  }
}

namespace {

// The tasks table read and parsed on a second thread, handed over in batches: at a million tasks,
// reading and parsing is about as much work as indexing, and berthd starts with both cores idle.
class TaskReader {
 public:
  struct Item {
    v1::TaskRecord record;
    std::string encoded;
    std::optional<TaskAccounting> accounting;
  };
  using Batch = std::vector<Item>;

  explicit TaskReader(store::Store& store) : thread_([this, &store] { Run(store); }) {}
  ~TaskReader() {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // The next batch, or nullptr at the end (then status() tells whether the read succeeded).
  std::unique_ptr<Batch> Next() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !full_.empty() || done_; });
    if (full_.empty()) return nullptr;
    std::unique_ptr<Batch> b = std::move(full_.front());
    full_.pop_front();
    cv_.notify_all();
    return b;
  }
  // Gives a used batch back for its allocations.
  void Recycle(std::unique_ptr<Batch> b) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(b));
    cv_.notify_all();
  }
  absl::Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  static constexpr size_t kBatch = 512;
  static constexpr size_t kBatches = 8;  // in flight at most

  void Run(store::Store& store) {
    std::unique_ptr<Batch> batch;
    size_t n = 0;
    auto take = [&]() -> bool {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return cancelled_ || !free_.empty() || allocated_ < kBatches; });
      if (cancelled_) return false;
      if (!free_.empty()) {
        batch = std::move(free_.back());
        free_.pop_back();
      } else {
        batch = std::make_unique<Batch>(kBatch);
        ++allocated_;
      }
      n = 0;
      return true;
    };
    auto hand_over = [&] {
      batch->resize(n);  // a short last batch; full ones keep their size
      std::lock_guard lock(mu_);
      full_.push_back(std::move(batch));
      cv_.notify_all();
    };
    absl::Status s;
    absl::Status parsed;
    bool cancelled = !take();
    if (!cancelled) {
      s = store.Scan(store::Table::kTasks, "", [&](std::string_view key, std::string_view value) {
        Item& item = (*batch)[n];
        parsed = ParseRecord("tasks", key, value, &item.record);
        if (!parsed.ok()) return false;
        item.encoded.assign(value.data(), value.size());
        item.accounting.emplace(item.record);
        if (++n < kBatch) return true;
        hand_over();
        if (!take()) {
          cancelled = true;
          return false;
        }
        return true;
      });
      if (!cancelled && parsed.ok() && n > 0) hand_over();
    }
    std::lock_guard lock(mu_);
    status_ = !parsed.ok() ? parsed : s;
    done_ = true;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Batch>> full_;
  std::vector<std::unique_ptr<Batch>> free_;
  size_t allocated_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  absl::Status status_;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace

absl::Status State::LoadTasks(store::Store& store) {
  // Every task's hold is replayed onto its instance; each instance is re-sorted into the placement
  // orders once at the end instead of after every hold.
  for (auto& [name, cluster] : clusters_) {
    cluster->view.BeginDeferredIndexing();
    for (auto& [id, instance] : cluster->instances) cluster->load_index.emplace(id, &instance);
  }
  absl::Status status;
  {
    TaskReader reader(store);
    while (status.ok()) {
      std::unique_ptr<TaskReader::Batch> batch = reader.Next();
      if (batch == nullptr) break;
      for (TaskReader::Item& item : *batch) {
        ClusterEntry* c = MutableCluster(item.record.cluster());
        if (c == nullptr) {
          status =
              absl::DataLossError(StrCat("task ", item.record.id(), " names missing cluster ", item.record.cluster()));
          break;
        }
        AddTask(*c, item.record, std::move(item.encoded), *item.accounting);
      }
      reader.Recycle(std::move(batch));
    }
    if (status.ok()) status = reader.status();
  }
  for (auto& [name, cluster] : clusters_) {
    cluster->view.EndDeferredIndexing();
    cluster->load_index = {};
  }
  return status;
}

absl::Status State::Load(store::Store& store, uint64_t* last_revision) {
  *last_revision = 0;
  absl::Status parse_status;
  auto guard = [&](absl::Status s) {
    if (!s.ok() && parse_status.ok()) parse_status = std::move(s);
    return parse_status.ok();
  };

  auto rev = store.Get(store::Table::kMeta, kMetaRevisionKey);
  if (rev.ok()) {
    if (!DecodeRevision(*rev, last_revision)) return absl::DataLossError("store meta 'revision' is malformed");
  } else if (!absl::IsNotFound(rev.status())) {
    return rev.status();
  }

  auto schema = store.Get(store::Table::kMeta, store::kSchemaVersionKey);
  if (schema.ok()) {
    if (!DecodeRevision(*schema, &schema_version_))
      return absl::DataLossError("store meta 'schema_version' is malformed");
    if (schema_version_ != kSchemaVersion) {
      return absl::FailedPreconditionError(StrCat("the store has schema version ", schema_version_,
                                                  " but this berthd reads version ", kSchemaVersion,
                                                  ": run the berthd release that wrote it"));
    }
  } else if (!absl::IsNotFound(schema.status())) {
    return schema.status();
  }

  RETURN_IF_ERROR(store.Scan(store::Table::kClusters, "", [&](std::string_view key, std::string_view value) {
    v1::ClusterRecord rec;
    if (!guard(ParseRecord("clusters", key, value, &rec))) return false;
    AddCluster(std::move(rec));
    return true;
  }));
  RETURN_IF_ERROR(parse_status);

  RETURN_IF_ERROR(store.Scan(store::Table::kCapacityProviders, "", [&](std::string_view key, std::string_view value) {
    v1::CapacityProviderRecord rec;
    if (!guard(ParseRecord("capacity_providers", key, value, &rec))) return false;
    PutCapacityProvider(std::move(rec));
    return true;
  }));
  RETURN_IF_ERROR(parse_status);

  RETURN_IF_ERROR(store.Scan(store::Table::kTaskDefinitions, "", [&](std::string_view key, std::string_view value) {
    v1::TaskDefinitionRecord rec;
    if (!guard(ParseRecord("task_definitions", key, value, &rec))) return false;
    const auto& td = rec.task_definition();
    FamilyEntry& f = Family(td.family());
    uint32_t r = static_cast<uint32_t>(td.revision());
    f.last_revision = std::max(f.last_revision, r);
    if (td.status() == "ACTIVE") ++f.active_revisions;
    f.revisions.emplace(r, std::move(rec));
    ++task_definition_count_;
    return true;
  }));
  RETURN_IF_ERROR(parse_status);

  RETURN_IF_ERROR(store.Scan(store::Table::kContainerInstances, "", [&](std::string_view key, std::string_view value) {
    v1::ContainerInstanceRecord rec;
    if (!guard(ParseRecord("container_instances", key, value, &rec))) return false;
    ClusterEntry* c = MutableCluster(rec.cluster());
    if (c == nullptr) {
      guard(absl::DataLossError(StrCat("container instance ", rec.id(), " names missing cluster ", rec.cluster())));
      return false;
    }
    AddInstance(*c, std::move(rec));
    return true;
  }));
  RETURN_IF_ERROR(parse_status);

  RETURN_IF_ERROR(store.Scan(store::Table::kAttributes, "", [&](std::string_view key, std::string_view value) {
    v1::AttributeRecord rec;
    if (!guard(ParseRecord("attributes", key, value, &rec))) return false;
    auto decoded = store::DecodeAttributeKey(key);
    if (!decoded) {
      guard(absl::DataLossError(StrCat("malformed attribute key '", absl::CHexEscape(ToAbsl(key)), "'")));
      return false;
    }
    ClusterEntry* c = MutableCluster(decoded->cluster);
    if (c == nullptr) return true;  // attributes of a removed cluster are garbage; ignore
    auto it = c->instances.find(decoded->target_id);
    if (it == c->instances.end()) return true;
    it->second.attributes.emplace(decoded->name, std::move(rec));
    return true;
  }));
  RETURN_IF_ERROR(parse_status);
  for (auto& [name, cluster] : clusters_) {
    for (auto& [id, instance] : cluster->instances) RefreshInstanceView(*cluster, instance);
  }

  RETURN_IF_ERROR(store.Scan(store::Table::kServices, "", [&](std::string_view key, std::string_view value) {
    v1::ServiceRecord rec;
    if (!guard(ParseRecord("services", key, value, &rec))) return false;
    ClusterEntry* c = MutableCluster(rec.cluster());
    if (c == nullptr) {
      guard(absl::DataLossError(
          StrCat("service ", rec.service().service_name(), " names missing cluster ", rec.cluster())));
      return false;
    }
    PutService(*c, std::move(rec));
    return true;
  }));
  RETURN_IF_ERROR(parse_status);

  RETURN_IF_ERROR(LoadTasks(store));
  RETURN_IF_ERROR(parse_status);
  for (auto& [name, cluster] : clusters_) {
    for (auto& [id, instance] : cluster->instances) {
      instance.desired_version = *last_revision;
      instance.changes_floor = *last_revision;
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::controlplane
