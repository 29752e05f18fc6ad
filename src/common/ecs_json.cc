#include "berth/common/ecs_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <string>

#include "berth/common/strings.h"
#include "berth/v1/ecs_options.pb.h"

namespace berth::ecsjson {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::ordered_json;

// The zero value of an unset scalar member printed because ECS always sends it (`cpu: 0`).
Json ZeroValue(const FieldDescriptor& field) {
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return false;
    case FieldDescriptor::CPPTYPE_STRING:
    case FieldDescriptor::CPPTYPE_ENUM:
      return "";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return Json::object();
    default:
      return 0;
  }
}

bool Printed(const FieldDescriptor& field, const PrintOptions& options) {
  switch (field.options().GetExtension(v1::json_presence)) {
    case v1::JSON_ALWAYS:
      return true;
    case v1::JSON_WITH_TAGS_INCLUDED:
      return options.tags_included;
    default:
      return false;
  }
}

void Fix(const Descriptor& descriptor, Json& doc, const PrintOptions& options);

void FixValue(const FieldDescriptor& field, Json& value, const PrintOptions& options) {
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_INT64 || field.cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
    // proto3 JSON prints 64-bit integers as strings; ECS's Long members are numbers.
    if (!value.is_string()) return;
    Json number = Json::parse(value.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (number.is_number_integer()) value = std::move(number);
  } else if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    Fix(*field.message_type(), value, options);
  }
}

// Rebuilds `doc` in the schema's member order (protobuf's printer uses it too), adding the empty
// members ECS always sends where they belong.
void Fix(const Descriptor& descriptor, Json& doc, const PrintOptions& options) {
  if (!doc.is_object()) return;
  Json fixed = Json::object();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    auto member = doc.find(field.json_name());
    if (options.omit_extensions && field.number() >= kFirstExtensionField) {
      if (member != doc.end()) doc.erase(member);
      continue;
    }
    if (member == doc.end()) {
      if (Printed(field, options)) {
        fixed[field.json_name()] = field.is_map()        ? Json::object()
                                   : field.is_repeated() ? Json::array()
                                                         : ZeroValue(field);
      }
      continue;
    }
    Json& value = fixed[field.json_name()] = std::move(*member);
    if (field.is_map()) {
      if (!value.is_object()) continue;
      const FieldDescriptor& value_field = *field.message_type()->map_value();
      for (auto& [key, item] : value.items()) FixValue(value_field, item, options);
    } else if (field.is_repeated()) {
      if (!value.is_array()) continue;
      for (Json& element : value) FixValue(field, element, options);
    } else {
      FixValue(field, value, options);
    }
  }
  doc = std::move(fixed);
}

// The deepest nesting of [ and { in `body`, outside strings. Linear, no recursion.
int NestingDepth(std::string_view body) {
  int depth = 0;
  int deepest = 0;
  char quote = 0;  // the open string's quote; protobuf's parser also takes 'single-quoted' strings
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

absl::Status FromJson(std::string_view body, google::protobuf::Message* message) {
  if (int depth = NestingDepth(body); depth > kMaxDepth) {
    return absl::InvalidArgumentError(StrCat("nested ", depth, " levels deep; at most ", kMaxDepth));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (body.empty()) body = "{}";
  auto parsed = google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece(body.data(), body.size()),
                                                            message, options);
  if (!parsed.ok()) {
    auto why = parsed.message();
    return absl::InvalidArgumentError(std::string(why.data(), why.size()));
  }
  return absl::OkStatus();
}

bool IncludesTags(const google::protobuf::Message& request) {
  const FieldDescriptor* include = request.GetDescriptor()->FindFieldByName("include");
  if (include == nullptr || !include->is_repeated() || include->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
    return false;
  }
  const auto& reflection = *request.GetReflection();
  for (int i = 0; i < reflection.FieldSize(request, include); ++i) {
    if (reflection.GetRepeatedString(request, include, i) == "TAGS") return true;
  }
  return false;
}

absl::StatusOr<Json> ToJson(const google::protobuf::Message& message, const PrintOptions& options) {
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(message, &text);
  if (!status.ok()) {
    auto why = status.message();
    return absl::InternalError(StrCat("cannot print ", message.GetDescriptor()->name(),
                                      " as JSON: ", std::string_view(why.data(), why.size())));
  }
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InternalError("protobuf printed JSON that does not parse");
  Fix(*message.GetDescriptor(), doc, options);
  return doc;
}

}  // namespace berth::ecsjson
