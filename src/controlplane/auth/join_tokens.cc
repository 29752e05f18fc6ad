// Join tokens and instance credentials (docs/security.md, "Agents: join tokens"): how an agent
// proves it may add a host to a cluster, and then that it speaks for that host alone.
//
// A join token lives in its cluster's record (at most kMaxJoinTokens per cluster), stored as the
// SHA-256 of its secret. Registering with it creates a new container instance, counts one use,
// and answers a fresh instance credential whose SHA-256 is kept on the instance record; the two
// writes are one proposal, so a crash can neither lose the use nor leave an instance without its
// credential. Secrets come from OpenSSL's RAND_bytes and are compared in constant time.
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "src/controlplane/actions/instances.h"
#include "src/controlplane/auth/auth.h"
#include "src/controlplane/auth/join_tokens.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

constexpr std::string_view kJoinTokenPrefix = "bjt-";
constexpr std::string_view kInstanceCredentialPrefix = "bic-";
constexpr int kMaxJoinTokens = 100;  // per cluster, used up and expired ones included until pruned
constexpr int kMaxRegistrationLimit = 1000;
constexpr double kDefaultLifetimeSeconds = 24 * 3600;
constexpr double kMaxLifetimeSeconds = 30 * 24 * 3600;

// `bytes` random bytes from OpenSSL's CSPRNG, as lower-case hex.
std::string RandomHex(int bytes) {
  std::string raw(static_cast<size_t>(bytes), '\0');
  BERTH_CHECK_MSG(RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), bytes) == 1, "RAND_bytes failed");
  return absl::BytesToHexString(raw);
}

bool DigestsEqual(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status Unauthenticated(std::string message) {
  return WithType(absl::UnauthenticatedError(std::move(message)), "UnrecognizedClientException");
}

absl::Status Denied(std::string message) {
  return WithType(absl::PermissionDeniedError(std::move(message)), "AccessDeniedException");
}

bool Usable(const v1::JoinToken& t, double now) {
  return t.registrations_count() < t.registration_limit() && now < t.expiration_date();
}

// The index of join token `id` in `cluster` if `secret_sha256` is its digest and it can still
// register an instance at `now`; else UNAUTHENTICATED saying why.
absl::StatusOr<int> FindUsableJoinToken(const v1::ClusterRecord& cluster, const std::string& id,
                                        const std::string& secret_sha256, double now) {
  for (int i = 0; i < cluster.join_tokens_size(); ++i) {
    const v1::JoinTokenRecord& r = cluster.join_tokens(i);
    if (r.token().join_token_id() != id) continue;
    if (!DigestsEqual(r.secret_sha256(), secret_sha256)) break;
    const v1::JoinToken& t = r.token();
    if (now >= t.expiration_date()) {
      return Unauthenticated(StrCat(
          "join token ", id, " expired at ",
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(static_cast<int64_t>(t.expiration_date())),
                           absl::UTCTimeZone())));
    }
    if (t.registrations_count() >= t.registration_limit()) {
      return Unauthenticated(StrCat("join token ", id, " is used up: ", t.registrations_count(), " of ",
                                    t.registration_limit(), " registrations made"));
    }
    return i;
  }
  return Unauthenticated(
      StrCat("the join token is not a valid join token of cluster '", cluster.cluster().cluster_name(), "'"));
}

}  // namespace

AgentCredential ParseAgentCredential(const std::string* authorization) {
  AgentCredential credential;
  if (authorization == nullptr) return credential;
  std::string_view value = *authorization;
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() || !EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return credential;
  }
  value = Trim(value.substr(kBearer.size()));
  AgentCredential::Kind kind;
  if (value.substr(0, kJoinTokenPrefix.size()) == kJoinTokenPrefix) {
    kind = AgentCredential::Kind::kJoinToken;
  } else if (value.substr(0, kInstanceCredentialPrefix.size()) == kInstanceCredentialPrefix) {
    kind = AgentCredential::Kind::kInstance;
  } else {
    return credential;
  }
  value.remove_prefix(4);
  size_t dot = value.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == value.size()) {
    // Recognisably ours but malformed: keep the kind so the caller is refused, not treated as a
    // configured token.
    credential.kind = kind;
    return credential;
  }
  credential.kind = kind;
  credential.id = std::string(value.substr(0, dot));
  credential.secret_sha256 = auth::TokenSha256Hex(value.substr(dot + 1));
  return credential;
}

absl::StatusOr<const v1::JoinTokenRecord*> InstanceActions::UsableJoinToken(const ClusterEntry& cluster,
                                                                            const std::string& id,
                                                                            const std::string& secret_sha256) {
  ASSIGN_OR_RETURN(int i, FindUsableJoinToken(cluster.record, id, secret_sha256, clock_->NowSeconds()));
  return &cluster.record.join_tokens(i);
}

void InstanceActions::CountJoinTokenUse(Applier& txn, const ClusterEntry& cluster, const v1::JoinTokenRecord& token) {
  const std::string id = token.token().join_token_id();
  for (v1::JoinTokenRecord& t : *txn.EditCluster(cluster).mutable_join_tokens()) {
    if (t.token().join_token_id() == id)
      t.mutable_token()->set_registrations_count(t.token().registrations_count() + 1);
  }
}

absl::Status InstanceActions::CheckJoinToken(const std::string& cluster_field,
                                             const AgentCredential& credential) const {
  if (credential.id.empty()) return Unauthenticated("malformed join token: expected bjt-<id>.<secret>");
  absl::Status error;
  const std::string cluster = ClusterFromRequest(!cluster_field.empty(), cluster_field, &error);
  if (!error.ok()) return absl::OkStatus();  // the handler names the field
  absl::ReaderMutexLock lock(mu_);
  const ClusterEntry* c = state_->FindCluster(cluster);
  if (c == nullptr) return absl::OkStatus();  // the handler says which cluster is missing
  return FindUsableJoinToken(c->record, credential.id, credential.secret_sha256, clock_->NowSeconds()).status();
}

void InstanceActions::RegisterInstance(const v1::RegisterContainerInstanceRequest& request,
                                       v1::RegisterContainerInstanceResponse* response,
                                       const AgentCredential& credential, Done done) {
  if (credential.kind != AgentCredential::Kind::kJoinToken) {
    // An instance credential was checked by AdmitInstanceCaller: it may re-register its instance.
    return Register(request, response, std::nullopt, credential.kind == AgentCredential::Kind::kInstance, done);
  }
  if (credential.id.empty()) return done(Unauthenticated("malformed join token: expected bjt-<id>.<secret>"));
  // The credential is made before the proposal: its digest is what the proposal stores.
  std::string secret = RandomHex(32);
  JoinUse join{.token_id = credential.id,
               .token_sha256 = credential.secret_sha256,
               .credential_sha256 = auth::TokenSha256Hex(secret)};
  Register(request, response, std::move(join), false,
           [response, secret = std::move(secret), done = std::move(done)](absl::Status s) {
             if (s.ok()) {
               const std::string& arn = response->container_instance().container_instance_arn();
               response->set_instance_credential(
                   StrCat(kInstanceCredentialPrefix, arn.substr(arn.rfind('/') + 1), ".", secret));
             }
             done(std::move(s));
           });
}

absl::Status InstanceActions::AdmitInstanceCaller(const std::string& cluster_field, const std::string& instance_field,
                                                  const AgentCredential& credential, bool enforce_binding) const {
  using Kind = AgentCredential::Kind;
  if (credential.kind == Kind::kJoinToken) {
    return Denied("a join token only registers new container instances; poll and report with the instance credential");
  }
  // Authentication off and no credential of ours: nothing to check (the Poll and Report paths).
  if (credential.kind == Kind::kNone && !enforce_binding) return absl::OkStatus();
  if (credential.kind == Kind::kInstance && credential.id.empty()) {
    return Unauthenticated("malformed instance credential: expected bic-<instance id>.<secret>");
  }
  absl::Status error;
  const std::string cluster = ClusterFromRequest(!cluster_field.empty(), cluster_field, &error);
  auto id = error.ok() ? arns_.ContainerInstanceId(instance_field, cluster, "containerInstance")
                       : absl::StatusOr<std::string>(error);
  if (!id.ok() || id->empty()) {
    // The handler names the bad field; an instance credential stands for one instance only.
    if (credential.kind == Kind::kInstance) {
      return Denied(
          StrCat("the instance credential of container instance ", credential.id, " acts only as that instance"));
    }
    return absl::OkStatus();
  }
  if (credential.kind == Kind::kInstance && *id != credential.id) {
    return Denied(StrCat("the instance credential of container instance ", credential.id, " cannot act as ", *id));
  }
  absl::ReaderMutexLock lock(mu_);
  const ClusterEntry* c = state_->FindCluster(cluster);
  const InstanceEntry* inst = nullptr;
  if (c != nullptr) {
    auto it = c->instances.find(*id);
    if (it != c->instances.end()) inst = &it->second;
  }
  if (credential.kind == Kind::kNone) {
    if (inst != nullptr && !inst->record.credential_sha256().empty()) {
      return Denied(StrCat("container instance ", *id,
                           " registered with a join token: only its own instance credential may act for it"));
    }
    return absl::OkStatus();
  }
  if (inst == nullptr || !DigestsEqual(inst->record.credential_sha256(), credential.secret_sha256)) {
    return Unauthenticated(
        StrCat("the instance credential of container instance ", *id, " is not valid in cluster '", cluster, "'"));
  }
  if (inst->record.instance().status() == "INACTIVE") {
    return Unauthenticated(StrCat("container instance ", *id,
                                  " was deregistered: its credential is void; register the host again with a join "
                                  "token"));
  }
  return absl::OkStatus();
}

void JoinTokenActions::CreateJoinToken(const v1::CreateJoinTokenRequest& request, v1::CreateJoinTokenResponse* response,
                                       Done done) {
  absl::Status error;
  const std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  const int32_t limit = request.has_registration_limit() ? request.registration_limit() : 1;
  if (limit < 1 || limit > kMaxRegistrationLimit) {
    return done(InvalidParameter("registrationLimit: must be 1 to ", kMaxRegistrationLimit, " (got ", limit, ")"));
  }
  if (request.description().size() > 256) {
    return done(InvalidParameter("description: at most 256 characters"));
  }
  const double now = clock_->NowSeconds();
  const double expires = request.has_expiration_date() ? request.expiration_date() : now + kDefaultLifetimeSeconds;
  if (!(expires > now) || expires > now + kMaxLifetimeSeconds) {
    return done(InvalidParameter("expirationDate: must be in the future and at most 30 days from now"));
  }
  std::string secret = RandomHex(32);
  v1::JoinTokenRecord record;
  v1::JoinToken* t = record.mutable_token();
  t->set_join_token_id(RandomHex(8));
  t->set_description(request.description());
  t->set_registration_limit(limit);
  t->set_expiration_date(expires);
  t->set_created_at(now);
  record.set_secret_sha256(auth::TokenSha256Hex(secret));
  Submit(
      [this, response, cluster, now, record = std::move(record),
       secret = std::move(secret)](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        // Used up and expired tokens make room; they can never register anything again.
        int usable = 0;
        for (const v1::JoinTokenRecord& t : c->record.join_tokens()) usable += Usable(t.token(), now);
        if (usable >= kMaxJoinTokens) {
          return WithType(absl::ResourceExhaustedError(StrCat("cluster '", cluster, "' already has ", kMaxJoinTokens,
                                                              " usable join tokens: delete some first")),
                          "LimitExceededException");
        }
        auto* tokens = txn.EditCluster(*c).mutable_join_tokens();
        for (int i = tokens->size() - 1; i >= 0; --i) {
          if (!Usable(tokens->Get(i).token(), now)) tokens->DeleteSubrange(i, 1);
        }
        *tokens->Add() = record;
        *response->mutable_join_token() = record.token();
        response->mutable_join_token()->set_cluster_arn(arns_.Cluster(cluster));
        response->set_token(StrCat(kJoinTokenPrefix, record.token().join_token_id(), ".", secret));
        return absl::OkStatus();
      },
      std::move(done));
}

void JoinTokenActions::ListJoinTokens(const v1::ListJoinTokensRequest& request, v1::ListJoinTokensResponse* response,
                                      Done done) {
  absl::Status error;
  const std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  {
    absl::ReaderMutexLock lock(mu_);
    const ClusterEntry* c = state_->FindCluster(cluster);
    if (c == nullptr || c->record.cluster().status() != "ACTIVE") return done(ClusterNotFound(cluster));
    for (const v1::JoinTokenRecord& r : c->record.join_tokens()) {
      v1::JoinToken* t = response->add_join_tokens();
      *t = r.token();
      t->set_cluster_arn(arns_.Cluster(cluster));
    }
  }
  done(absl::OkStatus());
}

void JoinTokenActions::DeleteJoinToken(const v1::DeleteJoinTokenRequest& request, v1::DeleteJoinTokenResponse* response,
                                       Done done) {
  absl::Status error;
  const std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (request.join_token_id().empty()) return done(InvalidParameter("joinTokenId: required"));
  Submit(
      [this, response, cluster, id = request.join_token_id()](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        const auto& tokens = c->record.join_tokens();
        for (int i = 0; i < tokens.size(); ++i) {
          if (tokens.Get(i).token().join_token_id() != id) continue;
          *response->mutable_join_token() = tokens.Get(i).token();
          response->mutable_join_token()->set_cluster_arn(arns_.Cluster(cluster));
          txn.EditCluster(*c).mutable_join_tokens()->DeleteSubrange(i, 1);
          return absl::OkStatus();
        }
        return NotFound("joinTokenId: cluster '", cluster, "' has no join token ", id);
      },
      std::move(done));
}

}  // namespace berth::controlplane
