"""Decorators that attach sluice metadata to pipeline functions.

They do nothing at import time except record their arguments in the
function's ``__sluice__`` dict, and they return the function itself::

    @model(materialization_strategy="REPLACE")
    @python("3.11", pip={"polars": "1.0"}, dataframe="pyarrow")
    def child_table(df: ChildSchema = Table("raw_table")) -> FriendSchema: ...

    child_table.__sluice__
    # {"python": {"version": "3.11", "pip": {"polars": "1.0"}, "dataframe": "pyarrow"},
    #  "model": {"name": None, "columns": None, "materialization_strategy": "REPLACE"}}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["python", "model", "expectation"]

F = TypeVar("F", bound=Callable[..., Any])

_VERSION = re.compile(r"\d+\.\d+(\.\d+)?")


def _not_called(name: str, arg: object) -> None:
    if callable(arg):
        raise TypeError(f"@{name} must be called: write @{name}(...) above the function")


def _recorder(key: str, value: dict[str, Any]) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@{key}(...) must decorate a function, got {fn!r}")
        fn.__sluice__ = {**getattr(fn, "__sluice__", {}), key: value}  # type: ignore[attr-defined]
        return fn

    return decorate


DATAFRAME_KINDS = ("polars", "pyarrow", "pandas")


def python(
    version: str | None = None,
    pip: Mapping[str, str] | None = None,
    dataframe: str | None = None,
) -> Callable[[F], F]:
    """Declare the Python version and pip packages a function runs with.

    ``@python("3.11", pip={"polars": "1.0"})`` or ``@python(pip={"polars": "1.0"})``.
    ``dataframe`` chooses how input tables arrive: ``"polars"`` (the default,
    ``polars.DataFrame``), ``"pyarrow"`` (``pyarrow.Table``) or ``"pandas"``
    (``pandas.DataFrame``); it is recorded only when given.
    """
    _not_called("python", version)
    if version is not None and (not isinstance(version, str) or not _VERSION.fullmatch(version)):
        raise ValueError(f"python version must look like '3.11', got {version!r}")
    if pip is not None and not (
        isinstance(pip, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in pip.items())
    ):
        raise TypeError(f"pip must map package names to version strings, got {pip!r}")
    if dataframe is not None and dataframe not in DATAFRAME_KINDS:
        raise ValueError(
            f"dataframe must be one of {', '.join(repr(k) for k in DATAFRAME_KINDS)}, got {dataframe!r}"
        )
    value: dict[str, Any] = {"version": version, "pip": None if pip is None else dict(pip)}
    if dataframe is not None:
        value["dataframe"] = dataframe
    return _recorder("python", value)


def model(
    name: str | None = None,
    columns: Sequence[str] | None = None,
    materialization_strategy: str | None = None,
) -> Callable[[F], F]:
    """Mark a function as a model (a table computed from other tables).

    ``name`` overrides the table name (default: the function name), ``columns``
    lists the output columns, ``materialization_strategy`` says how the output is
    written (e.g. ``"REPLACE"`` or ``"APPEND"``).
    """
    _not_called("model", name)
    if name is not None and not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"model name must be an identifier, got {name!r}")
    if columns is not None and (
        isinstance(columns, str) or not all(isinstance(c, str) for c in columns)
    ):
        raise TypeError(f"columns must be a sequence of column names, got {columns!r}")
    if materialization_strategy is not None and not isinstance(materialization_strategy, str):
        raise TypeError(f"materialization_strategy must be a string, got {materialization_strategy!r}")
    return _recorder(
        "model",
        {
            "name": name,
            "columns": None if columns is None else list(columns),
            "materialization_strategy": materialization_strategy,
        },
    )


def expectation() -> Callable[[F], F]:
    """Mark a function as an expectation (a data-quality check returning a bool)."""
    return _recorder("expectation", {})
