"""`vglint check --graph`: build every model the static front-end found, in the probe's isolated
worker, record one forward pass, lower it to the IR and run the same rules on it (torch-free).

A file's findings are then those of its analysis with each built model's graph in place of the
static one; the training-code facts (losses, loops, clipping) stay the static front-end's, since
only the source shows them. One finding per rule and model: where the graph and the source
disagree the graph wins, and a finding the source alone did not give says `from the built model`.
A model that cannot be built keeps its static findings, and gets a VG002 saying why when that
changes something (see `_worth_saying`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vglint.analysis import FileAnalysis
from vglint.config import Settings
from vglint.coverage import BUILD_FAILURES, BUILT, SKIPPED, FileCoverage, ModelCoverage, file_coverage
from vglint.engine import Result, _settle_heap, check_analysis, display_name, make_rules, on_deep_stack, unsuppressed
from vglint.findings import Finding, FixedSite, Span
from vglint.graph.lower import lower, stepped_cells
from vglint.ir import Layer, ModelGraph
from vglint.probing.run import _NEEDS_CONFIG, ProbeOptions, _build_failed
from vglint.probing.targets import Target, target_for
from vglint.source.frontend import CONSTRUCTION_ASSUMED, SourceFrontend

FROM_GRAPH = "from the built model"
#: The synthesised input of the structure pass: the recorded dataflow does not depend on its size
#: (a 48-layer encoder fed the probe's 8 x 256 tokens holds 6 GB of activations).
STRUCTURE_BATCH = 2
STRUCTURE_LENGTH = 16


@dataclass
class GraphOutcome:
    """One model's graph, or why there is none."""

    target: Target
    graph: ModelGraph | None
    device: str | None
    failure: dict | None = None


#: One model to build: the job, its name, where it is defined, and the recurrences the source sees
#: written out in its forward, by the modules of their step (plain sites: the analysis that found
#: them is not kept, since holding every file's tree at once took 6 GB on torchvision's models).
Planned = tuple[Target, str, FixedSite, dict[str, Layer]]


def plan(analysis: FileAnalysis, path: Path, filename: str, settings: Settings) -> list[Planned]:
    """The graph jobs for an analysed file's models."""
    planned = []
    for graph in analysis.models:
        target = target_for(path, filename, graph, settings, STRUCTURE_LENGTH, "cpu", 0)
        target.job.update(mode="graph", batch=STRUCTURE_BATCH)
        stepped = {cell: _plain(layer) for cell, layer in stepped_cells(graph).items()}
        planned.append((target, graph.name, FixedSite(graph.span, graph.site.text, local=True), stepped))
    return planned


def _plain(layer: Layer) -> Layer:
    """`layer` with a site that holds no syntax tree."""
    return dataclasses.replace(layer, site=FixedSite(layer.span, layer.site.text, local=layer.site.local))


def build_graphs(files: list[tuple[Path, list[Planned]]], options: ProbeOptions,
                 progress: Callable[[int, int], None] | None = None) -> list[list[GraphOutcome]]:  # fmt: skip
    """Build and lower every planned model, in one worker; the outcomes by file."""
    from vglint.build.pool import run_jobs

    flat = [(path, item) for path, items in files for item in items]
    results = run_jobs([target.job for _, (target, *_) in flat], timeout_s=options.timeout_s,
                       memory_bytes=options.memory_bytes, on_progress=progress)  # fmt: skip
    by_target = []
    for (path, (target, name, site, stepped)), result in zip(flat, results):
        if not result.get("ok"):
            by_target.append(GraphOutcome(target, None, None, result))
            continue
        recorded = result["graph"]
        # a recorded forward pass can nest a merge per time step: lowered on a deep stack, as files are parsed
        graph = on_deep_stack(functools.partial(lower, recorded, name=name, filename=str(path), site=site,
                                                stepped=stepped))  # fmt: skip
        by_target.append(GraphOutcome(target, graph, recorded.get("device")))
    outcomes, start = [], 0
    for _, items in files:
        outcomes.append(by_target[start : start + len(items)])
        start += len(items)
    return outcomes


def _analysed(filename: str) -> FileAnalysis | None:
    """The source front-end's analysis of a file with models, or None (unreadable, no models)."""
    try:
        source = Path(filename).read_bytes()
    except OSError:
        return None
    try:
        analysis = on_deep_stack(SourceFrontend().analyse, filename, source)
    except RecursionError:
        return None
    return analysis if analysis.unreadable is None and analysis.models else None


def graph_findings(result: Result, settings: Settings, options: ProbeOptions, detail: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> None:  # fmt: skip
    """Replace each checked file's findings by those of its analysis with the built models' graphs."""
    rules = make_rules(settings)
    vg002 = next((rule for rule in rules if rule.code == "VG002"), None)
    files = []
    for coverage in result.coverage:
        if result.stdin_source is not None and not Path(coverage.filename).exists():
            result.warnings.append(f"{coverage.filename}: not built: standard input cannot be imported; "
                                   "its findings stay static")  # fmt: skip
            continue
        analysis = _analysed(coverage.filename)
        if analysis is not None:
            files.append(
                (Path(coverage.filename), plan(analysis, Path(coverage.filename), coverage.filename, settings))
            )
        del analysis
        _settle_heap()
    position = {c.filename: index for index, c in enumerate(result.coverage)}
    for (path, planned), outcomes in zip(files, build_graphs(files, options, progress)):
        filename = planned[0][0].filename
        analysis = _analysed(filename)
        if analysis is None or [m.name for m in analysis.models] != [name for _, name, *_ in planned]:
            continue  # changed on disk since: its static findings stand
        for outcome, static in zip(outcomes, analysis.models):
            if outcome.graph is not None:
                _adopt_source_facts(outcome.graph, static, outcome.target)
        merged = dataclasses.replace(analysis, models=[o.graph or s for o, s in zip(outcomes, analysis.models)])
        findings, errors = on_deep_stack(check_analysis, merged, rules, settings)
        findings += [
            f for f in result.findings if f.filename == filename and f.evidence.get("cut") in _PYTHON_VALUE_CUTS
        ]
        result.internal_errors.extend(errors)
        static = {_key(f) for f in result.findings if f.filename == filename}
        built = {o.graph.name: o.device for o in outcomes if o.graph is not None}
        for finding in findings:
            if finding.model in built:
                finding.evidence["graph_device"] = built[finding.model]
                if _key(finding) not in static:
                    finding.message = f"{finding.message} ({FROM_GRAPH})"
        failed = [_build_failed(vg002.finding, o.target, Span.at(o.target.site_line), o.failure)
                  for o, s in zip(outcomes, analysis.models) if vg002 is not None and _worth_saying(o, s)]  # fmt: skip
        result.findings = [f for f in result.findings if f.filename != filename]
        result.findings.extend(findings + unsuppressed(failed, analysis.text, filename, settings))
        result.coverage[position[filename]] = _with_builds(file_coverage(merged, detail), outcomes, detail)
        del analysis, merged
        _settle_heap()
    _configured_models(result, settings, options, rules, detail)
    result.findings.sort(key=Finding.sort_key)


def _with_builds(coverage: FileCoverage, outcomes: list[GraphOutcome], detail: bool) -> FileCoverage:
    """The file's coverage with whether each model was built: a model that could not be built
    keeps its static findings, and the coverage line must not let that pass for a built one."""
    by_name: dict[str, list[GraphOutcome]] = {}
    for outcome in outcomes:
        by_name.setdefault(outcome.target.model, []).append(outcome)
    models = []
    for model in coverage.models:
        queue = by_name.get(model.name)
        if not queue:
            models.append(model)
            continue
        outcome = queue.pop(0)
        built, said = _build_status(outcome.device, outcome.failure)
        models.append(dataclasses.replace(model, built=built, build_detail=said if detail else None))
    return dataclasses.replace(coverage, models=models)


def _build_status(device: str | None, failure: dict | None) -> tuple[str, str]:
    """What the coverage says of one build: `built` and `on cpu`, or the failure's label and reason."""
    if failure is None:
        return BUILT, f"on {device}"
    label = BUILD_FAILURES.get(failure.get("kind"), "not built")
    return label, failure.get("reason") or label


def _configured_models(result: Result, settings: Settings, options: ProbeOptions, rules: list, detail: bool) -> None:
    """The models the configuration names by import path (`"mypkg.zoo:resnet_tiny"`,
    `"transformers:BertModel"` with a `factory` for its config), built and checked like the
    file's own; their findings are reported at their class's definition."""
    vg002 = next((rule for rule in rules if rule.code == "VG002"), None)
    for target, graph, filename, text, outcome in _built_configured(settings, options):
        if graph is None:
            if vg002 is not None:
                result.findings.append(_build_failed(vg002.finding, target, Span.at(1), outcome))
            label, said = _build_status(None, outcome)
            model = ModelCoverage(target.model, SKIPPED, ("could not be built",), built=label,
                                  build_detail=said if detail else None)  # fmt: skip
            result.coverage.append(FileCoverage(target.filename, [model]))
            continue
        analysis = FileAnalysis(filename, text, models=[graph])
        findings, errors = on_deep_stack(check_analysis, analysis, rules, settings)
        for finding in findings:
            finding.evidence["graph_device"] = outcome["graph"].get("device")
            finding.evidence["configured_as"] = target.filename
        result.findings.extend(findings)
        result.internal_errors.extend(errors)
        built, said = _build_status(outcome["graph"].get("device"), None)
        coverage = file_coverage(analysis, detail)
        models = [dataclasses.replace(m, built=built, build_detail=said if detail else None) for m in coverage.models]
        result.coverage.append(dataclasses.replace(coverage, models=models))


def _built_configured(settings: Settings, options: ProbeOptions):
    """Each configured import-path model, built in the worker: (target, its lowered graph or None,
    the file that defines it and its text, the worker's outcome)."""
    from vglint.build.pool import run_jobs

    targets = list(_configured_targets(settings))
    if not targets:
        return
    outcomes = run_jobs([t.job for t in targets], timeout_s=options.timeout_s, memory_bytes=options.memory_bytes)
    for target, outcome in zip(targets, outcomes):
        if not outcome.get("ok"):
            yield target, None, target.filename, "", outcome
            continue
        recorded = outcome["graph"]
        filename, line = recorded.get("source") or (target.filename, 1)
        filename = display_name(Path(filename)) if Path(filename).exists() else filename
        try:
            text = Path(filename).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        graph = on_deep_stack(functools.partial(lower, recorded, name=target.model, filename=filename,
                                                site=FixedSite(Span.at(line))))  # fmt: skip
        yield target, graph, filename, text, outcome


def _configured_targets(settings: Settings):
    """`[tool.vglint.models."module.path:NAME"]` entries whose key is an import path, not a file."""
    root = settings.config_file.parent if settings.config_file is not None else Path.cwd()
    for key, spec in settings.models.items():
        module, _, name = key.rpartition(":")
        if module.endswith((".py", ".ipynb")):  # a file's model (`models/net.py:Net`, `net.py:Net`), not a module
            continue
        if not module or not name or not all(part.isidentifier() for part in module.split(".")):
            continue
        job = {
            "module": module, "project_root": str(root), "target": {"kind": "auto", "name": name},
            "args": spec.args, "kwargs": spec.kwargs, "input": spec.input, "input_dtype": spec.dtype,
            "input_hint": None, "sequence_length": STRUCTURE_LENGTH, "spatial": settings.probe_spatial_size,
            "device": "cpu", "steps": 0, "config_key": key, "mode": "graph", "batch": STRUCTURE_BATCH,
        }  # fmt: skip
        yield Target(key, name, 1, job)


#: Cuts into Python numbers (`.item()`): the recorder cannot follow `t = x.item() + 1e-3` through
#: Python's own arithmetic, so these findings of the source stand in graph mode.
_PYTHON_VALUE_CUTS = frozenset({"item()", "tolist()", "numpy()"})


def _adopt_source_facts(graph: ModelGraph, static: ModelGraph, target: Target) -> None:
    """What the source shows of a built layer that the build cannot: its site object (the key of
    the tensors the file feeds it, `torch.randn(32, 1000, 8)` for VG201), and whether the file's
    training code freezes it (`p.requires_grad = False` in `main()`, which the build does not run).
    A layer is matched by its name in the model, else by its op and line. A model built with the
    arguments of a call the build did not run (`DeepMLP(784, 10, depth=10)` in `main()`) assumes
    them as the source does, and says so."""
    if target.job.get("arguments_from") == "file":
        graph.assumed += [a for a in static.assumed if a.startswith(CONSTRUCTION_ASSUMED)
                          and a not in graph.assumed]  # fmt: skip
    by_name = {layer.name: layer for layer in static.declared if layer.name}
    by_line = {(layer.op, layer.span.line): layer for layer in static.declared if layer.site.local}
    for layer in graph.declared:
        source = by_name.get(layer.name) or by_line.get((layer.op, layer.span.line))
        if source is None:
            continue
        layer.frozen = layer.frozen or source.frozen
        if source.site.local and source.span.line == layer.span.line:
            layer.site = source.site


def _worth_saying(outcome: GraphOutcome, static: ModelGraph) -> bool:
    """A failed build is a VG002 unless it only lacked what the code does not show (constructor
    arguments, an input) for a model the source already fully showed: the helper blocks that other
    models build with arguments would otherwise fill the output with notes that change nothing."""
    if outcome.failure is None:
        return False
    return outcome.failure.get("kind") not in _NEEDS_CONFIG or static.uncertain or static.approximate


def _key(finding: Finding) -> tuple:
    return (finding.code, finding.model, finding.span.line, finding.message)


def describe_built(models: list[dict], settings: Settings, options: ProbeOptions) -> None:
    """`vglint inspect --graph`: beside each model's static description (`describe`'s dicts), the
    same numbers of the built model under `built`, or why it could not be built under `built_error`;
    then the models the configuration names by import path, with `built` (or `built_error`) only."""
    from vglint.describe import describe

    files, names = [], []
    for filename in dict.fromkeys(model["filename"] for model in models):
        analysis = _analysed(filename)
        if analysis is not None:
            files.append((Path(filename), plan(analysis, Path(filename), filename, settings)))
            names.append([(m.name, m.span.line) for m in analysis.models])
    built: dict[tuple[str, str, int], GraphOutcome] = {}
    for (path, planned), outcomes, models_here in zip(files, build_graphs(files, options), names):
        for (name, line), outcome in zip(models_here, outcomes):
            built[(planned[0][0].filename, name, line)] = outcome
    keep = ("deepest_path", "weight_layers", "saturating_runs", "normalizations", "skips", "estimated_attenuation")
    for model in models:
        outcome = built.get((model["filename"], model["model"], model["line"]))
        if outcome is None:
            continue
        if outcome.graph is None:
            model["built_error"] = outcome.failure.get("reason", "unknown reason")
            continue
        described = describe(outcome.graph, model["filename"])
        model["built"] = {key: described[key] for key in keep} | {"device": outcome.device}
    for target, graph, filename, _, outcome in _built_configured(settings, options):
        model = {"filename": target.filename, "model": target.model, "line": 1, "configured_as": target.filename}
        if graph is None:
            model["built_error"] = outcome.get("reason", "unknown reason")
        else:
            described = describe(graph, filename)
            model |= {"filename": filename, "line": described["line"]}
            model["built"] = {key: described[key] for key in keep} | {"device": outcome["graph"].get("device")}
        models.append(model)  # built only: the source front-end was not asked about it
