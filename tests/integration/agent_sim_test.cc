// The real berthd with real berth-agent processes on the sim runtime: the whole task lifecycle
// over the agent protocol, agent and berthd crashes, disconnects and forced deregistration.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include <set>

#include "src/controlplane/providers/instance_provider.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

class AgentSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.path() + "/berthd", std::vector<std::string>{"--grpc-listen", "127.0.0.1:" + std::to_string(port_),
                                                          "--agent-disconnect-after", "2", "--max-poll-wait", "2"});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
  }

  std::unique_ptr<AgentProcess> StartAgent(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = {"--endpoint",
                                      "127.0.0.1:" + std::to_string(port_),
                                      "--runtime",
                                      "sim",
                                      "--cpu",
                                      "2048",
                                      "--memory",
                                      "2048",
                                      "--availability-zone",
                                      "az-1",
                                      "--poll-wait",
                                      "1",
                                      "--stop-timeout",
                                      "1",
                                      "--attribute",
                                      "team=blue"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    auto agent = std::make_unique<AgentProcess>(dir_.path() + "/" + name, flags);
    EXPECT_TRUE(agent->Start()) << agent->Log();
    return agent;
  }

  void Register(const std::string& json) {
    v1::RegisterTaskDefinitionResponse resp;
    grpc::Status s = Call(*stub_, &v1::ContainerService::Stub::RegisterTaskDefinition,
                          FromJson<v1::RegisterTaskDefinitionRequest>(json), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  std::string Run(const std::string& family) {
    v1::RunTaskResponse resp;
    grpc::Status s = Call(*stub_, &v1::ContainerService::Stub::RunTask,
                          FromJson<v1::RunTaskRequest>(R"({"taskDefinition":")" + family + R"("})"), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.tasks_size(), 1) << resp.DebugString();
    return resp.tasks_size() == 1 ? resp.tasks(0).task_arn() : "";
  }

  v1::Task Describe(const std::string& arn) {
    v1::DescribeTasksRequest req;
    req.add_tasks(arn);
    v1::DescribeTasksResponse resp;
    grpc::Status s = Call(*stub_, &v1::ContainerService::Stub::DescribeTasks, req, &resp);
    return s.ok() && resp.tasks_size() == 1 ? resp.tasks(0) : v1::Task();
  }

  v1::ContainerInstance Instance(const std::string& id) {
    v1::DescribeContainerInstancesRequest req;
    req.add_container_instances(id);
    v1::DescribeContainerInstancesResponse resp;
    grpc::Status s = Call(*stub_, &v1::ContainerService::Stub::DescribeContainerInstances, req, &resp);
    return s.ok() && resp.container_instances_size() == 1 ? resp.container_instances(0) : v1::ContainerInstance();
  }

  bool WaitStatus(const std::string& arn, const std::string& status, int timeout_ms = 20000) {
    return WaitFor([&] { return Describe(arn).last_status() == status; }, timeout_ms);
  }

  static int Remaining(const v1::ContainerInstance& ci, const std::string& name) {
    for (const auto& r : ci.remaining_resources()) {
      if (r.name() == name) return r.integer_value();
    }
    return -1;
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
};

TEST_F(AgentSimTest, TaskRunsThroughDependsOnAndStopsOnStopTask) {
  auto agent = StartAgent("a1");
  v1::ContainerInstance ci = Instance(agent->instance_id());
  EXPECT_TRUE(ci.agent_connected());
  EXPECT_EQ(Remaining(ci, "CPU"), 2048);
  std::map<std::string, std::string> attrs;
  for (const auto& a : ci.attributes()) attrs[a.name()] = a.value();
  EXPECT_EQ(attrs["ecs.os-type"], "linux");
  EXPECT_EQ(attrs["ecs.availability-zone"], "az-1");
  EXPECT_EQ(attrs["team"], "blue");
  EXPECT_TRUE(attrs.contains("ecs.cpu-architecture"));

  Register(R"({"family":"web","containerDefinitions":[
    {"name":"init","image":"busybox","cpu":128,"memory":32,"essential":false,
     "environment":[{"name":"BERTH_SIM_EXIT_AFTER","value":"0.3"}]},
    {"name":"app","image":"busybox","cpu":256,"memory":64,"portMappings":[{"containerPort":80}],
     "dependsOn":[{"containerName":"init","condition":"SUCCESS"}]}]})");
  std::string arn = Run("web");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING")) << Describe(arn).DebugString() << agent->Log();
  v1::Task t = Describe(arn);
  EXPECT_GT(t.started_at(), 0);
  EXPECT_GT(t.pull_started_at(), 0);
  EXPECT_GT(t.pull_stopped_at(), 0);
  ASSERT_EQ(t.containers_size(), 2);
  EXPECT_EQ(t.containers(0).last_status(), "STOPPED");  // init ran to completion first
  EXPECT_EQ(t.containers(0).exit_code(), 0);
  EXPECT_EQ(t.containers(1).last_status(), "RUNNING");
  ASSERT_EQ(t.containers(1).network_bindings_size(), 1);
  EXPECT_GE(t.containers(1).network_bindings(0).host_port(), 49153);
  EXPECT_EQ(t.containers(1).network_bindings(0).container_port(), 80);
  EXPECT_EQ(Instance(agent->instance_id()).running_tasks_count(), 1);
  EXPECT_EQ(Remaining(Instance(agent->instance_id()), "CPU"), 2048 - 384);

  v1::StopTaskResponse stop;
  ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::StopTask,
                   FromJson<v1::StopTaskRequest>(R"({"task":")" + arn + R"(","reason":"enough"})"), &stop)
                  .ok());
  ASSERT_TRUE(WaitStatus(arn, "STOPPED")) << Describe(arn).DebugString();
  t = Describe(arn);
  EXPECT_EQ(t.stop_code(), "UserInitiated");
  EXPECT_EQ(t.stopped_reason(), "enough");
  EXPECT_EQ(t.containers(1).exit_code(), 143);
  EXPECT_EQ(Remaining(Instance(agent->instance_id()), "CPU"), 2048);
}

TEST_F(AgentSimTest, EssentialExitAndPullFailureStopTheTask) {
  auto agent = StartAgent("a1");
  Register(R"({"family":"exit3","containerDefinitions":[{"name":"app","image":"busybox","memory":32,
     "environment":[{"name":"BERTH_SIM_EXIT_AFTER","value":"0.5"},{"name":"BERTH_SIM_EXIT_CODE","value":"3"}]},
     {"name":"side","image":"busybox","memory":32,"essential":false}]})");
  Register(R"({"family":"nopull","containerDefinitions":[{"name":"app","image":"nowhere/none:1","memory":32,
     "environment":[{"name":"BERTH_SIM_PULL_ERROR","value":"manifest unknown"}]}]})");
  std::string exited = Run("exit3");
  std::string failed = Run("nopull");
  ASSERT_TRUE(WaitStatus(exited, "STOPPED")) << Describe(exited).DebugString() << agent->Log();
  v1::Task t = Describe(exited);
  EXPECT_EQ(t.stop_code(), "EssentialContainerExited");
  EXPECT_EQ(t.containers(0).exit_code(), 3);
  EXPECT_EQ(t.containers(1).last_status(), "STOPPED");
  ASSERT_TRUE(WaitStatus(failed, "STOPPED")) << Describe(failed).DebugString();
  t = Describe(failed);
  EXPECT_EQ(t.stop_code(), "TaskFailedToStart");
  EXPECT_NE(t.stopped_reason().find("CannotPullContainerError"), std::string::npos) << t.stopped_reason();
  EXPECT_NE(t.stopped_reason().find("manifest unknown"), std::string::npos) << t.stopped_reason();
}

TEST_F(AgentSimTest, SilentAgentIsDisconnectedAndRejoinsAsTheSameInstance) {
  auto agent = StartAgent("a1");
  const std::string id = agent->instance_id();
  Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","memory":32}]})");
  std::string arn = Run("web");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING"));
  agent->Kill();
  ASSERT_TRUE(WaitFor([&] { return !Instance(id).agent_connected(); }, 10000));
  // Its tasks keep running as far as berthd knows, and nothing new goes there.
  EXPECT_EQ(Describe(arn).last_status(), "RUNNING");
  v1::RunTaskResponse run;
  ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::RunTask,
                   FromJson<v1::RunTaskRequest>(R"({"taskDefinition":"web"})"), &run)
                  .ok());
  ASSERT_EQ(run.failures_size(), 1);
  EXPECT_EQ(run.failures(0).reason(), "AGENT");

  ASSERT_TRUE(agent->Start()) << agent->Log();
  EXPECT_EQ(agent->instance_id(), id);
  ASSERT_TRUE(WaitFor([&] { return Instance(id).agent_connected(); }, 10000));
  v1::ListContainerInstancesResponse list;
  ASSERT_TRUE(
      Call(*stub_, &v1::ContainerService::Stub::ListContainerInstances, v1::ListContainerInstancesRequest(), &list)
          .ok());
  EXPECT_EQ(list.container_instance_arns_size(), 1);
  // The sim runtime's containers died with the process: the restarted agent finds the task's
  // container gone and reports the essential container's exit.
  ASSERT_TRUE(WaitStatus(arn, "STOPPED")) << Describe(arn).DebugString() << agent->Log();
  EXPECT_EQ(Describe(arn).stop_code(), "EssentialContainerExited");
}

TEST_F(AgentSimTest, AgentsConvergeAfterBerthdRestarts) {
  auto agent = StartAgent("a1");
  Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","memory":32}]})");
  std::string first = Run("web");
  ASSERT_TRUE(WaitStatus(first, "RUNNING"));
  berthd_->Kill();
  ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
  stub_ = berthd_->NewStub();
  EXPECT_EQ(Describe(first).last_status(), "RUNNING");
  // A stop and a new task after the restart both reach the agent.
  v1::StopTaskResponse stop;
  ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::StopTask,
                   FromJson<v1::StopTaskRequest>(R"({"task":")" + first + R"("})"), &stop)
                  .ok());
  std::string second = Run("web");
  ASSERT_TRUE(WaitStatus(first, "STOPPED", 30000)) << Describe(first).DebugString() << agent->Log();
  ASSERT_TRUE(WaitStatus(second, "RUNNING", 30000)) << Describe(second).DebugString() << agent->Log();
  EXPECT_TRUE(Instance(agent->instance_id()).agent_connected());
}

TEST_F(AgentSimTest, ForcedDeregistrationStopsTasksAndTheAgentExits) {
  auto agent = StartAgent("a1");
  Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","memory":32}]})");
  std::string arn = Run("web");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING"));
  v1::DeregisterContainerInstanceResponse resp;
  grpc::Status s = Call(
      *stub_, &v1::ContainerService::Stub::DeregisterContainerInstance,
      FromJson<v1::DeregisterContainerInstanceRequest>(R"({"containerInstance":")" + agent->instance_id() + R"("})"),
      &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::DeregisterContainerInstance,
                   FromJson<v1::DeregisterContainerInstanceRequest>(R"({"containerInstance":")" + agent->instance_id() +
                                                                    R"(","force":true})"),
                   &resp)
                  .ok());
  EXPECT_EQ(Describe(arn).last_status(), "STOPPED");
  EXPECT_EQ(agent->WaitExit(20000), 0) << agent->Log();
  EXPECT_NE(agent->Log().find("deregistered"), std::string::npos);
}

// The local instance provider starts real berth-agent processes that register as instances
// carrying their provider host id, and stops them again.
TEST_F(AgentSimTest, TheLocalInstanceProviderStartsAndStopsRealAgents) {
  auto provider = controlplane::providers::NewLocalProvider(
      {.agent_binary = BuiltBinary("src/agent/berth-agent"),
       .agent_flags = {"--endpoint", "127.0.0.1:" + std::to_string(port_), "--runtime", "sim", "--cpu", "1024",
                       "--memory", "1024", "--poll-wait", "1"},
       .availability_zones = {"az-1", "az-2"},
       .work_dir = dir_.path() + "/hosts",
       .stop_timeout_ms = 10000});
  ASSERT_TRUE(provider.ok()) << provider.status();
  auto ids = (*provider)->Launch(2);
  ASSERT_TRUE(ids.ok()) << ids.status();
  auto instances = [&] {
    v1::ListContainerInstancesResponse list;
    EXPECT_TRUE(Call(*stub_, &v1::ContainerService::Stub::ListContainerInstances,
                     FromJson<v1::ListContainerInstancesRequest>(R"({"filter":"agentConnected == true"})"), &list)
                    .ok());
    v1::DescribeContainerInstancesRequest describe;
    for (const auto& arn : list.container_instance_arns()) describe.add_container_instances(arn);
    v1::DescribeContainerInstancesResponse described;
    if (describe.container_instances_size() > 0) {
      EXPECT_TRUE(Call(*stub_, &v1::ContainerService::Stub::DescribeContainerInstances, describe, &described).ok());
    }
    std::set<std::string> hosts;
    for (const auto& ci : described.container_instances()) {
      for (const auto& a : ci.attributes()) {
        if (a.name() == controlplane::providers::kProviderHostIdAttribute) hosts.insert(a.value());
      }
    }
    return hosts;
  };
  ASSERT_TRUE(WaitFor([&] { return instances() == std::set<std::string>(ids->begin(), ids->end()); }, 30000));
  ASSERT_TRUE((*provider)->Terminate({(*ids)[0]}).ok());
  EXPECT_TRUE(WaitFor([&] { return instances() == std::set<std::string>{(*ids)[1]}; }, 30000));
}

}  // namespace
}  // namespace berth::testutil
