// Small file helpers shared by the binaries.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace berth {

// Replaces `path` with `content` so that a crash at any moment leaves either the old file or the
// new one, and the new one survives power loss once this returns OK: writes `path`.tmp with
// permissions `mode`, fsyncs it, renames it over `path` and fsyncs the directory. Errors name the
// file and the failing step.
absl::Status WriteFileDurably(const std::string& path, std::string_view content, mode_t mode = 0644);

}  // namespace berth
