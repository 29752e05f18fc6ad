// A replica service on real containers: the real berthd and a berth-agent --runtime docker run a
// 3-task service of busybox httpd from the local registry (scripts/docker-env.sh sets up dockerd,
// the registry and the image). One container is killed behind the agent's back with `docker kill`;
// the agent reports the essential container's exit, the task stops with EssentialContainerExited
// and the service scheduler replaces it. Without a Docker engine the test fails under CI (which
// must have one) and is skipped elsewhere.
//
// Not safe to run alongside another Docker test on the same engine: berthd picks dynamic host
// ports per container instance, lowest free first from 49153, so two agents on one host hand out
// the same ports and the second container's start fails with "port is already allocated".
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/docker_helpers.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

using Stub = v1::ContainerService::Stub;

constexpr char kImage[] = "127.0.0.1:5000/berth/busybox:latest";
constexpr char kService[] = "web";
constexpr char kBody[] = "berth-service\n";

// The task id: the last part of a task ARN (service events name tasks by id).
std::string TaskId(const std::string& arn) { return arn.substr(arn.rfind('/') + 1); }

class ServiceDockerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_DOCKER();
    cluster_ = "svcdockertest" + std::to_string(getpid());
    port_ = FreePort();
    // A fast resync and a short backoff so the replacement does not wait on timers.
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.path() + "/berthd",
        std::vector<std::string>{"--grpc-listen", "127.0.0.1:" + std::to_string(port_), "--agent-disconnect-after", "3",
                                 "--service-backoff-base", "0.1", "--service-resync-interval", "1"});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
    v1::CreateClusterResponse created;
    ASSERT_TRUE(Call(*stub_, &Stub::CreateCluster,
                     FromJson<v1::CreateClusterRequest>(R"({"clusterName":")" + cluster_ + R"("})"), &created)
                    .ok());
    agent_ = std::make_unique<AgentProcess>(
        dir_.path() + "/agent",
        std::vector<std::string>{"--endpoint", "127.0.0.1:" + std::to_string(port_), "--cluster", cluster_, "--runtime",
                                 "docker", "--cpu", "2048", "--memory", "2048", "--poll-wait", "2", "--stop-timeout",
                                 "2", "--cleanup-after", "3600", "--pause-image", kImage});
    ASSERT_TRUE(agent_->Start()) << agent_->Log();
  }

  void TearDown() override {
    if (agent_) agent_->Kill();
    // Remove every container this test's agent created, stopped ones included (--cleanup-after
    // keeps them for the assertions), and check none is left.
    if (!cluster_.empty()) {
      const std::string filter = "--filter label=com.berth.cluster=" + cluster_;
      Shell("docker ps -aq " + filter + " | xargs -r docker rm -f >/dev/null 2>&1");
      EXPECT_EQ(Shell("docker ps -aq " + filter), "");
    }
  }

  v1::Service Service() {
    v1::DescribeServicesRequest req;
    req.set_cluster(cluster_);
    req.add_services(kService);
    v1::DescribeServicesResponse resp;
    grpc::Status s = Call(*stub_, &Stub::DescribeServices, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.services_size() == 1 ? resp.services(0) : v1::Service();
  }

  v1::Task Describe(const std::string& arn) {
    v1::DescribeTasksRequest req;
    req.set_cluster(cluster_);
    req.add_tasks(arn);
    v1::DescribeTasksResponse resp;
    grpc::Status s = Call(*stub_, &Stub::DescribeTasks, req, &resp);
    return s.ok() && resp.tasks_size() == 1 ? resp.tasks(0) : v1::Task();
  }

  // The service's tasks with the given desired status.
  std::vector<v1::Task> Tasks(const std::string& desired = "RUNNING") {
    v1::ListTasksRequest list;
    list.set_cluster(cluster_);
    list.set_service_name(kService);
    list.set_desired_status(desired);
    v1::ListTasksResponse arns;
    std::vector<v1::Task> out;
    if (!Call(*stub_, &Stub::ListTasks, list, &arns).ok() || arns.task_arns().empty()) return out;
    v1::DescribeTasksRequest req;
    req.set_cluster(cluster_);
    for (const auto& arn : arns.task_arns()) req.add_tasks(arn);
    v1::DescribeTasksResponse resp;
    if (!Call(*stub_, &Stub::DescribeTasks, req, &resp).ok()) return out;
    for (auto& t : *resp.mutable_tasks()) out.push_back(std::move(t));
    return out;
  }

  // ARNs of the service's tasks that should run and do.
  std::set<std::string> RunningArns() {
    std::set<std::string> arns;
    for (const auto& t : Tasks()) {
      if (t.last_status() == "RUNNING") arns.insert(t.task_arn());
    }
    return arns;
  }

  bool HasEvent(const std::string& text) {
    const v1::Service svc = Service();
    for (const auto& e : svc.events()) {
      if (e.message().find(text) != std::string::npos) return true;
    }
    return false;
  }

  // Ids of the running containers of the cluster, from Docker itself.
  std::string DockerRunning() { return Shell("docker ps -q --filter label=com.berth.cluster=" + cluster_); }

  std::string Why() {
    std::string out = Service().DebugString();
    for (const auto& t : Tasks()) out += t.DebugString();
    for (const auto& t : Tasks("STOPPED")) out += t.DebugString();
    return out + "\nagent log:\n" + agent_->Log() + "\nberthd log:\n" + berthd_->Log();
  }

  TempDir dir_;
  std::string cluster_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<Stub> stub_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(ServiceDockerTest, AContainerKilledWithDockerKillIsReplacedByTheService) {
  v1::RegisterTaskDefinitionResponse registered;
  grpc::Status s = Call(
      *stub_, &Stub::RegisterTaskDefinition,
      FromJson<v1::RegisterTaskDefinitionRequest>(
          std::string(R"({"family":"web","networkMode":"bridge","containerDefinitions":[{"name":"httpd","image":")") +
          kImage + R"(","cpu":128,"memory":32,"essential":true,
           "portMappings":[{"containerPort":8080,"hostPort":0,"protocol":"tcp"}],
           "command":["sh","-c","mkdir -p /tmp/www && echo berth-service > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]}]})"),
      &registered);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::CreateServiceResponse created;
  s = Call(*stub_, &Stub::CreateService,
           FromJson<v1::CreateServiceRequest>(R"({"cluster":")" + cluster_ +
                                              R"(","serviceName":"web","taskDefinition":"web","desiredCount":3})"),
           &created);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Three running tasks and a completed deployment.
  ASSERT_TRUE(WaitFor([&] {
    v1::Service svc = Service();
    return svc.running_count() == 3 && svc.pending_count() == 0 && svc.deployments_size() == 1 &&
           svc.deployments(0).rollout_state() == "COMPLETED";
  })) << Why();
  std::vector<v1::Task> tasks = Tasks();
  ASSERT_EQ(tasks.size(), 3u) << Why();
  std::set<std::string> before;
  std::set<int> host_ports;
  for (const auto& t : tasks) {
    EXPECT_EQ(t.last_status(), "RUNNING") << t.DebugString();
    before.insert(t.task_arn());
    ASSERT_EQ(t.containers_size(), 1) << t.DebugString();
    ASSERT_EQ(t.containers(0).network_bindings_size(), 1) << t.DebugString();
    const auto& b = t.containers(0).network_bindings(0);
    EXPECT_EQ(b.container_port(), 8080);
    EXPECT_GT(b.host_port(), 0);
    host_ports.insert(b.host_port());
    std::string url = "http://127.0.0.1:" + std::to_string(b.host_port()) + "/index.html";
    std::string body;
    EXPECT_TRUE(WaitFor([&] { return !(body = HttpGet(url)).empty(); }, 10000)) << url;
    EXPECT_EQ(body, kBody) << url;
  }
  EXPECT_EQ(host_ports.size(), 3u) << "three tasks on one instance need three distinct host ports";
  EXPECT_EQ(Shell("docker ps -q --filter label=com.berth.cluster=" + cluster_ + " | wc -l"), "3\n");

  // Kill one task's container behind the agent's back.
  const v1::Task victim = tasks[0];
  const std::string container = victim.containers(0).runtime_id();
  ASSERT_FALSE(container.empty()) << victim.DebugString();
  ASSERT_EQ(Shell("docker inspect --format '{{.State.Running}}' " + container), "true\n");
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_NE(Shell("docker kill " + container + " 2>&1").find(container), std::string::npos);

  // The killed task stops with EssentialContainerExited and the service is back at three
  // running tasks: the two untouched ones and one new one.
  ASSERT_TRUE(WaitFor([&] {
    if (Describe(victim.task_arn()).last_status() != "STOPPED") return false;
    std::set<std::string> running = RunningArns();
    return running.size() == 3 && !running.count(victim.task_arn()) && Service().running_count() == 3;
  })) << Why();
  const double recovery_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  std::printf("service back at 3 running tasks %.1f s after docker kill\n", recovery_s);

  v1::Task stopped = Describe(victim.task_arn());
  EXPECT_EQ(stopped.stop_code(), "EssentialContainerExited") << stopped.DebugString();
  EXPECT_EQ(stopped.stopped_reason(), "Essential container in task exited") << stopped.DebugString();
  EXPECT_EQ(stopped.desired_status(), "STOPPED");
  ASSERT_EQ(stopped.containers_size(), 1);
  EXPECT_EQ(stopped.containers(0).last_status(), "STOPPED");
  EXPECT_EQ(stopped.containers(0).exit_code(), 137) << "SIGKILL";

  std::set<std::string> after = RunningArns();
  std::vector<std::string> fresh;
  for (const auto& arn : after) {
    if (!before.count(arn)) fresh.push_back(arn);
  }
  ASSERT_EQ(fresh.size(), 1u) << Why();
  for (const auto& arn : before) {
    if (arn != victim.task_arn()) {
      EXPECT_TRUE(after.count(arn)) << arn << " should have been left alone";
    }
  }
  v1::Task replacement = Describe(fresh[0]);
  EXPECT_EQ(replacement.started_by(), victim.started_by());
  ASSERT_EQ(replacement.containers_size(), 1);
  EXPECT_NE(replacement.containers(0).runtime_id(), container);
  ASSERT_EQ(replacement.containers(0).network_bindings_size(), 1);
  std::string url =
      "http://127.0.0.1:" + std::to_string(replacement.containers(0).network_bindings(0).host_port()) + "/index.html";
  std::string body;
  EXPECT_TRUE(WaitFor([&] { return !(body = HttpGet(url)).empty(); }, 10000)) << url;
  EXPECT_EQ(body, kBody) << url;
  EXPECT_TRUE(HasEvent("has started 1 tasks: (task " + TaskId(fresh[0]) + ")")) << Why();
  EXPECT_EQ(Shell("docker ps -q --filter label=com.berth.cluster=" + cluster_ + " | wc -l"), "3\n");

  // Delete with force: every task stops and no container is left running.
  v1::DeleteServiceRequest del;
  del.set_cluster(cluster_);
  del.set_service(kService);
  del.set_force(true);
  v1::DeleteServiceResponse deleted;
  s = Call(*stub_, &Stub::DeleteService, del, &deleted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& arn : after) {
      if (Describe(arn).last_status() != "STOPPED") return false;
    }
    return Tasks().empty();
  })) << Why();
  for (const auto& arn : after) {
    v1::Task t = Describe(arn);
    EXPECT_EQ(t.stop_code(), "ServiceSchedulerInitiated") << t.DebugString();
    EXPECT_EQ(t.stopped_reason(), "Service is being deleted") << t.DebugString();
  }
  EXPECT_TRUE(WaitFor([&] { return Service().status() == "INACTIVE"; }, 30000)) << Why();
  EXPECT_TRUE(HasEvent("has stopped 3 running tasks")) << Why();
  ASSERT_TRUE(WaitFor([&] { return DockerRunning().empty(); }, 30000)) << DockerRunning();
}

}  // namespace
}  // namespace berth::testutil
