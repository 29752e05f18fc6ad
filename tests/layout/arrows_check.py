#!/usr/bin/env python3
"""Checks the dependency arrows of DESIGN.md ("Layout and dependency direction") on the code.

Two views of the same rule, each from what the build really uses:
- includes: every `#include "..."` line of src/<module>/ and include/berth/<module>/ that names
  src/<other>/ or berth/<other>/ (berth/v1/ is the generated protobuf code, module `proto`);
- links: the link closure of every target defined under src/<module>/, read from the link graph
  that tests/layout/CMakeLists.txt writes at configure time (one line per target: name, type,
  directory, the libraries it links).
A module may not reach a module that FORBIDDEN names for it. Besides, the public headers
(include/berth/) include no gRPC or RocksDB header.

Exit status 0 when every arrow holds; otherwise 1, with one line per violation naming the file
and line (or the target and the chain of links) and the rule.
"""
import argparse
import os
import re
import sys

MODULES = ["common", "placement", "store", "scheduler", "logs", "controlplane", "agent", "cli", "bench", "proto"]
CLIENTS = {"agent", "cli", "bench"}  # binaries' modules: nothing else depends on them

# module -> {forbidden module: the rule, as DESIGN.md states it}
FORBIDDEN = {
    "common": {m: "common is the base: it depends on no other module (protobuf only for ECS JSON)"
               for m in ["placement", "store", "scheduler", "logs", "controlplane"]},
    "placement": {m: "placement depends on common only" for m in MODULES if m not in ("common", "placement")},
    "store": {m: "store knows bytes, keys and records, not scheduling"
              for m in ["scheduler", "placement", "controlplane"]},
    "scheduler": {"controlplane": "the scheduler is business logic: it never reaches into the control plane",
                  "store": "the scheduler does no I/O"},
    "agent": {m: "the agent never links the control plane, store, scheduler or placement"
              for m in ["controlplane", "store", "scheduler", "placement"]},
    "cli": {m: "the CLI is a client: it links nothing of the control plane, store, scheduler or placement"
            for m in ["controlplane", "store", "scheduler", "placement"]},
    "bench": {m: "berth-bench drives berthd over the wire: never the control plane, store or placement"
              for m in ["controlplane", "store", "placement"]},
    "logs": {m: "logs keep container output apart from control-plane state: never the scheduler, placement or control plane"
             for m in ["scheduler", "placement", "controlplane"]},
    "controlplane": {},
    "proto": {},
}
for module, rules in FORBIDDEN.items():
    for client in CLIENTS - {module}:
        rules.setdefault(client, f"{client} is a binary's module: nothing else depends on it")

# What a rule does not cover, with the reason: berth-placement-bench is the placement library's
# microbenchmark (Google Benchmark, placement alone), built from src/bench but not part of
# berth-bench.
EXCEPTIONS_FILES = {("src/bench/placement_bench.cc", "placement")}
EXCEPTIONS_TARGETS = {("berth-placement-bench", "placement")}

PUBLIC_HEADER_BANNED = re.compile(r"^\s*#\s*include\s*[<\"](grpcpp/|grpc\+\+/|grpc/|rocksdb/)")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SOURCE_SUFFIXES = (".h", ".cc", ".hpp", ".cpp", ".inc")


def module_of_include(path):
    parts = path.split("/")
    if len(parts) < 3:
        return None
    if parts[0] == "src" and parts[1] in MODULES:
        return parts[1]
    if parts[0] == "berth":
        if parts[1] == "v1":
            return "proto"
        if parts[1] in MODULES:
            return parts[1]
    return None


def check_includes(source_dir):
    violations = []
    for module in MODULES:
        for root in (os.path.join(source_dir, "src", module), os.path.join(source_dir, "include", "berth", module)):
            for dirpath, _, files in os.walk(root):
                for name in sorted(files):
                    if not name.endswith(SOURCE_SUFFIXES):
                        continue
                    full = os.path.join(dirpath, name)
                    rel = os.path.relpath(full, source_dir)
                    public = rel.startswith("include/")
                    with open(full, encoding="utf-8", errors="replace") as f:
                        for number, line in enumerate(f, 1):
                            if public and PUBLIC_HEADER_BANNED.match(line):
                                violations.append(f"{rel}:{number}: a public header includes {line.strip()}: "
                                                  "include/berth/ holds no gRPC or RocksDB headers")
                            m = INCLUDE.match(line)
                            if not m:
                                continue
                            other = module_of_include(m.group(1))
                            rule = FORBIDDEN[module].get(other) if other else None
                            if rule and (rel, other) not in EXCEPTIONS_FILES:
                                violations.append(f"{rel}:{number}: {module} includes {m.group(1)} ({other}): {rule}")
    return violations


GENEX_WRAPPER = re.compile(r"^\$<(?:LINK_ONLY|BUILD_INTERFACE):(.*)>$")


def read_link_graph(path):
    """name -> (type, directory relative to the source dir, [linked items])"""
    graph = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4:
                continue
            name, kind, directory, links = fields
            items = []
            for item in links.split(";"):
                m = GENEX_WRAPPER.match(item)
                if m:
                    item = m.group(1)
                if item and not item.startswith("::@") and not item.startswith("$<"):
                    items.append(item)
            graph[name] = (kind, directory, items)
    return graph


def module_of_directory(directory):
    parts = directory.split("/")
    if parts[0] == "src" and len(parts) > 1 and parts[1] in MODULES:
        return parts[1]
    if parts[0] == "proto":
        return "proto"
    return None


def check_links(graph):
    violations = []
    for name in sorted(graph):
        kind, directory, _ = graph[name]
        module = module_of_directory(directory)
        if module is None:
            continue
        # Breadth-first over what `name` links, keeping the chain that reached each target.
        chain = {name: [name]}
        queue = [name]
        while queue:
            current = queue.pop(0)
            for dep in graph[current][2]:
                if dep in graph and dep not in chain:
                    chain[dep] = chain[current] + [dep]
                    queue.append(dep)
        for dep, path in sorted(chain.items()):
            other = module_of_directory(graph[dep][1])
            rule = FORBIDDEN[module].get(other) if other else None
            if rule and (name, other) not in EXCEPTIONS_TARGETS:
                violations.append(f"target {name} ({module}) links {dep} ({other}) through "
                                  f"{' -> '.join(path)}: {rule}")
    return violations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--link-graph", required=True, help="written by tests/layout/CMakeLists.txt")
    args = parser.parse_args()
    if not os.path.exists(args.link_graph):
        print(f"arrows_check: no link graph at {args.link_graph}; re-run cmake", file=sys.stderr)
        return 1
    graph = read_link_graph(args.link_graph)
    module_targets = [n for n, (_, d, _) in graph.items() if module_of_directory(d)]
    if len(module_targets) < len(MODULES):
        print(f"arrows_check: the link graph names only {sorted(module_targets)}; is it complete?", file=sys.stderr)
        return 1
    violations = check_includes(args.source_dir) + check_links(graph)
    for v in violations:
        print(v)
    if violations:
        print(f"arrows_check: {len(violations)} arrow(s) against DESIGN.md", file=sys.stderr)
        return 1
    print(f"arrows_check: every include and link of {len(MODULES)} modules ({len(module_targets)} targets) "
          "follows DESIGN.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
