#include "src/controlplane/doors/agent_service.h"

#include <atomic>
#include <chrono>

#include "berth/common/strings.h"
#include "src/controlplane/auth/authz.h"
#include "src/controlplane/doors/grpc_service.h"

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
    // Poll fences its own answers (AgentProtocol::Poll): `done` is not wrapped with AnswerWhenDurable.
    waiter_.store(api_->agent().Poll(*request, response,
                                     [this, start](absl::Status status) {
                                       // Long polls are counted, but their latency is the wait, not work.
                                       metrics_->ObserveRpc(*rpc_, status.code(),
                                                            status.ok() ? 0 : NowMicros() - start);
                                       Finish(ToGrpcStatus(status));
                                     }),
                  std::memory_order_release);
  }

  void OnCancel() override {
    uint64_t id = waiter_.load(std::memory_order_acquire);
    if (id != 0) api_->agent().CancelPoll(id);
  }
  void OnDone() override { delete this; }

 private:
  Api* const api_;
  Metrics* const metrics_;
  const Metrics::RpcMetrics* const rpc_;
  std::atomic<uint64_t> waiter_{0};
};

// The container instance a request acts as: (cluster field, instance field).
std::pair<const std::string&, const std::string&> InstanceFields(const v1::RegisterContainerInstanceRequest& r) {
  return {r.cluster(), r.container_instance_arn()};
}
template <typename Request>
std::pair<const std::string&, const std::string&> InstanceFields(const Request& r) {
  return {r.cluster(), r.container_instance()};
}

// Authenticates and authorizes an agent call before the Api sees it, and returns the agent
// credential it presented (docs/security.md, "Agents: join tokens"):
// - a join token registers a new instance and nothing else (the Api checks the token itself);
// - an instance credential acts as its own instance only, on every agent action;
// - anything else goes through --auth-config's principals and policies, and then, with
//   authentication on, may not act for an instance that registered with a join token.
template <typename Request>
absl::StatusOr<AgentCredential> AdmitCall(Api* api, auth::Authority* authority, std::string_view action,
                                          const grpc::CallbackServerContext* context, const Request& request) {
  CallCredentials presented = CredentialsOf(context, *authority);
  AgentCredential credential = ParseAgentCredential(presented.authorization.get());
  const auto [cluster, instance] = InstanceFields(request);
  using Kind = AgentCredential::Kind;
  if (credential.kind == Kind::kNone) {
    auto who = auth::Identify(*authority, "agent", action, presented.authorization.get(), presented.certificate_names);
    if (!who.ok()) return who.status();
    RETURN_IF_ERROR(auth::Admit(*authority, "agent", action, *who, request));
    RETURN_IF_ERROR(api->instances().AdmitInstanceCaller(cluster, instance, credential, authority->enabled()));
    return credential;
  }
  absl::Status admitted;
  std::string principal;
  if (credential.kind == Kind::kJoinToken) {
    principal = StrCat("join-token/", credential.id);
    if (action != "RegisterInstance") {
      admitted = WithType(absl::PermissionDeniedError("a join token only registers new container instances; poll and "
                                                      "report with the instance credential registration answered"),
                          "AccessDeniedException");
    } else {
      admitted = api->instances().CheckJoinToken(cluster, credential);
    }
  } else {
    principal = StrCat("instance/", credential.id);
    admitted = api->instances().AdmitInstanceCaller(cluster, instance, credential, authority->enabled());
  }
  if (!admitted.ok()) {
    authority->AuditRefused("agent", action, std::string(admitted.message()), principal,
                            absl::IsPermissionDenied(admitted) ? "Deny" : "Unauthenticated");
    return admitted;
  }
  // Authorized by the credential itself; the audit log still names who acted.
  auth::Identity who{.principal = principal,
                     .unrestricted = true,
                     .policies = {},
                     .config = nullptr,
                     .allowed_by = credential.kind == Kind::kJoinToken ? "join token" : "instance credential"};
  RETURN_IF_ERROR(auth::Admit(*authority, "agent", action, who, request));
  return credential;
}

}  // namespace

GrpcAgentService::GrpcAgentService(Api* api, Metrics* metrics, auth::Authority* authority)
    : api_(api),
      metrics_(metrics),
      authority_(authority),
      register_metrics_(metrics->ForRpc("agent", "RegisterInstance")),
      poll_metrics_(metrics->ForRpc("agent", "Poll")),
      report_metrics_(metrics->ForRpc("agent", "ReportStateChanges")),
      credentials_metrics_(metrics->ForRpc("agent", "GetTaskCredentials")),
      logs_metrics_(metrics->ForRpc("agent", "PushLogs")) {}

grpc::ServerUnaryReactor* GrpcAgentService::RegisterInstance(grpc::CallbackServerContext* context,
                                                             const v1::RegisterContainerInstanceRequest* request,
                                                             v1::RegisterContainerInstanceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  auto credential = AdmitCall(api_, authority_, "RegisterInstance", context, *request);
  if (!credential.ok()) {
    metrics_->ObserveRpc(*register_metrics_, credential.status().code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(credential.status()));
    return reactor;
  }
  api_->instances().RegisterInstance(*request, response, *credential,
                                     api_->AnswerWhenDurable([this, reactor, start](absl::Status status) {
                                       metrics_->ObserveRpc(*register_metrics_, status.code(), NowMicros() - start);
                                       reactor->Finish(ToGrpcStatus(status));
                                     }));
  return reactor;
}

grpc::ServerUnaryReactor* GrpcAgentService::Poll(grpc::CallbackServerContext* context, const v1::PollRequest* request,
                                                 v1::PollResponse* response) {
  if (auto admitted = AdmitCall(api_, authority_, "Poll", context, *request); !admitted.ok()) {
    metrics_->ObserveRpc(*poll_metrics_, admitted.status().code(), 0);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(admitted.status()));
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
  if (auto admitted = AdmitCall(api_, authority_, "ReportStateChanges", context, *request); !admitted.ok()) {
    metrics_->ObserveRpc(*report_metrics_, admitted.status().code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(admitted.status()));
    return reactor;
  }
  api_->agent().ReportStateChanges(*request, response,
                                   api_->AnswerWhenDurable([this, reactor, start](absl::Status status) {
                                     metrics_->ObserveRpc(*report_metrics_, status.code(), NowMicros() - start);
                                     reactor->Finish(ToGrpcStatus(status));
                                   }));
  return reactor;
}

grpc::ServerUnaryReactor* GrpcAgentService::GetTaskCredentials(grpc::CallbackServerContext* context,
                                                               const v1::GetTaskCredentialsRequest* request,
                                                               v1::GetTaskCredentialsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(AdmitCall(api_, authority_, "GetTaskCredentials", context, *request).status());
    ASSIGN_OR_RETURN(std::string role, api_->agent().TaskRoleOf(*request));
    ASSIGN_OR_RETURN(auth::IssuedCredentials issued, authority_->IssueRoleCredentials(role, request->task_arn()));
    response->set_role_arn(auth::RoleArn(authority_->arns(), role));
    response->set_access_key_id(issued.access_key_id);
    response->set_secret_access_key(issued.secret_access_key);
    response->set_session_token(issued.session_token);
    response->set_expiration(issued.expiration);
    return absl::OkStatus();
  }();
  metrics_->ObserveRpc(*credentials_metrics_, status.code(), NowMicros() - start);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Off the commit pipeline and off this thread: the batch waits for the log store's ingest thread
// (LogIngest), which answers.
grpc::ServerUnaryReactor* GrpcAgentService::PushLogs(grpc::CallbackServerContext* context,
                                                     const v1::PushLogsRequest* request,
                                                     v1::PushLogsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t start = NowMicros();
  auto finish = [this, reactor, start](absl::Status status) {
    metrics_->ObserveRpc(*logs_metrics_, status.code(), NowMicros() - start);
    reactor->Finish(ToGrpcStatus(status));
  };
  absl::Status admitted = AdmitCall(api_, authority_, "PushLogs", context, *request).status();
  if (!admitted.ok()) {
    finish(std::move(admitted));
    return reactor;
  }
  const std::string& instance = request->container_instance();
  const std::string writer =
      StrCat("instance/", request->cluster(), "/", instance.substr(instance.rfind('/') + 1), "/", request->spool_id());
  api_->logs().PushLogs(writer, *request, response, std::move(finish));
  return reactor;
}

}  // namespace berth::controlplane
