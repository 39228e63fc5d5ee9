"""A baseline: the findings a code base already had, so that a run reports only new ones.

`vglint check --write-baseline FILE` records each finding as an entry: its path (relative to the
baseline's folder, so the file works from any working directory), code, model, the fingerprint of
`vglint.fingerprints` (path, code, model, hash of the normalised source line: no line number, so an
entry survives code added above it), and its line and message for the humans who read the file.
`--baseline FILE` hides each finding that matches an entry. Matching counts: two entries with one
fingerprint hide two findings, not a third. An entry that matched nothing in a file the run
checked, or whose file is gone, is stale: the code it was written for changed or went away.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vglint.findings import Finding
from vglint.fingerprints import fingerprint

VERSION = 1

#: The text of the line a finding is reported on ("" when it cannot be read).
LineText = Callable[[Finding], str]


class BaselineError(Exception):
    """A baseline file that cannot be read, parsed or written; the message is one line."""


@dataclass(frozen=True)
class Entry:
    path: str
    code: str
    model: str | None
    fingerprint: str
    line: int
    message: str


@dataclass
class Matched:
    """A run's findings split by a baseline: those it did not hide, how many it hid, and its stale entries."""

    new: list[Finding]
    hidden: int
    stale: list[Entry] = field(default_factory=list)


def _relative(filename: str, folder: Path) -> str:
    return Path(os.path.relpath(os.path.abspath(filename), folder)).as_posix()


def entries(findings: list[Finding], line_text: LineText, folder: Path) -> list[Entry]:
    """One entry per finding, with paths relative to `folder` (the baseline's)."""
    made = []
    for finding in findings:
        path = _relative(finding.filename, folder)
        key = fingerprint(dataclasses.replace(finding, filename=path), line_text(finding))
        made.append(Entry(path, finding.code, finding.model, key, finding.span.line, finding.message))
    return made


def write(path: Path, findings: list[Finding], line_text: LineText) -> int:
    """Write the baseline of `findings` to `path` atomically (a temporary file in the same folder,
    then `os.replace`: a reader never sees half a file, an old baseline survives a failed write).
    Returns the number of entries written."""
    made = entries(findings, line_text, path.absolute().parent)
    text = json.dumps({"version": VERSION, "findings": [dataclasses.asdict(e) for e in made]}, indent=2) + "\n"
    temporary = None
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.absolute().parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False) as out:  # fmt: skip
            temporary = out.name
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise BaselineError(f"cannot write baseline {path}: {error.strerror or error}") from None
    return len(made)


def read(path: Path) -> list[Entry]:
    """The entries of a baseline file; BaselineError says in one line why it cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BaselineError(f"cannot read baseline {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"baseline {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("findings"), list):
        raise BaselineError(
            f"baseline {path} is not a vglint baseline (version {VERSION}): rewrite it with --write-baseline"
        )
    try:
        return [_entry(item) for item in data["findings"]]
    except (TypeError, ValueError) as error:
        raise BaselineError(f"baseline {path} has a bad entry: {error}") from None


def _entry(item: object) -> Entry:
    if not isinstance(item, dict):
        raise ValueError("an entry is not an object")
    entry = Entry(**{name: item.get(name) for name in Entry.__dataclass_fields__})
    if not all(isinstance(v, str) for v in (entry.path, entry.code, entry.fingerprint)):
        raise ValueError("path, code and fingerprint must be strings")
    return entry


def match(findings: list[Finding], baseline: list[Entry], line_text: LineText, folder: Path,
          checked: set[str]) -> Matched:  # fmt: skip
    """Hide the findings the baseline holds, one entry for one finding. `folder` is the baseline's,
    `checked` the files the run checked (as findings name them): only their entries, and those of
    files that no longer exist, can be stale."""
    unmatched: dict[str, list[Entry]] = {}
    for entry in baseline:
        unmatched.setdefault(entry.fingerprint, []).append(entry)
    new = []
    for finding, entry in zip(findings, entries(findings, line_text, folder)):
        if unmatched.get(entry.fingerprint):
            unmatched[entry.fingerprint].pop(0)
        else:
            new.append(finding)
    judged = {_relative(name, folder) for name in checked}
    left = [e for group in unmatched.values() for e in group]
    stale = [e for e in left if e.path in judged or not (folder / e.path).exists()]
    stale.sort(key=lambda e: (e.path, e.line, e.code))
    return Matched(new, len(findings) - len(new), stale)
