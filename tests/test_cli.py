"""The command line as a user meets it: commands, paths, rule selection, exit codes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import CLEAN_SOURCE, MLP_CODES, VG105_SOURCE, assert_one_line_error, codes, findings, run_vglint

from vglint.rules import ALL_RULES

ALL_CODES = {rule.code for rule in ALL_RULES}  # the registry is the one place that lists rules


# --- the default command ---------------------------------------------------------------------------


def test_path_alone_is_the_check_command(project, cli):
    project.vg105()
    plain = cli("model.py")
    explicit = cli("check", "model.py")
    assert plain.exit_code == explicit.exit_code == 1
    assert plain.stdout == explicit.stdout
    assert plain.stdout.startswith("model.py:3:11: VG105 ")


def test_flags_first_still_mean_check(project, cli):
    project.vg105()
    result = cli("--output-format", "json", "model.py")
    assert findings(result) == [("model.py", 3, 11, "VG105")]


def test_no_path_checks_the_working_directory(project, cli):
    project.vg105("pkg/model.py")
    result = cli("--output-format", "json")
    assert result.exit_code == 1
    assert findings(result) == [("pkg/model.py", 3, 11, "VG105")]


def test_clean_file_exits_0(project, cli):
    project.write("clean.py", CLEAN_SOURCE)
    result = cli("clean.py")
    assert result.exit_code == 0
    assert result.stdout == "All checks passed! (1 file checked)\n1 model in 1 file: 1 fully analysed\n"


def test_module_version(project):
    run = run_vglint("--version", cwd=project.root)
    assert run.code == 0
    from vglint import __version__

    assert __version__ in run.stdout


def test_help_lists_the_commands(project, cli):
    result = cli("--help")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    start = lines.index("Commands:")
    section = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        section.append(line)
    names = [line.split()[0] for line in section if line.startswith("  ") and not line.startswith("    ")]
    assert names == ["check", "inspect", "probe", "rule", "rules", "server"]


# --- paths -----------------------------------------------------------------------------------------

DEFAULT_EXCLUDES = (".git", ".venv", "venv", "__pycache__", "build", "dist", ".tox", "node_modules", "site-packages")


def test_directories_are_walked_for_python_files_with_default_excludes(project, cli):
    for folder in DEFAULT_EXCLUDES:
        project.vg105(f"{folder}/model.py")
        project.vg105(f"pkg/{folder}/model.py")  # excluded at any depth
    project.vg105("lib/site-packages/model.py")
    project.vg105("pkg/deep/er/model.py")
    project.vg105("top.py")
    project.write("notes.txt", VG105_SOURCE)  # not *.py: not checked when walking
    result = cli(".", "--output-format", "json")
    assert result.exit_code == 1
    assert [f[0] for f in findings(result)] == ["pkg/deep/er/model.py", "top.py"]


def test_summary_counts_checked_files(project, cli):
    project.vg105("a.py")
    project.write("b.py", CLEAN_SOURCE)
    project.vg105("build/c.py")
    result = cli(".")
    assert result.stdout.endswith("Found 1 finding (1 warning) in 2 files checked.\n3 models in 2 files: 3 fully analysed\n")  # layer, encoder, model


def test_project_inside_a_folder_named_like_an_exclude_is_still_checked(project, cli, tmp_path):
    """Excludes apply below the folder being checked, not to the folders that contain it."""
    project.vg105("build/proj/model.py")
    result = cli(str(project.root / "build" / "proj"), "--output-format", "json")
    assert findings(result) == [("build/proj/model.py", 3, 11, "VG105")]


def test_exclude_replaces_the_defaults(project, cli):
    project.vg105(".venv/model.py")
    project.vg105("pkg/model.py")
    project.vg105("top.py")
    result = cli(".", "--exclude", "pkg", "--output-format", "json")
    assert [f[0] for f in findings(result)] == [".venv/model.py", "top.py"]


def test_extend_exclude_adds_to_the_defaults(project, cli):
    project.vg105(".venv/model.py")
    project.vg105("pkg/generated/model.py")
    project.vg105("pkg/model_test.py")
    project.vg105("pkg/model.py")
    result = cli(".", "--extend-exclude", "generated,*_test.py", "--output-format", "json")
    assert [f[0] for f in findings(result)] == ["pkg/model.py"]


def test_exclude_pattern_with_a_slash_matches_the_path(project, cli):
    project.vg105("pkg/sub/model.py")
    project.vg105("other/sub/model.py")
    result = cli(".", "--extend-exclude", "pkg/sub", "--output-format", "json")
    assert [f[0] for f in findings(result)] == ["other/sub/model.py"]


def test_explicit_files_are_checked_even_when_excluded(project, cli):
    project.vg105("build/model.py")
    project.vg105("gen.py")
    result = cli("build/model.py", "gen.py", "--extend-exclude", "gen.py", "--output-format", "json")
    assert [f[0] for f in findings(result)] == ["build/model.py", "gen.py"]


def test_explicit_files_that_are_not_python_are_refused(project, main):
    """Never "All checks passed!" for a file vglint did not read as Python (more in test_notebooks.py)."""
    project.vg105("model.txt")
    assert_one_line_error(main("model.txt"), "vglint: error: model.txt: not a Python file or notebook")


def test_force_exclude_applies_excludes_to_explicit_files(project, cli):
    project.vg105("build/model.py")
    project.vg105("gen.py")
    project.vg105("kept.py")
    result = cli("build/model.py", "gen.py", "kept.py", "--extend-exclude", "gen.py", "--force-exclude",
                 "--output-format", "json")  # fmt: skip
    assert [f[0] for f in findings(result)] == ["kept.py"]
    assert cli("build/model.py", "--force-exclude").exit_code == 0


def test_each_file_is_reported_once(project, cli):
    project.vg105("pkg/model.py")
    result = cli("pkg", "pkg/model.py", "./pkg/model.py", str(project.root / "pkg" / "model.py"), "--output-format", "json")
    assert findings(result) == [("pkg/model.py", 3, 11, "VG105")]


def test_filenames_are_relative_to_the_working_directory(project, cli, tmp_path):
    project.vg105("pkg/model.py")
    outside = tmp_path / "elsewhere" / "model.py"
    outside.parent.mkdir()
    outside.write_text(VG105_SOURCE)
    result = cli(str(project.root / "pkg" / "model.py"), str(outside), "--output-format", "json")
    assert sorted(f[0] for f in findings(result)) == sorted([outside.as_posix(), "pkg/model.py"])


def test_symlinked_file_is_reported_under_its_own_name(project, cli):
    project.vg105("real/model.py")
    (project.root / "link.py").symlink_to(project.root / "real" / "model.py")
    result = cli("link.py", "--output-format", "json")
    assert findings(result) == [("link.py", 3, 11, "VG105")]


def test_missing_path_is_a_usage_error(project, main):
    project.vg105()
    run = main("model.py", "no/such/file.py")
    assert_one_line_error(run, "no/such/file.py")
    assert run.stdout == ""


# --- standard input --------------------------------------------------------------------------------


def test_stdin_with_stdin_filename(project, cli):
    result = cli("-", "--stdin-filename", "pkg/model.py", input=VG105_SOURCE)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pkg/model.py:3:11: VG105 ")
    assert "3 | encoder = nn.TransformerEncoder(layer, num_layers=12)" in lines  # the source line, as for files


def test_stdin_without_a_name(project, cli):
    result = cli("check", "-", "--output-format", "json", input=VG105_SOURCE)
    assert findings(result) == [("<stdin>", 3, 11, "VG105")]


def test_stdin_filename_alone_reads_stdin(project, cli):
    project.vg105("on_disk.py")  # not checked: there is no path, so `-` is meant
    result = cli("--stdin-filename", "piped.py", "--output-format", "json", input=VG105_SOURCE)
    assert findings(result) == [("piped.py", 3, 11, "VG105")]


def test_stdin_together_with_files(project, cli):
    project.vg105("a.py")
    result = cli("a.py", "-", "--stdin-filename", "b.py", "--output-format", "json", input=VG105_SOURCE)
    assert findings(result) == [("a.py", 3, 11, "VG105"), ("b.py", 3, 11, "VG105")]


def test_stdin_filename_is_force_excluded(project, cli):
    result = cli("-", "--stdin-filename", "build/model.py", "--force-exclude", input=VG105_SOURCE)
    assert result.exit_code == 0


def test_stdin_syntax_error_is_vg001(project, cli):
    result = cli("-", "--stdin-filename", "bad.py", "--output-format", "json", input="def f(:\n")
    assert [(f[0], f[3]) for f in findings(result)] == [("bad.py", "VG001")]


# --- rule selection --------------------------------------------------------------------------------


@pytest.fixture
def both(project):
    project.vg105("model.py")
    project.mlp("mlp.py")
    return ["model.py", "mlp.py", "--output-format", "json"]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], MLP_CODES | {"VG105"}),
        (["--select", "VG105"], {"VG105"}),
        (["--select", "vg105"], {"VG105"}),
        (["--select", "VG101,VG105"], {"VG101", "VG105"}),
        (["--select", "VG101", "--select", "VG104"], {"VG101", "VG104"}),
        (["--select", "VG10"], MLP_CODES | {"VG105"}),
        (["--select", "VG1"], MLP_CODES | {"VG105"}),
        (["--select", "ALL"], MLP_CODES | {"VG105"}),
        (["--select", "VG0"], set()),
        (["--ignore", "VG105"], MLP_CODES),
        (["--ignore", "VG1"], set()),
        (["--ignore", "VG10"], set()),
        (["--ignore", "ALL"], set()),
        (["--ignore", "VG101,VG102"], {"VG103", "VG104", "VG105"}),
        (["--extend-select", "VG105", "--select", "VG101"], {"VG101", "VG105"}),
        # the more specific selector wins, whichever list it is in
        (["--select", "VG105", "--ignore", "VG1"], {"VG105"}),
        (["--select", "VG1", "--ignore", "VG105"], MLP_CODES),
        (["--select", "VG10", "--ignore", "VG1"], MLP_CODES | {"VG105"}),
        (["--select", "ALL", "--ignore", "VG104"], {"VG101", "VG102", "VG103", "VG105"}),
        (["--ignore", "VG1", "--extend-select", "VG105"], {"VG105"}),
        (["--ignore", "ALL", "--extend-select", "VG101"], {"VG101"}),
        # a tie goes to ignore
        (["--select", "VG105", "--ignore", "VG105"], set()),
    ],
)
def test_select_ignore_extend_select(cli, both, flags, expected):
    result = cli(*both, *flags)
    assert codes(result) == expected
    assert result.exit_code == (1 if expected else 0)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--select", "VG999"), ("--ignore", "VG9"), ("--extend-select", "XX1"), ("--select", "VG105,BOGUS")],
)
def test_unknown_selector_is_one_line_exit_2(project, main, flag, value):
    project.vg105()
    run = main("model.py", flag, value)
    assert_one_line_error(run, value.split(",")[-1].upper(), flag)


def test_unknown_selector_through_the_console_script(subprocess_vglint, project):
    project.vg105()
    assert_one_line_error(subprocess_vglint("model.py", "--select", "VG999"), "VG999")


@pytest.mark.parametrize("args", [["model.py", "--bogus"], ["check", "--bogus", "model.py"], ["--bogus"]])
def test_unknown_option_is_one_line_exit_2(project, main, args):
    project.vg105()
    assert_one_line_error(main(*args), "--bogus")


def test_unknown_option_through_the_console_script(subprocess_vglint, project):
    project.vg105()
    assert_one_line_error(subprocess_vglint("model.py", "--no-such-flag"), "--no-such-flag")


def test_bad_option_value_is_one_line_exit_2(project, main):
    project.vg105()
    assert_one_line_error(main("model.py", "--output-format", "xml"), "xml")
    assert_one_line_error(main("model.py", "--fail-on", "fatal"), "fatal")


# --- exit codes ------------------------------------------------------------------------------------


def test_exit_codes_and_fail_on(project, cli):
    project.vg105("warn.py")  # a warning
    project.mlp("err.py")  # VG102 is an error
    project.write("clean.py", CLEAN_SOURCE)
    assert cli("clean.py").exit_code == 0
    assert cli("warn.py").exit_code == 1
    assert cli("warn.py", "--fail-on", "warning").exit_code == 1
    assert cli("warn.py", "--fail-on", "info").exit_code == 1
    assert cli("warn.py", "--fail-on", "error").exit_code == 0
    assert cli("err.py", "--fail-on", "error").exit_code == 1


def test_fail_on_error_still_prints_the_warnings(project, cli):
    project.vg105()
    result = cli("model.py", "--fail-on", "error", "--output-format", "json")
    assert result.exit_code == 0
    assert findings(result) == [("model.py", 3, 11, "VG105")]


#: Only info findings: VG201 with the sequence length unknown (at 9:20).
INFO_RNN_SOURCE = """\
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, vocab_size, emb_dim=128, hid_dim=256):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.dropout = nn.Dropout(0.1)
        self.rnn = nn.RNN(emb_dim, hid_dim, num_layers=2)

    def forward(self, src):
        outputs, hidden = self.rnn(self.dropout(self.embedding(src)))
        return outputs, hidden
"""

#: Only info findings: VG103 on a 12-layer ReLU MLP whose Kaiming init keeps the estimate healthy (at 4:7).
INFO_MLP_SOURCE = """\
import torch.nn as nn


class DeepReLU(nn.Module):
    def __init__(self, depth=12, width=256):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return x
"""


@pytest.mark.parametrize(
    ("source", "expected"),
    [(INFO_RNN_SOURCE, [(9, 20, "VG201", "info")]), (INFO_MLP_SOURCE, [(4, 7, "VG103", "info")])],
    ids=["vg201-unknown-length", "vg103-healthy-estimate"],
)
def test_info_findings_alone_exit_0_unless_fail_on_info(project, cli, source, expected):
    project.write("model.py", source)
    result = cli("model.py", "--output-format", "json")
    got = [(f["location"]["row"], f["location"]["column"], f["code"], f["severity"]) for f in json.loads(result.stdout)]
    assert got == expected
    assert result.exit_code == 0  # the default fail-on is warning
    assert cli("model.py", "--fail-on", "warning").exit_code == 0
    assert cli("model.py", "--fail-on", "error").exit_code == 0
    assert cli("model.py", "--fail-on", "info").exit_code == 1
    assert cli("model.py", "--fail-on", "info", "--exit-zero").exit_code == 0


def test_info_findings_are_printed_and_counted(project, cli):
    project.write("model.py", INFO_RNN_SOURCE)
    result = cli("model.py", "--output-format", "concise")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "model.py:9:20: VG201 [info] plain nn.RNN over sequences of unknown length: its gradient vanishes over long "
        "sequences; use nn.LSTM or nn.GRU (forget-gate bias 1), truncated backpropagation or gradient clipping",
        "Found 1 finding (1 info) in 1 file checked.",
        "1 model in 1 file: 1 fully analysed",
    ]


def test_fail_on_info_in_the_configuration(project, cli):
    project.write("model.py", INFO_RNN_SOURCE)
    project.pyproject('[tool.vglint]\nfail-on = "info"\n')
    assert cli("model.py").exit_code == 1
    assert cli("model.py", "--fail-on", "warning").exit_code == 0  # the flag wins


def test_exit_zero(project, cli):
    project.mlp()
    result = cli("mlp.py", "--exit-zero", "--output-format", "json")
    assert result.exit_code == 0
    assert codes(result) == MLP_CODES


def test_exit_zero_does_not_hide_a_vglint_failure(project, main):
    project.vg105()
    assert main("model.py", "--exit-zero", "--config", "missing.toml").code == 2


def test_internal_error_exits_2_even_with_exit_zero_and_keeps_other_findings(project, cli, monkeypatch):
    from vglint.rules.architecture import DeepPostNormTransformer

    def broken(self, ctx):
        raise RuntimeError("rule bug")

    monkeypatch.setattr(DeepPostNormTransformer, "check_file", broken)
    project.vg105("model.py")
    project.mlp("mlp.py")
    result = cli("model.py", "mlp.py", "-j1", "--exit-zero", "--output-format", "json")
    assert result.exit_code == 2
    assert codes(result) == MLP_CODES  # the other rules still ran
    assert "rule bug" in result.stderr
    text = cli("model.py", "-j1")
    assert text.exit_code == 2
    assert "All checks passed" not in text.stdout  # never claims success when vglint failed


# --- rules and rule pages --------------------------------------------------------------------------


#: Every rule, written out by hand (README, "What it checks"): code, name, default severity.
RULES = [
    ("VG001", "syntax-error", "error"),
    ("VG002", "model-build-failed", "warning"),
    ("VG003", "unused-noqa", "warning"),
    ("VG101", "saturating-chain", "warning"),
    ("VG102", "gradient-attenuation", "warning"),
    ("VG103", "missing-normalization", "warning"),
    ("VG104", "missing-skip-connection", "warning"),
    ("VG105", "deep-post-norm-transformer", "warning"),
    ("VG106", "exploding-gradient", "warning"),
    ("VG201", "plain-rnn-long-sequence", "warning"),
    ("VG202", "rnn-without-gradient-clipping", "warning"),
    ("VG301", "sigmoid-with-bce-loss", "warning"),
    ("VG302", "softmax-before-cross-entropy", "warning"),
    ("VG303", "sigmoid-with-mse-loss", "warning"),
    ("VG304", "log-of-softmax", "warning"),
    ("VG401", "gradient-cut-in-forward", "warning"),
    ("VG402", "no-grad-in-forward", "warning"),
]

OFF_BY_DEFAULT = {"VG003"}  # as ruff's RUF100: enabled with --extend-select


def test_rules_lists_every_rule(cli):
    result = cli("rules")
    assert result.exit_code == 0
    rows = [line.split()[:4] for line in result.stdout.splitlines()]
    assert rows == [[code, name, severity, "off" if code in OFF_BY_DEFAULT else "on"] for code, name, severity in RULES]
    assert len(rows) == 17


def test_rules_registry_is_the_hand_written_list():
    assert sorted(ALL_CODES) == [code for code, _, _ in RULES]


def test_rules_json(cli):
    result = cli("rules", "--output-format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(row["code"], row["name"], row["severity"], row["enabled"]) for row in rows] == [
        (code, name, severity, code not in OFF_BY_DEFAULT) for code, name, severity in RULES
    ]
    options = {row["code"]: row["options"] for row in rows}
    assert options == {
        "VG001": {}, "VG002": {}, "VG003": {},
        "VG101": {"min-chain": 4, "probe-confirm-below": 1e-2},
        "VG102": {"warn-below": 1e-4, "error-below": 1e-8, "probe-confirm-below": 1e-2, "probe-refute-at": 1e-1},
        "VG103": {"min-layers": 10, "probe-confirm-below": 1e-2, "probe-refute-at": 1e-1},
        "VG104": {"min-layers": 20, "probe-confirm-below": 1e-2, "probe-refute-at": 1e-1},
        "VG105": {"min-layers": 12},
        "VG106": {"ratio-above": 1e4},
        "VG201": {"min-seq-len": 100, "probe-horizon-fraction": 0.1},
        "VG202": {"probe-horizon-fraction": 0.1}, "VG301": {}, "VG302": {}, "VG303": {}, "VG304": {}, "VG401": {}, "VG402": {},
    }  # fmt: skip
    vg105 = next(row for row in rows if row["code"] == "VG105")
    assert vg105["name"] == "deep-post-norm-transformer"
    assert vg105["severity"] == "warning"
    assert vg105["enabled"] is True
    assert vg105["options"] == {"min-layers": 12}


@pytest.mark.parametrize("code", ["VG105", "vg105"])
def test_rule_page(cli, code):
    result = cli("rule", code)
    assert result.exit_code == 0
    page = result.stdout
    assert page.startswith("# VG105 deep-post-norm-transformer")
    positions = [page.index(heading) for heading in
                 ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## References")]  # fmt: skip
    assert positions == sorted(positions)
    assert "norm_first=True" in page  # how to fix


def test_rule_page_json(cli):
    result = cli("rule", "VG105", "--output-format", "json")
    assert result.exit_code == 0
    page = json.loads(result.stdout)
    assert page["code"] == "VG105"
    assert page["name"] == "deep-post-norm-transformer"
    assert page["severity"] == "warning"
    assert "## What it does" in page["documentation"]
    assert any("TransformerEncoder" in example for example in page["example"])
    assert any("norm_first=True" in example for example in page["use_instead"])


def test_unknown_rule_page_is_one_line_exit_2(main):
    assert_one_line_error(main("rule", "VG999"), "VG999")


# --- torch is never imported by `vglint check` ------------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import sys
    from vglint.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as done:
        code = done.code
    print("torch imported:", "torch" in sys.modules)
    print("exit:", code)
    """
)


def test_check_does_not_import_torch(project, tmp_path):
    """A stand-in `torch` package on the path proves the point even where real torch is not installed."""
    fake = tmp_path / "fake_site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import sys\nprint('torch was imported', file=sys.stderr)\n")
    (fake / "nn.py").write_text("")
    project.vg105()
    project.mlp()
    script = tmp_path / "probe.py"
    script.write_text(_PROBE)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake_site"))
    done = subprocess.run([sys.executable, str(script), "check", "model.py", "mlp.py", "-j1"],
                          cwd=project.root, capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert "torch imported: False" in done.stdout, done.stdout + done.stderr
    assert "torch was imported" not in done.stderr
    assert "exit: 1" in done.stdout
