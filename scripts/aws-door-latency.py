#!/usr/bin/python3
"""Latency of one boto3 client against berthd's AWS JSON door, on its kept-alive connection.

Usage: scripts/aws-door-latency.py ENDPOINT_URL [--calls N] [--action list_clusters|describe_clusters]

One boto3 ECS client makes N calls one after the other (after a warm-up), as an SDK user's
program does; botocore keeps the connection alive between them. Prints one JSON object:
{"calls", "p50_ms", "p90_ms", "p99_ms", "max_ms", "connections"} where `connections` counts the
TCP connections the client opened (1 when every call reused the first). Works against a berthd
without access keys (any signature is accepted then). docs/benchmarks.md has the figures.
"""
import argparse
import json
import time

import boto3
import botocore.config
import urllib3.connection


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--action", default="list_clusters", choices=["list_clusters", "describe_clusters"])
    args = parser.parse_args()

    opened = [0]
    original = urllib3.connection.HTTPConnection._new_conn

    def counting(self):
        opened[0] += 1
        return original(self)

    urllib3.connection.HTTPConnection._new_conn = counting
    client = boto3.client("ecs", endpoint_url=args.endpoint, region_name="local",
                          aws_access_key_id="AKIDBENCHMARK00000000", aws_secret_access_key="benchmark-secret-000000",
                          config=botocore.config.Config(retries={"max_attempts": 1}))
    call = getattr(client, args.action)
    for _ in range(args.warmup):
        call()
    samples = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()

    def pct(p):
        return round(samples[min(len(samples) - 1, int(p * len(samples)))], 3)

    print(json.dumps({"action": args.action, "calls": args.calls, "p50_ms": pct(0.50), "p90_ms": pct(0.90),
                      "p99_ms": pct(0.99), "max_ms": round(samples[-1], 3), "connections": opened[0]}))


if __name__ == "__main__":
    main()
