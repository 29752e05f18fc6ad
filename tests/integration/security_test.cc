// The real berthd with --auth-config: tokens on the gRPC and agent doors, policies per cluster and
// action, an agent joining with a token, revocation by SIGHUP, the audit log, and the refusal to
// listen beyond loopback without authentication.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "berth/v1/agent.grpc.pb.h"
#include "src/controlplane/auth/auth.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

constexpr char kAdmin[] = "admin-0123456789abcdef0123456789abcdef0123456789";
constexpr char kDev[] = "dev-0123456789abcdef0123456789abcdef0123456789ab";
constexpr char kAgent[] = "agent-0123456789abcdef0123456789abcdef0123456789";
constexpr char kDeployer[] = "deploy-0123456789abcdef0123456789abcdef012345678";

std::string AuthConfig(bool dev_revoked) {
  using controlplane::auth::TokenSha256Hex;
  nlohmann::json c = {
      {"policies",
       {{"admin",
         {{"Version", "2012-10-17"}, {"Statement", {{{"Effect", "Allow"}, {"Action", "*"}, {"Resource", "*"}}}}}},
        {"dev",
         {{"Version", "2012-10-17"},
          {"Statement",
           {{{"Effect", "Allow"},
             {"Action", {"ecs:RunTask", "ecs:StopTask", "ecs:Describe*", "ecs:List*"}},
             {"Resource", "*"},
             {"Condition", {{"ArnLikeIfExists", {{"ecs:cluster", "arn:aws:ecs:*:*:cluster/dev"}}}}}},
            {{"Effect", "Allow"}, {"Action", "ecs:DescribeClusters"}, {"Resource", "arn:aws:ecs:*:*:cluster/dev"}}}}}},
        {"deployer",
         {{"Version", "2012-10-17"},
          {"Statement",
           {{{"Effect", "Allow"},
             {"Action", {"ecs:RunTask", "ecs:CreateService", "ecs:Describe*", "ecs:List*"}},
             {"Resource", "*"}},
            {{"Effect", "Allow"},
             {"Action", "iam:PassRole"},
             {"Resource", "arn:aws:iam::000000000000:role/web-*"},
             {"Condition", {{"StringEquals", {{"iam:PassedToService", "ecs-tasks.amazonaws.com"}}}}}}}}}},
        {"agent",
         {{"Version", "2012-10-17"},
          {"Statement",
           {{{"Effect", "Allow"},
             {"Action", {"ecs:RegisterContainerInstance", "ecs:Poll", "ecs:SubmitTaskStateChange"}},
             {"Resource", "*"},
             {"Condition", {{"ArnEquals", {{"ecs:cluster", "arn:aws:ecs:local:000000000000:cluster/dev"}}}}}}}}}}}},
      {"principals",
       {{"root", {{"policies", {"admin"}}, {"tokens", {{{"sha256", TokenSha256Hex(kAdmin)}}}}}},
        {"dana", {{"policies", {"dev"}}, {"tokens", {{{"sha256", TokenSha256Hex(kDev)}, {"revoked", dev_revoked}}}}}},
        {"host-agent", {{"policies", {"agent"}}, {"tokens", {{{"sha256", TokenSha256Hex(kAgent)}}}}}},
        {"ci", {{"policies", {"deployer"}}, {"tokens", {{{"sha256", TokenSha256Hex(kDeployer)}}}}}}}}};
  return c.dump(2);
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.Sub("auth.json")) << AuthConfig(false);
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.Sub("berthd"),
        std::vector<std::string>{"--auth-config", dir_.Sub("auth.json"), "--audit-log", dir_.Sub("audit.jsonl")});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
  }

  template <typename Request, typename Response, typename Method>
  grpc::Status As(const char* token, Method method, const Request& request, Response* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (token != nullptr) ctx.AddMetadata("authorization", std::string("Bearer ") + token);
    return (stub_.get()->*method)(&ctx, request, response);
  }

  // As root: cluster "dev" and task definition "web".
  void CreateDevClusterAndWeb() {
    v1::CreateClusterRequest create;
    create.set_cluster_name("dev");
    v1::CreateClusterResponse created;
    ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::CreateCluster, create, &created).ok());
    v1::RegisterTaskDefinitionResponse td;
    ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::RegisterTaskDefinition, SmallTaskDefinition("web"), &td).ok());
  }

  std::vector<nlohmann::json> Audit() {
    std::ifstream in(dir_.Sub("audit.jsonl"));
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  TempDir dir_;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
};

TEST_F(SecurityTest, TokensAndPoliciesGuardTheGrpcDoor) {
  v1::ListClustersResponse clusters;
  grpc::Status anonymous = As(nullptr, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters);
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED) << anonymous.error_message();
  EXPECT_NE(anonymous.error_message().find("missing credentials"), std::string::npos);
  grpc::Status forged = As("forged", &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters);
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  for (const char* name : {"dev", "prod"}) {
    v1::CreateClusterRequest create;
    create.set_cluster_name(name);
    v1::CreateClusterResponse created;
    ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::CreateCluster, create, &created).ok());
  }
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::RegisterTaskDefinition, SmallTaskDefinition("web"), &td).ok());

  // dana may list only the dev cluster, and may not create clusters or run in prod.
  ASSERT_TRUE(As(kDev, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters).ok());
  ASSERT_EQ(clusters.cluster_arns_size(), 1);
  EXPECT_EQ(clusters.cluster_arns(0), "arn:aws:ecs:local:000000000000:cluster/dev");
  v1::CreateClusterRequest mine;
  mine.set_cluster_name("mine");
  v1::CreateClusterResponse created;
  grpc::Status create = As(kDev, &v1::ContainerService::Stub::CreateCluster, mine, &created);
  EXPECT_EQ(create.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(create.error_message(),
            "User: dana is not authorized to perform: ecs:CreateCluster on resource: "
            "arn:aws:ecs:local:000000000000:cluster/mine because no policy allows it");
  v1::RunTaskResponse run;
  grpc::Status in_prod = As(kDev, &v1::ContainerService::Stub::RunTask,
                            FromJson<v1::RunTaskRequest>(R"({"cluster":"prod","taskDefinition":"web"})"), &run);
  EXPECT_EQ(in_prod.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Nothing changed.
  v1::DescribeClustersRequest describe;
  describe.add_clusters("mine");
  describe.add_clusters("prod");
  v1::DescribeClustersResponse described;
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::DescribeClusters, describe, &described).ok());
  ASSERT_EQ(described.clusters_size(), 1);
  EXPECT_EQ(described.clusters(0).pending_tasks_count() + described.clusters(0).running_tasks_count(), 0);
  EXPECT_EQ(described.failures_size(), 1) << "'mine' was never created";

  // The agent's token registers and polls for its cluster only, and calls no public action.
  auto agent_stub = v1::AgentService::NewStub(berthd_->channel());
  for (const char* cluster : {"dev", "prod"}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kAgent);
    v1::RegisterContainerInstanceResponse registered;
    grpc::Status s = agent_stub->RegisterInstance(&ctx, InstanceRequest(cluster, 1024, 1024), &registered);
    EXPECT_EQ(s.error_code(),
              std::string(cluster) == "dev" ? grpc::StatusCode::OK : grpc::StatusCode::PERMISSION_DENIED)
        << cluster << ": " << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::RegisterContainerInstanceResponse registered;
    EXPECT_EQ(agent_stub->RegisterInstance(&ctx, InstanceRequest("dev", 1024, 1024), &registered).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(As(kAgent, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::DeleteClusterRequest del;
  del.set_cluster("dev");
  v1::DeleteClusterResponse deleted;
  EXPECT_EQ(As(kAgent, &v1::ContainerService::Stub::DeleteCluster, del, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  std::vector<nlohmann::json> audit = Audit();
  auto count = [&](const std::string& principal, const std::string& action, const std::string& decision) {
    return std::count_if(audit.begin(), audit.end(), [&](const nlohmann::json& l) {
      return l["principal"] == principal && l["action"] == action && l["decision"] == decision;
    });
  };
  EXPECT_EQ(count("root", "ecs:CreateCluster", "Allow"), 2);
  EXPECT_EQ(count("dana", "ecs:CreateCluster", "ImplicitDeny"), 1);
  EXPECT_EQ(count("dana", "ecs:RunTask", "ImplicitDeny"), 1);
  EXPECT_EQ(count("host-agent", "ecs:RegisterContainerInstance", "Allow"), 1);
  EXPECT_EQ(count("host-agent", "ecs:RegisterContainerInstance", "ImplicitDeny"), 1);
  EXPECT_EQ(count("host-agent", "ecs:DeleteCluster", "ImplicitDeny"), 1);
  EXPECT_EQ(count("", "ecs:ListClusters", "Unauthenticated"), 2);
  EXPECT_EQ(count("", "ecs:RegisterContainerInstance", "Unauthenticated"), 1);
}

TEST_F(SecurityTest, AnAgentJoinsWithItsTokenAndRevocationTakesEffectOnSighup) {
  ASSERT_NO_FATAL_FAILURE(CreateDevClusterAndWeb());

  std::ofstream(dir_.Sub("agent.token")) << kAgent << "\n";
  AgentProcess agent(dir_.Sub("agent"), {"--endpoint", berthd_->grpc_address(), "--cluster", "dev", "--runtime", "sim",
                                         "--token-file", dir_.Sub("agent.token"), "--poll-wait", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log();
  v1::RunTaskResponse run;
  ASSERT_TRUE(As(kDev, &v1::ContainerService::Stub::RunTask,
                 FromJson<v1::RunTaskRequest>(R"({"cluster":"dev","taskDefinition":"web"})"), &run)
                  .ok());
  ASSERT_EQ(run.tasks_size(), 1);
  v1::DescribeTasksRequest describe;
  describe.set_cluster("dev");
  describe.add_tasks(run.tasks(0).task_arn());
  EXPECT_TRUE(WaitFor([&] {
    v1::DescribeTasksResponse d;
    return As(kDev, &v1::ContainerService::Stub::DescribeTasks, describe, &d).ok() && d.tasks_size() == 1 &&
           d.tasks(0).last_status() == "RUNNING";
  })) << agent.Log();

  // Revoke dana's token: the next request after SIGHUP is refused.
  std::ofstream(dir_.Sub("auth.json")) << AuthConfig(true);
  ASSERT_EQ(kill(berthd_->pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        v1::DescribeTasksResponse d;
        grpc::Status s = As(kDev, &v1::ContainerService::Stub::DescribeTasks, describe, &d);
        return s.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
               s.error_message().find("revoked") != std::string::npos;
      },
      10000))
      << berthd_->Log();
  v1::DescribeTasksResponse d;
  EXPECT_TRUE(As(kAdmin, &v1::ContainerService::Stub::DescribeTasks, describe, &d).ok());
}

TEST_F(SecurityTest, AnAgentJoinsWithAJoinTokenAndItsCredentialSpeaksForItsInstanceAlone) {
  ASSERT_NO_FATAL_FAILURE(CreateDevClusterAndWeb());
  // dana may not make join tokens; root may.
  v1::CreateJoinTokenResponse token;
  auto join_request = FromJson<v1::CreateJoinTokenRequest>(R"({"cluster":"dev","description":"host 1"})");
  EXPECT_EQ(As(kDev, &v1::ContainerService::Stub::CreateJoinToken, join_request, &token).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::CreateJoinToken, join_request, &token).ok());

  std::ofstream(dir_.Sub("join.token")) << token.token() << "\n";
  AgentProcess agent(dir_.Sub("agent"), {"--endpoint", berthd_->grpc_address(), "--cluster", "dev", "--runtime", "sim",
                                         "--join-token-file", dir_.Sub("join.token"), "--poll-wait", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log();
  // The credential is kept beside the agent's identity, readable by its user only.
  struct stat st {};
  ASSERT_EQ(stat(dir_.Sub("agent/agent.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  nlohmann::json identity = nlohmann::json::parse(std::ifstream(dir_.Sub("agent/agent.json")));
  const std::string credential = identity.value("instanceCredential", "");
  ASSERT_EQ(credential.rfind("bic-" + agent.instance_id() + ".", 0), 0u) << identity.dump();

  v1::RunTaskResponse run;
  ASSERT_TRUE(As(kDev, &v1::ContainerService::Stub::RunTask,
                 FromJson<v1::RunTaskRequest>(R"({"cluster":"dev","taskDefinition":"web"})"), &run)
                  .ok());
  ASSERT_EQ(run.tasks_size(), 1);
  v1::DescribeTasksRequest describe;
  describe.set_cluster("dev");
  describe.add_tasks(run.tasks(0).task_arn());
  auto running = [&] {
    v1::DescribeTasksResponse d;
    return As(kDev, &v1::ContainerService::Stub::DescribeTasks, describe, &d).ok() && d.tasks_size() == 1 &&
           d.tasks(0).last_status() == "RUNNING";
  };
  EXPECT_TRUE(WaitFor(running)) << agent.Log();

  // The token is used up; the credential works on the agent protocol only, as its own instance.
  auto agent_stub =
      v1::AgentService::NewStub(grpc::CreateChannel(berthd_->grpc_address(), grpc::InsecureChannelCredentials()));
  auto agent_call = [&](const std::string& secret, auto method, const auto& request, auto* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", "Bearer " + secret);
    return (agent_stub.get()->*method)(&ctx, request, response);
  };
  v1::RegisterContainerInstanceRequest again = FromJson<v1::RegisterContainerInstanceRequest>(
      R"({"cluster":"dev","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":1024},)"
      R"({"name":"MEMORY","type":"INTEGER","integerValue":1024}]})");
  v1::RegisterContainerInstanceResponse registered;
  grpc::Status used_up = agent_call(token.token(), &v1::AgentService::Stub::RegisterInstance, again, &registered);
  EXPECT_EQ(used_up.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(used_up.error_message().find("used up"), std::string::npos) << used_up.error_message();

  // Another instance, registered by the host-agent principal.
  ASSERT_TRUE(agent_call(kAgent, &v1::AgentService::Stub::RegisterInstance, again, &registered).ok());
  const std::string other = registered.container_instance().container_instance_arn();
  v1::PollRequest poll;
  poll.set_cluster("dev");
  poll.set_container_instance(other);
  v1::PollResponse polled;
  grpc::Status as_other = agent_call(credential, &v1::AgentService::Stub::Poll, poll, &polled);
  EXPECT_EQ(as_other.error_code(), grpc::StatusCode::PERMISSION_DENIED) << as_other.error_message();
  poll.set_container_instance(agent.instance_arn());
  EXPECT_TRUE(agent_call(credential, &v1::AgentService::Stub::Poll, poll, &polled).ok());
  // A principal that may poll in dev still may not speak for an instance bound to its credential.
  grpc::Status hijack = agent_call(kAgent, &v1::AgentService::Stub::Poll, poll, &polled);
  EXPECT_EQ(hijack.error_code(), grpc::StatusCode::PERMISSION_DENIED) << hijack.error_message();
  v1::ReportStateChangesRequest report;
  report.set_cluster("dev");
  report.set_container_instance(agent.instance_arn());
  v1::ReportStateChangesResponse reported;
  EXPECT_EQ(agent_call(kAgent, &v1::AgentService::Stub::ReportStateChanges, report, &reported).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Not a key to the public API.
  v1::DescribeClustersResponse clusters;
  grpc::Status public_door =
      As(credential.c_str(), &v1::ContainerService::Stub::DescribeClusters, v1::DescribeClustersRequest(), &clusters);
  EXPECT_EQ(public_door.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(public_door.error_message().find("agent protocol"), std::string::npos) << public_door.error_message();

  // A restarted agent is the same instance, through its stored credential.
  EXPECT_EQ(agent.Terminate(), 0);
  ASSERT_TRUE(agent.Start()) << agent.Log();
  EXPECT_EQ(agent.instance_arn(), identity.value("containerInstanceArn", ""));
  // It polls as that instance: a new task started there reaches it (the sim runtime's containers
  // did not survive the restart, so the first task is gone).
  v1::StartTaskResponse started;
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::StartTask,
                 FromJson<v1::StartTaskRequest>(R"({"cluster":"dev","taskDefinition":"web","containerInstances":[")" +
                                                agent.instance_arn() + R"("]})"),
                 &started)
                  .ok());
  ASSERT_EQ(started.tasks_size(), 1);
  describe.set_tasks(0, started.tasks(0).task_arn());
  EXPECT_TRUE(WaitFor(running)) << agent.Log();

  // The audit log names the join token and the instance, and the refusals.
  const std::string join_principal = "join-token/" + token.join_token().join_token_id();
  const std::string instance_principal = "instance/" + agent.instance_id();
  std::vector<nlohmann::json> audit = Audit();
  auto has = [&](const std::string& principal, const std::string& action, const std::string& decision) {
    return std::any_of(audit.begin(), audit.end(), [&](const nlohmann::json& l) {
      return l.value("principal", "") == principal && l.value("action", "") == action &&
             l.value("decision", "") == decision;
    });
  };
  EXPECT_TRUE(has(join_principal, "ecs:RegisterContainerInstance", "Allow"));
  EXPECT_TRUE(has(join_principal, "ecs:RegisterContainerInstance", "Unauthenticated"));
  EXPECT_TRUE(has(instance_principal, "ecs:Poll", "Deny"));
  EXPECT_TRUE(has(instance_principal, "ecs:SubmitTaskStateChange", "Allow"));
}

TEST_F(SecurityTest, LaunchingATaskWithARoleNeedsIamPassRoleOnIt) {
  auto register_td = [&](const std::string& json) {
    v1::RegisterTaskDefinitionResponse td;
    ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::RegisterTaskDefinition,
                   FromJson<v1::RegisterTaskDefinitionRequest>(json), &td)
                    .ok());
  };
  const std::string container = R"("containerDefinitions":[{"name":"app","image":"busybox","memory":16}])";
  register_td(R"({"family":"plain",)" + container + "}");
  register_td(R"({"family":"webapp","taskRoleArn":"web-app",)" + container + "}");  // a short name
  register_td(R"({"family":"root","taskRoleArn":"arn:aws:iam::000000000000:role/admin",)" + container + "}");
  register_td(R"({"family":"pull","executionRoleArn":"arn:aws:iam::000000000000:role/ops-pull",)" + container + "}");
  v1::RegisterContainerInstanceResponse instance;
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::RegisterContainerInstance,
                 FromJson<v1::RegisterContainerInstanceRequest>(
                     R"({"totalResources":[{"name":"CPU","type":"INTEGER","integerValue":4096},)"
                     R"({"name":"MEMORY","type":"INTEGER","integerValue":4096}]})"),
                 &instance)
                  .ok());

  auto run = [&](const char* token, const std::string& json) {
    v1::RunTaskResponse response;
    return As(token, &v1::ContainerService::Stub::RunTask, FromJson<v1::RunTaskRequest>(json), &response);
  };
  // No role: RunTask alone suffices.
  EXPECT_TRUE(run(kDeployer, R"({"taskDefinition":"plain"})").ok());
  // The deployer may pass web-* roles, for ECS tasks only.
  grpc::Status web = run(kDeployer, R"({"taskDefinition":"webapp"})");
  EXPECT_TRUE(web.ok()) << web.error_message();
  grpc::Status root = run(kDeployer, R"({"taskDefinition":"root"})");
  EXPECT_EQ(root.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(root.error_message(),
            "User: ci is not authorized to perform: iam:PassRole on resource: arn:aws:iam::000000000000:role/admin "
            "because no policy allows it");
  EXPECT_EQ(run(kDeployer, R"({"taskDefinition":"pull"})").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Overrides count too.
  grpc::Status overridden = run(
      kDeployer, R"({"taskDefinition":"plain","overrides":{"taskRoleArn":"arn:aws:iam::000000000000:role/admin"}})");
  EXPECT_EQ(overridden.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(overridden.error_message().find("role/admin"), std::string::npos);
  // So do services.
  v1::CreateServiceResponse service;
  grpc::Status svc = As(
      kDeployer, &v1::ContainerService::Stub::CreateService,
      FromJson<v1::CreateServiceRequest>(R"({"serviceName":"s","taskDefinition":"root","desiredCount":1})"), &service);
  EXPECT_EQ(svc.error_code(), grpc::StatusCode::PERMISSION_DENIED) << svc.error_message();
  // dana may run tasks but pass no role at all; root may pass any.
  EXPECT_EQ(run(kDev, R"({"cluster":"dev","taskDefinition":"webapp"})").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(run(kAdmin, R"({"taskDefinition":"root"})").ok());
  // A task definition that does not exist is the handler's error, after RunTask is authorized.
  EXPECT_EQ(run(kDeployer, R"({"taskDefinition":"ghost"})").error_code(), grpc::StatusCode::NOT_FOUND);

  // Refusals launched nothing: the plain, webapp and root tasks only.
  v1::ListTasksResponse tasks;
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::ListTasks, v1::ListTasksRequest(), &tasks).ok());
  EXPECT_EQ(tasks.task_arns_size(), 3);
  std::vector<nlohmann::json> audit = Audit();
  EXPECT_TRUE(std::any_of(audit.begin(), audit.end(), [](const nlohmann::json& l) {
    return l.value("principal", "") == "ci" && l.value("action", "") == "iam:PassRole" &&
           l.value("resource", "") == "arn:aws:iam::000000000000:role/admin" && l.value("decision", "") != "Allow";
  }));
}

TEST(SecurityStartTest, RefusesToListenBeyondLoopbackWithoutAuthentication) {
  TempDir dir;
  BerthdProcess grpc_open(dir.Sub("a"), {"--grpc-listen", "0.0.0.0:0"});
  EXPECT_FALSE(grpc_open.Start());
  EXPECT_NE(grpc_open.Log().find("refusing to start: --grpc-listen 0.0.0.0:0 is not a loopback address"),
            std::string::npos)
      << grpc_open.Log();
  BerthdProcess http_open(dir.Sub("b"), {"--http-listen", "0.0.0.0:0"});
  EXPECT_FALSE(http_open.Start());
  EXPECT_NE(http_open.Log().find("refusing to start: --http-listen 0.0.0.0:0"), std::string::npos) << http_open.Log();

  // With authentication configured it starts.
  std::ofstream(dir.Sub("auth.json")) << AuthConfig(false);
  BerthdProcess guarded(dir.Sub("c"), {"--grpc-listen", "0.0.0.0:0", "--auth-config", dir.Sub("auth.json")});
  ASSERT_TRUE(guarded.Start()) << guarded.Log();
  EXPECT_NE(guarded.Log().find("authentication on"), std::string::npos) << guarded.Log();

  // A broken configuration is refused at start, naming the field.
  std::ofstream(dir.Sub("bad.json")) << R"({"principals":{"x":{"policies":["missing"]}}})";
  BerthdProcess bad(dir.Sub("d"), {"--auth-config", dir.Sub("bad.json")});
  EXPECT_FALSE(bad.Start());
  EXPECT_NE(bad.Log().find("principals.x.policies[0]: no policy named 'missing'"), std::string::npos) << bad.Log();
}

}  // namespace
}  // namespace berth::testutil
