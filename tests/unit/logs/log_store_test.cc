// The RocksDB log store: groups and streams, appends read back forward and backward with tokens,
// filters with patterns and pages, retention and the size cap with explicit clocks, and what a
// reopened store still holds.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "berth/logs/log_store.h"
#include "tests/testutil/temp_dir.h"

namespace berth::logs {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT0 = 1'700'000'000'000;  // a fixed "now"

std::vector<LogEvent> Lines(int64_t first_ms, int from, int count, const std::string& tag = "line") {
  std::vector<LogEvent> out;
  for (int i = 0; i < count; ++i) out.push_back({first_ms + i, tag + " " + std::to_string(from + i), 0});
  return out;
}

std::vector<std::string> Messages(const std::vector<StoredEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.message);
  return out;
}

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(int64_t max_bytes = 1LL << 30) {
    store_.reset();
    auto opened = OpenRocksDbLogStore({.path = dir_.Sub("logs"), .max_bytes = max_bytes, .wal_sync_interval_ms = 50});
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
  }
  // Requests for stream "s" of `group`: from the head, from a token, the newest events, a range.
  static ReadRequest Head(std::string group = "g") {
    ReadRequest r;
    r.group = std::move(group);
    r.stream = "s";
    r.start_from_head = true;
    return r;
  }
  static ReadRequest Head(int limit) {
    ReadRequest r = Head();
    r.limit = limit;
    return r;
  }
  static ReadRequest Next(const std::string& token, int limit = 10000) {
    ReadRequest r = Head(limit);
    r.token = token;
    return r;
  }
  static ReadRequest Tail(int limit) {
    ReadRequest r = Head(limit);
    r.start_from_head = false;
    return r;
  }
  static ReadRequest Range(int64_t start_ms, int64_t end_ms) {
    ReadRequest r = Head();
    r.start_ms = start_ms;
    r.end_ms = end_ms;
    return r;
  }
  ReadResult MustRead(const ReadRequest& r) {
    auto got = store_->Read(r);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : ReadResult{};
  }

  testutil::TempDir dir_;
  std::unique_ptr<LogStore> store_;
};

TEST_F(LogStoreTest, GroupsAndStreamsExistOnceAndListByPrefixInPages) {
  ASSERT_TRUE(store_->CreateGroup("/ecs/web", kT0, {{"team", "a"}}).ok());
  EXPECT_EQ(store_->CreateGroup("/ecs/web", kT0, {}).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_->CreateGroup("/ecs/worker", kT0, {}).ok());
  ASSERT_TRUE(store_->CreateGroup("other", kT0, {}).ok());
  std::string next;
  auto page = store_->ListGroups("/ecs/", {.token = "", .limit = 1}, &next);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].name, "/ecs/web");
  EXPECT_EQ(page[0].tags.at("team"), "a");
  page = store_->ListGroups("/ecs/", {.token = next, .limit = 1}, &next);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].name, "/ecs/worker");
  EXPECT_TRUE(next.empty());  // the last page

  EXPECT_EQ(store_->CreateStream("nope", "s", kT0).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->CreateStream("/ecs/web", "app/web/1", kT0).ok());
  EXPECT_EQ(store_->CreateStream("/ecs/web", "app/web/1", kT0).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_->CreateStream("/ecs/web", "app/web/2", kT0).ok());
  ASSERT_TRUE(store_->CreateStream("/ecs/web", "sidecar/1", kT0).ok());
  auto streams = store_->ListStreams("/ecs/web", "app/", {.token = "", .limit = 10}, &next);
  ASSERT_TRUE(streams.ok());
  ASSERT_EQ(streams->size(), 2u);
  EXPECT_EQ((*streams)[1].name, "app/web/2");

  ASSERT_TRUE(store_->DeleteStream("/ecs/web", "app/web/1").ok());
  EXPECT_EQ(store_->DeleteStream("/ecs/web", "app/web/1").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->DeleteGroup("/ecs/web").ok());
  EXPECT_EQ(store_->GetGroup("/ecs/web").status().code(), absl::StatusCode::kNotFound);
  // A group created again under the name starts empty.
  ASSERT_TRUE(store_->CreateGroup("/ecs/web", kT0, {}).ok());
  streams = store_->ListStreams("/ecs/web", "", {.token = "", .limit = 10}, &next);
  ASSERT_TRUE(streams.ok());
  EXPECT_TRUE(streams->empty());
}

TEST_F(LogStoreTest, AppendNeedsGroupAndStreamUnlessAskedToCreateThem) {
  EXPECT_EQ(store_->Append("g", "s", Lines(kT0, 0, 1), kT0, false).status().message(),
            "The specified log group does not exist.");
  ASSERT_TRUE(store_->CreateGroup("g", kT0, {}).ok());
  EXPECT_EQ(store_->Append("g", "s", Lines(kT0, 0, 1), kT0, false).status().message(),
            "The specified log stream does not exist.");
  auto appended = store_->Append("g2", "s", Lines(kT0, 0, 2), kT0, true);
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->stored_bytes, 2 * 26 + 6 + 6);
  EXPECT_EQ(store_->GetGroup("g2")->stored_bytes, appended->stored_bytes);
  EXPECT_EQ(store_->stored_bytes(), appended->stored_bytes);
}

TEST_F(LogStoreTest, ReadsForwardAndBackwardWithTokensAsGetLogEventsPages) {
  for (int batch = 0; batch < 5; ++batch) {
    ASSERT_TRUE(store_->Append("g", "s", Lines(kT0 + batch * 10, batch * 10, 10), kT0, true).ok());
  }
  // From the head, in pages of 15: every line once, in order.
  std::vector<std::string> all;
  ReadResult page = MustRead(Head(15));
  while (!page.events.empty()) {
    for (auto& m : Messages(page.events)) all.push_back(m);
    page = MustRead(Next(page.next_forward_token, 15));
  }
  ASSERT_EQ(all.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(all[static_cast<size_t>(i)], "line " + std::to_string(i));
  // The last page's forward token, read again, returns nothing and the same token: the CLI's
  // paginator stops on it, and a follower keeps asking with it.
  ReadResult again = MustRead(Next(page.next_forward_token));
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(again.next_forward_token, page.next_forward_token);
  ASSERT_TRUE(store_->Append("g", "s", Lines(kT0 + 50, 50, 2), kT0, true).ok());
  EXPECT_EQ(Messages(MustRead(Next(again.next_forward_token)).events),
            (std::vector<std::string>{"line 50", "line 51"}));

  // Without startFromHead: the newest `limit` events, oldest first; then backward from them.
  ReadResult tail = MustRead(Tail(3));
  EXPECT_EQ(Messages(tail.events), (std::vector<std::string>{"line 49", "line 50", "line 51"}));
  ReadResult before = MustRead(Next(tail.next_backward_token, 12));
  ASSERT_EQ(before.events.size(), 12u);
  EXPECT_EQ(before.events.front().message, "line 37");
  EXPECT_EQ(before.events.back().message, "line 48");

  // A time range: [kT0+5, kT0+8).
  ReadResult range = MustRead(Range(kT0 + 5, kT0 + 8));
  EXPECT_EQ(Messages(range.events), (std::vector<std::string>{"line 5", "line 6", "line 7"}));
  EXPECT_EQ(store_->Read(Next("zz")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LogStoreTest, AnAppendIsSortedByTimestamp) {
  ASSERT_TRUE(store_->Append("g", "s", {{kT0 + 2, "c"}, {kT0, "a"}, {kT0 + 1, "b"}}, kT0, true).ok());
  EXPECT_EQ(Messages(MustRead(Head()).events), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(LogStoreTest, FiltersByPatternStreamAndTimeInPages) {
  ASSERT_TRUE(store_->Append("g", "app/a", Lines(kT0, 0, 100, "INFO"), kT0, true).ok());
  ASSERT_TRUE(store_->Append("g", "app/a", {{kT0 + 500, "ERROR disk full"}}, kT0, true).ok());
  ASSERT_TRUE(store_->Append("g", "app/b", {{kT0 + 7, "ERROR timeout"}, {kT0 + 8, "WARN slow"}}, kT0, true).ok());
  ASSERT_TRUE(store_->Append("g", "other", {{kT0 + 9, "ERROR elsewhere"}}, kT0, true).ok());
  auto error = FilterPattern::Parse("ERROR");
  ASSERT_TRUE(error.ok());
  auto got = store_->Filter({.group = "g",
                             .streams = {},
                             .stream_prefix = "app/",
                             .start_ms = {},
                             .end_ms = {},
                             .pattern = &*error,
                             .token = "",
                             .limit = 100});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Messages(got->events), (std::vector<std::string>{"ERROR disk full", "ERROR timeout"}));
  EXPECT_EQ(got->events[0].stream, "app/a");
  EXPECT_NE(got->events[0].event_id, got->events[1].event_id);
  EXPECT_TRUE(got->next_token.empty());

  // Pages of one, over named streams.
  std::vector<std::string> paged;
  std::string token;
  do {
    auto page = store_->Filter({.group = "g",
                                .streams = {"other", "app/b"},
                                .stream_prefix = "",
                                .start_ms = {},
                                .end_ms = {},
                                .pattern = &*error,
                                .token = token,
                                .limit = 1});
    ASSERT_TRUE(page.ok()) << page.status();
    for (auto& m : Messages(page->events)) paged.push_back(m);
    token = page->next_token;
  } while (!token.empty());
  EXPECT_EQ(paged, (std::vector<std::string>{"ERROR timeout", "ERROR elsewhere"}));

  // A time range and no pattern.
  got = store_->Filter({.group = "g",
                        .streams = {},
                        .stream_prefix = "",
                        .start_ms = kT0 + 8,
                        .end_ms = kT0 + 10,
                        .pattern = nullptr,
                        .token = "",
                        .limit = 100});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Messages(got->events), (std::vector<std::string>{"INFO 8", "INFO 9", "WARN slow", "ERROR elsewhere"}));
}

TEST_F(LogStoreTest, RetentionDropsChunksWhoseNewestEventIsPastIt) {
  ASSERT_TRUE(store_->Append("g", "s", Lines(kT0 - 10 * kDay, 0, 3), kT0, true).ok());
  ASSERT_TRUE(store_->Append("g", "s", Lines(kT0 - 2 * kDay, 3, 3), kT0, true).ok());
  ASSERT_TRUE(store_->Append("keep", "s", Lines(kT0 - 10 * kDay, 0, 3), kT0, true).ok());
  ASSERT_TRUE(store_->SetRetention("g", 7).ok());
  const int64_t before = store_->stored_bytes();
  const int64_t dropped = store_->Expire(kT0);
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(store_->stored_bytes(), before - dropped);
  EXPECT_EQ(Messages(MustRead(Head()).events), (std::vector<std::string>{"line 3", "line 4", "line 5"}));
  // Five days later the second chunk is past it too; the group without retention keeps all.
  store_->Expire(kT0 + 6 * kDay);
  EXPECT_TRUE(MustRead(Head()).events.empty());
  EXPECT_EQ(MustRead(Head("keep")).events.size(), 3u);
}

TEST_F(LogStoreTest, TheSizeCapDeletesTheOldestAppendsFirst) {
  Open(/*max_bytes=*/3 * (10 * (26 + 7)));
  for (int batch = 0; batch < 5; ++batch) {
    ASSERT_TRUE(
        store_->Append(batch % 2 == 0 ? "a" : "b", "s", Lines(kT0 + batch * 10, batch * 10, 10), kT0, true).ok());
  }
  store_->Expire(kT0);
  EXPECT_LE(store_->stored_bytes(), 3 * (10 * (26 + 7)));
  // Appends 0 and 1 went; 2 (group a), 3 (b) and 4 (a) stay.
  auto a = Messages(MustRead(Head("a")).events);
  ASSERT_EQ(a.size(), 20u);
  EXPECT_EQ(a.front(), "line 20");
  EXPECT_EQ(MustRead(Head("b")).events.front().message, "line 30");
}

TEST_F(LogStoreTest, AReopenedStoreHoldsWhatWasAppended) {
  ASSERT_TRUE(store_->Append("g", "s", Lines(kT0, 0, 10), kT0, true).ok());
  ASSERT_TRUE(store_->SetRetention("g", 3).ok());
  const int64_t bytes = store_->stored_bytes();
  Open();
  EXPECT_EQ(store_->stored_bytes(), bytes);
  EXPECT_EQ(store_->GetGroup("g")->retention_days, 3);
  EXPECT_EQ(MustRead(Head()).events.size(), 10u);
  // Event ids stay unique across the reopen: the sequence continues.
  ASSERT_TRUE(store_->Append("g", "s", Lines(kT0 + 10, 10, 1), kT0, true).ok());
  auto all = store_->Filter({.group = "g",
                             .streams = {},
                             .stream_prefix = "",
                             .start_ms = {},
                             .end_ms = {},
                             .pattern = nullptr,
                             .token = "",
                             .limit = 100});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->events.size(), 11u);
  EXPECT_NE(all->events[0].event_id.substr(0, all->events[0].event_id.find('-')),
            all->events[10].event_id.substr(0, all->events[10].event_id.find('-')));
}

TEST_F(LogStoreTest, ADeletedGroupStaysDeletedWithItsStreamsAfterAReopen) {
  ASSERT_TRUE(store_->Append("g", "s", Lines(kT0, 0, 3), kT0, true).ok());
  ASSERT_TRUE(store_->DeleteGroup("g").ok());
  Open();
  EXPECT_EQ(store_->GetGroup("g").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->stored_bytes(), 0);
  ASSERT_TRUE(store_->CreateGroup("g", kT0, {}).ok());
  std::string next;
  auto streams = store_->ListStreams("g", "", {.token = "", .limit = 10}, &next);
  ASSERT_TRUE(streams.ok());
  EXPECT_TRUE(streams->empty());
}

// Events numbered from `first_seq`, one per millisecond.
std::vector<LogEvent> Numbered(uint64_t first_seq, int count) {
  std::vector<LogEvent> out;
  for (int i = 0; i < count; ++i) {
    const uint64_t seq = first_seq + static_cast<uint64_t>(i);
    out.push_back({kT0 + static_cast<int64_t>(seq), "event " + std::to_string(seq), seq});
  }
  return out;
}

TEST_F(LogStoreTest, AWritersBatchIsStoredOnceWhateverIsSentAgain) {
  auto first = store_->AppendBatch("agent-1", 3, {{"g", "s", true, Numbered(1, 3)}}, kT0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->applied_sequence, 3u);
  EXPECT_FALSE(first->duplicate);
  // The same batch again (its answer was lost): nothing stored.
  auto again = store_->AppendBatch("agent-1", 3, {{"g", "s", true, Numbered(1, 3)}}, kT0);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  // A resend that overlaps: only events 4 and 5 are new.
  auto overlap = store_->AppendBatch("agent-1", 5, {{"g", "s", true, Numbered(2, 4)}}, kT0);
  ASSERT_TRUE(overlap.ok());
  EXPECT_EQ(overlap->applied_sequence, 5u);
  EXPECT_EQ(Messages(MustRead(Head()).events),
            (std::vector<std::string>{"event 1", "event 2", "event 3", "event 4", "event 5"}));
  // Another writer has a sequence of its own.
  EXPECT_EQ(store_->WriterSequence("agent-2"), 0u);
  EXPECT_FALSE(store_->AppendBatch("agent-2", 1, {{"g", "s", true, Numbered(1, 1)}}, kT0)->duplicate);
  // The writers' sequences survive a reopen.
  Open();
  EXPECT_EQ(store_->WriterSequence("agent-1"), 5u);
  EXPECT_TRUE(store_->AppendBatch("agent-1", 5, {{"g", "s", true, Numbered(5, 1)}}, kT0)->duplicate);
  EXPECT_EQ(MustRead(Head()).events.size(), 6u);
}

TEST_F(LogStoreTest, ABatchStoresWhatItCanAndNamesTheStreamsItRejects) {
  ASSERT_TRUE(store_->CreateGroup("exists", kT0, {}).ok());
  auto got = store_->AppendBatch("agent-1", 9,
                                 {{"missing", "a", false, Numbered(1, 2)},
                                  {"exists", "b", false, Numbered(3, 2)},
                                  {"created", "c", true, Numbered(5, 2)},
                                  {"exists", "b", false, Numbered(7, 3)}},
                                 kT0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->rejected.size(), 1u);
  EXPECT_EQ(got->rejected[0].first, 0u);
  EXPECT_EQ(got->rejected[0].second.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetGroup("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetGroup("created").ok());
  ReadRequest b = Head("exists");
  b.stream = "b";
  EXPECT_EQ(MustRead(b).events.size(), 5u);  // two parts for one stream in one batch
  EXPECT_EQ(store_->WriterSequence("agent-1"), 9u);
  const int64_t bytes = store_->stored_bytes();
  Open();
  EXPECT_EQ(store_->stored_bytes(), bytes);
  EXPECT_EQ(MustRead(b).events.size(), 5u);
}

// A group commit: several writers' batches in one write, one writer's twice in order.
TEST_F(LogStoreTest, BatchesOfAGroupAreStoredTogetherAndInOrderPerWriter) {
  std::vector<WriterBatch> group;
  group.push_back({.writer = "a", .sequence = 3, .streams = {{"g", "s", true, Numbered(1, 3)}}});
  group.push_back({.writer = "b", .sequence = 1, .streams = {{"g", "other", true, Numbered(1, 1)}}});
  group.push_back({.writer = "a", .sequence = 4, .streams = {{"g", "s", true, Numbered(3, 2)}}});  // 3 again, 4 new
  group.push_back({.writer = "a", .sequence = 4, .streams = {{"g", "s", true, Numbered(4, 1)}}});  // all again
  auto results = store_->AppendBatches(std::move(group), kT0);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  EXPECT_FALSE((*results)[2].duplicate);
  EXPECT_TRUE((*results)[3].duplicate);
  EXPECT_EQ((*results)[3].applied_sequence, 4u);
  EXPECT_EQ(Messages(MustRead(Head()).events), (std::vector<std::string>{"event 1", "event 2", "event 3", "event 4"}));
  Open();
  EXPECT_EQ(store_->WriterSequence("a"), 4u);
  EXPECT_EQ(store_->WriterSequence("b"), 1u);
}

}  // namespace
}  // namespace berth::logs
