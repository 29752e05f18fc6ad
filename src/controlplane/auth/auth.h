// Authority: who is calling (authentication), whether they may (authorization) and the record
// of it (the audit log), shared by every door (docs/security.md).
//
// Principals, their API tokens (stored as SHA-256 digests), their AWS access keys and the IAM-shaped
// policies attached to them come from a JSON file (--auth-config) that Reload() re-reads (SIGHUP):
// a token removed, marked revoked or past its expiry is refused from the next request on.
//
// Every action of every door goes through Authorize() before its handler runs: the request is
// turned into one access request per resource it names (authz.cc), each evaluated against the
// principal's policies; one denial refuses the whole request. With no configuration, authentication
// is off: every caller is the unrestricted principal "anonymous" (berthd then refuses to listen on
// anything but loopback).
//
// Thread-safe. The configuration is an immutable snapshot swapped under a mutex; an Identity keeps
// the snapshot it was resolved from alive.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/common/arn.h"
#include "src/controlplane/auth/policy.h"
#include "src/controlplane/auth/role_credentials.h"

namespace berth::controlplane::auth {

// The parsed --auth-config file.
struct AuthConfig {
  struct Token {
    std::string principal;
    std::string description;
    int64_t expires = 0;  // epoch seconds; 0: never
    bool revoked = false;
  };
  struct AccessKey {
    std::string principal;
    std::string secret;
  };
  std::map<std::string, Policy> policies;
  // principal -> its policies (pointers into `policies`).
  std::map<std::string, std::vector<const Policy*>> principals;
  absl::flat_hash_map<std::string, Token> tokens_by_sha256;  // lower-case hex digest -> token
  std::map<std::string, AccessKey> access_keys;              // access key id -> key
  // Task roles: role name -> its policies (docs/security.md, "Task role credentials").
  std::map<std::string, std::vector<const Policy*>> roles;
  // (pattern, principal) in the file's order: client certificate names (mutual TLS).
  std::vector<std::pair<std::string, std::string>> certificate_names;
  // Attached to the principals of --access-key flags.
  std::optional<Policy> allow_all;

  // Errors name the file's field ("principals.alice.tokens[0].expires: ...").
  static absl::StatusOr<std::shared_ptr<AuthConfig>> Parse(std::string_view json);
};

// Who a request is from, resolved by a door.
struct Identity {
  std::string principal;
  bool unrestricted = false;  // authentication is off: everything is allowed
  std::vector<const Policy*> policies;
  std::shared_ptr<const AuthConfig> config;  // keeps `policies` alive
  // Why an unrestricted identity is allowed everything, for the audit log.
  std::string allowed_by = "authentication off";
};

// The identity of every caller when authentication is off.
inline Identity Anonymous() {
  return Identity{.principal = "anonymous", .unrestricted = true, .policies = {}, .config = nullptr};
}

// An `Authorization` value ("Bearer <token>") or the token alone, hashed for lookup.
std::string TokenSha256Hex(std::string_view token);

class Authority {
 public:
  struct Options {
    std::string config_path;  // empty: no file
    // --access-key pairs given on the command line: each is a principal "access-key/<id>" allowed
    // everything (the behaviour before policies existed).
    std::map<std::string, std::string> legacy_access_keys;
    std::string audit_path;  // JSON lines appended here; empty: no audit log
    ArnContext arns;
    std::function<int64_t()> now_seconds;  // epoch seconds; tests fix it
    // The task credentials key (RoleCredentials); empty: a fresh key in memory.
    std::string credentials_key_path;
  };

  static absl::StatusOr<std::unique_ptr<Authority>> Create(Options options);

  // True with --auth-config: every request of every door must then authenticate.
  bool enabled() const { return !options_.config_path.empty(); }
  // True when the AWS door authenticates: enabled(), or --access-key pairs alone (which protect
  // that door only, as before principals existed).
  bool aws_enabled() const { return enabled() || !options_.legacy_access_keys.empty(); }
  // Re-reads the configuration file; on error the previous configuration stays in force.
  absl::Status Reload();
  const Arns& arns() const { return arns_; }
  // True with --audit-log.
  bool auditing() const { return !options_.audit_path.empty(); }

  // The identity an `Authorization` header or `authorization` metadata value names or, without
  // one, the names of a verified client certificate (its DNS and URI subject alternative names
  // and common name). A token wins over a certificate. Without enabled(), the unrestricted
  // anonymous identity whatever is sent.
  // Unauthenticated errors say what is wrong (missing, malformed, unknown, expired, revoked).
  absl::StatusOr<Identity> Authenticate(const std::string* authorization,
                                        const std::vector<std::string>& certificate_names = {}) const;
  // The secret of an AWS access key id and the identity it stands for, for SigV4.
  std::optional<std::pair<std::string, Identity>> AccessKey(std::string_view access_key_id) const;

  // PermissionDenied naming the action and resource when any access request of `requests` is
  // denied. Audited: every mutating action, and every denial.
  absl::Status Authorize(const Identity& who, std::string_view door, std::string_view action,
                         const std::vector<AccessRequest>& requests);
  // Records a request refused before policies were evaluated: without an identity (bad token, bad
  // signature), or by an agent credential (`principal` "instance/<id>", decision "Deny").
  void AuditRefused(std::string_view door, std::string_view action, std::string_view reason,
                    std::string_view principal = "", std::string_view decision = "Unauthenticated");

  // Credentials for the task `task_arn` acting as the role `role_arn` (its taskRoleArn, a role
  // defined under `roles`). FailedPrecondition naming the role when it is not defined.
  absl::StatusOr<IssuedCredentials> IssueRoleCredentials(std::string_view role_arn, std::string_view task_arn) const;
  // The secret of session credentials (an access key id and its X-Amz-Security-Token) and the
  // identity they stand for ("assumed-role/<role>/<task id>", the role's policies), for SigV4.
  // UNAUTHENTICATED saying why when the token is invalid or its role no longer defined,
  // DEADLINE_EXCEEDED when it expired.
  absl::StatusOr<std::pair<std::string, Identity>> SessionKey(std::string_view access_key_id,
                                                              std::string_view session_token) const;

  // May `who` see `resource` (an ARN) through `action`? For filtering List results; not audited.
  bool Visible(const Identity& who, std::string_view action, std::string_view resource,
               std::string_view cluster_arn) const;

 private:
  explicit Authority(Options options);
  std::shared_ptr<const AuthConfig> Current() const;
  void Audit(std::string_view door, std::string_view principal, std::string_view action, std::string_view resource,
             std::string_view decision, std::string_view reason);

  Options options_;
  Arns arns_;
  std::optional<RoleCredentials> role_credentials_;  // set by Create
  mutable absl::Mutex mu_;
  std::shared_ptr<const AuthConfig> config_ ABSL_GUARDED_BY(mu_);
  absl::Mutex audit_mu_;
  std::ofstream audit_ ABSL_GUARDED_BY(audit_mu_);
};

// The IAM action of a door's action name ("ReportStateChanges" -> "ecs:SubmitTaskStateChange").
std::string IamAction(std::string_view action);

// Whether an action changes state (audited even when allowed).
bool IsMutating(std::string_view action);

}  // namespace berth::controlplane::auth
