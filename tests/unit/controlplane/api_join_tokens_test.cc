// Join tokens and instance credentials (src/controlplane/auth/join_tokens.cc): what a token allows,
// how it is used up, expires and is deleted, what an instance credential may act as, and that all
// of it survives a restart.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using Kind = AgentCredential::Kind;

constexpr char kResources[] = R"("totalResources":[{"name":"CPU","type":"INTEGER","integerValue":1024},)"
                              R"({"name":"MEMORY","type":"INTEGER","integerValue":2048}])";

class JoinTokenTest : public ApiFixture {
 protected:
  // CreateJoinToken with `json`; returns the response (the token's secret in .token()).
  v1::CreateJoinTokenResponse Create(const std::string& json = "{}") {
    v1::CreateJoinTokenResponse response;
    absl::Status s = Do(&JoinTokenActions::CreateJoinToken, Json<v1::CreateJoinTokenRequest>(json), &response);
    EXPECT_TRUE(s.ok()) << s;
    return response;
  }
  absl::Status CreateError(const std::string& json) {
    return Do<v1::CreateJoinTokenResponse>(&JoinTokenActions::CreateJoinToken, json);
  }

  // Registers with `authorization` as the agent door would; the response's credential and the
  // instance's ARN are in `response`.
  absl::Status Join(const std::string& authorization, v1::RegisterContainerInstanceResponse* response,
                    const std::string& cluster = "default", const std::string& arn = "") {
    std::string json = R"({"cluster":")" + cluster + R"(",)" + kResources;
    if (!arn.empty()) json += R"(,"containerInstanceArn":")" + arn + R"(")";
    json += "}";
    AgentCredential credential = ParseAgentCredential(&authorization);
    // The request must outlive the call, as gRPC's does.
    const auto request = Json<v1::RegisterContainerInstanceRequest>(json);
    std::promise<absl::Status> done;
    api_->instances().RegisterInstance(request, response, credential,
                                       [&](absl::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }
  absl::Status Join(const std::string& authorization, const std::string& cluster = "default") {
    v1::RegisterContainerInstanceResponse response;
    return Join(authorization, &response, cluster);
  }

  static std::string Bearer(const std::string& secret) { return "Bearer " + secret; }
  static std::string IdOf(const v1::RegisterContainerInstanceResponse& r) {
    const std::string& arn = r.container_instance().container_instance_arn();
    return arn.substr(arn.rfind('/') + 1);
  }

  absl::Status Admit(const std::string& instance, const std::string& authorization, bool enforce = true) {
    return api_->instances().AdmitInstanceCaller("default", instance, ParseAgentCredential(&authorization), enforce);
  }

  v1::ListJoinTokensResponse List(const std::string& cluster = "default") {
    v1::ListJoinTokensResponse response;
    EXPECT_TRUE(Do(&JoinTokenActions::ListJoinTokens,
                   Json<v1::ListJoinTokensRequest>(R"({"cluster":")" + cluster + R"("})"), &response)
                    .ok());
    return response;
  }
};

TEST(ParseAgentCredentialTest, RecognisesJoinTokensAndInstanceCredentialsOnly) {
  auto parse = [](const std::string& value) { return ParseAgentCredential(&value); };
  EXPECT_EQ(ParseAgentCredential(nullptr).kind, Kind::kNone);
  EXPECT_EQ(parse("Bearer some-api-token").kind, Kind::kNone);
  EXPECT_EQ(parse("Basic bjt-a.b").kind, Kind::kNone);
  AgentCredential join = parse("Bearer bjt-0123abcd.s3cret");
  EXPECT_EQ(join.kind, Kind::kJoinToken);
  EXPECT_EQ(join.id, "0123abcd");
  EXPECT_EQ(join.secret_sha256.size(), 64u);
  AgentCredential instance = parse("bearer   bic-i-1.xyz");
  EXPECT_EQ(instance.kind, Kind::kInstance);
  EXPECT_EQ(instance.id, "i-1");
  // Malformed but recognisably ours: the kind stays so the call is refused, not passed on.
  for (const char* bad : {"Bearer bjt-", "Bearer bjt-abc", "Bearer bjt-.secret", "Bearer bic-id."}) {
    AgentCredential c = parse(bad);
    EXPECT_NE(c.kind, Kind::kNone) << bad;
    EXPECT_TRUE(c.id.empty()) << bad;
  }
}

TEST_F(JoinTokenTest, CreateDefaultsToOneRegistrationForADayAndShowsTheSecretOnce) {
  v1::CreateJoinTokenResponse created = Create(R"({"description":"rack 7"})");
  const v1::JoinToken& t = created.join_token();
  EXPECT_EQ(t.registration_limit(), 1);
  EXPECT_EQ(t.registrations_count(), 0);
  EXPECT_EQ(t.description(), "rack 7");
  EXPECT_DOUBLE_EQ(t.expiration_date(), clock_.NowSeconds() + 24 * 3600);
  EXPECT_THAT(t.cluster_arn(), HasSubstr(":cluster/default"));
  EXPECT_THAT(created.token(), MatchesRegex("bjt-" + t.join_token_id() + "\\.[0-9a-f]{64}"));

  v1::ListJoinTokensResponse listed = List();
  ASSERT_EQ(listed.join_tokens_size(), 1);
  EXPECT_EQ(listed.join_tokens(0).join_token_id(), t.join_token_id());
  EXPECT_EQ(listed.join_tokens(0).cluster_arn(), t.cluster_arn());
  // Nothing listed carries the secret.
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(listed, &json).ok());
  EXPECT_THAT(json, ::testing::Not(HasSubstr(created.token().substr(created.token().find('.') + 1))));
}

TEST_F(JoinTokenTest, CreateRefusesBadInputNamingTheField) {
  EXPECT_THAT(CreateError(R"({"registrationLimit":0})").message(), HasSubstr("registrationLimit"));
  EXPECT_THAT(CreateError(R"({"registrationLimit":1001})").message(), HasSubstr("registrationLimit"));
  EXPECT_THAT(CreateError(R"({"expirationDate":1})").message(), HasSubstr("expirationDate"));
  const double too_late = clock_.NowSeconds() + 31 * 24 * 3600;
  EXPECT_THAT(CreateError(R"({"expirationDate":)" + std::to_string(too_late) + "}").message(),
              HasSubstr("expirationDate"));
  EXPECT_THAT(CreateError(R"({"description":")" + std::string(257, 'x') + R"("})").message(), HasSubstr("description"));
  EXPECT_EQ(CreateError(R"({"cluster":"nope"})").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(List().join_tokens_size(), 0);
}

TEST_F(JoinTokenTest, ARegistrationUsesTheTokenOnceAndAnswersTheInstancesCredential) {
  v1::CreateJoinTokenResponse created = Create(R"({"registrationLimit":2})");
  v1::RegisterContainerInstanceResponse first;
  ASSERT_TRUE(Join(Bearer(created.token()), &first).ok());
  const std::string id = IdOf(first);
  EXPECT_THAT(first.instance_credential(), MatchesRegex("bic-" + id + "\\.[0-9a-f]{64}"));
  EXPECT_EQ(List().join_tokens(0).registrations_count(), 1);

  v1::RegisterContainerInstanceResponse second;
  ASSERT_TRUE(Join(Bearer(created.token()), &second).ok());
  EXPECT_NE(IdOf(second), id);
  EXPECT_NE(second.instance_credential(), first.instance_credential());

  absl::Status used_up = Join(Bearer(created.token()));
  EXPECT_EQ(used_up.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(used_up.message(), HasSubstr("used up: 2 of 2"));
  EXPECT_EQ(List().join_tokens(0).registrations_count(), 2);
}

TEST_F(JoinTokenTest, AWrongSecretAnotherClustersTokenOrAnExpiredTokenRegistersNothing) {
  v1::CreateJoinTokenResponse created = Create(R"({"registrationLimit":5})");
  std::string wrong = created.token();
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_EQ(Join(Bearer(wrong)).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Join("Bearer bjt-nosuchid.abc").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Join("Bearer bjt-malformed").code(), absl::StatusCode::kUnauthenticated);

  ASSERT_TRUE((Do<v1::CreateClusterResponse>(&ClusterActions::CreateCluster, R"({"clusterName":"other"})").ok()));
  absl::Status elsewhere = Join(Bearer(created.token()), "other");
  EXPECT_EQ(elsewhere.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(elsewhere.message(), HasSubstr("cluster 'other'"));

  clock_.Advance(int64_t{24} * 3600 * 1'000'000);
  absl::Status expired = Join(Bearer(created.token()));
  EXPECT_EQ(expired.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(expired.message()), HasSubstr("expired at 2023-11-15T22:13:20Z"));
  EXPECT_EQ(List().join_tokens(0).registrations_count(), 0);
  v1::ListContainerInstancesResponse instances;
  ASSERT_TRUE(
      Do(&InstanceActions::ListContainerInstances, Json<v1::ListContainerInstancesRequest>("{}"), &instances).ok());
  EXPECT_EQ(instances.container_instance_arns_size(), 0);
}

TEST_F(JoinTokenTest, AJoinTokenDoesNotReRegisterAnExistingInstance) {
  v1::CreateJoinTokenResponse created = Create(R"({"registrationLimit":2})");
  v1::RegisterContainerInstanceResponse first;
  ASSERT_TRUE(Join(Bearer(created.token()), &first).ok());
  v1::RegisterContainerInstanceResponse again;
  absl::Status s =
      Join(Bearer(created.token()), &again, "default", first.container_instance().container_instance_arn());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("containerInstanceArn"));
  EXPECT_EQ(List().join_tokens(0).registrations_count(), 1);
  // With its own credential it re-registers, and gets no new credential.
  ASSERT_TRUE(
      Join(Bearer(first.instance_credential()), &again, "default", first.container_instance().container_instance_arn())
          .ok());
  EXPECT_EQ(IdOf(again), IdOf(first));
  EXPECT_TRUE(again.instance_credential().empty());
}

TEST_F(JoinTokenTest, AnInstanceCredentialActsAsItsOwnInstanceOnly) {
  v1::CreateJoinTokenResponse created = Create(R"({"registrationLimit":2})");
  v1::RegisterContainerInstanceResponse a, b;
  ASSERT_TRUE(Join(Bearer(created.token()), &a).ok());
  ASSERT_TRUE(Join(Bearer(created.token()), &b).ok());
  const std::string plain = AddInstance("default", 1024, 1024);  // registered without a join token

  EXPECT_TRUE(Admit(IdOf(a), Bearer(a.instance_credential())).ok());
  EXPECT_TRUE(Admit(a.container_instance().container_instance_arn(), Bearer(a.instance_credential())).ok());
  EXPECT_EQ(Admit(IdOf(b), Bearer(a.instance_credential())).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Admit(plain, Bearer(a.instance_credential())).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Admit("", Bearer(a.instance_credential())).code(), absl::StatusCode::kPermissionDenied);
  // Claiming b's id with a's secret.
  std::string forged = a.instance_credential();
  forged.replace(4, IdOf(a).size(), IdOf(b));
  EXPECT_EQ(Admit(IdOf(b), Bearer(forged)).code(), absl::StatusCode::kUnauthenticated);
  // The join token itself polls and reports for no one.
  EXPECT_EQ(Admit(IdOf(a), Bearer(created.token())).code(), absl::StatusCode::kPermissionDenied);

  // Other callers (API tokens, certificates): with authentication on, not for a bound instance.
  EXPECT_EQ(Admit(IdOf(a), "Bearer api-token").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Admit(plain, "Bearer api-token").ok());
  EXPECT_TRUE(Admit(IdOf(a), "Bearer api-token", /*enforce=*/false).ok());
}

TEST_F(JoinTokenTest, ABoundInstanceIsReRegisteredByItsCredentialOnlyAndDeregistrationVoidsIt) {
  v1::CreateJoinTokenResponse created = Create();
  v1::RegisterContainerInstanceResponse a;
  ASSERT_TRUE(Join(Bearer(created.token()), &a).ok());
  const std::string arn = a.container_instance().container_instance_arn();
  // The ECS door's RegisterContainerInstance (any principal allowed it) cannot touch it.
  absl::Status hijack = Do<v1::RegisterContainerInstanceResponse, v1::RegisterContainerInstanceRequest>(
      &InstanceActions::RegisterContainerInstance,
      std::string(R"({"containerInstanceArn":")") + arn + R"(",)" + kResources + "}");
  EXPECT_EQ(hijack.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(hijack.message()), HasSubstr("only its own instance credential may re-register it"));
  v1::RegisterContainerInstanceResponse again;
  EXPECT_TRUE(Join(Bearer(a.instance_credential()), &again, "default", arn).ok());

  v1::DeregisterContainerInstanceResponse gone;
  ASSERT_TRUE(
      Do(&InstanceActions::DeregisterContainerInstance,
         Json<v1::DeregisterContainerInstanceRequest>(R"({"containerInstance":")" + IdOf(a) + R"(","force":true})"),
         &gone)
          .ok());
  absl::Status void_credential = Admit(IdOf(a), Bearer(a.instance_credential()));
  EXPECT_EQ(void_credential.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(void_credential.message()), HasSubstr("was deregistered"));
}

TEST_F(JoinTokenTest, DeletedTokensRegisterNothingAndTheirInstancesKeepTheirCredentials) {
  v1::CreateJoinTokenResponse created = Create(R"({"registrationLimit":3})");
  v1::RegisterContainerInstanceResponse a;
  ASSERT_TRUE(Join(Bearer(created.token()), &a).ok());
  v1::DeleteJoinTokenResponse deleted;
  ASSERT_TRUE(
      Do(&JoinTokenActions::DeleteJoinToken,
         Json<v1::DeleteJoinTokenRequest>(R"({"joinTokenId":")" + created.join_token().join_token_id() + R"("})"),
         &deleted)
          .ok());
  EXPECT_EQ(deleted.join_token().registrations_count(), 1);
  EXPECT_EQ(List().join_tokens_size(), 0);
  EXPECT_EQ(Join(Bearer(created.token())).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Admit(IdOf(a), Bearer(a.instance_credential())).ok());
  absl::Status again = Do<v1::DeleteJoinTokenResponse>(
      &JoinTokenActions::DeleteJoinToken, R"({"joinTokenId":")" + created.join_token().join_token_id() + R"("})");
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(again.message(), HasSubstr("joinTokenId"));
  EXPECT_THAT(Do<v1::DeleteJoinTokenResponse>(&JoinTokenActions::DeleteJoinToken, "{}").message(),
              HasSubstr("joinTokenId"));
}

TEST_F(JoinTokenTest, AtMostAHundredUsableTokensPerClusterAndUnusableOnesMakeRoom) {
  v1::CreateJoinTokenResponse first = Create();
  for (int i = 1; i < 100; ++i) Create();
  absl::Status full = CreateError("{}");
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("100 usable join tokens"));
  ASSERT_TRUE(Join(Bearer(first.token())).ok());  // used up now
  EXPECT_TRUE(CreateError("{}").ok());
  EXPECT_EQ(List().join_tokens_size(), 100);
}

TEST_F(JoinTokenTest, UsesAndCredentialsSurviveARestart) {
  v1::CreateJoinTokenResponse created = Create(R"({"registrationLimit":2})");
  v1::RegisterContainerInstanceResponse a;
  ASSERT_TRUE(Join(Bearer(created.token()), &a).ok());
  Restart();
  ASSERT_EQ(List().join_tokens_size(), 1);
  EXPECT_EQ(List().join_tokens(0).registrations_count(), 1);
  EXPECT_TRUE(Admit(IdOf(a), Bearer(a.instance_credential())).ok());
  EXPECT_EQ(Admit(IdOf(a), "Bearer api-token").code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(Join(Bearer(created.token())).ok());
  EXPECT_EQ(Join(Bearer(created.token())).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace berth::controlplane

namespace berth::controlplane {
namespace {

// GetTaskCredentials' lookup: the role of a task on the asking instance, and nothing else.
class TaskRoleTest : public ApiFixture {};

TEST_F(TaskRoleTest, ATasksRoleIsGivenOnlyToItsOwnInstance) {
  const std::string a = AddInstance("default", 1024, 1024);
  const std::string b = AddInstance("default", 1024, 1024);
  ASSERT_TRUE(
      (Do<v1::RegisterTaskDefinitionResponse, v1::RegisterTaskDefinitionRequest>(
           &TaskDefinitionActions::RegisterTaskDefinition,
           R"({"family":"web","taskRoleArn":"web-app","containerDefinitions":[{"name":"c","image":"i","memory":8}]})")
           .ok()));
  AddTaskDefinition("plain", 1, 8);
  auto start = [&](const std::string& json) {
    v1::StartTaskResponse started;
    EXPECT_TRUE(Do(&TaskActions::StartTask, Json<v1::StartTaskRequest>(json), &started).ok());
    return started.tasks(0).task_arn();
  };
  const std::string with_role = start(R"({"taskDefinition":"web","containerInstances":[")" + a + R"("]})");
  const std::string plain = start(R"({"taskDefinition":"plain","containerInstances":[")" + a + R"("]})");
  const std::string overridden = start(R"({"taskDefinition":"plain","containerInstances":[")" + a +
                                       R"("],"overrides":{"taskRoleArn":"arn:aws:iam::000000000000:role/ops"}})");
  auto role_of = [&](const std::string& instance, const std::string& task) {
    v1::GetTaskCredentialsRequest request;
    request.set_cluster("default");
    request.set_container_instance(instance);
    request.set_task_arn(task);
    return api_->agent().TaskRoleOf(request);
  };
  ASSERT_TRUE(role_of(a, with_role).ok());
  EXPECT_EQ(*role_of(a, with_role), "web-app");
  EXPECT_EQ(*role_of(a, overridden), "arn:aws:iam::000000000000:role/ops");
  EXPECT_EQ(role_of(a, plain).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(role_of(b, with_role).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(role_of(a, "not-a-task").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::controlplane
