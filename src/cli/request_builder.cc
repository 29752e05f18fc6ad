#include "src/cli/request_builder.h"

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/common/task_definition_json.h"
#include "berth/v1/ecs.pb.h"

namespace berth::cli {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr std::string_view kFilePrefix = "file://";

bool IsFileArgument(std::string_view argument) { return argument.substr(0, kFilePrefix.size()) == kFilePrefix; }

template <typename... Args>
absl::Status Invalid(const Args&... args) {
  return absl::InvalidArgumentError(StrCat(args...));
}

// A value quoted for an error message, cut so that a pasted document cannot flood the terminal.
std::string Quote(std::string_view value) {
  constexpr size_t kMax = 60;
  if (value.size() <= kMax) return StrCat("'", value, "'");
  return StrCat("'", value.substr(0, kMax), "...'");
}

std::string ProtobufMessage(const google::protobuf::util::Status& status) {
  auto message = status.message();
  return std::string(message.data(), message.size());
}

// Parses a whole integer of type Int, telling "not a number" from "out of range".
template <typename Int>
absl::Status ParseInteger(std::string_view flag, std::string_view text, std::string_view type, Int* out) {
  if (ParseInt(text, out)) return absl::OkStatus();
  int64_t wide_signed = 0;
  uint64_t wide_unsigned = 0;
  if (ParseInt(text, &wide_signed) || ParseInt(text, &wide_unsigned)) {
    return Invalid(flag, ": ", text, " is out of range for ", type);
  }
  return Invalid(flag, ": expected an integer, got ", Quote(text));
}

absl::Status ParseDouble(std::string_view flag, std::string_view text, double* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(*out)) {
    return Invalid(flag, ": expected a number, got ", Quote(text));
  }
  return absl::OkStatus();
}

absl::Status ParseBool(std::string_view flag, std::string_view text, bool* out) {
  if (text == "true") {
    *out = true;
  } else if (text == "false") {
    *out = false;
  } else {
    return Invalid(flag, ": expected true or false, got ", Quote(text));
  }
  return absl::OkStatus();
}

// Sets (or, for a repeated field, appends) one scalar value parsed strictly from `text`.
absl::Status SetScalar(const OptionSpec& option, const std::string& text, Message* message) {
  const FieldDescriptor& field = *option.field;
  const Reflection& reflection = *message->GetReflection();
  const bool repeated = field.is_repeated();
  const std::string_view flag = option.flag;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? reflection.AddString(message, &field, text) : reflection.SetString(message, &field, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t value = 0;
      RETURN_IF_ERROR(ParseInteger(flag, text, "a 32-bit integer", &value));
      repeated ? reflection.AddInt32(message, &field, value) : reflection.SetInt32(message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value = 0;
      RETURN_IF_ERROR(ParseInteger(flag, text, "a 64-bit integer", &value));
      repeated ? reflection.AddInt64(message, &field, value) : reflection.SetInt64(message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t value = 0;
      RETURN_IF_ERROR(ParseInteger(flag, text, "an unsigned 32-bit integer", &value));
      repeated ? reflection.AddUInt32(message, &field, value) : reflection.SetUInt32(message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t value = 0;
      RETURN_IF_ERROR(ParseInteger(flag, text, "an unsigned 64-bit integer", &value));
      repeated ? reflection.AddUInt64(message, &field, value) : reflection.SetUInt64(message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double value = 0;
      RETURN_IF_ERROR(ParseDouble(flag, text, &value));
      repeated ? reflection.AddDouble(message, &field, value) : reflection.SetDouble(message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double value = 0;
      RETURN_IF_ERROR(ParseDouble(flag, text, &value));
      const auto narrowed = static_cast<float>(value);
      repeated ? reflection.AddFloat(message, &field, narrowed) : reflection.SetFloat(message, &field, narrowed);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool value = false;
      RETURN_IF_ERROR(ParseBool(flag, text, &value));
      repeated ? reflection.AddBool(message, &field, value) : reflection.SetBool(message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = field.enum_type()->FindValueByName(text);
      if (value == nullptr) {
        std::string names;
        for (int i = 0; i < field.enum_type()->value_count(); ++i) {
          StrAppend(&names, i == 0 ? "" : ", ", field.enum_type()->value(i)->name());
        }
        return Invalid(flag, ": must be one of ", names, " (got ", Quote(text), ")");
      }
      repeated ? reflection.AddEnum(message, &field, value) : reflection.SetEnum(message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  BERTH_CHECK_MSG(false, "SetScalar called for a message field");
  return absl::InternalError("unreachable");
}

// Parses a JSON option by handing protobuf {"<jsonName>": <value>}, so that the message type and
// the strict rules are protobuf's own; `out` (a fresh request) then holds only that field.
absl::Status ParseJsonOption(const OptionSpec& option, const std::string& argument, Message* out) {
  ASSIGN_OR_RETURN(std::string text, ReadArgumentValue(option.flag, argument));
  const std::string source = IsFileArgument(argument) ? StrCat(option.flag, " ", argument) : option.flag;
  // The text is spliced into a document below, so it must be exactly one JSON value.
  try {
    nlohmann::json checked = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return Invalid(source, ": not valid JSON: ", e.what());
  }
  const std::string document = StrCat("{\"", option.field->json_name(), "\":", text, "}");
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(document, out, options);
  if (!status.ok()) return Invalid(source, ": ", ProtobufMessage(status));
  return absl::OkStatus();
}

absl::Status ApplyOption(const OptionValue& value, Message* request) {
  const OptionSpec& option = *value.spec;
  const Reflection& reflection = *request->GetReflection();
  switch (option.kind) {
    case OptionKind::kScalar:
      BERTH_CHECK(value.values.size() == 1);
      reflection.ClearField(request, option.field);
      return SetScalar(option, value.values.front(), request);
    case OptionKind::kRepeatedScalar:
      reflection.ClearField(request, option.field);
      for (const std::string& text : value.values) RETURN_IF_ERROR(SetScalar(option, text, request));
      return absl::OkStatus();
    case OptionKind::kJson: {
      BERTH_CHECK(value.values.size() == 1);
      std::unique_ptr<Message> only_field(request->New());
      RETURN_IF_ERROR(ParseJsonOption(option, value.values.front(), only_field.get()));
      reflection.ClearField(request, option.field);
      request->MergeFrom(*only_field);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unreachable");
}

absl::Status ApplyCliInputJson(const CommandSpec& command, const std::string& argument, Message* request,
                               std::vector<std::string>* dropped) {
  std::string source = "--cli-input-json";
  std::string text;
  if (argument == "-") {
    source = "--cli-input-json - (standard input)";
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    if (IsFileArgument(argument)) source = StrCat(source, " ", argument);
    ASSIGN_OR_RETURN(text, ReadArgumentValue("--cli-input-json", argument));
  }
  if (command.method->input_type() == v1::RegisterTaskDefinitionRequest::descriptor()) {
    auto normalized = ecsjson::NormalizeTaskDefinitionJson(text, dropped);
    if (!normalized.ok()) return Invalid(source, ": ", std::string(normalized.status().message()));
    text = *std::move(normalized);
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(text, request, options);
  if (!status.ok()) return Invalid(source, ": ", ProtobufMessage(status));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadArgumentValue(std::string_view what, const std::string& value) {
  if (!IsFileArgument(value)) return value;
  std::string path = value.substr(kFilePrefix.size());
  if (path.rfind("~/", 0) == 0) {
    if (const char* home = std::getenv("HOME"); home != nullptr) path = StrCat(home, path.substr(1));
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Invalid(what, ": cannot read ", value, ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid(what, ": cannot read ", value, ": ", std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return Invalid(what, ": cannot read ", value, ": ", std::strerror(errno));
  return contents.str();
}

absl::StatusOr<BuiltRequest> BuildRequest(const CommandSpec& command, const RequestInput& input) {
  BuiltRequest built;
  built.request.reset(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(command.method->input_type())->New());
  if (input.cli_input_json.has_value()) {
    RETURN_IF_ERROR(
        ApplyCliInputJson(command, *input.cli_input_json, built.request.get(), &built.dropped_output_only_fields));
  }
  for (const OptionValue& value : input.options) RETURN_IF_ERROR(ApplyOption(value, built.request.get()));
  return built;
}

}  // namespace berth::cli
