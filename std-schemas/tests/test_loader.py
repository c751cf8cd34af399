import os
import sys
import tempfile
import textwrap
import unittest

from sluice import TableRef
from sluice import _loader


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text))


class TableNamespaceTest(unittest.TestCase):
    def test_bare_table_names_become_table_refs(self):
        ns = _loader.TableNamespace({"parent_table", "filter"})
        code = "def f(df=parent_table):\n    return df\nresult = f()\nbuiltin = filter\n"
        exec(code, ns)
        self.assertEqual(ns["result"], TableRef("parent_table"))
        self.assertIs(ns["builtin"], filter)  # builtins win over table names

    def test_unknown_names_raise_name_error(self):
        ns = _loader.TableNamespace({"parent_table"})
        with self.assertRaisesRegex(NameError, "nope"):
            exec("def f(df=nope):\n    return df\n", ns)
        exec("def g():\n    return missing\n", ns)
        with self.assertRaisesRegex(NameError, "missing"):
            ns["g"]()

    def test_module_names(self):
        self.assertEqual(_loader.module_name_for("child.py"), "child")
        self.assertEqual(_loader.module_name_for("pkg/mod.py"), "pkg.mod")
        self.assertEqual(_loader.module_name_for("pkg/__init__.py"), "pkg")
        with self.assertRaises(ValueError):
            _loader.module_name_for("query.sql")


class ProjectFinderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.realpath(self.tmp.name)
        self.saved = (list(sys.path), list(sys.meta_path), dict(sys.modules))

    def tearDown(self):
        sys.path[:], sys.meta_path[:] = self.saved[0], self.saved[1]
        for name in set(sys.modules) - set(self.saved[2]):
            del sys.modules[name]
        self.tmp.cleanup()

    def test_nodes_and_imports_between_project_modules(self):
        write(self.root, "sl_child.py", """
            from sluice import Table
            def child_table(df=parent_table, other=Table("raw")):
                return (df, other)
        """)
        write(self.root, "sl_pkg/sl_mod.py", """
            from sl_child import child_table
            from . import sl_helper
            def grand(df=other_table):
                return df
        """)
        write(self.root, "sl_pkg/sl_helper.py", "VALUE = 1\n")
        finder = _loader.install(self.root, ["parent_table", "child_table", "raw", "other_table"])
        mod = _loader.load_module(finder, "sl_pkg/sl_mod.py")
        self.assertEqual(mod.grand(), TableRef("other_table"))
        self.assertEqual(mod.child_table(), (TableRef("parent_table"), TableRef("raw")))
        self.assertIs(sys.modules["sl_child"].child_table, mod.child_table)
        self.assertEqual(mod.sl_helper.VALUE, 1)
        again = _loader.load_module(finder, "sl_child.py")
        self.assertIs(again, sys.modules["sl_child"])

    def test_stdlib_names_are_not_taken_over(self):
        write(self.root, "json.py", "def node(df=t):\n    return df\n")
        finder = _loader.install(self.root, ["t"])
        import json

        self.assertTrue(hasattr(json, "dumps"))
        mod = _loader.load_module(finder, "json.py")
        self.assertEqual(mod.node(), TableRef("t"))
        self.assertIs(sys.modules["json"], json)

    def test_errors_propagate_and_unregister(self):
        write(self.root, "sl_broken.py", "def f(df=unknown_name):\n    pass\n")
        finder = _loader.install(self.root, [])
        with self.assertRaises(NameError):
            _loader.load_module(finder, "sl_broken.py")
        self.assertNotIn("sl_broken", sys.modules)
        with self.assertRaises(FileNotFoundError):
            _loader.load_module(finder, "sl_absent.py")


if __name__ == "__main__":
    unittest.main()
