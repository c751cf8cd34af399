#!/usr/bin/env python3
"""Generate a project that is wide rather than deep, for the scaling of `sluice check`.

    python3 bench/gen_wide.py --columns N --out DIR    # one schema of N columns
    python3 bench/gen_wide.py --nodes N --out DIR      # N nodes in one module

`--columns N`: schemas.py declares `Wide` with N columns of mixed types and `Narrow`
inheriting half of them (`c = Wide.c`); a source of `Wide`, a SQL node selecting every
column by name into `Wide`, a Python node taking the SQL node's output typed `Wide` and
returning it (`-> Wide`) and a Python node selecting half of the columns by name into
`Narrow`. With `--star` the SQL node is `SELECT *`; with `--no-sql` there is no SQL
node and the first Python node reads the source. `--nodes N`: one source and a chain of
N Python nodes in one file, each reading the one before. Both check with 0 errors and 0
warnings, except that a SQL node over the planning budget (`SELECT *` over 2,829
columns and more, or as many columns named) gets the warning W0005; the time should grow
linearly with N (BENCHMARKS.md).
"""

import argparse
import os

TYPES = ["int", "str", "float", "bool", "Int32", "str | None"]


def wide(n: int, out: str, star: bool, sql: bool) -> None:
    cols = [f"c{i}" for i in range(n)]
    half = cols[::2]
    lines = ["from sluice import Schema, Source", "", "", "class Wide(Schema):"]
    lines += [f"    {c}: {TYPES[i % len(TYPES)]}" for i, c in enumerate(cols)]
    lines += ["", "", "class Narrow(Schema):"]
    lines += [f"    {c} = Wide.{c}" for c in half]
    lines += ["", "", 'raw = Source(Wide, name="raw.wide")', ""]
    write(out, "schemas.py", "\n".join(lines))
    if sql:
        select = "*" if star else ",\n    ".join(cols)
        write(out, "selected.sql", f"-- selected: Wide <- raw.wide\nSELECT {select}\nFROM raw.wide\n")
    body = [
        "import polars as pl",
        "from sluice import Table",
        "from schemas import Wide, Narrow",
        "",
        "",
        'def passed(df: Wide = Table("selected")) -> Wide:'
        if sql
        else 'def passed(df: Wide = Table("raw.wide")) -> Wide:',
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
    p.add_argument("--star", action="store_true", help="the SQL node selects *")
    p.add_argument("--no-sql", action="store_true", help="no SQL node")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if (a.columns is None) == (a.nodes is None):
        p.error("give exactly one of --columns and --nodes")
    if a.columns is not None:
        wide(a.columns, a.out, a.star, not a.no_sql)
    else:
        chain(a.nodes, a.out)


if __name__ == "__main__":
    main()
