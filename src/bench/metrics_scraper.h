// MetricsScraper: reads berthd's Prometheus text exposition (/metrics) over HTTP (libcurl), and
// CommitStats: the commit-pipeline figures between two scrapes.
//
// A MetricsScraper is used by one thread at a time (it owns one curl handle, which keeps the
// connection alive between scrapes). curl_global_init must have run (main() does it).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "src/bench/timing.h"

namespace berth::bench {

// One scrape: every sample by its series ("name" or "name{label=\"v\",...}" exactly as exposed).
struct MetricsSample {
  Clock::time_point taken;  // midpoint of the HTTP request
  std::map<std::string, double, std::less<>> series;

  // The value of a series, 0 when absent (a counter that has not been touched yet).
  double Get(std::string_view series_name) const;
};

// Parses the Prometheus text format (comments and blank lines skipped; timestamps ignored).
MetricsSample ParsePrometheusText(std::string_view text);

class MetricsScraper {
 public:
  explicit MetricsScraper(std::string url);
  ~MetricsScraper();
  MetricsScraper(const MetricsScraper&) = delete;
  MetricsScraper& operator=(const MetricsScraper&) = delete;

  absl::StatusOr<MetricsSample> Scrape();

 private:
  std::string url_;
  void* curl_;  // CURL*, kept opaque so that curl.h stays out of the scenarios
};

// The commit pipeline between two scrapes of berthd's /metrics.
struct CommitStats {
  double seconds = 0;  // between the scrapes
  double batches = 0;  // synced store writes (= fsyncs)
  double proposals = 0;
  double fsync_seconds_sum = 0;  // time spent in synced writes
  double fsyncs_per_second() const { return seconds > 0 ? batches / seconds : 0; }
  double proposals_per_fsync() const { return batches > 0 ? proposals / batches : 0; }
  double mean_fsync_ms() const { return batches > 0 ? 1e3 * fsync_seconds_sum / batches : 0; }
  // Share of wall time the commit thread spent waiting on synced writes: near 1 means the
  // pipeline is bound by the disk's sync latency.
  double fsync_busy_fraction() const { return seconds > 0 ? fsync_seconds_sum / seconds : 0; }

  nlohmann::ordered_json ToJson() const;
};

CommitStats ComputeCommitStats(const MetricsSample& before, const MetricsSample& after);

// berthd's own mean latency (arrival to response, ms) of gRPC `method` between two scrapes; 0 when
// no call finished. Compared with the client's figure it splits server time from transport time.
double MeanServerRpcMs(const MetricsSample& before, const MetricsSample& after, std::string_view method);

// berthd's own latency quantiles (ms) of gRPC `method` between two scrapes, estimated from the
// histogram's buckets as Prometheus' histogram_quantile does (linear within the bucket that holds
// the rank). Coarse (the bucket bounds: 1, 2, 3, 5, 7.5, 10, 15, 25 ms ...) but it tells whether a
// client's tail is spent inside berthd or before and after it.
struct ServerLatency {
  double count = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double p99_9_ms = 0;
  nlohmann::ordered_json ToJson() const;
};
ServerLatency ServerRpcLatency(const MetricsSample& before, const MetricsSample& after, std::string_view method);
// The same from any histogram: `bucket_prefix` is its bucket series up to the `le` label's value,
// e.g. `berth_commit_stage_seconds_bucket{stage="apply",le="`.
ServerLatency HistogramQuantiles(const MetricsSample& before, const MetricsSample& after,
                                 std::string_view bucket_prefix);
// Per commit stage (berth_commit_stage_seconds): {"queued": {"p50":..,"p99":..,"p99_9":..}, ...}.
nlohmann::ordered_json CommitStageLatency(const MetricsSample& before, const MetricsSample& after);

}  // namespace berth::bench
