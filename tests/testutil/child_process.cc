#include "tests/testutil/child_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace berth::testutil {

pid_t SpawnWithLog(std::vector<std::string> args, const std::string& log_path, bool own_process_group) {
  pid_t pid = fork();
  if (pid == 0) {
    if (own_process_group) setpgid(0, 0);
    FILE* log = std::fopen(log_path.c_str(), "a");
    if (log != nullptr) dup2(fileno(log), STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "cannot exec %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  // Also from here, so the group exists by the time this returns (whichever runs first wins).
  if (pid > 0 && own_process_group) setpgid(pid, pid);
  return pid;
}

bool WaitForReadyFile(pid_t* pid, const std::string& ready_path, std::chrono::seconds timeout,
                      const std::function<bool(const std::string& json)>& accept) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(*pid, &status, WNOHANG) == *pid) {
      *pid = -1;
      return false;
    }
    std::ifstream in(ready_path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      if (accept(ss.str())) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int WaitExit(pid_t* pid, std::chrono::milliseconds timeout) {
  if (*pid <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(*pid, &status, WNOHANG) == *pid) {
      *pid = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

void KillAndReap(pid_t* pid) {
  if (*pid <= 0) return;
  ::kill(*pid, SIGKILL);
  int status = 0;
  waitpid(*pid, &status, 0);
  *pid = -1;
}

int TerminateAndReap(pid_t* pid, std::chrono::milliseconds timeout) { return SignalAndReap(pid, SIGTERM, timeout); }

int SignalAndReap(pid_t* pid, int signal, std::chrono::milliseconds timeout) {
  if (*pid <= 0) return -1;
  ::kill(*pid, signal);
  int status = WaitExit(pid, timeout);
  if (status == -1) KillAndReap(pid);
  return status;
}

}  // namespace berth::testutil
