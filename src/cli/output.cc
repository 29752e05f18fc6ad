#include "src/cli/output.h"

#include <map>

#include "berth/common/ecs_json.h"
#include "berth/common/strings.h"
#include "src/cli/table.h"

namespace berth::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::ordered_json;

constexpr int kIndent = 4;  // as the aws CLI

// The columns of a text line for the resources people list and describe most; other messages
// print their scalar members in schema order.
const std::map<std::string, std::vector<std::string>, std::less<>>& SummaryColumns() {
  static const auto* columns = new std::map<std::string, std::vector<std::string>, std::less<>>{
      {"berth.v1.Cluster",
       {"clusterName", "status", "registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount",
        "activeServicesCount"}},
      {"berth.v1.Task", {"taskArn", "lastStatus", "desiredStatus", "taskDefinitionArn", "containerInstanceArn"}},
      {"berth.v1.ContainerInstance",
       {"containerInstanceArn", "status", "agentConnected", "runningTasksCount", "pendingTasksCount"}},
      {"berth.v1.TaskDefinition", {"taskDefinitionArn", "status"}},
      {"berth.v1.Service", {"serviceName", "status", "desiredCount", "runningCount", "pendingCount"}},
      {"berth.v1.Attribute", {"name", "value", "targetType", "targetId"}},
      {"berth.v1.Tag", {"key", "value"}},
      {"berth.v1.Setting", {"name", "value", "principalArn"}},
      {"berth.v1.CapacityProvider", {"name", "status"}},
      {"berth.v1.ProtectedTask", {"taskArn", "protectionEnabled", "expirationDate"}},
  };
  return *columns;
}

std::string Cell(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

std::string SummaryLine(const Descriptor& descriptor, const Json& item) {
  if (!item.is_object()) return Cell(item);
  std::vector<std::string> cells;
  const auto& columns = SummaryColumns();
  if (auto it = columns.find(descriptor.full_name()); it != columns.end()) {
    for (const std::string& name : it->second) {
      auto member = item.find(name);
      cells.push_back(member == item.end() ? "-" : Cell(*member));
    }
  } else {
    for (int i = 0; i < descriptor.field_count(); ++i) {
      const FieldDescriptor& field = *descriptor.field(i);
      if (field.is_repeated() || field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) continue;
      if (auto member = item.find(field.json_name()); member != item.end()) cells.push_back(Cell(*member));
    }
  }
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) StrAppend(&line, i == 0 ? "" : "\t", cells[i]);
  return line;
}

std::string RenderText(const Json& doc, const Descriptor& descriptor) {
  std::string out;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    if (field.json_name() == "failures" || field.json_name() == "nextToken") continue;
    auto member = doc.find(field.json_name());
    if (member == doc.end()) continue;
    const bool is_message = field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field.is_map();
    if (field.is_repeated() && member->is_array()) {
      for (const Json& item : *member) {
        StrAppend(&out, is_message ? SummaryLine(*field.message_type(), item) : Cell(item), "\n");
      }
    } else if (is_message) {
      StrAppend(&out, SummaryLine(*field.message_type(), *member), "\n");
    } else {
      StrAppend(&out, Cell(*member), "\n");
    }
  }
  return out;
}

}  // namespace

bool ParseOutputFormat(std::string_view text, OutputFormat* format) {
  if (text == "json") {
    *format = OutputFormat::kJson;
  } else if (text == "text") {
    *format = OutputFormat::kText;
  } else if (text == "table") {
    *format = OutputFormat::kTable;
  } else {
    return false;
  }
  return true;
}

absl::StatusOr<Json> ResponseDocument(const google::protobuf::Message& response, bool tags_included) {
  return ecsjson::ToJson(response, {.tags_included = tags_included, .omit_extensions = false});
}

std::string Render(const Json& doc, const Descriptor& descriptor, OutputFormat format) {
  if (format == OutputFormat::kText) return RenderText(doc, descriptor);
  if (format == OutputFormat::kTable) return RenderTable(doc, descriptor);
  if (doc.is_object() && doc.empty()) return "";
  // Strings are valid UTF-8 (protobuf checks); replace rather than throw if that ever changes.
  return doc.dump(kIndent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace) + "\n";
}

std::vector<std::string> FailureLines(const Json& doc) {
  std::vector<std::string> lines;
  auto failures = doc.find("failures");
  if (failures == doc.end() || !failures->is_array()) return lines;
  for (const Json& failure : *failures) {
    std::string line = failure.is_object() ? failure.value("reason", std::string("(no reason)")) : Cell(failure);
    if (failure.is_object()) {
      if (auto arn = failure.find("arn"); arn != failure.end()) StrAppend(&line, " arn=", Cell(*arn));
      if (auto detail = failure.find("detail"); detail != failure.end()) StrAppend(&line, " detail=", Cell(*detail));
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

std::string NextToken(const Json& doc) {
  auto token = doc.find("nextToken");
  if (token == doc.end() || !token->is_string()) return "";
  return token->get<std::string>();
}

}  // namespace berth::cli
