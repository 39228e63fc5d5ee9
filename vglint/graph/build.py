"""The worker's graph job: build the model as the probe does, record one forward pass (imports torch).

The model is first built on the `meta` device, which allocates no memory and runs no init, so a
declared billion-parameter model costs nothing. A model small enough to hold is then built again
on the CPU: its weights show the init actually applied (custom schemes count without reading
their code) and its forward runs on real values. A model that cannot be built or run on meta
(`.item()` in `__init__`, data-dependent shapes) is built and run on the CPU. The device used
goes into the result and from there into each finding's evidence.
"""

from __future__ import annotations

import os
from typing import Any

from vglint.build.worker import MEMORY_ENV

#: Models whose float32 parameters take up to this share of the worker's memory cap are built on
#: the CPU too, to measure their init (VGG-16's 138M parameters under the default 4 GiB).
CPU_SHARE = 1 / 4


def record_job(job: dict[str, Any]) -> dict[str, Any]:
    """The job's model, recorded: {"graph": {...nodes...}, "built": "Net(784, 10)"}; raises BuildFailure."""
    import torch

    from vglint.build.worker import BuildFailure, build
    from vglint.graph.record import construction_sites

    torch.manual_seed(0)
    meta_error = None
    with construction_sites():
        try:
            with torch.device("meta"):
                model, built = build(job)
            parameters = sum(p.numel() for p in model.parameters())
        except BuildFailure as failure:
            if failure.kind in ("import", "not-found", "not-a-module", "needs-arguments"):
                raise  # the CPU would fail the same way
            meta_error, parameters = str(failure), None
        except ValueError as error:  # a lazy module's parameters have no size until a forward pass
            meta_error, parameters = str(error), None
        device = "meta"
        cap = int(os.environ.get(MEMORY_ENV) or 4 << 30)
        if parameters is None or parameters * 4 <= cap * CPU_SHARE:
            torch.manual_seed(0)
            model, built = build(job)
            device = "cpu"
    try:
        recorded = _recorded(job, model, device)
    except BuildFailure:
        if device != "meta":
            raise
        torch.manual_seed(0)
        with construction_sites():
            model, built = build(job)
        device = "cpu"
        meta_error = "the forward pass cannot run on the meta device"
        recorded = _recorded(job, model, device)
    recorded["device"] = device
    recorded["source"] = _source_of(type(model))
    if meta_error and device == "cpu" and parameters is None:
        recorded["meta_error"] = meta_error
    return {"graph": recorded, "built": built}


def _recorded(job: dict[str, Any], model: Any, device: str) -> dict[str, Any]:
    from vglint.build.inputs import InputError, synthesise
    from vglint.build.worker import BuildFailure, run_fitting
    from vglint.graph.record import record

    try:
        inputs, time_dim = synthesise(job, model)
    except InputError as error:
        raise BuildFailure("input", str(error)) from None

    def recorded(inputs: list[Any], _time_dim: int | None) -> dict[str, Any]:
        return record(model, [t.to(device) if hasattr(t, "to") else t for t in inputs])

    return run_fitting(job, model, inputs, time_dim, recorded, f"the forward pass on {device}")


def _source_of(cls: type) -> list[Any] | None:
    """The file and line where the model's class is defined: where findings about a model named
    only in the configuration (`"transformers:BertModel"`) are reported."""
    import inspect

    try:
        return [inspect.getsourcefile(cls), inspect.getsourcelines(cls)[1]]
    except (OSError, TypeError):
        return None
