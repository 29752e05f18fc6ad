// Launch planning: where each task of a launch goes. RunTask, StartTask and a service's starts
// (the service scheduler's Plan) are launches; a task waiting in PROVISIONING for capacity is
// placed by PlanWaitingTask. Semantics: ECS-SEMANTICS.md ("Placement", "Capacity providers") and
// docs/capacity.md.
//
// The decisions are the scheduler's; the effects are the control plane's. PlanLaunch decides
// the launch's tasks in order and hands each step to `apply` before it decides the next: the
// control plane adds the task through its applier, which reserves its resources in the cluster's
// placement view, so the next step sees them taken. Nothing here reads or writes anything but its
// arguments. The caller prepares the view's indexes for the request's strategies first
// (placement::Engine::Prepare).
//
// Thread safety: none needed; functions work on their arguments only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/placement/cluster_view.h"
#include "berth/placement/engine.h"

namespace berth::scheduler {

// One item of a launch's capacity provider strategy, resolved by the control plane.
struct LaunchProvider {
  std::string name;
  // What its hosts carry: the attribute naming its instance group.
  placement::RequiredAttribute hosts;
  bool managed_scaling = false;
  int64_t base = 0;
  int64_t weight = 0;
  int64_t count = 0;  // tasks it already runs for this launch's owner (a service's tasks), else 0
};

// The failure reason of a FARGATE task that cannot wait for a host (ECS's wording).
inline constexpr char kFargateCapacityUnavailable[] =
    "Capacity is unavailable at this time. Please try again later or in a different availability zone";

struct LaunchSpec {
  // What every task asks of its instance (demand, launch type, constraints, strategies, required
  // attributes, seed). `only_instances` is set per step.
  placement::PlacementRequest request;
  // RunTask and services: `count` tasks over the cluster. StartTask: one task on each of
  // `instances` (then `count` is ignored).
  int count = 0;
  std::vector<std::string> instances;
  // The capacity provider strategy; empty: none (the launch type's instances).
  std::vector<LaunchProvider> providers;
  // How many more tasks may wait in PROVISIONING in the cluster.
  int64_t provisioning_room = 0;
  // FARGATE: no task is placed at launch; each waits in PROVISIONING for the host started for it
  // alone, while there is room. `request` is then unused. For the failure's words: the cluster,
  // and how many tasks wait there already out of how many may.
  bool fargate = false;
  std::string cluster;
  int64_t provisioning_waiting = 0;
  int64_t provisioning_limit = 0;
};

// What becomes of one task of a launch.
struct LaunchStep {
  enum class Kind {
    kPlace,  // on placement->instance_id
    kWait,   // PROVISIONING: waits for capacity from `provider`
    kFail,   // not started: `failure` says why
  };
  Kind kind = Kind::kFail;
  std::optional<placement::Placement> placement;
  std::string provider;  // kPlace with a strategy, kWait, kFail with a strategy: the provider's name
  std::string instance;  // StartTask: the instance the task was meant for
  placement::PlacementFailure failure;
};

// The strategy item the next task goes to, given how many tasks each item has (`counts`, in
// strategy order): an item still below its base, else the one whose share lags its weight most
// (ties to the earlier item); -1 when no item has a weight and every base is met.
int PickStrategyItem(const std::vector<int64_t>& bases, const std::vector<int64_t>& weights,
                     const std::vector<int64_t>& counts);

// A task waiting in PROVISIONING, as PlanWaitingTask sees it.
struct WaitingTask {
  double waited_s = 0;   // since it was created
  double timeout_s = 0;  // how long a task may wait
  bool fargate = false;
  std::string provider;        // the capacity provider it waits for (not FARGATE)
  bool provider_full = false;  // a task of this pass already found no room with that provider
};

struct WaitingStep {
  enum class Kind {
    kPlace,  // on placement->instance_id: it becomes PENDING
    kStop,   // it cannot wait any longer: it stops, `reason` saying why
    kWait,   // nothing fits yet: it keeps waiting
  };
  Kind kind = Kind::kWait;
  std::optional<placement::Placement> placement;
  std::string reason;
};

// The next step of one waiting task. `request` builds where it may go (for FARGATE, the host
// started for it; else its provider's hosts that meet its own constraints and strategies), or
// fails saying why it never can; it is called only when the task is neither past its timeout nor
// behind a full provider, and the view must be prepared for the request's strategies by then.
WaitingStep PlanWaitingTask(const WaitingTask& task,
                            const std::function<absl::StatusOr<placement::PlacementRequest>()>& request,
                            const placement::ClusterView& view, const placement::Engine& engine);

// Decides every task of `spec` in order and calls `apply` with each step before deciding the next
// (see the top of this file). A task that cannot be placed without a provider ends the launch's
// round: it and the rest of the round fail with the same failure (StartTask: its instance's).
void PlanLaunch(LaunchSpec spec, const placement::ClusterView& view, const placement::Engine& engine,
                const std::function<void(const LaunchStep&)>& apply);

}  // namespace berth::scheduler
