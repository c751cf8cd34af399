"""The Python worker: runs one node or expectation for the sluice runtime.

Invoked as ``python -I -B -m sluice._worker JOB.json`` by the runtime
(``runtime/src/python/worker.rs``), one process per call. The job names the node's
file and function, its inputs as uncompressed Arrow IPC files (memory-mapped here;
a large input comes in several parts, written in parallel, concatenated here without
copying), where to write the output (an Arrow IPC file) and the result JSON::

    {"version": 2, "kind": "node" | "expectation", "project_root": "...",
     "file": "child.py", "function": "child_table",
     "inputs": [{"param": "df", "table": "parent_table",
                 "paths": [".../in-0-0.arrow", ".../in-0-1.arrow"]}],
     "params": {...}, "tables": [...], "dataframe": "polars" | "pyarrow" | "pandas",
     "allow_network": false, "output": ".../out.arrow", "result": ".../result.json"}

The result is ``{"status": "ok", "timings": {...}, "rows": N, "passed": bool}`` or
``{"status": "error", "phase": "input" | "load" | "call" | "return" | "internal",
"error": {"type", "message", "traceback", "file", "line"}, "timings": {...}}``.
Exit status: 0 with an ``ok`` result, 1 with an ``error`` result.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

JOB_VERSION = 2
NETWORK_MESSAGE = "network access is disabled for Python nodes (sluice run --allow-network lifts it)"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class NetworkDisabledError(PermissionError):
    """Raised when a node without network access tries to reach the network."""


class _Failure(Exception):
    """An error attributed to one phase of the job."""

    def __init__(self, phase: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.phase = phase
        self.error = error


# --- network ----------------------------------------------------------------------

_NETWORK_EVENTS = frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
    }
)


def _network_hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _NETWORK_EVENTS:
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        import socket

        sock = args[0] if args else None
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return  # Unix sockets (multiprocessing, ...) stay usable.
    raise NetworkDisabledError(NETWORK_MESSAGE)


def disable_network() -> None:
    """Install an audit hook that refuses DNS look-ups and IP connections (cannot be removed)."""
    sys.addaudithook(_network_hook)


# --- errors -----------------------------------------------------------------------


def _in_root(filename: str, root: str) -> bool:
    return filename.startswith(root + os.sep)


def describe(exc: BaseException, root: str) -> dict[str, Any]:
    """``{type, message, traceback, file, line}`` of ``exc``; ``file`` is relative to ``root``."""
    te = traceback.TracebackException.from_exception(exc)
    frames = [
        f
        for f in te.stack
        if not f.filename.startswith(_PACKAGE_DIR + os.sep) and not f.filename.startswith("<frozen importlib")
    ]
    te.stack = traceback.StackSummary.from_list(frames)
    file = line = None
    for frame in frames:
        if frame.filename and _in_root(frame.filename, root):
            file, line = frame.filename, frame.lineno
    if isinstance(exc, SyntaxError) and exc.filename and _in_root(exc.filename, root):
        file, line = exc.filename, exc.lineno
    if file is not None:
        file = os.path.relpath(file, root).replace(os.sep, "/")
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__", None):
        name = f"{module}.{name}"
    return {
        "type": name,
        "message": str(exc),
        "traceback": "".join(te.format()),
        "file": file,
        "line": line,
    }


def _plain(phase: str, type_name: str, message: str) -> _Failure:
    return _Failure(phase, {"type": type_name, "message": message, "traceback": "", "file": None, "line": None})


# --- data exchange ----------------------------------------------------------------


def _polars_major(pl: Any) -> int:
    try:
        return int(pl.__version__.split(".")[0])
    except ValueError:
        return 1


def _read_arrow(paths: list[str]) -> Any:
    """The Arrow IPC files at ``paths`` (parts of one table) as a pyarrow Table whose
    buffers point into memory maps."""
    import pyarrow as pa
    import pyarrow.ipc

    tables = []
    for path in paths:
        with pa.memory_map(path, "r") as source:
            tables.append(pyarrow.ipc.open_file(source).read_all())
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables)  # no copy: the parts become chunks


def read_input(paths: list[str], kind: str) -> Any:
    """The Arrow IPC files at ``paths`` (parts of one table) as a DataFrame of ``kind``,
    memory-mapped where possible."""
    if not paths:
        raise ValueError("an input without files")
    if kind == "polars":
        import polars as pl

        try:
            import pyarrow  # noqa: F401
        except ImportError:  # pyarrow is a default package; this is only a fallback
            if _polars_major(pl) >= 2:
                frames = [pl.read_ipc(path) for path in paths]
            else:
                frames = [pl.read_ipc(path, memory_map=True, rechunk=False) for path in paths]
            return pl.concat(frames, rechunk=False)
        # Through pyarrow's memory map, fixed-width columns are not copied (Polars
        # converts strings to its own layout); pl.read_ipc reads the whole file into
        # memory first and is several times slower (BENCHMARKS.md, "Python nodes").
        return pl.from_arrow(_read_arrow(paths), rechunk=False)
    table = _read_arrow(paths)
    if kind == "pyarrow":
        return table
    if kind == "pandas":
        return table.to_pandas()
    raise ValueError(f"unknown dataframe kind {kind!r}")


def _write_arrow(batches: Any, schema: Any, path: str) -> int:
    import pyarrow as pa
    import pyarrow.ipc

    rows = 0
    with pa.OSFile(path, "wb") as sink, pyarrow.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def write_output(value: Any, path: str, function: str) -> int:
    """Write a node's return value to ``path`` as an Arrow IPC file; returns the row count.

    Accepts Polars DataFrame/LazyFrame, pyarrow Table/RecordBatch/RecordBatchReader,
    pandas DataFrame and any object exporting the Arrow PyCapsule interface
    (``__arrow_c_stream__`` or ``__arrow_c_array__``).
    """
    kind = type(value)
    module = kind.__module__.partition(".")[0]
    if module == "polars":
        import polars as pl

        if isinstance(value, pl.LazyFrame):
            value = value.collect()
        if isinstance(value, pl.DataFrame):
            if hasattr(pl, "CompatLevel"):
                value.write_ipc(path, compression="uncompressed", compat_level=pl.CompatLevel.oldest())
                return value.height
            # Polars 1.0 writes IPC metadata that strict readers reject: go through pyarrow.
            table = value.to_arrow()
            return _write_arrow(table.to_batches(), table.schema, path)
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(value, pa.Table):
            return _write_arrow(value.to_batches(), value.schema, path)
        if isinstance(value, pa.RecordBatch):
            return _write_arrow([value], value.schema, path)
        if isinstance(value, pa.RecordBatchReader):
            return _write_arrow(value, value.schema, path)
    if module == "pandas":
        import pandas as pd
        import pyarrow as pa

        if isinstance(value, pd.DataFrame):
            table = pa.Table.from_pandas(value, preserve_index=None).replace_schema_metadata(None)
            return _write_arrow(table.to_batches(), table.schema, path)
    if hasattr(value, "__arrow_c_stream__"):
        import pyarrow as pa

        reader = pa.RecordBatchReader.from_stream(value)
        return _write_arrow(reader, reader.schema, path)
    if hasattr(value, "__arrow_c_array__"):
        import pyarrow as pa

        batch = pa.record_batch(value)
        return _write_arrow([batch], batch.schema, path)
    name = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__
    raise _plain(
        "return",
        "TypeError",
        f"{function} returned {name}; a node must return a table: a Polars DataFrame or "
        "LazyFrame, a pyarrow Table or RecordBatch, a pandas DataFrame, or an object "
        "exporting Arrow (__arrow_c_stream__ / __arrow_c_array__)",
    )


def _as_bool(value: Any, function: str) -> bool:
    if isinstance(value, bool):
        return value
    kind = type(value)
    if kind.__module__ == "numpy" and getattr(getattr(value, "dtype", None), "kind", None) == "b":
        if getattr(value, "shape", None) == ():
            return bool(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    raise _plain(
        "return",
        "TypeError",
        f"expectation {function} returned {name}; it must return a bool (True: passed, False: failed)",
    )


# --- the job ----------------------------------------------------------------------


def _import_library(kind: str) -> None:
    if kind == "polars":
        import polars  # noqa: F401
    else:
        import pyarrow  # noqa: F401

        if kind == "pandas":
            import pandas  # noqa: F401


def _run_parameter_key(default: Any) -> str | None:
    """The run parameter a default names: ``bauplan.Parameter("key")`` (sluice's fallback
    module, or an object of another SDK version with a string ``param_name``)."""
    key = getattr(default, "param_name", None)
    if type(default).__name__ == "Parameter" and isinstance(key, str):
        return key
    return None


def _annotated_run_parameter_key(annotation: Any) -> str | None:
    """The run parameter an ``Annotated[T, bauplan.Parameter("key")]`` annotation names."""
    import typing

    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    for meta in typing.get_args(annotation)[1:]:
        key = _run_parameter_key(meta)
        if key is not None:
            return key
    return None


def _parameter_call_key(call: Any) -> str | None:
    """The key of a ``Parameter("key")`` (or ``Parameter(param_name="key")``) call node."""
    import ast

    if not isinstance(call, ast.Call):
        return None
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "Parameter":
        return None
    key = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "param_name"), None)
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return None


def _source_run_parameters(fn: Any) -> dict[str, str]:
    """``{parameter: key}`` for the run parameters ``fn``'s source reads: the
    ``p=bauplan.Parameter("key")`` defaults and the ``p: Annotated[T,
    bauplan.Parameter("key")]`` annotations.

    Bauplan's own SDK evaluates ``bauplan.Parameter("key")`` to ``None``, so with the
    real package installed the key is only in the source (as the compiler reads it);
    an annotation under ``from __future__ import annotations`` is only text.
    """
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return {}
    node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if node is None:
        return {}
    args = node.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    found = {}
    for arg, default in pairs:
        key = _parameter_call_key(default)
        if key is not None:
            found[arg.arg] = key
    for arg in positional + args.kwonlyargs:
        annotation = arg.annotation
        if arg.arg in found or not isinstance(annotation, ast.Subscript):
            continue
        value = annotation.value
        name = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", None)
        if name != "Annotated" or not isinstance(annotation.slice, ast.Tuple):
            continue
        for meta in annotation.slice.elts[1:]:
            key = _parameter_call_key(meta)
            if key is not None:
                found[arg.arg] = key
                break
    return found


def _table_name(default: Any) -> str | None:
    """The table a default names: ``sluice.Table("t")``, ``bauplan.Model("t", ...)``."""
    from .schema import TableRef

    if isinstance(default, TableRef):
        return default.name
    name = getattr(default, "name", None)
    if type(default).__name__ == "Model" and isinstance(name, str):
        return name
    return None


def _arguments(fn: Any, job: dict[str, Any], frames: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the call: the inputs, then run parameters.

    ``job["params"]`` maps run parameters' keys to their values (``--param`` values,
    else ``bauplan_project.yml`` defaults). A parameter whose default is
    ``bauplan.Parameter("key")``, or annotated ``Annotated[T, bauplan.Parameter("key")]``,
    gets the value of ``key``; any other parameter named like a run parameter gets that
    run parameter.
    """
    import inspect

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return dict(frames)
    names = signature.parameters
    for param in frames:
        if param not in names:
            raise _plain(
                "load", "TypeError", f"{job['function']} has no parameter {param!r} for the input it was given"
            )
    kwargs = dict(frames)
    params = job.get("params", {})
    from_source: dict[str, str] | None = None
    for name, parameter in names.items():
        if name in kwargs:
            continue
        key = _run_parameter_key(parameter.default)
        if key is None:
            key = _annotated_run_parameter_key(parameter.annotation)
        if key is None and (parameter.default is None or parameter.default is inspect.Parameter.empty):
            if from_source is None:
                from_source = _source_run_parameters(fn)
            key = from_source.get(name)
        if key is not None:
            if key not in params:
                raise _plain(
                    "input",
                    "TypeError",
                    f"{job['function']} ({job['file']}): parameter {name!r} reads the run parameter {key!r}, "
                    f"which has no value: pass `--param {key}=VALUE`, or declare it with a default under "
                    "`parameters:` in bauplan_project.yml",
                )
            kwargs[name] = params[key]
        elif name in params:
            kwargs[name] = params[name]
        elif (table := _table_name(parameter.default)) is not None:
            raise _plain(
                "input",
                "TypeError",
                f"{job['function']}: no input was given for parameter {name!r} (table {table})",
            )
    return kwargs


def run(job: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
    from . import _bauplan, _loader

    root = os.path.abspath(job["project_root"])
    kind = job.get("dataframe", "polars")
    function = job["function"]

    t = time.perf_counter()
    try:
        _import_library(kind)
    except ImportError as exc:
        raise _Failure("input", describe(exc, root)) from None
    timings["import_s"] = time.perf_counter() - t

    t = time.perf_counter()
    frames = {}
    for item in job["inputs"]:
        try:
            frames[item["param"]] = read_input(item["paths"], kind)
        except Exception as exc:  # noqa: BLE001
            raise _Failure("input", describe(exc, root)) from None
    timings["read_s"] = time.perf_counter() - t

    t = time.perf_counter()
    try:
        finder = _loader.install(root, job.get("tables", ()))
        _bauplan.install()
        module = _loader.load_module(finder, job["file"])
    except BaseException as exc:  # noqa: BLE001 - SystemExit in user code is an error too
        raise _Failure("load", describe(exc, root)) from None
    fn = getattr(module, function, None)
    if fn is None or not callable(fn):
        raise _plain("load", "AttributeError", f"{job['file']} defines no function {function}")
    kwargs = _arguments(fn, job, frames)
    timings["load_s"] = time.perf_counter() - t

    t = time.perf_counter()
    try:
        value = fn(**kwargs)
        if job["kind"] == "node" and type(value).__name__ == "LazyFrame":
            value = value.collect()
    except BaseException as exc:  # noqa: BLE001
        raise _Failure("call", describe(exc, root)) from None
    timings["compute_s"] = time.perf_counter() - t

    if job["kind"] == "expectation":
        return {"passed": _as_bool(value, function)}

    t = time.perf_counter()
    try:
        rows = write_output(value, job["output"], function)
    except _Failure:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _Failure("return", describe(exc, root)) from None
    timings["write_s"] = time.perf_counter() - t
    return {"rows": rows}


def _write_result(path: str, result: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m sluice._worker JOB.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        job = json.load(f)
    if job.get("version") != JOB_VERSION:
        print(f"unsupported job version {job.get('version')!r}", file=sys.stderr)
        return 2
    if not job.get("allow_network", False):
        disable_network()
    timings: dict[str, float] = {}
    try:
        result: dict[str, Any] = {"status": "ok", **run(job, timings)}
        code = 0
    except _Failure as failure:
        result = {"status": "error", "phase": failure.phase, "error": failure.error}
        code = 1
    except BaseException as exc:  # noqa: BLE001 - report, never a bare crash
        result = {"status": "error", "phase": "internal", "error": describe(exc, os.path.abspath(job["project_root"]))}
        code = 1
    result["timings"] = timings
    sys.stdout.flush()
    sys.stderr.flush()
    _write_result(job["result"], result)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
