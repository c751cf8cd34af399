#!/usr/bin/env bash
# `sluice run examples/tpch` at a TPC-H scale factor against the same project executed
# directly (runtime/examples/run_baseline.rs: plain DataFusion for the SQL nodes, the
# same Python worker for the Python node, results written as Parquet, no branch, no
# validation, no commits). Goal (issue #5): the run within 15% of the baseline.
#
#   bench/run_vs_datafusion.sh            # scale factor 1, 5 runs each
#   SCALE=0.1 RUNS=3 bench/run_vs_datafusion.sh
#
# Environment: SCALE (1), RUNS (5), BENCH_DIR (where the lake goes; default a new
# temporary folder), CARGO_TARGET_DIR (cargo's default unless set).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCALE=${SCALE:-1}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")}
LAKE=$BENCH_DIR/lake

cargo build --release --locked -p sluice-cli -p sluice-runtime --example run_baseline
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
SLUICE=$TARGET/release/sluice

echo "== lake $LAKE, TPC-H scale factor $SCALE"
"$SLUICE" tpchgen --scale "$SCALE" --lake "$LAKE"
# Warm the Python environment and the page cache once.
"$SLUICE" run examples/tpch --lake "$LAKE" --dry-run >/dev/null

echo "== baseline: DataFusion + the Python worker, no lake"
"$TARGET/release/examples/run_baseline" examples/tpch --lake "$LAKE" --runs "$RUNS"

echo "== sluice run examples/tpch (each run publishes to main)"
times=()
for i in $(seq 1 "$RUNS"); do
    start=$(date +%s%N)
    "$SLUICE" run examples/tpch --lake "$LAKE" >/dev/null
    end=$(date +%s%N)
    t=$(python3 -c "print(f'{($end - $start) / 1e9:.3f}')")
    echo "run $i: $t s" >&2
    times+=("$t")
done
python3 - "${times[@]}" <<'PY'
import statistics, sys
ts = sorted(float(t) for t in sys.argv[1:])
print(f"sluice run examples/tpch: median {statistics.median(ts):.3f} s over {len(ts)} runs (min {ts[0]:.3f} s, max {ts[-1]:.3f} s)")
PY
"$SLUICE" runs show "$("$SLUICE" runs --limit 1 --format json --lake "$LAKE" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" --lake "$LAKE"
