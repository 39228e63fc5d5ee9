"""The rules on an already built model, for `vglint.check_model` in users' tests (imports torch)."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from vglint.analysis import FileAnalysis
from vglint.config import Settings
from vglint.engine import check_analysis, make_rules, on_deep_stack
from vglint.findings import Finding, FixedSite, Span, Status
from vglint.graph.lower import lower
from vglint.graph.record import record
from vglint.probing.verdicts import judge


def rule_findings(model: Any, inputs: list[Any], measurement: dict[str, Any]) -> list[Finding]:
    """The architecture rules on `model`'s recorded forward pass, each judged by the probe's
    `measurement` (refuted findings are dropped): a deep sigmoid stack built from any config is
    caught even where the measured ratio alone says nothing yet (VG101 at init)."""
    cls = type(model)
    try:
        filename, line = inspect.getsourcefile(cls) or "<model>", inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        filename, line = "<model>", 1
    recorded = record(model, list(inputs))
    site = FixedSite(Span.at(line))
    # a recurrence unrolled in forward nests a merge per time step: lowered and checked on a deep stack
    graph = on_deep_stack(functools.partial(lower, recorded, name=cls.__name__, filename=filename, site=site))
    settings = Settings()
    rules = {rule.code: rule for rule in make_rules(settings)}
    analysis = FileAnalysis(filename, "", models=[graph])
    findings, _ = on_deep_stack(check_analysis, analysis, list(rules.values()), settings)
    for finding in findings:
        judge(finding, measurement, rules[finding.code].settings)
    return [finding for finding in findings if finding.status is not Status.REFUTED]
