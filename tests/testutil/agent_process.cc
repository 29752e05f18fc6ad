#include "tests/testutil/agent_process.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/testutil/berthd_process.h"
#include "tests/testutil/child_process.h"

namespace berth::testutil {

AgentProcess::AgentProcess(std::string data_dir, std::vector<std::string> flags)
    : data_dir_(std::move(data_dir)), flags_(std::move(flags)), log_path_(data_dir_ + ".log") {}

AgentProcess::~AgentProcess() {
  if (pid_ > 0) Kill();
}

bool AgentProcess::Start() {
  std::string ready = data_dir_ + ".ready";
  ::unlink(ready.c_str());
  std::vector<std::string> args = {BuiltBinary("src/agent/berth-agent"), "--data-dir", data_dir_, "--ready-file",
                                   ready};
  args.insert(args.end(), flags_.begin(), flags_.end());
  pid_ = SpawnWithLog(args, log_path_);
  if (pid_ <= 0) return false;
  bool ok = WaitForReadyFile(&pid_, ready, std::chrono::seconds(60), [this](const std::string& text) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object()) return false;
    instance_arn_ = doc.value("containerInstanceArn", "");
    return true;
  });
  if (!ok) Kill();
  return ok;
}

void AgentProcess::Kill() { KillAndReap(&pid_); }

int AgentProcess::WaitExit(int timeout_ms) { return testutil::WaitExit(&pid_, std::chrono::milliseconds(timeout_ms)); }

int AgentProcess::Signal(int signal, int timeout_ms) {
  return SignalAndReap(&pid_, signal, std::chrono::milliseconds(timeout_ms));
}

int AgentProcess::Terminate() { return TerminateAndReap(&pid_, std::chrono::seconds(20)); }

std::string AgentProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace berth::testutil
