#include "berth/common/task_definition_json.h"

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace berth::ecsjson {
namespace {

// Members NormalizeTaskDefinitionJson drops: ECS computes them, RegisterTaskDefinition has none.
const std::initializer_list<absl::string_view> kOutputOnlyMembers = {
    "taskDefinitionArn", "revision",     "status",         "requiresAttributes", "compatibilities",
    "registeredAt",      "registeredBy", "deregisteredAt", "deleteRequestedAt"};

}  // namespace

absl::StatusOr<std::string> NormalizeTaskDefinitionJson(std::string_view json,
                                                        std::vector<std::string>* dropped_fields) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("taskDefinition: not valid JSON: ", e.what()));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("taskDefinition: must be a JSON object (got ", doc.type_name(), ")"));
  }
  // describe-task-definition output: {"taskDefinition": {...}, "tags": [...]}.
  if (auto it = doc.find("taskDefinition"); it != doc.end()) {
    if (!it->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("taskDefinition: must be a JSON object (got ", it->type_name(), ")"));
    }
    nlohmann::json inner = std::move(*it);
    for (const auto& [key, value] : doc.items()) {
      if (key == "taskDefinition") continue;
      if (key != "tags") {
        return absl::InvalidArgumentError(absl::StrCat(
            key,
            ": unexpected beside taskDefinition (describe-task-definition output has only taskDefinition and tags)"));
      }
      if (!value.is_null() && !(value.is_array() && value.empty())) {
        if (inner.contains("tags") && !inner["tags"].is_null() &&
            !(inner["tags"].is_array() && inner["tags"].empty())) {
          return absl::InvalidArgumentError("tags: given both beside and inside taskDefinition");
        }
        inner["tags"] = value;
      }
    }
    doc = std::move(inner);
  }
  for (absl::string_view member : kOutputOnlyMembers) {
    if (doc.erase(std::string(member)) > 0 && dropped_fields != nullptr) dropped_fields->emplace_back(member);
  }
  try {
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::type_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("taskDefinition: ", e.what()));
  }
}

}  // namespace berth::ecsjson
