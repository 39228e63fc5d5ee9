"""Silence means something: every text run ends with a coverage line, `-v` lists each model and its
gaps, `inspect` says why a model is uncertain or approximate, and no model is dropped silently.

The expected lines are written by hand from the sources below.
"""

from __future__ import annotations

import json

import pytest

#: Fully analysed: every layer and the whole forward are understood.
FINE = """\
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x).relu()
"""

#: Partly: `make_norm` is imported from a module vglint cannot see (line 9), and then applied (line 12).
PARTLY = """\
import torch.nn as nn
from mylib.layers import make_norm


class Net(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.norm = make_norm(d)

    def forward(self, x):
        return self.norm(self.fc(x))
"""

#: Skipped: a call chain deeper than the interpreter's call-depth limit (Search, line 8), and an
#: `__init__` whose nested loop runs past the step budget (Loops, line 15).
BUDGET = """\
import torch.nn as nn


def depth(n):
    return depth(n + 1) if n < 1000 else n


class Search(nn.Module):
    def __init__(self):
        super().__init__()
        self.width = depth(0)
        self.fc = nn.Linear(4, 4)


class Loops(nn.Module):
    def __init__(self, n=400):
        super().__init__()
        total = 0
        for i in range(n):
            for j in range(n):
                total += i * j
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)
"""


@pytest.fixture
def small_project(project):
    project.write("a_fine.py", FINE)
    project.write("b_partly.py", PARTLY)
    project.write("c_budget.py", BUDGET)
    project.write("d_broken.py", "def broken(:\n")
    return project


COVERAGE = ("4 models in 4 files: 1 fully analysed, 1 partly (unknown layer factory), 2 skipped (analysis budget); "
            "1 file could not be read or parsed")  # fmt: skip


def test_the_run_ends_with_the_coverage_line(small_project, cli):
    result = cli(".", "--output-format", "concise")
    assert result.stdout.splitlines() == [
        "d_broken.py:1:12: VG001 [error] file cannot be checked: invalid syntax",
        "Found 1 finding (1 error) in 4 files checked.",
        COVERAGE,
    ]


def test_the_full_format_ends_with_it_too(small_project, cli):
    assert cli(".").stdout.splitlines()[-2:] == ["Found 1 finding (1 error) in 4 files checked.", COVERAGE]


def test_all_checks_passed_is_followed_by_the_coverage_line(project, cli):
    project.write("a_fine.py", FINE)
    project.write("b_partly.py", PARTLY)
    project.write("notes.py", "x = 1\n")
    result = cli(".")
    assert result.exit_code == 0
    assert result.stdout == (
        "All checks passed! (3 files checked)\n2 models in 3 files: 1 fully analysed, 1 partly (unknown layer factory)\n"
    )


def test_verbose_lists_each_model_with_its_status_and_reasons(small_project, cli):
    result = cli(".", "--output-format", "concise", "-v")
    assert result.stdout.splitlines() == [
        "d_broken.py:1:12: VG001 [error] file cannot be checked: invalid syntax",
        "a_fine.py:4: Encoder: fully analysed",
        ("b_partly.py:5: Net: partly analysed (unknown layer factory `make_norm`, line 9; "
         "unknown call on a tensor `self.norm`, line 12)"),
        "c_budget.py:8: Search: skipped (analysis budget)",
        "c_budget.py:15: Loops: skipped (analysis budget)",
        "d_broken.py: not analysed (could not be read or parsed)",
        "Found 1 finding (1 error) in 4 files checked.",
        COVERAGE,
    ]


def test_quiet_prints_neither_summary_nor_coverage(small_project, cli):
    assert cli(".", "--output-format", "concise", "-q").stdout.splitlines() == [
        "d_broken.py:1:12: VG001 [error] file cannot be checked: invalid syntax",
    ]
    assert cli(".", "--output-format", "concise", "-q", "-v").stdout.splitlines() == [
        "d_broken.py:1:12: VG001 [error] file cannot be checked: invalid syntax",
    ]


def test_json_and_statistics_stay_as_they_were(small_project, cli):
    [finding] = json.loads(cli(".", "--output-format", "json").stdout)
    assert finding["code"] == "VG001"
    assert json.loads(cli(".", "--output-format", "json", "--statistics", "-v").stdout) == [
        {"code": "VG001", "name": "syntax-error", "count": 1}
    ]
    assert cli(".", "--statistics").stdout == "1\tVG001\tsyntax-error\n"


def test_worker_processes_send_the_coverage_back(small_project, cli):
    """With four files or more and -j 2 the files are checked in worker processes."""
    small_project.write("e_fine.py", FINE)
    serial = cli(".", "-j", "1", "-v").stdout
    parallel = cli(".", "-j", "2", "-v").stdout
    assert parallel == serial
    assert serial.splitlines()[-1] == (
        "5 models in 5 files: 2 fully analysed, 1 partly (unknown layer factory), 2 skipped (analysis budget); "
        "1 file could not be read or parsed"
    )
    assert "e_fine.py:4: Encoder: fully analysed" in serial.splitlines()


def test_several_kinds_of_gap_are_counted(project, cli):
    project.write("b_partly.py", PARTLY)
    project.write("branchy.py", """\
import torch.nn as nn


class Gated(nn.Module):
    def __init__(self, flag):
        super().__init__()
        if flag:
            self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return x
""")
    project.write("other.py", PARTLY.replace("class Net", "class Other"))
    assert cli(".").stdout.splitlines()[-1] == (
        "3 models in 3 files: 0 fully analysed, 3 partly (2 unknown layer factory, 1 branch on unknown value)"
    )


def nested_lost_forwards(levels: int) -> str:
    """`Level{levels}` around ... around `Level0`, whose forward loops over something unknown: each
    level's forward is lost, and each falls back to running its modules in declared order."""
    code = ["import torch.nn as nn", "from somewhere import mystery", "", "",
            "class Level0(nn.Module):", "    def __init__(self):", "        super().__init__()",
            "        self.fc = nn.Linear(8, 8)", "", "    def forward(self, x):",
            "        for step in mystery.steps:", "            x = step(x)", "        return self.fc(x)"]
    for level in range(1, levels + 1):
        code += ["", "", f"class Level{level}(nn.Module):", "    def __init__(self):",
                 "        super().__init__()", f"        self.inner = Level{level - 1}()",
                 "        self.fc = nn.Linear(8, 8)", "", "    def forward(self, x):",
                 "        return self.fc(self.inner(x))"]
    return "\n".join(code) + "\n"


def test_lost_forwards_nested_deep_are_analysed_not_skipped(project, cli):
    # each fallback once ran every module under it again, so 14 levels took 2^14 runs of Level0
    # and the outer models ran out of budget; a module's run on one tensor is now remembered
    project.write("nested.py", nested_lost_forwards(14))
    lines = cli("nested.py", "-v").stdout.splitlines()
    assert lines[-1] == "15 models in 1 file: 0 fully analysed, 15 partly (loop in forward not followed)"
    assert "nested.py:146: Level14: partly analysed (loop in forward not followed `for step in mystery.steps`, line 11)" in lines
    shown = cli("inspect", "nested.py").stdout
    assert "Level14  (approximate: loop in forward not followed" in shown
    assert "  path:          Linear x15\n  weight layers: 15\n" in shown


def test_a_front_end_error_skips_the_model_and_says_so(project, cli, monkeypatch):
    from vglint.source.interpret import Interpreter

    def broken(self, info, *args, **kwargs):
        raise RuntimeError("the interpreter broke")

    monkeypatch.setattr(Interpreter, "instantiate", broken)
    project.write("a_fine.py", FINE)
    result = cli("a_fine.py", "-v")
    assert result.exit_code == 2
    assert "front-end: Encoder: RuntimeError: the interpreter broke" in result.stderr
    assert result.stdout.splitlines()[-3:] == [
        "a_fine.py:4: Encoder: skipped (front-end error)",
        "Found 0 findings, but vglint failed on some files (1 internal error above).",
        "1 model in 1 file: 0 fully analysed, 1 skipped (front-end error)",
    ]


def test_no_models(project, cli):
    project.write("notes.py", "x = 1\n")
    assert cli("notes.py").stdout == "All checks passed! (1 file checked)\n0 models in 1 file\n"


# --- inspect -------------------------------------------------------------------------------------


def test_inspect_json_says_why_a_model_is_uncertain(small_project, cli):
    result = cli("inspect", "a_fine.py", "b_partly.py", "--output-format", "json")
    fine, net = json.loads(result.stdout)
    assert list(net)[-3:] == ["approximate", "uncertain", "reasons"]
    assert list(net)[:11] == ["filename", "model", "line", "deepest_path", "weight_layers", "saturating_runs",
                              "normalizations", "skips", "estimated_attenuation", "approximate", "uncertain"]  # fmt: skip
    assert (fine["uncertain"], fine["approximate"], fine["reasons"]) == (False, False, [])
    assert (net["model"], net["uncertain"], net["approximate"]) == ("Net", True, False)
    assert net["reasons"] == [
        {"what": "unknown layer factory `make_norm`", "line": 9},
        {"what": "unknown call on a tensor `self.norm`", "line": 12},
    ]


def test_inspect_text_marks_uncertain_and_approximate_models(project, cli):
    project.write("b_partly.py", PARTLY)
    project.write("loop.py", """\
import torch.nn as nn


class Unrolled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        while x.sum() > 0:
            x = self.fc(x)
        return x
""")
    lines = cli("inspect", "b_partly.py", "loop.py").stdout.splitlines()
    assert lines[0] == (
        "b_partly.py:5: Net  (uncertain: unknown layer factory `make_norm`, line 9; "
        "unknown call on a tensor `self.norm`, line 12)"
    )
    assert "loop.py:4: Unrolled  (approximate: loop in forward not followed `while x.sum() > 0`, line 10)" in lines


def test_inspect_names_skipped_models(small_project, cli):
    result = cli("inspect", "c_budget.py")
    assert result.stdout == "no models found\n"
    assert result.stderr.splitlines() == [
        "vglint: warning: c_budget.py:8: Search: skipped (analysis budget)",
        "vglint: warning: c_budget.py:15: Loops: skipped (analysis budget)",
    ]


def test_a_model_used_through_methods_runs_its_own_not_a_framework_base(project, cli):
    # with no forward, the model is run through its public methods; a framework's method that
    # drives a model (another module's `generate`, calling it step after step) is not one of them:
    # it was read as eight copies of the model stacked (VG101, VG102 and VG103)
    project.write("framework.py", """\
import torch.nn as nn


class GenerationMixin:
    def generate(self, inputs, steps=8):
        for _ in range(steps):
            inputs = self.get_action(inputs)
        return inputs


class PreTrainedModel(nn.Module, GenerationMixin):
    pass
""")
    project.write("agent.py", """\
import torch.nn as nn
from framework import PreTrainedModel


class Agent(PreTrainedModel):
    def __init__(self):
        super().__init__()
        self.actor = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 2))

    def get_action(self, x):
        return self.actor(x)
""")
    result = cli("agent.py", "-v", "--output-format", "concise")
    assert result.stdout.splitlines() == [
        "agent.py:5: Agent: fully analysed",
        "All checks passed! (1 file checked)",
        "1 model in 1 file: 1 fully analysed",
    ]
    shown = cli("inspect", "agent.py").stdout
    assert "path:          Linear -> tanh -> Linear\n" in shown
