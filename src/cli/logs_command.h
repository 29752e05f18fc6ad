// `berth logs TASK`: a task's container output from berthd's log store, in the style of
// `kubectl logs` and `nomad alloc logs`. DescribeTasks names each container's log group and stream
// (Container.log_group / log_stream); GetLogEvents (LogsService) reads them.
//
//   --container NAME   one container (default: every container whose output Berth keeps; with
//                      more than one, each line starts with its container's name)
//   --since DURATION   events of the last DURATION (90s, 15m, 2h, 1d) only
//   --tail N           the last N events of each stream only
//   --timestamps       each line starts with the event's time (RFC 3339, UTC, milliseconds)
//   --follow           keep printing new events as they arrive (polled every `poll_interval`);
//                      ends once the task is STOPPED and no event came for `drain_after`
//
// Events of several containers are printed in timestamp order within each read. RunLogs blocks
// on the calling thread.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "src/cli/invoker.h"

namespace berth::cli {

struct LogsRequest {
  std::string cluster;  // empty: default
  std::string task;     // id or ARN
  std::string container;
  bool follow = false;
  std::optional<std::chrono::milliseconds> since;
  std::optional<int> tail;
  bool timestamps = false;
  std::chrono::milliseconds poll_interval{100};
  std::chrono::milliseconds drain_after{3000};
  std::chrono::milliseconds call_timeout{30000};
};

// "90s", "15m", "2h", "1d" (or a number of seconds) -> milliseconds; nullopt when it is none.
std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text);

// Prints the events to `out`. Errors (the task or container does not exist, its output is not
// kept, an RPC failed) are returned; `out` may hold what was printed before.
absl::Status RunLogs(const LogsRequest& request, Invoker& invoker, std::ostream& out);

}  // namespace berth::cli
