#include "src/agent/task_engine.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "berth/common/logging.h"
#include "berth/common/strings.h"

namespace berth::agent {
namespace {

std::string TaskId(const std::string& arn) { return arn.substr(arn.rfind('/') + 1); }

// 128 bits from OpenSSL's CSPRNG, as hex: a task's credentials id.
std::string RandomHex128() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string Sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-');
  return out;
}

// The container definition with the task's overrides applied.
v1::ContainerDefinition Merge(const v1::ContainerDefinition& def, const v1::TaskOverride& overrides) {
  v1::ContainerDefinition out = def;
  for (const auto& o : overrides.container_overrides()) {
    if (o.name() != def.name()) continue;
    if (!o.command().empty()) *out.mutable_command() = o.command();
    for (const auto& kv : o.environment()) {
      bool replaced = false;
      for (auto& existing : *out.mutable_environment()) {
        if (existing.name() == kv.name()) {
          existing.set_value(kv.value());
          replaced = true;
        }
      }
      if (!replaced) *out.add_environment() = kv;
    }
    if (o.has_cpu()) out.set_cpu(o.cpu());
    if (o.has_memory()) out.set_memory(o.memory());
    if (o.has_memory_reservation()) out.set_memory_reservation(o.memory_reservation());
  }
  return out;
}

std::string HealthName(const std::string& runtime_health) {
  if (runtime_health == "healthy") return "HEALTHY";
  if (runtime_health == "unhealthy") return "UNHEALTHY";
  return "UNKNOWN";
}

}  // namespace

TaskEngine::TaskEngine(EngineOptions options, Runtime* runtime, const Clock* clock, ReportFn report)
    : options_(std::move(options)),
      runtime_(runtime),
      clock_(clock),
      report_(std::move(report)),
      pool_(options_.max_workers) {
  runtime_->SetListener([this](const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = task_of_container_.find(id);
    if (it == task_of_container_.end()) return;
    auto t = tasks_.find(it->second);
    if (t != tasks_.end()) Enqueue(*t->second);
  });
}

TaskEngine::~TaskEngine() {
  Stop();
  runtime_->SetListener(nullptr);
}

void TaskEngine::Start() {
  std::lock_guard lock(mu_);
  started_ = true;
  for (auto& [arn, t] : tasks_) {
    t->queued = false;  // marked by an Enqueue before Start: submit it now
    Enqueue(*t);
  }
}

void TaskEngine::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  // Passes in runtime calls finish their call (a pass stops at its next step); queued ones are
  // dropped: the state file and the runtime's labels hold what a restart needs.
  pool_.Stop();
}

void TaskEngine::Enqueue(TaskRun& task) {
  if (task.busy) {
    task.dirty = true;
    return;
  }
  if (task.queued) return;
  task.queued = true;
  if (!started_ || stopping_) return;
  ++passes_pending_;
  pool_.Submit([this, arn = task.arn] { RunPass(arn); });
}

void TaskEngine::RunPass(const std::string& arn) {
  Reconcile(arn);
  std::lock_guard lock(mu_);
  if (--passes_pending_ == 0) idle_cv_.notify_all();
}

void TaskEngine::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] {
    if (passes_pending_ != 0) return false;
    for (const auto& [arn, t] : tasks_) {
      if (t->busy || t->dirty) return false;
    }
    return true;
  });
}

absl::Status TaskEngine::PullShared(const ContainerSpec& spec, std::unique_lock<std::mutex>& lock) {
  std::string key = spec.definition.image();
  if (spec.definition.has_repository_credentials()) {
    key += StrCat("\n", spec.definition.repository_credentials().credentials_parameter());
  }
  if (auto it = pulls_.find(key); it != pulls_.end()) {
    std::shared_ptr<PullFlight> flight = it->second;
    pull_cv_.wait(lock, [&flight] { return flight->done; });
    return flight->status;
  }
  auto flight = std::make_shared<PullFlight>();
  pulls_.emplace(key, flight);
  lock.unlock();
  absl::Status status = runtime_->Pull(spec);
  lock.lock();
  flight->status = status;
  flight->done = true;
  pulls_.erase(key);
  pull_cv_.notify_all();
  return status;
}

void TaskEngine::Reconcile(const std::string& arn) {
  std::unique_lock lock(mu_);
  auto it = tasks_.find(arn);
  if (it == tasks_.end()) return;
  TaskRun& t = *it->second;
  t.queued = false;
  if (t.busy) {
    t.dirty = true;
    return;
  }
  t.busy = true;
  do {
    t.dirty = false;
    Step(t, lock);
    EmitIfChanged(t);
  } while (t.dirty && !stopping_);
  t.busy = false;
  Persist();
}

std::string TaskEngine::NetworkMode(const TaskRun& t) const {
  return t.definition.has_network_mode() ? t.definition.network_mode() : "bridge";
}

ContainerSpec TaskEngine::MakeSpec(const TaskRun& t, const ContainerRun& c) const {
  ContainerSpec spec;
  const v1::TaskDefinition& td = t.definition;
  spec.name =
      StrCat("berth-", Sanitize(td.family()), "-", td.revision(), "-", Sanitize(c.def.name()), "-", TaskId(t.arn));
  spec.task_arn = t.arn;
  spec.definition = c.def;
  spec.network_mode = NetworkMode(t);
  spec.network_container = t.network.holder_id;
  spec.task_cpu = t.task_cpu;
  spec.task_memory = t.task_memory;
  spec.cgroup_parent = t.cgroup_parent;
  if (spec.network_mode == "bridge") {
    for (const auto& pm : c.def.port_mappings()) {
      if (pm.has_host_port() && pm.host_port() != 0) {
        spec.ports.push_back({pm.container_port(), pm.host_port(), pm.protocol() == "udp" ? "udp" : "tcp", ""});
      }
    }
    for (const auto& pm : c.def.port_mappings()) {
      if (pm.has_host_port() && pm.host_port() != 0) continue;
      const std::string protocol = pm.protocol() == "udp" ? "udp" : "tcp";
      int32_t lo = 0;
      int32_t hi = 0;
      if (!PortSpan(pm.container_port(), pm.has_container_port_range(), pm.container_port_range(), &lo, &hi)) continue;
      for (int32_t port = lo; port <= hi; ++port) {
        // The host port berthd chose at placement; without one, the runtime chooses.
        int32_t host_port = 0;
        for (const auto& a : t.host_ports) {
          if (a.container_name() == c.def.name() && a.container_port() == port && a.protocol() == protocol) {
            host_port = a.host_port();
          }
        }
        spec.ports.push_back({port, host_port, protocol, ""});
      }
    }
  }
  for (const auto& v : td.volumes()) {
    VolumeSpec vs;
    vs.name = v.name();
    if (v.has_docker_volume_configuration()) {
      const auto& dv = v.docker_volume_configuration();
      // scope "task" (the default): a volume per task; "shared": one volume by that name.
      vs.docker_name = dv.scope() == "shared" ? v.name() : StrCat("berth-", TaskId(t.arn), "-", Sanitize(v.name()));
      vs.driver = dv.driver();
      vs.driver_opts.insert(dv.driver_opts().begin(), dv.driver_opts().end());
      vs.labels.insert(dv.labels().begin(), dv.labels().end());
    } else if (v.has_efs_volume_configuration()) {
      // A shared file system: a Docker local-driver volume of this task mounting it.
      auto fs = std::find_if(t.file_systems.begin(), t.file_systems.end(),
                             [&](const v1::SharedFileSystem& f) { return f.volume_name() == v.name(); });
      vs.docker_name = StrCat("berth-", TaskId(t.arn), "-", Sanitize(v.name()));
      vs.driver = "local";
      if (fs != t.file_systems.end()) {
        vs.driver_opts = {
            {"type", fs->type() == "bind" ? "none" : fs->type()}, {"device", fs->device()}, {"o", fs->options()}};
      } else {
        vs.missing_file_system = true;
      }
    } else if (v.has_host() && v.host().has_source_path()) {
      vs.host_path = v.host().source_path();
    } else {
      // A host volume without a path: Docker-managed, shared by the task's containers.
      vs.docker_name = StrCat("berth-", TaskId(t.arn), "-", Sanitize(v.name()));
    }
    spec.volumes.push_back(std::move(vs));
  }
  spec.labels = {{kLabelCluster, options_.cluster},
                 {kLabelInstance, options_.instance_arn},
                 {kLabelTaskArn, t.arn},
                 {kLabelContainerName, c.def.name()},
                 {kLabelTaskDefinition, StrCat(td.family(), ":", td.revision())}};
  for (const auto& [k, v] : c.def.docker_labels()) spec.labels.emplace(k, v);
  if (!options_.credentials_endpoint.empty() && !t.credentials_id.empty()) {
    const std::string path = StrCat("/v2/credentials/", t.credentials_id);
    auto* env = spec.definition.add_environment();
    if (options_.credentials_endpoint == "http://169.254.170.2") {
      env->set_name("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
      env->set_value(path);
    } else {
      env->set_name("AWS_CONTAINER_CREDENTIALS_FULL_URI");
      env->set_value(options_.credentials_endpoint + path);
    }
  }
  return spec;
}

std::string TaskEngine::RoleOf(const TaskRun& t) {
  return t.overrides.task_role_arn().empty() ? t.definition.task_role_arn() : t.overrides.task_role_arn();
}

std::optional<TaskEngine::CredentialsOwner> TaskEngine::CredentialsOwnerOf(const std::string& credentials_id) const {
  if (credentials_id.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  for (const auto& [arn, t] : tasks_) {
    if (t->credentials_id.size() != credentials_id.size() ||
        CRYPTO_memcmp(t->credentials_id.data(), credentials_id.data(), credentials_id.size()) != 0 ||
        t->status == "STOPPED" || RoleOf(*t).empty()) {
      continue;
    }
    return CredentialsOwner{.task_arn = arn, .role_arn = RoleOf(*t)};
  }
  return std::nullopt;
}

namespace {
// An IPv4 CIDR with a prefix of `min_bits` to 30: its network address (host order) and prefix.
bool ParseCidr(const std::string& cidr, int min_bits, uint32_t* net, int* bits) {
  const size_t slash = cidr.find('/');
  in_addr base{};
  if (slash == std::string::npos || inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &base) != 1 ||
      !ParseInt(cidr.substr(slash + 1), bits) || *bits < min_bits || *bits > 30) {
    return false;
  }
  *net = ntohl(base.s_addr) & (~0u << (32 - *bits));
  return true;
}
}  // namespace

std::string TaskEngine::AllocateAddress() const {
  uint32_t subnet = 0, net = 0;
  int subnet_bits = 0, bits = 0;
  if (!ParseCidr(options_.awsvpc_cidr, 16, &subnet, &subnet_bits)) return "";
  if (options_.awsvpc_range.empty()) {
    net = subnet;
    bits = subnet_bits;
  } else if (!ParseCidr(options_.awsvpc_range, subnet_bits, &net, &bits) ||
             (net & (~0u << (32 - subnet_bits))) != subnet) {
    return "";  // not inside the network
  }
  const uint32_t size = 1u << (32 - bits);
  std::set<std::string> used;
  for (const auto& [arn, t] : tasks_) {
    if (!t->network.address.empty() && !t->removed) used.insert(t->network.address);
  }
  // Never the network's .0, its gateway .1, or its broadcast address.
  const uint32_t broadcast = subnet + (1u << (32 - subnet_bits)) - 1;
  for (uint32_t host = 0; host < size; ++host) {
    const uint32_t address = net + host;
    if (address == subnet || address == subnet + 1 || address == broadcast) continue;
    in_addr a{htonl(address)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof(buf));
    if (!used.contains(buf)) return buf;
  }
  return "";
}

void TaskEngine::Fail(TaskRun& t, ContainerRun* c, const std::string& reason) {
  log::Warn("task {}: {}", t.arn, reason);
  if (!t.stop_requested) {
    t.stop_requested = true;
    t.stop_code = "TaskFailedToStart";
    t.stopped_reason = reason.substr(0, 1024);
  }
  if (c != nullptr && c->reason.empty()) c->reason = reason.substr(0, 1024);
  t.dirty = true;
}

TaskEngine::DepState TaskEngine::Dependencies(const TaskRun& t, const ContainerRun& c, std::string* why) const {
  DepState result = DepState::kReady;
  for (const auto& dep : c.def.depends_on()) {
    const ContainerRun* d = nullptr;
    for (const auto& other : t.containers) {
      if (other.def.name() == dep.container_name()) d = &other;
    }
    if (d == nullptr) {
      *why = StrCat("container ", c.def.name(), " depends on ", dep.container_name(), ", which the task does not have");
      return DepState::kNever;
    }
    const std::string& cond = dep.condition();
    const bool exited = d->status == "STOPPED";
    if (cond == "START") {
      if (!d->started) result = DepState::kWait;
    } else if (cond == "COMPLETE") {
      if (!exited) result = DepState::kWait;
    } else if (cond == "SUCCESS") {
      if (exited && d->exit_code.value_or(-1) != 0) {
        *why = StrCat("dependency condition SUCCESS of container ", c.def.name(), " on ", d->def.name(),
                      " cannot be met: it exited with code ", d->exit_code.value_or(-1));
        return DepState::kNever;
      }
      if (!exited) result = DepState::kWait;
    } else if (cond == "HEALTHY") {
      if (!d->def.has_health_check()) {
        *why = StrCat("dependency condition HEALTHY of container ", c.def.name(), " on ", d->def.name(),
                      " cannot be met: it has no healthCheck");
        return DepState::kNever;
      }
      if (exited) {
        *why = StrCat("dependency condition HEALTHY of container ", c.def.name(), " on ", d->def.name(),
                      " cannot be met: it exited");
        return DepState::kNever;
      }
      if (d->health != "HEALTHY") result = DepState::kWait;
    } else {
      *why = StrCat("container ", c.def.name(), ": unknown dependsOn condition '", cond, "'");
      return DepState::kNever;
    }
  }
  return result;
}

void TaskEngine::Refresh(TaskRun& t, ContainerRun& c, const ContainerStatus& s) {
  if (!s.image_digest.empty()) c.image_digest = s.image_digest;
  if (s.state == ContainerState::kRunning) {
    if (c.status == "PENDING") c.status = "RUNNING";
    if (!s.bindings.empty()) c.bindings = s.bindings;
    if (c.def.has_health_check()) {
      std::string h = HealthName(s.health);
      if (h != c.health) {
        c.health = h;
        t.dirty = true;  // a HEALTHY dependency may now be met
      }
    }
  } else if (s.state == ContainerState::kExited || (s.state == ContainerState::kMissing && c.started)) {
    if (c.status != "STOPPED") {
      c.status = "STOPPED";
      c.exit_code = s.exit_code;
      if (s.state == ContainerState::kMissing && c.reason.empty()) c.reason = "the container disappeared";
      if (!s.error.empty() && c.reason.empty()) c.reason = s.error;
      if (c.essential && t.status != "STOPPED" && !t.stop_requested && t.desired == "RUNNING") {
        t.stop_requested = true;
        t.stop_code = "EssentialContainerExited";
        t.stopped_reason = "Essential container in task exited";
      }
      t.dirty = true;
    }
  }
}

void TaskEngine::Step(TaskRun& t, std::unique_lock<std::mutex>& lock) {
  if (!t.have_definition || t.removed) return;
  if (t.desired == "STOPPED" || t.stop_requested) return StopTask(t, lock);
  if (t.status == "STOPPED") return;
  auto wants_stop = [&t] { return t.desired == "STOPPED" || t.stop_requested; };

  if (!t.pulled) {
    if (!t.pull_started_at) t.pull_started_at = clock_->NowSeconds();
    EmitIfChanged(t);
    std::set<std::string> images;
    for (size_t i = 0; i < t.containers.size(); ++i) {
      if (!images.insert(t.containers[i].def.image()).second) continue;
      ContainerSpec spec = MakeSpec(t, t.containers[i]);
      absl::Status s = PullShared(spec, lock);
      if (absl::IsCancelled(s)) return;  // the agent is stopping (Runtime::CancelCalls)
      if (!s.ok()) {
        return Fail(t, &t.containers[i],
                    StrCat("CannotPullContainerError: pull image ", spec.definition.image(), ": ", s.message()));
      }
      if (wants_stop()) {
        t.dirty = true;
        return;
      }
    }
    t.pulled = true;
    t.pull_stopped_at = clock_->NowSeconds();
  }

  if (NetworkMode(t) == "awsvpc" && t.network.holder_id.empty()) {
    std::string address = AllocateAddress();
    if (address.empty()) return Fail(t, nullptr, StrCat("no free address in ", options_.awsvpc_cidr, " for the task"));
    t.network.address = address;  // reserved while the call runs
    std::map<std::string, std::string> labels = {{kLabelCluster, options_.cluster},
                                                 {kLabelInstance, options_.instance_arn},
                                                 {kLabelTaskArn, t.arn},
                                                 {kLabelNetworkHolder, "true"}};
    lock.unlock();
    auto net = runtime_->CreateTaskNetwork(t.arn, address, labels);
    lock.lock();
    if (!net.ok()) {
      t.network.address.clear();
      if (absl::IsCancelled(net.status())) return;
      return Fail(t, nullptr, StrCat("CannotCreateTaskNetworkError: ", net.status().message()));
    }
    t.network = *net;
    task_of_container_[net->holder_id] = t.arn;
  }

  const bool to_create =
      std::any_of(t.containers.begin(), t.containers.end(), [](const ContainerRun& c) { return c.runtime_id.empty(); });
  if (to_create && !t.cgroup_made && (t.task_cpu > 0 || t.task_memory > 0)) {
    const std::string task_id = TaskId(t.arn);
    const int64_t cpu = t.task_cpu;
    const int64_t memory = t.task_memory;
    lock.unlock();
    auto cgroup = runtime_->CreateTaskCgroup(task_id, cpu, memory);
    lock.lock();
    if (!cgroup.ok()) {
      return Fail(t, nullptr,
                  StrCat("ResourceInitializationError: failed to create the task cgroup: ", cgroup.status().message()));
    }
    t.cgroup_made = true;
    t.cgroup_parent = *cgroup;
  }

  for (auto& c : t.containers) {
    if (!c.runtime_id.empty()) continue;
    ContainerSpec spec = MakeSpec(t, c);
    lock.unlock();
    auto id = runtime_->Create(spec);
    lock.lock();
    // Abandoned: a restart creates it again, or adopts it by its name if the engine made it.
    if (absl::IsCancelled(id.status())) return;
    if (!id.ok()) return Fail(t, &c, StrCat("CannotCreateContainerError: ", id.status().message()));
    c.runtime_id = *id;
    task_of_container_[*id] = t.arn;
    if (wants_stop()) {
      t.dirty = true;
      return;
    }
  }

  if (!t.created_at) t.created_at = clock_->NowSeconds();

  // Start what the dependencies allow; starting one may allow another (START).
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& c : t.containers) {
      if (c.started || c.status != "PENDING") continue;
      std::string why;
      DepState dep = Dependencies(t, c, &why);
      if (dep == DepState::kNever) return Fail(t, &c, why);
      if (dep == DepState::kWait) continue;
      std::string id = c.runtime_id;
      lock.unlock();
      absl::Status s = runtime_->Start(id);
      auto status = s.ok() ? runtime_->Inspect(id) : absl::StatusOr<ContainerStatus>(s);
      lock.lock();
      if (absl::IsCancelled(s)) return;
      if (!s.ok()) return Fail(t, &c, StrCat("CannotStartContainerError: ", s.message()));
      c.started = true;
      c.start_order = next_start_order_++;
      if (status.ok()) Refresh(t, c, *status);
      progress = true;
      if (wants_stop()) {
        t.dirty = true;
        return;
      }
    }
  }

  // Observe every started container.
  for (auto& c : t.containers) {
    if (!c.started || c.status == "STOPPED") continue;
    std::string id = c.runtime_id;
    lock.unlock();
    auto status = runtime_->Inspect(id);
    lock.lock();
    if (status.ok()) Refresh(t, c, *status);
  }
  // An essential container that is gone (it exited, or vanished while the agent was down).
  for (const auto& c : t.containers) {
    if (c.essential && c.started && c.status == "STOPPED" && !wants_stop()) {
      t.stop_requested = true;
      t.stop_code = "EssentialContainerExited";
      t.stopped_reason = "Essential container in task exited";
    }
  }
  if (wants_stop()) {
    t.dirty = true;
    return;
  }
  if (t.status == "PENDING") {
    bool all_started = std::all_of(t.containers.begin(), t.containers.end(),
                                   [](const ContainerRun& c) { return c.status != "PENDING"; });
    if (all_started) {
      t.status = "RUNNING";
      t.started_at = clock_->NowSeconds();
    }
  }
}

void TaskEngine::StopTask(TaskRun& t, std::unique_lock<std::mutex>& lock) {
  if (t.status == "STOPPED") return;
  bool any_live = false;
  for (const auto& c : t.containers) any_live |= !c.runtime_id.empty() && c.status != "STOPPED";
  if (any_live && t.status != "STOPPING") {
    t.status = "STOPPING";
    EmitIfChanged(t);
  }
  // Dependents first: reverse start order, then those never started.
  std::vector<ContainerRun*> order;
  for (auto& c : t.containers) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(),
                   [](const ContainerRun* a, const ContainerRun* b) { return a->start_order > b->start_order; });
  for (ContainerRun* c : order) {
    if (c->runtime_id.empty()) {
      c->status = "STOPPED";
      continue;
    }
    if (c->status == "STOPPED") continue;
    std::string id = c->runtime_id;
    int timeout = c->def.has_stop_timeout() ? c->def.stop_timeout() : options_.default_stop_timeout_seconds;
    lock.unlock();
    absl::Status s = runtime_->Stop(id, timeout);
    auto status = runtime_->Inspect(id);
    lock.lock();
    // The agent is stopping: the task stays STOPPING and a restarted agent stops it again.
    if (absl::IsCancelled(s)) return;
    if (!s.ok()) log::Warn("task {}: stopping container {}: {}", t.arn, c->def.name(), s.ToString());
    c->status = "STOPPED";
    if (status.ok() && status->exit_code) c->exit_code = status->exit_code;
    if (!c->started && c->reason.empty() && t.stop_code == "TaskFailedToStart") c->reason = "never started";
  }
  if (!t.network.holder_id.empty()) {
    std::string holder = t.network.holder_id;
    lock.unlock();
    (void)runtime_->Stop(holder, 1);
    absl::Status removed = runtime_->Remove(holder);
    lock.lock();
    if (absl::IsCancelled(removed)) return;
    task_of_container_.erase(holder);
    t.network.holder_id.clear();
  }
  if (!t.cgroup_parent.empty()) {
    // Empty once its containers have exited; if not yet, the cleanup removes it with them.
    const std::string task_id = TaskId(t.arn);
    lock.unlock();
    absl::Status s = runtime_->RemoveTaskCgroup(task_id);
    lock.lock();
    if (s.ok()) t.cgroup_parent.clear();
  }
  t.status = "STOPPED";
  t.stopped_at = clock_->NowSeconds();
  t.stopped_mono_us = clock_->MonotonicMicros();
}

void TaskEngine::Define(TaskRun& t, const v1::TaskDefinition& td, const v1::DesiredTask& d) {
  t.definition = td;
  t.overrides = d.overrides();
  t.host_ports.assign(d.host_ports().begin(), d.host_ports().end());
  t.file_systems.assign(d.file_systems().begin(), d.file_systems().end());
  t.task_cpu = d.task_cpu();
  t.task_memory = d.task_memory();
  t.ephemeral_storage_mib = d.ephemeral_storage_mib();
  std::vector<ContainerRun> containers;
  for (const auto& def : td.container_definitions()) {
    ContainerRun c;
    // Keep what was recovered for this container (runtime id, status).
    for (auto& old : t.containers) {
      if (old.def.name() == def.name()) c = std::move(old);
    }
    c.def = Merge(def, t.overrides);
    c.essential = !def.has_essential() || def.essential();
    containers.push_back(std::move(c));
  }
  t.containers = std::move(containers);
  t.have_definition = true;
  if (t.credentials_id.empty() && !RoleOf(t).empty()) t.credentials_id = RandomHex128();
}

void TaskEngine::ApplyDesired(const v1::PollResponse& desired) {
  std::lock_guard lock(mu_);
  std::map<std::string, const v1::TaskDefinition*> definitions;
  for (const auto& td : desired.task_definitions()) definitions[td.task_definition_arn()] = &td;
  const bool inactive = desired.instance_status() == "INACTIVE";
  std::set<std::string> listed;
  for (const auto& d : desired.tasks()) {
    listed.insert(d.task_arn());
    auto [it, inserted] = tasks_.try_emplace(d.task_arn());
    if (inserted) {
      if (d.desired_status() == "STOPPED") {
        // Never started here, and not wanted: report it STOPPED without touching the runtime.
        it->second = std::make_unique<TaskRun>();
        TaskRun& t = *it->second;
        t.arn = d.task_arn();
        t.desired = "STOPPED";
        t.status = "STOPPED";
        t.stopped_at = clock_->NowSeconds();
        t.stopped_mono_us = clock_->MonotonicMicros();
        t.removed = true;
        EmitIfChanged(t);
        continue;
      }
      it->second = std::make_unique<TaskRun>();
      it->second->arn = d.task_arn();
    }
    TaskRun& t = *it->second;
    t.in_manifest = true;
    if (!t.have_definition) {
      auto def = definitions.find(d.task_definition_arn());
      if (def == definitions.end()) {
        log::Warn("task {}: desired state names task definition {} but does not carry it", t.arn,
                  d.task_definition_arn());
        continue;
      }
      Define(t, *def->second, d);
    }
    for (auto& c : t.containers) {
      c.log.reset();
      for (const auto& destination : d.log_destinations()) {
        if (destination.container_name() == c.def.name()) c.log = destination;
      }
    }
    if ((d.desired_status() == "STOPPED" || inactive) && t.desired != "STOPPED") t.desired = "STOPPED";
    // berthd is behind (a report was lost, or it restarted): send the snapshot again.
    if (d.known_status() != t.status) t.last_report.clear();
    Enqueue(t);
  }
  // Gone from the desired state: with a delta, the tasks it says were removed; else every task it
  // does not list.
  std::vector<std::pair<std::string_view, TaskRun*>> gone;
  if (desired.delta()) {
    for (const auto& arn : desired.removed_task_arns()) {
      auto it = tasks_.find(arn);
      if (it != tasks_.end() && !listed.contains(arn)) gone.emplace_back(it->first, it->second.get());
    }
  } else {
    for (auto& [arn, t] : tasks_) {
      if (!listed.contains(arn)) gone.emplace_back(arn, t.get());
    }
  }
  for (auto [arn, t] : gone) {
    t->in_manifest = false;
    if (t->status != "STOPPED" && t->desired != "STOPPED") {
      log::Info("task {}: no longer in the desired state; stopping it", arn);
      t->desired = "STOPPED";
      if (!t->have_definition) t->have_definition = !t->containers.empty();
      Enqueue(*t);
    }
  }
}

std::vector<TaskEngine::OutputSource> TaskEngine::OutputSources() {
  std::lock_guard lock(mu_);
  std::vector<OutputSource> out;
  for (const auto& [arn, t] : tasks_) {
    if (t->removed) continue;
    for (const auto& c : t->containers) {
      if (c.log && !c.runtime_id.empty()) out.push_back({.runtime_id = c.runtime_id, .destination = *c.log});
    }
  }
  return out;
}

void TaskEngine::Forget(const std::string& task_arn) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(task_arn);
  if (it == tasks_.end()) return;
  TaskRun& t = *it->second;
  t.forgotten = true;
  t.in_manifest = false;
  if (t.status != "STOPPED") {
    t.desired = "STOPPED";
    if (!t.have_definition) t.have_definition = !t.containers.empty();
    Enqueue(t);
  }
}

void TaskEngine::Tick() {
  CheckStorage();
  std::vector<std::pair<std::string, std::vector<std::string>>> removals;
  std::vector<std::pair<std::string, std::string>> volumes;  // (task, volume)
  std::vector<std::string> cgroups;                          // tasks whose cgroup is left
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_->MonotonicMicros();
    const bool resync = now >= next_resync_us_;
    if (resync) next_resync_us_ = now + options_.resync_interval_us;
    for (auto& [arn, t] : tasks_) {
      if (t->busy) continue;
      if (t->status != "STOPPED") {
        if (resync) Enqueue(*t);
        continue;
      }
      if (t->removed && !t->cgroup_parent.empty()) cgroups.push_back(arn);  // a restart or a busy cgroup
      if (!t->removed && now - t->stopped_mono_us >= options_.cleanup_after_us) {
        std::vector<std::string> ids;
        for (auto& c : t->containers) {
          if (!c.runtime_id.empty()) ids.push_back(c.runtime_id);
        }
        t->removed = true;
        t->busy = true;
        if (!t->cgroup_parent.empty()) cgroups.push_back(arn);
        removals.emplace_back(arn, std::move(ids));
        // The task's own Docker volumes go with it; shared ones and host paths stay.
        if (t->have_definition && !t->containers.empty()) {
          for (const auto& v : MakeSpec(*t, t->containers.front()).volumes) {
            if (!v.docker_name.empty() && v.docker_name != v.name) volumes.emplace_back(arn, v.docker_name);
          }
        }
      }
    }
  }
  std::set<std::string> abandoned;  // removals cut short by the agent stopping: done after a restart
  for (const auto& [arn, ids] : removals) {
    for (const auto& id : ids) {
      absl::Status s = runtime_->Remove(id);
      if (absl::IsCancelled(s)) abandoned.insert(arn);
      if (!s.ok() && !absl::IsCancelled(s)) log::Warn("task {}: removing {}: {}", arn, id, s.ToString());
    }
  }
  for (const auto& [arn, name] : volumes) {
    if (absl::Status s = runtime_->RemoveVolume(name); !s.ok()) {
      log::Warn("task {}: removing volume {}: {}", arn, name, s.ToString());
    }
  }
  std::vector<std::string> cgroups_removed;
  for (const auto& arn : cgroups) {
    if (absl::Status s = runtime_->RemoveTaskCgroup(TaskId(arn)); s.ok()) {
      cgroups_removed.push_back(arn);
    } else {
      log::Warn("task {}: removing its cgroup: {}", arn, s.ToString());
    }
  }
  std::lock_guard lock(mu_);
  for (const auto& arn : cgroups_removed) {
    if (auto it = tasks_.find(arn); it != tasks_.end()) it->second->cgroup_parent.clear();
  }
  for (const auto& [arn, ids] : removals) {
    for (const auto& id : ids) task_of_container_.erase(id);
    auto it = tasks_.find(arn);
    if (it == tasks_.end()) continue;
    TaskRun& t = *it->second;
    t.busy = false;
    if (abandoned.contains(arn)) t.removed = false;
    // An event or a desired state that came while the removals held the task only marked it
    // dirty (Enqueue and Reconcile leave a busy task alone): give it the pass it missed.
    if (t.dirty) {
      t.dirty = false;
      Enqueue(t);
    }
  }
  // Forget what is stopped, cleaned up, reported, and no longer wanted by berthd.
  bool changed = !removals.empty() || !cgroups_removed.empty();
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    TaskRun& t = *it->second;
    if (t.status == "STOPPED" && t.removed && !t.in_manifest && !t.busy) {
      it = tasks_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (changed) Persist();
  idle_cv_.notify_all();  // WaitIdle waits for busy tasks too
}

void TaskEngine::CheckStorage() {
  struct Check {
    std::string arn;
    std::vector<std::string> ids;
    int64_t limit_mib;
  };
  std::vector<Check> checks;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_->MonotonicMicros();
    if (now < next_storage_check_us_) return;
    next_storage_check_us_ = now + options_.storage_check_interval_us;
    for (const auto& [arn, t] : tasks_) {
      if (t->ephemeral_storage_mib <= 0 || t->status != "RUNNING" || t->stop_requested || t->desired != "RUNNING") {
        continue;
      }
      Check check{arn, {}, t->ephemeral_storage_mib};
      for (const auto& c : t->containers) {
        if (!c.runtime_id.empty()) check.ids.push_back(c.runtime_id);
      }
      checks.push_back(std::move(check));
    }
  }
  for (const Check& check : checks) {
    int64_t used = 0;
    for (const auto& id : check.ids) {
      auto bytes = runtime_->DiskUsage(id);
      if (bytes.ok()) used += *bytes;
    }
    if (used <= check.limit_mib * 1024 * 1024) continue;
    std::lock_guard lock(mu_);
    auto it = tasks_.find(check.arn);
    if (it == tasks_.end()) continue;
    TaskRun& t = *it->second;
    if (t.stop_requested || t.desired != "RUNNING" || t.status == "STOPPED") continue;
    // No quota on the writable layers (the storage driver may have none): the limit is kept the
    // way the kubelet keeps ephemeral-storage limits, by stopping what exceeds it.
    t.stop_requested = true;
    t.stop_code = "TerminationNotice";
    t.stopped_reason = StrCat("Task ephemeral storage use (", used / (1024 * 1024),
                              " MiB written to its containers' writable layers) exceeds its limit of ",
                              check.limit_mib / 1024, " GiB (ephemeralStorage.sizeInGiB)");
    log::Warn("task {}: {}", t.arn, t.stopped_reason);
    Enqueue(t);
  }
}

v1::TaskStateChange TaskEngine::MakeSnapshot(const TaskRun& t) const {
  v1::TaskStateChange s;
  s.set_task_arn(t.arn);
  s.set_status(t.status);
  if (t.stop_requested) {
    s.set_stop_code(t.stop_code);
    s.set_stopped_reason(t.stopped_reason);
  }
  if (t.pull_started_at) s.set_pull_started_at(*t.pull_started_at);
  if (t.pull_stopped_at) s.set_pull_stopped_at(*t.pull_stopped_at);
  if (t.created_at) s.set_containers_created_at(*t.created_at);
  if (t.started_at) s.set_started_at(*t.started_at);
  if (t.stopped_at) {
    s.set_stopped_at(*t.stopped_at);
    s.set_execution_stopped_at(*t.stopped_at);
  }
  const bool awsvpc = t.have_definition && NetworkMode(t) == "awsvpc";
  const bool host = t.have_definition && NetworkMode(t) == "host";
  for (const auto& c : t.containers) {
    auto* cs = s.add_containers();
    cs->set_name(c.def.name());
    cs->set_status(c.status);
    if (c.exit_code) cs->set_exit_code(*c.exit_code);
    cs->set_reason(c.reason);
    cs->set_health_status(c.health);
    cs->set_runtime_id(c.runtime_id);
    cs->set_image_digest(c.image_digest);
    if (c.status == "RUNNING") {
      if (host) {
        for (const auto& pm : c.def.port_mappings()) {
          auto* b = cs->add_network_bindings();
          b->set_bind_ip("0.0.0.0");
          b->set_container_port(pm.container_port());
          b->set_host_port(pm.container_port());
          b->set_protocol(pm.protocol().empty() ? "tcp" : pm.protocol());
        }
      } else if (!awsvpc) {
        for (const auto& pb : c.bindings) {
          auto* b = cs->add_network_bindings();
          b->set_bind_ip(pb.host_ip.empty() ? "0.0.0.0" : pb.host_ip);
          b->set_container_port(pb.container_port);
          b->set_host_port(pb.host_port);
          b->set_protocol(pb.protocol);
        }
      }
    }
    if (awsvpc && !t.network.address.empty()) {
      auto* ni = cs->add_network_interfaces();
      ni->set_attachment_id(TaskId(t.arn));
      ni->set_private_ipv4_address(t.network.address);
    }
  }
  return s;
}

void TaskEngine::EmitIfChanged(TaskRun& t) {
  v1::TaskStateChange snapshot = MakeSnapshot(t);
  std::string bytes = snapshot.SerializeAsString();
  if (bytes == t.last_report) return;
  t.last_report = std::move(bytes);
  if (report_) report_(std::move(snapshot));
}

std::vector<v1::TaskStateChange> TaskEngine::SnapshotAll() {
  std::lock_guard lock(mu_);
  std::vector<v1::TaskStateChange> out;
  for (const auto& [arn, t] : tasks_) {
    if (!t->forgotten) out.push_back(MakeSnapshot(*t));
  }
  return out;
}

std::optional<v1::TaskStateChange> TaskEngine::Snapshot(const std::string& task_arn) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(task_arn);
  if (it == tasks_.end()) return std::nullopt;
  return MakeSnapshot(*it->second);
}

size_t TaskEngine::task_count() {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

}  // namespace berth::agent
