"""boto3's CloudWatch Logs client against berthd's logs door: every served action once, the
paginators over nextToken, and CloudWatch's error codes. Prints what it checked and "ok"."""
import sys
import time

import boto3
import botocore.exceptions

endpoint, region, key_id, secret = sys.argv[1:5]
logs = boto3.client("logs", endpoint_url=endpoint, region_name=region, aws_access_key_id=key_id,
                    aws_secret_access_key=secret)


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise SystemExit(f"{call.__name__} {kwargs} succeeded; an error was expected")


for i in range(3):
    logs.create_log_group(logGroupName=f"/b3/g{i}", tags={"n": str(i)})
groups = [g["logGroupName"]
          for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/b3/",
                                                                         PaginationConfig={"PageSize": 2})
          for g in page["logGroups"]]
assert groups == ["/b3/g0", "/b3/g1", "/b3/g2"], groups
print("describe_log_groups pages:", groups)

logs.create_log_stream(logGroupName="/b3/g0", logStreamName="s")
now = int(time.time() * 1000)
for batch in range(3):
    logs.put_log_events(logGroupName="/b3/g0", logStreamName="s",
                        logEvents=[{"timestamp": now + batch * 100 + i, "message": f"line {batch * 100 + i}"}
                                   for i in range(100)])
events = [e["message"]
          for page in logs.get_paginator("filter_log_events").paginate(logGroupName="/b3/g0",
                                                                       PaginationConfig={"PageSize": 70})
          for e in page["events"]]
assert events == [f"line {i}" for i in range(300)], events[:5]
print("filter_log_events pages:", len(events))

got = logs.get_log_events(logGroupName="/b3/g0", logStreamName="s", limit=10)
assert [e["message"] for e in got["events"]] == [f"line {i}" for i in range(290, 300)], got["events"]
older = logs.get_log_events(logGroupName="/b3/g0", logStreamName="s", limit=10, nextToken=got["nextBackwardToken"])
assert [e["message"] for e in older["events"]] == [f"line {i}" for i in range(280, 290)], older["events"]
print("get_log_events tail and backward page")

print(error_code(logs.create_log_group, logGroupName="/b3/g0"))
print(error_code(logs.describe_log_streams, logGroupName="/b3/none"))
print(error_code(logs.put_retention_policy, logGroupName="/b3/g0", retentionInDays=4))
print(error_code(logs.put_log_events, logGroupName="/b3/g0", logStreamName="s",
                 logEvents=[{"timestamp": now + 1, "message": "b"}, {"timestamp": now, "message": "a"}]))
logs.put_retention_policy(logGroupName="/b3/g0", retentionInDays=30)
logs.delete_retention_policy(logGroupName="/b3/g0")
arn = logs.describe_log_groups(logGroupNamePrefix="/b3/g1")["logGroups"][0]["arn"]
logs.tag_resource(resourceArn=arn, tags={"env": "dev"})
logs.untag_resource(resourceArn=arn, tagKeys=["n"])
assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}
logs.delete_log_stream(logGroupName="/b3/g0", logStreamName="s")
for g in groups:
    logs.delete_log_group(logGroupName=g)
print("ok")
