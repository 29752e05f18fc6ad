// The placement engine. See engine.h for the exact definition every path here implements.
//
// Structure: an Evaluator binds one (view, request, task index) and knows how to check an instance
// (Check), score it (Score) and compare two instances (Better). PlaceOne picks a driver from the
// first strategy and walks the matching ClusterView index; Generic() is the pass over every
// candidate that any chain can fall back to.
#include "berth/placement/engine.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "berth/common/strings.h"

namespace berth::placement {
namespace {

constexpr uint32_t kNone = ClusterView::kNoSlot;
constexpr int kFeasible = -1;

constexpr std::array<std::string_view, kReasonCount> kReasonNames = {
    "INACTIVE",
    "AGENT",
    "ATTRIBUTE",
    "RESOURCE:CPU",
    "RESOURCE:MEMORY",
    "RESOURCE:GPU",
    "RESOURCE:ENI",
    "RESOURCE:PORTS",
    "DistinctInstance placement constraint unsatisfied.",
    "MemberOf placement constraint unsatisfied.",
    "MaxTasksPerInstance limit reached.",
};
// A name left out would be an empty string_view, not a compile error.
static_assert(!kReasonNames.back().empty());

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int32_t FreeEphemeral(const InstanceView& inst, bool tcp, const std::vector<int32_t>& statics) {
  int32_t used = tcp ? inst.tcp_ephemeral_used : inst.udp_ephemeral_used;
  int32_t free = inst.ephemeral_high - inst.ephemeral_low + 1 - used;
  for (int32_t p : statics) {
    if (p >= inst.ephemeral_low && p <= inst.ephemeral_high) --free;
  }
  return free;
}

std::vector<int32_t> AllocatePorts(const InstanceView& inst, bool tcp, const std::vector<int32_t>& statics, int n) {
  std::vector<int32_t> out;
  const auto& used = tcp ? inst.tcp_ports_used : inst.udp_ports_used;
  for (int32_t p = inst.ephemeral_low; p <= inst.ephemeral_high && static_cast<int>(out.size()) < n; ++p) {
    if (used.contains(p) || std::find(statics.begin(), statics.end(), p) != statics.end()) continue;
    out.push_back(p);
  }
  return out;
}

uint32_t SlotOf(uint32_t slot) { return slot; }
uint32_t SlotOf(const ClusterView::Key& key) { return key.slot; }

// The keys of several sorted sets, in merged order.
class Cursor {
 public:
  using It = ClusterView::KeySet::const_iterator;
  void Add(It begin, It end) {
    if (begin != end) heads_.emplace_back(begin, end);
  }
  const ClusterView::Key* Next() {
    if (heads_.empty()) return nullptr;
    size_t best = 0;
    for (size_t i = 1; i < heads_.size(); ++i) {
      if (*heads_[i].first < *heads_[best].first) best = i;
    }
    const ClusterView::Key* key = &*heads_[best].first;
    if (++heads_[best].first == heads_[best].second) {
      heads_[best] = heads_.back();
      heads_.pop_back();
    }
    return key;
  }

 private:
  std::vector<std::pair<It, It>> heads_;
};

class Evaluator {
 public:
  Evaluator(const ClusterView& view, const PlacementRequest& request, int index)
      : view_(view), req_(request), index_(index), k_(request.strategies.size()) {
    group_ = view.FindGroup(request.group);
    spread_counts_.resize(k_);
    own_counts_.reserve(k_);  // pointers into it are kept
    for (size_t j = 0; j < k_; ++j) {
      const Strategy& s = req_.strategies[j];
      if (s.type != Strategy::Type::kSpread || s.field != Strategy::Field::kAttribute) continue;
      if (group_ == nullptr) continue;  // no task of the group anywhere: every count is zero
      auto it = group_->per_value.find(s.attribute);
      if (it != group_->per_value.end()) {
        spread_counts_[j] = &it->second;
      } else {
        // Not prepared: count once, here.
        auto& own = own_counts_.emplace_back();
        view.ForEach([&](const InstanceView& inst) {
          int32_t n = inst.GroupCount(req_.group);
          if (n == 0) return;
          const std::string* v = inst.Attribute(s.attribute);
          own[v == nullptr ? std::string() : *v] += n;
        });
        spread_counts_[j] = &own;
      }
    }
  }

  size_t strategies() const { return k_; }
  const PlacementRequest& request() const { return req_; }

  // kFeasible, or the first Reason the instance fails.
  int Check(const InstanceView& inst) const {
    if (inst.status != InstanceStatus::kActive) return static_cast<int>(Reason::kInactive);
    if (!inst.agent_connected) return static_cast<int>(Reason::kAgent);
    if (inst.launch_type != req_.launch_type) return static_cast<int>(Reason::kAttribute);
    for (const auto& ra : req_.required_attributes) {
      const std::string* v = inst.Attribute(ra.name);
      if (v == nullptr || (ra.value && *v != *ra.value)) return static_cast<int>(Reason::kAttribute);
    }
    const TaskDemand& d = req_.demand;
    if (inst.cpu_remaining() < d.cpu) return static_cast<int>(Reason::kCpu);
    if (inst.memory_remaining() < d.memory) return static_cast<int>(Reason::kMemory);
    if (inst.gpu_remaining() < d.gpus) return static_cast<int>(Reason::kGpu);
    if (d.eni && inst.eni_total != kUnlimitedEni && inst.eni_remaining() < 1) return static_cast<int>(Reason::kEni);
    if (!PortsFit(inst)) return static_cast<int>(Reason::kPorts);
    for (const auto& c : req_.constraints) {
      if (c.type == Constraint::Type::kDistinctInstance && inst.GroupCount(req_.group) > 0) {
        return static_cast<int>(Reason::kDistinctInstance);
      }
    }
    for (const auto& c : req_.constraints) {
      if (c.type == Constraint::Type::kMemberOf && !c.expression->Matches(ViewSubject(inst))) {
        return static_cast<int>(Reason::kMemberOf);
      }
    }
    if (req_.max_per_instance > 0 && !req_.group.empty() && inst.GroupCount(req_.group) >= req_.max_per_instance) {
      return static_cast<int>(Reason::kMaxTasksPerInstance);
    }
    return kFeasible;
  }

  int64_t Score(const InstanceView& inst, size_t j) const {
    const Strategy& s = req_.strategies[j];
    switch (s.type) {
      case Strategy::Type::kBinpack:
        return s.field == Strategy::Field::kCpu ? inst.cpu_remaining() : inst.memory_remaining();
      case Strategy::Type::kSpread: {
        if (s.field != Strategy::Field::kAttribute) return inst.GroupCount(req_.group);
        const auto* counts = spread_counts_[j];
        if (counts == nullptr) return 0;
        const std::string* v = inst.Attribute(s.attribute);
        auto it = counts->find(v == nullptr ? absl::string_view() : absl::string_view(*v));
        return it == counts->end() ? 0 : it->second;
      }
      case Strategy::Type::kRandom:
        return RandomScore(req_.seed, index_, inst.tiebreak);
    }
    return 0;
  }

  // Whether a beats b on strategies j.. then tiebreak, slot.
  bool Better(uint32_t a, uint32_t b, size_t j) const {
    const InstanceView& ia = *view_.AtSlot(a);
    const InstanceView& ib = *view_.AtSlot(b);
    for (size_t s = j; s < k_; ++s) {
      int64_t va = Score(ia, s), vb = Score(ib, s);
      if (va != vb) return va < vb;
    }
    if (ia.tiebreak != ib.tiebreak) return ia.tiebreak < ib.tiebreak;
    return a < b;
  }

  // The best feasible instance among `slots` (slot numbers or index keys, any order), comparing
  // from strategy j.
  template <typename Slots>
  uint32_t Generic(const Slots& slots, size_t j) const {
    uint32_t best = kNone;
    for (const auto& item : slots) {
      const uint32_t slot = SlotOf(item);
      if (Check(*view_.AtSlot(slot)) != kFeasible) continue;
      if (best == kNone || Better(slot, best, j)) best = slot;
    }
    return best;
  }

  // Walks keys ordered by (score of strategy j, tiebreak, slot) — or by (tiebreak, slot) when
  // j == strategies() — and returns the best feasible instance comparing from strategy j. `skip`
  // drops instances outside the walked set. Stops at the end of the first feasible tie group.
  template <typename Skip>
  uint32_t Walk(Cursor& cursor, size_t j, Skip skip) const {
    uint32_t best = kNone;
    int64_t best_value = 0;
    while (const ClusterView::Key* key = cursor.Next()) {
      const InstanceView& inst = *view_.AtSlot(key->slot);
      if (skip(inst)) continue;
      if (best != kNone && key->value != best_value) break;
      if (Check(inst) != kFeasible) continue;
      if (best == kNone) {
        if (j + 1 >= k_) return key->slot;  // the key order is the whole tuple
        best = key->slot;
        best_value = key->value;
        continue;
      }
      if (Better(key->slot, best, j + 1)) best = key->slot;
    }
    return best;
  }

  const ClusterView::GroupIndex* group() const { return group_; }
  const absl::flat_hash_map<std::string, int64_t>* spread_counts(size_t j) const { return spread_counts_[j]; }

 private:
  bool PortsFit(const InstanceView& inst) const {
    const TaskDemand& d = req_.demand;
    for (int32_t p : d.tcp_ports) {
      if (inst.tcp_ports_used.contains(p)) return false;
    }
    for (int32_t p : d.udp_ports) {
      if (inst.udp_ports_used.contains(p)) return false;
    }
    if (d.dynamic_tcp_ports > 0 && FreeEphemeral(inst, true, d.tcp_ports) < d.dynamic_tcp_ports) return false;
    if (d.dynamic_udp_ports > 0 && FreeEphemeral(inst, false, d.udp_ports) < d.dynamic_udp_ports) return false;
    return true;
  }

  const ClusterView& view_;
  const PlacementRequest& req_;
  const int index_;
  const size_t k_;
  const ClusterView::GroupIndex* group_ = nullptr;
  std::vector<const absl::flat_hash_map<std::string, int64_t>*> spread_counts_;
  std::vector<absl::flat_hash_map<std::string, int64_t>> own_counts_;
};

ClusterView::Order OrderOf(const Strategy& s) {
  return s.field == Strategy::Field::kCpu ? ClusterView::Order::kCpu : ClusterView::Order::kMemory;
}

int64_t DemandOf(const PlacementRequest& req, ClusterView::Order order) {
  return order == ClusterView::Order::kCpu ? req.demand.cpu : req.demand.memory;
}

bool NoSkip(const InstanceView&) { return false; }

// Instances by remaining `order` from the demand upwards, leaving out the buckets of the other
// resource that cannot hold the other demand.
Cursor ResourceCursor(const ClusterView::Orders& orders, ClusterView::Order order, const PlacementRequest& req) {
  const auto other = order == ClusterView::Order::kCpu ? ClusterView::Order::kMemory : ClusterView::Order::kCpu;
  const int64_t other_demand = DemandOf(req, other);
  Cursor cursor;
  for (int b = 0; b < ClusterView::kBuckets; ++b) {
    if (ClusterView::BucketMax(b) < other_demand) continue;
    const auto& set = orders.by_resource[static_cast<int>(order)][b];
    cursor.Add(set.lower_bound(ClusterView::Key{DemandOf(req, order), 0, 0}), set.end());
  }
  return cursor;
}

Cursor TiebreakCursor(const ClusterView::Orders& orders) {
  Cursor cursor;
  cursor.Add(orders.by_tiebreak.begin(), orders.by_tiebreak.end());
  return cursor;
}

// Every candidate slot of the request.
std::vector<uint32_t> CandidateSlots(const ClusterView& view, const PlacementRequest& req) {
  std::vector<uint32_t> slots;
  if (req.only_instances.empty()) {
    slots.reserve(view.size());
    for (const auto& key : view.ordered().by_tiebreak) slots.push_back(key.slot);
  } else {
    for (const auto& id : req.only_instances) {
      uint32_t slot = view.FindSlot(id);
      if (slot != kNone && std::find(slots.begin(), slots.end(), slot) == slots.end()) slots.push_back(slot);
    }
  }
  return slots;
}

// The best instance among those of one attribute value (a partition of an AttributeIndex),
// comparing from strategy 1 (strategy 0, the spread, is equal for all of them).
uint32_t BestInPartition(const Evaluator& ev, const ClusterView::Orders& orders) {
  const auto& strategies = ev.request().strategies;
  if (strategies.size() == 1) {
    Cursor cursor = TiebreakCursor(orders);
    return ev.Walk(cursor, 1, NoSkip);
  }
  const Strategy& next = strategies[1];
  if (next.type == Strategy::Type::kBinpack) {
    Cursor cursor = ResourceCursor(orders, OrderOf(next), ev.request());
    return ev.Walk(cursor, 1, NoSkip);
  }
  return ev.Generic(orders.by_tiebreak, 1);
}

// spread(attribute:X) first, with the attribute indexed: value levels by ascending count.
uint32_t PlaceSpreadAttribute(const Evaluator& ev, const ClusterView::AttributeIndex& index) {
  const auto* counts = ev.spread_counts(0);
  std::vector<std::pair<int64_t, const ClusterView::Orders*>> values;
  values.reserve(index.by_value.size());
  for (const auto& [value, sets] : index.by_value) {
    int64_t n = 0;
    if (counts != nullptr) {
      auto it = counts->find(value);
      if (it != counts->end()) n = it->second;
    }
    values.emplace_back(n, &sets);
  }
  std::sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < values.size();) {
    size_t end = i;
    uint32_t best = kNone;
    while (end < values.size() && values[end].first == values[i].first) {
      uint32_t b = BestInPartition(ev, *values[end].second);
      if (b != kNone && (best == kNone || ev.Better(b, best, 1))) best = b;
      ++end;
    }
    if (best != kNone) return best;
    i = end;
  }
  return kNone;
}

// spread(instanceId) first: instances without a task of the group, then the rest.
uint32_t PlaceSpreadInstance(const Evaluator& ev, const ClusterView& view) {
  const auto& req = ev.request();
  const auto& strategies = req.strategies;
  auto occupied = [&](const InstanceView& inst) { return inst.GroupCount(req.group) > 0; };
  uint32_t best = kNone;
  if (strategies.size() == 1) {
    Cursor cursor = TiebreakCursor(view.ordered());
    best = ev.Walk(cursor, 1, occupied);
  } else if (strategies[1].type == Strategy::Type::kBinpack) {
    Cursor cursor = ResourceCursor(view.ordered(), OrderOf(strategies[1]), req);
    best = ev.Walk(cursor, 1, occupied);
  } else {
    return ev.Generic(view.ordered().by_tiebreak, 0);
  }
  if (best != kNone || ev.group() == nullptr) return best;
  // Every instance without the group is infeasible: the answer, if any, is among the others.
  return ev.Generic(view.ordered().by_tiebreak, 0);
}

uint32_t Choose(const Evaluator& ev, const ClusterView& view) {
  const PlacementRequest& req = ev.request();
  if (!req.only_instances.empty()) return ev.Generic(CandidateSlots(view, req), 0);
  if (req.strategies.empty()) {
    Cursor cursor = TiebreakCursor(view.ordered());
    return ev.Walk(cursor, 0, NoSkip);
  }
  const Strategy& first = req.strategies[0];
  switch (first.type) {
    case Strategy::Type::kBinpack: {
      Cursor cursor = ResourceCursor(view.ordered(), OrderOf(first), req);
      return ev.Walk(cursor, 0, NoSkip);
    }
    case Strategy::Type::kSpread:
      if (first.field != Strategy::Field::kAttribute) return PlaceSpreadInstance(ev, view);
      if (const auto* index = view.FindAttributeIndex(first.attribute)) {
        // Counts must be exact: an unprepared group index was counted by the Evaluator.
        return PlaceSpreadAttribute(ev, *index);
      }
      break;
    case Strategy::Type::kRandom:
      break;
  }
  return ev.Generic(view.ordered().by_tiebreak, 0);
}

PlacementFailure Fail(const std::array<int32_t, kReasonCount>& rejected, size_t candidates) {
  PlacementFailure f;
  f.rejected = rejected;
  if (candidates == 0) {
    f.reason = kReasonMissing;
    f.detail = "no container instances are registered in the cluster";
    return f;
  }
  int best = 0;
  for (int r = 1; r < kReasonCount; ++r) {
    if (rejected[r] > rejected[best]) best = r;
  }
  f.reason = std::string(kReasonNames[best]);
  // Most rejections first; ties in filter order.
  std::array<int, kReasonCount> order;
  for (int r = 0; r < kReasonCount; ++r) order[r] = r;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return rejected[a] > rejected[b]; });
  for (int r : order) {
    if (rejected[r] == 0) continue;
    if (!f.detail.empty()) f.detail += ", ";
    StrAppend(&f.detail, kReasonNames[r], " on ", rejected[r], rejected[r] == 1 ? " instance" : " instances");
  }
  return f;
}

PlacementFailure Rejections(const Evaluator& ev, const ClusterView& view, const std::vector<uint32_t>& slots) {
  std::array<int32_t, kReasonCount> rejected{};
  for (uint32_t slot : slots) {
    int r = ev.Check(*view.AtSlot(slot));
    if (r != kFeasible) rejected[r]++;
  }
  return Fail(rejected, slots.size());
}

Placement MakePlacement(const InstanceView& inst, const PlacementRequest& req) {
  Placement p;
  p.instance_id = inst.id;
  if (req.demand.dynamic_tcp_ports > 0) {
    p.dynamic_tcp_ports = AllocatePorts(inst, true, req.demand.tcp_ports, req.demand.dynamic_tcp_ports);
  }
  if (req.demand.dynamic_udp_ports > 0) {
    p.dynamic_udp_ports = AllocatePorts(inst, false, req.demand.udp_ports, req.demand.dynamic_udp_ports);
  }
  return p;
}

CandidateScore ScoreOf(const Evaluator& ev, const InstanceView& inst) {
  CandidateScore c;
  c.instance_id = inst.id;
  for (size_t j = 0; j < ev.strategies(); ++j) c.scores.push_back(ev.Score(inst, j));
  c.tiebreak = inst.tiebreak;
  return c;
}

}  // namespace

std::string_view ReasonName(Reason reason) { return kReasonNames[static_cast<int>(reason)]; }

int64_t RandomScore(uint64_t seed, int index, uint64_t tiebreak) {
  return static_cast<int64_t>(Mix(Mix(seed ^ Mix(static_cast<uint64_t>(index))) ^ tiebreak) >> 1);
}

std::optional<std::string_view> ViewSubject::Attribute(std::string_view name) const {
  const std::string* v = instance_.Attribute(name);
  if (v == nullptr) return std::nullopt;
  return std::string_view(*v);
}

absl::StatusOr<Strategy> Strategy::FromApi(std::string_view type, std::string_view field) {
  Strategy s;
  if (type == "random") {
    s.type = Type::kRandom;
    return s;
  }
  if (type == "binpack") {
    s.type = Type::kBinpack;
    if (field == "cpu" || field == "CPU") {
      s.field = Field::kCpu;
    } else if (field == "memory" || field == "MEMORY") {
      s.field = Field::kMemory;
    } else {
      return absl::InvalidArgumentError(StrCat("field: binpack takes cpu or memory (got '", field, "')"));
    }
    return s;
  }
  if (type == "spread") {
    s.type = Type::kSpread;
    if (field == "instanceId" || field == "host") {
      s.field = Field::kInstanceId;
    } else if (field.substr(0, 10) == "attribute:" && field.size() > 10 && field.size() <= 138) {
      s.field = Field::kAttribute;
      s.attribute = std::string(field.substr(10));
    } else {
      return absl::InvalidArgumentError(
          StrCat("field: spread takes instanceId, host or attribute:<name> (got '", field, "')"));
    }
    return s;
  }
  return absl::InvalidArgumentError(StrCat("type: must be binpack, spread or random (got '", type, "')"));
}

std::string Strategy::ToString() const {
  switch (type) {
    case Type::kRandom:
      return "random";
    case Type::kBinpack:
      return field == Field::kCpu ? "binpack(cpu)" : "binpack(memory)";
    case Type::kSpread:
      return field == Field::kInstanceId ? "spread(instanceId)" : StrCat("spread(attribute:", attribute, ")");
  }
  return "";
}

absl::StatusOr<Constraint> Constraint::FromApi(std::string_view type, std::string_view expression) {
  Constraint c;
  if (type == "distinctInstance") {
    if (!expression.empty()) {
      return absl::InvalidArgumentError("expression: distinctInstance takes none");
    }
    c.type = Type::kDistinctInstance;
    return c;
  }
  if (type == "memberOf") {
    if (expression.empty()) return absl::InvalidArgumentError("expression: required for memberOf");
    auto parsed = ParseExpression(expression);
    if (!parsed.ok()) return parsed.status();
    c.type = Type::kMemberOf;
    c.expression = std::make_shared<const Expression>(*std::move(parsed));
    return c;
  }
  return absl::InvalidArgumentError(StrCat("type: must be distinctInstance or memberOf (got '", type, "')"));
}

TaskHold Placement::Hold(const PlacementRequest& request) const {
  TaskHold h;
  h.cpu = request.demand.cpu;
  h.memory = request.demand.memory;
  h.gpus = request.demand.gpus;
  h.eni = request.demand.eni;
  h.tcp_ports = request.demand.tcp_ports;
  h.tcp_ports.insert(h.tcp_ports.end(), dynamic_tcp_ports.begin(), dynamic_tcp_ports.end());
  h.udp_ports = request.demand.udp_ports;
  h.udp_ports.insert(h.udp_ports.end(), dynamic_udp_ports.begin(), dynamic_udp_ports.end());
  h.group = request.group;
  return h;
}

void Engine::Prepare(ClusterView& view, const PlacementRequest& request) {
  for (const auto& s : request.strategies) {
    if (s.type != Strategy::Type::kSpread || s.field != Strategy::Field::kAttribute) continue;
    view.PrepareAttribute(s.attribute);
    view.PrepareGroupAttribute(request.group, s.attribute);
  }
}

Decision Engine::PlaceOne(const ClusterView& view, const PlacementRequest& request, int index) const {
  Evaluator ev(view, request, index);
  Decision d;
  uint32_t slot = Choose(ev, view);
  if (slot != kNone) {
    d.placement = MakePlacement(*view.AtSlot(slot), request);
    return d;
  }
  d.failure = Rejections(ev, view, CandidateSlots(view, request));
  return d;
}

PlacementResult Engine::PlaceAll(ClusterView& view, const PlacementRequest& request) const {
  PlacementResult result;
  for (int n = 0; n < request.count; ++n) {
    Prepare(view, request);
    Decision d = PlaceOne(view, request, n);
    if (!d.placement) {
      for (int k = n; k < request.count; ++k) result.failures.push_back(d.failure);
      break;
    }
    view.Reserve(d.placement->instance_id, d.placement->Hold(request));
    result.placed.push_back(*std::move(d.placement));
  }
  return result;
}

Explanation Engine::Explain(const ClusterView& view, const PlacementRequest& request, int index,
                            std::string_view instance_id, int top_n) const {
  Evaluator ev(view, request, index);
  Explanation e;
  const std::vector<uint32_t> slots = CandidateSlots(view, request);
  e.candidates = static_cast<int32_t>(slots.size());
  std::vector<uint32_t> feasible;
  for (uint32_t slot : slots) {
    int r = ev.Check(*view.AtSlot(slot));
    if (r == kFeasible) {
      feasible.push_back(slot);
    } else {
      e.rejected[r]++;
    }
  }
  e.feasible = static_cast<int32_t>(feasible.size());
  std::sort(feasible.begin(), feasible.end(), [&](uint32_t a, uint32_t b) { return ev.Better(a, b, 0); });
  for (size_t i = 0; i < feasible.size() && static_cast<int>(i) < top_n; ++i) {
    e.top.push_back(ScoreOf(ev, *view.AtSlot(feasible[i])));
  }
  if (!feasible.empty()) {
    e.decision = MakePlacement(*view.AtSlot(feasible[0]), request);
  } else {
    e.failure = Fail(e.rejected, slots.size());
  }
  if (!instance_id.empty()) {
    const uint32_t slot = view.FindSlot(instance_id);
    if (slot != kNone) {
      e.instance_found = true;
      int r = ev.Check(*view.AtSlot(slot));
      if (r != kFeasible) {
        e.instance_rejected = static_cast<Reason>(r);
      } else {
        e.instance_score = ScoreOf(ev, *view.AtSlot(slot));
        auto it = std::find(feasible.begin(), feasible.end(), slot);
        e.instance_rank = static_cast<int32_t>(it - feasible.begin()) + 1;
      }
    }
  }
  return e;
}

}  // namespace berth::placement
