#include "src/controlplane/grpc_service.h"

#include <chrono>

#include "src/controlplane/authz.h"

namespace berth::controlplane {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* Dispatch(Api* api, Metrics* metrics, auth::Authority* authority,
                                   const Metrics::RpcMetrics* rpc, std::string_view action_name,
                                   grpc::CallbackServerContext* context, const Request* request, Response* response,
                                   void (Api::*action)(const Request&, Response*, Api::Done)) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  auto finish = [reactor, metrics, rpc, start](const absl::Status& status) {
    metrics->ObserveRpc(*rpc, status.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(status));
  };
  std::unique_ptr<std::string> authorization = AuthorizationMetadata(context);
  auto who = auth::Identify(*authority, "grpc", action_name, authorization.get());
  if (!who.ok()) {
    finish(who.status());
    return reactor;
  }
  if (absl::Status admitted = auth::Admit(*authority, "grpc", action_name, *who, *request); !admitted.ok()) {
    finish(admitted);
    return reactor;
  }
  (api->*action)(*request, response,
                 api->AnswerWhenDurable([finish, authority, who = *std::move(who), response](absl::Status status) {
                   if (status.ok()) auth::FilterVisible(*authority, who, response);
                   finish(status);
                 }));
  return reactor;
}

}  // namespace

GrpcContainerService::GrpcContainerService(Api* api, Metrics* metrics, auth::Authority* authority)
    : api_(api), metrics_(metrics), authority_(authority) {
#define BERTH_GRPC_METRICS_INIT(A) A##_metrics_ = metrics->ForRpc("grpc", #A);
  BERTH_API_ACTIONS(BERTH_GRPC_METRICS_INIT)
#undef BERTH_GRPC_METRICS_INIT
}

std::unique_ptr<std::string> AuthorizationMetadata(const grpc::ServerContextBase* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return nullptr;
  return std::make_unique<std::string>(it->second.data(), it->second.size());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

#define BERTH_GRPC_DEFINE(A)                                                                                    \
  grpc::ServerUnaryReactor* GrpcContainerService::A(grpc::CallbackServerContext* context,                       \
                                                    const v1::A##Request* request, v1::A##Response* response) { \
    return Dispatch(api_, metrics_, authority_, A##_metrics_, #A, context, request, response, &Api::A);         \
  }
BERTH_API_ACTIONS(BERTH_GRPC_DEFINE)
#undef BERTH_GRPC_DEFINE

}  // namespace berth::controlplane
