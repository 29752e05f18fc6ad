// berthd: the Berth control plane. This file is the composition root: the only place where the
// RocksDB store, the control plane's core (Server: state, commit pipeline, Api), gRPC and the HTTP
// listener are wired together. Run() reads as berthd's life: flags into Options, logging, signals,
// the store opened and recovered into a started Server, the doors started, then the wait for a
// signal and the shutdown sequence.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#ifdef BERTH_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc reads this when it initializes, before main; MALLOC_CONF in the environment overrides
// it. Transparent huge pages for the heap and jemalloc's own metadata: berthd's heap grows with
// every task it holds, and each 4 KiB page fault (about 15 us on the benchmark VM) and TLB miss
// costs; with 2 MiB pages S2's tail and S5's at 2,500 instances measured lower in alternating pairs
// (docs/benchmarks.md, "Transparent huge pages"). MALLOC_CONF=thp:default,metadata_thp:disabled
// turns it off.
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:always";
}
#endif

#include "absl/synchronization/mutex.h"
#include "berth/common/clock.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"
#include "berth/logs/log_store.h"
#include "berth/store/store.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/actions/capacity_controller.h"
#include "src/controlplane/auth/auth.h"
#include "src/controlplane/doors/agent_service.h"
#include "src/controlplane/doors/aws_gateway.h"
#include "src/controlplane/doors/grpc_service.h"
#include "src/controlplane/doors/http_server.h"
#include "src/controlplane/doors/tls.h"
#include "src/controlplane/metrics.h"
#include "src/controlplane/server.h"
#include "src/controlplane/state/state.h"

namespace berth::controlplane {
namespace {

struct Flags {
  std::string data_dir;
  std::string grpc_listen = "127.0.0.1:7480";
  std::string http_listen;
  int http_threads = 64;
  std::string region = "local";
  std::string account = "000000000000";
  std::string log_format = "text";
  std::string log_level = "info";
  std::string ready_file;
  std::vector<std::string> access_keys;
  std::string access_keys_file;
  std::string auth_config;
  std::string audit_log;
  tls::ServerFiles tls;
  unsigned tls_refresh_s = 10;
  size_t max_batch = 1024;
  int64_t commit_delay_us = 0;
  int grpc_max_message_bytes = 4 << 20;
  int max_tasks_per_run = 10;
  double agent_disconnect_after_s = 60;
  double max_poll_wait_s = 30;
  double poll_wait_jitter = 0.25;
  double stopped_task_retention_s = 3600;
  double service_backoff_base_s = 10;
  double service_resync_interval_s = 30;
  double provisioning_timeout_s = 1800;
  std::string capacity_config;
  std::string file_systems;
  int max_provisioning_tasks = 500;
  bool sync = true;
  std::string store_background_priority = "low";
  int64_t logs_max_bytes = 10LL * 1024 * 1024 * 1024;
  std::string default_log_group = "/berth/{cluster}";
};

bool SplitHostPort(const std::string& text, std::string* host, int* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return ParseInt(text.substr(colon + 1), port) && *port >= 0 && *port <= 65535;
}

bool IsLoopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

// --access-key values plus the lines of --access-keys-file (blank lines and '#' comments skipped).
bool LoadAccessKeys(const Flags& flags, std::map<std::string, std::string>* keys) {
  std::vector<std::pair<std::string, std::string>> entries;  // (origin, text)
  for (const std::string& k : flags.access_keys) entries.emplace_back("--access-key", k);
  if (!flags.access_keys_file.empty()) {
    std::ifstream in(flags.access_keys_file);
    if (!in) {
      log::Error("--access-keys-file: cannot read '{}'", flags.access_keys_file);
      return false;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      entries.emplace_back(StrCat(flags.access_keys_file, ":", n), line);
    }
  }
  for (const auto& [origin, text] : entries) {
    auto key = ParseAccessKey(text);
    if (!key.ok()) {
      log::Error("{}: {}", origin, std::string(key.status().message()));  // never log the value: it holds a secret
      return false;
    }
    if (!keys->emplace(key->first, key->second).second) {
      log::Error("{}: access key id {} is given twice", origin, key->first);
      return false;
    }
  }
  return true;
}

// The kernel's transparent huge page mode (the bracketed word of its sysfs file), or why there is none.
std::string KernelHugePageMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!in || !std::getline(in, line)) return "none (no /sys/kernel/mm/transparent_hugepage)";
  const size_t open = line.find('[');
  const size_t close = line.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return line;
  return line.substr(open + 1, close - open - 1);
}

// The allocator berthd runs on and its huge-page mode, for the start-up log.
std::string AllocatorDescription() {
#ifdef BERTH_WITH_JEMALLOC
  const char* version = nullptr;
  const char* thp = nullptr;
  size_t size = sizeof(const char*);
  if (mallctl("version", static_cast<void*>(&version), &size, nullptr, 0) != 0) version = "(version unknown)";
  size = sizeof(const char*);
  if (mallctl("opt.thp", static_cast<void*>(&thp), &size, nullptr, 0) != 0) thp = "unknown";
  return StrCat("jemalloc ", version, ", transparent huge pages: ", thp, " (the kernel's mode: ", KernelHugePageMode(),
                ")");
#else
  return "the C library's malloc";
#endif
}

// What berthd runs with once its flags are checked: the doors' addresses and authentication, and
// the Server's options with the --capacity-config and --file-systems files read.
struct Options {
  std::string http_host;
  int http_port = 0;
  std::unique_ptr<auth::Authority> authority;
  std::unique_ptr<tls::HttpContext> http_tls;  // only with TLS and --http-listen
  // Instance groups and Fargate capacity (docs/capacity.md); read before the Api, which must know
  // whether FARGATE tasks can run.
  std::optional<CapacityConfig> capacity_config;
  Server::Options server;
};

bool InitLogging(const Flags& flags) {
  log::Format format;
  log::Level level;
  if (!log::ParseFormat(flags.log_format, &format)) {
    std::fprintf(stderr, "berthd: --log-format must be text or json\n");
    return false;
  }
  if (!log::ParseLevel(flags.log_level, &level)) {
    std::fprintf(stderr, "berthd: --log-level must be debug, info, warn or error\n");
    return false;
  }
  log::Init(format, level);
  // Debian's Abseil is built with the mutex deadlock detector on; it costs CPU on every lock of
  // the hot path and berthd's lock order is fixed by design (state mutex, then pipeline queues).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}

// The HTTP address, the authority (access keys, --auth-config, the task credentials key) and TLS.
bool ConfigureDoors(const Flags& flags, Options* options) {
  if (!flags.http_listen.empty() && !SplitHostPort(flags.http_listen, &options->http_host, &options->http_port)) {
    log::Error("--http-listen: '{}' is not HOST:PORT", flags.http_listen);
    return false;
  }
  std::map<std::string, std::string> access_keys;
  if (!LoadAccessKeys(flags, &access_keys)) return false;
  // The task credentials key lives beside the store (created on first start).
  std::error_code dir_error;
  std::filesystem::create_directories(flags.data_dir, dir_error);
  auto authority = auth::Authority::Create({.config_path = flags.auth_config,
                                            .legacy_access_keys = access_keys,
                                            .audit_path = flags.audit_log,
                                            .arns = {.region = flags.region, .account = flags.account},
                                            .now_seconds = nullptr,
                                            .credentials_key_path = flags.data_dir + "/task-credentials.key"});
  if (!authority.ok()) {
    log::Error("{}", std::string(authority.status().message()));
    return false;
  }
  options->authority = *std::move(authority);
  if (absl::Status s = tls::Check(flags.tls); !s.ok()) {
    log::Error("{}", std::string(s.message()));
    return false;
  }
  if (flags.tls.enabled() && !flags.http_listen.empty()) {
    auto context = tls::HttpContext::Create(flags.tls);
    if (!context.ok()) {
      log::Error("{}", std::string(context.status().message()));
      return false;
    }
    options->http_tls = *std::move(context);
  }
  return true;
}

// Listening beyond loopback without authentication would hand the cluster to anyone who can reach
// the port: refuse to start rather than warn.
bool CheckExposure(const Flags& flags, const Options& options) {
  std::string grpc_host;
  int unused_port = 0;
  if (SplitHostPort(flags.grpc_listen, &grpc_host, &unused_port) && !IsLoopback(grpc_host) &&
      !options.authority->enabled()) {
    log::Error(
        "refusing to start: --grpc-listen {} is not a loopback address and no --auth-config is given, so anyone who "
        "can reach it could run containers on every host; give --auth-config (docs/security.md) or listen on "
        "127.0.0.1",
        flags.grpc_listen);
    return false;
  }
  const bool http_beyond_loopback = !flags.http_listen.empty() && !IsLoopback(options.http_host);
  if (http_beyond_loopback && !options.authority->aws_enabled()) {
    log::Error(
        "refusing to start: --http-listen {} is not a loopback address and neither --auth-config nor --access-key "
        "is given, so anyone who can reach it could call every ECS action; configure authentication "
        "(docs/security.md) or listen on 127.0.0.1",
        flags.http_listen);
    return false;
  }
  if (!flags.tls.enabled() && ((!grpc_host.empty() && !IsLoopback(grpc_host)) || http_beyond_loopback)) {
    log::Warn(
        "listening beyond loopback without --tls-cert: tokens and requests cross the network in the clear "
        "(docs/security.md, Transport)");
  }
  return true;
}

// The whole of the file at `path`, or nullopt (logged, naming `flag`) when it cannot be read.
std::optional<std::string> ReadConfigFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    log::Error("{} {}: cannot read the file", flag, path);
    return std::nullopt;
  }
  return text.str();
}

// The Server's options: the Api's from the flags, the capacity config and the file systems read.
bool ConfigureServer(const Flags& flags, Options* options) {
  if (!flags.capacity_config.empty()) {
    std::optional<std::string> text = ReadConfigFile("--capacity-config", flags.capacity_config);
    if (!text) return false;
    auto config = ParseCapacityConfig(*text);
    if (!config.ok()) {
      log::Error("--capacity-config {}: {}", flags.capacity_config, std::string(config.status().message()));
      return false;
    }
    options->capacity_config = *std::move(config);
  }
  options->server.pipeline = {.max_batch = flags.max_batch, .commit_delay_us = flags.commit_delay_us};
  ApiOptions& api = options->server.api;
  api.arn_context = {flags.region, flags.account};
  api.capacity.fargate = options->capacity_config && options->capacity_config->fargate.has_value();
  api.limits.max_tasks_per_run = flags.max_tasks_per_run;
  api.agent.disconnect_after_us = static_cast<int64_t>(flags.agent_disconnect_after_s * 1e6);
  api.agent.max_poll_wait_us = static_cast<int64_t>(flags.max_poll_wait_s * 1e6);
  api.agent.poll_wait_jitter = flags.poll_wait_jitter;
  api.agent.stopped_task_retention_us = static_cast<int64_t>(flags.stopped_task_retention_s * 1e6);
  api.services.rules.backoff_base_s = flags.service_backoff_base_s;
  api.services.resync_interval_us = static_cast<int64_t>(flags.service_resync_interval_s * 1e6);
  api.capacity.provisioning_timeout_us = static_cast<int64_t>(flags.provisioning_timeout_s * 1e6);
  api.capacity.max_provisioning_per_cluster = flags.max_provisioning_tasks;
  if (!flags.file_systems.empty()) {
    std::optional<std::string> text = ReadConfigFile("--file-systems", flags.file_systems);
    if (!text) return false;
    auto parsed = ParseFileSystems(*text);
    if (!parsed.ok()) {
      log::Error("--file-systems {}: {}", flags.file_systems, std::string(parsed.status().message()));
      return false;
    }
    api.file_systems = *std::move(parsed);
  }
  return true;
}

// Signals are taken synchronously by the main thread (sigwait); they are blocked before any thread
// starts so that every thread inherits the mask.
sigset_t BlockSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Opens the store, recovers the state from it and starts the Server; null (logged) on failure.
std::unique_ptr<Server> OpenAndStart(const Flags& flags, Options* options, Metrics* metrics,
                                     std::unique_ptr<store::Store>* store, std::unique_ptr<logs::LogStore>* log_store) {
  const auto started = std::chrono::steady_clock::now();
  log::Info("allocator: {}", AllocatorDescription());
  std::error_code ec;
  std::filesystem::create_directories(flags.data_dir, ec);
  auto opened = store::OpenRocksDbStore({.path = flags.data_dir + "/store",
                                         .sync = flags.sync,
                                         .low_priority_background = flags.store_background_priority == "low"});
  if (!opened.ok()) {
    log::Error("cannot open the store: {}", opened.status().ToString());
    return nullptr;
  }
  *store = *std::move(opened);
  auto logs_opened = logs::OpenRocksDbLogStore(
      {.path = flags.data_dir + "/logs", .max_bytes = flags.logs_max_bytes, .wal_sync_interval_ms = 1000});
  if (!logs_opened.ok()) {
    log::Error("cannot open the log store: {}", logs_opened.status().ToString());
    return nullptr;
  }
  *log_store = *std::move(logs_opened);
  options->server.api.log_store = log_store->get();
  options->server.api.log_routing.default_group = flags.default_log_group;
  options->server.observer = metrics;
  auto server = Server::Open(store->get(), std::move(options->server));
  if (!server.ok()) {
    log::Error("recovery failed: {}", server.status().ToString());
    return nullptr;
  }
  const State& state = (*server)->state();  // no other thread runs yet
  log::Info("recovered {} clusters, {} task definitions, {} container instances, {} tasks at revision {} in {} ms",
            state.clusters().size(), state.task_definition_count(), state.instance_count(), state.task_count(),
            (*server)->recovered_revision(),
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    log::Error("cannot bootstrap the store: {}", s.ToString());
    return nullptr;
  }
  return *std::move(server);
}

// The doors of a running Server and what runs beside them. Members are destroyed in reverse order:
// managed scaling, then HTTP, then gRPC.
struct Doors {
  std::unique_ptr<GrpcContainerService> service;
  std::unique_ptr<GrpcLogsService> logs_service;
  std::unique_ptr<GrpcAgentService> agent_service;
  std::unique_ptr<grpc::Server> grpc;
  std::string grpc_host;
  int grpc_port = 0;
  std::atomic<bool> serving{true};  // /healthz
  std::unique_ptr<AwsGateway> aws;
  std::unique_ptr<HttpServer> http;
  int http_port = 0;
  std::unique_ptr<CapacityController> capacity;
};

bool StartGrpc(const Flags& flags, const Options& options, Server& server, Metrics& metrics, Doors* doors) {
  doors->service = std::make_unique<GrpcContainerService>(&server.api(), &metrics, options.authority.get());
  doors->logs_service = std::make_unique<GrpcLogsService>(&server.api(), &metrics, options.authority.get());
  doors->agent_service = std::make_unique<GrpcAgentService>(&server.api(), &metrics, options.authority.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(flags.grpc_listen,
                           flags.tls.enabled() ? tls::GrpcServerCredentials(flags.tls, flags.tls_refresh_s)
                                               : grpc::InsecureServerCredentials(),
                           &doors->grpc_port);
  // A second process must not share the port (gRPC's default SO_REUSEPORT would allow it).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(flags.grpc_max_message_bytes);
  builder.SetMaxSendMessageSize(flags.grpc_max_message_bytes);
  builder.RegisterService(doors->service.get());
  builder.RegisterService(doors->logs_service.get());
  builder.RegisterService(doors->agent_service.get());
  doors->grpc = builder.BuildAndStart();
  if (doors->grpc == nullptr || doors->grpc_port == 0) {
    log::Error("cannot listen for gRPC on {}", flags.grpc_listen);
    return false;
  }
  int unused = 0;
  SplitHostPort(flags.grpc_listen, &doors->grpc_host, &unused);
  return true;
}

// /metrics, /healthz and the AWS JSON 1.1 door; listening only with --http-listen.
bool StartHttp(const Flags& flags, const Options& options, Server& server, Metrics& metrics, Doors* doors) {
  doors->aws = std::make_unique<AwsGateway>(
      &server.api(), &metrics,
      AwsGateway::Options{.region = flags.region, .authority = options.authority.get(), .now_seconds = nullptr});
  AwsGateway* aws = doors->aws.get();
  std::atomic<bool>* serving = &doors->serving;
  doors->http = std::make_unique<HttpServer>(
      HttpServer::Handlers{.metrics = [&metrics] { return metrics.Serialize(); },
                           .healthy = [serving] { return serving->load(); },
                           .aws = [aws](const AwsHttpRequest& request) { return aws->Handle(request); }},
      HttpServer::Options{.threads = flags.http_threads}, options.http_tls.get());
  if (flags.http_listen.empty()) return true;
  auto bound = doors->http->Start(options.http_host, options.http_port);
  if (!bound.ok()) {
    log::Error("{}", bound.status().ToString());
    return false;
  }
  doors->http_port = *bound;
  log::Info("HTTP{} (/metrics, /healthz, AWS JSON 1.1 on POST /) listening on {}:{}; AWS door authentication {}",
            options.http_tls != nullptr ? "S" : "", options.http_host, doors->http_port,
            options.authority->aws_enabled() ? "on" : "off");
  return true;
}

// Managed scaling of the instance groups this berthd runs (docs/capacity.md), with
// --capacity-config.
bool StartCapacity(const Flags& flags, Options* options, Server& server, Doors* doors) {
  if (!options->capacity_config) return true;
  // The local provider's agents reach this berthd on this machine.
  std::string host = doors->grpc_host;
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") host = "127.0.0.1";
  if (host.find(':') != std::string::npos && host.front() != '[') host = StrCat("[", host, "]");
  const std::string endpoint = StrCat(host, ":", doors->grpc_port);
  auto made = CapacityController::Create(&server.api(), *std::move(options->capacity_config), endpoint);
  if (!made.ok()) {
    log::Error("--capacity-config {}: {}", flags.capacity_config, std::string(made.status().message()));
    return false;
  }
  doors->capacity = *std::move(made);
  doors->capacity->Start();
  log::Info("managed scaling of the instance groups in {} started", flags.capacity_config);
  return true;
}

// Written atomically (rename) so a reader never sees a partial file.
void WriteReadyFile(const Flags& flags, const Options& options, const Doors& doors) {
  if (flags.ready_file.empty()) return;
  std::string tmp = flags.ready_file + ".tmp";
  {
    std::ofstream out(tmp);
    out << "{\"grpc\": \"" << doors.grpc_host << ":" << doors.grpc_port << "\"";
    if (!flags.http_listen.empty()) out << ", \"http\": \"" << options.http_host << ":" << doors.http_port << "\"";
    out << ", \"pid\": " << getpid() << "}\n";
  }
  std::error_code ec;
  std::filesystem::rename(tmp, flags.ready_file, ec);
}

// Waits for SIGTERM or SIGINT and returns it; a SIGHUP meanwhile re-reads the authentication
// configuration and the HTTP door's certificate.
int WaitForStopSignal(const sigset_t& signals, const Flags& flags, const Options& options) {
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) return sig;
    // Tokens, keys and policies are re-read; a revoked token is refused from the next request.
    if (absl::Status reloaded = options.authority->Reload(); reloaded.ok()) {
      log::Info("SIGHUP: reloaded {}", flags.auth_config.empty() ? "(no --auth-config)" : flags.auth_config);
    } else {
      log::Error("SIGHUP: {}; the previous configuration stays in force", std::string(reloaded.message()));
    }
    if (options.http_tls != nullptr) {
      // gRPC re-reads the same files on its own every --tls-refresh seconds.
      if (absl::Status reloaded = options.http_tls->Reload(); reloaded.ok()) {
        log::Info("SIGHUP: reloaded the HTTP door's certificate {}", flags.tls.cert_path);
      } else {
        log::Error("SIGHUP: {}; the HTTP door keeps its previous certificate", std::string(reloaded.message()));
      }
    }
  }
}

// The drain (docs/operations.md, "Stopping"): managed scaling, housekeeping and parked polls, the
// gRPC door, the HTTP door, the pipeline, the store, in that order. Returns the exit status.
int Shutdown(int sig, Server& server, Doors& doors, store::Store& store) {
  log::Info("received {}, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  doors.serving = false;
  auto phase_start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&phase_start] {
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - phase_start).count();
    phase_start = now;
    return ms;
  };
  if (doors.capacity != nullptr) {
    doors.capacity->Stop();
    doors.capacity.reset();  // the local provider's hosts stop with it
    log::Info("instance groups stopped in {} ms", elapsed_ms());
  }
  // Parked long polls answer UNAVAILABLE now rather than at the drain deadline.
  server.StopPolls();
  // What is left in flight is ordinary calls, which take milliseconds (a RunTask waits for one
  // commit): they get a second. At the deadline gRPC cancels what remains and closes every
  // connection. Without that an idle client holds the drain: it notices the server's GOAWAY only
  // at its next poll of the connection, which gRPC clients with no call in flight make every 5 s.
  doors.grpc->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  log::Info("gRPC drained in {} ms", elapsed_ms());
  doors.http->Stop();
  log::Info("HTTP stopped in {} ms", elapsed_ms());
  server.Stop();
  if (absl::Status s = store.Close(); !s.ok()) {
    log::Error("closing the store: {}", s.ToString());
    return 1;
  }
  log::Info("stopped cleanly at revision {}", server.pipeline().committed_revision());
  return 0;
}

int Run(const Flags& flags) {
  if (!InitLogging(flags)) return 2;
  Options options;
  if (!ConfigureDoors(flags, &options) || !CheckExposure(flags, options)) return 2;
  const sigset_t signals = BlockSignals();
  if (!ConfigureServer(flags, &options)) return 1;

  // Declared in this order so that they are destroyed in reverse: the doors before the Server, the
  // Server (its pipeline reports to the metrics) before the metrics and the store.
  std::unique_ptr<store::Store> store;
  std::unique_ptr<logs::LogStore> log_store;
  Metrics metrics;
  std::unique_ptr<Server> server = OpenAndStart(flags, &options, &metrics, &store, &log_store);
  if (server == nullptr) return 1;
  metrics.SetEntityCountsSource([&server] { return server->EntityCounts(); });
  server->StartHousekeeping();

  Doors doors;
  if (!StartGrpc(flags, options, *server, metrics, &doors) || !StartHttp(flags, options, *server, metrics, &doors)) {
    return 1;
  }
  log::Info("berthd serving gRPC on {}:{} (data dir {}, region {}, account {}; authentication {}; TLS {})",
            doors.grpc_host, doors.grpc_port, flags.data_dir, flags.region, flags.account,
            options.authority->enabled() ? StrCat("on, ", flags.auth_config) : "off",
            !flags.tls.enabled()               ? "off"
            : flags.tls.client_ca_path.empty() ? "on"
                                               : "on, client certificates verified");
  if (!StartCapacity(flags, &options, *server, &doors)) return 1;
  WriteReadyFile(flags, options, doors);

  return Shutdown(WaitForStopSignal(signals, flags, options), *server, doors, *store);
}

}  // namespace
}  // namespace berth::controlplane

int main(int argc, char** argv) {
  berth::controlplane::Flags flags;
  CLI::App app{"berthd: the Berth control plane"};
  app.set_config("--config", "", "TOML or INI config file; flags given on the command line override it");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_option("--data-dir", flags.data_dir, "Directory of the embedded store")->required();
  app.add_option("--grpc-listen", flags.grpc_listen, "gRPC listen address HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--http-listen", flags.http_listen,
                 "HTTP listen address for /metrics, /healthz and the AWS JSON 1.1 API (off when empty)");
  app.add_option("--http-threads", flags.http_threads,
                 "HTTP workers: connections served at once (a kept-alive SDK connection holds one)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--access-key", flags.access_keys,
                 "ACCESS_KEY_ID:SECRET accepted on the AWS JSON door (SigV4); repeatable; none: auth off");
  app.add_option("--access-keys-file", flags.access_keys_file,
                 "File of ACCESS_KEY_ID:SECRET lines, added to --access-key (keeps secrets out of argv)");
  app.add_option("--auth-config", flags.auth_config,
                 "JSON file of principals, their API tokens (SHA-256) and access keys, and IAM-shaped policies; "
                 "every request of every door must then authenticate (re-read on SIGHUP; docs/security.md)");
  app.add_option("--audit-log", flags.audit_log,
                 "Append a JSON line per mutating request and per refused one (principal, action, resource, decision)");
  app.add_option(
      "--tls-cert", flags.tls.cert_path,
      "PEM certificate chain (leaf first) served on gRPC and HTTP; with --tls-key, both doors speak TLS only");
  app.add_option("--tls-key", flags.tls.key_path, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", flags.tls.client_ca_path,
                 "PEM CA bundle: gRPC clients may present a certificate it signed, which names a principal of "
                 "--auth-config (mutual TLS for agents); a certificate it did not sign fails the handshake");
  app.add_option("--tls-refresh", flags.tls_refresh_s,
                 "Seconds between gRPC's re-reads of the TLS files (the HTTP door re-reads them on SIGHUP)")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  app.add_option("--region", flags.region, "Region in ARNs (lowercase letters, digits and '-')")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            if (v.empty() || v.size() > 32) return "region must be 1-32 characters";
            for (char c : v) {
              if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
                return "region may contain only lowercase letters, digits and '-'";
              }
            }
            return {};
          },
          "REGION"))
      ->capture_default_str();
  app.add_option("--account", flags.account, "Account id in ARNs (12 digits)")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            if (v.size() != 12 || v.find_first_not_of("0123456789") != std::string::npos) {
              return "account must be 12 digits";
            }
            return {};
          },
          "ACCOUNT"))
      ->capture_default_str();
  app.add_option("--log-format", flags.log_format, "text or json")->capture_default_str();
  app.add_option("--log-level", flags.log_level, "debug, info, warn or error")->capture_default_str();
  app.add_option("--ready-file", flags.ready_file,
                 "Write {\"grpc\": HOST:PORT, \"http\": HOST:PORT, \"pid\": N} here once serving");
  app.add_option("--max-batch", flags.max_batch, "Most proposals committed by one synced write")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--commit-delay-us", flags.commit_delay_us,
                 "Group-commit delay: wait up to this long for more proposals when a batch is small (0: off)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--grpc-max-message-bytes", flags.grpc_max_message_bytes, "Largest gRPC message accepted or sent")
      ->check(CLI::Range(64 << 10, 64 << 20))
      ->capture_default_str();
  app.add_option("--max-tasks-per-run", flags.max_tasks_per_run, "Largest RunTask count")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--agent-disconnect-after", flags.agent_disconnect_after_s,
                 "Seconds without a poll or report after which an instance is marked agentConnected=false")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  app.add_option("--max-poll-wait", flags.max_poll_wait_s, "Longest an agent's long poll is held, in seconds")
      ->check(CLI::Range(0.1, 300.0))
      ->capture_default_str();
  app.add_option("--poll-wait-jitter", flags.poll_wait_jitter,
                 "A parked poll with nothing new is answered after a wait drawn from [(1 - jitter) x wait, wait], "
                 "so polls that began together do not all expire together")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--stopped-task-retention", flags.stopped_task_retention_s,
                 "Seconds a STOPPED task stays visible before it is deleted")
      ->check(CLI::Range(1.0, 30.0 * 86400))
      ->capture_default_str();
  app.add_option("--service-backoff-base", flags.service_backoff_base_s,
                 "Seconds a service waits before relaunching after its first failures beyond the free retries; "
                 "doubles per failure up to 15 minutes")
      ->check(CLI::Range(0.01, 900.0))
      ->capture_default_str();
  app.add_option("--service-resync-interval", flags.service_resync_interval_s,
                 "Seconds between reconciliations of every service even without events")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--capacity-config", flags.capacity_config,
                 "JSON file declaring the instance groups berthd runs for capacity providers' managed scaling "
                 "(docs/capacity.md)");
  app.add_option("--file-systems", flags.file_systems,
                 "JSON file declaring the shared file systems efsVolumeConfiguration volumes mount (docs/capacity.md)");
  app.add_option("--provisioning-timeout", flags.provisioning_timeout_s,
                 "Seconds a task may wait in PROVISIONING for capacity from its capacity provider before it stops")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  app.add_option("--max-provisioning-tasks", flags.max_provisioning_tasks,
                 "Most tasks waiting in PROVISIONING per cluster; launches beyond it fail as without capacity")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--logs-max-bytes", flags.logs_max_bytes,
                 "Size cap of the log store (DATA_DIR/logs): past it the oldest log events are deleted first")
      ->capture_default_str();
  app.add_option("--default-log-group", flags.default_log_group,
                 "Log group of containers without a logConfiguration ({cluster}: the cluster's name); \"\": their "
                 "output is not kept")
      ->capture_default_str();
  app.add_option("--store-background-priority", flags.store_background_priority,
                 "CPU priority of the store's flushes and compactions: low (nice 19: they yield to commits and "
                 "answers) or normal")
      ->check(CLI::IsMember({"low", "normal"}))
      ->capture_default_str();
  app.add_flag("!--no-sync", flags.sync,
               "Do not fsync commits (benchmarks only: acknowledged writes can be lost on power failure)");
  CLI11_PARSE(app, argc, argv);
  return berth::controlplane::Run(flags);
}
