// The access requests of the logs actions (docs/security.md, "Logs"): the action as logs:<Action>,
// on the log group's ARN (arn:aws:logs:R:A:log-group:NAME), or its stream's
// (...:log-group:NAME:log-stream:STREAM) for the actions on one stream; "*" for listings.
#include "berth/common/strings.h"
#include "src/controlplane/auth/authz.h"

namespace berth::controlplane::auth {
namespace {

using Requests = std::vector<AccessRequest>;

std::string GroupArn(const Arns& arns, const std::string& group) {
  return StrCat("arn:aws:logs:", arns.context().region, ":", arns.context().account, ":log-group:", group);
}

Requests One(std::string_view action, std::string resource) {
  return {AccessRequest{.action = StrCat("logs:", action), .resource = std::move(resource), .context = {}}};
}

Requests OnGroup(const Arns& arns, std::string_view action, const std::string& group) {
  return One(action, group.empty() ? "*" : GroupArn(arns, group));
}

Requests OnStream(const Arns& arns, std::string_view action, const std::string& group, const std::string& stream) {
  if (group.empty()) return One(action, "*");
  return One(action, StrCat(GroupArn(arns, group), ":log-stream:", stream.empty() ? "*" : stream));
}

// The group a tagging request's resourceArn names ("*" when it names none Berth knows).
std::string ArnResource(const std::string& arn) {
  std::string out = arn;
  if (out.size() >= 2 && out.compare(out.size() - 2, 2, ":*") == 0) out.resize(out.size() - 2);
  return out.empty() ? "*" : out;
}

}  // namespace

absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::CreateLogGroupRequest& r) {
  return OnGroup(arns, "CreateLogGroup", r.log_group_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteLogGroupRequest& r) {
  return OnGroup(arns, "DeleteLogGroup", r.log_group_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns&, const v1::DescribeLogGroupsRequest&) {
  return One("DescribeLogGroups", "*");
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::CreateLogStreamRequest& r) {
  return OnStream(arns, "CreateLogStream", r.log_group_name(), r.log_stream_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteLogStreamRequest& r) {
  return OnStream(arns, "DeleteLogStream", r.log_group_name(), r.log_stream_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DescribeLogStreamsRequest& r) {
  return OnStream(arns, "DescribeLogStreams", r.log_group_name(), "");
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::PutLogEventsRequest& r) {
  return OnStream(arns, "PutLogEvents", r.log_group_name(), r.log_stream_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::GetLogEventsRequest& r) {
  return OnStream(arns, "GetLogEvents", r.log_group_name(), r.log_stream_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::FilterLogEventsRequest& r) {
  return OnGroup(arns, "FilterLogEvents", r.log_group_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::PutRetentionPolicyRequest& r) {
  return OnGroup(arns, "PutRetentionPolicy", r.log_group_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns& arns, const v1::DeleteRetentionPolicyRequest& r) {
  return OnGroup(arns, "DeleteRetentionPolicy", r.log_group_name());
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns&, const v1::LogsTagResourceRequest& r) {
  return One("TagResource", ArnResource(r.resource_arn()));
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns&, const v1::LogsUntagResourceRequest& r) {
  return One("UntagResource", ArnResource(r.resource_arn()));
}
absl::StatusOr<Requests> AccessRequestsFor(const Arns&, const v1::LogsListTagsForResourceRequest& r) {
  return One("ListTagsForResource", ArnResource(r.resource_arn()));
}

}  // namespace berth::controlplane::auth
