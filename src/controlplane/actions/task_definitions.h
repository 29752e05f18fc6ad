// TaskDefinitionActions: RegisterTaskDefinition, DeregisterTaskDefinition,
// DescribeTaskDefinition, ListTaskDefinitions and ListTaskDefinitionFamilies
// (task_definitions.cc), and the roles a launch's task definition carries, for iam:PassRole.
#pragma once

#include "src/controlplane/actions/action_base.h"

namespace berth::controlplane {

class TaskDefinitionActions : public ActionBase {
 public:
  explicit TaskDefinitionActions(const ActionContext& context) : ActionBase(context) {}

  void RegisterTaskDefinition(const v1::RegisterTaskDefinitionRequest& request,
                              v1::RegisterTaskDefinitionResponse* response, Done done);
  void DeregisterTaskDefinition(const v1::DeregisterTaskDefinitionRequest& request,
                                v1::DeregisterTaskDefinitionResponse* response, Done done);
  void DescribeTaskDefinition(const v1::DescribeTaskDefinitionRequest& request,
                              v1::DescribeTaskDefinitionResponse* response, Done done);
  void ListTaskDefinitions(const v1::ListTaskDefinitionsRequest& request, v1::ListTaskDefinitionsResponse* response,
                           Done done);
  void ListTaskDefinitionFamilies(const v1::ListTaskDefinitionFamiliesRequest& request,
                                  v1::ListTaskDefinitionFamiliesResponse* response, Done done);

  // For iam:PassRole (authz.h): the revision a launch's task definition reference ("family",
  // "family:revision" or the ARN) names now, pinned as "family:revision", and that revision's
  // roles. Errors as RunTask gives them (InvalidParameter naming taskDefinition, NotFound).
  struct TaskDefinitionRoles {
    std::string pinned;
    std::string task_role_arn;
    std::string execution_role_arn;
  };
  absl::StatusOr<TaskDefinitionRoles> RolesOfTaskDefinition(const std::string& reference) const;
};

}  // namespace berth::controlplane
