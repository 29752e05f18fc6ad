// Logging facade. Code logs through these functions; the backend (spdlog) is hidden in
// src/common/logging.cc so it can change in one place.
//
//   berth::log::Info("committed batch of {} proposals in {} us", n, micros);
//
// Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace berth::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

// Configures the process-wide logger (stderr). Call once from main() before other threads start.
void Init(Format format, Level level);
bool ParseLevel(std::string_view text, Level* out);
bool ParseFormat(std::string_view text, Format* out);

bool Enabled(Level level);
void Write(Level level, std::string_view message);

template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace berth::log
