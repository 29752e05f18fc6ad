#include "berth/placement/cluster_view.h"

#include <cstdio>
#include <cstdlib>

#include "berth/common/strings.h"

namespace berth::placement {
using berth::ToAbsl;
namespace {
void Fail(const char* what, std::string_view id) {
  std::fprintf(stderr, "placement::ClusterView: %s for unknown instance %.*s\n", what, static_cast<int>(id.size()),
               id.data());
  std::abort();
}
}  // namespace

InstanceView& ClusterView::Upsert(InstanceView instance) {
  auto it = index_.find(instance.id);
  if (it != index_.end()) {
    instances_[it->second] = std::move(instance);
    return instances_[it->second];
  }
  index_.emplace(instance.id, instances_.size());
  instances_.push_back(std::move(instance));
  return instances_.back();
}

void ClusterView::Remove(std::string_view id) {
  auto it = index_.find(ToAbsl(id));
  if (it == index_.end()) return;
  size_t pos = it->second;
  index_.erase(it);
  if (pos + 1 != instances_.size()) {
    instances_[pos] = std::move(instances_.back());
    index_[instances_[pos].id] = pos;
  }
  instances_.pop_back();
}

InstanceView* ClusterView::Find(std::string_view id) {
  auto it = index_.find(ToAbsl(id));
  return it == index_.end() ? nullptr : &instances_[it->second];
}

const InstanceView* ClusterView::Find(std::string_view id) const {
  auto it = index_.find(ToAbsl(id));
  return it == index_.end() ? nullptr : &instances_[it->second];
}

void ClusterView::Reserve(std::string_view id, const TaskDemand& demand) {
  InstanceView* inst = Find(id);
  if (inst == nullptr) Fail("Reserve", id);
  inst->cpu_used += demand.cpu;
  inst->memory_used += demand.memory;
  for (int32_t p : demand.tcp_ports) inst->tcp_ports_used.insert(p);
  for (int32_t p : demand.udp_ports) inst->udp_ports_used.insert(p);
  inst->task_count++;
}

void ClusterView::Release(std::string_view id, const TaskDemand& demand) {
  InstanceView* inst = Find(id);
  if (inst == nullptr) Fail("Release", id);
  inst->cpu_used -= demand.cpu;
  inst->memory_used -= demand.memory;
  for (int32_t p : demand.tcp_ports) inst->tcp_ports_used.erase(p);
  for (int32_t p : demand.udp_ports) inst->udp_ports_used.erase(p);
  inst->task_count--;
}

}  // namespace berth::placement
