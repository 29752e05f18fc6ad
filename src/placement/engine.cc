#include "berth/placement/engine.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "berth/common/strings.h"

namespace berth::placement {
namespace {

enum Reason { kInactive, kAgent, kCpu, kMemory, kPorts, kNumReasons };
constexpr std::array<const char*, kNumReasons> kReasonNames = {kReasonInactive, kReasonAgent, kReasonCpu, kReasonMemory,
                                                               kReasonPorts};

// Tentative reservations made earlier in the same request, per instance position.
struct Tentative {
  int64_t cpu = 0;
  int64_t memory = 0;
  int tasks = 0;
};

bool PortsFree(const absl::flat_hash_set<int32_t>& used, const std::vector<int32_t>& want, int tentative_tasks) {
  // A static host port can be held by one task only: a second task of the same request on the
  // same instance always collides with the first.
  if (!want.empty() && tentative_tasks > 0) return false;
  for (int32_t p : want) {
    if (used.contains(p)) return false;
  }
  return true;
}

// Returns kNumReasons when the instance fits.
Reason Check(const InstanceView& inst, const TaskDemand& d, const Tentative& t) {
  if (inst.status != InstanceStatus::kActive) return kInactive;
  if (!inst.agent_connected) return kAgent;
  if (inst.cpu_remaining() - t.cpu < d.cpu) return kCpu;
  if (inst.memory_remaining() - t.memory < d.memory) return kMemory;
  if (!PortsFree(inst.tcp_ports_used, d.tcp_ports, t.tasks) || !PortsFree(inst.udp_ports_used, d.udp_ports, t.tasks)) {
    return kPorts;
  }
  return kNumReasons;
}

PlacementFailure Explain(const std::array<int, kNumReasons>& counts, size_t candidates) {
  if (candidates == 0) return {kReasonMissing, "no container instances are registered in the cluster"};
  int best = 0;
  for (int r = 1; r < kNumReasons; ++r) {
    if (counts[r] > counts[best]) best = r;
  }
  std::string detail;
  for (int r = 0; r < kNumReasons; ++r) {
    if (counts[r] == 0) continue;
    if (!detail.empty()) detail += ", ";
    StrAppend(&detail, kReasonNames[r], " on ", counts[r], counts[r] == 1 ? " instance" : " instances");
  }
  return {kReasonNames[best], detail};
}

}  // namespace

PlacementResult Engine::Place(const ClusterView& view, const PlacementRequest& request) const {
  PlacementResult result;
  std::vector<const InstanceView*> candidates;
  if (request.only_instances.empty()) {
    candidates.reserve(view.size());
    for (const auto& inst : view.instances()) candidates.push_back(&inst);
  } else {
    for (const auto& id : request.only_instances) {
      if (const InstanceView* inst = view.Find(id)) candidates.push_back(inst);
    }
  }
  std::vector<Tentative> tentative(candidates.size());
  for (int n = 0; n < request.count; ++n) {
    std::array<int, kNumReasons> counts{};
    bool placed = false;
    for (size_t i = 0; i < candidates.size(); ++i) {
      Reason r = Check(*candidates[i], request.demand, tentative[i]);
      if (r == kNumReasons) {
        tentative[i].cpu += request.demand.cpu;
        tentative[i].memory += request.demand.memory;
        tentative[i].tasks++;
        result.placed.push_back(candidates[i]->id);
        placed = true;
        break;
      }
      counts[r]++;
    }
    if (!placed) {
      PlacementFailure f = Explain(counts, candidates.size());
      // Later tasks of the same request see the same cluster: they fail for the same reason.
      for (int k = n; k < request.count; ++k) result.failures.push_back(f);
      break;
    }
  }
  return result;
}

}  // namespace berth::placement
