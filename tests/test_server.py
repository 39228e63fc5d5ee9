"""`vglint server`, driven over stdio by pytest-lsp's client as an editor would drive it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from conftest import CLEAN_SOURCE, deep_mlp_source, run_vglint
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

#: The deep sigmoid MLP, with a non-BMP letter (two UTF-16 units, four UTF-8 bytes) and an accent
#: before the model on its line, so that every column differs in code points, UTF-16 and UTF-8.
MODEL_SOURCE = deep_mlp_source().replace("model = nn.Sequential(\n", "𝕞 = 'é'; model = nn.Sequential(nn.Sigmoid(),\n")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "vglint", "server"]))
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    """A client speaking the position encoding the test is parametrised with (UTF-16 unless given)."""
    capabilities = client_capabilities("visual-studio-code")
    encoding = getattr(request, "param", types.PositionEncodingKind.Utf16)
    capabilities.general = types.GeneralClientCapabilities(position_encodings=[encoding])
    result = await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities))
    assert result.capabilities.position_encoding == encoding
    yield
    await lsp_client.shutdown_session()


async def published(client: LanguageClient, uri: str, clean: bool, timeout: float = 30) -> list[types.Diagnostic]:
    """The document's diagnostics once the server has published a non-empty (or, if `clean`, an empty) list."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (diagnostics := client.diagnostics.get(uri)) is None or (not diagnostics) != clean:
        assert asyncio.get_running_loop().time() < deadline, f"no {'empty ' if clean else ''}diagnostics for {uri}"
        await asyncio.sleep(0.05)
    return list(diagnostics)


def open_document(client: LanguageClient, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
    )
    return uri


def change_document(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def expected_diagnostics(path: Path, text: str, encoding: str) -> dict[str, tuple[int, int, int, int, str]]:
    """Each finding of `vglint check` on the file as (start line, start character, end line, end character,
    message) in LSP's terms: 0-based lines, characters in code units of the negotiated encoding."""
    path.write_text(text, encoding="utf-8")
    done = run_vglint("check", "--output-format", "json", path.name, cwd=path.parent)
    lines = text.split("\n")
    codec = {"utf-8": "utf-8", "utf-16": "utf-16-le"}[encoding]
    width = {"utf-8": 1, "utf-16": 2}[encoding]

    def units(row: int, column: int) -> int:
        return len(lines[row - 1][: column - 1].encode(codec)) // width

    return {
        f["code"]: (f["location"]["row"] - 1, units(**f["location"]), f["end_location"]["row"] - 1,
                    units(**f["end_location"]), f["message"])
        for f in done.json()
    }  # fmt: skip


@pytest.mark.asyncio  # pytest-asyncio in strict mode: only the tests marked run on an event loop
@pytest.mark.parametrize("client", [types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf8], indirect=True)
async def test_diagnostics_of_the_unsaved_text_at_the_right_place_then_cleared(client: LanguageClient, tmp_path: Path):
    encoding = client.capabilities.general.position_encodings[0]
    (tmp_path / "pyproject.toml").write_text('[tool.vglint]\nignore = ["VG104"]\n')
    expected = expected_diagnostics(tmp_path / "expected.py", MODEL_SOURCE, encoding)
    assert set(expected) == {"VG101", "VG102", "VG103"}  # VG104 ignored by the configuration
    path = tmp_path / "model.py"
    path.write_text(CLEAN_SOURCE)  # on disk: clean; in the editor: the deep MLP, unsaved

    uri = open_document(client, path, MODEL_SOURCE)
    diagnostics = await published(client, uri, clean=False)
    by_code = {d.code: d for d in diagnostics}
    assert set(by_code) == set(expected)
    for code, diagnostic in by_code.items():
        start, end = diagnostic.range.start, diagnostic.range.end
        assert (start.line, start.character, end.line, end.character, diagnostic.message) == expected[code]
        assert diagnostic.source == "vglint"
        assert diagnostic.code_description.href == f"https://github.com/vglint/vglint/blob/main/rules/{code}.md"
    assert by_code["VG101"].severity == types.DiagnosticSeverity.Warning
    assert by_code["VG102"].severity == types.DiagnosticSeverity.Error

    for version, text in enumerate([MODEL_SOURCE + "\n", deep_mlp_source(5), CLEAN_SOURCE], start=2):
        change_document(client, uri, version, text)
    assert await published(client, uri, clean=True) == []
    await asyncio.sleep(0.5)  # an analysis of an older text, still running, must not publish after the newest
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_saving_and_closing(client: LanguageClient, tmp_path: Path):
    path = tmp_path / "model.py"
    path.write_text(CLEAN_SOURCE)
    uri = open_document(client, path, CLEAN_SOURCE)
    assert await published(client, uri, clean=True) == []
    change_document(client, uri, 2, deep_mlp_source())
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))
    assert {d.code for d in await published(client, uri, clean=False)} == {"VG101", "VG102", "VG103", "VG104"}
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))
    assert await published(client, uri, clean=True) == []


@pytest.mark.asyncio
async def test_an_invalid_configuration_is_one_error_on_the_first_line(client: LanguageClient, tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.vglint]\nselect = ["VG9Z"]\n')
    uri = open_document(client, tmp_path / "model.py", deep_mlp_source())
    [diagnostic] = await published(client, uri, clean=False)
    assert diagnostic.severity == types.DiagnosticSeverity.Error and diagnostic.range.start.line == 0
    assert "configuration" in diagnostic.message and "select" in diagnostic.message, diagnostic.message


def test_without_pygls_the_server_says_how_to_install_it():
    """pygls and lsprotocol (the lsp extra) made unimportable as Python documents it (None in sys.modules)."""
    block = "sys.modules['pygls'] = sys.modules['lsprotocol'] = None"
    code = f"import sys; {block}; from vglint.cli import main; main(['server'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "vglint: error: the language server needs pygls: pip install 'vglint[lsp]'"
    ]
