#!/usr/bin/env bash
# The whole sluice story on the embedded default (a local lake: SQLite catalog +
# Parquet files in a folder), on a machine with Rust and Python 3 only:
#
#   1. build sluice;
#   2. create a fresh lake and load the TPC-H tables into `main` (tpchgen);
#   3. check and run examples/tpch (SQL + a Polars node): every output is validated
#      on a run branch and published to `main` in one merge;
#   4. print a few rows of the result;
#   5. run examples/tpch_fail, whose last node yields nulls in a non-null column:
#      the run fails, and `main` stays exactly as it was.
#
# Environment: SCALE (TPC-H scale factor, default 0.1), SLUICE (a sluice binary to use
# instead of building one), DEMO_DIR (where the lake goes; default a new temporary
# folder, kept so you can explore it afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE="${SCALE:-0.1}"
if [ -z "${SLUICE:-}" ]; then
    echo "==> building sluice (release; the first build takes a while)"
    cargo build --release --locked -p sluice-cli
    SLUICE="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/sluice"
fi
DEMO_DIR="${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sluice-demo.XXXXXX")}"
export SLUICE_LAKE="$DEMO_DIR/lake"
sluice() { "$SLUICE" "$@"; }
step() { printf '\n==> %s\n' "$*"; }

step "a new lake at $SLUICE_LAKE; loading TPC-H at scale factor $SCALE into main"
sluice tpchgen --scale "$SCALE"

step "sluice check examples/tpch"
sluice check examples/tpch

step "sluice run examples/tpch: run branch, validation, one merge into main"
sluice run examples/tpch

step "the published result (nation_revenue_share, as of main)"
sluice query "SELECT r_name, n_name, ROUND(revenue, 2) AS revenue, ROUND(share, 4) AS share, rank_in_region
              FROM nation_revenue_share WHERE rank_in_region <= 2 ORDER BY r_name, rank_in_region"
sluice log main --limit 1

step "sluice run examples/tpch_fail: its last node produces null tiers"
before="$(sluice log main --limit 1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["hash"])')"
if sluice run examples/tpch_fail; then
    echo "demo: examples/tpch_fail was expected to fail" >&2
    exit 1
fi
after="$(sluice log main --limit 1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["hash"])')"
if [ "$before" != "$after" ]; then
    echo "demo: main moved from $before to $after after a failed run" >&2
    exit 1
fi

step "main is unchanged: still at ${before:0:12}, and no table of the failed run is on it"
sluice table list
step "the failed run stays inspectable"
sluice runs --limit 2

printf '\nThe lake stays at %s; explore it with SLUICE_LAKE=%s %s ...\n' "$DEMO_DIR" "$SLUICE_LAKE" "$SLUICE"
