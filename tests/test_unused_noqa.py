"""VG003 unused-noqa: a suppression comment that suppresses nothing, enabled with `--extend-select VG003`."""

from __future__ import annotations

import json

import pytest
from conftest import VG105_SOURCE

ON = ("--extend-select", "VG003", "--output-format", "json")
LINES = VG105_SOURCE.splitlines()  # VG105 is reported on line 3

#: VG303 on the loss call (line 14), related to the sigmoid (line 5).
SIGMOID_MSE = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Sequential(nn.Linear(784, 10), nn.Sigmoid())
criterion = nn.MSELoss()


def train(loader, optimizer):
    for images, digits in loader:
        optimizer.zero_grad()
        out = model(images)
        loss = criterion(out, F.one_hot(digits, 10).float())
        loss.backward()
        optimizer.step()
"""


def reported(cli, *args: str) -> list[tuple[str, int, int, str]]:
    result = cli(*args)
    return [(f["code"], f["location"]["row"], f["location"]["column"], f["message"]) for f in json.loads(result.stdout)]


def with_comment(line: int, comment: str, source: str = VG105_SOURCE) -> str:
    lines = source.splitlines()
    lines[line - 1] += f"  {comment}"
    return "\n".join(lines) + "\n"


def test_off_by_default(project, cli):
    project.write("m.py", "x = 1  # noqa: VG101\n")
    assert reported(cli, "m.py", "--output-format", "json") == []


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("# noqa: VG101", "unused noqa directive (unused: VG101)"),
        ("# noqa: VG105, VG101", "unused noqa directive (unused: VG101)"),
        ("# noqa: E501, VG101, VG999", "unused noqa directive (unused: VG101; unknown: VG999)"),
        ("# vglint: ignore[VG101]", "unused noqa directive (unused: VG101)"),
        ("# vglint: ignore[VG2, VG105]", "unused noqa directive (unused: VG2)"),
    ],
)
def test_the_unused_codes_are_named_at_the_comment(project, cli, comment, message):
    project.write("m.py", with_comment(3, comment))  # on the line of a VG105 finding
    assert [row for row in reported(cli, "m.py", *ON) if row[0] == "VG003"] == [("VG003", 3, 56, message)]


def test_a_comment_after_another_is_reported_where_it_starts(project, cli):
    project.write("m.py", "x = 1  # a reason  # noqa: VG101\n")
    assert reported(cli, "m.py", *ON) == [("VG003", 1, 20, "unused noqa directive (unused: VG101)")]


def test_codes_of_rules_not_selected_are_non_enabled(project, cli):
    project.write("m.py", "x = 1  # noqa: VG201, VG105\n")
    assert reported(cli, "m.py", "--select", "VG1,VG003", "--output-format", "json") == [
        ("VG003", 1, 8, "unused noqa directive (unused: VG105; non-enabled: VG201)")
    ]


@pytest.mark.parametrize(
    "comment",
    ["# noqa: VG105", "# noqa", "# vglint: ignore[VG1]", "# noqa: VG105, VG003"],
)
def test_a_used_comment_or_one_that_keeps_itself_is_not_reported(project, cli, comment):
    project.write("m.py", with_comment(3, comment))
    assert [row[0] for row in reported(cli, "m.py", *ON)] == []


@pytest.mark.parametrize(
    "comment",
    [
        "# noqa",
        "# noqa: E501",
        "# noqa: F401, E501",
        "# noqa: VG003",
        "# noqa: VG0",
        "# noqa: VG106",
        "# noqa: VG101, VG003",
    ],
)
def test_what_vglint_cannot_judge_is_never_reported(project, cli, comment):
    """A bare noqa and other linters' codes may be used by another tool; VG106 only the probe reports;
    a code that covers VG003 would suppress its own report, and one that names VG003 keeps the comment."""
    project.write("m.py", f"x = 1  {comment}\n")
    assert reported(cli, "m.py", *ON) == []


def test_an_unused_blanket_vglint_ignore_is_reported_and_a_blanket_noqa_does_not_hide_it(project, cli):
    project.write("m.py", "x = 1  # vglint: ignore\ny = 2  # noqa  # vglint: ignore[VG101]\n")
    assert reported(cli, "m.py", *ON) == [
        ("VG003", 1, 8, "unused blanket noqa directive"),
        ("VG003", 2, 16, "unused noqa directive (unused: VG101)"),
    ]


def test_a_line_comment_for_a_code_the_file_ignores_is_unused(project, cli):
    project.write("m.py", "# vglint: file-ignore[VG105]\n" + with_comment(3, "# noqa: VG105"))
    assert reported(cli, "m.py", *ON) == [("VG003", 4, 56, "unused noqa directive (unused: VG105)")]


@pytest.mark.parametrize("top", ["# vglint: file-ignore[VG003]\n", "# vglint: skip-file\n"])
def test_file_comments_hide_vg003(project, cli, top):
    project.write("m.py", top + "x = 1  # noqa: VG101\n")
    assert reported(cli, "m.py", *ON) == []


def test_per_file_ignores_hide_vg003(project, cli):
    project.pyproject('[tool.vglint]\nper-file-ignores = { "m.py" = ["VG003"] }\n')
    project.write("m.py", "x = 1  # noqa: VG101\n")
    project.write("n.py", "x = 1  # noqa: VG101\n")
    assert [(f["filename"], f["code"]) for f in json.loads(cli(".", *ON).stdout)] == [("n.py", "VG003")]


@pytest.mark.parametrize("line", [5, 13])
def test_a_comment_on_the_related_line_is_used(project, cli, line):
    project.write("train.py", with_comment(line, "# noqa: VG303", SIGMOID_MSE))
    assert reported(cli, "train.py", *ON) == []


def test_a_file_that_cannot_be_parsed_gets_no_vg003(project, cli):
    project.write("m.py", "class Net(nn.Module)  # noqa: VG101\n    pass\n")
    assert [row[0] for row in reported(cli, "m.py", *ON)] == ["VG001"]


def test_vg003_fails_the_run_like_any_warning(project, cli):
    project.write("m.py", "x = 1  # noqa: VG101\n")
    assert cli("m.py", "--extend-select", "VG003").exit_code == 1
    assert cli("m.py", "--extend-select", "VG003", "--fail-on", "error").exit_code == 0
