#include "src/controlplane/auth/role_credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "berth/common/files.h"
#include "berth/common/strings.h"

namespace berth::controlplane::auth {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr std::string_view kTokenVersion = "bst1";

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    // No entropy is a broken machine, not bad input.
    std::abort();
  }
  return out;
}

absl::Status Refused(std::string message) { return absl::UnauthenticatedError(std::move(message)); }

}  // namespace

absl::StatusOr<RoleCredentials> RoleCredentials::Open(const std::string& key_path) {
  if (key_path.empty()) return RoleCredentials(RandomBytes(kKeyBytes));
  std::error_code ec;
  if (std::filesystem::exists(key_path, ec)) {
    std::ifstream in(key_path, std::ios::binary);
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return absl::InternalError(StrCat("cannot read ", key_path));
    if (key.size() != kKeyBytes) {
      return absl::DataLossError(StrCat(key_path, " is not a task credentials key (", key.size(), " bytes, not ",
                                        kKeyBytes, "): remove it to make a new one, which voids issued credentials"));
    }
    return RoleCredentials(std::move(key));
  }
  std::string key = RandomBytes(kKeyBytes);
  if (absl::Status s = WriteFileDurably(key_path, key, 0600); !s.ok()) return s;
  return RoleCredentials(std::move(key));
}

std::string RoleCredentials::Mac(std::string_view label, std::string_view data) const {
  std::string input = StrCat(label, "\n", data);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &length);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac), length));
}

IssuedCredentials RoleCredentials::Issue(std::string_view role, std::string_view task_arn, int64_t now) const {
  IssuedCredentials out;
  out.access_key_id = StrCat("ASIA", absl::AsciiStrToUpper(absl::BytesToHexString(RandomBytes(8))));
  out.expiration = now + kLifetimeSeconds;
  nlohmann::json claims = {
      {"r", std::string(role)}, {"t", std::string(task_arn)}, {"e", out.expiration}, {"k", out.access_key_id}};
  std::string payload;
  absl::WebSafeBase64Escape(claims.dump(), &payload);
  out.session_token = StrCat(kTokenVersion, ".", payload, ".", Mac("token", payload));
  out.secret_access_key = Mac("secret", payload).substr(0, 40);
  return out;
}

absl::StatusOr<SessionClaims> RoleCredentials::Verify(std::string_view access_key_id, std::string_view session_token,
                                                      int64_t now) const {
  const size_t first = session_token.find('.');
  const size_t last = session_token.rfind('.');
  if (first == std::string_view::npos || first == last || session_token.substr(0, first) != kTokenVersion) {
    return Refused("the security token included in the request is invalid");
  }
  const std::string_view payload = session_token.substr(first + 1, last - first - 1);
  const std::string_view mac = session_token.substr(last + 1);
  const std::string expected = Mac("token", payload);
  if (mac.size() != expected.size() || CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) {
    return Refused("the security token included in the request is invalid");
  }
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(absl::string_view(payload.data(), payload.size()), &decoded)) {
    return Refused("the security token included in the request is invalid");
  }
  nlohmann::json claims = nlohmann::json::parse(decoded, nullptr, false);
  if (claims.is_discarded() || !claims.is_object() || !claims.contains("r") || !claims["r"].is_string() ||
      !claims.contains("t") || !claims["t"].is_string() || !claims.contains("e") || !claims["e"].is_number_integer() ||
      !claims.contains("k") || !claims["k"].is_string()) {
    return Refused("the security token included in the request is invalid");
  }
  if (claims["k"].get<std::string>() != access_key_id) {
    return Refused("the security token was not issued with this access key id");
  }
  SessionClaims out;
  out.role = claims["r"].get<std::string>();
  out.task_arn = claims["t"].get<std::string>();
  out.expiration = claims["e"].get<int64_t>();
  if (now >= out.expiration)
    return absl::DeadlineExceededError("the security token included in the request is expired");
  out.secret_access_key = Mac("secret", payload).substr(0, 40);
  return out;
}

}  // namespace berth::controlplane::auth
