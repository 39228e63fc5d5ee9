"""Bytes to a libcst module, or where and why they cannot be parsed (what VG001 reports)."""

from __future__ import annotations

import io
import symtable
import sys
import tokenize
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import libcst as cst

from vglint.findings import Span

#: The recursion limit CPython's parser checks the source under: its own default. The analysis
#: runs on a deep stack with a far higher limit (`engine.on_deep_stack`), but nesting that CPython
#: refuses at its default (a 20,000-term sum) is nesting libcst's parser spends minutes on or
#: overflows its native stack on, so the check itself keeps the default.
COMPILE_RECURSION_LIMIT = 1000


@contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


#: CPython's own parser refuses these before libcst's native parser would overflow its stack.
_TOO_DEEP = ("too many nested parentheses", "too many indentation levels", "too many statically nested blocks", "too complex")


def _decoding_problem(source: bytes) -> tuple[Span, str] | None:
    """Where and why the bytes are not text in the file's declared (PEP 263) or default encoding."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError as error:
        if "unknown encoding" in str(error):
            return Span.at(1), str(error).split(" for ")[0]
        encoding = "utf-8"  # non-UTF-8 bytes in the first two lines: find them below
    try:
        source.decode(encoding)
    except UnicodeDecodeError as error:
        line_start = source.rfind(b"\n", 0, error.start) + 1
        line = source[: error.start].count(b"\n") + 1
        byte = source[error.start]
        return Span.at(line, error.start - line_start + 1), (
            f"byte 0x{byte:02x} is not valid {encoding} (save the file as UTF-8 or declare its encoding "
            "with a PEP 263 coding cookie)"
        )
    except LookupError as error:
        return Span.at(1), str(error)
    return None


def _span_of(error: SyntaxError) -> Span:
    line = max(error.lineno or 1, 1)
    column = max(error.offset or 1, 1)
    end_line = error.end_lineno if error.end_lineno and error.end_lineno >= line else line
    end_column = error.end_offset if error.end_offset and (end_line > line or error.end_offset >= column) else column
    return Span(line, column, end_line, end_column)


def parse(source: bytes, filename: str) -> tuple[cst.Module | None, tuple[Span, str] | None]:
    """The module, or where and why it could not be parsed."""
    if b"\x00" in source:
        line = source[: source.index(b"\x00")].count(b"\n") + 1
        return None, (Span.at(line), "source contains a NUL byte")
    problem = _decoding_problem(source)
    if problem is not None:
        return None, problem
    # CPython's parser first: it is fast, gives the clearer syntax error, and refuses nesting that
    # would overflow the stack of libcst's native parser (a crash no `except` can catch). Its
    # symbol table is the cheapest thing CPython builds from a parse: `ast.parse` makes a Python
    # object of every node (a third more time, thrown away); both refuse the same nesting.
    cpython_error: SyntaxError | None = None
    try:
        with warnings.catch_warnings(), _recursion_limit(COMPILE_RECURSION_LIMIT):
            warnings.simplefilter("ignore")
            symtable.symtable(source, filename, "exec")  # type: ignore[arg-type]  (bytes: PEP 263 applies)
    except (RecursionError, MemoryError):
        return None, (Span.at(1), "nesting too deep to parse")
    except SyntaxError as error:
        if any(reason in str(error.msg) for reason in _TOO_DEEP):
            return None, (_span_of(error), f"nesting too deep to parse: {error.msg}")
        cpython_error = error  # may be newer syntax than this Python knows: libcst decides
    except ValueError as error:
        return None, (Span.at(1), str(error))
    try:
        return cst.parse_module(source), None
    except cst.ParserSyntaxError as error:
        if cpython_error is not None:
            return None, (_span_of(cpython_error), cpython_error.msg)
        first = str(error).splitlines()[0].rstrip(":.") or "invalid syntax"
        # CPython accepted it: a construct libcst's parser does not know yet, not the user's error
        detail = f"libcst cannot parse this valid Python ({first})"
        return None, (Span.at(max(error.raw_line, 1), error.raw_column + 1), detail)
    except (LookupError, SyntaxError, UnicodeDecodeError) as error:
        return None, (Span.at(1), str(error))
    except RecursionError:
        return None, (Span.at(1), "nesting too deep to parse")
    except (MemoryError, ValueError) as error:
        return None, (Span.at(1), f"{type(error).__name__}: {error}")


def encoded(text: str) -> bytes:
    """Decoded text (flake8's lines, an editor's buffer) as the bytes of a file, in the encoding its
    PEP 263 comment declares, so that parsing decodes it back to the same text."""
    utf8 = text.encode("utf-8")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(utf8).readline)
        return utf8 if encoding in ("utf-8", "utf-8-sig") else text.encode(encoding, errors="replace")
    except (SyntaxError, LookupError):
        return utf8
