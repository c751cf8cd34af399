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

# Interleaved, so that both see the same machine load.
echo "== $RUNS rounds: baseline (DataFusion + the Python worker, no lake), then sluice run"
base=()
runs=()
for i in $(seq 1 "$RUNS"); do
    b=$("$TARGET/release/examples/run_baseline" examples/tpch --lake "$LAKE" --runs 1 | sed -E 's/.*median ([0-9.]+) s.*/\1/')
    start=$(date +%s%N)
    "$SLUICE" run examples/tpch --lake "$LAKE" >/dev/null
    end=$(date +%s%N)
    r=$(python3 -c "print(f'{($end - $start) / 1e9:.3f}')")
    echo "round $i: baseline $b s, sluice run $r s" >&2
    base+=("$b")
    runs+=("$r")
done
python3 - "${base[*]}" "${runs[*]}" <<'PY'
import statistics, sys
base = sorted(float(t) for t in sys.argv[1].split())
runs = sorted(float(t) for t in sys.argv[2].split())
b, r = statistics.median(base), statistics.median(runs)
print(f"baseline (execution only):        median {b:.3f} s (min {base[0]:.3f}, max {base[-1]:.3f})")
print(f"sluice run (whole process):       median {r:.3f} s (min {runs[0]:.3f}, max {runs[-1]:.3f})")
print(f"ratio {r / b:.3f} (goal: at most 1.15)")
PY
"$SLUICE" runs show "$("$SLUICE" runs --limit 1 --format json --lake "$LAKE" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" --lake "$LAKE"
