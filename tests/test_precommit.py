"""The pre-commit hook, run by the real pre-commit on a git repository, as a user's config names it.

The hook's repository is a committed copy of this checkout (tracked and untracked files, as the
working tree has them), pinned by its commit SHA as the README tells users to. pre-commit
installs it in its own virtualenv from the package index, once for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLEAN_SOURCE, deep_mlp_source

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git, which is not installed")


#: No user or system git configuration (hooks paths, signing), an author for the commits.
GIT_ENVIRONMENT = dict(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_AUTHOR_NAME="t",
                       GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")  # fmt: skip


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pre-commit's store (the hook's virtualenv) in a temporary folder shared by the module's tests."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    return dict(os.environ, **GIT_ENVIRONMENT, PRE_COMMIT_HOME=str(home), NO_COLOR="1")


def git(*args: str, cwd: Path, environment: dict[str, str]) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=environment)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def hook_repository(tmp_path_factory: pytest.TempPathFactory, environment: dict[str, str]) -> tuple[Path, str]:
    """A git repository holding this checkout's files, committed: its path and commit SHA."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the hook's files cannot be listed")
    copy = tmp_path_factory.mktemp("vglint-hook")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT, environment=dict(os.environ))
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a file deleted in the working tree is still listed as cached
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "hook under test"]):
        git(*command, cwd=copy, environment=environment)
    return copy, git("rev-parse", "HEAD", cwd=copy, environment=environment)


@pytest.fixture(scope="module")
def user_repository(tmp_path_factory: pytest.TempPathFactory, hook_repository: tuple[Path, str],
                    environment: dict[str, str]) -> Path:  # fmt: skip
    """A user's repository with a bad and a good model, and a config naming the hook by SHA."""
    hook_path, sha = hook_repository
    root = tmp_path_factory.mktemp("user-repo")
    (root / "bad.py").write_text(deep_mlp_source())
    (root / "good.py").write_text(CLEAN_SOURCE)
    (root / "notes.txt").write_text("no Python here\n")
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": deep_mlp_source()}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "model.ipynb").write_text(json.dumps(notebook))
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_path}\n    rev: {sha}\n    hooks:\n      - id: vglint\n"
    )
    git("init", "-q", cwd=root, environment=environment)
    git("add", ".pre-commit-config.yaml", cwd=root, environment=environment)
    return root


def pre_commit(*args: str, cwd: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=300)  # fmt: skip


def test_the_hook_fails_on_a_deep_sigmoid_mlp_and_names_its_findings(user_repository, environment) -> None:
    done = pre_commit("run", "--files", "bad.py", "good.py", cwd=user_repository, environment=environment)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed" in done.stdout and "bad.py:" in done.stdout, done.stdout
    assert all(code in done.stdout for code in ("VG101", "VG102", "VG103", "VG104")), done.stdout
    assert "good.py:" not in done.stdout


def test_the_hook_checks_notebooks(user_repository, environment) -> None:
    done = pre_commit("run", "--files", "model.ipynb", cwd=user_repository, environment=environment)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "model.ipynb:" in done.stdout and "VG101" in done.stdout, done.stdout


def test_the_hook_passes_on_a_clean_model(user_repository, environment) -> None:
    done = pre_commit("run", "--files", "good.py", cwd=user_repository, environment=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "vglint" in done.stdout and "Passed" in done.stdout, done.stdout


def test_a_commit_without_python_files_skips_the_hook(user_repository, environment) -> None:
    """Installed as the git hook: the commit goes through, pre-commit says it had nothing to check."""
    installed = pre_commit("install", cwd=user_repository, environment=environment)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    git("add", "notes.txt", cwd=user_repository, environment=environment)
    done = subprocess.run(["git", "commit", "-m", "notes"], cwd=user_repository, capture_output=True, text=True,
                          env=environment, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(no files to check)Skipped" in done.stdout + done.stderr
    assert git("log", "--format=%s", cwd=user_repository, environment=environment) == "notes"
