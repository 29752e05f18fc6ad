// Builders for the placement engine's tests: container instances (I), requests (R), task holds
// (H), strategies and constraints, and the helpers that load a ClusterView and resolve a tied
// expectation. Shared by engine_test.cc, engine_view_test.cc and engine_explain_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/placement/engine.h"
#include "berth/placement/expression.h"

namespace berth::placement {

inline constexpr char kDistinct[] = "DistinctInstance placement constraint unsatisfied.";
inline constexpr char kMemberOfReason[] = "MemberOf placement constraint unsatisfied.";
inline constexpr char kMaxTasks[] = "MaxTasksPerInstance limit reached.";

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

inline Strategy BinpackCpu() { return {Strategy::Type::kBinpack, Strategy::Field::kCpu, ""}; }
inline Strategy BinpackMemory() { return {Strategy::Type::kBinpack, Strategy::Field::kMemory, ""}; }
inline Strategy SpreadInstance() { return {Strategy::Type::kSpread, Strategy::Field::kInstanceId, ""}; }
inline Strategy SpreadAttribute(std::string name) {
  return {Strategy::Type::kSpread, Strategy::Field::kAttribute, std::move(name)};
}
inline Strategy RandomStrategy() { return {Strategy::Type::kRandom, Strategy::Field::kNone, ""}; }

inline Constraint Distinct() { return {Constraint::Type::kDistinctInstance, nullptr}; }
inline Constraint MemberOf(std::string_view text) {
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

inline void Load(ClusterView& view, const std::vector<InstanceView>& instances, const std::vector<HoldOn>& holds) {
  for (const InstanceView& i : instances) view.Upsert(i);
  for (const HoldOn& h : holds) view.Reserve(h.instance, h.hold);
}

// "a|b|c": of the named instances, the one with the lowest tiebreak (the last tie-break is a hash
// of the id, so a test names the tied set instead of guessing the hash order).
inline std::string Resolve(const ClusterView& view, const std::string& want) {
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

}  // namespace berth::placement
