"""Schemas declared in a module with postponed (string) annotations."""

from __future__ import annotations

import datetime
import unittest
from typing import Optional
from unittest import mock

from sluice import UNION, Decimal128, Int32, NotNull, Schema, Timestamp


class Child(Schema):
    col2: datetime.datetime
    col4: float
    col5: UNION(str, None)
    col6: Optional[int]
    col7: str | None


class Friend(Schema):
    col2 = Child.col2
    col5 = Child.col5[NotNull]


class Extended(Child):
    n: Int32
    ts: Timestamp("ns", "UTC")
    amount: Decimal128(12, 2)


def triples(schema):
    return [(c.name, c.dtype.arrow_name, c.nullable) for c in schema.columns()]


class FutureAnnotationsTest(unittest.TestCase):
    def test_annotations_are_strings(self):
        self.assertEqual(Child.__annotations__["col5"], "UNION(str, None)")

    def test_resolved_columns(self):
        self.assertEqual(
            triples(Extended),
            [
                ("col2", "Timestamp(Microsecond, None)", False),
                ("col4", "Float64", False),
                ("col5", "Utf8", True),
                ("col6", "Int64", True),
                ("col7", "Utf8", True),
                ("n", "Int32", False),
                ("ts", 'Timestamp(Nanosecond, Some("UTC"))', False),
                ("amount", "Decimal128(12, 2)", False),
            ],
        )
        self.assertEqual(triples(Friend), [("col2", "Timestamp(Microsecond, None)", False), ("col5", "Utf8", False)])

    def test_local_names_resolve(self):
        Local = Timestamp("ms")  # noqa: N806 - only visible in this function

        class S(Schema):
            a: Local
            b: UNION(Local, None)

        self.assertEqual(triples(S), [("a", "Timestamp(Millisecond, None)", False), ("b", "Timestamp(Millisecond, None)", True)])

    def test_fallback_when_get_type_hints_fails(self):
        with mock.patch("typing.get_type_hints", side_effect=TypeError("not a type")):
            class S(Schema):
                a: Timestamp("ns")
                b: UNION(int, None)

        self.assertEqual(triples(S), [("a", "Timestamp(Nanosecond, None)", False), ("b", "Int64", True)])

    def test_unresolvable_annotation(self):
        with self.assertRaisesRegex(TypeError, r"cannot evaluate the annotation 'Missing' of S\.a"):
            class S(Schema):
                a: Missing  # noqa: F821


if __name__ == "__main__":
    unittest.main()
