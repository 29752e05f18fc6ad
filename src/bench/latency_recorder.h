// LatencyRecorder: per-call latencies from many concurrent producers, summarized as percentiles.
//
// Each producer (a load client) owns a Shard and records into it without locking; a shard must be
// used by one producer at a time (a closed-loop client's completions are sequential, which is
// enough even when they run on different threads). Create every shard before the producers start
// and Summarize() after they have all stopped. Samples are kept exactly (4 bytes each), so
// percentiles are exact: 1M calls cost 4 MB.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::bench {

class LatencyRecorder {
 public:
  class Shard {
   public:
    void Record(int64_t micros) {
      samples_.push_back(static_cast<uint32_t>(micros < 0 ? 0 : micros > UINT32_MAX ? UINT32_MAX : micros));
    }
    size_t size() const { return samples_.size(); }

   private:
    friend class LatencyRecorder;
    std::vector<uint32_t> samples_;
  };

  struct Summary {
    int64_t count = 0;
    double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
    // {"count": .., "mean": .., "p50": .., "p90": .., "p99": .., "p99_9": .., "max": ..} in ms.
    nlohmann::ordered_json ToJson() const;
  };

  // The returned shard lives as long as the recorder. `expected` pre-sizes it (0: no hint).
  Shard* NewShard(size_t expected = 0);

  Summary Summarize() const;

 private:
  std::deque<Shard> shards_;  // deque: shard addresses stay stable as shards are added
};

}  // namespace berth::bench
