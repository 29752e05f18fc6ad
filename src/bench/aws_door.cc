// berth-bench aws-door: the AWS JSON 1.1 door's throughput and latency next to gRPC's, in one
// run against one berthd. Each of --clients clients calls one read action in a closed loop on a
// connection it keeps alive (libcurl for the AWS door, as an SDK does; a gRPC channel per client
// for gRPC), for --seconds per round; rounds alternate between the two doors (--rounds of each),
// so both see the same berthd and the same machine.
//
// The action is ListClusters, answered from memory: what is measured is the door (HTTP parsing,
// JSON mapping, the worker pool) rather than the store. Requests are unsigned: run it against a
// berthd without access keys (the default of --spawn-berthd).
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "berth/common/strings.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "src/bench/latency_recorder.h"
#include "src/bench/scenario.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

size_t Discard(char*, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(size * count, '\0');  // only the length matters
  return size * count;
}

// One AWS-door client: a libcurl handle keeps its connection alive across calls.
class HttpClient {
 public:
  explicit HttpClient(const std::string& url) : curl_(curl_easy_init()) {
    headers_ = curl_slist_append(headers_, "Content-Type: application/x-amz-json-1.1");
    headers_ = curl_slist_append(headers_, "X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters");
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &body_);
    curl_easy_setopt(curl_, CURLOPT_TCP_NODELAY, 1L);  // as the SDKs (urllib3, the AWS CRT) do
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  }
  ~HttpClient() {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }
  bool Call() {
    body_.clear();
    long status = 0;
    long opened = 0;
    const bool ok = curl_easy_perform(curl_) == CURLE_OK &&
                    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
    // CURLINFO_NUM_CONNECTS: the connections this one transfer had to open (0 when it reused one).
    if (curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &opened) == CURLE_OK) connections_ += opened;
    return ok;
  }
  // Connections this handle opened over all its calls (1 when every call after the first reused it).
  long connections() const { return connections_; }

 private:
  CURL* curl_;
  curl_slist* headers_ = nullptr;
  std::string body_;
  long connections_ = 0;
};

struct RoundResult {
  int64_t ok = 0;
  int64_t errors = 0;
  double seconds = 0;
  LatencyRecorder latencies;
};

// Runs `clients` closed loops of `call` for `duration`; call(i) is client i's next call.
template <typename Call>
void ClosedLoops(int clients, Clock::duration duration, Call call, RoundResult* result) {
  std::vector<LatencyRecorder::Shard*> shards;
  for (int i = 0; i < clients; ++i) shards.push_back(result->latencies.NewShard(1 << 14));
  std::atomic<int64_t> ok{0}, errors{0};
  const auto start = Clock::now();
  const auto end = start + duration;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        const bool good = call(i);
        shards[i]->Record(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
        (good ? ok : errors).fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  result->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result->ok = ok.load();
  result->errors = errors.load();
}

nlohmann::ordered_json Report(const std::vector<std::unique_ptr<RoundResult>>& rounds) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : rounds) {
    nlohmann::ordered_json j;
    j["calls_per_second"] = Round(static_cast<double>(r->ok) / r->seconds, 0);
    j["ok"] = r->ok;
    j["errors"] = r->errors;
    j["latency_ms"] = r->latencies.Summarize().ToJson();
    out.push_back(std::move(j));
  }
  return out;
}

class AwsDoorScenario : public Scenario {
 public:
  std::string name() const override { return "aws-door"; }
  std::string description() const override {
    return "AWS JSON door vs gRPC: ListClusters from N kept-alive clients, rounds alternating between the doors";
  }
  void AddFlags(CLI::App* command) override {
    command->add_option("--clients", clients_, "Concurrent clients, each with its own kept-alive connection")
        ->capture_default_str();
    command->add_option("--seconds", seconds_, "Length of each round")->capture_default_str();
    command->add_option("--rounds", rounds_, "Rounds of each door, alternated")->capture_default_str();
  }
  absl::Status Validate() override {
    if (clients_ < 1 || clients_ > 1024) return absl::InvalidArgumentError("--clients: 1-1024");
    if (seconds_ <= 0) return absl::InvalidArgumentError("--seconds: must be positive");
    if (rounds_ < 1) return absl::InvalidArgumentError("--rounds: at least 1");
    return absl::OkStatus();
  }

  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override {
    const std::string& metrics = target.metrics_url();
    const size_t path = metrics.rfind("/metrics");
    if (metrics.empty() || path == std::string::npos) {
      return absl::InvalidArgumentError("aws-door needs berthd's HTTP port: --spawn-berthd, or --metrics-url");
    }
    const std::string url = metrics.substr(0, path) + "/";
    std::vector<std::unique_ptr<HttpClient>> http;
    std::vector<std::unique_ptr<v1::ContainerService::Stub>> grpc;
    for (int i = 0; i < clients_; ++i) {
      http.push_back(std::make_unique<HttpClient>(url));
      grpc.push_back(v1::ContainerService::NewStub(target.NewChannel()));
    }
    const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds_));
    std::vector<std::unique_ptr<RoundResult>> aws_rounds, grpc_rounds;
    for (int round = 0; round < rounds_; ++round) {
      console.Note("round {}/{}: AWS door, {} clients, {} s", round + 1, rounds_, clients_, seconds_);
      aws_rounds.push_back(std::make_unique<RoundResult>());
      ClosedLoops(
          clients_, duration, [&](int i) { return http[i]->Call(); }, aws_rounds.back().get());
      console.Note("round {}/{}: gRPC, {} clients, {} s", round + 1, rounds_, clients_, seconds_);
      grpc_rounds.push_back(std::make_unique<RoundResult>());
      ClosedLoops(
          clients_, duration,
          [&](int i) {
            grpc::ClientContext ctx;
            v1::ListClustersResponse response;
            return grpc[i]->ListClusters(&ctx, v1::ListClustersRequest(), &response).ok();
          },
          grpc_rounds.back().get());
    }
    long connections = 0;
    for (auto& c : http) connections += c->connections();

    ScenarioResult result;
    result.report["scenario"] = name();
    result.report["clients"] = clients_;
    result.report["seconds_per_round"] = seconds_;
    result.report["aws_connections_opened"] = connections;
    result.report["aws"] = Report(aws_rounds);
    result.report["grpc"] = Report(grpc_rounds);
    for (const auto& [label, rounds] : {std::pair{"AWS door", &aws_rounds}, std::pair{"gRPC", &grpc_rounds}}) {
      for (const auto& r : *rounds) {
        const auto s = r->latencies.Summarize();
        StrAppend(&result.summary,
                  fmt::format("{:<8}  {:>9.0f} calls/s  p50 {:.2f} ms  p99 {:.2f} ms  errors {}\n", label,
                              static_cast<double>(r->ok) / r->seconds, s.p50_ms, s.p99_ms, r->errors));
      }
    }
    StrAppend(&result.summary, fmt::format("AWS door connections opened by {} clients: {}\n", clients_, connections));
    const bool any = std::any_of(aws_rounds.begin(), aws_rounds.end(), [](const auto& r) { return r->ok > 0; });
    if (!any) {
      result.ok = false;
      result.failure = "no AWS door call succeeded";
    }
    return result;
  }

 private:
  int clients_ = 64;
  double seconds_ = 5;
  int rounds_ = 2;
};

}  // namespace

std::unique_ptr<Scenario> NewAwsDoorScenario() { return std::make_unique<AwsDoorScenario>(); }

}  // namespace berth::bench
