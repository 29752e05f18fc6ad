// EXTERNAL hosts (ECS Anywhere) with the real berthd and a real berth-agent: a host joins with a
// join token, runs only EXTERNAL tasks, and keeps them through a 60-second network partition from
// berthd (a TCP relay the test cuts), after which both sides reconcile what changed meanwhile.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/tcp_proxy.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

class ExternalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.path() + "/berthd", std::vector<std::string>{"--grpc-listen", "127.0.0.1:" + std::to_string(port_),
                                                          "--agent-disconnect-after", "3", "--max-poll-wait", "2"});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
  }

  template <typename Request, typename Response>
  Response Must(grpc::Status (v1::ContainerService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const std::string& json) {
    return MustCall(*stub_, method, json);
  }

  v1::Task Describe(const std::string& arn) {
    v1::DescribeTasksResponse resp;
    Call(*stub_, &v1::ContainerService::Stub::DescribeTasks,
         FromJson<v1::DescribeTasksRequest>(R"({"tasks":[")" + arn + R"("]})"), &resp);
    return resp.tasks_size() == 1 ? resp.tasks(0) : v1::Task();
  }

  v1::ContainerInstance Instance(const std::string& id) {
    v1::DescribeContainerInstancesResponse resp;
    Call(*stub_, &v1::ContainerService::Stub::DescribeContainerInstances,
         FromJson<v1::DescribeContainerInstancesRequest>(R"({"containerInstances":[")" + id + R"("]})"), &resp);
    return resp.container_instances_size() == 1 ? resp.container_instances(0) : v1::ContainerInstance();
  }

  std::string RunExternal(const std::string& family) {
    v1::RunTaskResponse r =
        Must(&v1::ContainerService::Stub::RunTask, R"({"taskDefinition":")" + family + R"(","launchType":"EXTERNAL"})");
    EXPECT_EQ(r.tasks_size(), 1) << r.DebugString();
    return r.tasks_size() == 1 ? r.tasks(0).task_arn() : "";
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
};

TEST_F(ExternalTest, AnExternalHostKeepsItsTasksThroughAMinuteApartAndReconciles) {
  TcpProxy link(port_);
  v1::CreateJoinTokenResponse token =
      Must(&v1::ContainerService::Stub::CreateJoinToken, R"({"description":"edge site 1"})");
  const std::string token_file = dir_.path() + "/activation";
  std::ofstream(token_file) << token.token() << "\n";
  AgentProcess agent(dir_.path() + "/edge", {"--endpoint", "127.0.0.1:" + std::to_string(link.port()), "--external",
                                             "--join-token-file", token_file, "--runtime", "sim", "--cpu", "2048",
                                             "--memory", "2048", "--poll-wait", "1", "--stop-timeout", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log();
  v1::ContainerInstance ci = Instance(agent.instance_id());
  EXPECT_EQ(ci.ec2_instance_id().substr(0, 3), "mi-") << ci.DebugString();
  bool external = false;
  for (const auto& a : ci.attributes()) external |= a.name() == "ecs.capability.external";
  EXPECT_TRUE(external);

  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"edge","requiresCompatibilities":["EXTERNAL"],
           "containerDefinitions":[{"name":"app","image":"busybox","cpu":128,"memory":64}]})");
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"batch","containerDefinitions":[{"name":"job","image":"busybox","cpu":128,"memory":64,
           "environment":[{"name":"BERTH_SIM_EXIT_AFTER","value":"20"}]}]})");
  // Only EXTERNAL tasks go to an external host.
  v1::RunTaskResponse ec2 =
      Must(&v1::ContainerService::Stub::RunTask, R"({"taskDefinition":"batch","launchType":"EC2"})");
  EXPECT_EQ(ec2.tasks_size(), 0);
  ASSERT_EQ(ec2.failures_size(), 1);

  const std::string stop_me = RunExternal("edge");
  const std::string finishes = RunExternal("batch");  // exits by itself 20 s after it starts
  Must(&v1::ContainerService::Stub::CreateService,
       R"({"serviceName":"edge-svc","taskDefinition":"edge","desiredCount":1,"launchType":"EXTERNAL"})");
  std::string service_task;
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::ListTasksResponse list = Must(&v1::ContainerService::Stub::ListTasks, R"({"serviceName":"edge-svc"})");
        if (list.task_arns_size() != 1) return false;
        service_task = list.task_arns(0);
        return Describe(stop_me).last_status() == "RUNNING" && Describe(finishes).last_status() == "RUNNING" &&
               Describe(service_task).last_status() == "RUNNING";
      },
      30000));

  // The partition: berthd marks the host disconnected; its tasks stay RUNNING, the service does not
  // replace its task, and a StopTask waits for the host.
  const auto cut_at = std::chrono::steady_clock::now();
  link.Cut();
  ASSERT_TRUE(WaitFor([&] { return !Instance(agent.instance_id()).agent_connected(); }, 20000));
  Must(&v1::ContainerService::Stub::StopTask, R"({"task":")" + stop_me + R"(","reason":"while apart"})");
  std::this_thread::sleep_until(cut_at + std::chrono::seconds(60));
  EXPECT_EQ(Describe(stop_me).last_status(), "RUNNING");
  EXPECT_EQ(Describe(stop_me).desired_status(), "STOPPED");
  EXPECT_EQ(Describe(finishes).last_status(), "RUNNING") << "berthd cannot know yet";
  EXPECT_EQ(Describe(service_task).last_status(), "RUNNING");
  v1::ListTasksResponse during = Must(&v1::ContainerService::Stub::ListTasks, R"({"serviceName":"edge-svc"})");
  EXPECT_EQ(during.task_arns_size(), 1) << "no replacement while the host is only out of reach";

  // Reconnected: the agent stops the task berthd stopped, reports the one that exited meanwhile,
  // and keeps the service's task.
  link.Heal();
  ASSERT_TRUE(WaitFor([&] { return Instance(agent.instance_id()).agent_connected(); }, 30000)) << agent.Log();
  ASSERT_TRUE(WaitFor([&] { return Describe(stop_me).last_status() == "STOPPED"; }, 30000));
  ASSERT_TRUE(WaitFor([&] { return Describe(finishes).last_status() == "STOPPED"; }, 30000));
  EXPECT_EQ(Describe(finishes).containers(0).exit_code(), 0);
  EXPECT_EQ(Describe(service_task).last_status(), "RUNNING");
  v1::ListTasksResponse after = Must(&v1::ContainerService::Stub::ListTasks, R"({"serviceName":"edge-svc"})");
  EXPECT_EQ(after.task_arns_size(), 1);
}

}  // namespace
}  // namespace berth::testutil
