// ARNs and ids: building, parsing names-or-ARNs, and the errors for each malformed form.
#include "berth/common/arn.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

const Arns kArns(ArnContext{"local", "000000000000"});

TEST(ArnTest, BuildsEcsForms) {
  EXPECT_EQ(kArns.Cluster("prod"), "arn:aws:ecs:local:000000000000:cluster/prod");
  EXPECT_EQ(kArns.TaskDefinition("web", 3), "arn:aws:ecs:local:000000000000:task-definition/web:3");
  EXPECT_EQ(kArns.Task("prod", "ab"), "arn:aws:ecs:local:000000000000:task/prod/ab");
  EXPECT_EQ(kArns.ContainerInstance("prod", "cd"), "arn:aws:ecs:local:000000000000:container-instance/prod/cd");
  EXPECT_EQ(kArns.Container("prod", "ab", "app"), "arn:aws:ecs:local:000000000000:container/prod/ab/app");
  EXPECT_EQ(kArns.Service("prod", "api"), "arn:aws:ecs:local:000000000000:service/prod/api");
}

struct NameRow {
  std::string input;
  std::string want;  // empty: error expected
  std::string error_part;
};

TEST(ArnTest, ClusterNameOrArn) {
  const std::vector<NameRow> rows = {
      {"prod", "prod", ""},
      {"arn:aws:ecs:local:000000000000:cluster/prod", "prod", ""},
      {"a b", "", "not a valid cluster name"},
      {std::string(256, 'x'), "", "not a valid cluster name"},
      {"arn:aws:ecs:local:000000000000:service/prod/x", "", "is a service ARN"},
      {"arn:aws:ecs:other:000000000000:cluster/prod", "", "region 'other'"},
      {"arn:aws:ecs:local:999999999999:cluster/prod", "", "account '999999999999'"},
      {"arn:aws:s3:::bucket", "", "not an ECS ARN"},
      {"arn:aws:ecs:local:000000000000:widget/x", "", "unknown resource type 'widget'"},
      {"arn:aws:ecs:local:000000000000:cluster/", "", "empty resource id"},
  };
  for (const auto& row : rows) {
    auto got = kArns.ClusterName(row.input, "cluster");
    if (row.want.empty()) {
      ASSERT_FALSE(got.ok()) << row.input;
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(got.status().message().find("cluster: "), std::string::npos) << got.status();
      EXPECT_NE(got.status().message().find(row.error_part), std::string::npos) << got.status();
    } else {
      ASSERT_TRUE(got.ok()) << row.input << ": " << got.status();
      EXPECT_EQ(*got, row.want);
    }
  }
}

TEST(ArnTest, TaskIdsBelongToTheirCluster) {
  const std::string id(32, 'a');
  EXPECT_EQ(*kArns.TaskId(id, "prod", "task"), id);
  EXPECT_EQ(*kArns.TaskId(kArns.Task("prod", id), "prod", "task"), id);
  auto other = kArns.TaskId(kArns.Task("dev", id), "prod", "task");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("belongs to cluster 'dev'"), std::string::npos);
  EXPECT_FALSE(kArns.TaskId("xyz", "prod", "task").ok());
  EXPECT_FALSE(kArns.TaskId(std::string(32, 'G'), "prod", "task").ok());
  EXPECT_FALSE(kArns.TaskId("arn:aws:ecs:local:000000000000:task/prod/short", "prod", "task").ok());
  EXPECT_FALSE(kArns.ContainerInstanceId(kArns.Task("prod", id), "prod", "ci").ok()) << "a task ARN is not an instance";
}

TEST(ArnTest, TaskDefinitionReferences) {
  auto latest = kArns.TaskDefinition("web", "taskDefinition");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->family, "web");
  EXPECT_EQ(latest->revision, 0u);
  auto rev = kArns.TaskDefinition("web:12", "taskDefinition");
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ(rev->revision, 12u);
  auto arn = kArns.TaskDefinition("arn:aws:ecs:local:000000000000:task-definition/web:7", "taskDefinition");
  ASSERT_TRUE(arn.ok());
  EXPECT_EQ(arn->family, "web");
  EXPECT_EQ(arn->revision, 7u);
  for (const char* bad :
       {"web:0", "web:-1", "web:x", "we b", ":3", "arn:aws:ecs:local:000000000000:task-definition/web",
        "arn:aws:ecs:local:000000000000:task-definition/web:0"}) {
    EXPECT_FALSE(kArns.TaskDefinition(bad, "taskDefinition").ok()) << bad;
  }
}

TEST(IdTest, NewIdsAreDistinct32Hex) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewId();
    EXPECT_TRUE(IsId(id)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(NameTest, Rules) {
  EXPECT_TRUE(IsValidName("a-b_C9"));
  EXPECT_TRUE(IsValidName(std::string(255, 'x')));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName(std::string(256, 'x')));
  EXPECT_FALSE(IsValidName("a.b"));
  EXPECT_FALSE(IsValidName(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace berth
