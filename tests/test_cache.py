"""The result cache as a user meets it: a second run reports what the first one kept, and nothing
that could change a file's findings (the file, the settings, a module it imports) is missed.

Reuse is shown by planting: a kept entry's finding message is rewritten, and a run that reports the
rewritten message took it from the cache, a run that reports the real one analysed the file again.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import VG105_SOURCE, codes, deep_mlp_source

from vglint import __version__

ROOT = Path(__file__).resolve().parent.parent
PLANTED = "planted: this came from the cache"


def entries(cache: Path) -> dict[str, Path]:
    """The cache's entry files, by the name of the file each one is about."""
    return {pickle.loads(path.read_bytes())["name"]: path for path in (cache / __version__).glob("*.pickle")}


def plant(cache: Path, name: str) -> None:
    """Rewrite the message of the first finding kept for `name`."""
    path = entries(cache)[name]
    entry = pickle.loads(path.read_bytes())
    entry["outcome"][0][0].message = PLANTED
    path.write_bytes(pickle.dumps(entry))


def importer_project(project, depth: int = 30) -> None:
    """train.py builds the model that models/rnn.py defines: its findings depend on rnn.py."""
    project.write("models/__init__.py")
    project.write(
        "models/rnn.py",
        "from torch import nn\n"
        f"DEPTH = {depth}\n"
        "class Deep(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.layers = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(DEPTH)])\n"
        "    def forward(self, x):\n"
        "        return self.layers(x)\n",
    )
    project.write("train.py", "from models.rnn import Deep\nmodel = Deep()\n")


def train_codes(result) -> set[str]:
    return {line.split()[1] for line in result.stdout.splitlines() if line.startswith("train.py:")}


def test_a_second_run_reports_what_the_first_kept(project, cli):
    project.vg105()
    first = cli("--output-format", "concise", "model.py")
    assert "VG105" in first.stdout
    plant(project.root / ".vglint_cache", "model.py")
    second = cli("--output-format", "concise", "model.py")
    assert PLANTED in second.stdout
    assert second.exit_code == first.exit_code == 1


def test_an_edited_file_is_analysed_again(project, cli):
    path = project.vg105()
    cli("model.py")
    plant(project.root / ".vglint_cache", "model.py")
    path.write_text(VG105_SOURCE + "# edited\n")
    result = cli("--output-format", "concise", "model.py")
    assert PLANTED not in result.stdout
    assert "model.py:3:11: VG105" in result.stdout
    assert len(entries(project.root / ".vglint_cache")) == 1  # the entry was replaced, not added to


@pytest.mark.parametrize(
    ("args", "pyproject"),
    [
        (["--ignore", "VG104"], None),
        (["-v"], None),  # the detail of -v is kept apart
        ([], "[tool.vglint]\nsequence-length = 4000\n"),
        ([], '[tool.vglint.per-file-ignores]\n"other.py" = ["VG101"]\n'),
        ([], "[tool.vglint.rules.VG101]\nmin-chain = 5\n"),
    ],
)
def test_changed_settings_are_not_answered_from_the_cache(project, cli, args, pyproject):
    project.mlp()
    cli("mlp.py")
    plant(project.root / ".vglint_cache", "mlp.py")
    if pyproject:
        project.pyproject(pyproject)
    result = cli(*args, "mlp.py")
    assert PLANTED not in result.stdout
    assert "VG102" in result.stdout


def test_an_edited_imported_module_changes_the_importers_findings(project, cli):
    importer_project(project, depth=30)
    cli("--output-format", "concise", ".")
    plant(project.root / ".vglint_cache", "train.py")
    assert PLANTED in cli("--output-format", "concise", ".").stdout  # nothing changed: kept

    importer_project(project, depth=2)  # rnn.py only: train.py is byte for byte the same
    result = cli("--output-format", "concise", ".")
    assert PLANTED not in result.stdout
    assert train_codes(result) == set()


def test_a_module_that_appears_changes_the_importers_findings(project, cli):
    project.write("train.py", "from blocks import make\nmodel = make()\n")
    assert train_codes(cli("--output-format", "concise", ".")) == set()
    project.write("blocks.py", deep_mlp_source().replace("model = ", "def make():\n    return ") + "\n")
    assert {"VG101", "VG102"} <= train_codes(cli("--output-format", "concise", "."))


def test_a_corrupt_entry_is_ignored_and_replaced(project, cli):
    project.vg105()
    first = cli("model.py")
    (path,) = entries(project.root / ".vglint_cache").values()
    path.write_bytes(b"\x80\x04 not a pickle")
    again = cli("model.py")
    assert (again.exit_code, again.stdout, again.stderr) == (first.exit_code, first.stdout, first.stderr)
    assert pickle.loads(path.read_bytes())["name"] == "model.py"


def test_no_cache_reads_and_writes_nothing(project, cli):
    project.vg105()
    cli("model.py")
    plant(project.root / ".vglint_cache", "model.py")
    result = cli("--no-cache", "model.py")
    assert PLANTED not in result.stdout and "VG105" in result.stdout

    other = project.root / "other"
    other.mkdir()
    (other / "model.py").write_text(VG105_SOURCE)
    assert codes(cli("--no-cache", "--output-format", "json", "other/model.py")) == {"VG105"}
    assert codes(cli("--output-format", "json", "other/model.py", env={"VGLINT_NO_CACHE": "1"})) == {"VG105"}
    assert set(entries(project.root / ".vglint_cache")) == {"model.py"}


def test_cache_dir_flag_and_setting(project, cli):
    project.vg105()
    cli("--cache-dir", "elsewhere", "model.py")
    assert (project.root / "elsewhere" / "CACHEDIR.TAG").is_file()
    assert set(entries(project.root / "elsewhere")) == {"model.py"}

    project.pyproject('[tool.vglint]\ncache-dir = "build/vglint"\n')
    project.write("sub/model.py", VG105_SOURCE)
    cli("sub/model.py")
    assert set(entries(project.root / "build" / "vglint")) == {"sub/model.py"}
    assert not (project.root / ".vglint_cache").exists()


def test_the_cache_lives_beside_the_configuration(project, cli, monkeypatch):
    project.pyproject("[tool.vglint]\nsequence-length = 500\n")
    project.vg105("src/model.py")
    monkeypatch.chdir(project.root / "src")
    cli("model.py")
    assert set(entries(project.root / ".vglint_cache")) == {"model.py"}
    assert not (project.root / "src" / ".vglint_cache").exists()


def test_the_folder_is_tagged_and_ignored_by_git(project, cli):
    project.vg105()
    cli("model.py")
    folder = project.root / ".vglint_cache"
    assert (folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55\n")
    assert (folder / ".gitignore").read_text() == "*\n"


def test_standard_input_is_not_cached(project, cli):
    result = cli("-", "--stdin-filename", "model.py", input=VG105_SOURCE)
    assert "VG105" in result.stdout
    assert not (project.root / ".vglint_cache").exists()


@pytest.mark.parametrize("output_format", ["full", "json"])
def test_output_is_the_same_with_and_without_the_cache(tmp_path, cli, monkeypatch, output_format):
    monkeypatch.chdir(ROOT)
    args = ["--output-format", output_format, "-j", "1", "fixtures"]
    uncached = cli("--no-cache", *args)
    cold = cli("--cache-dir", tmp_path / "cache", *args)
    warm = cli("--cache-dir", tmp_path / "cache", *args)
    assert len(entries(tmp_path / "cache")) > 100
    for run in (cold, warm):
        assert (run.exit_code, run.stdout, run.stderr) == (uncached.exit_code, uncached.stdout, uncached.stderr)


def test_concurrent_runs_share_one_cache(project):
    for index in range(12):
        project.write(f"pkg/model_{index}.py", VG105_SOURCE if index % 2 else deep_mlp_source())
    command = [sys.executable, "-m", "vglint", "check", "--output-format", "concise", "-j", "1", "pkg"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VGLINT_") and k != "NO_COLOR"}
    runs = [subprocess.Popen(command, cwd=project.root, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = {(run.wait(timeout=120), run.stdout.read()) for run in runs}
    warm = subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, timeout=120)
    assert outputs == {(1, warm.stdout)}
    assert len(entries(project.root / ".vglint_cache")) == 12
    assert not list((project.root / ".vglint_cache").rglob(".tmp-*"))
