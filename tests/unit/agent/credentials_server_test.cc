// CredentialsServer: what a container gets from its credentials URI, over real HTTP on port 0.
#include "src/agent/credentials_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "tests/testutil/fake_clock.h"

namespace berth::agent {
namespace {

constexpr char kId[] = "0123456789abcdef0123456789abcdef";
constexpr char kTask[] = "arn:aws:ecs:local:000000000000:task/default/00000000000000000000000000000001";

class CredentialsServerTest : public ::testing::Test {
 protected:
  CredentialsServer Make() {
    return CredentialsServer(
        [this](const std::string& id) -> std::optional<TaskEngine::CredentialsOwner> {
          if (id != kId || stopped_) return std::nullopt;
          return TaskEngine::CredentialsOwner{.task_arn = kTask, .role_arn = "arn:aws:iam::000000000000:role/web"};
        },
        &clock_,
        [this](const std::string& task_arn) -> absl::StatusOr<v1::GetTaskCredentialsResponse> {
          ++fetches_;
          EXPECT_EQ(task_arn, kTask);
          if (!refusal_.ok()) return refusal_;
          v1::GetTaskCredentialsResponse r;
          r.set_role_arn("arn:aws:iam::000000000000:role/web");
          r.set_access_key_id("ASIA" + std::to_string(fetches_));
          r.set_secret_access_key("secret");
          r.set_session_token("token");
          r.set_expiration(clock_.NowMicros() / 1'000'000 + 3600);
          return r;
        });
  }

  testutil::FakeClock clock_{1'700'000'000'000'000};
  bool stopped_ = false;
  absl::Status refusal_;
  int fetches_ = 0;
};

TEST_F(CredentialsServerTest, AnswersTheTasksCredentialsAsEcsDoesAndCachesThemUntilNearExpiry) {
  CredentialsServer server = Make();
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  httplib::Client client("127.0.0.1", *port);
  auto got = client.Get(std::string("/v2/credentials/") + kId);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  nlohmann::json body = nlohmann::json::parse(got->body);
  EXPECT_EQ(body["RoleArn"], "arn:aws:iam::000000000000:role/web");
  EXPECT_EQ(body["AccessKeyId"], "ASIA1");
  EXPECT_EQ(body["SecretAccessKey"], "secret");
  EXPECT_EQ(body["Token"], "token");
  EXPECT_EQ(body["Expiration"], "2023-11-14T23:13:20Z");

  // Cached: the same credentials until 15 minutes before they expire, then new ones.
  clock_.Advance(int64_t{44} * 60 * 1'000'000);
  EXPECT_EQ(nlohmann::json::parse(server.Serve(std::string("/v2/credentials/") + kId).second)["AccessKeyId"], "ASIA1");
  clock_.Advance(int64_t{2} * 60 * 1'000'000);
  EXPECT_EQ(nlohmann::json::parse(server.Serve(std::string("/v2/credentials/") + kId).second)["AccessKeyId"], "ASIA2");
  EXPECT_EQ(fetches_, 2);

  // Another id, a stopped task, another path: 404. berthd refusing: 502 with its reason.
  EXPECT_EQ(client.Get("/v2/credentials/ffffffffffffffffffffffffffffffff")->status, 404);
  EXPECT_EQ(client.Get("/v2/credentials/")->status, 404);
  EXPECT_EQ(server.Serve("/v1/credentials").first, 404);
  stopped_ = true;
  EXPECT_EQ(client.Get(std::string("/v2/credentials/") + kId)->status, 404);
  stopped_ = false;
  clock_.Advance(int64_t{3600} * 1'000'000);
  refusal_ = absl::FailedPreconditionError("taskRoleArn: role 'web' is not defined under roles in --auth-config");
  auto refused = server.Serve(std::string("/v2/credentials/") + kId);
  EXPECT_EQ(refused.first, 502);
  EXPECT_THAT(refused.second, ::testing::HasSubstr("is not defined under roles"));
  server.Stop();
}

}  // namespace
}  // namespace berth::agent
