#include "src/controlplane/agent_service.h"

#include <atomic>
#include <chrono>

#include "src/controlplane/authz.h"
#include "src/controlplane/grpc_service.h"

namespace berth::controlplane {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A Poll in flight. Owns itself: deleted when gRPC is done with it. A client that goes away
// cancels the parked poll (OnCancel), which Api then completes with CANCELLED.
class PollReactor final : public grpc::ServerUnaryReactor {
 public:
  PollReactor(Api* api, Metrics* metrics, const Metrics::RpcMetrics* rpc) : api_(api), metrics_(metrics), rpc_(rpc) {}

  void Start(const v1::PollRequest* request, v1::PollResponse* response) {
    const int64_t start = NowMicros();
    waiter_.store(api_->Poll(*request, response, api_->AnswerWhenDurable([this, start](absl::Status status) {
      // Long polls are counted, but their latency is the wait, not work.
      metrics_->ObserveRpc(*rpc_, status.code(), status.ok() ? 0 : NowMicros() - start);
      Finish(ToGrpcStatus(status));
    })),
                  std::memory_order_release);
  }

  void OnCancel() override {
    uint64_t id = waiter_.load(std::memory_order_acquire);
    if (id != 0) api_->CancelPoll(id);
  }
  void OnDone() override { delete this; }

 private:
  Api* const api_;
  Metrics* const metrics_;
  const Metrics::RpcMetrics* const rpc_;
  std::atomic<uint64_t> waiter_{0};
};

// Authenticates and authorizes an agent call before the Api sees it.
template <typename Request>
absl::Status AdmitCall(auth::Authority* authority, std::string_view action, const grpc::CallbackServerContext* context,
                       const Request& request) {
  auto who = IdentifyCall(*authority, "agent", action, context);
  if (!who.ok()) return who.status();
  return auth::Admit(*authority, "agent", action, *who, request);
}

}  // namespace

GrpcAgentService::GrpcAgentService(Api* api, Metrics* metrics, auth::Authority* authority)
    : api_(api),
      metrics_(metrics),
      authority_(authority),
      register_metrics_(metrics->ForRpc("agent", "RegisterInstance")),
      poll_metrics_(metrics->ForRpc("agent", "Poll")),
      report_metrics_(metrics->ForRpc("agent", "ReportStateChanges")) {}

grpc::ServerUnaryReactor* GrpcAgentService::RegisterInstance(grpc::CallbackServerContext* context,
                                                             const v1::RegisterContainerInstanceRequest* request,
                                                             v1::RegisterContainerInstanceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  if (absl::Status st = AdmitCall(authority_, "RegisterInstance", context, *request); !st.ok()) {
    metrics_->ObserveRpc(*register_metrics_, st.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  api_->RegisterInstance(*request, response, api_->AnswerWhenDurable([this, reactor, start](absl::Status status) {
    metrics_->ObserveRpc(*register_metrics_, status.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(status));
  }));
  return reactor;
}

grpc::ServerUnaryReactor* GrpcAgentService::Poll(grpc::CallbackServerContext* context, const v1::PollRequest* request,
                                                 v1::PollResponse* response) {
  if (absl::Status st = AdmitCall(authority_, "Poll", context, *request); !st.ok()) {
    metrics_->ObserveRpc(*poll_metrics_, st.code(), 0);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  auto* reactor = new PollReactor(api_, metrics_, poll_metrics_);
  reactor->Start(request, response);
  return reactor;
}

grpc::ServerUnaryReactor* GrpcAgentService::ReportStateChanges(grpc::CallbackServerContext* context,
                                                               const v1::ReportStateChangesRequest* request,
                                                               v1::ReportStateChangesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  if (absl::Status st = AdmitCall(authority_, "ReportStateChanges", context, *request); !st.ok()) {
    metrics_->ObserveRpc(*report_metrics_, st.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  api_->ReportStateChanges(*request, response, api_->AnswerWhenDurable([this, reactor, start](absl::Status status) {
    metrics_->ObserveRpc(*report_metrics_, status.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(status));
  }));
  return reactor;
}

}  // namespace berth::controlplane
