#include "src/controlplane/grpc_service.h"

#include <chrono>

namespace berth::controlplane {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* Dispatch(Api* api, Metrics* metrics, const char* method, grpc::CallbackServerContext* context,
                                   const Request* request, Response* response,
                                   void (Api::*action)(const Request&, Response*, Api::Done)) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  (api->*action)(*request, response, [reactor, metrics, method, start](absl::Status status) {
    metrics->ObserveRpc("grpc", method, status.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

#define BERTH_GRPC_DEFINE(A)                                                                                    \
  grpc::ServerUnaryReactor* GrpcContainerService::A(grpc::CallbackServerContext* context,                       \
                                                    const v1::A##Request* request, v1::A##Response* response) { \
    return Dispatch(api_, metrics_, #A, context, request, response, &Api::A);                                   \
  }
BERTH_API_ACTIONS(BERTH_GRPC_DEFINE)
#undef BERTH_GRPC_DEFINE

}  // namespace berth::controlplane
