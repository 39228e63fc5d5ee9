"""The result cache: each file's static findings, kept in `.vglint_cache/` and reused while they
cannot have changed.

An entry is found by the file's path (as given and as shown), vglint's version and code, the
settings that change findings and the detail flag; it is reused only while the file's content, the
project root, every module lookup its analysis made (`from models.rnn import CharRNN`: which file,
or none) and the content of every project file it read are as they were. A missing, unreadable,
corrupt or stale entry is a miss and is overwritten. Entries are pickles of vglint's own
dataclasses, read only by the version and code that wrote them; writes are atomic (a temporary
file, then `os.replace`), so concurrent runs never see half an entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import vglint
from vglint.analysis import ProjectReads
from vglint.config import Settings
from vglint.source.project import Project, find_project

FOLDER_NAME = ".vglint_cache"

#: The signature line that tells backup and archiving tools to skip the folder (bford.info/cachedir).
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by vglint.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)

_DIRECTORY = "<dir>"  # the content hash of a namespace package folder, which the analysis reads as empty


def default_folder(settings: Settings) -> Path:
    """As ruff does: `cache-dir` from the configuration, else `.vglint_cache` beside the
    configuration file, else in the working directory."""
    if settings.cache_dir is not None:
        return settings.cache_dir
    if settings.config_file is not None:
        return Path(os.path.abspath(settings.config_file)).parent / FOLDER_NAME
    return Path(FOLDER_NAME)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _code_fingerprint() -> str:
    """vglint's version and the size and time of each of its source files: an edited checkout
    (an editable install) does not reuse what older code found."""
    package = Path(vglint.__file__).parent
    stats = []
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        stats.append(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}")
    return _digest("\n".join([vglint.__version__, *stats]).encode())


def settings_key(settings: Settings, codes: list[str]) -> str:
    """What of the settings can change a file's static findings; not the excludes (which files
    are checked) nor `fail-on` (the exit code, computed from the findings)."""
    relevant = {
        "codes": codes,
        "rule_options": settings.rule_options,
        "per_file_ignores": settings.per_file_ignores,
        "sequence_length": settings.sequence_length,
        "config_file": None if settings.config_file is None else os.path.abspath(settings.config_file),
        "models": {target: dataclasses.asdict(spec) for target, spec in settings.models.items()},
        "probe_spatial_size": settings.probe_spatial_size,
    }
    return json.dumps(relevant, sort_keys=True, default=str)


class Cache:
    """One run's view of the cache folder. Content hashes and module lookups are computed once per
    run, so the modules that a hundred files import are hashed once."""

    def __init__(self, folder: Path, settings: Settings, codes: list[str], detail: bool) -> None:
        self.root = folder
        self.folder = folder / vglint.__version__
        self._key = _digest(f"{_code_fingerprint()}\n{settings_key(settings, codes)}\n{detail}".encode())
        self._hashes: dict[Path, str | None] = {}
        self._projects: dict[Path, Project] = {}
        self._prepared = False

    def load(self, path: str, name: str) -> Any | None:
        """The outcome stored for the file, if nothing it depends on has changed; else None."""
        try:
            entry = pickle.loads(self._entry_path(path, name).read_bytes())
            if entry["name"] != name or entry["source"] != self._hash(Path(os.path.abspath(path))):
                return None
            if not self._still_valid(Path(path), entry):
                return None
            return entry["outcome"]
        except Exception:  # missing, unreadable, corrupt, or written by other code: a miss
            return None

    def store(self, path: str, name: str, outcome: Any, reads: ProjectReads) -> None:
        """Keep the outcome; a file that cannot be written leaves the run as it was, uncached."""
        source = self._hash(Path(os.path.abspath(path)))
        if source is None:
            return
        entry = {
            "name": name,
            "source": source,
            "root": reads.root,
            "lookups": reads.lookups,
            "files": {file: self._hash(file) for file in reads.files},
            "outcome": outcome,
        }
        try:
            self._prepare()
            _write_atomically(self._entry_path(path, name), pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass

    def _still_valid(self, path: Path, entry: dict) -> bool:
        root = entry["root"]
        if root is None:  # the analysis never looked at the project
            return True
        if find_project(path.resolve()).root != root:
            return False
        project = self._projects.setdefault(root, Project(root))
        if any(project.module_path(name, folder) != found for (folder, name), found in entry["lookups"].items()):
            return False
        return all(self._hash(file) == digest for file, digest in entry["files"].items())

    def _entry_path(self, path: str, name: str) -> Path:
        key = "\n".join([self._key, os.path.abspath(path), name])
        return self.folder / f"{_digest(key.encode())}.pickle"

    def _hash(self, path: Path) -> str | None:
        if path not in self._hashes:
            try:
                self._hashes[path] = _digest(path.read_bytes())
            except IsADirectoryError:
                self._hashes[path] = _DIRECTORY
            except OSError:
                self._hashes[path] = None
        return self._hashes[path]

    def _prepare(self) -> None:
        """The folder, with the tag that backup tools honour and a .gitignore that keeps it out of git."""
        if self._prepared:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")):
            if not (self.root / name).is_file():
                _write_atomically(self.root / name, text.encode())
        self._prepared = True


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
