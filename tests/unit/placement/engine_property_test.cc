// Property test: Engine::PlaceOne (on a view that Engine::Prepare never touched, and on one it
// prepares) against the brute-force reference, over thousands of seeded random clusters and request
// sequences, with reservations, releases, re-registrations and removals between placements.
//
// Deterministic: every scenario is built from std::mt19937_64 seeded with its number (the
// distributions are libstdc++'s, so another standard library draws other scenarios). A mismatch
// prints the seed, the step, the request and the cluster; BERTH_PLACEMENT_SEED=<n> runs that one
// seed (in the block it belongs to). After every batch of changes the view's accounting is also
// checked against a model of the registrations and the tasks' holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "berth/common/strings.h"
#include "berth/placement/cluster_view.h"
#include "berth/placement/engine.h"
#include "tests/unit/placement/reference.h"

namespace berth::placement {
namespace {

// Scenarios per block; blocks run as separate test cases.
constexpr int kSeedsPerBlock = 500;
constexpr int kBlocks = 4;
constexpr int kMaxInstances = 60;
// A few larger clusters, where the indexed walks stop early.
constexpr int kLargeSeedsPerBlock = 25;
constexpr int kLargeBlocks = 2;
constexpr int kLargeMaxInstances = 400;
// A failing block reports at most this many seeds.
constexpr int kMaxReportedSeeds = 3;

// Whether a re-registration may reserve a port a running task holds (ClusterView keeps such ports
// used across Release / Upsert: see ClusterViewPortsTest in engine_view_test.cc).
constexpr bool kReservedPortsMayOverlapHeld = true;

using Rng = std::mt19937_64;

int Uniform(Rng& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
bool Chance(Rng& rng, double p) { return std::bernoulli_distribution(p)(rng); }
template <typename T>
const T& Pick(Rng& rng, const std::vector<T>& from) {
  return from[static_cast<size_t>(Uniform(rng, 0, static_cast<int>(from.size()) - 1))];
}
// A random subset of `from` (distinct elements), at most `max` of them.
template <typename T>
std::vector<T> Some(Rng& rng, std::vector<T> from, int max) {
  std::shuffle(from.begin(), from.end(), rng);
  from.resize(static_cast<size_t>(std::min<int>(Uniform(rng, 0, max), static_cast<int>(from.size()))));
  return from;
}

const std::vector<std::string> kGroups = {"g1", "g2", "g3", "g4", ""};
const std::vector<std::string> kExpressions = {
    "attribute:az == a",
    "attribute:az != b",
    "attribute:type =~ t2.*",
    "attribute:type in [t2.small, g2.2xlarge]",
    "not(task:group == g1)",
    "task:group == g2 or attribute:az == c",
    "attribute:stack exists",
    "runningTasksCount < 3",
    "agentVersion >= 1.20.0 and agentConnected == true",
};

// ---------------------------------------------------------------------------------------------
// Random clusters and requests

void RandomAttributes(Rng& rng, InstanceView& v) {
  v.attributes.clear();
  for (int n = Uniform(rng, 0, 3), i = 0; i < n; ++i) {
    switch (Uniform(rng, 0, 2)) {
      case 0:
        v.attributes["az"] = Pick(rng, std::vector<std::string>{"a", "b", "c"});
        break;
      case 1:
        v.attributes["type"] = Pick(rng, std::vector<std::string>{"t2.small", "t2.medium", "g2.2xlarge"});
        break;
      default:
        v.attributes["stack"] = Pick(rng, std::vector<std::string>{"prod", "dev", ""});
        break;
    }
  }
}

// Status, agent, launch type, attributes and totals: what a re-registration may change.
void RandomRegistration(Rng& rng, InstanceView& v) {
  v.cpu_total = Pick(rng, std::vector<int64_t>{0, 512, 1024, 1024, 2048, 4096});
  v.memory_total = Pick(rng, std::vector<int64_t>{0, 512, 1024, 2048, 2048, 4096});
  v.gpu_total = Pick(rng, std::vector<int32_t>{0, 0, 0, 1, 2});
  v.eni_total = Pick(rng, std::vector<int32_t>{kUnlimitedEni, kUnlimitedEni, 0, 1, 2});
  const int status = Uniform(rng, 0, 9);
  v.status = status < 8 ? InstanceStatus::kActive : status < 9 ? InstanceStatus::kDraining : InstanceStatus::kInactive;
  v.agent_connected = Chance(rng, 0.9);
  v.launch_type = Chance(rng, 0.9) ? LaunchType::kEc2 : LaunchType::kExternal;
  v.agent_version = Pick(rng, std::vector<std::string>{"1.14.5", "1.20.0", "1.70.2"});
  RandomAttributes(rng, v);
}

// Reserved ports and the ephemeral range (small ones often, to run out of dynamic ports).
void RandomPorts(Rng& rng, InstanceView& v) {
  v.ephemeral_low = kDefaultEphemeralLow;
  v.ephemeral_high = kDefaultEphemeralHigh;
  if (Chance(rng, 0.35)) {
    v.ephemeral_low = 50000 + Uniform(rng, 0, 2);
    v.ephemeral_high = v.ephemeral_low + Uniform(rng, -1, 4);  // sometimes empty
  }
  v.tcp_ports_reserved.clear();
  v.udp_ports_reserved.clear();
  for (int32_t p : Some<int32_t>(rng, {22, 80, 2375, 50000, 50001, 50002}, 3)) v.tcp_ports_reserved.insert(p);
  for (int32_t p : Some<int32_t>(rng, {53, 50000, 50001}, 2)) v.udp_ports_reserved.insert(p);
}

InstanceView RandomInstance(Rng& rng, const std::string& id) {
  InstanceView v;
  v.id = id;
  v.ec2_instance_id = StrCat("i-", id);
  v.registered_at = 1700000000 + Uniform(rng, 0, 1000);
  RandomRegistration(rng, v);
  RandomPorts(rng, v);
  return v;
}

// A task already running on `v`, with ports that are free there.
TaskHold RandomHold(Rng& rng, const InstanceView& v) {
  TaskHold h;
  h.group = Pick(rng, kGroups);
  h.cpu = Pick(rng, std::vector<int64_t>{0, 128, 256, 512});
  h.memory = Pick(rng, std::vector<int64_t>{0, 128, 256, 512});
  h.gpus = Chance(rng, 0.1) ? 1 : 0;
  h.eni = Chance(rng, 0.2);
  h.running = Chance(rng, 0.5);
  for (int32_t p : Some<int32_t>(rng, {80, 8080, 50000, 50001, 50002, 50003}, 2)) {
    if (!v.tcp_ports_used.contains(p)) h.tcp_ports.push_back(p);
  }
  for (int32_t p : Some<int32_t>(rng, {53, 50000, 50001}, 1)) {
    if (!v.udp_ports_used.contains(p)) h.udp_ports.push_back(p);
  }
  return h;
}

Strategy RandomStrategy(Rng& rng) {
  switch (Uniform(rng, 0, 6)) {
    case 0:
      return {Strategy::Type::kBinpack, Strategy::Field::kCpu, ""};
    case 1:
      return {Strategy::Type::kBinpack, Strategy::Field::kMemory, ""};
    case 2:
      return {Strategy::Type::kSpread, Strategy::Field::kInstanceId, ""};
    case 3:
      return {Strategy::Type::kSpread, Strategy::Field::kAttribute, "az"};
    case 4:
      return {Strategy::Type::kSpread, Strategy::Field::kAttribute, "type"};
    case 5:
      return {Strategy::Type::kSpread, Strategy::Field::kAttribute, "missing-name"};
    default:
      return {Strategy::Type::kRandom, Strategy::Field::kNone, ""};
  }
}

Constraint MemberOf(const std::string& text) {
  absl::StatusOr<Expression> e = ParseExpression(text);
  if (!e.ok()) {
    std::fprintf(stderr, "bad expression %s: %s\n", text.c_str(), e.status().ToString().c_str());
    std::abort();
  }
  return {Constraint::Type::kMemberOf, std::make_shared<const Expression>(*std::move(e))};
}

PlacementRequest RandomRequest(Rng& rng, const std::vector<std::string>& ids) {
  PlacementRequest r;
  TaskDemand& d = r.demand;
  d.cpu = Pick(rng, std::vector<int64_t>{0, 0, 128, 256, 512, 1024});
  d.memory = Pick(rng, std::vector<int64_t>{0, 128, 256, 512, 1024, 2048});
  d.gpus = Chance(rng, 0.85) ? 0 : Uniform(rng, 1, 2);
  d.eni = Chance(rng, 0.2);
  d.tcp_ports = Some<int32_t>(rng, {80, 8080, 22, 50000, 50001}, Chance(rng, 0.6) ? 0 : 2);
  d.udp_ports = Some<int32_t>(rng, {53, 50000}, Chance(rng, 0.8) ? 0 : 1);
  d.dynamic_tcp_ports = Chance(rng, 0.5) ? 0 : Uniform(rng, 1, 3);
  d.dynamic_udp_ports = Chance(rng, 0.8) ? 0 : Uniform(rng, 1, 2);
  r.count = Uniform(rng, 1, 5);
  r.launch_type = Chance(rng, 0.95) ? LaunchType::kEc2 : LaunchType::kExternal;
  r.group = Pick(rng, kGroups);
  // Half without a cap; -1 checks that a negative cap is no limit.
  r.max_per_instance = Pick(rng, std::vector<int32_t>{0, 0, 0, -1, 1, 2, 2, 3});
  if (Chance(rng, 0.2)) {
    r.required_attributes.push_back(Pick(
        rng, std::vector<RequiredAttribute>{{"az", "a"}, {"type", std::nullopt}, {"stack", ""}, {"stack", "prod"}}));
  }
  for (int n = Uniform(rng, 0, 2), i = 0; i < n; ++i) {
    if (Chance(rng, 0.4)) {
      r.constraints.push_back({Constraint::Type::kDistinctInstance, nullptr});
    } else {
      r.constraints.push_back(MemberOf(Pick(rng, kExpressions)));
    }
  }
  for (int n = Uniform(rng, 0, 3), i = 0; i < n; ++i) r.strategies.push_back(RandomStrategy(rng));
  r.seed = rng();
  if (!ids.empty() && Chance(rng, 0.15)) {
    r.only_instances = Some(rng, ids, 4);
    if (Chance(rng, 0.2)) r.only_instances.push_back("nope");
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Descriptions, for a mismatch report

std::string Describe(const InstanceView& v, uint32_t slot) {
  auto sorted = [](const absl::flat_hash_set<int32_t>& s) {
    std::vector<int32_t> out(s.begin(), s.end());
    std::sort(out.begin(), out.end());
    std::string text;
    for (int32_t p : out) StrAppend(&text, text.empty() ? "" : ",", p);
    return text;
  };
  std::string out =
      StrCat("  ", v.id, " slot=", slot, " tiebreak=", v.tiebreak, " status=", static_cast<int>(v.status),
             " agent=", v.agent_connected, " external=", v.launch_type == LaunchType::kExternal, " cpu=", v.cpu_used,
             "/", v.cpu_total, " mem=", v.memory_used, "/", v.memory_total, " gpu=", v.gpu_used, "/", v.gpu_total,
             " eni=", v.eni_used, "/", v.eni_total, " eph=", v.ephemeral_low, "-", v.ephemeral_high, " tcp={",
             sorted(v.tcp_ports_used), "} udp={", sorted(v.udp_ports_used), "} attrs={");
  std::vector<std::pair<std::string, std::string>> attrs(v.attributes.begin(), v.attributes.end());
  std::sort(attrs.begin(), attrs.end());
  for (const auto& [k, val] : attrs) StrAppend(&out, k, "=", val, ";");
  out += "} groups={";
  std::vector<std::pair<std::string, int32_t>> groups(v.group_counts.begin(), v.group_counts.end());
  std::sort(groups.begin(), groups.end());
  for (const auto& [g, n] : groups) StrAppend(&out, g, ":", n, ";");
  StrAppend(&out, "} tasks=", v.task_count, " running=", v.running_task_count, " version=", v.agent_version, "\n");
  return out;
}

std::string Describe(const ClusterView& view) {
  std::string out;
  view.ForEach([&](const InstanceView& v) { out += Describe(v, view.FindSlot(v.id)); });
  return out;
}

std::string Describe(const PlacementRequest& r, int index) {
  std::string out = StrCat("  task ", index, " of ", r.count, ": cpu=", r.demand.cpu, " mem=", r.demand.memory,
                           " gpus=", r.demand.gpus, " eni=", r.demand.eni, " tcp=[");
  for (int32_t p : r.demand.tcp_ports) StrAppend(&out, p, " ");
  out += "] udp=[";
  for (int32_t p : r.demand.udp_ports) StrAppend(&out, p, " ");
  StrAppend(&out, "] dyn_tcp=", r.demand.dynamic_tcp_ports, " dyn_udp=", r.demand.dynamic_udp_ports,
            " external=", r.launch_type == LaunchType::kExternal, " group='", r.group,
            "' max_per_instance=", r.max_per_instance, " seed=", r.seed, "\n  required:");
  for (const RequiredAttribute& a : r.required_attributes) {
    StrAppend(&out, " ", a.name, a.value ? StrCat("=", *a.value) : std::string("(any)"));
  }
  out += "\n  constraints:";
  for (const Constraint& c : r.constraints) {
    out += c.type == Constraint::Type::kDistinctInstance ? std::string(" distinctInstance")
                                                         : StrCat(" memberOf(", c.expression->ToString(), ")");
  }
  out += "\n  strategies:";
  for (const Strategy& s : r.strategies) StrAppend(&out, " ", s.ToString());
  out += "\n  only:";
  for (const std::string& id : r.only_instances) StrAppend(&out, " ", id);
  return out + "\n";
}

std::string Describe(const std::optional<Placement>& p) {
  if (!p) return "no placement";
  std::string out = StrCat(p->instance_id, " tcp=[");
  for (int32_t port : p->dynamic_tcp_ports) StrAppend(&out, port, " ");
  out += "] udp=[";
  for (int32_t port : p->dynamic_udp_ports) StrAppend(&out, port, " ");
  return out + "]";
}

std::string Describe(const std::array<int32_t, kReasonCount>& rejected) {
  std::string out;
  for (int r = 0; r < kReasonCount; ++r) {
    if (rejected[r] != 0) StrAppend(&out, ReasonName(static_cast<Reason>(r)), "=", rejected[r], " ");
  }
  return out;
}

// The failure detail the engine writes for these counts: reasons by count, most first (ties in
// filter order), "RESOURCE:MEMORY on 812 instances, AGENT on 1 instance".
std::string Detail(const std::array<int32_t, kReasonCount>& rejected) {
  std::vector<int> reasons;
  for (int r = 0; r < kReasonCount; ++r) {
    if (rejected[r] > 0) reasons.push_back(r);
  }
  std::stable_sort(reasons.begin(), reasons.end(), [&](int a, int b) { return rejected[a] > rejected[b]; });
  std::string out;
  for (int r : reasons) {
    StrAppend(&out, out.empty() ? "" : ", ", ReasonName(static_cast<Reason>(r)), " on ", rejected[r],
              rejected[r] == 1 ? " instance" : " instances");
  }
  return out;
}

// What differs between the engine's decision and the reference's ("" when they agree).
std::string Compare(const Decision& d, const reference::Outcome& o) {
  if (d.placement.has_value() != o.placement.has_value() ||
      (d.placement && (d.placement->instance_id != o.placement->instance_id ||
                       d.placement->dynamic_tcp_ports != o.placement->dynamic_tcp_ports ||
                       d.placement->dynamic_udp_ports != o.placement->dynamic_udp_ports))) {
    return StrCat(
        "engine: ", d.placement ? Describe(d.placement) : StrCat(d.failure.reason, ": ", d.failure.detail),
        "\n  reference: ", o.placement ? Describe(o.placement) : StrCat(o.reason_name, ": ", Describe(o.rejected)));
  }
  if (!d.placement && (d.failure.reason != o.reason_name || d.failure.rejected != o.rejected ||
                       (o.reason && d.failure.detail != Detail(o.rejected)))) {
    return StrCat("engine failure: ", d.failure.reason, " [", Describe(d.failure.rejected), "] detail '",
                  d.failure.detail, "'\n  reference failure: ", o.reason_name, " [", Describe(o.rejected), "] detail '",
                  o.reason ? Detail(o.rejected) : std::string("(not checked)"), "'");
  }
  return "";
}

// Explain against the reference: counts, the top candidates, the decision, a named instance.
std::string CompareExplain(const Explanation& x, const reference::Outcome& o, const ClusterView& view,
                           const PlacementRequest& request, const std::string& named, int top_n) {
  std::string out;
  if (x.candidates != o.candidates) StrAppend(&out, "candidates ", x.candidates, " != ", o.candidates, "; ");
  if (x.feasible != static_cast<int32_t>(o.feasible.size())) {
    StrAppend(&out, "feasible ", x.feasible, " != ", o.feasible.size(), "; ");
  }
  if (x.rejected != o.rejected) StrAppend(&out, "rejected ", Describe(x.rejected), "!= ", Describe(o.rejected), "; ");
  const size_t want_top = std::min(o.feasible.size(), static_cast<size_t>(top_n));
  if (x.top.size() != want_top) {
    StrAppend(&out, "top size ", x.top.size(), " != ", want_top, "; ");
  } else {
    for (size_t i = 0; i < want_top; ++i) {
      if (x.top[i].instance_id != o.feasible[i].instance->id || x.top[i].scores != o.feasible[i].scores ||
          x.top[i].tiebreak != o.feasible[i].tiebreak) {
        StrAppend(&out, "top[", i, "] ", x.top[i].instance_id, " != ", o.feasible[i].instance->id, "; ");
      }
    }
  }
  if (Describe(x.decision) != Describe(o.placement)) {
    StrAppend(&out, "decision ", Describe(x.decision), " != ", Describe(o.placement), "; ");
  }
  if (!x.decision && x.failure.reason != o.reason_name) {
    StrAppend(&out, "failure ", x.failure.reason, " != ", o.reason_name, "; ");
  }
  // The named instance, when it is a candidate.
  const InstanceView* inst = view.Find(named);
  bool candidate = inst != nullptr && (request.only_instances.empty() ||
                                       std::find(request.only_instances.begin(), request.only_instances.end(), named) !=
                                           request.only_instances.end());
  if (candidate) {
    if (!x.instance_found) StrAppend(&out, "instance ", named, " not found; ");
    std::optional<Reason> why = reference::Reject(*inst, request);
    if (x.instance_rejected != why) StrAppend(&out, "instance ", named, " rejection differs; ");
    if (!why) {
      auto it = std::find_if(o.feasible.begin(), o.feasible.end(),
                             [&](const reference::Scored& s) { return s.instance->id == named; });
      const int rank = static_cast<int>(it - o.feasible.begin()) + 1;
      if (x.instance_rank != rank) StrAppend(&out, "instance rank ", x.instance_rank, " != ", rank, "; ");
      if (!x.instance_score || x.instance_score->scores != it->scores) {
        StrAppend(&out, "instance ", named, " scores differ; ");
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

struct LiveHold {
  std::string instance;
  TaskHold hold;
};

// The view's accounting against a model: what the registrations and the live holds add up to.
std::string CheckAccounting(const ClusterView& view, const std::vector<InstanceView>& registrations,
                            const std::vector<LiveHold>& holds) {
  std::string out;
  if (view.size() != registrations.size()) StrAppend(&out, "size ", view.size(), " != ", registrations.size(), "; ");
  std::map<std::string, std::vector<const TaskHold*>> by_instance;
  for (const LiveHold& h : holds) by_instance[h.instance].push_back(&h.hold);
  for (const InstanceView& r : registrations) {
    const InstanceView* v = view.Find(r.id);
    if (v == nullptr) {
      StrAppend(&out, r.id, " missing; ");
      continue;
    }
    int64_t cpu = 0, memory = 0;
    int32_t gpus = 0, enis = 0, tasks = 0, running = 0;
    absl::flat_hash_set<int32_t> tcp = r.tcp_ports_reserved, udp = r.udp_ports_reserved;
    absl::flat_hash_map<std::string, int32_t> groups;
    for (const TaskHold* h : by_instance[r.id]) {
      cpu += h->cpu;
      memory += h->memory;
      gpus += h->gpus;
      enis += h->eni ? 1 : 0;
      ++tasks;
      running += h->running ? 1 : 0;
      tcp.insert(h->tcp_ports.begin(), h->tcp_ports.end());
      udp.insert(h->udp_ports.begin(), h->udp_ports.end());
      if (!h->group.empty()) ++groups[h->group];
    }
    auto in_range = [&](const absl::flat_hash_set<int32_t>& ports) {
      return static_cast<int32_t>(std::count_if(
          ports.begin(), ports.end(), [&](int32_t p) { return p >= r.ephemeral_low && p <= r.ephemeral_high; }));
    };
    if (v->cpu_used != cpu || v->memory_used != memory || v->gpu_used != gpus || v->eni_used != enis ||
        v->task_count != tasks || v->running_task_count != running || v->group_counts != groups ||
        v->tcp_ports_used != tcp || v->udp_ports_used != udp || v->tcp_ephemeral_used != in_range(tcp) ||
        v->udp_ephemeral_used != in_range(udp) || v->status != r.status || v->attributes != r.attributes ||
        v->cpu_total != r.cpu_total || v->memory_total != r.memory_total) {
      InstanceView want = r;
      want.cpu_used = cpu;
      want.memory_used = memory;
      want.gpu_used = gpus;
      want.eni_used = enis;
      want.task_count = tasks;
      want.running_task_count = running;
      want.group_counts = groups;
      want.tcp_ports_used = tcp;
      want.udp_ports_used = udp;
      StrAppend(&out, "accounting of ", r.id, ":\n    view ", Describe(*v, view.FindSlot(r.id)), "    want ",
                Describe(want, view.FindSlot(r.id)));
    }
  }
  return out;
}

// The same cluster twice: one view is never prepared, the other is prepared before most requests.
class Scenario {
 public:
  Scenario(uint64_t seed, int max_instances) : seed_(seed), max_instances_(max_instances), rng_(seed) {}

  // Runs the scenario; "" when every decision agreed, else the first mismatch.
  std::string Run() {
    const int instances = Uniform(rng_, 0, 3) == 0 ? Uniform(rng_, 0, 4) : Uniform(rng_, 0, max_instances_);
    for (int i = 0; i < instances; ++i) AddInstance();
    for (int n = Uniform(rng_, 0, 2 * instances), i = 0; i < n; ++i) ReserveRandom();
    const int requests = Uniform(rng_, 2, 7);
    for (int q = 0; q < requests; ++q) {
      if (q > 0) {
        for (int n = Uniform(rng_, 0, 3), i = 0; i < n; ++i) Change();
      }
      // The prepared view's accounting (the same code as the plain one's, plus index upkeep).
      if (std::string broken = CheckAccounting(prepared_, registrations_, holds_); !broken.empty()) {
        return StrCat("seed ", seed_, ", before request ", q, ": ", broken);
      }
      std::string mismatch = Request(q);
      if (!mismatch.empty()) return mismatch;
    }
    if (std::string broken = CheckViews(); !broken.empty()) return StrCat("seed ", seed_, ", at the end: ", broken);
    return "";
  }

  struct Stats {
    int decisions = 0;
    int placed = 0;
    int missing = 0;
    int explained = 0;
    int capped = 0;                          // decisions where max_per_instance rejected at least one instance
    std::array<int, kReasonCount> failed{};  // failures by reason
  };
  const Stats& stats() const { return stats_; }

 private:
  std::string CheckViews() const {
    std::string out = CheckAccounting(plain_, registrations_, holds_);
    if (out.empty()) out = CheckAccounting(prepared_, registrations_, holds_);
    return out;
  }

  void Upsert(const InstanceView& v) {
    plain_.Upsert(v);
    prepared_.Upsert(v);
  }

  void AddInstance() {
    std::string id = StrCat("ci-", next_id_++);
    InstanceView v = RandomInstance(rng_, id);
    Upsert(v);
    registrations_.push_back(std::move(v));
    ids_.push_back(id);
  }

  void Reserve(const std::string& id, const TaskHold& hold) {
    plain_.Reserve(id, hold);
    prepared_.Reserve(id, hold);
    holds_.push_back({id, hold});
  }

  void ReserveRandom() {
    if (registrations_.empty()) return;
    const std::string& id = Pick(rng_, registrations_).id;
    Reserve(id, RandomHold(rng_, *plain_.Find(id)));
  }

  // A change between requests: release, re-register (other attributes, status, totals), remove,
  // add, reserve.
  void Change() {
    const int what = Uniform(rng_, 0, 9);
    if (what < 4 && !holds_.empty()) {
      const size_t i = static_cast<size_t>(Uniform(rng_, 0, static_cast<int>(holds_.size()) - 1));
      plain_.Release(holds_[i].instance, holds_[i].hold);
      prepared_.Release(holds_[i].instance, holds_[i].hold);
      holds_.erase(holds_.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (what < 7 && !registrations_.empty()) {
      InstanceView& v =
          registrations_[static_cast<size_t>(Uniform(rng_, 0, static_cast<int>(registrations_.size()) - 1))];
      const int change = Uniform(rng_, 0, 9);
      if (change < 5) {
        RandomAttributes(rng_, v);
      } else if (change < 9) {
        RandomRegistration(rng_, v);
      } else {
        RandomPorts(rng_, v);
        if (!kReservedPortsMayOverlapHeld) {
          for (const LiveHold& h : holds_) {
            if (h.instance != v.id) continue;
            for (int32_t p : h.hold.tcp_ports) v.tcp_ports_reserved.erase(p);
            for (int32_t p : h.hold.udp_ports) v.udp_ports_reserved.erase(p);
          }
        }
      }
      Upsert(v);
    } else if (what < 8 && !registrations_.empty()) {
      const size_t i = static_cast<size_t>(Uniform(rng_, 0, static_cast<int>(registrations_.size()) - 1));
      const std::string id = registrations_[i].id;
      plain_.Remove(id);
      prepared_.Remove(id);
      registrations_.erase(registrations_.begin() + static_cast<std::ptrdiff_t>(i));
      std::erase_if(holds_, [&](const LiveHold& h) { return h.instance == id; });
    } else if (what < 9) {
      AddInstance();
    } else {
      ReserveRandom();
    }
  }

  std::string Request(int q) {
    PlacementRequest request = RandomRequest(rng_, ids_);
    if (Chance(rng_, 0.8)) Engine::Prepare(prepared_, request);
    const bool explain = Chance(rng_, 0.15);
    for (int index = 0; index < request.count; ++index) {
      ++stats_.decisions;
      Decision plain = engine_.PlaceOne(plain_, request, index);
      Decision prepared = engine_.PlaceOne(prepared_, request, index);
      reference::Outcome want = reference::Place(plain_, request, index);
      std::string diff = Compare(plain, want);
      std::string which = "not prepared";
      if (diff.empty()) {
        diff = Compare(prepared, want);
        which = "prepared";
      }
      if (diff.empty() && explain) {
        ++stats_.explained;
        const std::string named = ids_.empty() ? std::string() : Pick(rng_, ids_);
        const int top_n = Uniform(rng_, 1, 5);
        diff =
            CompareExplain(engine_.Explain(plain_, request, index, named, top_n), want, plain_, request, named, top_n);
        which = StrCat("explain of ", named.empty() ? "no instance" : named, " top ", top_n);
      }
      if (!diff.empty()) {
        return StrCat("seed ", seed_, ", request ", q, " (", which, "):\n", Describe(request, index), "  ", diff,
                      "\ncluster:\n", Describe(plain_));
      }
      if (want.rejected[static_cast<int>(Reason::kMaxTasksPerInstance)] > 0) ++stats_.capped;
      if (!want.placement) {
        if (want.reason) {
          ++stats_.failed[static_cast<int>(*want.reason)];
        } else {
          ++stats_.missing;
        }
        continue;
      }
      ++stats_.placed;
      Reserve(want.placement->instance_id, want.placement->Hold(request));
    }
    return "";
  }

  const uint64_t seed_;
  const int max_instances_;
  Rng rng_;
  const Engine engine_{};
  ClusterView plain_;
  ClusterView prepared_;
  std::vector<InstanceView> registrations_;  // current registration of each live instance
  std::vector<std::string> ids_;             // every id ever registered (only_instances may name gone ones)
  std::vector<LiveHold> holds_;
  int next_id_ = 0;
  Stats stats_;
};

// Blocks 0 .. kBlocks-1: clusters of up to 60 instances; then kLargeBlocks of up to 400.
class EnginePropertyTest : public ::testing::TestWithParam<int> {};

TEST_P(EnginePropertyTest, AgreesWithReference) {
  const bool large = GetParam() >= kBlocks;
  const int per_block = large ? kLargeSeedsPerBlock : kSeedsPerBlock;
  const uint64_t first_seed = large ? 1000000 + static_cast<uint64_t>(GetParam() - kBlocks) * kLargeSeedsPerBlock
                                    : static_cast<uint64_t>(GetParam()) * kSeedsPerBlock;
  std::vector<uint64_t> seeds;
  if (const char* one = std::getenv("BERTH_PLACEMENT_SEED"); one != nullptr) {
    // The seed's own block decides the cluster size.
    const uint64_t seed = std::strtoull(one, nullptr, 10);
    if (seed < first_seed || seed >= first_seed + static_cast<uint64_t>(per_block)) GTEST_SKIP();
    seeds.push_back(seed);
  } else {
    for (int i = 0; i < per_block; ++i) seeds.push_back(first_seed + static_cast<uint64_t>(i));
  }
  const auto start = std::chrono::steady_clock::now();
  Scenario::Stats total;
  int mismatching = 0;
  for (uint64_t seed : seeds) {
    Scenario scenario(seed, large ? kLargeMaxInstances : kMaxInstances);
    std::string mismatch = scenario.Run();
    if (!mismatch.empty() && mismatching++ < kMaxReportedSeeds) ADD_FAILURE() << mismatch;
    const Scenario::Stats& s = scenario.stats();
    total.decisions += s.decisions;
    total.placed += s.placed;
    total.missing += s.missing;
    total.explained += s.explained;
    total.capped += s.capped;
    for (int r = 0; r < kReasonCount; ++r) total.failed[r] += s.failed[r];
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string failures = StrCat("MISSING=", total.missing);
  for (int r = 0; r < kReasonCount; ++r) {
    StrAppend(&failures, " ", ReasonName(static_cast<Reason>(r)), "=", total.failed[r]);
  }
  std::printf(
      "block %d: seeds %llu..%llu, %d decisions (%d placed, %d explained, %d with an instance at the cap; failures "
      "%s), "
      "%d mismatching seeds, %.2f s\n",
      GetParam(), static_cast<unsigned long long>(seeds.front()), static_cast<unsigned long long>(seeds.back()),
      total.decisions, total.placed, total.explained, total.capped, failures.c_str(), mismatching, seconds);
}

INSTANTIATE_TEST_SUITE_P(Seeds, EnginePropertyTest, ::testing::Range(0, kBlocks + kLargeBlocks));

}  // namespace
}  // namespace berth::placement
