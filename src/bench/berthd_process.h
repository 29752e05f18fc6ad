// BerthdProcess: a berthd that berth-bench starts for one run and stops afterwards.
//
// Start() creates a private temporary directory under $TMPDIR (or /tmp) holding the data dir, the
// ready file and berthd's log, starts the binary with
//   --data-dir DIR/data --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --ready-file DIR/ready.json
// plus any extra arguments, and waits until the ready file appears. Stop() sends SIGTERM and waits
// (SIGKILL after a grace period); the destructor stops the process if needed and removes the
// directory. The child gets SIGTERM if berth-bench dies first (PR_SET_PDEATHSIG).
//
// Not thread-safe: owned and used by the main thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::bench {

class BerthdProcess {
 public:
  struct Options {
    std::string binary;                   // path of the berthd executable
    std::vector<std::string> extra_args;  // appended after the generated flags
    std::chrono::seconds ready_timeout{60};
    std::chrono::seconds stop_timeout{20};
  };

  static absl::StatusOr<std::unique_ptr<BerthdProcess>> Start(const Options& options);

  BerthdProcess(const BerthdProcess&) = delete;
  BerthdProcess& operator=(const BerthdProcess&) = delete;
  ~BerthdProcess();

  // SIGTERM, then wait. OK when berthd exited with status 0; idempotent.
  absl::Status Stop();

  // SIGKILL, then wait: a crash at an arbitrary moment, for restart measurements.
  absl::Status Kill();

  // Starts berthd again on the same data directory and the same gRPC and HTTP ports (so clients
  // reconnect to the same address), after Stop() or Kill(). Returns as soon as the process runs;
  // WaitReady() then waits for its ready file.
  absl::Status Relaunch();
  absl::Status WaitReady() { return WaitReady(options_); }

  pid_t pid() const { return pid_; }
  const std::string& grpc_endpoint() const { return grpc_endpoint_; }  // HOST:PORT
  const std::string& http_endpoint() const { return http_endpoint_; }  // HOST:PORT
  const std::string& data_dir() const { return data_dir_; }

  // The last `lines` lines of berthd's log (stdout and stderr), for error reports.
  std::string LogTail(int lines) const;

 private:
  explicit BerthdProcess(std::string work_dir);
  absl::Status Launch(const Options& options, const std::string& grpc_listen, const std::string& http_listen);
  absl::Status WaitReady(const Options& options);

  Options options_;
  std::string work_dir_;
  std::string data_dir_;
  std::string ready_file_;
  std::string log_file_;
  pid_t pid_ = -1;
  bool running_ = false;
  std::chrono::seconds stop_timeout_{20};
  std::string grpc_endpoint_;
  std::string http_endpoint_;
};

}  // namespace berth::bench
