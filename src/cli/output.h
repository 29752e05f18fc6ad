// Renders a response for the terminal.
//
// JSON (the default) is the ECS shape, as the aws CLI prints it: lowerCamelCase members, 4-space
// indentation, 64-bit integers as JSON numbers (`"version": 1`, not `"version": "1"`), and the
// empty lists ECS always sends (`"volumes": []`). Text is a compact one-line-per-item
// rendering: ARNs one per line for List*, tab-separated summary columns for described resources.
// Table is aligned columns for people (src/cli/table.h).
//
// Pure functions over messages; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace berth::cli {

enum class OutputFormat { kJson, kText, kTable };

// "json", "text" or "table"; false otherwise.
bool ParseOutputFormat(std::string_view text, OutputFormat* format);

// The response as an ECS JSON document, as the AWS JSON door prints it (berth/common/ecs_json.h:
// member order as in the schema, int64 as numbers, the empty lists ECS always sends);
// `tags_included`: the request's include named TAGS.
absl::StatusOr<nlohmann::ordered_json> ResponseDocument(const google::protobuf::Message& response, bool tags_included);

// What to print on stdout (ends with a newline, or is empty for an empty response such as
// TagResource's, as the aws CLI prints nothing then). Text and table output leave out `failures`
// and `nextToken`: see FailureLines, FailureTable and NextToken.
std::string Render(const nlohmann::ordered_json& doc, const google::protobuf::Descriptor& descriptor,
                   OutputFormat format);

// One line per element of the response's `failures` ("RESOURCE:MEMORY arn=... detail=..."),
// empty when there are none.
std::vector<std::string> FailureLines(const nlohmann::ordered_json& doc);

// The response's nextToken, or "".
std::string NextToken(const nlohmann::ordered_json& doc);

}  // namespace berth::cli
