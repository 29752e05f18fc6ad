// The placement engine against the definition in engine.h: strategies, constraints, filters and
// failure reasons (table-driven, each row also checked against the brute-force reference), then
// ClusterView changes (re-registration, removal, reserve/release), random, explain and parsing.
#include "berth/placement/engine.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>
#include <set>

#include "absl/status/status.h"
#include "berth/common/strings.h"
#include "tests/unit/placement/reference.h"

namespace berth::placement {
namespace {

constexpr char kDistinct[] = "DistinctInstance placement constraint unsatisfied.";
constexpr char kMemberOfReason[] = "MemberOf placement constraint unsatisfied.";
constexpr char kMaxTasks[] = "MaxTasksPerInstance limit reached.";

// ---------------------------------------------------------------------------------------------
// Builders

// A container instance: ACTIVE, connected, EC2, no reserved ports, default ephemeral range.
class I {
 public:
  explicit I(std::string id, int64_t cpu = 4096, int64_t memory = 8192) {
    v_.id = std::move(id);
    v_.cpu_total = cpu;
    v_.memory_total = memory;
  }
  I& Status(InstanceStatus status) {
    v_.status = status;
    return *this;
  }
  I& Draining() { return Status(InstanceStatus::kDraining); }
  I& Disconnected() {
    v_.agent_connected = false;
    return *this;
  }
  I& External() {
    v_.launch_type = LaunchType::kExternal;
    return *this;
  }
  I& Attr(std::string name, std::string value) {
    v_.attributes[std::move(name)] = std::move(value);
    return *this;
  }
  I& Az(std::string az) { return Attr("az", std::move(az)); }
  I& Gpus(int32_t n) {
    v_.gpu_total = n;
    return *this;
  }
  I& Enis(int32_t n) {
    v_.eni_total = n;
    return *this;
  }
  I& Ephemeral(int32_t low, int32_t high) {
    v_.ephemeral_low = low;
    v_.ephemeral_high = high;
    return *this;
  }
  I& ReservedTcp(std::vector<int32_t> ports) {
    v_.tcp_ports_reserved.insert(ports.begin(), ports.end());
    return *this;
  }
  I& ReservedUdp(std::vector<int32_t> ports) {
    v_.udp_ports_reserved.insert(ports.begin(), ports.end());
    return *this;
  }
  operator InstanceView() const { return v_; }  // NOLINT: builder

 private:
  InstanceView v_;
};

// What a task already running on an instance holds.
class H {
 public:
  explicit H(std::string group = "") { h_.group = std::move(group); }
  H& Cpu(int64_t v) {
    h_.cpu = v;
    return *this;
  }
  H& Memory(int64_t v) {
    h_.memory = v;
    return *this;
  }
  H& Gpus(int32_t v) {
    h_.gpus = v;
    return *this;
  }
  H& Eni() {
    h_.eni = true;
    return *this;
  }
  H& Tcp(std::vector<int32_t> ports) {
    h_.tcp_ports = std::move(ports);
    return *this;
  }
  H& Udp(std::vector<int32_t> ports) {
    h_.udp_ports = std::move(ports);
    return *this;
  }
  H& Running() {
    h_.running = true;
    return *this;
  }
  operator TaskHold() const { return h_; }  // NOLINT: builder

 private:
  TaskHold h_;
};

Strategy BinpackCpu() { return {Strategy::Type::kBinpack, Strategy::Field::kCpu, ""}; }
Strategy BinpackMemory() { return {Strategy::Type::kBinpack, Strategy::Field::kMemory, ""}; }
Strategy SpreadInstance() { return {Strategy::Type::kSpread, Strategy::Field::kInstanceId, ""}; }
Strategy SpreadAttribute(std::string name) {
  return {Strategy::Type::kSpread, Strategy::Field::kAttribute, std::move(name)};
}
Strategy RandomStrategy() { return {Strategy::Type::kRandom, Strategy::Field::kNone, ""}; }

Constraint Distinct() { return {Constraint::Type::kDistinctInstance, nullptr}; }
Constraint MemberOf(std::string_view text) {
  absl::StatusOr<Expression> e = ParseExpression(text);
  if (!e.ok()) {
    std::fprintf(stderr, "bad test expression %s: %s\n", std::string(text).c_str(), e.status().ToString().c_str());
    std::abort();
  }
  return {Constraint::Type::kMemberOf, std::make_shared<const Expression>(*std::move(e))};
}

// A request: one EC2 task needing nothing, no group, no strategy.
class R {
 public:
  R& Cpu(int64_t v) {
    r_.demand.cpu = v;
    return *this;
  }
  R& Memory(int64_t v) {
    r_.demand.memory = v;
    return *this;
  }
  R& Gpus(int32_t v) {
    r_.demand.gpus = v;
    return *this;
  }
  R& Eni() {
    r_.demand.eni = true;
    return *this;
  }
  R& Tcp(std::vector<int32_t> ports) {
    r_.demand.tcp_ports = std::move(ports);
    return *this;
  }
  R& Udp(std::vector<int32_t> ports) {
    r_.demand.udp_ports = std::move(ports);
    return *this;
  }
  R& DynamicTcp(int32_t n) {
    r_.demand.dynamic_tcp_ports = n;
    return *this;
  }
  R& DynamicUdp(int32_t n) {
    r_.demand.dynamic_udp_ports = n;
    return *this;
  }
  R& Count(int n) {
    r_.count = n;
    return *this;
  }
  R& External() {
    r_.launch_type = LaunchType::kExternal;
    return *this;
  }
  R& Group(std::string g) {
    r_.group = std::move(g);
    return *this;
  }
  R& Require(std::string name, std::optional<std::string> value = std::nullopt) {
    r_.required_attributes.push_back({std::move(name), std::move(value)});
    return *this;
  }
  R& MaxPerInstance(int32_t n) {
    r_.max_per_instance = n;
    return *this;
  }
  R& With(Constraint c) {
    r_.constraints.push_back(std::move(c));
    return *this;
  }
  R& By(Strategy s) {
    r_.strategies.push_back(std::move(s));
    return *this;
  }
  R& Seed(uint64_t s) {
    r_.seed = s;
    return *this;
  }
  R& Only(std::vector<std::string> ids) {
    r_.only_instances = std::move(ids);
    return *this;
  }
  operator PlacementRequest() const { return r_; }  // NOLINT: builder

 private:
  PlacementRequest r_;
};

struct HoldOn {
  std::string instance;
  TaskHold hold;
};

void Load(ClusterView& view, const std::vector<InstanceView>& instances, const std::vector<HoldOn>& holds) {
  for (const InstanceView& i : instances) view.Upsert(i);
  for (const HoldOn& h : holds) view.Reserve(h.instance, h.hold);
}

// "a|b|c": of the named instances, the one with the lowest tiebreak (the last tie-break is a hash
// of the id, so a test names the tied set instead of guessing the hash order).
std::string Resolve(const ClusterView& view, const std::string& want) {
  if (want.find('|') == std::string::npos) return want;
  std::string best;
  uint64_t best_tiebreak = 0;
  size_t start = 0;
  while (start <= want.size()) {
    size_t end = want.find('|', start);
    if (end == std::string::npos) end = want.size();
    std::string id = want.substr(start, end - start);
    const InstanceView* inst = view.Find(id);
    if (inst == nullptr) {
      ADD_FAILURE() << "no instance " << id;
    } else if (best.empty() || inst->tiebreak < best_tiebreak) {
      best = id;
      best_tiebreak = inst->tiebreak;
    }
    start = end + 1;
  }
  return best;
}

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

// ---------------------------------------------------------------------------------------------
// ClusterView changes between placements

// Re-registration keeps what tasks hold; spread counts follow the new attribute values.
TEST(ClusterViewChangeTest, UpsertKeepsReservationsAndSpreadFollowsAttributes) {
  for (bool prepared : {false, true}) {
    SCOPED_TRACE(prepared ? "prepared" : "not prepared");
    ClusterView view;
    Load(view, {I("a").Az("a").ReservedTcp({22}), I("b").Az("b"), I("c").Az("a")},
         {{"a", H("g").Cpu(100).Memory(200).Tcp({80})}, {"a", H("g").Cpu(100).Memory(200)}, {"b", H("g")}});
    PlacementRequest request = R().Group("g").By(SpreadAttribute("az")).By(SpreadInstance());
    if (prepared) Engine::Prepare(view, request);
    const Engine engine;
    Decision d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "b") << "az a has 2 tasks of g, az b 1";

    // a moves to az c, with other reserved ports and more memory.
    view.Upsert(I("a", 4096, 16384).Az("c").ReservedTcp({2375}));
    const InstanceView* a = view.Find("a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->cpu_used, 200);
    EXPECT_EQ(a->memory_used, 400);
    EXPECT_EQ(a->memory_remaining(), 16384 - 400);
    EXPECT_EQ(a->task_count, 2);
    EXPECT_EQ(a->GroupCount("g"), 2);
    EXPECT_EQ(a->tcp_ports_used, (absl::flat_hash_set<int32_t>{2375, 80}));
    d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "c") << "az a now has no task of g";
    EXPECT_EQ(d.placement->instance_id, reference::Place(view, request, 0).placement->instance_id);

    // Static port 22 is free on a now, 2375 is not.
    Decision port22 = engine.PlaceOne(view, R().Tcp({22}).Only({"a"}), 0);
    EXPECT_TRUE(port22.placement);
    Decision port2375 = engine.PlaceOne(view, R().Tcp({2375}).Only({"a"}), 0);
    ASSERT_FALSE(port2375.placement);
    EXPECT_EQ(port2375.failure.reason, "RESOURCE:PORTS");

    // Draining, then active again.
    view.Upsert(I("c").Az("a").Draining());
    d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "b") << "az a's only instance is draining; az b has 1, az c 2";
    view.Upsert(I("c").Az("a"));
    d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "c");
  }
}

TEST(ClusterViewChangeTest, RemoveDropsTheInstanceAndItsTasks) {
  for (bool prepared : {false, true}) {
    SCOPED_TRACE(prepared ? "prepared" : "not prepared");
    ClusterView view;
    Load(view, {I("a").Az("a"), I("b").Az("b"), I("c").Az("a")}, {{"a", H("g")}, {"a", H("g")}, {"b", H("g")}});
    PlacementRequest request = R().Group("g").By(SpreadAttribute("az"));
    if (prepared) Engine::Prepare(view, request);
    const Engine engine;
    EXPECT_EQ(engine.PlaceOne(view, request, 0).placement->instance_id, "b");
    view.Remove("a");
    EXPECT_EQ(view.Find("a"), nullptr);
    EXPECT_EQ(view.size(), 2u);
    view.Remove("a");  // unknown: nothing happens
    EXPECT_EQ(view.size(), 2u);
    EXPECT_EQ(engine.PlaceOne(view, request, 0).placement->instance_id, "c") << "a's tasks left with it";
    view.Remove("b");
    view.Remove("c");
    Decision d = engine.PlaceOne(view, request, 0);
    ASSERT_FALSE(d.placement);
    EXPECT_EQ(d.failure.reason, "MISSING");
    // Registering the id again starts empty.
    view.Upsert(I("a").Az("a"));
    EXPECT_EQ(view.Find("a")->GroupCount("g"), 0);
    EXPECT_EQ(view.Find("a")->task_count, 0);
    EXPECT_EQ(engine.PlaceOne(view, request, 0).placement->instance_id, "a");
  }
}

// Reserve then Release leaves the instance (and every decision) as it was.
TEST(ClusterViewChangeTest, ReserveReleaseSymmetry) {
  ClusterView view;
  Load(view,
       {I("a", 4096, 8192).Gpus(2).Enis(3).Ephemeral(50000, 50010).ReservedTcp({22, 50005}).ReservedUdp({53}).Az("a"),
        I("b", 4096, 4096).Az("b")},
       {{"a", H("g").Cpu(10)}});
  PlacementRequest request =
      R().Cpu(100).Memory(100).Group("g").DynamicTcp(1).By(SpreadAttribute("az")).By(BinpackMemory());
  Engine::Prepare(view, request);
  const Engine engine;
  const InstanceView before = *view.Find("a");
  Decision d0 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d0.placement);
  EXPECT_EQ(d0.placement->instance_id, "b");

  TaskHold hold = H("g").Cpu(1000).Memory(2000).Gpus(1).Eni().Tcp({8080, 50000}).Udp({5353, 50001});
  view.Reserve("a", hold);
  view.Reserve("a", H("h").Memory(1));
  const InstanceView* a = view.Find("a");
  EXPECT_EQ(a->cpu_used, 1010);
  EXPECT_EQ(a->memory_used, 2001);
  EXPECT_EQ(a->gpu_used, 1);
  EXPECT_EQ(a->eni_used, 1);
  EXPECT_EQ(a->task_count, 3);
  EXPECT_EQ(a->GroupCount("g"), 2);
  EXPECT_EQ(a->GroupCount("h"), 1);
  EXPECT_EQ(a->tcp_ports_used, (absl::flat_hash_set<int32_t>{22, 50005, 8080, 50000}));
  EXPECT_EQ(a->udp_ports_used, (absl::flat_hash_set<int32_t>{53, 5353, 50001}));
  EXPECT_EQ(a->tcp_ephemeral_used, 2);
  EXPECT_EQ(a->udp_ephemeral_used, 1);
  Decision d1 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d1.placement);
  EXPECT_EQ(d1.placement->instance_id, "b");

  view.Release("a", H("h").Memory(1));
  view.Release("a", hold);
  a = view.Find("a");
  EXPECT_EQ(a->cpu_used, before.cpu_used);
  EXPECT_EQ(a->memory_used, before.memory_used);
  EXPECT_EQ(a->gpu_used, before.gpu_used);
  EXPECT_EQ(a->eni_used, before.eni_used);
  EXPECT_EQ(a->task_count, before.task_count);
  EXPECT_EQ(a->group_counts, before.group_counts);
  EXPECT_EQ(a->tcp_ports_used, before.tcp_ports_used);
  EXPECT_EQ(a->udp_ports_used, before.udp_ports_used);
  EXPECT_EQ(a->tcp_ephemeral_used, before.tcp_ephemeral_used);
  EXPECT_EQ(a->udp_ephemeral_used, before.udp_ephemeral_used);
  Decision d2 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d2.placement);
  EXPECT_EQ(d2.placement->instance_id, d0.placement->instance_id);
  EXPECT_EQ(d2.placement->dynamic_tcp_ports, d0.placement->dynamic_tcp_ports);

  // Releasing the group's last task: spread counts return to zero everywhere.
  view.Release("a", H("g").Cpu(10));
  EXPECT_EQ(view.Find("a")->GroupCount("g"), 0);
  Decision d3 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d3.placement);
  EXPECT_EQ(d3.placement->instance_id, "b") << "tie on az counts: binpack picks b (less memory)";
  EXPECT_EQ(d3.placement->instance_id, reference::Place(view, request, 0).placement->instance_id);
}

// A port both reserved by the instance's registration and held by a task stays used until neither
// holds it: Release() must not drop a reserved port, and Upsert() must not drop a held one. Both
// states arise when an agent re-registers with other reserved ports while a task runs.
// runningTasksCount counts RUNNING tasks only, as DescribeContainerInstances and the
// ListContainerInstances filter do; pending ones hold resources but are not counted.
TEST(ClusterViewTest, RunningTasksCountCountsOnlyRunningHolds) {
  ClusterView view;
  view.Upsert(I("a"));
  view.Upsert(I("b"));
  view.Reserve("a", H().Running());
  view.Reserve("b", H());
  view.Reserve("b", H());
  EXPECT_EQ(view.Find("a")->running_task_count, 1);
  EXPECT_EQ(view.Find("b")->running_task_count, 0);
  EXPECT_EQ(view.Find("b")->task_count, 2);
  Decision d = Engine().PlaceOne(view, R().With(MemberOf("runningTasksCount == 0")), 0);
  ASSERT_TRUE(d.placement);
  EXPECT_EQ(d.placement->instance_id, "b");
  view.Release("a", H().Running());
  EXPECT_EQ(view.Find("a")->running_task_count, 0);
}

TEST(ClusterViewPortsTest, ReleaseKeepsAPortTheRegistrationReserves) {
  ClusterView view;
  view.Upsert(I("a"));
  view.Reserve("a", H().Tcp({8080}));
  view.Upsert(I("a").ReservedTcp({8080}));  // re-registration now reserves the task's port
  view.Release("a", H().Tcp({8080}));       // the task stops
  EXPECT_TRUE(view.Find("a")->tcp_ports_used.contains(8080)) << "reserved ports stay used";
  Decision d = Engine().PlaceOne(view, R().Tcp({8080}), 0);
  EXPECT_FALSE(d.placement) << "a reserved port is never handed to a task";
}

TEST(ClusterViewPortsTest, UpsertKeepsAHeldPortNoLongerReserved) {
  ClusterView view;
  view.Upsert(I("a"));
  view.Reserve("a", H().Tcp({8080}));
  view.Upsert(I("a").ReservedTcp({8080}));
  view.Upsert(I("a"));  // re-registration without the reservation; the task still runs
  EXPECT_TRUE(view.Find("a")->tcp_ports_used.contains(8080)) << "the running task holds 8080";
  Decision d = Engine().PlaceOne(view, R().Tcp({8080}), 0);
  EXPECT_FALSE(d.placement) << "a port a running task holds is not handed to another";
}

// ---------------------------------------------------------------------------------------------
// random

std::vector<InstanceView> Identical(int n) {
  std::vector<InstanceView> out;
  for (int i = 0; i < n; ++i) out.push_back(I(StrCat("i", i)));
  return out;
}

TEST(RandomStrategyTest, ChoosesTheLowestRandomScore) {
  ClusterView view;
  Load(view, Identical(5), {});
  for (uint64_t seed : {0ull, 1ull, 42ull}) {
    for (int index = 0; index < 5; ++index) {
      PlacementRequest request = R().Seed(seed).By(RandomStrategy());
      std::string best;
      int64_t best_score = 0;
      uint64_t best_tiebreak = 0;
      view.ForEach([&](const InstanceView& i) {
        int64_t s = RandomScore(seed, index, i.tiebreak);
        if (best.empty() || s < best_score || (s == best_score && i.tiebreak < best_tiebreak)) {
          best = i.id;
          best_score = s;
          best_tiebreak = i.tiebreak;
        }
      });
      Decision d = Engine().PlaceOne(view, request, index);
      ASSERT_TRUE(d.placement);
      EXPECT_EQ(d.placement->instance_id, best) << "seed " << seed << " index " << index;
    }
  }
}

TEST(RandomStrategyTest, SameSeedSameChoices) {
  PlacementRequest request = R().Memory(10).Count(30).Seed(7).By(RandomStrategy());
  auto place = [&](uint64_t seed) {
    ClusterView view;
    Load(view, Identical(10), {});
    PlacementRequest r = request;
    r.seed = seed;
    std::vector<std::string> ids;
    for (const Placement& p : Engine().PlaceAll(view, r).placed) ids.push_back(p.instance_id);
    return ids;
  };
  std::vector<std::string> first = place(7);
  ASSERT_EQ(first.size(), 30u);
  EXPECT_EQ(place(7), first);
  EXPECT_NE(place(8), first);
  EXPECT_GT(std::set<std::string>(first.begin(), first.end()).size(), 5u) << "tasks of a request vary";
}

// Over seeds (task 0) and over task indexes (one seed), each of 8 instances is chosen about 1/8 of
// the time: 8000 draws, expected 1000 each, standard deviation about 30.
TEST(RandomStrategyTest, RoughlyUniform) {
  ClusterView view;
  Load(view, Identical(8), {});
  const Engine engine;
  std::map<std::string, int> by_seed, by_index;
  for (int k = 0; k < 8000; ++k) {
    by_seed[engine.PlaceOne(view, R().Seed(k).By(RandomStrategy()), 0).placement->instance_id]++;
    by_index[engine.PlaceOne(view, R().Seed(12345).By(RandomStrategy()), k).placement->instance_id]++;
  }
  ASSERT_EQ(by_seed.size(), 8u);
  ASSERT_EQ(by_index.size(), 8u);
  for (const auto& [id, n] : by_seed) {
    EXPECT_GT(n, 850) << id << " over seeds";
    EXPECT_LT(n, 1150) << id << " over seeds";
  }
  for (const auto& [id, n] : by_index) {
    EXPECT_GT(n, 850) << id << " over task indexes";
    EXPECT_LT(n, 1150) << id << " over task indexes";
  }
}

TEST(RandomStrategyTest, OnlyAmongFeasibleAndAfterEarlierStrategies) {
  ClusterView view;
  Load(view,
       {I("a", 4096, 1024).Az("a"), I("b", 4096, 1024).Az("a"), I("c", 4096, 1024).Az("b"),
        I("d", 4096, 1024).Az("b").Draining(), I("e", 4096, 100).Az("b")},
       {{"a", H("g")}});
  PlacementRequest request = R().Memory(200).Group("g").By(SpreadAttribute("az")).By(RandomStrategy());
  std::set<std::string> chosen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    PlacementRequest r = request;
    r.seed = seed;
    chosen.insert(Engine().PlaceOne(view, r, 0).placement->instance_id);
  }
  EXPECT_EQ(chosen, std::set<std::string>{"c"}) << "az b has no task of g; d drains, e is too small";
}

// ---------------------------------------------------------------------------------------------
// Failure detail

TEST(FailureTest, DetailCountsInstancesPerReason) {
  std::vector<InstanceView> instances;
  for (int i = 0; i < 812; ++i) instances.push_back(I(StrCat("m", i), 4096, 100));
  for (int i = 0; i < 3; ++i) instances.push_back(I(StrCat("x", i)).Disconnected());
  ClusterView view;
  Load(view, instances, {});
  Decision d = Engine().PlaceOne(view, R().Memory(512), 0);
  ASSERT_FALSE(d.placement);
  EXPECT_EQ(d.failure.reason, "RESOURCE:MEMORY");
  EXPECT_EQ(d.failure.detail, "RESOURCE:MEMORY on 812 instances, AGENT on 3 instances");
  std::array<int32_t, kReasonCount> want{};
  want[static_cast<int>(Reason::kMemory)] = 812;
  want[static_cast<int>(Reason::kAgent)] = 3;
  EXPECT_EQ(d.failure.rejected, want);
}

// Every instance at the cap: the ECS-style reason, counted per instance.
TEST(FailureTest, EveryInstanceAtTheCap) {
  std::vector<InstanceView> instances;
  std::vector<HoldOn> holds;
  for (int i = 0; i < 5; ++i) {
    instances.push_back(I(StrCat("m", i)));
    holds.push_back({StrCat("m", i), H("service:api")});
    holds.push_back({StrCat("m", i), H("service:api")});
  }
  ClusterView view;
  Load(view, instances, holds);
  Decision d = Engine().PlaceOne(view, R().Group("service:api").MaxPerInstance(2).By(SpreadInstance()), 0);
  ASSERT_FALSE(d.placement);
  EXPECT_EQ(d.failure.reason, "MaxTasksPerInstance limit reached.");
  EXPECT_EQ(d.failure.detail, "MaxTasksPerInstance limit reached. on 5 instances");
  std::array<int32_t, kReasonCount> want{};
  want[static_cast<int>(Reason::kMaxTasksPerInstance)] = 5;
  EXPECT_EQ(d.failure.rejected, want);
}

TEST(FailureTest, MissingHasNoCounts) {
  ClusterView view;
  Decision d = Engine().PlaceOne(view, R(), 0);
  ASSERT_FALSE(d.placement);
  EXPECT_EQ(d.failure.reason, "MISSING");
  EXPECT_EQ(d.failure.rejected, (std::array<int32_t, kReasonCount>{}));
}

// ---------------------------------------------------------------------------------------------
// Explain

class ExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Load(view_,
         {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 4096), I("d", 4096, 512).Draining(), I("e", 4096, 256),
          I("f", 4096, 8192).Disconnected(), I("g", 4096, 300)},
         {});
  }
  ClusterView view_;
  PlacementRequest request_ = R().Memory(512).By(BinpackMemory());
};

TEST_F(ExplainTest, CountsAndTopCandidates) {
  Explanation x = Engine().Explain(view_, request_, 0, "", 2);
  EXPECT_EQ(x.candidates, 7);
  EXPECT_EQ(x.feasible, 3);
  std::array<int32_t, kReasonCount> want{};
  want[static_cast<int>(Reason::kInactive)] = 1;
  want[static_cast<int>(Reason::kAgent)] = 1;
  want[static_cast<int>(Reason::kMemory)] = 2;
  EXPECT_EQ(x.rejected, want);
  ASSERT_EQ(x.top.size(), 2u);
  EXPECT_EQ(x.top[0].instance_id, "a");
  EXPECT_EQ(x.top[0].scores, std::vector<int64_t>{1024});
  EXPECT_EQ(x.top[0].tiebreak, view_.Find("a")->tiebreak);
  EXPECT_EQ(x.top[1].instance_id, "b");
  EXPECT_EQ(x.top[1].scores, std::vector<int64_t>{2048});
  ASSERT_TRUE(x.decision);
  EXPECT_EQ(x.decision->instance_id, "a");
  EXPECT_FALSE(x.instance_found);

  Explanation all = Engine().Explain(view_, request_, 0, "", 10);
  ASSERT_EQ(all.top.size(), 3u) << "only feasible instances are ranked";
  EXPECT_EQ(all.top[2].instance_id, "c");
}

TEST_F(ExplainTest, NamedFeasibleInstanceRank) {
  Explanation x = Engine().Explain(view_, request_, 0, "c", 1);
  EXPECT_TRUE(x.instance_found);
  EXPECT_FALSE(x.instance_rejected);
  ASSERT_TRUE(x.instance_score);
  EXPECT_EQ(x.instance_score->instance_id, "c");
  EXPECT_EQ(x.instance_score->scores, std::vector<int64_t>{4096});
  EXPECT_EQ(x.instance_rank, 3);
  ASSERT_EQ(x.top.size(), 1u);

  Explanation best = Engine().Explain(view_, request_, 0, "a", 1);
  EXPECT_EQ(best.instance_rank, 1) << "1 = would be chosen";
}

TEST_F(ExplainTest, NamedRejectedInstanceReason) {
  for (const auto& [id, reason] : std::vector<std::pair<std::string, Reason>>{
           {"d", Reason::kInactive}, {"e", Reason::kMemory}, {"f", Reason::kAgent}}) {
    Explanation x = Engine().Explain(view_, request_, 0, id, 3);
    EXPECT_TRUE(x.instance_found) << id;
    ASSERT_TRUE(x.instance_rejected) << id;
    EXPECT_EQ(*x.instance_rejected, reason) << id;
  }
  Explanation unknown = Engine().Explain(view_, request_, 0, "nope", 3);
  EXPECT_FALSE(unknown.instance_found);
}

TEST_F(ExplainTest, FailureMatchesPlaceOne) {
  PlacementRequest request = R().Memory(100000);
  Explanation x = Engine().Explain(view_, request, 0, "", 3);
  Decision d = Engine().PlaceOne(view_, request, 0);
  ASSERT_FALSE(d.placement);
  EXPECT_FALSE(x.decision);
  EXPECT_EQ(x.feasible, 0);
  EXPECT_TRUE(x.top.empty());
  EXPECT_EQ(x.failure.reason, d.failure.reason);
  EXPECT_EQ(x.failure.detail, d.failure.detail);
  EXPECT_EQ(x.failure.rejected, d.failure.rejected);
  EXPECT_EQ(x.failure.reason, "RESOURCE:MEMORY");
}

// The cap in explain: counted among the rejections, named as the instance's reason, and the failure
// (every feasible instance at the cap) matches PlaceOne's.
TEST_F(ExplainTest, MaxPerInstance) {
  Load(view_, {}, {{"a", H("w")}, {"a", H("w")}, {"b", H("w")}});
  PlacementRequest request = R().Memory(512).Group("w").MaxPerInstance(2).By(BinpackMemory());
  Explanation x = Engine().Explain(view_, request, 0, "a", 5);
  EXPECT_EQ(x.candidates, 7);
  EXPECT_EQ(x.feasible, 2);
  EXPECT_EQ(x.rejected[static_cast<int>(Reason::kMaxTasksPerInstance)], 1);
  ASSERT_EQ(x.top.size(), 2u);
  EXPECT_EQ(x.top[0].instance_id, "b");
  EXPECT_EQ(x.top[1].instance_id, "c");
  ASSERT_TRUE(x.decision);
  EXPECT_EQ(x.decision->instance_id, "b");
  EXPECT_TRUE(x.instance_found);
  ASSERT_TRUE(x.instance_rejected);
  EXPECT_EQ(*x.instance_rejected, Reason::kMaxTasksPerInstance);
  EXPECT_EQ(ReasonName(*x.instance_rejected), kMaxTasks);

  view_.Reserve("c", H("w"));
  request.max_per_instance = 1;
  Explanation full = Engine().Explain(view_, request, 0, "c", 5);
  Decision d = Engine().PlaceOne(view_, request, 0);
  ASSERT_FALSE(d.placement);
  EXPECT_FALSE(full.decision);
  EXPECT_EQ(full.feasible, 0);
  EXPECT_EQ(*full.instance_rejected, Reason::kMaxTasksPerInstance);
  EXPECT_EQ(full.failure.reason, kMaxTasks);
  EXPECT_EQ(full.failure.detail,
            StrCat(kMaxTasks,
                   " on 3 instances, RESOURCE:MEMORY on 2 instances, INACTIVE on 1 instance, AGENT on 1 "
                   "instance"));
  EXPECT_EQ(full.failure.reason, d.failure.reason);
  EXPECT_EQ(full.failure.detail, d.failure.detail);
  EXPECT_EQ(full.failure.rejected, d.failure.rejected);
}

TEST_F(ExplainTest, ScoresOfEveryStrategy) {
  view_.Upsert(I("a", 4096, 1024).Az("x"));
  view_.Reserve("a", H("grp"));
  view_.Reserve("b", H("grp"));
  PlacementRequest request = R().Memory(512)
                                 .Group("grp")
                                 .Seed(9)
                                 .By(SpreadAttribute("az"))
                                 .By(SpreadInstance())
                                 .By(BinpackCpu())
                                 .By(RandomStrategy());
  Explanation x = Engine().Explain(view_, request, 4, "b", 3);
  ASSERT_TRUE(x.instance_score);
  EXPECT_EQ(x.instance_score->scores, (std::vector<int64_t>{1, 1, 4096, RandomScore(9, 4, view_.Find("b")->tiebreak)}))
      << "b has no az: it shares \"\" with c (0 tasks); one task on b";
  reference::Outcome o = reference::Place(view_, request, 4);
  ASSERT_EQ(x.top.size(), 3u);
  for (size_t i = 0; i < x.top.size(); ++i) {
    EXPECT_EQ(x.top[i].instance_id, o.feasible[i].instance->id);
    EXPECT_EQ(x.top[i].scores, o.feasible[i].scores);
  }
}

// ---------------------------------------------------------------------------------------------
// From the ECS API

TEST(StrategyFromApiTest, Valid) {
  struct Case {
    std::string type, field;
    Strategy::Type want_type;
    Strategy::Field want_field;
    std::string want_attribute;
    std::string want_string;
  };
  for (const Case& c : std::vector<Case>{
           {"binpack", "cpu", Strategy::Type::kBinpack, Strategy::Field::kCpu, "", "binpack(cpu)"},
           {"binpack", "memory", Strategy::Type::kBinpack, Strategy::Field::kMemory, "", "binpack(memory)"},
           {"spread", "instanceId", Strategy::Type::kSpread, Strategy::Field::kInstanceId, "", "spread(instanceId)"},
           {"spread", "host", Strategy::Type::kSpread, Strategy::Field::kInstanceId, "", "spread(instanceId)"},
           {"spread", "attribute:ecs.availability-zone", Strategy::Type::kSpread, Strategy::Field::kAttribute,
            "ecs.availability-zone", "spread(attribute:ecs.availability-zone)"},
           {"random", "", Strategy::Type::kRandom, Strategy::Field::kNone, "", "random"},
           {"random", "whatever", Strategy::Type::kRandom, Strategy::Field::kNone, "", "random"},
       }) {
    absl::StatusOr<Strategy> s = Strategy::FromApi(c.type, c.field);
    ASSERT_TRUE(s.ok()) << c.type << " " << c.field << ": " << s.status();
    EXPECT_EQ(s->type, c.want_type) << c.type << " " << c.field;
    EXPECT_EQ(s->field, c.want_field) << c.type << " " << c.field;
    EXPECT_EQ(s->attribute, c.want_attribute) << c.type << " " << c.field;
    EXPECT_EQ(s->ToString(), c.want_string);
  }
}

TEST(StrategyFromApiTest, Errors) {
  for (const auto& [type, field] : std::vector<std::pair<std::string, std::string>>{
           {"binpack", ""},
           {"binpack", "disk"},
           {"binpack", "instanceId"},
           {"spread", ""},
           {"spread", "cpu"},
           {"spread", "attribute:"},
           {"pack", "cpu"},
           {"", ""},
       }) {
    absl::StatusOr<Strategy> s = Strategy::FromApi(type, field);
    ASSERT_FALSE(s.ok()) << "type '" << type << "' field '" << field << "'";
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(s.status().message().empty());
  }
}

TEST(ConstraintFromApiTest, Valid) {
  absl::StatusOr<Constraint> d = Constraint::FromApi("distinctInstance", "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->type, Constraint::Type::kDistinctInstance);

  absl::StatusOr<Constraint> m = Constraint::FromApi("memberOf", "attribute:ecs.instance-type =~ g2.*");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->type, Constraint::Type::kMemberOf);
  ASSERT_NE(m->expression, nullptr);
  EXPECT_EQ(m->expression->ToString(), ParseExpression("attribute:ecs.instance-type =~ g2.*")->ToString());
}

TEST(ConstraintFromApiTest, Errors) {
  absl::StatusOr<Constraint> empty = Constraint::FromApi("memberOf", "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<Constraint> malformed = Constraint::FromApi("memberOf", "attribute:az ==");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(malformed.status().message()).find("column"), std::string::npos) << malformed.status();

  absl::StatusOr<Constraint> unknown = Constraint::FromApi("sameInstance", "");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(unknown.status().message().empty());
}

}  // namespace
}  // namespace berth::placement
