#include "src/controlplane/actions/capacity_controller.h"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <future>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "berth/common/logging.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/scheduler/managed_scaling.h"

namespace berth::controlplane {
namespace {

using nlohmann::json;

absl::Status Bad(std::string_view field, std::string_view rule) {
  return absl::InvalidArgumentError(StrCat(field, ": ", rule));
}

absl::Status CheckKeys(const json& object, std::string_view field, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Bad(StrCat(field, ".", key), "unknown setting");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> String(const json& object, std::string_view field, const char* key, bool required) {
  if (!object.contains(key)) {
    if (required) return Bad(StrCat(field, ".", key), "required");
    return std::string();
  }
  if (!object[key].is_string() || object[key].get<std::string>().empty()) {
    return Bad(StrCat(field, ".", key), "must be a non-empty string");
  }
  return object[key].get<std::string>();
}

absl::StatusOr<int64_t> Integer(const json& object, std::string_view field, const char* key, int64_t fallback,
                                int64_t min, int64_t max) {
  if (!object.contains(key)) return fallback;
  if (!object[key].is_number_integer()) return Bad(StrCat(field, ".", key), "must be an integer");
  const int64_t v = object[key].get<int64_t>();
  if (v < min || v > max) return Bad(StrCat(field, ".", key), StrCat("must be between ", min, " and ", max));
  return v;
}

absl::StatusOr<std::vector<std::string>> Strings(const json& object, std::string_view field, const char* key) {
  std::vector<std::string> out;
  if (!object.contains(key)) return out;
  if (!object[key].is_array()) return Bad(StrCat(field, ".", key), "must be an array of strings");
  for (const auto& v : object[key]) {
    if (!v.is_string()) return Bad(StrCat(field, ".", key), "must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

bool IsGroupName(const std::string& name) {
  return !name.empty() && name.size() <= 255 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

// Runs an Api action to completion (the controller's own calls; no door, so no authorization).
template <typename Actions, typename Request, typename Response>
absl::Status Call(Api* api, void (Actions::*action)(const Request&, Response*, Api::Done), const Request& request) {
  Response response;
  std::promise<absl::Status> done;
  (api->actions<Actions>().*action)(request, &response, [&done](absl::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

// A local provider's settings; `reserved` agent flags are berthd's to set.
absl::StatusOr<providers::LocalProviderOptions> ParseLocal(const json& l, const std::string& lf,
                                                           const std::vector<std::string>& reserved, bool zones) {
  if (!l.is_object()) return Bad(lf, "must be an object");
  if (zones) {
    RETURN_IF_ERROR(
        CheckKeys(l, lf, {"agentBinary", "agentFlags", "availabilityZones", "workDir", "stopTimeoutSeconds"}));
  } else {
    RETURN_IF_ERROR(CheckKeys(l, lf, {"agentBinary", "agentFlags", "workDir", "stopTimeoutSeconds"}));
  }
  providers::LocalProviderOptions o;
  ASSIGN_OR_RETURN(o.agent_binary, String(l, lf, "agentBinary", true));
  ASSIGN_OR_RETURN(o.agent_flags, Strings(l, lf, "agentFlags"));
  ASSIGN_OR_RETURN(o.availability_zones, Strings(l, lf, "availabilityZones"));
  ASSIGN_OR_RETURN(o.work_dir, String(l, lf, "workDir", true));
  ASSIGN_OR_RETURN(int64_t stop, Integer(l, lf, "stopTimeoutSeconds", 10, 1, 3600));
  o.stop_timeout_ms = static_cast<int>(stop * 1000);
  for (const auto& flag : o.agent_flags) {
    if (std::find(reserved.begin(), reserved.end(), flag) != reserved.end()) {
      return Bad(StrCat(lf, ".agentFlags"),
                 StrCat(flag, " is set by berthd (as are ", absl::StrJoin(reserved, ", "), ")"));
    }
  }
  return o;
}

absl::StatusOr<providers::CommandProviderOptions> ParseCommand(const json& cmd, const std::string& cf) {
  if (!cmd.is_object()) return Bad(cf, "must be an object");
  RETURN_IF_ERROR(CheckKeys(cmd, cf, {"program", "timeoutSeconds"}));
  providers::CommandProviderOptions o;
  ASSIGN_OR_RETURN(o.program, String(cmd, cf, "program", true));
  ASSIGN_OR_RETURN(int64_t timeout, Integer(cmd, cf, "timeoutSeconds", 300, 1, 3600));
  o.timeout_ms = static_cast<int>(timeout * 1000);
  return o;
}

// Seconds between `min` and `max`, or `fallback` when absent.
absl::StatusOr<double> Seconds(const json& object, std::string_view field, const char* key, double fallback, double min,
                               double max) {
  if (!object.contains(key)) return fallback;
  if (!object[key].is_number() || object[key].get<double>() < min || object[key].get<double>() > max) {
    return Bad(StrCat(field, ".", key), StrCat("must be a number of seconds between ", min, " and ", max));
  }
  return object[key].get<double>();
}

// An IPv4 CIDR with a prefix of 8 to 26: its network address (host order) and prefix length.
bool ParseSubnet(const std::string& cidr, uint32_t* net, int* bits) {
  const size_t slash = cidr.find('/');
  in_addr base{};
  if (slash == std::string::npos || inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &base) != 1 ||
      !absl::SimpleAtoi(cidr.substr(slash + 1), bits) || *bits < 8 || *bits > 26) {
    return false;
  }
  *net = ntohl(base.s_addr) & (~0u << (32 - *bits));
  return true;
}

// The agent flags berthd sets on a Fargate host.
const std::vector<std::string> kFargateReservedFlags = {
    "--endpoint",     "--cluster",           "--data-dir",     "--cpu",
    "--memory",       "--availability-zone", "--awsvpc-cidr",  "--awsvpc-network",
    "--awsvpc-range", "--reserved-memory",   "--cleanup-after"};

absl::StatusOr<FargateConfig> ParseFargate(const json& f) {
  const std::string field = "fargate";
  if (!f.is_object()) return Bad(field, "must be an object");
  RETURN_IF_ERROR(CheckKeys(f, field,
                            {"local", "command", "availabilityZones", "maxHosts", "subnetCidr", "network",
                             "registrationTimeoutSeconds", "cleanupSeconds", "intervalSeconds"}));
  FargateConfig c;
  if (f.contains("local") == f.contains("command")) return Bad(field, "give exactly one provider: local or command");
  if (f.contains("local")) {
    ASSIGN_OR_RETURN(c.local, ParseLocal(f["local"], "fargate.local", kFargateReservedFlags, false));
  } else {
    ASSIGN_OR_RETURN(c.command, ParseCommand(f["command"], "fargate.command"));
  }
  ASSIGN_OR_RETURN(c.availability_zones, Strings(f, field, "availabilityZones"));
  for (const auto& z : c.availability_zones) {
    if (z.empty() || z.size() > 128) return Bad("fargate.availabilityZones", "each zone 1-128 characters");
  }
  ASSIGN_OR_RETURN(int64_t max_hosts, Integer(f, field, "maxHosts", 100, 1, 10000));
  c.max_hosts = static_cast<int>(max_hosts);
  ASSIGN_OR_RETURN(std::string subnet, String(f, field, "subnetCidr", false));
  if (!subnet.empty()) c.subnet_cidr = subnet;
  uint32_t net = 0;
  int bits = 0;
  if (!ParseSubnet(c.subnet_cidr, &net, &bits)) {
    return Bad("fargate.subnetCidr", "must be an IPv4 CIDR with a prefix of /8 to /26 (each host gets a /28)");
  }
  if (c.local && (int64_t{1} << (28 - bits)) < max_hosts) {
    return Bad("fargate.subnetCidr", StrCat(c.subnet_cidr, " has ", int64_t{1} << (28 - bits),
                                            " /28 ranges, fewer than maxHosts ", max_hosts));
  }
  ASSIGN_OR_RETURN(std::string network, String(f, field, "network", false));
  if (!network.empty()) c.network = network;
  ASSIGN_OR_RETURN(c.registration_timeout_seconds, Seconds(f, field, "registrationTimeoutSeconds", 300, 1, 86400));
  ASSIGN_OR_RETURN(c.cleanup_seconds, Seconds(f, field, "cleanupSeconds", 2, 0, 3600));
  ASSIGN_OR_RETURN(c.interval_seconds, Seconds(f, field, "intervalSeconds", 1, 0.05, 3600));
  return c;
}

}  // namespace

absl::StatusOr<CapacityConfig> ParseCapacityConfig(const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return absl::InvalidArgumentError("the capacity config is not a JSON object");
  RETURN_IF_ERROR(CheckKeys(doc, "", {"instanceGroups", "fargate", "intervalSeconds"}));
  CapacityConfig config;
  if (doc.contains("intervalSeconds")) {
    if (!doc["intervalSeconds"].is_number() || doc["intervalSeconds"].get<double>() < 0.1 ||
        doc["intervalSeconds"].get<double>() > 3600) {
      return Bad("intervalSeconds", "must be a number of seconds between 0.1 and 3600");
    }
    config.interval_seconds = doc["intervalSeconds"].get<double>();
  }
  if (doc.contains("fargate")) {
    ASSIGN_OR_RETURN(config.fargate, ParseFargate(doc["fargate"]));
  }
  if (!doc.contains("instanceGroups") && config.fargate) return config;
  if (!doc.contains("instanceGroups") || !doc["instanceGroups"].is_array()) {
    return Bad("instanceGroups", "required: an array of instance groups (or a fargate section alone)");
  }
  for (size_t i = 0; i < doc["instanceGroups"].size(); ++i) {
    const json& g = doc["instanceGroups"][i];
    const std::string field = StrCat("instanceGroups[", i, "]");
    if (!g.is_object()) return Bad(field, "must be an object");
    RETURN_IF_ERROR(CheckKeys(
        g, field,
        {"name", "cluster", "minSize", "maxSize", "desiredCapacity", "hostCpu", "hostMemory", "local", "command"}));
    InstanceGroupConfig c;
    ASSIGN_OR_RETURN(c.name, String(g, field, "name", true));
    if (!IsGroupName(c.name)) return Bad(StrCat(field, ".name"), "use 1-255 letters, digits, '.', '-' and '_'");
    for (const auto& other : config.groups) {
      if (other.name == c.name) return Bad(StrCat(field, ".name"), StrCat("'", c.name, "' is declared twice"));
    }
    ASSIGN_OR_RETURN(std::string cluster, String(g, field, "cluster", false));
    if (!cluster.empty()) c.cluster = cluster;
    ASSIGN_OR_RETURN(int64_t max, Integer(g, field, "maxSize", -1, 0, 10000));
    if (max < 0) return Bad(StrCat(field, ".maxSize"), "required");
    ASSIGN_OR_RETURN(int64_t min, Integer(g, field, "minSize", 0, 0, max));
    ASSIGN_OR_RETURN(int64_t desired, Integer(g, field, "desiredCapacity", min, min, max));
    c.min_size = static_cast<int>(min);
    c.max_size = static_cast<int>(max);
    c.desired_capacity = static_cast<int>(desired);
    ASSIGN_OR_RETURN(c.host_cpu, Integer(g, field, "hostCpu", 0, 0, 1 << 24));
    ASSIGN_OR_RETURN(c.host_memory, Integer(g, field, "hostMemory", 0, 0, 1 << 30));
    if (g.contains("local") == g.contains("command")) {
      return Bad(field, "give exactly one provider: local or command");
    }
    if (g.contains("local")) {
      ASSIGN_OR_RETURN(
          c.local, ParseLocal(g["local"], StrCat(field, ".local"), {"--endpoint", "--cluster", "--data-dir"}, true));
    } else {
      ASSIGN_OR_RETURN(c.command, ParseCommand(g["command"], StrCat(field, ".command")));
    }
    config.groups.push_back(std::move(c));
  }
  return config;
}

absl::StatusOr<std::unique_ptr<CapacityController>> CapacityController::Create(Api* api, CapacityConfig config,
                                                                               const std::string& endpoint) {
  std::unique_ptr<CapacityController> controller(new CapacityController(api, config.interval_seconds));
  for (auto& c : config.groups) {
    std::shared_ptr<providers::InstanceProvider> provider;
    if (c.local) {
      providers::LocalProviderOptions o = *c.local;
      o.agent_flags.insert(o.agent_flags.end(), {"--endpoint", endpoint, "--cluster", c.cluster, "--attribute",
                                                 StrCat(providers::kInstanceGroupAttribute, "=", c.name)});
      if (c.host_cpu > 0) o.agent_flags.insert(o.agent_flags.end(), {"--cpu", std::to_string(c.host_cpu)});
      if (c.host_memory > 0) o.agent_flags.insert(o.agent_flags.end(), {"--memory", std::to_string(c.host_memory)});
      o.work_dir = StrCat(o.work_dir, "/", c.name);
      auto made = providers::NewLocalProvider(std::move(o));
      if (!made.ok())
        return absl::Status(made.status().code(), StrCat("instance group ", c.name, ": ", made.status().message()));
      provider = *std::move(made);
    } else {
      auto made = providers::NewCommandProvider(*c.command);
      if (!made.ok())
        return absl::Status(made.status().code(), StrCat("instance group ", c.name, ": ", made.status().message()));
      provider = *std::move(made);
    }
    auto group = providers::InstanceGroup::Create(c.name, c.min_size, c.max_size, c.desired_capacity, provider);
    if (!group.ok())
      return absl::Status(group.status().code(), StrCat("instance group ", c.name, ": ", group.status().message()));
    controller->groups_.push_back(Group{.config = c,
                                        .group = std::make_unique<providers::InstanceGroup>(*std::move(group)),
                                        .draining = {},
                                        .last_reservation = -1,
                                        .launched_at = {}});
  }
  if (config.fargate) {
    Fargate f;
    f.config = *config.fargate;
    if (f.config.local) {
      providers::LocalProviderOptions o = *f.config.local;
      // Each host reports its task's containers gone at once (it is stopped right after), and
      // gives addresses from its own /28 of the shared network (--awsvpc-range, per launch).
      o.agent_flags.insert(o.agent_flags.end(), {"--endpoint", endpoint, "--cleanup-after", "0", "--awsvpc-cidr",
                                                 f.config.subnet_cidr, "--awsvpc-network", f.config.network});
      o.work_dir = StrCat(o.work_dir, "/fargate");
      auto made = providers::NewLocalProvider(std::move(o));
      if (!made.ok()) return absl::Status(made.status().code(), StrCat("fargate: ", made.status().message()));
      f.provider = *std::move(made);
      int bits = 0;
      ParseSubnet(f.config.subnet_cidr, &f.subnet, &bits);
      f.slots.assign(std::min<size_t>(size_t{1} << (28 - bits), 65536), false);
    } else {
      auto made = providers::NewCommandProvider(*f.config.command);
      if (!made.ok()) return absl::Status(made.status().code(), StrCat("fargate: ", made.status().message()));
      f.provider = *std::move(made);
    }
    controller->fargate_ = std::move(f);
  }
  return controller;
}

CapacityController::~CapacityController() { Stop(); }

void CapacityController::Start() {
  const double tick = fargate_ ? std::min(interval_seconds_, fargate_->config.interval_seconds) : interval_seconds_;
  thread_ = std::thread([this, tick] {
    do {
      RunOnce();
    } while (!stop_.WaitForNotificationWithTimeout(absl::Seconds(tick)));
  });
}

void CapacityController::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void CapacityController::RunOnce() {
  const auto now = std::chrono::steady_clock::now();
  if (!groups_.empty() && now >= next_groups_pass_) {
    next_groups_pass_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(interval_seconds_ * 0.99));
    const std::map<std::string, CapacityActions::GroupUsage> usage = api_->capacity().CapacityUsage();
    for (Group& g : groups_) {
      auto it = usage.find(g.config.name);
      Pass(g, it == usage.end() ? nullptr : &it->second);
    }
  }
  if (fargate_ && now >= fargate_->next_pass) {
    fargate_->next_pass = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(fargate_->config.interval_seconds * 0.99));
    FargatePass(*fargate_);
  }
}

void CapacityController::StopFargateHost(Fargate& f, const std::string& id, const std::string& instance_id) {
  auto it = f.hosts.find(id);
  if (absl::Status s = f.provider->Terminate({id}); !s.ok()) {
    log::Warn("fargate: stopping host {}: {}", id, s.ToString());
  }
  if (!instance_id.empty()) {
    v1::DeregisterContainerInstanceRequest request;
    request.set_cluster(it != f.hosts.end() ? it->second.cluster : std::string());
    request.set_container_instance(instance_id);
    request.set_force(true);
    if (absl::Status s = Call(api_, &InstanceActions::DeregisterContainerInstance, request);
        !s.ok() && !absl::IsNotFound(s)) {
      log::Warn("fargate: deregistering host {} (instance {}): {}", id, instance_id, s.ToString());
    }
  }
  if (it == f.hosts.end()) return;
  if (it->second.slot >= 0) f.slots[it->second.slot] = false;
  f.by_task.erase(StrCat(it->second.cluster, "/", it->second.task_id));
  f.hosts.erase(it);
}

void CapacityController::FargatePass(Fargate& f) {
  std::vector<std::pair<std::string, std::string>> watch;
  for (const auto& [id, h] : f.hosts) watch.emplace_back(h.cluster, h.task_id);
  const CapacityActions::FargateUsage usage = api_->capacity().FargateSnapshot(watch);
  const auto now = std::chrono::steady_clock::now();

  // Registered Fargate hosts the pool does not know (berthd restarted): a connected one is taken
  // over when the provider can; any other is deregistered, which stops its task (its host is gone
  // or cannot be managed) so a service replaces it.
  for (const auto& [id, h] : usage.hosts) {
    if (f.hosts.contains(id)) continue;
    if (h.agent_connected && f.provider->CanAdopt()) {
      f.hosts[id] = FargateHost{.cluster = h.cluster,
                                .task_id = h.task_id,
                                .group = {},
                                .zone = {},
                                .slot = -1,
                                .launched_at = now,
                                .done_since = std::nullopt,
                                .lost_since = std::nullopt};
      f.by_task[StrCat(h.cluster, "/", h.task_id)] = id;
      log::Info("fargate: took over running host {} of task {}", id, h.task_id);
      continue;
    }
    v1::DeregisterContainerInstanceRequest request;
    request.set_cluster(h.cluster);
    request.set_container_instance(h.instance_id);
    request.set_force(true);
    if (absl::Status s = Call(api_, &InstanceActions::DeregisterContainerInstance, request); s.ok()) {
      log::Info("fargate: deregistered instance {} of a host the pool does not run ({})", h.instance_id, id);
    }
  }

  // Hosts whose task is STOPPED (or gone) are stopped once the agent had time to remove the
  // task's containers; hosts that never registered are replaced.
  const auto cleanup = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(f.config.cleanup_seconds));
  const auto registration = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(f.config.registration_timeout_seconds));
  std::vector<std::string> ids;
  for (const auto& [id, h] : f.hosts) ids.push_back(id);
  for (const auto& id : ids) {
    FargateHost& h = f.hosts.at(id);
    auto registered = usage.hosts.find(id);
    const std::string instance_id = registered == usage.hosts.end() ? std::string() : registered->second.instance_id;
    if (!usage.live.contains(StrCat(h.cluster, "/", h.task_id))) {
      if (!h.done_since) h.done_since = now;
      if (instance_id.empty() || now - *h.done_since >= cleanup) {
        log::Info("fargate: task {} is done; stopping its host {}", h.task_id, id);
        StopFargateHost(f, id, instance_id);
      }
      continue;
    }
    if (instance_id.empty() && now - h.launched_at >= registration) {
      log::Warn("fargate: host {} of task {} did not register within {} s; replacing it", id, h.task_id,
                f.config.registration_timeout_seconds);
      StopFargateHost(f, id, std::string());
      continue;
    }
    // A host whose agent stays disconnected as long is lost (it crashed, or its machine did): it
    // is stopped and deregistered, which stops its task, and a service replaces it.
    const bool lost = !instance_id.empty() && !registered->second.agent_connected;
    if (!lost) {
      h.lost_since.reset();
    } else if (!h.lost_since) {
      h.lost_since = now;
    } else if (now - *h.lost_since >= registration) {
      log::Warn("fargate: host {} of task {} has been disconnected for {} s; stopping it and its task", id, h.task_id,
                f.config.registration_timeout_seconds);
      StopFargateHost(f, id, instance_id);
    }
  }

  // A host for every waiting task without one, in the zone where its group has fewest.
  for (const auto& task : usage.waiting) {
    const std::string key = StrCat(task.cluster, "/", task.id);
    if (f.by_task.contains(key)) continue;
    if (static_cast<int>(f.hosts.size()) >= f.config.max_hosts) {
      log::Warn("fargate: {} hosts running, the most fargate.maxHosts allows; task {} waits", f.hosts.size(), task.id);
      break;
    }
    providers::HostSpec spec;
    spec.cluster = task.cluster;
    spec.cpu = task.cpu;
    spec.memory = task.memory;
    spec.attributes.push_back(StrCat(kFargateTaskAttribute, "=", task.id));
    if (!f.config.availability_zones.empty()) {
      std::map<std::string, int> in_zone;
      for (const auto& [id, h] : f.hosts) {
        if (h.cluster == task.cluster && h.group == task.group) ++in_zone[h.zone];
      }
      const size_t n = f.config.availability_zones.size();
      size_t best = f.next_zone % n;
      for (size_t k = 0; k < n; ++k) {
        const size_t z = (f.next_zone + k) % n;
        if (in_zone[f.config.availability_zones[z]] < in_zone[f.config.availability_zones[best]]) best = z;
      }
      f.next_zone = best + 1;
      spec.availability_zone = f.config.availability_zones[best];
    }
    int slot = -1;
    if (!f.slots.empty()) {
      for (size_t i = 0; i < f.slots.size(); ++i) {
        if (!f.slots[i]) {
          slot = static_cast<int>(i);
          break;
        }
      }
      if (slot < 0) break;
      in_addr range{htonl(f.subnet + static_cast<uint32_t>(slot) * 16)};
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &range, buf, sizeof(buf));
      spec.agent_flags = {"--awsvpc-range", StrCat(buf, "/28")};
    }
    auto launched = f.provider->Launch(1, spec);
    if (!launched.ok() || launched->empty()) {
      log::Warn("fargate: starting a host for task {}: {}", task.id,
                launched.ok() ? "the provider started none" : launched.status().ToString());
      break;  // try again next pass
    }
    const std::string& id = launched->front();
    if (slot >= 0) f.slots[slot] = true;
    f.hosts[id] = FargateHost{.cluster = task.cluster,
                              .task_id = task.id,
                              .group = task.group,
                              .zone = spec.availability_zone,
                              .slot = slot,
                              .launched_at = now,
                              .done_since = std::nullopt,
                              .lost_since = std::nullopt};
    f.by_task[key] = id;
    log::Info("fargate: started host {} ({} CPU units, {} MiB{}) for task {}", id, task.cpu, task.memory,
              spec.availability_zone.empty() ? "" : StrCat(", ", spec.availability_zone), task.id);
  }
}

void CapacityController::Terminate(Group& g, const CapacityActions::GroupUsage& usage,
                                   const std::vector<std::string>& ids) {
  providers::InstanceGroup& group = *g.group;
  const int keep = static_cast<int>(group.hosts().size() - ids.size());
  if (absl::Status s = group.SetDesired(std::max(keep, group.min())); !s.ok()) {
    log::Warn("instance group {}: {}", g.config.name, s.ToString());
    return;
  }
  if (absl::Status s = group.Reconcile(ids); !s.ok()) {
    log::Warn("instance group {}: scaling in: {}", g.config.name, s.ToString());
  }
  for (const auto& id : ids) {
    g.draining.erase(id);
    if (std::find(group.hosts().begin(), group.hosts().end(), id) != group.hosts().end()) continue;  // still there
    auto h = usage.hosts.find(id);
    if (h == usage.hosts.end()) continue;
    v1::DeregisterContainerInstanceRequest request;
    request.set_cluster(usage.cluster);
    request.set_container_instance(h->second.instance_id);
    request.set_force(true);
    if (absl::Status s = Call(api_, &InstanceActions::DeregisterContainerInstance, request); !s.ok()) {
      log::Warn("instance group {}: deregistering {}: {}", g.config.name, h->second.instance_id, s.ToString());
    }
  }
}

void CapacityController::AdoptOrDeregisterUnknown(Group& g, const CapacityActions::GroupUsage& usage) {
  // A connected one is taken over when the provider can (a command provider's hosts outlive
  // berthd); a disconnected one is gone for good (a local host stopped with the previous berthd)
  // and is deregistered, so its tasks are replaced.
  providers::InstanceGroup& group = *g.group;
  for (const auto& [id, h] : usage.hosts) {
    if (std::find(group.hosts().begin(), group.hosts().end(), id) != group.hosts().end()) continue;
    if (h.agent_connected) {
      if (group.CanAdopt()) {
        if (absl::Status s = group.Adopt(id); s.ok()) {
          log::Info("instance group {}: took over running host {} (instance {})", g.config.name, id, h.instance_id);
        }
      }
      continue;
    }
    v1::DeregisterContainerInstanceRequest request;
    request.set_cluster(usage.cluster);
    request.set_container_instance(h.instance_id);
    request.set_force(true);
    if (absl::Status s = Call(api_, &InstanceActions::DeregisterContainerInstance, request); s.ok()) {
      log::Info("instance group {}: deregistered instance {} of a host it no longer has ({})", g.config.name,
                h.instance_id, id);
    } else {
      log::Warn("instance group {}: deregistering {}: {}", g.config.name, h.instance_id, s.ToString());
    }
  }
}

void CapacityController::ReplaceUnregistered(Group& g, const CapacityActions::GroupUsage& usage) {
  // Hosts launched longer than instanceWarmupPeriod ago whose agent never registered are broken
  // (the agent failed to start or cannot reach berthd).
  providers::InstanceGroup& group = *g.group;
  const auto now = std::chrono::steady_clock::now();
  for (auto it = g.launched_at.begin(); it != g.launched_at.end();) {
    const bool present = std::find(group.hosts().begin(), group.hosts().end(), it->first) != group.hosts().end();
    it = present ? std::next(it) : g.launched_at.erase(it);
  }
  for (const auto& id : group.hosts()) g.launched_at.try_emplace(id, now);
  const auto warmup = std::chrono::seconds(usage.settings.managed_scaling().instance_warmup_period());
  std::vector<std::string> unregistered;
  for (const auto& [id, at] : g.launched_at) {
    if (!usage.hosts.contains(id) && now - at >= warmup) unregistered.push_back(id);
  }
  if (unregistered.empty()) return;
  log::Warn(
      "instance group {}: {} hosts did not register within the instanceWarmupPeriod of {} s; replacing them "
      "(first: {})",
      g.config.name, unregistered.size(), warmup.count(), unregistered.front());
  for (const auto& id : unregistered) g.launched_at.erase(id);
  if (absl::Status s = group.Replace(unregistered); !s.ok()) {
    log::Warn("instance group {}: replacing hosts: {}", g.config.name, s.ToString());
  }
}

scheduler::ScalingDecision CapacityController::DecideSize(Group& g, const CapacityActions::GroupUsage& usage,
                                                          const std::vector<std::string>& active) {
  const providers::InstanceGroup& group = *g.group;
  int busy = 0;
  scheduler::TaskSize host{g.config.host_cpu, g.config.host_memory};
  for (const auto& id : active) {
    auto h = usage.hosts.find(id);
    if (h == usage.hosts.end()) continue;
    busy += h->second.busy ? 1 : 0;
  }
  if (host.cpu <= 0 || host.memory <= 0) {
    for (const auto& [id, h] : usage.hosts) {
      host.cpu = std::max(host.cpu, h.cpu);
      host.memory = std::max(host.memory, h.memory);
    }
  }
  const auto& ms = usage.settings.managed_scaling();
  std::vector<scheduler::TaskSize> waiting;
  for (const auto& [cpu, memory] : usage.waiting) waiting.push_back({cpu, memory});
  scheduler::ScalingInput in{
      .target_capacity = ms.target_capacity(),
      .min_step = ms.minimum_scaling_step_size(),
      .max_step = ms.maximum_scaling_step_size(),
      .group_min = group.min(),
      .group_max = group.max() - static_cast<int>(g.draining.size()),
      .hosts = static_cast<int>(active.size()),
      .busy_hosts = busy,
      .hosts_needed = scheduler::HostsNeeded(std::move(waiting), host, std::max(1, ms.minimum_scaling_step_size()))};
  const scheduler::ScalingDecision d = scheduler::DecideScaling(in);
  if (d.reservation != g.last_reservation) {
    log::Info(
        "capacity provider {} (instance group {}): CapacityProviderReservation {}%, {} hosts, {} busy, {} "
        "waiting tasks need {} more; desired {}",
        usage.provider, g.config.name, d.reservation, in.hosts, busy, usage.waiting.size(), in.hosts_needed, d.desired);
    g.last_reservation = d.reservation;
  }
  return d;
}

void CapacityController::ScaleIn(Group& g, const CapacityActions::GroupUsage& usage,
                                 const std::vector<std::string>& active, int count) {
  // Idle registered hosts, newest first.
  std::vector<std::string> leaving;
  for (auto id = active.rbegin(); id != active.rend() && static_cast<int>(leaving.size()) < count; ++id) {
    auto h = usage.hosts.find(*id);
    if (h == usage.hosts.end() || h->second.busy || h->second.status != "ACTIVE") continue;
    leaving.push_back(*id);
  }
  if (leaving.empty()) return;
  if (usage.settings.managed_draining() == "DISABLED") {
    Terminate(g, usage, leaving);
    return;
  }
  // UpdateContainerInstancesState takes 10 instances a call.
  size_t drained_now = 0;
  for (size_t i = 0; i < leaving.size(); i += 10) {
    v1::UpdateContainerInstancesStateRequest request;
    request.set_cluster(usage.cluster);
    request.set_status("DRAINING");
    for (size_t j = i; j < leaving.size() && j < i + 10; ++j) {
      request.add_container_instances(usage.hosts.at(leaving[j]).instance_id);
    }
    if (absl::Status s = Call(api_, &InstanceActions::UpdateContainerInstancesState, request); !s.ok()) {
      log::Warn("instance group {}: draining hosts to scale in: {}", g.config.name, s.ToString());
      break;
    }
    for (size_t j = i; j < leaving.size() && j < i + 10; ++j) g.draining.insert(leaving[j]);
    drained_now += std::min<size_t>(10, leaving.size() - i);
  }
  if (drained_now > 0) log::Info("instance group {}: draining {} idle hosts to scale in", g.config.name, drained_now);
}

void CapacityController::Pass(Group& g, const CapacityActions::GroupUsage* usage) {
  providers::InstanceGroup& group = *g.group;
  if (usage == nullptr || usage->cluster != g.config.cluster) {
    // Not scaled by a capacity provider (none names it, its managed scaling is off, or it serves
    // another cluster): the group keeps its size.
    if (static_cast<int>(group.hosts().size()) != group.desired()) {
      if (absl::Status s = group.Reconcile(); !s.ok()) log::Warn("instance group {}: {}", g.config.name, s.ToString());
    }
    return;
  }
  // 0. Instances of the group whose host the group does not know; hosts that never registered.
  AdoptOrDeregisterUnknown(g, *usage);
  ReplaceUnregistered(g, *usage);

  // 1. Hosts drained earlier that have no task left go away.
  std::vector<std::string> drained;
  for (const auto& id : g.draining) {
    auto h = usage->hosts.find(id);
    if (h == usage->hosts.end() || h->second.tasks == 0) drained.push_back(id);
  }
  if (!drained.empty()) Terminate(g, *usage, drained);

  // 2. The desired size.
  std::vector<std::string> active;
  for (const auto& id : group.hosts()) {
    if (!g.draining.contains(id)) active.push_back(id);
  }
  const scheduler::ScalingDecision d = DecideSize(g, *usage, active);
  const int hosts = static_cast<int>(active.size());

  // 3. Scale out, or in.
  if (d.desired > hosts) {
    const int total = d.desired + static_cast<int>(g.draining.size());
    if (absl::Status s = group.SetDesired(std::min(total, group.max())); !s.ok()) {
      log::Warn("instance group {}: {}", g.config.name, s.ToString());
      return;
    }
    if (absl::Status s = group.Reconcile(); !s.ok()) {
      log::Warn("instance group {}: scaling out: {}", g.config.name, s.ToString());
    }
    return;
  }
  if (d.desired < hosts) {
    ScaleIn(g, *usage, active, hosts - d.desired);
    return;
  }
  if (static_cast<int>(group.hosts().size()) != group.desired()) {
    if (absl::Status s = group.Reconcile(); !s.ok()) log::Warn("instance group {}: {}", g.config.name, s.ToString());
  }
}

}  // namespace berth::controlplane
