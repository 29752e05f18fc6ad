// LogCapture: container output from a scripted runtime through the spool to a fake berthd. Each
// line reaches berthd once and in order per stream, grouped by destination; a failed push is sent
// again unchanged; a restarted capture ships what its spool held and follows each container on
// from its position; continuation lines are joined, a pending event goes out after its wait, and
// events stay in order while the flush loop takes pending ones; a follower that fails resumes after
// its last line; a source removed once its output ended is forgotten. Then SimRuntime's synthetic
// output, on the real clock.
#include "src/agent/log_capture.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/common/clock.h"
#include "berth/common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/logs/spool.h"
#include "src/agent/sim_runtime.h"
#include "tests/testutil/fake_clock.h"
#include "tests/testutil/temp_dir.h"

namespace berth::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// How long a test waits for something that should happen; never reached when all is well.
constexpr auto kTimeout = std::chrono::seconds(30);
constexpr int64_t kMs = 1'000'000;  // in nanoseconds
// The fake clock's time, in nanoseconds: the scripted lines are written around it.
constexpr int64_t kBaseNs = int64_t{1'700'000'000'000'000} * 1000;

// The timestamp of line `i` of a scripted container.
int64_t Ts(int i) { return kBaseNs + i * kMs; }

// Lines "<prefix> <i>" for i in [first, last], line i at Ts(i).
std::vector<OutputLine> Lines(const std::string& prefix, int first, int last) {
  std::vector<OutputLine> out;
  for (int i = first; i <= last; ++i) out.push_back({.timestamp_ns = Ts(i), .text = StrCat(prefix, " ", i)});
  return out;
}

// What Lines() writes, as messages.
std::vector<std::string> Texts(const std::string& prefix, int first, int last) {
  std::vector<std::string> out;
  for (int i = first; i <= last; ++i) out.push_back(StrCat(prefix, " ", i));
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

v1::LogDestination Destination(const std::string& group, const std::string& stream, bool create_group = false,
                               const std::string& multiline_pattern = "") {
  v1::LogDestination d;
  d.set_group(group);
  d.set_stream(stream);
  d.set_create_group(create_group);
  d.set_multiline_pattern(multiline_pattern);
  return d;
}

// ScriptedRuntime: a Runtime whose containers write what the test scripts. FollowOutput hands out
// the lines written so far from since_ns on (inclusive), then waits for more; it returns OK once
// the test ended the container's output and every line is handed out, UNAVAILABLE when a failure
// was injected and every line written is handed out, NOT_FOUND for a container never written to,
// CANCELLED after CancelCalls. on_line runs without the runtime's lock. Only FollowOutput and
// CancelCalls do anything. Thread-safe.
class ScriptedRuntime final : public Runtime {
 public:
  // Appends to a container's output (creating it), in timestamp order.
  void Write(const std::string& id, const std::vector<OutputLine>& lines) {
    std::lock_guard lock(mu_);
    auto& c = containers_[id];
    c.lines.insert(c.lines.end(), lines.begin(), lines.end());
    cv_.notify_all();
  }
  // The container exited: its output ends after the lines written.
  void End(const std::string& id) {
    std::lock_guard lock(mu_);
    containers_[id].ended = true;
    cv_.notify_all();
  }
  // The next `n` calls of FollowOutput for `id` fail with UNAVAILABLE once they have handed out
  // every line written (one waiting now does at once).
  void FailFollows(const std::string& id, int n) {
    std::lock_guard lock(mu_);
    containers_[id].failures += n;
    cv_.notify_all();
  }

  // since_ns of each FollowOutput call for `id`, in order.
  std::vector<int64_t> FollowCalls(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    return it == containers_.end() ? std::vector<int64_t>() : it->second.since;
  }
  // What each FollowOutput call for `id` that returned returned, in order.
  std::vector<absl::StatusCode> Returns(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    return it == containers_.end() ? std::vector<absl::StatusCode>() : it->second.returns;
  }
  // Waits until `id` has had `n` FollowOutput calls.
  bool WaitFollowCalls(const std::string& id, size_t n) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] { return Find(id) != nullptr && Find(id)->since.size() >= n; });
  }
  // Waits until a FollowOutput call for `id` returned `code`.
  bool WaitReturned(const std::string& id, absl::StatusCode code) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] {
      return Find(id) != nullptr && std::ranges::find(Find(id)->returns, code) != Find(id)->returns.end();
    });
  }
  // Waits until on_line returned for the line of `id` at `timestamp_ns` (so it is spooled).
  bool WaitTaken(const std::string& id, int64_t timestamp_ns) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] { return Find(id) != nullptr && Find(id)->taken_ns >= timestamp_ns; });
  }

  // Runtime
  std::string Name() const override { return "scripted"; }
  std::string Version() const override { return "0"; }
  absl::Status Pull(const ContainerSpec&) override { return Unimplemented(); }
  absl::StatusOr<std::string> Create(const ContainerSpec&) override { return Unimplemented(); }
  absl::Status Start(const std::string&) override { return Unimplemented(); }
  absl::Status Stop(const std::string&, int) override { return Unimplemented(); }
  absl::Status Remove(const std::string&) override { return Unimplemented(); }
  absl::Status RemoveVolume(const std::string&) override { return Unimplemented(); }
  absl::StatusOr<ContainerStatus> Inspect(const std::string&) override { return Unimplemented(); }
  absl::StatusOr<std::vector<ManagedContainer>> ListManaged(const std::string&, const std::string&) override {
    return Unimplemented();
  }
  absl::StatusOr<TaskNetwork> CreateTaskNetwork(const std::string&, const std::string&,
                                                const std::map<std::string, std::string>&) override {
    return Unimplemented();
  }
  absl::StatusOr<std::string> CreateTaskCgroup(const std::string&, int64_t, int64_t) override {
    return Unimplemented();
  }
  absl::Status RemoveTaskCgroup(const std::string&) override { return Unimplemented(); }
  absl::StatusOr<int64_t> DiskUsage(const std::string&) override { return Unimplemented(); }
  void SetListener(std::function<void(const std::string&)>) override {}

  void CancelCalls() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

  absl::Status FollowOutput(const std::string& id, int64_t since_ns,
                            const std::function<bool(OutputLine)>& on_line) override {
    std::unique_lock lock(mu_);
    Container* c = Find(id);
    if (c == nullptr) return absl::NotFoundError(StrCat("No such container: ", id));
    c->since.push_back(since_ns);
    cv_.notify_all();
    absl::Status status;
    size_t next = 0;
    while (true) {
      cv_.wait(lock, [&] { return cancelled_ || next < c->lines.size() || c->failures > 0 || c->ended; });
      if (cancelled_) {
        status = absl::CancelledError("the agent is stopping");
        break;
      }
      if (next < c->lines.size()) {
        OutputLine line = c->lines[next++];
        if (line.timestamp_ns < since_ns) continue;
        const int64_t timestamp_ns = line.timestamp_ns;
        lock.unlock();
        const bool more = on_line(std::move(line));
        lock.lock();
        c->taken_ns = std::max(c->taken_ns, timestamp_ns);
        cv_.notify_all();
        if (!more) break;
        continue;
      }
      if (c->failures > 0) {
        --c->failures;
        status = absl::UnavailableError("the runtime is busy");
      }
      break;
    }
    c->returns.push_back(status.code());
    cv_.notify_all();
    return status;
  }

 private:
  struct Container {
    std::vector<OutputLine> lines;
    bool ended = false;
    int failures = 0;
    std::vector<int64_t> since;
    std::vector<absl::StatusCode> returns;
    int64_t taken_ns = 0;
  };

  static absl::Status Unimplemented() { return absl::UnimplementedError("the scripted runtime only has output"); }
  // Lock held. Containers are never erased, so the pointer stays valid.
  const Container* Find(const std::string& id) const {
    auto it = containers_.find(id);
    return it == containers_.end() ? nullptr : &it->second;
  }
  Container* Find(const std::string& id) {
    auto it = containers_.find(id);
    return it == containers_.end() ? nullptr : &it->second;
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Container> containers_;
  bool cancelled_ = false;
};

// FakeBerthd: a SendFn that records every request, also those it fails. It fails the next `n`
// calls (FailNext) or every call (SetFailing) with UNAVAILABLE; otherwise it stores the events by
// stream and answers the streams it refuses as rejected. Thread-safe.
class FakeBerthd {
 public:
  LogCapture::SendFn Send() {
    return [this](v1::PushLogsRequest request) { return Push(std::move(request)); };
  }

  void FailNext(int n) {
    std::lock_guard lock(mu_);
    fail_next_ = n;
  }
  void SetFailing(bool failing) {
    std::lock_guard lock(mu_);
    failing_ = failing;
  }
  void Refuse(const std::string& group, const std::string& stream) {
    std::lock_guard lock(mu_);
    refused_.insert(Key(group, stream));
  }

  // Every request, as sent.
  std::vector<v1::PushLogsRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // The requests answered with success.
  std::vector<v1::PushLogsRequest> accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  // The messages stored for a stream, in the order they came.
  std::vector<std::string> Messages(const std::string& group, const std::string& stream) const {
    std::lock_guard lock(mu_);
    auto it = stored_.find(Key(group, stream));
    return it == stored_.end() ? std::vector<std::string>() : it->second;
  }
  // Waits until a stream has at least `n` messages stored.
  bool WaitMessages(const std::string& group, const std::string& stream, size_t n) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] {
      auto it = stored_.find(Key(group, stream));
      return it != stored_.end() && it->second.size() >= n;
    });
  }
  // Waits until at least `n` requests came (answered or failed).
  bool WaitRequests(size_t n) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] { return requests_.size() >= n; });
  }

 private:
  static std::string Key(const std::string& group, const std::string& stream) { return StrCat(group, "/", stream); }

  absl::StatusOr<v1::PushLogsResponse> Push(v1::PushLogsRequest request) {
    std::lock_guard lock(mu_);
    cv_.notify_all();
    requests_.push_back(request);
    if (failing_ || fail_next_ > 0) {
      if (fail_next_ > 0) --fail_next_;
      return absl::UnavailableError("berthd is away");
    }
    v1::PushLogsResponse response;
    response.set_applied_sequence(request.sequence());
    for (const v1::LogStreamEvents& s : request.streams()) {
      const std::string key = Key(s.group(), s.stream());
      if (refused_.contains(key)) {
        v1::RejectedLogStream* r = response.add_rejected();
        r->set_group(s.group());
        r->set_stream(s.stream());
        r->set_reason("the log group does not exist");
        r->set_events(static_cast<uint32_t>(s.events_size()));
        continue;
      }
      for (const v1::AgentLogEvent& e : s.events()) stored_[key].push_back(e.message());
    }
    accepted_.push_back(std::move(request));
    return response;
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int fail_next_ = 0;
  bool failing_ = false;
  std::set<std::string> refused_;
  std::vector<v1::PushLogsRequest> requests_;
  std::vector<v1::PushLogsRequest> accepted_;
  std::map<std::string, std::vector<std::string>> stored_;
};

// The event sequences of `requests`, in the order they were sent.
std::vector<uint64_t> Sequences(const std::vector<v1::PushLogsRequest>& requests) {
  std::vector<uint64_t> out;
  for (const auto& r : requests) {
    for (const auto& s : r.streams()) {
      for (const auto& e : s.events()) out.push_back(e.sequence());
    }
  }
  return out;
}

// One agent's capture over its own runtime and berthd. Stopping it cancels the runtime's calls
// first, as the agent does, so that followers waiting for output return.
struct CaptureUnderTest {
  CaptureUnderTest(LogCaptureOptions options, const Clock* clock)
      : capture(std::move(options), &runtime, clock, berthd.Send()) {}
  ~CaptureUnderTest() { Stop(); }
  void Stop() {
    runtime.CancelCalls();
    capture.Stop();
  }

  ScriptedRuntime runtime;
  FakeBerthd berthd;
  LogCapture capture;
};

class LogCaptureTest : public ::testing::Test {
 protected:
  // Quick retries; an on-disk spool when `on_disk`.
  LogCaptureOptions Options(bool on_disk = false) const {
    LogCaptureOptions options;
    if (on_disk) options.spool.dir = spool_dir();
    options.backoff_initial_us = 1000;
    options.backoff_max_us = 10'000;
    options.multiline_flush_us = 50'000;
    return options;
  }
  std::string spool_dir() const { return dir_.Sub("spool"); }

  // The source positions of the spool directory as a spool opened on a copy of it finds them, so
  // that the capture keeps the directory to itself. Call while nothing writes to the spool.
  std::map<std::string, int64_t> PositionsOfCopy() {
    const std::string copy = dir_.Sub(StrCat("copy-", ++copies_));
    std::filesystem::copy(spool_dir(), copy);
    absl::StatusOr<std::unique_ptr<logs::LogSpool>> spool = logs::LogSpool::Open({.dir = copy});
    EXPECT_TRUE(spool.ok()) << spool.status();
    return spool.ok() ? (*spool)->SourcePositions() : std::map<std::string, int64_t>();
  }

  testutil::TempDir dir_;
  testutil::FakeClock clock_;  // moves only when a test says: a pending multi-line event waits
  int copies_ = 0;
};

TEST_F(LogCaptureTest, ShipsEachLineOnceInOrderGroupedByDestination) {
  CaptureUnderTest t(Options(), &clock_);
  t.runtime.Write("a", Lines("a", 1, 20));
  t.runtime.Write("b", Lines("b", 1, 20));
  ASSERT_TRUE(t.capture.Start().ok());
  t.capture.SetSources(
      {{"a", Destination("group-1", "stream-a", /*create_group=*/true)}, {"b", Destination("group-2", "stream-b")}});
  t.runtime.Write("a", Lines("a", 21, 40));
  t.runtime.Write("b", Lines("b", 21, 40));

  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", 40));
  ASSERT_TRUE(t.berthd.WaitMessages("group-2", "stream-b", 40));
  ASSERT_TRUE(t.capture.WaitShipped(30'000));
  EXPECT_EQ(t.berthd.Messages("group-1", "stream-a"), Texts("a", 1, 40));
  EXPECT_EQ(t.berthd.Messages("group-2", "stream-b"), Texts("b", 1, 40));
  EXPECT_EQ(t.capture.shipped(), 80u);
  EXPECT_EQ(t.capture.rejected(), 0u);

  const std::vector<v1::PushLogsRequest> requests = t.berthd.requests();
  ASSERT_FALSE(requests.empty());
  const std::string spool_id = requests.front().spool_id();
  EXPECT_FALSE(spool_id.empty());
  uint64_t previous = 0;  // each request covers the sequences after the one before it
  for (const v1::PushLogsRequest& r : requests) {
    SCOPED_TRACE(r.ShortDebugString());
    EXPECT_EQ(r.spool_id(), spool_id);
    std::set<std::string> streams;
    std::vector<uint64_t> sequences;
    for (const v1::LogStreamEvents& s : r.streams()) {
      EXPECT_TRUE(streams.insert(s.stream()).second) << "one entry per stream";
      const bool a = s.stream() == "stream-a";
      EXPECT_TRUE(a || s.stream() == "stream-b") << s.stream();
      EXPECT_EQ(s.group(), a ? "group-1" : "group-2");
      EXPECT_EQ(s.create_group(), a);
      for (const v1::AgentLogEvent& e : s.events()) {
        EXPECT_TRUE(e.message().starts_with(a ? "a " : "b ")) << e.message();
        EXPECT_EQ(e.timestamp_ms(), Ts(std::stoi(e.message().substr(2))) / kMs);
        sequences.push_back(e.sequence());
      }
    }
    std::ranges::sort(sequences);
    EXPECT_EQ(sequences, Range(previous + 1, r.sequence()));
    previous = r.sequence();
  }
  EXPECT_EQ(previous, 80u);
}

TEST_F(LogCaptureTest, FailedPushIsSentAgainUnchangedThenAcknowledged) {
  CaptureUnderTest t(Options(), &clock_);
  t.berthd.FailNext(3);
  t.runtime.Write("a", Lines("a", 1, 5));
  ASSERT_TRUE(t.capture.Start().ok());
  t.capture.SetSources({{"a", Destination("group-1", "stream-a")}});
  t.runtime.Write("a", Lines("a", 6, 10));

  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", 10));
  ASSERT_TRUE(t.capture.WaitShipped(30'000));
  const std::vector<v1::PushLogsRequest> requests = t.berthd.requests();
  ASSERT_GE(requests.size(), 4u);
  // Three refusals, then the same batch accepted.
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(requests[i].ShortDebugString(), requests[0].ShortDebugString());
  EXPECT_EQ(t.berthd.accepted().front().ShortDebugString(), requests[0].ShortDebugString());
  EXPECT_EQ(Sequences(t.berthd.accepted()), Range(1, 10));
  EXPECT_EQ(t.berthd.Messages("group-1", "stream-a"), Texts("a", 1, 10));
  EXPECT_EQ(t.capture.shipped(), 10u);
}

TEST_F(LogCaptureTest, RefusedStreamIsCountedAndNotSentAgain) {
  CaptureUnderTest t(Options(), &clock_);
  t.berthd.Refuse("group-2", "stream-b");
  t.runtime.Write("a", Lines("a", 1, 3));
  t.runtime.Write("b", Lines("b", 1, 4));
  ASSERT_TRUE(t.capture.Start().ok());
  t.capture.SetSources({{"a", Destination("group-1", "stream-a")}, {"b", Destination("group-2", "stream-b")}});

  ASSERT_TRUE(t.runtime.WaitTaken("a", Ts(3)));
  ASSERT_TRUE(t.runtime.WaitTaken("b", Ts(4)));
  ASSERT_TRUE(t.capture.WaitShipped(30'000));
  EXPECT_EQ(t.berthd.Messages("group-1", "stream-a"), Texts("a", 1, 3));
  EXPECT_EQ(t.capture.rejected(), 4u);
  EXPECT_EQ(t.capture.shipped(), 7u);
  EXPECT_THAT(t.berthd.Messages("group-2", "stream-b"), IsEmpty());
  EXPECT_EQ(Sequences(t.berthd.requests()).size(), 7u) << "each event sent once";
}

TEST_F(LogCaptureTest, RestartShipsWhatTheSpoolHeldAndFollowsOnFromItsPosition) {
  std::string spool_id;
  {
    CaptureUnderTest first(Options(/*on_disk=*/true), &clock_);
    first.runtime.Write("c", Lines("c", 1, 5));
    ASSERT_TRUE(first.capture.Start().ok());
    first.capture.SetSources({{"c", Destination("group-1", "stream-c")}});
    ASSERT_TRUE(first.berthd.WaitMessages("group-1", "stream-c", 5));
    ASSERT_TRUE(first.capture.WaitShipped(30'000));
    // berthd goes away: lines 6..10 stay in the spool.
    first.berthd.SetFailing(true);
    first.runtime.Write("c", Lines("c", 6, 10));
    ASSERT_TRUE(first.runtime.WaitTaken("c", Ts(10)));
    ASSERT_TRUE(first.berthd.WaitRequests(first.berthd.accepted().size() + 1));
    first.Stop();
    EXPECT_EQ(first.berthd.Messages("group-1", "stream-c"), Texts("c", 1, 5));
    spool_id = first.berthd.requests().front().spool_id();
  }

  // The container's output, from its start, as a runtime gives it to the restarted agent.
  CaptureUnderTest second(Options(/*on_disk=*/true), &clock_);
  second.runtime.Write("c", Lines("c", 1, 15));
  ASSERT_TRUE(second.capture.Start().ok());
  second.capture.SetSources({{"c", Destination("group-1", "stream-c")}});
  ASSERT_TRUE(second.berthd.WaitMessages("group-1", "stream-c", 10));
  ASSERT_TRUE(second.capture.WaitShipped(30'000));
  EXPECT_EQ(second.berthd.Messages("group-1", "stream-c"), Texts("c", 6, 15));
  EXPECT_EQ(Sequences(second.berthd.accepted()), Range(6, 15));
  EXPECT_THAT(second.runtime.FollowCalls("c"), ElementsAre(Ts(10)));
  for (const v1::PushLogsRequest& r : second.berthd.requests()) EXPECT_EQ(r.spool_id(), spool_id);
}

TEST_F(LogCaptureTest, JoinsContinuationLinesAndFlushesAPendingEventAfterItsWait) {
  CaptureUnderTest t(Options(), &clock_);
  const int64_t now_ns = clock_.NowMicros() * 1000;
  // Lines of the last 10 ms: younger than the flush wait (50 ms) until the clock moves.
  t.runtime.Write("a", {{.timestamp_ns = now_ns - 10 * kMs, .text = "2024-01-01 first"},
                        {.timestamp_ns = now_ns - 9 * kMs, .text = "  at frame 1"},
                        {.timestamp_ns = now_ns - 8 * kMs, .text = "  at frame 2"},
                        {.timestamp_ns = now_ns - 7 * kMs, .text = "2024-01-02 second"},
                        {.timestamp_ns = now_ns - 6 * kMs, .text = "  at frame 3"}});
  ASSERT_TRUE(t.capture.Start().ok());
  t.capture.SetSources({{"a", Destination("group-1", "stream-a", false, R"(^\d{4}-)")}});

  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", 1));
  ASSERT_TRUE(t.runtime.WaitTaken("a", now_ns - 6 * kMs));
  // The second event waits for its next line: the clock has not moved.
  EXPECT_THAT(t.berthd.Messages("group-1", "stream-a"), ElementsAre("2024-01-01 first\n  at frame 1\n  at frame 2"));

  clock_.Advance(50'000);
  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", 2));
  EXPECT_EQ(t.berthd.Messages("group-1", "stream-a").back(), "2024-01-02 second\n  at frame 3");

  // The output ends: what is pending goes out.
  t.runtime.Write("a", {{.timestamp_ns = now_ns + 10 * kMs, .text = "2024-01-03 third"},
                        {.timestamp_ns = now_ns + 11 * kMs, .text = "  at frame 4"}});
  t.runtime.End("a");
  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", 3));
  ASSERT_TRUE(t.capture.WaitShipped(30'000));
  EXPECT_THAT(t.berthd.Messages("group-1", "stream-a"),
              ElementsAre("2024-01-01 first\n  at frame 1\n  at frame 2", "2024-01-02 second\n  at frame 3",
                          "2024-01-03 third\n  at frame 4"));
  std::vector<int64_t> timestamps_ms;
  for (const v1::PushLogsRequest& r : t.berthd.accepted()) {
    for (const auto& s : r.streams()) {
      for (const auto& e : s.events()) timestamps_ms.push_back(e.timestamp_ms());
    }
  }
  EXPECT_THAT(timestamps_ms,
              ElementsAre((now_ns - 10 * kMs) / kMs, (now_ns - 7 * kMs) / kMs, (now_ns + 10 * kMs) / kMs));
}

// A container followed from far back (a restarted agent catching up): each line is older than the
// flush wait, so the flush loop may take the event a line starts while the follower is spooling
// the one the line completed. The events must still be spooled in order. A race: without the
// follower's lock held through the append, a run of this size saw events swapped most times.
TEST_F(LogCaptureTest, EventsStayInOrderWhileTheFlushLoopTakesPendingOnes) {
  CaptureUnderTest t(Options(), &clock_);
  constexpr int kLines = 300'000;
  const int64_t first_ns = clock_.NowMicros() * 1000 - 100'000 * kMs;
  std::vector<OutputLine> lines;
  std::vector<std::string> texts;
  for (int i = 0; i < kLines; ++i) {
    texts.push_back(StrCat("2024-01-01 event ", i));
    lines.push_back({.timestamp_ns = first_ns + i * int64_t{1000}, .text = texts.back()});
  }
  t.runtime.Write("a", lines);
  t.runtime.End("a");
  ASSERT_TRUE(t.capture.Start().ok());
  t.capture.SetSources({{"a", Destination("group-1", "stream-a", false, R"(^\d{4}-)")}});

  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", kLines));
  const std::vector<std::string> messages = t.berthd.Messages("group-1", "stream-a");
  ASSERT_EQ(messages.size(), texts.size());
  const auto [got, want] = std::ranges::mismatch(messages, texts);
  EXPECT_TRUE(got == messages.end()) << "event " << (got - messages.begin()) << " is \"" << *got << "\", not \""
                                     << *want << "\"";
}

TEST_F(LogCaptureTest, FollowerThatFailsResumesAfterItsLastLine) {
  CaptureUnderTest t(Options(), &clock_);
  t.runtime.Write("a", Lines("a", 1, 3));
  ASSERT_TRUE(t.capture.Start().ok());
  t.capture.SetSources({{"a", Destination("group-1", "stream-a")}});
  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", 3));

  t.runtime.FailFollows("a", 2);
  ASSERT_TRUE(t.runtime.WaitFollowCalls("a", 3));
  t.runtime.Write("a", Lines("a", 4, 6));
  t.runtime.End("a");

  ASSERT_TRUE(t.berthd.WaitMessages("group-1", "stream-a", 6));
  ASSERT_TRUE(t.runtime.WaitReturned("a", absl::StatusCode::kOk));
  ASSERT_TRUE(t.capture.WaitShipped(30'000));
  EXPECT_EQ(t.berthd.Messages("group-1", "stream-a"), Texts("a", 1, 6));
  // Each retry starts at the last line taken (since_ns is inclusive: that line comes again).
  EXPECT_THAT(t.runtime.FollowCalls("a"), ElementsAre(0, Ts(3), Ts(3)));
  EXPECT_THAT(t.runtime.Returns("a"),
              ElementsAre(absl::StatusCode::kUnavailable, absl::StatusCode::kUnavailable, absl::StatusCode::kOk));
}

TEST_F(LogCaptureTest, SourceRemovedAfterItsOutputEndedIsForgotten) {
  {
    CaptureUnderTest t(Options(/*on_disk=*/true), &clock_);
    // Nothing is acknowledged, so only the capture's own SetSources writes the spool's state while
    // the test copies it.
    t.berthd.SetFailing(true);
    t.runtime.Write("gone", Lines("gone", 1, 3));
    t.runtime.End("gone");
    t.runtime.Write("kept", Lines("kept", 1, 2));
    ASSERT_TRUE(t.capture.Start().ok());
    t.capture.SetSources(
        {{"gone", Destination("group-1", "stream-gone")}, {"kept", Destination("group-1", "stream-kept")}});
    ASSERT_TRUE(t.runtime.WaitReturned("gone", absl::StatusCode::kOk));
    ASSERT_TRUE(t.runtime.WaitTaken("kept", Ts(2)));
    EXPECT_THAT(PositionsOfCopy(), UnorderedElementsAre(Pair("gone", Ts(3)), Pair("kept", Ts(2))));

    // The follower notes that it is done just after FollowOutput returns: SetSources forgets the
    // source once it has (the agent calls it again and again).
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    bool forgotten = false;
    while (!forgotten && std::chrono::steady_clock::now() < deadline) {
      t.capture.SetSources({{"kept", Destination("group-1", "stream-kept")}});
      forgotten = !PositionsOfCopy().contains("gone");
      if (!forgotten) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(forgotten);
    t.Stop();
    EXPECT_THAT(t.runtime.FollowCalls("gone"), ElementsAre(0));
    EXPECT_THAT(t.runtime.FollowCalls("kept"), ElementsAre(0));
  }
  absl::StatusOr<std::unique_ptr<logs::LogSpool>> spool = logs::LogSpool::Open({.dir = spool_dir()});
  ASSERT_TRUE(spool.ok()) << spool.status();
  EXPECT_THAT((*spool)->SourcePositions(), ElementsAre(Pair("kept", Ts(2))));
}

// SimRuntime's synthetic output, on the real clock: at 1000 lines a second, 50 lines take 50 ms.
class SimRuntimeOutputTest : public ::testing::Test {
 protected:
  SimRuntimeOutputTest() : sim_({}, &RealClock()) {}

  std::string StartContainer(const std::string& name) {
    ContainerSpec spec;
    spec.name = name;
    spec.definition.set_name(name);
    for (const auto& [key, value] : {std::pair{"BERTH_SIM_LOG_RATE", "1000"}, std::pair{"BERTH_SIM_LOG_LINES", "50"}}) {
      v1::KeyValuePair* env = spec.definition.add_environment();
      env->set_name(key);
      env->set_value(value);
    }
    absl::StatusOr<std::string> id = sim_.Create(spec);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return "";
    EXPECT_TRUE(sim_.Start(*id).ok());
    return *id;
  }

  SimRuntime sim_;
};

// Collects the lines a FollowOutput call hands out, on a thread of its own.
class Follow {
 public:
  Follow(Runtime& runtime, const std::string& id, int64_t since_ns)
      : runtime_(runtime), thread_([this, &runtime, id, since_ns] {
          absl::Status status = runtime.FollowOutput(id, since_ns, [this](OutputLine line) {
            std::lock_guard lock(mu_);
            lines_.push_back(std::move(line));
            cv_.notify_all();
            return true;
          });
          std::lock_guard lock(mu_);
          status_ = status;
          returned_ = true;
          cv_.notify_all();
        }) {}
  // A test that gave up waiting cancels the call, so that it fails rather than hangs.
  ~Follow() {
    if (!Returned()) runtime_.CancelCalls();
    thread_.join();
  }

  bool WaitLines(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] { return lines_.size() >= n; });
  }
  // What FollowOutput returned (unknown when it did not return within the timeout).
  absl::Status Wait() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kTimeout, [&] { return returned_; })) return absl::UnknownError("still following");
    return status_;
  }
  std::vector<OutputLine> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  bool Returned() {
    std::lock_guard lock(mu_);
    return returned_;
  }

  Runtime& runtime_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<OutputLine> lines_;
  absl::Status status_;
  bool returned_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

std::vector<std::string> SimTexts(int first, int last) {
  std::vector<std::string> out;
  for (int i = first; i <= last; ++i) {
    std::string text = StrCat("sim line ", i, " ");
    text.resize(100, 'x');
    out.push_back(text);
  }
  return out;
}

std::vector<std::string> TextsOf(const std::vector<OutputLine>& lines) {
  std::vector<std::string> out;
  for (const OutputLine& l : lines) out.push_back(l.text);
  return out;
}

TEST_F(SimRuntimeOutputTest, WritesNumberedPaddedLinesUntilStopped) {
  const std::string id = StartContainer("app");
  ASSERT_FALSE(id.empty());
  std::vector<OutputLine> lines;
  {
    Follow follow(sim_, id, 0);
    ASSERT_TRUE(follow.WaitLines(50));
    ASSERT_TRUE(sim_.Stop(id, 10).ok());
    EXPECT_TRUE(follow.Wait().ok());
    lines = follow.lines();
  }
  EXPECT_EQ(TextsOf(lines), SimTexts(1, 50));
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].stream, 1);
    if (i > 0) {
      EXPECT_GT(lines[i].timestamp_ns, lines[i - 1].timestamp_ns);
    }
  }

  // Followed again from line 20's timestamp: lines 20..50 (since_ns is inclusive), the same
  // timestamps; the container exited, so it returns once they are handed out.
  ASSERT_EQ(lines.size(), 50u);
  std::vector<OutputLine> again;
  EXPECT_TRUE(sim_.FollowOutput(id, lines[19].timestamp_ns,
                                [&](OutputLine line) {
                                  again.push_back(std::move(line));
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(TextsOf(again), SimTexts(20, 50));
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again.front().timestamp_ns, lines[19].timestamp_ns);
  EXPECT_EQ(again.back().timestamp_ns, lines[49].timestamp_ns);
}

TEST_F(SimRuntimeOutputTest, FollowEndsWhenTheCallbackSaysSoOrCallsAreCancelled) {
  const std::string id = StartContainer("app");
  ASSERT_FALSE(id.empty());
  int taken = 0;
  EXPECT_TRUE(sim_.FollowOutput(id, 0, [&](OutputLine) { return ++taken < 3; }).ok());
  EXPECT_EQ(taken, 3);

  Follow follow(sim_, id, 0);
  ASSERT_TRUE(follow.WaitLines(50));
  sim_.CancelCalls();
  EXPECT_TRUE(absl::IsCancelled(follow.Wait()));
  EXPECT_TRUE(absl::IsNotFound(sim_.FollowOutput("sim-none", 0, [](OutputLine) { return true; })));
}

}  // namespace
}  // namespace berth::agent
