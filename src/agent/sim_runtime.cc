#include "src/agent/sim_runtime.h"

#include <chrono>

#include "berth/common/strings.h"

namespace berth::agent {
namespace {

const std::string* Env(const v1::ContainerDefinition& def, std::string_view name) {
  const std::string* found = nullptr;
  for (const auto& kv : def.environment()) {
    if (kv.name() == name) found = &kv.value();  // the last one wins, as in Docker
  }
  return found;
}

double EnvSeconds(const v1::ContainerDefinition& def, std::string_view name, double fallback) {
  const std::string* v = Env(def, name);
  if (v == nullptr) return fallback;
  try {
    return std::stod(*v);
  } catch (...) {
    return fallback;
  }
}

int64_t Micros(double seconds) { return static_cast<int64_t>(seconds * 1e6); }

}  // namespace

SimRuntime::SimRuntime(Options options, const Clock* clock)
    : options_(options), clock_(clock), rng_(options.seed), timer_thread_([this] { TimerLoop(); }) {}

SimRuntime::~SimRuntime() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  timer_thread_.join();
}

void SimRuntime::SetListener(std::function<void(const std::string&)> listener) {
  // Waits for a call in progress: after this returns the old listener is never called again.
  std::lock_guard lock(listener_mu_);
  listener_ = std::move(listener);
}

void SimRuntime::FailPulls(const std::string& image, const std::string& message) {
  std::lock_guard lock(mu_);
  pull_errors_[image] = message;
}

size_t SimRuntime::container_count() const {
  std::lock_guard lock(mu_);
  return containers_.size();
}

void SimRuntime::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (timers_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const int64_t now = clock_->MonotonicMicros();
    auto first = timers_.begin();
    if (first->first > now) {
      cv_.wait_for(lock, std::chrono::microseconds(first->first - now));
      continue;
    }
    std::string id = first->second;
    timers_.erase(first);
    lock.unlock();
    {
      std::lock_guard listener_lock(listener_mu_);
      if (listener_) listener_(id);
    }
    lock.lock();
  }
}

void SimRuntime::Schedule(const std::string& id, int64_t at_us) {
  timers_.emplace(at_us, id);
  cv_.notify_all();
}

void SimRuntime::Advance(Container& c, int64_t now_us) {
  if (c.exit_code || !c.started) return;
  if (c.exits_at_us >= 0 && now_us >= c.exits_at_us) {
    c.exit_code = c.natural_exit_code;
    c.finished_at = clock_->NowSeconds();
  }
}

absl::Status SimRuntime::Pull(const ContainerSpec& spec) {
  if (const std::string* err = Env(spec.definition, "BERTH_SIM_PULL_ERROR")) return absl::NotFoundError(*err);
  {
    std::lock_guard lock(mu_);
    auto it = pull_errors_.find(spec.definition.image());
    if (it != pull_errors_.end()) return absl::NotFoundError(it->second);
  }
  if (options_.pull_delay_seconds > 0) {
    std::unique_lock lock(mu_);
    if (cancel_cv_.wait_for(lock, std::chrono::microseconds(Micros(options_.pull_delay_seconds)),
                            [this] { return cancelled_; })) {
      return absl::CancelledError("the agent is stopping: pull abandoned");
    }
  }
  return absl::OkStatus();
}

void SimRuntime::CancelCalls() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  cancel_cv_.notify_all();
}

absl::StatusOr<std::string> SimRuntime::Create(const ContainerSpec& spec) {
  std::lock_guard lock(mu_);
  for (const auto& [id, c] : containers_) {
    if (c.spec.name == spec.name) {
      return absl::AlreadyExistsError(StrCat("Conflict. The container name \"/", spec.name, "\" is already in use"));
    }
  }
  std::string id = StrCat("sim-", next_id_++);
  Container c;
  c.spec = spec;
  c.ignore_sigterm = Env(spec.definition, "BERTH_SIM_IGNORE_SIGTERM") != nullptr;
  containers_.emplace(id, std::move(c));
  return id;
}

absl::Status SimRuntime::Start(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return absl::NotFoundError(StrCat("No such container: ", id));
  Container& c = it->second;
  if (c.started) return absl::OkStatus();
  const auto& def = c.spec.definition;
  const int64_t now = clock_->MonotonicMicros();
  c.started = true;
  c.started_at = clock_->NowSeconds();
  c.running_at_us = now + Micros(EnvSeconds(def, "BERTH_SIM_START_DELAY", options_.start_delay_seconds));
  double exit_after = EnvSeconds(def, "BERTH_SIM_EXIT_AFTER", options_.exit_after_seconds);
  c.natural_exit_code = static_cast<int32_t>(EnvSeconds(def, "BERTH_SIM_EXIT_CODE", options_.exit_code));
  if (options_.failure_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < options_.failure_rate) {
    exit_after = 0;
    c.natural_exit_code = 1;
  }
  if (exit_after >= 0) c.exits_at_us = c.running_at_us + Micros(exit_after);
  if (def.has_health_check()) {
    const std::string* h = Env(def, "BERTH_SIM_HEALTH");
    c.health = h != nullptr && *h == "unhealthy" ? "unhealthy" : "healthy";
  }
  Schedule(id, c.running_at_us);
  if (c.exits_at_us >= 0) Schedule(id, c.exits_at_us);
  return absl::OkStatus();
}

absl::Status SimRuntime::Stop(const std::string& id, int timeout_seconds) {
  bool wait = false;
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return absl::NotFoundError(StrCat("No such container: ", id));
    Container& c = it->second;
    Advance(c, clock_->MonotonicMicros());
    if (!c.started || c.exit_code) return absl::OkStatus();
    wait = c.ignore_sigterm;
    if (!wait) {
      c.exit_code = 143;  // SIGTERM
      c.finished_at = clock_->NowSeconds();
    }
  }
  if (wait) {
    std::unique_lock lock(mu_);
    if (cancel_cv_.wait_for(lock, std::chrono::seconds(timeout_seconds), [this] { return cancelled_; })) {
      return absl::CancelledError("the agent is stopping: stop abandoned");
    }
    auto it = containers_.find(id);
    if (it != containers_.end() && !it->second.exit_code) {
      it->second.exit_code = 137;  // SIGKILL
      it->second.finished_at = clock_->NowSeconds();
    }
  }
  return absl::OkStatus();
}

absl::Status SimRuntime::Remove(const std::string& id) {
  std::lock_guard lock(mu_);
  containers_.erase(id);
  return absl::OkStatus();
}

absl::StatusOr<ContainerStatus> SimRuntime::Inspect(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(id);
  ContainerStatus out;
  if (it == containers_.end()) return out;  // kMissing
  Container& c = it->second;
  const int64_t now = clock_->MonotonicMicros();
  Advance(c, now);
  out.started_at = c.started_at;
  out.finished_at = c.finished_at;
  if (c.exit_code) {
    out.state = ContainerState::kExited;
    out.exit_code = c.exit_code;
  } else if (c.started && now >= c.running_at_us) {
    out.state = ContainerState::kRunning;
    out.health = c.health;
  } else {
    out.state = ContainerState::kCreated;
    if (c.started) out.health = c.health.empty() ? "" : "starting";
  }
  if (c.started) {
    for (const auto& p : c.spec.ports) out.bindings.push_back(p);
    for (auto& b : out.bindings) {
      if (b.host_port == 0) b.host_port = b.container_port;  // the sim "chooses" the container port
      if (b.host_ip.empty()) b.host_ip = "0.0.0.0";
    }
  }
  out.image_digest = "sha256:" + std::string(64, '0');
  return out;
}

absl::StatusOr<std::vector<ManagedContainer>> SimRuntime::ListManaged(const std::string& cluster,
                                                                      const std::string& instance_arn) {
  std::lock_guard lock(mu_);
  std::vector<ManagedContainer> out;
  for (const auto& [id, c] : containers_) {
    auto label = [&](const char* key) -> std::string {
      auto it = c.spec.labels.find(key);
      return it == c.spec.labels.end() ? std::string() : it->second;
    };
    if (label(kLabelCluster) != cluster || label(kLabelInstance) != instance_arn) continue;
    out.push_back({id, label(kLabelTaskArn), label(kLabelContainerName), c.network_holder});
  }
  return out;
}

absl::StatusOr<int64_t> SimRuntime::DiskUsage(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return absl::NotFoundError(StrCat("No such container: ", id));
  if (!it->second.started) return int64_t{0};
  return static_cast<int64_t>(EnvSeconds(it->second.spec.definition, "BERTH_SIM_DISK_USAGE_MIB", 0) * 1024 * 1024);
}

absl::StatusOr<TaskNetwork> SimRuntime::CreateTaskNetwork(const std::string& task_arn, const std::string& address,
                                                          const std::map<std::string, std::string>& labels) {
  ContainerSpec spec;
  // Named after the task: next_id_ may not be read without the lock, and two holders created at
  // once must not take the same name.
  spec.name = StrCat("berth-net-", task_arn.substr(task_arn.rfind('/') + 1));
  spec.task_arn = task_arn;
  spec.labels = labels;
  auto id = Create(spec);
  if (!id.ok()) return id.status();
  std::lock_guard lock(mu_);
  containers_[*id].network_holder = true;
  containers_[*id].started = true;
  return TaskNetwork{*id, address};
}

}  // namespace berth::agent

namespace berth::agent {

absl::Status SimRuntime::FollowOutput(const std::string& id, int64_t since_ns,
                                      const std::function<bool(OutputLine)>& on_line) {
  double rate = 0;
  int64_t bytes = 100;
  int64_t max_lines = -1;
  int64_t started_ns = 0;
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return absl::NotFoundError(StrCat("No such container: ", id));
    const auto& def = it->second.spec.definition;
    rate = EnvSeconds(def, "BERTH_SIM_LOG_RATE", options_.log_lines_per_second);
    bytes = static_cast<int64_t>(EnvSeconds(def, "BERTH_SIM_LOG_BYTES", 100));
    max_lines = static_cast<int64_t>(EnvSeconds(def, "BERTH_SIM_LOG_LINES", -1));
  }
  int64_t next = 1;  // the next line to hand over
  while (true) {
    bool exited = false;
    int64_t until_ns = 0;
    {
      std::unique_lock lock(mu_);
      if (cancelled_) return absl::CancelledError("the agent is stopping: output not followed");
      auto it = containers_.find(id);
      if (it == containers_.end()) return absl::NotFoundError(StrCat("No such container: ", id));
      Container& c = it->second;
      Advance(c, clock_->MonotonicMicros());
      if (c.started) {
        started_ns = static_cast<int64_t>(c.started_at * 1e9);
        exited = c.exit_code.has_value();
        until_ns = static_cast<int64_t>((exited ? c.finished_at : clock_->NowSeconds()) * 1e9);
      }
    }
    if (rate > 0 && started_ns > 0) {
      const int64_t due = static_cast<int64_t>(static_cast<double>(until_ns - started_ns) * rate / 1e9);
      const int64_t last = max_lines >= 0 ? std::min(due, max_lines) : due;
      for (; next <= last; ++next) {
        OutputLine line;
        line.timestamp_ns = started_ns + static_cast<int64_t>(static_cast<double>(next) * 1e9 / rate);
        if (line.timestamp_ns < since_ns) continue;
        line.text = StrCat("sim line ", next, " ");
        if (static_cast<int64_t>(line.text.size()) < bytes) line.text.resize(static_cast<size_t>(bytes), 'x');
        if (!on_line(std::move(line))) return absl::OkStatus();
      }
    }
    if (exited) return absl::OkStatus();
    std::unique_lock lock(mu_);
    if (cancel_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return cancelled_; })) {
      return absl::CancelledError("the agent is stopping: output not followed");
    }
  }
}

}  // namespace berth::agent
