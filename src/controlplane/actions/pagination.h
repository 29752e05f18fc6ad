// List pagination shared by every List* action: `nextToken` is an opaque, URL-safe token that
// encodes the last key returned; `maxResults` is 1..100 (default 100), as in ECS.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {

inline constexpr int kMaxPageSize = 100;

inline std::string EncodePageToken(std::string_view last_key) {
  return absl::WebSafeBase64Escape(StrCat("v1/", last_key));
}

// The key after which the page starts ("" when no token was given).
inline absl::StatusOr<std::string> DecodePageToken(bool has_token, const std::string& token) {
  if (!has_token || token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.rfind("v1/", 0) != 0) {
    return InvalidParameter("nextToken: '", token, "' is not a token returned by this API");
  }
  return raw.substr(3);
}

inline absl::StatusOr<int> PageSize(bool has_max, int32_t max_results) {
  if (!has_max) return kMaxPageSize;
  if (max_results < 1 || max_results > kMaxPageSize) {
    return InvalidParameter("maxResults: must be between 1 and ", kMaxPageSize, " (got ", max_results, ")");
  }
  return max_results;
}

}  // namespace berth::controlplane
