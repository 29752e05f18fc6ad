// The placement engine against the definition in engine.h: strategies, constraints, filters and
// failure reasons, table-driven, each row also checked against the brute-force reference; then
// reasons and holds. ClusterView changes and random are in engine_view_test.cc, failure details,
// explain and parsing in engine_explain_test.cc.
#include "berth/placement/engine.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>
#include <set>

#include "absl/status/status.h"
#include "berth/common/strings.h"
#include "tests/unit/placement/engine_builders.h"
#include "tests/unit/placement/reference.h"

namespace berth::placement {
namespace {

// ---------------------------------------------------------------------------------------------
// The table

// Dynamic ports of each placed task.
using Ports = std::vector<std::vector<int32_t>>;

struct Row {
  std::string name;
  std::vector<InstanceView> instances = {};
  std::vector<HoldOn> holds = {};  // reserved before placing
  PlacementRequest request = {};
  std::vector<std::string> want = {};  // PlaceAll's instances, in order ("a|b": tied, see Resolve)
  std::string want_reason = {};        // of every failure (count - want.size() of them)
  std::string want_detail = {};        // of every failure; "" = not checked
  std::optional<Ports> want_tcp = {};  // when checked
  std::optional<Ports> want_udp = {};
};

void AddBinpackAndSpreadRows(std::vector<Row>& rows) {
  auto add = [&](Row row) { rows.push_back(std::move(row)); };

  // --- binpack
  add({.name = "binpack_memory_least_remaining",
       .instances = {I("a", 4096, 8192), I("b", 4096, 2048), I("c", 4096, 4096)},
       .request = R().Memory(512).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "binpack_memory_skips_instances_too_small",
       .instances = {I("a", 4096, 8192), I("b", 4096, 256), I("c", 4096, 4096)},
       .request = R().Memory(512).By(BinpackMemory()),
       .want = {"c"}});
  add({.name = "binpack_memory_exact_fit",
       .instances = {I("a", 4096, 8192), I("b", 4096, 512)},
       .request = R().Memory(512).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "binpack_memory_fills_an_instance_then_moves_on",
       .instances = {I("a", 4096, 8192), I("b", 4096, 1024)},
       .request = R().Memory(512).Count(3).By(BinpackMemory()),
       .want = {"b", "b", "a"}});
  add({.name = "binpack_cpu_least_remaining",
       .instances = {I("a", 1024, 1024), I("b", 512, 8192), I("c", 2048, 512)},
       .request = R().Cpu(256).By(BinpackCpu()),
       .want = {"b"}});
  add({.name = "binpack_cpu_exact_fit_and_ignores_memory",
       .instances = {I("a", 1024, 512), I("b", 256, 8192), I("c", 255, 1)},
       .request = R().Cpu(256).By(BinpackCpu()),
       .want = {"b"}});
  add({.name = "binpack_reads_remaining_not_total",
       .instances = {I("a", 4096, 8192), I("b", 1024, 8192)},
       .holds = {{"a", H().Cpu(3584)}},
       .request = R().Cpu(256).By(BinpackCpu()),
       .want = {"a"}});
  add({.name = "binpack_tie_broken_by_next_strategy",
       .instances = {I("a", 4096, 2048), I("b", 4096, 2048), I("c", 4096, 4096)},
       .holds = {{"a", H("g")}},
       .request = R().Memory(100).Group("g").By(BinpackMemory()).By(SpreadInstance()),
       .want = {"b"}});
  add({.name = "binpack_tie_broken_by_tiebreak",
       .instances = {I("a", 4096, 2048), I("b", 4096, 2048), I("c", 4096, 4096)},
       .request = R().Memory(100).By(BinpackMemory()),
       .want = {"a|b"}});
  add({.name = "no_strategy_tiebreak_decides",
       .instances = {I("a", 4096, 1024), I("b", 1024, 8192), I("c")},
       .request = R().Memory(100),
       .want = {"a|b|c"}});

  // --- spread
  add({.name = "spread_instance_fewest_tasks_of_the_group",
       .instances = {I("a"), I("b"), I("c")},
       .holds = {{"a", H("g")}, {"a", H("g")}, {"b", H("g")}},
       .request = R().Group("g").By(SpreadInstance()),
       .want = {"c"}});
  add({.name = "spread_instance_counts_only_its_group",
       .instances = {I("a"), I("b")},
       .holds = {{"a", H("other")}, {"a", H("other")}, {"a", H("")}, {"b", H("g")}},
       .request = R().Group("g").By(SpreadInstance()),
       .want = {"a"}});
  add({.name = "spread_instance_then_binpack_evens_out",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 4096)},
       .holds = {{"a", H("g")}},
       .request = R().Group("g").Count(3).By(SpreadInstance()).By(BinpackMemory()),
       .want = {"b", "c", "a"}});
  add({.name = "spread_attribute_fewest_tasks_in_the_value",
       .instances = {I("a1").Az("a"), I("a2").Az("a"), I("b1").Az("b")},
       .holds = {{"a1", H("g")}},
       .request = R().Group("g").By(SpreadAttribute("az")).By(BinpackMemory()),
       .want = {"b1"}});
  add({.name = "spread_attribute_missing_and_empty_values_share_one_count",
       .instances = {I("x1"), I("x2").Az(""), I("y1").Az("a")},
       .holds = {{"x1", H("g")}, {"x2", H("g")}, {"y1", H("g")}},
       .request = R().Group("g").By(SpreadAttribute("az")),
       .want = {"y1"}});
  add({.name = "spread_attribute_counts_tasks_on_every_instance",
       .instances = {I("d").Az("a").Draining(), I("a1").Az("a"), I("b1").Az("b").Disconnected(), I("b2").Az("b")},
       .holds = {{"d", H("g")}, {"d", H("g")}, {"b1", H("g")}},
       .request = R().Group("g").By(SpreadAttribute("az")),
       .want = {"b2"}});
  // The ECS example: spread over AZs, then pack memory inside each.
  add({.name = "spread_az_then_binpack_memory",
       .instances = {I("a1", 4096, 4096).Az("a"), I("a2", 4096, 2048).Az("a"), I("b1", 4096, 8192).Az("b"),
                     I("b2", 4096, 1024).Az("b")},
       .holds = {{"a1", H("g")}},
       .request = R().Memory(512).Group("g").Count(4).By(SpreadAttribute("az")).By(BinpackMemory()),
       .want = {"b2", "b2", "a2", "a2"}});
  add({.name = "spread_attribute_nobody_has_is_a_tie",
       .instances = {I("a", 4096, 4096).Az("a"), I("b", 4096, 1024).Az("b"), I("c", 4096, 2048)},
       .holds = {{"b", H("g")}},
       .request = R().Group("g").By(SpreadAttribute("nope")).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "spread_without_group_counts_nothing",
       .instances = {I("a", 4096, 4096), I("b", 4096, 1024)},
       .holds = {{"b", H("")}, {"b", H("g")}},
       .request = R().By(SpreadInstance()).By(BinpackMemory()),
       .want = {"b"}});
}

void AddConstraintRows(std::vector<Row>& rows) {
  auto add = [&](Row row) { rows.push_back(std::move(row)); };

  // --- constraints
  add({.name = "distinct_instance_within_one_request",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 4096)},
       .request = R().Group("g").Count(4).With(Distinct()).By(BinpackMemory()),
       .want = {"a", "b", "c"},
       .want_reason = kDistinct,
       .want_detail = StrCat(kDistinct, " on 3 instances")});
  add({.name = "distinct_instance_across_requests_of_the_group",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 4096)},
       .holds = {{"a", H("g")}, {"b", H("g")}, {"c", H("other")}},
       .request = R().Group("g").With(Distinct()).By(BinpackMemory()),
       .want = {"c"}});
  add({.name = "member_of_attribute",
       .instances = {I("a", 4096, 1024).Az("a"), I("b", 4096, 4096).Az("b"), I("c", 4096, 2048)},
       .request = R().With(MemberOf("attribute:az == b")).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "member_of_task_group",
       .instances = {I("a", 4096, 1024), I("b", 4096, 4096)},
       .holds = {{"b", H("db")}},
       .request = R().Group("web").With(MemberOf("task:group == db")).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "member_of_not_task_group",
       .instances = {I("a", 4096, 1024), I("b", 4096, 4096)},
       .holds = {{"a", H("db")}},
       .request = R().Group("web").With(MemberOf("not(task:group == db)")).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "member_of_sees_tasks_placed_earlier_in_the_request",
       .instances = {I("a", 4096, 1024), I("b", 4096, 4096)},
       .request = R().Group("web").Count(2).With(MemberOf("not(task:group == web)")).By(BinpackMemory()),
       .want = {"a", "b"}});
  add({.name = "member_of_every_expression_must_match",
       .instances = {I("a", 4096, 1024).Az("a").Attr("type", "t2.small"),
                     I("b", 4096, 4096).Az("a").Attr("type", "g2.2xlarge"),
                     I("c", 4096, 2048).Az("b").Attr("type", "g2.2xlarge")},
       .request = R().With(MemberOf("attribute:type =~ g2.*")).With(MemberOf("attribute:az != b")).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "member_of_unsatisfied",
       .instances = {I("a").Az("a"), I("b").Az("b")},
       .request = R().With(MemberOf("attribute:az in [c, d]")),
       .want = {},
       .want_reason = kMemberOfReason,
       .want_detail = StrCat(kMemberOfReason, " on 2 instances")});
  add({.name = "distinct_counted_before_member_of",
       .instances = {I("a").Az("a"), I("b").Az("b"), I("c").Az("a")},
       .holds = {{"a", H("g")}, {"b", H("g")}},
       .request = R().Group("g").With(MemberOf("attribute:az == b")).With(Distinct()),
       .want = {},
       .want_reason = kDistinct,
       .want_detail = StrCat(kDistinct, " on 2 instances, ", kMemberOfReason, " on 1 instance")});
}

void AddMaxPerInstanceRows(std::vector<Row>& rows) {
  auto add = [&](Row row) { rows.push_back(std::move(row)); };

  // --- max tasks per instance of the group (Berth extension)
  add({.name = "max_per_instance_1_places_like_distinct_instance",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 4096)},
       .request = R().Group("g").Count(4).MaxPerInstance(1).By(BinpackMemory()),
       .want = {"a", "b", "c"},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 3 instances")});
  add({.name = "max_per_instance_1_with_distinct_instance_keeps_distinct_reason",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048)},
       .holds = {{"a", H("g")}},
       .request = R().Group("g").Count(2).MaxPerInstance(1).With(Distinct()).By(BinpackMemory()),
       .want = {"b"},
       .want_reason = kDistinct,
       .want_detail = StrCat(kDistinct, " on 2 instances")});
  add({.name = "max_per_instance_2_binpack_fills_to_the_cap",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048)},
       .holds = {{"a", H("other")}, {"a", H("other")}, {"a", H("")}},
       .request = R().Memory(128).Group("g").Count(5).MaxPerInstance(2).By(BinpackMemory()),
       .want = {"a", "a", "b", "b"},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 2 instances")});
  add({.name = "max_per_instance_2_binpack_cpu",
       .instances = {I("a", 1024, 4096), I("b", 2048, 4096), I("c", 256, 4096)},
       .holds = {{"a", H("g")}},
       .request = R().Cpu(256).Group("g").Count(4).MaxPerInstance(2).By(BinpackCpu()),
       .want = {"c", "a", "b", "b"}});
  // Spread by instance walks instances without the group first; once there are none, the capped
  // ones among the rest are skipped.
  add({.name = "max_per_instance_2_spread_instance",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 4096)},
       .holds = {{"a", H("g")}, {"a", H("g")}, {"b", H("g")}},
       .request = R().Group("g").Count(4).MaxPerInstance(2).By(SpreadInstance()).By(BinpackMemory()),
       .want = {"c", "b", "c"},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 3 instances")});
  add({.name = "max_per_instance_2_spread_instance_alone",
       .instances = {I("a"), I("b")},
       .holds = {{"a", H("g")}, {"a", H("g")}, {"b", H("g")}},
       .request = R().Group("g").Count(2).MaxPerInstance(2).By(SpreadInstance()),
       .want = {"b"},
       .want_reason = kMaxTasks});
  // The AZ with fewer tasks of the group has only capped instances left: the next level wins.
  add({.name = "max_per_instance_2_spread_attribute_then_binpack",
       .instances = {I("a1", 4096, 1024).Az("a"), I("a2", 4096, 2048).Az("a"), I("b1", 4096, 4096).Az("b")},
       .request = R().Group("g").Count(7).MaxPerInstance(2).By(SpreadAttribute("az")).By(BinpackMemory()),
       .want = {"a1", "b1", "a1", "b1", "a2", "a2"},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 3 instances")});
  add({.name = "max_per_instance_counts_tasks_already_there",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048)},
       .holds = {{"a", H("g")}, {"a", H("g")}, {"a", H("g")}, {"b", H("g")}, {"b", H("g")}},
       .request = R().Group("g").Count(2).MaxPerInstance(3).By(BinpackMemory()),
       .want = {"b"},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 2 instances")});
  add({.name = "max_per_instance_above_the_count_is_no_limit_yet",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048)},
       .holds = {{"a", H("g")}, {"a", H("g")}, {"a", H("g")}},
       .request = R().Group("g").MaxPerInstance(4).By(BinpackMemory()),
       .want = {"a"}});
  add({.name = "max_per_instance_0_is_no_limit",
       .instances = {I("a")},
       .holds = {{"a", H("g")}, {"a", H("g")}},
       .request = R().Group("g").Count(3).MaxPerInstance(0),
       .want = {"a", "a", "a"}});
  add({.name = "max_per_instance_negative_is_no_limit",
       .instances = {I("a")},
       .holds = {{"a", H("g")}},
       .request = R().Group("g").Count(2).MaxPerInstance(-1),
       .want = {"a", "a"}});
  // Group "" is no group: its tasks are not counted, so there is nothing to cap.
  add({.name = "max_per_instance_without_group_is_no_limit",
       .instances = {I("a")},
       .holds = {{"a", H("")}, {"a", H("")}},
       .request = R().Count(3).MaxPerInstance(1),
       .want = {"a", "a", "a"}});
  add({.name = "max_per_instance_among_only_instances",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 512)},
       .holds = {{"a", H("g")}},
       .request = R().Group("g").Count(2).MaxPerInstance(1).Only({"a", "b"}).By(BinpackMemory()),
       .want = {"b"},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 2 instances")});
  add({.name = "max_per_instance_with_random",
       .instances = {I("a"), I("b"), I("c")},
       .holds = {{"a", H("g")}, {"b", H("g")}},
       .request = R().Group("g").Count(2).MaxPerInstance(1).By(RandomStrategy()).Seed(7),
       .want = {"c"},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 3 instances")});
  add({.name = "max_per_instance_counted_after_earlier_filters",
       .instances = {I("a").Draining(), I("b", 4096, 100), I("c"), I("d")},
       .holds = {{"a", H("g")}, {"b", H("g")}, {"c", H("g")}, {"d", H("g")}},
       .request = R().Memory(512).Group("g").MaxPerInstance(1),
       .want = {},
       .want_reason = kMaxTasks,
       .want_detail = StrCat(kMaxTasks, " on 2 instances, INACTIVE on 1 instance, RESOURCE:MEMORY on 1 instance")});
  // Checked after memberOf: an instance failing both counts as memberOf, and a tie goes to memberOf.
  add({.name = "max_per_instance_counted_after_member_of",
       .instances = {I("a").Az("a"), I("b").Az("b")},
       .holds = {{"a", H("g")}, {"b", H("g")}},
       .request = R().Group("g").MaxPerInstance(1).With(MemberOf("attribute:az == a")),
       .want = {},
       .want_reason = kMemberOfReason,
       .want_detail = StrCat(kMemberOfReason, " on 1 instance, ", kMaxTasks, " on 1 instance")});
}

void AddFilterRows(std::vector<Row>& rows) {
  auto add = [&](Row row) { rows.push_back(std::move(row)); };

  // --- filters and failure reasons: status, launch type, attributes, resources
  add({.name = "draining_is_inactive",
       .instances = {I("a").Draining()},
       .request = R(),
       .want = {},
       .want_reason = "INACTIVE",
       .want_detail = "INACTIVE on 1 instance"});
  add({.name = "inactive_is_inactive",
       .instances = {I("a").Status(InstanceStatus::kInactive), I("b").Status(InstanceStatus::kInactive)},
       .request = R(),
       .want = {},
       .want_reason = "INACTIVE",
       .want_detail = "INACTIVE on 2 instances"});
  add({.name = "draining_instance_is_skipped",
       .instances = {I("a", 4096, 1024).Draining(), I("b", 4096, 2048)},
       .request = R().By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "disconnected_agent",
       .instances = {I("a").Disconnected()},
       .request = R(),
       .want = {},
       .want_reason = "AGENT",
       .want_detail = "AGENT on 1 instance"});
  add({.name = "ec2_task_on_external_instance",
       .instances = {I("a").External()},
       .request = R(),
       .want = {},
       .want_reason = "ATTRIBUTE",
       .want_detail = "ATTRIBUTE on 1 instance"});
  add({.name = "external_task_on_ec2_instance",
       .instances = {I("a")},
       .request = R().External(),
       .want = {},
       .want_reason = "ATTRIBUTE",
       .want_detail = "ATTRIBUTE on 1 instance"});
  add({.name = "external_task_on_external_instance",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048).External()},
       .request = R().External().By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "required_attribute_missing",
       .instances = {I("a")},
       .request = R().Require("ecs.capability.gpu"),
       .want = {},
       .want_reason = "ATTRIBUTE",
       .want_detail = "ATTRIBUTE on 1 instance"});
  add({.name = "required_attribute_other_value",
       .instances = {I("a").Attr("os", "windows")},
       .request = R().Require("os", "linux"),
       .want = {},
       .want_reason = "ATTRIBUTE",
       .want_detail = "ATTRIBUTE on 1 instance"});
  add({.name = "required_attribute_any_value",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048).Attr("gpu", "")},
       .request = R().Require("gpu").By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "required_attribute_with_value",
       .instances = {I("a", 4096, 1024).Attr("os", "windows"), I("b", 4096, 2048).Attr("os", "linux"),
                     I("c", 4096, 4096).Attr("os", "linux")},
       .request = R().Require("os", "linux").By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "required_empty_value_needs_the_attribute",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048).Attr("tag", ""), I("c", 4096, 512).Attr("tag", "x")},
       .request = R().Require("tag", "").By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "cpu_short_by_one",
       .instances = {I("a", 511, 8192)},
       .request = R().Cpu(512),
       .want = {},
       .want_reason = "RESOURCE:CPU",
       .want_detail = "RESOURCE:CPU on 1 instance"});
  add({.name = "memory_short_by_one",
       .instances = {I("a", 4096, 511)},
       .request = R().Memory(512),
       .want = {},
       .want_reason = "RESOURCE:MEMORY",
       .want_detail = "RESOURCE:MEMORY on 1 instance"});
  add({.name = "cpu_and_memory_exactly_enough",
       .instances = {I("a", 512, 512)},
       .request = R().Cpu(512).Memory(512),
       .want = {"a"}});
  add({.name = "gpu_short",
       .instances = {I("a").Gpus(2)},
       .holds = {{"a", H().Gpus(1)}},
       .request = R().Gpus(2),
       .want = {},
       .want_reason = "RESOURCE:GPU",
       .want_detail = "RESOURCE:GPU on 1 instance"});
  add({.name = "gpu_exactly_enough",
       .instances = {I("a").Gpus(2), I("b", 1024, 1024)},
       .holds = {{"a", H().Gpus(1)}},
       .request = R().Gpus(1).By(BinpackMemory()),
       .want = {"a"}});
  add({.name = "eni_slots_used_up",
       .instances = {I("a").Enis(2), I("b").Enis(0)},
       .holds = {{"a", H().Eni()}, {"a", H().Eni()}},
       .request = R().Eni(),
       .want = {},
       .want_reason = "RESOURCE:ENI",
       .want_detail = "RESOURCE:ENI on 2 instances"});
  add({.name = "eni_unlimited_always_fits",
       .instances = {I("a", 4096, 2048).Enis(1), I("b", 4096, 4096)},
       .holds = {{"a", H().Eni()}, {"b", H().Eni()}, {"b", H().Eni()}},
       .request = R().Eni().By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "eni_limit_ignored_without_awsvpc", .instances = {I("a").Enis(0)}, .request = R(), .want = {"a"}});
}

void AddPortAndReasonRows(std::vector<Row>& rows) {
  auto add = [&](Row row) { rows.push_back(std::move(row)); };

  // --- filters and failure reasons: ports, which reason a failure gives, candidates
  add({.name = "static_tcp_port_held_by_a_task",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048)},
       .holds = {{"a", H().Tcp({8080})}},
       .request = R().Tcp({8080}).By(BinpackMemory()),
       .want = {"b"}});
  add({.name = "static_tcp_port_reserved",
       .instances = {I("a").ReservedTcp({22, 2375, 2376, 51678, 51679})},
       .request = R().Tcp({80, 2376}),
       .want = {},
       .want_reason = "RESOURCE:PORTS",
       .want_detail = "RESOURCE:PORTS on 1 instance"});
  add({.name = "static_udp_port_conflict",
       .instances = {I("a").ReservedUdp({53}), I("b")},
       .holds = {{"b", H().Udp({161})}},
       .request = R().Udp({53, 161}),
       .want = {},
       .want_reason = "RESOURCE:PORTS",
       .want_detail = "RESOURCE:PORTS on 2 instances"});
  add({.name = "tcp_and_udp_ports_are_separate",
       .instances = {I("a").ReservedUdp({53}).ReservedTcp({22})},
       .holds = {{"a", H().Udp({80})}},
       .request = R().Tcp({53, 80}).Udp({22}),
       .want = {"a"}});
  add({.name = "dynamic_ports_lowest_free",
       .instances = {I("a").Ephemeral(50000, 50009).ReservedTcp({50000}).ReservedUdp({50001})},
       .holds = {{"a", H().Tcp({50001}).Udp({50000})}},
       .request = R().Tcp({50002}).DynamicTcp(2).DynamicUdp(1),
       .want = {"a"},
       .want_tcp = Ports{{50003, 50004}},
       .want_udp = Ports{{50002}}});
  add({.name = "dynamic_ports_exactly_enough",
       .instances = {I("a").Ephemeral(50000, 50002).ReservedTcp({50001})},
       .request = R().DynamicTcp(2),
       .want = {"a"},
       .want_tcp = Ports{{50000, 50002}},
       .want_udp = Ports(1)});
  add({.name = "dynamic_ports_exhausted",
       .instances = {I("a").Ephemeral(50000, 50002).ReservedTcp({50001})},
       .holds = {{"a", H().Tcp({50000})}},
       .request = R().DynamicTcp(2),
       .want = {},
       .want_reason = "RESOURCE:PORTS",
       .want_detail = "RESOURCE:PORTS on 1 instance"});
  add({.name = "dynamic_udp_ports_exhausted",
       .instances = {I("a").Ephemeral(50000, 50000)},
       .request = R().DynamicTcp(1).DynamicUdp(2),
       .want = {},
       .want_reason = "RESOURCE:PORTS",
       .want_detail = "RESOURCE:PORTS on 1 instance"});
  add({.name = "dynamic_ports_exclude_the_tasks_own_static_ports",
       .instances = {I("a").Ephemeral(50000, 50001)},
       .request = R().Tcp({50000}).DynamicTcp(2),
       .want = {},
       .want_reason = "RESOURCE:PORTS",
       .want_detail = "RESOURCE:PORTS on 1 instance"});
  add({.name = "filters_count_the_first_failure",
       .instances = {I("a", 1, 1).Draining().Disconnected().External(), I("b", 1, 1).Disconnected().External(),
                     I("c", 1, 1).External(), I("d", 1, 1), I("e", 4096, 1), I("f", 4096, 8192)},
       .holds = {{"f", H("g")}},
       .request = R().Cpu(2).Memory(2).Group("g").With(Distinct()),
       .want = {},
       .want_reason = "INACTIVE",
       .want_detail = StrCat("INACTIVE on 1 instance, AGENT on 1 instance, ATTRIBUTE on 1 instance, RESOURCE:CPU on 1 "
                             "instance, RESOURCE:MEMORY on 1 instance, ",
                             kDistinct, " on 1 instance")});
  add({.name = "most_rejections_win",
       .instances = {I("a").Disconnected(), I("b", 4096, 1), I("c", 4096, 2), I("d", 1, 8192)},
       .request = R().Cpu(100).Memory(100),
       .want = {},
       .want_reason = "RESOURCE:MEMORY",
       .want_detail = "RESOURCE:MEMORY on 2 instances, AGENT on 1 instance, RESOURCE:CPU on 1 instance"});
  add({.name = "reason_tie_goes_to_the_earlier_filter",
       .instances = {I("a", 4096, 1), I("b", 1, 8192), I("c", 4096, 2), I("d", 2, 8192)},
       .request = R().Cpu(100).Memory(100),
       .want = {},
       .want_reason = "RESOURCE:CPU",
       .want_detail = "RESOURCE:CPU on 2 instances, RESOURCE:MEMORY on 2 instances"});
  add({.name = "empty_cluster_is_missing",
       .instances = {},
       .request = R().Count(2),
       .want = {},
       .want_reason = "MISSING"});
  add({.name = "only_instances_restrict_candidates",
       .instances = {I("a", 4096, 512), I("b", 4096, 4096), I("c", 4096, 2048), I("d", 4096, 1024)},
       .request = R().Only({"b", "c"}).By(BinpackMemory()),
       .want = {"c"}});
  add({.name = "only_instances_count_only_the_named",
       .instances = {I("a"), I("b").Draining()},
       .request = R().Only({"b"}),
       .want = {},
       .want_reason = "INACTIVE",
       .want_detail = "INACTIVE on 1 instance"});
  add({.name = "only_unknown_instances_is_missing",
       .instances = {I("a")},
       .request = R().Only({"zzz"}),
       .want = {},
       .want_reason = "MISSING"});
}

void AddSeveralTasksRows(std::vector<Row>& rows) {
  auto add = [&](Row row) { rows.push_back(std::move(row)); };

  // --- several tasks of one request
  add({.name = "later_tasks_see_earlier_memory",
       .instances = {I("a", 4096, 1024)},
       .request = R().Memory(512).Count(3),
       .want = {"a", "a"},
       .want_reason = "RESOURCE:MEMORY",
       .want_detail = "RESOURCE:MEMORY on 1 instance"});
  add({.name = "later_tasks_see_earlier_static_ports",
       .instances = {I("a", 4096, 1024), I("b", 4096, 2048)},
       .request = R().Tcp({8080}).Count(3).By(BinpackMemory()),
       .want = {"a", "b"},
       .want_reason = "RESOURCE:PORTS",
       .want_detail = "RESOURCE:PORTS on 2 instances"});
  add({.name = "later_tasks_see_earlier_dynamic_ports",
       .instances = {I("a").Ephemeral(50000, 50004)},
       .request = R().DynamicTcp(2).Count(3),
       .want = {"a", "a"},
       .want_reason = "RESOURCE:PORTS",
       .want_tcp = Ports{{50000, 50001}, {50002, 50003}}});
  add({.name = "later_tasks_see_earlier_eni_slots",
       .instances = {I("a").Enis(2)},
       .request = R().Eni().Count(3),
       .want = {"a", "a"},
       .want_reason = "RESOURCE:ENI",
       .want_detail = "RESOURCE:ENI on 1 instance"});
}

std::vector<Row> Rows() {
  std::vector<Row> rows;
  AddBinpackAndSpreadRows(rows);
  AddConstraintRows(rows);
  AddMaxPerInstanceRows(rows);
  AddFilterRows(rows);
  AddPortAndReasonRows(rows);
  AddSeveralTasksRows(rows);
  return rows;
}

// Failure messages name the row, not its bytes.
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

class EngineRowTest : public ::testing::TestWithParam<Row> {};

void CheckPlaced(const ClusterView& view, const Row& row, const PlacementResult& result) {
  ASSERT_EQ(result.placed.size(), row.want.size());
  for (size_t i = 0; i < row.want.size(); ++i) {
    EXPECT_EQ(result.placed[i].instance_id, Resolve(view, row.want[i])) << "task " << i;
    if (row.want_tcp) {
      EXPECT_EQ(result.placed[i].dynamic_tcp_ports, (*row.want_tcp)[i]) << "task " << i;
    }
    if (row.want_udp) {
      EXPECT_EQ(result.placed[i].dynamic_udp_ports, (*row.want_udp)[i]) << "task " << i;
    }
  }
  ASSERT_EQ(result.failures.size(), static_cast<size_t>(row.request.count) - row.want.size());
  for (const PlacementFailure& f : result.failures) {
    EXPECT_EQ(f.reason, row.want_reason);
    if (!row.want_detail.empty()) {
      EXPECT_EQ(f.detail, row.want_detail);
    }
  }
}

TEST_P(EngineRowTest, PlaceAll) {
  const Row& row = GetParam();
  for (bool prepared : {false, true}) {
    SCOPED_TRACE(prepared ? "prepared" : "not prepared");
    ClusterView view;
    Load(view, row.instances, row.holds);
    if (prepared) Engine::Prepare(view, row.request);
    CheckPlaced(view, row, Engine().PlaceAll(view, row.request));
  }
}

// The reference, checked against the same hand-written expectations, so that a disagreement in the
// property test points at the engine.
TEST_P(EngineRowTest, Reference) {
  const Row& row = GetParam();
  ClusterView view;
  Load(view, row.instances, row.holds);
  PlacementResult result;
  for (int i = 0; i < row.request.count; ++i) {
    reference::Outcome o = reference::Place(view, row.request, i);
    if (!o.placement) {
      result.failures.push_back({o.reason_name, "", o.rejected});
      continue;
    }
    view.Reserve(o.placement->instance_id, o.placement->Hold(row.request));
    result.placed.push_back(*o.placement);
  }
  // Only the reason: the detail is the engine's formatting.
  Row without_detail = row;
  without_detail.want_detail.clear();
  CheckPlaced(view, without_detail, result);
}

// PlaceOne, task by task, agrees with PlaceAll and with the reference (instance, ports, reason,
// per-reason counts).
TEST_P(EngineRowTest, PlaceOneAgreesWithReference) {
  const Row& row = GetParam();
  ClusterView view;
  Load(view, row.instances, row.holds);
  const Engine engine;
  for (int i = 0; i < row.request.count; ++i) {
    SCOPED_TRACE(StrCat("task ", i));
    Decision d = engine.PlaceOne(view, row.request, i);
    reference::Outcome o = reference::Place(view, row.request, i);
    ASSERT_EQ(d.placement.has_value(), o.placement.has_value());
    if (!d.placement) {
      EXPECT_EQ(d.failure.reason, o.reason_name);
      EXPECT_EQ(d.failure.rejected, o.rejected);
      continue;
    }
    EXPECT_EQ(d.placement->instance_id, o.placement->instance_id);
    EXPECT_EQ(d.placement->dynamic_tcp_ports, o.placement->dynamic_tcp_ports);
    EXPECT_EQ(d.placement->dynamic_udp_ports, o.placement->dynamic_udp_ports);
    view.Reserve(d.placement->instance_id, d.placement->Hold(row.request));
  }
}

INSTANTIATE_TEST_SUITE_P(Placement, EngineRowTest, ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Reasons and holds

TEST(ReasonTest, EcsNames) {
  const std::map<Reason, std::string> want = {
      {Reason::kInactive, "INACTIVE"},
      {Reason::kAgent, "AGENT"},
      {Reason::kAttribute, "ATTRIBUTE"},
      {Reason::kCpu, "RESOURCE:CPU"},
      {Reason::kMemory, "RESOURCE:MEMORY"},
      {Reason::kGpu, "RESOURCE:GPU"},
      {Reason::kEni, "RESOURCE:ENI"},
      {Reason::kPorts, "RESOURCE:PORTS"},
      {Reason::kDistinctInstance, kDistinct},
      {Reason::kMemberOf, kMemberOfReason},
      {Reason::kMaxTasksPerInstance, kMaxTasks},
  };
  ASSERT_EQ(want.size(), static_cast<size_t>(kReasonCount));
  for (const auto& [reason, name] : want) EXPECT_EQ(ReasonName(reason), name);
}

TEST(PlacementTest, HoldIsDemandWithStaticAndDynamicPorts) {
  PlacementRequest request = R().Cpu(256).Memory(512).Gpus(1).Eni().Tcp({80}).Udp({53}).Group("service:api");
  Placement p{"a", {50000, 50001}, {50002}};
  TaskHold h = p.Hold(request);
  EXPECT_EQ(h.cpu, 256);
  EXPECT_EQ(h.memory, 512);
  EXPECT_EQ(h.gpus, 1);
  EXPECT_TRUE(h.eni);
  EXPECT_EQ(std::set<int32_t>(h.tcp_ports.begin(), h.tcp_ports.end()), (std::set<int32_t>{80, 50000, 50001}));
  EXPECT_EQ(std::set<int32_t>(h.udp_ports.begin(), h.udp_ports.end()), (std::set<int32_t>{53, 50002}));
  EXPECT_EQ(h.group, "service:api");
}

}  // namespace
}  // namespace berth::placement
