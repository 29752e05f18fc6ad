// LogCapture: the agent's side of container output (docs/logs.md, "From container to log store").
//
//   runtime (FollowOutput, one follower thread per container)
//     -> MultilineAssembler (awslogs-multiline-pattern / awslogs-datetime-format)
//     -> LogSpool (DATA_DIR/log-spool: on disk, bounded; past the bound the oldest events go,
//        counted)
//     -> the shipper thread: batches of the spool in order -> PushLogs -> Ack what berthd stored
//
// A container's output never waits for berthd: followers only append to the spool. Delivery is at
// least once and in order per stream: the spool numbers events, berthd stores a batch once (it
// keeps the instance's sequence with the events), and the shipper acknowledges only what berthd
// answered. A restarted agent ships what its spool still holds and follows each container again
// from the last line it spooled (the spool keeps each container's position: the timestamp of the
// last line spooled, so lines the runtime timestamps at exactly that nanosecond are taken as
// read).
//
// Thread-safe. SetSources comes from the agent's loops; the followers and the shipper are threads
// of their own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/common/clock.h"
#include "berth/v1/agent.pb.h"
#include "src/agent/logs/multiline.h"
#include "src/agent/logs/spool.h"
#include "src/agent/runtime.h"

namespace berth::agent {

struct LogCaptureOptions {
  logs::LogSpoolOptions spool;  // dir empty: in memory (sim fleets)
  size_t max_batch_events = 10'000;
  size_t max_batch_bytes = 1 << 20;
  // A batch smaller than max_batch_events waits this long for more events before it leaves, so a
  // container writing line by line costs berthd a batch per linger, not a batch per line.
  int64_t batch_linger_us = 50'000;
  int64_t backoff_initial_us = 200'000;
  int64_t backoff_max_us = 5'000'000;
  // A multi-line event waits at most this long for its next line.
  int64_t multiline_flush_us = 5'000'000;
};

class LogCapture {
 public:
  // Sends one batch to berthd and returns its answer (the agent fills in the cluster and instance
  // and authorizes the call).
  using SendFn = std::function<absl::StatusOr<v1::PushLogsResponse>(v1::PushLogsRequest)>;
  struct Source {
    std::string runtime_id;
    v1::LogDestination destination;
  };

  // `runtime` and `clock` must outlive this.
  LogCapture(LogCaptureOptions options, Runtime* runtime, const Clock* clock, SendFn send);
  ~LogCapture();

  // Opens the spool and starts the shipper.
  absl::Status Start();
  // The containers to follow, all of them (level-triggered): a new one gets a follower; one no
  // longer listed is followed to its end and then forgotten.
  void SetSources(const std::vector<Source>& sources);
  // Stops following and shipping; what the spool holds is shipped after a restart.
  void Stop();

  uint64_t shipped() const { return shipped_.load(); }  // events berthd acknowledged
  uint64_t dropped() const;                             // events the spool's bound dropped
  uint64_t rejected() const { return rejected_.load(); }
  // Waits until the spool holds nothing unacknowledged (tests).
  bool WaitShipped(int64_t timeout_ms);

 private:
  struct Follower;
  void Follow(Follower* f);
  // Appends `f`'s events to the spool, each at `source_position` in its container's output.
  void Spool(const Follower& f, std::vector<logs::AssembledEvent> events, int64_t source_position);
  void Ship();
  // Sleeps for the backoff of `attempt`; false when stopping.
  bool Backoff(int attempt);
  void FlushLoop();

  const LogCaptureOptions options_;
  Runtime* const runtime_;
  const Clock* const clock_;
  const SendFn send_;
  std::unique_ptr<logs::LogSpool> spool_;
  std::string spool_id_;  // PushLogsRequest.spool_id

  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};                           // written under mu_; read without it by the followers
  std::map<std::string, std::unique_ptr<Follower>> followers_;  // by runtime id
  std::map<std::string, int64_t> positions_;                    // the spool's, as opened
  std::thread shipper_;
  std::thread flusher_;
  std::atomic<uint64_t> shipped_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace berth::agent
