// GrpcAgentService: the agent door (berth.v1.AgentService), a thin adapter onto Api's agent
// actions. Long polls are parked without a thread (callback API): a parked Poll is only an entry
// in AgentSessions until its instance changes, its wait ends, or its client goes away.
#pragma once

#include <grpcpp/grpcpp.h>

#include "berth/v1/agent.grpc.pb.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/auth/auth.h"
#include "src/controlplane/metrics.h"

namespace berth::controlplane {

class GrpcAgentService final : public v1::AgentService::CallbackService {
 public:
  // `api` and `metrics` must outlive the service.
  // Every call is authenticated and authorized by `authority` (which must outlive the service).
  GrpcAgentService(Api* api, Metrics* metrics, auth::Authority* authority);

  grpc::ServerUnaryReactor* RegisterInstance(grpc::CallbackServerContext* context,
                                             const v1::RegisterContainerInstanceRequest* request,
                                             v1::RegisterContainerInstanceResponse* response) override;
  grpc::ServerUnaryReactor* Poll(grpc::CallbackServerContext* context, const v1::PollRequest* request,
                                 v1::PollResponse* response) override;
  grpc::ServerUnaryReactor* ReportStateChanges(grpc::CallbackServerContext* context,
                                               const v1::ReportStateChangesRequest* request,
                                               v1::ReportStateChangesResponse* response) override;
  grpc::ServerUnaryReactor* PushLogs(grpc::CallbackServerContext* context, const v1::PushLogsRequest* request,
                                     v1::PushLogsResponse* response) override;
  grpc::ServerUnaryReactor* GetTaskCredentials(grpc::CallbackServerContext* context,
                                               const v1::GetTaskCredentialsRequest* request,
                                               v1::GetTaskCredentialsResponse* response) override;

 private:
  Api* const api_;
  Metrics* const metrics_;
  auth::Authority* const authority_;
  const Metrics::RpcMetrics* register_metrics_;
  const Metrics::RpcMetrics* poll_metrics_;
  const Metrics::RpcMetrics* report_metrics_;
  const Metrics::RpcMetrics* credentials_metrics_;
  const Metrics::RpcMetrics* logs_metrics_;
};

}  // namespace berth::controlplane
