"""Inline and file-level suppression comments.

On the reported line, or on the finding's related line (the sigmoid a loss is fed from): `# noqa`,
`# noqa: VG101, VG103`, `# vglint: ignore[VG101]`.
Anywhere in the file: `# vglint: file-ignore[VG1]` (codes or prefixes) and `# vglint: skip-file`.
Codes in a comment match by prefix, as selectors do: `# noqa: VG1` silences VG101-VG105, and
`ALL` in brackets matches every code. A `# noqa:` whose codes cannot be read is a blanket `# noqa`,
as in flake8.

Each inline comment is a `Directive` with its place, so that VG003 (unused-noqa) can name the
ones that suppressed nothing: `Suppressions.apply` says which of their codes were used.
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


@dataclass(frozen=True)
class Directive:
    """One inline suppression comment: its line, its 1-based columns, and the codes it names
    (ALL for a blanket one). `own` is vglint's spelling (`# vglint: ignore`); a `# noqa` is
    shared with every other linter of the project."""

    line: int
    column: int
    end_column: int
    codes: frozenset[str]
    own: bool

    def matches(self, code: str) -> bool:
        return any(code.startswith(prefix) for prefix in self.codes)


@dataclass
class Suppressions:
    directives: list[Directive] = field(default_factory=list)
    file_codes: set[str] = field(default_factory=set)
    skip_file: bool = False

    def suppresses(self, finding: Finding) -> bool:
        return self.skip_file or self.file_ignores(finding.code) or bool(self.directives_for(finding))

    def file_ignores(self, code: str) -> bool:
        return any(code.startswith(prefix) for prefix in self.file_codes)

    def directives_for(self, finding: Finding) -> list[Directive]:
        """The inline comments that suppress `finding`: on its line or on its related line."""
        lines = {finding.span.line} | ({finding.related.line} if finding.related is not None else set())
        return [d for d in self.directives if d.line in lines and d.matches(finding.code)]

    def apply(self, findings: list[Finding]) -> tuple[list[Finding], set[tuple[Directive, str]]]:
        """The findings no comment suppresses, and each (directive, code) that suppressed one.

        A file-level comment is applied first, so a line comment for a code the whole file
        ignores counts as unused.
        """
        if self.skip_file:
            return [], set()
        kept: list[Finding] = []
        used: set[tuple[Directive, str]] = set()
        for finding in findings:
            if self.file_ignores(finding.code):
                continue
            matched = self.directives_for(finding)
            used |= {(d, code) for d in matched for code in d.codes if finding.code.startswith(code)}
            if not matched:
                kept.append(finding)
        return kept, used


def _comments(source: str) -> list[tuple[int, int, str]]:
    """(line, 0-based column, text) of every comment; a file tokenize rejects is scanned line by line instead."""
    try:
        return [
            (*token.start, token.string)
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError, ValueError):
        lines = enumerate(source.splitlines(), 1)
        return [(number, line.index("#"), line[line.index("#") :]) for number, line in lines if "#" in line]


def parse_suppressions(source: str) -> Suppressions:
    result = Suppressions()
    if "#" not in source:
        return result
    for line, column, comment in _comments(source):
        if _SKIP_FILE.search(comment):
            result.skip_file = True
        for match in _FILE_IGNORE.finditer(comment):
            if match.group("codes").strip():  # `file-ignore[]` names nothing, so ignores nothing
                result.file_codes |= _codes(match.group("codes"))
        for pattern in (_NOQA, _IGNORE):
            for match in pattern.finditer(comment):
                start, end = column + match.start() + 1, column + match.end() + 1
                result.directives.append(Directive(line, start, end, _codes(match.group("codes")), pattern is _IGNORE))
    return result


@dataclass(frozen=True)
class Unused:
    """A directive that suppressed less than it names: its codes of selected rules that suppressed
    nothing, its codes of rules not selected in the run, and codes that name no rule."""

    directive: Directive
    unused: list[str]
    non_enabled: list[str]
    unknown: list[str]

    @property
    def blanket(self) -> bool:
        return self.directive.codes == ALL


def unused_directives(suppressions: Suppressions, used: set[tuple[Directive, str]], selected: set[str],
                      judged: set[str], known: set[str]) -> list[Unused]:  # fmt: skip
    """What VG003 reports. Only vglint's codes are judged (`# noqa: E501` is another linter's), and
    a bare `# noqa` never is: every linter reads it. `judged` holds the codes a run of the source
    can report (not VG106, which only the probe can). A code that covers `VG003` is never unused:
    it would suppress its own report."""
    if suppressions.skip_file:
        return []
    found = []
    for directive in suppressions.directives:
        if directive.codes == ALL:
            if directive.own and (directive, "") not in used:
                found.append(Unused(directive, [], [], []))
            continue
        unused, non_enabled, unknown = [], [], []
        for code in sorted(directive.codes):
            if not code.startswith("VG") or "VG003".startswith(code) or (directive, code) in used:
                continue
            covered = {c for c in known if c.startswith(code)}
            if not covered:
                unknown.append(code)
            elif covered & selected & judged:
                unused.append(code)
            elif covered & judged:
                non_enabled.append(code)
        if unused or non_enabled or unknown:
            found.append(Unused(directive, unused, non_enabled, unknown))
    return found
