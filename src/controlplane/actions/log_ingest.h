// LogIngest: the agents' log batches (PushLogs) go to the log store from one thread of their own,
// in groups: every batch queued while the store wrote the previous group goes into the next
// LogStore::AppendBatches, one atomic write. So ingest holds no gRPC thread while the store
// writes, and under load many agents' batches cost one write-ahead-log write (a group commit, as
// the state store's pipeline does for proposals).
//
// Thread-safe: Submit from any thread; each `done` runs on the ingest thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/common/clock.h"
#include "berth/logs/log_store.h"

namespace berth::controlplane {

class LogIngest {
 public:
  using Done = std::function<void(absl::StatusOr<logs::BatchAppendResult>)>;

  // `store` and `clock` must outlive this. At most `max_queued` batches wait; more are refused
  // (UNAVAILABLE: the agent backs off and sends again).
  LogIngest(logs::LogStore* store, const Clock* clock, size_t max_queued = 20'000);
  // Writes what is queued, then stops.
  ~LogIngest();

  void Submit(logs::WriterBatch batch, Done done);

 private:
  struct Item {
    logs::WriterBatch batch;
    Done done;
  };
  void Run();

  logs::LogStore* const store_;
  const Clock* const clock_;
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace berth::controlplane
