// The ECS cluster query language: `subject operator [argument]` conditions combined with
// `and`/`&&`, `or`/`||`, `not`/`!` and parentheses (memberOf constraints, ListContainerInstances
// `filter`).
//
// ParseExpression() turns text into an immutable Expression; Matches() evaluates it against an
// ExpressionSubject, an interface the caller implements over its own instance records, so this
// library never sees the control plane's types.
//
// Grammar (keywords `and`, `or`, `not`, subject names and word operators are case-insensitive;
// attribute names and arguments keep their case):
//   expr  := or
//   or    := and (("or" | "||") and)*
//   and   := unary (("and" | "&&") unary)*
//   unary := ("not" | "!") unary | "(" expr ")" | term
//   term  := subject operator [argument]
// Subjects: agentConnected, agentVersion, attribute:<name> (name: letters, digits, . - _ / \),
// ec2InstanceId, registeredAt, runningTasksCount, task:group.
// Operators: == equals, != not_equals, > >= < <=, exists, !exists not_exists (no argument),
// in, !in not_in (a list `[a, b]`), =~ matches, !~ not_matches (an ECMAScript regular expression
// that must match the whole value; compiled once, at parse time; no back-references, repetition
// counts at most 100000; matched in time polynomial in the value's length, never backtracking).
// Arguments are bare words (up to whitespace, `)`, `,`, `]`) or quoted with ' or " (no escapes:
// quote with the other character); a value or list element starting with `[` must be quoted.
// Expressions are at most kMaxExpressionLength characters.
//
// Evaluation:
// - == / != compare strings; agentConnected compares to true/false; runningTasksCount and
//   registeredAt compare numerically when the argument is a number.
// - < <= > >=: numeric for runningTasksCount and registeredAt (the argument must be a number);
//   version-aware for agentVersion (dot-separated numeric components, missing ones are 0:
//   1.14.5 < 1.20.0, 1.14 == 1.14.0 for ordering); numeric when both sides are numbers, else
//   lexicographic, for attributes and ec2InstanceId. Not applicable to agentConnected or task:group.
// - exists / !exists: whether the attribute is set; every other subject always exists.
// - A missing attribute makes every condition false except the negative ones, which are true:
//   !=, !exists, not_in, !~ (a missing value is "not equal to", "not in" and "does not match"
//   anything, which is what a filter such as `attribute:gpu != none` should select).
// - task:group == X is true when the instance runs a task of group X; != is the negation; in /
//   not_in test any of the list. Ordering and regexes do not apply to task:group.
//
// Errors are INVALID_ARGUMENT "expression: column N: <what was expected, what was found>" with the
// 1-based column (byte offset) of the offending token.
//
// Thread safety: an Expression is immutable; copies share the parsed tree and may be used from any
// number of threads concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace berth::placement {

inline constexpr size_t kMaxExpressionLength = 2000;

// What an expression is evaluated against: one container instance, seen through the caller's
// records.
struct ExpressionSubject {
  virtual ~ExpressionSubject() = default;
  // The attribute's value, or nullopt when the instance does not have it. Views stay valid while
  // the expression is being evaluated.
  virtual std::optional<std::string_view> Attribute(std::string_view name) const = 0;
  virtual bool AgentConnected() const = 0;
  virtual std::string_view AgentVersion() const = 0;
  virtual std::string_view Ec2InstanceId() const = 0;
  // Registration time, seconds since the Unix epoch.
  virtual double RegisteredAt() const = 0;
  virtual int64_t RunningTasksCount() const = 0;
  // Whether the instance runs a task whose group is `group`.
  virtual bool HasTaskGroup(std::string_view group) const = 0;
};

namespace internal {
struct ExpressionNode;
}  // namespace internal

class Expression {
 public:
  // Whether the instance satisfies the expression.
  bool Matches(const ExpressionSubject& subject) const;

  // Canonical form: lower-case keywords, the canonical spelling of every operator, single spaces,
  // arguments quoted only when needed, parentheses only where precedence requires them. Parsing
  // the canonical form yields an equivalent expression.
  std::string ToString() const;

 private:
  friend absl::StatusOr<Expression> ParseExpression(std::string_view text);
  explicit Expression(std::shared_ptr<const internal::ExpressionNode> root) : root_(std::move(root)) {}

  std::shared_ptr<const internal::ExpressionNode> root_;  // never null
};

// Parses `text`; INVALID_ARGUMENT (with the column) when it is malformed.
absl::StatusOr<Expression> ParseExpression(std::string_view text);

}  // namespace berth::placement
