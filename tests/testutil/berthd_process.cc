#include "tests/testutil/berthd_process.h"

#include "tests/testutil/child_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace berth::testutil {

std::string BuiltBinary(const std::string& relative) {
  const char* dir = std::getenv("BERTH_BINARY_DIR");
  return std::string(dir ? dir : ".") + "/" + relative;
}

BerthdProcess::BerthdProcess(std::string data_dir, std::vector<std::string> extra_flags)
    : data_dir_(std::move(data_dir)), extra_flags_(std::move(extra_flags)), log_path_(data_dir_ + ".log") {}

BerthdProcess::~BerthdProcess() {
  if (pid_ > 0) Kill();
  for (pid_t group : process_groups_) ::kill(-group, SIGKILL);  // ESRCH when none is left: fine
}

bool BerthdProcess::Start() {
  std::string ready = data_dir_ + ".ready";
  ::unlink(ready.c_str());
  std::vector<std::string> args = {BuiltBinary("src/controlplane/berthd"), "--data-dir", data_dir_, "--ready-file",
                                   ready};
  // Listen on free loopback ports unless the test chose its own.
  for (const char* flag : {"--grpc-listen", "--http-listen"}) {
    if (std::find(extra_flags_.begin(), extra_flags_.end(), flag) == extra_flags_.end()) {
      args.push_back(flag);
      args.push_back("127.0.0.1:0");
    }
  }
  args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
  pid_ = SpawnWithLog(args, log_path_, /*own_process_group=*/true);
  if (pid_ <= 0) return false;
  process_groups_.push_back(pid_);
  bool ok = WaitForReadyFile(&pid_, ready, std::chrono::seconds(30), [this](const std::string& text) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object()) return false;
    grpc_address_ = doc.value("grpc", "");
    http_address_ = doc.value("http", "");
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(64 << 20);
    channel_args.SetMaxSendMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(grpc_address_, grpc::InsecureChannelCredentials(), channel_args);
    return true;
  });
  if (!ok) Kill();
  return ok;
}

void BerthdProcess::Kill() { KillAndReap(&pid_); }

int BerthdProcess::Signal(int signal, int timeout_ms) {
  return SignalAndReap(&pid_, signal, std::chrono::milliseconds(timeout_ms));
}

int BerthdProcess::Terminate() { return TerminateAndReap(&pid_, std::chrono::seconds(20)); }

std::unique_ptr<v1::ContainerService::Stub> BerthdProcess::NewStub() const {
  return v1::ContainerService::NewStub(channel_);
}

std::string BerthdProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace berth::testutil
