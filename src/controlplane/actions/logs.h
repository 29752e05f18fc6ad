// LogActions: the CloudWatch Logs actions Berth serves (logs.proto; docs/logs.md) over the log
// store: log groups and streams, PutLogEvents with CloudWatch's limits and rejectedLogEventsInfo,
// GetLogEvents and FilterLogEvents, retention policies and tags. The AWS JSON door
// (Logs_20140328.<Action>) and the gRPC LogsService call these.
//
// Each action validates its request (bad input: InvalidParameterException naming the member and
// the rule, nothing changed), then calls the log store and completes `done` inline. Log writes
// never enter the commit pipeline (log_store.h says what durability they have).
#pragma once

#include "berth/common/arn.h"
#include "berth/common/clock.h"
#include "berth/logs/log_store.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/logs.pb.h"
#include "src/controlplane/actions/action_base.h"
#include "src/controlplane/actions/log_ingest.h"

namespace berth::controlplane {

// X(Class, Action) for every logs action; the AWS door and the gRPC service expand it.
#define BERTH_LOGS_ACTIONS(X)          \
  X(LogActions, CreateLogGroup)        \
  X(LogActions, DeleteLogGroup)        \
  X(LogActions, DescribeLogGroups)     \
  X(LogActions, CreateLogStream)       \
  X(LogActions, DeleteLogStream)       \
  X(LogActions, DescribeLogStreams)    \
  X(LogActions, PutLogEvents)          \
  X(LogActions, GetLogEvents)          \
  X(LogActions, FilterLogEvents)       \
  X(LogActions, PutRetentionPolicy)    \
  X(LogActions, DeleteRetentionPolicy) \
  X(LogActions, TagResource)           \
  X(LogActions, UntagResource)         \
  X(LogActions, ListTagsForResource)

class LogActions {
 public:
  using Done = ActionBase::Done;

  // `store` may be null (a control plane without a log store: every action answers
  // ServiceUnavailableException); it, `arns` and `clock` must outlive this.
  LogActions(logs::LogStore* store, const Arns* arns, const Clock* clock)
      : store_(store),
        arns_(arns),
        clock_(clock),
        ingest_(store == nullptr ? nullptr : std::make_unique<LogIngest>(store, clock)) {}

  void CreateLogGroup(const v1::CreateLogGroupRequest& request, v1::CreateLogGroupResponse* response, Done done);
  void DeleteLogGroup(const v1::DeleteLogGroupRequest& request, v1::DeleteLogGroupResponse* response, Done done);
  void DescribeLogGroups(const v1::DescribeLogGroupsRequest& request, v1::DescribeLogGroupsResponse* response,
                         Done done);
  void CreateLogStream(const v1::CreateLogStreamRequest& request, v1::CreateLogStreamResponse* response, Done done);
  void DeleteLogStream(const v1::DeleteLogStreamRequest& request, v1::DeleteLogStreamResponse* response, Done done);
  void DescribeLogStreams(const v1::DescribeLogStreamsRequest& request, v1::DescribeLogStreamsResponse* response,
                          Done done);
  void PutLogEvents(const v1::PutLogEventsRequest& request, v1::PutLogEventsResponse* response, Done done);
  void GetLogEvents(const v1::GetLogEventsRequest& request, v1::GetLogEventsResponse* response, Done done);
  void FilterLogEvents(const v1::FilterLogEventsRequest& request, v1::FilterLogEventsResponse* response, Done done);
  void PutRetentionPolicy(const v1::PutRetentionPolicyRequest& request, v1::PutRetentionPolicyResponse* response,
                          Done done);
  void DeleteRetentionPolicy(const v1::DeleteRetentionPolicyRequest& request,
                             v1::DeleteRetentionPolicyResponse* response, Done done);
  void TagResource(const v1::LogsTagResourceRequest& request, v1::LogsTagResourceResponse* response, Done done);
  void UntagResource(const v1::LogsUntagResourceRequest& request, v1::LogsUntagResourceResponse* response, Done done);
  void ListTagsForResource(const v1::LogsListTagsForResourceRequest& request,
                           v1::LogsListTagsForResourceResponse* response, Done done);

  // An agent's batch of container output (agent.proto's PushLogs), stored once per batch with
  // `writer` (the instance) as LogStore::AppendBatch's writer. A stream's events are refused, and
  // listed in the response, when its names break CloudWatch's rules, its group is missing without
  // create_group, or they are more than 14 days old or 2 hours ahead; an event over CloudWatch's
  // size is cut to it. The rest is stored. `done` runs on the ingest thread (LogIngest), once the
  // batch is in the store; `request` and `response` must live until then.
  void PushLogs(const std::string& writer, const v1::PushLogsRequest& request, v1::PushLogsResponse* response,
                Done done);

  // Housekeeping, called periodically from one thread: once a minute, deletes what retention and
  // the log store's size cap say must go.
  void Tick();

  // The ARN of log group `group` as DescribeLogGroups shows it ("arn:aws:logs:R:A:log-group:G:*").
  std::string GroupArn(const std::string& group) const;

 private:
  // The log group an ARN of the tagging actions names; InvalidParameter naming resourceArn.
  absl::StatusOr<std::string> GroupOfArn(const std::string& arn) const;

  logs::LogStore* const store_;
  const Arns* const arns_;
  const Clock* const clock_;
  int64_t next_expiry_ms_ = 0;  // Tick's thread only
  std::unique_ptr<LogIngest> ingest_;
};

// The request and response types of a LogActions method (the macros above name actions, and three
// logs messages carry a Logs prefix beside ECS's of the same name).
template <auto Method>
struct LogActionTypes;
template <typename Req, typename Resp, void (LogActions::*Method)(const Req&, Resp*, LogActions::Done)>
struct LogActionTypes<Method> {
  using Request = Req;
  using Response = Resp;
};

}  // namespace berth::controlplane
