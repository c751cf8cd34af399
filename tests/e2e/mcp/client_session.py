"""An agent's session with `sluice mcp`, driven by the official MCP Python SDK.

Usage: python client_session.py SLUICE_BIN FIXTURES_DIR WORK_DIR

The scenario of docs/agents.md: a broken pipeline is checked and read as structured
diagnostics, checked again with an overlay that fixes it, the fix is written, the agent
runs it on its own branch and queries the result; its merge into main is refused and
main is untouched; a server restarted with --allow-writes-to main then merges.
Every step asserts; the last line is "N passed, 0 failed".
"""

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SLUICE, FIXTURES, WORK = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
LAKE = WORK / "lake"
PROJECT = WORK / "orders"
BRANCH = "agent/orders"
FIXED_SQL = (FIXTURES / "orders" / "customer_totals.sql").read_text()
BROKEN_SQL = FIXED_SQL.replace("SUM(amount)", "SUM(amout)")
assert BROKEN_SQL != FIXED_SQL

passed = 0


def step(name):
    global passed
    passed += 1
    print(f"ok {passed} - {name}", flush=True)


def params(*extra):
    return StdioServerParameters(
        command=SLUICE, args=["mcp", "--lake", str(LAKE), *extra], cwd=str(WORK)
    )


async def call(session, tool, args):
    return await session.call_tool(tool, args)


def error_of(result):
    """The CLI-shaped error document of a tool error."""
    assert result.is_error, result
    docs = [json.loads(c.text) for c in result.content if c.text.startswith("{")]
    assert docs, result.content
    return docs[0]["error"]


async def agent_session():
    async with stdio_client(params()) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()

            tools = {t.name: t for t in (await session.list_tools()).tools}
            expected = {
                "check", "plan", "lineage", "explain_code", "list_branches",
                "create_branch", "delete_branch", "list_tags", "create_tag", "log",
                "list_tables", "table_schema", "diff", "query", "import", "run", "runs",
                "run_status", "merge", "revert",
            }
            assert expected <= set(tools), sorted(expected - set(tools))
            for t in tools.values():
                assert t.description and len(t.description) > 30, t.name
                assert t.input_schema["type"] == "object", t.name
                assert t.output_schema and t.output_schema["type"] == "object", t.name
            step(f"{len(tools)} tools listed, each with a description and schemas")

            project = str(PROJECT)
            r = await call(session, "check", {"project": project})
            assert not r.is_error, r
            report = r.structured_content
            assert report["summary"]["errors"] >= 1, report
            d = report["diagnostics"][0]
            assert d["code"] == "E0501", d
            assert d["file"] == "customer_totals.sql" and d["line"] == 2, d
            assert "amout" in d["message"], d
            step(f"check finds {d['code']} at {d['file']}:{d['line']}: {d['message']}")

            r = await call(session, "explain_code", {"code": d["code"]})
            assert "column" in r.structured_content["meaning"], r
            step("explain_code explains E0501")

            r = await call(
                session, "check",
                {"project": project, "files": {"customer_totals.sql": FIXED_SQL}},
            )
            assert r.structured_content["summary"]["errors"] == 0, r.structured_content
            assert (PROJECT / "customer_totals.sql").read_text() == BROKEN_SQL
            step("check with an overlay that fixes it: 0 errors, the disk untouched")

            r = await call(
                session, "check",
                {"project": project, "files": {"../escape.sql": "SELECT 1"}},
            )
            assert error_of(r)["kind"] == "usage", r
            step("an overlay path outside the project is a tool error")

            (PROJECT / "customer_totals.sql").write_text(FIXED_SQL)

            r = await call(session, "run", {"project": project, "branch": "main"})
            err = error_of(r)
            assert err["kind"] == "protected_branch", err
            assert "`main`" in err["message"] and "--allow-writes-to main" in err["message"], err
            step("run into main refused: " + err["message"])

            r = await call(session, "create_branch", {"name": BRANCH})
            assert not r.is_error, r
            assert r.structured_content["name"] == BRANCH
            step(f"create_branch {BRANCH}")

            r = await call(session, "run", {"project": project, "branch": BRANCH})
            assert not r.is_error, r.content
            rec = r.structured_content
            assert rec["status"] == "succeeded", rec
            assert rec["target"] == BRANCH and rec["result_commit"], rec
            run_id = rec["run_id"]
            step(f"run on {BRANCH}: run {run_id[:12]}, commit {rec['result_commit'][:12]}")

            r = await call(session, "run_status", {"run_id": run_id[:12]})
            assert r.structured_content["id"] == run_id, r
            step("run_status finds the run by prefix")

            r = await call(
                session, "query",
                {"sql": "SELECT country, total FROM country_totals ORDER BY country",
                 "ref": BRANCH},
            )
            assert not r.is_error, r.content
            rows = r.structured_content["rows"]
            assert rows and {"country", "total"} <= set(rows[0]), rows
            step(f"query on {BRANCH}: {rows}")

            for sql in [
                "INSERT INTO orders VALUES (99, 'eve', 1.0, 'FR')",
                f"COPY orders TO '{WORK / 'out.csv'}'",
                f"CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{WORK}'",
                "DROP TABLE orders",
            ]:
                r = await call(session, "query", {"sql": sql, "ref": BRANCH})
                assert r.is_error, sql
            assert not (WORK / "out.csv").exists()
            step("query refuses INSERT, COPY ... TO, CREATE EXTERNAL TABLE, DROP")

            r = await call(session, "merge", {"source": BRANCH, "into": "main"})
            err = error_of(r)
            assert err["kind"] == "protected_branch", err
            assert "`merge` into `main`" in err["message"], err
            assert "--allow-writes-to main" in err["message"], err
            step("merge into main refused: " + err["message"])

            r = await call(session, "list_tables", {"ref": "main"})
            names = [t["name"] for t in r.structured_content["tables"]]
            assert names == ["orders"], names
            step("main is untouched: " + ", ".join(names))

            r = await call(session, "lineage", {"project": project, "column": "nodot"})
            assert error_of(r)["kind"] == "usage", r
            r = await call(session, "query", {"sql": "SELECT 1", "bogus": 1})
            assert r.is_error and "bogus" in r.content[0].text, r
            r = await call(session, "query", {"sql": 5})
            assert r.is_error and "string" in r.content[0].text, r
            r = await call(session, "list_branches", {})
            assert BRANCH in [b["name"] for b in r.structured_content["branches"]]
            step("bad arguments get errors; the server still answers")

            resources = [str(x.uri) for x in (await session.list_resources()).resources]
            assert "sluice://docs/language.md" in resources, resources
            codes = await session.read_resource("sluice://diagnostic-codes")
            assert "E0501" in codes.contents[0].text
            plan = await session.read_resource(f"sluice://plan/{project}")
            assert "country_totals" in plan.contents[0].text
            prompts = [p.name for p in (await session.list_prompts()).prompts]
            assert {"new_pipeline", "fix_diagnostics", "write_audit_publish"} <= set(prompts)
            p = await session.get_prompt("write_audit_publish", {"project": project})
            assert "merge" in p.messages[0].content.text
            step("resources (language.md, codes, a plan) and prompts")


async def person_merges():
    async with stdio_client(params("--allow-writes-to", "main")) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            r = await call(session, "merge", {"source": BRANCH, "into": "main"})
            assert not r.is_error, r.content
            out = r.structured_content
            assert out["kind"] in ("fast_forward", "merged"), out
            step(f"with --allow-writes-to main, merge: {out['kind']}")
            r = await call(session, "list_tables", {"ref": "main"})
            names = [t["name"] for t in r.structured_content["tables"]]
            assert "country_totals" in names, names
            step("main now has " + ", ".join(names))


def main():
    shutil.copytree(FIXTURES / "orders", PROJECT)
    (PROJECT / "customer_totals.sql").write_text(BROKEN_SQL)
    subprocess.run(
        [SLUICE, "import", str(FIXTURES / "data" / "orders.csv"), "--table", "orders",
         "--lake", str(LAKE)],
        check=True, cwd=WORK,
    )
    asyncio.run(agent_session())
    asyncio.run(person_merges())
    print(f"{passed} passed, 0 failed")


if __name__ == "__main__":
    main()
