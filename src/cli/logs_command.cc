#include "src/cli/logs_command.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/v1/ecs.pb.h"
#include "berth/v1/logs.pb.h"

namespace berth::cli {
namespace {

using std::chrono::milliseconds;

// A method of berth.v1.ContainerService or berth.v1.LogsService (naming a message of its file
// keeps the file in the generated pool).
const google::protobuf::MethodDescriptor& Method(const google::protobuf::Message& of_file, const char* service,
                                                 const char* name) {
  const google::protobuf::ServiceDescriptor* s = of_file.GetDescriptor()->file()->FindServiceByName(service);
  BERTH_CHECK_MSG(s != nullptr && s->FindMethodByName(name) != nullptr,
                  StrCat("no method ", service, ".", name).c_str());
  return *s->FindMethodByName(name);
}

absl::Status FromGrpc(const grpc::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), StrCat(what, ": ", s.error_message()));
}

// One container's stream and where the next read starts.
struct Stream {
  std::string container;
  std::string group;
  std::string stream;
  std::string token;  // the last read's forward token; empty before the first read
};

struct Line {
  int64_t timestamp_ms = 0;
  const Stream* stream = nullptr;
  std::string message;
};

class LogsReader {
 public:
  LogsReader(const LogsRequest& request, Invoker& invoker, std::ostream& out)
      : request_(request), invoker_(invoker), out_(out) {}

  absl::Status Run() {
    RETURN_IF_ERROR(FindStreams());
    bool first = true;
    int64_t quiet_since_ms = 0;  // follow: when the task was first seen STOPPED with nothing new
    while (true) {
      std::vector<Line> lines;
      for (Stream& s : streams_) RETURN_IF_ERROR(Read(s, first, &lines));
      first = false;
      std::stable_sort(lines.begin(), lines.end(),
                       [](const Line& a, const Line& b) { return a.timestamp_ms < b.timestamp_ms; });
      for (const Line& line : lines) Print(line);
      out_.flush();
      if (!request_.follow) return absl::OkStatus();
      const int64_t now_ms = absl::ToUnixMillis(absl::Now());
      if (!lines.empty()) {
        quiet_since_ms = 0;
      } else if (now_ms >= next_status_check_ms_) {
        next_status_check_ms_ = now_ms + 1000;
        absl::StatusOr<bool> stopped = TaskStopped();
        if (!stopped.ok()) return stopped.status();
        if (*stopped && quiet_since_ms == 0) quiet_since_ms = now_ms;
      }
      if (quiet_since_ms != 0 && now_ms - quiet_since_ms >= request_.drain_after.count()) return absl::OkStatus();
      if (lines.empty()) std::this_thread::sleep_for(request_.poll_interval);
    }
  }

 private:
  absl::StatusOr<v1::DescribeTasksResponse> Describe() {
    v1::DescribeTasksRequest req;
    if (!request_.cluster.empty()) req.set_cluster(request_.cluster);
    req.add_tasks(request_.task);
    v1::DescribeTasksResponse resp;
    RETURN_IF_ERROR(FromGrpc(
        invoker_.Call(Method(v1::DescribeTasksRequest::default_instance(), "ContainerService", "DescribeTasks"), req,
                      &resp, request_.call_timeout),
        "DescribeTasks"));
    if (resp.tasks_size() == 0) {
      return absl::NotFoundError(StrCat("task ", request_.task, " not found",
                                        resp.failures_size() > 0 ? StrCat(" (", resp.failures(0).reason(), ")") : ""));
    }
    return resp;
  }

  absl::Status FindStreams() {
    absl::StatusOr<v1::DescribeTasksResponse> described = Describe();
    if (!described.ok()) return described.status();
    const v1::Task& task = described->tasks(0);
    std::vector<std::string> names;
    for (const v1::Container& c : task.containers()) {
      names.push_back(c.name());
      if (!request_.container.empty() && c.name() != request_.container) continue;
      if (!c.has_log_stream()) {
        if (!request_.container.empty()) {
          return absl::FailedPreconditionError(StrCat("container ", c.name(),
                                                      ": Berth does not keep its output (its logConfiguration names "
                                                      "a driver Docker handles, or berthd keeps no default group)"));
        }
        continue;
      }
      streams_.push_back({.container = c.name(), .group = c.log_group(), .stream = c.log_stream(), .token = ""});
    }
    if (!request_.container.empty() && streams_.empty()) {
      return absl::NotFoundError(StrCat("task ", request_.task, " has no container ", request_.container,
                                        " (its containers: ", absl::StrJoin(names, ", "), ")"));
    }
    if (streams_.empty())
      return absl::FailedPreconditionError("Berth keeps the output of none of the task's containers");
    return absl::OkStatus();
  }

  absl::StatusOr<bool> TaskStopped() {
    absl::StatusOr<v1::DescribeTasksResponse> described = Describe();
    if (!described.ok()) return described.status();
    return described->tasks(0).last_status() == "STOPPED";
  }

  // Reads what the stream holds after its token; the first read starts as --tail and --since say.
  absl::Status Read(Stream& s, bool first, std::vector<Line>* lines) {
    for (int page = 0; page < 100; ++page) {
      v1::GetLogEventsRequest req;
      req.set_log_group_name(s.group);
      req.set_log_stream_name(s.stream);
      if (!s.token.empty()) {
        req.set_next_token(s.token);
        req.set_start_from_head(true);
      } else if (first && request_.tail) {
        req.set_start_from_head(false);
        req.set_limit(std::max(1, *request_.tail));
      } else {
        req.set_start_from_head(true);
      }
      if (s.token.empty() && request_.since) {
        req.set_start_time(absl::ToUnixMillis(absl::Now()) - request_.since->count());
      }
      v1::GetLogEventsResponse resp;
      grpc::Status status =
          invoker_.Call(Method(v1::GetLogEventsRequest::default_instance(), "LogsService", "GetLogEvents"), req, &resp,
                        request_.call_timeout);
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) return absl::OkStatus();  // nothing written yet
      RETURN_IF_ERROR(FromGrpc(status, "GetLogEvents"));
      for (const auto& e : resp.events())
        lines->push_back({.timestamp_ms = e.timestamp(), .stream = &s, .message = e.message()});
      const bool tail_read = first && request_.tail && s.token.empty();
      const bool same = resp.next_forward_token() == s.token;
      s.token = resp.next_forward_token();
      if (resp.events_size() == 0 || same || tail_read) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  void Print(const Line& line) {
    if (request_.timestamps) {
      out_ << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::FromUnixMillis(line.timestamp_ms), absl::UTCTimeZone());
    }
    if (streams_.size() > 1) out_ << line.stream->container << " | ";
    out_ << line.message << '\n';
  }

  const LogsRequest& request_;
  Invoker& invoker_;
  std::ostream& out_;
  std::vector<Stream> streams_;
  int64_t next_status_check_ms_ = 0;
};

}  // namespace

std::optional<milliseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t unit_ms = 1000;
  std::string number = text;
  switch (text.back()) {
    case 's':
      number.pop_back();
      break;
    case 'm':
      unit_ms = 60'000;
      number.pop_back();
      break;
    case 'h':
      unit_ms = 3'600'000;
      number.pop_back();
      break;
    case 'd':
      unit_ms = 86'400'000;
      number.pop_back();
      break;
    default:
      break;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(number, &value) || value <= 0) return std::nullopt;
  return milliseconds(value * unit_ms);
}

absl::Status RunLogs(const LogsRequest& request, Invoker& invoker, std::ostream& out) {
  return LogsReader(request, invoker, out).Run();
}

}  // namespace berth::cli
