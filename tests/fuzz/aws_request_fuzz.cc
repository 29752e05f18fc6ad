// libFuzzer target for the AWS JSON door (src/controlplane/doors/aws_gateway.h): the request as
// cpp-httplib hands it over (method, path, headers, body), through SigV4 verification, the
// X-Amz-Target dispatch (ECS and CloudWatch Logs) and the JSON body parsing, into a real Api on a
// memory store and a log store.
//
// An input is an HTTP-like text:
//   METHOD PATH[?QUERY]\n
//   Header-Name: value\n      (any number)
//   \n
//   BODY
// A missing part is empty. Each input runs twice, each time against a fresh control plane whose
// AWS door requires SigV4 with one access key and whose clock is fixed:
//   1. as given. It carries no valid signature unless it was made with the key, so the invariants
//      are those of a refusal: the answer is an error with the ECS error shape, and nothing was
//      committed.
//   2. signed with the key over `host`, `x-amz-date` and every other header whose name is an HTTP
//      token, as an SDK signs. The signature must be accepted (no signature or credential error),
//      whatever the headers and the path hold: the verifier's canonical form must agree with the
//      signer's for every request a client can send. The action then runs.
// Every answer must be a JSON object; an error must have string `__type` and `message`; a refusal
// must leave the store's revision where it was.
//
// This file has no main(): the fuzzer build links libFuzzer's, and the unit test
// tests/unit/controlplane/aws_request_corpus_test.cc links gtest's and feeds it the seed corpus
// (tests/fuzz/corpus/aws_request/).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "berth/logs/log_store.h"
#include "berth/store/store.h"
#include "src/controlplane/auth/auth.h"
#include "src/controlplane/doors/aws_gateway.h"
#include "src/controlplane/server.h"

namespace {

using berth::controlplane::AwsGateway;
using berth::controlplane::AwsHttpRequest;
using berth::controlplane::AwsHttpResponse;
using berth::controlplane::Server;
namespace auth = berth::controlplane::auth;
namespace sigv4 = berth::controlplane::sigv4;

constexpr size_t kMaxInputLength = 64 * 1024;
constexpr char kAccessKeyId[] = "AKIAFUZZFUZZFUZZFUZZ";
constexpr char kSecret[] = "fuzzsecretfuzzsecretfuzzsecretfuzzsecret";
constexpr int64_t kNow = 1'700'000'000;  // 2023-11-14T22:13:20Z
constexpr char kAmzDate[] = "20231114T221320Z";

void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "aws_request_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// A fixed wall clock for the Api (task timestamps); the gateway has its own fixed now.
class FixedClock final : public berth::Clock {
 public:
  int64_t NowMicros() const override { return kNow * 1'000'000; }
  int64_t MonotonicMicros() const override { return kNow * 1'000'000; }
};

// One log store for every input (opening RocksDB per input would slow the fuzzer tenfold), in a
// temporary directory removed at exit. Logs do not enter the revision the invariants check.
struct SharedLogs {
  SharedLogs() {
    char dir[] = "/tmp/aws_request_fuzz_logs.XXXXXX";
    if (mkdtemp(dir) == nullptr) Fail("setup", "mkdtemp");
    path = dir;
    auto opened = berth::logs::OpenRocksDbLogStore({.path = path, .max_bytes = 1 << 26, .wal_sync_interval_ms = 1000});
    if (!opened.ok()) Fail("setup", std::string(opened.status().message()));
    store = *std::move(opened);
  }
  ~SharedLogs() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
  std::unique_ptr<berth::logs::LogStore> store;
};

berth::logs::LogStore* LogStoreForInputs() {
  static SharedLogs logs;
  return logs.store.get();
}

// A control plane as berthd composes one, on a memory store.
struct World {
  World() {
    store = berth::store::NewMemoryStore();
    berth::controlplane::ApiOptions api;
    api.log_store = LogStoreForInputs();
    auto opened = Server::Open(store.get(), {.api = api, .pipeline = {}, .observer = nullptr, .clock = &clock});
    if (!opened.ok()) Fail("setup", std::string(opened.status().message()));
    server = *std::move(opened);
    if (!server->Start().ok()) Fail("setup", "Bootstrap failed");
    auth::Authority::Options options;
    options.legacy_access_keys = {{kAccessKeyId, kSecret}};
    options.now_seconds = [] { return kNow; };
    auto created = auth::Authority::Create(std::move(options));
    if (!created.ok()) Fail("setup", std::string(created.status().message()));
    authority = *std::move(created);
    gateway = std::make_unique<AwsGateway>(
        &server->api(), nullptr,
        AwsGateway::Options{.region = "local", .authority = authority.get(), .now_seconds = [] { return kNow; }});
  }
  ~World() { server->Stop(); }
  uint64_t revision() { return server->pipeline().committed_revision(); }

  FixedClock clock;
  std::unique_ptr<berth::store::Store> store;
  std::unique_ptr<Server> server;
  std::unique_ptr<auth::Authority> authority;
  std::unique_ptr<AwsGateway> gateway;
};

std::string_view NextLine(std::string_view* rest) {
  size_t nl = rest->find('\n');
  std::string_view line = rest->substr(0, nl);
  rest->remove_prefix(nl == std::string_view::npos ? rest->size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Decodes %XX as cpp-httplib does for query parameters; malformed escapes stay as they are.
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

AwsHttpRequest ParseInput(std::string_view text) {
  AwsHttpRequest r;
  std::string_view first = NextLine(&text);
  size_t space = first.find(' ');
  r.method = std::string(first.substr(0, space));
  std::string_view target = space == std::string_view::npos ? std::string_view() : first.substr(space + 1);
  size_t q = target.find('?');
  r.raw_path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
      size_t eq = pair.find('=');
      r.query.emplace_back(PercentDecode(pair.substr(0, eq)),
                           eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1)));
    }
  }
  while (!text.empty()) {
    std::string_view line = NextLine(&text);
    if (line.empty()) break;
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    // cpp-httplib drops the spaces after the colon; the rest of the value is kept as sent.
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    r.headers.emplace_back(std::string(name), std::string(value));
  }
  r.body = std::string(text);
  return r;
}

bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// The request as an SDK would sign it: Host and X-Amz-Date set (replacing any), Authorization
// replaced, the signature over host, x-amz-date and every header named by a token.
AwsHttpRequest Signed(AwsHttpRequest r) {
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& h : r.headers) {
    const std::string name = Lower(h.first);
    if (name == "host" || name == "x-amz-date" || name == "authorization" || !IsToken(h.first)) continue;
    kept.push_back(std::move(h));
  }
  kept.emplace_back("Host", "127.0.0.1:8080");
  kept.emplace_back("X-Amz-Date", kAmzDate);
  r.headers = std::move(kept);
  std::vector<std::string> names;
  for (const auto& h : r.headers) names.push_back(Lower(h.first));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string signed_headers;
  for (const auto& n : names) signed_headers += (signed_headers.empty() ? "" : ";") + n;
  // The service of the target's protocol, as the SDK's client for it signs.
  std::string service = "ecs";
  for (const auto& h : r.headers) {
    if (Lower(h.first) != "x-amz-target") continue;
    if (h.second.rfind(AwsGateway::kLogsTargetPrefix, 0) == 0) service = "logs";
    break;  // the gateway reads the first
  }
  const std::string scope = std::string(kAmzDate).substr(0, 8) + "/local/" + service + "/aws4_request";
  const std::string canonical = sigv4::CanonicalRequest(r, names);
  const std::string signature = sigv4::Signature(kSecret, std::string(kAmzDate).substr(0, 8), "local", service,
                                                 sigv4::StringToSign(kAmzDate, scope, canonical));
  r.headers.emplace_back("Authorization", std::string("AWS4-HMAC-SHA256 Credential=") + kAccessKeyId + "/" + scope +
                                              ", SignedHeaders=" + signed_headers + ", Signature=" + signature);
  return r;
}

// Checks the answer's shape; returns its __type ("" on success).
std::string CheckShape(const AwsHttpResponse& response, const std::string& input) {
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    Fail("answer is not a JSON object", response.body + "\ninput: " + input);
  if (response.status == 200) {
    if (body.contains("__type")) Fail("a 200 answer has __type", response.body);
    return "";
  }
  if (response.status < 400 || response.status > 599) {
    Fail("unexpected status", std::to_string(response.status) + " " + response.body);
  }
  if (!body.contains("__type") || !body["__type"].is_string() || !body.contains("message") ||
      !body["message"].is_string()) {
    Fail("error without string __type and message", response.body);
  }
  return body["__type"].get<std::string>();
}

bool IsAuthenticationError(const std::string& type) {
  return type == "InvalidSignatureException" || type == "IncompleteSignatureException" ||
         type == "UnrecognizedClientException" || type == "MissingAuthenticationTokenException" ||
         type == "AccessDeniedException";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputLength) return 0;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const AwsHttpRequest request = ParseInput(input);

  {
    World world;
    const uint64_t before = world.revision();
    AwsHttpResponse response = world.gateway->Handle(request);
    CheckShape(response, input);
    if (response.status != 200 && world.revision() != before) {
      Fail("a refused request changed the store", response.body + "\ninput: " + input);
    }
  }
  {
    World world;
    const uint64_t before = world.revision();
    AwsHttpResponse response = world.gateway->Handle(Signed(request));
    const std::string type = CheckShape(response, input);
    if (IsAuthenticationError(type))
      Fail("a correctly signed request was refused", response.body + "\ninput: " + input);
    if (response.status != 200 && world.revision() != before) {
      Fail("a refused request changed the store", response.body + "\ninput: " + input);
    }
  }
  return 0;
}
