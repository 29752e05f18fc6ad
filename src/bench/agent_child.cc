#include "src/bench/agent_child.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "src/bench/scenario.h"
#include "src/bench/timing.h"

namespace berth::bench {

absl::Status AgentChild::Start(const std::string& binary, const std::string& endpoint, const std::string& cluster,
                               const std::vector<std::string>& extra) {
  char pattern[] = "/tmp/berth-bench-agent-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return absl::InternalError("mkdtemp failed");
  dir_ = pattern;
  std::string ready = dir_ + "/ready.json";
  std::vector<std::string> args = {binary,         "--endpoint",   endpoint, "--cluster",       cluster, "--data-dir",
                                   dir_ + "/data", "--ready-file", ready,    "--cleanup-after", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    FILE* log = std::fopen((dir_ + "/agent.log").c_str(), "a");
    if (log != nullptr) dup2(fileno(log), STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::FailedPreconditionError("berth-agent exited at start; see " + dir_ + "/agent.log");
    }
    if (std::filesystem::exists(ready)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("berth-agent did not register within 60 s");
}

void AgentChild::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

nlohmann::ordered_json Stats(const std::vector<double>& seconds) {
  std::vector<double> ms;
  for (double s : seconds) ms.push_back(s * 1000);
  nlohmann::ordered_json j;
  j["p50_ms"] = Round(Percentile(ms, 0.50), 1);
  j["p99_ms"] = Round(Percentile(ms, 0.99), 1);
  j["max_ms"] = ms.empty() ? 0 : Round(*std::max_element(ms.begin(), ms.end()), 1);
  return j;
}

}  // namespace berth::bench
