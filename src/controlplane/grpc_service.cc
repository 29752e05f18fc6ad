#include "src/controlplane/grpc_service.h"

#include <chrono>

namespace berth::controlplane {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* Dispatch(Api* api, Metrics* metrics, const Metrics::RpcMetrics* rpc,
                                   grpc::CallbackServerContext* context, const Request* request, Response* response,
                                   void (Api::*action)(const Request&, Response*, Api::Done)) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  (api->*action)(*request, response, api->AnswerWhenDurable([reactor, metrics, rpc, start](absl::Status status) {
    metrics->ObserveRpc(*rpc, status.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(status));
  }));
  return reactor;
}

}  // namespace

GrpcContainerService::GrpcContainerService(Api* api, Metrics* metrics) : api_(api), metrics_(metrics) {
#define BERTH_GRPC_METRICS_INIT(A) A##_metrics_ = metrics->ForRpc("grpc", #A);
  BERTH_API_ACTIONS(BERTH_GRPC_METRICS_INIT)
#undef BERTH_GRPC_METRICS_INIT
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

#define BERTH_GRPC_DEFINE(A)                                                                                    \
  grpc::ServerUnaryReactor* GrpcContainerService::A(grpc::CallbackServerContext* context,                       \
                                                    const v1::A##Request* request, v1::A##Response* response) { \
    return Dispatch(api_, metrics_, A##_metrics_, context, request, response, &Api::A);                         \
  }
BERTH_API_ACTIONS(BERTH_GRPC_DEFINE)
#undef BERTH_GRPC_DEFINE

}  // namespace berth::controlplane
