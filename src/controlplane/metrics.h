// Metrics: the Prometheus metrics of berthd, exposed in the text format on /metrics.
//
// Built on prometheus-cpp (Debian's prometheus-cpp-dev): its metric types are thread-safe and it
// serializes the text exposition format, so Berth only names and labels its metrics.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/controlplane/state/pipeline.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace berth::controlplane {

class Metrics final : public PipelineObserver {
 public:
  // Entity counts, refreshed on every scrape through the `entity_counts` callback.
  struct EntityCounts {
    int64_t clusters = 0;
    int64_t task_definitions = 0;
    int64_t container_instances = 0;
    int64_t tasks = 0;
    int64_t services = 0;
  };

  Metrics();
  ~Metrics() override;

  // The metrics of one method ("RunTask") of one door ("grpc", "http"). Resolve it once (doors
  // do so when they are built) and record each finished call with ObserveRpc: no lookup per call.
  struct RpcMetrics {
    std::string door;
    std::string method;
    prometheus::Histogram* latency;
    prometheus::Counter* ok;
  };
  // Stable for the Metrics' lifetime; the same pointer for the same door and method.
  const RpcMetrics* ForRpc(std::string_view door, std::string_view method);
  void ObserveRpc(const RpcMetrics& rpc, absl::StatusCode code, int64_t micros);

  // PipelineObserver
  void OnBatchCommitted(size_t proposals, size_t write_ops, int64_t fsync_micros) override;
  void OnBatchTimings(const BatchTimings& timings) override;

  void SetEntityCountsSource(std::function<EntityCounts()> source);

  // The Prometheus text exposition of every metric.
  std::string Serialize();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* rpc_total_;
  prometheus::Family<prometheus::Histogram>* rpc_latency_;
  prometheus::Histogram* batch_size_;
  prometheus::Histogram* fsync_seconds_;
  // berth_commit_stage_seconds by stage (BatchTimings' fields, in their order).
  prometheus::Histogram* stage_queued_;
  prometheus::Histogram* stage_lock_wait_;
  prometheus::Histogram* stage_apply_;
  prometheus::Histogram* stage_write_wait_;
  prometheus::Histogram* stage_write_;
  prometheus::Histogram* stage_complete_;
  prometheus::Counter* commits_;
  prometheus::Counter* proposals_;
  prometheus::Gauge* clusters_;
  prometheus::Gauge* task_definitions_;
  prometheus::Gauge* container_instances_;
  prometheus::Gauge* tasks_;
  prometheus::Gauge* services_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<RpcMetrics>> rpcs_ ABSL_GUARDED_BY(mu_);
  std::function<EntityCounts()> entity_counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::controlplane
