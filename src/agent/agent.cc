#include "src/agent/agent.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "berth/common/files.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"

namespace berth::agent {
namespace {

constexpr char kAgentVersion[] = "berth-agent 0.1.0";

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

void AddInteger(v1::RegisterContainerInstanceRequest* req, const char* name, int64_t value) {
  auto* r = req->add_total_resources();
  r->set_name(name);
  r->set_type("INTEGER");
  r->set_integer_value(static_cast<int32_t>(value));
}

void AddPorts(v1::RegisterContainerInstanceRequest* req, const char* name, const std::vector<int32_t>& ports) {
  auto* r = req->add_total_resources();
  r->set_name(name);
  r->set_type("STRINGSET");
  for (int32_t p : ports) r->add_string_set_value(std::to_string(p));
}

}  // namespace

HostFacts ReadHostFacts() {
  HostFacts f;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  f.cpu_units = (cpus > 0 ? cpus : 1) * 1024;
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) f.memory_mib = static_cast<int64_t>(pages) * page_size / (1024 * 1024);
  utsname u{};
  if (uname(&u) == 0) {
    std::string machine = u.machine;
    f.cpu_architecture = machine == "aarch64" || machine == "arm64" ? "arm64" : machine;
    f.hostname = u.nodename;
  }
  return f;
}

Agent::Agent(AgentOptions options, Runtime* runtime, const Clock* clock)
    : options_(std::move(options)), runtime_(runtime), clock_(clock), rng_(std::random_device{}()) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  channel_ = grpc::CreateCustomChannel(
      options_.endpoint,
      options_.channel_credentials != nullptr ? options_.channel_credentials : grpc::InsecureChannelCredentials(),
      args);
  stub_ = v1::AgentService::NewStub(channel_);
}

Agent::~Agent() { Stop(); }

v1::RegisterContainerInstanceRequest Agent::RegistrationRequest() const {
  HostFacts host = ReadHostFacts();
  v1::RegisterContainerInstanceRequest req;
  req.set_cluster(options_.cluster);
  if (!instance_arn_.empty()) req.set_container_instance_arn(instance_arn_);
  const int64_t cpu = options_.cpu_units > 0 ? options_.cpu_units : host.cpu_units;
  const int64_t memory =
      (options_.memory_mib > 0 ? options_.memory_mib : host.memory_mib) - options_.reserved_memory_mib;
  AddInteger(&req, "CPU", cpu);
  AddInteger(&req, "MEMORY", std::max<int64_t>(memory, 0));
  AddPorts(&req, "PORTS", options_.reserved_tcp_ports);
  AddPorts(&req, "PORTS_UDP", options_.reserved_udp_ports);
  std::map<std::string, std::string> attrs = {
      {"ecs.os-type", "linux"},
      {"ecs.os-family", "LINUX"},
      {"ecs.cpu-architecture", host.cpu_architecture.empty() ? "x86_64" : host.cpu_architecture},
      {"ecs.instance-type", options_.instance_type.empty() ? "berth.host" : options_.instance_type},
      {"ecs.capability.task-eni", ""},
      {"berth.runtime", runtime_->Name()},
  };
  if (!options_.availability_zone.empty()) attrs["ecs.availability-zone"] = options_.availability_zone;
  for (const auto& [k, v] : options_.attributes) attrs[k] = v;
  for (const auto& [k, v] : attrs) {
    auto* a = req.add_attributes();
    a->set_name(k);
    if (!v.empty()) a->set_value(v);
  }
  req.mutable_version_info()->set_agent_version(kAgentVersion);
  req.mutable_version_info()->set_docker_version(runtime_->Version());
  return req;
}

absl::Status Agent::LoadIdentity() {
  if (options_.data_dir.empty()) return absl::OkStatus();
  std::string path = options_.data_dir + "/agent.json";
  if (!std::filesystem::exists(path)) return absl::OkStatus();
  std::ifstream in(path);
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded()) return absl::DataLossError(StrCat(path, " is not valid JSON"));
  if (doc.value("cluster", "") != options_.cluster) {
    return absl::FailedPreconditionError(StrCat(path, " belongs to cluster '", doc.value("cluster", ""), "', not '",
                                                options_.cluster,
                                                "': use another --data-dir, or remove it to join as a new instance"));
  }
  instance_arn_ = doc.value("containerInstanceArn", "");
  std::lock_guard lock(credential_mu_);
  instance_credential_ = doc.value("instanceCredential", "");
  return absl::OkStatus();
}

absl::Status Agent::SaveIdentity() const {
  if (options_.data_dir.empty()) return absl::OkStatus();
  nlohmann::json doc{{"cluster", options_.cluster}, {"containerInstanceArn", instance_arn_}};
  {
    std::lock_guard lock(credential_mu_);
    if (!instance_credential_.empty()) doc["instanceCredential"] = instance_credential_;
  }
  // Holds the instance's credential: readable by the agent's user only.
  return WriteFileDurably(options_.data_dir + "/agent.json", doc.dump() + "\n", 0600);
}

bool Agent::SleepFor(int64_t micros) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::microseconds(micros), [this] { return stopping_; });
}

bool Agent::Backoff(int attempt) {
  int64_t cap = options_.backoff_initial_us << std::min(attempt, 20);
  cap = std::min(cap, options_.backoff_max_us);
  int64_t delay;
  {
    std::lock_guard lock(mu_);
    delay = std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng_);
  }
  return SleepFor(delay);
}

void Agent::Authorize(grpc::ClientContext* ctx) const {
  std::string credential;
  {
    std::lock_guard lock(credential_mu_);
    credential = instance_credential_;
  }
  if (credential.empty()) credential = options_.join_token.empty() ? options_.token : options_.join_token;
  if (!credential.empty()) ctx->AddMetadata("authorization", StrCat("Bearer ", credential));
}

absl::Status Agent::Register() {
  for (int attempt = 0;; ++attempt) {
    v1::RegisterContainerInstanceRequest req = RegistrationRequest();
    v1::RegisterContainerInstanceResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!BeginCall(&ctx)) return absl::CancelledError("stopped");
    absl::Status s = FromGrpc(stub_->RegisterInstance(&ctx, req, &resp));
    EndCall(&ctx);
    if (s.ok()) {
      instance_arn_ = resp.container_instance().container_instance_arn();
      if (!resp.instance_credential().empty()) {
        std::lock_guard lock(credential_mu_);
        instance_credential_ = resp.instance_credential();
      }
      log::Info("registered as {} in cluster {}", instance_arn_, options_.cluster);
      return SaveIdentity();
    }
    if (absl::IsNotFound(s) && !instance_arn_.empty()) {
      log::Warn("berthd does not know {} any more ({}); registering as a new instance", instance_arn_,
                std::string(s.message()));
      instance_arn_.clear();
      // The credential spoke for the forgotten instance only; a new one needs the join token.
      std::lock_guard lock(credential_mu_);
      instance_credential_.clear();
      continue;
    }
    // Will not get better by retrying: bad input, or credentials berthd refuses (the operator must
    // fix the token, certificate or policy; a supervisor restarts the agent after that).
    if (absl::IsInvalidArgument(s) || absl::IsNotFound(s) || absl::IsUnauthenticated(s) ||
        absl::IsPermissionDenied(s)) {
      return s;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return absl::CancelledError("stopped");
    }
    log::Warn("registration failed ({}); retrying", s.ToString());
    if (!Backoff(attempt)) return absl::CancelledError("stopped");
  }
}

absl::Status Agent::Start() {
  if (!options_.data_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.data_dir, ec);
    if (ec) return absl::InternalError(StrCat("cannot create --data-dir ", options_.data_dir, ": ", ec.message()));
    // It holds the instance credential and the tasks' credentials ids.
    std::filesystem::permissions(options_.data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  if (absl::Status s = LoadIdentity(); !s.ok()) return s;
  if (absl::Status s = Register(); !s.ok()) return s;
  EngineOptions eo = options_.engine;
  eo.cluster = options_.cluster;
  eo.instance_arn = instance_arn_;
  if (!options_.credentials_listen.empty()) {
    const size_t colon = options_.credentials_listen.rfind(':');
    int port = -1;
    if (colon == std::string::npos || !absl::SimpleAtoi(options_.credentials_listen.substr(colon + 1), &port) ||
        port < 0 || port > 65535) {
      return absl::InvalidArgumentError(
          StrCat("--credentials-listen: '", options_.credentials_listen, "' is not HOST:PORT"));
    }
    const std::string host = options_.credentials_listen.substr(0, colon);
    credentials_server_ = std::make_unique<CredentialsServer>(
        [this](const std::string& id) -> std::optional<TaskEngine::CredentialsOwner> {
          if (engine_ == nullptr) return std::nullopt;
          return engine_->CredentialsOwnerOf(id);
        },
        clock_, [this](const std::string& task_arn) { return FetchCredentials(task_arn); });
    auto bound = credentials_server_->Start(host, port);
    if (!bound.ok()) return bound.status();
    credentials_port_ = *bound;
    eo.credentials_endpoint =
        host == "169.254.170.2" && *bound == 80 ? "http://169.254.170.2" : StrCat("http://", host, ":", *bound);
    log::Info("task credentials endpoint on {}:{}", host, *bound);
  }
  if (!options_.data_dir.empty()) eo.state_path = options_.data_dir + "/tasks.json";
  engine_ =
      std::make_unique<TaskEngine>(eo, runtime_, clock_, [this](v1::TaskStateChange c) { Enqueue(std::move(c)); });
  if (absl::Status s = engine_->Recover(); !s.ok()) return s;
  engine_->Start();
  if (options_.capture_logs) {
    LogCaptureOptions lo = options_.logs;
    if (lo.spool.dir.empty() && !options_.data_dir.empty()) lo.spool.dir = options_.data_dir + "/log-spool";
    log_capture_ = std::make_unique<LogCapture>(lo, runtime_, clock_,
                                                [this](v1::PushLogsRequest r) { return PushLogs(std::move(r)); });
    if (absl::Status s = log_capture_->Start(); !s.ok()) return s;
    UpdateLogSources();
  }
  ReportEverything();
  threads_.emplace_back([this] { PollLoop(); });
  threads_.emplace_back([this] { ReportLoop(); });
  threads_.emplace_back([this] { TickLoop(); });
  return absl::OkStatus();
}

absl::StatusOr<v1::PushLogsResponse> Agent::PushLogs(v1::PushLogsRequest request) {
  request.set_cluster(options_.cluster);
  request.set_container_instance(instance_arn_);
  v1::PushLogsResponse response;
  grpc::ClientContext ctx;
  Authorize(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ctx.set_wait_for_ready(true);
  if (!BeginCall(&ctx)) return absl::CancelledError("the agent is stopping");
  absl::Status s = FromGrpc(stub_->PushLogs(&ctx, request, &response));
  EndCall(&ctx);
  if (!s.ok()) return s;
  return response;
}

void Agent::UpdateLogSources() {
  if (log_capture_ == nullptr) return;
  std::vector<LogCapture::Source> sources;
  for (auto& s : engine_->OutputSources()) {
    sources.push_back({.runtime_id = std::move(s.runtime_id), .destination = std::move(s.destination)});
  }
  log_capture_->SetSources(sources);
}

absl::StatusOr<v1::GetTaskCredentialsResponse> Agent::FetchCredentials(const std::string& task_arn) {
  v1::GetTaskCredentialsRequest req;
  req.set_cluster(options_.cluster);
  req.set_container_instance(instance_arn_);
  req.set_task_arn(task_arn);
  v1::GetTaskCredentialsResponse resp;
  grpc::ClientContext ctx;
  Authorize(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!BeginCall(&ctx)) return absl::UnavailableError("the agent is stopping");
  absl::Status s = FromGrpc(stub_->GetTaskCredentials(&ctx, req, &resp));
  EndCall(&ctx);
  if (!s.ok()) return s;
  return resp;
}

bool Agent::BeginCall(grpc::ClientContext* ctx) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  calls_.insert(ctx);
  return true;
}

void Agent::EndCall(grpc::ClientContext* ctx) {
  std::lock_guard lock(mu_);  // RequestStop cancels under mu_: ctx must outlive that
  calls_.erase(ctx);
}

void Agent::RequestStop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    // A context is in calls_ from before its call starts until after it returns; one cancelled
    // before its call starts cancels the call as it starts.
    for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
  }
  // Containers keep running while the agent is away: a stop waiting out its timeout or a pull is
  // not waited for. What the engine had not recorded when its call was abandoned it does again
  // after a restart (state file, labels).
  runtime_->CancelCalls();
  cv_.notify_all();
}

void Agent::Stop() {
  RequestStop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (credentials_server_) credentials_server_->Stop();
  if (log_capture_) log_capture_->Stop();
  if (engine_) engine_->Stop();
}

void Agent::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return stopping_ || finished_.load(); });
}

void Agent::Enqueue(v1::TaskStateChange change) {
  std::lock_guard lock(mu_);
  pending_reports_[change.task_arn()] = std::move(change);
  cv_.notify_all();
}

void Agent::ReportEverything() {
  for (auto& change : engine_->SnapshotAll()) Enqueue(std::move(change));
}

void Agent::PollLoop() {
  uint64_t known = 0;
  int failures = 0;
  for (;;) {
    v1::PollRequest req;
    req.set_cluster(options_.cluster);
    req.set_container_instance(instance_arn_);
    req.set_known_version(known);
    req.set_wait_millis(options_.poll_wait_ms);
    req.set_accepts_deltas(true);
    v1::PollResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(options_.poll_wait_ms + 10000));
    // Waits for the connection instead of failing at once while the channel is between reconnect
    // attempts, so a healed partition is noticed within the channel's reconnect backoff (5 s) rather
    // than at the end of this loop's own backoff.
    ctx.set_wait_for_ready(true);
    if (!BeginCall(&ctx)) return;
    grpc::Status gs = stub_->Poll(&ctx, req, &resp);
    EndCall(&ctx);
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    absl::Status s = FromGrpc(gs);
    if (!s.ok()) {
      if (absl::IsNotFound(s)) {
        log::Warn("berthd does not know this instance ({}); registering again", std::string(s.message()));
        known = 0;
        if (Register().ok()) continue;
      }
      if (failures == 0) log::Warn("poll failed: {}; retrying with backoff", s.ToString());
      if (!Backoff(failures++)) return;
      continue;
    }
    if (failures > 0) {
      log::Info("connected to berthd again after {} failed polls", failures);
      failures = 0;
      known = 0;  // fetch the whole desired state, and tell berthd everything
      ReportEverything();
      if (resp.unchanged()) continue;
    }
    if (resp.unchanged()) continue;
    engine_->ApplyDesired(resp);
    known = resp.version();
    if (resp.instance_status() == "INACTIVE" && !deregistered_.exchange(true)) {
      log::Warn("this instance was deregistered: stopping its tasks, then exiting");
    }
    if (deregistered_.load()) {
      engine_->WaitIdle();
      bool all_stopped = true;
      for (const auto& t : engine_->SnapshotAll()) all_stopped &= t.status() == "STOPPED";
      if (all_stopped) {
        finished_ = true;
        cv_.notify_all();
        return;
      }
    }
  }
}

void Agent::ReportLoop() {
  int failures = 0;
  for (;;) {
    std::vector<v1::TaskStateChange> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !pending_reports_.empty(); });
      // Unsent reports are not lost on stop: a restarted agent reports every task again.
      if (stopping_) return;
      while (!pending_reports_.empty() && static_cast<int>(batch.size()) < options_.report_batch) {
        batch.push_back(std::move(pending_reports_.begin()->second));
        pending_reports_.erase(pending_reports_.begin());
      }
    }
    // A report follows every change of a task, among them its containers' creation: the moment to
    // follow their output.
    UpdateLogSources();
    v1::ReportStateChangesRequest req;
    req.set_cluster(options_.cluster);
    req.set_container_instance(instance_arn_);
    for (auto& c : batch) *req.add_tasks() = c;
    v1::ReportStateChangesResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.set_wait_for_ready(true);  // as the poll: send as soon as the connection is back
    if (!BeginCall(&ctx)) return;
    absl::Status s = FromGrpc(stub_->ReportStateChanges(&ctx, req, &resp));
    EndCall(&ctx);
    if (s.ok()) {
      failures = 0;
      for (const auto& arn : resp.unknown_task_arns()) engine_->Forget(arn);
      continue;
    }
    if (absl::IsInvalidArgument(s)) {
      log::Error("berthd refused a state report: {}", std::string(s.message()));
      continue;  // a bug; resending the same report would fail the same way
    }
    // Put the batch back unless a newer snapshot of the task arrived meanwhile.
    {
      std::lock_guard lock(mu_);
      for (auto& c : batch) pending_reports_.try_emplace(c.task_arn(), std::move(c));
      if (stopping_) return;
    }
    if (failures == 0) log::Warn("state report failed: {}; retrying with backoff", s.ToString());
    if (!Backoff(failures++)) return;
  }
}

void Agent::TickLoop() {
  while (SleepFor(500'000)) {
    engine_->Tick();
    UpdateLogSources();
  }
}

}  // namespace berth::agent
