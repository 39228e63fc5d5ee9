"""Each rule's documented examples are tests (Fixit's VALID/INVALID): the `Example` code of its
page must produce the rule's finding, the `Use instead` code must not."""

from __future__ import annotations

import pytest

from vglint.config import Settings
from vglint.docs import examples
from vglint.engine import check_source, make_rules
from vglint.rules import ALL_RULES

CASES = [
    (rule, kind, index, code)
    for rule in ALL_RULES
    for kind, section, extra in (("invalid", "Example", rule.invalid), ("valid", "Use instead", rule.valid))
    for index, code in enumerate([*examples(rule, section), *extra])
]


def codes_reported(source: str) -> list[str]:
    settings = Settings()
    findings, errors = check_source(source.encode(), "example.py", make_rules(settings), settings)
    assert errors == []
    return [f.code for f in findings]


@pytest.mark.parametrize(("rule", "kind", "index", "source"), CASES, ids=[f"{r.code}-{k}-{i}" for r, k, i, _ in CASES])
def test_documented_example(rule, kind, index, source):
    reported = codes_reported(source)
    if kind == "invalid":
        assert rule.code in reported
    else:
        assert rule.code not in reported


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.code != "VG002"], ids=lambda r: r.code)
def test_every_rule_documents_a_bad_and_a_good_example(rule):
    assert examples(rule, "Example") or rule.invalid
    assert examples(rule, "Use instead") or rule.valid
    for part in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## References"):
        assert part in rule.documentation()
