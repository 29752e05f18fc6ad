#include "src/bench/metrics_scraper.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "berth/common/strings.h"

namespace berth::bench {
namespace {

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

double MetricsSample::Get(std::string_view series_name) const {
  auto it = series.find(series_name);
  return it == series.end() ? 0 : it->second;
}

MetricsSample ParsePrometheusText(std::string_view text) {
  MetricsSample sample;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.empty() || line.front() == '#') continue;
    // The series ends at the first space outside the label braces (label values may hold spaces).
    size_t end = 0;
    bool in_labels = false, in_quotes = false;
    for (; end < line.size(); ++end) {
      char c = line[end];
      if (in_quotes) {
        if (c == '\\') {
          ++end;
        } else if (c == '"') {
          in_quotes = false;
        }
      } else if (c == '"' && in_labels) {
        in_quotes = true;
      } else if (c == '{') {
        in_labels = true;
      } else if (c == '}') {
        in_labels = false;
      } else if (c == ' ' && !in_labels) {
        break;
      }
    }
    if (end >= line.size()) continue;
    std::string_view rest = line.substr(end + 1);
    std::string value(rest.substr(0, rest.find(' ')));
    char* parsed_to = nullptr;
    double v = std::strtod(value.c_str(), &parsed_to);
    if (parsed_to == value.c_str()) continue;
    sample.series[std::string(line.substr(0, end))] = v;
  }
  return sample;
}

MetricsScraper::MetricsScraper(std::string url) : url_(std::move(url)), curl_(curl_easy_init()) {}

MetricsScraper::~MetricsScraper() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

absl::StatusOr<MetricsSample> MetricsScraper::Scrape() {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const Clock::time_point sent = Clock::now();
  CURLcode rc = curl_easy_perform(curl);
  const Clock::time_point received = Clock::now();
  if (rc != CURLE_OK) {
    return absl::UnavailableError(StrCat("GET ", url_, ": ", curl_easy_strerror(rc)));
  }
  long http_code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_code);
  if (http_code != 200) return absl::UnavailableError(StrCat("GET ", url_, ": HTTP ", http_code));
  MetricsSample sample = ParsePrometheusText(body);
  sample.taken = sent + (received - sent) / 2;
  return sample;
}

nlohmann::ordered_json CommitStats::ToJson() const {
  auto round = [](double v, double scale) { return std::round(v * scale) / scale; };
  return {{"fsyncs_per_s", round(fsyncs_per_second(), 10)},
          {"proposals_per_fsync", round(proposals_per_fsync(), 100)},
          {"fsync_mean_ms", round(mean_fsync_ms(), 1000)},
          {"fsync_busy_fraction", round(fsync_busy_fraction(), 1000)},
          {"batches", batches},
          {"proposals", proposals}};
}

CommitStats ComputeCommitStats(const MetricsSample& before, const MetricsSample& after) {
  CommitStats stats;
  stats.seconds = Seconds(after.taken - before.taken);
  auto delta = [&](std::string_view name) { return after.Get(name) - before.Get(name); };
  stats.batches = delta("berth_commit_batches_total");
  stats.proposals = delta("berth_commit_proposals_total");
  stats.fsync_seconds_sum = delta("berth_commit_fsync_seconds_sum");
  return stats;
}

double MeanServerRpcMs(const MetricsSample& before, const MetricsSample& after, std::string_view method) {
  const std::string labels = StrCat("{door=\"grpc\",method=\"", method, "\"}");
  const std::string sum = StrCat("berth_rpc_latency_seconds_sum", labels);
  const std::string count = StrCat("berth_rpc_latency_seconds_count", labels);
  const double calls = after.Get(count) - before.Get(count);
  return calls > 0 ? 1e3 * (after.Get(sum) - before.Get(sum)) / calls : 0;
}

ServerLatency ServerRpcLatency(const MetricsSample& before, const MetricsSample& after, std::string_view method) {
  return HistogramQuantiles(before, after,
                            StrCat("berth_rpc_latency_seconds_bucket{door=\"grpc\",method=\"", method, "\",le=\""));
}

nlohmann::ordered_json CommitStageLatency(const MetricsSample& before, const MetricsSample& after) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const char* stage : {"queued", "lock_wait", "apply", "write_wait", "write", "complete"}) {
    ServerLatency l =
        HistogramQuantiles(before, after, StrCat("berth_commit_stage_seconds_bucket{stage=\"", stage, "\",le=\""));
    if (l.count == 0) continue;
    nlohmann::ordered_json j = l.ToJson();
    j.erase("count");
    out[stage] = j;
  }
  return out;
}

ServerLatency HistogramQuantiles(const MetricsSample& before, const MetricsSample& after,
                                 std::string_view bucket_prefix) {
  // Cumulative counts by upper bound, from the `le` label of each bucket series.
  const std::string prefix(bucket_prefix);
  std::vector<std::pair<double, double>> buckets;  // (upper bound s, calls at or below it)
  for (auto it = after.series.lower_bound(prefix); it != after.series.end() && it->first.starts_with(prefix); ++it) {
    std::string_view le = std::string_view(it->first).substr(prefix.size());
    le = le.substr(0, le.find('"'));
    const double bound = le == "+Inf" ? INFINITY : std::strtod(std::string(le).c_str(), nullptr);
    buckets.emplace_back(bound, it->second - before.Get(it->first));
  }
  std::sort(buckets.begin(), buckets.end());
  ServerLatency out;
  if (buckets.empty() || buckets.back().second <= 0) return out;
  out.count = buckets.back().second;
  auto quantile = [&](double q) {
    const double rank = q * out.count;
    double lower_bound = 0;
    double lower_count = 0;
    for (const auto& [bound, cumulative] : buckets) {
      if (cumulative >= rank) {
        // In the +Inf bucket the best estimate is the highest finite bound.
        if (std::isinf(bound)) return lower_bound * 1e3;
        const double in_bucket = cumulative - lower_count;
        const double fraction = in_bucket > 0 ? (rank - lower_count) / in_bucket : 1;
        return (lower_bound + (bound - lower_bound) * fraction) * 1e3;
      }
      lower_bound = bound;
      lower_count = cumulative;
    }
    return lower_bound * 1e3;
  };
  out.p50_ms = quantile(0.5);
  out.p99_ms = quantile(0.99);
  out.p99_9_ms = quantile(0.999);
  return out;
}

nlohmann::ordered_json ServerLatency::ToJson() const {
  auto round = [](double v) { return std::round(v * 1000) / 1000; };
  return {{"count", count}, {"p50", round(p50_ms)}, {"p99", round(p99_ms)}, {"p99_9", round(p99_9_ms)}};
}

}  // namespace berth::bench
