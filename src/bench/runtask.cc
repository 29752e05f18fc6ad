// runtask: closed-loop RunTask throughput and latency.
//
// Setup: a cluster of --instances instances too big to fill, one small bridge task definition.
// Load: --clients concurrent clients, each with exactly one RunTask in flight, for --warmup then
// --duration. Only calls that complete inside the measured window are counted; latency is that of
// the successful ones. Server-side figures (fsyncs/s, proposals per fsync) come from /metrics
// scraped at the start and end of the window.
//
// Client design: gRPC's callback API, not one thread per client with the sync stub. The bench
// shares 2 cores with berthd, so it must stay cheap: with callbacks, 64 clients cost no threads
// of their own (completions run on gRPC's few poller threads, which issue the next call
// directly), where 64 blocking threads would add a wake-up and a context switch to every call
// and make the scheduler juggle 64 runnable threads against berthd's commit thread.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "src/bench/fleet.h"
#include "src/bench/latency_recorder.h"
#include "src/bench/metrics_scraper.h"
#include "src/bench/scenario.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

constexpr auto kCallDeadline = std::chrono::seconds(30);
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr int kGrpcCodes = 17;  // OK .. UNAUTHENTICATED; one more slot counts unknown codes

// The measured window; fixed before any client starts, read-only afterwards.
struct LoadWindow {
  Clock::time_point measure_start;
  Clock::time_point measure_end;
  bool Contains(Clock::time_point t) const { return t >= measure_start && t < measure_end; }
};

// What one client saw: calls completed inside the window, plus a count of the others.
struct Tally {
  int64_t ok = 0;
  int64_t tasks = 0;
  int64_t failures = 0;
  std::array<int64_t, kGrpcCodes + 1> errors{};
  std::map<std::string, int64_t> failure_reasons;
  std::map<int, std::string> error_examples;  // first message seen per code
  int64_t outside_window = 0;                 // warmup, or completed after the window

  void AddTo(Tally* total) const {
    total->ok += ok;
    total->tasks += tasks;
    total->failures += failures;
    for (size_t i = 0; i < errors.size(); ++i) total->errors[i] += errors[i];
    for (const auto& [reason, n] : failure_reasons) total->failure_reasons[reason] += n;
    for (const auto& [code, message] : error_examples) total->error_examples.emplace(code, message);
    total->outside_window += outside_window;
  }
};

class RunTaskClient;

// Coordinates the clients from the main thread: counts the ones that have finished and issues
// the calls a client had to defer (see RunTaskClient::OnDone). Thread-safe.
class LoadDriver {
 public:
  explicit LoadDriver(int clients) : clients_(clients) {}

  // Issues the client's next call from the main thread, not before `at`.
  void Defer(RunTaskClient* client, Clock::time_point at = Clock::time_point()) {
    absl::MutexLock lock(&mu_);
    deferred_.emplace(at, client);
  }
  void Finished() {
    absl::MutexLock lock(&mu_);
    ++finished_;
  }

  // Main thread: issues deferred calls until `deadline`, or until every client has finished when
  // `until_finished`. Returns true when every client has finished.
  bool Serve(Clock::time_point deadline, bool until_finished);

 private:
  bool WakeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (!deferred_.empty() && deferred_.begin()->first <= Clock::now()) || finished_ == clients_ ||
           deferred_.size() != seen_;
  }

  const int clients_;
  absl::Mutex mu_;
  std::multimap<Clock::time_point, RunTaskClient*> deferred_ ABSL_GUARDED_BY(mu_);
  size_t seen_ ABSL_GUARDED_BY(mu_) = 0;  // deferred_.size() when Serve last looked
  int finished_ ABSL_GUARDED_BY(mu_) = 0;
};

// >0 while this thread is inside RunTaskClient::Issue. gRPC may run a completion inline, inside
// the call that started the RPC (a call that fails at once); issuing the next call from there
// would recurse without bound, so such completions defer the next call to the main thread.
thread_local int t_issue_depth = 0;

// One closed-loop client: exactly one RunTask in flight. The completion of each call records it
// and issues the next, until the window ends. Completions are sequential (one call at a time),
// so its fields need no lock even though completions may run on different gRPC threads.
class RunTaskClient {
 public:
  // `interval` > 0 paces the client: its k-th call is scheduled at first_call + k * interval and
  // its latency is measured from that scheduled time, so a slow server cannot hide queueing by
  // delaying the next call (no coordinated omission). 0: closed loop, back to back.
  RunTaskClient(v1::ContainerService::Stub* stub, const v1::RunTaskRequest* request, const LoadWindow* window,
                LatencyRecorder::Shard* latencies, LoadDriver* driver, Clock::duration interval = {},
                Clock::time_point first_call = {})
      : stub_(stub),
        request_(request),
        window_(window),
        latencies_(latencies),
        driver_(driver),
        interval_(interval),
        scheduled_(first_call) {}

  // Starts the client: at once when closed loop, at its first scheduled time when paced.
  void Begin() {
    if (interval_ > Clock::duration::zero()) return driver_->Defer(this, scheduled_);
    Issue();
  }

  void Issue() {
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    response_.Clear();
    started_ = interval_ > Clock::duration::zero() ? scheduled_ : Clock::now();
    ++t_issue_depth;
    stub_->async()->RunTask(context_.get(), request_, &response_, [this](grpc::Status status) { OnDone(status); });
    --t_issue_depth;
  }

  // Read after the client has finished.
  const Tally& tally() const { return tally_; }

 private:
  void OnDone(const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    if (!window_->Contains(now)) {
      ++tally_.outside_window;
    } else if (status.ok()) {
      ++tally_.ok;
      latencies_->Record(std::chrono::duration_cast<std::chrono::microseconds>(now - started_).count());
      tally_.tasks += response_.tasks_size();
      tally_.failures += response_.failures_size();
      for (const auto& f : response_.failures()) ++tally_.failure_reasons[f.reason()];
    } else {
      int code = std::clamp(static_cast<int>(status.error_code()), 0, kGrpcCodes);
      ++tally_.errors[static_cast<size_t>(code)];
      tally_.error_examples.emplace(code, status.error_message());
    }
    if (now >= window_->measure_end) return driver_->Finished();
    if (interval_ > Clock::duration::zero()) {
      scheduled_ += interval_;
      if (scheduled_ > now || t_issue_depth > 0) return driver_->Defer(this, scheduled_);
    } else if (t_issue_depth > 0) {
      return driver_->Defer(this);
    }
    Issue();
  }

  v1::ContainerService::Stub* const stub_;
  const v1::RunTaskRequest* const request_;
  const LoadWindow* const window_;
  LatencyRecorder::Shard* const latencies_;
  LoadDriver* const driver_;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::RunTaskResponse response_;
  const Clock::duration interval_;
  Clock::time_point scheduled_;  // paced clients: when the current or next call is due
  Clock::time_point started_;
  Tally tally_;
};

bool LoadDriver::Serve(Clock::time_point deadline, bool until_finished) {
  while (true) {
    std::vector<RunTaskClient*> todo;
    {
      absl::MutexLock lock(&mu_);
      const Clock::time_point now = Clock::now();
      if (finished_ == clients_) return true;
      if (!until_finished && now >= deadline) return false;
      // Bounded waits: a deadline far away (until_finished) is re-checked every second; a
      // deferred call is issued at its time.
      Clock::duration wait =
          until_finished ? std::chrono::seconds(1) : std::min<Clock::duration>(deadline - now, std::chrono::seconds(1));
      if (!deferred_.empty()) wait = std::min<Clock::duration>(wait, deferred_.begin()->first - now);
      seen_ = deferred_.size();
      if (wait > Clock::duration::zero()) {
        mu_.AwaitWithTimeout(absl::Condition(this, &LoadDriver::WakeLocked), absl::FromChrono(wait));
      }
      const Clock::time_point due = Clock::now();
      while (!deferred_.empty() && deferred_.begin()->first <= due) {
        todo.push_back(deferred_.begin()->second);
        deferred_.erase(deferred_.begin());
      }
      seen_ = deferred_.size();
    }
    for (RunTaskClient* client : todo) client->Issue();
  }
}

struct Flags {
  int clients = 64;
  int clients_per_channel = 8;
  std::string duration = "10s";
  std::string warmup = "2s";
  int instances = 100;
  std::string cluster = "bench";
  int count = 1;
  double rate = 0;  // calls/s over all clients; 0: closed loop
};

// Server-side figures over the measured window, when /metrics and the pid are known.
struct ServerProbe {
  std::unique_ptr<MetricsScraper> scraper;
  std::optional<pid_t> berthd_pid;

  struct Point {
    std::optional<MetricsSample> metrics;
    Clock::time_point taken;
    double self_cpu = 0;
    std::optional<double> berthd_cpu;
    std::optional<double> machine_busy;
  };

  absl::StatusOr<Point> Take() const {
    Point p;
    if (scraper != nullptr) {
      ASSIGN_OR_RETURN(p.metrics, scraper->Scrape());
    }
    p.taken = Clock::now();
    p.self_cpu = SelfCpuSeconds();
    if (berthd_pid) p.berthd_cpu = ProcessCpuSeconds(*berthd_pid);
    p.machine_busy = MachineBusyCpuSeconds();
    return p;
  }
};

class RunTaskScenario final : public Scenario {
 public:
  std::string name() const override { return "runtask"; }
  std::string description() const override {
    return "RunTask throughput and latency from concurrent clients (closed loop, or paced with --rate)";
  }

  void AddFlags(CLI::App* command) override {
    command
        ->add_option("--rate", flags_.rate,
                     "Offered calls/s over all clients (each client at most one call in flight; latency from "
                     "each call's scheduled time). 0: closed loop")
        ->check(CLI::Range(0.0, 10'000'000.0))
        ->capture_default_str();
    command->add_option("--clients", flags_.clients, "Concurrent clients")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command
        ->add_option("--clients-per-channel", flags_.clients_per_channel,
                     "Clients sharing one gRPC channel (one HTTP/2 connection)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command->add_option("--duration", flags_.duration, "Measured window (e.g. 10s, 500ms, 1m)")->capture_default_str();
    command->add_option("--warmup", flags_.warmup, "Load before the measured window")->capture_default_str();
    command->add_option("--instances", flags_.instances, "Container instances to register")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    command->add_option("--cluster", flags_.cluster, "Cluster to create and load")->capture_default_str();
    command->add_option("--count", flags_.count, "RunTask count (tasks per call)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
  }

  absl::Status Validate() override {
    auto duration = ParseDuration(flags_.duration);
    if (!duration.ok()) return absl::InvalidArgumentError(StrCat("--duration: ", duration.status().message()));
    auto warmup = ParseDuration(flags_.warmup);
    if (!warmup.ok()) return absl::InvalidArgumentError(StrCat("--warmup: ", warmup.status().message()));
    if (duration->count() == 0) return absl::InvalidArgumentError("--duration: must be longer than 0");
    duration_ = *duration;
    warmup_ = *warmup;
    return absl::OkStatus();
  }

  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override;

 private:
  Flags flags_;
  std::chrono::microseconds duration_{0};
  std::chrono::microseconds warmup_{0};
};

absl::StatusOr<ScenarioResult> RunTaskScenario::Run(Target& target, const Console& console) {
  // ---- Setup
  const Clock::time_point setup_started = Clock::now();
  console.Note("setup: cluster '{}', {} instances, task definition", flags_.cluster, flags_.instances);
  std::shared_ptr<grpc::Channel> setup_channel = target.NewChannel();
  if (!setup_channel->WaitForConnected(std::chrono::system_clock::now() + kConnectTimeout)) {
    return absl::UnavailableError(
        StrCat("cannot connect to berthd at ", target.grpc_endpoint(), " within ", kConnectTimeout.count(), " s"));
  }
  ASSIGN_OR_RETURN(Fleet fleet,
                   Fleet::Create(setup_channel, {.cluster = flags_.cluster, .instances = flags_.instances}));
  ASSIGN_OR_RETURN(std::string task_definition, fleet.RegisterTaskDefinition({}));

  const int channel_count = (flags_.clients + flags_.clients_per_channel - 1) / flags_.clients_per_channel;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::ContainerService::Stub>> stubs;
  for (int i = 0; i < channel_count; ++i) {
    channels.push_back(target.NewChannel());
    if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() + kConnectTimeout)) {
      return absl::UnavailableError(StrCat("channel ", i, " to ", target.grpc_endpoint(), " did not connect within ",
                                           kConnectTimeout.count(), " s"));
    }
    stubs.push_back(v1::ContainerService::NewStub(channels.back()));
  }

  ServerProbe probe;
  if (!target.metrics_url().empty()) {
    probe.scraper = std::make_unique<MetricsScraper>(target.metrics_url());
    // A first scrape checks the URL before the load starts (and warms the connection).
    if (auto s = probe.scraper->Scrape(); !s.ok()) return s.status();
  } else {
    console.Note("no --metrics-url: fsync figures are skipped");
  }
  probe.berthd_pid = target.berthd_pid();
  const double setup_seconds = Seconds(Clock::now() - setup_started);

  v1::RunTaskRequest request;
  request.set_cluster(flags_.cluster);
  request.set_task_definition(task_definition);
  request.set_count(flags_.count);

  // ---- Load
  console.Note("load: {} clients over {} channels, RunTask {} x{}, {:.1f} s warmup + {:.1f} s measured", flags_.clients,
               channel_count, task_definition, flags_.count, Seconds(warmup_), Seconds(duration_));
  LoadWindow window;
  window.measure_start = Clock::now() + warmup_;
  window.measure_end = window.measure_start + duration_;
  LoadDriver driver(flags_.clients);
  LatencyRecorder latencies;
  std::vector<std::unique_ptr<RunTaskClient>> clients;
  for (int i = 0; i < flags_.clients; ++i) {
    // Round-robin over channels: clients-per-channel clients on each.
    // Paced: each client runs at rate/clients calls/s, the clients' schedules staggered evenly.
    Clock::duration interval{}, offset{};
    if (flags_.rate > 0) {
      interval =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(flags_.clients / flags_.rate));
      offset = interval * i / flags_.clients;
    }
    clients.push_back(std::make_unique<RunTaskClient>(stubs[static_cast<size_t>(i % channel_count)].get(), &request,
                                                      &window, latencies.NewShard(), &driver, interval,
                                                      Clock::now() + offset));
  }
  for (auto& c : clients) c->Begin();
  driver.Serve(window.measure_start, false);
  absl::StatusOr<ServerProbe::Point> before = probe.Take();
  driver.Serve(window.measure_end, false);
  absl::StatusOr<ServerProbe::Point> after = probe.Take();
  driver.Serve(window.measure_end, true);
  if (!before.ok()) return before.status();
  if (!after.ok()) return after.status();

  // ---- Figures
  Tally total;
  for (const auto& c : clients) c->tally().AddTo(&total);
  const LatencyRecorder::Summary latency = latencies.Summarize();
  const double seconds = Seconds(duration_);
  const double probe_seconds = Seconds(after->taken - before->taken);

  nlohmann::ordered_json errors = nlohmann::ordered_json::object();
  nlohmann::ordered_json error_examples = nlohmann::ordered_json::object();
  int64_t errors_total = 0;
  for (int code = 0; code <= kGrpcCodes; ++code) {
    int64_t n = total.errors[static_cast<size_t>(code)];
    if (n == 0) continue;
    errors[GrpcCodeName(code)] = n;
    errors_total += n;
    error_examples[GrpcCodeName(code)] = total.error_examples[code];
  }

  nlohmann::ordered_json report;
  report["scenario"] = "runtask";
  report["clients"] = flags_.clients;
  report["offered_rate"] = flags_.rate;  // 0: closed loop
  report["channels"] = channel_count;
  report["instances"] = flags_.instances;
  report["count"] = flags_.count;
  report["cluster"] = flags_.cluster;
  report["endpoint"] = target.grpc_endpoint();
  report["berthd"] = target.spawned() ? "spawned" : "external";
  report["warmup_s"] = Round(Seconds(warmup_), 3);
  report["duration_s"] = Round(seconds, 3);
  report["setup_s"] = Round(setup_seconds, 3);
  report["calls"] = total.ok;
  report["calls_per_s"] = Round(static_cast<double>(total.ok) / seconds, 1);
  report["tasks_placed"] = total.tasks;
  report["tasks_placed_per_s"] = Round(static_cast<double>(total.tasks) / seconds, 1);
  report["failures"] = total.failures;
  report["failure_reasons"] = total.failure_reasons;
  report["latency_ms"] = latency.ToJson();
  report["errors"] = errors;
  report["errors_total"] = errors_total;
  if (errors_total > 0) report["error_examples"] = error_examples;
  report["calls_outside_window"] = total.outside_window;

  std::optional<CommitStats> commit;
  double server_mean_ms = 0;
  if (before->metrics && after->metrics) {
    commit = ComputeCommitStats(*before->metrics, *after->metrics);
    report["commit"] = commit->ToJson();
    server_mean_ms = MeanServerRpcMs(*before->metrics, *after->metrics, "RunTask");
    report["server_latency_mean_ms"] = Round(server_mean_ms, 3);
  } else {
    report["commit"] = nullptr;
    report["server_latency_mean_ms"] = nullptr;
  }
  nlohmann::ordered_json cpu;
  cpu["bench_cores"] = Round(probe_seconds > 0 ? (after->self_cpu - before->self_cpu) / probe_seconds : 0, 3);
  if (before->berthd_cpu && after->berthd_cpu && probe_seconds > 0) {
    cpu["berthd_cores"] = Round((*after->berthd_cpu - *before->berthd_cpu) / probe_seconds, 3);
  } else {
    cpu["berthd_cores"] = nullptr;
  }
  // Other load on the machine during the window (steal time included): compare runs only when
  // this is near 0.
  if (before->machine_busy && after->machine_busy && probe_seconds > 0) {
    const double machine = (*after->machine_busy - *before->machine_busy) / probe_seconds;
    cpu["machine_busy_cores"] = Round(machine, 3);
    if (!cpu["berthd_cores"].is_null()) {
      cpu["other_cores"] = Round(machine - cpu["bench_cores"].get<double>() - cpu["berthd_cores"].get<double>(), 3);
    }
  }
  report["cpu"] = cpu;

  std::string summary = fmt::format(
      "runtask: {} clients over {} channels, {} instances, count {}, {:.1f} s measured after {:.1f} s warmup\n"
      "  calls     {} ok = {:.0f}/s; tasks placed {:.0f}/s; placement failures {}; errors {}\n"
      "  latency   p50 {:.2f} ms  p90 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms  max {:.2f} ms\n",
      flags_.clients, channel_count, flags_.instances, flags_.count, seconds, Seconds(warmup_), total.ok,
      static_cast<double>(total.ok) / seconds, static_cast<double>(total.tasks) / seconds, total.failures,
      errors.empty() ? "none" : errors.dump(), latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.p999_ms,
      latency.max_ms);
  if (commit) {
    StrAppend(&summary, fmt::format("  commit    {:.0f} fsyncs/s, {:.1f} proposals/fsync, fsync mean {:.2f} ms "
                                    "(commit thread in fsync {:.0f}% of the time)\n",
                                    commit->fsyncs_per_second(), commit->proposals_per_fsync(), commit->mean_fsync_ms(),
                                    100 * commit->fsync_busy_fraction()));
    StrAppend(&summary, fmt::format("  server    RunTask mean {:.2f} ms in berthd (client mean {:.2f} ms)\n",
                                    server_mean_ms, latency.mean_ms));
  }
  StrAppend(&summary, fmt::format("  cpu       bench {:.2f} cores", cpu["bench_cores"].get<double>()));
  if (!cpu["berthd_cores"].is_null()) {
    StrAppend(&summary, fmt::format(", berthd {:.2f} cores", cpu["berthd_cores"].get<double>()));
  }
  if (cpu.contains("other_cores")) {
    StrAppend(&summary, fmt::format(", everything else {:.2f} cores", cpu["other_cores"].get<double>()));
  } else if (cpu.contains("machine_busy_cores")) {
    StrAppend(&summary, fmt::format(", whole machine {:.2f} cores", cpu["machine_busy_cores"].get<double>()));
  }
  StrAppend(&summary, "\n");

  ScenarioResult result;
  result.report = std::move(report);
  result.summary = std::move(summary);
  if (total.ok == 0) {
    result.ok = false;
    result.failure = StrCat("no RunTask call succeeded in the measured window (errors: ", errors.dump(),
                            errors_total > 0 ? StrCat("; e.g. ", error_examples.dump()) : std::string(), ")");
  }
  return result;
}

}  // namespace

std::unique_ptr<Scenario> NewRunTaskScenario() { return std::make_unique<RunTaskScenario>(); }

}  // namespace berth::bench
