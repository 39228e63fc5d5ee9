"""Suppression comments: on the reported line (`# noqa`, `# vglint: ignore[...]`) and for the whole file."""

from __future__ import annotations

import json

import pytest
from conftest import MLP_CODES, codes, deep_mlp_source, findings

JSON = ("--output-format", "json")


@pytest.mark.parametrize(
    ("comment", "suppressed"),
    [
        ("# noqa", True),
        ("# NOQA", True),
        ("# noqa: VG105", True),
        ("# noqa:VG105", True),
        ("# noqa: vg105", True),
        ("# noqa: VG101, VG105", True),
        ("# noqa: VG101,VG105", True),
        ("# noqa: VG1", True),  # a prefix, as in --select
        ("# vglint: ignore[VG105]", True),
        ("# vglint: ignore[VG101, VG105]", True),
        ("# vglint: ignore[VG1]", True),
        ("# some reason  # noqa: VG105", True),
        # a suppression for another code does not suppress
        ("# noqa: VG101", False),
        ("# noqa: VG101 VG104", False),
        ("# noqa: VG1051", False),
        ("# vglint: ignore[VG101]", False),
        ("# vglint: ignore[VG0]", False),
        ("# not a noqa comment", False),
    ],
)
def test_inline_suppression_on_the_reported_line(project, cli, comment, suppressed):
    project.vg105(comment=comment)
    result = cli("model.py", *JSON)
    assert findings(result) == ([] if suppressed else [("model.py", 3, 11, "VG105")])
    assert result.exit_code == (0 if suppressed else 1)


def test_noqa_on_another_line_does_not_suppress(project, cli):
    project.write(
        "model.py",
        "from torch import nn  # noqa\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)  # noqa: VG105\n"
        "encoder = nn.TransformerEncoder(layer, num_layers=12)\n"
        "# noqa\n",
    )
    assert findings(cli("model.py", *JSON)) == [("model.py", 3, 11, "VG105")]


def test_noqa_inside_a_string_is_not_a_comment(project, cli):
    project.write(
        "model.py",
        "from torch import nn\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
        'encoder = nn.TransformerEncoder(layer, num_layers=12); note = "# noqa"\n'
        'skip = "# vglint: skip-file"\n',
    )
    assert findings(cli("model.py", *JSON)) == [("model.py", 3, 11, "VG105")]


def test_inline_suppression_only_affects_its_own_line(project, cli):
    project.write(
        "model.py",
        "from torch import nn\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
        "encoder = nn.TransformerEncoder(layer, num_layers=12)  # noqa: VG105\n"
        "decoder = nn.TransformerEncoder(layer, num_layers=12)\n",
    )
    assert findings(cli("model.py", *JSON)) == [("model.py", 4, 11, "VG105")]


def _both_in_one_file(project, top: str) -> None:
    mlp = deep_mlp_source().split("\n", 1)[1]  # without its import line
    project.write(
        "model.py",
        top + "from torch import nn\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
        "encoder = nn.TransformerEncoder(layer, num_layers=12)\n" + mlp,
    )


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ("", MLP_CODES | {"VG105"}),
        ("# vglint: file-ignore[VG1]\n", set()),
        ("# vglint: file-ignore[VG10]\n", set()),
        ("# vglint: file-ignore[VG105]\n", MLP_CODES),
        ("# vglint: file-ignore[VG101]\n", {"VG102", "VG103", "VG104", "VG105"}),
        ("# vglint: file-ignore[VG101, VG105]\n", {"VG102", "VG103", "VG104"}),
        ("# vglint: file-ignore[ALL]\n", set()),
        ("# vglint: skip-file\n", set()),
        ('"""A model."""\n# vglint: skip-file\n', set()),
    ],
)
def test_file_level_suppression(project, cli, top, expected):
    _both_in_one_file(project, top)
    result = cli("model.py", *JSON)
    assert codes(result) == expected
    assert result.exit_code == (1 if expected else 0)


def test_file_ignore_anywhere_in_the_file(project, cli):
    _both_in_one_file(project, "")
    with (project.root / "model.py").open("a") as f:
        f.write("# vglint: file-ignore[VG105]\n")
    assert codes(cli("model.py", *JSON)) == MLP_CODES


def test_skip_file_skips_a_file_among_others(project, cli):
    project.vg105("skipped.py", top="# vglint: skip-file\n")
    project.vg105("checked.py")
    result = cli(".", *JSON)
    assert [f[0] for f in findings(result)] == ["checked.py"]


def test_suppressions_work_for_stdin(project, cli):
    from conftest import VG105_SOURCE

    source = VG105_SOURCE.replace("num_layers=12)", "num_layers=12)  # noqa: VG105")
    assert cli("-", "--stdin-filename", "x.py", input=source).exit_code == 0


MULTI_LINE_VG105 = (
    "from torch import nn\n"
    "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
    "encoder = nn.TransformerEncoder({first}\n"
    "    layer,{middle}\n"
    "    num_layers=12,\n"
    "){last}\n"
)


def test_multi_line_finding_spans_its_lines(project, cli):
    """The nn.TransformerEncoder(...) call runs from 3:11 to 6:2: reported on its first line."""
    project.write("model.py", MULTI_LINE_VG105.format(first="", middle="", last=""))
    [finding] = json.loads(cli("model.py", *JSON).stdout)
    assert finding["code"] == "VG105"
    assert finding["location"] == {"row": 3, "column": 11}
    assert finding["end_location"] == {"row": 6, "column": 2}


@pytest.mark.parametrize(
    ("where", "suppressed"),
    [("first", True), ("middle", False), ("last", False)],
)
@pytest.mark.parametrize("comment", ["# noqa", "# noqa: VG105", "# vglint: ignore[VG105]"])
def test_multi_line_finding_is_suppressed_on_its_first_line_only(project, cli, where, suppressed, comment):
    parts = {"first": "", "middle": "", "last": ""}
    parts[where] = f"  {comment}"
    project.write("model.py", MULTI_LINE_VG105.format(**parts))
    result = cli("model.py", *JSON)
    assert findings(result) == ([] if suppressed else [("model.py", 3, 11, "VG105")])
    assert result.exit_code == (0 if suppressed else 1)
