#include "src/controlplane/auth/policy.h"

#include <gtest/gtest.h>

namespace berth::controlplane::auth {
namespace {

constexpr char kProd[] = "arn:aws:ecs:local:000000000000:cluster/prod";
constexpr char kDev[] = "arn:aws:ecs:local:000000000000:cluster/dev";

Policy MustParse(const std::string& json) {
  auto p = Policy::Parse(json, "test");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : *Policy::Parse(R"({"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}})", "x");
}

AccessRequest Req(std::string action, std::string resource, std::string cluster = "") {
  AccessRequest r{.action = std::move(action), .resource = std::move(resource), .context = {}};
  if (!cluster.empty()) r.context.emplace_back("ecs:cluster", std::move(cluster));
  return r;
}

TEST(WildcardTest, MatchesIamGlobs) {
  EXPECT_TRUE(WildcardMatch("*", "", false));
  EXPECT_TRUE(WildcardMatch("*", "anything", false));
  EXPECT_TRUE(WildcardMatch("ecs:describe*", "ecs:DescribeTasks", true));
  EXPECT_FALSE(WildcardMatch("ecs:describe*", "ecs:DescribeTasks", false));
  EXPECT_TRUE(WildcardMatch("a?c", "abc", false));
  EXPECT_FALSE(WildcardMatch("a?c", "ac", false));
  EXPECT_TRUE(WildcardMatch("arn:*:cluster/*", "arn:aws:ecs:r:1:cluster/prod", false));
  EXPECT_FALSE(WildcardMatch("arn:*:cluster/prod", "arn:aws:ecs:r:1:cluster/prod2", false));
  EXPECT_TRUE(WildcardMatch("*a*b*c*", "xxaxxbxxcxx", false));
  EXPECT_FALSE(WildcardMatch("*a*b*c", "xxaxxbxxcxx", false));
  // Linear, not exponential, on a pathological pattern.
  EXPECT_FALSE(WildcardMatch(std::string(50, '*') + "b", std::string(10000, 'a'), false));
}

TEST(PolicyTest, NoStatementMeansDenyAndAllowNeedsActionAndResource) {
  Policy p = MustParse(R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":["ecs:Describe*","ecs:ListTasks"],"Resource":"*"}]})");
  EXPECT_EQ(p.Evaluate(Req("ecs:DescribeTasks", kProd)), Decision::kAllow);
  EXPECT_EQ(p.Evaluate(Req("ECS:describeclusters", kProd)), Decision::kAllow) << "actions ignore case";
  EXPECT_EQ(p.Evaluate(Req("ecs:ListTasks", kProd)), Decision::kAllow);
  EXPECT_EQ(p.Evaluate(Req("ecs:RunTask", kProd)), Decision::kImplicitDeny);
}

TEST(PolicyTest, ExplicitDenyWinsAcrossPolicies) {
  Policy allow = MustParse(R"({"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*"}})");
  Policy deny = MustParse(R"({"Statement":{"Effect":"Deny","Action":"ecs:RunTask","Resource":"*",
      "Condition":{"StringEquals":{"ecs:cluster":")" +
                          std::string(kProd) + R"("}}}})");
  EXPECT_EQ(Evaluate({&allow, &deny}, Req("ecs:RunTask", "arn:td", kProd)), Decision::kExplicitDeny);
  EXPECT_EQ(Evaluate({&allow, &deny}, Req("ecs:RunTask", "arn:td", kDev)), Decision::kAllow);
  EXPECT_EQ(Evaluate({&deny, &allow}, Req("ecs:RunTask", "arn:td", kProd)), Decision::kExplicitDeny);
  EXPECT_EQ(Evaluate({}, Req("ecs:RunTask", "arn:td", kDev)), Decision::kImplicitDeny);
}

TEST(PolicyTest, ResourcesAndConditionsScopeToACluster) {
  Policy p = MustParse(R"({"Statement":[
      {"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:*:*:*/dev*"},
      {"Effect":"Allow","Action":"ecs:RunTask","Resource":"arn:aws:ecs:*:*:task-definition/web:*",
       "Condition":{"ArnLike":{"ecs:cluster":"arn:aws:ecs:*:*:cluster/dev"}}}]})");
  EXPECT_EQ(p.Evaluate(Req("ecs:DeleteCluster", kDev)), Decision::kAllow);
  EXPECT_EQ(p.Evaluate(Req("ecs:DeleteCluster", kProd)), Decision::kImplicitDeny);
  const std::string web = "arn:aws:ecs:local:000000000000:task-definition/web:3";
  EXPECT_EQ(p.Evaluate(Req("ecs:RunTask", web, kDev)), Decision::kAllow);
  EXPECT_EQ(p.Evaluate(Req("ecs:RunTask", web, kProd)), Decision::kImplicitDeny);
  EXPECT_EQ(p.Evaluate(Req("ecs:RunTask", web)), Decision::kImplicitDeny) << "a missing key matches no value";
}

TEST(PolicyTest, NegatedOperatorsNotActionAndNotResource) {
  Policy p = MustParse(R"({"Statement":[
      {"Effect":"Allow","NotAction":"ecs:Delete*","NotResource":")" +
                       std::string(kProd) + R"("},
      {"Effect":"Deny","Action":"ecs:StopTask","Resource":"*",
       "Condition":{"StringNotEquals":{"berth:principal":["alice","bob"]}}}]})");
  EXPECT_EQ(p.Evaluate(Req("ecs:CreateService", kDev)), Decision::kAllow);
  EXPECT_EQ(p.Evaluate(Req("ecs:DeleteService", kDev)), Decision::kImplicitDeny);
  EXPECT_EQ(p.Evaluate(Req("ecs:CreateService", kProd)), Decision::kImplicitDeny);
  AccessRequest stop = Req("ecs:StopTask", kDev);
  stop.context.emplace_back("berth:principal", "carol");
  EXPECT_EQ(p.Evaluate(stop), Decision::kExplicitDeny);
  stop.context.back().second = "alice";
  EXPECT_EQ(p.Evaluate(stop), Decision::kAllow);
}

TEST(PolicyTest, IfExistsHoldsWhenTheKeyIsMissing) {
  Policy p = MustParse(R"({"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*",
      "Condition":{"StringEqualsIfExists":{"ecs:cluster":")" +
                       std::string(kDev) + R"("}}}})");
  EXPECT_EQ(p.Evaluate(Req("ecs:ListClusters", "*")), Decision::kAllow);
  EXPECT_EQ(p.Evaluate(Req("ecs:ListTasks", kDev, kDev)), Decision::kAllow);
  EXPECT_EQ(p.Evaluate(Req("ecs:ListTasks", kProd, kProd)), Decision::kImplicitDeny);
}

TEST(PolicyTest, RefusesWhatItWouldNotEnforceNamingTheField) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {"[]", "must be a JSON object"},
      {"{", "not valid JSON"},
      {R"({"Version":"2012-10-17"})", "Statement: required"},
      {R"({"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})", "Version: must be"},
      {R"({"Statement":[]})", "Statement: must be a statement or a non-empty array"},
      {R"({"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]})", "Statement[0].Effect: must be"},
      {R"({"Statement":[{"Effect":"Allow","Resource":"*"}]})", "Statement[0].Action: required"},
      {R"({"Statement":[{"Effect":"Allow","Action":"*"}]})", "Statement[0].Resource: required"},
      {R"({"Statement":[{"Effect":"Allow","Action":"RunTask","Resource":"*"}]})", "Statement[0].Action[0]: 'RunTask'"},
      {R"({"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]})", "Statement[0].Action: must be a string"},
      {R"({"Statement":[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]})", "not both"},
      {R"({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}]})",
       "Statement[0].Principal: not allowed"},
      {R"({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"ecs:cluster":"1"}}}]})",
       "Statement[0].Condition.NumericEquals: unsupported condition operator"},
      {R"({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"1"}}}]})",
       "unknown condition key 'aws:SourceIp'"},
      {R"({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Extra":1}]})",
       "Statement[0].Extra: unknown field"},
  };
  for (const Case& c : cases) {
    auto p = Policy::Parse(c.json, "ops");
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find("policy 'ops': "), std::string::npos) << p.status();
    EXPECT_NE(p.status().message().find(c.error), std::string::npos) << c.json << " -> " << p.status();
  }
}

}  // namespace
}  // namespace berth::controlplane::auth
