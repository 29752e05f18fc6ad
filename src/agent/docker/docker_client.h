// DockerClient: a typed client of the Docker Engine API over the engine's unix socket (libcurl).
//
// It speaks HTTP and JSON and nothing else: request bodies and results are the Engine API's own
// JSON (nlohmann::json), which the docker runtime builds and reads. Every failure is an
// absl::Status that carries the daemon's `message` and the HTTP status:
//   cannot connect, I/O error        -> UNAVAILABLE ("cannot reach the Docker engine at <socket>: ...")
//   call took longer than its timeout -> DEADLINE_EXCEEDED
//   400 -> INVALID_ARGUMENT, 401/403 -> PERMISSION_DENIED, 404 -> NOT_FOUND,
//   409 -> ALREADY_EXISTS from the Create* calls (the name is taken), FAILED_PRECONDITION
//          elsewhere (the object is in the wrong state: removing a running container, ...),
//   500 -> INTERNAL, other 5xx -> UNAVAILABLE, an unparseable response -> INTERNAL.
//
// API version: Connect() reads /version and uses min(the engine's ApiVersion, kMaxApiVersion),
// refusing engines older than kMinApiVersion (Docker 20.10); every later call goes to
// /v<version>/... . A call made before Connect() connects first.
//
// Thread-safe: every call uses its own curl easy handle (a new connection to the local socket
// costs microseconds), so calls from many threads run in parallel. Calls block until the engine
// answers or the call's timeout passes.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace berth::agent::docker {

// An image reference split the way POST /images/create wants it.
struct ImageReference {
  std::string repository;  // with its registry, as written: "127.0.0.1:5000/berth/busybox", "nginx"
  std::string tag;         // "latest" when the reference names neither a tag nor a digest
  std::string digest;      // "sha256:<hex>" when the reference pins one (then it wins over the tag)

  bool operator==(const ImageReference&) const = default;
};

// Parses `[registry[:port]/]path[:tag][@algorithm:hex]`. A ':' is a tag separator only after the
// last '/', so "127.0.0.1:5000/busybox" has no tag. Names are not normalized ("nginx" stays
// "nginx"; the engine adds docker.io/library/). INVALID_ARGUMENT naming the rule on bad input.
absl::StatusOr<ImageReference> ParseImageReference(std::string_view reference);

struct DockerClientOptions {
  std::string socket_path = "/var/run/docker.sock";
  // Every call but pulls; StopContainer adds its stop timeout on top.
  std::chrono::milliseconds call_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds pull_timeout = std::chrono::minutes(10);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
};

class DockerClient {
 public:
  // Docker 20.10 speaks 1.41; 1.45 is Docker 26, the newest whose differences the runtime knows.
  static constexpr std::string_view kMinApiVersion = "1.41";
  static constexpr std::string_view kMaxApiVersion = "1.45";

  explicit DockerClient(DockerClientOptions options = {});
  DockerClient(const DockerClient&) = delete;
  DockerClient& operator=(const DockerClient&) = delete;

  // Negotiates the API version (GET /version). May be called again, e.g. after the engine was
  // upgraded. FAILED_PRECONDITION when the engine is too old or too new to share a version.
  absl::Status Connect();
  // The negotiated version ("1.41"), empty before Connect() succeeded.
  std::string api_version() const;
  // The engine's own version ("20.10.24+dfsg1"), empty before Connect() succeeded.
  std::string server_version() const;
  const std::string& socket_path() const { return options_.socket_path; }

  // Abandons every call in progress (its connection to the engine is shut down) and fails every
  // later call at once, all with CANCELLED: the agent is stopping. Never undone. What the engine
  // does with an abandoned call is up to it (a stop may go on or end; a pull goes on).
  void CancelAll();

  // GET /_ping.
  absl::Status Ping();
  // GET /info: the engine's configuration (CgroupDriver, CgroupVersion, Driver, ...).
  absl::StatusOr<nlohmann::json> Info();

  // Images.
  //
  // Pulls `image_ref` (see ParseImageReference). The engine reports progress, and also failures
  // that happen after it answered 200, as a stream of JSON lines; an `error` line becomes UNKNOWN
  // with its message (a registry failure midway: the engine does not classify it). Errors start
  // with "pulling <image_ref>: ". `auth`, when not null, is the registry credential object
  // ({"username", "password", "serveraddress"} or {"identitytoken"}), sent as X-Registry-Auth.
  absl::Status PullImage(std::string_view image_ref, const nlohmann::json& auth = nullptr);
  // GET /images/{ref}/json.
  absl::StatusOr<nlohmann::json> InspectImage(std::string_view image_ref);

  // Containers.
  //
  // POST /containers/create?name=; returns the new container's id. `name` may be empty (the
  // engine picks one).
  absl::StatusOr<std::string> CreateContainer(std::string_view name, const nlohmann::json& config);
  // Already running (304) is success.
  absl::Status StartContainer(std::string_view id);
  // SIGTERM (or the image's stop signal), SIGKILL after `timeout_seconds`; returns once the
  // container has exited. Already stopped (304) is success.
  absl::Status StopContainer(std::string_view id, int timeout_seconds);
  // `signal` as the engine takes it: "SIGKILL", "TERM", "9".
  absl::Status KillContainer(std::string_view id, std::string_view signal);
  // A container that does not exist (404) is success.
  absl::Status RemoveContainer(std::string_view id, bool force, bool remove_volumes);
  // GET /containers/{id}/json; with `with_size`, SizeRw (bytes written to the container's
  // writable layer) and SizeRootFs are filled in (the engine measures them: not free).
  absl::StatusOr<nlohmann::json> InspectContainer(std::string_view id, bool with_size = false);
  // GET /containers/json: the containers carrying every label in `labels` (an empty value
  // matches any value of that key); stopped ones too when `all`. A JSON array.
  absl::StatusOr<nlohmann::json> ListContainers(const std::map<std::string, std::string>& labels, bool all);

  // Networks.
  //
  // POST /networks/create; returns the network's id.
  absl::StatusOr<std::string> CreateNetwork(const nlohmann::json& config);
  absl::StatusOr<nlohmann::json> InspectNetwork(std::string_view id_or_name);
  // A network that does not exist (404) is success.
  absl::Status RemoveNetwork(std::string_view id_or_name);

  // Volumes.
  //
  // POST /volumes/create; returns the volume object.
  absl::StatusOr<nlohmann::json> CreateVolume(const nlohmann::json& config);
  // A volume that does not exist (404) is success.
  absl::Status RemoveVolume(std::string_view name, bool force);

  // Logs.
  //
  // GET /containers/{id}/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=<since>: the
  // container's output from `since` on, then what it prints while it runs. `since` is the engine's
  // "SECONDS[.NANOSECONDS]" ("0" for everything; DockerSince in log_stream.h makes one from a
  // LogLine's timestamp); the engine includes messages stamped exactly at `since`. `on_data` gets
  // the raw body as it arrives, cut anywhere: multiplexed frames, or raw bytes for a container with
  // a TTY (LogStreamDecoder in log_stream.h reads both); returning false ends the call, with OK.
  // Returns OK when the engine ends the stream (the container stopped and everything was sent),
  // the engine's error (NOT_FOUND for an unknown container) before any data, UNAVAILABLE when the
  // connection fails midway, CANCELLED on CancelAll. No overall timeout (a follow lasts as long as
  // the container does); the connect timeout applies. Blocks the calling thread throughout.
  absl::Status FollowLogs(std::string_view id, std::string_view since,
                          const std::function<bool(std::string_view)>& on_data);

 private:
  struct Request;
  struct Response {
    long http_status = 0;
    std::string body;
  };

  // Performs one HTTP call; a transport failure is an error, any HTTP status is a Response.
  absl::StatusOr<Response> Perform(const Request& request) const;
  // As Perform, on the versioned path (connecting first if needed); maps HTTP statuses >= 400
  // to errors, except those in `ok_statuses`.
  absl::StatusOr<Response> Call(Request request);
  // "/v1.41" once connected; connects first when not.
  absl::StatusOr<std::string> VersionPrefix();
  // libcurl's sockets go through these, so that CancelAll can shut them down: -1 once cancelled.
  int OpenSocket(int family, int type, int protocol) const;
  void CloseSocket(int fd) const;

  const DockerClientOptions options_;
  mutable absl::Mutex mu_;
  std::string api_version_ ABSL_GUARDED_BY(mu_);
  std::string server_version_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex sockets_mu_;
  mutable std::set<int> sockets_ ABSL_GUARDED_BY(sockets_mu_);  // open connections to the engine
  bool cancelled_ ABSL_GUARDED_BY(sockets_mu_) = false;
};

}  // namespace berth::agent::docker
