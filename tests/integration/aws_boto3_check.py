#!/usr/bin/env python3
"""boto3 against berthd's AWS JSON 1.1 door (run by aws_cli_test.cc).

Usage: aws_boto3_check.py ENDPOINT_URL REGION ACCESS_KEY_ID SECRET
Prints one line per step and "ok" at the end; exits non-zero on the first surprise.
"""
import sys

import boto3

endpoint, region, key_id, secret = sys.argv[1:5]
ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id=key_id, aws_secret_access_key=secret)

cluster = ecs.create_cluster(clusterName="boto")["cluster"]
assert cluster["clusterName"] == "boto", cluster
print("create_cluster", cluster["clusterArn"])

td = ecs.register_task_definition(
    family="boto-web",
    containerDefinitions=[{"name": "app", "image": "busybox", "cpu": 10, "memory": 64}],
)["taskDefinition"]
assert td["revision"] >= 1, td
print("register_task_definition", td["taskDefinitionArn"])

run = ecs.run_task(cluster="boto", taskDefinition="boto-web")
assert run["tasks"] == [] and run["failures"], run
print("run_task failures", [f["reason"] for f in run["failures"]])

arns = ecs.list_clusters()["clusterArns"]
assert cluster["clusterArn"] in arns, arns
described = ecs.describe_clusters(clusters=["boto"])["clusters"]
assert described[0]["status"] == "ACTIVE", described
print("list_clusters", len(arns))

try:
    ecs.list_tasks(cluster="no-such-cluster")
    sys.exit("list_tasks on a missing cluster succeeded")
except ecs.exceptions.ClusterNotFoundException as e:
    print("ClusterNotFoundException", e.response["Error"]["Message"])

try:
    ecs.create_service(cluster="boto", serviceName="s", taskDefinition="boto-web", desiredCount=-1)
    sys.exit("create_service with desiredCount -1 succeeded")
except ecs.exceptions.InvalidParameterException as e:
    print("InvalidParameterException", e.response["Error"]["Message"])

print("ok")
