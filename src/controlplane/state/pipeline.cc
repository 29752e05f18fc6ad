#include "src/controlplane/state/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "berth/common/logging.h"

namespace berth::controlplane {

std::string EncodeRevision(uint64_t revision) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(revision & 0xff);
    revision >>= 8;
  }
  return out;
}

bool DecodeRevision(std::string_view bytes, uint64_t* revision) {
  if (bytes.size() != 8) return false;
  uint64_t r = 0;
  for (unsigned char c : bytes) r = (r << 8) | c;
  *revision = r;
  return true;
}

CommitPipeline::CommitPipeline(store::Store* store, absl::Mutex* state_mu, uint64_t last_revision, Options options,
                               PipelineObserver* observer)
    : store_(store),
      state_mu_(state_mu),
      options_(options),
      observer_(observer),
      next_revision_(last_revision + 1),
      applied_revision_(last_revision),
      committed_revision_(last_revision) {}

CommitPipeline::~CommitPipeline() { Stop(); }

void CommitPipeline::Start() {
  completion_thread_ = std::thread([this] { RunCompletions(); });
  write_thread_ = std::thread([this] { RunWrites(); });
  apply_thread_ = std::thread([this] { RunApply(); });
}

namespace {

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void CommitPipeline::Submit(Proposal proposal) {
  proposal.submitted_us = SteadyMicros();
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(proposal));
      return;
    }
  }
  proposal.done(absl::UnavailableError("berthd is shutting down; retry against the restarted server"));
}

void CommitPipeline::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // Each thread drains what it was handed before it ends, so stopping in this order commits and
  // completes everything submitted.
  if (apply_thread_.joinable()) apply_thread_.join();
  if (write_thread_.joinable()) write_thread_.join();
  if (completion_thread_.joinable()) completion_thread_.join();
}

void CommitPipeline::WhenDurable(uint64_t revision, std::function<void()> fn) {
  {
    absl::MutexLock lock(&completions_mu_);
    // committed_revision_ is stored before the write thread takes this mutex to collect the
    // waiters its write made durable: either that collection sees this waiter, or this sees it.
    if (revision > committed_revision_.load(std::memory_order_acquire)) {
      durable_waiters_.emplace(revision, std::move(fn));
      return;
    }
  }
  fn();
}

void CommitPipeline::RunApply() {
  for (;;) {
    std::vector<Proposal> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CommitPipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return !p->queue_.empty() || p->stopping_; },
          this));
      if (queue_.empty() && stopping_) break;
      if (options_.commit_delay_us > 0 && queue_.size() < options_.commit_delay_min_batch && !stopping_) {
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](CommitPipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
                                   return p->queue_.size() >= p->options_.commit_delay_min_batch || p->stopping_;
                                 },
                                 this),
                             absl::Microseconds(options_.commit_delay_us));
      }
      batch.reserve(std::min(queue_.size(), options_.max_batch));
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    Applied applied = ApplyBatch(std::move(batch));
    absl::MutexLock lock(&writes_mu_);
    writes_.push_back(std::move(applied));
  }
  absl::MutexLock lock(&writes_mu_);
  apply_done_ = true;
}

CommitPipeline::Applied CommitPipeline::ApplyBatch(std::vector<Proposal> batch) {
  Applied out;
  out.taken_us = SteadyMicros();
  out.oldest_submitted_us = out.taken_us;
  for (const Proposal& p : batch) out.oldest_submitted_us = std::min(out.oldest_submitted_us, p.submitted_us);
  out.results.resize(batch.size());
  const uint64_t revision = next_revision_;
  absl::MutexLock state_lock(state_mu_);
  out.locked_us = SteadyMicros();
  for (size_t i = 0; i < batch.size(); ++i) {
    Txn txn(revision);
    out.results[i] = batch[i].apply(txn);
    if (!out.results[i].ok()) continue;
    out.writes.Append(std::move(txn.batch_));
    for (auto& key : txn.touched_) out.touched.push_back(std::move(key));
  }
  if (batch_hook_) {
    Txn txn(revision);
    batch_hook_(txn);
    out.writes.Append(std::move(txn.batch_));
    for (auto& key : txn.touched_) out.touched.push_back(std::move(key));
  }
  if (!out.writes.empty()) {
    out.revision = revision;
    next_revision_ = revision + 1;
    applied_revision_.store(revision, std::memory_order_release);
  }
  out.proposals = std::move(batch);
  out.applied_us = SteadyMicros();  // the lock is released on return, a moment later
  return out;
}

void CommitPipeline::RunWrites() {
  for (;;) {
    std::vector<Applied> taken;
    {
      absl::MutexLock lock(&writes_mu_);
      writes_mu_.Await(absl::Condition(
          +[](CommitPipeline* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->writes_mu_) { return !p->writes_.empty() || p->apply_done_; },
          this));
      if (writes_.empty()) break;  // apply_done_ and nothing left
      taken.swap(writes_);
    }
    // Everything applied while the previous write synced goes out as one write, in apply order.
    store::WriteBatch merged;
    uint64_t revision = 0;
    size_t proposals = 0;
    for (Applied& a : taken) {
      proposals += a.proposals.size();
      if (a.revision == 0) continue;
      revision = a.revision;
      if (merged.empty()) {
        merged = std::move(a.writes);
      } else {
        merged.Append(std::move(a.writes));
      }
    }
    const int64_t start = SteadyMicros();
    int64_t end = start;
    std::optional<SlowWrite> slow;
    if (revision != 0) {
      merged.Put(store::Table::kMeta, std::string(kMetaRevisionKey), EncodeRevision(revision));
      absl::Status st = store_->Write(merged);
      end = SteadyMicros();
      const int64_t micros = end - start;
      if (!st.ok()) {
        // In-memory state already holds these batches (and maybe later ones); they cannot be rolled
        // back. Exit and let recovery rebuild state from what is durable.
        log::Error("fatal: durable write of revision {} failed: {}; exiting", revision, st.ToString());
        std::_Exit(70);
      }
      committed_revision_.store(revision, std::memory_order_release);
      if (observer_ != nullptr) observer_->OnBatchCommitted(proposals, merged.size(), micros);
      if (options_.slow_write_us > 0 && micros >= options_.slow_write_us) {
        slow = SlowWrite{.revision = revision, .micros = micros, .write_ops = merged.size(), .proposals = proposals};
      }
    }
    for (Applied& a : taken) {
      a.write_start_us = start;
      a.written_us = end;
    }
    {
      absl::MutexLock lock(&completions_mu_);
      for (Applied& a : taken) completions_.push_back(std::move(a));
      if (revision != 0) {
        auto end = durable_waiters_.upper_bound(revision);
        for (auto it = durable_waiters_.begin(); it != end; ++it) ready_waiters_.push_back(std::move(it->second));
        durable_waiters_.erase(durable_waiters_.begin(), end);
      }
    }
    // After the hand-off: the answers the slow write held back do not also wait for the log.
    if (slow) NoteSlowWrite(*slow);
  }
  absl::MutexLock lock(&completions_mu_);
  writes_done_ = true;
}

void CommitPipeline::NoteSlowWrite(const SlowWrite& write) {
  const int64_t now_us =
      options_.slow_write_clock != nullptr ? options_.slow_write_clock->MonotonicMicros() : SteadyMicros();
  ++slow_writes_unlogged_;
  if (last_slow_write_log_us_ && now_us - *last_slow_write_log_us_ < options_.slow_write_log_interval_us) return;
  log::Warn(
      "slow commit write: revision {} took {:.1f} ms (proposals {}, store operations {}); the proposals it made "
      "durable, and those queued behind it, waited for the disk. Writes of {:g} ms or more {}: {} "
      "(berth_commit_fsync_seconds has them all)",
      write.revision, static_cast<double>(write.micros) / 1000.0, write.proposals, write.write_ops,
      static_cast<double>(options_.slow_write_us) / 1000.0,
      last_slow_write_log_us_ ? "since the last such warning" : "so far", slow_writes_unlogged_);
  slow_writes_unlogged_ = 0;
  last_slow_write_log_us_ = now_us;
}

void CommitPipeline::RunCompletions() {
  for (;;) {
    std::vector<std::function<void()>> ready;
    std::optional<Applied> completed;
    {
      absl::MutexLock lock(&completions_mu_);
      completions_mu_.Await(absl::Condition(
          +[](CommitPipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->completions_mu_) {
            return !p->completions_.empty() || !p->ready_waiters_.empty() || p->writes_done_;
          },
          this));
      if (completions_.empty() && ready_waiters_.empty()) return;  // writes_done_ and nothing left
      ready.swap(ready_waiters_);
      if (!completions_.empty()) {
        completed = std::move(completions_.front());
        completions_.pop_front();
      }
    }
    for (auto& fn : ready) fn();
    if (!completed) continue;
    for (size_t i = 0; i < completed->proposals.size(); ++i) {
      completed->proposals[i].done(std::move(completed->results[i]));
    }
    if (touch_listener_ && !completed->touched.empty()) touch_listener_(std::move(completed->touched));
    if (observer_ != nullptr) {
      const Applied& a = *completed;
      observer_->OnBatchTimings({.queued_us = a.taken_us - a.oldest_submitted_us,
                                 .lock_wait_us = a.locked_us - a.taken_us,
                                 .apply_us = a.applied_us - a.locked_us,
                                 .write_wait_us = a.write_start_us - a.applied_us,
                                 .write_us = a.written_us - a.write_start_us,
                                 .complete_us = SteadyMicros() - a.written_us});
    }
  }
}

}  // namespace berth::controlplane
