// The CLI's configuration file: defaults for the endpoint and the output format, so a person who
// always talks to one berthd and prefers tables need not say so on every command.
//
// Found at $BERTH_CONFIG when set (then it must exist), else $XDG_CONFIG_HOME/berth/config, else
// ~/.config/berth/config (these two may be absent). The format is one `key = value` per line;
// blank lines and lines starting with '#' are ignored; keys are `endpoint`, `output` and `tls-ca`
// (the PEM CA bundle that signed berthd's certificate: the CLI then speaks TLS). Anything
// else is an error naming the file and the line, so a typo is never silently ignored.
//
// Pure functions apart from reading the environment and the file; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::cli {

struct CliConfig {
  std::string path;  // the file read, or "" when there was none
  std::optional<std::string> endpoint;
  std::optional<std::string> output;
  std::optional<std::string> tls_ca;
};

// The file `path` holding `text`. Errors are INVALID_ARGUMENT "PATH:LINE: ...".
absl::StatusOr<CliConfig> ParseConfig(std::string_view text, const std::string& path);

// Where the configuration file is looked for (see above), or "" when neither $BERTH_CONFIG,
// $XDG_CONFIG_HOME nor $HOME is set. `explicit_path` says whether it came from $BERTH_CONFIG.
std::string ConfigPath(bool* explicit_path);

// Reads and parses the configuration file; an empty config when the default file does not exist.
absl::StatusOr<CliConfig> LoadConfig();

}  // namespace berth::cli
