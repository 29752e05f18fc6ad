#include "src/controlplane/auth/policy.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "berth/common/strings.h"

namespace berth::controlplane::auth {
namespace {

using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// A string or a non-empty array of strings (IAM accepts both for Action, Resource and values).
absl::Status StringList(const json& value, const std::string& where, std::vector<std::string>* out) {
  if (value.is_string()) {
    out->push_back(value.get<std::string>());
    return absl::OkStatus();
  }
  if (!value.is_array() || value.empty()) {
    return absl::InvalidArgumentError(StrCat(where, ": must be a string or a non-empty array of strings"));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) {
      return absl::InvalidArgumentError(StrCat(where, "[", i, "]: must be a string"));
    }
    out->push_back(value[i].get<std::string>());
  }
  return absl::OkStatus();
}

// The condition operators Berth enforces: String* and Arn* (ArnLike matches the whole ARN as
// StringLike does), each with ...IfExists.
absl::Status ParseOperator(std::string_view op, Policy::Condition* c) {
  std::string_view base = op;
  if (base.size() > 8 && base.substr(base.size() - 8) == "IfExists") {
    c->if_exists = true;
    base.remove_suffix(8);
  }
  using Kind = Policy::Condition::Kind;
  static constexpr std::pair<std::string_view, std::pair<Kind, bool>> kOps[] = {
      {"StringEquals", {Kind::kEquals, false}}, {"StringNotEquals", {Kind::kEquals, true}},
      {"StringLike", {Kind::kLike, false}},     {"StringNotLike", {Kind::kLike, true}},
      {"ArnEquals", {Kind::kEquals, false}},    {"ArnNotEquals", {Kind::kEquals, true}},
      {"ArnLike", {Kind::kLike, false}},        {"ArnNotLike", {Kind::kLike, true}},
  };
  for (const auto& [name, kind] : kOps) {
    if (base == name) {
      c->kind = kind.first;
      c->negated = kind.second;
      c->op = std::string(op);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      StrCat("unsupported condition operator '", op,
             "': use StringEquals, StringNotEquals, StringLike, StringNotLike, ArnEquals, ArnNotEquals, ArnLike "
             "or ArnNotLike (each also ...IfExists)"));
}

// Condition keys a request carries (docs/security.md); a policy naming another is refused rather
// than silently never matching.
bool KnownConditionKey(std::string_view key) {
  return key == "ecs:cluster" || key == "berth:principal" || key == "iam:passedtoservice";
}

absl::Status ParseStatement(const json& s, const std::string& where, Policy::Statement* out) {
  if (!s.is_object()) return absl::InvalidArgumentError(StrCat(where, ": must be an object"));
  bool has_effect = false;
  bool has_action = false;
  bool has_resource = false;
  for (const auto& [key, value] : s.items()) {
    const std::string field = StrCat(where, ".", key);
    if (key == "Sid") {
      if (!value.is_string()) return absl::InvalidArgumentError(StrCat(field, ": must be a string"));
    } else if (key == "Effect") {
      if (value != "Allow" && value != "Deny") {
        return absl::InvalidArgumentError(StrCat(field, ": must be \"Allow\" or \"Deny\""));
      }
      out->allow = value == "Allow";
      has_effect = true;
    } else if (key == "Action" || key == "NotAction") {
      if (has_action) return absl::InvalidArgumentError(StrCat(where, ": give Action or NotAction, not both"));
      has_action = true;
      out->not_action = key == "NotAction";
      std::vector<std::string> actions;
      if (auto st = StringList(value, field, &actions); !st.ok()) return st;
      for (size_t i = 0; i < actions.size(); ++i) {
        const std::string& a = actions[i];
        if (a != "*" && a.find(':') == std::string::npos) {
          return absl::InvalidArgumentError(
              StrCat(field, "[", i, "]: '", a, "' is not SERVICE:ACTION (for example ecs:RunTask or ecs:Describe*)"));
        }
        out->actions.push_back(Lower(a));
      }
    } else if (key == "Resource" || key == "NotResource") {
      if (has_resource) return absl::InvalidArgumentError(StrCat(where, ": give Resource or NotResource, not both"));
      has_resource = true;
      out->not_resource = key == "NotResource";
      if (auto st = StringList(value, field, &out->resources); !st.ok()) return st;
    } else if (key == "Condition") {
      if (!value.is_object()) return absl::InvalidArgumentError(StrCat(field, ": must be an object"));
      for (const auto& [op, keys] : value.items()) {
        const std::string op_field = StrCat(field, ".", op);
        Policy::Condition proto;
        if (auto st = ParseOperator(op, &proto); !st.ok()) {
          return absl::InvalidArgumentError(StrCat(op_field, ": ", st.message()));
        }
        if (!keys.is_object() || keys.empty()) {
          return absl::InvalidArgumentError(StrCat(op_field, ": must map condition keys to values"));
        }
        for (const auto& [k, values] : keys.items()) {
          Policy::Condition c = proto;
          c.key = Lower(k);
          if (!KnownConditionKey(c.key)) {
            return absl::InvalidArgumentError(StrCat(op_field, ": unknown condition key '", k,
                                                     "': Berth sets ecs:cluster, berth:principal and "
                                                     "iam:PassedToService"));
          }
          if (auto st = StringList(values, StrCat(op_field, ".", k), &c.values); !st.ok()) return st;
          out->conditions.push_back(std::move(c));
        }
      }
    } else if (key == "Principal" || key == "NotPrincipal") {
      return absl::InvalidArgumentError(
          StrCat(field, ": not allowed: Berth policies are attached to principals and roles, so they name none"));
    } else {
      return absl::InvalidArgumentError(StrCat(field,
                                               ": unknown field (a statement has Sid, Effect, Action or "
                                               "NotAction, Resource or NotResource, Condition)"));
    }
  }
  if (!has_effect) return absl::InvalidArgumentError(StrCat(where, ".Effect: required"));
  if (!has_action) return absl::InvalidArgumentError(StrCat(where, ".Action: required (or NotAction)"));
  if (!has_resource) return absl::InvalidArgumentError(StrCat(where, ".Resource: required (or NotResource)"));
  return absl::OkStatus();
}

bool AnyMatches(const std::vector<std::string>& patterns, std::string_view text, bool ignore_case) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return WildcardMatch(p, text, ignore_case); });
}

bool ConditionHolds(const Policy::Condition& c, const AccessRequest& request) {
  const std::string* value = nullptr;
  for (const auto& [k, v] : request.context) {
    if (k == c.key) value = &v;
  }
  if (value == nullptr) {
    // IAM: a key missing from the request matches no value; ...IfExists and negated operators hold.
    return c.if_exists || c.negated;
  }
  const bool any = std::any_of(c.values.begin(), c.values.end(), [&](const std::string& want) {
    return c.kind == Policy::Condition::Kind::kEquals ? want == *value : WildcardMatch(want, *value, false);
  });
  return c.negated ? !any : any;
}

bool StatementMatches(const Policy::Statement& s, const AccessRequest& request, const std::string& action) {
  if (AnyMatches(s.actions, action, /*ignore_case=*/true) == s.not_action) return false;
  if (AnyMatches(s.resources, request.resource, /*ignore_case=*/false) == s.not_resource) return false;
  return std::all_of(s.conditions.begin(), s.conditions.end(),
                     [&](const Policy::Condition& c) { return ConditionHolds(c, request); });
}

}  // namespace

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "Allow";
    case Decision::kExplicitDeny:
      return "ExplicitDeny";
    case Decision::kImplicitDeny:
      return "ImplicitDeny";
  }
  return "ImplicitDeny";
}

bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case) {
  auto eq = [ignore_case](char a, char b) {
    return ignore_case ? std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b))
                       : a == b;
  };
  // Iterative glob with one backtrack point: linear in practice, never exponential.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || (pattern[p] != '*' && eq(pattern[p], text[t])))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::StatusOr<Policy> Policy::Parse(std::string_view text, std::string_view name) {
  const std::string prefix = StrCat("policy '", name, "': ");
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError(StrCat(prefix, "not valid JSON"));
  if (!doc.is_object()) return absl::InvalidArgumentError(StrCat(prefix, "must be a JSON object"));
  Policy policy;
  policy.name_ = std::string(name);
  bool has_statement = false;
  for (const auto& [key, value] : doc.items()) {
    if (key == "Version") {
      if (value != "2012-10-17" && value != "2008-10-17") {
        return absl::InvalidArgumentError(StrCat(prefix, "Version: must be \"2012-10-17\" (or \"2008-10-17\")"));
      }
    } else if (key == "Id") {
      if (!value.is_string()) return absl::InvalidArgumentError(StrCat(prefix, "Id: must be a string"));
    } else if (key == "Statement") {
      has_statement = true;
      const json list = value.is_object() ? json::array({value}) : value;
      if (!list.is_array() || list.empty()) {
        return absl::InvalidArgumentError(StrCat(prefix, "Statement: must be a statement or a non-empty array"));
      }
      for (size_t i = 0; i < list.size(); ++i) {
        Statement s;
        if (auto st = ParseStatement(list[i], StrCat("Statement[", i, "]"), &s); !st.ok()) {
          return absl::InvalidArgumentError(StrCat(prefix, st.message()));
        }
        policy.statements_.push_back(std::move(s));
      }
    } else {
      return absl::InvalidArgumentError(StrCat(prefix, key, ": unknown field (a policy has Version, Id, Statement)"));
    }
  }
  if (!has_statement) return absl::InvalidArgumentError(StrCat(prefix, "Statement: required"));
  return policy;
}

Decision Policy::Evaluate(const AccessRequest& request) const {
  const std::string action = Lower(request.action);
  bool allowed = false;
  for (const Statement& s : statements_) {
    if (!StatementMatches(s, request, action)) continue;
    if (!s.allow) return Decision::kExplicitDeny;
    allowed = true;
  }
  return allowed ? Decision::kAllow : Decision::kImplicitDeny;
}

Decision Evaluate(const std::vector<const Policy*>& policies, const AccessRequest& request) {
  bool allowed = false;
  for (const Policy* p : policies) {
    switch (p->Evaluate(request)) {
      case Decision::kExplicitDeny:
        return Decision::kExplicitDeny;
      case Decision::kAllow:
        allowed = true;
        break;
      case Decision::kImplicitDeny:
        break;
    }
  }
  return allowed ? Decision::kAllow : Decision::kImplicitDeny;
}

}  // namespace berth::controlplane::auth
