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
from dataclasses import dataclass
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
        self.class_shapes: dict[tuple[int, int], ClassShape] = {}
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
            if isinstance(statement, ast.ClassDef):
                self.class_shapes[(start, end)] = ClassShape.of(statement)
            inside[start:end] = [True] * (end - start)
        self.module = cst.parse_module("".join(line for line, cut in zip(lines, inside) if not cut))
        self._parsed: dict[tuple[int, int], Definition] = {}
        self.value_helpers: dict[int, bool] = {}  # `ModuleContext.value_helpers` of every file that reads it

    def base_expressions(self, shape: ClassShape) -> list[cst.BaseExpression]:
        """The positional bases of a class, parsed by libcst on their own (not its body)."""
        bases = []
        for line, column, end_line, end_column in shape.bases:
            # ast's columns count UTF-8 bytes
            text = "".join(self._lines[line - 1:end_line]).encode()
            end = len(text) - len(self._lines[end_line - 1].encode()) + end_column
            code = text[column:end].decode()
            bases.append(cst.parse_expression(code if "\n" not in code else f"({code})"))
        return bases

    def definition(self, lines: tuple[int, int]) -> Definition:
        """The top-level class or function on `lines`, parsed once."""
        if lines not in self._parsed:
            start, end = lines
            parsed = cst.parse_module("".join(self._lines[start:end])).body[0]
            assert isinstance(parsed, (cst.ClassDef, cst.FunctionDef))
            self._parsed[lines] = parsed
        return self._parsed[lines]


@dataclass(frozen=True)
class ClassShape:
    """What CPython's parser tells of a top-level class, enough to know what it derives from and
    which members it has without libcst parsing its body: transformers' `GenerationMixin` (3,000
    lines) is read by every model file whose heads derive from it, for its bases and for lookups
    of methods it does not have."""

    name: str
    bases: tuple[tuple[int, int, int, int], ...]  # where each positional base is (ast's lines and columns)
    methods: frozenset[str]
    assigns: frozenset[str]  # `name = ...` and `name: T = ...` in its body

    @classmethod
    def of(cls, statement: ast.ClassDef) -> ClassShape:
        bases = [b.value if isinstance(b, ast.Starred) else b for b in statement.bases]
        methods = {item.name for item in statement.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assigns = {item.targets[0].id for item in statement.body
                   if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name)}
        assigns |= {item.target.id for item in statement.body
                    if isinstance(item, ast.AnnAssign) and item.value is not None and isinstance(item.target, ast.Name)}
        where = tuple((b.lineno, b.col_offset, b.end_lineno or b.lineno, b.end_col_offset or 0) for b in bases)
        return cls(statement.name, where, frozenset(methods), frozenset(assigns))


class DeferredMembers(Mapping[str, Any]):
    """A class's methods or class-level assignments: their names known from its `ClassShape`, their
    values from its body, parsed when one is first asked for (`load`)."""

    def __init__(self, names: frozenset[str], load: Callable[[], dict[str, Any]]) -> None:
        self._names = names
        self._load = load
        self._values: dict[str, Any] | None = None

    def __contains__(self, name: object) -> bool:
        return name in self._names if self._values is None else name in self._values

    def __getitem__(self, name: str) -> Any:
        if self._values is None:
            if name not in self._names:
                raise KeyError(name)
            self._values = self._load()
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        if self._values is None:
            self._values = self._load()
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._names) if self._values is None else len(self._values)


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
