// `berth wait <condition>`: polls DescribeServices or DescribeTasks until a condition holds, with
// the semantics of `aws ecs wait`:
//
//   services-stable  every service ACTIVE with exactly one deployment, runningCount ==
//                    desiredCount, and that deployment's rolloutState COMPLETED (when set).
//                    Fails at once on a missing, DRAINING or INACTIVE service, or a single
//                    deployment whose rollout FAILED.
//   tasks-running    every task RUNNING; fails at once when one is STOPPED (its stoppedReason) or
//                    missing.
//   tasks-stopped    every task STOPPED; fails at once when one is missing.
//
// The Evaluate* functions are pure (one response -> a verdict and a progress line); RunWaiter does
// the polling and the printing. RunWaiter runs on the calling thread and blocks.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "berth/v1/ecs.pb.h"
#include "src/cli/invoker.h"

namespace berth::cli {

enum class WaitCondition { kServicesStable, kTasksRunning, kTasksStopped };

// "services-stable" -> kServicesStable; false for another name.
bool ParseWaitCondition(std::string_view name, WaitCondition* condition);
std::string_view WaitConditionName(WaitCondition condition);

struct WaitVerdict {
  enum class State { kWaiting, kMet, kImpossible };
  State state = State::kWaiting;
  std::string progress;  // one line: "web: 2/3 running, 1 pending, deployment IN_PROGRESS"
  std::string reason;    // kImpossible: why the condition can no longer hold
};

WaitVerdict EvaluateServices(const v1::DescribeServicesResponse& response);
WaitVerdict EvaluateTasks(WaitCondition condition, const v1::DescribeTasksResponse& response);

struct WaitRequest {
  WaitCondition condition = WaitCondition::kServicesStable;
  std::optional<std::string> cluster;
  std::vector<std::string> names;  // services or tasks
  std::chrono::milliseconds delay{2000};
  std::chrono::milliseconds timeout{600000};
  std::chrono::milliseconds call_timeout{30000};  // of each Describe* call
};

struct WaitResult {
  enum class Outcome { kMet, kImpossible, kTimedOut, kRpcError };
  Outcome outcome = Outcome::kMet;
  std::string message;      // the last progress line, or why the condition cannot hold
  grpc::Status rpc_status;  // kRpcError
  std::string method;       // kRpcError: the RPC that failed
};

// Polls every `request.delay` until the condition holds, cannot hold, or `request.timeout` has
// passed. Progress goes to stderr: on a terminal (`live`) one line rewritten in place with \r,
// otherwise a plain line each time it changes.
WaitResult RunWaiter(const WaitRequest& request, Invoker& invoker, bool live);

}  // namespace berth::cli
