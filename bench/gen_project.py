#!/usr/bin/env python3
"""Generate a synthetic, layered sluice project (and optionally the equivalent dbt project).

    python3 bench/gen_project.py --nodes N --out DIR [--seed S] [--dbt DBT_DIR]

The project is meant for benchmarking `sluice check` (see BENCHMARKS.md). It must check
clean: 0 errors, 0 warnings, N nodes. Layout of DIR:

    sluice.toml
    MANIFEST.json                    counts the benchmark script verifies (not read by sluice)
    schemas/__init__.py
    schemas/sources.py               source schemas and the Source(...) declarations
    schemas/layer_NN.py              output and input schemas of the nodes in layer NN
    pipelines/layer_NN/nodes_KK.py   up to 10 Python nodes per file
    pipelines/layer_NN/<node>.sql    one SQL node per file

Every node has a logical plan (inputs joined on `entity_id`, an optional filter, derived
columns or a GROUP BY aggregate, a projection); the plan is rendered as a sluice SQL node
or a polars-style Python node, and, with --dbt, as a dbt SQL model with `ref()` and
`source()` and a column contract, so `dbt parse` sees the same DAG and column lists.

Typing discipline: every column name has one global type (name -> base type, nullability),
so any schema made of existing columns is satisfied by any parent that has those columns.
A Python node's parameter annotation is its parent's output schema or an input schema
with a subset of its columns (SQL inputs have no annotation), sometimes spelled differently
(`int` vs `Int64`, `Optional[str]` vs `str | None` vs `UNION(str, None)`) or widened
(`Int32` parent column required as `int`), and output schemas sometimes inherit columns
(`amount = ParentSchema.amount`). Deterministic for a given seed (stdlib `random` only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------
# Types

# base type -> (canonical spelling, alternative equal spellings, dbt/duckdb data type)
TYPES = {
    "int": ("int", ["Int64"], "bigint"),
    "int32": ("Int32", [], "integer"),
    "float": ("float", ["Float64"], "double"),
    "float32": ("Float32", [], "float"),
    "str": ("str", ["Utf8"], "varchar"),
    "bool": ("bool", ["Bool"], "boolean"),
    "datetime": ("datetime", ["Timestamp"], "timestamp"),
    "ts_utc": ('Timestamp("ms", "UTC")', [], "timestamp with time zone"),
    "date": ("date", ["Date32"], "date"),
    "dec": ("Decimal128(18, 2)", [], "decimal(18,2)"),
}
# Lossless widenings an input schema may ask for: parent base -> required spelling.
WIDEN = {"int32": "int", "float32": "float"}
NUMERIC = {"int", "int32", "float", "float32", "dec"}

# Names each spelling needs imported: name -> module.
IMPORT_OF = {
    "datetime": "datetime",
    "date": "datetime",
    "Optional": "typing",
}
SLUICE_NAMES = {
    "Int64", "Int32", "Float64", "Float32", "Utf8", "Bool", "Timestamp", "Date32",
    "Decimal128", "UNION",
}

# The pool of source columns: (name, base, nullable). Every source has `entity_id`.
BASE_COLUMNS = [
    ("order_id", "int", False), ("customer_id", "int", False), ("account_id", "int", False),
    ("product_id", "int", False), ("store_id", "int32", False), ("region_code", "str", False),
    ("country", "str", False), ("city", "str", True), ("segment", "str", False),
    ("channel", "str", False), ("status", "str", False), ("currency", "str", False),
    ("sku", "str", False), ("category", "str", False), ("brand", "str", True),
    ("email_domain", "str", True), ("coupon_code", "str", True), ("device", "str", True),
    ("amount", "float", False), ("tax", "float", False), ("discount", "float", True),
    ("shipping_cost", "float32", False), ("weight_kg", "float32", True), ("score", "float", False),
    ("quantity", "int32", False), ("items", "int", False), ("clicks", "int", False),
    ("visits", "int32", False), ("returns", "int", True), ("age_days", "int", True),
    ("unit_price", "dec", False), ("balance", "dec", False), ("credit_limit", "dec", True),
    ("is_active", "bool", False), ("is_paid", "bool", False), ("is_test", "bool", False),
    ("has_coupon", "bool", True), ("created_at", "datetime", False),
    ("updated_at", "datetime", True), ("ordered_at", "datetime", False),
    ("shipped_at", "datetime", True), ("event_ts", "ts_utc", False),
    ("ingested_ts", "ts_utc", False), ("closed_ts", "ts_utc", True),
    ("signup_date", "date", False), ("birth_date", "date", True), ("report_date", "date", False),
    ("latitude", "float", True), ("longitude", "float", True), ("rating", "float32", False),
]

# (table name, sluice SQL name or None when it equals the variable name, dbt source group)
SOURCES = [
    ("orders", "raw.orders", "raw"),
    ("customers", "raw.customers", "raw"),
    ("products", None, "lake"),
    ("web_events", None, "lake"),
    ("payments", "raw.payments", "raw"),
    ("stores", None, "lake"),
    ("inventory", None, "lake"),
    ("support_tickets", "crm.support_tickets", "crm"),
]

NOUNS = [
    "orders", "customers", "sessions", "payments", "shipments", "inventory", "events",
    "clicks", "refunds", "invoices", "accounts", "products", "stores", "tickets", "visits",
    "carts", "returns", "ledger", "prices", "reviews",
]
SUFFIXES = [
    "clean", "enriched", "joined", "daily", "summary", "dedup", "scored", "filtered",
    "by_region", "by_segment", "rollup", "snapshot", "features", "metrics", "stats",
]


@dataclass(frozen=True)
class Col:
    name: str
    base: str
    nullable: bool


@dataclass
class SchemaDef:
    cls: str
    module: str  # e.g. "schemas.layer_03"
    cols: list  # [Col]
    spell: dict = field(default_factory=dict)  # column -> python type text
    inherit: dict = field(default_factory=dict)  # column -> SchemaDef it is inherited from

    def names(self):
        return [c.name for c in self.cols]


@dataclass
class TableDef:
    name: str  # table name sluice sees (SQL name)
    var: str  # python name for bare defaults
    out: SchemaDef
    layer: int  # -1 for sources
    is_source: bool = False
    dbt_source: tuple | None = None  # (group, table)
    noun: str = ""


@dataclass
class Input:
    table: TableDef
    schema: SchemaDef  # what the node requires of it
    param: str
    alias: str
    style: str  # "bare" | "table"
    take: list = field(default_factory=list)  # columns taken from this input


@dataclass
class Node:
    table: TableDef
    kind: str  # "sql" | "py"
    inputs: list
    # projection: list of (Col, expr) where expr is ("col", input_idx) or ("derive", op, src Col, input_idx)
    outputs: list = field(default_factory=list)
    filt: tuple | None = None  # (input_idx, Col, op)
    group: list | None = None  # group key columns (names), or None
    cte: bool = False


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.replace(".", "_").split("_"))


class Generator:
    def __init__(self, n: int, seed: int):
        self.n = n
        self.rng = random.Random(seed)
        self.universe: dict[str, Col] = {"entity_id": Col("entity_id", "int", False)}
        for name, base, nullable in BASE_COLUMNS:
            self.universe[name] = Col(name, base, nullable)
        self.derived_names = set()
        self.sources: list[TableDef] = []
        self.layers: list[list[Node]] = []
        self.schemas_by_module: dict[str, list[SchemaDef]] = {}

    # ---------------------------------------------------------------- schema helpers
    def add_schema(self, schema: SchemaDef):
        self.schemas_by_module.setdefault(schema.module, []).append(schema)

    def spell(self, c: Col, alt: bool, widen: bool = False) -> str:
        canon, alts, _ = TYPES[c.base]
        inner = canon
        if widen and c.base in WIDEN:
            inner = WIDEN[c.base]
        elif alt and alts:
            inner = self.rng.choice(alts)
        if not c.nullable:
            return inner
        form = self.rng.randrange(3) if alt else 0
        if form == 0:
            return f"Optional[{inner}]"
        if form == 1 and "(" not in inner:  # `X | None` only for plain names
            return f"{inner} | None"
        return f"UNION({inner}, None)"

    # ---------------------------------------------------------------- derivations
    def derive(self, src: Col):
        """A derived column computed from a non-null base column, or None."""
        if src.nullable or src.name in self.derived_names or src.name == "entity_id":
            return None
        if src.base in ("float",):
            op, name, base = "scale", f"{src.name}_scaled", "float"
        elif src.base in ("int", "int32", "float32"):
            op, name, base = "positive", f"is_{src.name}_positive", "bool"
        elif src.base == "str":
            op, name, base = "upper", f"{src.name}_upper", "str"
        else:
            return None
        col = Col(name, base, False)
        known = self.universe.setdefault(name, col)
        assert known == col, (known, col)
        self.derived_names.add(name)
        return op, col

    # ---------------------------------------------------------------- build
    def build(self):
        rng = self.rng
        # Sources
        n_layers = max(1, round(math.sqrt(self.n)))
        sizes = [self.n // n_layers + (1 if i < self.n % n_layers else 0) for i in range(n_layers)]
        pool = [c for c in self.universe.values() if c.name != "entity_id"]
        # Every source is read by a layer-0 node (at most 3 inputs each).
        for var, sql_name, group in SOURCES[:3 * sizes[0]]:
            k = rng.randint(8, 11)
            cols = [self.universe["entity_id"]] + sorted(rng.sample(pool, k), key=lambda c: pool.index(c))
            schema = SchemaDef(camel(var) + "RawSchema", "schemas.sources", cols)
            for c in cols:
                schema.spell[c.name] = self.spell(c, alt=rng.random() < 0.3)
            self.add_schema(schema)
            name = sql_name or var
            dbt = (group, name.split(".")[-1])
            self.sources.append(TableDef(name, var, schema, -1, True, dbt, noun=var))

        counter = 0
        unread = list(self.sources)
        for layer, size in enumerate(sizes):
            nodes = []
            for j in range(size):
                kind = "sql" if rng.random() < 0.5 else "py"
                noun = rng.choice(NOUNS)
                name = f"{noun}_{rng.choice(SUFFIXES)}_{counter:05d}"
                counter += 1
                # Parents
                if layer == 0:
                    share = -(-len(unread) // (size - j))  # ceil: unread sources left per node
                    parents = [unread.pop(0) for _ in range(share)] or [rng.choice(self.sources)]
                    if len(parents) < 3 and rng.random() < 0.4:
                        other = rng.choice(self.sources)
                        if other not in parents:
                            parents.append(other)
                else:
                    prev = self.layers[layer - 1]
                    parents = [rng.choice(prev).table]
                    for _ in range(rng.choice([0, 1, 1, 2])):
                        if rng.random() < 0.15:
                            cand = rng.choice(self.sources)
                        else:
                            cand = rng.choice(self.layers[rng.randrange(layer)]).table
                        if cand not in parents:
                            parents.append(cand)
                nodes.append(self.make_node(layer, name, noun, kind, parents))
            self.layers.append(nodes)
        assert not unread

    def make_node(self, layer, name, noun, kind, parents) -> Node:
        rng = self.rng
        module = f"schemas.layer_{layer:02d}"
        cls = camel(name)
        table = TableDef(name, name, None, layer, noun=noun)
        inputs = []
        used_params = set()
        for i, parent in enumerate(parents):
            pout = parent.out
            if kind == "sql" or (rng.random() < 0.5 and not parent.is_source):
                # SQL inputs carry no annotation (the query may read any parent column);
                # Python parameters here require exactly the parent's output schema.
                req = pout
            else:
                others = [c for c in pout.cols if c.name != "entity_id"]
                k = rng.randint(min(4, len(others)), len(others))
                picked = set(c.name for c in rng.sample(others, k))
                cols = [c for c in pout.cols if c.name == "entity_id" or c.name in picked]
                req = SchemaDef(f"{cls}In{i + 1}", module, cols)  # spelled below
                self.add_schema(req)
            param = parent.noun if not parent.is_source else parent.var
            while param in used_params:
                param += "_2"
            used_params.add(param)
            style = "bare" if rng.random() < 0.6 else "table"
            inputs.append(Input(parent, req, param, "abcdefgh"[i], style))

        node = Node(table, kind, inputs)
        # Columns available, first input wins on name clashes.
        avail = []  # (Col, input_idx)
        seen = set()
        for i, inp in enumerate(inputs):
            for c in inp.schema.cols:
                if c.name not in seen:
                    seen.add(c.name)
                    avail.append((c, i))
        non_key = [(c, i) for c, i in avail if c.name != "entity_id"]
        target = rng.randint(5, 12)
        grouped = rng.random() < 0.25
        n_derive = 0 if grouped else rng.choice([0, 0, 1, 1, 2])
        n_plain = max(4, min(len(non_key), target - 1 - n_derive - (1 if grouped else 0)))
        n_plain = min(n_plain, len(non_key))
        chosen = rng.sample(non_key, n_plain)
        chosen.sort(key=lambda ci: avail.index(ci))
        outputs = [(self.universe["entity_id"], ("col", 0))]
        for c, i in chosen:
            outputs.append((c, ("col", i)))
        names = {c.name for c, _ in outputs}
        if not grouped:
            cands = [ci for ci in non_key]
            rng.shuffle(cands)
            for c, i in cands:
                if n_derive == 0:
                    break
                d = self.derive(c)
                if d and d[1].name not in names:
                    op, dc = d
                    outputs.append((dc, ("derive", op, c, i)))
                    names.add(dc.name)
                    n_derive -= 1
        else:
            keys = ["entity_id"]
            dims = [c for c, src in outputs if src[0] == "col" and c.base == "str" and not c.nullable]
            if dims and rng.random() < 0.5:
                keys.append(rng.choice(dims).name)
            node.group = keys
            if "row_count" not in names:
                rc = self.universe.setdefault("row_count", Col("row_count", "int", False))
                outputs.append((rc, ("count",)))
                names.add("row_count")
        node.outputs = outputs
        # Columns taken from each input (for the Python join projections)
        for c, src in outputs:
            if src[0] in ("col", "derive"):
                idx = src[1] if src[0] == "col" else src[3]
                srccol = c if src[0] == "col" else src[2]
                if srccol.name not in inputs[idx].take:
                    inputs[idx].take.append(srccol.name)
        # Filter
        if rng.random() < 0.5:
            i = rng.randrange(len(inputs))
            cands = [c for c in inputs[i].schema.cols if c.name != "entity_id"
                     and (c.base in NUMERIC - {"dec"} or c.base == "bool" or c.nullable)]
            # only filter on the first input's columns or ones it actually passes on
            if i > 0:
                cands = [c for c in cands if c.name in inputs[i].take]
            if cands:
                c = rng.choice(cands)
                if c.nullable:
                    op = "notnull"
                elif c.base == "bool":
                    op = "true"
                else:
                    op = "positive"
                node.filt = (i, c, op)
        node.cte = kind == "sql" and node.filt is not None and node.filt[0] == 0 and rng.random() < 0.6
        # Spell the input schemas. A widened requirement (`int` for an Int32 column) changes
        # the type the body sees, so only columns the node does not output are widened.
        out_names = {c.name for c, _ in outputs}
        for inp in inputs:
            if inp.schema.spell or inp.schema is inp.table.out:
                continue
            for c in inp.schema.cols:
                widen = c.base in WIDEN and c.name not in out_names and rng.random() < 0.5
                inp.schema.spell[c.name] = self.spell(c, alt=rng.random() < 0.4, widen=widen)
        # Output schema
        out = SchemaDef(cls + "Schema", module, [c for c, _ in outputs])
        for c, src in outputs:
            agg_changes = node.group is not None and src[0] == "col" and c.name not in node.group
            parent_schema = inputs[src[1]].table.out if src[0] == "col" else None
            if (src[0] == "col" and not agg_changes and parent_schema is not None
                    and not inputs[src[1]].table.is_source and rng.random() < 0.2):
                out.inherit[c.name] = parent_schema
            else:
                out.spell[c.name] = self.spell(c, alt=rng.random() < 0.3)
        self.add_schema(out)
        table.out = out
        return node

    # ---------------------------------------------------------------- rendering: SQL
    def sql_expr(self, node: Node, c: Col, src, qual) -> str:
        """Select-list item. `qual(i, name)` qualifies column `name` of input i."""
        if src[0] == "count":
            return "COUNT(*) AS row_count"
        if src[0] == "derive":
            _, op, s, i = src
            ref = qual(i, s.name)
            expr = {"scale": f"{ref} * 1.5", "positive": f"{ref} > 0", "upper": f"UPPER({ref})"}[op]
            return f"{expr} AS {c.name}"
        ref = qual(src[1], c.name)
        if node.group is not None and c.name not in node.group:
            fn = "SUM" if c.base in ("float",) else "MAX"
            return f"{fn}({ref}) AS {c.name}"
        return ref if ref.endswith("." + c.name) or ref == c.name else f"{ref} AS {c.name}"

    def render_sql(self, node: Node, ref) -> str:
        """The query; `ref(table)` renders a table reference (plain name or dbt ref/source)."""
        lines = []
        inputs = node.inputs
        from_names = [ref(inp.table) for inp in inputs]
        if node.cte:
            fi, fc, fop = node.filt
            first = inputs[0]
            cte = f"{first.table.noun}_filtered"
            cols = ", ".join(first.schema.names())
            lines.append(f"WITH {cte} AS (")
            lines.append(f"    SELECT {cols}")
            lines.append(f"    FROM {from_names[0]}")
            lines.append(f"    WHERE {self.sql_pred(fc.name, fop)}")
            lines.append(")")
            from_names[0] = cte

        def qual(i, name):
            return f"{inputs[i].alias}.{name}"

        items = [self.sql_expr(node, c, src, qual) for c, src in node.outputs]
        lines.append("SELECT")
        lines.extend(f"    {it}," for it in items[:-1])
        lines.append(f"    {items[-1]}")
        lines.append(f"FROM {from_names[0]} AS {inputs[0].alias}")
        for i in range(1, len(inputs)):
            a = inputs[i].alias
            lines.append(f"INNER JOIN {from_names[i]} AS {a} ON {a}.entity_id = a.entity_id")
        if node.filt is not None and not node.cte:
            fi, fc, fop = node.filt
            lines.append(f"WHERE {self.sql_pred(qual(fi, fc.name), fop)}")
        if node.group is not None:
            lines.append("GROUP BY " + ", ".join(qual(self.key_input(node, k), k) for k in node.group))
        return "\n".join(lines) + "\n"

    def key_input(self, node, key):
        for c, src in node.outputs:
            if c.name == key and src[0] == "col":
                return src[1]
        return 0

    @staticmethod
    def sql_pred(ref, op):
        return {"notnull": f"{ref} IS NOT NULL", "true": f"{ref}", "positive": f"{ref} > 0"}[op]

    # ---------------------------------------------------------------- rendering: Python
    @staticmethod
    def py_pred(name, op):
        return {
            "notnull": f'col("{name}").is_not_null()',
            "true": f'col("{name}")',
            "positive": f'col("{name}") > lit(0)',
        }[op]

    def render_py(self, node: Node) -> str:
        inputs = node.inputs
        out = []
        params = []
        for inp in inputs:
            default = inp.table.var if inp.style == "bare" else f'Table("{inp.table.name}")'
            params.append(f"{inp.param}: {inp.schema.cls} = {default}")
        sig = f"def {node.table.name}({', '.join(params)}) -> {node.table.out.cls}:"
        if len(sig) > 100:
            out.append(f"def {node.table.name}(")
            out.extend(f"    {p}," for p in params)
            out.append(f") -> {node.table.out.cls}:")
        else:
            out.append(sig)
        body = []
        frame = inputs[0].param
        if node.filt is not None and node.filt[0] == 0:
            body.append(f"    {frame} = {frame}.filter({self.py_pred(node.filt[1].name, node.filt[2])})")
        left_cols = set(inputs[0].schema.names())
        for i in range(1, len(inputs)):
            inp = inputs[i]
            take = ["entity_id"] + [n for n in inp.take if n != "entity_id" and n not in left_cols]
            if node.filt is not None and node.filt[0] == i and node.filt[1].name not in take:
                take.append(node.filt[1].name)
            left_cols.update(take)
            var = f"{inp.param}_cols"
            body.extend(call_lines(f"    {var} = {inp.param}.select(", [f'col("{n}")' for n in take], ")", "    "))
            body.append(f'    {frame if i > 1 else "joined"} = {frame}.join({var}, on="entity_id")')
            frame = "joined"
        if node.filt is not None and node.filt[0] > 0:
            body.append(f"    {frame} = {frame}.filter({self.py_pred(node.filt[1].name, node.filt[2])})")
        if node.group is not None:
            keys = ", ".join(f'"{k}"' for k in node.group)
            aggs = []
            count_col = next(n for n in inputs[0].schema.names() if n not in node.group)
            for c, src in node.outputs:
                if c.name in node.group:
                    continue
                if src[0] == "count":
                    aggs.append(f'col("{count_col}").len().alias("row_count")')
                else:
                    fn = "sum" if c.base == "float" else "max"
                    aggs.append(f'col("{c.name}").{fn}()')
            body.append(f"    return {frame}.group_by({keys}).agg(")
            body.extend(f"        {a}," for a in aggs)
            body.append("    )")
        else:
            derived = []
            for c, src in node.outputs:
                if src[0] == "derive":
                    _, op, s, _i = src
                    e = {
                        "scale": f'(col("{s.name}") * lit(1.5))',
                        "positive": f'(col("{s.name}") > lit(0))',
                        "upper": f'col("{s.name}").str.to_uppercase()',
                    }[op]
                    derived.append(f'{e}.alias("{c.name}")')
            body.append("    return (")
            body.append(f"        {frame}")
            if derived:
                body.append(f"        .with_columns({', '.join(derived)})")
            body.extend(call_lines("        .select(", [f'col("{c.name}")' for c, _ in node.outputs], ")", "        "))
            body.append("    )")
        return "\n".join(out + body) + "\n"

    # ---------------------------------------------------------------- writing
    def write_sluice(self, out_dir: str) -> dict:
        files = {}

        def emit(rel, text):
            files[rel] = text

        emit("sluice.toml", f'# Synthetic benchmark project: {self.n} nodes (bench/gen_project.py).\n'
                            f'[project]\nname = "bench_{self.n}"\n')
        emit("schemas/__init__.py", '"""Schemas of the synthetic benchmark project."""\n')
        # Schema modules
        for module, schemas in self.schemas_by_module.items():
            rel = module.replace(".", "/") + ".py"
            emit(rel, self.render_schema_module(module, schemas))
        # Nodes
        for layer, nodes in enumerate(self.layers):
            folder = f"pipelines/layer_{layer:02d}"
            py_nodes = [n for n in nodes if n.kind == "py"]
            for k in range(0, len(py_nodes), 10):
                chunk = py_nodes[k:k + 10]
                emit(f"{folder}/nodes_{k // 10:02d}.py", self.render_py_module(chunk))
            for node in nodes:
                if node.kind == "sql":
                    header = (f"-- {node.table.name}: {node.table.out.cls} <- "
                              + ", ".join(inp.table.name for inp in node.inputs))
                    emit(f"{folder}/{node.table.name}.sql",
                         header + "\n" + self.render_sql(node, lambda t: t.name))
        edges = sum(len(n.inputs) for layer in self.layers for n in layer)
        manifest = {
            "nodes": self.n,
            "edges": edges,
            "layers": len(self.layers),
            "sources": len(self.sources),
            "sql_nodes": sum(1 for l in self.layers for n in l if n.kind == "sql"),
            "python_nodes": sum(1 for l in self.layers for n in l if n.kind == "py"),
            "schemas": sum(len(s) for s in self.schemas_by_module.values()),
            "files": {
                "py": sum(1 for f in files if f.endswith(".py")),
                "sql": sum(1 for f in files if f.endswith(".sql")),
            },
            "lines": {
                "py": sum(t.count("\n") for f, t in files.items() if f.endswith(".py")),
                "sql": sum(t.count("\n") for f, t in files.items() if f.endswith(".sql")),
            },
            "bytes": sum(len(t.encode()) for t in files.values()),
        }
        emit("MANIFEST.json", json.dumps(manifest, indent=2) + "\n")
        write_tree(out_dir, files)
        return manifest

    def render_schema_module(self, module, schemas) -> str:
        typing_names, dt_names, sluice_names = set(), set(), {"Schema"}
        imports_from_schemas: dict[str, set] = {}
        for s in schemas:
            for text in s.spell.values():
                for tok in tokens(text):
                    if tok in ("datetime", "date"):
                        dt_names.add(tok)
                    elif tok == "Optional":
                        typing_names.add(tok)
                    elif tok in SLUICE_NAMES:
                        sluice_names.add(tok)
            for parent in s.inherit.values():
                if parent.module != module:
                    imports_from_schemas.setdefault(parent.module, set()).add(parent.cls)
        if module == "schemas.sources":
            sluice_names.add("Source")
        lines = [f'"""{module}: generated by bench/gen_project.py."""', ""]
        if dt_names:
            lines.append(f"from datetime import {', '.join(sorted(dt_names))}")
        if typing_names:
            lines.append(f"from typing import {', '.join(sorted(typing_names))}")
        lines.append("")
        lines.extend(import_lines("sluice", sluice_names))
        for mod in sorted(imports_from_schemas):
            lines.extend(import_lines(mod, imports_from_schemas[mod]))
        for s in schemas:
            lines += ["", "", f"class {s.cls}(Schema):"]
            for c in s.cols:
                if c.name in s.inherit:
                    lines.append(f"    {c.name} = {s.inherit[c.name].cls}.{c.name}")
                else:
                    lines.append(f"    {c.name}: {s.spell[c.name]}")
        if module == "schemas.sources":
            lines += ["", ""]
            for t in self.sources:
                if t.name == t.var:
                    lines.append(f"{t.var} = Source({t.out.cls})")
                else:
                    lines.append(f'{t.var} = Source({t.out.cls}, name="{t.name}")')
        return "\n".join(lines) + "\n"

    def render_py_module(self, nodes) -> str:
        needed: dict[str, set] = {}
        sluice_names = {"col"}
        for node in nodes:
            for inp in node.inputs:
                needed.setdefault(inp.schema.module, set()).add(inp.schema.cls)
                if inp.style == "table":
                    sluice_names.add("Table")
            needed.setdefault(node.table.out.module, set()).add(node.table.out.cls)
            text = self.render_py(node)
            if "lit(" in text:
                sluice_names.add("lit")
        lines = ['"""Generated by bench/gen_project.py."""', ""]
        lines.extend(import_lines("sluice", sluice_names))
        lines.append("")
        for mod in sorted(needed):
            lines.extend(import_lines(mod, needed[mod]))
        for node in nodes:
            lines += ["", ""]
            lines.append(self.render_py(node).rstrip("\n"))
        return "\n".join(lines) + "\n"

    # ---------------------------------------------------------------- dbt
    def write_dbt(self, out_dir: str):
        files = {}
        files["dbt_project.yml"] = "\n".join([
            f"name: bench_{self.n}",
            "version: '1.0.0'",
            f"profile: bench_{self.n}",
            "model-paths: ['models']",
            "target-path: target",
            "clean-targets: ['target']",
            "models:",
            f"  bench_{self.n}:",
            "    +materialized: table",
            "",
        ])
        files["profiles.yml"] = "\n".join([
            f"bench_{self.n}:",
            "  target: dev",
            "  outputs:",
            "    dev:",
            "      type: duckdb",
            "      path: bench.duckdb",
            "      threads: 2",
            "",
        ])
        groups: dict[str, list[TableDef]] = {}
        for t in self.sources:
            groups.setdefault(t.dbt_source[0], []).append(t)
        y = ["version: 2", "", "sources:"]
        for group in sorted(groups):
            y.append(f"  - name: {group}")
            y.append(f"    schema: {group}")
            y.append("    tables:")
            for t in groups[group]:
                y.append(f"      - name: {t.dbt_source[1]}")
                y.append("        columns:")
                y.extend(dbt_columns(t.out.cols, "          "))
        files["models/sources.yml"] = "\n".join(y) + "\n"

        def ref(t: TableDef):
            if t.is_source:
                return "{{ source('%s', '%s') }}" % t.dbt_source
            return "{{ ref('%s') }}" % t.name

        for layer, nodes in enumerate(self.layers):
            folder = f"models/layer_{layer:02d}"
            y = ["version: 2", "", "models:"]
            for node in nodes:
                files[f"{folder}/{node.table.name}.sql"] = self.render_sql(node, ref)
                y.append(f"  - name: {node.table.name}")
                y.append(f"    description: \"{'SQL' if node.kind == 'sql' else 'Python'} node "
                         f"{node.table.name} (layer {layer})\"")
                y.append("    config:")
                y.append("      contract:")
                y.append("        enforced: true")
                y.append("    columns:")
                y.extend(dbt_columns(node.table.out.cols, "      "))
            files[f"{folder}/_layer_{layer:02d}.yml"] = "\n".join(y) + "\n"
        write_tree(out_dir, files)


def dbt_columns(cols, indent):
    out = []
    for c in cols:
        out.append(f"{indent}- name: {c.name}")
        out.append(f"{indent}  data_type: {TYPES[c.base][2]}")
        if not c.nullable:
            out.append(f"{indent}  constraints:")
            out.append(f"{indent}    - type: not_null")
    return out


def call_lines(head, args, close, indent):
    """`head` + comma-separated `args` + `close`, wrapped one argument a line when long."""
    one = head + ", ".join(args) + close
    if len(one) <= 100:
        return [one]
    return [head] + [f"{indent}    {a}," for a in args] + [indent + close]


def tokens(text):
    tok, out = "", []
    for ch in text:
        if ch.isalnum() or ch == "_":
            tok += ch
        else:
            if tok:
                out.append(tok)
            tok = ""
    if tok:
        out.append(tok)
    return out


def import_lines(module, names):
    names = sorted(names)
    one = f"from {module} import {', '.join(names)}"
    if len(one) <= 100:
        return [one]
    return [f"from {module} import ("] + [f"    {n}," for n in names] + [")"]


def write_tree(out_dir, files):
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    for rel, text in sorted(files.items()):
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, required=True, help="number of nodes (>= 1)")
    ap.add_argument("--out", required=True, help="output folder (replaced)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--dbt", metavar="DBT_DIR", help="also write the equivalent dbt project here")
    args = ap.parse_args(argv)
    if args.nodes < 1:
        ap.error("--nodes must be >= 1")
    gen = Generator(args.nodes, args.seed)
    gen.build()
    manifest = gen.write_sluice(args.out)
    if args.dbt:
        gen.write_dbt(args.dbt)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
