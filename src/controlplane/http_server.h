// HttpServer: berthd's HTTP listener (--http-listen). Serves /metrics (Prometheus text format)
// and /healthz. The AWS JSON door will mount on the same listener.
//
// Built on cpp-httplib (Debian's libcpp-httplib-dev): a small, well-kept HTTP/1.1 server with
// optional OpenSSL TLS. It serves each connection on a worker of a fixed thread pool; berthd's
// HTTP traffic is low-rate operator traffic, so that model is a fine trade for simplicity.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace berth::controlplane {

class HttpServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;  // Prometheus text
    std::function<bool()> healthy;
  };

  explicit HttpServer(Handlers handlers);
  ~HttpServer();

  // Binds `host:port` (port 0 picks a free port) and serves on a background thread. Returns the
  // bound port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  void Stop();

 private:
  Handlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace berth::controlplane
