// InstanceActions: RegisterContainerInstance, DeregisterContainerInstance,
// DescribeContainerInstances, ListContainerInstances, UpdateContainerInstancesState and the
// attribute actions (instances.cc); and the agent's registration, with a join token or its
// instance credential (auth/join_tokens.cc).
#pragma once

#include "src/controlplane/actions/action_base.h"
#include "src/controlplane/actions/agent_sessions.h"

namespace berth::controlplane {

class InstanceActions : public ActionBase {
 public:
  // `sessions` (the agent protocol's) learn of each registration; it must outlive this.
  InstanceActions(const ActionContext& context, AgentSessions* sessions) : ActionBase(context), sessions_(sessions) {}

  void RegisterContainerInstance(const v1::RegisterContainerInstanceRequest& request,
                                 v1::RegisterContainerInstanceResponse* response, Done done);
  void DeregisterContainerInstance(const v1::DeregisterContainerInstanceRequest& request,
                                   v1::DeregisterContainerInstanceResponse* response, Done done);
  void DescribeContainerInstances(const v1::DescribeContainerInstancesRequest& request,
                                  v1::DescribeContainerInstancesResponse* response, Done done);
  void ListContainerInstances(const v1::ListContainerInstancesRequest& request,
                              v1::ListContainerInstancesResponse* response, Done done);
  void UpdateContainerInstancesState(const v1::UpdateContainerInstancesStateRequest& request,
                                     v1::UpdateContainerInstancesStateResponse* response, Done done);
  void PutAttributes(const v1::PutAttributesRequest& request, v1::PutAttributesResponse* response, Done done);
  void DeleteAttributes(const v1::DeleteAttributesRequest& request, v1::DeleteAttributesResponse* response, Done done);
  void ListAttributes(const v1::ListAttributesRequest& request, v1::ListAttributesResponse* response, Done done);

  // --- The agent's registration (auth/join_tokens.cc). ---

  // Registers or re-registers the agent's host (RegisterContainerInstance). With a join token,
  // registers a new instance only, uses the token once and answers the instance's credential.
  void RegisterInstance(const v1::RegisterContainerInstanceRequest& request,
                        v1::RegisterContainerInstanceResponse* response, const AgentCredential& credential, Done done);
  // May the caller presenting `credential` act as the container instance named by a request's
  // cluster and containerInstance fields (Poll, ReportStateChanges, re-registration)? An instance
  // credential only as its own instance; with `enforce_binding` (authentication on), an instance
  // that registered with a join token only through its credential. A name that does not parse or
  // an instance that does not exist is left to the handler, except for an instance credential.
  absl::Status AdmitInstanceCaller(const std::string& cluster_field, const std::string& instance_field,
                                   const AgentCredential& credential, bool enforce_binding) const;
  // Whether the join token `credential` could register an instance in the cluster a request names
  // now (RegisterInstance checks again when it commits); UNAUTHENTICATED saying why not.
  absl::Status CheckJoinToken(const std::string& cluster_field, const AgentCredential& credential) const;

 private:
  // RegisterContainerInstance, and with `join` (a join token's id and digest, and the digest of
  // the credential to issue) the agent's first registration with a join token.
  struct JoinUse {
    std::string token_id;
    std::string token_sha256;
    std::string credential_sha256;
  };
  // `as_bound_instance`: the caller presented the instance's own credential (checked already).
  void Register(const v1::RegisterContainerInstanceRequest& request, v1::RegisterContainerInstanceResponse* response,
                std::optional<JoinUse> join, bool as_bound_instance, Done done);
  // The join token `id` of `cluster` if its secret's digest matches and it is neither expired nor
  // used up; else UNAUTHENTICATED saying which.
  absl::StatusOr<const v1::JoinTokenRecord*> UsableJoinToken(const ClusterEntry& cluster, const std::string& id,
                                                             const std::string& secret_sha256);
  // Counts one registration against `token` (a join token of `cluster`).
  static void CountJoinTokenUse(Applier& txn, const ClusterEntry& cluster, const v1::JoinTokenRecord& token);

  AgentSessions* const sessions_;
};

}  // namespace berth::controlplane
