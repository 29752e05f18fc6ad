#include "src/agent/log_capture.h"

#include <chrono>
#include <fstream>
#include <random>

#include "absl/strings/str_split.h"
#include "berth/common/logging.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "src/agent/logs/multiline.h"

namespace berth::agent {
namespace {

constexpr char kSep = '\0';

std::string EncodeDestination(const v1::LogDestination& d) {
  return StrCat(d.group(), std::string(1, kSep), d.stream(), std::string(1, kSep), d.create_group() ? "1" : "0");
}

struct Decoded {
  std::string group;
  std::string stream;
  bool create_group = false;
};

Decoded DecodeDestination(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, kSep);
  Decoded d;
  if (parts.size() == 3) {
    d.group = parts[0];
    d.stream = parts[1];
    d.create_group = parts[2] == "1";
  }
  return d;
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned v = rd() & 0xff;
    out += kHex[v >> 4];
    out += kHex[v & 0xf];
  }
  return out;
}

}  // namespace

struct LogCapture::Follower {
  std::string id;
  v1::LogDestination destination;
  std::string encoded;
  std::mutex mu;                                        // guards the assembler and last_line_ns
  std::unique_ptr<logs::MultilineAssembler> assembler;  // null: every line is an event
  int64_t last_line_ns = 0;
  bool wanted = true;  // still listed (LogCapture::mu_)
  std::atomic<bool> done{false};
  std::thread thread;
};

LogCapture::LogCapture(LogCaptureOptions options, Runtime* runtime, const Clock* clock, SendFn send)
    : options_(std::move(options)), runtime_(runtime), clock_(clock), send_(std::move(send)) {}

LogCapture::~LogCapture() { Stop(); }

absl::Status LogCapture::Start() {
  ASSIGN_OR_RETURN(spool_, logs::LogSpool::Open(options_.spool));
  positions_ = spool_->SourcePositions();
  // The spool's own name: berthd keeps a sequence per spool, so a spool started anew (in memory,
  // or a data dir wiped while the instance identity was kept) is not taken for a resend.
  if (options_.spool.dir.empty()) {
    spool_id_ = RandomHex(8);
  } else {
    const std::string path = options_.spool.dir + "/spool-id";
    std::ifstream in(path);
    std::getline(in, spool_id_);
    if (spool_id_.empty()) {
      spool_id_ = RandomHex(8);
      std::ofstream out(path + ".tmp", std::ios::trunc);
      out << spool_id_ << "\n";
      out.close();
      if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
        return absl::InternalError(StrCat("cannot write ", path));
      }
    }
  }
  shipper_ = std::thread([this] { Ship(); });
  flusher_ = std::thread([this] { FlushLoop(); });
  return absl::OkStatus();
}

void LogCapture::Stop() {
  std::map<std::string, std::unique_ptr<Follower>> followers;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    followers.swap(followers_);
  }
  cv_.notify_all();
  if (spool_ != nullptr) spool_->StopWaiting();
  // Followers return once the runtime's calls are cancelled (the agent cancels them first) or at
  // their next line.
  for (auto& [id, f] : followers) {
    if (f->thread.joinable()) f->thread.join();
  }
  if (shipper_.joinable()) shipper_.join();
  if (flusher_.joinable()) flusher_.join();
}

uint64_t LogCapture::dropped() const { return spool_ == nullptr ? 0 : spool_->dropped(); }

void LogCapture::SetSources(const std::vector<Source>& sources) {
  std::vector<std::unique_ptr<Follower>> finished;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || spool_ == nullptr) return;
    std::set<std::string> listed;
    for (const Source& s : sources) {
      listed.insert(s.runtime_id);
      auto& f = followers_[s.runtime_id];
      if (f != nullptr) {
        f->wanted = true;
        continue;
      }
      f = std::make_unique<Follower>();
      f->id = s.runtime_id;
      f->destination = s.destination;
      f->encoded = EncodeDestination(s.destination);
      if (!s.destination.datetime_format().empty() || !s.destination.multiline_pattern().empty()) {
        auto assembler =
            logs::MultilineAssembler::Create(s.destination.datetime_format(), s.destination.multiline_pattern(),
                                             absl::Microseconds(options_.multiline_flush_us));
        if (assembler.ok()) {
          f->assembler = *std::move(assembler);
        } else {
          log::Warn("container {}: {}; its output is shipped line by line", s.runtime_id,
                    assembler.status().ToString());
        }
      }
      Follower* raw = f.get();
      f->thread = std::thread([this, raw] { Follow(raw); });
    }
    for (auto it = followers_.begin(); it != followers_.end();) {
      Follower& f = *it->second;
      if (!listed.contains(it->first)) f.wanted = false;
      if (!f.wanted && f.done.load()) {
        finished.push_back(std::move(it->second));
        it = followers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : finished) {
    if (f->thread.joinable()) f->thread.join();
    // The container is gone for good: its position is no longer needed.
    if (absl::Status s = spool_->ForgetSource(f->id); !s.ok()) log::Warn("log spool: {}", s.ToString());
    std::lock_guard lock(mu_);
    positions_.erase(f->id);
  }
}

void LogCapture::Spool(const Follower& f, std::vector<logs::AssembledEvent> events, int64_t source_position) {
  if (events.empty()) return;
  std::vector<logs::SpoolEvent> out;
  out.reserve(events.size());
  for (auto& e : events) {
    out.push_back({.destination = f.encoded,
                   .timestamp_ms = e.timestamp_ns / 1'000'000,
                   .message = std::move(e.message),
                   .source = f.id,
                   .source_position = source_position});
  }
  if (auto appended = spool_->Append(std::move(out)); !appended.ok()) {
    log::Warn("log spool: {}", appended.status().ToString());
  }
}

void LogCapture::Follow(Follower* f) {
  int64_t position = 0;  // the last line taken
  {
    std::lock_guard lock(mu_);
    if (auto it = positions_.find(f->id); it != positions_.end()) position = it->second;
  }
  auto spool = [this, f](std::vector<logs::AssembledEvent> events, int64_t source_position) {
    Spool(*f, std::move(events), source_position);
  };
  auto on_line = [&](OutputLine line) -> bool {
    if (stopping_.load(std::memory_order_relaxed)) return false;
    if (line.timestamp_ns <= position) return true;  // spooled before a restart or a retry
    position = line.timestamp_ns;
    std::vector<logs::AssembledEvent> events;
    if (f->assembler == nullptr) {
      events.push_back({.timestamp_ns = line.timestamp_ns, .message = std::move(line.text)});
      spool(std::move(events), line.timestamp_ns);
      return true;
    }
    // Spooled under the follower's lock: the flush loop must not spool the event this line starts
    // before the one it completes.
    std::lock_guard lock(f->mu);
    // What this line completes ends at the line before it.
    const int64_t source_position = f->last_line_ns;
    f->assembler->Add(line.timestamp_ns, line.text, [&](logs::AssembledEvent e) { events.push_back(std::move(e)); });
    f->last_line_ns = line.timestamp_ns;
    spool(std::move(events), source_position);
    return true;
  };
  for (int attempt = 0;; ++attempt) {
    absl::Status status = runtime_->FollowOutput(f->id, position, on_line);
    bool stopping = false;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
    }
    if (stopping || absl::IsCancelled(status)) break;
    if (status.ok() || absl::IsNotFound(status)) {
      // The container's output ended: what is pending is an event.
      if (f->assembler != nullptr) {
        std::vector<logs::AssembledEvent> events;
        std::lock_guard lock(f->mu);
        f->assembler->Finish([&](logs::AssembledEvent e) { events.push_back(std::move(e)); });
        spool(std::move(events), f->last_line_ns);
      }
      break;
    }
    log::Warn("container {}: following its output: {}", f->id, status.ToString());
    if (!Backoff(attempt)) break;
  }
  f->done.store(true);
}

void LogCapture::FlushLoop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_.load(); })) {
    const int64_t now_ns = clock_->NowMicros() * 1000;
    for (auto& [id, f] : followers_) {
      if (f->assembler == nullptr) continue;
      std::vector<logs::AssembledEvent> events;
      // Held until the event is spooled, so that the follower's next event cannot go before it.
      std::lock_guard follower_lock(f->mu);
      f->assembler->Flush(now_ns, [&](logs::AssembledEvent e) { events.push_back(std::move(e)); });
      Spool(*f, std::move(events), f->last_line_ns);
    }
  }
}

bool LogCapture::Backoff(int attempt) {
  const int64_t cap = std::min<int64_t>(options_.backoff_max_us, options_.backoff_initial_us << std::min(attempt, 20));
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t wait = std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng);
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::microseconds(wait), [this] { return stopping_.load(); });
}

void LogCapture::Ship() {
  uint64_t sent = spool_->acked();
  std::set<std::string> warned;  // streams whose refusal was logged
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (!spool_->WaitForEvents(sent, absl::Seconds(1))) continue;
    if (options_.batch_linger_us > 0 && spool_->last_sequence() - sent < options_.max_batch_events) {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, std::chrono::microseconds(options_.batch_linger_us),
                       [this] { return stopping_.load(); })) {
        return;
      }
    }
    const uint64_t last = spool_->last_sequence();
    std::vector<logs::SpooledEvent> batch = spool_->Read(sent, options_.max_batch_events, options_.max_batch_bytes);
    if (batch.empty()) {
      sent = std::max(sent, last);  // all dropped by the bound
      continue;
    }
    v1::PushLogsRequest request;
    request.set_sequence(batch.back().sequence);
    request.set_spool_id(spool_id_);
    request.set_dropped_events(spool_->dropped());
    std::map<std::string, v1::LogStreamEvents*> streams;
    for (auto& e : batch) {
      v1::LogStreamEvents*& s = streams[e.event.destination];
      if (s == nullptr) {
        Decoded d = DecodeDestination(e.event.destination);
        s = request.add_streams();
        s->set_group(d.group);
        s->set_stream(d.stream);
        s->set_create_group(d.create_group);
      }
      v1::AgentLogEvent* out = s->add_events();
      out->set_sequence(e.sequence);
      out->set_timestamp_ms(e.event.timestamp_ms);
      out->set_message(std::move(e.event.message));
    }
    absl::StatusOr<v1::PushLogsResponse> answer;
    for (int attempt = 0;; ++attempt) {
      answer = send_(request);
      if (answer.ok()) break;
      if (attempt == 0 || attempt % 10 == 0) log::Warn("shipping container output: {}", answer.status().ToString());
      if (!Backoff(attempt)) return;
    }
    for (const auto& r : answer->rejected()) {
      rejected_ += r.events();
      if (warned.insert(StrCat(r.group(), "/", r.stream())).second) {
        log::Warn("berthd refused {} events of log stream {} in group {}: {}", r.events(), r.stream(), r.group(),
                  r.reason());
      }
    }
    shipped_ += batch.size();
    sent = request.sequence();
    if (absl::Status s = spool_->Ack(sent); !s.ok()) log::Warn("log spool: {}", s.ToString());
  }
}

bool LogCapture::WaitShipped(int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (spool_ != nullptr && spool_->acked() >= spool_->last_sequence()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace berth::agent
