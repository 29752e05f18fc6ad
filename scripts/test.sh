#!/usr/bin/env bash
# Sets up everything and runs Berth's test suite: installs the Debian packages (idempotent),
# configures and builds with warnings as errors, and runs every test with ctest.
#   scripts/test.sh            # build dir: build/
#   BUILD_DIR=out scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

scripts/install-deps.sh
# A real dockerd, the local registry and the busybox test image for the tests labelled "docker".
scripts/docker-env.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_WERROR=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
ctest -j "$JOBS" --output-on-failure --timeout 600 -LE benchmark
