// LogShippers: simulated agents shipping container output to berthd with AgentService.PushLogs, as
// berth-agent's LogCapture does (docs/logs.md, "From container to log store"), thousands in one
// process. Shipper K speaks for container instance K (registered beforehand, e.g. by a SimFleet),
// writes one stream ("<stream_prefix>K" in `group`, create_group set) and names its spool
// "bench-spool-K".
//
// Each shipper's container "writes" lines at a steady rate (the fleet's rate over the shippers):
// line s exists from start + s / rate on, and its timestamp is that moment, whatever the bench does,
// so a berthd that falls behind shows as a backlog, never as lines written later (no coordinated
// omission). Every `batch_interval` (shippers spread evenly over it) a shipper with no batch in
// flight sends every line written since its last batch (at most 10,000 events / 1 MiB, the agent's
// bounds) in one PushLogs whose sequence is its last line's; one batch at a time, as the agent's
// shipper does. A batch that fails is counted and not sent again.
//
// Run() drives every shipper from its calling thread (a few-millisecond tick; the calls are gRPC
// callback calls) for the window, then drains: lines written in the window but not yet sent go out
// as soon as their shipper is free. Thread safety: Run() on one thread; SentAt() and ScheduledAt()
// from any thread while it runs; the results after it returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "berth/v1/agent.grpc.pb.h"
#include "src/bench/latency_recorder.h"
#include "src/bench/target.h"
#include "src/bench/timing.h"

namespace berth::bench {

// Lines of `bytes` bytes: "<stream> line <s> " then log-like words from a fixed pool, so the store
// compresses them about as it would real output rather than runs of one character. A line that
// carries `needle` has it right after its number.
class LineMaker {
 public:
  explicit LineMaker(int bytes);
  std::string Line(const std::string& stream, uint64_t s, const std::string& needle = "") const;
  int bytes() const { return bytes_; }

 private:
  int bytes_;
  std::vector<std::string> tails_;
};

struct LogShipperSpec {
  std::string cluster;
  std::vector<std::string> instance_arns;  // one shipper each
  std::string group = "/bench/logs";
  std::string stream_prefix = "agent-";
  double events_per_second = 0;  // over every shipper
  int line_bytes = 100;
  Clock::duration window = std::chrono::seconds(60);  // how long the containers write
  Clock::duration batch_interval = std::chrono::milliseconds(150);
  int channels = 16;  // gRPC connections the shippers share
  // Lines that carry `needle`: (shipper, line number) pairs.
  std::string needle;
  std::vector<std::pair<int, uint64_t>> needles;
  int followed = -1;  // the shipper whose send times SentAt() keeps (-1: none)
};

class LogShippers {
 public:
  LogShippers(const Target& target, LogShipperSpec spec);
  LogShippers(const LogShippers&) = delete;
  LogShippers& operator=(const LogShippers&) = delete;
  // Waits for any call still in flight (they reference this object).
  ~LogShippers();

  // Ships for the spec's window, then drains for at most `drain_timeout`. Call once.
  void Run(Clock::duration drain_timeout);

  // Lines each of `shippers` writes in `window` at `events_per_second` over them all (its lines are
  // numbered 1 to that); the target is that times `shippers`.
  static uint64_t LinesPerShipper(double events_per_second, int shippers, Clock::duration window);
  // While running: when line `s` of the followed shipper was written (its timestamp, on Clock) and
  // when its batch left (nullopt before it did).
  Clock::time_point ScheduledAt(uint64_t s) const;
  std::optional<Clock::time_point> SentAt(uint64_t s) const;
  std::string StreamOf(int k) const { return spec_.stream_prefix + std::to_string(k); }

  // After Run().
  int64_t target_events() const { return target_events_; }
  int64_t sent_in_window() const { return sent_in_window_; }
  int64_t events_sent() const { return events_sent_.load(); }
  int64_t events_accepted() const { return events_accepted_.load(); }
  int64_t needles_accepted() const { return needles_accepted_.load(); }
  double wall_seconds() const { return wall_seconds_; }
  double drain_seconds() const { return drain_seconds_; }
  bool drained() const { return drained_; }
  // {"batches_ok","batches_failed","events_rejected","errors_by_code","error_examples","batch_latency_ms",...}
  nlohmann::ordered_json ToJson() const;
  LatencyRecorder::Summary BatchLatency() const;

 private:
  struct Shipper;
  struct Call;
  void Send(Shipper& shipper, uint64_t through, Clock::time_point now);
  void Done(Shipper& shipper, Call* call, const grpc::Status& status);
  uint64_t Written(const Shipper& shipper, Clock::time_point now) const;

  const LogShipperSpec spec_;
  const LineMaker lines_;
  double rate_per_shipper_ = 0;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs_;
  std::vector<std::unique_ptr<Shipper>> shippers_;
  Clock::time_point start_{};
  std::atomic<int64_t> start_ticks_{0};  // start_, for ScheduledAt() on other threads
  int64_t start_epoch_ms_ = 0;
  // Send times of the followed shipper's lines (steady-clock ticks; 0: not sent yet).
  std::unique_ptr<std::atomic<int64_t>[]> sent_at_;
  uint64_t followed_lines_ = 0;

  int64_t target_events_ = 0;
  int64_t sent_in_window_ = 0;
  double wall_seconds_ = 0;
  double drain_seconds_ = 0;
  bool drained_ = false;
  std::atomic<int> in_flight_{0};
  std::atomic<int64_t> events_sent_{0};
  std::atomic<int64_t> events_accepted_{0};
  std::atomic<int64_t> events_rejected_{0};
  std::atomic<int64_t> needles_accepted_{0};
  std::atomic<int64_t> batches_ok_{0};
  std::atomic<int64_t> batches_failed_{0};
  std::atomic<int64_t> last_answer_ticks_{0};

  mutable absl::Mutex mu_;
  std::map<int, int64_t> errors_by_code_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::string> error_examples_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> rejections_ ABSL_GUARDED_BY(mu_);  // reasons berthd gave
  LatencyRecorder latencies_;
  LatencyRecorder::Shard* shard_ ABSL_GUARDED_BY(mu_) = latencies_.NewShard();
};

}  // namespace berth::bench
