// Table-driven tests of src/controlplane/actions/validation.cc: one row per rule, each with the boundary
// that passes and the first value that fails. A row is a RegisterTaskDefinitionRequest in ECS JSON
// (parsed strictly with JsonStringToMessage) and either "ok" or a substring of the error, which
// starts with the field path and states the rule. What validation computes (the facts, the task
// size parsers, DemandWithOverrides, ...) is tested in validation_facts_test.cc.
#include "src/controlplane/actions/validation.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/unit/controlplane/validation_test_util.h"

namespace berth::controlplane {
namespace {

using ::testing::HasSubstr;

// ---- ValidateTaskDefinition: one row per rule ----

struct Row {
  std::string name;
  std::string json;      // RegisterTaskDefinitionRequest
  std::string expected;  // "ok" or an error substring
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

// A Fargate 256/512 task definition with `containers` and `extra` members.
std::string Fargate(const std::string& containers, const std::string& extra = "") {
  return Td(containers,
            absl::StrCat(R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512")",
                         extra));
}
std::string HealthCheck(const std::string& members) {
  return absl::StrCat(R"(,"healthCheck":{"command":["CMD-SHELL","true"])", members, "}");
}
std::string Tags(int n) {
  std::vector<std::string> ts;
  for (int i = 0; i < n; ++i) ts.push_back(absl::StrCat(R"({"key":"k)", i, R"(","value":"v"})"));
  return absl::StrCat(R"(,"tags":[)", absl::StrJoin(ts, ","), "]");
}
std::string Constraints(int n) {
  std::vector<std::string> ps;
  for (int i = 0; i < n; ++i) ps.push_back(R"({"type":"memberOf","expression":"attribute:x == y"})");
  return absl::StrCat(R"(,"placementConstraints":[)", absl::StrJoin(ps, ","), "]");
}
const std::string kSha = "sha256:" + std::string(64, 'a');

// Rows: the whole request, family, containers, images, sizes, modes.
std::vector<Row> RequestAndContainerRows() {
  return {
      // Whole request.
      {"minimal definition", Td(C()), kOk},
      {"json size at the limit passes",
       Td(C("a", absl::StrCat(R"(,"environment":[{"name":"X","value":")", std::string(64000, 'x'), R"("}])"))), kOk},
      {"json size above 64 KiB",
       Td(C("a", absl::StrCat(R"(,"environment":[{"name":"X","value":")", std::string(66000, 'x'), R"("}])"))),
       "taskDefinition: is 66"},

      // family
      {"family missing", R"({"containerDefinitions":[{"name":"a","image":"i","memory":64}]})", "family: required"},
      {"family empty", R"({"family":"","containerDefinitions":[{"name":"a","image":"i","memory":64}]})",
       "family: required"},
      {"family bad character", R"({"family":"a.b","containerDefinitions":[{"name":"a","image":"i","memory":64}]})",
       "family: may contain only letters, digits, '_' and '-'"},
      {"family 255 characters",
       absl::StrCat(R"({"family":")", std::string(255, 'f'), R"(","containerDefinitions":[)", C(), "]}"), kOk},
      {"family 256 characters",
       absl::StrCat(R"({"family":")", std::string(256, 'f'), R"(","containerDefinitions":[)", C(), "]}"),
       "family: must be at most 255 characters (got 256)"},

      // container count
      {"no containers", R"({"family":"f"})", "containerDefinitions: at least one container is required"},
      {"10 containers", Td(Containers(10)), kOk},
      {"11 containers", Td(Containers(11)), "containerDefinitions: at most 10 containers (got 11)"},

      // container name
      {"container name missing", Td(R"({"image":"i","memory":64})"), "containerDefinitions[0].name: required"},
      {"container name bad character", Td(C("a b")), "containerDefinitions[0].name: may contain only letters"},
      {"container name 255", Td(C(std::string(255, 'n'))), kOk},
      {"container name 256", Td(C(std::string(256, 'n'))), "containerDefinitions[0].name: must be at most 255"},
      {"container names unique", Td(C("a") + "," + C("a")),
       "containerDefinitions[1].name: container name 'a' is already used by containerDefinitions[0]"},

      // image
      {"image missing", Td(R"({"name":"a","memory":64})"), "containerDefinitions[0].image: required"},
      {"image empty", Td(R"({"name":"a","image":"","memory":64})"), "containerDefinitions[0].image: required"},
      {"image registry path tag",
       Td(R"({"name":"a","image":"012345678910.dkr.ecr.us-east-1.amazonaws.com/r/app:v1.2_3#x","memory":64})"), kOk},
      {"image digest", Td(absl::StrCat(R"({"name":"a","image":"repo/app@)", kSha, R"(","memory":64})")), kOk},
      {"image digest malformed", Td(R"({"name":"a","image":"repo/app@sha256:abc","memory":64})"),
       "containerDefinitions[0].image: digest must be sha256: followed by 64 hexadecimal digits"},
      {"image with space", Td(R"({"name":"a","image":"my image","memory":64})"),
       "containerDefinitions[0].image: may contain only letters, digits"},
      {"image 255 characters", Td(absl::StrCat(R"({"name":"a","image":")", std::string(255, 'i'), R"(","memory":64})")),
       kOk},
      {"image 256 characters", Td(absl::StrCat(R"({"name":"a","image":")", std::string(256, 'i'), R"(","memory":64})")),
       "containerDefinitions[0].image: must be at most 255 characters"},
      {"repositoryCredentials needs credentialsParameter", Td(C("a", R"(,"repositoryCredentials":{})")),
       "containerDefinitions[0].repositoryCredentials.credentialsParameter: required"},

      // container cpu and memory
      {"container cpu 0", Td(C("a", R"(,"cpu":0)")), kOk},
      {"container cpu negative", Td(C("a", R"(,"cpu":-1)")), "containerDefinitions[0].cpu: must be 0 or more"},
      {"memory 6", Td(Bare("a", R"(,"memory":6)")), kOk},
      {"memory 5", Td(Bare("a", R"(,"memory":5)")), "containerDefinitions[0].memory: must be at least 6 MiB (got 5)"},
      {"memoryReservation 6", Td(Bare("a", R"(,"memoryReservation":6)")), kOk},
      {"memoryReservation 5", Td(Bare("a", R"(,"memoryReservation":5)")),
       "containerDefinitions[0].memoryReservation: must be at least 6 MiB (got 5)"},
      {"memory equal to memoryReservation", Td(Bare("a", R"(,"memory":128,"memoryReservation":128)")), kOk},
      {"memory below memoryReservation", Td(Bare("a", R"(,"memory":127,"memoryReservation":128)")),
       "containerDefinitions[0].memory: must be at least memoryReservation (128 MiB) (got 127)"},
      {"no memory anywhere", Td(Bare("a", "")),
       "containerDefinitions[0].memory: set memory or memoryReservation on the container, or memory on the task"},
      {"task memory covers container", Td(Bare("a", ""), R"(,"memory":"512")"), kOk},
      {"container memory above task memory", Td(Bare("a", R"(,"memory":513)"), R"(,"memory":"512")"),
       "containerDefinitions[0].memory: must not exceed the task-level memory (512 MiB) (got 513)"},
      {"reservations add up to task memory",
       Td(Bare("a", R"(,"memoryReservation":256)") + "," + Bare("b", R"(,"memoryReservation":256)"),
          R"(,"memory":"512")"),
       kOk},
      {"reservations above task memory",
       Td(Bare("a", R"(,"memoryReservation":300)") + "," + Bare("b", R"(,"memoryReservation":300)"),
          R"(,"memory":"512")"),
       "containerDefinitions: container memory reservations add up to 600 MiB, more than the task-level memory "
       "(512 MiB)"},
      {"container cpu adds up to task cpu",
       Td(C("a", R"(,"cpu":64)") + "," + C("b", R"(,"cpu":64)"), R"(,"cpu":"128")"), kOk},
      {"container cpu above task cpu sum",
       Td(C("a", R"(,"cpu":100)") + "," + C("b", R"(,"cpu":100)"), R"(,"cpu":"128")"),
       "containerDefinitions: container cpu adds up to 200 units, more than the task-level cpu (128)"},
      {"one container cpu above task cpu", Td(C("a", R"(,"cpu":200)"), R"(,"cpu":"128")"),
       "containerDefinitions[0].cpu: must not exceed the task-level cpu (128 units) (got 200)"},

      // task-level cpu and memory strings
      {"task cpu 127", Td(C(), R"(,"cpu":"127")"), "cpu: must be between 128 and 196608 CPU units (got 127)"},
      {"task cpu 128", Td(C(), R"(,"cpu":"128")"), kOk},
      {"task cpu 196608", Td(C(), R"(,"cpu":"196608")"), kOk},
      {"task cpu 196609", Td(C(), R"(,"cpu":"196609")"), "cpu: must be between 128 and 196608"},
      {"task cpu vCPU form", Td(C(), R"(,"cpu":"0.25 vCPU")"), kOk},
      {"task cpu garbage", Td(C(), R"(,"cpu":"fast")"), "cpu: must be CPU units (\"1024\") or vCPUs"},
      {"task memory GB form", Td(C(), R"(,"memory":"2 GB")"), kOk},
      {"task memory 5", Td(C(), R"(,"memory":"5")"), "memory: must be between 6 and"},
      {"task memory unit unknown", Td(C(), R"(,"memory":"2TB")"), "memory: must be MiB (\"2048\") or GB"},

      // network, pid, ipc modes and launch types
      {"networkMode empty string", Td(C(), R"(,"networkMode":"")"),
       "networkMode: must be one of bridge, host, awsvpc, none (got '')"},
      {"networkMode unknown", Td(C(), R"(,"networkMode":"nat")"), "networkMode: must be one of bridge, host"},
      {"networkMode none", Td(C(), R"(,"networkMode":"none")"), kOk},
      {"pidMode empty string", Td(C(), R"(,"pidMode":"")"), "pidMode: must be one of host, task (got '')"},
      {"pidMode task", Td(C(), R"(,"pidMode":"task")"), kOk},
      {"ipcMode empty string", Td(C(), R"(,"ipcMode":"")"), "ipcMode: must be one of host, task, none (got '')"},
      {"ipcMode none", Td(C(), R"(,"ipcMode":"none")"), kOk},
      {"requiresCompatibilities unknown", Td(C(), R"(,"requiresCompatibilities":["EC2","ECS"])"),
       "requiresCompatibilities[1]: must be one of EC2, FARGATE, EXTERNAL (got 'ECS')"},
      {"requiresCompatibilities lowercase", Td(C(), R"(,"requiresCompatibilities":["fargate"])"),
       "requiresCompatibilities[0]: must be one of EC2, FARGATE, EXTERNAL"},

  };
}

// Rows: portMappings and essential.
std::vector<Row> PortMappingAndEssentialRows() {
  return {
      // portMappings
      {"containerPort required", Td(C("a", R"(,"portMappings":[{"hostPort":80}])")),
       "containerDefinitions[0].portMappings[0].containerPort: required unless containerPortRange is given"},
      {"containerPort 0", Td(C("a", R"(,"portMappings":[{"containerPort":0}])")),
       "containerDefinitions[0].portMappings[0].containerPort: must be between 1 and 65535 (got 0)"},
      {"containerPort 65535", Td(C("a", R"(,"portMappings":[{"containerPort":65535}])")), kOk},
      {"containerPort 65536", Td(C("a", R"(,"portMappings":[{"containerPort":65536}])")),
       "portMappings[0].containerPort: must be between 1 and 65535 (got 65536)"},
      {"protocol uppercase", Td(C("a", R"(,"portMappings":[{"containerPort":80,"protocol":"TCP"}])")),
       "containerDefinitions[0].portMappings[0].protocol: must be one of tcp, udp (got 'TCP')"},
      {"protocol udp", Td(C("a", R"(,"portMappings":[{"containerPort":53,"protocol":"udp"}])")), kOk},
      {"bridge hostPort 0 dynamic", Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":0}])")), kOk},
      {"bridge hostPort 65535", Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":65535}])")), kOk},
      {"bridge hostPort 65536", Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":65536}])")),
       "containerDefinitions[0].portMappings[0].hostPort: must be between 0 and 65535 (got 65536)"},
      {"bridge hostPort negative", Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":-1}])")),
       "portMappings[0].hostPort: must be between 0 and 65535 (got -1)"},
      {"host mode hostPort differs",
       Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":81}])"), R"(,"networkMode":"host")"),
       "containerDefinitions[0].portMappings[0].hostPort: must be absent or equal to containerPort (80) in host "
       "network "
       "mode (got 81)"},
      {"host mode hostPort equal",
       Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":80}])"), R"(,"networkMode":"host")"), kOk},
      {"awsvpc hostPort differs",
       Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":8080}])"), R"(,"networkMode":"awsvpc")"),
       "hostPort: must be absent or equal to containerPort (80) in awsvpc network mode (got 8080)"},
      {"awsvpc hostPort absent", Td(C("a", R"(,"portMappings":[{"containerPort":80}])"), R"(,"networkMode":"awsvpc")"),
       kOk},
      {"static host port twice in a container",
       Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":8000},{"containerPort":81,"hostPort":8000}])")),
       "containerDefinitions[0].portMappings[1].hostPort: tcp host port 8000 is already mapped by "
       "containerDefinitions[0].portMappings[0]"},
      {"static host port twice in the task",
       Td(C("a", R"(,"portMappings":[{"containerPort":80,"hostPort":80}])") + "," +
          C("b", R"(,"portMappings":[{"containerPort":80,"hostPort":80}])")),
       "containerDefinitions[1].portMappings[0].hostPort: tcp host port 80 is already mapped by "
       "containerDefinitions[0].portMappings[0]"},
      {"awsvpc container port twice in the task",
       Td(C("a", R"(,"portMappings":[{"containerPort":80}])") + "," +
              C("b", R"(,"portMappings":[{"containerPort":80}])"),
          R"(,"networkMode":"awsvpc")"),
       "containerDefinitions[1].portMappings[0].hostPort: tcp host port 80 is already mapped"},
      {"same port tcp and udp",
       Td(C(
           "a",
           R"(,"portMappings":[{"containerPort":53,"hostPort":53},{"containerPort":53,"hostPort":53,"protocol":"udp"}])")),
       kOk},
      {"dynamic host ports may repeat",
       Td(C("a", R"(,"portMappings":[{"containerPort":80}])") + "," +
          C("b", R"(,"portMappings":[{"containerPort":80}])")),
       kOk},
      {"networkMode none refuses portMappings",
       Td(C("a", R"(,"portMappings":[{"containerPort":80}])"), R"(,"networkMode":"none")"),
       "containerDefinitions[0].portMappings: not allowed when networkMode is none"},
      {"containerPortRange bridge", Td(C("a", R"(,"portMappings":[{"containerPortRange":"8000-8010"}])")), kOk},
      {"containerPortRange reversed", Td(C("a", R"(,"portMappings":[{"containerPortRange":"8010-8000"}])")),
       "containerDefinitions[0].portMappings[0].containerPortRange: must be 'first-last' with 1 <= first < last <= "
       "65535"},
      {"containerPortRange with containerPort",
       Td(C("a", R"(,"portMappings":[{"containerPort":8000,"containerPortRange":"8000-8010"}])")),
       "portMappings[0]: give containerPort or containerPortRange, not both"},
      {"containerPortRange with hostPort",
       Td(C("a", R"(,"portMappings":[{"containerPortRange":"8000-8010","hostPort":8000}])")),
       "portMappings[0].hostPort: must be absent with containerPortRange"},
      {"containerPortRange in host mode",
       Td(C("a", R"(,"portMappings":[{"containerPortRange":"8000-8010"}])"), R"(,"networkMode":"host")"),
       "portMappings[0].containerPortRange: needs networkMode bridge or awsvpc (got host)"},
      {"containerPortRange overlap",
       Td(C("a", R"(,"portMappings":[{"containerPortRange":"8000-8010"},{"containerPortRange":"8010-8020"}])")),
       "portMappings[1].containerPortRange: overlaps another tcp port mapping of this container (8000-8010)"},
      {"containerPort inside a range",
       Td(C("a", R"(,"portMappings":[{"containerPortRange":"8000-8010"},{"containerPort":8005}])")),
       "portMappings[1].containerPort: overlaps another tcp port mapping of this container (8000-8010)"},
      {"containerPort beside a range",
       Td(C("a", R"(,"portMappings":[{"containerPortRange":"8000-8010"},{"containerPort":8011}])")), kOk},
      {"appProtocol empty string", Td(C("a", R"(,"portMappings":[{"containerPort":80,"appProtocol":""}])")),
       "containerDefinitions[0].portMappings[0].appProtocol: must be one of http, http2, grpc (got '')"},
      {"appProtocol http", Td(C("a", R"(,"portMappings":[{"containerPort":80,"appProtocol":"http","name":"web-80"}])")),
       kOk},
      {"port mapping name uppercase", Td(C("a", R"(,"portMappings":[{"containerPort":80,"name":"Web"}])")),
       "portMappings[0].name: must be 1-64 lowercase letters, digits, '_' or '-'"},
      {"port mapping names unique",
       Td(C("a", R"(,"portMappings":[{"containerPort":80,"name":"web"},{"containerPort":81,"name":"web"}])")),
       "portMappings[1].name: port mapping name 'web' is already used by containerDefinitions[0].portMappings[0]"},

      // essential
      {"no essential container", Td(C("a", R"(,"essential":false)") + "," + C("b", R"(,"essential":false)")),
       "containerDefinitions: at least one container must be essential"},
      {"essential defaults to true", Td(C("a", R"(,"essential":false)") + "," + C("b")), kOk},

  };
}

// Rows: dependsOn, links and healthCheck.
std::vector<Row> DependencyAndHealthCheckRows() {
  return {
      // dependsOn
      {"dependsOn unknown container", Td(C("a", R"(,"dependsOn":[{"containerName":"x","condition":"START"}])")),
       "containerDefinitions[0].dependsOn[0].containerName: 'x' names no container of this task definition"},
      {"dependsOn itself", Td(C("a", R"(,"dependsOn":[{"containerName":"a","condition":"START"}])")),
       "containerDefinitions[0].dependsOn[0].containerName: a container cannot depend on itself"},
      {"dependsOn condition unknown",
       Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"RUNNING"}])") + "," + C("b")),
       "containerDefinitions[0].dependsOn[0].condition: must be one of START, COMPLETE, SUCCESS, HEALTHY (got "
       "'RUNNING')"},
      {"dependsOn condition missing", Td(C("a", R"(,"dependsOn":[{"containerName":"b"}])") + "," + C("b")),
       "containerDefinitions[0].dependsOn[0].condition: required"},
      {"dependsOn START", Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"START"}])") + "," + C("b")),
       kOk},
      {"dependsOn HEALTHY without healthCheck",
       Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"HEALTHY"}])") + "," + C("b")),
       "containerDefinitions[0].dependsOn[0].condition: HEALTHY needs a healthCheck on containerDefinitions[1]"},
      {"dependsOn HEALTHY with healthCheck",
       Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"HEALTHY"}])") + "," + C("b", HealthCheck(""))),
       kOk},
      {"dependsOn SUCCESS on essential",
       Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"SUCCESS"}])") + "," + C("b")),
       "containerDefinitions[0].dependsOn[0].condition: SUCCESS cannot be set on an essential container ('b')"},
      {"dependsOn COMPLETE on non-essential",
       Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"COMPLETE"}])") + "," +
          C("b", R"(,"essential":false)")),
       kOk},
      {"dependsOn cycle of two",
       Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"START"}])") + "," +
          C("b", R"(,"dependsOn":[{"containerName":"a","condition":"START"}])")),
       "containerDefinitions[1].dependsOn[0].containerName: dependency cycle a -> b -> a"},
      {"dependsOn cycle of three",
       Td(C("a", R"(,"dependsOn":[{"containerName":"b","condition":"START"}])") + "," +
          C("b", R"(,"dependsOn":[{"containerName":"c","condition":"START"}])") + "," +
          C("c", R"(,"dependsOn":[{"containerName":"b","condition":"START"}])")),
       "containerDefinitions[2].dependsOn[0].containerName: dependency cycle b -> c -> b"},
      {"dependsOn diamond is no cycle",
       Td(C("a",
            R"(,"dependsOn":[{"containerName":"b","condition":"START"},{"containerName":"c","condition":"START"}])") +
          "," + C("b", R"(,"dependsOn":[{"containerName":"d","condition":"START"}])") + "," +
          C("c", R"(,"dependsOn":[{"containerName":"d","condition":"START"}])") + "," + C("d")),
       kOk},

      // links
      {"link with alias", Td(C("a", R"(,"links":["b:db"])") + "," + C("b")), kOk},
      {"link to unknown container", Td(C("a", R"(,"links":["app-container:app-container"])") + "," + C("b")),
       "containerDefinitions[0].links[0]: 'app-container' names no container of this task definition"},
      {"link to itself", Td(C("a", R"(,"links":["a"])")),
       "containerDefinitions[0].links[0]: a container cannot link to itself"},
      {"link with empty alias", Td(C("a", R"(,"links":["b:"])") + "," + C("b")),
       "containerDefinitions[0].links[0]: alias after ':' must be"},
      {"link outside bridge mode", Td(C("a", R"(,"links":["b"])") + "," + C("b"), R"(,"networkMode":"awsvpc")"),
       "containerDefinitions[0].links[0]: links need networkMode bridge (networkMode is awsvpc)"},

      // healthCheck
      {"healthCheck without command", Td(C("a", R"(,"healthCheck":{"interval":30})")),
       "containerDefinitions[0].healthCheck.command: required"},
      {"healthCheck command form unknown", Td(C("a", R"(,"healthCheck":{"command":["curl","-f","x"]})")),
       "containerDefinitions[0].healthCheck.command[0]: must be CMD or CMD-SHELL (got 'curl')"},
      {"healthCheck CMD-SHELL alone", Td(C("a", R"(,"healthCheck":{"command":["CMD-SHELL"]})")),
       "containerDefinitions[0].healthCheck.command: CMD-SHELL must be followed by the command to run"},
      {"healthCheck CMD exec form", Td(C("a", R"(,"healthCheck":{"command":["CMD","/bin/check","--quick"]})")), kOk},
      {"healthCheck interval 4", Td(C("a", HealthCheck(R"(,"interval":4)"))),
       "containerDefinitions[0].healthCheck.interval: must be between 5 and 300 seconds (got 4)"},
      {"healthCheck interval 5 and 300",
       Td(C("a", HealthCheck(R"(,"interval":5)")) + "," + C("b", HealthCheck(R"(,"interval":300)"))), kOk},
      {"healthCheck interval 301", Td(C("a", HealthCheck(R"(,"interval":301)"))),
       "healthCheck.interval: must be between 5 and 300"},
      {"healthCheck timeout 1", Td(C("a", HealthCheck(R"(,"timeout":1)"))),
       "containerDefinitions[0].healthCheck.timeout: must be between 2 and 60 seconds (got 1)"},
      {"healthCheck timeout 2 and 60",
       Td(C("a", HealthCheck(R"(,"timeout":2)")) + "," + C("b", HealthCheck(R"(,"timeout":60)"))), kOk},
      {"healthCheck timeout 61", Td(C("a", HealthCheck(R"(,"timeout":61)"))),
       "healthCheck.timeout: must be between 2 and 60"},
      {"healthCheck retries 0", Td(C("a", HealthCheck(R"(,"retries":0)"))),
       "containerDefinitions[0].healthCheck.retries: must be between 1 and 10 (got 0)"},
      {"healthCheck retries 1 and 10",
       Td(C("a", HealthCheck(R"(,"retries":1)")) + "," + C("b", HealthCheck(R"(,"retries":10)"))), kOk},
      {"healthCheck retries 11", Td(C("a", HealthCheck(R"(,"retries":11)"))),
       "healthCheck.retries: must be between 1 and 10"},
      {"healthCheck startPeriod -1", Td(C("a", HealthCheck(R"(,"startPeriod":-1)"))),
       "containerDefinitions[0].healthCheck.startPeriod: must be between 0 and 300 seconds (got -1)"},
      {"healthCheck startPeriod 0 and 300",
       Td(C("a", HealthCheck(R"(,"startPeriod":0)")) + "," + C("b", HealthCheck(R"(,"startPeriod":300)"))), kOk},
      {"healthCheck startPeriod 301", Td(C("a", HealthCheck(R"(,"startPeriod":301)"))),
       "healthCheck.startPeriod: must be between 0 and 300"},

  };
}

// Rows: Fargate, EXTERNAL, volumes and mounts.
std::vector<Row> FargateExternalAndVolumeRows() {
  return {
      // Fargate
      {"fargate 256/512", Fargate(C()), kOk},
      {"fargate needs awsvpc", Td(C(), R"(,"requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512")"),
       "networkMode: FARGATE requires awsvpc (got bridge (default)) (requiresCompatibilities includes FARGATE)"},
      {"fargate needs task cpu",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"memory":"512")"),
       "cpu: FARGATE requires task-level cpu"},
      {"fargate needs task memory",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256")"),
       "memory: FARGATE requires task-level memory"},
      {"fargate 256/4096 not offered",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"4096")"),
       "memory: FARGATE does not offer 4096 MiB with cpu 256"},
      {"fargate 4096/30720",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"4 vCPU","memory":"30GB")"), kOk},
      {"fargate 4096/31744 not offered",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"4096","memory":"31744")"),
       "memory: FARGATE does not offer 31744 MiB with cpu 4096"},
      {"fargate 8192/20480",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"8192","memory":"20480")"), kOk},
      {"fargate 8192/18432 off step",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"8192","memory":"18432")"),
       "memory: FARGATE does not offer 18432 MiB with cpu 8192"},
      {"fargate cpu 384 not offered",
       Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"384","memory":"1024")"),
       "memory: FARGATE does not offer 1024 MiB with cpu 384"},
      {"fargate privileged", Fargate(C("a", R"(,"privileged":true)")),
       "containerDefinitions[0].privileged: not supported on FARGATE (requiresCompatibilities includes FARGATE)"},
      {"fargate privileged false", Fargate(C("a", R"(,"privileged":false)")), kOk},
      {"fargate pidMode host", Fargate(C(), R"(,"pidMode":"host")"), "pidMode: host is not supported on FARGATE"},
      {"fargate pidMode task", Fargate(C(), R"(,"pidMode":"task")"), kOk},
      {"fargate ipcMode", Fargate(C(), R"(,"ipcMode":"task")"), "ipcMode: not supported on FARGATE"},
      {"fargate placementConstraints", Fargate(C(), Constraints(1)), "placementConstraints: not supported on FARGATE"},
      {"fargate gpu", Fargate(C("a", R"(,"resourceRequirements":[{"type":"GPU","value":"1"}])")),
       "containerDefinitions[0].resourceRequirements[0]: GPU is not supported on FARGATE"},
      {"fargate host volume with sourcePath",
       Fargate(C(), R"(,"volumes":[{"name":"v","host":{"sourcePath":"/data"}}])"),
       "volumes[0].host.sourcePath: not supported on FARGATE"},
      {"fargate bind volume without sourcePath", Fargate(C(), R"(,"volumes":[{"name":"v","host":{}}])"), kOk},
      {"fargate docker volume",
       Fargate(C(), R"(,"volumes":[{"name":"v","dockerVolumeConfiguration":{"scope":"task"}}])"),
       "volumes[0].dockerVolumeConfiguration: not supported on FARGATE"},
      {"fargate log driver", Fargate(C("a", R"(,"logConfiguration":{"logDriver":"json-file"})")),
       "containerDefinitions[0].logConfiguration.logDriver: FARGATE supports only awslogs, splunk, awsfirelens (got "
       "'json-file')"},
      {"fargate devices", Fargate(C("a", R"(,"linuxParameters":{"devices":[{"hostPath":"/dev/fuse"}]})")),
       "containerDefinitions[0].linuxParameters.devices: not supported on FARGATE"},
      {"fargate capability SYS_PTRACE",
       Fargate(C("a", R"(,"linuxParameters":{"capabilities":{"add":["SYS_PTRACE"]}})")), kOk},
      {"fargate capability NET_ADMIN", Fargate(C("a", R"(,"linuxParameters":{"capabilities":{"add":["NET_ADMIN"]}})")),
       "containerDefinitions[0].linuxParameters.capabilities.add[0]: FARGATE can add only SYS_PTRACE (got "
       "'NET_ADMIN')"},
      {"fargate dnsServers", Fargate(C("a", R"(,"dnsServers":["10.0.0.2"])")),
       "containerDefinitions[0].dnsServers: not supported on FARGATE"},
      {"fargate stopTimeout 120", Fargate(C("a", R"(,"stopTimeout":120)")), kOk},
      {"fargate stopTimeout 121", Fargate(C("a", R"(,"stopTimeout":121)")),
       "containerDefinitions[0].stopTimeout: must be between 2 and 120 seconds on FARGATE (got 121)"},
      {"fargate startTimeout 1", Fargate(C("a", R"(,"startTimeout":1)")),
       "containerDefinitions[0].startTimeout: must be between 2 and 120 seconds on FARGATE (got 1)"},
      {"ec2 stopTimeout above 120", Td(C("a", R"(,"stopTimeout":600)")), kOk},
      {"stopTimeout negative", Td(C("a", R"(,"stopTimeout":-1)")),
       "containerDefinitions[0].stopTimeout: must be 0 or more"},
      {"startTimeout negative", Td(C("a", R"(,"startTimeout":-1)")),
       "containerDefinitions[0].startTimeout: must be 0 or more"},

      // EXTERNAL
      {"external bridge", Td(C(), R"(,"requiresCompatibilities":["EXTERNAL"])"), kOk},
      {"external awsvpc", Td(C(), R"(,"networkMode":"awsvpc","requiresCompatibilities":["EXTERNAL"])"),
       "networkMode: awsvpc is not supported on EXTERNAL (requiresCompatibilities includes EXTERNAL)"},

      // volumes and mounts
      {"volume name missing", Td(C(), R"(,"volumes":[{"host":{}}])"), "volumes[0].name: required"},
      {"volume name bad character", Td(C(), R"(,"volumes":[{"name":"v/1"}])"), "volumes[0].name: may contain only"},
      {"volume names unique", Td(C(), R"(,"volumes":[{"name":"v"},{"name":"v"}])"),
       "volumes[1].name: volume name 'v' is already used by volumes[0]"},
      {"volume of two kinds",
       Td(C(), R"(,"volumes":[{"name":"v","host":{},"efsVolumeConfiguration":{"fileSystemId":"fs-1"}}])"),
       "volumes[0]: give at most one of host, dockerVolumeConfiguration, efsVolumeConfiguration"},
      {"mountPoint names a volume",
       Td(C("a", R"(,"mountPoints":[{"sourceVolume":"v","containerPath":"/d"}])"),
          R"(,"volumes":[{"name":"v","host":{"sourcePath":"/srv"}}])"),
       kOk},
      {"mountPoint unknown volume", Td(C("a", R"(,"mountPoints":[{"sourceVolume":"x","containerPath":"/d"}])")),
       "containerDefinitions[0].mountPoints[0].sourceVolume: 'x' names no volume of this task definition"},
      {"mountPoint sourceVolume missing", Td(C("a", R"(,"mountPoints":[{"containerPath":"/d"}])")),
       "containerDefinitions[0].mountPoints[0].sourceVolume: required"},
      {"mountPoint containerPath missing",
       Td(C("a", R"(,"mountPoints":[{"sourceVolume":"v"}])"), R"(,"volumes":[{"name":"v"}])"),
       "containerDefinitions[0].mountPoints[0].containerPath: required"},
      {"volumesFrom another container", Td(C("a", R"(,"volumesFrom":[{"sourceContainer":"b"}])") + "," + C("b")), kOk},
      {"volumesFrom unknown container", Td(C("a", R"(,"volumesFrom":[{"sourceContainer":"web"}])")),
       "containerDefinitions[0].volumesFrom[0].sourceContainer: 'web' names no container of this task definition"},
      {"volumesFrom itself", Td(C("a", R"(,"volumesFrom":[{"sourceContainer":"a"}])")),
       "volumesFrom[0].sourceContainer: a container cannot mount volumes from itself"},
      {"efs needs fileSystemId", Td(C(), R"(,"volumes":[{"name":"v","efsVolumeConfiguration":{"rootDirectory":"/"}}])"),
       "volumes[0].efsVolumeConfiguration.fileSystemId: required"},
      {"efs transitEncryption value",
       Td(C(),
          R"(,"volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-1","transitEncryption":"on"}}])"),
       "volumes[0].efsVolumeConfiguration.transitEncryption: must be one of ENABLED, DISABLED (got 'on')"},
      {"efs iam needs transit encryption",
       Td(C(),
          R"(,"volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-1","authorizationConfig":{"iam":"ENABLED"}}}])"),
       "volumes[0].efsVolumeConfiguration.authorizationConfig.iam: ENABLED requires transitEncryption ENABLED"},
      {"efs iam with transit encryption",
       Td(C(),
          R"(,"volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-1","transitEncryption":"ENABLED","authorizationConfig":{"iam":"ENABLED","accessPointId":"fsap-1"}}}])"),
       kOk},
      {"efs access point needs transit encryption",
       Td(C(),
          R"(,"volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-1","authorizationConfig":{"accessPointId":"fsap-1"}}}])"),
       "authorizationConfig.accessPointId: an access point requires transitEncryption ENABLED"},
      {"efs access point with root directory",
       Td(C(),
          R"(,"volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-1","rootDirectory":"/data","transitEncryption":"ENABLED","authorizationConfig":{"accessPointId":"fsap-1"}}}])"),
       "volumes[0].efsVolumeConfiguration.rootDirectory: must be omitted or '/' when an access point is used"},
      {"docker volume scope unknown",
       Td(C(), R"(,"volumes":[{"name":"v","dockerVolumeConfiguration":{"scope":"global"}}])"),
       "volumes[0].dockerVolumeConfiguration.scope: must be one of task, shared (got 'global')"},
      {"docker volume scope shared",
       Td(C(),
          R"(,"volumes":[{"name":"v","dockerVolumeConfiguration":{"scope":"shared","autoprovision":true,"driver":"local"}}])"),
       kOk},
      {"ephemeralStorage 20", Td(C(), R"(,"ephemeralStorage":{"sizeInGiB":20})"),
       "ephemeralStorage.sizeInGiB: must be between 21 and 200 GiB (got 20)"},
      {"ephemeralStorage 21", Td(C(), R"(,"ephemeralStorage":{"sizeInGiB":21})"), kOk},
      {"ephemeralStorage 200", Td(C(), R"(,"ephemeralStorage":{"sizeInGiB":200})"), kOk},
      {"ephemeralStorage 201", Td(C(), R"(,"ephemeralStorage":{"sizeInGiB":201})"),
       "ephemeralStorage.sizeInGiB: must be between 21 and 200 GiB (got 201)"},

  };
}

// Rows: ulimits, logging, secrets, environment, placement, tags, proxy, platform, other members.
std::vector<Row> OtherContainerRows() {
  return {
      // ulimits, logging, secrets, environment
      {"ulimit nofile", Td(C("a", R"(,"ulimits":[{"name":"nofile","softLimit":1024,"hardLimit":4096}])")), kOk},
      {"ulimit name unknown", Td(C("a", R"(,"ulimits":[{"name":"files","softLimit":1,"hardLimit":1}])")),
       "containerDefinitions[0].ulimits[0].name: must be one of core, cpu, data"},
      {"ulimit soft above hard", Td(C("a", R"(,"ulimits":[{"name":"nofile","softLimit":4097,"hardLimit":4096}])")),
       "containerDefinitions[0].ulimits[0].softLimit: must not exceed hardLimit (4096) (got 4097)"},
      {"ulimit hardLimit missing", Td(C("a", R"(,"ulimits":[{"name":"nofile","softLimit":1}])")),
       "containerDefinitions[0].ulimits[0].hardLimit: required"},
      {"log driver none", Td(C("a", R"(,"logConfiguration":{"logDriver":"none"})")),
       "containerDefinitions[0].logConfiguration.logDriver: must be one of awslogs, fluentd, gelf"},
      {"log driver missing", Td(C("a", R"(,"logConfiguration":{"options":{"a":"b"}})")),
       "containerDefinitions[0].logConfiguration.logDriver: required"},
      {"log driver awsfirelens without router", Td(C("a", R"(,"logConfiguration":{"logDriver":"awsfirelens"})")),
       "containerDefinitions[0].logConfiguration.logDriver: awsfirelens needs a log router"},
      {"log driver awsfirelens with router",
       Td(C("a", R"(,"logConfiguration":{"logDriver":"awsfirelens"})") + "," +
          C("router", R"(,"firelensConfiguration":{"type":"fluentbit"})")),
       kOk},
      {"firelens type unknown", Td(C("a", R"(,"firelensConfiguration":{"type":"logstash"})")),
       "containerDefinitions[0].firelensConfiguration.type: must be one of fluentd, fluentbit (got 'logstash')"},
      {"secret without name",
       Td(C("a", R"(,"secrets":[{"valueFrom":"arn:aws:ssm:::parameter/x"}])"), R"(,"executionRoleArn":"r")"),
       "containerDefinitions[0].secrets[0].name: required"},
      {"secret without valueFrom", Td(C("a", R"(,"secrets":[{"name":"X"}])"), R"(,"executionRoleArn":"r")"),
       "containerDefinitions[0].secrets[0].valueFrom: required"},
      {"secrets need an execution role",
       Td(C("a", R"(,"secrets":[{"name":"X","valueFrom":"arn:aws:ssm:::parameter/x"}])")),
       "executionRoleArn: required when containers use secrets"},
      {"secrets with an execution role",
       Td(C("a", R"(,"secrets":[{"name":"X","valueFrom":"arn:aws:ssm:::parameter/x"}])"),
          R"(,"executionRoleArn":"arn:aws:iam::1:role/exec")"),
       kOk},
      {"environment name empty", Td(C("a", R"(,"environment":[{"name":"","value":"v"}])")),
       "containerDefinitions[0].environment[0].name: required"},
      {"environmentFiles type", Td(C("a", R"(,"environmentFiles":[{"value":"arn:aws:s3:::b/k.env","type":"http"}])")),
       "containerDefinitions[0].environmentFiles[0].type: must be one of s3 (got 'http')"},

      // placement constraints, tags, proxy, runtime platform, resources
      {"placement constraint memberOf", Td(C(), Constraints(1)), kOk},
      {"placement constraint type", Td(C(), R"(,"placementConstraints":[{"type":"distinctInstance"}])"),
       "placementConstraints[0].type: must be one of memberOf (got 'distinctInstance')"},
      {"placement constraint expression missing", Td(C(), R"(,"placementConstraints":[{"type":"memberOf"}])"),
       "placementConstraints[0].expression: required"},
      {"placement constraints 10", Td(C(), Constraints(10)), kOk},
      {"placement constraints 11", Td(C(), Constraints(11)), "placementConstraints: at most 10 constraints (got 11)"},
      {"tags 50", Td(C(), Tags(50)), kOk},
      {"tags 51", Td(C(), Tags(51)), "tags: at most 50 tags (got 51)"},
      {"tag aws prefix", Td(C(), R"(,"tags":[{"key":"AWS:owner","value":"x"}])"),
       "tags[0].key: the aws: prefix is reserved"},
      {"tag keys unique", Td(C(), R"(,"tags":[{"key":"a"},{"key":"a"}])"),
       "tags[1].key: key 'a' is already used by tags[0]"},
      {"proxy configuration",
       Td(C("envoy"),
          R"(,"networkMode":"awsvpc","proxyConfiguration":{"type":"APPMESH","containerName":"envoy","properties":[{"name":"IgnoredUID","value":"1337"},{"name":"AppPorts","value":"80"},{"name":"ProxyIngressPort","value":"15000"},{"name":"ProxyEgressPort","value":"15001"}]})"),
       kOk},
      {"proxy containerName unknown",
       Td(C(), R"(,"networkMode":"awsvpc","proxyConfiguration":{"type":"APPMESH","containerName":"envoy"})"),
       "proxyConfiguration.containerName: 'envoy' names no container of this task definition"},
      {"proxy type unknown",
       Td(C(), R"(,"networkMode":"awsvpc","proxyConfiguration":{"type":"ISTIO","containerName":"a"})"),
       "proxyConfiguration.type: must be one of APPMESH (got 'ISTIO')"},
      {"proxy needs awsvpc", Td(C(), R"(,"proxyConfiguration":{"containerName":"a"})"),
       "proxyConfiguration: App Mesh proxy configuration needs networkMode awsvpc (networkMode is bridge)"},
      {"proxy needs ports",
       Td(C(),
          R"(,"networkMode":"awsvpc","proxyConfiguration":{"containerName":"a","properties":[{"name":"IgnoredUID","value":"1"}]})"),
       "proxyConfiguration.properties: must set AppPorts"},
      {"runtimePlatform ARM64 LINUX",
       Td(C(), R"(,"runtimePlatform":{"cpuArchitecture":"ARM64","operatingSystemFamily":"LINUX"})"), kOk},
      {"runtimePlatform cpuArchitecture", Td(C(), R"(,"runtimePlatform":{"cpuArchitecture":"x86"})"),
       "runtimePlatform.cpuArchitecture: must be one of X86_64, ARM64 (got 'x86')"},
      {"runtimePlatform operatingSystemFamily", Td(C(), R"(,"runtimePlatform":{"operatingSystemFamily":"UBUNTU"})"),
       "runtimePlatform.operatingSystemFamily: must be one of LINUX, WINDOWS_SERVER_2016_FULL"},
      {"gpu 1", Td(C("a", R"(,"resourceRequirements":[{"type":"GPU","value":"1"}])")), kOk},
      {"gpu 0", Td(C("a", R"(,"resourceRequirements":[{"type":"GPU","value":"0"}])")),
       "containerDefinitions[0].resourceRequirements[0].value: GPU count must be a whole number of at least 1 (got "
       "'0')"},
      {"resource type unknown", Td(C("a", R"(,"resourceRequirements":[{"type":"CPU","value":"1"}])")),
       "containerDefinitions[0].resourceRequirements[0].type: must be one of GPU, InferenceAccelerator (got 'CPU')"},
      {"inference accelerator declared",
       Td(C("a", R"(,"resourceRequirements":[{"type":"InferenceAccelerator","value":"dev1"}])"),
          R"(,"inferenceAccelerators":[{"deviceName":"dev1","deviceType":"eia2.medium"}])"),
       kOk},
      {"inference accelerator undeclared",
       Td(C("a", R"(,"resourceRequirements":[{"type":"InferenceAccelerator","value":"dev1"}])")),
       "containerDefinitions[0].resourceRequirements[0].value: 'dev1' names no inferenceAccelerators[].deviceName"},

      // other container members
      {"hostname in bridge mode", Td(C("a", R"(,"hostname":"web")")), kOk},
      {"hostname in awsvpc mode", Td(C("a", R"(,"hostname":"web")"), R"(,"networkMode":"awsvpc")"),
       "containerDefinitions[0].hostname: not supported in awsvpc network mode"},
      {"extraHosts in awsvpc mode",
       Td(C("a", R"(,"extraHosts":[{"hostname":"h","ipAddress":"10.0.0.1"}])"), R"(,"networkMode":"awsvpc")"),
       "containerDefinitions[0].extraHosts[0]: extraHosts are not supported in awsvpc network mode"},
      {"extraHosts needs ipAddress", Td(C("a", R"(,"extraHosts":[{"hostname":"h"}])")),
       "containerDefinitions[0].extraHosts[0].ipAddress: required"},
      {"dockerSecurityOptions value", Td(C("a", R"(,"dockerSecurityOptions":["seccomp:unconfined"])")),
       "containerDefinitions[0].dockerSecurityOptions[0]: must be no-new-privileges, apparmor:PROFILE"},
      {"capability unknown", Td(C("a", R"(,"linuxParameters":{"capabilities":{"drop":["CAP_KILL"]}})")),
       "containerDefinitions[0].linuxParameters.capabilities.drop[0]: must be one of ALL"},
      {"swappiness 101", Td(C("a", R"(,"linuxParameters":{"swappiness":101})")),
       "containerDefinitions[0].linuxParameters.swappiness: must be between 0 and 100 (got 101)"},
      {"tmpfs needs size", Td(C("a", R"(,"linuxParameters":{"tmpfs":[{"containerPath":"/tmp"}]})")),
       "containerDefinitions[0].linuxParameters.tmpfs[0].size: required"},
      {"restartAttemptPeriod 59", Td(C("a", R"(,"restartPolicy":{"enabled":true,"restartAttemptPeriod":59})")),
       "containerDefinitions[0].restartPolicy.restartAttemptPeriod: must be between 60 and 1800 seconds (got 59)"},
      {"restartAttemptPeriod 60", Td(C("a", R"(,"restartPolicy":{"enabled":true,"restartAttemptPeriod":60})")), kOk},
      {"versionConsistency value", Td(C("a", R"(,"versionConsistency":"ENABLED")")),
       "containerDefinitions[0].versionConsistency: must be one of enabled, disabled (got 'ENABLED')"},
      {"network sysctl in host mode",
       Td(C("a", R"(,"systemControls":[{"namespace":"net.core.somaxconn","value":"1024"}])"),
          R"(,"networkMode":"host")"),
       "containerDefinitions[0].systemControls[0].namespace: network sysctls ('net.core.somaxconn') are not supported "
       "in "
       "host network mode"},
  };
}

std::vector<Row> Rows() {
  std::vector<Row> rows = RequestAndContainerRows();
  for (const std::vector<Row>& part : {PortMappingAndEssentialRows(), DependencyAndHealthCheckRows(),
                                       FargateExternalAndVolumeRows(), OtherContainerRows()}) {
    rows.insert(rows.end(), part.begin(), part.end());
  }
  return rows;
}

class TaskDefinitionRuleTest : public ::testing::TestWithParam<Row> {};

TEST_P(TaskDefinitionRuleTest, ValidatesAsExpected) {
  const Row& row = GetParam();
  auto request = Parse<v1::RegisterTaskDefinitionRequest>(row.json);
  ExpectOutcome(ValidateTaskDefinition(request, Limits{}).status(), row.expected);
}

INSTANTIATE_TEST_SUITE_P(Rules, TaskDefinitionRuleTest, ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return TestName(info.param.name); });

TEST(TaskDefinitionLimitsTest, LimitsComeFromTheCaller) {
  auto request = Parse<v1::RegisterTaskDefinitionRequest>(Td(Containers(3)));
  Limits limits;
  limits.max_containers_per_task_definition = 2;
  ExpectOutcome(ValidateTaskDefinition(request, limits).status(), "containerDefinitions: at most 2 containers (got 3)");
  limits = Limits{};
  limits.max_task_definition_bytes = 100;
  ExpectOutcome(ValidateTaskDefinition(request, limits).status(), "bytes of JSON; at most 100 bytes are allowed");
}

TEST(TaskDefinitionOrderTest, FirstErrorWinsAndIsStable) {
  // Two errors: the family comes first, every time.
  auto request = Parse<v1::RegisterTaskDefinitionRequest>(
      R"({"family":"a b","containerDefinitions":[{"name":"a","image":"i","memory":4}]})");
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(std::string(ValidateTaskDefinition(request, Limits{}).status().message()), HasSubstr("family:"));
  }
}

}  // namespace
}  // namespace berth::controlplane
