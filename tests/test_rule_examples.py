"""Each rule's documented examples are tests (Fixit's VALID/INVALID): the `Example` code of its
page and its `invalid` cases must produce the rule's finding on the line the rule declares, the
`Use instead` code and its `valid` cases must not."""

from __future__ import annotations

import pytest

from vglint.config import RuleSelection, Settings
from vglint.docs import examples
from vglint.engine import check_source, make_rules
from vglint.rules import ALL_RULES


def _cases(rule) -> list[tuple[str, str, int | None]]:
    """(kind, source, line of the finding or None) for every example of `rule`."""
    documented = examples(rule, "Example")
    assert len(rule.example_lines) == len(documented), f"{rule.code}: one example line per Example block"
    return [
        *[("invalid", code, line) for code, line in zip(documented, rule.example_lines)],
        *[("invalid", case.code, case.line) for case in rule.invalid],
        *[("valid", code, None) for code in [*examples(rule, "Use instead"), *rule.valid]],
    ]


CASES = [(rule, kind, index, source, line) for rule in ALL_RULES for index, (kind, source, line) in enumerate(_cases(rule))]


def reported(source: str, rule) -> list[tuple[str, int]]:
    settings = Settings(selection=[RuleSelection(extend_select=[rule.code])])  # a rule off by default too
    findings, errors = check_source(source.encode(), "example.py", make_rules(settings), settings)
    assert errors == []
    return [(f.code, f.span.line) for f in findings]


@pytest.mark.parametrize(("rule", "kind", "index", "source", "line"), CASES,
                         ids=[f"{r.code}-{k}-{i}" for r, k, i, _, _ in CASES])  # fmt: skip
def test_documented_example(rule, kind, index, source, line):
    found = reported(source, rule)
    if kind == "invalid":
        assert (rule.code, line) in found
    else:
        assert rule.code not in [code for code, _ in found]


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if not r.measured], ids=lambda r: r.code)
def test_every_rule_documents_a_bad_and_a_good_example(rule):
    assert examples(rule, "Example") or rule.invalid
    assert examples(rule, "Use instead") or rule.valid
    for part in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## References"):
        assert part in rule.documentation()
