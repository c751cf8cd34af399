"""``bauplan.standard_expectations`` for the sluice worker (see :mod:`sluice._bauplan`).

The column checks of Bauplan's SDK, over a pyarrow ``Table`` (what Bauplan-style
functions receive; a Polars ``DataFrame`` is converted). Each returns a ``bool``, so an
expectation can return it directly::

    from bauplan.standard_expectations import expect_column_no_nulls

    @bauplan.expectation()
    @bauplan.python("3.11")
    def test_no_null_ids(data=bauplan.Model("orders", columns=["id"])):
        return expect_column_no_nulls(data, "id")

This file is loaded under the name ``bauplan.standard_expectations``: it uses absolute
imports only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "expect_column_accepted_values",
    "expect_column_all_null",
    "expect_column_all_unique",
    "expect_column_equal_concatenation",
    "expect_column_mean_greater_or_equal_than",
    "expect_column_mean_greater_than",
    "expect_column_mean_smaller_or_equal_than",
    "expect_column_mean_smaller_than",
    "expect_column_no_nulls",
    "expect_column_not_unique",
    "expect_column_some_null",
]


def _column(table: Any, column_name: str) -> Any:
    """The column as a pyarrow ``ChunkedArray``."""
    if not hasattr(table, "column") or type(table).__module__.partition(".")[0] != "pyarrow":
        to_arrow = getattr(table, "to_arrow", None)
        if to_arrow is None:
            raise TypeError(f"expected a pyarrow Table, got {type(table).__qualname__}")
        table = to_arrow()
    if column_name not in table.column_names:
        raise KeyError(f"the table has no column {column_name!r} (it has {', '.join(table.column_names)})")
    return table.column(column_name)


def _mean(table: Any, column_name: str) -> float | None:
    import pyarrow.compute as pc

    return pc.mean(_column(table, column_name)).as_py()


def expect_column_no_nulls(table: Any, column_name: str) -> bool:
    """The column has no nulls."""
    return _column(table, column_name).null_count == 0


def expect_column_some_null(table: Any, column_name: str) -> bool:
    """The column has at least one null."""
    return _column(table, column_name).null_count > 0


def expect_column_all_null(table: Any, column_name: str) -> bool:
    """Every value of the column is null."""
    column = _column(table, column_name)
    return column.null_count == len(column)


def _distinct(table: Any, column_name: str) -> tuple[int, int]:
    import pyarrow.compute as pc

    column = _column(table, column_name)
    return len(pc.unique(column)), len(column)


def expect_column_all_unique(table: Any, column_name: str) -> bool:
    """No value of the column occurs twice."""
    distinct, rows = _distinct(table, column_name)
    return distinct == rows


def expect_column_not_unique(table: Any, column_name: str) -> bool:
    """Some value of the column occurs more than once."""
    distinct, rows = _distinct(table, column_name)
    return distinct < rows


def expect_column_accepted_values(table: Any, column_name: str, accepted_values: Sequence[Any]) -> bool:
    """Every value of the column is one of ``accepted_values`` (a null is not, unless listed)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = _column(table, column_name)
    if len(column) == 0:
        return True
    found = pc.is_in(column, value_set=pa.array(list(accepted_values)))
    return bool(pc.all(found).as_py())


def expect_column_mean_greater_than(table: Any, column_name: str, value: float) -> bool:
    """The column's mean is greater than ``value`` (false for an empty or all-null column)."""
    mean = _mean(table, column_name)
    return mean is not None and mean > value


def expect_column_mean_greater_or_equal_than(table: Any, column_name: str, value: float) -> bool:
    """The column's mean is at least ``value``."""
    mean = _mean(table, column_name)
    return mean is not None and mean >= value


def expect_column_mean_smaller_than(table: Any, column_name: str, value: float) -> bool:
    """The column's mean is smaller than ``value``."""
    mean = _mean(table, column_name)
    return mean is not None and mean < value


def expect_column_mean_smaller_or_equal_than(table: Any, column_name: str, value: float) -> bool:
    """The column's mean is at most ``value``."""
    mean = _mean(table, column_name)
    return mean is not None and mean <= value


def expect_column_equal_concatenation(
    table: Any,
    target_column: str,
    columns: Sequence[str],
    separator: str = "",
) -> bool:
    """``target_column`` equals the listed columns (cast to strings) joined by ``separator``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    target = _column(table, target_column)
    parts = []
    for name in columns:
        column = _column(table, name)
        parts.append(column if pa.types.is_string(column.type) else pc.cast(column, pa.string()))
    if not parts:
        raise ValueError("expect_column_equal_concatenation needs at least one column")
    joined = pc.binary_join_element_wise(*parts, separator)
    return bool(pc.all(pc.equal(joined, pc.cast(target, pa.string()))).as_py())
