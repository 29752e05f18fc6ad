// The Applier: every mutation is in memory and in the batch together, so a State loaded from the
// store after any sequence of proposals equals the State that applied them; a proposal that fails
// writes nothing.
#include "src/controlplane/state/applier.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "berth/store/store.h"
#include "src/controlplane/state/pipeline.h"

namespace berth::controlplane {
namespace {

v1::ClusterRecord Cluster(const std::string& name) {
  v1::ClusterRecord rec;
  rec.mutable_cluster()->set_cluster_name(name);
  rec.mutable_cluster()->set_status("ACTIVE");
  return rec;
}

v1::ContainerInstanceRecord Instance(const std::string& cluster, const std::string& id) {
  v1::ContainerInstanceRecord rec;
  rec.set_cluster(cluster);
  rec.set_id(id);
  rec.mutable_instance()->set_status("ACTIVE");
  auto* cpu = rec.mutable_instance()->add_registered_resources();
  cpu->set_name("CPU");
  cpu->set_integer_value(1024);
  auto* mem = rec.mutable_instance()->add_registered_resources();
  mem->set_name("MEMORY");
  mem->set_integer_value(2048);
  return rec;
}

class ApplierTest : public ::testing::Test {
 protected:
  ApplierTest() : store_(store::NewMemoryStore()), pipeline_(store_.get(), &mu_, 0, CommitPipeline::Options{}) {
    pipeline_.Start();
  }
  ~ApplierTest() override { pipeline_.Stop(); }

  absl::Status Apply(std::function<absl::Status(Applier&)> apply) {
    std::promise<absl::Status> result;
    pipeline_.Submit(MakeProposal(&state_, std::move(apply), [&](absl::Status s) { result.set_value(std::move(s)); }));
    return result.get_future().get();
  }

  // The state as the store has it.
  State Reload() {
    State loaded;
    uint64_t revision = 0;
    EXPECT_TRUE(loaded.Load(*store_, &revision).ok());
    return loaded;
  }

  absl::Mutex mu_;
  State state_;
  std::unique_ptr<store::Store> store_;
  CommitPipeline pipeline_;
};

TEST_F(ApplierTest, EditedRecordsAreWrittenOnceWithTheBatchRevision) {
  ASSERT_TRUE(Apply([](Applier& txn) {
                txn.AddCluster(Cluster("c"));
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Apply([](Applier& txn) {
                const ClusterEntry* c = txn.state().FindCluster("c");
                txn.EditCluster(*c).mutable_cluster()->add_tags()->set_key("a");
                txn.EditCluster(*c).mutable_cluster()->add_tags()->set_key("b");
                txn.AddInstance(*c, Instance("c", "i1"));
                return absl::OkStatus();
              }).ok());
  State loaded = Reload();
  const ClusterEntry* c = loaded.FindCluster("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->record.cluster().tags_size(), 2);
  EXPECT_EQ(c->record.revision(), state_.FindCluster("c")->record.revision());
  EXPECT_EQ(c->record.revision(), pipeline_.committed_revision());
  ASSERT_TRUE(c->instances.contains("i1"));
  EXPECT_EQ(c->instances.at("i1").record.revision(), pipeline_.committed_revision());
  EXPECT_NE(c->view.Find("i1"), nullptr);
}

TEST_F(ApplierTest, AFailedProposalWritesNothing) {
  ASSERT_TRUE(Apply([](Applier& txn) {
                txn.AddCluster(Cluster("c"));
                return absl::OkStatus();
              }).ok());
  const uint64_t before = pipeline_.committed_revision();
  absl::Status s = Apply([](Applier& txn) {
    // Edits are written by Finish, which a failed proposal never reaches. (A proposal must fail
    // before it changes anything; this one only asks for the record.)
    (void)txn.EditCluster(*txn.state().FindCluster("c"));
    return absl::InvalidArgumentError("no");
  });
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Reload().FindCluster("c")->record.revision(), before);
}

TEST_F(ApplierTest, ServicesKeepTheActiveCountAndTasksTheirInstanceIndexes) {
  ASSERT_TRUE(Apply([](Applier& txn) {
                const ClusterEntry& c = txn.AddCluster(Cluster("c"));
                txn.AddInstance(c, Instance("c", "i1"));
                v1::ServiceRecord svc;
                svc.set_cluster("c");
                svc.mutable_service()->set_service_name("web");
                svc.mutable_service()->set_status("ACTIVE");
                txn.PutService(c, std::move(svc));
                v1::TaskRecord task;
                task.set_cluster("c");
                task.set_id("0123456789abcdef0123456789abcdef");
                task.set_container_instance_id("i1");
                task.set_service("web");
                task.mutable_task()->set_last_status("PENDING");
                task.mutable_task()->set_desired_status("RUNNING");
                txn.AddTask(c, task);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(state_.FindCluster("c")->active_services, 1);
  ASSERT_TRUE(Apply([](Applier& txn) {
                const ClusterEntry& c = *txn.state().FindCluster("c");
                EXPECT_TRUE(txn.UpdateService(c, c.services.at("web"), [](v1::ServiceRecord& r) {
                  r.mutable_service()->set_status("INACTIVE");
                  return true;
                }));
                EXPECT_FALSE(txn.UpdateService(c, c.services.at("web"), [](v1::ServiceRecord&) { return false; }));
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(state_.FindCluster("c")->active_services, 0);

  State loaded = Reload();
  const ClusterEntry* c = loaded.FindCluster("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->active_services, 0);
  EXPECT_EQ(c->services.at("web").record.service().status(), "INACTIVE");
  EXPECT_EQ(c->instances.at("i1").task_ids.size(), 1u);
  EXPECT_EQ(c->pending_tasks, 1);

  ASSERT_TRUE(Apply([](Applier& txn) {
                const ClusterEntry& c = *txn.state().FindCluster("c");
                txn.RemoveTask(c, "0123456789abcdef0123456789abcdef");
                txn.RemoveService(c, "web");
                return absl::OkStatus();
              }).ok());
  State emptied = Reload();
  EXPECT_TRUE(emptied.FindCluster("c")->tasks.empty());
  EXPECT_TRUE(emptied.FindCluster("c")->services.empty());
  EXPECT_EQ(emptied.task_count(), 0);
}

TEST_F(ApplierTest, TaskDefinitionsTakeTheNextRevisionAndDeregisterOnce) {
  ASSERT_TRUE(Apply([](Applier& txn) {
                for (int i = 0; i < 2; ++i) {
                  v1::TaskDefinitionRecord td;
                  td.mutable_task_definition()->set_family("web");
                  td.mutable_task_definition()->set_status("ACTIVE");
                  txn.AddTaskDefinition(std::move(td));
                }
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Apply([](Applier& txn) {
                const v1::TaskDefinitionRecord* first = txn.state().FindTaskDefinition("web", 1);
                EXPECT_TRUE(txn.DeregisterTaskDefinition(*first, 5));
                EXPECT_FALSE(txn.DeregisterTaskDefinition(*first, 6));
                return absl::OkStatus();
              }).ok());
  State loaded = Reload();
  const FamilyEntry* family = loaded.FindFamily("web");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->last_revision, 2u);
  EXPECT_EQ(family->active_revisions, 1);
  EXPECT_EQ(family->revisions.at(1).task_definition().status(), "INACTIVE");
  EXPECT_EQ(family->revisions.at(1).task_definition().deregistered_at(), 5);
  EXPECT_EQ(state_.FindFamily("web")->active_revisions, 1);
}

}  // namespace
}  // namespace berth::controlplane
