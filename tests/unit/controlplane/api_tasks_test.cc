// The task rules of ECS-SEMANTICS.md "Tasks", one row each: RunTask, StartTask, StopTask,
// DescribeTasks, ListTasks. Every refused request changes nothing (same revision, same tasks).
#include <string>

#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

std::string Repeat(char c, size_t n) { return std::string(n, c); }
std::string Repeat128(const std::string& s) {
  std::string out;
  for (int i = 0; i < 128; ++i) out += s;
  return out;
}
// `item` n times, comma-separated.
std::string Repeated(const std::string& item, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? "," : "") + item;
  return out;
}

std::string Tags(int n, size_t key_len = 3, size_t value_len = 1) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) {
    if (i) out += ",";
    std::string key = std::to_string(i);
    key += Repeat('k', key_len > key.size() ? key_len - key.size() : 0);
    out += R"({"key":")" + key + R"(","value":")" + Repeat('v', value_len) + R"("})";
  }
  return out + "]";
}

struct Row {
  std::string name;
  std::string json;  // RunTaskRequest
  absl::StatusCode code;
  std::string message_part;  // for errors
};

class RunTaskRulesTest : public ApiFixture, public ::testing::WithParamInterface<Row> {};

TEST_P(RunTaskRulesTest, Row) {
  AddInstance("default", 100000, 100000);
  AddTaskDefinition("web", 1, 6);
  const Row& row = GetParam();
  const uint64_t before = revision();
  v1::RunTaskResponse resp;
  absl::Status s = Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(row.json), &resp);
  EXPECT_EQ(s.code(), row.code) << s.ToString();
  if (row.code != absl::StatusCode::kOk) {
    EXPECT_NE(s.message().find(row.message_part), std::string::npos) << s.ToString();
    EXPECT_EQ(revision(), before) << "a refused request changed state";
    EXPECT_EQ(state().task_count(), 0);
  } else {
    EXPECT_GT(resp.tasks_size(), 0);
  }
}

const std::string kTd = R"("taskDefinition":"web")";

INSTANTIATE_TEST_SUITE_P(
    Tasks, RunTaskRulesTest,
    ::testing::Values(
        Row{"count_1_ok", "{" + kTd + R"(,"count":1})", absl::StatusCode::kOk, ""},
        Row{"count_10_ok", "{" + kTd + R"(,"count":10})", absl::StatusCode::kOk, ""},
        Row{"count_0_refused", "{" + kTd + R"(,"count":0})", absl::StatusCode::kInvalidArgument,
            "count: must be between 1 and 10"},
        Row{"count_11_refused", "{" + kTd + R"(,"count":11})", absl::StatusCode::kInvalidArgument,
            "count: must be between 1 and 10"},
        Row{"task_definition_required", R"({"count":1})", absl::StatusCode::kInvalidArgument,
            "taskDefinition: required"},
        Row{"task_definition_malformed", R"({"taskDefinition":"web:x"})", absl::StatusCode::kInvalidArgument,
            "taskDefinition"},
        Row{"task_definition_unknown", R"({"taskDefinition":"nope"})", absl::StatusCode::kNotFound, "nope"},
        Row{"task_definition_revision_unknown", R"({"taskDefinition":"web:7"})", absl::StatusCode::kNotFound, "web:7"},
        Row{"task_definition_arn_ok", R"({"taskDefinition":"arn:aws:ecs:local:000000000000:task-definition/web:1"})",
            absl::StatusCode::kOk, ""},
        Row{"task_definition_arn_other_account",
            R"({"taskDefinition":"arn:aws:ecs:local:111111111111:task-definition/web:1"})",
            absl::StatusCode::kInvalidArgument, "account"},
        Row{"cluster_unknown", "{" + kTd + R"(,"cluster":"nope"})", absl::StatusCode::kNotFound,
            "cluster 'nope' not found"},
        Row{"cluster_arn_ok", "{" + kTd + R"(,"cluster":"arn:aws:ecs:local:000000000000:cluster/default"})",
            absl::StatusCode::kOk, ""},
        Row{"cluster_invalid_name", "{" + kTd + R"(,"cluster":"a b"})", absl::StatusCode::kInvalidArgument, "cluster"},
        Row{"group_255_ok", "{" + kTd + R"(,"group":")" + Repeat('g', 255) + R"("})", absl::StatusCode::kOk, ""},
        Row{"group_256_refused", "{" + kTd + R"(,"group":")" + Repeat('g', 256) + R"("})",
            absl::StatusCode::kInvalidArgument, "group"},
        Row{"group_empty_refused", "{" + kTd + R"(,"group":""})", absl::StatusCode::kInvalidArgument, "group"},
        Row{"started_by_128_ok", "{" + kTd + R"(,"startedBy":")" + Repeat('s', 128) + R"("})", absl::StatusCode::kOk,
            ""},
        Row{"started_by_129_refused", "{" + kTd + R"(,"startedBy":")" + Repeat('s', 129) + R"("})",
            absl::StatusCode::kInvalidArgument, "startedBy: at most 128"},
        Row{"started_by_with_a_space_ok", "{" + kTd + R"(,"startedBy":"ECS Deploy"})", absl::StatusCode::kOk, ""},
        Row{"started_by_128_characters_of_two_bytes_ok", "{" + kTd + R"(,"startedBy":")" + Repeat128("é") + R"("})",
            absl::StatusCode::kOk, ""},
        Row{"tags_50_ok", "{" + kTd + R"(,"tags":)" + Tags(50) + "}", absl::StatusCode::kOk, ""},
        Row{"tags_51_refused", "{" + kTd + R"(,"tags":)" + Tags(51) + "}", absl::StatusCode::kInvalidArgument, "tags"},
        Row{"tag_key_128_ok", "{" + kTd + R"(,"tags":)" + Tags(1, 128) + "}", absl::StatusCode::kOk, ""},
        Row{"tag_key_129_refused", "{" + kTd + R"(,"tags":)" + Tags(1, 129) + "}", absl::StatusCode::kInvalidArgument,
            "tags[0].key"},
        Row{"tag_value_256_ok", "{" + kTd + R"(,"tags":)" + Tags(1, 3, 256) + "}", absl::StatusCode::kOk, ""},
        Row{"tag_value_257_refused", "{" + kTd + R"(,"tags":)" + Tags(1, 3, 257) + "}",
            absl::StatusCode::kInvalidArgument, "tags[0].value"},
        Row{"tag_aws_prefix_refused", "{" + kTd + R"(,"tags":[{"key":"aws:x","value":"v"}]})",
            absl::StatusCode::kInvalidArgument, "tags[0].key"},
        Row{"overrides_over_8KiB_refused",
            "{" + kTd + R"(,"overrides":{"containerOverrides":[{"name":"app","command":[")" + Repeat('x', 8200) +
                R"("]}]}})",
            absl::StatusCode::kInvalidArgument, "overrides: at most 8192 bytes"},
        Row{"override_unknown_container_refused",
            "{" + kTd + R"(,"overrides":{"containerOverrides":[{"name":"nope","cpu":1}]}})",
            absl::StatusCode::kInvalidArgument, "overrides.containerOverrides[0].name"},
        Row{"override_memory_below_6_refused",
            "{" + kTd + R"(,"overrides":{"containerOverrides":[{"name":"app","memory":5}]}})",
            absl::StatusCode::kInvalidArgument, "overrides.containerOverrides[0].memory"},
        Row{"launch_type_unknown_refused", "{" + kTd + R"(,"launchType":"MOON"})", absl::StatusCode::kInvalidArgument,
            "launchType"},
        Row{"launch_type_fargate_without_fargate_capacity", "{" + kTd + R"(,"launchType":"FARGATE"})",
            absl::StatusCode::kInvalidArgument, "launchType: FARGATE needs Fargate capacity"},
        Row{"placement_distinct_instance_ok", "{" + kTd + R"(,"placementConstraints":[{"type":"distinctInstance"}]})",
            absl::StatusCode::kOk, ""},
        Row{"placement_member_of_ok",
            "{" + kTd +
                R"j(,"placementConstraints":[{"type":"memberOf","expression":"attribute:x exists or not(attribute:x exists)"}]})j",
            absl::StatusCode::kOk, ""},
        Row{"placement_member_of_malformed",
            "{" + kTd + R"(,"placementConstraints":[{"type":"memberOf","expression":"attribute:x =="}]})",
            absl::StatusCode::kInvalidArgument, "placementConstraints[0].expression: column"},
        Row{"placement_member_of_without_expression", "{" + kTd + R"(,"placementConstraints":[{"type":"memberOf"}]})",
            absl::StatusCode::kInvalidArgument, "placementConstraints[0].expression: required"},
        Row{"placement_constraint_type_unknown", "{" + kTd + R"(,"placementConstraints":[{"type":"sameZone"}]})",
            absl::StatusCode::kInvalidArgument, "placementConstraints[0].type"},
        Row{"placement_constraints_11_refused",
            "{" + kTd + R"(,"placementConstraints":[)" + Repeated(R"({"type":"distinctInstance"})", 11) + "]}",
            absl::StatusCode::kInvalidArgument, "placementConstraints: at most 10"},
        Row{"placement_strategy_chain_ok",
            "{" + kTd +
                R"(,"placementStrategy":[{"type":"spread","field":"attribute:ecs.availability-zone"},{"type":"binpack","field":"memory"},{"type":"random"}]})",
            absl::StatusCode::kOk, ""},
        Row{"placement_strategy_host_ok", "{" + kTd + R"(,"placementStrategy":[{"type":"spread","field":"host"}]})",
            absl::StatusCode::kOk, ""},
        Row{"placement_strategy_binpack_field_refused",
            "{" + kTd + R"(,"placementStrategy":[{"type":"random"},{"type":"binpack","field":"disk"}]})",
            absl::StatusCode::kInvalidArgument, "placementStrategy[1].field: binpack takes cpu or memory"},
        Row{"placement_strategy_spread_field_refused",
            "{" + kTd + R"(,"placementStrategy":[{"type":"spread","field":"zone"}]})",
            absl::StatusCode::kInvalidArgument, "placementStrategy[0].field"},
        Row{"placement_strategy_type_refused", "{" + kTd + R"(,"placementStrategy":[{"type":"pack"}]})",
            absl::StatusCode::kInvalidArgument, "placementStrategy[0].type"},
        Row{"placement_strategy_6_refused",
            "{" + kTd + R"(,"placementStrategy":[)" + Repeated(R"({"type":"random"})", 6) + "]}",
            absl::StatusCode::kInvalidArgument, "placementStrategy: at most 5"},
        Row{"capacity_provider_unknown",
            "{" + kTd + R"(,"capacityProviderStrategy":[{"capacityProvider":"cp","weight":1}]})",
            absl::StatusCode::kInvalidArgument, "capacity provider 'cp' is not associated with cluster 'default'"},
        Row{"capacity_provider_and_launch_type",
            "{" + kTd + R"(,"launchType":"EC2","capacityProviderStrategy":[{"capacityProvider":"cp","weight":1}]})",
            absl::StatusCode::kInvalidArgument, "give either launchType or capacityProviderStrategy, not both"},
        Row{"capacity_provider_weightless",
            "{" + kTd + R"(,"capacityProviderStrategy":[{"capacityProvider":"cp","base":1}]})",
            absl::StatusCode::kInvalidArgument, "at least one capacity provider must have a weight greater than 0"}),
    [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

class TasksTest : public ApiFixture {};

TEST_F(TasksTest, RunTaskPlacesEachTaskSeeingEarlierReservations) {
  AddInstance("default", 1024, 100);
  AddInstance("default", 1024, 100);
  AddTaskDefinition("web", 1, 40);
  v1::RunTaskResponse resp;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web","count":6})"), &resp).ok());
  EXPECT_EQ(resp.tasks_size(), 4);  // two 40 MiB tasks fit in each 100 MiB instance
  ASSERT_EQ(resp.failures_size(), 2);
  EXPECT_EQ(resp.failures(0).reason(), "RESOURCE:MEMORY");
  EXPECT_EQ(resp.failures(0).detail(), "RESOURCE:MEMORY on 2 instances");
}

TEST_F(TasksTest, FailureNamesTheReasonThatEliminatedMostInstances) {
  std::string a = AddInstance("default", 1024, 100);
  AddInstance("default", 1024, 100);
  AddInstance("default", 1024, 100);
  AddInstance("default", 10, 1000);
  AddTaskDefinition("web", 100, 200);
  v1::UpdateContainerInstancesStateResponse drained;
  ASSERT_TRUE(Do(&InstanceActions::UpdateContainerInstancesState,
                 Json<v1::UpdateContainerInstancesStateRequest>(R"({"containerInstances":[")" + a +
                                                                R"("],"status":"DRAINING"})"),
                 &drained)
                  .ok());
  v1::RunTaskResponse resp;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web"})"), &resp).ok());
  ASSERT_EQ(resp.failures_size(), 1);
  EXPECT_EQ(resp.failures(0).reason(), "RESOURCE:MEMORY");
  EXPECT_EQ(resp.failures(0).detail(),
            "RESOURCE:MEMORY on 2 instances, INACTIVE on 1 instance, RESOURCE:CPU on 1 instance");
}

TEST_F(TasksTest, NoInstancesIsMissing) {
  AddTaskDefinition("web", 1, 6);
  v1::RunTaskResponse resp;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web","count":2})"), &resp).ok());
  EXPECT_EQ(resp.tasks_size(), 0);
  ASSERT_EQ(resp.failures_size(), 2);
  EXPECT_EQ(resp.failures(0).reason(), "MISSING");
}

TEST_F(TasksTest, InactiveRevisionCannotRun) {
  AddInstance("default", 1024, 1024);
  AddTaskDefinition("web", 1, 6);
  v1::DeregisterTaskDefinitionResponse dereg;
  ASSERT_TRUE(Do(&TaskDefinitionActions::DeregisterTaskDefinition,
                 Json<v1::DeregisterTaskDefinitionRequest>(R"({"taskDefinition":"web:1"})"), &dereg)
                  .ok());
  EXPECT_EQ(dereg.task_definition().status(), "INACTIVE");
  absl::Status s = Do<v1::RunTaskResponse, v1::RunTaskRequest>(&TaskActions::RunTask, R"({"taskDefinition":"web:1"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  s = Do<v1::RunTaskResponse, v1::RunTaskRequest>(&TaskActions::RunTask, R"({"taskDefinition":"web"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find("no ACTIVE revision"), std::string::npos);
}

TEST_F(TasksTest, StartTaskPlacesOnNamedInstancesAndReportsMissingOnes) {
  std::string a = AddInstance("default", 1024, 1024);
  AddTaskDefinition("web", 1, 6);
  std::string missing(32, 'a');
  v1::StartTaskResponse resp;
  ASSERT_TRUE(Do(&TaskActions::StartTask,
                 Json<v1::StartTaskRequest>(R"({"taskDefinition":"web","containerInstances":[")" + a + R"(",")" +
                                            missing + R"("]})"),
                 &resp)
                  .ok());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_NE(resp.tasks(0).container_instance_arn().find(a), std::string::npos);
  ASSERT_EQ(resp.failures_size(), 1);
  EXPECT_EQ(resp.failures(0).reason(), "MISSING");
  EXPECT_NE(resp.failures(0).arn().find(missing), std::string::npos);

  std::string eleven = "[";
  for (int i = 0; i < 11; ++i) eleven += std::string(i ? "," : "") + "\"" + a + "\"";
  absl::Status s = Do<v1::StartTaskResponse, v1::StartTaskRequest>(
      &TaskActions::StartTask, R"({"taskDefinition":"web","containerInstances":)" + eleven + "]}");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = Do<v1::StartTaskResponse, v1::StartTaskRequest>(&TaskActions::StartTask, R"({"taskDefinition":"web"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("containerInstances"), std::string::npos);
}

TEST_F(TasksTest, StopTaskSetsDesiredStatusAndIsIdempotent) {
  AddInstance("default", 1024, 1024);
  AddTaskDefinition("web", 1, 6);
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web"})"), &run).ok());
  const std::string arn = run.tasks(0).task_arn();
  v1::StopTaskResponse stop;
  ASSERT_TRUE(Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(R"({"task":")" + arn + R"("})"), &stop).ok());
  EXPECT_EQ(stop.task().desired_status(), "STOPPED");
  EXPECT_EQ(stop.task().stop_code(), "UserInitiated");
  EXPECT_EQ(stop.task().stopped_reason(), "Task stopped by user");
  EXPECT_EQ(stop.task().version(), 2);
  const uint64_t before = revision();
  ASSERT_TRUE(
      Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(R"({"task":")" + arn + R"(","reason":"again"})"), &stop)
          .ok());
  EXPECT_EQ(stop.task().stopped_reason(), "Task stopped by user") << "the first stop's reason stands";
  EXPECT_EQ(revision(), before);

  EXPECT_EQ((Do<v1::StopTaskResponse, v1::StopTaskRequest>(&TaskActions::StopTask, R"({})")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((Do<v1::StopTaskResponse, v1::StopTaskRequest>(&TaskActions::StopTask,
                                                           R"({"task":")" + std::string(32, 'b') + R"("})"))
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((Do<v1::StopTaskResponse, v1::StopTaskRequest>(
                 &TaskActions::StopTask, R"({"task":")" + arn + R"(","reason":")" + Repeat('r', 256) + R"("})"))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TasksTest, DescribeTasksLimitsAndMissing) {
  EXPECT_EQ(
      (Do<v1::DescribeTasksResponse, v1::DescribeTasksRequest>(&TaskActions::DescribeTasks, R"({"tasks":[]})")).code(),
      absl::StatusCode::kInvalidArgument);
  std::string many = "[";
  for (int i = 0; i < 101; ++i) many += std::string(i ? "," : "") + "\"" + std::string(32, 'c') + "\"";
  EXPECT_EQ((Do<v1::DescribeTasksResponse, v1::DescribeTasksRequest>(&TaskActions::DescribeTasks,
                                                                     R"({"tasks":)" + many + "]}"))
                .code(),
            absl::StatusCode::kInvalidArgument);
  v1::DescribeTasksResponse resp;
  ASSERT_TRUE(Do(&TaskActions::DescribeTasks,
                 Json<v1::DescribeTasksRequest>(R"({"tasks":[")" + std::string(32, 'c') + R"("]})"), &resp)
                  .ok());
  ASSERT_EQ(resp.failures_size(), 1);
  EXPECT_EQ(resp.failures(0).reason(), "MISSING");
}

TEST_F(TasksTest, ListTasksFiltersAndPaginates) {
  std::string a = AddInstance("default", 100000, 100000);
  std::string b = AddInstance("default", 100000, 100000);
  AddTaskDefinition("web", 1, 6);
  AddTaskDefinition("db", 1, 6);
  std::set<std::string> web_arns;
  for (int i = 0; i < 25; ++i) {
    v1::StartTaskResponse resp;
    ASSERT_TRUE(Do(&TaskActions::StartTask,
                   Json<v1::StartTaskRequest>(R"({"taskDefinition":"web","startedBy":"me","containerInstances":[")" +
                                              (i % 2 ? a : b) + R"("]})"),
                   &resp)
                    .ok());
    web_arns.insert(resp.tasks(0).task_arn());
  }
  v1::RunTaskResponse db;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"db","count":3})"), &db).ok());

  // Pages of 10 over the web family: 10 + 10 + 5, no duplicates, nothing else.
  std::set<std::string> seen;
  v1::ListTasksRequest req = Json<v1::ListTasksRequest>(R"({"family":"web","maxResults":10})");
  int pages = 0;
  for (;;) {
    v1::ListTasksResponse resp;
    ASSERT_TRUE(Do(&TaskActions::ListTasks, req, &resp).ok());
    ++pages;
    for (const auto& arn : resp.task_arns()) EXPECT_TRUE(seen.insert(arn).second);
    if (!resp.has_next_token()) break;
    req.set_next_token(resp.next_token());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, web_arns);

  auto count = [&](const std::string& json) {
    v1::ListTasksResponse resp;
    EXPECT_TRUE(Do(&TaskActions::ListTasks, Json<v1::ListTasksRequest>(json), &resp).ok()) << json;
    return resp.task_arns_size();
  };
  EXPECT_EQ(count(R"({})"), 28);
  EXPECT_EQ(count(R"({"startedBy":"me"})"), 25);
  int db_on_a = 0;  // RunTask places at random
  for (const auto& t : db.tasks()) db_on_a += t.container_instance_arn().find(a) != std::string::npos ? 1 : 0;
  EXPECT_EQ(count(R"({"containerInstance":")" + a + R"("})"), 12 + db_on_a);
  // The instance filter walks the instance's own index: pages of 5 cover it exactly once.
  std::set<std::string> on_a;
  v1::ListTasksRequest by_instance =
      Json<v1::ListTasksRequest>(R"({"containerInstance":")" + a + R"(","maxResults":5})");
  for (;;) {
    v1::ListTasksResponse resp;
    ASSERT_TRUE(Do(&TaskActions::ListTasks, by_instance, &resp).ok());
    for (const auto& arn : resp.task_arns()) EXPECT_TRUE(on_a.insert(arn).second);
    if (!resp.has_next_token()) break;
    by_instance.set_next_token(resp.next_token());
  }
  EXPECT_EQ(static_cast<int>(on_a.size()), 12 + db_on_a);
  EXPECT_EQ(count(R"({"desiredStatus":"PENDING"})"), 0);
  EXPECT_EQ(count(R"({"desiredStatus":"STOPPED"})"), 0);
  // A stopped task leaves the RUNNING listing of its instance and shows under STOPPED.
  v1::StopTaskResponse stopped;
  ASSERT_TRUE(
      Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(R"({"task":")" + *on_a.begin() + R"("})"), &stopped).ok());
  EXPECT_EQ(count(R"({"containerInstance":")" + a + R"("})"), 11 + db_on_a);
  EXPECT_EQ(count(R"({"containerInstance":")" + a + R"(","desiredStatus":"STOPPED"})"), 1);
  EXPECT_EQ(count(R"({"launchType":"EXTERNAL"})"), 0);
  EXPECT_EQ(count(R"({"serviceName":"svc"})"), 0);

  for (const char* bad : {R"({"desiredStatus":"DONE"})", R"({"maxResults":0})", R"({"maxResults":101})",
                          R"({"nextToken":"garbage!"})", R"({"launchType":"MOON"})", R"({"cluster":"nope"})"}) {
    absl::Status s = Do<v1::ListTasksResponse, v1::ListTasksRequest>(&TaskActions::ListTasks, bad);
    EXPECT_FALSE(s.ok()) << bad;
  }
}

}  // namespace
}  // namespace berth::controlplane
