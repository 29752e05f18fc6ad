// HttpServer: berthd's HTTP listener (--http-listen). Serves /metrics (Prometheus text format),
// /healthz and, on `POST /`, the AWS JSON 1.1 door (AwsGateway).
//
// Built on cpp-httplib (Debian's libcpp-httplib-dev): a small, well-kept HTTP/1.1 server packaged
// by Debian, with OpenSSL TLS (--tls-cert; tls.h). It serves each connection on a worker of a fixed
// thread pool for as long as the connection is kept alive, and an AWS request holds its worker
// until the Api completes the action (a durable write: milliseconds). So the pool bounds the
// connections served at once: SDK clients keep theirs alive, and a connection beyond the pool
// waits for a worker (Options::threads, --http-threads). The high-rate agent traffic goes over
// gRPC's callback API.
//
// Latency: responses go out with TCP_NODELAY. Without it, a response written in two parts (head,
// then body) waits for the client's delayed ACK (Nagle's algorithm): about 40 ms per call on a
// kept-alive connection, which every SDK call paid.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "src/controlplane/doors/aws_gateway.h"
#include "src/controlplane/doors/tls.h"

namespace httplib {
class Server;
}

namespace berth::controlplane {

class HttpServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;  // Prometheus text
    std::function<bool()> healthy;
    // The AWS JSON door on `POST /`; absent: `POST /` is 404. Called on an HTTP worker thread
    // and may block until the action completes.
    std::function<AwsHttpResponse(const AwsHttpRequest&)> aws;
  };

  struct Options {
    // Workers, hence connections served at once (each kept-alive connection holds one).
    int threads = 64;
    // Requests on one kept-alive connection before the server closes it (the client reconnects);
    // bounds how long one connection keeps a worker from connections waiting for one.
    int keep_alive_max_requests = 1000;
  };

  // With `tls` (not owned; outlives the server), every connection is TLS.
  HttpServer(Handlers handlers, Options options, tls::HttpContext* tls = nullptr);
  ~HttpServer();

  // Binds `host:port` (port 0 picks a free port) and serves on a background thread. Returns the
  // bound port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops listening and closes the connections at once: an idle keep-alive connection does not
  // hold the stop for cpp-httplib's keep-alive timeout (5 s); an answer being sent still goes out.
  void Stop();

 private:
  Handlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;        // bound by Start
  int listen_fd_ = -1;  // the listening socket, as cpp-httplib made it
};

}  // namespace berth::controlplane
