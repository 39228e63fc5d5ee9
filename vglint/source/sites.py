"""Sites of libcst nodes: where a fact comes from, resolved to a span and source text only when a
finding needs it (positions cost a full code generation, so only files with findings pay it)."""

from __future__ import annotations

from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from vglint.findings import Span


class Locator:
    """Spans and source text of one module's nodes; positions are computed once, on first use."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._positions: Any = None

    def span(self, node: cst.CSTNode) -> Span:
        if self._positions is None:
            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        position = self._positions.get(node)
        if position is None:
            return Span.at(1, 1)
        return Span(position.start.line, position.start.column + 1, position.end.line, position.end.column + 1)

    def text(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)


class SiblingLocator(Locator):
    """A sibling module's nodes: their spans are never reported in the checked file (rules report
    at the model instead), so none are computed."""

    def span(self, node: cst.CSTNode) -> Span:
        return Span.at(1, 1)


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
