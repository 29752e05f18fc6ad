// The scale scenarios: a big cluster of simulated agents (sim_fleet.h) loaded through the public
// API, measured end to end. docs/benchmarks.md ("Scale") has the method and the figures.
//
//   launch     S1: register --instances simulated agents over 3 zones, then launch --tasks tasks
//              with RunTask (count --count, spread(zone) + binpack(memory)) from --clients
//              concurrent clients, until every task is RUNNING as the agents report it.
//   latency    S2: RunTask paced at --rate calls/s, or at --fraction (half) of the rate a launch
//              report placed tasks at (--rate-of-launch), for --duration on such a fleet (after an
//              optional --tasks launch): p50/p99/p99.9 with no coordinated omission.
//   restart    S3: launch, then kill -9 berthd and start it again on the same data: time until it
//              serves reads and accepts RunTask; every acknowledged task is present and no
//              instance's resources are reserved twice.
//   footprint  S4: launch, then berthd's resident memory per task beyond the base and the size of
//              its store on disk.
//   churn      S5: launch a population, then stop --stop-rate tasks/s and start --start-rate tasks/s
//              for --duration: poll latency, how long a change takes to reach its agent, the state
//              changes the agents report per second, and berthd's CPU.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "src/bench/call_load.h"
#include "src/bench/fleet.h"
#include "src/bench/metrics_scraper.h"
#include "src/bench/scenario.h"
#include "src/bench/sim_fleet.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

constexpr auto kCallDeadline = std::chrono::seconds(60);
constexpr int kZones = 3;

double Mib(int64_t bytes) { return Round(static_cast<double>(bytes) / (1024.0 * 1024.0), 1); }

// Flags every scale scenario shares.
struct ScaleFlags {
  int instances = 10000;
  int64_t tasks = 1000000;
  int count = 10;
  int clients = 64;
  int clients_per_channel = 8;
  int agent_channels = 64;
  int poll_wait_ms = 20000;
  int32_t instance_cpu = 4096;
  int32_t instance_memory = 8192;
  int32_t task_cpu = 40;
  int32_t task_memory = 80;
  std::string cluster = "bench-scale";
  std::string running_timeout_text = "600s";
  std::chrono::microseconds running_timeout{};
};

// Shared set-up and the launch (S1) that the other scenarios start from.
class ScaleScenario : public Scenario {
 public:
  void AddFlags(CLI::App* command) override {
    command->add_option("--instances", f_.instances, "Simulated agents (one container instance each, 3 zones)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command->add_option("--tasks", f_.tasks, tasks_help_)
        ->check(CLI::Range(int64_t{0}, int64_t{100'000'000}))
        ->capture_default_str();
    command->add_option("--count", f_.count, "RunTask count (tasks per call) of the launch")
        ->check(CLI::Range(1, 10))
        ->capture_default_str();
    command->add_option("--clients", f_.clients, "Concurrent RunTask calls in flight")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command->add_option("--clients-per-channel", f_.clients_per_channel, "RunTask clients per gRPC connection")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command->add_option("--agent-channels", f_.agent_channels, "gRPC connections the simulated agents share")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    command->add_option("--poll-wait-ms", f_.poll_wait_ms, "Long-poll wait each agent asks for")
        ->check(CLI::Range(0, 300000))
        ->capture_default_str();
    command->add_option("--instance-cpu", f_.instance_cpu, "CPU units of each instance")->capture_default_str();
    command->add_option("--instance-memory", f_.instance_memory, "MiB of each instance")->capture_default_str();
    command->add_option("--task-cpu", f_.task_cpu, "CPU units of each task")->capture_default_str();
    command->add_option("--task-memory", f_.task_memory, "MiB of each task")->capture_default_str();
    command->add_option("--cluster", f_.cluster, "Cluster to create and load")->capture_default_str();
    command->add_option("--running-timeout", f_.running_timeout_text, "Longest wait for the tasks to be RUNNING")
        ->capture_default_str();
    AddOwnFlags(command);
  }

  absl::Status Validate() override {
    ASSIGN_OR_RETURN(f_.running_timeout, ParseDuration(f_.running_timeout_text));
    RETURN_IF_ERROR(ValidateOwn());
    const int64_t per_instance =
        std::min(f_.instance_cpu / std::max(1, f_.task_cpu), f_.instance_memory / std::max(1, f_.task_memory));
    if (f_.task_cpu < 1 || f_.task_memory < 6) {
      return absl::InvalidArgumentError("--task-cpu must be at least 1 and --task-memory at least 6 (MiB)");
    }
    if (per_instance * f_.instances < f_.tasks + ExtraTasks()) {
      return absl::InvalidArgumentError(StrCat("the fleet holds ", per_instance * f_.instances, " tasks (",
                                               per_instance, " per instance): fewer than the ", f_.tasks + ExtraTasks(),
                                               " this scenario runs; add instances or shrink the tasks"));
    }
    return absl::OkStatus();
  }

 protected:
  explicit ScaleScenario(std::string tasks_help) : tasks_help_(std::move(tasks_help)) {}
  virtual void AddOwnFlags(CLI::App*) {}
  virtual absl::Status ValidateOwn() { return absl::OkStatus(); }
  // Tasks started beyond --tasks (a scenario's own load), for the capacity check.
  virtual int64_t ExtraTasks() const { return 0; }

  // The cluster, the task definition and the simulated fleet; `on_first_seen` goes to the agents.
  absl::Status SetUp(Target& target, const Console& console,
                     std::function<void(const std::string&, bool)> on_first_seen = nullptr) {
    pid_ = target.berthd_pid();
    metrics_url_ = target.metrics_url();
    api_channel_ = target.NewChannel();
    api_ = v1::ContainerService::NewStub(api_channel_);
    const int channels = (f_.clients + f_.clients_per_channel - 1) / f_.clients_per_channel;
    for (int i = 0; i < channels; ++i) {
      channels_.push_back(target.NewChannel());
      stubs_.push_back(v1::ContainerService::NewStub(channels_.back()));
    }
    ASSIGN_OR_RETURN(Fleet fleet, Fleet::Create(api_channel_, {.cluster = f_.cluster, .instances = 0}));
    ASSIGN_OR_RETURN(
        task_definition_,
        fleet.RegisterTaskDefinition({.family = "bench-scale", .cpu = f_.task_cpu, .memory_mib = f_.task_memory}));
    SimFleetSpec spec;
    spec.cluster = f_.cluster;
    spec.agents = f_.instances;
    spec.cpu_units = f_.instance_cpu;
    spec.memory_mib = f_.instance_memory;
    spec.zones = kZones;
    spec.channels = f_.agent_channels;
    spec.wait_millis = f_.poll_wait_ms;
    spec.on_first_seen = std::move(on_first_seen);
    const auto started = Clock::now();
    ASSIGN_OR_RETURN(sim_, SimFleet::Start(target, spec, console));
    register_seconds_ = Seconds(Clock::now() - started);
    console.Note("{} instances registered in {:.1f} s", f_.instances, register_seconds_);
    return absl::OkStatus();
  }

  v1::RunTaskRequest RunTaskRequest(int count) const {
    v1::RunTaskRequest request;
    request.set_cluster(f_.cluster);
    request.set_task_definition(task_definition_);
    request.set_count(count);
    auto* spread = request.add_placement_strategy();
    spread->set_type("spread");
    spread->set_field("attribute:ecs.availability-zone");
    auto* binpack = request.add_placement_strategy();
    binpack->set_type("binpack");
    binpack->set_field("memory");
    return request;
  }

  // Issues one RunTask asynchronously; `arns` (when given) receives the placed tasks' ARNs.
  void IssueRunTask(int64_t k, int count, CallLoad::Done done, std::function<void(const std::string&)> on_arn) {
    struct Call {
      grpc::ClientContext context;
      v1::RunTaskRequest request;
      v1::RunTaskResponse response;
    };
    auto* call = new Call;
    call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    call->request = RunTaskRequest(count);
    auto* stub = stubs_[static_cast<size_t>(k) % stubs_.size()].get();
    stub->async()->RunTask(&call->context, &call->request, &call->response,
                           [call, done = std::move(done), on_arn = std::move(on_arn)](grpc::Status status) {
                             CallLoad::Outcome outcome;
                             outcome.code = status.error_code();
                             outcome.message = status.error_message();
                             if (status.ok()) {
                               outcome.placed = call->response.tasks_size();
                               for (const auto& f : call->response.failures()) {
                                 outcome.failure_reasons.push_back(f.reason());
                               }
                               if (on_arn) {
                                 for (const auto& t : call->response.tasks()) on_arn(t.task_arn());
                               }
                             }
                             delete call;
                             done(std::move(outcome));
                           });
  }

  std::optional<MetricsSample> Scrape() const {
    if (metrics_url_.empty()) return std::nullopt;
    MetricsScraper scraper(metrics_url_);
    auto sample = scraper.Scrape();
    if (!sample.ok()) return std::nullopt;
    return *std::move(sample);
  }
  double BerthdCpu() const { return pid_ ? ProcessCpuSeconds(*pid_).value_or(-1) : -1; }
  int64_t BerthdRss() const { return pid_ ? ProcessRssBytes(*pid_).value_or(-1) : -1; }

  // S1: RunTask from --clients concurrent clients until `tasks` are placed, then wait until the
  // agents report every placed task RUNNING. With `arns`, keeps every placed task's ARN.
  absl::StatusOr<nlohmann::ordered_json> Launch(int64_t tasks, const Console& console, std::vector<std::string>* arns) {
    console.Note("launch: {} tasks, RunTask count {} from {} clients, spread(zone)+binpack(memory)", tasks, f_.count,
                 f_.clients);
    absl::Mutex arns_mu;
    std::function<void(const std::string&)> on_arn;
    if (arns != nullptr) {
      arns->reserve(static_cast<size_t>(tasks));
      on_arn = [&](const std::string& arn) {
        absl::MutexLock lock(&arns_mu);
        arns->push_back(arn);
      };
    }
    const int64_t running_before = sim_->running();
    int64_t requested = 0;  // tasks asked for by calls issued so far (the issuing thread only)
    const std::optional<MetricsSample> before = Scrape();
    const double cpu_before = BerthdCpu();
    CallLoad load({.concurrency = f_.clients, .stop = [&] { return requested >= tasks; }, .max_calls = 0},
                  [&](int64_t k, CallLoad::Done done) {
                    const int count = static_cast<int>(std::min<int64_t>(f_.count, tasks - requested));
                    requested += count;
                    IssueRunTask(k, count, std::move(done), on_arn);
                  });
    std::atomic<bool> placing{true};
    std::thread progress([&] {
      auto next = Clock::now();
      while (placing.load()) {
        next += std::chrono::seconds(5);
        while (placing.load() && Clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (placing.load()) {
          console.Note("launch: {} placed, {} RUNNING", load.placed_so_far(), sim_->running() - running_before);
        }
      }
    });
    if (tasks > 0) load.Run();
    placing = false;
    progress.join();
    const std::optional<MetricsSample> after = Scrape();
    const double cpu_placed = BerthdCpu();
    const double place_seconds = tasks > 0 ? Seconds(load.last_completion() - load.started()) : 0;
    const int64_t placed = load.placed();
    console.Note("launch: {} tasks placed in {:.2f} s ({:.0f}/s); waiting for the agents to run them", placed,
                 place_seconds, place_seconds > 0 ? placed / place_seconds : 0);

    // Until the agents report every placed task RUNNING.
    const auto deadline = Clock::now() + f_.running_timeout;
    auto last_note = Clock::now();
    while (sim_->running() - running_before < placed && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (Clock::now() - last_note > std::chrono::seconds(5)) {
        last_note = Clock::now();
        console.Note("launch: {} of {} RUNNING", sim_->running() - running_before, placed);
      }
    }
    const int64_t running = sim_->running() - running_before;
    const double running_seconds = tasks > 0 ? Seconds(Clock::now() - load.started()) : 0;
    const double cpu_running = BerthdCpu();

    nlohmann::ordered_json j;
    j["tasks_requested"] = tasks;
    j["tasks_placed"] = placed;
    j["tasks_running"] = running;
    j["all_running"] = running >= placed;
    j["place_seconds"] = Round(place_seconds, 3);
    j["tasks_placed_per_s"] = place_seconds > 0 ? Round(static_cast<double>(placed) / place_seconds, 0) : 0;
    j["running_seconds"] = Round(running_seconds, 3);
    j["tasks_running_per_s"] = running_seconds > 0 ? Round(static_cast<double>(running) / running_seconds, 0) : 0;
    j["runtask"] = load.ToJson();
    if (before && after) j["commit_while_placing"] = ComputeCommitStats(*before, *after).ToJson();
    if (cpu_before >= 0) {
      j["berthd_cpu_seconds_placing"] = Round(cpu_placed - cpu_before, 2);
      j["berthd_cpu_seconds_until_running"] = Round(cpu_running - cpu_before, 2);
    }
    console.Note("launch: {} RUNNING after {:.2f} s", running, running_seconds);
    if (load.errors() > 0 || running < placed || placed < tasks) {
      return absl::InternalError(StrCat("launch fell short: ", placed, " of ", tasks, " placed, ", running,
                                        " RUNNING, ", load.errors(), " RunTask errors: ", j["runtask"].dump()));
    }
    return j;
  }

  // The common head of every report.
  nlohmann::ordered_json Head() const {
    nlohmann::ordered_json r;
    r["scenario"] = name();
    r["instances"] = f_.instances;
    r["tasks"] = f_.tasks;
    r["count"] = f_.count;
    r["clients"] = f_.clients;
    r["instance"] = {{"cpu", f_.instance_cpu}, {"memory_mib", f_.instance_memory}};
    r["task"] = {{"cpu", f_.task_cpu}, {"memory_mib", f_.task_memory}};
    r["register_seconds"] = Round(register_seconds_, 2);
    return r;
  }

  ScaleFlags f_;
  std::string tasks_help_;
  std::optional<pid_t> pid_;
  std::string metrics_url_;
  std::shared_ptr<grpc::Channel> api_channel_;
  std::unique_ptr<v1::ContainerService::Stub> api_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::ContainerService::Stub>> stubs_;
  std::string task_definition_;
  std::unique_ptr<SimFleet> sim_;
  double register_seconds_ = 0;
};

// ---- S1
class LaunchScenario final : public ScaleScenario {
 public:
  LaunchScenario() : ScaleScenario("Tasks to launch") {}
  std::string name() const override { return "launch"; }
  std::string description() const override {
    return "S1: launch --tasks tasks onto --instances simulated agents with RunTask, until all are RUNNING";
  }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override {
    RETURN_IF_ERROR(SetUp(target, console));
    ScenarioResult result;
    result.report = Head();
    auto launch = Launch(f_.tasks, console, nullptr);
    if (!launch.ok()) {
      result.ok = false;
      result.failure = launch.status().ToString();
    } else {
      result.report["launch"] = *launch;
      const auto& l = *launch;
      const auto& lat = l["runtask"]["latency_ms"];
      result.summary = fmt::format(
          "launch: {} tasks on {} instances (RunTask count {}, {} clients)\n"
          "  placed    {:.2f} s = {} tasks/s; RUNNING after {:.2f} s = {} tasks/s\n"
          "  RunTask   p50 {} ms  p99 {} ms  p99.9 {} ms  max {} ms\n",
          f_.tasks, f_.instances, f_.count, f_.clients, l["place_seconds"].get<double>(),
          l["tasks_placed_per_s"].dump(), l["running_seconds"].get<double>(), l["tasks_running_per_s"].dump(),
          lat["p50"].dump(), lat["p99"].dump(), lat["p99_9"].dump(), lat["max"].dump());
      if (l.contains("commit_while_placing")) {
        result.summary += fmt::format("  commit    {}\n", l["commit_while_placing"].dump());
      }
    }
    result.report["agents"] = sim_->CountersJson();
    result.report["berthd_rss_mib"] = Mib(BerthdRss());
    RETURN_IF_ERROR(sim_->Stop());
    return result;
  }
};

// ---- S2
class LatencyScenario final : public ScaleScenario {
 public:
  LatencyScenario() : ScaleScenario("Tasks to launch before the paced load (0: none)") { f_.tasks = 0; }
  std::string name() const override { return "latency"; }
  std::string description() const override {
    return "S2: RunTask paced at --rate calls/s (or a share of a launch report's rate) for --duration on a fleet of "
           "simulated agents";
  }
  void AddOwnFlags(CLI::App* command) override {
    auto* rate = command->add_option("--rate", rate_, "Offered RunTask calls/s (each of --count tasks)")
                     ->check(CLI::Range(kMinRate, kMaxRate));
    auto* of_launch =
        command
            ->add_option("--rate-of-launch", launch_report_,
                         "A launch (S1) report: offer --fraction of the tasks/s it placed, in calls of --count")
            ->check(CLI::ExistingFile);
    rate->excludes(of_launch);
    command->add_option("--fraction", fraction_, "With --rate-of-launch: the share of its rate to offer")
        ->check(CLI::Range(0.001, 10.0))
        ->needs(of_launch)
        ->capture_default_str();
    command->add_option("--duration", duration_text_, "Measured window")->capture_default_str();
  }
  absl::Status ValidateOwn() override {
    ASSIGN_OR_RETURN(duration_, ParseDuration(duration_text_));
    if (duration_.count() == 0) return absl::InvalidArgumentError("--duration must be longer than 0");
    if (!launch_report_.empty()) {
      // S2 is defined relative to S1: RunTask at --fraction (half by default) of the rate it placed tasks at.
      std::ifstream in(launch_report_);
      const auto report = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      const auto* placed = report.is_object() && report.contains("launch") && report["launch"].is_object() &&
                                   report["launch"].contains("tasks_placed_per_s")
                               ? &report["launch"]["tasks_placed_per_s"]
                               : nullptr;
      if (placed == nullptr || !placed->is_number() || placed->get<double>() <= 0) {
        return absl::InvalidArgumentError(StrCat("--rate-of-launch ", launch_report_,
                                                 ": not a launch report (no positive launch.tasks_placed_per_s)"));
      }
      launch_tasks_per_s_ = placed->get<double>();
      rate_ = launch_tasks_per_s_ * fraction_ / f_.count;
      if (rate_ < kMinRate || rate_ > kMaxRate) {
        return absl::InvalidArgumentError(
            fmt::format("--rate-of-launch {}: {} tasks/s x --fraction {} / --count {} is {} calls/s, outside [{}, {}]",
                        launch_report_, launch_tasks_per_s_, fraction_, f_.count, rate_, kMinRate, kMaxRate));
      }
    }
    if (rate_ <= 0) return absl::InvalidArgumentError("give --rate or --rate-of-launch");
    return absl::OkStatus();
  }
  int64_t ExtraTasks() const override {
    return static_cast<int64_t>(rate_ * static_cast<double>(duration_.count()) / 1e6) * f_.count;
  }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override {
    RETURN_IF_ERROR(SetUp(target, console));
    ScenarioResult result;
    result.report = Head();
    if (f_.tasks > 0) {
      auto launch = Launch(f_.tasks, console, nullptr);
      if (!launch.ok()) return launch.status();
      result.report["preload"] = *launch;
    }
    console.Note("latency: RunTask count {} at {:.1f} calls/s for {:.0f} s", f_.count, rate_, duration_.count() / 1e6);
    const std::optional<MetricsSample> before = Scrape();
    const double cpu_before = BerthdCpu();
    CallLoad load({.concurrency = f_.clients, .rate = rate_, .duration = duration_, .stop = nullptr, .max_calls = 0},
                  [&](int64_t k, CallLoad::Done done) { IssueRunTask(k, f_.count, std::move(done), nullptr); });
    load.Run();
    const std::optional<MetricsSample> after = Scrape();
    const double seconds = Seconds(load.last_completion() - load.started());
    auto& r = result.report;
    r["rate"] = Round(rate_, 1);
    if (!launch_report_.empty()) {
      r["rate_of_launch"] = {
          {"report", launch_report_}, {"launch_tasks_placed_per_s", launch_tasks_per_s_}, {"fraction", fraction_}};
    }
    r["duration_s"] = Round(duration_.count() / 1e6, 1);
    r["calls_per_s"] = seconds > 0 ? Round(static_cast<double>(load.ok()) / seconds, 1) : 0;
    r["runtask"] = load.ToJson();
    ServerLatency server;
    if (before && after) {
      r["commit"] = ComputeCommitStats(*before, *after).ToJson();
      server = ServerRpcLatency(*before, *after, "RunTask");
      r["runtask_in_berthd_ms"] = server.ToJson();
      r["commit_stages_ms"] = CommitStageLatency(*before, *after);
    }
    if (cpu_before >= 0 && seconds > 0) r["berthd_cores"] = Round((BerthdCpu() - cpu_before) / seconds, 3);
    r["agents"] = sim_->CountersJson();
    const LatencyRecorder::Summary lat = load.Latency();
    result.summary = fmt::format(
        "latency: RunTask count {} at {:.1f} calls/s for {:.0f} s on {} instances ({} tasks before)\n"
        "  calls     {} ok, {} errors, {} tasks placed, {} placement failures\n"
        "  latency   p50 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms  max {:.2f} ms\n",
        f_.count, rate_, duration_.count() / 1e6, f_.instances, f_.tasks, load.ok(), load.errors(), load.placed(),
        load.failures(), lat.p50_ms, lat.p99_ms, lat.p999_ms, lat.max_ms);
    if (server.count > 0) {  // only with berthd's /metrics
      result.summary += fmt::format("  in berthd p50 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms  (from its histogram)\n",
                                    server.p50_ms, server.p99_ms, server.p99_9_ms);
    }
    if (load.errors() > 0 || load.failures() > 0) {
      result.ok = false;
      result.failure = "some RunTask calls failed";
    }
    RETURN_IF_ERROR(sim_->Stop());
    return result;
  }

 private:
  static constexpr double kMinRate = 0.1;  // calls/s
  static constexpr double kMaxRate = 1'000'000;
  double rate_ = 0;
  std::string launch_report_;
  double fraction_ = 0.5;
  double launch_tasks_per_s_ = 0;
  std::string duration_text_ = "60s";
  std::chrono::microseconds duration_{};
};

// Pages through a List* call; `page` issues one call with the token and returns the next token.
absl::Status ForEachPage(const std::function<absl::StatusOr<std::string>(const std::string& token)>& page) {
  std::string token;
  do {
    ASSIGN_OR_RETURN(token, page(token));
  } while (!token.empty());
  return absl::OkStatus();
}

int32_t ResourceValue(const google::protobuf::RepeatedPtrField<v1::Resource>& resources, const std::string& name) {
  for (const auto& r : resources) {
    if (r.name() == name) return r.integer_value();
  }
  return 0;
}

// ---- S3
class RestartScenario final : public ScaleScenario {
 public:
  RestartScenario() : ScaleScenario("Tasks to launch before the restart") {}
  std::string name() const override { return "restart"; }
  std::string description() const override {
    return "S3: launch, kill -9 berthd, restart it on the same data: time to serve reads and RunTask; nothing lost";
  }
  int64_t ExtraTasks() const override { return 1; }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override {
    BerthdProcess* process = target.process();
    if (process == nullptr) return absl::FailedPreconditionError("restart needs --spawn-berthd: it kills berthd");
    RETURN_IF_ERROR(SetUp(target, console));
    ScenarioResult result;
    result.report = Head();
    std::vector<std::string> acknowledged;
    ASSIGN_OR_RETURN(result.report["launch"], Launch(f_.tasks, console, &acknowledged));
    RETURN_IF_ERROR(sim_->Stop());  // the agents would only see errors while berthd is down
    const int64_t rss_before = BerthdRss();

    console.Note("restart: kill -9 berthd (pid {}) with {} tasks acknowledged", process->pid(), acknowledged.size());
    RETURN_IF_ERROR(process->Kill());
    const auto killed = Clock::now();
    RETURN_IF_ERROR(process->Relaunch());
    pid_ = process->pid();
    // Reads: DescribeClusters until it answers; each try on a new connection, so gRPC's reconnect
    // backoff does not pad the figure.
    auto retry = [&](auto&& attempt) -> absl::StatusOr<double> {
      const auto deadline = killed + std::chrono::seconds(600);
      absl::Status last;
      while (Clock::now() < deadline) {
        auto channel = target.NewChannel();
        auto stub = v1::ContainerService::NewStub(channel);
        last = attempt(*stub);
        if (last.ok()) return Seconds(Clock::now() - killed);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return absl::DeadlineExceededError(StrCat("berthd did not come back: ", last.ToString()));
    };
    ASSIGN_OR_RETURN(const double read_s, retry([&](v1::ContainerService::Stub& stub) -> absl::Status {
                       grpc::ClientContext context;
                       context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
                       v1::DescribeClustersRequest request;
                       request.add_clusters(f_.cluster);
                       v1::DescribeClustersResponse response;
                       RETURN_IF_ERROR(FromGrpc(stub.DescribeClusters(&context, request, &response)));
                       if (response.clusters_size() != 1) return absl::NotFoundError("cluster missing");
                       return absl::OkStatus();
                     }));
    std::string probe_arn;
    ASSIGN_OR_RETURN(const double write_s, retry([&](v1::ContainerService::Stub& stub) -> absl::Status {
                       grpc::ClientContext context;
                       context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
                       v1::RunTaskResponse response;
                       RETURN_IF_ERROR(FromGrpc(stub.RunTask(&context, RunTaskRequest(1), &response)));
                       if (response.tasks_size() != 1) {
                         return absl::UnavailableError(
                             StrCat("RunTask placed nothing: ",
                                    response.failures_size() > 0 ? response.failures(0).reason() : "no failure given"));
                       }
                       probe_arn = response.tasks(0).task_arn();
                       return absl::OkStatus();
                     }));
    RETURN_IF_ERROR(process->WaitReady());
    console.Note("restart: reads after {:.3f} s, RunTask after {:.3f} s", read_s, write_s);
    const int64_t rss_after = BerthdRss();

    // Nothing lost: every acknowledged task is listed; each instance's reservations match its tasks.
    console.Note("restart: checking {} acknowledged tasks and {} instances", acknowledged.size(), f_.instances);
    const auto check_started = Clock::now();
    auto stub = v1::ContainerService::NewStub(target.NewChannel());
    auto call = [&](auto method, const auto& request, auto* response) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
      return FromGrpc(((*stub).*method)(&context, request, response));
    };
    absl::flat_hash_map<std::string, int> listed;  // task ARN -> times listed
    std::vector<std::string> instances;
    RETURN_IF_ERROR(ForEachPage([&](const std::string& token) -> absl::StatusOr<std::string> {
      v1::ListContainerInstancesRequest request;
      request.set_cluster(f_.cluster);
      request.set_max_results(100);
      if (!token.empty()) request.set_next_token(token);
      v1::ListContainerInstancesResponse response;
      RETURN_IF_ERROR(call(&v1::ContainerService::Stub::ListContainerInstances, request, &response));
      for (const auto& arn : response.container_instance_arns()) instances.push_back(arn);
      return response.next_token();
    }));
    int64_t reservation_mismatches = 0;
    std::string first_mismatch;
    for (size_t b = 0; b < instances.size(); b += 100) {
      v1::DescribeContainerInstancesRequest request;
      request.set_cluster(f_.cluster);
      for (size_t i = b; i < std::min(instances.size(), b + 100); ++i) request.add_container_instances(instances[i]);
      v1::DescribeContainerInstancesResponse response;
      RETURN_IF_ERROR(call(&v1::ContainerService::Stub::DescribeContainerInstances, request, &response));
      for (const auto& ci : response.container_instances()) {
        int64_t tasks_here = 0;
        RETURN_IF_ERROR(ForEachPage([&](const std::string& token) -> absl::StatusOr<std::string> {
          v1::ListTasksRequest list;
          list.set_cluster(f_.cluster);
          list.set_container_instance(ci.container_instance_arn());
          list.set_max_results(100);
          if (!token.empty()) list.set_next_token(token);
          v1::ListTasksResponse page;
          RETURN_IF_ERROR(call(&v1::ContainerService::Stub::ListTasks, list, &page));
          for (const auto& arn : page.task_arns()) ++listed[arn];
          tasks_here += page.task_arns_size();
          return page.next_token();
        }));
        const int64_t cpu_used =
            ResourceValue(ci.registered_resources(), "CPU") - ResourceValue(ci.remaining_resources(), "CPU");
        const int64_t mem_used =
            ResourceValue(ci.registered_resources(), "MEMORY") - ResourceValue(ci.remaining_resources(), "MEMORY");
        if (cpu_used != tasks_here * f_.task_cpu || mem_used != tasks_here * f_.task_memory) {
          if (reservation_mismatches++ == 0) {
            first_mismatch = fmt::format("{}: {} tasks listed, but {} CPU and {} MiB reserved",
                                         ci.container_instance_arn(), tasks_here, cpu_used, mem_used);
          }
        }
      }
    }
    int64_t missing = 0;
    for (const auto& arn : acknowledged) missing += listed.contains(arn) ? 0 : 1;
    int64_t listed_twice = 0;
    for (const auto& [arn, n] : listed) listed_twice += n > 1 ? 1 : 0;
    const bool probe_listed = listed.contains(probe_arn);

    auto& r = result.report;
    r["acknowledged_tasks"] = acknowledged.size();
    r["read_after_kill_s"] = Round(read_s, 3);
    r["runtask_after_kill_s"] = Round(write_s, 3);
    r["tasks_listed_after_restart"] = listed.size();
    r["acknowledged_missing"] = missing;
    r["tasks_on_two_instances"] = listed_twice;
    r["probe_task_listed"] = probe_listed;
    r["instances_checked"] = instances.size();
    r["instances_with_reservation_mismatch"] = reservation_mismatches;
    if (!first_mismatch.empty()) r["first_mismatch"] = first_mismatch;
    r["check_seconds"] = Round(Seconds(Clock::now() - check_started), 1);
    r["berthd_rss_mib_before_kill"] = Mib(rss_before);
    r["berthd_rss_mib_after_restart"] = Mib(rss_after);
    result.summary = fmt::format(
        "restart: {} tasks on {} instances, kill -9\n"
        "  reads served {:.3f} s after the kill, RunTask accepted {:.3f} s after\n"
        "  {} acknowledged tasks missing, {} listed twice, {} instances with reservations not matching their tasks\n",
        acknowledged.size(), f_.instances, read_s, write_s, missing, listed_twice, reservation_mismatches);
    if (missing > 0 || listed_twice > 0 || reservation_mismatches > 0 || !probe_listed ||
        static_cast<int64_t>(instances.size()) != f_.instances) {
      result.ok = false;
      result.failure = "state after the restart does not match what was acknowledged";
    }
    return result;
  }
};

// ---- S4
class FootprintScenario final : public ScaleScenario {
 public:
  FootprintScenario() : ScaleScenario("Tasks to launch") {}
  std::string name() const override { return "footprint"; }
  std::string description() const override {
    return "S4: berthd's resident memory per task beyond the base, and its store's size on disk, after a launch";
  }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override {
    if (!target.berthd_pid() || target.process() == nullptr) {
      return absl::FailedPreconditionError("footprint needs --spawn-berthd: it reads berthd's memory and data dir");
    }
    RETURN_IF_ERROR(SetUp(target, console));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const int64_t rss_base = BerthdRss();
    const int64_t disk_base = DirectoryBytes(target.process()->data_dir());
    ScenarioResult result;
    result.report = Head();
    ASSIGN_OR_RETURN(result.report["launch"], Launch(f_.tasks, console, nullptr));
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const int64_t rss = BerthdRss();
    const int64_t disk = DirectoryBytes(target.process()->data_dir());
    const double per_task = f_.tasks > 0 ? static_cast<double>(rss - rss_base) / static_cast<double>(f_.tasks) : 0;
    auto& r = result.report;
    r["rss_base_mib"] = Mib(rss_base);
    r["rss_mib"] = Mib(rss);
    r["rss_bytes_per_task"] = Round(per_task, 0);
    r["store_base_mib"] = Mib(disk_base);
    r["store_mib"] = Mib(disk);
    r["store_bytes_per_task"] =
        f_.tasks > 0 ? Round(static_cast<double>(disk - disk_base) / static_cast<double>(f_.tasks), 0) : 0;
    result.summary = fmt::format(
        "footprint: {} tasks on {} instances\n"
        "  berthd RSS {} MiB with the fleet registered, {} MiB with the tasks: {:.0f} bytes per task\n"
        "  store on disk {} MiB ({} MiB before the tasks)\n",
        f_.tasks, f_.instances, Mib(rss_base), Mib(rss), per_task, Mib(disk), Mib(disk_base));
    RETURN_IF_ERROR(sim_->Stop());
    return result;
  }
};

// Times from a change to the moment its agent first sees it, matched by task ARN.
class DeliveryTracker {
 public:
  // The change's reference time (the StopTask issued, the RunTask acknowledged).
  void Sent(const std::string& arn) { Mark(arn, /*sent=*/true); }
  void Seen(const std::string& arn) { Mark(arn, /*sent=*/false); }
  void Arm() { armed_.store(true); }
  bool armed() const { return armed_.load(); }
  LatencyRecorder::Summary Summary() const {
    absl::MutexLock lock(&mu_);
    return latencies_.Summarize();
  }

 private:
  void Mark(const std::string& arn, bool sent) {
    if (!armed_.load(std::memory_order_relaxed)) return;
    const auto now = Clock::now();
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = pending_.try_emplace(arn, now, sent);
    if (inserted) return;
    if (it->second.second == sent) return;  // the same side twice
    const auto sent_at = sent ? now : it->second.first;
    const auto seen_at = sent ? it->second.first : now;
    shard_->Record(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(seen_at - sent_at).count()));
    pending_.erase(it);
  }

  std::atomic<bool> armed_{false};
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::pair<Clock::time_point, bool>> pending_ ABSL_GUARDED_BY(mu_);
  LatencyRecorder latencies_;
  LatencyRecorder::Shard* shard_ ABSL_GUARDED_BY(mu_) = latencies_.NewShard();
};

// ---- S5
class ChurnScenario final : public ScaleScenario {
 public:
  ChurnScenario() : ScaleScenario("Tasks to launch before the churn") {}
  std::string name() const override { return "churn"; }
  std::string description() const override {
    return "S5: a launched population churning (StopTask and RunTask at fixed rates): poll latency, delivery "
           "latency, state changes/s, berthd CPU";
  }
  void AddOwnFlags(CLI::App* command) override {
    command->add_option("--stop-rate", stop_rate_, "StopTask calls/s")
        ->check(CLI::Range(0.0, 1e6))
        ->capture_default_str();
    command->add_option("--start-rate", start_rate_, "Tasks started/s (RunTask count 1)")
        ->check(CLI::Range(0.0, 1e6))
        ->capture_default_str();
    command->add_option("--probe-rate", probe_rate_, "Zero-wait polls/s probing poll latency")
        ->check(CLI::Range(0.0, 1e6))
        ->capture_default_str();
    command->add_option("--duration", duration_text_, "How long the churn lasts")->capture_default_str();
    command->add_option("--seed", seed_, "Seed of the order tasks are stopped in")->capture_default_str();
  }
  absl::Status ValidateOwn() override {
    ASSIGN_OR_RETURN(duration_, ParseDuration(duration_text_));
    if (duration_.count() == 0) return absl::InvalidArgumentError("--duration must be longer than 0");
    if (stop_rate_ * static_cast<double>(duration_.count()) / 1e6 > static_cast<double>(f_.tasks)) {
      return absl::InvalidArgumentError("--stop-rate x --duration stops more tasks than --tasks launches");
    }
    return absl::OkStatus();
  }
  int64_t ExtraTasks() const override {
    // Stopped tasks free their room once their agent reports them STOPPED: the starts need room
    // for what they outnumber the stops by, plus about 5 s of starts in flight.
    const double seconds = static_cast<double>(duration_.count()) / 1e6;
    return static_cast<int64_t>(std::max(0.0, (start_rate_ - stop_rate_) * seconds) + start_rate_ * 5) + 1;
  }

  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override {
    DeliveryTracker stop_delivery;
    DeliveryTracker start_delivery;
    RETURN_IF_ERROR(SetUp(target, console, [&](const std::string& arn, bool running) {
      (running ? start_delivery : stop_delivery).Seen(arn);
    }));
    ScenarioResult result;
    result.report = Head();
    std::vector<std::string> population;
    ASSIGN_OR_RETURN(result.report["launch"], Launch(f_.tasks, console, &population));
    std::mt19937_64 rng(seed_);
    std::shuffle(population.begin(), population.end(), rng);

    console.Note("churn: {} StopTask/s and {} RunTask/s for {:.0f} s, {} probe polls/s", stop_rate_, start_rate_,
                 duration_.count() / 1e6, probe_rate_);
    auto agent_stub = v1::AgentService::NewStub(target.NewChannel());
    std::vector<std::string> instance_arns;
    for (int i = 0; i < sim_->size(); ++i) instance_arns.push_back(sim_->agent(i).instance_arn());

    const AgentShared& shared = sim_->shared();
    const int64_t changes_before = shared.reported_running.load() + shared.reported_stopped.load();
    const int64_t polls_before = shared.polls.load();
    const std::optional<MetricsSample> before = Scrape();
    const double cpu_before = BerthdCpu();
    const auto started = Clock::now();
    stop_delivery.Arm();
    start_delivery.Arm();

    CallLoad stops(
        {.concurrency = f_.clients, .rate = stop_rate_, .duration = duration_, .stop = nullptr, .max_calls = 0},
        [&](int64_t k, CallLoad::Done done) {
          struct Call {
            grpc::ClientContext context;
            v1::StopTaskRequest request;
            v1::StopTaskResponse response;
          };
          auto* call = new Call;
          call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
          call->request.set_cluster(f_.cluster);
          call->request.set_task(population[static_cast<size_t>(k)]);
          call->request.set_reason("berth-bench churn");
          stop_delivery.Sent(call->request.task());
          stubs_[static_cast<size_t>(k) % stubs_.size()]->async()->StopTask(
              &call->context, &call->request, &call->response, [call, done = std::move(done)](grpc::Status s) {
                CallLoad::Outcome outcome{
                    .code = s.error_code(), .message = s.error_message(), .placed = 0, .failure_reasons = {}};
                delete call;
                done(std::move(outcome));
              });
        });
    CallLoad starts(
        {.concurrency = f_.clients, .rate = start_rate_, .duration = duration_, .stop = nullptr, .max_calls = 0},
        [&](int64_t k, CallLoad::Done done) {
          IssueRunTask(k, 1, std::move(done), [&](const std::string& arn) { start_delivery.Sent(arn); });
        });
    CallLoad probes(
        {.concurrency = 16, .rate = probe_rate_, .duration = duration_, .stop = nullptr, .max_calls = 0},
        [&](int64_t k, CallLoad::Done done) {
          struct Call {
            grpc::ClientContext context;
            v1::PollRequest request;
            v1::PollResponse response;
          };
          auto* call = new Call;
          call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
          call->request.set_cluster(f_.cluster);
          call->request.set_container_instance(instance_arns[static_cast<size_t>(k * 7919) % instance_arns.size()]);
          call->request.set_known_version(0);
          call->request.set_wait_millis(0);
          agent_stub->async()->Poll(
              &call->context, &call->request, &call->response, [call, done = std::move(done)](grpc::Status s) {
                CallLoad::Outcome outcome{
                    .code = s.error_code(), .message = s.error_message(), .placed = 0, .failure_reasons = {}};
                delete call;
                done(std::move(outcome));
              });
        });
    std::vector<std::thread> threads;
    if (stop_rate_ > 0) threads.emplace_back([&] { stops.Run(); });
    if (start_rate_ > 0) threads.emplace_back([&] { starts.Run(); });
    if (probe_rate_ > 0) threads.emplace_back([&] { probes.Run(); });
    for (auto& t : threads) t.join();
    const double seconds = Seconds(Clock::now() - started);
    const std::optional<MetricsSample> after = Scrape();
    const double cpu = BerthdCpu() - cpu_before;
    // Let the last changes reach their agents before reading the delivery figures.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const int64_t changes = shared.reported_running.load() + shared.reported_stopped.load() - changes_before;

    auto& r = result.report;
    r["stop_rate"] = stop_rate_;
    r["start_rate"] = start_rate_;
    r["duration_s"] = Round(seconds, 2);
    r["stop_task"] = stops.ToJson();
    r["run_task"] = starts.ToJson();
    r["probe_poll"] = probes.ToJson();
    r["stop_delivery_ms"] = stop_delivery.Summary().ToJson();
    r["start_delivery_ms"] = start_delivery.Summary().ToJson();
    r["agent_state_changes_per_s"] = Round(static_cast<double>(changes) / seconds, 0);
    r["agent_polls_per_s"] = Round(static_cast<double>(shared.polls.load() - polls_before) / seconds, 0);
    if (before && after) {
      r["commit"] = ComputeCommitStats(*before, *after).ToJson();
      r["commit_stages_ms"] = CommitStageLatency(*before, *after);
    }
    if (cpu_before >= 0) r["berthd_cores"] = Round(cpu / seconds, 3);
    r["agents"] = sim_->CountersJson();
    const auto poll = probes.Latency();
    const auto stop_lat = stop_delivery.Summary();
    const auto start_lat = start_delivery.Summary();
    result.summary = fmt::format(
        "churn: {} tasks on {} instances; {} stops/s and {} starts/s for {:.0f} s\n"
        "  poll (zero-wait, full state)  p50 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms\n"
        "  stop  StopTask -> agent sees it   p50 {:.2f} ms  p99 {:.2f} ms\n"
        "  start RunTask ack -> agent sees it p50 {:.2f} ms  p99 {:.2f} ms\n"
        "  agents reported {:.0f} state changes/s; berthd {} cores\n",
        f_.tasks, f_.instances, stop_rate_, start_rate_, seconds, poll.p50_ms, poll.p99_ms, poll.p999_ms,
        stop_lat.p50_ms, stop_lat.p99_ms, start_lat.p50_ms, start_lat.p99_ms, static_cast<double>(changes) / seconds,
        r.contains("berthd_cores") ? r["berthd_cores"].dump() : "n/a");
    if (stops.errors() + starts.errors() + probes.errors() > 0 || starts.failures() > 0) {
      result.ok = false;
      result.failure = "some churn calls failed";
    }
    RETURN_IF_ERROR(sim_->Stop());
    return result;
  }

 private:
  double stop_rate_ = 1000;
  double start_rate_ = 1000;
  double probe_rate_ = 200;
  std::string duration_text_ = "120s";
  std::chrono::microseconds duration_{};
  uint64_t seed_ = 7;
};

}  // namespace

std::unique_ptr<Scenario> NewLaunchScenario() { return std::make_unique<LaunchScenario>(); }
std::unique_ptr<Scenario> NewLatencyScenario() { return std::make_unique<LatencyScenario>(); }
std::unique_ptr<Scenario> NewRestartScenario() { return std::make_unique<RestartScenario>(); }
std::unique_ptr<Scenario> NewFootprintScenario() { return std::make_unique<FootprintScenario>(); }
std::unique_ptr<Scenario> NewChurnScenario() { return std::make_unique<ChurnScenario>(); }

}  // namespace berth::bench
