// The key codec: how each table's keys are laid out as bytes.
//
// Keys are explicit byte encodings, compared bytewise (unsigned) by every Store implementation, so
// the layout decides both identity and scan order. These formats are persisted: changing one is a
// schema migration, never a silent edit. DESIGN.md has docs/architecture.md document them too;
// keep the two in step.
//
//   table                key bytes                                      example (C escapes)
//   -------------------  ---------------------------------------------  -------------------------------
//   clusters             <cluster>                                      "prod"
//   task_definitions     <family> \0 <revision: 4 bytes, big-endian>    "web\0\0\0\0\x0a"  (web:10)
//   container_instances  <cluster> \0 <container instance id>           "prod\0" "0f1e2d..."
//   tasks                <cluster> \0 <task id>                         "prod\0" "1b2e3c..."
//   services             <cluster> \0 <service name>                    "prod\0api"
//   attributes           <cluster> \0 <target id> \0 <attribute name>   "prod\0" "0f1e2d...\0ecs.os-type"
//   capacity_providers   <capacity provider name>                       "asg-a"
//   meta                 plain ASCII names                              "schema_version"
//
// ("prod\0" "1b2e..." is split only so that \0 and the digits after it do not read as one octal
// escape.)
//
// Why this shape:
//  - '\0' separates components and sorts before every other byte, so `ClusterPrefix("prod")`
//    ("prod\0") selects exactly cluster "prod" and never "prod-2"; likewise
//    `TaskDefinitionFamilyPrefix("web")` never matches family "web2".
//  - Revisions are fixed-width big-endian, so byte order is numeric order: a prefix scan of a family
//    yields its revisions in ascending order (2 < 10 < 256), and the last key is the latest.
//
// Rules for encoders: every text component must be non-empty and must not contain '\0' (that
// would make keys ambiguous). Callers validate names first (ECS names are [A-Za-z0-9_-], ids are
// hex or UUIDs); an encoder given a bad component treats it as a broken invariant and crashes with
// BERTH_CHECK. Decoders, in contrast, take bytes from disk and never crash: they return
// std::nullopt for anything an encoder could not have produced.
//
// Thread safety: all functions are pure and may be called concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::store {

// Separator between key components.
inline constexpr char kKeySeparator = '\0';

// Keys of the meta table.
inline constexpr std::string_view kSchemaVersionKey = "schema_version";

// --- Encoders (crash on an empty component or one containing '\0') ---

// clusters: <cluster>
std::string ClusterKey(std::string_view cluster);

// capacity_providers: <capacity provider name> (account-wide, like ECS's)
std::string CapacityProviderKey(std::string_view name);
// task_definitions: <family> \0 <revision, 4 bytes big-endian>
std::string TaskDefinitionKey(std::string_view family, uint32_t revision);
// <family> \0 : a prefix scan yields every revision of `family` in ascending order.
std::string TaskDefinitionFamilyPrefix(std::string_view family);

// container_instances: <cluster> \0 <instance id>
std::string ContainerInstanceKey(std::string_view cluster, std::string_view instance_id);
// tasks: <cluster> \0 <task id>
std::string TaskKey(std::string_view cluster, std::string_view task_id);
// services: <cluster> \0 <service name>
std::string ServiceKey(std::string_view cluster, std::string_view service_name);
// attributes: <cluster> \0 <target id> \0 <attribute name>
std::string AttributeKey(std::string_view cluster, std::string_view target_id, std::string_view name);

// <cluster> \0 : a prefix scan of container_instances, tasks, services or attributes yields the
// rows of exactly this cluster.
std::string ClusterPrefix(std::string_view cluster);
// <cluster> \0 <target id> \0 : a prefix scan of attributes yields the attributes of one target.
std::string AttributeTargetPrefix(std::string_view cluster, std::string_view target_id);

// --- Decoders (never crash; std::nullopt for malformed keys) ---

struct TaskDefinitionKeyParts {
  std::string family;
  uint32_t revision = 0;
  friend bool operator==(const TaskDefinitionKeyParts&, const TaskDefinitionKeyParts&) = default;
};

// A key of container_instances, tasks or services.
struct ClusterScopedKeyParts {
  std::string cluster;
  std::string id;  // instance id, task id or service name, depending on the table
  friend bool operator==(const ClusterScopedKeyParts&, const ClusterScopedKeyParts&) = default;
};

struct AttributeKeyParts {
  std::string cluster;
  std::string target_id;
  std::string name;
  friend bool operator==(const AttributeKeyParts&, const AttributeKeyParts&) = default;
};

// Accepts exactly the outputs of ClusterKey: non-empty, no '\0'.
std::optional<std::string> DecodeClusterKey(std::string_view key);
// Accepts exactly the outputs of CapacityProviderKey (the same rule as DecodeClusterKey).
std::optional<std::string> DecodeCapacityProviderKey(std::string_view key);
// Accepts exactly the outputs of TaskDefinitionKey.
std::optional<TaskDefinitionKeyParts> DecodeTaskDefinitionKey(std::string_view key);
// Accepts exactly the outputs of ContainerInstanceKey / TaskKey / ServiceKey (two components).
std::optional<ClusterScopedKeyParts> DecodeClusterScopedKey(std::string_view key);
// Accepts exactly the outputs of AttributeKey (three components).
std::optional<AttributeKeyParts> DecodeAttributeKey(std::string_view key);

}  // namespace berth::store
