// The berth CLI binary against a real berthd: commands derived from the descriptors, options and
// --cli-input-json becoming requests, ECS-shaped JSON and text output, exit codes (0 ok, 1 error,
// 2 failures[]), table output, waiters (against a sim berth-agent), endpoint resolution with the
// configuration file, and every task definition of the shared corpus registered
// (or refused naming a field) through --cli-input-json file://.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/test_certs.h"

namespace berth {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

struct CliResult {
  int exit_code = -1;  // 128 + signal when the CLI was killed by a signal
  std::string out;
  std::string err;

  Json OutJson() const {
    Json doc = Json::parse(out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(doc.is_discarded()) << "stdout is not JSON: " << out;
    return doc;
  }
};

std::ostream& operator<<(std::ostream& os, const CliResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Environment variables of the CLI child: a value sets one, nullopt unsets it.
using Environment = std::map<std::string, std::optional<std::string>>;

// Runs the built CLI with `args`, capturing stdout, stderr and the exit status. The child's
// BERTH_ENDPOINT is `endpoint_env` when given and unset otherwise, and its configuration file is
// looked for under the test's directory (BERTH_CONFIG unset, XDG_CONFIG_HOME in the temp dir), so
// the test environment never leaks into a case; `env` changes more variables. With
// `stderr_terminal`, stderr is a pseudo-terminal (its output as the terminal shows it: "\r\n" for
// "\n"), for what berth prints only on a terminal.
class Cli {
 public:
  explicit Cli(const testutil::TempDir& dir) : dir_(dir) {}

  CliResult Run(const std::vector<std::string>& args, std::optional<std::string> endpoint_env = std::nullopt,
                const std::string& stdin_text = "", const Environment& env = {}, bool stderr_terminal = false) {
    const std::string id = std::to_string(++runs_);
    const std::string out_path = dir_.Sub("cli." + id + ".out");
    const std::string err_path = dir_.Sub("cli." + id + ".err");
    const std::string in_path = dir_.Sub("cli." + id + ".in");
    std::ofstream(in_path) << stdin_text;
    std::vector<std::string> argv_storage = {testutil::BuiltBinary("src/cli/berth")};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());

    int terminal = -1;  // the pseudo-terminal's master side
    std::string terminal_path;
    if (stderr_terminal) {
      terminal = posix_openpt(O_RDWR | O_NOCTTY);
      EXPECT_GE(terminal, 0);
      EXPECT_EQ(grantpt(terminal), 0);
      EXPECT_EQ(unlockpt(terminal), 0);
      terminal_path = ptsname(terminal);
      fcntl(terminal, F_SETFL, O_NONBLOCK);
    }

    pid_t pid = fork();
    if (pid == 0) {
      int in = open(in_path.c_str(), O_RDONLY);
      int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = stderr_terminal ? open(terminal_path.c_str(), O_RDWR | O_NOCTTY)
                                : open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(126);
      dup2(in, STDIN_FILENO);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      Environment all = {
          {"BERTH_ENDPOINT", endpoint_env}, {"BERTH_CONFIG", std::nullopt}, {"XDG_CONFIG_HOME", dir_.Sub("xdg")}};
      for (const auto& [name, value] : env) all[name] = value;
      for (const auto& [name, value] : all) {
        if (value.has_value()) {
          setenv(name.c_str(), value->c_str(), 1);
        } else {
          unsetenv(name.c_str());
        }
      }
      std::vector<char*> argv;
      for (auto& a : argv_storage) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    CliResult result;
    int status = 0;
    // The terminal is drained while the child runs, so a full pty buffer never blocks it.
    auto drain = [&] {
      char buffer[4096];
      for (ssize_t n; terminal >= 0 && (n = read(terminal, buffer, sizeof(buffer))) > 0;) result.err.append(buffer, n);
    };
    while (pid > 0) {
      pid_t done = waitpid(pid, &status, stderr_terminal ? WNOHANG : 0);
      if (done == pid) {
        if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
        break;
      }
      if (done < 0) break;
      drain();
      usleep(10000);
    }
    result.out = ReadFile(out_path);
    if (stderr_terminal) {
      drain();
      close(terminal);
    } else {
      result.err = ReadFile(err_path);
    }
    return result;
  }

 private:
  const testutil::TempDir& dir_;
  int runs_ = 0;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<testutil::BerthdProcess>(dir_.Sub("data"));
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
  }

  // The CLI pointed at this test's berthd with --endpoint.
  CliResult Berth(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), {"--endpoint", berthd_->grpc_address()});
    return cli_.Run(args, std::nullopt, stdin_text);
  }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    std::string path = dir_.Sub(name);
    std::ofstream(path) << contents;
    return path;
  }

  // Registers an instance with `cpu` units and `memory` MiB in `cluster`; returns its ARN.
  std::string RegisterInstance(const std::string& cluster, int cpu, int memory) {
    CliResult r = Berth({"register-container-instance", "--cluster", cluster, "--total-resources",
                         R"([{"name":"CPU","type":"INTEGER","integerValue":)" + std::to_string(cpu) +
                             R"(},{"name":"MEMORY","type":"INTEGER","integerValue":)" + std::to_string(memory) +
                             R"(},{"name":"PORTS","type":"STRINGSET","stringSetValue":["22"]}])",
                         "--attributes", R"([{"name":"ecs.availability-zone","value":"az-1"}])"});
    EXPECT_EQ(r.exit_code, 0) << r;
    return r.OutJson()["containerInstance"].value("containerInstanceArn", "");
  }

  void RegisterTaskDefinition(const std::string& family, int memory) {
    CliResult r = Berth({"register-task-definition", "--family", family, "--container-definitions",
                         R"([{"name":"app","image":"busybox","cpu":128,"memory":)" + std::to_string(memory) + "}]"});
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  testutil::TempDir dir_;
  std::unique_ptr<testutil::BerthdProcess> berthd_;
  Cli cli_{dir_};
};

TEST_F(CliTest, SendsTheTokenOfBerthTokenToABerthdThatAuthenticates) {
  // sha256("cli-test-token-0123456789abcdef"), as `printf %s TOKEN | sha256sum` prints it.
  std::string config = WriteFile("auth.json", R"({
    "policies": {"admin": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
    "principals": {"ops": {"policies": ["admin"], "tokens": [{"sha256": "9987d87a6c9eb5806ac8464235a3d83694eff1c759b1d2308bf7c397e5bda715"}]}}})");
  testutil::BerthdProcess guarded(dir_.Sub("guarded"), {"--auth-config", config});
  ASSERT_TRUE(guarded.Start()) << guarded.Log();
  const std::vector<std::string> args = {"--endpoint", guarded.grpc_address(), "create-cluster", "--cluster-name", "a"};
  CliResult without = cli_.Run(args, std::nullopt, "", {{"BERTH_TOKEN", std::nullopt}});
  EXPECT_NE(without.exit_code, 0) << without;
  EXPECT_THAT(without.err, ::testing::HasSubstr("UNAUTHENTICATED")) << without;
  EXPECT_THAT(without.err, ::testing::HasSubstr("missing credentials")) << without;
  CliResult with = cli_.Run(args, std::nullopt, "", {{"BERTH_TOKEN", "cli-test-token-0123456789abcdef"}});
  ASSERT_EQ(with.exit_code, 0) << with;
  EXPECT_EQ(with.OutJson()["cluster"]["clusterName"], "a") << with;
}

TEST_F(CliTest, SpeaksTlsToABerthdThatServesItWithTheCaOfBerthTlsCaOrTheConfigurationFile) {
  testutil::TestCa ca(dir_.path(), "ca");
  ASSERT_TRUE(ca.ok());
  testutil::KeyPair server = ca.IssueServer("server");
  testutil::BerthdProcess secure(dir_.Sub("secure"), {"--tls-cert", server.cert, "--tls-key", server.key});
  ASSERT_TRUE(secure.Start()) << secure.Log();
  const std::vector<std::string> args = {"--endpoint", secure.grpc_address(), "create-cluster", "--cluster-name", "t"};
  CliResult plain = cli_.Run(args, std::nullopt, "", {{"BERTH_TLS_CA", std::nullopt}});
  EXPECT_NE(plain.exit_code, 0) << plain;
  EXPECT_THAT(plain.err, HasSubstr("If berthd serves TLS, set $BERTH_TLS_CA")) << plain;
  CliResult by_variable = cli_.Run(args, std::nullopt, "", {{"BERTH_TLS_CA", ca.cert()}});
  ASSERT_EQ(by_variable.exit_code, 0) << by_variable;
  EXPECT_EQ(by_variable.OutJson()["cluster"]["clusterName"], "t") << by_variable;

  std::string config = WriteFile("tls.config", "tls-ca = " + ca.cert() + "\n");
  CliResult by_config = cli_.Run({"--endpoint", secure.grpc_address(), "wait", "services-stable", "--cluster", "t",
                                  "--services", "none", "--timeout", "5"},
                                 std::nullopt, "", {{"BERTH_CONFIG", config}, {"BERTH_TLS_CA", std::nullopt}});
  EXPECT_THAT(by_config.err, ::testing::Not(HasSubstr("cannot reach berthd"))) << by_config;
  CliResult listed = cli_.Run({"--endpoint", secure.grpc_address(), "list-clusters"}, std::nullopt, "",
                              {{"BERTH_CONFIG", config}, {"BERTH_TLS_CA", std::nullopt}});
  ASSERT_EQ(listed.exit_code, 0) << listed;

  CliResult missing = cli_.Run(args, std::nullopt, "", {{"BERTH_TLS_CA", dir_.Sub("absent.pem")}});
  EXPECT_NE(missing.exit_code, 0) << missing;
  EXPECT_THAT(missing.err, HasSubstr("$BERTH_TLS_CA: cannot read")) << missing;
}

TEST_F(CliTest, HelpListsEveryRpcAsACommandAndItsFieldsAsOptions) {
  CliResult help = cli_.Run({"--help"});
  ASSERT_EQ(help.exit_code, 0) << help;
  for (const char* command : {"create-cluster", "register-task-definition", "run-task", "describe-tasks",
                              "list-container-instances", "put-attributes", "list-task-definition-families",
                              "update-container-instances-state", "list-account-settings"}) {
    EXPECT_THAT(help.out, HasSubstr(command));
  }
  CliResult run_task = cli_.Run({"run-task", "--help"});
  ASSERT_EQ(run_task.exit_code, 0) << run_task;
  for (const char* option : {"--task-definition", "--count", "--enable-ecs-managed-tags", "--overrides",
                             "--placement-strategy", "--cli-input-json", "--started-by"}) {
    EXPECT_THAT(run_task.out, HasSubstr(option));
  }
}

TEST_F(CliTest, CreateClusterThenListClusters) {
  CliResult created = Berth({"create-cluster", "--cluster-name", "demo"});
  ASSERT_EQ(created.exit_code, 0) << created;
  Json cluster = created.OutJson()["cluster"];
  EXPECT_EQ(cluster["clusterName"], "demo");
  EXPECT_EQ(cluster["status"], "ACTIVE");
  EXPECT_TRUE(cluster["runningTasksCount"].is_number_integer()) << created;
  EXPECT_THAT(created.out, HasSubstr("\n    \"cluster\": {\n        \"clusterArn\""));  // 4-space indent

  CliResult listed = Berth({"list-clusters"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  std::vector<std::string> arns = listed.OutJson()["clusterArns"];
  EXPECT_THAT(arns, ::testing::Contains("arn:aws:ecs:local:000000000000:cluster/demo"));
  EXPECT_THAT(arns, ::testing::Contains("arn:aws:ecs:local:000000000000:cluster/default"));

  CliResult text = Berth({"list-clusters", "--output", "text"});  // global option after the command
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_EQ(text.out, "arn:aws:ecs:local:000000000000:cluster/default\narn:aws:ecs:local:000000000000:cluster/demo\n");

  CliResult described = Berth({"--output", "text", "describe-clusters", "--clusters", "demo", "default"});
  ASSERT_EQ(described.exit_code, 0) << described;
  EXPECT_THAT(described.out, HasSubstr("demo\tACTIVE\t0\t0\t0\t0\n"));
}

// Every file of the corpus through `register-task-definition --cli-input-json file://`: either it
// registers, or it is refused with a message naming the field; never a crash. Files saved from
// describe-task-definition get the notice about the output-only fields that were dropped.
TEST_F(CliTest, RegistersOrRefusesEveryCorpusFile) {
  const char* source = std::getenv("BERTH_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  fs::path corpus = fs::path(source) / ".." / "shared" / "corpus" / "task-definitions";
  if (!fs::is_directory(corpus)) GTEST_SKIP() << "corpus not found at " << corpus;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());

  // The members of RegisterTaskDefinitionRequest: a refusal names one of them (possibly with
  // indexes and nested members after it).
  const std::vector<std::string> top_level = {"family",
                                              "taskRoleArn",
                                              "executionRoleArn",
                                              "networkMode",
                                              "containerDefinitions",
                                              "volumes",
                                              "placementConstraints",
                                              "requiresCompatibilities",
                                              "cpu",
                                              "memory",
                                              "tags",
                                              "pidMode",
                                              "ipcMode",
                                              "proxyConfiguration",
                                              "inferenceAccelerators",
                                              "ephemeralStorage",
                                              "runtimePlatform",
                                              "enableFaultInjection"};
  const std::set<std::string> output_only = {"taskDefinitionArn", "revision",     "status",       "requiresAttributes",
                                             "compatibilities",   "registeredAt", "registeredBy", "deregisteredAt"};
  int registered = 0, refused = 0, describe_outputs = 0;
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    CliResult r = Berth({"register-task-definition", "--cli-input-json", "file://" + file.string()});
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r;

    Json doc = Json::parse(ReadFile(file.string()));
    Json inner = doc.contains("taskDefinition") ? doc["taskDefinition"] : doc;
    std::vector<std::string> dropped;
    for (const auto& [key, value] : inner.items()) {
      if (output_only.count(key) > 0) dropped.push_back(key);
    }
    if (!dropped.empty()) {
      ++describe_outputs;
      EXPECT_THAT(r.err, HasSubstr("berth: ignoring output-only fields of describe-task-definition output: ")) << r;
      for (const std::string& key : dropped) EXPECT_THAT(r.err, HasSubstr(key)) << r;
    } else {
      EXPECT_THAT(r.err, Not(HasSubstr("ignoring output-only fields"))) << r;
    }

    if (r.exit_code == 0) {
      ++registered;
      Json td = r.OutJson()["taskDefinition"];
      EXPECT_THAT(td.value("taskDefinitionArn", ""), HasSubstr(":task-definition/" + inner.value("family", ""))) << r;
      EXPECT_EQ(td.value("status", ""), "ACTIVE") << r;
    } else {
      ++refused;
      EXPECT_EQ(r.out, "") << r;
      EXPECT_THAT(r.err, HasSubstr("berth: register-task-definition: ")) << r;
      bool names_field = std::any_of(top_level.begin(), top_level.end(), [&](const std::string& field) {
        for (char after : {':', '.', '['}) {
          if (r.err.find(field + after) != std::string::npos) return true;
        }
        return false;
      });
      EXPECT_TRUE(names_field) << "the refusal names no field path: " << r;
    }
  }
  EXPECT_GT(registered, 0);
  EXPECT_GT(refused, 0);
  EXPECT_GT(describe_outputs, 0);
}

TEST_F(CliTest, RunTaskPlacesTasksAndReportsFailuresWithExitTwo) {
  ASSERT_EQ(Berth({"create-cluster", "--cluster-name", "prod"}).exit_code, 0);
  std::string instance = RegisterInstance("prod", 1024, 512);
  ASSERT_THAT(instance, HasSubstr(":container-instance/prod/"));
  RegisterTaskDefinition("web", 128);
  RegisterTaskDefinition("huge", 4096);

  CliResult run = Berth({"run-task", "--cluster", "prod", "--task-definition", "web", "--count", "2", "--started-by",
                         "cli-test", "--tags", R"([{"key":"team","value":"a"}])"});
  ASSERT_EQ(run.exit_code, 0) << run;
  Json tasks = run.OutJson()["tasks"];
  ASSERT_EQ(tasks.size(), 2u) << run;
  std::vector<std::string> task_arns;
  for (const Json& task : tasks) {
    task_arns.push_back(task["taskArn"]);
    EXPECT_EQ(task["containerInstanceArn"], instance);
    EXPECT_EQ(task["desiredStatus"], "RUNNING");
    EXPECT_EQ(task["startedBy"], "cli-test");
    EXPECT_TRUE(task["version"].is_number_integer()) << run;  // int64, printed as a number
  }

  CliResult no_room = Berth({"run-task", "--cluster", "prod", "--task-definition", "huge"});
  EXPECT_EQ(no_room.exit_code, 2) << no_room;
  EXPECT_THAT(no_room.err, HasSubstr("berth: run-task: failure: RESOURCE:MEMORY")) << no_room;
  Json failures = no_room.OutJson()["failures"];
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0]["reason"], "RESOURCE:MEMORY");

  CliResult described = Berth({"describe-tasks", "--cluster", "prod", "--tasks", task_arns[0], task_arns[1]});
  ASSERT_EQ(described.exit_code, 0) << described;
  Json described_tasks = described.OutJson()["tasks"];
  ASSERT_EQ(described_tasks.size(), 2u);
  std::set<std::string> seen;
  for (const Json& task : described_tasks) seen.insert(task["taskArn"].get<std::string>());
  EXPECT_EQ(seen, std::set<std::string>(task_arns.begin(), task_arns.end()));

  CliResult text = Berth({"describe-tasks", "--cluster", "prod", "--tasks", task_arns[0], "--output", "text"});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_THAT(text.out, HasSubstr(task_arns[0] + "\t"));
  EXPECT_THAT(text.out, HasSubstr("\tRUNNING\t"));

  CliResult listed = Berth({"list-tasks", "--cluster", "prod", "--output", "text"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 2) << listed;

  // A task that does not exist is a failure of the call, not an error of it.
  CliResult missing = Berth({"describe-tasks", "--cluster", "prod", "--tasks", std::string(32, 'a')});
  EXPECT_EQ(missing.exit_code, 2) << missing;
  EXPECT_THAT(missing.err, HasSubstr("failure: MISSING")) << missing;
}

TEST_F(CliTest, ExplainPlacementAndRunTaskTakePlacementJson) {
  ASSERT_EQ(Berth({"create-cluster", "--cluster-name", "pl"}).exit_code, 0);
  const std::string small = RegisterInstance("pl", 1024, 512);
  const std::string large = RegisterInstance("pl", 1024, 2048);
  RegisterTaskDefinition("web", 128);
  RegisterTaskDefinition("huge", 4096);
  const std::string binpack = R"([{"type":"binpack","field":"memory"}])";

  // binpack(memory): the instance with the least memory (512 MiB) first; the large one ranks 2nd.
  CliResult explained = Berth({"explain-placement", "--cluster", "pl", "--task-definition", "web",
                               "--placement-strategy", binpack, "--container-instance", large});
  ASSERT_EQ(explained.exit_code, 0) << explained;
  Json e = explained.OutJson();
  EXPECT_EQ(e["chosenContainerInstanceArn"], small) << explained;
  EXPECT_EQ(e["candidates"], 2);
  EXPECT_EQ(e["feasible"], 2);
  EXPECT_EQ(e["strategies"], Json::array({"binpack(memory)"}));
  ASSERT_EQ(e["topCandidates"].size(), 2u) << explained;
  EXPECT_EQ(e["topCandidates"][0]["containerInstanceArn"], small);
  EXPECT_EQ(e["topCandidates"][0]["scores"][0]["value"], 512) << explained;  // int64 printed as a number
  EXPECT_EQ(e["containerInstance"]["containerInstanceArn"], large);
  EXPECT_EQ(e["containerInstance"]["feasible"], true);
  EXPECT_EQ(e["containerInstance"]["rank"], 2);

  // run-task with the same --placement-strategy lands where explain said: four 128 MiB tasks fill
  // the small instance, then the large one is next.
  CliResult run = Berth(
      {"run-task", "--cluster", "pl", "--task-definition", "web", "--count", "4", "--placement-strategy", binpack});
  ASSERT_EQ(run.exit_code, 0) << run;
  Json tasks = run.OutJson()["tasks"];
  ASSERT_EQ(tasks.size(), 4u) << run;
  for (const Json& task : tasks) EXPECT_EQ(task["containerInstanceArn"], small) << run;
  CliResult next = Berth({"explain-placement", "--cluster", "pl", "--task-definition", "web", "--placement-strategy",
                          "file://" + WriteFile("strategy.json", binpack)});
  ASSERT_EQ(next.exit_code, 0) << next;
  EXPECT_EQ(next.OutJson()["chosenContainerInstanceArn"], large) << next;
  EXPECT_EQ(next.OutJson()["rejections"], Json::parse(R"([{"reason":"RESOURCE:MEMORY","instances":1}])")) << next;
  CliResult spill = Berth({"run-task", "--cluster", "pl", "--task-definition", "web", "--placement-strategy", binpack});
  ASSERT_EQ(spill.exit_code, 0) << spill;
  EXPECT_EQ(spill.OutJson()["tasks"][0]["containerInstanceArn"], large) << spill;

  // Constraints as JSON too. The small instance is full and the large one holds a family:web task:
  // one rejection each, and a tie goes to the reason checked first (memory).
  CliResult distinct = Berth({"run-task", "--cluster", "pl", "--task-definition", "web", "--placement-constraints",
                              R"([{"type":"distinctInstance"}])"});
  EXPECT_EQ(distinct.exit_code, 2) << distinct;
  EXPECT_THAT(distinct.err, HasSubstr("failure: RESOURCE:MEMORY detail=RESOURCE:MEMORY on 1 instance, "
                                      "DistinctInstance placement constraint unsatisfied. on 1 instance"))
      << distinct;

  // Nothing fits: explain still succeeds (exit 0) and says why in failure.
  CliResult none = Berth({"explain-placement", "--cluster", "pl", "--task-definition", "huge"});
  ASSERT_EQ(none.exit_code, 0) << none;
  Json n = none.OutJson();
  EXPECT_FALSE(n.contains("chosenContainerInstanceArn")) << none;
  EXPECT_EQ(n["failure"]["reason"], "RESOURCE:MEMORY") << none;
  EXPECT_EQ(n["failure"]["detail"], "RESOURCE:MEMORY on 2 instances") << none;

  // A malformed expression is berthd's INVALID_ARGUMENT, naming the field and the column.
  CliResult bad = Berth({"explain-placement", "--cluster", "pl", "--task-definition", "web", "--placement-constraints",
                         R"([{"type":"memberOf","expression":"attribute:a =="}])"});
  EXPECT_EQ(bad.exit_code, 1) << bad;
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT: placementConstraints[0].expression: column 15: ")) << bad;
}

TEST_F(CliTest, PrintsInt64FieldsAsNumbers) {
  std::string instance = RegisterInstance("default", 2048, 4096);
  CliResult r = Berth({"describe-container-instances", "--container-instances", instance});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("\"version\": 1,")) << r;
  EXPECT_THAT(r.out, Not(HasSubstr("\"version\": \"1\""))) << r;
  Json ci = r.OutJson()["containerInstances"][0];
  EXPECT_TRUE(ci["version"].is_number_integer());
  for (const Json& resource : ci["remainingResources"]) {
    if (resource.contains("longValue")) {
      EXPECT_TRUE(resource["longValue"].is_number_integer()) << r;
    }
  }

  CliResult text = Berth({"describe-container-instances", "--container-instances", instance, "--output", "text"});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_EQ(text.out, instance + "\tACTIVE\ttrue\t0\t0\n");
}

TEST_F(CliTest, PutAttributesTakesJsonFromAFile) {
  std::string instance = RegisterInstance("default", 1024, 1024);
  std::string path = WriteFile("attributes.json", R"([{"name":"stack","value":"blue","targetId":")" + instance +
                                                      R"(","targetType":"container-instance"}])");
  CliResult put = Berth({"put-attributes", "--attributes", "file://" + path});
  ASSERT_EQ(put.exit_code, 0) << put;
  CliResult listed = Berth(
      {"list-attributes", "--target-type", "container-instance", "--attribute-name", "stack", "--output", "text"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  EXPECT_THAT(listed.out, HasSubstr("stack\tblue\tcontainer-instance\t" + instance));
}

TEST_F(CliTest, CliInputJsonFromStdinWithExplicitOptionsOverriding) {
  CliResult r = Berth({"create-cluster", "--cli-input-json", "-", "--cluster-name", "override"},
                      R"({"clusterName":"from-stdin","tags":[{"key":"k","value":"v"}]})");
  ASSERT_EQ(r.exit_code, 0) << r;
  Json cluster = r.OutJson()["cluster"];
  EXPECT_EQ(cluster["clusterName"], "override");

  CliResult inline_json = Berth({"create-cluster", "--cli-input-json", R"({"clusterName":"inline"})"});
  ASSERT_EQ(inline_json.exit_code, 0) << inline_json;
  EXPECT_EQ(inline_json.OutJson()["cluster"]["clusterName"], "inline");

  CliResult unknown = Berth({"create-cluster", "--cli-input-json", R"({"clusterNam":"typo"})"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("--cli-input-json: clusterNam: Cannot find field")) << unknown;
}

TEST_F(CliTest, BadOptionValuesAreErrorsNamingTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"run-task", "--count", "two"}, "berth: run-task: --count: expected an integer, got 'two'"},
      {{"run-task", "--count", "1e3"}, "--count: expected an integer"},
      {{"run-task", "--count", "99999999999"}, "--count: 99999999999 is out of range"},
      {{"run-task", "--enable-ecs-managed-tags=maybe"}, "--enable-ecs-managed-tags: expected true or false"},
      {{"run-task", "--overrides", "{not json"}, "--overrides: not valid JSON"},
      {{"run-task", "--overrides", R"({"containerOverride":[]})"}, "--overrides: "},
      {{"run-task", "--tags", "file:///nonexistent/tags.json"}, "--tags: cannot read file:///nonexistent/tags.json"},
      {{"list-clusters", "--max-results", "ten"}, "--max-results: expected an integer"},
      {{"list-clusters", "--output", "yaml"}, "--output: must be json, text or table"},
      {{"list-clusters", "--timeout", "soon"}, "--timeout: expected a positive number of seconds"},
      {{"list-clusters", "--no-such-option", "x"}, "berth: list-clusters: "},
      // A value berthd refuses: the gRPC code name and berthd's message.
      {{"list-clusters", "--max-results", "1000"}, "berth: list-clusters: INVALID_ARGUMENT: maxResults"},
  };
  for (const Case& c : cases) {
    CliResult r = Berth(c.args);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << r;
    EXPECT_EQ(r.out, "") << r;
  }
}

TEST_F(CliTest, UnknownAndUnimplementedCommandsAreErrors) {
  CliResult unknown = Berth({"frobnicate-cluster"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("berth: unknown command 'frobnicate-cluster'")) << unknown;

  CliResult near_miss = Berth({"list-cluster"});
  EXPECT_EQ(near_miss.exit_code, 1) << near_miss;
  EXPECT_THAT(near_miss.err, HasSubstr("did you mean 'list-clusters'?")) << near_miss;

  CliResult none = Berth({});
  EXPECT_EQ(none.exit_code, 1) << none;
  EXPECT_THAT(none.err, HasSubstr("a command is required")) << none;

  // In the schema (so a command) but not served by berthd: UpdateContainerAgent updates Amazon's
  // agent, which Berth has no use for. If berthd ever serves it, pick another RPC it does not serve.
  CliResult unimplemented = Berth({"update-container-agent", "--container-instance", std::string(32, 'a')});
  EXPECT_EQ(unimplemented.exit_code, 1) << unimplemented;
  EXPECT_THAT(unimplemented.err, HasSubstr("berth: update-container-agent: UNIMPLEMENTED")) << unimplemented;
}

TEST_F(CliTest, EndpointComesFromTheFlagThenBerthEndpoint) {
  const std::string dead = "127.0.0.1:1";  // nothing listens on port 1
  CliResult from_env = cli_.Run({"list-clusters"}, berthd_->grpc_address());
  EXPECT_EQ(from_env.exit_code, 0) << from_env;
  EXPECT_THAT(from_env.out, HasSubstr("cluster/default"));

  CliResult flag_wins = cli_.Run({"--endpoint", berthd_->grpc_address(), "list-clusters"}, dead);
  EXPECT_EQ(flag_wins.exit_code, 0) << flag_wins;

  CliResult env_dead = cli_.Run({"list-clusters"}, dead);
  EXPECT_EQ(env_dead.exit_code, 1) << env_dead;
  EXPECT_THAT(env_dead.err, HasSubstr("berth: list-clusters: cannot reach berthd at 127.0.0.1:1: UNAVAILABLE: "))
      << env_dead;
  EXPECT_THAT(env_dead.err, HasSubstr("scripts/run.sh")) << env_dead;
}

// Where `cell` starts in a table line: a header and a value in one column start at the same place.
size_t ColumnOf(const std::string& line, const std::string& cell) { return line.find(cell); }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ShortId(const std::string& arn) { return arn.substr(arn.rfind('/') + 1); }

TEST_F(CliTest, TableOutputForTasksInstancesAndServices) {
  const std::string instance = RegisterInstance("default", 1024, 512);
  RegisterTaskDefinition("web", 128);
  CliResult run = Berth({"run-task", "--task-definition", "web"});
  ASSERT_EQ(run.exit_code, 0) << run;
  const std::string task = run.OutJson()["tasks"][0]["taskArn"];

  CliResult tasks = Berth({"describe-tasks", "--tasks", task, "--output", "table"});
  ASSERT_EQ(tasks.exit_code, 0) << tasks;
  std::vector<std::string> lines = Lines(tasks.out);
  ASSERT_EQ(lines.size(), 2u) << tasks;
  EXPECT_THAT(lines[0], ::testing::StartsWith("TASK  "));
  for (const char* column : {"LAST", "DESIRED", "TASK DEFINITION", "INSTANCE", "PORTS", "HEALTH", "STOP CODE"}) {
    EXPECT_THAT(lines[0], HasSubstr(column)) << tasks;
  }
  EXPECT_THAT(lines[1], ::testing::StartsWith(ShortId(task) + "  ")) << tasks;
  EXPECT_THAT(lines[1], HasSubstr("  web:1  ")) << tasks;
  EXPECT_THAT(lines[1], HasSubstr("  " + ShortId(instance) + "  ")) << tasks;
  EXPECT_EQ(ColumnOf(lines[0], "TASK DEFINITION"), ColumnOf(lines[1], "web:1")) << tasks;
  EXPECT_EQ(ColumnOf(lines[0], "DESIRED"), ColumnOf(lines[1], "RUNNING")) << tasks;

  CliResult instances = Berth({"describe-container-instances", "--container-instances", instance, "--output", "table"});
  ASSERT_EQ(instances.exit_code, 0) << instances;
  lines = Lines(instances.out);
  ASSERT_EQ(lines.size(), 2u) << instances;
  for (const char* column :
       {"INSTANCE", "STATUS", "AGENT CONNECTED", "RUNNING/PENDING", "CPU FREE/TOTAL", "MEMORY FREE/TOTAL"}) {
    EXPECT_THAT(lines[0], HasSubstr(column)) << instances;
  }
  // One task of 128 CPU units and 128 MiB placed: remaining of registered.
  EXPECT_EQ(ColumnOf(lines[0], "CPU FREE/TOTAL"), ColumnOf(lines[1], "896/1024")) << instances;
  EXPECT_EQ(ColumnOf(lines[0], "MEMORY FREE/TOTAL"), ColumnOf(lines[1], "384/512")) << instances;
  EXPECT_THAT(lines[1], ::testing::StartsWith(ShortId(instance) + "  ACTIVE  ")) << instances;

  ASSERT_EQ(
      Berth({"create-service", "--service-name", "api", "--task-definition", "web", "--desired-count", "2"}).exit_code,
      0);
  CliResult services = Berth({"describe-services", "--services", "api", "--output", "table"});
  ASSERT_EQ(services.exit_code, 0) << services;
  lines = Lines(services.out);
  ASSERT_GE(lines.size(), 2u) << services;
  for (const char* column : {"SERVICE", "STATUS", "DESIRED/RUNNING/PENDING", "ROLLOUT", "TASK DEFINITION"}) {
    EXPECT_THAT(lines[0], HasSubstr(column)) << services;
  }
  EXPECT_THAT(lines[1], ::testing::StartsWith("api  ")) << services;
  EXPECT_THAT(lines[1], HasSubstr("  2/")) << services;
  EXPECT_THAT(lines[1], HasSubstr("  IN_PROGRESS  ")) << services;
  EXPECT_THAT(services.out, HasSubstr("\nDeployments of api:\nDEPLOYMENT  ")) << services;
  EXPECT_THAT(services.out, HasSubstr("  PRIMARY  web:1  ")) << services;
  EXPECT_THAT(services.out, HasSubstr("\nEvents of api (newest ")) << services;

  CliResult listed = Berth({"list-tasks", "--output", "table"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  lines = Lines(listed.out);
  ASSERT_GE(lines.size(), 2u) << listed;
  EXPECT_EQ(lines[0], "TASK ARNS");
  EXPECT_THAT(std::vector<std::string>(lines.begin() + 1, lines.end()), ::testing::Contains(task)) << listed;

  // failures[] as a table on stderr; the exit status stays 2.
  CliResult missing = Berth({"describe-tasks", "--tasks", task, std::string(32, 'b'), "--output", "table"});
  EXPECT_EQ(missing.exit_code, 2) << missing;
  EXPECT_THAT(missing.out, HasSubstr(ShortId(task))) << missing;
  EXPECT_THAT(missing.err, HasSubstr("berth: describe-tasks: failures:\nARN")) << missing;
  EXPECT_THAT(missing.err, HasSubstr("REASON")) << missing;
  EXPECT_THAT(missing.err, HasSubstr("  MISSING")) << missing;

  // JSON stays the default.
  EXPECT_EQ(Berth({"describe-tasks", "--tasks", task}).OutJson()["tasks"][0]["taskArn"], task);
}

TEST_F(CliTest, ConfigFileGivesTheEndpointAndOutputAfterFlagAndEnvironment) {
  const std::string dead = "127.0.0.1:1";
  const std::string config =
      WriteFile("berth.conf", "# the local berthd\n\nendpoint = " + berthd_->grpc_address() + "\n output=text \n");
  const Environment env = {{"BERTH_CONFIG", config}};

  CliResult from_config = cli_.Run({"list-clusters"}, std::nullopt, "", env);
  EXPECT_EQ(from_config.exit_code, 0) << from_config;
  EXPECT_EQ(from_config.out, "arn:aws:ecs:local:000000000000:cluster/default\n") << from_config;

  // --output and $BERTH_ENDPOINT come first.
  CliResult json = cli_.Run({"list-clusters", "--output", "json"}, std::nullopt, "", env);
  EXPECT_EQ(json.exit_code, 0) << json;
  EXPECT_EQ(json.OutJson()["clusterArns"].size(), 1u) << json;
  CliResult env_wins = cli_.Run({"list-clusters"}, dead, "", env);
  EXPECT_EQ(env_wins.exit_code, 1) << env_wins;
  EXPECT_THAT(env_wins.err, HasSubstr("cannot reach berthd at 127.0.0.1:1")) << env_wins;

  // Without $BERTH_CONFIG: $XDG_CONFIG_HOME/berth/config, then ~/.config/berth/config.
  fs::create_directories(dir_.Sub("xdg/berth"));
  WriteFile("xdg/berth/config", "endpoint = " + berthd_->grpc_address() + "\n");
  CliResult xdg = cli_.Run({"list-clusters", "--output", "text"});
  EXPECT_EQ(xdg.exit_code, 0) << xdg;
  fs::create_directories(dir_.Sub("home/.config/berth"));
  WriteFile("home/.config/berth/config", "output = table\nendpoint = " + berthd_->grpc_address() + "\n");
  CliResult home =
      cli_.Run({"list-clusters"}, std::nullopt, "", {{"XDG_CONFIG_HOME", std::nullopt}, {"HOME", dir_.Sub("home")}});
  EXPECT_EQ(home.exit_code, 0) << home;
  EXPECT_THAT(home.out, ::testing::StartsWith("CLUSTER ARNS\n")) << home;

  // Mistakes name the file and the line.
  const std::string typo = WriteFile("typo.conf", "endpoint = " + berthd_->grpc_address() + "\ncolour = blue\n");
  CliResult unknown = cli_.Run({"list-clusters"}, std::nullopt, "", {{"BERTH_CONFIG", typo}});
  EXPECT_EQ(unknown.exit_code, 1) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("berth: " + typo + ":2: unknown key 'colour'")) << unknown;
  EXPECT_EQ(unknown.out, "") << unknown;
  const std::string bad_output = WriteFile("bad.conf", "output = yaml\n");
  CliResult bad = cli_.Run({"list-clusters"}, std::nullopt, "", {{"BERTH_CONFIG", bad_output}});
  EXPECT_EQ(bad.exit_code, 1) << bad;
  EXPECT_THAT(bad.err, HasSubstr(bad_output + ":1: output: must be json, text or table")) << bad;
  CliResult absent = cli_.Run({"list-clusters"}, std::nullopt, "", {{"BERTH_CONFIG", dir_.Sub("nonexistent")}});
  EXPECT_EQ(absent.exit_code, 1) << absent;
  EXPECT_THAT(absent.err, HasSubstr("cannot read the configuration file " + dir_.Sub("nonexistent"))) << absent;
}

// Waiters against tasks that cannot run (no agent serves the instance): they time out, or fail at
// once when a task is missing.
TEST_F(CliTest, WaitersTimeOutOrFailWhenTheConditionCannotHold) {
  RegisterInstance("default", 1024, 512);
  RegisterTaskDefinition("web", 128);
  CliResult run = Berth({"run-task", "--task-definition", "web"});
  ASSERT_EQ(run.exit_code, 0) << run;
  const std::string task = run.OutJson()["tasks"][0]["taskArn"];

  auto start = std::chrono::steady_clock::now();
  CliResult timed_out = Berth({"wait", "tasks-running", "--tasks", task, "--delay", "0.2", "--timeout", "1"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(timed_out.exit_code, 1) << timed_out;
  EXPECT_EQ(timed_out.out, "") << timed_out;
  EXPECT_THAT(timed_out.err,
              HasSubstr("berth: wait tasks-running: timed out after 1 s (tasks: 0/1 RUNNING, 1 PENDING)"))
      << timed_out;
  // Not a terminal: plain lines, each progress line once.
  EXPECT_THAT(timed_out.err, Not(HasSubstr("\r"))) << timed_out;
  EXPECT_THAT(timed_out.err, ::testing::StartsWith("tasks: 0/1 RUNNING, 1 PENDING\nberth: ")) << timed_out;
  EXPECT_LT(took, std::chrono::seconds(10));

  // The global --timeout before the command bounds the wait as well.
  CliResult global = Berth({"--timeout", "0.5", "wait", "tasks-stopped", "--tasks", task, "--delay", "0.1"});
  EXPECT_EQ(global.exit_code, 1) << global;
  EXPECT_THAT(global.err, HasSubstr("berth: wait tasks-stopped: timed out after 0.5 s")) << global;

  ASSERT_EQ(
      Berth({"create-service", "--service-name", "api", "--task-definition", "web", "--desired-count", "1"}).exit_code,
      0);
  CliResult unstable = Berth({"wait", "services-stable", "--services", "api", "--delay", "0.2", "--timeout", "1"});
  EXPECT_EQ(unstable.exit_code, 1) << unstable;
  EXPECT_THAT(unstable.err, HasSubstr("timed out after 1 s (api: 0/1 running")) << unstable;

  CliResult missing = Berth({"wait", "tasks-stopped", "--tasks", task, std::string(32, 'c')});
  EXPECT_EQ(missing.exit_code, 1) << missing;
  EXPECT_THAT(
      missing.err,
      HasSubstr("berth: wait tasks-stopped: the condition can no longer hold: " + std::string(32, 'c') + ": MISSING"))
      << missing;
  // More services than one DescribeServices takes (10): the waiter describes them in chunks.
  std::vector<std::string> many = {"wait", "services-stable", "--services"};
  for (int i = 0; i < 11; ++i) many.push_back("s" + std::to_string(i));
  CliResult chunked = Berth(many);
  EXPECT_EQ(chunked.exit_code, 1) << chunked;
  EXPECT_THAT(chunked.err, HasSubstr("the condition can no longer hold: s0: MISSING")) << chunked;
  EXPECT_THAT(chunked.err, HasSubstr("; s10: MISSING")) << chunked;
  CliResult no_service = Berth({"wait", "services-stable", "--services", "nope"});
  EXPECT_EQ(no_service.exit_code, 1) << no_service;
  EXPECT_THAT(no_service.err, HasSubstr("the condition can no longer hold: nope: MISSING")) << no_service;

  // On a terminal: one progress line, rewritten in place, then the outcome on a line of its own.
  CliResult live = cli_.Run({"--endpoint", berthd_->grpc_address(), "wait", "tasks-running", "--tasks", task, "--delay",
                             "0.2", "--timeout", "0.5"},
                            std::nullopt, "", {}, /*stderr_terminal=*/true);
  EXPECT_EQ(live.exit_code, 1) << live;
  EXPECT_THAT(live.err, ::testing::StartsWith("\rtasks: 0/1 RUNNING, 1 PENDING\033[K\rtasks: 0/1 RUNNING, 1 PENDING"))
      << live;
  EXPECT_THAT(live.err, HasSubstr("\033[K\r\nberth: wait tasks-running: timed out after 0.5 s")) << live;

  CliResult unreachable = cli_.Run({"wait", "tasks-running", "--tasks", task}, "127.0.0.1:1");
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable;
  EXPECT_THAT(unreachable.err, HasSubstr("berth: wait tasks-running: cannot reach berthd at 127.0.0.1:1"))
      << unreachable;

  CliResult usage = Berth({"wait", "tasks-running"});
  EXPECT_EQ(usage.exit_code, 1) << usage;
  EXPECT_THAT(usage.err, HasSubstr("--tasks")) << usage;
  CliResult bad_delay = Berth({"wait", "tasks-running", "--tasks", task, "--delay", "soon"});
  EXPECT_EQ(bad_delay.exit_code, 1) << bad_delay;
  EXPECT_THAT(bad_delay.err, HasSubstr("--delay: expected a positive number of seconds")) << bad_delay;
}

// Waiters against a real berth-agent on the sim runtime: tasks run, stop, and a service becomes
// stable.
TEST_F(CliTest, CreateJoinTokenGivesATokenAnAgentRegistersWith) {
  if (!fs::exists(testutil::BuiltBinary("src/agent/berth-agent"))) {
    GTEST_SKIP() << "berth-agent is not built (ninja berth-agent)";
  }
  CliResult created = Berth({"create-join-token", "--registration-limit", "2", "--description", "rack 7"});
  ASSERT_EQ(created.exit_code, 0) << created;
  const std::string token = created.OutJson()["token"];
  const std::string id = created.OutJson()["joinToken"]["joinTokenId"];
  EXPECT_EQ(created.OutJson()["joinToken"]["registrationLimit"], 2) << created;
  CliResult refused = Berth({"create-join-token", "--registration-limit", "0"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("registrationLimit")) << refused;

  std::ofstream(dir_.Sub("join.token")) << token << "\n";
  testutil::AgentProcess agent(dir_.Sub("agent"), {"--endpoint", berthd_->grpc_address(), "--runtime", "sim",
                                                   "--join-token-file", dir_.Sub("join.token"), "--poll-wait", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log();

  CliResult listed = Berth({"list-join-tokens", "--output", "text"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  EXPECT_THAT(listed.out, HasSubstr(id)) << listed;
  EXPECT_THAT(listed.out, ::testing::Not(HasSubstr(token.substr(token.find('.') + 1)))) << listed;
  CliResult json = Berth({"list-join-tokens"});
  EXPECT_EQ(json.OutJson()["joinTokens"][0]["registrationsCount"], 1) << json;
  ASSERT_EQ(Berth({"delete-join-token", "--join-token-id", id}).exit_code, 0);
  CliResult after = Berth({"list-join-tokens"});
  EXPECT_EQ(after.exit_code, 0) << after;
  EXPECT_THAT(after.out, ::testing::Not(HasSubstr(id))) << after;
}

TEST_F(CliTest, WaitersWithASimAgent) {
  if (!fs::exists(testutil::BuiltBinary("src/agent/berth-agent"))) {
    GTEST_SKIP() << "berth-agent is not built (ninja berth-agent)";
  }
  testutil::AgentProcess agent(dir_.Sub("agent"),
                               {"--endpoint", berthd_->grpc_address(), "--runtime", "sim", "--cpu", "2048", "--memory",
                                "2048", "--availability-zone", "az-1", "--poll-wait", "1", "--stop-timeout", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log();
  RegisterTaskDefinition("web", 64);

  CliResult run = Berth({"run-task", "--task-definition", "web", "--count", "2"});
  ASSERT_EQ(run.exit_code, 0) << run;
  const std::string a = run.OutJson()["tasks"][0]["taskArn"];
  const std::string b = run.OutJson()["tasks"][1]["taskArn"];

  CliResult running = Berth({"wait", "tasks-running", "--tasks", a, b, "--delay", "0.2", "--timeout", "60"});
  ASSERT_EQ(running.exit_code, 0) << running << agent.Log();
  EXPECT_EQ(running.out, "") << running;
  EXPECT_THAT(running.err, HasSubstr("tasks: 2/2 RUNNING\n")) << running;
  CliResult described = Berth({"describe-tasks", "--tasks", a, b});
  for (const Json& task : described.OutJson()["tasks"]) EXPECT_EQ(task["lastStatus"], "RUNNING") << described;

  ASSERT_EQ(Berth({"stop-task", "--task", a, "--reason", "done here"}).exit_code, 0);
  CliResult stopped = Berth({"wait", "tasks-stopped", "--tasks", a, "--delay", "0.2", "--timeout", "60"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped << agent.Log();
  EXPECT_THAT(stopped.err, HasSubstr("tasks: 1/1 STOPPED\n")) << stopped;

  // A stopped task can never be running: fail at once with its stoppedReason.
  CliResult cannot = Berth({"wait", "tasks-running", "--tasks", a, b, "--timeout", "60"});
  EXPECT_EQ(cannot.exit_code, 1) << cannot;
  EXPECT_THAT(cannot.err, HasSubstr("berth: wait tasks-running: the condition can no longer hold: task " + ShortId(a) +
                                    " stopped (UserInitiated): done here"))
      << cannot;

  ASSERT_EQ(
      Berth({"create-service", "--service-name", "api", "--task-definition", "web", "--desired-count", "3"}).exit_code,
      0);
  CliResult stable = Berth({"wait", "services-stable", "--services", "api", "--delay", "0.2", "--timeout", "60"});
  ASSERT_EQ(stable.exit_code, 0) << stable << agent.Log();
  EXPECT_THAT(stable.err, HasSubstr("api: 3/3 running, deployment COMPLETED\n")) << stable;
  Json service = Berth({"describe-services", "--services", "api"}).OutJson()["services"][0];
  EXPECT_EQ(service["runningCount"], 3);
  EXPECT_EQ(service["deployments"].size(), 1u);
  EXPECT_EQ(service["deployments"][0]["rolloutState"], "COMPLETED");
}

}  // namespace
}  // namespace berth
