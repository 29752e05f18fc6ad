// Short-lived AWS-style credentials for task roles (docs/security.md, "Task role credentials").
//
// berthd issues a task credentials for its role (an access key id, a secret access key and a
// session token, valid kLifetimeSeconds) and later verifies SigV4 requests signed with them, with
// no state beyond one secret key: the session token carries the claims (role, task, expiry,
// access key id) and an HMAC-SHA256 over them, and the secret access key is an HMAC of the claims
// too, so berthd derives it again to check a signature. A token whose claims were altered, or
// presented with another access key id, fails the HMAC; an expired one is refused by its expiry.
//
// The key is 32 bytes from OpenSSL's RAND_bytes, kept in a file (mode 0600, written durably) so
// that credentials stay valid across restarts; deleting the file and restarting berthd revokes
// every credential issued.
//
// Thread-safe (immutable after creation).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::controlplane::auth {

struct IssuedCredentials {
  std::string access_key_id;      // "ASIA" + 16 upper-case hex digits
  std::string secret_access_key;  // 40 characters
  std::string session_token;
  int64_t expiration = 0;  // epoch seconds
};

// What a session token says, once verified.
struct SessionClaims {
  std::string role;      // the role's name
  std::string task_arn;  // the task it was issued to
  int64_t expiration = 0;
  std::string secret_access_key;  // derived again, to check the request's signature
};

class RoleCredentials {
 public:
  static constexpr int64_t kLifetimeSeconds = 3600;

  // Loads the key from `key_path`, creating it when absent; an empty path keeps a fresh key in
  // memory only (tests, and berthd without a data directory).
  static absl::StatusOr<RoleCredentials> Open(const std::string& key_path);

  IssuedCredentials Issue(std::string_view role, std::string_view task_arn, int64_t now) const;
  // The claims of `session_token` if its HMAC is berthd's, it was issued with `access_key_id`, and
  // it has not expired at `now`; else UNAUTHENTICATED saying why, or DEADLINE_EXCEEDED when it
  // expired.
  absl::StatusOr<SessionClaims> Verify(std::string_view access_key_id, std::string_view session_token,
                                       int64_t now) const;

 private:
  explicit RoleCredentials(std::string key) : key_(std::move(key)) {}
  std::string Mac(std::string_view label, std::string_view data) const;  // hex HMAC-SHA256
  std::string key_;
};

}  // namespace berth::controlplane::auth
