#include "src/controlplane/actions/agent_sessions.h"

#include <utility>

#include "berth/common/strings.h"

namespace berth::controlplane {

std::string AgentSessions::Key(const std::string& cluster, const std::string& instance_id) {
  std::string key;
  key.reserve(cluster.size() + 1 + instance_id.size());
  key.append(cluster).push_back('\0');
  key.append(instance_id);
  return key;
}

std::optional<AgentSessions::Parked> AgentSessions::TakeWaiter(Session& session) {
  if (!session.waiter) return std::nullopt;
  Parked parked = std::move(session.waiter->parked);
  waiter_keys_.erase(session.waiter->id);
  deadlines_.erase({session.waiter->deadline_us, session.waiter->id});
  session.waiter.reset();
  return parked;
}

void AgentSessions::Heartbeat(const std::string& cluster, const std::string& instance_id, int64_t now_us) {
  absl::MutexLock lock(&mu_);
  Session& s = sessions_[Key(cluster, instance_id)];
  s.last_seen_us = std::max(s.last_seen_us, now_us);
  s.silence_taken = false;
}

std::vector<InstanceKey> AgentSessions::TakeSilent(int64_t cutoff_us) {
  std::vector<InstanceKey> out;
  absl::MutexLock lock(&mu_);
  for (auto& [key, s] : sessions_) {
    if (s.waiter || s.silence_taken || s.last_seen_us >= cutoff_us) continue;
    s.silence_taken = true;
    const size_t sep = key.find('\0');
    out.push_back({key.substr(0, sep), key.substr(sep + 1)});
  }
  return out;
}

int64_t AgentSessions::LastSeen(const std::string& cluster, const std::string& instance_id, int64_t now_us) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.try_emplace(Key(cluster, instance_id));
  // A parked long poll is the agent being there right now.
  if (inserted || it->second.waiter) it->second.last_seen_us = now_us;
  return it->second.last_seen_us;
}

bool AgentSessions::BeginReconnect(const std::string& cluster, const std::string& instance_id) {
  absl::MutexLock lock(&mu_);
  Session& s = sessions_[Key(cluster, instance_id)];
  if (s.reconnecting) return false;
  s.reconnecting = true;
  return true;
}

void AgentSessions::EndReconnect(const std::string& cluster, const std::string& instance_id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(Key(cluster, instance_id));
  if (it != sessions_.end()) it->second.reconnecting = false;
}

uint64_t AgentSessions::AddWaiter(const std::string& cluster, const std::string& instance_id, int64_t deadline_us,
                                  Parked parked) {
  std::optional<Parked> superseded;
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      superseded = std::move(parked);
    } else {
      std::string key = Key(cluster, instance_id);
      Session& s = sessions_[key];
      superseded = TakeWaiter(s);
      id = next_waiter_id_++;
      s.waiter = Waiter{id, deadline_us, std::move(parked)};
      waiter_keys_.emplace(id, std::move(key));
      deadlines_.insert({deadline_us, id});
    }
  }
  if (superseded) superseded->answer(id == 0 ? WakeReason::kShutdown : WakeReason::kSuperseded, absl::OkStatus());
  return id;
}

void AgentSessions::Cancel(uint64_t waiter_id, int64_t now_us) {
  std::optional<Parked> parked;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiter_keys_.find(waiter_id);
    if (it == waiter_keys_.end()) return;
    Session& s = sessions_.at(it->second);
    // The agent was there, parked, until this moment: its silence starts now.
    s.last_seen_us = std::max(s.last_seen_us, now_us);
    parked = TakeWaiter(s);
  }
  if (parked) parked->answer(WakeReason::kCancelled, absl::OkStatus());
}

std::vector<AgentSessions::Parked> AgentSessions::TakeChanged(const std::vector<InstanceKey>& instances) {
  std::vector<Parked> out;
  absl::MutexLock lock(&mu_);
  for (const auto& k : instances) {
    auto it = sessions_.find(Key(k.cluster, k.instance_id));
    if (it == sessions_.end()) continue;
    if (std::optional<Parked> p = TakeWaiter(it->second)) out.push_back(*std::move(p));
  }
  return out;
}

void AgentSessions::ExpireDue(int64_t now_us) {
  std::vector<Parked> wakes;
  {
    absl::MutexLock lock(&mu_);
    while (!deadlines_.empty() && deadlines_.begin()->first <= now_us) {
      uint64_t id = deadlines_.begin()->second;
      Session& s = sessions_.at(waiter_keys_.at(id));
      s.last_seen_us = std::max(s.last_seen_us, now_us);  // parked until now
      wakes.push_back(*TakeWaiter(s));
    }
  }
  for (auto& w : wakes) w.answer(WakeReason::kTimeout, absl::OkStatus());
}

void AgentSessions::Shutdown() {
  std::vector<Parked> wakes;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (auto& [key, s] : sessions_) {
      if (std::optional<Parked> p = TakeWaiter(s)) wakes.push_back(*std::move(p));
    }
  }
  for (auto& w : wakes) w.answer(WakeReason::kShutdown, absl::OkStatus());
}

size_t AgentSessions::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiter_keys_.size();
}

size_t AgentSessions::sessions() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

}  // namespace berth::controlplane
