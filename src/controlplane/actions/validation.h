// Request validation shared by every door (gRPC, AWS JSON). Pure functions over request
// messages: no state, no store. Each error is INVALID_ARGUMENT naming the field (in the ECS JSON
// spelling, with indexes: "containerDefinitions[1].portMappings[0].hostPort") and the rule.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/common/task_definition_json.h"
#include "berth/v1/ecs.pb.h"
#include "berth/v1/records.pb.h"

namespace berth::controlplane {

struct Limits {
  int max_containers_per_task_definition = 10;
  size_t max_task_definition_bytes = 64 * 1024;
  int max_tags = 50;
  int max_tasks_per_run = 10;
  size_t max_overrides_bytes = 8 * 1024;
  int max_placement_constraints = 10;  // RunTask's together with the task definition's
  int max_placement_strategies = 5;
  int max_services_per_cluster = 5000;
  int max_tasks_per_service = 5000;  // a REPLICA service's desiredCount
};

// The facts registration derives from a valid task definition.
struct TaskDefinitionFacts {
  v1::ResourceDemand demand;                 // what one task reserves (ECS rules)
  std::vector<std::string> compatibilities;  // launch types it is compatible with
  std::string network_mode;                  // effective network mode ("bridge" when absent)
};

// Every rule of ECS-SEMANTICS.md "Task definitions".
absl::StatusOr<TaskDefinitionFacts> ValidateTaskDefinition(const v1::RegisterTaskDefinitionRequest& request,
                                                           const Limits& limits);

// Tags: at most limits.max_tags; key 1-128 chars, value 0-256 chars; keys unique; the "aws:"
// prefix is reserved.
absl::Status ValidateTags(const google::protobuf::RepeatedPtrField<v1::Tag>& tags, std::string_view field,
                          const Limits& limits);

// Task-level cpu ("1024", "1 vCPU", "1vcpu") in CPU units; memory ("2048", "2GB", "2 GB") in MiB.
absl::StatusOr<int64_t> ParseTaskCpu(std::string_view text, std::string_view field);
absl::StatusOr<int64_t> ParseTaskMemory(std::string_view text, std::string_view field);

// The demand of one task of `facts` with `overrides` applied (task-level cpu/memory overrides and
// per-container cpu/memory/memoryReservation overrides), following ECS's rules.
absl::StatusOr<v1::ResourceDemand> DemandWithOverrides(const v1::TaskDefinition& task_definition,
                                                       const v1::ResourceDemand& base,
                                                       const v1::TaskOverride& overrides);

// The normalization of task-definition files that the CLI applies before registering
// (berth/common/task_definition_json.h), named here beside the rules it feeds.
using ecsjson::NormalizeTaskDefinitionJson;

}  // namespace berth::controlplane
