#include "src/bench/latency_recorder.h"

#include <algorithm>
#include <cmath>

namespace berth::bench {

LatencyRecorder::Shard* LatencyRecorder::NewShard(size_t expected) {
  Shard& shard = shards_.emplace_back();
  shard.samples_.reserve(expected);
  return &shard;
}

LatencyRecorder::Summary LatencyRecorder::Summarize() const {
  std::vector<uint32_t> all;
  size_t total = 0;
  for (const auto& s : shards_) total += s.samples_.size();
  all.reserve(total);
  for (const auto& s : shards_) all.insert(all.end(), s.samples_.begin(), s.samples_.end());
  Summary summary;
  if (all.empty()) return summary;
  std::sort(all.begin(), all.end());
  // Nearest-rank percentile: the smallest sample with at least q of all samples at or below it.
  auto at = [&](double q) {
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(all.size())));
    return static_cast<double>(all[std::clamp<size_t>(rank, 1, all.size()) - 1]) / 1e3;
  };
  double sum = 0;
  for (uint32_t v : all) sum += v;
  summary.count = static_cast<int64_t>(all.size());
  summary.mean_ms = sum / static_cast<double>(all.size()) / 1e3;
  summary.p50_ms = at(0.50);
  summary.p90_ms = at(0.90);
  summary.p99_ms = at(0.99);
  summary.p999_ms = at(0.999);
  summary.max_ms = static_cast<double>(all.back()) / 1e3;
  return summary;
}

nlohmann::ordered_json LatencyRecorder::Summary::ToJson() const {
  auto round3 = [](double v) { return std::round(v * 1e3) / 1e3; };
  return {{"count", count},        {"mean", round3(mean_ms)},  {"p50", round3(p50_ms)}, {"p90", round3(p90_ms)},
          {"p99", round3(p99_ms)}, {"p99_9", round3(p999_ms)}, {"max", round3(max_ms)}};
}

}  // namespace berth::bench
