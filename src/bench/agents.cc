// berth-bench agents: what idle agents cost berthd. Registers N container instances through the
// agent protocol (AgentService.RegisterInstance, as berth-agent does), then keeps N long polls
// open, one per instance, each re-polling as soon as its answer arrives — exactly the steady state
// of a fleet with nothing to do. Polls are issued with gRPC's callback API from this one process,
// spread over --channels connections; no thread is held per agent.
//
// Reported: berthd's CPU (cores, and per 1,000 agents) over the measurement window, polls answered
// per second, and how many polls came back with an error.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "berth/common/status.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "src/bench/scenario.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

class IdleAgent;

struct Shared {
  std::atomic<int64_t> polls{0};
  std::atomic<int64_t> errors{0};
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  std::string cluster;
  int wait_millis = 20000;
};

// One simulated agent's poll loop: each answer issues the next poll.
class IdleAgent {
 public:
  IdleAgent(v1::AgentService::Stub* stub, Shared* shared, std::string instance_arn)
      : stub_(stub), shared_(shared), instance_arn_(std::move(instance_arn)) {}

  void Cancel() {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr) context_->TryCancel();
  }

  void Poll() {
    grpc::ClientContext* context;
    {
      absl::MutexLock lock(&mu_);
      if (shared_->stopping.load()) return;
      context_ = std::make_unique<grpc::ClientContext>();
      context = context_.get();
    }
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(shared_->wait_millis + 10000));
    request_.set_cluster(shared_->cluster);
    request_.set_container_instance(instance_arn_);
    request_.set_known_version(known_);
    request_.set_wait_millis(shared_->wait_millis);
    response_.Clear();
    shared_->in_flight.fetch_add(1);
    stub_->async()->Poll(context, &request_, &response_, [this](grpc::Status s) {
      if (s.ok()) {
        shared_->polls.fetch_add(1, std::memory_order_relaxed);
        known_ = response_.version();
      } else {
        shared_->errors.fetch_add(1, std::memory_order_relaxed);
      }
      Poll();
      shared_->in_flight.fetch_sub(1);
    });
  }

 private:
  v1::AgentService::Stub* const stub_;
  Shared* const shared_;
  const std::string instance_arn_;
  absl::Mutex mu_;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  v1::PollRequest request_;
  v1::PollResponse response_;
  uint64_t known_ = 0;
};

class AgentsScenario final : public Scenario {
 public:
  std::string name() const override { return "agents"; }
  std::string description() const override {
    return "CPU berthd spends on N idle agents long-polling (registration through the agent protocol)";
  }
  void AddFlags(CLI::App* command) override {
    command->add_option("--agents", agents_, "Simulated agents (one container instance each)")
        ->check(CLI::Range(1, 200000))
        ->capture_default_str();
    command->add_option("--channels", channels_, "gRPC connections the agents' polls are spread over")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    command->add_option("--poll-wait-ms", wait_millis_, "Long-poll wait each agent asks for")
        ->check(CLI::Range(100, 300000))
        ->capture_default_str();
    command->add_option("--warmup", warmup_text_, "Time before measuring (every agent parked)")->capture_default_str();
    command->add_option("--duration", duration_text_, "Measurement window")->capture_default_str();
    command->add_option("--cluster", cluster_, "Cluster to register into")->capture_default_str();
  }
  absl::Status Validate() override {
    ASSIGN_OR_RETURN(warmup_, ParseDuration(warmup_text_));
    ASSIGN_OR_RETURN(duration_, ParseDuration(duration_text_));
    if (duration_.count() == 0) return absl::InvalidArgumentError("--duration must be positive");
    return absl::OkStatus();
  }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override;

 private:
  int agents_ = 1000;
  int channels_ = 16;
  int wait_millis_ = 20000;
  std::string warmup_text_ = "5s";
  std::string duration_text_ = "30s";
  std::chrono::microseconds warmup_{};
  std::chrono::microseconds duration_{};
  std::string cluster_ = "bench-agents";
};

absl::StatusOr<ScenarioResult> AgentsScenario::Run(Target& target, const Console& console) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> agent_stubs;
  for (int i = 0; i < channels_; ++i) {
    channels.push_back(target.NewChannel());
    agent_stubs.push_back(v1::AgentService::NewStub(channels.back()));
  }
  {
    auto ecs = v1::ContainerService::NewStub(channels[0]);
    grpc::ClientContext ctx;
    v1::CreateClusterRequest req;
    req.set_cluster_name(cluster_);
    v1::CreateClusterResponse resp;
    RETURN_IF_ERROR(FromGrpc(ecs->CreateCluster(&ctx, req, &resp)));
  }

  // Register every agent's instance, a few calls at a time per channel.
  console.Note("registering {} instances through AgentService.RegisterInstance", agents_);
  std::vector<std::string> arns(agents_);
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> registrars;
  for (int w = 0; w < std::min(channels_, 16); ++w) {
    registrars.emplace_back([&, w] {
      for (int i = next.fetch_add(1); i < agents_; i = next.fetch_add(1)) {
        v1::RegisterContainerInstanceRequest req;
        req.set_cluster(cluster_);
        for (auto [name, value] : {std::pair<const char*, int>{"CPU", 2048}, {"MEMORY", 4096}}) {
          auto* r = req.add_total_resources();
          r->set_name(name);
          r->set_type("INTEGER");
          r->set_integer_value(value);
        }
        auto* az = req.add_attributes();
        az->set_name("ecs.availability-zone");
        az->set_value("az-" + std::to_string(i % 3 + 1));
        v1::RegisterContainerInstanceResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        if (agent_stubs[w]->RegisterInstance(&ctx, req, &resp).ok()) {
          arns[i] = resp.container_instance().container_instance_arn();
        } else {
          failed.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : registrars) t.join();
  if (failed.load() > 0) return absl::UnavailableError(fmt::format("{} registrations failed", failed.load()));

  Shared shared;
  shared.cluster = cluster_;
  shared.wait_millis = wait_millis_;
  std::vector<std::unique_ptr<IdleAgent>> fleet;
  fleet.reserve(agents_);
  for (int i = 0; i < agents_; ++i) {
    fleet.push_back(std::make_unique<IdleAgent>(agent_stubs[i % channels_].get(), &shared, arns[i]));
  }
  console.Note("{} agents polling over {} connections (wait {} ms)", agents_, channels_, wait_millis_);
  for (auto& a : fleet) a->Poll();
  std::this_thread::sleep_for(warmup_);

  const std::optional<pid_t> pid = target.berthd_pid();
  const auto start = Clock::now();
  const int64_t polls_before = shared.polls.load();
  const int64_t errors_before = shared.errors.load();
  const double self_before = SelfCpuSeconds();
  const double berthd_before = pid ? ProcessCpuSeconds(*pid).value_or(-1) : -1;
  const std::optional<double> machine_before = MachineBusyCpuSeconds();
  std::this_thread::sleep_for(duration_);
  const double seconds = Seconds(Clock::now() - start);
  const int64_t polls = shared.polls.load() - polls_before;
  const int64_t errors = shared.errors.load() - errors_before;
  const double self_cores = (SelfCpuSeconds() - self_before) / seconds;
  const double berthd_after = pid ? ProcessCpuSeconds(*pid).value_or(-1) : -1;
  const std::optional<double> machine_after = MachineBusyCpuSeconds();

  shared.stopping = true;  // answers issue no new polls from here on

  ScenarioResult result;
  auto& r = result.report;
  r["scenario"] = "agents";
  r["agents"] = agents_;
  r["channels"] = channels_;
  r["poll_wait_ms"] = wait_millis_;
  r["seconds"] = Round(seconds, 2);
  r["polls_per_second"] = Round(polls / seconds, 1);
  r["poll_errors"] = errors;
  if (berthd_before >= 0 && berthd_after >= 0) {
    const double cores = (berthd_after - berthd_before) / seconds;
    r["berthd_cores"] = Round(cores, 4);
    r["berthd_cores_per_1000_agents"] = Round(cores * 1000.0 / agents_, 4);
    r["berthd_cpu_us_per_poll"] = polls > 0 ? Round((berthd_after - berthd_before) * 1e6 / polls, 1) : 0;
  } else {
    r["berthd_cores"] = nullptr;
  }
  r["bench_cores"] = Round(self_cores, 3);
  if (machine_before && machine_after) r["machine_busy_cores"] = Round((*machine_after - *machine_before) / seconds, 3);
  result.summary = fmt::format(
      "agents: {} idle agents, {:.0f} polls/s, berthd {} cores ({} per 1,000 agents), {} poll errors\n", agents_,
      polls / seconds, r["berthd_cores"].dump(),
      r.contains("berthd_cores_per_1000_agents") ? r["berthd_cores_per_1000_agents"].dump() : std::string("n/a"),
      errors);
  if (errors > 0) {
    result.ok = false;
    result.failure = fmt::format("{} polls failed", errors);
  }
  // Cancel every parked poll and wait for the callbacks, which reference this frame.
  for (auto& a : fleet) a->Cancel();
  const auto cancel_deadline = Clock::now() + std::chrono::seconds(30);
  while (shared.in_flight.load() > 0 && Clock::now() < cancel_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (shared.in_flight.load() > 0) return absl::DeadlineExceededError("polls still in flight after cancelling them");
  return result;
}

}  // namespace

std::unique_ptr<Scenario> NewAgentsScenario() { return std::make_unique<AgentsScenario>(); }

}  // namespace berth::bench
