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
        self._members: dict[tuple[int, int], cst.ClassDef] = {}
        self._bases: dict[ClassShape, list[cst.BaseExpression]] = {}
        self.value_helpers: dict[int, bool] = {}  # `ModuleContext.value_helpers` of every file that reads it

    def base_expressions(self, shape: ClassShape) -> list[cst.BaseExpression]:
        """The positional bases of a class, parsed by libcst on their own (not its body), once per
        process: every checked file that reads the module asks again (transformers' model files
        asked eleven thousand times for the bases of a few hundred classes)."""
        if shape in self._bases:
            return self._bases[shape]
        bases = []
        for line, column, end_line, end_column in shape.bases:
            # ast's columns count UTF-8 bytes
            text = "".join(self._lines[line - 1:end_line]).encode()
            end = len(text) - len(self._lines[end_line - 1].encode()) + end_column
            code = text[column:end].decode()
            bases.append(cst.parse_expression(code if "\n" not in code else f"({code})"))
        self._bases[shape] = bases
        return bases

    def definition(self, lines: tuple[int, int]) -> Definition:
        """The top-level class or function on `lines`, parsed once."""
        if lines not in self._parsed:
            parsed = cst.parse_module(self.text(lines)).body[0]
            assert isinstance(parsed, (cst.ClassDef, cst.FunctionDef))
            self._parsed[lines] = parsed
        return self._parsed[lines]

    def text(self, lines: tuple[int, int]) -> str:
        start, end = lines
        return "".join(self._lines[start:end])

    def class_member(self, lines: tuple[int, int]) -> cst.ClassDef:
        """A class holding only the method or class-level assignment on `lines` of a class body,
        parsed once: transformers' `PreTrainedModel` (5,000 lines) is read for a few methods and
        attributes by every model file, and its body whole cost as much as a model file."""
        if lines not in self._members:
            parsed = cst.parse_module("class _:\n" + self.text(lines)).body[0]
            assert isinstance(parsed, cst.ClassDef)
            self._members[lines] = parsed
        return self._members[lines]


@dataclass(frozen=True, eq=False)
class ClassShape:
    """What CPython's parser tells of a top-level class, enough to know what it derives from and
    which members it has without libcst parsing its body: transformers' `GenerationMixin` (3,000
    lines) is read by every model file whose heads derive from it, for its bases and for lookups
    of methods it does not have."""

    name: str
    bases: tuple[tuple[int, int, int, int], ...]  # where each positional base is (ast's lines and columns)
    decorators: frozenset[str]  # the last name of each (`dataclass` for `@dataclasses.dataclass(frozen=True)`)
    # the lines (as `SiblingSource.class_lines` counts them) of the last definition of each member,
    # by ("method", name) or ("assign", name): `name = ...` and `name: T = ...` in its body
    member_lines: dict[tuple[str, str], tuple[int, int]]

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(name for kind, name in self.member_lines if kind == "method")

    @property
    def assigns(self) -> frozenset[str]:
        return frozenset(name for kind, name in self.member_lines if kind == "assign")

    @classmethod
    def of(cls, statement: ast.ClassDef) -> ClassShape:
        bases = [b.value if isinstance(b, ast.Starred) else b for b in statement.bases]
        lines: dict[tuple[str, str], tuple[int, int]] = {}
        for item in statement.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key = ("method", item.name)
            elif isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
                key = ("assign", item.targets[0].id)
            elif isinstance(item, ast.AnnAssign) and item.value is not None and isinstance(item.target, ast.Name):
                key = ("assign", item.target.id)
            else:
                continue
            start = min([item.lineno, *(d.lineno for d in getattr(item, "decorator_list", []))]) - 1
            lines[key] = (start, item.end_lineno or item.lineno)  # a later definition wins, as in Python
        where = tuple((b.lineno, b.col_offset, b.end_lineno or b.lineno, b.end_col_offset or 0) for b in bases)
        decorators = {_last_name(d.func if isinstance(d, ast.Call) else d) for d in statement.decorator_list}
        return cls(statement.name, where, frozenset(decorators), lines)


def _last_name(node: ast.expr) -> str:
    """`c` for `a.b.c` (names and attributes only, as `names.dotted_name` reads them), else ''."""
    inner = node
    while isinstance(inner, ast.Attribute):
        inner = inner.value
    if not isinstance(inner, ast.Name):
        return ""
    return node.attr if isinstance(node, ast.Attribute) else node.id


class DeferredMembers(Mapping[str, Any]):
    """A class's methods or class-level assignments: their names known from its `ClassShape`, each
    value parsed on its own when first asked for (`load_one`, or None where it cannot be), all of
    them from the class's body when they are listed (`load_all`). A value once given stays the
    same object: the interpreter keeps what it learns of a function by its node."""

    def __init__(self, names: frozenset[str], load_one: Callable[[str], Any],
                 load_all: Callable[[], dict[str, Any]]) -> None:  # fmt: skip
        self._names = names
        self._load_one = load_one
        self._load_all = load_all
        self._values: dict[str, Any] | None = None
        self._given: dict[str, Any] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._names if self._values is None else name in self._values

    def __getitem__(self, name: str) -> Any:
        if name in self._given:
            return self._given[name]
        if self._values is None and name not in self._names:
            raise KeyError(name)
        value = self._load_one(name) if self._values is None else None
        if value is None:
            value = self._all()[name]
        self._given[name] = value
        return value

    def _all(self) -> dict[str, Any]:
        if self._values is None:
            self._values = {**self._load_all(), **self._given}
        return self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

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
