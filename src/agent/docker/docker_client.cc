#include "src/agent/docker/docker_client.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "berth/common/logging.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::agent::docker {
namespace {

// A response body kept in memory is bounded: the engine is trusted to be sane, not to be small.
constexpr size_t kMaxResponseBytes = 64 << 20;
// Of a streamed response (a pull's progress) only the beginning is kept, for error messages.
constexpr size_t kMaxStreamedBodyKept = 64 << 10;
// The longest daemon message quoted in an error.
constexpr size_t kMaxQuotedMessage = 2048;
// Request::timeout for a call that may last as long as the engine keeps answering (a log follow).
constexpr std::chrono::milliseconds kNoTimeout{-1};

// "1.41" -> {1, 41}.
std::optional<std::pair<int, int>> ParseApiVersion(std::string_view text) {
  size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  int major = 0;
  int minor = 0;
  if (!ParseInt(text.substr(0, dot), &major) || !ParseInt(text.substr(dot + 1), &minor)) return std::nullopt;
  if (major < 0 || minor < 0) return std::nullopt;
  return std::make_pair(major, minor);
}

bool IsUnreserved(unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'; }

// Percent-encodes a query parameter value.
std::string QueryEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out.append(buf);
    }
  }
  return out;
}

// Percent-encodes a path segment that names an object. Image references keep their '/', ':' and
// '@' (the engine routes /images/{name:.*}/json); ids and names of other objects have none.
std::string PathEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (IsUnreserved(c) || c == '/' || c == ':' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out.append(buf);
    }
  }
  return out;
}

// The path without its query, for messages.
std::string_view PathForMessage(std::string_view path) { return path.substr(0, path.find('?')); }

std::string Truncate(std::string text) {
  if (text.size() > kMaxQuotedMessage) {
    text.resize(kMaxQuotedMessage);
    text.append("...");
  }
  return text;
}

// The daemon's `message` from an error body, or the body itself when it is not such JSON.
std::string DaemonMessage(const std::string& body) {
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    auto it = parsed.find("message");
    if (it != parsed.end() && it->is_string()) return Truncate(it->get<std::string>());
  }
  std::string trimmed = body;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
  if (trimmed.empty()) return "(no message)";
  return Truncate(std::move(trimmed));
}

absl::StatusCode CodeForHttpStatus(long http_status, absl::StatusCode conflict_code) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return conflict_code;
    case 500:
      return absl::StatusCode::kInternal;
    default:
      break;
  }
  if (http_status >= 500) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kUnknown;
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view what, const std::string& body) {
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InternalError(
        StrCat("the Docker engine answered ", what, " with malformed JSON: ", Truncate(body.substr(0, 200))));
  }
  return parsed;
}

// The string field `field` of an object, or INTERNAL naming it.
absl::StatusOr<std::string> StringField(std::string_view what, const nlohmann::json& object, const char* field) {
  if (object.is_object()) {
    auto it = object.find(field);
    if (it != object.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return it->get<std::string>();
    }
  }
  return absl::InternalError(StrCat("the Docker engine's answer to ", what, " has no string field \"", field, "\""));
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsTagChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; }

}  // namespace

absl::StatusOr<ImageReference> ParseImageReference(std::string_view reference) {
  auto invalid = [&](std::string_view rule) {
    return absl::InvalidArgumentError(StrCat("image reference \"", reference, "\": ", rule));
  };
  if (reference.empty()) return invalid("must not be empty");
  for (char c : reference) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) {
      return invalid("must not contain whitespace or control characters");
    }
  }
  ImageReference out;
  std::string_view rest = reference;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    size_t colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == digest.size()) {
      return invalid("the digest after '@' must be <algorithm>:<hex>, e.g. sha256:...");
    }
    for (char c : digest.substr(colon + 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) {
        return invalid("the digest must be lowercase hex after the algorithm");
      }
    }
    if (digest.substr(0, colon) == "sha256" && digest.size() - colon - 1 != 64) {
      return invalid("a sha256 digest has 64 hex digits");
    }
    out.digest = std::string(digest);
  }
  // A ':' after the last '/' separates the tag; one before it belongs to the registry's port.
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (tag.empty() || tag.size() > 128 || tag.front() == '.' || tag.front() == '-' ||
        !std::all_of(tag.begin(), tag.end(), IsTagChar)) {
      return invalid("a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
    }
    out.tag = std::string(tag);
  }
  if (rest.empty() || rest.front() == '/' || rest.back() == '/' || rest.find("//") != std::string_view::npos) {
    return invalid("the repository must be [registry[:port]/]name[/name...]");
  }
  out.repository = std::string(rest);
  if (out.tag.empty() && out.digest.empty()) out.tag = "latest";
  return out;
}

struct DockerClient::Request {
  std::string method = "GET";
  std::string path;  // without the version prefix, with the query
  std::string what;  // "POST /containers/x/start", for messages; set by Call()
  bool versioned = true;
  std::optional<std::string> body;  // JSON
  std::vector<std::string> headers;
  // 0: the client's call_timeout; kNoTimeout: none (the connect timeout still applies).
  std::chrono::milliseconds timeout{0};
  // Statuses >= 400 that Call() returns as responses instead of errors.
  std::vector<long> ok_statuses;
  absl::StatusCode conflict_code = absl::StatusCode::kFailedPrecondition;
  // When set, the body is a stream of lines handed over as they arrive (and only its beginning
  // is kept in Response::body).
  std::function<void(std::string_view line)> on_line;
  // When set, a 2xx body is handed over as raw bytes as they arrive, cut anywhere, and not kept;
  // returning false ends the transfer, which is then a success. An error status's body is kept in
  // Response::body, for the message. Wins over on_line.
  std::function<bool(std::string_view data)> on_data;
};

namespace {

struct Transfer {
  CURL* curl = nullptr;
  const std::function<void(std::string_view)>* on_line = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  std::string* body = nullptr;
  std::string pending;  // streaming: the unfinished last line
  bool too_large = false;
  bool stopped = false;  // on_data returned false
};

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  std::string_view chunk(data, n);
  const bool raw_stream = t->on_data != nullptr && *t->on_data;
  if (raw_stream) {
    long http_status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &http_status);
    if (http_status >= 200 && http_status < 300) {
      if ((*t->on_data)(chunk)) return n;
      t->stopped = true;
      return 0;  // aborts the transfer
    }
  }
  if (raw_stream || t->on_line == nullptr || !*t->on_line) {
    if (t->body->size() + n > kMaxResponseBytes) {
      t->too_large = true;
      return 0;  // aborts the transfer
    }
    t->body->append(chunk);
    return n;
  }
  if (t->body->size() < kMaxStreamedBodyKept) t->body->append(chunk.substr(0, kMaxStreamedBodyKept - t->body->size()));
  t->pending.append(chunk);
  size_t start = 0;
  for (size_t nl = t->pending.find('\n'); nl != std::string::npos; nl = t->pending.find('\n', start)) {
    std::string_view line(t->pending.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) (*t->on_line)(line);
    start = nl + 1;
  }
  t->pending.erase(0, start);
  if (t->pending.size() > kMaxResponseBytes) {
    t->too_large = true;
    return 0;
  }
  return n;
}

}  // namespace

DockerClient::DockerClient(DockerClientOptions options) : options_(std::move(options)) { InitCurlOnce(); }

std::string DockerClient::api_version() const {
  absl::MutexLock lock(&mu_);
  return api_version_;
}

std::string DockerClient::server_version() const {
  absl::MutexLock lock(&mu_);
  return server_version_;
}

void DockerClient::CancelAll() {
  absl::MutexLock lock(&sockets_mu_);
  cancelled_ = true;
  for (int fd : sockets_) ::shutdown(fd, SHUT_RDWR);  // the call blocked on it returns at once
}

int DockerClient::OpenSocket(int family, int type, int protocol) const {
  absl::MutexLock lock(&sockets_mu_);
  if (cancelled_) return -1;
  const int fd = ::socket(family, type | SOCK_CLOEXEC, protocol);
  if (fd >= 0) sockets_.insert(fd);
  return fd;
}

void DockerClient::CloseSocket(int fd) const {
  absl::MutexLock lock(&sockets_mu_);
  sockets_.erase(fd);
  ::close(fd);
}

absl::StatusOr<DockerClient::Response> DockerClient::Perform(const Request& request) const {
  {
    absl::MutexLock lock(&sockets_mu_);
    if (cancelled_) return absl::CancelledError(StrCat("the agent is stopping: ", request.what, " not sent"));
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* h = curl.get();

  // The host is a placeholder: the connection goes to the unix socket.
  std::string url = StrCat("http://docker", request.path);
  char error_buffer[CURL_ERROR_SIZE] = {};
  Response response;
  Transfer transfer;
  transfer.curl = h;
  transfer.on_line = &request.on_line;
  transfer.on_data = &request.on_data;
  transfer.body = &response.body;

  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, options_.socket_path.c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(request.timeout.count(), 0)));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  auto* self = const_cast<DockerClient*>(this);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, self);
  curl_easy_setopt(
      h, CURLOPT_OPENSOCKETFUNCTION, +[](void* client, curlsocktype, curl_sockaddr* address) -> curl_socket_t {
        const int fd =
            static_cast<const DockerClient*>(client)->OpenSocket(address->family, address->socktype, address->protocol);
        return fd < 0 ? CURL_SOCKET_BAD : fd;
      });
  curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, self);
  curl_easy_setopt(
      h, CURLOPT_CLOSESOCKETFUNCTION, +[](void* client, curl_socket_t fd) -> int {
        static_cast<const DockerClient*>(client)->CloseSocket(fd);
        return 0;
      });

  curl_slist* headers = nullptr;
  // No "Expect: 100-continue" round trip for larger bodies.
  headers = curl_slist_append(headers, "Expect:");
  for (const std::string& header : request.headers) headers = curl_slist_append(headers, header.c_str());
  if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    const std::string& body = request.body ? *request.body : std::string();
    if (request.body) headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);

  if (rc == CURLE_WRITE_ERROR && transfer.stopped) rc = CURLE_OK;  // the caller had enough
  if (rc == CURLE_OK && transfer.on_line != nullptr && *transfer.on_line && !transfer.pending.empty()) {
    (*transfer.on_line)(transfer.pending);
  }
  const std::string& what = request.what;
  if (rc != CURLE_OK) {
    {
      absl::MutexLock lock(&sockets_mu_);
      if (cancelled_) return absl::CancelledError(StrCat("the agent is stopping: ", what, " abandoned"));
    }
    std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer) : std::string(curl_easy_strerror(rc));
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        return absl::UnavailableError(StrCat("cannot reach the Docker engine at ", options_.socket_path, ": ", detail));
      case CURLE_OPERATION_TIMEDOUT:
        return absl::DeadlineExceededError(StrCat("the Docker engine at ", options_.socket_path, " did not answer ",
                                                  what, " within ", request.timeout.count(), " ms: ", detail));
      case CURLE_WRITE_ERROR:
        if (transfer.too_large) {
          return absl::InternalError(
              StrCat("the Docker engine's answer to ", what, " is larger than ", kMaxResponseBytes, " bytes"));
        }
        break;
      default:
        break;
    }
    return absl::UnavailableError(StrCat("Docker engine at ", options_.socket_path, ": ", what, " failed: ", detail));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.http_status);
  return response;
}

absl::StatusOr<std::string> DockerClient::VersionPrefix() {
  {
    absl::MutexLock lock(&mu_);
    if (!api_version_.empty()) return StrCat("/v", api_version_);
  }
  RETURN_IF_ERROR(Connect());
  absl::MutexLock lock(&mu_);
  return StrCat("/v", api_version_);
}

absl::StatusOr<DockerClient::Response> DockerClient::Call(Request request) {
  if (request.timeout.count() == 0) request.timeout = options_.call_timeout;
  request.what = StrCat(request.method, " ", PathForMessage(request.path));
  if (request.versioned) {
    ASSIGN_OR_RETURN(std::string prefix, VersionPrefix());
    request.path = StrCat(prefix, request.path);
  }
  ASSIGN_OR_RETURN(Response response, Perform(request));
  log::Debug("docker: {} -> HTTP {}", request.what, response.http_status);
  if (response.http_status < 400 || std::find(request.ok_statuses.begin(), request.ok_statuses.end(),
                                              response.http_status) != request.ok_statuses.end()) {
    return response;
  }
  return absl::Status(
      CodeForHttpStatus(response.http_status, request.conflict_code),
      StrCat("Docker engine: ", request.what, ": HTTP ", response.http_status, ": ", DaemonMessage(response.body)));
}

absl::Status DockerClient::Connect() {
  Request request;
  request.path = "/version";
  request.versioned = false;
  request.timeout = options_.call_timeout;
  ASSIGN_OR_RETURN(Response response, Call(std::move(request)));
  ASSIGN_OR_RETURN(nlohmann::json version, ParseJson("GET /version", response.body));
  ASSIGN_OR_RETURN(std::string server_api, StringField("GET /version", version, "ApiVersion"));
  std::string engine = version.value("Version", std::string("?"));

  auto server = ParseApiVersion(server_api);
  auto ours_min = ParseApiVersion(kMinApiVersion);
  auto ours_max = ParseApiVersion(kMaxApiVersion);
  BERTH_CHECK(ours_min && ours_max);
  if (!server) {
    return absl::InternalError(StrCat("the Docker engine at ", options_.socket_path,
                                      " reports an unreadable ApiVersion \"", server_api, "\""));
  }
  if (*server < *ours_min) {
    return absl::FailedPreconditionError(StrCat("the Docker engine at ", options_.socket_path, " (Docker ", engine,
                                                ") speaks API up to ", server_api, "; Berth needs at least ",
                                                kMinApiVersion, " (Docker 20.10 or newer)"));
  }
  std::pair<int, int> chosen = std::min(*server, *ours_max);
  if (auto it = version.find("MinAPIVersion"); it != version.end() && it->is_string()) {
    auto server_min = ParseApiVersion(it->get<std::string>());
    if (server_min && *server_min > chosen) {
      return absl::FailedPreconditionError(StrCat("the Docker engine at ", options_.socket_path, " (Docker ", engine,
                                                  ") requires API ", it->get<std::string>(),
                                                  " or newer; Berth speaks up to ", kMaxApiVersion));
    }
  }
  std::string chosen_text = StrCat(chosen.first, ".", chosen.second);
  log::Info("docker: engine {} at {}, API {} (engine speaks up to {})", engine, options_.socket_path, chosen_text,
            server_api);
  absl::MutexLock lock(&mu_);
  api_version_ = std::move(chosen_text);
  server_version_ = std::move(engine);
  return absl::OkStatus();
}

absl::Status DockerClient::Ping() {
  Request request;
  request.path = "/_ping";
  request.versioned = false;
  return Call(std::move(request)).status();
}

// --- images ---------------------------------------------------------------------------------------

absl::Status DockerClient::PullImage(std::string_view image_ref, const nlohmann::json& auth) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(image_ref));
  Request request;
  request.method = "POST";
  // Always name a tag or digest: without one the engine pulls every tag of the repository.
  request.path = StrCat("/images/create?fromImage=", QueryEscape(ref.repository),
                        "&tag=", QueryEscape(ref.digest.empty() ? ref.tag : ref.digest));
  request.timeout = options_.pull_timeout;
  if (!auth.is_null()) {
    // Base64url with padding: what the engine decodes (it rejects unpadded input before 23.0).
    std::string encoded;
    absl::Base64Escape(auth.dump(), &encoded);
    std::replace(encoded.begin(), encoded.end(), '+', '-');
    std::replace(encoded.begin(), encoded.end(), '/', '_');
    request.headers.push_back(StrCat("X-Registry-Auth: ", encoded));
  }
  // A failure after the engine answered 200 (a layer that cannot be fetched, a registry that goes
  // away) arrives as a line {"error": "...", "errorDetail": {"message": "..."}}.
  std::optional<std::string> stream_error;
  request.on_line = [&stream_error](std::string_view line) {
    if (stream_error) return;
    nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object()) return;
    if (auto detail = event.find("errorDetail"); detail != event.end() && detail->is_object()) {
      if (auto message = detail->find("message"); message != detail->end() && message->is_string()) {
        stream_error = message->get<std::string>();
        return;
      }
    }
    if (auto error = event.find("error"); error != event.end() && error->is_string()) {
      stream_error = error->get<std::string>();
    }
  };
  absl::StatusOr<Response> response = Call(std::move(request));
  if (!response.ok()) {
    return absl::Status(response.status().code(), StrCat("pulling ", image_ref, ": ", response.status().message()));
  }
  if (stream_error) {
    return absl::UnknownError(StrCat("pulling ", image_ref, ": Docker engine: ", Truncate(*stream_error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> DockerClient::InspectImage(std::string_view image_ref) {
  Request request;
  request.path = StrCat("/images/", PathEscape(image_ref), "/json");
  ASSIGN_OR_RETURN(Response response, Call(request));
  return ParseJson(StrCat("GET ", PathForMessage(request.path)), response.body);
}

// --- containers -----------------------------------------------------------------------------------

absl::StatusOr<std::string> DockerClient::CreateContainer(std::string_view name, const nlohmann::json& config) {
  Request request;
  request.method = "POST";
  request.path =
      name.empty() ? std::string("/containers/create") : StrCat("/containers/create?name=", QueryEscape(name));
  request.body = config.dump();
  request.conflict_code = absl::StatusCode::kAlreadyExists;
  ASSIGN_OR_RETURN(Response response, Call(request));
  ASSIGN_OR_RETURN(nlohmann::json created, ParseJson("POST /containers/create", response.body));
  return StringField("POST /containers/create", created, "Id");
}

absl::Status DockerClient::StartContainer(std::string_view id) {
  Request request;
  request.method = "POST";
  request.path = StrCat("/containers/", PathEscape(id), "/start");
  return Call(std::move(request)).status();
}

absl::Status DockerClient::StopContainer(std::string_view id, int timeout_seconds) {
  Request request;
  request.method = "POST";
  request.path = StrCat("/containers/", PathEscape(id), "/stop?t=", std::max(timeout_seconds, 0));
  // The engine answers only once the container has exited: up to the stop timeout, then the kill.
  request.timeout = options_.call_timeout + std::chrono::seconds(std::max(timeout_seconds, 0));
  return Call(std::move(request)).status();
}

absl::Status DockerClient::KillContainer(std::string_view id, std::string_view signal) {
  Request request;
  request.method = "POST";
  request.path = StrCat("/containers/", PathEscape(id), "/kill");
  if (!signal.empty()) StrAppend(&request.path, "?signal=", QueryEscape(signal));
  return Call(std::move(request)).status();
}

absl::Status DockerClient::RemoveContainer(std::string_view id, bool force, bool remove_volumes) {
  Request request;
  request.method = "DELETE";
  request.path =
      StrCat("/containers/", PathEscape(id), "?force=", force ? "1" : "0", "&v=", remove_volumes ? "1" : "0");
  request.ok_statuses = {404};
  return Call(std::move(request)).status();
}

absl::StatusOr<nlohmann::json> DockerClient::Info() {
  Request request;
  request.path = "/info";
  ASSIGN_OR_RETURN(Response response, Call(request));
  return ParseJson("GET /info", response.body);
}

absl::StatusOr<nlohmann::json> DockerClient::InspectContainer(std::string_view id, bool with_size) {
  Request request;
  request.path = StrCat("/containers/", PathEscape(id), "/json", with_size ? "?size=1" : "");
  ASSIGN_OR_RETURN(Response response, Call(request));
  return ParseJson(StrCat("GET ", PathForMessage(request.path)), response.body);
}

absl::StatusOr<nlohmann::json> DockerClient::ListContainers(const std::map<std::string, std::string>& labels,
                                                            bool all) {
  nlohmann::json label_filters = nlohmann::json::array();
  for (const auto& [key, value] : labels) label_filters.push_back(value.empty() ? key : StrCat(key, "=", value));
  Request request;
  request.path = StrCat("/containers/json?all=", all ? "1" : "0");
  if (!labels.empty()) {
    nlohmann::json filters = {{"label", std::move(label_filters)}};
    StrAppend(&request.path, "&filters=", QueryEscape(filters.dump()));
  }
  ASSIGN_OR_RETURN(Response response, Call(request));
  ASSIGN_OR_RETURN(nlohmann::json list, ParseJson("GET /containers/json", response.body));
  if (!list.is_array())
    return absl::InternalError("the Docker engine's answer to GET /containers/json is not an array");
  return list;
}

// --- networks -------------------------------------------------------------------------------------

absl::StatusOr<std::string> DockerClient::CreateNetwork(const nlohmann::json& config) {
  Request request;
  request.method = "POST";
  request.path = "/networks/create";
  request.body = config.dump();
  request.conflict_code = absl::StatusCode::kAlreadyExists;
  ASSIGN_OR_RETURN(Response response, Call(std::move(request)));
  ASSIGN_OR_RETURN(nlohmann::json created, ParseJson("POST /networks/create", response.body));
  return StringField("POST /networks/create", created, "Id");
}

absl::StatusOr<nlohmann::json> DockerClient::InspectNetwork(std::string_view id_or_name) {
  Request request;
  request.path = StrCat("/networks/", PathEscape(id_or_name));
  ASSIGN_OR_RETURN(Response response, Call(request));
  return ParseJson(StrCat("GET ", PathForMessage(request.path)), response.body);
}

absl::Status DockerClient::RemoveNetwork(std::string_view id_or_name) {
  Request request;
  request.method = "DELETE";
  request.path = StrCat("/networks/", PathEscape(id_or_name));
  request.ok_statuses = {404};
  return Call(std::move(request)).status();
}

// --- volumes --------------------------------------------------------------------------------------

absl::StatusOr<nlohmann::json> DockerClient::CreateVolume(const nlohmann::json& config) {
  Request request;
  request.method = "POST";
  request.path = "/volumes/create";
  request.body = config.dump();
  request.conflict_code = absl::StatusCode::kAlreadyExists;
  ASSIGN_OR_RETURN(Response response, Call(std::move(request)));
  ASSIGN_OR_RETURN(nlohmann::json volume, ParseJson("POST /volumes/create", response.body));
  if (!volume.is_object())
    return absl::InternalError("the Docker engine's answer to POST /volumes/create is not an object");
  return volume;
}

absl::Status DockerClient::RemoveVolume(std::string_view name, bool force) {
  Request request;
  request.method = "DELETE";
  request.path = StrCat("/volumes/", PathEscape(name), "?force=", force ? "1" : "0");
  request.ok_statuses = {404};
  return Call(std::move(request)).status();
}

// --- logs -----------------------------------------------------------------------------------------

absl::Status DockerClient::FollowLogs(std::string_view id, std::string_view since,
                                      const std::function<bool(std::string_view)>& on_data) {
  Request request;
  request.path = StrCat("/containers/", PathEscape(id), "/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=",
                        QueryEscape(since.empty() ? std::string_view("0") : since));
  request.timeout = kNoTimeout;
  request.on_data = on_data;
  RETURN_IF_ERROR(Call(std::move(request)).status());
  // A connection shut down by CancelAll may look like the end of the body.
  absl::MutexLock lock(&sockets_mu_);
  if (cancelled_) return absl::CancelledError(StrCat("the agent is stopping: following the logs of ", id, " ended"));
  return absl::OkStatus();
}

}  // namespace berth::agent::docker
