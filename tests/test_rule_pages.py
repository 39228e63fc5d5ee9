"""`rules/` is generated from the rule classes; regenerate with `python -m vglint.docs`."""

from vglint.docs import PAGES_DIR, expected_pages


def test_rule_pages_are_up_to_date():
    expected = expected_pages()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in PAGES_DIR.glob("*.md")}
    stale = sorted(name for name in expected.keys() | on_disk.keys() if expected.get(name) != on_disk.get(name))
    assert not stale, f"stale rule pages {stale}: run `python -m vglint.docs`"
