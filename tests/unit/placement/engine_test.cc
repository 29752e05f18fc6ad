// The first-fit placement engine and ClusterView accounting, table-driven.
#include "berth/placement/engine.h"

#include <gtest/gtest.h>

namespace berth::placement {
namespace {

InstanceView Instance(std::string id, int64_t cpu, int64_t memory) {
  InstanceView v;
  v.id = std::move(id);
  v.cpu_total = cpu;
  v.memory_total = memory;
  return v;
}

TaskDemand D(int64_t cpu, int64_t memory, std::vector<int32_t> tcp = {}) {
  TaskDemand d;
  d.cpu = cpu;
  d.memory = memory;
  d.tcp_ports = std::move(tcp);
  return d;
}

struct Row {
  std::string name;
  std::vector<InstanceView> instances;
  TaskDemand demand;
  int count;
  std::vector<std::string> want_placed;
  std::string want_reason;  // of the failures, when any
  std::string want_detail;
};

class EngineTest : public ::testing::TestWithParam<Row> {};

TEST_P(EngineTest, Row) {
  const Row& row = GetParam();
  ClusterView view;
  for (const auto& i : row.instances) view.Upsert(i);
  PlacementResult result = Engine().Place(view, {row.demand, row.count, {}});
  EXPECT_EQ(result.placed, row.want_placed);
  ASSERT_EQ(result.placed.size() + result.failures.size(), static_cast<size_t>(row.count));
  for (const auto& f : result.failures) {
    EXPECT_EQ(f.reason, row.want_reason);
    EXPECT_EQ(f.detail, row.want_detail);
  }
}

InstanceView Draining(InstanceView v) {
  v.status = InstanceStatus::kDraining;
  return v;
}
InstanceView Disconnected(InstanceView v) {
  v.agent_connected = false;
  return v;
}
InstanceView WithPorts(InstanceView v, std::vector<int32_t> tcp) {
  for (int32_t p : tcp) v.tcp_ports_used.insert(p);
  return v;
}

INSTANTIATE_TEST_SUITE_P(
    FirstFit, EngineTest,
    ::testing::Values(
        Row{"first_fit_in_order",
            {Instance("a", 1024, 1024), Instance("b", 1024, 1024)},
            D(512, 512),
            1,
            {"a"},
            "",
            ""},
        Row{"later_tasks_see_earlier_reservations",
            {Instance("a", 1024, 1024), Instance("b", 1024, 1024)},
            D(600, 100),
            3,
            {"a", "b"},
            "RESOURCE:CPU",
            "RESOURCE:CPU on 2 instances"},
        Row{"exact_fit", {Instance("a", 512, 512)}, D(512, 512), 1, {"a"}, "", ""},
        Row{"memory_short_by_one",
            {Instance("a", 512, 511)},
            D(512, 512),
            1,
            {},
            "RESOURCE:MEMORY",
            "RESOURCE:MEMORY on 1 instance"},
        Row{"no_instances", {}, D(1, 1), 2, {}, "MISSING", "no container instances are registered in the cluster"},
        Row{"draining_is_inactive",
            {Draining(Instance("a", 1024, 1024))},
            D(1, 1),
            1,
            {},
            "INACTIVE",
            "INACTIVE on 1 instance"},
        Row{"disconnected_agent",
            {Disconnected(Instance("a", 1024, 1024))},
            D(1, 1),
            1,
            {},
            "AGENT",
            "AGENT on 1 instance"},
        Row{"reserved_port_conflicts",
            {WithPorts(Instance("a", 1024, 1024), {22, 80})},
            D(1, 1, {80}),
            1,
            {},
            "RESOURCE:PORTS",
            "RESOURCE:PORTS on 1 instance"},
        Row{"static_port_once_per_instance_within_a_request",
            {Instance("a", 1024, 1024), Instance("b", 1024, 1024)},
            D(1, 1, {8080}),
            3,
            {"a", "b"},
            "RESOURCE:PORTS",
            "RESOURCE:PORTS on 2 instances"},
        Row{"most_common_reason_wins",
            {Instance("a", 1, 1024), Instance("b", 1024, 1), Instance("c", 1024, 1), Draining(Instance("d", 9, 9))},
            D(100, 100),
            1,
            {},
            "RESOURCE:MEMORY",
            "INACTIVE on 1 instance, RESOURCE:CPU on 1 instance, RESOURCE:MEMORY on 2 instances"}),
    [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

TEST(ClusterViewTest, ReserveReleaseAndRemove) {
  ClusterView view;
  view.Upsert(Instance("a", 1000, 1000));
  view.Upsert(Instance("b", 1000, 1000));
  TaskDemand d{100, 200, {80}, {53}};
  view.Reserve("a", d);
  EXPECT_EQ(view.Find("a")->cpu_remaining(), 900);
  EXPECT_EQ(view.Find("a")->memory_remaining(), 800);
  EXPECT_TRUE(view.Find("a")->tcp_ports_used.contains(80));
  EXPECT_TRUE(view.Find("a")->udp_ports_used.contains(53));
  view.Release("a", d);
  EXPECT_EQ(view.Find("a")->cpu_remaining(), 1000);
  EXPECT_FALSE(view.Find("a")->tcp_ports_used.contains(80));
  view.Remove("a");
  EXPECT_EQ(view.Find("a"), nullptr);
  ASSERT_NE(view.Find("b"), nullptr) << "removing one instance keeps the others findable";
  EXPECT_EQ(view.size(), 1u);
}

TEST(EngineOnlyInstancesTest, RestrictsCandidates) {
  ClusterView view;
  view.Upsert(Instance("a", 1000, 1000));
  view.Upsert(Instance("b", 1000, 1000));
  PlacementResult r = Engine().Place(view, {D(1, 1), 1, {"b"}});
  EXPECT_EQ(r.placed, std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace berth::placement
