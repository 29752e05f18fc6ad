#include "src/agent/docker_runtime.h"

#include <unistd.h>

#include <algorithm>

#include "berth/common/logging.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "src/agent/docker/log_stream.h"

namespace berth::agent {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

std::string PortKey(int32_t port, const std::string& protocol) {
  return StrCat(port, "/", protocol.empty() ? "tcp" : protocol);
}

}  // namespace

DockerRuntime::DockerRuntime(DockerRuntimeOptions options) : options_(std::move(options)), client_(options_.client) {}

DockerRuntime::~DockerRuntime() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

absl::Status DockerRuntime::Start() {
  if (absl::Status s = client_.Connect(); !s.ok()) return s;
  log::Info("Docker engine {} at {} (API {})", client_.server_version(), client_.socket_path(), client_.api_version());
  if (options_.task_cgroups) {
    auto info = client_.Info();
    const std::string driver = info.ok() ? info->value("CgroupDriver", "") : "";
    const int version = TaskCgroups::DetectVersion(options_.cgroup_root);
    const std::string probe = version == 2 ? options_.cgroup_root : options_.cgroup_root + "/memory";
    if (driver != "cgroupfs") {
      log::Warn(
          "task cgroups off: the engine's cgroup driver is '{}', not cgroupfs; task-level limits cap each "
          "container on its own",
          driver);
    } else if (::access(probe.c_str(), W_OK) != 0) {
      log::Warn("task cgroups off: {} is not writable; task-level limits cap each container on its own", probe);
    } else {
      cgroups_.emplace(TaskCgroupsOptions{options_.cgroup_root, version, "berth"});
      log::Info("task cgroups: cgroup v{} under {}/.../berth", version, options_.cgroup_root);
    }
  }
  watcher_ = std::thread([this] { Watch(); });
  return absl::OkStatus();
}

void DockerRuntime::SetListener(std::function<void(const std::string&)> listener) {
  // Waits for a call in progress: after this returns the old listener is never called again.
  std::lock_guard lock(listener_mu_);
  listener_ = std::move(listener);
}

void DockerRuntime::Watch() {
  // Container id -> what `docker ps` says of it ("Up 3 seconds (healthy)" and the state); any
  // change is an event.
  std::map<std::string, std::string> seen;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto listed = client_.ListContainers({{kLabelTaskArn, ""}}, true);
    std::vector<std::string> changed;
    if (listed.ok()) {
      std::map<std::string, std::string> now;
      for (const auto& c : *listed) {
        std::string id = c.value("Id", "");
        std::string status = c.value("State", "") + "|" + c.value("Status", "");
        // "Up 3 seconds (healthy)": keep the health part only, the uptime changes every second.
        std::string health;
        for (const char* h : {"(healthy)", "(unhealthy)", "(health: starting)"}) {
          if (status.find(h) != std::string::npos) health = h;
        }
        std::string key = c.value("State", "") + health;
        auto it = seen.find(id);
        if (it == seen.end() || it->second != key) changed.push_back(id);
        now[id] = key;
      }
      for (const auto& [id, key] : seen) {
        if (!now.contains(id)) changed.push_back(id);  // removed behind our back
      }
      seen = std::move(now);
    }
    if (!changed.empty()) {
      std::lock_guard listener_lock(listener_mu_);
      if (listener_) {
        for (const auto& id : changed) listener_(id);
      }
    }
    lock.lock();
    cv_.wait_for(lock, options_.watch_interval, [this] { return stopping_; });
  }
}

absl::Status DockerRuntime::Pull(const ContainerSpec& spec) {
  nlohmann::json auth = nullptr;
  if (spec.definition.has_repository_credentials()) {
    // Registry credentials come from a secret store in ECS (credentialsParameter); Berth has none
    // yet, so a definition that needs them cannot be pulled.
    return absl::UnimplementedError(StrCat("repositoryCredentials (",
                                           spec.definition.repository_credentials().credentials_parameter(),
                                           ") are not supported: pull the image ahead of time"));
  }
  return client_.PullImage(spec.definition.image(), auth);
}

nlohmann::json DockerRuntime::ContainerConfig(const ContainerSpec& spec) {
  const v1::ContainerDefinition& d = spec.definition;
  nlohmann::json config;
  config["Image"] = d.image();
  if (!d.command().empty()) config["Cmd"] = std::vector<std::string>(d.command().begin(), d.command().end());
  if (!d.entry_point().empty()) {
    config["Entrypoint"] = std::vector<std::string>(d.entry_point().begin(), d.entry_point().end());
  }
  std::vector<std::string> env;
  for (const auto& kv : d.environment()) env.push_back(kv.name() + "=" + kv.value());
  if (!env.empty()) config["Env"] = env;
  if (d.has_working_directory()) config["WorkingDir"] = d.working_directory();
  if (d.has_user()) config["User"] = d.user();
  if (d.has_hostname() && spec.network_mode != "awsvpc" && spec.network_mode != "host")
    config["Hostname"] = d.hostname();
  if (d.has_interactive()) config["OpenStdin"] = d.interactive();
  if (d.has_pseudo_terminal()) config["Tty"] = d.pseudo_terminal();
  if (d.has_stop_timeout()) config["StopTimeout"] = d.stop_timeout();
  config["Labels"] = spec.labels;
  if (d.has_health_check() && !d.health_check().command().empty()) {
    const auto& hc = d.health_check();
    nlohmann::json h;
    h["Test"] = std::vector<std::string>(hc.command().begin(), hc.command().end());
    // ECS defaults: interval 30 s, timeout 5 s, retries 3, start period 0.
    h["Interval"] = static_cast<int64_t>(hc.has_interval() ? hc.interval() : 30) * kNanosPerSecond;
    h["Timeout"] = static_cast<int64_t>(hc.has_timeout() ? hc.timeout() : 5) * kNanosPerSecond;
    h["Retries"] = hc.has_retries() ? hc.retries() : 3;
    h["StartPeriod"] = static_cast<int64_t>(hc.has_start_period() ? hc.start_period() : 0) * kNanosPerSecond;
    config["Healthcheck"] = h;
  }

  nlohmann::json host;
  host["CpuShares"] = d.cpu() <= 1 ? 2 : d.cpu();
  if (!spec.cgroup_parent.empty()) host["CgroupParent"] = spec.cgroup_parent;
  // Hard limits: the container's memory, capped by the task's size (a container without its own
  // limit gets the task's), and a CPU quota of the task's cpu (ECS: task-level cpu is a hard cap).
  int64_t memory_mib = d.has_memory() && d.memory() > 0 ? d.memory() : 0;
  if (spec.task_memory > 0 && (memory_mib == 0 || memory_mib > spec.task_memory)) memory_mib = spec.task_memory;
  if (memory_mib > 0) host["Memory"] = memory_mib * 1024 * 1024;
  if (spec.task_cpu > 0) host["NanoCpus"] = spec.task_cpu * 1'000'000'000 / 1024;
  if (d.has_memory_reservation() && d.memory_reservation() > 0) {
    // Docker refuses a reservation above the limit; the task's memory may be the lower one.
    const int64_t reservation =
        memory_mib > 0 ? std::min<int64_t>(d.memory_reservation(), memory_mib) : d.memory_reservation();
    host["MemoryReservation"] = reservation * 1024 * 1024;
  }
  if (d.has_privileged()) host["Privileged"] = d.privileged();
  if (d.has_readonly_root_filesystem()) host["ReadonlyRootfs"] = d.readonly_root_filesystem();
  nlohmann::json ulimits = nlohmann::json::array();
  for (const auto& u : d.ulimits())
    ulimits.push_back({{"Name", u.name()}, {"Soft", u.soft_limit()}, {"Hard", u.hard_limit()}});
  if (!ulimits.empty()) host["Ulimits"] = ulimits;
  if (!d.dns_servers().empty()) host["Dns"] = std::vector<std::string>(d.dns_servers().begin(), d.dns_servers().end());
  if (!d.dns_search_domains().empty()) {
    host["DnsSearch"] = std::vector<std::string>(d.dns_search_domains().begin(), d.dns_search_domains().end());
  }
  std::vector<std::string> extra_hosts;
  for (const auto& e : d.extra_hosts()) extra_hosts.push_back(e.hostname() + ":" + e.ip_address());
  if (!extra_hosts.empty()) host["ExtraHosts"] = extra_hosts;
  if (!d.docker_security_options().empty()) {
    host["SecurityOpt"] =
        std::vector<std::string>(d.docker_security_options().begin(), d.docker_security_options().end());
  }
  if (d.has_linux_parameters()) {
    const auto& lp = d.linux_parameters();
    if (!lp.capabilities().add().empty()) {
      host["CapAdd"] = std::vector<std::string>(lp.capabilities().add().begin(), lp.capabilities().add().end());
    }
    if (!lp.capabilities().drop().empty()) {
      host["CapDrop"] = std::vector<std::string>(lp.capabilities().drop().begin(), lp.capabilities().drop().end());
    }
    if (lp.has_init_process_enabled()) host["Init"] = lp.init_process_enabled();
    if (lp.has_shared_memory_size()) host["ShmSize"] = static_cast<int64_t>(lp.shared_memory_size()) * 1024 * 1024;
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& dev : lp.devices()) {
      std::string perms;
      for (const auto& p : dev.permissions()) perms += p == "read" ? "r" : p == "write" ? "w" : p == "mknod" ? "m" : "";
      devices.push_back({{"PathOnHost", dev.host_path()},
                         {"PathInContainer", dev.has_container_path() ? dev.container_path() : dev.host_path()},
                         {"CgroupPermissions", perms.empty() ? "rwm" : perms}});
    }
    if (!devices.empty()) host["Devices"] = devices;
    nlohmann::json tmpfs = nlohmann::json::object();
    for (const auto& t : lp.tmpfs()) {
      std::string opts = StrCat("size=", t.size(), "m");
      for (const auto& o : t.mount_options()) opts += "," + o;
      tmpfs[t.container_path()] = opts;
    }
    if (!tmpfs.empty()) host["Tmpfs"] = tmpfs;
    // ECS: maxSwap is the swap on top of memory; swappiness 0-100.
    if (lp.has_max_swap() && d.has_memory() && d.memory() > 0) {
      host["MemorySwap"] = (static_cast<int64_t>(d.memory()) + lp.max_swap()) * 1024 * 1024;
    }
    if (lp.has_swappiness()) host["MemorySwappiness"] = lp.swappiness();
  }
  nlohmann::json sysctls = nlohmann::json::object();
  for (const auto& sc : d.system_controls()) sysctls[sc.namespace_()] = sc.value();
  if (!sysctls.empty()) host["Sysctls"] = sysctls;

  // Network.
  if (spec.network_mode == "awsvpc") {
    host["NetworkMode"] = "container:" + spec.network_container;
  } else if (spec.network_mode == "host" || spec.network_mode == "none") {
    host["NetworkMode"] = spec.network_mode;
  } else {
    host["NetworkMode"] = "bridge";
    nlohmann::json exposed = nlohmann::json::object();
    nlohmann::json bindings = nlohmann::json::object();
    for (const auto& p : spec.ports) {
      std::string key = PortKey(p.container_port, p.protocol);
      exposed[key] = nlohmann::json::object();
      bindings[key].push_back(
          {{"HostIp", p.host_ip}, {"HostPort", p.host_port > 0 ? std::to_string(p.host_port) : ""}});
    }
    if (!exposed.empty()) {
      config["ExposedPorts"] = exposed;
      host["PortBindings"] = bindings;
    }
  }

  // Volumes: host paths as binds, Docker volumes as volume mounts.
  std::vector<std::string> binds;
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& mp : d.mount_points()) {
    auto v = std::find_if(spec.volumes.begin(), spec.volumes.end(),
                          [&](const VolumeSpec& vs) { return vs.name == mp.source_volume(); });
    if (v == spec.volumes.end()) continue;  // validation guarantees it exists
    const bool ro = mp.has_read_only() && mp.read_only();
    if (!v->host_path.empty()) {
      binds.push_back(v->host_path + ":" + mp.container_path() + (ro ? ":ro" : ""));
    } else {
      mounts.push_back(
          {{"Type", "volume"}, {"Source", v->docker_name}, {"Target", mp.container_path()}, {"ReadOnly", ro}});
    }
  }
  if (!binds.empty()) host["Binds"] = binds;
  if (!mounts.empty()) host["Mounts"] = mounts;
  host["LogConfig"] = LogConfig(d);
  config["HostConfig"] = host;
  return config;
}

absl::Status DockerRuntime::EnsureVolumes(const ContainerSpec& spec) {
  for (const auto& mp : spec.definition.mount_points()) {
    for (const auto& v : spec.volumes) {
      if (v.name != mp.source_volume() || v.docker_name.empty()) continue;
      if (v.missing_file_system) {
        return absl::FailedPreconditionError(
            StrCat("volume ", v.name, ": berthd sent no mount for its efsVolumeConfiguration file system"));
      }
      nlohmann::json config = {{"Name", v.docker_name}};
      if (!v.driver.empty()) config["Driver"] = v.driver;
      if (!v.driver_opts.empty()) config["DriverOpts"] = v.driver_opts;
      nlohmann::json labels = v.labels;
      labels[kLabelTaskArn] = spec.task_arn;
      config["Labels"] = labels;
      // Creating an existing volume with the same driver returns it: shared volumes are reused.
      auto created = client_.CreateVolume(config);
      if (!created.ok()) return created.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DockerRuntime::Create(const ContainerSpec& spec) {
  if (absl::Status s = EnsureVolumes(spec); !s.ok()) return s;
  std::string name = spec.name;
  nlohmann::json config = ContainerConfig(spec);
  for (const auto& from : spec.definition.volumes_from()) {
    // volumesFrom names a container of the same task: its runtime name has the same shape.
    std::string source = name;
    std::string own = spec.definition.name();
    size_t at = source.rfind("-" + own + "-");
    if (at != std::string::npos) source.replace(at + 1, own.size(), from.source_container());
    config["HostConfig"]["VolumesFrom"].push_back(source + (from.read_only() ? ":ro" : ""));
  }
  auto id = client_.CreateContainer(name, config);
  if (absl::IsAlreadyExists(id.status())) {
    // A container of this name exists: an earlier attempt got as far as creating it. Use it only
    // if it is ours for the same task; otherwise report the conflict.
    auto existing = client_.InspectContainer(name);
    if (existing.ok() &&
        existing->value("/Config/Labels"_json_pointer, nlohmann::json::object()).value(kLabelTaskArn, "") ==
            spec.task_arn) {
      return existing->value("Id", "");
    }
  }
  return id;
}

absl::Status DockerRuntime::Start(const std::string& id) { return client_.StartContainer(id); }

absl::Status DockerRuntime::Stop(const std::string& id, int timeout_seconds) {
  absl::Status s = client_.StopContainer(id, timeout_seconds);
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

absl::Status DockerRuntime::Remove(const std::string& id) { return client_.RemoveContainer(id, true, true); }

absl::StatusOr<ContainerStatus> DockerRuntime::Inspect(const std::string& id) {
  auto j = client_.InspectContainer(id);
  ContainerStatus out;
  if (absl::IsNotFound(j.status())) return out;  // kMissing
  if (!j.ok()) return j.status();
  const nlohmann::json& state = (*j)["State"];
  std::string status = state.value("Status", "");
  if (status == "running" || status == "paused" || status == "restarting") {
    out.state = ContainerState::kRunning;
  } else if (status == "exited" || status == "dead") {
    out.state = ContainerState::kExited;
    out.exit_code = state.value("ExitCode", 0);
    if (state.value("OOMKilled", false)) {
      out.error = "OutOfMemoryError: Container killed due to memory usage";
    } else if (!state.value("Error", "").empty()) {
      out.error = state.value("Error", "");
    }
  } else {
    out.state = ContainerState::kCreated;
  }
  if (state.contains("Health") && state["Health"].is_object()) out.health = state["Health"].value("Status", "");
  out.image_digest = j->value("Image", "");
  const nlohmann::json ports = j->value("/NetworkSettings/Ports"_json_pointer, nlohmann::json::object());
  if (ports.is_object()) {
    for (const auto& [key, list] : ports.items()) {
      if (!list.is_array()) continue;
      size_t slash = key.find('/');
      int32_t container_port = 0;
      if (!ParseInt(key.substr(0, slash), &container_port)) continue;
      std::string protocol = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
      for (const auto& b : list) {
        int32_t host_port = 0;
        if (!ParseInt(b.value("HostPort", ""), &host_port)) continue;
        std::string ip = b.value("HostIp", "");
        if (ip == "::") continue;  // the IPv6 twin of a 0.0.0.0 binding
        out.bindings.push_back({container_port, host_port, protocol, ip.empty() ? "0.0.0.0" : ip});
      }
    }
  }
  return out;
}

absl::StatusOr<std::vector<ManagedContainer>> DockerRuntime::ListManaged(const std::string& cluster,
                                                                         const std::string& instance_arn) {
  auto listed = client_.ListContainers({{kLabelCluster, cluster}, {kLabelInstance, instance_arn}}, true);
  if (!listed.ok()) return listed.status();
  std::vector<ManagedContainer> out;
  for (const auto& c : *listed) {
    const nlohmann::json labels = c.value("Labels", nlohmann::json::object());
    ManagedContainer m;
    m.id = c.value("Id", "");
    m.task_arn = labels.value(kLabelTaskArn, "");
    m.container_name = labels.value(kLabelContainerName, "");
    m.network_holder = labels.contains(kLabelNetworkHolder);
    out.push_back(std::move(m));
  }
  return out;
}

absl::Status DockerRuntime::EnsureAwsvpcNetwork() {
  {
    std::lock_guard lock(mu_);
    if (network_ready_) return absl::OkStatus();
  }
  auto existing = client_.InspectNetwork(options_.awsvpc_network);
  if (existing.ok()) {
    std::string subnet;
    for (const auto& c : existing->value("/IPAM/Config"_json_pointer, nlohmann::json::array())) {
      subnet = c.value("Subnet", "");
    }
    if (subnet != options_.awsvpc_cidr) {
      // Made for another --awsvpc-cidr. Replace it when nothing uses it; never under running tasks.
      if (!existing->value("Containers", nlohmann::json::object()).empty()) {
        return absl::FailedPreconditionError(StrCat("Docker network ", options_.awsvpc_network, " has subnet ", subnet,
                                                    ", not --awsvpc-cidr ", options_.awsvpc_cidr,
                                                    ", and containers still use it"));
      }
      log::Warn("replacing Docker network {} (subnet {}) with subnet {}", options_.awsvpc_network, subnet,
                options_.awsvpc_cidr);
      if (absl::Status s = client_.RemoveNetwork(options_.awsvpc_network); !s.ok()) return s;
      existing = absl::NotFoundError("removed");
    }
  }
  if (absl::IsNotFound(existing.status())) {
    nlohmann::json config = {{"Name", options_.awsvpc_network},
                             {"Driver", "bridge"},
                             {"CheckDuplicate", true},
                             {"IPAM", {{"Config", nlohmann::json::array({{{"Subnet", options_.awsvpc_cidr}}})}}},
                             {"Labels", {{"com.berth.awsvpc", "true"}}}};
    auto created = client_.CreateNetwork(config);
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
  } else if (!existing.ok()) {
    return existing.status();
  }
  std::lock_guard lock(mu_);
  network_ready_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> DockerRuntime::CreateTaskCgroup(const std::string& task_id, int64_t cpu,
                                                            int64_t memory_mib) {
  if (!cgroups_) return std::string();
  return cgroups_->Create(task_id, cpu, memory_mib);
}

absl::Status DockerRuntime::RemoveTaskCgroup(const std::string& task_id) {
  if (!cgroups_) return absl::OkStatus();
  return cgroups_->Remove(task_id);
}

absl::StatusOr<int64_t> DockerRuntime::DiskUsage(const std::string& id) {
  ASSIGN_OR_RETURN(nlohmann::json inspect, client_.InspectContainer(id, true));
  auto size = inspect.find("SizeRw");
  return size != inspect.end() && size->is_number_integer() ? size->get<int64_t>() : int64_t{0};
}

absl::StatusOr<TaskNetwork> DockerRuntime::CreateTaskNetwork(const std::string& task_arn, const std::string& address,
                                                             const std::map<std::string, std::string>& labels) {
  if (absl::Status s = EnsureAwsvpcNetwork(); !s.ok()) return s;
  if (absl::Status s = client_.PullImage(options_.pause_image); !s.ok()) {
    // A local-only pause image cannot be pulled; it is fine when it is present.
    if (!client_.InspectImage(options_.pause_image).ok()) return s;
  }
  nlohmann::json config = {
      {"Image", options_.pause_image},
      {"Cmd", {"sleep", "2147483647"}},
      {"Labels", labels},
      {"HostConfig", {{"NetworkMode", options_.awsvpc_network}, {"CpuShares", 2}}},
      {"NetworkingConfig",
       {{"EndpointsConfig", {{options_.awsvpc_network, {{"IPAMConfig", {{"IPv4Address", address}}}}}}}}}};
  std::string name = "berth-net-" + task_arn.substr(task_arn.rfind('/') + 1);
  auto id = client_.CreateContainer(name, config);
  if (!id.ok()) return id.status();
  if (absl::Status s = client_.StartContainer(*id); !s.ok()) {
    (void)client_.RemoveContainer(*id, true, false);
    return s;
  }
  return TaskNetwork{*id, address};
}

}  // namespace berth::agent

namespace berth::agent {

nlohmann::json DockerRuntime::LogConfig(const v1::ContainerDefinition& d) {
  // awslogs and no logConfiguration: the engine keeps the output in json-file logs the agent
  // reads back (FollowOutput) and ships to berthd; mode and max-buffer-size are the engine's own
  // options for every driver, so a non-blocking container never waits on the engine's log writer.
  const bool captured = !d.has_log_configuration() || d.log_configuration().log_driver() == "awslogs";
  if (captured) {
    nlohmann::json options = {{"max-size", "10m"}, {"max-file", "3"}};
    if (d.has_log_configuration()) {
      for (const char* key : {"mode", "max-buffer-size"}) {
        auto it = d.log_configuration().options().find(key);
        if (it != d.log_configuration().options().end()) options[key] = it->second;
      }
    }
    return {{"Type", "json-file"}, {"Config", options}};
  }
  // Any other driver is the engine's: its options as written (awsfirelens needs a log router
  // Berth does not run; its containers log with the engine's default driver).
  if (d.log_configuration().log_driver() == "awsfirelens") return nlohmann::json::object();
  nlohmann::json options = nlohmann::json::object();
  for (const auto& [key, value] : d.log_configuration().options()) options[key] = value;
  return {{"Type", d.log_configuration().log_driver()}, {"Config", options}};
}

absl::Status DockerRuntime::FollowOutput(const std::string& id, int64_t since_ns,
                                         const std::function<bool(OutputLine)>& on_line) {
  ASSIGN_OR_RETURN(nlohmann::json inspected, client_.InspectContainer(id));
  const bool tty = inspected.value("/Config/Tty"_json_pointer, false);
  docker::LogStreamDecoder decoder(tty);
  bool keep_going = true;
  absl::Status decoded;
  auto emit = [&](docker::LogLine line) {
    if (!keep_going) return;
    keep_going =
        on_line(OutputLine{.stream = line.stream, .timestamp_ns = line.timestamp_ns, .text = std::move(line.text)});
  };
  absl::Status followed =
      client_.FollowLogs(id, since_ns > 0 ? docker::DockerSince(since_ns) : "0", [&](std::string_view bytes) {
        decoded = decoder.Feed(bytes, emit);
        return decoded.ok() && keep_going;
      });
  RETURN_IF_ERROR(decoded);
  RETURN_IF_ERROR(followed);
  if (keep_going) decoder.Finish(emit);
  return absl::OkStatus();
}

}  // namespace berth::agent
