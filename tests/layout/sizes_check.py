#!/usr/bin/env python3
"""Checks the size limits of docs/architecture.md ("Modules and dependency direction"):

- no source file (src/, include/, tests/, proto/, scripts/) over 1,000 lines;
- no function over 150 lines, outside src/bench (C++ and Python; a function's lines run from the
  line that names it to its closing brace, as universal-ctags reports them);
- no class or struct with more than 30 public methods (distinct names declared in its body, each
  entry of an X-macro list expanded there counted as one; constructors, the destructor and
  operators are not counted).

Function extents and class members come from universal-ctags (JSON output). Each offender that is
allowed for now is a line of the allow-list: `KIND SIZE PATH [NAME]` (KIND: file, function or
class). The list may only shrink: the check fails on an offender not in it, on an entry that grew,
and on an entry that is no longer an offender (remove the line). An entry that shrank is noted so
that its size can be lowered.
"""
import argparse
import json
import os
import re
import subprocess
import sys

MAX_FILE_LINES = 1000
MAX_FUNCTION_LINES = 150
MAX_PUBLIC_METHODS = 30
ROOTS = ("src", "include", "tests", "proto", "scripts")
SOURCE_SUFFIXES = (".h", ".cc", ".hpp", ".cpp", ".proto", ".py", ".sh", ".cmake")
FUNCTION_EXEMPT = ("src/bench/",)
TEST_MACRO = re.compile(r"^/\^\s*((?:TYPED_)?TEST(?:_F|_P)?\s*\([^)]*\))")


def source_files(source_dir):
    try:
        # Tracked files and new ones not yet added (but not what .gitignore names, such as build/).
        out = subprocess.run(["git", "-C", source_dir, "ls-files", "--cached", "--others", "--exclude-standard",
                              "--", *ROOTS], check=True, capture_output=True, text=True).stdout.split("\n")
        files = list({f for f in out if f})
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file under the roots
        files = []
        for root in ROOTS:
            for dirpath, _, names in os.walk(os.path.join(source_dir, root)):
                files += [os.path.relpath(os.path.join(dirpath, n), source_dir) for n in names]
    return sorted(f for f in files if (f.endswith(SOURCE_SUFFIXES) or os.path.basename(f) == "CMakeLists.txt")
                  and os.path.isfile(os.path.join(source_dir, f)))


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def scope_name(tag):
    parts = [p for p in tag.get("scope", "").split("::") if p and not p.startswith("__anon")]
    return "::".join(parts)


def run_ctags(ctags, source_dir, files):
    result = subprocess.run(
        [ctags, "--output-format=json", "--fields=+neKZa", "--kinds-C++=+p", "--languages=C++,Python",
         "--sort=no", "-f", "-", "-L", "-"],
        cwd=source_dir, input="\n".join(files), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{ctags} failed: {result.stderr.strip()}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


XMACRO_DEFINE = re.compile(r"^#\s*define\s+(\w+)\(X\)((?:.*\\\n)+.*)", re.M)
XMACRO_ENTRY = re.compile(r"\bX\((\w+)\)")


def xmacro_lists(source_dir, files):
    """X-macro lists (`#define LIST(X) X(a) X(b) ...`) by name: a class that expands one in its body
    declares a method per entry, which ctags cannot see."""
    lists = {}
    for f in files:
        with open(os.path.join(source_dir, f), encoding="utf-8", errors="replace") as fh:
            for m in XMACRO_DEFINE.finditer(fh.read()):
                lists[m.group(1)] = XMACRO_ENTRY.findall(m.group(2))
    return lists


def find_offenders(source_dir, ctags):
    """{(kind, path, name): size} of everything over its limit."""
    files = source_files(source_dir)
    offenders = {}
    for f in files:
        n = count_lines(os.path.join(source_dir, f))
        if n > MAX_FILE_LINES:
            offenders[("file", f, "")] = n
    code = [f for f in files if f.endswith((".h", ".cc", ".hpp", ".cpp", ".py"))]
    tags = run_ctags(ctags, source_dir, code)
    xmacros = xmacro_lists(source_dir, [f for f in code if f.endswith((".h", ".hpp"))])
    public_methods = {}  # (path, class) -> names
    classes = set()
    for tag in tags:
        kind, path, name = tag.get("kind"), tag.get("path"), tag.get("name", "")
        if kind in ("class", "struct"):
            classes.add((path, "::".join(p for p in (scope_name(tag), name) if p)))
        if kind in ("function", "member", "method") and not name.startswith("__anon") \
                and not path.startswith(FUNCTION_EXEMPT) and "end" in tag:
            size = tag["end"] - tag["line"] + 1
            if size > MAX_FUNCTION_LINES:
                m = TEST_MACRO.match(tag.get("pattern", ""))
                label = re.sub(r"\s+", "", m.group(1)) if m else "::".join(p for p in (scope_name(tag), name) if p)
                key = ("function", path, label)
                offenders[key] = max(size, offenders.get(key, 0))
        if kind in ("prototype", "function") and tag.get("scopeKind") in ("class", "struct") \
                and tag.get("access") == "public":
            owner = scope_name(tag)
            short = owner.split("::")[-1]
            if name in (short, f"~{short}") or name.startswith("operator"):
                continue
            names = {f"{name}:{entry}" for entry in xmacros[name]} if name in xmacros else {name}
            public_methods.setdefault((path, owner), set()).update(names)
    for (path, owner), names in public_methods.items():
        if (path, owner) in classes and len(names) > MAX_PUBLIC_METHODS:
            offenders[("class", path, owner)] = len(names)
    return offenders


def read_allowlist(path):
    allowed = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split(None, 3)
            if len(fields) < 3 or fields[0] not in ("file", "function", "class") or not fields[1].isdigit():
                raise ValueError(f"{path}:{number}: expected KIND SIZE PATH [NAME], got {line!r}")
            allowed[(fields[0], fields[2], fields[3] if len(fields) > 3 else "")] = int(fields[1])
    return allowed


def describe(key):
    kind, path, name = key
    return f"{kind} {path}" + (f" {name}" if name else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--ctags", required=True, help="universal-ctags (Debian: universal-ctags)")
    parser.add_argument("--allowlist", required=True)
    parser.add_argument("--print-offenders", action="store_true", help="print the offenders as allow-list lines")
    args = parser.parse_args()
    try:
        version = subprocess.run([args.ctags, "--version"], capture_output=True, text=True).stdout
    except OSError:
        version = ""
    if "Universal Ctags" not in version:
        print(f"sizes_check: {args.ctags or 'ctags'} is not universal-ctags (scripts/install-deps.sh installs it)",
              file=sys.stderr)
        return 1
    offenders = find_offenders(args.source_dir, args.ctags)
    if args.print_offenders:
        for key, size in sorted(offenders.items()):
            kind, path, name = key
            print(f"{kind} {size} {path}" + (f" {name}" if name else ""))
        return 0
    allowed = read_allowlist(args.allowlist)
    limits = {"file": f"{MAX_FILE_LINES} lines", "function": f"{MAX_FUNCTION_LINES} lines",
              "class": f"{MAX_PUBLIC_METHODS} public methods"}
    units = {"file": "lines", "function": "lines", "class": "public methods"}
    failures, notes = [], []
    for key, size in sorted(offenders.items()):
        if key not in allowed:
            failures.append(f"{describe(key)}: {size} {units[key[0]]}, over the limit of {limits[key[0]]}")
        elif size > allowed[key]:
            failures.append(f"{describe(key)}: grew to {size} {units[key[0]]} (allowed {allowed[key]}, and the "
                            "allow-list may only shrink)")
        elif size < allowed[key]:
            notes.append(f"{describe(key)}: down from {allowed[key]} to {size} {units[key[0]]}; lower its entry")
    for key, size in sorted(allowed.items()):
        if key not in offenders:
            failures.append(f"{describe(key)}: no longer over the limit of {limits[key[0]]}; remove it from "
                            f"{os.path.basename(args.allowlist)}")
    for line in notes:
        print(f"note: {line}")
    for line in failures:
        print(line)
    if failures:
        print(f"sizes_check: {len(failures)} problem(s)", file=sys.stderr)
        return 1
    print(f"sizes_check: within the limits but for {len(allowed)} allowed offender(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
