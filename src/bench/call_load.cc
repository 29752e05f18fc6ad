#include "src/bench/call_load.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/time/time.h"

namespace berth::bench {

void CallLoad::Run() {
  started_ = Clock::now();
  const bool paced = options_.rate > 0;
  const bool timed = options_.duration > Clock::duration::zero();
  const Clock::time_point end = started_ + options_.duration;
  for (int64_t k = 0; options_.max_calls == 0 || k < options_.max_calls; ++k) {
    // Call k is due k / rate seconds in (computed whole, so rounding never adds a call to a window).
    const Clock::time_point scheduled =
        paced ? started_ + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(k) / options_.rate))
              : Clock::now();
    if (timed && (paced ? scheduled : Clock::now()) >= end) break;
    if (paced) std::this_thread::sleep_until(scheduled);
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &CallLoad::CanIssueLocked));
      if (stopped_) break;
    }
    if (options_.stop && options_.stop()) break;
    const Clock::time_point issued = paced ? scheduled : Clock::now();
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    issue_(k, [this, issued](Outcome outcome) { Complete(issued, std::move(outcome)); });
  }
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  mu_.Await(absl::Condition(this, &CallLoad::IdleLocked));
}

void CallLoad::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void CallLoad::Complete(Clock::time_point scheduled, Outcome outcome) {
  const Clock::time_point now = Clock::now();
  absl::MutexLock lock(&mu_);
  --in_flight_;
  last_completion_ = std::max(last_completion_, now);
  if (outcome.code != 0) {
    ++errors_;
    ++errors_by_code_[outcome.code];
    error_examples_.emplace(outcome.code, std::move(outcome.message));
    return;
  }
  ++ok_;
  shard_->Record(std::chrono::duration_cast<std::chrono::microseconds>(now - scheduled).count());
  placed_ += outcome.placed;
  failures_ += static_cast<int64_t>(outcome.failure_reasons.size());
  for (auto& reason : outcome.failure_reasons) ++failure_reasons_[std::move(reason)];
}

int64_t CallLoad::placed_so_far() const {
  absl::MutexLock lock(&mu_);
  return placed_;
}

int CallLoad::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

nlohmann::ordered_json CallLoad::ToJson() const {
  absl::MutexLock lock(&mu_);
  nlohmann::ordered_json j;
  j["ok"] = ok_;
  j["errors"] = errors_;
  nlohmann::ordered_json by_code = nlohmann::ordered_json::object();
  for (const auto& [code, n] : errors_by_code_) by_code[std::to_string(code)] = n;
  j["errors_by_code"] = by_code;
  nlohmann::ordered_json examples = nlohmann::ordered_json::object();
  for (const auto& [code, message] : error_examples_) examples[std::to_string(code)] = message;
  j["error_examples"] = examples;
  j["placed"] = placed_;
  j["failures"] = failures_;
  nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
  for (const auto& [reason, n] : failure_reasons_) reasons[reason] = n;
  j["failure_reasons"] = reasons;
  j["latency_ms"] = latencies_.Summarize().ToJson();
  return j;
}

}  // namespace berth::bench
