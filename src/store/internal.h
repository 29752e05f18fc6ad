// Private to src/store: helpers shared by the Store implementations.
#pragma once

#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "berth/common/status.h"
#include "berth/store/store.h"
#include "fmt/format.h"

namespace berth::store::internal {

inline constexpr size_t kNumTables = std::size(kAllTables);

constexpr bool TablesAreDense() {
  for (size_t i = 0; i < kNumTables; ++i) {
    if (static_cast<size_t>(kAllTables[i]) != i) return false;
  }
  return true;
}
static_assert(TablesAreDense(), "kAllTables must list every Table in value order, starting at 0");

// Table values are dense from 0 (the enum is persisted and never renumbered), so they index
// arrays directly. An out-of-range value is a cast bug in the caller: crash rather than touch
// memory outside the array.
inline size_t TableIndex(Table table) {
  const auto index = static_cast<size_t>(table);
  BERTH_CHECK_MSG(index < kNumTables, "not a valid berth::store::Table value");
  return index;
}

// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0),
// which does not convert from std::string_view.
inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A key as it appears in error messages: C-escaped (keys hold NULs and binary revisions) and
// truncated, since a caller bug could pass a huge one.
inline std::string QuoteKey(std::string_view key) {
  constexpr size_t kMaxQuotedBytes = 64;
  if (key.size() <= kMaxQuotedBytes) return fmt::format("\"{}\"", absl::CHexEscape(ToAbsl(key)));
  return fmt::format("\"{}\"... ({} bytes)", absl::CHexEscape(ToAbsl(key.substr(0, kMaxQuotedBytes))), key.size());
}

}  // namespace berth::store::internal
