// Services end to end: the real berthd with real berth-agent processes on the sim runtime. A
// replica service survives the loss of an agent (disconnect policy) and of tasks; a rolling update
// keeps within its bounds throughout; a failing deployment trips the circuit breaker and rolls
// back; a daemon service covers instances that join later; draining moves tasks.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

using Stub = v1::ContainerService::Stub;

class ServiceSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.path() + "/berthd",
        std::vector<std::string>{"--grpc-listen", "127.0.0.1:" + std::to_string(port_), "--agent-disconnect-after", "2",
                                 "--max-poll-wait", "2", "--service-backoff-base", "0.05", "--service-resync-interval",
                                 "1"});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
  }

  std::unique_ptr<AgentProcess> StartAgent(const std::string& name, const std::string& az = "az-1") {
    std::vector<std::string> flags = {"--endpoint",
                                      "127.0.0.1:" + std::to_string(port_),
                                      "--runtime",
                                      "sim",
                                      "--cpu",
                                      "2048",
                                      "--memory",
                                      "4096",
                                      "--availability-zone",
                                      az,
                                      "--poll-wait",
                                      "1",
                                      "--stop-timeout",
                                      "1"};
    auto agent = std::make_unique<AgentProcess>(dir_.path() + "/" + name, flags);
    EXPECT_TRUE(agent->Start()) << agent->Log();
    return agent;
  }

  void Register(const std::string& json) {
    v1::RegisterTaskDefinitionResponse resp;
    grpc::Status s =
        Call(*stub_, &Stub::RegisterTaskDefinition, FromJson<v1::RegisterTaskDefinitionRequest>(json), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void CreateService(const std::string& json) {
    v1::CreateServiceResponse resp;
    grpc::Status s = Call(*stub_, &Stub::CreateService, FromJson<v1::CreateServiceRequest>(json), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void UpdateService(const std::string& json) {
    v1::UpdateServiceResponse resp;
    grpc::Status s = Call(*stub_, &Stub::UpdateService, FromJson<v1::UpdateServiceRequest>(json), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::Service Service(const std::string& name = "svc") {
    v1::DescribeServicesRequest req;
    req.add_services(name);
    v1::DescribeServicesResponse resp;
    grpc::Status s = Call(*stub_, &Stub::DescribeServices, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.services_size() == 1 ? resp.services(0) : v1::Service();
  }

  // Every task of the service with the given desired status.
  std::vector<v1::Task> Tasks(const std::string& desired = "RUNNING", const std::string& name = "svc") {
    v1::ListTasksRequest list;
    list.set_service_name(name);
    list.set_desired_status(desired);
    v1::ListTasksResponse arns;
    std::vector<v1::Task> out;
    if (!Call(*stub_, &Stub::ListTasks, list, &arns).ok()) return out;
    for (int i = 0; i < arns.task_arns_size(); i += 100) {
      v1::DescribeTasksRequest req;
      for (int j = i; j < arns.task_arns_size() && j < i + 100; ++j) req.add_tasks(arns.task_arns(j));
      v1::DescribeTasksResponse resp;
      if (!Call(*stub_, &Stub::DescribeTasks, req, &resp).ok()) return out;
      for (auto& t : *resp.mutable_tasks()) out.push_back(std::move(t));
    }
    return out;
  }

  int RunningCount(const std::string& name = "svc") {
    int n = 0;
    for (const auto& t : Tasks("RUNNING", name)) n += t.last_status() == "RUNNING";
    return n;
  }

  std::vector<std::string> InstanceArns() {
    v1::ListContainerInstancesResponse resp;
    EXPECT_TRUE(Call(*stub_, &Stub::ListContainerInstances, v1::ListContainerInstancesRequest(), &resp).ok());
    return {resp.container_instance_arns().begin(), resp.container_instance_arns().end()};
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<Stub> stub_;
};

TEST_F(ServiceSimTest, ReplicaServiceSurvivesTheLossOfAnAgentAndOfTasks) {
  std::vector<std::unique_ptr<AgentProcess>> agents;
  for (int i = 0; i < 4; ++i) agents.push_back(StartAgent("agent" + std::to_string(i), i % 2 ? "az-2" : "az-1"));
  ASSERT_TRUE(WaitFor([&] { return InstanceArns().size() == 4; }));
  Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","cpu":128,"memory":128}]})");
  CreateService(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":20,"lostAfterSeconds":2})");
  ASSERT_TRUE(WaitFor([&] { return RunningCount() == 20; })) << Service().DebugString();

  // Lose an agent: after the disconnect timeout and lostAfterSeconds its tasks are replaced.
  auto tasks = Tasks();
  std::map<std::string, int> per_instance;
  for (const auto& t : tasks) ++per_instance[t.container_instance_arn()];
  EXPECT_EQ(per_instance.size(), 4u);
  agents[0]->Kill();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto now = Tasks();
        std::set<std::string> connected_hosts;
        v1::DescribeContainerInstancesRequest req;
        for (const auto& arn : InstanceArns()) req.add_container_instances(arn);
        v1::DescribeContainerInstancesResponse resp;
        if (!Call(*stub_, &Stub::DescribeContainerInstances, req, &resp).ok()) return false;
        for (const auto& ci : resp.container_instances()) {
          if (ci.agent_connected()) connected_hosts.insert(ci.container_instance_arn());
        }
        int running_on_live = 0;
        for (const auto& t : now) {
          running_on_live += t.last_status() == "RUNNING" && connected_hosts.count(t.container_instance_arn());
        }
        return connected_hosts.size() == 3 && running_on_live == 20;
      },
      40000))
      << Service().DebugString();
  bool lost_event = false;
  const v1::Service after_loss = Service();
  for (const auto& e : after_loss.events()) lost_event |= e.message().find("lost") != std::string::npos;
  EXPECT_TRUE(lost_event) << Service().DebugString();

  // Lose tasks: they are replaced.
  auto running = Tasks();
  for (int i = 0; i < 3; ++i) {
    v1::StopTaskRequest stop;
    stop.set_task(running[i].task_arn());
    v1::StopTaskResponse resp;
    ASSERT_TRUE(Call(*stub_, &Stub::StopTask, stop, &resp).ok());
  }
  ASSERT_TRUE(WaitFor([&] {
    auto now = Tasks();
    int live = 0;
    for (const auto& t : now) {
      bool replaced = t.task_arn() != running[0].task_arn() && t.task_arn() != running[1].task_arn() &&
                      t.task_arn() != running[2].task_arn();
      live += replaced && t.last_status() == "RUNNING";
    }
    return live >= 20;
  })) << Service().DebugString();
  // The lost agent comes back: its tasks were lost with the process (sim containers live in the
  // agent), and the service stays at its desired count.
  agents[0] = StartAgent("agent0", "az-1");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_TRUE(WaitFor([&] { return Service().running_count() == 20 && Service().pending_count() == 0; }))
      << Service().DebugString();
}

TEST_F(ServiceSimTest, RollingUpdateStaysWithinMinimumHealthyAndMaximumPercent) {
  std::vector<std::unique_ptr<AgentProcess>> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(StartAgent("agent" + std::to_string(i)));
  ASSERT_TRUE(WaitFor([&] { return InstanceArns().size() == 3; }));
  for (int i = 0; i < 2; ++i) {
    Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","cpu":64,"memory":64,
                 "environment":[{"name":"BERTH_SIM_START_DELAY","value":"0.3"}]}]})");
  }
  constexpr int kDesired = 20;
  constexpr int kMinHealthy = 10;  // ceil(20 * 50%)
  constexpr int kMaxTotal = 30;    // floor(20 * 150%)
  CreateService(R"({"serviceName":"svc","taskDefinition":"web:1","desiredCount":20,
                    "deploymentConfiguration":{"minimumHealthyPercent":50,"maximumPercent":150}})");
  ASSERT_TRUE(WaitFor([&] {
    v1::Service s = Service();
    return s.deployments_size() == 1 && s.deployments(0).rollout_state() == "COMPLETED";
  })) << Service().DebugString();

  UpdateService(R"({"service":"svc","taskDefinition":"web:2"})");
  // Live samples: DescribeServices is one consistent snapshot. Its runningCount (tasks desired and
  // last RUNNING: the scheduler's healthy tasks here, with no health checks) must never fall below
  // the minimum; running + pending (not counting stopping tasks) never above the maximum.
  int samples = 0;
  int min_running_seen = kDesired;
  const bool completed = WaitFor(
      [&] {
        v1::Service s = Service();
        ++samples;
        min_running_seen = std::min(min_running_seen, s.running_count());
        EXPECT_GE(s.running_count(), kMinHealthy) << "sample " << samples;
        EXPECT_LE(s.running_count() + s.pending_count(), kMaxTotal) << "sample " << samples;
        return s.deployments_size() == 1 && s.deployments(0).task_definition().ends_with("web:2") &&
               s.deployments(0).rollout_state() == "COMPLETED";
      },
      60000);
  ASSERT_TRUE(completed) << Service().DebugString();
  EXPECT_GT(samples, 5);
  for (const auto& t : Tasks()) EXPECT_TRUE(t.task_definition_arn().ends_with("web:2"));

  // The whole timeline, from every task's timestamps: at each moment a task was created, the tasks
  // not yet STOPPED (stopping ones included: they still run) are within the maximum; at each
  // moment a task was told to stop, the RUNNING tasks not told to stop are within the minimum.
  std::vector<v1::Task> all = Tasks("RUNNING");
  for (auto& t : Tasks("STOPPED")) all.push_back(std::move(t));
  const double update_at = Service().deployments(0).created_at();
  auto alive = [](const v1::Task& t, double at) {
    return t.created_at() <= at && (!t.has_stopped_at() || t.stopped_at() > at);
  };
  auto healthy = [](const v1::Task& t, double at) {
    return t.has_started_at() && t.started_at() <= at && (!t.has_stopping_at() || t.stopping_at() > at) &&
           (!t.has_stopped_at() || t.stopped_at() > at);
  };
  int max_total_seen = 0;
  int min_healthy_seen = kDesired;
  for (const auto& moment : all) {
    if (moment.created_at() >= update_at) {
      int total = 0;
      for (const auto& t : all) total += alive(t, moment.created_at());
      max_total_seen = std::max(max_total_seen, total);
      EXPECT_LE(total, kMaxTotal) << "when task " << moment.task_arn() << " was created";
    }
    if (moment.has_stopping_at() && moment.stopping_at() >= update_at) {
      int up = 0;
      for (const auto& t : all) up += healthy(t, moment.stopping_at());
      min_healthy_seen = std::min(min_healthy_seen, up);
      EXPECT_GE(up, kMinHealthy) << "when task " << moment.task_arn() << " was told to stop";
    }
  }
  EXPECT_EQ(all.size(), 40u) << "20 tasks of each revision";
  RecordProperty("min_running_sampled", min_running_seen);
  RecordProperty("min_healthy_timeline", min_healthy_seen);
  RecordProperty("max_total_timeline", max_total_seen);
}

TEST_F(ServiceSimTest, FailingDeploymentTripsTheCircuitBreakerAndRollsBack) {
  auto agent = StartAgent("agent0");
  ASSERT_TRUE(WaitFor([&] { return InstanceArns().size() == 1; }));
  Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","cpu":64,"memory":64}]})");
  Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","cpu":64,"memory":64,
               "environment":[{"name":"BERTH_SIM_EXIT_AFTER","value":"0"},{"name":"BERTH_SIM_EXIT_CODE","value":"1"}]}]})");
  CreateService(R"({"serviceName":"svc","taskDefinition":"web:1","desiredCount":3,
                    "deploymentConfiguration":{"deploymentCircuitBreaker":{"enable":true,"rollback":true}}})");
  ASSERT_TRUE(WaitFor([&] {
    v1::Service s = Service();
    return s.deployments_size() == 1 && s.deployments(0).rollout_state() == "COMPLETED";
  })) << Service().DebugString();
  const std::string first = Service().deployments(0).id();

  UpdateService(R"({"service":"svc","taskDefinition":"web:2"})");
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::Service s = Service();
        return s.deployments_size() == 1 && s.deployments(0).id() != first &&
               s.deployments(0).task_definition().ends_with("web:1") && s.deployments(0).rollout_state() == "COMPLETED";
      },
      60000))
      << Service().DebugString();
  v1::Service s = Service();
  bool failed_event = false;
  bool rollback_event = false;
  for (const auto& e : s.events()) {
    failed_event |= e.message().find("deployment failed") != std::string::npos;
    rollback_event |= e.message().find("rolling back") != std::string::npos;
  }
  EXPECT_TRUE(failed_event) << s.DebugString();
  EXPECT_TRUE(rollback_event) << s.DebugString();
  EXPECT_TRUE(s.task_definition().ends_with("web:1"));
  EXPECT_EQ(RunningCount(), 3);
  for (const auto& t : Tasks()) EXPECT_TRUE(t.task_definition_arn().ends_with("web:1"));
  // The failed launches were counted: at least the threshold, max(10, ceil(0.5 * 3)).
  int stopped_failures = 0;
  for (const auto& t : Tasks("STOPPED")) stopped_failures += t.stop_code() == "EssentialContainerExited";
  EXPECT_GE(stopped_failures, 10);
}

TEST_F(ServiceSimTest, DaemonServiceCoversInstancesThatJoinLater) {
  auto a = StartAgent("agent0");
  auto b = StartAgent("agent1");
  ASSERT_TRUE(WaitFor([&] { return InstanceArns().size() == 2; }));
  Register(R"({"family":"logs","containerDefinitions":[{"name":"app","image":"busybox","cpu":32,"memory":32}]})");
  CreateService(R"({"serviceName":"logs","taskDefinition":"logs","schedulingStrategy":"DAEMON"})");
  ASSERT_TRUE(WaitFor([&] { return RunningCount("logs") == 2; })) << Service("logs").DebugString();
  auto c = StartAgent("agent2");
  ASSERT_TRUE(WaitFor([&] {
    std::set<std::string> hosts;
    for (const auto& t : Tasks("RUNNING", "logs")) {
      if (t.last_status() == "RUNNING") hosts.insert(t.container_instance_arn());
    }
    return hosts.size() == 3 && Tasks("RUNNING", "logs").size() == 3;
  })) << Service("logs").DebugString();
  EXPECT_EQ(Service("logs").desired_count(), 3);
}

TEST_F(ServiceSimTest, DrainingAnInstanceMovesItsServiceTasks) {
  auto a = StartAgent("agent0");
  ASSERT_TRUE(WaitFor([&] { return InstanceArns().size() == 1; }));
  const std::string first = InstanceArns()[0];
  Register(R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","cpu":64,"memory":64}]})");
  CreateService(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":4})");
  ASSERT_TRUE(WaitFor([&] { return RunningCount() == 4; })) << Service().DebugString();
  auto b = StartAgent("agent1");
  ASSERT_TRUE(WaitFor([&] { return InstanceArns().size() == 2; }));
  v1::UpdateContainerInstancesStateRequest drain;
  drain.add_container_instances(first);
  drain.set_status("DRAINING");
  v1::UpdateContainerInstancesStateResponse resp;
  ASSERT_TRUE(Call(*stub_, &Stub::UpdateContainerInstancesState, drain, &resp).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto tasks = Tasks();
    int moved = 0;
    for (const auto& t : tasks) moved += t.last_status() == "RUNNING" && t.container_instance_arn() != first;
    return moved == 4 && tasks.size() == 4;
  })) << Service().DebugString();
}

}  // namespace
}  // namespace berth::testutil
