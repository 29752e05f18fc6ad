// berth-bench services: how long a replica service takes to start, roll out and recover on a
// fleet of simulated agents. N agents are simulated in this process (no berth-agent): each
// registers through AgentService.RegisterInstance, long-polls its desired state, and reports every
// task it is asked to run RUNNING and every task it is asked to stop STOPPED, in one
// ReportStateChanges per poll answer. Their RPCs use gRPC's callback API: no thread per agent.
//
// Phases, each timed on the wall clock from the API call until the condition is observed:
//   steady        CreateService desiredCount=T (default deployment configuration) until
//                 runningCount == T and the one deployment is COMPLETED;
//   rollout_100_200, rollout_50_100
//                 UpdateService to a new revision with minimumHealthyPercent/maximumPercent
//                 100/200, then 50/100, until one deployment (the new revision) is COMPLETED and
//                 runningCount == T;
//   lost_agents   with lostAfterSeconds set beforehand, K agents stop polling and reporting (their
//                 parked poll is cancelled) until the live agents report T tasks RUNNING. berthd
//                 keeps counting the lost tasks in runningCount, so this phase counts on the
//                 agents' side. It includes berthd's --agent-disconnect-after, its disconnect check,
//                 lostAfterSeconds, the service's wake-up, placement and the agents' reports.
// Conditions are sampled every --sample-interval (DescribeServices; the agents' counters).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "berth/common/status.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "src/bench/fleet.h"
#include "src/bench/scenario.h"
#include "src/bench/sim_fleet.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

constexpr int kAgentCpuUnits = 4096;
constexpr int kAgentMemoryMiB = 8192;
constexpr int kZones = 3;

// What one phase observed between its API call and its condition.
struct PhaseResult {
  std::string name;
  bool done = false;
  double seconds = 0;
  double berthd_cpu_seconds = -1;
  double bench_cpu_seconds = 0;
  int samples = 0;
  // Extremes of DescribeServices over the phase, to check a rollout's bounds.
  int min_running = INT32_MAX;
  int max_running_plus_pending = 0;
  int max_deployments = 0;
  v1::Service last;  // the last DescribeServices answer
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();

  nlohmann::ordered_json ToJson() const {
    nlohmann::ordered_json j;
    j["done"] = done;
    j["seconds"] = Round(seconds, 3);
    if (berthd_cpu_seconds >= 0) {
      j["berthd_cpu_seconds"] = Round(berthd_cpu_seconds, 2);
      j["berthd_cores"] = seconds > 0 ? Round(berthd_cpu_seconds / seconds, 3) : 0;
    }
    j["bench_cpu_seconds"] = Round(bench_cpu_seconds, 2);
    j["samples"] = samples;
    j["min_running_count"] = min_running == INT32_MAX ? 0 : min_running;
    j["max_running_plus_pending"] = max_running_plus_pending;
    j["max_deployments"] = max_deployments;
    j["final_running_count"] = last.running_count();
    j["final_pending_count"] = last.pending_count();
    j["final_deployments"] = last.deployments_size();
    for (const auto& [key, value] : extra.items()) j[key] = value;
    return j;
  }
};

class ServicesScenario final : public Scenario {
 public:
  std::string name() const override { return "services"; }
  std::string description() const override {
    return "Replica service on N simulated agents: time to steady state, to roll out (100/200, 50/100) and to "
           "replace the tasks of lost agents";
  }
  void AddFlags(CLI::App* command) override {
    command->add_option("--agents", agents_, "Simulated agents (one container instance each, 3 zones)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command->add_option("--tasks", tasks_, "The service's desiredCount")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command->add_option("--lost-agents", lost_agents_, "Agents killed in the lost-agents phase (0: skip the phase)")
        ->check(CLI::Range(0, 100000))
        ->capture_default_str();
    command->add_option("--lost-after", lost_after_s_, "The service's lostAfterSeconds for the lost-agents phase")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    command->add_option("--channels", channels_, "gRPC connections the agents are spread over")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    command->add_option("--poll-wait-ms", wait_millis_, "Long-poll wait each agent asks for")
        ->check(CLI::Range(100, 300000))
        ->capture_default_str();
    command->add_option("--sample-interval", sample_text_, "How often each phase's condition is checked")
        ->capture_default_str();
    command->add_option("--phase-timeout", timeout_text_, "Longest wait for one phase")->capture_default_str();
    command->add_option("--cluster", cluster_, "Cluster to register into")->capture_default_str();
  }
  absl::Status Validate() override {
    ASSIGN_OR_RETURN(sample_, ParseDuration(sample_text_));
    ASSIGN_OR_RETURN(timeout_, ParseDuration(timeout_text_));
    if (sample_.count() == 0) return absl::InvalidArgumentError("--sample-interval must be positive");
    if (lost_agents_ >= agents_) {
      return absl::InvalidArgumentError("--lost-agents must be smaller than --agents (someone has to run the tasks)");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override;

 private:
  absl::StatusOr<v1::Service> Describe();
  // Samples DescribeServices (and `extra_check`, when given) until `done` holds or the phase times
  // out; `start` is when the phase's API call was made.
  PhaseResult Watch(const std::string& name, Clock::time_point start, double berthd_cpu_before, double bench_cpu_before,
                    const std::function<bool(const v1::Service&)>& done);
  double BerthdCpu() const;

  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (v1::ContainerService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return FromGrpc(((*ecs_).*method)(&context, request, response));
  }

  int agents_ = 1000;
  int tasks_ = 1000;
  int lost_agents_ = 100;
  int lost_after_s_ = 1;
  int channels_ = 16;
  int wait_millis_ = 20000;
  std::string sample_text_ = "50ms";
  std::string timeout_text_ = "300s";
  std::chrono::microseconds sample_{};
  std::chrono::microseconds timeout_{};
  std::string cluster_ = "bench-services";
  const std::string service_ = "bench-svc";

  // Set by Run.
  std::unique_ptr<v1::ContainerService::Stub> ecs_;
  std::optional<pid_t> berthd_pid_;
};

double ServicesScenario::BerthdCpu() const {
  if (!berthd_pid_) return -1;
  return ProcessCpuSeconds(*berthd_pid_).value_or(-1);
}

absl::StatusOr<v1::Service> ServicesScenario::Describe() {
  v1::DescribeServicesRequest request;
  request.set_cluster(cluster_);
  request.add_services(service_);
  v1::DescribeServicesResponse response;
  RETURN_IF_ERROR(Call(&v1::ContainerService::Stub::DescribeServices, request, &response));
  if (response.services_size() != 1) return absl::NotFoundError("DescribeServices: service " + service_ + " not found");
  return response.services(0);
}

PhaseResult ServicesScenario::Watch(const std::string& name, Clock::time_point start, double berthd_cpu_before,
                                    double bench_cpu_before, const std::function<bool(const v1::Service&)>& done) {
  PhaseResult phase;
  phase.name = name;
  const auto deadline = start + timeout_;
  for (auto next = Clock::now();; next += sample_) {
    absl::StatusOr<v1::Service> service = Describe();
    const auto now = Clock::now();
    if (service.ok()) {
      ++phase.samples;
      phase.min_running = std::min(phase.min_running, service->running_count());
      phase.max_running_plus_pending =
          std::max(phase.max_running_plus_pending, service->running_count() + service->pending_count());
      phase.max_deployments = std::max(phase.max_deployments, service->deployments_size());
      phase.last = *std::move(service);
      if (done(phase.last)) {
        phase.done = true;
        phase.seconds = Seconds(now - start);
        break;
      }
    }
    if (now > deadline) {
      phase.seconds = Seconds(now - start);
      break;
    }
    std::this_thread::sleep_until(std::max(next + sample_, Clock::now()));
  }
  const double berthd_after = BerthdCpu();
  if (berthd_cpu_before >= 0 && berthd_after >= 0) phase.berthd_cpu_seconds = berthd_after - berthd_cpu_before;
  phase.bench_cpu_seconds = SelfCpuSeconds() - bench_cpu_before;
  return phase;
}

// True when the service has exactly one deployment, of `task_definition` (any, when empty), its
// rollout COMPLETED, and `count` tasks running.
bool Settled(const v1::Service& s, const std::string& task_definition, int count) {
  return s.running_count() == count && s.deployments_size() == 1 && s.deployments(0).rollout_state() == "COMPLETED" &&
         (task_definition.empty() || s.deployments(0).task_definition() == task_definition);
}

absl::StatusOr<ScenarioResult> ServicesScenario::Run(Target& target, const Console& console) {
  berthd_pid_ = target.berthd_pid();
  // The API calls and the sampling go over a connection of their own.
  std::shared_ptr<grpc::Channel> api_channel = target.NewChannel();
  ecs_ = v1::ContainerService::NewStub(api_channel);
  FleetSpec fleet_spec;
  fleet_spec.cluster = cluster_;
  fleet_spec.instances = 0;  // the simulated agents register their own
  ASSIGN_OR_RETURN(Fleet fleet, Fleet::Create(api_channel, fleet_spec));

  TaskDefinitionSpec td_spec;
  td_spec.family = "bench-svc";
  td_spec.cpu = 32;
  td_spec.memory_mib = 32;
  std::vector<std::string> revisions;
  for (int revision = 1; revision <= 3; ++revision) {
    td_spec.image = fmt::format("busybox:v{}", revision);
    ASSIGN_OR_RETURN(std::string td, fleet.RegisterTaskDefinition(td_spec));
    revisions.push_back(td);
  }

  SimFleetSpec sim_spec;
  sim_spec.cluster = cluster_;
  sim_spec.agents = agents_;
  sim_spec.cpu_units = kAgentCpuUnits;
  sim_spec.memory_mib = kAgentMemoryMiB;
  sim_spec.zones = kZones;
  sim_spec.channels = channels_;
  sim_spec.wait_millis = wait_millis_;
  ASSIGN_OR_RETURN(std::unique_ptr<SimFleet> sim, SimFleet::Start(target, sim_spec, console));
  const AgentShared& shared = sim->shared();

  std::vector<PhaseResult> phases;
  absl::Status failure;
  auto run_phases = [&]() -> absl::Status {
    // 1. steady: CreateService, default deployment configuration.
    {
      console.Note("steady: CreateService desiredCount={} ({})", tasks_, revisions[0]);
      v1::CreateServiceRequest request;
      request.set_cluster(cluster_);
      request.set_service_name(service_);
      request.set_task_definition(revisions[0]);
      request.set_desired_count(tasks_);
      v1::CreateServiceResponse response;
      const double berthd_before = BerthdCpu();
      const double bench_before = SelfCpuSeconds();
      const auto start = Clock::now();
      RETURN_IF_ERROR(Call(&v1::ContainerService::Stub::CreateService, request, &response));
      const std::string td = response.service().task_definition();
      phases.push_back(Watch("steady", start, berthd_before, bench_before,
                             [&](const v1::Service& s) { return Settled(s, td, tasks_); }));
      console.Note("steady: {:.2f} s", phases.back().seconds);
      if (!phases.back().done) return absl::DeadlineExceededError("steady: the service did not reach its count");
    }
    // 2 and 3: rollouts to a new revision.
    struct Rollout {
      const char* name;
      int min_healthy;
      int max_percent;
      int revision_index;
    };
    for (const Rollout& rollout : {Rollout{"rollout_100_200", 100, 200, 1}, Rollout{"rollout_50_100", 50, 100, 2}}) {
      console.Note("{}: UpdateService to {} (minimumHealthyPercent {}, maximumPercent {})", rollout.name,
                   revisions[rollout.revision_index], rollout.min_healthy, rollout.max_percent);
      v1::UpdateServiceRequest request;
      request.set_cluster(cluster_);
      request.set_service(service_);
      request.set_task_definition(revisions[rollout.revision_index]);
      request.mutable_deployment_configuration()->set_minimum_healthy_percent(rollout.min_healthy);
      request.mutable_deployment_configuration()->set_maximum_percent(rollout.max_percent);
      v1::UpdateServiceResponse response;
      const double berthd_before = BerthdCpu();
      const double bench_before = SelfCpuSeconds();
      const auto start = Clock::now();
      RETURN_IF_ERROR(Call(&v1::ContainerService::Stub::UpdateService, request, &response));
      const std::string td = response.service().task_definition();
      phases.push_back(Watch(rollout.name, start, berthd_before, bench_before,
                             [&](const v1::Service& s) { return Settled(s, td, tasks_); }));
      console.Note("{}: {:.2f} s", rollout.name, phases.back().seconds);
      if (!phases.back().done) return absl::DeadlineExceededError(std::string(rollout.name) + ": did not complete");
    }
    if (lost_agents_ == 0) return absl::OkStatus();

    // 4. lost agents.
    {
      v1::UpdateServiceRequest request;
      request.set_cluster(cluster_);
      request.set_service(service_);
      request.set_lost_after_seconds(lost_after_s_);
      v1::UpdateServiceResponse response;
      RETURN_IF_ERROR(Call(&v1::ContainerService::Stub::UpdateService, request, &response));
      // Agents with tasks first, evenly strided so that every zone loses about as many.
      std::vector<int> with_tasks, without;
      for (int i = 0; i < agents_; ++i) (sim->agent(i).running() > 0 ? with_tasks : without).push_back(i);
      std::vector<int> victims;
      const size_t from_tasked = std::min<size_t>(with_tasks.size(), static_cast<size_t>(lost_agents_));
      for (size_t k = 0; k < from_tasked; ++k) victims.push_back(with_tasks[k * with_tasks.size() / from_tasked]);
      for (size_t k = 0; victims.size() < static_cast<size_t>(lost_agents_); ++k) victims.push_back(without[k]);
      int tasks_lost = 0;
      for (int i : victims) tasks_lost += sim->agent(i).running();
      std::set<int> dead(victims.begin(), victims.end());
      auto live_running = [&] {
        int n = 0;
        for (int i = 0; i < agents_; ++i) {
          if (!dead.contains(i)) n += sim->agent(i).running();
        }
        return n;
      };
      console.Note("lost_agents: killing {} agents holding {} tasks (lostAfterSeconds {})", victims.size(), tasks_lost,
                   lost_after_s_);
      const double berthd_before = BerthdCpu();
      const double bench_before = SelfCpuSeconds();
      const auto start = Clock::now();
      for (int i : victims) sim->agent(i).Kill();
      const int running_after_kill = live_running();

      // Milestones, sampled with the condition: the first and the last killed instance seen
      // agentConnected=false, the first replacement reported RUNNING; and a timeline of
      // [seconds, killed instances disconnected, tasks RUNNING on live agents] at every change.
      std::optional<double> first_disconnected_s, all_disconnected_s, first_replacement_s;
      int disconnected = 0;
      nlohmann::ordered_json timeline = nlohmann::ordered_json::array();
      PhaseResult phase = Watch("lost_agents", start, berthd_before, bench_before, [&](const v1::Service&) {
        const double now_s = Seconds(Clock::now() - start);
        const int running = live_running();
        if (!first_replacement_s && running > running_after_kill) first_replacement_s = now_s;
        const int disconnected_before = disconnected;
        if (!all_disconnected_s) {
          int count = 0;
          for (size_t b = 0; b < victims.size(); b += 100) {
            v1::DescribeContainerInstancesRequest d;
            d.set_cluster(cluster_);
            for (size_t k = b; k < std::min(victims.size(), b + 100); ++k) {
              d.add_container_instances(sim->agent(victims[k]).instance_arn());
            }
            v1::DescribeContainerInstancesResponse dr;
            if (!Call(&v1::ContainerService::Stub::DescribeContainerInstances, d, &dr).ok()) return false;
            for (const auto& ci : dr.container_instances()) count += ci.agent_connected() ? 0 : 1;
          }
          disconnected = count;
          if (!first_disconnected_s && disconnected > 0) first_disconnected_s = now_s;
          if (disconnected == static_cast<int>(victims.size())) all_disconnected_s = now_s;
        }
        if (timeline.empty() || disconnected != disconnected_before || running != timeline.back()[2].get<int>()) {
          timeline.push_back({Round(now_s, 3), disconnected, running});
        }
        return running >= tasks_;
      });
      auto seconds_or_null = [](const std::optional<double>& s) {
        return s ? nlohmann::ordered_json(Round(*s, 3)) : nlohmann::ordered_json();
      };
      phase.extra["agents_killed"] = victims.size();
      phase.extra["tasks_lost"] = tasks_lost;
      phase.extra["lost_after_seconds"] = lost_after_s_;
      phase.extra["live_running_after_kill"] = running_after_kill;
      phase.extra["live_running_at_end"] = live_running();
      phase.extra["first_disconnected_seconds"] = seconds_or_null(first_disconnected_s);
      phase.extra["all_disconnected_seconds"] = seconds_or_null(all_disconnected_s);
      phase.extra["first_replacement_running_seconds"] = seconds_or_null(first_replacement_s);
      phase.extra["timeline"] = std::move(timeline);
      phases.push_back(std::move(phase));
      console.Note("lost_agents: {:.2f} s", phases.back().seconds);
      if (!phases.back().done) return absl::DeadlineExceededError("lost_agents: replacements did not all run");
    }
    return absl::OkStatus();
  };
  failure = run_phases();

  ScenarioResult result;
  auto& r = result.report;
  r["scenario"] = "services";
  r["agents"] = agents_;
  r["tasks"] = tasks_;
  r["lost_agents"] = lost_agents_;
  r["channels"] = channels_;
  r["sample_interval_ms"] = Round(static_cast<double>(sample_.count()) / 1000, 1);
  nlohmann::ordered_json phase_json = nlohmann::ordered_json::object();
  for (const PhaseResult& p : phases) phase_json[p.name] = p.ToJson();
  r["phases"] = phase_json;
  r["agent_polls"] = shared.polls.load();
  r["agent_reports"] = shared.reports.load();
  r["poll_errors"] = shared.poll_errors.load();
  r["report_errors"] = shared.report_errors.load();
  r["agents_gave_up"] = shared.gave_up.load();

  std::string summary = fmt::format("services: {} agents, service of {} tasks\n", agents_, tasks_);
  for (const PhaseResult& p : phases) {
    summary += fmt::format("  {:<16} {:>8.2f} s{}  berthd {}\n", p.name, p.seconds, p.done ? "" : " (timed out)",
                           p.berthd_cpu_seconds >= 0 ? fmt::format("{:.2f} CPU-s", p.berthd_cpu_seconds) : "CPU n/a");
  }
  if (!phases.empty() && phases.back().name == "lost_agents") {
    const auto& x = phases.back().extra;
    summary += fmt::format(
        "  lost_agents: killed instances disconnected from {} s to {} s, first replacement RUNNING at {} s; "
        "berthd's runningCount at the end {}\n",
        x["first_disconnected_seconds"].dump(), x["all_disconnected_seconds"].dump(),
        x["first_replacement_running_seconds"].dump(), phases.back().last.running_count());
  }
  summary += fmt::format("  agents: {} polls, {} reports, {} poll errors, {} report errors\n", shared.polls.load(),
                         shared.reports.load(), shared.poll_errors.load(), shared.report_errors.load());
  result.summary = summary;
  if (!failure.ok()) {
    result.ok = false;
    result.failure = failure.ToString();
  } else if (shared.poll_errors.load() + shared.report_errors.load() > 0) {
    result.ok = false;
    result.failure = "some agent calls failed";
  }

  // Stop every agent and wait for the callbacks, which reference this frame.
  RETURN_IF_ERROR(sim->Stop());
  return result;
}

}  // namespace

std::unique_ptr<Scenario> NewServicesScenario() { return std::make_unique<ServicesScenario>(); }

}  // namespace berth::bench
