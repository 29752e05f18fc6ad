// The real AWS CLI (`aws ecs --endpoint-url ...`) and boto3 against the real berthd's AWS JSON 1.1
// door: the everyday calls, ECS error names as the CLI prints them, and SigV4 with configured
// access keys (wrong secret and unknown key refused, the right one served).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/controlplane/auth/auth.h"
#include "tests/integration/aws_cli.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

using ::testing::HasSubstr;

TEST_F(AwsCliTest, EverydayCallsAndErrors) {
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0"});
  ASSERT_FALSE(http.empty());

  Result created = Ecs(http, "create-cluster --cluster-name demo");
  ASSERT_EQ(created.exit_code, 0) << created;
  EXPECT_EQ(created.OutJson()["cluster"]["clusterName"], "demo") << created;

  std::string td = WriteFile("td.json", R"({"family":"web","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":10,"memory":64,"portMappings":[{"containerPort":80}]}]})");
  Result registered = Ecs(http, "register-task-definition --cli-input-json file://" + td);
  ASSERT_EQ(registered.exit_code, 0) << registered;
  EXPECT_EQ(registered.OutJson()["taskDefinition"]["revision"], 1) << registered;

  // No container instance yet: RunTask answers failures, not an error.
  Result unplaced = Ecs(http, "run-task --cluster demo --task-definition web");
  ASSERT_EQ(unplaced.exit_code, 0) << unplaced;
  EXPECT_TRUE(unplaced.OutJson()["tasks"].empty() || unplaced.OutJson()["tasks"].is_null()) << unplaced;
  EXPECT_FALSE(unplaced.OutJson()["failures"].empty()) << unplaced;

  // An instance (registered over gRPC, as an agent does) makes room.
  auto stub = berthd_->NewStub();
  grpc::ClientContext context;
  v1::RegisterContainerInstanceResponse instance;
  ASSERT_TRUE(stub->RegisterContainerInstance(&context, testutil::InstanceRequest("demo", 1024, 2048), &instance).ok());
  Result ran = Ecs(http, "run-task --cluster demo --task-definition web:1 --count 2");
  ASSERT_EQ(ran.exit_code, 0) << ran;
  Json tasks = ran.OutJson()["tasks"];
  ASSERT_EQ(tasks.size(), 2u) << ran;
  std::string task_arn = tasks[0]["taskArn"];
  EXPECT_TRUE(tasks[0]["version"].is_number_integer()) << ran;

  Result described = Ecs(http, "describe-tasks --cluster demo --tasks " + ShellQuote(task_arn));
  ASSERT_EQ(described.exit_code, 0) << described;
  EXPECT_EQ(described.OutJson()["tasks"][0]["taskArn"], task_arn) << described;
  EXPECT_EQ(described.OutJson()["tasks"][0]["containers"][0]["name"], "app") << described;

  Result listed = Ecs(http, "list-tasks --cluster demo");
  ASSERT_EQ(listed.exit_code, 0) << listed;
  EXPECT_EQ(listed.OutJson()["taskArns"].size(), 2u) << listed;

  Result stopped = Ecs(http, "stop-task --cluster demo --task " + ShellQuote(task_arn) + " --reason done");
  ASSERT_EQ(stopped.exit_code, 0) << stopped;
  EXPECT_EQ(stopped.OutJson()["task"]["desiredStatus"], "STOPPED") << stopped;

  Result stop_missing = Ecs(http, "stop-task --cluster demo --task 0123456789abcdef0123456789abcdef");
  EXPECT_NE(stop_missing.exit_code, 0) << stop_missing;
  EXPECT_THAT(stop_missing.err, HasSubstr("An error occurred (")) << stop_missing;
  EXPECT_THAT(stop_missing.err, HasSubstr("StopTask operation")) << stop_missing;

  Result service =
      Ecs(http, "create-service --cluster demo --service-name api --task-definition web --desired-count 1");
  ASSERT_EQ(service.exit_code, 0) << service;
  EXPECT_EQ(service.OutJson()["service"]["serviceName"], "api") << service;
  Result services = Ecs(http, "describe-services --cluster demo --services api");
  ASSERT_EQ(services.exit_code, 0) << services;
  EXPECT_EQ(services.OutJson()["services"][0]["desiredCount"], 1) << services;
  EXPECT_EQ(services.OutJson()["services"][0]["status"], "ACTIVE") << services;

  Result no_cluster = Ecs(http, "list-tasks --cluster nowhere");
  EXPECT_NE(no_cluster.exit_code, 0) << no_cluster;
  EXPECT_THAT(no_cluster.err, HasSubstr("(ClusterNotFoundException)")) << no_cluster;

  Result invalid =
      Ecs(http, "create-service --cluster demo --service-name bad --task-definition web --desired-count -1");
  EXPECT_NE(invalid.exit_code, 0) << invalid;
  EXPECT_THAT(invalid.err, HasSubstr("(InvalidParameterException)")) << invalid;

  // Auth is off without keys: any credentials (even a made-up key) are accepted.
  Result anyone = Ecs(http, "list-clusters", "AKIDSOMEONEELSE000000", "whatever-secret-at-all");
  EXPECT_EQ(anyone.exit_code, 0) << anyone;
}

TEST_F(AwsCliTest, CapacityProvidersThroughTheAwsCli) {
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0"});
  ASSERT_FALSE(http.empty());
  Result created = Ecs(http,
                       "create-capacity-provider --name web --auto-scaling-group-provider "
                       "autoScalingGroupArn=arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:"
                       "autoScalingGroupName/web-hosts,managedScaling={status=ENABLED,targetCapacity=90},"
                       "managedTerminationProtection=ENABLED");
  ASSERT_EQ(created.exit_code, 0) << created;
  EXPECT_EQ(created.OutJson()["capacityProvider"]["status"], "ACTIVE") << created;
  EXPECT_EQ(created.OutJson()["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"], 90)
      << created;

  Result put = Ecs(http,
                   "put-cluster-capacity-providers --cluster default --capacity-providers web "
                   "--default-capacity-provider-strategy capacityProvider=web,weight=1,base=1");
  ASSERT_EQ(put.exit_code, 0) << put;
  EXPECT_EQ(put.OutJson()["cluster"]["capacityProviders"][0], "web") << put;
  EXPECT_EQ(put.OutJson()["cluster"]["defaultCapacityProviderStrategy"][0]["base"], 1) << put;

  Result described = Ecs(http, "describe-capacity-providers");
  ASSERT_EQ(described.exit_code, 0) << described;
  ASSERT_EQ(described.OutJson()["capacityProviders"].size(), 1u) << described;

  Result in_use = Ecs(http, "delete-capacity-provider --capacity-provider web");
  EXPECT_NE(in_use.exit_code, 0) << in_use;
  EXPECT_THAT(in_use.err, HasSubstr("(ClientException)")) << in_use;  // the one ECS declares for it

  Result reserved = Ecs(http,
                        "create-capacity-provider --name ecs-web --auto-scaling-group-provider "
                        "autoScalingGroupArn=web-hosts");
  EXPECT_NE(reserved.exit_code, 0) << reserved;
  EXPECT_THAT(reserved.err, HasSubstr("(InvalidParameterException)")) << reserved;
}

TEST_F(AwsCliTest, FargateTasksThroughTheAwsCli) {
  // Berth's Fargate pool with simulated hosts: the user brings no instance.
  const std::string config =
      WriteFile("capacity.json", R"({"fargate": {"availabilityZones": ["az-1", "az-2"],
      "maxHosts": 4, "intervalSeconds": 0.2, "cleanupSeconds": 0.5, "subnetCidr": "172.31.0.0/20",
      "local": {"agentBinary": ")" + testutil::BuiltBinary("src/agent/berth-agent") +
                                     R"(", "workDir": ")" + dir_.Sub("hosts") +
                                     R"(", "agentFlags": ["--runtime", "sim", "--poll-wait", "1"]}}})");
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0", "--capacity-config", config, "--max-poll-wait", "2"});
  ASSERT_FALSE(http.empty());
  std::string td = WriteFile("fargate.json", R"({"family":"fg","networkMode":"awsvpc",
      "requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512",
      "containerDefinitions":[{"name":"app","image":"busybox","essential":true}]})");
  Result registered = Ecs(http, "register-task-definition --cli-input-json file://" + td);
  ASSERT_EQ(registered.exit_code, 0) << registered;
  EXPECT_THAT(registered.OutJson()["taskDefinition"]["compatibilities"].dump(), HasSubstr("FARGATE")) << registered;

  Result ran = Ecs(http,
                   "run-task --task-definition fg --launch-type FARGATE --platform-version LATEST "
                   "--network-configuration 'awsvpcConfiguration={subnets=[subnet-0a1b],assignPublicIp=DISABLED}'");
  ASSERT_EQ(ran.exit_code, 0) << ran;
  ASSERT_EQ(ran.OutJson()["tasks"].size(), 1u) << ran;
  const std::string arn = ran.OutJson()["tasks"][0]["taskArn"];
  EXPECT_EQ(ran.OutJson()["tasks"][0]["lastStatus"], "PROVISIONING") << ran;

  Json task;
  ASSERT_TRUE(testutil::WaitFor(
      [&] {
        Result d = Ecs(http, "describe-tasks --tasks " + ShellQuote(arn));
        if (d.exit_code != 0) return false;
        task = d.OutJson()["tasks"][0];
        return task["lastStatus"] == "RUNNING";
      },
      60000))
      << task.dump() << berthd_->Log();
  EXPECT_EQ(task["launchType"], "FARGATE");
  EXPECT_EQ(task["platformVersion"], "1.4.0");
  EXPECT_EQ(task["ephemeralStorage"]["sizeInGiB"], 20);
  EXPECT_FALSE(task.contains("containerInstanceArn")) << task.dump();
  ASSERT_EQ(task["attachments"].size(), 1u) << task.dump();
  EXPECT_EQ(task["attachments"][0]["type"], "ElasticNetworkInterface");
  bool has_address = false;
  for (const auto& d : task["attachments"][0]["details"]) {
    has_address |= d["name"] == "privateIPv4Address" && d["value"].get<std::string>().starts_with("172.31.");
  }
  EXPECT_TRUE(has_address) << task.dump();
  // The host is Berth's: the user's cluster shows none.
  Result instances = Ecs(http, "list-container-instances");
  ASSERT_EQ(instances.exit_code, 0) << instances;
  EXPECT_TRUE(instances.OutJson()["containerInstanceArns"].empty()) << instances;

  // Errors name the rule, as ECS's do.
  Result strategy = Ecs(http, "run-task --task-definition fg --launch-type FARGATE --placement-strategy type=random");
  EXPECT_NE(strategy.exit_code, 0) << strategy;
  EXPECT_THAT(strategy.err, HasSubstr("(InvalidParameterException)")) << strategy;
  EXPECT_THAT(strategy.err, HasSubstr("placementStrategy")) << strategy;
  Result version = Ecs(http, "run-task --task-definition fg --launch-type FARGATE --platform-version 1.3.0");
  EXPECT_NE(version.exit_code, 0) << version;
  EXPECT_THAT(version.err, HasSubstr("platformVersion")) << version;

  Result stopped = Ecs(http, "stop-task --task " + ShellQuote(arn));
  ASSERT_EQ(stopped.exit_code, 0) << stopped;
  EXPECT_TRUE(testutil::WaitFor(
      [&] {
        Result d = Ecs(http, "describe-tasks --tasks " + ShellQuote(arn));
        return d.exit_code == 0 && d.OutJson()["tasks"][0]["lastStatus"] == "STOPPED";
      },
      60000))
      << berthd_->Log();
}

TEST_F(AwsCliTest, SigV4WithConfiguredKeys) {
  std::string keys = WriteFile("keys", std::string("# operators\n") + "AKIAOTHERKEY00000000:othersecretothersecret\n");
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0", "--access-key", std::string(kKeyId) + ":" + kSecret,
                                  "--access-keys-file", keys});
  ASSERT_FALSE(http.empty());

  Result wrong = Ecs(http, "list-clusters", kKeyId, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ");
  EXPECT_NE(wrong.exit_code, 0) << wrong;
  EXPECT_THAT(wrong.err, HasSubstr("(InvalidSignatureException)")) << wrong;

  Result unknown = Ecs(http, "list-clusters", "AKIANOTCONFIGURED000", kSecret);
  EXPECT_NE(unknown.exit_code, 0) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("(UnrecognizedClientException)")) << unknown;

  Result right = Ecs(http, "create-cluster --cluster-name signed");
  ASSERT_EQ(right.exit_code, 0) << right;
  EXPECT_EQ(right.OutJson()["cluster"]["clusterName"], "signed") << right;

  Result from_file = Ecs(http, "describe-clusters --clusters signed", "AKIAOTHERKEY00000000", "othersecretothersecret");
  ASSERT_EQ(from_file.exit_code, 0) << from_file;
  EXPECT_EQ(from_file.OutJson()["clusters"][0]["clusterName"], "signed") << from_file;

  // Unsigned requests are refused once keys are configured.
  Result unsigned_call = Ecs(http, "list-clusters --no-sign-request");
  EXPECT_NE(unsigned_call.exit_code, 0) << unsigned_call;
  EXPECT_THAT(unsigned_call.err, HasSubstr("(MissingAuthenticationTokenException)")) << unsigned_call;

  // Start-up refuses a malformed key (exit 2) rather than serving with auth silently off.
  testutil::BerthdProcess bad(dir_.Sub("bad"), {"--http-listen", "127.0.0.1:0", "--access-key", "no-colon-here"});
  EXPECT_FALSE(bad.Start());
  EXPECT_THAT(bad.Log(), HasSubstr("ACCESS_KEY_ID:SECRET"));
}

TEST_F(AwsCliTest, Boto3) {
  if (!HasBoto3()) GTEST_SKIP() << "python3-boto3 is not installed (scripts/install-deps.sh)";
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0", "--access-key", std::string(kKeyId) + ":" + kSecret});
  ASSERT_FALSE(http.empty());
  Result r = RunBoto3Check("aws_boto3_check.py", http);
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("ClusterNotFoundException")) << r;
  EXPECT_THAT(r.out, HasSubstr("InvalidParameterException")) << r;
  EXPECT_THAT(r.out, HasSubstr("\nok\n")) << r;
}

TEST_F(AwsCliTest, PoliciesApplyToAccessKeysOfTheAuthConfig) {
  // dana's key may only describe and list the dev cluster; root's may do anything.
  std::string config = WriteFile("auth.json", R"({
    "policies": {
      "admin": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
      "dev-reader": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:ListClusters"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "arn:aws:ecs:*:*:cluster/dev"}]}},
    "principals": {
      "root": {"policies": ["admin"], "accessKeys": [{"accessKeyId": ")" +
                                                  std::string(kKeyId) + R"(",
                                                       "secretAccessKey": ")" +
                                                  kSecret + R"("}]},
      "dana": {"policies": ["dev-reader"], "accessKeys": [{"accessKeyId": "AKIADANA000000000000",
                                                           "secretAccessKey": "dana-secret-0000000000"}]}}})");
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0", "--auth-config", config});
  ASSERT_FALSE(http.empty());
  for (const char* name : {"dev", "prod"}) {
    Result created = Ecs(http, std::string("create-cluster --cluster-name ") + name);
    ASSERT_EQ(created.exit_code, 0) << created;
  }
  Result denied = Ecs(http, "create-cluster --cluster-name mine", "AKIADANA000000000000", "dana-secret-0000000000");
  EXPECT_NE(denied.exit_code, 0) << denied;
  EXPECT_THAT(denied.err, HasSubstr("(AccessDeniedException)")) << denied;
  EXPECT_THAT(denied.err, HasSubstr("User: dana is not authorized to perform: ecs:CreateCluster")) << denied;
  Result listed = Ecs(http, "list-clusters", "AKIADANA000000000000", "dana-secret-0000000000");
  ASSERT_EQ(listed.exit_code, 0) << listed;
  ASSERT_EQ(listed.OutJson()["clusterArns"].size(), 1u) << listed;
  EXPECT_EQ(listed.OutJson()["clusterArns"][0], "arn:aws:ecs:local:000000000000:cluster/dev") << listed;
  Result prod = Ecs(http, "describe-clusters --clusters prod", "AKIADANA000000000000", "dana-secret-0000000000");
  EXPECT_THAT(prod.err, HasSubstr("(AccessDeniedException)")) << prod;
  Result wrong = Ecs(http, "list-clusters", "AKIADANA000000000000", "not-danas-secret-00000");
  EXPECT_THAT(wrong.err, HasSubstr("(InvalidSignatureException)")) << wrong;
}

// A task's role credentials reach the unmodified AWS CLI (botocore's container credentials
// provider) through the agent's endpoint, and authorize calls to berthd with the role's policy.
TEST_F(AwsCliTest, ATasksRoleCredentialsReachTheAwsCliThroughTheAgentEndpoint) {
  if (!std::filesystem::exists(testutil::BuiltBinary("src/agent/berth-agent"))) {
    GTEST_SKIP() << "berth-agent is not built";
  }
  constexpr char kAgentToken[] = "agent-token-0123456789abcdef0123456789abcdef";
  std::string config =
      WriteFile("auth.json", R"({
    "policies": {
      "admin": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
      "lister": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:List*", "Resource": "*"}]}},
    "roles": {"lister": {"policies": ["lister"]}},
    "principals": {
      "root": {"policies": ["admin"],
               "tokens": [{"sha256": ")" +
                                 controlplane::auth::TokenSha256Hex(kAgentToken) + R"("}],
               "accessKeys": [{"accessKeyId": ")" +
                                 std::string(kKeyId) + R"(", "secretAccessKey": ")" + kSecret + R"("}]}}})");
  std::string http = StartBerthd({"--http-listen", "127.0.0.1:0", "--auth-config", config});
  ASSERT_FALSE(http.empty());
  std::string td = WriteFile("td.json", R"({"family":"job","taskRoleArn":"lister",
      "containerDefinitions":[{"name":"app","image":"busybox","memory":16}]})");
  ASSERT_EQ(Ecs(http, "register-task-definition --cli-input-json file://" + td).exit_code, 0);
  std::ofstream(dir_.Sub("agent.token")) << kAgentToken << "\n";
  testutil::AgentProcess agent(dir_.Sub("agent"),
                               {"--endpoint", berthd_->grpc_address(), "--runtime", "sim", "--token-file",
                                dir_.Sub("agent.token"), "--credentials-listen", "127.0.0.1:0", "--poll-wait", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log();
  Result run = Ecs(http, "run-task --task-definition job");
  ASSERT_EQ(run.exit_code, 0) << run;
  const std::string task = run.OutJson()["tasks"][0]["taskArn"];

  // The URI the task's containers were given: its id is in the agent's state, the port in its log.
  std::string uri;
  ASSERT_TRUE(testutil::WaitFor([&] {
    Json state = Json::parse(ReadFile(dir_.Sub("agent/tasks.json")), nullptr, false);
    if (state.is_discarded()) return false;
    for (const Json& t : state["tasks"]) {
      if (t.value("arn", "") == task && !t.value("credentialsId", "").empty()) {
        const std::string log = agent.Log();
        const std::string marker = "task credentials endpoint on ";
        const size_t at = log.find(marker);
        if (at == std::string::npos) return false;
        const std::string address = log.substr(at + marker.size(), log.find('\n', at) - at - marker.size());
        uri = "http://" + address + "/v2/credentials/" + t.value("credentialsId", "");
        return true;
      }
    }
    return false;
  })) << agent.Log();

  const std::string env = "AWS_CONTAINER_CREDENTIALS_FULL_URI=" + ShellQuote(uri);
  Result listed = Ecs(http, "list-clusters", "", "", env);
  ASSERT_EQ(listed.exit_code, 0) << listed << agent.Log();
  Result created = Ecs(http, "create-cluster --cluster-name mine", "", "", env);
  EXPECT_NE(created.exit_code, 0) << created;
  EXPECT_THAT(created.err, HasSubstr("(AccessDeniedException)")) << created;
  EXPECT_THAT(created.err, HasSubstr("User: assumed-role/lister/" + task.substr(task.rfind('/') + 1) +
                                     " is not authorized to perform: ecs:CreateCluster"))
      << created;
  // Another id is no one's credentials.
  std::string other = uri.substr(0, uri.rfind('/') + 1) + "0123456789abcdef0123456789abcdef";
  Result stranger = Ecs(http, "list-clusters", "", "", "AWS_CONTAINER_CREDENTIALS_FULL_URI=" + ShellQuote(other));
  EXPECT_NE(stranger.exit_code, 0) << stranger;
}

}  // namespace
}  // namespace berth
