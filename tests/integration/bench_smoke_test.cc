// Smoke tests of berth-bench's scale scenarios and its logs scenario: each runs at a tiny size
// against a berthd it spawns, so the scenarios keep working as the code changes. The figures they print are not
// checked (a test cannot time anything meaningful on a shared CI machine); their correctness
// checks are: exit status 0, one JSON object on stdout, and the counts every scenario must reach.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

struct BenchRun {
  int exit_status = -1;
  nlohmann::json report;
  std::string log;
};

// Runs `berth-bench <scenario> --spawn-berthd <berthd> --json-only <args...>`; without
// `json_only`, the summary for people is in the log as well.
BenchRun RunBench(const std::string& scenario, const std::vector<std::string>& args, bool json_only = true) {
  testutil::TempDir dir;
  const std::string bin = BERTH_BUILD_BINARY_DIR;
  std::string command = bin + "/src/bench/berth-bench " + scenario + " --spawn-berthd " + bin +
                        "/src/controlplane/berthd" + (json_only ? " --json-only" : "");
  for (const auto& a : args) command += " " + a;
  command += " >" + dir.Sub("out.json") + " 2>" + dir.Sub("err.log");
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
  run.log = command + "\n" + log.str();
  return run;
}

const std::vector<std::string> kTiny = {"--instances", "12", "--agent-channels", "2", "--clients", "4"};

std::vector<std::string> With(std::vector<std::string> more) {
  std::vector<std::string> all = kTiny;
  all.insert(all.end(), more.begin(), more.end());
  return all;
}

TEST(BenchSmokeTest, LaunchRunsEveryTask) {
  BenchRun run = RunBench("launch", With({"--tasks", "300"}));
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_EQ(run.report["scenario"], "launch");
  EXPECT_EQ(run.report["launch"]["tasks_placed"], 300);
  EXPECT_EQ(run.report["launch"]["tasks_running"], 300);
  EXPECT_EQ(run.report["launch"]["runtask"]["ok"], 30);
  EXPECT_EQ(run.report["launch"]["runtask"]["latency_ms"]["count"], 30);
  EXPECT_GT(run.report["launch"]["commit_while_placing"]["batches"].get<double>(), 0);
}

TEST(BenchSmokeTest, LatencyPacesRunTask) {
  BenchRun run = RunBench("latency", With({"--rate", "40", "--duration", "1s", "--count", "2"}));
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  // 40 calls/s for 1 s: calls 0..39 are scheduled inside the window.
  EXPECT_EQ(run.report["runtask"]["ok"], 40);
  EXPECT_EQ(run.report["runtask"]["placed"], 80);
  EXPECT_EQ(run.report["runtask"]["errors"], 0);
}

// A launch (S1) report that placed `tasks_per_s`, written into `dir`: its path.
std::string LaunchReport(const testutil::TempDir& dir, const std::string& tasks_per_s) {
  const std::string path = dir.Sub("launch.json");
  std::ofstream(path) << R"({"scenario":"launch","launch":{"tasks_placed_per_s":)" << tasks_per_s << "}}";
  return path;
}

TEST(BenchSmokeTest, LatencyTakesItsRateFromALaunchReport) {
  testutil::TempDir dir;
  const std::string report = LaunchReport(dir, "160.0");
  // Half of 160 tasks/s in calls of 2: 40 calls/s.
  BenchRun run =
      RunBench("latency", With({"--rate-of-launch", report, "--fraction", "0.5", "--duration", "1s", "--count", "2"}));
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_EQ(run.report["rate"], 40.0);
  EXPECT_EQ(run.report["rate_of_launch"]["launch_tasks_placed_per_s"], 160.0);
  EXPECT_EQ(run.report["runtask"]["ok"], 40);
  EXPECT_EQ(run.report["runtask"]["placed"], 80);
}

TEST(BenchSmokeTest, LatencyRefusesAReportThatIsNotALaunch) {
  testutil::TempDir dir;
  const std::string report = dir.Sub("footprint.json");
  std::ofstream(report) << R"({"scenario":"footprint","rss_mib":12.0})";
  BenchRun run = RunBench("latency", With({"--rate-of-launch", report, "--duration", "1s"}));
  EXPECT_NE(run.exit_status, 0) << run.log;
  EXPECT_NE(run.log.find("not a launch report"), std::string::npos) << run.log;
}

TEST(BenchSmokeTest, LatencyTakesOneRateAndAFractionOnlyOfALaunch) {
  testutil::TempDir dir;
  const std::string report = LaunchReport(dir, "160.0");
  BenchRun both = RunBench("latency", With({"--rate", "40", "--rate-of-launch", report, "--duration", "1s"}));
  EXPECT_NE(both.exit_status, 0) << both.log;
  EXPECT_NE(both.log.find("excludes"), std::string::npos) << both.log;
  BenchRun fraction = RunBench("latency", With({"--rate", "40", "--fraction", "0.5", "--duration", "1s"}));
  EXPECT_NE(fraction.exit_status, 0) << fraction.log;
  EXPECT_NE(fraction.log.find("requires --rate-of-launch"), std::string::npos) << fraction.log;
  // 0.001 tasks/s is a call every 20,000 s: refused, naming the report.
  BenchRun slow = RunBench("latency", With({"--rate-of-launch", LaunchReport(dir, "0.001"), "--duration", "1s"}));
  EXPECT_NE(slow.exit_status, 0) << slow.log;
  EXPECT_NE(slow.log.find("outside [0.1, 1000000]"), std::string::npos) << slow.log;
}

TEST(BenchSmokeTest, RestartKeepsEveryAcknowledgedTask) {
  BenchRun run = RunBench("restart", With({"--tasks", "200"}));
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_EQ(run.report["acknowledged_tasks"], 200);
  EXPECT_EQ(run.report["acknowledged_missing"], 0);
  EXPECT_EQ(run.report["instances_with_reservation_mismatch"], 0);
  EXPECT_EQ(run.report["tasks_listed_after_restart"], 201);  // and the RunTask after the restart
  EXPECT_TRUE(run.report["probe_task_listed"].get<bool>());
  EXPECT_GT(run.report["runtask_after_kill_s"].get<double>(), 0);
}

TEST(BenchSmokeTest, FootprintReportsMemoryAndDisk) {
  BenchRun run = RunBench("footprint", With({"--tasks", "200"}));
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_GT(run.report["rss_mib"].get<double>(), 0);
  EXPECT_GT(run.report["store_mib"].get<double>(), 0);
  EXPECT_EQ(run.report["launch"]["tasks_running"], 200);
}

TEST(BenchSmokeTest, ChurnStopsAndStartsAndDelivers) {
  BenchRun run = RunBench("churn", With({"--tasks", "200", "--stop-rate", "30", "--start-rate", "30", "--probe-rate",
                                         "20", "--duration", "2s"}));
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_EQ(run.report["stop_task"]["ok"], 60);
  EXPECT_EQ(run.report["run_task"]["placed"], 60);
  EXPECT_EQ(run.report["probe_poll"]["ok"], 40);
  // Every stop and start reached its agent within the 2 s the scenario waits at the end.
  EXPECT_EQ(run.report["stop_delivery_ms"]["count"], 60);
  EXPECT_EQ(run.report["start_delivery_ms"]["count"], 60);
  EXPECT_GT(run.report["agent_state_changes_per_s"].get<double>(), 0);
}

TEST(BenchSmokeTest, LogsIngestsQueriesAndSummarizes) {
  // 5 agents of 100 lines/s for 2 s: 1,000 lines, 200 per stream; the filter's group is topped
  // up to 2,000 lines, 10 of them with the rare term; RunTask at 10 calls/s for 1 s, then 2 s.
  BenchRun run = RunBench("logs", {"--instances",        "5", "--agent-channels",    "2",    "--log-channels", "2",
                                   "--clients",          "4", "--events-per-second", "500",  "--seconds",      "2",
                                   "--baseline-seconds", "1", "--filter-events",     "2000", "--runtask-rate", "10",
                                   "--filter-runs",      "1", "--tail-calls",        "20"},
                          /*json_only=*/false);
  ASSERT_EQ(run.exit_status, 0) << run.log;
  ASSERT_TRUE(run.report.is_object()) << run.log;
  EXPECT_EQ(run.report["scenario"], "logs");
  const auto& ingest = run.report["ingest"];
  EXPECT_EQ(ingest["target_events"], 1000) << run.log;
  EXPECT_EQ(ingest["events_accepted"], 1000) << run.log;
  EXPECT_EQ(ingest["pushlogs"]["batches_failed"], 0) << run.log;
  EXPECT_GT(ingest["follow"]["events_seen"].get<int64_t>(), 0) << run.log;
  EXPECT_EQ(run.report["runtask"]["without_logs"]["ok"], 10) << run.log;
  EXPECT_EQ(run.report["runtask"]["with_logs"]["ok"], 20) << run.log;
  EXPECT_EQ(run.report["footprint"]["events_stored"], 1000) << run.log;
  EXPECT_GT(run.report["footprint"]["bytes_per_event"].get<double>(), 0) << run.log;
  EXPECT_EQ(run.report["fill"]["events"], 1000) << run.log;
  EXPECT_EQ(run.report["filter"]["group_events"], 2000) << run.log;
  EXPECT_EQ(run.report["filter"]["needles_stored"], 10) << run.log;
  EXPECT_EQ(run.report["filter"]["needles_found"], 10) << run.log;
  EXPECT_EQ(run.report["tail"]["events_returned"], 200) << run.log;
  EXPECT_EQ(run.report["tail"]["latency_ms"]["count"], 20) << run.log;
  for (const char* line :
       {"\n  ingest ", "\n  PushLogs ", "\n  RunTask ", "\n  footprint ", "\n  filter ", "\n  tail ", "\n  follow "}) {
    EXPECT_NE(run.log.find(line), std::string::npos) << "no summary line" << line << "\n" << run.log;
  }
}

}  // namespace
}  // namespace berth
