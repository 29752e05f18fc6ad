#include "src/bench/sim_fleet.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "berth/common/status.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

// Consecutive failed polls after which a simulated agent gives up (a benchmark reports errors
// rather than retrying through them).
constexpr int kMaxConsecutiveErrors = 3;

}  // namespace

void SimAgent::Kill() {
  absl::MutexLock lock(&mu_);
  killed_ = true;
  if (poll_context_ != nullptr) poll_context_->TryCancel();
}

bool SimAgent::killed() const {
  absl::MutexLock lock(&mu_);
  return killed_;
}

void SimAgent::Poll() {
  grpc::ClientContext* context;
  {
    absl::MutexLock lock(&mu_);
    if (killed_) return;
    poll_context_ = std::make_unique<grpc::ClientContext>();
    context = poll_context_.get();
  }
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(shared_->wait_millis + 30000));
  context->set_wait_for_ready(true);
  poll_request_.set_cluster(shared_->cluster);
  poll_request_.set_container_instance(instance_arn_);
  poll_request_.set_known_version(known_version_);
  poll_request_.set_wait_millis(shared_->wait_millis);
  poll_request_.set_accepts_deltas(true);
  poll_response_.Clear();
  shared_->in_flight.fetch_add(1);
  stub_->async()->Poll(context, &poll_request_, &poll_response_, [this](grpc::Status s) {
    OnPolled(s);
    shared_->in_flight.fetch_sub(1);
  });
}

void SimAgent::OnPolled(const grpc::Status& status) {
  if (killed()) return;
  if (!status.ok()) {
    shared_->poll_errors.fetch_add(1, std::memory_order_relaxed);
    if (++consecutive_errors_ >= kMaxConsecutiveErrors) {
      shared_->gave_up.fetch_add(1);
      return;
    }
    return Poll();
  }
  consecutive_errors_ = 0;
  shared_->polls.fetch_add(1, std::memory_order_relaxed);
  known_version_ = poll_response_.version();
  if (!settled_) {
    settled_ = true;
    shared_->settled.fetch_add(1, std::memory_order_relaxed);
  }
  if (poll_response_.unchanged()) return Poll();
  shared_->changed_polls.fetch_add(1, std::memory_order_relaxed);

  // Converge to the desired state, and report again whatever the control plane does not know yet
  // (a lost report shows as a lagging known_status).
  report_request_.Clear();
  report_request_.set_cluster(shared_->cluster);
  report_request_.set_container_instance(instance_arn_);
  if (poll_response_.delta()) {
    // A delta lists only what changed, and names what the agent should forget.
    for (const std::string& arn : poll_response_.removed_task_arns()) ForgetTask(arn);
  } else {
    // A full listing: a task it does not list was seen STOPPED; forget it.
    absl::flat_hash_map<std::string, HeldTask> listed;
    listed.reserve(static_cast<size_t>(poll_response_.tasks_size()));
    for (const v1::DesiredTask& task : poll_response_.tasks()) {
      auto it = tasks_.find(task.task_arn());
      if (it != tasks_.end()) listed.emplace(task.task_arn(), it->second);
    }
    tasks_ = std::move(listed);
    running_count_ = 0;
    for (const auto& [arn, held] : tasks_) running_count_ += held.desired_running && held.acked_running ? 1 : 0;
  }
  for (const v1::DesiredTask& task : poll_response_.tasks()) {
    const bool want_running = task.desired_status() == "RUNNING";
    auto [it, inserted] = tasks_.try_emplace(task.task_arn());
    HeldTask& held = it->second;
    if (shared_->on_first_seen && (inserted || held.desired_running != want_running)) {
      shared_->on_first_seen(task.task_arn(), want_running);
    }
    SetTask(held, want_running, held.acked_running);
    if (want_running) {
      if (held.acked_running && task.known_status() == "RUNNING") continue;
      v1::TaskStateChange* change = report_request_.add_tasks();
      change->set_task_arn(task.task_arn());
      change->set_status("RUNNING");
      v1::ContainerStateChange* container = change->add_containers();
      container->set_name(shared_->container);
      container->set_status("RUNNING");
    } else if (task.desired_status() == "STOPPED") {
      if (task.known_status() == "STOPPED") continue;
      v1::TaskStateChange* change = report_request_.add_tasks();
      change->set_task_arn(task.task_arn());
      change->set_status("STOPPED");
      change->set_stop_code(task.stop_code());
      change->set_stopped_reason(task.stopped_reason());
      v1::ContainerStateChange* container = change->add_containers();
      container->set_name(shared_->container);
      container->set_status("STOPPED");
      container->set_exit_code(0);
    }
  }
  PublishRunning();
  if (report_request_.tasks_size() == 0) return Poll();
  Report();
}

void SimAgent::Report() {
  report_context_ = std::make_unique<grpc::ClientContext>();
  report_context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  report_context_->set_wait_for_ready(true);
  report_response_.Clear();
  shared_->in_flight.fetch_add(1);
  stub_->async()->ReportStateChanges(report_context_.get(), &report_request_, &report_response_,
                                     [this](grpc::Status s) {
                                       OnReported(s);
                                       shared_->in_flight.fetch_sub(1);
                                     });
}

void SimAgent::OnReported(const grpc::Status& status) {
  if (status.ok()) {
    shared_->reports.fetch_add(1, std::memory_order_relaxed);
    int64_t running = 0;
    int64_t stopped = 0;
    for (const v1::TaskStateChange& change : report_request_.tasks()) {
      const bool is_running = change.status() == "RUNNING";
      HeldTask& held = tasks_[change.task_arn()];
      SetTask(held, held.desired_running, is_running);
      (is_running ? running : stopped) += 1;
    }
    shared_->reported_running.fetch_add(running, std::memory_order_relaxed);
    shared_->reported_stopped.fetch_add(stopped, std::memory_order_relaxed);
    for (const std::string& arn : report_response_.unknown_task_arns()) ForgetTask(arn);
    PublishRunning();
  } else {
    shared_->report_errors.fetch_add(1, std::memory_order_relaxed);
    known_version_ = 0;  // the next poll answers at once and shows what is still unreported
  }
  Poll();
}

void SimAgent::SetTask(HeldTask& task, bool desired_running, bool acked_running) {
  running_count_ += (desired_running && acked_running ? 1 : 0) - (task.desired_running && task.acked_running ? 1 : 0);
  task.desired_running = desired_running;
  task.acked_running = acked_running;
}

void SimAgent::ForgetTask(const std::string& task_arn) {
  auto it = tasks_.find(task_arn);
  if (it == tasks_.end()) return;
  SetTask(it->second, false, false);
  tasks_.erase(it);
}

void SimAgent::PublishRunning() {
  const int before = running_.exchange(running_count_, std::memory_order_relaxed);
  shared_->running.fetch_add(running_count_ - before, std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<SimFleet>> SimFleet::Start(const Target& target, const SimFleetSpec& spec,
                                                          const Console& console) {
  std::unique_ptr<SimFleet> fleet(new SimFleet());
  fleet->shared_.cluster = spec.cluster;
  fleet->shared_.container = spec.container;
  fleet->shared_.wait_millis = spec.wait_millis;
  fleet->shared_.on_first_seen = spec.on_first_seen;
  for (int i = 0; i < std::max(1, spec.channels); ++i) {
    fleet->channels_.push_back(target.NewChannel());
    fleet->stubs_.push_back(v1::AgentService::NewStub(fleet->channels_.back()));
  }
  console.Note("registering {} instances ({} CPU units, {} MiB, {} zones) through AgentService.RegisterInstance",
               spec.agents, spec.cpu_units, spec.memory_mib, spec.zones);
  std::vector<std::string> arns;
  RETURN_IF_ERROR(fleet->Register(spec, &arns));
  fleet->agents_.reserve(arns.size());
  for (size_t i = 0; i < arns.size(); ++i) {
    fleet->agents_.push_back(
        std::make_unique<SimAgent>(fleet->stubs_[i % fleet->stubs_.size()].get(), &fleet->shared_, std::move(arns[i])));
  }
  for (auto& a : fleet->agents_) a->Start();
  // Every agent's first poll is answered at once (it knows no version yet). Until they all are, the
  // fleet's own start-up (10,000 calls and as many answers) loads both processes; a scenario
  // measured from here should see a fleet that sits in its long polls, as a running one does.
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (fleet->shared_.settled.load() + fleet->shared_.gave_up.load() < spec.agents) {
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(fmt::format("only {} of {} agents had a first poll answered in 120 s",
                                                     fleet->shared_.settled.load(), spec.agents));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  console.Note("{} simulated agents polling over {} connections", spec.agents, fleet->stubs_.size());
  return fleet;
}

absl::Status SimFleet::Register(const SimFleetSpec& spec, std::vector<std::string>* arns) {
  arns->assign(static_cast<size_t>(spec.agents), "");
  std::atomic<int> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto worker = [&](v1::AgentService::Stub* stub) {
    for (int i = next.fetch_add(1); i < spec.agents; i = next.fetch_add(1)) {
      v1::RegisterContainerInstanceRequest request;
      request.set_cluster(spec.cluster);
      for (auto [name, value] : {std::pair<const char*, int32_t>{"CPU", spec.cpu_units}, {"MEMORY", spec.memory_mib}}) {
        v1::Resource* r = request.add_total_resources();
        r->set_name(name);
        r->set_type("INTEGER");
        r->set_integer_value(value);
      }
      v1::Attribute* zone = request.add_attributes();
      zone->set_name("ecs.availability-zone");
      zone->set_value(fmt::format("az-{}", i % std::max(1, spec.zones) + 1));
      v1::RegisterContainerInstanceResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      context.set_wait_for_ready(true);
      grpc::Status status = stub->RegisterInstance(&context, request, &response);
      absl::MutexLock lock(&mu);
      if (!status.ok()) {
        if (first_error.ok()) {
          first_error =
              absl::Status(FromGrpc(status).code(), fmt::format("RegisterInstance #{}: {}", i, status.error_message()));
        }
        return;
      }
      (*arns)[static_cast<size_t>(i)] = response.container_instance().container_instance_arn();
    }
  };
  std::vector<std::thread> threads;
  const int workers = std::min({spec.register_parallelism, static_cast<int>(stubs_.size()) * 4, spec.agents});
  for (int w = 0; w < workers; ++w) threads.emplace_back(worker, stubs_[static_cast<size_t>(w) % stubs_.size()].get());
  for (auto& t : threads) t.join();
  return first_error;
}

absl::Status SimFleet::Stop() {
  for (auto& a : agents_) a->Kill();
  const auto deadline = Clock::now() + std::chrono::seconds(90);  // a report in flight has 60 s
  while (shared_.in_flight.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (shared_.in_flight.load() > 0) return absl::DeadlineExceededError("agent calls still in flight after cancelling");
  return absl::OkStatus();
}

SimFleet::~SimFleet() {
  absl::Status s = Stop();
  if (!s.ok()) {
    // The callbacks reference this object: freeing it under them would be undefined behaviour.
    fmt::print(stderr, "berth-bench: {}\n", s.ToString());
    std::abort();
  }
}

nlohmann::ordered_json SimFleet::CountersJson() const {
  nlohmann::ordered_json j;
  j["polls"] = shared_.polls.load();
  j["changed_polls"] = shared_.changed_polls.load();
  j["reports"] = shared_.reports.load();
  j["reported_running"] = shared_.reported_running.load();
  j["reported_stopped"] = shared_.reported_stopped.load();
  j["poll_errors"] = shared_.poll_errors.load();
  j["report_errors"] = shared_.report_errors.load();
  j["agents_gave_up"] = shared_.gave_up.load();
  return j;
}

}  // namespace berth::bench
