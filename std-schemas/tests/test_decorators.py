import unittest

from sluice import Schema, Table, expectation, model, python


class In(Schema):
    a: int


class DecoratorsTest(unittest.TestCase):
    def test_python(self):
        def f(): ...

        self.assertIs(python(pip={"polars": "1.0"})(f), f)
        self.assertEqual(f.__sluice__, {"python": {"version": None, "pip": {"polars": "1.0"}}})

        @python("3.11", pip={"polars": "1.0"})
        def g(): ...

        self.assertEqual(g.__sluice__["python"], {"version": "3.11", "pip": {"polars": "1.0"}})

        @python()
        def h(): ...

        self.assertEqual(h.__sluice__["python"], {"version": None, "pip": None})

    def test_python_dataframe(self):
        for kind in ("polars", "pyarrow", "pandas"):
            @python(pip={"pandas": "2.2"}, dataframe=kind)
            def f(): ...

            self.assertEqual(f.__sluice__["python"], {"version": None, "pip": {"pandas": "2.2"}, "dataframe": kind})
        with self.assertRaisesRegex(ValueError, "dataframe must be one of 'polars', 'pyarrow', 'pandas', got 'numpy'"):
            python(dataframe="numpy")
        with self.assertRaisesRegex(ValueError, "dataframe"):
            python(dataframe=1)  # type: ignore[arg-type]

    def test_model_and_stacking(self):
        @model(name="child", columns=["a"], materialization_strategy="REPLACE")
        @python("3.11")
        def child(data: In = Table("raw")) -> In: ...

        self.assertEqual(
            child.__sluice__,
            {
                "python": {"version": "3.11", "pip": None},
                "model": {"name": "child", "columns": ["a"], "materialization_strategy": "REPLACE"},
            },
        )
        self.assertEqual(child.__name__, "child")

        @model()
        def plain(): ...

        self.assertEqual(plain.__sluice__["model"], {"name": None, "columns": None, "materialization_strategy": None})

    def test_expectation(self):
        @expectation()
        @python()
        def check(data: In = Table("child")) -> bool:
            return True

        self.assertEqual(check.__sluice__["expectation"], {})
        self.assertIn("python", check.__sluice__)
        self.assertTrue(check())

    def test_metadata_not_shared_between_functions(self):
        @python("3.11")
        def a(): ...

        b = model()(a)
        self.assertIs(b, a)
        self.assertEqual(set(a.__sluice__), {"python", "model"})

    def test_validation(self):
        with self.assertRaisesRegex(TypeError, "must be called"):
            @python
            def f(): ...
        with self.assertRaisesRegex(TypeError, "must be called"):
            @model
            def g(): ...
        with self.assertRaisesRegex(ValueError, "python version"):
            python("three")
        with self.assertRaisesRegex(TypeError, "pip"):
            python(pip=["polars"])  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "columns"):
            model(columns="a")
        with self.assertRaisesRegex(ValueError, "model name"):
            model(name="not valid")
        with self.assertRaisesRegex(TypeError, "must decorate a function"):
            expectation()(3)  # type: ignore[type-var]


if __name__ == "__main__":
    unittest.main()
