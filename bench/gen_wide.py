#!/usr/bin/env python3
"""Generate a project that is wide rather than deep, for the scaling of `sluice check`.

    python3 bench/gen_wide.py --columns N --out DIR    # one schema of N columns
    python3 bench/gen_wide.py --nodes N --out DIR      # N nodes in one module

`--columns N`: schemas.py declares `Wide` with N columns of mixed types and `Narrow`
inheriting half of them (`c = Wide.c`); a source of `Wide`, a SQL node selecting every
column by name into `Wide`, a Python node taking the SQL node's output typed `Wide` and
returning it (`-> Wide`) and a Python node selecting half of the columns by name into
`Narrow`. `--nodes N`: one source and a chain of N Python nodes in one file, each
reading the one before. Both check with 0 errors and 0 warnings; the time should grow
linearly with N (BENCHMARKS.md).
"""

import argparse
import os

TYPES = ["int", "str", "float", "bool", "Int32", "str | None"]


def wide(n: int, out: str) -> None:
    cols = [f"c{i}" for i in range(n)]
    half = cols[::2]
    lines = ["from sluice import Schema, Source", "", "", "class Wide(Schema):"]
    lines += [f"    {c}: {TYPES[i % len(TYPES)]}" for i, c in enumerate(cols)]
    lines += ["", "", "class Narrow(Schema):"]
    lines += [f"    {c} = Wide.{c}" for c in half]
    lines += ["", "", 'raw = Source(Wide, name="raw.wide")', ""]
    write(out, "schemas.py", "\n".join(lines))
    write(out, "selected.sql", "-- selected: Wide <- raw.wide\nSELECT " + ",\n    ".join(cols) + "\nFROM raw.wide\n")
    body = [
        "import polars as pl",
        "from sluice import Table",
        "from schemas import Wide, Narrow",
        "",
        "",
        'def passed(df: Wide = Table("selected")) -> Wide:',
        "    return df",
        "",
        "",
        "def narrowed(df: Wide = Table(\"passed\")) -> Narrow:",
        "    return df.select(" + ", ".join(f'pl.col("{c}")' for c in half) + ")",
        "",
    ]
    write(out, "nodes.py", "\n".join(body))


def chain(n: int, out: str) -> None:
    lines = [
        "from sluice import Schema, Source",
        "",
        "",
        "class Row(Schema):",
        "    id: int",
        "    name: str | None",
        "",
        "",
        'n0 = Source(Row, name="raw.rows")',
        "",
    ]
    for i in range(1, n + 1):
        lines += ["", f"def n{i}(df: Row = n{i - 1}) -> Row:", "    return df", ""]
    write(out, "chain.py", "\n".join(lines))


def write(out: str, name: str, text: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name), "w") as f:
        f.write(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--columns", type=int)
    p.add_argument("--nodes", type=int)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if (a.columns is None) == (a.nodes is None):
        p.error("give exactly one of --columns and --nodes")
    if a.columns is not None:
        wide(a.columns, a.out)
    else:
        chain(a.nodes, a.out)


if __name__ == "__main__":
    main()
