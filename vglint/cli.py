"""The command line: `vglint [check] PATH...`, `vglint inspect`, `vglint rules`, `vglint rule CODE`.

The CLI parses flags, builds `Settings`, calls the engine and a reporter. It never analyses.
Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import difflib
import functools
import io
import json
import os
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vglint import __version__
from vglint.config import ConfigError, RuleSelection, Settings, find_config, load_config
from vglint.findings import Finding, Severity
from vglint.report import FORMATS, STATISTICS_FORMATS

if TYPE_CHECKING:  # torch-free at import: the probe's module is loaded only by the commands that build
    from vglint.baseline import Entry as BaselineEntry
    from vglint.probing.run import ProbeOptions

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
PROGRESS_AFTER_S = 2.0  # `check` draws its progress bar only once a run has taken this long


class DefaultGroup(click.Group):
    """`vglint models/` means `vglint check models/`, as `ruff models/` once meant `ruff check`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            _refuse_command_typo(args[0], sorted(self.commands))
            args = ["check", *args]
        elif not args:
            args = ["check"]
        return super().parse_args(ctx, args)


def _refuse_command_typo(first: str, commands: list[str]) -> None:
    """`vglint chek .` is a mistyped command, not a missing path: a first argument that does not
    exist and has neither a folder separator nor an extension is refused as a command, with the
    closest command's name. A missing `models/` or `net.py` is left to `check`, which says that
    the path does not exist."""
    if first.startswith("-") or os.path.lexists(first) or any(c in first for c in ("/", os.sep, ".")):
        return
    close = difflib.get_close_matches(first, commands, n=1)
    if close:
        raise click.UsageError(f"no such command '{first}' (did you mean '{close[0]}'?)")
    raise click.UsageError(f"no such command or path '{first}' (commands: {', '.join(commands)})")


def _split(values: tuple[str, ...], flag: str) -> list[str]:
    """`--select VG1,VG2 --select VG3` -> checked, upper-cased selectors."""
    from vglint.rules import check_selector

    selectors = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    selectors.append(check_selector(part))
                except ValueError as error:
                    raise click.UsageError(f"{error} in {flag}") from None
    return selectors


def _colour(output_file: str | None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to something (no-color.org)."""
    return output_file is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _emit(text: str, output_file: str | None) -> None:
    if output_file is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output_file).write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.UsageError(f"cannot write --output-file {output_file}: {error.strerror}") from None


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vglint")
def cli() -> None:
    """Find vanishing-gradient risks in PyTorch model code. `vglint PATH` is `vglint check PATH`."""


def _build_limits(command: Callable) -> Callable:
    """The worker's limits, the same options on every command that builds models."""
    command = click.option("--probe-memory", type=click.FloatRange(min=0.5), default=4, show_default=True,
                           help="GiB of memory the worker that builds the models may use.")(command)  # fmt: skip
    return click.option("--probe-timeout", type=click.FloatRange(min=1), default=60, show_default=True,
                        help="Seconds each model may take to build (and probe).")(command)  # fmt: skip


def _report_option(command: Callable) -> Callable:
    return click.option("--report", "report_file", type=click.Path(dir_okay=False),
                        help="Also write a self-contained HTML report (plots of the probed models) to this file "
                        "(needs the report extra).")(command)  # fmt: skip


def _options(timeout_s: float, memory_gib: float, **more: Any) -> ProbeOptions:
    from vglint.probing.run import ProbeOptions

    return ProbeOptions(timeout_s=timeout_s, memory_bytes=int(memory_gib * (1 << 30)), **more)


@cli.command()
@click.argument("paths", nargs=-1, type=str)
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (comma-separated; ALL for all).")
@click.option("--extend-select", multiple=True, help="Codes or prefixes to enable on top of the selection.")
@click.option("--ignore", multiple=True, help="Codes or prefixes to disable.")
@click.option("--exclude", multiple=True, help="Glob patterns of files and folders to skip (replaces the defaults).")
@click.option("--extend-exclude", multiple=True, help="Glob patterns to skip on top of the defaults.")
@click.option("--force-exclude", is_flag=True, help="Apply the excludes to files named on the command line too.")
@click.option("--stdin-filename", help="The file name to report for source read from standard input (`-`).")
@click.option("--output-format", type=click.Choice(FORMATS), default="full", show_default=True)
@click.option("-o", "--output-file", help="Write the report to this file instead of standard output.")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("-q", "--quiet", is_flag=True, help="Print the findings only, without the summary and coverage lines.")
@click.option("-v", "--verbose", is_flag=True, help="List each model with what was understood of it, and why not all.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings (2 still means vglint failed).")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False), help="Hide the findings this baseline file holds.")
@click.option("--write-baseline", type=click.Path(dir_okay=False), help="Record the findings in this baseline file; report none.")
@click.option("--show-stale", is_flag=True, help="With --baseline: list its entries that match no finding any more.")
@click.option("--add-noqa", is_flag=True, help="Add a `# noqa: CODE` comment to each reported line; report none.")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    help="Lowest severity that fails the run [default: warning].",
)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Read [tool.vglint] from this file.")
@click.option("--isolated", is_flag=True, help="Ignore all configuration files.")
@click.option("--show-files", is_flag=True, help="Print the files that would be checked, and exit.")
@click.option("--show-settings", is_flag=True, help="Print the configuration the run resolves to, and exit.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, help="Parallel processes; 0 means one per CPU.")
@click.option(
    "--no-cache", is_flag=True, envvar="VGLINT_NO_CACHE", help="Analyse every file again; read and write no cache."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar="VGLINT_CACHE_DIR",
    help="The cache's folder [default: .vglint_cache beside the configuration file, else in the working directory].",
)
@click.option(
    "--watch", is_flag=True, help="Check again whenever a .py or .ipynb file under PATHS changes (needs vglint[watch])."
)
@click.option(
    "--graph", is_flag=True, help="Build every model and run the rules on its recorded forward pass too (needs torch)."
)
@click.option(
    "--probe",
    is_flag=True,
    help="Build each flagged model and confirm or refute its findings with a measured backward pass (needs torch).",
)
@click.option("--probe-all", is_flag=True, help="With --probe: probe every model found, flagged or not.")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Probe device: auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps.",
)
@_build_limits
@click.option(
    "--probe-steps",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Optimiser steps (Adam, lr 1e-3) on synthetic targets before measuring.",
)
@_report_option
def check(paths, select, extend_select, ignore, exclude, extend_exclude, force_exclude, stdin_filename,
          output_format, output_file, statistics, quiet, verbose, exit_zero, fail_on, config_file, isolated, jobs,
          graph, probe, probe_all, device, probe_timeout, probe_memory, probe_steps, no_cache, cache_dir, watch,
          baseline_file, write_baseline, show_stale, add_noqa, show_files, show_settings, report_file):  # fmt: skip
    """Check PATHS (files or folders; `-` for standard input) for vanishing-gradient risks."""
    from vglint import cache, engine, report
    from vglint.coverage import coverage_line, model_listing
    from vglint.progress import progress_bar

    paths = list(paths) or ([engine.STDIN] if stdin_filename else ["."])
    missing = [p for p in paths if p != engine.STDIN and not os.path.lexists(p)]
    if missing:
        raise click.UsageError(f"path does not exist: {missing[0]}")
    if watch:
        _watch(click.get_current_context())
    refused = [p for p in paths if p != engine.STDIN and not os.path.isdir(p) and not engine.checkable(Path(p))]
    if refused:  # never "All checks passed!" for a file that was not Python (ruff also stops the run)
        raise click.UsageError(f"{refused[0]}: not a Python file or notebook")
    baseline_entries = _adoption_flags(paths, baseline_file, write_baseline, show_stale, add_noqa)
    if statistics and output_format not in STATISTICS_FORMATS:
        shown = ", ".join(STATISTICS_FORMATS)
        raise click.UsageError(f"--statistics works with --output-format {shown}, not {output_format}")
    settings = _settings(paths, config_file, isolated, stdin_filename)
    flags = RuleSelection(
        select=_split(select, "--select") if select else None,
        extend_select=_split(extend_select, "--extend-select"),
        ignore=_split(ignore, "--ignore"),
    )
    if flags:
        settings.selection.append(flags)
    if exclude:
        settings.exclude = [p for value in exclude for p in value.split(",") if p]
    settings.extend_exclude += [p for value in extend_exclude for p in value.split(",") if p]
    if fail_on:
        settings.fail_on = Severity.parse(fail_on)
    if show_files or show_settings:
        _show(paths, settings, force_exclude, show_files)
    probe = probe or probe_all
    if report_file:
        _require_report()
    if probe or graph:
        _require_torch()
    if probe:
        _check_device(device)

    folder = None if no_cache else Path(cache_dir) if cache_dir else cache.default_folder(settings)
    shown = not quiet and output_format in ("full", "concise")  # a machine format's stderr stays clean
    result = engine.check_paths(paths, settings, jobs=jobs or os.cpu_count() or 1, cache_dir=folder,
                                progress=progress_bar("checking files", after_s=PROGRESS_AFTER_S) if shown else None,
                                force_exclude=force_exclude, stdin_filename=stdin_filename,
                                detail=verbose and not quiet and output_format in ("full", "concise") and not statistics)  # fmt: skip
    if graph:
        from vglint.graph.run import graph_findings

        options = _options(probe_timeout, probe_memory)
        graph_findings(result, settings, options, detail=verbose, progress=progress_bar("building models"))
    probed = []
    if probe:
        from vglint.probing.run import probe_findings

        options = _options(probe_timeout, probe_memory, everything=probe_all, device=device, steps=probe_steps)
        probed = probe_findings(result, settings, options, progress_bar("probing models"))
    for warning in result.warnings:
        click.echo(f"vglint: warning: {warning}", err=True)
    for error in result.internal_errors:
        click.echo(f"vglint: internal error: {error}", err=True)

    colour = _colour(output_file)
    findings = result.findings
    stdin_name = stdin_filename or "<stdin>"

    @functools.cache  # read each file once, however many findings it has
    def source_lines(filename: str, cell: int | None = None) -> list[str] | None:
        """The file's lines, or those of one cell of a notebook (as the notebook holds it)."""
        if cell is not None:
            from vglint.notebook import NotebookError, read_notebook

            try:
                stdin = filename == stdin_name and result.stdin_source is not None
                return read_notebook(result.stdin_source.encode() if stdin else Path(filename).read_bytes()).cells.get(cell)
            except (OSError, NotebookError):
                return None
        if filename == stdin_name and result.stdin_source is not None:
            return result.stdin_source.splitlines()
        try:
            return _decoded(Path(filename).read_bytes()).splitlines()
        except OSError:
            return None

    def line_text(finding: Finding) -> str:
        lines = source_lines(finding.filename, finding.cell) or []
        return lines[finding.span.line - 1] if 1 <= finding.span.line <= len(lines) else ""

    hidden = None
    if baseline_entries is not None:
        findings, hidden = _apply_baseline(findings, baseline_entries, baseline_file, show_stale, line_text, result)
    if write_baseline or add_noqa:
        sys.exit(_adopt(findings, write_baseline, line_text, result.internal_errors))
    if report_file:
        from vglint.report.html import render_html

        _write_report(report_file, render_html(findings, probed, source_lines, settings, result.files_checked))

    if output_format == "json":
        text = report.statistics_json(findings) if statistics else report.render_json(findings)
    elif output_format == "sarif":
        text = report.render_sarif(findings, source_lines, report.repository_root(Path.cwd()))
    elif output_format == "github":
        text = report.render_github(findings, report.repository_root(Path.cwd()))
    elif output_format == "junit":
        text = report.render_junit(findings, [c.filename for c in result.coverage])
    elif statistics:
        text = report.render_statistics(findings)
    else:
        render = report.render_full if output_format == "full" else None
        text = render(findings, source_lines, colour) if render else report.render_concise(findings, colour)
        if not quiet:
            if verbose:
                text += model_listing(result.coverage)
            text += report.summary_line(findings, result.files_checked, len(result.internal_errors), hidden)
            text += coverage_line(result.coverage, result.files_checked)
    _emit(text, output_file)

    if result.internal_errors:
        sys.exit(EXIT_ERROR)
    if exit_zero:
        sys.exit(EXIT_CLEAN)
    sys.exit(engine.exit_code(findings, settings.fail_on))


def _watch(ctx: click.Context) -> None:
    """`check --watch`: check once, then again after each change of a Python file or notebook under
    the paths (the cache makes that re-analyse only what changed), until Ctrl-C, which exits 0."""
    try:
        import watchfiles
    except ImportError:
        raise click.UsageError("--watch needs watchfiles: pip install 'vglint[watch]'") from None
    paths = list(ctx.params["paths"]) or ["."]
    if "-" in paths:
        raise click.UsageError("--watch cannot watch standard input (-)")
    if ctx.params.get("add_noqa") or ctx.params.get("write_baseline"):  # each run would edit what it watches
        raise click.UsageError("--watch cannot be combined with --add-noqa or --write-baseline")
    params = {**ctx.params, "watch": False}

    def check_once() -> None:
        try:
            ctx.invoke(check, **params)
        except SystemExit:  # the exit code of one check ends nothing
            pass
        except click.ClickException as error:  # a configuration broken while watching: say so, keep watching
            click.echo(f"vglint: error: {error.format_message()}", err=True)
        click.echo("vglint: watching for changes (Ctrl-C to stop)", err=True)

    python_files = watchfiles.PythonFilter(extra_extensions=(".ipynb",))
    # Watching starts before the first check (a change made during it is seen); the empty sets
    # of the timeouts are only the watcher saying it is ready.
    changes = watchfiles.watch(*paths, watch_filter=python_files, rust_timeout=200, yield_on_timeout=True)
    checked = False
    try:
        for changed in changes:
            if checked and not changed:
                continue
            if checked:  # a fresh screen on a terminal, as ruff does; a separator in a log
                click.echo("\x1b[2J\x1b[3J\x1b[H" if sys.stdout.isatty() else "\n--- files changed; checking again ---\n", nl=False)
            check_once()
            checked = True
    except KeyboardInterrupt:
        pass
    sys.exit(EXIT_CLEAN)


def _adoption_flags(paths: list[str], baseline_file: str | None, write_baseline: str | None, show_stale: bool,
                    add_noqa: bool) -> list[BaselineEntry] | None:  # fmt: skip
    """Check how the baseline and noqa flags combine; read the baseline before the run, so that a
    bad one fails fast. Its entries, or None without --baseline."""
    if write_baseline and (baseline_file or add_noqa):
        raise click.UsageError("--write-baseline cannot be combined with --baseline or --add-noqa")
    if add_noqa and "-" in paths:
        raise click.UsageError("--add-noqa cannot edit standard input (-)")
    if show_stale and not baseline_file:
        raise click.UsageError("--show-stale needs --baseline FILE")
    if baseline_file is None:
        return None
    from vglint.baseline import BaselineError, read

    try:
        return read(Path(baseline_file))
    except BaselineError as error:
        raise click.UsageError(str(error)) from None


def _adopt(findings: list[Finding], write_baseline: str | None, line_text: Callable[[Finding], str],
           internal_errors: list[str]) -> int:  # fmt: skip
    """--write-baseline or --add-noqa: record or annotate the findings, say how many on stderr, report none."""
    if write_baseline:
        from vglint.baseline import BaselineError, write

        try:
            count = write(Path(write_baseline), findings, line_text)
        except BaselineError as error:
            raise click.UsageError(str(error)) from None
        click.echo(f"vglint: wrote {count} finding{'s' * (count != 1)} to the baseline {write_baseline}", err=True)
    else:
        from vglint.noqa import add_noqa

        added = add_noqa(findings)
        for skipped in added.skipped:
            click.echo(f"vglint: warning: {skipped}", err=True)
        click.echo(f"vglint: added {added.lines} noqa comment{'s' * (added.lines != 1)}", err=True)
    return EXIT_ERROR if internal_errors else EXIT_CLEAN


def _apply_baseline(findings: list[Finding], entries: list[BaselineEntry], baseline_file: str, show_stale: bool,
                    line_text: Callable[[Finding], str], result: Any) -> tuple[list[Finding], int]:  # fmt: skip
    """The findings the baseline does not hold, and how many it hid; with --show-stale, its stale
    entries on stderr (they never change the exit code)."""
    from vglint.baseline import match

    folder = Path(baseline_file).absolute().parent
    matched = match(findings, entries, line_text, folder, {c.filename for c in result.coverage})
    if show_stale:
        for entry in matched.stale:
            click.echo(f"vglint: stale baseline entry: {entry.path}:{entry.line}: {entry.code} {entry.message}", err=True)
        count = len(matched.stale)
        click.echo(f"vglint: {count} stale baseline entr{'ies' if count != 1 else 'y'} in {baseline_file}", err=True)
    return matched.new, matched.hidden


def _show(paths: list[str], settings: Settings, force_exclude: bool, files: bool) -> None:
    """`--show-files`: the files a run would check, as its findings name them; `--show-settings`:
    the configuration it resolves to. Nothing is analysed; exit 0."""
    from vglint import engine
    from vglint.config import settings_text

    if files:
        found, warnings = engine.discover([p for p in paths if p != engine.STDIN], settings, force_exclude)
        for warning in warnings:
            click.echo(f"vglint: warning: {warning}", err=True)
        click.echo("".join(engine.display_name(f) + "\n" for f in found), nl=False)
    else:
        shown = engine.display_name(settings.config_file) if settings.config_file else None
        click.echo(settings_text(settings, engine.selected_codes(settings), shown), nl=False)
    sys.exit(EXIT_CLEAN)


def _require_report() -> None:
    """The report draws with matplotlib, pygments and markdown: without them, say how to get them (exit 2)."""
    from vglint.report.html import INSTALL_HINT, report_available

    if not report_available():
        click.echo(f"vglint: error: {INSTALL_HINT}", err=True)
        sys.exit(EXIT_ERROR)


def _write_report(report_file: str, page: str) -> None:
    try:
        Path(report_file).write_text(page, encoding="utf-8")
    except OSError as error:
        click.echo(f"vglint: error: cannot write the report to {report_file}: {error.strerror or error}", err=True)
        sys.exit(EXIT_ERROR)


def _require_torch() -> None:
    """Probe and graph modes run torch in a worker process: without it, say how to get it (exit 2)."""
    from vglint.build.pool import torch_available
    from vglint.probing.run import INSTALL_HINT

    if not torch_available():
        raise click.UsageError(INSTALL_HINT)


def _check_device(device: str) -> None:
    if device not in ("auto", "cpu", "cuda", "mps") and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise click.UsageError(f"unknown --device {device!r} (expected auto, cpu, cuda, cuda:N or mps)")


def _decoded(source: bytes) -> str:
    """The file's text in its declared (PEP 263) encoding, for showing its lines; never fails."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        return source.decode(encoding, errors="replace")
    except (SyntaxError, LookupError):
        return source.decode("utf-8", errors="replace")


def _settings(paths: list[str], config_file: str | None, isolated: bool, stdin_filename: str | None = None) -> Settings:
    """vglint's defaults, then `--config FILE` or the nearest `[tool.vglint]` above the first path."""
    settings = Settings()
    if isolated:
        return settings
    try:
        if config_file is not None:
            return load_config(Path(config_file), settings)
        named = [stdin_filename if p == "-" else p for p in paths]  # `-` is found by its --stdin-filename
        first = next((p for p in named if p), ".")
        found = find_config(Path(first))
        return load_config(found, settings) if found else settings
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--graph", is_flag=True, help="Build each model too and show the built model's path beside (needs torch)."
)
@_build_limits
def inspect(paths, output_format, graph, probe_timeout, probe_memory):
    """Show each model's deepest path, depth, saturating runs, normalisations, skips and estimate."""
    from vglint.describe import describe_paths, render_text

    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise click.UsageError(f"path does not exist: {missing[0]}")
    settings = _settings(list(paths), None, False)
    if graph:
        _require_torch()
    models, problems = describe_paths(list(paths), settings)
    if graph:
        from vglint.graph.run import describe_built

        describe_built(models, settings, _options(probe_timeout, probe_memory))
    for problem in problems:
        click.echo(f"vglint: warning: {problem}", err=True)
    if output_format == "json":
        click.echo(json.dumps([{k: v for k, v in m.items() if not k.startswith("_")} for m in models], indent=2))
    else:
        click.echo(render_text(models), nl=False)


@cli.command("probe")
@click.argument("target")
@click.option("--input", "inputs", multiple=True, help="An input shape, e.g. 8,3,224,224 (repeat for several inputs).")
@click.option(
    "--input-dtype",
    "input_dtypes",
    multiple=True,
    type=click.Choice(["float32", "float64", "int64"]),
    help="The inputs' dtype (int64 for token ids); repeat it to give one per --input.",
)
@click.option(
    "--kwargs", "kwargs_json", default="{}", help="Constructor or factory arguments as JSON, e.g. '{\"depth\": 20}'."
)
@click.option(
    "--device", default="auto", show_default=True, help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps."
)
@click.option(
    "--steps", type=click.IntRange(min=0), default=0, show_default=True, help="Optimiser steps before measuring."
)
@click.option("--timeout", type=click.FloatRange(min=1), default=60, show_default=True, help="Seconds per model.")
@click.option("--memory", type=click.FloatRange(min=0.5), default=4, show_default=True, help="GiB the worker may use.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_report_option
def probe_command(target, inputs, input_dtypes, kwargs_json, device, steps, timeout, memory, output_format, report_file):
    """Build TARGET and print how the gradient flows through it.

    TARGET is `models/net.py:Net`, `pkg.module:factory`, or `models/net.py` for every model in it.
    Exit 1 when the gradient vanishes, explodes, is cut or has a short horizon; 0 when healthy;
    2 when a model could not be built.
    """
    from vglint.probing.command import probe_target

    if report_file:
        _require_report()
    _require_torch()
    _check_device(device)
    try:
        kwargs = json.loads(kwargs_json)
        shapes = [[int(n) for n in shape.split(",") if n.strip()] for shape in inputs]
    except (json.JSONDecodeError, ValueError) as error:
        raise click.UsageError(f"bad --kwargs or --input: {error}") from None
    if not isinstance(kwargs, dict) or any(not shape or min(shape) < 1 for shape in shapes):
        raise click.UsageError("--kwargs must be a JSON object and each --input a list of positive sizes")
    settings = _settings([target.split(":")[0] if os.path.exists(target.split(":")[0]) else "."], None, False)
    try:
        dtype = list(input_dtypes) if len(input_dtypes) > 1 else (input_dtypes[0] if input_dtypes else None)
        text, healthy, probed = probe_target(target, settings, shapes or None, dtype, kwargs, device, steps, timeout,
                                             int(memory * (1 << 30)), output_format)  # fmt: skip
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if report_file:
        from vglint.report.html import render_html

        _write_report(report_file, render_html([], probed, lambda filename, cell: None, settings))
    click.echo(text, nl=False)
    sys.exit(EXIT_ERROR if healthy is None else EXIT_CLEAN if healthy else EXIT_FINDINGS)


@cli.command("server")
def server_command():
    """Run the language server (LSP over standard input and output) for editors; needs vglint[lsp]."""
    try:
        from vglint.server import serve
    except ImportError as error:
        if (error.name or "").partition(".")[0] not in ("pygls", "lsprotocol"):
            raise
        raise click.UsageError("the language server needs pygls: pip install 'vglint[lsp]'") from None
    serve()


@cli.command("rules")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_rules(output_format):
    """List every rule: code, name, default severity, enabled by default."""
    from vglint.rules import ALL_RULES

    rows = [
        {"code": r.code, "name": r.name, "severity": str(r.severity), "enabled": r.enabled_by_default,
         "summary": r.summary, "options": {o.name: o.default for o in r.options}}
        for r in ALL_RULES
    ]  # fmt: skip
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        enabled = "on " if row["enabled"] else "off"
        click.echo(f"{row['code']}  {row['name']:<30} {row['severity']:<8} {enabled}  {row['summary']}")


@cli.command("rule")
@click.argument("code")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show_rule(code, output_format):
    """Print the documentation page of one rule."""
    from vglint.docs import examples, rule_page
    from vglint.rules import RULES_BY_CODE

    rule = RULES_BY_CODE.get(code.upper())
    if rule is None:
        raise click.UsageError(f"unknown rule code {code!r}")
    if output_format == "json":
        click.echo(json.dumps({
            "code": rule.code, "name": rule.name, "severity": str(rule.severity), "enabled": rule.enabled_by_default,
            "message": rule.message_template(), "summary": rule.summary, "fix": rule.fix,
            "documentation": rule.documentation(), "example": examples(rule, "Example"),
            "use_instead": examples(rule, "Use instead"),
            "options": [{"name": o.name, "default": o.default, "help": o.help} for o in rule.options],
        }, indent=2))  # fmt: skip
        return
    click.echo(rule_page(rule), nl=False)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every usage error is one line on stderr and exit 2, never a traceback."""
    try:
        code = cli.main(args=argv, prog_name="vglint", standalone_mode=False)
    except click.exceptions.Exit as done:
        code = done.exit_code
    except click.ClickException as error:
        click.echo(f"vglint: error: {error.format_message()}", err=True)
        code = EXIT_ERROR
    except click.exceptions.Abort:
        code = EXIT_ERROR
    except BrokenPipeError:
        code = EXIT_CLEAN
    except KeyboardInterrupt:
        code = 130
    except Exception as error:  # the last line of defence: say what broke, in one line
        if os.environ.get("VGLINT_DEBUG") == "1":
            raise
        click.echo(f"vglint: internal error: {type(error).__name__}: {error}", err=True)
        code = EXIT_ERROR
    sys.exit(code or 0)
