"""`[tool.vglint]`: where it is found, what each key does, how flags combine with it, what is refused."""

from __future__ import annotations

import pytest
from conftest import MLP_CODES, assert_one_line_error, codes, findings

JSON = ("--output-format", "json")


def test_nearest_pyproject_above_the_first_path(project, cli, tmp_path, monkeypatch):
    project.pyproject('[tool.vglint]\nignore = ["VG105"]\n')
    project.vg105("src/pkg/model.py")
    assert cli("src/pkg/model.py").exit_code == 0
    # found from the path, not from the working directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli(str(project.root / "src" / "pkg" / "model.py")).exit_code == 0
    assert cli(str(project.root / "src")).exit_code == 0


def test_pyproject_without_a_vglint_table_is_passed_over(project, cli):
    project.pyproject('[tool.vglint]\nignore = ["VG105"]\n')
    project.pyproject('[project]\nname = "inner"\n', folder="src")
    project.vg105("src/model.py")
    assert cli("src/model.py").exit_code == 0


def test_the_nearest_vglint_table_wins(project, cli):
    project.pyproject('[tool.vglint]\nignore = ["VG105"]\n')
    project.pyproject('[tool.vglint]\nselect = ["VG105", "VG101"]\n', folder="src")
    project.vg105("src/model.py")
    project.mlp("src/mlp.py")
    result = cli("src", *JSON)
    assert codes(result) == {"VG101", "VG105"}


def test_config_option_replaces_discovery(project, cli):
    project.pyproject('[tool.vglint]\nignore = ["VG105"]\n')
    project.write("ci/vglint.toml", '[tool.vglint]\nselect = ["VG105"]\n')
    project.vg105()
    project.mlp()
    result = cli("model.py", "mlp.py", "--config", "ci/vglint.toml", *JSON)
    assert codes(result) == {"VG105"}


def test_isolated_ignores_configuration(project, cli):
    project.pyproject('[tool.vglint]\nignore = ["VG105"]\nfail-on = "error"\n')
    project.vg105()
    result = cli("model.py", "--isolated", *JSON)
    assert result.exit_code == 1
    assert findings(result) == [("model.py", 3, 11, "VG105")]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('select = ["VG105"]', {"VG105"}),
        ('select = ["VG10"]', MLP_CODES | {"VG105"}),
        ('ignore = ["VG1"]', set()),
        ('ignore = ["VG10"]\nextend-select = ["VG105"]', {"VG105"}),
        ('select = ["VG1"]\nignore = ["VG105"]', MLP_CODES),
        ('select = ["VG105"]\nignore = ["VG1"]', {"VG105"}),
    ],
)
def test_select_ignore_extend_select_keys(project, cli, table, expected):
    project.pyproject(f"[tool.vglint]\n{table}\n")
    project.vg105()
    project.mlp()
    assert codes(cli("model.py", "mlp.py", *JSON)) == expected


@pytest.mark.parametrize(
    ("table", "flags", "expected"),
    [
        # a command-line select starts afresh
        ('ignore = ["VG105"]', ["--select", "VG105"], {"VG105"}),
        ('select = ["VG101"]', ["--select", "VG105"], {"VG105"}),
        # command-line ignore and extend-select edit the configured selection
        ('select = ["VG101"]', ["--extend-select", "VG105"], {"VG101", "VG105"}),
        ('select = ["VG105"]', ["--ignore", "VG1"], set()),
        ('ignore = ["VG1"]', ["--extend-select", "VG105"], {"VG105"}),
        ('extend-select = ["VG1"]\nignore = ["VG101"]', ["--ignore", "VG102"], {"VG103", "VG104", "VG105"}),
    ],
)
def test_flags_on_top_of_configuration(project, cli, table, flags, expected):
    project.pyproject(f"[tool.vglint]\n{table}\n")
    project.vg105()
    project.mlp()
    assert codes(cli("model.py", "mlp.py", *flags, *JSON)) == expected


def test_exclude_key(project, cli):
    project.pyproject('[tool.vglint]\nexclude = ["generated"]\n')
    project.vg105("generated/model.py")
    project.vg105("build/model.py")  # the defaults are replaced
    project.vg105("model.py")
    result = cli(".", *JSON)
    assert [f[0] for f in findings(result)] == ["build/model.py", "model.py"]


def test_extend_exclude_key(project, cli):
    project.pyproject('[tool.vglint]\nextend-exclude = ["generated"]\n')
    project.vg105("generated/model.py")
    project.vg105("build/model.py")
    project.vg105("model.py")
    result = cli(".", *JSON)
    assert [f[0] for f in findings(result)] == ["model.py"]


def test_per_file_ignores(project, cli):
    project.pyproject(
        '[tool.vglint]\n[tool.vglint.per-file-ignores]\n"legacy/*" = ["VG1"]\n"mlp.py" = ["VG101", "VG104"]\n'
    )
    project.vg105("legacy/old.py")
    project.vg105("new.py")
    project.mlp("mlp.py")
    result = cli(".", *JSON)
    assert {(f[0], f[3]) for f in findings(result)} == {
        ("new.py", "VG105"), ("mlp.py", "VG102"), ("mlp.py", "VG103"),
    }  # fmt: skip


def test_per_file_ignores_are_relative_to_the_config_file(project, cli, monkeypatch):
    project.pyproject('[tool.vglint.per-file-ignores]\n"src/legacy/*" = ["VG105"]\n')
    project.vg105("src/legacy/old.py")
    project.vg105("src/new.py")
    monkeypatch.chdir(project.root / "src")
    result = cli(".", *JSON)
    assert [f[0] for f in findings(result)] == ["new.py"]


def test_per_file_ignores_apply_to_stdin_by_its_name(project, cli):
    project.pyproject('[tool.vglint.per-file-ignores]\n"legacy/*" = ["VG105"]\n')
    from conftest import VG105_SOURCE

    assert cli("-", "--stdin-filename", "legacy/x.py", input=VG105_SOURCE).exit_code == 0
    assert cli("-", "--stdin-filename", "new/x.py", input=VG105_SOURCE).exit_code == 1


def test_fail_on_key_and_flag(project, cli):
    project.pyproject('[tool.vglint]\nfail-on = "error"\n')
    project.vg105()
    assert cli("model.py").exit_code == 0
    assert cli("model.py", "--fail-on", "warning").exit_code == 1  # the flag wins


@pytest.mark.parametrize(("min_layers", "num_layers", "reported"), [(6, 8, True), (6, 5, False), (13, 12, False)])
def test_rule_option(project, cli, min_layers, num_layers, reported):
    project.pyproject(f"[tool.vglint.rules.VG105]\nmin-layers = {min_layers}\n")
    project.write(
        "model.py",
        "from torch import nn\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
        f"encoder = nn.TransformerEncoder(layer, num_layers={num_layers})\n",
    )
    result = cli("model.py", *JSON)
    assert findings(result) == ([("model.py", 3, 11, "VG105")] if reported else [])


def test_rule_option_default_without_configuration(project, cli):
    project.write(
        "model.py",
        "from torch import nn\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
        "encoder = nn.TransformerEncoder(layer, num_layers=11)\n",
    )
    assert cli("model.py").exit_code == 0


@pytest.mark.parametrize(
    ("toml", "culprit"),
    [
        ('[tool.vglint]\nselct = ["VG1"]\n', "selct"),
        ('[tool.vglint]\nselect = "VG1"\n', "select"),
        ('[tool.vglint]\nignore = [105]\n', "ignore"),
        ('[tool.vglint]\nselect = ["VG999"]\n', "VG999"),
        ('[tool.vglint]\nextend-select = ["nope"]\n', "extend-select"),
        ('[tool.vglint]\nexclude = "build"\n', "exclude"),
        ('[tool.vglint]\nfail-on = "fatal"\n', "fail-on"),
        ('[tool.vglint]\nfail-on = 1\n', "fail-on"),
        ('[tool.vglint]\nper-file-ignores = ["x.py"]\n', "per-file-ignores"),
        ('[tool.vglint.per-file-ignores]\n"x.py" = "VG105"\n', "per-file-ignores"),
        ('[tool.vglint.per-file-ignores]\n"x.py" = ["VG9"]\n', "VG9"),
        ('[tool.vglint.rules.VG105]\nmin-layers = "6"\n', "min-layers"),
        ('[tool.vglint.rules.VG105]\nmin-layers = 6.5\n', "min-layers"),
        ('[tool.vglint.rules.VG105]\nmin-lyrs = 6\n', "min-lyrs"),
        ('[tool.vglint.rules.VG999]\nmin-layers = 6\n', "VG999"),
        ('[tool.vglint]\nrules = 3\n', "rules"),
        ("[tool.vglint]\nselect = [\n", "pyproject.toml"),
    ],
)
def test_wrong_key_or_type_is_one_line_exit_2(project, main, toml, culprit):
    project.pyproject(toml)
    project.vg105()
    assert_one_line_error(main("model.py"), culprit)


def test_wrong_key_in_config_option_file(project, main):
    project.write("custom.toml", '[tool.vglint]\nignore = "VG105"\n')
    project.vg105()
    assert_one_line_error(main("model.py", "--config", "custom.toml"), "ignore")


def test_missing_config_file_is_one_line_exit_2(project, main):
    project.vg105()
    assert_one_line_error(main("model.py", "--config", "nope.toml"), "nope.toml")


def test_config_errors_through_the_console_script(project, subprocess_vglint):
    project.pyproject('[tool.vglint.rules.VG105]\nmin-layers = "six"\n')
    project.vg105()
    assert_one_line_error(subprocess_vglint("model.py"), "min-layers")


def test_isolated_skips_a_broken_configuration(project, cli):
    project.pyproject('[tool.vglint]\nselct = ["VG1"]\n')
    project.vg105()
    assert cli("model.py", "--isolated").exit_code == 1
