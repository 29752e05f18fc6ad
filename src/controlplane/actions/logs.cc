// LogActions: CloudWatch Logs' rules (names, limits, rejected events, tokens) in front of the log
// store.
#include "src/controlplane/actions/logs.h"

#include <algorithm>
#include <array>

#include "absl/strings/numbers.h"
#include "berth/common/strings.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

constexpr size_t kMaxNameLength = 512;
constexpr int kMaxEventsPerBatch = 10'000;
constexpr int64_t kMaxBatchBytes = 1'048'576;
constexpr int64_t kMaxEventBytes = 262'144;  // the message and the 26 bytes counted per event
constexpr int64_t kEventOverhead = 26;
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kMaxAgeMs = 14 * kDayMs;     // older events are rejected as too old
constexpr int64_t kMaxFutureMs = 2 * kHourMs;  // newer events are rejected as too new
constexpr int64_t kMaxBatchSpanMs = kDayMs;
constexpr std::array<int32_t, 22> kRetentionDays = {1,   3,   5,   7,   14,   30,   60,   90,   120,  150,  180,
                                                    365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653};

// The store's errors as CloudWatch names them.
absl::Status FromStore(absl::Status s) {
  if (absl::IsNotFound(s)) return WithType(std::move(s), "ResourceNotFoundException");
  if (absl::IsAlreadyExists(s)) return WithType(std::move(s), "ResourceAlreadyExistsException");
  if (absl::IsInvalidArgument(s)) return WithType(std::move(s), "InvalidParameterException");
  return WithType(std::move(s), "ServiceUnavailableException");
}

absl::Status CheckGroupName(bool has, const std::string& name, std::string_view field = "logGroupName") {
  if (!has || name.empty()) return InvalidParameter(field, ": required: the log group's name");
  if (name.size() > kMaxNameLength) {
    return InvalidParameter(field, ": at most ", kMaxNameLength, " characters (got ", name.size(), ")");
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_' || c == '/' ||
          c == '#')) {
      return InvalidParameter(field, ": '", name, "' may hold only letters, digits and . - _ / #");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckStreamName(bool has, const std::string& name) {
  if (!has || name.empty()) return InvalidParameter("logStreamName: required: the log stream's name");
  if (name.size() > kMaxNameLength) {
    return InvalidParameter("logStreamName: at most ", kMaxNameLength, " characters (got ", name.size(), ")");
  }
  if (name.find_first_of(":*") != std::string::npos || name.find('\0') != std::string::npos) {
    return InvalidParameter("logStreamName: '", name, "' may not contain : or *");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Limit(bool has, int32_t value, int max, int fallback) {
  if (!has) return fallback;
  if (value < 1 || value > max) return InvalidParameter("limit: must be between 1 and ", max, " (got ", value, ")");
  return value;
}

absl::Status CheckRetention(bool has, int32_t days) {
  if (!has) return InvalidParameter("retentionInDays: required");
  if (std::find(kRetentionDays.begin(), kRetentionDays.end(), days) == kRetentionDays.end()) {
    return InvalidParameter("retentionInDays: ", days,
                            " is not one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, "
                            "2192, 2557, 2922, 3288, 3653");
  }
  return absl::OkStatus();
}

absl::Status CheckTags(const google::protobuf::Map<std::string, std::string>& tags) {
  if (tags.size() > 50) return InvalidParameter("tags: at most 50 (got ", tags.size(), ")");
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128) return InvalidParameter("tags: a key is 1 to 128 characters ('", k, "')");
    if (v.size() > 256) return InvalidParameter("tags.", k, ": a value is at most 256 characters");
  }
  return absl::OkStatus();
}

}  // namespace

void LogActions::Tick() {
  if (store_ == nullptr) return;
  const int64_t now = clock_->NowMicros() / 1000;
  if (now < next_expiry_ms_) return;
  next_expiry_ms_ = now + 60'000;
  store_->Expire(now);
}

std::string LogActions::GroupArn(const std::string& group) const {
  const ArnContext& ctx = arns_->context();
  return StrCat("arn:aws:logs:", ctx.region, ":", ctx.account, ":log-group:", group, ":*");
}

absl::StatusOr<std::string> LogActions::GroupOfArn(const std::string& arn) const {
  const ArnContext& ctx = arns_->context();
  const std::string prefix = StrCat("arn:aws:logs:", ctx.region, ":", ctx.account, ":log-group:");
  if (arn.rfind(prefix, 0) != 0) {
    return InvalidParameter("resourceArn: '", arn, "' is not a log group ARN of this region and account (", prefix,
                            "NAME)");
  }
  std::string group = arn.substr(prefix.size());
  if (group.size() >= 2 && group.compare(group.size() - 2, 2, ":*") == 0) group.resize(group.size() - 2);
  RETURN_IF_ERROR(CheckGroupName(true, group, "resourceArn"));
  return group;
}

// Completes `done` with the error of `expr`, if any, and returns.
#define RETURN_DONE_IF_ERROR(expr)                                                     \
  do {                                                                                 \
    if (absl::Status status_ = (expr); !status_.ok()) return done(std::move(status_)); \
  } while (0)

#define BERTH_LOGS_NEED_STORE()                                                                                \
  if (store_ == nullptr) {                                                                                     \
    return done(WithType(absl::UnavailableError("this berthd keeps no logs"), "ServiceUnavailableException")); \
  }

void LogActions::CreateLogGroup(const v1::CreateLogGroupRequest& request, v1::CreateLogGroupResponse*, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  RETURN_DONE_IF_ERROR(CheckTags(request.tags()));
  if (request.has_kms_key_id()) {
    return done(InvalidParameter("kmsKeyId: Berth does not encrypt logs with KMS keys"));
  }
  std::map<std::string, std::string> tags(request.tags().begin(), request.tags().end());
  done(FromStore(store_->CreateGroup(request.log_group_name(), clock_->NowMicros() / 1000, tags)));
}

void LogActions::DeleteLogGroup(const v1::DeleteLogGroupRequest& request, v1::DeleteLogGroupResponse*, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  done(FromStore(store_->DeleteGroup(request.log_group_name())));
}

void LogActions::DescribeLogGroups(const v1::DescribeLogGroupsRequest& request, v1::DescribeLogGroupsResponse* response,
                                   Done done) {
  BERTH_LOGS_NEED_STORE();
  if (request.has_log_group_name_pattern()) {
    return done(InvalidParameter("logGroupNamePattern: not supported by Berth; use logGroupNamePrefix"));
  }
  auto limit = Limit(request.has_limit(), request.limit(), 50, 50);
  if (!limit.ok()) return done(limit.status());
  std::string next;
  for (const logs::GroupInfo& g :
       store_->ListGroups(request.log_group_name_prefix(), {.token = request.next_token(), .limit = *limit}, &next)) {
    v1::LogGroup* out = response->add_log_groups();
    out->set_log_group_name(g.name);
    out->set_creation_time(g.creation_ms);
    if (g.retention_days > 0) out->set_retention_in_days(g.retention_days);
    out->set_metric_filter_count(0);
    out->set_arn(GroupArn(g.name));
    out->set_stored_bytes(g.stored_bytes);
  }
  if (!next.empty()) response->set_next_token(next);
  done(absl::OkStatus());
}

void LogActions::CreateLogStream(const v1::CreateLogStreamRequest& request, v1::CreateLogStreamResponse*, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  RETURN_DONE_IF_ERROR(CheckStreamName(request.has_log_stream_name(), request.log_stream_name()));
  done(
      FromStore(store_->CreateStream(request.log_group_name(), request.log_stream_name(), clock_->NowMicros() / 1000)));
}

void LogActions::DeleteLogStream(const v1::DeleteLogStreamRequest& request, v1::DeleteLogStreamResponse*, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  RETURN_DONE_IF_ERROR(CheckStreamName(request.has_log_stream_name(), request.log_stream_name()));
  done(FromStore(store_->DeleteStream(request.log_group_name(), request.log_stream_name())));
}

void LogActions::DescribeLogStreams(const v1::DescribeLogStreamsRequest& request,
                                    v1::DescribeLogStreamsResponse* response, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  auto limit = Limit(request.has_limit(), request.limit(), 50, 50);
  if (!limit.ok()) return done(limit.status());
  const std::string order = request.has_order_by() ? request.order_by() : "LogStreamName";
  if (order != "LogStreamName" && order != "LastEventTime") {
    return done(InvalidParameter("orderBy: must be LogStreamName or LastEventTime (got '", order, "')"));
  }
  if (order == "LastEventTime" && request.has_log_stream_name_prefix()) {
    return done(InvalidParameter("logStreamNamePrefix: cannot be given with orderBy LastEventTime"));
  }
  std::string next;
  std::vector<logs::StreamInfo> streams;
  if (order == "LogStreamName" && !request.descending()) {
    auto page = store_->ListStreams(request.log_group_name(), request.log_stream_name_prefix(),
                                    {.token = request.next_token(), .limit = *limit}, &next);
    if (!page.ok()) return done(FromStore(page.status()));
    streams = *std::move(page);
  } else {
    // Other orders sort every stream of the group; the token is the offset of the next page.
    std::string ignored;
    auto all = store_->ListStreams(request.log_group_name(), request.log_stream_name_prefix(),
                                   {.token = "", .limit = 1 << 30}, &ignored);
    if (!all.ok()) return done(FromStore(all.status()));
    std::stable_sort(all->begin(), all->end(), [&](const logs::StreamInfo& a, const logs::StreamInfo& b) {
      const bool less = order == "LastEventTime" ? a.last_event_ms < b.last_event_ms : a.name < b.name;
      const bool more = order == "LastEventTime" ? b.last_event_ms < a.last_event_ms : b.name < a.name;
      return request.descending() ? more : less;
    });
    size_t offset = 0;
    if (!request.next_token().empty() && !absl::SimpleAtoi(request.next_token(), &offset)) {
      return done(InvalidParameter("nextToken: not a token this berthd issued"));
    }
    for (size_t i = offset; i < all->size() && streams.size() < static_cast<size_t>(*limit); ++i) {
      streams.push_back((*all)[i]);
    }
    if (offset + streams.size() < all->size()) next = std::to_string(offset + streams.size());
  }
  // "arn:aws:logs:R:A:log-group:G:log-stream:S", as CloudWatch names a stream.
  std::string stream_arn_prefix = GroupArn(request.log_group_name());
  stream_arn_prefix.pop_back();  // the group ARN's trailing '*'
  for (const logs::StreamInfo& s : streams) {
    v1::LogStream* out = response->add_log_streams();
    out->set_log_stream_name(s.name);
    out->set_creation_time(s.creation_ms);
    if (s.first_event_ms != 0) {
      out->set_first_event_timestamp(s.first_event_ms);
      out->set_last_event_timestamp(s.last_event_ms);
      out->set_last_ingestion_time(s.last_ingestion_ms);
    }
    out->set_arn(StrCat(stream_arn_prefix, "log-stream:", s.name));
    out->set_stored_bytes(s.stored_bytes);
  }
  if (!next.empty()) response->set_next_token(next);
  done(absl::OkStatus());
}

void LogActions::PutLogEvents(const v1::PutLogEventsRequest& request, v1::PutLogEventsResponse* response, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  RETURN_DONE_IF_ERROR(CheckStreamName(request.has_log_stream_name(), request.log_stream_name()));
  const int n = request.log_events_size();
  if (n < 1 || n > kMaxEventsPerBatch) {
    return done(InvalidParameter("logEvents: give 1 to ", kMaxEventsPerBatch, " events (got ", n, ")"));
  }
  int64_t batch_bytes = 0;
  for (int i = 0; i < n; ++i) {
    const v1::InputLogEvent& e = request.log_events(i);
    if (!e.has_timestamp() || !e.has_message()) {
      return done(InvalidParameter("logEvents[", i, "]: timestamp and message are required"));
    }
    const int64_t bytes = static_cast<int64_t>(e.message().size()) + kEventOverhead;
    if (bytes > kMaxEventBytes) {
      return done(InvalidParameter("logEvents[", i, "]: an event is at most ", kMaxEventBytes,
                                   " bytes, its message and 26 (got ", bytes, ")"));
    }
    batch_bytes += bytes;
    if (i > 0 && e.timestamp() < request.log_events(i - 1).timestamp()) {
      return done(InvalidParameter("Log events in a single PutLogEvents request must be in chronological order."));
    }
  }
  if (batch_bytes > kMaxBatchBytes) {
    return done(InvalidParameter("logEvents: a batch is at most ", kMaxBatchBytes,
                                 " bytes, the messages and 26 per event (got ", batch_bytes, ")"));
  }
  if (request.log_events(n - 1).timestamp() - request.log_events(0).timestamp() > kMaxBatchSpanMs) {
    return done(InvalidParameter("logEvents: a batch may not span more than 24 hours"));
  }
  const int64_t now = clock_->NowMicros() / 1000;
  auto group = store_->GetGroup(request.log_group_name());
  if (!group.ok()) return done(FromStore(group.status()));
  const int64_t expired_before = group->retention_days > 0 ? now - group->retention_days * kDayMs : INT64_MIN;
  std::vector<logs::LogEvent> accepted;
  v1::RejectedLogEventsInfo rejected;
  for (int i = 0; i < n; ++i) {
    const v1::InputLogEvent& e = request.log_events(i);
    if (e.timestamp() < expired_before) {
      rejected.set_expired_log_event_end_index(i + 1);
    } else if (e.timestamp() < now - kMaxAgeMs) {
      rejected.set_too_old_log_event_end_index(i + 1);
    } else if (e.timestamp() > now + kMaxFutureMs) {
      if (!rejected.has_too_new_log_event_start_index()) rejected.set_too_new_log_event_start_index(i);
    } else {
      accepted.push_back({e.timestamp(), e.message()});
    }
  }
  if (!accepted.empty()) {
    auto appended = store_->Append(request.log_group_name(), request.log_stream_name(), std::move(accepted), now,
                                   /*create_missing=*/false);
    if (!appended.ok()) return done(FromStore(appended.status()));
  }
  // Sequence tokens are no longer checked (as in CloudWatch), but older senders (Docker's awslogs
  // driver, Fluent Bit) still read one: an opaque value that grows with every append.
  response->set_next_sequence_token(StrCat(store_->appends()));
  if (rejected.ByteSizeLong() > 0) *response->mutable_rejected_log_events_info() = rejected;
  done(absl::OkStatus());
}

void LogActions::GetLogEvents(const v1::GetLogEventsRequest& request, v1::GetLogEventsResponse* response, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  RETURN_DONE_IF_ERROR(CheckStreamName(request.has_log_stream_name(), request.log_stream_name()));
  auto limit = Limit(request.has_limit(), request.limit(), 10'000, 10'000);
  if (!limit.ok()) return done(limit.status());
  logs::ReadRequest read;
  read.group = request.log_group_name();
  read.stream = request.log_stream_name();
  if (request.has_start_time()) read.start_ms = request.start_time();
  if (request.has_end_time()) read.end_ms = request.end_time();
  read.token = request.next_token();
  read.start_from_head = request.start_from_head();
  read.limit = *limit;
  auto result = store_->Read(read);
  if (!result.ok()) return done(FromStore(result.status()));
  for (const logs::StoredEvent& e : result->events) {
    v1::OutputLogEvent* out = response->add_events();
    out->set_timestamp(e.timestamp_ms);
    out->set_message(e.message);
    out->set_ingestion_time(e.ingestion_ms);
  }
  response->set_next_forward_token(result->next_forward_token);
  response->set_next_backward_token(result->next_backward_token);
  done(absl::OkStatus());
}

void LogActions::FilterLogEvents(const v1::FilterLogEventsRequest& request, v1::FilterLogEventsResponse* response,
                                 Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  if (!request.log_stream_names().empty() && request.has_log_stream_name_prefix()) {
    return done(InvalidParameter("logStreamNames: give either logStreamNames or logStreamNamePrefix, not both"));
  }
  if (request.log_stream_names_size() > 100) {
    return done(InvalidParameter("logStreamNames: at most 100 (got ", request.log_stream_names_size(), ")"));
  }
  auto limit = Limit(request.has_limit(), request.limit(), 10'000, 10'000);
  if (!limit.ok()) return done(limit.status());
  auto pattern = logs::FilterPattern::Parse(request.filter_pattern());
  if (!pattern.ok()) return done(WithType(pattern.status(), "InvalidParameterException"));
  logs::FilterRequest filter;
  filter.group = request.log_group_name();
  filter.streams.assign(request.log_stream_names().begin(), request.log_stream_names().end());
  filter.stream_prefix = request.log_stream_name_prefix();
  if (request.has_start_time()) filter.start_ms = request.start_time();
  if (request.has_end_time()) filter.end_ms = request.end_time();
  filter.pattern = &*pattern;
  filter.token = request.next_token();
  filter.limit = *limit;
  auto result = store_->Filter(filter);
  if (!result.ok()) return done(FromStore(result.status()));
  for (const logs::StoredEvent& e : result->events) {
    v1::FilteredLogEvent* out = response->add_events();
    out->set_log_stream_name(e.stream);
    out->set_timestamp(e.timestamp_ms);
    out->set_message(e.message);
    out->set_ingestion_time(e.ingestion_ms);
    out->set_event_id(e.event_id);
  }
  if (!result->next_token.empty()) response->set_next_token(result->next_token);
  done(absl::OkStatus());
}

void LogActions::PutRetentionPolicy(const v1::PutRetentionPolicyRequest& request, v1::PutRetentionPolicyResponse*,
                                    Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  RETURN_DONE_IF_ERROR(CheckRetention(request.has_retention_in_days(), request.retention_in_days()));
  done(FromStore(store_->SetRetention(request.log_group_name(), request.retention_in_days())));
}

void LogActions::DeleteRetentionPolicy(const v1::DeleteRetentionPolicyRequest& request,
                                       v1::DeleteRetentionPolicyResponse*, Done done) {
  BERTH_LOGS_NEED_STORE();
  RETURN_DONE_IF_ERROR(CheckGroupName(request.has_log_group_name(), request.log_group_name()));
  done(FromStore(store_->SetRetention(request.log_group_name(), 0)));
}

void LogActions::TagResource(const v1::LogsTagResourceRequest& request, v1::LogsTagResourceResponse*, Done done) {
  BERTH_LOGS_NEED_STORE();
  auto group = GroupOfArn(request.resource_arn());
  if (!group.ok()) return done(group.status());
  if (request.tags().empty()) return done(InvalidParameter("tags: required: at least one tag"));
  RETURN_DONE_IF_ERROR(CheckTags(request.tags()));
  done(FromStore(store_->TagGroup(*group, {request.tags().begin(), request.tags().end()})));
}

void LogActions::UntagResource(const v1::LogsUntagResourceRequest& request, v1::LogsUntagResourceResponse*, Done done) {
  BERTH_LOGS_NEED_STORE();
  auto group = GroupOfArn(request.resource_arn());
  if (!group.ok()) return done(group.status());
  if (request.tag_keys().empty()) return done(InvalidParameter("tagKeys: required: at least one key"));
  done(FromStore(store_->UntagGroup(*group, {request.tag_keys().begin(), request.tag_keys().end()})));
}

void LogActions::ListTagsForResource(const v1::LogsListTagsForResourceRequest& request,
                                     v1::LogsListTagsForResourceResponse* response, Done done) {
  BERTH_LOGS_NEED_STORE();
  auto group = GroupOfArn(request.resource_arn());
  if (!group.ok()) return done(group.status());
  auto info = store_->GetGroup(*group);
  if (!info.ok()) return done(FromStore(info.status()));
  response->mutable_tags()->insert(info->tags.begin(), info->tags.end());
  done(absl::OkStatus());
}

}  // namespace berth::controlplane

namespace berth::controlplane {

void LogActions::PushLogs(const std::string& writer, const v1::PushLogsRequest& request, v1::PushLogsResponse* response,
                          Done done) {
  BERTH_LOGS_NEED_STORE();
  const int64_t now = clock_->NowMicros() / 1000;
  std::vector<logs::StreamAppend> streams;
  std::vector<int> part_of;  // index into request.streams() of each part
  auto reject = [response](const v1::LogStreamEvents& s, std::string reason, uint32_t events) {
    auto* r = response->add_rejected();
    r->set_group(s.group());
    r->set_stream(s.stream());
    r->set_reason(std::move(reason));
    r->set_events(events);
  };
  for (int i = 0; i < request.streams_size(); ++i) {
    const v1::LogStreamEvents& s = request.streams(i);
    absl::Status named = CheckGroupName(true, s.group(), "group");
    if (named.ok()) named = CheckStreamName(true, s.stream());
    if (!named.ok()) {
      reject(s, std::string(named.message()), static_cast<uint32_t>(s.events_size()));
      continue;
    }
    logs::StreamAppend part{.group = s.group(), .stream = s.stream(), .create_group = s.create_group(), .events = {}};
    uint32_t outside = 0;
    for (const v1::AgentLogEvent& e : s.events()) {
      if (e.timestamp_ms() < now - kMaxAgeMs || e.timestamp_ms() > now + kMaxFutureMs) {
        ++outside;
        continue;
      }
      std::string message = e.message();
      if (static_cast<int64_t>(message.size()) + kEventOverhead > kMaxEventBytes) {
        message.resize(static_cast<size_t>(kMaxEventBytes - kEventOverhead));
      }
      part.events.push_back({e.timestamp_ms(), std::move(message), e.sequence()});
    }
    if (outside > 0) reject(s, "events more than 14 days old or 2 hours ahead of berthd's clock", outside);
    streams.push_back(std::move(part));
    part_of.push_back(i);
  }
  logs::WriterBatch batch{.writer = writer, .sequence = request.sequence(), .streams = std::move(streams)};
  ingest_->Submit(std::move(batch), [&request, response, part_of = std::move(part_of), reject,
                                     done = std::move(done)](absl::StatusOr<logs::BatchAppendResult> result) {
    if (!result.ok()) return done(FromStore(result.status()));
    for (const auto& [index, status] : result->rejected) {
      const v1::LogStreamEvents& s = request.streams(part_of[index]);
      reject(s, std::string(status.message()), static_cast<uint32_t>(s.events_size()));
    }
    response->set_applied_sequence(result->applied_sequence);
    done(absl::OkStatus());
  });
}

}  // namespace berth::controlplane
