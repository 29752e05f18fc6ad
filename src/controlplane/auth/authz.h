// What each action is authorized against: the access requests (action, resource ARN, condition
// keys) one request makes, one per resource it names (docs/security.md has the table).
//
// There is one function per request type of every door, so an action without one does not compile.
// A malformed name or ARN is refused here as the handler would refuse it (InvalidArgument naming
// the field), before any policy is evaluated.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/common/arn.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/ecs.pb.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/auth/auth.h"
#include "src/controlplane/auth/policy.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane::auth {

#define BERTH_AUTHZ_DECLARE(C, A) \
  absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns, const v1::A##Request& request);
BERTH_API_ACTIONS(BERTH_AUTHZ_DECLARE)
#undef BERTH_AUTHZ_DECLARE

// The logs actions (logs_authz.cc): logs:<Action> on the log group's or stream's ARN.
#define BERTH_AUTHZ_LOGS_DECLARE(C, A)                                           \
  absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns, \
                                                               const LogActionTypes<&C::A>::Request& request);
BERTH_LOGS_ACTIONS(BERTH_AUTHZ_LOGS_DECLARE)
#undef BERTH_AUTHZ_LOGS_DECLARE

// The agent protocol (RegisterInstance takes RegisterContainerInstanceRequest, declared above).
absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns, const v1::PollRequest& request);
absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns,
                                                             const v1::ReportStateChangesRequest& request);
absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns,
                                                             const v1::GetTaskCredentialsRequest& request);
absl::StatusOr<std::vector<AccessRequest>> AccessRequestsFor(const Arns& arns, const v1::PushLogsRequest& request);

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

// The ARN of a role a task definition or override names: itself when it is an ARN, else the IAM
// role of that name in Berth's account.
std::string RoleArn(const Arns& arns, std::string_view name_or_arn);

// iam:PassRole: RunTask and StartTask, and CreateService and UpdateService when they name a task
// definition, give the tasks the task definition's taskRoleArn and executionRoleArn (and for
// RunTask and StartTask, the overrides'); the caller must be allowed iam:PassRole on each, with
// iam:PassedToService ecs-tasks.amazonaws.com, as in AWS. Call after Admit. The task definition
// reference is resolved against state here, and `pinned` is set to the revision that was checked
// ("family:revision"): the door must launch exactly that revision, so that a revision registered
// between this check and the launch cannot bring a role no one checked. Without authentication,
// a no-op.
template <typename Request>
absl::Status AdmitPassRole(Authority& authority, const Api& api, std::string_view door, std::string_view action,
                           const Identity& who, const Request& request, std::string* pinned) {
  constexpr bool kRunOrStart =
      std::is_same_v<Request, v1::RunTaskRequest> || std::is_same_v<Request, v1::StartTaskRequest>;
  constexpr bool kService =
      std::is_same_v<Request, v1::CreateServiceRequest> || std::is_same_v<Request, v1::UpdateServiceRequest>;
  if constexpr (!kRunOrStart && !kService) {
    return absl::OkStatus();
  } else {
    if (who.unrestricted || !request.has_task_definition() || request.task_definition().empty()) {
      return absl::OkStatus();
    }
    auto roles = api.task_definitions().RolesOfTaskDefinition(request.task_definition());
    RETURN_IF_ERROR(roles.status());
    std::vector<std::string> passed = {roles->task_role_arn, roles->execution_role_arn};
    if constexpr (kRunOrStart) {
      passed.push_back(request.overrides().task_role_arn());
      passed.push_back(request.overrides().execution_role_arn());
    }
    std::vector<AccessRequest> requests;
    for (const std::string& role : passed) {
      if (role.empty()) continue;
      requests.push_back({.action = "iam:PassRole",
                          .resource = RoleArn(authority.arns(), role),
                          .context = {{"iam:passedtoservice", "ecs-tasks.amazonaws.com"}}});
    }
    if (!requests.empty()) {
      absl::Status st = authority.Authorize(who, door, action, requests);
      if (!st.ok()) return WithType(st, "AccessDeniedException");
    }
    *pinned = std::move(roles->pinned);
    return absl::OkStatus();
  }
}

// The authorization sequence of every door, written once: the caller's policies allow the action
// on its resources (Admit), then the roles a launch would pass (AdmitPassRole). `*pinned` receives
// the task definition revision whose roles were checked, or stays empty; PinTaskDefinition makes
// the request launch exactly that revision.
template <typename Request>
absl::Status AdmitAction(Authority& authority, const Api& api, std::string_view door, std::string_view action,
                         const Identity& who, const Request& request, std::string* pinned) {
  RETURN_IF_ERROR(Admit(authority, door, action, who, request));
  return AdmitPassRole(authority, api, door, action, who, request, pinned);
}

// Sets the request's task definition to `pinned` (AdmitAction's); false when there is nothing to
// pin (no revision pinned, or a request without a task definition).
template <typename Request>
bool PinTaskDefinition(const std::string& pinned, Request* request) {
  if constexpr (requires(Request & r) { r.set_task_definition(std::string()); }) {
    if (pinned.empty()) return false;
    request->set_task_definition(pinned);
    return true;
  } else {
    return false;
  }
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
