"""Where a finding is, as CI services read it: paths relative to the repository root, not to where
vglint ran, and a notebook's cell in the message (their lines count within the cell)."""

from __future__ import annotations

import os
from pathlib import Path

from vglint.findings import Finding


def repository_root(start: Path) -> Path:
    """The nearest folder at or above `start` that holds `.git`, else `start` itself.

    GitHub resolves SARIF locations and annotations against the repository's root, and a job may
    run vglint in a subfolder of it (`working-directory:`).
    """
    start = Path(os.path.abspath(start))
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def root_relative(filename: str, root: Path) -> str | None:
    """`filename` (as a finding names it: relative to the working directory, or absolute) relative
    to `root`, with forward slashes; None for a file outside `root`."""
    path = Path(os.path.abspath(filename))
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def ci_message(finding: Finding) -> str:
    """The message, after the notebook cell its line counts in, and with the probe's verdict."""
    cell = f"cell {finding.cell}: " if finding.cell is not None else ""
    return cell + finding.message + (f" [{finding.verdict}]" if finding.verdict else "")
