import unittest

from sluice import Schema, Source, Table, TableRef


class RawSchema(Schema):
    col1: str


class SourceTest(unittest.TestCase):
    def test_source(self):
        raw_table = Source(RawSchema)
        self.assertIs(raw_table.schema, RawSchema)
        self.assertIsNone(raw_table.name)
        ns_table = Source(RawSchema, name="ns.table")
        self.assertEqual(ns_table.name, "ns.table")
        self.assertEqual(Source(RawSchema, "a"), Source(RawSchema, name="a"))

    def test_source_validation(self):
        with self.assertRaisesRegex(TypeError, "Schema subclass"):
            Source(int)  # type: ignore[type-var]
        with self.assertRaisesRegex(TypeError, "Schema subclass"):
            Source(RawSchema.col1)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            Source(RawSchema, name="bad name")


class TableTest(unittest.TestCase):
    def test_table(self):
        ref = Table("raw_table")
        self.assertIsInstance(ref, TableRef)
        self.assertEqual(ref.name, "raw_table")
        self.assertEqual(Table("ns.table").name, "ns.table")
        self.assertEqual(Table("a.b.c"), TableRef("a.b.c"))

    def test_as_parameter_default(self):
        def child_table(df: RawSchema = Table("raw_table")) -> RawSchema: ...

        self.assertEqual(child_table.__defaults__, (TableRef("raw_table"),))

    def test_invalid_names(self):
        for name in ("", ".", "a.", ".a", "a..b", "a b", "1abc", "a-b", "ns.1t", 3, None):
            with self.subTest(name=name):
                with self.assertRaisesRegex(ValueError, "invalid table name"):
                    Table(name)  # type: ignore[arg-type]


if __name__ == "__main__":
    unittest.main()
