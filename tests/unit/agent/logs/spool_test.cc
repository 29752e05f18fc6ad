// LogSpool: one contract run against both storages (a directory, memory): consecutive sequences,
// reads after a sequence within limits, acks that delete whole segments, the bound that drops the
// oldest segments and counts what was not acknowledged, source positions, waits. Then what only a
// directory gives: reopen (sequence, acks, positions, drops, forgotten sources; also once every
// segment is gone), and recovery from a torn or corrupt tail, a leftover acknowledged segment, a
// missing state file, and files that are not the spool's.
#include "src/agent/logs/spool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "src/agent/logs/crc32c.h"
#include "tests/testutil/temp_dir.h"

namespace berth::agent::logs {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kLarge = int64_t{1} << 30;

// Events of one size: `index` is written with a fixed width.
SpoolEvent Event(int index, const std::string& source = "c1") {
  return {.destination = "group/stream",
          .timestamp_ms = 1'700'000'000'000 + index,
          .message = fmt::format("line {:06}", index),
          .source = source,
          .source_position = 1000 + index};
}

std::vector<SpoolEvent> Events(int from, int count, const std::string& source = "c1") {
  std::vector<SpoolEvent> out;
  for (int i = 0; i < count; ++i) out.push_back(Event(from + i, source));
  return out;
}

std::vector<uint64_t> Sequences(const std::vector<SpooledEvent>& events) {
  std::vector<uint64_t> out;
  for (const auto& e : events) out.push_back(e.sequence);
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

// The bytes of one Event(): all are the same size.
const int64_t kEventBytes = LogSpool::SpooledBytes(Event(0));

// What a segment holds besides its records (its header), as bytes() shows it.
int64_t SegmentOverhead() {
  auto spool = LogSpool::Open({});
  EXPECT_TRUE(spool.ok()) << spool.status();
  EXPECT_TRUE((*spool)->Append({Event(0)}).ok());
  return (*spool)->bytes() - kEventBytes;
}

// A segment size that holds exactly `n` Event()s.
int64_t SegmentOf(int n) { return SegmentOverhead() + n * kEventBytes; }

class LogSpoolTest : public ::testing::TestWithParam<bool> {
 protected:
  bool on_disk() const { return GetParam(); }
  std::string spool_dir() const { return dir_.Sub("spool"); }

  void Open(int64_t max_bytes = kLarge, int64_t segment_bytes = int64_t{1} << 20) {
    options_ = {.dir = on_disk() ? spool_dir() : "", .max_bytes = max_bytes, .segment_bytes = segment_bytes};
    Reopen();
  }
  void Reopen() {
    spool_.reset();
    auto opened = LogSpool::Open(options_);
    ASSERT_TRUE(opened.ok()) << opened.status();
    spool_ = *std::move(opened);
  }
  uint64_t Append(std::vector<SpoolEvent> events) {
    auto appended = spool_->Append(std::move(events));
    EXPECT_TRUE(appended.ok()) << appended.status();
    return appended.ok() ? *appended : 0;
  }
  std::vector<uint64_t> ReadAll(uint64_t after = 0) const { return Sequences(spool_->Read(after, 1'000'000, kLarge)); }
  // Segment file names, sorted.
  std::vector<std::string> SegmentFiles() const {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(spool_dir())) {
      if (entry.path().extension() == ".seg") out.push_back(entry.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  testutil::TempDir dir_;
  LogSpoolOptions options_;
  std::unique_ptr<LogSpool> spool_;
};

INSTANTIATE_TEST_SUITE_P(Storage, LogSpoolTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Disk" : "Memory"; });

TEST_P(LogSpoolTest, SequencesAreConsecutiveFromOneAndEventsComeBackWhole) {
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(spool_->last_sequence(), 0u);
  EXPECT_EQ(Append(Events(0, 3)), 3u);
  EXPECT_EQ(Append(Events(3, 2)), 5u);
  EXPECT_EQ(Append({}), 5u);
  EXPECT_EQ(spool_->last_sequence(), 5u);

  const std::vector<SpooledEvent> read = spool_->Read(0, 100, kLarge);
  ASSERT_EQ(Sequences(read), Range(1, 5));
  for (int i = 0; i < 5; ++i) {
    const SpoolEvent want = Event(i);
    EXPECT_EQ(read[i].event.destination, want.destination);
    EXPECT_EQ(read[i].event.timestamp_ms, want.timestamp_ms);
    EXPECT_EQ(read[i].event.message, want.message);
    EXPECT_EQ(read[i].event.source, want.source);
    EXPECT_EQ(read[i].event.source_position, want.source_position);
  }
  EXPECT_EQ(spool_->bytes(), SegmentOverhead() + 5 * kEventBytes);
}

TEST_P(LogSpoolTest, ReadReturnsEventsAfterASequenceWithinTheLimits) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append(Events(0, 10));
  EXPECT_EQ(Sequences(spool_->Read(4, 3, kLarge)), Range(5, 7));
  EXPECT_EQ(Sequences(spool_->Read(0, 100, 2 * kEventBytes)), Range(1, 2));
  EXPECT_EQ(Sequences(spool_->Read(0, 100, 2 * kEventBytes - 1)), Range(1, 1));
  EXPECT_EQ(Sequences(spool_->Read(0, 100, 1)), Range(1, 1)) << "at least one event when there is any";
  EXPECT_TRUE(spool_->Read(10, 100, kLarge).empty());
  EXPECT_TRUE(spool_->Read(0, 0, kLarge).empty());
}

TEST_P(LogSpoolTest, ReadsFromAnySequenceAcrossLargeSegments) {
  // Segments past the read index's checkpoint spacing, so that reads start mid-segment.
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, 256 << 10));
  constexpr int kCount = 10000;
  for (int i = 0; i < kCount; i += 500) Append(Events(i, 500));
  ASSERT_GT(spool_->bytes(), 2 * (256 << 10));
  for (uint64_t after : {0, 1, 999, 1000, 2047, 3799, 3800, 4321, 7777, 9998}) {
    const std::vector<SpooledEvent> read = spool_->Read(after, 2, kLarge);
    ASSERT_EQ(Sequences(read), Range(after + 1, after + 2)) << "after " << after;
    EXPECT_EQ(read[0].event.message, Event(static_cast<int>(after)).message);
  }
  EXPECT_EQ(ReadAll(), Range(1, kCount));
}

TEST_P(LogSpoolTest, AckDeletesWholeSegmentsAtOrBelowIt) {
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, SegmentOf(3)));
  EXPECT_EQ(Append(Events(0, 9)), 9u);  // segments 1-3, 4-6, 7-9
  EXPECT_EQ(spool_->bytes(), 3 * SegmentOf(3));

  ASSERT_TRUE(spool_->Ack(5).ok());
  EXPECT_EQ(spool_->acked(), 5u);
  EXPECT_EQ(spool_->bytes(), 2 * SegmentOf(3)) << "4-6 still holds 6";
  EXPECT_EQ(ReadAll(), Range(4, 9)) << "Read does not filter acknowledged events itself";
  EXPECT_EQ(ReadAll(5), Range(6, 9));

  ASSERT_TRUE(spool_->Ack(2).ok()) << "lower than acked(): no-op";
  EXPECT_EQ(spool_->acked(), 5u);
  EXPECT_EQ(spool_->Ack(10).code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(spool_->Ack(9).ok());
  EXPECT_EQ(spool_->bytes(), 0);
  EXPECT_TRUE(ReadAll().empty());
  if (on_disk()) {
    EXPECT_TRUE(SegmentFiles().empty());
  }
  EXPECT_EQ(Append(Events(9, 1)), 10u);
  EXPECT_EQ(ReadAll(9), Range(10, 10));
  EXPECT_EQ(spool_->dropped(), 0u);
}

TEST_P(LogSpoolTest, BoundDropsTheOldestSegmentsAndCountsWhatWasNotAcknowledged) {
  ASSERT_NO_FATAL_FAILURE(Open(3 * SegmentOf(3), SegmentOf(3)));
  Append(Events(0, 9));
  EXPECT_EQ(spool_->bytes(), 3 * SegmentOf(3)) << "at the bound, nothing dropped";
  ASSERT_TRUE(spool_->Ack(2).ok());

  Append(Events(9, 1));  // a fourth segment: 1-3 goes, of which 3 was not acknowledged
  EXPECT_EQ(spool_->dropped(), 1u);
  EXPECT_LE(spool_->bytes(), 3 * SegmentOf(3));
  EXPECT_EQ(ReadAll(), Range(4, 10));
  EXPECT_EQ(ReadAll(2), Range(4, 10)) << "dropped events are skipped";

  Append(Events(10, 3));  // 10-12 fill the fourth segment, 13 starts a fifth: 4-6 goes
  EXPECT_EQ(spool_->dropped(), 4u);
  EXPECT_EQ(ReadAll(), Range(7, 13));
  EXPECT_EQ(spool_->acked(), 2u) << "drops do not acknowledge";
  if (on_disk()) {
    EXPECT_EQ(SegmentFiles(), (std::vector<std::string>{"00000000000000000007.seg", "00000000000000000010.seg",
                                                        "00000000000000000013.seg"}));
  }
}

TEST_P(LogSpoolTest, AnEventLargerThanTheBoundIsDroppedAlone) {
  ASSERT_NO_FATAL_FAILURE(Open(SegmentOf(4), SegmentOf(2)));
  SpoolEvent big = Event(0);
  big.message.assign(static_cast<size_t>(SegmentOf(4)), 'x');
  EXPECT_EQ(Append({big}), 1u);
  EXPECT_EQ(spool_->dropped(), 1u);
  EXPECT_EQ(spool_->bytes(), 0);
  EXPECT_EQ(Append(Events(1, 2)), 3u);
  EXPECT_EQ(ReadAll(), Range(2, 3));
}

TEST_P(LogSpoolTest, RefusesEventsOverTheRecordLimitAndBadOptions) {
  ASSERT_NO_FATAL_FAILURE(Open());
  std::vector<SpoolEvent> batch = {Event(1), Event(2)};
  batch[1].message.assign(size_t{64} << 20, 'x');
  EXPECT_EQ(spool_->Append(std::move(batch)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spool_->last_sequence(), 0u) << "nothing of a refused batch is appended";

  LogSpoolOptions bad = options_;
  bad.max_bytes = 0;
  EXPECT_EQ(LogSpool::Open(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = options_;
  bad.segment_bytes = -1;
  EXPECT_EQ(LogSpool::Open(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = options_;
  bad.sync_interval = absl::Seconds(-1);
  EXPECT_EQ(LogSpool::Open(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(LogSpoolTest, SourcePositionsHoldTheHighestAppendedUntilForgotten) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append({Event(5, "a"), Event(3, "a"), Event(1, "b")});
  SpoolEvent untracked = Event(9, "");
  Append({untracked});
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"a", 1005}, {"b", 1001}}));

  ASSERT_TRUE(spool_->ForgetSource("a").ok());
  ASSERT_TRUE(spool_->ForgetSource("never-seen").ok());
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"b", 1001}}));
  Append({Event(7, "a")});
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"a", 1007}, {"b", 1001}}));
}

TEST_P(LogSpoolTest, WaitForEventsReturnsOnAppend) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append(Events(0, 2));
  EXPECT_TRUE(spool_->WaitForEvents(1, absl::Hours(1))) << "an event after 1 exists";
  EXPECT_FALSE(spool_->WaitForEvents(2, absl::Milliseconds(1)));

  bool woke = false;
  std::thread waiter([&] { woke = spool_->WaitForEvents(2, absl::Hours(1)); });
  Append(Events(2, 1));
  waiter.join();
  EXPECT_TRUE(woke);
}

TEST_P(LogSpoolTest, StopWaitingReleasesWaitersNowAndLater) {
  ASSERT_NO_FATAL_FAILURE(Open());
  bool woke = true;
  std::thread waiter([&] { woke = spool_->WaitForEvents(0, absl::Hours(1)); });
  spool_->StopWaiting();
  waiter.join();
  EXPECT_FALSE(woke);
  EXPECT_FALSE(spool_->WaitForEvents(0, absl::Hours(1))) << "sticky";
  Append(Events(0, 1));
  EXPECT_TRUE(spool_->WaitForEvents(0, absl::Hours(1)));
}

TEST_P(LogSpoolTest, ConcurrentAppendersAndASenderSeeEveryEventOnceInOrder) {
  // Small segments, so that the sender's acks delete segments while appends go on. The sender
  // acks every 100 events or so, as each Ack syncs the state file.
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, SegmentOf(7)));
  constexpr int kPerSource = 500;
  auto appender = [&](const std::string& source) {
    for (int i = 0; i < kPerSource; i += 10) ASSERT_TRUE(spool_->Append(Events(i, 10, source)).ok());
  };
  std::vector<SpooledEvent> received;
  std::thread sender([&] {
    uint64_t after = 0;
    while (received.size() < 2 * kPerSource) {
      if (!spool_->WaitForEvents(after, absl::Seconds(30))) break;
      for (SpooledEvent& e : spool_->Read(after, 100, 64 * kEventBytes)) received.push_back(std::move(e));
      after = received.back().sequence;
      if (after >= spool_->acked() + 100 || received.size() == 2 * kPerSource) {
        ASSERT_TRUE(spool_->Ack(after).ok());
      }
    }
  });
  std::thread a(appender, "a");
  std::thread b(appender, "b");
  a.join();
  b.join();
  sender.join();

  EXPECT_EQ(Sequences(received), Range(1, 2 * kPerSource));
  std::map<std::string, int64_t> last_position;
  for (const SpooledEvent& e : received) {
    EXPECT_GT(e.event.source_position, last_position[e.event.source]) << e.sequence;
    last_position[e.event.source] = e.event.source_position;
  }
  EXPECT_EQ(spool_->bytes(), 0);
  EXPECT_EQ(spool_->dropped(), 0u);
}

// What only a spool in a directory has.
class LogSpoolDiskTest : public LogSpoolTest {
 protected:
  std::string SegmentPath(const std::string& name) const { return spool_dir() + "/" + name; }
};

INSTANTIATE_TEST_SUITE_P(Storage, LogSpoolDiskTest, ::testing::Values(true), [](const auto&) { return "Disk"; });

TEST_P(LogSpoolDiskTest, SegmentFilesAreNamedByTheirFirstSequence) {
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, SegmentOf(4)));
  Append(Events(0, 10));
  EXPECT_EQ(SegmentFiles(), (std::vector<std::string>{"00000000000000000001.seg", "00000000000000000005.seg",
                                                      "00000000000000000009.seg"}));
}

TEST_P(LogSpoolDiskTest, ReopenResumesSequencesAcksAndPositions) {
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, SegmentOf(3)));
  Append({Event(0, "a"), Event(1, "b"), Event(2, "a"), Event(3, "a"), Event(4, "b")});
  ASSERT_TRUE(spool_->Ack(2).ok());
  const auto positions = spool_->SourcePositions();

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->last_sequence(), 5u);
  EXPECT_EQ(spool_->acked(), 2u);
  EXPECT_EQ(spool_->SourcePositions(), positions);
  EXPECT_EQ(ReadAll(2), Range(3, 5));
  EXPECT_EQ(spool_->Read(2, 1, kLarge)[0].event.message, Event(2).message);
  EXPECT_EQ(Append(Events(5, 1)), 6u);
  EXPECT_EQ(ReadAll(2), Range(3, 6));
}

TEST_P(LogSpoolDiskTest, ReopenAfterEverySegmentWasAcknowledgedKeepsSequenceAndPositions) {
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, SegmentOf(3)));
  Append({Event(0, "a"), Event(1, "b"), Event(2, "a"), Event(3, "a")});
  ASSERT_TRUE(spool_->Ack(4).ok());
  ASSERT_TRUE(SegmentFiles().empty());

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->last_sequence(), 4u);
  EXPECT_EQ(spool_->acked(), 4u);
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"a", 1003}, {"b", 1001}}));
  EXPECT_EQ(Append(Events(4, 1)), 5u) << "sequences are never reused";
}

TEST_P(LogSpoolDiskTest, ReopenWithoutTheStateFileRebuildsFromSegments) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append({Event(0, "a"), Event(1, "b")});
  spool_.reset();
  fs::remove(spool_dir() + "/state");

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->last_sequence(), 2u);
  EXPECT_EQ(spool_->acked(), 0u);
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"a", 1000}, {"b", 1001}}));
  EXPECT_EQ(ReadAll(), Range(1, 2));
}

TEST_P(LogSpoolDiskTest, ATornLastRecordIsTruncatedAndAppendsGoOn) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append(Events(0, 5));
  spool_.reset();
  const std::string segment = SegmentPath("00000000000000000001.seg");
  fs::resize_file(segment, fs::file_size(segment) - 3);  // killed in the middle of writing 5

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadAll(), Range(1, 4));
  EXPECT_EQ(spool_->last_sequence(), 4u);
  EXPECT_EQ(fs::file_size(segment), static_cast<uintmax_t>(SegmentOf(4)));
  EXPECT_EQ(Append(Events(4, 2)), 6u);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadAll(), Range(1, 6));
  EXPECT_EQ(spool_->Read(4, 1, kLarge)[0].event.message, Event(4).message);
}

TEST_P(LogSpoolDiskTest, GarbageAfterTheLastRecordIsTruncated) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append(Events(0, 5));
  spool_.reset();
  const std::string segment = SegmentPath("00000000000000000001.seg");
  {
    std::ofstream out(segment, std::ios::binary | std::ios::app);
    out << std::string("\x20\x00\x00\x00garbage that is no record", 29);
  }
  // A segment created when the agent was killed, before its header was whole.
  std::ofstream(SegmentPath("00000000000000000006.seg"), std::ios::binary) << "BRT";

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadAll(), Range(1, 5));
  EXPECT_EQ(fs::file_size(segment), static_cast<uintmax_t>(SegmentOf(5)));
  EXPECT_EQ(SegmentFiles(), std::vector<std::string>{"00000000000000000001.seg"});
  EXPECT_EQ(Append(Events(5, 1)), 6u);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadAll(), Range(1, 6));
}

TEST_P(LogSpoolDiskTest, ACorruptRecordEndsItsSegment) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append(Events(0, 5));
  spool_.reset();
  const std::string segment = SegmentPath("00000000000000000001.seg");
  {
    std::fstream file(segment, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(SegmentOf(2) + kEventBytes - 2);  // the message of record 3
    file.put('#');
  }
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadAll(), Range(1, 2));
  EXPECT_EQ(Append(Events(5, 1)), 3u) << "sequences past the last whole record were never read";
}

TEST_P(LogSpoolDiskTest, ASegmentAcknowledgedButNotDeletedIsDeletedAtReopen) {
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, SegmentOf(3)));
  Append(Events(0, 9));
  spool_.reset();
  const std::string first = SegmentPath("00000000000000000001.seg");
  fs::copy_file(first, dir_.Sub("kept.seg"));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_TRUE(spool_->Ack(4).ok());
  spool_.reset();
  fs::copy_file(dir_.Sub("kept.seg"), first);  // as if killed between the state write and the unlink

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_FALSE(fs::exists(first));
  EXPECT_EQ(ReadAll(), Range(4, 9));
  EXPECT_EQ(spool_->bytes(), 2 * SegmentOf(3));
  EXPECT_EQ(Append(Events(9, 1)), 10u);
}

TEST_P(LogSpoolDiskTest, ForgottenSourcesStayForgottenAcrossReopen) {
  ASSERT_NO_FATAL_FAILURE(Open(kLarge, SegmentOf(2)));
  Append({Event(0, "a"), Event(1, "b"), Event(2, "a")});
  ASSERT_TRUE(spool_->ForgetSource("a").ok());

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"b", 1001}}))
      << "a's events still in segments do not bring it back";
  Append({Event(3, "a")});
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"a", 1003}, {"b", 1001}}));
  ASSERT_TRUE(spool_->Ack(4).ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->SourcePositions(), (std::map<std::string, int64_t>{{"a", 1003}, {"b", 1001}}));
}

TEST_P(LogSpoolDiskTest, DropsAreCountedAcrossReopenAndASmallerBoundAppliesAtOnce) {
  ASSERT_NO_FATAL_FAILURE(Open(2 * SegmentOf(2), SegmentOf(2)));
  Append(Events(0, 5));  // 1-2 dropped for 3-4 and 5
  EXPECT_EQ(spool_->dropped(), 2u);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->dropped(), 2u);
  EXPECT_EQ(ReadAll(), Range(3, 5));

  options_.max_bytes = SegmentOf(2);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(spool_->dropped(), 4u);
  EXPECT_EQ(ReadAll(), Range(5, 5));
}

TEST_P(LogSpoolDiskTest, FilesThatAreNotTheSpoolsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Append(Events(0, 1));
  spool_.reset();
  std::ofstream(SegmentPath("00000000000000000009.seg"), std::ios::binary) << "not a segment at all";
  EXPECT_EQ(LogSpool::Open(options_).status().code(), absl::StatusCode::kDataLoss);
  fs::remove(SegmentPath("00000000000000000009.seg"));

  std::ofstream(spool_dir() + "/state", std::ios::binary | std::ios::trunc) << "BRTHSTA1 cut short";
  EXPECT_EQ(LogSpool::Open(options_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(LogSpoolDiskTest, SyncingOnEveryAppendKeepsTheSameContents) {
  options_ = {.dir = spool_dir(), .segment_bytes = SegmentOf(3), .sync_interval = absl::ZeroDuration()};
  ASSERT_NO_FATAL_FAILURE(Reopen());
  for (int i = 0; i < 7; ++i) Append(Events(i, 1));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadAll(), Range(1, 7));
}

TEST(Crc32cTest, MatchesTheCastagnoliCheckValueAndChains) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("56789", Crc32c("1234")), Crc32c("123456789"));
}

}  // namespace
}  // namespace berth::agent::logs
