#include "src/bench/berthd_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "berth/common/strings.h"

namespace berth::bench {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return StrCat("was killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  return StrCat("ended with wait status ", status);
}

}  // namespace

BerthdProcess::BerthdProcess(std::string work_dir)
    : work_dir_(std::move(work_dir)),
      data_dir_(work_dir_ + "/data"),
      ready_file_(work_dir_ + "/ready.json"),
      log_file_(work_dir_ + "/berthd.log") {}

BerthdProcess::~BerthdProcess() {
  if (running_) Stop().IgnoreError();
  std::error_code ec;
  std::filesystem::remove_all(work_dir_, ec);
}

absl::StatusOr<std::unique_ptr<BerthdProcess>> BerthdProcess::Start(const Options& options) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/berth-bench-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(StrCat("cannot create a temporary directory ", pattern, ": ", std::strerror(errno)));
  }
  std::unique_ptr<BerthdProcess> process(new BerthdProcess(pattern));
  process->stop_timeout_ = options.stop_timeout;
  process->options_ = options;
  if (absl::Status s = process->Launch(options, "127.0.0.1:0", "127.0.0.1:0"); !s.ok()) return s;
  if (absl::Status s = process->WaitReady(options); !s.ok()) {
    std::string tail = process->LogTail(20);
    return absl::Status(s.code(), StrCat(s.message(), tail.empty() ? "" : "; berthd log:\n", tail));
  }
  return process;
}

absl::Status BerthdProcess::Launch(const Options& options, const std::string& grpc_listen,
                                   const std::string& http_listen) {
  // Everything the child needs is prepared before fork(): between fork() and exec() the child
  // only makes async-signal-safe calls.
  std::vector<std::string> args = {options.binary,  "--data-dir", data_dir_,      "--grpc-listen", grpc_listen,
                                   "--http-listen", http_listen,  "--ready-file", ready_file_};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const bool search_path = options.binary.find('/') == std::string::npos;

  int log_fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(StrCat("cannot create ", log_file_, ": ", std::strerror(errno)));
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    close(log_fd);
    return absl::InternalError(StrCat("cannot open /dev/null: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    if (search_path) {
      execvp(argv[0], argv.data());
    } else {
      execv(argv[0], argv.data());
    }
    static const char kMessage[] = "berth-bench: exec of berthd failed\n";
    ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    (void)ignored;
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  if (pid < 0) return absl::InternalError(StrCat("fork: ", std::strerror(errno)));
  pid_ = pid;
  running_ = true;
  return absl::OkStatus();
}

absl::Status BerthdProcess::WaitReady(const Options& options) {
  const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      running_ = false;
      return absl::FailedPreconditionError(
          StrCat("berthd (", options.binary, ") ", DescribeWaitStatus(status), " before it was ready"));
    }
    // berthd writes the ready file atomically (rename), so a file that exists is complete.
    std::ifstream in(ready_file_);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      auto ready = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
      if (!ready.is_object() || !ready.contains("grpc") || !ready["grpc"].is_string() || !ready.contains("http") ||
          !ready["http"].is_string()) {
        return absl::InternalError(
            StrCat("ready file ", ready_file_, " lacks the \"grpc\" and \"http\" endpoints: ", text.str()));
      }
      grpc_endpoint_ = ready["grpc"].get<std::string>();
      http_endpoint_ = ready["http"].get<std::string>();
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return absl::DeadlineExceededError(
      StrCat("berthd did not write its ready file within ", options.ready_timeout.count(), " s"));
}

absl::Status BerthdProcess::Stop() {
  if (!running_) return absl::OkStatus();
  running_ = false;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + stop_timeout_;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) return absl::InternalError(StrCat("waitpid(berthd): ", std::strerror(errno)));
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      return absl::DeadlineExceededError(
          StrCat("berthd did not stop within ", stop_timeout_.count(), " s of SIGTERM and was killed"));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(StrCat("berthd ", DescribeWaitStatus(status), " after SIGTERM"));
}

absl::Status BerthdProcess::Kill() {
  if (!running_) return absl::OkStatus();
  running_ = false;
  if (kill(pid_, SIGKILL) != 0) return absl::InternalError(StrCat("kill(berthd, SIGKILL): ", std::strerror(errno)));
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(StrCat("waitpid(berthd): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status BerthdProcess::Relaunch() {
  if (running_) return absl::FailedPreconditionError("berthd is still running: stop or kill it first");
  std::error_code ec;
  std::filesystem::remove(ready_file_, ec);
  // The log of the previous run is kept next to the new one.
  std::filesystem::rename(log_file_, StrCat(log_file_, ".", pid_), ec);
  return Launch(options_, grpc_endpoint_, http_endpoint_);
}

std::string BerthdProcess::LogTail(int lines) const {
  std::ifstream in(log_file_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(std::move(line));
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) StrAppend(&out, l, "\n");
  return out;
}

}  // namespace berth::bench
