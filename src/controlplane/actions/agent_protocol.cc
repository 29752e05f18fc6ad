// The agent protocol (agent.proto): registration, the long poll that hands each agent the desired
// state of its instance, state-change reports that drive the task lifecycle, and the housekeeping
// that marks silent agents disconnected and forgets old STOPPED tasks.
#include <algorithm>
#include <cctype>

#include "absl/container/flat_hash_set.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"
#include "berth/store/keys.h"
#include "src/controlplane/actions/agent_protocol.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

int ContainerRank(std::string_view status) {
  if (status == "PENDING") return 0;
  if (status == "RUNNING") return 1;
  if (status == "STOPPED") return 2;
  return -1;
}

bool IsHealth(std::string_view h) { return h.empty() || h == "HEALTHY" || h == "UNHEALTHY" || h == "UNKNOWN"; }

bool IsAgentStopCode(std::string_view code) {
  return code.empty() || code == "TaskFailedToStart" || code == "EssentialContainerExited" || code == "UserInitiated" ||
         code == "ServiceSchedulerInitiated" || code == "SpotInterruption" || code == "TerminationNotice";
}

constexpr int kMaxTasksPerReport = 1000;

absl::Status ValidateReport(const v1::TaskStateChange& change, int i) {
  std::string path = StrCat("tasks[", i, "]");
  if (TaskStatusRank(change.status()) < 0) {
    return InvalidParameter(path, ".status: must be a task lifecycle status (PENDING, ACTIVATING, RUNNING, ",
                            "DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED), got '", change.status(), "'");
  }
  if (!IsAgentStopCode(change.stop_code())) {
    return InvalidParameter(path, ".stopCode: '", change.stop_code(), "' is not an ECS task stop code");
  }
  if (change.stopped_reason().size() > 1024) {
    return InvalidParameter(path, ".stoppedReason: at most 1024 characters");
  }
  for (int k = 0; k < change.containers_size(); ++k) {
    const auto& c = change.containers(k);
    std::string cpath = StrCat(path, ".containers[", k, "]");
    if (ContainerRank(c.status()) < 0) {
      return InvalidParameter(cpath, ".status: must be PENDING, RUNNING or STOPPED (got '", c.status(), "')");
    }
    if (!IsHealth(c.health_status())) {
      return InvalidParameter(cpath, ".healthStatus: must be HEALTHY, UNHEALTHY or UNKNOWN (got '", c.health_status(),
                              "')");
    }
    if (c.reason().size() > 1024) return InvalidParameter(cpath, ".reason: at most 1024 characters");
  }
  return absl::OkStatus();
}

// ECS: a task is UNHEALTHY when an essential container is, HEALTHY when every essential container
// with a health check is, UNKNOWN otherwise.
std::string TaskHealth(const v1::TaskDefinition& td, const v1::Task& task) {
  bool any_check = false;
  bool all_healthy = true;
  for (const auto& def : td.container_definitions()) {
    bool essential = !def.has_essential() || def.essential();
    if (!essential || !def.has_health_check()) continue;
    any_check = true;
    std::string health = "UNKNOWN";
    for (const auto& c : task.containers()) {
      if (c.name() == def.name() && c.has_health_status()) health = c.health_status();
    }
    if (health == "UNHEALTHY") return "UNHEALTHY";
    if (health != "HEALTHY") all_healthy = false;
  }
  return any_check && all_healthy ? "HEALTHY" : "UNKNOWN";
}

// Bridge port mappings without a host port get the task's dynamic ports, in order: containers
// as defined, mappings as listed, every port of a range.
void AssignHostPorts(const v1::TaskDefinition& td, const v1::TaskRecord& record, v1::DesiredTask* out) {
  if (td.has_network_mode() && td.network_mode() != "bridge") return;
  int next_tcp = 0;
  int next_udp = 0;
  for (const auto& def : td.container_definitions()) {
    for (const auto& pm : def.port_mappings()) {
      if (pm.has_host_port() && pm.host_port() != 0) continue;
      const bool udp = pm.protocol() == "udp";
      int32_t lo = 0;
      int32_t hi = 0;
      if (!PortSpan(pm.container_port(), pm.has_container_port_range(), pm.container_port_range(), &lo, &hi)) continue;
      for (int32_t port = lo; port <= hi; ++port) {
        const auto& pool = udp ? record.dynamic_udp_ports() : record.dynamic_tcp_ports();
        int& next = udp ? next_udp : next_tcp;
        if (next >= pool.size()) return;
        auto* a = out->add_host_ports();
        a->set_container_name(def.name());
        a->set_container_port(port);
        a->set_protocol(udp ? "udp" : "tcp");
        a->set_host_port(pool[next++]);
      }
    }
  }
}

// The task's network interface as ECS shows an awsvpc task's: an ElasticNetworkInterface
// attachment with the interface id and private address (the agent's per-task network namespace).
void AddNetworkAttachment(const v1::NetworkInterface& ni, v1::Task* task) {
  v1::Attachment* a = task->add_attachments();
  a->set_id(ni.attachment_id());
  a->set_type("ElasticNetworkInterface");
  a->set_status("ATTACHED");
  auto detail = [a](const char* name, const std::string& value) {
    v1::KeyValuePair* kv = a->add_details();
    kv->set_name(name);
    kv->set_value(value);
  };
  std::string hex;
  for (char ch : ni.attachment_id()) {
    if (std::isxdigit(static_cast<unsigned char>(ch)) != 0 && hex.size() < 17) hex.push_back(ch);
  }
  detail("networkInterfaceId", StrCat("eni-", hex));
  if (ni.has_private_ipv4_address()) detail("privateIPv4Address", ni.private_ipv4_address());
}

// The newest revision an answer about the instance itself shows: its record's and its desired
// version (an answer showing tasks adds theirs).
uint64_t InstanceRevision(const InstanceEntry& instance) {
  return std::max(instance.desired_version, instance.record.revision());
}

}  // namespace

void AgentProtocol::SetAgentConnected(Applier& txn, const ClusterEntry& cluster, const InstanceEntry& instance,
                                      bool connected) {
  if (instance.record.instance().agent_connected() == connected) return;
  v1::ContainerInstanceRecord& record = txn.EditInstance(cluster, instance);
  auto* ci = record.mutable_instance();
  ci->set_agent_connected(connected);
  record.set_disconnected_at(connected ? 0 : clock_->NowSeconds());
  ci->set_version(ci->version() + 1);
  txn.RefreshInstanceView(cluster, instance);
  log::Info("container instance {}/{}: agent {}", instance.record.cluster(), instance.record.id(),
            connected ? "connected again" : "disconnected (no poll or report within the disconnect timeout)");
}

uint64_t AgentProtocol::RenderDesired(const ClusterEntry& cluster, const InstanceEntry& instance, uint64_t known,
                                      bool accepts_deltas, v1::PollResponse* out) const {
  uint64_t seen = InstanceRevision(instance);
  out->set_version(instance.desired_version);
  out->set_instance_status(instance.record.instance().status());
  out->set_server_time(clock_->NowSeconds());
  // A delta needs a version this berthd can account for: not the agent's first poll, not from
  // before the change log's floor (older, or from before a restart of berthd), and not ahead.
  const bool delta = accepts_deltas && known > 0 && known >= instance.changes_floor &&
                     known <= instance.desired_version && instance.record.instance().status() != "INACTIVE";
  const absl::btree_set<TaskId>* listed = &instance.task_ids;
  absl::btree_set<TaskId> changed;  // a delta's tasks still placed here
  if (delta) {
    out->set_delta(true);
    for (auto c = instance.changes.rbegin(); c != instance.changes.rend() && c->first > known; ++c) {
      changed.insert(c->second);
    }
    for (auto id = changed.begin(); id != changed.end();) {
      if (instance.task_ids.contains(*id)) {
        ++id;
        continue;
      }
      out->add_removed_task_arns(arns_.Task(cluster.record.cluster().cluster_name(), *id));
      id = changed.erase(id);
    }
    listed = &changed;
  }
  absl::flat_hash_set<std::pair<std::string, uint32_t>> definitions;
  v1::TaskRecord r;
  for (const auto& task_id : *listed) {
    auto it = cluster.tasks.find(task_id);
    if (it == cluster.tasks.end()) continue;
    it->second.Decode(&r);
    seen = std::max(seen, r.revision());
    const v1::Task& t = r.task();
    auto* d = out->add_tasks();
    d->set_task_arn(arns_.Task(r.cluster(), r.id()));
    d->set_desired_status(t.desired_status());
    d->set_known_status(t.last_status());
    d->set_task_definition_arn(arns_.TaskDefinition(r.family(), r.task_definition_revision()));
    if (t.has_overrides()) *d->mutable_overrides() = t.overrides();
    if (t.desired_status() == "STOPPED") {
      d->set_stop_code(t.stop_code());
      d->set_stopped_reason(t.stopped_reason());
    }
    d->set_group(t.group());
    d->set_created_at(t.created_at());
    // Task-level size (with overrides), which is what the task reserved.
    if (t.has_cpu()) d->set_task_cpu(r.reservation().cpu());
    if (t.has_memory()) d->set_task_memory(r.reservation().memory());
    const v1::TaskDefinitionRecord* td = state_->FindTaskDefinition(r.family(), r.task_definition_revision());
    if (td == nullptr) continue;
    seen = std::max(seen, td->revision());
    if (t.launch_type() == "FARGATE") d->set_ephemeral_storage_mib(int64_t{t.ephemeral_storage().size_in_gib()} * 1024);
    AssignHostPorts(td->task_definition(), r, d);
    for (const v1::Container& c : t.containers()) {
      if (!c.has_log_stream()) continue;
      for (const auto& def : td->task_definition().container_definitions()) {
        if (def.name() == c.name()) *d->add_log_destinations() = DestinationOf(c, def);
      }
    }
    for (const auto& v : td->task_definition().volumes()) {
      if (!v.has_efs_volume_configuration()) continue;
      auto fs = options_.file_systems.find(v.efs_volume_configuration().file_system_id());
      if (fs != options_.file_systems.end()) {
        *d->add_file_systems() = MountFor(fs->second, v.efs_volume_configuration(), v.name());
      }
    }
    if (definitions.insert({r.family(), r.task_definition_revision()}).second) {
      RenderTaskDefinition(*td, out->add_task_definitions());
    }
  }
  return seen;
}

void AgentProtocol::AnswerAt(uint64_t revision, const Done& done, absl::Status status) const {
  pipeline_->WhenDurable(revision, [done, status = std::move(status)]() mutable { done(std::move(status)); });
}

int64_t AgentProtocol::JitteredWait(int64_t wait_us) {
  const double jitter = std::clamp(options_.agent.poll_wait_jitter, 0.0, 1.0);
  if (jitter == 0 || wait_us <= 0) return wait_us;
  std::uniform_real_distribution<double> fraction(1.0 - jitter, 1.0);
  absl::MutexLock lock(&jitter_mu_);
  return static_cast<int64_t>(static_cast<double>(wait_us) * fraction(jitter_rng_));
}

uint64_t AgentProtocol::Poll(const v1::PollRequest& request, v1::PollResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(!request.cluster().empty(), request.cluster(), &error);
  if (!error.ok()) {
    done(error);
    return 0;
  }
  if (request.container_instance().empty()) {
    done(InvalidParameter("containerInstance: required: the id or ARN this agent registered as"));
    return 0;
  }
  auto id_or = arns_.ContainerInstanceId(request.container_instance(), cluster, "containerInstance");
  if (!id_or.ok()) {
    done(WithType(id_or.status(), "InvalidParameterException"));
    return 0;
  }
  const std::string id = *std::move(id_or);
  if (request.wait_millis() < 0) {
    done(InvalidParameter("waitMillis: must not be negative (got ", request.wait_millis(), ")"));
    return 0;
  }
  const int64_t wait_us =
      std::min<int64_t>(static_cast<int64_t>(request.wait_millis()) * 1000, options_.agent.max_poll_wait_us);
  const int64_t now = clock_->MonotonicMicros();
  const uint64_t known = request.known_version();
  sessions_->Heartbeat(cluster, id, now);

  absl::Status result;
  // What must be durable before an answer given now leaves (an error's: everything applied).
  uint64_t fence = 0;
  bool answer_now = true;
  bool reconnect = false;
  uint64_t waiter = 0;
  {
    absl::ReaderMutexLock lock(mu_);
    const ClusterEntry* c = state_->FindCluster(cluster);
    auto it = c == nullptr ? decltype(c->instances)::iterator() : c->instances.find(id);
    if (c == nullptr) {
      result = ClusterNotFound(cluster);
    } else if (it == c->instances.end()) {
      result = NotFound("containerInstance: container instance ", id, " is not registered in cluster '", cluster,
                        "': register again");
    } else {
      const InstanceEntry& inst = it->second;
      const bool inactive = inst.record.instance().status() == "INACTIVE";
      reconnect = !inactive && !inst.record.instance().agent_connected();
      if (known <= inst.desired_version) inst.acked.Raise(known);
      if (inst.desired_version != known || inactive) {
        fence = RenderDesired(*c, inst, known, request.accepts_deltas(), response);
      } else if (wait_us == 0) {
        fence = InstanceRevision(inst);
        response->set_version(known);
        response->set_unchanged(true);
        response->set_instance_status(inst.record.instance().status());
        response->set_server_time(clock_->NowSeconds());
      } else {
        // Parked while the state lock is held, so no batch can touch the instance between the
        // version check and the registration without waking this waiter.
        answer_now = false;
        // Written by `render` (under the state lock), read by `answer` after it on the same thread.
        auto rendered_fence = std::make_shared<uint64_t>(0);
        waiter = sessions_->AddWaiter(
            cluster, id, now + JitteredWait(wait_us),
            AgentSessions::Parked{
                .render = [this, response, cluster, id, known, deltas = request.accepts_deltas(),
                           rendered_fence]() -> absl::Status {
                  // The poll waker holds the state lock (shared).
                  const ClusterEntry* rc = state_->FindCluster(cluster);
                  auto ri = rc == nullptr ? decltype(rc->instances)::iterator() : rc->instances.find(id);
                  if (rc == nullptr || ri == rc->instances.end()) {
                    *rendered_fence = pipeline_->applied_revision();
                    return NotFound("containerInstance: container instance ", id, " is no longer registered");
                  }
                  *rendered_fence = RenderDesired(*rc, ri->second, known, deltas, response);
                  return absl::OkStatus();
                },
                .answer =
                    [this, response, done, known, rendered_fence](AgentSessions::WakeReason why,
                                                                  absl::Status rendered) {
                      switch (why) {
                        case AgentSessions::WakeReason::kCancelled:
                          return done(absl::CancelledError("the poll was cancelled"));
                        case AgentSessions::WakeReason::kShutdown:
                          return done(absl::UnavailableError("berthd is shutting down"));
                        case AgentSessions::WakeReason::kTimeout:
                        case AgentSessions::WakeReason::kSuperseded:
                          // The version the agent already holds: nothing it has not seen.
                          response->set_version(known);
                          response->set_unchanged(true);
                          response->set_server_time(clock_->NowSeconds());
                          return done(absl::OkStatus());
                        case AgentSessions::WakeReason::kChanged:
                          return AnswerAt(*rendered_fence, done, std::move(rendered));
                      }
                    },
            });
      }
    }
  }
  if (reconnect && sessions_->BeginReconnect(cluster, id)) {
    Submit(
        [this, cluster, id](Applier& txn) -> absl::Status {
          const ClusterEntry* c = state_->FindCluster(cluster);
          if (c == nullptr) return absl::OkStatus();
          auto it = c->instances.find(id);
          if (it == c->instances.end() || it->second.record.instance().status() == "INACTIVE") return absl::OkStatus();
          SetAgentConnected(txn, *c, it->second, true);
          return absl::OkStatus();
        },
        [this, cluster, id](absl::Status) { sessions_->EndReconnect(cluster, id); });
  }
  if (answer_now) {
    if (!result.ok()) fence = pipeline_->applied_revision();
    AnswerAt(fence, done, std::move(result));
  }
  return waiter;
}

bool AgentProtocol::ApplyTaskReport(const v1::TaskStateChange& change, double now, v1::TaskRecord& r) const {
  const int rank_now = TaskStatusRank(r.task().last_status());
  const int rank_new = TaskStatusRank(change.status());
  if (rank_now == TaskStatusRank("STOPPED")) return false;  // final: nothing moves a STOPPED task
  const v1::TaskDefinitionRecord* td = state_->FindTaskDefinition(r.family(), r.task_definition_revision());
  bool changed = false;
  {
    v1::Task* t = r.mutable_task();
    for (const auto& cc : change.containers()) {
      v1::Container* c = nullptr;
      for (auto& candidate : *t->mutable_containers()) {
        if (candidate.name() == cc.name()) c = &candidate;
      }
      if (c == nullptr) continue;
      const int crank_now = ContainerRank(c->last_status());
      const int crank_new = ContainerRank(cc.status());
      if (crank_new < crank_now) continue;  // an older report
      if (crank_new > crank_now) {
        c->set_last_status(cc.status());
        changed = true;
      }
      if (!cc.runtime_id().empty() && c->runtime_id() != cc.runtime_id()) {
        c->set_runtime_id(cc.runtime_id());
        changed = true;
      }
      if (!cc.image_digest().empty() && c->image_digest() != cc.image_digest()) {
        c->set_image_digest(cc.image_digest());
        changed = true;
      }
      if (cc.has_exit_code() && (!c->has_exit_code() || c->exit_code() != cc.exit_code())) {
        c->set_exit_code(cc.exit_code());
        changed = true;
      }
      if (!cc.reason().empty() && c->reason() != cc.reason()) {
        c->set_reason(cc.reason());
        changed = true;
      }
      if (!cc.network_bindings().empty()) {
        bool same = cc.network_bindings_size() == c->network_bindings_size();
        for (int i = 0; same && i < cc.network_bindings_size(); ++i) {
          same = cc.network_bindings(i).SerializeAsString() == c->network_bindings(i).SerializeAsString();
        }
        if (!same) {
          *c->mutable_network_bindings() = cc.network_bindings();
          changed = true;
        }
      }
      if (!cc.network_interfaces().empty() && c->network_interfaces_size() == 0) {
        *c->mutable_network_interfaces() = cc.network_interfaces();
        if (t->attachments().empty()) AddNetworkAttachment(cc.network_interfaces(0), t);
        changed = true;
      }
      if (!cc.health_status().empty() && c->health_status() != cc.health_status()) {
        c->set_health_status(cc.health_status());
        changed = true;
      }
    }
    auto stamp = [&](bool has_new, double value, bool has_now, auto set) {
      if (has_new && !has_now) {
        set(value);
        changed = true;
      }
    };
    stamp(change.has_pull_started_at(), change.pull_started_at(), t->has_pull_started_at(),
          [&](double v) { t->set_pull_started_at(v); });
    stamp(change.has_pull_stopped_at(), change.pull_stopped_at(), t->has_pull_stopped_at(),
          [&](double v) { t->set_pull_stopped_at(v); });
    if (change.has_containers_created_at() && r.containers_created_at() == 0) {
      r.set_containers_created_at(change.containers_created_at());
      changed = true;
    }
    if (rank_new > rank_now) {
      t->set_last_status(change.status());
      changed = true;
      if (rank_new >= TaskStatusRank("RUNNING") && !t->has_started_at() && change.status() == "RUNNING") {
        t->set_started_at(change.has_started_at() ? change.started_at() : now);
      }
      if (change.status() == "RUNNING") {
        t->set_connectivity("CONNECTED");
        t->set_connectivity_at(now);
      }
      if (rank_new > TaskStatusRank("RUNNING") && !t->has_stopping_at()) t->set_stopping_at(now);
      if (change.status() == "STOPPED") {
        t->set_desired_status("STOPPED");
        if (!t->has_stop_code() && !change.stop_code().empty()) t->set_stop_code(change.stop_code());
        if (!t->has_stopped_reason() && !change.stopped_reason().empty()) {
          t->set_stopped_reason(change.stopped_reason());
        }
        t->set_execution_stopped_at(change.has_execution_stopped_at() ? change.execution_stopped_at() : now);
        t->set_stopped_at(change.has_stopped_at() ? change.stopped_at() : now);
        // Stopping began no later than the agent saw the task stop (its clock, not this report's
        // arrival, when the report carries both at once).
        if (t->stopping_at() > t->stopped_at()) t->set_stopping_at(t->stopped_at());
        for (auto& c : *t->mutable_containers()) c.set_last_status("STOPPED");
      }
    }
    if (td != nullptr) {
      std::string health = TaskHealth(td->task_definition(), *t);
      if (t->health_status() != health) {
        t->set_health_status(health);
        changed = true;
      }
    }
    if (changed) t->set_version(t->version() + 1);
  }
  return changed;
}

void AgentProtocol::ReportStateChanges(const v1::ReportStateChangesRequest& request,
                                       v1::ReportStateChangesResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(!request.cluster().empty(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (request.container_instance().empty()) {
    return done(InvalidParameter("containerInstance: required: the id or ARN this agent registered as"));
  }
  auto id_or = arns_.ContainerInstanceId(request.container_instance(), cluster, "containerInstance");
  if (!id_or.ok()) return done(WithType(id_or.status(), "InvalidParameterException"));
  std::string instance_id = *std::move(id_or);
  if (request.tasks_size() > kMaxTasksPerReport) {
    return done(
        InvalidParameter("tasks: at most ", kMaxTasksPerReport, " per report (got ", request.tasks_size(), ")"));
  }
  std::vector<std::string> task_ids;
  task_ids.reserve(request.tasks_size());
  for (int i = 0; i < request.tasks_size(); ++i) {
    if (absl::Status s = ValidateReport(request.tasks(i), i); !s.ok()) return done(s);
    auto tid = arns_.TaskId(request.tasks(i).task_arn(), cluster, StrCat("tasks[", i, "].taskArn"));
    if (!tid.ok()) return done(WithType(tid.status(), "InvalidParameterException"));
    task_ids.push_back(*std::move(tid));
  }
  sessions_->Heartbeat(cluster, instance_id, clock_->MonotonicMicros());
  Submit(
      [this, &request, response, cluster, instance_id, task_ids = std::move(task_ids)](Applier& txn) -> absl::Status {
        const ClusterEntry* c = state_->FindCluster(cluster);
        if (c == nullptr) return ClusterNotFound(cluster);
        auto inst = c->instances.find(instance_id);
        if (inst == c->instances.end()) {
          return NotFound("containerInstance: container instance ", instance_id, " is not registered in cluster '",
                          cluster, "'");
        }
        const double now = clock_->NowSeconds();
        for (size_t i = 0; i < task_ids.size(); ++i) {
          const v1::TaskStateChange& change = request.tasks(static_cast<int>(i));
          auto it = c->tasks.find(task_ids[i]);
          bool placed_here = it != c->tasks.end();
          if (placed_here) {
            txn.UpdateTask(*c, it->second, [&](v1::TaskRecord& r) {
              placed_here = r.container_instance_id() == instance_id;
              return placed_here && ApplyTaskReport(change, now, r);
            });
          }
          if (!placed_here) response->add_unknown_task_arns(change.task_arn());
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void AgentProtocol::ExpirePolls() { sessions_->ExpireDue(clock_->MonotonicMicros()); }

void AgentProtocol::AgentTick() {
  const int64_t now = clock_->MonotonicMicros();
  sessions_->ExpireDue(now);
  if (now < next_agent_check_us_) return;
  next_agent_check_us_ = now + options_.agent.check_interval_us;

  std::vector<InstanceKey> silent;
  std::vector<std::pair<std::string, std::string>> expired;  // (cluster, task id)
  const double cutoff = clock_->NowSeconds() - static_cast<double>(options_.agent.stopped_task_retention_us) / 1e6;
  constexpr size_t kMaxPurge = 10000;
  if (!sessions_seeded_) {
    // Once: every instance from the store gets a session as if heard from now, so one whose agent
    // never comes back is found silent a disconnect timeout after berthd's start. Instances
    // registered later get theirs at registration.
    sessions_seeded_ = true;
    absl::ReaderMutexLock lock(mu_);
    for (const auto& [name, c] : state_->clusters()) {
      for (const auto& [id, inst] : c->instances) {
        if (inst.record.instance().status() != "INACTIVE") sessions_->LastSeen(name, id, now);
      }
    }
  }
  std::vector<InstanceKey> quiet = sessions_->TakeSilent(now - options_.agent.disconnect_after_us);
  {
    absl::ReaderMutexLock lock(mu_);
    for (auto& key : quiet) {
      const ClusterEntry* c = state_->FindCluster(key.cluster);
      if (c == nullptr) continue;
      auto it = c->instances.find(key.instance_id);
      if (it == c->instances.end()) continue;
      const auto& ci = it->second.record.instance();
      if (ci.status() == "INACTIVE" || !ci.agent_connected()) continue;
      silent.push_back(std::move(key));
    }
    for (const auto& [name, c] : state_->clusters()) {
      for (const auto& [stopped_at, id] : c->stopped_tasks) {
        if (stopped_at >= cutoff || expired.size() >= kMaxPurge) break;
        expired.emplace_back(name, id);
      }
    }
  }
  if (!silent.empty()) {
    Submit(
        [this, silent = std::move(silent)](Applier& txn) -> absl::Status {
          const int64_t at = clock_->MonotonicMicros();
          for (const auto& key : silent) {
            const ClusterEntry* c = state_->FindCluster(key.cluster);
            if (c == nullptr) continue;
            auto it = c->instances.find(key.instance_id);
            if (it == c->instances.end() || it->second.record.instance().status() == "INACTIVE") continue;
            // Heard from since the check: still connected.
            if (at - sessions_->LastSeen(key.cluster, key.instance_id, at) <= options_.agent.disconnect_after_us) {
              continue;
            }
            SetAgentConnected(txn, *c, it->second, false);
          }
          return absl::OkStatus();
        },
        [](absl::Status) {});
  }
  if (!expired.empty()) {
    Submit(
        [this, expired = std::move(expired)](Applier& txn) -> absl::Status {
          for (const auto& [cluster, id] : expired) {
            const ClusterEntry* c = state_->FindCluster(cluster);
            if (c == nullptr) continue;
            auto it = c->tasks.find(id);
            if (it == c->tasks.end() || !it->second.stopped()) continue;
            txn.RemoveTask(*c, id);
          }
          return absl::OkStatus();
        },
        [](absl::Status) {});
  }
}

absl::StatusOr<std::string> AgentProtocol::TaskRoleOf(const v1::GetTaskCredentialsRequest& request) const {
  absl::Status error;
  const std::string cluster = ClusterFromRequest(!request.cluster().empty(), request.cluster(), &error);
  RETURN_IF_ERROR(error);
  auto instance = arns_.ContainerInstanceId(request.container_instance(), cluster, "containerInstance");
  if (!instance.ok()) return WithType(instance.status(), "InvalidParameterException");
  auto task = arns_.TaskId(request.task_arn(), cluster, "taskArn");
  if (!task.ok()) return WithType(task.status(), "InvalidParameterException");
  absl::ReaderMutexLock lock(mu_);
  const ClusterEntry* c = state_->FindCluster(cluster);
  if (c == nullptr) return ClusterNotFound(cluster);
  auto it = c->tasks.find(*task);
  v1::TaskRecord r;
  if (it != c->tasks.end()) it->second.Decode(&r);
  if (it == c->tasks.end() || r.container_instance_id() != *instance || r.task().last_status() == "STOPPED") {
    return NotFound("taskArn: task ", *task, " is not a running task of container instance ", *instance);
  }
  if (!r.task().overrides().task_role_arn().empty()) return r.task().overrides().task_role_arn();
  const v1::TaskDefinitionRecord* td = state_->FindTaskDefinition(r.family(), r.task_definition_revision());
  if (td == nullptr || td->task_definition().task_role_arn().empty()) {
    return absl::FailedPreconditionError(StrCat("taskArn: task ", *task, " has no taskRoleArn"));
  }
  return td->task_definition().task_role_arn();
}

AgentProtocol::AgentProtocol(const ActionContext& context, AgentSessions* sessions)
    : ActionBase(context),
      sessions_(sessions),
      jitter_rng_(options_.agent.poll_jitter_seed != 0 ? options_.agent.poll_jitter_seed : std::random_device{}()) {
  waker_ = std::thread([this] { RunPollWaker(); });
}

AgentProtocol::~AgentProtocol() {
  {
    absl::MutexLock lock(&waker_mu_);
    waker_stopping_ = true;
  }
  waker_.join();
}

void AgentProtocol::OnInstancesTouched(std::vector<InstanceKey> instances) {
  absl::MutexLock lock(&waker_mu_);
  if (waker_queue_.empty()) {
    waker_queue_ = std::move(instances);
  } else {
    waker_queue_.insert(waker_queue_.end(), std::make_move_iterator(instances.begin()),
                        std::make_move_iterator(instances.end()));
  }
}

// Woken polls rendered under one hold of the state lock (about 20 us each: a delta of a few tasks).
constexpr size_t kPollsPerRender = 32;

void AgentProtocol::RunPollWaker() {
  for (;;) {
    std::vector<InstanceKey> touched;
    {
      absl::MutexLock lock(&waker_mu_);
      waker_mu_.Await(absl::Condition(
          +[](AgentProtocol* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->waker_mu_) { return !p->waker_queue_.empty() || p->waker_stopping_; },
          this));
      if (waker_queue_.empty()) return;  // stopping, nothing left
      touched.swap(waker_queue_);
      waker_busy_ = true;
    }
    // An instance touched twice has one waiter at most: the first TakeChanged hit removes it.
    std::vector<AgentSessions::Parked> woken = sessions_->TakeChanged(touched);
    AnswerWoken(std::move(woken));
    absl::MutexLock lock(&waker_mu_);
    waker_busy_ = false;
  }
}

void AgentProtocol::AnswerWoken(std::vector<AgentSessions::Parked> woken) {
  // In chunks, so the pipeline (which waits for readers to leave, and makes new readers wait
  // behind it) is never held up for long by a burst of polls.
  std::vector<absl::Status> rendered(woken.size());
  for (size_t begin = 0; begin < woken.size(); begin += kPollsPerRender) {
    const size_t end = std::min(woken.size(), begin + kPollsPerRender);
    {
      absl::ReaderMutexLock lock(mu_);
      for (size_t i = begin; i < end; ++i) rendered[i] = woken[i].render();
    }
    for (size_t i = begin; i < end; ++i) {
      woken[i].answer(AgentSessions::WakeReason::kChanged, std::move(rendered[i]));
    }
  }
}

void AgentProtocol::DrainPollWaker() {
  absl::MutexLock lock(&waker_mu_);
  waker_mu_.Await(absl::Condition(
      +[](AgentProtocol* p)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->waker_mu_) { return p->waker_queue_.empty() && !p->waker_busy_; },
      this));
}

}  // namespace berth::controlplane
