#include "tests/unit/placement/reference.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace berth::placement::reference {
namespace {

bool Contains(const std::vector<int32_t>& ports, int32_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

bool IsSpreadByAttribute(const Strategy& s) {
  return s.type == Strategy::Type::kSpread && s.field == Strategy::Field::kAttribute;
}

// Tasks of `group` per value of `attribute`, over every instance of the view (instances without
// the attribute count under "").
std::map<std::string, int64_t> TasksPerValue(const ClusterView& view, const std::string& group,
                                             const std::string& attribute) {
  std::map<std::string, int64_t> totals;
  view.ForEach([&](const InstanceView& instance) {
    const std::string* value = instance.Attribute(attribute);
    totals[value == nullptr ? std::string() : *value] += instance.GroupCount(group);
  });
  return totals;
}

}  // namespace

bool Better(const Scored& a, const Scored& b) {
  return std::tie(a.scores, a.tiebreak, a.slot) < std::tie(b.scores, b.tiebreak, b.slot);
}

std::vector<int32_t> DynamicPorts(const InstanceView& instance, const absl::flat_hash_set<int32_t>& used,
                                  const std::vector<int32_t>& own_static, int32_t count) {
  std::vector<int32_t> ports;
  for (int64_t p = instance.ephemeral_low; p <= instance.ephemeral_high; ++p) {
    if (static_cast<int64_t>(ports.size()) >= count) break;
    const auto port = static_cast<int32_t>(p);
    if (used.contains(port) || Contains(own_static, port)) continue;
    ports.push_back(port);
  }
  return ports;
}

std::optional<Reason> Reject(const InstanceView& instance, const PlacementRequest& request) {
  const TaskDemand& demand = request.demand;
  if (instance.status != InstanceStatus::kActive) return Reason::kInactive;
  if (!instance.agent_connected) return Reason::kAgent;
  if (instance.launch_type != request.launch_type) return Reason::kAttribute;
  for (const RequiredAttribute& required : request.required_attributes) {
    const std::string* value = instance.Attribute(required.name);
    if (value == nullptr) return Reason::kAttribute;
    if (required.value.has_value() && *value != *required.value) return Reason::kAttribute;
  }
  if (instance.cpu_remaining() < demand.cpu) return Reason::kCpu;
  if (instance.memory_remaining() < demand.memory) return Reason::kMemory;
  if (instance.gpu_remaining() < demand.gpus) return Reason::kGpu;
  if (demand.eni && instance.eni_total != kUnlimitedEni && instance.eni_total - instance.eni_used < 1) {
    return Reason::kEni;
  }
  for (int32_t port : demand.tcp_ports) {
    if (instance.tcp_ports_used.contains(port)) return Reason::kPorts;
  }
  for (int32_t port : demand.udp_ports) {
    if (instance.udp_ports_used.contains(port)) return Reason::kPorts;
  }
  if (static_cast<int32_t>(
          DynamicPorts(instance, instance.tcp_ports_used, demand.tcp_ports, demand.dynamic_tcp_ports).size()) <
      demand.dynamic_tcp_ports) {
    return Reason::kPorts;
  }
  if (static_cast<int32_t>(
          DynamicPorts(instance, instance.udp_ports_used, demand.udp_ports, demand.dynamic_udp_ports).size()) <
      demand.dynamic_udp_ports) {
    return Reason::kPorts;
  }
  for (const Constraint& constraint : request.constraints) {
    if (constraint.type == Constraint::Type::kDistinctInstance && instance.GroupCount(request.group) > 0) {
      return Reason::kDistinctInstance;
    }
  }
  for (const Constraint& constraint : request.constraints) {
    if (constraint.type == Constraint::Type::kMemberOf && !constraint.expression->Matches(ViewSubject(instance))) {
      return Reason::kMemberOf;
    }
  }
  if (request.max_per_instance > 0 && !request.group.empty() &&
      instance.GroupCount(request.group) >= request.max_per_instance) {
    return Reason::kMaxTasksPerInstance;
  }
  return std::nullopt;
}

Outcome Place(const ClusterView& view, const PlacementRequest& request, int index) {
  Outcome outcome;

  // 1. Candidates.
  std::vector<const InstanceView*> candidates;
  if (request.only_instances.empty()) {
    view.ForEach([&](const InstanceView& instance) { candidates.push_back(&instance); });
  } else {
    for (const std::string& id : request.only_instances) {
      const InstanceView* instance = view.Find(id);
      if (instance == nullptr) continue;
      if (std::find(candidates.begin(), candidates.end(), instance) != candidates.end()) continue;
      candidates.push_back(instance);
    }
  }
  outcome.candidates = static_cast<int32_t>(candidates.size());

  // Spread-by-attribute counts: the same for every candidate, so computed once per strategy.
  std::vector<std::map<std::string, int64_t>> per_value(request.strategies.size());
  for (size_t s = 0; s < request.strategies.size(); ++s) {
    if (IsSpreadByAttribute(request.strategies[s])) {
      per_value[s] = TasksPerValue(view, request.group, request.strategies[s].attribute);
    }
  }

  // 2. Filters; 3. the scores of the feasible ones.
  for (const InstanceView* instance : candidates) {
    if (std::optional<Reason> reason = Reject(*instance, request)) {
      ++outcome.rejected[static_cast<int>(*reason)];
      continue;
    }
    Scored scored;
    scored.instance = instance;
    scored.tiebreak = instance->tiebreak;
    scored.slot = view.FindSlot(instance->id);
    for (size_t s = 0; s < request.strategies.size(); ++s) {
      const Strategy& strategy = request.strategies[s];
      int64_t score = 0;
      switch (strategy.type) {
        case Strategy::Type::kBinpack:
          score = strategy.field == Strategy::Field::kCpu ? instance->cpu_remaining() : instance->memory_remaining();
          break;
        case Strategy::Type::kSpread:
          if (strategy.field == Strategy::Field::kAttribute) {
            const std::string* value = instance->Attribute(strategy.attribute);
            score = per_value[s][value == nullptr ? std::string() : *value];
          } else {
            score = instance->GroupCount(request.group);
          }
          break;
        case Strategy::Type::kRandom:
          score = RandomScore(request.seed, index, instance->tiebreak);
          break;
      }
      scored.scores.push_back(score);
    }
    // 4. Dynamic host ports.
    scored.dynamic_tcp_ports =
        DynamicPorts(*instance, instance->tcp_ports_used, request.demand.tcp_ports, request.demand.dynamic_tcp_ports);
    scored.dynamic_udp_ports =
        DynamicPorts(*instance, instance->udp_ports_used, request.demand.udp_ports, request.demand.dynamic_udp_ports);
    outcome.feasible.push_back(std::move(scored));
  }
  std::sort(outcome.feasible.begin(), outcome.feasible.end(), Better);

  if (!outcome.feasible.empty()) {
    const Scored& best = outcome.feasible.front();
    Placement placement;
    placement.instance_id = best.instance->id;
    placement.dynamic_tcp_ports = best.dynamic_tcp_ports;
    placement.dynamic_udp_ports = best.dynamic_udp_ports;
    outcome.placement = std::move(placement);
    return outcome;
  }

  // 5. Failure.
  if (outcome.candidates == 0) {
    outcome.reason_name = kReasonMissing;
    return outcome;
  }
  int most = 0;
  for (int r = 1; r < kReasonCount; ++r) {
    if (outcome.rejected[r] > outcome.rejected[most]) most = r;
  }
  outcome.reason = static_cast<Reason>(most);
  outcome.reason_name = std::string(ReasonName(*outcome.reason));
  return outcome;
}

}  // namespace berth::placement::reference
