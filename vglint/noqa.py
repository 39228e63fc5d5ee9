"""`vglint check --add-noqa`: a `# noqa: CODE` at the end of each reported line, as ruff's `--add-noqa`.

The codes go into the line's `# noqa: X` comment when it has one, else after its other comments.
Each file keeps its encoding and each line its own line ending. A line whose end is inside a
multi-line string, or that continues with a backslash, cannot take a comment: its findings are
skipped and named. VG001 (the file was not parsed) and VG003 (the fix is removing the comment)
are never noqa'd, nor findings in notebook cells.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from vglint.findings import Finding
from vglint.suppressions import _NOQA

#: Codes whose findings a noqa comment is not the answer to.
NOT_NOQAD = frozenset({"VG001", "VG003"})


@dataclass
class Added:
    """How many lines got a noqa comment, and a line for each finding that could not get one."""

    lines: int = 0
    skipped: list[str] = field(default_factory=list)


def add_noqa(findings: list[Finding]) -> Added:
    """Edit the files of `findings` in place; an unreadable or unwritable file is skipped and named."""
    done = Added()
    by_file: dict[str, dict[int, set[str]]] = {}
    for finding in findings:
        if finding.code in NOT_NOQAD:
            continue
        if finding.cell is not None:
            done.skipped.append(f"{_where(finding)}: {finding.code} not noqa'd: notebook cells are not edited")
            continue
        by_file.setdefault(finding.filename, {}).setdefault(finding.span.line, set()).add(finding.code)
    for filename, codes_by_line in by_file.items():
        try:
            done.lines += _add_to_file(Path(filename), codes_by_line, done.skipped)
        except (OSError, SyntaxError, UnicodeError, tokenize.TokenError) as error:
            done.skipped.append(f"{filename}: not edited: {getattr(error, 'strerror', None) or error}")
    return done


def _where(finding: Finding) -> str:
    return f"{finding.filename}:{finding.span.line}:{finding.span.column}"


def _add_to_file(path: Path, codes_by_line: dict[int, set[str]], skipped: list[str]) -> int:
    data = path.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    lines = io.StringIO(text, newline="").readlines()  # splits at \n, \r\n and \r, and keeps them
    comments, in_string = _layout(text)
    edited = 0
    for number, codes in sorted(codes_by_line.items()):
        if not 1 <= number <= len(lines):
            continue
        line = lines[number - 1]
        body = line.rstrip("\r\n")
        why = "the line ends inside a multi-line string" if number in in_string else None
        if why is None and body.endswith("\\"):
            why = "the line continues with a backslash"
        if why is not None:
            skipped += [f"{path}:{number}: {code} not noqa'd: {why}" for code in sorted(codes)]
            continue
        lines[number - 1] = _with_noqa(body, comments.get(number), sorted(codes)) + line[len(body) :]
        edited += 1
    if edited:
        path.write_bytes("".join(lines).encode(encoding))
    return edited


def _layout(text: str) -> tuple[dict[int, int], set[int]]:
    """The column of each line's comment, and the lines whose end is inside a string token."""
    comments: dict[int, int] = {}
    in_string: set[int] = set()
    starts = []  # f-strings of Python 3.12+ come as FSTRING_START ... FSTRING_END
    for token in tokenize.generate_tokens(io.StringIO(text, newline="").readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.start[1]
        elif token.type == getattr(tokenize, "FSTRING_START", None):
            starts.append(token.start[0])
        elif token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_END", None)):
            first = starts.pop() if token.type != tokenize.STRING else token.start[0]
            in_string.update(range(first, token.end[0]))
    return comments, in_string


def _with_noqa(body: str, comment_at: int | None, codes: list[str]) -> str:
    """The line (without its ending) with `codes` in its noqa comment."""
    if comment_at is not None:
        match = _codes_noqa(body[comment_at:])
        if match is not None:
            at = comment_at + match.end("codes")
            return body[:at] + "".join(f", {code}" for code in codes) + body[at:]
    return f"{body.rstrip()}  # noqa: {', '.join(codes)}"


def _codes_noqa(comment: str) -> re.Match[str] | None:
    """The comment's first `# noqa: CODES` (a bare `# noqa` already silences everything)."""
    return next((m for m in _NOQA.finditer(comment) if m.group("codes")), None)
