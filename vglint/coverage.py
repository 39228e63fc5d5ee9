"""What vglint understood of each file's models: fully, partly (and why), or not at all (and why).

Silence must mean something: a run ends with one line that counts the models it analysed fully,
those it understood only in part (uncertain or approximate, by the kind of the first gap), and
those it skipped (a budget or a time limit ran out, or the front-end failed on them). `-v` lists
each model with its status and each gap with its line.

The counts read only the gap kinds; names, lines and source text (`detail`) cost a positions pass
over the file, so they are computed only for `-v`. A `FileCoverage` is small and picklable: worker
processes send it back to the parent with the findings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from vglint.analysis import FileAnalysis

FULL, PARTLY, SKIPPED = "fully analysed", "partly", "skipped"
SHOWN_REASONS = 3  # gaps listed per model by `-v`
SHOWN_KINDS = 3  # kinds of gap named in the coverage line; the rest are counted as "other"


@dataclass(frozen=True)
class ModelCoverage:
    """One model. `kinds` are the labels of its gaps, in the order they were met (for a skipped
    model, why it was skipped); `line` and `reasons` (what, line, cell) are filled only with detail.
    `cell` is the notebook cell that `line` counts in (None in a Python file)."""

    name: str
    status: str
    kinds: tuple[str, ...] = ()
    line: int | None = None
    reasons: tuple[tuple[str, int | None, int | None], ...] = ()
    #: Graph mode only: `built` (on cpu or meta), else why the model could not be built, as a
    #: label (`needs arguments`); `build_detail` is the worker's whole reason, kept for `-v`.
    built: str | None = None
    build_detail: str | None = None
    cell: int | None = None


#: A failed build's kind (see vglint.build.pool) as the coverage line counts it.
BUILD_FAILURES = {
    "needs-arguments": "needs arguments", "input": "input unknown", "forward": "forward raised",
    "raise": "build raised", "import": "import failed", "not-found": "not importable", "not-a-module": "not a module",
    "timeout": "time limit", "memory": "memory limit", "crash": "crashed",
}  # fmt: skip
BUILT = "built"


@dataclass
class FileCoverage:
    filename: str
    models: list[ModelCoverage] = field(default_factory=list)
    unreadable: bool = False  # it could not be read or parsed (a VG001 finding says why)
    failed: bool = False  # vglint itself failed on it (an internal error says why)


def _unique(items: list) -> tuple:
    return tuple(dict.fromkeys(items))


def file_coverage(analysis: FileAnalysis, detail: bool = False) -> FileCoverage:
    """The coverage of one analysed file; `detail` adds lines and the code each gap is about."""
    if analysis.unreadable is not None:
        return FileCoverage(analysis.filename, unreadable=True)
    models: list[ModelCoverage] = []
    for graph in analysis.models:
        reasons = graph.reasons
        status = PARTLY if reasons else FULL
        kinds = _unique([reason.gap.label for reason in reasons])
        if not detail:
            models.append(ModelCoverage(graph.name, status, kinds))
            continue
        listed = _unique([(reason.what, reason.site.span.line if reason.site.local else None, None) for reason in reasons])
        models.append(ModelCoverage(graph.name, status, kinds, graph.span.line, listed))
    for skipped in analysis.skipped:
        line = skipped.site.span.line if detail else None
        models.append(ModelCoverage(skipped.name, SKIPPED, (skipped.why,), line))
    if detail:
        models.sort(key=lambda m: m.line or 0)
    return FileCoverage(analysis.filename, models)


def _counted(labels: list[str]) -> str:
    """`unknown layer factory` when all agree, else `3 unknown layer factory, 1 loop not run`."""
    counts = sorted(Counter(labels).items(), key=lambda kv: (-kv[1], kv[0]))
    if len(counts) == 1:
        return labels[0]
    named = counts if len(counts) <= SHOWN_KINDS + 1 else counts[:SHOWN_KINDS]
    parts = [f"{n} {label}" for label, n in named]
    if len(named) < len(counts):
        parts.append(f"{sum(n for _, n in counts[len(named):])} other")
    return ", ".join(parts)


def coverage_line(files: list[FileCoverage], files_checked: int) -> str:
    """`12 models in 9 files: 9 fully analysed, 2 partly (unknown layer factory), 1 skipped (analysis budget)`;
    in graph mode also `; 10 of 12 built (2 not: needs arguments)`."""
    models = [m for f in files for m in f.models]
    line = f"{len(models)} model{'s' * (len(models) != 1)} in {files_checked} file{'s' * (files_checked != 1)}"
    if models:
        parts = [f"{sum(1 for m in models if m.status == FULL)} fully analysed"]
        for status in (PARTLY, SKIPPED):
            these = [m for m in models if m.status == status]
            if these:
                parts.append(f"{len(these)} {status} ({_counted([m.kinds[0] for m in these])})")
        line += ": " + ", ".join(parts)
    asked = [m for m in models if m.built is not None]
    if asked:
        failed = [m.built for m in asked if m.built != BUILT]
        line += f"; {len(asked) - len(failed)} of {len(asked)} built"
        if failed:
            line += f" ({len(failed)} not: {_counted(failed)})"
    for count, what in ((sum(f.unreadable for f in files), "could not be read or parsed"),
                        (sum(f.failed for f in files), "failed (internal error)")):  # fmt: skip
        if count:
            line += f"; {count} file{'s' * (count != 1)} {what}"
    return line + "\n"


def _line(line: int, cell: int | None) -> str:
    """`line 12`, or `cell 3, line 12` in a notebook."""
    return f"line {line}" if cell is None else f"cell {cell}, line {line}"


def model_listing(files: list[FileCoverage]) -> str:
    """`-v`: one line per model, `file:line: Name: status`, with its gaps and their lines."""
    out: list[str] = []
    for f in files:
        for m in f.models:
            where = f"{f.filename}:" + (f"cell {m.cell}:" if m.cell is not None else "") + (f"{m.line}:" if m.line is not None else "")
            if m.status == SKIPPED and m.built not in (None, BUILT):  # named in the configuration only
                out.append(f"{where} {m.name}: not built ({m.build_detail or m.built})")
                continue
            if m.status == SKIPPED:
                out.append(f"{where} {m.name}: skipped ({m.kinds[0]})")
            elif m.status == PARTLY:
                listed = sorted(m.reasons, key=lambda r: r[1] is None)[:SHOWN_REASONS]  # this file's first
                reasons = "; ".join(what if line is None else f"{what}, {_line(line, cell)}" for what, line, cell in listed)
                if len(m.reasons) > len(listed):
                    reasons += f"; {len(m.reasons) - len(listed)} more (vglint inspect lists them all)"
                out.append(f"{where} {m.name}: partly analysed ({reasons or ', '.join(m.kinds)})")
            else:
                out.append(f"{where} {m.name}: fully analysed")
            if m.built == BUILT:
                out[-1] += f"; built ({m.build_detail})" if m.build_detail else "; built"
            elif m.built is not None:
                out[-1] += f"; not built ({m.build_detail or m.built})"
        if f.unreadable:
            out.append(f"{f.filename}: not analysed (could not be read or parsed)")
        elif f.failed:
            out.append(f"{f.filename}: not analysed (internal error)")
    return "".join(line + "\n" for line in out)
