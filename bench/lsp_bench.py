#!/usr/bin/env python3
"""Latency and memory of `sluice lsp` on a generated project, driven over stdio.

    python bench/lsp_bench.py --sluice target/release/sluice --project DIR [--edits 200]

The client is pygls (`pip install pygls==2.1.1`); the project comes from
`bench/gen_project.py --nodes 10000 --out DIR`. Printed (see BENCHMARKS.md):

1. initial analysis: `initialized` -> the end of the server's `$/progress` for the
   project, beside the wall time of `sluice check DIR` for the same project;
2. an unsaved one-character edit in a mid-DAG SQL node -> publishDiagnostics for that
   file (edits alternate: one breaks a column reference, the next restores it, so every
   edit changes the file's diagnostics), p50 / p95 / max;
3. an unsaved edit to a contract many nodes consume (a source schema's column renamed)
   -> the last affected file's publishDiagnostics; the affected files are those a cold
   `sluice check --format json` of the edited project reports;
4. the server's resident memory after 100 and after 1,000 edits;
5. navigation (issue 12): the first request after an analysis (it builds the symbol
   index), then hover and definition at the mid-DAG column reference, p50 / p95; and
   references and rename of the source column most nodes use (its reference count,
   or the server's refusal).

The edits are sent one at a time: each waits for its diagnostics, then 20 ms pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

PAUSE = 0.02


class Bench:
    def __init__(self, sluice: str, project: Path):
        self.sluice = sluice
        self.project = project
        self.client = LanguageClient("sluice-lsp-bench", "1")
        self.published: dict[str, tuple[float, list]] = {}
        self.waiters: list[tuple[callable, asyncio.Future]] = []
        self.progress_end: asyncio.Future | None = None
        client = self.client

        @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_publish(params: lsp.PublishDiagnosticsParams):
            now = time.perf_counter()
            self.published[params.uri] = (now, params.diagnostics)
            for check, fut in list(self.waiters):
                if not fut.done() and check(params.uri, params.diagnostics):
                    fut.set_result(now)

        @client.feature(lsp.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def on_create(params):
            return None

        @client.feature(lsp.PROGRESS)
        def on_progress(params: lsp.ProgressParams):
            value = params.value
            kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
            if kind == "end" and self.progress_end and not self.progress_end.done():
                self.progress_end.set_result(time.perf_counter())

        @client.feature(lsp.WINDOW_LOG_MESSAGE)
        def on_log(params):
            print(f"  server: {params.message}", file=sys.stderr)

    def uri(self, path: Path) -> str:
        return path.resolve().as_uri()

    def wait_for(self, check) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append((check, fut))
        return fut

    async def start(self) -> float:
        await self.client.start_io(self.sluice, "lsp")
        self.progress_end = asyncio.get_running_loop().create_future()
        caps = lsp.ClientCapabilities(
            general=lsp.GeneralClientCapabilities(
                position_encodings=[lsp.PositionEncodingKind.Utf16]
            ),
            window=lsp.WindowClientCapabilities(work_done_progress=True),
            text_document=lsp.TextDocumentClientCapabilities(
                synchronization=lsp.TextDocumentSyncClientCapabilities(did_save=True),
                publish_diagnostics=lsp.PublishDiagnosticsClientCapabilities(
                    related_information=True, version_support=True
                ),
            ),
        )
        await self.client.initialize_async(
            lsp.InitializeParams(
                process_id=os.getpid(),
                root_uri=self.uri(self.project),
                workspace_folders=[
                    lsp.WorkspaceFolder(uri=self.uri(self.project), name=self.project.name)
                ],
                capabilities=caps,
            )
        )
        t0 = time.perf_counter()
        self.client.initialized(lsp.InitializedParams())
        end = await asyncio.wait_for(self.progress_end, timeout=600)
        return end - t0

    def open(self, path: Path) -> str:
        uri = self.uri(path)
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(
                    uri=uri,
                    language_id="sql" if path.suffix == ".sql" else "python",
                    version=0,
                    text=path.read_text(),
                )
            )
        )
        return uri

    async def edit(self, uri: str, version: int, line: int, col: int, old: str, new: str, check):
        fut = self.wait_for(check)
        t0 = time.perf_counter()
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    lsp.TextDocumentContentChangePartial(
                        range=lsp.Range(
                            start=lsp.Position(line=line, character=col),
                            end=lsp.Position(line=line, character=col + len(old)),
                        ),
                        text=new,
                    )
                ],
            )
        )
        done = await asyncio.wait_for(fut, timeout=20)
        return done - t0

    def rss_mib(self) -> float:
        pid = self.client._server.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    async def stop(self):
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def mid_sql_node(project: Path) -> tuple[Path, int, int, str]:
    """A SQL node in the middle layer, and a column reference on its 2nd select line."""
    layers = sorted((project / "pipelines").iterdir())
    for layer in layers[len(layers) // 2 :]:
        for path in sorted(layer.glob("*.sql")):
            lines = path.read_text().splitlines()
            for n, text in enumerate(lines[2:], start=2):
                m = re.match(r"\s+a\.([a-z_]+)", text)
                if m:
                    # The last character of the column name.
                    return path, n, m.end(1) - 1, m.group(1)[-1]
    sys.exit("no SQL node with a column reference found")


def cold_check(sluice: str, project: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sluice, "check", "--format", "json", str(project)], capture_output=True, text=True
    )
    return time.perf_counter() - t0, json.loads(out.stdout)


def contract_edit(sluice: str, project: Path):
    """Renames, in sources.py, the source column whose rename breaks most files."""
    sources = project / "schemas" / "sources.py"
    text = sources.read_text()
    lines = text.splitlines()
    pipelines = [p.read_text() for p in (project / "pipelines").rglob("*") if p.is_file()]
    best = None
    for n, line in enumerate(lines):
        m = re.match(r"    ([a-z_]+): ", line)
        if not m or m.group(1) == "entity_id":
            continue
        uses = sum(1 for t in pipelines if m.group(1) in t)
        if best is None or uses > best[0]:
            best = (uses, n, m.group(1))
    _, n, name = best
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "p"
        shutil.copytree(project, copy)
        edited = lines.copy()
        edited[n] = edited[n].replace(name, name[:-1] + "Q", 1)
        (copy / "schemas" / "sources.py").write_text("\n".join(edited) + "\n")
        _, report = cold_check(sluice, copy)
    files = {d["file"] for d in report["diagnostics"]}
    return sources, n, 4 + len(name) - 1, name[-1], files


async def timed(request) -> tuple[float, object]:
    t0 = time.perf_counter()
    try:
        result = await request
    except Exception as e:  # a refused rename is an error response
        result = e
    return time.perf_counter() - t0, result


async def navigation(b: "Bench", path: Path, line: int, col: int, src_path: Path,
                     src_line: int, src_col: int, samples: int = 200) -> None:
    doc = lsp.TextDocumentIdentifier(uri=b.uri(path))
    pos = lsp.Position(line=line, character=col)
    c = b.client
    first, _ = await timed(c.text_document_hover_async(lsp.HoverParams(text_document=doc, position=pos)))
    print(f"first navigation request (builds the symbol index): {first * 1000:.1f} ms")
    for name, make in (
        ("hover", lambda: c.text_document_hover_async(
            lsp.HoverParams(text_document=doc, position=pos))),
        ("definition", lambda: c.text_document_definition_async(
            lsp.DefinitionParams(text_document=doc, position=pos))),
        ("completion", lambda: c.text_document_completion_async(
            lsp.CompletionParams(text_document=doc, position=pos))),
    ):
        ms = []
        for _ in range(samples):
            dt, _ = await timed(make())
            ms.append(dt * 1000)
        print(f"{name} at {path.name}:{line + 1}: p50 {percentile(ms, 0.5):.1f} ms, "
              f"p95 {percentile(ms, 0.95):.1f} ms")
    src = lsp.TextDocumentIdentifier(uri=b.uri(src_path))
    spos = lsp.Position(line=src_line, character=src_col)
    dt, refs = await timed(c.text_document_references_async(lsp.ReferenceParams(
        text_document=src, position=spos,
        context=lsp.ReferenceContext(include_declaration=True))))
    found = not isinstance(refs, Exception) and refs is not None
    files = len({r.uri for r in refs}) if found else 0
    count = len(refs) if found else refs
    print(f"references of a source column: {dt * 1000:.0f} ms ({count} in {files} files)")
    dt, edit = await timed(c.text_document_rename_async(lsp.RenameParams(
        text_document=src, position=spos, new_name="renamed_column")))
    if isinstance(edit, lsp.WorkspaceEdit):
        n = sum(len(v) for v in (edit.changes or {}).values())
        what = f"{n} edits"
    else:
        what = f"refused: {edit}"
    print(f"rename of that column: {dt * 1000:.0f} ms ({what})")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--edits", type=int, default=200)
    args = ap.parse_args()
    project = args.project.resolve()

    check_time, report = cold_check(args.sluice, project)
    print(f"sluice check (cold): {check_time * 1000:.0f} ms, {report['summary']}")
    src_path, src_line, src_col, src_char, affected = contract_edit(args.sluice, project)

    b = Bench(args.sluice, project)
    initial = await b.start()
    print(f"initial analysis ($/progress end): {initial * 1000:.0f} ms")

    path, line, col, char = mid_sql_node(project)
    uri = b.open(path)
    await asyncio.sleep(1)
    version = 0
    samples = []
    rss = {}
    total = max(args.edits, 1000)
    for i in range(total):
        broken = i % 2 == 0
        old, new = (char, "Q") if broken else ("Q", char)
        version += 1
        dt = await b.edit(
            uri,
            version,
            line,
            col,
            old,
            new,
            lambda u, d, broken=broken: u == uri and (len(d) > 0) == broken,
        )
        if i < args.edits:
            samples.append(dt)
        if i + 1 in (100, 1000):
            rss[i + 1] = b.rss_mib()
        await asyncio.sleep(PAUSE)
    ms = [s * 1000 for s in samples]
    print(
        f"one-char edit in {path.relative_to(project)} -> its diagnostics "
        f"({len(ms)} edits): p50 {percentile(ms, 0.5):.1f} ms, "
        f"p95 {percentile(ms, 0.95):.1f} ms, max {max(ms):.1f} ms, "
        f"mean {statistics.mean(ms):.1f} ms"
    )
    print(f"resident memory: {rss.get(100, 0):.0f} MiB after 100 edits, "
          f"{rss.get(1000, 0):.0f} MiB after 1,000")

    # The edits left the project as it was: navigate it.
    await navigation(b, path, line, col, src_path, src_line, src_col)

    # The contract edit: wait until every affected file was published after it.
    src_uri = b.open(src_path)
    await asyncio.sleep(1)
    want = {b.uri(project / f) for f in affected}
    seen: set[str] = set()

    def all_seen(u, d):
        if u in want and d:
            seen.add(u)
        return seen >= want

    t = await b.edit(src_uri, 1, src_line, src_col, src_char, "Q", all_seen)
    print(
        f"contract edit in schemas/sources.py ({len(want)} files affected) -> "
        f"last affected file's diagnostics: {t * 1000:.0f} ms"
    )
    await b.stop()


if __name__ == "__main__":
    asyncio.run(main())
