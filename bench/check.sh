#!/usr/bin/env bash
# Benchmark `sluice check` on generated 1,000- and 10,000-node projects, and `dbt parse`
# on the equivalent dbt projects for comparison. Results go to BENCHMARKS.md by hand;
# speed goals are checked here, never in timed tests.
#
#   bench/check.sh                     # build, generate, verify, time (dbt too if it installs)
#   SIZES="1000" RUNS=5 bench/check.sh # other sizes / run counts
#   DBT=0 bench/check.sh               # skip dbt
#   REV=HEAD bench/check.sh            # benchmark a commit (git archive) instead of the working tree
#
# Environment: REV (unset: the working tree), SIZES (default "1000 10000"), SEED (1), WARMUP (3), RUNS (10),
# DBT (auto|0|1; auto = try to install it into bench/out/.venv, skip if that fails),
# DBT_WARMUP (1), DBT_RUNS (3), CARGO_TARGET_DIR (default ~/.cache/sluice-bench-target).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
SIZES=${SIZES:-"1000 10000"}
SEED=${SEED:-1}
WARMUP=${WARMUP:-3}
RUNS=${RUNS:-10}
DBT=${DBT:-auto}
DBT_WARMUP=${DBT_WARMUP:-1}
DBT_RUNS=${DBT_RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sluice-bench-target}
SLUICE=$CARGO_TARGET_DIR/release/sluice
VENV=$OUT/.venv
# dbt-core 1.12 needs a wheel downloaded from GitHub at install time; 1.11 is pure PyPI.
DBT_PKGS=("dbt-core==1.11.*" "dbt-duckdb==1.11.*")

die() { echo "bench/check.sh: FAIL: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*"; }

command -v python3 >/dev/null || die "python3 is required"
if ! command -v hyperfine >/dev/null; then
    say "installing hyperfine"
    if ! apt-get install -y hyperfine >/dev/null 2>&1; then
        apt-get update >/dev/null && apt-get install -y hyperfine >/dev/null || die "cannot install hyperfine"
    fi
fi

mkdir -p "$OUT"
SRC=$ROOT
if [ -n "${REV:-}" ]; then
    # Benchmark a committed revision: export it (read-only git archive) and build that.
    sha=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || die "unknown revision $REV"
    SRC=$OUT/src-${sha:0:12}
    if [ ! -f "$SRC/Cargo.toml" ]; then
        rm -rf "$SRC" && mkdir -p "$SRC"
        git -C "$ROOT" archive "$sha" | tar -x -C "$SRC"
    fi
    say "building sluice at $sha (exported to $SRC; release, target dir $CARGO_TARGET_DIR)"
else
    dirty=$(git -C "$ROOT" status --porcelain -- compiler cli Cargo.toml Cargo.lock 2>/dev/null | wc -l)
    say "building sluice from the working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
        "($dirty uncommitted changes in compiler/, cli/, Cargo.*; release, target dir $CARGO_TARGET_DIR)"
fi
(cd "$SRC" && nice -n 10 cargo build --release -p sluice-cli)
[ -x "$SLUICE" ] || die "no binary at $SLUICE"

# ---------------------------------------------------------------- generate and verify
for n in $SIZES; do
    say "generating $n nodes (seed $SEED)"
    python3 "$ROOT/bench/gen_project.py" --nodes "$n" --seed "$SEED" \
        --out "$OUT/sluice_$n" --dbt "$OUT/dbt_$n" >/dev/null
    python3 - "$OUT/sluice_$n/MANIFEST.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"  {m['nodes']} nodes ({m['sql_nodes']} SQL, {m['python_nodes']} Python) in {m['layers']} layers, "
      f"{m['edges']} edges, {m['sources']} sources, {m['schemas']} schema classes")
print(f"  {m['files']['py']} .py files ({m['lines']['py']} lines), "
      f"{m['files']['sql']} .sql files ({m['lines']['sql']} lines), {m['bytes']} bytes")
EOF

    say "verifying: sluice check $OUT/sluice_$n must exit 0 with 0 errors, 0 warnings"
    set +e
    "$SLUICE" check --format json "$OUT/sluice_$n" >"$OUT/check_$n.json" 2>"$OUT/check_$n.stderr"
    rc=$?
    set -e
    python3 - "$OUT/check_$n.json" "$OUT/sluice_$n/MANIFEST.json" "$rc" <<'EOF' || die "sluice check on $OUT/sluice_$n is not clean (see above, $OUT/check_$n.json)"
import json, sys
report_path, manifest_path, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = json.load(open(manifest_path))
try:
    r = json.load(open(report_path))
except ValueError as e:
    sys.exit(f"  no JSON report (exit {rc}): {e}")
s = r["summary"]
print(f"  exit {rc}; summary {s}")
for d in r["diagnostics"][:20]:
    print(f"  {d['severity']} {d['code']} {d['file']}:{d['line']}:{d['column']}: {d['message']}")
ok = rc == 0 and s["errors"] == 0 and s["warnings"] == 0 and s["nodes"] == m["nodes"] and s["edges"] == m["edges"]
if not ok:
    sys.exit(f"  expected exit 0, 0 errors, 0 warnings, {m['nodes']} nodes, {m['edges']} edges")
EOF
done

# ---------------------------------------------------------------- time sluice check
say "timing sluice check (hyperfine, $WARMUP warmup, $RUNS runs)"
cmds=()
for n in $SIZES; do cmds+=(-n "sluice check ${n}" "$SLUICE check $OUT/sluice_$n"); done
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" \
    --export-markdown "$OUT/sluice_check.md" --export-json "$OUT/sluice_check.json" "${cmds[@]}"

# ---------------------------------------------------------------- dbt parse
rm -f "$OUT/dbt_parse.md" "$OUT/dbt_parse.json"
if [ "$DBT" != 0 ]; then
    if [ ! -x "$VENV/bin/dbt" ]; then
        say "installing ${DBT_PKGS[*]} into $VENV"
        if ! { python3 -m venv "$VENV" && nice -n 10 "$VENV/bin/pip" install -q "${DBT_PKGS[@]}"; }; then
            [ "$DBT" = 1 ] && die "cannot install dbt"
            echo "  dbt could not be installed: skipping the dbt comparison"
        fi
    fi
fi
if [ "$DBT" != 0 ] && [ -x "$VENV/bin/dbt" ]; then
    export DBT_SEND_ANONYMOUS_USAGE_STATS=false DO_NOT_TRACK=1
    "$VENV/bin/dbt" --version 2>/dev/null | sed -n '1,3p' || true
    cmds=()
    for n in $SIZES; do
        d=$OUT/dbt_$n
        say "verifying: dbt parse $d"
        "$VENV/bin/dbt" parse --no-partial-parse --no-version-check --project-dir "$d" --profiles-dir "$d" \
            >"$OUT/dbt_parse_$n.log" 2>&1 || { tail -20 "$OUT/dbt_parse_$n.log"; die "dbt parse failed on $d"; }
        python3 - "$d/target/manifest.json" "$OUT/sluice_$n/MANIFEST.json" <<'EOF' || die "dbt manifest of $d does not match the sluice project"
import json, sys
man = json.load(open(sys.argv[1]))
m = json.load(open(sys.argv[2]))
models = [x for x in man["nodes"].values() if x["resource_type"] == "model"]
edges = sum(len(x["depends_on"]["nodes"]) for x in models)
enforced = sum(1 for x in models if x["contract"]["enforced"])
print(f"  {len(models)} models ({enforced} with enforced contracts), {len(man['sources'])} sources, {edges} edges")
if len(models) != m["nodes"] or edges != m["edges"] or len(man["sources"]) != m["sources"]:
    sys.exit(f"  expected {m['nodes']} models, {m['sources']} sources, {m['edges']} edges")
EOF
        cmds+=(-n "dbt parse ${n}" "$VENV/bin/dbt parse --no-partial-parse --no-version-check --project-dir $d --profiles-dir $d")
    done
    say "timing dbt parse --no-partial-parse (hyperfine, $DBT_WARMUP warmup, $DBT_RUNS runs)"
    hyperfine -N --warmup "$DBT_WARMUP" --runs "$DBT_RUNS" \
        --export-markdown "$OUT/dbt_parse.md" --export-json "$OUT/dbt_parse.json" "${cmds[@]}"
fi

say "summary"
cat "$OUT/sluice_check.md"
[ -f "$OUT/dbt_parse.md" ] && [ "$DBT" != 0 ] && cat "$OUT/dbt_parse.md"
echo
# Goals (issue 2, BENCHMARKS.md): 1,000 nodes < 1 s and 10,000 nodes < 10 s of wall time.
# Reported here, never asserted in tests.
python3 - "$OUT/sluice_check.json" <<'EOF'
import json, sys
GOALS = {1000: 1.0, 10000: 10.0}
for r in json.load(open(sys.argv[1]))["results"]:
    goal = GOALS.get(int(r["command"].split()[-1]))
    verdict = "no goal" if goal is None else (
        f"goal < {goal:g} s: " + ("within goal" if r["mean"] < goal else "OVER GOAL"))
    print(f"{r['command']}: mean {r['mean']:.3f} s ± {r['stddev']:.3f} s, min {r['min']:.3f} s "
          f"(user {r['user']:.3f} s, sys {r['system']:.3f} s); {verdict}")
EOF
