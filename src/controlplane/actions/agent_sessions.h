// AgentSessions: what berthd knows about its agents between requests, in memory only — when each
// container instance last polled or reported (its heartbeat), and the long polls waiting for the
// instance's desired state to change.
//
// A waiter is woken exactly once: when its instance is touched by a durable batch (kChanged), at
// its deadline (kTimeout), when the client goes away (kCancelled), when a newer poll of the same
// instance replaces it (kSuperseded), or at shutdown. Every wake but kChanged answers the poll at
// once, outside the sessions' mutex, on the thread that caused it. kChanged waiters are handed to
// the caller of TakeChanged, which renders many of them under one hold of the state lock and
// answers them after releasing it (AgentProtocol's poll waker thread).
//
// Thread-safe. The mutex is a leaf: nothing else is locked while it is held, so callers may hold
// the state mutex when they call in.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/controlplane/state/pipeline.h"

namespace berth::controlplane {

class AgentSessions {
 public:
  enum class WakeReason { kChanged, kTimeout, kCancelled, kSuperseded, kShutdown };
  // A parked poll.
  struct Parked {
    // kChanged only, before `answer`: fills the poll's response from the state. The caller holds
    // the state lock (shared).
    std::function<absl::Status()> render;
    // Completes the poll, with no lock held; after kChanged with what `render` returned.
    std::function<void(WakeReason, absl::Status)> answer;
  };

  // Records a sign of life from the instance's agent at `now_us` (monotonic).
  void Heartbeat(const std::string& cluster, const std::string& instance_id, int64_t now_us);
  // When the agent was last heard from (now, while its long poll is parked); a session first
  // asked about is started at `now_us`, so
  // an instance gets a full disconnect timeout after berthd starts before it counts as silent.
  int64_t LastSeen(const std::string& cluster, const std::string& instance_id, int64_t now_us);
  // The instances last heard from before `cutoff_us` and not parked in a poll, each returned once
  // until it is heard from again. A scan of the sessions alone: the disconnect check runs every
  // second and must not hold the state lock over every instance.
  std::vector<InstanceKey> TakeSilent(int64_t cutoff_us);
  // Marks that a reconnect proposal is in flight; false when one already was.
  bool BeginReconnect(const std::string& cluster, const std::string& instance_id);
  void EndReconnect(const std::string& cluster, const std::string& instance_id);

  // Parks a long poll until `deadline_us` (monotonic). Returns its id, for Cancel.
  uint64_t AddWaiter(const std::string& cluster, const std::string& instance_id, int64_t deadline_us, Parked parked);
  // Wakes the waiter with kCancelled if it is still waiting.
  // The agent counts as present until `now_us` (monotonic).
  void Cancel(uint64_t waiter_id, int64_t now_us);
  // Removes and returns the waiters of these instances: the caller renders each under the state
  // lock, then answers it with kChanged.
  std::vector<Parked> TakeChanged(const std::vector<InstanceKey>& instances);
  // Wakes every waiter whose deadline is at or before `now_us` with kTimeout.
  void ExpireDue(int64_t now_us);
  // Wakes everything with kShutdown; later AddWaiter calls are woken at once.
  void Shutdown();

  size_t waiting() const;
  size_t sessions() const;

 private:
  struct Waiter {
    uint64_t id = 0;
    int64_t deadline_us = 0;
    Parked parked;
  };
  struct Session {
    int64_t last_seen_us = 0;
    bool reconnecting = false;
    bool silence_taken = false;  // returned by TakeSilent since last heard from
    std::optional<Waiter> waiter;
  };
  static std::string Key(const std::string& cluster, const std::string& instance_id);
  // Removes the session's waiter (lock held) and returns it; nullopt when none is parked.
  std::optional<Parked> TakeWaiter(Session& session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::string> waiter_keys_ ABSL_GUARDED_BY(mu_);
  absl::btree_set<std::pair<int64_t, uint64_t>> deadlines_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace berth::controlplane
