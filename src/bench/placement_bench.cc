// berth-placement-bench: Google Benchmark microbenchmarks of the placement library on its own (no
// store, no RPC, no control plane): placements per second on one core against generated clusters,
// and 1,000,000 tasks onto 10,000 instances end to end. docs/benchmarks.md ("Placement") has the
// command and the figures.
//
// Every cluster comes from one generator with a fixed seed, so runs place the same tasks on the
// same instances. A placement benchmark's iteration is what the control plane does per task:
// Engine::Prepare (a lookup once the indexes exist), Engine::PlaceOne, then ClusterView::Reserve of
// the decision, so the cluster fills as in a real run. One run of a placement benchmark fills the
// cluster from empty to half of its capacity for the demand (RegisterAll); placements/s is the mean
// over that fill.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/placement/cluster_view.h"
#include "berth/placement/engine.h"

namespace berth::placement {
namespace {

constexpr uint64_t kSeed = 20261124;
constexpr char kZoneAttribute[] = "ecs.availability-zone";
constexpr char kTypeAttribute[] = "ecs.instance-type";
constexpr char kMemberOfExpression[] =
    "attribute:ecs.instance-type =~ m5.* and attribute:ecs.availability-zone != us-east-1c or runningTasksCount < 5";

struct InstanceType {
  const char* name;
  int64_t cpu;     // CPU units
  int64_t memory;  // MiB
};
// From 2 vCPU / 4 GiB to 16 vCPU / 64 GiB.
constexpr InstanceType kInstanceTypes[] = {
    {"c5.large", 2048, 4096},    {"m5.large", 2048, 8192},    {"m5.xlarge", 4096, 16384},   {"r5.xlarge", 4096, 32768},
    {"c5.2xlarge", 8192, 16384}, {"m5.2xlarge", 8192, 32768}, {"m5.4xlarge", 16384, 65536},
};
constexpr const char* kZones[] = {"us-east-1a", "us-east-1b", "us-east-1c"};

// `n` ACTIVE, connected EC2 instances with 32-hex ids, spread over three availability zones and
// the instance types above. The same `n` always gives the same cluster.
void AddInstances(ClusterView& view, int n) {
  std::mt19937_64 rng(kSeed);
  std::uniform_int_distribution<size_t> pick_type(0, std::size(kInstanceTypes) - 1);
  std::uniform_int_distribution<size_t> pick_zone(0, std::size(kZones) - 1);
  for (int i = 0; i < n; ++i) {
    const uint64_t high = rng();
    const uint64_t low = rng();
    const InstanceType& type = kInstanceTypes[pick_type(rng)];
    InstanceView instance;
    instance.id = fmt::format("{:016x}{:016x}", high, low);
    instance.status = InstanceStatus::kActive;
    instance.cpu_total = type.cpu;
    instance.memory_total = type.memory;
    instance.attributes[kZoneAttribute] = kZones[pick_zone(rng)];
    instance.attributes[kTypeAttribute] = type.name;
    instance.attributes["ecs.os-type"] = "linux";
    instance.attributes["ecs.cpu-architecture"] = "x86_64";
    instance.agent_version = "1.82.0";
    instance.ec2_instance_id = fmt::format("i-{:017x}", low >> 4);
    instance.registered_at = 1.8e9 + i;
    view.Upsert(std::move(instance));
  }
}

// How many more tasks of `demand` the cluster holds, counting cpu and memory only.
int64_t Capacity(const ClusterView& view, const TaskDemand& demand) {
  int64_t tasks = 0;
  view.ForEach([&](const InstanceView& instance) {
    tasks += std::min(instance.cpu_remaining() / demand.cpu, instance.memory_remaining() / demand.memory);
  });
  return tasks;
}

template <typename T>
T Must(absl::StatusOr<T> value) {
  BERTH_CHECK_MSG(value.ok(), value.status().ToString().c_str());
  return *std::move(value);
}

Strategy MakeStrategy(std::string_view type, std::string_view field) { return Must(Strategy::FromApi(type, field)); }

enum class Scenario { kBinpackMemory, kSpreadZoneBinpackMemory, kSpreadInstanceDistinct, kMemberOfBinpack, kRandom };

PlacementRequest MakeRequest(Scenario scenario) {
  PlacementRequest request;
  request.demand.cpu = 256;
  request.demand.memory = 512;
  request.group = "family:web";
  request.seed = kSeed;
  switch (scenario) {
    case Scenario::kBinpackMemory:
      request.strategies = {MakeStrategy("binpack", "memory")};
      break;
    case Scenario::kSpreadZoneBinpackMemory:
      request.strategies = {MakeStrategy("spread", StrCat("attribute:", kZoneAttribute)),
                            MakeStrategy("binpack", "memory")};
      break;
    case Scenario::kSpreadInstanceDistinct:
      request.strategies = {MakeStrategy("spread", "instanceId")};
      request.constraints = {Must(Constraint::FromApi("distinctInstance", ""))};
      break;
    case Scenario::kMemberOfBinpack:
      request.strategies = {MakeStrategy("binpack", "memory")};
      request.constraints = {Must(Constraint::FromApi("memberOf", kMemberOfExpression))};
      break;
    case Scenario::kRandom:
      request.strategies = {MakeStrategy("random", "")};
      break;
  }
  return request;
}

// Placements per second with the cluster size as the argument; see the file comment.
void BM_Place(benchmark::State& state, Scenario scenario) {
  const int n = static_cast<int>(state.range(0));
  ClusterView view;
  AddInstances(view, n);
  PlacementRequest request = MakeRequest(scenario);
  // distinctInstance allows one task of a group per instance: a new group every n/2 tasks keeps
  // every placement satisfiable.
  const bool group_per_batch = scenario == Scenario::kSpreadInstanceDistinct;
  const int64_t batch = std::max(1, n / 2);

  const Engine engine;
  std::vector<std::pair<std::string, TaskHold>> held;
  held.reserve(static_cast<size_t>(state.max_iterations));
  auto release_all = [&] {
    for (const auto& [id, hold] : held) view.Release(id, hold);
    held.clear();
  };
  Engine::Prepare(view, request);  // the first call builds the indexes: not what is measured

  int64_t task = 0;
  int64_t placed = 0;
  int64_t full = 0;
  for (auto _ : state) {
    if (group_per_batch && task % batch == 0) request.group = StrCat("family:web-", task / batch);
    Engine::Prepare(view, request);
    Decision decision = engine.PlaceOne(view, request, static_cast<int>(task));
    ++task;
    if (!decision.placement) {  // not expected at half capacity; start again from empty
      state.PauseTiming();
      ++full;
      release_all();
      state.ResumeTiming();
      continue;
    }
    TaskHold hold = decision.placement->Hold(request);
    view.Reserve(decision.placement->instance_id, hold);
    held.emplace_back(std::move(decision.placement->instance_id), std::move(hold));
    ++placed;
  }
  state.SetItemsProcessed(placed);
  state.counters["instances"] = static_cast<double>(view.size());
  state.counters["full"] = static_cast<double>(full);  // placements that failed
}

constexpr int kMillionInstances = 10000;
constexpr int kMillionTasks = 1000000;

enum class Loop { kPlaceOneReserve, kPlaceAll };

// 1,000,000 tasks of cpu 16 / memory 32 onto 10,000 instances, one at a time. The smallest
// instance holds 128 such tasks and each zone has about 3,333 instances, so every task fits.
// One iteration: the figure is the wall time of the whole run.
void BM_MillionTasks(benchmark::State& state, Scenario scenario, Loop loop) {
  PlacementRequest request = MakeRequest(scenario);
  request.demand.cpu = 16;
  request.demand.memory = 32;
  request.count = kMillionTasks;
  const Engine engine;
  int64_t placed = 0;
  int64_t failed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<ClusterView> view;
    view.emplace();
    AddInstances(*view, kMillionInstances);
    BERTH_CHECK(Capacity(*view, request.demand) >= kMillionTasks);
    state.ResumeTiming();
    if (loop == Loop::kPlaceAll) {
      PlacementResult result = engine.PlaceAll(*view, request);
      placed += static_cast<int64_t>(result.placed.size());
      failed += static_cast<int64_t>(result.failures.size());
      state.PauseTiming();
      result = {};
    } else {
      for (int i = 0; i < kMillionTasks; ++i) {
        Engine::Prepare(*view, request);
        Decision decision = engine.PlaceOne(*view, request, i);
        if (!decision.placement) {
          ++failed;
          continue;
        }
        view->Reserve(decision.placement->instance_id, decision.placement->Hold(request));
        ++placed;
      }
      state.PauseTiming();
    }
    view.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(placed);
  state.counters["placed"] = static_cast<double>(placed);
  state.counters["failed"] = static_cast<double>(failed);
}

struct NamedScenario {
  const char* name;
  Scenario scenario;
};
constexpr NamedScenario kScenarios[] = {
    {"binpack_memory", Scenario::kBinpackMemory},
    {"spread_az_binpack_memory", Scenario::kSpreadZoneBinpackMemory},
    {"spread_instance_distinct", Scenario::kSpreadInstanceDistinct},
    {"memberof_binpack_memory", Scenario::kMemberOfBinpack},
    {"random", Scenario::kRandom},
};
constexpr int kClusterSizes[] = {1000, 5000, 10000};

// Each BM_Place run is exactly one fill of the cluster from empty to half of its capacity, so the
// figure does not depend on how many iterations the library would pick (placement gets slower as
// the cluster fills). Capacity depends only on the cluster size: every scenario has one demand.
void RegisterAll() {
  for (const auto& [name, scenario] : kScenarios) {
    for (int n : kClusterSizes) {
      ClusterView view;
      AddInstances(view, n);
      const int64_t cycle = std::max<int64_t>(1, Capacity(view, MakeRequest(scenario).demand) / 2);
      benchmark::RegisterBenchmark(StrCat("BM_Place/", name).c_str(), BM_Place, scenario)
          ->ArgName("instances")
          ->Arg(n)
          ->Iterations(cycle);
    }
  }
  const struct {
    const char* name;
    Scenario scenario;
    Loop loop;
  } kMillion[] = {
      {"spread_az_binpack_memory_place_one", Scenario::kSpreadZoneBinpackMemory, Loop::kPlaceOneReserve},
      {"spread_az_binpack_memory_place_all", Scenario::kSpreadZoneBinpackMemory, Loop::kPlaceAll},
      {"binpack_memory_place_one", Scenario::kBinpackMemory, Loop::kPlaceOneReserve},
      {"binpack_memory_place_all", Scenario::kBinpackMemory, Loop::kPlaceAll},
  };
  for (const auto& m : kMillion) {
    benchmark::RegisterBenchmark(StrCat("BM_MillionTasks/", m.name).c_str(), BM_MillionTasks, m.scenario, m.loop)
        ->Iterations(1)
        ->Unit(benchmark::kSecond)
        ->UseRealTime();
  }
}

}  // namespace
}  // namespace berth::placement

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  berth::placement::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
