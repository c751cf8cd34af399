import datetime
import decimal
import unittest

from sluice import (
    Binary, BinaryView, Bool, Boolean, DataType, Date32, Date64, Decimal128, Duration,
    Float16, Float32, Float64, Int8, Int16, Int32, Int64, LargeBinary, LargeUtf8,
    Time64, Timestamp, UInt8, UInt16, UInt32, UInt64, Utf8, Utf8View,
    parse_arrow_type, to_dtype,
)


class ArrowNamesTest(unittest.TestCase):
    def test_simple_type_names(self):
        for cls in (Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64, Float16,
                    Float32, Float64, Utf8, LargeUtf8, Utf8View, Boolean, Binary,
                    LargeBinary, BinaryView, Date32, Date64):
            with self.subTest(cls=cls):
                self.assertEqual(cls().arrow_name, cls.__name__)
                self.assertEqual(str(cls()), cls.__name__)
                self.assertIsInstance(cls(), DataType)

    def test_bool_is_boolean(self):
        self.assertIs(Bool, Boolean)
        self.assertEqual(Bool(), Boolean())

    def test_parameterised_names(self):
        self.assertEqual(Timestamp().arrow_name, "Timestamp(Microsecond, None)")
        self.assertEqual(Timestamp("ns", "UTC").arrow_name, 'Timestamp(Nanosecond, Some("UTC"))')
        self.assertEqual(Timestamp("s").arrow_name, "Timestamp(Second, None)")
        self.assertEqual(Timestamp("ms", tz="+02:00").arrow_name, 'Timestamp(Millisecond, Some("+02:00"))')
        self.assertEqual(Decimal128(12, 2).arrow_name, "Decimal128(12, 2)")
        self.assertEqual(Decimal128().arrow_name, "Decimal128(38, 10)")
        self.assertEqual(Duration("ms").arrow_name, "Duration(Millisecond)")
        self.assertEqual(Time64("ns").arrow_name, "Time64(Nanosecond)")

    def test_values_are_frozen_and_comparable(self):
        self.assertEqual(Timestamp("ns", "UTC"), Timestamp("ns", "UTC"))
        self.assertNotEqual(Timestamp("ns"), Timestamp("us"))
        self.assertNotEqual(Int32(), Int64())
        self.assertEqual(len({Int64(), Int64(), Utf8()}), 2)
        with self.assertRaises(AttributeError):
            Timestamp().unit = "ns"  # type: ignore[misc]

    def test_abstract_base(self):
        with self.assertRaises(TypeError):
            DataType()


class ValidationTest(unittest.TestCase):
    def test_bad_units(self):
        with self.assertRaisesRegex(ValueError, "Timestamp unit must be one of"):
            Timestamp("minutes")  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "Time64 unit must be one of 'us', 'ns'"):
            Time64("s")  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "Duration unit"):
            Duration("h")  # type: ignore[arg-type]

    def test_bad_time_zone(self):
        with self.assertRaisesRegex(ValueError, "tz"):
            Timestamp("us", "")

    def test_bad_decimal(self):
        for precision, scale in ((0, 0), (39, 2), (12, 13), (True, 0), (12.0, 2)):
            with self.subTest(precision=precision, scale=scale):
                with self.assertRaisesRegex(ValueError, "Decimal128"):
                    Decimal128(precision, scale)  # type: ignore[arg-type]
        self.assertEqual(Decimal128(38, 0).scale, 0)


class PythonTypesTest(unittest.TestCase):
    def test_mapping(self):
        expected = {
            str: "Utf8",
            int: "Int64",
            float: "Float64",
            bool: "Boolean",
            bytes: "Binary",
            datetime.datetime: "Timestamp(Microsecond, None)",
            datetime.date: "Date32",
            datetime.time: "Time64(Microsecond)",
            datetime.timedelta: "Duration(Microsecond)",
            decimal.Decimal: "Decimal128(38, 10)",
        }
        for tp, name in expected.items():
            with self.subTest(tp=tp):
                self.assertEqual(to_dtype(tp).arrow_name, name)

    def test_bare_and_called_arrow_types(self):
        self.assertEqual(to_dtype(Int32), Int32())
        self.assertEqual(to_dtype(Timestamp), Timestamp("us", None))
        self.assertEqual(to_dtype(Timestamp("ns")), Timestamp("ns"))

    def test_unsupported(self):
        for tp in (list, dict, object, "int", DataType, None):
            with self.subTest(tp=tp):
                with self.assertRaisesRegex(TypeError, "unsupported sluice column type"):
                    to_dtype(tp)


class ParseTest(unittest.TestCase):
    def test_round_trip(self):
        for dtype in (Int8(), UInt64(), Float16(), Utf8(), Utf8View(), Boolean(), Date32(),
                      Date64(), Timestamp(), Timestamp("ns", "UTC"), Time64("ns"),
                      Duration("s"), Decimal128(12, 2)):
            with self.subTest(dtype=dtype):
                self.assertEqual(parse_arrow_type(dtype.arrow_name), dtype)

    def test_short_spellings(self):
        self.assertEqual(parse_arrow_type("Timestamp(µs)"), Timestamp())
        self.assertEqual(parse_arrow_type('Timestamp(ns, "UTC")'), Timestamp("ns", "UTC"))
        self.assertEqual(parse_arrow_type("Duration(ms)"), Duration("ms"))
        self.assertEqual(parse_arrow_type(" Int64 "), Int64())

    def test_unknown(self):
        for name in ("Int128", "int64", "Timestamp(Hour, None)", "Time64(Second)",
                     "Decimal128(12)", "Decimal128(40, 2)", "Timestamp(ns, UTC)", ""):
            with self.subTest(name=name):
                with self.assertRaisesRegex(ValueError, "Arrow type name"):
                    parse_arrow_type(name)


class OptionalDependencyErrorTest(unittest.TestCase):
    def test_to_arrow_without_pyarrow_mentions_extra(self):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            with self.assertRaisesRegex(ImportError, r"pyarrow"):
                Int64().to_arrow()
        else:
            self.assertEqual(str(Int64().to_arrow()), "int64")


if __name__ == "__main__":
    unittest.main()
