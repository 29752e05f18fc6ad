// BerthdProcess: runs the real berthd binary for integration tests, on port 0 with a data
// directory the test owns, and hands out gRPC stubs.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "berth/v1/ecs.grpc.pb.h"

namespace berth::testutil {

// Path of a binary built by this tree ("src/controlplane/berthd"), from $BERTH_BINARY_DIR.
std::string BuiltBinary(const std::string& relative);

class BerthdProcess {
 public:
  // `data_dir` persists across Start/Kill/Start, so restarts recover the same store. berthd
  // listens on free loopback ports unless `extra_flags` name --grpc-listen / --http-listen.
  explicit BerthdProcess(std::string data_dir, std::vector<std::string> extra_flags = {});
  // Kills berthd, and what it started and left running: the local hosts of its instance groups
  // (each berthd runs in a process group of its own, which they join), which outlive a berthd
  // killed with SIGKILL as hosts outlive a crashed control plane.
  ~BerthdProcess();

  // Starts berthd and waits until it serves (ready file written). Returns false on failure.
  bool Start();
  // SIGKILL: no chance to flush anything.
  void Kill();
  // SIGTERM and wait; returns the exit status (as from waitpid), -1 if it did not exit in time.
  int Terminate();
  // `signal` and wait up to `timeout_ms` (SIGKILL after); exit status, -1 when it had to be killed.
  int Signal(int signal, int timeout_ms);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::unique_ptr<v1::ContainerService::Stub> NewStub() const;
  // Contents of berthd's stderr so far (for failure messages).
  std::string Log() const;

 private:
  std::string data_dir_;
  std::vector<std::string> extra_flags_;
  pid_t pid_ = -1;
  std::vector<pid_t> process_groups_;  // one per Start
  std::string grpc_address_;
  std::string http_address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string log_path_;
};

}  // namespace berth::testutil
