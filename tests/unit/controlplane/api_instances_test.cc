// ListContainerInstances `filter`: the cluster query language over the control plane's instances
// (src/controlplane/auth/instance_subject.h), one row per rule, with the status filter and pagination.
#include <algorithm>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/controlplane/doors/errors.h"
#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;

// Four instances of the default cluster, registered 1000 s apart (a at 1700000000):
//   name  os       type        zone        stack  gpu        agent   ec2    cpu   status
//   a     linux    g2.2xlarge  us-east-1a  prod   (no value) 1.70.2  i-aaa  4096  ACTIVE
//   b     linux    t3.small    us-east-1b  dev    -          1.14.0  i-bbb  1024  ACTIVE
//   c     windows  t3.large    us-east-1a  -      -          1.20.0  i-ccc  1024  ACTIVE
//   d     linux    t3.small    us-east-1b  prod   -          1.70.2  i-ddd  1024  DRAINING
// The ecs.* attributes come with the registration, as an agent sends them; stack and gpu are
// added with PutAttributes.
class InstanceFilterTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    Register("a", "linux", "g2.2xlarge", "us-east-1a", "1.70.2", "i-aaa", 4096);
    Register("b", "linux", "t3.small", "us-east-1b", "1.14.0", "i-bbb", 1024);
    Register("c", "windows", "t3.large", "us-east-1a", "1.20.0", "i-ccc", 1024);
    Register("d", "linux", "t3.small", "us-east-1b", "1.70.2", "i-ddd", 1024);
    PutAttributes(R"([{"name":"stack","value":"prod","targetId":")" + ids_["a"] + R"("},
                      {"name":"gpu","targetId":")" +
                  ids_["a"] + R"("},
                      {"name":"stack","value":"dev","targetId":")" +
                  ids_["b"] + R"("},
                      {"name":"stack","value":"prod","targetId":")" +
                  ids_["d"] + R"("}])");
    v1::UpdateContainerInstancesStateResponse drained;
    ASSERT_TRUE(Do(&InstanceActions::UpdateContainerInstancesState,
                   Json<v1::UpdateContainerInstancesStateRequest>(R"({"containerInstances":[")" + ids_["d"] +
                                                                  R"("],"status":"DRAINING"})"),
                   &drained)
                    .ok());
  }

  void Register(const std::string& name, const std::string& os, const std::string& type, const std::string& zone,
                const std::string& agent, const std::string& ec2, int cpu) {
    const std::string json = R"({"totalResources":[{"name":"CPU","type":"INTEGER","integerValue":)" +
                             std::to_string(cpu) +
                             R"(},{"name":"MEMORY","type":"INTEGER","integerValue":2048}],
            "attributes":[{"name":"ecs.os-type","value":")" +
                             os + R"("},{"name":"ecs.instance-type","value":")" + type +
                             R"("},{"name":"ecs.availability-zone","value":")" + zone + R"("}],
            "versionInfo":{"agentVersion":")" +
                             agent + R"("},
            "instanceIdentityDocument":"{\"instanceId\":\")" +
                             ec2 + R"(\"}"})";
    v1::RegisterContainerInstanceResponse resp;
    ASSERT_TRUE(
        Do(&InstanceActions::RegisterContainerInstance, Json<v1::RegisterContainerInstanceRequest>(json), &resp).ok());
    const std::string& arn = resp.container_instance().container_instance_arn();
    const std::string id = arn.substr(arn.rfind('/') + 1);
    ids_[name] = id;
    names_[id] = name;
    clock_.Advance(1000 * 1'000'000);
  }

  void PutAttributes(const std::string& attributes) {
    v1::PutAttributesResponse resp;
    ASSERT_TRUE(Do(&InstanceActions::PutAttributes,
                   Json<v1::PutAttributesRequest>(R"({"attributes":)" + attributes + "}"), &resp)
                    .ok());
  }

  // The instance names of one ListContainerInstances page.
  std::vector<std::string> Names(const v1::ListContainerInstancesResponse& resp) {
    std::vector<std::string> names;
    for (const auto& arn : resp.container_instance_arns()) {
      auto it = names_.find(arn.substr(arn.rfind('/') + 1));
      names.push_back(it == names_.end() ? "?" + arn : it->second);
    }
    return names;
  }

  // Every instance name ListContainerInstances gives for `request` (a JSON object's members
  // without braces), following nextToken; sorted.
  std::vector<std::string> List(const std::string& members) {
    std::vector<std::string> all;
    std::string token;
    for (int page = 0; page < 10; ++page) {
      std::string json = "{" + members;
      if (!token.empty()) json += std::string(members.empty() ? "" : ",") + R"("nextToken":")" + token + R"(")";
      json += "}";
      v1::ListContainerInstancesResponse resp;
      absl::Status s =
          Do(&InstanceActions::ListContainerInstances, Json<v1::ListContainerInstancesRequest>(json), &resp);
      EXPECT_TRUE(s.ok()) << s << " for " << json;
      for (auto& n : Names(resp)) all.push_back(std::move(n));
      if (resp.next_token().empty()) break;
      token = resp.next_token();
    }
    std::sort(all.begin(), all.end());
    return all;
  }

  std::vector<std::string> Filter(const std::string& filter) {
    return List(R"("filter":)" + nlohmann::json(filter).dump());
  }

  std::map<std::string, std::string> ids_;    // name -> id
  std::map<std::string, std::string> names_;  // id -> name
};

struct FilterRow {
  std::string name;
  std::string filter;
  std::vector<std::string> want;  // sorted
};

void PrintTo(const FilterRow& row, std::ostream* os) { *os << row.filter; }

class FilterTableTest : public InstanceFilterTest, public ::testing::WithParamInterface<FilterRow> {};

TEST_P(FilterTableTest, Row) {
  const FilterRow& row = GetParam();
  EXPECT_EQ(Filter(row.filter), row.want) << row.filter;
}

INSTANTIATE_TEST_SUITE_P(
    ListContainerInstances, FilterTableTest,
    ::testing::Values(
        FilterRow{"no_filter_lists_active_and_draining", "", {"a", "b", "c", "d"}},
        FilterRow{"builtin_attribute_equals", "attribute:ecs.os-type == linux", {"a", "b", "d"}},
        FilterRow{"custom_attribute_equals", "attribute:stack == prod", {"a", "d"}},
        FilterRow{"attribute_not_equals_includes_missing", "attribute:stack != dev", {"a", "c", "d"}},
        FilterRow{"attribute_in", "attribute:ecs.instance-type in [t3.small, t3.large]", {"b", "c", "d"}},
        FilterRow{"attribute_not_in", "attribute:ecs.instance-type !in [t3.small, t3.large]", {"a"}},
        FilterRow{"attribute_matches", "attribute:ecs.instance-type =~ t3\\..*", {"b", "c", "d"}},
        FilterRow{"attribute_matches_whole_value", "attribute:ecs.instance-type =~ small", {}},
        FilterRow{"attribute_not_matches", "attribute:ecs.availability-zone !~ '.*-1a'", {"b", "d"}},
        FilterRow{"attribute_exists", "attribute:stack exists", {"a", "b", "d"}},
        FilterRow{"attribute_without_value_exists", "attribute:gpu exists", {"a"}},
        FilterRow{"attribute_without_value_is_empty", "attribute:gpu == ''", {"a"}},
        FilterRow{"attribute_not_exists", "attribute:stack !exists", {"c"}},
        FilterRow{"attribute_name_is_case_sensitive", "attribute:STACK exists", {}},
        FilterRow{"not", "not attribute:ecs.os-type == linux", {"c"}},
        FilterRow{"and", "attribute:ecs.os-type == linux and attribute:ecs.availability-zone == us-east-1a", {"a"}},
        FilterRow{"or", "attribute:stack == dev || attribute:ecs.os-type == windows", {"b", "c"}},
        FilterRow{"parentheses_and_not",
                  "(attribute:stack == dev or attribute:stack == prod) and !(attribute:ecs.availability-zone == "
                  "us-east-1a)",
                  {"b", "d"}},
        FilterRow{"agent_connected", "agentConnected == true", {"a", "b", "c", "d"}},
        FilterRow{"agent_version_ordering", "agentVersion < 1.20.0", {"b"}},
        FilterRow{"agent_version_at_least", "agentVersion >= 1.20", {"a", "c", "d"}},
        FilterRow{"ec2_instance_id", "ec2InstanceId in [i-aaa, i-ccc]", {"a", "c"}},
        FilterRow{"registered_at", "registeredAt >= 1700001500", {"c", "d"}},
        FilterRow{"running_tasks_count_without_tasks", "runningTasksCount == 0", {"a", "b", "c", "d"}},
        FilterRow{"task_group_without_tasks", "task:group == service:api", {}}),
    [](const ::testing::TestParamInfo<FilterRow>& info) { return info.param.name; });

TEST_F(InstanceFilterTest, TaskGroupAndRunningTasksCountFollowTheTasks) {
  // Only a (4096 CPU units) fits a 2048-unit task.
  AddTaskDefinition("big", 2048, 256);
  v1::RunTaskResponse run;
  ASSERT_TRUE(
      Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"big","group":"service:api"})"), &run)
          .ok());
  ASSERT_EQ(run.tasks_size(), 1);
  ASSERT_EQ(run.tasks(0).container_instance_arn().substr(run.tasks(0).container_instance_arn().rfind('/') + 1),
            ids_["a"]);
  const std::string task_id = run.tasks(0).task_arn().substr(run.tasks(0).task_arn().rfind('/') + 1);

  // PENDING: the task's group is on the instance; it is not running yet.
  EXPECT_THAT(Filter("task:group == service:api"), ElementsAre("a"));
  EXPECT_THAT(Filter("task:group in [family:big, service:api]"), ElementsAre("a"));
  EXPECT_THAT(Filter("task:group == family:big"), IsEmpty());
  EXPECT_THAT(Filter("not task:group == service:api"), ElementsAre("b", "c", "d"));
  EXPECT_THAT(Filter("runningTasksCount > 0"), IsEmpty());

  // No agent reports task state yet: move the task through its lifecycle in the state directly.
  auto set_status = [&](const char* status) {
    absl::MutexLock lock(&state_mu());
    const ClusterEntry* c = state().FindCluster("default");
    ASSERT_NE(c, nullptr);
    Txn txn(1);
    Applier(state(), txn).UpdateTask(*c, c->tasks.at(task_id), [&](v1::TaskRecord& r) {
      r.mutable_task()->set_last_status(status);
      return true;
    });
  };
  set_status("RUNNING");
  EXPECT_THAT(Filter("runningTasksCount > 0"), ElementsAre("a"));
  EXPECT_THAT(Filter("runningTasksCount == 1 and task:group == service:api"), ElementsAre("a"));
  EXPECT_THAT(Filter("runningTasksCount < 1"), ElementsAre("b", "c", "d"));

  set_status("STOPPED");
  EXPECT_THAT(Filter("task:group == service:api"), IsEmpty());
  EXPECT_THAT(Filter("runningTasksCount > 0"), IsEmpty());
}

struct BadFilterRow {
  std::string name;
  std::string filter;
  std::string message;  // the start of the error message (a regex error ends with the library's words)
};

void PrintTo(const BadFilterRow& row, std::ostream* os) { *os << row.filter; }

class BadFilterTest : public InstanceFilterTest, public ::testing::WithParamInterface<BadFilterRow> {};

TEST_P(BadFilterTest, RefusedNamingTheFieldAndColumn) {
  const BadFilterRow& row = GetParam();
  const uint64_t before = revision();
  v1::ListContainerInstancesResponse resp;
  absl::Status s =
      Do(&InstanceActions::ListContainerInstances,
         Json<v1::ListContainerInstancesRequest>(R"({"filter":)" + nlohmann::json(row.filter).dump() + "}"), &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorType(s), "InvalidParameterException");
  EXPECT_THAT(std::string(s.message()), StartsWith(row.message));
  EXPECT_EQ(resp.container_instance_arns_size(), 0);
  EXPECT_TRUE(resp.next_token().empty());
  EXPECT_EQ(revision(), before);
}

INSTANTIATE_TEST_SUITE_P(
    ListContainerInstances, BadFilterTest,
    ::testing::Values(
        BadFilterRow{"missing_argument", "attribute:stack ==",
                     "filter: expression: column 19: expected an argument after operator '==', got end of expression"},
        BadFilterRow{"unknown_subject", "attribute:stack == prod and color == red",
                     "filter: expression: column 29: unknown subject 'color'; expected agentConnected, agentVersion, "
                     "attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group"},
        BadFilterRow{"invalid_regex", "attribute:stack =~ 'a[b'",
                     "filter: expression: column 20: invalid regular expression 'a[b': "},
        BadFilterRow{"blank", "   ", "filter: expression: empty expression"}),
    [](const ::testing::TestParamInfo<BadFilterRow>& info) { return info.param.name; });

TEST_F(InstanceFilterTest, FilterCombinesWithStatus) {
  EXPECT_THAT(List(R"("filter":"attribute:stack == prod")"), ElementsAre("a", "d"));
  EXPECT_THAT(List(R"("filter":"attribute:stack == prod","status":"ACTIVE")"), ElementsAre("a"));
  EXPECT_THAT(List(R"("filter":"attribute:stack == prod","status":"DRAINING")"), ElementsAre("d"));
  EXPECT_THAT(List(R"("filter":"attribute:stack == dev","status":"DRAINING")"), IsEmpty());
  // A deregistered instance is not listed, whatever the filter says.
  v1::DeregisterContainerInstanceResponse dereg;
  ASSERT_TRUE(Do(&InstanceActions::DeregisterContainerInstance,
                 Json<v1::DeregisterContainerInstanceRequest>(R"({"containerInstance":")" + ids_["b"] + R"("})"),
                 &dereg)
                  .ok());
  EXPECT_THAT(List(R"("filter":"attribute:stack exists")"), ElementsAre("a", "d"));
}

TEST_F(InstanceFilterTest, FilterThenPaginate) {
  // Pages of one: the filter applies before the page is cut, so every page holds a match and the
  // last match comes without a nextToken even when non-matching instances follow it.
  const std::string filter = R"("filter":"attribute:ecs.os-type == linux","maxResults":1)";
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  while (true) {
    v1::ListContainerInstancesResponse resp;
    std::string json = "{" + filter + (token.empty() ? "" : R"(,"nextToken":")" + token + R"(")") + "}";
    ASSERT_TRUE(
        Do(&InstanceActions::ListContainerInstances, Json<v1::ListContainerInstancesRequest>(json), &resp).ok());
    ++pages;
    ASSERT_EQ(resp.container_instance_arns_size(), 1) << "page " << pages;
    seen.push_back(Names(resp).front());
    if (resp.next_token().empty()) break;
    token = resp.next_token();
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, UnorderedElementsAreArray({"a", "b", "d"}));
  // Instance ids are random: the pages come in id order.
  std::vector<std::string> by_id = seen;
  std::sort(by_id.begin(), by_id.end(), [&](const std::string& x, const std::string& y) { return ids_[x] < ids_[y]; });
  EXPECT_EQ(seen, by_id);

  // A filter matching one instance: one page, no token, whatever follows it.
  v1::ListContainerInstancesResponse one;
  ASSERT_TRUE(Do(&InstanceActions::ListContainerInstances,
                 Json<v1::ListContainerInstancesRequest>(R"({"filter":"ec2InstanceId == i-ccc","maxResults":1})"), &one)
                  .ok());
  EXPECT_THAT(Names(one), ElementsAre("c"));
  EXPECT_TRUE(one.next_token().empty());
}

}  // namespace
}  // namespace berth::controlplane
