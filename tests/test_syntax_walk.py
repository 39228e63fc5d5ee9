"""The front-end's cheap readings of libcst trees say what libcst's own, slower ones say: `walk`
meets the nodes libcst's `visit` meets, in its order, and `Locator.line` is the line of the span."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from vglint.source.sites import Locator
from vglint.source.walk import _LAYOUT, walk

FIXTURES = sorted(Path(__file__).parent.parent.joinpath("fixtures").rglob("*.py"))[::8]

#: Syntax whose order or lines are easy to get wrong: decorators, keyword arguments, a conditional
#: expression, an `except ... as`, brackets and comments across lines, a class with bases.
TRICKY = (
    "import torch.nn as nn\n"
    "\n"
    "\n"
    "@decorate(\n"
    "    depth=3,  # a comment\n"
    ")\n"
    "class Net(nn.Module, metaclass=Meta):\n"
    "    def forward(self, x) -> (\n"
    "        int\n"
    "    ):\n"
    "        y = (\n"
    "            self.a(x) if x else self.b(x)\n"
    "        )\n"
    "        try:\n"
    "            pass\n"
    "        except (ValueError,\n"
    "                KeyError) as error:\n"
    "            y = [f(v, key=w) for v in y if g(v)]\n"
    '        return """\n'
    '        text""", y\n'
)


class _Everything(cst.CSTVisitor):
    """What libcst's visit meets, outside the nodes of layout."""

    def __init__(self) -> None:
        self.found: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _LAYOUT):
            return False
        self.found.append(node)
        return True


@pytest.mark.parametrize("source", [TRICKY, TRICKY.replace("\n", "\r\n"), *(p.read_text() for p in FIXTURES)])
def test_walk_meets_what_visit_meets_in_its_order(source):
    module = cst.parse_module(source)
    visitor = _Everything()
    module.visit(visitor)
    assert [id(node) for node in walk(module)] == [id(node) for node in visitor.found]


def test_a_pruned_node_is_met_but_not_entered():
    module = cst.parse_module("y = f(g(x)) + h(x)\n")
    calls = [
        cst.ensure_type(n.func, cst.Name).value for n in walk(module, prune=(cst.Call,)) if isinstance(n, cst.Call)
    ]
    assert calls == ["f", "h"]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_the_line_of_a_node_is_the_line_of_its_span(newline):
    module = cst.parse_module(TRICKY.replace("\n", newline))
    for node in walk(module):
        assert Locator(module).line(node) == Locator(module).span(node).line, module.code_for_node(node)
