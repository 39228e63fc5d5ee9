"""Helpers for the CLI tests: a project folder to write model files into, and ways to run vglint.

`cli` runs the click command in-process (fast); `main` runs the console entry point
`vglint.cli.main` in-process (one-line errors, exit codes); `subprocess_vglint` runs
`python -m vglint` for what only a real process shows (no traceback, no torch import, a crash).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vglint.cli import cli as vglint_cli
from vglint.cli import main as vglint_main

#: Reported as VG105 (warning) at 3:11-3:54, model "encoder".
VG105_SOURCE = """\
from torch import nn
layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)
encoder = nn.TransformerEncoder(layer, num_layers=12)
"""

#: No findings.
CLEAN_SOURCE = """\
from torch import nn
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
"""


def deep_mlp_source(layers: int = 20) -> str:
    """A sigmoid MLP deep enough for VG101, VG102 (an error), VG103 and VG104."""
    body = "".join("    nn.Linear(64, 64), nn.Sigmoid(),\n" for _ in range(layers))
    return f"from torch import nn\nmodel = nn.Sequential(\n{body})\n"


MLP_CODES = {"VG101", "VG102", "VG103", "VG104"}

# Environment variables that change vglint's output; the tests set them explicitly when they need them.
_OUTPUT_ENV = ("NO_COLOR", "FORCE_COLOR", "VGLINT_DEBUG", "VGLINT_NO_CACHE", "VGLINT_CACHE_DIR")


class Project:
    """A temporary folder that is also the working directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str = "", *, data: bytes | None = None) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def vg105(self, name: str = "model.py", comment: str = "", top: str = "") -> Path:
        """The VG105 model, with `comment` at the end of the reported line 3 (or line 3+n with `top`)."""
        lines = VG105_SOURCE.splitlines()
        lines[2] += f"  {comment}" if comment else ""
        return self.write(name, top + "\n".join(lines) + "\n")

    def mlp(self, name: str = "mlp.py") -> Path:
        return self.write(name, deep_mlp_source())

    def pyproject(self, body: str, folder: str = ".") -> Path:
        return self.write(f"{folder}/pyproject.toml", body)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _OUTPUT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    return Project(root)


@pytest.fixture
def cli():
    """Run `vglint ARGS...` in-process with click's runner; stdout and stderr apart."""

    def invoke(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(vglint_cli, [str(a) for a in args], input=input, env=env, catch_exceptions=False)

    return invoke


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> list[dict]:
        return json.loads(self.stdout)


@pytest.fixture
def main(capsys: pytest.CaptureFixture[str]):
    """Run the console entry point `vglint.cli.main` in-process: exit code, stdout, stderr."""

    def invoke(*args: str) -> Run:
        with pytest.raises(SystemExit) as exited:
            vglint_main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(exited.value.code or 0, captured.out, captured.err)

    return invoke


def run_vglint(*args: str, cwd: Path, input: bytes | None = None, env: dict[str, str] | None = None,
               timeout: float = 60) -> Run:  # fmt: skip
    """`python -m vglint ARGS...` in a fresh process."""
    environment = {k: v for k, v in os.environ.items() if k not in _OUTPUT_ENV}
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "vglint", *map(str, args)],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=environment,
        timeout=timeout,
    )
    return Run(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


@pytest.fixture
def subprocess_vglint(project: Project):
    def invoke(*args: str, **kwargs) -> Run:
        kwargs.setdefault("cwd", project.root)
        return run_vglint(*args, **kwargs)

    return invoke


def findings(result: Result | Run) -> list[tuple[str, int, int, str]]:
    """(filename, row, column, code) of each finding in a JSON report, in the order printed."""
    return [(f["filename"], f["location"]["row"], f["location"]["column"], f["code"]) for f in json.loads(result.stdout)]


def codes(result: Result | Run) -> set[str]:
    return {f["code"] for f in json.loads(result.stdout)}


def assert_one_line_error(run: Run, *culprits: str) -> None:
    """Exit 2, nothing on stdout, one `vglint: error: ...` line naming each culprit, no traceback."""
    assert run.code == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("vglint: error: "), run.stderr
    assert "Traceback" not in run.stderr
    for culprit in culprits:
        assert culprit in lines[0], run.stderr
