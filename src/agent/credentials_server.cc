#include "src/agent/credentials_server.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "berth/common/logging.h"
#include "berth/common/sockets.h"
#include "berth/common/strings.h"

namespace berth::agent {
namespace {

constexpr std::string_view kPrefix = "/v2/credentials/";
constexpr int64_t kRefreshBeforeExpirySeconds = 15 * 60;

std::string Message(std::string_view text) { return nlohmann::json{{"message", std::string(text)}}.dump(); }

}  // namespace

CredentialsServer::CredentialsServer(LookupFn lookup, const Clock* clock, FetchFn fetch)
    : lookup_(std::move(lookup)), clock_(clock), fetch_(std::move(fetch)) {}

CredentialsServer::~CredentialsServer() { Stop(); }

std::pair<int, std::string> CredentialsServer::Serve(const std::string& path) {
  if (path.substr(0, kPrefix.size()) != kPrefix) return {404, Message("not found")};
  auto owner = lookup_(path.substr(kPrefix.size()));
  if (!owner) return {404, Message("no running task has these credentials")};
  const int64_t now = clock_->NowMicros() / 1'000'000;
  v1::GetTaskCredentialsResponse credentials;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(owner->task_arn);
    if (it != cache_.end() && it->second.expiration() - kRefreshBeforeExpirySeconds > now) credentials = it->second;
  }
  if (credentials.access_key_id().empty()) {
    auto fetched = fetch_(owner->task_arn);
    if (!fetched.ok()) {
      log::Warn("task {}: credentials for its role: {}", owner->task_arn, fetched.status().ToString());
      return {502, Message(StrCat("berthd refused the task's credentials: ", fetched.status().message()))};
    }
    credentials = *std::move(fetched);
    std::lock_guard lock(mu_);
    // Drop what has expired, then keep these.
    for (auto it = cache_.begin(); it != cache_.end();) {
      it = it->second.expiration() <= now ? cache_.erase(it) : std::next(it);
    }
    cache_[owner->task_arn] = credentials;
  }
  nlohmann::json body = {
      {"RoleArn", credentials.role_arn()},
      {"AccessKeyId", credentials.access_key_id()},
      {"SecretAccessKey", credentials.secret_access_key()},
      {"Token", credentials.session_token()},
      {"Expiration",
       absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(credentials.expiration()), absl::UTCTimeZone())}};
  return {200, body.dump()};
}

absl::StatusOr<int> CredentialsServer::Start(const std::string& host, int port) {
  server_ = std::make_unique<httplib::Server>();
  server_->Get(R"(/v2/credentials/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    auto [status, body] = Serve(req.path);
    res.status = status;
    res.set_content(body, "application/json");
  });
  const int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return absl::UnavailableError(StrCat("--credentials-listen: cannot listen on ", host, ":", port,
                                         " (for 169.254.170.2, add the address first: see docs/agent.md)"));
  }
  port_ = bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void CredentialsServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (port_ > 0 && thread_.joinable()) ShutdownConnectionsOnPort(port_);
  if (thread_.joinable()) thread_.join();
}

}  // namespace berth::agent
