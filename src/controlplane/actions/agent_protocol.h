// AgentProtocol: berthd's side of the agent protocol (agent.proto; agent_protocol.cc): the long
// poll that hands each agent the desired state of its instance, state-change reports that drive
// the task lifecycle, task role credentials, and the housekeeping that marks silent agents
// disconnected and forgets old STOPPED tasks. Registration is InstanceActions'.
#pragma once

#include <random>
#include <thread>

#include "src/controlplane/actions/action_base.h"
#include "src/controlplane/actions/agent_sessions.h"

namespace berth::controlplane {

class AgentProtocol : public ActionBase {
 public:
  // `sessions` must outlive this. Starts the poll waker.
  AgentProtocol(const ActionContext& context, AgentSessions* sessions);
  // Stops the poll waker (after answering what it had queued).
  ~AgentProtocol();

  // The role ARN of task `task_arn` placed on instance `instance` of `cluster` (the request's
  // fields): its overrides' taskRoleArn, else its task definition's. NotFound when the task is not
  // on that instance or is STOPPED; FailedPrecondition when it has no role.
  absl::StatusOr<std::string> TaskRoleOf(const v1::GetTaskCredentialsRequest& request) const;

  // Answers at once when the desired state differs from request.known_version, otherwise parks the
  // poll until it changes or the wait ends. Returns the waiter id to pass to CancelPoll when the
  // poll was parked, else 0.
  // Unlike the other actions, Poll fences its own answers, so `done` must not be wrapped with
  // AnswerWhenDurable: an answer waits only until the records it rendered are durable (the highest
  // revision among them, usually long durable), not for the latest applied batch. An idle poll's
  // "unchanged" answer at its wait's end reveals nothing and goes at once.
  uint64_t Poll(const v1::PollRequest& request, v1::PollResponse* response, Done done);
  // The client went away: completes a parked poll with CANCELLED.
  void CancelPoll(uint64_t waiter_id) { sessions_->Cancel(waiter_id, clock_->MonotonicMicros()); }
  void ReportStateChanges(const v1::ReportStateChangesRequest& request, v1::ReportStateChangesResponse* response,
                          Done done);
  // Answers the parked long polls whose wait is over. Called often (every 10 ms) from one thread,
  // so expiries leave in small groups: the agents' next polls then arrive spread out instead of in
  // one burst that queues API calls behind them on the server's threads.
  void ExpirePolls();
  // Housekeeping, called periodically (every 100 ms) from the same thread: expires long polls,
  // marks silent agents disconnected, deletes STOPPED tasks past their retention.
  void AgentTick();
  // The pipeline's touch listener: queues the instances whose desired state changed for the poll
  // waker, which answers their parked long polls.
  void OnInstancesTouched(std::vector<InstanceKey> instances);
  // Returns once the poll waker has answered every poll that instances touched so far woke (tests:
  // a touch still queued would otherwise wake a poll parked after it).
  void DrainPollWaker();

  // Answers every parked poll (at shutdown).
  void ShutdownPolls() { sessions_->Shutdown(); }
  const AgentSessions& agent_sessions() const { return *sessions_; }

 private:
  // Sets agentConnected (proposal side).
  void SetAgentConnected(Applier& txn, const ClusterEntry& cluster, const InstanceEntry& instance, bool connected);
  // The instance's desired state as the agent sees it (state lock held): only what changed since
  // `known` when the agent accepts deltas and the instance's change log reaches back that far,
  // else all of it.
  // Returns the highest revision among the records it rendered (the instance's, its desired
  // version, its tasks' and their task definitions'): what must be durable before the answer leaves.
  uint64_t RenderDesired(const ClusterEntry& cluster, const InstanceEntry& instance, uint64_t known,
                         bool accepts_deltas, v1::PollResponse* out) const;
  // Completes `done` with `status` once `revision` is durable: at once on this thread if it is.
  void AnswerAt(uint64_t revision, const Done& done, absl::Status status) const;
  // Applies one task report to the task's record (proposal side); true when the record changed.
  bool ApplyTaskReport(const v1::TaskStateChange& change, double now, v1::TaskRecord& r) const;

  AgentSessions* const sessions_;
  int64_t next_agent_check_us_ = 0;  // AgentTick's thread only
  bool sessions_seeded_ = false;     // AgentTick has given every loaded instance a session

  // The wait of a parked poll the agent asked to hold for `wait_us` (AgentOptions::poll_wait_jitter).
  int64_t JitteredWait(int64_t wait_us);
  absl::Mutex jitter_mu_;
  std::mt19937_64 jitter_rng_ ABSL_GUARDED_BY(jitter_mu_);

  // The poll waker: a thread that answers the parked polls of touched instances, rendering all
  // that are queued under one hold of the state lock and finishing their RPCs after releasing it.
  // Off the pipeline's completion thread, so acknowledging writes never waits for the state lock
  // or for rendering.
  void RunPollWaker();
  // Renders (under the shared state lock) and answers the polls a batch of touches woke.
  void AnswerWoken(std::vector<AgentSessions::Parked> woken);
  absl::Mutex waker_mu_;
  std::vector<InstanceKey> waker_queue_ ABSL_GUARDED_BY(waker_mu_);
  bool waker_stopping_ ABSL_GUARDED_BY(waker_mu_) = false;
  bool waker_busy_ ABSL_GUARDED_BY(waker_mu_) = false;  // answering what it took off the queue
  std::thread waker_;
};

}  // namespace berth::controlplane
