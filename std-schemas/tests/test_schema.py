import datetime
import json
import typing
import unittest
from typing import Annotated, ClassVar, Optional, Union

from sluice import (
    UNION, BauplanSchema, Column, Decimal128, Float64, Int32, Int64, NotNull, Nullable,
    Schema, Timestamp, Utf8, schema_to_dict,
)


class RawSchema(Schema):
    col1: str
    col2: datetime.datetime
    col3: int


class ChildSchema(Schema):
    col2: datetime.datetime
    col4: float
    col5: UNION(str, None)  # type: ignore[valid-type]


class FriendSchema(Schema):
    col2 = ChildSchema.col2
    col5 = ChildSchema.col5[NotNull]


class Extended(ChildSchema):
    col6: Int32
    ts: Timestamp("ns", "UTC")  # type: ignore[valid-type]
    amount: Decimal128(12, 2)  # type: ignore[valid-type]


class Old(BauplanSchema):
    a: int


def triples(schema):
    return [(c.name, c.dtype.arrow_name, c.nullable) for c in schema.columns()]


class ColumnsTest(unittest.TestCase):
    def test_annotations_in_order(self):
        self.assertEqual(
            triples(RawSchema),
            [("col1", "Utf8", False), ("col2", "Timestamp(Microsecond, None)", False), ("col3", "Int64", False)],
        )
        self.assertEqual(RawSchema.column_names(), ["col1", "col2", "col3"])
        self.assertTrue(all(c.source is None for c in RawSchema.columns()))

    def test_columns_is_a_fresh_list(self):
        RawSchema.columns().clear()
        self.assertEqual(len(RawSchema.columns()), 3)

    def test_non_null_by_default_and_union_nullable(self):
        self.assertEqual(
            triples(ChildSchema),
            [("col2", "Timestamp(Microsecond, None)", False), ("col4", "Float64", False), ("col5", "Utf8", True)],
        )

    def test_column_attribute(self):
        self.assertIsInstance(ChildSchema.col2, Column)
        self.assertEqual(ChildSchema.col2, Column("col2", Timestamp(), False, None))
        self.assertIs(ChildSchema.col2.schema, ChildSchema)
        self.assertEqual(ChildSchema.column("col4").dtype, Float64())
        with self.assertRaises(KeyError):
            ChildSchema.column("nope")

    def test_attribute_form_inherits_columns(self):
        self.assertEqual(
            FriendSchema.columns(),
            [
                Column("col2", Timestamp(), False, (ChildSchema, "col2")),
                Column("col5", Utf8(), False, (ChildSchema, "col5")),
            ],
        )
        self.assertIs(FriendSchema.col5.schema, FriendSchema)

    def test_nullability_markers(self):
        self.assertFalse(ChildSchema.col5[NotNull].nullable)
        self.assertTrue(ChildSchema.col2[Nullable].nullable)
        self.assertFalse(ChildSchema.col2.nullable)  # original untouched
        with self.assertRaisesRegex(TypeError, "NotNull or Nullable"):
            ChildSchema.col2[0]  # type: ignore[index]

    def test_reference_chain_and_rename(self):
        class Third(Schema):
            renamed = FriendSchema.col5[Nullable]

        (column,) = Third.columns()
        self.assertEqual((column.name, column.dtype, column.nullable), ("renamed", Utf8(), True))
        self.assertEqual(column.source, (FriendSchema, "col5"))

    def test_class_inheritance_parent_columns_first(self):
        self.assertEqual(
            triples(Extended),
            [
                ("col2", "Timestamp(Microsecond, None)", False),
                ("col4", "Float64", False),
                ("col5", "Utf8", True),
                ("col6", "Int32", False),
                ("ts", 'Timestamp(Nanosecond, Some("UTC"))', False),
                ("amount", "Decimal128(12, 2)", False),
            ],
        )
        self.assertIs(Extended.col2.schema, Extended)
        self.assertIs(ChildSchema.col2.schema, ChildSchema)
        self.assertEqual(len(ChildSchema.columns()), 3)

    def test_override_keeps_position(self):
        class Narrowed(ChildSchema):
            col4: Int64

        self.assertEqual(Narrowed.column_names(), ["col2", "col4", "col5"])
        self.assertEqual(Narrowed.col4.dtype, Int64())

    def test_mixed_forms_keep_declaration_order(self):
        class Mixed(Schema):
            a: int
            b = ChildSchema.col4
            c: str
            d = ChildSchema.col5

            def helper(self) -> None:
                """Methods are not columns."""

            LIMIT: ClassVar[int] = 3

        self.assertEqual(Mixed.column_names(), ["a", "b", "c", "d"])

    def test_bauplan_schema(self):
        self.assertTrue(issubclass(BauplanSchema, Schema))
        self.assertEqual(triples(Old), [("a", "Int64", False)])
        self.assertEqual(BauplanSchema.columns(), [])
        self.assertEqual(Schema.columns(), [])

    def test_annotated_overrides(self):
        class WithAnnotated(Schema):
            a: Annotated[datetime.datetime, Timestamp("ms")]
            b: Annotated[Optional[str], NotNull]
            c: Annotated[int, Nullable]

        self.assertEqual(
            triples(WithAnnotated),
            [("a", "Timestamp(Millisecond, None)", False), ("b", "Utf8", False), ("c", "Int64", True)],
        )

    def test_reserved_names(self):
        with self.assertRaisesRegex(TypeError, "clashes"):
            class Bad(Schema):
                columns: int


class NullabilityTest(unittest.TestCase):
    def test_all_spellings_mean_nullable(self):
        class S(Schema):
            a: UNION(str, None)  # type: ignore[valid-type]
            b: UNION(None, str)  # type: ignore[valid-type]
            c: Optional[str]
            d: str | None
            e: Union[str, None]
            f: Union[None, str]
            g: UNION(Timestamp("ns"), None)  # type: ignore[valid-type]
            h: UNION(Int32, None)  # type: ignore[valid-type]
            i: UNION(int)  # type: ignore[valid-type]

        self.assertEqual(
            [(c.dtype, c.nullable) for c in S.columns()],
            [(Utf8(), True)] * 6 + [(Timestamp("ns"), True), (Int32(), True), (Int64(), False)],
        )

    def test_union_returns_valid_annotations(self):
        self.assertEqual(UNION(str, None), Optional[str])
        self.assertEqual(UNION(None, int), Optional[int])
        self.assertIs(UNION(str), str)
        self.assertEqual(typing.get_args(UNION(Int32, None)), (Int32, type(None)))
        self.assertIs(typing.get_origin(typing.get_args(UNION(Timestamp("ns"), None))[0]), Annotated)

    def test_union_of_different_types(self):
        with self.assertRaisesRegex(TypeError, "sluice columns cannot be a union of different types"):
            UNION(str, int)
        with self.assertRaisesRegex(TypeError, "sluice columns cannot be a union of different types"):
            UNION(str, int, None)
        self.assertEqual(UNION(str, Utf8, None), Optional[str])  # same Arrow type is fine

    def test_union_misuse(self):
        with self.assertRaises(TypeError):
            UNION()
        with self.assertRaises(TypeError):
            UNION(None)
        with self.assertRaisesRegex(TypeError, "unsupported"):
            UNION(list, None)

    def test_typing_union_of_different_types_in_schema(self):
        with self.assertRaisesRegex(TypeError, r"union of different types.*Bad\.x"):
            class Bad(Schema):
                x: Union[int, str]
        with self.assertRaisesRegex(TypeError, "union of different types"):
            class Bad2(Schema):
                x: int | float | None

    def test_unsupported_annotation(self):
        with self.assertRaisesRegex(TypeError, r"unsupported sluice column type.*Bad\.x"):
            class Bad(Schema):
                x: list
        with self.assertRaisesRegex(TypeError, "cannot have type None"):
            class Bad2(Schema):
                x: None


class DictTest(unittest.TestCase):
    def test_schema_to_dict(self):
        expected = {
            "name": "ChildSchema",
            "columns": [
                {"name": "col2", "type": "Timestamp(Microsecond, None)", "nullable": False},
                {"name": "col4", "type": "Float64", "nullable": False},
                {"name": "col5", "type": "Utf8", "nullable": True},
            ],
        }
        self.assertEqual(schema_to_dict(ChildSchema), expected)
        self.assertEqual(ChildSchema.to_dict(), expected)
        self.assertEqual(json.loads(json.dumps(expected)), ChildSchema.to_dict())

    def test_schema_to_dict_rejects_non_schemas(self):
        with self.assertRaises(TypeError):
            schema_to_dict(int)  # type: ignore[arg-type]


if __name__ == "__main__":
    unittest.main()
