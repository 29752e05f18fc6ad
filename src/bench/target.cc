#include "src/bench/target.h"

#include "berth/common/strings.h"

namespace berth::bench {

absl::StatusOr<std::unique_ptr<Target>> Target::Open(const TargetOptions& options) {
  if (options.endpoint.empty() == options.spawn_berthd.empty()) {
    return absl::InvalidArgumentError("give exactly one of --endpoint HOST:PORT and --spawn-berthd PATH");
  }
  if (options.spawn_berthd.empty() && !options.berthd_args.empty()) {
    return absl::InvalidArgumentError("--berthd-arg needs --spawn-berthd");
  }
  auto target = std::make_unique<Target>();
  if (!options.spawn_berthd.empty()) {
    auto process = BerthdProcess::Start({.binary = options.spawn_berthd, .extra_args = options.berthd_args});
    if (!process.ok()) return process.status();
    target->process_ = *std::move(process);
    target->grpc_endpoint_ = target->process_->grpc_endpoint();
    target->metrics_url_ = options.metrics_url.empty()
                               ? StrCat("http://", target->process_->http_endpoint(), "/metrics")
                               : options.metrics_url;
  } else {
    target->grpc_endpoint_ = options.endpoint;
    target->metrics_url_ = options.metrics_url;
  }
  return target;
}

std::optional<pid_t> Target::berthd_pid() const {
  if (process_ == nullptr) return std::nullopt;
  return process_->pid();
}

std::shared_ptr<grpc::Channel> Target::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(grpc_endpoint_, grpc::InsecureChannelCredentials(), args);
}

absl::Status Target::Close() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::Status s = process_->Stop();
  process_.reset();
  return s;
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::string GrpcCodeName(int code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return StrCat("CODE_", code);
}

}  // namespace berth::bench
