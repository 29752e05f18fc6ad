#include "src/controlplane/actions/validation_rules.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"

namespace berth::controlplane::validation_internal {

std::string Quote(absl::string_view value) {
  constexpr size_t kMax = 80;
  if (value.size() <= kMax) return absl::StrCat("'", absl::CHexEscape(value), "'");
  return absl::StrCat("'", absl::CHexEscape(value.substr(0, kMax)), "...' (", value.size(), " bytes)");
}

bool OneOf(absl::string_view value, std::initializer_list<absl::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

absl::Status CheckOneOf(absl::string_view path, absl::string_view value,
                        std::initializer_list<absl::string_view> allowed) {
  if (OneOf(value, allowed)) return absl::OkStatus();
  return Invalid(path, "must be one of ", absl::StrJoin(allowed, ", "), " (got ", Quote(value), ")");
}

absl::Status CheckRange(absl::string_view path, int64_t value, int64_t lo, int64_t hi, absl::string_view unit) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return Invalid(path, "must be between ", lo, " and ", hi, unit, " (got ", value, ")");
}

bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// Family, container and volume names: 1-255 of [A-Za-z0-9_-].
absl::Status CheckName(absl::string_view path, bool present, absl::string_view value) {
  if (!present || value.empty()) return Invalid(path, "required: 1-255 letters, digits, '_' or '-'");
  if (value.size() > static_cast<size_t>(kMaxNameLength)) {
    return Invalid(path, "must be at most ", kMaxNameLength, " characters (got ", value.size(), ")");
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!IsNameChar(value[i])) {
      return Invalid(path, "may contain only letters, digits, '_' and '-' (got ", Quote(value), ", bad character at ",
                     i, ")");
    }
  }
  return absl::OkStatus();
}

absl::Status Required(absl::string_view path, bool present, absl::string_view value) {
  if (!present || value.empty()) return Invalid(path, "required and must not be empty");
  return absl::OkStatus();
}

}  // namespace berth::controlplane::validation_internal
