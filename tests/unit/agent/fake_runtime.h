// FakeRuntime: a Runtime for tests of the task engine. Containers are rows of a table whose state
// the test sets; every call is recorded in order; errors are injected through knobs(), per image
// (Pull) or per container name (Create, Start; the task definition's name or the runtime's).
//
// Like a real runtime it calls the listener whenever a container's state changes: when Start runs
// it, Stop makes it exit, Remove deletes it, and when a test changes its state (unless told not
// to, to check that the engine's resync notices on its own). The listener is called on the thread
// that made the change, without the fake's lock, so that the engine calling the runtime with its
// own lock held deadlocks here instead of passing unnoticed. SetListener waits for calls in flight.
//
// Stop makes a running container exit with 143 (SIGTERM), or 137 when the test marked it as
// ignoring SIGTERM (the fake does not wait out the timeout). Ports a spec leaves to the runtime
// (host port 0) get 49153, 49154, ... ListManaged lists the containers in the table with the
// cluster's and instance's labels: what an earlier engine created and what a test preloaded with
// knobs().AddContainer.
//
// Thread-safe. std::mutex rather than absl::Mutex, as in the engine it serves, so that
// ThreadSanitizer understands the locking without an instrumented Abseil.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/common/strings.h"
#include "src/agent/runtime.h"

namespace berth::agent {

class FakeRuntime final : public Runtime {
 public:
  // One call to the runtime, as made.
  struct Call {
    // Pull Create Start Stop Remove Inspect ListManaged CreateTaskNetwork CreateTaskCgroup
    // RemoveTaskCgroup
    std::string op;
    std::string id;  // runtime id (Create: the id it returned)
    // The task definition's container name; "<holder>" for a network holder; CreateTaskCgroup:
    // "<cpu> <memory>"; RemoveTaskCgroup: the task id.
    std::string container;
    std::string task_arn;
    std::string image;        // Pull, Create
    std::string address;      // CreateTaskNetwork
    int timeout_seconds = 0;  // Stop
    ContainerSpec spec;       // Pull, Create

    // "Pull nginx:1", "Create app", "Start app", "Stop app 30", "Remove app", "Inspect app",
    // "CreateTaskNetwork 172.30.0.2", "ListManaged".
    std::string ToString() const {
      if (op == "Pull") return StrCat(op, " ", image);
      if (op == "Stop") return StrCat(op, " ", container, " ", timeout_seconds);
      if (op == "CreateTaskNetwork") return StrCat(op, " ", address);
      if (op == "ListManaged") return op;
      return StrCat(op, " ", container);
    }
  };

  enum class Notify { kYes, kNo };

  // Runtime
  std::string Name() const override { return "fake"; }
  std::string Version() const override { return "0.0.0-fake"; }

  absl::Status Pull(const ContainerSpec& spec) override {
    Call call = ForSpec("Pull", spec);
    Hook(call);
    std::lock_guard lock(mu_);
    calls_.push_back(call);
    if (auto it = pull_errors_.find(spec.definition.image()); it != pull_errors_.end()) {
      return absl::NotFoundError(it->second);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Create(const ContainerSpec& spec) override {
    Call call = ForSpec("Create", spec);
    Hook(call);
    std::lock_guard lock(mu_);
    if (std::string error = ErrorFor(create_errors_, spec); !error.empty()) {
      calls_.push_back(call);
      return absl::InternalError(error);
    }
    for (const auto& [id, c] : containers_) {
      if (c.spec.name == spec.name) {
        calls_.push_back(call);
        return absl::AlreadyExistsError(StrCat("Conflict. The container name \"/", spec.name, "\" is already in use"));
      }
    }
    std::string id = NewContainer(spec, false, ContainerState::kCreated);
    call.id = id;
    calls_.push_back(call);
    return id;
  }

  absl::Status Start(const std::string& id) override {
    Hook(Described("Start", id));
    {
      std::lock_guard lock(mu_);
      calls_.push_back(Describe("Start", id));
      auto it = containers_.find(id);
      if (it == containers_.end()) return absl::NotFoundError(StrCat("No such container: ", id));
      Container& c = it->second;
      if (std::string error = ErrorFor(start_errors_, c.spec); !error.empty()) return absl::InternalError(error);
      if (c.status.state == ContainerState::kRunning) return absl::OkStatus();
      c.status.state = ContainerState::kRunning;
      c.status.exit_code.reset();
      c.status.health = c.spec.definition.has_health_check() ? "starting" : "";
      c.status.bindings.clear();
      for (PortBinding b : c.spec.ports) {
        if (b.host_port == 0) b.host_port = next_port_++;
        if (b.host_ip.empty()) b.host_ip = "0.0.0.0";
        c.status.bindings.push_back(b);
      }
    }
    Fire(id);
    return absl::OkStatus();
  }

  absl::Status Stop(const std::string& id, int timeout_seconds) override {
    Call call = Described("Stop", id);
    call.timeout_seconds = timeout_seconds;
    Hook(call);
    {
      std::lock_guard lock(mu_);
      calls_.push_back(call);
      auto it = containers_.find(id);
      if (it == containers_.end()) return absl::NotFoundError(StrCat("No such container: ", id));
      Container& c = it->second;
      if (c.status.state != ContainerState::kRunning) return absl::OkStatus();
      c.status.state = ContainerState::kExited;
      c.status.exit_code = ignores_sigterm_.contains(c.spec.definition.name()) ? 137 : 143;
    }
    Fire(id);
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& id) override {
    Hook(Described("Remove", id));
    {
      std::lock_guard lock(mu_);
      calls_.push_back(Describe("Remove", id));
      if (containers_.erase(id) == 0) return absl::NotFoundError(StrCat("No such container: ", id));
    }
    Fire(id);
    return absl::OkStatus();
  }

  absl::StatusOr<ContainerStatus> Inspect(const std::string& id) override {
    Hook(Described("Inspect", id));
    std::lock_guard lock(mu_);
    calls_.push_back(Describe("Inspect", id));
    auto it = containers_.find(id);
    if (it == containers_.end()) return ContainerStatus{};  // kMissing
    ContainerStatus status = it->second.status;
    if (status.state != ContainerState::kRunning) status.bindings.clear();
    return status;
  }

  absl::StatusOr<std::vector<ManagedContainer>> ListManaged(const std::string& cluster,
                                                            const std::string& instance_arn) override {
    Call call;
    call.op = "ListManaged";
    Hook(call);
    std::lock_guard lock(mu_);
    calls_.push_back(call);
    std::vector<ManagedContainer> out;
    for (const auto& [id, c] : containers_) {
      if (Label(c, kLabelCluster) != cluster || Label(c, kLabelInstance) != instance_arn) continue;
      out.push_back({id, Label(c, kLabelTaskArn), Label(c, kLabelContainerName), c.network_holder});
    }
    return out;
  }

  absl::Status RemoveVolume(const std::string& name) override {
    Call call;
    call.op = "RemoveVolume";
    call.container = name;
    Hook(call);
    std::lock_guard lock(mu_);
    calls_.push_back(call);
    return absl::OkStatus();
  }

  absl::StatusOr<TaskNetwork> CreateTaskNetwork(const std::string& task_arn, const std::string& address,
                                                const std::map<std::string, std::string>& labels) override {
    Call call;
    call.op = "CreateTaskNetwork";
    call.container = "<holder>";
    call.task_arn = task_arn;
    call.address = address;
    Hook(call);
    std::lock_guard lock(mu_);
    if (network_error_) {
      calls_.push_back(call);
      return absl::InternalError(*network_error_);
    }
    ContainerSpec spec;
    spec.name = StrCat("berth-net-", task_arn.substr(task_arn.rfind('/') + 1));
    spec.task_arn = task_arn;
    spec.network_mode = "bridge";
    spec.labels = labels;
    call.id = NewContainer(spec, true, ContainerState::kRunning);
    calls_.push_back(call);
    return TaskNetwork{call.id, address};
  }

  void SetListener(std::function<void(const std::string& id)> listener) override {
    std::unique_lock lock(listener_mu_);
    listener_ = std::move(listener);
  }

  // Task cgroups are rows of their own: "/berth/<task id>" while they exist.
  absl::StatusOr<std::string> CreateTaskCgroup(const std::string& task_id, int64_t cpu, int64_t memory_mib) override {
    Call call;
    call.op = "CreateTaskCgroup";
    call.container = StrCat(cpu, " ", memory_mib);
    Hook(call);
    std::lock_guard lock(mu_);
    calls_.push_back(call);
    if (cgroup_error_) return absl::InternalError(*cgroup_error_);
    cgroups_[task_id] = {cpu, memory_mib};
    return StrCat("/berth/", task_id);
  }
  absl::Status RemoveTaskCgroup(const std::string& task_id) override {
    Call call;
    call.op = "RemoveTaskCgroup";
    call.container = task_id;
    Hook(call);
    std::lock_guard lock(mu_);
    calls_.push_back(call);
    cgroups_.erase(task_id);
    return absl::OkStatus();
  }
  // Not a recorded call: the engine measures as often as its interval says.
  absl::StatusOr<int64_t> DiskUsage(const std::string& id) override {
    std::lock_guard lock(mu_);
    if (!containers_.contains(id)) return absl::NotFoundError(StrCat("No such container: ", id));
    auto it = disk_usage_.find(id);
    return it == disk_usage_.end() ? int64_t{0} : it->second;
  }
  // Fake containers write nothing; not a recorded call.
  absl::Status FollowOutput(const std::string& id, int64_t, const std::function<bool(OutputLine)>&) override {
    std::lock_guard lock(mu_);
    return containers_.contains(id) ? absl::OkStatus() : absl::NotFoundError(StrCat("No such container: ", id));
  }

  // --- what tests inject (through knobs()) ---

  class Knobs {
   public:
    void FailPull(const std::string& image, const std::string& message) {
      std::lock_guard lock(fake_.mu_);
      fake_.pull_errors_[image] = message;
    }
    void FailCreate(const std::string& container, const std::string& message) {
      std::lock_guard lock(fake_.mu_);
      fake_.create_errors_[container] = message;
    }
    void FailStart(const std::string& container, const std::string& message) {
      std::lock_guard lock(fake_.mu_);
      fake_.start_errors_[container] = message;
    }
    void FailTaskNetwork(const std::string& message) {
      std::lock_guard lock(fake_.mu_);
      fake_.network_error_ = message;
    }
    void FailTaskCgroup(const std::string& message) {
      std::lock_guard lock(fake_.mu_);
      fake_.cgroup_error_ = message;
    }
    void SetDiskUsage(const std::string& id, int64_t bytes) {
      std::lock_guard lock(fake_.mu_);
      fake_.disk_usage_[id] = bytes;
    }
    // Stop of this container (task definition name) ends in SIGKILL: exit code 137.
    void IgnoreSigterm(const std::string& container) {
      std::lock_guard lock(fake_.mu_);
      fake_.ignores_sigterm_.insert(container);
    }
    // Called at the start of every call, on the caller's thread, without the fake's lock: lets a
    // test act while the engine is inside a runtime call.
    void OnCall(std::function<void(const Call&)> hook) {
      std::unique_lock lock(fake_.hook_mu_);
      fake_.hook_ = std::move(hook);
    }
    // A container as an earlier run of the agent left it (not a recorded call). Returns its id.
    std::string AddContainer(const ContainerSpec& spec, const ContainerStatus& status, bool network_holder = false) {
      std::lock_guard lock(fake_.mu_);
      std::string id = fake_.NewContainer(spec, network_holder, status.state);
      fake_.containers_[id].status = status;
      return id;
    }

   private:
    friend class FakeRuntime;
    explicit Knobs(FakeRuntime& fake) : fake_(fake) {}
    FakeRuntime& fake_;
  };

  // Errors to inject, SIGTERM ignored, disk usage, the call hook and preloaded containers.
  Knobs& knobs() { return knobs_; }

  // --- container states (each calls the listener unless told not to) ---

  void SetExited(const std::string& id, int32_t exit_code, const std::string& error = "",
                 Notify notify = Notify::kYes) {
    Update(id, notify, [&](ContainerStatus& s) {
      s.state = ContainerState::kExited;
      s.exit_code = exit_code;
      s.error = error;
    });
  }
  // "healthy", "unhealthy", "starting".
  void SetHealth(const std::string& id, const std::string& health, Notify notify = Notify::kYes) {
    Update(id, notify, [&](ContainerStatus& s) { s.health = health; });
  }
  // The container is gone (removed behind the agent's back).
  void SetMissing(const std::string& id, Notify notify = Notify::kYes) {
    {
      std::lock_guard lock(mu_);
      containers_.erase(id);
    }
    if (notify == Notify::kYes) Fire(id);
  }

  // --- what tests observe ---

  // The runtime id of a task's container ("" when there is none).
  std::string IdOf(const std::string& task_arn, const std::string& container) const {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : containers_) {
      if (c.spec.task_arn == task_arn && c.spec.definition.name() == container && !c.network_holder) return id;
    }
    return "";
  }
  // The network holder of a task ("" when there is none).
  std::string HolderOf(const std::string& task_arn) const {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : containers_) {
      if (c.spec.task_arn == task_arn && c.network_holder) return id;
    }
    return "";
  }
  std::optional<ContainerSpec> SpecOf(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return std::nullopt;
    return it->second.spec;
  }
  bool Has(const std::string& id) const {
    std::lock_guard lock(mu_);
    return containers_.contains(id);
  }
  size_t container_count() const {
    std::lock_guard lock(mu_);
    return containers_.size();
  }

  // The task cgroups that exist: task id -> (cpu, memory MiB).
  std::map<std::string, std::pair<int64_t, int64_t>> Cgroups() const {
    std::lock_guard lock(mu_);
    return cgroups_;
  }

  std::vector<Call> Calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // Every call but Inspect (which the engine makes as often as it likes) as Call::ToString, in
  // order; with `task_arn`, only that task's.
  std::vector<std::string> Log(const std::string& task_arn = "") const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& c : calls_) {
      if (c.op == "Inspect" || (!task_arn.empty() && c.task_arn != task_arn)) continue;
      out.push_back(c.ToString());
    }
    return out;
  }
  // How many calls of `op` were made.
  int Count(const std::string& op) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls_) n += c.op == op;
    return n;
  }
  void ClearCalls() {
    std::lock_guard lock(mu_);
    calls_.clear();
  }

 private:
  struct Container {
    ContainerSpec spec;
    bool network_holder = false;
    ContainerStatus status;
  };

  static std::string Label(const Container& c, const char* key) {
    auto it = c.spec.labels.find(key);
    return it == c.spec.labels.end() ? std::string() : it->second;
  }
  static std::string ErrorFor(const std::map<std::string, std::string>& errors, const ContainerSpec& spec) {
    for (const std::string& key : {spec.definition.name(), spec.name}) {
      if (auto it = errors.find(key); it != errors.end()) return it->second;
    }
    return "";
  }

  static Call ForSpec(const std::string& op, const ContainerSpec& spec) {
    Call call;
    call.op = op;
    call.container = spec.definition.name();
    call.task_arn = spec.task_arn;
    call.image = spec.definition.image();
    call.spec = spec;
    return call;
  }

  // Lock held.
  std::string NewContainer(const ContainerSpec& spec, bool network_holder, ContainerState state) {
    std::string id = StrCat("fake-", next_id_++);
    Container c;
    c.spec = spec;
    c.network_holder = network_holder;
    c.status.state = state;
    c.status.image_digest = spec.definition.image().empty() ? "" : StrCat("sha256:digest-of-", spec.definition.image());
    containers_.emplace(id, std::move(c));
    return id;
  }
  // A call on an existing container, described from the table (lock held).
  Call Describe(const std::string& op, const std::string& id) const {
    Call call;
    call.op = op;
    call.id = id;
    if (auto it = containers_.find(id); it != containers_.end()) {
      call.container = it->second.network_holder ? "<holder>" : it->second.spec.definition.name();
      call.task_arn = it->second.spec.task_arn;
      call.image = it->second.spec.definition.image();
    }
    return call;
  }
  Call Described(const std::string& op, const std::string& id) const {
    std::lock_guard lock(mu_);
    return Describe(op, id);
  }

  void Update(const std::string& id, Notify notify, const std::function<void(ContainerStatus&)>& change) {
    {
      std::lock_guard lock(mu_);
      auto it = containers_.find(id);
      if (it == containers_.end()) return;
      change(it->second.status);
    }
    if (notify == Notify::kYes) Fire(id);
  }
  void Fire(const std::string& id) {
    std::shared_lock lock(listener_mu_);
    if (listener_) listener_(id);
  }
  void Hook(const Call& call) {
    std::function<void(const Call&)> hook;
    {
      std::shared_lock lock(hook_mu_);
      hook = hook_;
    }
    if (hook) hook(call);
  }

  mutable std::mutex mu_;
  std::map<std::string, Container> containers_;
  std::vector<Call> calls_;
  std::map<std::string, std::string> pull_errors_;    // by image
  std::map<std::string, std::string> create_errors_;  // by container name
  std::map<std::string, std::string> start_errors_;   // by container name
  std::optional<std::string> network_error_;
  std::optional<std::string> cgroup_error_;
  std::map<std::string, std::pair<int64_t, int64_t>> cgroups_;
  std::map<std::string, int64_t> disk_usage_;  // by container id
  std::set<std::string> ignores_sigterm_;      // container names
  int next_id_ = 1;
  int32_t next_port_ = 49153;

  // Held (shared) while the listener runs, so that SetListener(nullptr) returns only when no call
  // into a listener that is going away is in flight.
  std::shared_mutex listener_mu_;
  std::function<void(const std::string&)> listener_;
  std::shared_mutex hook_mu_;
  std::function<void(const Call&)> hook_;

  Knobs knobs_{*this};
};

}  // namespace berth::agent
