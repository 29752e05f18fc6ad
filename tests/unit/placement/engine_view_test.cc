// The placement engine over a changing ClusterView (re-registration, removal, reserve/release,
// ports) and the random strategy.
#include "berth/placement/engine.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>
#include <set>

#include "absl/status/status.h"
#include "berth/common/strings.h"
#include "tests/unit/placement/engine_builders.h"
#include "tests/unit/placement/reference.h"

namespace berth::placement {
namespace {

// ---------------------------------------------------------------------------------------------
// ClusterView changes between placements

// Re-registration keeps what tasks hold; spread counts follow the new attribute values.
TEST(ClusterViewChangeTest, UpsertKeepsReservationsAndSpreadFollowsAttributes) {
  for (bool prepared : {false, true}) {
    SCOPED_TRACE(prepared ? "prepared" : "not prepared");
    ClusterView view;
    Load(view, {I("a").Az("a").ReservedTcp({22}), I("b").Az("b"), I("c").Az("a")},
         {{"a", H("g").Cpu(100).Memory(200).Tcp({80})}, {"a", H("g").Cpu(100).Memory(200)}, {"b", H("g")}});
    PlacementRequest request = R().Group("g").By(SpreadAttribute("az")).By(SpreadInstance());
    if (prepared) Engine::Prepare(view, request);
    const Engine engine;
    Decision d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "b") << "az a has 2 tasks of g, az b 1";

    // a moves to az c, with other reserved ports and more memory.
    view.Upsert(I("a", 4096, 16384).Az("c").ReservedTcp({2375}));
    const InstanceView* a = view.Find("a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->cpu_used, 200);
    EXPECT_EQ(a->memory_used, 400);
    EXPECT_EQ(a->memory_remaining(), 16384 - 400);
    EXPECT_EQ(a->task_count, 2);
    EXPECT_EQ(a->GroupCount("g"), 2);
    EXPECT_EQ(a->tcp_ports_used, (absl::flat_hash_set<int32_t>{2375, 80}));
    d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "c") << "az a now has no task of g";
    EXPECT_EQ(d.placement->instance_id, reference::Place(view, request, 0).placement->instance_id);

    // Static port 22 is free on a now, 2375 is not.
    Decision port22 = engine.PlaceOne(view, R().Tcp({22}).Only({"a"}), 0);
    EXPECT_TRUE(port22.placement);
    Decision port2375 = engine.PlaceOne(view, R().Tcp({2375}).Only({"a"}), 0);
    ASSERT_FALSE(port2375.placement);
    EXPECT_EQ(port2375.failure.reason, "RESOURCE:PORTS");

    // Draining, then active again.
    view.Upsert(I("c").Az("a").Draining());
    d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "b") << "az a's only instance is draining; az b has 1, az c 2";
    view.Upsert(I("c").Az("a"));
    d = engine.PlaceOne(view, request, 0);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(d.placement->instance_id, "c");
  }
}

TEST(ClusterViewChangeTest, RemoveDropsTheInstanceAndItsTasks) {
  for (bool prepared : {false, true}) {
    SCOPED_TRACE(prepared ? "prepared" : "not prepared");
    ClusterView view;
    Load(view, {I("a").Az("a"), I("b").Az("b"), I("c").Az("a")}, {{"a", H("g")}, {"a", H("g")}, {"b", H("g")}});
    PlacementRequest request = R().Group("g").By(SpreadAttribute("az"));
    if (prepared) Engine::Prepare(view, request);
    const Engine engine;
    EXPECT_EQ(engine.PlaceOne(view, request, 0).placement->instance_id, "b");
    view.Remove("a");
    EXPECT_EQ(view.Find("a"), nullptr);
    EXPECT_EQ(view.size(), 2u);
    view.Remove("a");  // unknown: nothing happens
    EXPECT_EQ(view.size(), 2u);
    EXPECT_EQ(engine.PlaceOne(view, request, 0).placement->instance_id, "c") << "a's tasks left with it";
    view.Remove("b");
    view.Remove("c");
    Decision d = engine.PlaceOne(view, request, 0);
    ASSERT_FALSE(d.placement);
    EXPECT_EQ(d.failure.reason, "MISSING");
    // Registering the id again starts empty.
    view.Upsert(I("a").Az("a"));
    EXPECT_EQ(view.Find("a")->GroupCount("g"), 0);
    EXPECT_EQ(view.Find("a")->task_count, 0);
    EXPECT_EQ(engine.PlaceOne(view, request, 0).placement->instance_id, "a");
  }
}

// Reserve then Release leaves the instance (and every decision) as it was.
TEST(ClusterViewChangeTest, ReserveReleaseSymmetry) {
  ClusterView view;
  Load(view,
       {I("a", 4096, 8192).Gpus(2).Enis(3).Ephemeral(50000, 50010).ReservedTcp({22, 50005}).ReservedUdp({53}).Az("a"),
        I("b", 4096, 4096).Az("b")},
       {{"a", H("g").Cpu(10)}});
  PlacementRequest request =
      R().Cpu(100).Memory(100).Group("g").DynamicTcp(1).By(SpreadAttribute("az")).By(BinpackMemory());
  Engine::Prepare(view, request);
  const Engine engine;
  const InstanceView before = *view.Find("a");
  Decision d0 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d0.placement);
  EXPECT_EQ(d0.placement->instance_id, "b");

  TaskHold hold = H("g").Cpu(1000).Memory(2000).Gpus(1).Eni().Tcp({8080, 50000}).Udp({5353, 50001});
  view.Reserve("a", hold);
  view.Reserve("a", H("h").Memory(1));
  const InstanceView* a = view.Find("a");
  EXPECT_EQ(a->cpu_used, 1010);
  EXPECT_EQ(a->memory_used, 2001);
  EXPECT_EQ(a->gpu_used, 1);
  EXPECT_EQ(a->eni_used, 1);
  EXPECT_EQ(a->task_count, 3);
  EXPECT_EQ(a->GroupCount("g"), 2);
  EXPECT_EQ(a->GroupCount("h"), 1);
  EXPECT_EQ(a->tcp_ports_used, (absl::flat_hash_set<int32_t>{22, 50005, 8080, 50000}));
  EXPECT_EQ(a->udp_ports_used, (absl::flat_hash_set<int32_t>{53, 5353, 50001}));
  EXPECT_EQ(a->tcp_ephemeral_used, 2);
  EXPECT_EQ(a->udp_ephemeral_used, 1);
  Decision d1 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d1.placement);
  EXPECT_EQ(d1.placement->instance_id, "b");

  view.Release("a", H("h").Memory(1));
  view.Release("a", hold);
  a = view.Find("a");
  EXPECT_EQ(a->cpu_used, before.cpu_used);
  EXPECT_EQ(a->memory_used, before.memory_used);
  EXPECT_EQ(a->gpu_used, before.gpu_used);
  EXPECT_EQ(a->eni_used, before.eni_used);
  EXPECT_EQ(a->task_count, before.task_count);
  EXPECT_EQ(a->group_counts, before.group_counts);
  EXPECT_EQ(a->tcp_ports_used, before.tcp_ports_used);
  EXPECT_EQ(a->udp_ports_used, before.udp_ports_used);
  EXPECT_EQ(a->tcp_ephemeral_used, before.tcp_ephemeral_used);
  EXPECT_EQ(a->udp_ephemeral_used, before.udp_ephemeral_used);
  Decision d2 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d2.placement);
  EXPECT_EQ(d2.placement->instance_id, d0.placement->instance_id);
  EXPECT_EQ(d2.placement->dynamic_tcp_ports, d0.placement->dynamic_tcp_ports);

  // Releasing the group's last task: spread counts return to zero everywhere.
  view.Release("a", H("g").Cpu(10));
  EXPECT_EQ(view.Find("a")->GroupCount("g"), 0);
  Decision d3 = engine.PlaceOne(view, request, 0);
  ASSERT_TRUE(d3.placement);
  EXPECT_EQ(d3.placement->instance_id, "b") << "tie on az counts: binpack picks b (less memory)";
  EXPECT_EQ(d3.placement->instance_id, reference::Place(view, request, 0).placement->instance_id);
}

// A port both reserved by the instance's registration and held by a task stays used until neither
// holds it: Release() must not drop a reserved port, and Upsert() must not drop a held one. Both
// states arise when an agent re-registers with other reserved ports while a task runs.
// runningTasksCount counts RUNNING tasks only, as DescribeContainerInstances and the
// ListContainerInstances filter do; pending ones hold resources but are not counted.
TEST(ClusterViewTest, RunningTasksCountCountsOnlyRunningHolds) {
  ClusterView view;
  view.Upsert(I("a"));
  view.Upsert(I("b"));
  view.Reserve("a", H().Running());
  view.Reserve("b", H());
  view.Reserve("b", H());
  EXPECT_EQ(view.Find("a")->running_task_count, 1);
  EXPECT_EQ(view.Find("b")->running_task_count, 0);
  EXPECT_EQ(view.Find("b")->task_count, 2);
  Decision d = Engine().PlaceOne(view, R().With(MemberOf("runningTasksCount == 0")), 0);
  ASSERT_TRUE(d.placement);
  EXPECT_EQ(d.placement->instance_id, "b");
  view.Release("a", H().Running());
  EXPECT_EQ(view.Find("a")->running_task_count, 0);
}

TEST(ClusterViewPortsTest, ReleaseKeepsAPortTheRegistrationReserves) {
  ClusterView view;
  view.Upsert(I("a"));
  view.Reserve("a", H().Tcp({8080}));
  view.Upsert(I("a").ReservedTcp({8080}));  // re-registration now reserves the task's port
  view.Release("a", H().Tcp({8080}));       // the task stops
  EXPECT_TRUE(view.Find("a")->tcp_ports_used.contains(8080)) << "reserved ports stay used";
  Decision d = Engine().PlaceOne(view, R().Tcp({8080}), 0);
  EXPECT_FALSE(d.placement) << "a reserved port is never handed to a task";
}

TEST(ClusterViewPortsTest, UpsertKeepsAHeldPortNoLongerReserved) {
  ClusterView view;
  view.Upsert(I("a"));
  view.Reserve("a", H().Tcp({8080}));
  view.Upsert(I("a").ReservedTcp({8080}));
  view.Upsert(I("a"));  // re-registration without the reservation; the task still runs
  EXPECT_TRUE(view.Find("a")->tcp_ports_used.contains(8080)) << "the running task holds 8080";
  Decision d = Engine().PlaceOne(view, R().Tcp({8080}), 0);
  EXPECT_FALSE(d.placement) << "a port a running task holds is not handed to another";
}

// ---------------------------------------------------------------------------------------------
// random

std::vector<InstanceView> Identical(int n) {
  std::vector<InstanceView> out;
  for (int i = 0; i < n; ++i) out.push_back(I(StrCat("i", i)));
  return out;
}

TEST(RandomStrategyTest, ChoosesTheLowestRandomScore) {
  ClusterView view;
  Load(view, Identical(5), {});
  for (uint64_t seed : {0ull, 1ull, 42ull}) {
    for (int index = 0; index < 5; ++index) {
      PlacementRequest request = R().Seed(seed).By(RandomStrategy());
      std::string best;
      int64_t best_score = 0;
      uint64_t best_tiebreak = 0;
      view.ForEach([&](const InstanceView& i) {
        int64_t s = RandomScore(seed, index, i.tiebreak);
        if (best.empty() || s < best_score || (s == best_score && i.tiebreak < best_tiebreak)) {
          best = i.id;
          best_score = s;
          best_tiebreak = i.tiebreak;
        }
      });
      Decision d = Engine().PlaceOne(view, request, index);
      ASSERT_TRUE(d.placement);
      EXPECT_EQ(d.placement->instance_id, best) << "seed " << seed << " index " << index;
    }
  }
}

TEST(RandomStrategyTest, SameSeedSameChoices) {
  PlacementRequest request = R().Memory(10).Count(30).Seed(7).By(RandomStrategy());
  auto place = [&](uint64_t seed) {
    ClusterView view;
    Load(view, Identical(10), {});
    PlacementRequest r = request;
    r.seed = seed;
    std::vector<std::string> ids;
    for (const Placement& p : Engine().PlaceAll(view, r).placed) ids.push_back(p.instance_id);
    return ids;
  };
  std::vector<std::string> first = place(7);
  ASSERT_EQ(first.size(), 30u);
  EXPECT_EQ(place(7), first);
  EXPECT_NE(place(8), first);
  EXPECT_GT(std::set<std::string>(first.begin(), first.end()).size(), 5u) << "tasks of a request vary";
}

// Over seeds (task 0) and over task indexes (one seed), each of 8 instances is chosen about 1/8 of
// the time: 8000 draws, expected 1000 each, standard deviation about 30.
TEST(RandomStrategyTest, RoughlyUniform) {
  ClusterView view;
  Load(view, Identical(8), {});
  const Engine engine;
  std::map<std::string, int> by_seed, by_index;
  for (int k = 0; k < 8000; ++k) {
    by_seed[engine.PlaceOne(view, R().Seed(k).By(RandomStrategy()), 0).placement->instance_id]++;
    by_index[engine.PlaceOne(view, R().Seed(12345).By(RandomStrategy()), k).placement->instance_id]++;
  }
  ASSERT_EQ(by_seed.size(), 8u);
  ASSERT_EQ(by_index.size(), 8u);
  for (const auto& [id, n] : by_seed) {
    EXPECT_GT(n, 850) << id << " over seeds";
    EXPECT_LT(n, 1150) << id << " over seeds";
  }
  for (const auto& [id, n] : by_index) {
    EXPECT_GT(n, 850) << id << " over task indexes";
    EXPECT_LT(n, 1150) << id << " over task indexes";
  }
}

TEST(RandomStrategyTest, OnlyAmongFeasibleAndAfterEarlierStrategies) {
  ClusterView view;
  Load(view,
       {I("a", 4096, 1024).Az("a"), I("b", 4096, 1024).Az("a"), I("c", 4096, 1024).Az("b"),
        I("d", 4096, 1024).Az("b").Draining(), I("e", 4096, 100).Az("b")},
       {{"a", H("g")}});
  PlacementRequest request = R().Memory(200).Group("g").By(SpreadAttribute("az")).By(RandomStrategy());
  std::set<std::string> chosen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    PlacementRequest r = request;
    r.seed = seed;
    chosen.insert(Engine().PlaceOne(view, r, 0).placement->instance_id);
  }
  EXPECT_EQ(chosen, std::set<std::string>{"c"}) << "az b has no task of g; d drains, e is too small";
}

}  // namespace
}  // namespace berth::placement
