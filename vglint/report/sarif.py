"""`--output-format sarif`: SARIF 2.1.0 as GitHub code scanning takes it (`upload-sarif`).

Every rule is listed in `tool.driver.rules` with its page as help, so that code scanning can show
a rule the run did not report. Locations are relative to the repository root (`SRCROOT`); in a
notebook, lines count within the cell that the message names.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vglint import __version__
from vglint.docs import PROJECT_URL, help_uri, rule_page, what_it_does
from vglint.findings import Finding, Severity, Span
from vglint.fingerprints import fingerprint
from vglint.report.locations import ci_message, root_relative
from vglint.rules import ALL_RULES, Rule

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}

#: The lines of a file (`filename`), or of one cell of a notebook (`filename, cell`); None if unreadable.
SourceLines = Callable[[str, "int | None"], "list[str] | None"]
_RULE_INDEX = {rule.code: index for index, rule in enumerate(ALL_RULES)}


def _rule_object(rule: type[Rule]) -> dict[str, Any]:
    page = rule_page(rule)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": what_it_does(rule)},
        "help": {"text": page, "markdown": page},
        "helpUri": help_uri(rule),
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
    }


def _location(filename: str, span: Span, root: Path) -> dict[str, Any]:
    relative = root_relative(filename, root)
    if relative is None:  # outside the repository: an absolute URI, with no base
        artifact = {"uri": Path(filename).resolve().as_uri()}
    else:
        artifact = {"uri": quote(relative), "uriBaseId": "SRCROOT"}
    start_line, start_column = max(1, span.line), max(1, span.column)
    region = {
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": max(start_line, span.end_line),
        "endColumn": max(1, span.end_column),
    }
    return {"physicalLocation": {"artifactLocation": artifact, "region": region}}


def _result(finding: Finding, root: Path, identity: str) -> dict[str, Any]:
    result: dict[str, Any] = {"ruleId": finding.code}
    if finding.code in _RULE_INDEX:
        result["ruleIndex"] = _RULE_INDEX[finding.code]
    result |= {
        "level": LEVELS[finding.severity],
        "message": {"text": ci_message(finding)},
        "locations": [_location(finding.filename, finding.span, root)],
        "partialFingerprints": {"vglintFingerprint/v1": identity},
    }
    if finding.related is not None:
        related = _location(finding.filename, finding.related, root)
        note = finding.related_note or "related"
        note += f" (cell {finding.related_cell})" if finding.related_cell is not None else ""
        result["relatedLocations"] = [{"id": 1, **related, "message": {"text": note}}]
    return result


def render_sarif(findings: list[Finding], source_lines: SourceLines, root: Path) -> str:
    """One run; `root` is the repository root that the result URIs are relative to."""
    seen: Counter[str] = Counter()
    results = []
    for finding in findings:
        lines = source_lines(finding.filename, finding.cell) or []
        line_text = lines[finding.span.line - 1] if 1 <= finding.span.line <= len(lines) else ""
        key = fingerprint(finding, line_text)
        seen[key] += 1  # equal findings on identical lines stay apart, as GitHub's own `hash:occurrence`
        results.append(_result(finding, root, f"{key}:{seen[key]}"))
    driver = {
        "name": "vglint",
        "version": __version__,
        "informationUri": PROJECT_URL,
        "rules": [_rule_object(rule) for rule in ALL_RULES],
    }
    run = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {"SRCROOT": {"uri": root.as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"
