"""Arrow data types for sluice columns.

Each class mirrors one Arrow ``DataType``. Instances are small, frozen and
comparable, and know their Arrow name (``Int64``, ``Timestamp(Microsecond, None)``,
...) as well as how to turn themselves into a pyarrow or Polars type when those
optional libraries are installed.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = [
    "DataType",
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
    "TimeUnit",
    "parse_arrow_type",
    "to_dtype",
]

TimeUnit = Literal["s", "ms", "us", "ns"]
"""A time resolution: seconds, milliseconds, microseconds or nanoseconds."""

_UNIT_NAMES: dict[str, str] = {
    "s": "Second",
    "ms": "Millisecond",
    "us": "Microsecond",
    "ns": "Nanosecond",
}
_DECIMAL128_MAX_PRECISION = 38


def _require(module: str, feature: str) -> Any:
    """Import an optional dependency, or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{feature} requires the optional dependency {module!r}; "
            f"install it with `pip install 'sluice[{module}]'` or `pip install {module}`"
        ) from None


def _check_unit(type_name: str, unit: object, allowed: tuple[str, ...]) -> None:
    if unit not in allowed:
        choices = ", ".join(repr(u) for u in allowed)
        raise ValueError(f"{type_name} unit must be one of {choices}, got {unit!r}")


@dataclass(frozen=True)
class DataType:
    """Base class of all sluice column types; each subclass mirrors one Arrow type."""

    _pyarrow: ClassVar[str] = ""
    _polars: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if type(self) is DataType:
            raise TypeError("DataType is abstract; use a concrete type such as Int64")

    @property
    def arrow_name(self) -> str:
        """The Arrow name of this type, e.g. ``"Int64"`` or ``"Timestamp(Microsecond, None)"``."""
        return type(self).__name__

    def __str__(self) -> str:
        return self.arrow_name

    def to_arrow(self) -> Any:
        """Return the equivalent ``pyarrow.DataType`` (requires pyarrow)."""
        pa = _require("pyarrow", f"{self.arrow_name}.to_arrow()")
        return getattr(pa, self._pyarrow)()

    def to_polars(self) -> Any:
        """Return the closest Polars data type (requires polars)."""
        pl = _require("polars", f"{self.arrow_name}.to_polars()")
        return getattr(pl, self._polars)


class Int8(DataType):
    """Signed 8-bit integer."""

    _pyarrow, _polars = "int8", "Int8"


class Int16(DataType):
    """Signed 16-bit integer."""

    _pyarrow, _polars = "int16", "Int16"


class Int32(DataType):
    """Signed 32-bit integer."""

    _pyarrow, _polars = "int32", "Int32"


class Int64(DataType):
    """Signed 64-bit integer (the type of Python ``int`` columns)."""

    _pyarrow, _polars = "int64", "Int64"


class UInt8(DataType):
    """Unsigned 8-bit integer."""

    _pyarrow, _polars = "uint8", "UInt8"


class UInt16(DataType):
    """Unsigned 16-bit integer."""

    _pyarrow, _polars = "uint16", "UInt16"


class UInt32(DataType):
    """Unsigned 32-bit integer."""

    _pyarrow, _polars = "uint32", "UInt32"


class UInt64(DataType):
    """Unsigned 64-bit integer."""

    _pyarrow, _polars = "uint64", "UInt64"


class Float16(DataType):
    """IEEE half-precision float (Polars has no Float16, Float32 is used there)."""

    _pyarrow, _polars = "float16", "Float32"


class Float32(DataType):
    """IEEE single-precision float."""

    _pyarrow, _polars = "float32", "Float32"


class Float64(DataType):
    """IEEE double-precision float (the type of Python ``float`` columns)."""

    _pyarrow, _polars = "float64", "Float64"


class Utf8(DataType):
    """UTF-8 string with 32-bit offsets (the type of Python ``str`` columns)."""

    _pyarrow, _polars = "string", "String"


class LargeUtf8(DataType):
    """UTF-8 string with 64-bit offsets."""

    _pyarrow, _polars = "large_string", "String"


class Utf8View(DataType):
    """UTF-8 string stored as views."""

    _pyarrow, _polars = "string_view", "String"


class Boolean(DataType):
    """Boolean (the type of Python ``bool`` columns). ``Bool`` is an alias."""

    _pyarrow, _polars = "bool_", "Boolean"


Bool = Boolean


class Binary(DataType):
    """Variable-length bytes with 32-bit offsets (the type of Python ``bytes`` columns)."""

    _pyarrow, _polars = "binary", "Binary"


class LargeBinary(DataType):
    """Variable-length bytes with 64-bit offsets."""

    _pyarrow, _polars = "large_binary", "Binary"


class BinaryView(DataType):
    """Variable-length bytes stored as views."""

    _pyarrow, _polars = "binary_view", "Binary"


class Date32(DataType):
    """Calendar date as days since the epoch (the type of ``datetime.date`` columns)."""

    _pyarrow, _polars = "date32", "Date"


class Date64(DataType):
    """Calendar date as milliseconds since the epoch."""

    _pyarrow, _polars = "date64", "Date"


@dataclass(frozen=True)
class Timestamp(DataType):
    """Instant in time: ``Timestamp`` (microseconds, no time zone) or ``Timestamp(unit, tz)``.

    ``unit`` is one of ``"s"``, ``"ms"``, ``"us"``, ``"ns"``; ``tz`` is an optional
    time zone name such as ``"UTC"`` or ``"+02:00"``.
    """

    unit: TimeUnit = "us"
    tz: str | None = None

    def __post_init__(self) -> None:
        _check_unit("Timestamp", self.unit, ("s", "ms", "us", "ns"))
        if self.tz is not None and (not isinstance(self.tz, str) or not self.tz):
            raise ValueError(f"Timestamp tz must be a non-empty string or None, got {self.tz!r}")

    @property
    def arrow_name(self) -> str:
        tz = "None" if self.tz is None else f'Some("{self.tz}")'
        return f"Timestamp({_UNIT_NAMES[self.unit]}, {tz})"

    def to_arrow(self) -> Any:
        pa = _require("pyarrow", f"{self.arrow_name}.to_arrow()")
        return pa.timestamp(self.unit, tz=self.tz)

    def to_polars(self) -> Any:
        pl = _require("polars", f"{self.arrow_name}.to_polars()")
        # Polars has no second resolution; milliseconds is the closest.
        return pl.Datetime(time_unit="ms" if self.unit == "s" else self.unit, time_zone=self.tz)


@dataclass(frozen=True)
class Time64(DataType):
    """Time of day: ``Time64("us")`` (the type of ``datetime.time`` columns) or ``Time64("ns")``."""

    unit: Literal["us", "ns"] = "us"

    def __post_init__(self) -> None:
        _check_unit("Time64", self.unit, ("us", "ns"))

    @property
    def arrow_name(self) -> str:
        return f"Time64({_UNIT_NAMES[self.unit]})"

    def to_arrow(self) -> Any:
        pa = _require("pyarrow", f"{self.arrow_name}.to_arrow()")
        return pa.time64(self.unit)

    def to_polars(self) -> Any:
        pl = _require("polars", f"{self.arrow_name}.to_polars()")
        return pl.Time


@dataclass(frozen=True)
class Duration(DataType):
    """Elapsed time: ``Duration(unit)`` with unit ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``."""

    unit: TimeUnit = "us"

    def __post_init__(self) -> None:
        _check_unit("Duration", self.unit, ("s", "ms", "us", "ns"))

    @property
    def arrow_name(self) -> str:
        return f"Duration({_UNIT_NAMES[self.unit]})"

    def to_arrow(self) -> Any:
        pa = _require("pyarrow", f"{self.arrow_name}.to_arrow()")
        return pa.duration(self.unit)

    def to_polars(self) -> Any:
        pl = _require("polars", f"{self.arrow_name}.to_polars()")
        return pl.Duration(time_unit="ms" if self.unit == "s" else self.unit)


@dataclass(frozen=True)
class Decimal128(DataType):
    """Fixed-point decimal: ``Decimal128(precision, scale)``, precision 1..38.

    Used bare it means ``Decimal128(38, 10)``, the type of ``decimal.Decimal`` columns.
    """

    precision: int = 38
    scale: int = 10

    def __post_init__(self) -> None:
        p, s = self.precision, self.scale
        if type(p) is not int or not 1 <= p <= _DECIMAL128_MAX_PRECISION:
            raise ValueError(
                f"Decimal128 precision must be an integer between 1 and "
                f"{_DECIMAL128_MAX_PRECISION}, got {p!r}"
            )
        if type(s) is not int or not -128 <= s <= p:
            raise ValueError(
                f"Decimal128 scale must be an integer between -128 and the precision ({p}), got {s!r}"
            )

    @property
    def arrow_name(self) -> str:
        return f"Decimal128({self.precision}, {self.scale})"

    def to_arrow(self) -> Any:
        pa = _require("pyarrow", f"{self.arrow_name}.to_arrow()")
        return pa.decimal128(self.precision, self.scale)

    def to_polars(self) -> Any:
        pl = _require("polars", f"{self.arrow_name}.to_polars()")
        return pl.Decimal(self.precision, self.scale)


_PYTHON_TYPES: dict[type, DataType] = {
    str: Utf8(),
    int: Int64(),
    float: Float64(),
    bool: Boolean(),
    bytes: Binary(),
    datetime.datetime: Timestamp("us", None),
    datetime.date: Date32(),
    datetime.time: Time64("us"),
    datetime.timedelta: Duration("us"),
    decimal.Decimal: Decimal128(38, 10),
}


def to_dtype(tp: object) -> DataType:
    """Convert a Python scalar type, a ``DataType`` class or a ``DataType`` instance to a ``DataType``.

    >>> to_dtype(int)
    Int64()

    Raises ``TypeError`` for anything else.
    """
    if isinstance(tp, DataType):
        return tp
    if isinstance(tp, type):
        if issubclass(tp, DataType) and tp is not DataType:
            return tp()
        if tp in _PYTHON_TYPES:
            return _PYTHON_TYPES[tp]
    raise TypeError(
        f"unsupported sluice column type {tp!r}; use str, int, float, bool, bytes, "
        "datetime, date, time, timedelta, Decimal or an Arrow type such as Int32"
    )


_SIMPLE_TYPES: dict[str, type[DataType]] = {
    cls.__name__: cls
    for cls in (
        Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64,
        Float16, Float32, Float64, Utf8, LargeUtf8, Utf8View, Boolean,
        Binary, LargeBinary, BinaryView, Date32, Date64,
    )
}
_UNIT_ALIASES: dict[str, str] = {
    "s": "s", "Second": "s",
    "ms": "ms", "Millisecond": "ms",
    "us": "us", "µs": "us", "Microsecond": "us",
    "ns": "ns", "Nanosecond": "ns",
}
_PARAMETERISED = re.compile(r"(Timestamp|Time64|Duration|Decimal128)\((.*)\)", re.DOTALL)
_TZ = re.compile(r'(?:Some\("(.+)"\)|"(.+)")')


def parse_arrow_type(name: str) -> DataType:
    """Parse an Arrow type name such as ``"Int64"`` or ``"Timestamp(Microsecond, None)"``.

    Both the classic spelling (``Timestamp(Nanosecond, Some("UTC"))``) and the
    short one used by recent arrow-rs (``Timestamp(ns, "UTC")``, ``Timestamp(µs)``)
    are accepted. Unknown or malformed names raise ``ValueError``.
    """
    if not isinstance(name, str):
        raise TypeError(f"an Arrow type name must be a string, got {name!r}")
    text = name.strip()
    if text in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[text]()
    match = _PARAMETERISED.fullmatch(text)
    if match is not None:
        try:
            return _parse_parameterised(match[1], [a.strip() for a in match[2].split(",", 1)])
        except ValueError as err:
            raise ValueError(f"invalid Arrow type name {name!r}: {err}") from None
    raise ValueError(
        f"unknown Arrow type name {name!r}; expected a name such as 'Int64', 'Float32', "
        "'Utf8', 'Boolean', 'Date32', 'Decimal128(12, 2)' or 'Timestamp(Microsecond, None)'"
    )


def _parse_parameterised(kind: str, args: list[str]) -> DataType:
    if kind == "Decimal128":
        if len(args) != 2:
            raise ValueError("Decimal128 takes a precision and a scale")
        return Decimal128(int(args[0]), int(args[1]))
    unit = _UNIT_ALIASES.get(args[0])
    if unit is None:
        raise ValueError(f"unknown time unit {args[0]!r}")
    if kind == "Timestamp":
        tz = None
        if len(args) == 2 and args[1] != "None":
            tz_match = _TZ.fullmatch(args[1])
            if tz_match is None:
                raise ValueError(f"expected None, Some(\"<tz>\") or \"<tz>\", got {args[1]!r}")
            tz = tz_match[1] or tz_match[2]
        return Timestamp(unit, tz)  # type: ignore[arg-type]
    if len(args) != 1:
        raise ValueError(f"{kind} takes a single time unit")
    return Time64(unit) if kind == "Time64" else Duration(unit)  # type: ignore[arg-type]
