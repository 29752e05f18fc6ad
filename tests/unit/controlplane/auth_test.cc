// Authority: the --auth-config file, token authentication (missing, malformed, unknown, expired,
// revoked, revoked by a reload), authorization with the audit log, and what each action is
// authorized against.
#include "src/controlplane/auth/auth.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "src/controlplane/auth/authz.h"
#include "tests/testutil/temp_dir.h"

namespace berth::controlplane::auth {
namespace {

constexpr char kAliceToken[] = "alice-token-0123456789abcdef0123456789";
constexpr char kBobToken[] = "bob-token-0123456789abcdef0123456789abc";
constexpr char kOldToken[] = "old-token-0123456789abcdef0123456789abc";
constexpr char kGoneToken[] = "gone-token-0123456789abcdef0123456789ab";
constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15

std::string Config(bool bob_revoked = false) {
  nlohmann::json c = {
      {"policies",
       {{"admin",
         {{"Version", "2012-10-17"}, {"Statement", {{{"Effect", "Allow"}, {"Action", "*"}, {"Resource", "*"}}}}}},
        {"dev-only",
         {{"Version", "2012-10-17"},
          {"Statement",
           {{{"Effect", "Allow"},
             {"Action", {"ecs:Describe*", "ecs:List*", "ecs:RunTask", "ecs:StopTask"}},
             {"Resource", "*"},
             {"Condition", {{"ArnLikeIfExists", {{"ecs:cluster", "arn:aws:ecs:*:*:cluster/dev"}}}}}},
            {{"Effect", "Allow"},
             {"Action", "ecs:DescribeClusters"},
             {"Resource", "arn:aws:ecs:*:*:cluster/dev"}}}}}}}},
      {"roles", {{"web-app", {{"policies", {"dev-only"}}}}}},
      {"principals",
       {{"alice",
         {{"policies", {"admin"}},
          {"tokens",
           {{{"sha256", TokenSha256Hex(kAliceToken)}, {"description", "laptop"}},
            {{"sha256", TokenSha256Hex(kOldToken)}, {"expires", "2026-01-01T00:00:00Z"}},
            {{"sha256", TokenSha256Hex(kGoneToken)}, {"revoked", true}}}},
          {"accessKeys", {{{"accessKeyId", "AKIAALICE0000000"}, {"secretAccessKey", "alice-secret-000000"}}}}}},
        {"bob",
         {{"policies", {"dev-only"}}, {"tokens", {{{"sha256", TokenSha256Hex(kBobToken)}, {"revoked", bob_revoked}}}}}},
        {"fleet", {{"policies", {"dev-only"}}, {"certificates", {"*.fleet.berth", "spiffe://berth/agent/?"}}}}}}};
  return c.dump(2);
}

class AuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override { Write(Config()); }
  void Write(const std::string& text) { std::ofstream(dir_.Sub("auth.json")) << text; }
  std::unique_ptr<Authority> Make() {
    Authority::Options options;
    options.config_path = dir_.Sub("auth.json");
    options.audit_path = dir_.Sub("audit.jsonl");
    options.now_seconds = [] { return kNow; };
    auto a = Authority::Create(std::move(options));
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *std::move(a) : nullptr;
  }
  std::vector<nlohmann::json> AuditLines() {
    std::ifstream in(dir_.Sub("audit.jsonl"));
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  static std::string Bearer(std::string_view token) { return "Bearer " + std::string(token); }

  testutil::TempDir dir_;
};

TEST_F(AuthorityTest, TokensAuthenticateAndEveryBadOneIsRefusedSayingWhy) {
  auto authority = Make();
  ASSERT_TRUE(authority->enabled());
  std::string header = Bearer(kAliceToken);
  auto alice = authority->Authenticate(&header);
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->principal, "alice");
  EXPECT_FALSE(alice->unrestricted);

  struct Case {
    std::optional<std::string> header;
    const char* error;
  };
  const Case cases[] = {
      {std::nullopt, "missing credentials"},
      {"", "missing credentials"},
      {"Basic dXNlcjpwdw==", "malformed authorization"},
      {"Bearer ", "malformed authorization"},
      {Bearer("not-a-token"), "the token is not valid"},
      {Bearer(kOldToken), "the token expired at 2026-01-01T00:00:00Z"},
      {Bearer(kGoneToken), "the token has been revoked"},
  };
  for (const Case& c : cases) {
    auto who = authority->Authenticate(c.header ? &*c.header : nullptr);
    ASSERT_FALSE(who.ok()) << c.error;
    EXPECT_EQ(who.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_NE(who.status().message().find(c.error), std::string::npos) << who.status();
  }
}

TEST_F(AuthorityTest, RevocationTakesEffectOnTheNextRequestAfterReload) {
  auto authority = Make();
  std::string header = Bearer(kBobToken);
  ASSERT_TRUE(authority->Authenticate(&header).ok());
  Write(Config(/*bob_revoked=*/true));
  ASSERT_TRUE(authority->Reload().ok());
  auto who = authority->Authenticate(&header);
  ASSERT_FALSE(who.ok());
  EXPECT_NE(who.status().message().find("revoked"), std::string::npos);
  // A broken file leaves the last good configuration in force.
  Write("{ not json");
  absl::Status reloaded = authority->Reload();
  EXPECT_FALSE(reloaded.ok());
  EXPECT_NE(reloaded.message().find("not valid JSON"), std::string::npos) << reloaded;
  std::string alice = Bearer(kAliceToken);
  EXPECT_TRUE(authority->Authenticate(&alice).ok());
}

TEST_F(AuthorityTest, AccessKeysNameTheirPrincipal) {
  auto authority = Make();
  auto key = authority->AccessKey("AKIAALICE0000000");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->first, "alice-secret-000000");
  EXPECT_EQ(key->second.principal, "alice");
  EXPECT_FALSE(authority->AccessKey("AKIAUNKNOWN00000").has_value());
}

TEST_F(AuthorityTest, PoliciesDecideAndTheAuditLogRecordsMutationsAndDenials) {
  auto authority = Make();
  std::string header = Bearer(kBobToken);
  Identity bob = *authority->Authenticate(&header);
  const Arns& arns = authority->arns();

  v1::RunTaskRequest run;
  run.set_cluster("dev");
  run.set_task_definition("web:3");
  EXPECT_TRUE(Admit(*authority, "grpc", "RunTask", bob, run).ok());
  run.set_cluster("prod");
  absl::Status denied = Admit(*authority, "grpc", "RunTask", bob, run);
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrorType(denied), "AccessDeniedException");
  EXPECT_EQ(denied.message(),
            "User: bob is not authorized to perform: ecs:RunTask on resource: "
            "arn:aws:ecs:local:000000000000:task-definition/web:3 because no policy allows it");
  v1::DeleteClusterRequest del;
  del.set_cluster("dev");
  EXPECT_EQ(Admit(*authority, "aws", "DeleteCluster", bob, del).code(), absl::StatusCode::kPermissionDenied);
  // Reads are allowed without an audit line. A malformed name is authorized on "*": bob's
  // describe rights hold for any resource outside a named cluster, so the handler gets to refuse
  // it; his DeleteCluster rights do not.
  v1::DescribeTasksRequest describe;
  describe.set_cluster("dev");
  describe.add_tasks(std::string(32, 'a'));
  EXPECT_TRUE(Admit(*authority, "grpc", "DescribeTasks", bob, describe).ok());
  describe.add_tasks("not/a/task");
  EXPECT_TRUE(Admit(*authority, "grpc", "DescribeTasks", bob, describe).ok());
  del.set_cluster("arn:aws:ecs:elsewhere:1:cluster/x");
  absl::Status malformed = Admit(*authority, "grpc", "DeleteCluster", bob, del);
  EXPECT_EQ(ErrorType(malformed), "AccessDeniedException");
  EXPECT_NE(malformed.message().find("on resource: *"), std::string::npos) << malformed;
  authority->AuditRefused("grpc", "RunTask", "the token is not valid");

  std::vector<nlohmann::json> lines = AuditLines();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["principal"], "bob");
  EXPECT_EQ(lines[0]["action"], "ecs:RunTask");
  EXPECT_EQ(lines[0]["decision"], "Allow");
  EXPECT_EQ(lines[0]["door"], "grpc");
  EXPECT_EQ(lines[0]["resource"], arns.TaskDefinition("web", 3));
  EXPECT_EQ(lines[0]["time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(lines[1]["decision"], "ImplicitDeny");
  EXPECT_EQ(lines[2]["action"], "ecs:DeleteCluster");
  EXPECT_EQ(lines[2]["resource"], arns.Cluster("dev"));
  EXPECT_EQ(lines[2]["door"], "aws");
  EXPECT_EQ(lines[3]["action"], "ecs:DeleteCluster");
  EXPECT_EQ(lines[3]["resource"], "*");
  EXPECT_EQ(lines[4]["decision"], "Unauthenticated");
  EXPECT_EQ(lines[4]["reason"], "the token is not valid");
}

TEST_F(AuthorityTest, ListsShowOnlyWhatThePrincipalMayDescribe) {
  auto authority = Make();
  std::string header = Bearer(kBobToken);
  Identity bob = *authority->Authenticate(&header);
  const Arns& arns = authority->arns();
  v1::ListClustersResponse clusters;
  clusters.add_cluster_arns(arns.Cluster("prod"));
  clusters.add_cluster_arns(arns.Cluster("dev"));
  clusters.add_cluster_arns(arns.Cluster("staging"));
  FilterVisible(*authority, bob, &clusters);
  ASSERT_EQ(clusters.cluster_arns_size(), 1);
  EXPECT_EQ(clusters.cluster_arns(0), arns.Cluster("dev"));

  v1::ListTasksResponse tasks;
  tasks.add_task_arns(arns.Task("prod", std::string(32, 'a')));
  tasks.add_task_arns(arns.Task("dev", std::string(32, 'b')));
  FilterVisible(*authority, bob, &tasks);
  ASSERT_EQ(tasks.task_arns_size(), 1);
  EXPECT_EQ(tasks.task_arns(0), arns.Task("dev", std::string(32, 'b')));

  Identity anyone = Anonymous();
  v1::ListTasksResponse all;
  all.add_task_arns(arns.Task("prod", std::string(32, 'a')));
  FilterVisible(*authority, anyone, &all);
  EXPECT_EQ(all.task_arns_size(), 1);
}

TEST_F(AuthorityTest, WithoutAConfigEveryoneIsAnonymousAndUnrestricted) {
  auto authority = Authority::Create({});
  ASSERT_TRUE(authority.ok());
  EXPECT_FALSE((*authority)->enabled());
  EXPECT_FALSE((*authority)->aws_enabled());
  std::string junk = "Bearer whatever";
  auto who = (*authority)->Authenticate(&junk);
  ASSERT_TRUE(who.ok());
  EXPECT_TRUE(who->unrestricted);
  // --access-key alone protects the AWS door only, with principals allowed everything.
  Authority::Options keys_only;
  keys_only.legacy_access_keys = {{"AKIDEXAMPLE00000", "secret"}};
  auto keyed = Authority::Create(std::move(keys_only));
  ASSERT_TRUE(keyed.ok());
  EXPECT_FALSE((*keyed)->enabled());
  EXPECT_TRUE((*keyed)->aws_enabled());
  auto key = (*keyed)->AccessKey("AKIDEXAMPLE00000");
  ASSERT_TRUE(key.has_value());
  v1::DeleteClusterRequest del;
  EXPECT_TRUE(Admit(**keyed, "aws", "DeleteCluster", key->second, del).ok());
}

TEST_F(AuthorityTest, AVerifiedClientCertificateNamesItsPrincipalUnlessATokenIsSent) {
  auto authority = Make();
  for (std::vector<std::string> names :
       std::vector<std::vector<std::string>>{{"host-1.fleet.berth"}, {"host-1", "spiffe://berth/agent/7"}}) {
    auto who = authority->Authenticate(nullptr, names);
    ASSERT_TRUE(who.ok()) << who.status();
    EXPECT_EQ(who->principal, "fleet");
  }
  auto stranger = authority->Authenticate(nullptr, {"host-1.other.berth", "host-1"});
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.status().message(),
            "the client certificate (host-1.other.berth, host-1) is not the certificate of any principal");
  // A token wins over the certificate the connection carries.
  const std::string alice = Bearer(kAliceToken);
  EXPECT_EQ(authority->Authenticate(&alice, {"host-1.fleet.berth"})->principal, "alice");
  // No token and no certificate.
  auto nobody = authority->Authenticate(nullptr, {});
  ASSERT_FALSE(nobody.ok());
  EXPECT_NE(nobody.status().message().find("or a client certificate of a principal"), std::string::npos);
}

TEST(RoleCredentialsTest, IssuedCredentialsVerifyUntilTheyExpireAndNotWhenAltered) {
  testutil::TempDir dir;
  auto credentials = RoleCredentials::Open(dir.Sub("key"));
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  const std::string task = "arn:aws:ecs:local:000000000000:task/default/0123456789abcdef0123456789abcdef";
  IssuedCredentials issued = credentials->Issue("web-app", task, kNow);
  EXPECT_EQ(issued.access_key_id.size(), 20u);
  EXPECT_EQ(issued.access_key_id.substr(0, 4), "ASIA");
  EXPECT_EQ(issued.secret_access_key.size(), 40u);
  EXPECT_EQ(issued.expiration, kNow + RoleCredentials::kLifetimeSeconds);

  auto claims = credentials->Verify(issued.access_key_id, issued.session_token, kNow + 10);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->role, "web-app");
  EXPECT_EQ(claims->task_arn, task);
  EXPECT_EQ(claims->secret_access_key, issued.secret_access_key);
  // The key file makes them valid after a restart; a new key voids them.
  auto reopened = RoleCredentials::Open(dir.Sub("key"));
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(reopened->Verify(issued.access_key_id, issued.session_token, kNow).ok());
  auto other = RoleCredentials::Open("");
  EXPECT_EQ(other->Verify(issued.access_key_id, issued.session_token, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);

  EXPECT_NE(credentials->Verify(issued.access_key_id, issued.session_token, issued.expiration)
                .status()
                .message()
                .find("expired"),
            std::string_view::npos);
  EXPECT_NE(credentials->Verify("ASIA0000000000000000", issued.session_token, kNow)
                .status()
                .message()
                .find("not issued with this access key id"),
            std::string_view::npos);
  // Any change to the claims or the MAC fails.
  for (size_t i : {size_t{5}, size_t{20}, issued.session_token.size() - 1}) {
    std::string altered = issued.session_token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(credentials->Verify(issued.access_key_id, altered, kNow).ok()) << i;
  }
  for (const char* junk : {"", "bst1", "bst1..", "x.y.z", "bst1.!!!.00"}) {
    EXPECT_FALSE(credentials->Verify(issued.access_key_id, junk, kNow).ok()) << junk;
  }
  std::ofstream(dir.Sub("short")) << "not a key";
  EXPECT_EQ(RoleCredentials::Open(dir.Sub("short")).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(AuthorityTest, TaskRoleCredentialsStandForTheRoleWhileItIsDefined) {
  auto authority = Make();
  const std::string task = "arn:aws:ecs:local:000000000000:task/dev/0123456789abcdef0123456789abcdef";
  auto issued = authority->IssueRoleCredentials("arn:aws:iam::000000000000:role/web-app", task);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_TRUE(authority->IssueRoleCredentials("web-app", task).ok());  // a short name
  EXPECT_EQ(authority->IssueRoleCredentials("arn:aws:iam::000000000000:role/admin", task).status().message(),
            "taskRoleArn: role 'admin' is not defined under roles in --auth-config");
  EXPECT_EQ(authority->IssueRoleCredentials("arn:aws:iam::999999999999:role/web-app", task).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Roles have no paths: iam:PassRole on role/team/* must not pass a role named web-app.
  EXPECT_EQ(authority->IssueRoleCredentials("arn:aws:iam::000000000000:role/team/web-app", task).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(authority->IssueRoleCredentials("team/web-app", task).status().code(),
            absl::StatusCode::kFailedPrecondition);

  auto session = authority->SessionKey(issued->access_key_id, issued->session_token);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->first, issued->secret_access_key);
  EXPECT_EQ(session->second.principal, "assumed-role/web-app/0123456789abcdef0123456789abcdef");
  // The role's policies decide: dev-only allows RunTask in dev only.
  const std::vector<AccessRequest> in_dev = {
      {.action = "ecs:RunTask",
       .resource = "arn:aws:ecs:local:000000000000:task-definition/web:1",
       .context = {{"ecs:cluster", "arn:aws:ecs:local:000000000000:cluster/dev"}}}};
  EXPECT_TRUE(authority->Authorize(session->second, "aws", "RunTask", in_dev).ok());
  const std::vector<AccessRequest> in_prod = {
      {.action = "ecs:RunTask",
       .resource = "arn:aws:ecs:local:000000000000:task-definition/web:1",
       .context = {{"ecs:cluster", "arn:aws:ecs:local:000000000000:cluster/prod"}}}};
  EXPECT_EQ(authority->Authorize(session->second, "aws", "RunTask", in_prod).code(),
            absl::StatusCode::kPermissionDenied);

  // A role removed from the file takes its credentials with it at the next reload.
  nlohmann::json without = nlohmann::json::parse(Config());
  without.erase("roles");
  Write(without.dump());
  ASSERT_TRUE(authority->Reload().ok());
  EXPECT_NE(
      authority->SessionKey(issued->access_key_id, issued->session_token).status().message().find("no longer defined"),
      std::string_view::npos);
}

TEST(AuthConfigTest, ErrorsNameTheField) {
  struct Case {
    std::string json;
    const char* error;
  };
  const std::string sha = TokenSha256Hex("t");
  const Case cases[] = {
      {"[]", "must be a JSON object"},
      {R"({"policies":{}})", "principals: required"},
      {R"({"principals":{"a":{}},"extra":1})", ".extra: unknown field"},
      {R"({"principals":{"a":{"policies":["nope"]}}})", "principals.a.policies[0]: no policy named 'nope'"},
      {R"({"principals":{"a":{"tokens":[{"sha256":"abc"}]}}})", "principals.a.tokens[0].sha256: required"},
      {R"({"principals":{"a":{"tokens":[{"sha256":")" + sha + R"(","expires":"tomorrow"}]}}})",
       "principals.a.tokens[0].expires: must be an RFC 3339 time"},
      {R"({"principals":{"a":{"tokens":[{"sha256":")" + sha + R"("}]},"b":{"tokens":[{"sha256":")" + sha + R"("}]}}})",
       "principals.b.tokens[0].sha256: the same token is listed twice"},
      {R"({"principals":{"a":{"accessKeys":[{"accessKeyId":"short","secretAccessKey":"0123456789abcdef"}]}}})",
       "principals.a.accessKeys[0].accessKeyId: required: 16-128 characters"},
      {R"({"principals":{"a":{"certificates":"x"}}})", "principals.a.certificates: must be an array"},
      {R"({"principals":{"a":{"certificates":["*"]}}})", "principals.a.certificates[0]: a pattern of wildcards alone"},
      {R"({"principals":{"a":{"certificates":["h"]},"b":{"certificates":["h"]}}})",
       "principals.b.certificates[0]: 'h' is already the certificate name of principal a"},
      {R"({"policies":{"p":{"Statement":{"Effect":"Allow"}}},"principals":{"a":{}}})",
       "policies.p: policy 'p': Statement[0].Action: required"},
      {R"({"roles":{"r":{"policies":["nope"]}},"principals":{"a":{}}})", "roles.r.policies[0]: no policy named 'nope'"},
      {R"({"roles":{"r":{}},"principals":{"a":{}}})", "roles.r.policies: required"},
      {R"({"roles":{"bad role":{"policies":[]}},"principals":{"a":{}}})", "roles.bad role: a role's name is 1-64"},
  };
  for (const Case& c : cases) {
    auto parsed = AuthConfig::Parse(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_NE(parsed.status().message().find(c.error), std::string::npos) << c.json << " -> " << parsed.status();
  }
}

TEST(AuthzTest, EachActionIsAuthorizedAgainstTheResourceItNames) {
  Arns arns({.region = "r1", .account = "123456789012"});
  v1::StopTaskRequest stop;
  stop.set_cluster("prod");
  stop.set_task(std::string(32, 'c'));
  auto r = AccessRequestsFor(arns, stop);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].action, "ecs:StopTask");
  EXPECT_EQ((*r)[0].resource, "arn:aws:ecs:r1:123456789012:task/prod/" + std::string(32, 'c'));
  ASSERT_EQ((*r)[0].context.size(), 1u);
  EXPECT_EQ((*r)[0].context[0].second, "arn:aws:ecs:r1:123456789012:cluster/prod");

  v1::RegisterTaskDefinitionRequest reg;
  reg.set_family("web");
  r = AccessRequestsFor(arns, reg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].resource, "arn:aws:ecs:r1:123456789012:task-definition/web:*");

  v1::DescribeServicesRequest services;
  services.add_services("a");
  services.add_services("arn:aws:ecs:r1:123456789012:service/default/b");
  r = AccessRequestsFor(arns, services);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].resource, "arn:aws:ecs:r1:123456789012:service/default/b");

  v1::TagResourceRequest tag;
  tag.set_resource_arn("arn:aws:ecs:r1:123456789012:service/prod/api");
  r = AccessRequestsFor(arns, tag);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].context[0].second, "arn:aws:ecs:r1:123456789012:cluster/prod");

  v1::PollRequest poll;
  poll.set_cluster("prod");
  poll.set_container_instance(std::string(32, 'd'));
  r = AccessRequestsFor(arns, poll);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].action, "ecs:Poll");
  EXPECT_EQ((*r)[0].resource, "arn:aws:ecs:r1:123456789012:container-instance/prod/" + std::string(32, 'd'));

  v1::RunTaskRequest run;
  run.set_task_definition("arn:aws:ecs:other:123456789012:task-definition/web:1");
  EXPECT_FALSE(AccessRequestsFor(arns, run).ok()) << "an ARN of another region is malformed here";
}

}  // namespace
}  // namespace berth::controlplane::auth
