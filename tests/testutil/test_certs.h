// Certificates for TLS tests, made with the openssl command in a temporary directory: a CA, a
// server certificate for localhost and 127.0.0.1, and client certificates with chosen names.
#pragma once

#include <string>

namespace berth::testutil {

struct KeyPair {
  std::string cert;  // PEM file paths
  std::string key;
};

class TestCa {
 public:
  // Creates the CA's key and self-signed certificate under `dir` (which must exist), as `name`.
  TestCa(std::string dir, std::string name);

  bool ok() const { return ok_; }
  const std::string& cert() const { return cert_; }
  // A leaf certificate signed by this CA with common name `common_name` and the subject
  // alternative names `sans` ("DNS:x,IP:y"), written as `<dir>/<file>.pem` and `.key`.
  KeyPair Issue(const std::string& file, const std::string& common_name, const std::string& sans);
  // The server certificate every TLS test uses: localhost and 127.0.0.1.
  KeyPair IssueServer(const std::string& file) { return Issue(file, "localhost", "DNS:localhost,IP:127.0.0.1"); }

 private:
  std::string dir_;
  std::string cert_;
  std::string key_;
  bool ok_ = false;
};

// The content of a text file.
std::string ReadFile(const std::string& path);

// The serial number (hex) of the certificate a TLS server at HOST:PORT presents, as openssl
// s_client sees it with `ca` as its trust; "" when the handshake fails.
std::string PeerCertificateSerial(const std::string& address, const std::string& ca);

// The serial number (hex) of a PEM certificate file.
std::string CertificateSerial(const std::string& path);

}  // namespace berth::testutil
