"""`[tool.vglint]` key by key through `load_config` and `find_config`: what each key sets, and the
message of each value that is refused (the CLI prints it as its one-line error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import VG105_SOURCE, assert_one_line_error, findings

from vglint.config import DEFAULT_EXCLUDE, ConfigError, RuleSelection, Settings, find_config, load_config
from vglint.engine import check_source, make_rules, selected_codes
from vglint.findings import Severity


def load(tmp_path: Path, body: str, name: str = "pyproject.toml") -> Settings:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return load_config(path, Settings())


def refused(tmp_path: Path, body: str, name: str = "pyproject.toml") -> str:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, body, name)
    return str(error.value)


def test_defaults():
    settings = Settings()
    assert settings.exclude == list(DEFAULT_EXCLUDE) == [
        ".git", ".venv", "venv", "__pycache__", "build", "dist", ".tox", "node_modules", "site-packages",
    ]  # fmt: skip
    assert settings.fail_on is Severity.WARNING
    assert settings.selection == [] and settings.extend_exclude == [] and settings.per_file_ignores == {}
    assert settings.rule_options == {} and settings.sequence_length is None and settings.config_file is None


def test_every_key(tmp_path):
    settings = load(
        tmp_path,
        "[tool.vglint]\n"
        'select = ["vg1", " VG201 "]\n'
        'extend-select = ["VG3"]\n'
        'ignore = ["VG104"]\n'
        'exclude = ["legacy/*"]\n'
        'extend-exclude = ["gen"]\n'
        'per-file-ignores = { "tests/*" = ["vg1"] }\n'
        'fail-on = " Error "\n'
        "sequence-length = 512\n"
        "[tool.vglint.rules.VG101]\nmin-chain = 6\n"
        "[tool.vglint.rules.vg102]\nwarn-below = 1\nerror-below = 1e-10\n",
    )
    assert settings.config_file == tmp_path / "pyproject.toml"
    assert settings.selection == [RuleSelection(select=["VG1", "VG201"], extend_select=["VG3"], ignore=["VG104"])]
    assert settings.exclude == ["legacy/*"]
    assert settings.extend_exclude == ["gen"]
    assert settings.per_file_ignores == {"tests/*": ["VG1"]}
    assert settings.fail_on is Severity.ERROR
    assert settings.sequence_length == 512
    assert settings.rule_options == {"VG101": {"min-chain": 6}, "VG102": {"warn-below": 1.0, "error-below": 1e-10}}
    assert type(settings.rule_options["VG102"]["warn-below"]) is float  # an integer is taken as a float
    assert type(settings.rule_options["VG101"]["min-chain"]) is int
    assert selected_codes(settings) == ["VG101", "VG102", "VG103", "VG105", "VG106", "VG201", "VG301", "VG302", "VG303", "VG304"]


@pytest.mark.parametrize(
    ("body", "layer"),
    [
        ('ignore = ["VG104"]', RuleSelection(ignore=["VG104"])),
        ('extend-select = ["VG104"]', RuleSelection(extend_select=["VG104"])),
        ("select = []", RuleSelection(select=[])),
    ],
)
def test_a_layer_is_added_for_any_selection_key(tmp_path, body, layer):
    assert load(tmp_path, f"[tool.vglint]\n{body}\n").selection == [layer]


def test_no_selection_key_adds_no_layer(tmp_path):
    settings = load(tmp_path, '[tool.vglint]\nfail-on = "info"\n')
    assert settings.selection == []
    assert settings.fail_on is Severity.INFO
    assert load(tmp_path, '[project]\nname = "x"\n').selection == []


def test_an_empty_select_enables_nothing(tmp_path):
    assert selected_codes(load(tmp_path, "[tool.vglint]\nselect = []\n")) == []


def test_fail_on_each_severity(tmp_path):
    for text, severity in (("error", Severity.ERROR), ("warning", Severity.WARNING), ("INFO", Severity.INFO)):
        assert load(tmp_path, f'[tool.vglint]\nfail-on = "{text}"\n').fail_on is severity


@pytest.mark.parametrize("value", [1, 100_000])
def test_sequence_length_accepted(tmp_path, value):
    assert load(tmp_path, f"[tool.vglint]\nsequence-length = {value}\n").sequence_length == value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('select = "VG1"', "'tool.vglint.select' must be a list of strings"),
        ("select = [1]", "'tool.vglint.select' must be a list of strings"),
        ('select = ["VG1", 2]', "'tool.vglint.select' must be a list of strings"),
        ('extend-select = "VG1"', "'tool.vglint.extend-select' must be a list of strings"),
        ('ignore = ["VG999"]', "'tool.vglint.ignore': unknown rule selector 'VG999'"),
        ('select = ["X"]', "'tool.vglint.select': unknown rule selector 'X'"),
        ('exclude = "build"', "'tool.vglint.exclude' must be a list of strings"),
        ("extend-exclude = [1]", "'tool.vglint.extend-exclude' must be a list of strings"),
        ('per-file-ignores = ["x.py"]', "'tool.vglint.per-file-ignores' must be a table of glob = [codes]"),
        ('per-file-ignores = { "x.py" = "VG1" }', "'tool.vglint.per-file-ignores.x.py' must be a list of strings"),
        ('per-file-ignores = { "x.py" = ["VG9"] }', "'tool.vglint.per-file-ignores.x.py': unknown rule selector 'VG9'"),
        ("fail-on = 2", "'tool.vglint.fail-on' must be a string: error, warning or info"),
        (
            'fail-on = "fatal"',
            "'tool.vglint.fail-on': unknown severity 'fatal' (expected error, warning or info)",
        ),
        ("sequence-length = 0", "'tool.vglint.sequence-length' must be a positive integer"),
        ("sequence-length = -5", "'tool.vglint.sequence-length' must be a positive integer"),
        ("sequence-length = true", "'tool.vglint.sequence-length' must be a positive integer"),
        ("sequence-length = 12.0", "'tool.vglint.sequence-length' must be a positive integer"),
        ('sequence-length = "512"', "'tool.vglint.sequence-length' must be a positive integer"),
        ("rules = 3", "'tool.vglint.rules' must be a table of [tool.vglint.rules.CODE] tables"),
        ("rules = { VG101 = 3 }", "'tool.vglint.rules.VG101' must be a table"),
        ("rules = { VG999 = {} }", "unknown rule 'tool.vglint.rules.VG999'"),
        (
            "rules = { VG101 = { min-chian = 6 } }",
            "unknown option 'tool.vglint.rules.VG101.min-chian' (options of VG101: min-chain, probe-confirm-below)",
        ),
        (
            "rules = { vg102 = { warn = 1 } }",
            "unknown option 'tool.vglint.rules.vg102.warn' (options of VG102: warn-below, error-below, probe-confirm-below, probe-refute-at)",
        ),
        ("rules = { VG001 = { x = 1 } }", "unknown option 'tool.vglint.rules.VG001.x' (options of VG001: none)"),
        ('rules = { VG101 = { min-chain = "6" } }', "'tool.vglint.rules.VG101.min-chain': expected int, got str"),
        ("rules = { VG101 = { min-chain = true } }", "'tool.vglint.rules.VG101.min-chain': expected int, got bool"),
        ("rules = { VG101 = { min-chain = 6.0 } }", "'tool.vglint.rules.VG101.min-chain': expected int, got float"),
        ("rules = { VG102 = { warn-below = true } }", "'tool.vglint.rules.VG102.warn-below': expected float, got bool"),
        ('rules = { VG102 = { warn-below = "1" } }', "'tool.vglint.rules.VG102.warn-below': expected float, got str"),
        ("selct = []", "unknown key 'tool.vglint.selct' in "),
    ],
)
def test_refused_values(tmp_path, body, message):
    assert message in refused(tmp_path, f"[tool.vglint]\n{body}\n")


def test_unknown_key_names_the_file(tmp_path):
    assert refused(tmp_path, "[tool.vglint]\nnope = 1\n") == f"unknown key 'tool.vglint.nope' in {tmp_path / 'pyproject.toml'}"


def test_a_model_table_key_other_than_its_own_is_a_keyword_argument(tmp_path):
    settings = load(
        tmp_path,
        '[tool.vglint.models."transformers:BertModel"]\n'
        'config = { factory = "transformers:BertConfig", num_hidden_layers = 2 }\n'
        "kwargs = { add_pooling_layer = false }\n"
        "input = [[2, 16]]\n",
    )
    spec = settings.models["transformers:BertModel"]
    assert spec.kwargs == {
        "config": {"factory": "transformers:BertConfig", "num_hidden_layers": 2},
        "add_pooling_layer": False,
    }
    assert spec.input == [[2, 16]]
    twice = '[tool.vglint.models."m:Net"]\ndepth = 3\nkwargs = { depth = 4 }\n'
    assert refused(tmp_path, twice) == "'tool.vglint.models.'m:Net'.depth' is given twice: as a key and in kwargs"


def test_tool_and_tool_vglint_must_be_tables(tmp_path):
    path = tmp_path / "pyproject.toml"
    assert refused(tmp_path, 'tool = "x"\n') == f"'tool' in {path} must be a table"
    assert refused(tmp_path, "[tool]\nvglint = 3\n") == f"[tool.vglint] in {path} must be a table"


def test_invalid_toml_and_unreadable_files(tmp_path):
    assert refused(tmp_path, "[tool.vglint\n").startswith(f"invalid TOML in {tmp_path / 'pyproject.toml'}: ")
    (tmp_path / "bad.toml").write_bytes(b"x = '\xff'\n")
    with pytest.raises(ConfigError, match="invalid TOML in"):
        load_config(tmp_path / "bad.toml", Settings())
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "missing.toml", Settings())
    assert str(error.value) == f"cannot read config file {tmp_path / 'missing.toml'}: No such file or directory"


def test_a_config_file_other_than_pyproject_may_hold_the_keys_at_the_top(tmp_path):
    settings = load(tmp_path, 'ignore = ["VG105"]\nfail-on = "error"\n', name="vglint.toml")
    assert settings.selection == [RuleSelection(ignore=["VG105"])]
    assert settings.fail_on is Severity.ERROR
    # or under [tool.vglint], as in pyproject.toml
    settings = load(tmp_path, '[tool.vglint]\nignore = ["VG101"]\n', name="ci.toml")
    assert settings.selection == [RuleSelection(ignore=["VG101"])]


def test_pyproject_keys_outside_tool_vglint_are_not_read(tmp_path):
    settings = load(tmp_path, 'ignore = ["VG105"]\n[project]\nname = "x"\n')
    assert settings.selection == []


def test_config_file_other_than_pyproject_through_the_cli(project, cli):
    project.write("ci/vglint.toml", 'select = ["VG105"]\n')
    project.vg105()
    project.mlp()
    result = cli("model.py", "mlp.py", "--config", "ci/vglint.toml", "--output-format", "json", "-j1")
    assert findings(result) == [("model.py", 3, 11, "VG105")]


def test_sequence_length_reaches_vg201(tmp_path):
    source = b"from torch import nn\nrnn = nn.RNN(16, 32)\n"
    for length, expected in ((99, []), (100, [("VG201", "warning")]), (None, [("VG201", "info")])):
        settings = Settings(sequence_length=length)
        found, _ = check_source(source, "m.py", make_rules(settings), settings)
        assert [(f.code, str(f.severity)) for f in found] == expected


# -- find_config ---------------------------------------------------------------------------------


def test_find_config_from_a_file_or_a_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.vglint]\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "m.py").write_text("")
    assert find_config(tmp_path / "a" / "b" / "m.py") == tmp_path / "pyproject.toml"
    assert find_config(tmp_path / "a" / "b") == tmp_path / "pyproject.toml"
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    (tmp_path / "a" / "pyproject.toml").write_text("[tool.vglint]\nselect = []\n")
    assert find_config(tmp_path / "a" / "b" / "m.py") == tmp_path / "a" / "pyproject.toml"


def test_find_config_passes_over_pyprojects_that_are_not_vglints(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.vglint]\nignore = ["VG105"]\n')
    inner = tmp_path / "inner"
    inner.mkdir()
    for body in (b'[tool.black]\nline-length = 88\n', b'tool = "x"\n', b"[project\n", b"x = '\xff'\n"):
        (inner / "pyproject.toml").write_bytes(body)
        assert find_config(inner) == tmp_path / "pyproject.toml", body
    (inner / "pyproject.toml").unlink()
    (inner / "pyproject.toml").mkdir()  # not a file
    assert find_config(inner) == tmp_path / "pyproject.toml"


def test_find_config_refuses_broken_toml_that_mentions_tool_vglint(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.vglint]\nselect = [\n")
    with pytest.raises(ConfigError) as error:
        find_config(tmp_path)
    assert str(error.value).startswith(f"invalid TOML in {tmp_path / 'pyproject.toml'}: ")


def test_find_config_none(tmp_path):
    assert find_config(tmp_path / "nowhere.py") is None


def test_find_config_keeps_a_symlinked_file_in_its_own_project(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "pyproject.toml").write_text("[tool.vglint]\n")
    (tmp_path / "b" / "pyproject.toml").write_text("[tool.vglint]\n")
    (tmp_path / "b" / "real.py").write_text("")
    (tmp_path / "a" / "link.py").symlink_to(tmp_path / "b" / "real.py")
    assert find_config(tmp_path / "a" / "link.py") == tmp_path / "a" / "pyproject.toml"


def test_config_errors_through_the_cli_name_the_key(project, main):
    project.pyproject("[tool.vglint]\nsequence-length = 0\n")
    project.write("model.py", VG105_SOURCE)
    assert_one_line_error(main("model.py"), "sequence-length", "positive integer")
