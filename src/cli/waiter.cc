#include "src/cli/waiter.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <thread>

#include "berth/common/strings.h"
#include "src/cli/command_table.h"
#include "src/cli/table.h"

namespace berth::cli {
namespace {

using State = WaitVerdict::State;
using Clock = std::chrono::steady_clock;

// ECS's limits of one Describe* call; a waiter on more names makes several calls per poll.
constexpr size_t kServicesPerDescribe = 10;
constexpr size_t kTasksPerDescribe = 100;

// Calls `method` once per chunk of `names` (`per_call` each) and merges the responses: Response's
// repeated members are appended, so the verdict sees every name.
template <typename Request, typename Response>
grpc::Status DescribeAll(Invoker& invoker, const google::protobuf::MethodDescriptor& method,
                         const std::optional<std::string>& cluster, const std::vector<std::string>& names,
                         size_t per_call, void (Request::*add)(const std::string&), Response* merged,
                         std::chrono::milliseconds timeout) {
  for (size_t begin = 0; begin < names.size(); begin += per_call) {
    Request request;
    if (cluster) request.set_cluster(*cluster);
    for (size_t i = begin; i < names.size() && i < begin + per_call; ++i) (request.*add)(names[i]);
    Response response;
    grpc::Status status = invoker.Call(method, request, &response, timeout);
    if (!status.ok()) return status;
    merged->MergeFrom(response);
  }
  return grpc::Status::OK;
}

// "MISSING arn=web" for failures the condition cannot survive: a resource that does not exist.
std::string MissingReason(const google::protobuf::RepeatedPtrField<v1::Failure>& failures) {
  std::string reason;
  for (const v1::Failure& failure : failures) {
    StrAppend(&reason, reason.empty() ? "" : "; ", ShortId(failure.arn()), ": ", failure.reason(),
              failure.has_detail() ? StrCat(" (", failure.detail(), ")") : "");
  }
  return reason;
}

// `line` cut to the width of the terminal on stderr: a line that wraps cannot be rewritten with \r.
std::string FitTerminal(const std::string& line) {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) != 0 || size.ws_col < 2 || line.size() < size.ws_col) return line;
  return line.substr(0, size.ws_col - 1);
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& part : parts) StrAppend(&out, out.empty() ? "" : separator, part);
  return out;
}

}  // namespace

bool ParseWaitCondition(std::string_view name, WaitCondition* condition) {
  for (WaitCondition c : {WaitCondition::kServicesStable, WaitCondition::kTasksRunning, WaitCondition::kTasksStopped}) {
    if (WaitConditionName(c) == name) {
      *condition = c;
      return true;
    }
  }
  return false;
}

std::string_view WaitConditionName(WaitCondition condition) {
  switch (condition) {
    case WaitCondition::kServicesStable:
      return "services-stable";
    case WaitCondition::kTasksRunning:
      return "tasks-running";
    case WaitCondition::kTasksStopped:
      return "tasks-stopped";
  }
  return "";
}

WaitVerdict EvaluateServices(const v1::DescribeServicesResponse& response) {
  WaitVerdict verdict;
  if (response.failures_size() > 0) {
    verdict.state = State::kImpossible;
    verdict.reason = MissingReason(response.failures());
    return verdict;
  }
  bool all_stable = response.services_size() > 0;
  std::vector<std::string> lines;
  for (const v1::Service& service : response.services()) {
    const v1::Deployment* primary = nullptr;
    for (const v1::Deployment& d : service.deployments()) {
      if (d.status() == "PRIMARY") primary = &d;
    }
    std::string line =
        StrCat(service.service_name(), ": ", service.running_count(), "/", service.desired_count(), " running");
    if (service.pending_count() > 0) StrAppend(&line, ", ", service.pending_count(), " pending");
    if (service.deployments_size() != 1) StrAppend(&line, ", ", service.deployments_size(), " deployments");
    if (primary != nullptr && primary->has_rollout_state()) StrAppend(&line, ", deployment ", primary->rollout_state());
    lines.push_back(std::move(line));

    if (service.status() != "ACTIVE") {
      verdict.state = State::kImpossible;
      verdict.reason = StrCat("service ", service.service_name(), " is ", service.status());
      return verdict;
    }
    if (service.deployments_size() == 1 && service.deployments(0).rollout_state() == "FAILED") {
      verdict.state = State::kImpossible;
      verdict.reason = StrCat("the deployment of service ", service.service_name(), " FAILED",
                              service.deployments(0).has_rollout_state_reason()
                                  ? StrCat(": ", service.deployments(0).rollout_state_reason())
                                  : "");
      return verdict;
    }
    const bool rolled_out = service.deployments_size() == 1 && (!service.deployments(0).has_rollout_state() ||
                                                                service.deployments(0).rollout_state() == "COMPLETED");
    if (!rolled_out || service.running_count() != service.desired_count()) all_stable = false;
  }
  verdict.progress = Join(lines, "; ");
  if (all_stable) verdict.state = State::kMet;
  return verdict;
}

WaitVerdict EvaluateTasks(WaitCondition condition, const v1::DescribeTasksResponse& response) {
  WaitVerdict verdict;
  if (response.failures_size() > 0) {
    verdict.state = State::kImpossible;
    verdict.reason = MissingReason(response.failures());
    return verdict;
  }
  const std::string want = condition == WaitCondition::kTasksRunning ? "RUNNING" : "STOPPED";
  std::map<std::string, int> by_status;
  int matching = 0;
  for (const v1::Task& task : response.tasks()) {
    ++by_status[task.last_status()];
    if (task.last_status() == want) ++matching;
    if (condition == WaitCondition::kTasksRunning && task.last_status() == "STOPPED") {
      verdict.state = State::kImpossible;
      verdict.reason = StrCat("task ", ShortId(task.task_arn()), " stopped",
                              task.has_stop_code() ? StrCat(" (", task.stop_code(), ")") : "", ": ",
                              task.has_stopped_reason() ? task.stopped_reason() : "no reason given");
      return verdict;
    }
  }
  std::string progress = StrCat("tasks: ", matching, "/", response.tasks_size(), " ", want);
  for (const auto& [status, count] : by_status) {
    if (status != want) StrAppend(&progress, ", ", count, " ", status.empty() ? "(no status)" : status);
  }
  verdict.progress = std::move(progress);
  if (response.tasks_size() > 0 && matching == response.tasks_size()) verdict.state = State::kMet;
  return verdict;
}

WaitResult RunWaiter(const WaitRequest& request, Invoker& invoker, bool live) {
  const google::protobuf::ServiceDescriptor& service = ContainerServiceDescriptor();
  const bool services = request.condition == WaitCondition::kServicesStable;
  const google::protobuf::MethodDescriptor* method =
      service.FindMethodByName(services ? "DescribeServices" : "DescribeTasks");
  const Clock::time_point deadline = Clock::now() + request.timeout;
  std::string shown;  // the progress line last printed
  auto show = [&](const std::string& line) {
    if (line == shown && !live) return;
    if (live) {
      std::fprintf(stderr, "\r%s\033[K", FitTerminal(line).c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
    shown = line;
  };
  auto finish = [&](WaitResult result) {
    if (live && !shown.empty()) std::fputs("\n", stderr);
    return result;
  };

  while (true) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto call_timeout = std::clamp(remaining, std::chrono::milliseconds(1000), request.call_timeout);
    WaitVerdict verdict;
    grpc::Status status;
    if (services) {
      v1::DescribeServicesResponse response;
      status = DescribeAll<v1::DescribeServicesRequest>(
          invoker, *method, request.cluster, request.names, kServicesPerDescribe,
          static_cast<void (v1::DescribeServicesRequest::*)(const std::string&)>(
              &v1::DescribeServicesRequest::add_services),
          &response, call_timeout);
      if (status.ok()) verdict = EvaluateServices(response);
    } else {
      v1::DescribeTasksResponse response;
      status = DescribeAll<v1::DescribeTasksRequest>(
          invoker, *method, request.cluster, request.names, kTasksPerDescribe,
          static_cast<void (v1::DescribeTasksRequest::*)(const std::string&)>(&v1::DescribeTasksRequest::add_tasks),
          &response, call_timeout);
      if (status.ok()) verdict = EvaluateTasks(request.condition, response);
    }
    if (!status.ok()) {
      return finish({WaitResult::Outcome::kRpcError, "", status, method->name()});
    }
    if (!verdict.progress.empty()) show(verdict.progress);
    switch (verdict.state) {
      case State::kMet:
        return finish({WaitResult::Outcome::kMet, verdict.progress, {}, ""});
      case State::kImpossible:
        return finish({WaitResult::Outcome::kImpossible, verdict.reason, {}, ""});
      case State::kWaiting:
        break;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return finish({WaitResult::Outcome::kTimedOut, verdict.progress, {}, ""});
    std::this_thread::sleep_for(std::min<Clock::duration>(request.delay, deadline - now));
  }
}

}  // namespace berth::cli
