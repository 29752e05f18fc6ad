// TLS for berthd's doors (docs/security.md): the server certificate and key of --tls-cert and
// --tls-key on gRPC and HTTP, and client certificates verified against --tls-client-ca on gRPC
// (mutual TLS: a verified certificate names a principal of --auth-config).
//
// gRPC serves through its own TLS stack from the files, re-read by gRPC's file watcher; the HTTP
// door (cpp-httplib over OpenSSL) swaps in a freshly loaded context on Reload() (SIGHUP), which
// every later handshake uses. Connections already open keep the certificate they began with.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace berth::controlplane::tls {

struct ServerFiles {
  std::string cert_path;       // PEM chain, leaf first (--tls-cert)
  std::string key_path;        // PEM private key (--tls-key)
  std::string client_ca_path;  // PEM CA bundle for client certificates (--tls-client-ca); empty: none asked
  bool enabled() const { return !cert_path.empty(); }
};

// Loads the files as a TLS 1.2+ server would, so that a missing file, a file that is not PEM or a
// key that does not match the certificate is refused at start (and on reload) naming the flag.
absl::Status Check(const ServerFiles& files);

// gRPC server credentials reading the files every `refresh_seconds`. With a client CA, a client
// that presents a certificate must present one the CA signed; a client without one is still
// served (it authenticates with a token instead).
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const ServerFiles& files, unsigned refresh_seconds);

// The HTTP door's OpenSSL context, reloadable.
class HttpContext {
 public:
  static absl::StatusOr<std::unique_ptr<HttpContext>> Create(ServerFiles files);
  ~HttpContext();

  // Configures the context cpp-httplib's SSLServer made: the current certificate and key, TLS 1.2
  // at least, and a hello callback that moves each new handshake onto the newest context.
  bool Setup(SSL_CTX& ctx);
  // Re-reads the files; on error the previous certificate stays in use.
  absl::Status Reload();

 private:
  explicit HttpContext(ServerFiles files) : files_(std::move(files)) {}
  static int OnClientHello(SSL* ssl, int* alert, void* self);

  const ServerFiles files_;
  absl::Mutex mu_;
  SSL_CTX* current_ ABSL_GUARDED_BY(mu_) = nullptr;  // owned (one reference)
};

}  // namespace berth::controlplane::tls
