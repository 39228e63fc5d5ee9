"""`--output-format json`: an array of objects with a fixed set of keys (documented in the README)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from vglint.findings import Finding


def finding_object(finding: Finding) -> dict[str, Any]:
    span = finding.span
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": str(finding.severity),
        "message": finding.message,
        "filename": finding.filename,
        "cell": finding.cell,
        "location": {"row": span.line, "column": span.column},
        "end_location": {"row": span.end_line, "column": span.end_column},
        "model": finding.model,
        "status": finding.status.value,
        "verdict": finding.verdict,
        "evidence": finding.evidence,
        "fix": None,
        "url": finding.url,
        "related": None if finding.related is None else {
            "row": finding.related.line, "column": finding.related.column, "cell": finding.related_cell
        },
    }


def render_json(findings: list[Finding]) -> str:
    return json.dumps([finding_object(f) for f in findings], indent=2) + "\n"


def statistics_json(findings: list[Finding]) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    rows = [{"code": code, "name": name, "count": n} for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return json.dumps(rows, indent=2) + "\n"
