#include "berth/placement/cluster_view.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::placement {
using berth::ToAbsl;
namespace {

[[noreturn]] void Fail(const char* what, std::string_view id) {
  std::fprintf(stderr, "placement::ClusterView: %s for unknown instance %.*s\n", what, static_cast<int>(id.size()),
               id.data());
  std::abort();
}

// FNV-1a, then a splitmix64 finalizer: stable across processes and builds (unlike absl::Hash), so
// decisions are reproducible.
uint64_t StableHash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// Adds (sign > 0) or removes the instance's keys in one Orders.
void Apply(ClusterView::Orders& orders, const InstanceView& inst, uint32_t slot, int sign) {
  const ClusterView::Key cpu{inst.cpu_remaining(), inst.tiebreak, slot};
  const ClusterView::Key memory{inst.memory_remaining(), inst.tiebreak, slot};
  const ClusterView::Key tiebreak{0, inst.tiebreak, slot};
  auto& by_cpu =
      orders.by_resource[static_cast<int>(ClusterView::Order::kCpu)][ClusterView::Bucket(inst.memory_remaining())];
  auto& by_memory =
      orders.by_resource[static_cast<int>(ClusterView::Order::kMemory)][ClusterView::Bucket(inst.cpu_remaining())];
  if (sign > 0) {
    by_cpu.insert(cpu);
    by_memory.insert(memory);
    orders.by_tiebreak.insert(tiebreak);
  } else {
    by_cpu.erase(cpu);
    by_memory.erase(memory);
    orders.by_tiebreak.erase(tiebreak);
  }
}

const std::string& ValueOf(const InstanceView& inst, const std::string& attribute) {
  static const std::string kMissing;
  const std::string* v = inst.Attribute(attribute);
  return v == nullptr ? kMissing : *v;
}

bool InRange(const InstanceView& inst, int32_t port) {
  return port >= inst.ephemeral_low && port <= inst.ephemeral_high;
}

void AddPorts(InstanceView& inst, const std::vector<int32_t>& ports, bool tcp, int sign) {
  auto& used = tcp ? inst.tcp_ports_used : inst.udp_ports_used;
  auto& held = tcp ? inst.tcp_ports_held : inst.udp_ports_held;
  const auto& reserved = tcp ? inst.tcp_ports_reserved : inst.udp_ports_reserved;
  int32_t& in_range = tcp ? inst.tcp_ephemeral_used : inst.udp_ephemeral_used;
  for (int32_t p : ports) {
    auto h = held.try_emplace(p, 0).first;
    h->second += sign;
    const bool still_used = h->second > 0 || reserved.contains(p);
    if (h->second <= 0) held.erase(h);
    const bool changed = still_used ? used.insert(p).second : used.erase(p) > 0;
    if (changed && InRange(inst, p)) in_range += still_used ? 1 : -1;
  }
}

// used = reserved + held, and the count of used ports in the ephemeral range.
void RecomputeUsed(InstanceView& inst) {
  inst.tcp_ports_used = inst.tcp_ports_reserved;
  inst.udp_ports_used = inst.udp_ports_reserved;
  for (const auto& [p, n] : inst.tcp_ports_held) inst.tcp_ports_used.insert(p);
  for (const auto& [p, n] : inst.udp_ports_held) inst.udp_ports_used.insert(p);
  inst.tcp_ephemeral_used = inst.udp_ephemeral_used = 0;
  for (int32_t p : inst.tcp_ports_used) inst.tcp_ephemeral_used += InRange(inst, p) ? 1 : 0;
  for (int32_t p : inst.udp_ports_used) inst.udp_ephemeral_used += InRange(inst, p) ? 1 : 0;
}

}  // namespace

int32_t InstanceView::GroupCount(std::string_view group) const {
  auto it = group_counts.find(ToAbsl(group));
  return it == group_counts.end() ? 0 : it->second;
}

const std::string* InstanceView::Attribute(std::string_view name) const {
  auto it = attributes.find(ToAbsl(name));
  return it == attributes.end() ? nullptr : &it->second;
}

ClusterView::ClusterView() = default;

uint32_t ClusterView::FindSlot(std::string_view id) const {
  auto it = by_id_.find(ToAbsl(id));
  return it == by_id_.end() ? kNoSlot : it->second;
}

uint32_t ClusterView::SlotOf(std::string_view id) const {
  uint32_t slot = FindSlot(id);
  if (slot == kNoSlot) Fail("lookup", id);
  return slot;
}

const InstanceView* ClusterView::Find(std::string_view id) const {
  uint32_t slot = FindSlot(id);
  return slot == kNoSlot ? nullptr : slots_[slot].get();
}

const ClusterView::AttributeIndex* ClusterView::FindAttributeIndex(std::string_view attribute) const {
  auto it = attribute_indexes_.find(ToAbsl(attribute));
  return it == attribute_indexes_.end() ? nullptr : &it->second;
}

const ClusterView::GroupIndex* ClusterView::FindGroup(std::string_view group) const {
  auto it = groups_.find(ToAbsl(group));
  return it == groups_.end() ? nullptr : &it->second;
}

int ClusterView::Bucket(int64_t remaining) {
  if (remaining <= 0) return 0;
  return std::min(static_cast<int>(std::bit_width(static_cast<uint64_t>(remaining))), kBuckets - 1);
}

int64_t ClusterView::BucketMax(int b) {
  if (b == 0) return 0;
  if (b >= kBuckets - 1) return std::numeric_limits<int64_t>::max();
  return (int64_t{1} << b) - 1;
}

void ClusterView::Index(uint32_t slot) {
  const InstanceView& inst = *slots_[slot];
  Apply(global_, inst, slot, +1);
  for (auto& [name, index] : attribute_indexes_) Apply(index.by_value[ValueOf(inst, name)], inst, slot, +1);
}

void ClusterView::Unindex(uint32_t slot) {
  const InstanceView& inst = *slots_[slot];
  Apply(global_, inst, slot, -1);
  for (auto& [name, index] : attribute_indexes_) {
    auto it = index.by_value.find(ValueOf(inst, name));
    if (it == index.by_value.end()) continue;
    Apply(it->second, inst, slot, -1);
    if (it->second.empty()) index.by_value.erase(it);
  }
}

void ClusterView::CountGroup(uint32_t slot, const std::string& group, int delta) {
  if (group.empty()) return;
  InstanceView& inst = *slots_[slot];
  auto c = inst.group_counts.try_emplace(group, 0).first;
  c->second += delta;
  if (c->second == 0) inst.group_counts.erase(c);
  GroupIndex& g = groups_[group];
  g.total += delta;
  for (auto& [attribute, counts] : g.per_value) {
    auto v = counts.try_emplace(ValueOf(inst, attribute), 0).first;
    v->second += delta;
    if (v->second == 0) counts.erase(v);
  }
  if (g.total == 0) groups_.erase(group);
}

const InstanceView& ClusterView::Upsert(InstanceView instance) {
  BERTH_CHECK_MSG(!deferring_, "ClusterView::Upsert while indexing is deferred");
  instance.tiebreak = StableHash(instance.id);
  auto existing = by_id_.find(instance.id);
  if (existing == by_id_.end()) {
    instance.cpu_used = instance.memory_used = 0;
    instance.gpu_used = instance.eni_used = instance.task_count = instance.running_task_count = 0;
    instance.group_counts.clear();
    instance.tcp_ports_held.clear();
    instance.udp_ports_held.clear();
    RecomputeUsed(instance);
    uint32_t slot;
    if (free_slots_.empty()) {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    slots_[slot] = std::make_unique<InstanceView>(std::move(instance));
    by_id_.emplace(slots_[slot]->id, slot);
    ++live_;
    Index(slot);
    return *slots_[slot];
  }
  const uint32_t slot = existing->second;
  Unindex(slot);
  InstanceView& old = *slots_[slot];
  // Group counts per attribute value follow the instance's new attribute values.
  for (const auto& [group, count] : old.group_counts) {
    auto g = groups_.find(group);
    if (g == groups_.end()) continue;
    for (auto& [attribute, counts] : g->second.per_value) {
      const std::string* now = instance.Attribute(attribute);
      const std::string& before = ValueOf(old, attribute);
      const std::string& after = now == nullptr ? std::string() : *now;
      if (before == after) continue;
      if ((counts[before] -= count) == 0) counts.erase(before);
      counts[after] += count;
    }
  }
  // Keep what tasks hold; take the registration from the argument.
  instance.cpu_used = old.cpu_used;
  instance.memory_used = old.memory_used;
  instance.gpu_used = old.gpu_used;
  instance.eni_used = old.eni_used;
  instance.task_count = old.task_count;
  instance.running_task_count = old.running_task_count;
  instance.group_counts = std::move(old.group_counts);
  instance.tcp_ports_held = std::move(old.tcp_ports_held);
  instance.udp_ports_held = std::move(old.udp_ports_held);
  RecomputeUsed(instance);
  old = std::move(instance);
  Index(slot);
  return old;
}

void ClusterView::Remove(std::string_view id) {
  BERTH_CHECK_MSG(!deferring_, "ClusterView::Remove while indexing is deferred");
  auto it = by_id_.find(ToAbsl(id));
  if (it == by_id_.end()) return;
  const uint32_t slot = it->second;
  Unindex(slot);
  InstanceView& inst = *slots_[slot];
  std::vector<std::pair<std::string, int32_t>> groups(inst.group_counts.begin(), inst.group_counts.end());
  for (const auto& [group, count] : groups) CountGroup(slot, group, -count);
  by_id_.erase(it);
  slots_[slot].reset();
  free_slots_.push_back(slot);
  --live_;
}

void ClusterView::BeginDeferredIndexing() {
  BERTH_CHECK_MSG(!deferring_, "BeginDeferredIndexing twice");
  deferring_ = true;
  unindexed_slot_.assign(slots_.size(), false);
}

void ClusterView::EndDeferredIndexing() {
  BERTH_CHECK_MSG(deferring_, "EndDeferredIndexing without Begin");
  deferring_ = false;
  for (uint32_t slot : unindexed_) Index(slot);
  unindexed_.clear();
  unindexed_slot_.clear();
}

void ClusterView::UnindexForChange(uint32_t slot) {
  if (!deferring_) return Unindex(slot);
  if (unindexed_slot_[slot]) return;
  Unindex(slot);
  unindexed_slot_[slot] = true;
  unindexed_.push_back(slot);
}

void ClusterView::IndexAfterChange(uint32_t slot) {
  if (!deferring_) Index(slot);
}

void ClusterView::Reserve(std::string_view id, const TaskHold& hold) {
  const uint32_t slot = FindSlot(id);
  if (slot == kNoSlot) Fail("Reserve", id);
  UnindexForChange(slot);
  InstanceView& inst = *slots_[slot];
  inst.cpu_used += hold.cpu;
  inst.memory_used += hold.memory;
  inst.gpu_used += hold.gpus;
  inst.eni_used += hold.eni ? 1 : 0;
  AddPorts(inst, hold.tcp_ports, true, +1);
  AddPorts(inst, hold.udp_ports, false, +1);
  inst.task_count++;
  inst.running_task_count += hold.running ? 1 : 0;
  CountGroup(slot, hold.group, +1);
  IndexAfterChange(slot);
}

void ClusterView::Release(std::string_view id, const TaskHold& hold) {
  const uint32_t slot = FindSlot(id);
  if (slot == kNoSlot) Fail("Release", id);
  UnindexForChange(slot);
  InstanceView& inst = *slots_[slot];
  inst.cpu_used -= hold.cpu;
  inst.memory_used -= hold.memory;
  inst.gpu_used -= hold.gpus;
  inst.eni_used -= hold.eni ? 1 : 0;
  AddPorts(inst, hold.tcp_ports, true, -1);
  AddPorts(inst, hold.udp_ports, false, -1);
  inst.task_count--;
  inst.running_task_count -= hold.running ? 1 : 0;
  CountGroup(slot, hold.group, -1);
  IndexAfterChange(slot);
}

void ClusterView::AdjustRunning(std::string_view id, int delta) {
  const uint32_t slot = FindSlot(id);
  if (slot == kNoSlot) Fail("AdjustRunning", id);
  slots_[slot]->running_task_count += delta;
}

void ClusterView::PrepareAttribute(std::string_view attribute) {
  auto [it, inserted] = attribute_indexes_.try_emplace(std::string(attribute));
  if (!inserted) return;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (!slots_[slot]) continue;
    const InstanceView& inst = *slots_[slot];
    Apply(it->second.by_value[ValueOf(inst, it->first)], inst, slot, +1);
  }
}

void ClusterView::PrepareGroupAttribute(std::string_view group, std::string_view attribute) {
  auto g = groups_.find(ToAbsl(group));
  if (g == groups_.end()) return;  // no tasks: every count is zero, nothing to keep
  auto [it, inserted] = g->second.per_value.try_emplace(std::string(attribute));
  if (!inserted) return;
  for (const auto& slot : slots_) {
    if (!slot) continue;
    int32_t n = slot->GroupCount(group);
    if (n != 0) it->second[ValueOf(*slot, it->first)] += n;
  }
}

}  // namespace berth::placement
