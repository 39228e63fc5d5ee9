"""Jupyter notebooks as one Python source: the code cells in order, IPython's own syntax made harmless.

A notebook is analysed as its kernel runs it, top to bottom: the code cells joined into one source
(the source front-end already reads a script's top level as training code, and a class redefined in
a later cell as a model of its own). Markdown and raw cells are left out. Lines that IPython reads
and Python cannot (`%matplotlib inline`, `!pip install torch`, `files = !ls`, `model?`) become
`pass` at their indentation, and a cell whose cell magic runs something other than Python
(`%%bash`, `%%writefile`) becomes blank lines. No line is added or removed, so every line of the
source maps back to one cell and one line in it, which is where findings are reported.

Cells are numbered from 1 among all the cells of the notebook, markdown included: the number a
user finds by counting the cells from the top.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from dataclasses import dataclass

from vglint.coverage import FileCoverage
from vglint.findings import Finding, Span

SUFFIX = ".ipynb"

#: Cell magics whose body is Python that the kernel runs: the body is analysed, the magic line is not.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"})

#: Lines Python cannot parse and IPython runs: a shell escape or line magic (`!ls`, `%time f()`), a
#: help request (`?obj`, `obj?`, `obj.method??`), the output of either assigned (`x = !ls`).
_IPYTHON_LINE = re.compile(r"\s*(?:[!%]|\?+[\w.*]|[\w.*]+\?{1,2}\s*$|[\w.,\s]+=\s*[!%])")


class NotebookError(ValueError):
    """The file is not an nbformat-4 notebook; the message and `span` (in the file) are VG001's."""

    def __init__(self, message: str, span: Span | None = None) -> None:
        super().__init__(message)
        self.span = span or Span.at(1)


@dataclass(frozen=True)
class Notebook:
    """The code cells as one Python `source`, and what maps its lines back to the cells."""

    source: str
    #: (cell number, first line of the cell in `source`), for each code cell in order.
    starts: tuple[tuple[int, int], ...]
    #: Each code cell's lines as the notebook holds them (magics included), by cell number.
    cells: dict[int, list[str]]

    def locate(self, line: int) -> tuple[int, int]:
        """(cell number, line in that cell) of a line of `source`."""
        index = bisect.bisect_right([first for _, first in self.starts], line) - 1
        if index < 0:  # no code cell holds it (a position past an empty notebook's source)
            return (self.starts[0][0] if self.starts else 1), line
        cell, first = self.starts[index]
        return cell, line - first + 1

    def _span(self, span: Span) -> tuple[int, Span]:
        cell, line = self.locate(span.line)
        return cell, Span(line, span.column, span.end_line - span.line + line, span.end_column)

    def in_cells(self, finding: Finding) -> Finding:
        """The finding with its spans (and its related place's) counted within their cells."""
        cell, span = self._span(finding.span)
        related_cell, related = self._span(finding.related) if finding.related is not None else (None, None)
        return dataclasses.replace(finding, span=span, cell=cell, related=related, related_cell=related_cell)

    def _reason(self, what: str, line: int | None) -> tuple[str, int | None, int | None]:
        if line is None:  # a gap in another module
            return what, None, None
        cell, line = self.locate(line)
        return what, line, cell

    def coverage_in_cells(self, coverage: FileCoverage) -> FileCoverage:
        """The coverage with each model's line and its gaps' lines counted within their cells."""
        models = []
        for model in coverage.models:
            cell, line = self.locate(model.line) if model.line is not None else (None, None)
            reasons = tuple(self._reason(what, at) for what, at, _ in model.reasons)
            models.append(dataclasses.replace(model, line=line, cell=cell, reasons=reasons))
        return dataclasses.replace(coverage, models=models)


def is_notebook(name: str) -> bool:
    return name.lower().endswith(SUFFIX)


def _cell_text(cell: dict, number: int) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise NotebookError(f"not a valid notebook: the source of cell {number} is not a string or a list of strings")


def python_lines(lines: list[str]) -> list[str]:
    """One cell's lines with IPython's syntax replaced, line for line."""
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        return [""] + (lines[1:] if magic in PYTHON_CELL_MAGICS else [""] * (len(lines) - 1))
    out: list[str] = []
    continued = False  # the line before was IPython's and ended with a backslash
    for line in lines:
        if continued or _IPYTHON_LINE.match(line):
            out.append(line[: len(line) - len(line.lstrip())] + "pass" if not continued else "")
            continued = line.rstrip().endswith("\\")
        else:
            out.append(line)
    return out


def read_notebook(data: bytes) -> Notebook:
    """The notebook's code cells as one source; NotebookError when the bytes are not nbformat-4 JSON."""
    try:
        document = json.loads(data)
    except json.JSONDecodeError as error:
        raise NotebookError(
            f"not a valid notebook: invalid JSON: {error.msg}", Span.at(error.lineno, error.colno)
        ) from None
    except UnicodeDecodeError as error:
        raise NotebookError(f"not a valid notebook: the file is not UTF-8 text ({error.reason})") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        version = document.get("nbformat") if isinstance(document, dict) else None
        if isinstance(version, int) and version < 4:
            raise NotebookError(f"nbformat {version} notebook: vglint reads nbformat 4 "
                                "(convert it with `jupyter nbconvert --to notebook --nbformat 4`)")  # fmt: skip
        raise NotebookError("not a valid notebook: no `cells` list at the top level of the JSON")
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    language = (
        (metadata.get("language_info") or {}).get("name") if isinstance(metadata.get("language_info"), dict) else None
    )
    python = language in (None, "python")  # an R or Julia notebook has no Python to check
    source: list[str] = []
    starts: list[tuple[int, int]] = []
    cells: dict[int, list[str]] = {}
    for number, cell in enumerate(document["cells"], 1):
        if not isinstance(cell, dict):
            raise NotebookError(f"not a valid notebook: cell {number} is not a JSON object")
        if cell.get("cell_type") != "code" or not python:
            continue
        lines = _cell_text(cell, number).splitlines()
        starts.append((number, len(source) + 1))
        cells[number] = lines
        source += python_lines(lines)
    return Notebook("".join(line + "\n" for line in source), tuple(starts), cells)
