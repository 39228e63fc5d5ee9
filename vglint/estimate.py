"""Analytic gradient attenuation along a path, from signal-propagation theory.

Going backward, a weight layer multiplies the per-element gradient variance by
`fan_out * Var(W)` and an activation by `E[phi'(h)^2]`. The estimate is the ratio of gradient RMS
at the output of the first weight layer of a path to that at the output of its last one, so
activations before the first or after the last weight layer do not count.

A normalisation layer divides by the forward scale that the layers before it built up, which
undoes their backward scale too: everything up to the last normalisation counts as 1. A merge
adds the variance of its branches, so a residual block (identity + f) never attenuates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vglint.ir import Kind, Layer, Merge, MergeKind, Path
from vglint.layers import ACTIVATION_GAIN

#: fan_in * Var(W) of PyTorch's default Linear/Conv init, kaiming_uniform_(a=sqrt(5)).
DEFAULT_INIT_GAIN = 1.0 / 3.0


@dataclass(frozen=True)
class Estimate:
    """`attenuation` is the predicted gradient RMS ratio first/last weight layer (1 = no loss)."""

    attenuation: float
    weight_layers: int
    activation_log10: float  # share of log10(attenuation) due to activation derivatives
    init_log10: float  # share due to weight variance (init and fan ratios)

    @property
    def dominant_cause(self) -> str:
        return "activation" if self.activation_log10 < self.init_log10 else "initialisation"


def weight_gain(layer: Layer) -> float:
    """fan_out * Var(W): the backward variance factor of one weight layer.

    A zero init (a classifier head, the last layer of a residual branch) is left out: it holds
    only until the first optimiser step, after which the learning rate sets the scale.
    """
    if layer.init_gain == 0:
        return 1.0
    gain = DEFAULT_INIT_GAIN if layer.init_gain is None else layer.init_gain
    if layer.fan_in and layer.fan_out:
        gain *= layer.fan_out / layer.fan_in
    return gain


@dataclass
class _Walk:
    """Running state of the backward-variance product (squared units) along one route."""

    seen_weight: bool
    product: float = 1.0
    pending: float = 1.0  # activation factors waiting for the next weight layer
    act_log: float = 0.0
    init_log: float = 0.0
    weights: int = 0

    def reset(self) -> None:
        self.product, self.pending, self.act_log, self.init_log = 1.0, 1.0, 0.0, 0.0


def _walk(path: Path, walk: _Walk, memo: dict) -> _Walk:
    """`memo` holds each branch's walk, by branch identity: merges of merges share sub-paths."""
    for step in path:
        if isinstance(step, Merge):
            total, seen = 0.0, walk.seen_weight
            best = None
            for index, branch in enumerate(step.branches):
                key = (id(step), index, walk.seen_weight)
                if key not in memo:
                    memo[key] = _walk(branch, _Walk(seen_weight=walk.seen_weight), memo)
                inner = memo[key]
                value = inner.product * inner.pending  # a weightless branch may hold a merge of its own
                total += value
                seen = seen or inner.seen_weight
                if best is None or inner.weights > best.weights:
                    best = inner
            if step.kind is MergeKind.OTHER and best is not None:  # a product of branches: follow the deepest
                total = best.product * best.pending if best.weights else best.pending
            walk.product *= walk.pending * max(total, 1e-300)
            walk.pending = 1.0
            if best is not None:
                walk.act_log += best.act_log
                walk.init_log += best.init_log
                walk.weights += best.weights
            walk.seen_weight = seen
        elif step.kind is Kind.NORM:
            walk.reset()
        elif step.kind is Kind.ACTIVATION:
            factor = ACTIVATION_GAIN.get(step.op, 1.0)
            walk.pending *= factor
        elif step.kind.counts_as_depth:
            walk.weights += 1
            if not walk.seen_weight:
                walk.seen_weight = True
                walk.pending = 1.0
                continue
            gain = weight_gain(step) if step.kind is Kind.WEIGHT else 1.0
            walk.act_log += math.log10(max(walk.pending, 1e-300))
            walk.init_log += math.log10(max(gain, 1e-300))
            walk.product *= walk.pending * gain
            walk.pending = 1.0
    return walk


def estimated_attenuation(path: Path) -> Estimate:
    """Predicted gradient RMS ratio between the first and last weight layer of `path`."""
    walk = _walk(path, _Walk(seen_weight=False), {})
    return Estimate(
        attenuation=math.sqrt(walk.product),
        weight_layers=walk.weights,
        activation_log10=walk.act_log / 2,
        init_log10=walk.init_log / 2,
    )


def estimated_profile(path: Path) -> list[tuple[str, float]]:
    """The estimate's predicted decay layer by layer: for each named weight layer of `path` (a
    merge counts as its deepest branch's first), the predicted gradient RMS at its output relative
    to the last weight layer's, first layer first. The last layer reads 1; the first reads what
    `estimated_attenuation` gives for the whole path. The report draws it beside the measurement."""
    profile = []
    for index, step in enumerate(path):
        name = _first_weight_name(step)
        if name is not None:
            profile.append((name, estimated_attenuation(path[index:]).attenuation))
    return profile


def _first_weight_name(step: Layer | Merge) -> str | None:
    if isinstance(step, Merge):  # only the deepest branch is walked: merges of merges share sub-paths (DenseNet)
        return next((name for s in step.deepest_branch if (name := _first_weight_name(s)) is not None), None)
    return step.name if step.kind.counts_as_depth and step.name is not None else None
