// CallLoad: drives asynchronous calls at berthd from one issuing thread, either closed loop (a new
// call whenever fewer than `concurrency` are in flight) or paced (call k scheduled at start + k /
// rate, still at most `concurrency` in flight). Latency is measured from each call's scheduled
// time when paced, so a server that falls behind cannot hide its queueing by delaying the next call
// (no coordinated omission), and from its issue time in the closed loop.
//
// The caller supplies how to issue call k (`Issue`); the call reports its outcome through the
// `Done` it is given, exactly once, from any thread. Completions never issue calls themselves, so
// a completion that runs inline (a call failing at once) cannot recurse.
//
// Run() blocks until the load ends: the duration has passed, `stop()` returned true, or Stop() was
// called; then it waits for the calls in flight. Thread-safe: Done and Stop may be called from any
// thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/synchronization/mutex.h"
#include "src/bench/latency_recorder.h"
#include "src/bench/timing.h"

namespace berth::bench {

class CallLoad {
 public:
  // An outcome: the gRPC status code and message, and for calls that place tasks, how many were
  // placed and the reasons of the failures[] entries.
  struct Outcome {
    int code = 0;  // grpc::StatusCode
    std::string message;
    int64_t placed = 0;
    std::vector<std::string> failure_reasons;
  };
  using Done = std::function<void(Outcome)>;
  using Issue = std::function<void(int64_t k, Done done)>;

  struct Options {
    int concurrency = 64;
    double rate = 0;             // calls/s; 0: closed loop
    Clock::duration duration{};  // 0: no time limit
    std::function<bool()> stop;  // checked before each call; true ends the load
    int64_t max_calls = 0;       // 0: no limit
  };

  CallLoad(Options options, Issue issue) : options_(std::move(options)), issue_(std::move(issue)) {}

  void Run();
  // Ends the load early: no call is issued after this returns.
  void Stop();

  // Read after Run() returned.
  int64_t ok() const { return ok_; }
  int64_t errors() const { return errors_; }
  int64_t placed() const { return placed_; }
  int64_t failures() const { return failures_; }
  Clock::time_point started() const { return started_; }
  Clock::time_point last_completion() const { return last_completion_; }
  LatencyRecorder::Summary Latency() const { return latencies_.Summarize(); }
  // {"ok","errors","errors_by_code":{..},"error_examples":{..},"placed","failures","failure_reasons":{..},
  //  "latency_ms":{..}}
  nlohmann::ordered_json ToJson() const;

  // While running: tasks placed so far, calls in flight.
  int64_t placed_so_far() const;
  int in_flight() const;

 private:
  void Complete(Clock::time_point scheduled, Outcome outcome);
  bool CanIssueLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ || in_flight_ < options_.concurrency;
  }
  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; }

  const Options options_;
  const Issue issue_;
  mutable absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int64_t ok_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t placed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, int64_t> errors_by_code_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::string> error_examples_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> failure_reasons_ ABSL_GUARDED_BY(mu_);
  Clock::time_point started_;
  Clock::time_point last_completion_ ABSL_GUARDED_BY(mu_);
  LatencyRecorder latencies_;
  LatencyRecorder::Shard* shard_ ABSL_GUARDED_BY(mu_) = latencies_.NewShard();
};

}  // namespace berth::bench
