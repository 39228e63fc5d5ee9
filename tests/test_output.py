"""What the report looks like: full, concise and JSON formats, statistics, quiet, files, colour, order."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from conftest import CLEAN_SOURCE, MLP_CODES, VG105_SOURCE, findings

JSON_KEYS = ["code", "name", "severity", "message", "filename", "cell", "location", "end_location", "model", "status",
             "verdict", "evidence", "fix", "url", "related"]  # fmt: skip
ANSI = "\x1b["


def test_full_format(project, cli):
    project.vg105()
    result = cli("model.py")
    lines = result.stdout.splitlines()
    head, gutter, source, caret, help_ = lines[:5]
    assert head.startswith("model.py:3:11: VG105 ") and "12" in head
    assert gutter.strip() == "|"
    assert source == "3 | encoder = nn.TransformerEncoder(layer, num_layers=12)"
    assert caret.startswith("  | ")
    column = caret.index("^") - len("  | ") + 1
    assert column == 11
    assert caret[len("  | ") :].strip().split()[0] == "^" * (54 - 11)  # the whole span, 3:11 to 3:54
    assert caret.endswith(" warning")
    assert help_.startswith("  = help: ") and "norm_first=True" in help_
    assert lines[-2:] == ["Found 1 finding (1 warning) in 1 file checked.", "2 models in 1 file: 2 fully analysed"]  # layer and encoder


def test_concise_format(project, cli):
    project.vg105()
    project.mlp()
    result = cli("model.py", "mlp.py", "--output-format", "concise")
    lines = result.stdout.splitlines()
    assert len(lines) == 5 + 2
    for line in lines[:-2]:
        path, row, column, rest = line.split(":", 3)
        assert path in ("mlp.py", "model.py")
        assert int(row) >= 1 and int(column) >= 1
        code, severity, message = rest.strip().split(" ", 2)
        assert code in MLP_CODES | {"VG105"} and severity in ("[error]", "[warning]") and message
    assert "model.py:3:11: VG105 [warning] 12 post-LN transformer layers" in result.stdout
    assert lines[-2:] == ["Found 5 findings (1 error, 4 warnings) in 2 files checked.", "3 models in 2 files: 3 fully analysed"]


def test_json_shape(project, cli):
    project.vg105()
    result = cli("model.py", "--output-format", "json")
    assert result.exit_code == 1
    [finding] = json.loads(result.stdout)
    assert list(finding) == JSON_KEYS
    assert finding["code"] == "VG105"
    assert finding["name"] == "deep-post-norm-transformer"
    assert finding["severity"] == "warning"
    assert finding["filename"] == "model.py"
    assert finding["location"] == {"row": 3, "column": 11}
    assert finding["end_location"] == {"row": 3, "column": 54}
    assert finding["model"] == "encoder"
    assert finding["status"] == "static"
    assert finding["evidence"]["num_layers"] == 12
    assert finding["fix"] is None
    assert finding["url"] == "rules/VG105.md"
    assert "12" in finding["message"]


def test_json_text_and_json_agree(project, cli):
    project.vg105()
    project.mlp()
    concise = cli("model.py", "mlp.py", "--output-format", "concise", "-q").stdout.splitlines()
    objects = json.loads(cli("model.py", "mlp.py", "--output-format", "json").stdout)
    assert concise == [
        f"{o['filename']}:{o['location']['row']}:{o['location']['column']}: {o['code']} [{o['severity']}] {o['message']}"
        for o in objects
    ]
    for o in objects:
        assert list(o) == JSON_KEYS
        assert o["severity"] in ("error", "warning", "info")
        assert isinstance(o["evidence"], dict)
        assert (o["end_location"]["row"], o["end_location"]["column"]) >= (o["location"]["row"], o["location"]["column"])


def test_json_url_is_the_rule_page_of_each_code(project, cli):
    project.mlp()
    result = cli("mlp.py", "--output-format", "json")
    urls = {f["code"]: f["url"] for f in json.loads(result.stdout)}
    assert urls == {
        "VG101": "rules/VG101.md",
        "VG102": "rules/VG102.md",
        "VG103": "rules/VG103.md",
        "VG104": "rules/VG104.md",
    }


def test_json_url_of_a_syntax_error(project, cli):
    project.write("bad.py", "def f(:\n")
    [finding] = json.loads(cli("bad.py", "--output-format", "json").stdout)
    assert finding["code"] == "VG001"
    assert finding["url"] == "rules/VG001.md"


def test_json_with_no_findings_is_an_empty_array(project, cli):
    project.write("clean.py", CLEAN_SOURCE)
    result = cli("clean.py", "--output-format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_json_stdout_stays_parseable_when_there_are_warnings(project, cli):
    project.vg105()
    (project.root / "broken.py").symlink_to(project.root / "missing.py")
    result = cli(".", "--select", "VG105", "--output-format", "json")
    assert findings(result) == [("model.py", 3, 11, "VG105")]
    assert "broken.py" in result.stderr  # not checked, said on stderr


def test_output_file(project, cli):
    project.vg105()
    result = cli("model.py", "-o", "report.json", "--output-format", "json")
    assert result.exit_code == 1
    assert result.stdout == ""
    [finding] = json.loads((project.root / "report.json").read_text())
    assert finding["code"] == "VG105"
    result = cli("model.py", "--output-file", "report.txt")
    assert result.stdout == ""
    text = (project.root / "report.txt").read_text()
    assert text.startswith("model.py:3:11: VG105 ")
    assert ANSI not in text


def test_output_file_that_cannot_be_written_is_exit_2(project, main):
    project.vg105()
    run = main("model.py", "-o", "no/such/folder/report.txt")
    assert run.code == 2
    assert "report.txt" in run.stderr


def test_statistics(project, cli):
    project.vg105("a.py")
    project.vg105("b.py")
    project.mlp()
    result = cli("a.py", "b.py", "mlp.py", "--statistics")
    assert result.exit_code == 1
    rows = [line.split() for line in result.stdout.splitlines()]
    counts = {row[1]: int(row[0]) for row in rows}
    assert counts == {"VG105": 2, "VG101": 1, "VG102": 1, "VG103": 1, "VG104": 1}
    assert rows[0][1:] == ["VG105", "deep-post-norm-transformer"]  # most frequent first
    stats = json.loads(cli("a.py", "b.py", "mlp.py", "--statistics", "--output-format", "json").stdout)
    assert stats[0] == {"code": "VG105", "name": "deep-post-norm-transformer", "count": 2}
    assert sum(row["count"] for row in stats) == 6


def test_quiet(project, cli):
    project.vg105()
    project.write("clean.py", CLEAN_SOURCE)
    result = cli("model.py", "--quiet", "--output-format", "concise")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [line for line in result.stdout.splitlines() if "VG105" in line]
    assert len(result.stdout.splitlines()) == 1
    clean = cli("clean.py", "-q")
    assert clean.exit_code == 0
    assert clean.stdout == ""


def test_order_is_path_line_column_code(project, cli):
    project.vg105("b.py")
    project.vg105("a.py", top="\n\n")  # reported on line 5
    project.vg105("sub/c.py")
    project.mlp("a_mlp.py")
    project.write("z.py", "from torch import nn\n" + VG105_SOURCE.split("\n", 1)[1] + "x = (\n")
    result = cli(".", "-j2", "--output-format", "json")
    got = findings(result)
    assert got == sorted(got, key=lambda f: (f[0], f[1], f[2], f[3]))
    assert [f[0] for f in got] == ["a.py"] + ["a_mlp.py"] * 4 + ["b.py", "sub/c.py", "z.py"]
    assert got[0] == ("a.py", 5, 11, "VG105")
    serial = cli(".", "-j1", "--output-format", "json")
    assert serial.stdout == result.stdout  # the same with one process or several


def test_no_colour_when_not_a_terminal(project, cli):
    project.vg105()
    result = cli("model.py")
    assert ANSI not in result.stdout


def _run_on_a_terminal(project, env_extra: dict[str, str]) -> str:
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(env_extra)
    try:
        subprocess.run([sys.executable, "-m", "vglint", "model.py"], cwd=project.root, stdout=terminal,
                       stderr=subprocess.DEVNULL, env=env, timeout=60)  # fmt: skip
    finally:
        os.close(terminal)
    out = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal side is closed: all read
            break
        if not chunk:
            break
        out += chunk
    os.close(controller)
    return out.decode()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_colour_on_a_terminal_unless_no_color(project):
    project.vg105()
    coloured = _run_on_a_terminal(project, {})
    assert ANSI in coloured and "VG105" in coloured
    plain = _run_on_a_terminal(project, {"NO_COLOR": "1"})
    assert "VG105" in plain
    assert ANSI not in plain


def test_json_evidence_holds_the_numbers_and_not_the_message_only_keys(project, cli):
    """Evidence keys starting with `_` fill the message only (rules/base.py): JSON leaves them out."""
    project.mlp()
    by_code = {o["code"]: o["evidence"] for o in json.loads(cli("mlp.py", "--output-format", "json").stdout)}
    assert by_code["VG101"] == {"chain_length": 20, "activations": "sigmoid", "approximate": False}
    # 19 steps between the 20 weight layers, each sqrt(1/3 * 1/16) = 0.1443: 0.1443^19 = 1.07e-16
    assert by_code["VG102"] == {"estimate": 1.07e-16, "weight_layers": 20, "cause": "sigmoid derivatives", "approximate": False}
    assert by_code["VG103"] == {"weight_layers": 20}
