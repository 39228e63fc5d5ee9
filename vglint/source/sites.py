"""Sites of libcst nodes: where a fact comes from, resolved to a span and source text only when a
finding needs it (positions cost a full code generation, so only files with findings pay it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import MetadataWrapper, PositionProvider

from vglint.findings import Span


class Locator:
    """Spans and source text of one module's nodes; positions are computed once, on first use."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._positions: Any = None
        self._call_lines: dict[cst.CSTNode, int] = {}  # lines of the calls passed by `line`'s code generations

    def span(self, node: cst.CSTNode) -> Span:
        if self._positions is None:
            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        position = self._positions.get(node)
        if position is None:
            return Span.at(1, 1)
        return Span(position.start.line, position.start.column + 1, position.end.line, position.end.column + 1)

    def line(self, node: cst.CSTNode) -> int:
        """The line `span(node)` starts on. Until a span is asked for, without the positions of the
        whole file (a code generation that tracks them costs twice the parse): the code is
        generated up to the node, counting lines only."""
        if node in self._call_lines:
            return self._call_lines[node]
        if self._positions is None and not isinstance(node, cst.IndentedBlock):  # its start is its first statement's
            # the calls it passes on the way are kept: the models of a file ask for the lines of
            # their constructions last to first, so one generation answers them all
            state = _LineCounter(self.module, node, self._call_lines)
            try:
                self.module._codegen(state)
            except _Found as found:
                return found.line
        return self.span(node).line

    def text(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)


class _Found(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _LineCounter(CodegenState):
    """libcst's code generation, keeping no code: it counts lines, and stops where `target` starts
    as `PositionProvider` sees it (where its syntactic position is recorded, or else where its
    code begins)."""

    def __init__(self, module: cst.Module, target: cst.CSTNode, call_lines: dict[cst.CSTNode, int]) -> None:
        super().__init__(module.default_indent, module.default_newline)
        self.target = target
        self.call_lines = call_lines
        self.lines = 1
        self.target_begins = 1

    def add_indent_tokens(self) -> None:
        pass  # indentation holds no line break

    def add_token(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            self.lines += value.count("\n") + value.count("\r") - value.count("\r\n")

    def before_codegen(self, node: cst.CSTNode) -> None:
        if node is self.target:
            self.target_begins = self.lines

    def after_codegen(self, node: cst.CSTNode) -> None:
        if node is self.target:
            raise _Found(self.target_begins)

    @contextmanager
    def record_syntactic_position(self, node: cst.CSTNode, **hoisted: Any) -> Iterator[None]:
        if node is self.target:
            raise _Found(self.lines)
        if type(node) is cst.Call:
            self.call_lines[node] = self.lines
        yield


class SiblingLocator(Locator):
    """A sibling module's nodes: their spans are never reported in the checked file (rules report
    at the model instead), so none are computed."""

    def span(self, node: cst.CSTNode) -> Span:
        return Span.at(1, 1)

    def line(self, node: cst.CSTNode) -> int:
        return 1


class NodeSite:
    """A `Site` for a libcst node. `local` is False for a node of a sibling module."""

    __slots__ = ("node", "locator", "local")

    def __init__(self, node: cst.CSTNode, locator: Locator, local: bool = True) -> None:
        self.node, self.locator, self.local = node, locator, local

    @property
    def span(self) -> Span:
        return self.locator.span(self.node)

    @property
    def text(self) -> str:
        return self.locator.text(self.node)
