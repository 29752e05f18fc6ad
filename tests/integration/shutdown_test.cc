// Stopping idle processes: an idle berth-agent (tasks running, its long poll parked in berthd) and
// an idle berthd (an agent's poll parked in it, an HTTP keep-alive connection open) exit on
// SIGTERM and on SIGINT with status 0 and their clean-exit log line, without waiting out a poll,
// an RPC deadline or a keep-alive timeout. The 10 s bound only keeps a broken shutdown from
// hanging the test: a Docker stop or a sim stop waiting out its stopTimeout of 120 s would hold
// the agent that long, and before its fix an idle keep-alive connection held berthd's drain 5 s.
// The measured times are printed (docs/operations.md quotes them).
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

constexpr int kBoundMs = 10'000;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct SignalCase {
  const char* name;
  int signal;
};
void PrintTo(const SignalCase& c, std::ostream* os) { *os << c.name; }

class ShutdownTest : public ::testing::TestWithParam<SignalCase> {
 protected:
  void SetUp() override {
    // Polls park for up to berthd's --max-poll-wait (30 s by default) and the agent's --poll-wait
    // (20 s by default): both left at their defaults, as scripts/run.sh runs them.
    berthd_ = std::make_unique<BerthdProcess>(dir_.path() + "/berthd");
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
    agent_ = std::make_unique<AgentProcess>(
        dir_.path() + "/agent",
        std::vector<std::string>{"--endpoint", berthd_->grpc_address(), "--runtime", "sim", "--stop-timeout", "1"});
    ASSERT_TRUE(agent_->Start()) << agent_->Log();
    // Two idle tasks, as in the scenario of the issue: once they are RUNNING the agent has
    // applied a desired state and parked its next poll.
    v1::RegisterTaskDefinitionResponse registered;
    ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::RegisterTaskDefinition,
                     FromJson<v1::RegisterTaskDefinitionRequest>(
                         R"({"family":"idle","containerDefinitions":[{"name":"app","image":"busybox","memory":16}]})"),
                     &registered)
                    .ok());
    v1::RunTaskResponse ran;
    ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::RunTask,
                     FromJson<v1::RunTaskRequest>(R"({"taskDefinition":"idle","count":2})"), &ran)
                    .ok());
    ASSERT_EQ(ran.tasks_size(), 2);
    ASSERT_TRUE(WaitFor(
        [&] {
          v1::DescribeTasksRequest req;
          for (const auto& t : ran.tasks()) req.add_tasks(t.task_arn());
          v1::DescribeTasksResponse resp;
          if (!Call(*stub_, &v1::ContainerService::Stub::DescribeTasks, req, &resp).ok()) return false;
          int running = 0;
          for (const auto& t : resp.tasks()) running += t.last_status() == "RUNNING";
          return running == 2;
        },
        30000, 20));
  }

  // Signals the process and waits for it; the time it took is printed.
  template <typename Process>
  int StopAndTime(Process& process, const char* what, int signal) {
    const auto start = std::chrono::steady_clock::now();
    const int status = process.Signal(signal, kBoundMs);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s exited %lld ms after %s\n", what, static_cast<long long>(ms), strsignal(signal));
    RecordProperty(std::string(what) + "_exit_ms", static_cast<int>(ms));
    return status;
  }

  std::string LastStatus(const std::string& arn) {
    v1::DescribeTasksRequest req;
    req.add_tasks(arn);
    v1::DescribeTasksResponse resp;
    if (!Call(*stub_, &v1::ContainerService::Stub::DescribeTasks, req, &resp).ok() || resp.tasks_size() != 1) return "";
    return resp.tasks(0).last_status();
  }

  TempDir dir_;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_P(ShutdownTest, AnIdleAgentExitsCleanly) {
  const int status = StopAndTime(*agent_, "berth-agent", GetParam().signal);
  ASSERT_NE(status, -1) << "berth-agent did not exit within 10 s:\n" << agent_->Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << agent_->Log();
  EXPECT_NE(agent_->Log().find("stopped cleanly in"), std::string::npos) << agent_->Log();
}

TEST_P(ShutdownTest, AnIdleBerthdExitsCleanlyWithAPollParkedAndAKeepAliveConnectionOpen) {
  // A client that keeps its HTTP connection open after an answer (curl reuses it).
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  const std::string url = "http://" + berthd_->http_address() + "/healthz";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);

  const int status = StopAndTime(*berthd_, "berthd", GetParam().signal);
  curl_easy_cleanup(curl);
  ASSERT_NE(status, -1) << "berthd did not exit within 10 s:\n" << berthd_->Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << berthd_->Log();
  EXPECT_NE(berthd_->Log().find("stopped cleanly at revision"), std::string::npos) << berthd_->Log();
  // Where the time went (berthd logs each step of its drain).
  std::istringstream log(berthd_->Log());
  for (std::string line; std::getline(log, line);) {
    if (line.find(" in ") != std::string::npos && line.find(" ms") != std::string::npos)
      std::printf("  %s\n", line.c_str());
  }
  // The agent, its berthd gone, still stops at once: its poll waits for the connection, and the
  // stop cancels that wait.
  const int agent_status = StopAndTime(*agent_, "berth-agent without berthd", GetParam().signal);
  ASSERT_NE(agent_status, -1) << "berth-agent did not exit within 10 s:\n" << agent_->Log();
  EXPECT_TRUE(WIFEXITED(agent_status) && WEXITSTATUS(agent_status) == 0) << agent_->Log();
}

// An agent stopping a task whose container ignores SIGTERM (the stop waits out a stopTimeout of
// 120 s) exits at once, leaving the task STOPPING; restarted, it finishes the stop.
TEST_P(ShutdownTest, AnAgentInTheMiddleOfASlowStopExitsCleanlyAndFinishesTheStopAfterARestart) {
  v1::RegisterTaskDefinitionResponse registered;
  ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::RegisterTaskDefinition,
                   FromJson<v1::RegisterTaskDefinitionRequest>(
                       R"({"family":"stubborn","containerDefinitions":[{"name":"app","image":"busybox","memory":16,
                           "stopTimeout":120,"environment":[{"name":"BERTH_SIM_IGNORE_SIGTERM","value":"1"}]}]})"),
                   &registered)
                  .ok());
  v1::RunTaskResponse ran;
  ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::RunTask,
                   FromJson<v1::RunTaskRequest>(R"({"taskDefinition":"stubborn"})"), &ran)
                  .ok());
  ASSERT_EQ(ran.tasks_size(), 1);
  const std::string arn = ran.tasks(0).task_arn();
  ASSERT_TRUE(WaitFor([&] { return LastStatus(arn) == "RUNNING"; }, 30000, 20));
  v1::StopTaskRequest stop;
  stop.set_task(arn);
  v1::StopTaskResponse stopped;
  ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::StopTask, stop, &stopped).ok());
  ASSERT_TRUE(WaitFor([&] { return LastStatus(arn) == "STOPPING"; }, 30000, 20)) << LastStatus(arn);

  const int status = StopAndTime(*agent_, "berth-agent (stopping a task)", GetParam().signal);
  ASSERT_NE(status, -1) << "berth-agent waited for the stop:\n" << agent_->Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << agent_->Log();
  EXPECT_EQ(LastStatus(arn), "STOPPING");

  ASSERT_TRUE(agent_->Start()) << agent_->Log();
  EXPECT_TRUE(WaitFor([&] { return LastStatus(arn) == "STOPPED"; }, 30000, 20)) << LastStatus(arn);
}

// An agent that cannot reach berthd at start keeps retrying its registration; a signal stops it.
TEST_P(ShutdownTest, AnAgentStillRegisteringExitsCleanly) {
  ASSERT_EQ(berthd_->Terminate(), 0) << berthd_->Log();
  const std::string ready = dir_.path() + "/late.ready";
  pid_t pid = SpawnWithLog({BuiltBinary("src/agent/berth-agent"), "--endpoint", berthd_->grpc_address(), "--runtime",
                            "sim", "--data-dir", dir_.path() + "/late", "--ready-file", ready},
                           dir_.path() + "/late.log");
  ASSERT_GT(pid, 0);
  // Wait until it tried and failed once, so it is in its retry loop.
  ASSERT_TRUE(WaitFor(
      [&] { return ReadFile(dir_.path() + "/late.log").find("registration failed") != std::string::npos; }, 30000, 20))
      << ReadFile(dir_.path() + "/late.log");
  const auto start = std::chrono::steady_clock::now();
  const int status = SignalAndReap(&pid, GetParam().signal, std::chrono::milliseconds(kBoundMs));
  std::printf(
      "berth-agent (registering) exited %lld ms after %s\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()),
      strsignal(GetParam().signal));
  ASSERT_NE(status, -1) << ReadFile(dir_.path() + "/late.log");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_.path() + "/late.log");
  EXPECT_NE(ReadFile(dir_.path() + "/late.log").find("stopped cleanly while starting"), std::string::npos)
      << ReadFile(dir_.path() + "/late.log");
}

INSTANTIATE_TEST_SUITE_P(Signals, ShutdownTest,
                         ::testing::Values(SignalCase{"SIGTERM", SIGTERM}, SignalCase{"SIGINT", SIGINT}),
                         [](const ::testing::TestParamInfo<SignalCase>& info) { return info.param.name; });

}  // namespace
}  // namespace berth::testutil
