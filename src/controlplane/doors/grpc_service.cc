#include "src/controlplane/doors/grpc_service.h"

#include <chrono>
#include <memory>
#include <string>

#include "src/controlplane/auth/authz.h"

namespace berth::controlplane {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename Actions, typename Request, typename Response>
grpc::ServerUnaryReactor* Dispatch(Api* api, Metrics* metrics, auth::Authority* authority,
                                   const Metrics::RpcMetrics* rpc, std::string_view action_name,
                                   grpc::CallbackServerContext* context, const Request* request, Response* response,
                                   void (Actions::*action)(const Request&, Response*, Api::Done)) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  auto finish = [reactor, metrics, rpc, start](const absl::Status& status) {
    metrics->ObserveRpc(*rpc, status.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(status));
  };
  auto who = IdentifyCall(*authority, "grpc", action_name, context);
  if (!who.ok()) {
    finish(who.status());
    return reactor;
  }
  std::string pinned;
  if (absl::Status admitted = auth::AdmitAction(*authority, *api, "grpc", action_name, *who, *request, &pinned);
      !admitted.ok()) {
    finish(admitted);
    return reactor;
  }
  // The revision whose roles were checked is the one launched; the copy lives until the answer.
  std::shared_ptr<Request> pinned_request;
  if (!pinned.empty()) {
    pinned_request = std::make_shared<Request>(*request);
    if (!auth::PinTaskDefinition(pinned, pinned_request.get())) pinned_request.reset();
  }
  (api->actions<Actions>().*action)(
      pinned_request != nullptr ? *pinned_request : *request, response,
      api->AnswerWhenDurable([finish, authority, who = *std::move(who), response, pinned_request](absl::Status status) {
        if (status.ok()) auth::FilterVisible(*authority, who, response);
        finish(status);
      }));
  return reactor;
}

}  // namespace

GrpcContainerService::GrpcContainerService(Api* api, Metrics* metrics, auth::Authority* authority)
    : api_(api), metrics_(metrics), authority_(authority) {
#define BERTH_GRPC_METRICS_INIT(C, A) A##_metrics_ = metrics->ForRpc("grpc", #A);
  BERTH_API_ACTIONS(BERTH_GRPC_METRICS_INIT)
#undef BERTH_GRPC_METRICS_INIT
}

CallCredentials CredentialsOf(const grpc::ServerContextBase* context, const auth::Authority& authority) {
  CallCredentials credentials;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    credentials.authorization = std::make_unique<std::string>(it->second.data(), it->second.size());
  }
  // The auth context costs an allocation; only worth it when a certificate can name a principal.
  if (authority.enabled() && credentials.authorization == nullptr) {
    std::shared_ptr<const grpc::AuthContext> peer = context->auth_context();
    if (peer != nullptr && peer->IsPeerAuthenticated()) {
      for (const char* property : {GRPC_X509_SAN_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
        for (const grpc::string_ref& name : peer->FindPropertyValues(property)) {
          credentials.certificate_names.emplace_back(name.data(), name.size());
        }
      }
    }
  }
  return credentials;
}

absl::StatusOr<auth::Identity> IdentifyCall(auth::Authority& authority, std::string_view door, std::string_view action,
                                            const grpc::ServerContextBase* context) {
  CallCredentials credentials = CredentialsOf(context, authority);
  return auth::Identify(authority, door, action, credentials.authorization.get(), credentials.certificate_names);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

#define BERTH_GRPC_DEFINE(C, A)                                                                                 \
  grpc::ServerUnaryReactor* GrpcContainerService::A(grpc::CallbackServerContext* context,                       \
                                                    const v1::A##Request* request, v1::A##Response* response) { \
    return Dispatch(api_, metrics_, authority_, A##_metrics_, #A, context, request, response, &C::A);           \
  }
BERTH_API_ACTIONS(BERTH_GRPC_DEFINE)
#undef BERTH_GRPC_DEFINE

GrpcLogsService::GrpcLogsService(Api* api, Metrics* metrics, auth::Authority* authority)
    : api_(api), metrics_(metrics), authority_(authority) {
#define BERTH_GRPC_METRICS_INIT(C, A) A##_metrics_ = metrics->ForRpc("grpc", "Logs." #A);
  BERTH_LOGS_ACTIONS(BERTH_GRPC_METRICS_INIT)
#undef BERTH_GRPC_METRICS_INIT
}

#define BERTH_GRPC_LOGS_DEFINE(C, A)                                                                  \
  grpc::ServerUnaryReactor* GrpcLogsService::A(grpc::CallbackServerContext* context,                  \
                                               const LogActionTypes<&C::A>::Request* request,         \
                                               LogActionTypes<&C::A>::Response* response) {           \
    return Dispatch(api_, metrics_, authority_, A##_metrics_, #A, context, request, response, &C::A); \
  }
BERTH_LOGS_ACTIONS(BERTH_GRPC_LOGS_DEFINE)
#undef BERTH_GRPC_LOGS_DEFINE

}  // namespace berth::controlplane
