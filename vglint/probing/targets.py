"""Which models the probe builds, and the job that tells the isolated worker how (torch-free).

A model is built the way its file builds it: a class with the literal arguments of a call of it
that the file shows (`model = Net(784, 10)`, `Net(depth=20)` inside `main()`), else with its
defaults; a factory function with its defaults; a module-level model variable by running its
assignment. `[tool.vglint.models."FILE:NAME"]` gives what the code cannot show. The input is
synthesised in the worker from the first layer the static front-end found (`input_hint`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vglint.analysis import FileAnalysis
from vglint.config import ModelSpec, Settings
from vglint.ir import Kind, Layer, ModelGraph, iter_layers
from vglint.source.project import find_project

#: The rules whose findings the probe confirms or refutes, and those it only adds the profile to.
VERDICT_CODES = frozenset({"VG101", "VG102", "VG103", "VG104", "VG201", "VG202", "VG401", "VG402"})
PROFILE_CODES = frozenset({"VG105", "VG301", "VG302", "VG303", "VG304"})


@dataclass
class Target:
    """One model to build: where, what, and the job for the worker."""

    filename: str  # as findings name the file
    model: str
    site_line: int  # where a VG002 about it is reported
    job: dict[str, Any]
    #: the static estimate's decay, (layer name, gradient relative to the last weight layer): set
    #: by the probe for its report (graph mode builds without it)
    predicted: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Probed:
    """What probing one model gave, for a report: the measurement, or why there is none."""

    title: str  # `file:Model`, as the report heads it
    filename: str | None
    model: str
    line: int | None
    measurement: dict[str, Any] | None
    reason: str | None = None  # why it could not be built or measured
    predicted: list[tuple[str, float]] = field(default_factory=list)

    @classmethod
    def of(cls, title: str, filename: str | None, model: str, line: int | None, outcome: dict[str, Any],
           predicted: list[tuple[str, float]]) -> Probed:  # fmt: skip
        """From the worker's outcome for the model: its measurement, or the reason it has none."""
        ok = bool(outcome.get("ok"))
        return cls(title, filename, model, line, outcome["measurement"] if ok else None,
                   None if ok else outcome.get("reason", "unknown reason"), predicted)  # fmt: skip


def spec_key(filename: str, model: str, settings: Settings) -> ModelSpec | None:
    """The `[tool.vglint.models]` entry for a model: `"FILE:NAME"` with FILE relative to the
    configuration's folder (or as the finding names it), or just `"NAME"`."""
    if not settings.models:
        return None
    keys = [f"{filename}:{model}", model]
    if settings.config_file is not None:
        try:
            relative = Path(filename).resolve().relative_to(settings.config_file.parent.resolve())
            keys.insert(0, f"{relative.as_posix()}:{model}")
        except ValueError:
            pass
    return next((settings.models[key] for key in keys if key in settings.models), None)


def target_for(path: Path, filename: str, graph: ModelGraph, settings: Settings, sequence_length: int | None,
               device: str, steps: int) -> Target:  # fmt: skip
    """The job that builds `graph`'s model from the file at `path` and feeds it."""
    source = path.read_bytes()
    kind, args, kwargs = _how_built(source, graph.name)
    spec = spec_key(filename, graph.name, settings)
    shapes, dtype = None, None
    arguments_from = "file" if args or kwargs else None  # the literal arguments of a call the file shows
    if spec is not None:
        if spec.args or spec.kwargs:  # the configuration's arguments replace the file's
            args, kwargs = list(spec.args), dict(spec.kwargs)
            arguments_from = "config"
        shapes, dtype = spec.input, spec.dtype
    resolved = path.resolve()
    job = {
        "file": str(resolved),
        "module": None,
        "project_root": str(find_project(resolved).root),
        "target": {"kind": kind, "name": graph.name},
        "args": args,
        "kwargs": kwargs,
        "arguments_from": arguments_from,
        "input": shapes,
        "input_dtype": dtype,
        "input_hint": input_hint(graph),
        "sequence_length": sequence_length,
        "spatial": settings.probe_spatial_size,
        "device": device,
        "steps": steps,
        "config_key": f"{filename}:{graph.name}",
        "line": graph.span.line,  # which definition, in a file that defines the model again
    }
    return Target(filename, graph.name, graph.span.line, job)


def _how_built(source: bytes, name: str) -> tuple[str, list[Any], dict[str, Any]]:
    """Whether `name` is a class, a factory function or a module-level variable of the file, and
    for a class the literal arguments of the first call of it that the file shows."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return "auto", [], {}
    kind = "variable"
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef) and statement.name == name:
            kind = "class"
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.name == name:
            kind = "factory"
    if kind != "class":
        return kind, [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node.func) == name:
            literal = _literal_arguments(node)
            if literal is not None:
                return kind, *literal
    return kind, [], {}


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):  # `models.Net(...)`, `self.Net(...)`
        return func.attr
    return None


def _literal_arguments(call: ast.Call) -> tuple[list[Any], dict[str, Any]] | None:
    """The call's arguments when every one is a literal (numbers, strings, lists, dicts...)."""
    try:
        args = [ast.literal_eval(a) for a in call.args if not isinstance(a, ast.Starred)]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if len(args) != len(call.args) or len(kwargs) != len(call.keywords):
        return None
    return args, kwargs


def input_hint(graph: ModelGraph) -> dict[str, Any] | None:
    """What the model's first layer takes, for the worker to synthesise an input from: the first
    weight, embedding or recurrent layer on its deepest path (or, failing that, declared)."""
    layers = [step for step in iter_layers(graph.path) if isinstance(step, Layer)] or list(graph.declared)
    first = next(
        (layer for layer in layers if layer.kind in (Kind.WEIGHT, Kind.EMBEDDING, Kind.RECURRENT, Kind.BLOCK)), None
    )
    if first is None or first.in_size is None or first.kind is Kind.BLOCK:
        return None  # the worker reads the built model's first layer instead (a transformer block's d_model)
    hint = _hint(first)
    if first.kind is Kind.EMBEDDING:
        then = next((layer for layer in layers if layer.kind is Kind.RECURRENT), None)
        if then is not None:
            hint["then"] = _hint(then)
    return hint


def _hint(layer: Layer) -> dict[str, Any]:
    op = layer.op
    if layer.kind is Kind.RECURRENT:
        batch_first = bool(layer.recurrent and layer.recurrent.batch_first)
        return {"first": op, "input_size": layer.in_size, "batch_first": batch_first}
    if layer.kind is Kind.EMBEDDING:
        return {"first": "Embedding", "num_embeddings": layer.in_size}
    if op.startswith("Conv"):
        return {"first": op, "in_channels": layer.in_size}
    return {"first": "Linear", "in_features": layer.in_size}


def models_to_probe(
    analysis: FileAnalysis, codes_by_model: dict[str | None, set[str]], everything: bool
) -> list[ModelGraph]:
    """The file's models that the probe builds: those with a finding it judges or profiles (a
    training-loop finding without a model means the file's recurrent models), or all of them."""
    if everything:
        return list(analysis.models)
    chosen: dict[int, ModelGraph] = {}
    by_name: dict[str, list[ModelGraph]] = {}
    for graph in analysis.models:  # a notebook-shaped file may define `Net` or bind `model` twice
        by_name.setdefault(graph.name, []).append(graph)
    for model, codes in codes_by_model.items():
        if not codes & (VERDICT_CODES | PROFILE_CODES):
            continue
        if model in by_name:
            chosen.update((id(graph), graph) for graph in by_name[model])
        elif model is None and "VG202" in codes:
            for graph in analysis.models:
                if any(layer.kind is Kind.RECURRENT for layer in [*iter_layers(graph.path), *graph.declared]):
                    chosen.setdefault(id(graph), graph)
                    break
        elif model is None and len(analysis.models) == 1:  # a loss finding: the file's one model
            chosen.setdefault(id(analysis.models[0]), analysis.models[0])
    return list(chosen.values())
