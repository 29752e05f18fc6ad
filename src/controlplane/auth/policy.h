// IAM-shaped policy documents and their evaluation (docs/security.md).
//
// A document is the JSON IAM uses:
//   {"Version": "2012-10-17",
//    "Statement": [{"Sid": "...", "Effect": "Allow" | "Deny",
//                   "Action" | "NotAction": "ecs:RunTask" | ["ecs:Describe*", ...],
//                   "Resource" | "NotResource": "arn:aws:ecs:*:*:cluster/prod" | [...],
//                   "Condition": {"StringEquals": {"ecs:cluster": "arn:...:cluster/prod"}}}]}
// Actions match case-insensitively, resources and condition values case-sensitively; `*` matches
// any run of characters and `?` one. Evaluation is IAM's: an explicit Deny in any statement wins,
// else an Allow in any statement allows, else the request is denied (no statement means deny).
//
// Parse refuses anything it would not enforce (an unknown key, operator or Effect) with an error
// naming the statement and the field, so a policy never silently allows more than it says.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::controlplane::auth {

// What one authorization decision is about.
struct AccessRequest {
  std::string action;    // "ecs:RunTask"
  std::string resource;  // an ARN, or "*" for actions on no particular resource (ListClusters)
  // Condition keys and their values, keys lower-case: "ecs:cluster" -> the cluster's ARN.
  std::vector<std::pair<std::string, std::string>> context;
};

enum class Decision {
  kAllow,
  kExplicitDeny,  // a Deny statement matched
  kImplicitDeny,  // no Allow statement matched
};

std::string_view DecisionName(Decision d);

// `pattern` with IAM wildcards (* and ?) matched against all of `text`.
bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case);

class Policy {
 public:
  // `name` prefixes every error ("policy 'ops': Statement[2].Action: ...").
  static absl::StatusOr<Policy> Parse(std::string_view json, std::string_view name);

  const std::string& name() const { return name_; }

  // kAllow or kExplicitDeny if a statement of this policy matches, else kImplicitDeny.
  Decision Evaluate(const AccessRequest& request) const;

  struct Condition {
    std::string op;  // as written, for messages
    enum class Kind { kEquals, kLike } kind = Kind::kEquals;
    bool negated = false;
    bool if_exists = false;
    std::string key;  // lower-case
    std::vector<std::string> values;
  };
  struct Statement {
    bool allow = true;
    bool not_action = false;
    std::vector<std::string> actions;  // lower-case patterns
    bool not_resource = false;
    std::vector<std::string> resources;
    std::vector<Condition> conditions;
  };

 private:
  std::string name_;
  std::vector<Statement> statements_;
};

// IAM's combination over every policy that applies to a principal.
Decision Evaluate(const std::vector<const Policy*>& policies, const AccessRequest& request);

}  // namespace berth::controlplane::auth
