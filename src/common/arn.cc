#include "berth/common/arn.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <atomic>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth {
namespace {

constexpr std::string_view kPrefix = "arn:aws:ecs:";

struct KindName {
  ResourceKind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {
    {ResourceKind::kCluster, "cluster"},
    {ResourceKind::kTaskDefinition, "task-definition"},
    {ResourceKind::kTask, "task"},
    {ResourceKind::kContainerInstance, "container-instance"},
    {ResourceKind::kContainer, "container"},
    {ResourceKind::kService, "service"},
    {ResourceKind::kCapacityProvider, "capacity-provider"},
};

absl::Status Invalid(std::string_view field, std::string_view text, std::string_view rule) {
  return absl::InvalidArgumentError(StrCat(field, ": '", text, "' ", rule));
}

// Splits "cluster/id" (two components, both non-empty).
bool SplitTwo(std::string_view s, std::string_view* a, std::string_view* b) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= s.size()) return false;
  *a = s.substr(0, slash);
  *b = s.substr(slash + 1);
  return b->find('/') == std::string_view::npos;
}

}  // namespace

std::string_view ResourceKindName(ResourceKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

bool LooksLikeArn(std::string_view text) { return text.substr(0, 4) == "arn:"; }

absl::StatusOr<Arn> ParseArn(std::string_view text, std::string_view field) {
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return Invalid(field, text, "is not an ECS ARN (expected arn:aws:ecs:<region>:<account>:<resource>)");
  }
  std::string_view rest = text.substr(kPrefix.size());
  size_t c1 = rest.find(':');
  if (c1 == std::string_view::npos) return Invalid(field, text, "is a malformed ARN: missing account");
  std::string_view region = rest.substr(0, c1);
  rest = rest.substr(c1 + 1);
  size_t c2 = rest.find(':');
  if (c2 == std::string_view::npos) return Invalid(field, text, "is a malformed ARN: missing resource");
  std::string_view account = rest.substr(0, c2);
  std::string_view resource = rest.substr(c2 + 1);
  if (region.empty() || account.empty()) return Invalid(field, text, "is a malformed ARN: empty region or account");
  size_t slash = resource.find('/');
  if (slash == std::string_view::npos) return Invalid(field, text, "is a malformed ARN: missing '<kind>/'");
  std::string_view kind_name = resource.substr(0, slash);
  for (const auto& k : kKinds) {
    if (k.name == kind_name) {
      std::string_view tail = resource.substr(slash + 1);
      if (tail.empty()) return Invalid(field, text, "is a malformed ARN: empty resource id");
      return Arn{std::string(region), std::string(account), k.kind, std::string(tail)};
    }
  }
  return Invalid(field, text, StrCat("is a malformed ARN: unknown resource type '", kind_name, "'"));
}

std::string Arns::Cluster(std::string_view name) const {
  return StrCat(kPrefix, ctx_.region, ":", ctx_.account, ":cluster/", name);
}
std::string Arns::TaskDefinition(std::string_view family, uint32_t revision) const {
  return StrCat(kPrefix, ctx_.region, ":", ctx_.account, ":task-definition/", family, ":", revision);
}
std::string Arns::Task(std::string_view cluster, std::string_view id) const {
  return StrCat(kPrefix, ctx_.region, ":", ctx_.account, ":task/", cluster, "/", id);
}
std::string Arns::ContainerInstance(std::string_view cluster, std::string_view id) const {
  return StrCat(kPrefix, ctx_.region, ":", ctx_.account, ":container-instance/", cluster, "/", id);
}
std::string Arns::Container(std::string_view cluster, std::string_view task_id, std::string_view name) const {
  return StrCat(kPrefix, ctx_.region, ":", ctx_.account, ":container/", cluster, "/", task_id, "/", name);
}
std::string Arns::Service(std::string_view cluster, std::string_view name) const {
  return StrCat(kPrefix, ctx_.region, ":", ctx_.account, ":service/", cluster, "/", name);
}
std::string Arns::CapacityProvider(std::string_view name) const {
  return StrCat(kPrefix, ctx_.region, ":", ctx_.account, ":capacity-provider/", name);
}

absl::StatusOr<Arn> Arns::ParseOwn(std::string_view text, ResourceKind kind, std::string_view field) const {
  ASSIGN_OR_RETURN(Arn arn, ParseArn(text, field));
  if (arn.kind != kind) {
    return Invalid(
        field, text,
        StrCat("is a ", ResourceKindName(arn.kind), " ARN; expected a ", ResourceKindName(kind), " name or ARN"));
  }
  if (arn.region != ctx_.region || arn.account != ctx_.account) {
    return Invalid(field, text,
                   StrCat("belongs to region '", arn.region, "' and account '", arn.account,
                          "'; this control plane serves region '", ctx_.region, "' and account '", ctx_.account, "'"));
  }
  return arn;
}

absl::StatusOr<std::string> Arns::ClusterName(std::string_view name_or_arn, std::string_view field) const {
  if (LooksLikeArn(name_or_arn)) {
    ASSIGN_OR_RETURN(Arn arn, ParseOwn(name_or_arn, ResourceKind::kCluster, field));
    if (!IsValidName(arn.resource)) return Invalid(field, name_or_arn, "names an invalid cluster");
    return arn.resource;
  }
  if (!IsValidName(name_or_arn)) {
    return Invalid(field, name_or_arn, "is not a valid cluster name (1-255 letters, digits, '-' or '_')");
  }
  return std::string(name_or_arn);
}

absl::StatusOr<std::string> Arns::CapacityProviderName(std::string_view name_or_arn, std::string_view field) const {
  if (LooksLikeArn(name_or_arn)) {
    ASSIGN_OR_RETURN(Arn arn, ParseOwn(name_or_arn, ResourceKind::kCapacityProvider, field));
    if (!IsValidName(arn.resource)) return Invalid(field, name_or_arn, "names an invalid capacity provider");
    return arn.resource;
  }
  if (!IsValidName(name_or_arn)) {
    return Invalid(field, name_or_arn, "is not a valid capacity provider name (1-255 letters, digits, '-' or '_')");
  }
  return std::string(name_or_arn);
}

absl::StatusOr<std::string> Arns::ServiceName(std::string_view name_or_arn, std::string_view cluster,
                                              std::string_view field) const {
  if (LooksLikeArn(name_or_arn)) {
    ASSIGN_OR_RETURN(Arn arn, ParseOwn(name_or_arn, ResourceKind::kService, field));
    std::string_view c, name;
    if (!SplitTwo(arn.resource, &c, &name)) {
      // Old-style service ARNs carry no cluster: service/<name>.
      if (!IsValidName(arn.resource)) return Invalid(field, name_or_arn, "names an invalid service");
      return arn.resource;
    }
    if (c != cluster) {
      return Invalid(field, name_or_arn, StrCat("belongs to cluster '", c, "', not '", cluster, "'"));
    }
    if (!IsValidName(name)) return Invalid(field, name_or_arn, "names an invalid service");
    return std::string(name);
  }
  if (!IsValidName(name_or_arn)) {
    return Invalid(field, name_or_arn, "is not a valid service name (1-255 letters, digits, '-' or '_')");
  }
  return std::string(name_or_arn);
}

namespace {
absl::StatusOr<std::string> ClusterScopedId(const Arns& arns, std::string_view id_or_arn, std::string_view cluster,
                                            ResourceKind kind, std::string_view field,
                                            const std::function<absl::StatusOr<Arn>(std::string_view)>& parse) {
  if (LooksLikeArn(id_or_arn)) {
    ASSIGN_OR_RETURN(Arn arn, parse(id_or_arn));
    std::string_view c, id;
    if (!SplitTwo(arn.resource, &c, &id) || !IsId(id)) {
      return Invalid(field, id_or_arn,
                     StrCat("is a malformed ", ResourceKindName(kind), " ARN (expected ", ResourceKindName(kind),
                            "/<cluster>/<32 hex digits>)"));
    }
    if (c != cluster) {
      return Invalid(field, id_or_arn, StrCat("belongs to cluster '", c, "', not '", cluster, "'"));
    }
    return std::string(id);
  }
  if (!IsId(id_or_arn)) {
    return Invalid(field, id_or_arn, StrCat("is neither a ", ResourceKindName(kind), " ARN nor a 32-hex-digit id"));
  }
  return std::string(id_or_arn);
}
}  // namespace

absl::StatusOr<std::string> Arns::TaskId(std::string_view id_or_arn, std::string_view cluster,
                                         std::string_view field) const {
  return ClusterScopedId(*this, id_or_arn, cluster, ResourceKind::kTask, field,
                         [&](std::string_view t) { return ParseOwn(t, ResourceKind::kTask, field); });
}

absl::StatusOr<std::string> Arns::ContainerInstanceId(std::string_view id_or_arn, std::string_view cluster,
                                                      std::string_view field) const {
  return ClusterScopedId(*this, id_or_arn, cluster, ResourceKind::kContainerInstance, field,
                         [&](std::string_view t) { return ParseOwn(t, ResourceKind::kContainerInstance, field); });
}

absl::StatusOr<Arns::TaskDefinitionRef> Arns::TaskDefinition(std::string_view ref, std::string_view field) const {
  std::string_view body = ref;
  if (LooksLikeArn(ref)) {
    ASSIGN_OR_RETURN(Arn arn, ParseOwn(ref, ResourceKind::kTaskDefinition, field));
    size_t colon = arn.resource.rfind(':');
    if (colon == std::string::npos) {
      return Invalid(field, ref, "is a malformed task definition ARN (expected task-definition/<family>:<revision>)");
    }
    std::string family = arn.resource.substr(0, colon);
    uint32_t rev = 0;
    if (!IsValidName(family) || !ParseInt(arn.resource.substr(colon + 1), &rev) || rev == 0) {
      return Invalid(field, ref, "is a malformed task definition ARN (expected task-definition/<family>:<revision>)");
    }
    return TaskDefinitionRef{family, rev};
  }
  size_t colon = body.rfind(':');
  if (colon == std::string_view::npos) {
    if (!IsValidName(body)) {
      return Invalid(field, ref, "is not a valid task definition family (1-255 letters, digits, '-' or '_')");
    }
    return TaskDefinitionRef{std::string(body), 0};
  }
  std::string_view family = body.substr(0, colon);
  uint32_t rev = 0;
  if (!IsValidName(family) || !ParseInt(body.substr(colon + 1), &rev) || rev == 0) {
    return Invalid(field, ref, "is not a valid task definition reference (expected family, family:revision or ARN)");
  }
  return TaskDefinitionRef{std::string(family), rev};
}

namespace {

// Bumped in a forked child, so that it never reuses random bytes its parent drew before the fork.
std::atomic<uint64_t> g_fork_generation{0};

uint64_t ForkGeneration() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  return g_fork_generation.load(std::memory_order_relaxed);
}

}  // namespace

std::string NewId() {
  // Random bytes are drawn from OpenSSL's CSPRNG 4 KiB at a time per thread: one RAND_bytes call
  // per id cost about 3% of the commit thread when launching tasks at full speed.
  constexpr size_t kBuffer = 4096;
  thread_local unsigned char pool[kBuffer];
  thread_local size_t used = kBuffer;
  thread_local uint64_t generation = 0;
  const uint64_t current = ForkGeneration();
  if (used + 16 > kBuffer || generation != current) {
    generation = current;
    BERTH_CHECK_MSG(RAND_bytes(pool, sizeof(pool)) == 1, "RAND_bytes failed");
    used = 0;
  }
  const unsigned char* bytes = pool + used;
  used += 16;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int i = 0; i < 16; ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return id;
}

bool IsId(std::string_view text) {
  if (text.size() != 32) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace berth
