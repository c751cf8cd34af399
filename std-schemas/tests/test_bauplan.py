import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from sluice import _bauplan, _worker

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
SRC = os.path.dirname(os.path.dirname(os.path.abspath(_worker.__file__)))


def python(code, *, path=()):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, *path])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )


class DecoratorTest(unittest.TestCase):
    def test_decorators_record_and_return_the_function(self):
        @_bauplan.model(name="orders.clean", columns=["a"], materialization_strategy="REPLACE", extra=1)
        @_bauplan.python("3.11", pip={"polars": "2.1.0"})
        def clean(data=_bauplan.Model("orders")):
            return data

        self.assertEqual(clean(data=3), 3)
        self.assertEqual(clean.__name__, "clean")
        self.assertEqual(clean.__bauplan__["python"], {"version": "3.11", "pip": {"polars": "2.1.0"}})
        model = clean.__bauplan__["model"]
        self.assertEqual((model["name"], model["columns"], model["extra"]), ("orders.clean", ["a"], 1))

    def test_bare_decorators(self):
        @_bauplan.model
        @_bauplan.python
        @_bauplan.expectation
        def f(x=1):
            return x

        self.assertEqual(f(), 1)
        self.assertEqual(set(f.__bauplan__), {"model", "python", "expectation"})
        self.assertIsNone(f.__bauplan__["model"]["name"])

    def test_other_decorators(self):
        @_bauplan.expectation()
        @_bauplan.resources(cpus=1, memory="1G")
        @_bauplan.extras("ai")
        @_bauplan.pyspark(version="3.5")
        @_bauplan.synthetic_model("s", columns=["a"])
        def g():
            return True

        self.assertTrue(g())
        self.assertEqual(g.__bauplan__["resources"]["memory"], "1G")
        self.assertEqual(g.__bauplan__["extras"], {"extras": ["ai"]})

    def test_model_and_parameter_values(self):
        m = _bauplan.Model("trips", columns=("a", "b"), filter="a > 1", ref="main")
        self.assertEqual((m.name, m.columns, m.filter, m.options), ("trips", ["a", "b"], "a > 1", {"ref": "main"}))
        self.assertIn("filter='a > 1'", repr(m))
        p = _bauplan.Parameter("min_miles")
        self.assertEqual((p.param_name, p.name), ("min_miles", "min_miles"))
        self.assertEqual(p, _bauplan.Parameter("min_miles"))
        for bad in (lambda: _bauplan.Model(""), lambda: _bauplan.Model("t", columns="a"), lambda: _bauplan.Parameter(3)):
            with self.assertRaises(TypeError):
                bad()

    def test_schemas_are_sluices(self):
        from sluice import BauplanSchema, Schema

        self.assertIs(_bauplan.Schema, Schema)
        self.assertIs(_bauplan.BauplanSchema, BauplanSchema)


class FallbackTest(unittest.TestCase):
    def test_import_bauplan_without_the_sdk(self):
        out = python(
            """
            from sluice import _bauplan
            _bauplan.install(); _bauplan.install()
            import bauplan
            from bauplan.standard_expectations import expect_column_no_nulls
            import sys
            print(bauplan.__sluice_fallback__, bauplan.Parameter("x"), callable(expect_column_no_nulls))
            print(sum(type(f).__name__ == "FallbackFinder" for f in sys.meta_path))
            try:
                import bauplan.nothing
            except ModuleNotFoundError:
                print("no bauplan.nothing")
            """
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["True bauplan.Parameter('x') True", "1", "no bauplan.nothing"])

    def test_a_real_bauplan_package_wins(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "bauplan"))
            with open(os.path.join(tmp, "bauplan", "__init__.py"), "w") as f:
                f.write("REAL = True\n")
            out = python(
                """
                from sluice import _bauplan
                _bauplan.install()
                import bauplan
                print(bauplan.REAL, hasattr(bauplan, "__sluice_fallback__"))
                try:
                    import bauplan.standard_expectations
                except ModuleNotFoundError:
                    print("not served")
                """,
                path=[tmp],
            )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["True False", "not served"])


class TypedSchemaTest(unittest.TestCase):
    def test_table_schemas_with_bauplans_field_types(self):
        from typing import Annotated

        class Orders(_bauplan.TableSchema):
            id: _bauplan.Int64
            amount: _bauplan.Float64 | None
            customer: Annotated[_bauplan.String, _bauplan.TableField(doc="who ordered")]
            at: _bauplan.TimestampMicroUTC | None
            day: _bauplan.Date32

        self.assertEqual(
            [(c["name"], c["type"], c["nullable"]) for c in Orders.to_dict()["columns"]],
            [
                ("id", "Int64", False),
                ("amount", "Float64", True),
                ("customer", "Utf8", False),
                ("at", 'Timestamp(Microsecond, Some("UTC"))', True),
                ("day", "Date32", False),
            ],
        )
        self.assertEqual(_bauplan.TimestampNano().arrow_name, "Timestamp(Nanosecond, None)")
        model = _bauplan.Model("orders", projection_schema=Orders, filter="amount > $min")
        self.assertEqual((model.name, model.filter, model.options), ("orders", "amount > $min", {"projection_schema": Orders}))


class ArgumentsTest(unittest.TestCase):
    JOB = {"function": "node", "file": "models/node.py", "params": {"min_miles": 2.5, "limit": 3}}

    def load(self, source):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)  # inspect.getsource reads the file
        path = os.path.join(tmp.name, "mod.py")
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location("bauplan_args_test_mod", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def test_parameter_objects_get_their_keys_value(self):
        mod = self.load(
            """
            from sluice import _bauplan as bauplan
            def node(data=bauplan.Model("t"), m=bauplan.Parameter("min_miles"), limit=0, other=1):
                return data
            """
        )
        kwargs = _worker._arguments(mod.node, self.JOB, {"data": "T"})
        self.assertEqual(kwargs, {"data": "T", "m": 2.5, "limit": 3})

    def test_the_real_sdks_none_defaults_are_read_from_the_source(self):
        mod = self.load(
            """
            class _Tracker:
                def __call__(self, param_name):
                    return None
            class bauplan:
                Parameter = _Tracker()
                @staticmethod
                def Model(*a, **k):
                    return None
            def node(data=bauplan.Model("t"), m=bauplan.Parameter("min_miles"), *, n=bauplan.Parameter(param_name="limit")):
                return data
            """
        )
        self.assertEqual(_worker._source_run_parameters(mod.node), {"m": "min_miles", "n": "limit"})
        kwargs = _worker._arguments(mod.node, self.JOB, {"data": "T"})
        self.assertEqual(kwargs, {"data": "T", "m": 2.5, "n": 3})

    def test_a_missing_parameter_names_function_file_and_parameter(self):
        mod = self.load(
            """
            from sluice import _bauplan as bauplan
            def node(data=bauplan.Model("t"), rate=bauplan.Parameter("interest_rate")):
                return data
            """
        )
        with self.assertRaises(_worker._Failure) as ctx:
            _worker._arguments(mod.node, self.JOB, {"data": "T"})
        message = ctx.exception.error["message"]
        self.assertEqual(ctx.exception.phase, "input")
        for part in ("node (models/node.py)", "parameter 'rate'", "'interest_rate'", "--param interest_rate=VALUE"):
            self.assertIn(part, message)

    def test_typed_parameters_get_their_keys_value(self):
        # Bauplan's typed SDK: `Annotated[T, Parameter("key")]`, no default; with the
        # annotation evaluated, and as text (`from __future__ import annotations`).
        for future in ("", "from __future__ import annotations\n"):
            mod = self.load(
                future
                + """
from typing import Annotated
from sluice import _bauplan as bauplan
def node(
    data: Annotated[object, bauplan.Model("t")],
    m: Annotated[float, bauplan.Parameter("min_miles")],
    *,
    n: Annotated[int, bauplan.Parameter(param_name="limit")],
    limit: int = 0,
):
    return data
"""
            )
            kwargs = _worker._arguments(mod.node, self.JOB, {"data": "T"})
            self.assertEqual(kwargs, {"data": "T", "m": 2.5, "n": 3, "limit": 3}, future)

    def test_a_missing_typed_parameter_names_it(self):
        mod = self.load(
            """
            from typing import Annotated
            from sluice import _bauplan as bauplan
            def node(data=bauplan.Model("t"), rate: Annotated[float, bauplan.Parameter("interest_rate")] = None):
                return data
            """
        )
        with self.assertRaisesRegex(_worker._Failure, "parameter 'rate' reads the run parameter 'interest_rate'"):
            _worker._arguments(mod.node, self.JOB, {"data": "T"})

    def test_a_model_without_an_input_is_an_error(self):
        mod = self.load(
            """
            from sluice import _bauplan as bauplan
            def node(data=bauplan.Model("orders")):
                return data
            """
        )
        with self.assertRaisesRegex(_worker._Failure, r"no input was given for parameter 'data' \(table orders\)"):
            _worker._arguments(mod.node, self.JOB, {})


@unittest.skipUnless(HAS_PYARROW, "pyarrow is not installed")
class StandardExpectationsTest(unittest.TestCase):
    def test_column_checks(self):
        import pyarrow as pa

        from sluice import _bauplan_expectations as se

        t = pa.table({"a": [1, 2, 2, None], "b": ["x", "y", "z", "w"], "ab": ["1x", "2y", "2z", None]})
        self.assertFalse(se.expect_column_no_nulls(t, "a"))
        self.assertTrue(se.expect_column_no_nulls(t, "b"))
        self.assertTrue(se.expect_column_some_null(t, "a"))
        self.assertFalse(se.expect_column_all_null(t, "a"))
        self.assertTrue(se.expect_column_all_unique(t, "b"))
        self.assertTrue(se.expect_column_not_unique(t, "a"))
        self.assertTrue(se.expect_column_accepted_values(t, "b", ["w", "x", "y", "z"]))
        self.assertFalse(se.expect_column_accepted_values(t, "b", ["x"]))
        self.assertTrue(se.expect_column_mean_greater_than(t, "a", 1.5))
        self.assertTrue(se.expect_column_mean_smaller_or_equal_than(t, "a", 5 / 3))
        self.assertFalse(se.expect_column_mean_smaller_than(t, "a", 1.0))
        self.assertTrue(se.expect_column_equal_concatenation(t, "ab", ["a", "b"]))
        with self.assertRaisesRegex(KeyError, "no column 'c'"):
            se.expect_column_no_nulls(t, "c")


@unittest.skipUnless(HAS_PYARROW, "pyarrow is not installed")
class BauplanNodeInTheWorkerTest(unittest.TestCase):
    def test_a_bauplan_style_node_runs(self):
        import pyarrow as pa
        import pyarrow.ipc

        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.realpath(tmp)
            with open(os.path.join(root, "node.py"), "w") as f:
                f.write(
                    textwrap.dedent(
                        """
                        import bauplan
                        import pyarrow.compute as pc

                        @bauplan.model(columns=["a"])
                        @bauplan.python("3.11", pip={"pyarrow": "26.0.1"})
                        def node(data=bauplan.Model("parent", columns=["a"]), at_least=bauplan.Parameter("min_a")):
                            return data.filter(pc.greater_equal(data["a"], at_least))
                        """
                    )
                )
            inp = os.path.join(root, "in.arrow")
            table = pa.table({"a": [1, 2, 3]})
            with pyarrow.ipc.new_file(inp, table.schema) as w:
                w.write_table(table)
            job = {
                "version": 2, "kind": "node", "project_root": root, "file": "node.py", "function": "node",
                "inputs": [{"param": "data", "table": "parent", "paths": [inp]}], "params": {"min_a": 2},
                "tables": ["parent"], "dataframe": "pyarrow", "allow_network": False,
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
            self.assertEqual(proc.returncode, 0, (proc.stderr, result))
            out = pyarrow.ipc.open_file(job["output"]).read_all()
        self.assertEqual(out.column("a").to_pylist(), [2, 3])


if __name__ == "__main__":
    unittest.main()


class Decimal128Test(unittest.TestCase):
    def test_takes_bauplan_literal_parameters(self):
        from typing import Literal

        price = _bauplan.Decimal128[Literal[12], Literal[2]]
        self.assertEqual((price.precision, price.scale), (12, 2))
        self.assertEqual(price.arrow_name, "Decimal128(12, 2)")
        self.assertEqual(_bauplan.Decimal128(38, 10).arrow_name, "Decimal128(38, 10)")
        with self.assertRaises(TypeError):
            _bauplan.Decimal128[Literal[12]]
