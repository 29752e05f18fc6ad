// Scenario: one benchmark of berth-bench, run as a subcommand (`berth-bench runtask ...`).
//
// main() owns what every scenario shares: the target flags (--endpoint / --spawn-berthd,
// --metrics-url, --berthd-arg), --json-only, starting and stopping a spawned berthd, and printing
// the result. A scenario adds its own flags, sets up the state it needs (see fleet.h), drives the
// load, and returns one JSON object plus a human summary. Shared pieces: Fleet (setup),
// LatencyRecorder (percentiles), MetricsScraper / CommitStats (server-side figures), timing.h.
//
// To add a scenario: implement this interface in src/bench/<name>.cc, declare its factory below
// and list it in main.cc's Scenarios().
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/bench/target.h"

namespace berth::bench {

// `v` rounded to `decimals` decimal places, for reports people read.
inline double Round(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

// Progress and summaries for people, on stderr; silent under --json-only.
class Console {
 public:
  explicit Console(bool quiet) : quiet_(quiet) {}
  template <typename... Args>
  void Note(fmt::format_string<Args...> format, Args&&... args) const {
    if (!quiet_) fmt::print(stderr, "berth-bench: {}\n", fmt::format(format, std::forward<Args>(args)...));
  }
  void Print(std::string_view text) const {
    if (!quiet_) fmt::print(stderr, "{}", text);
  }

 private:
  bool quiet_;
};

struct ScenarioResult {
  nlohmann::ordered_json report;  // one JSON object, printed on stdout
  std::string summary;            // for people, on stderr
  // False when the run produced nothing to report on (e.g. no call succeeded): exit status 1.
  bool ok = true;
  std::string failure;  // why, when !ok
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Adds the scenario's own flags to its subcommand (called once, before parsing).
  virtual void AddFlags(CLI::App* command) = 0;
  // Checks flag values after parsing; an error is a usage error (exit status 2).
  virtual absl::Status Validate() { return absl::OkStatus(); }
  // Runs once against a serving berthd. An error means setup or the run itself failed (exit 1).
  virtual absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) = 0;
};

// Closed-loop RunTask throughput and latency (runtask.cc).
std::unique_ptr<Scenario> NewRunTaskScenario();
// Idle agents long-polling: berthd's CPU per 1,000 agents (agents.cc).
std::unique_ptr<Scenario> NewAgentsScenario();
// RunTask to RUNNING on a real agent, split by phase (taskstart.cc).
std::unique_ptr<Scenario> NewTaskStartScenario();
// Berth against Docker on the local engine (local_docker.cc): a replica service against Swarm,
// RunTask against `docker run -d`, a launch beside stops that wait out their timeout.
std::unique_ptr<Scenario> NewSwarmScenario();
std::unique_ptr<Scenario> NewDockerRunScenario();
std::unique_ptr<Scenario> NewSlowStopScenario();
// A replica service on simulated agents: steady state, rollouts, lost agents (services.cc).
std::unique_ptr<Scenario> NewServicesScenario();
// The scale scenarios on simulated agents (scale.cc): S1 launch, S2 latency, S3 restart,
// S4 footprint, S5 churn.
std::unique_ptr<Scenario> NewLaunchScenario();
std::unique_ptr<Scenario> NewLatencyScenario();
std::unique_ptr<Scenario> NewRestartScenario();
std::unique_ptr<Scenario> NewFootprintScenario();
std::unique_ptr<Scenario> NewChurnScenario();
// Container output: PushLogs ingest beside RunTask, log queries, footprint (logs.cc).
std::unique_ptr<Scenario> NewLogsScenario();
// The AWS JSON door's throughput and latency next to gRPC's (aws_door.cc).
std::unique_ptr<Scenario> NewAwsDoorScenario();

}  // namespace berth::bench
