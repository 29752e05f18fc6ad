#!/usr/bin/env bash
# Runs berth-bench's local-Docker scenarios (docs/benchmarks.md, "Local Docker against Docker
# itself"): Berth against Docker on this machine's engine, each alternated with its counterpart in
# one run. Needs dockerd and the local registry's busybox (scripts/docker-env.sh). The swarm
# scenario initialises a single-node swarm when the engine has none and leaves it at the end.
# Each scenario starts its own berthd (temporary directory, port 0) and berth-agent; JSON reports
# go to $OUT_DIR/<scenario>.json, summaries to the terminal.
#   scripts/bench-docker.sh                  # swarm (5 pairs), dockerrun (30 runs), slowstop (10 runs)
#   PAIRS=2 RUNS=10 SLOW_RUNS=3 scripts/bench-docker.sh   # quicker
#   SCENARIOS="slowstop" scripts/bench-docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench-results}
PAIRS=${PAIRS:-5}
RUNS=${RUNS:-30}
SLOW_RUNS=${SLOW_RUNS:-10}
SCENARIOS=${SCENARIOS:-swarm dockerrun slowstop}

scripts/install-deps.sh
scripts/docker-env.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target berthd berth-agent berth berth-bench
mkdir -p "$OUT_DIR"

BENCH="$BUILD_DIR/src/bench/berth-bench"
COMMON=(--spawn-berthd "$BUILD_DIR/src/controlplane/berthd" --spawn-agent "$BUILD_DIR/src/agent/berth-agent")
status=0
for scenario in $SCENARIOS; do
  case $scenario in
    swarm) args=(--pairs "$PAIRS" --berth-cli "$BUILD_DIR/src/cli/berth") ;;
    dockerrun) args=(--runs "$RUNS") ;;
    slowstop) args=(--runs "$SLOW_RUNS") ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  echo "== $scenario ${args[*]}"
  if ! "$BENCH" "$scenario" "${COMMON[@]}" "${args[@]}" >"$OUT_DIR/$scenario.json"; then
    echo "berth-bench $scenario failed (report: $OUT_DIR/$scenario.json)" >&2
    status=1
  fi
done
echo "reports in $OUT_DIR"
exit $status
