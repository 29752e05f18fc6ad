// State's task entries: the encoded record, the statuses kept beside it, and UpdateTask's
// accounting of counts, indexes and reservations.
#include "src/controlplane/state/state.h"

#include "src/controlplane/state/applier.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "berth/store/keys.h"

namespace berth::controlplane {
namespace {

v1::ClusterRecord Cluster() {
  v1::ClusterRecord rec;
  rec.mutable_cluster()->set_cluster_name("default");
  rec.mutable_cluster()->set_status("ACTIVE");
  return rec;
}

// ACTIVE instance "i1" of cluster "default".
v1::ContainerInstanceRecord Instance(int64_t cpu_units, int64_t memory_mib) {
  v1::ContainerInstanceRecord inst;
  inst.set_cluster("default");
  inst.set_id("i1");
  inst.mutable_instance()->set_status("ACTIVE");
  auto* cpu = inst.mutable_instance()->add_registered_resources();
  cpu->set_name("CPU");
  cpu->set_integer_value(cpu_units);
  auto* mem = inst.mutable_instance()->add_registered_resources();
  mem->set_name("MEMORY");
  mem->set_integer_value(memory_mib);
  return inst;
}

class StateTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = &applier_.AddCluster(Cluster());
    applier_.AddInstance(*cluster_, Instance(1024, 2048));
  }

  static v1::TaskRecord Task(const std::string& id, const std::string& status) {
    v1::TaskRecord r;
    r.set_cluster("default");
    r.set_id(id);
    r.set_family("web");
    r.set_task_definition_revision(3);
    r.set_container_instance_id("i1");
    r.mutable_task()->set_last_status(status);
    r.mutable_task()->set_desired_status("RUNNING");
    r.mutable_task()->set_group("family:web");
    r.mutable_task()->add_containers()->set_name("app");
    r.mutable_reservation()->set_cpu(256);
    r.mutable_reservation()->set_memory(512);
    return r;
  }

  const TaskEntry& Add(v1::TaskRecord r) { return applier_.AddTask(*cluster_, r); }
  const placement::InstanceView& View() const { return *cluster_->view.Find("i1"); }

  State state_;
  Txn txn_{1};
  Applier applier_{state_, txn_};
  const ClusterEntry* cluster_ = nullptr;
};

TEST(TaskIdTest, OrdersAndComparesLikeTheIdStrings) {
  // Seeded: ids of every length up to 32 over bytes that differ in high bits, shared prefixes, and
  // the empty id; compared pairwise with the strings' own order.
  std::mt19937 rng(20261206);
  std::vector<std::string> ids = {
      "", "a", "a0", "0", std::string(32, 'f'), std::string(31, 'f'), std::string(32, '0'), "\x7f", "\x80", "\xff"};
  const std::string alphabet = "0123456789abcdef\x01\x7f\x80\xfe";
  for (int i = 0; i < 200; ++i) {
    std::string id(rng() % 33, ' ');
    for (char& c : id) c = alphabet[rng() % alphabet.size()];
    ids.push_back(id);
    if (!id.empty()) ids.push_back(id.substr(0, id.size() - 1));  // a prefix of another
  }
  for (const std::string& x : ids) {
    for (const std::string& y : ids) {
      const TaskId a(x), b(y);
      EXPECT_EQ(a == b, x == y) << x << " vs " << y;
      EXPECT_EQ(a < b, x < y) << x << " vs " << y;
      EXPECT_EQ(a > b, x > y) << x << " vs " << y;
    }
  }
  // A longer string equals no id of at most 32 bytes.
  EXPECT_NE(TaskId(std::string(33, 'f')), TaskId(std::string(32, 'f')));
  EXPECT_TRUE(TaskId(std::string(33, 'f')).too_long());
}

TEST_F(StateTaskTest, AnEntryDecodesToTheRecordItWasGiven) {
  v1::TaskRecord r = Task("t1", "PENDING");
  const TaskEntry& entry = Add(r);
  r.set_revision(txn_.revision());  // the applier stamps the batch's revision
  EXPECT_EQ(entry.encoded(), r.SerializeAsString());
  EXPECT_EQ(entry.record().SerializeAsString(), r.SerializeAsString());
  EXPECT_EQ(entry.last_status(), "PENDING");
  EXPECT_EQ(entry.desired_status(), "RUNNING");
  EXPECT_FALSE(entry.stopped());
  EXPECT_FALSE(entry.stopping());
  v1::TaskRecord reused = Task("other", "RUNNING");
  reused.mutable_task()->add_containers()->set_name("extra");
  entry.Decode(&reused);  // replaces, not merges
  EXPECT_EQ(reused.SerializeAsString(), r.SerializeAsString());
}

TEST_F(StateTaskTest, AStatusOutsideTheLifecycleReadsAsEmpty) {
  v1::TaskRecord r = Task("t1", "");
  r.mutable_task()->clear_desired_status();
  const TaskEntry& entry = Add(r);
  EXPECT_EQ(entry.last_status(), "");
  EXPECT_EQ(entry.desired_status(), "");
}

TEST_F(StateTaskTest, UpdateTaskReencodesAndMovesCountsAndReservations) {
  const TaskEntry& entry = Add(Task("t1", "PENDING"));
  EXPECT_EQ(cluster_->pending_tasks, 1);
  EXPECT_EQ(View().cpu_used, 256);
  EXPECT_EQ(View().memory_used, 512);

  EXPECT_TRUE(applier_.UpdateTask(*cluster_, entry, [](v1::TaskRecord& r) {
    r.mutable_task()->set_last_status("RUNNING");
    return true;
  }));
  EXPECT_EQ(entry.last_status(), "RUNNING");
  EXPECT_EQ(entry.record().task().last_status(), "RUNNING");
  EXPECT_EQ(cluster_->pending_tasks, 0);
  EXPECT_EQ(cluster_->running_tasks, 1);
  EXPECT_EQ(View().running_task_count, 1);
  EXPECT_EQ(View().cpu_used, 256);

  EXPECT_TRUE(applier_.UpdateTask(*cluster_, entry, [](v1::TaskRecord& r) {
    r.mutable_task()->set_desired_status("STOPPED");
    r.mutable_task()->set_last_status("STOPPED");
    r.mutable_task()->set_stopped_at(100);
    return true;
  }));
  EXPECT_TRUE(entry.stopped());
  EXPECT_TRUE(entry.stopping());
  EXPECT_EQ(cluster_->running_tasks, 0);
  EXPECT_EQ(View().cpu_used, 0);
  EXPECT_EQ(View().memory_used, 0);
  EXPECT_TRUE(cluster_->instances.at("i1").task_ids.empty());
  EXPECT_EQ(cluster_->stopped_tasks.size(), 1U);
}

TEST_F(StateTaskTest, AnUpdateThatChangesNothingKeepsTheEntry) {
  const TaskEntry& entry = Add(Task("t1", "PENDING"));
  const std::string before = entry.encoded();
  EXPECT_FALSE(applier_.UpdateTask(*cluster_, entry, [](v1::TaskRecord& r) { return false; }));
  EXPECT_EQ(entry.encoded(), before);
  EXPECT_EQ(cluster_->pending_tasks, 1);
}

TEST_F(StateTaskTest, LoadKeepsTheStoredBytes) {
  auto store = store::NewMemoryStore();
  store::WriteBatch batch;
  batch.Put(store::Table::kClusters, store::ClusterKey("default"), Cluster().SerializeAsString());
  const v1::TaskRecord r = Task("t1", "RUNNING");
  batch.Put(store::Table::kTasks, store::TaskKey("default", "t1"), r.SerializeAsString());
  ASSERT_TRUE(store->Write(batch).ok());
  State loaded;
  uint64_t revision = 0;
  ASSERT_TRUE(loaded.Load(*store, &revision).ok());
  const TaskEntry& entry = loaded.FindCluster("default")->tasks.at("t1");
  EXPECT_EQ(entry.encoded(), r.SerializeAsString());
  EXPECT_EQ(entry.last_status(), "RUNNING");
  EXPECT_EQ(loaded.FindCluster("default")->running_tasks, 1);
}

// Load reads and parses tasks on a second thread in batches: more tasks than one batch, a count
// that is not a multiple of it, all accounted.
TEST_F(StateTaskTest, LoadAccountsEveryTaskAcrossBatches) {
  auto store = store::NewMemoryStore();
  store::WriteBatch batch;
  batch.Put(store::Table::kClusters, store::ClusterKey("default"), Cluster().SerializeAsString());
  batch.Put(store::Table::kContainerInstances, store::ContainerInstanceKey("default", "i1"),
            Instance(1 << 30, 1 << 30).SerializeAsString());
  constexpr int kTasks = 1301;
  for (int i = 0; i < kTasks; ++i) {
    char id[33];
    std::snprintf(id, sizeof(id), "%032d", i);
    v1::TaskRecord r = Task(id, i % 2 == 0 ? "RUNNING" : "PENDING");
    r.mutable_reservation()->set_memory(0);
    batch.Put(store::Table::kTasks, store::TaskKey("default", id), r.SerializeAsString());
  }
  ASSERT_TRUE(store->Write(batch).ok());
  State loaded;
  uint64_t revision = 0;
  ASSERT_TRUE(loaded.Load(*store, &revision).ok());
  const ClusterEntry* cluster = loaded.FindCluster("default");
  ASSERT_NE(cluster, nullptr);
  EXPECT_EQ(cluster->tasks.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(cluster->running_tasks, (kTasks + 1) / 2);
  EXPECT_EQ(cluster->pending_tasks, kTasks / 2);
  EXPECT_EQ(cluster->instances.at("i1").task_ids.size(), static_cast<size_t>(kTasks));
  const placement::InstanceView* view = cluster->view.Find("i1");
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->cpu_used, 256LL * kTasks);
  EXPECT_EQ(view->task_count, kTasks);
  // The instance is back in the placement orders, with what its tasks hold.
  bool ordered = false;
  for (const auto& keys : cluster->view.ordered().by_resource[0]) {
    for (const auto& key : keys) ordered |= key.value == view->cpu_remaining();
  }
  EXPECT_TRUE(ordered);
  EXPECT_EQ(cluster->view.ordered().by_tiebreak.size(), 1U);
}

TEST(StateLoadTasksTest, ACorruptTaskOrOneOfAMissingClusterIsDataLoss) {
  for (const bool corrupt : {true, false}) {
    auto store = store::NewMemoryStore();
    store::WriteBatch batch;
    batch.Put(store::Table::kClusters, store::ClusterKey("default"), Cluster().SerializeAsString());
    for (int i = 0; i < 1000; ++i) {
      char id[33];
      std::snprintf(id, sizeof(id), "%032d", i);
      v1::TaskRecord r;
      r.set_cluster(corrupt || i != 700 ? "default" : "gone");
      r.set_id(id);
      r.mutable_task()->set_last_status("STOPPED");
      const std::string value = corrupt && i == 700 ? std::string("\xff\xff\xff garbage") : r.SerializeAsString();
      batch.Put(store::Table::kTasks, store::TaskKey(r.cluster(), id), value);
    }
    ASSERT_TRUE(store->Write(batch).ok());
    State state;
    uint64_t revision = 0;
    absl::Status s = state.Load(*store, &revision);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find(corrupt ? "tasks" : "missing cluster gone"), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace berth::controlplane
