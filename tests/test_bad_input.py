"""Files vglint cannot read or parse: each is a VG001 finding or a clear message, never a crash,
and the other files' findings are still reported."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import VG105_SOURCE, findings

JSON = ("--output-format", "json")
GOOD = ("good.py", 3, 11, "VG105")

BAD_FILES = {
    "syntax": b"class Net(nn.Module)\n    pass\n",
    "unclosed": b"x = (\n",
    "undecodable": b"x = '\xff\xfe'\n",
    "undecodable_late": b"x = 1\ny = 2\nz = '\xe9t\xe9'\n",  # past the two lines a coding cookie may be on
    "nul": b"x = 1\x00\n",
    "deep_parens": b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n",
    "deep_brackets": b"x = " + b"[" * 300 + b"]" * 300 + b"\n",
    "deep_unary": b"x = " + b"-" * 100_000 + b"1\n",
    "deep_sum": b"x = " + b"+".join([b"1"] * 20_000) + b"\n",
    "bad_cookie": b"# -*- coding: no-such-codec -*-\nx = 1\n",
}


def _detail(result, filename: str) -> dict:
    return next(f for f in json.loads(result.stdout) if f["filename"] == filename)


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_is_vg001_and_the_others_are_still_checked(project, subprocess_vglint, kind):
    """In a fresh process: a parser that overflows its stack would kill it, and that must show."""
    project.write("good.py", VG105_SOURCE)
    project.write(f"{kind}.py", data=BAD_FILES[kind])
    run = subprocess_vglint(".", "-j1", *JSON, timeout=60)
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    got = findings(run)
    assert GOOD in got
    [bad] = [f for f in got if f[0] == f"{kind}.py"]
    assert bad[3] == "VG001"
    finding = _detail(run, f"{kind}.py")
    assert finding["severity"] == "error"
    assert finding["message"].startswith("file cannot be checked: ")


def test_all_bad_files_together_in_parallel(project, cli):
    project.write("good.py", VG105_SOURCE)
    for kind, data in BAD_FILES.items():
        if not kind.startswith("deep"):  # the deep ones run in a fresh process above
            project.write(f"{kind}.py", data=data)
    result = cli(".", "-j2", *JSON)
    assert result.exit_code == 1
    got = findings(result)
    assert GOOD in got
    assert sorted(f[0] for f in got if f[3] == "VG001") == sorted(f"{k}.py" for k in BAD_FILES if not k.startswith("deep"))


def test_syntax_error_location_and_message(project, cli):
    project.write("bad.py", "def f(:\n    pass\n")
    finding = _detail(cli("bad.py", *JSON), "bad.py")
    assert (finding["location"]["row"], finding["location"]["column"]) == (1, 7)
    assert "syntax" in finding["message"]


def test_undecodable_bytes_message_names_the_encoding_and_the_cookie(project, cli):
    project.write("bad.py", data=BAD_FILES["undecodable_late"])
    finding = _detail(cli("bad.py", *JSON), "bad.py")
    assert finding["location"]["row"] == 3
    assert "utf-8" in finding["message"].lower()
    assert "coding cookie" in finding["message"]


def test_latin1_file_with_a_coding_cookie_parses(project, cli):
    source = "# -*- coding: latin-1 -*-\n" + VG105_SOURCE + "label = 'caf\xe9'  # caf\xe9\n"
    project.write("latin.py", data=source.encode("latin-1"))
    result = cli("latin.py", *JSON)
    assert findings(result) == [("latin.py", 4, 11, "VG105")]
    full = cli("latin.py")
    assert "4 | encoder = nn.TransformerEncoder(layer, num_layers=12)" in full.stdout


def test_utf8_bom_parses(project, cli):
    project.write("bom.py", data=b"\xef\xbb\xbf" + VG105_SOURCE.encode())
    assert findings(cli("bom.py", *JSON)) == [("bom.py", 3, 11, "VG105")]


def test_nul_byte_location(project, cli):
    project.write("nul.py", data=b"x = 1\ny = 2\x00\n")
    finding = _detail(cli("nul.py", *JSON), "nul.py")
    assert finding["location"]["row"] == 2
    assert "NUL" in finding["message"]


def test_deeply_nested_but_valid_code_is_still_analysed(project, subprocess_vglint):
    """A long sum is valid Python; the model in the same file is still checked."""
    project.write("long_sum.py", VG105_SOURCE + "total = " + " + ".join(["1"] * 1000) + "\n")
    run = subprocess_vglint("long_sum.py", *JSON)
    assert run.code == 1, run.stderr
    assert findings(run) == [("long_sum.py", 3, 11, "VG105")]
    assert run.stderr == ""


def test_broken_symlink(project, cli):
    project.write("good.py", VG105_SOURCE)
    (project.root / "broken.py").symlink_to(project.root / "nowhere.py")
    for args in ((".",), ("broken.py", "good.py")):
        result = cli(*args, *JSON)
        assert result.exit_code == 1
        got = findings(result)
        assert GOOD in got
        assert ("broken.py", 1, 1, "VG001") in got
        assert "symbolic link" in _detail(result, "broken.py")["message"]


def test_unreadable_file_without_vg001_is_a_warning_on_stderr(project, cli):
    project.write("good.py", VG105_SOURCE)
    (project.root / "broken.py").symlink_to(project.root / "nowhere.py")
    project.write("bad.py", "def f(:\n")
    result = cli(".", "--select", "VG105", *JSON)
    assert findings(result) == [GOOD]
    assert "broken.py" in result.stderr and "bad.py" in result.stderr


def _unprivileged() -> list[str]:
    """The argv prefix that runs a command as a user a chmod 000 file is closed to: nothing when we are
    not root; as root (who reads any file), `setpriv` or `runuser` to the unprivileged user `nobody`."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    elif shutil.which("runuser"):
        prefix = ["runuser", "-u", "nobody", "--"]
    else:
        pytest.skip("running as root, and neither setpriv nor runuser is there to drop root's rights")
    probe = subprocess.run([*prefix, sys.executable, "-c", "import vglint"], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, f"{prefix[0]}: user nobody cannot run {sys.executable} -m vglint: {probe.stderr}"
    return prefix


@pytest.fixture
def open_folder():
    """A folder the unprivileged user can enter (pytest's tmp_path is closed to other users), and the
    user's view of it: run(*args) runs `python -m vglint ARGS...` there as that user."""
    prefix = _unprivileged()
    root = Path(tempfile.mkdtemp(prefix="vglint-perm-"))
    root.chmod(0o755)

    def run(*args: str):
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "VGLINT_DEBUG")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        done = subprocess.run([*prefix, sys.executable, "-m", "vglint", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        return done

    yield root, run
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755) if path.is_dir() else path.chmod(0o644)
    shutil.rmtree(root)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return path


def test_unreadable_file(open_folder):
    root, run = open_folder
    _write(root / "good.py", VG105_SOURCE)
    _write(root / "locked.py", VG105_SOURCE).chmod(0)
    done = run(".", "--isolated", "-j1", *JSON)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    got = json.loads(done.stdout)
    assert [(f["filename"], f["location"]["row"], f["location"]["column"], f["code"]) for f in got] == [
        GOOD,
        ("locked.py", 1, 1, "VG001"),
    ]
    locked = got[1]
    assert locked["severity"] == "error"
    assert locked["message"].startswith("file cannot be checked: ")
    assert "Permission denied" in locked["message"]


def test_unreadable_folder_is_a_warning(open_folder):
    root, run = open_folder
    _write(root / "good.py", VG105_SOURCE)
    _write(root / "locked" / "model.py", VG105_SOURCE)
    (root / "locked").chmod(0)
    done = run(".", "--isolated", "-j1", *JSON)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    got = json.loads(done.stdout)
    assert [(f["filename"], f["location"]["row"], f["location"]["column"], f["code"]) for f in got] == [GOOD]
    assert "locked" in done.stderr


def test_missing_path_among_good_ones_is_exit_2(project, subprocess_vglint):
    project.write("good.py", VG105_SOURCE)
    run = subprocess_vglint("good.py", "missing.py")
    assert run.code == 2
    assert run.stderr.strip() == "vglint: error: path does not exist: missing.py"
    assert "Traceback" not in run.stderr


def test_empty_file_and_empty_folder(project, cli):
    project.write("empty.py", "")
    (project.root / "nothing").mkdir()
    assert cli("empty.py").exit_code == 0
    result = cli("nothing")
    assert result.exit_code == 0
    assert "0 files checked" in result.stdout


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="the simulated crash reaches workers by fork")
def test_a_crashing_worker_loses_only_its_own_file(project, cli, monkeypatch):
    """A crash in native code kills a worker process; the other files are still reported, the lost one is named."""
    from vglint.source.frontend import SourceFrontend

    real_analyse = SourceFrontend.analyse

    def analyse(self, filename, *args, **kwargs):
        if filename == "crash.py":
            os._exit(70)  # what a segfault in a parser looks like from outside
        return real_analyse(self, filename, *args, **kwargs)

    monkeypatch.setattr(SourceFrontend, "analyse", analyse)
    for name in ("a.py", "b.py", "c.py", "d.py"):
        project.write(name, VG105_SOURCE)
    project.write("crash.py", VG105_SOURCE)
    result = cli(".", "-j2", *JSON)
    assert result.exit_code == 2
    assert [f[0] for f in findings(result)] == ["a.py", "b.py", "c.py", "d.py"]
    assert "crash.py" in result.stderr
