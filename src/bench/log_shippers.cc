#include "src/bench/log_shippers.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "berth/common/strings.h"

namespace berth::bench {
namespace {

// The agent's bounds on one batch (docs/logs.md): 10,000 events, 1 MiB.
constexpr int64_t kMaxBatchEvents = 10'000;
constexpr int64_t kMaxBatchBytes = 1 << 20;
constexpr int64_t kEventOverhead = 26;  // bytes CloudWatch counts per event beside its message
constexpr auto kCallDeadline = std::chrono::seconds(60);
constexpr auto kTick = std::chrono::milliseconds(3);
constexpr int kTails = 1024;

int64_t Ticks(Clock::time_point t) { return t.time_since_epoch().count(); }

}  // namespace

LineMaker::LineMaker(int bytes) : bytes_(bytes) {
  static constexpr const char* kWords[] = {
      "INFO",  "WARN",     "DEBUG",    "GET",      "POST",          "PUT",       "request", "completed",
      "cache", "miss",     "hit",      "db",       "query",         "handler",   "retry",   "worker",
      "queue", "session",  "upstream", "timeout",  "/api/v1/items", "/healthz",  "/login",  "/orders",
      "user",  "checkout", "payment",  "accepted", "rejected",      "connected", "closed",  "flush"};
  std::mt19937_64 rng(20260101);
  std::uniform_int_distribution<size_t> word(0, std::size(kWords) - 1);
  std::uniform_int_distribution<int> number(0, 99999);
  tails_.reserve(kTails);
  for (int i = 0; i < kTails; ++i) {
    std::string tail;
    while (static_cast<int>(tail.size()) < bytes) {
      switch (rng() % 4) {
        case 0:
          tail += fmt::format("latency_ms={} ", number(rng) % 900);
          break;
        case 1:
          tail += fmt::format("id={:x} ", number(rng) * 7919);
          break;
        default:
          tail += kWords[word(rng)];
          tail += ' ';
      }
    }
    tails_.push_back(std::move(tail));
  }
}

std::string LineMaker::Line(const std::string& stream, uint64_t s, const std::string& needle) const {
  std::string line =
      needle.empty() ? fmt::format("{} line {} ", stream, s) : fmt::format("{} line {} {} ", stream, s, needle);
  if (static_cast<int>(line.size()) < bytes_) {
    const std::string& tail = tails_[static_cast<size_t>((s * 2654435761u) % kTails)];
    line.append(tail, 0, static_cast<size_t>(bytes_) - line.size());
  }
  return line;
}

struct LogShippers::Shipper {
  int index = 0;
  std::string instance_arn;
  std::string stream;
  std::string spool_id;
  v1::AgentService::Stub* stub = nullptr;
  std::vector<uint64_t> needles;  // line numbers, ascending
  size_t next_needle = 0;
  uint64_t lines = 0;         // lines written in the window
  uint64_t sent_through = 0;  // the last line sent (the run's thread only)
  Clock::time_point next_due{};
  std::atomic<bool> busy{false};  // a batch is in flight
};

struct LogShippers::Call {
  grpc::ClientContext context;
  v1::PushLogsRequest request;
  v1::PushLogsResponse response;
  Clock::time_point sent{};
  int64_t events = 0;
  int64_t needles = 0;
};

LogShippers::LogShippers(const Target& target, LogShipperSpec spec) : spec_(std::move(spec)), lines_(spec_.line_bytes) {
  const int n = static_cast<int>(spec_.instance_arns.size());
  rate_per_shipper_ = n > 0 ? spec_.events_per_second / n : 0;
  for (int i = 0; i < std::max(1, spec_.channels); ++i) {
    channels_.push_back(target.NewChannel());
    stubs_.push_back(v1::AgentService::NewStub(channels_.back()));
  }
  for (int k = 0; k < n; ++k) {
    auto shipper = std::make_unique<Shipper>();
    shipper->index = k;
    shipper->instance_arn = spec_.instance_arns[static_cast<size_t>(k)];
    shipper->stream = StreamOf(k);
    shipper->spool_id = fmt::format("bench-spool-{}", k);
    shipper->stub = stubs_[static_cast<size_t>(k) % stubs_.size()].get();
    shippers_.push_back(std::move(shipper));
  }
  for (const auto& [k, line] : spec_.needles) {
    if (k >= 0 && k < n) shippers_[static_cast<size_t>(k)]->needles.push_back(line);
  }
  const uint64_t lines = LinesPerShipper(spec_.events_per_second, n, spec_.window);
  for (auto& s : shippers_) {
    std::sort(s->needles.begin(), s->needles.end());
    s->needles.erase(std::unique(s->needles.begin(), s->needles.end()), s->needles.end());
    s->lines = lines;
    target_events_ += static_cast<int64_t>(lines);
  }
  if (spec_.followed >= 0 && spec_.followed < n) {
    followed_lines_ = lines;
    sent_at_ = std::make_unique<std::atomic<int64_t>[]>(lines + 1);
  }
}

LogShippers::~LogShippers() {
  while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

uint64_t LogShippers::LinesPerShipper(double events_per_second, int shippers, Clock::duration window) {
  if (shippers <= 0) return 0;
  return static_cast<uint64_t>(std::floor(Seconds(window) * events_per_second / shippers));
}

uint64_t LogShippers::Written(const Shipper& shipper, Clock::time_point now) const {
  const double written = std::floor(Seconds(now - start_) * rate_per_shipper_);
  return std::min<uint64_t>(shipper.lines, written <= 0 ? 0 : static_cast<uint64_t>(written));
}

Clock::time_point LogShippers::ScheduledAt(uint64_t s) const {
  return Clock::time_point(Clock::duration(start_ticks_.load(std::memory_order_acquire))) +
         std::chrono::duration_cast<Clock::duration>(
             std::chrono::duration<double>(static_cast<double>(s) / rate_per_shipper_));
}

std::optional<Clock::time_point> LogShippers::SentAt(uint64_t s) const {
  if (sent_at_ == nullptr || s == 0 || s > followed_lines_) return std::nullopt;
  const int64_t ticks = sent_at_[s].load(std::memory_order_acquire);
  if (ticks == 0) return std::nullopt;
  return Clock::time_point(Clock::duration(ticks));
}

void LogShippers::Run(Clock::duration drain_timeout) {
  const int n = static_cast<int>(shippers_.size());
  start_ = Clock::now();
  start_ticks_.store(Ticks(start_), std::memory_order_release);
  start_epoch_ms_ =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  // Spread evenly over the interval, so berthd sees a steady stream of batches.
  for (auto& s : shippers_) s->next_due = start_ + spec_.batch_interval * (s->index + 1) / std::max(1, n);
  const Clock::time_point end = start_ + spec_.window;
  while (true) {
    const Clock::time_point now = Clock::now();
    const bool in_window = now < end;
    bool pending = false;
    for (auto& s : shippers_) {
      if (s->busy.load(std::memory_order_acquire)) {
        pending = true;
        continue;
      }
      const uint64_t written = Written(*s, now);
      if (s->sent_through >= written) {
        if (!in_window) continue;
      } else {
        pending = true;
      }
      // After the window a shipper sends what is left as soon as it is free.
      if (in_window && now < s->next_due) continue;
      if (s->sent_through < written) Send(*s, written, now);
      s->next_due += spec_.batch_interval;
      if (s->next_due <= now) s->next_due = now + spec_.batch_interval;
    }
    if (!in_window && !pending) {
      drained_ = true;
      break;
    }
    if (!in_window && now > end + drain_timeout) break;
    std::this_thread::sleep_for(kTick);
  }
  while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const Clock::time_point last = std::max(end, Clock::time_point(Clock::duration(last_answer_ticks_.load())));
  wall_seconds_ = Seconds(last - start_);
  drain_seconds_ = Seconds(last - end);
}

void LogShippers::Send(Shipper& shipper, uint64_t through, Clock::time_point now) {
  const int64_t per_batch =
      std::max<int64_t>(1, std::min(kMaxBatchEvents, kMaxBatchBytes / (spec_.line_bytes + kEventOverhead)));
  const uint64_t first = shipper.sent_through + 1;
  const uint64_t last = std::min<uint64_t>(through, shipper.sent_through + static_cast<uint64_t>(per_batch));
  auto* call = new Call;
  call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  v1::PushLogsRequest& request = call->request;
  request.set_cluster(spec_.cluster);
  request.set_container_instance(shipper.instance_arn);
  request.set_sequence(last);
  request.set_spool_id(shipper.spool_id);
  v1::LogStreamEvents* stream = request.add_streams();
  stream->set_group(spec_.group);
  stream->set_stream(shipper.stream);
  stream->set_create_group(true);
  stream->mutable_events()->Reserve(static_cast<int>(last - first + 1));
  const bool followed = shipper.index == spec_.followed && sent_at_ != nullptr;
  for (uint64_t s = first; s <= last; ++s) {
    v1::AgentLogEvent* e = stream->add_events();
    e->set_sequence(s);
    e->set_timestamp_ms(start_epoch_ms_ + static_cast<int64_t>(static_cast<double>(s) * 1000.0 / rate_per_shipper_));
    bool needle = false;
    while (shipper.next_needle < shipper.needles.size() && shipper.needles[shipper.next_needle] <= s) {
      needle = needle || shipper.needles[shipper.next_needle] == s;
      ++shipper.next_needle;
    }
    e->set_message(lines_.Line(shipper.stream, s, needle ? spec_.needle : ""));
    call->needles += needle ? 1 : 0;
  }
  call->events = static_cast<int64_t>(last - first + 1);
  shipper.sent_through = last;
  events_sent_.fetch_add(call->events);
  if (now < start_ + spec_.window) sent_in_window_ += call->events;
  call->sent = Clock::now();
  if (followed) {
    for (uint64_t s = first; s <= last; ++s) sent_at_[s].store(Ticks(call->sent), std::memory_order_release);
  }
  shipper.busy.store(true, std::memory_order_release);
  in_flight_.fetch_add(1);
  shipper.stub->async()->PushLogs(&call->context, &call->request, &call->response,
                                  [this, &shipper, call](grpc::Status status) { Done(shipper, call, status); });
}

void LogShippers::Done(Shipper& shipper, Call* call, const grpc::Status& status) {
  const Clock::time_point now = Clock::now();
  int64_t rejected = 0;
  for (const auto& r : call->response.rejected()) rejected += r.events();
  const bool stored = status.ok() && call->response.applied_sequence() >= call->request.sequence();
  {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      ++errors_by_code_[status.error_code()];
      error_examples_.emplace(status.error_code(), status.error_message());
    } else if (!stored) {
      ++rejections_[fmt::format("applied_sequence {} below the batch's {}", call->response.applied_sequence(),
                                call->request.sequence())];
    } else {
      shard_->Record(std::chrono::duration_cast<std::chrono::microseconds>(now - call->sent).count());
      for (const auto& r : call->response.rejected()) ++rejections_[r.reason()];
    }
  }
  if (stored) {
    batches_ok_.fetch_add(1);
    events_accepted_.fetch_add(call->events - rejected);
    events_rejected_.fetch_add(rejected);
    if (rejected == 0) needles_accepted_.fetch_add(call->needles);
  } else {
    batches_failed_.fetch_add(1);
  }
  int64_t last = last_answer_ticks_.load();
  while (Ticks(now) > last && !last_answer_ticks_.compare_exchange_weak(last, Ticks(now))) {
  }
  delete call;
  shipper.busy.store(false, std::memory_order_release);
  in_flight_.fetch_sub(1);  // last: the destructor may run once it reads 0
}

LatencyRecorder::Summary LogShippers::BatchLatency() const {
  absl::MutexLock lock(&mu_);
  return latencies_.Summarize();
}

nlohmann::ordered_json LogShippers::ToJson() const {
  nlohmann::ordered_json j;
  j["batches_ok"] = batches_ok_.load();
  j["batches_failed"] = batches_failed_.load();
  j["events_sent"] = events_sent_.load();
  j["events_accepted"] = events_accepted_.load();
  j["events_rejected"] = events_rejected_.load();
  absl::MutexLock lock(&mu_);
  nlohmann::ordered_json by_code = nlohmann::ordered_json::object();
  for (const auto& [code, n] : errors_by_code_) by_code[GrpcCodeName(code)] = n;
  j["errors_by_code"] = by_code;
  nlohmann::ordered_json examples = nlohmann::ordered_json::object();
  for (const auto& [code, message] : error_examples_) examples[GrpcCodeName(code)] = message;
  j["error_examples"] = examples;
  nlohmann::ordered_json rejections = nlohmann::ordered_json::object();
  for (const auto& [reason, n] : rejections_) rejections[reason] = n;
  j["rejections"] = rejections;
  j["batch_latency_ms"] = latencies_.Summarize().ToJson();
  return j;
}

}  // namespace berth::bench
