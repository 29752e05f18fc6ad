#include "src/controlplane/doors/aws_gateway.h"

#include <google/protobuf/descriptor.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <future>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "berth/common/ecs_json.h"
#include "berth/common/strings.h"
#include "src/controlplane/auth/authz.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace

namespace sigv4 {
namespace {

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

// Header values: leading/trailing space trimmed, inner runs of spaces collapsed to one.
std::string CanonicalHeaderValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : Trim(v)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

// The same lower-case hex SHA-256 the token store keys on.
std::string Sha256Hex(std::string_view data) { return auth::TokenSha256Hex(data); }

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

std::string CanonicalRequest(const AwsHttpRequest& request, const std::vector<std::string>& signed_headers) {
  std::string out = request.method + "\n";
  // Services other than S3 sign the path as sent, encoded once more.
  out += UriEncode(request.raw_path.empty() ? "/" : request.raw_path, /*keep_slash=*/true) + "\n";
  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [k, v] : request.query) query.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(query.begin(), query.end());
  for (size_t i = 0; i < query.size(); ++i) {
    if (i > 0) out += "&";
    out += query[i].first + "=" + query[i].second;
  }
  out += "\n";
  for (const std::string& name : signed_headers) {
    std::string values;
    for (const auto& [k, v] : request.headers) {
      if (!EqualsIgnoreCase(k, name)) continue;
      if (!values.empty()) values += ",";
      values += CanonicalHeaderValue(v);
    }
    out += name + ":" + values + "\n";
  }
  out += "\n";
  for (size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) out += ";";
    out += signed_headers[i];
  }
  out += "\n" + Sha256Hex(request.body);
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
  return StrCat("AWS4-HMAC-SHA256\n", amz_date, "\n", scope, "\n", Sha256Hex(canonical_request));
}

std::string Signature(std::string_view secret, std::string_view date, std::string_view region, std::string_view service,
                      std::string_view string_to_sign) {
  std::string key = HmacSha256(StrCat("AWS4", secret), date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  key = HmacSha256(key, "aws4_request");
  std::string sig = HmacSha256(key, string_to_sign);
  return Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

}  // namespace sigv4

absl::StatusOr<std::pair<std::string, std::string>> ParseAccessKey(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError("access key must be ACCESS_KEY_ID:SECRET");
  }
  std::string_view id = text.substr(0, colon);
  std::string_view secret = text.substr(colon + 1);
  if (id.size() < 16 || id.size() > 128 ||
      !std::all_of(id.begin(), id.end(), [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); })) {
    return absl::InvalidArgumentError("access key id must be 16-128 letters and digits (as AWS access key ids are)");
  }
  if (secret.size() < 16 || !std::all_of(secret.begin(), secret.end(),
                                         [](char c) { return absl::ascii_isgraph(static_cast<unsigned char>(c)); })) {
    return absl::InvalidArgumentError("access key secret must be at least 16 printable characters without spaces");
  }
  return std::make_pair(std::string(id), std::string(secret));
}

namespace {

AwsHttpResponse Error(int status, std::string_view type, std::string_view message) {
  // Messages may quote raw header bytes: invalid UTF-8 becomes U+FFFD rather than an exception.
  return {status, nlohmann::json{{"__type", type}, {"message", message}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

AwsHttpResponse ErrorFromStatus(const absl::Status& status) {
  std::string type = ErrorType(status);
  return Error(type == "ServerException" ? 500 : 400, type, std::string(status.message()));
}

const std::string* Header(const AwsHttpRequest& request, std::string_view name) {
  for (const auto& [k, v] : request.headers) {
    if (EqualsIgnoreCase(k, name)) return &v;
  }
  return nullptr;
}

template <typename Actions, typename Request, typename Response>
std::function<AwsHttpResponse(const std::string&, const auth::Identity&)> MakeHandler(
    Api* api, auth::Authority* authority, std::string_view name, const Metrics::RpcMetrics* rpc, Metrics* metrics,
    void (Actions::*action)(const Request&, Response*, Api::Done)) {
  return [api, authority, name, rpc, metrics, action](const std::string& body,
                                                      const auth::Identity& who) -> AwsHttpResponse {
    const auto start = std::chrono::steady_clock::now();
    Request request;
    if (absl::Status parsed = ecsjson::FromJson(body, &request); !parsed.ok()) {
      return Error(400, "SerializationException", StrCat("cannot parse the request body: ", parsed.message()));
    }
    std::string pinned;
    if (absl::Status admitted = auth::AdmitAction(*authority, *api, "aws", name, who, request, &pinned);
        !admitted.ok()) {
      return ErrorFromStatus(admitted);
    }
    auth::PinTaskDefinition(pinned, &request);  // the revision whose roles were checked is the one launched
    Response response;
    std::promise<absl::Status> done;
    // request and response live on this frame until the future is ready.
    (api->actions<Actions>().*action)(request, &response, api->AnswerWhenDurable([&done](absl::Status status) {
      done.set_value(std::move(status));
    }));
    absl::Status status = done.get_future().get();
    if (metrics != nullptr) {
      metrics->ObserveRpc(
          *rpc, status.code(),
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    }
    if (!status.ok()) return ErrorFromStatus(status);
    auth::FilterVisible(*authority, who, &response);
    auto printed =
        ecsjson::ToJson(response, {.tags_included = ecsjson::IncludesTags(request), .omit_extensions = true});
    if (!printed.ok()) return Error(500, "ServerException", "cannot print the response");
    return {200, printed->dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)};
  };
}

// "YYYYMMDDTHHMMSSZ" -> epoch seconds.
std::optional<int64_t> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len) { return std::stoi(std::string(s.substr(pos, len))); };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  return static_cast<int64_t>(timegm(&tm));
}

std::string FormatAmzDate(int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// ECS actions that are not in Berth's schema. The agent's actions: berth-agent speaks Berth's own
// agent protocol (berth.v1.AgentService, docs/agent.md) instead. The others (ECS's actions up to
// its 2025 model): task sets, ECS Exec's Session Manager sessions, the service deployment
// history, daemons and Express Mode gateway services.
constexpr std::string_view kAgentOnlyEcsActions[] = {
    "DiscoverPollEndpoint",
    "SubmitAttachmentStateChanges",
    "SubmitContainerStateChange",
    "SubmitTaskStateChange",
};
constexpr std::string_view kOtherUnservedEcsActions[] = {
    "CreateTaskSet",
    "DeleteTaskSet",
    "DescribeTaskSets",
    "UpdateServicePrimaryTaskSet",
    "UpdateTaskSet",
    "ExecuteCommand",
    "ContinueServiceDeployment",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "ListServiceDeployments",
    "StopServiceDeployment",
    "CreateDaemon",
    "DeleteDaemon",
    "DescribeDaemon",
    "ListDaemons",
    "UpdateDaemon",
    "DescribeDaemonDeployments",
    "DescribeDaemonRevisions",
    "ListDaemonDeployments",
    "RegisterDaemonTaskDefinition",
    "DeleteDaemonTaskDefinition",
    "DescribeDaemonTaskDefinition",
    "ListDaemonTaskDefinitions",
    "CreateExpressGatewayService",
    "DeleteExpressGatewayService",
    "DescribeExpressGatewayService",
    "UpdateExpressGatewayService",
};

// The answer for an ECS action Berth does not serve; nullopt when `action` is not an ECS action.
std::optional<AwsHttpResponse> UnservedEcsAction(const std::string& action) {
  auto listed = [&action](const auto& names) {
    return std::find(std::begin(names), std::end(names), action) != std::end(names);
  };
  if (listed(kAgentOnlyEcsActions) || action == "UpdateContainerAgent") {
    return Error(400, "UnsupportedFeatureException",
                 StrCat(action, " is an ECS container agent action that Berth does not serve: berth-agent speaks ",
                        "Berth's agent protocol (berth.v1.AgentService; see docs/agent.md)"));
  }
  const google::protobuf::ServiceDescriptor* ecs =
      v1::CreateClusterRequest::descriptor()->file()->FindServiceByName("ContainerService");
  if (listed(kOtherUnservedEcsActions) || (ecs != nullptr && ecs->FindMethodByName(action) != nullptr)) {
    return Error(400, "UnsupportedFeatureException",
                 StrCat(action, " is an ECS action Berth does not implement (see docs/aws-compat.md)"));
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string_view> AgentOnlyEcsActions() {
  return {std::begin(kAgentOnlyEcsActions), std::end(kAgentOnlyEcsActions)};
}

std::vector<std::string_view> OtherUnservedEcsActions() {
  return {std::begin(kOtherUnservedEcsActions), std::end(kOtherUnservedEcsActions)};
}

namespace {

constexpr char kSignatureMismatch[] =
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details.";

}  // namespace

AwsGateway::AwsGateway(Api* api, Metrics* metrics, Options options) : options_(std::move(options)) {
  if (!options_.now_seconds) {
    options_.now_seconds = [] {
      return static_cast<int64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
              .count());
    };
  }
#define BERTH_AWS_HANDLER(C, A) \
  handlers_[#A] =               \
      MakeHandler(api, options_.authority, #A, metrics ? metrics->ForRpc("aws", #A) : nullptr, metrics, &C::A);
  BERTH_API_ACTIONS(BERTH_AWS_HANDLER)
#undef BERTH_AWS_HANDLER
#define BERTH_AWS_LOGS_HANDLER(C, A)                            \
  logs_handlers_[#A] = MakeHandler(api, options_.authority, #A, \
                                   metrics ? metrics->ForRpc("aws", "Logs." #A) : nullptr, metrics, &C::A);
  BERTH_LOGS_ACTIONS(BERTH_AWS_LOGS_HANDLER)
#undef BERTH_AWS_LOGS_HANDLER
}

std::optional<AwsHttpResponse> AwsGateway::Authenticate(const AwsHttpRequest& request, auth::Identity* who) const {
  auth::Authority& authority = *options_.authority;
  const std::string* authorization = Header(request, "Authorization");
  const bool bearer = authorization != nullptr && EqualsIgnoreCase(authorization->substr(0, 7), "Bearer ");
  if (!authority.aws_enabled() || (authority.enabled() && bearer)) {
    // Authentication off (the anonymous identity), or an API token as on the gRPC door.
    auto identity = authority.Authenticate(authority.aws_enabled() ? authorization : nullptr);
    if (!identity.ok()) return Error(403, "UnrecognizedClientException", std::string(identity.status().message()));
    *who = *std::move(identity);
    return std::nullopt;
  }
  if (authorization == nullptr)
    return Error(400, "MissingAuthenticationTokenException", "Missing Authentication Token");
  std::string_view auth = *authorization;
  constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256 ";
  if (auth.substr(0, kAlgorithm.size()) != kAlgorithm) {
    return Error(400, "IncompleteSignatureException",
                 "Authorization header must use the AWS4-HMAC-SHA256 algorithm (AWS Signature Version 4) or be "
                 "`Bearer <token>`");
  }
  std::string credential, signed_headers_text, signature;
  for (const std::string& item : Split(auth.substr(kAlgorithm.size()), ',')) {
    std::string_view part = Trim(item);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "Credential") credential = std::string(value);
    if (key == "SignedHeaders") signed_headers_text = std::string(value);
    if (key == "Signature") signature = std::string(value);
  }
  std::string missing;
  if (credential.empty()) missing += "Authorization header requires 'Credential' parameter. ";
  if (signed_headers_text.empty()) missing += "Authorization header requires 'SignedHeaders' parameter. ";
  if (signature.empty()) missing += "Authorization header requires 'Signature' parameter. ";
  const std::string* amz_date = Header(request, "X-Amz-Date");
  if (amz_date == nullptr) missing += "Authorization header requires existence of a 'X-Amz-Date' header. ";
  if (!missing.empty()) {
    return Error(400, "IncompleteSignatureException", StrCat(Trim(missing), " Authorization=", auth));
  }
  std::vector<std::string> scope = Split(credential, '/');
  if (scope.size() != 5 || scope[4] != "aws4_request") {
    return Error(
        400, "IncompleteSignatureException",
        StrCat("Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request, got '", credential, "'"));
  }
  auto key = authority.AccessKey(scope[0]);
  if (const std::string* token = Header(request, "X-Amz-Security-Token"); !key && token != nullptr) {
    // Session credentials of a task role (docs/security.md, "Task role credentials").
    auto session = authority.SessionKey(scope[0], *token);
    if (!session.ok()) {
      const bool expired = absl::IsDeadlineExceeded(session.status());
      return Error(403, expired ? "ExpiredTokenException" : "UnrecognizedClientException",
                   std::string(session.status().message()));
    }
    key = *std::move(session);
  }
  if (!key) {
    return Error(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
  }
  std::optional<int64_t> date = ParseAmzDate(*amz_date);
  if (!date) {
    return Error(400, "IncompleteSignatureException",
                 StrCat("X-Amz-Date must be an ISO-8601 basic date such as 20150830T123600Z, got '", *amz_date, "'"));
  }
  if (scope[1] != amz_date->substr(0, 8)) {
    return Error(403, "InvalidSignatureException",
                 StrCat("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '",
                        scope[1], "' != '", amz_date->substr(0, 8), "', from '", *amz_date, "'."));
  }
  if (scope[2] != options_.region) {
    return Error(
        403, "InvalidSignatureException",
        StrCat("Credential should be scoped to a valid region: '", options_.region, "', not '", scope[2], "'."));
  }
  // The service the target's protocol belongs to: what the SDK signs for.
  const std::string* target = Header(request, "X-Amz-Target");
  const std::string_view logs = kLogsTargetPrefix;
  const std::string service = target != nullptr && target->compare(0, logs.size(), logs) == 0 ? "logs" : "ecs";
  if (scope[3] != service) {
    return Error(403, "InvalidSignatureException",
                 StrCat("Credential should be scoped to correct service: '", service, "'."));
  }
  const int64_t now = options_.now_seconds();
  if (*date < now - kMaxClockSkewSeconds) {
    return Error(400, "InvalidSignatureException",
                 StrCat("Signature expired: ", *amz_date, " is now earlier than ",
                        FormatAmzDate(now - kMaxClockSkewSeconds), " (", FormatAmzDate(now), " - 15 min.)"));
  }
  if (*date > now + kMaxClockSkewSeconds) {
    return Error(400, "InvalidSignatureException",
                 StrCat("Signature not yet current: ", *amz_date, " is still later than ",
                        FormatAmzDate(now + kMaxClockSkewSeconds), " (", FormatAmzDate(now), " + 15 min.)"));
  }
  std::vector<std::string> signed_headers = Split(signed_headers_text, ';');
  if (std::find(signed_headers.begin(), signed_headers.end(), "host") == signed_headers.end()) {
    return Error(400, "IncompleteSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  std::string string_to_sign =
      sigv4::StringToSign(*amz_date, StrCat(scope[1], "/", scope[2], "/", scope[3], "/aws4_request"),
                          sigv4::CanonicalRequest(request, signed_headers));
  std::string expected = sigv4::Signature(key->first, scope[1], scope[2], scope[3], string_to_sign);
  if (expected.size() != signature.size() || CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) {
    return Error(403, "InvalidSignatureException", kSignatureMismatch);
  }
  *who = std::move(key->second);
  return std::nullopt;
}

AwsHttpResponse AwsGateway::Handle(const AwsHttpRequest& request) const {
  const std::string* target = Header(request, "X-Amz-Target");
  auth::Identity who;
  if (auto refused = Authenticate(request, &who)) {
    const std::string_view prefix = kTargetPrefix;
    std::string action =
        target != nullptr && target->compare(0, prefix.size(), prefix) == 0 ? target->substr(prefix.size()) : "Unknown";
    options_.authority->AuditRefused("aws", action, refused->body);
    return *refused;
  }
  if (target == nullptr) {
    return Error(400, "UnknownOperationException",
                 StrCat("missing X-Amz-Target header: expected ", kTargetPrefix, "<Action>"));
  }
  if (const std::string_view logs = kLogsTargetPrefix; target->compare(0, logs.size(), logs) == 0) {
    const std::string action = target->substr(logs.size());
    auto handler = logs_handlers_.find(action);
    if (handler == logs_handlers_.end()) {
      return Error(400, "UnknownOperationException",
                   StrCat("operation '", action, "' is not a CloudWatch Logs action Berth serves (see docs/logs.md)"));
    }
    return handler->second(request.body, who);
  }
  std::string_view prefix = kTargetPrefix;
  if (target->compare(0, prefix.size(), prefix) != 0) {
    return Error(400, "UnknownOperationException",
                 StrCat("X-Amz-Target '", *target, "' is not ", kTargetPrefix, "<Action>"));
  }
  const std::string action = target->substr(prefix.size());
  auto handler = handlers_.find(action);
  if (handler == handlers_.end()) {
    // An ECS action Berth does not serve (of its schema: gRPC answers it UNIMPLEMENTED).
    if (auto unserved = UnservedEcsAction(action)) return *unserved;
    return Error(400, "UnknownOperationException",
                 StrCat("operation '", action, "' is not an ECS action (X-Amz-Target '", *target, "')"));
  }
  return handler->second(request.body, who);
}

}  // namespace berth::controlplane
