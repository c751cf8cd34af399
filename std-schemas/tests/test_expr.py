import datetime
import importlib.util
import sys
import unittest
from unittest import mock

from sluice import (
    Date32, Decimal128, Schema, Timestamp, arrow_cast, coalesce, col, lit, str_lit,
)

HAS_POLARS = importlib.util.find_spec("polars") is not None
HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


class WithoutPolarsTest(unittest.TestCase):
    def test_str_lit_is_plain_str(self):
        self.assertEqual(str_lit("Int64"), "Int64")
        self.assertIs(type(str_lit("Int64")), str)
        with self.assertRaises(TypeError):
            str_lit(3)  # type: ignore[arg-type]

    def test_unknown_type_name_is_value_error(self):
        with self.assertRaisesRegex(ValueError, "unknown Arrow type name 'Int128'"):
            arrow_cast(None, "Int128")

    def test_coalesce_needs_arguments(self):
        with self.assertRaises(TypeError):
            coalesce()

    def test_helpers_raise_import_error_when_called(self):
        # Polars made unimportable (a `None` entry in sys.modules makes `import`
        # raise ImportError), so this runs whether or not polars is installed.
        with mock.patch.dict(sys.modules, {"polars": None}):
            self._assert_helpers_raise()

    def _assert_helpers_raise(self):
        for call in (lambda: col("a"), lambda: lit(1), lambda: coalesce("a"),
                     lambda: arrow_cast("a", "Int64")):
            with self.assertRaisesRegex(ImportError, r"requires the optional dependency 'polars'.*sluice\[polars\]"):
                call()


@unittest.skipUnless(HAS_POLARS, "polars is not installed")
class PolarsTest(unittest.TestCase):
    def setUp(self):
        import polars as pl

        self.pl = pl
        self.df = pl.DataFrame({
            "a": ["1", None, "3"],
            "b": [None, "x", None],
            "dt": [datetime.datetime(2024, 1, 2, 3, 4, 5)] * 3,
        })

    def test_col_lit(self):
        out = self.df.select(col("a"), lit(7).alias("seven"))
        self.assertEqual(out["seven"].to_list(), [7, 7, 7])

    def test_arrow_cast(self):
        pl = self.pl
        out = self.df.select(
            arrow_cast(col("a"), str_lit("Int64")).alias("i64"),
            arrow_cast(col("a"), "Float32").alias("f32"),
            arrow_cast(lit(1), "Utf8").alias("s"),
            arrow_cast(lit(1), "Boolean").alias("b"),
            arrow_cast(col("dt"), "Date32").alias("d"),
            arrow_cast(col("dt"), "Timestamp(Millisecond, None)").alias("ts"),
            arrow_cast(col("a"), Decimal128(12, 2)).alias("dec"),
        )
        self.assertEqual(out.schema["i64"], pl.Int64)
        self.assertEqual(out["i64"].to_list(), [1, None, 3])
        self.assertEqual(out.schema["f32"], pl.Float32)
        self.assertEqual(out.schema["s"], pl.String)
        self.assertEqual(out.schema["b"], pl.Boolean)
        self.assertEqual(out.schema["d"], pl.Date)
        self.assertEqual(out["d"][0], datetime.date(2024, 1, 2))
        self.assertEqual(out.schema["ts"], pl.Datetime("ms"))
        self.assertEqual(out.schema["dec"], pl.Decimal(12, 2))
        with self.assertRaises(ValueError):
            arrow_cast(col("a"), "NotAType")

    def test_coalesce(self):
        out = self.df.select(coalesce(col("b"), col("a"), lit("z")).alias("c"))
        self.assertEqual(out["c"].to_list(), ["1", "x", "3"])

    def test_schema_to_polars(self):
        pl = self.pl

        class S(Schema):
            a: int
            t: Timestamp("ns", "UTC")  # type: ignore[valid-type]
            d: Date32

        self.assertEqual(
            dict(S.to_polars()),
            {"a": pl.Int64, "t": pl.Datetime("ns", "UTC"), "d": pl.Date},
        )


@unittest.skipUnless(HAS_PYARROW, "pyarrow is not installed")
class PyArrowTest(unittest.TestCase):
    def test_to_arrow(self):
        import decimal

        import pyarrow as pa

        from sluice import UNION, Float16, Int8, LargeUtf8, Time64

        class S(Schema):
            a: int
            b: UNION(str, None)  # type: ignore[valid-type]
            c: Timestamp("ns", "UTC")  # type: ignore[valid-type]
            d: Decimal128(12, 2)  # type: ignore[valid-type]
            e: datetime.date
            f: Time64("ns")  # type: ignore[valid-type]
            g: decimal.Decimal
            h: Int8
            i: Float16
            j: LargeUtf8
            k: bytes
            m: datetime.timedelta

        expected = pa.schema([
            pa.field("a", pa.int64(), nullable=False),
            pa.field("b", pa.string(), nullable=True),
            pa.field("c", pa.timestamp("ns", tz="UTC"), nullable=False),
            pa.field("d", pa.decimal128(12, 2), nullable=False),
            pa.field("e", pa.date32(), nullable=False),
            pa.field("f", pa.time64("ns"), nullable=False),
            pa.field("g", pa.decimal128(38, 10), nullable=False),
            pa.field("h", pa.int8(), nullable=False),
            pa.field("i", pa.float16(), nullable=False),
            pa.field("j", pa.large_string(), nullable=False),
            pa.field("k", pa.binary(), nullable=False),
            pa.field("m", pa.duration("us"), nullable=False),
        ])
        self.assertTrue(S.to_arrow().equals(expected))


if __name__ == "__main__":
    unittest.main()
