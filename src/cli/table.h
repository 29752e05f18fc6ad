// `--output table`: aligned, human-readable tables of a response, for people at a terminal
// (`text` stays the tab-separated format for scripts, `json` the ECS document).
//
// The resources people look at most get chosen columns with short identifiers (the last segment
// of an ARN, family:revision for a task definition); a described service is followed by the
// sub-tables of its deployments and its newest events. Other shapes print their scalar members in
// schema order; list-* responses print one ARN (or name) per row.
//
// Pure functions over the response's JSON document (as ResponseDocument builds it); safe from any
// thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <nlohmann/json.hpp>

namespace berth::cli {

// Rows of cells under a header row. Every row has as many cells as `header`.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// The table aligned: columns padded to their widest cell and separated by two spaces, header
// first; trailing blanks are trimmed. Ends with a newline.
std::string FormatTable(const Table& table);

// "arn:aws:ecs:local:0:task/demo/9f36..." -> "9f36..."; the text after the last '/', or the whole
// text when it has none.
std::string ShortId(std::string_view arn);

// "arn:...:task-definition/web:3" -> "web:3".
std::string TaskDefinitionName(std::string_view arn);

// The response as tables (what --output table prints on stdout). `failures` and `nextToken` are
// left out, as in text output: see FailureTable.
std::string RenderTable(const nlohmann::ordered_json& doc, const google::protobuf::Descriptor& descriptor);

// The response's failures[] as a table (ARN, REASON, DETAIL), or "" when there are none.
std::string FailureTable(const nlohmann::ordered_json& doc);

// Newest events printed under each described service.
inline constexpr int kServiceEventsShown = 5;

}  // namespace berth::cli
