"""`sluice mcp --http PORT`, driven by the official MCP Python SDK's streamable HTTP client.

Usage: python http_session.py SLUICE_BIN FIXTURES_DIR WORK_DIR

The server listens on 127.0.0.1 only; over HTTP it has the same tools and the same
guard as over stdio: an agent lists tools, reads branches, creates its own branch, and
its merge into main is refused with main unchanged.
Every step asserts; the last line is "N passed, 0 failed".
"""

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

SLUICE, FIXTURES, WORK = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
LAKE = WORK / "lake"

passed = 0


def step(name):
    global passed
    passed += 1
    print(f"ok {passed} - {name}", flush=True)


def sluice(*args):
    out = subprocess.run(
        [SLUICE, *args, "--lake", str(LAKE), "--format", "json"],
        cwd=WORK, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def main_head():
    return next(b["commit"] for b in sluice("branch", "list") if b["name"] == "main")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def session(url):
    async with streamable_http_client(url) as streams:
        async with ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            tools = {t.name for t in (await s.list_tools()).tools}
            assert {"check", "run", "merge", "query", "list_branches"} <= tools, tools
            step("tools listed over HTTP")
            branches = await s.call_tool("list_branches", {})
            assert not branches.is_error, branches
            names = [b["name"] for b in branches.structured_content["branches"]]
            assert "main" in names, names
            step("branches read")
            created = await s.call_tool("create_branch", {"name": "agent/http"})
            assert not created.is_error, created
            step("the agent's own branch created")
            before = main_head()
            refused = await s.call_tool("merge", {"source": "agent/http", "into": "main"})
            assert refused.is_error, refused
            text = refused.content[0].text
            assert "protected" in text and "--allow-writes-to main" in text, text
            assert main_head() == before
            step("a merge into main refused, main unchanged")


def run():
    WORK.mkdir(parents=True, exist_ok=True)
    sluice("import", str(FIXTURES / "data" / "orders.csv"), "--table", "orders")
    port = free_port()
    server = subprocess.Popen(
        [SLUICE, "mcp", "--lake", str(LAKE), "--http", str(port)],
        cwd=WORK, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.1)
        step("the server listens on 127.0.0.1")
        asyncio.run(session(f"http://127.0.0.1:{port}/mcp"))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{passed} passed, 0 failed", flush=True)


run()
