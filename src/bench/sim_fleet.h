// SimFleet: simulated agents inside berth-bench, thousands in one process. Each registers a container
// instance through AgentService.RegisterInstance, long-polls its desired state, and answers each
// changed poll with one ReportStateChanges that reports every task it should run RUNNING (one
// container, RUNNING) and every task it should stop STOPPED (with the stop code berthd gave it).
// It is level-triggered like berth-agent: what berthd does not know yet (a lagging known_status) is
// reported again on the next answer.
//
// The agents use gRPC's callback API, one RPC at a time per agent, each issued from the previous
// one's callback: no thread per agent. They are spread over `channels` connections.
//
// Thread safety: counters and running() are readable from any thread while the agents run; Kill()
// may be called from any thread. SimFleet itself is owned by one thread; its destructor kills every
// agent and waits for their callbacks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/v1/agent.grpc.pb.h"
#include "src/bench/scenario.h"
#include "src/bench/target.h"

namespace berth::bench {

struct SimFleetSpec {
  std::string cluster;
  int agents = 1000;
  int32_t cpu_units = 4096;
  int32_t memory_mib = 8192;
  int zones = 3;            // attribute ecs.availability-zone = az-1 .. az-<zones>, in turn
  int channels = 16;        // gRPC connections the agents are spread over
  int wait_millis = 20000;  // long-poll wait each agent asks for
  int register_parallelism = 16;
  std::string container = "app";  // the container name reported for every task
  // See AgentShared::on_first_seen.
  std::function<void(const std::string& task_arn, bool desired_running)> on_first_seen;
};

// What every simulated agent shares. Counters are read by other threads while the agents run.
struct AgentShared {
  std::string cluster;
  std::string container;
  int wait_millis = 20000;
  std::atomic<int64_t> polls{0};
  std::atomic<int64_t> changed_polls{0};  // answers that carried a desired state (not "unchanged")
  std::atomic<int64_t> reports{0};
  std::atomic<int64_t> reported_running{0};  // RUNNING task changes acknowledged by berthd
  std::atomic<int64_t> reported_stopped{0};  // STOPPED task changes acknowledged by berthd
  std::atomic<int64_t> running{0};           // tasks acknowledged RUNNING and still desired RUNNING, fleet-wide
  std::atomic<int64_t> poll_errors{0};
  std::atomic<int64_t> report_errors{0};
  std::atomic<int> gave_up{0};
  std::atomic<int> in_flight{0};  // RPCs whose callback has not finished
  std::atomic<int> settled{0};    // agents whose first poll was answered (their next one parks)
  // Called (on a gRPC thread, concurrently) the first time an agent sees a task desired RUNNING,
  // and the first time it sees one desired STOPPED: the moment a desired-state change reached its
  // agent. Set before Start.
  std::function<void(const std::string& task_arn, bool desired_running)> on_first_seen;
};

class SimAgent {
 public:
  SimAgent(v1::AgentService::Stub* stub, AgentShared* shared, std::string instance_arn)
      : stub_(stub), shared_(shared), instance_arn_(std::move(instance_arn)) {}

  void Start() { Poll(); }

  // Stops polling and reporting, as a lost host would, and cancels a parked poll so berthd no
  // longer sees the agent as present. A report in flight completes; nothing follows it.
  void Kill();
  bool killed() const;

  // Tasks this agent has reported RUNNING (acknowledged) that its last desired state still wants RUNNING.
  int running() const { return running_.load(std::memory_order_relaxed); }
  const std::string& instance_arn() const { return instance_arn_; }

 private:
  void Poll();
  void OnPolled(const grpc::Status& status);
  void Report();
  void OnReported(const grpc::Status& status);
  struct HeldTask {
    bool desired_running = false;  // the last answer wants it RUNNING
    bool acked_running = false;    // berthd acknowledged it RUNNING (STOPPED or nothing otherwise)
  };
  // Sets a held task's two facts, keeping running_count_ (tasks with both) current.
  void SetTask(HeldTask& task, bool desired_running, bool acked_running);
  void ForgetTask(const std::string& task_arn);
  // Publishes running_count_ to running_ and the fleet-wide count.
  void PublishRunning();

  v1::AgentService::Stub* const stub_;
  AgentShared* const shared_;
  const std::string instance_arn_;

  mutable absl::Mutex mu_;
  bool killed_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::ClientContext> poll_context_ ABSL_GUARDED_BY(mu_);

  std::atomic<int> running_{0};

  // Owned by the RPC chain (one RPC at a time; gRPC orders each callback after the call it ends).
  v1::PollRequest poll_request_;
  v1::PollResponse poll_response_;
  std::unique_ptr<grpc::ClientContext> report_context_;
  v1::ReportStateChangesRequest report_request_;
  v1::ReportStateChangesResponse report_response_;
  uint64_t known_version_ = 0;
  bool settled_ = false;  // the first poll was answered
  int consecutive_errors_ = 0;
  // Every task the last answers listed (or a report acknowledged), by ARN; one lookup per change,
  // and the running count kept as they change rather than recounted over the map.
  absl::flat_hash_map<std::string, HeldTask> tasks_;
  int running_count_ = 0;
};

class SimFleet {
 public:
  // Registers spec.agents instances (in parallel) and starts every agent's poll loop.
  static absl::StatusOr<std::unique_ptr<SimFleet>> Start(const Target& target, const SimFleetSpec& spec,
                                                         const Console& console);
  SimFleet(const SimFleet&) = delete;
  SimFleet& operator=(const SimFleet&) = delete;
  // Kills every agent and waits for their callbacks (aborts if they never come: they reference it).
  ~SimFleet();

  // Kills every agent; OK once no callback is in flight, DeadlineExceeded after 90 s.
  absl::Status Stop();

  int size() const { return static_cast<int>(agents_.size()); }
  SimAgent& agent(int i) { return *agents_[static_cast<size_t>(i)]; }
  const AgentShared& shared() const { return shared_; }
  // Tasks acknowledged RUNNING and still desired RUNNING, over every agent (killed ones too).
  int64_t running() const { return shared_.running.load(std::memory_order_relaxed); }
  // Agent-side counters as JSON (polls, reports, errors).
  nlohmann::ordered_json CountersJson() const;

 private:
  SimFleet() = default;
  absl::Status Register(const SimFleetSpec& spec, std::vector<std::string>* arns);

  AgentShared shared_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs_;
  std::vector<std::unique_ptr<SimAgent>> agents_;
};

}  // namespace berth::bench
