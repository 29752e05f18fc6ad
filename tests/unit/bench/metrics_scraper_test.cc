// The load generator's reading of berthd's /metrics: the text format, commit figures and the
// server-side latency quantiles estimated from histogram buckets between two scrapes.
#include "src/bench/metrics_scraper.h"

#include <gtest/gtest.h>

#include <string>

namespace berth::bench {
namespace {

std::string RunTaskHistogram(double le1ms, double le2ms, double le5ms, double le10ms, double inf) {
  const std::string p = "berth_rpc_latency_seconds_bucket{door=\"grpc\",method=\"RunTask\",le=\"";
  return "# HELP berth_rpc_latency_seconds API request latency.\n" + p + "0.001\"} " + std::to_string(le1ms) + "\n" +
         p + "0.002\"} " + std::to_string(le2ms) + "\n" + p + "0.005\"} " + std::to_string(le5ms) + "\n" + p +
         "0.01\"} " + std::to_string(le10ms) + "\n" + p + "+Inf\"} " + std::to_string(inf) + "\n" +
         // Another method's buckets must not be mixed in.
         "berth_rpc_latency_seconds_bucket{door=\"grpc\",method=\"StopTask\",le=\"0.001\"} 999\n";
}

TEST(MetricsScraper, ParsesSeriesWithLabelsHoldingSpaces) {
  MetricsSample s = ParsePrometheusText(
      "# TYPE x counter\n"
      "berth_rpc_requests_total{method=\"Run Task\",code=\"OK\"} 12\n"
      "berth_commit_batches_total 7 1700000000000\n");
  EXPECT_EQ(s.Get("berth_rpc_requests_total{method=\"Run Task\",code=\"OK\"}"), 12);
  EXPECT_EQ(s.Get("berth_commit_batches_total"), 7);
  EXPECT_EQ(s.Get("absent"), 0);
}

TEST(MetricsScraper, ServerLatencyQuantilesInterpolateWithinTheBucketOfTheDelta) {
  // Before: 100 calls all under 1 ms. After: +1,000 calls: 500 under 1 ms, 400 in (1, 2], 90 in
  // (2, 5], 9 in (5, 10], 1 above 10 ms.
  MetricsSample before = ParsePrometheusText(RunTaskHistogram(100, 100, 100, 100, 100));
  MetricsSample after = ParsePrometheusText(RunTaskHistogram(600, 1000, 1090, 1099, 1100));
  ServerLatency l = ServerRpcLatency(before, after, "RunTask");
  EXPECT_EQ(l.count, 1000);
  EXPECT_DOUBLE_EQ(l.p50_ms, 1.0);                   // rank 500: the top of the first bucket
  EXPECT_NEAR(l.p99_ms, 2.0 + 3.0 * 90 / 90, 1e-9);  // rank 990: the top of (2, 5]
  EXPECT_NEAR(l.p99_9_ms, 5.0 + 5.0 * 9 / 9, 1e-9);  // rank 999: the top of (5, 10]
  ServerLatency later =
      ServerRpcLatency(before, ParsePrometheusText(RunTaskHistogram(100, 100, 100, 100, 200)), "RunTask");
  EXPECT_DOUBLE_EQ(later.p50_ms, 10.0) << "above the last finite bound: that bound";
}

TEST(MetricsScraper, ServerLatencyOfAMethodWithoutCallsIsZero) {
  MetricsSample s = ParsePrometheusText(RunTaskHistogram(5, 5, 5, 5, 5));
  ServerLatency l = ServerRpcLatency(s, s, "RunTask");
  EXPECT_EQ(l.count, 0);
  EXPECT_EQ(l.p99_ms, 0);
  EXPECT_EQ(ServerRpcLatency(s, s, "DescribeTasks").count, 0);
}

}  // namespace
}  // namespace berth::bench
