// The cluster query language: tokenizing recursive-descent parser and evaluator.
//
// The parser reads the text directly (no separate token list): what counts as a token depends on
// the position in the grammar (a bare argument may contain `*` or `(`, an operator may not), so
// each Parse* function scans exactly the lexeme it expects.
#include "berth/placement/expression.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <compare>
#include <regex>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::placement {
namespace internal {

enum class NodeKind : uint8_t { kAnd, kOr, kNot, kTerm };

enum class Subject : uint8_t {
  kAgentConnected,
  kAgentVersion,
  kAttribute,
  kEc2InstanceId,
  kRegisteredAt,
  kRunningTasksCount,
  kTaskGroup,
};

enum class Op : uint8_t {
  kEquals,
  kNotEquals,
  kGreater,
  kGreaterEqual,
  kLess,
  kLessEqual,
  kExists,
  kNotExists,
  kIn,
  kNotIn,
  kMatches,
  kNotMatches,
};

struct ExpressionNode {
  NodeKind kind = NodeKind::kTerm;
  // kAnd / kOr: two or more; kNot: exactly one.
  std::vector<std::unique_ptr<const ExpressionNode>> children;

  // kTerm only.
  Subject subject = Subject::kAttribute;
  std::string attribute;  // kAttribute: the name
  Op op = Op::kEquals;
  std::string argument;           // single-value operators
  std::optional<double> number;   // the argument, when it is a number
  std::vector<std::string> list;  // kIn / kNotIn
  std::vector<std::optional<double>> list_numbers;
  std::optional<std::regex> regex;  // kMatches / kNotMatches
};

}  // namespace internal

namespace {

using internal::ExpressionNode;
using internal::NodeKind;
using internal::Op;
using internal::Subject;
using NodePtr = std::unique_ptr<ExpressionNode>;

enum class ArgKind : uint8_t { kNone, kValue, kList, kRegex };

struct OpSpelling {
  std::string_view text;
  Op op;
};

// Every accepted spelling; the first one listed for an operator is canonical.
constexpr OpSpelling kOpSpellings[] = {
    {"==", Op::kEquals},
    {"equals", Op::kEquals},
    {"!=", Op::kNotEquals},
    {"not_equals", Op::kNotEquals},
    {">", Op::kGreater},
    {">=", Op::kGreaterEqual},
    {"<", Op::kLess},
    {"<=", Op::kLessEqual},
    {"exists", Op::kExists},
    {"!exists", Op::kNotExists},
    {"not_exists", Op::kNotExists},
    {"in", Op::kIn},
    {"!in", Op::kNotIn},
    {"not_in", Op::kNotIn},
    {"=~", Op::kMatches},
    {"matches", Op::kMatches},
    {"!~", Op::kNotMatches},
    {"not_matches", Op::kNotMatches},
};

struct SubjectSpelling {
  std::string_view text;
  Subject subject;
};

constexpr SubjectSpelling kSubjectSpellings[] = {
    {"agentConnected", Subject::kAgentConnected},       {"agentVersion", Subject::kAgentVersion},
    {"ec2InstanceId", Subject::kEc2InstanceId},         {"registeredAt", Subject::kRegisteredAt},
    {"runningTasksCount", Subject::kRunningTasksCount}, {"task:group", Subject::kTaskGroup},
};

constexpr std::string_view kAttributePrefix = "attribute:";

std::string_view CanonicalOp(Op op) {
  for (const auto& s : kOpSpellings) {
    if (s.op == op) return s.text;
  }
  return "?";
}

std::string_view CanonicalSubject(Subject subject) {
  for (const auto& s : kSubjectSpellings) {
    if (s.subject == subject) return s.text;
  }
  return "attribute";
}

ArgKind ArgKindOf(Op op) {
  switch (op) {
    case Op::kExists:
    case Op::kNotExists:
      return ArgKind::kNone;
    case Op::kIn:
    case Op::kNotIn:
      return ArgKind::kList;
    case Op::kMatches:
    case Op::kNotMatches:
      return ArgKind::kRegex;
    default:
      return ArgKind::kValue;
  }
}

bool IsOrdering(Op op) {
  return op == Op::kGreater || op == Op::kGreaterEqual || op == Op::kLess || op == Op::kLessEqual;
}

// The operators that hold for a missing attribute.
bool IsNegative(Op op) {
  return op == Op::kNotEquals || op == Op::kNotExists || op == Op::kNotIn || op == Op::kNotMatches;
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsNameChar(char c) {
  return IsAlpha(c) || IsDigit(c) || c == '.' || c == '-' || c == '_' || c == '/' || c == '\\';
}
bool IsSubjectChar(char c) { return IsNameChar(c) || c == ':'; }
bool IsOpSymbol(char c) { return c == '=' || c == '!' || c == '<' || c == '>' || c == '~'; }
bool EndsBareWord(char c) { return IsSpace(c) || c == ')' || c == ',' || c == ']'; }

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

// A whole finite decimal number ("3", "-2.5", "1e3").
std::optional<double> ParseNumber(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// How regular expressions are compiled. libstdc++'s default matcher backtracks: `(a|aa)*c` takes
// seconds on a 36-character value and longer than anyone waits on a 128-character attribute, with
// the caller holding whatever it holds (the control plane's state lock). Its `__polynomial` mode
// matches in time polynomial in the value's length instead (the answer to "does the whole value
// match" is the same); it refuses back-references, which RegexProblem() reports first.
#if defined(__GLIBCXX__)
constexpr std::regex::flag_type kRegexFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr std::regex::flag_type kRegexFlags = std::regex::ECMAScript;
#endif

// The largest repetition count accepted in `{n}`/`{n,m}`. libstdc++ refuses an automaton of more
// than 100,000 states anyway; checking here first keeps a long digit run away from its count
// parser, which accumulates into a `long` unchecked (undefined behaviour past 19 digits) and then
// truncates to `int`.
constexpr int64_t kMaxRegexRepeat = 100000;

// What std::regex must not be given, or "" when `pattern` may be compiled (it may still be
// invalid: std::regex reports that). Tracks just enough of the ECMAScript grammar to know where a
// repetition count or a back-reference is: escapes, bracket expressions (with [:class:]), braces.
std::string RegexProblem(std::string_view pattern) {
  bool in_bracket = false;
  bool in_brace = false;
  int64_t count = 0;  // the digits of the current repetition count, saturated
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (in_brace) {
      if (IsDigit(c)) {
        count = std::min<int64_t>(count * 10 + (c - '0'), kMaxRegexRepeat + 1);
        if (count > kMaxRegexRepeat) return StrCat("a repetition count may be at most ", kMaxRegexRepeat);
        continue;
      }
      count = 0;
      if (c == ',') continue;
      in_brace = false;
      if (c == '}') continue;
    }
    if (c == '\\') {
      if (i + 1 >= pattern.size()) break;
      const char next = pattern[i + 1];
      if (next >= '1' && next <= '9') return "back-references ('\\1', '\\2', ...) are not supported";
      i += next == 'c' ? 2 : 1;  // `\cX` is one character whatever X is
      continue;
    }
    if (in_bracket) {
      if (c == '[' && i + 1 < pattern.size() &&
          (pattern[i + 1] == ':' || pattern[i + 1] == '.' || pattern[i + 1] == '=')) {
        const size_t close = pattern.find(StrCat(pattern[i + 1], ']'), i + 2);
        if (close != std::string_view::npos) i = close + 1;
        continue;
      }
      if (c == ']') in_bracket = false;
      continue;
    }
    if (c == '[') in_bracket = true;
    if (c == '{') in_brace = true;
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Parser

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<NodePtr> Parse() {
    ASSIGN_OR_RETURN(NodePtr root, ParseOr());
    SkipSpace();
    if (!AtEnd()) {
      if (Peek() == ')') {
        return Error(pos_, "unbalanced parentheses: ')' without a matching '('");
      }
      return Error(pos_, StrCat("expected 'and', 'or' or end of expression, got ", Got()));
    }
    return root;
  }

 private:
  absl::StatusOr<NodePtr> ParseOr() {
    ASSIGN_OR_RETURN(NodePtr first, ParseAnd());
    std::vector<NodePtr> rest;
    while (ConsumeConnective("or", "||")) {
      ASSIGN_OR_RETURN(NodePtr next, ParseAnd());
      rest.push_back(std::move(next));
    }
    return Combine(NodeKind::kOr, std::move(first), std::move(rest));
  }

  absl::StatusOr<NodePtr> ParseAnd() {
    ASSIGN_OR_RETURN(NodePtr first, ParseUnary());
    std::vector<NodePtr> rest;
    while (ConsumeConnective("and", "&&")) {
      ASSIGN_OR_RETURN(NodePtr next, ParseUnary());
      rest.push_back(std::move(next));
    }
    return Combine(NodeKind::kAnd, std::move(first), std::move(rest));
  }

  static NodePtr Combine(NodeKind kind, NodePtr first, std::vector<NodePtr> rest) {
    if (rest.empty()) return first;
    auto node = std::make_unique<ExpressionNode>();
    node->kind = kind;
    node->children.push_back(std::move(first));
    for (auto& r : rest) node->children.push_back(std::move(r));
    return node;
  }

  absl::StatusOr<NodePtr> ParseUnary() {
    SkipSpace();
    if (AtEnd()) return Error(pos_, "expected a condition, got end of expression");
    const size_t start = pos_;
    if (Peek() == '(') {
      ++pos_;
      ASSIGN_OR_RETURN(NodePtr inner, ParseOr());
      SkipSpace();
      if (AtEnd()) {
        return Error(pos_, StrCat("unbalanced parentheses: expected ')' to close the '(' at column ", start + 1,
                                  ", got end of expression"));
      }
      if (Peek() != ')') {
        return Error(pos_,
                     StrCat("expected 'and', 'or' or ')' to close the '(' at column ", start + 1, ", got ", Got()));
      }
      ++pos_;
      return inner;
    }
    const bool bang_not =
        Peek() == '!' && (pos_ + 1 >= text_.size() || (text_[pos_ + 1] != '=' && text_[pos_ + 1] != '~'));
    if (bang_not || EqualsIgnoreCase(SubjectWordAt(pos_), "not")) {
      pos_ += bang_not ? 1 : 3;
      ASSIGN_OR_RETURN(NodePtr operand, ParseUnary());
      auto node = std::make_unique<ExpressionNode>();
      node->kind = NodeKind::kNot;
      node->children.push_back(std::move(operand));
      return node;
    }
    return ParseTerm();
  }

  absl::StatusOr<NodePtr> ParseTerm() {
    auto node = std::make_unique<ExpressionNode>();
    node->kind = NodeKind::kTerm;

    // Subject.
    const size_t subject_pos = pos_;
    const std::string_view word = SubjectWordAt(pos_);
    if (word.empty()) return Error(pos_, StrCat("expected a condition, got ", Got()));
    if (word.size() >= kAttributePrefix.size() &&
        EqualsIgnoreCase(word.substr(0, kAttributePrefix.size()), kAttributePrefix)) {
      const std::string_view name = word.substr(kAttributePrefix.size());
      const size_t name_pos = subject_pos + kAttributePrefix.size();
      if (name.empty()) return Error(name_pos, "expected an attribute name after 'attribute:'");
      for (size_t i = 0; i < name.size(); ++i) {
        if (!IsNameChar(name[i])) {
          return Error(name_pos + i, StrCat("invalid character '", name[i],
                                            "' in attribute name (allowed: letters, digits, . - _ / \\)"));
        }
      }
      node->subject = Subject::kAttribute;
      node->attribute = std::string(name);
    } else {
      bool found = false;
      for (const auto& s : kSubjectSpellings) {
        if (EqualsIgnoreCase(word, s.text)) {
          node->subject = s.subject;
          found = true;
        }
      }
      if (!found) {
        return Error(subject_pos, StrCat("unknown subject '", word,
                                         "'; expected agentConnected, agentVersion, attribute:<name>, "
                                         "ec2InstanceId, registeredAt, runningTasksCount or task:group"));
      }
    }
    pos_ += word.size();

    // Operator.
    SkipSpace();
    const size_t op_pos = pos_;
    const std::string_view op_text = OperatorWordAt(pos_);
    bool op_found = false;
    for (const auto& s : kOpSpellings) {
      if (!op_text.empty() && EqualsIgnoreCase(op_text, s.text)) {
        node->op = s.op;
        op_found = true;
      }
    }
    if (!op_found) {
      return Error(op_pos, StrCat("expected an operator after '", word, "', got ", Got()));
    }
    pos_ += op_text.size();
    const Subject subject = node->subject;
    const Op op = node->op;
    const bool numeric_subject = subject == Subject::kRegisteredAt || subject == Subject::kRunningTasksCount;
    if ((subject == Subject::kTaskGroup && (IsOrdering(op) || ArgKindOf(op) == ArgKind::kRegex)) ||
        (subject == Subject::kAgentConnected && IsOrdering(op))) {
      return Error(op_pos, StrCat("operator '", op_text, "' does not apply to ", CanonicalSubject(subject)));
    }

    // Argument.
    switch (ArgKindOf(op)) {
      case ArgKind::kNone: {
        SkipSpace();
        if (!AtConditionEnd()) {
          return Error(pos_, StrCat("operator '", op_text, "' takes no argument, got ", Got()));
        }
        break;
      }
      case ArgKind::kList: {
        SkipSpace();
        if (AtEnd() || Peek() != '[') {
          return Error(pos_, StrCat("expected a list '[a, b, ...]' after operator '", op_text, "', got ", Got()));
        }
        const size_t open_pos = pos_;
        ++pos_;
        while (true) {
          SkipSpace();
          const size_t element_pos = pos_;
          if (AtEnd() || (!IsQuote(Peek()) && EndsBareWord(Peek()))) {
            return Error(pos_, StrCat("expected a list element, got ", Got()));
          }
          // Like a single value: a bare word may contain both quote characters, and one that
          // also starts with '[' would have no canonical spelling (it needs quotes, and no quote
          // character can enclose it).
          if (Peek() == '[') return Error(pos_, "a list element starting with '[' must be quoted");
          ASSIGN_OR_RETURN(std::string element, ReadValue());
          RETURN_IF_ERROR(CheckValue(*node, element, element_pos));
          node->list_numbers.push_back(ParseNumber(element));
          node->list.push_back(std::move(element));
          SkipSpace();
          if (!AtEnd() && Peek() == ',') {
            ++pos_;
            continue;
          }
          if (!AtEnd() && Peek() == ']') {
            ++pos_;
            break;
          }
          return Error(pos_,
                       StrCat("expected ',' or ']' in the list opened at column ", open_pos + 1, ", got ", Got()));
        }
        break;
      }
      case ArgKind::kValue:
      case ArgKind::kRegex: {
        SkipSpace();
        const size_t arg_pos = pos_;
        if (AtEnd() || (!IsQuote(Peek()) && EndsBareWord(Peek()))) {
          return Error(pos_, StrCat("expected an argument after operator '", op_text, "', got ", Got()));
        }
        if (Peek() == '[' && ArgKindOf(op) == ArgKind::kRegex) {
          return Error(pos_, "a regular expression starting with '[' must be quoted");
        }
        if (Peek() == '[') {
          return Error(pos_, StrCat("operator '", op_text, "' takes a single value, not a list"));
        }
        ASSIGN_OR_RETURN(node->argument, ReadValue());
        RETURN_IF_ERROR(CheckValue(*node, node->argument, arg_pos));
        node->number = ParseNumber(node->argument);
        if (numeric_subject && IsOrdering(op) && !node->number) {
          return Error(arg_pos, StrCat("operator '", op_text, "' on ", CanonicalSubject(subject),
                                       " needs a number, got '", node->argument, "'"));
        }
        if (ArgKindOf(op) == ArgKind::kRegex) {
          if (std::string problem = RegexProblem(node->argument); !problem.empty()) {
            return Error(arg_pos, StrCat("invalid regular expression '", node->argument, "': ", problem));
          }
          try {
            node->regex.emplace(node->argument, kRegexFlags);
          } catch (const std::regex_error& e) {
            return Error(arg_pos, StrCat("invalid regular expression '", node->argument, "': ", e.what()));
          }
        }
        break;
      }
    }
    return node;
  }

  // Subject-specific rules for one value (an argument or a list element).
  absl::Status CheckValue(const ExpressionNode& node, std::string& value, size_t at) {
    if (node.subject == Subject::kAgentConnected && ArgKindOf(node.op) != ArgKind::kRegex) {
      if (!EqualsIgnoreCase(value, "true") && !EqualsIgnoreCase(value, "false")) {
        return Error(at, StrCat("agentConnected compares to true or false, got '", value, "'"));
      }
      value = EqualsIgnoreCase(value, "true") ? "true" : "false";
    }
    return absl::OkStatus();
  }

  // A quoted string (without its quotes) or a bare word. The caller has checked that one starts here.
  absl::StatusOr<std::string> ReadValue() {
    const char c = Peek();
    if (IsQuote(c)) {
      const size_t close = text_.find(c, pos_ + 1);
      if (close == std::string_view::npos) {
        return Error(pos_, StrCat("unterminated quoted string (missing closing ", c, ")"));
      }
      std::string value(text_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
      return value;
    }
    const size_t start = pos_;
    while (!AtEnd() && !EndsBareWord(Peek())) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  // Whether a condition may end here: end, ')', or a connective.
  bool AtConditionEnd() const {
    if (AtEnd() || Peek() == ')') return true;
    const std::string_view rest = text_.substr(pos_);
    if (rest.starts_with("&&") || rest.starts_with("||")) return true;
    const std::string_view word = SubjectWordAt(pos_);
    return EqualsIgnoreCase(word, "and") || EqualsIgnoreCase(word, "or");
  }

  bool ConsumeConnective(std::string_view word, std::string_view symbol) {
    SkipSpace();
    if (text_.substr(pos_).starts_with(symbol)) {
      pos_ += symbol.size();
      return true;
    }
    if (EqualsIgnoreCase(SubjectWordAt(pos_), word)) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  std::string_view SubjectWordAt(size_t at) const {
    size_t end = at;
    while (end < text_.size() && IsSubjectChar(text_[end])) ++end;
    return text_.substr(at, end - at);
  }

  // `==`, `>=`, ... (a run of operator symbols), `equals`, `not_in` (a word), `!exists`, `!in`.
  std::string_view OperatorWordAt(size_t at) const {
    size_t end = at;
    if (end < text_.size() && text_[end] == '!' && end + 1 < text_.size() && IsAlpha(text_[end + 1])) {
      ++end;
    }
    if (end < text_.size() && IsAlpha(text_[end])) {
      while (end < text_.size() && (IsAlpha(text_[end]) || text_[end] == '_')) ++end;
    } else {
      while (end < text_.size() && IsOpSymbol(text_[end])) ++end;
    }
    return text_.substr(at, end - at);
  }

  // The token at pos_, quoted, for "got ..." in messages.
  std::string Got() const {
    if (AtEnd()) return "end of expression";
    std::string_view lexeme = SubjectWordAt(pos_);
    if (lexeme.empty()) lexeme = OperatorWordAt(pos_);
    if (lexeme.empty() && (Peek() == '&' || Peek() == '|')) {
      size_t end = pos_;
      while (end < text_.size() && (text_[end] == '&' || text_[end] == '|')) ++end;
      lexeme = text_.substr(pos_, end - pos_);
    }
    if (lexeme.empty()) lexeme = text_.substr(pos_, 1);
    constexpr size_t kMaxShown = 40;
    if (lexeme.size() > kMaxShown) return StrCat("'", lexeme.substr(0, kMaxShown), "...'");
    return StrCat("'", lexeme, "'");
  }

  static bool IsQuote(char c) { return c == '\'' || c == '"'; }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(Peek())) ++pos_;
  }

  static absl::Status Error(size_t at, std::string_view message) {
    return absl::InvalidArgumentError(StrCat("expression: column ", at + 1, ": ", message));
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Evaluation

// Dot-separated components; each compared by its leading number, then by the rest as text.
// Missing components count as 0.
std::strong_ordering CompareVersions(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& v) {
    const size_t dot = v.find('.');
    std::string_view part = v.substr(0, dot);
    v = dot == std::string_view::npos ? std::string_view() : v.substr(dot + 1);
    return part;
  };
  auto split_number = [](std::string_view part, int64_t* number) {
    size_t digits = 0;
    while (digits < part.size() && IsDigit(part[digits])) ++digits;
    *number = 0;
    if (digits > 0 && !ParseInt(part.substr(0, digits), number)) *number = INT64_MAX;
    return part.substr(digits);
  };
  while (!a.empty() || !b.empty()) {
    const std::string_view pa = next(a);
    const std::string_view pb = next(b);
    int64_t na = 0;
    int64_t nb = 0;
    const std::string_view ra = split_number(pa, &na);
    const std::string_view rb = split_number(pb, &nb);
    if (auto c = na <=> nb; c != 0) return c;
    if (auto c = ra <=> rb; c != 0) return c;
  }
  return std::strong_ordering::equal;
}

bool ApplyOrdering(Op op, std::partial_ordering c) {
  switch (op) {
    case Op::kGreater:
      return c > 0;
    case Op::kGreaterEqual:
      return c >= 0;
    case Op::kLess:
      return c < 0;
    case Op::kLessEqual:
      return c <= 0;
    default:
      return false;
  }
}

enum class Ordering : uint8_t { kGeneric, kVersion };

// A string-valued subject (attributes, agentVersion, ec2InstanceId, agentConnected).
bool MatchString(const ExpressionNode& n, std::string_view value, Ordering ordering) {
  switch (n.op) {
    case Op::kEquals:
      return value == n.argument;
    case Op::kNotEquals:
      return value != n.argument;
    case Op::kExists:
      return true;
    case Op::kNotExists:
      return false;
    case Op::kIn:
    case Op::kNotIn: {
      bool in = false;
      for (const auto& e : n.list) in = in || value == e;
      return n.op == Op::kIn ? in : !in;
    }
    case Op::kMatches:
    case Op::kNotMatches: {
      const bool m = std::regex_match(value.begin(), value.end(), *n.regex);
      return n.op == Op::kMatches ? m : !m;
    }
    default:
      break;
  }
  if (ordering == Ordering::kVersion) return ApplyOrdering(n.op, CompareVersions(value, n.argument));
  const std::optional<double> number = ParseNumber(value);
  if (number && n.number) return ApplyOrdering(n.op, *number <=> *n.number);
  return ApplyOrdering(n.op, value <=> std::string_view(n.argument));
}

// registeredAt / runningTasksCount: `value` is the number, `text` its decimal form (for
// non-numeric arguments and regexes).
bool MatchNumber(const ExpressionNode& n, double value, std::string_view text) {
  auto equal = [&](const std::string& arg, const std::optional<double>& number) {
    return number ? value == *number : text == arg;
  };
  switch (n.op) {
    case Op::kEquals:
      return equal(n.argument, n.number);
    case Op::kNotEquals:
      return !equal(n.argument, n.number);
    case Op::kIn:
    case Op::kNotIn: {
      bool in = false;
      for (size_t i = 0; i < n.list.size(); ++i) in = in || equal(n.list[i], n.list_numbers[i]);
      return n.op == Op::kIn ? in : !in;
    }
    default:
      break;
  }
  if (IsOrdering(n.op)) return ApplyOrdering(n.op, value <=> *n.number);
  return MatchString(n, text, Ordering::kGeneric);
}

bool MatchTerm(const ExpressionNode& n, const ExpressionSubject& s) {
  switch (n.subject) {
    case Subject::kAttribute: {
      const std::optional<std::string_view> value = s.Attribute(n.attribute);
      if (!value) return IsNegative(n.op);
      return MatchString(n, *value, Ordering::kGeneric);
    }
    case Subject::kAgentConnected:
      return MatchString(n, s.AgentConnected() ? "true" : "false", Ordering::kGeneric);
    case Subject::kAgentVersion:
      return MatchString(n, s.AgentVersion(), Ordering::kVersion);
    case Subject::kEc2InstanceId:
      return MatchString(n, s.Ec2InstanceId(), Ordering::kGeneric);
    case Subject::kRegisteredAt: {
      const double at = s.RegisteredAt();
      return MatchNumber(n, at, StrCat(at));
    }
    case Subject::kRunningTasksCount: {
      const int64_t count = s.RunningTasksCount();
      return MatchNumber(n, static_cast<double>(count), StrCat(count));
    }
    case Subject::kTaskGroup:
      switch (n.op) {
        case Op::kEquals:
          return s.HasTaskGroup(n.argument);
        case Op::kNotEquals:
          return !s.HasTaskGroup(n.argument);
        case Op::kIn:
        case Op::kNotIn: {
          bool in = false;
          for (const auto& g : n.list) in = in || s.HasTaskGroup(g);
          return n.op == Op::kIn ? in : !in;
        }
        case Op::kExists:
          return true;
        default:
          return false;
      }
  }
  return false;
}

bool MatchNode(const ExpressionNode& n, const ExpressionSubject& s) {
  switch (n.kind) {
    case NodeKind::kAnd:
      for (const auto& c : n.children) {
        if (!MatchNode(*c, s)) return false;
      }
      return true;
    case NodeKind::kOr:
      for (const auto& c : n.children) {
        if (MatchNode(*c, s)) return true;
      }
      return false;
    case NodeKind::kNot:
      return !MatchNode(*n.children.front(), s);
    case NodeKind::kTerm:
      return MatchTerm(n, s);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Canonical form

std::string QuoteIfNeeded(std::string_view value) {
  bool needs = value.empty() || value.front() == '[' || value.front() == '\'' || value.front() == '"';
  for (char c : value) needs = needs || EndsBareWord(c);
  if (!needs) return std::string(value);
  const char quote = value.find('\'') == std::string_view::npos ? '\'' : '"';
  return StrCat(quote, value, quote);
}

void AppendNode(const ExpressionNode& n, std::string* out) {
  switch (n.kind) {
    case NodeKind::kAnd:
    case NodeKind::kOr: {
      bool first = true;
      for (const auto& c : n.children) {
        if (!first) out->append(n.kind == NodeKind::kAnd ? " and " : " or ");
        first = false;
        const bool parens = n.kind == NodeKind::kAnd && c->kind == NodeKind::kOr;
        if (parens) out->push_back('(');
        AppendNode(*c, out);
        if (parens) out->push_back(')');
      }
      return;
    }
    case NodeKind::kNot: {
      const ExpressionNode& c = *n.children.front();
      const bool parens = c.kind == NodeKind::kAnd || c.kind == NodeKind::kOr;
      out->append(parens ? "not (" : "not ");
      AppendNode(c, out);
      if (parens) out->push_back(')');
      return;
    }
    case NodeKind::kTerm:
      if (n.subject == Subject::kAttribute) {
        StrAppend(out, kAttributePrefix, n.attribute);
      } else {
        StrAppend(out, CanonicalSubject(n.subject));
      }
      StrAppend(out, " ", CanonicalOp(n.op));
      switch (ArgKindOf(n.op)) {
        case ArgKind::kNone:
          break;
        case ArgKind::kList: {
          out->append(" [");
          for (size_t i = 0; i < n.list.size(); ++i) {
            if (i > 0) out->append(", ");
            out->append(QuoteIfNeeded(n.list[i]));
          }
          out->push_back(']');
          break;
        }
        case ArgKind::kValue:
        case ArgKind::kRegex:
          StrAppend(out, " ", QuoteIfNeeded(n.argument));
          break;
      }
      return;
  }
}

}  // namespace

bool Expression::Matches(const ExpressionSubject& subject) const { return MatchNode(*root_, subject); }

std::string Expression::ToString() const {
  std::string out;
  AppendNode(*root_, &out);
  return out;
}

absl::StatusOr<Expression> ParseExpression(std::string_view text) {
  if (text.size() > kMaxExpressionLength) {
    return absl::InvalidArgumentError(
        StrCat("expression: longer than ", kMaxExpressionLength, " characters (", text.size(), ")"));
  }
  bool blank = true;
  for (char c : text) blank = blank && IsSpace(c);
  if (blank) return absl::InvalidArgumentError("expression: empty expression");
  ASSIGN_OR_RETURN(NodePtr root, Parser(text).Parse());
  return Expression(std::shared_ptr<const internal::ExpressionNode>(std::move(root)));
}

}  // namespace berth::placement
