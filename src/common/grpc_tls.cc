#include "src/common/grpc_tls.h"

#include <fstream>
#include <sstream>

#include "berth/common/strings.h"

namespace berth {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, std::string_view setting, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(StrCat(setting, ": cannot read '", path, "'"));
  std::stringstream contents;
  contents << in.rdbuf();
  std::string pem = contents.str();
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(StrCat(setting, ": '", path, "' holds no PEM ", what));
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(const ClientTls& tls,
                                                                                std::string_view ca_setting,
                                                                                std::string_view cert_setting,
                                                                                std::string_view key_setting) {
  if (!tls.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!tls.ca_path.empty()) {
    auto ca = ReadPem(tls.ca_path, ca_setting, "certificate");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (tls.cert_path.empty() != tls.key_path.empty()) {
    return absl::InvalidArgumentError(
        StrCat(cert_setting, " and ", key_setting, " go together: a client certificate needs its key"));
  }
  if (!tls.cert_path.empty()) {
    auto cert = ReadPem(tls.cert_path, cert_setting, "certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(tls.key_path, key_setting, "private key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

}  // namespace berth
