#!/usr/bin/env bash
# `sluice serve`: what the lazy Iceberg metadata costs, against what a commit costs.
# Usage: bench/iceberg_serve.sh [SLUICE_BINARY] [SCALE] [PART_ROWS]
# Builds a lake with TPC-H lineitem split into many files, then times (curl):
#   - the commit that wrote it (`tpchgen`, wall time), and a one-row append commit;
#   - the first load of lineitem (metadata made: footers read, manifests written);
#   - a second load from the same server (its memory);
#   - a load from a restarted server (files found by name, nothing rewritten);
#   - the first load after the append (one new version: one new manifest).
set -euo pipefail
sluice="${1:-target/release/sluice}"
scale="${2:-0.1}"
part_rows="${3:-6000}"
work="$(mktemp -d)"
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
lake="$work/lake"
port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port/iceberg/v1/namespaces/default/tables/lineitem"

t0=$(date +%s.%N)
"$sluice" tpchgen --lake "$lake" --scale "$scale" --tables lineitem --part-rows "$part_rows" >/dev/null
t1=$(date +%s.%N)
files=$(find "$lake/data/tables/lineitem" -name '*.parquet' | wc -l)
echo "tpchgen commit (lineitem, $files files): $(echo "$t1 - $t0" | bc) s"

start() {
    "$sluice" serve --lake "$lake" --port "$port" 2>"$work/serve.err" &
    server=$!
    for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/iceberg/v1/config" >/dev/null && return; sleep 0.1; done
    echo "server did not start"; cat "$work/serve.err"; exit 1
}
load() { curl -s -o /dev/null -w "%{time_total}" "$url"; }

start
echo "first load (metadata made): $(load) s"
echo "second load (server memory): $(load) s"
kill $server; wait $server 2>/dev/null || true
start
echo "restarted server (files found by name): $(load) s"
echo "iceberg/ holds $(find "$lake/data/iceberg" -type f | wc -l) files, $(du -sh "$lake/data/iceberg" | cut -f1)"
t0=$(date +%s.%N)
"$sluice" tpchgen --lake "$lake" --scale 0.001 --tables lineitem --part-rows 100000 --replace >/dev/null
t1=$(date +%s.%N)
echo "a further commit (lineitem replaced, SF 0.001): $(echo "$t1 - $t0" | bc) s"
echo "first load after it (one new version): $(load) s"
