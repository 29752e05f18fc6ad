// The service scheduler's decisions: what to start and stop so that a service converges on its
// desired state, and how its deployments progress. Semantics: docs/services.md.
//
// Pure and deterministic. Reconcile() reads a snapshot of one service's tasks (and, for DAEMON,
// of the cluster's instances) and the service record, updates the record (deployments, rollout
// state, events, throttle) and returns a Plan; it never places tasks itself. The control plane
// runs it inside a commit-pipeline proposal, places the Plan's starts with the placement engine,
// marks the Plan's stops, and persists the record in the same batch, so a decision is durable
// exactly when its effects are.
//
// Level-triggered: Reconcile() is safe to call at any time and any number of times; calling it
// again at the same time with the snapshot that reflects its plan (the stopped tasks now
// kStopping, the started ones pending) and the record it left yields an empty plan (no starts, no
// stops) and leaves the record unchanged. Edge-triggered input is limited to OnTaskStopped(),
// called in the same proposal that records a service task as STOPPED.
//
// Times are seconds since the Unix epoch (as in records), from the caller's clock.
//
// Thread safety: none needed; functions are pure over their arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/v1/records.pb.h"

namespace berth::scheduler {

// ECS strings the scheduler writes.
inline constexpr char kStopCodeScheduler[] = "ServiceSchedulerInitiated";
inline constexpr char kReasonHealthCheck[] = "Task failed container health checks";
inline constexpr char kReasonServiceDeleted[] = "Service is being deleted";

enum class TaskPhase : uint8_t {
  kPending,   // desired RUNNING, lastStatus before RUNNING
  kRunning,   // desired RUNNING, lastStatus RUNNING
  kStopping,  // desired STOPPED, not yet STOPPED (still holds resources, still counts in the total)
};

enum class TaskHealth : uint8_t {
  kNoCheck,  // no essential container has a health check: healthy once RUNNING
  kUnknown,  // checks exist, no verdict yet
  kHealthy,
  kUnhealthy,
};

// One live (not STOPPED) task of the service, with the facts about its instance that the rules
// need.
struct ServiceTask {
  std::string id;
  std::string deployment_id;
  std::string instance_id;
  TaskPhase phase = TaskPhase::kPending;
  TaskHealth health = TaskHealth::kNoCheck;
  double created_at = 0;
  double started_at = 0;       // 0 until RUNNING
  double protected_until = 0;  // scale-in protection; protected while now < protected_until

  // Its instance.
  bool instance_draining = false;  // DRAINING: the task must move (replaced, then stopped)
  bool agent_connected = true;
  double disconnected_at = 0;  // when the agent was marked disconnected (0 while connected)
  // Scale-in balance: the instance's value for each spread strategy of the service, in order
  // (the instance id for spread(instanceId|host); the attribute's value, or "" when the
  // instance lacks it, for spread(attribute:NAME)).
  std::vector<std::string> spread_values;
  // Scale-in balance for binpack: the instance's remaining resource of the service's first
  // binpack field (cpu units or MiB); unused without a binpack strategy.
  int64_t instance_remaining = 0;
};

// DAEMON: one container instance of the cluster (ACTIVE or DRAINING; INACTIVE ones are left out).
struct DaemonInstance {
  std::string id;
  // ACTIVE and satisfies the service's launch type, required attributes and constraints. A
  // daemon task belongs on exactly the eligible instances.
  bool eligible = false;
  bool agent_connected = true;
};

// How the service's strategies shape scale-in (derived by the caller from placementStrategy).
struct ScaleInPolicy {
  // Number of spread strategies (ServiceTask::spread_values has this many entries).
  int spread_levels = 0;
  // A binpack strategy comes before any spread: stop tasks on the instances with the most of the
  // binpacked resource remaining first (emptying the least-used instances).
  bool binpack = false;
};

struct Options {
  // Replacement throttle: after `free_retries` consecutive failed tasks, each further failure
  // delays the next launch by backoff_base_s * 2^(n-1) (n = failures beyond the free ones),
  // capped at backoff_cap_s. Reset once a task started after the last failure has stayed RUNNING
  // (and healthy, if it has checks) for stable_after_s.
  int free_retries = 3;
  double backoff_base_s = 10;
  double backoff_cap_s = 900;
  double stable_after_s = 30;
  // Service events kept (newest first).
  int max_events = 100;
  // A message identical to the newest event is not repeated within this many seconds.
  double event_repeat_s = 300;
};

struct StopOrder {
  std::string task_id;
  std::string reason;  // stoppedReason; the stop code is always kStopCodeScheduler
};

struct Plan {
  // REPLICA: tasks of the PRIMARY deployment to place anywhere the placement allows.
  int start = 0;
  // DAEMON: instances that need a task of the PRIMARY deployment (one each).
  std::vector<std::string> start_on;
  std::vector<StopOrder> stops;
  // The earliest future time at which a timer-based rule could change the outcome (backoff
  // expiry, grace period end, lost threshold, protection expiry, throttle reset); 0 when none.
  // The caller reconciles again at that time even without an event.
  double wake_at = 0;
  // The record changed (deployments, events, throttle, status): the caller persists it.
  bool record_changed = false;

  bool empty() const { return start == 0 && start_on.empty() && stops.empty(); }
};

// The service's deployment limits for a desired count: ECS rounds the minimum up and the
// maximum down.
int MinHealthyTasks(int desired, int minimum_healthy_percent);
int MaxTotalTasks(int desired, int maximum_percent);
// The circuit breaker's threshold: max(10, min(200, ceil(0.5 * desired))).
int CircuitBreakerThreshold(int desired);

// Whether a stop counts as a failed launch (circuit breaker, throttle): any stop the scheduler
// or a user did not ask for, and the scheduler's own stops of tasks that failed health checks.
bool IsFailedStop(std::string_view stop_code, std::string_view stopped_reason);

// Adds an event at the front (newest first; the oldest beyond options.max_events, at least 1, are
// dropped; a message identical to the newest event's and younger than options.event_repeat_s is
// not added). `id` must be unique within the service. Returns whether the record changed.
bool AddEvent(v1::ServiceRecord& service, std::string id, std::string message, double now, const Options& options);

// A new PRIMARY deployment of the record's family/revision (UpdateService with a new task
// definition or forceNewDeployment, CreateService, rollback). The previous PRIMARY becomes
// ACTIVE. `id` is the deployment id ("ecs-svc/<19 digits>").
void StartDeployment(v1::ServiceRecord& service, std::string id, double now);

// A task of the service reached STOPPED (call in the proposal that records it). Tasks of other
// services and stops that are not failures (IsFailedStop) are ignored. A failure advances the
// replacement throttle (except for a deployment the circuit breaker already failed: its tasks still
// in flight would only delay the rollback) and counts against the task's deployment if still
// listed (failedTasks). The circuit breaker trips when the PRIMARY, IN_PROGRESS, reaches the
// threshold: the deployment becomes FAILED and, with rollback and a last_completed deployment, a
// new PRIMARY deployment of last_completed's task definition starts (id `new_deployment_id`)
// with the throttle reset; not while the service is being deleted. The events it adds take ids
// derived from the task's id ("<task id>-circuit-breaker", "<task id>-rollback"), unique since a
// task stops once. Returns whether the record changed.
bool OnTaskStopped(v1::ServiceRecord& service, const v1::TaskRecord& task, double now, const Options& options,
                   const std::string& new_deployment_id);

// Reconciles a REPLICA or DAEMON service (rules: docs/services.md). `tasks`: every live (not
// STOPPED) task of the service, lost ones included. `instances`: DAEMON only (every ACTIVE or
// DRAINING instance of the cluster); ignored for REPLICA. `event_id` generates unique event ids
// (called once per event actually added). An INACTIVE service gets an empty plan; a DRAINING one
// (deleted) has every task stopped and becomes INACTIVE once none is left. Otherwise the record
// must have a PRIMARY deployment first (checked).
Plan Reconcile(v1::ServiceRecord& service, const std::vector<ServiceTask>& tasks,
               const std::vector<DaemonInstance>& instances, const ScaleInPolicy& policy, double now,
               const Options& options, const std::function<std::string()>& event_id);

}  // namespace berth::scheduler
