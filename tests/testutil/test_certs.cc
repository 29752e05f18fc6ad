#include "tests/testutil/test_certs.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace berth::testutil {
namespace {

bool Run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

std::string Output(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), p) != nullptr) out += buffer;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

constexpr char kNewKey[] = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2";

}  // namespace

TestCa::TestCa(std::string dir, std::string name)
    : dir_(std::move(dir)), cert_(dir_ + "/" + name + ".pem"), key_(dir_ + "/" + name + ".key") {
  ok_ = Run(std::string(kNewKey) + " -keyout " + key_ + " -out " + cert_ + " -subj /CN=" + name);
}

KeyPair TestCa::Issue(const std::string& file, const std::string& common_name, const std::string& sans) {
  KeyPair pair{dir_ + "/" + file + ".pem", dir_ + "/" + file + ".key"};
  std::string command = std::string(kNewKey) + " -keyout " + pair.key + " -out " + pair.cert + " -subj /CN=" +
                        common_name + " -addext basicConstraints=critical,CA:FALSE -CA " + cert_ + " -CAkey " + key_;
  if (!sans.empty()) command += " -addext subjectAltName=" + sans;
  if (!Run(command)) return {};
  return pair;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string PeerCertificateSerial(const std::string& address, const std::string& ca) {
  return Output("openssl s_client -connect " + address + " -CAfile " + ca +
                " -verify_return_error -alpn h2 </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null");
}

std::string CertificateSerial(const std::string& path) {
  return Output("openssl x509 -noout -serial -in " + path + " 2>/dev/null");
}

}  // namespace berth::testutil
