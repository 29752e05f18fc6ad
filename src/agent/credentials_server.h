// CredentialsServer: the agent's task credentials endpoint (docs/security.md, "Task role
// credentials"). A task with a role has AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI set to
// /v2/credentials/<id>, an unguessable id of that task alone; GET on it answers the task's role
// credentials in the shape the AWS SDKs read from ECS:
//   {"RoleArn": ..., "AccessKeyId": ..., "SecretAccessKey": ..., "Token": ..., "Expiration": "...Z"}
// fetched from berthd (AgentService.GetTaskCredentials) and cached until 15 minutes before they
// expire. An unknown id, or one of a stopped task, is 404; berthd's refusal is 502 with its reason.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "berth/common/clock.h"
#include "berth/v1/agent.pb.h"
#include "src/agent/task_engine.h"

namespace httplib {
class Server;
}

namespace berth::agent {

class CredentialsServer {
 public:
  using FetchFn = std::function<absl::StatusOr<v1::GetTaskCredentialsResponse>(const std::string& task_arn)>;
  // The task a credentials id belongs to (TaskEngine::CredentialsOwnerOf).
  using LookupFn = std::function<std::optional<TaskEngine::CredentialsOwner>(const std::string& credentials_id)>;
  // `clock` must outlive the server; `fetch` asks berthd.
  CredentialsServer(LookupFn lookup, const Clock* clock, FetchFn fetch);
  ~CredentialsServer();

  // Listens on HOST:PORT (port 0: any); returns the port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops listening and closes the connections at once (an SDK's idle keep-alive connection does
  // not hold the agent's stop for the keep-alive timeout).
  void Stop();

  // The answer to GET `path` (exposed for tests): HTTP status and JSON body.
  std::pair<int, std::string> Serve(const std::string& path);

 private:
  LookupFn lookup_;
  const Clock* const clock_;
  FetchFn fetch_;
  std::mutex mu_;
  std::map<std::string, v1::GetTaskCredentialsResponse> cache_;  // by task ARN
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;  // bound by Start
};

}  // namespace berth::agent
