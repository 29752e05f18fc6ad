// The berth CLI's commands and options, derived from the protobuf descriptors of
// berth.v1.ContainerService: one command per RPC, one option per top-level field of its request.
// Nothing here is written per command, so an RPC added to ecs.proto is a CLI command at the next
// build.
//
// Names follow `aws ecs`: RunTask -> run-task; a field's json_name (the ECS member name) in kebab
// case: taskDefinition -> --task-definition, enableECSManagedTags -> --enable-ecs-managed-tags.
//
// The table holds pointers into the generated descriptor pool, which lives for the whole process;
// it is immutable once built and may be read from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>

namespace berth::cli {

// How an option's command-line values become the request field.
enum class OptionKind {
  kScalar,          // one value: string, number, bool or enum name
  kRepeatedScalar,  // several values: --tasks a b c
  kJson,            // message, repeated message or map: JSON text, or file://PATH
};

struct OptionSpec {
  std::string flag;  // "--task-definition"
  const google::protobuf::FieldDescriptor* field = nullptr;
  OptionKind kind = OptionKind::kScalar;
  // For help: "STRING", "INT32", "JSON" (CLI11 adds " ..." to a repeated one); empty for a bool,
  // which is a flag.
  std::string type_label;
  std::string description;
};

struct CommandSpec {
  std::string name;  // "run-task"
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::vector<OptionSpec> options;

  // "/berth.v1.ContainerService/RunTask": the gRPC method path.
  std::string MethodPath() const;
  const OptionSpec* FindOption(std::string_view flag) const;
};

// "RunTask" -> "run-task", "enableECSManagedTags" -> "enable-ecs-managed-tags", "bindIP" -> "bind-ip":
// a dash before an upper-case letter that follows a lower-case letter or digit, or that starts a
// capitalised word after an acronym; everything lower-cased.
std::string KebabCase(std::string_view camel);

// berth.v1.ContainerService from the generated pool (always linked into the CLI).
const google::protobuf::ServiceDescriptor& ContainerServiceDescriptor();

// One command per method of `service`, in declaration order. Every method must be unary; a
// streaming one is a broken invariant of the schema and aborts.
std::vector<CommandSpec> BuildCommandTable(const google::protobuf::ServiceDescriptor& service);

// The command named `name`, or null.
const CommandSpec* FindCommand(const std::vector<CommandSpec>& commands, std::string_view name);

}  // namespace berth::cli
