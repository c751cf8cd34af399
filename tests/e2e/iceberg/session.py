"""`sluice serve` read by real Iceberg clients: pyiceberg's REST catalog, Polars and DuckDB.

Usage: python session.py SLUICE_BIN WORK_DIR

As a new user would: build a lake with the CLI alone (imports of small CSV files, a
branch with an append, a tag, a schema change on a branch with `/` in its name, a
namespaced table), start `sluice serve --port 0`, and read every kind of ref through
the catalog; every table read must hold exactly the rows `sluice query` returns at
that ref (and each snapshot of its history the rows at that snapshot's commit), its
data files must be the lake's own, and no data file may be written.

One line per check (`ok ...` / `FAIL ...`); the last line is "N passed, M failed";
the exit code is non-zero on any failure. The server is always stopped.
"""

import collections
import datetime
import decimal
import importlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
from pyiceberg.catalog import load_catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError, RESTError

from checks import check, fail, summary

SLUICE, WORK = sys.argv[1], Path(sys.argv[2]).resolve()
LAKE = WORK / "lake"
DATA = LAKE / "data"  # the data folder of a `--lake DIR` lake
TABLES = DATA / "tables"
SERVER_START_TIMEOUT = 60

# --- the lake, through the CLI -----------------------------------------------------


def sluice(*args, json_out=True):
    """Runs `sluice ARGS --lake LAKE [--format json]`; its JSON output (or stdout)."""
    cmd = [SLUICE, *args, "--lake", str(LAKE)] + (["--format", "json"] if json_out else [])
    env = {k: v for k, v in os.environ.items() if k not in ("SLUICE_LAKE", "SLUICE_DATA")}
    env["SLUICE_AUTHOR"] = "iceberg-session"
    out = subprocess.run(cmd, cwd=WORK, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(
            f"`sluice {' '.join(args)}` exited {out.returncode}\n"
            f"stdout: {out.stdout}\nstderr: {out.stderr}"
        )
    return json.loads(out.stdout) if json_out else out.stdout


def write_csv(name, text):
    path = WORK / name
    path.write_text(text.lstrip())
    return str(path)


ORDERS = """
id,customer,amount,ordered_on,ordered_at,paid
1,ada,12.5,2024-01-02,2024-01-02 10:00:00,true
2,bob,7.25,2024-01-03,2024-01-03 11:30:00,false
3,cy,100.0,2024-01-04,2024-01-04 09:15:30,true
4,ada,,2024-01-05,2024-01-05 18:45:00,
5,dee,3.75,2024-01-06,2024-01-06 07:00:01,true
"""
ORDERS_LATE = """
id,customer,amount,ordered_on,ordered_at,paid
6,eve,41.0,2024-02-01,2024-02-01 12:00:00,true
7,bob,0.5,2024-02-02,2024-02-02 12:30:00,false
"""
ORDERS_LATER = """
id,customer,amount,ordered_on,ordered_at,paid
8,fay,9.99,2024-03-01,2024-03-01 08:00:00,true
9,gus,19.5,2024-03-02,2024-03-02 08:30:00,true
"""
ORDERS_DEV = """
id,customer,amount,ordered_on,ordered_at,paid
100,dev1,1.0,2024-04-01,2024-04-01 01:00:00,true
101,dev2,2.0,2024-04-02,2024-04-02 02:00:00,false
102,dev3,3.0,2024-04-03,2024-04-03 03:00:00,true
"""
ORDERS_WIDE = """
id,customer,amount,ordered_on,ordered_at,paid,channel
1,ada,12.5,2024-01-02,2024-01-02 10:00:00,true,web
2,bob,7.25,2024-01-03,2024-01-03 11:30:00,false,shop
200,hal,55.5,2024-05-01,2024-05-01 05:00:00,true,web
201,ivy,66.0,2024-05-02,2024-05-02 06:00:00,false,
"""
CUSTOMERS = """
id,name,country
1,ada,UK
2,bob,FR
3,cy,DE
"""

# The refs read below, filled by build_lake: a label -> the ref in docs/lake.md syntax.
REFS = {}
WIDE = "feature/wide"  # a branch whose name has a `/`


def build_lake():
    WORK.mkdir(parents=True, exist_ok=True)
    c1 = sluice("import", write_csv("orders.csv", ORDERS), "--table", "orders")["commit"]
    sluice("import", write_csv("customers.csv", CUSTOMERS), "--table", "raw.customers")
    sluice("tag", "create", "v1")
    sluice("branch", "create", "dev")
    sluice("import", write_csv("orders_dev.csv", ORDERS_DEV), "--table", "orders",
           "--branch", "dev", "--mode", "append")
    sluice("branch", "create", WIDE, "--from", "dev")
    sluice("import", write_csv("orders_wide.csv", ORDERS_WIDE), "--table", "orders",
           "--branch", WIDE, "--mode", "replace")
    sluice("import", write_csv("orders_late.csv", ORDERS_LATE), "--table", "orders",
           "--mode", "append")
    sluice("import", write_csv("orders_later.csv", ORDERS_LATER), "--table", "orders",
           "--mode", "append")
    log = sluice("log", "main")
    hashes = [c["hash"] for c in log]
    assert c1 in hashes, f"the first import's commit {c1} is not in main's log: {hashes}"
    # main's log, newest first: later, late, raw.customers, orders (c1), root.
    assert len(hashes) >= 5 and hashes[3] == c1, f"unexpected history of main: {log}"
    REFS.update({
        "main": "main",
        "dev": "dev",
        "tag v1": "v1",
        "@c1": f"@{c1}",
        "main~1": "main~1",
        "main@hash": f"main@{hashes[1][:10]}",
        WIDE: WIDE,
        f"{WIDE}~1": f"{WIDE}~1",
    })


def tables_at(ref):
    """The lake's tables at a ref: name -> `sluice table list` entry."""
    return {t["name"]: t for t in sluice("table", "list", "--ref", ref)}


def ident(table):
    """`raw.customers` -> ("raw", "customers"); `orders` -> ("default", "orders")."""
    return tuple(table.split(".", 1)) if "." in table else ("default", table)


def data_files():
    """Every file under the data folder's tables/, relative to it."""
    return sorted(str(p.relative_to(TABLES)) for p in TABLES.rglob("*") if p.is_file())


# --- the server ----------------------------------------------------------------------


class Server:
    LINE = re.compile(r"^sluice serve: Iceberg REST catalog on (http://\S+/iceberg)$")

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if k not in ("SLUICE_LAKE", "SLUICE_DATA")}
        self.proc = subprocess.Popen(
            [SLUICE, "serve", "--lake", str(LAKE), "--port", "0"],
            cwd=WORK, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        self.stderr = []
        self.lines = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def url(self):
        """The catalog URL from the server's one line on stderr."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no start line within {SERVER_START_TIMEOUT}s; stderr so far: {self.stderr}")
            if line is None:
                raise AssertionError(
                    f"the server exited ({self.proc.wait()}) before its start line: {self.stderr}")
            if m := self.LINE.match(line):
                return m.group(1)
            raise AssertionError(f"unexpected first line on stderr: {line!r}")

    def stop(self):
        """SIGTERM, and the exit code (killed after 20 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the server ignored SIGTERM for 20 s: killed")


# --- comparing rows ------------------------------------------------------------------


def canon(value, typ):
    """One cell, from Arrow (a Python value) or from `sluice query` JSON, in one form."""
    if value is None:
        return None
    if pa.types.is_timestamp(typ):
        v = value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(value)
        return ("ts", v.replace(tzinfo=None).isoformat(), v.tzinfo is not None)
    if pa.types.is_date(typ):
        v = value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)
        return ("date", v.isoformat())
    if pa.types.is_decimal(typ):
        return ("dec", decimal.Decimal(str(value)).normalize())
    if pa.types.is_floating(typ):
        return ("float", float(value))
    if pa.types.is_integer(typ):
        assert not isinstance(value, bool) and int(value) == value, f"not an integer: {value!r}"
        return ("int", int(value))
    if pa.types.is_boolean(typ):
        assert isinstance(value, bool), f"not a boolean: {value!r}"
        return ("bool", value)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        assert isinstance(value, str), f"not a string: {value!r}"
        return ("str", value)
    raise AssertionError(f"no comparison for Arrow type {typ} (value {value!r})")


def expected_rows(table, ref):
    """What `sluice query "SELECT * FROM t" --ref REF` returns: JSON rows."""
    return sluice("query", f"SELECT * FROM {table}", "--ref", ref)


def assert_same_rows(arrow, expected, what):
    """`arrow` (a pyarrow Table) holds exactly the rows of `expected` (sluice's JSON),
    in any order, column names and values alike."""
    names = arrow.schema.names
    want_names = list(expected[0].keys()) if expected else None
    assert want_names is None or names == want_names, (
        f"{what}: columns {names}, sluice query has {want_names}")
    types = [f.type for f in arrow.schema]
    got = collections.Counter(
        tuple(canon(r[n], t) for n, t in zip(names, types)) for r in arrow.to_pylist())
    want = collections.Counter(
        tuple(canon(r[n], t) for n, t in zip(names, types)) for r in expected)
    if got != want:
        only_got = list((got - want).elements())[:5]
        only_want = list((want - got).elements())[:5]
        raise AssertionError(
            f"{what}: {arrow.num_rows} rows read, sluice query has {len(expected)}; columns "
            f"{names}\n  only in the Iceberg read: {only_got}\n  only in sluice query: {only_want}")


# --- the checks ----------------------------------------------------------------------


def catalog(base, ref=None):
    uri = base if ref is None else f"{base}/{ref}"
    return load_catalog(f"sluice-{ref or 'default'}", type="rest", uri=uri)


def check_listing(base, label, ref):
    cat = catalog(base, ref)
    tables = tables_at(ref)
    want = collections.defaultdict(set)
    for t in tables:
        ns, name = ident(t)
        want[ns].add(name)
    got_ns = sorted(cat.list_namespaces())
    assert got_ns == sorted((ns,) for ns in want), (
        f"namespaces at {ref}: {got_ns}, the lake's tables {sorted(tables)} give "
        f"{sorted(want)}")
    for ns, names in want.items():
        got = sorted(cat.list_tables(ns))
        assert got == sorted((ns, n) for n in names), f"tables of {ns} at {ref}: {got}"
        assert cat.namespace_exists(ns), f"HEAD namespace {ns} at {ref} says it is missing"
        props = cat.load_namespace_properties(ns)
        assert isinstance(props, dict), f"properties of {ns} at {ref}: {props!r}"


def load(base, ref, table):
    return catalog(base, ref).load_table(ident(table))


def check_rows(base, ref, table):
    t = load(base, ref, table)
    assert_same_rows(t.scan().to_arrow(), expected_rows(table, ref), f"{table} at {ref}")


def check_refs_differ():
    """The refs hold different data, so a server that ignored the ref would fail."""
    counts = {label: tables_at(ref)["orders"]["rows"] for label, ref in REFS.items()}
    distinct = {counts[k] for k in ("main", "main~1", "tag v1", "dev", WIDE)}
    assert len(distinct) == 5, f"orders' row counts per ref are not distinct: {counts}"
    assert "raw.customers" not in tables_at(REFS["@c1"]), "raw.customers exists at @c1"


def check_default_uri_is_main(base):
    a = catalog(base).load_table(("default", "orders"))
    b = catalog(base, "main").load_table(("default", "orders"))
    assert a.metadata.current_snapshot_id == b.metadata.current_snapshot_id, (
        f"{base} and {base}/main differ: snapshots {a.metadata.current_snapshot_id} and "
        f"{b.metadata.current_snapshot_id}")
    assert_same_rows(a.scan().to_arrow(), expected_rows("orders", "main"), f"orders at {base}")


def field_ids(table):
    ids = {f.name: f.field_id for f in table.schema().fields}
    assert len(set(ids.values())) == len(ids), f"duplicate field ids: {ids}"
    return ids


def check_name_mapping(base, ref, table):
    t = load(base, ref, table)
    raw = t.properties.get("schema.name-mapping.default")
    assert raw, f"{table} at {ref}: no schema.name-mapping.default in {t.properties}"
    mapping = {n: f["field-id"] for f in json.loads(raw) for n in f["names"]}
    ids = field_ids(t)
    assert all(mapping.get(n) == i for n, i in ids.items()), (
        f"{table} at {ref}: name mapping {mapping} disagrees with the schema's ids {ids}")


def check_field_ids(base):
    old = field_ids(load(base, f"{WIDE}~1", "orders"))
    new = field_ids(load(base, WIDE, "orders"))
    assert set(new) == set(old) | {"channel"}, f"columns before {old}, after {new}"
    moved = {n: (old[n], new[n]) for n in old if old[n] != new[n]}
    assert not moved, f"columns whose field id changed with the schema: {moved}"
    assert new["channel"] not in old.values(), (
        f"the new column reuses an old field id: {new['channel']} in {old}")
    for ref in ("main", "dev", "v1", "main~1"):
        ids = field_ids(load(base, ref, "orders"))
        assert ids == old, f"orders' field ids at {ref} {ids} differ from {WIDE}~1's {old}"


def check_polars(base, ref, table):
    cat = catalog(base, ref)
    expected = expected_rows(table, ref)
    # Any warning fails: Polars warns when it cannot plan the scan itself (its
    # polars-iceberg planner reads the manifests) and falls back to pyiceberg's planning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lazy = pl.scan_iceberg(cat.load_table(ident(table)))
        assert_same_rows(lazy.collect().to_arrow(), expected,
                         f"polars scan_iceberg(table) {table} at {ref}")
        by_name = pl.scan_iceberg(".".join(ident(table)), catalog=cat)
        assert_same_rows(by_name.collect().to_arrow(), expected,
                         f"polars scan_iceberg(name, catalog=) {table} at {ref}")
        # A filter and a projection pushed into the scan.
        if table == "orders":
            got = lazy.filter(pl.col("id") > 4).select("id").collect()["id"].to_list()
            want = sorted(r["id"] for r in expected if r["id"] > 4)
            assert sorted(got) == want, f"polars filter id > 4 at {ref}: {sorted(got)}, want {want}"


def check_history(base, ref, table):
    """Each Iceberg snapshot of the table is one commit of the lake that changed it (in
    its summary's `sluice.commit`), and reads as `sluice query` at that commit."""
    t = load(base, ref, table)
    history = sluice("table", "show", table, "--ref", ref)["history"]
    want = [h["commit"] for h in history if h["rows"] is not None]
    snapshots = {s.summary["sluice.commit"]: s.snapshot_id for s in t.metadata.snapshots}
    assert sorted(snapshots) == sorted(want), (
        f"{table} at {ref}: snapshots of commits {sorted(snapshots)}, the table's history "
        f"has {sorted(want)}")
    current = t.metadata.current_snapshot_id
    assert snapshots[want[0]] == current, f"the current snapshot {current} is not {want[0]}'s"
    for commit, snapshot_id in snapshots.items():
        got = t.scan(snapshot_id=snapshot_id).to_arrow()
        assert_same_rows(got, expected_rows(table, f"@{commit}"), f"{table} snapshot of @{commit}")
    oldest = snapshots[want[-1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pl.scan_iceberg(t, snapshot_id=oldest).collect().to_arrow()
    assert_same_rows(got, expected_rows(table, f"@{want[-1]}"), f"polars {table} snapshot {oldest}")


def check_branch_moves(base, before):
    """A catalog on a branch's URI sees a commit made while it is open (the import's
    own data file joins the lake's files `before`)."""
    cat = catalog(base, "dev")
    old = cat.load_table(("default", "orders")).metadata.current_snapshot_id
    sluice("import", write_csv("orders_dev2.csv", ORDERS_DEV.replace("dev", "new")),
           "--table", "orders", "--branch", "dev", "--mode", "append")
    before.update(str(Path(f["path"]).relative_to("tables"))
                  for f in sluice("table", "show", "orders", "--ref", "dev")["files"])
    t = cat.load_table(("default", "orders"))
    assert t.metadata.current_snapshot_id != old, "dev's orders kept their snapshot after an append"
    assert_same_rows(t.scan().to_arrow(), expected_rows("orders", "dev"), "orders at dev, appended")


def duckdb_with_iceberg():
    """A DuckDB connection with the iceberg extension loaded from its PyPI package (no
    download: extensions.duckdb.org is not reachable). DuckDB checks each extension's
    signature, so the packaged binaries load only if DuckDB signed them."""
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    signed_only = con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0]
    assert signed_only is False, f"allow_unsigned_extensions is {signed_only!r}"
    for name in ("avro", "httpfs", "iceberg"):  # iceberg needs the other two
        package = Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
        path = package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
        con.execute(f"LOAD '{path}'")
    return con


def check_duckdb(con, base, label, ref, tables):
    alias = "cat_" + re.sub(r"\W", "_", label)
    con.execute(f"ATTACH 'lake' AS {alias} (TYPE iceberg, ENDPOINT '{base}/{ref}', "
                "AUTHORIZATION_TYPE 'none')")
    for table in tables:
        ns, name = ident(table)
        arrow = con.execute(f'SELECT * FROM {alias}."{ns}"."{name}"').to_arrow_table()
        assert_same_rows(arrow, expected_rows(table, ref), f"DuckDB {table} at {ref}")


def check_files(base, ref, table, before):
    t = load(base, ref, table)
    paths = []
    for task in t.scan().plan_files():
        uri = task.file.file_path
        parsed = urllib.parse.urlparse(uri)
        assert parsed.scheme == "file" and parsed.netloc in ("", "localhost"), (
            f"{table} at {ref}: data file {uri} is not a file:// URI")
        path = Path(urllib.parse.unquote(parsed.path))
        assert path.is_absolute(), f"{table} at {ref}: {uri} is not absolute"
        assert path.is_file(), f"{table} at {ref}: {uri} does not exist"
        rel = path.resolve().relative_to(TABLES.resolve())  # raises outside tables/
        assert str(rel) in before, f"{table} at {ref}: {uri} is not one of the lake's files"
        assert not task.delete_files, f"{table} at {ref}: delete files {task.delete_files}"
        paths.append(str(path.resolve()))
    shown = sluice("table", "show", table, "--ref", ref)["files"]
    want = sorted(str(Path(f["path"]) if Path(f["path"]).is_absolute() else (DATA / f["path"]).resolve())
                  for f in shown)
    assert sorted(paths) == want, f"{table} at {ref}: scan plans {sorted(paths)}, the lake has {want}"


def raises(fn, kinds, *names):
    """`fn()` raises one of `kinds` whose message names each of `names`; the message."""
    try:
        fn()
    except kinds as e:
        msg = str(e)
        missing = [n for n in names if n not in msg]
        assert not missing, f"{type(e).__name__} does not name {missing}: {msg}"
        return msg
    except Exception as e:
        raise AssertionError(f"expected {[k.__name__ for k in kinds]}, got {type(e).__name__}: {e}")
    raise AssertionError(f"no error: expected {[k.__name__ for k in kinds]} naming {names}")


def check_unknown_ref(base):
    """Connecting to a ref that does not exist, or is invalid, fails naming it."""
    for ref, name in (("ghost-branch", "ghost-branch"), ("@0123abcd", "0123abcd"),
                      ("main~40", "main~40")):
        raises(lambda: catalog(base, ref), (RESTError,), name)


def check_unknown_namespace(base):
    cat = catalog(base)
    raises(lambda: cat.list_tables("ghost_ns"), (NoSuchNamespaceError,), "ghost_ns")
    raises(lambda: cat.load_namespace_properties("ghost_ns"), (NoSuchNamespaceError,), "ghost_ns")
    assert not cat.namespace_exists("ghost_ns"), "HEAD namespace ghost_ns says it exists"
    raises(lambda: cat.load_table(("ghost_ns", "orders")), (NoSuchTableError, NoSuchNamespaceError),
           "ghost_ns")
    # raw exists on main but not at the first commit.
    raises(lambda: catalog(base, REFS["@c1"]).list_tables("raw"), (NoSuchNamespaceError,), "raw")


def check_unknown_table(base):
    cat = catalog(base)
    raises(lambda: cat.load_table(("default", "ghost_table")), (NoSuchTableError,), "ghost_table")
    raises(lambda: cat.load_table(("raw", "orders")), (NoSuchTableError,), "orders")
    assert not cat.table_exists(("default", "ghost_table")), "HEAD ghost_table says it exists"
    assert cat.table_exists(("raw", "customers")), "HEAD raw.customers says it is missing"


def check_writes_refused_pyiceberg(base):
    cat = catalog(base)
    before = tables_at("main")
    attempts = {
        "create_namespace": lambda: cat.create_namespace("new_ns"),
        "create_table": lambda: cat.create_table(("default", "new_t"), pa.schema([("a", pa.int64())])),
        "drop_table": lambda: cat.drop_table(("default", "orders")),
        "drop_namespace": lambda: cat.drop_namespace("raw"),
        "rename_table": lambda: cat.rename_table(("default", "orders"), ("default", "orders2")),
    }
    for what, fn in attempts.items():
        try:
            fn()
        except Exception as e:
            msg = str(e)
            # Either the server refused (its message says read-only), or pyiceberg did
            # not send the request because the server's config does not list the endpoint.
            if "read-only" not in msg and "Server does not support endpoint" not in msg:
                raise AssertionError(f"{what} failed without saying read-only: "
                                     f"{type(e).__name__}: {msg}")
        else:
            raise AssertionError(f"{what} succeeded on a read-only catalog")
    assert tables_at("main") == before, "the lake changed after refused writes"


def http(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else
                                 json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def check_head(base):
    v1 = f"{base}/v1"
    for path, want in (("namespaces/raw", True), ("namespaces/ghost_ns", False),
                       ("namespaces/raw/tables/customers", True),
                       ("namespaces/default/tables/ghost_table", False),
                       ("namespaces/ghost_ns/tables/orders", False)):
        status, _ = http("HEAD", f"{v1}/{path}")
        ok = status in (200, 204) if want else status == 404
        assert ok, f"HEAD {v1}/{path}: HTTP {status}, want {'200/204' if want else '404'}"


def check_writes_refused_http(base):
    v1 = f"{base}/v1"
    requests = [
        ("POST", f"{v1}/namespaces", {"namespace": ["new_ns"], "properties": {}}),
        ("POST", f"{v1}/namespaces/default/tables",
         {"name": "new_t", "schema": {"type": "struct", "schema-id": 0, "fields": []}}),
        ("POST", f"{v1}/namespaces/default/tables/orders", {"requirements": [], "updates": []}),
        ("DELETE", f"{v1}/namespaces/default/tables/orders", None),
        ("DELETE", f"{v1}/namespaces/raw", None),
        ("POST", f"{v1}/tables/rename", {"source": {"namespace": ["default"], "name": "orders"},
                                          "destination": {"namespace": ["default"], "name": "o2"}}),
    ]
    for method, url, body in requests:
        status, text = http(method, url, body)
        assert status in (405, 406, 501), f"{method} {url}: HTTP {status}, want 405, 406 or 501: {text}"
        try:
            message = json.loads(text)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            raise AssertionError(f"{method} {url}: HTTP {status} without the error JSON: {text!r}")
        assert "read-only" in message and ("sluice import" in message or "sluice run" in message), (
            f"{method} {url}: the message does not say read-only and how to write: {message}")


def check_fsck():
    report = sluice("fsck")
    assert report.get("faults") == [] and report.get("files", 0) > 0, f"fsck: {report}"


def session(server, before):
    base = server.url()
    print(f"# catalog at {base}", flush=True)
    check("the refs read below hold different data", check_refs_differ)
    check("the catalog's default URI serves main", check_default_uri_is_main, base)
    for label, ref in REFS.items():
        check(f"namespaces and tables at {label} ({ref}) are the lake's", check_listing, base, label, ref)
    for label, ref in REFS.items():
        for table in tables_at(ref):
            check(f"pyiceberg reads {table} at {label} ({ref}) as sluice query does",
                  check_rows, base, ref, table)
            check(f"{table} at {label}: every planned data file is the lake's own",
                  check_files, base, ref, table, before)
            check(f"{table} at {label}: schema.name-mapping.default matches the field ids",
                  check_name_mapping, base, ref, table)
    check("field ids: old columns keep theirs across the schema change, the new one is new",
          check_field_ids, base)
    for ref, table in (("main", "orders"), ("dev", "orders"), ("v1", "raw.customers"),
                       (WIDE, "orders"), ("main~1", "orders")):
        check(f"polars scan_iceberg reads {table} at {ref} as sluice query does",
              check_polars, base, ref, table)
    for ref in ("main", "dev", WIDE):
        check(f"orders' snapshots at {ref} are its commits, each read as sluice query at it",
              check_history, base, ref, "orders")
    duck = []
    if check("DuckDB loads its signed iceberg extension from the PyPI packages, offline",
             lambda: duck.append(duckdb_with_iceberg())):
        for label in ("main", "dev", "tag v1", "@c1", "main~1", WIDE):
            ref = REFS[label]
            check(f"DuckDB reads every table at {label} ({ref}) as sluice query does",
                  check_duckdb, duck[0], base, label, ref, sorted(tables_at(ref)))
    check("connecting to an unknown or invalid ref is an error naming it", check_unknown_ref, base)
    check("an unknown namespace is NoSuchNamespaceError naming it", check_unknown_namespace, base)
    check("an unknown table is NoSuchTableError naming it", check_unknown_table, base)
    check("pyiceberg's writes are refused as read-only", check_writes_refused_pyiceberg, base)
    check("a catalog on dev's URI sees a commit to dev made while it is open",
          check_branch_moves, base, before)
    check("HEAD namespace and table answer 204/200 or 404", check_head, base)
    check("write endpoints answer 405/406/501 saying read-only and how to write",
          check_writes_refused_http, base)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    if not check("a lake built with the sluice CLI", build_lake):
        return summary()
    before = set(data_files())
    server = Server()
    try:
        session(server, before)
    except Exception:  # a check must not end the session without a FAIL line
        fail("the session stopped early")
    finally:
        running = server.proc.poll() is None
        check("the server was still running at the end", expect, running,
              f"it exited {server.proc.poll()}: {''.join(server.stderr)}")
        if running:
            check("the server ends cleanly (exit 0) on SIGTERM",
                  lambda: expect(server.stop() == 0, f"exit {server.proc.returncode}: "
                                 f"{''.join(server.stderr)}"))
        else:
            server.stop()
    after = set(data_files())
    check("no data file was written or removed under tables/", expect, after == before,
          f"new: {sorted(after - before)}, gone: {sorted(before - after)}")
    check("sluice fsck is clean", check_fsck)
    return summary()


sys.exit(main())
