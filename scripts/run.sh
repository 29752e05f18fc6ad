#!/usr/bin/env bash
# Sets up everything and runs berthd with its embedded RocksDB store in the foreground:
# installs the Debian packages (idempotent), builds, and starts the control plane on loopback.
#   scripts/run.sh                      # data in ./berth-data, gRPC 127.0.0.1:7480, HTTP 127.0.0.1:7481
#   BERTH_DATA_DIR=/var/lib/berth scripts/run.sh --log-format json
# Extra arguments are passed to berthd.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
DATA_DIR=${BERTH_DATA_DIR:-$PWD/berth-data}

scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target berthd
exec "$BUILD_DIR/src/controlplane/berthd" --data-dir "$DATA_DIR" \
  --grpc-listen 127.0.0.1:7480 --http-listen 127.0.0.1:7481 "$@"
