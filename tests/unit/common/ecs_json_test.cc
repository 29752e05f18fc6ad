// ECS JSON printing: which empty members are printed follows ECS's shapes (the json_presence
// option on the members of ecs*.proto), Long members are numbers, and members keep the schema's
// order.
#include "berth/common/ecs_json.h"

#include <google/protobuf/util/json_util.h>

#include <string>

#include <gtest/gtest.h>

#include "berth/v1/ecs.pb.h"

namespace berth::ecsjson {
namespace {

using Json = nlohmann::ordered_json;

template <typename M>
M Parse(const std::string& json) {
  M m;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &m).ok()) << json;
  return m;
}

Json Print(const google::protobuf::Message& m, PrintOptions options = {}) {
  auto doc = ToJson(m, options);
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? *doc : Json();
}

TEST(EcsJsonTest, TaskDefinitionCarriesTheEmptyListsEcsAlwaysSends) {
  auto td = Parse<v1::DescribeTaskDefinitionResponse>(
      R"({"taskDefinition":{"family":"web","revision":3,"containerDefinitions":[{"name":"app","image":"busybox"}]}})");
  Json doc = Print(td);
  const Json& t = doc["taskDefinition"];
  EXPECT_EQ(t["volumes"], Json::array());
  EXPECT_EQ(t["placementConstraints"], Json::array());
  EXPECT_EQ(t["compatibilities"], Json::array());
  const Json& c = t["containerDefinitions"][0];
  EXPECT_EQ(c["cpu"], 0);
  for (const char* list : {"portMappings", "environment", "mountPoints", "volumesFrom", "systemControls"}) {
    EXPECT_EQ(c[list], Json::array()) << list;
  }
  // Lists ECS leaves out when empty stay out.
  EXPECT_FALSE(c.contains("command"));
  EXPECT_FALSE(c.contains("secrets"));
  EXPECT_FALSE(t.contains("requiresCompatibilities"));
  // tags of DescribeTaskDefinition: only when asked with include TAGS.
  EXPECT_FALSE(doc.contains("tags"));
  EXPECT_EQ(Print(td, {.tags_included = true})["tags"], Json::array());
}

TEST(EcsJsonTest, GivenValuesArePrintedAsGiven) {
  auto td = Parse<v1::TaskDefinition>(
      R"({"family":"web","volumes":[{"name":"v"}],"containerDefinitions":[{"name":"app","cpu":256,
          "environment":[{"name":"A","value":"1"}]}]})");
  Json doc = Print(td);
  EXPECT_EQ(doc["volumes"].size(), 1u);
  EXPECT_EQ(doc["containerDefinitions"][0]["cpu"], 256);
  EXPECT_EQ(doc["containerDefinitions"][0]["environment"][0]["value"], "1");
}

TEST(EcsJsonTest, TaskTagsOnlyWhenIncluded) {
  auto tasks = Parse<v1::DescribeTasksResponse>(R"({"tasks":[{"taskArn":"t","containers":[{"name":"c"}]}]})");
  Json plain = Print(tasks);
  EXPECT_FALSE(plain["tasks"][0].contains("tags"));
  EXPECT_EQ(plain["tasks"][0]["attachments"], Json::array());
  EXPECT_EQ(plain["tasks"][0]["containers"][0]["networkInterfaces"], Json::array());
  EXPECT_EQ(plain["failures"], Json::array());
  EXPECT_EQ(Print(tasks, {.tags_included = true})["tasks"][0]["tags"], Json::array());
}

TEST(EcsJsonTest, ServiceAndClusterShapes) {
  Json service = Print(Parse<v1::Service>(R"({"serviceName":"s"})"));
  for (const char* list :
       {"loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy", "deployments", "events"}) {
    EXPECT_EQ(service[list], Json::array()) << list;
  }
  EXPECT_FALSE(service.contains("tags"));
  Json cluster = Print(Parse<v1::Cluster>(R"({"clusterName":"c"})"));
  for (const char* list : {"statistics", "tags", "settings", "capacityProviders", "defaultCapacityProviderStrategy"}) {
    EXPECT_EQ(cluster[list], Json::array()) << list;
  }
}

TEST(EcsJsonTest, EmptyResponsesStayEmpty) {
  EXPECT_EQ(Print(v1::TagResourceResponse()), Json::object());
  EXPECT_EQ(Print(v1::ListClustersResponse())["clusterArns"], Json::array());
  EXPECT_FALSE(Print(v1::ListClustersResponse()).contains("nextToken"));
}

TEST(EcsJsonTest, LongMembersAreNumbersAndOrderIsTheSchemas) {
  auto task = Parse<v1::Task>(R"({"version":"7","taskArn":"t","containers":[]})");
  Json doc = Print(task);
  EXPECT_EQ(doc["version"], 7);
  // attachments (member 1) comes before taskArn in the schema, and stays before it.
  std::string text = doc.dump();
  EXPECT_LT(text.find("\"attachments\""), text.find("\"taskArn\"")) << text;
}

TEST(EcsJsonTest, IncludesTagsReadsTheRequestsIncludeList) {
  EXPECT_TRUE(IncludesTags(Parse<v1::DescribeTasksRequest>(R"({"include":["TAGS"]})")));
  EXPECT_FALSE(IncludesTags(Parse<v1::DescribeTasksRequest>(R"({"include":[]})")));
  EXPECT_FALSE(IncludesTags(v1::RunTaskRequest()));
}

}  // namespace
}  // namespace berth::ecsjson
