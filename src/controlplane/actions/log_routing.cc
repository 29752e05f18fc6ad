#include "src/controlplane/actions/log_routing.h"

#include <re2/re2.h>

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"
#include "berth/common/strings.h"

namespace berth::controlplane {
namespace {

constexpr char kGroup[] = "awslogs-group";
constexpr char kPrefix[] = "awslogs-stream-prefix";
constexpr char kCreateGroup[] = "awslogs-create-group";
constexpr char kDatetimeFormat[] = "awslogs-datetime-format";
constexpr char kMultilinePattern[] = "awslogs-multiline-pattern";

std::string Option(const v1::LogConfiguration& config, const char* name) {
  auto it = config.options().find(name);
  return it == config.options().end() ? std::string() : it->second;
}

absl::Status Invalid(const std::string& path, const char* option, std::string_view rule) {
  return absl::InvalidArgumentError(StrCat(path, ".options.", option, ": ", rule));
}

}  // namespace

std::optional<bool> ParseLogBool(const std::string& text) {
  if (text == "1" || text == "t" || text == "T" || text == "true" || text == "TRUE" || text == "True") return true;
  if (text == "0" || text == "f" || text == "F" || text == "false" || text == "FALSE" || text == "False") return false;
  return std::nullopt;
}

std::optional<int64_t> ParseLogSize(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) != 0 || text[digits] == '.')) {
    ++digits;
  }
  double value = 0;
  if (digits == 0 || !absl::SimpleAtod(text.substr(0, digits), &value)) return std::nullopt;
  std::string unit = absl::AsciiStrToLower(text.substr(digits));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  int64_t multiplier = 1;
  if (unit == "k") {
    multiplier = int64_t{1} << 10;
  } else if (unit == "m") {
    multiplier = int64_t{1} << 20;
  } else if (unit == "g") {
    multiplier = int64_t{1} << 30;
  } else if (unit == "t") {
    multiplier = int64_t{1} << 40;
  } else if (!unit.empty()) {
    return std::nullopt;
  }
  return static_cast<int64_t>(value * static_cast<double>(multiplier));
}

std::optional<LogStreamName> LogStreamOf(const v1::ContainerDefinition& def, const std::string& cluster,
                                         const std::string& task_id, const LogRoutingOptions& options) {
  const std::string own = StrCat(def.name(), "/", task_id);
  if (!def.has_log_configuration()) {
    if (options.default_group.empty()) return std::nullopt;
    return LogStreamName{.group = absl::StrReplaceAll(options.default_group, {{"{cluster}", cluster}}), .stream = own};
  }
  const v1::LogConfiguration& config = def.log_configuration();
  if (config.log_driver() != "awslogs") return std::nullopt;
  const std::string prefix = Option(config, kPrefix);
  return LogStreamName{.group = Option(config, kGroup), .stream = prefix.empty() ? own : StrCat(prefix, "/", own)};
}

v1::LogDestination DestinationOf(const v1::Container& container, const v1::ContainerDefinition& def) {
  v1::LogDestination d;
  d.set_container_name(container.name());
  d.set_group(container.log_group());
  d.set_stream(container.log_stream());
  if (!def.has_log_configuration()) {
    d.set_create_group(true);  // the cluster's default group
    return d;
  }
  const v1::LogConfiguration& config = def.log_configuration();
  d.set_create_group(ParseLogBool(Option(config, kCreateGroup)).value_or(false));
  d.set_datetime_format(Option(config, kDatetimeFormat));
  d.set_multiline_pattern(Option(config, kMultilinePattern));
  return d;
}

absl::Status CheckAwsLogsOptions(const v1::LogConfiguration& config, const std::string& path) {
  if (config.log_driver() != "awslogs") return absl::OkStatus();
  if (Option(config, kGroup).empty()) return Invalid(path, kGroup, "required by the awslogs driver");
  if (auto it = config.options().find(kCreateGroup); it != config.options().end() && !ParseLogBool(it->second)) {
    return Invalid(path, kCreateGroup, StrCat("must be true or false (got '", it->second, "')"));
  }
  if (auto it = config.options().find("mode");
      it != config.options().end() && it->second != "blocking" && it->second != "non-blocking") {
    return Invalid(path, "mode", StrCat("must be blocking or non-blocking (got '", it->second, "')"));
  }
  if (auto it = config.options().find("max-buffer-size");
      it != config.options().end() && (!ParseLogSize(it->second) || *ParseLogSize(it->second) <= 0)) {
    return Invalid(path, "max-buffer-size", StrCat("must be a size such as 25m or 4096 (got '", it->second, "')"));
  }
  const std::string pattern = Option(config, kMultilinePattern);
  if (!pattern.empty()) {
    if (!Option(config, kDatetimeFormat).empty()) {
      return Invalid(path, kMultilinePattern, "cannot be set together with awslogs-datetime-format");
    }
    RE2 re(pattern, RE2::Quiet);
    if (!re.ok()) return Invalid(path, kMultilinePattern, StrCat("not a regular expression: ", re.error()));
  }
  return absl::OkStatus();
}

}  // namespace berth::controlplane
