"""The text formats: `full` (ruff-style, with the source line and a caret), `concise`, statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import click

from vglint.findings import Finding, Severity, Span

_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}

#: The lines of a file (`filename`), or of one cell of a notebook (`filename, cell`); None if unreadable.
SourceLines = Callable[..., "list[str] | None"]


def _head(finding: Finding, colour: bool, severity: bool = False) -> str:
    """`path:line:col: CODE message`; `severity` adds `[warning]` after the code (the full format
    shows it under the caret instead)."""
    span = finding.span
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    where = f"{finding.filename}:{cell}{span.line}:{span.column}:"
    code = f"{finding.code} [{finding.severity}]" if severity else finding.code
    if colour:
        where = click.style(where, bold=True)
        code = click.style(code, fg=_COLOURS[finding.severity], bold=True)
    verdict = f" [{finding.verdict}]" if finding.verdict else ""
    return f"{where} {code} {finding.message}{verdict}"


def render_concise(findings: list[Finding], colour: bool = False) -> str:
    return "".join(_head(f, colour, severity=True) + "\n" for f in findings)


def _underline(text: str, span: Span, mark: str) -> str:
    """`^^^^` (or `----` for a related place) under the span's part of its first line."""
    end = span.end_column if span.end_line == span.line and span.end_column > span.column else len(text) + 1
    return " " * (span.column - 1) + mark * max(1, end - span.column)


def render_full(findings: list[Finding], source_lines: SourceLines, colour: bool = False) -> str:
    out: list[str] = []
    for finding in findings:
        out.append(_head(finding, colour))
        lines = source_lines(finding.filename, finding.cell) or []
        span, related = finding.span, finding.related
        elsewhere = finding.related_cell != finding.cell  # in another cell of the notebook
        related_lines = (source_lines(finding.filename, finding.related_cell) or []) if elsewhere else lines
        shown_related = related is not None and 1 <= related.line <= len(related_lines)
        if 1 <= span.line <= len(lines):
            gutter = " " * max(len(str(span.line)), len(str(related.line)) if shown_related else 0)
            text = lines[span.line - 1].rstrip("\n").expandtabs(1)
            label = f"{_underline(text, span, '^')} {finding.severity}"
            if colour:
                label = click.style(label, fg=_COLOURS[finding.severity])
            out += [f"{gutter} |", f"{span.line:>{len(gutter)}} | {text}", f"{gutter} | {label}"]
            if shown_related:
                text = related_lines[related.line - 1].rstrip("\n").expandtabs(1)
                note = f"{_underline(text, related, '-')} {finding.related_note or 'related'}"
                note += f" (cell {finding.related_cell})" if elsewhere else ""
                out += [f"{gutter} |", f"{related.line:>{len(gutter)}} | {text}", f"{gutter} | {note}"]
            out.append(f"{gutter} = help: {finding.help}" if finding.help else f"{gutter} |")
        else:
            if related is not None:
                cell = f"cell {finding.related_cell}, " if finding.related_cell is not None else ""
                out.append(f"  = note: {finding.related_note or 'related'}: {cell}line {related.line}")
            if finding.help:
                out.append(f"  = help: {finding.help}")
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def render_statistics(findings: list[Finding]) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    width = max((len(str(n)) for n in counts.values()), default=1)
    return "".join(
        f"{n:>{width}}\t{code}\t{name}\n" for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def summary_line(findings: list[Finding], files: int, errors: int = 0, hidden: int | None = None) -> str:
    """The last line of the text formats; it never claims success when vglint itself failed.
    `hidden` is how many findings a baseline hid (None without `--baseline`)."""
    if errors:
        total = len(findings)
        return f"Found {total} finding{'s' * (total != 1)}, but vglint failed on some files ({errors} internal error{'s' * (errors != 1)} above).\n"
    if not findings:
        baseline = "" if hidden is None else f", {hidden} hidden by the baseline"
        return f"All checks passed! ({files} file{'s' * (files != 1)} checked{baseline})\n"
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s}{'s' * (counts[s] != 1)}" for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s]]
    total = len(findings)
    baseline = "" if hidden is None else f" ({hidden} hidden by the baseline)"
    return f"Found {total} finding{'s' * (total != 1)} ({', '.join(parts)}) in {files} file{'s' * (files != 1)} checked{baseline}.\n"
