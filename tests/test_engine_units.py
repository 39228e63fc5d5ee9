"""The engine's contracts, one by one: which files a run checks (excludes, discovery, order), how a
file that cannot be parsed is reported (VG001: where, with what message), how findings are
de-duplicated and suppressed, and the exit code."""

from __future__ import annotations

import json
import multiprocessing

import pytest
from conftest import VG105_SOURCE, findings

from vglint.config import RuleSelection, Settings
from vglint.engine import check_source, exit_code, make_rules, selected_codes
from vglint.findings import Finding, Severity, Span
from vglint.rules import Rule

JSON = ("--output-format", "json", "-j1")


def check(source: str | bytes, filename: str = "model.py", settings: Settings | None = None) -> list[Finding]:
    settings = settings or Settings()
    data = source.encode("utf-8") if isinstance(source, str) else source
    found, errors = check_source(data, filename, make_rules(settings), settings)
    assert errors == []
    return found


def where(found: list[Finding]) -> list[tuple[int, int, int, int, str]]:
    return [(f.span.line, f.span.column, f.span.end_line, f.span.end_column, f.code) for f in found]


# -- files that cannot be parsed: VG001 ------------------------------------------------------------


def test_vg001_finding_fields():
    [finding] = check("def f(:\n    pass\n", "bad.py")
    assert (finding.code, finding.name, finding.severity) == ("VG001", "syntax-error", Severity.ERROR)
    assert finding.filename == "bad.py"
    assert finding.message == "file cannot be checked: invalid syntax"
    assert (finding.span.line, finding.span.column, finding.span.end_line, finding.span.end_column) == (1, 7, 1, 8)
    assert finding.evidence == {"detail": "invalid syntax"}
    assert finding.url == "rules/VG001.md"


@pytest.mark.parametrize(
    ("source", "span", "message"),
    [
        # CPython gives no end for an unclosed bracket: the span is empty at its start
        ("x = (\n", (1, 5, 1, 5), "'(' was never closed"),
        ("x = 1\nclass A(\n", (2, 8, 2, 8), "'(' was never closed"),
        ("x = 1 +\n", (1, 8, 1, 8), "invalid syntax"),
        (")\n", (1, 1, 1, 1), "unmatched ')'"),
        ('print "hi"\n', (1, 1, 1, 11), "Missing parentheses in call to 'print'. Did you mean print(...)?"),
        # CPython's end is before the start on the same line: the span is empty at the start
        ("  x = 1\n", (1, 2, 1, 2), "unexpected indent"),
        # an error over two lines keeps CPython's end, even left of the start column
        ("x = (1 +\n  2) = 3\n", (1, 6, 2, 4), "cannot assign to expression"),
    ],
)
def test_syntax_error_position_is_cpythons(source, span, message):
    [finding] = check(source)
    assert where([finding]) == [(*span, "VG001")]
    assert finding.message == f"file cannot be checked: {message}"


@pytest.mark.parametrize(
    ("data", "line", "detail"),
    [
        (b"x = 1\x00\n", 1, "source contains a NUL byte"),
        (b"x = 1\ny = 2\nz = 3\x00\n", 3, "source contains a NUL byte"),
        (b"x = 1\ny = 2\x00\nz = 3\x00\n", 2, "source contains a NUL byte"),  # the first one
        (b"# -*- coding: no-such-codec -*-\nx = 1\n", 1, "unknown encoding: no-such-codec"),
    ],
)
def test_unreadable_bytes_are_vg001_on_their_line(data, line, detail):
    [finding] = check(data)
    assert where([finding]) == [(line, 1, line, 1, "VG001")]
    assert finding.message == f"file cannot be checked: {detail}"


@pytest.mark.parametrize(
    ("data", "line", "column", "byte", "encoding"),
    [
        (b"x = '\xff'\n", 1, 6, "0xff", "utf-8"),  # in the first two lines, where a cookie may be
        (b"x = 1\ny = 2\nzz = '\xe9t\xe9'\n", 3, 7, "0xe9", "utf-8"),
        (b"# -*- coding: ascii -*-\nx = 1\ny = '\xe9'\n", 3, 6, "0xe9", "ascii"),
        (b"\nx = '\xff'\n", 2, 6, "0xff", "utf-8"),  # the column counts from the line's start
    ],
)
def test_undecodable_byte_position_and_encoding(data, line, column, byte, encoding):
    [finding] = check(data)
    assert where([finding]) == [(line, column, line, column, "VG001")]
    assert finding.message == (
        f"file cannot be checked: byte {byte} is not valid {encoding} (save the file as UTF-8 or declare its "
        "encoding with a PEP 263 coding cookie)"
    )


def test_a_declared_encoding_is_honoured():
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + VG105_SOURCE
    found = check(source.encode("latin-1"))
    assert where(found) == [(5, 11, 5, 54, "VG105")]


def test_nesting_too_deep_for_the_parser():
    [finding] = check(b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n")
    assert finding.code == "VG001"
    assert finding.message == "file cannot be checked: nesting too deep to parse: too many nested parentheses"
    assert finding.span.line == 1 and finding.span.column > 1  # where CPython gave up


def test_nesting_too_deep_for_the_compiler():
    [finding] = check(b"x = " + b"-" * 100_000 + b"1\n")
    assert where([finding]) == [(1, 1, 1, 1, "VG001")]
    assert finding.message == "file cannot be checked: nesting too deep to parse"


#: A depth computed by a 600-term sum: CPython parses it, but interpreting it recurses past the
#: default stack, which lost the model (no finding) before the analysis ran on a deep stack.
DEEP_SUM_MODEL = (
    "import torch.nn as nn\n\nDEPTH = (" + " + ".join(["1"] * 600) + ") // 100\n\n"
    "model = nn.Sequential(*[m for _ in range(DEPTH) for m in (nn.Linear(8, 8), nn.Sigmoid())])\n"
)


def _codes_in_a_forked_child(source: str) -> list[str]:
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply_async(_codes, (source,)).get(timeout=60)  # a hang fails, not waits


def _codes(source: str) -> list[str]:
    return sorted(f.code for f in check(source))


def test_analysis_deeper_than_the_default_stack_runs_on_a_deep_one_also_in_a_forked_worker():
    """`--jobs` forks its workers: each analyses on a deep stack of its own."""
    assert _codes(DEEP_SUM_MODEL) == ["VG101", "VG102"]
    assert _codes_in_a_forked_child(DEEP_SUM_MODEL) == ["VG101", "VG102"]


def test_a_codec_that_is_not_a_text_encoding():
    [finding] = check(b"# -*- coding: rot13 -*-\nx = 1\n")
    assert where([finding]) == [(1, 1, 1, 1, "VG001")]
    assert finding.message.startswith("file cannot be checked: 'rot13' is not a text encoding")


def test_newer_syntax_that_libcst_reads_is_analysed():
    # `type X = int` is Python 3.12 syntax; libcst reads it, so the file is checked, not VG001
    found = check("type Alias = int\n" + VG105_SOURCE)
    assert where(found) == [(4, 11, 4, 54, "VG105")]


def test_an_unparsable_file_without_vg001_selected_is_a_warning(project, cli):
    project.write("bad.py", "def f(:\n    pass\n")
    project.vg105()
    result = cli(".", "--select", "VG105", *JSON)
    assert findings(result) == [("model.py", 3, 11, "VG105")]
    assert "vglint: warning: bad.py:1:7: not checked: invalid syntax" in result.stderr
    assert result.exit_code == 1


def test_an_unparsable_file_alone_without_vg001_exits_0_with_the_warning(project, cli):
    project.write("bad.py", "x = (\n")
    result = cli("bad.py", "--ignore", "VG001", *JSON)
    assert json.loads(result.stdout) == []
    assert result.stderr.strip() == "vglint: warning: bad.py:1:5: not checked: '(' was never closed"
    assert result.exit_code == 0


def test_unreadable_path_is_vg001_on_line_1(project, cli):
    project.write("real.py", VG105_SOURCE)
    (project.root / "link.py").symlink_to(project.root / "gone.py")
    result = cli("link.py", "real.py", *JSON)
    got = json.loads(result.stdout)
    assert [(f["filename"], f["code"], f["location"]["row"]) for f in got] == [("link.py", "VG001", 1), ("real.py", "VG105", 3)]
    assert got[0]["message"] == "file cannot be checked: cannot read file: broken symbolic link"


def test_a_folder_named_like_a_python_file_is_walked(project, cli):
    project.write("pkg/model.py", VG105_SOURCE)
    (project.root / "dir.py").mkdir()  # a folder whose name ends in .py is walked, not read
    result = cli("pkg", "dir.py", *JSON)
    assert findings(result) == [("pkg/model.py", 3, 11, "VG105")]


def test_suppressing_vg001_on_its_line():
    assert check("x = (  # noqa: VG001\n") == []
    assert check("x = 1  # noqa\ny = (\n")[0].span.line == 2  # the comment is on another line
    assert check("# vglint: skip-file\ny = (\n") == []
    assert check(b"# vglint: skip-file\nx = '\xff'\n") == []


def test_per_file_ignores_apply_to_vg001():
    settings = Settings(per_file_ignores={"*.py": ["VG0"]})
    assert check("x = (\n", settings=settings) == []


# -- rules and findings ------------------------------------------------------------------------


def test_findings_of_a_clean_and_a_risky_file():
    assert check("from torch import nn\nmodel = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\n") == []
    [finding] = check(VG105_SOURCE)
    assert where([finding]) == [(3, 11, 3, 54, "VG105")]
    assert finding.model == "encoder"
    assert finding.severity == Severity.WARNING
    assert finding.evidence == {"num_layers": 12, "stack": "TransformerEncoder"}


class _Twice(Rule):
    """Reports the same place twice, at two severities, and a second place once."""

    code = "VG105"
    name = "twice"
    severity = Severity.WARNING
    message = "{n}"
    fix = ""
    summary = ""

    def check_file(self, ctx):
        yield self.finding(ctx.filename, Span.at(1), severity=Severity.INFO, n="info")
        yield self.finding(ctx.filename, Span.at(1), severity=Severity.ERROR, n="error")
        yield self.finding(ctx.filename, Span.at(1), severity=Severity.WARNING, n="warning")
        yield self.finding(ctx.filename, Span.at(2), n="other line")


class _Broken(Rule):
    code = "VG101"
    name = "broken"
    severity = Severity.WARNING
    message = ""
    fix = ""
    summary = ""

    def check_file(self, ctx):
        raise TypeError("boom")


def test_one_finding_per_code_and_place_the_most_severe_kept():
    settings = Settings()
    found, errors = check_source(b"x = 1\ny = 2\n", "m.py", [_Twice()], settings)
    assert errors == []
    assert sorted((f.span.line, f.severity, f.message) for f in found) == [
        (1, Severity.ERROR, "error"), (2, Severity.WARNING, "other line"),
    ]  # fmt: skip


class _Same(_Twice):
    def check_file(self, ctx):
        yield self.finding(ctx.filename, Span.at(1), n="first")
        yield self.finding(ctx.filename, Span.at(1), n="second")


def test_of_equally_severe_duplicates_the_first_is_kept():
    found, _ = check_source(b"x = 1\n", "m.py", [_Same()], Settings())
    assert [f.message for f in found] == ["first"]


def test_a_rule_that_fails_is_an_internal_error_and_the_others_still_report():
    settings = Settings()
    rules = [_Broken(), *make_rules(settings)]
    found, errors = check_source(VG105_SOURCE.encode(), "m.py", rules, settings)
    assert [f.code for f in found] == ["VG105"]
    assert errors == ["m.py: VG101: TypeError: boom"]


def test_vglint_debug_lets_a_rule_failure_through(monkeypatch):
    monkeypatch.setenv("VGLINT_DEBUG", "1")
    with pytest.raises(TypeError, match="boom"):
        check_source(VG105_SOURCE.encode(), "m.py", [_Broken()], Settings())


def test_suppression_and_per_file_ignores_in_check_source():
    settings = Settings(per_file_ignores={"legacy/*": ["VG105"]})
    assert check(VG105_SOURCE, "legacy/m.py", settings) == []
    assert [f.code for f in check(VG105_SOURCE, "new/m.py", settings)] == ["VG105"]
    # a glob matches the file's own name too
    assert check(VG105_SOURCE, "deep/down/m.py", Settings(per_file_ignores={"m.py": ["VG1"]})) == []
    # ALL in per-file-ignores drops every code
    assert check(VG105_SOURCE, "m.py", Settings(per_file_ignores={"*.py": ["ALL"]})) == []
    # an unrelated code or glob keeps the finding
    assert len(check(VG105_SOURCE, "m.py", Settings(per_file_ignores={"*.py": ["VG101"]}))) == 1
    assert len(check(VG105_SOURCE, "m.py", Settings(per_file_ignores={"other.py": ["VG1"]}))) == 1


def test_per_file_ignores_relative_to_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    config = tmp_path / "pyproject.toml"
    config.write_text("")
    settings = Settings(per_file_ignores={"sub/legacy/*": ["VG105"]}, config_file=config)
    assert check(VG105_SOURCE, "legacy/m.py", settings) == []
    outside = Settings(per_file_ignores={"sub/legacy/*": ["VG105"]}, config_file=tmp_path / "other" / "pyproject.toml")
    assert len(check(VG105_SOURCE, "legacy/m.py", outside)) == 1


@pytest.mark.parametrize(
    ("severities", "fail_on", "code"),
    [
        ([], Severity.WARNING, 0),
        ([Severity.INFO], Severity.WARNING, 0),
        ([Severity.WARNING], Severity.WARNING, 1),
        ([Severity.ERROR], Severity.WARNING, 1),
        ([Severity.WARNING], Severity.ERROR, 0),
        ([Severity.INFO, Severity.ERROR], Severity.ERROR, 1),
        ([Severity.INFO], Severity.INFO, 1),
    ],
)
def test_exit_code(severities, fail_on, code):
    found = [Finding("VG105", "x", s, "m", "m.py", Span.at(1)) for s in severities]
    assert exit_code(found, fail_on) == code


# -- selection ----------------------------------------------------------------------------------


ALL_CODES = ["VG001", "VG002", "VG003", "VG101", "VG102", "VG103", "VG104", "VG105", "VG106", "VG201", "VG202", "VG301", "VG302", "VG303",
             "VG304", "VG401", "VG402"]  # fmt: skip


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([RuleSelection(select=["V"], ignore=["ALL"])], ALL_CODES),  # any prefix is more specific than ALL
        ([RuleSelection(select=["ALL"], ignore=["V"])], []),
        ([RuleSelection(select=["ALL"], ignore=["VG1"])], [c for c in ALL_CODES if not c.startswith("VG1")]),
        ([RuleSelection(select=["VG1"], ignore=["VG1"])], []),  # a tie goes to ignore
        ([RuleSelection(select=["VG105"], ignore=["VG1"])], ["VG105"]),
        ([RuleSelection(select=["VG1"]), RuleSelection(ignore=["VG10"], extend_select=["VG201"])], ["VG201"]),
        ([RuleSelection(select=["VG2"]), RuleSelection(select=["VG3"])], ["VG301", "VG302", "VG303", "VG304"]),
        ([RuleSelection(ignore=["VG0", "VG1", "VG2", "VG3"])], ["VG401", "VG402"]),
        ([RuleSelection(extend_select=["VG105"], ignore=["VG1"])],
         ["VG001", "VG002", "VG105", "VG201", "VG202", "VG301", "VG302", "VG303", "VG304", "VG401", "VG402"]),
    ],
)
def test_selection_layers(layers, expected):
    assert selected_codes(Settings(selection=layers)) == expected


def test_default_selection_is_every_rule_enabled_by_default():
    assert selected_codes(Settings()) == [
        "VG001", "VG002", "VG101", "VG102", "VG103", "VG104", "VG105", "VG106", "VG201", "VG202", "VG301", "VG302", "VG303", "VG304",
        "VG401", "VG402",
    ]  # fmt: skip


def test_make_rules_passes_each_rule_its_options():
    settings = Settings(rule_options={"VG105": {"min-layers": 6}})
    rules = {rule.code: rule for rule in make_rules(settings)}
    assert rules["VG105"].settings == {"min-layers": 6}
    assert rules["VG101"].settings == {"min-chain": 4, "probe-confirm-below": 1e-2}
    source = VG105_SOURCE.replace("num_layers=12", "num_layers=6")
    assert [f.code for f in check(source, settings=settings)] == ["VG105"]
    assert check(source) == []


# -- which files are checked ---------------------------------------------------------------------


def checked(cli, *args: str) -> list[str]:
    result = cli(*args, "--select", "VG105", *JSON)
    assert result.exit_code in (0, 1), result.stderr
    return [f[0] for f in findings(result)]


def test_folders_are_walked_sorted_and_only_py_files(project, cli):
    for name in ("b.py", "a.py", "sub/c.py", "notes.txt", "model.pyi", "script"):
        project.vg105(name)
    assert checked(cli, ".") == ["a.py", "b.py", "sub/c.py"]


@pytest.mark.parametrize("folder", [".git", ".venv", "venv", "__pycache__", "build", "dist", ".tox", "node_modules", "site-packages"])
def test_default_excludes(project, cli, folder):
    project.vg105(f"{folder}/m.py")
    project.vg105(f"src/{folder}/m.py")
    project.vg105("m.py")
    assert checked(cli, ".") == ["m.py"]


ALL_FIVE = ["gen/m.py", "keep/m.py", "m.py", "src/gen/m.py", "src/keep/m.py"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("gen", ["keep/m.py", "m.py", "src/keep/m.py"]),  # a name matches a folder at any depth
        ("gen/", ["keep/m.py", "m.py", "src/keep/m.py"]),
        ("./gen", ["keep/m.py", "m.py", "src/keep/m.py"]),
        ("g*", ["keep/m.py", "m.py", "src/keep/m.py"]),
        ("m.py", []),  # a file name matches at any depth
        ("*.py", []),
        ("src/gen", ["gen/m.py", "keep/m.py", "m.py", "src/keep/m.py"]),  # a pattern with a slash matches the path
        ("src/gen/", ["gen/m.py", "keep/m.py", "m.py", "src/keep/m.py"]),
        ("src/*/m.py", ["gen/m.py", "keep/m.py", "m.py"]),
        ("keep/m.py", ["gen/m.py", "m.py", "src/gen/m.py"]),  # and at any depth: */keep/m.py
        ("/", ALL_FIVE),  # nothing left of the pattern: it excludes nothing
        ("/,gen", ["keep/m.py", "m.py", "src/keep/m.py"]),  # and the next pattern still counts
        ("genX", ALL_FIVE),  # only a trailing "/" is dropped from a pattern
    ],
)
def test_exclude_patterns(project, cli, pattern, expected):
    for name in ALL_FIVE:
        project.vg105(name)
    assert checked(cli, ".", "--exclude", pattern) == expected


def test_exclude_pattern_with_a_slash_matches_the_path_as_given(project, cli, tmp_path, monkeypatch):
    for name in ALL_FIVE:
        project.vg105(name)
    assert checked(cli, "src", "--exclude", "src/gen") == ["src/keep/m.py"]
    assert checked(cli, "src", "--exclude", "src/gen/m.py") == ["src/keep/m.py"]
    assert checked(cli, str(project.root / "src"), "--exclude", "project/src/gen") == ["src/keep/m.py"]
    monkeypatch.chdir(project.root / "src")
    assert checked(cli, ".", "--exclude", "src/gen") == ["keep/m.py"]  # the absolute path ends in src/gen


def test_exclude_names_only_count_below_the_folder_walked(cli, tmp_path, monkeypatch):
    inside = tmp_path / "gen" / "project"
    (inside / "sub").mkdir(parents=True)
    (inside / "m.py").write_text(VG105_SOURCE)
    (inside / "sub" / "m.py").write_text(VG105_SOURCE)
    monkeypatch.chdir(tmp_path)
    both = ["gen/project/m.py", "gen/project/sub/m.py"]
    assert checked(cli, "gen/project", "--exclude", "gen") == both
    assert checked(cli, str(inside), "--exclude", "gen") == both
    assert checked(cli, "gen/project", "--exclude", "sub") == ["gen/project/m.py"]
    # patterns with a slash match the folders and files met on the walk by their whole path
    assert checked(cli, "gen/project", "--exclude", "project/sub") == ["gen/project/m.py"]
    assert checked(cli, "gen/project", "--exclude", "project/m.py") == ["gen/project/sub/m.py"]
    assert checked(cli, "gen/project", "--exclude", "gen/project/sub/m.py") == ["gen/project/m.py"]


def test_force_exclude_of_named_files(project, cli, tmp_path, monkeypatch):
    project.vg105("gen/m.py")
    project.vg105("src/m.py")
    assert checked(cli, "gen/m.py", "src/m.py", "--exclude", "gen") == ["gen/m.py", "src/m.py"]
    assert checked(cli, "gen/m.py", "src/m.py", "--exclude", "gen", "--force-exclude") == ["src/m.py"]
    assert checked(cli, "gen/m.py", "src/m.py", "--exclude", "src/m.py", "--force-exclude") == ["gen/m.py"]
    assert checked(cli, "gen/m.py", "--exclude", "m.py", "--force-exclude") == []
    # outside the working directory only the file's own name counts
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    target = str(project.root / "gen" / "m.py")
    assert checked(cli, target, "--exclude", "gen", "--force-exclude") == [target]
    assert checked(cli, target, "--exclude", "m.py", "--force-exclude") == []
    assert checked(cli, target, "--exclude", "project/gen/m.py", "--force-exclude") == []


def test_force_exclude_of_a_named_folder(project, cli):
    project.vg105("gen/m.py")
    project.vg105("m.py")
    assert checked(cli, "gen", "m.py", "--exclude", "gen", "--force-exclude") == ["m.py"]
    assert checked(cli, "gen", "m.py", "--exclude", "gen") == ["gen/m.py", "m.py"]


def test_force_exclude_without_a_stdin_name_still_reads_stdin(project, cli):
    result = cli("-", "--force-exclude", "--select", "VG105", *JSON, input=VG105_SOURCE)
    assert findings(result) == [("<stdin>", 3, 11, "VG105")]


def test_force_exclude_of_stdin_by_its_name(project, cli):
    args = ("-", "--stdin-filename", "gen/x.py", "--exclude", "gen", "--select", "VG105", *JSON)
    assert findings(cli(*args, input=VG105_SOURCE)) == [("gen/x.py", 3, 11, "VG105")]
    result = cli(*args, "--force-exclude", input=VG105_SOURCE)
    assert findings(result) == [] and result.exit_code == 0


def test_a_file_named_twice_or_inside_a_named_folder_is_checked_once(project, cli):
    project.vg105("pkg/m.py")
    project.vg105("z.py")
    assert checked(cli, "z.py", "pkg", "./pkg/m.py", str(project.root / "pkg" / "m.py"), "z.py") == ["pkg/m.py", "z.py"]


def test_files_are_reported_in_path_order_whatever_the_argument_order(project, cli):
    for name in ("c.py", "a/z.py", "b.py"):
        project.vg105(name)
    assert checked(cli, "c.py", "b.py", "a") == ["a/z.py", "b.py", "c.py"]


def test_files_checked_counts_each_file_once(project, cli):
    project.vg105("a.py")
    project.vg105("b.py")
    result = cli("a.py", "a.py", "b.py", "-j1")
    assert "in 2 files checked" in result.stdout
    result = cli("a.py", "-", "-j1", input=VG105_SOURCE)
    assert "in 2 files checked" in result.stdout


def test_many_files_in_parallel_give_the_same_report(project, cli):
    for index in range(6):
        project.vg105(f"m{index}.py")
    project.write("bad.py", "x = (\n")
    serial = cli(".", "--output-format", "json", "-j1")
    parallel = cli(".", "--output-format", "json", "-j2")
    assert parallel.stdout == serial.stdout
    assert parallel.exit_code == serial.exit_code == 1
    assert [f[0] for f in findings(parallel)] == ["bad.py", *[f"m{i}.py" for i in range(6)]]


def test_display_name_relative_inside_the_working_directory(project, cli, tmp_path, monkeypatch):
    project.vg105("src/m.py")
    assert checked(cli, str(project.root / "src")) == ["src/m.py"]
    outside = tmp_path.parent
    monkeypatch.chdir(outside)
    assert checked(cli, str(project.root / "src")) == [str((project.root / "src" / "m.py").relative_to(outside))]


def test_stdin_name_defaults_to_stdin(project, cli):
    assert findings(cli("-", "--select", "VG105", *JSON, input=VG105_SOURCE)) == [("<stdin>", 3, 11, "VG105")]
    assert findings(cli("-", "--select", "VG001", *JSON, input="x = (\n")) == [("<stdin>", 1, 5, "VG001")]


def test_stdin_not_utf8_is_vg001(project, cli):
    result = cli("-", *JSON, input=b"x = '\xff'\n")
    [finding] = json.loads(result.stdout)
    assert (finding["code"], finding["location"]["row"], finding["location"]["column"]) == ("VG001", 1, 6)
