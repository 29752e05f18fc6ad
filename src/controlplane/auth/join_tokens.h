// JoinTokenActions: CreateJoinToken, ListJoinTokens and DeleteJoinToken (join_tokens.cc; see
// docs/security.md, "Agents: join tokens"). Registering with a token is InstanceActions'.
#pragma once

#include "src/controlplane/actions/action_base.h"

namespace berth::controlplane {

class JoinTokenActions : public ActionBase {
 public:
  explicit JoinTokenActions(const ActionContext& context) : ActionBase(context) {}

  void CreateJoinToken(const v1::CreateJoinTokenRequest& request, v1::CreateJoinTokenResponse* response, Done done);
  void ListJoinTokens(const v1::ListJoinTokensRequest& request, v1::ListJoinTokensResponse* response, Done done);
  void DeleteJoinToken(const v1::DeleteJoinTokenRequest& request, v1::DeleteJoinTokenResponse* response, Done done);
};

}  // namespace berth::controlplane
