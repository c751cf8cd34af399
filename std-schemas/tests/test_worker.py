import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from sluice import _worker

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
SRC = os.path.dirname(os.path.dirname(os.path.abspath(_worker.__file__)))


def python(code, *args):
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=env, timeout=60
    )


class DescribeTest(unittest.TestCase):
    def test_innermost_project_frame(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.realpath(tmp)
            path = os.path.join(root, "sub", "node.py")
            os.makedirs(os.path.dirname(path))
            with open(path, "w") as f:
                f.write("def helper():\n    return 1 / 0\n\ndef node():\n    return helper()\n")
            ns = {}
            with open(path) as f:
                exec(compile(f.read(), path, "exec"), ns)
            try:
                ns["node"]()
            except ZeroDivisionError as exc:
                info = _worker.describe(exc, root)
        self.assertEqual(info["type"], "ZeroDivisionError")
        self.assertEqual(info["message"], "division by zero")
        self.assertEqual((info["file"], info["line"]), ("sub/node.py", 2))
        self.assertIn("return 1 / 0", info["traceback"])
        self.assertNotIn("test_worker.py", info["traceback"].split("node.py")[-1])

    def test_syntax_error_location(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.realpath(tmp)
            path = os.path.join(root, "bad.py")
            try:
                compile("x = (\n", path, "exec")
            except SyntaxError as exc:
                info = _worker.describe(exc, root)
        self.assertEqual(info["file"], "bad.py")
        self.assertEqual(info["type"], "SyntaxError")

    def test_qualified_type_names(self):
        class Custom(Exception):
            pass

        info = _worker.describe(Custom("x"), "/nonexistent")
        self.assertTrue(info["type"].endswith("Custom"))
        self.assertIsNone(info["file"])


class ReturnValueTest(unittest.TestCase):
    def test_non_tables_are_rejected_with_their_type(self):
        for value, name in ((1, "int"), ({"a": [1]}, "dict"), (None, "NoneType")):
            with self.assertRaises(_worker._Failure) as ctx:
                _worker.write_output(value, os.devnull, "node")
            self.assertEqual(ctx.exception.phase, "return")
            self.assertIn(f"node returned {name};", ctx.exception.error["message"])

    def test_expectation_bools(self):
        self.assertIs(_worker._as_bool(True, "e"), True)
        self.assertIs(_worker._as_bool(False, "e"), False)
        with self.assertRaisesRegex(_worker._Failure, "expectation e returned int; it must return a bool"):
            _worker._as_bool(1, "e")


class NetworkTest(unittest.TestCase):
    def test_audit_hook_refuses_ip_but_not_unix_sockets(self):
        out = python(
            """
            import socket
            from sluice._worker import disable_network
            disable_network()
            a, b = socket.socketpair()
            a.sendall(b"x"); assert b.recv(1) == b"x"
            for call in (lambda: socket.create_connection(("127.0.0.1", 5432), timeout=1),
                         lambda: socket.getaddrinfo("example.com", 80),
                         lambda: socket.socket().connect(("127.0.0.1", 5432))):
                try:
                    call()
                except PermissionError as exc:
                    print("refused:", exc)
            """
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(len(lines), 3, out.stdout)
        for line in lines:
            self.assertEqual(line, "refused: " + _worker.NETWORK_MESSAGE)


@unittest.skipUnless(HAS_PYARROW, "pyarrow is not installed")
class WorkerMainTest(unittest.TestCase):
    def run_job(self, root, body, dataframe="pyarrow", kind="node", function="node"):
        import pyarrow as pa
        import pyarrow.ipc

        with open(os.path.join(root, "node.py"), "w") as f:
            f.write(textwrap.dedent(body))
        table = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})
        parts = [table.slice(0, 1), table.slice(1)]  # one input in two files
        paths = [os.path.join(root, f"in-0-{i}.arrow") for i in range(len(parts))]
        for part, path in zip(parts, paths):
            with pyarrow.ipc.new_file(path, table.schema) as w:
                w.write_table(part)
        job = {
            "version": 2, "kind": kind, "project_root": root, "file": "node.py", "function": function,
            "inputs": [{"param": "df", "table": "parent", "paths": paths}], "params": {"threshold": 2},
            "tables": ["parent"], "dataframe": dataframe, "allow_network": False,
            "output": os.path.join(root, "out.arrow"), "result": os.path.join(root, "result.json"),
        }
        with open(os.path.join(root, "job.json"), "w") as f:
            json.dump(job, f)
        proc = subprocess.run(
            [sys.executable, "-m", "sluice._worker", os.path.join(root, "job.json")],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=120,
        )
        with open(job["result"]) as f:
            result = json.load(f)
        out = None
        if result["status"] == "ok" and kind == "node":
            out = pyarrow.ipc.open_file(job["output"]).read_all()
        return proc, result, out

    def test_node_with_params_and_bare_default(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.realpath(tmp)
            proc, result, out = self.run_job(root, """
                import pyarrow.compute as pc
                def node(df=parent, threshold=0):
                    print("rows", df.num_rows)
                    return df.filter(pc.greater_equal(df["a"], threshold))
            """)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(result["status"], "ok")
        self.assertEqual(result["rows"], 2)
        self.assertEqual(out.column("a").to_pylist(), [2, 3])
        self.assertEqual(proc.stdout, "rows 3\n")
        self.assertTrue({"read_s", "compute_s", "write_s"} <= set(result["timings"]))

    @unittest.skipUnless(importlib.util.find_spec("polars") is not None, "polars is not installed")
    def test_polars_input_in_parts(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.realpath(tmp)
            proc, result, out = self.run_job(root, """
                import polars as pl
                def node(df=parent):
                    assert isinstance(df, pl.DataFrame), type(df)
                    return df.with_columns(c=pl.col("a") * 10)
            """, dataframe="polars")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(out.column("a").to_pylist(), [1, 2, 3])
        self.assertEqual(out.column("b").to_pylist(), ["x", "y", None])
        self.assertEqual(out.column("c").to_pylist(), [10, 20, 30])

    def test_user_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.realpath(tmp)
            proc, result, _ = self.run_job(root, """
                def node(df=parent):
                    raise ValueError("boom")
            """)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(result["phase"], "call")
        self.assertEqual(result["error"]["type"], "ValueError")
        self.assertEqual((result["error"]["file"], result["error"]["line"]), ("node.py", 3))

    def test_expectation(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.realpath(tmp)
            _, result, _ = self.run_job(root, """
                def node(df=parent):
                    return df.num_rows == 3
            """, kind="expectation")
        self.assertEqual((result["status"], result["passed"]), ("ok", True))


if __name__ == "__main__":
    unittest.main()
