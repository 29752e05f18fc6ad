// Instance providers: what adds hosts to a cluster and takes them away (docs/capacity.md,
// "Instance providers"). Plumbing of the control plane: they spawn and stop processes, which the
// scheduler (business logic only) never does. A capacity provider's managed scaling decides how many hosts a group
// should have; an InstanceGroup (ECS's "Auto Scaling group": a named provider configuration with
// min, max and desired size) makes it so through its provider.
//
// Two providers:
// - local: starts and stops berth-agent processes on this machine from a template (flags such as
//   --runtime, --cpu, --memory, --attribute; availability zones round-robin), for tests and
//   single-machine users. Each host has its own data directory under the work directory.
// - command: runs an operator's program, `PROGRAM launch N [--cluster C] [--cpu UNITS]
//   [--memory MIB] [--availability-zone Z] [--attribute NAME=VALUE]...` (prints
//   {"instances": ["id", ...]} on stdout) and `PROGRAM terminate ID...` (exit 0), so any cloud or
//   bare-metal tooling plugs in. The options after N are a HostSpec's, when it sets them.
//
// Hosts are identified by the provider's ids; a host's agent registers itself (the local provider
// passes the id as the attribute berth.provider-host-id so the control plane can match them).
//
// Thread-compatible: one caller at a time (the capacity controller).
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::controlplane::providers {

inline constexpr char kProviderHostIdAttribute[] = "berth.provider-host-id";
// The instance group a host belongs to: a capacity provider places its tasks on the hosts of the
// group its autoScalingGroupArn names (docs/capacity.md).
inline constexpr char kInstanceGroupAttribute[] = "berth.instance-group";

// What one launch's hosts should be, beyond the provider's template (the Fargate hosts berthd
// starts are each sized to their task and placed in a chosen zone). Empty fields: the template's.
struct HostSpec {
  std::string cluster;
  int64_t cpu = 0;     // CPU units
  int64_t memory = 0;  // MiB
  std::string availability_zone;
  std::vector<std::string> attributes;   // "name=value"
  std::vector<std::string> agent_flags;  // more berth-agent flags (local provider only)
};

class InstanceProvider {
 public:
  virtual ~InstanceProvider() = default;
  virtual std::string_view kind() const = 0;
  // Starts `count` hosts (1 to 100) as `spec` says and returns their ids. On error nothing it
  // started is left running.
  virtual absl::StatusOr<std::vector<std::string>> Launch(int count, const HostSpec& spec) = 0;
  absl::StatusOr<std::vector<std::string>> Launch(int count) { return Launch(count, HostSpec{}); }
  // Stops the hosts `ids` (unknown ids are an error naming them; the others are still stopped).
  virtual absl::Status Terminate(const std::vector<std::string>& ids) = 0;
  // Whether it can take over a host it is told of but did not start in this process (after a
  // restart): the command provider can (its program knows hosts by id); the local provider
  // cannot (its hosts are this process's children).
  virtual bool CanAdopt() const = 0;
};

struct LocalProviderOptions {
  std::string agent_binary;                     // path of berth-agent
  std::vector<std::string> agent_flags;         // the template: --endpoint, --cluster, --runtime, ...
  std::vector<std::string> availability_zones;  // round-robin --availability-zone; empty: none
  std::string work_dir;                         // <work_dir>/<id>/ holds each host's data and log
  int stop_timeout_ms = 10000;                  // SIGTERM, then SIGKILL after this
};
// Errors name the option (agent_binary not executable, work_dir not creatable).
absl::StatusOr<std::unique_ptr<InstanceProvider>> NewLocalProvider(LocalProviderOptions options);

struct CommandProviderOptions {
  std::string program;  // run with `launch N` / `terminate ID...`, no shell
  int timeout_ms = 300000;
};
absl::StatusOr<std::unique_ptr<InstanceProvider>> NewCommandProvider(CommandProviderOptions options);

// A named group of hosts from one provider, kept between min and max, at desired.
class InstanceGroup {
 public:
  // Errors name the field: 0 <= min <= desired <= max <= 10000.
  static absl::StatusOr<InstanceGroup> Create(std::string name, int min, int max, int desired,
                                              std::shared_ptr<InstanceProvider> provider);

  const std::string& name() const { return name_; }
  int min() const { return min_; }
  int max() const { return max_; }
  int desired() const { return desired_; }
  const std::vector<std::string>& hosts() const { return hosts_; }  // oldest first

  // Takes over a running host the provider did not start in this process (CanAdopt), raising
  // desired by one (within max). FailedPrecondition when the provider cannot adopt.
  absl::Status Adopt(const std::string& id);
  bool CanAdopt() const { return provider_->CanAdopt(); }

  // Stops the hosts `ids` (broken ones, say) and launches others in their place: desired is
  // unchanged. Returns the first provider error.
  absl::Status Replace(const std::vector<std::string>& ids);

  // Sets the desired size; InvalidArgument naming desiredCapacity outside [min, max].
  absl::Status SetDesired(int desired);
  // Launches or terminates hosts until there are `desired` (newest terminated first, or
  // `prefer_terminate` first when given: drained hosts). Returns the first provider error; the
  // hosts it did change are kept track of.
  absl::Status Reconcile(const std::vector<std::string>& prefer_terminate = {});

 private:
  InstanceGroup(std::string name, int min, int max, int desired, std::shared_ptr<InstanceProvider> provider)
      : name_(std::move(name)), min_(min), max_(max), desired_(desired), provider_(std::move(provider)) {}
  std::string name_;
  int min_ = 0, max_ = 0, desired_ = 0;
  std::shared_ptr<InstanceProvider> provider_;
  std::vector<std::string> hosts_;
};

}  // namespace berth::controlplane::providers
