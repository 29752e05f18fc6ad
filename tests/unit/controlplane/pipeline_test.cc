// The commit pipeline: group commit, acknowledged-after-durable ordering, rejected proposals
// write nothing, and stop drains what was submitted.
#include "src/controlplane/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "berth/store/store.h"

namespace berth::controlplane {
namespace {

// A store that records, for each write, how many proposals had been acknowledged before it
// returned, and can slow writes down to let batches form.
class RecordingStore : public store::Store {
 public:
  explicit RecordingStore(std::atomic<int>* acked) : inner_(store::NewMemoryStore()), acked_(acked) {}
  absl::Status Write(const store::WriteBatch& batch) override {
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    // Every proposal of this test writes one key; the batch adds the meta revision key.
    acked_at_write.push_back(acked_->load());
    durable_before_write.push_back(durable_);
    absl::Status s = inner_->Write(batch);
    durable_ += static_cast<int>(batch.size()) - 1;
    return s;
  }
  absl::StatusOr<std::string> Get(store::Table t, std::string_view k) override { return inner_->Get(t, k); }
  absl::Status Scan(store::Table t, std::string_view p,
                    const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_->Scan(t, p, fn);
  }
  uint64_t ApproximateDiskBytes() override { return 0; }
  store::StoreStats Stats() const override { return inner_->Stats(); }
  absl::Status Close() override { return inner_->Close(); }

  int delay_us = 0;
  std::vector<int> acked_at_write;        // pipeline thread only
  std::vector<int> durable_before_write;  // proposals durable before each write

 private:
  std::unique_ptr<store::Store> inner_;
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
                           txn.batch().Put(store::Table::kTasks, key, "v");
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
  EXPECT_EQ(pipeline.committed_revision(), static_cast<uint64_t>(writes));
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
                     txn.batch().Put(store::Table::kClusters, "ok", "1");
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
                       txn.batch().Put(store::Table::kTasks, std::to_string(i), "v");
                       return absl::OkStatus();
                     },
                     [&, i](absl::Status s) {
                       EXPECT_FALSE(pipeline.OnPipelineThread());
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
                       txn.batch().Put(store::Table::kTasks, std::to_string(i), "v");
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
                       txn.batch().Put(store::Table::kTasks, std::to_string(i), "v");
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
#include "src/controlplane/state.h"

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

}  // namespace
}  // namespace berth::controlplane
