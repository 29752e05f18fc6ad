#include "src/cli/command_table.h"

#include <cctype>

#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/v1/ecs.grpc.pb.h"

namespace berth::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

bool IsUpper(char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; }
bool IsLowerOrDigit(char c) {
  return std::islower(static_cast<unsigned char>(c)) != 0 || std::isdigit(static_cast<unsigned char>(c)) != 0;
}

std::string ScalarLabel(const FieldDescriptor& field) {
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return "STRING";
    case FieldDescriptor::CPPTYPE_INT32:
      return "INT32";
    case FieldDescriptor::CPPTYPE_INT64:
      return "INT64";
    case FieldDescriptor::CPPTYPE_UINT32:
      return "UINT32";
    case FieldDescriptor::CPPTYPE_UINT64:
      return "UINT64";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "NUMBER";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "BOOL";
    case FieldDescriptor::CPPTYPE_ENUM:
      return "ENUM";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "JSON";
}

OptionSpec MakeOption(const FieldDescriptor& field) {
  OptionSpec option;
  option.flag = StrCat("--", KebabCase(field.json_name()));
  option.field = &field;
  if (field.is_map()) {
    option.kind = OptionKind::kJson;
    option.type_label = "JSON";
    option.description = StrCat(field.json_name(), ": JSON object, or file://PATH");
  } else if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    option.kind = OptionKind::kJson;
    option.type_label = "JSON";
    option.description =
        field.is_repeated()
            ? StrCat(field.json_name(), ": JSON array of ", field.message_type()->name(), ", or file://PATH")
            : StrCat(field.json_name(), ": JSON ", field.message_type()->name(), ", or file://PATH");
  } else if (field.is_repeated()) {
    option.kind = OptionKind::kRepeatedScalar;
    option.type_label = ScalarLabel(field);  // CLI11 adds " ..." to a repeated option
    option.description = StrCat(field.json_name(), ": one or more values");
  } else {
    option.kind = OptionKind::kScalar;
    if (field.cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
      option.type_label = "";  // a flag
      option.description = StrCat(field.json_name(), ": true; ", option.flag, "=false sends false");
    } else {
      option.type_label = ScalarLabel(field);
      option.description = std::string(field.json_name());
    }
  }
  return option;
}

}  // namespace

std::string CommandSpec::MethodPath() const { return StrCat("/", method->service()->full_name(), "/", method->name()); }

const OptionSpec* CommandSpec::FindOption(std::string_view flag) const {
  for (const OptionSpec& option : options) {
    if (option.flag == flag) return &option;
  }
  return nullptr;
}

std::string KebabCase(std::string_view camel) {
  std::string out;
  out.reserve(camel.size() + 8);
  for (size_t i = 0; i < camel.size(); ++i) {
    char c = camel[i];
    if (IsUpper(c) && i > 0) {
      bool after_lower = IsLowerOrDigit(camel[i - 1]);
      bool starts_word_after_acronym =
          IsUpper(camel[i - 1]) && i + 1 < camel.size() && std::islower(static_cast<unsigned char>(camel[i + 1])) != 0;
      if (after_lower || starts_word_after_acronym) out.push_back('-');
    }
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

const ServiceDescriptor& ContainerServiceDescriptor() {
  // Naming a generated message keeps ecs.pb.o (which registers the file with the generated pool)
  // in the link, whatever else the binary references.
  (void)v1::RunTaskRequest::descriptor();
  const ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(v1::ContainerService::service_full_name());
  BERTH_CHECK_MSG(service != nullptr, "berth.v1.ContainerService is not in the generated descriptor pool");
  return *service;
}

std::vector<CommandSpec> BuildCommandTable(const ServiceDescriptor& service) {
  std::vector<CommandSpec> commands;
  commands.reserve(service.method_count());
  for (int i = 0; i < service.method_count(); ++i) {
    const MethodDescriptor& method = *service.method(i);
    BERTH_CHECK_MSG(!method.client_streaming() && !method.server_streaming(), "the berth CLI serves unary RPCs only");
    CommandSpec command;
    command.name = KebabCase(method.name());
    command.method = &method;
    const Descriptor& request = *method.input_type();
    for (int f = 0; f < request.field_count(); ++f) command.options.push_back(MakeOption(*request.field(f)));
    commands.push_back(std::move(command));
  }
  return commands;
}

const CommandSpec* FindCommand(const std::vector<CommandSpec>& commands, std::string_view name) {
  for (const CommandSpec& command : commands) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

}  // namespace berth::cli
