// Target: the berthd a scenario drives, either one berth-bench spawned (--spawn-berthd) or one
// already running (--endpoint, with --metrics-url optional).
//
// Not thread-safe, except NewChannel (const, callable from any thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/bench/berthd_process.h"

namespace berth::bench {

struct TargetOptions {
  std::string endpoint;                  // HOST:PORT of a running berthd
  std::string spawn_berthd;              // or: path of a berthd binary to start
  std::vector<std::string> berthd_args;  // extra flags for a spawned berthd
  std::string metrics_url;               // http://HOST:PORT/metrics; derived when spawned
};

class Target {
 public:
  // Starts berthd if asked to; checks that exactly one of endpoint / spawn_berthd is given.
  static absl::StatusOr<std::unique_ptr<Target>> Open(const TargetOptions& options);

  const std::string& grpc_endpoint() const { return grpc_endpoint_; }
  // Empty when unknown (--endpoint without --metrics-url): scenarios then skip server-side figures.
  const std::string& metrics_url() const { return metrics_url_; }
  bool spawned() const { return process_ != nullptr; }
  // The berthd process id when known (spawned), for CPU accounting.
  std::optional<pid_t> berthd_pid() const;
  // The spawned process (restart scenarios stop and start it), or null.
  BerthdProcess* process() { return process_.get(); }

  // A channel with its own HTTP/2 connection: channels made here never share a subchannel, so
  // load spread over several channels is spread over several connections. Retries are off: a
  // benchmark counts each failure rather than hiding it, and the retry buffer costs CPU.
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Stops a spawned berthd (and removes its directory). Idempotent.
  absl::Status Close();

 private:
  std::string grpc_endpoint_;
  std::string metrics_url_;
  std::unique_ptr<BerthdProcess> process_;
};

// grpc::Status -> absl::Status (the codes are the same canonical codes).
absl::Status FromGrpc(const grpc::Status& status);

// Canonical name of a gRPC status code ("UNAVAILABLE"); "CODE_<n>" for an unknown one.
std::string GrpcCodeName(int code);

}  // namespace berth::bench
