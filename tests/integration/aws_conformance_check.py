#!/usr/bin/env python3
"""Conformance of berthd's AWS JSON 1.1 door to botocore's own ECS service model (run by
aws_conformance_test.cc).

Usage: aws_conformance_check.py ENDPOINT_URL REGION API_H AGENT_INSTANCE_ARN

berthd runs with --http-listen and auth off; one sim agent (berth-agent --runtime sim) has joined
the `default` cluster as AGENT_INSTANCE_ARN, so tasks there reach RUNNING. API_H is
src/controlplane/actions/api.h: its BERTH_API_ACTIONS are the actions the door serves.

Every served action that botocore's model knows is called at least once successfully and at least
once so that it fails, through boto3. Each answer's raw JSON body (not botocore's parse, which
drops what the model does not declare) is checked against the model:
  - every member is declared by its shape and has the shape's type (structure, list, map, string,
    integer, long, boolean, timestamp, double/float, blob); strings of enum shapes hold one of the
    enum's values; no member is null;
  - the members ECS always sends, even empty or zero (ALWAYS_PRESENT below, each row with its
    source), are there, and every list at the top level of a response is there;
  - errors carry an exception name that is an exception shape of the model and one of the
    operation's declared errors, and the one the case expects.
ECS actions of the model that Berth does not serve must answer UnsupportedFeatureException.

Prints one line per failure ("FAIL <Action> <member path>: expected ..., got ...") and a summary;
exits 1 if anything failed.
"""
import json
import re
import sys
import time

import boto3
import botocore
import botocore.config
from botocore.exceptions import ClientError, ParamValidationError

ENDPOINT, REGION, API_H, AGENT_INSTANCE = sys.argv[1:5]

ecs = boto3.client("ecs", endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id="AKIDCONFORMANCE000000",
                   aws_secret_access_key="conformance-secret",
                   config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))
MODEL = ecs.meta.service_model

# --- Members ECS always sends -------------------------------------------------------------------
# (shape, member, source). The member is present whenever a structure of that shape is: lists
# even when empty, numbers even when 0, booleans even when false. "CLI examples" are the AWS CLI's
# documented outputs (aws-cli awscli/examples/ecs/*.rst); "examples-1.json" is botocore's
# data/ecs/2014-11-13/examples-1.json. Only members present in every full example output of the
# shape are listed; members seen in some examples only are not required (see the report).
ALWAYS_PRESENT = [
    # Task definitions.
    ("TaskDefinition", "volumes", "examples-1.json DescribeTaskDefinition, RegisterTaskDefinition; CLI examples "
     "describe-task-definition.rst, register-task-definition.rst, delete-task-definitions.rst; ECS-SEMANTICS.md"),
    ("TaskDefinition", "placementConstraints", "CLI examples describe-task-definition.rst, "
     "register-task-definition.rst (delete-task-definitions.rst omits it); ECS-SEMANTICS.md (the issue)"),
    ("TaskDefinition", "compatibilities", "CLI examples describe-task-definition.rst, register-task-definition.rst, "
     "delete-task-definitions.rst (3 of 3)"),
    ("TaskDefinition", "revision", "examples-1.json DescribeTaskDefinition, RegisterTaskDefinition"),
    ("ContainerDefinition", "portMappings", "examples-1.json DescribeTaskDefinition (both containers), "
     "RegisterTaskDefinition; CLI examples (4 of 4)"),
    ("ContainerDefinition", "environment", "examples-1.json DescribeTaskDefinition, RegisterTaskDefinition; CLI "
     "examples (4 of 4)"),
    ("ContainerDefinition", "mountPoints", "examples-1.json DescribeTaskDefinition, RegisterTaskDefinition; CLI "
     "examples (4 of 4)"),
    ("ContainerDefinition", "volumesFrom", "examples-1.json DescribeTaskDefinition, RegisterTaskDefinition; CLI "
     "examples (4 of 4)"),
    ("ContainerDefinition", "cpu", "examples-1.json; CLI examples (4 of 4); ECS-SEMANTICS.md: cpu 0 when unset"),
    ("ContainerDefinition", "essential", "examples-1.json DescribeTaskDefinition, RegisterTaskDefinition; CLI "
     "examples (4 of 4)"),
    # Tasks.
    ("Task", "attachments", "CLI examples describe-tasks.rst, run-task.rst, start-task.rst, stop-task.rst (8 of 8)"),
    ("Task", "containers", "examples-1.json DescribeTasks, RunTask; CLI examples (8 of 8)"),
    ("Task", "overrides", "examples-1.json DescribeTasks, RunTask; CLI examples (8 of 8)"),
    ("TaskOverride", "containerOverrides", "examples-1.json DescribeTasks, RunTask (one entry per container, "
     "name only); CLI examples (8 of 8)"),
    ("Container", "networkInterfaces", "CLI examples describe-tasks.rst, run-task.rst, start-task.rst (7 of 7)"),
    # Container instances.
    ("ContainerInstance", "registeredResources", "examples-1.json DescribeContainerInstances; CLI examples (3 of 3)"),
    ("ContainerInstance", "remainingResources", "examples-1.json DescribeContainerInstances; CLI examples (3 of 3)"),
    ("ContainerInstance", "agentConnected", "examples-1.json DescribeContainerInstances; CLI examples (3 of 3)"),
    ("ContainerInstance", "runningTasksCount", "examples-1.json DescribeContainerInstances; CLI examples (3 of 3)"),
    ("ContainerInstance", "pendingTasksCount", "examples-1.json DescribeContainerInstances; CLI examples (3 of 3)"),
    ("Resource", "integerValue", "examples-1.json DescribeContainerInstances (0 for STRINGSET); CLI examples "
     "(22 of 22)"),
    ("Resource", "longValue", "examples-1.json DescribeContainerInstances (0); CLI examples (22 of 22)"),
    ("Resource", "doubleValue", "examples-1.json DescribeContainerInstances (0.0); CLI examples (22 of 22)"),
    # Clusters.
    ("Cluster", "registeredContainerInstancesCount", "examples-1.json CreateCluster, DeleteCluster (0); CLI "
     "examples (9 of 9)"),
    ("Cluster", "runningTasksCount", "examples-1.json CreateCluster, DeleteCluster (0); CLI examples (9 of 9)"),
    ("Cluster", "pendingTasksCount", "examples-1.json CreateCluster, DeleteCluster (0); CLI examples (9 of 9)"),
    ("Cluster", "activeServicesCount", "examples-1.json CreateCluster, DeleteCluster (0); CLI examples (9 of 9)"),
    ("Cluster", "statistics", "CLI examples create-cluster.rst (3 of 3), describe-clusters.rst example 2, "
     "update-cluster-settings.rst, put-cluster-capacity-providers.rst: always []; only describe-clusters.rst "
     "example 1, an abbreviated early output, lacks it"),
    ("Cluster", "tags", "CLI examples create-cluster.rst, describe-clusters.rst example 2, "
     "update-cluster-settings.rst, put-cluster-capacity-providers.rst: [] without tags"),
    # Services.
    ("Service", "loadBalancers", "examples-1.json CreateService, DescribeServices; CLI examples (9 of 9); the issue"),
    # These three: 7 of the 9 CLI example services; the two without are the 2016 outputs of
    # describe-services.rst and create-service.rst example 1, which predate the members.
    ("Service", "serviceRegistries", "CLI examples create-service.rst, update-service.rst; the issue"),
    ("Service", "placementConstraints", "CLI examples create-service.rst, update-service.rst; the issue"),
    ("Service", "placementStrategy", "CLI examples create-service.rst, update-service.rst; the issue"),
    ("Service", "events", "examples-1.json CreateService, DescribeServices ([] when none); CLI examples (9 of 9)"),
    ("Service", "deployments", "examples-1.json CreateService, DescribeServices; CLI examples (9 of 9)"),
    ("Service", "desiredCount", "examples-1.json CreateService, DescribeServices; CLI examples (9 of 9)"),
    ("Service", "runningCount", "examples-1.json CreateService (0); CLI examples (9 of 9)"),
    ("Service", "pendingCount", "examples-1.json CreateService (0); CLI examples (9 of 9)"),
    ("Deployment", "desiredCount", "examples-1.json CreateService (0 on the ACTIVE deployment); CLI examples"),
    ("Deployment", "pendingCount", "examples-1.json CreateService, DescribeServices (0); CLI examples (9 of 9)"),
    ("Deployment", "runningCount", "examples-1.json CreateService, DescribeServices (0); CLI examples (9 of 9)"),
    ("Deployment", "createdAt", "examples-1.json CreateService, DescribeServices; CLI examples (9 of 9)"),
    ("Deployment", "updatedAt", "examples-1.json CreateService, DescribeServices; CLI examples (9 of 9)"),
    ("Attachment", "details", "CLI examples create-cluster.rst, describe-tasks.rst, run-task.rst (18 of 18)"),
    # Capacity providers.
    ("CapacityProvider", "tags", "CLI examples describe-capacity-providers.rst, delete-capacity-provider.rst "
     "(6 of 6): [] without tags"),
]
ALWAYS = {}
for _shape, _member, _source in ALWAYS_PRESENT:
    # The table's own consistency: each row names a member of the model.
    assert _member in MODEL._shape_resolver.get_shape_by_name(_shape).members, (_shape, _member)
    ALWAYS.setdefault(_shape, []).append((_member, _source))

# Members of real ECS that Debian's botocore (1.29, the SDK of scripts/install-deps.sh) predates:
# declared by later ECS models (all of them by botocore 1.43.11's). Accepted, unchecked, when the
# running model does not declare them; a newer model checks them like any other member. Berth's own
# extensions are not here: members no ECS model declares must not reach the AWS door.
NEWER_ECS_MEMBERS = {
    ("TaskDefinition", "deleteRequestedAt"), ("TaskDefinition", "enableFaultInjection"),
    ("Task", "fargateEphemeralStorage"), ("TaskSet", "fargateEphemeralStorage"),
    ("ContainerDefinition", "restartPolicy"), ("ContainerDefinition", "versionConsistency"),
    ("ContainerDefinition", "credentialSpecs"), ("PortMapping", "containerPortRange"),
    ("Volume", "s3filesVolumeConfiguration"), ("Volume", "configuredAtLaunch"),
    ("InstanceHealthCheckResult", "statusReason"), ("NetworkBinding", "containerPortRange"),
    ("NetworkBinding", "hostPortRange"), ("LoadBalancer", "advancedConfiguration"),
    ("DeploymentConfiguration", "alarms"), ("DeploymentConfiguration", "strategy"),
    ("DeploymentConfiguration", "bakeTimeInMinutes"), ("DeploymentConfiguration", "lifecycleHooks"),
    ("DeploymentConfiguration", "linearConfiguration"), ("DeploymentConfiguration", "canaryConfiguration"),
    ("Service", "currentServiceDeployment"), ("Service", "currentServiceRevisions"),
    ("Service", "availabilityZoneRebalancing"), ("Service", "resourceManagementType"),
    ("Deployment", "volumeConfigurations"), ("Deployment", "fargateEphemeralStorage"),
    ("Deployment", "vpcLatticeConfigurations"), ("AutoScalingGroupProvider", "managedDraining"),
    ("CapacityProvider", "cluster"), ("CapacityProvider", "managedInstancesProvider"), ("CapacityProvider", "type"),
    ("Setting", "type"), ("ClusterConfiguration", "managedStorageConfiguration"),
    ("ServiceConnectConfiguration", "accessLogConfiguration"), ("ServiceConnectService", "timeout"),
    ("ServiceConnectService", "tls"), ("ServiceConnectClientAlias", "testTrafficRules"),
}

# Exception names any operation may answer (AWS "Common Errors" of JSON services); the cases below
# expect operation-specific names anyway.
COMMON_ERRORS = {"AccessDeniedException", "ThrottlingException", "ServiceUnavailableException",
                 "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
                 "MissingAuthenticationTokenException", "SerializationException", "UnknownOperationException"}

failures = []
sources_cited = set()
checked_ok = set()
checked_err = set()
raw = {}


def fail(action, path, message):
    line = f"FAIL {action} {path}: {message}"
    if line in failures:
        return
    failures.append(line)
    print(line, flush=True)


def on_response(response_dict=None, **kwargs):
    if response_dict is not None:
        raw["status"] = response_dict.get("status_code")
        raw["body"] = response_dict.get("body")


ecs.meta.events.register("response-received.ecs.*", on_response)


def type_name(value):
    return "null" if value is None else type(value).__name__


def validate(action, shape, value, path):
    """The raw JSON `value` against `shape`; failures name the member path."""
    t = shape.type_name
    if value is None:
        fail(action, path, f"expected {t} ({shape.name}), got null")
        return
    if t == "structure":
        if not isinstance(value, dict):
            fail(action, path, f"expected structure {shape.name}, got {type_name(value)} {json.dumps(value)[:80]}")
            return
        for key, member_value in value.items():
            if key not in shape.members:
                if (shape.name, key) not in NEWER_ECS_MEMBERS:
                    fail(action, f"{path}.{key}", f"member not declared by {shape.name} in the model, got "
                         f"{json.dumps(member_value)[:80]}")
                continue
            validate(action, shape.members[key], member_value, f"{path}.{key}")
        for member, source in ALWAYS.get(shape.name, []):
            if member not in value:
                kind = shape.members[member].type_name
                want = "[]" if kind == "list" else ("0" if kind in ("integer", "long", "double") else kind)
                cited = "" if (shape.name, member) in sources_cited else f"; source: {source}"
                sources_cited.add((shape.name, member))
                fail(action, f"{path}.{member}", f"expected present ({want} when empty/unset{cited}), got absent")
    elif t == "list":
        if not isinstance(value, list):
            fail(action, path, f"expected list {shape.name}, got {type_name(value)} {json.dumps(value)[:80]}")
            return
        for i, item in enumerate(value):
            validate(action, shape.member, item, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, dict):
            fail(action, path, f"expected map {shape.name}, got {type_name(value)}")
            return
        for k, v in value.items():
            validate(action, shape.value, v, f"{path}[{k!r}]")
    elif t == "string":
        if not isinstance(value, str):
            fail(action, path, f"expected string ({shape.name}), got {type_name(value)} {json.dumps(value)[:80]}")
        elif shape.enum and value not in shape.enum:
            fail(action, path, f"expected one of {shape.name}'s enum {shape.enum}, got {value!r}")
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            fail(action, path, f"expected {t} ({shape.name}), got {type_name(value)} {json.dumps(value)[:80]}")
        elif t == "integer" and not -2**31 <= value < 2**31:
            fail(action, path, f"expected a 32-bit integer ({shape.name}), got {value}")
    elif t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(action, path, f"expected {t} ({shape.name}), got {type_name(value)} {json.dumps(value)[:80]}")
    elif t == "boolean":
        if not isinstance(value, bool):
            fail(action, path, f"expected boolean ({shape.name}), got {type_name(value)} {json.dumps(value)[:80]}")
    elif t == "timestamp":
        # AWS JSON 1.1: epoch seconds, a JSON number.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(action, path, f"expected timestamp as epoch seconds ({shape.name}), got {type_name(value)} "
                 f"{json.dumps(value)[:80]}")
    elif t == "blob":
        if not isinstance(value, str):
            fail(action, path, f"expected blob (base64 string), got {type_name(value)}")
    else:
        fail(action, path, f"shape type {t} not handled by this check")


def ok(action, **params):
    """Calls `action`, which must succeed; its raw JSON body, checked against the model ({} if the
    call failed)."""
    raw.clear()
    method = getattr(ecs, botocore.xform_name(action))
    try:
        method(**params)
    except ClientError as e:
        fail(action, "(call)", f"expected success, got {e.response['Error'].get('Code')}: "
             f"{e.response['Error'].get('Message')} (request {json.dumps(params, default=str)[:200]})")
        return {}
    except Exception as e:  # a parse error of botocore's own counts too
        fail(action, "(call)", f"expected success, got {type(e).__name__}: {e}")
        return {}
    checked_ok.add(action)
    try:
        doc = json.loads(raw.get("body") or b"{}")
    except ValueError as e:
        fail(action, "(body)", f"expected JSON, got {raw.get('body')[:200]!r}: {e}")
        return {}
    output = MODEL.operation_model(action).output_shape
    if output is None:
        if doc != {}:
            fail(action, "(body)", f"expected {{}} (the operation has no output shape), got {json.dumps(doc)[:200]}")
        return doc
    validate(action, output, doc, action)
    tags_included = "TAGS" in params.get("include", [])
    for name, member in output.members.items():
        if member.type_name != "list":
            continue
        if name == "tags" and not tags_included:
            # A response's tags come only when asked with include=["TAGS"] (the API reference of
            # DescribeTaskDefinition; the CLI's register-task-definition.rst and
            # describe-task-definition.rst outputs have none), and then even when empty, or when the
            # request gave some (RegisterTaskDefinition answers the tags it registered).
            if "tags" in doc and not params.get("tags") and action != "ListTagsForResource":
                fail(action, f"{action}.tags", f"expected absent without include=['TAGS'], got {doc['tags']}")
            continue
        if name not in doc:
            fail(action, f"{action}.{name}", "expected present (top-level lists of a response are always sent, "
                 "[] when empty: docs/aws-compat.md; examples-1.json Describe*/RunTask failures: []), got absent")
    return doc


def err(action, expected, **params):
    """Calls `action`, which must fail with the exception `expected` (a name, or a set of names the
    model allows and ECS's documentation does not settle); the error's name is checked against the
    model. The error code, or None."""
    raw.clear()
    allowed = {expected} if isinstance(expected, str) else set(expected)
    declared = {s.name for s in MODEL.operation_model(action).error_shapes}
    # The case's own consistency: what it expects is declared by the model (of a set, the names
    # this model version declares).
    allowed = {name for name in allowed if name in declared or name in COMMON_ERRORS}
    assert allowed, f"{action}: test expects {expected}, none declared by the model ({sorted(declared)})"
    method = getattr(ecs, botocore.xform_name(action))
    try:
        method(**params)
    except ClientError as e:
        checked_err.add(action)
        code = e.response["Error"].get("Code")
        message = e.response["Error"].get("Message") or ""
        check_error_code(action, code, declared)
        if code not in allowed:
            fail(action, "(error)", f"expected {' or '.join(sorted(allowed))}, got {code}: {message} "
                 f"(request {json.dumps(params, default=str)[:200]})")
        if not message:
            fail(action, "(error).message", f"expected a message, got none ({code})")
        return code
    except ParamValidationError as e:
        fail(action, "(call)", f"test bug: botocore refused the request client-side: {e}")
        return None
    fail(action, "(error)", f"expected {' or '.join(sorted(allowed))}, got success "
         f"(request {json.dumps(params, default=str)[:200]})")
    return None


def check_error_code(action, code, declared):
    shape_names = set(MODEL.shape_names)
    body = raw.get("body") or b""
    try:
        doc = json.loads(body)
        wire = doc.get("__type", "")
    except ValueError:
        fail(action, "(error body)", f"expected JSON with __type, got {body[:200]!r}")
        return
    if wire.split("#")[-1] != code:
        fail(action, "(error).__type", f"expected {code}, got {wire!r}")
    if code in COMMON_ERRORS:
        return
    if code not in shape_names or not MODEL._shape_resolver.get_shape_by_name(code).metadata.get("exception"):
        fail(action, "(error)", f"expected an exception shape of botocore's model, got {code}")
    elif code not in declared:
        fail(action, "(error)", f"expected one of the operation's declared errors {sorted(declared)}, got {code}")


def served_actions():
    text = open(API_H).read()
    block = text[text.index("#define BERTH_API_ACTIONS"):]
    block = block[:block.index("\n\n")]
    return re.findall(r"X\(\w+, (\w+)\)", block)


def arn_of(kind, name):
    return f"arn:aws:ecs:{REGION}:000000000000:{kind}/{name}"


MISSING = "no-such-cluster-conformance"
TD = {"family": "conf-web",
      "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64,
                                "portMappings": [{"containerPort": 80, "protocol": "tcp"}]}]}

# --- Clusters --------------------------------------------------------------------------------------
ok("ListClusters")
err("ListClusters", "InvalidParameterException", maxResults=0)
cluster = ok("CreateCluster", clusterName="conf", tags=[{"key": "team", "value": "blue"}]).get("cluster", {})
ok("CreateCluster", clusterName="conf-plain")
err("CreateCluster", "InvalidParameterException", clusterName="bad name!")
described = ok("DescribeClusters", clusters=["conf", "conf-plain", MISSING])
if not described.get("failures") or described["failures"][0].get("reason") != "MISSING":
    fail("DescribeClusters", "DescribeClusters.failures", f"expected one failure with reason MISSING, got "
         f"{described.get('failures')}")
ok("DescribeClusters", clusters=["conf"], include=["TAGS", "SETTINGS", "STATISTICS", "ATTACHMENTS"])
err("DescribeClusters", "InvalidParameterException", clusters=["conf"], include=["BOGUS"])
ok("UpdateClusterSettings", cluster="conf", settings=[{"name": "containerInsights", "value": "enabled"}])
err("UpdateClusterSettings", "ClusterNotFoundException", cluster=MISSING,
    settings=[{"name": "containerInsights", "value": "enabled"}])

# --- Capacity providers (a cluster of their own) -----------------------------------------------------
asg = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/conf-hosts"
ok("CreateCluster", clusterName="conf-cp")
ok("CreateCapacityProvider", name="conf-cp1", autoScalingGroupProvider={"autoScalingGroupArn": asg})
err("CreateCapacityProvider", "InvalidParameterException", name="ecs-reserved",
    autoScalingGroupProvider={"autoScalingGroupArn": asg})
ok("UpdateCapacityProvider", name="conf-cp1",
   autoScalingGroupProvider={"managedScaling": {"status": "ENABLED", "targetCapacity": 90}})
err("UpdateCapacityProvider", {"ClientException", "InvalidParameterException"}, name="conf-no-such-provider",
    autoScalingGroupProvider={"managedScaling": {"status": "ENABLED", "targetCapacity": 90}})
ok("DescribeCapacityProviders")
ok("DescribeCapacityProviders", capacityProviders=["conf-cp1", "FARGATE", "conf-no-such-provider"], include=["TAGS"])
err("DescribeCapacityProviders", "InvalidParameterException", include=["BOGUS"])
ok("PutClusterCapacityProviders", cluster="conf-cp", capacityProviders=["conf-cp1"],
   defaultCapacityProviderStrategy=[{"capacityProvider": "conf-cp1", "weight": 1, "base": 0}])
err("PutClusterCapacityProviders", "ClusterNotFoundException", cluster=MISSING, capacityProviders=["conf-cp1"],
    defaultCapacityProviderStrategy=[])
# In use by conf-cp: refused, with an error DeleteCapacityProvider declares.
err("DeleteCapacityProvider", {"ClientException", "InvalidParameterException", "UpdateInProgressException"},
    capacityProvider="conf-cp1")
ok("PutClusterCapacityProviders", cluster="conf-cp", capacityProviders=[], defaultCapacityProviderStrategy=[])
ok("DeleteCapacityProvider", capacityProvider="conf-cp1")

# --- Task definitions --------------------------------------------------------------------------------
td1 = ok("RegisterTaskDefinition", tags=[{"key": "team", "value": "blue"}], **TD).get("taskDefinition", {})
ok("RegisterTaskDefinition", **dict(TD, containerDefinitions=[dict(TD["containerDefinitions"][0], cpu=10)]))
ok("RegisterTaskDefinition", **dict(TD, family="conf-webx"))
# Task-definition validation answers ClientException (ECS-SEMANTICS.md "Errors").
err("RegisterTaskDefinition", "ClientException",
    **dict(TD, containerDefinitions=[dict(TD["containerDefinitions"][0], memory=4)]))
err("RegisterTaskDefinition", "ClientException", **dict(TD, networkMode="bogus"))
d = ok("DescribeTaskDefinition", taskDefinition="conf-web:1")
if d.get("taskDefinition", {}).get("containerDefinitions", [{}])[0].get("cpu") != 0:
    fail("DescribeTaskDefinition", "DescribeTaskDefinition.taskDefinition.containerDefinitions[0].cpu",
         f"expected 0 (cpu not given), got {d.get('taskDefinition', {}).get('containerDefinitions', [{}])[0].get('cpu')}")
if "tags" in d and d["tags"]:
    fail("DescribeTaskDefinition", "DescribeTaskDefinition.tags", f"expected [] without include TAGS, got {d['tags']}")
d = ok("DescribeTaskDefinition", taskDefinition="conf-web:1", include=["TAGS"])
if d.get("tags") != [{"key": "team", "value": "blue"}]:
    fail("DescribeTaskDefinition", "DescribeTaskDefinition.tags", f"expected the registered tags with include TAGS, "
         f"got {d.get('tags')}")
err("DescribeTaskDefinition", "ClientException", taskDefinition="conf-no-such-family")
# familyPrefix of ListTaskDefinitions is the full family name; ListTaskDefinitionFamilies' is a prefix.
listed = ok("ListTaskDefinitions", familyPrefix="conf-web").get("taskDefinitionArns", [])
want = [arn_of("task-definition", "conf-web:1"), arn_of("task-definition", "conf-web:2")]
if listed != want:
    fail("ListTaskDefinitions", "ListTaskDefinitions.taskDefinitionArns",
         f"expected {want} (familyPrefix is the exact family; ECS-SEMANTICS.md), got {listed}")
err("ListTaskDefinitions", "InvalidParameterException", status="BOGUS")
families = ok("ListTaskDefinitionFamilies", familyPrefix="conf-w").get("families", [])
if families != ["conf-web", "conf-webx"]:
    fail("ListTaskDefinitionFamilies", "ListTaskDefinitionFamilies.families",
         f"expected ['conf-web', 'conf-webx'] (a real prefix), got {families}")
err("ListTaskDefinitionFamilies", "InvalidParameterException", status="BOGUS")
dereg = ok("DeregisterTaskDefinition", taskDefinition="conf-web:1").get("taskDefinition", {})
if dereg.get("status") != "INACTIVE":
    fail("DeregisterTaskDefinition", "DeregisterTaskDefinition.taskDefinition.status",
         f"expected INACTIVE, got {dereg.get('status')}")
err("DeregisterTaskDefinition", "ClientException", taskDefinition="conf-web:99")

# --- Container instances (registered through the API, as the ECS agent does) ------------------------
resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
             {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
             {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375"]}]
inst = ok("RegisterContainerInstance", cluster="conf", totalResources=resources,
          attributes=[{"name": "ecs.availability-zone", "value": "az-1"}],
          versionInfo={"agentVersion": "1.80.0", "dockerVersion": "24.0.7"}).get("containerInstance", {})
inst_arn = inst.get("containerInstanceArn", "")
inst_id = inst_arn.rsplit("/", 1)[-1]
# totalResources is optional in the model (the ECS agent sends it; ECS does not require it).
bare = ok("RegisterContainerInstance", cluster="conf").get("containerInstance", {})
err("RegisterContainerInstance", {"ClientException", "InvalidParameterException"}, cluster="conf",
    totalResources=[{"name": "CPU", "type": "BOGUS", "integerValue": 1}])
d = ok("DescribeContainerInstances", cluster="conf", containerInstances=[inst_arn, "0123456789abcdef0123456789abcdef"])
if not d.get("failures"):
    fail("DescribeContainerInstances", "DescribeContainerInstances.failures",
         f"expected a MISSING failure for the unknown id, got {d.get('failures')}")
ok("DescribeContainerInstances", cluster="conf", containerInstances=[inst_arn], include=["TAGS"])
err("DescribeContainerInstances", "ClusterNotFoundException", cluster=MISSING, containerInstances=[inst_id])
ok("ListContainerInstances", cluster="conf", filter="attribute:ecs.availability-zone == az-1")
err("ListContainerInstances", "InvalidParameterException", cluster="conf", filter="attribute:x ==== (")
ok("UpdateContainerInstancesState", cluster="conf", containerInstances=[inst_arn], status="DRAINING")
ok("UpdateContainerInstancesState", cluster="conf", containerInstances=[inst_arn], status="ACTIVE")
err("UpdateContainerInstancesState", "InvalidParameterException", cluster="conf", containerInstances=[inst_arn],
    status="BOGUS")
attribute = {"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": inst_arn}
ok("PutAttributes", cluster="conf", attributes=[attribute])
err("PutAttributes", "TargetNotFoundException", cluster="conf",
    attributes=[dict(attribute, targetId=arn_of("container-instance", "conf/0123456789abcdef0123456789abcdef"))])
ok("ListAttributes", cluster="conf", targetType="container-instance", attributeName="stack")
err("ListAttributes", "InvalidParameterException", cluster="conf", targetType="BOGUS")
ok("DeleteAttributes", cluster="conf", attributes=[attribute])
err("DeleteAttributes", "TargetNotFoundException", cluster="conf",
    attributes=[dict(attribute, targetId=arn_of("container-instance", "conf/0123456789abcdef0123456789abcdef"))])

# --- Tasks (on the sim agent of `default`) -----------------------------------------------------------
ran = ok("RunTask", taskDefinition="conf-web:2", startedBy="conformance", tags=[{"key": "run", "value": "1"}])
task_arn = (ran.get("tasks") or [{}])[0].get("taskArn", "")
task_id = task_arn.rsplit("/", 1)[-1] or "0123456789abcdef0123456789abcdef"
# startedBy is free text up to 128 characters (the model: String; ECS-SEMANTICS.md), spaces too.
spaced = ok("RunTask", taskDefinition="conf-web:2", startedBy="conformance suite")
spaced_arn = (spaced.get("tasks") or [{}])[0].get("taskArn", "")
err("RunTask", "ClusterNotFoundException", cluster=MISSING, taskDefinition="conf-web:2")
err("RunTask", {"ClientException", "InvalidParameterException"}, taskDefinition="conf-web:1")  # INACTIVE
started = ok("StartTask", taskDefinition="conf-web:2", containerInstances=[AGENT_INSTANCE])
err("StartTask", "ClusterNotFoundException", cluster=MISSING, taskDefinition="conf-web:2",
    containerInstances=[AGENT_INSTANCE.rsplit("/", 1)[-1]])
task = {}
deadline = time.monotonic() + 60
while time.monotonic() < deadline and task_arn:
    task = (ecs.describe_tasks(tasks=[task_arn])["tasks"] or [{}])[0]
    if task.get("lastStatus") == "RUNNING":
        break
    time.sleep(0.2)
if task.get("lastStatus") != "RUNNING":
    fail("DescribeTasks", "tasks[0].lastStatus", f"expected RUNNING within 60 s (sim agent), got {task.get('lastStatus')}")
d = ok("DescribeTasks", tasks=[task_arn, "0123456789abcdef0123456789abcdef"])
for i, t in enumerate(d.get("tasks", [])):
    if "tags" in t:  # the issue: tags only when asked for
        fail("DescribeTasks", f"DescribeTasks.tasks[{i}].tags", f"expected absent without include TAGS, got {t['tags']}")
if not d.get("failures"):
    fail("DescribeTasks", "DescribeTasks.failures", f"expected a MISSING failure, got {d.get('failures')}")
d = ok("DescribeTasks", tasks=[task_arn], include=["TAGS"])
for i, t in enumerate(d.get("tasks", [])):
    if t.get("tags") != [{"key": "run", "value": "1"}]:
        fail("DescribeTasks", f"DescribeTasks.tasks[{i}].tags", f"expected the task's tags with include TAGS, got "
             f"{t.get('tags', 'absent')}")
started_arn = (started.get("tasks") or [{}])[0].get("taskArn", "")
d = ok("DescribeTasks", tasks=[started_arn], include=["TAGS"])
for i, t in enumerate(d.get("tasks", [])):
    if t.get("tags") != []:
        fail("DescribeTasks", f"DescribeTasks.tasks[{i}].tags", f"expected [] with include TAGS on an untagged task, "
             f"got {t.get('tags', 'absent')}")
err("DescribeTasks", "ClusterNotFoundException", cluster=MISSING, tasks=[task_id])
listed = ok("ListTasks", startedBy="conformance").get("taskArns", [])
if listed != [task_arn]:
    fail("ListTasks", "ListTasks.taskArns", f"expected ['{task_arn}'] for startedBy 'conformance', got {listed}")
if spaced_arn:
    listed = ok("ListTasks", startedBy="conformance suite").get("taskArns", [])
    if listed != [spaced_arn]:
        fail("ListTasks", "ListTasks.taskArns", f"expected ['{spaced_arn}'] for startedBy 'conformance suite', "
             f"got {listed}")
err("ListTasks", "ClusterNotFoundException", cluster=MISSING)
ok("StopTask", task=started_arn, reason="conformance")
err("StopTask", "ClusterNotFoundException", cluster=MISSING, task=task_id)

# --- Services ----------------------------------------------------------------------------------------
svc = ok("CreateService", serviceName="conf-svc", taskDefinition="conf-web:2", desiredCount=1,
         tags=[{"key": "team", "value": "blue"}]).get("service", {})
err("CreateService", "InvalidParameterException", serviceName="conf-bad", taskDefinition="conf-web:2", desiredCount=-1)
ok("UpdateService", service="conf-svc", desiredCount=1, forceNewDeployment=True)
err("UpdateService", "ServiceNotFoundException", service="conf-no-such-service", desiredCount=1)
d = ok("DescribeServices", services=["conf-svc", "conf-no-such-service"], include=["TAGS"])
if not d.get("failures"):
    fail("DescribeServices", "DescribeServices.failures", f"expected a MISSING failure, got {d.get('failures')}")
err("DescribeServices", "ClusterNotFoundException", cluster=MISSING, services=["conf-svc"])
ok("ListServices")
err("ListServices", "ClusterNotFoundException", cluster=MISSING)
svc_task = ""
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not svc_task:
    arns = ecs.list_tasks(serviceName="conf-svc")["taskArns"]
    svc_task = arns[0] if arns else ""
    if not svc_task:
        time.sleep(0.2)
if not svc_task:
    fail("ListTasks", "ListTasks.taskArns", "expected a task of service conf-svc within 60 s, got none")
ok("UpdateTaskProtection", cluster="default", tasks=[svc_task], protectionEnabled=True, expiresInMinutes=60)
err("UpdateTaskProtection", "InvalidParameterException", cluster="default", tasks=[svc_task], protectionEnabled=True,
    expiresInMinutes=0)
ok("GetTaskProtection", cluster="default", tasks=[svc_task])
err("GetTaskProtection", "ClusterNotFoundException", cluster=MISSING, tasks=[svc_task.rsplit("/", 1)[-1]])

# --- Tags ----------------------------------------------------------------------------------------------
cluster_arn = cluster.get("clusterArn", arn_of("cluster", "conf"))
ok("TagResource", resourceArn=cluster_arn, tags=[{"key": "env", "value": "test"}])
err("TagResource", "InvalidParameterException", resourceArn="not-an-arn", tags=[{"key": "env", "value": "test"}])
tags = ok("ListTagsForResource", resourceArn=cluster_arn).get("tags", [])
if sorted((t.get("key"), t.get("value")) for t in tags) != [("env", "test"), ("team", "blue")]:
    fail("ListTagsForResource", "ListTagsForResource.tags", f"expected env=test and team=blue, got {tags}")
err("ListTagsForResource", "InvalidParameterException", resourceArn="not-an-arn")
ok("UntagResource", resourceArn=cluster_arn, tagKeys=["env"])
err("UntagResource", "InvalidParameterException", resourceArn="not-an-arn", tagKeys=["env"])

# --- Deletions -----------------------------------------------------------------------------------------
err("DeleteCluster", "ClusterContainsContainerInstancesException", cluster="conf")
err("DeleteService", "InvalidParameterException", service="conf-svc")  # desiredCount 1 without force
ok("DeleteService", service="conf-svc", force=True)
err("DeleteService", "ServiceNotFoundException", service="conf-no-such-service")
ok("DeregisterContainerInstance", cluster="conf", containerInstance=inst_arn, force=True)
if bare.get("containerInstanceArn"):
    ok("DeregisterContainerInstance", cluster="conf", containerInstance=bare["containerInstanceArn"], force=True)
err("DeregisterContainerInstance", "ClusterNotFoundException", cluster=MISSING, containerInstance=inst_id)
ok("DeleteCluster", cluster="conf-plain")
err("DeleteCluster", "ClusterNotFoundException", cluster=MISSING)

# --- ECS actions Berth does not serve: UnsupportedFeatureException -------------------------------------


def minimal(shape):
    """A value botocore's client-side validation accepts for `shape`."""
    t = shape.type_name
    if t == "structure":
        return {name: minimal(shape.members[name]) for name in shape.required_members}
    if t == "list":
        return [minimal(shape.member) for _ in range(max(1, shape.metadata.get("min", 1)))]
    if t == "map":
        return {}
    if t == "string":
        return shape.enum[0] if shape.enum else "x" * max(1, shape.metadata.get("min", 1))
    if t in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if t in ("double", "float"):
        return 1.0
    if t == "boolean":
        return False
    if t == "timestamp":
        return 0
    if t == "blob":
        return b"x"
    raise AssertionError(t)


served = served_actions()
unserved = sorted(set(MODEL.operation_names) - set(served))
for action in unserved:
    shape = MODEL.operation_model(action).input_shape
    params = minimal(shape) if shape is not None else {}
    raw.clear()
    try:
        getattr(ecs, botocore.xform_name(action))(**params)
        fail(action, "(error)", "expected UnsupportedFeatureException (an ECS action Berth does not serve), got success")
    except ClientError as e:
        code = e.response["Error"].get("Code")
        if code != "UnsupportedFeatureException":
            fail(action, "(error)", f"expected UnsupportedFeatureException (an ECS action Berth does not serve; "
                 f"docs/aws-compat.md), got {code}: {e.response['Error'].get('Message')}")
    except ParamValidationError as e:
        fail(action, "(call)", f"test bug: botocore refused the minimal request client-side: {e}")

# --- Coverage: every served action the model knows, once successful and once failing ---------------
extensions = [a for a in served if a not in MODEL.operation_names]
for action in served:
    if action in extensions:
        continue
    if action not in checked_ok:
        fail(action, "(coverage)", "expected a successful call checked against the model, got none")
    if action not in checked_err:
        fail(action, "(coverage)", "expected a provoked error checked against the model, got none")

print(f"botocore {botocore.__version__}: {len(checked_ok)} actions answered and checked, "
      f"{len(checked_err)} provoked errors checked, {len(unserved)} unserved ECS actions checked; "
      f"Berth extensions not in the model (not checked): {', '.join(extensions)}")
print(f"\n{len(failures)} failures")
sys.exit(1 if failures else 0)
