// What each action is authorized against: the access requests (action, resource ARN, condition
// keys) one request makes, one per resource it names (docs/security.md has the table).
//
// There is one function per request type of every door, so an action without one does not compile.
// A malformed name or ARN is refused here as the handler would refuse it (InvalidArgument naming
// the field), before any policy is evaluated.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "berth/common/arn.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/ecs.pb.h"
#include "src/controlplane/api.h"
#include "src/controlplane/auth.h"
#include "src/controlplane/errors.h"
#include "src/controlplane/policy.h"

namespace berth::controlplane::auth {

#define BERTH_AUTHZ_DECLARE(A) \
  absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns, const v1::A##Request& request);
BERTH_API_ACTIONS(BERTH_AUTHZ_DECLARE)
#undef BERTH_AUTHZ_DECLARE

// The agent protocol (RegisterInstance takes RegisterContainerInstanceRequest, declared above).
absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns, const v1::PollRequest& request);
absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns,
                                                             const v1::ReportStateChangesRequest& request);

// Drops from a List response what `who` may not Describe (a no-op for other responses), so a
// listing shows only what the principal may see.
#define BERTH_AUTHZ_FILTER_DECLARE(A) \
  void FilterVisible(const Authority& authority, const Identity& who, v1::A##Response* response);
BERTH_AUTHZ_FILTER_DECLARE(ListClusters)
BERTH_AUTHZ_FILTER_DECLARE(ListTaskDefinitions)
BERTH_AUTHZ_FILTER_DECLARE(ListTaskDefinitionFamilies)
BERTH_AUTHZ_FILTER_DECLARE(ListContainerInstances)
BERTH_AUTHZ_FILTER_DECLARE(ListTasks)
BERTH_AUTHZ_FILTER_DECLARE(ListServices)
#undef BERTH_AUTHZ_FILTER_DECLARE
template <typename Response>
void FilterVisible(const Authority&, const Identity&, Response*) {}

// The one check every door makes before a handler runs: `who` may perform `action` on what
// `request` names. A denial is AccessDeniedException (audited). When the request names its
// resources malformed, the action is authorized on resource "*" (only a principal allowed it on
// every resource passes) and the handler then refuses the input naming the field, as it would
// without authentication.
template <typename Request>
absl::Status Admit(Authority& authority, std::string_view door, std::string_view action, const Identity& who,
                   const Request& request) {
  // With authentication off there is nothing to decide; the resources are worked out only for an
  // audit line, so the RunTask and Poll paths do no extra work without --audit-log.
  if (who.unrestricted && (!authority.auditing() || !IsMutating(action))) return absl::OkStatus();
  auto requests = AccessRequestsFor(authority.arns(), request);
  if (!requests.ok()) {
    requests = std::vector<AccessRequest>{{.action = IamAction(action), .resource = "*", .context = {}}};
  }
  absl::Status st = authority.Authorize(who, door, action, *requests);
  if (!st.ok()) return WithType(st, "AccessDeniedException");
  return absl::OkStatus();
}

// The identity of an `authorization` value; an error (UnrecognizedClientException, audited) when
// authentication is on and it names no valid token.
inline absl::StatusOr<Identity> Identify(Authority& authority, std::string_view door, std::string_view action,
                                         const std::string* authorization,
                                         const std::vector<std::string>& certificate_names = {}) {
  auto who = authority.Authenticate(authorization, certificate_names);
  if (!who.ok()) {
    authority.AuditRefused(door, action, std::string(who.status().message()));
    return WithType(who.status(), "UnrecognizedClientException");
  }
  return who;
}

}  // namespace berth::controlplane::auth
