#include "src/controlplane/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

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
      committed_revision_(last_revision) {}

CommitPipeline::~CommitPipeline() { Stop(); }

void CommitPipeline::Start() {
  completion_thread_ = std::thread([this] { RunCompletions(); });
  thread_ = std::thread([this] { Run(); });
}

void CommitPipeline::Submit(Proposal proposal) {
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
  if (thread_.joinable()) thread_.join();
  if (completion_thread_.joinable()) completion_thread_.join();
}

void CommitPipeline::Run() {
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
    Completed completed = CommitBatch(std::move(batch));
    absl::MutexLock lock(&completions_mu_);
    completions_.push_back(std::move(completed));
  }
  absl::MutexLock lock(&completions_mu_);
  pipeline_done_ = true;
}

void CommitPipeline::RunCompletions() {
  for (;;) {
    Completed completed;
    {
      absl::MutexLock lock(&completions_mu_);
      completions_mu_.Await(absl::Condition(
          +[](CommitPipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->completions_mu_) {
            return !p->completions_.empty() || p->pipeline_done_;
          },
          this));
      if (completions_.empty()) return;  // pipeline_done_ and nothing left
      completed = std::move(completions_.front());
      completions_.pop_front();
    }
    for (size_t i = 0; i < completed.proposals.size(); ++i) {
      completed.proposals[i].done(std::move(completed.results[i]));
    }
    if (touch_listener_ && !completed.touched.empty()) touch_listener_(std::move(completed.touched));
  }
}

CommitPipeline::Completed CommitPipeline::CommitBatch(std::vector<Proposal> batch) {
  std::vector<absl::Status> results(batch.size());
  std::vector<InstanceKey> touched;
  size_t write_ops = 0;
  int64_t fsync_micros = 0;
  const uint64_t revision = next_revision_;
  {
    absl::MutexLock state_lock(state_mu_);
    store::WriteBatch writes;
    for (size_t i = 0; i < batch.size(); ++i) {
      Txn txn(revision);
      results[i] = batch[i].apply(txn);
      if (!results[i].ok()) continue;
      writes.Append(std::move(txn.batch_));
      for (auto& key : txn.touched_) touched.push_back(std::move(key));
    }
    if (batch_hook_) {
      Txn txn(revision);
      batch_hook_(txn);
      writes.Append(std::move(txn.batch_));
      for (auto& key : txn.touched_) touched.push_back(std::move(key));
    }
    if (!writes.empty()) {
      writes.Put(store::Table::kMeta, std::string(kMetaRevisionKey), EncodeRevision(revision));
      write_ops = writes.size();
      auto start = std::chrono::steady_clock::now();
      absl::Status st = store_->Write(writes);
      fsync_micros =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
      if (!st.ok()) {
        // In-memory state already holds this batch; it cannot be rolled back. Exit and let
        // recovery rebuild state from what is durable.
        log::Error("fatal: durable write of revision {} failed: {}; exiting", revision, st.ToString());
        std::_Exit(70);
      }
      next_revision_ = revision + 1;
      committed_revision_.store(revision, std::memory_order_release);
    }
  }
  if (observer_ != nullptr) observer_->OnBatchCommitted(batch.size(), write_ops, fsync_micros);
  return Completed{std::move(batch), std::move(results), std::move(touched)};
}

}  // namespace berth::controlplane
