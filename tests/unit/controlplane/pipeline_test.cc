// The commit pipeline: group commit, acknowledged-after-durable ordering, rejected proposals
// write nothing, and stop drains what was submitted.
#include "src/controlplane/state/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>

#include "berth/store/store.h"
#include "tests/testutil/fake_clock.h"
#include "tests/unit/controlplane/intercepting_store.h"

namespace berth::controlplane {

// The pipeline is tested with raw writes; everything else writes through an Applier.
struct TxnTestPeer {
  static store::WriteBatch& Batch(Txn& txn) { return txn.batch(); }
};

namespace {

// A store that records, for each write, how many proposals had been acknowledged before it
// returned, and can slow writes down to let batches form.
class RecordingStore : public InterceptingStore {
 public:
  explicit RecordingStore(std::atomic<int>* acked) : acked_(acked) {}
  absl::Status Write(const store::WriteBatch& batch) override {
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    // Every proposal of this test writes one key; the batch adds the meta revision key.
    acked_at_write.push_back(acked_->load());
    durable_before_write.push_back(durable_);
    absl::Status s = inner_->Write(batch);
    durable_ += static_cast<int>(batch.size()) - 1;
    return s;
  }

  int delay_us = 0;
  std::vector<int> acked_at_write;        // pipeline thread only
  std::vector<int> durable_before_write;  // proposals durable before each write

 private:
  std::atomic<int>* acked_;
  int durable_ = 0;
};

TEST(PipelineTest, GroupCommitsConcurrentProposalsAndAcksOnlyAfterTheWrite) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  store.delay_us = 2000;
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {});
  pipeline.Start();
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::promise<absl::Status> done;
        std::string key = std::to_string(t) + "/" + std::to_string(i);
        pipeline.Submit({[key](Txn& txn) {
                           TxnTestPeer::Batch(txn).Put(store::Table::kTasks, key, "v");
                           return absl::OkStatus();
                         },
                         [&](absl::Status s) {
                           acked++;
                           done.set_value(s);
                         }});
        ASSERT_TRUE(done.get_future().get().ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  pipeline.Stop();
  const int writes = static_cast<int>(store.acked_at_write.size());
  EXPECT_LT(writes, kThreads * kPerThread / 2) << "concurrent proposals should share synced writes";
  // When write k started, only proposals made durable by writes 0..k-1 could have been acknowledged.
  for (int k = 0; k < writes; ++k) EXPECT_LE(store.acked_at_write[k], store.durable_before_write[k]) << k;
  // A revision per applied batch; batches applied while a write synced share the next write.
  EXPECT_GE(pipeline.committed_revision(), static_cast<uint64_t>(writes));
  EXPECT_LE(pipeline.committed_revision(), static_cast<uint64_t>(kThreads * kPerThread));
  int found = 0;
  ASSERT_TRUE(store
                  .Scan(store::Table::kTasks, "",
                        [&](std::string_view, std::string_view) {
                          ++found;
                          return true;
                        })
                  .ok());
  EXPECT_EQ(found, kThreads * kPerThread);
}

TEST(PipelineTest, RejectedProposalWritesNothingAndOthersInTheBatchCommit) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 41, {});
  // Submit before Start so both land in one batch.
  std::promise<absl::Status> bad, good;
  pipeline.Submit(
      {[](Txn& txn) { return absl::InvalidArgumentError("no"); }, [&](absl::Status s) { bad.set_value(s); }});
  pipeline.Submit({[](Txn& txn) {
                     EXPECT_EQ(txn.revision(), 42u);
                     TxnTestPeer::Batch(txn).Put(store::Table::kClusters, "ok", "1");
                     return absl::OkStatus();
                   },
                   [&](absl::Status s) { good.set_value(s); }});
  pipeline.Start();
  EXPECT_EQ(bad.get_future().get().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(good.get_future().get().ok());
  pipeline.Stop();
  EXPECT_EQ(store.acked_at_write.size(), 1u);
  auto rev = store.Get(store::Table::kMeta, kMetaRevisionKey);
  ASSERT_TRUE(rev.ok());
  uint64_t r = 0;
  ASSERT_TRUE(DecodeRevision(*rev, &r));
  EXPECT_EQ(r, 42u);
}

TEST(PipelineTest, ReadOnlyBatchDoesNotWriteOrAdvanceTheRevision) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 7, {});
  pipeline.Start();
  std::promise<absl::Status> done;
  pipeline.Submit({[](Txn&) { return absl::OkStatus(); }, [&](absl::Status s) { done.set_value(s); }});
  EXPECT_TRUE(done.get_future().get().ok());
  pipeline.Stop();
  EXPECT_TRUE(store.acked_at_write.empty());
  EXPECT_EQ(pipeline.committed_revision(), 7u);
}

TEST(PipelineTest, CompletionsRunInSubmissionOrderOffThePipelineThread) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  store.delay_us = 500;
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {.max_batch = 7});
  pipeline.Start();
  std::vector<int> order;  // appended by the completion thread only
  std::promise<void> all_done;
  constexpr int kProposals = 100;
  for (int i = 0; i < kProposals; ++i) {
    pipeline.Submit({[i](Txn& txn) {
                       TxnTestPeer::Batch(txn).Put(store::Table::kTasks, std::to_string(i), "v");
                       return absl::OkStatus();
                     },
                     [&, i](absl::Status s) {
                       EXPECT_FALSE(pipeline.OnApplyThread());
                       order.push_back(i);
                       if (i == kProposals - 1) all_done.set_value();
                     }});
  }
  all_done.get_future().wait();
  pipeline.Stop();
  ASSERT_EQ(order.size(), static_cast<size_t>(kProposals));
  for (int i = 0; i < kProposals; ++i) EXPECT_EQ(order[i], i);
}

TEST(PipelineTest, StopCompletesEverythingSubmitted) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  store.delay_us = 1000;
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {.max_batch = 3});
  pipeline.Start();
  std::atomic<int> completed{0};
  for (int i = 0; i < 30; ++i) {
    pipeline.Submit({[i](Txn& txn) {
                       TxnTestPeer::Batch(txn).Put(store::Table::kTasks, std::to_string(i), "v");
                       return absl::OkStatus();
                     },
                     [&](absl::Status s) {
                       EXPECT_TRUE(s.ok());
                       completed++;
                     }});
  }
  pipeline.Stop();
  EXPECT_EQ(completed.load(), 30);
}

TEST(PipelineTest, CommitDelayGathersProposalsIntoFewerWritesAndStillCompletesALoneOne) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {.commit_delay_us = 50'000, .commit_delay_min_batch = 4});
  pipeline.Start();
  auto submit = [&](int i, std::promise<absl::Status>* done) {
    pipeline.Submit({[i](Txn& txn) {
                       TxnTestPeer::Batch(txn).Put(store::Table::kTasks, std::to_string(i), "v");
                       return absl::OkStatus();
                     },
                     [done](absl::Status s) { done->set_value(s); }});
  };
  // Four proposals arriving 5 ms apart share one write: the first waits for the others.
  std::vector<std::promise<absl::Status>> done(5);
  for (int i = 0; i < 4; ++i) {
    submit(i, &done[i]);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(done[i].get_future().get().ok());
  EXPECT_EQ(store.acked_at_write.size(), 1u);
  // A lone proposal is committed once the delay runs out.
  auto start = std::chrono::steady_clock::now();
  submit(4, &done[4]);
  EXPECT_TRUE(done[4].get_future().get().ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));
  EXPECT_EQ(store.acked_at_write.size(), 2u);
  pipeline.Stop();
}

// A store whose writes wait until the test lets them through, to see what happens meanwhile.
class GatedStore : public InterceptingStore {
 public:
  absl::Status Write(const store::WriteBatch& batch) override {
    absl::MutexLock lock(&mu_);
    ++writes_started_;
    mu_.Await(absl::Condition(
        +[](GatedStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) { return s->released_ >= s->writes_started_; }, this));
    write_sizes_.push_back(batch.size());
    return inner_->Write(batch);
  }

  void AwaitWritesStarted(int n) {
    absl::MutexLock lock(&mu_);
    std::pair<GatedStore*, int> arg(this, n);
    mu_.Await(absl::Condition(
        +[](std::pair<GatedStore*, int>* a)
             ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->first->writes_started_ >= a->second; },
        &arg));
  }
  void ReleaseOne() {
    absl::MutexLock lock(&mu_);
    ++released_;
  }
  std::vector<size_t> write_sizes() {
    absl::MutexLock lock(&mu_);
    return write_sizes_;
  }

 private:
  absl::Mutex mu_;
  int writes_started_ ABSL_GUARDED_BY(mu_) = 0;
  int released_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<size_t> write_sizes_ ABSL_GUARDED_BY(mu_);
};

Proposal PutProposal(std::string key, std::promise<absl::Status>* done) {
  return {[key = std::move(key)](Txn& txn) {
            TxnTestPeer::Batch(txn).Put(store::Table::kTasks, key, "v");
            return absl::OkStatus();
          },
          [done](absl::Status s) { done->set_value(s); }};
}

TEST(PipelineTest, AppliesTheNextBatchWhileTheLastSyncsAndWritesWhatGatheredAsOne) {
  GatedStore store;
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {});
  pipeline.Start();
  std::promise<absl::Status> first;
  pipeline.Submit(PutProposal("a", &first));
  store.AwaitWritesStarted(1);
  EXPECT_EQ(pipeline.applied_revision(), 1u);
  EXPECT_EQ(pipeline.committed_revision(), 0u);
  // The first write is in flight: readers are not held off, and two more batches apply.
  EXPECT_TRUE(mu.ReaderTryLock());
  mu.ReaderUnlock();
  std::promise<absl::Status> second, third;
  std::promise<void> applied_second;
  pipeline.Submit({[&](Txn& txn) {
                     TxnTestPeer::Batch(txn).Put(store::Table::kTasks, "b", "v");
                     applied_second.set_value();
                     return absl::OkStatus();
                   },
                   [&](absl::Status s) { second.set_value(s); }});
  applied_second.get_future().wait();
  pipeline.Submit(PutProposal("c", &third));
  // Both later batches wait for the first write; an answer that saw their state waits too.
  std::atomic<bool> answered{false};
  while (pipeline.applied_revision() < 3) std::this_thread::yield();
  pipeline.WhenDurable(pipeline.applied_revision(), [&] { answered = true; });
  EXPECT_FALSE(answered.load());
  bool early = false;
  pipeline.WhenDurable(0, [&] { early = true; });
  EXPECT_TRUE(early) << "a revision already durable answers at once";

  std::future<absl::Status> second_result = second.get_future();
  store.ReleaseOne();
  EXPECT_TRUE(first.get_future().get().ok());
  store.AwaitWritesStarted(2);
  EXPECT_FALSE(answered.load());
  EXPECT_EQ(second_result.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  store.ReleaseOne();
  EXPECT_TRUE(second_result.get().ok());
  EXPECT_TRUE(third.get_future().get().ok());
  pipeline.Stop();
  EXPECT_TRUE(answered.load());
  // One write for "a", then one for "b" and "c" together; each carries the meta revision once.
  EXPECT_EQ(store.write_sizes(), (std::vector<size_t>{2, 3}));
  EXPECT_EQ(pipeline.committed_revision(), 3u);
  auto rev = store.Get(store::Table::kMeta, kMetaRevisionKey);
  ASSERT_TRUE(rev.ok());
  uint64_t r = 0;
  ASSERT_TRUE(DecodeRevision(*rev, &r));
  EXPECT_EQ(r, 3u);
}

TEST(PipelineTest, AnAnswerWaitingOnlyForDurabilityRunsAheadOfQueuedCompletions) {
  GatedStore store;
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {});
  pipeline.Start();
  absl::Mutex order_mu;
  std::vector<std::string> order;
  auto record = [&](std::string what) {
    absl::MutexLock lock(&order_mu);
    order.push_back(std::move(what));
  };
  // A's completion holds the completion thread until released.
  std::promise<void> in_a, release_a;
  pipeline.Submit({[](Txn& txn) {
                     TxnTestPeer::Batch(txn).Put(store::Table::kTasks, "a", "v");
                     return absl::OkStatus();
                   },
                   [&](absl::Status) {
                     in_a.set_value();
                     release_a.get_future().wait();
                     record("A");
                   }});
  store.AwaitWritesStarted(1);
  store.ReleaseOne();
  in_a.get_future().wait();
  // B is applied and, before its write, an answer that saw it waits for its revision.
  pipeline.Submit({[](Txn& txn) {
                     TxnTestPeer::Batch(txn).Put(store::Table::kTasks, "b", "v");
                     return absl::OkStatus();
                   },
                   [&](absl::Status) { record("B"); }});
  store.AwaitWritesStarted(2);
  pipeline.WhenDurable(pipeline.applied_revision(), [&] { record("read"); });
  store.ReleaseOne();
  while (pipeline.committed_revision() < 2) std::this_thread::yield();
  release_a.set_value();
  pipeline.Stop();
  EXPECT_EQ(order, (std::vector<std::string>{"A", "read", "B"}));
}

TEST(PipelineTest, AnErrorSeenOnUndurableStateIsAnsweredAfterThatStateIsDurable) {
  GatedStore store;
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {});
  pipeline.Start();
  std::promise<absl::Status> create;
  pipeline.Submit(PutProposal("a", &create));
  store.AwaitWritesStarted(1);
  // A second proposal rejected because of the first (say, "already exists") is not answered
  // before the first is durable: its rejection shows that state.
  std::promise<absl::Status> duplicate;
  pipeline.Submit(
      {[](Txn&) { return absl::AlreadyExistsError("a exists"); }, [&](absl::Status s) { duplicate.set_value(s); }});
  std::future<absl::Status> duplicate_result = duplicate.get_future();
  EXPECT_EQ(duplicate_result.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  store.ReleaseOne();
  EXPECT_TRUE(create.get_future().get().ok());
  EXPECT_EQ(duplicate_result.get().code(), absl::StatusCode::kAlreadyExists);
  pipeline.Stop();
}

TEST(PipelineTest, SubmitAfterStopIsUnavailable) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 0, {});
  pipeline.Start();
  pipeline.Stop();
  absl::Status result;
  pipeline.Submit({[](Txn&) { return absl::OkStatus(); }, [&](absl::Status s) { result = s; }});
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace berth::controlplane

#include "berth/store/keys.h"
#include "src/controlplane/state/state.h"

namespace berth::controlplane {
namespace {

TEST(StateLoadTest, RefusesAStoreWithAnotherSchemaVersion) {
  auto store = store::NewMemoryStore();
  store::WriteBatch batch;
  batch.Put(store::Table::kMeta, std::string(store::kSchemaVersionKey), EncodeRevision(kSchemaVersion + 1));
  ASSERT_TRUE(store->Write(batch).ok());
  State state;
  uint64_t revision = 0;
  absl::Status s = state.Load(*store, &revision);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("schema version 2"), std::string::npos) << s;
}

TEST(StateLoadTest, CorruptRecordIsDataLoss) {
  auto store = store::NewMemoryStore();
  store::WriteBatch batch;
  batch.Put(store::Table::kClusters, store::ClusterKey("c"), "\xff\xff\xff garbage");
  ASSERT_TRUE(store->Write(batch).ok());
  State state;
  uint64_t revision = 0;
  absl::Status s = state.Load(*store, &revision);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("clusters"), std::string::npos) << s;
}

// Collects what the pipeline reports to its observer.
class TimingObserver : public PipelineObserver {
 public:
  void OnBatchCommitted(size_t, size_t, int64_t) override {}
  void OnBatchTimings(const BatchTimings& t) override {
    absl::MutexLock lock(&mu);
    timings.push_back(t);
  }
  absl::Mutex mu;
  std::vector<BatchTimings> timings;
};

TEST(PipelineTest, ReportsWhereEachBatchsTimeWent) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  store.delay_us = 15000;  // the synced write
  absl::Mutex mu;
  TimingObserver observer;
  CommitPipeline pipeline(&store, &mu, 0, {}, &observer);
  pipeline.Start();
  std::promise<absl::Status> done;
  const auto submitted = std::chrono::steady_clock::now();
  // A reader holds the state lock for 20 ms, so the batch waits for it once taken off the queue.
  mu.ReaderLock();
  pipeline.Submit({[](Txn& txn) {
                     std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the apply
                     TxnTestPeer::Batch(txn).Put(store::Table::kTasks, "k", "v");
                     return absl::OkStatus();
                   },
                   [&](absl::Status s) { done.set_value(s); }});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  mu.ReaderUnlock();
  ASSERT_TRUE(done.get_future().get().ok());
  pipeline.Stop();
  const int64_t elapsed_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - submitted).count();
  absl::MutexLock lock(&observer.mu);
  ASSERT_EQ(observer.timings.size(), 1u);
  const BatchTimings& t = observer.timings[0];
  EXPECT_GE(t.lock_wait_us, 15000) << "waited for the reader";
  EXPECT_GE(t.apply_us, 10000);
  EXPECT_GE(t.write_us, 15000);
  for (int64_t stage : {t.queued_us, t.write_wait_us, t.complete_us}) EXPECT_GE(stage, 0);
  // The stages follow one another: together they fit in the time from Submit to after the answer.
  EXPECT_LE(t.queued_us + t.lock_wait_us + t.apply_us + t.write_wait_us + t.write_us + t.complete_us, elapsed_us);
}

// Counts the non-overlapping occurrences of `needle` in `text`.
int Occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// Runs `writes` proposals one after another (each its own store write) through `pipeline` and
// returns what it logged.
std::string LogOfSequentialWrites(CommitPipeline& pipeline, int writes) {
  testing::internal::CaptureStderr();
  pipeline.Start();
  for (int i = 0; i < writes; ++i) {
    std::promise<absl::Status> done;
    pipeline.Submit(PutProposal("k" + std::to_string(i), &done));
    EXPECT_TRUE(done.get_future().get().ok());
  }
  pipeline.Stop();
  return testing::internal::GetCapturedStderr();
}

// A slow store that moves a fake clock on by `advance_us` as its `advance_at`-th write begins:
// after the write thread has dealt with every write before it.
class ClockedSlowStore : public RecordingStore {
 public:
  ClockedSlowStore(std::atomic<int>* acked, testutil::FakeClock* clock, int advance_at, int64_t advance_us)
      : RecordingStore(acked), clock_(clock), advance_at_(advance_at), advance_us_(advance_us) {
    delay_us = 3000;
  }
  absl::Status Write(const store::WriteBatch& batch) override {
    if (++writes_ == advance_at_) clock_->Advance(advance_us_);
    return RecordingStore::Write(batch);
  }

 private:
  testutil::FakeClock* clock_;
  int advance_at_;
  int64_t advance_us_;
  int writes_ = 0;
};

TEST(PipelineTest, WarnsOfSlowWritesAtMostOncePerIntervalCountingTheOthers) {
  std::atomic<int> acked{0};
  testutil::FakeClock clock;
  // Six slow writes; the interval has passed when the fourth begins.
  ClockedSlowStore slow(&acked, &clock, 4, 10'000'000);
  absl::Mutex mu;
  CommitPipeline pipeline(
      &slow, &mu, 0, {.slow_write_us = 2000, .slow_write_log_interval_us = 10'000'000, .slow_write_clock = &clock});
  // The first and the fourth are logged, the fourth's warning counting the two held back and itself.
  const std::string log = LogOfSequentialWrites(pipeline, 6);
  EXPECT_EQ(Occurrences(log, "slow commit write"), 2) << log;
  EXPECT_NE(log.find("revision 1 took "), std::string::npos) << log;
  EXPECT_NE(log.find("(proposals 1, store operations 2)"), std::string::npos) << log;
  EXPECT_NE(log.find("Writes of 2 ms or more so far: 1 "), std::string::npos) << log;
  EXPECT_NE(log.find("revision 4 took "), std::string::npos) << log;
  EXPECT_NE(log.find("Writes of 2 ms or more since the last such warning: 3 "), std::string::npos) << log;
}

TEST(PipelineTest, FastWritesAndAThresholdOfZeroLogNothing) {
  std::atomic<int> acked{0};
  RecordingStore fast(&acked);
  absl::Mutex mu;
  // A second: a memory store's write is far below it.
  CommitPipeline quick(&fast, &mu, 0, {.slow_write_us = 1'000'000});
  EXPECT_EQ(Occurrences(LogOfSequentialWrites(quick, 3), "slow commit write"), 0);

  RecordingStore slow(&acked);
  slow.delay_us = 3000;
  CommitPipeline off(&slow, &mu, 0, {.slow_write_us = 0});
  EXPECT_EQ(Occurrences(LogOfSequentialWrites(off, 2), "slow commit write"), 0);
}

}  // namespace
}  // namespace berth::controlplane
