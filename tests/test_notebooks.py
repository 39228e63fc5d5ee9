"""Jupyter notebooks as a user meets them (positions `nb.ipynb:cell N:LINE:COL`, magics tolerated,
broken notebooks as VG001), and the CLI conventions users bring from ruff: non-Python files refused,
mistyped commands, `--show-files` and `--show-settings`."""

from __future__ import annotations

import json

from conftest import CLEAN_SOURCE, VG105_SOURCE, assert_one_line_error, findings

from vglint.notebook import python_lines

VG105_MESSAGE = "12 post-LN transformer layers (norm_first=False): deep Post-LN stacks need learning-rate warm-up and often fail to train"

#: A sigmoid model in one cell, trained with BCELoss in a later one: VG301 at the loss, related to the sigmoid.
MODEL_CELL = """\
import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())"""
TRAIN_CELL = """\
%%time
criterion = nn.BCELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()"""


def notebook(*cells: str | tuple[str, str], nbformat: int = 4, as_list: bool = True) -> str:
    """An nbformat-4 notebook's JSON; a cell is its code, or (cell_type, source). `as_list` stores each
    source as a list of lines, as Jupyter writes it, else as one string."""
    out = []
    for cell in cells:
        kind, text = cell if isinstance(cell, tuple) else ("code", cell)
        source = text.splitlines(keepends=True) if as_list else text
        out.append({"cell_type": kind, "metadata": {}, "source": source}
                   | ({"execution_count": None, "outputs": []} if kind == "code" else {}))  # fmt: skip
    return json.dumps({"cells": out, "metadata": {"language_info": {"name": "python"}}, "nbformat": nbformat,
                       "nbformat_minor": 5}, indent=1)  # fmt: skip


# --- positions -----------------------------------------------------------------------------------


def test_a_finding_is_reported_in_its_cell_counting_markdown_cells(project, cli):
    project.write(
        "nb.ipynb", notebook(("markdown", "# Encoder"), "x = 1\n", ("markdown", "Now the model:"), VG105_SOURCE)
    )
    result = cli("nb.ipynb", "--output-format", "concise")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == f"nb.ipynb:cell 4:3:11: VG105 [warning] {VG105_MESSAGE}"


def test_a_source_given_as_one_string_is_read_too(project, cli):
    project.write("nb.ipynb", notebook("x = 1\ny = 2", VG105_SOURCE, as_list=False))
    result = cli("nb.ipynb", "--output-format", "json")
    [finding] = json.loads(result.stdout)
    assert (finding["cell"], finding["location"], finding["end_location"]) == (
        2,
        {"row": 3, "column": 11},
        {"row": 3, "column": 54},
    )


def test_the_full_output_shows_the_cells_lines_and_a_related_place_in_another_cell(project, cli):
    project.write("nb.ipynb", notebook(("markdown", "# Training"), MODEL_CELL, TRAIN_CELL))
    result = cli("nb.ipynb", "--select", "VG301")
    assert result.stdout == (
        "nb.ipynb:cell 3:5:12: VG301 sigmoid output fed to nn.BCELoss: a saturated logit gets a zero gradient; "
        "drop the sigmoid and use nn.BCEWithLogitsLoss\n"
        "  |\n"
        "5 |     loss = criterion(model(x), y)\n"
        "  |            ^^^^^^^^^^^^^^^^^^^^^^ warning\n"
        "  |\n"
        "4 | model = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())\n"
        "  |                                        ------------ the sigmoid is applied here (cell 2)\n"
        "  = help: return logits from the model and use BCEWithLogitsLoss (apply sigmoid only for prediction)\n"
        "\n"
        "Found 1 finding (1 warning) in 1 file checked.\n"
        "1 model in 1 file: 1 fully analysed\n"
    )


def test_json_has_the_cell_of_the_finding_and_of_its_related_place(project, cli):
    project.write("nb.ipynb", notebook(("markdown", "# Training"), MODEL_CELL, TRAIN_CELL))
    project.write("script.py", MODEL_CELL + "\n" + TRAIN_CELL.replace("%%time\n", ""))
    result = cli("nb.ipynb", "script.py", "--select", "VG301", "--output-format", "json")
    notebook_finding, script_finding = json.loads(result.stdout)
    assert (notebook_finding["cell"], notebook_finding["location"]) == (3, {"row": 5, "column": 12})
    assert notebook_finding["related"] == {"row": 4, "column": 40, "cell": 2}
    assert (script_finding["cell"], script_finding["location"]) == (None, {"row": 8, "column": 12})
    assert script_finding["related"] == {"row": 4, "column": 40, "cell": None}


def test_noqa_in_a_cell_suppresses_and_on_the_related_line_too(project, cli):
    commented = VG105_SOURCE.replace("num_layers=12)", "num_layers=12)  # noqa: VG105")
    project.write("a.ipynb", notebook("x = 1", commented))
    project.write("b.ipynb", notebook(MODEL_CELL.replace("nn.Sigmoid())", "nn.Sigmoid())  # noqa"), TRAIN_CELL))
    assert cli("a.ipynb", "b.ipynb", "--select", "VG105,VG301", "-q").stdout == ""


def test_findings_are_ordered_by_cell(project, cli):
    project.write("nb.ipynb", notebook(VG105_SOURCE, "y = 0\n" * 5 + VG105_SOURCE.replace("encoder", "second")))
    result = cli("nb.ipynb", "--output-format", "json")
    assert [(f["cell"], f["location"]["row"]) for f in json.loads(result.stdout)] == [(1, 3), (2, 8)]


# --- IPython syntax ------------------------------------------------------------------------------


def test_magics_shell_lines_and_help_requests_are_tolerated_and_keep_positions(project, cli):
    project.write("nb.ipynb", notebook(
        "!pip install torch \\\n    torchvision\n%matplotlib inline\nfiles = !ls\nnn?\nhelp??\n?nn.Linear\n" + VG105_SOURCE,
        "%%bash\nfor f in *.csv; do echo $f; done",
        "%%writefile helper.py\ndef f(:\n",
        "%%time\n" + VG105_SOURCE.replace("encoder", "timed"),
        "for i in range(2):\n    %time print(i)\n",
    ))  # fmt: skip
    result = cli("nb.ipynb", "--output-format", "json")
    assert result.exit_code == 1, result.stdout
    assert [(f["code"], f["cell"], f["location"]["row"]) for f in json.loads(result.stdout)] == [
        ("VG105", 1, 10),
        ("VG105", 4, 4),
    ]


def test_python_lines_keeps_the_line_count_and_only_replaces_ipython_lines():
    cell = ["x = a % b", "x %= 3", "print('ok?')", "!ls \\", "  -la", "    %time f()", "model.fc?", "y = 1"]
    assert python_lines(cell) == ["x = a % b", "x %= 3", "print('ok?')", "pass", "", "    pass", "pass", "y = 1"]
    assert python_lines(["%%timeit -n 3", "f()"]) == ["", "f()"]
    assert python_lines(["%%html", "<b>", "</b>"]) == ["", "", ""]


# --- notebooks that are not fine -----------------------------------------------------------------


def test_invalid_json_is_vg001_at_its_position(project, cli):
    project.write("broken.ipynb", '{\n "cells": [\n  {"cell_type": "code",}\n ]\n}\n')
    result = cli("broken.ipynb", "--output-format", "concise")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "broken.ipynb:3:24: VG001 [error] file cannot be checked: not a valid notebook: invalid JSON: "
        "Expecting property name enclosed in double quotes"
    )
    assert result.stdout.splitlines()[-1] == "0 models in 1 file; 1 file could not be read or parsed"


def test_json_that_is_not_nbformat_4_is_vg001(project, cli):
    project.write("old.ipynb", json.dumps({"nbformat": 3, "worksheets": []}))
    project.write("list.ipynb", "[1, 2]")
    result = cli("old.ipynb", "list.ipynb", "--output-format", "json")
    assert [(f["filename"], f["code"], f["message"]) for f in json.loads(result.stdout)] == [
        ("list.ipynb", "VG001", "file cannot be checked: not a valid notebook: no `cells` list at the top level of the JSON"),
        ("old.ipynb", "VG001", "file cannot be checked: nbformat 3 notebook: vglint reads nbformat 4 "
                               "(convert it with `jupyter nbconvert --to notebook --nbformat 4`)"),
    ]  # fmt: skip


def test_a_syntax_error_in_a_cell_is_vg001_in_that_cell(project, cli):
    project.write("nb.ipynb", notebook("x = 1", ("markdown", "text"), "y = 2\nclass Net(nn.Module)\n    pass"))
    result = cli("nb.ipynb", "--output-format", "json")
    [finding] = json.loads(result.stdout)
    assert (finding["code"], finding["cell"], finding["location"]["row"]) == ("VG001", 3, 2)


def test_a_notebook_without_code_cells_is_checked_and_fine(project, cli):
    project.write("notes.ipynb", notebook(("markdown", "# Only words"), ("raw", "and raw text")))
    project.write("empty.ipynb", notebook())
    result = cli("notes.ipynb", "empty.ipynb")
    assert (result.exit_code, result.stdout) == (0, "All checks passed! (2 files checked)\n0 models in 2 files\n")


# --- discovery, -v, inspect, standard input ------------------------------------------------------


def test_folders_are_walked_for_notebooks_too(project, cli):
    project.write("pkg/nb.ipynb", notebook(VG105_SOURCE))
    project.vg105("pkg/model.py")
    project.write("pkg/.venv/other.ipynb", notebook(VG105_SOURCE))
    result = cli(".", "--output-format", "json")
    assert [(f[0], f[1]) for f in findings(result)] == [("pkg/model.py", 3), ("pkg/nb.ipynb", 3)]


def test_verbose_listing_names_the_cell(project, cli):
    partly = "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.norm = make_norm()\n"
    project.write("nb.ipynb", notebook(("markdown", "# Nets"), CLEAN_SOURCE, partly))
    result = cli("nb.ipynb", "-v")
    assert result.stdout.splitlines()[:2] == [
        "nb.ipynb:cell 2:2: model: fully analysed",
        "nb.ipynb:cell 3:4: Net: partly analysed (unknown layer factory `make_norm`, cell 3, line 7; "
        "no forward to follow `Net`, cell 3, line 4)",
    ]


def test_inspect_reads_notebooks(project, cli):
    project.write("nb.ipynb", notebook(("markdown", "# Encoder"), VG105_SOURCE))
    result = cli("inspect", "nb.ipynb", "--output-format", "json")
    assert [(m["model"], m["cell"], m["line"]) for m in json.loads(result.stdout)] == [
        ("layer", 2, 2),
        ("encoder", 2, 3),
    ]
    assert cli("inspect", "nb.ipynb").stdout.splitlines()[0] == "nb.ipynb:cell 2:2: layer"


def test_a_notebook_on_standard_input(project, cli):
    result = cli(
        "-", "--stdin-filename", "nb.ipynb", "--output-format", "concise", input=notebook("x = 1", VG105_SOURCE)
    )
    assert result.stdout.splitlines()[0].startswith("nb.ipynb:cell 2:3:11: VG105 ")


# --- files that are not Python -------------------------------------------------------------------


def test_a_named_file_that_is_not_python_is_refused(project, main):
    project.write("notes.txt", VG105_SOURCE)
    project.vg105("model.py")
    project.write("data.csv", "a,b\n")
    assert_one_line_error(main("model.py", "notes.txt"), "vglint: error: notes.txt: not a Python file or notebook")
    assert_one_line_error(main("check", "data.csv"), "vglint: error: data.csv: not a Python file or notebook")


def test_stubs_and_python_scripts_without_an_extension_are_checked(project, cli):
    project.vg105("model.pyi")
    project.write("train", "#!/usr/bin/env python3\n" + VG105_SOURCE)
    project.write("run", "#!/bin/sh\necho hi\n")
    result = cli("model.pyi", "train", "--output-format", "json")
    assert [(f[0], f[1]) for f in findings(result)] == [("model.pyi", 3), ("train", 4)]
    assert cli("run").exit_code == 2


# --- mistyped commands ---------------------------------------------------------------------------


def test_a_mistyped_command_is_named_with_the_closest_command(project, main):
    assert_one_line_error(main("chek", "."), "vglint: error: no such command 'chek' (did you mean 'check'?)")
    assert_one_line_error(main("inspct", "m.py"), "no such command 'inspct' (did you mean 'inspect'?)")
    assert_one_line_error(main("frobnicate"), "no such command or path 'frobnicate' (commands: check, ")


def test_paths_still_mean_check_and_a_missing_path_is_still_said_so(project, main):
    project.vg105("chek/model.py")  # an existing folder is a path, whatever its name
    project.vg105("model.py")
    assert main("chek").code == 1
    assert main("model.py").code == 1
    assert_one_line_error(main("models/"), "vglint: error: path does not exist: models/")
    assert_one_line_error(main("chek.py"), "vglint: error: path does not exist: chek.py")


# --- --show-files and --show-settings ------------------------------------------------------------


def test_show_files_lists_what_would_be_checked_without_analysing(project, cli):
    project.write("b.py", "class Net(nn.Module)\n")  # a syntax error: it is listed, not analysed
    project.write("a/nb.ipynb", "not json")
    project.vg105("a/gen.py")
    project.vg105("build/skipped.py")
    project.write("notes.txt", "text")
    result = cli("--show-files", ".", "--extend-exclude", "gen.py")
    assert (result.exit_code, result.stdout) == (0, "a/nb.ipynb\nb.py\n")


def test_show_files_honours_force_exclude_for_named_files(project, cli):
    project.vg105("gen.py")
    project.vg105("kept.py")
    assert cli("check", "gen.py", "kept.py", "--extend-exclude", "gen.py", "--show-files").stdout == "gen.py\nkept.py\n"
    result = cli("check", "gen.py", "kept.py", "--extend-exclude", "gen.py", "--force-exclude", "--show-files")
    assert (result.exit_code, result.stdout) == (0, "kept.py\n")


def test_show_settings_prints_the_resolved_configuration(project, cli):
    project.pyproject("""\
[tool.vglint]
select = ["VG1", "VG3"]
ignore = ["VG104", "VG106"]
fail-on = "error"
extend-exclude = ["legacy"]
per-file-ignores = { "tests/*" = ["VG1"] }
sequence-length = 512

[tool.vglint.rules.VG101]
min-chain = 6

[tool.vglint.models."models/net.py:Net"]
kwargs = { depth = 20 }
""")
    result = cli("--show-settings", "--ignore", "VG3", "--extend-select", "VG201")
    assert result.exit_code == 0
    assert (
        result.stdout
        == """\
config-file: pyproject.toml
select: VG101, VG102, VG103, VG105, VG201
fail-on: error
exclude: .git, .venv, venv, __pycache__, build, dist, .tox, node_modules, site-packages
extend-exclude: legacy
per-file-ignores:
  tests/* = VG1
sequence-length: 512
probe-spatial-size: 32
rules:
  VG101.min-chain = 6
  VG101.probe-confirm-below = 0.01
  VG102.warn-below = 0.0001
  VG102.error-below = 1e-08
  VG102.probe-confirm-below = 0.01
  VG102.probe-refute-at = 0.1
  VG103.min-layers = 10
  VG103.probe-confirm-below = 0.01
  VG103.probe-refute-at = 0.1
  VG105.min-layers = 12
  VG201.min-seq-len = 100
  VG201.probe-horizon-fraction = 0.1
models:
  models/net.py:Net
"""
    )


def test_show_settings_without_a_configuration(project, cli):
    result = cli("--show-settings", "--isolated", "--select", "VG301")
    assert result.stdout.splitlines()[:3] == ["config-file: none", "select: VG301", "fail-on: warning"]
    assert result.stdout.splitlines()[-2:] == ["rules: none", "models: none"]
