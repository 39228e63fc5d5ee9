"""The flake8 plugin, run by the real flake8: the same findings at the same line:col as `vglint check`."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import Project, deep_mlp_source, findings, run_vglint

#: A sigmoid chain that starts after non-ASCII text on its line: columns count characters, not bytes.
ACCENTED_SOURCE = """\
from torch import nn
é = 1; chain = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4),
                             nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid())
"""

FLAKE8_LINE = re.compile(r"^(?P<path>.+?):(?P<row>\d+):(?P<col>\d+): (?P<code>\w+) (?P<text>.*)$")


def flake8(*args: str, project: Project) -> list[tuple[str, int, int, str]]:
    done = subprocess.run([sys.executable, "-m", "flake8", *args], cwd=project.root, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    rows = [FLAKE8_LINE.match(line) for line in done.stdout.splitlines()]
    assert all(rows), done.stdout
    return [(m["path"], int(m["row"]), int(m["col"]), m["code"]) for m in rows]


def test_flake8_reports_vglint_findings_at_vglint_line_and_column(project: Project) -> None:
    project.write("mlp.py", deep_mlp_source())
    project.write("accented.py", ACCENTED_SOURCE)
    reported = flake8("--select", "VG", "mlp.py", "accented.py", project=project)
    expected = findings(run_vglint("check", "--output-format", "json", "mlp.py", "accented.py", cwd=project.root))
    assert {"VG101", "VG102", "VG103", "VG104"} <= {code for *_, code in reported}
    assert any(column > 1 for _, _, column, _ in reported)
    assert sorted(reported) == sorted(expected)


def test_the_plugin_reads_tool_vglint_from_the_file_s_project(project: Project) -> None:
    project.write("models/mlp.py", deep_mlp_source())
    project.pyproject('[tool.vglint]\nignore = ["VG104"]\n\n[tool.vglint.rules.VG101]\nmin-chain = 30\n', "models")
    reported = {code for *_, code in flake8("--select", "VG", "models/mlp.py", project=project)}
    assert reported == {"VG102", "VG103"}
    expected = findings(run_vglint("check", "--output-format", "json", "models/mlp.py", cwd=project.root))
    assert reported == {code for *_, code in expected}


def test_flake8_s_noqa_applies_and_a_syntax_error_is_reported_once(project: Project) -> None:
    project.write("noqa.py", deep_mlp_source().replace("nn.Sequential(\n", "nn.Sequential(  # noqa: VG102,VG103\n"))
    project.write("broken.py", "from torch import nn\ndef f(:\n")
    reported = flake8("--select", "VG,E999", "noqa.py", "broken.py", project=project)
    assert {code for path, *_, code in reported if path == "noqa.py"} == {"VG101", "VG104"}
    assert [(path, code) for path, _, _, code in reported if path == "broken.py"] == [("broken.py", "E999")]
