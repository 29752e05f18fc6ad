// FakeCluster: a small simulator for the service scheduler's tests. It holds one service's tasks,
// applies each Plan (starts become pending tasks of the PRIMARY placed round-robin, stops become
// stopping tasks), steps tasks forward (pending to running or to a failed stop, stopping to gone,
// calling OnTaskStopped) with a fake clock, and after every applied plan checks that reconciling
// again changes nothing.
#pragma once

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/common/strings.h"
#include "berth/scheduler/service_scheduler.h"

namespace berth::scheduler {

inline constexpr double kT0 = 1'700'000'000;
inline constexpr char kFailedToStart[] = "TaskFailedToStart";

struct SimInstance {
  std::string id;
  std::string zone;
  bool draining = false;
  bool connected = true;
  double disconnected_at = 0;
  bool eligible = true;   // DAEMON: satisfies the service's constraints
  int64_t remaining = 0;  // binpack scale-in
};

enum class Spread { kZone, kInstance };

class FakeCluster {
 public:
  // A service with its first deployment started (not yet reconciled). Instances i-0..i-(n-1) in
  // zones a, b, a, b, ...
  FakeCluster(int desired, int min_pct, int max_pct, int n_instances = 3, std::string strategy = "REPLICA") {
    v1::Service* s = record.mutable_service();
    s->set_service_name("web");
    s->set_status("ACTIVE");
    s->set_desired_count(desired);
    s->set_scheduling_strategy(strategy);
    s->set_launch_type("EC2");
    s->mutable_deployment_configuration()->set_minimum_healthy_percent(min_pct);
    s->mutable_deployment_configuration()->set_maximum_percent(max_pct);
    s->mutable_deployment_configuration()->mutable_deployment_circuit_breaker()->set_enable(false);
    s->mutable_deployment_configuration()->mutable_deployment_circuit_breaker()->set_rollback(false);
    record.set_cluster("default");
    record.set_family("web");
    record.set_task_definition_revision(1);
    for (int i = 0; i < n_instances; ++i) AddInstance();
    StartDeployment(record, NextDeploymentId(), now);
  }

  SimInstance& AddInstance() {
    const int n = static_cast<int>(instances.size());
    instances.push_back(SimInstance{StrCat("i-", n), n % 2 == 0 ? "a" : "b"});
    return instances.back();
  }
  SimInstance& Instance(const std::string& id) {
    for (SimInstance& i : instances) {
      if (i.id == id) return i;
    }
    ADD_FAILURE() << "no instance " << id;
    return instances.front();
  }
  void Disconnect(const std::string& id) {
    Instance(id).connected = false;
    Instance(id).disconnected_at = now;
  }
  void Reconnect(const std::string& id) {
    Instance(id).connected = true;
    Instance(id).disconnected_at = 0;
  }

  std::string NextDeploymentId() { return StrCat("ecs-svc/", 1000000000000000000 + ++deployments_); }
  std::string NewDeployment(uint32_t revision) {
    record.set_task_definition_revision(revision);
    std::string id = NextDeploymentId();
    StartDeployment(record, id, now);
    return id;
  }

  // A live task placed directly (not through a plan).
  ServiceTask& AddTask(const std::string& instance, TaskPhase phase, std::string deployment = "") {
    ServiceTask t;
    t.id = StrCat("t", 1000 + ++tasks_);
    t.deployment_id = deployment.empty() ? PrimaryId() : deployment;
    t.instance_id = instance;
    t.phase = phase;
    t.health = start_health;
    t.created_at = now;
    t.started_at = phase == TaskPhase::kPending ? 0 : now;
    tasks.push_back(t);
    return tasks.back();
  }
  ServiceTask* Task(const std::string& id) {
    for (ServiceTask& t : tasks) {
      if (t.id == id) return &t;
    }
    return nullptr;
  }

  std::vector<ServiceTask> Snapshot() const {
    std::vector<ServiceTask> out;
    for (ServiceTask t : tasks) {
      for (const SimInstance& i : instances) {
        if (i.id != t.instance_id) continue;
        t.instance_draining = i.draining;
        t.agent_connected = i.connected;
        t.disconnected_at = i.disconnected_at;
        t.instance_remaining = i.remaining;
        t.spread_values.clear();
        for (Spread s : spreads) t.spread_values.push_back(s == Spread::kZone ? i.zone : i.id);
      }
      out.push_back(std::move(t));
    }
    return out;
  }
  std::vector<DaemonInstance> DaemonInstances() const {
    std::vector<DaemonInstance> out;
    for (const SimInstance& i : instances) out.push_back(DaemonInstance{i.id, i.eligible && !i.draining, i.connected});
    return out;
  }
  ScaleInPolicy Policy() const { return ScaleInPolicy{static_cast<int>(spreads.size()), binpack}; }

  // Reconciles without applying.
  Plan Decide() { return ReconcileRecord(record); }

  // Reconciles and applies; then checks that reconciling the result again is a no-op.
  Plan Run() {
    Plan plan = Decide();
    Apply(plan);
    v1::ServiceRecord copy = record;
    Plan again = ReconcileRecord(copy);
    EXPECT_TRUE(again.empty()) << "second pass at " << now - kT0 << ": start " << again.start << ", start_on "
                               << again.start_on.size() << ", stops " << again.stops.size();
    EXPECT_FALSE(again.record_changed) << "second pass changed the record at " << now - kT0 << ":\n"
                                       << Diff(record, copy);
    last_plan = plan;
    return plan;
  }

  static std::string Diff(const v1::ServiceRecord& a, const v1::ServiceRecord& b) {
    std::string out;
    google::protobuf::util::MessageDifferencer d;
    d.ReportDifferencesToString(&out);
    d.Compare(a, b);
    return out;
  }

  void Apply(const Plan& plan) {
    for (const StopOrder& s : plan.stops) {
      ServiceTask* t = Task(s.task_id);
      ASSERT_NE(t, nullptr) << s.task_id;
      ASSERT_NE(t->phase, TaskPhase::kStopping) << s.task_id << " stopped twice";
      t->phase = TaskPhase::kStopping;
      stop_reasons[t->id] = s.reason;
    }
    for (int i = 0; i < plan.start; ++i) {
      std::vector<const SimInstance*> usable;
      for (const SimInstance& inst : instances) {
        if (inst.connected && !inst.draining) usable.push_back(&inst);
      }
      ASSERT_FALSE(usable.empty());
      AddTask(usable[next_instance_++ % usable.size()]->id, TaskPhase::kPending);
    }
    for (const std::string& id : plan.start_on) AddTask(id, TaskPhase::kPending);
  }

  // Advances the clock; tasks on connected instances move on: stopping ones are gone (the stop is
  // reported), pending ones start (or fail to, for a failing deployment).
  void Step(double dt = 1) {
    now += dt;
    std::vector<ServiceTask> next;
    std::vector<std::pair<ServiceTask, bool>> stopped;  // the task, whether it failed to start
    for (ServiceTask& t : tasks) {
      bool connected = true;
      for (const SimInstance& i : instances) {
        if (i.id == t.instance_id) connected = i.connected;
      }
      if (!connected) {
        next.push_back(t);
      } else if (t.phase == TaskPhase::kStopping) {
        stopped.emplace_back(t, false);
      } else if (t.phase == TaskPhase::kPending && failing.contains(t.deployment_id)) {
        stopped.emplace_back(t, true);
      } else {
        if (t.phase == TaskPhase::kPending) {
          t.phase = TaskPhase::kRunning;
          t.started_at = now;
          if (healthy_after >= 0) t.health = TaskHealth::kUnknown;
        }
        if (healthy_after >= 0 && t.health == TaskHealth::kUnknown && now >= t.started_at + healthy_after) {
          t.health = TaskHealth::kHealthy;
        }
        next.push_back(t);
      }
    }
    tasks = std::move(next);
    for (const auto& [t, failed] : stopped) {
      if (failed) {
        Report(t, kFailedToStart, "CannotPullContainerError: image not found");
      } else {
        Report(t, kStopCodeScheduler, stop_reasons[t.id]);
      }
    }
  }

  // Reports a task STOPPED to the scheduler and removes it.
  void Stopped(const ServiceTask& t, const std::string& code, const std::string& reason) {
    const std::string id = t.id;
    Report(t, code, reason);
    std::erase_if(tasks, [&](const ServiceTask& x) { return x.id == id; });
  }

  void Report(const ServiceTask& t, const std::string& code, const std::string& reason) {
    v1::TaskRecord rec;
    rec.set_cluster("default");
    rec.set_id(t.id);
    rec.set_service("web");
    rec.set_deployment_id(t.deployment_id);
    rec.mutable_task()->set_stop_code(code);
    rec.mutable_task()->set_stopped_reason(reason);
    OnTaskStopped(record, rec, now, options, NextDeploymentId());
  }

  // Runs until the PRIMARY's rollout leaves IN_PROGRESS and the service is steady.
  bool Settle(int max_steps = 200) {
    for (int i = 0; i < max_steps; ++i) {
      Run();
      if (record.steady() && Primary().rollout_state() != "IN_PROGRESS") return true;
      Step();
    }
    return false;
  }

  const v1::Deployment& Primary() const { return record.deployments(0).deployment(); }
  std::string PrimaryId() const { return Primary().id(); }
  int Count(const std::function<bool(const ServiceTask&)>& pred) const {
    return static_cast<int>(std::count_if(tasks.begin(), tasks.end(), pred));
  }
  int Healthy() const {
    return Count([](const ServiceTask& t) {
      return t.phase == TaskPhase::kRunning && (t.health == TaskHealth::kNoCheck || t.health == TaskHealth::kHealthy);
    });
  }
  int Total() const { return static_cast<int>(tasks.size()); }
  int OfDeployment(const std::string& id) const {
    return Count([&](const ServiceTask& t) { return t.deployment_id == id && t.phase != TaskPhase::kStopping; });
  }
  // The number of events containing `text`.
  int Events(const std::string& text) const {
    return static_cast<int>(std::count_if(record.events().begin(), record.events().end(),
                                          [&](const auto& e) { return e.message().find(text) != std::string::npos; }));
  }
  std::set<std::string> StoppedIds(const Plan& plan) const {
    std::set<std::string> out;
    for (const StopOrder& s : plan.stops) out.insert(s.task_id);
    return out;
  }

  v1::ServiceRecord record;
  std::vector<SimInstance> instances;
  std::vector<ServiceTask> tasks;
  std::map<std::string, std::string> stop_reasons;
  std::set<std::string> failing;  // deployments whose tasks fail to start
  TaskHealth start_health = TaskHealth::kNoCheck;
  // When >= 0: tasks have health checks, UNKNOWN once RUNNING and HEALTHY this long after.
  double healthy_after = -1;
  std::vector<Spread> spreads;
  bool binpack = false;
  Options options;
  double now = kT0;
  Plan last_plan;

 private:
  Plan ReconcileRecord(v1::ServiceRecord& r) {
    return Reconcile(r, Snapshot(), DaemonInstances(), Policy(), now, options,
                     [this] { return StrCat("ev-", ++events_); });
  }

  int deployments_ = 0;
  int tasks_ = 0;
  int events_ = 0;
  size_t next_instance_ = 0;
};

}  // namespace berth::scheduler
