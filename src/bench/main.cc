// berth-bench: load generator for berthd. Each benchmark is a subcommand (see scenario.h); it
// drives berthd over gRPC only, either one it spawns (--spawn-berthd) or a running one
// (--endpoint). Output: one JSON object on stdout; progress and a summary on stderr.
//
// Exit status: 0 success; 1 setup failed or the run produced nothing (no call succeeded); 2 usage.
#include <curl/curl.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "absl/synchronization/mutex.h"

#include "src/bench/machine.h"
#include "src/bench/scenario.h"
#include "src/bench/target.h"

namespace berth::bench {
namespace {

std::vector<std::unique_ptr<Scenario>> Scenarios() {
  std::vector<std::unique_ptr<Scenario>> all;
  all.push_back(NewRunTaskScenario());
  all.push_back(NewAgentsScenario());
  all.push_back(NewTaskStartScenario());
  all.push_back(NewSwarmScenario());
  all.push_back(NewDockerRunScenario());
  all.push_back(NewSlowStopScenario());
  all.push_back(NewServicesScenario());
  all.push_back(NewLaunchScenario());
  all.push_back(NewLatencyScenario());
  all.push_back(NewRestartScenario());
  all.push_back(NewFootprintScenario());
  all.push_back(NewChurnScenario());
  all.push_back(NewAwsDoorScenario());
  all.push_back(NewLogsScenario());
  return all;
}

struct CommonFlags {
  TargetOptions target;
  bool json_only = false;
};

void AddCommonFlags(CLI::App* command, CommonFlags* flags) {
  auto* endpoint = command->add_option("--endpoint", flags->target.endpoint, "gRPC HOST:PORT of a running berthd");
  auto* spawn = command->add_option("--spawn-berthd", flags->target.spawn_berthd,
                                    "Start this berthd binary (temporary data dir, port 0) for the run");
  endpoint->excludes(spawn);
  command->add_option("--metrics-url", flags->target.metrics_url,
                      "berthd's Prometheus endpoint, http://HOST:PORT/metrics (derived with --spawn-berthd)");
  command
      ->add_option("--berthd-arg", flags->target.berthd_args,
                   "Extra flag for the spawned berthd (repeatable; e.g. --berthd-arg=--max-batch=256)")
      ->allow_extra_args(false);
  command->add_flag("--json-only", flags->json_only, "Print only the JSON result (nothing on stderr)");
}

int Run(Scenario& scenario, const CommonFlags& flags) {
  const Console console(flags.json_only);
  if (absl::Status s = scenario.Validate(); !s.ok()) {
    fmt::print(stderr, "berth-bench {}: {}\n", scenario.name(), std::string(s.message()));
    return 2;
  }
  if (flags.target.endpoint.empty() && flags.target.spawn_berthd.empty()) {
    fmt::print(stderr, "berth-bench {}: give --endpoint HOST:PORT or --spawn-berthd PATH\n", scenario.name());
    return 2;
  }
  if (!flags.target.spawn_berthd.empty()) console.Note("starting {}", flags.target.spawn_berthd);
  auto target = Target::Open(flags.target);
  if (!target.ok()) {
    fmt::print(stderr, "berth-bench {}: {}\n", scenario.name(), target.status().ToString());
    return target.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if ((*target)->spawned()) console.Note("berthd serving gRPC on {}", (*target)->grpc_endpoint());
  nlohmann::ordered_json machine = MachineFacts();
  if (std::string note = ReclaimNote(machine); !note.empty()) console.Note("note: {}", note);

  absl::StatusOr<ScenarioResult> result = scenario.Run(**target, console);
  // Stop a spawned berthd before reporting: a berthd that does not shut down cleanly is news.
  absl::Status closed = (*target)->Close();
  if (!closed.ok()) fmt::print(stderr, "berth-bench: stopping berthd: {}\n", closed.ToString());
  if (!result.ok()) {
    fmt::print(stderr, "berth-bench {}: {}\n", scenario.name(), result.status().ToString());
    return 1;
  }
  if (result->report.is_object()) result->report["machine"] = std::move(machine);
  fmt::print(stdout, "{}\n", result->report.dump());
  std::fflush(stdout);
  console.Print(result->summary);
  if (!result->ok) {
    fmt::print(stderr, "berth-bench {}: {}\n", scenario.name(), result->failure);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  using namespace berth::bench;
  // Debian's Abseil is built without NDEBUG, so absl::Mutex (which gRPC uses internally) runs its
  // deadlock detector on every lock: about 5% of the bench's CPU in a runtask profile. The bench
  // shares the machine with berthd, so it turns the detector off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::vector<std::unique_ptr<Scenario>> scenarios = Scenarios();
  CommonFlags flags;
  CLI::App app{"berth-bench: load generator for berthd"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, Scenario*>> commands;
  for (auto& scenario : scenarios) {
    CLI::App* command = app.add_subcommand(scenario->name(), scenario->description());
    AddCommonFlags(command, &flags);
    scenario->AddFlags(command);
    commands.emplace_back(command, scenario.get());
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends exit 0; every other parse error is a usage error (2), whatever CLI11's code.
    return app.exit(e) == 0 ? 0 : 2;
  }
  int rc = 2;
  for (auto& [command, scenario] : commands) {
    if (command->parsed()) rc = Run(*scenario, flags);
  }
  curl_global_cleanup();
  return rc;
}
