// Tests of what src/controlplane/actions/validation.cc computes and of the helpers other doors
// call: a valid task definition's facts (demand, compatibilities, network mode), ParseTaskCpu and
// ParseTaskMemory, ValidateTags, DemandWithOverrides and NormalizeTaskDefinitionJson. The rules,
// one row each, are in validation_test.cc.
#include "src/controlplane/actions/validation.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/unit/controlplane/validation_test_util.h"

namespace berth::controlplane {
namespace {

using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

// ---- Facts: demand, compatibilities, network mode ----

struct FactsRow {
  std::string name;
  std::string json;
  int64_t cpu;
  int64_t memory;
  std::vector<int32_t> tcp;
  std::vector<int32_t> udp;
  std::string compatibilities;
  std::string network_mode;
  int32_t dynamic_tcp = 0;
  int32_t dynamic_udp = 0;
  bool eni = false;
  int32_t gpus = 0;
};

void PrintTo(const FactsRow& row, std::ostream* os) { *os << row.name; }

std::vector<FactsRow> FactsRows() {
  return {
      {"container sums without task size",
       Td(Bare("a", R"(,"cpu":100,"memory":128)") + "," +
          Bare("b", R"(,"cpu":200,"memory":256,"memoryReservation":64)")),
       300,
       192,
       {},
       {},
       "EC2,EXTERNAL",
       "bridge"},
      {"task size wins",
       Td(C("a", R"(,"cpu":10)"), R"(,"cpu":"1 vCPU","memory":"2GB")"),
       1024,
       2048,
       {},
       {},
       "EC2,EXTERNAL",
       "bridge"},
      {"bridge static and dynamic ports",
       Td(C(
           "a",
           R"(,"portMappings":[{"containerPort":80,"hostPort":8080},{"containerPort":81},{"containerPort":82,"hostPort":0},{"containerPort":53,"hostPort":5353,"protocol":"udp"}])")),
       0,
       64,
       {8080},
       {5353},
       "EC2,EXTERNAL",
       "bridge",
       2},
      {"host mode ports are container ports",
       Td(C("a", R"(,"portMappings":[{"containerPort":443},{"containerPort":80,"hostPort":80}])"),
          R"(,"networkMode":"host")"),
       0,
       64,
       {80, 443},
       {},
       "EC2,EXTERNAL",
       "host"},
      {"awsvpc ports are the task's own: an ENI slot, no host ports",
       Td(C("a", R"(,"portMappings":[{"containerPort":80},{"containerPortRange":"9000-9002","protocol":"udp"}])"),
          R"(,"networkMode":"awsvpc")"),
       0,
       64,
       {},
       {},
       "EC2",
       "awsvpc",
       0,
       0,
       true},
      {"bridge range is dynamic",
       Td(C("a", R"(,"portMappings":[{"containerPortRange":"9000-9002"},{"containerPort":53,"protocol":"udp"}])")),
       0,
       64,
       {},
       {},
       "EC2,EXTERNAL",
       "bridge",
       3,
       1},
      {"gpus summed over containers",
       Td(C("a", R"(,"resourceRequirements":[{"type":"GPU","value":"2"}])") + "," +
          C("b", R"(,"resourceRequirements":[{"type":"GPU","value":"1"}])")),
       0,
       128,
       {},
       {},
       "EC2,EXTERNAL",
       "bridge",
       0,
       0,
       false,
       3},
      {"fargate-shaped without requiresCompatibilities",
       Td(C(), R"(,"networkMode":"awsvpc","cpu":"256","memory":"512")"),
       256,
       512,
       {},
       {},
       "EC2,FARGATE",
       "awsvpc",
       0,
       0,
       true},
      {"privileged awsvpc is EC2 only",
       Td(C("a", R"(,"privileged":true)"), R"(,"networkMode":"awsvpc","cpu":"256","memory":"512")"),
       256,
       512,
       {},
       {},
       "EC2",
       "awsvpc",
       0,
       0,
       true},
      {"none network mode", Td(C(), R"(,"networkMode":"none")"), 0, 64, {}, {}, "EC2,EXTERNAL", "none"},
      {"efs rules out EXTERNAL",
       Td(C(), R"(,"volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-1"}}])"),
       0,
       64,
       {},
       {},
       "EC2",
       "bridge"},
  };
}

class TaskDefinitionFactsTest : public ::testing::TestWithParam<FactsRow> {};

TEST_P(TaskDefinitionFactsTest, ComputesDemandAndCompatibilities) {
  const FactsRow& row = GetParam();
  auto facts = ValidateTaskDefinition(Parse<v1::RegisterTaskDefinitionRequest>(row.json), Limits{});
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->demand.cpu(), row.cpu);
  EXPECT_EQ(facts->demand.memory(), row.memory);
  EXPECT_THAT(facts->demand.tcp_ports(), ElementsAreArray(row.tcp));
  EXPECT_THAT(facts->demand.udp_ports(), ElementsAreArray(row.udp));
  EXPECT_EQ(facts->demand.dynamic_tcp_ports(), row.dynamic_tcp);
  EXPECT_EQ(facts->demand.dynamic_udp_ports(), row.dynamic_udp);
  EXPECT_EQ(facts->demand.eni(), row.eni);
  EXPECT_EQ(facts->demand.gpus(), row.gpus);
  EXPECT_EQ(absl::StrJoin(facts->compatibilities, ","), row.compatibilities);
  EXPECT_EQ(facts->network_mode, row.network_mode);
}

INSTANTIATE_TEST_SUITE_P(Facts, TaskDefinitionFactsTest, ::testing::ValuesIn(FactsRows()),
                         [](const ::testing::TestParamInfo<FactsRow>& info) { return TestName(info.param.name); });

// ---- ParseTaskCpu / ParseTaskMemory ----

struct ParseRow {
  std::string text;
  std::optional<int64_t> value;  // nullopt: refused
  std::string error = "";        // substring when refused
};

TEST(ParseTaskCpuTest, Forms) {
  const ParseRow rows[] = {
      {"1024", 1024},
      {" 512 ", 512},
      {"1 vCPU", 1024},
      {"1vcpu", 1024},
      {"2 VCPU", 2048},
      {".25 vCPU", 256},
      {"0.5 vCPU", 512},
      {"0.125 vcpu", 128},
      {"128", 128},
      {"196608", 196608},
      {"192 vCPU", 196608},
      {"127", std::nullopt, "cpu: must be between 128 and 196608 CPU units (got 127)"},
      {"196609", std::nullopt, "must be between 128 and 196608"},
      {"0.1 vCPU", std::nullopt, "cpu: must be CPU units (\"1024\") or vCPUs"},
      {"1.5", std::nullopt, "must be CPU units"},
      {"-256", std::nullopt, "must be CPU units"},
      {"", std::nullopt, "must be CPU units"},
      {"vCPU", std::nullopt, "must be CPU units"},
      {"1 GHz", std::nullopt, "must be CPU units"},
      {"99999999999999999999", std::nullopt, "must be CPU units"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.text);
    auto got = ParseTaskCpu(row.text, "cpu");
    if (row.value) {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, *row.value);
    } else {
      ExpectOutcome(got.status(), row.error);
    }
  }
}

TEST(ParseTaskMemoryTest, Forms) {
  const ParseRow rows[] = {
      {"2048", 2048},
      {"2GB", 2048},
      {"2 GB", 2048},
      {"2gb", 2048},
      {"0.5GB", 512},
      {"1.5 GB", 1536},
      {"6", 6},
      {"5", std::nullopt, "memory: must be between 6 and 2147483647 MiB (got 5)"},
      {"2TB", std::nullopt, "memory: must be MiB (\"2048\") or GB"},
      {"2 GiB", std::nullopt, "must be MiB"},
      {"1e3", std::nullopt, "must be MiB"},
      {"", std::nullopt, "must be MiB"},
      {"0.0001GB", std::nullopt, "must be MiB"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.text);
    auto got = ParseTaskMemory(row.text, "memory");
    if (row.value) {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, *row.value);
    } else {
      ExpectOutcome(got.status(), row.error);
    }
  }
}

// ---- ValidateTags on its own (other doors call it with their own field) ----

TEST(ValidateTagsTest, Rules) {
  auto tags = [](const std::string& json) { return Parse<v1::CreateClusterRequest>(json).tags(); };
  Limits limits;
  ExpectOutcome(ValidateTags(tags(R"({"tags":[{"key":"k","value":""}]})"), "tags", limits), kOk);
  ExpectOutcome(ValidateTags(tags(R"({"tags":[{"value":"v"}]})"), "tags", limits), "tags[0].key: required");
  ExpectOutcome(
      ValidateTags(tags(absl::StrCat(R"({"tags":[{"key":")", std::string(128, 'k'), R"("}]})")), "tags", limits), kOk);
  ExpectOutcome(
      ValidateTags(tags(absl::StrCat(R"({"tags":[{"key":")", std::string(129, 'k'), R"("}]})")), "tags", limits),
      "tags[0].key: must be at most 128 characters (got 129)");
  // 128 two-byte characters are 128 characters.
  std::string accented;
  for (int i = 0; i < 128; ++i) accented += "\xc3\xa9";
  ExpectOutcome(ValidateTags(tags(absl::StrCat(R"({"tags":[{"key":")", accented, R"("}]})")), "tags", limits), kOk);
  ExpectOutcome(ValidateTags(tags(absl::StrCat(R"({"tags":[{"key":"k","value":")", std::string(256, 'v'), R"("}]})")),
                             "tags", limits),
                kOk);
  ExpectOutcome(ValidateTags(tags(absl::StrCat(R"({"tags":[{"key":"k","value":")", std::string(257, 'v'), R"("}]})")),
                             "tags", limits),
                "tags[0].value: must be at most 256 characters (got 257)");
  ExpectOutcome(ValidateTags(tags(R"({"tags":[{"key":"aws:x"}]})"), "resource.tags", limits),
                "resource.tags[0].key: the aws: prefix is reserved");
  limits.max_tags = 1;
  ExpectOutcome(ValidateTags(tags(R"({"tags":[{"key":"a"},{"key":"b"}]})"), "tags", limits),
                "tags: at most 1 tags (got 2)");
}

// ---- DemandWithOverrides ----

struct OverrideRow {
  std::string name;
  std::string overrides;  // TaskOverride JSON
  std::string expected;   // "ok" or an error substring
  int64_t cpu = 0;
  int64_t memory = 0;
};

void PrintTo(const OverrideRow& row, std::ostream* os) { *os << row.name; }

// Containers: web (cpu 256, memory 512, reservation 256), sidecar (cpu 128, memory 128); no task size.
constexpr char kOverrideTd[] = R"({"family":"app","containerDefinitions":[
    {"name":"web","image":"nginx","cpu":256,"memory":512,"memoryReservation":256},
    {"name":"sidecar","image":"envoy","cpu":128,"memory":128}]})";
// The same containers with task size 1024/2048.
constexpr char kSizedTd[] = R"({"family":"app","cpu":"1024","memory":"2048","containerDefinitions":[
    {"name":"web","image":"nginx","cpu":256,"memory":512,"memoryReservation":256},
    {"name":"sidecar","image":"envoy","cpu":128,"memory":128}]})";

std::vector<OverrideRow> OverrideRows() {
  return {
      {"no overrides", "{}", kOk, 384, 384},
      {"container cpu and memory", R"({"containerOverrides":[{"name":"sidecar","cpu":512,"memory":1024}]})", kOk, 768,
       1280},
      {"memoryReservation replaces memory in the sum",
       R"({"containerOverrides":[{"name":"sidecar","memoryReservation":64}]})", kOk, 384, 320},
      {"override of a reservation", R"({"containerOverrides":[{"name":"web","memoryReservation":512}]})", kOk, 384,
       640},
      {"task cpu and memory", R"({"cpu":"2 vCPU","memory":"4GB"})", kOk, 2048, 4096},
      {"name missing", R"({"containerOverrides":[{"cpu":1}]})", "overrides.containerOverrides[0].name: required"},
      {"name unknown", R"({"containerOverrides":[{"name":"db"}]})",
       "overrides.containerOverrides[0].name: 'db' names no container of task definition 'app'"},
      {"name twice", R"({"containerOverrides":[{"name":"web"},{"name":"web"}]})",
       "overrides.containerOverrides[1].name: 'web' is already overridden by overrides.containerOverrides[0]"},
      {"cpu negative", R"({"containerOverrides":[{"name":"web","cpu":-1}]})",
       "overrides.containerOverrides[0].cpu: must be 0 or more CPU units (got -1)"},
      {"cpu 0", R"({"containerOverrides":[{"name":"web","cpu":0}]})", kOk, 128, 384},
      {"memory 5", R"({"containerOverrides":[{"name":"web","memory":5}]})",
       "overrides.containerOverrides[0].memory: must be at least 6 MiB (got 5)"},
      {"memoryReservation 5", R"({"containerOverrides":[{"name":"web","memoryReservation":5}]})",
       "overrides.containerOverrides[0].memoryReservation: must be at least 6 MiB (got 5)"},
      {"memory below the definition's reservation", R"({"containerOverrides":[{"name":"web","memory":100}]})",
       "overrides.containerOverrides[0].memory: memory (100 MiB) must be at least memoryReservation (256 MiB) once "
       "overrides apply"},
      {"task cpu override out of range", R"({"cpu":"64"})", "overrides.cpu: must be between 128 and 196608"},
      {"task memory override unparsable", R"({"memory":"lots"})", "overrides.memory: must be MiB"},
      {"task memory below containers", R"({"memory":"256"})",
       "overrides.memory: container memory reservations add up to 384 MiB, more than the task-level memory (256 MiB)"},
      {"task cpu below containers", R"({"cpu":"256"})",
       "overrides.cpu: container cpu adds up to 384 units, more than the task-level cpu (256)"},
      {"ephemeral storage 20", R"({"ephemeralStorage":{"sizeInGiB":20}})",
       "overrides.ephemeralStorage.sizeInGiB: must be between 21 and 200 GiB (got 20)"},
  };
}

class DemandWithOverridesTest : public ::testing::TestWithParam<OverrideRow> {};

TEST_P(DemandWithOverridesTest, Recomputes) {
  const OverrideRow& row = GetParam();
  auto td = Parse<v1::TaskDefinition>(kOverrideTd);
  v1::ResourceDemand base;
  base.set_cpu(384);
  base.set_memory(384);
  base.add_tcp_ports(8080);
  base.add_udp_ports(53);
  auto demand = DemandWithOverrides(td, base, Parse<v1::TaskOverride>(row.overrides));
  ExpectOutcome(demand.status(), row.expected);
  if (row.expected == kOk && demand.ok()) {
    EXPECT_EQ(demand->cpu(), row.cpu);
    EXPECT_EQ(demand->memory(), row.memory);
    EXPECT_THAT(demand->tcp_ports(), ElementsAreArray({8080}));  // overrides never change ports
    EXPECT_THAT(demand->udp_ports(), ElementsAreArray({53}));
  }
}

INSTANTIATE_TEST_SUITE_P(Overrides, DemandWithOverridesTest, ::testing::ValuesIn(OverrideRows()),
                         [](const ::testing::TestParamInfo<OverrideRow>& info) { return TestName(info.param.name); });

TEST(DemandWithOverridesSizedTest, TaskSizeStaysUnlessOverridden) {
  auto td = Parse<v1::TaskDefinition>(kSizedTd);
  v1::ResourceDemand base;
  auto demand = DemandWithOverrides(
      td, base, Parse<v1::TaskOverride>(R"({"containerOverrides":[{"name":"sidecar","cpu":512,"memory":1024}]})"));
  ASSERT_TRUE(demand.ok()) << demand.status();
  EXPECT_EQ(demand->cpu(), 1024);
  EXPECT_EQ(demand->memory(), 2048);
  auto too_big = DemandWithOverrides(
      td, base, Parse<v1::TaskOverride>(R"({"containerOverrides":[{"name":"sidecar","cpu":1024}]})"));
  ExpectOutcome(
      too_big.status(),
      "overrides.containerOverrides: container cpu adds up to 1280 units, more than the task-level cpu (1024)");
}

// ---- NormalizeTaskDefinitionJson ----

TEST(NormalizeTaskDefinitionJsonTest, UnwrapsDescribeOutputAndDropsOutputOnlyMembers) {
  std::vector<std::string> dropped;
  auto json = NormalizeTaskDefinitionJson(
      R"({"taskDefinition":{"family":"f","revision":3,"status":"ACTIVE","taskDefinitionArn":"arn:x",
          "compatibilities":["EC2"],"requiresAttributes":[],"registeredAt":"2024-01-01T00:00:00Z",
          "registeredBy":"me","deregisteredAt":1.5,"containerDefinitions":[]},"tags":[{"key":"k","value":"v"}]})",
      &dropped);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"({"containerDefinitions":[],"family":"f","tags":[{"key":"k","value":"v"}]})");
  EXPECT_THAT(dropped, ElementsAreArray({"taskDefinitionArn", "revision", "status", "requiresAttributes",
                                         "compatibilities", "registeredAt", "registeredBy", "deregisteredAt"}));
}

TEST(NormalizeTaskDefinitionJsonTest, RegisterInputPassesThrough) {
  std::vector<std::string> dropped;
  auto json = NormalizeTaskDefinitionJson("  {\"family\":\"f\",\"cpu\":null,\"unknownMember\":1}", &dropped);
  ASSERT_TRUE(json.ok()) << json.status();
  // Unknown members stay, so the strict protobuf parse after this still refuses them.
  EXPECT_EQ(*json, R"({"cpu":null,"family":"f","unknownMember":1})");
  EXPECT_THAT(dropped, IsEmpty());
  EXPECT_TRUE(NormalizeTaskDefinitionJson(R"({"family":"f"})", nullptr).ok());
}

TEST(NormalizeTaskDefinitionJsonTest, RefusesWhatIsNotATaskDefinitionObject) {
  ExpectOutcome(NormalizeTaskDefinitionJson("[1,2]", nullptr).status(),
                "taskDefinition: must be a JSON object (got array)");
  ExpectOutcome(NormalizeTaskDefinitionJson("\"x\"", nullptr).status(), "must be a JSON object (got string)");
  ExpectOutcome(NormalizeTaskDefinitionJson("{\"family\":", nullptr).status(), "taskDefinition: not valid JSON");
  ExpectOutcome(NormalizeTaskDefinitionJson("", nullptr).status(), "taskDefinition: not valid JSON");
  ExpectOutcome(NormalizeTaskDefinitionJson(R"({"taskDefinition":[]})", nullptr).status(),
                "taskDefinition: must be a JSON object (got array)");
  ExpectOutcome(NormalizeTaskDefinitionJson(R"({"taskDefinition":{},"ResponseMetadata":{}})", nullptr).status(),
                "ResponseMetadata: unexpected beside taskDefinition");
  ExpectOutcome(
      NormalizeTaskDefinitionJson(R"({"taskDefinition":{"tags":[{"key":"a"}]},"tags":[{"key":"b"}]})", nullptr)
          .status(),
      "tags: given both beside and inside taskDefinition");
}

}  // namespace
}  // namespace berth::controlplane
