#include "berth/store/keys.h"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "berth/common/status.h"
#include "fmt/format.h"
#include "src/store/internal.h"

namespace berth::store {
namespace {

constexpr size_t kRevisionBytes = 4;

bool IsValidComponent(std::string_view component) {
  return !component.empty() && component.find(kKeySeparator) == std::string_view::npos;
}

// Encoders are only handed validated names; anything else is a caller bug that would corrupt the
// key space (an embedded '\0' makes "a\0b" + "c" collide with "a" + "b\0c"), so crash loudly.
void CheckComponent(std::string_view what, std::string_view component) {
  if (IsValidComponent(component)) return;
  const std::string message =
      fmt::format("{} {} is not a valid store key component (must be non-empty and contain no NUL byte)", what,
                  internal::QuoteKey(component));
  BERTH_CHECK_MSG(false, message.c_str());
}

std::string Join(std::string_view a, std::string_view b) {
  std::string key;
  key.reserve(a.size() + 1 + b.size());
  key.append(a);
  key.push_back(kKeySeparator);
  key.append(b);
  return key;
}

// Splits `key` on '\0' into exactly N non-empty components; false otherwise.
template <size_t N>
bool SplitExactly(std::string_view key, std::array<std::string_view, N>& parts) {
  for (size_t i = 0; i < N; ++i) {
    const size_t sep = key.find(kKeySeparator);
    const bool last = i + 1 == N;
    if (last != (sep == std::string_view::npos)) return false;  // too few or too many separators
    parts[i] = key.substr(0, sep);
    if (parts[i].empty()) return false;
    if (!last) key.remove_prefix(sep + 1);
  }
  return true;
}

}  // namespace

std::string ClusterKey(std::string_view cluster) {
  CheckComponent("cluster name", cluster);
  return std::string(cluster);
}

std::string CapacityProviderKey(std::string_view name) {
  CheckComponent("capacity provider name", name);
  return std::string(name);
}

std::string TaskDefinitionKey(std::string_view family, uint32_t revision) {
  std::string key = TaskDefinitionFamilyPrefix(family);
  // Big-endian so that byte order equals numeric order.
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>((revision >> shift) & 0xff));
  return key;
}

std::string TaskDefinitionFamilyPrefix(std::string_view family) {
  CheckComponent("task definition family", family);
  std::string key;
  key.reserve(family.size() + 1 + kRevisionBytes);
  key.append(family);
  key.push_back(kKeySeparator);
  return key;
}

std::string ContainerInstanceKey(std::string_view cluster, std::string_view instance_id) {
  CheckComponent("cluster name", cluster);
  CheckComponent("container instance id", instance_id);
  return Join(cluster, instance_id);
}

std::string TaskKey(std::string_view cluster, std::string_view task_id) {
  CheckComponent("cluster name", cluster);
  CheckComponent("task id", task_id);
  return Join(cluster, task_id);
}

std::string ServiceKey(std::string_view cluster, std::string_view service_name) {
  CheckComponent("cluster name", cluster);
  CheckComponent("service name", service_name);
  return Join(cluster, service_name);
}

std::string AttributeKey(std::string_view cluster, std::string_view target_id, std::string_view name) {
  CheckComponent("attribute name", name);
  std::string key = AttributeTargetPrefix(cluster, target_id);
  key.append(name);
  return key;
}

std::string ClusterPrefix(std::string_view cluster) {
  CheckComponent("cluster name", cluster);
  return Join(cluster, {});
}

std::string AttributeTargetPrefix(std::string_view cluster, std::string_view target_id) {
  CheckComponent("cluster name", cluster);
  CheckComponent("attribute target id", target_id);
  std::string key = Join(cluster, target_id);
  key.push_back(kKeySeparator);
  return key;
}

std::optional<std::string> DecodeClusterKey(std::string_view key) {
  if (!IsValidComponent(key)) return std::nullopt;
  return std::string(key);
}

std::optional<std::string> DecodeCapacityProviderKey(std::string_view key) { return DecodeClusterKey(key); }

std::optional<TaskDefinitionKeyParts> DecodeTaskDefinitionKey(std::string_view key) {
  // The family contains no '\0', so the first '\0' is the separator; the revision bytes after it
  // may themselves be '\0'.
  const size_t sep = key.find(kKeySeparator);
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  const std::string_view revision_bytes = key.substr(sep + 1);
  if (revision_bytes.size() != kRevisionBytes) return std::nullopt;
  uint32_t revision = 0;
  for (char c : revision_bytes) revision = (revision << 8) | static_cast<unsigned char>(c);
  return TaskDefinitionKeyParts{std::string(key.substr(0, sep)), revision};
}

std::optional<ClusterScopedKeyParts> DecodeClusterScopedKey(std::string_view key) {
  std::array<std::string_view, 2> parts;
  if (!SplitExactly(key, parts)) return std::nullopt;
  return ClusterScopedKeyParts{std::string(parts[0]), std::string(parts[1])};
}

std::optional<AttributeKeyParts> DecodeAttributeKey(std::string_view key) {
  std::array<std::string_view, 3> parts;
  if (!SplitExactly(key, parts)) return std::nullopt;
  return AttributeKeyParts{std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
}

}  // namespace berth::store
