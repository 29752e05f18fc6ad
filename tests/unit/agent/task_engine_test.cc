// Tests of TaskEngine against FakeRuntime: every lifecycle transition (PENDING, RUNNING, STOPPING,
// STOPPED), dependsOn conditions, failures at each step, networking modes, task-level limits and
// re-reporting. Local state, adoption and cleanup: task_engine_state_test.cc; concurrency:
// task_engine_concurrency_test.cc; the fixture: task_engine_fixture.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
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

// --- the happy path ---

TEST_F(TaskEngineTest, PullsCreatesAndStartsThenReportsRunning) {
  Boot();
  const double t0 = clock_.NowSeconds();
  runtime_.knobs().OnCall([this](const FakeRuntime::Call& call) {
    if (call.op == "Pull") clock_.Advance(1'000'000);
  });
  Apply(Desired({Task("t1", "web")}, {kWebTd}));

  EXPECT_THAT(reports_.Statuses(TaskArn("t1")), ElementsAre("PENDING", "RUNNING"));
  v1::TaskStateChange pending = reports_.For(TaskArn("t1")).front();
  EXPECT_EQ(pending.pull_started_at(), t0);
  EXPECT_FALSE(pending.has_pull_stopped_at());
  EXPECT_FALSE(pending.has_started_at());
  for (const auto& c : pending.containers()) EXPECT_EQ(c.status(), "PENDING") << c.name();

  v1::TaskStateChange running = reports_.Last(TaskArn("t1"));
  EXPECT_EQ(running.pull_started_at(), t0);
  EXPECT_EQ(running.pull_stopped_at(), t0 + 2);
  EXPECT_EQ(running.containers_created_at(), t0 + 2);
  EXPECT_EQ(running.started_at(), t0 + 2);
  EXPECT_FALSE(running.has_stopped_at());
  EXPECT_EQ(running.stop_code(), "");
  ASSERT_EQ(running.containers_size(), 3);
  for (const std::string name : {"app", "sidecar", "log"}) {
    v1::ContainerStateChange c = ContainerOf(running, name);
    EXPECT_EQ(c.status(), "RUNNING") << name;
    EXPECT_EQ(c.runtime_id(), Id("t1", name)) << name;
    EXPECT_FALSE(c.has_exit_code()) << name;
    EXPECT_EQ(c.health_status(), "") << name << " has no health check";
  }
  EXPECT_EQ(ContainerOf(running, "app").image_digest(), "sha256:digest-of-nginx:1.25");
  EXPECT_EQ(ContainerOf(running, "sidecar").image_digest(), "sha256:digest-of-envoy:1.29");

  // Each image once, containers created in definition order, then started.
  EXPECT_THAT(runtime_.Log(), ElementsAre("Pull nginx:1.25", "Pull envoy:1.29", "Create app", "Create sidecar",
                                          "Create log", "Start app", "Start sidecar", "Start log"));
}

TEST_F(TaskEngineTest, CreatedContainersAreNamedAndLabelledForAdoption) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {kWebTd}));

  ContainerSpec app = SpecOf("t1", "app");
  EXPECT_EQ(app.name, "berth-web-1-app-t1");
  EXPECT_EQ(app.task_arn, TaskArn("t1"));
  EXPECT_EQ(app.definition.image(), "nginx:1.25");
  EXPECT_EQ(app.network_mode, "bridge");
  EXPECT_EQ(app.network_container, "");
  EXPECT_EQ(app.labels, (std::map<std::string, std::string>{{kLabelCluster, kCluster},
                                                            {kLabelInstance, kInstance},
                                                            {kLabelTaskArn, TaskArn("t1")},
                                                            {kLabelContainerName, "app"},
                                                            {kLabelTaskDefinition, "web:1"},
                                                            {"team", "blue"}}));
  ContainerSpec sidecar = SpecOf("t1", "sidecar");
  EXPECT_EQ(sidecar.name, "berth-web-1-sidecar-t1");
  EXPECT_EQ(sidecar.labels.at(kLabelContainerName), "sidecar");
  EXPECT_EQ(sidecar.labels.at(kLabelTaskArn), TaskArn("t1"));
  EXPECT_EQ(sidecar.labels.at(kLabelCluster), kCluster);
  EXPECT_EQ(sidecar.labels.at(kLabelInstance), kInstance);
}

TEST_F(TaskEngineTest, OverridesAndVolumesReachTheSpec) {
  Boot();
  std::string td = Td("job", R"([{"name":"app","image":"busybox","command":["sleep","1"],
      "environment":[{"name":"A","value":"1"},{"name":"KEEP","value":"k"}],"cpu":128,"memory":256},
      {"name":"other","image":"busybox","command":["true"]}])",
                      R"(,"volumes":[{"name":"data","host":{"sourcePath":"/srv/data"}},
        {"name":"scratch","dockerVolumeConfiguration":{"scope":"task","driver":"local","driverOpts":{"type":"tmpfs"},
          "labels":{"x":"y"}}},
        {"name":"cache","dockerVolumeConfiguration":{"scope":"shared","driver":"local"}},
        {"name":"empty","host":{}}])");
  Apply(Desired({Task("t1", "job", "RUNNING", "PENDING", R"(,"overrides":{"containerOverrides":[{"name":"app",
      "command":["sleep","60"],"environment":[{"name":"A","value":"2"},{"name":"B","value":"new"}],
      "cpu":512,"memory":1024,"memoryReservation":512}]})")},
                {td}));
  ASSERT_EQ(Status("t1"), "RUNNING");

  const v1::ContainerDefinition app = SpecOf("t1", "app").definition;
  EXPECT_THAT(app.command(), ElementsAre("sleep", "60"));
  ASSERT_EQ(app.environment_size(), 3);
  EXPECT_EQ(app.environment(0).name(), "A");
  EXPECT_EQ(app.environment(0).value(), "2");
  EXPECT_EQ(app.environment(1).name(), "KEEP");
  EXPECT_EQ(app.environment(2).name(), "B");
  EXPECT_EQ(app.environment(2).value(), "new");
  EXPECT_EQ(app.cpu(), 512);
  EXPECT_EQ(app.memory(), 1024);
  EXPECT_EQ(app.memory_reservation(), 512);
  // Overrides of another container do not leak.
  EXPECT_THAT(SpecOf("t1", "other").definition.command(), ElementsAre("true"));

  const std::vector<VolumeSpec> volumes = SpecOf("t1", "app").volumes;
  ASSERT_EQ(volumes.size(), 4u);
  EXPECT_EQ(volumes[0].name, "data");
  EXPECT_EQ(volumes[0].host_path, "/srv/data");
  EXPECT_EQ(volumes[0].docker_name, "");
  EXPECT_EQ(volumes[1].name, "scratch");
  EXPECT_EQ(volumes[1].docker_name, "berth-t1-scratch");
  EXPECT_EQ(volumes[1].driver, "local");
  EXPECT_EQ(volumes[1].driver_opts, (std::map<std::string, std::string>{{"type", "tmpfs"}}));
  EXPECT_EQ(volumes[1].labels, (std::map<std::string, std::string>{{"x", "y"}}));
  EXPECT_EQ(volumes[2].docker_name, "cache");
  EXPECT_EQ(volumes[3].host_path, "");
  EXPECT_EQ(volumes[3].docker_name, "berth-t1-empty");
}

// --- dependsOn ---

TEST_F(TaskEngineTest, DependsOnStartStartsTheDependencyFirst) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"proxy","condition":"START"}]},
      {"name":"proxy","image":"proxy:1","dependsOn":[{"containerName":"db","condition":"START"}]},
      {"name":"db","image":"db:1"}])")}));

  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_THAT(runtime_.Log(), ElementsAre("Pull app:1", "Pull proxy:1", "Pull db:1", "Create app", "Create proxy",
                                          "Create db", "Start db", "Start proxy", "Start app"));
}

TEST_F(TaskEngineTest, DependsOnCompleteWaitsForTheDependencyToExit) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"init","image":"busybox","essential":false},
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"init","condition":"COMPLETE"}]}])")}));
  EXPECT_EQ(Status("t1"), "PENDING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "init").status(), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "app").status(), "PENDING");
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 0);

  // COMPLETE accepts any exit code.
  runtime_.SetExited(Id("t1", "init"), 1);
  Settle();
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 1);
  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "RUNNING");
  EXPECT_EQ(ContainerOf(s, "init").status(), "STOPPED");
  EXPECT_EQ(ContainerOf(s, "init").exit_code(), 1);
  EXPECT_EQ(ContainerOf(s, "app").status(), "RUNNING");
  EXPECT_EQ(reports_.Last(TaskArn("t1")).status(), "RUNNING");
}

TEST_F(TaskEngineTest, DependsOnSuccessStartsAfterTheDependencyExitsZero) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"migrate","image":"migrate:1","essential":false},
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"migrate","condition":"SUCCESS"}]}])")}));
  EXPECT_EQ(Status("t1"), "PENDING");
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 0);

  runtime_.SetExited(Id("t1", "migrate"), 0);
  Settle();
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 1);
  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "migrate").exit_code(), 0);
}

TEST_F(TaskEngineTest, DependsOnSuccessFailsWhenTheDependencyExitsNonZero) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"migrate","image":"migrate:1","essential":false},
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"migrate","condition":"SUCCESS"}]}])")}));
  runtime_.SetExited(Id("t1", "migrate"), 2);
  Settle();

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(s.stopped_reason(), HasSubstr("SUCCESS"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("app"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("migrate"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("code 2"));
  EXPECT_TRUE(s.has_stopped_at());
  EXPECT_EQ(ContainerOf(s, "app").status(), "STOPPED");
  EXPECT_EQ(ContainerOf(s, "app").reason(), s.stopped_reason());
  EXPECT_EQ(ContainerOf(s, "migrate").exit_code(), 2);
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 0);
  EXPECT_EQ(reports_.Last(TaskArn("t1")).status(), "STOPPED");
  EXPECT_THAT(reports_.Statuses(TaskArn("t1")), Not(::testing::Contains("RUNNING")));
}

TEST_F(TaskEngineTest, DependsOnHealthyWaitsUntilTheDependencyIsHealthy) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"db","image":"postgres:16","healthCheck":{"command":["CMD-SHELL","pg_isready"],"interval":5}},
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"db","condition":"HEALTHY"}]}])")}));
  EXPECT_EQ(Status("t1"), "PENDING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "db").health_status(), "UNKNOWN");
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 0);

  runtime_.SetHealth(Id("t1", "db"), "unhealthy");
  Settle();
  EXPECT_EQ(Status("t1"), "PENDING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "db").health_status(), "UNHEALTHY");
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 0);

  runtime_.SetHealth(Id("t1", "db"), "healthy");
  Settle();
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 1);
  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "db").health_status(), "HEALTHY");
  EXPECT_EQ(ContainerOf(Snap("t1"), "app").health_status(), "");
}

TEST_F(TaskEngineTest, DependsOnHealthyFailsWhenTheDependencyExitsFirst) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"db","image":"postgres:16","essential":false,"healthCheck":{"command":["CMD","true"]}},
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"db","condition":"HEALTHY"}]}])")}));
  runtime_.SetExited(Id("t1", "db"), 1);
  Settle();

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(s.stopped_reason(), HasSubstr("HEALTHY"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("exited"));
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 0);
}

// Dependencies that can never be met fail the task before the dependent starts. Each row is the
// dependsOn of app on a task whose other container, db, has no health check.
struct NeverMetCase {
  std::string name;
  std::string depends_on;
  std::vector<std::string> reason_has;
};
void PrintTo(const NeverMetCase& c, std::ostream* os) { *os << c.name; }

class DependencyNeverMetTest : public TaskEngineTest, public ::testing::WithParamInterface<NeverMetCase> {};

TEST_P(DependencyNeverMetTest, FailsTheTaskToStart) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", StrCat(R"([{"name":"db","image":"db:1"},
      {"name":"app","image":"app:1","dependsOn":[)",
                                                       GetParam().depends_on, "]}]"))}));

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "TaskFailedToStart");
  for (const auto& part : GetParam().reason_has) EXPECT_THAT(s.stopped_reason(), HasSubstr(part));
  EXPECT_EQ(ContainerOf(s, "app").reason(), s.stopped_reason());
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start app"), 0);
  for (const auto& c : s.containers()) EXPECT_EQ(c.status(), "STOPPED") << c.name();
  EXPECT_EQ(reports_.Last(TaskArn("t1")).status(), "STOPPED");
}

INSTANTIATE_TEST_SUITE_P(Conditions, DependencyNeverMetTest,
                         ::testing::Values(NeverMetCase{"HealthyOnAContainerWithoutHealthCheck",
                                                        R"({"containerName":"db","condition":"HEALTHY"})",
                                                        {"HEALTHY", "app", "db", "healthCheck"}},
                                           NeverMetCase{"DependencyTheTaskDoesNotHave",
                                                        R"({"containerName":"ghost","condition":"START"})",
                                                        {"app", "ghost"}},
                                           NeverMetCase{"UnknownCondition",
                                                        R"({"containerName":"db","condition":"READY"})",
                                                        {"app", "READY"}}),
                         [](const ::testing::TestParamInfo<NeverMetCase>& info) { return info.param.name; });

// --- failures to start ---

TEST_F(TaskEngineTest, PullErrorStopsTheTaskWithoutCreatingContainers) {
  Boot();
  runtime_.knobs().FailPull("envoy:1.29", "manifest for envoy:1.29 not found: manifest unknown");
  Apply(Desired({Task("t1", "web")}, {kWebTd}));

  std::vector<std::string> statuses = reports_.Statuses(TaskArn("t1"));
  ASSERT_FALSE(statuses.empty());
  EXPECT_EQ(statuses.front(), "PENDING");
  EXPECT_TRUE(reports_.For(TaskArn("t1")).front().has_pull_started_at());
  EXPECT_EQ(statuses.back(), "STOPPED");
  EXPECT_THAT(statuses, Not(::testing::Contains("RUNNING")));

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(s.stopped_reason(), StartsWith("CannotPullContainerError"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("envoy:1.29"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("manifest unknown"));
  EXPECT_THAT(ContainerOf(s, "sidecar").reason(), StartsWith("CannotPullContainerError"));
  for (const auto& c : s.containers()) EXPECT_EQ(c.status(), "STOPPED") << c.name();
  EXPECT_EQ(runtime_.Count("Create"), 0);
  EXPECT_EQ(runtime_.Count("Start"), 0);
  EXPECT_EQ(runtime_.container_count(), 0u);
  EXPECT_THAT(runtime_.Log(), ElementsAre("Pull nginx:1.25", "Pull envoy:1.29"));
}

TEST_F(TaskEngineTest, CreateErrorStopsTheContainersAlreadyCreated) {
  Boot();
  runtime_.knobs().FailCreate("sidecar", "no space left on device");
  Apply(Desired({Task("t1", "web")}, {kWebTd}));

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(s.stopped_reason(), StartsWith("CannotCreateContainerError"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("no space left on device"));
  EXPECT_THAT(ContainerOf(s, "sidecar").reason(), StartsWith("CannotCreateContainerError"));
  EXPECT_EQ(ContainerOf(s, "app").status(), "STOPPED");
  EXPECT_EQ(ContainerOf(s, "app").runtime_id(), Id("t1", "app"));
  EXPECT_THAT(runtime_.Log(),
              ElementsAre("Pull nginx:1.25", "Pull envoy:1.29", "Create app", "Create sidecar", "Stop app 30"));
  std::vector<std::string> statuses = reports_.Statuses(TaskArn("t1"));
  ASSERT_GE(statuses.size(), 2u);
  EXPECT_EQ(statuses[statuses.size() - 2], "STOPPING");
  EXPECT_EQ(statuses.back(), "STOPPED");
}

TEST_F(TaskEngineTest, StartErrorStopsTheStartedContainers) {
  Boot();
  runtime_.knobs().FailStart("sidecar", "OCI runtime create failed: exec: \"envoy\": executable file not found");
  Apply(Desired({Task("t1", "web")}, {kWebTd}));

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(s.stopped_reason(), StartsWith("CannotStartContainerError"));
  EXPECT_THAT(s.stopped_reason(), HasSubstr("executable file not found"));
  EXPECT_THAT(ContainerOf(s, "sidecar").reason(), StartsWith("CannotStartContainerError"));
  EXPECT_EQ(ContainerOf(s, "app").exit_code(), 143);
  EXPECT_EQ(ContainerOf(s, "log").reason(), "never started");
  EXPECT_EQ(Occurrences(runtime_.Log(), "Start log"), 0);
  EXPECT_EQ(Occurrences(runtime_.Log(), "Stop app 30"), 1);
  EXPECT_THAT(reports_.Statuses(TaskArn("t1")), Not(::testing::Contains("RUNNING")));
}

TEST_F(TaskEngineTest, TaskNetworkErrorFailsTheTaskBeforeCreatingContainers) {
  Boot();
  runtime_.knobs().FailTaskNetwork("failed to create network namespace");
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([{"name":"app","image":"app:1"}])", R"(,"networkMode":"awsvpc")")}));

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(s.stopped_reason(), StartsWith("CannotCreateTaskNetworkError"));
  EXPECT_EQ(runtime_.Count("Create"), 0);
}

// --- running ---

TEST_F(TaskEngineTest, EssentialContainerExitStopsTheOthersInReverseStartOrder) {
  Boot();
  runtime_.knobs().IgnoreSigterm("c");
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"c","image":"c:1","dependsOn":[{"containerName":"b","condition":"START"}]},
      {"name":"b","image":"b:1","dependsOn":[{"containerName":"a","condition":"START"}]},
      {"name":"a","image":"a:1","stopTimeout":7}])")}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  runtime_.ClearCalls();

  runtime_.SetExited(Id("t1", "b"), 3, "OOMKilled");
  Settle();

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "EssentialContainerExited");
  EXPECT_EQ(s.stopped_reason(), "Essential container in task exited");
  EXPECT_TRUE(s.has_stopped_at());
  EXPECT_TRUE(s.has_execution_stopped_at());
  EXPECT_EQ(ContainerOf(s, "b").exit_code(), 3);
  EXPECT_EQ(ContainerOf(s, "b").reason(), "OOMKilled");
  EXPECT_EQ(ContainerOf(s, "c").exit_code(), 137);
  EXPECT_EQ(ContainerOf(s, "a").exit_code(), 143);
  for (const auto& c : s.containers()) EXPECT_EQ(c.status(), "STOPPED") << c.name();
  // Started a, b, c: c stops first.
  EXPECT_THAT(runtime_.Log(), ElementsAre("Stop c 30", "Stop a 7"));
  std::vector<std::string> statuses = reports_.Statuses(TaskArn("t1"));
  ASSERT_GE(statuses.size(), 2u);
  EXPECT_EQ(statuses[statuses.size() - 2], "STOPPING");
  EXPECT_EQ(statuses.back(), "STOPPED");
  EXPECT_EQ(reports_.Last(TaskArn("t1")).stop_code(), "EssentialContainerExited");
}

TEST_F(TaskEngineTest, NonEssentialExitKeepsTheTaskRunning) {
  Boot();
  RunWeb();
  runtime_.ClearCalls();
  runtime_.SetExited(Id("t1", "log"), 0);
  Settle();

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "RUNNING");
  EXPECT_EQ(s.stop_code(), "");
  EXPECT_EQ(ContainerOf(s, "log").status(), "STOPPED");
  EXPECT_EQ(ContainerOf(s, "log").exit_code(), 0);
  EXPECT_EQ(ContainerOf(s, "app").status(), "RUNNING");
  EXPECT_EQ(runtime_.Count("Stop"), 0);
  EXPECT_EQ(ContainerOf(reports_.Last(TaskArn("t1")), "log").status(), "STOPPED");
}

TEST_F(TaskEngineTest, EssentialContainerThatDisappearsStopsTheTask) {
  Boot();
  RunWeb();
  runtime_.SetMissing(Id("t1", "sidecar"));
  Settle();

  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "EssentialContainerExited");
  EXPECT_EQ(ContainerOf(s, "sidecar").reason(), "the container disappeared");
  EXPECT_EQ(ContainerOf(s, "app").exit_code(), 143);
}

TEST_F(TaskEngineTest, HealthIsReportedOnTheContainer) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"app","image":"app:1","healthCheck":{"command":["CMD","curl","-f","http://localhost/"]}},
      {"name":"other","image":"other:1"}])")}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(ContainerOf(reports_.Last(TaskArn("t1")), "app").health_status(), "UNKNOWN");

  runtime_.SetHealth(Id("t1", "app"), "healthy");
  Settle();
  EXPECT_EQ(ContainerOf(reports_.Last(TaskArn("t1")), "app").health_status(), "HEALTHY");
  EXPECT_EQ(ContainerOf(reports_.Last(TaskArn("t1")), "other").health_status(), "");

  // The agent reports an unhealthy container; replacing the task is the scheduler's business.
  runtime_.SetHealth(Id("t1", "app"), "unhealthy");
  Settle();
  v1::TaskStateChange last = reports_.Last(TaskArn("t1"));
  EXPECT_EQ(ContainerOf(last, "app").health_status(), "UNHEALTHY");
  EXPECT_EQ(last.status(), "RUNNING");
}

TEST_F(TaskEngineTest, ResyncNoticesAnExitWithoutAnEvent) {
  EngineOptions options = Options();
  options.resync_interval_us = 10'000'000;
  Boot(options);
  RunWeb();
  Tick();  // the first resync

  runtime_.SetExited(Id("t1", "app"), 1, "", FakeRuntime::Notify::kNo);
  Settle();
  EXPECT_EQ(Status("t1"), "RUNNING");
  clock_.Advance(9'999'999);
  Tick();
  EXPECT_EQ(Status("t1"), "RUNNING") << "resync before its interval";

  clock_.Advance(1);
  Tick();
  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "EssentialContainerExited");
  EXPECT_EQ(ContainerOf(s, "app").exit_code(), 1);
}

// --- stopping ---

TEST_F(TaskEngineTest, DesiredStoppedStopsWithTheContainersStopTimeout) {
  EngineOptions options = Options();
  options.default_stop_timeout_seconds = 12;
  Boot(options);
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([
      {"name":"app","image":"app:1","stopTimeout":5},
      {"name":"sidecar","image":"sidecar:1","dependsOn":[{"containerName":"app","condition":"START"}]}])")}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  runtime_.ClearCalls();
  const size_t before = reports_.For(TaskArn("t1")).size();

  Apply(
      Desired({Task("t1", "web", "STOPPED", "RUNNING")}, {Td("web", R"([{"name":"app","image":"app:1","stopTimeout":5},
      {"name":"sidecar","image":"sidecar:1","dependsOn":[{"containerName":"app","condition":"START"}]}])")}));

  std::vector<std::string> statuses = reports_.Statuses(TaskArn("t1"));
  EXPECT_THAT(std::vector<std::string>(statuses.begin() + before, statuses.end()), ElementsAre("STOPPING", "STOPPED"));
  EXPECT_THAT(runtime_.Log(), ElementsAre("Stop sidecar 12", "Stop app 5"));
  v1::TaskStateChange s = Snap("t1");
  EXPECT_EQ(s.status(), "STOPPED");
  EXPECT_EQ(s.stop_code(), "") << "berthd knows why it asked";
  EXPECT_TRUE(s.has_stopped_at());
  EXPECT_EQ(ContainerOf(s, "app").exit_code(), 143);
  EXPECT_EQ(ContainerOf(s, "sidecar").exit_code(), 143);
}

TEST_F(TaskEngineTest, StopArrivingDuringThePullCreatesNothing) {
  Boot();
  std::atomic<bool> once{false};
  runtime_.knobs().OnCall([&](const FakeRuntime::Call& call) {
    if (call.op == "Pull" && !once.exchange(true)) {
      engine_->ApplyDesired(Desired({Task("t1", "web", "STOPPED", "PENDING")}, {kWebTd}));
    }
  });
  Apply(Desired({Task("t1", "web")}, {kWebTd}));
  runtime_.knobs().OnCall(nullptr);

  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_EQ(runtime_.Count("Create"), 0);
  EXPECT_EQ(runtime_.Count("Start"), 0);
}

TEST_F(TaskEngineTest, StopWhileWaitingForADependencyStopsTheCreatedContainers) {
  Boot();
  std::string td = Td("web", R"([
      {"name":"db","image":"postgres:16","healthCheck":{"command":["CMD","true"]}},
      {"name":"app","image":"app:1","dependsOn":[{"containerName":"db","condition":"HEALTHY"}]}])");
  Apply(Desired({Task("t1", "web")}, {td}));
  ASSERT_EQ(Status("t1"), "PENDING");
  runtime_.ClearCalls();

  Apply(Desired({Task("t1", "web", "STOPPED", "PENDING")}, {td}));
  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_THAT(runtime_.Log(), ElementsAre("Stop db 30", "Stop app 30"));  // the started one first
  EXPECT_EQ(runtime_.Count("Start"), 0);
}

TEST_F(TaskEngineTest, TaskFirstSeenStoppedIsReportedStoppedWithoutRuntimeCalls) {
  Boot();
  Apply(Desired({Task("t1", "web", "STOPPED", "PENDING")}, {kWebTd}));

  EXPECT_THAT(reports_.Statuses(TaskArn("t1")), ElementsAre("STOPPED"));
  EXPECT_TRUE(reports_.Last(TaskArn("t1")).has_stopped_at());
  EXPECT_THAT(runtime_.Calls(), IsEmpty());
  EXPECT_EQ(Status("t1"), "STOPPED");
}

TEST_F(TaskEngineTest, TaskMissingFromALaterDesiredStateIsStopped) {
  Boot();
  Apply(Desired({Task("t1", "web"), Task("t2", "web")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  ASSERT_EQ(Status("t2"), "RUNNING");
  runtime_.ClearCalls();

  Apply(Desired({Task("t2", "web", "RUNNING", "RUNNING")}, {kWebTd}));
  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_EQ(Status("t2"), "RUNNING");
  EXPECT_THAT(runtime_.Log(TaskArn("t1")), ElementsAre("Stop log 30", "Stop sidecar 30", "Stop app 30"));
  EXPECT_THAT(runtime_.Log(TaskArn("t2")), IsEmpty());
}

TEST_F(TaskEngineTest, InactiveInstanceStopsEveryTask) {
  Boot();
  Apply(Desired({Task("t1", "web"), Task("t2", "web")}, {kWebTd}));
  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING"), Task("t2", "web", "RUNNING", "RUNNING")}, {kWebTd},
                "INACTIVE"));
  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_EQ(Status("t2"), "STOPPED");
  EXPECT_EQ(runtime_.Count("Stop"), 6);
}

TEST_F(TaskEngineTest, TaskStoppedOnItsOwnIsNotRestarted) {
  Boot();
  RunWeb();
  runtime_.SetExited(Id("t1", "app"), 1);
  Settle();
  ASSERT_EQ(Status("t1"), "STOPPED");
  runtime_.ClearCalls();

  // berthd has not seen the report yet and still wants the task running.
  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING")}, {kWebTd}));
  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_THAT(runtime_.Log(), IsEmpty());
}

TEST_F(TaskEngineTest, ForgetStopsTheTaskAndDropsItOnceCleanedUp) {
  EngineOptions options = Options();
  options.cleanup_after_us = 60'000'000;
  Boot(options);
  RunWeb();
  runtime_.ClearCalls();

  engine_->Forget(TaskArn("t1"));
  engine_->Forget(TaskArn("never-seen"));
  Settle();
  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_EQ(runtime_.Count("Stop"), 3);
  EXPECT_THAT(engine_->SnapshotAll(), IsEmpty()) << "berthd does not know it: not re-reported";
  EXPECT_EQ(engine_->task_count(), 1u);

  clock_.Advance(60'000'000);
  Tick();
  EXPECT_EQ(runtime_.Count("Remove"), 3);
  EXPECT_EQ(engine_->task_count(), 0u);
  EXPECT_FALSE(engine_->Snapshot(TaskArn("t1")).has_value());
}

TEST_F(TaskEngineTest, ADeltaChangesOnlyTheTasksItNamesAndAWholeStateStopsTheUnlisted) {
  Boot();
  const std::string job = Td("job", R"([{"name":"app","image":"busybox"}])");
  Apply(Desired({Task("t1", "job"), Task("t2", "job")}, {job}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  ASSERT_EQ(Status("t2"), "RUNNING");

  // A delta with a new task only: t1 and t2 are not touched.
  v1::PollResponse add = Desired({Task("t3", "job")}, {job});
  add.set_delta(true);
  Apply(add);
  EXPECT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(Status("t2"), "RUNNING");
  EXPECT_EQ(Status("t3"), "RUNNING");

  // A delta that stops t1, then one that says it left the desired state: forgotten once cleaned.
  v1::PollResponse stop = Desired({Task("t1", "job", "STOPPED", "RUNNING")}, {});
  stop.set_delta(true);
  Apply(stop);
  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_EQ(Status("t2"), "RUNNING");
  v1::PollResponse removed = Desired({}, {});
  removed.set_delta(true);
  removed.add_removed_task_arns(TaskArn("t1"));
  removed.add_removed_task_arns(TaskArn("never-seen"));
  Apply(removed);
  clock_.Advance(3601LL * 1'000'000);
  Tick();
  Tick();
  EXPECT_EQ(engine_->task_count(), 2u);
  EXPECT_EQ(Status("t2"), "RUNNING");

  // A whole desired state without t2 stops it.
  Apply(Desired({Task("t3", "job")}, {job}));
  EXPECT_EQ(Status("t2"), "STOPPED");
  EXPECT_EQ(Status("t3"), "RUNNING");
}

// --- networking ---

TEST_F(TaskEngineTest, BridgePortsReachTheSpecAndComeBackAsBindings) {
  Boot();
  Apply(Desired({Task("t1", "web", "RUNNING", "PENDING",
                      R"(,"hostPorts":[{"containerName":"app","containerPort":9000,"protocol":"tcp","hostPort":32001},
                          {"containerName":"app","containerPort":9001,"protocol":"udp","hostPort":32002}])")},
                {Td("web", R"([{"name":"app","image":"app:1","portMappings":[
                     {"containerPort":80,"hostPort":8080},
                     {"containerPort":53,"hostPort":5353,"protocol":"udp"},
                     {"containerPort":9000},
                     {"containerPort":9001,"protocol":"udp"}]},
                   {"name":"other","image":"other:1"}])")}));
  ASSERT_EQ(Status("t1"), "RUNNING");

  const std::vector<PortBinding> ports = SpecOf("t1", "app").ports;
  ASSERT_EQ(ports.size(), 4u);
  auto port = [](const PortBinding& p) { return StrCat(p.container_port, "->", p.host_port, "/", p.protocol); };
  std::vector<std::string> got;
  for (const auto& p : ports) got.push_back(port(p));
  EXPECT_THAT(got, UnorderedElementsAre("80->8080/tcp", "53->5353/udp", "9000->32001/tcp", "9001->32002/udp"));
  EXPECT_THAT(SpecOf("t1", "other").ports, IsEmpty());

  std::vector<std::string> bindings;
  const v1::ContainerStateChange app = ContainerOf(reports_.Last(TaskArn("t1")), "app");
  for (const auto& b : app.network_bindings()) {
    bindings.push_back(StrCat(b.bind_ip(), ":", b.host_port(), "->", b.container_port(), "/", b.protocol()));
  }
  EXPECT_THAT(bindings, UnorderedElementsAre("0.0.0.0:8080->80/tcp", "0.0.0.0:5353->53/udp", "0.0.0.0:32001->9000/tcp",
                                             "0.0.0.0:32002->9001/udp"));
  EXPECT_THAT(ContainerOf(reports_.Last(TaskArn("t1")), "other").network_bindings(), IsEmpty());
}

TEST_F(TaskEngineTest, StoppedContainersReportNoBindings) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([{"name":"app","image":"app:1","portMappings":[
      {"containerPort":80,"hostPort":8080}]}])")}));
  runtime_.SetExited(Id("t1", "app"), 0);
  Settle();
  EXPECT_THAT(ContainerOf(Snap("t1"), "app").network_bindings(), IsEmpty());
}

TEST_F(TaskEngineTest, HostModeReportsContainerPortsAsHostPorts) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {Td("web", R"([{"name":"app","image":"app:1","portMappings":[
      {"containerPort":8080},{"containerPort":53,"protocol":"udp"}]}])",
                                         R"(,"networkMode":"host")")}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(SpecOf("t1", "app").network_mode, "host");
  EXPECT_THAT(SpecOf("t1", "app").ports, IsEmpty());

  std::vector<std::string> bindings;
  const v1::ContainerStateChange app = ContainerOf(Snap("t1"), "app");
  for (const auto& b : app.network_bindings()) {
    bindings.push_back(StrCat(b.bind_ip(), ":", b.host_port(), "->", b.container_port(), "/", b.protocol()));
  }
  EXPECT_THAT(bindings, ElementsAre("0.0.0.0:8080->8080/tcp", "0.0.0.0:53->53/udp"));
}

TEST_F(TaskEngineTest, AwsvpcTaskGetsANetworkHolderAndAnAddress) {
  EngineOptions options = Options();
  options.awsvpc_cidr = "10.20.0.0/28";
  Boot(options);
  Apply(Desired({Task("t1", "vpc")}, {kVpcTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");

  const std::string holder = runtime_.HolderOf(TaskArn("t1"));
  ASSERT_NE(holder, "");
  EXPECT_THAT(runtime_.Log(), ElementsAre("Pull app:1", "Pull envoy:1", "CreateTaskNetwork 10.20.0.2", "Create app",
                                          "Create envoy", "Start app", "Start envoy"));
  for (const std::string name : {"app", "envoy"}) {
    ContainerSpec spec = SpecOf("t1", name);
    EXPECT_EQ(spec.network_mode, "awsvpc");
    EXPECT_EQ(spec.network_container, holder);
    EXPECT_THAT(spec.ports, IsEmpty());
  }
  for (const auto& call : runtime_.Calls()) {
    if (call.op == "CreateTaskNetwork") {
      EXPECT_EQ(call.task_arn, TaskArn("t1"));
    }
  }
  std::optional<ContainerSpec> holder_spec = runtime_.SpecOf(holder);
  ASSERT_TRUE(holder_spec);
  EXPECT_EQ(holder_spec->labels.at(kLabelCluster), kCluster);
  EXPECT_EQ(holder_spec->labels.at(kLabelInstance), kInstance);
  EXPECT_EQ(holder_spec->labels.at(kLabelTaskArn), TaskArn("t1"));
  EXPECT_EQ(holder_spec->labels.at(kLabelNetworkHolder), "true");

  v1::TaskStateChange s = Snap("t1");
  for (const auto& c : s.containers()) {
    ASSERT_EQ(c.network_interfaces_size(), 1) << c.name();
    EXPECT_EQ(c.network_interfaces(0).private_ipv4_address(), "10.20.0.2");
    EXPECT_EQ(c.network_interfaces(0).attachment_id(), "t1");
    EXPECT_THAT(c.network_bindings(), IsEmpty());
  }

  runtime_.ClearCalls();
  Apply(Desired({Task("t1", "vpc", "STOPPED", "RUNNING")}, {kVpcTd}));
  EXPECT_EQ(Status("t1"), "STOPPED");
  EXPECT_THAT(runtime_.Log(), ElementsAre("Stop envoy 30", "Stop app 30", "Stop <holder> 1", "Remove <holder>"));
  EXPECT_FALSE(runtime_.Has(holder));
}

TEST_F(TaskEngineTest, AwsvpcTasksGetDifferentAddresses) {
  Boot();
  Apply(Desired({Task("t1", "vpc"), Task("t2", "vpc")}, {kVpcTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  ASSERT_EQ(Status("t2"), "RUNNING");
  std::string a1 = ContainerOf(Snap("t1"), "app").network_interfaces(0).private_ipv4_address();
  std::string a2 = ContainerOf(Snap("t2"), "app").network_interfaces(0).private_ipv4_address();
  EXPECT_THAT((std::vector<std::string>{a1, a2}), UnorderedElementsAre("172.30.0.2", "172.30.0.3"));
  EXPECT_NE(runtime_.HolderOf(TaskArn("t1")), runtime_.HolderOf(TaskArn("t2")));
  EXPECT_EQ(SpecOf("t1", "app").network_container, runtime_.HolderOf(TaskArn("t1")));
  EXPECT_EQ(SpecOf("t2", "app").network_container, runtime_.HolderOf(TaskArn("t2")));
}

TEST_F(TaskEngineTest, AwsvpcAddressesRunOutAndComeBackAfterCleanup) {
  EngineOptions options = Options();
  options.awsvpc_cidr = "10.20.0.0/30";  // one usable address: .2
  options.cleanup_after_us = 60'000'000;
  Boot(options);
  Apply(Desired({Task("t1", "vpc")}, {kVpcTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");

  Apply(Desired({Task("t1", "vpc", "RUNNING", "RUNNING"), Task("t2", "vpc")}, {kVpcTd}));
  v1::TaskStateChange s2 = Snap("t2");
  EXPECT_EQ(s2.status(), "STOPPED");
  EXPECT_EQ(s2.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(s2.stopped_reason(), HasSubstr("no free address"));
  EXPECT_EQ(runtime_.Log(TaskArn("t2")), (std::vector<std::string>{"Pull app:1", "Pull envoy:1"}));

  // t1 stops; its address is free once its containers are cleaned up.
  Apply(Desired({Task("t1", "vpc", "STOPPED", "RUNNING"), Task("t2", "vpc", "RUNNING", "STOPPED")}, {kVpcTd}));
  ASSERT_EQ(Status("t1"), "STOPPED");
  clock_.Advance(60'000'000);
  Tick();
  Apply(Desired({Task("t3", "vpc")}, {kVpcTd}));
  EXPECT_EQ(Status("t3"), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t3"), "app").network_interfaces(0).private_ipv4_address(), "10.20.0.2");
}

TEST_F(TaskEngineTest, AwsvpcAddressesComeFromTheHostsOwnRange) {
  EngineOptions options = Options();
  options.awsvpc_cidr = "10.20.0.0/24";
  options.awsvpc_range = "10.20.0.16/28";  // another host of the network has .0/28
  Boot(options);
  Apply(Desired({Task("t1", "vpc")}, {kVpcTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t1"), "app").network_interfaces(0).private_ipv4_address(), "10.20.0.16");

  // The first range of the network never hands out the network's .0 and gateway .1.
  EngineOptions first = Options();
  first.awsvpc_cidr = "10.20.0.0/24";
  first.awsvpc_range = "10.20.0.0/28";
  Boot(first);
  Apply(Desired({Task("t2", "vpc")}, {kVpcTd}));
  ASSERT_EQ(Status("t2"), "RUNNING");
  EXPECT_EQ(ContainerOf(Snap("t2"), "app").network_interfaces(0).private_ipv4_address(), "10.20.0.2");

  // A range outside the network gives no address.
  EngineOptions outside = Options();
  outside.awsvpc_cidr = "10.20.0.0/24";
  outside.awsvpc_range = "10.30.0.0/28";
  Boot(outside);
  Apply(Desired({Task("t3", "vpc")}, {kVpcTd}));
  EXPECT_THAT(Snap("t3").stopped_reason(), HasSubstr("no free address"));
}

// --- task-level limits: the task cgroup and ephemeral storage ---

TEST_F(TaskEngineTest, ATaskWithATaskLevelSizeGetsACgroupItsContainersAreCreatedUnder) {
  Boot();
  Apply(Desired({Task("t1", "web", "RUNNING", "PENDING", R"(,"taskCpu":"512","taskMemory":"1024")")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  std::vector<std::string> log = runtime_.Log();
  ASSERT_THAT(log, ::testing::Contains("CreateTaskCgroup 512 1024"));
  // Made once, before the first container.
  auto cgroup = std::find(log.begin(), log.end(), "CreateTaskCgroup 512 1024");
  auto first_create =
      std::find_if(log.begin(), log.end(), [](const std::string& c) { return c.starts_with("Create "); });
  EXPECT_LT(cgroup, first_create);
  EXPECT_EQ(runtime_.Count("CreateTaskCgroup"), 1);
  for (const char* c : {"app", "sidecar", "log"}) EXPECT_EQ(SpecOf("t1", c).cgroup_parent, "/berth/t1") << c;
  EXPECT_EQ(runtime_.Cgroups().count("t1"), 1u);

  // Stopping the task removes the cgroup once its containers have stopped.
  Apply(Desired({Task("t1", "web", "STOPPED", "RUNNING", R"(,"taskCpu":"512","taskMemory":"1024")")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "STOPPED");
  EXPECT_EQ(runtime_.Cgroups().count("t1"), 0u);
  log = runtime_.Log();
  auto removed = std::find(log.begin(), log.end(), "RemoveTaskCgroup t1");
  ASSERT_NE(removed, log.end());
  for (auto it = removed; it != log.end(); ++it) EXPECT_FALSE(it->starts_with("Stop ")) << *it;
}

TEST_F(TaskEngineTest, ATaskWithoutATaskLevelSizeGetsNoCgroup) {
  Boot();
  RunWeb();
  EXPECT_EQ(runtime_.Count("CreateTaskCgroup"), 0);
  EXPECT_EQ(SpecOf("t1", "app").cgroup_parent, "");
}

TEST_F(TaskEngineTest, ACgroupThatCannotBeMadeFailsTheTaskBeforeItsContainers) {
  Boot();
  runtime_.knobs().FailTaskCgroup("mkdir /sys/fs/cgroup/memory/berth/t1: Permission denied");
  Apply(Desired({Task("t1", "web", "RUNNING", "PENDING", R"(,"taskMemory":"512")")}, {kWebTd}));
  v1::TaskStateChange snap = Snap("t1");
  EXPECT_EQ(snap.status(), "STOPPED");
  EXPECT_EQ(snap.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(snap.stopped_reason(),
              StartsWith("ResourceInitializationError: failed to create the task cgroup: mkdir"));
  EXPECT_EQ(runtime_.Count("Create"), 0);
}

TEST_F(TaskEngineTest, ACgroupLeftByARestartIsRemovedWithTheContainers) {
  testutil::TempDir dir;
  EngineOptions options = Options();
  options.state_path = dir.path() + "/state.json";
  options.cleanup_after_us = 60'000'000;
  Boot(options);
  Apply(Desired({Task("t1", "web", "RUNNING", "PENDING", R"(,"taskMemory":"512")")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  // The agent goes away; the task's containers exit while it is down.
  engine_.reset();
  for (const char* c : {"app", "sidecar", "log"}) runtime_.SetExited(Id("t1", c), 0, "", FakeRuntime::Notify::kNo);
  Boot(options);
  Apply(Desired({Task("t1", "web", "STOPPED", "RUNNING", R"(,"taskMemory":"512")")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "STOPPED");
  clock_.Advance(60'000'000);
  Tick();
  EXPECT_EQ(runtime_.Count("Remove"), 3);
  EXPECT_EQ(runtime_.Cgroups().count("t1"), 0u);
}

TEST_F(TaskEngineTest, ATaskWritingMoreThanItsEphemeralStorageIsStopped) {
  EngineOptions options = Options();
  options.storage_check_interval_us = 10'000'000;
  Boot(options);
  // 21 GiB; two of its three containers write.
  const std::string fargate = R"(,"taskCpu":"256","taskMemory":"512","ephemeralStorageMib":"21504")";
  Apply(Desired({Task("t1", "web", "RUNNING", "PENDING", fargate), Task("t2", "web")}, {kWebTd}));
  ASSERT_EQ(Status("t1"), "RUNNING");
  constexpr int64_t kGiB = 1024LL * 1024 * 1024;
  runtime_.knobs().SetDiskUsage(Id("t1", "app"), 11 * kGiB);
  runtime_.knobs().SetDiskUsage(Id("t1", "sidecar"), 10 * kGiB);
  runtime_.knobs().SetDiskUsage(Id("t2", "app"), 100 * kGiB);  // t2 has no limit
  Tick();
  EXPECT_EQ(Status("t1"), "RUNNING") << "21 GiB is within the limit";

  runtime_.knobs().SetDiskUsage(Id("t1", "log"), 1);
  clock_.Advance(9'999'999);
  Tick();
  EXPECT_EQ(Status("t1"), "RUNNING") << "measured every 10 s";
  clock_.Advance(1);
  Tick();
  v1::TaskStateChange snap = Snap("t1");
  EXPECT_EQ(snap.status(), "STOPPED");
  EXPECT_EQ(snap.stop_code(), "TerminationNotice");
  EXPECT_EQ(snap.stopped_reason(),
            "Task ephemeral storage use (21504 MiB written to its containers' writable layers) exceeds its limit of "
            "21 GiB (ephemeralStorage.sizeInGiB)");
  EXPECT_EQ(Status("t2"), "RUNNING");
}

// --- reports ---

TEST_F(TaskEngineTest, ReReportsWhenBerthdKnowsAnotherStatus) {
  Boot();
  RunWeb();
  const size_t before = reports_.For(TaskArn("t1")).size();

  Apply(Desired({Task("t1", "web", "RUNNING", "RUNNING")}, {kWebTd}));
  EXPECT_EQ(reports_.For(TaskArn("t1")).size(), before) << "berthd is up to date";

  // berthd lost the RUNNING report.
  Apply(Desired({Task("t1", "web", "RUNNING", "PENDING")}, {kWebTd}));
  std::vector<v1::TaskStateChange> reports = reports_.For(TaskArn("t1"));
  ASSERT_EQ(reports.size(), before + 1);
  EXPECT_EQ(reports.back().SerializeAsString(), reports[before - 1].SerializeAsString());
  EXPECT_EQ(reports.back().status(), "RUNNING");
}

TEST_F(TaskEngineTest, SnapshotAllCoversEveryTask) {
  Boot();
  Apply(Desired({Task("t1", "web"), Task("t2", "web", "STOPPED", "PENDING")}, {kWebTd}));
  std::vector<std::string> got;
  for (const auto& s : engine_->SnapshotAll()) got.push_back(StrCat(s.task_arn(), " ", s.status()));
  EXPECT_THAT(got, UnorderedElementsAre(StrCat(TaskArn("t1"), " RUNNING"), StrCat(TaskArn("t2"), " STOPPED")));
}

TEST_F(TaskEngineTest, DesiredTaskWithoutItsDefinitionWaitsForIt) {
  Boot();
  Apply(Desired({Task("t1", "web")}, {}));
  EXPECT_THAT(runtime_.Calls(), IsEmpty());
  EXPECT_EQ(engine_->task_count(), 1u);

  Apply(Desired({Task("t1", "web")}, {kWebTd}));
  EXPECT_EQ(Status("t1"), "RUNNING");
}

}  // namespace
}  // namespace berth::agent
