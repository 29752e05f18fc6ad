// Services through the Api: request validation, the service record and its rendering, and the
// scheduler driven by agent reports, instance changes and timers (fake clock, memory store).
#include <algorithm>

#include "berth/common/strings.h"
#include "berth/scheduler/service_scheduler.h"
#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

constexpr int64_t kSecond = 1'000'000;

class ServicesApiTest : public ApiFixture {
 protected:
  ApiOptions Options() const override {
    ApiOptions o;
    o.agent.disconnect_after_us = 30 * kSecond;
    o.agent.check_interval_us = kSecond;
    o.services.resync_interval_us = 3600 * kSecond;  // tests drive reconciliation by events and timers
    return o;
  }

  void SetUp() override {
    ApiFixture::SetUp();
    AddTaskDefinition("web", 256, 256);
    AddTaskDefinition("web", 256, 256);  // web:2
  }

  // Registers an instance with an availability zone.
  std::string Instance(const std::string& az, int cpu = 1024, int memory = 2048) {
    v1::RegisterContainerInstanceResponse resp;
    EXPECT_TRUE(Do(&InstanceActions::RegisterContainerInstance,
                   Json<v1::RegisterContainerInstanceRequest>(
                       StrCat(R"({"totalResources":[{"name":"CPU","type":"INTEGER","integerValue":)", cpu,
                              R"(},{"name":"MEMORY","type":"INTEGER","integerValue":)", memory,
                              R"(}],"attributes":[{"name":"ecs.availability-zone","value":")", az, R"("}]})")),
                   &resp)
                    .ok());
    const std::string& arn = resp.container_instance().container_instance_arn();
    return arn.substr(arn.rfind('/') + 1);
  }

  absl::Status Create(const std::string& json, v1::Service* out = nullptr) {
    v1::CreateServiceResponse resp;
    absl::Status s = Do(&ServiceActions::CreateService, Json<v1::CreateServiceRequest>(json), &resp);
    if (out != nullptr) *out = resp.service();
    return s;
  }
  absl::Status Update(const std::string& json) {
    v1::UpdateServiceResponse resp;
    return Do(&ServiceActions::UpdateService, Json<v1::UpdateServiceRequest>(json), &resp);
  }

  v1::Service Describe(const std::string& name = "svc") {
    v1::DescribeServicesRequest req;
    req.add_services(name);
    v1::DescribeServicesResponse resp;
    EXPECT_TRUE(Do(&ServiceActions::DescribeServices, req, &resp).ok());
    return resp.services_size() == 1 ? resp.services(0) : v1::Service();
  }

  // The service's tasks by desired status, straight from state.
  std::vector<v1::TaskRecord> Tasks(const std::string& service = "svc", bool desired_running = true) {
    absl::ReaderMutexLock lock(&state_mu());
    std::vector<v1::TaskRecord> out;
    const TaskMap& tasks = state().FindCluster("default")->tasks;
    for (const TaskId& id : tasks.ordered_ids()) {
      v1::TaskRecord r = tasks.at(id).record();
      if (r.service() != service) continue;
      if ((r.task().desired_status() == "RUNNING") != desired_running) continue;
      if (r.task().last_status() == "STOPPED") continue;
      out.push_back(std::move(r));
    }
    return out;
  }

  // Reports a task's status as its agent would.
  void Report(const v1::TaskRecord& task, const std::string& status, const std::string& stop_code = "",
              const std::string& health = "") {
    v1::ReportStateChangesRequest req;
    req.set_container_instance(task.container_instance_id());
    auto* change = req.add_tasks();
    change->set_task_arn(api_->arns().Task("default", task.id()));
    change->set_status(status);
    if (!stop_code.empty()) change->set_stop_code(stop_code);
    auto* c = change->add_containers();
    c->set_name("app");
    c->set_status(status == "STOPPED" ? "STOPPED" : status == "RUNNING" ? "RUNNING" : "PENDING");
    if (!health.empty()) c->set_health_status(health);
    v1::ReportStateChangesResponse resp;
    ASSERT_TRUE(Do(&AgentProtocol::ReportStateChanges, req, &resp).ok());
  }

  // Agents: every pending task runs; every task told to stop stops.
  void Converge() {
    for (const auto& t : Tasks("svc", false)) Report(t, "STOPPED");
    for (const auto& t : Tasks()) {
      if (t.task().last_status() != "RUNNING") Report(t, "RUNNING");
    }
  }

  // Runs the scheduler until nothing is queued.
  void Tick() {
    for (int i = 0; i < 4; ++i) {
      Flush();
      api_->services().ServiceTick();
      Flush();
    }
  }

  int Running(const std::string& service = "svc") {
    int n = 0;
    for (const auto& t : Tasks(service)) n += t.task().last_status() == "RUNNING";
    return n;
  }

  bool HasEvent(const v1::Service& s, const std::string& needle) {
    for (const auto& e : s.events()) {
      if (e.message().find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

TEST_F(ServicesApiTest, CreateServiceRefusesBadRequestsNamingTheField) {
  struct Row {
    const char* json;
    const char* field;
  };
  const Row rows[] = {
      {R"({"taskDefinition":"web","desiredCount":1})", "serviceName"},
      {R"({"serviceName":"a b","taskDefinition":"web","desiredCount":1})", "serviceName"},
      {R"({"serviceName":"svc","desiredCount":1})", "taskDefinition"},
      {R"({"serviceName":"svc","taskDefinition":"web"})", "desiredCount"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":-1})", "desiredCount"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":5001})", "desiredCount"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,"schedulingStrategy":"ONCE"})",
       "schedulingStrategy"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":3,"schedulingStrategy":"DAEMON"})",
       "desiredCount"},
      {R"({"serviceName":"svc","taskDefinition":"web","schedulingStrategy":"DAEMON",
           "placementStrategy":[{"type":"spread","field":"instanceId"}]})",
       "placementStrategy"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,
           "deploymentConfiguration":{"minimumHealthyPercent":101}})",
       "deploymentConfiguration.minimumHealthyPercent"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,
           "deploymentConfiguration":{"maximumPercent":99}})",
       "deploymentConfiguration.maximumPercent"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,"launchType":"FARGATE"})", "launchType"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,"launchType":"EC3"})", "launchType"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,
           "loadBalancers":[{"targetGroupArn":"arn:aws:elasticloadbalancing:x","containerName":"app"}]})",
       "loadBalancers"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,"lostAfterSeconds":-1})", "lostAfterSeconds"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,"maxTasksPerInstance":-2})",
       "maxTasksPerInstance"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,
           "placementConstraints":[{"type":"memberOf","expression":"attribute:ecs.os-type =="}]})",
       "placementConstraints[0]"},
      {R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1,"propagateTags":"ALL"})", "propagateTags"},
      {R"({"serviceName":"svc","taskDefinition":"nosuch","desiredCount":1})", "taskDefinition"},
      {R"({"serviceName":"svc","taskDefinition":"web:9","desiredCount":1})", "taskDefinition"},
      {R"({"serviceName":"svc","taskDefinition":"constrained","desiredCount":1,"placementConstraints":[
           {"type":"distinctInstance"},{"type":"distinctInstance"},{"type":"distinctInstance"},
           {"type":"distinctInstance"},{"type":"distinctInstance"},{"type":"distinctInstance"},
           {"type":"distinctInstance"},{"type":"distinctInstance"},{"type":"distinctInstance"},
           {"type":"distinctInstance"}]})",
       "placementConstraints: at most 10 together with the task definition's"},
  };
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(Do(&TaskDefinitionActions::RegisterTaskDefinition,
                 Json<v1::RegisterTaskDefinitionRequest>(R"({"family":"constrained","containerDefinitions":[
                     {"name":"app","image":"busybox","memory":64}],
                     "placementConstraints":[{"type":"memberOf","expression":"attribute:ecs.os-type == linux"}]})"),
                 &td)
                  .ok());
  for (const auto& row : rows) {
    absl::Status s = Create(row.json);
    EXPECT_FALSE(s.ok()) << row.json;
    EXPECT_NE(std::string(s.message()).find(row.field), std::string::npos) << row.json << " -> " << s.message();
  }
  v1::ListServicesResponse list;
  ASSERT_TRUE(Do(&ServiceActions::ListServices, v1::ListServicesRequest(), &list).ok());
  EXPECT_EQ(list.service_arns_size(), 0);

  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":0})").ok());
  absl::Status dup = Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":0})");
  EXPECT_NE(std::string(dup.message()).find("not idempotent"), std::string::npos) << dup;
}

TEST_F(ServicesApiTest, CreatePlacesTasksAndDeploymentCompletesWhenRunning) {
  Instance("az-1");
  Instance("az-2");
  v1::Service created;
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":4,"tags":[{"key":"t","value":"1"}],
                         "propagateTags":"SERVICE"})",
                     &created)
                  .ok());
  EXPECT_EQ(created.status(), "ACTIVE");
  EXPECT_EQ(created.service_arn(), "arn:aws:ecs:local:000000000000:service/default/svc");
  EXPECT_EQ(created.task_definition(), "arn:aws:ecs:local:000000000000:task-definition/web:2");
  EXPECT_EQ(created.deployment_configuration().minimum_healthy_percent(), 100);
  EXPECT_EQ(created.deployment_configuration().maximum_percent(), 200);
  ASSERT_EQ(created.deployments_size(), 1);
  EXPECT_EQ(created.deployments(0).status(), "PRIMARY");
  EXPECT_EQ(created.deployments(0).rollout_state(), "IN_PROGRESS");
  EXPECT_EQ(created.deployments(0).id().rfind("ecs-svc/", 0), 0u);
  EXPECT_EQ(created.pending_count(), 4);

  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 4u);
  std::map<std::string, int> per_instance;
  for (const auto& t : tasks) {
    EXPECT_EQ(t.task().group(), "service:svc");
    EXPECT_EQ(t.task().started_by(), created.deployments(0).id());
    EXPECT_EQ(t.deployment_id(), created.deployments(0).id());
    ASSERT_EQ(t.task().tags_size(), 1);  // propagateTags SERVICE
    ++per_instance[t.container_instance_id()];
  }
  EXPECT_EQ(per_instance.size(), 2u);  // spread across the two zones
  for (const auto& [id, n] : per_instance) EXPECT_EQ(n, 2);

  Converge();
  Tick();
  v1::Service s = Describe();
  EXPECT_EQ(s.running_count(), 4);
  ASSERT_EQ(s.deployments_size(), 1);
  EXPECT_EQ(s.deployments(0).rollout_state(), "COMPLETED");
  EXPECT_EQ(s.deployments(0).running_count(), 4);
  EXPECT_TRUE(HasEvent(s, "has reached a steady state")) << s.DebugString();
  EXPECT_TRUE(HasEvent(s, "has started 4 tasks")) << s.DebugString();

  v1::ListTasksResponse list;
  ASSERT_TRUE(Do(&TaskActions::ListTasks, Json<v1::ListTasksRequest>(R"({"serviceName":"svc"})"), &list).ok());
  EXPECT_EQ(list.task_arns_size(), 4);
}

TEST_F(ServicesApiTest, ReplacesATaskThatExitsAndCountsTheFailure) {
  Instance("az-1");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":2})").ok());
  Converge();
  Tick();
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 2u);
  Report(tasks[0], "STOPPED", "EssentialContainerExited");
  Tick();
  auto now = Tasks();
  ASSERT_EQ(now.size(), 2u);
  EXPECT_TRUE(std::none_of(now.begin(), now.end(), [&](const auto& t) { return t.id() == tasks[0].id(); }));
  v1::Service s = Describe();
  EXPECT_EQ(s.deployments(0).failed_tasks(), 1);
  // A user's StopTask is no failure, but the task is replaced all the same.
  v1::StopTaskResponse stopped;
  ASSERT_TRUE(
      Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(StrCat(R"({"task":")", now[0].id(), R"("})")), &stopped)
          .ok());
  Converge();
  Tick();
  Converge();
  Tick();
  EXPECT_EQ(Running(), 2);
  EXPECT_EQ(Describe().deployments(0).failed_tasks(), 1);
}

TEST_F(ServicesApiTest, ScaleInStopsTasksWithSchedulerStopCodeAndSkipsProtectedOnes) {
  Instance("az-1");
  Instance("az-2");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":4})").ok());
  Converge();
  Tick();
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 4u);
  // Protect three; scaling to 0 may stop only the fourth.
  v1::UpdateTaskProtectionRequest protect;
  protect.set_protection_enabled(true);
  protect.set_expires_in_minutes(10);
  for (int i = 0; i < 3; ++i) protect.add_tasks(tasks[i].id());
  v1::UpdateTaskProtectionResponse protected_resp;
  ASSERT_TRUE(Do(&ServiceActions::UpdateTaskProtection, protect, &protected_resp).ok());
  EXPECT_EQ(protected_resp.protected_tasks_size(), 3);

  ASSERT_TRUE(Update(R"({"service":"svc","desiredCount":0})").ok());
  Tick();
  auto stopping = Tasks("svc", false);
  ASSERT_EQ(stopping.size(), 1u);
  EXPECT_EQ(stopping[0].id(), tasks[3].id());
  EXPECT_EQ(stopping[0].task().stop_code(), "ServiceSchedulerInitiated");
  // Protection expires: the rest go.
  clock_.Advance(11 * 60 * kSecond);
  Tick();
  EXPECT_EQ(Tasks("svc", false).size(), 4u);

  v1::GetTaskProtectionRequest get;
  get.add_tasks(tasks[0].id());
  v1::GetTaskProtectionResponse got;
  ASSERT_TRUE(Do(&ServiceActions::GetTaskProtection, get, &got).ok());
  ASSERT_EQ(got.protected_tasks_size(), 1);
  EXPECT_FALSE(got.protected_tasks(0).protection_enabled());
}

TEST_F(ServicesApiTest, TaskProtectionRules) {
  Instance("az-1");
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web"})"), &run).ok());
  v1::UpdateTaskProtectionResponse resp;
  ASSERT_TRUE(Do(&ServiceActions::UpdateTaskProtection,
                 Json<v1::UpdateTaskProtectionRequest>(StrCat(R"({"tasks":[")", run.tasks(0).task_arn(),
                                                              R"(","0123456789abcdef0123456789abcdef"],
                                                              "protectionEnabled":true})")),
                 &resp)
                  .ok());
  ASSERT_EQ(resp.failures_size(), 2);
  EXPECT_EQ(resp.failures(0).reason(), "TASK_NOT_VALID");
  EXPECT_EQ(resp.failures(1).reason(), "MISSING");
  absl::Status s = Do<v1::UpdateTaskProtectionResponse>(
      &ServiceActions::UpdateTaskProtection,
      StrCat(R"({"tasks":[")", run.tasks(0).task_arn(), R"("],"protectionEnabled":true,"expiresInMinutes":2881})"));
  EXPECT_NE(std::string(s.message()).find("expiresInMinutes"), std::string::npos) << s;
  s = Do<v1::UpdateTaskProtectionResponse>(&ServiceActions::UpdateTaskProtection,
                                           StrCat(R"({"tasks":[")", run.tasks(0).task_arn(), R"("]})"));
  EXPECT_NE(std::string(s.message()).find("protectionEnabled"), std::string::npos) << s;
}

TEST_F(ServicesApiTest, RollingUpdateStartsANewDeploymentAndRetiresTheOld) {
  Instance("az-1");
  Instance("az-2");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web:1","desiredCount":3,
                         "deploymentConfiguration":{"minimumHealthyPercent":100,"maximumPercent":200}})")
                  .ok());
  Converge();
  Tick();
  ASSERT_TRUE(Update(R"({"service":"svc","taskDefinition":"web:2"})").ok());
  v1::Service s = Describe();
  ASSERT_EQ(s.deployments_size(), 2);
  EXPECT_EQ(s.deployments(0).status(), "PRIMARY");
  EXPECT_EQ(s.deployments(0).task_definition(), "arn:aws:ecs:local:000000000000:task-definition/web:2");
  EXPECT_EQ(s.deployments(1).status(), "ACTIVE");
  EXPECT_EQ(s.deployments(1).running_count(), 3);
  // 200%: three new tasks at once; no old one stops before the new ones run (100% healthy).
  EXPECT_EQ(s.deployments(0).pending_count(), 3);
  EXPECT_EQ(Tasks("svc", false).size(), 0u);
  for (int round = 0; round < 5; ++round) {
    Converge();
    Tick();
  }
  s = Describe();
  ASSERT_EQ(s.deployments_size(), 1) << s.DebugString();
  EXPECT_EQ(s.deployments(0).rollout_state(), "COMPLETED");
  EXPECT_EQ(s.running_count(), 3);
  for (const auto& t : Tasks()) EXPECT_EQ(t.task_definition_revision(), 2u);
}

TEST_F(ServicesApiTest, DeleteNeedsScaleToZeroOrForceAndEndsInactive) {
  Instance("az-1");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":2})").ok());
  Converge();
  Tick();
  v1::DeleteServiceResponse del;
  absl::Status s = Do(&ServiceActions::DeleteService, Json<v1::DeleteServiceRequest>(R"({"service":"svc"})"), &del);
  EXPECT_NE(std::string(s.message()).find("scaled above 0"), std::string::npos) << s;
  ASSERT_TRUE(
      Do(&ServiceActions::DeleteService, Json<v1::DeleteServiceRequest>(R"({"service":"svc","force":true})"), &del)
          .ok());
  EXPECT_EQ(del.service().status(), "DRAINING");
  EXPECT_EQ(Tasks("svc", false).size(), 2u);
  // Changes are refused while it drains.
  s = Update(R"({"service":"svc","desiredCount":1})");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  Converge();
  Tick();
  EXPECT_EQ(Describe().status(), "INACTIVE");
  {
    absl::ReaderMutexLock lock(&state_mu());
    EXPECT_EQ(state().FindCluster("default")->active_services, 0);
  }
  v1::ListServicesResponse list;
  ASSERT_TRUE(Do(&ServiceActions::ListServices, v1::ListServicesRequest(), &list).ok());
  EXPECT_EQ(list.service_arns_size(), 0);
  // The name can be used again.
  EXPECT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1})").ok());
}

TEST_F(ServicesApiTest, DrainingMovesServiceTasksButLeavesStandaloneTasks) {
  const std::string a = Instance("az-1");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":2})").ok());
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web"})"), &run).ok());
  Converge();
  Tick();
  const std::string b = Instance("az-2");
  v1::UpdateContainerInstancesStateResponse drained;
  ASSERT_TRUE(Do(&InstanceActions::UpdateContainerInstancesState,
                 Json<v1::UpdateContainerInstancesStateRequest>(
                     StrCat(R"({"containerInstances":[")", a, R"("],"status":"DRAINING"})")),
                 &drained)
                  .ok());
  for (int round = 0; round < 5; ++round) {
    Tick();
    Converge();
  }
  Tick();
  auto tasks = Tasks();
  ASSERT_EQ(tasks.size(), 2u);
  for (const auto& t : tasks) EXPECT_EQ(t.container_instance_id(), b);
  v1::DescribeTasksResponse standalone;
  v1::DescribeTasksRequest dreq;
  dreq.add_tasks(run.tasks(0).task_arn());
  ASSERT_TRUE(Do(&TaskActions::DescribeTasks, dreq, &standalone).ok());
  EXPECT_EQ(standalone.tasks(0).desired_status(), "RUNNING");
}

TEST_F(ServicesApiTest, LostAfterReplacesTasksOfADisconnectedAgent) {
  const std::string a = Instance("az-1");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":2,"lostAfterSeconds":60})").ok());
  Converge();
  Tick();
  const std::string b = Instance("az-2");
  // a falls silent (b keeps polling).
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(10 * kSecond);
    v1::PollRequest poll;
    poll.set_container_instance(b);
    v1::PollResponse pr;
    std::promise<absl::Status> done;
    api_->agent().Poll(poll, &pr, [&](absl::Status st) { done.set_value(st); });
    ASSERT_TRUE(done.get_future().get().ok());
    api_->agent().AgentTick();
    Flush();
  }
  Tick();
  EXPECT_EQ(Tasks().size(), 2u) << "not lost yet: disconnected for less than lostAfterSeconds";
  clock_.Advance(61 * kSecond);
  v1::PollRequest poll;
  poll.set_container_instance(b);
  v1::PollResponse pr;
  std::promise<absl::Status> done;
  api_->agent().Poll(poll, &pr, [&](absl::Status st) { done.set_value(st); });
  ASSERT_TRUE(done.get_future().get().ok());
  Tick();
  auto tasks = Tasks();
  int on_b = 0;
  for (const auto& t : tasks) on_b += t.container_instance_id() == b;
  EXPECT_EQ(on_b, 2);
  EXPECT_TRUE(HasEvent(Describe(), "lost")) << Describe().DebugString();
}

TEST_F(ServicesApiTest, PlacementFailureIsAnEventNamingTheReason) {
  Instance("az-1", 512, 2048);  // room for two tasks of 256 CPU units
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":5})").ok());
  v1::Service s = Describe();
  EXPECT_EQ(s.pending_count(), 2);
  EXPECT_TRUE(HasEvent(s,
                       "was unable to place a task because no container instance met all of its requirements: "
                       "RESOURCE:CPU on 1 instance."))
      << s.DebugString();
}

TEST_F(ServicesApiTest, AnEmptyClusterIsAnEventInEcsWords) {
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":1})").ok());
  EXPECT_TRUE(HasEvent(Describe(),
                       "(service svc) was unable to place a task because no container instance met all of its "
                       "requirements. Reason: No Container Instances were found in your cluster."))
      << Describe().DebugString();
}

TEST_F(ServicesApiTest, MaxTasksPerInstanceCapsAService) {
  Instance("az-1");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":3,"maxTasksPerInstance":2})").ok());
  EXPECT_EQ(Tasks().size(), 2u);
  Instance("az-2");
  Tick();
  EXPECT_EQ(Tasks().size(), 3u);
}

TEST_F(ServicesApiTest, DaemonRunsOneTaskOnEveryEligibleInstance) {
  Instance("az-1");
  Instance("az-2");
  ASSERT_TRUE(Create(R"({"serviceName":"d","taskDefinition":"web","schedulingStrategy":"DAEMON"})").ok());
  EXPECT_EQ(Tasks("d").size(), 2u);
  EXPECT_EQ(Describe("d").desired_count(), 2);
  const std::string c = Instance("az-3");
  Tick();
  auto tasks = Tasks("d");
  ASSERT_EQ(tasks.size(), 3u);
  std::set<std::string> hosts;
  for (const auto& t : tasks) hosts.insert(t.container_instance_id());
  EXPECT_EQ(hosts.size(), 3u);
  v1::UpdateContainerInstancesStateResponse drained;
  ASSERT_TRUE(Do(&InstanceActions::UpdateContainerInstancesState,
                 Json<v1::UpdateContainerInstancesStateRequest>(
                     StrCat(R"({"containerInstances":[")", c, R"("],"status":"DRAINING"})")),
                 &drained)
                  .ok());
  Tick();
  EXPECT_EQ(Tasks("d").size(), 2u);
  EXPECT_EQ(Describe("d").desired_count(), 2);
}

TEST_F(ServicesApiTest, ServicesAreTaggable) {
  v1::Service created;
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":0,
                         "tags":[{"key":"team","value":"a"}]})",
                     &created)
                  .ok());
  v1::TagResourceResponse tagged;
  ASSERT_TRUE(Do(&TagActions::TagResource,
                 Json<v1::TagResourceRequest>(StrCat(R"({"resourceArn":")", created.service_arn(),
                                                     R"(","tags":[{"key":"env","value":"prod"}]})")),
                 &tagged)
                  .ok());
  v1::ListTagsForResourceResponse tags;
  ASSERT_TRUE(Do(&TagActions::ListTagsForResource,
                 Json<v1::ListTagsForResourceRequest>(StrCat(R"({"resourceArn":")", created.service_arn(), R"("})")),
                 &tags)
                  .ok());
  EXPECT_EQ(tags.tags_size(), 2);
  v1::DescribeServicesResponse described;
  ASSERT_TRUE(
      Do(&ServiceActions::DescribeServices, Json<v1::DescribeServicesRequest>(R"({"services":["svc"]})"), &described)
          .ok());
  EXPECT_EQ(described.services(0).tags_size(), 0) << "tags only with include TAGS";
  v1::DescribeServicesResponse with_tags;
  ASSERT_TRUE(Do(&ServiceActions::DescribeServices,
                 Json<v1::DescribeServicesRequest>(R"({"services":["svc","nosuch"],"include":["TAGS"]})"), &with_tags)
                  .ok());
  ASSERT_EQ(with_tags.services_size(), 1);
  EXPECT_EQ(with_tags.services(0).tags_size(), 2);
  ASSERT_EQ(with_tags.failures_size(), 1);
  EXPECT_EQ(with_tags.failures(0).reason(), "MISSING");
}

TEST_F(ServicesApiTest, ServicesSurviveARestart) {
  Instance("az-1");
  ASSERT_TRUE(Create(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":2,"lostAfterSeconds":30})").ok());
  Converge();
  Tick();
  v1::Service before = Describe();
  State reloaded;
  uint64_t rev = 0;
  ASSERT_TRUE(reloaded.Load(*store_, &rev).ok());
  const ClusterEntry* c = reloaded.FindCluster("default");
  ASSERT_NE(c, nullptr);
  auto it = c->services.find("svc");
  ASSERT_NE(it, c->services.end());
  EXPECT_EQ(it->second.task_ids.size(), 2u);
  EXPECT_EQ(it->second.record.service().lost_after_seconds(), 30);
  ASSERT_EQ(it->second.record.deployments_size(), 1);
  EXPECT_EQ(it->second.record.deployments(0).deployment().id(), before.deployments(0).id());
  EXPECT_EQ(it->second.record.deployments(0).deployment().rollout_state(), "COMPLETED");
  EXPECT_EQ(c->active_services, 1);
}

}  // namespace
}  // namespace berth::controlplane
