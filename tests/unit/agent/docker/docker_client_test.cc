// DockerClient against a real dockerd and the local registry that scripts/docker-env.sh sets up
// (127.0.0.1:5000/berth/busybox:latest), and against a fake engine on a unix socket for what a
// healthy engine will not do on demand (old API versions, a failure inside a pull's stream,
// malformed answers, an engine that hangs).
//
// Without /var/run/docker.sock the real-engine tests are skipped, except under CI (CI set), where
// Docker must be there and they fail.
#include "src/agent/docker/docker_client.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "berth/common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/docker/log_stream.h"
#include "tests/testutil/temp_dir.h"

namespace berth::agent::docker {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr char kSocket[] = "/var/run/docker.sock";
constexpr char kImage[] = "127.0.0.1:5000/berth/busybox:latest";
constexpr char kTestLabel[] = "com.berth.test.run";

// Names must not collide with those of another run on the same engine (or a leftover of a
// crashed one), so they come from real randomness, not a seeded source.
std::string RandomSuffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  return fmt::format("{:08x}{:04x}", rd(), counter++ & 0xffff);
}

#define ASSERT_OK(expr)                       \
  do {                                        \
    const absl::Status berth_st_ = (expr);    \
    ASSERT_TRUE(berth_st_.ok()) << berth_st_; \
  } while (0)
#define EXPECT_OK(expr)                       \
  do {                                        \
    const absl::Status berth_st_ = (expr);    \
    EXPECT_TRUE(berth_st_.ok()) << berth_st_; \
  } while (0)

// --- image references ------------------------------------------------------------------------------

TEST(ParseImageReferenceTest, Table) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  struct Row {
    const char* what;
    std::string input;
    ImageReference want;
  };
  const std::vector<Row> rows = {
      {"plain name gets latest", "busybox", {"busybox", "latest", ""}},
      {"tag", "busybox:1.36", {"busybox", "1.36", ""}},
      {"path", "library/busybox:musl", {"library/busybox", "musl", ""}},
      {"registry with port, no tag", "127.0.0.1:5000/berth/busybox", {"127.0.0.1:5000/berth/busybox", "latest", ""}},
      {"registry with port and tag", "127.0.0.1:5000/berth/busybox:v1", {"127.0.0.1:5000/berth/busybox", "v1", ""}},
      {"registry host name", "registry.example.com/team/app:2", {"registry.example.com/team/app", "2", ""}},
      {"digest", "busybox@" + digest, {"busybox", "", digest}},
      {"registry, port and digest", "localhost:5000/a/b@" + digest, {"localhost:5000/a/b", "", digest}},
      {"tag and digest keep both", "busybox:1@" + digest, {"busybox", "1", digest}},
  };
  for (const Row& row : rows) {
    absl::StatusOr<ImageReference> got = ParseImageReference(row.input);
    ASSERT_TRUE(got.ok()) << row.what << ": " << got.status();
    EXPECT_EQ(got->repository, row.want.repository) << row.what;
    EXPECT_EQ(got->tag, row.want.tag) << row.what;
    EXPECT_EQ(got->digest, row.want.digest) << row.what;
  }
}

TEST(ParseImageReferenceTest, RejectsBadReferencesNamingTheRule) {
  struct Row {
    const char* what;
    std::string input;
    const char* rule;
  };
  const std::vector<Row> rows = {
      {"empty", "", "must not be empty"},
      {"whitespace", "busy box", "whitespace"},
      {"empty tag", "busybox:", "a tag is"},
      {"bad tag character", "busybox:a+b", "a tag is"},
      {"digest without algorithm", "busybox@abc", "<algorithm>:<hex>"},
      {"short sha256", "busybox@sha256:abc", "64 hex digits"},
      {"uppercase digest", "busybox@sha256:" + std::string(64, 'A'), "lowercase hex"},
      {"no repository", ":tag", "the repository"},
      {"trailing slash", "127.0.0.1:5000/", "the repository"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<ImageReference> got = ParseImageReference(row.input);
    ASSERT_FALSE(got.ok()) << row.what;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << row.what;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(row.rule)) << row.what;
  }
}

// --- a fake engine -----------------------------------------------------------------------------------

std::string HttpResponse(int code, const std::string& body) {
  return fmt::format(
      "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", code,
      body.size(), body);
}

// An HTTP/1.1 server on a unix socket, one connection at a time, answering with what the handler
// returns; std::nullopt holds the connection open without answering until the engine is destroyed.
class FakeEngine {
 public:
  using Handler = std::function<std::optional<std::string>(const std::string& method, const std::string& target)>;

  explicit FakeEngine(Handler handler) : handler_(std::move(handler)), path_(dir_.Sub("docker.sock")) {
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listen_fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen on " << path_;
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeEngine() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) close(fd);
    close(listen_fd_);
  }

  const std::string& path() const { return path_; }
  std::vector<std::string> targets() {
    std::lock_guard<std::mutex> lock(mu_);
    return targets_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string request;
      char buf[4096];
      size_t header_end = std::string::npos;
      while ((header_end = request.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      // Read the whole body: closing a unix socket with unread data resets the peer.
      if (header_end != std::string::npos) {
        size_t length = 0;
        std::string headers = request.substr(0, header_end);
        std::transform(headers.begin(), headers.end(), headers.begin(), ::tolower);
        if (size_t at = headers.find("content-length:"); at != std::string::npos) {
          length = std::strtoul(headers.c_str() + at + 15, nullptr, 10);
        }
        while (request.size() < header_end + 4 + length) {
          ssize_t n = read(fd, buf, sizeof(buf));
          if (n <= 0) break;
          request.append(buf, static_cast<size_t>(n));
        }
      }
      std::string line = request.substr(0, request.find("\r\n"));
      std::string method = line.substr(0, line.find(' '));
      std::string target = line.substr(method.size() + 1, line.rfind(' ') - method.size() - 1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        targets_.push_back(target);
      }
      std::optional<std::string> response = handler_(method, target);
      if (!response) {
        held_.push_back(fd);
        continue;
      }
      size_t off = 0;
      while (off < response->size()) {
        ssize_t n = write(fd, response->data() + off, response->size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      close(fd);
    }
  }

  testutil::TempDir dir_;
  Handler handler_;
  std::string path_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;
  std::mutex mu_;
  std::vector<std::string> targets_;
  std::thread thread_;
};

std::string VersionBody(const std::string& api, const std::string& min_api = "1.12") {
  return fmt::format(R"({{"Version":"99.0.0-fake","ApiVersion":"{}","MinAPIVersion":"{}"}})", api, min_api);
}

TEST(DockerClientFakeEngineTest, NegotiatesTheVersionFromVersion) {
  struct Row {
    const char* what;
    std::string server_api;
    std::string server_min;
    absl::StatusCode want_code;
    std::string want_version;  // or a substring of the error
  };
  const std::vector<Row> rows = {
      {"newer engine: our newest", "1.50", "1.24", absl::StatusCode::kOk, "1.45"},
      {"engine between: the engine's", "1.43", "1.12", absl::StatusCode::kOk, "1.43"},
      {"Docker 20.10: 1.41", "1.41", "1.12", absl::StatusCode::kOk, "1.41"},
      {"too old", "1.40", "1.12", absl::StatusCode::kFailedPrecondition, "Berth needs at least 1.41"},
      {"too new for us", "1.52", "1.46", absl::StatusCode::kFailedPrecondition, "requires API 1.46 or newer"},
      {"unreadable", "one.two", "1.12", absl::StatusCode::kInternal, "unreadable ApiVersion"},
  };
  for (const Row& row : rows) {
    FakeEngine engine([&](const std::string&, const std::string&) {
      return HttpResponse(200, VersionBody(row.server_api, row.server_min));
    });
    DockerClient client({.socket_path = engine.path()});
    absl::Status st = client.Connect();
    EXPECT_EQ(st.code(), row.want_code) << row.what << ": " << st;
    if (st.ok()) {
      EXPECT_EQ(client.api_version(), row.want_version) << row.what;
      EXPECT_EQ(client.server_version(), "99.0.0-fake") << row.what;
    } else {
      EXPECT_THAT(std::string(st.message()), HasSubstr(row.want_version)) << row.what;
      EXPECT_EQ(client.api_version(), "") << row.what;
    }
  }
}

TEST(DockerClientFakeEngineTest, CallsUseTheNegotiatedVersionAndConnectFirst) {
  FakeEngine engine([](const std::string&, const std::string& target) -> std::optional<std::string> {
    if (target == "/version") return HttpResponse(200, VersionBody("1.43"));
    return HttpResponse(200, R"({"Id":"abc","State":{"Running":true}})");
  });
  DockerClient client({.socket_path = engine.path()});
  absl::StatusOr<nlohmann::json> got = client.InspectContainer("abc");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["Id"], "abc");
  EXPECT_THAT(engine.targets(), ::testing::ElementsAre("/version", "/v1.43/containers/abc/json"));
}

TEST(DockerClientFakeEngineTest, AnErrorLineInAPullStreamIsAnError) {
  FakeEngine engine([](const std::string&, const std::string& target) -> std::optional<std::string> {
    if (target == "/version") return HttpResponse(200, VersionBody("1.41"));
    // The last line has no newline: it still counts.
    return HttpResponse(200,
                        "{\"status\":\"Pulling from berth/busybox\",\"id\":\"latest\"}\r\n"
                        "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2}}\n"
                        "{\"errorDetail\":{\"message\":\"unknown blob\"},\"error\":\"unknown blob\"}");
  });
  DockerClient client({.socket_path = engine.path()});
  absl::Status st = client.PullImage("127.0.0.1:5000/berth/busybox@sha256:" + std::string(64, 'b'));
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("unknown blob"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("127.0.0.1:5000/berth/busybox@sha256:"));
  // The digest goes in `tag`, the repository (with its port) in fromImage.
  EXPECT_THAT(engine.targets().back(),
              HasSubstr("/v1.41/images/create?fromImage=127.0.0.1%3A5000%2Fberth%2Fbusybox&tag=sha256%3Abbbb"));
}

TEST(DockerClientFakeEngineTest, HttpStatusesBecomeCanonicalCodesWithTheDaemonsMessage) {
  struct Row {
    const char* what;
    int http;
    std::string body;
    std::function<absl::Status(DockerClient&)> call;
    absl::StatusCode want;
    std::string want_message;
  };
  const std::vector<Row> rows = {
      {"404", 404, R"({"message":"No such container: x"})",
       [](DockerClient& c) { return c.InspectContainer("x").status(); }, absl::StatusCode::kNotFound,
       "GET /containers/x/json: HTTP 404: No such container: x"},
      {"409 on create", 409, R"({"message":"Conflict. The container name \"/x\" is already in use"})",
       [](DockerClient& c) {
         return c.CreateContainer("x", {{"Image", "busybox"}}).status();
       },
       absl::StatusCode::kAlreadyExists, "is already in use"},
      {"409 elsewhere", 409, R"({"message":"You cannot remove a running container"})",
       [](DockerClient& c) { return c.RemoveContainer("x", false, false); }, absl::StatusCode::kFailedPrecondition,
       "HTTP 409: You cannot remove a running container"},
      {"400", 400, R"({"message":"invalid reference format"})",
       [](DockerClient& c) { return c.CreateContainer("", {}).status(); }, absl::StatusCode::kInvalidArgument,
       "invalid reference format"},
      {"500", 500, R"({"message":"failed to create shim task"})", [](DockerClient& c) { return c.StartContainer("x"); },
       absl::StatusCode::kInternal, "failed to create shim"},
      {"503, not JSON", 503, "engine is shutting down\n", [](DockerClient& c) { return c.Ping(); },
       absl::StatusCode::kUnavailable, "HTTP 503: engine is shutting down"},
      {"malformed JSON", 200, "{not json", [](DockerClient& c) { return c.InspectNetwork("n").status(); },
       absl::StatusCode::kInternal, "malformed JSON"},
      {"create without Id", 201, R"({"Warnings":[]})",
       [](DockerClient& c) { return c.CreateContainer("x", {}).status(); }, absl::StatusCode::kInternal,
       "no string field \"Id\""},
      {"304 on start is success", 304, "", [](DockerClient& c) { return c.StartContainer("x"); }, absl::StatusCode::kOk,
       ""},
      {"404 on remove is success", 404, R"({"message":"No such container: x"})",
       [](DockerClient& c) { return c.RemoveContainer("x", true, true); }, absl::StatusCode::kOk, ""},
  };
  for (const Row& row : rows) {
    FakeEngine engine([&](const std::string&, const std::string& target) -> std::optional<std::string> {
      if (target == "/version") return HttpResponse(200, VersionBody("1.41"));
      return HttpResponse(row.http, row.body);
    });
    DockerClient client({.socket_path = engine.path()});
    absl::Status st = row.call(client);
    EXPECT_EQ(st.code(), row.want) << row.what << ": " << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(row.want_message)) << row.what;
  }
}

TEST(DockerClientFakeEngineTest, AnEngineThatDoesNotAnswerTimesOut) {
  FakeEngine engine([](const std::string&, const std::string& target) -> std::optional<std::string> {
    if (target == "/version") return HttpResponse(200, VersionBody("1.41"));
    return std::nullopt;
  });
  DockerClient client({.socket_path = engine.path(), .call_timeout = std::chrono::milliseconds(300)});
  absl::Status st = client.StartContainer("x");
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("did not answer POST /containers/x/start within 300 ms"));
}

TEST(DockerClientFakeEngineTest, FollowLogsHandsOverTheBodyAndOnlyA2xxBody) {
  const std::string body = std::string("\x01\0\0\0\0\0\0\x02", 8) + "hi";
  FakeEngine engine([&](const std::string&, const std::string& target) -> std::optional<std::string> {
    if (target == "/version") return HttpResponse(200, VersionBody("1.41"));
    if (target.find("/containers/gone/") != std::string::npos) {
      return HttpResponse(404, R"({"message":"No such container: gone"})");
    }
    return HttpResponse(200, body);
  });
  DockerClient client({.socket_path = engine.path()});
  std::string received;
  ASSERT_OK(client.FollowLogs("abc", "1733650000.000000001", [&](std::string_view data) {
    received.append(data);
    return true;
  }));
  EXPECT_EQ(received, body);
  EXPECT_EQ(engine.targets().back(),
            "/v1.41/containers/abc/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=1733650000.000000001");

  received.clear();
  absl::Status st = client.FollowLogs("gone", "", [&](std::string_view data) {
    received.append(data);
    return true;
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("GET /containers/gone/logs: HTTP 404: No such container: gone"));
  EXPECT_EQ(received, "");
  EXPECT_THAT(engine.targets().back(), HasSubstr("&since=0"));
}

TEST(DockerClientTest, AMissingSocketIsUnavailableWithAClearMessage) {
  testutil::TempDir dir;
  const std::string socket = dir.Sub("no-such-docker.sock");
  DockerClient client({.socket_path = socket});
  for (const absl::Status& st : {client.Connect(), client.Ping(), client.StartContainer("x")}) {
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr("cannot reach the Docker engine at " + socket + ": ")) << st;
  }
}

// --- the real engine ---------------------------------------------------------------------------------

// Creates through the client and removes everything it created when the test ends.
class DockerClientRealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kSocket)) {
      if (std::getenv("CI") != nullptr) {
        FAIL() << kSocket << " is missing: CI must have a Docker engine (scripts/docker-env.sh starts one)";
      }
      GTEST_SKIP() << kSocket << " is missing: run scripts/docker-env.sh for a Docker engine and the local registry";
    }
    run_ = RandomSuffix();
    ASSERT_OK(client_.Connect());
    ASSERT_OK(client_.PullImage(kImage));
  }

  void TearDown() override {
    for (const std::string& id : containers_) EXPECT_OK(client_.RemoveContainer(id, /*force=*/true, true));
    for (const std::string& id : networks_) EXPECT_OK(client_.RemoveNetwork(id));
    for (const std::string& name : volumes_) EXPECT_OK(client_.RemoveVolume(name, /*force=*/true));
  }

  // A container of the test image running `cmd`, labelled with this test's run.
  absl::StatusOr<std::string> Create(const std::vector<std::string>& cmd,
                                     nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json config = {{"Image", kImage}, {"Cmd", cmd}, {"Labels", {{kTestLabel, run_}}}};
    config.update(extra);
    absl::StatusOr<std::string> id = client_.CreateContainer("berth-test-" + RandomSuffix(), config);
    if (id.ok()) containers_.push_back(*id);
    return id;
  }

  DockerClient client_;
  std::string run_;
  std::vector<std::string> containers_;
  std::vector<std::string> networks_;
  std::vector<std::string> volumes_;
};

TEST_F(DockerClientRealTest, NegotiatesAVersionTheEngineSpeaks) {
  std::string version = client_.api_version();
  EXPECT_GE(version, std::string(DockerClient::kMinApiVersion));
  EXPECT_LE(version, std::string(DockerClient::kMaxApiVersion));
  EXPECT_FALSE(client_.server_version().empty());
  EXPECT_OK(client_.Ping());
}

TEST_F(DockerClientRealTest, PullsFromTheLocalRegistryByTagAndByDigest) {
  absl::StatusOr<nlohmann::json> image = client_.InspectImage(kImage);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_THAT((*image)["RepoTags"].get<std::vector<std::string>>(), ::testing::Contains(kImage));
  // RepoDigests: "127.0.0.1:5000/berth/busybox@sha256:...".
  ASSERT_TRUE((*image)["RepoDigests"].is_array() && !(*image)["RepoDigests"].empty()) << image->dump();
  std::string by_digest = (*image)["RepoDigests"][0].get<std::string>();
  EXPECT_OK(client_.PullImage(by_digest));
  absl::StatusOr<nlohmann::json> same = client_.InspectImage(by_digest);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ((*same)["Id"], (*image)["Id"]);
}

TEST_F(DockerClientRealTest, PullingAMissingImageCarriesDockersMessage) {
  const std::string missing = "127.0.0.1:5000/berth/does-not-exist-" + RandomSuffix() + ":latest";
  absl::Status st = client_.PullImage(missing);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_THAT(std::string(st.message()), ::testing::StartsWith("pulling " + missing + ": "));
  EXPECT_THAT(std::string(st.message()), AnyOf(HasSubstr("not found"), HasSubstr("manifest unknown")));

  absl::StatusOr<nlohmann::json> image = client_.InspectImage(missing);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kNotFound) << image.status();
}

TEST_F(DockerClientRealTest, ContainerLifecycleWithLabels) {
  // A shell that exits 0 on SIGTERM (checked between short sleeps; PID 1 has no default action).
  absl::StatusOr<std::string> id = Create({"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"},
                                          {{"Labels", {{kTestLabel, run_}, {"com.berth.test.role", "lifecycle"}}}});
  ASSERT_TRUE(id.ok()) << id.status();

  absl::StatusOr<nlohmann::json> created = client_.InspectContainer(*id);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["State"]["Status"], "created");

  ASSERT_OK(client_.StartContainer(*id));
  EXPECT_OK(client_.StartContainer(*id));  // already started: 304

  absl::StatusOr<nlohmann::json> running = client_.InspectContainer(*id);
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ((*running)["State"]["Running"], true);
  EXPECT_EQ((*running)["Config"]["Labels"][kTestLabel], run_);
  EXPECT_EQ((*running)["Config"]["Labels"]["com.berth.test.role"], "lifecycle");

  absl::StatusOr<nlohmann::json> listed = client_.ListContainers({{kTestLabel, run_}}, /*all=*/false);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u) << listed->dump();
  EXPECT_EQ((*listed)[0]["Id"], *id);
  absl::StatusOr<nlohmann::json> by_key =
      client_.ListContainers({{"com.berth.test.role", ""}, {kTestLabel, run_}}, false);
  ASSERT_TRUE(by_key.ok()) << by_key.status();
  EXPECT_EQ(by_key->size(), 1u);
  absl::StatusOr<nlohmann::json> other = client_.ListContainers({{kTestLabel, run_ + "-other"}}, true);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->empty()) << other->dump();

  // Removing a running container without force is refused.
  absl::Status busy = client_.RemoveContainer(*id, /*force=*/false, false);
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition) << busy;

  ASSERT_OK(client_.StopContainer(*id, 10));
  EXPECT_OK(client_.StopContainer(*id, 10));  // already stopped: 304
  absl::StatusOr<nlohmann::json> stopped = client_.InspectContainer(*id);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ((*stopped)["State"]["Running"], false);
  EXPECT_EQ((*stopped)["State"]["ExitCode"], 0);

  // Stopped containers are listed only with `all`.
  absl::StatusOr<nlohmann::json> running_only = client_.ListContainers({{kTestLabel, run_}}, false);
  ASSERT_TRUE(running_only.ok()) << running_only.status();
  EXPECT_TRUE(running_only->empty());
  absl::StatusOr<nlohmann::json> all = client_.ListContainers({{kTestLabel, run_}}, true);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 1u);

  ASSERT_OK(client_.RemoveContainer(*id, false, true));
  EXPECT_OK(client_.RemoveContainer(*id, false, true));  // gone: 404 is success
  EXPECT_EQ(client_.InspectContainer(*id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DockerClientRealTest, InspectWithSizeCountsWhatTheContainerWrote) {
  absl::StatusOr<std::string> id = Create({"sh", "-c", "dd if=/dev/zero of=/written bs=1048576 count=8 && sleep 600"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));
  int64_t written = 0;
  for (int i = 0; i < 100 && written < 8 * 1048576; ++i) {
    absl::StatusOr<nlohmann::json> inspect = client_.InspectContainer(*id, /*with_size=*/true);
    ASSERT_TRUE(inspect.ok()) << inspect.status();
    written = inspect->value("SizeRw", int64_t{0});
    if (written < 8 * 1048576) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(written, 8 * 1048576);
  EXPECT_LT(written, 9 * 1048576);
  absl::StatusOr<nlohmann::json> plain = client_.InspectContainer(*id);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->contains("SizeRw")) << "measured only when asked";
  ASSERT_OK(client_.KillContainer(*id, "KILL"));
}

TEST_F(DockerClientRealTest, InfoNamesTheCgroupDriver) {
  absl::StatusOr<nlohmann::json> info = client_.Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->value("CgroupDriver", ""), AnyOf("cgroupfs", "systemd"));
}

TEST_F(DockerClientRealTest, ANameInUseIsAlreadyExists) {
  const std::string name = "berth-test-" + RandomSuffix();
  nlohmann::json config = {{"Image", kImage}, {"Cmd", {"true"}}, {"Labels", {{kTestLabel, run_}}}};
  absl::StatusOr<std::string> first = client_.CreateContainer(name, config);
  ASSERT_TRUE(first.ok()) << first.status();
  containers_.push_back(*first);
  absl::StatusOr<std::string> second = client_.CreateContainer(name, config);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("already in use"));
}

TEST_F(DockerClientRealTest, AContainerIgnoringSigtermIsKilledAfterTheStopTimeout) {
  absl::StatusOr<std::string> id = Create({"sh", "-c", "trap '' TERM; sleep 1000"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK(client_.StopContainer(*id, 1));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(20));
  absl::StatusOr<nlohmann::json> state = client_.InspectContainer(*id);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ((*state)["State"]["ExitCode"], 137) << (*state)["State"].dump();
}

TEST_F(DockerClientRealTest, KillSendsTheSignal) {
  absl::StatusOr<std::string> id = Create({"sleep", "1000"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));
  ASSERT_OK(client_.KillContainer(*id, "SIGKILL"));
  // The kill is asynchronous; the state follows within moments.
  nlohmann::json state;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<nlohmann::json> got = client_.InspectContainer(*id);
    ASSERT_TRUE(got.ok()) << got.status();
    state = (*got)["State"];
    if (state["Running"] == false) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(state["Running"], false) << state.dump();
  EXPECT_EQ(state["ExitCode"], 137) << state.dump();
  // Killing a container that is not running is refused.
  EXPECT_EQ(client_.KillContainer(*id, "SIGKILL").code(), absl::StatusCode::kFailedPrecondition);
}

size_t AppendTo(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET over TCP with libcurl; nullopt when the connection fails.
std::optional<std::string> HttpGet(const std::string& url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &AppendTo);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  if (curl_easy_perform(curl.get()) != CURLE_OK) return std::nullopt;
  long code = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return std::nullopt;
  return body;
}

TEST_F(DockerClientRealTest, ADynamicHostPortIsReadBackAndServes) {
  // HostPort "": the engine picks a free port.
  nlohmann::json binding = {{"HostIp", "127.0.0.1"}, {"HostPort", ""}};
  nlohmann::json extra = nlohmann::json::object();
  extra["ExposedPorts"]["80/tcp"] = nlohmann::json::object();
  extra["HostConfig"]["PortBindings"]["80/tcp"] = nlohmann::json::array({binding});
  absl::StatusOr<std::string> id = Create({"httpd", "-f", "-p", "80", "-h", "/www"}, extra);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));
  absl::StatusOr<nlohmann::json> inspected = client_.InspectContainer(*id);
  ASSERT_TRUE(inspected.ok()) << inspected.status();
  const nlohmann::json& bindings = (*inspected)["NetworkSettings"]["Ports"]["80/tcp"];
  ASSERT_TRUE(bindings.is_array() && !bindings.empty()) << (*inspected)["NetworkSettings"].dump();
  EXPECT_EQ(bindings[0]["HostIp"], "127.0.0.1");
  int host_port = 0;
  ASSERT_TRUE(ParseInt(bindings[0]["HostPort"].get<std::string>(), &host_port)) << bindings.dump();
  EXPECT_GT(host_port, 0);

  // httpd may need a moment to listen.
  std::optional<std::string> page;
  for (int i = 0; i < 50 && !page; ++i) {
    page = HttpGet(fmt::format("http://127.0.0.1:{}/index.html", host_port));
    if (!page) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(page.has_value()) << "nothing served on 127.0.0.1:" << host_port;
  EXPECT_EQ(*page, "berth busybox\n");
}

TEST_F(DockerClientRealTest, NetworksCreateInspectRemove) {
  const std::string name = "berth-test-" + RandomSuffix();
  // CheckDuplicate: engines before API 1.44 allow two networks of one name without it.
  nlohmann::json config = {
      {"Name", name}, {"Driver", "bridge"}, {"CheckDuplicate", true}, {"Labels", {{kTestLabel, run_}}}};
  absl::StatusOr<std::string> id = client_.CreateNetwork(config);
  ASSERT_TRUE(id.ok()) << id.status();
  networks_.push_back(*id);

  absl::StatusOr<nlohmann::json> by_name = client_.InspectNetwork(name);
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ((*by_name)["Id"], *id);
  EXPECT_EQ((*by_name)["Driver"], "bridge");
  EXPECT_EQ((*by_name)["Labels"][kTestLabel], run_);

  absl::StatusOr<std::string> again = client_.CreateNetwork(config);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  if (again.ok()) networks_.push_back(*again);

  ASSERT_OK(client_.RemoveNetwork(*id));
  EXPECT_OK(client_.RemoveNetwork(*id));  // gone: 404 is success
  EXPECT_EQ(client_.InspectNetwork(name).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DockerClientRealTest, VolumesCreateRemove) {
  const std::string name = "berth-test-" + RandomSuffix();
  absl::StatusOr<nlohmann::json> volume =
      client_.CreateVolume({{"Name", name}, {"Driver", "local"}, {"Labels", {{kTestLabel, run_}}}});
  ASSERT_TRUE(volume.ok()) << volume.status();
  volumes_.push_back(name);
  EXPECT_EQ((*volume)["Name"], name);
  EXPECT_EQ((*volume)["Labels"][kTestLabel], run_);
  ASSERT_OK(client_.RemoveVolume(name, false));
  EXPECT_OK(client_.RemoveVolume(name, false));  // gone: 404 is success
}

TEST_F(DockerClientRealTest, CallsFromManyThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!client_.Ping().ok()) ++failures;
        if (!client_.ListContainers({{kTestLabel, run_}}, true).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- logs ---------------------------------------------------------------------------------------------

struct Followed {
  absl::Status status;  // FollowLogs'
  absl::Status decode;  // the decoder's
  std::vector<LogLine> lines;
};

// Follows `id`'s logs from `since` until the engine ends the stream, decoding them.
Followed Follow(DockerClient& client, const std::string& id, bool tty, const std::string& since) {
  Followed out;
  LogStreamDecoder decoder(tty);
  auto emit = [&](LogLine line) { out.lines.push_back(std::move(line)); };
  out.status = client.FollowLogs(id, since, [&](std::string_view data) {
    out.decode = decoder.Feed(data, emit);
    return out.decode.ok();
  });
  decoder.Finish(emit);
  return out;
}

// The texts of `stream`'s lines, in order.
std::vector<std::string> Texts(const std::vector<LogLine>& lines, int stream) {
  std::vector<std::string> out;
  for (const LogLine& line : lines) {
    if (line.stream == stream) out.push_back(line.text);
  }
  return out;
}

// 20 numbered lines on stdout and on stderr, a 40,000-byte line (the engine cuts it into 16 KiB
// parts), a pause so that the follow reads a running container, then 20 more of each.
const std::vector<std::string> kNumberedLinesCmd = {
    "sh", "-c",
    "for i in $(seq 1 20); do echo \"out $i\"; echo \"err $i\" >&2; done; "
    "head -c 40000 /dev/zero | tr '\\0' y; echo; sleep 1; "
    "for i in $(seq 21 40); do echo \"out $i\"; echo \"err $i\" >&2; done"};

std::vector<std::string> NumberedLines(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(prefix + " " + std::to_string(i));
  return out;
}

TEST_F(DockerClientRealTest, FollowLogsDeliversEveryLineInOrderWithItsStream) {
  absl::StatusOr<std::string> id = Create(kNumberedLinesCmd);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));
  Followed followed = Follow(client_, *id, /*tty=*/false, "0");
  ASSERT_OK(followed.status);
  ASSERT_OK(followed.decode);

  std::vector<std::string> want_out = NumberedLines("out", 1, 20);
  want_out.push_back(std::string(40000, 'y'));
  for (const std::string& line : NumberedLines("out", 21, 40)) want_out.push_back(line);
  EXPECT_EQ(Texts(followed.lines, 1), want_out);
  EXPECT_EQ(Texts(followed.lines, 2), NumberedLines("err", 1, 40));
  EXPECT_EQ(followed.lines.size(), want_out.size() + 40);
  // Each stream's timestamps never go back; the pause shows between line 20 and 21.
  for (int stream : {1, 2}) {
    int64_t last = 0;
    for (const LogLine& line : followed.lines) {
      if (line.stream != stream) continue;
      EXPECT_GE(line.timestamp_ns, last) << line.text.substr(0, 20);
      EXPECT_FALSE(line.truncated);
      last = line.timestamp_ns;
    }
  }
}

// The engine's `since` includes the messages stamped exactly at it, to the nanosecond: following
// again from a line's timestamp starts with that line, from one nanosecond later with the next.
TEST_F(DockerClientRealTest, FollowLogsSinceALinesTimestampStartsWithThatLine) {
  absl::StatusOr<std::string> id = Create({"sh", "-c", "for i in $(seq 1 30); do echo \"out $i\"; done"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));
  Followed all = Follow(client_, *id, false, "0");
  ASSERT_OK(all.status);
  ASSERT_OK(all.decode);
  ASSERT_EQ(Texts(all.lines, 1), NumberedLines("out", 1, 30));

  for (int k : {1, 12, 30}) {
    const int64_t at = all.lines[k - 1].timestamp_ns;
    Followed from = Follow(client_, *id, false, DockerSince(at));
    ASSERT_OK(from.status);
    ASSERT_OK(from.decode);
    // Lines stamped in the same nanosecond as line k would come too; none are, here.
    std::vector<std::string> want;
    for (const LogLine& line : all.lines) {
      if (line.timestamp_ns >= at) want.push_back(line.text);
    }
    EXPECT_EQ(Texts(from.lines, 1), want) << "since line " << k;
    ASSERT_FALSE(from.lines.empty()) << "since line " << k;
    EXPECT_EQ(from.lines.front().text, "out " + std::to_string(k));

    Followed after = Follow(client_, *id, false, DockerSince(at + 1));
    ASSERT_OK(after.status);
    want.erase(want.begin());
    EXPECT_EQ(Texts(after.lines, 1), want) << "since line " << k << " + 1 ns";
  }
}

TEST_F(DockerClientRealTest, FollowLogsOfATtyContainerReadsItsRawStream) {
  absl::StatusOr<std::string> id = Create(
      {"sh", "-c", "echo one; head -c 40000 /dev/zero | tr '\\0' y; echo; echo two >&2; echo last"}, {{"Tty", true}});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));
  Followed followed = Follow(client_, *id, /*tty=*/true, "0");
  ASSERT_OK(followed.status);
  ASSERT_OK(followed.decode);
  // A terminal has one output: stderr arrives as stdout. The engine reads a terminal in pieces of
  // its own choosing, and without frames a piece of exactly the engine's part size cannot be told
  // from a line's end: around the long line, where lines are cut may differ. Every byte arrives, in
  // order, the first and last lines whole. (A TTY container's last line without a newline has been
  // seen missing from the follow on this engine, not yet explained: docs/logs.md; this container
  // ends its output with a newline.)
  std::vector<std::string> texts = Texts(followed.lines, 1);
  ASSERT_GE(texts.size(), 3u);
  EXPECT_EQ(texts.front(), "one");
  EXPECT_EQ(texts.back(), "last");
  std::string all;
  for (const std::string& t : texts) all += t;
  EXPECT_EQ(all, "one" + std::string(40000, 'y') + "two" + "last");
}

TEST_F(DockerClientRealTest, FollowLogsEndsWhenTheCallbackSaysSoOrOnCancelAll) {
  absl::StatusOr<std::string> id = Create({"sh", "-c", "echo ready; sleep 1000"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_OK(client_.StartContainer(*id));

  int calls = 0;
  ASSERT_OK(client_.FollowLogs(*id, "0", [&](std::string_view) { return ++calls < 1; }));
  EXPECT_EQ(calls, 1);

  // CancelAll is for good: a client of its own.
  DockerClient cancelled;
  ASSERT_OK(cancelled.Connect());
  std::atomic<bool> got_data{false};
  absl::Status status;
  std::thread follower([&] {
    status = cancelled.FollowLogs(*id, "0", [&](std::string_view) {
      got_data = true;
      return true;
    });
  });
  for (int i = 0; i < 200 && !got_data; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(got_data);
  cancelled.CancelAll();
  follower.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
}

TEST_F(DockerClientRealTest, FollowLogsOfAnUnknownContainerIsNotFound) {
  bool called = false;
  absl::Status st = client_.FollowLogs("berth-no-such-container-" + RandomSuffix(), "0", [&](std::string_view) {
    called = true;
    return true;
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("No such container"));
  EXPECT_FALSE(called) << "an error's body is not log data";
}

}  // namespace
}  // namespace berth::agent::docker
