// CommitPipeline: the single writer of control-plane state.
//
// Handlers (on gRPC threads) validate requests and Submit() proposals. Three threads carry them:
//   - the apply thread drains the queue in batches. For each batch it takes the state mutex
//     exclusively, applies every proposal to the in-memory state (each appends its durable writes
//     to its Txn), releases the mutex and hands the batch's writes to the write thread;
//   - the write thread writes what it was handed as ONE synced store write (group commit: batches
//     applied while the previous write was syncing go out together), in apply order;
//   - the completion thread then runs the proposals' completions in commit order (finishing an
//     RPC costs a syscall; it stays off both serial threads).
// So the next batch is applied while the previous one syncs, and readers (who hold the state
// mutex shared) never wait for an fsync. Consequences:
//   - acknowledged means durable: a completion with OK runs only after the write returned;
//   - readers can see state whose write is still in flight. An answer that shows state to a client
//     must wait until what it saw is durable: WhenDurable(applied_revision(), answer), which
//     Api::AnswerWhenDurable wraps for every door. Writers' own completions need no wait;
//   - a failed store write is fatal: the process exits and recovers from the store on restart,
//     because in-memory state already holds the batch's effects (and maybe later batches').
//
// A proposal's Apply must either return an error having changed nothing, or succeed. Validate
// against state first, mutate after.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "berth/common/clock.h"
#include "berth/store/store.h"

namespace berth::controlplane {

// Meta-table key of the last committed revision (8-byte big-endian value).
inline constexpr char kMetaRevisionKey[] = "revision";
std::string EncodeRevision(uint64_t revision);
bool DecodeRevision(std::string_view bytes, uint64_t* revision);

// A container instance whose desired state (what its agent should run) a proposal changed.
struct InstanceKey {
  std::string cluster;
  std::string instance_id;
};

// What one proposal's Apply works with: its revision, and the batch of writes and the instances to
// wake that it builds. Only the pipeline and the Applier (state/applier.h), the one way to change
// control-plane state, reach the batch. Used only on the apply thread.
class Txn {
 public:
  explicit Txn(uint64_t revision) : revision_(revision) {}

  // The revision every record written in this batch carries.
  uint64_t revision() const { return revision_; }

 private:
  friend class CommitPipeline;
  friend class Applier;
  friend struct TxnTestPeer;  // the pipeline's own tests write raw batches

  store::WriteBatch& batch() { return batch_; }
  // Records that the instance's desired state changed; its agent's long poll is woken once the
  // batch is durable.
  void Touch(std::string cluster, std::string instance_id) {
    touched_.push_back({std::move(cluster), std::move(instance_id)});
  }

  uint64_t revision_;
  store::WriteBatch batch_;
  std::vector<InstanceKey> touched_;
};

struct Proposal {
  // Runs on the apply thread with the state mutex held exclusively.
  std::function<absl::Status(Txn&)> apply;
  // Runs on the completion thread after the batch is durable (OK) or with Apply's error, in
  // submission order. Must not block; typically finishes an RPC.
  std::function<void(absl::Status)> done;
  // Set by Submit (steady clock, microseconds): where the batch's queueing time starts.
  int64_t submitted_us = 0;
};

// Where one applied batch's time went, in microseconds (steady clock), for the commit-stage
// histograms: a proposal's latency inside berthd is roughly the sum of these.
struct BatchTimings {
  int64_t queued_us = 0;      // the batch's oldest proposal: submitted -> its batch taken off the queue
  int64_t lock_wait_us = 0;   // waiting for the state lock (readers: polls, Describe*, the poll waker)
  int64_t apply_us = 0;       // applying the proposals under the exclusive state lock
  int64_t write_wait_us = 0;  // applied -> its synced write began (the previous write was syncing)
  int64_t write_us = 0;       // the synced write that made it durable (shared with batches merged into it)
  int64_t complete_us = 0;    // durable -> every completion of the batch ran
};

struct PipelineObserver {
  virtual ~PipelineObserver() = default;
  // One synced write: the proposals it made durable, its operations, and how long it took.
  virtual void OnBatchCommitted(size_t proposals, size_t write_ops, int64_t fsync_micros) = 0;
  // Every applied batch, once its completions ran (on the completion thread).
  virtual void OnBatchTimings(const BatchTimings& /*timings*/) {}
};

class CommitPipeline {
 public:
  struct Options {
    size_t max_batch = 1024;  // proposals per applied batch
    // Group-commit delay: when a batch is smaller than `commit_delay_min_batch`, wait up to this
    // long for more proposals before applying it (fewer fsyncs for a little latency, as
    // PostgreSQL's commit_delay). 0: apply what is queued at once.
    int64_t commit_delay_us = 0;
    size_t commit_delay_min_batch = 16;
    // A store write that takes at least this long is logged as a warning (the proposals it made
    // durable, and those queued behind it, waited for it: the disk is slow), at most once per
    // `slow_write_log_interval_us` of `slow_write_clock` (null: the steady clock), the warning
    // counting the slow writes since the last one. 0: never.
    int64_t slow_write_us = 100'000;
    int64_t slow_write_log_interval_us = 10'000'000;
    const Clock* slow_write_clock = nullptr;
  };

  // `store` and `state_mu` must outlive the pipeline. `last_revision` is the highest revision
  // already durable (from recovery).
  CommitPipeline(store::Store* store, absl::Mutex* state_mu, uint64_t last_revision, Options options,
                 PipelineObserver* observer = nullptr);
  ~CommitPipeline();

  // Called on the completion thread, after a batch's completions, with the instances its proposals
  // touched (never undurable ones). Set before Start().
  void SetTouchListener(std::function<void(std::vector<InstanceKey>)> listener) {
    touch_listener_ = std::move(listener);
  }

  // Runs on the apply thread after every proposal of a batch was applied, under the exclusive
  // state lock; its writes and touches join the batch (so what it derives from the batch is
  // durable exactly with it). Must not fail. Set before Start().
  void SetBatchHook(std::function<void(Txn&)> hook) { batch_hook_ = std::move(hook); }

  void Start();
  // Thread-safe. After Stop() began, the proposal is completed with UNAVAILABLE.
  void Submit(Proposal proposal);
  // Commits and completes everything already submitted, then stops the threads. Idempotent.
  void Stop();

  // Highest durable revision (readable from any thread).
  uint64_t committed_revision() const { return committed_revision_.load(std::memory_order_acquire); }
  // Highest revision applied to the in-memory state: what a reader holding the state mutex sees,
  // possibly ahead of committed_revision() while its write is in flight.
  uint64_t applied_revision() const { return applied_revision_.load(std::memory_order_acquire); }
  // Runs `fn` once `revision` is durable: at once on the calling thread if it already is,
  // otherwise on the completion thread, ahead of the completions it has not run yet (an answer
  // that only waited for durability does not queue behind other RPCs' answers). Must not block.
  void WhenDurable(uint64_t revision, std::function<void()> fn);

  bool OnApplyThread() const { return std::this_thread::get_id() == apply_thread_.get_id(); }
  bool OnCompletionThread() const { return std::this_thread::get_id() == completion_thread_.get_id(); }

 private:
  // An applied batch on its way to the store, then to its completions.
  struct Applied {
    uint64_t revision = 0;  // the batch's revision; 0 when it wrote nothing
    store::WriteBatch writes;
    std::vector<Proposal> proposals;
    std::vector<absl::Status> results;
    std::vector<InstanceKey> touched;
    int64_t oldest_submitted_us = 0;
    int64_t taken_us = 0;    // off the queue
    int64_t locked_us = 0;   // state lock acquired
    int64_t applied_us = 0;  // state lock released
    int64_t write_start_us = 0;
    int64_t written_us = 0;
  };

  void RunApply();
  void RunWrites();
  void RunCompletions();
  Applied ApplyBatch(std::vector<Proposal> batch);

  store::Store* const store_;
  absl::Mutex* const state_mu_;
  const Options options_;
  PipelineObserver* const observer_;
  std::function<void(std::vector<InstanceKey>)> touch_listener_;
  std::function<void(Txn&)> batch_hook_;

  absl::Mutex mu_;
  std::deque<Proposal> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Write thread only: slow writes not yet in a warning, and when the last warning was logged.
  struct SlowWrite {
    uint64_t revision = 0;
    int64_t micros = 0;
    size_t write_ops = 0;
    size_t proposals = 0;
  };
  void NoteSlowWrite(const SlowWrite& write);
  int64_t slow_writes_unlogged_ = 0;
  std::optional<int64_t> last_slow_write_log_us_;  // none before the first warning

  uint64_t next_revision_;  // apply thread only
  std::atomic<uint64_t> applied_revision_;
  std::atomic<uint64_t> committed_revision_;

  absl::Mutex writes_mu_;
  std::vector<Applied> writes_ ABSL_GUARDED_BY(writes_mu_);
  bool apply_done_ ABSL_GUARDED_BY(writes_mu_) = false;

  absl::Mutex completions_mu_;
  std::deque<Applied> completions_ ABSL_GUARDED_BY(completions_mu_);
  bool writes_done_ ABSL_GUARDED_BY(completions_mu_) = false;
  // Answers waiting for a revision that is not durable yet, by revision; the write thread moves
  // those its write made durable to ready_waiters_, which the completion thread runs first.
  std::multimap<uint64_t, std::function<void()>> durable_waiters_ ABSL_GUARDED_BY(completions_mu_);
  std::vector<std::function<void()>> ready_waiters_ ABSL_GUARDED_BY(completions_mu_);

  std::thread apply_thread_;
  std::thread write_thread_;
  std::thread completion_thread_;
};

}  // namespace berth::controlplane
