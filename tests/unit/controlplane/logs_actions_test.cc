// LogActions over a real log store with a fake clock: CloudWatch's names and limits, the rejected
// events of PutLogEvents, errors by CloudWatch's names, retention through the actions.
#include "src/controlplane/actions/logs.h"

#include <gtest/gtest.h>

#include <future>
#include <set>

#include "src/controlplane/doors/errors.h"
#include "tests/testutil/fake_clock.h"
#include "tests/testutil/temp_dir.h"

namespace berth::controlplane {
namespace {

constexpr int64_t kDayMs = 86'400'000;

class LogActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store =
        logs::OpenRocksDbLogStore({.path = dir_.Sub("logs"), .max_bytes = 1 << 30, .wal_sync_interval_ms = 50});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    actions_ = std::make_unique<LogActions>(store_.get(), &arns_, &clock_);
  }
  int64_t now_ms() const { return clock_.NowMicros() / 1000; }

  template <typename Request, typename Response>
  absl::Status Do(void (LogActions::*action)(const Request&, Response*, LogActions::Done), const Request& request,
                  Response* response) {
    absl::Status out;
    (actions_.get()->*action)(request, response, [&](absl::Status s) { out = std::move(s); });
    return out;
  }
  absl::Status Put(const std::string& group, const std::string& stream, const std::vector<int64_t>& times,
                   v1::PutLogEventsResponse* response = nullptr) {
    v1::PutLogEventsRequest r;
    r.set_log_group_name(group);
    r.set_log_stream_name(stream);
    for (int64_t t : times) {
      auto* e = r.add_log_events();
      e->set_timestamp(t);
      e->set_message("at " + std::to_string(t));
    }
    v1::PutLogEventsResponse local;
    return Do(&LogActions::PutLogEvents, r, response != nullptr ? response : &local);
  }
  absl::Status CreateGroupAndStream(const std::string& group, const std::string& stream) {
    v1::CreateLogGroupRequest g;
    g.set_log_group_name(group);
    v1::CreateLogGroupResponse gr;
    RETURN_IF_ERROR(Do(&LogActions::CreateLogGroup, g, &gr));
    v1::CreateLogStreamRequest s;
    s.set_log_group_name(group);
    s.set_log_stream_name(stream);
    v1::CreateLogStreamResponse sr;
    return Do(&LogActions::CreateLogStream, s, &sr);
  }

  testutil::FakeClock clock_;
  testutil::TempDir dir_;
  Arns arns_{ArnContext{}};
  std::unique_ptr<logs::LogStore> store_;
  std::unique_ptr<LogActions> actions_;
};

TEST_F(LogActionsTest, NamesFollowCloudWatchsRules) {
  v1::CreateLogGroupRequest r;
  v1::CreateLogGroupResponse resp;
  for (const std::string& bad : std::vector<std::string>{"", "has space", std::string(513, 'a'), "a:b"}) {
    r.set_log_group_name(bad);
    absl::Status s = Do(&LogActions::CreateLogGroup, r, &resp);
    EXPECT_EQ(ErrorType(s), "InvalidParameterException") << bad;
    EXPECT_NE(s.message().find("logGroupName"), std::string::npos) << s;
  }
  r.set_log_group_name("/aws/ecs/web_1.x#y-z");
  EXPECT_TRUE(Do(&LogActions::CreateLogGroup, r, &resp).ok());
  EXPECT_EQ(ErrorType(Do(&LogActions::CreateLogGroup, r, &resp)), "ResourceAlreadyExistsException");
  v1::CreateLogStreamRequest s;
  v1::CreateLogStreamResponse sresp;
  s.set_log_group_name("/aws/ecs/web_1.x#y-z");
  s.set_log_stream_name("a:b");
  EXPECT_EQ(ErrorType(Do(&LogActions::CreateLogStream, s, &sresp)), "InvalidParameterException");
  s.set_log_group_name("/missing");
  s.set_log_stream_name("ok/stream");
  absl::Status missing = Do(&LogActions::CreateLogStream, s, &sresp);
  EXPECT_EQ(ErrorType(missing), "ResourceNotFoundException");
  EXPECT_EQ(missing.message(), "The specified log group does not exist.");
}

TEST_F(LogActionsTest, PutLogEventsRejectsTooOldTooNewAndExpiredEventsAndKeepsTheRest) {
  ASSERT_TRUE(CreateGroupAndStream("g", "s").ok());
  const int64_t now = now_ms();
  // More than 14 days old: rejected, and nothing of the batch stored.
  v1::PutLogEventsResponse old;
  ASSERT_TRUE(Put("g", "s", {now - 15 * kDayMs, now - 15 * kDayMs + 1}, &old).ok());
  EXPECT_EQ(old.rejected_log_events_info().too_old_log_event_end_index(), 2);
  // More than 2 hours ahead: rejected from its index on; the rest stored.
  v1::PutLogEventsResponse response;
  ASSERT_TRUE(Put("g", "s", {now, now + 3'600'000, now + 3 * 3'600'000}, &response).ok());
  EXPECT_EQ(response.rejected_log_events_info().too_new_log_event_start_index(), 2);
  EXPECT_FALSE(response.rejected_log_events_info().has_too_old_log_event_end_index());
  EXPECT_FALSE(response.rejected_log_events_info().has_expired_log_event_end_index());
  EXPECT_FALSE(response.next_sequence_token().empty());
  v1::GetLogEventsRequest get;
  get.set_log_group_name("g");
  get.set_log_stream_name("s");
  get.set_start_from_head(true);
  v1::GetLogEventsResponse got;
  ASSERT_TRUE(Do(&LogActions::GetLogEvents, get, &got).ok());
  ASSERT_EQ(got.events_size(), 2);
  EXPECT_EQ(got.events(0).timestamp(), now);
  EXPECT_EQ(got.events(0).ingestion_time(), now);

  // With a 3-day retention, a 5-day-old event is expired.
  v1::PutRetentionPolicyRequest retention;
  retention.set_log_group_name("g");
  retention.set_retention_in_days(3);
  v1::PutRetentionPolicyResponse rr;
  ASSERT_TRUE(Do(&LogActions::PutRetentionPolicy, retention, &rr).ok());
  v1::PutLogEventsResponse expired;
  ASSERT_TRUE(Put("g", "s", {now - 5 * kDayMs}, &expired).ok());
  EXPECT_EQ(expired.rejected_log_events_info().expired_log_event_end_index(), 1);
}

TEST_F(LogActionsTest, PutLogEventsEnforcesBatchRules) {
  ASSERT_TRUE(CreateGroupAndStream("g", "s").ok());
  const int64_t now = now_ms();
  absl::Status unordered = Put("g", "s", {now, now - 1});
  EXPECT_EQ(ErrorType(unordered), "InvalidParameterException");
  EXPECT_EQ(unordered.message(), "Log events in a single PutLogEvents request must be in chronological order.");
  EXPECT_EQ(ErrorType(Put("g", "s", {})), "InvalidParameterException");
  EXPECT_EQ(ErrorType(Put("g", "s", {now - 2 * kDayMs, now})), "InvalidParameterException");  // spans > 24 h
  EXPECT_EQ(ErrorType(Put("g", "missing", {now})), "ResourceNotFoundException");

  v1::PutLogEventsRequest big;
  big.set_log_group_name("g");
  big.set_log_stream_name("s");
  auto* e = big.add_log_events();
  e->set_timestamp(now);
  e->set_message(std::string(262'144 - 26 + 1, 'x'));
  v1::PutLogEventsResponse resp;
  absl::Status too_big = Do(&LogActions::PutLogEvents, big, &resp);
  EXPECT_EQ(ErrorType(too_big), "InvalidParameterException");
  EXPECT_NE(too_big.message().find("262144"), std::string::npos) << too_big;
  e->set_message(std::string(262'144 - 26, 'x'));
  EXPECT_TRUE(Do(&LogActions::PutLogEvents, big, &resp).ok());
  for (int i = 0; i < 4; ++i) *big.add_log_events() = big.log_events(0);
  EXPECT_NE(Do(&LogActions::PutLogEvents, big, &resp).message().find("1048576"), std::string::npos);
}

TEST_F(LogActionsTest, RetentionDaysAreCloudWatchsValues) {
  ASSERT_TRUE(CreateGroupAndStream("g", "s").ok());
  v1::PutRetentionPolicyRequest r;
  v1::PutRetentionPolicyResponse resp;
  r.set_log_group_name("g");
  for (int days : {0, 2, 4, 366, 4000}) {
    r.set_retention_in_days(days);
    EXPECT_EQ(ErrorType(Do(&LogActions::PutRetentionPolicy, r, &resp)), "InvalidParameterException") << days;
  }
  for (int days : {1, 7, 3653}) {
    r.set_retention_in_days(days);
    EXPECT_TRUE(Do(&LogActions::PutRetentionPolicy, r, &resp).ok()) << days;
  }
  v1::DescribeLogGroupsRequest d;
  v1::DescribeLogGroupsResponse groups;
  ASSERT_TRUE(Do(&LogActions::DescribeLogGroups, d, &groups).ok());
  ASSERT_EQ(groups.log_groups_size(), 1);
  EXPECT_EQ(groups.log_groups(0).retention_in_days(), 3653);
  EXPECT_EQ(groups.log_groups(0).arn(), "arn:aws:logs:local:000000000000:log-group:g:*");
}

TEST_F(LogActionsTest, TickExpiresByRetentionOnTheFakeClock) {
  ASSERT_TRUE(CreateGroupAndStream("g", "s").ok());
  ASSERT_TRUE(Put("g", "s", {now_ms() - 2 * kDayMs}).ok());
  v1::PutRetentionPolicyRequest r;
  v1::PutRetentionPolicyResponse resp;
  r.set_log_group_name("g");
  r.set_retention_in_days(3);
  ASSERT_TRUE(Do(&LogActions::PutRetentionPolicy, r, &resp).ok());
  actions_->Tick();
  EXPECT_GT(store_->stored_bytes(), 0);
  clock_.Advance(2 * kDayMs * 1000);
  actions_->Tick();
  EXPECT_EQ(store_->stored_bytes(), 0);
}

TEST_F(LogActionsTest, WithoutALogStoreEveryActionIsUnavailable) {
  LogActions none(nullptr, &arns_, &clock_);
  // Each action, with an empty request: the missing store is answered before the request is read.
  std::vector<absl::Status> answers;
  auto done = [&](absl::Status st) { answers.push_back(std::move(st)); };
#define BERTH_LOGS_TEST_CALL(C, A)            \
  {                                           \
    LogActionTypes<&C::A>::Request request;   \
    LogActionTypes<&C::A>::Response response; \
    none.A(request, &response, done);         \
  }
  BERTH_LOGS_ACTIONS(BERTH_LOGS_TEST_CALL)
#undef BERTH_LOGS_TEST_CALL
  ASSERT_EQ(answers.size(), 14u);
  for (const absl::Status& st : answers) EXPECT_EQ(ErrorType(st), "ServiceUnavailableException") << st;
}

// An agent's batch: stored once per writer and sequence, refused streams named, events outside
// CloudWatch's window refused, an oversized message cut to CloudWatch's size.
TEST_F(LogActionsTest, PushLogsStoresAnAgentsBatchOnceAndNamesWhatItRefuses) {
  v1::PushLogsRequest r;
  r.set_sequence(4);
  auto* kept = r.add_streams();
  kept->set_group("/berth/c");
  kept->set_stream("app/t1");
  kept->set_create_group(true);
  for (int i = 1; i <= 3; ++i) {
    auto* e = kept->add_events();
    e->set_sequence(static_cast<uint64_t>(i));
    e->set_timestamp_ms(now_ms() + i);
    e->set_message(i == 3 ? std::string(300'000, 'x') : "line " + std::to_string(i));
  }
  auto* old = kept->add_events();
  old->set_sequence(4);
  old->set_timestamp_ms(now_ms() - 15 * kDayMs);
  old->set_message("too old");
  auto* missing = r.add_streams();
  missing->set_group("/ecs/absent");
  missing->set_stream("s");
  missing->add_events()->set_timestamp_ms(now_ms());
  auto* bad = r.add_streams();
  bad->set_group("bad group name");
  bad->set_stream("s");
  bad->add_events()->set_timestamp_ms(now_ms());

  v1::PushLogsResponse resp;
  auto push = [&](const v1::PushLogsRequest& request, v1::PushLogsResponse* out) {
    std::promise<absl::Status> answered;
    actions_->PushLogs("instance/c/i-1/spool", request, out, [&](absl::Status s) { answered.set_value(std::move(s)); });
    return answered.get_future().get();
  };
  ASSERT_TRUE(push(r, &resp).ok());
  EXPECT_EQ(resp.applied_sequence(), 4u);
  ASSERT_EQ(resp.rejected_size(), 3);
  std::set<std::string> refused;
  for (const auto& x : resp.rejected()) refused.insert(x.group() + " " + std::to_string(x.events()));
  EXPECT_EQ(refused, (std::set<std::string>{"/berth/c 1", "/ecs/absent 1", "bad group name 1"}));

  v1::GetLogEventsRequest get;
  get.set_log_group_name("/berth/c");
  get.set_log_stream_name("app/t1");
  get.set_start_from_head(true);
  v1::GetLogEventsResponse events;
  ASSERT_TRUE(Do(&LogActions::GetLogEvents, get, &events).ok());
  ASSERT_EQ(events.events_size(), 3);
  EXPECT_EQ(events.events(0).message(), "line 1");
  EXPECT_EQ(events.events(2).message().size(), 262'144u - 26u);

  // The same batch again (its answer was lost): nothing more is stored.
  v1::PushLogsResponse again;
  ASSERT_TRUE(push(r, &again).ok());
  EXPECT_EQ(again.applied_sequence(), 4u);
  v1::GetLogEventsResponse after;
  ASSERT_TRUE(Do(&LogActions::GetLogEvents, get, &after).ok());
  EXPECT_EQ(after.events_size(), 3);
}

}  // namespace
}  // namespace berth::controlplane
