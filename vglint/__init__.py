"""vglint: find vanishing-gradient risks in PyTorch model code before training, and prove them.

`import vglint` never imports torch. `vglint.probe(model, *inputs)` and `vglint.check_model(model,
*inputs)` measure a model the caller built (in the caller's process: it is the caller's model) and
import torch when they are called.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "probe", "check_model"]


def probe(model: Any, *example_inputs: Any, device: str | None = None, steps: int = 0) -> Any:
    """Measure how the gradient flows through `model` on `example_inputs`: a `ProbeReport` with
    `.layers`, `.ratio`, `.horizon`, `.dead_parameters`, `.ok` and `.to_dict()`."""
    from vglint.probing.measure import probe as measure_probe

    return measure_probe(model, *example_inputs, device=device, steps=steps)


def check_model(model: Any, *example_inputs: Any, device: str | None = None, steps: int = 0) -> list[Any]:
    """The findings a measured backward pass gives (vanishing, explosion, parameters without
    gradient, a short recurrent horizon): empty for a healthy model, so that
    `assert not vglint.check_model(model, x)` works in a test."""
    from vglint.probing.measure import check_model as measure_check

    return measure_check(model, *example_inputs, device=device, steps=steps)
