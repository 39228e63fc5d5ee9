"""`vglint server`: vglint's static rules as a language server over standard input and output.

Diagnostics are published for Python documents when they are opened, changed (the unsaved text;
full sync) and saved, and cleared when they are closed. The configuration is read again for each
analysis, from the nearest `[tool.vglint]` above the document, as `vglint check` reads it. One
analysis runs per document at a time, on a worker thread, so the server keeps answering; edits
made meanwhile are analysed when it ends, and only the newest text's diagnostics are published.
Each analysis is bounded by the front-end's own step, call-depth and time budgets.

The only module that imports pygls: `vglint check` and `import vglint` work without it.
"""

from __future__ import annotations

import asyncio
import gc
import re
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import PositionCodec

from vglint import __version__
from vglint.config import ConfigError, Settings, find_config, load_config
from vglint.docs import help_uri
from vglint.engine import check_source, discover, make_rules
from vglint.findings import Finding, Severity, Span
from vglint.rules import RULES_BY_CODE
from vglint.source.parse import encoded

SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}

#: Python's line breaks (libcst counts lines as the tokenizer does; str.splitlines also breaks at \f and others).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class VglintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("vglint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.analysing: dict[str, asyncio.Task] = {}  # the running analysis of each document
        self.edited: set[str] = set()  # documents changed since their running analysis read them

    def analyse(self, uri: str) -> None:
        """Analyse the document now, or after the running analysis of it if there is one."""
        if uri in self.analysing:
            self.edited.add(uri)
            return
        self.analysing[uri] = asyncio.ensure_future(self._analyse_until_current(uri))

    async def _analyse_until_current(self, uri: str) -> None:
        try:
            while uri in self.workspace.text_documents:  # a document closed meanwhile gets nothing
                self.edited.discard(uri)
                document = self.workspace.get_text_document(uri)
                if document.path is None or not (document.language_id == "python" or document.path.endswith(".py")):
                    return  # not a Python file (an unsaved buffer has no configuration to read)
                try:
                    diagnostics, errors = await asyncio.to_thread(
                        diagnose, Path(document.path), document.source, document.position_codec
                    )
                except Exception as error:  # a bug in vglint: say so in the client's log, keep serving
                    diagnostics, errors = [], [f"internal error: {type(error).__name__}: {error}"]
                for error in errors:
                    self.window_log_message(
                        types.LogMessageParams(type=types.MessageType.Error, message=f"vglint: {error}")
                    )
                if uri not in self.edited and uri in self.workspace.text_documents:
                    self.text_document_publish_diagnostics(
                        types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=document.version)
                    )
                    return
        finally:
            del self.analysing[uri]


def diagnose(path: Path, text: str, codec: PositionCodec) -> tuple[list[types.Diagnostic], list[str]]:
    """The diagnostics for a document's text, and the internal errors of its analysis."""
    try:
        found = find_config(path)
        settings = load_config(found, Settings()) if found else Settings()
    except ConfigError as error:
        start = types.Position(line=0, character=0)
        problem = types.Diagnostic(range=types.Range(start=start, end=start), severity=types.DiagnosticSeverity.Error,
                                   message=f"vglint cannot read its configuration: {error}", source="vglint")  # fmt: skip
        return [problem], []
    if not discover([str(path)], settings, force_exclude=True)[0]:
        return [], []
    try:
        findings, errors = check_source(encoded(text), str(path), make_rules(settings), settings)
    finally:
        gc.unfreeze()  # the engine freezes the heap between the files of one run; a server's run never ends
    lines = _LINE_BREAK.split(text)
    return [_diagnostic(finding, lines, codec, path) for finding in findings], errors


def _diagnostic(finding: Finding, lines: list[str], codec: PositionCodec, path: Path) -> types.Diagnostic:
    rule = RULES_BY_CODE.get(finding.code)
    related = None
    if finding.related is not None and finding.related_note:
        where = types.Location(uri=path.as_uri(), range=_range(finding.related, lines, codec))
        related = [types.DiagnosticRelatedInformation(location=where, message=finding.related_note)]
    return types.Diagnostic(
        range=_range(finding.span, lines, codec),
        message=finding.message,
        severity=SEVERITIES[finding.severity],
        code=finding.code,
        code_description=types.CodeDescription(href=help_uri(rule)) if rule is not None else None,
        source="vglint",
        related_information=related,
    )


def _range(span: Span, lines: list[str], codec: PositionCodec) -> types.Range:
    """vglint's 1-based lines and code-point columns as LSP's 0-based lines and the client's code units
    (UTF-16 unless the client asked for another encoding)."""

    def position(line: int, column: int) -> types.Position:
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return types.Position(line=line - 1, character=codec.client_num_units(text[: column - 1]))

    return types.Range(start=position(span.line, span.column), end=position(span.end_line, span.end_column))


def serve() -> None:
    """Speak LSP on standard input and output until the client says exit."""
    server = VglintServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: VglintServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.analyse(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: VglintServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.analyse(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: VglintServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.analyse(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: VglintServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    server.start_io()
