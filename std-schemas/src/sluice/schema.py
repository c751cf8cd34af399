"""Schema classes, columns, nullability and table references."""

from __future__ import annotations

import inspect
import sys
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, ClassVar, Generic, TypeVar, Union

from .dtypes import DataType, _require, to_dtype

__all__ = [
    "Column",
    "NotNull",
    "Nullable",
    "NullabilityMarker",
    "UNION",
    "Schema",
    "SchemaMeta",
    "BauplanSchema",
    "schema_to_dict",
    "Source",
    "Table",
    "TableRef",
]


@dataclass(frozen=True)
class NullabilityMarker:
    """Type of the ``NotNull`` and ``Nullable`` markers."""

    nullable: bool

    def __repr__(self) -> str:
        return "Nullable" if self.nullable else "NotNull"


NotNull = NullabilityMarker(False)
"""Marker for a non-null column: ``Other.col[NotNull]`` or ``Annotated[T, NotNull]``."""

Nullable = NullabilityMarker(True)
"""Marker for a nullable column: ``Other.col[Nullable]`` or ``Annotated[T, Nullable]``."""


@dataclass(frozen=True)
class Column:
    """One column of a schema.

    ``source`` is ``(SchemaClass, column_name)`` when the column was declared by
    reference to another schema's column (``col = Other.col``), else ``None``.
    ``schema`` is the schema class the column belongs to.
    """

    name: str
    dtype: DataType
    nullable: bool = False
    source: tuple[type[Schema], str] | None = None
    schema: type[Schema] | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, marker: NullabilityMarker) -> Column:
        """Return a copy with changed nullability: ``col[NotNull]`` or ``col[Nullable]``."""
        if not isinstance(marker, NullabilityMarker):
            raise TypeError(f"columns can only be indexed by NotNull or Nullable, got {marker!r}")
        return replace(self, nullable=marker.nullable)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description: ``{"name": ..., "type": <arrow name>, "nullable": ...}``."""
        return {"name": self.name, "type": self.dtype.arrow_name, "nullable": self.nullable}


_UNION_ERROR = (
    "sluice columns cannot be a union of different types ({}); "
    "use UNION(T, None) for a nullable column of type T"
)


def _is_none(tp: object) -> bool:
    return tp is None or tp is type(None)


def _resolve(annotation: object) -> tuple[DataType, bool]:
    """Turn a column annotation into ``(dtype, nullable)``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        dtype, nullable = _resolve(base)
        for item in metadata:
            if isinstance(item, NullabilityMarker):
                nullable = item.nullable
            elif isinstance(item, DataType) or (
                isinstance(item, type) and issubclass(item, DataType)
            ):
                dtype = to_dtype(item)
        return dtype, nullable
    if origin is Union or origin is getattr(types, "UnionType", Union):
        return _resolve_union(typing.get_args(annotation))
    if _is_none(annotation):
        raise TypeError("a sluice column cannot have type None; use UNION(T, None) for a nullable column")
    return to_dtype(annotation), False


def _resolve_union(members: tuple[object, ...]) -> tuple[DataType, bool]:
    resolved = [_resolve(m) for m in members if not _is_none(m)]
    if not resolved:
        raise TypeError("a sluice column cannot have type None; use UNION(T, None) for a nullable column")
    dtypes = {dtype for dtype, _ in resolved}
    if len(dtypes) > 1:
        raise TypeError(_UNION_ERROR.format(", ".join(sorted(d.arrow_name for d in dtypes))))
    nullable = len(resolved) < len(members) or any(n for _, n in resolved)
    return resolved[0][0], nullable


def UNION(*members: Any) -> Any:
    """Declare a column type as a union: ``UNION(T, None)`` is a nullable ``T``.

    Returns an ordinary typing construct (``Optional[T]``; a ``DataType`` instance
    becomes ``Optional[Annotated[<its class>, instance]]``), so the result is a
    valid annotation. A union of two different non-None types raises ``TypeError``.
    """
    if not members:
        raise TypeError("UNION() needs at least one type")
    _resolve_union(members)  # validates
    non_null = [m for m in members if not _is_none(m)]
    base = non_null[0]
    if isinstance(base, DataType):
        base = Annotated[type(base), base]
    return typing.Optional[base] if len(non_null) < len(members) else base


class _RecordingAnnotations(dict):  # type: ignore[type-arg]
    """Class-body ``__annotations__`` that records the declaration order."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self._order = order

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self._order:
            self._order.append(key)
        super().__setitem__(key, value)


class _OrderedNamespace(dict):  # type: ignore[type-arg]
    """Class-body namespace recording the order of attributes *and* annotations.

    Up to Python 3.13 annotations are stored in the class body's
    ``__annotations__`` dict as they are declared, so pre-seeding it lets
    ``col: int`` and ``col = Other.col`` lines be interleaved faithfully. From
    3.14 on annotations are evaluated lazily; columns then come in
    attribute-then-annotation order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        if sys.version_info < (3, 14):
            super().__setitem__("__annotations__", _RecordingAnnotations(self.order))

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.order:
            self.order.append(key)
        super().__setitem__(key, value)


def _own_annotations(cls: type, localns: dict[str, Any]) -> dict[str, Any]:
    """The class's own annotations, with string (postponed) annotations evaluated."""
    raw = dict(inspect.get_annotations(cls))
    if not any(isinstance(v, str) for v in raw.values()):
        return raw
    try:
        hints = typing.get_type_hints(cls, localns=localns, include_extras=True)
        return {name: hints[name] for name in raw}
    except Exception:
        pass  # e.g. Timestamp("ns") is not a "type" for typing on Python 3.10
    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module is not None else {}
    resolved: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            try:
                value = eval(value, globalns, localns)  # noqa: S307 - annotations are code
            except Exception as err:
                raise TypeError(
                    f"cannot evaluate the annotation {value!r} of {cls.__name__}.{name}: {err}"
                ) from err
        resolved[name] = value
    return resolved


def _is_classvar(annotation: object) -> bool:
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


class SchemaMeta(type):
    """Metaclass of ``Schema``: collects the columns of each schema class."""

    __sluice_columns__: tuple[Column, ...]

    @classmethod
    def __prepare__(mcs, name: str, bases: tuple[type, ...], /, **kwargs: Any) -> dict[str, Any]:
        return _OrderedNamespace()

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> SchemaMeta:
        order = list(getattr(namespace, "order", namespace))
        ns = dict(namespace)
        if "__annotations__" in ns:
            ns["__annotations__"] = dict(ns["__annotations__"])
        cls = super().__new__(mcs, name, bases, ns, **kwargs)

        caller = sys._getframe(1)
        localns = {**caller.f_locals, **ns}
        annotations = {
            k: v
            for k, v in _own_annotations(cls, localns).items()
            if not k.startswith("__") and not _is_classvar(v)
        }
        references = {k: v for k, v in ns.items() if isinstance(v, Column)}
        declared = [n for n in order if n in annotations or n in references]
        declared += [n for n in annotations if n not in declared]

        columns: dict[str, Column] = {}
        for base in bases:
            for column in getattr(base, "__sluice_columns__", ()):
                columns.setdefault(column.name, column)
        for col_name in declared:
            if col_name in _RESERVED:
                raise TypeError(f"{name}.{col_name}: the column name clashes with the Schema method {col_name}()")
            ref = references.get(col_name)
            source = (ref.schema, ref.name) if ref is not None and ref.schema is not None else None
            if col_name in annotations:
                try:
                    dtype, nullable = _resolve(annotations[col_name])
                except TypeError as err:
                    raise TypeError(f"{err} (column {name}.{col_name})") from None
            else:
                assert ref is not None
                dtype, nullable = ref.dtype, ref.nullable
            columns[col_name] = Column(col_name, dtype, nullable, source)

        owner = typing.cast("type[Schema]", cls)
        cls.__sluice_columns__ = tuple(replace(c, schema=owner) for c in columns.values())
        for column in cls.__sluice_columns__:
            setattr(cls, column.name, column)
        return cls


class Schema(metaclass=SchemaMeta):
    """Base class of table schemas.

    Columns are declared with annotations (``col: int``, nullable with
    ``UNION(T, None)``, ``Optional[T]`` or ``T | None``) or by reference to a
    column of another schema (``col = Other.col`` or ``Other.col[NotNull]``).
    Subclasses inherit the columns of their parent schemas, which come first.
    """

    @classmethod
    def columns(cls) -> list[Column]:
        """The columns of this schema, in declaration order."""
        return list(cls.__sluice_columns__)

    @classmethod
    def column_names(cls) -> list[str]:
        """The column names of this schema, in declaration order."""
        return [c.name for c in cls.__sluice_columns__]

    @classmethod
    def column(cls, name: str) -> Column:
        """The column called ``name``; raises ``KeyError`` if there is none."""
        for column in cls.__sluice_columns__:
            if column.name == name:
                return column
        raise KeyError(f"{cls.__name__} has no column {name!r}")

    @classmethod
    def to_dict(cls) -> dict[str, Any]:
        """JSON-able description: ``{"name": ..., "columns": [{"name", "type", "nullable"}, ...]}``."""
        return {"name": cls.__name__, "columns": [c.to_dict() for c in cls.__sluice_columns__]}

    @classmethod
    def to_arrow(cls) -> Any:
        """The equivalent ``pyarrow.Schema`` (requires pyarrow)."""
        pa = _require("pyarrow", f"{cls.__name__}.to_arrow()")
        return pa.schema(
            [pa.field(c.name, c.dtype.to_arrow(), nullable=c.nullable) for c in cls.__sluice_columns__]
        )

    @classmethod
    def to_polars(cls) -> Any:
        """The equivalent ``polars.Schema`` (requires polars; Polars has no nullability)."""
        pl = _require("polars", f"{cls.__name__}.to_polars()")
        return pl.Schema({c.name: c.dtype.to_polars() for c in cls.__sluice_columns__})


_RESERVED = frozenset(n for n in vars(Schema) if not n.startswith("_"))


class BauplanSchema(Schema):
    """Alias-compatible base for schemas written against Bauplan; same as ``Schema``."""


def schema_to_dict(schema: type[Schema]) -> dict[str, Any]:
    """JSON-able description of ``schema``; same as ``schema.to_dict()``."""
    if not (isinstance(schema, type) and issubclass(schema, Schema)):
        raise TypeError(f"expected a Schema subclass, got {schema!r}")
    return schema.to_dict()


def _check_table_name(name: object) -> str:
    if not isinstance(name, str) or not name or not all(p.isidentifier() for p in name.split(".")):
        raise ValueError(
            f"invalid table name {name!r}: expected identifiers separated by dots, e.g. 'ns.table'"
        )
    return name


S = TypeVar("S", bound=Schema)


@dataclass(frozen=True)
class Source(Generic[S]):
    """A source table with a known schema: ``raw = Source(RawSchema)``.

    ``name`` defaults to ``None``, meaning the compiler uses the assignment target.
    """

    schema: type[S]
    name: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.schema, type) and issubclass(self.schema, Schema)):
            raise TypeError(f"Source() expects a Schema subclass, got {self.schema!r}")
        if self.name is not None:
            _check_table_name(self.name)


@dataclass(frozen=True)
class TableRef:
    """A reference to a table by name, as returned by ``Table(name)``."""

    name: str

    def __post_init__(self) -> None:
        _check_table_name(self.name)


def Table(name: str) -> Any:
    """Reference a table by name, e.g. ``def m(df: MySchema = Table("raw")) -> Out: ...``.

    Returns a ``TableRef``; it is typed ``Any`` so that it can be the default of a
    parameter annotated with a schema. Invalid names raise ``ValueError``.
    """
    return TableRef(name)
