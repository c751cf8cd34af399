#!/usr/bin/env bash
# Where a cluster run's output path spends its time: one large result (TPC-H
# lineitem, every column) out of a 1 scheduler + 2 executor cluster on this machine,
# streamed back and dropped, streamed back and written by the lake's writer here (what
# `sluice run --engine` does), or written as Parquet by the executors and read back
# once here (the alternative). See cluster/examples/output_path.rs.
# Usage: bench/cluster_output_path.sh [SLUICE_BINARY] [OUTPUT_PATH_BINARY] [SCALE]
# (build the second with `cargo build -p sluice-cluster --example output_path`).
set -euo pipefail
sluice="$(realpath "${1:-target/release/sluice}")"
output_path="$(realpath "${2:-target/release/examples/output_path}")"
scale="${3:-1}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
lake="$work/lake"
"$sluice" tpchgen --lake "$lake" --scale "$scale" --tables lineitem >/dev/null
# shellcheck source=bench/lib/cluster.sh
. "$repo/bench/lib/cluster.sh"
start_cluster "$sluice" "$work"
"$output_path" "$lake" "$engine" lineitem
