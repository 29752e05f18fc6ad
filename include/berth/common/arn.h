// Resource identifiers and ARNs, in the form ECS uses:
//   arn:aws:ecs:<region>:<account>:cluster/<name>
//   arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>
//   arn:aws:ecs:<region>:<account>:task/<cluster>/<32-hex id>
//   arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<32-hex id>
//   arn:aws:ecs:<region>:<account>:container/<cluster>/<task id>/<container name>
//   arn:aws:ecs:<region>:<account>:service/<cluster>/<name>
//   arn:aws:ecs:<region>:<account>:capacity-provider/<name>
// Everywhere ECS accepts a name it accepts the ARN too; the Parse* functions turn either form
// into the name/id, checking that an ARN is of the expected kind, region and account.
//
// All functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth {

struct ArnContext {
  std::string region = "local";
  std::string account = "000000000000";
};

enum class ResourceKind {
  kCluster,
  kTaskDefinition,
  kTask,
  kContainerInstance,
  kContainer,
  kService,
  kCapacityProvider,
};
std::string_view ResourceKindName(ResourceKind kind);  // "cluster", "task-definition", ...

// A parsed ARN. `resource` is everything after "<kind>/".
struct Arn {
  std::string region;
  std::string account;
  ResourceKind kind;
  std::string resource;
};

// Parses any Berth/ECS ARN. InvalidArgument naming `field` when malformed.
absl::StatusOr<Arn> ParseArn(std::string_view text, std::string_view field);
bool LooksLikeArn(std::string_view text);

class Arns {
 public:
  explicit Arns(ArnContext ctx) : ctx_(std::move(ctx)) {}

  const ArnContext& context() const { return ctx_; }

  std::string Cluster(std::string_view name) const;
  std::string TaskDefinition(std::string_view family, uint32_t revision) const;
  std::string Task(std::string_view cluster, std::string_view id) const;
  std::string ContainerInstance(std::string_view cluster, std::string_view id) const;
  std::string Container(std::string_view cluster, std::string_view task_id, std::string_view name) const;
  std::string Service(std::string_view cluster, std::string_view name) const;
  std::string CapacityProvider(std::string_view name) const;

  // Name-or-ARN parsers. Each returns InvalidArgument naming `field` when the text is neither
  // a valid name nor an ARN of the right kind for this region and account.
  absl::StatusOr<std::string> ClusterName(std::string_view name_or_arn, std::string_view field) const;
  absl::StatusOr<std::string> CapacityProviderName(std::string_view name_or_arn, std::string_view field) const;
  // Returns the service name; if the ARN names a cluster, it must equal `cluster`.
  absl::StatusOr<std::string> ServiceName(std::string_view name_or_arn, std::string_view cluster,
                                          std::string_view field) const;
  // Task ids and container-instance ids: a 32-hex id or the ARN (whose cluster must equal
  // `cluster`).
  absl::StatusOr<std::string> TaskId(std::string_view id_or_arn, std::string_view cluster,
                                     std::string_view field) const;
  absl::StatusOr<std::string> ContainerInstanceId(std::string_view id_or_arn, std::string_view cluster,
                                                  std::string_view field) const;

  struct TaskDefinitionRef {
    std::string family;
    uint32_t revision = 0;  // 0: latest ACTIVE revision
  };
  // "family", "family:rev" or the ARN.
  absl::StatusOr<TaskDefinitionRef> TaskDefinition(std::string_view ref, std::string_view field) const;

 private:
  absl::StatusOr<Arn> ParseOwn(std::string_view text, ResourceKind kind, std::string_view field) const;
  ArnContext ctx_;
};

// A new random 32-hex-digit id (128 bits from a CSPRNG), as ECS uses for tasks and instances.
std::string NewId();
bool IsId(std::string_view text);

// Name rules shared by clusters, families, containers, services: 1-255 of [A-Za-z0-9_-].
bool IsValidName(std::string_view name);

}  // namespace berth
