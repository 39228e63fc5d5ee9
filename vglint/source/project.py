"""The project a checked file belongs to, and which of its files a module name means.

A project is the folder at or above the checked file that holds `pyproject.toml`, `setup.py`,
`setup.cfg` or `.git`; with none of them, it is the folder above the file's top-level package (the
file's own folder when it is in no package). vglint reads other files of the project to follow
imports (`import model`, `from models.rnn import CharRNN`, `from ..layers import Block`,
`from mypkg.layers import Block`), and never a file outside it: not torch, not site-packages, not a
virtual environment inside the project.

Module names are looked up as Python would look them up for code in that file:

- relative names (`.blocks`, `..layers`) from the file's folder, one folder up per extra dot;
- absolute names (`model`, `models.rnn`, `mypkg.layers`) in the script's own folder (when it is
  not inside a package: `python main.py` puts that folder first on `sys.path`), the folder above
  the file's top-level package, the project root and its `src/` folder, in that order.

In one folder a package (`name/__init__.py`) comes before a module (`name.py`), and a folder
without `__init__.py` (a namespace package) counts only when no folder has either. Nothing here
parses or runs code: it only looks at which files exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")

#: Folders inside a project whose files are never the project's own code.
NOT_PROJECT_FOLDERS = frozenset({
    "site-packages", "dist-packages", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".git",
})  # fmt: skip

#: Top-level names that are never looked up in the project: the standard library, and torch, whose
#: meaning vglint knows (a project folder named `torch/` must not shadow it; `F` is how vglint
#: spells `torch.nn.functional`).
NEVER_FOLLOWED = frozenset(sys.stdlib_module_names) | {"torch", "F", "__future__", "__main__"}


#: What depends only on which files exist, shared by the files of one run (transformers' 530 model
#: files, each in a folder of its own, looked up the same twenty modules, a dozen `stat` calls
#: each): module files by (project root, relative or not, where the lookup starts, dotted parts),
#: where it starts being the folder a relative name counts its dots from or the folders an
#: absolute name is looked up in (`Project.top_folders`); project roots, import bases and whether
#: a folder is a package, by folder. `forget_files` clears them when a run starts, as files may
#: have come and gone since the last one.
_found_in_run: dict[tuple[Path, bool, tuple[Path, ...], tuple[str, ...]], Path | None] = {}
_roots_in_run: dict[Path, Path] = {}
_bases_in_run: dict[Path, Path] = {}
_packages_in_run: dict[Path, bool] = {}


def forget_files() -> None:
    """Look at the files afresh: a new run (of the CLI, a watch, an editor's check) begins."""
    _found_in_run.clear()
    _roots_in_run.clear()
    _bases_in_run.clear()
    _packages_in_run.clear()


def _is_package(folder: Path) -> bool:
    if folder not in _packages_in_run:
        _packages_in_run[folder] = (folder / "__init__.py").is_file()
    return _packages_in_run[folder]


class Project:
    """One project: its root (resolved), and the module files found in it, each looked up once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._found: dict[tuple[Path, str], Path | None] = {}

    @property
    def lookups(self) -> dict[tuple[Path, str], Path | None]:
        """Every `module_path` answer so far, by (folder, name)."""
        return self._found

    def contains(self, path: Path) -> bool:
        """`path` (resolved) is the project's own code: inside the root, not in a virtual environment."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        return not any(part in NOT_PROJECT_FOLDERS for part in relative.parts)

    def module_path(self, name: str, folder: Path) -> Path | None:
        """The file of module `name` (`model`, `models.rnn`, `.blocks`, `..`) imported by code in
        `folder` (resolved): a `.py` file, a package's `__init__.py`, or the folder of a namespace
        package; None when it is not a module of the project."""
        key = (folder, name)
        if key not in self._found:
            self._found[key] = self._find(name, folder)
        return self._found[key]

    def _find(self, name: str, folder: Path) -> Path | None:
        dots = len(name) - len(name.lstrip("."))
        parts = tuple(p for p in name[dots:].split(".") if p)
        if dots:
            base = folder
            for _ in range(dots - 1):
                base = base.parent
            start: tuple[Path, ...] = (base,)
        elif not parts or parts[0] in NEVER_FOLLOWED:
            return None
        else:
            start = self.top_folders(folder)
        shared = (self.root, bool(dots), start, parts)
        if shared not in _found_in_run:
            _found_in_run[shared] = self._find_from(start, parts, relative=bool(dots))
        return _found_in_run[shared]

    def top_folders(self, folder: Path) -> tuple[Path, ...]:
        """Where an absolute name imported by code in `folder` is looked up, in order."""
        bases = [] if _is_package(folder) else [folder]  # a script's folder is the first entry of sys.path
        return tuple(dict.fromkeys([*bases, import_base(folder), self.root, self.root / "src"]))

    def _find_from(self, start: tuple[Path, ...], parts: tuple[str, ...], relative: bool) -> Path | None:
        found: Path | None
        rest = list(parts)
        if relative:
            base = start[0]
            if rest:
                found = _locate(base, rest.pop(0))
            else:  # `from . import blocks`, `from .. import layers`: the package itself
                found = base / "__init__.py" if _is_package(base) else base
        else:
            found = self._locate_top(rest.pop(0), start)
        for part in rest:
            if found is None:
                return None
            if found.is_dir():
                found = _locate(found, part)
            elif found.name == "__init__.py":
                found = _locate(found.parent, part)
            else:
                return None  # `model.RNNModel`: a name in model.py, not a module
        if found is None:
            return None
        resolved = found.resolve()
        return resolved if self.contains(resolved) else None

    def _locate_top(self, top: str, bases: tuple[Path, ...]) -> Path | None:
        namespace = None
        for base in bases:
            found = _locate(base, top)
            if found is None or not self.contains(found.resolve()):
                continue
            if not found.is_dir():
                return found
            namespace = namespace or found
        return namespace


def _locate(folder: Path, name: str) -> Path | None:
    """`name` in `folder`: its package's `__init__.py`, its `.py` file, or a namespace package folder."""
    init = folder / name / "__init__.py"
    if init.is_file():
        return init
    module = folder / f"{name}.py"
    if module.is_file():
        return module
    return folder / name if (folder / name).is_dir() else None


def import_base(folder: Path) -> Path:
    """The folder above the top-level package that `folder` is in (`src/` for src/mypkg/models),
    or `folder` itself when it is no package."""
    start = folder
    if start not in _bases_in_run:
        while _is_package(folder) and folder.parent != folder:
            folder = folder.parent
        _bases_in_run[start] = folder
    return _bases_in_run[start]


def find_project(path: Path) -> Project:
    """The project of the file at `path` (resolved)."""
    folder = path.parent
    if folder not in _roots_in_run:
        for candidate in (folder, *folder.parents):
            if candidate.name in NOT_PROJECT_FOLDERS:
                # an installed package (site-packages/transformers/...): only that package is its
                # project; a module right in site-packages is a project of its own
                inside = path.relative_to(candidate).parts
                if len(inside) == 1:
                    return Project(path)
                _roots_in_run[folder] = candidate / inside[0]
                break
            if any((candidate / marker).exists() for marker in ROOT_MARKERS):
                _roots_in_run[folder] = candidate
                break
        else:
            _roots_in_run[folder] = import_base(folder)
    return Project(_roots_in_run[folder])
