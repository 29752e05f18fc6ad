// libFuzzer target for the cluster query language (include/berth/placement/expression.h).
//
// Every input is parsed; a parse error must be INVALID_ARGUMENT "expression: ...". A parsed
// expression must satisfy:
//   - its canonical form (ToString) parses again,
//   - the canonical form of that is the same string (the canonical form is a fixed point),
//   - both expressions give the same Matches() answer on each of a few fixed fake instances.
// A violation prints what broke and traps, so libFuzzer records the input as a crash.
//
// One exception: the canonical form may be longer than the input (`!` becomes `not `, `&&` becomes
// ` and `), so for an input near kMaxExpressionLength it may exceed the limit. Then the reparse
// must fail with the length error and nothing else is checked.
//
// This file has no main(): the fuzzer build links libFuzzer's, and the unit test
// tests/unit/placement/expression_corpus_test.cc links gtest's and feeds it the seed corpus
// (tests/fuzz/corpus/expression/).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "berth/placement/expression.h"

namespace {

using berth::placement::Expression;
using berth::placement::ExpressionSubject;
using berth::placement::kMaxExpressionLength;
using berth::placement::ParseExpression;

// Inputs longer than this are ignored: the parser refuses anything over kMaxExpressionLength
// outright, so a few bytes past the limit exercise that check and more would only slow the fuzzer.
constexpr size_t kMaxInputLength = kMaxExpressionLength + 16;

struct FakeAttribute {
  std::string_view name;
  std::string_view value;  // "" for an attribute set without a value
};

// A fixed container instance. Values are short so that a pathological regular expression cannot
// turn one evaluation into minutes of backtracking.
struct FakeInstance final : ExpressionSubject {
  const FakeAttribute* attributes = nullptr;
  size_t attribute_count = 0;
  bool connected = false;
  std::string_view version;
  std::string_view ec2_id;
  double registered_at = 0;
  int64_t running = 0;
  const std::string_view* groups = nullptr;
  size_t group_count = 0;

  // ExpressionSubject
  std::optional<std::string_view> Attribute(std::string_view name) const override {
    for (size_t i = 0; i < attribute_count; ++i) {
      if (attributes[i].name == name) return attributes[i].value;
    }
    return std::nullopt;
  }
  bool AgentConnected() const override { return connected; }
  std::string_view AgentVersion() const override { return version; }
  std::string_view Ec2InstanceId() const override { return ec2_id; }
  double RegisteredAt() const override { return registered_at; }
  int64_t RunningTasksCount() const override { return running; }
  bool HasTaskGroup(std::string_view group) const override {
    for (size_t i = 0; i < group_count; ++i) {
      if (groups[i] == group) return true;
    }
    return false;
  }
};

constexpr FakeAttribute kLinuxAttributes[] = {
    {"ecs.os-type", "linux"},
    {"ecs.instance-type", "g2.2xlarge"},
    {"ecs.availability-zone", "us-east-1a"},
    {"stack", "prod"},
    {"slots", "10"},
    {"gpu", ""},
};
constexpr std::string_view kLinuxGroups[] = {"family:web", "service:api", "database"};

constexpr FakeAttribute kWindowsAttributes[] = {
    {"ecs.os-type", "windows"},
    {"ecs.instance-type", "t3.small"},
    {"stack", "dev"},
    {"slots", "9.5"},
};
constexpr std::string_view kWindowsGroups[] = {"family:batch"};

const FakeInstance* Instances(size_t* count) {
  static const FakeInstance kInstances[] = {
      [] {
        FakeInstance f;
        f.attributes = kLinuxAttributes;
        f.attribute_count = std::size(kLinuxAttributes);
        f.connected = true;
        f.version = "1.70.2";
        f.ec2_id = "i-0abc123";
        f.registered_at = 1700000000.5;
        f.running = 3;
        f.groups = kLinuxGroups;
        f.group_count = std::size(kLinuxGroups);
        return f;
      }(),
      [] {
        FakeInstance f;
        f.attributes = kWindowsAttributes;
        f.attribute_count = std::size(kWindowsAttributes);
        f.connected = false;
        f.version = "1.14";
        f.ec2_id = "i-9";
        f.registered_at = 1600000000;
        f.running = 0;
        f.groups = kWindowsGroups;
        f.group_count = std::size(kWindowsGroups);
        return f;
      }(),
      // Nothing set: no attributes, empty strings, zero counts.
      FakeInstance{},
  };
  *count = std::size(kInstances);
  return kInstances;
}

std::string_view Message(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

[[noreturn]] void Fail(const char* what, std::string_view input, std::string_view canonical) {
  std::fprintf(stderr, "expression_fuzz: %s\n  input:     '%.*s'\n  canonical: '%.*s'\n", what,
               static_cast<int>(input.size()), input.data(), static_cast<int>(canonical.size()), canonical.data());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputLength) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<Expression> parsed = ParseExpression(input);
  if (!parsed.ok()) {
    if (parsed.status().code() != absl::StatusCode::kInvalidArgument ||
        !Message(parsed.status()).starts_with("expression: ")) {
      Fail("a parse error is not INVALID_ARGUMENT 'expression: ...'", input, "");
    }
    return 0;
  }

  const std::string canonical = parsed->ToString();
  absl::StatusOr<Expression> reparsed = ParseExpression(canonical);
  if (canonical.size() > kMaxExpressionLength) {
    if (reparsed.ok() || Message(reparsed.status()).find("longer than") == std::string_view::npos) {
      Fail("an over-long canonical form is not refused for its length", input, canonical);
    }
    return 0;
  }
  if (!reparsed.ok()) Fail("the canonical form does not parse", input, canonical);
  if (reparsed->ToString() != canonical) Fail("the canonical form is not a fixed point", input, canonical);

  size_t count = 0;
  const FakeInstance* instances = Instances(&count);
  for (size_t i = 0; i < count; ++i) {
    if (parsed->Matches(instances[i]) != reparsed->Matches(instances[i])) {
      Fail("the canonical form matches differently", input, canonical);
    }
  }
  return 0;
}
