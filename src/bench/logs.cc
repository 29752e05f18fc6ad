// The logs scenario: container output shipped by simulated agents into berthd's log store, and what
// that costs the rest of berthd. docs/benchmarks.md ("Container logs") has the method and figures.
//
//   1. Baseline: RunTask paced at --runtask-rate for --baseline-seconds on a SimFleet of
//      --instances agents, with no log traffic.
//   2. Ingest: every agent's container writes --line-bytes lines so that the fleet writes
//      --events-per-second, for --seconds; each agent ships them with AgentService.PushLogs every
//      --batch-ms (log_shippers.h), while RunTask keeps its rate and a follower reads one stream
//      with GetLogEvents' forward token as `berth logs --follow` does. berthd's resident memory is
//      sampled throughout.
//   3. Footprint: the size of DATA_DIR/logs over the events stored (spawned berthd only).
//   4. Queries: FilterLogEvents for a term only --needles lines carry, over a group of at least
//      --filter-events events (the ingest's group, topped up with large PushLogs batches when the
//      ingest wrote fewer), every page to the end, --filter-runs times; then GetLogEvents of the
//      last --tail-limit lines of one stream, --tail-calls times.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "berth/v1/logs.grpc.pb.h"
#include "src/bench/call_load.h"
#include "src/bench/fleet.h"
#include "src/bench/log_shippers.h"
#include "src/bench/metrics_scraper.h"
#include "src/bench/scenario.h"
#include "src/bench/sim_fleet.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

constexpr auto kCallDeadline = std::chrono::seconds(60);
constexpr auto kQueryDeadline = std::chrono::seconds(600);
constexpr auto kFollowInterval = std::chrono::milliseconds(100);  // as `berth logs --follow` reads
constexpr auto kDrainTimeout = std::chrono::seconds(60);
constexpr int kFillWriters = 4;
constexpr int64_t kFillStreamEvents = 1'000'000;  // a fill writer starts a new stream after these

double Mib(int64_t bytes) { return Round(static_cast<double>(bytes) / (1024.0 * 1024.0), 1); }

std::chrono::microseconds SecondsFlag(double seconds) {
  return std::chrono::microseconds(static_cast<int64_t>(std::llround(seconds * 1e6)));
}

std::string RandomHex(int digits) {
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device());
  std::string out;
  while (static_cast<int>(out.size()) < digits) out += fmt::format("{:016x}", rng());
  return out.substr(0, static_cast<size_t>(digits));
}

// berthd's resident memory, sampled every 500 ms on a thread of its own while running.
class RssSampler {
 public:
  explicit RssSampler(std::optional<pid_t> pid) : pid_(pid) {}
  ~RssSampler() { Stop(); }
  void Start() {
    if (!pid_) return;
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        if (auto rss = ProcessRssBytes(*pid_)) {
          max_.store(std::max(max_.load(), *rss));
          last_.store(*rss);
        }
        for (int i = 0; i < 50 && !stop_.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int64_t max() const { return max_.load(); }
  int64_t last() const { return last_.load(); }

 private:
  std::optional<pid_t> pid_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_{-1};
  std::atomic<int64_t> last_{-1};
};

// Follows one shipper's stream as `berth logs --follow` does (GetLogEvents with the forward token;
// at once again after a read that found events, else after 100 ms) and times each line from when
// it was written (its timestamp) and from when its batch left, to the read that returned it.
class Follower {
 public:
  Follower(const Target& target, const LogShippers& shippers, std::string group, int shipper)
      : stub_(v1::LogsService::NewStub(target.NewChannel())),
        shippers_(shippers),
        group_(std::move(group)),
        stream_(shippers.StreamOf(shipper)) {}
  ~Follower() { Stop(); }
  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  // After Stop().
  nlohmann::ordered_json ToJson() const {
    nlohmann::ordered_json j;
    j["stream"] = stream_;
    j["reads"] = reads_;
    j["read_errors"] = errors_;
    if (!first_error_.empty()) j["first_error"] = first_error_;
    j["events_seen"] = from_written_.Summarize().count;
    j["from_written_ms"] = from_written_.Summarize().ToJson();
    j["from_sent_ms"] = from_sent_.Summarize().ToJson();
    return j;
  }
  LatencyRecorder::Summary FromWritten() const { return from_written_.Summarize(); }
  LatencyRecorder::Summary FromSent() const { return from_sent_.Summarize(); }

 private:
  void Loop() {
    std::string token;
    while (!stop_.load()) {
      v1::GetLogEventsRequest request;
      request.set_log_group_name(group_);
      request.set_log_stream_name(stream_);
      request.set_start_from_head(true);
      if (!token.empty()) request.set_next_token(token);
      v1::GetLogEventsResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
      grpc::Status status = stub_->GetLogEvents(&context, request, &response);
      const Clock::time_point now = Clock::now();
      ++reads_;
      if (!status.ok()) {
        // The stream does not exist before its first batch.
        if (status.error_code() != grpc::StatusCode::NOT_FOUND && errors_++ == 0) {
          first_error_ = status.error_message();
        }
        std::this_thread::sleep_for(kFollowInterval);
        continue;
      }
      for (const auto& e : response.events()) {
        const std::string& m = e.message();
        const size_t at = m.find(" line ");
        if (at == std::string::npos) continue;
        const uint64_t s = std::strtoull(m.c_str() + at + 6, nullptr, 10);
        written_shard_->Record(
            std::chrono::duration_cast<std::chrono::microseconds>(now - shippers_.ScheduledAt(s)).count());
        if (auto sent = shippers_.SentAt(s)) {
          sent_shard_->Record(std::chrono::duration_cast<std::chrono::microseconds>(now - *sent).count());
        }
      }
      token = response.next_forward_token();
      if (response.events().empty()) std::this_thread::sleep_for(kFollowInterval);
    }
  }

  std::unique_ptr<v1::LogsService::Stub> stub_;
  const LogShippers& shippers_;
  const std::string group_;
  const std::string stream_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // The follower's thread only, until Stop().
  int64_t reads_ = 0;
  int64_t errors_ = 0;
  std::string first_error_;
  LatencyRecorder from_written_;
  LatencyRecorder::Shard* written_shard_ = from_written_.NewShard();
  LatencyRecorder from_sent_;
  LatencyRecorder::Shard* sent_shard_ = from_sent_.NewShard();
};

struct LogsFlags {
  int instances = 1000;
  int agent_channels = 16;
  int log_channels = 16;
  int poll_wait_ms = 20000;
  double events_per_second = 200000;
  double seconds = 60;
  int line_bytes = 100;
  int batch_ms = 150;
  double baseline_seconds = 20;
  double runtask_rate = 200;
  int count = 1;
  int clients = 64;
  int32_t instance_cpu = 4096;
  int32_t instance_memory = 8192;
  int32_t task_cpu = 40;
  int32_t task_memory = 80;
  int64_t filter_events = 10'000'000;
  int needles = 10;
  int filter_runs = 3;
  int tail_calls = 200;
  int tail_limit = 1000;
  bool follow = true;
  std::string cluster = "bench-logs";
  std::string group = "/bench/logs";
};

// What the two RunTask phases measured.
struct RunTaskPhase {
  nlohmann::ordered_json json;
  LatencyRecorder::Summary latency;
  int64_t errors = 0;
  int64_t failures = 0;
};

class LogsScenario final : public Scenario {
 public:
  std::string name() const override { return "logs"; }
  std::string description() const override {
    return "Container output: PushLogs ingest from simulated agents, RunTask p99 beside it, FilterLogEvents and "
           "GetLogEvents after it, bytes on disk per event, berthd's memory, follow latency";
  }
  void AddFlags(CLI::App* command) override;
  absl::Status Validate() override;
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override;

 private:
  absl::Status SetUp(Target& target, const Console& console);
  RunTaskPhase RunTaskFor(double seconds);
  absl::StatusOr<nlohmann::ordered_json> Ingest(Target& target, const Console& console, RunTaskPhase* runtask);
  absl::StatusOr<nlohmann::ordered_json> Fill(Target& target, const Console& console, int64_t events, int needles);
  absl::StatusOr<nlohmann::ordered_json> FilterRuns(Target& target, const Console& console);
  absl::StatusOr<nlohmann::ordered_json> TailReads(Target& target, const Console& console);
  std::string Summary(const nlohmann::ordered_json& r) const;
  std::optional<MetricsSample> Scrape() const;
  double BerthdCpu() const { return pid_ ? ProcessCpuSeconds(*pid_).value_or(-1) : -1; }
  void IssueRunTask(int64_t k, CallLoad::Done done);

  LogsFlags f_;
  std::optional<pid_t> pid_;
  std::string metrics_url_;
  std::string group_;   // --group plus this run's id
  std::string needle_;  // the rare term
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::ContainerService::Stub>> stubs_;
  std::string task_definition_;
  std::unique_ptr<SimFleet> sim_;
  std::vector<std::string> instance_arns_;
  int64_t group_events_ = 0;    // events the group holds
  int64_t needles_stored_ = 0;  // lines with the needle the group holds
};

void LogsScenario::AddFlags(CLI::App* command) {
  auto opt = [&](const char* name, auto* value, const char* help) {
    return command->add_option(name, *value, help)->capture_default_str();
  };
  opt("--instances", &f_.instances, "Simulated agents: container instances, each shipping one stream")
      ->check(CLI::Range(1, 100000));
  opt("--agent-channels", &f_.agent_channels, "gRPC connections the agents' polls and reports share")
      ->check(CLI::Range(1, 4096));
  opt("--log-channels", &f_.log_channels, "gRPC connections the agents' PushLogs calls share")
      ->check(CLI::Range(1, 4096));
  opt("--poll-wait-ms", &f_.poll_wait_ms, "Long-poll wait each agent asks for")->check(CLI::Range(0, 300000));
  opt("--events-per-second", &f_.events_per_second, "Lines the whole fleet writes per second")
      ->check(CLI::Range(0.0, 1e8));
  opt("--seconds", &f_.seconds, "Length of the ingest phase")->check(CLI::Range(0.0, 86400.0));
  opt("--line-bytes", &f_.line_bytes, "Bytes per line")->check(CLI::Range(32, 262144));
  opt("--batch-ms", &f_.batch_ms, "Each agent sends a PushLogs batch this often")->check(CLI::Range(1, 60000));
  opt("--baseline-seconds", &f_.baseline_seconds, "RunTask without log traffic first, this long (0: skip)")
      ->check(CLI::Range(0.0, 86400.0));
  opt("--runtask-rate", &f_.runtask_rate, "RunTask calls/s in both phases (0: none)")->check(CLI::Range(0.0, 1e6));
  opt("--count", &f_.count, "Tasks per RunTask call")->check(CLI::Range(1, 10));
  opt("--clients", &f_.clients, "Most RunTask calls in flight")->check(CLI::Range(1, 100000));
  opt("--instance-cpu", &f_.instance_cpu, "CPU units of each instance");
  opt("--instance-memory", &f_.instance_memory, "MiB of each instance");
  opt("--task-cpu", &f_.task_cpu, "CPU units of each task")->check(CLI::Range(1, 1 << 20));
  opt("--task-memory", &f_.task_memory, "MiB of each task")->check(CLI::Range(6, 1 << 20));
  opt("--filter-events", &f_.filter_events, "Events of the group FilterLogEvents searches (0: no filter)")
      ->check(CLI::Range(int64_t{0}, int64_t{10'000'000'000}));
  opt("--needles", &f_.needles, "Lines that carry the rare term")->check(CLI::Range(1, 10000));
  opt("--filter-runs", &f_.filter_runs, "Times the filter is run")->check(CLI::Range(1, 100));
  opt("--tail-calls", &f_.tail_calls, "GetLogEvents calls for the last lines of one stream (0: none)")
      ->check(CLI::Range(0, 1000000));
  opt("--tail-limit", &f_.tail_limit, "Lines each of those calls asks for")->check(CLI::Range(1, 10000));
  command->add_flag("--follow,!--no-follow", f_.follow, "Follow one stream during the ingest and time its lines")
      ->capture_default_str();
  opt("--cluster", &f_.cluster, "Cluster to create and load");
  opt("--group", &f_.group, "Log group; the run's id is appended (/bench/logs/<id>)");
}

absl::Status LogsScenario::Validate() {
  const int64_t per_instance =
      std::min(f_.instance_cpu / std::max(1, f_.task_cpu), f_.instance_memory / std::max(1, f_.task_memory));
  const auto tasks =
      static_cast<int64_t>(std::ceil(f_.runtask_rate * (f_.baseline_seconds + f_.seconds) * 1.05)) * f_.count;
  if (per_instance * f_.instances < tasks) {
    return absl::InvalidArgumentError(StrCat("the fleet holds ", per_instance * f_.instances, " tasks (", per_instance,
                                             " per instance): fewer than the ", tasks,
                                             " RunTask places; add instances or shrink the tasks"));
  }
  if (f_.seconds <= 0 && f_.baseline_seconds <= 0) {
    return absl::InvalidArgumentError("--seconds and --baseline-seconds are both 0: nothing to run");
  }
  return absl::OkStatus();
}

absl::Status LogsScenario::SetUp(Target& target, const Console& console) {
  pid_ = target.berthd_pid();
  metrics_url_ = target.metrics_url();
  const int channels = std::max(1, (f_.clients + 7) / 8);
  for (int i = 0; i < channels; ++i) {
    channels_.push_back(target.NewChannel());
    stubs_.push_back(v1::ContainerService::NewStub(channels_.back()));
  }
  ASSIGN_OR_RETURN(Fleet fleet, Fleet::Create(channels_[0], {.cluster = f_.cluster, .instances = 0}));
  ASSIGN_OR_RETURN(task_definition_, fleet.RegisterTaskDefinition(
                                         {.family = "bench-logs", .cpu = f_.task_cpu, .memory_mib = f_.task_memory}));
  SimFleetSpec spec;
  spec.cluster = f_.cluster;
  spec.agents = f_.instances;
  spec.cpu_units = f_.instance_cpu;
  spec.memory_mib = f_.instance_memory;
  spec.channels = f_.agent_channels;
  spec.wait_millis = f_.poll_wait_ms;
  const auto started = Clock::now();
  ASSIGN_OR_RETURN(sim_, SimFleet::Start(target, spec, console));
  for (int i = 0; i < sim_->size(); ++i) instance_arns_.push_back(sim_->agent(i).instance_arn());
  console.Note("{} instances registered in {:.1f} s", f_.instances, Seconds(Clock::now() - started));
  return absl::OkStatus();
}

std::optional<MetricsSample> LogsScenario::Scrape() const {
  if (metrics_url_.empty()) return std::nullopt;
  MetricsScraper scraper(metrics_url_);
  auto sample = scraper.Scrape();
  if (!sample.ok()) return std::nullopt;
  return *std::move(sample);
}

void LogsScenario::IssueRunTask(int64_t k, CallLoad::Done done) {
  struct Call {
    grpc::ClientContext context;
    v1::RunTaskRequest request;
    v1::RunTaskResponse response;
  };
  auto* call = new Call;
  call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  call->request.set_cluster(f_.cluster);
  call->request.set_task_definition(task_definition_);
  call->request.set_count(f_.count);
  stubs_[static_cast<size_t>(k) % stubs_.size()]->async()->RunTask(&call->context, &call->request, &call->response,
                                                                   [call, done = std::move(done)](grpc::Status status) {
                                                                     CallLoad::Outcome outcome;
                                                                     outcome.code = status.error_code();
                                                                     outcome.message = status.error_message();
                                                                     if (status.ok()) {
                                                                       outcome.placed = call->response.tasks_size();
                                                                       for (const auto& f : call->response.failures())
                                                                         outcome.failure_reasons.push_back(f.reason());
                                                                     }
                                                                     delete call;
                                                                     done(std::move(outcome));
                                                                   });
}

// RunTask paced at --runtask-rate for `seconds`, with berthd's own view of it from /metrics.
RunTaskPhase LogsScenario::RunTaskFor(double seconds) {
  RunTaskPhase phase;
  if (f_.runtask_rate <= 0 || seconds <= 0) return phase;
  const std::optional<MetricsSample> before = Scrape();
  const double cpu_before = BerthdCpu();
  CallLoad load({.concurrency = f_.clients,
                 .rate = f_.runtask_rate,
                 .duration = SecondsFlag(seconds),
                 .stop = nullptr,
                 .max_calls = 0},
                [this](int64_t k, CallLoad::Done done) { IssueRunTask(k, std::move(done)); });
  load.Run();
  const std::optional<MetricsSample> after = Scrape();
  phase.json = load.ToJson();
  if (before && after) {
    phase.json["in_berthd_ms"] = ServerRpcLatency(*before, *after, "RunTask").ToJson();
    // Where a RunTask's time inside berthd went: the state store's synced write shares the disk
    // with the log store's WAL.
    phase.json["commit"] = ComputeCommitStats(*before, *after).ToJson();
    phase.json["commit_stages_ms"] = CommitStageLatency(*before, *after);
  }
  if (cpu_before >= 0) phase.json["berthd_cores"] = Round((BerthdCpu() - cpu_before) / seconds, 3);
  phase.latency = load.Latency();
  phase.errors = load.errors();
  phase.failures = load.failures();
  return phase;
}

absl::StatusOr<nlohmann::ordered_json> LogsScenario::Ingest(Target& target, const Console& console,
                                                            RunTaskPhase* runtask) {
  const Clock::duration window = SecondsFlag(f_.seconds);
  const uint64_t lines = LogShippers::LinesPerShipper(f_.events_per_second, f_.instances, window);
  const auto target_events = static_cast<int64_t>(lines) * f_.instances;
  LogShipperSpec spec;
  spec.cluster = f_.cluster;
  spec.instance_arns = instance_arns_;
  spec.group = group_;
  spec.events_per_second = f_.events_per_second;
  spec.line_bytes = f_.line_bytes;
  spec.window = window;
  spec.batch_interval = std::chrono::milliseconds(f_.batch_ms);
  spec.channels = f_.log_channels;
  spec.followed = f_.follow ? 0 : -1;
  spec.needle = needle_;
  // The needles go into the ingest when it alone fills the filter's group; else into the top-up.
  if (f_.filter_events > 0 && target_events >= f_.filter_events && lines > 0) {
    for (int j = 0; j < f_.needles; ++j) {
      const int shipper = static_cast<int>(static_cast<int64_t>(j) * f_.instances / f_.needles);
      const uint64_t line = std::max<uint64_t>(1, (2 * static_cast<uint64_t>(j) + 1) * lines / (2 * f_.needles));
      spec.needles.emplace_back(shipper, line);
    }
  }
  LogShippers shippers(target, spec);
  console.Note("ingest: {} agents, {} lines/s of {} bytes for {:.0f} s ({} lines), a batch per agent every {} ms",
               f_.instances, f_.events_per_second, f_.line_bytes, f_.seconds, target_events, f_.batch_ms);
  RssSampler rss(pid_);
  rss.Start();
  std::optional<Follower> follower;
  if (f_.follow) follower.emplace(target, shippers, group_, 0);
  if (follower) follower->Start();
  const std::optional<MetricsSample> before = Scrape();
  const double cpu_before = BerthdCpu();
  const double self_before = SelfCpuSeconds();
  std::thread runtask_thread([&] { *runtask = RunTaskFor(f_.seconds); });
  shippers.Run(kDrainTimeout);
  runtask_thread.join();
  if (follower) {
    std::this_thread::sleep_for(2 * kFollowInterval);  // the last lines' read
    follower->Stop();
  }
  const std::optional<MetricsSample> after = Scrape();
  const double cpu = BerthdCpu() - cpu_before;
  const double self_cpu = SelfCpuSeconds() - self_before;
  rss.Stop();

  const double wall = shippers.wall_seconds();
  const int64_t accepted = shippers.events_accepted();
  const int64_t per_interval =
      static_cast<int64_t>(std::ceil(f_.events_per_second * f_.batch_ms / 1000.0)) + f_.instances;
  nlohmann::ordered_json j;
  j["target_events"] = target_events;
  j["sent_in_window"] = shippers.sent_in_window();
  j["backlog_at_window_end"] = target_events - shippers.sent_in_window();
  j["events_accepted"] = accepted;
  j["wall_seconds"] = Round(wall, 3);
  j["drain_seconds"] = Round(shippers.drain_seconds(), 3);
  j["drained"] = shippers.drained();
  j["accepted_per_s"] = wall > 0 ? Round(static_cast<double>(accepted) / wall, 0) : 0;
  // Kept up: at the window's end no more was left unsent than two batch intervals write, and
  // every line sent was stored.
  j["sustained"] = target_events - shippers.sent_in_window() <= 2 * per_interval && accepted == target_events;
  j["pushlogs"] = shippers.ToJson();
  if (before && after) {
    j["pushlogs_in_berthd_ms"] =
        HistogramQuantiles(*before, *after, "berth_rpc_latency_seconds_bucket{door=\"agent\",method=\"PushLogs\",le=\"")
            .ToJson();
  }
  if (cpu_before >= 0 && wall > 0) j["berthd_cores"] = Round(cpu / wall, 3);
  if (wall > 0) j["bench_cores"] = Round(self_cpu / wall, 3);
  j["berthd_rss_mib_max"] = rss.max() >= 0 ? nlohmann::ordered_json(Mib(rss.max())) : nullptr;
  j["berthd_rss_mib_last"] = rss.last() >= 0 ? nlohmann::ordered_json(Mib(rss.last())) : nullptr;
  if (follower) j["follow"] = follower->ToJson();
  group_events_ += accepted;
  needles_stored_ += shippers.needles_accepted();
  console.Note("ingest: {} of {} lines stored in {:.1f} s ({:.0f}/s)", accepted, target_events, wall,
               wall > 0 ? static_cast<double>(accepted) / wall : 0);
  return j;
}

// Tops the filter's group up with `events` lines in large batches (kFillWriters writers, each on
// its own connection, spool and streams), `needles` of them carrying the rare term.
absl::StatusOr<nlohmann::ordered_json> LogsScenario::Fill(Target& target, const Console& console, int64_t events,
                                                          int needles) {
  console.Note("filter: loading {} more lines into {} ({} with the rare term)", events, group_, needles);
  const LineMaker lines(f_.line_bytes);
  const int64_t per_batch = std::max<int64_t>(1, std::min<int64_t>(10'000, (1 << 20) / (f_.line_bytes + 26)));
  const int64_t epoch_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::atomic<int64_t> stored{0};
  std::atomic<int64_t> needles_stored{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto writer = [&](int w) {
    auto stub = v1::AgentService::NewStub(target.NewChannel());
    // Writer w writes lines [begin, end) of the fill; line i carries the needle when it is one of
    // `needles` spread evenly over the whole fill.
    const int64_t begin = events * w / kFillWriters;
    const int64_t end = events * (w + 1) / kFillWriters;
    auto is_needle = [&](int64_t i) {
      if (needles <= 0) return false;
      const int64_t j = i * needles / events;
      return i == (2 * j + 1) * events / (2 * needles);
    };
    for (int64_t from = begin; from < end; from += per_batch) {
      const int64_t to = std::min(end, from + per_batch);
      v1::PushLogsRequest request;
      request.set_cluster(f_.cluster);
      request.set_container_instance(instance_arns_[0]);
      request.set_spool_id(fmt::format("bench-fill-{}", w));
      request.set_sequence(static_cast<uint64_t>(to - begin));
      v1::LogStreamEvents* stream = request.add_streams();
      stream->set_group(group_);
      stream->set_stream(fmt::format("fill-{}-{}", w, (from - begin) / kFillStreamEvents));
      stream->set_create_group(true);
      int64_t batch_needles = 0;
      for (int64_t i = from; i < to; ++i) {
        v1::AgentLogEvent* e = stream->add_events();
        e->set_sequence(static_cast<uint64_t>(i - begin + 1));
        e->set_timestamp_ms(epoch_ms + (i - begin) / 1000);
        const bool needle = is_needle(i);
        batch_needles += needle ? 1 : 0;
        e->set_message(lines.Line(stream->stream(), static_cast<uint64_t>(i - begin + 1), needle ? needle_ : ""));
      }
      v1::PushLogsResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
      grpc::Status status = stub->PushLogs(&context, request, &response);
      if (!status.ok() || response.rejected_size() > 0) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) {
          first_error = !status.ok()
                            ? FromGrpc(status)
                            : absl::InternalError(StrCat("PushLogs refused the fill: ", response.rejected(0).reason()));
        }
        return;
      }
      stored.fetch_add(to - from);
      needles_stored.fetch_add(batch_needles);
    }
  };
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < kFillWriters; ++w) threads.emplace_back(writer, w);
  for (auto& t : threads) t.join();
  const double seconds = Seconds(Clock::now() - started);
  RETURN_IF_ERROR(first_error);
  group_events_ += stored.load();
  needles_stored_ += needles_stored.load();
  nlohmann::ordered_json j;
  j["events"] = stored.load();
  j["seconds"] = Round(seconds, 2);
  j["events_per_s"] = seconds > 0 ? Round(static_cast<double>(stored.load()) / seconds, 0) : 0;
  j["batch_events"] = per_batch;
  j["writers"] = kFillWriters;
  return j;
}

// FilterLogEvents for the needle over the whole group, every page, --filter-runs times.
absl::StatusOr<nlohmann::ordered_json> LogsScenario::FilterRuns(Target& target, const Console& console) {
  auto stub = v1::LogsService::NewStub(target.NewChannel());
  const std::string pattern = StrCat("\"", needle_, "\"");
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  std::vector<double> times;
  int64_t found = 0;
  for (int run = 0; run < f_.filter_runs; ++run) {
    const auto started = Clock::now();
    std::string token;
    int pages = 0;
    found = 0;
    do {
      v1::FilterLogEventsRequest request;
      request.set_log_group_name(group_);
      request.set_filter_pattern(pattern);
      if (!token.empty()) request.set_next_token(token);
      v1::FilterLogEventsResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + kQueryDeadline);
      grpc::Status status = stub->FilterLogEvents(&context, request, &response);
      if (!status.ok())
        return absl::Status(FromGrpc(status).code(), StrCat("FilterLogEvents: ", status.error_message()));
      ++pages;
      for (const auto& e : response.events()) found += e.message().find(needle_) != std::string::npos ? 1 : 0;
      token = response.next_token();
    } while (!token.empty());
    const double seconds = Seconds(Clock::now() - started);
    times.push_back(seconds);
    runs.push_back({{"seconds", Round(seconds, 3)}, {"pages", pages}, {"found", found}});
    console.Note("filter: run {}: {} of {} found in {:.2f} s, {} page(s)", run + 1, found, needles_stored_, seconds,
                 pages);
  }
  std::sort(times.begin(), times.end());
  nlohmann::ordered_json j;
  j["pattern"] = pattern;
  j["group_events"] = group_events_;
  j["needles_stored"] = needles_stored_;
  j["needles_found"] = found;
  j["runs"] = runs;
  j["seconds_min"] = Round(times.front(), 3);
  j["seconds_median"] = Round(times[times.size() / 2], 3);
  j["events_scanned_per_s"] = times.front() > 0 ? Round(static_cast<double>(group_events_) / times.front(), 0) : 0;
  return j;
}

// GetLogEvents for the last --tail-limit lines of the followed stream (agent 0's), one call at a time.
absl::StatusOr<nlohmann::ordered_json> LogsScenario::TailReads(Target& target, const Console& console) {
  auto stub = v1::LogsService::NewStub(target.NewChannel());
  LatencyRecorder recorder;
  LatencyRecorder::Shard* shard = recorder.NewShard(static_cast<size_t>(f_.tail_calls));
  int64_t returned = 0;
  const std::string stream = "agent-0";
  for (int i = 0; i < f_.tail_calls; ++i) {
    v1::GetLogEventsRequest request;
    request.set_log_group_name(group_);
    request.set_log_stream_name(stream);
    request.set_start_from_head(false);
    request.set_limit(f_.tail_limit);
    v1::GetLogEventsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    const auto started = Clock::now();
    grpc::Status status = stub->GetLogEvents(&context, request, &response);
    shard->Record(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
    if (!status.ok()) return absl::Status(FromGrpc(status).code(), StrCat("GetLogEvents: ", status.error_message()));
    returned = response.events_size();
  }
  const LatencyRecorder::Summary lat = recorder.Summarize();
  console.Note("tail: {} calls of the last {} lines of {}: p50 {:.2f} ms, p99 {:.2f} ms", f_.tail_calls, f_.tail_limit,
               stream, lat.p50_ms, lat.p99_ms);
  nlohmann::ordered_json j;
  j["stream"] = stream;
  j["limit"] = f_.tail_limit;
  j["events_returned"] = returned;
  j["latency_ms"] = lat.ToJson();
  return j;
}

absl::StatusOr<ScenarioResult> LogsScenario::Run(Target& target, const Console& console) {
  group_ = StrCat(f_.group, "/", RandomHex(8));
  needle_ = StrCat("needle-", RandomHex(12));
  RETURN_IF_ERROR(SetUp(target, console));
  ScenarioResult result;
  auto& r = result.report;
  r["scenario"] = name();
  r["instances"] = f_.instances;
  r["events_per_second"] = f_.events_per_second;
  r["seconds"] = f_.seconds;
  r["line_bytes"] = f_.line_bytes;
  r["batch_ms"] = f_.batch_ms;
  r["runtask_rate"] = f_.runtask_rate;
  r["count"] = f_.count;
  r["group"] = group_;

  // 1. RunTask alone, with the fleet idle.
  RunTaskPhase baseline;
  if (f_.baseline_seconds > 0 && f_.runtask_rate > 0) {
    console.Note("baseline: RunTask at {} calls/s for {:.0f} s, no log traffic", f_.runtask_rate, f_.baseline_seconds);
    baseline = RunTaskFor(f_.baseline_seconds);
  }
  const int64_t rss_before = pid_ ? ProcessRssBytes(*pid_).value_or(-1) : -1;
  const std::string logs_dir = target.process() != nullptr ? target.process()->data_dir() + "/logs" : "";
  const int64_t disk_before = logs_dir.empty() ? 0 : DirectoryBytes(logs_dir);
  // 2. The ingest, with RunTask beside it.
  RunTaskPhase beside;
  if (f_.seconds > 0) {
    ASSIGN_OR_RETURN(r["ingest"], Ingest(target, console, &beside));
  }
  if (f_.runtask_rate > 0) {
    auto& j = r["runtask"];
    j["without_logs"] = baseline.json;
    j["with_logs"] = beside.json;
    if (baseline.latency.count > 0 && beside.latency.count > 0 && baseline.latency.p99_ms > 0) {
      const double ratio = beside.latency.p99_ms / baseline.latency.p99_ms;
      j["p99_ratio"] = Round(ratio, 3);
      j["p99_within_20_percent"] = ratio <= 1.2;
    }
  }
  // 3. Footprint, right after the ingest: what the log store's directory grew by (RocksDB's WAL,
  // memtables not yet flushed are in the WAL, SST files, its own log), over the events stored.
  auto& footprint = r["footprint"];
  footprint["berthd_rss_mib_before_ingest"] = rss_before >= 0 ? nlohmann::ordered_json(Mib(rss_before)) : nullptr;
  if (!logs_dir.empty()) {
    const int64_t bytes = DirectoryBytes(logs_dir);
    const int64_t grown = bytes - disk_before;
    footprint["logs_dir_mib"] = Mib(bytes);
    footprint["logs_dir_growth_mib"] = Mib(grown);
    footprint["events_stored"] = group_events_;
    footprint["bytes_per_event"] =
        group_events_ > 0 ? Round(static_cast<double>(grown) / static_cast<double>(group_events_), 1) : 0;
  }
  // 4. Queries.
  if (f_.filter_events > 0) {
    const int64_t missing = f_.filter_events - group_events_;
    if (missing > 0) {
      const int needles = static_cast<int>(std::max<int64_t>(0, f_.needles - needles_stored_));
      ASSIGN_OR_RETURN(r["fill"], Fill(target, console, missing, needles));
    }
    ASSIGN_OR_RETURN(r["filter"], FilterRuns(target, console));
  }
  if (f_.tail_calls > 0 && f_.seconds > 0) {
    ASSIGN_OR_RETURN(r["tail"], TailReads(target, console));
  }
  r["agents"] = sim_->CountersJson();
  result.summary = Summary(r);
  if (baseline.errors + beside.errors + baseline.failures + beside.failures > 0) {
    result.ok = false;
    result.failure = "some RunTask calls failed";
  }
  if (r.contains("ingest") && r["ingest"]["pushlogs"]["batches_failed"].get<int64_t>() > 0) {
    result.ok = false;
    result.failure = "some PushLogs batches failed";
  }
  if (r.contains("filter") && r["filter"]["needles_found"] != r["filter"]["needles_stored"]) {
    result.ok = false;
    result.failure = "FilterLogEvents did not find every line with the rare term";
  }
  RETURN_IF_ERROR(sim_->Stop());
  return result;
}

// A number of the report, "n/a" when absent; `decimals` places.
std::string Figure(const nlohmann::ordered_json& j, const char* key, int decimals) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "n/a";
  return fmt::format("{:.{}f}", j[key].get<double>(), decimals);
}

std::string LogsScenario::Summary(const nlohmann::ordered_json& r) const {
  std::string s = fmt::format(
      "logs: {} agents writing {:.0f} lines/s of {} bytes for {:.0f} s (a batch per agent every {} ms); RunTask {:.0f} "
      "calls/s\n",
      f_.instances, f_.events_per_second, f_.line_bytes, f_.seconds, f_.batch_ms, f_.runtask_rate);
  const nlohmann::ordered_json none = nlohmann::ordered_json::object();
  const auto& i = r.contains("ingest") ? r["ingest"] : none;
  if (r.contains("ingest")) {
    const auto& p = i["pushlogs"];
    const auto& lat = p["batch_latency_ms"];
    s += fmt::format(
        "  ingest    {} of {} lines stored in {} s = {} lines/s; {} unsent at the window's end; sustained: {}\n",
        Figure(i, "events_accepted", 0), Figure(i, "target_events", 0), Figure(i, "wall_seconds", 2),
        Figure(i, "accepted_per_s", 0), Figure(i, "backlog_at_window_end", 0),
        i["sustained"].get<bool>() ? "yes" : "no");
    s += fmt::format("  PushLogs  {} batches ok, {} failed; p50 {} ms  p99 {} ms  max {} ms; berthd {} cores\n",
                     Figure(p, "batches_ok", 0), Figure(p, "batches_failed", 0), Figure(lat, "p50", 2),
                     Figure(lat, "p99", 2), Figure(lat, "max", 2), Figure(i, "berthd_cores", 2));
  }
  if (r.contains("runtask")) {
    const auto& t = r["runtask"];
    auto phase = [&](const char* key) {
      const auto& lat = t[key].is_object() && t[key].contains("latency_ms") ? t[key]["latency_ms"] : none;
      return fmt::format("p50 {} ms  p99 {} ms", Figure(lat, "p50", 2), Figure(lat, "p99", 2));
    };
    s += fmt::format("  RunTask   without logs {}; with logs {}; p99 ratio {}\n", phase("without_logs"),
                     phase("with_logs"), Figure(t, "p99_ratio", 2));
  }
  if (r.contains("footprint")) {
    const auto& fp = r["footprint"];
    s += fmt::format(
        "  footprint logs dir +{} MiB for {} lines = {} bytes/line; berthd RSS {} MiB before, max {} MiB, last {} "
        "MiB\n",
        Figure(fp, "logs_dir_growth_mib", 1), Figure(fp, "events_stored", 0), Figure(fp, "bytes_per_event", 0),
        Figure(fp, "berthd_rss_mib_before_ingest", 1), Figure(i, "berthd_rss_mib_max", 1),
        Figure(i, "berthd_rss_mib_last", 1));
  }
  if (r.contains("filter")) {
    const auto& fl = r["filter"];
    s += fmt::format("  filter    {} over {} lines: {} of {} found; first run {} s, min {} s ({} lines/s)\n",
                     fl["pattern"].get<std::string>(), Figure(fl, "group_events", 0), Figure(fl, "needles_found", 0),
                     Figure(fl, "needles_stored", 0), Figure(fl["runs"][0], "seconds", 3), Figure(fl, "seconds_min", 3),
                     Figure(fl, "events_scanned_per_s", 0));
  }
  if (r.contains("tail")) {
    const auto& t = r["tail"];
    s += fmt::format(
        "  tail      GetLogEvents of the last {} lines of {} ({} returned): p50 {} ms  p99 {} ms, {} calls\n",
        Figure(t, "limit", 0), t["stream"].get<std::string>(), Figure(t, "events_returned", 0),
        Figure(t["latency_ms"], "p50", 2), Figure(t["latency_ms"], "p99", 2), Figure(t["latency_ms"], "count", 0));
  }
  if (i.contains("follow")) {
    const auto& fo = i["follow"];
    s += fmt::format(
        "  follow    {}: {} lines; written -> read p50 {} ms  p99 {} ms; batch sent -> read p50 {} ms  p99 {} ms\n",
        fo["stream"].get<std::string>(), Figure(fo, "events_seen", 0), Figure(fo["from_written_ms"], "p50", 1),
        Figure(fo["from_written_ms"], "p99", 1), Figure(fo["from_sent_ms"], "p50", 1),
        Figure(fo["from_sent_ms"], "p99", 1));
  }
  return s;
}

}  // namespace

std::unique_ptr<Scenario> NewLogsScenario() { return std::make_unique<LogsScenario>(); }

}  // namespace berth::bench
