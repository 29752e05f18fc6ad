// String helpers that accept std::string_view.
//
// Debian's Abseil (20220623) is built with ABSL_OPTION_USE_STD_STRING_VIEW=0: absl::string_view is
// its own type and absl::StrCat / absl::SimpleAtoi do not take std::string_view. Berth's
// interfaces use std::string_view, so these helpers are the ones to call.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <fmt/format.h>

#include "absl/strings/string_view.h"

namespace berth {

namespace internal {
inline void AppendOne(std::string& out, std::string_view s) { out.append(s.data(), s.size()); }
inline void AppendOne(std::string& out, const std::string& s) { out.append(s); }
inline void AppendOne(std::string& out, const char* s) { out.append(s); }
inline void AppendOne(std::string& out, char c) { out.push_back(c); }
inline void AppendOne(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, char>>>
void AppendOne(std::string& out, T value) {
  if constexpr (std::is_same_v<T, bool>) {
    out.append(value ? "true" : "false");
  } else {
    fmt::format_to(std::back_inserter(out), "{}", value);
  }
}
}  // namespace internal

// Concatenates strings, characters and numbers.
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (internal::AppendOne(out, args), ...);
  return out;
}

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (internal::AppendOne(*out, args), ...);
}

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// `s` without leading and trailing spaces and tabs.
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ASCII case-insensitive equality.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Parses a whole decimal integer (optional leading '-'); false on any other text or overflow.
template <typename Int>
bool ParseInt(std::string_view text, Int* out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// The ports of an ECS port mapping: `range` ("8000-8010") when given, else the single `port`.
// False when the range is not LOW-HIGH.
inline bool PortSpan(int32_t port, bool has_range, std::string_view range, int32_t* lo, int32_t* hi) {
  *lo = *hi = port;
  if (!has_range) return true;
  size_t dash = range.find('-');
  return dash != std::string_view::npos && ParseInt(range.substr(0, dash), lo) && ParseInt(range.substr(dash + 1), hi);
}

}  // namespace berth
