// kill -9 in the middle of a stream of writes, restart, and check that every acknowledged write
// is present, nothing that was never requested is, and resource accounting is consistent.
//
// Several client threads issue a seeded random mix of writes (RunTask, StopTask, CreateCluster,
// RegisterTaskDefinition, PutAttributes) and record what was acknowledged. berthd is killed at a
// seeded random moment, restarted on the same data directory, and checked; three rounds build on
// each other so that recovery of recovered state is exercised too.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/test_helpers.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

using testutil::Call;
using testutil::FromJson;
using CS = v1::ContainerService::Stub;

constexpr int kInstances = 4;
constexpr int kTaskCpu = 2;
constexpr int kTaskMemory = 8;

// What the clients know: acknowledged effects, and bounds on unacknowledged ones.
struct Ledger {
  std::mutex mu;
  std::set<std::string> clusters_acked;
  std::set<std::string> clusters_issued;
  std::map<std::string, int> revisions_acked;  // family -> highest acknowledged revision
  std::set<std::string> families_issued;
  std::map<std::string, bool> tasks_acked;             // task ARN -> stop acknowledged
  int64_t task_slots_issued = 0;                       // sum of RunTask counts ever sent
  std::map<std::string, std::string> attribute_acked;  // instance ARN -> last acknowledged value
  std::map<std::string, std::set<std::string>> attribute_issued;
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<testutil::BerthdProcess>(dir_.Sub("data"));
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    auto stub = berthd_->NewStub();
    v1::CreateClusterResponse cc;
    ASSERT_TRUE(
        Call(*stub, &CS::CreateCluster, FromJson<v1::CreateClusterRequest>(R"({"clusterName":"c"})"), &cc).ok());
    for (int i = 0; i < kInstances; ++i) {
      v1::RegisterContainerInstanceResponse ri;
      ASSERT_TRUE(
          Call(*stub, &CS::RegisterContainerInstance, testutil::InstanceRequest("c", 1 << 20, 1 << 24), &ri).ok());
      instances_.push_back(ri.container_instance().container_instance_arn());
    }
    v1::RegisterTaskDefinitionResponse td;
    ASSERT_TRUE(
        Call(*stub, &CS::RegisterTaskDefinition, testutil::SmallTaskDefinition("app", kTaskCpu, kTaskMemory), &td)
            .ok());
    ledger_.revisions_acked["app"] = 1;
    ledger_.families_issued.insert("app");
  }

  // One client: random writes until a call fails (berthd died).
  void Client(int id, uint32_t seed, std::atomic<bool>* stop) {
    auto stub = berthd_->NewStub();
    std::mt19937 rng(seed);
    int n = 0;
    while (!stop->load()) {
      int op = static_cast<int>(rng() % 10);
      ++n;
      if (op < 5) {
        int count = 1 + static_cast<int>(rng() % 3);
        {
          std::lock_guard<std::mutex> l(ledger_.mu);
          ledger_.task_slots_issued += count;
        }
        v1::RunTaskRequest req;
        req.set_cluster("c");
        req.set_task_definition("app");
        req.set_count(count);
        v1::RunTaskResponse resp;
        if (!Call(*stub, &CS::RunTask, req, &resp, 3000).ok()) return;
        std::lock_guard<std::mutex> l(ledger_.mu);
        for (const auto& t : resp.tasks()) ledger_.tasks_acked.emplace(t.task_arn(), false);
      } else if (op < 7) {
        std::string arn;
        {
          std::lock_guard<std::mutex> l(ledger_.mu);
          if (ledger_.tasks_acked.empty()) continue;
          auto it = ledger_.tasks_acked.begin();
          std::advance(it, rng() % ledger_.tasks_acked.size());
          arn = it->first;
        }
        v1::StopTaskRequest req;
        req.set_cluster("c");
        req.set_task(arn);
        v1::StopTaskResponse resp;
        if (!Call(*stub, &CS::StopTask, req, &resp, 3000).ok()) return;
        std::lock_guard<std::mutex> l(ledger_.mu);
        ledger_.tasks_acked[arn] = true;
      } else if (op == 7) {
        std::string name = "k" + std::to_string(id) + "-" + std::to_string(seed % 1000) + "-" + std::to_string(n);
        {
          std::lock_guard<std::mutex> l(ledger_.mu);
          ledger_.clusters_issued.insert(name);
        }
        v1::CreateClusterRequest req;
        req.set_cluster_name(name);
        v1::CreateClusterResponse resp;
        if (!Call(*stub, &CS::CreateCluster, req, &resp, 3000).ok()) return;
        std::lock_guard<std::mutex> l(ledger_.mu);
        ledger_.clusters_acked.insert(name);
      } else if (op == 8) {
        std::string family = "f" + std::to_string(id);
        {
          std::lock_guard<std::mutex> l(ledger_.mu);
          ledger_.families_issued.insert(family);
        }
        v1::RegisterTaskDefinitionResponse resp;
        if (!Call(*stub, &CS::RegisterTaskDefinition, testutil::SmallTaskDefinition(family), &resp, 3000).ok()) return;
        std::lock_guard<std::mutex> l(ledger_.mu);
        int& rev = ledger_.revisions_acked[family];
        rev = std::max(rev, resp.task_definition().revision());
      } else {
        const std::string& instance = instances_[rng() % instances_.size()];
        std::string value = "v" + std::to_string(id) + "-" + std::to_string(n);
        {
          std::lock_guard<std::mutex> l(ledger_.mu);
          ledger_.attribute_issued[instance].insert(value);
        }
        v1::PutAttributesRequest req;
        req.set_cluster("c");
        auto* a = req.add_attributes();
        a->set_name("stamp");
        a->set_value(value);
        a->set_target_id(instance);
        v1::PutAttributesResponse resp;
        if (!Call(*stub, &CS::PutAttributes, req, &resp, 3000).ok()) return;
        std::lock_guard<std::mutex> l(ledger_.mu);
        ledger_.attribute_acked[instance] = value;
      }
    }
  }

  void Verify() {
    auto stub = berthd_->NewStub();
    std::lock_guard<std::mutex> l(ledger_.mu);

    // Clusters: every acknowledged one exists; every listed one was requested.
    std::set<std::string> listed;
    v1::ListClustersRequest lreq;
    for (;;) {
      v1::ListClustersResponse lresp;
      ASSERT_TRUE(Call(*stub, &CS::ListClusters, lreq, &lresp).ok());
      for (const auto& arn : lresp.cluster_arns()) listed.insert(arn.substr(arn.rfind('/') + 1));
      if (!lresp.has_next_token()) break;
      lreq.set_next_token(lresp.next_token());
    }
    for (const auto& name : ledger_.clusters_acked) EXPECT_TRUE(listed.contains(name)) << "lost cluster " << name;
    for (const auto& name : listed) {
      EXPECT_TRUE(name == "default" || name == "c" || ledger_.clusters_issued.contains(name))
          << "cluster never requested: " << name;
    }

    // Task definitions: every acknowledged revision exists; families were all requested.
    for (const auto& [family, rev] : ledger_.revisions_acked) {
      v1::DescribeTaskDefinitionRequest req;
      req.set_task_definition(family + ":" + std::to_string(rev));
      v1::DescribeTaskDefinitionResponse resp;
      EXPECT_TRUE(Call(*stub, &CS::DescribeTaskDefinition, req, &resp).ok()) << "lost " << family << ":" << rev;
    }
    v1::ListTaskDefinitionFamiliesResponse fams;
    ASSERT_TRUE(Call(*stub, &CS::ListTaskDefinitionFamilies, v1::ListTaskDefinitionFamiliesRequest(), &fams).ok());
    for (const auto& f : fams.families()) EXPECT_TRUE(ledger_.families_issued.contains(f)) << f;

    // Tasks: every acknowledged task exists, with its acknowledged stop; the total is bounded by
    // what was ever requested.
    std::set<std::string> present;
    for (const char* desired : {"RUNNING", "STOPPED"}) {
      v1::ListTasksRequest req;
      req.set_cluster("c");
      req.set_desired_status(desired);
      for (;;) {
        v1::ListTasksResponse resp;
        ASSERT_TRUE(Call(*stub, &CS::ListTasks, req, &resp).ok());
        present.insert(resp.task_arns().begin(), resp.task_arns().end());
        if (!resp.has_next_token()) break;
        req.set_next_token(resp.next_token());
      }
    }
    EXPECT_LE(static_cast<int64_t>(present.size()), ledger_.task_slots_issued);
    std::vector<std::string> acked;
    for (const auto& [arn, stopped] : ledger_.tasks_acked) {
      EXPECT_TRUE(present.contains(arn)) << "lost task " << arn;
      acked.push_back(arn);
    }
    for (size_t i = 0; i < acked.size(); i += 100) {
      v1::DescribeTasksRequest req;
      req.set_cluster("c");
      for (size_t j = i; j < std::min(acked.size(), i + 100); ++j) req.add_tasks(acked[j]);
      v1::DescribeTasksResponse resp;
      ASSERT_TRUE(Call(*stub, &CS::DescribeTasks, req, &resp).ok());
      EXPECT_EQ(resp.failures_size(), 0);
      for (const auto& t : resp.tasks()) {
        if (ledger_.tasks_acked.at(t.task_arn())) {
          EXPECT_EQ(t.desired_status(), "STOPPED") << t.task_arn();
        }
      }
    }

    // Resources: every instance's remaining CPU and memory equal its total minus what its tasks
    // hold (no task is STOPPED yet: StopTask only sets the desired status until an agent acts).
    v1::DescribeContainerInstancesRequest dreq;
    dreq.set_cluster("c");
    for (const auto& arn : instances_) dreq.add_container_instances(arn);
    v1::DescribeContainerInstancesResponse dresp;
    ASSERT_TRUE(Call(*stub, &CS::DescribeContainerInstances, dreq, &dresp).ok());
    int64_t held_tasks = 0;
    for (const auto& ci : dresp.container_instances()) {
      int64_t tasks_here = ci.pending_tasks_count() + ci.running_tasks_count();
      held_tasks += tasks_here;
      for (const auto& r : ci.remaining_resources()) {
        if (r.name() == "CPU") {
          EXPECT_EQ(r.integer_value(), (1 << 20) - tasks_here * kTaskCpu);
        }
        if (r.name() == "MEMORY") {
          EXPECT_EQ(r.integer_value(), (1 << 24) - tasks_here * kTaskMemory);
        }
      }
      // Attributes: the acknowledged value or a later one that was issued.
      auto acked_value = ledger_.attribute_acked.find(ci.container_instance_arn());
      if (acked_value != ledger_.attribute_acked.end()) {
        std::string value;
        for (const auto& a : ci.attributes()) {
          if (a.name() == "stamp") value = a.value();
        }
        EXPECT_TRUE(ledger_.attribute_issued[ci.container_instance_arn()].contains(value)) << value;
      }
    }
    EXPECT_EQ(held_tasks, static_cast<int64_t>(present.size()));
  }

  testutil::TempDir dir_;
  std::unique_ptr<testutil::BerthdProcess> berthd_;
  std::vector<std::string> instances_;
  Ledger ledger_;
};

TEST_F(CrashTest, EveryAcknowledgedWriteSurvivesKill9) {
  std::mt19937 rng(20261124);
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back(
          [this, i, round, &rng, &stop, seed = static_cast<uint32_t>(rng())] { Client(i + 10 * round, seed, &stop); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 700));
    berthd_->Kill();
    stop = true;
    for (auto& t : clients) t.join();
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    Verify();
    if (HasFailure()) FAIL() << "round " << round << "\n" << berthd_->Log();
  }
  EXPECT_GT(ledger_.tasks_acked.size(), 50u) << "the stream was too short to mean anything";
}

}  // namespace
}  // namespace berth
