// CloudWatch Logs filter patterns (FilterLogEvents' filterPattern): parsed once, then matched
// against each event's message. Pure: no I/O, no clock.
//
// The syntax (docs/logs.md, "Filter patterns"):
//   - ""                       matches every event.
//   - Terms, case-sensitive, each matched as a substring of the message:
//       ERROR Exception        both terms (AND);
//       "Connection refused"   a quoted phrase, kept whole (\" and \\ escape inside it);
//       ?ERROR ?WARN           at least one of the ?-terms (OR);
//       ERROR -Exiting         ERROR, and not Exiting (exclusion).
//     Plain, ? and - terms combine: every plain term, none of the excluded ones, and one of the
//     ?-terms when there are any. A term that is not quoted is letters, digits and any of _ . : /
//     @ # = , ; and it may not start with ? or -.
//   - JSON, matched against messages that parse as a JSON object (others never match):
//       { $.level = "error" }              strings compare exactly, * is a wildcard;
//       { $.latency > 100 }                numbers: = != < <= > >=;
//       { $.user.id = 7 && ($.ok IS FALSE || $.code != 200) }
//       { $.items[0].name = "a*" }         members and array elements;
//       { $.trace IS NULL }, { $.trace NOT EXISTS }, { $.ok IS TRUE }.
//     A string value may be left unquoted when it is a plain term (`{ $.eventType = UpdateTrail }`).
// Space-delimited patterns ([a, b, ...]) and regular expressions (%...%) are refused with an
// error that says so.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::logs {

class FilterPattern {
 public:
  // The parsed pattern, or InvalidArgument naming where `pattern` breaks which rule.
  static absl::StatusOr<FilterPattern> Parse(std::string_view pattern);

  // Whether `message` matches.
  bool Matches(std::string_view message) const;

  // Terms every matching message contains (the plain terms of a term pattern; none for JSON and
  // OR-only patterns): a store may skip data that lacks one of them without matching it.
  const std::vector<std::string>& required_terms() const;

  class Node;  // the pattern's tree (filter_pattern.cc)

 private:
  explicit FilterPattern(std::shared_ptr<const Node> root, std::vector<std::string> required)
      : root_(std::move(root)), required_(std::move(required)) {}
  std::shared_ptr<const Node> root_;  // null: matches everything
  std::vector<std::string> required_;
};

}  // namespace berth::logs
