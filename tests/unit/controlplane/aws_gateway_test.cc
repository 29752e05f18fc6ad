// The AWS JSON 1.1 door: SigV4 verification against published and SDK-produced signatures, and
// dispatch and error shapes through AwsGateway over the in-process Api (and once over a real
// HttpServer on port 0).
#include "src/controlplane/doors/aws_gateway.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "src/controlplane/doors/http_server.h"
#include "tests/testutil/temp_dir.h"
#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

using nlohmann::json;

// AWS's SigV4 test suite, case get-vanilla (credentials AKIDEXAMPLE, region us-east-1, service
// "service").
TEST(SigV4Test, GetVanillaFromTheAwsTestSuite) {
  AwsHttpRequest request{.method = "GET",
                         .raw_path = "/",
                         .query = {},
                         .headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
                         .body = ""};
  std::string canonical = sigv4::CanonicalRequest(request, {"host", "x-amz-date"});
  EXPECT_EQ(canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string to_sign = sigv4::StringToSign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canonical);
  EXPECT_EQ(sigv4::Signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service", to_sign),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, CanonicalFormsOfQueryHeadersAndPath) {
  AwsHttpRequest request{.method = "POST",
                         .raw_path = "/a b/%41",
                         .query = {{"b", "2"}, {"a", "x y"}, {"a", "1"}},
                         .headers = {{"HOST", "h"}, {"My-Header", "  one   two  "}, {"my-header", "three"}},
                         .body = ""};
  std::string canonical = sigv4::CanonicalRequest(request, {"host", "my-header"});
  EXPECT_EQ(canonical,
            "POST\n/a%20b/%2541\na=1&a=x%20y&b=2\nhost:h\nmy-header:one two,three\n\nhost;my-header\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ParseAccessKeyTest, AcceptsIdColonSecretAndNamesTheRuleBroken) {
  auto ok = ParseAccessKey("AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(ok->second, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  struct Row {
    const char* text;
    const char* error;
  };
  for (const Row& row : {Row{"AKIAIOSFODNN7EXAMPLE", "ACCESS_KEY_ID:SECRET"}, Row{"short:secretsecretsecret", "16-128"},
                         Row{"AKIA-OSFODNN7EXAMPLE:secretsecretsecret", "letters and digits"},
                         Row{"AKIAIOSFODNN7EXAMPLE:short", "at least 16"},
                         Row{"AKIAIOSFODNN7EXAMPLE:secret with spaces", "without spaces"}}) {
    auto parsed = ParseAccessKey(row.text);
    ASSERT_FALSE(parsed.ok()) << row.text;
    EXPECT_NE(std::string(parsed.status().message()).find(row.error), std::string::npos)
        << row.text << ": " << parsed.status().message();
  }
}

AwsHttpRequest Call(const std::string& action, const std::string& body) {
  return {.method = "POST",
          .raw_path = "/",
          .query = {},
          .headers = {{"Host", "127.0.0.1:8080"},
                      {"Content-Type", "application/x-amz-json-1.1"},
                      {"X-Amz-Target", std::string(AwsGateway::kTargetPrefix) + action}},
          .body = body};
}

class AwsGatewayTest : public ApiFixture {
 protected:
  AwsGateway Gateway(std::map<std::string, std::string> keys = {}, int64_t now = 0) {
    auth::Authority::Options options;
    options.legacy_access_keys = std::move(keys);
    options.now_seconds = [now] { return now; };
    auto authority = auth::Authority::Create(std::move(options));
    EXPECT_TRUE(authority.ok()) << authority.status();
    authorities_.push_back(*std::move(authority));
    return AwsGateway(api_, nullptr, {.region = "local", .authority = authorities_.back().get(), .now_seconds = [now] {
                                        return now;
                                      }});
  }
  std::vector<std::unique_ptr<auth::Authority>> authorities_;
};

TEST_F(AwsGatewayTest, DispatchAndErrorShapes) {
  AwsGateway gateway = Gateway();
  struct Row {
    const char* name;
    AwsHttpRequest request;
    int status;
    const char* type;     // __type of an error, "" for success
    const char* message;  // part of the message (or of the success body)
  };
  AwsHttpRequest no_target = Call("ListClusters", "{}");
  no_target.headers.pop_back();
  AwsHttpRequest wrong_prefix = Call("ListClusters", "{}");
  wrong_prefix.headers.back().second = "DynamoDB_20120810.ListTables";
  const Row rows[] = {
      {"create", Call("CreateCluster", R"({"clusterName":"c1"})"), 200, "", R"("clusterName":"c1")"},
      {"empty body is {}", Call("ListClusters", ""), 200, "", "cluster/c1"},
      {"missing target", no_target, 400, "UnknownOperationException", "missing X-Amz-Target"},
      {"wrong prefix", wrong_prefix, 400, "UnknownOperationException", "DynamoDB_20120810.ListTables"},
      {"unknown action", Call("LaunchRockets", "{}"), 400, "UnknownOperationException", "LaunchRockets"},
      {"unimplemented ecs action", Call("PutAccountSetting", "{}"), 400, "UnsupportedFeatureException",
       "PutAccountSetting"},
      {"agent-only ecs action", Call("SubmitTaskStateChange", "{}"), 400, "UnsupportedFeatureException",
       "SubmitTaskStateChange is an ECS container agent action"},
      {"agent-only ecs action of the schema", Call("UpdateContainerAgent", "{}"), 400, "UnsupportedFeatureException",
       "UpdateContainerAgent is an ECS container agent action"},
      {"ecs action outside the schema", Call("CreateTaskSet", "{}"), 400, "UnsupportedFeatureException",
       "CreateTaskSet is an ECS action Berth does not implement"},
      {"malformed json", Call("ListClusters", "{x"), 400, "SerializationException", "cannot parse"},
      {"wrong member type", Call("RunTask", R"({"count":"many"})"), 400, "SerializationException", "count"},
      {"unknown member ignored", Call("ListClusters", R"({"futureMember":1})"), 200, "", "clusterArns"},
      {"cluster not found", Call("ListTasks", R"({"cluster":"nope"})"), 400, "ClusterNotFoundException", "nope"},
      {"invalid parameter", Call("RunTask", R"({"cluster":"c1","taskDefinition":"x","count":0})"), 400,
       "InvalidParameterException", "count"},
      {"client exception", Call("DeleteService", R"({"cluster":"c1","service":"nope"})"), 400,
       "ServiceNotFoundException", "nope"},
      {"berth extension", Call("ExplainPlacement", R"({"cluster":"c1","taskDefinition":"nope"})"), 400, "", "nope"},
  };
  for (const Row& row : rows) {
    AwsHttpResponse response = gateway.Handle(row.request);
    EXPECT_EQ(response.status, row.status) << row.name << ": " << response.body;
    json body = json::parse(response.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << row.name << ": " << response.body;
    if (row.status == 200) {
      EXPECT_FALSE(body.contains("__type")) << row.name;
    } else if (*row.type != '\0') {
      EXPECT_EQ(body.value("__type", ""), row.type) << row.name << ": " << response.body;
    }
    EXPECT_NE(response.body.find(row.message), std::string::npos) << row.name << ": " << response.body;
  }
}

// JSON nested more than 32 levels is refused before protobuf's parser sees it (which would
// flatten nested arrays and accept it): a SerializationException, nothing changed.
TEST_F(AwsGatewayTest, DeeplyNestedBodiesAreRefusedAndChangeNothing) {
  AwsGateway gateway = Gateway();
  const uint64_t before = revision();
  const std::string deep_array = std::string(100000, '[') + std::string(100000, ']');
  std::string deep_object = R"({"overrides":)";
  for (int i = 0; i < 20000; ++i) deep_object += R"({"containerOverrides":[)";
  for (int i = 0; i < 20000; ++i) deep_object += "]}";
  deep_object += "}";
  for (const auto& [action, body] : {std::pair<std::string, std::string>{"ListClusters", deep_array},
                                     {"RunTask", deep_object},
                                     {"CreateCluster", R"({"clusterName":"x","tags":)" + deep_array + "}"}}) {
    AwsHttpResponse response = gateway.Handle(Call(action, body));
    EXPECT_EQ(response.status, 400) << action;
    json error = json::parse(response.body, nullptr, false);
    ASSERT_FALSE(error.is_discarded()) << response.body;
    EXPECT_EQ(error.value("__type", ""), "SerializationException") << action << ": " << response.body;
    EXPECT_NE(error.value("message", "").find("levels deep; at most 32"), std::string::npos) << response.body;
  }
  // Brackets inside a 'single-quoted' string (protobuf's parser takes them) do not hide the rest.
  AwsHttpResponse quoted = gateway.Handle(
      Call("ListClusters", R"({"nextToken":'"',"x":)" + std::string(1000, '[') + std::string(1000, ']') + "}"));
  EXPECT_NE(quoted.body.find("levels deep"), std::string::npos) << quoted.body;
  // 32 levels are fine (a string's brackets do not count).
  std::string nested = R"({"clusterName":"ok","tags":[{"key":"[[[[{{{{","value":"v"}]})";
  EXPECT_EQ(gateway.Handle(Call("CreateCluster", nested)).status, 200);
  EXPECT_EQ(gateway.Handle(Call("ListClusters", std::string(31, '[') + std::string(31, ']'))).status, 400)
      << "an array is not a request object, but the depth is allowed";
  AwsHttpResponse listed = gateway.Handle(Call("ListClusters", "{}"));
  EXPECT_EQ(json::parse(listed.body)["clusterArns"].size(), 2u) << listed.body;  // default and ok
  EXPECT_EQ(revision(), before + 1);
}

TEST_F(AwsGatewayTest, LongMembersAreJsonNumbersAndTimestampsEpochSeconds) {
  AddInstance("default", 1024, 2048);
  AddTaskDefinition("web", 10, 64);
  AwsGateway gateway = Gateway();
  AwsHttpResponse response = gateway.Handle(Call("RunTask", R"({"taskDefinition":"web"})"));
  ASSERT_EQ(response.status, 200) << response.body;
  json body = json::parse(response.body);
  ASSERT_EQ(body["tasks"].size(), 1u) << response.body;
  EXPECT_TRUE(body["tasks"][0]["version"].is_number_integer()) << response.body;
  EXPECT_TRUE(body["tasks"][0]["createdAt"].is_number()) << response.body;
  EXPECT_TRUE(body["tasks"][0]["lastStatus"].is_string()) << response.body;
  // Top-level lists are present even when empty, as ECS answers them.
  EXPECT_EQ(body["failures"], json::array()) << response.body;
}

// What deploy tools do: describe a task definition, drop the output-only members, register the
// rest. The empty lists ECS always sends are there to be fed back, and the result is equal.
TEST_F(AwsGatewayTest, DescribeTaskDefinitionRoundTripsThroughRegister) {
  AwsGateway gateway = Gateway();
  ASSERT_EQ(
      gateway
          .Handle(Call("RegisterTaskDefinition",
                       R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox","memory":64}]})"))
          .status,
      200);
  AwsHttpResponse described = gateway.Handle(Call("DescribeTaskDefinition", R"({"taskDefinition":"web"})"));
  ASSERT_EQ(described.status, 200) << described.body;
  json td = json::parse(described.body)["taskDefinition"];
  EXPECT_EQ(td["volumes"], json::array()) << described.body;
  EXPECT_EQ(td["placementConstraints"], json::array()) << described.body;
  const json& c = td["containerDefinitions"][0];
  EXPECT_EQ(c["cpu"], 0) << described.body;
  EXPECT_EQ(c["essential"], true) << described.body;
  for (const char* list : {"portMappings", "environment", "mountPoints", "volumesFrom"}) {
    EXPECT_EQ(c[list], json::array()) << list << ": " << described.body;
  }
  EXPECT_FALSE(json::parse(described.body).contains("tags")) << "tags only with include TAGS";
  for (const char* output_only : {"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
                                  "registeredAt", "registeredBy", "deregisteredAt"}) {
    td.erase(output_only);
  }
  AwsHttpResponse again = gateway.Handle(Call("RegisterTaskDefinition", td.dump()));
  ASSERT_EQ(again.status, 200) << again.body;
  json first = json::parse(described.body)["taskDefinition"];
  json second = json::parse(again.body)["taskDefinition"];
  EXPECT_EQ(second["revision"], 2);
  for (json* t : {&first, &second}) {
    for (const char* varies : {"taskDefinitionArn", "revision", "registeredAt"}) t->erase(varies);
  }
  EXPECT_EQ(first, second);

  AwsHttpResponse tagged =
      gateway.Handle(Call("DescribeTaskDefinition", R"({"taskDefinition":"web","include":["TAGS"]})"));
  EXPECT_EQ(json::parse(tagged.body)["tags"], json::array()) << tagged.body;
}

// Task-definition rules answer ClientException (as ECS), with Berth's field and rule in the text.
TEST_F(AwsGatewayTest, TaskDefinitionRulesAreClientExceptions) {
  AwsGateway gateway = Gateway();
  AwsHttpResponse response = gateway.Handle(
      Call("RegisterTaskDefinition", R"({"family":"web","containerDefinitions":[{"name":"app","image":"busybox"}]})"));
  EXPECT_EQ(response.status, 400);
  json body = json::parse(response.body);
  EXPECT_EQ(body["__type"], "ClientException") << response.body;
  EXPECT_NE(body["message"].get<std::string>().find("containerDefinitions[0]"), std::string::npos) << response.body;
}

// Signed by botocore 1.29 (SigV4Auth, service "ecs", region "local") at 20261125T004012Z.
constexpr char kKeyId[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr int64_t kSignedAt = 1795567212;  // 2026-11-25T00:40:12Z

AwsHttpRequest BotocoreSigned() {
  AwsHttpRequest request = Call("CreateCluster", R"({"clusterName": "c1"})");
  request.headers.emplace_back("X-Amz-Date", "20261125T004012Z");
  request.headers.emplace_back("Authorization",
                               "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261125/local/ecs/aws4_request, "
                               "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                               "Signature=0c9d3a0d1462eeb4aab3e4715e3ce05a9fd4267005edd3edf4e94f6cf5aabdd6");
  return request;
}

TEST_F(AwsGatewayTest, SigV4AcceptsWhatBotocoreSigns) {
  AwsGateway gateway = Gateway({{kKeyId, kSecret}}, kSignedAt + 60);
  AwsHttpResponse response = gateway.Handle(BotocoreSigned());
  EXPECT_EQ(response.status, 200) << response.body;
}

// A task's role credentials (access key id, secret, session token) sign requests as the role:
// its policies decide, and an expired or altered token is refused.
TEST_F(AwsGatewayTest, TaskRoleSessionCredentialsSignAsTheRole) {
  testutil::TempDir dir;
  std::ofstream(dir.Sub("auth.json")) << R"({
    "policies": {"list-only": {"Version": "2012-10-17",
                               "Statement": [{"Effect": "Allow", "Action": "ecs:List*", "Resource": "*"}]}},
    "roles": {"lister": {"policies": ["list-only"]}},
    "principals": {"nobody": {}}})";
  int64_t now = 1'700'000'000;
  auth::Authority::Options options;
  options.config_path = dir.Sub("auth.json");
  options.now_seconds = [&now] { return now; };
  auto authority = auth::Authority::Create(std::move(options));
  ASSERT_TRUE(authority.ok()) << authority.status();
  AwsGateway gateway(api_, nullptr,
                     {.region = "local", .authority = authority->get(), .now_seconds = [&now] { return now; }});
  auto issued = (*authority)
                    ->IssueRoleCredentials(
                        "lister", "arn:aws:ecs:local:000000000000:task/default/0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(issued.ok()) << issued.status();

  // Signed as botocore signs with session credentials: the token in X-Amz-Security-Token.
  auto signed_call = [&](const std::string& action, const std::string& token) {
    AwsHttpRequest r = Call(action, "{}");
    const std::string date = absl::FormatTime("%Y%m%dT%H%M%SZ", absl::FromUnixSeconds(now), absl::UTCTimeZone());
    r.headers.emplace_back("X-Amz-Date", date);
    r.headers.emplace_back("X-Amz-Security-Token", token);
    const std::vector<std::string> names = {"content-type", "host", "x-amz-date", "x-amz-security-token",
                                            "x-amz-target"};
    const std::string scope = date.substr(0, 8) + "/local/ecs/aws4_request";
    const std::string signature = sigv4::Signature(issued->secret_access_key, date.substr(0, 8), "local", "ecs",
                                                   sigv4::StringToSign(date, scope, sigv4::CanonicalRequest(r, names)));
    r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + issued->access_key_id + "/" + scope +
                                                ", SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                                                "x-amz-target, Signature=" +
                                                signature);
    return gateway.Handle(r);
  };
  AwsHttpResponse listed = signed_call("ListClusters", issued->session_token);
  EXPECT_EQ(listed.status, 200) << listed.body;
  AwsHttpResponse created = signed_call("CreateCluster", issued->session_token);
  EXPECT_EQ(created.status, 400) << created.body;
  EXPECT_NE(created.body.find("User: assumed-role/lister/0123456789abcdef0123456789abcdef is not authorized to "
                              "perform: ecs:CreateCluster"),
            std::string::npos)
      << created.body;
  std::string altered = issued->session_token;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  AwsHttpResponse forged = signed_call("ListClusters", altered);
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(json::parse(forged.body).value("__type", ""), "UnrecognizedClientException") << forged.body;
  now += auth::RoleCredentials::kLifetimeSeconds;
  AwsHttpResponse expired = signed_call("ListClusters", issued->session_token);
  EXPECT_EQ(expired.status, 403);
  EXPECT_EQ(json::parse(expired.body).value("__type", ""), "ExpiredTokenException") << expired.body;
}

TEST_F(AwsGatewayTest, SigV4Refusals) {
  struct Row {
    const char* name;
    std::function<void(AwsHttpRequest&)> change;
    std::map<std::string, std::string> keys;
    int64_t now;
    int status;
    const char* type;
    const char* message;
  };
  auto set_header = [](const char* name, const char* value) {
    return [name, value](AwsHttpRequest& r) {
      for (auto& [k, v] : r.headers) {
        if (k == name) v = value;
      }
    };
  };
  auto remove_header = [](const char* name) {
    return [name](AwsHttpRequest& r) { std::erase_if(r.headers, [name](const auto& h) { return h.first == name; }); };
  };
  const std::map<std::string, std::string> keys = {{kKeyId, kSecret}};
  const Row rows[] = {
      {"wrong secret",
       [](AwsHttpRequest&) {},
       {{kKeyId, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ"}},
       kSignedAt,
       403,
       "InvalidSignatureException",
       "does not match the signature you provided"},
      {"tampered body", [](AwsHttpRequest& r) { r.body = R"({"clusterName": "c2"})"; }, keys, kSignedAt, 403,
       "InvalidSignatureException", "does not match"},
      {"tampered target", set_header("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster"), keys,
       kSignedAt, 403, "InvalidSignatureException", "does not match"},
      {"unknown key",
       [](AwsHttpRequest&) {},
       {{"AKIAOTHERKEY0000EXAMPLE", kSecret}},
       kSignedAt,
       403,
       "UnrecognizedClientException",
       "security token included in the request is invalid"},
      {"no authorization", remove_header("Authorization"), keys, kSignedAt, 400, "MissingAuthenticationTokenException",
       "Missing Authentication Token"},
      {"no date", remove_header("X-Amz-Date"), keys, kSignedAt, 400, "IncompleteSignatureException", "X-Amz-Date"},
      {"not sigv4", set_header("Authorization", "Basic dXNlcjpwYXNz"), keys, kSignedAt, 400,
       "IncompleteSignatureException", "AWS4-HMAC-SHA256"},
      {"invalid utf-8 quoted back", set_header("X-Amz-Date", "\xff\xfe"), keys, kSignedAt, 400,
       "IncompleteSignatureException", "X-Amz-Date must be"},
      {"no signature",
       set_header("Authorization",
                  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261125/local/ecs/aws4_request, "
                  "SignedHeaders=host"),
       keys, kSignedAt, 400, "IncompleteSignatureException", "requires 'Signature'"},
      {"expired", [](AwsHttpRequest&) {}, keys, kSignedAt + 15 * 60 + 1, 400, "InvalidSignatureException",
       "Signature expired: 20261125T004012Z is now earlier than 20261125T004013Z"},
      {"from the future", [](AwsHttpRequest&) {}, keys, kSignedAt - 15 * 60 - 1, 400, "InvalidSignatureException",
       "Signature not yet current"},
      {"within the skew", [](AwsHttpRequest&) {}, keys, kSignedAt - 15 * 60, 200, "", ""},
  };
  for (const Row& row : rows) {
    AwsGateway gateway = Gateway(row.keys, row.now);
    AwsHttpRequest request = BotocoreSigned();
    row.change(request);
    AwsHttpResponse response = gateway.Handle(request);
    EXPECT_EQ(response.status, row.status) << row.name << ": " << response.body;
    if (row.status != 200) {
      json body = json::parse(response.body);
      EXPECT_EQ(body.value("__type", ""), row.type) << row.name << ": " << response.body;
      EXPECT_NE(body.value("message", "").find(row.message), std::string::npos) << row.name << ": " << response.body;
    }
  }
}

TEST_F(AwsGatewayTest, ScopeMustNameTheRegionAndEcs) {
  AwsGateway gateway = Gateway({{kKeyId, kSecret}}, kSignedAt);
  for (const auto& [scope, message] :
       std::vector<std::pair<std::string, std::string>>{{"20261125/us-east-1/ecs", "valid region"},
                                                        {"20261125/local/s3", "correct service: 'ecs'"},
                                                        {"20261124/local/ecs", "Date in Credential scope"}}) {
    AwsHttpRequest request = BotocoreSigned();
    request.headers.back().second = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" + scope +
                                    "/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
    AwsHttpResponse response = gateway.Handle(request);
    EXPECT_EQ(response.status, 403) << scope;
    EXPECT_NE(response.body.find(message), std::string::npos) << scope << ": " << response.body;
  }
}

TEST_F(AwsGatewayTest, ServesOverHttpOnPortZero) {
  AwsGateway gateway = Gateway();
  HttpServer server({.metrics = [] { return std::string(); },
                     .healthy = [] { return true; },
                     .aws = [&gateway](const AwsHttpRequest& r) { return gateway.Handle(r); }},
                    {});
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  httplib::Client client("127.0.0.1", *port);
  httplib::Headers headers = {{"X-Amz-Target", "AmazonEC2ContainerServiceV20141113.CreateCluster"}};
  auto created = client.Post("/", headers, R"({"clusterName":"web"})", "application/x-amz-json-1.1");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 200) << created->body;
  EXPECT_EQ(created->get_header_value("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_NE(created->body.find("cluster/web"), std::string::npos) << created->body;
  headers = {{"X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeServices"}};
  auto missing = client.Post("/", headers, R"({"cluster":"gone","services":["s"]})", "application/x-amz-json-1.1");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  EXPECT_EQ(json::parse(missing->body).value("__type", ""), "ClusterNotFoundException") << missing->body;
  // A body over 4 MiB is refused before it is parsed, and creates nothing.
  const uint64_t before = revision();
  headers = {{"X-Amz-Target", "AmazonEC2ContainerServiceV20141113.CreateCluster"}};
  std::string oversize = R"({"clusterName":"big","tags":[)";
  while (oversize.size() <= (4u << 20)) oversize += R"({"key":"k","value":"v"},)";
  oversize += R"({"key":"k","value":"v"}]})";
  auto too_big = client.Post("/", headers, oversize, "application/x-amz-json-1.1");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  EXPECT_EQ(revision(), before);
  auto healthz = client.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  server.Stop();
}

// An SDK keeps its connection alive for many calls: the server must not close it after a few
// (cpp-httplib's default closes after 5, and every SDK call after that paid a new connection).
TEST_F(AwsGatewayTest, KeepsAConnectionAliveForManyRequests) {
  AwsGateway gateway = Gateway();
  HttpServer server({.metrics = [] { return std::string(); },
                     .healthy = [] { return true; },
                     .aws = [&gateway](const AwsHttpRequest& r) { return gateway.Handle(r); }},
                    {.threads = 2, .keep_alive_max_requests = 1000});
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(*port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string body = "{}";
  const std::string request =
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
      "X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size())) << "request " << i;
    // One response: its head, then Content-Length bytes of body.
    std::string response;
    size_t head_end = std::string::npos;
    size_t length = 0;
    while (head_end == std::string::npos || response.size() < head_end + 4 + length) {
      char buf[4096];
      const ssize_t n = read(fd, buf, sizeof(buf));
      ASSERT_GT(n, 0) << "the server closed the connection after " << i << " requests";
      response.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos && (head_end = response.find("\r\n\r\n")) != std::string::npos) {
        const size_t at = response.find("Content-Length: ");
        ASSERT_NE(at, std::string::npos) << response;
        length = std::stoul(response.substr(at + 16));
      }
    }
    EXPECT_EQ(response.find("Connection: close"), std::string::npos) << "request " << i << ": " << response;
    EXPECT_NE(response.find("clusterArns"), std::string::npos) << response;
  }
  close(fd);
  server.Stop();
}

}  // namespace
}  // namespace berth::controlplane
