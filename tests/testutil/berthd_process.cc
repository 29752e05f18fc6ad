#include "tests/testutil/berthd_process.h"

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
  pid_ = fork();
  if (pid_ == 0) {
    FILE* log = std::fopen(log_path_.c_str(), "a");
    if (log != nullptr) dup2(fileno(log), STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "cannot exec %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::ifstream in(ready);
    if (in) {
      auto doc = nlohmann::json::parse(in, nullptr, false);
      if (doc.is_object()) {
        grpc_address_ = doc.value("grpc", "");
        http_address_ = doc.value("http", "");
        grpc::ChannelArguments channel_args;
        channel_args.SetMaxReceiveMessageSize(64 << 20);
        channel_args.SetMaxSendMessageSize(64 << 20);
        channel_ = grpc::CreateCustomChannel(grpc_address_, grpc::InsecureChannelCredentials(), channel_args);
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return false;
}

void BerthdProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int BerthdProcess::Terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return -1;
}

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
