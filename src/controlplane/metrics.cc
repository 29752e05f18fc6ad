#include "src/controlplane/metrics.h"

#include <algorithm>
#include <sstream>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "berth/common/strings.h"

namespace berth::controlplane {
namespace {

// Latency buckets in seconds: 50 us .. 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003,
                                                            0.005,   0.0075, 0.01,    0.015,  0.025, 0.05,  0.1,
                                                            0.25,    0.5,    1,       2.5,    5,     10};
  return b;
}

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  rpc_total_ = &prometheus::BuildCounter()
                    .Name("berth_rpc_requests_total")
                    .Help("Finished API requests by door, method and status code.")
                    .Register(*registry_);
  rpc_latency_ = &prometheus::BuildHistogram()
                      .Name("berth_rpc_latency_seconds")
                      .Help("API request latency from arrival to response, by door and method.")
                      .Register(*registry_);
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("berth_commit_batch_proposals")
                     .Help("Proposals committed per batch (one synced store write per batch).")
                     .Register(*registry_)
                     .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  fsync_seconds_ = &prometheus::BuildHistogram()
                        .Name("berth_commit_fsync_seconds")
                        .Help("Latency of the synced store write of one commit batch.")
                        .Register(*registry_)
                        .Add({}, LatencyBuckets());
  auto& stages = prometheus::BuildHistogram()
                     .Name("berth_commit_stage_seconds")
                     .Help(
                         "Where each commit batch's time went, by stage: queued (its oldest proposal waiting "
                         "to be taken), lock_wait (for the state lock), apply, write_wait (behind the "
                         "previous synced write), write (the synced write), complete (running its "
                         "completions).")
                     .Register(*registry_);
  stage_queued_ = &stages.Add({{"stage", "queued"}}, LatencyBuckets());
  stage_lock_wait_ = &stages.Add({{"stage", "lock_wait"}}, LatencyBuckets());
  stage_apply_ = &stages.Add({{"stage", "apply"}}, LatencyBuckets());
  stage_write_wait_ = &stages.Add({{"stage", "write_wait"}}, LatencyBuckets());
  stage_write_ = &stages.Add({{"stage", "write"}}, LatencyBuckets());
  stage_complete_ = &stages.Add({{"stage", "complete"}}, LatencyBuckets());
  commits_ = &prometheus::BuildCounter()
                  .Name("berth_commit_batches_total")
                  .Help("Commit batches (synced store writes).")
                  .Register(*registry_)
                  .Add({});
  proposals_ = &prometheus::BuildCounter()
                    .Name("berth_commit_proposals_total")
                    .Help("Proposals processed by the commit pipeline.")
                    .Register(*registry_)
                    .Add({});
  auto& entities = prometheus::BuildGauge()
                       .Name("berth_entities")
                       .Help("Entities held by the control plane, by kind.")
                       .Register(*registry_);
  clusters_ = &entities.Add({{"kind", "cluster"}});
  task_definitions_ = &entities.Add({{"kind", "task_definition"}});
  container_instances_ = &entities.Add({{"kind", "container_instance"}});
  tasks_ = &entities.Add({{"kind", "task"}});
  services_ = &entities.Add({{"kind", "service"}});
}

Metrics::~Metrics() = default;

const Metrics::RpcMetrics* Metrics::ForRpc(std::string_view door, std::string_view method) {
  std::string key = StrCat(door, "/", method);
  absl::MutexLock lock(&mu_);
  auto it = rpcs_.find(key);
  if (it != rpcs_.end()) return it->second.get();
  auto entry = std::make_unique<RpcMetrics>();
  entry->door = std::string(door);
  entry->method = std::string(method);
  entry->latency = &rpc_latency_->Add({{"door", entry->door}, {"method", entry->method}}, LatencyBuckets());
  entry->ok = &rpc_total_->Add({{"door", entry->door}, {"method", entry->method}, {"code", "OK"}});
  const RpcMetrics* ref = entry.get();
  rpcs_.emplace(std::move(key), std::move(entry));
  return ref;
}

void Metrics::ObserveRpc(const RpcMetrics& rpc, absl::StatusCode code, int64_t micros) {
  rpc.latency->Observe(static_cast<double>(micros) / 1e6);
  if (code == absl::StatusCode::kOk) {
    rpc.ok->Increment();
  } else {
    // Errors are rare: their counters are looked up by label set.
    rpc_total_->Add({{"door", rpc.door}, {"method", rpc.method}, {"code", CodeName(code)}}).Increment();
  }
}

void Metrics::OnBatchCommitted(size_t proposals, size_t write_ops, int64_t fsync_micros) {
  proposals_->Increment(static_cast<double>(proposals));
  if (write_ops == 0) return;
  commits_->Increment();
  batch_size_->Observe(static_cast<double>(proposals));
  fsync_seconds_->Observe(static_cast<double>(fsync_micros) / 1e6);
}

void Metrics::OnBatchTimings(const BatchTimings& t) {
  auto seconds = [](int64_t micros) { return static_cast<double>(std::max<int64_t>(micros, 0)) / 1e6; };
  stage_queued_->Observe(seconds(t.queued_us));
  stage_lock_wait_->Observe(seconds(t.lock_wait_us));
  stage_apply_->Observe(seconds(t.apply_us));
  stage_write_wait_->Observe(seconds(t.write_wait_us));
  stage_write_->Observe(seconds(t.write_us));
  stage_complete_->Observe(seconds(t.complete_us));
}

void Metrics::SetEntityCountsSource(std::function<EntityCounts()> source) {
  absl::MutexLock lock(&mu_);
  entity_counts_ = std::move(source);
}

std::string Metrics::Serialize() {
  std::function<EntityCounts()> source;
  {
    absl::MutexLock lock(&mu_);
    source = entity_counts_;
  }
  if (source) {
    EntityCounts c = source();
    clusters_->Set(static_cast<double>(c.clusters));
    task_definitions_->Set(static_cast<double>(c.task_definitions));
    container_instances_->Set(static_cast<double>(c.container_instances));
    tasks_->Set(static_cast<double>(c.tasks));
    services_->Set(static_cast<double>(c.services));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace berth::controlplane
