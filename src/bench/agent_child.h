// Pieces shared by the scenarios that run tasks on a real berth-agent (taskstart.cc,
// local_docker.cc): the agent as a child process, and percentiles of phase durations.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace berth::bench {

// A berth-agent a scenario runs for its duration, with a data dir of its own in /tmp and
// `--cleanup-after 1`; its log is agent.log there. The destructor stops it (SIGTERM).
class AgentChild {
 public:
  ~AgentChild() { Stop(); }
  // Starts the agent and waits (up to 60 s) until it registered.
  absl::Status Start(const std::string& binary, const std::string& endpoint, const std::string& cluster,
                     const std::vector<std::string>& extra);
  void Stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string dir_;
};

// The `p` quantile (0..1) of `v`, nearest rank; 0 for none.
double Percentile(std::vector<double> v, double p);
// {"p50_ms", "p99_ms", "max_ms"} of durations in seconds.
nlohmann::ordered_json Stats(const std::vector<double>& seconds);

}  // namespace berth::bench
