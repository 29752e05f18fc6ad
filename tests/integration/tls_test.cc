// The real berthd serving TLS (--tls-cert, --tls-key) on gRPC and HTTP, verifying client
// certificates (--tls-client-ca) that name principals of --auth-config, an agent joining over
// mutual TLS, certificate rotation, and the start-up refusals of bad TLS files.
#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "berth/v1/agent.grpc.pb.h"
#include "src/controlplane/auth/auth.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/test_certs.h"

namespace berth::testutil {
namespace {

constexpr char kAdmin[] = "admin-0123456789abcdef0123456789abcdef0123456789";

std::string AuthConfig() {
  nlohmann::json c = {
      {"policies",
       {{"admin",
         {{"Version", "2012-10-17"}, {"Statement", {{{"Effect", "Allow"}, {"Action", "*"}, {"Resource", "*"}}}}}},
        {"agent",
         {{"Version", "2012-10-17"},
          {"Statement",
           {{{"Effect", "Allow"},
             {"Action", {"ecs:RegisterContainerInstance", "ecs:Poll", "ecs:SubmitTaskStateChange"}},
             {"Resource", "*"},
             {"Condition", {{"ArnEquals", {{"ecs:cluster", "arn:aws:ecs:local:000000000000:cluster/dev"}}}}}}}}}}}},
      {"principals",
       {{"root", {{"policies", {"admin"}}, {"tokens", {{{"sha256", controlplane::auth::TokenSha256Hex(kAdmin)}}}}}},
        {"dev-fleet", {{"policies", {"agent"}}, {"certificates", {"*.dev.agents.berth"}}}}}}};
  return c.dump(2);
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& ca, const KeyPair* client) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(ca);
  if (client != nullptr) {
    options.pem_cert_chain = ReadFile(client->cert);
    options.pem_private_key = ReadFile(client->key);
  }
  return grpc::CreateChannel(address, grpc::SslCredentials(options));
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.ok()) << "the openssl command is needed to make test certificates";
    server_ = ca_.IssueServer("server");
    agent_ = ca_.Issue("agent", "host-1", "DNS:host-1.dev.agents.berth");
    other_agent_ = ca_.Issue("other", "host-9", "DNS:host-9.prod.agents.berth");
    rogue_ = rogue_ca_.Issue("rogue", "host-1", "DNS:host-1.dev.agents.berth");
    ASSERT_FALSE(server_.cert.empty() || agent_.cert.empty() || other_agent_.cert.empty() || rogue_.cert.empty());
    std::ofstream(dir_.Sub("auth.json")) << AuthConfig();
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.Sub("berthd"), std::vector<std::string>{"--auth-config", dir_.Sub("auth.json"), "--tls-cert", server_.cert,
                                                     "--tls-key", server_.key, "--tls-client-ca", ca_.cert(),
                                                     "--http-listen", "127.0.0.1:0", "--tls-refresh", "1"});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
  }

  template <typename Stub, typename Request, typename Response, typename Method>
  static grpc::Status Call(Stub& stub, Method method, const Request& request, Response* response,
                           const char* token = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (token != nullptr) ctx.AddMetadata("authorization", std::string("Bearer ") + token);
    return (stub.*method)(&ctx, request, response);
  }

  TempDir dir_;
  TestCa ca_{dir_.path(), "ca"};
  TestCa rogue_ca_{dir_.path(), "rogue-ca"};
  KeyPair server_, agent_, other_agent_, rogue_;
  std::unique_ptr<BerthdProcess> berthd_;
};

TEST_F(TlsTest, GrpcServesOnlyTlsAndACertificateTheCaSignedNamesItsPrincipal) {
  const std::string address = berthd_->grpc_address();
  v1::ListClustersResponse clusters;
  // Plaintext gets no answer at all.
  auto plain = v1::ContainerService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(Call(*plain, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters, kAdmin)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // TLS with a token: the operator creates the clusters.
  auto admin = v1::ContainerService::NewStub(TlsChannel(address, ca_.cert(), nullptr));
  for (const char* name : {"dev", "prod"}) {
    v1::CreateClusterRequest create;
    create.set_cluster_name(name);
    v1::CreateClusterResponse created;
    grpc::Status s = Call(*admin, &v1::ContainerService::Stub::CreateCluster, create, &created, kAdmin);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // TLS without a token or certificate: unauthenticated, and told what would do.
  grpc::Status nobody = Call(*admin, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters);
  EXPECT_EQ(nobody.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(nobody.error_message().find("client certificate"), std::string::npos) << nobody.error_message();

  // The agent's certificate is principal dev-fleet: it registers in dev, not in prod, and calls
  // no public action.
  auto fleet = v1::AgentService::NewStub(TlsChannel(address, ca_.cert(), &agent_));
  for (const char* cluster : {"dev", "prod"}) {
    v1::RegisterContainerInstanceResponse registered;
    grpc::Status s =
        Call(*fleet, &v1::AgentService::Stub::RegisterInstance, InstanceRequest(cluster, 1024, 1024), &registered);
    EXPECT_EQ(s.error_code(),
              std::string(cluster) == "dev" ? grpc::StatusCode::OK : grpc::StatusCode::PERMISSION_DENIED)
        << cluster << ": " << s.error_message();
    if (!s.ok()) {
      EXPECT_NE(s.error_message().find("User: dev-fleet"), std::string::npos) << s.error_message();
    }
  }
  auto fleet_public = v1::ContainerService::NewStub(TlsChannel(address, ca_.cert(), &agent_));
  EXPECT_EQ(
      Call(*fleet_public, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);

  // A certificate the CA signed whose name no principal lists: unauthenticated.
  auto stranger = v1::AgentService::NewStub(TlsChannel(address, ca_.cert(), &other_agent_));
  v1::RegisterContainerInstanceResponse registered;
  grpc::Status s =
      Call(*stranger, &v1::AgentService::Stub::RegisterInstance, InstanceRequest("dev", 1024, 1024), &registered);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("host-9.prod.agents.berth"), std::string::npos) << s.error_message();

  // The same name signed by another CA fails the handshake.
  auto rogue = v1::AgentService::NewStub(TlsChannel(address, ca_.cert(), &rogue_));
  EXPECT_EQ(Call(*rogue, &v1::AgentService::Stub::RegisterInstance, InstanceRequest("dev", 1024, 1024), &registered)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // A client that does not trust berthd's CA refuses berthd.
  auto distrustful = v1::ContainerService::NewStub(TlsChannel(address, rogue_ca_.cert(), nullptr));
  EXPECT_EQ(Call(*distrustful, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters, kAdmin)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // Only the one instance dev-fleet registered exists.
  v1::ListContainerInstancesRequest list;
  list.set_cluster("dev");
  v1::ListContainerInstancesResponse instances;
  ASSERT_TRUE(Call(*admin, &v1::ContainerService::Stub::ListContainerInstances, list, &instances, kAdmin).ok());
  EXPECT_EQ(instances.container_instance_arns_size(), 1);
}

TEST_F(TlsTest, AnAgentJoinsOverMutualTlsAndRunsATask) {
  auto admin = v1::ContainerService::NewStub(TlsChannel(berthd_->grpc_address(), ca_.cert(), nullptr));
  v1::CreateClusterRequest create;
  create.set_cluster_name("dev");
  v1::CreateClusterResponse created;
  ASSERT_TRUE(Call(*admin, &v1::ContainerService::Stub::CreateCluster, create, &created, kAdmin).ok());
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(
      Call(*admin, &v1::ContainerService::Stub::RegisterTaskDefinition, SmallTaskDefinition("web"), &td, kAdmin).ok());

  // The agent's address is 127.0.0.1, which the server certificate names.
  AgentProcess agent(dir_.Sub("agent"),
                     {"--endpoint", berthd_->grpc_address(), "--cluster", "dev", "--runtime", "sim", "--tls-ca",
                      ca_.cert(), "--tls-cert", agent_.cert, "--tls-key", agent_.key, "--poll-wait", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log() << berthd_->Log();
  v1::RunTaskResponse run;
  ASSERT_TRUE(Call(*admin, &v1::ContainerService::Stub::RunTask,
                   FromJson<v1::RunTaskRequest>(R"({"cluster":"dev","taskDefinition":"web"})"), &run, kAdmin)
                  .ok());
  ASSERT_EQ(run.tasks_size(), 1);
  v1::DescribeTasksRequest describe;
  describe.set_cluster("dev");
  describe.add_tasks(run.tasks(0).task_arn());
  EXPECT_TRUE(WaitFor([&] {
    v1::DescribeTasksResponse d;
    return Call(*admin, &v1::ContainerService::Stub::DescribeTasks, describe, &d, kAdmin).ok() && d.tasks_size() == 1 &&
           d.tasks(0).last_status() == "RUNNING";
  })) << agent.Log();

  // Without its client certificate the agent is refused at registration.
  AgentProcess anonymous(dir_.Sub("anonymous"), {"--endpoint", berthd_->grpc_address(), "--cluster", "dev", "--runtime",
                                                 "sim", "--tls-ca", ca_.cert(), "--poll-wait", "1"});
  EXPECT_FALSE(anonymous.Start());
  EXPECT_NE(anonymous.Log().find("UNAUTHENTICATED"), std::string::npos) << anonymous.Log();
}

TEST_F(TlsTest, BothDoorsServeARenewedCertificateAfterSighup) {
  const std::string grpc_address = berthd_->grpc_address();
  const std::string http_address = berthd_->http_address();
  const std::string first = CertificateSerial(server_.cert);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(PeerCertificateSerial(grpc_address, ca_.cert()), first);
  EXPECT_EQ(PeerCertificateSerial(http_address, ca_.cert()), first);

  // The HTTP door serves only TLS: /healthz answers over it.
  std::string health;
  {
    FILE* p = popen(("curl -s --cacert " + ca_.cert() + " https://" + http_address + "/healthz").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buffer[64] = {};
    size_t n = fread(buffer, 1, sizeof(buffer) - 1, p);
    pclose(p);
    health.assign(buffer, n);
  }
  EXPECT_EQ(health, "ok\n");

  // Renew the certificate in place (same files, new serial) and signal berthd.
  KeyPair renewed = ca_.IssueServer("server");
  const std::string second = CertificateSerial(renewed.cert);
  ASSERT_NE(second, first);
  ASSERT_EQ(kill(berthd_->pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return PeerCertificateSerial(http_address, ca_.cert()) == second; }, 10000))
      << berthd_->Log();
  // gRPC re-reads the files every --tls-refresh seconds (1 here).
  EXPECT_TRUE(WaitFor([&] { return PeerCertificateSerial(grpc_address, ca_.cert()) == second; }, 10000))
      << berthd_->Log();
  // And it still answers.
  auto admin = v1::ContainerService::NewStub(TlsChannel(grpc_address, ca_.cert(), nullptr));
  v1::ListClustersResponse clusters;
  EXPECT_TRUE(
      Call(*admin, &v1::ContainerService::Stub::ListClusters, v1::ListClustersRequest(), &clusters, kAdmin).ok());

  // A broken replacement keeps the current certificate on the HTTP door.
  std::ofstream(server_.key) << "not a key\n";
  ASSERT_EQ(kill(berthd_->pid(), SIGHUP), 0);
  EXPECT_TRUE(
      WaitFor([&] { return berthd_->Log().find("keeps its previous certificate") != std::string::npos; }, 10000))
      << berthd_->Log();
  EXPECT_EQ(PeerCertificateSerial(http_address, ca_.cert()), second);
}

TEST(TlsStartTest, RefusesUnusableTlsFilesNamingTheFlag) {
  TempDir dir;
  TestCa ca(dir.path(), "ca");
  ASSERT_TRUE(ca.ok());
  KeyPair a = ca.IssueServer("a");
  KeyPair b = ca.IssueServer("b");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"--tls-cert", a.cert}, "--tls-cert and --tls-key go together"},
      {{"--tls-cert", a.cert, "--tls-key", b.key}, "--tls-key: the key in"},
      {{"--tls-cert", dir.Sub("missing.pem"), "--tls-key", a.key}, "--tls-cert: cannot load a PEM certificate chain"},
      {{"--tls-cert", a.cert, "--tls-key", a.cert}, "--tls-key: cannot load a PEM private key"},
      {{"--tls-client-ca", ca.cert()}, "--tls-client-ca needs --tls-cert"},
      {{"--tls-cert", a.cert, "--tls-key", a.key, "--tls-client-ca", a.key}, "--tls-client-ca: no PEM CA certificate"},
  };
  int n = 0;
  for (const Case& c : cases) {
    BerthdProcess berthd(dir.Sub("d" + std::to_string(n++)), c.flags);
    EXPECT_FALSE(berthd.Start()) << c.message;
    EXPECT_NE(berthd.Log().find(c.message), std::string::npos) << berthd.Log();
  }
}

}  // namespace
}  // namespace berth::testutil
