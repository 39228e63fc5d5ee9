"""Another module of the project, parsed with libcst only as far as the checked file needs it.

A project module is imported for a few of its names (`from ...modeling_utils import
ALL_ATTENTION_FUNCTIONS`), yet parsing all of it with libcst cost about as much as parsing the
checked file itself: transformers' model files import `modeling_utils.py`, `generation/utils.py`
and a dozen more, thousands of lines each. CPython's own parser (`ast`, many times faster, no
tree of libcst nodes) finds the module's top-level classes and functions and their lines; libcst
parses the rest of the module level at once (the imports, assignments and `if`s that `LazyLevel`
runs), and each top-level definition only when it is first asked for, once per process.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import libcst as cst

Definition = cst.ClassDef | cst.FunctionDef


class SiblingSource:
    """A module's text split into its top-level definitions, parsed on demand, and the rest of
    its module level (`module`, without those definitions), parsed at once."""

    def __init__(self, source: bytes) -> None:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        text = source.decode(encoding)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like: not the user's concern here
            tree = ast.parse(source)
        lines = io.StringIO(text, newline="").readlines()  # ends kept; split as CPython counts lines
        self._lines = lines
        self.class_lines: dict[str, tuple[int, int]] = {}
        self.function_lines: dict[str, tuple[int, int]] = {}
        inside: list[bool] = [False] * len(lines)
        for statement in tree.body:
            if not isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            start = min([statement.lineno, *(d.lineno for d in statement.decorator_list)]) - 1
            end = statement.end_lineno or statement.lineno
            found, other = (
                (self.class_lines, self.function_lines)
                if isinstance(statement, ast.ClassDef)
                else (self.function_lines, self.class_lines)
            )
            found[statement.name] = (start, end)  # a later definition of the name wins, as it does in Python
            other.pop(statement.name, None)
            inside[start:end] = [True] * (end - start)
        self.module = cst.parse_module("".join(line for line, cut in zip(lines, inside) if not cut))
        self._parsed: dict[tuple[int, int], Definition] = {}

    def definition(self, lines: tuple[int, int]) -> Definition:
        """The top-level class or function on `lines`, parsed once."""
        if lines not in self._parsed:
            start, end = lines
            parsed = cst.parse_module("".join(self._lines[start:end])).body[0]
            assert isinstance(parsed, (cst.ClassDef, cst.FunctionDef))
            self._parsed[lines] = parsed
        return self._parsed[lines]


class LazyDefinitions(Mapping[str, Any]):
    """A module's classes (or functions) by name, each made from its definition when first asked for."""

    def __init__(self, lines: dict[str, tuple[int, int]], make: Callable[[tuple[int, int]], Any]) -> None:
        self._lines = lines
        self._make = make
        self._made: dict[str, Any] = {}

    def __contains__(self, name: object) -> bool:
        return self._get(name) is not None

    def __getitem__(self, name: str) -> Any:
        made = self._get(name)
        if made is None:
            raise KeyError(name)
        return made

    def _get(self, name: object) -> Any:
        if name not in self._lines:
            return None
        if name not in self._made:
            try:
                self._made[name] = self._make(self._lines[name])
            except Exception:  # a definition libcst cannot parse: the name stays unknown
                self._made[name] = None
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._lines if self._get(name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def clear(self) -> None:
        """Forget the names and what was made (`Interpreter.release`), and the function that made
        them, which holds the module's names: no cycle is left to keep them alive."""
        self._lines, self._made, self._make = {}, {}, _nothing


def _nothing(lines: tuple[int, int]) -> None:
    return None
