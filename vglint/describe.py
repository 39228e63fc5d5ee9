"""What `vglint inspect` shows: each model's deepest path and the numbers rules judge it by."""

from __future__ import annotations

from typing import Any

from vglint.config import Settings
from vglint.engine import discover, display_name, on_deep_stack
from vglint.estimate import estimated_attenuation
from vglint.ir import Kind, Layer, Marker, ModelGraph, compress, saturating_chains
from vglint.notebook import Notebook, NotebookError, is_notebook, read_notebook
from vglint.source.frontend import analyse_module
from vglint.source.parse import parse


def describe(graph: ModelGraph, filename: str) -> dict[str, Any]:
    deepest = graph.deepest
    layers = [i for i in deepest if isinstance(i, Layer)]
    estimate = estimated_attenuation(graph.path)
    span = graph.span
    gaps = _reasons(graph)
    return {
        "filename": filename,
        "model": graph.name,
        "line": span.line,
        "deepest_path": compress(deepest),
        "weight_layers": estimate.weight_layers,
        "saturating_runs": [len(chain) for chain in saturating_chains(deepest)],
        "normalizations": sum(1 for i in layers if i.kind is Kind.NORM),
        "skips": sum(1 for i in deepest if i is Marker.SKIP_START),
        "estimated_attenuation": float(f"{estimate.attenuation:.3g}"),
        "approximate": graph.approximate,
        "uncertain": graph.uncertain,
        "reasons": [{"what": what, "line": line} for what, line, _ in gaps],
        "_effects": [effect for _, _, effect in gaps],  # for the text's grouping, not in JSON
    }


def _reasons(graph: ModelGraph) -> list[tuple[str, int | None, str]]:
    """What was not understood of the model (what, line, effect), once per gap and place, in the
    order met; the line is None for a place in another module (a block of a sibling module)."""
    found: dict[tuple, tuple[str, int | None, str]] = {}
    for reason in graph.reasons:
        line = reason.site.span.line if reason.site.local else None
        found.setdefault((reason.what, line), (reason.what, line, reason.effect.value))
    return list(found.values())


def describe_paths(paths: list[str], settings: Settings) -> tuple[list[dict[str, Any]], list[str]]:
    files, problems = discover(paths, settings, force_exclude=False)
    models: list[dict[str, Any]] = []
    for path in files:
        name = display_name(path)
        try:
            source = path.read_bytes()
            notebook = read_notebook(source) if is_notebook(name) else None
            module, failure = parse(notebook.source.encode() if notebook else source, name)
        except OSError as error:
            problems.append(f"{name}: cannot read file: {error.strerror}")
            continue
        except NotebookError as error:
            problems.append(f"{name}:{error.span.line}: cannot parse: {error}")
            continue
        if module is None:
            problems.append(f"{name}:{failure[0].line}: cannot parse: {failure[1]}")
            continue
        try:
            analysis = on_deep_stack(analyse_module, module, name)
            described = on_deep_stack(lambda a=analysis, n=name: [describe(g, n) for g in a.models])
            models.extend([_in_cells(m, notebook) for m in described] if notebook else described)
        except RecursionError:
            problems.append(f"{name}: nesting too deep to analyse")
            continue
        problems += [f"{name}:{s.site.span.line}: {s.name}: skipped ({s.why})" for s in analysis.skipped]
    return models, problems


def _in_cells(model: dict[str, Any], notebook: Notebook) -> dict[str, Any]:
    """A notebook's model with its line, and its reasons' lines, counted in their cells (`cell` beside each)."""
    model["cell"], model["line"] = notebook.locate(model["line"])
    for reason in model["reasons"]:
        if reason["line"] is not None:
            reason["cell"], reason["line"] = notebook.locate(reason["line"])
    return model


def _place(item: dict[str, Any]) -> str:
    """`12`, or `cell 3:12` in a notebook."""
    return f"cell {item['cell']}:{item['line']}" if item.get("cell") is not None else str(item["line"])


def _note(model: dict[str, Any]) -> str:
    """`  (uncertain: unknown layer factory `make_norm`, line 18; approximate: ...)`, or nothing."""
    groups: dict[str, list[str]] = {}
    for effect, reason in zip(model.get("_effects", []), model["reasons"]):
        cell = f", cell {reason['cell']}" if reason.get("cell") is not None else ""
        where = f"{cell}, line {reason['line']}" if reason["line"] is not None else ""
        groups.setdefault(effect, []).append(f"{reason['what']}{where}")
    if not groups and model["approximate"]:
        groups["approximate"] = ["forward not followed"]
    parts = [
        f"{effect}: {'; '.join(items)}" for effect, items in sorted(groups.items(), key=lambda kv: kv[0] != "uncertain")
    ]
    return f"  ({'; '.join(parts)})" if parts else ""


def _built_text(model: dict[str, Any]) -> str:
    """The built model's numbers under `inspect --graph`, or why there are none."""
    if "built_error" in model:
        return f"  built:         not built: {model['built_error']}\n"
    built = model.get("built")
    if built is None:
        return ""
    return (
        f"  built path:    {built['deepest_path'] or '(empty)'}  (on {built['device']})\n"
        f"  built depth:   {built['weight_layers']} weight layers, saturating "
        f"{', '.join(map(str, built['saturating_runs'])) or 'none'}, norms {built['normalizations']}, "
        f"skips {built['skips']}, estimate {built['estimated_attenuation']:.1e}\n"
    )


def render_text(models: list[dict[str, Any]]) -> str:
    blocks = []
    for m in models:
        if "deepest_path" not in m:  # a model named in the configuration: there is only the built one
            blocks.append(f"{m['filename']}:{m['line']}: {m['model']}  (configured as {m['configured_as']})\n" + _built_text(m))
            continue
        note = _note(m)
        blocks.append(
            f"{m['filename']}:{_place(m)}: {m['model']}{note}\n"
            f"  path:          {m['deepest_path'] or '(empty)'}\n"
            f"  weight layers: {m['weight_layers']}\n"
            f"  saturating:    {', '.join(map(str, m['saturating_runs'])) or 'none'}\n"
            f"  norms: {m['normalizations']}   skips: {m['skips']}\n"
            f"  estimate:      {m['estimated_attenuation']:.1e}\n" + _built_text(m)
        )
    return "\n".join(blocks) if blocks else "no models found\n"
