"""Loading project modules the way sluice reads them (used by the Python worker).

sluice resolves a bare-name parameter default such as ``df: Parent = parent_table``
statically; plain Python would raise ``NameError`` when the ``def`` runs. Project
modules are therefore executed in a :class:`TableNamespace`, a ``dict`` subclass
whose ``__missing__`` turns the name of a project table into a ``sluice.Table``
placeholder (CPython consults a namespace that is not an exact ``dict`` through
``__getitem__``). Every other unknown name still raises ``NameError``.

:class:`ProjectFinder` is a meta-path finder for the ``.py`` files under the project
root, so ``from child import child_table`` in one node loads ``child.py`` the same way.
Standard-library module names are never taken over by project files.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

from .schema import Table

__all__ = ["TableNamespace", "ProjectFinder", "module_name_for", "load_module"]

_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)
_MARK = "__sluice_project__"


def table_names(tables: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
    """Bare name -> table: a mapping as given (``{"orders": "raw.orders"}``: the
    variable a ``Source`` is assigned to), or a list of tables named as themselves."""
    if isinstance(tables, Mapping):
        return {str(k): str(v) for k, v in tables.items()}
    return {t: t for t in tables}


class TableNamespace(dict):  # type: ignore[type-arg]
    """Module globals in which the bare name of a project table means ``Table(name)``."""

    def __init__(self, tables: Iterable[str] | Mapping[str, str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sluice_tables = table_names(tables)

    def __missing__(self, key: str) -> Any:
        # Builtins win: a table called `filter` must not shadow the builtin.
        table = self._sluice_tables.get(key)
        if table is not None and not hasattr(builtins, key):
            return Table(table)
        raise KeyError(key)


def module_name_for(file: str) -> str:
    """The module name of a project file: ``pkg/mod.py`` -> ``pkg.mod``, ``pkg/__init__.py`` -> ``pkg``."""
    parts = file.replace("\\", "/").split("/")
    if not parts[-1].endswith(".py"):
        raise ValueError(f"not a Python file: {file!r}")
    parts[-1] = parts[-1][: -len(".py")]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(p for p in parts if p)


class ProjectLoader(importlib.abc.Loader):
    """Executes one project file in a :class:`TableNamespace`."""

    def __init__(self, path: str, tables: dict[str, str]) -> None:
        self.path = path
        self.tables = tables

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def get_filename(self, fullname: str) -> str:
        return self.path

    def get_source(self, fullname: str) -> str:
        with open(self.path, encoding="utf-8") as f:
            return f.read()

    def exec_module(self, module: types.ModuleType) -> None:
        with open(self.path, "rb") as f:
            source = f.read()
        code = compile(source, self.path, "exec", dont_inherit=True)
        namespace = TableNamespace(self.tables, vars(module))
        namespace[_MARK] = True
        try:
            exec(code, namespace)  # noqa: S102 - running the user's node is the point
        finally:
            vars(module).update(namespace)


class ProjectFinder(importlib.abc.MetaPathFinder):
    """Finds modules whose file lies under ``root`` (``a/b.py`` or ``a/b/__init__.py``)."""

    def __init__(self, root: str, tables: Iterable[str] | Mapping[str, str]) -> None:
        self.root = os.path.abspath(root)
        self.tables = table_names(tables)

    def find_spec(
        self,
        fullname: str,
        path: Any = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top in _STDLIB or top == "sluice":
            return None
        loaded = sys.modules.get(top)
        if loaded is not None and top != fullname and not getattr(loaded, _MARK, False):
            # A submodule of a package that is not the project's (polars.x, ...).
            if getattr(loaded, "__path__", None) is None or not any(
                os.path.abspath(p).startswith(self.root + os.sep) for p in loaded.__path__
            ):
                return None
        return self.spec_for(fullname)

    def spec_for(self, fullname: str) -> importlib.machinery.ModuleSpec | None:
        base = os.path.join(self.root, *fullname.split("."))
        init = os.path.join(base, "__init__.py")
        if os.path.isfile(init):
            return importlib.util.spec_from_file_location(
                fullname, init, loader=ProjectLoader(init, self.tables), submodule_search_locations=[base]
            )
        if os.path.isfile(base + ".py"):
            return importlib.util.spec_from_file_location(
                fullname, base + ".py", loader=ProjectLoader(base + ".py", self.tables)
            )
        return None


def install(root: str, tables: Iterable[str] | Mapping[str, str]) -> ProjectFinder:
    """Put the project finder in front of the path finder, and ``root`` at the end of ``sys.path``.

    Project ``.py`` modules are found by the finder (before installed packages); the
    ``sys.path`` entry only serves folders without ``__init__.py`` and other files, and
    comes last so that a project file never shadows the standard library.
    """
    finder = ProjectFinder(root, tables)
    if finder.root not in sys.path:
        sys.path.append(finder.root)
    position = next(
        (i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder),
        len(sys.meta_path),
    )
    sys.meta_path.insert(position, finder)
    return finder


def load_module(finder: ProjectFinder, file: str) -> types.ModuleType:
    """Load the node module ``file`` (relative to the project root) through ``finder``."""
    name = module_name_for(file)
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, _MARK, False):
        return existing
    spec = finder.spec_for(name)
    if spec is None or os.path.abspath(spec.origin or "") != os.path.join(finder.root, os.path.normpath(file)):
        path = os.path.join(finder.root, os.path.normpath(file))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"the node's module {file} does not exist under {finder.root}")
        spec = importlib.util.spec_from_file_location(name, path, loader=ProjectLoader(path, finder.tables))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # A file named like a standard-library module runs, but does not replace it.
    registered = name not in sys.modules
    if registered:
        sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if registered:
            sys.modules.pop(name, None)
        raise
    return module
