"""The README's set-up commands stay true: CI runs the test command, the run command finds risks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", README)
    assert match, f"README has no command after <!-- {marker} -->"
    return match.group(1)


def test_ci_runs_the_readme_test_command():
    assert "pytest" in command_after("ci:test")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "ci:test" in ci


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
