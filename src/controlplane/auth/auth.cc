#include "src/controlplane/auth/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <chrono>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"

namespace berth::controlplane::auth {
namespace {

using nlohmann::json;

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": ", what));
}

absl::Status CheckKeys(const json& object, const std::string& where, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || key == k;
    if (!ok) {
      std::string list;
      for (std::string_view k : known) list += StrCat(list.empty() ? "" : ", ", k);
      return Invalid(StrCat(where, ".", key), StrCat("unknown field (expected one of: ", list, ")"));
    }
  }
  return absl::OkStatus();
}

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Bearer tokens are opaque to Berth (docs/security.md makes 256-bit random ones with openssl).
std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() > kBearer.size() && EqualsIgnoreCase(header.substr(0, kBearer.size()), kBearer)) {
    return Trim(header.substr(kBearer.size()));
  }
  return {};
}

std::string FormatTime(int64_t epoch) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(epoch), absl::UTCTimeZone());
}

// IAM's role name rule.
bool IsRoleName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("+=,.@_-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string JsonLine(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string TokenSha256Hex(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof(digest));
  for (unsigned char b : digest) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

absl::StatusOr<std::shared_ptr<AuthConfig>> AuthConfig::Parse(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("must be a JSON object with policies and principals");
  if (auto st = CheckKeys(doc, "", {"policies", "principals", "roles"}); !st.ok()) return st;
  auto config = std::make_shared<AuthConfig>();
  if (doc.contains("policies")) {
    const json& policies = doc["policies"];
    if (!policies.is_object()) return Invalid("policies", "must map policy names to IAM policy documents");
    for (const auto& [name, document] : policies.items()) {
      auto policy = Policy::Parse(document.dump(), name);
      if (!policy.ok()) return Invalid(StrCat("policies.", name), std::string(policy.status().message()));
      config->policies.emplace(name, *std::move(policy));
    }
  }
  if (doc.contains("roles")) {
    const json& roles = doc["roles"];
    if (!roles.is_object()) return Invalid("roles", "must map role names to {\"policies\": [...]}");
    for (const auto& [name, entry] : roles.items()) {
      const std::string where = StrCat("roles.", name);
      if (!IsRoleName(name)) return Invalid(where, "a role's name is 1-64 of letters, digits and +=,.@_-");
      if (!entry.is_object()) return Invalid(where, "must be an object with policies");
      if (auto st = CheckKeys(entry, where, {"policies"}); !st.ok()) return st;
      std::vector<const Policy*>& attached = config->roles[name];
      const json* list = entry.contains("policies") ? &entry["policies"] : nullptr;
      if (list == nullptr || !list->is_array() || list->empty()) {
        return Invalid(StrCat(where, ".policies"), "required: an array of policy names");
      }
      for (size_t i = 0; i < list->size(); ++i) {
        const std::string field = StrCat(where, ".policies[", i, "]");
        if (!(*list)[i].is_string()) return Invalid(field, "must be a policy name");
        auto it = config->policies.find((*list)[i].get<std::string>());
        if (it == config->policies.end()) {
          return Invalid(field, StrCat("no policy named '", (*list)[i].get<std::string>(), "' under policies"));
        }
        attached.push_back(&it->second);
      }
    }
  }
  if (!doc.contains("principals") || !doc["principals"].is_object() || doc["principals"].empty()) {
    return Invalid("principals", "required: map each principal's name to its policies, tokens and access keys");
  }
  for (const auto& [name, entry] : doc["principals"].items()) {
    const std::string where = StrCat("principals.", name);
    if (name.empty() || name.size() > 128) return Invalid(where, "a principal's name is 1-128 characters");
    if (!entry.is_object()) return Invalid(where, "must be an object");
    if (auto st = CheckKeys(entry, where, {"policies", "tokens", "accessKeys", "certificates"}); !st.ok()) return st;
    std::vector<const Policy*>& attached = config->principals[name];
    if (entry.contains("policies")) {
      const json& list = entry["policies"];
      if (!list.is_array()) return Invalid(StrCat(where, ".policies"), "must be an array of policy names");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string field = StrCat(where, ".policies[", i, "]");
        if (!list[i].is_string()) return Invalid(field, "must be a policy name");
        auto it = config->policies.find(list[i].get<std::string>());
        if (it == config->policies.end()) {
          return Invalid(field, StrCat("no policy named '", list[i].get<std::string>(), "' under policies"));
        }
        attached.push_back(&it->second);
      }
    }
    if (entry.contains("tokens")) {
      const json& list = entry["tokens"];
      if (!list.is_array()) return Invalid(StrCat(where, ".tokens"), "must be an array");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string field = StrCat(where, ".tokens[", i, "]");
        const json& t = list[i];
        if (!t.is_object()) return Invalid(field, "must be an object with sha256 (and expires, revoked, description)");
        if (auto st = CheckKeys(t, field, {"sha256", "expires", "revoked", "description"}); !st.ok()) return st;
        if (!t.contains("sha256") || !t["sha256"].is_string() || !IsHex64(t["sha256"].get<std::string>())) {
          return Invalid(StrCat(field, ".sha256"),
                         "required: the token's SHA-256 as 64 hex digits (`printf %s TOKEN | sha256sum` prints it)");
        }
        Token token;
        token.principal = name;
        if (t.contains("description")) {
          if (!t["description"].is_string()) return Invalid(StrCat(field, ".description"), "must be a string");
          token.description = t["description"].get<std::string>();
        }
        if (t.contains("revoked")) {
          if (!t["revoked"].is_boolean()) return Invalid(StrCat(field, ".revoked"), "must be true or false");
          token.revoked = t["revoked"].get<bool>();
        }
        if (t.contains("expires")) {
          absl::Time when;
          std::string error;
          if (!t["expires"].is_string() ||
              !absl::ParseTime(absl::RFC3339_full, t["expires"].get<std::string>(), &when, &error)) {
            return Invalid(StrCat(field, ".expires"), "must be an RFC 3339 time such as 2027-01-31T00:00:00Z");
          }
          token.expires = absl::ToUnixSeconds(when);
        }
        const std::string digest = absl::AsciiStrToLower(t["sha256"].get<std::string>());
        if (!config->tokens_by_sha256.emplace(digest, std::move(token)).second) {
          return Invalid(StrCat(field, ".sha256"), "the same token is listed twice");
        }
      }
    }
    if (entry.contains("certificates")) {
      const json& list = entry["certificates"];
      if (!list.is_array()) return Invalid(StrCat(where, ".certificates"), "must be an array of certificate names");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string field = StrCat(where, ".certificates[", i, "]");
        if (!list[i].is_string() || list[i].get<std::string>().empty() || list[i].get<std::string>().size() > 256) {
          return Invalid(field,
                         "must be a client certificate's name (a DNS or URI subject alternative name, or the common "
                         "name), 1-256 characters, '*' and '?' as wildcards");
        }
        const std::string pattern = list[i].get<std::string>();
        if (pattern.find_first_not_of("*?") == std::string::npos) {
          return Invalid(field, "a pattern of wildcards alone would admit every certificate the CA signed");
        }
        for (const auto& [other, owner] : config->certificate_names) {
          if (other == pattern) {
            return Invalid(field, StrCat("'", pattern, "' is already the certificate name of principal ", owner));
          }
        }
        config->certificate_names.emplace_back(pattern, name);
      }
    }
    if (entry.contains("accessKeys")) {
      const json& list = entry["accessKeys"];
      if (!list.is_array()) return Invalid(StrCat(where, ".accessKeys"), "must be an array");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string field = StrCat(where, ".accessKeys[", i, "]");
        const json& k = list[i];
        if (!k.is_object()) return Invalid(field, "must be an object with accessKeyId and secretAccessKey");
        if (auto st = CheckKeys(k, field, {"accessKeyId", "secretAccessKey"}); !st.ok()) return st;
        if (!k.contains("accessKeyId") || !k["accessKeyId"].is_string() ||
            k["accessKeyId"].get<std::string>().size() < 16 || k["accessKeyId"].get<std::string>().size() > 128) {
          return Invalid(StrCat(field, ".accessKeyId"), "required: 16-128 characters");
        }
        if (!k.contains("secretAccessKey") || !k["secretAccessKey"].is_string() ||
            k["secretAccessKey"].get<std::string>().size() < 16) {
          return Invalid(StrCat(field, ".secretAccessKey"), "required: at least 16 characters");
        }
        const std::string id = k["accessKeyId"].get<std::string>();
        if (!config->access_keys.emplace(id, AccessKey{name, k["secretAccessKey"].get<std::string>()}).second) {
          return Invalid(StrCat(field, ".accessKeyId"), StrCat("access key id ", id, " is given twice"));
        }
      }
    }
  }
  return config;
}

bool IsMutating(std::string_view action) {
  for (std::string_view read : {"Describe", "List", "Get", "Explain"}) {
    if (action.substr(0, read.size()) == read) return false;
  }
  // The agent's long poll reads too.
  return action != "Poll";
}

Authority::Authority(Options options) : options_(std::move(options)), arns_(options_.arns) {
  if (!options_.now_seconds) {
    options_.now_seconds = [] {
      return static_cast<int64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
              .count());
    };
  }
}

absl::StatusOr<std::unique_ptr<Authority>> Authority::Create(Options options) {
  std::unique_ptr<Authority> authority(new Authority(std::move(options)));
  if (auto st = authority->Reload(); !st.ok()) return st;
  auto credentials = RoleCredentials::Open(authority->options_.credentials_key_path);
  if (!credentials.ok()) return credentials.status();
  authority->role_credentials_.emplace(*std::move(credentials));
  if (!authority->options_.audit_path.empty()) {
    absl::MutexLock lock(&authority->audit_mu_);
    authority->audit_.open(authority->options_.audit_path, std::ios::app);
    if (!authority->audit_) {
      return absl::InvalidArgumentError(
          StrCat("--audit-log: cannot open '", authority->options_.audit_path, "' for appending"));
    }
  }
  return authority;
}

absl::Status Authority::Reload() {
  std::shared_ptr<AuthConfig> config;
  if (options_.config_path.empty()) {
    config = std::make_shared<AuthConfig>();
  } else {
    std::ifstream in(options_.config_path);
    if (!in) return absl::InvalidArgumentError(StrCat("--auth-config: cannot read '", options_.config_path, "'"));
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = AuthConfig::Parse(text.str());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          StrCat("--auth-config ", options_.config_path, ": ", std::string(parsed.status().message())));
    }
    config = *std::move(parsed);
  }
  if (!options_.legacy_access_keys.empty()) {
    // One principal per --access-key, allowed everything, as before policies existed.
    auto all = Policy::Parse(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})",
                             "--access-key");
    config->allow_all = *std::move(all);
    const Policy* allow_all = &*config->allow_all;
    for (const auto& [id, secret] : options_.legacy_access_keys) {
      const std::string principal = StrCat("access-key/", id);
      if (!config->access_keys.emplace(id, AuthConfig::AccessKey{principal, secret}).second) {
        return absl::InvalidArgumentError(
            StrCat("access key id ", id, " is given both by --access-key and in --auth-config"));
      }
      config->principals[principal] = {allow_all};
    }
  }
  absl::MutexLock lock(&mu_);
  config_ = std::move(config);
  return absl::OkStatus();
}

std::shared_ptr<const AuthConfig> Authority::Current() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

absl::StatusOr<Identity> Authority::Authenticate(const std::string* authorization,
                                                 const std::vector<std::string>& certificate_names) const {
  if (!enabled()) return Anonymous();
  std::shared_ptr<const AuthConfig> config = Current();
  if ((authorization == nullptr || authorization->empty()) && !certificate_names.empty()) {
    // A client certificate the CA signed (the TLS handshake verified it) names the caller; the
    // first principal with a matching pattern, in the file's order, is the one.
    for (const auto& [pattern, principal] : config->certificate_names) {
      for (const std::string& name : certificate_names) {
        if (WildcardMatch(pattern, name, /*ignore_case=*/false)) {
          return Identity{.principal = principal,
                          .unrestricted = false,
                          .policies = config->principals.at(principal),
                          .config = config};
        }
      }
    }
    return absl::UnauthenticatedError(StrCat("the client certificate (", absl::StrJoin(certificate_names, ", "),
                                             ") is not the certificate of any principal"));
  }
  if (authorization == nullptr || authorization->empty()) {
    return absl::UnauthenticatedError(
        "missing credentials: send `authorization: Bearer <token>` (gRPC metadata or HTTP header), or a client "
        "certificate of a principal");
  }
  std::string_view token = BearerToken(*authorization);
  if (token.empty()) {
    return absl::UnauthenticatedError("malformed authorization: expected `Bearer <token>`");
  }
  auto it = config->tokens_by_sha256.find(TokenSha256Hex(token));
  if (it == config->tokens_by_sha256.end()) {
    if (token.substr(0, 4) == "bjt-" || token.substr(0, 4) == "bic-") {
      return absl::UnauthenticatedError(
          "join tokens and instance credentials are valid only on the agent protocol (berth-agent)");
    }
    return absl::UnauthenticatedError("the token is not valid");
  }
  const AuthConfig::Token& t = it->second;
  if (t.revoked) return absl::UnauthenticatedError("the token has been revoked");
  if (t.expires != 0 && options_.now_seconds() >= t.expires) {
    return absl::UnauthenticatedError(StrCat("the token expired at ", FormatTime(t.expires)));
  }
  auto principal = config->principals.find(t.principal);
  return Identity{.principal = t.principal, .unrestricted = false, .policies = principal->second, .config = config};
}

std::optional<std::pair<std::string, Identity>> Authority::AccessKey(std::string_view access_key_id) const {
  std::shared_ptr<const AuthConfig> config = Current();
  auto it = config->access_keys.find(std::string(access_key_id));
  if (it == config->access_keys.end()) return std::nullopt;
  auto principal = config->principals.find(it->second.principal);
  return std::make_pair(
      it->second.secret,
      Identity{
          .principal = it->second.principal, .unrestricted = false, .policies = principal->second, .config = config});
}

absl::Status Authority::Authorize(const Identity& who, std::string_view door, std::string_view action,
                                  const std::vector<AccessRequest>& requests) {
  const bool mutating = IsMutating(action);
  // Audited under the IAM action (ecs:SubmitTaskStateChange for the agent's ReportStateChanges).
  const std::string iam_action = requests.empty() ? StrCat("ecs:", action) : requests.front().action;
  if (who.unrestricted) {
    if (mutating) {
      Audit(door, who.principal, iam_action, requests.empty() ? "*" : requests.front().resource, "Allow",
            who.allowed_by);
    }
    return absl::OkStatus();
  }
  for (AccessRequest r : requests) {
    r.context.emplace_back("berth:principal", who.principal);
    const Decision d = Evaluate(who.policies, r);
    if (d != Decision::kAllow) {
      Audit(door, who.principal, r.action, r.resource, DecisionName(d), "");
      return absl::PermissionDeniedError(
          StrCat("User: ", who.principal, " is not authorized to perform: ", r.action, " on resource: ", r.resource,
                 d == Decision::kExplicitDeny ? " with an explicit deny in a policy" : " because no policy allows it"));
    }
  }
  if (mutating) Audit(door, who.principal, iam_action, requests.empty() ? "*" : requests.front().resource, "Allow", "");
  return absl::OkStatus();
}

bool Authority::Visible(const Identity& who, std::string_view action, std::string_view resource,
                        std::string_view cluster_arn) const {
  if (who.unrestricted) return true;
  AccessRequest r{.action = StrCat("ecs:", action), .resource = std::string(resource), .context = {}};
  if (!cluster_arn.empty()) r.context.emplace_back("ecs:cluster", std::string(cluster_arn));
  r.context.emplace_back("berth:principal", who.principal);
  return Evaluate(who.policies, r) == Decision::kAllow;
}

absl::StatusOr<IssuedCredentials> Authority::IssueRoleCredentials(std::string_view role_arn,
                                                                  std::string_view task_arn) const {
  const std::string prefix = StrCat("arn:aws:iam::", arns_.context().account, ":role/");
  std::string_view name = role_arn;
  if (name.substr(0, 4) == "arn:") {
    if (name.substr(0, prefix.size()) != prefix) {
      return absl::FailedPreconditionError(
          StrCat("taskRoleArn: '", role_arn, "' is not a role of this account (", prefix, "<name>)"));
    }
    name.remove_prefix(prefix.size());
  }
  // The name iam:PassRole was checked on is the whole ARN: a role path ("role/team/admin") would
  // let a policy on role/team/* pass a role named admin, so roles have no paths.
  if (!IsRoleName(name)) {
    return absl::FailedPreconditionError(
        StrCat("taskRoleArn: '", role_arn, "' is not a role name (roles have no paths: role/<name>)"));
  }
  std::shared_ptr<const AuthConfig> config = Current();
  if (!config->roles.contains(std::string(name))) {
    return absl::FailedPreconditionError(
        StrCat("taskRoleArn: role '", name, "' is not defined under roles in --auth-config"));
  }
  return role_credentials_->Issue(name, task_arn, options_.now_seconds());
}

absl::StatusOr<std::pair<std::string, Identity>> Authority::SessionKey(std::string_view access_key_id,
                                                                       std::string_view session_token) const {
  auto claims = role_credentials_->Verify(access_key_id, session_token, options_.now_seconds());
  if (!claims.ok()) return claims.status();
  std::shared_ptr<const AuthConfig> config = Current();
  auto role = config->roles.find(claims->role);
  if (role == config->roles.end()) {
    return absl::UnauthenticatedError(StrCat("role '", claims->role, "' is no longer defined in --auth-config"));
  }
  const std::string task_id = claims->task_arn.substr(claims->task_arn.rfind('/') + 1);
  return std::make_pair(claims->secret_access_key,
                        Identity{.principal = StrCat("assumed-role/", claims->role, "/", task_id),
                                 .unrestricted = false,
                                 .policies = role->second,
                                 .config = config});
}

void Authority::AuditRefused(std::string_view door, std::string_view action, std::string_view reason,
                             std::string_view principal, std::string_view decision) {
  Audit(door, principal, IamAction(action), "", decision, reason);
}

void Authority::Audit(std::string_view door, std::string_view principal, std::string_view action,
                      std::string_view resource, std::string_view decision, std::string_view reason) {
  if (options_.audit_path.empty()) return;
  json line = {{"time", FormatTime(options_.now_seconds())},
               {"door", door},
               {"principal", principal},
               {"action", action},
               {"resource", resource},
               {"decision", decision}};
  if (!reason.empty()) line["reason"] = reason;
  absl::MutexLock lock(&audit_mu_);
  audit_ << JsonLine(line) << '\n';
  audit_.flush();
  if (!audit_) log::Error("audit log {}: write failed", options_.audit_path);
}

}  // namespace berth::controlplane::auth
