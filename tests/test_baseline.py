"""`--write-baseline`, `--baseline` and `--show-stale`: adopting vglint on code that already has findings."""

from __future__ import annotations

import json
import os
import types

from conftest import VG105_SOURCE, assert_one_line_error, findings

import vglint.baseline

JSON = ("--output-format", "json")
MESSAGE = "12 post-LN transformer layers (norm_first=False): deep Post-LN stacks need learning-rate warm-up and often fail to train"
ENCODER = "encoder = nn.TransformerEncoder(layer, num_layers=12)\n"


def test_write_baseline_records_the_findings_and_reports_none(project, cli):
    project.vg105("a.py")
    project.write("b.py", VG105_SOURCE + ENCODER.replace("encoder", "decoder"))
    result = cli("check", ".", "--write-baseline", "vglint-baseline.json")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "vglint: wrote 3 findings to the baseline vglint-baseline.json\n"
    data = json.loads((project.root / "vglint-baseline.json").read_text())
    assert data["version"] == 1
    assert [(e["path"], e["code"], e["model"], e["line"], e["message"]) for e in data["findings"]] == [
        ("a.py", "VG105", "encoder", 3, MESSAGE),
        ("b.py", "VG105", "encoder", 3, MESSAGE),
        ("b.py", "VG105", "decoder", 4, MESSAGE),
    ]
    assert len({e["fingerprint"] for e in data["findings"]}) == 3


def test_a_run_against_its_baseline_is_clean_and_says_what_it_hid(project, cli):
    project.vg105("a.py")
    project.vg105("b.py")
    assert cli("check", ".", "--write-baseline", "base.json").exit_code == 0
    result = cli("check", ".", "--baseline", "base.json")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "All checks passed! (2 files checked, 2 hidden by the baseline)"


def test_only_a_new_finding_is_reported(project, cli):
    project.vg105("a.py")
    cli("check", ".", "--write-baseline", "base.json")
    project.write("new.py", VG105_SOURCE)
    result = cli("check", ".", "--baseline", "base.json", "--output-format", "concise")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-2:] == [
        "Found 1 finding (1 warning) in 2 files checked (1 hidden by the baseline).",
        "4 models in 2 files: 4 fully analysed",
    ]
    assert findings(cli("check", ".", "--baseline", "base.json", *JSON)) == [("new.py", 3, 11, "VG105")]


def test_a_finding_whose_line_moved_stays_hidden(project, cli):
    project.vg105("a.py")
    cli("check", ".", "--write-baseline", "base.json")
    project.vg105("a.py", top="import os\n\n\n# a comment\n")  # the finding moves from line 3 to line 7
    assert findings(cli("check", ".", *JSON)) == [("a.py", 7, 11, "VG105")]
    assert findings(cli("check", ".", "--baseline", "base.json", *JSON)) == []
    # and so does a change of the runs of spaces in the line
    project.write("a.py", VG105_SOURCE.replace("(layer, num_layers=12)", "(layer,    num_layers=12)   "))
    assert findings(cli("check", ".", "--baseline", "base.json", *JSON)) == []


def test_an_edited_line_is_a_new_finding(project, cli):
    project.vg105("a.py")
    cli("check", ".", "--write-baseline", "base.json")
    project.write("a.py", VG105_SOURCE.replace("num_layers=12", "num_layers=24"))
    assert findings(cli("check", ".", "--baseline", "base.json", *JSON)) == [("a.py", 3, 11, "VG105")]


def test_matching_counts_each_entry_once(project, cli):
    project.write("a.py", VG105_SOURCE + ENCODER)  # two findings with one fingerprint: same model name, same line text
    cli("check", ".", "--write-baseline", "base.json")
    project.write("a.py", VG105_SOURCE + ENCODER + ENCODER)
    result = cli("check", ".", "--baseline", "base.json", *JSON)
    assert len(findings(result)) == 1
    assert result.exit_code == 1


def test_show_stale_lists_the_entries_that_match_nothing(project, cli):
    project.write("a.py", VG105_SOURCE + ENCODER.replace("encoder", "decoder"))
    project.vg105("gone.py")
    project.vg105("elsewhere.py")
    cli("check", ".", "--write-baseline", "base.json")
    project.vg105("a.py")  # the decoder is deleted
    os.remove(project.root / "gone.py")
    result = cli("check", "a.py", "--baseline", "base.json", "--show-stale")
    assert result.exit_code == 0  # stale entries never fail the run
    assert result.stderr.splitlines() == [
        f"vglint: stale baseline entry: a.py:4: VG105 {MESSAGE}",
        f"vglint: stale baseline entry: gone.py:3: VG105 {MESSAGE}",
        "vglint: 2 stale baseline entries in base.json",  # elsewhere.py was not checked: not judged
    ]
    assert cli("check", "a.py", "--baseline", "base.json").stderr == ""  # listed only when asked


def test_the_baseline_works_from_another_working_directory(project, cli, monkeypatch):
    project.vg105("src/model.py")
    cli("check", "src", "--write-baseline", "base.json")
    monkeypatch.chdir(project.root / "src")
    result = cli("check", ".", "--baseline", "../base.json", "--show-stale", *JSON)
    assert (findings(result), result.exit_code) == ([], 0)
    assert result.stderr == "vglint: 0 stale baseline entries in ../base.json\n"


def test_a_missing_or_corrupt_baseline_is_a_one_line_error(project, main):
    project.vg105("a.py")
    assert_one_line_error(main("check", ".", "--baseline", "missing.json"), "cannot read baseline missing.json")
    project.write("corrupt.json", '{"version": 1, "findings": [')
    assert_one_line_error(main("check", ".", "--baseline", "corrupt.json"), "baseline corrupt.json is not valid JSON")
    project.write("other.json", '{"version": 2, "findings": []}')
    assert_one_line_error(main("check", ".", "--baseline", "other.json"), "other.json is not a vglint baseline")
    project.write("entry.json", '{"version": 1, "findings": [{"path": "a.py"}]}')
    assert_one_line_error(main("check", ".", "--baseline", "entry.json"), "entry.json has a bad entry")


def test_flags_that_do_not_combine(project, main):
    project.vg105("a.py")
    assert_one_line_error(main("check", ".", "--show-stale"), "--show-stale needs --baseline")
    project.write("base.json", '{"version": 1, "findings": []}')
    assert_one_line_error(
        main("check", ".", "--baseline", "base.json", "--write-baseline", "b.json"), "--write-baseline"
    )


def test_a_failed_write_leaves_the_old_baseline_and_no_partial_file(project, main, monkeypatch):
    project.vg105("a.py")
    old = project.write("base.json", '{"version": 1, "findings": []}\n').read_bytes()
    replaced: list[str] = []

    def failing_replace(source: str, target: object) -> None:
        replaced.append(source)
        assert os.path.exists(source)  # the whole baseline was written to a temporary file beside it
        raise OSError(28, "No space left on device")

    fake_os = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    fake_os.replace = failing_replace
    monkeypatch.setattr(vglint.baseline, "os", fake_os)
    run = main("check", "a.py", "--write-baseline", "base.json")
    assert_one_line_error(run, "cannot write baseline base.json: No space left on device")
    assert len(replaced) == 1 and os.path.dirname(os.path.abspath(replaced[0])) == str(project.root)
    assert (project.root / "base.json").read_bytes() == old
    assert sorted(p.name for p in project.root.iterdir() if not p.name.startswith(".vglint")) == ["a.py", "base.json"]


def test_a_baseline_in_a_missing_folder_is_a_one_line_error(project, main):
    project.vg105("a.py")
    assert_one_line_error(main("check", "a.py", "--write-baseline", "no/such/base.json"), "cannot write baseline")
