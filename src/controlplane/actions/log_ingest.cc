#include "src/controlplane/actions/log_ingest.h"

#include "berth/common/strings.h"

namespace berth::controlplane {
namespace {

// A group's size: enough to merge a fleet's batches, small enough that one write stays short.
constexpr size_t kMaxGroup = 512;

}  // namespace

LogIngest::LogIngest(logs::LogStore* store, const Clock* clock, size_t max_queued)
    : store_(store), clock_(clock), max_queued_(max_queued), thread_([this] { Run(); }) {}

LogIngest::~LogIngest() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LogIngest::Submit(logs::WriterBatch batch, Done done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < max_queued_) {
      queue_.push_back({std::move(batch), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(absl::UnavailableError(StrCat("log ingest is full (", max_queued_, " batches wait): send again later")));
}

void LogIngest::Run() {
  while (true) {
    std::vector<Item> group;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything written
      while (!queue_.empty() && group.size() < kMaxGroup) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<logs::WriterBatch> batches;
    batches.reserve(group.size());
    for (Item& item : group) batches.push_back(std::move(item.batch));
    auto results = store_->AppendBatches(std::move(batches), clock_->NowMicros() / 1000);
    for (size_t i = 0; i < group.size(); ++i) {
      if (results.ok()) {
        group[i].done(std::move((*results)[i]));
      } else {
        group[i].done(results.status());
      }
    }
  }
}

}  // namespace berth::controlplane
