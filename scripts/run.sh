#!/usr/bin/env bash
# Sets up everything and runs Berth on this machine: berthd with its embedded RocksDB store, and a
# local berth-agent running tasks as real Docker containers. Installs the Debian packages and sets
# up a Docker engine, a local registry and a busybox image (scripts/docker-env.sh; all idempotent),
# builds, then runs both in the foreground until Ctrl-C (which stops berthd and the agent; running
# containers stay and are adopted by the next run).
#   scripts/run.sh                      # data in ./berth-data, gRPC 127.0.0.1:7480, HTTP 127.0.0.1:7481
#   BERTH_DATA_DIR=/var/lib/berth scripts/run.sh --log-format json
#   BERTH_AGENT=0 scripts/run.sh        # berthd only
# Extra arguments are passed to berthd.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
DATA_DIR=${BERTH_DATA_DIR:-$PWD/berth-data}
RUN_AGENT=${BERTH_AGENT:-1}

scripts/install-deps.sh
if [ "$RUN_AGENT" = 1 ]; then scripts/docker-env.sh; fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target berthd berth-agent berth
mkdir -p "$DATA_DIR"

"$BUILD_DIR/src/controlplane/berthd" --data-dir "$DATA_DIR" \
  --grpc-listen 127.0.0.1:7480 --http-listen 127.0.0.1:7481 --ready-file "$DATA_DIR/berthd.ready" "$@" &
BERTHD=$!
AGENT=""
cleanup() {
  [ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null || true
  kill "$BERTHD" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ "$RUN_AGENT" = 1 ]; then
  for _ in $(seq 300); do [ -s "$DATA_DIR/berthd.ready" ] && break; sleep 0.1; done
  "$BUILD_DIR/src/agent/berth-agent" --endpoint 127.0.0.1:7480 --cluster default --runtime docker \
    --data-dir "$DATA_DIR/agent" --availability-zone local-1a \
    --pause-image 127.0.0.1:5000/berth/busybox:latest &
  AGENT=$!
fi
wait -n
