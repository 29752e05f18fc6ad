// Child processes for integration tests: start a binary with its stderr appended to a log file,
// wait for the ready file it writes, stop it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace berth::testutil {

// fork + exec of args[0] with `args`, stderr appended to `log_path`. The child's pid, or -1.
// With `own_process_group`, the child leads a new process group (its id the child's pid), which
// the processes it starts join unless they leave it.
pid_t SpawnWithLog(std::vector<std::string> args, const std::string& log_path, bool own_process_group = false);

// Waits until `ready_path` holds a whole JSON object, then hands its text to `accept` (which
// returns false to keep waiting). False when `*pid` exits first (then *pid is -1) or on timeout.
bool WaitForReadyFile(pid_t* pid, const std::string& ready_path, std::chrono::seconds timeout,
                      const std::function<bool(const std::string& json)>& accept);

// Waits for *pid to exit; its status, or -1 after `timeout` (the process is left running).
int WaitExit(pid_t* pid, std::chrono::milliseconds timeout);
// SIGKILL and reap.
void KillAndReap(pid_t* pid);
// SIGTERM, wait up to `timeout`; SIGKILL after. The exit status, or -1 when it had to be killed.
int TerminateAndReap(pid_t* pid, std::chrono::milliseconds timeout);
// The same with another signal (SIGINT: Ctrl-C).
int SignalAndReap(pid_t* pid, int signal, std::chrono::milliseconds timeout);

}  // namespace berth::testutil
