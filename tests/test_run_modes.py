"""How a check runs rather than what it finds: parallel jobs, `--watch`, the progress bar."""

from __future__ import annotations

import io
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CLEAN_SOURCE, VG105_SOURCE

from vglint import cli as cli_module
from vglint.progress import progress_bar

ROOT = Path(__file__).resolve().parent.parent


# --- -j/--jobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["full", "json"])
def test_two_jobs_print_what_one_job_prints(cli, monkeypatch, output_format):
    monkeypatch.chdir(ROOT)
    one, two = (cli("--no-cache", "--output-format", output_format, "-j", jobs, "fixtures") for jobs in ("1", "2"))
    assert one.stdout.count("\n") > 100
    assert (two.exit_code, two.stdout, two.stderr) == (one.exit_code, one.stdout, one.stderr)


# --- --watch -----------------------------------------------------------------------------------------

WATCHING = "vglint: watching for changes"


class Watched:
    """`vglint check --watch` in a process of its own, its output read line by line as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "VGLINT_NO_CACHE", "VGLINT_CACHE_DIR")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vglint", "check", "--watch", *args],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True).start()

    def until_watching(self, timeout: float = 20) -> list[str]:
        """The lines of one report, up to the line that says vglint is watching again."""
        seen, deadline = [], time.monotonic() + timeout
        while not seen or not seen[-1].startswith(WATCHING):
            seen.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
        return seen

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def watched(project):
    started: list[Watched] = []

    def start(*args: str) -> Watched:
        started.append(Watched(*args, cwd=project.root))
        return started[-1]

    yield start
    for process in started:
        process.close()


def test_watch_checks_again_when_a_file_changes_and_ctrl_c_exits_0(project, watched):
    pytest.importorskip("watchfiles")
    project.write("models/net.py", CLEAN_SOURCE)
    watch = watched("--output-format", "concise", "models")
    first = watch.until_watching()
    assert any(line.startswith("All checks passed!") for line in first)

    project.write("models/net.py", VG105_SOURCE)
    second = watch.until_watching()
    assert "--- files changed; checking again ---\n" in second
    assert any(line.startswith("models/net.py:3:11: VG105 ") for line in second)
    assert watch.interrupt() == 0


def test_watch_ignores_files_that_are_not_python(project, watched):
    pytest.importorskip("watchfiles")
    project.write("models/net.py", CLEAN_SOURCE)
    watch = watched("--output-format", "concise", "models")
    watch.until_watching()
    project.write("models/notes.txt", "not code")
    with pytest.raises(queue.Empty):  # watchfiles reports a change within its 1.6 s debounce
        watch.lines.get(timeout=4)
    project.write("models/net.py", VG105_SOURCE)  # still watching
    assert any(line.startswith("models/net.py:3:11: VG105 ") for line in watch.until_watching())
    assert watch.interrupt() == 0


def test_watch_without_watchfiles_says_how_to_install_it(project, main, monkeypatch):
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # `import watchfiles` raises ImportError
    project.write("net.py", CLEAN_SOURCE)
    run = main("check", "--watch", "net.py")
    assert run.code == 2
    assert run.stderr == "vglint: error: --watch needs watchfiles: pip install 'vglint[watch]'\n"


# --- the progress bar --------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_only():
    terminal = FakeTerminal()
    show = progress_bar("checking files", stream=terminal)
    for done in (1, 2, 3):
        show(done, 3)
    assert "checking files" in terminal.getvalue() and "3/3" in terminal.getvalue()
    assert progress_bar("checking files", stream=io.StringIO()) is None


def test_the_progress_bar_waits_before_it_draws():
    terminal = FakeTerminal()
    show = progress_bar("checking files", stream=terminal, after_s=3600)
    show(1, 3)
    show(3, 3)
    assert terminal.getvalue() == ""


def check_on_a_terminal(monkeypatch, main, *args: str) -> str:
    """Run `vglint check ARGS` in-process with stderr on a pseudo-terminal; what the terminal got."""
    monkeypatch.setattr(cli_module, "PROGRESS_AFTER_S", 0)
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        main("check", *args)
        terminal.flush()
    shown = b""
    os.set_blocking(leader, False)
    try:
        while chunk := os.read(leader, 65536):
            shown += chunk
    except (BlockingIOError, OSError):
        pass
    os.close(leader)
    return shown.decode("utf-8", "replace")


def test_check_shows_progress_on_a_terminal_and_not_for_json_or_quiet(project, main, monkeypatch):
    for name in ("a.py", "b.py", "c.py"):
        project.write(name, CLEAN_SOURCE)
    assert "checking files" in check_on_a_terminal(monkeypatch, main, "--no-cache", ".")
    assert "checking files" not in check_on_a_terminal(monkeypatch, main, "--no-cache", "--output-format", "json", ".")
    assert "checking files" not in check_on_a_terminal(monkeypatch, main, "--no-cache", "-q", ".")


def test_check_shows_no_progress_when_stderr_is_not_a_terminal(project, cli, monkeypatch):
    monkeypatch.setattr(cli_module, "PROGRESS_AFTER_S", 0)
    for name in ("a.py", "b.py", "c.py"):
        project.write(name, CLEAN_SOURCE)
    result = cli("--no-cache", ".")
    assert result.stderr == ""
    assert result.stdout.startswith("All checks passed!")
