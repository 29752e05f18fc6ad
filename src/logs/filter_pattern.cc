// CloudWatch Logs filter patterns: a term pattern is three lists of terms; a JSON pattern is a
// small expression tree over selectors ($.a.b[0]) evaluated against the parsed message.
#include "berth/logs/filter_pattern.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace berth::logs {
namespace {

using Json = nlohmann::json;

absl::Status Invalid(size_t at, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("filterPattern: at character ", at + 1, ": ", std::string(what)));
}

bool IsTermChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == ':' || c == '/' || c == '@' ||
         c == '#' || c == '=' || c == ',' || c == ';' || c == '-' || c == '*' || static_cast<unsigned char>(c) >= 0x80;
}

// `text` matches `glob`, where * stands for any run of characters.
bool GlobMatch(std::string_view glob, std::string_view text) {
  size_t g = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = t;
    } else if (g < glob.size() && glob[g] == text[t]) {
      ++g;
      ++t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

// A cursor over the pattern text.
struct Scanner {
  std::string_view text;
  size_t pos = 0;

  void SkipSpace() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])) != 0) ++pos;
  }
  bool AtEnd() {
    SkipSpace();
    return pos >= text.size();
  }
  bool Take(std::string_view token) {
    SkipSpace();
    if (text.substr(pos, token.size()) != token) return false;
    pos += token.size();
    return true;
  }
  // A keyword (IS, NULL, ...): a whole word, any case.
  bool TakeWord(std::string_view word) {
    SkipSpace();
    if (text.size() - pos < word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(text[pos + i])) != word[i]) return false;
    }
    const size_t end = pos + word.size();
    if (end < text.size() && IsTermChar(text[end])) return false;
    pos = end;
    return true;
  }
  // A quoted string at pos (which holds '"'), with \" and \\ escapes.
  absl::StatusOr<std::string> Quoted() {
    const size_t start = pos++;
    std::string out;
    while (pos < text.size() && text[pos] != '"') {
      if (text[pos] == '\\' && pos + 1 < text.size()) ++pos;
      out.push_back(text[pos++]);
    }
    if (pos >= text.size()) return Invalid(start, "a quoted term is not closed");
    ++pos;
    return out;
  }
  std::string Word() {
    const size_t start = pos;
    while (pos < text.size() && IsTermChar(text[pos])) ++pos;
    return std::string(text.substr(start, pos - start));
  }
};

}  // namespace

class FilterPattern::Node {
 public:
  virtual ~Node() = default;
  virtual bool Match(std::string_view message) const = 0;
};

namespace {

class TermsNode final : public FilterPattern::Node {
 public:
  std::vector<std::string> all, any, none;

  bool Match(std::string_view message) const override {
    for (const auto& t : all) {
      if (message.find(t) == std::string_view::npos) return false;
    }
    for (const auto& t : none) {
      if (message.find(t) != std::string_view::npos) return false;
    }
    if (any.empty()) return true;
    for (const auto& t : any) {
      if (message.find(t) != std::string_view::npos) return true;
    }
    return false;
  }
};

// One step of a selector: a member name or an array index.
using Step = std::variant<std::string, size_t>;

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIsTrue, kIsFalse, kIsNull, kNotExists, kExists };

struct Expr {
  enum class Kind { kAnd, kOr, kTest } kind = Kind::kTest;
  std::unique_ptr<Expr> left, right;  // kAnd, kOr
  std::vector<Step> path;             // kTest
  Op op = Op::kEq;
  std::optional<double> number;  // the value compared against, when it is a number
  std::string text;              // ... when it is a string (may hold * wildcards)
};

const Json* Select(const Json& doc, const std::vector<Step>& path) {
  const Json* at = &doc;
  for (const Step& step : path) {
    if (const auto* name = std::get_if<std::string>(&step)) {
      if (!at->is_object()) return nullptr;
      auto it = at->find(*name);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else {
      const size_t index = std::get<size_t>(step);
      if (!at->is_array() || index >= at->size()) return nullptr;
      at = &(*at)[index];
    }
  }
  return at;
}

bool Compare(double a, Op op, double b) {
  switch (op) {
    case Op::kEq:
      return a == b;
    case Op::kNe:
      return a != b;
    case Op::kLt:
      return a < b;
    case Op::kLe:
      return a <= b;
    case Op::kGt:
      return a > b;
    case Op::kGe:
      return a >= b;
    default:
      return false;
  }
}

bool Test(const Expr& e, const Json& doc) {
  switch (e.kind) {
    case Expr::Kind::kAnd:
      return Test(*e.left, doc) && Test(*e.right, doc);
    case Expr::Kind::kOr:
      return Test(*e.left, doc) || Test(*e.right, doc);
    case Expr::Kind::kTest:
      break;
  }
  const Json* v = Select(doc, e.path);
  switch (e.op) {
    case Op::kNotExists:
      return v == nullptr;
    case Op::kExists:
      return v != nullptr;
    case Op::kIsNull:
      return v != nullptr && v->is_null();
    case Op::kIsTrue:
      return v != nullptr && v->is_boolean() && v->get<bool>();
    case Op::kIsFalse:
      return v != nullptr && v->is_boolean() && !v->get<bool>();
    default:
      break;
  }
  if (v == nullptr) return false;
  if (e.number.has_value()) return v->is_number() && Compare(v->get<double>(), e.op, *e.number);
  if (!v->is_string()) return false;
  const bool equal = GlobMatch(e.text, v->get_ref<const std::string&>());
  return e.op == Op::kEq ? equal : !equal;
}

class JsonNode final : public FilterPattern::Node {
 public:
  explicit JsonNode(std::unique_ptr<Expr> expr) : expr_(std::move(expr)) {}
  bool Match(std::string_view message) const override {
    // Cheap rejection before a parse: a JSON object starts with '{'.
    size_t i = 0;
    while (i < message.size() && std::isspace(static_cast<unsigned char>(message[i])) != 0) ++i;
    if (i >= message.size() || message[i] != '{') return false;
    Json doc = Json::parse(message, nullptr, /*allow_exceptions=*/false);
    return !doc.is_discarded() && Test(*expr_, doc);
  }

 private:
  std::unique_ptr<Expr> expr_;
};

// Parses the inside of { ... }.
class JsonParser {
 public:
  explicit JsonParser(Scanner* s) : s_(*s) {}

  absl::StatusOr<std::unique_ptr<Expr>> Or() {
    auto left = And();
    if (!left.ok()) return left;
    std::unique_ptr<Expr> out = *std::move(left);
    while (s_.Take("||")) {
      auto right = And();
      if (!right.ok()) return right;
      out = Join(Expr::Kind::kOr, std::move(out), *std::move(right));
    }
    return out;
  }

 private:
  static std::unique_ptr<Expr> Join(Expr::Kind kind, std::unique_ptr<Expr> a, std::unique_ptr<Expr> b) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->left = std::move(a);
    e->right = std::move(b);
    return e;
  }

  absl::StatusOr<std::unique_ptr<Expr>> And() {
    auto left = Unary();
    if (!left.ok()) return left;
    std::unique_ptr<Expr> out = *std::move(left);
    while (s_.Take("&&")) {
      auto right = Unary();
      if (!right.ok()) return right;
      out = Join(Expr::Kind::kAnd, std::move(out), *std::move(right));
    }
    return out;
  }

  absl::StatusOr<std::unique_ptr<Expr>> Unary() {
    if (s_.Take("(")) {
      auto inner = Or();
      if (!inner.ok()) return inner;
      if (!s_.Take(")")) return Invalid(s_.pos, "expected ')'");
      return inner;
    }
    return TestExpr();
  }

  absl::StatusOr<std::vector<Step>> Path() {
    if (!s_.Take("$")) return Invalid(s_.pos, "expected a selector starting with $ (like $.level)");
    std::vector<Step> path;
    for (;;) {
      if (s_.pos < s_.text.size() && s_.text[s_.pos] == '.') {
        ++s_.pos;
        const size_t start = s_.pos;
        while (s_.pos < s_.text.size() &&
               (std::isalnum(static_cast<unsigned char>(s_.text[s_.pos])) != 0 || s_.text[s_.pos] == '_' ||
                s_.text[s_.pos] == '-' || s_.text[s_.pos] == '@')) {
          ++s_.pos;
        }
        if (s_.pos == start) return Invalid(start, "expected a member name after '.'");
        path.emplace_back(std::string(s_.text.substr(start, s_.pos - start)));
      } else if (s_.pos < s_.text.size() && s_.text[s_.pos] == '[') {
        const size_t start = ++s_.pos;
        size_t index = 0;
        auto [end, ec] = std::from_chars(s_.text.data() + start, s_.text.data() + s_.text.size(), index);
        const char* const text_end = s_.text.data() + s_.text.size();
        if (ec != std::errc() || end == s_.text.data() + start || end == text_end || *end != ']') {
          return Invalid(start, "expected an array index like [0]");
        }
        s_.pos = static_cast<size_t>(end - s_.text.data()) + 1;
        path.emplace_back(index);
      } else {
        break;
      }
    }
    if (path.empty()) return Invalid(s_.pos, "a selector names a member: $.name");
    return path;
  }

  absl::StatusOr<std::unique_ptr<Expr>> TestExpr() {
    auto e = std::make_unique<Expr>();
    auto path = Path();
    if (!path.ok()) return path.status();
    e->path = *std::move(path);
    if (s_.TakeWord("IS")) {
      if (s_.TakeWord("TRUE")) {
        e->op = Op::kIsTrue;
      } else if (s_.TakeWord("FALSE")) {
        e->op = Op::kIsFalse;
      } else if (s_.TakeWord("NULL")) {
        e->op = Op::kIsNull;
      } else {
        return Invalid(s_.pos, "expected TRUE, FALSE or NULL after IS");
      }
      return e;
    }
    if (s_.TakeWord("NOT")) {
      if (!s_.TakeWord("EXISTS")) return Invalid(s_.pos, "expected EXISTS after NOT");
      e->op = Op::kNotExists;
      return e;
    }
    if (s_.TakeWord("EXISTS")) {
      e->op = Op::kExists;
      return e;
    }
    static constexpr std::pair<std::string_view, Op> kOps[] = {{"!=", Op::kNe}, {"<=", Op::kLe}, {">=", Op::kGe},
                                                               {"=", Op::kEq},  {"<", Op::kLt},  {">", Op::kGt}};
    bool found = false;
    for (const auto& [token, op] : kOps) {
      if (s_.Take(token)) {
        e->op = op;
        found = true;
        break;
      }
    }
    if (!found) return Invalid(s_.pos, "expected a comparison (= != < <= > >=), IS or NOT EXISTS");
    s_.SkipSpace();
    const size_t value_at = s_.pos;
    if (s_.pos < s_.text.size() && s_.text[s_.pos] == '"') {
      auto text = s_.Quoted();
      if (!text.ok()) return text.status();
      e->text = *std::move(text);
    } else {
      std::string word = s_.Word();
      if (word.empty()) return Invalid(value_at, "expected a value: a number or a string");
      char* end = nullptr;
      const double number = std::strtod(word.c_str(), &end);
      if (end == word.c_str() + word.size()) {
        e->number = number;
      } else {
        e->text = std::move(word);
      }
    }
    if (!e->number.has_value() && e->op != Op::kEq && e->op != Op::kNe) {
      return Invalid(value_at, "< <= > >= compare numbers only");
    }
    return e;
  }

  Scanner& s_;
};

absl::StatusOr<std::shared_ptr<const FilterPattern::Node>> ParseTerms(Scanner& s, std::vector<std::string>* required) {
  auto node = std::make_shared<TermsNode>();
  while (!s.AtEnd()) {
    const size_t at = s.pos;
    std::vector<std::string>* into = &node->all;
    if (s.text[s.pos] == '?') {
      into = &node->any;
      ++s.pos;
    } else if (s.text[s.pos] == '-') {
      into = &node->none;
      ++s.pos;
    }
    std::string term;
    if (s.pos < s.text.size() && s.text[s.pos] == '"') {
      auto quoted = s.Quoted();
      if (!quoted.ok()) return quoted.status();
      term = *std::move(quoted);
    } else {
      term = s.Word();
      if (term.empty()) {
        return Invalid(at, "a term is letters, digits and _ . : / @ # = , ; or a quoted phrase");
      }
    }
    if (s.pos < s.text.size() && std::isspace(static_cast<unsigned char>(s.text[s.pos])) == 0) {
      return Invalid(s.pos, "terms are separated by spaces; quote a term with other characters");
    }
    if (!term.empty()) into->push_back(std::move(term));
  }
  *required = node->all;
  return node;
}

}  // namespace

absl::StatusOr<FilterPattern> FilterPattern::Parse(std::string_view pattern) {
  Scanner s{pattern};
  if (s.AtEnd()) return FilterPattern(nullptr, {});
  if (s.text[s.pos] == '[') {
    return Invalid(s.pos, "space-delimited patterns ([a, b, ...]) are not supported by Berth");
  }
  if (s.text[s.pos] == '%') return Invalid(s.pos, "regular expressions (%...%) are not supported by Berth");
  if (s.text[s.pos] == '{') {
    ++s.pos;
    JsonParser parser(&s);
    auto expr = parser.Or();
    if (!expr.ok()) return expr.status();
    if (!s.Take("}")) return Invalid(s.pos, "expected '}' closing the JSON pattern");
    if (!s.AtEnd()) return Invalid(s.pos, "nothing may follow the JSON pattern's '}'");
    return FilterPattern(std::make_shared<JsonNode>(*std::move(expr)), {});
  }
  std::vector<std::string> required;
  auto terms = ParseTerms(s, &required);
  if (!terms.ok()) return terms.status();
  return FilterPattern(*std::move(terms), std::move(required));
}

bool FilterPattern::Matches(std::string_view message) const { return root_ == nullptr || root_->Match(message); }

const std::vector<std::string>& FilterPattern::required_terms() const { return required_; }

}  // namespace berth::logs
