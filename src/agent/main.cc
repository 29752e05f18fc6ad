// berth-agent: the container agent. Registers this host with berthd, runs the tasks berthd places
// here through a container runtime (docker, or sim for simulated hosts), and reports their state.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "berth/common/clock.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"
#include "src/agent/agent.h"
#include "src/agent/docker_runtime.h"
#include "src/agent/sim_runtime.h"
#include "src/common/grpc_tls.h"

namespace berth::agent {
namespace {

struct Flags {
  AgentOptions agent;
  std::string runtime = "docker";
  std::string token_file;
  std::string join_token_file;
  ClientTls tls;
  std::vector<std::string> attributes;
  bool external = false;
  std::string reserved_ports = "22,2375,2376,51678,51679";
  std::string reserved_udp_ports;
  std::string docker_socket = "/var/run/docker.sock";
  std::string pause_image = "berth/pause:latest";
  std::string awsvpc_network = "berth-awsvpc";
  double poll_wait_s = 20;
  double cleanup_after_s = 3 * 3600;
  double storage_check_interval_s = 10;
  bool task_cgroups = true;
  std::string cgroup_root = "/sys/fs/cgroup";
  SimRuntime::Options sim;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string ready_file;
};

bool ParsePorts(const std::string& text, std::vector<int32_t>* out, std::string* error) {
  out->clear();
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    int32_t port = 0;
    if (!ParseInt(item, &port) || port < 1 || port > 65535) {
      *error = StrCat("'", item, "' is not a port (1-65535)");
      return false;
    }
    out->push_back(port);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out->size() > 100) {
    *error = "at most 100 reserved ports";
    return false;
  }
  return true;
}

int Run(Flags flags) {
  log::Format format;
  log::Level level;
  if (!log::ParseFormat(flags.log_format, &format) || !log::ParseLevel(flags.log_level, &level)) {
    std::fprintf(stderr, "berth-agent: --log-format must be text or json; --log-level debug, info, warn or error\n");
    return 2;
  }
  log::Init(format, level);
  std::string error;
  if (!ParsePorts(flags.reserved_ports, &flags.agent.reserved_tcp_ports, &error)) {
    log::Error("--reserved-ports: {}", error);
    return 2;
  }
  if (!ParsePorts(flags.reserved_udp_ports, &flags.agent.reserved_udp_ports, &error)) {
    log::Error("--reserved-udp-ports: {}", error);
    return 2;
  }
  for (const auto& a : flags.attributes) {
    size_t eq = a.find('=');
    std::string name = a.substr(0, eq);
    if (name.empty()) {
      log::Error("--attribute: '{}' is not NAME=VALUE", a);
      return 2;
    }
    flags.agent.attributes[name] = eq == std::string::npos ? "" : a.substr(eq + 1);
  }
  if (flags.external) {
    // ECS Anywhere: a host outside the control plane's network joins with an activation, here a
    // join token, and runs only EXTERNAL tasks (docs/capacity.md, "External hosts").
    if (flags.join_token_file.empty()) {
      log::Error("--external: an external host joins with a join token: give --join-token-file");
      return 2;
    }
    flags.agent.attributes["ecs.capability.external"] = "";
  }
  // The first line of a --token-file or --join-token-file, trailing spaces dropped.
  auto read_secret = [](const char* flag, const std::string& path, std::string* out) {
    std::ifstream in(path);
    std::string secret;
    if (!in || !std::getline(in, secret)) {
      log::Error("{}: cannot read a token from '{}'", flag, path);
      return false;
    }
    while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
    if (secret.empty()) {
      log::Error("{}: '{}' is empty", flag, path);
      return false;
    }
    *out = std::move(secret);
    return true;
  };
  if (!flags.token_file.empty() && !read_secret("--token-file", flags.token_file, &flags.agent.token)) return 2;
  if (!flags.join_token_file.empty()) {
    if (!read_secret("--join-token-file", flags.join_token_file, &flags.agent.join_token)) return 2;
    if (flags.agent.join_token.rfind("bjt-", 0) != 0) {
      log::Error("--join-token-file: '{}' does not hold a join token (bjt-...; `berth create-join-token` makes one)",
                 flags.join_token_file);
      return 2;
    }
  }
  if (flags.tls.enabled || !flags.tls.ca_path.empty() || !flags.tls.cert_path.empty()) {
    flags.tls.enabled = true;
    auto credentials = ChannelCredentialsFor(flags.tls);
    if (!credentials.ok()) {
      log::Error("{}", std::string(credentials.status().message()));
      return 2;
    }
    flags.agent.channel_credentials = *std::move(credentials);
  }
  flags.agent.poll_wait_ms = static_cast<int32_t>(flags.poll_wait_s * 1000);
  flags.agent.engine.cleanup_after_us = static_cast<int64_t>(flags.cleanup_after_s * 1e6);
  flags.agent.engine.storage_check_interval_us = static_cast<int64_t>(flags.storage_check_interval_s * 1e6);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Runtime> runtime;
  if (flags.runtime == "sim") {
    runtime = std::make_unique<SimRuntime>(flags.sim, &RealClock());
  } else {
    DockerRuntimeOptions options;
    options.client.socket_path = flags.docker_socket;
    options.awsvpc_cidr = flags.agent.engine.awsvpc_cidr;
    options.awsvpc_network = flags.awsvpc_network;
    options.pause_image = flags.pause_image;
    options.task_cgroups = flags.task_cgroups;
    options.cgroup_root = flags.cgroup_root;
    auto docker = std::make_unique<DockerRuntime>(options);
    if (absl::Status s = docker->Start(); !s.ok()) {
      log::Error("cannot use the Docker engine: {}", s.ToString());
      return 1;
    }
    runtime = std::move(docker);
  }

  Agent agent(flags.agent, runtime.get(), &RealClock());
  // Signals are taken by a thread of their own from the start, so that a SIGTERM while the agent
  // still registers (berthd unreachable) stops it too. It only requests the stop (cancelling the
  // RPCs in flight); this thread does the rest.
  std::atomic<int64_t> stop_requested_us{0};
  // Records when the stop began; true for the first caller only.
  auto mark_stop = [&stop_requested_us] {
    int64_t none = 0;
    return stop_requested_us.compare_exchange_strong(none, RealClock().MonotonicMicros());
  };
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (mark_stop()) {
      log::Info("{}: stopping (containers keep running; a restarted agent adopts them)",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    agent.RequestStop();
  });
  // Wakes the signal thread when the agent stops on its own (deregistered, or a failed start).
  auto release_signal_waiter = [&] {
    if (mark_stop()) kill(getpid(), SIGTERM);
    signal_waiter.join();
  };
  if (absl::Status s = agent.Start(); !s.ok()) {
    const bool stopped = stop_requested_us.load() != 0;
    if (!stopped) log::Error("cannot start: {}", s.ToString());
    release_signal_waiter();
    agent.Stop();
    if (stopped) log::Info("stopped cleanly while starting ({})", s.ToString());
    return stopped ? 0 : 1;
  }
  log::Info("berth-agent running ({} runtime) as {}", runtime->Name(), agent.instance_arn());
  if (!flags.ready_file.empty()) {
    // Written atomically (rename) so a reader never sees a partial file.
    std::string tmp = flags.ready_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << "{\"containerInstanceArn\": \"" << agent.instance_arn() << "\", \"pid\": " << getpid() << "}\n";
    }
    std::error_code ec;
    std::filesystem::rename(tmp, flags.ready_file, ec);
  }

  // Until a signal, or until the instance is deregistered and drained.
  agent.Wait();
  if (agent.finished()) log::Info("the instance is deregistered and its tasks stopped: exiting");
  release_signal_waiter();
  agent.Stop();
  log::Info("stopped cleanly in {} ms", (RealClock().MonotonicMicros() - stop_requested_us.load()) / 1000);
  return 0;
}

}  // namespace
}  // namespace berth::agent

int main(int argc, char** argv) {
  berth::agent::Flags flags;
  auto& a = flags.agent;
  CLI::App app{"berth-agent: runs berthd's tasks on this host"};
  app.set_config("--config", "", "TOML or INI config file; flags given on the command line override it");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_option("--endpoint", a.endpoint, "berthd's gRPC address HOST:PORT")->required();
  app.add_option("--cluster", a.cluster, "Cluster to join")->capture_default_str();
  app.add_option("--token-file", flags.token_file,
                 "File holding the API token sent to berthd when it authenticates (docs/security.md)");
  app.add_option("--credentials-listen", flags.agent.credentials_listen,
                 "HOST:PORT of the endpoint serving tasks their role credentials (169.254.170.2:80 for the AWS "
                 "SDKs' default; see docs/agent.md); off when empty");
  app.add_option("--join-token-file", flags.join_token_file,
                 "File holding a join token (berth create-join-token): registers this host as a new instance, "
                 "which then uses the credential berthd answers, kept in --data-dir (docs/security.md)");
  app.add_flag("--tls", flags.tls.enabled, "Speak TLS to berthd, verifying its certificate against the system's CAs");
  app.add_option("--tls-ca", flags.tls.ca_path, "PEM CA bundle that signed berthd's certificate (implies --tls)");
  app.add_option("--tls-cert", flags.tls.cert_path,
                 "PEM client certificate presented to berthd (mutual TLS: it names this agent's principal)");
  app.add_option("--tls-key", flags.tls.key_path, "PEM private key of --tls-cert");
  app.add_option("--runtime", flags.runtime, "Container runtime: docker or sim")
      ->check(CLI::IsMember({"docker", "sim"}))
      ->capture_default_str();
  app.add_option("--data-dir", a.data_dir, "Where the agent keeps its identity and task state (empty: memory only)");
  app.add_option("--attribute", flags.attributes, "Custom attribute NAME=VALUE (repeatable)");
  app.add_flag("--external", flags.external,
               "Register as an external (ECS Anywhere) host: attribute ecs.capability.external, EXTERNAL tasks only; "
               "needs --join-token-file");
  app.add_option("--cpu", a.cpu_units, "CPU units to offer (default: cores x 1024)")->check(CLI::Range(0, 1 << 24));
  app.add_option("--memory", a.memory_mib, "Memory MiB to offer (default: the host's)")->check(CLI::Range(0, 1 << 30));
  app.add_option("--reserved-memory", a.reserved_memory_mib, "MiB kept back for the host")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--reserved-ports", flags.reserved_ports, "TCP host ports never given to tasks (comma-separated)")
      ->capture_default_str();
  app.add_option("--reserved-udp-ports", flags.reserved_udp_ports, "UDP host ports never given to tasks");
  app.add_option("--availability-zone", a.availability_zone, "Value of the ecs.availability-zone attribute");
  app.add_option("--instance-type", a.instance_type, "Value of the ecs.instance-type attribute");
  app.add_option("--docker-socket", flags.docker_socket, "Docker Engine API socket")->capture_default_str();
  app.add_option("--pause-image", flags.pause_image,
                 "Image (with a sleep binary) of the container holding an awsvpc task's network namespace")
      ->capture_default_str();
  app.add_option("--poll-wait", flags.poll_wait_s, "Seconds a long poll waits for a change")
      ->check(CLI::Range(0.1, 300.0))
      ->capture_default_str();
  app.add_option("--stop-timeout", a.engine.default_stop_timeout_seconds,
                 "Seconds between SIGTERM and SIGKILL when a container sets no stopTimeout")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--max-task-workers", a.engine.max_workers,
                 "At most this many tasks in container runtime calls at once (threads started on demand)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--cleanup-after", flags.cleanup_after_s, "Seconds after a task stops before its containers go")
      ->check(CLI::Range(0.0, 30.0 * 86400))
      ->capture_default_str();
  app.add_option("--storage-check-interval", flags.storage_check_interval_s,
                 "Seconds between measurements of the writable layers of tasks with an ephemeral storage limit "
                 "(FARGATE tasks)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--task-cgroups", flags.task_cgroups,
                 "docker: put each task with task-level cpu/memory in a cgroup of its own holding those limits "
                 "(needs the cgroupfs driver and a writable --cgroup-root)")
      ->capture_default_str();
  app.add_option("--cgroup-root", flags.cgroup_root, "docker: where the cgroup hierarchies are mounted")
      ->capture_default_str();
  app.add_option("--awsvpc-cidr", a.engine.awsvpc_cidr, "Subnet of the Docker network of awsvpc tasks")
      ->capture_default_str();
  app.add_option("--awsvpc-network", flags.awsvpc_network, "Docker network of awsvpc tasks (one subnet per network)")
      ->capture_default_str();
  app.add_option("--awsvpc-range", a.engine.awsvpc_range,
                 "Part of --awsvpc-cidr this host gives its awsvpc tasks addresses from (default: all of it), "
                 "so hosts sharing one Docker network never hand out the same address");
  app.add_option("--sim-start-delay", flags.sim.start_delay_seconds, "sim: seconds from start to RUNNING")
      ->capture_default_str();
  app.add_option("--sim-pull-delay", flags.sim.pull_delay_seconds, "sim: seconds a pull takes")->capture_default_str();
  app.add_option("--sim-exit-after", flags.sim.exit_after_seconds, "sim: containers exit after this long (<0: never)")
      ->capture_default_str();
  app.add_option("--sim-exit-code", flags.sim.exit_code, "sim: exit code of containers that exit on their own")
      ->capture_default_str();
  app.add_option("--sim-failure-rate", flags.sim.failure_rate, "sim: share of containers that fail at start")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--sim-seed", flags.sim.seed, "sim: seed of the failure draw")->capture_default_str();
  app.add_option("--sim-log-rate", flags.sim.log_lines_per_second,
                 "sim: lines a second every container writes (BERTH_SIM_LOG_RATE sets it per container)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app.add_option("--log-spool-max-bytes", a.logs.spool.max_bytes,
                 "Bound of the spool of container output not yet shipped to berthd (DATA_DIR/log-spool): past it "
                 "the oldest events are dropped and counted")
      ->check(CLI::Range(int64_t{1} << 20, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--log-capture", a.capture_logs,
                 "Ship containers' output to berthd (awslogs and containers without a logConfiguration)")
      ->capture_default_str();
  app.add_option("--ready-file", flags.ready_file,
                 "Write {\"containerInstanceArn\": ARN, \"pid\": N} here once registered and running");
  app.add_option("--log-format", flags.log_format, "text or json")->capture_default_str();
  app.add_option("--log-level", flags.log_level, "debug, info, warn or error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return berth::agent::Run(std::move(flags));
}
