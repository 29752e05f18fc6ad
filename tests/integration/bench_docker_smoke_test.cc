// Smoke tests of berth-bench's local-Docker scenarios (src/bench/local_docker.cc) at the smallest
// size, so they keep working as the code changes: exit status 0, one JSON object on stdout with
// the fields docs/benchmarks.md quotes. No figure is checked. `swarm` is left out: it changes the
// engine's swarm state, which the tests sharing this engine must not see.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/docker_helpers.h"
#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

struct BenchRun {
  int exit_status = -1;
  nlohmann::json report;
  std::string log;
};

// `berth-bench <scenario> --spawn-berthd ... --spawn-agent ... --json-only <args>`.
BenchRun RunBench(const std::string& scenario, const std::string& args) {
  testutil::TempDir dir;
  const std::string bin = BERTH_BUILD_BINARY_DIR;
  const std::string command = bin + "/src/bench/berth-bench " + scenario + " --spawn-berthd " + bin +
                              "/src/controlplane/berthd --spawn-agent " + bin + "/src/agent/berth-agent --json-only " +
                              args + " >" + dir.Sub("out.json") + " 2>" + dir.Sub("err.log");
  BenchRun run;
  const int status = std::system(command.c_str());
  run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream out(dir.Sub("out.json"));
  std::stringstream text;
  text << out.rdbuf();
  run.report = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  std::ifstream err(dir.Sub("err.log"));
  std::stringstream log;
  log << err.rdbuf();
  run.log = command + "\n" + text.str() + "\n" + log.str();
  return run;
}

class BenchDockerSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override { BERTH_REQUIRE_DOCKER(); }
};

TEST_F(BenchDockerSmokeTest, DockerRunReportsBothSidesAndThePhases) {
  BenchRun run = RunBench("dockerrun", "--runs 1");
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_EQ(run.report["scenario"], "dockerrun");
  for (const char* field : {"berth_runtask_to_running", "berth_control_plane", "berth_pull", "berth_create",
                            "berth_start", "docker_run_d"}) {
    EXPECT_GT(run.report[field]["p50_ms"].get<double>(), 0) << field << "\n" << run.log;
  }
}

TEST_F(BenchDockerSmokeTest, SlowStopReportsTheLaunchAloneAndBesideTheStops) {
  BenchRun run = RunBench("slowstop", "--runs 1 --slow-tasks 2 --stop-timeout 2");
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_EQ(run.report["scenario"], "slowstop");
  EXPECT_GT(run.report["launch_alone"]["p50_ms"].get<double>(), 0) << run.log;
  EXPECT_GT(run.report["launch_beside_slow_stops"]["p50_ms"].get<double>(), 0) << run.log;
  EXPECT_TRUE(run.report.contains("launches_after_a_stop_ended")) << run.log;
}

}  // namespace
}  // namespace berth
