// TaskEngine: drives each task on this host through the ECS lifecycle, converging what runs to the
// desired state berthd hands out.
//
//   PENDING: pull every image, create the awsvpc network holder, create every container, start
//            containers as their dependsOn conditions (START, COMPLETE, SUCCESS, HEALTHY) allow
//   RUNNING: every container has started; exits and health changes are watched. An essential
//            container's exit stops the task (EssentialContainerExited)
//   STOPPING -> STOPPED: containers stopped in reverse start order (SIGTERM, SIGKILL after
//            stopTimeout); then, after `cleanup_after`, removed
// A pull, create or start error, or a dependency that can never be met, stops the task with
// TaskFailedToStart and the runtime's message as the reason.
//
// The engine is level-triggered: each task is reconciled by one worker at a time (desired state,
// runtime events and timers only mark it for another pass), and every pass ends with a snapshot
// of the task sent to the report callback when it differs from the last one. Local state (runtime
// ids, statuses, stop reasons) is written to `state_path` so that a restarted agent adopts the
// containers it started instead of starting them again (task_engine_state.cc).
//
// Runtime calls block (a stop waits out the container's stop timeout, a pull takes what the
// registry takes), so a task's pass runs on a WorkerPool that grows on demand up to
// `max_workers`: a task in a slow call holds one thread and never delays another task's pass
// unless `max_workers` tasks are in runtime calls at once. Pulls of one image are shared: a task
// whose image is being pulled for another task waits for that pull and takes its result instead
// of pulling the same image a second time at once.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "berth/common/clock.h"
#include "berth/v1/agent.pb.h"
#include "src/agent/runtime.h"
#include "src/agent/worker_pool.h"

namespace berth::agent {

struct EngineOptions {
  std::string cluster;
  std::string instance_arn;
  int default_stop_timeout_seconds = 30;
  // STOPPED tasks' containers are removed this long after the task stopped.
  int64_t cleanup_after_us = 3LL * 3600 * 1'000'000;
  // How often running containers are inspected even without a runtime event (a safety net).
  int64_t resync_interval_us = 10'000'000;
  // At most this many tasks are in runtime calls at once (threads of the WorkerPool, started on
  // demand; idle ones exit). The Docker engine serves concurrent calls; a stop waiting out a stop
  // timeout costs it nothing but an open request.
  int max_workers = 64;
  // awsvpc: the per-instance range task addresses come from (IPv4 CIDR, /16 to /28).
  std::string awsvpc_cidr = "172.30.0.0/24";
  // The part of awsvpc_cidr this host's task addresses come from (IPv4 CIDR, /16 to /30); empty:
  // all of awsvpc_cidr. Hosts sharing one network each get their own range.
  std::string awsvpc_range;
  // Where local state is kept; empty keeps it in memory only.
  std::string state_path;
  // The task credentials endpoint as containers reach it ("http://169.254.170.2", or
  // "http://HOST:PORT"); empty: tasks with a role get no credentials. A task with a role gets
  // AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (for 169.254.170.2, as ECS) or
  // AWS_CONTAINER_CREDENTIALS_FULL_URI, naming /v2/credentials/<its own random id>.
  std::string credentials_endpoint;
  // How often the writable-layer use of tasks with an ephemeral storage limit is measured.
  int64_t storage_check_interval_us = 10'000'000;
};

class TaskEngine {
 public:
  using ReportFn = std::function<void(v1::TaskStateChange)>;

  // `runtime` and `clock` must outlive the engine. `report` is called from worker threads with
  // each new snapshot of a task.
  TaskEngine(EngineOptions options, Runtime* runtime, const Clock* clock, ReportFn report);
  ~TaskEngine();

  // Loads local state and adopts the runtime's containers of this instance (found by label);
  // containers of tasks it knows nothing about are adopted too, and stopped unless the first
  // desired state lists their task. Call before Start.
  absl::Status Recover();
  // Passes of the tasks that are due begin on the worker pool.
  void Start();
  // Waits for the passes in progress to end at their next step (a runtime call in progress
  // returns first, at once when the runtime's CancelCalls was called) and drops the queued ones.
  void Stop();

  // The task a credentials id was given to, while the task is not STOPPED; with its role (the
  // overrides' taskRoleArn, else the task definition's). Empty when there is none.
  struct CredentialsOwner {
    std::string task_arn;
    std::string role_arn;
  };
  std::optional<CredentialsOwner> CredentialsOwnerOf(const std::string& credentials_id) const;

  // Converges to a desired state from Poll (not an `unchanged` answer). A delta changes only the
  // tasks it lists or removes; a whole desired state also stops every task it does not list.
  void ApplyDesired(const v1::PollResponse& desired);
  // berthd does not know the task: stop it if needed, then forget it.
  void Forget(const std::string& task_arn);
  // Housekeeping: resyncs running tasks and removes containers of tasks stopped long enough.
  void Tick();

  // A container whose output the agent ships (LogCapture): it has a runtime id, berthd gave it a
  // log destination, and it has not been removed.
  struct OutputSource {
    std::string runtime_id;
    v1::LogDestination destination;
  };
  std::vector<OutputSource> OutputSources();

  // Current snapshots of every task (for re-reporting after a reconnect).
  std::vector<v1::TaskStateChange> SnapshotAll();
  std::optional<v1::TaskStateChange> Snapshot(const std::string& task_arn);
  size_t task_count();
  // Waits until no task is being reconciled or queued (tests).
  void WaitIdle();

 private:
  struct ContainerRun {
    v1::ContainerDefinition def;  // overrides applied
    bool essential = true;
    std::string runtime_id;
    std::string status = "PENDING";  // PENDING | RUNNING | STOPPED
    bool started = false;            // Start succeeded
    int start_order = 0;
    std::optional<int32_t> exit_code;
    std::string health;  // HEALTHY | UNHEALTHY | UNKNOWN, or "" without a health check
    std::vector<PortBinding> bindings;
    std::string reason;
    std::string image_digest;
    std::optional<v1::LogDestination> log;  // from berthd's desired state; none: not captured
  };
  struct TaskRun {
    std::string arn;
    bool have_definition = false;
    v1::TaskDefinition definition;
    v1::TaskOverride overrides;
    std::vector<v1::HostPortAssignment> host_ports;
    std::vector<v1::SharedFileSystem> file_systems;  // efsVolumeConfiguration volumes, resolved by berthd
    int64_t task_cpu = 0;                            // task-level size from berthd (0: none): caps every container
    int64_t task_memory = 0;
    int64_t ephemeral_storage_mib = 0;  // limit on the containers' writable layers (0: none)
    // The task's cgroup (Runtime::CreateTaskCgroup): set once made; "" when the runtime keeps none.
    bool cgroup_made = false;
    std::string cgroup_parent;
    std::string desired = "RUNNING";
    std::string status = "PENDING";
    std::string stop_code;
    std::string stopped_reason;
    bool stop_requested = false;  // by the engine itself (failure, essential exit)
    bool pulled = false;
    std::optional<double> pull_started_at, pull_stopped_at, created_at, started_at, stopped_at;
    int64_t stopped_mono_us = 0;
    std::vector<ContainerRun> containers;
    TaskNetwork network;
    bool in_manifest = true;
    bool forgotten = false;  // berthd does not know it
    bool removed = false;    // containers removed after STOPPED
    bool busy = false;
    bool dirty = false;
    bool queued = false;
    std::string last_report;  // serialized last snapshot sent
    // The unguessable id in its containers' credentials URI (128 random bits), kept in local
    // state: a restarted agent must answer the URI its running containers already have.
    std::string credentials_id;
  };
  static std::string RoleOf(const TaskRun& t);
  enum class DepState { kReady, kWait, kNever };

  // A pull of one image in progress, shared by every task that needs the image meanwhile.
  struct PullFlight {
    bool done = false;
    absl::Status status;
  };

  void Enqueue(TaskRun& task);  // lock held
  // A pass over the task on a worker (what Enqueue submits).
  void RunPass(const std::string& arn);
  void Reconcile(const std::string& arn);
  // Pulls spec's image, or waits for a pull of the same image in progress and takes its result.
  // Called and returns with `lock` held; releases it meanwhile.
  absl::Status PullShared(const ContainerSpec& spec, std::unique_lock<std::mutex>& lock);
  // One pass over a task; may release `lock` around runtime calls.
  void Step(TaskRun& t, std::unique_lock<std::mutex>& lock);
  void StopTask(TaskRun& t, std::unique_lock<std::mutex>& lock);
  void Refresh(TaskRun& t, ContainerRun& c, const ContainerStatus& status);
  void Fail(TaskRun& t, ContainerRun* c, const std::string& reason);
  DepState Dependencies(const TaskRun& t, const ContainerRun& c, std::string* why) const;
  ContainerSpec MakeSpec(const TaskRun& t, const ContainerRun& c) const;
  void Define(TaskRun& t, const v1::TaskDefinition& td, const v1::DesiredTask& d);
  std::string NetworkMode(const TaskRun& t) const;
  std::string AllocateAddress() const;  // lock held
  v1::TaskStateChange MakeSnapshot(const TaskRun& t) const;
  // Every storage_check_interval: stops a RUNNING task whose containers' writable layers hold
  // more than its ephemeral storage limit. Without the lock.
  void CheckStorage();
  void EmitIfChanged(TaskRun& t);  // lock held
  void Persist();                  // lock held
  absl::Status LoadState();

  const EngineOptions options_;
  Runtime* const runtime_;
  const Clock* const clock_;
  const ReportFn report_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::condition_variable pull_cv_;
  std::map<std::string, std::unique_ptr<TaskRun>> tasks_;
  std::map<std::string, std::string> task_of_container_;      // runtime id -> task arn
  std::map<std::string, std::shared_ptr<PullFlight>> pulls_;  // by image (and its credentials)
  int passes_pending_ = 0;                                    // submitted to the pool and not finished
  int next_start_order_ = 1;
  bool started_ = false;
  bool stopping_ = false;
  int64_t next_resync_us_ = 0;
  int64_t next_storage_check_us_ = 0;
  WorkerPool pool_;
};

}  // namespace berth::agent
