#include "src/cli/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"
#include "berth/common/strings.h"
#include "src/cli/output.h"

namespace berth::cli {
namespace {

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kBlank = " \t\r";
  size_t begin = text.find_first_not_of(kBlank);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(kBlank);
  return text.substr(begin, end - begin + 1);
}

const char* NonEmptyVariable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

absl::StatusOr<CliConfig> ParseConfig(std::string_view text, const std::string& path) {
  CliConfig config;
  config.path = path;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t newline = text.find('\n');
    std::string_view line = Trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = StrCat(path, ":", line_number, ": ");
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat(where, "expected 'key = value', got '", line, "'"));
    }
    std::string_view key = Trim(line.substr(0, equals));
    std::string value(Trim(line.substr(equals + 1)));
    if (value.empty()) return absl::InvalidArgumentError(StrCat(where, "'", key, "' has no value"));
    if (key == "endpoint") {
      config.endpoint = value;
    } else if (key == "output") {
      OutputFormat format;
      if (!ParseOutputFormat(value, &format)) {
        return absl::InvalidArgumentError(StrCat(where, "output: must be json, text or table (got '", value, "')"));
      }
      config.output = value;
    } else if (key == "tls-ca") {
      config.tls_ca = value;
    } else {
      return absl::InvalidArgumentError(
          StrCat(where, "unknown key '", key, "' (the keys are endpoint, output and tls-ca)"));
    }
  }
  return config;
}

std::string ConfigPath(bool* explicit_path) {
  *explicit_path = false;
  if (const char* path = NonEmptyVariable("BERTH_CONFIG")) {
    *explicit_path = true;
    return path;
  }
  if (const char* xdg = NonEmptyVariable("XDG_CONFIG_HOME")) return StrCat(xdg, "/berth/config");
  if (const char* home = NonEmptyVariable("HOME")) return StrCat(home, "/.config/berth/config");
  return "";
}

absl::StatusOr<CliConfig> LoadConfig() {
  bool explicit_path = false;
  const std::string path = ConfigPath(&explicit_path);
  if (path.empty()) return CliConfig{};
  std::error_code error;
  if (!explicit_path && !std::filesystem::exists(path, error)) return CliConfig{};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        StrCat("cannot read the configuration file ", path, explicit_path ? " ($BERTH_CONFIG)" : ""));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return ParseConfig(contents.str(), path);
}

}  // namespace berth::cli
