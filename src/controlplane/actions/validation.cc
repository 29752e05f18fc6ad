// Request validation beyond task definitions: tags, task-level cpu/memory strings and task
// overrides. See validation.h for the contract; ValidateTaskDefinition is in
// task_definition_validation.cc and container_validation.cc.
#include "src/controlplane/actions/validation.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "berth/common/status.h"
#include "src/controlplane/actions/validation_rules.h"

namespace berth::controlplane {
namespace {

using google::protobuf::RepeatedPtrField;
using validation_internal::CheckRange;
using validation_internal::Invalid;
using validation_internal::kMinContainerMemoryMiB;
using validation_internal::Quote;
using validation_internal::Required;
using validation_internal::ToAbsl;

constexpr int64_t kMinTaskCpu = 128;               // ECS-SEMANTICS.md
constexpr int64_t kMaxTaskCpu = 196608;            // 192 vCPU
constexpr int64_t kMaxTaskMemoryMiB = 2147483647;  // int32 range: what a container limit can hold
constexpr int kMaxTagKeyLength = 128;
constexpr int kMaxTagValueLength = 256;

// UTF-8 code points in `s` (tag limits count characters, not bytes).
size_t Utf8Length(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Strict decimal "123" or "1.25" scaled by `scale`; nullopt unless the result is a whole number.
std::optional<int64_t> ScaledDecimal(absl::string_view text, int64_t scale) {
  if (text.empty()) return std::nullopt;
  absl::string_view whole = text, fraction;
  if (size_t dot = text.find('.'); dot != absl::string_view::npos) {
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
    if (fraction.empty()) return std::nullopt;
  }
  if (whole.empty() && fraction.empty()) return std::nullopt;
  if (whole.size() > 12 || fraction.size() > 9) return std::nullopt;
  int64_t w = 0;
  for (char c : whole) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    w = w * 10 + (c - '0');
  }
  int64_t f = 0, denominator = 1;
  for (char c : fraction) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    f = f * 10 + (c - '0');
    denominator *= 10;
  }
  if ((f * scale) % denominator != 0) return std::nullopt;
  return w * scale + f * scale / denominator;
}

// If `text` ends with `suffix` (ASCII case-insensitive), the part before it, trimmed.
std::optional<absl::string_view> StripSuffixIgnoreCase(absl::string_view text, absl::string_view suffix) {
  if (text.size() < suffix.size()) return std::nullopt;
  if (!absl::EqualsIgnoreCase(text.substr(text.size() - suffix.size()), suffix)) return std::nullopt;
  return absl::StripAsciiWhitespace(text.substr(0, text.size() - suffix.size()));
}

}  // namespace

// ---- Public functions ----

absl::StatusOr<int64_t> ParseTaskCpu(std::string_view text_in, std::string_view field_in) {
  absl::string_view text = ToAbsl(text_in), field = ToAbsl(field_in);
  absl::string_view t = absl::StripAsciiWhitespace(text);
  std::optional<int64_t> units;
  if (auto vcpu = StripSuffixIgnoreCase(t, "vcpu")) {
    units = ScaledDecimal(*vcpu, 1024);
  } else {
    units = ScaledDecimal(t, 1);
  }
  if (!units) {
    return Invalid(field, "must be CPU units (\"1024\") or vCPUs (\"1 vCPU\", \"0.5 vCPU\") (got ", Quote(text), ")");
  }
  RETURN_IF_ERROR(CheckRange(field, *units, kMinTaskCpu, kMaxTaskCpu, " CPU units"));
  return *units;
}

absl::StatusOr<int64_t> ParseTaskMemory(std::string_view text_in, std::string_view field_in) {
  absl::string_view text = ToAbsl(text_in), field = ToAbsl(field_in);
  absl::string_view t = absl::StripAsciiWhitespace(text);
  std::optional<int64_t> mib;
  if (auto gb = StripSuffixIgnoreCase(t, "gb")) {
    mib = ScaledDecimal(*gb, 1024);  // ECS's "GB" is GiB: "2GB" is 2048 MiB
  } else {
    mib = ScaledDecimal(t, 1);
  }
  if (!mib) return Invalid(field, "must be MiB (\"2048\") or GB (\"2GB\", \"2 GB\") (got ", Quote(text), ")");
  RETURN_IF_ERROR(CheckRange(field, *mib, kMinContainerMemoryMiB, kMaxTaskMemoryMiB, " MiB"));
  return *mib;
}

absl::Status ValidateTags(const RepeatedPtrField<v1::Tag>& tags, std::string_view field_in, const Limits& limits) {
  absl::string_view field = ToAbsl(field_in);
  if (tags.size() > limits.max_tags) {
    return Invalid(field, "at most ", limits.max_tags, " tags (got ", tags.size(), ")");
  }
  std::map<std::string, int> seen;
  for (int i = 0; i < tags.size(); ++i) {
    const auto& tag = tags[i];
    std::string path = absl::StrCat(field, "[", i, "]");
    if (!tag.has_key() || tag.key().empty()) return Invalid(absl::StrCat(path, ".key"), "required: 1-128 characters");
    if (Utf8Length(tag.key()) > static_cast<size_t>(kMaxTagKeyLength)) {
      return Invalid(absl::StrCat(path, ".key"), "must be at most ", kMaxTagKeyLength, " characters (got ",
                     Utf8Length(tag.key()), ")");
    }
    if (absl::StartsWithIgnoreCase(tag.key(), "aws:")) {
      return Invalid(absl::StrCat(path, ".key"), "the aws: prefix is reserved (got ", Quote(tag.key()), ")");
    }
    if (Utf8Length(tag.value()) > static_cast<size_t>(kMaxTagValueLength)) {
      return Invalid(absl::StrCat(path, ".value"), "must be at most ", kMaxTagValueLength, " characters (got ",
                     Utf8Length(tag.value()), ")");
    }
    if (auto [it, inserted] = seen.emplace(tag.key(), i); !inserted) {
      return Invalid(absl::StrCat(path, ".key"), "key ", Quote(tag.key()), " is already used by ", field, "[",
                     it->second, "]; keys must be unique");
    }
  }
  return absl::OkStatus();
}
absl::StatusOr<v1::ResourceDemand> DemandWithOverrides(const v1::TaskDefinition& task_definition,
                                                       const v1::ResourceDemand& base,
                                                       const v1::TaskOverride& overrides) {
  const auto& containers = task_definition.container_definitions();
  std::map<std::string, int> index;
  for (int i = 0; i < containers.size(); ++i) index.emplace(containers[i].name(), i);

  // Effective per-container values: the definition's, replaced member by member by overrides.
  struct Effective {
    std::optional<int32_t> cpu, memory, memory_reservation;
  };
  std::vector<Effective> eff(containers.size());
  for (int i = 0; i < containers.size(); ++i) {
    const auto& c = containers[i];
    if (c.has_cpu()) eff[i].cpu = c.cpu();
    if (c.has_memory()) eff[i].memory = c.memory();
    if (c.has_memory_reservation()) eff[i].memory_reservation = c.memory_reservation();
  }
  std::map<std::string, int> overridden;
  for (int k = 0; k < overrides.container_overrides_size(); ++k) {
    const auto& o = overrides.container_overrides(k);
    std::string path = absl::StrCat("overrides.containerOverrides[", k, "]");
    RETURN_IF_ERROR(Required(absl::StrCat(path, ".name"), o.has_name(), o.name()));
    auto it = index.find(o.name());
    if (it == index.end()) {
      return Invalid(absl::StrCat(path, ".name"), Quote(o.name()), " names no container of task definition ",
                     Quote(task_definition.family()));
    }
    if (auto [prev, inserted] = overridden.emplace(o.name(), k); !inserted) {
      return Invalid(absl::StrCat(path, ".name"), Quote(o.name()),
                     " is already overridden by overrides.containerOverrides[", prev->second, "]");
    }
    Effective& e = eff[it->second];
    if (o.has_cpu()) {
      if (o.cpu() < 0) return Invalid(absl::StrCat(path, ".cpu"), "must be 0 or more CPU units (got ", o.cpu(), ")");
      e.cpu = o.cpu();
    }
    if (o.has_memory()) {
      if (o.memory() < kMinContainerMemoryMiB) {
        return Invalid(absl::StrCat(path, ".memory"), "must be at least ", kMinContainerMemoryMiB, " MiB (got ",
                       o.memory(), ")");
      }
      e.memory = o.memory();
    }
    if (o.has_memory_reservation()) {
      if (o.memory_reservation() < kMinContainerMemoryMiB) {
        return Invalid(absl::StrCat(path, ".memoryReservation"), "must be at least ", kMinContainerMemoryMiB,
                       " MiB (got ", o.memory_reservation(), ")");
      }
      e.memory_reservation = o.memory_reservation();
    }
    if (e.memory && e.memory_reservation && *e.memory < *e.memory_reservation) {
      return Invalid(absl::StrCat(path, o.has_memory() ? ".memory" : ".memoryReservation"), "memory (", *e.memory,
                     " MiB) must be at least memoryReservation (", *e.memory_reservation, " MiB) once overrides apply");
    }
  }

  std::optional<int64_t> task_cpu, task_memory;
  if (overrides.has_cpu()) {
    ASSIGN_OR_RETURN(task_cpu, ParseTaskCpu(overrides.cpu(), "overrides.cpu"));
  } else if (task_definition.has_cpu()) {
    ASSIGN_OR_RETURN(task_cpu, ParseTaskCpu(task_definition.cpu(), "taskDefinition.cpu"));
  }
  if (overrides.has_memory()) {
    ASSIGN_OR_RETURN(task_memory, ParseTaskMemory(overrides.memory(), "overrides.memory"));
  } else if (task_definition.has_memory()) {
    ASSIGN_OR_RETURN(task_memory, ParseTaskMemory(task_definition.memory(), "taskDefinition.memory"));
  }
  if (overrides.has_ephemeral_storage()) {
    RETURN_IF_ERROR(CheckRange("overrides.ephemeralStorage.sizeInGiB", overrides.ephemeral_storage().size_in_gib(), 21,
                               200, " GiB"));
  }

  int64_t cpu_sum = 0, memory_sum = 0;
  for (const auto& e : eff) {
    cpu_sum += e.cpu.value_or(0);
    memory_sum += e.memory_reservation ? *e.memory_reservation : e.memory.value_or(0);
  }
  if (task_cpu && cpu_sum > *task_cpu) {
    return Invalid(overrides.has_cpu() ? "overrides.cpu" : "overrides.containerOverrides", "container cpu adds up to ",
                   cpu_sum, " units, more than the task-level cpu (", *task_cpu, ")");
  }
  if (task_memory && memory_sum > *task_memory) {
    return Invalid(overrides.has_memory() ? "overrides.memory" : "overrides.containerOverrides",
                   "container memory reservations add up to ", memory_sum, " MiB, more than the task-level memory (",
                   *task_memory, " MiB)");
  }

  v1::ResourceDemand demand;
  demand.set_cpu(task_cpu ? *task_cpu : cpu_sum);
  demand.set_memory(task_memory ? *task_memory : memory_sum);
  *demand.mutable_tcp_ports() = base.tcp_ports();  // overrides cannot change port mappings
  *demand.mutable_udp_ports() = base.udp_ports();
  demand.set_gpus(base.gpus());
  demand.set_eni(base.eni());
  demand.set_dynamic_tcp_ports(base.dynamic_tcp_ports());
  demand.set_dynamic_udp_ports(base.dynamic_udp_ports());
  return demand;
}

}  // namespace berth::controlplane
