#!/usr/bin/env bash
# `--engine ballista://`: what a 1 scheduler + 2 executor cluster on this one machine
# costs against the local engine (overhead, not speed-up: it is one machine).
# Usage: bench/cluster_overhead.sh [SLUICE_BINARY] [SCALE] [RUNS]
# Times (wall, mean of RUNS) TPC-H Q1 and Q5 with `sluice query`, and `sluice run
# examples/tpch` onto a fresh branch each time, locally and on the cluster.
set -euo pipefail
sluice="$(realpath "${1:-target/release/sluice}")"
scale="${2:-1}"
runs="${3:-3}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
lake="$work/lake"
"$sluice" tpchgen --lake "$lake" --scale "$scale" >/dev/null

# shellcheck source=bench/lib/cluster.sh
. "$repo/bench/lib/cluster.sh"
start_cluster "$sluice" "$work"

q1="SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice * (1 - l_discount)), avg(l_discount), count(*) FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' GROUP BY l_returnflag, l_linestatus ORDER BY 1, 2"
q5="SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue FROM customer, orders, lineitem, supplier, nation, region WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey AND r_name = 'ASIA' AND o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01' GROUP BY n_name ORDER BY revenue DESC"

# mean wall seconds of RUNS runs of the command
mean() {
    local total=0
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
        t1=$(date +%s.%N)
        total=$(echo "$total + $t1 - $t0" | bc)
    done
    echo "scale=2; $total / $runs" | bc
}
# runs examples/tpch onto a fresh branch (named by the clock: `mean` runs it in a subshell)
run_on() {
    local branch="run-$(date +%s%N)"
    "$sluice" branch create "$branch" --lake "$lake" >/dev/null
    "$sluice" run "$repo/examples/tpch" --lake "$lake" --ref "$branch" "$@"
}
printf '| what | local | cluster (1+2) |\n| --- | --- | --- |\n'
printf '| Q1 | %s s | %s s |\n' "$(mean "$sluice" query "$q1" --lake "$lake")" \
    "$(mean "$sluice" query "$q1" --lake "$lake" --engine "$engine")"
printf '| Q5 | %s s | %s s |\n' "$(mean "$sluice" query "$q5" --lake "$lake")" \
    "$(mean "$sluice" query "$q5" --lake "$lake" --engine "$engine")"
printf '| run examples/tpch | %s s | %s s |\n' "$(mean run_on)" "$(mean run_on --engine "$engine")"
