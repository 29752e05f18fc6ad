// Log routing: where Berth keeps each container's output (docs/logs.md, "Where container output
// goes"). Resolved once, when a task is launched, into the container's log group and stream
// (Container.log_group / log_stream, Berth extensions); the agent gets the same destinations with
// the task's desired state.
//
//   awslogs            group awslogs-group; stream awslogs-stream-prefix/container/task-id (as ECS
//                      names it), container/task-id without a prefix; awslogs-create-group,
//                      awslogs-datetime-format and awslogs-multiline-pattern as Docker's driver
//                      reads them (awslogs-region and awslogs-endpoint: the agent ships to berthd)
//   no logConfiguration the cluster's default group (LogRoutingOptions::default_group with
//                      {cluster} replaced), stream container/task-id, created when missing; not
//                      kept when the default is off
//   any other driver   not kept: Docker gets it as the container's LogConfig
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/ecs_task.pb.h"
#include "berth/v1/ecs_task_definition.pb.h"

namespace berth::controlplane {

struct LogRoutingOptions {
  // The group of containers without a logConfiguration; "{cluster}" is the cluster's name. Empty:
  // their output is not kept (berthd's --default-log-group "").
  std::string default_group = "/berth/{cluster}";
};

// The group and stream of container `def` of task `task_id` in `cluster`; nullopt when Berth does
// not keep its output.
struct LogStreamName {
  std::string group;
  std::string stream;
};
std::optional<LogStreamName> LogStreamOf(const v1::ContainerDefinition& def, const std::string& cluster,
                                         const std::string& task_id, const LogRoutingOptions& options);

// The agent's destination for a container whose output is kept in `container.log_group` /
// `log_stream` (set at launch), with the options of its definition `def`.
v1::LogDestination DestinationOf(const v1::Container& container, const v1::ContainerDefinition& def);

// The awslogs options a task definition must get right: awslogs-group is required, mode is
// blocking or non-blocking, max-buffer-size is a size ("25m"), awslogs-create-group a boolean,
// awslogs-multiline-pattern a regular expression and not set together with
// awslogs-datetime-format. InvalidArgument names the option (`path` is the logConfiguration's).
absl::Status CheckAwsLogsOptions(const v1::LogConfiguration& config, const std::string& path);

// Docker's reading of a boolean log option ("true", "True", "1", "t", ...); nullopt when it is none.
std::optional<bool> ParseLogBool(const std::string& text);
// Docker's reading of a size ("25m", "1g", "4096"; binary units); nullopt when it is none.
std::optional<int64_t> ParseLogSize(const std::string& text);

}  // namespace berth::controlplane
