"""vglint's static rules as a flake8 plugin: `flake8 --select VG` (entry point `VG = vglint.flake8:Plugin`).

The configuration is the nearest `[tool.vglint]` above each file, as `vglint check` reads it
(selection, rule options, per-file-ignores, excludes); flake8's own `--select`, `--ignore` and
`# noqa` apply on top. flake8 runs tree plugins only on files Python parses, and reports the
others itself as E999, so a syntax error is never reported twice; VG001 still comes out for a
file Python parses and libcst does not, so that no file goes unchecked in silence.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

from vglint import __version__
from vglint.config import Settings, find_config, load_config
from vglint.engine import check_source, discover, make_rules
from vglint.rules import Rule
from vglint.source.parse import encoded


@functools.cache
def _configured(directory: str) -> tuple[Settings, list[Rule]]:
    """The settings and rules for the files of one folder: read once per folder, not once per file."""
    found = find_config(Path(directory))
    settings = load_config(found, Settings()) if found else Settings()
    return settings, make_rules(settings)


class Plugin:
    name = "vglint"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        """(line, 0-based column, "CODE message", type) per finding: flake8 shows the column plus one,
        so the column it prints is vglint's 1-based one."""
        settings, rules = _configured(str(Path(self.filename).absolute().parent))  # stdin: the working directory's
        if not discover([self.filename], settings, force_exclude=True)[0]:
            return
        findings, errors = check_source(encoded("".join(self.lines)), self.filename, rules, settings)
        for error in errors:
            print(f"vglint: internal error: {error}", file=sys.stderr)
        for finding in findings:
            yield finding.span.line, finding.span.column - 1, f"{finding.code} {finding.message}", type(self)
