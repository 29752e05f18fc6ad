// The real berthd with --auth-config: tokens on the gRPC and agent doors, policies per cluster and
// action, an agent joining with a token, revocation by SIGHUP, the audit log, and the refusal to
// listen beyond loopback without authentication.
#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "berth/v1/agent.grpc.pb.h"
#include "src/controlplane/auth.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

constexpr char kAdmin[] = "admin-0123456789abcdef0123456789abcdef0123456789";
constexpr char kDev[] = "dev-0123456789abcdef0123456789abcdef0123456789ab";
constexpr char kAgent[] = "agent-0123456789abcdef0123456789abcdef0123456789";

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
        {"host-agent", {{"policies", {"agent"}}, {"tokens", {{{"sha256", TokenSha256Hex(kAgent)}}}}}}}}};
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
  EXPECT_EQ(count("", "ecs:RegisterInstance", "Unauthenticated"), 1);
}

TEST_F(SecurityTest, AnAgentJoinsWithItsTokenAndRevocationTakesEffectOnSighup) {
  v1::CreateClusterRequest create;
  create.set_cluster_name("dev");
  v1::CreateClusterResponse created;
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::CreateCluster, create, &created).ok());
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(As(kAdmin, &v1::ContainerService::Stub::RegisterTaskDefinition, SmallTaskDefinition("web"), &td).ok());

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
