// Placement end to end: the real berthd over gRPC, six container instances in three availability
// zones, RunTask with placement strategies and constraints, static and dynamic host ports,
// attribute changes, recovery of reservations after a restart, and ExplainPlacement.
//
// Expectations are derived from the definition in include/berth/placement/engine.h and the fleet
// below (the derivations are in the comments), never from observing berthd. The fleet's
// remaining amounts are kept distinct wherever a strategy compares them, so the tie-break (a hash
// of the random instance id) never decides an expected placement.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/test_helpers.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using testutil::Call;
using testutil::FromJson;
using CS = v1::ContainerService::Stub;

constexpr char kCluster[] = "placement";

constexpr char kDistinctInstance[] = "DistinctInstance placement constraint unsatisfied.";
constexpr char kMemberOf[] = "MemberOf placement constraint unsatisfied.";

// Strategy chains, as RunTask's placementStrategy JSON.
constexpr char kBinpackMemory[] = R"([{"type":"binpack","field":"memory"}])";
constexpr char kSpreadZoneBinpackMemory[] =
    R"([{"type":"spread","field":"attribute:ecs.availability-zone"},{"type":"binpack","field":"memory"}])";
constexpr char kSpreadInstance[] = R"([{"type":"spread","field":"instanceId"}])";

// `json` (an object) with placementStrategy `chain` added.
std::string WithStrategy(std::string json, const char* chain) {
  json.pop_back();  // the closing '}'
  return json + R"(,"placementStrategy":)" + chain + "}";
}

struct InstanceSpec {
  const char* name;  // also the value of the custom attribute "node"
  int cpu;
  int memory;
  const char* zone;
  const char* type;   // ecs.instance-type
  const char* stack;  // custom attribute "stack"
};

// One zone per line. Every instance also reserves host ports 22 and 2375 (PORTS at registration).
constexpr InstanceSpec kFleet[] = {
    {"i1", 2048, 4000, "az-a", "t2.large", "blue"},  {"i2", 2048, 3000, "az-a", "m5.large", "green"},
    {"i3", 4096, 5000, "az-b", "m5.xlarge", "blue"}, {"i4", 1024, 2000, "az-b", "t2.micro", "green"},
    {"i5", 4096, 6000, "az-c", "c5.large", "green"}, {"i6", 1024, 2500, "az-c", "t2.medium", "green"},
};

class PlacementIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<testutil::BerthdProcess>(dir_.Sub("data"));
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
    v1::CreateClusterResponse created;
    ASSERT_TRUE(Call(*stub_, &CS::CreateCluster,
                     FromJson<v1::CreateClusterRequest>(std::string(R"({"clusterName":")") + kCluster + R"("})"),
                     &created)
                    .ok());
    for (const InstanceSpec& spec : kFleet) ASSERT_NO_FATAL_FAILURE(Register(spec));
    // Most tests place tasks of 128 CPU units and 500 MiB.
    ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"web","containerDefinitions":[
        {"name":"app","image":"busybox","cpu":128,"memory":500}]})"));
  }

  void Register(const InstanceSpec& spec) {
    v1::RegisterContainerInstanceRequest request;
    for (const auto& [name, value] : {std::pair{"CPU", spec.cpu}, std::pair{"MEMORY", spec.memory}}) {
      auto* r = request.add_total_resources();
      r->set_name(name);
      r->set_type("INTEGER");
      r->set_integer_value(value);
    }
    auto* ports = request.add_total_resources();
    ports->set_name("PORTS");
    ports->set_type("STRINGSET");
    ports->add_string_set_value("22");
    ports->add_string_set_value("2375");
    for (const auto& [name, value] :
         {std::pair{"ecs.availability-zone", spec.zone}, std::pair{"ecs.instance-type", spec.type},
          std::pair{"node", spec.name}, std::pair{"stack", spec.stack}}) {
      auto* a = request.add_attributes();
      a->set_name(name);
      a->set_value(value);
    }
    request.set_cluster(kCluster);
    v1::RegisterContainerInstanceResponse response;
    grpc::Status s = Call(*stub_, &CS::RegisterContainerInstance, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const std::string& arn = response.container_instance().container_instance_arn();
    arns_[spec.name] = arn;
    names_[arn] = spec.name;
  }

  void RegisterTaskDefinition(const std::string& json) {
    v1::RegisterTaskDefinitionResponse response;
    grpc::Status s =
        Call(*stub_, &CS::RegisterTaskDefinition, FromJson<v1::RegisterTaskDefinitionRequest>(json), &response);
    ASSERT_TRUE(s.ok()) << s.error_message() << " registering " << json;
  }

  // RunTask in this test's cluster; `json` is the rest of the request.
  grpc::Status TryRun(const std::string& json, v1::RunTaskResponse* response) {
    auto request = FromJson<v1::RunTaskRequest>(json);
    request.set_cluster(kCluster);
    return Call(*stub_, &CS::RunTask, request, response);
  }

  v1::RunTaskResponse Run(const std::string& json) {
    v1::RunTaskResponse response;
    grpc::Status s = TryRun(json, &response);
    EXPECT_TRUE(s.ok()) << s.error_message() << " for " << json;
    return response;
  }

  grpc::Status TryExplain(const std::string& json, v1::ExplainPlacementResponse* response) {
    auto request = FromJson<v1::ExplainPlacementRequest>(json);
    request.set_cluster(kCluster);
    return Call(*stub_, &CS::ExplainPlacement, request, response);
  }

  v1::ExplainPlacementResponse Explain(const std::string& json) {
    v1::ExplainPlacementResponse response;
    grpc::Status s = TryExplain(json, &response);
    EXPECT_TRUE(s.ok()) << s.error_message() << " for " << json;
    return response;
  }

  // The fleet name ("i4") of an instance ARN; the ARN itself when it is not one of the fleet.
  std::string Name(const std::string& arn) const {
    auto it = names_.find(arn);
    return it == names_.end() ? arn : it->second;
  }

  // Where the tasks of a response landed, in the order they were placed.
  std::vector<std::string> Placed(const v1::RunTaskResponse& response) const {
    std::vector<std::string> out;
    for (const auto& task : response.tasks()) out.push_back(Name(task.container_instance_arn()));
    return out;
  }

  static std::map<std::string, int> Counts(const std::vector<std::string>& placed) {
    std::map<std::string, int> counts;
    for (const auto& name : placed) ++counts[name];
    return counts;
  }

  v1::ContainerInstance Describe(const std::string& name) {
    v1::DescribeContainerInstancesRequest request;
    request.set_cluster(kCluster);
    request.add_container_instances(arns_.at(name));
    v1::DescribeContainerInstancesResponse response;
    grpc::Status s = Call(*stub_, &CS::DescribeContainerInstances, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.container_instances_size(), 1);
    return response.container_instances_size() == 1 ? response.container_instances(0) : v1::ContainerInstance();
  }

  int64_t RemainingMemory(const std::string& name) {
    const v1::ContainerInstance instance = Describe(name);
    for (const auto& r : instance.remaining_resources()) {
      if (r.name() == "MEMORY") return r.integer_value();
    }
    ADD_FAILURE() << name << " reports no remaining MEMORY";
    return -1;
  }

  // Sets (or replaces) a custom attribute of one instance.
  void PutAttribute(const std::string& name, const std::string& attribute, const std::string& value) {
    v1::PutAttributesRequest request;
    request.set_cluster(kCluster);
    auto* a = request.add_attributes();
    a->set_name(attribute);
    a->set_value(value);
    a->set_target_id(arns_.at(name));
    v1::PutAttributesResponse response;
    grpc::Status s = Call(*stub_, &CS::PutAttributes, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Restarts berthd on the same data directory: SIGTERM and wait, or SIGKILL (a crash).
  void Restart(bool crash) {
    if (crash) {
      berthd_->Kill();
    } else {
      ASSERT_EQ(berthd_->Terminate(), 0) << berthd_->Log();
    }
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
  }

  // Fills i4 (2000 MiB) with four 500 MiB tasks of family "filler", pinned there by memberOf.
  void FillI4() {
    ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"filler","containerDefinitions":[
        {"name":"app","image":"busybox","cpu":128,"memory":500}]})"));
    v1::RunTaskResponse filled = Run(
        R"({"taskDefinition":"filler","count":4,
            "placementConstraints":[{"type":"memberOf","expression":"attribute:node == i4"}]})");
    ASSERT_THAT(Placed(filled), ElementsAre("i4", "i4", "i4", "i4"));
    ASSERT_EQ(RemainingMemory("i4"), 0);
  }

  testutil::TempDir dir_;
  std::unique_ptr<testutil::BerthdProcess> berthd_;
  std::unique_ptr<CS> stub_;
  std::map<std::string, std::string> arns_;   // fleet name -> ARN
  std::map<std::string, std::string> names_;  // ARN -> fleet name
};

TEST_F(PlacementIntegrationTest, SpreadOverZonesThenBinpackMemoryWithinEachZone) {
  // Score = (tasks of family:web in the instance's zone, remaining memory), least first:
  //   1: every zone 0  -> least memory overall: i4 (2000, az-b) -> 1500
  //   2: a, c at 0     -> i6 (2500, az-c) before i2 (3000), i1, i5 -> 2000
  //   3: a at 0        -> i2 (3000) before i1 (4000) -> 2500
  //   4: every zone 1  -> least memory overall: i4 (1500)
  //   5: a, c at 1     -> i6 (2000)
  //   6: a at 1        -> i2 (2500)
  v1::RunTaskResponse run = Run(WithStrategy(R"({"taskDefinition":"web","count":6})", kSpreadZoneBinpackMemory));
  EXPECT_EQ(run.failures_size(), 0);
  EXPECT_THAT(Placed(run), ElementsAre("i4", "i6", "i2", "i4", "i6", "i2"));
  std::map<std::string, int> per_zone;
  for (const auto& task : run.tasks()) {
    for (const InstanceSpec& spec : kFleet) {
      if (Name(task.container_instance_arn()) == spec.name) {
        EXPECT_EQ(task.availability_zone(), spec.zone);
      }
    }
    ++per_zone[task.availability_zone()];
    EXPECT_EQ(task.group(), "family:web");
  }
  EXPECT_THAT(per_zone,
              ElementsAre(std::pair<const std::string, int>("az-a", 2), std::pair<const std::string, int>("az-b", 2),
                          std::pair<const std::string, int>("az-c", 2)));
  EXPECT_EQ(RemainingMemory("i4"), 2000 - 2 * 500);
  EXPECT_EQ(RemainingMemory("i6"), 2500 - 2 * 500);
  EXPECT_EQ(RemainingMemory("i2"), 3000 - 2 * 500);
  EXPECT_EQ(RemainingMemory("i1"), 4000);
  EXPECT_EQ(Describe("i4").pending_tasks_count(), 2);
}

TEST_F(PlacementIntegrationTest, BinpackMemoryFillsTheSmallestInstanceThatFitsFirst) {
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"big","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":128,"memory":2100}]})"));
  // 2100 MiB each; least remaining memory that still fits first. i4 (2000) never fits.
  //   i6 2500 -> 400, i2 3000 -> 900, i1 4000 -> 1900, i3 5000 -> 2900, i3 2900 -> 800,
  //   i5 6000 -> 3900, i5 3900 -> 1800, then nothing has 2100 MiB left.
  v1::RunTaskResponse run = Run(WithStrategy(R"({"taskDefinition":"big","count":8})", kBinpackMemory));
  EXPECT_THAT(Placed(run), ElementsAre("i6", "i2", "i1", "i3", "i3", "i5", "i5"));
  ASSERT_EQ(run.failures_size(), 1);
  EXPECT_EQ(run.failures(0).reason(), "RESOURCE:MEMORY");
  EXPECT_EQ(run.failures(0).detail(), "RESOURCE:MEMORY on 6 instances");
  EXPECT_EQ(RemainingMemory("i5"), 1800);
  EXPECT_EQ(RemainingMemory("i4"), 2000);
}

TEST_F(PlacementIntegrationTest, RequestNoInstanceFitsFailsWithEveryReasonCounted) {
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"huge","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":2048,"memory":7000}]})"));
  // CPU is checked before memory: i4 and i6 (1024 units) fail on CPU, the other four on memory.
  v1::RunTaskResponse run = Run(R"({"taskDefinition":"huge","count":2})");
  EXPECT_EQ(run.tasks_size(), 0);
  ASSERT_EQ(run.failures_size(), 2);
  for (const auto& failure : run.failures()) {
    EXPECT_EQ(failure.reason(), "RESOURCE:MEMORY");
    EXPECT_EQ(failure.detail(), "RESOURCE:MEMORY on 4 instances, RESOURCE:CPU on 2 instances");
  }
}

TEST_F(PlacementIntegrationTest, DistinctInstanceWithMoreTasksThanInstances) {
  v1::RunTaskResponse run =
      Run(R"({"taskDefinition":"web","count":10,"placementConstraints":[{"type":"distinctInstance"}]})");
  std::vector<std::string> placed = Placed(run);
  ASSERT_EQ(placed.size(), 6u);
  EXPECT_EQ(std::set<std::string>(placed.begin(), placed.end()),
            (std::set<std::string>{"i1", "i2", "i3", "i4", "i5", "i6"}));
  ASSERT_EQ(run.failures_size(), 4);
  for (const auto& failure : run.failures()) {
    EXPECT_EQ(failure.reason(), kDistinctInstance);
    EXPECT_EQ(failure.detail(), std::string(kDistinctInstance) + " on 6 instances");
  }
  // The group is per family: another family's tasks may still share those instances.
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"other","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":128,"memory":100}]})"));
  v1::RunTaskResponse other =
      Run(R"({"taskDefinition":"other","count":6,"placementConstraints":[{"type":"distinctInstance"}]})");
  EXPECT_EQ(other.tasks_size(), 6);
  EXPECT_EQ(other.failures_size(), 0);
}

TEST_F(PlacementIntegrationTest, MemberOfPlacesOnlyOnMatchingInstances) {
  // No instance matches.
  v1::RunTaskResponse none = Run(R"({"taskDefinition":"web","placementConstraints":[
      {"type":"memberOf","expression":"attribute:ecs.instance-type in [p3.2xlarge, g4dn.xlarge]"}]})");
  EXPECT_EQ(none.tasks_size(), 0);
  ASSERT_EQ(none.failures_size(), 1);
  EXPECT_EQ(none.failures(0).reason(), kMemberOf);
  EXPECT_EQ(none.failures(0).detail(), std::string(kMemberOf) + " on 6 instances");

  // t2.* are i1, i4 and i6; spread(instanceId) gives each of them two.
  v1::RunTaskResponse run = Run(WithStrategy(R"({"taskDefinition":"web","count":6,
      "placementConstraints":[{"type":"memberOf","expression":"attribute:ecs.instance-type =~ t2.*"}]})",
                                             kSpreadInstance));
  EXPECT_EQ(run.failures_size(), 0);
  EXPECT_THAT(Counts(Placed(run)),
              ElementsAre(std::pair<const std::string, int>("i1", 2), std::pair<const std::string, int>("i4", 2),
                          std::pair<const std::string, int>("i6", 2)));

  // task:group places next to another group's tasks: family:web is on i1, i4 and i6.
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"sidecar","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":64,"memory":64}]})"));
  v1::RunTaskResponse sidecars = Run(WithStrategy(R"({"taskDefinition":"sidecar","count":3,
      "placementConstraints":[{"type":"memberOf","expression":"task:group == family:web"}]})",
                                                  kSpreadInstance));
  EXPECT_THAT(Placed(sidecars), UnorderedElementsAre("i1", "i4", "i6"));

  // Two constraints must both hold: t2.* in az-c is i6 alone.
  v1::RunTaskResponse both = Run(R"({"taskDefinition":"web","count":2,"placementConstraints":[
      {"type":"memberOf","expression":"attribute:ecs.instance-type =~ t2.*"},
      {"type":"memberOf","expression":"attribute:ecs.availability-zone == az-c"}]})");
  EXPECT_THAT(Placed(both), ElementsAre("i6", "i6"));

  // The task definition's constraints apply together with the request's: blue (i1, i3) from the
  // definition, t2.* from the request leaves i1.
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"blue-only","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":128,"memory":100}],
      "placementConstraints":[{"type":"memberOf","expression":"attribute:stack == blue"}]})"));
  v1::RunTaskResponse blue = Run(WithStrategy(R"({"taskDefinition":"blue-only","count":4})", kSpreadInstance));
  EXPECT_THAT(Counts(Placed(blue)),
              ElementsAre(std::pair<const std::string, int>("i1", 2), std::pair<const std::string, int>("i3", 2)));
  v1::RunTaskResponse blue_t2 = Run(R"({"taskDefinition":"blue-only","count":2,"placementConstraints":[
      {"type":"memberOf","expression":"attribute:ecs.instance-type =~ t2.*"}]})");
  EXPECT_THAT(Placed(blue_t2), ElementsAre("i1", "i1"));
}

TEST_F(PlacementIntegrationTest, MalformedExpressionIsInvalidArgumentNamingTheFieldAndColumn) {
  struct Row {
    const char* name;
    const char* constraints;
    const char* message;  // the start of the status message
  };
  const Row rows[] = {
      // The quote opens at column 32: len("attribute:ecs.instance-type =~ ") == 31.
      {"unterminated quote", R"([{"type":"memberOf","expression":"attribute:ecs.instance-type =~ 't2.*"}])",
       "placementConstraints[0].expression: column 32: unterminated quoted string"},
      // The list is still open at the end: column 41 is one past the 40 characters.
      {"unterminated list in the second constraint",
       R"([{"type":"distinctInstance"},
           {"type":"memberOf","expression":"attribute:ecs.instance-type in [t2.micro"}])",
       "placementConstraints[1].expression: column 41: expected ',' or ']' in the list opened at column 32"},
      {"unknown subject", R"([{"type":"memberOf","expression":"instanceType == t2.micro"}])",
       "placementConstraints[0].expression: column 1: unknown subject 'instanceType'"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const std::string body = std::string(R"({"taskDefinition":"web","placementConstraints":)") + row.constraints + "}";
    v1::RunTaskResponse run;
    grpc::Status s = TryRun(body, &run);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), ::testing::StartsWith(row.message));
    // ExplainPlacement checks the request with the same code.
    v1::ExplainPlacementResponse explained;
    grpc::Status e = TryExplain(body, &explained);
    EXPECT_EQ(e.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(e.error_message(), s.error_message());
  }
  // Nothing was placed by the refused requests.
  for (const InstanceSpec& spec : kFleet) EXPECT_EQ(Describe(spec.name).pending_tasks_count(), 0) << spec.name;
}

TEST_F(PlacementIntegrationTest, SpreadByInstanceEvensOutTasks) {
  // binpack(memory) puts the first two on i4 (2000, then 1500).
  v1::RunTaskResponse packed = Run(WithStrategy(R"({"taskDefinition":"web","count":2})", kBinpackMemory));
  ASSERT_THAT(Placed(packed), ElementsAre("i4", "i4"));
  // spread(instanceId) counts the group's tasks per instance: the five empty instances get one each,
  // then (i4 still has 2) one more each. Every instance ends with two.
  v1::RunTaskResponse spread = Run(WithStrategy(R"({"taskDefinition":"web","count":10})", kSpreadInstance));
  ASSERT_EQ(spread.failures_size(), 0);
  std::vector<std::string> placed = Placed(spread);
  ASSERT_EQ(placed.size(), 10u);
  const std::set<std::string> others = {"i1", "i2", "i3", "i5", "i6"};
  EXPECT_EQ(std::set<std::string>(placed.begin(), placed.begin() + 5), others);
  EXPECT_EQ(std::set<std::string>(placed.begin() + 5, placed.end()), others);
  for (const InstanceSpec& spec : kFleet) EXPECT_EQ(Describe(spec.name).pending_tasks_count(), 2) << spec.name;
}

TEST_F(PlacementIntegrationTest, StaticHostPortsConflictAndDynamicPortsAreCounted) {
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"proxy","networkMode":"bridge","containerDefinitions":[
      {"name":"app","image":"nginx","cpu":64,"memory":128,"portMappings":[{"containerPort":80,"hostPort":8080}]}]})"));
  const std::string proxy = std::string(R"({"taskDefinition":"proxy","placementStrategy":)") + kBinpackMemory;
  // binpack(memory): i4 has the least memory. The second task would go there too (1872 MiB left)
  // but 8080 is taken, so it lands on the next smallest, i6.
  EXPECT_THAT(Placed(Run(proxy + "}")), ElementsAre("i4"));
  EXPECT_THAT(Placed(Run(proxy + "}")), ElementsAre("i6"));
  EXPECT_THAT(Placed(Run(proxy + R"(,"count":4})")), ElementsAre("i2", "i1", "i3", "i5"));
  v1::RunTaskResponse full = Run(proxy + "}");
  EXPECT_EQ(full.tasks_size(), 0);
  ASSERT_EQ(full.failures_size(), 1);
  EXPECT_EQ(full.failures(0).reason(), "RESOURCE:PORTS");
  EXPECT_EQ(full.failures(0).detail(), "RESOURCE:PORTS on 6 instances");

  // Ports reserved at registration are never handed to tasks.
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"ssh","networkMode":"bridge","containerDefinitions":[
      {"name":"app","image":"sshd","cpu":64,"memory":64,"portMappings":[{"containerPort":22,"hostPort":22}]}]})"));
  v1::RunTaskResponse ssh = Run(R"({"taskDefinition":"ssh"})");
  ASSERT_EQ(ssh.failures_size(), 1);
  EXPECT_EQ(ssh.failures(0).reason(), "RESOURCE:PORTS");
  EXPECT_EQ(ssh.failures(0).detail(), "RESOURCE:PORTS on 6 instances");

  // Dynamic host ports (no hostPort in bridge mode) never conflict with each other: three tasks on
  // one instance. Each takes the lowest free ephemeral port, so the first took 49153 and a static
  // mapping of 49153 no longer fits there.
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"dyn","networkMode":"bridge","containerDefinitions":[
      {"name":"app","image":"nginx","cpu":64,"memory":64,"portMappings":[{"containerPort":80}]}]})"));
  const std::string on_i5 = R"("placementConstraints":[{"type":"memberOf","expression":"attribute:node == i5"}])";
  EXPECT_THAT(Placed(Run(R"({"taskDefinition":"dyn","count":3,)" + on_i5 + "}")), ElementsAre("i5", "i5", "i5"));
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"eph","networkMode":"bridge","containerDefinitions":[
      {"name":"app","image":"nginx","cpu":64,"memory":64,"portMappings":[{"containerPort":80,"hostPort":49153}]}]})"));
  v1::RunTaskResponse eph = Run(R"({"taskDefinition":"eph",)" + on_i5 + "}");
  ASSERT_EQ(eph.failures_size(), 1);
  EXPECT_EQ(eph.failures(0).reason(), kMemberOf);
  EXPECT_EQ(eph.failures(0).detail(), std::string(kMemberOf) + " on 5 instances, RESOURCE:PORTS on 1 instance");
  // 49156 is the next free one: a static mapping of it still fits on i5.
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"eph2","networkMode":"bridge","containerDefinitions":[
      {"name":"app","image":"nginx","cpu":64,"memory":64,"portMappings":[{"containerPort":80,"hostPort":49156}]}]})"));
  EXPECT_THAT(Placed(Run(R"({"taskDefinition":"eph2",)" + on_i5 + "}")), ElementsAre("i5"));
}

TEST_F(PlacementIntegrationTest, DynamicPortRangeExhaustionIsResourcePortsAcrossRestarts) {
  // 10000 dynamic host ports per task; the ephemeral range 49153-65535 holds 16383, so one task fits
  // per instance.
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"wide","networkMode":"bridge","containerDefinitions":[
      {"name":"app","image":"media","cpu":64,"memory":64,"portMappings":[{"containerPortRange":"10000-19999"}]}]})"));
  const std::string on_i3 = R"("placementConstraints":[{"type":"memberOf","expression":"attribute:node == i3"}])";
  EXPECT_THAT(Placed(Run(R"({"taskDefinition":"wide",)" + on_i3 + "}")), ElementsAre("i3"));
  const std::string expected = std::string(kMemberOf) + " on 5 instances, RESOURCE:PORTS on 1 instance";
  v1::RunTaskResponse second = Run(R"({"taskDefinition":"wide",)" + on_i3 + "}");
  ASSERT_EQ(second.failures_size(), 1);
  EXPECT_EQ(second.failures(0).detail(), expected);
  // The dynamic ports are stored with the task and held again after a crash.
  ASSERT_NO_FATAL_FAILURE(Restart(/*crash=*/true));
  v1::RunTaskResponse after = Run(R"({"taskDefinition":"wide",)" + on_i3 + "}");
  ASSERT_EQ(after.failures_size(), 1);
  EXPECT_EQ(after.failures(0).detail(), expected);
}

TEST_F(PlacementIntegrationTest, AttributeChangesChangeLaterMemberOfPlacements) {
  const std::string blue = std::string(R"({"taskDefinition":"web","placementConstraints":[
      {"type":"memberOf","expression":"attribute:stack == blue"}],"placementStrategy":)") +
                           kSpreadInstance;
  // Blue: i1 and i3.
  EXPECT_THAT(Placed(Run(blue + R"(,"count":2})")), UnorderedElementsAre("i1", "i3"));

  // Now blue: i2 and i3. i2 has no task of the group, so it comes first; then i2 and i3 have one
  // each, and the other two go one to each.
  ASSERT_NO_FATAL_FAILURE(PutAttribute("i1", "stack", "green"));
  ASSERT_NO_FATAL_FAILURE(PutAttribute("i2", "stack", "blue"));
  std::vector<std::string> placed = Placed(Run(blue + R"(,"count":3})"));
  ASSERT_EQ(placed.size(), 3u);
  EXPECT_EQ(placed[0], "i2");
  EXPECT_THAT(Counts(placed),
              ElementsAre(std::pair<const std::string, int>("i2", 2), std::pair<const std::string, int>("i3", 1)));

  v1::ExplainPlacementResponse why = Explain(blue + R"(,"containerInstance":")" + arns_.at("i1") + R"("})");
  EXPECT_EQ(why.container_instance().rejected_by(), kMemberOf);
  EXPECT_FALSE(why.container_instance().feasible());

  // Deleting the attribute from i3 leaves i2 as the only blue instance.
  v1::DeleteAttributesRequest del;
  del.set_cluster(kCluster);
  auto* a = del.add_attributes();
  a->set_name("stack");
  a->set_target_id(arns_.at("i3"));
  v1::DeleteAttributesResponse deleted;
  ASSERT_TRUE(Call(*stub_, &CS::DeleteAttributes, del, &deleted).ok());
  EXPECT_THAT(Placed(Run(blue + R"(,"count":2})")), ElementsAre("i2", "i2"));
}

TEST_F(PlacementIntegrationTest, SpreadAcrossAttributeValuesFollowsAttributeChanges) {
  // spread(attribute:stack) with binpack(memory): blue is i1, i3; green the rest.
  const std::string by_stack = R"({"taskDefinition":"web","placementStrategy":[
      {"type":"spread","field":"attribute:stack"},{"type":"binpack","field":"memory"}])";
  // 1: both 0 -> least memory overall: i4 (green). 2: blue at 0 -> i1 (4000) before i3 (5000).
  EXPECT_THAT(Placed(Run(by_stack + R"(,"count":2})")), ElementsAre("i4", "i1"));
  // i4 (holding one task of the group) turns blue: blue now counts 2, green 0, so the next task is
  // green, on the green instance with the least memory: i6 (2500; i4 is no longer green).
  ASSERT_NO_FATAL_FAILURE(PutAttribute("i4", "stack", "blue"));
  EXPECT_THAT(Placed(Run(by_stack + "}")), ElementsAre("i6"));
  // green 1, blue 2 -> green again: i6 (2000) before i2 (3000).
  EXPECT_THAT(Placed(Run(by_stack + "}")), ElementsAre("i6"));
  // i1 (one task) turns green: blue counts 1 (i4), green 3, so blue: i4 (1500) before i3 (5000).
  ASSERT_NO_FATAL_FAILURE(PutAttribute("i1", "stack", "green"));
  EXPECT_THAT(Placed(Run(by_stack + "}")), ElementsAre("i4"));
}

TEST_F(PlacementIntegrationTest, ReservationsAndSpreadCountsSurviveRestarts) {
  ASSERT_NO_FATAL_FAILURE(FillI4());
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"svc","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":128,"memory":500}]})"));
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"proxy","networkMode":"bridge","containerDefinitions":[
      {"name":"app","image":"nginx","cpu":64,"memory":128,"portMappings":[{"containerPort":80,"hostPort":8080}]}]})"));
  const std::string svc = std::string(R"({"taskDefinition":"svc","placementStrategy":)") + kSpreadZoneBinpackMemory;
  const std::string filler = R"({"taskDefinition":"filler",
      "placementConstraints":[{"type":"memberOf","expression":"attribute:node == i4"}]})";
  const std::string proxy_on_i5 = R"({"taskDefinition":"proxy",
      "placementConstraints":[{"type":"memberOf","expression":"attribute:node == i5"}]})";

  // i4 is full, so: 1: every zone 0 -> least memory among the rest: i6 (2500, az-c).
  // 2: a, b at 0 -> i2 (3000, az-a) before i3 (5000, az-b).
  EXPECT_THAT(Placed(Run(svc + R"(,"count":2})")), ElementsAre("i6", "i2"));
  EXPECT_THAT(Placed(Run(proxy_on_i5)), ElementsAre("i5"));

  ASSERT_NO_FATAL_FAILURE(Restart(/*crash=*/false));
  // i4's reservations were rebuilt: still no room there.
  EXPECT_EQ(RemainingMemory("i4"), 0);
  EXPECT_EQ(Describe("i4").pending_tasks_count(), 4);
  v1::RunTaskResponse no_room = Run(filler);
  ASSERT_EQ(no_room.failures_size(), 1);
  EXPECT_EQ(no_room.failures(0).reason(), kMemberOf);
  EXPECT_EQ(no_room.failures(0).detail(), std::string(kMemberOf) + " on 5 instances, RESOURCE:MEMORY on 1 instance");
  // i5's host port 8080 is still held (and full i4 fails on memory before memberOf is checked).
  v1::RunTaskResponse port_taken = Run(proxy_on_i5);
  ASSERT_EQ(port_taken.failures_size(), 1);
  EXPECT_EQ(port_taken.failures(0).detail(),
            std::string(kMemberOf) + " on 4 instances, RESOURCE:MEMORY on 1 instance, RESOURCE:PORTS on 1 instance");
  // The spread counts were rebuilt: az-b is the only zone without a task of family:svc, and i4 is
  // full, so i3. (Lost counts would give i6, the least memory; lost reservations would give i4.)
  EXPECT_THAT(Placed(Run(svc + "}")), ElementsAre("i3"));

  ASSERT_NO_FATAL_FAILURE(Restart(/*crash=*/true));
  EXPECT_EQ(RemainingMemory("i4"), 0);
  // Every zone at 1: least memory overall among those that fit: i6 (2000). Then a, b at 1: i2 (2500)
  // before i3 (4500). Then b: i3.
  EXPECT_THAT(Placed(Run(svc + R"(,"count":3})")), ElementsAre("i6", "i2", "i3"));
  EXPECT_EQ(RemainingMemory("i6"), 2500 - 2 * 500);
  EXPECT_EQ(RemainingMemory("i3"), 5000 - 2 * 500);
  EXPECT_EQ(Run(filler).failures_size(), 1);
}

// Concurrent RunTask calls are placed one after another on the commit thread, each seeing the
// reservations of those before it (also within one commit batch): the fleet holds exactly 45 tasks
// of 500 MiB (8 + 6 + 10 + 4 + 12 + 5), never more.
TEST_F(PlacementIntegrationTest, ConcurrentRunTasksNeverOverbook) {
  constexpr int kCallers = 10;
  constexpr int kCallsEach = 5;
  const std::string web = WithStrategy(R"({"taskDefinition":"web"})", kBinpackMemory);
  std::vector<std::vector<v1::RunTaskResponse>> responses(kCallers);
  std::vector<std::vector<grpc::Status>> statuses(kCallers);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      auto stub = berthd_->NewStub();
      auto request = FromJson<v1::RunTaskRequest>(web);
      request.set_cluster(kCluster);
      for (int i = 0; i < kCallsEach; ++i) {
        v1::RunTaskResponse response;
        statuses[c].push_back(Call(*stub, &CS::RunTask, request, &response));
        responses[c].push_back(std::move(response));
      }
    });
  }
  for (auto& t : callers) t.join();
  int placed = 0, failed = 0;
  std::map<std::string, int> per_instance;
  for (int c = 0; c < kCallers; ++c) {
    for (int i = 0; i < kCallsEach; ++i) {
      ASSERT_TRUE(statuses[c][i].ok()) << statuses[c][i].error_message();
      for (const auto& name : Placed(responses[c][i])) ++per_instance[name];
      placed += responses[c][i].tasks_size();
      for (const auto& f : responses[c][i].failures()) {
        ++failed;
        EXPECT_EQ(f.reason(), "RESOURCE:MEMORY");
        EXPECT_EQ(f.detail(), "RESOURCE:MEMORY on 6 instances");
      }
    }
  }
  EXPECT_EQ(placed, 45);
  EXPECT_EQ(failed, kCallers * kCallsEach - 45);
  for (const InstanceSpec& spec : kFleet) {
    EXPECT_EQ(per_instance[spec.name], spec.memory / 500) << spec.name;
    EXPECT_EQ(RemainingMemory(spec.name), 0) << spec.name;
  }
}

TEST_F(PlacementIntegrationTest, DrainingInstancesTakeNoNewTasks) {
  auto set_status = [&](const std::string& name, const std::string& status) {
    v1::UpdateContainerInstancesStateRequest request;
    request.set_cluster(kCluster);
    request.add_container_instances(arns_.at(name));
    request.set_status(status);
    v1::UpdateContainerInstancesStateResponse response;
    grpc::Status s = Call(*stub_, &CS::UpdateContainerInstancesState, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  };
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"small","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":128,"memory":100}]})"));
  const std::string web = std::string(R"({"taskDefinition":"small","placementStrategy":)") + kBinpackMemory;
  ASSERT_NO_FATAL_FAILURE(set_status("i4", "DRAINING"));
  v1::ExplainPlacementResponse e = Explain(web + R"(,"containerInstance":")" + arns_.at("i4") + R"("})");
  EXPECT_EQ(e.candidates(), 6);
  EXPECT_EQ(e.feasible(), 5);
  ASSERT_EQ(e.rejections_size(), 1);
  EXPECT_EQ(e.rejections(0).reason(), "INACTIVE");
  EXPECT_TRUE(e.container_instance().registered());
  EXPECT_EQ(e.container_instance().rejected_by(), "INACTIVE");
  // i4 has the least memory but is draining: i6 is next (2500 -> 2400), and i4 again once active.
  EXPECT_THAT(Placed(Run(web + "}")), ElementsAre("i6"));
  ASSERT_NO_FATAL_FAILURE(set_status("i4", "ACTIVE"));
  EXPECT_THAT(Placed(Run(web + "}")), ElementsAre("i4"));
}

// Registering again with the instance's ARN replaces its resources and keeps what its tasks hold.
TEST_F(PlacementIntegrationTest, ReRegistrationKeepsReservations) {
  ASSERT_NO_FATAL_FAILURE(FillI4());
  auto request = FromJson<v1::RegisterContainerInstanceRequest>(
      R"({"totalResources":[{"name":"CPU","type":"INTEGER","integerValue":1024},
          {"name":"MEMORY","type":"INTEGER","integerValue":3000}]})");
  request.set_cluster(kCluster);
  request.set_container_instance_arn(arns_.at("i4"));
  v1::RegisterContainerInstanceResponse response;
  grpc::Status s = Call(*stub_, &CS::RegisterContainerInstance, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.container_instance().container_instance_arn(), arns_.at("i4"));
  EXPECT_EQ(RemainingMemory("i4"), 3000 - 4 * 500);
  // Two more fit on i4 (its attributes are kept: node is still i4), then it is full again.
  const std::string filler = R"({"taskDefinition":"filler","count":3,
      "placementConstraints":[{"type":"memberOf","expression":"attribute:node == i4"}]})";
  v1::RunTaskResponse more = Run(filler);
  EXPECT_THAT(Placed(more), ElementsAre("i4", "i4"));
  ASSERT_EQ(more.failures_size(), 1);
  EXPECT_EQ(more.failures(0).detail(), std::string(kMemberOf) + " on 5 instances, RESOURCE:MEMORY on 1 instance");
  ASSERT_NO_FATAL_FAILURE(Restart(/*crash=*/true));
  EXPECT_EQ(RemainingMemory("i4"), 0);
}

TEST_F(PlacementIntegrationTest, ExplainPlacementCountsRejectionsRanksAndGivesVerdicts) {
  ASSERT_NO_FATAL_FAILURE(FillI4());
  const std::string web = std::string(R"({"taskDefinition":"web","placementStrategy":)") + kBinpackMemory;

  // i4 is full; binpack(memory) ranks the rest by remaining memory.
  v1::ExplainPlacementResponse e = Explain(web + R"(,"containerInstance":")" + arns_.at("i4") + R"("})");
  EXPECT_EQ(e.candidates(), 6);
  EXPECT_EQ(e.feasible(), 5);
  ASSERT_EQ(e.rejections_size(), 1);
  EXPECT_EQ(e.rejections(0).reason(), "RESOURCE:MEMORY");
  EXPECT_EQ(e.rejections(0).instances(), 1);
  EXPECT_THAT(e.strategies(), ElementsAre("binpack(memory)"));
  const std::vector<std::pair<std::string, int64_t>> ranked = {
      {"i6", 2500}, {"i2", 3000}, {"i1", 4000}, {"i3", 5000}, {"i5", 6000}};
  ASSERT_EQ(e.top_candidates_size(), 5);
  for (int i = 0; i < 5; ++i) {
    const auto& c = e.top_candidates(i);
    EXPECT_EQ(Name(c.container_instance_arn()), ranked[i].first) << "rank " << i + 1;
    EXPECT_EQ(c.rank(), i + 1);
    ASSERT_EQ(c.scores_size(), 1);
    EXPECT_EQ(c.scores(0).strategy(), "binpack(memory)");
    EXPECT_EQ(c.scores(0).value(), ranked[i].second);
  }
  EXPECT_EQ(Name(e.chosen_container_instance_arn()), "i6");
  EXPECT_FALSE(e.has_failure());
  EXPECT_EQ(e.container_instance().container_instance_arn(), arns_.at("i4"));
  EXPECT_TRUE(e.container_instance().registered());
  EXPECT_FALSE(e.container_instance().feasible());
  EXPECT_EQ(e.container_instance().rejected_by(), "RESOURCE:MEMORY");

  // A feasible instance: its rank and scores.
  v1::ExplainPlacementResponse on_i1 = Explain(web + R"(,"containerInstance":")" + arns_.at("i1") + R"("})");
  EXPECT_TRUE(on_i1.container_instance().feasible());
  EXPECT_EQ(on_i1.container_instance().rank(), 3);
  EXPECT_FALSE(on_i1.container_instance().has_rejected_by());
  ASSERT_EQ(on_i1.container_instance().scores_size(), 1);
  EXPECT_EQ(on_i1.container_instance().scores(0).value(), 4000);

  // maxCandidates bounds the list, not the counts.
  v1::ExplainPlacementResponse two = Explain(web + R"(,"maxCandidates":2})");
  EXPECT_EQ(two.top_candidates_size(), 2);
  EXPECT_EQ(two.feasible(), 5);

  // An instance id that is not registered.
  v1::ExplainPlacementResponse unknown = Explain(web + R"(,"containerInstance":")" + std::string(32, 'a') + R"("})");
  EXPECT_FALSE(unknown.container_instance().registered());
  EXPECT_FALSE(unknown.container_instance().feasible());

  // Without a strategy, RunTask places at random, and ExplainPlacement says so.
  EXPECT_THAT(Explain(R"({"taskDefinition":"web"})").strategies(), ElementsAre("random"));

  // Explain, then run the same request: RunTask chooses the explained top candidate, each time.
  for (const char* chain : {kBinpackMemory, kSpreadZoneBinpackMemory, kSpreadInstance}) {
    SCOPED_TRACE(chain);
    const std::string request = WithStrategy(R"({"taskDefinition":"web"})", chain);
    for (int i = 0; i < 4; ++i) {
      v1::ExplainPlacementResponse before = Explain(request);
      ASSERT_GT(before.top_candidates_size(), 0);
      EXPECT_EQ(before.top_candidates(0).container_instance_arn(), before.chosen_container_instance_arn());
      v1::RunTaskResponse run = Run(request);
      ASSERT_EQ(run.tasks_size(), 1) << "step " << i;
      EXPECT_EQ(Name(run.tasks(0).container_instance_arn()), Name(before.chosen_container_instance_arn()))
          << "step " << i;
    }
  }
}

TEST_F(PlacementIntegrationTest, ExplainPlacementWhenNothingFitsMatchesRunTaskFailure) {
  ASSERT_NO_FATAL_FAILURE(RegisterTaskDefinition(R"({"family":"huge","containerDefinitions":[
      {"name":"app","image":"busybox","cpu":2048,"memory":7000}]})"));
  const std::string huge = WithStrategy(R"({"taskDefinition":"huge"})", kBinpackMemory);
  v1::ExplainPlacementResponse e = Explain(huge);
  EXPECT_EQ(e.candidates(), 6);
  EXPECT_EQ(e.feasible(), 0);
  EXPECT_EQ(e.top_candidates_size(), 0);
  EXPECT_FALSE(e.has_chosen_container_instance_arn());
  std::map<std::string, int> rejections;
  for (const auto& r : e.rejections()) rejections[r.reason()] = r.instances();
  EXPECT_THAT(rejections, ElementsAre(std::pair<const std::string, int>("RESOURCE:CPU", 2),
                                      std::pair<const std::string, int>("RESOURCE:MEMORY", 4)));
  v1::RunTaskResponse run = Run(huge);
  ASSERT_EQ(run.failures_size(), 1);
  EXPECT_EQ(e.failure().reason(), run.failures(0).reason());
  EXPECT_EQ(e.failure().detail(), run.failures(0).detail());
  EXPECT_EQ(e.failure().detail(), "RESOURCE:MEMORY on 4 instances, RESOURCE:CPU on 2 instances");

  // Overrides change the demand both explain and run see: 2100 MiB no longer fits i4 (2000).
  const std::string larger = WithStrategy(R"({"taskDefinition":"web",
      "overrides":{"containerOverrides":[{"name":"app","memory":2100}]}})",
                                          kBinpackMemory);
  v1::ExplainPlacementResponse larger_explained = Explain(larger);
  EXPECT_EQ(larger_explained.feasible(), 5);
  ASSERT_EQ(larger_explained.rejections_size(), 1);
  EXPECT_EQ(larger_explained.rejections(0).reason(), "RESOURCE:MEMORY");
  EXPECT_EQ(Name(larger_explained.chosen_container_instance_arn()), "i6");
  EXPECT_THAT(Placed(Run(larger)), ElementsAre("i6"));
  EXPECT_EQ(RemainingMemory("i6"), 2500 - 2100);
}

}  // namespace
}  // namespace berth
