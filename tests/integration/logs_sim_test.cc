// Container output from simulated agents to berthd's log store: the real berthd and berth-agent
// --runtime sim, whose containers write numbered lines (BERTH_SIM_LOG_*), read back through the
// LogsService and `berth logs`. Lines are numbered so that a line lost or stored twice shows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/logs_helpers.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

class LogsSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    StartBerthd();
    MustCall(*stub_, &v1::ContainerService::Stub::CreateCluster, R"({"clusterName":"logs"})");
    agent_ = std::make_unique<AgentProcess>(
        dir_.Sub("agent"), std::vector<std::string>{"--endpoint", Address(), "--cluster", "logs", "--runtime", "sim",
                                                    "--cpu", "4096", "--memory", "4096", "--poll-wait", "2"});
    ASSERT_TRUE(agent_->Start()) << agent_->Log();
  }
  void TearDown() override {
    if (agent_) agent_->Kill();
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  void StartBerthd() {
    berthd_ = std::make_unique<BerthdProcess>(dir_.Sub("berthd"), std::vector<std::string>{"--grpc-listen", Address()});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
    logs_ = v1::LogsService::NewStub(berthd_->channel());
  }

  // Runs one task of `containers` (ECS JSON); its description once RUNNING.
  v1::Task RunTask(const std::string& family, const std::string& containers) {
    MustCall(*stub_, &v1::ContainerService::Stub::RegisterTaskDefinition,
             R"({"family":")" + family + R"(","containerDefinitions":)" + containers + "}");
    auto run = MustCall(*stub_, &v1::ContainerService::Stub::RunTask,
                        R"({"cluster":"logs","taskDefinition":")" + family + R"("})");
    EXPECT_EQ(run.tasks_size(), 1);
    v1::Task task;
    if (run.tasks_size() != 1) return task;
    EXPECT_TRUE(WaitFor([&] {
      auto d = MustCall(*stub_, &v1::ContainerService::Stub::DescribeTasks,
                        R"({"cluster":"logs","tasks":[")" + run.tasks(0).task_arn() + R"("]})");
      if (d.tasks_size() == 1) task = d.tasks(0);
      return task.last_status() == "RUNNING";
    })) << agent_->Log();
    return task;
  }

  static const v1::Container* Named(const v1::Task& task, const std::string& name) {
    for (const auto& c : task.containers()) {
      if (c.name() == name) return &c;
    }
    return nullptr;
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
  std::unique_ptr<v1::LogsService::Stub> logs_;
  std::unique_ptr<AgentProcess> agent_;
};

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string SimEnv(int rate, int lines) {
  return R"("environment":[{"name":"BERTH_SIM_LOG_RATE","value":")" + std::to_string(rate) +
         R"("},{"name":"BERTH_SIM_LOG_LINES","value":")" + std::to_string(lines) + R"("}])";
}

TEST_F(LogsSimTest, EachContainersOutputArrivesOnceAndInOrderWhereItsLogConfigurationSays) {
  const v1::Task task =
      RunTask("writers",
              "["
              R"({"name":"app","image":"busybox","memory":64,)" +
                  SimEnv(200, 300) + "}," + R"({"name":"side","image":"busybox","memory":64,"essential":false,)" +
                  SimEnv(100, 100) +
                  R"(,"logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/sim",)"
                  R"("awslogs-stream-prefix":"web","awslogs-create-group":"true","awslogs-region":"x"}}},)" +
                  R"({"name":"strict","image":"busybox","memory":64,"essential":false,)" + SimEnv(100, 10) +
                  R"(,"logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/absent"}}},)" +
                  R"({"name":"other","image":"busybox","memory":64,"essential":false,)" + SimEnv(100, 10) +
                  R"(,"logConfiguration":{"logDriver":"json-file","options":{"max-size":"1m"}}}])");
  const std::string id = task.task_arn().substr(task.task_arn().rfind('/') + 1);
  // DescribeTasks names each kept container's group and stream, as ECS names awslogs streams.
  ASSERT_NE(Named(task, "app"), nullptr);
  EXPECT_EQ(Named(task, "app")->log_group(), "/berth/logs");
  EXPECT_EQ(Named(task, "app")->log_stream(), "app/" + id);
  EXPECT_EQ(Named(task, "side")->log_group(), "/ecs/sim");
  EXPECT_EQ(Named(task, "side")->log_stream(), "web/side/" + id);
  EXPECT_FALSE(Named(task, "other")->has_log_stream());

  ASSERT_TRUE(WaitFor([&] {
    return StreamMessages(*logs_, "/berth/logs", "app/" + id).size() >= 300 &&
           StreamMessages(*logs_, "/ecs/sim", "web/side/" + id).size() >= 100;
  })) << agent_->Log();
  EXPECT_EQ(LineNumbers(StreamMessages(*logs_, "/berth/logs", "app/" + id), "sim line"), OneTo(300));
  EXPECT_EQ(LineNumbers(StreamMessages(*logs_, "/ecs/sim", "web/side/" + id), "sim line"), OneTo(100));
  // Without awslogs-create-group a missing group is not created: its events are refused.
  v1::DescribeLogGroupsRequest groups;
  groups.set_log_group_name_prefix("/ecs/absent");
  v1::DescribeLogGroupsResponse found;
  ASSERT_TRUE(Call(*logs_, &v1::LogsService::Stub::DescribeLogGroups, groups, &found).ok());
  EXPECT_EQ(found.log_groups_size(), 0);

  // berth logs: one container, the last lines, and every kept container with its name.
  const std::string berth = BuiltBinary("src/cli/berth") + " --endpoint " + Address() + " logs --cluster logs ";
  ShellResult all = RunShell(berth + id + " --container app", dir_.path(), "logs_app");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(LineNumbers(SplitLines(all.out), "sim line"), OneTo(300));
  ShellResult tail = RunShell(berth + id + " --container side --tail 3", dir_.path(), "logs_tail");
  EXPECT_EQ(LineNumbers(SplitLines(tail.out), "sim line"), (std::vector<int>{98, 99, 100}));
  ShellResult both = RunShell(berth + id + " --tail 1", dir_.path(), "logs_all");
  EXPECT_NE(both.out.find("app | sim line 300 "), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("side | sim line 100 "), std::string::npos) << both.out;
  ShellResult json_file = RunShell(berth + id + " --container other", dir_.path(), "logs_other");
  EXPECT_NE(json_file.exit_code, 0);
  EXPECT_NE(json_file.err.find("does not keep its output"), std::string::npos) << json_file.err;
}

// The agent's spool holds the output while berthd is away; once berthd is back, every line
// arrives, in order, once.
TEST_F(LogsSimTest, BerthdDownForAMinuteLosesNothing) {
  const v1::Task task = RunTask("steady",
                                "["
                                R"({"name":"app","image":"busybox","memory":64,)" +
                                    SimEnv(50, 100000) + "}]");
  const std::string id = task.task_arn().substr(task.task_arn().rfind('/') + 1);
  const std::string stream = "app/" + id;
  ASSERT_TRUE(WaitFor([&] { return StreamMessages(*logs_, "/berth/logs", stream).size() >= 50; }));
  berthd_->Kill();
  std::this_thread::sleep_for(std::chrono::seconds(60));
  StartBerthd();
  // 60 s at 50 lines a second were spooled meanwhile.
  size_t stored = 0;
  ASSERT_TRUE(WaitFor([&] {
    stored = StreamMessages(*logs_, "/berth/logs", stream).size();
    return stored >= 3100;
  })) << stored
      << "\n"
      << agent_->Log();
  std::vector<int> numbers = LineNumbers(StreamMessages(*logs_, "/berth/logs", stream), "sim line");
  ASSERT_GE(numbers.size(), 3100u);
  numbers.resize(3100);
  EXPECT_EQ(numbers, OneTo(3100));
}

}  // namespace
}  // namespace berth::testutil
