// The real AWS CLI (`aws logs ...`, including `aws logs tail` and `tail --follow`) and boto3
// against the real berthd's CloudWatch Logs door: groups, streams, PutLogEvents with rejected
// events, GetLogEvents, FilterLogEvents with patterns, retention, tags, CloudWatch's error names,
// and logs:* policies.
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/aws_cli.h"

namespace berth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A --log-events argument: each message at now - `age_ms`, one millisecond apart.
std::string Events(const std::vector<std::string>& messages, int64_t age_ms = 0) {
  Json events = Json::array();
  int64_t t = NowMs() - age_ms;
  for (const auto& m : messages) events.push_back({{"timestamp", t++}, {"message", m}});
  return ShellQuote(events.dump());
}

TEST_F(AwsCliTest, LogsThroughTheAwsCli) {
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0"});
  ASSERT_FALSE(http.empty());

  // Empty lists are sent as CloudWatch sends them, not left out.
  Result none = Logs(http, "describe-log-groups");
  ASSERT_EQ(none.exit_code, 0) << none;
  EXPECT_EQ(none.OutJson()["logGroups"], Json::array()) << none;

  Result created = Logs(http, "create-log-group --log-group-name /ecs/web --tags team=a");
  ASSERT_EQ(created.exit_code, 0) << created;
  Result again = Logs(http, "create-log-group --log-group-name /ecs/web");
  EXPECT_THAT(again.err, HasSubstr("(ResourceAlreadyExistsException)")) << again;
  Result bad_name = Logs(http, "create-log-group --log-group-name 'no spaces'");
  EXPECT_THAT(bad_name.err, HasSubstr("(InvalidParameterException)")) << bad_name;

  ASSERT_EQ(Logs(http, "create-log-stream --log-group-name /ecs/web --log-stream-name app/web/1").exit_code, 0);
  Result missing_group = Logs(http, "create-log-stream --log-group-name /nope --log-stream-name s");
  EXPECT_THAT(missing_group.err, HasSubstr("(ResourceNotFoundException)")) << missing_group;

  Result put = Logs(http, "put-log-events --log-group-name /ecs/web --log-stream-name app/web/1 --log-events " +
                              Events({"INFO started", "ERROR disk full", "INFO serving", "{\"level\":\"error\"}"}));
  ASSERT_EQ(put.exit_code, 0) << put;
  EXPECT_FALSE(put.OutJson().contains("rejectedLogEventsInfo")) << put;
  // An event 15 days old is rejected as too old; the rest of the batch is kept.
  Result old = Logs(http, "put-log-events --log-group-name /ecs/web --log-stream-name app/web/1 --log-events " +
                              Events({"ancient"}, 15LL * 24 * 3600 * 1000));
  ASSERT_EQ(old.exit_code, 0) << old;
  EXPECT_EQ(old.OutJson()["rejectedLogEventsInfo"]["tooOldLogEventEndIndex"], 1) << old;

  Result got = Logs(http, "get-log-events --log-group-name /ecs/web --log-stream-name app/web/1 --start-from-head");
  ASSERT_EQ(got.exit_code, 0) << got;
  Json events = got.OutJson()["events"];
  ASSERT_EQ(events.size(), 4u) << got;
  EXPECT_EQ(events[1]["message"], "ERROR disk full") << got;
  EXPECT_TRUE(events[0]["ingestionTime"].is_number_integer()) << got;
  EXPECT_THAT(got.OutJson()["nextForwardToken"].get<std::string>(), ::testing::StartsWith("f/")) << got;

  Result filtered = Logs(http, "filter-log-events --log-group-name /ecs/web --filter-pattern ERROR");
  ASSERT_EQ(filtered.exit_code, 0) << filtered;
  ASSERT_EQ(filtered.OutJson()["events"].size(), 1u) << filtered;
  EXPECT_EQ(filtered.OutJson()["events"][0]["logStreamName"], "app/web/1") << filtered;
  Result json = Logs(http, "filter-log-events --log-group-name /ecs/web --filter-pattern '{ $.level = \"error\" }'");
  ASSERT_EQ(json.exit_code, 0) << json;
  ASSERT_EQ(json.OutJson()["events"].size(), 1u) << json;
  Result nothing = Logs(http, "filter-log-events --log-group-name /ecs/web --filter-pattern NOSUCHTERM");
  ASSERT_EQ(nothing.exit_code, 0) << nothing;
  EXPECT_EQ(nothing.OutJson()["events"], Json::array()) << nothing;
  Result bad_pattern = Logs(http, "filter-log-events --log-group-name /ecs/web --filter-pattern '{ $.a = '");
  EXPECT_THAT(bad_pattern.err, HasSubstr("(InvalidParameterException)")) << bad_pattern;

  // `aws logs tail` reads the group through FilterLogEvents.
  Result tail = Run(ShellQuote(aws_) + " logs tail /ecs/web --since 1h --format short --endpoint-url http://" + http +
                    " --region local");
  ASSERT_EQ(tail.exit_code, 0) << tail;
  EXPECT_THAT(tail.out, HasSubstr("ERROR disk full")) << tail;
  EXPECT_THAT(tail.out, Not(HasSubstr("ancient"))) << tail;

  Result bad_days = Logs(http, "put-retention-policy --log-group-name /ecs/web --retention-in-days 2");
  EXPECT_THAT(bad_days.err, HasSubstr("(InvalidParameterException)")) << bad_days;
  ASSERT_EQ(Logs(http, "put-retention-policy --log-group-name /ecs/web --retention-in-days 7").exit_code, 0);
  Result groups = Logs(http, "describe-log-groups --log-group-name-prefix /ecs/");
  ASSERT_EQ(groups.exit_code, 0) << groups;
  ASSERT_EQ(groups.OutJson()["logGroups"].size(), 1u) << groups;
  EXPECT_EQ(groups.OutJson()["logGroups"][0]["retentionInDays"], 7) << groups;
  EXPECT_GT(groups.OutJson()["logGroups"][0]["storedBytes"].get<int64_t>(), 0) << groups;
  const std::string arn = groups.OutJson()["logGroups"][0]["arn"];
  EXPECT_EQ(arn, "arn:aws:logs:local:000000000000:log-group:/ecs/web:*");

  Result streams = Logs(http, "describe-log-streams --log-group-name /ecs/web --order-by LastEventTime --descending");
  ASSERT_EQ(streams.exit_code, 0) << streams;
  EXPECT_EQ(streams.OutJson()["logStreams"][0]["logStreamName"], "app/web/1") << streams;
  EXPECT_EQ(streams.OutJson()["logStreams"][0]["arn"],
            "arn:aws:logs:local:000000000000:log-group:/ecs/web:log-stream:app/web/1")
      << streams;

  ASSERT_EQ(Logs(http, "tag-resource --resource-arn " + ShellQuote(arn) + " --tags env=dev").exit_code, 0);
  Result tags = Logs(http, "list-tags-for-resource --resource-arn " + ShellQuote(arn));
  ASSERT_EQ(tags.exit_code, 0) << tags;
  EXPECT_EQ(tags.OutJson()["tags"]["team"], "a") << tags;
  EXPECT_EQ(tags.OutJson()["tags"]["env"], "dev") << tags;

  Result unknown = Run(ShellQuote(aws_) + " logs describe-destinations --endpoint-url http://" + http +
                       " --region local --output json");
  EXPECT_THAT(unknown.err, HasSubstr("(UnknownOperationException)")) << unknown;

  ASSERT_EQ(Logs(http, "delete-log-stream --log-group-name /ecs/web --log-stream-name app/web/1").exit_code, 0);
  ASSERT_EQ(Logs(http, "delete-log-group --log-group-name /ecs/web").exit_code, 0);
  Result gone = Logs(http, "get-log-events --log-group-name /ecs/web --log-stream-name app/web/1");
  EXPECT_THAT(gone.err, HasSubstr("(ResourceNotFoundException)")) << gone;
}

TEST_F(AwsCliTest, LogsTailFollowShowsEventsAsTheyArrive) {
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0"});
  ASSERT_FALSE(http.empty());
  ASSERT_EQ(Logs(http, "create-log-group --log-group-name follow").exit_code, 0);
  ASSERT_EQ(Logs(http, "create-log-stream --log-group-name follow --log-stream-name s").exit_code, 0);
  ASSERT_EQ(Logs(http, "put-log-events --log-group-name follow --log-stream-name s --log-events " + Events({"first"}))
                .exit_code,
            0);
  // `tail --follow` runs until killed: in the background, for 20 s, its output to a file.
  const std::string out = dir_.Sub("follow.out");
  Result started =
      Run("sh -c " + ShellQuote("timeout 20 " + ShellQuote(aws_) +
                                " logs tail follow --follow --since 5m --format short --endpoint-url http://" + http +
                                " --region local > " + ShellQuote(out) + " 2>&1 &"));
  ASSERT_EQ(started.exit_code, 0) << started;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_EQ(Logs(http, "put-log-events --log-group-name follow --log-stream-name s --log-events " + Events({"second"}))
                .exit_code,
            0);
  bool seen = false;
  for (int i = 0; i < 150 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::string text = ReadFile(out);
    seen = text.find("first") != std::string::npos && text.find("second") != std::string::npos;
  }
  EXPECT_TRUE(seen) << ReadFile(out);
}

TEST_F(AwsCliTest, LogsThroughBoto3) {
  if (!HasBoto3()) GTEST_SKIP() << "python3-boto3 is not installed (scripts/install-deps.sh)";
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0", "--access-key", std::string(kKeyId) + ":" + kSecret});
  ASSERT_FALSE(http.empty());
  Result r = RunBoto3Check("logs_boto3_check.py", http);
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("ResourceAlreadyExistsException")) << r;
  EXPECT_THAT(r.out, HasSubstr("ResourceNotFoundException")) << r;
  EXPECT_THAT(r.out, HasSubstr("InvalidParameterException")) << r;
  EXPECT_THAT(r.out, HasSubstr("\nok\n")) << r;
}

TEST_F(AwsCliTest, LogsPoliciesApplyToTheLogsActions) {
  std::string config =
      WriteFile("auth.json", R"({
    "policies": {
      "admin": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
      "web-logs": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:GetLogEvents", "logs:FilterLogEvents"],
         "Resource": "arn:aws:logs:*:*:log-group:/ecs/web*"}]}},
    "principals": {
      "root": {"policies": ["admin"], "accessKeys": [{"accessKeyId": ")" +
                                 std::string(kKeyId) + R"(", "secretAccessKey": ")" + kSecret + R"("}]},
      "dana": {"policies": ["web-logs"], "accessKeys": [{"accessKeyId": "AKIADANA000000000000",
                                                         "secretAccessKey": "dana-secret-0000000000"}]}}})");
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0", "--auth-config", config});
  ASSERT_FALSE(http.empty());
  for (const char* group : {"/ecs/web", "/ecs/db"}) {
    ASSERT_EQ(Logs(http, std::string("create-log-group --log-group-name ") + group).exit_code, 0);
    ASSERT_EQ(Logs(http, std::string("create-log-stream --log-stream-name s --log-group-name ") + group).exit_code, 0);
  }
  Result readable =
      Logs(http, "filter-log-events --log-group-name /ecs/web", "AKIADANA000000000000", "dana-secret-0000000000");
  EXPECT_EQ(readable.exit_code, 0) << readable;
  Result other =
      Logs(http, "filter-log-events --log-group-name /ecs/db", "AKIADANA000000000000", "dana-secret-0000000000");
  EXPECT_THAT(other.err, HasSubstr("(AccessDeniedException)")) << other;
  EXPECT_THAT(other.err, HasSubstr("logs:FilterLogEvents")) << other;
  Result write =
      Logs(http, "create-log-group --log-group-name /ecs/web2", "AKIADANA000000000000", "dana-secret-0000000000");
  EXPECT_THAT(write.err, HasSubstr("(AccessDeniedException)")) << write;
}

}  // namespace
}  // namespace berth
