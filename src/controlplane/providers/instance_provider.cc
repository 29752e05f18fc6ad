#include "src/controlplane/providers/instance_provider.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "berth/common/arn.h"
#include "berth/common/logging.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"

extern char** environ;

namespace berth::controlplane::providers {
namespace {

using Clock = std::chrono::steady_clock;

// posix_spawn of args[0] (no shell) with stdout and stderr to the given descriptors (-1: inherit).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  if (err_fd >= 0) posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::InternalError(StrCat("cannot start ", args[0], ": ", std::strerror(rc)));
  return pid;
}

// Waits up to `timeout_ms` for `pid`; its wait status, or nullopt while it still runs.
std::optional<int> WaitFor(pid_t pid, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) return status;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// SIGTERM, then SIGKILL after `timeout_ms`; reaps.
void StopProcess(pid_t pid, int timeout_ms) {
  kill(pid, SIGTERM);
  if (!WaitFor(pid, timeout_ms)) {
    kill(pid, SIGKILL);
    WaitFor(pid, 10000);
  }
}

struct ProgramResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `args` to completion (killed after `timeout_ms`), capturing stdout and stderr.
absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& args, int timeout_ms) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  auto pid = Spawn(args, out_pipe[1], err_pipe[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!pid.ok()) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return pid.status();
  }
  ProgramResult result;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000))) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        std::string& sink = i == 0 ? result.out : result.err;
        if (sink.size() < (1 << 20)) sink.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (timed_out) {
    StopProcess(*pid, 1000);
    return absl::DeadlineExceededError(
        StrCat(args[0], " ", args.size() > 1 ? args[1] : "", ": no answer within ", timeout_ms, " ms"));
  }
  std::optional<int> status = WaitFor(*pid, timeout_ms);
  if (!status) {
    StopProcess(*pid, 1000);
    return absl::DeadlineExceededError(StrCat(args[0], ": did not exit within ", timeout_ms, " ms"));
  }
  result.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  return result;
}

// A HostSpec as options: berth-agent's, which the command provider's program takes too.
std::vector<std::string> SpecArgs(const HostSpec& spec) {
  std::vector<std::string> args;
  if (!spec.cluster.empty()) args.insert(args.end(), {"--cluster", spec.cluster});
  if (spec.cpu > 0) args.insert(args.end(), {"--cpu", std::to_string(spec.cpu)});
  if (spec.memory > 0) args.insert(args.end(), {"--memory", std::to_string(spec.memory)});
  if (!spec.availability_zone.empty()) args.insert(args.end(), {"--availability-zone", spec.availability_zone});
  for (const auto& a : spec.attributes) args.insert(args.end(), {"--attribute", a});
  return args;
}

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

class LocalProvider final : public InstanceProvider {
 public:
  explicit LocalProvider(LocalProviderOptions options) : options_(std::move(options)) {}
  ~LocalProvider() override {
    // The hosts are this process's children: they do not outlive it.
    for (const auto& [id, pid] : children_) StopProcess(pid, options_.stop_timeout_ms);
  }
  std::string_view kind() const override { return "local"; }
  bool CanAdopt() const override { return false; }

  absl::StatusOr<std::vector<std::string>> Launch(int count, const HostSpec& spec) override {
    if (count < 1 || count > 100) return absl::InvalidArgumentError(StrCat("count: 1 to 100 (got ", count, ")"));
    std::vector<std::string> started;
    for (int i = 0; i < count; ++i) {
      const std::string id = StrCat("local-", NewId().substr(0, 12));
      const std::string dir = StrCat(options_.work_dir, "/", id);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) return Undo(started, absl::InternalError(StrCat("cannot create ", dir, ": ", ec.message())));
      std::vector<std::string> args = {options_.agent_binary};
      args.insert(args.end(), options_.agent_flags.begin(), options_.agent_flags.end());
      args.insert(args.end(), {"--data-dir", dir + "/data", "--attribute", StrCat(kProviderHostIdAttribute, "=", id)});
      std::vector<std::string> spec_args = SpecArgs(spec);
      args.insert(args.end(), spec_args.begin(), spec_args.end());
      args.insert(args.end(), spec.agent_flags.begin(), spec.agent_flags.end());
      if (spec.availability_zone.empty() && !options_.availability_zones.empty()) {
        args.insert(args.end(), {"--availability-zone",
                                 options_.availability_zones[next_zone_++ % options_.availability_zones.size()]});
      }
      const std::string log_path = dir + "/agent.log";
      int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (log < 0) return Undo(started, absl::InternalError(StrCat("cannot open ", log_path)));
      auto pid = Spawn(args, log, log);
      close(log);
      if (!pid.ok()) return Undo(started, pid.status());
      children_[id] = *pid;
      started.push_back(id);
      log::Info("instance provider local: started host {} (pid {})", id, *pid);
    }
    return started;
  }

  absl::Status Terminate(const std::vector<std::string>& ids) override {
    std::vector<std::string> unknown;
    for (const auto& id : ids) {
      auto it = children_.find(id);
      if (it == children_.end()) {
        unknown.push_back(id);
        continue;
      }
      StopProcess(it->second, options_.stop_timeout_ms);
      children_.erase(it);
      log::Info("instance provider local: stopped host {}", id);
    }
    if (!unknown.empty()) {
      return absl::NotFoundError(StrCat("instance provider local: no host ", absl::StrJoin(unknown, ", ")));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Undo(const std::vector<std::string>& started, absl::Status error) {
    Terminate(started).IgnoreError();
    return error;
  }

  LocalProviderOptions options_;
  std::map<std::string, pid_t> children_;
  size_t next_zone_ = 0;
};

class CommandProvider final : public InstanceProvider {
 public:
  explicit CommandProvider(CommandProviderOptions options) : options_(std::move(options)) {}
  std::string_view kind() const override { return "command"; }
  bool CanAdopt() const override { return true; }

  absl::StatusOr<std::vector<std::string>> Launch(int count, const HostSpec& spec) override {
    if (count < 1 || count > 100) return absl::InvalidArgumentError(StrCat("count: 1 to 100 (got ", count, ")"));
    std::vector<std::string> args = {options_.program, "launch", std::to_string(count)};
    std::vector<std::string> spec_args = SpecArgs(spec);
    args.insert(args.end(), spec_args.begin(), spec_args.end());
    ASSIGN_OR_RETURN(ProgramResult r, RunProgram(args, options_.timeout_ms));
    if (r.exit_code != 0) {
      return absl::UnavailableError(
          StrCat(options_.program, " launch ", count, " exited ", r.exit_code, ": ", FirstLine(r.err)));
    }
    nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("instances") || !doc["instances"].is_array()) {
      return absl::DataLossError(StrCat(options_.program, " launch ", count,
                                        ": expected {\"instances\": [\"id\", ...]} on stdout, got '", FirstLine(r.out),
                                        "'"));
    }
    std::vector<std::string> ids;
    std::set<std::string> seen;
    for (const auto& id : doc["instances"]) {
      if (!id.is_string() || id.get<std::string>().empty() || !seen.insert(id.get<std::string>()).second) {
        return absl::DataLossError(
            StrCat(options_.program, " launch ", count, ": instances must be distinct non-empty strings"));
      }
      ids.push_back(id.get<std::string>());
    }
    if (static_cast<int>(ids.size()) > count) {
      return absl::DataLossError(
          StrCat(options_.program, " launch ", count, ": answered ", ids.size(), " instances, more than asked"));
    }
    return ids;
  }

  absl::Status Terminate(const std::vector<std::string>& ids) override {
    if (ids.empty()) return absl::OkStatus();
    std::vector<std::string> args = {options_.program, "terminate"};
    args.insert(args.end(), ids.begin(), ids.end());
    ASSIGN_OR_RETURN(ProgramResult r, RunProgram(args, options_.timeout_ms));
    if (r.exit_code != 0) {
      return absl::UnavailableError(
          StrCat(options_.program, " terminate exited ", r.exit_code, ": ", FirstLine(r.err)));
    }
    return absl::OkStatus();
  }

 private:
  CommandProviderOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<InstanceProvider>> NewLocalProvider(LocalProviderOptions options) {
  if (options.agent_binary.empty() || access(options.agent_binary.c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(StrCat("agent_binary: '", options.agent_binary, "' is not an executable file"));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.work_dir, ec);
  if (options.work_dir.empty() || ec) {
    return absl::InvalidArgumentError(StrCat("work_dir: cannot create '", options.work_dir, "'"));
  }
  return std::make_unique<LocalProvider>(std::move(options));
}

absl::StatusOr<std::unique_ptr<InstanceProvider>> NewCommandProvider(CommandProviderOptions options) {
  if (options.program.empty() || access(options.program.c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(StrCat("program: '", options.program, "' is not an executable file"));
  }
  if (options.timeout_ms < 1) return absl::InvalidArgumentError("timeout_ms: must be positive");
  return std::make_unique<CommandProvider>(std::move(options));
}

absl::StatusOr<InstanceGroup> InstanceGroup::Create(std::string name, int min, int max, int desired,
                                                    std::shared_ptr<InstanceProvider> provider) {
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(StrCat("name: '", name, "' is invalid: 1-255 letters, digits, - and _"));
  }
  if (min < 0 || max > 10000 || min > max) {
    return absl::InvalidArgumentError(
        StrCat("minSize/maxSize: need 0 <= minSize <= maxSize <= 10000 (got ", min, ", ", max, ")"));
  }
  if (desired < min || desired > max) {
    return absl::InvalidArgumentError(
        StrCat("desiredCapacity: must be between minSize ", min, " and maxSize ", max, " (got ", desired, ")"));
  }
  if (provider == nullptr) return absl::InvalidArgumentError("provider: required");
  return InstanceGroup(std::move(name), min, max, desired, std::move(provider));
}

absl::Status InstanceGroup::SetDesired(int desired) {
  if (desired < min_ || desired > max_) {
    return absl::InvalidArgumentError(
        StrCat("desiredCapacity: must be between minSize ", min_, " and maxSize ", max_, " (got ", desired, ")"));
  }
  desired_ = desired;
  return absl::OkStatus();
}

absl::Status InstanceGroup::Adopt(const std::string& id) {
  if (!provider_->CanAdopt()) {
    return absl::FailedPreconditionError(
        StrCat("group ", name_, ": the ", provider_->kind(), " provider cannot take over host ", id));
  }
  if (std::find(hosts_.begin(), hosts_.end(), id) != hosts_.end()) return absl::OkStatus();
  hosts_.push_back(id);
  desired_ = std::min(max_, std::max(desired_, static_cast<int>(hosts_.size())));
  return absl::OkStatus();
}

absl::Status InstanceGroup::Replace(const std::vector<std::string>& ids) {
  std::vector<std::string> ours;
  for (const auto& id : ids) {
    auto it = std::find(hosts_.begin(), hosts_.end(), id);
    if (it == hosts_.end()) continue;
    ours.push_back(id);
    hosts_.erase(it);
  }
  absl::Status stopped = ours.empty() ? absl::OkStatus() : provider_->Terminate(ours);
  absl::Status launched = Reconcile();
  return stopped.ok() ? launched : stopped;
}

absl::Status InstanceGroup::Reconcile(const std::vector<std::string>& prefer_terminate) {
  const int have = static_cast<int>(hosts_.size());
  if (have < desired_) {
    int missing = desired_ - have;
    while (missing > 0) {
      ASSIGN_OR_RETURN(std::vector<std::string> started, provider_->Launch(std::min(missing, 100)));
      if (started.empty()) return absl::UnavailableError(StrCat("group ", name_, ": the provider started no host"));
      hosts_.insert(hosts_.end(), started.begin(), started.end());
      missing -= static_cast<int>(started.size());
    }
    return absl::OkStatus();
  }
  if (have > desired_) {
    std::vector<std::string> victims;
    for (const auto& id : prefer_terminate) {
      if (static_cast<int>(victims.size()) == have - desired_) break;
      if (std::find(hosts_.begin(), hosts_.end(), id) != hosts_.end()) victims.push_back(id);
    }
    for (auto it = hosts_.rbegin(); it != hosts_.rend() && static_cast<int>(victims.size()) < have - desired_; ++it) {
      if (std::find(victims.begin(), victims.end(), *it) == victims.end()) victims.push_back(*it);
    }
    absl::Status s = provider_->Terminate(victims);
    for (const auto& id : victims) hosts_.erase(std::find(hosts_.begin(), hosts_.end(), id));
    return s;
  }
  return absl::OkStatus();
}

}  // namespace berth::controlplane::providers
