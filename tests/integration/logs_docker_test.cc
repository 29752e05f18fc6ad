// Container output of real containers (berth-agent --runtime docker, the local registry's busybox)
// kept in berthd's log store: awslogs read back with the real aws CLI, multi-line events, and a
// kill -9 of the agent in the middle of a stream. Lines are numbered so that a line lost or stored
// twice shows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/aws_cli.h"
#include "tests/integration/docker_helpers.h"
#include "tests/integration/logs_helpers.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"

namespace berth::testutil {
namespace {

constexpr char kImage[] = "127.0.0.1:5000/berth/busybox:latest";

class LogsDockerTest : public AwsCliTest {
 protected:
  void SetUp() override {
    AwsCliTest::SetUp();
    if (IsSkipped()) return;
    BERTH_REQUIRE_DOCKER();
    cluster_ = "logsdocker" + std::to_string(getpid());
    http_ = StartBerthd({});
    stub_ = berthd_->NewStub();
    logs_ = v1::LogsService::NewStub(berthd_->channel());
    MustCall(*stub_, &v1::ContainerService::Stub::CreateCluster, R"({"clusterName":")" + cluster_ + R"("})");
    agent_ = std::make_unique<AgentProcess>(dir_.Sub("agent"),
                                            std::vector<std::string>{"--endpoint",      berthd_->grpc_address(),
                                                                     "--cluster",       cluster_,
                                                                     "--runtime",       "docker",
                                                                     "--cpu",           "2048",
                                                                     "--memory",        "2048",
                                                                     "--poll-wait",     "2",
                                                                     "--stop-timeout",  "2",
                                                                     "--cleanup-after", "3600",
                                                                     "--pause-image",   kImage,
                                                                     "--awsvpc-cidr",   "172.30.201.0/28"});
    ASSERT_TRUE(agent_->Start()) << agent_->Log();
  }
  void TearDown() override {
    if (agent_) agent_->Kill();
    if (!cluster_.empty()) {
      Shell("docker ps -aq --filter label=com.berth.cluster=" + cluster_ + " | xargs -r docker rm -f >/dev/null 2>&1");
    }
  }

  // Runs one task of a busybox container `name` running `script` with `log_configuration`
  // (JSON, or ""); its id.
  std::string RunScript(const std::string& family, const std::string& script, const std::string& log_configuration) {
    nlohmann::json container = {{"name", "app"}, {"image", kImage}, {"memory", 64}, {"command", {"sh", "-c", script}}};
    if (!log_configuration.empty()) container["logConfiguration"] = nlohmann::json::parse(log_configuration);
    MustCall(*stub_, &v1::ContainerService::Stub::RegisterTaskDefinition,
             nlohmann::json{{"family", family}, {"containerDefinitions", {container}}}.dump());
    auto run = MustCall(*stub_, &v1::ContainerService::Stub::RunTask,
                        R"({"cluster":")" + cluster_ + R"(","taskDefinition":")" + family + R"("})");
    EXPECT_EQ(run.tasks_size(), 1) << run.DebugString();
    if (run.tasks_size() != 1) return "";
    const std::string& arn = run.tasks(0).task_arn();
    return arn.substr(arn.rfind('/') + 1);
  }

  std::string LastStatus(const std::string& id) {
    auto d = MustCall(*stub_, &v1::ContainerService::Stub::DescribeTasks,
                      R"({"cluster":")" + cluster_ + R"(","tasks":[")" + id + R"("]})");
    return d.tasks_size() == 1 ? d.tasks(0).last_status() : "";
  }

  std::string cluster_;
  std::string http_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
  std::unique_ptr<v1::LogsService::Stub> logs_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(LogsDockerTest, AwslogsOutputOfARealContainerReadsBackThroughTheAwsCli) {
  const std::string id = RunScript(
      "awslogs-writer", "i=1; while [ $i -le 200 ]; do echo \"line $i\"; i=$((i+1)); done; echo 'on stderr' >&2",
      R"({"logDriver":"awslogs","options":{"awslogs-group":"/ecs/docker-logs","awslogs-stream-prefix":"web",)"
      R"("awslogs-create-group":"true","awslogs-region":"eu-west-1","mode":"non-blocking","max-buffer-size":"4m"}})");
  ASSERT_FALSE(id.empty());
  const std::string stream = "web/app/" + id;
  ASSERT_TRUE(WaitFor([&] { return StreamMessages(*logs_, "/ecs/docker-logs", stream).size() >= 201; }, 60000))
      << agent_->Log();
  // The engine kept the output in json-file logs, with the awslogs mode options.
  const std::string log_config = Shell(
      "docker inspect --format '{{json .HostConfig.LogConfig}}' $(docker ps -aq --filter label=com.berth.task-arn"
      " --filter label=com.berth.cluster=" +
      cluster_ + " | head -1)");
  EXPECT_NE(log_config.find("\"Type\":\"json-file\""), std::string::npos) << log_config;
  EXPECT_NE(log_config.find("\"mode\":\"non-blocking\""), std::string::npos) << log_config;

  Result got = Logs(
      http_, "get-log-events --log-group-name /ecs/docker-logs --log-stream-name " + stream + " --start-from-head");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  const Json doc = got.OutJson();
  std::vector<std::string> messages;
  for (const auto& e : doc["events"]) messages.push_back(e["message"].get<std::string>());
  EXPECT_EQ(LineNumbers(messages, "line"), OneTo(200));
  // stderr too; the engine timestamps each stream as it reads it, so where the line sorts among
  // stdout's depends on when the engine read which pipe.
  EXPECT_NE(std::find(messages.begin(), messages.end(), "on stderr"), messages.end());
  Result filtered = Logs(http_, "filter-log-events --log-group-name /ecs/docker-logs --filter-pattern '\"line 150\"'");
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  const Json matched = filtered.OutJson();
  ASSERT_EQ(matched["events"].size(), 1u) << filtered.out;
  EXPECT_EQ(matched["events"][0]["logStreamName"], stream);
}

TEST_F(LogsDockerTest, MultiLineEventsAreJoinedByPatternAndByDatetimeFormat) {
  const std::string script =
      "echo '2024-01-01 12:00:00 ERROR boom'; echo '  at a.B(C.java:1)'; echo '  at d.E(F.java:2)';"
      "echo '2024-01-01 12:00:01 INFO next'";
  const std::string by_pattern =
      RunScript("multiline-pattern", script,
                R"({"logDriver":"awslogs","options":{"awslogs-group":"/ecs/multiline","awslogs-stream-prefix":"p",)"
                R"("awslogs-create-group":"true","awslogs-multiline-pattern":"^\\d{4}-\\d{2}-\\d{2}"}})");
  const std::string by_datetime =
      RunScript("multiline-datetime", script,
                R"({"logDriver":"awslogs","options":{"awslogs-group":"/ecs/multiline","awslogs-stream-prefix":"d",)"
                R"("awslogs-create-group":"true","awslogs-datetime-format":"%Y-%m-%d %H:%M:%S"}})");
  const std::vector<std::string> expected = {"2024-01-01 12:00:00 ERROR boom\n  at a.B(C.java:1)\n  at d.E(F.java:2)",
                                             "2024-01-01 12:00:01 INFO next"};
  for (const std::string& stream : {"p/app/" + by_pattern, "d/app/" + by_datetime}) {
    ASSERT_TRUE(WaitFor([&] { return StreamMessages(*logs_, "/ecs/multiline", stream).size() >= 2; }, 60000))
        << stream << "\n"
        << agent_->Log();
    EXPECT_EQ(StreamMessages(*logs_, "/ecs/multiline", stream), expected) << stream;
  }
}

// kill -9 of the agent while a container writes: the spool had what the agent read, and the
// restarted agent follows the container from the last line it spooled.
TEST_F(LogsDockerTest, KillNineOfTheAgentMidStreamLosesAndRepeatsNothing) {
  const std::string id =
      RunScript("numbered", "i=1; while [ $i -le 1500 ]; do echo \"seq $i\"; i=$((i+1)); usleep 4000; done", "");
  ASSERT_FALSE(id.empty());
  const std::string group = "/berth/" + cluster_;
  const std::string stream = "app/" + id;
  ASSERT_TRUE(WaitFor([&] { return StreamMessages(*logs_, group, stream).size() >= 100; }, 60000)) << agent_->Log();
  agent_->Kill();
  const size_t at_kill = StreamMessages(*logs_, group, stream).size();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_TRUE(agent_->Start()) << agent_->Log();
  ASSERT_TRUE(WaitFor([&] { return StreamMessages(*logs_, group, stream).size() >= 1500; }, 90000)) << at_kill << "\n"
                                                                                                    << agent_->Log();
  EXPECT_LT(at_kill, 1500u) << "the container finished before the kill: the test proves nothing";
  EXPECT_EQ(LineNumbers(StreamMessages(*logs_, group, stream), "seq"), OneTo(1500));
}

}  // namespace
}  // namespace berth::testutil
