#include "src/controlplane/doors/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>

#include "berth/common/sockets.h"
#include "berth/common/strings.h"

namespace berth::controlplane {

HttpServer::HttpServer(Handlers handlers, Options options, tls::HttpContext* tls) : handlers_(std::move(handlers)) {
  if (tls != nullptr) {
    server_ = std::make_unique<httplib::SSLServer>([tls](SSL_CTX& ctx) { return tls->Setup(ctx); });
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which would let a second
  // berthd bind the same port and silently take half the connections.
  server_->set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    listen_fd_ = sock;
  });
  // On the listening socket; Linux gives accepted connections the listener's TCP_NODELAY.
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(static_cast<size_t>(std::max(1, options.keep_alive_max_requests)));
  const size_t threads = static_cast<size_t>(std::max(1, options.threads));
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(handlers_.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    if (handlers_.healthy()) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("unhealthy\n", "text/plain");
    }
  });
  if (handlers_.aws) {
    // The largest request an SDK sends is a RegisterTaskDefinition (ECS caps it at 64 KiB of
    // container definitions); 4 MiB matches the gRPC door's default message limit.
    server_->set_payload_max_length(4 << 20);
    server_->Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      AwsHttpRequest request;
      request.method = req.method;
      request.raw_path = req.target.substr(0, req.target.find('?'));
      for (const auto& [k, v] : req.params) request.query.emplace_back(k, v);
      for (const auto& [k, v] : req.headers) request.headers.emplace_back(k, v);
      request.body = req.body;
      AwsHttpResponse response = handlers_.aws(request);
      res.status = response.status;
      res.set_content(response.body, "application/x-amz-json-1.1");
    });
  }
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  if (!server_->is_valid()) return absl::InvalidArgumentError("http: the TLS certificate and key cannot be used");
  int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) return absl::UnavailableError(StrCat("http: cannot listen on ", host, ":", port));
  // cpp-httplib listens with a backlog of 5: clients that reconnect together (SDK connections
  // reaching keep_alive_max_requests at once) overflow it and wait out a 1 s SYN retransmit.
  // listen() again on the bound socket only raises the backlog.
  if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
  port_ = bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  // The listener is closed: what is left are the connections it accepted, whose server threads
  // wait for a next request that will not come (the stop joins them).
  if (port_ > 0 && thread_.joinable()) ShutdownConnectionsOnPort(port_);
  if (thread_.joinable()) thread_.join();
}

}  // namespace berth::controlplane
