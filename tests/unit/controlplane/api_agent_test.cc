// The control plane's side of the agent protocol: desired state by long poll, the task lifecycle
// driven by reports, agent disconnects, StopTask delivery, forced deregistration and retention.
#include <gmock/gmock.h>

#include <algorithm>
#include <future>
#include <set>

#include "tests/unit/controlplane/api_fixture.h"
#include "tests/unit/controlplane/intercepting_store.h"

namespace berth::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr int64_t kSecond = 1'000'000;

class AgentApiTest : public ApiFixture {
 protected:
  ApiOptions Options() const override {
    ApiOptions o;
    o.agent.disconnect_after_us = 30 * kSecond;
    o.agent.max_poll_wait_us = 20 * kSecond;
    o.agent.poll_wait_jitter = 0;  // polls expire at exactly their wait, unless a test says otherwise
    o.agent.stopped_task_retention_us = 600 * kSecond;
    o.agent.check_interval_us = kSecond;
    return o;
  }

  void SetUp() override {
    ApiFixture::SetUp();
    v1::RegisterContainerInstanceResponse resp;
    ASSERT_TRUE(Do(&InstanceActions::RegisterContainerInstance, Json<v1::RegisterContainerInstanceRequest>(R"({
      "totalResources":[{"name":"CPU","type":"INTEGER","integerValue":2048},
                        {"name":"MEMORY","type":"INTEGER","integerValue":4096}],
      "attributes":[{"name":"ecs.availability-zone","value":"az-1"}]})"),
                   &resp)
                    .ok());
    const std::string& arn = resp.container_instance().container_instance_arn();
    instance_ = arn.substr(arn.rfind('/') + 1);
    v1::RegisterTaskDefinitionResponse td;
    ASSERT_TRUE(Do(&TaskDefinitionActions::RegisterTaskDefinition, Json<v1::RegisterTaskDefinitionRequest>(R"({
      "family":"web","containerDefinitions":[
        {"name":"app","image":"busybox","cpu":256,"memory":128,
         "portMappings":[{"containerPort":80},{"containerPort":53,"protocol":"udp"},{"containerPort":81,"hostPort":8081}],
         "healthCheck":{"command":["CMD-SHELL","true"]}},
        {"name":"sidecar","image":"busybox","memory":64,"essential":false}]})"),
                   &td)
                    .ok());
  }

  v1::PollResponse PollNow(uint64_t known, bool deltas = false) { return PollOf(instance_, known, deltas); }

  // The version an agent of `instance` holds once its first poll's side effect settled: the first
  // poll of a disconnected instance also submits a proposal marking it connected, which bumps the
  // desired version; a poll parked on the version before it would be answered by that bump.
  uint64_t SettledVersion(const std::string& instance) { return SettledVersions({instance})[0]; }
  // The same for several instances, all polled before any version is read.
  std::vector<uint64_t> SettledVersions(const std::vector<std::string>& instances) {
    for (const std::string& instance : instances) PollOf(instance);
    Flush();                         // the reconnect proposals were submitted before the first polls were answered
    api_->agent().DrainPollWaker();  // and the wakes of the instances they touched are done with
    std::vector<uint64_t> versions;
    for (const std::string& instance : instances) versions.push_back(PollOf(instance).version());
    return versions;
  }

  // A zero-wait poll of `instance`, answered at once.
  v1::PollResponse PollOf(const std::string& instance, uint64_t known = 0, bool deltas = false) {
    v1::PollRequest req;
    req.set_container_instance(instance);
    req.set_known_version(known);
    req.set_accepts_deltas(deltas);
    v1::PollResponse resp;
    std::promise<absl::Status> done;
    api_->agent().Poll(req, &resp, [&](absl::Status s) { done.set_value(std::move(s)); });
    EXPECT_TRUE(done.get_future().get().ok());
    return resp;
  }

  std::string RunTask(const std::string& family = "web") {
    v1::RunTaskResponse resp;
    EXPECT_TRUE(
        Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":")" + family + R"("})"), &resp).ok());
    EXPECT_EQ(resp.tasks_size(), 1);
    return resp.tasks_size() == 1 ? resp.tasks(0).task_arn() : "";
  }

  absl::Status Report(const std::string& json, v1::ReportStateChangesResponse* resp = nullptr) {
    v1::ReportStateChangesResponse local;
    auto req = Json<v1::ReportStateChangesRequest>(json);
    req.set_container_instance(instance_);
    return Do(&AgentProtocol::ReportStateChanges, req, resp != nullptr ? resp : &local);
  }

  v1::Task Describe(const std::string& arn) {
    v1::DescribeTasksRequest req;
    req.add_tasks(arn);
    v1::DescribeTasksResponse resp;
    EXPECT_TRUE(Do(&TaskActions::DescribeTasks, req, &resp).ok());
    return resp.tasks_size() == 1 ? resp.tasks(0) : v1::Task();
  }

  v1::ContainerInstance DescribeInstance() {
    v1::DescribeContainerInstancesRequest req;
    req.add_container_instances(instance_);
    v1::DescribeContainerInstancesResponse resp;
    EXPECT_TRUE(Do(&InstanceActions::DescribeContainerInstances, req, &resp).ok());
    return resp.container_instances_size() == 1 ? resp.container_instances(0) : v1::ContainerInstance();
  }

  static int RemainingCpu(const v1::ContainerInstance& ci) {
    for (const auto& r : ci.remaining_resources()) {
      if (r.name() == "CPU") return r.integer_value();
    }
    return -1;
  }

  // `seconds` later, the once-a-second agent check runs and what it proposes is committed.
  void Check(int seconds) {
    clock_.Advance(seconds * kSecond);
    api_->agent().AgentTick();
    Flush();
  }

  std::string instance_;
};

TEST_F(AgentApiTest, PollReturnsTheDesiredStateWithDefinitionsAndAssignedHostPorts) {
  v1::PollResponse first = PollNow(0);
  EXPECT_FALSE(first.unchanged());
  EXPECT_EQ(first.instance_status(), "ACTIVE");
  EXPECT_EQ(first.tasks_size(), 0);

  std::string arn = RunTask();
  v1::PollResponse second = PollNow(first.version());
  EXPECT_GT(second.version(), first.version());
  ASSERT_EQ(second.tasks_size(), 1);
  const v1::DesiredTask& t = second.tasks(0);
  EXPECT_EQ(t.task_arn(), arn);
  EXPECT_EQ(t.desired_status(), "RUNNING");
  EXPECT_EQ(t.known_status(), "PENDING");
  ASSERT_EQ(second.task_definitions_size(), 1);
  EXPECT_EQ(second.task_definitions(0).task_definition_arn(), t.task_definition_arn());
  // Two dynamic mappings (tcp 80, udp 53) get ports from the ephemeral range; 8081 is static.
  ASSERT_EQ(t.host_ports_size(), 2);
  EXPECT_EQ(t.host_ports(0).container_name(), "app");
  EXPECT_EQ(t.host_ports(0).container_port(), 80);
  EXPECT_EQ(t.host_ports(0).protocol(), "tcp");
  EXPECT_GE(t.host_ports(0).host_port(), 49153);
  EXPECT_EQ(t.host_ports(1).container_port(), 53);
  EXPECT_EQ(t.host_ports(1).protocol(), "udp");

  // Same version again: unchanged, nothing re-sent.
  v1::PollResponse third = PollNow(second.version());
  EXPECT_TRUE(third.unchanged());
  EXPECT_EQ(third.version(), second.version());
  EXPECT_EQ(third.tasks_size(), 0);
}

// A memory store whose writes can be held back, to see what polls answer while a write is in flight.
class HoldableStore : public InterceptingStore {
 public:
  absl::Status Write(const store::WriteBatch& batch) override {
    {
      absl::MutexLock lock(&mu_);
      if (holding_) {
        ++held_;
        mu_.Await(absl::Condition(
            +[](bool* holding) { return !*holding; }, &holding_));
      }
    }
    return inner_->Write(batch);
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    holding_ = true;
  }
  void AwaitHeld() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* held) { return *held > 0; }, &held_));
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    holding_ = false;
  }

 private:
  absl::Mutex mu_;
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
};

class PollFenceTest : public AgentApiTest {
 protected:
  std::unique_ptr<store::Store> NewStore() override {
    auto s = std::make_unique<HoldableStore>();
    holdable_ = s.get();
    return s;
  }
  void TearDown() override {
    holdable_->Release();
    AgentApiTest::TearDown();
  }
  HoldableStore* holdable_ = nullptr;
};

// A poll's answer waits only for the records it shows: while a batch placing a task on one
// instance is being written, another instance's agent is answered at once, and the first one's
// only once the write is durable.
TEST_F(PollFenceTest, APollWaitsOnlyForTheRecordsItShowsToBeDurable) {
  const std::string other = AddInstance("default", 2048, 4096);
  SettledVersions({instance_, other});
  holdable_->Hold();
  std::promise<absl::Status> started;
  v1::StartTaskResponse start_resp;
  api_->tasks().StartTask(
      Json<v1::StartTaskRequest>(R"({"taskDefinition":"web","containerInstances":[")" + other + R"("]})"), &start_resp,
      [&](absl::Status s) { started.set_value(std::move(s)); });
  holdable_->AwaitHeld();  // applied, its write in flight

  auto poll = [&](const std::string& instance, v1::PollResponse* resp, std::promise<absl::Status>* done) {
    v1::PollRequest req;
    req.set_container_instance(instance);
    req.set_known_version(0);
    api_->agent().Poll(req, resp, [done](absl::Status s) { done->set_value(std::move(s)); });
    return done->get_future();
  };
  v1::PollResponse quiet_resp, busy_resp;
  std::promise<absl::Status> quiet_done, busy_done;
  std::future<absl::Status> quiet = poll(instance_, &quiet_resp, &quiet_done);
  EXPECT_EQ(quiet.wait_for(std::chrono::seconds(0)), std::future_status::ready)
      << "nothing this instance's agent is shown waits for the write in flight";
  std::future<absl::Status> busy = poll(other, &busy_resp, &busy_done);
  EXPECT_EQ(busy.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "the task placed by the batch being written must not reach its agent before it is durable";
  std::future<absl::Status> start_result = started.get_future();
  EXPECT_EQ(start_result.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  holdable_->Release();
  EXPECT_TRUE(start_result.get().ok());
  EXPECT_TRUE(quiet.get().ok());
  EXPECT_EQ(quiet_resp.tasks_size(), 0);
  ASSERT_TRUE(busy.get().ok());
  ASSERT_EQ(busy_resp.tasks_size(), 1);
  EXPECT_EQ(busy_resp.tasks(0).task_arn(), start_resp.tasks(0).task_arn());
  EXPECT_LE(busy_resp.version(), revision());
}

TEST_F(AgentApiTest, StoppingAtIsNeverAfterStoppedAt) {
  const std::string arn = RunTask();
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"RUNNING"}]})").ok());
  // The agent saw the container exit 5 s before its report arrives.
  const double exited = clock_.NowSeconds() - 5;
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"STOPPED","stopCode":"EssentialContainerExited",
                         "stoppedAt":)" +
                     std::to_string(exited) + "}]}")
                  .ok());
  v1::Task t = Describe(arn);
  EXPECT_EQ(t.last_status(), "STOPPED");
  EXPECT_LE(t.stopping_at(), t.stopped_at());
  EXPECT_NEAR(t.stopped_at(), exited, 1e-3);
}

TEST_F(AgentApiTest, ParkedPollWakesWhenATaskIsPlacedAndExpiresOtherwise) {
  uint64_t v = SettledVersion(instance_);
  v1::PollRequest req;
  req.set_container_instance(instance_);
  req.set_known_version(v);
  req.set_wait_millis(60'000);  // capped at 20 s by the server
  v1::PollResponse resp;
  std::promise<absl::Status> done;
  uint64_t waiter = api_->agent().Poll(req, &resp, [&](absl::Status s) { done.set_value(std::move(s)); });
  EXPECT_NE(waiter, 0u);
  EXPECT_EQ(api_->agent().agent_sessions().waiting(), 1u);
  std::string arn = RunTask();
  ASSERT_TRUE(done.get_future().get().ok());
  EXPECT_FALSE(resp.unchanged());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).task_arn(), arn);

  // Nothing changes: the poll ends at the (capped) deadline, as unchanged.
  v1::PollResponse idle;
  std::promise<absl::Status> idle_done;
  req.set_known_version(resp.version());
  api_->agent().Poll(req, &idle, [&](absl::Status s) { idle_done.set_value(std::move(s)); });
  auto f = idle_done.get_future();
  clock_.Advance(19 * kSecond);
  api_->agent().AgentTick();
  EXPECT_EQ(f.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  clock_.Advance(kSecond);
  api_->agent().AgentTick();
  ASSERT_TRUE(f.get().ok());
  EXPECT_TRUE(idle.unchanged());
  EXPECT_EQ(idle.version(), resp.version());
}

TEST_F(AgentApiTest, ParkedPollsOfEveryInstanceOneBatchTouchedAreAnswered) {
  // The poll waker renders the polls a batch woke under one hold of the state lock: each still
  // gets its own instance's desired state.
  std::vector<std::string> instances = {instance_};
  for (int i = 0; i < 3; ++i) instances.push_back(AddInstance("default", 2048, 4096));
  struct Parked {
    v1::PollResponse resp;
    std::promise<absl::Status> done;
  };
  std::vector<Parked> parked(instances.size());
  const std::vector<uint64_t> versions = SettledVersions(instances);
  for (size_t i = 0; i < instances.size(); ++i) {
    v1::PollRequest req;
    req.set_container_instance(instances[i]);
    req.set_known_version(versions[i]);
    req.set_wait_millis(10'000);
    EXPECT_NE(
        api_->agent().Poll(req, &parked[i].resp, [&p = parked[i]](absl::Status s) { p.done.set_value(std::move(s)); }),
        0u);
  }
  EXPECT_EQ(api_->agent().agent_sessions().waiting(), instances.size());
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web","count":4,
                   "placementStrategy":[{"type":"spread","field":"instanceId"}]})"),
                 &run)
                  .ok());
  ASSERT_EQ(run.tasks_size(), 4);
  std::set<std::string> arns;
  for (size_t i = 0; i < instances.size(); ++i) {
    ASSERT_TRUE(parked[i].done.get_future().get().ok()) << instances[i];
    EXPECT_FALSE(parked[i].resp.unchanged());
    ASSERT_EQ(parked[i].resp.tasks_size(), 1) << instances[i];
    arns.insert(parked[i].resp.tasks(0).task_arn());
  }
  std::set<std::string> placed;
  for (const auto& t : run.tasks()) placed.insert(t.task_arn());
  EXPECT_EQ(arns, placed);
  EXPECT_EQ(api_->agent().agent_sessions().waiting(), 0u);
}

class JitteredPollTest : public AgentApiTest {
 protected:
  ApiOptions Options() const override {
    ApiOptions o = AgentApiTest::Options();
    o.agent.poll_wait_jitter = 0.5;
    o.agent.poll_jitter_seed = 42;
    return o;
  }
};

TEST_F(JitteredPollTest, IdlePollsThatBeganTogetherExpireSpreadOverTheJitterWindow) {
  std::vector<std::string> instances = {instance_};
  for (int i = 0; i < 23; ++i) instances.push_back(AddInstance("default", 2048, 4096));
  struct Parked {
    v1::PollResponse resp;
    std::promise<absl::Status> done;
    std::future<absl::Status> result = done.get_future();
  };
  std::vector<Parked> parked(instances.size());
  const std::vector<uint64_t> versions = SettledVersions(instances);
  for (size_t i = 0; i < instances.size(); ++i) {
    v1::PollRequest req;
    req.set_container_instance(instances[i]);
    req.set_known_version(versions[i]);
    req.set_wait_millis(20'000);
    ASSERT_NE(
        api_->agent().Poll(req, &parked[i].resp, [&p = parked[i]](absl::Status s) { p.done.set_value(std::move(s)); }),
        0u);
  }
  auto answered = [&] {
    size_t n = 0;
    for (auto& p : parked) n += p.result.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
    return n;
  };
  // Jitter 0.5 of a 20 s wait: each expires somewhere in [10 s, 20 s].
  clock_.Advance(9'900'000);
  api_->agent().AgentTick();
  EXPECT_EQ(answered(), 0u);
  clock_.Advance(5 * kSecond);  // 14.9 s
  api_->agent().AgentTick();
  const size_t by_mid = answered();
  EXPECT_GT(by_mid, 0u);
  EXPECT_LT(by_mid, instances.size());
  clock_.Advance(5'100'000);  // 20 s
  api_->agent().AgentTick();
  ASSERT_EQ(answered(), instances.size());
  for (auto& p : parked) {
    ASSERT_TRUE(p.result.get().ok());
    EXPECT_TRUE(p.resp.unchanged());
  }
}

TEST_F(AgentApiTest, CancelledAndSupersededPollsAreAnswered) {
  uint64_t v = SettledVersion(instance_);
  v1::PollRequest req;
  req.set_container_instance(instance_);
  req.set_known_version(v);
  req.set_wait_millis(10'000);
  v1::PollResponse a, b;
  std::promise<absl::Status> a_done, b_done;
  uint64_t wa = api_->agent().Poll(req, &a, [&](absl::Status s) { a_done.set_value(std::move(s)); });
  api_->agent().Poll(req, &b, [&](absl::Status s) { b_done.set_value(std::move(s)); });
  // A second poll of the same instance answers the first as unchanged.
  ASSERT_TRUE(a_done.get_future().get().ok());
  EXPECT_TRUE(a.unchanged());
  api_->agent().CancelPoll(wa);  // already answered: no effect
  EXPECT_EQ(api_->agent().agent_sessions().waiting(), 1u);
  api_->agent().ShutdownPolls();
  EXPECT_EQ(b_done.get_future().get().code(), absl::StatusCode::kUnavailable);
}

TEST_F(AgentApiTest, SilenceCountsFromTheEndOfAParkedPoll) {
  uint64_t v = SettledVersion(instance_);
  v1::PollRequest req;
  req.set_container_instance(instance_);
  req.set_known_version(v);
  req.set_wait_millis(20'000);
  v1::PollResponse resp;
  std::promise<absl::Status> done;
  uint64_t waiter = api_->agent().Poll(req, &resp, [&](absl::Status s) { done.set_value(std::move(s)); });
  ASSERT_NE(waiter, 0u);
  clock_.Advance(15 * kSecond);
  api_->agent().CancelPoll(waiter);  // the agent goes away 15 s into its poll
  EXPECT_EQ(done.get_future().get().code(), absl::StatusCode::kCancelled);
  clock_.Advance(20 * kSecond);  // 35 s after the poll began, 20 s after the agent was last there
  api_->agent().AgentTick();
  Flush();
  EXPECT_TRUE(DescribeInstance().agent_connected()) << "silent for 20 s, less than the 30 s timeout";
  clock_.Advance(11 * kSecond);
  api_->agent().AgentTick();
  Flush();
  EXPECT_FALSE(DescribeInstance().agent_connected());
}

TEST_F(AgentApiTest, ReportsDriveTheLifecycleAndAreIdempotent) {
  std::string arn = RunTask();
  const int free_cpu = RemainingCpu(DescribeInstance());
  EXPECT_EQ(free_cpu, 2048 - 256);
  ASSERT_TRUE(
      Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"PENDING","pullStartedAt":100,"pullStoppedAt":101,
      "containers":[{"name":"app","status":"PENDING"}]}]})")
          .ok());
  EXPECT_EQ(Describe(arn).pull_started_at(), 100);

  const std::string running = R"({"tasks":[{"taskArn":")" + arn + R"(","status":"RUNNING","startedAt":102,
      "containers":[{"name":"app","status":"RUNNING","runtimeId":"c1","healthStatus":"HEALTHY",
                     "networkBindings":[{"bindIP":"0.0.0.0","containerPort":80,"hostPort":49153,"protocol":"tcp"}]},
                    {"name":"sidecar","status":"RUNNING","runtimeId":"c2"}]}]})";
  ASSERT_TRUE(Report(running).ok());
  v1::Task t = Describe(arn);
  EXPECT_EQ(t.last_status(), "RUNNING");
  EXPECT_EQ(t.desired_status(), "RUNNING");
  EXPECT_EQ(t.started_at(), 102);
  EXPECT_EQ(t.connectivity(), "CONNECTED");
  EXPECT_EQ(t.health_status(), "HEALTHY");  // the only essential container with a check is healthy
  ASSERT_EQ(t.containers_size(), 2);
  EXPECT_EQ(t.containers(0).last_status(), "RUNNING");
  EXPECT_EQ(t.containers(0).runtime_id(), "c1");
  ASSERT_EQ(t.containers(0).network_bindings_size(), 1);
  EXPECT_EQ(t.containers(0).network_bindings(0).host_port(), 49153);
  EXPECT_EQ(DescribeInstance().running_tasks_count(), 1);
  EXPECT_EQ(DescribeInstance().pending_tasks_count(), 0);
  EXPECT_EQ(RemainingCpu(DescribeInstance()), 2048 - 256);  // still held while RUNNING

  // A duplicate changes nothing (same version); an older report does not move the task back.
  const int64_t version = t.version();
  ASSERT_TRUE(Report(running).ok());
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn +
                     R"(","status":"PENDING","containers":[{"name":"app","status":"PENDING"}]}]})")
                  .ok());
  t = Describe(arn);
  EXPECT_EQ(t.version(), version);
  EXPECT_EQ(t.last_status(), "RUNNING");
  EXPECT_EQ(t.containers(0).last_status(), "RUNNING");

  // Health goes down and up while RUNNING.
  ASSERT_TRUE(
      Report(R"({"tasks":[{"taskArn":")" + arn +
             R"(","status":"RUNNING","containers":[{"name":"app","status":"RUNNING","healthStatus":"UNHEALTHY"}]}]})")
          .ok());
  EXPECT_EQ(Describe(arn).health_status(), "UNHEALTHY");

  // The essential container exits with 3: the agent stops the task.
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"STOPPED","stopCode":"EssentialContainerExited",
      "stoppedReason":"Essential container in task exited",
      "containers":[{"name":"app","status":"STOPPED","exitCode":3},{"name":"sidecar","status":"STOPPED","exitCode":137}]}]})")
                  .ok());
  t = Describe(arn);
  EXPECT_EQ(t.last_status(), "STOPPED");
  EXPECT_EQ(t.desired_status(), "STOPPED");
  EXPECT_EQ(t.stop_code(), "EssentialContainerExited");
  EXPECT_EQ(t.stopped_reason(), "Essential container in task exited");
  EXPECT_EQ(t.containers(0).exit_code(), 3);
  EXPECT_GT(t.stopped_at(), 0);
  EXPECT_EQ(RemainingCpu(DescribeInstance()), 2048);  // released at STOPPED
  EXPECT_EQ(DescribeInstance().running_tasks_count(), 0);
  // STOPPED is final.
  ASSERT_TRUE(Report(running).ok());
  EXPECT_EQ(Describe(arn).last_status(), "STOPPED");
  // The task is no longer part of the desired state.
  EXPECT_EQ(PollNow(0).tasks_size(), 0);
}

std::vector<std::string> Arns(const v1::PollResponse& p) {
  std::vector<std::string> out;
  for (const auto& t : p.tasks()) out.push_back(t.task_arn());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(AgentApiTest, AnAgentThatAcceptsDeltasIsSentOnlyWhatChanged) {
  AddTaskDefinition("lite", 16, 16);
  const std::string a = RunTask("lite");
  const std::string b = RunTask("lite");
  // The first poll (version 0) is the whole desired state, with the definition.
  v1::PollResponse full = PollNow(0, true);
  EXPECT_FALSE(full.delta());
  EXPECT_EQ(full.tasks_size(), 2);
  EXPECT_EQ(full.task_definitions_size(), 1);

  // A new task: the delta lists it alone, with its definition.
  const std::string c = RunTask("lite");
  v1::PollResponse d1 = PollNow(full.version(), true);
  EXPECT_TRUE(d1.delta());
  EXPECT_GT(d1.version(), full.version());
  EXPECT_THAT(Arns(d1), ElementsAre(c));
  EXPECT_EQ(d1.task_definitions_size(), 1);
  EXPECT_EQ(d1.removed_task_arns_size(), 0);
  // Without deltas the same version is answered with everything.
  v1::PollResponse whole = PollNow(full.version(), false);
  EXPECT_FALSE(whole.delta());
  EXPECT_EQ(whole.tasks_size(), 3);

  // StopTask of `a`: listed desired STOPPED. Then `a` reaches STOPPED (its agent says so), and
  // StopTask of `b` wakes the agent: `a` is removed, `b` listed.
  v1::StopTaskResponse stop;
  ASSERT_TRUE(Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(R"({"task":")" + a + R"("})"), &stop).ok());
  v1::PollResponse d2 = PollNow(d1.version(), true);
  ASSERT_TRUE(d2.delta());
  ASSERT_EQ(d2.tasks_size(), 1);
  EXPECT_EQ(d2.tasks(0).task_arn(), a);
  EXPECT_EQ(d2.tasks(0).desired_status(), "STOPPED");
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + a + R"(","status":"STOPPED"}]})").ok());
  ASSERT_TRUE(Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(R"({"task":")" + b + R"("})"), &stop).ok());
  v1::PollResponse d3 = PollNow(d2.version(), true);
  ASSERT_TRUE(d3.delta());
  EXPECT_THAT(Arns(d3), ElementsAre(b));
  EXPECT_THAT(d3.removed_task_arns(), ElementsAre(a));
  EXPECT_TRUE(PollNow(d3.version(), true).unchanged());

  // A version from before what the log still knows (here: one it never served) gets everything.
  v1::PollResponse old = PollNow(1, true);
  EXPECT_FALSE(old.delta());
  EXPECT_THAT(Arns(old), UnorderedElementsAre(b, c));
}

TEST_F(AgentApiTest, AfterARestartAnAgentIsSentItsWholeDesiredStateOnce) {
  AddTaskDefinition("lite", 16, 16);
  const std::string a = RunTask("lite");
  v1::PollResponse full = PollNow(0, true);
  const std::string b = RunTask("lite");
  Restart();
  v1::PollResponse p = PollNow(full.version(), true);
  EXPECT_FALSE(p.delta());
  EXPECT_THAT(Arns(p), UnorderedElementsAre(a, b));
  // From then on deltas again.
  const std::string c = RunTask("lite");
  v1::PollResponse d = PollNow(p.version(), true);
  EXPECT_TRUE(d.delta());
  EXPECT_THAT(Arns(d), ElementsAre(c));
}

TEST_F(AgentApiTest, StopTaskIsDeliveredAndTheReasonKept) {
  std::string arn = RunTask();
  uint64_t v = SettledVersion(instance_);
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"RUNNING"}]})").ok());
  v1::StopTaskResponse stop;
  ASSERT_TRUE(
      Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(R"({"task":")" + arn + R"(","reason":"done"})"), &stop)
          .ok());
  v1::PollResponse p = PollNow(v);
  ASSERT_EQ(p.tasks_size(), 1);
  EXPECT_EQ(p.tasks(0).desired_status(), "STOPPED");
  EXPECT_EQ(p.tasks(0).stop_code(), "UserInitiated");
  EXPECT_EQ(p.tasks(0).stopped_reason(), "done");
  EXPECT_EQ(Describe(arn).last_status(), "RUNNING");  // until the agent says otherwise
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"STOPPING"}]})").ok());
  EXPECT_EQ(Describe(arn).last_status(), "STOPPING");
  ASSERT_TRUE(
      Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"STOPPED","stopCode":"EssentialContainerExited"}]})")
          .ok());
  v1::Task t = Describe(arn);
  EXPECT_EQ(t.last_status(), "STOPPED");
  EXPECT_EQ(t.stop_code(), "UserInitiated");  // the user's stop came first
  EXPECT_EQ(t.stopped_reason(), "done");
}

TEST_F(AgentApiTest, ReportsAboutOtherInstancesTasksOrBadFieldsAreRefused) {
  std::string arn = RunTask();
  v1::ReportStateChangesResponse resp;
  std::string other = arn.substr(0, arn.rfind('/') + 1) + "0123456789abcdef0123456789abcdef";
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + other + R"(","status":"RUNNING"}]})", &resp).ok());
  ASSERT_EQ(resp.unknown_task_arns_size(), 1);
  EXPECT_EQ(resp.unknown_task_arns(0), other);

  absl::Status s = Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"GONE"}]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tasks[0].status"), std::string::npos) << s;
  s = Report(R"({"tasks":[{"taskArn":")" + arn +
             R"(","status":"RUNNING","containers":[{"name":"app","status":"UP"}]}]})");
  EXPECT_NE(s.message().find("tasks[0].containers[0].status"), std::string::npos) << s;
  s = Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"STOPPED","stopCode":"Oops"}]})");
  EXPECT_NE(s.message().find("tasks[0].stopCode"), std::string::npos) << s;
  EXPECT_EQ(Describe(arn).last_status(), "PENDING");  // nothing changed
}

TEST_F(AgentApiTest, SilentAgentsAreMarkedDisconnectedAndReconnectOnPoll) {
  EXPECT_TRUE(DescribeInstance().agent_connected());
  clock_.Advance(29 * kSecond);
  api_->agent().AgentTick();
  Flush();
  EXPECT_TRUE(DescribeInstance().agent_connected());
  clock_.Advance(2 * kSecond);
  api_->agent().AgentTick();
  Flush();
  EXPECT_FALSE(DescribeInstance().agent_connected());
  // Nothing is placed on it meanwhile.
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web"})"), &run).ok());
  ASSERT_EQ(run.failures_size(), 1);
  EXPECT_EQ(run.failures(0).reason(), "AGENT");
  PollNow(0);
  Flush();
  EXPECT_TRUE(DescribeInstance().agent_connected());
}

TEST_F(AgentApiTest, AnAgentThatGoesSilentAgainIsFoundAgain) {
  Check(31);
  ASSERT_FALSE(DescribeInstance().agent_connected());
  PollNow(0);
  Flush();
  ASSERT_TRUE(DescribeInstance().agent_connected());
  Check(31);
  EXPECT_FALSE(DescribeInstance().agent_connected());
}

TEST_F(AgentApiTest, AfterARestartAnInstanceWhoseAgentNeverReturnsIsMarkedDisconnected) {
  Restart();
  Check(29);  // the first check after the start gives the instance its timeout from now
  EXPECT_TRUE(DescribeInstance().agent_connected());
  Check(29);
  EXPECT_TRUE(DescribeInstance().agent_connected());
  Check(2);
  EXPECT_FALSE(DescribeInstance().agent_connected());
}

TEST_F(AgentApiTest, AParkedPollCountsAsPresence) {
  uint64_t v = SettledVersion(instance_);
  v1::PollRequest req;
  req.set_container_instance(instance_);
  req.set_known_version(v);
  req.set_wait_millis(20'000);
  v1::PollResponse resp;
  std::promise<absl::Status> done;
  api_->agent().Poll(req, &resp, [&](absl::Status s) { done.set_value(std::move(s)); });
  clock_.Advance(15 * kSecond);
  api_->agent().AgentTick();  // parked: seen now
  clock_.Advance(16 * kSecond);
  api_->agent().AgentTick();  // the poll expires; last seen 16 s ago, under the 30 s timeout
  Flush();
  ASSERT_TRUE(done.get_future().get().ok());
  EXPECT_TRUE(DescribeInstance().agent_connected());
}

TEST_F(AgentApiTest, ForcedDeregistrationStopsTheTasksAndTellsTheAgent) {
  std::string arn = RunTask();
  uint64_t v = SettledVersion(instance_);
  v1::DeregisterContainerInstanceResponse resp;
  absl::Status s =
      Do(&InstanceActions::DeregisterContainerInstance,
         Json<v1::DeregisterContainerInstanceRequest>(R"({"containerInstance":")" + instance_ + R"("})"), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  ASSERT_TRUE(
      Do(&InstanceActions::DeregisterContainerInstance,
         Json<v1::DeregisterContainerInstanceRequest>(R"({"containerInstance":")" + instance_ + R"(","force":true})"),
         &resp)
          .ok());
  v1::Task t = Describe(arn);
  EXPECT_EQ(t.last_status(), "STOPPED");
  EXPECT_EQ(t.desired_status(), "STOPPED");
  EXPECT_NE(t.stopped_reason().find("deregistered"), std::string::npos);
  v1::PollResponse p = PollNow(v);
  EXPECT_EQ(p.instance_status(), "INACTIVE");
  EXPECT_EQ(p.tasks_size(), 0);
}

TEST_F(AgentApiTest, RetentionCountsFromTheStoppedAtTheAgentReports) {
  std::string arn = RunTask();
  // Stopped long ago (the agent reports late, e.g. after a partition): past retention at once.
  const double long_ago = clock_.NowSeconds() - 3600;
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"STOPPED","stoppedAt":)" +
                     std::to_string(long_ago) + "}]}")
                  .ok());
  ASSERT_EQ(Describe(arn).last_status(), "STOPPED");
  api_->agent().AgentTick();
  Flush();
  v1::DescribeTasksRequest req;
  req.add_tasks(arn);
  v1::DescribeTasksResponse resp;
  ASSERT_TRUE(Do(&TaskActions::DescribeTasks, req, &resp).ok());
  ASSERT_EQ(resp.failures_size(), 1);
  EXPECT_EQ(resp.failures(0).reason(), "MISSING");
  EXPECT_EQ(state().task_count(), 0);
}

TEST_F(AgentApiTest, StoppedTasksStayWithinRetention) {
  std::string arn = RunTask();
  ASSERT_TRUE(Report(R"({"tasks":[{"taskArn":")" + arn + R"(","status":"STOPPED"}]})").ok());
  clock_.Advance(599 * kSecond);
  PollNow(0);
  api_->agent().AgentTick();
  Flush();
  EXPECT_EQ(Describe(arn).last_status(), "STOPPED");
  clock_.Advance(2 * kSecond);
  PollNow(0);
  api_->agent().AgentTick();
  Flush();
  EXPECT_EQ(state().task_count(), 0);
}

}  // namespace
}  // namespace berth::controlplane
