"""Files -> front-end -> rules -> suppressions -> findings.

Each file is checked on its own (in parallel with `jobs` > 1), and a file that cannot be read
or parsed becomes a VG001 finding, so one bad file never loses the findings of the others.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from vglint.config import Settings
from vglint.findings import Finding, Severity, Span
from vglint.rules import RULES_BY_CODE, Rule, select_codes
from vglint.source.frontend import analyse
from vglint.suppressions import parse_suppressions

STDIN = "-"


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    warnings: list[str] = field(default_factory=list)  # printed on stderr, never fatal
    internal_errors: list[str] = field(default_factory=list)  # make the run exit 2


def _excluded(path: Path, patterns: Iterable[str]) -> bool:
    """True when the path's name or any parent's name, or the whole path, matches a pattern."""
    text = path.as_posix()
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if any(fnmatch.fnmatch(part, pattern) for part in path.parts) or fnmatch.fnmatch(text, pattern):
            return True
        if "/" in pattern and (fnmatch.fnmatch(text, f"*/{pattern}") or fnmatch.fnmatch(text, f"{pattern}/*")):
            return True
    return False


def discover(paths: Iterable[str], settings: Settings, force_exclude: bool) -> tuple[list[Path], list[str]]:
    """Python files under `paths`, sorted, and a warning for each path that could not be walked."""
    patterns = [*settings.exclude, *settings.extend_exclude]
    found: list[Path] = []
    warnings: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=lambda e: warnings.append(f"{e.filename}: {e.strerror}")):
                dirs[:] = sorted(d for d in dirs if not _excluded(Path(root, d), patterns))
                found.extend(Path(root, f) for f in sorted(files) if f.endswith(".py") and not _excluded(Path(root, f), patterns))
        elif not (force_exclude and _excluded(path, patterns)):
            found.append(path)  # named explicitly: checked whatever its extension (pre-commit passes files)
    unique = sorted(set(found), key=lambda p: p.as_posix())
    return unique, warnings


def display_name(path: Path) -> str:
    """The path relative to the working directory when it is inside it, else as given."""
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def make_rules(settings: Settings) -> list[Rule]:
    codes = select_codes(settings.select, settings.extend_select, settings.ignore)
    return [RULES_BY_CODE[code](settings.rule_options.get(code)) for code in codes]


def _syntax_finding(rules: list[Rule], filename: str, span: Span, detail: str) -> list[Finding]:
    rule = next((r for r in rules if r.code == "VG001"), None)
    return [] if rule is None else [rule.finding(filename, span, detail=detail)]


def parse(source: bytes, filename: str) -> tuple[cst.Module | None, tuple[Span, str] | None]:
    """The module, or where and why it could not be parsed."""
    if b"\x00" in source:
        line = source[: source.index(b"\x00")].count(b"\n") + 1
        return None, (Span.at(line), "source contains a NUL byte")
    try:
        return cst.parse_module(source), None
    except cst.ParserSyntaxError as error:
        first = str(error).splitlines()[0].rstrip(":") or "invalid syntax"
        return None, (Span.at(max(error.raw_line, 1), error.raw_column + 1), first)
    except UnicodeDecodeError as error:
        line = source[: error.start].count(b"\n") + 1
        return None, (Span.at(line), f"bytes not valid {error.encoding} (add a PEP 263 coding cookie or fix the encoding)")
    except (LookupError, SyntaxError) as error:  # an unknown codec in the coding cookie
        return None, (Span.at(1), str(error))
    except RecursionError:
        return None, (Span.at(1), "nesting too deep to parse")
    except (MemoryError, ValueError) as error:
        return None, (Span.at(1), f"{type(error).__name__}: {error}")


def check_source(source: bytes, filename: str, rules: list[Rule], settings: Settings) -> tuple[list[Finding], list[str]]:
    """Findings for one file's bytes, after suppressions; and internal errors, if any."""
    module, failure = parse(source, filename)
    if module is None:
        assert failure is not None
        findings = _syntax_finding(rules, filename, *failure)
        text = source.decode("utf-8", errors="replace")
        return _unsuppressed(findings, text, filename, settings), []
    ctx = analyse(module, filename)
    errors = [f"{filename}: front-end: {e}" for e in ctx.internal_errors]
    findings: list[Finding] = []
    for rule in rules:
        try:
            findings.extend(rule.check_file(ctx))
        except Exception as error:  # a rule bug must not lose the other rules' findings
            if os.environ.get("VGLINT_DEBUG") == "1":
                raise
            errors.append(f"{filename}: {rule.code}: {type(error).__name__}: {error}")
    text = source.decode(module.encoding, errors="replace")  # not module.code: that re-generates the file
    return _unsuppressed(_deduplicated(findings), text, filename, settings), errors


def _deduplicated(findings: list[Finding]) -> list[Finding]:
    """One finding per code and place: a class analysed alone and inside another reports once."""
    best: dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.code, finding.span)
        if key not in best or finding.severity > best[key].severity:
            best[key] = finding
    return list(best.values())


def _unsuppressed(findings: list[Finding], text: str, filename: str, settings: Settings) -> list[Finding]:
    if not findings:
        return findings
    suppressions = parse_suppressions(text)
    ignored = [c for glob, codes in settings.per_file_ignores.items() for c in codes if _matches_file(filename, glob)]
    return [
        f
        for f in findings
        if not suppressions.suppresses(f) and not any(f.code.startswith(c) or c == "ALL" for c in ignored)
    ]


def _matches_file(filename: str, glob: str) -> bool:
    return fnmatch.fnmatch(filename, glob) or fnmatch.fnmatch(Path(filename).name, glob)


def _check_path(args: tuple[str, str, Settings]) -> tuple[list[Finding], list[str], list[str]]:
    """Worker: read and check one file. Returns findings, warnings and internal errors."""
    path, filename, settings = args
    rules = make_rules(settings)
    try:
        source = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        if not Path(path).exists() and Path(path).is_symlink():
            reason = "broken symbolic link"
        return _syntax_finding(rules, filename, Span.at(1), f"cannot read file: {reason}"), [], []
    try:
        findings, errors = check_source(source, filename, rules, settings)
    except Exception as error:  # last resort: report, never lose the other files
        if os.environ.get("VGLINT_DEBUG") == "1":
            raise
        return [], [], [f"{filename}: internal error: {type(error).__name__}: {error}"]
    return findings, [], errors


def check_paths(paths: list[str], settings: Settings, *, jobs: int = 1, force_exclude: bool = False,
                stdin_filename: str | None = None) -> Result:  # fmt: skip
    result = Result()
    files, result.warnings = discover([p for p in paths if p != STDIN], settings, force_exclude)
    tasks = [(str(f), display_name(f), settings) for f in files]
    for outcome in _run(tasks, jobs):
        result.findings.extend(outcome[0])
        result.warnings.extend(outcome[1])
        result.internal_errors.extend(outcome[2])
    result.files_checked = len(tasks)
    if STDIN in paths:
        name = stdin_filename or "<stdin>"
        if not (force_exclude and stdin_filename and _excluded(Path(stdin_filename), [*settings.exclude, *settings.extend_exclude])):
            findings, errors = check_source(sys.stdin.buffer.read(), name, make_rules(settings), settings)
            result.findings.extend(findings)
            result.internal_errors.extend(errors)
            result.files_checked += 1
    result.findings.sort(key=Finding.sort_key)
    return result


def _run(tasks: list[tuple[str, str, Settings]], jobs: int) -> Iterator[tuple[list[Finding], list[str], list[str]]]:
    if jobs <= 1 or len(tasks) < 4:
        yield from map(_check_path, tasks)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_check_path, tasks, chunksize=max(1, len(tasks) // (jobs * 8)))


def exit_code(findings: list[Finding], fail_on: Severity) -> int:
    return 1 if any(f.severity >= fail_on for f in findings) else 0
