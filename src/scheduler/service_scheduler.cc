// The service scheduler. The rules are numbered as in docs/services.md ("The REPLICA pass"); each
// step below names its rule.
//
// Structure: a Pass holds what one Reconcile() call accumulates (the plan, the tasks it stopped,
// wake-ups, events) over the record it edits; ReconcileDeleting, ReconcileReplica and
// ReconcileDaemon are the three kinds of pass. StopPicker yields tasks in the scale-in order
// (rule 5), which both scale-in and the replacement of old tasks use. Reconcile() compares the
// record before and after to set Plan::record_changed, so no step has to track its edits.
#include "berth/scheduler/service_scheduler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <google/protobuf/util/message_differencer.h>

#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::scheduler {
namespace {

constexpr char kStatusPrimary[] = "PRIMARY";
constexpr char kStatusActive[] = "ACTIVE";
constexpr char kServiceDraining[] = "DRAINING";
constexpr char kServiceInactive[] = "INACTIVE";
constexpr char kRolloutInProgress[] = "IN_PROGRESS";
constexpr char kRolloutCompleted[] = "COMPLETED";
constexpr char kRolloutFailed[] = "FAILED";
constexpr char kDaemon[] = "DAEMON";

bool IsHealthy(const ServiceTask& t) {
  return t.phase == TaskPhase::kRunning && (t.health == TaskHealth::kNoCheck || t.health == TaskHealth::kHealthy);
}

bool IsProtected(const ServiceTask& t, double now) { return now < t.protected_until; }

// The class a task falls in for the stop order: pending first, then running but not healthy, then
// healthy.
int StopClass(const ServiceTask& t) {
  if (t.phase == TaskPhase::kPending) return 0;
  return IsHealthy(t) ? 2 : 1;
}

std::string ServiceTag(const v1::ServiceRecord& record) {
  return StrCat("(service ", record.service().service_name(), ")");
}

std::string ScalingReason(std::string_view primary_id) {
  return StrCat("Scaling activity initiated by (deployment ", primary_id, ")");
}

std::string InProgressReason(std::string_view id) { return StrCat("ECS deployment ", id, " in progress."); }

// Whether `message` would repeat an event younger than options.event_repeat_s: the newest one
// only (AddEvent's rule) or, with `any_recent`, any of them. Messages of which one pass may add
// several (one per instance) use `any_recent`, so that another event in between does not make them
// repeat on the next pass.
bool Repeats(const v1::ServiceRecord& record, std::string_view message, double now, const Options& options,
             bool any_recent) {
  for (const v1::ServiceEvent& e : record.events()) {
    if (now - e.created_at() >= options.event_repeat_s) return false;  // newest first: the rest are older
    if (e.message() == message) return true;
    if (!any_recent) return false;
  }
  return false;
}

// Yields tasks to stop, one at a time, in the scale-in order (rule 5): an outer rank (lower
// first), then pending before running-but-not-healthy before healthy, then balance (binpack: most
// of the resource remaining on the instance; then for each spread level the value that has the
// most tasks of the population left, recomputed after each pick), then the newest, then the id.
//
// Candidates that agree on every key but age share a group kept newest first, so a pick compares
// groups (at most one per rank, class and instance) rather than tasks: replacing thousands of
// tasks stays linear in the number of instances per stop.
class StopPicker {
 public:
  StopPicker(const ScaleInPolicy& policy, const std::vector<const ServiceTask*>& candidates,
             const std::vector<const ServiceTask*>& population, const std::function<int(const ServiceTask&)>& rank)
      : binpack_(policy.binpack), levels_(static_cast<size_t>(std::max(0, policy.spread_levels))) {
    counts_.resize(levels_);
    for (const ServiceTask* t : population) {
      for (size_t level = 0; level < levels_; ++level) ++counts_[level][Value(*t, level)];
    }
    std::map<std::tuple<int, int, int64_t, std::vector<std::string>>, size_t> index;
    for (const ServiceTask* t : candidates) {
      std::vector<std::string> values;
      for (size_t level = 0; level < levels_; ++level) values.push_back(Value(*t, level));
      const int64_t remaining = binpack_ ? t->instance_remaining : 0;
      auto [it, inserted] = index.try_emplace({rank(*t), StopClass(*t), remaining, values}, groups_.size());
      if (inserted) groups_.push_back(Group{rank(*t), StopClass(*t), remaining, std::move(values), {}});
      groups_[it->second].tasks.push_back(t);
    }
    // Newest last: groups pop from the back.
    for (Group& g : groups_) std::sort(g.tasks.begin(), g.tasks.end(), [](auto* a, auto* b) { return Newer(*b, *a); });
  }

  // The next task in the order, or nullptr when none is left. Taken out of the candidates and of
  // the population's counts.
  const ServiceTask* Next() {
    Group* best = nullptr;
    for (Group& g : groups_) {
      if (!g.tasks.empty() && (best == nullptr || Before(g, *best))) best = &g;
    }
    if (best == nullptr) return nullptr;
    const ServiceTask* picked = best->tasks.back();
    best->tasks.pop_back();
    for (size_t level = 0; level < levels_; ++level) --counts_[level][best->values[level]];
    return picked;
  }

  // Drops the candidates for which `drop` holds (they will not be stopped).
  void DropIf(const std::function<bool(const ServiceTask&)>& drop) {
    for (Group& g : groups_) std::erase_if(g.tasks, [&](const ServiceTask* t) { return drop(*t); });
  }

 private:
  struct Group {
    int rank;
    int stop_class;
    int64_t remaining;
    std::vector<std::string> values;        // per spread level
    std::vector<const ServiceTask*> tasks;  // oldest first
  };

  static std::string Value(const ServiceTask& t, size_t level) {
    return level < t.spread_values.size() ? t.spread_values[level] : std::string();
  }

  static bool Newer(const ServiceTask& a, const ServiceTask& b) {
    if (a.created_at != b.created_at) return a.created_at > b.created_at;
    return a.id < b.id;
  }

  int Count(size_t level, const std::string& value) const {
    auto it = counts_[level].find(value);
    return it == counts_[level].end() ? 0 : it->second;
  }

  bool Before(const Group& a, const Group& b) const {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.stop_class != b.stop_class) return a.stop_class < b.stop_class;
    if (a.remaining != b.remaining) return a.remaining > b.remaining;
    for (size_t level = 0; level < levels_; ++level) {
      if (int na = Count(level, a.values[level]), nb = Count(level, b.values[level]); na != nb) return na > nb;
    }
    return Newer(*a.tasks.back(), *b.tasks.back());
  }

  const bool binpack_;
  const size_t levels_;
  std::vector<std::unordered_map<std::string, int>> counts_;
  std::vector<Group> groups_;
};

// What one Reconcile() call accumulates.
class Pass {
 public:
  Pass(v1::ServiceRecord& record, double now, const Options& options, const std::function<std::string()>& event_id)
      : record_(record), now_(now), options_(options), event_id_(event_id) {}

  v1::ServiceRecord& record() { return record_; }
  double now() const { return now_; }
  const Options& options() const { return options_; }
  Plan& plan() { return plan_; }

  void WakeAt(double at) {
    if (at > now_ && (plan_.wake_at == 0 || at < plan_.wake_at)) plan_.wake_at = at;
  }

  void Stop(const ServiceTask& t, std::string reason) {
    plan_.stops.push_back(StopOrder{t.id, std::move(reason)});
    stopped_.insert(t.id);
  }
  bool StoppedNow(const ServiceTask& t) const { return stopped_.contains(t.id); }
  // Desired RUNNING after this pass: neither stopping already nor stopped by it.
  bool Active(const ServiceTask& t) const { return t.phase != TaskPhase::kStopping && !StoppedNow(t); }

  void Event(const std::string& message, bool any_recent = false) {
    if (Repeats(record_, message, now_, options_, any_recent)) return;
    AddEvent(record_, event_id_(), message, now_, options_);
  }

  // Rule 12: one event naming every task this pass stopped.
  void StopEvent() {
    if (plan_.stops.empty()) return;
    std::string message = StrCat(ServiceTag(record_), " has stopped ", plan_.stops.size(), " running tasks:");
    for (const StopOrder& s : plan_.stops) StrAppend(&message, " (task ", s.task_id, ")");
    message.push_back('.');
    Event(message);
  }

 private:
  v1::ServiceRecord& record_;
  const double now_;
  const Options& options_;
  const std::function<std::string()>& event_id_;
  Plan plan_;
  std::unordered_set<std::string> stopped_;
};

// Rule 1: the PRIMARY wants the service's count, every other deployment none.
void SyncDesiredCounts(v1::ServiceRecord& record, int desired, double now) {
  for (int i = 0; i < record.deployments_size(); ++i) {
    v1::Deployment* d = record.mutable_deployments(i)->mutable_deployment();
    const int wanted = i == 0 ? desired : 0;
    if (d->desired_count() != wanted) {
      d->set_desired_count(wanted);
      d->set_updated_at(now);
    }
  }
}

// Rule 3: unhealthy past the grace period is stopped; within it, wake at its end.
void StopUnhealthy(Pass& p, const std::vector<const ServiceTask*>& tasks) {
  const double grace = p.record().service().health_check_grace_period_seconds();
  for (const ServiceTask* t : tasks) {
    if (t->phase != TaskPhase::kRunning || t->health != TaskHealth::kUnhealthy) continue;
    if (p.now() >= t->started_at + grace) {
      p.Stop(*t, kReasonHealthCheck);
    } else {
      p.WakeAt(t->started_at + grace);
    }
  }
}

// Rule 11: the throttle resets once a task started after the last failure has stayed healthy for
// stable_after_s.
void ResetThrottleIfStable(Pass& p, const std::vector<const ServiceTask*>& tasks) {
  v1::ServiceRecord& r = p.record();
  if (r.consecutive_failures() <= 0) return;
  double wake = 0;
  for (const ServiceTask* t : tasks) {
    if (!IsHealthy(*t) || t->started_at <= r.last_failure_at()) continue;
    const double stable_at = t->started_at + p.options().stable_after_s;
    if (p.now() >= stable_at) {
      r.set_consecutive_failures(0);
      r.set_launch_not_before(0);
      return;
    }
    if (wake == 0 || stable_at < wake) wake = stable_at;
  }
  p.WakeAt(wake);
}

// Rule 9 (second half): ACTIVE deployments without any live task leave the list.
void DropIdleDeployments(v1::ServiceRecord& r, const std::vector<ServiceTask>& tasks) {
  std::unordered_set<std::string> live;
  for (const ServiceTask& t : tasks) live.insert(t.deployment_id);
  auto* deployments = r.mutable_deployments();
  for (int i = deployments->size() - 1; i >= 1; --i) {
    if (!live.contains(deployments->Get(i).deployment().id())) deployments->DeleteSubrange(i, 1);
  }
}

// Rule 9: the PRIMARY's rollout completes; the other deployments leave the list.
void CompleteRollout(Pass& p) {
  v1::ServiceRecord& r = p.record();
  v1::Deployment* primary = r.mutable_deployments(0)->mutable_deployment();
  primary->set_rollout_state(kRolloutCompleted);
  primary->set_rollout_state_reason(StrCat("ECS deployment ", primary->id(), " completed."));
  primary->set_updated_at(p.now());
  r.mutable_deployments()->DeleteSubrange(1, r.deployments_size() - 1);
  *r.mutable_last_completed() = r.deployments(0);
  p.Event(StrCat(ServiceTag(r), " (deployment ", primary->id(), ") deployment completed."));
}

// Rule 8: a rollout that cannot progress says why (event and, while IN_PROGRESS, the PRIMARY's
// rolloutStateReason); once it can, the reason returns to "in progress".
void ReportStuck(Pass& p, bool stuck, const std::string& why) {
  v1::ServiceRecord& r = p.record();
  v1::Deployment* primary = r.mutable_deployments(0)->mutable_deployment();
  if (primary->rollout_state() == kRolloutInProgress) {
    std::string reason = stuck ? StrCat("ECS deployment ", primary->id(), " cannot make progress: ", why)
                               : InProgressReason(primary->id());
    if (primary->rollout_state_reason() != reason) primary->set_rollout_state_reason(std::move(reason));
  }
  if (!stuck) return;
  p.Event(StrCat(ServiceTag(r), " (deployment ", primary->id(), ") is unable to make progress: ", why), true);
}

// Rule 10: the steady flag, with an event when it turns true.
void UpdateSteady(Pass& p, bool steady) {
  v1::ServiceRecord& r = p.record();
  if (steady == r.steady()) return;
  r.set_steady(steady);
  if (steady) p.Event(StrCat(ServiceTag(r), " has reached a steady state."));
}

// Rule 0: a deleted service stops everything, then becomes INACTIVE.
void ReconcileDeleting(Pass& p, const std::vector<ServiceTask>& tasks) {
  // Tasks lost per the disconnect policy are told to stop (for when their agent returns) but do
  // not hold the service DRAINING: their agent may never come back.
  const int lost_after = p.record().service().lost_after_seconds();
  size_t waiting = 0;
  for (const ServiceTask& t : tasks) {
    if (t.phase != TaskPhase::kStopping) p.Stop(t, kReasonServiceDeleted);
    const bool lost =
        lost_after > 0 && !t.agent_connected && t.disconnected_at > 0 && p.now() - t.disconnected_at >= lost_after;
    if (!lost) {
      ++waiting;
    }
  }
  p.StopEvent();
  if (waiting == 0) {
    v1::ServiceRecord& r = p.record();
    r.mutable_service()->set_status(kServiceInactive);
    r.set_deleted_at(p.now());
    r.set_steady(false);
  }
}

// Rule 2: lost tasks (disconnected for lost_after_seconds or more) are left out of everything
// else; returns the others. One event for all of them (one per instance could crowd every other
// event out of the list).
std::vector<const ServiceTask*> LeaveOutLost(Pass& p, const std::vector<ServiceTask>& tasks) {
  const int lost_after = p.record().service().lost_after_seconds();
  std::vector<const ServiceTask*> remaining;
  std::map<std::string, int> lost_on;
  for (const ServiceTask& t : tasks) {
    if (lost_after > 0 && !t.agent_connected && t.disconnected_at > 0) {
      if (p.now() - t.disconnected_at >= lost_after) {
        ++lost_on[t.instance_id];
        continue;
      }
      p.WakeAt(t.disconnected_at + lost_after);
    }
    remaining.push_back(&t);
  }
  if (!lost_on.empty()) {
    int n = 0;
    for (const auto& [instance, count] : lost_on) n += count;
    std::string where = lost_on.size() == 1
                            ? StrCat("container instance ", lost_on.begin()->first)
                            : StrCat(lost_on.size(), " container instances (", lost_on.begin()->first, " and others)");
    p.Event(StrCat(ServiceTag(p.record()), " ", n, n == 1 ? " task" : " tasks", " on ", where, n == 1 ? " is" : " are",
                   " lost: disconnected for more than ", lost_after, " s; replacing ", n == 1 ? "it." : "them."),
            true);
  }
  return remaining;
}

// Rule 5: keepers beyond `desired` stop in the scale-in order, protected ones left alone (wake when
// the first protection ends if that left a surplus). The stopped leave `keepers`.
void ScaleIn(Pass& p, std::vector<const ServiceTask*>& keepers, int desired, const ScaleInPolicy& policy,
             const std::string& primary_id) {
  if (static_cast<int>(keepers.size()) <= desired) return;
  int surplus = static_cast<int>(keepers.size()) - desired;
  std::vector<const ServiceTask*> candidates;
  double protected_expiry = 0;
  for (const ServiceTask* t : keepers) {
    if (IsProtected(*t, p.now())) {
      if (protected_expiry == 0 || t->protected_until < protected_expiry) protected_expiry = t->protected_until;
    } else {
      candidates.push_back(t);
    }
  }
  StopPicker picker(policy, candidates, keepers, [](const ServiceTask&) { return 0; });
  for (; surplus > 0; --surplus) {
    const ServiceTask* t = picker.Next();
    if (t == nullptr) break;
    p.Stop(*t, ScalingReason(primary_id));
  }
  if (surplus > 0) p.WakeAt(protected_expiry);
  std::erase_if(keepers, [&](const ServiceTask* t) { return p.StoppedNow(*t); });
}

// Rule 7: leavers (tasks of other deployments, or on draining instances) stop oldest deployment
// first, a healthy one only while `budget` (healthy tasks beyond the minimum) lasts. Returns what
// is left of the budget.
int StopLeavers(Pass& p, const std::vector<const ServiceTask*>& leavers, const std::vector<const ServiceTask*>& active,
                int budget, const ScaleInPolicy& policy, const std::string& primary_id) {
  const v1::ServiceRecord& r = p.record();
  std::unordered_map<std::string, int> age;  // 1 = oldest listed; unknown ids 0; PRIMARY last
  const int n = r.deployments_size();
  for (int i = 1; i < n; ++i) age[r.deployments(i).deployment().id()] = n - i;
  auto rank = [&](const ServiceTask& t) {
    if (t.deployment_id == primary_id) return n;
    auto it = age.find(t.deployment_id);
    return it == age.end() ? 0 : it->second;
  };
  std::vector<const ServiceTask*> candidates;
  for (const ServiceTask* t : leavers) {
    if (IsProtected(*t, p.now())) {
      p.WakeAt(t->protected_until);
    } else {
      candidates.push_back(t);
    }
  }
  std::vector<const ServiceTask*> population;
  for (const ServiceTask* t : active) {
    if (!p.StoppedNow(*t)) population.push_back(t);
  }
  StopPicker picker(policy, candidates, population, rank);
  while (const ServiceTask* t = picker.Next()) {
    if (IsHealthy(*t)) {
      if (budget <= 0) {
        picker.DropIf(IsHealthy);
        continue;
      }
      --budget;
    }
    p.Stop(*t, t->deployment_id == primary_id
                   ? StrCat("Task stopped because container instance ", t->instance_id, " is DRAINING")
                   : ScalingReason(primary_id));
  }
  return budget;
}

void ReconcileReplica(Pass& p, const std::vector<ServiceTask>& tasks, const ScaleInPolicy& policy) {
  v1::ServiceRecord& r = p.record();
  const v1::Service& svc = r.service();
  const double now = p.now();

  // 1. Deployment arithmetic.
  const int desired = std::max(0, svc.desired_count());
  const int min_pct = svc.deployment_configuration().minimum_healthy_percent();
  const int max_pct = svc.deployment_configuration().maximum_percent();
  const int min_healthy = MinHealthyTasks(desired, min_pct);
  const int max_total = MaxTotalTasks(desired, max_pct);
  SyncDesiredCounts(r, desired, now);
  const std::string primary_id = r.deployments(0).deployment().id();
  const bool failed = r.deployments(0).deployment().rollout_state() == kRolloutFailed;

  // 2. Lost tasks are left out of everything below.
  const std::vector<const ServiceTask*> remaining = LeaveOutLost(p, tasks);

  // 3. Health checks; 11. throttle reset (before the start decision it may unblock).
  StopUnhealthy(p, remaining);
  ResetThrottleIfStable(p, remaining);

  // 4. Counts. A task stopped in step 3 is stopping now: it stays in the total.
  const int total = static_cast<int>(remaining.size());
  std::vector<const ServiceTask*> keepers;
  std::vector<const ServiceTask*> leavers;
  std::vector<const ServiceTask*> active;
  for (const ServiceTask* t : remaining) {
    if (!p.Active(*t)) continue;
    active.push_back(t);
    if (t->deployment_id == primary_id && !t->instance_draining) {
      keepers.push_back(t);
    } else {
      leavers.push_back(t);
    }
  }

  // 5. Scale-in.
  ScaleIn(p, keepers, desired, policy, primary_id);

  // 6. Start.
  const int need = desired - static_cast<int>(keepers.size());
  const int room = max_total - total;
  int start = std::max(0, std::min(need, room));
  if (failed) {
    start = 0;
  } else if (start > 0 && now < r.launch_not_before()) {
    start = 0;
    p.WakeAt(r.launch_not_before());
  }
  p.plan().start = start;

  // 7. Stop leavers within the healthy budget.
  int healthy = 0;
  for (const ServiceTask* t : active) {
    if (!p.StoppedNow(*t) && IsHealthy(*t)) ++healthy;
  }
  int budget = healthy - min_healthy;
  if (!failed && !leavers.empty()) budget = StopLeavers(p, leavers, active, budget, policy, primary_id);
  p.StopEvent();

  // 8. Stuck bounds: every task runs healthy, no task may start (the total is at its maximum) and
  // none may stop (the healthy count is at its minimum).
  bool all_settled = true;
  for (const ServiceTask* t : remaining) {
    if (!p.Active(*t) || !IsHealthy(*t)) all_settled = false;
  }
  const bool nothing_done = start == 0 && p.plan().stops.empty();
  const bool stuck = !failed && !leavers.empty() && nothing_done && all_settled && room <= 0 && budget <= 0 &&
                     max_total <= min_healthy;
  ReportStuck(p, stuck,
              StrCat("desiredCount ", desired, " with minimumHealthyPercent ", min_pct, " and maximumPercent ", max_pct,
                     " allows at most ", max_total, " tasks and requires at least ", min_healthy,
                     " healthy tasks, so no new task can start before an old one stops and no old task can stop "
                     "before a new one is healthy; raise maximumPercent or lower minimumHealthyPercent."));

  // 9. Completion.
  bool keepers_healthy = true;
  for (const ServiceTask* t : keepers) keepers_healthy = keepers_healthy && IsHealthy(*t);
  // Any phase: a stopping task of another deployment, or on a draining instance, has not moved yet.
  const bool others_left = std::any_of(remaining.begin(), remaining.end(), [&](const ServiceTask* t) {
    return t->deployment_id != primary_id || t->instance_draining;
  });
  const bool done = static_cast<int>(keepers.size()) == desired && keepers_healthy && leavers.empty();
  if (r.deployments(0).deployment().rollout_state() == kRolloutInProgress && done && !others_left) {
    CompleteRollout(p);
  }
  DropIdleDeployments(r, tasks);

  // 10. Steady.
  const bool settling = std::any_of(remaining.begin(), remaining.end(),
                                    [](const ServiceTask* t) { return t->phase != TaskPhase::kRunning; });
  UpdateSteady(p, done && nothing_done && !settling);
}

void ReconcileDaemon(Pass& p, const std::vector<ServiceTask>& tasks, const std::vector<DaemonInstance>& instances) {
  v1::ServiceRecord& r = p.record();
  const double now = p.now();
  const std::string tag = ServiceTag(r);

  std::map<std::string, const DaemonInstance*> by_id;
  for (const DaemonInstance& i : instances) by_id[i.id] = &i;
  int desired = 0;
  for (const auto& [id, i] : by_id) desired += i->eligible ? 1 : 0;
  if (r.service().desired_count() != desired) r.mutable_service()->set_desired_count(desired);
  SyncDesiredCounts(r, desired, now);
  const int min_pct = r.service().deployment_configuration().minimum_healthy_percent();
  const int min_healthy = MinHealthyTasks(desired, min_pct);
  const std::string primary_id = r.deployments(0).deployment().id();
  const bool failed = r.deployments(0).deployment().rollout_state() == kRolloutFailed;

  std::vector<const ServiceTask*> all;
  for (const ServiceTask& t : tasks) all.push_back(&t);
  StopUnhealthy(p, all);
  ResetThrottleIfStable(p, all);

  // Tasks off the eligible instances go at once.
  std::map<std::string, std::vector<const ServiceTask*>> on;  // active tasks per eligible instance
  std::unordered_set<std::string> occupied;                   // instances with any live task
  for (const ServiceTask* t : all) {
    occupied.insert(t->instance_id);
    if (!p.Active(*t)) continue;
    auto it = by_id.find(t->instance_id);
    if (it == by_id.end()) {
      p.Stop(*t, StrCat("Task stopped because container instance ", t->instance_id, " is no longer in the cluster"));
    } else if (!it->second->eligible) {
      p.Stop(*t, StrCat("Task stopped because container instance ", t->instance_id,
                        " is DRAINING or no longer satisfies the service's placement constraints"));
    } else {
      on[t->instance_id].push_back(t);
    }
  }

  // One task per instance: PRIMARY over others, healthy over not, then the oldest.
  for (auto& [instance, group] : on) {
    if (group.size() < 2) continue;
    std::sort(group.begin(), group.end(), [&](const ServiceTask* a, const ServiceTask* b) {
      const bool pa = a->deployment_id == primary_id, pb = b->deployment_id == primary_id;
      if (pa != pb) return pa;
      if (IsHealthy(*a) != IsHealthy(*b)) return IsHealthy(*a);
      if (a->created_at != b->created_at) return a->created_at < b->created_at;
      return a->id < b->id;
    });
    for (size_t i = 1; i < group.size(); ++i) {
      p.Stop(*group[i], StrCat("Task stopped because container instance ", instance,
                               " runs more than one task of the daemon service"));
    }
    group.resize(1);
  }

  // Replace old deployments' tasks within the healthy budget; start where nothing runs.
  int healthy = 0;
  for (const ServiceTask* t : all) {
    if (p.Active(*t) && IsHealthy(*t)) ++healthy;
  }
  int budget = healthy - min_healthy;
  bool blocked_by_budget = false;  // a healthy old task stayed for want of budget
  bool every_instance_done = true;
  for (const auto& [id, instance] : by_id) {
    if (!instance->eligible || !instance->agent_connected) continue;
    auto it = on.find(id);
    const ServiceTask* current = it == on.end() ? nullptr : it->second.front();
    if (current != nullptr && current->deployment_id == primary_id) {
      every_instance_done = every_instance_done && IsHealthy(*current);
      continue;
    }
    every_instance_done = false;
    if (failed) continue;
    if (current != nullptr) {
      if (IsProtected(*current, now)) {
        p.WakeAt(current->protected_until);
        continue;
      }
      if (IsHealthy(*current)) {
        if (budget <= 0) {
          blocked_by_budget = true;
          continue;
        }
        --budget;
      }
      p.Stop(*current, ScalingReason(primary_id));
    } else if (!occupied.contains(id)) {
      if (now < r.launch_not_before()) {
        p.WakeAt(r.launch_not_before());
      } else {
        p.plan().start_on.push_back(id);
      }
    }
  }
  p.StopEvent();

  const bool others_left =
      std::any_of(all.begin(), all.end(), [&](const ServiceTask* t) { return t->deployment_id != primary_id; });
  const bool settling =
      std::any_of(all.begin(), all.end(), [&](const ServiceTask* t) { return !p.Active(*t) || !IsHealthy(*t); });
  const bool nothing_done = p.plan().start_on.empty() && p.plan().stops.empty();

  // 8 (daemon): an old task occupies its instance, and stopping it would go below the minimum.
  ReportStuck(
      p, !failed && blocked_by_budget && nothing_done && !settling,
      StrCat("desiredCount ", desired, " with minimumHealthyPercent ", min_pct, " requires at least ", min_healthy,
             " healthy tasks, so no task of an older deployment can stop to make room on its "
             "instance (a daemon runs one task per instance; maximumPercent does not apply); lower "
             "minimumHealthyPercent."));

  const bool done = every_instance_done && !others_left && nothing_done;
  if (r.deployments(0).deployment().rollout_state() == kRolloutInProgress && done) CompleteRollout(p);
  DropIdleDeployments(r, tasks);
  UpdateSteady(p, done && !settling);
}

}  // namespace

int MinHealthyTasks(int desired, int minimum_healthy_percent) {
  const int64_t product = int64_t{std::max(0, desired)} * std::max(0, minimum_healthy_percent);
  return static_cast<int>((product + 99) / 100);
}

int MaxTotalTasks(int desired, int maximum_percent) {
  const int64_t product = int64_t{std::max(0, desired)} * std::max(0, maximum_percent);
  return static_cast<int>(product / 100);
}

int CircuitBreakerThreshold(int desired) {
  const int half = static_cast<int>((int64_t{std::max(0, desired)} + 1) / 2);
  return std::max(10, std::min(200, half));
}

bool IsFailedStop(std::string_view stop_code, std::string_view stopped_reason) {
  if (stop_code.empty() || stop_code == "TaskFailedToStart" || stop_code == "EssentialContainerExited") return true;
  if (stop_code == kStopCodeScheduler) return stopped_reason == kReasonHealthCheck;
  return false;
}

bool AddEvent(v1::ServiceRecord& service, std::string id, std::string message, double now, const Options& options) {
  if (Repeats(service, message, now, options, false)) return false;
  auto* events = service.mutable_events();
  v1::ServiceEvent* e = events->Add();
  e->set_id(std::move(id));
  e->set_created_at(now);
  e->set_message(std::move(message));
  for (int i = events->size() - 1; i > 0; --i) events->SwapElements(i, i - 1);
  const int keep = std::max(1, options.max_events);
  if (events->size() > keep) events->DeleteSubrange(keep, events->size() - keep);
  return true;
}

void StartDeployment(v1::ServiceRecord& service, std::string id, double now) {
  if (service.deployments_size() > 0) {
    v1::Deployment* previous = service.mutable_deployments(0)->mutable_deployment();
    if (previous->status() == kStatusPrimary) {
      previous->set_status(kStatusActive);
      previous->set_updated_at(now);
    }
  }
  v1::DeploymentRecord record;
  v1::Deployment* d = record.mutable_deployment();
  d->set_id(id);
  d->set_status(kStatusPrimary);
  d->set_desired_count(service.service().desired_count());
  d->set_failed_tasks(0);
  d->set_created_at(now);
  d->set_updated_at(now);
  if (service.service().has_launch_type()) d->set_launch_type(service.service().launch_type());
  d->set_rollout_state(kRolloutInProgress);
  d->set_rollout_state_reason(InProgressReason(id));
  record.set_family(service.family());
  record.set_task_definition_revision(service.task_definition_revision());
  auto* deployments = service.mutable_deployments();
  *deployments->Add() = std::move(record);
  for (int i = deployments->size() - 1; i > 0; --i) deployments->SwapElements(i, i - 1);
  service.set_steady(false);
}

bool OnTaskStopped(v1::ServiceRecord& service, const v1::TaskRecord& task, double now, const Options& options,
                   const std::string& new_deployment_id) {
  if (task.service().empty() || task.service() != service.service().service_name()) return false;
  if (!service.cluster().empty() && !task.cluster().empty() && task.cluster() != service.cluster()) return false;
  if (!IsFailedStop(task.task().stop_code(), task.task().stopped_reason())) return false;
  int index = -1;
  for (int i = 0; i < service.deployments_size(); ++i) {
    if (service.deployments(i).deployment().id() == task.deployment_id()) index = i;
  }

  // The replacement throttle. A deployment the circuit breaker already failed launches nothing
  // more: its stragglers (tasks in flight when it tripped) would only delay the rollback.
  if (index < 0 || service.deployments(index).deployment().rollout_state() != kRolloutFailed) {
    service.set_consecutive_failures(service.consecutive_failures() + 1);
    service.set_last_failure_at(now);
    double delay = 0;
    const int beyond = service.consecutive_failures() - options.free_retries;
    if (beyond > 0) {
      delay = std::min(options.backoff_cap_s, std::ldexp(options.backoff_base_s, std::min(beyond - 1, 60)));
    }
    service.set_launch_not_before(now + delay);
  }

  // The deployment's failed launches and the circuit breaker.
  if (index < 0) return true;
  v1::Deployment* d = service.mutable_deployments(index)->mutable_deployment();
  d->set_failed_tasks(d->failed_tasks() + 1);
  d->set_updated_at(now);
  const auto& breaker = service.service().deployment_configuration().deployment_circuit_breaker();
  const bool deleting =
      service.service().status() == kServiceDraining || service.service().status() == kServiceInactive;
  if (index != 0 || deleting || d->rollout_state() != kRolloutInProgress || !breaker.enable() ||
      d->failed_tasks() < CircuitBreakerThreshold(d->desired_count())) {
    return true;
  }
  d->set_rollout_state(kRolloutFailed);
  d->set_rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.");
  const std::string tag = ServiceTag(service);
  const std::string failed_id = d->id();
  // Event ids derive from the task's id: a task stops once, and these events come at most once
  // each per stop.
  AddEvent(service, StrCat(task.id(), "-circuit-breaker"),
           StrCat(tag, " (deployment ", failed_id, ") deployment failed: tasks failed to start."), now, options);
  const v1::DeploymentRecord& target = service.last_completed();
  if (!breaker.rollback() || target.deployment().id().empty()) return true;
  const std::string target_id = target.deployment().id();
  service.set_family(target.family());
  service.set_task_definition_revision(target.task_definition_revision());
  StartDeployment(service, new_deployment_id, now);
  AddEvent(service, StrCat(task.id(), "-rollback"),
           StrCat(tag, " (deployment ", failed_id, ") rolling back to deployment ", target_id, "."), now, options);
  service.set_consecutive_failures(0);
  service.set_launch_not_before(0);
  return true;
}

Plan Reconcile(v1::ServiceRecord& service, const std::vector<ServiceTask>& tasks,
               const std::vector<DaemonInstance>& instances, const ScaleInPolicy& policy, double now,
               const Options& options, const std::function<std::string()>& event_id) {
  const std::string& status = service.service().status();
  if (status == kServiceInactive) return Plan{};
  const v1::ServiceRecord before = service;
  Pass pass(service, now, options, event_id);
  if (status == kServiceDraining) {
    ReconcileDeleting(pass, tasks);
  } else {
    if (service.deployments_size() == 0 || service.deployments(0).deployment().status() != kStatusPrimary) {
      // Not a record this code writes (an ACTIVE service always has its PRIMARY first): leave it
      // alone rather than guess, and say so.
      AddEvent(service, event_id(),
               StrCat(ServiceTag(service), " cannot be scheduled: its record has no PRIMARY deployment; update the ",
                      "service with forceNewDeployment to start one."),
               now, options);
      Plan plan;
      plan.record_changed = !google::protobuf::util::MessageDifferencer::Equals(before, service);
      return plan;
    }
    if (service.service().scheduling_strategy() == kDaemon) {
      ReconcileDaemon(pass, tasks, instances);
    } else {
      ReconcileReplica(pass, tasks, policy);
    }
  }
  Plan plan = std::move(pass.plan());
  plan.record_changed = !google::protobuf::util::MessageDifferencer::Equals(before, service);
  return plan;
}

}  // namespace berth::scheduler
