#!/usr/bin/env python3
"""The task-definition corpus through the real AWS CLI and boto3, round-tripped as deploy tools do
(run by aws_conformance_test.cc).

Usage: aws_corpus_roundtrip_check.py ENDPOINT_URL REGION AWS_CLI CORPUS_DIR WORK_DIR

For every CORPUS_DIR/*.json:
  1. The file becomes a RegisterTaskDefinition request as `berth register-task-definition
     --cli-input-json` makes it (docs/cli.md): describe-task-definition output is unwrapped (a
     sibling "tags" moves inside) and the output-only members are dropped. Null members are dropped
     too: botocore (boto3 and the CLI alike) refuses null values client-side, whatever the server.
  2. It is registered with boto3.
  3a. Registered: `aws ecs describe-task-definition` of that revision, then what deploy tools do
     with its output (jq '.taskDefinition | del(.taskDefinitionArn, .revision, .status,
     .requiresAttributes, .compatibilities, .registeredAt, .registeredBy, .deregisteredAt)'), fed
     to `aws ecs register-task-definition --cli-input-json file://...`. It must register, and the
     new revision must equal the described one except taskDefinitionArn, revision and registeredAt.
     The describe output must carry volumes and placementConstraints (a jq template that picks
     them, `{..., volumes, placementConstraints}`, otherwise writes null, which the CLI refuses).
  3b. Refused: `aws ecs register-task-definition --cli-input-json` of the same request must be
     refused too, with the same exception and message; a refusal by the server is a
     ClientException (task-definition validation, ECS-SEMANTICS.md "Errors") whose message names a
     member of the request.

Prints one line per file and per failure ("FAIL <file>: ..."); exits 1 if anything failed.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError, ParamValidationError

ENDPOINT, REGION, AWS, CORPUS, WORK = sys.argv[1:6]
# What NormalizeTaskDefinitionJson (src/common/task_definition_json.cc) drops.
OUTPUT_ONLY = ["taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
               "registeredBy", "deregisteredAt", "deleteRequestedAt"]
# What the deploy tools' jq deletes from describe-task-definition output (the issue).
JQ_DELETED = ["taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
              "registeredBy", "deregisteredAt"]
# Differ between two registrations of the same definition.
PER_REVISION = {"taskDefinitionArn", "revision", "registeredAt"}

ecs = boto3.client("ecs", endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id="AKIDCONFORMANCE000000",
                   aws_secret_access_key="conformance-secret",
                   config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))
HOME = os.path.join(WORK, "home")
os.makedirs(HOME, exist_ok=True)
CLI_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": HOME, "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIDCONFORMANCE000000",
           "AWS_SECRET_ACCESS_KEY": "conformance-secret", "LC_ALL": "C.UTF-8"}


def normalize(doc):
    """The RegisterTaskDefinition request `berth register-task-definition --cli-input-json` makes."""
    if "taskDefinition" in doc:
        inner = dict(doc["taskDefinition"])
        if doc.get("tags") and not inner.get("tags"):
            inner["tags"] = doc["tags"]
        doc = inner
    return {k: v for k, v in doc.items() if k not in OUTPUT_ONLY}


def drop_nulls(value):
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


def cli(args, name):
    """Runs `aws ecs ARGS`; (exit code, stdout, stderr)."""
    p = subprocess.run([AWS, "ecs", "--endpoint-url", ENDPOINT, "--region", REGION, "--output", "json"] + args,
                       env=CLI_ENV, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def error_of_cli(stderr):
    """(exception name, message) of the CLI's "An error occurred (X) when calling ...: message"."""
    m = re.search(r"An error occurred \((\w+)\) when calling the \w+ operation(?: \(reached max retries: \d+\))?: (.*)",
                  stderr, re.S)
    return (m.group(1), m.group(2).strip()) if m else (None, stderr.strip())


def check_file(name):
    out = []  # failure lines

    def fail(message):
        out.append(f"FAIL {name}: {message}")

    with open(os.path.join(CORPUS, name)) as f:
        request = drop_nulls(normalize(json.load(f)))
    request_path = os.path.join(WORK, name)
    with open(request_path, "w") as f:
        json.dump(request, f)

    try:
        first = ecs.register_task_definition(**request)["taskDefinition"]
    except ParamValidationError as e:
        # Refused client-side by botocore (e.g. a member the model does not have): the CLI, the same
        # botocore, must refuse it too and name the same parameter.
        code, _, stderr = cli(["register-task-definition", "--cli-input-json", "file://" + request_path], name)
        boto_params = set(re.findall(r'"([A-Za-z]+)"', str(e)))
        if code == 0:
            fail(f"boto3 refused it client-side ({e}) but the aws CLI registered it")
        elif not boto_params or not all(p in stderr for p in boto_params):
            fail(f"boto3 refused it client-side naming {sorted(boto_params)}, the aws CLI with: {stderr.strip()[:300]}")
        return f"{name}: refused client-side by botocore, both times: {str(e).splitlines()[-1][:160]}", out
    except ClientError as e:
        error = e.response["Error"]
        code, _, stderr = cli(["register-task-definition", "--cli-input-json", "file://" + request_path], name)
        cli_code, cli_message = error_of_cli(stderr)
        if error.get("Code") != "ClientException":
            fail(f"RegisterTaskDefinition refused it with {error.get('Code')}, expected ClientException "
                 f"(task-definition validation): {error.get('Message')}")
        members = [k for k in request] + ["containerDefinitions[", "volumes["]
        if not error.get("Message") or not any(m in error["Message"] for m in members):
            fail(f"the refusal does not name a member of the request: {error.get('Message')!r}")
        if code == 0:
            fail(f"boto3's registration was refused ({error.get('Code')}) but the aws CLI's registered")
        elif (cli_code, cli_message) != (error.get("Code"), error.get("Message")):
            fail(f"boto3 got ({error.get('Code')}) {error.get('Message')!r}; the aws CLI got ({cli_code}) "
                 f"{cli_message!r}")
        return f"{name}: refused, both times: ({error.get('Code')}) {error.get('Message')}", out

    # Registered: describe with the CLI, jq as deploy tools do, register with the CLI.
    ref = f"{first['family']}:{first['revision']}"
    code, stdout, stderr = cli(["describe-task-definition", "--task-definition", ref], name)
    if code != 0:
        fail(f"aws ecs describe-task-definition {ref}: exit {code}: {stderr.strip()[:300]}")
        return f"{name}: registered, describe failed", out
    described = json.loads(stdout)["taskDefinition"]
    for member in ("volumes", "placementConstraints"):
        if not isinstance(described.get(member), list):
            fail(f"describe-task-definition: taskDefinition.{member} expected a list ([] when empty; a jq template "
                 f"picking it writes null otherwise), got {json.dumps(described.get(member, 'absent'))}")
    if not all(isinstance(described.get(m), list) for m in ("volumes", "placementConstraints")):
        # What then happens to a deploy tool that picks members with jq
        # ('.taskDefinition | {family, containerDefinitions, volumes, placementConstraints, ...}').
        picked = {k: v for k, v in described.items() if k not in JQ_DELETED}
        picked.update({m: described.get(m) for m in ("volumes", "placementConstraints")})
        picked_path = os.path.join(WORK, "picked-" + name)
        with open(picked_path, "w") as f:
            json.dump(picked, f)
        code, _, stderr = cli(["register-task-definition", "--cli-input-json", "file://" + picked_path], name)
        if code != 0:
            fail(f"so a jq template picking volumes and placementConstraints writes null, and aws ecs "
                 f"register-task-definition refuses it: exit {code}: {' '.join(stderr.split())[:300]}")
    for i, c in enumerate(described.get("containerDefinitions", [])):
        for member in ("portMappings", "environment", "mountPoints", "volumesFrom"):
            if not isinstance(c.get(member), list):
                fail(f"describe-task-definition: taskDefinition.containerDefinitions[{i}].{member} expected a list, "
                     f"got {json.dumps(c.get(member, 'absent'))}")
    again = {k: v for k, v in described.items() if k not in JQ_DELETED}
    again_path = os.path.join(WORK, "again-" + name)
    with open(again_path, "w") as f:
        json.dump(again, f)
    code, stdout, stderr = cli(["register-task-definition", "--cli-input-json", "file://" + again_path], name)
    if code != 0:
        fail(f"describe-task-definition output fed back to aws ecs register-task-definition --cli-input-json was "
             f"refused: exit {code}: {stderr.strip()[:400]}")
        return f"{name}: registered; round trip refused", out
    second = json.loads(stdout)["taskDefinition"]
    if second.get("revision") != first["revision"] + 1 and second.get("family") == first["family"]:
        # Files sharing a family run one after another (see main), so the next revision is ours.
        fail(f"round trip registered revision {second.get('revision')}, expected {first['revision'] + 1}")
    a = {k: v for k, v in described.items() if k not in PER_REVISION}
    b = {k: v for k, v in second.items() if k not in PER_REVISION}
    if a != b:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        for k in keys:
            fail(f"round trip changed taskDefinition.{k}: first {json.dumps(a.get(k, 'absent'))[:300]}, "
                 f"then {json.dumps(b.get(k, 'absent'))[:300]}")
    return f"{name}: registered {ref}, round trip registered revision {second.get('revision')}", out


def main():
    files = sorted(f for f in os.listdir(CORPUS) if f.endswith(".json"))
    if not files:
        print(f"FAIL no corpus files in {CORPUS}")
        return 1
    # Files of one family go to one worker, in order, so revisions are predictable.
    by_family = {}
    for name in files:
        with open(os.path.join(CORPUS, name)) as f:
            doc = json.load(f)
        family = (doc.get("taskDefinition") or doc).get("family") if isinstance(doc, dict) else None
        by_family.setdefault(family, []).append(name)

    def run_group(group):
        return [check_file(name) for name in group]

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        for results in pool.map(run_group, by_family.values()):
            for line, fails in results:
                print(line, flush=True)
                for f in fails:
                    print(f, flush=True)
                failed += len(fails)
    print(f"{len(files)} files\n{failed} failures")
    return 1 if failed else 0


sys.exit(main())
