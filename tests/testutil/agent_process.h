// AgentProcess: runs the real berth-agent binary for integration tests, with a data directory
// the test owns (so a restarted agent is the same instance).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace berth::testutil {

class AgentProcess {
 public:
  // `flags` are passed as given (--endpoint, --runtime, ...); --data-dir and --ready-file are
  // added.
  AgentProcess(std::string data_dir, std::vector<std::string> flags);
  ~AgentProcess();

  // Starts the agent and waits until it registered (ready file written). False on failure.
  bool Start();
  void Kill();      // SIGKILL
  int Terminate();  // SIGTERM and wait; exit status as from waitpid, -1 on timeout
  // `signal` and wait up to `timeout_ms` (SIGKILL after); exit status, -1 when it had to be killed.
  int Signal(int signal, int timeout_ms);
  // Waits for the process to exit by itself; its status, or -1 after `timeout_ms`.
  int WaitExit(int timeout_ms);
  bool running() const { return pid_ > 0; }

  const std::string& instance_arn() const { return instance_arn_; }
  std::string instance_id() const { return instance_arn_.substr(instance_arn_.rfind('/') + 1); }
  std::string Log() const;

 private:
  std::string data_dir_;
  std::vector<std::string> flags_;
  pid_t pid_ = -1;
  std::string instance_arn_;
  std::string log_path_;
};

// A free loopback TCP port (for a berthd that must keep its port across restarts).
int FreePort();

}  // namespace berth::testutil
