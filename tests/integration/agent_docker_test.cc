// The real berthd and a real berth-agent --runtime docker running real containers from the local
// registry's busybox image (scripts/docker-env.sh sets up dockerd, the registry and the image).
// Without a Docker engine these tests fail under CI (which must have one) and are skipped
// elsewhere.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <set>
#include <thread>

#include <fstream>

#include <nlohmann/json.hpp>

#include "src/controlplane/auth/auth.h"
#include "tests/integration/docker_helpers.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

constexpr char kImage[] = "127.0.0.1:5000/berth/busybox:latest";

class AgentDockerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_DOCKER();
    cluster_ = "dockertest" + std::to_string(getpid());
    port_ = FreePort();
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.path() + "/berthd", std::vector<std::string>{"--grpc-listen", "127.0.0.1:" + std::to_string(port_),
                                                          "--agent-disconnect-after", "3"});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
    v1::CreateClusterResponse created;
    ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::CreateCluster,
                     FromJson<v1::CreateClusterRequest>(R"({"clusterName":")" + cluster_ + R"("})"), &created)
                    .ok());
    agent_ = std::make_unique<AgentProcess>(
        dir_.path() + "/agent", std::vector<std::string>{"--endpoint",      "127.0.0.1:" + std::to_string(port_),
                                                         "--cluster",       cluster_,
                                                         "--runtime",       "docker",
                                                         "--cpu",           "2048",
                                                         "--memory",        "2048",
                                                         "--poll-wait",     "2",
                                                         "--stop-timeout",  "2",
                                                         "--cleanup-after", "3600",
                                                         "--pause-image",   kImage,
                                                         "--awsvpc-cidr",   "172.30.200.0/28"});
    ASSERT_TRUE(agent_->Start()) << agent_->Log();
  }

  void TearDown() override {
    if (agent_) agent_->Kill();
    // Remove every container this test's agent created.
    if (!cluster_.empty()) {
      Shell("docker ps -aq --filter label=com.berth.cluster=" + cluster_ + " | xargs -r docker rm -f >/dev/null 2>&1");
    }
  }

  std::string Register(const std::string& family, const std::string& containers, const std::string& extra = "") {
    v1::RegisterTaskDefinitionResponse resp;
    grpc::Status s = Call(*stub_, &v1::ContainerService::Stub::RegisterTaskDefinition,
                          FromJson<v1::RegisterTaskDefinitionRequest>(
                              R"({"family":")" + family + R"(","containerDefinitions":)" + containers + extra + "}"),
                          &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return family;
  }

  std::string Run(const std::string& family) {
    v1::RunTaskResponse resp;
    grpc::Status s =
        Call(*stub_, &v1::ContainerService::Stub::RunTask,
             FromJson<v1::RunTaskRequest>(R"({"cluster":")" + cluster_ + R"(","taskDefinition":")" + family + R"("})"),
             &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.tasks_size(), 1) << resp.DebugString();
    return resp.tasks_size() == 1 ? resp.tasks(0).task_arn() : "";
  }

  void Stop(const std::string& arn) {
    v1::StopTaskResponse resp;
    ASSERT_TRUE(Call(*stub_, &v1::ContainerService::Stub::StopTask,
                     FromJson<v1::StopTaskRequest>(R"({"cluster":")" + cluster_ + R"(","task":")" + arn + R"("})"),
                     &resp)
                    .ok());
  }

  v1::Task Describe(const std::string& arn) {
    v1::DescribeTasksRequest req;
    req.set_cluster(cluster_);
    req.add_tasks(arn);
    v1::DescribeTasksResponse resp;
    grpc::Status s = Call(*stub_, &v1::ContainerService::Stub::DescribeTasks, req, &resp);
    return s.ok() && resp.tasks_size() == 1 ? resp.tasks(0) : v1::Task();
  }

  bool WaitStatus(const std::string& arn, const std::string& status, int timeout_ms = 60000) {
    return WaitFor([&] { return Describe(arn).last_status() == status; }, timeout_ms);
  }

  std::string Why(const std::string& arn) { return Describe(arn).DebugString() + "\nagent log:\n" + agent_->Log(); }

  // Ids of the running containers of a task, from Docker itself.
  std::set<std::string> DockerContainers(const std::string& arn, bool all = false) {
    std::string out = Shell(std::string("docker ps -q --no-trunc ") + (all ? "-a " : "") +
                            "--filter label=com.berth.task-arn=" + arn);
    std::set<std::string> ids;
    size_t start = 0;
    while (start < out.size()) {
      size_t nl = out.find('\n', start);
      std::string id = out.substr(start, nl - start);
      if (!id.empty()) ids.insert(id);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    return ids;
  }

  TempDir dir_;
  std::string cluster_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(AgentDockerTest, DependsOnAndASharedVolume) {
  Register("deps",
           std::string(R"([
    {"name":"init","image":")") +
               kImage +
               R"(","memory":32,"essential":false,
     "command":["sh","-c","echo made-by-init > /shared/note"],
     "mountPoints":[{"sourceVolume":"shared","containerPath":"/shared"}]},
    {"name":"app","image":")" +
               kImage + R"(","memory":32,
     "command":["sh","-c","cat /shared/note && sleep 300"],
     "mountPoints":[{"sourceVolume":"shared","containerPath":"/shared"}],
     "dependsOn":[{"containerName":"init","condition":"SUCCESS"}]}])",
           R"(,"volumes":[{"name":"shared"}])");
  std::string arn = Run("deps");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING")) << Why(arn);
  v1::Task t = Describe(arn);
  ASSERT_EQ(t.containers_size(), 2);
  EXPECT_EQ(t.containers(0).last_status(), "STOPPED");
  EXPECT_EQ(t.containers(0).exit_code(), 0);
  EXPECT_EQ(t.containers(1).last_status(), "RUNNING");
  // The app saw what init wrote into the shared volume.
  std::string logs = Shell("docker logs " + t.containers(1).runtime_id() + " 2>&1");
  EXPECT_NE(logs.find("made-by-init"), std::string::npos) << logs;
  Stop(arn);
  ASSERT_TRUE(WaitStatus(arn, "STOPPED")) << Why(arn);
}

TEST_F(AgentDockerTest, BridgeDynamicPortServesHttpThroughTheReportedBinding) {
  Register("web", std::string(R"([{"name":"httpd","image":")") + kImage + R"(","memory":32,"cpu":128,
     "portMappings":[{"containerPort":80}],
     "command":["sh","-c","mkdir -p /tmp/www && echo hello-berth > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"]}])");
  std::string arn = Run("web");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING")) << Why(arn);
  v1::Task t = Describe(arn);
  ASSERT_EQ(t.containers(0).network_bindings_size(), 1) << Why(arn);
  const auto& b = t.containers(0).network_bindings(0);
  EXPECT_EQ(b.container_port(), 80);
  EXPECT_GE(b.host_port(), 49153);
  std::string url = "http://127.0.0.1:" + std::to_string(b.host_port()) + "/index.html";
  std::string body;
  ASSERT_TRUE(WaitFor([&] { return !(body = HttpGet(url)).empty(); }, 10000)) << url;
  EXPECT_EQ(body, "hello-berth\n");
  // The Docker mapping: CpuShares, Memory, labels.
  std::string inspect = Shell(
      "docker inspect --format '{{.HostConfig.CpuShares}} {{.HostConfig.Memory}} "
      "{{index .Config.Labels \"com.berth.container-name\"}}' " +
      t.containers(0).runtime_id());
  EXPECT_EQ(inspect, "128 33554432 httpd\n");
  Stop(arn);
  ASSERT_TRUE(WaitStatus(arn, "STOPPED")) << Why(arn);
}

TEST_F(AgentDockerTest, EssentialExitAndMissingImage) {
  Register("exit3", std::string(R"([{"name":"app","image":")") + kImage +
                        R"(","memory":32,"command":["sh","-c","sleep 1; exit 3"]}])");
  Register("noimage", R"([{"name":"app","image":"127.0.0.1:5000/berth/does-not-exist:1","memory":32}])");
  std::string exited = Run("exit3");
  std::string missing = Run("noimage");
  ASSERT_TRUE(WaitStatus(exited, "STOPPED")) << Why(exited);
  v1::Task t = Describe(exited);
  EXPECT_EQ(t.stop_code(), "EssentialContainerExited");
  EXPECT_EQ(t.stopped_reason(), "Essential container in task exited");
  EXPECT_EQ(t.containers(0).exit_code(), 3);
  ASSERT_TRUE(WaitStatus(missing, "STOPPED")) << Why(missing);
  t = Describe(missing);
  EXPECT_EQ(t.stop_code(), "TaskFailedToStart");
  EXPECT_NE(t.stopped_reason().find("CannotPullContainerError"), std::string::npos) << t.stopped_reason();
}

TEST_F(AgentDockerTest, StopTaskKillsAContainerThatIgnoresSigtermAfterStopTimeout) {
  Register("stubborn", std::string(R"([{"name":"app","image":")") + kImage + R"(","memory":32,"stopTimeout":2,
     "command":["sh","-c","trap '' TERM; while true; do sleep 1; done"]}])");
  std::string arn = Run("stubborn");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING")) << Why(arn);
  auto start = std::chrono::steady_clock::now();
  Stop(arn);
  ASSERT_TRUE(WaitStatus(arn, "STOPPED", 30000)) << Why(arn);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(seconds, 2.0);
  v1::Task t = Describe(arn);
  EXPECT_EQ(t.containers(0).exit_code(), 137);
  EXPECT_EQ(t.stop_code(), "UserInitiated");
}

TEST_F(AgentDockerTest, HealthChecksAreReported) {
  Register("health", std::string(R"([
    {"name":"good","image":")") +
                         kImage + R"(","memory":32,"command":["sleep","300"],
     "healthCheck":{"command":["CMD-SHELL","true"],"interval":5,"retries":1}},
    {"name":"bad","image":")" +
                         kImage + R"(","memory":32,"essential":false,"command":["sleep","300"],
     "healthCheck":{"command":["CMD-SHELL","exit 1"],"interval":5,"retries":1}}])");
  std::string arn = Run("health");
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::Task t = Describe(arn);
        return t.containers_size() == 2 && t.containers(0).health_status() == "HEALTHY" &&
               t.containers(1).health_status() == "UNHEALTHY";
      },
      60000))
      << Why(arn);
  // Only essential containers count for the task: HEALTHY.
  EXPECT_EQ(Describe(arn).health_status(), "HEALTHY");
  Stop(arn);
}

TEST_F(AgentDockerTest, AKilledAgentAdoptsItsContainersAfterRestart) {
  Register("adopt", std::string(R"([{"name":"app","image":")") + kImage + R"(","memory":32,"command":["sleep","300"]},
     {"name":"side","image":")" +
                        kImage + R"(","memory":32,"command":["sleep","300"]}])");
  std::string arn = Run("adopt");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING")) << Why(arn);
  std::set<std::string> before = DockerContainers(arn, true);
  ASSERT_EQ(before.size(), 2u);
  agent_->Kill();
  ASSERT_TRUE(agent_->Start()) << agent_->Log();
  // Give the restarted agent time to converge, then check nothing was created again.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(DockerContainers(arn, true), before);
  EXPECT_EQ(DockerContainers(arn), before);  // and both still running
  EXPECT_EQ(Describe(arn).last_status(), "RUNNING");
  Stop(arn);
  ASSERT_TRUE(WaitStatus(arn, "STOPPED")) << Why(arn);
  EXPECT_TRUE(DockerContainers(arn).empty());
}

TEST_F(AgentDockerTest, StateConvergesAfterBerthdRestarts) {
  Register("survive",
           std::string(R"([{"name":"app","image":")") + kImage + R"(","memory":32,"command":["sleep","300"]}])");
  std::string arn = Run("survive");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING")) << Why(arn);
  berthd_->Kill();
  ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
  stub_ = berthd_->NewStub();
  std::string second = Run("survive");
  Stop(arn);
  ASSERT_TRUE(WaitStatus(arn, "STOPPED")) << Why(arn);
  ASSERT_TRUE(WaitStatus(second, "RUNNING")) << Why(second);
  EXPECT_EQ(DockerContainers(second).size(), 1u);
  Stop(second);
  ASSERT_TRUE(WaitStatus(second, "STOPPED")) << Why(second);
}

TEST_F(AgentDockerTest, AwsvpcTaskGetsItsOwnAddressAndHostModeUsesTheHost) {
  Register("vpc", std::string(R"([{"name":"httpd","image":")") + kImage + R"(","memory":32,
     "portMappings":[{"containerPort":8080}],
     "command":["sh","-c","mkdir -p /tmp/www && echo from-awsvpc > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]}])",
           R"(,"networkMode":"awsvpc")");
  std::string arn = Run("vpc");
  ASSERT_TRUE(WaitStatus(arn, "RUNNING")) << Why(arn);
  v1::Task t = Describe(arn);
  ASSERT_EQ(t.containers(0).network_interfaces_size(), 1) << Why(arn);
  std::string address = t.containers(0).network_interfaces(0).private_ipv4_address();
  EXPECT_NE(address.find("172.30."), std::string::npos) << address;
  std::string body;
  std::string url = "http://" + address + ":8080/index.html";
  ASSERT_TRUE(WaitFor([&] { return !(body = HttpGet(url)).empty(); }, 10000)) << url;
  EXPECT_EQ(body, "from-awsvpc\n");

  const int port = FreePort();
  Register("hostnet",
           std::string(R"([{"name":"httpd","image":")") + kImage + R"(","memory":32,
     "portMappings":[{"containerPort":)" +
               std::to_string(port) +
               R"(}],
     "command":["sh","-c","mkdir -p /tmp/www && echo from-host > /tmp/www/index.html && exec httpd -f -p )" +
               std::to_string(port) + R"( -h /tmp/www"]}])",
           R"(,"networkMode":"host")");
  std::string host_task = Run("hostnet");
  ASSERT_TRUE(WaitStatus(host_task, "RUNNING")) << Why(host_task);
  url = "http://127.0.0.1:" + std::to_string(port) + "/index.html";
  ASSERT_TRUE(WaitFor([&] { return !(body = HttpGet(url)).empty(); }, 10000)) << url;
  EXPECT_EQ(body, "from-host\n");
  v1::Task h = Describe(host_task);
  ASSERT_EQ(h.containers(0).network_bindings_size(), 1);
  EXPECT_EQ(h.containers(0).network_bindings(0).host_port(), port);

  Stop(arn);
  Stop(host_task);
  ASSERT_TRUE(WaitStatus(arn, "STOPPED")) << Why(arn);
  ASSERT_TRUE(WaitStatus(host_task, "STOPPED")) << Why(host_task);
  // The awsvpc task's network holder went with it.
  EXPECT_TRUE(
      Shell("docker ps -q --filter label=com.berth.network-holder --filter label=com.berth.task-arn=" + arn).empty());
}

// A task with a role reads its credentials from inside its container, at the URI berth-agent gave
// it; another task's URI (any other id) answers nothing.
TEST(AgentDockerCredentialsTest, AContainerReadsItsTasksRoleCredentialsFromTheAgent) {
  BERTH_REQUIRE_DOCKER();
  TempDir dir;
  constexpr char kToken[] = "root-token-0123456789abcdef0123456789abcdef";
  std::ofstream(dir.Sub("auth.json")) << R"({
    "policies": {"admin": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
    "roles": {"app": {"policies": ["admin"]}},
    "principals": {"root": {"policies": ["admin"], "tokens": [{"sha256": ")"
                                      << controlplane::auth::TokenSha256Hex(kToken) << R"("}]}}})";
  std::ofstream(dir.Sub("token")) << kToken << "\n";
  const std::string cluster = "credtest" + std::to_string(getpid());
  BerthdProcess berthd(dir.Sub("berthd"), {"--auth-config", dir.Sub("auth.json")});
  ASSERT_TRUE(berthd.Start()) << berthd.Log();
  auto stub = berthd.NewStub();
  auto as_root = [&](auto method, const auto& request, auto* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
    return ((*stub).*method)(&ctx, request, response);
  };
  v1::CreateClusterResponse created;
  ASSERT_TRUE(as_root(&v1::ContainerService::Stub::CreateCluster,
                      FromJson<v1::CreateClusterRequest>(R"({"clusterName":")" + cluster + R"("})"), &created)
                  .ok());
  AgentProcess agent(dir.Sub("agent"), {"--endpoint", berthd.grpc_address(), "--cluster", cluster, "--runtime",
                                        "docker", "--token-file", dir.Sub("token"), "--credentials-listen",
                                        "127.0.0.1:0", "--poll-wait", "2", "--stop-timeout", "2"});
  ASSERT_TRUE(agent.Start()) << agent.Log();
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(as_root(&v1::ContainerService::Stub::RegisterTaskDefinition,
                      FromJson<v1::RegisterTaskDefinitionRequest>(
                          std::string(R"({"family":"withrole","taskRoleArn":"app","networkMode":"host",
                              "containerDefinitions":[{"name":"app","image":")") +
                          kImage + R"(","memory":32,"command":["sh","-c",
                              "wget -qO- \"$AWS_CONTAINER_CREDENTIALS_FULL_URI\"; echo; wget -qO- \"${AWS_CONTAINER_CREDENTIALS_FULL_URI%/*}/0123456789abcdef0123456789abcdef\" || echo other-refused; sleep 300"]}]})"),
                      &td)
                  .ok());
  v1::RunTaskResponse run;
  ASSERT_TRUE(as_root(&v1::ContainerService::Stub::RunTask,
                      FromJson<v1::RunTaskRequest>(R"({"cluster":")" + cluster + R"(","taskDefinition":"withrole"})"),
                      &run)
                  .ok());
  ASSERT_EQ(run.tasks_size(), 1);
  const std::string arn = run.tasks(0).task_arn();
  std::string logs;
  const bool answered = WaitFor(
      [&] {
        logs =
            Shell("docker ps -aq --filter label=com.berth.task-arn=" + arn + " | head -1 | xargs -r docker logs 2>&1");
        return logs.find("other-refused") != std::string::npos;
      },
      60000);
  Shell("docker ps -aq --filter label=com.berth.cluster=" + cluster + " | xargs -r docker rm -f >/dev/null 2>&1");
  ASSERT_TRUE(answered) << logs << agent.Log();
  // The container's stdout and stderr interleave in `docker logs` (the second wget's error may come
  // first): the credentials are the line that starts with '{'.
  const size_t json_at = std::min(logs.find('{'), logs.size());
  nlohmann::json credentials =
      nlohmann::json::parse(logs.substr(json_at, logs.find('\n', json_at) - json_at), nullptr, false);
  ASSERT_FALSE(credentials.is_discarded()) << logs;
  EXPECT_EQ(credentials.value("RoleArn", ""), "arn:aws:iam::000000000000:role/app") << logs;
  EXPECT_EQ(credentials.value("AccessKeyId", "").substr(0, 4), "ASIA") << logs;
  EXPECT_FALSE(credentials.value("Token", "").empty()) << logs;
  EXPECT_FALSE(credentials.value("Expiration", "").empty()) << logs;
}

}  // namespace
}  // namespace berth::testutil
