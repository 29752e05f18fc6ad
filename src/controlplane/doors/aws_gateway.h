// AwsGateway: the AWS JSON 1.1 door. Serves `POST /` with
// `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Action>` so the AWS CLI, boto3 and the AWS
// SDKs talk to berthd as they talk to ECS. Each request body is parsed with protobuf's JSON
// parser into the action's request message (the proto's JSON names are the ECS member names),
// handed to the same action gRPC calls, and the response message is printed back as JSON.
// Errors answer `{"__type": "<ECS exception>", "message": "..."}` (see docs/aws-compat.md).
//
// When authentication is on (auth::Authority), every request must carry a valid AWS Signature
// Version 4 (AWS4-HMAC-SHA256, credential scope <date>/<region>/ecs/aws4_request) made with a
// configured access key, or `Authorization: Bearer <token>`; the principal it names is then
// authorized for the action as on every door. With authentication off any request is accepted.
//
// Thread-safe: Handle may be called from any number of threads at once (cpp-httplib's workers).
// It blocks its caller until the Api completes the action.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/auth/auth.h"
#include "src/controlplane/metrics.h"

namespace berth::controlplane {

// One HTTP request as the gateway sees it (transport-neutral so tests need no socket).
struct AwsHttpRequest {
  std::string method;
  std::string raw_path;                                      // as sent, still percent-encoded, without the query
  std::vector<std::pair<std::string, std::string>> query;    // decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names in any case, in arrival order
  std::string body;
};

struct AwsHttpResponse {
  int status = 200;
  std::string body;  // JSON; content type application/x-amz-json-1.1
};

// AWS Signature Version 4 building blocks (exposed for tests; see AWS's "Create a signed AWS API
// request").
namespace sigv4 {

std::string Sha256Hex(std::string_view data);
// Percent-encodes everything but A-Z a-z 0-9 - _ . ~ (and '/' when `keep_slash`).
std::string UriEncode(std::string_view s, bool keep_slash);
// The canonical request over `signed_headers` (lowercase names, sorted as in the header).
std::string CanonicalRequest(const AwsHttpRequest& request, const std::vector<std::string>& signed_headers);
std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);
// Hex HMAC-SHA256 signature with the key derived from `secret`, `date` (YYYYMMDD), region, service.
std::string Signature(std::string_view secret, std::string_view date, std::string_view region, std::string_view service,
                      std::string_view string_to_sign);

}  // namespace sigv4

// Parses an `ACCESS_KEY_ID:SECRET` access key (--access-key); errors name the rule broken.
absl::StatusOr<std::pair<std::string, std::string>> ParseAccessKey(std::string_view text);

// The ECS actions outside Berth's schema (ecs.proto) that the door answers
// UnsupportedFeatureException rather than UnknownOperationException: the container agent's own
// actions, and the others (task sets, ExecuteCommand, service deployments, ...). The schema's
// actions that are not in BERTH_API_ACTIONS are answered so too. docs/aws-compat.md lists them.
std::vector<std::string_view> AgentOnlyEcsActions();
std::vector<std::string_view> OtherUnservedEcsActions();

class AwsGateway {
 public:
  static constexpr char kTargetPrefix[] = "AmazonEC2ContainerServiceV20141113.";
  // The CloudWatch Logs door on the same port (docs/logs.md): BERTH_LOGS_ACTIONS.
  static constexpr char kLogsTargetPrefix[] = "Logs_20140328.";
  static constexpr int64_t kMaxClockSkewSeconds = 15 * 60;

  struct Options {
    std::string region = "local";  // the region credential scopes must name
    // Authenticates, authorizes and audits; must outlive the gateway.
    auth::Authority* authority = nullptr;
    // Wall clock in epoch seconds (tests substitute a fixed time).
    std::function<int64_t()> now_seconds;
  };

  // `api` (and `metrics`, when not null) must outlive the gateway.
  AwsGateway(Api* api, Metrics* metrics, Options options);

  AwsHttpResponse Handle(const AwsHttpRequest& request) const;

 private:
  using Handler = std::function<AwsHttpResponse(const std::string& body, const auth::Identity& who)>;
  // Empty when the request may proceed (with `who` set), else the error response to send.
  std::optional<AwsHttpResponse> Authenticate(const AwsHttpRequest& request, auth::Identity* who) const;

  Options options_;
  absl::flat_hash_map<std::string, Handler> handlers_;
  absl::flat_hash_map<std::string, Handler> logs_handlers_;
};

}  // namespace berth::controlplane
