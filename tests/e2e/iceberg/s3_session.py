"""`sluice serve` over a lake whose data is in S3, read by pyiceberg and Polars.

Usage: python s3_session.py SLUICE_BIN WORK_DIR

The S3-compatible server is `$SLUICE_TEST_S3_ENDPOINT` (moto in CI), configured for the
lake and for the clients only by the usual `AWS_*` variables. A fresh bucket holds the
lake's data; the lake is built with the CLI (an import, a branch with an append, a tag),
then main, the branch, the tag and a commit are read through the catalog: the rows must
be `sluice query`'s, the planned files the lake's own `s3://` objects, and after the
reads the bucket's `tables/` must hold exactly the objects it held before.

One line per check (`ok ...` / `FAIL ...`); the last line is "N passed, M failed".
"""

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import polars as pl
from pyarrow import fs
from pyiceberg.catalog import load_catalog

from checks import check, fail, summary

SLUICE, WORK = sys.argv[1], Path(sys.argv[2]).resolve()
ENDPOINT = os.environ["SLUICE_TEST_S3_ENDPOINT"]
BUCKET = f"sluice-iceberg-{uuid.uuid4().hex[:12]}"
DATA = f"s3://{BUCKET}/lake"
LAKE = WORK / "lake"

def sluice(*args, json_out=True):
    cmd = [SLUICE, *args, "--lake", str(LAKE)] + (["--format", "json"] if json_out else [])
    env = dict(os.environ, SLUICE_DATA=DATA, SLUICE_AUTHOR="iceberg-s3")
    env.pop("SLUICE_LAKE", None)
    out = subprocess.run(cmd, cwd=WORK, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"`sluice {' '.join(args)}` exited {out.returncode}: {out.stderr}")
    return json.loads(out.stdout) if json_out else out.stdout


def s3():
    url = urllib.parse.urlparse(ENDPOINT)
    return fs.S3FileSystem(
        endpoint_override=url.netloc,
        scheme=url.scheme,
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )


def objects(prefix):
    """Every object under `s3://BUCKET/lake/PREFIX`, as s3:// URIs."""
    selector = fs.FileSelector(f"{BUCKET}/lake/{prefix}", recursive=True, allow_not_found=True)
    return {f"s3://{i.path}" for i in s3().get_file_info(selector) if i.type == fs.FileType.File}


def rows(records):
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in records)


def write(name, text):
    (WORK / name).write_text(text)
    return name


def main():
    req = urllib.request.Request(f"{ENDPOINT}/{BUCKET}", method="PUT")
    urllib.request.urlopen(req, timeout=30).read()
    sluice("import", write("a.csv", "id,amount\n1,9.5\n2,3.25\n"), "--table", "orders")
    sluice("branch", "create", "dev")
    sluice("import", write("b.csv", "id,amount\n3,1.0\n"), "--table", "orders",
           "--branch", "dev", "--mode", "append")
    sluice("tag", "create", "v1")
    imported = sluice("log", "main")[-2]["hash"]  # the import (the last is the lake's root)
    before = objects("tables")
    assert len(before) == 2, before

    server = subprocess.Popen(
        [SLUICE, "serve", "--lake", str(LAKE), "--port", "0"],
        cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = server.stderr.readline()
        assert "Iceberg REST catalog on " in line, line
        base = line.split("Iceberg REST catalog on ", 1)[1].strip()
        for ref, count in [("main", 2), ("dev", 3), ("v1", 2), (f"@{imported}", 2)]:
            check(f"orders at {ref}", read, base, ref, count, before)
    finally:
        server.terminate()
        server.wait(timeout=30)
    check("the bucket's tables/ holds exactly what it held", unchanged, before)
    check("the metadata is under iceberg/", metadata_written)


def unchanged(before):
    after = objects("tables")
    assert after == before, f"added or removed: {sorted(after ^ before)}"


def metadata_written():
    written = objects("iceberg")
    assert any(o.endswith(".metadata.json") for o in written), sorted(written)


def read(base, ref, count, lake_files):
    """`orders` at `ref`: pyiceberg and Polars read `count` rows, `sluice query`'s, from
    the lake's own objects (the client brings only the AWS_* credentials)."""
    uri = base if ref == "main" else f"{base}/{urllib.parse.quote(ref, safe='@~/')}"
    catalog = load_catalog(f"s3-{ref}", type="rest", uri=uri)
    table = catalog.load_table("default.orders")
    files = {t.file.file_path for t in table.scan().plan_files()}
    assert files and files <= lake_files, f"{files} not among {lake_files}"
    expected = rows(sluice("query", "SELECT * FROM orders", "--ref", ref))
    got = rows(table.scan().to_arrow().to_pylist())
    assert got == expected and len(got) == count, f"pyiceberg {got} != sluice query {expected}"
    polars = rows(pl.scan_iceberg(table).collect().to_dicts())
    assert polars == expected, f"polars {polars} != sluice query {expected}"


if __name__ == "__main__":
    try:
        main()
    except Exception:  # the session must not end without a FAIL line
        fail("the session stopped early")
    sys.exit(summary())
