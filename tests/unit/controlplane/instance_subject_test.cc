// InstanceSubject over hand-built state entries: where each value comes from, and the unset cases
// an API round trip does not reach.
#include "src/controlplane/auth/instance_subject.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace berth::controlplane {
namespace {

v1::AttributeRecord Attr(const std::string& name, std::optional<std::string> value) {
  v1::AttributeRecord rec;
  rec.mutable_attribute()->set_name(name);
  if (value) rec.mutable_attribute()->set_value(*value);
  return rec;
}

void AddTask(ClusterEntry& cluster, const std::string& id, const std::string& group, const std::string& status) {
  v1::TaskRecord rec;
  rec.set_id(id);
  rec.mutable_task()->set_group(group);
  rec.mutable_task()->set_last_status(status);
  cluster.tasks.emplace(id, TaskEntry(rec, rec.SerializeAsString()));
}

TEST(InstanceSubjectTest, ValuesComeFromTheRecords) {
  ClusterEntry cluster;
  InstanceEntry inst;
  auto* ci = inst.record.mutable_instance();
  ci->set_agent_connected(true);
  ci->mutable_version_info()->set_agent_version("1.70.2");
  ci->set_ec2_instance_id("i-0abc");
  ci->set_registered_at(1700000000.25);
  inst.attributes["ecs.os-type"] = Attr("ecs.os-type", "linux");
  inst.attributes["gpu"] = Attr("gpu", std::nullopt);
  inst.running_tasks = 2;
  AddTask(cluster, "t1", "service:api", "RUNNING");
  AddTask(cluster, "t2", "family:web", "PENDING");
  AddTask(cluster, "t3", "family:batch", "STOPPED");  // no longer on the instance
  inst.task_ids = {"t1", "t2"};

  const InstanceSubject s(cluster, inst);
  EXPECT_EQ(s.Attribute("ecs.os-type"), std::optional<std::string_view>("linux"));
  EXPECT_EQ(s.Attribute("gpu"), std::optional<std::string_view>(""));  // set without a value: exists, empty
  EXPECT_EQ(s.Attribute("stack"), std::nullopt);
  EXPECT_TRUE(s.AgentConnected());
  EXPECT_EQ(s.AgentVersion(), "1.70.2");
  EXPECT_EQ(s.Ec2InstanceId(), "i-0abc");
  EXPECT_EQ(s.RegisteredAt(), 1700000000.25);
  EXPECT_EQ(s.RunningTasksCount(), 2);
  EXPECT_TRUE(s.HasTaskGroup("service:api"));
  EXPECT_TRUE(s.HasTaskGroup("family:web"));  // pending tasks count
  EXPECT_FALSE(s.HasTaskGroup("family:batch"));
  EXPECT_FALSE(s.HasTaskGroup("service"));
}

TEST(InstanceSubjectTest, UnsetFieldsAreEmpty) {
  ClusterEntry cluster;
  InstanceEntry inst;
  const InstanceSubject s(cluster, inst);
  EXPECT_EQ(s.Attribute("ecs.os-type"), std::nullopt);
  EXPECT_FALSE(s.AgentConnected());
  EXPECT_EQ(s.AgentVersion(), "");
  EXPECT_EQ(s.Ec2InstanceId(), "");
  EXPECT_EQ(s.RegisteredAt(), 0);
  EXPECT_EQ(s.RunningTasksCount(), 0);
  EXPECT_FALSE(s.HasTaskGroup(""));
}

}  // namespace
}  // namespace berth::controlplane
