#!/usr/bin/env bash
# Runs berth-bench's scale scenarios (S1-S5, docs/benchmarks.md "Scale") scaled down so the whole
# set takes a few minutes: 100,000 tasks on 1,000 simulated instances. Installs the Debian
# packages (idempotent) and builds first. Each scenario starts its own berthd in a temporary
# directory; its JSON report goes to $OUT_DIR/<scenario>.json and its summary to the terminal.
#   scripts/bench.sh                    # or: make bench
#   SCALE=full scripts/bench.sh         # the issue's sizes: 1,000,000 tasks on 10,000 instances
#   BUILD_DIR=out OUT_DIR=/tmp/b scripts/bench.sh
#   SETTLE=0 SCALE=full scripts/bench.sh   # no pause between scenarios (default: 60 s at full size)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench-results}
SCALE=${SCALE:-small}
# Seconds between scenarios. At full size each scenario's two processes free about 2.5 GB when they
# exit, and a scenario started right after measured far worse tails on the benchmark VM (which
# hands freed memory back to its host) than the same scenario run alone: docs/benchmarks.md.
if [[ $SCALE == full ]]; then SETTLE=${SETTLE:-60}; else SETTLE=${SETTLE:-0}; fi

scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target berthd berth-bench
mkdir -p "$OUT_DIR"

if [[ $SCALE == full ]]; then
  SIZE=(--instances 10000 --tasks 1000000)
  # S2 offers half of the rate S1 placed tasks at (its report), for 60 s: at 20,000 tasks/s and
  # more that outgrows a fleet of S1's tasks, so S2's are half their size (204 an instance, 2.04M
  # in all: enough while S1 places under 68,000 tasks/s; past that, berth-bench refuses to start
  # S2, saying the fleet is too small, and the tasks must shrink again).
  LATENCY=(--instances 10000 --rate-of-launch "$OUT_DIR/launch.json" --fraction 0.5 --duration 60s
    --task-cpu 20 --task-memory 40)
  CHURN=(--instances 10000 --tasks 1000000 --stop-rate 1000 --start-rate 1000 --duration 120s)
else
  SIZE=(--instances 1000 --tasks 100000)
  # The fleet holds 102 of S1's tasks an instance: the churn must fit beside what runs, and S2's
  # paced load (half of S1's rate) is of tasks small enough for 1,024 an instance.
  LATENCY=(--instances 1000 --rate-of-launch "$OUT_DIR/launch.json" --fraction 0.5 --duration 20s
    --task-cpu 4 --task-memory 8)
  CHURN=(--instances 1000 --tasks 90000 --stop-rate 1000 --start-rate 1000 --duration 30s)
fi

BENCH="$BUILD_DIR/src/bench/berth-bench"
BERTHD="$BUILD_DIR/src/controlplane/berthd"
status=0
first=1
run() {
  local scenario=$1
  shift
  if [[ $first == 0 && $SETTLE != 0 ]]; then
    echo "(pausing ${SETTLE} s before the next scenario)"
    sleep "$SETTLE"
  fi
  first=0
  echo "== $scenario $*"
  if ! "$BENCH" "$scenario" --spawn-berthd "$BERTHD" "$@" >"$OUT_DIR/$scenario.json"; then
    echo "berth-bench $scenario failed (report: $OUT_DIR/$scenario.json)" >&2
    status=1
  fi
}
run launch "${SIZE[@]}"
run latency "${LATENCY[@]}"
run restart "${SIZE[@]}"
run footprint "${SIZE[@]}"
run churn "${CHURN[@]}"
echo "reports in $OUT_DIR"
exit $status
