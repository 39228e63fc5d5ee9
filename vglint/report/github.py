"""`--output-format github`: one GitHub Actions workflow command per finding, shown as an annotation."""

from __future__ import annotations

from pathlib import Path

from vglint.findings import Finding, Severity
from vglint.report.locations import ci_message, root_relative

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """GitHub's escaping of a command's message: `%`, CR and LF would end or corrupt the command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value also ends at `,` (the next property) and `:` (the message)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: list[Finding], root: Path) -> str:
    """`root`: the repository root, which GitHub resolves the annotations' paths against."""
    out = []
    for finding in findings:
        span = finding.span
        properties = {
            "file": root_relative(finding.filename, root) or finding.filename,
            "line": span.line,
            "col": span.column,
            "endLine": span.end_line,
            "endColumn": span.end_column,
            "title": f"vglint ({finding.code})",
        }
        props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
        out.append(f"::{COMMANDS[finding.severity]} {props}::{escape_data(ci_message(finding))}\n")
    return "".join(out)
