"""Inline and file-level suppression comments.

On the reported line, or on the finding's related line (the sigmoid a loss is fed from): `# noqa`,
`# noqa: VG101, VG103`, `# vglint: ignore[VG101]`.
Anywhere in the file: `# vglint: file-ignore[VG1]` (codes or prefixes) and `# vglint: skip-file`.
Codes in a comment match by prefix, as selectors do: `# noqa: VG1` silences VG101-VG105, and
`ALL` in brackets matches every code. A `# noqa:` whose codes cannot be read is a blanket `# noqa`,
as in flake8.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from vglint.findings import Finding

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:(?:\s*,\s*|\s+)[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_IGNORE = re.compile(r"#\s*vglint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_FILE_IGNORE = re.compile(r"#\s*vglint:\s*file-ignore\[(?P<codes>[^\]]*)\]", re.IGNORECASE)
_SKIP_FILE = re.compile(r"#\s*vglint:\s*skip-file\b", re.IGNORECASE)

ALL = frozenset({""})  # the empty prefix matches every code


def _codes(text: str | None) -> frozenset[str]:
    """The codes or prefixes in a comment; ALL (every code) when there are none or one is `ALL`."""
    codes = frozenset(code.upper() for code in re.split(r"[\s,]+", (text or "").strip()) if code)
    if not codes or "ALL" in codes:
        return ALL
    return codes


@dataclass
class Suppressions:
    by_line: dict[int, set[str]] = field(default_factory=dict)
    file_codes: set[str] = field(default_factory=set)
    skip_file: bool = False

    def suppresses(self, finding: Finding) -> bool:
        if self.skip_file:
            return True
        if any(finding.code.startswith(code) for code in self.file_codes):
            return True
        lines = [finding.span.line] + ([finding.related.line] if finding.related is not None else [])
        return any(finding.code.startswith(code) for line in lines for code in self.by_line.get(line, ()))


def _comments(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment; a file tokenize rejects is scanned line by line instead."""
    try:
        return [
            (token.start[0], token.string)
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return [(number, line[line.index("#") :]) for number, line in enumerate(source.splitlines(), 1) if "#" in line]


def parse_suppressions(source: str) -> Suppressions:
    result = Suppressions()
    if "#" not in source:
        return result
    for line, comment in _comments(source):
        if _SKIP_FILE.search(comment):
            result.skip_file = True
        for match in _FILE_IGNORE.finditer(comment):
            if match.group("codes").strip():  # `file-ignore[]` names nothing, so ignores nothing
                result.file_codes |= _codes(match.group("codes"))
        for pattern in (_NOQA, _IGNORE):
            for match in pattern.finditer(comment):
                result.by_line.setdefault(line, set()).update(_codes(match.group("codes")))
    return result
