"""sluice: schemas, table references and helpers for sluice pipeline code.

The sluice compiler reads pipeline code statically; this package makes that
code importable and gives faithful runtime descriptions of its schemas::

    from datetime import datetime
    from sluice import Schema, Source, Table, UNION, NotNull

    class RawSchema(Schema):
        col1: str
        col2: datetime

    raw_table = Source(RawSchema)

    class ChildSchema(Schema):
        col2 = RawSchema.col2
        col5: UNION(str, None)

    def child_table(df: RawSchema = Table("raw_table")) -> ChildSchema: ...

Only the standard library is required; Polars and pyarrow are optional.
"""

from .decorators import expectation, model, python
from .dtypes import (
    Binary,
    BinaryView,
    Bool,
    Boolean,
    DataType,
    Date32,
    Date64,
    Decimal128,
    Duration,
    Float16,
    Float32,
    Float64,
    Int8,
    Int16,
    Int32,
    Int64,
    LargeBinary,
    LargeUtf8,
    Time64,
    Timestamp,
    TimeUnit,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Utf8,
    Utf8View,
    parse_arrow_type,
    to_dtype,
)
from .expr import arrow_cast, coalesce, col, lit, str_lit
from .schema import (
    UNION,
    BauplanSchema,
    Column,
    NotNull,
    NullabilityMarker,
    Nullable,
    Schema,
    SchemaMeta,
    Source,
    Table,
    TableRef,
    schema_to_dict,
)

__version__ = "0.1.0"

__all__ = [
    # schemas
    "Schema",
    "SchemaMeta",
    "BauplanSchema",
    "Column",
    "NotNull",
    "Nullable",
    "NullabilityMarker",
    "UNION",
    "schema_to_dict",
    # tables
    "Source",
    "Table",
    "TableRef",
    # data types
    "DataType",
    "TimeUnit",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float16",
    "Float32",
    "Float64",
    "Utf8",
    "LargeUtf8",
    "Utf8View",
    "Bool",
    "Boolean",
    "Binary",
    "LargeBinary",
    "BinaryView",
    "Date32",
    "Date64",
    "Timestamp",
    "Time64",
    "Duration",
    "Decimal128",
    "parse_arrow_type",
    "to_dtype",
    # expressions
    "col",
    "lit",
    "str_lit",
    "arrow_cast",
    "coalesce",
    # decorators
    "python",
    "model",
    "expectation",
]
