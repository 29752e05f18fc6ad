// Client-side TLS for the gRPC channels of berth-agent and the berth CLI (docs/security.md,
// Transport). A private header of berth_grpc_tls: it includes gRPC's, which the public headers of
// include/berth/ never do.
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth {

struct ClientTls {
  bool enabled = false;
  std::string ca_path;    // PEM CA bundle that signed berthd's certificate; empty: the system's CAs
  std::string cert_path;  // PEM client certificate chain (mutual TLS); empty: none
  std::string key_path;   // its private key
};

// Channel credentials for `tls`: insecure when not enabled. Errors name the setting the file came
// from and the file.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientTls& tls, std::string_view ca_setting = "--tls-ca", std::string_view cert_setting = "--tls-cert",
    std::string_view key_setting = "--tls-key");

}  // namespace berth
