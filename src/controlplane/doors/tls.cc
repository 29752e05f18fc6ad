#include "src/controlplane/doors/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "berth/common/strings.h"

namespace berth::controlplane::tls {
namespace {

// OpenSSL's reason for the last failure, and an empty error queue.
std::string OpenSslError() {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Loads the certificate chain and key of `files` into `ctx` and checks that they match.
absl::Status LoadIdentity(SSL_CTX* ctx, const ServerFiles& files) {
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_path.c_str()) != 1) {
    return absl::InvalidArgumentError(
        StrCat("--tls-cert: cannot load a PEM certificate chain from '", files.cert_path, "': ", OpenSslError()));
  }
  EVP_PKEY* key = nullptr;
  if (BIO* in = BIO_new_file(files.key_path.c_str(), "r"); in != nullptr) {
    key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
  }
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("--tls-key: cannot load a PEM private key from '", files.key_path, "': ", OpenSslError()));
  }
  const bool matches = X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) == 1;
  const bool used = matches && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!matches) {
    ERR_clear_error();
    return absl::InvalidArgumentError(StrCat("--tls-key: the key in '", files.key_path,
                                             "' does not belong to the certificate in '", files.cert_path, "'"));
  }
  if (!used) return absl::InvalidArgumentError(StrCat("--tls-key: ", OpenSslError()));
  return absl::OkStatus();
}

absl::StatusOr<SSL_CTX*> NewServerContext(const ServerFiles& files) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError(StrCat("TLS: ", OpenSslError()));
  if (absl::Status s = LoadIdentity(ctx, files); !s.ok()) {
    SSL_CTX_free(ctx);
    return s;
  }
  return ctx;
}

}  // namespace

absl::Status Check(const ServerFiles& files) {
  if (files.cert_path.empty() != files.key_path.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together: give both or neither");
  }
  if (!files.client_ca_path.empty() && files.cert_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca needs --tls-cert and --tls-key: clients verify the server first");
  }
  if (!files.enabled()) return absl::OkStatus();
  auto ctx = NewServerContext(files);
  if (!ctx.ok()) return ctx.status();
  absl::Status status;
  if (!files.client_ca_path.empty()) {
    // The bundle must hold at least one certificate: an empty one would refuse every client.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_path.c_str());
    if (names == nullptr || sk_X509_NAME_num(names) == 0) {
      status = absl::InvalidArgumentError(
          StrCat("--tls-client-ca: no PEM CA certificate could be read from '", files.client_ca_path, "'"));
    }
    if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
    ERR_clear_error();
  }
  SSL_CTX_free(*ctx);
  return status;
}

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const ServerFiles& files, unsigned refresh_seconds) {
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key_path, files.cert_path, files.client_ca_path, refresh_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!files.client_ca_path.empty()) {
    options.watch_root_certs();
    // Agents present certificates; CLI users may present a token instead, so a certificate is
    // asked for and verified when sent, not required.
    options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::unique_ptr<HttpContext>> HttpContext::Create(ServerFiles files) {
  auto ctx = NewServerContext(files);
  if (!ctx.ok()) return ctx.status();
  std::unique_ptr<HttpContext> context(new HttpContext(std::move(files)));
  absl::MutexLock lock(&context->mu_);
  context->current_ = *ctx;
  return context;
}

HttpContext::~HttpContext() {
  absl::MutexLock lock(&mu_);
  SSL_CTX_free(current_);
}

bool HttpContext::Setup(SSL_CTX& ctx) {
  if (!LoadIdentity(&ctx, files_).ok()) return false;
  SSL_CTX_set_client_hello_cb(&ctx, &HttpContext::OnClientHello, this);
  return true;
}

int HttpContext::OnClientHello(SSL* ssl, int* /*alert*/, void* self) {
  auto* context = static_cast<HttpContext*>(self);
  absl::MutexLock lock(&context->mu_);
  // Takes a reference of its own: a Reload() during the handshake frees only the context's.
  if (SSL_get_SSL_CTX(ssl) != context->current_) SSL_set_SSL_CTX(ssl, context->current_);
  return SSL_CLIENT_HELLO_SUCCESS;
}

absl::Status HttpContext::Reload() {
  auto ctx = NewServerContext(files_);
  if (!ctx.ok()) return ctx.status();
  SSL_CTX* previous = nullptr;
  {
    absl::MutexLock lock(&mu_);
    previous = current_;
    current_ = *ctx;
  }
  SSL_CTX_free(previous);
  return absl::OkStatus();
}

}  // namespace berth::controlplane::tls
