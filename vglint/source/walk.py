"""A read-only walk over a libcst tree, for the questions the interpreter asks of the syntax (does
this expression call anything, which names does a loop carry).

libcst's `visit` rebuilds every node it passes (`_visit_and_replace_children`, with each node's
validation), even for a visitor that changes nothing: on transformers' model files those visits
cost a quarter of the analysis. This walk reads the nodes' fields instead. It skips the
whitespace, comments, brackets and operator tokens, which hold no expression or statement."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import libcst as cst

#: Nodes of layout only: no visitor of vglint looks at them or at anything under them.
_LAYOUT = (
    cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline, cst.Comment,
    cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
    cst.RightCurlyBrace, cst.Comma, cst.Dot, cst.Colon, cst.Semicolon, cst.AssignEqual, cst.ImportStar,
    cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp, cst.Asynchronous,
)  # fmt: skip

#: The fields of the nodes that do not declare them in the order of the source (libcst visits them in that order).
_SOURCE_ORDER = {
    cst.Arg: ("keyword", "value"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
}
#: By node class, the names of its fields, in the order of the source.
_FIELDS: dict[type, tuple[str, ...]] = {}
#: By type of a value in a field: whether it is a node to walk into.
_WALKED: dict[type, bool] = {}


def walk(node: cst.CSTNode, prune: tuple[type, ...] = ()) -> Iterator[cst.CSTNode]:
    """`node` and every node under it, a node before the nodes under it; the nodes under one of
    the types in `prune` are not walked into (the node itself is yielded). The order is libcst's
    visit order, the order of the source."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if prune and isinstance(current, prune):
            continue
        children = _children(current)
        if children:
            stack.extend(reversed(children))


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    names = _FIELDS.get(type(node))
    if names is None:
        declared = [f.name for f in dataclasses.fields(node)]
        first = [name for name in _SOURCE_ORDER.get(type(node), ()) if name in declared]
        names = _FIELDS[type(node)] = (*first, *(name for name in declared if name not in first))
    children = []
    for name in names:
        value = getattr(node, name)
        if type(value) in (tuple, list):
            children.extend(item for item in value if _walked(item))
        elif _walked(value):
            children.append(value)
    return children


def _walked(value: object) -> bool:
    """A node to walk into: not layout, nor a plain value (a string, a sentinel)."""
    found = _WALKED.get(type(value))
    if found is None:
        found = _WALKED[type(value)] = isinstance(value, cst.CSTNode) and not isinstance(value, _LAYOUT)
    return found
