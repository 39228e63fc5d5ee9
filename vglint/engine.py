"""Files -> front-end -> rules -> suppressions -> findings.

Each file is checked on its own (in parallel with `jobs` > 1), and a file that cannot be read
or parsed becomes a VG001 finding, so one bad file never loses the findings of the others.
"""

from __future__ import annotations

import fnmatch
import gc
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from vglint.analysis import FileAnalysis, ProjectReads
from vglint.cache import Cache
from vglint.config import Settings
from vglint.coverage import FileCoverage, file_coverage
from vglint.findings import Finding, Severity, Span, Status
from vglint.notebook import NotebookError, is_notebook, read_notebook
from vglint.rules import RULES_BY_CODE, Rule, select_codes
from vglint.rules.meta import UnusedNoqa
from vglint.source.frontend import SourceFrontend
from vglint.source.project import forget_files
from vglint.suppressions import ALL, parse_suppressions, unused_directives

STDIN = "-"

#: Deeply nested but valid code (a 2,000-term sum, a 1,500-branch elif) is analysed on a thread
#: with a stack this large and a recursion limit this high, instead of overflowing the default ones.
DEEP_STACK_BYTES = 512 * 1024 * 1024
DEEP_RECURSION_LIMIT = 30_000

T = TypeVar("T")
Task = tuple[str, str, Settings, bool]  # path, name shown, settings, coverage with detail (`-v`)
Outcome = tuple[list[Finding], list[str], list[str], FileCoverage]  # findings, warnings, internal errors, coverage


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    warnings: list[str] = field(default_factory=list)  # printed on stderr, never fatal
    internal_errors: list[str] = field(default_factory=list)  # make the run exit 2
    coverage: list[FileCoverage] = field(default_factory=list)  # what was understood of each file's models
    stdin_source: str | None = None  # what `-` read, for the source lines of the full output


def _relative_to_cwd(path: Path) -> Path | None:
    """The path relative to the working directory, without following symbolic links; None if outside it."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd())
    except ValueError:
        return None


def _excluded(path: Path, patterns: Iterable[str], root: Path | None = None) -> bool:
    """True when a pattern matches a folder or file name below `root`, or the path itself.

    Only names below `root` (the folder being walked; for a file named on the command line, the
    working directory) count, so checking `~/build/project/` does not exclude everything in it.
    """
    if root is not None:
        try:
            names = path.relative_to(root).parts
        except ValueError:
            names = path.parts
    else:
        relative = _relative_to_cwd(path)
        names = relative.parts if relative is not None else (path.name,)
    texts: set[str] | None = None
    for pattern in patterns:
        pattern = pattern.rstrip("/").removeprefix("./")
        if not pattern:
            continue
        if "/" not in pattern:
            if any(fnmatch.fnmatch(name, pattern) for name in names):
                return True
            continue
        if texts is None:  # the path as given, from the working directory, and absolute
            relative = _relative_to_cwd(path)
            texts = {path.as_posix(), Path(os.path.abspath(path)).as_posix()}
            texts |= {relative.as_posix()} if relative is not None else set()
        for text in texts:
            if any(fnmatch.fnmatch(text, form) for form in (pattern, f"*/{pattern}", f"{pattern}/*")):
                return True
    return False


def discover(paths: Iterable[str], settings: Settings, force_exclude: bool) -> tuple[list[Path], list[str]]:
    """Python files under `paths`, sorted, and a warning for each path that could not be walked."""
    patterns = [*settings.exclude, *settings.extend_exclude]
    found: list[Path] = []
    warnings_: list[str] = []
    for given in paths:
        path = Path(given)
        if force_exclude and _excluded(path, patterns):
            continue
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=lambda e: warnings_.append(f"{e.filename}: {e.strerror}")):
                dirs[:] = sorted(d for d in dirs if not _excluded(Path(root, d), patterns, path))
                found.extend(
                    Path(root, f) for f in sorted(files)
                    if f.endswith((".py", ".ipynb")) and not _excluded(Path(root, f), patterns, path)
                )
        else:
            found.append(path)  # named explicitly: the CLI has refused what is not Python (see `checkable`)
    by_file = {os.path.abspath(p): p for p in reversed(found)}  # one check per file, however it was named
    unique = sorted(by_file.values(), key=lambda p: display_name(p))
    return unique, warnings_


_PYTHON_SHEBANG = re.compile(rb"#!.*\b(python|pypy)[\d.]*(\s|$)")


def checkable(path: Path) -> bool:
    """True for a file vglint can check when it is named explicitly: `.py`, `.pyi`, `.ipynb`, or no
    extension and a Python shebang (`#!/usr/bin/env python3`). An extensionless file that cannot be
    read counts as Python, so that VG001 says why it could not be read."""
    if path.suffix.lower() in (".py", ".pyi", ".ipynb"):
        return True
    if path.suffix:
        return False
    try:
        with path.open("rb") as file:
            return bool(_PYTHON_SHEBANG.match(file.readline(256)))
    except OSError:
        return True


def display_name(path: Path) -> str:
    """The path relative to the working directory when it is inside it, else as given.

    Symbolic links are not followed: a finding in `link.py` is reported as `link.py`.
    """
    relative = _relative_to_cwd(path)
    return relative.as_posix() if relative is not None else path.as_posix()


def make_rules(settings: Settings) -> list[Rule]:
    return [RULES_BY_CODE[code](settings.rule_options.get(code)) for code in selected_codes(settings)]


def selected_codes(settings: Settings) -> list[str]:
    """Enabled codes, resolved layer by layer as ruff does (vglint's defaults, config, flags).

    A layer with `select` starts afresh from it; a layer without one edits the previous layer's
    rules. Within a layer the most specific selector wins and a tie goes to ignore.
    """
    enabled = {code for code, rule in RULES_BY_CODE.items() if rule.enabled_by_default}
    for layer in settings.selection:
        if layer.select is not None:
            enabled = set(select_codes(layer.select, layer.extend_select, layer.ignore))
            continue
        kept = set(select_codes(["ALL"], [], layer.ignore))  # codes this layer does not ignore at all
        added = set(select_codes([], layer.extend_select, layer.ignore))
        enabled = (enabled & kept) | added
    return [code for code in RULES_BY_CODE if code in enabled]


def _unparsable(rules: list[Rule], filename: str, span: Span, detail: str) -> tuple[list[Finding], list[str]]:
    """A VG001 finding, or a warning when VG001 is not selected: a file that was not checked is never silent."""
    rule = next((r for r in rules if r.code == "VG001"), None)
    if rule is None:
        return [], [f"{filename}:{span.line}:{span.column}: not checked: {detail}"]
    return [rule.finding(filename, span, detail=detail)], []


def check_source(source: bytes, filename: str, rules: list[Rule], settings: Settings) -> tuple[list[Finding], list[str]]:
    """Findings for one file's bytes (a notebook's when `filename` ends in .ipynb), after
    suppressions; and internal errors, if any."""
    forget_files()  # an editor's or flake8's check: the files may have changed since the last one
    check = _check_notebook if is_notebook(filename) else _check_source
    findings, _warnings, errors, _coverage = check(source, filename, rules, settings)
    return findings, errors


def _check_source(source: bytes, filename: str, rules: list[Rule], settings: Settings, detail: bool = False,
                  reads: ProjectReads | None = None) -> Outcome:  # fmt: skip
    """Findings, warnings, internal errors and coverage for one file's bytes; what of the project
    the analysis read is added to `reads`."""
    _settle_heap()
    try:
        with _collector_paused():
            return on_deep_stack(_check_parsed, source, filename, rules, settings, detail, reads)
    except RecursionError:
        findings, warnings_ = _unparsable(rules, filename, Span.at(1), "nesting too deep to analyse")
        text = source.decode("utf-8", errors="replace")
        return unsuppressed(findings, text, filename, settings), warnings_, [], FileCoverage(filename, unreadable=True)


def _settle_heap() -> None:
    """Collect the garbage of the file before, then move what is still alive (the parsed modules of
    the project that later files import again) out of the cyclic collector's reach. Left there,
    those long-lived trees are scanned over and over while each new file's tree is built: measured
    on transformers' model files, a third of the run. Frozen between files, nothing that dies
    later is kept: at that point the previous file's objects are already collected."""
    gc.collect()
    gc.freeze()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic cyclic collection while one file is parsed and analysed. Its tree and the
    interpreter's values are allocated by the hundred thousand and nearly all live until the file is
    done, so the collections that the allocations trigger find almost nothing and cost 15% of the
    run on transformers' model files; `_settle_heap` collects once per file instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_parsed(source: bytes, filename: str, rules: list[Rule], settings: Settings, detail: bool = False,
                  reads: ProjectReads | None = None) -> Outcome:  # fmt: skip
    analysis = SourceFrontend().analyse(filename, source)
    if reads is not None:
        reads.add(analysis.reads)
    coverage = file_coverage(analysis, detail)
    if analysis.unreadable is not None:
        findings, warnings_ = _unparsable(rules, filename, *analysis.unreadable)
        return unsuppressed(findings, analysis.text, filename, settings), warnings_, [], coverage
    findings, errors = check_analysis(analysis, rules, settings)
    return findings, [], [f"{filename}: front-end: {e}" for e in analysis.internal_errors] + errors, coverage


def check_analysis(analysis: FileAnalysis, rules: list[Rule], settings: Settings) -> tuple[list[Finding], list[str]]:
    """The rules on one analysed file, from any front-end: findings after suppressions, and the
    rules that failed (a rule bug must not lose the other rules' findings)."""
    analysis.sequence_length = settings.sequence_length
    findings: list[Finding] = []
    errors: list[str] = []
    for rule in rules:
        try:
            findings.extend(rule.check_file(analysis))
        except RecursionError:
            raise
        except Exception as error:
            if os.environ.get("VGLINT_DEBUG") == "1":
                raise
            errors.append(f"{analysis.filename}: {rule.code}: {type(error).__name__}: {error}")
    return unsuppressed(_deduplicated(findings), analysis.text, analysis.filename, settings, rules), errors


_deep_stack_lock = threading.Lock()


def on_deep_stack(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a thread with a large stack and recursion limit (inline if no thread starts)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised on the calling thread
            outcome["error"] = error

    with _deep_stack_lock:
        old_limit = sys.getrecursionlimit()
        try:
            old_size = threading.stack_size(DEEP_STACK_BYTES)
        except (ValueError, RuntimeError):
            return function(*args)
        # raised before the thread starts: it runs at once, and can recurse past the old limit
        # before this thread would get the interpreter back to raise it
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION_LIMIT))
        try:
            thread = threading.Thread(target=target, name="vglint-check", daemon=True)
            thread.start()
        except RuntimeError:  # no memory for such a stack: the default one will do for most files
            sys.setrecursionlimit(old_limit)
            return function(*args)
        finally:
            threading.stack_size(old_size)
        try:
            thread.join()
        finally:
            sys.setrecursionlimit(old_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _deduplicated(findings: list[Finding]) -> list[Finding]:
    """One finding per code and place: a class analysed alone and inside another reports once, the
    most severe, and of those one that needed no assumed values (a block built with the arguments
    of its construction is seen inside the model that builds it, with nothing assumed)."""
    best: dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.code, finding.span)
        rank = (finding.severity, "assumed" not in finding.evidence)
        if key not in best or rank > (best[key].severity, "assumed" not in best[key].evidence):
            best[key] = finding
    return list(best.values())


def unsuppressed(findings: list[Finding], text: str, filename: str, settings: Settings,
                 rules: list[Rule] = ()) -> list[Finding]:  # fmt: skip
    """The findings that no comment or `per-file-ignores` suppresses; with VG003 among `rules` (the
    rules that ran on an analysed file), also a finding for each comment that suppressed nothing."""
    unused_noqa = next((rule for rule in rules if rule.code == UnusedNoqa.code), None)
    if not findings and unused_noqa is None:
        return findings
    suppressions = parse_suppressions(text)
    ignored = [c for glob, codes in settings.per_file_ignores.items() for c in codes if _matches_file(filename, glob, settings)]

    def per_file_ignored(finding: Finding) -> bool:
        return any(finding.code.startswith(c) or c == "ALL" for c in ignored)

    kept, used = suppressions.apply([f for f in findings if not per_file_ignored(f)])
    if unused_noqa is None:
        return kept
    selected = {rule.code for rule in rules}
    judged = {code for code, rule in RULES_BY_CODE.items() if not rule.measured}
    for unused in unused_directives(suppressions, used, selected, judged, set(RULES_BY_CODE)):
        d = unused.directive
        finding = unused_noqa.unused(filename, Span(d.line, d.column, d.line, d.end_column), unused.unused,
                                     unused.non_enabled, unused.unknown, unused.blanket)  # fmt: skip
        # Only a comment that names VG003 keeps it: a blanket one would hide its own report.
        named = any(o.line == d.line and o.codes != ALL and o.matches(finding.code) for o in suppressions.directives)
        if not (named or per_file_ignored(finding) or suppressions.file_ignores(finding.code)):
            kept.append(finding)
    return kept


def _matches_file(filename: str, glob: str, settings: Settings) -> bool:
    """A per-file-ignores glob matches the path as shown, its name, or the path from the config's folder."""
    candidates = [filename, Path(filename).name]
    if settings.config_file is not None:
        try:
            candidates.append(Path(os.path.abspath(filename)).relative_to(settings.config_file.resolve().parent).as_posix())
        except ValueError:
            pass
    return any(fnmatch.fnmatch(candidate, glob) for candidate in candidates)


def _check_path(args: Task, reads: ProjectReads | None = None) -> Outcome:
    """Worker: read and check one file. Returns findings, warnings, internal errors and coverage."""
    path, filename, settings, detail = args
    rules = make_rules(settings)
    try:
        source = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        if not Path(path).exists() and Path(path).is_symlink():
            reason = "broken symbolic link"
        findings, warnings_ = _unparsable(rules, filename, Span.at(1), f"cannot read file: {reason}")
        return findings, warnings_, [], FileCoverage(filename, unreadable=True)
    try:
        check = _check_notebook if is_notebook(filename) else _check_source
        return check(source, filename, rules, settings, detail, reads)
    except Exception as error:  # last resort: report, never lose the other files
        if os.environ.get("VGLINT_DEBUG") == "1":
            raise
        return [], [], [f"{filename}: internal error: {type(error).__name__}: {error}"], FileCoverage(filename, failed=True)


def _check_notebook(data: bytes, filename: str, rules: list[Rule], settings: Settings, detail: bool = False,
                    reads: ProjectReads | None = None) -> Outcome:  # fmt: skip
    """A notebook's code cells checked as one source, with every position counted in its cell."""
    try:
        notebook = read_notebook(data)
    except NotebookError as error:
        findings, warnings_ = _unparsable(rules, filename, error.span, str(error))
        return findings, warnings_, [], FileCoverage(filename, unreadable=True)
    findings, warnings_, errors, coverage = _check_source(notebook.source.encode(), filename, rules, settings, detail, reads)
    return [notebook.in_cells(f) for f in findings], warnings_, errors, notebook.coverage_in_cells(coverage)


def check_paths(paths: list[str], settings: Settings, *, jobs: int = 1, force_exclude: bool = False,
                stdin_filename: str | None = None, detail: bool = False, cache_dir: Path | None = None,
                progress: Callable[[int, int], None] | None = None) -> Result:  # fmt: skip
    """Check every file under `paths`; `detail` asks for each model's line and gaps (`-v`).
    With `cache_dir`, files whose results are cached there are not analysed again (stdin never is
    cached). `progress(done, total)` is called as files are done."""
    result = Result()
    forget_files()  # files may have come and gone since the last run (`--watch`)
    files, result.warnings = discover([p for p in paths if p != STDIN], settings, force_exclude)
    tasks = [(str(f), display_name(f), settings, detail) for f in files]
    cache = Cache(cache_dir, settings, selected_codes(settings), detail) if cache_dir is not None else None
    for done, outcome in enumerate(_cached_run(tasks, jobs, cache), 1):
        if progress is not None:
            progress(done, len(tasks))
        result.findings.extend(outcome[0])
        result.warnings.extend(outcome[1])
        result.internal_errors.extend(outcome[2])
        result.coverage.append(outcome[3])
    result.files_checked = len(tasks)
    if STDIN in paths:
        name = stdin_filename or "<stdin>"
        patterns = [*settings.exclude, *settings.extend_exclude]
        if not (force_exclude and stdin_filename and _excluded(Path(stdin_filename), patterns)):
            source = sys.stdin.buffer.read()
            result.stdin_source = source.decode("utf-8", errors="replace")
            check = _check_notebook if is_notebook(name) else _check_source
            findings, warnings_, errors, coverage = check(source, name, make_rules(settings), settings, detail)
            result.findings.extend(findings)
            result.warnings.extend(warnings_)
            result.internal_errors.extend(errors)
            result.coverage.append(coverage)
            result.files_checked += 1
    result.findings.sort(key=Finding.sort_key)
    return result


def _cached_run(tasks: list[Task], jobs: int, cache: Cache | None) -> Iterator[Outcome]:
    """Each task's outcome, in order: from the cache where it holds one, else checked (and kept)."""
    if cache is None:
        yield from (outcome for outcome, _reads in _run(tasks, jobs))
        return
    kept = [cache.load(path, name) for path, name, *_ in tasks]
    checked = _run([task for task, outcome in zip(tasks, kept) if outcome is None], jobs)
    for task, outcome in zip(tasks, kept):
        if outcome is None:
            outcome, reads = next(checked)
            if reads is not None and not outcome[2]:  # a file vglint failed on is checked again next time
                cache.store(task[0], task[1], outcome, reads)
        yield outcome


def _check_recorded(task: Task) -> tuple[Outcome, ProjectReads]:
    """Worker: `_check_path`, and what of the project the analysis read."""
    reads = ProjectReads()
    return _check_path(task, reads), reads


def _run(tasks: list[Task], jobs: int) -> Iterator[tuple[Outcome, ProjectReads | None]]:
    if jobs <= 1 or len(tasks) < 4:
        yield from map(_check_recorded, tasks)
        return
    done: set[int] = set()
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            # One file at a time, the largest first: files differ in cost a hundredfold, and a large
            # one started last (or a chunk of them) kept the other workers idle at the end.
            largest_first = sorted(range(len(tasks)), key=lambda i: -_size(tasks[i][0]))
            futures = {index: pool.submit(_check_recorded, tasks[index]) for index in largest_first}
            for index in range(len(tasks)):
                outcome = futures[index].result()
                done.add(index)
                yield outcome
    except BrokenProcessPool:
        # A worker died (a crash in native code): check the rest one by one, each in its own
        # process, so only the file that kills its process is lost, and it is named.
        for index, task in enumerate(tasks):
            if index not in done:
                yield _run_isolated(task)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _run_isolated(task: Task) -> tuple[Outcome, ProjectReads | None]:
    try:
        with ProcessPoolExecutor(max_workers=1) as pool:
            return pool.submit(_check_recorded, task).result()
    except BrokenProcessPool:
        crashed = f"{task[1]}: internal error: the process checking this file crashed"
        return ([], [], [crashed], FileCoverage(task[1], failed=True)), None


def exit_code(findings: list[Finding], fail_on: Severity) -> int:
    """1 when a finding at or above `fail_on` stands; one the probe refuted does not fail the run."""
    return 1 if any(f.severity >= fail_on and f.status is not Status.REFUTED for f in findings) else 0
