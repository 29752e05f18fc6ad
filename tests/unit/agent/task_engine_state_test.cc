// Tests of TaskEngine's local state against FakeRuntime: task role credentials that outlive a
// restart, the state file and the adoption of containers after a restart (task_engine_state.cc),
// a corrupt state file, and the cleanup of stopped tasks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "berth/common/strings.h"
#include "tests/testutil/temp_dir.h"
#include "tests/unit/agent/task_engine_fixture.h"

namespace berth::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// --- local state and adoption ---

// --- task role credentials ---

// The value of environment variable `name` in a container definition, or "" when unset.
std::string EnvOf(const v1::ContainerDefinition& def, const std::string& name) {
  for (const auto& kv : def.environment()) {
    if (kv.name() == name) return kv.value();
  }
  return "";
}

TEST_F(TaskEngineTest, TasksWithARoleGetTheirOwnCredentialsUriThatOutlivesARestart) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  options.credentials_endpoint = "http://127.0.0.1:51679";
  Boot(options);
  const std::string role_td =
      Td("job", R"([{"name":"app","image":"busybox"}])", R"(,"taskRoleArn":"arn:aws:iam::123456789012:role/web")");
  const std::string plain_td = Td("plain", R"([{"name":"app","image":"busybox"}])");
  Apply(Desired({Task("t1", "job"), Task("t2", "job"), Task("t3", "plain"),
                 Task("t4", "plain", "RUNNING", "PENDING",
                      R"(,"overrides":{"taskRoleArn":"arn:aws:iam::123456789012:role/other"})")},
                {role_td, plain_td}));
  const std::string uri1 = EnvOf(SpecOf("t1", "app").definition, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  const std::string uri2 = EnvOf(SpecOf("t2", "app").definition, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  const std::string uri4 = EnvOf(SpecOf("t4", "app").definition, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  EXPECT_THAT(uri1, ::testing::MatchesRegex("http://127\\.0\\.0\\.1:51679/v2/credentials/[0-9a-f]{32}"));
  EXPECT_NE(uri1, uri2);
  EXPECT_EQ(EnvOf(SpecOf("t3", "app").definition, "AWS_CONTAINER_CREDENTIALS_FULL_URI"), "");
  EXPECT_EQ(EnvOf(SpecOf("t3", "app").definition, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), "");

  const std::string id1 = uri1.substr(uri1.rfind('/') + 1);
  auto owner = engine_->CredentialsOwnerOf(id1);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->task_arn, TaskArn("t1"));
  EXPECT_EQ(owner->role_arn, "arn:aws:iam::123456789012:role/web");
  EXPECT_EQ(engine_->CredentialsOwnerOf(uri4.substr(uri4.rfind('/') + 1))->role_arn,
            "arn:aws:iam::123456789012:role/other");  // the override's role
  EXPECT_FALSE(engine_->CredentialsOwnerOf("").has_value());
  EXPECT_FALSE(engine_->CredentialsOwnerOf("0123456789abcdef0123456789abcdef").has_value());

  // A restarted agent answers the URI its running containers already have.
  engine_.reset();
  Boot(options);
  Apply(Desired({Task("t1", "job", "RUNNING", "RUNNING"), Task("t2", "job", "RUNNING", "RUNNING"),
                 Task("t3", "plain", "RUNNING", "RUNNING"), Task("t4", "plain", "RUNNING", "RUNNING")},
                {role_td, plain_td}));
  ASSERT_TRUE(engine_->CredentialsOwnerOf(id1).has_value());
  EXPECT_EQ(engine_->CredentialsOwnerOf(id1)->task_arn, TaskArn("t1"));
  // A stopped task's credentials are no longer served.
  Apply(Desired({Task("t1", "job", "STOPPED", "RUNNING"), Task("t2", "job", "RUNNING", "RUNNING"),
                 Task("t3", "plain", "RUNNING", "RUNNING"), Task("t4", "plain", "RUNNING", "RUNNING")},
                {role_td, plain_td}));
  ASSERT_EQ(Status("t1"), "STOPPED");
  EXPECT_FALSE(engine_->CredentialsOwnerOf(id1).has_value());
}

TEST_F(TaskEngineTest, TheLinkLocalEndpointIsGivenAsARelativeUriAsEcsDoes) {
  EngineOptions options = Options();
  options.credentials_endpoint = "http://169.254.170.2";
  Boot(options);
  Apply(Desired({Task("t1", "job")}, {Td("job", R"([{"name":"app","image":"busybox"}])", R"(,"taskRoleArn":"web")")}));
  const v1::ContainerDefinition app = SpecOf("t1", "app").definition;
  EXPECT_THAT(EnvOf(app, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
              ::testing::MatchesRegex("/v2/credentials/[0-9a-f]{32}"));
  EXPECT_EQ(EnvOf(app, "AWS_CONTAINER_CREDENTIALS_FULL_URI"), "");
}

TEST_F(TaskEngineTest, RestartedEngineAdoptsTheContainersOfItsStateFile) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  Boot(options);
  RunWeb();
  const std::string app = Id("t1", "app");
  const std::string sidecar = Id("t1", "sidecar");
  const std::string log = Id("t1", "log");

  engine_.reset();  // the agent restarts; its containers keep running
  Boot(options);
  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING")}, {kWebTd}));

  EXPECT_EQ(runtime_.Count("Pull"), 0);
  EXPECT_EQ(runtime_.Count("Create"), 0);
  EXPECT_EQ(runtime_.Count("Start"), 0);
  EXPECT_EQ(runtime_.container_count(), 3u);
  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "RUNNING");
  EXPECT_EQ(ContainerOf(s, "app").runtime_id(), app);
  EXPECT_EQ(ContainerOf(s, "sidecar").runtime_id(), sidecar);
  EXPECT_EQ(ContainerOf(s, "log").runtime_id(), log);
  for (const auto& c : s.containers()) EXPECT_EQ(c.status(), "RUNNING") << c.name();

  // The adopted containers are watched, and stopped in their original reverse start order.
  runtime_.SetExited(app, 2);
  Settle();
  s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "EssentialContainerExited");
  EXPECT_THAT(runtime_.Log(), ElementsAre("Stop log 30", "Stop sidecar 30"));
}

TEST_F(TaskEngineTest, RestartedEngineStartsWhatWasCreatedButNotStarted) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  std::string td = Td("web", R"([
      {"name":"db","image":"postgres:16","healthCheck":{"command":["CMD","true"]}},
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"db","condition":"HEALTHY"}]}])");
  Boot(options);
  Apply(Desired({Task("t1", "web")}, {td}));
  ASSERT_EQ(Status("t1"), "PENDING");
  ASSERT_NE(Id("t1", "app"), "");

  engine_.reset();
  Boot(options);
  Apply(Desired({Task("t1", "web", "RUNNING", "PENDING")}, {td}));
  EXPECT_EQ(Status("t1"), "PENDING");
  runtime_.SetHealth(Id("t1", "db"), "healthy");
  Settle();

  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_THAT(runtime_.Log(), ElementsAre("Start app"));
}

TEST_F(TaskEngineTest, RestartedEngineNoticesWhatHappenedWhileItWasDown) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  Boot(options);
  RunWeb();

  engine_.reset();
  runtime_.SetExited(Id("t1", "sidecar"), 137, "", FakeRuntime::Notify::kNo);
  Boot(options);
  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING")}, {kWebTd}));

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "EssentialContainerExited");
  EXPECT_EQ(ContainerOf(s, "sidecar").exit_code(), 137);
  EXPECT_EQ(runtime_.Count("Create"), 0);
}

TEST_F(TaskEngineTest, RestartedEngineNoticesAContainerRemovedWhileItWasDown) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  Boot(options);
  RunWeb();

  engine_.reset();
  runtime_.SetMissing(Id("t1", "app"), FakeRuntime::Notify::kNo);
  Boot(options);
  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING")}, {kWebTd}));

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "EssentialContainerExited");
  EXPECT_THAT(ContainerOf(s, "app").reason(), HasSubstr("disappeared"));
  EXPECT_EQ(runtime_.Count("Create"), 0);
}

TEST_F(TaskEngineTest, RestartedEngineWithoutStateAdoptsContainersByLabel) {
  Boot();  // no state file
  RunWeb();
  const std::string app = Id("t1", "app");

  engine_.reset();
  Boot();
  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING")}, {kWebTd}));
  EXPECT_EQ(runtime_.Count("Create"), 0);
  EXPECT_EQ(runtime_.Count("Start"), 0);
  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "app").runtime_id(), app);
}

// A container of this instance the state file does not name (the agent crashed before saving).
ContainerSpec Leftover(const std::string& task, const std::string& container, const std::string& instance) {
  ContainerSpec spec;
  spec.name = StrCat("berth-old-1-", container, "-", task);
  spec.task_arn = TaskArn(task);
  spec.definition.set_name(container);
  spec.definition.set_image("old:1");
  spec.labels = {{kLabelCluster, kCluster},
                 {kLabelInstance, instance},
                 {kLabelTaskArn, TaskArn(task)},
                 {kLabelContainerName, container}};
  return spec;
}

TEST_F(TaskEngineTest, UnknownManagedContainerIsAdoptedThenStoppedWhenNotDesired) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  ContainerStatus running;
  running.state = ContainerState::kRunning;
  const std::string stray = runtime_.knobs().AddContainer(Leftover("t9", "app", kInstance), running);
  const std::string other_instance = runtime_.knobs().AddContainer(
      Leftover("t8", "app", "arn:aws:ecs:us-east-1:123456789012:container-instance/default/ff"), running);
  Boot(options);
  EXPECT_EQ(engine_->task_count(), 1u);

  Apply(Desired({Task("t1", "web")}, {kWebTd}));
  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(Status("t9"), "STOPPED");
  EXPECT_THAT(runtime_.Log(TaskArn("t9")), ElementsAre("Stop app 30"));
  EXPECT_EQ(ContainerOf(Snap("t9"), "app").exit_code(), 143);
  EXPECT_FALSE(engine_->Snapshot(TaskArn("t8")).has_value()) << "another instance's container";
  EXPECT_THAT(runtime_.Log(TaskArn("t8")), IsEmpty());
  EXPECT_TRUE(runtime_.Has(other_instance));
}

TEST_F(TaskEngineTest, DuplicateOfAKnownContainerIsRemovedAtRecovery) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  Boot(options);
  RunWeb();
  const std::string app = Id("t1", "app");

  engine_.reset();
  ContainerStatus running;
  running.state = ContainerState::kRunning;
  const std::string duplicate = runtime_.knobs().AddContainer(Leftover("t1", "app", kInstance), running);
  Boot(options);  // Recover stops and removes the duplicate
  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING")}, {kWebTd}));

  EXPECT_FALSE(runtime_.Has(duplicate));
  EXPECT_TRUE(runtime_.Has(app));
  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "app").runtime_id(), app);
  EXPECT_EQ(runtime_.Count("Create"), 0);
}

// A state file the engine cannot read fails Recover (the agent exits with the message) instead of
// throwing out of it.
struct CorruptStateCase {
  std::string name;
  std::string contents;
};

void PrintTo(const CorruptStateCase& c, std::ostream* os) { *os << c.name; }

class CorruptStateTest : public TaskEngineTest, public ::testing::WithParamInterface<CorruptStateCase> {};

TEST_P(CorruptStateTest, RecoverFailsWithDataLoss) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.Sub("state.json");
  {
    std::ofstream out(options.state_path);
    out << GetParam().contents;
  }
  TaskEngine engine(options, &runtime_, &clock_, reports_.Callback());
  absl::Status s;
  EXPECT_NO_THROW(s = engine.Recover());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(options.state_path));
}

INSTANTIATE_TEST_SUITE_P(
    Files, CorruptStateTest,
    ::testing::Values(CorruptStateCase{"NotJson", "{not json"}, CorruptStateCase{"Truncated", R"({"tasks":[{"arn")"},
                      CorruptStateCase{"NoTasks", R"({"version":1})"},
                      CorruptStateCase{"TasksNotAnArray", R"({"version":1,"tasks":5})"},
                      CorruptStateCase{"TaskNotAnObject", R"({"version":1,"tasks":["t1"]})"},
                      CorruptStateCase{"FieldOfTheWrongType", R"({"version":1,"tasks":[{"arn":"t1","pulled":"yes"}]})"},
                      CorruptStateCase{
                          "ExitCodeOfTheWrongType",
                          R"({"version":1,"tasks":[{"arn":"t1","containers":[{"name":"app","exitCode":"x"}]}]})"}),
    [](const ::testing::TestParamInfo<CorruptStateCase>& info) { return info.param.name; });

// --- cleanup ---

TEST_F(TaskEngineTest, StoppedTaskIsCleanedUpAfterTheDelayThenForgotten) {
  EngineOptions options = Options();
  options.cleanup_after_us = 60'000'000;
  Boot(options);
  RunWeb();
  const std::string app = Id("t1", "app");
  Apply(Desired({Task("t1", "web", "STOPPED", "RUNNING")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "STOPPED");
  runtime_.ClearCalls();

  Tick();
  clock_.Advance(59'999'999);
  Tick();
  EXPECT_EQ(runtime_.Count("Remove"), 0);
  EXPECT_EQ(runtime_.container_count(), 3u);

  clock_.Advance(1);
  Tick();
  EXPECT_THAT(runtime_.Log(), UnorderedElementsAre("Remove app", "Remove sidecar", "Remove log"));
  EXPECT_EQ(runtime_.container_count(), 0u);
  EXPECT_EQ(engine_->task_count(), 1u) << "still in the desired state";
  EXPECT_EQ(Status("t1"), "STOPPED");

  Apply(Desired({Task("t1", "web", "STOPPED", "STOPPED")}, {kWebTd}));
  Tick();
  EXPECT_EQ(engine_->task_count(), 1u);
  EXPECT_EQ(runtime_.Count("Remove"), 3) << "removed once";

  Apply(Desired({}, {}));
  Tick();
  EXPECT_EQ(engine_->task_count(), 0u);
  EXPECT_FALSE(runtime_.Has(app));
}

TEST_F(TaskEngineTest, CleanupRemovesTheTasksOwnVolumesOnly) {
  EngineOptions options = Options();
  options.cleanup_after_us = 1'000'000;
  Boot(options);
  std::string td = Td("job", R"([{"name":"app","image":"busybox","command":["sleep","1"]}])",
                      R"(,"volumes":[{"name":"data","host":{"sourcePath":"/srv/data"}},
        {"name":"scratch","dockerVolumeConfiguration":{"scope":"task"}},
        {"name":"cache","dockerVolumeConfiguration":{"scope":"shared"}},
        {"name":"empty","host":{}}])");
  Apply(Desired({Task("t1", "job")}, {td}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  Apply(Desired({Task("t1", "job", "STOPPED", "RUNNING")}, {td}));
  ASSERT_EQ(Status("t1"), "STOPPED");
  runtime_.ClearCalls();
  clock_.Advance(1'000'000);
  Tick();
  const std::string id = TaskArn("t1").substr(TaskArn("t1").rfind('/') + 1);
  // Task-scoped Docker volumes and unnamed host volumes (Docker-managed per task) go; the shared
  // volume and the host path stay.
  EXPECT_THAT(runtime_.Log(), UnorderedElementsAre("Remove app", "RemoveVolume berth-" + id + "-scratch",
                                                   "RemoveVolume berth-" + id + "-empty"));
}

TEST_F(TaskEngineTest, DesiredStateArrivingDuringCleanupIsNotLost) {
  EngineOptions options = Options();
  options.cleanup_after_us = 60'000'000;
  Boot(options);
  RunWeb();
  Apply(Desired({Task("t1", "web", "STOPPED", "RUNNING")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "STOPPED");
  const size_t before = reports_.For(TaskArn("t1")).size();

  // While Tick removes the containers, a poll says berthd lost the STOPPED report.
  std::atomic<bool> once{false};
  runtime_.knobs().OnCall([&](const FakeRuntime::Call& call) {
    if (call.op == "Remove" && !once.exchange(true)) {
      engine_->ApplyDesired(Desired({Task("t1", "web", "STOPPED", "RUNNING")}, {kWebTd}));
    }
  });
  clock_.Advance(60'000'000);
  Tick();
  runtime_.knobs().OnCall(nullptr);

  EXPECT_EQ(runtime_.Count("Remove"), 3);
  std::vector<v1::TaskStateChange> reports = reports_.For(TaskArn("t1"));
  ASSERT_EQ(reports.size(), before + 1) << "the STOPPED snapshot is sent again";
  EXPECT_EQ(reports.back().status(), "STOPPED");
}

}  // namespace
}  // namespace berth::agent
