"""The part of Bauplan's Python SDK that model code touches at run time.

A project written for Bauplan's SDK imports ``bauplan`` and decorates its functions::

    import bauplan

    @bauplan.model(columns=["zone", "trips"])
    @bauplan.python("3.11", pip={"polars": "2.1.0"})
    def trips_by_zone(
        data=bauplan.Model("trips", columns=["zone", "miles"], filter="miles > 0"),
        min_miles=bauplan.Parameter("min_miles"),
    ): ...

The sluice worker runs such a function itself: the runtime reads the input table,
projects it to ``columns`` and applies ``filter`` (in Rust, with DataFusion), and
passes it and the run parameters as keyword arguments. What the module must provide
is therefore small: decorators that record their arguments and return the function,
and ``Model``/``Parameter`` values that say what a parameter receives.

The worker registers this file as the top-level module ``bauplan`` (and
:mod:`sluice._bauplan_expectations` as ``bauplan.standard_expectations``) only when no
real ``bauplan`` package is importable in the node's environment (:func:`install`
appends a finder after every other one). A node that pins ``bauplan`` in
``@bauplan.python(pip=...)`` gets the real SDK.

This file is loaded under the name ``bauplan``: it uses absolute imports only.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from dataclasses import dataclass

from sluice.dtypes import (
    Binary,
    Bool,
    Boolean,
    Date32,
    Date64,
    Float32,
    Float64,
    Int8,
    Int16,
    Int32,
    Int64,
    LargeUtf8,
    Timestamp,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
)
from sluice.dtypes import Decimal128 as _Decimal128
from sluice.dtypes import Utf8 as String
from sluice.schema import BauplanSchema, Schema

__all__ = [
    "Model",
    "Parameter",
    "Schema",
    "BauplanSchema",
    "TableSchema",
    "TableField",
    "Binary",
    "Bool",
    "Boolean",
    "Date32",
    "Date64",
    "Float32",
    "Float64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "LargeUtf8",
    "String",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Timestamp",
    "TimestampMicro",
    "TimestampNano",
    "TimestampMicroUTC",
    "TimestampNanoUTC",
    "Decimal128",
    "ModelMaterializationStrategy",
    "ModelCacheStrategy",
    "model",
    "python",
    "expectation",
    "synthetic_model",
    "resources",
    "extras",
    "pyspark",
    "install",
]

__version__ = "0.0.0+sluice"

F = TypeVar("F", bound=Callable[..., Any])

ModelMaterializationStrategy = Literal["NONE", "REPLACE", "APPEND", "OVERWRITE_PARTITIONS"]
ModelCacheStrategy = Literal["NONE", "DEFAULT"]


class TableSchema(BauplanSchema):
    """Bauplan's typed schemas: ``class Trips(bauplan.TableSchema)`` with columns
    annotated ``bauplan.Int64``, ``bauplan.Float64 | None`` or ``Annotated[T,
    bauplan.TableField(doc=...)]``; a sluice :class:`~sluice.Schema`."""


class TableField:
    """Column metadata in ``Annotated[T, TableField(doc="...")]``: recorded, not checked."""

    __slots__ = ("doc", "options")

    def __init__(self, doc: str | None = None, **options: Any) -> None:
        self.doc = doc
        self.options = dict(options)

    def __repr__(self) -> str:
        return f"bauplan.TableField(doc={self.doc!r})"


@dataclass(frozen=True)
class TimestampMicro(Timestamp):
    """Bauplan's ``TimestampMicro``: microseconds, no time zone."""


@dataclass(frozen=True)
class TimestampNano(Timestamp):
    """Bauplan's ``TimestampNano``: nanoseconds, no time zone."""

    unit: Any = "ns"


@dataclass(frozen=True)
class TimestampMicroUTC(Timestamp):
    """Bauplan's ``TimestampMicroUTC``: microseconds in UTC."""

    tz: str | None = "UTC"


@dataclass(frozen=True)
class TimestampNanoUTC(Timestamp):
    """Bauplan's ``TimestampNanoUTC``: nanoseconds in UTC."""

    unit: Any = "ns"
    tz: str | None = "UTC"


@dataclass(frozen=True)
class Decimal128(_Decimal128):
    """Bauplan's ``Decimal128[Literal[p], Literal[s]]`` (also sluice's ``Decimal128(p, s)``)."""

    def __class_getitem__(cls, params: Any) -> Decimal128:
        import typing

        if not isinstance(params, tuple) or len(params) != 2:
            raise TypeError("write Decimal128[Literal[precision], Literal[scale]]")
        values = [(typing.get_args(p) or (p,))[0] for p in params]
        return cls(*values)


class Model:
    """A function parameter that receives a table: ``data=bauplan.Model("trips", columns=[...])``.

    ``name`` is the table (a model or a lake table); ``columns`` the columns handed
    over (``None`` or ``["*"]``: all of them); ``filter`` a SQL predicate on the
    rows. The other arguments of Bauplan's SDK (``ref``, ``connector``, ...) are
    recorded in ``options``.
    """

    __slots__ = ("name", "columns", "filter", "options")

    def __init__(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        filter: str | None = None,  # noqa: A002 - Bauplan's keyword
        **options: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"bauplan.Model needs a table name, got {name!r}")
        if columns is not None and (isinstance(columns, str) or not all(isinstance(c, str) for c in columns)):
            raise TypeError(f"bauplan.Model columns must be a list of column names, got {columns!r}")
        if filter is not None and not isinstance(filter, str):
            raise TypeError(f"bauplan.Model filter must be a SQL predicate string, got {filter!r}")
        self.name = name
        self.columns = None if columns is None else list(columns)
        self.filter = filter
        self.options = dict(options)

    def __repr__(self) -> str:
        args = [repr(self.name)]
        if self.columns is not None:
            args.append(f"columns={self.columns!r}")
        if self.filter is not None:
            args.append(f"filter={self.filter!r}")
        args.extend(f"{k}={v!r}" for k, v in self.options.items())
        return f"bauplan.Model({', '.join(args)})"


class Parameter:
    """A function parameter that receives a run parameter: ``rate=bauplan.Parameter("interest_rate")``.

    The value is ``sluice run --param interest_rate=...``, else the default declared
    under ``parameters:`` in ``bauplan_project.yml``.
    """

    __slots__ = ("param_name",)

    def __init__(self, param_name: str) -> None:
        if not isinstance(param_name, str) or not param_name:
            raise TypeError(f"bauplan.Parameter needs a parameter name, got {param_name!r}")
        self.param_name = param_name

    @property
    def name(self) -> str:
        return self.param_name

    def __repr__(self) -> str:
        return f"bauplan.Parameter({self.param_name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Parameter) and other.param_name == self.param_name

    def __hash__(self) -> int:
        return hash(("bauplan.Parameter", self.param_name))


def _recorder(kind: str, fn: Any, arguments: dict[str, Any]) -> Callable[[F], F]:
    """A decorator that records ``arguments`` in ``f.__bauplan__[kind]`` and returns ``f``."""

    def decorate(f: F) -> F:
        if not callable(f):
            raise TypeError(f"@bauplan.{kind}(...) must decorate a function, got {f!r}")
        recorded = dict(getattr(f, "__bauplan__", {}))
        recorded[kind] = arguments
        try:
            f.__bauplan__ = recorded  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass  # a builtin or a callable without a __dict__: nothing to record on
        return f

    if fn is not None:
        # Used without parentheses: `@bauplan.model` (the SDK wants `@bauplan.model()`).
        return decorate(fn)  # type: ignore[return-value]
    return decorate


def _bare(first: Any) -> Any:
    """The function when a decorator is used without parentheses, else ``None``."""
    return first if callable(first) and not isinstance(first, type) else None


def model(
    name: str | None = None,
    columns: Sequence[str] | None = None,
    partitioned_by: str | Sequence[str] | None = None,
    materialization_strategy: str | None = None,
    cache_strategy: str | None = None,
    internet_access: bool | None = None,
    overwrite_filter: str | None = None,
    **kwargs: Any,
) -> Callable[[F], F]:
    """``@bauplan.model(name=..., columns=[...], ...)``: a function whose output is a table."""
    fn = _bare(name)
    return _recorder(
        "model",
        fn,
        {
            "name": None if fn is not None else name,
            "columns": None if columns is None else list(columns),
            "partitioned_by": partitioned_by,
            "materialization_strategy": materialization_strategy,
            "cache_strategy": cache_strategy,
            "internet_access": internet_access,
            "overwrite_filter": overwrite_filter,
            **kwargs,
        },
    )


def python(
    version: str | None = None,
    pip: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Callable[[F], F]:
    """``@bauplan.python("3.11", pip={"polars": "2.1.0"})``: the function's environment.

    sluice builds the environment from the plan before the worker starts; at run time
    this only records its arguments.
    """
    fn = _bare(version)
    return _recorder(
        "python",
        fn,
        {"version": None if fn is not None else version, "pip": None if pip is None else dict(pip), **kwargs},
    )


def expectation(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """``@bauplan.expectation()``: a data check that returns ``True`` (passed) or ``False``."""
    fn = _bare(args[0]) if len(args) == 1 and not kwargs else None
    return _recorder("expectation", fn, dict(kwargs))


def synthetic_model(name: str, columns: Sequence[str], **kwargs: Any) -> Callable[[F], F]:
    """``@bauplan.synthetic_model(name, columns)``: recorded, like ``model``."""
    return _recorder("synthetic_model", None, {"name": name, "columns": list(columns), **kwargs})


def resources(
    cpus: float | None = None,
    memory: int | str | None = None,
    memory_swap: int | str | None = None,
    timeout: int | None = None,
    **kwargs: Any,
) -> Callable[[F], F]:
    """``@bauplan.resources(...)``: recorded; sluice imposes no resource limits on workers."""
    fn = _bare(cpus)
    return _recorder(
        "resources",
        fn,
        {
            "cpus": None if fn is not None else cpus,
            "memory": memory,
            "memory_swap": memory_swap,
            "timeout": timeout,
            **kwargs,
        },
    )


def extras(*names: str) -> Callable[[F], F]:
    """``@bauplan.extras("ai")``: recorded."""
    return _recorder("extras", None, {"extras": list(names)})


def pyspark(version: str | None = None, conf: Mapping[str, str] | None = None, **kwargs: Any) -> Callable[[F], F]:
    """``@bauplan.pyspark(...)``: recorded; sluice provides no Spark session."""
    return _recorder("pyspark", None, {"version": version, "conf": None if conf is None else dict(conf), **kwargs})


# --- registration as `bauplan` ----------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_FILES = {
    "bauplan": "_bauplan.py",
    "bauplan.standard_expectations": "_bauplan_expectations.py",
}


class FallbackFinder(importlib.abc.MetaPathFinder):
    """Serves ``bauplan`` from this package when no other finder has it.

    Installed at the end of ``sys.meta_path``: a real ``bauplan`` package (installed in
    the environment) is found first, by the path finder.
    """

    def find_spec(
        self,
        fullname: str,
        path: Any = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        file = _FILES.get(fullname)
        if file is None:
            return None
        if fullname != "bauplan" and not getattr(sys.modules.get("bauplan"), "__sluice_fallback__", False):
            return None  # a submodule of a real `bauplan` package that lacks it
        location = os.path.join(_PACKAGE_DIR, file)
        search = [] if fullname == "bauplan" else None
        return importlib.util.spec_from_file_location(fullname, location, submodule_search_locations=search)


__sluice_fallback__ = True


def install() -> FallbackFinder:
    """Make ``import bauplan`` work when the environment has no ``bauplan`` package."""
    for finder in sys.meta_path:
        if isinstance(finder, FallbackFinder):
            return finder
    finder = FallbackFinder()
    sys.meta_path.append(finder)
    return finder
