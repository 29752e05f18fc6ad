// Task-definition files as users keep them, turned into RegisterTaskDefinitionRequest JSON. Shared
// by the berth CLI (--cli-input-json) and the control plane's registration tests, so that the one
// rule for what a saved file may hold lives in one place, outside the control plane.
//
// Thread-safe: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::ecsjson {

// Turns what users hold as a task definition file into RegisterTaskDefinitionRequest JSON, as the
// CLI's --cli-input-json does: unwraps describe-task-definition output ({"taskDefinition": {...}},
// with a sibling "tags" moved inside) and drops the output-only members (taskDefinitionArn,
// revision, status, requiresAttributes, compatibilities, registeredAt, registeredBy,
// deregisteredAt, deleteRequestedAt), naming each dropped one in `dropped_fields` (may be null).
// Every other member is kept as it is, so unknown ones still fail the protobuf parse that
// follows. INVALID_ARGUMENT when the text is not JSON or not a JSON object.
absl::StatusOr<std::string> NormalizeTaskDefinitionJson(std::string_view json,
                                                        std::vector<std::string>* dropped_fields);

}  // namespace berth::ecsjson
