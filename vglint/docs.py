"""Rule pages for `rules/` and `vglint rule CODE`, generated from the rule classes.

Regenerate the pages after changing a rule: `python -m vglint.docs` (a test fails when stale).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from vglint.rules import ALL_RULES, Rule

PAGES_DIR = Path(__file__).resolve().parent.parent / "rules"
#: The project's home: SARIF's informationUri, and with `help_uri` each rule's page there.
PROJECT_URL = "https://github.com/vglint/vglint"


def help_uri(rule: type[Rule]) -> str:
    """The rule's page on the project's site, for readers of a CI report who have no checkout."""
    return f"{PROJECT_URL}/blob/main/{rule.url()}"


def what_it_does(rule: type[Rule]) -> str:
    """The rule's "What it does" section as one paragraph, or its summary when it has none."""
    match = re.search(r"^## What it does\n(.*?)(?=^## |\Z)", rule.documentation(), re.S | re.M)
    return " ".join(match.group(1).split()) if match else rule.summary


def rule_page(rule: type[Rule]) -> str:
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        f"Default severity: **{rule.severity}** · Enabled by default: **{'yes' if rule.enabled_by_default else 'no'}**",
        "",
        f"Message: `{rule.message_template()}`",
        "",
        rule.documentation(),
        "",
        "## How to fix",
        rule.fix[0].upper() + rule.fix[1:] + ".",
        "",
        "## Options",
    ]
    if rule.options:
        lines += [f"Set under `[tool.vglint.rules.{rule.code}]` in `pyproject.toml`.", "",
                  "| option | default | meaning |", "| --- | --- | --- |"]  # fmt: skip
        lines += [f"| `{o.name}` | `{o.default!r}` | {o.help} |" for o in rule.options]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def examples(rule: type[Rule], section: str) -> list[str]:
    """The ```python blocks of one section of the rule's documentation."""
    doc = rule.documentation()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    if match is None:
        return []
    return re.findall(r"```python\n(.*?)```", match.group(1), re.S)


def index_page() -> str:
    lines = [
        "# vglint rules",
        "",
        "Generated from the rule classes by `python -m vglint.docs`; do not edit by hand.",
        "",
        "| code | name | default severity | fires when |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| [{r.code}]({r.code}.md) | {r.name} | {r.severity} | {r.summary} |" for r in ALL_RULES]
    return "\n".join(lines) + "\n"


def expected_pages() -> dict[str, str]:
    pages = {f"{rule.code}.md": rule_page(rule) for rule in ALL_RULES}
    pages["README.md"] = index_page()
    return pages


def main() -> int:
    PAGES_DIR.mkdir(exist_ok=True)
    expected = expected_pages()
    for stale in PAGES_DIR.glob("*.md"):
        if stale.name not in expected:
            stale.unlink()
    for name, text in expected.items():
        (PAGES_DIR / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(expected)} pages to {PAGES_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
