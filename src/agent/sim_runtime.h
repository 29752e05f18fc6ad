// SimRuntime: containers that "run" in memory. The task engine drives them exactly as it drives
// Docker containers, so a simulated agent goes through the real lifecycle and protocol without a
// container engine (`berth-agent --runtime sim`): tests build fleets of instances with chosen
// resources and attributes. berth-bench's simulated agents are its own protocol client
// (src/bench/sim_fleet.h), not this runtime.
//
// Behaviour comes from the options (for every container) and, per container, from environment
// variables of its definition, so a task definition can ask for a specific behaviour:
//   BERTH_SIM_START_DELAY=SECONDS   running this long after Start (default: options)
//   BERTH_SIM_EXIT_AFTER=SECONDS    exits this long after it started (default: options; <0 never)
//   BERTH_SIM_EXIT_CODE=N           its exit code when it exits on its own (default: options)
//   BERTH_SIM_PULL_ERROR=MESSAGE    Pull of its image fails with MESSAGE
//   BERTH_SIM_IGNORE_SIGTERM=1      Stop waits the whole timeout, then the exit code is 137
//   BERTH_SIM_HEALTH=healthy|unhealthy   health once started, when it has a healthCheck
//                                   (default healthy)
//   BERTH_SIM_DISK_USAGE_MIB=N      what it has written to its writable layer once started
//                                   (DiskUsage; default 0)
//   BERTH_SIM_LOG_RATE=LINES        lines a second it writes on stdout while it runs (default:
//                                   options), each "sim line N " padded with x to
//   BERTH_SIM_LOG_BYTES=N           bytes (default 100); N counts from 1, so a reader can tell a
//                                   line lost or repeated
//   BERTH_SIM_LOG_LINES=N           at most this many lines (default: no limit)
// Simulated containers have no cgroups: CreateTaskCgroup returns "" (no task cgroup).
// With `failure_rate` > 0 a started container exits at once with code 1 with that probability
// (seeded, so runs repeat).
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "berth/common/clock.h"
#include "src/agent/runtime.h"

namespace berth::agent {

class SimRuntime final : public Runtime {
 public:
  struct Options {
    double start_delay_seconds = 0;
    double pull_delay_seconds = 0;
    double exit_after_seconds = -1;  // < 0: runs until stopped
    int exit_code = 0;
    double failure_rate = 0;
    uint64_t seed = 1;
    double log_lines_per_second = 0;  // output of every container (BERTH_SIM_LOG_RATE)
  };

  // `clock` must outlive the runtime.
  SimRuntime(Options options, const Clock* clock);
  ~SimRuntime() override;

  std::string Name() const override { return "sim"; }
  std::string Version() const override { return "sim"; }
  absl::Status Pull(const ContainerSpec& spec) override;
  absl::StatusOr<std::string> Create(const ContainerSpec& spec) override;
  absl::Status Start(const std::string& id) override;
  absl::Status Stop(const std::string& id, int timeout_seconds) override;
  absl::Status Remove(const std::string& id) override;
  absl::Status RemoveVolume(const std::string& name) override { return absl::OkStatus(); }  // none exist
  absl::StatusOr<ContainerStatus> Inspect(const std::string& id) override;
  absl::StatusOr<std::vector<ManagedContainer>> ListManaged(const std::string& cluster,
                                                            const std::string& instance_arn) override;
  absl::StatusOr<TaskNetwork> CreateTaskNetwork(const std::string& task_arn, const std::string& address,
                                                const std::map<std::string, std::string>& labels) override;
  void SetListener(std::function<void(const std::string& id)> listener) override;
  // A pull's delay and a stop waiting out its timeout end at once with CANCELLED.
  void CancelCalls() override;
  absl::StatusOr<std::string> CreateTaskCgroup(const std::string&, int64_t, int64_t) override { return std::string(); }
  absl::Status RemoveTaskCgroup(const std::string&) override { return absl::OkStatus(); }
  absl::StatusOr<int64_t> DiskUsage(const std::string& id) override;
  // Synthetic output (BERTH_SIM_LOG_*): line N is written at start + N / rate, timestamped by the
  // clock; read every 10 ms.
  absl::Status FollowOutput(const std::string& id, int64_t since_ns,
                            const std::function<bool(OutputLine)>& on_line) override;

  // Images whose pull fails (in addition to BERTH_SIM_PULL_ERROR), for tests.
  void FailPulls(const std::string& image, const std::string& message);
  size_t container_count() const;

 private:
  struct Container {
    ContainerSpec spec;
    bool network_holder = false;
    bool started = false;
    int64_t running_at_us = 0;  // monotonic; when Start's delay has passed
    int64_t exits_at_us = -1;   // monotonic; -1 never
    int32_t natural_exit_code = 0;
    std::optional<int32_t> exit_code;  // set once exited
    double started_at = 0;
    double finished_at = 0;
    bool ignore_sigterm = false;
    std::string health;  // "" when no health check
  };
  // Applies time: a container whose exit time passed is exited (lock held).
  void Advance(Container& c, int64_t now_us);
  void Schedule(const std::string& id, int64_t at_us);
  void TimerLoop();

  const Options options_;
  const Clock* const clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Container> containers_;
  std::map<std::string, std::string> pull_errors_;
  std::multimap<int64_t, std::string> timers_;
  std::mutex listener_mu_;  // held while the listener runs; never with mu_
  std::function<void(const std::string&)> listener_;
  std::mt19937_64 rng_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  bool cancelled_ = false;  // CancelCalls
  std::condition_variable cancel_cv_;
  std::thread timer_thread_;
};

}  // namespace berth::agent
