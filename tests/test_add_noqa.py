"""`--add-noqa`: a `# noqa: CODE` comment on each reported line, so that a code base passes from today on."""

from __future__ import annotations

from conftest import VG105_SOURCE, assert_one_line_error, deep_mlp_source, findings

JSON = ("--output-format", "json")
LAYER = "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
STACK = "nn.TransformerEncoder(layer, num_layers=12)"


def test_add_noqa_comments_each_reported_line_and_the_check_then_passes(project, cli):
    project.vg105("a.py")
    project.write("mlp.py", deep_mlp_source())
    result = cli("check", ".", "--add-noqa")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "vglint: added 3 noqa comments\n"
    assert (project.root / "a.py").read_text() == VG105_SOURCE.replace(f"{STACK}\n", f"{STACK}  # noqa: VG105\n")
    mlp = (project.root / "mlp.py").read_text().splitlines()
    assert mlp[1:3] == [
        "model = nn.Sequential(  # noqa: VG102, VG103, VG104",
        "    nn.Linear(64, 64), nn.Sigmoid(),  # noqa: VG101",
    ]
    check = cli("check", ".", *JSON)
    assert (findings(check), check.exit_code) == ([], 0)


def test_a_second_run_adds_nothing(project, cli):
    project.vg105("a.py")
    cli("check", ".", "--add-noqa")
    once = (project.root / "a.py").read_bytes()
    assert cli("check", ".", "--add-noqa").stderr == "vglint: added 0 noqa comments\n"
    assert (project.root / "a.py").read_bytes() == once


def test_codes_merge_into_an_existing_noqa_and_other_comments_stay(project, cli):
    project.write(
        "a.py",
        "from torch import nn\n" + LAYER
        + f"e1 = {STACK}  # noqa: E501\n"
        + f"e2 = {STACK}  # the paper's depth\n"
        + f"e3 = {STACK}  # type: ignore  # noqa:E501 because it is long\n"
        + f"e4 = {STACK}  # vglint: ignore[VG101]\n",
    )  # fmt: skip
    assert cli("check", "a.py", "--add-noqa").exit_code == 0
    assert (project.root / "a.py").read_text().splitlines()[2:] == [
        f"e1 = {STACK}  # noqa: E501, VG105",
        f"e2 = {STACK}  # the paper's depth  # noqa: VG105",
        f"e3 = {STACK}  # type: ignore  # noqa:E501, VG105 because it is long",
        f"e4 = {STACK}  # vglint: ignore[VG101]  # noqa: VG105",
    ]
    assert findings(cli("check", "a.py", *JSON)) == []


def test_line_endings_and_encoding_are_kept(project, cli):
    crlf = VG105_SOURCE.replace("\n", "\r\n").encode()
    project.write("crlf.py", data=crlf)
    latin = ("# -*- coding: latin-1 -*-\n# caf\u00e9\n" + VG105_SOURCE).encode("latin-1")
    project.write("latin.py", data=latin)
    bom = b"\xef\xbb\xbf" + VG105_SOURCE.encode()
    project.write("bom.py", data=bom)
    no_final_newline = VG105_SOURCE.rstrip("\n").encode()
    project.write("last.py", data=no_final_newline)
    assert cli("check", ".", "--add-noqa").stderr == "vglint: added 4 noqa comments\n"
    noqa = b"  # noqa: VG105"
    assert (project.root / "crlf.py").read_bytes() == crlf.replace(b"12)\r\n", b"12)" + noqa + b"\r\n")
    assert (project.root / "latin.py").read_bytes() == latin.replace(b"12)\n", b"12)" + noqa + b"\n")
    assert (project.root / "bom.py").read_bytes() == bom.replace(b"12)\n", b"12)" + noqa + b"\n")
    assert (project.root / "last.py").read_bytes() == no_final_newline + noqa


def test_a_line_that_cannot_take_a_comment_is_skipped_and_named(project, cli):
    source = (
        "from torch import nn\n" + LAYER
        + f'e1 = {STACK}; doc = """\n'
        + 'text"""\n'
        + f"e2 = {STACK} \\\n"
        + "    if True else None\n"
        + f"e3 = {STACK}\n"
    )  # fmt: skip
    project.write("a.py", source)
    result = cli("check", "a.py", "--add-noqa")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "vglint: warning: a.py:3: VG105 not noqa'd: the line ends inside a multi-line string",
        "vglint: warning: a.py:5: VG105 not noqa'd: the line continues with a backslash",
        "vglint: added 1 noqa comment",
    ]
    assert (project.root / "a.py").read_text() == source.replace(f"e3 = {STACK}\n", f"e3 = {STACK}  # noqa: VG105\n")


def test_an_unparsable_file_is_not_edited(project, cli):
    broken = "class Net(nn.Module)\n    pass\n"
    project.write("broken.py", broken)
    result = cli("check", "broken.py", "--add-noqa")
    assert (result.exit_code, result.stderr) == (0, "vglint: added 0 noqa comments\n")
    assert (project.root / "broken.py").read_text() == broken


def test_unused_noqa_findings_are_not_noqad(project, cli):
    source = "x = 1  # noqa: VG101\n"
    project.write("a.py", source)
    result = cli("check", "a.py", "--extend-select", "VG003", "--add-noqa")
    assert result.stderr == "vglint: added 0 noqa comments\n"
    assert (project.root / "a.py").read_text() == source


def test_standard_input_cannot_be_edited(project, main):
    assert_one_line_error(main("check", "-", "--add-noqa"), "--add-noqa cannot edit standard input")


def test_with_a_baseline_only_the_new_findings_get_a_comment(project, cli):
    project.vg105("old.py")
    cli("check", ".", "--write-baseline", "base.json")
    project.vg105("new.py")
    assert cli("check", ".", "--baseline", "base.json", "--add-noqa").stderr == "vglint: added 1 noqa comment\n"
    assert (project.root / "old.py").read_text() == VG105_SOURCE
    assert (project.root / "new.py").read_text() == VG105_SOURCE.replace(f"{STACK}\n", f"{STACK}  # noqa: VG105\n")
