"""Every fixture under fixtures/ produces exactly the findings in its `.expected` sidecar.

A `.expected` sidecar holds one line per finding, `LINE:COL CODE SEVERITY MESSAGE` (`cell N:LINE:COL ...` in
a notebook), sorted as vglint sorts them (an empty file means: no findings). Adding a case is adding two files, no test code; its
`.ir` sidecar (what the front-end understood of each model) is written by `python -m vglint.goldens`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vglint.config import Settings
from vglint.engine import check_source, make_rules
from vglint.goldens import fixture_ir

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASES = sorted([*FIXTURES.rglob("*.py"), *FIXTURES.rglob("*.ipynb")])  # a notebook's lines are `cell N:LINE:COL`


def render(path: Path) -> list[str]:
    settings = Settings()
    findings, errors = check_source(path.read_bytes(), str(path), make_rules(settings), settings)
    assert errors == []
    findings.sort(key=lambda f: f.sort_key())
    return [f"{f'cell {f.cell}:' if f.cell else ''}{f.span.line}:{f.span.column} {f.code} {f.severity} {f.message}"
            for f in findings]  # fmt: skip


def test_there_are_fixtures():
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=[p.relative_to(FIXTURES).as_posix() for p in CASES])
def test_fixture(path: Path):
    sidecar = path.with_suffix(".expected")
    assert sidecar.exists(), f"{sidecar.name} is missing: every fixture records its expected findings"
    expected = [line for line in sidecar.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert render(path) == expected


@pytest.mark.parametrize("path", CASES, ids=[p.relative_to(FIXTURES).as_posix() for p in CASES])
def test_fixture_ir(path: Path):
    """What the front-end understood of each model matches the `.ir` sidecar (`python -m vglint.goldens`
    rewrites them after a deliberate change; read the diff)."""
    sidecar = path.with_suffix(".ir")
    assert sidecar.exists(), f"{sidecar.name} is missing: run `python -m vglint.goldens`"
    assert fixture_ir(path) == sidecar.read_text(encoding="utf-8")
