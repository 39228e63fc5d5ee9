"""The README's set-up commands stay true: CI runs the test command, the run command finds risks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", README)
    assert match, f"README has no command after <!-- {marker} -->"
    return match.group(1)


def ci_would_run(root: Path) -> str:
    """What `.ci/run` would run, printed by it (VGLINT_CI_PRINT=1) instead of running it."""
    done = subprocess.run(
        ["bash", str(root / ".ci" / "run")],
        env={**os.environ, "VGLINT_CI_PRINT": "1"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_ci_runs_the_readme_test_command():
    assert command_after("ci:test") == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    )
    assert ci_would_run(ROOT) == command_after("ci:test") + "\n"


def test_ci_reads_the_command_from_the_readme(tmp_path):
    """.ci/run takes the line after `<!-- ci:test -->`, not the `ci:run` one before it, nor a hard-coded one."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(
        "# x\n\n<!-- ci:run -->\n```sh\npython3 -m venv .venv && .venv/bin/vglint fixtures/\n```\n\n"
        "<!-- ci:test -->\n```sh\npython3 -m venv env && env/bin/python -m pytest -x tests/\n```\n",
        encoding="utf-8",
    )
    assert ci_would_run(tmp_path) == "python3 -m venv env && env/bin/python -m pytest -x tests/\n"


def test_readme_run_command_reports_the_fixtures_and_exits_1():
    command = command_after("ci:run")
    assert command.endswith("vglint fixtures/")
    result = subprocess.run(
        [sys.executable, "-m", "vglint", "fixtures/"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stderr
    assert "VG101" in result.stdout and "VG105" in result.stdout
    assert re.search(r"^Found \d+ findings \(.*\) in \d+ files checked\.$", result.stdout, re.M)
    assert "Traceback" not in result.stderr
