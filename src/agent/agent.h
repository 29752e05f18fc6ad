// Agent: one host's connection to berthd. Registers the host (resources, attributes), then runs
// three loops: the long poll that feeds the task engine its desired state (and is the heartbeat),
// the reporter that sends task state changes in batches, and a ticker for the engine's
// housekeeping. Every RPC failure is retried with exponential backoff and full jitter, so a
// restarted or unreachable berthd is rejoined without a thundering herd; after a reconnect the
// agent reports every task again, so berthd converges whatever it missed.
//
// The instance's identity (cluster, container instance ARN) is kept in the data dir: a restarted
// agent re-registers as the same instance and adopts its containers.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "berth/common/clock.h"
#include "berth/v1/agent.grpc.pb.h"
#include "src/agent/credentials_server.h"
#include "src/agent/log_capture.h"
#include "src/agent/runtime.h"
#include "src/agent/task_engine.h"

namespace berth::agent {

struct AgentOptions {
  std::string endpoint;  // berthd's gRPC HOST:PORT
  std::string cluster = "default";
  std::string token;  // API token sent as `authorization: Bearer` when berthd authenticates; empty: none
  // A join token (CreateJoinToken, "bjt-..."): registers this host as a new instance, which then
  // speaks with the instance credential berthd answered (kept in data_dir/agent.json, mode 0600).
  std::string join_token;
  // TLS (and a client certificate) for the channel to berthd; null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  std::string data_dir;  // empty: identity and task state in memory only (sim fleets)
  // HOST:PORT of the task credentials endpoint (CredentialsServer); empty: off, and tasks with a
  // role get no credentials. 169.254.170.2:80 is where the AWS SDKs look by default.
  std::string credentials_listen;
  std::map<std::string, std::string> attributes;  // custom attributes (name -> value)
  int64_t cpu_units = 0;                          // 0: cores x 1024
  int64_t memory_mib = 0;                         // 0: the host's memory
  int64_t reserved_memory_mib = 0;                // subtracted from memory
  std::vector<int32_t> reserved_tcp_ports = {22, 2375, 2376, 51678, 51679};
  std::vector<int32_t> reserved_udp_ports;
  std::string availability_zone;
  std::string instance_type;
  int32_t poll_wait_ms = 20000;
  int64_t backoff_initial_us = 200'000;
  int64_t backoff_max_us = 10'000'000;
  int report_batch = 100;
  // Containers' output shipped to berthd (LogCapture); the spool is data_dir/log-spool unless
  // logs.spool.dir says otherwise (in memory without a data dir).
  bool capture_logs = true;
  LogCaptureOptions logs;
  EngineOptions engine;  // cluster, instance_arn and state_path are filled in
};

// The host's resources and built-in attributes as registration sends them.
struct HostFacts {
  int64_t cpu_units = 0;
  int64_t memory_mib = 0;
  std::string cpu_architecture;  // x86_64 | arm64
  std::string hostname;
};
HostFacts ReadHostFacts();

class Agent {
 public:
  // `runtime` and `clock` must outlive the agent.
  Agent(AgentOptions options, Runtime* runtime, const Clock* clock);
  ~Agent();

  // Registers (retrying until it succeeds or a stop is requested: then CANCELLED), recovers local
  // state and starts the loops.
  absl::Status Start();
  // Asks everything to stop, from any thread, also while Start runs: cancels the RPCs in flight
  // (a parked long poll, a report, a registration, a credentials fetch) and the runtime calls in
  // progress (Runtime::CancelCalls: a container stop waiting out its timeout, a pull), and wakes
  // the loops' waits, so nothing waits out an RPC deadline, a stop timeout or a backoff on the way
  // down. Does not block.
  void RequestStop();
  // RequestStop, then waits for the loops, the credentials endpoint and the task engine.
  // Containers keep running: a restarted agent adopts them. Call from the thread that called
  // Start, after it returned.
  void Stop();
  // True once berthd said the instance is deregistered (INACTIVE) and every task is stopped.
  bool finished() const { return finished_.load(); }
  // Blocks until a stop is requested or finished().
  void Wait();

  const std::string& instance_arn() const { return instance_arn_; }
  // The credentials endpoint's port once started (for --credentials-listen with port 0), else 0.
  int credentials_port() const { return credentials_port_; }
  TaskEngine* engine() { return engine_.get(); }
  LogCapture* log_capture() { return log_capture_.get(); }

  // The registration request this agent sends (for tests and `--print-registration`).
  v1::RegisterContainerInstanceRequest RegistrationRequest() const;

 private:
  absl::Status Register();
  // The role credentials of a task of this instance, from berthd.
  absl::StatusOr<v1::GetTaskCredentialsResponse> FetchCredentials(const std::string& task_arn);
  // One batch of container output to berthd (LogCapture's sender).
  absl::StatusOr<v1::PushLogsResponse> PushLogs(v1::PushLogsRequest request);
  // Hands the log capture the containers whose output is shipped.
  void UpdateLogSources();
  // Adds the agent's credential to a call: the instance credential once it has one, else the
  // join token for a registration as a new instance, else the API token (AgentOptions::token).
  void Authorize(grpc::ClientContext* ctx) const;
  // Tracks a call's context from before the call until after it, so that RequestStop cancels it;
  // false when stopping (then make no call).
  bool BeginCall(grpc::ClientContext* ctx);
  void EndCall(grpc::ClientContext* ctx);
  void PollLoop();
  void ReportLoop();
  void TickLoop();
  void Enqueue(v1::TaskStateChange change);
  void ReportEverything();
  // Sleeps a jittered exponential backoff for the `attempt`th failure; false when stopping.
  bool Backoff(int attempt);
  bool SleepFor(int64_t micros);
  absl::Status LoadIdentity();
  absl::Status SaveIdentity() const;

  const AgentOptions options_;
  Runtime* const runtime_;
  const Clock* const clock_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::unique_ptr<TaskEngine> engine_;
  std::unique_ptr<CredentialsServer> credentials_server_;
  std::unique_ptr<LogCapture> log_capture_;
  std::string instance_arn_;
  int credentials_port_ = 0;
  mutable std::mutex credential_mu_;
  std::string instance_credential_;  // "bic-...": berthd's answer to a registration with a join token

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, v1::TaskStateChange> pending_reports_;  // latest per task
  std::mt19937_64 rng_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> deregistered_{false};
  std::set<grpc::ClientContext*> calls_;  // RPCs in flight, cancelled by RequestStop (under mu_)
  std::vector<std::thread> threads_;
};

}  // namespace berth::agent
