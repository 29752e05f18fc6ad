#include "berth/scheduler/launch.h"

#include "berth/common/strings.h"

namespace berth::scheduler {

int PickStrategyItem(const std::vector<int64_t>& bases, const std::vector<int64_t>& weights,
                     const std::vector<int64_t>& counts) {
  // The base first, then the weights over the tasks beyond the base: the item whose share is
  // furthest behind its weight, that is with the least (beyond + 1) / weight; ties go to the
  // earlier item.
  const int n = static_cast<int>(counts.size());
  for (int i = 0; i < n; ++i) {
    if (counts[i] < bases[i]) return i;
  }
  auto beyond = [&](int i) { return counts[i] - bases[i]; };
  int best = -1;
  for (int i = 0; i < n; ++i) {
    if (weights[i] <= 0) continue;
    if (best < 0 || (beyond(i) + 1) * weights[best] < (beyond(best) + 1) * weights[i]) best = i;
  }
  return best;
}

namespace {

// The launch's capacity provider strategy as it fills: which provider each next task goes to.
class StrategyPicker {
 public:
  explicit StrategyPicker(const std::vector<LaunchProvider>& providers) : providers_(providers) {
    for (const LaunchProvider& p : providers) {
      bases_.push_back(p.base);
      weights_.push_back(p.weight);
      counts_.push_back(p.count);
    }
  }
  // The provider of the next task, counted as having it.
  const LaunchProvider& Next() {
    const int item = PickStrategyItem(bases_, weights_, counts_);
    ++counts_[item];
    return providers_[item];
  }

 private:
  const std::vector<LaunchProvider>& providers_;
  std::vector<int64_t> bases_;
  std::vector<int64_t> weights_;
  std::vector<int64_t> counts_;
};

// FARGATE: each task waits for the host the capacity controller starts for it alone.
void PlanFargateLaunch(const LaunchSpec& spec, const std::function<void(const LaunchStep&)>& apply) {
  StrategyPicker picker(spec.providers);
  int64_t room = spec.provisioning_room;
  int64_t waiting = spec.provisioning_waiting;
  for (int n = 0; n < spec.count; ++n) {
    LaunchStep step;
    if (room <= 0) {
      step.kind = LaunchStep::Kind::kFail;
      step.failure.reason = kFargateCapacityUnavailable;
      step.failure.detail = StrCat(waiting, " tasks already wait for capacity in cluster ", spec.cluster,
                                   " (the limit is ", spec.provisioning_limit, ")");
      apply(step);
      continue;
    }
    --room;
    ++waiting;
    step.kind = LaunchStep::Kind::kWait;
    if (!spec.providers.empty()) step.provider = picker.Next().name;
    apply(step);
  }
}

}  // namespace

WaitingStep PlanWaitingTask(const WaitingTask& task,
                            const std::function<absl::StatusOr<placement::PlacementRequest>()>& request,
                            const placement::ClusterView& view, const placement::Engine& engine) {
  WaitingStep step;
  if (task.waited_s >= task.timeout_s) {
    step.kind = WaitingStep::Kind::kStop;
    const int64_t seconds = static_cast<int64_t>(task.timeout_s);
    step.reason = task.fargate ? StrCat(kFargateCapacityUnavailable, " (no Fargate host for the task within ", seconds,
                                        " seconds)")
                               : StrCat("Capacity is unavailable: capacity provider ", task.provider,
                                        " brought no instance the task fits on within ", seconds, " seconds");
    return step;
  }
  if (task.provider_full) return step;
  absl::StatusOr<placement::PlacementRequest> built = request();
  if (!built.ok()) {
    step.kind = WaitingStep::Kind::kStop;
    step.reason = std::string(built.status().message());
    return step;
  }
  placement::Decision decision = engine.PlaceOne(view, *built, 0);
  if (decision.placement) {
    step.kind = WaitingStep::Kind::kPlace;
    step.placement = std::move(decision.placement);
  }
  return step;
}

void PlanLaunch(LaunchSpec spec, const placement::ClusterView& view, const placement::Engine& engine,
                const std::function<void(const LaunchStep&)>& apply) {
  if (spec.fargate) return PlanFargateLaunch(spec, apply);
  placement::PlacementRequest& request = spec.request;  // only_instances and required attributes vary per step
  const std::vector<placement::RequiredAttribute> base_required = request.required_attributes;
  StrategyPicker picker(spec.providers);
  int64_t room = spec.provisioning_room;

  // RunTask: `count` tasks over the cluster. StartTask: one task on each named instance.
  std::vector<std::pair<std::string, int>> rounds;  // (only instance, count)
  if (spec.instances.empty()) {
    rounds.emplace_back(std::string(), spec.count);
  } else {
    for (const auto& id : spec.instances) rounds.emplace_back(id, 1);
  }
  int index = 0;
  for (const auto& [only, count] : rounds) {
    request.only_instances.clear();
    if (!only.empty()) request.only_instances.push_back(only);
    for (int n = 0; n < count; ++n, ++index) {
      const LaunchProvider* provider = nullptr;
      if (!spec.providers.empty()) {
        provider = &picker.Next();
        request.required_attributes = base_required;
        request.required_attributes.push_back(provider->hosts);
      }
      placement::Decision decision = engine.PlaceOne(view, request, index);
      LaunchStep step;
      step.instance = only;
      if (provider != nullptr) step.provider = provider->name;
      if (decision.placement) {
        step.kind = LaunchStep::Kind::kPlace;
        step.placement = std::move(decision.placement);
        apply(step);
        continue;
      }
      step.failure = std::move(decision.failure);
      if (provider != nullptr) {
        // A provider with managed scaling brings capacity: the task waits for it.
        if (provider->managed_scaling && room > 0) {
          --room;
          step.kind = LaunchStep::Kind::kWait;
          step.failure = {};
          apply(step);
          continue;
        }
        step.kind = LaunchStep::Kind::kFail;
        step.failure.detail = step.failure.detail.empty()
                                  ? StrCat("capacity provider ", provider->name)
                                  : StrCat(step.failure.detail, " (capacity provider ", provider->name, ")");
        apply(step);
        continue;
      }
      // Without a provider nothing will change before the next task: the rest of the round fails
      // the same way.
      step.kind = LaunchStep::Kind::kFail;
      for (int k = n; k < count; ++k) apply(step);
      break;
    }
  }
}

}  // namespace berth::scheduler
