// Server: the control plane's core as berthd composes it. It owns the in-memory State and the
// mutex that guards it, the CommitPipeline that writes to a store, and the Api, and wires them: the
// pipeline's batch hook and touch listener call the Api, and a first start bootstraps the store.
// berthd's main(), the Api test fixture and the AWS door's fuzz target all run this one
// composition; main() builds the doors, the HTTP endpoint and managed scaling around it.
//
// Lifecycle, driven from one thread:
//   Open (recovery: the state is rebuilt from the store; nothing runs yet)
//   -> Start (the pipeline's threads run; the store is bootstrapped)
//   -> StartHousekeeping (berthd only: tests and the fuzz target call the ticks themselves)
//   -> StopPolls (housekeeping stops, parked long polls are answered; then the doors drain)
//   -> Stop (what was submitted is committed and completed; the pipeline's threads end).
// The destructor stops what still runs. api() may be called from any thread (the Api is
// thread-safe); state() only with state_mu() held.
#pragma once

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "berth/common/clock.h"
#include "berth/store/store.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/metrics.h"
#include "src/controlplane/state/pipeline.h"
#include "src/controlplane/state/state.h"

namespace berth::controlplane {

class Server {
 public:
  struct Options {
    ApiOptions api;
    CommitPipeline::Options pipeline;
    PipelineObserver* observer = nullptr;  // the pipeline's (berthd: its Metrics); may be null
    const Clock* clock = nullptr;          // the Api's; null: RealClock()
  };

  // Rebuilds the state from `store` (recovery) and builds the pipeline and the Api on it. `store`,
  // and the observer and clock of `options`, must outlive the Server.
  static absl::StatusOr<std::unique_ptr<Server>> Open(store::Store* store, Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the pipeline, then bootstraps the store (Api::Bootstrap: blocks until durable).
  absl::Status Start();
  // Starts the housekeeping thread: every 10 ms AgentProtocol::ExpirePolls; every 100 ms instead
  // AgentProtocol::AgentTick, ServiceActions::ServiceTick and CapacityActions::CapacityTick.
  void StartHousekeeping();
  // Stops housekeeping and answers every parked long poll (UNAVAILABLE), so that draining the doors
  // waits only for ordinary calls. Idempotent.
  void StopPolls();
  // StopPolls, then commits and completes everything submitted and stops the pipeline. Idempotent.
  void Stop();

  // The revision recovery found durable.
  uint64_t recovered_revision() const { return recovered_revision_; }
  // The entity gauges of /metrics (takes the state lock shared).
  Metrics::EntityCounts EntityCounts() const;

  Api& api() { return *api_; }
  CommitPipeline& pipeline() { return *pipeline_; }
  State& state() { return state_; }
  absl::Mutex& state_mu() { return state_mu_; }

 private:
  Server() = default;

  // Destroyed in reverse: the Api (its poll waker) before the pipeline, both before the state.
  mutable absl::Mutex state_mu_;
  State state_;
  uint64_t recovered_revision_ = 0;
  std::unique_ptr<CommitPipeline> pipeline_;
  std::unique_ptr<Api> api_;
  absl::Notification stop_housekeeping_;
  std::thread housekeeping_;
};

}  // namespace berth::controlplane
