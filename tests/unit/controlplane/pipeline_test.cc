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
  ASSERT_TRUE(store.Scan(store::Table::kTasks, "", [&](std::string_view, std::string_view) {
                     ++found;
                     return true;
                   }).ok());
  EXPECT_EQ(found, kThreads * kPerThread);
}

TEST(PipelineTest, RejectedProposalWritesNothingAndOthersInTheBatchCommit) {
  std::atomic<int> acked{0};
  RecordingStore store(&acked);
  absl::Mutex mu;
  CommitPipeline pipeline(&store, &mu, 41, {});
  // Submit before Start so both land in one batch.
  std::promise<absl::Status> bad, good;
  pipeline.Submit({[](Txn& txn) {
                     return absl::InvalidArgumentError("no");
                   },
                   [&](absl::Status s) { bad.set_value(s); }});
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

#include "src/controlplane/state.h"
#include "berth/store/keys.h"

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
