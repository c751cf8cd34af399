"""Expression helpers, evaluated with Polars.

Importing this module never requires Polars; each helper that builds an
expression imports it when called and raises ``ImportError`` if it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dtypes import DataType, _require, parse_arrow_type

if TYPE_CHECKING:
    import polars as pl  # type: ignore[import-not-found, unused-ignore]

__all__ = ["col", "lit", "str_lit", "arrow_cast", "coalesce"]


def _polars(feature: str) -> Any:
    return _require("polars", f"sluice.{feature}")


def col(name: str) -> pl.Expr:
    """The column called ``name`` (``polars.col``)."""
    if not isinstance(name, str):
        raise TypeError(f"col() expects a column name, got {name!r}")
    return _polars("col()").col(name)


def lit(value: Any) -> pl.Expr:
    """A literal value (``polars.lit``)."""
    return _polars("lit()").lit(value)


def str_lit(s: str) -> str:
    """A string literal used as a type-name argument, e.g. ``arrow_cast(e, str_lit("Int64"))``.

    Returns ``s`` unchanged; it exists so that generated code reads the same as SQL.
    """
    if not isinstance(s, str):
        raise TypeError(f"str_lit() expects a string, got {s!r}")
    return s


def arrow_cast(expr: Any, type_name: str | DataType) -> pl.Expr:
    """Cast ``expr`` to the Polars type matching an Arrow type name.

    ``type_name`` is e.g. ``"Int64"``, ``"Float32"``, ``"Utf8"``, ``"Boolean"``,
    ``"Date32"`` or ``"Timestamp(Microsecond, None)"`` (or a ``DataType``).
    Unknown names raise ``ValueError``. A non-expression ``expr`` is treated as
    a literal. The conversion itself follows Polars' ``cast`` rules.
    """
    dtype = type_name if isinstance(type_name, DataType) else parse_arrow_type(type_name)
    pl = _polars("arrow_cast()")
    if not isinstance(expr, (pl.Expr, pl.Series)):
        expr = pl.lit(expr)
    return expr.cast(dtype.to_polars())


def coalesce(*exprs: Any) -> pl.Expr:
    """The first non-null value of ``exprs``, row by row (``polars.coalesce``)."""
    if not exprs:
        raise TypeError("coalesce() needs at least one expression")
    return _polars("coalesce()").coalesce(*exprs)
