"""`vglint probe TARGET`: build one model (or every model of a file) in the isolated worker and
print its gradient-flow table and a one-line verdict (torch-free: the worker imports torch)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vglint.analysis import FileAnalysis
from vglint.config import Settings
from vglint.estimate import estimated_profile
from vglint.probing.targets import Probed, target_for
from vglint.probing.verdicts import overall
from vglint.source.frontend import SourceFrontend
from vglint.source.project import find_project


def _jobs(target: str, settings: Settings, shapes: list[list[int]] | None, dtype: str | list[str] | None, kwargs: dict[str, Any],
          device: str, steps: int) -> list[tuple[str, dict[str, Any], list[tuple[str, float]]]]:  # fmt: skip
    """(title, job, the static estimate's decay) for each model TARGET names."""
    where, _, name = target.rpartition(":") if ":" in target else (target, "", "")
    if not where.endswith(".py") and not os.path.exists(where):  # `pkg.module:factory`
        if not name:
            raise ValueError(f"{target}: name the model as pkg.module:NAME")
        job = {"file": None, "module": where, "project_root": os.getcwd(), "target": {"kind": "auto", "name": name},
               "args": [], "kwargs": kwargs, "input": shapes, "input_dtype": dtype, "input_hint": None,
               "sequence_length": settings.sequence_length, "spatial": settings.probe_spatial_size, "device": device,
               "steps": steps, "config_key": target}  # fmt: skip
        return [(target, job, [])]
    path = Path(where)
    if not path.is_file():
        raise ValueError(f"{where}: no such file")
    analysis = SourceFrontend().analyse(where, path.read_bytes())
    graphs = [g for g in analysis.models if not name or g.name == name]
    if name and not graphs:  # not a model the source front-end found: build it by name anyway
        job = {"file": str(path.resolve()), "module": None, "project_root": str(find_project(path.resolve()).root),
               "target": {"kind": "auto", "name": name}, "args": [], "kwargs": kwargs, "input": shapes,
               "input_dtype": dtype, "input_hint": None, "sequence_length": settings.sequence_length,
               "spatial": settings.probe_spatial_size, "device": device, "steps": steps, "config_key": target}  # fmt: skip
        return [(target, job, [])]
    if not graphs:
        raise ValueError(f"{where}: no model found in it")
    jobs = []
    lengths = _sequence_lengths(analysis, settings)
    for graph in graphs:
        length = lengths.get(graph.name, settings.sequence_length)
        built = target_for(path, where, graph, settings, length, device, steps)
        job = built.job
        if kwargs:
            job["args"], job["kwargs"] = [], kwargs
        if shapes:
            job["input"] = shapes
        if dtype:
            job["input_dtype"] = dtype
        jobs.append((f"{where}:{graph.name}", job, estimated_profile(graph.path)))
    return jobs


def _sequence_lengths(analysis: FileAnalysis, settings: Settings) -> dict[str | None, int]:
    """The sequence length VG201 read for each model of the file (`WINDOW = 400`), as `check --probe` feeds it."""
    from vglint.engine import check_analysis, make_rules

    findings, _ = check_analysis(analysis, make_rules(settings), settings)
    return {f.model: f.evidence["sequence_length"] for f in findings
            if f.code == "VG201" and f.evidence.get("sequence_length")}  # fmt: skip


def probe_target(target: str, settings: Settings, shapes: list[list[int]] | None, dtype: str | list[str] | None,
                 kwargs: dict[str, Any], device: str, steps: int, timeout_s: float, memory_bytes: int,
                 output_format: str) -> tuple[str, bool | None, list[Probed]]:  # fmt: skip
    """The report, whether every model probed is healthy (None when one could not be built:
    nothing was measured of it, so neither verdict holds), and what each model gave."""
    from vglint.build.pool import run_jobs
    from vglint.probing.table import render

    jobs = _jobs(target, settings, shapes, dtype, kwargs, device, steps)
    outcomes = run_jobs([job for _, job, _ in jobs], timeout_s=timeout_s, memory_bytes=memory_bytes)
    healthy: bool | None = True
    parts, objects, failed, probed = [], [], False, []
    for (title, job, predicted), outcome in zip(jobs, outcomes):
        probed.append(Probed.of(title, job["file"], job["target"]["name"], job.get("line"), outcome, predicted))
        if not outcome.get("ok"):
            failed = True
            line = f"could not build {title}: {outcome.get('reason')}"
            parts.append(line + "\n\n")
            objects.append({"target": title, "ok": False, "kind": outcome.get("kind"), "reason": outcome.get("reason")})
            continue
        measurement = outcome["measurement"]
        ok, verdict = overall(measurement)
        healthy = healthy and ok
        parts.append(render(measurement, title) + f"verdict: {verdict}\n\n")
        objects.append({"target": title, "ok": True, "healthy": ok, "verdict": verdict, "measurement": measurement})
    healthy = None if failed else healthy
    if output_format == "json":
        return json.dumps(objects, indent=2) + "\n", healthy, probed
    return "".join(parts), healthy, probed
