// The service scheduler's place in the control plane: which services to reconcile and when, the
// snapshot each reconcile reads, and carrying out its plan (placing starts with the placement
// engine, marking stops) inside a commit-pipeline proposal. The rules themselves are the pure
// library in src/scheduler (berth/scheduler/service_scheduler.h).
//
// When a service is reconciled:
//   - events: a batch that changed one of its tasks, an instance of its cluster, or the service
//     itself queues it (State's dirty set, drained by OnBatchApplied);
//   - timers: a plan's wake_at (backoff, grace period, lost threshold, protection expiry) and a
//     retry after a placement failure;
//   - resync: every service, every ServiceOptions::resync_interval_us, so that a missed event
//     never leaves a service wrong.
// ServiceTick submits one proposal at a time; the services it reconciles see the state every
// earlier batch left, and their decisions are durable with that proposal's batch.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"
#include "berth/placement/engine.h"
#include "berth/store/keys.h"
#include "src/controlplane/actions/services.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

constexpr size_t kMaxTaskIdsInEvent = 10;
// Most tasks one service places per pass; the rest follow in the next pass at once, so one
// proposal (and the readers waiting behind it) stays short.
constexpr int kMaxStartsPerPass = 500;

// Whether an essential container of the task definition has a health check.
bool HasHealthChecks(const v1::TaskDefinition& td) {
  for (const auto& def : td.container_definitions()) {
    if ((!def.has_essential() || def.essential()) && def.has_health_check()) return true;
  }
  return false;
}

scheduler::TaskHealth HealthOf(bool checked, const std::string& health) {
  if (!checked) return scheduler::TaskHealth::kNoCheck;
  if (health == "HEALTHY") return scheduler::TaskHealth::kHealthy;
  if (health == "UNHEALTHY") return scheduler::TaskHealth::kUnhealthy;
  return scheduler::TaskHealth::kUnknown;
}

std::string TaskList(const std::vector<std::string>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < kMaxTaskIdsInEvent; ++i) StrAppend(&out, " (task ", ids[i], ")");
  if (ids.size() > kMaxTaskIdsInEvent) StrAppend(&out, " and ", ids.size() - kMaxTaskIdsInEvent, " more");
  return out;
}

}  // namespace

// ECS's default for services without a placementStrategy: balance across availability zones,
// then across instances.
std::vector<placement::Strategy> DefaultServiceStrategies() {
  return {placement::Strategy{placement::Strategy::Type::kSpread, placement::Strategy::Field::kAttribute,
                              "ecs.availability-zone"},
          placement::Strategy{placement::Strategy::Type::kSpread, placement::Strategy::Field::kInstanceId, {}}};
}

absl::StatusOr<Launcher::Launch> ServiceActions::ServiceLaunch(const ClusterEntry& cluster,
                                                               const ServiceEntry& service) const {
  const v1::ServiceRecord& rec = service.record;
  const v1::Service& svc = rec.service();
  if (rec.deployments().empty()) return absl::InternalError("the service has no deployment");
  const v1::DeploymentRecord& primary = rec.deployments(0);
  Launcher::Launch l;
  l.cluster = rec.cluster();
  l.family = primary.family();
  l.revision = primary.task_definition_revision();
  l.group = StrCat("service:", svc.service_name());
  l.started_by = primary.deployment().id();
  l.launch_type = svc.launch_type();
  l.service = svc.service_name();
  l.deployment_id = primary.deployment().id();
  l.max_per_instance = svc.max_tasks_per_instance();
  l.allow_inactive = true;
  l.enable_execute_command = svc.enable_execute_command();
  if (svc.propagate_tags() == "SERVICE") l.tags = svc.tags();
  l.propagate_task_definition_tags = svc.propagate_tags() == "TASK_DEFINITION";
  RETURN_IF_ERROR(ParsePlacement(svc.placement_constraints(), svc.placement_strategy(), options_.limits, &l.constraints,
                                 &l.strategies));
  if (l.strategies.empty() && svc.scheduling_strategy() != "DAEMON") l.strategies = DefaultServiceStrategies();
  l.api_constraints = svc.placement_constraints();
  l.api_strategies = svc.placement_strategy();
  l.seed = NewSeed();
  l.launch_type_given = true;  // CreateService resolved the cluster's default strategy already
  l.provider_strategy = svc.capacity_provider_strategy();
  if (!l.provider_strategy.empty()) {
    // Base and weights count the tasks the service has with each provider.
    v1::TaskRecord r;
    for (const auto& id : service.task_ids) {
      auto it = cluster.tasks.find(id);
      if (it == cluster.tasks.end()) continue;
      it->second.Decode(&r);
      if (!r.task().capacity_provider_name().empty() && r.task().desired_status() != "STOPPED") {
        ++l.provider_counts[r.task().capacity_provider_name()];
      }
    }
  }
  return l;
}

void ServiceActions::ApplyStoppedServiceTasks(Applier& txn) {
  const double now = clock_->NowSeconds();
  for (const auto& [cluster, task_id] : txn.TakeStoppedServiceTasks()) {
    const ClusterEntry* c = state_->FindCluster(cluster);
    if (c == nullptr) continue;
    auto t = c->tasks.find(task_id);
    if (t == c->tasks.end()) continue;
    const v1::TaskRecord record = t->second.record();
    auto s = c->services.find(record.service());
    if (s == c->services.end()) continue;
    txn.UpdateService(*c, s->second, [&](v1::ServiceRecord& rec) {
      return scheduler::OnTaskStopped(rec, record, now, options_.services.rules, NewDeploymentId());
    });
  }
}

void ServiceActions::QueueService(const ServiceKey& key) {
  if (queued_.insert(key).second) queue_.push_back(key);
}

void ServiceActions::OnBatchApplied(Applier& txn) {
  ApplyStoppedServiceTasks(txn);
  absl::btree_set<ServiceKey> dirty = txn.TakeDirtyServices();
  if (dirty.empty()) return;
  absl::MutexLock lock(&scheduler_mu_);
  for (const auto& key : dirty) QueueService(key);
}

void ServiceActions::ServiceTick() {
  const int64_t now = clock_->MonotonicMicros();
  std::vector<ServiceKey> keys;
  bool purge = false;
  {
    // State before scheduler_mu_, as everywhere.
    absl::ReaderMutexLock state_lock(mu_);
    absl::MutexLock lock(&scheduler_mu_);
    if (reconcile_in_flight_) return;
    if (now >= next_resync_us_) {
      next_resync_us_ = now + options_.services.resync_interval_us;
      purge = true;
      for (const auto& [name, c] : state_->clusters()) {
        for (const auto& [service, entry] : c->services) {
          if (entry.active()) QueueService({name, service});
        }
      }
    }
    for (auto it = service_wake_us_.begin(); it != service_wake_us_.end();) {
      if (it->second <= now) {
        QueueService(it->first);
        it = service_wake_us_.erase(it);
      } else {
        ++it;
      }
    }
    while (!queue_.empty() && keys.size() < options_.services.max_per_pass) {
      queued_.erase(queue_.front());
      keys.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (keys.empty() && !purge) return;
    reconcile_in_flight_ = true;
  }
  Submit(
      [this, keys = std::move(keys), purge](Applier& txn) -> absl::Status {
        for (const auto& [cluster, name] : keys) {
          const ClusterEntry* c = state_->FindCluster(cluster);
          if (c == nullptr || !c->active()) continue;
          auto it = c->services.find(name);
          if (it == c->services.end()) continue;
          ReconcileService(txn, *c, it->second);
        }
        if (purge) {
          // Deleted services stay visible to DescribeServices for a while, then go.
          const double cutoff =
              clock_->NowSeconds() - static_cast<double>(options_.services.inactive_retention_us) / 1e6;
          for (const auto& [cname, c] : state_->clusters()) {
            std::vector<std::string> expired;
            for (const auto& [name, entry] : c->services) {
              if (!entry.active() && entry.record.deleted_at() < cutoff && entry.task_ids.empty()) {
                expired.push_back(name);
              }
            }
            for (const auto& name : expired) txn.RemoveService(*c, name);
          }
        }
        return absl::OkStatus();
      },
      [this](absl::Status) {
        absl::MutexLock lock(&scheduler_mu_);
        reconcile_in_flight_ = false;
      });
}

ServiceActions::ScaleInShape ServiceActions::ServiceScaleIn(const v1::Service& svc) const {
  ScaleInShape shape;
  std::vector<placement::Constraint> unused;
  (void)ParsePlacement({}, svc.placement_strategy(), options_.limits, &unused, &shape.strategies);
  if (shape.strategies.empty() && svc.scheduling_strategy() != "DAEMON") shape.strategies = DefaultServiceStrategies();
  for (const auto& s : shape.strategies) {
    if (s.type == placement::Strategy::Type::kSpread) ++shape.policy.spread_levels;
    if (s.type == placement::Strategy::Type::kBinpack && shape.policy.spread_levels == 0 && !shape.policy.binpack) {
      shape.policy.binpack = true;
      shape.binpack_field = s.field;
    }
  }
  return shape;
}

std::vector<scheduler::ServiceTask> ServiceActions::ServiceSnapshot(const ClusterEntry& cluster,
                                                                    const ServiceEntry& service,
                                                                    const ScaleInShape& shape) const {
  absl::flat_hash_map<std::pair<std::string, uint32_t>, bool> checked;  // (family, revision) -> has checks
  std::vector<scheduler::ServiceTask> tasks;
  tasks.reserve(service.task_ids.size());
  v1::TaskRecord r;
  for (const auto& id : service.task_ids) {
    auto it = cluster.tasks.find(id);
    if (it == cluster.tasks.end()) continue;
    it->second.Decode(&r);
    const v1::Task& t = r.task();
    scheduler::ServiceTask st;
    st.id = r.id();
    st.deployment_id = r.deployment_id();
    st.instance_id = r.container_instance_id();
    st.phase = t.desired_status() == "STOPPED" ? scheduler::TaskPhase::kStopping
               : t.last_status() == "RUNNING"  ? scheduler::TaskPhase::kRunning
                                               : scheduler::TaskPhase::kPending;
    auto key = std::make_pair(r.family(), r.task_definition_revision());
    auto ch = checked.find(key);
    if (ch == checked.end()) {
      const v1::TaskDefinitionRecord* td = state_->FindTaskDefinition(r.family(), r.task_definition_revision());
      ch = checked.emplace(key, td != nullptr && HasHealthChecks(td->task_definition())).first;
    }
    st.health = HealthOf(ch->second, t.health_status());
    st.created_at = t.created_at();
    st.started_at = t.started_at();
    st.protected_until = r.protected_until();
    if (auto inst = cluster.instances.find(st.instance_id); inst != cluster.instances.end()) {
      const auto& ci = inst->second.record.instance();
      st.instance_draining = ci.status() == "DRAINING";
      st.agent_connected = ci.agent_connected();
      // A disconnection counts from no earlier than this berthd's start (see started_at_).
      const double since = inst->second.record.disconnected_at();
      st.disconnected_at = since > 0 ? std::max(since, started_at_) : 0;
    }
    const placement::InstanceView* view = cluster.view.Find(st.instance_id);
    for (const auto& s : shape.strategies) {
      if (s.type != placement::Strategy::Type::kSpread) continue;
      if (s.field == placement::Strategy::Field::kAttribute) {
        const std::string* v = view == nullptr ? nullptr : view->Attribute(s.attribute);
        st.spread_values.push_back(v == nullptr ? std::string() : *v);
      } else {
        st.spread_values.push_back(st.instance_id);
      }
    }
    if (shape.policy.binpack && view != nullptr) {
      st.instance_remaining =
          shape.binpack_field == placement::Strategy::Field::kCpu ? view->cpu_remaining() : view->memory_remaining();
    }
    tasks.push_back(std::move(st));
  }
  return tasks;
}

std::vector<scheduler::DaemonInstance> ServiceActions::DaemonInstances(const ClusterEntry& cluster,
                                                                       const v1::ServiceRecord& rec) const {
  std::vector<scheduler::DaemonInstance> instances;
  if (rec.deployments().empty()) return instances;
  const v1::Service& svc = rec.service();
  const v1::DeploymentRecord& primary = rec.deployments(0);
  const v1::TaskDefinitionRecord* td = state_->FindTaskDefinition(primary.family(), primary.task_definition_revision());
  std::vector<placement::Constraint> constraints;
  std::vector<placement::Strategy> unused;
  (void)ParsePlacement(svc.placement_constraints(), {}, options_.limits, &constraints, &unused);
  std::vector<placement::RequiredAttribute> required;
  if (td != nullptr) {
    required = RequiredAttributes(td->task_definition());
    for (const auto& pc : td->task_definition().placement_constraints()) {
      auto c = placement::Constraint::FromApi(pc.type(), pc.expression());
      if (c.ok()) constraints.push_back(*std::move(c));
    }
  }
  const placement::LaunchType launch_type = LaunchTypeOf(svc.launch_type());
  for (const auto& [id, inst] : cluster.instances) {
    const auto& ci = inst.record.instance();
    if (ci.status() != "ACTIVE" && ci.status() != "DRAINING") continue;
    scheduler::DaemonInstance di;
    di.id = id;
    di.agent_connected = ci.agent_connected();
    const placement::InstanceView* view = cluster.view.Find(id);
    bool eligible = ci.status() == "ACTIVE" && view != nullptr && view->launch_type == launch_type;
    for (size_t i = 0; eligible && i < required.size(); ++i) {
      const std::string* v = view->Attribute(required[i].name);
      eligible = v != nullptr && (!required[i].value || *v == *required[i].value);
    }
    for (size_t i = 0; eligible && i < constraints.size(); ++i) {
      if (constraints[i].type == placement::Constraint::Type::kMemberOf) {
        eligible = constraints[i].expression->Matches(placement::ViewSubject(*view));
      }
    }
    di.eligible = eligible;
    instances.push_back(std::move(di));
  }
  return instances;
}

namespace {

// The service event for a failure to place one of its tasks, in ECS's words.
std::string UnplacedEvent(const std::string& name, const v1::Failure& f) {
  const std::string unable = StrCat("(service ", name, ") was unable to place a task ");
  if (!f.arn().empty()) {  // a daemon's named instance is gone or INACTIVE
    return StrCat(unable, "on container instance ", f.arn(), ": ", f.reason());
  }
  if (f.reason() == placement::kReasonMissing) {  // ECS's words for an empty cluster
    return StrCat(unable,
                  "because no container instance met all of its requirements. Reason: No Container Instances "
                  "were found in your cluster.");
  }
  return StrCat(unable, "because no container instance met all of its requirements: ",
                f.detail().empty() ? f.reason() : f.detail(), ".");
}

}  // namespace

bool ServiceActions::StartPlanned(Applier& txn, const ClusterEntry& cluster, const ServiceEntry& service,
                                  v1::ServiceRecord& rec, const scheduler::Plan& plan, double now,
                                  PassOutcome* outcome) {
  const scheduler::Options& rules = options_.services.rules;
  const std::string& name = rec.service().service_name();
  const bool daemon = rec.service().scheduling_strategy() == "DAEMON";
  auto launch = ServiceLaunch(cluster, service);
  google::protobuf::RepeatedPtrField<v1::Task> started;
  google::protobuf::RepeatedPtrField<v1::Failure> failures;
  absl::Status result = launch.status();
  if (launch.ok()) {
    if (daemon) {
      launch->instance_ids = plan.start_on;
    } else {
      launch->count = plan.start;
    }
    result = launcher_->ApplyLaunch(txn, *launch, &started, &failures);
  }
  bool changed = false;
  const double retry = now + static_cast<double>(options_.services.placement_retry_us) / 1e6;
  auto retry_later = [&] {
    outcome->unplaced = true;
    outcome->wake_at = outcome->wake_at == 0 ? retry : std::min(outcome->wake_at, retry);
  };
  if (!result.ok()) {
    changed |= scheduler::AddEvent(
        rec, NewId(), StrCat("(service ", name, ") failed to launch a task: ", std::string(result.message())), now,
        rules);
    retry_later();
  }
  if (!started.empty()) {
    std::vector<std::string> ids;
    for (const auto& t : started) {
      auto id = arns_.TaskId(t.task_arn(), rec.cluster(), "taskArn");
      if (id.ok()) ids.push_back(*std::move(id));
    }
    changed |= scheduler::AddEvent(
        rec, NewId(), StrCat("(service ", name, ") has started ", ids.size(), " tasks:", TaskList(ids), "."), now,
        rules);
  }
  if (!failures.empty()) {
    changed |= scheduler::AddEvent(rec, NewId(), UnplacedEvent(name, failures[0]), now, rules);
    retry_later();
  }
  return changed;
}

bool ServiceActions::ReconcileService(Applier& txn, const ClusterEntry& cluster, const ServiceEntry& service) {
  // Stops recorded earlier in this batch count (throttle, circuit breaker) before deciding.
  ApplyStoppedServiceTasks(txn);
  const v1::Service& svc = service.record.service();
  if (svc.status() == "INACTIVE") return false;
  const double now = clock_->NowSeconds();
  const std::string name = svc.service_name();
  const bool daemon = svc.scheduling_strategy() == "DAEMON";

  // The snapshot: every live task of the service with the facts of its instance; for DAEMON, the
  // instances a task belongs on.
  const ScaleInShape shape = ServiceScaleIn(svc);
  const std::vector<scheduler::ServiceTask> tasks = ServiceSnapshot(cluster, service, shape);
  const std::vector<scheduler::DaemonInstance> instances =
      daemon ? DaemonInstances(cluster, service.record) : std::vector<scheduler::DaemonInstance>{};

  PassOutcome outcome;
  const bool changed = txn.UpdateService(cluster, service, [&](v1::ServiceRecord& rec) {
    scheduler::Plan plan =
        scheduler::Reconcile(rec, tasks, instances, shape.policy, now, options_.services.rules, [] { return NewId(); });
    bool record_changed = plan.record_changed;
    for (const auto& stop : plan.stops) {
      auto it = cluster.tasks.find(stop.task_id);
      if (it == cluster.tasks.end()) continue;
      launcher_->StopTaskRecord(txn, cluster, it->second, scheduler::kStopCodeScheduler, stop.reason);
    }
    outcome.wake_at = plan.wake_at;
    if (plan.start > kMaxStartsPerPass || static_cast<int>(plan.start_on.size()) > kMaxStartsPerPass) {
      plan.start = std::min(plan.start, kMaxStartsPerPass);
      if (static_cast<int>(plan.start_on.size()) > kMaxStartsPerPass) plan.start_on.resize(kMaxStartsPerPass);
      outcome.wake_at = now;  // the next pass places the rest
    }
    if (plan.start > 0 || !plan.start_on.empty()) {
      record_changed |= StartPlanned(txn, cluster, service, rec, plan, now, &outcome);
    }
    return record_changed;
  });
  txn.WatchInstances(cluster, name, service.active() && (daemon || outcome.unplaced));
  if (outcome.wake_at > 0) {
    const int64_t at = clock_->MonotonicMicros() + static_cast<int64_t>((outcome.wake_at - now) * 1e6);
    absl::MutexLock lock(&scheduler_mu_);
    auto [it, inserted] = service_wake_us_.try_emplace({service.record.cluster(), name}, at);
    if (!inserted) it->second = std::min(it->second, at);
  }
  return changed;
}

}  // namespace berth::controlplane
