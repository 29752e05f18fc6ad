// GrpcContainerService: the gRPC door. A thin adapter from berth.v1.ContainerService (callback
// API: no thread is held while a write waits for its commit) onto Api.
#pragma once

#include <grpcpp/grpcpp.h>

#include "berth/v1/ecs.grpc.pb.h"
#include "berth/v1/logs.grpc.pb.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/auth/auth.h"
#include "src/controlplane/metrics.h"

namespace berth::controlplane {

grpc::Status ToGrpcStatus(const absl::Status& status);

// What a call presents to authenticate with.
struct CallCredentials {
  std::unique_ptr<std::string> authorization;  // the `authorization` metadata, or null
  // The DNS and URI subject alternative names and the common name of the client certificate, when
  // the TLS handshake verified one against --tls-client-ca.
  std::vector<std::string> certificate_names;
};
CallCredentials CredentialsOf(const grpc::ServerContextBase* context, const auth::Authority& authority);

// Identify() of what a call presents.
absl::StatusOr<auth::Identity> IdentifyCall(auth::Authority& authority, std::string_view door, std::string_view action,
                                            const grpc::ServerContextBase* context);

class GrpcContainerService final : public v1::ContainerService::CallbackService {
 public:
  // `api`, `metrics` and `authority` must outlive the service. Every call is authenticated (its
  // `authorization` metadata) and authorized by `authority` before the Api sees it.
  GrpcContainerService(Api* api, Metrics* metrics, auth::Authority* authority);

#define BERTH_GRPC_DECLARE(C, A)                                                                   \
  grpc::ServerUnaryReactor* A(grpc::CallbackServerContext* context, const v1::A##Request* request, \
                              v1::A##Response* response) override;
  BERTH_API_ACTIONS(BERTH_GRPC_DECLARE)
#undef BERTH_GRPC_DECLARE

 private:
  Api* const api_;
  Metrics* const metrics_;
  auth::Authority* const authority_;
  // Each action's metrics, resolved once here rather than per call.
#define BERTH_GRPC_METRICS_MEMBER(C, A) const Metrics::RpcMetrics* A##_metrics_;
  BERTH_API_ACTIONS(BERTH_GRPC_METRICS_MEMBER)
#undef BERTH_GRPC_METRICS_MEMBER
};

// GrpcLogsService: berth.v1.LogsService (logs.proto), the same adapter onto Api's LogActions.
class GrpcLogsService final : public v1::LogsService::CallbackService {
 public:
  GrpcLogsService(Api* api, Metrics* metrics, auth::Authority* authority);

#define BERTH_GRPC_LOGS_DECLARE(C, A)                                                                              \
  grpc::ServerUnaryReactor* A(grpc::CallbackServerContext* context, const LogActionTypes<&C::A>::Request* request, \
                              LogActionTypes<&C::A>::Response* response) override;
  BERTH_LOGS_ACTIONS(BERTH_GRPC_LOGS_DECLARE)
#undef BERTH_GRPC_LOGS_DECLARE

 private:
  Api* const api_;
  Metrics* const metrics_;
  auth::Authority* const authority_;
#define BERTH_GRPC_METRICS_MEMBER(C, A) const Metrics::RpcMetrics* A##_metrics_;
  BERTH_LOGS_ACTIONS(BERTH_GRPC_METRICS_MEMBER)
#undef BERTH_GRPC_METRICS_MEMBER
};

}  // namespace berth::controlplane
