"""A second, independent LSP client for `sluice lsp`: pytest-lsp (on pygls).

It checks what Neovim 0.7's client cannot show: a client that offers only UTF-16
positions (no `utf-8` in `general.positionEncodings`) gets exact UTF-16 ranges when
non-ASCII text (an astral-plane emoji, 2 UTF-16 units) precedes the error on its
line, incremental edits it sends in UTF-16 land where it means them, and the server
exits 0 after shutdown + exit (1 after exit alone), as the LSP specification says.

The server is `$SLUICE_BIN lsp` (tests/e2e/lsp_pytest.rs sets SLUICE_BIN to the
binary cargo built), run on a copy of `unicode_project/`.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
from collections.abc import Callable, Sequence

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SLUICE = os.environ.get("SLUICE_BIN")
if not SLUICE:
    raise RuntimeError("SLUICE_BIN must name the sluice binary (tests/e2e/lsp_pytest.rs sets it)")

PROJECT = pathlib.Path(__file__).parent / "unicode_project"
# Every wait is bounded: a server that never answers fails the test instead of hanging it.
TIMEOUT = 60.0

# The error lines of unicode_project/, and where each error's token is in UTF-16 code
# units (0-based, end exclusive), as LSP positions count them by default.
SQL_FILE = "store_labels.sql"
SQL_LINE = "SELECT order_id, '🚚 Zürich' AS store_label /* café 😀 */, amount FROM ordrs"
SQL_RANGE = ((0, 71), (0, 76))  # `ordrs`: character 69, byte 77
PY_FILE = "order_labels.py"
PY_LINE = (
    '    return orders.with_columns(lit("café 😀").alias("label"))'
    '.select(col("order_id"), col("lable"))'
)
PY_RANGE = ((7, 90), (7, 97))  # `"lable"`, quotes included: character 89, byte 93


def utf16_slice(line: str, start: int, end: int) -> str:
    """The text between two UTF-16 columns of `line`."""
    units = line.encode("utf-16-le")
    return units[2 * start : 2 * end].decode("utf-16-le")


def test_expected_ranges_are_utf16_columns_of_the_fixture() -> None:
    # The expectations below are only meaningful if they name the bad tokens in UTF-16
    # units and differ from what a server counting characters or bytes would send.
    for name, line, ((row, start), (_, end)), token in [
        (SQL_FILE, SQL_LINE, SQL_RANGE, "ordrs"),
        (PY_FILE, PY_LINE, PY_RANGE, '"lable"'),
    ]:
        assert (PROJECT / name).read_text(encoding="utf-8").splitlines()[row] == line
        assert utf16_slice(line, start, end) == token
        assert line.index(token) != start
        assert line.encode("utf-8").index(token.encode("utf-8")) != start


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[SLUICE, "lsp"]))
async def client(lsp_client: LanguageClient, tmp_path: pathlib.Path):
    root = tmp_path / "unicode_project"
    shutil.copytree(PROJECT, root)
    capabilities = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16],
        ),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                related_information=True,
                version_support=True,
                code_description_support=True,
            ),
        ),
        workspace=types.WorkspaceClientCapabilities(workspace_folders=True),
    )
    lsp_client.root = root  # type: ignore[attr-defined]
    lsp_client.initialize_result = await asyncio.wait_for(  # type: ignore[attr-defined]
        lsp_client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities,
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            )
        ),
        TIMEOUT,
    )
    yield
    # A test that ended the server itself leaves nothing to do; otherwise end it
    # politely, and kill it if it does not go.
    server = lsp_client._server
    if server is not None and server.returncode is None:
        try:
            await asyncio.wait_for(lsp_client.shutdown_session(), TIMEOUT)
        finally:
            if server.returncode is None:
                server.kill()
                await server.wait()


def open_file(client: LanguageClient, name: str) -> tuple[str, str]:
    """Opens a file of the project copy in the client; its URI and text."""
    path = client.root / name  # type: ignore[attr-defined]
    text = path.read_text(encoding="utf-8")
    language = "sql" if name.endswith(".sql") else "python"
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )
    return uri, text


async def diagnostics_where(
    client: LanguageClient,
    uri: str,
    predicate: Callable[[Sequence[types.Diagnostic]], bool],
    what: str,
) -> Sequence[types.Diagnostic]:
    """Waits until the diagnostics last published for `uri` satisfy `predicate`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        current = client.diagnostics.get(uri)
        if current is not None and predicate(current):
            return current
        remaining = deadline - loop.time()
        if remaining <= 0:
            pytest.fail(f"no diagnostics for {uri} with {what} within {TIMEOUT}s; last: {current}")
        try:
            params = await asyncio.wait_for(
                client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), remaining
            )
        except TimeoutError:
            continue
        if params.uri == uri and predicate(params.diagnostics):
            return params.diagnostics


def with_code(code: str) -> Callable[[Sequence[types.Diagnostic]], bool]:
    return lambda diagnostics: any(d.code == code for d in diagnostics)


def without_code(code: str) -> Callable[[Sequence[types.Diagnostic]], bool]:
    return lambda diagnostics: all(d.code != code for d in diagnostics)


def the_one(diagnostics: Sequence[types.Diagnostic], code: str) -> types.Diagnostic:
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {diagnostics}"
    return found[0]


def as_pairs(r: types.Range) -> tuple[tuple[int, int], tuple[int, int]]:
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


def help_text(diagnostic: types.Diagnostic) -> str:
    """Everything an editor shows of a diagnostic: its message and related messages."""
    related = diagnostic.related_information or []
    return "\n".join([diagnostic.message, *(r.message for r in related)])


@pytest.mark.asyncio
async def test_utf16_only_client_gets_utf16_ranges(client: LanguageClient) -> None:
    capabilities = client.initialize_result.capabilities  # type: ignore[attr-defined]
    # Offered only utf-16, the server must use it: say so, or say nothing (the default).
    assert capabilities.position_encoding in (None, types.PositionEncodingKind.Utf16)
    sync = capabilities.text_document_sync
    change = sync.change if isinstance(sync, types.TextDocumentSyncOptions) else sync
    assert change == types.TextDocumentSyncKind.Incremental, sync

    sql_uri, _ = open_file(client, SQL_FILE)
    py_uri, _ = open_file(client, PY_FILE)

    sql = the_one(await diagnostics_where(client, sql_uri, with_code("E0101"), "E0101"), "E0101")
    assert as_pairs(sql.range) == SQL_RANGE
    assert sql.severity == types.DiagnosticSeverity.Error
    assert "ordrs" in sql.message
    assert "did you mean `orders`?" in help_text(sql)
    assert sql.code_description is not None
    assert "docs/language.md#" in sql.code_description.href

    py = the_one(await diagnostics_where(client, py_uri, with_code("E0701"), "E0701"), "E0701")
    assert as_pairs(py.range) == PY_RANGE
    assert py.severity == types.DiagnosticSeverity.Error
    assert "lable" in py.message
    assert "did you mean `label`?" in help_text(py)


@pytest.mark.asyncio
async def test_incremental_edits_are_read_in_utf16(client: LanguageClient) -> None:
    uri, _ = open_file(client, SQL_FILE)
    await diagnostics_where(client, uri, with_code("E0101"), "E0101")
    (row, start), (_, end) = SQL_RANGE

    # Replace exactly `ordrs` (its UTF-16 range) with `orders`: the table exists, the
    # error goes. A server reading the range as characters would splice the wrong
    # text and keep reporting an error.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=row, character=start),
                        end=types.Position(line=row, character=end),
                    ),
                    text="orders",
                )
            ],
        )
    )
    await diagnostics_where(
        client, uri, lambda ds: len(ds) == 0, "no diagnostics after fixing the table name"
    )

    # Break it again, still after the emoji: delete the first `r` of `orders`;
    # `oders` is unknown, and the error's range is the new token's.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=row, character=start + 1),
                        end=types.Position(line=row, character=start + 2),
                    ),
                    text="",
                )
            ],
        )
    )
    broken = the_one(await diagnostics_where(client, uri, with_code("E0101"), "E0101"), "E0101")
    assert "oders" in broken.message
    assert as_pairs(broken.range) == ((row, start), (row, start + len("oders")))


@pytest.mark.asyncio
async def test_shutdown_then_exit_ends_the_server_with_0(client: LanguageClient) -> None:
    uri, _ = open_file(client, SQL_FILE)
    await diagnostics_where(client, uri, with_code("E0101"), "E0101")
    result = await asyncio.wait_for(client.shutdown_async(None), TIMEOUT)
    assert result is None
    client.exit(None)
    assert await asyncio.wait_for(client._server.wait(), TIMEOUT) == 0


@pytest.mark.asyncio
async def test_exit_without_shutdown_ends_the_server_with_1(client: LanguageClient) -> None:
    client.exit(None)
    assert await asyncio.wait_for(client._server.wait(), TIMEOUT) == 1


def apply_utf16(text: str, edits: Sequence[types.TextEdit]) -> str:
    """Applies LSP text edits (UTF-16 positions) to `text`, last first."""
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        before = sum(len(l.encode("utf-16-le")) // 2 + 1 for l in lines[: p.line])
        return before + p.character

    units = text.encode("utf-16-le")
    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        start, end = offset(edit.range.start), offset(edit.range.end)
        units = units[: 2 * start] + edit.new_text.encode("utf-16-le") + units[2 * end :]
    return units.decode("utf-16-le")


def replace_all(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


@pytest.mark.asyncio
async def test_completion_after_non_ascii_text(client: LanguageClient) -> None:
    uri, text = open_file(client, SQL_FILE)
    await diagnostics_where(client, uri, with_code("E0101"), "E0101")
    # Fix the table, alias it, and type `o.` after the emoji: the query no longer parses.
    line = SQL_LINE.replace("FROM ordrs", "FROM orders AS o WHERE o.")
    replace_all(client, uri, 2, text.replace(SQL_LINE, line))
    character = len(line.encode("utf-16-le")) // 2
    assert character != len(line)  # UTF-16 columns differ from characters here
    result = await asyncio.wait_for(
        client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=0, character=character),
            )
        ),
        TIMEOUT,
    )
    items = result.items if isinstance(result, types.CompletionList) else result
    assert sorted(i.label for i in items) == ["amount", "order_id", "store_id"]
    details = {i.label: i.detail for i in items}
    assert details["amount"].startswith("Float64"), details
    assert details["order_id"].startswith("Int64"), details
    # Each item replaces the (empty) word at the cursor, in UTF-16 columns.
    for item in items:
        assert item.text_edit.range.start == types.Position(line=0, character=character)


@pytest.mark.asyncio
async def test_quick_fixes_repair_typos_after_non_ascii_text(client: LanguageClient) -> None:
    for name, code, ((row, start), (_, end)), fixed_token in [
        (SQL_FILE, "E0101", SQL_RANGE, "orders"),
        (PY_FILE, "E0701", PY_RANGE, '"label"'),
    ]:
        uri, text = open_file(client, name)
        diagnostic = the_one(await diagnostics_where(client, uri, with_code(code), code), code)
        actions = await asyncio.wait_for(
            client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=diagnostic.range,
                    context=types.CodeActionContext(diagnostics=[diagnostic]),
                )
            ),
            TIMEOUT,
        )
        assert actions, f"no quick fix for {code} in {name}"
        action = actions[0]
        assert action.kind == types.CodeActionKind.QuickFix
        assert action.is_preferred is True
        edits = action.edit.changes[uri]
        fixed = apply_utf16(text, edits)
        line = fixed.split("\n")[row]
        # Only the name changed, quotes kept, at the UTF-16 columns of the token.
        assert utf16_slice(line, start, start + len(fixed_token.encode("utf-16-le")) // 2) == fixed_token
        replace_all(client, uri, 2, fixed)
        await diagnostics_where(client, uri, without_code(code), f"no {code} after the fix")
