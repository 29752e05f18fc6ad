// Builds the request message of a command from what the user typed: first the whole request from
// --cli-input-json (aws CLI semantics), then each explicit option, which replaces that field.
//
// JSON is parsed with protobuf's JSON parser, strictly: an unknown member is an error, and every
// error names where it came from (the option, or `--cli-input-json file://PATH`). For
// RegisterTaskDefinition the --cli-input-json document first goes through
// ecsjson::NormalizeTaskDefinitionJson (berth/common/task_definition_json.h), so
// describe-task-definition output registers as it is.
//
// Stateless functions; safe to call from any thread (the "-" source reads std::cin).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "src/cli/command_table.h"

namespace berth::cli {

// One option given on the command line.
struct OptionValue {
  const OptionSpec* spec = nullptr;
  // kScalar and kJson: exactly one value (a bool is "true" or "false"); kRepeatedScalar: one or
  // more.
  std::vector<std::string> values;
};

struct RequestInput {
  // The --cli-input-json argument: "file://PATH", "-" (standard input) or the JSON text itself.
  std::optional<std::string> cli_input_json;
  std::vector<OptionValue> options;
};

struct BuiltRequest {
  std::unique_ptr<google::protobuf::Message> request;
  // Members of a describe-task-definition document that were dropped (output-only), in order.
  std::vector<std::string> dropped_output_only_fields;
};

// Every error (bad value, bad JSON, unreadable file://) is INVALID_ARGUMENT with a message that
// starts with the option or source it is about: "--count: ...", "--cli-input-json file://td.json: ...".
absl::StatusOr<BuiltRequest> BuildRequest(const CommandSpec& command, const RequestInput& input);

// "file://PATH" -> the file's contents ("~/" expands to $HOME); anything else is returned as it is.
// `what` names the argument in the error ("--overrides").
absl::StatusOr<std::string> ReadArgumentValue(std::string_view what, const std::string& value);

}  // namespace berth::cli
