"""What a measured backward pass says about each static finding of a model (torch-free).

The number that decides a depth finding (VG101-VG104) is the ratio of relative weight gradients
(‖∇W‖/‖W‖) between the first and the last weight layer: scale-free and fair to convolutions. A
recurrent finding (VG201, VG202) is judged by the horizon, the steps back that the gradient still
reaches; a gradient cut (VG401, VG402) by whether the layers it names got a gradient at all.
Saturation (VG101), Post-LN (VG105) and the loss rules are risks of training, not of the
initialised network, so a probe at initialisation never refutes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vglint.findings import Finding, Span, Status
from vglint.rules.base import Rule

if TYPE_CHECKING:
    from vglint.config import Settings

#: A time step counts as reached while its gradient is at least this share of the last step's.
HORIZON_THRESHOLD = 1e-3


@dataclass(frozen=True)
class Thresholds:
    """The numbers a verdict compares with, from the rules' options: what the report's bands show."""

    confirm_below: float = 1e-2
    refute_at: float = 1e-1
    explode_above: float = 1e4
    horizon_fraction: float = 0.1

    @classmethod
    def of(cls, settings: Settings, depth_code: str = "VG103") -> Thresholds:
        """The thresholds of `depth_code` (the rule whose finding the plot is about), VG106 and VG201."""
        from vglint.rules import RULES_BY_CODE

        def option(code: str, name: str, default: float) -> float:  # VG101 is never refuted: it has no refute-at
            return RULES_BY_CODE[code](settings.rule_options.get(code)).settings.get(name, default)

        return cls(option(depth_code, "probe-confirm-below", cls.confirm_below),
                   option(depth_code, "probe-refute-at", cls.refute_at),
                   option("VG106", "ratio-above", cls.explode_above),
                   option("VG201", "probe-horizon-fraction", cls.horizon_fraction))  # fmt: skip


_DEPTH = ("VG101", "VG102", "VG103", "VG104")
_RECURRENT = ("VG201", "VG202")
_CUTS = ("VG401", "VG402")

_NO_VERDICT = {
    "VG105": "no verdict: a deep Post-LN stack is a risk of training stability, not of the network at initialisation",
    "VG301": "no verdict: a saturating loss bites once predictions are confident, not at initialisation",
    "VG302": "no verdict: a saturating loss bites once predictions are confident, not at initialisation",
    "VG303": "no verdict: a saturating loss bites once predictions are confident, not at initialisation",
    "VG304": "no verdict: the underflow of log(softmax) shows on confident predictions, not at initialisation",
}


def short(value: float) -> str:
    """One or two significant digits, what a reader compares at a glance: 3e-18, 0.009, 190, 2e+05."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent <= 3:
        return f"{round(value, 1 - exponent):g}"
    return f"{value:.1g}"


def measured_evidence(measurement: dict[str, Any]) -> dict[str, Any]:
    """The numbers a finding carries once probed."""
    return {
        "measured_ratio": measurement.get("ratio"),
        "first_layer": measurement.get("first_layer"),
        "horizon": measurement.get("horizon"),
        "sequence_length": measurement.get("sequence_length"),
        "dead_parameters": list(measurement.get("dead_parameters") or []),
        "device": measurement.get("device"),
        "dtype": measurement.get("dtype"),
        "seeds": measurement.get("seeds"),
        "shared_layers": list(measurement.get("shared_layers") or []),
    }


def judge(finding: Finding, measurement: dict[str, Any], options: dict[str, Any]) -> None:
    """Mark `finding` confirmed or refuted (or leave it static) by `measurement`; the numbers go
    into its evidence and the reason into its `verdict` line. `options` are its rule's settings."""
    finding.evidence.update({k: v for k, v in measured_evidence(measurement).items() if k != "sequence_length"})
    if finding.code in _DEPTH:
        _judge_depth(finding, measurement, options)
    elif finding.code in _RECURRENT:
        _judge_horizon(finding, measurement, options)
    elif finding.code in _CUTS:
        _judge_cut(finding, measurement)
    elif finding.code in _NO_VERDICT:
        ratio = measurement.get("ratio")
        shown = f"measured first/last gradient ratio {short(ratio)}; " if ratio is not None else ""
        finding.verdict = shown + _NO_VERDICT[finding.code]


def _judge_depth(finding: Finding, measurement: dict[str, Any], options: dict[str, Any]) -> None:
    ratio, shared = measurement.get("ratio"), list(measurement.get("shared_layers") or [])
    if shared and ratio is not None:
        finding.verdict = (f"no verdict: layer {', '.join(shared[:3])} {'is' if len(shared) == 1 else 'are'} applied more than once "
                           f"(shared weights), so a weight gradient sums every use (measured ratio {short(ratio)})")  # fmt: skip
        return
    if ratio is None:
        finding.verdict = "no verdict: the built model has fewer than two weight layers on its path"
        return
    said = f"the first weight layer ({measurement.get('first_layer')}) gets {short(ratio)} of the last layer's relative gradient"
    if ratio < options.get("probe-confirm-below", 1e-2):
        finding.status, finding.verdict = Status.CONFIRMED, f"confirmed: {said}"
    elif finding.code == "VG101":
        finding.verdict = (
            f"measured: {said}; at initialisation tanh and sigmoid are not saturated yet, so this is no refutation"
        )
    elif ratio >= options.get("probe-refute-at", 1e-1):
        finding.status, finding.verdict = Status.REFUTED, f"refuted: {said}"
    else:
        finding.verdict = f"measured: {said} (between the thresholds: no verdict)"


def _judge_horizon(finding: Finding, measurement: dict[str, Any], options: dict[str, Any]) -> None:
    horizon, length = measurement.get("horizon"), measurement.get("sequence_length")
    if horizon is None or not length:
        finding.verdict = "no verdict: the gradient per time step could not be measured on the built model"
        return
    said = f"the gradient reaches {horizon} of {length} time steps back"
    if horizon < options.get("probe-horizon-fraction", 0.1) * length:
        finding.status, finding.verdict = Status.CONFIRMED, f"confirmed: {said}"
    elif horizon >= length:
        finding.status, finding.verdict = Status.REFUTED, f"refuted: {said}"
    else:
        finding.verdict = f"measured: {said} (between the thresholds: no verdict)"


def _judge_cut(finding: Finding, measurement: dict[str, Any]) -> None:
    dead = list(measurement.get("dead_parameters") or [])
    named = [str(layer) for layer in finding.evidence.get("layers") or []]
    if named:
        cut = [layer for layer in named if any(p == layer or p.startswith(layer + ".") for p in dead)]
        if cut:
            finding.status, finding.verdict = Status.CONFIRMED, f"confirmed: {', '.join(cut[:4])} got no gradient"
        else:
            finding.status, finding.verdict = Status.REFUTED, f"refuted: {', '.join(named[:4])} got a gradient"
    elif dead:
        finding.status = Status.CONFIRMED
        finding.verdict = f"confirmed: {len(dead)} parameters got no gradient ({', '.join(dead[:4])})"
    else:
        finding.status, finding.verdict = Status.REFUTED, "refuted: every parameter got a gradient"


def exploding(rule: Rule, filename: str, span: Span, model: str, measurement: dict[str, Any]) -> Finding | None:
    """VG106 when the first weight layer gets far more relative gradient than the last."""
    ratio = measurement.get("ratio")
    if ratio is None or ratio <= rule.settings["ratio-above"]:
        return None
    finding = rule.finding(filename, span, model=model, _ratio=short(ratio), **measured_evidence(measurement))
    finding.status = Status.CONFIRMED
    finding.verdict = f"confirmed: measured first/last relative-gradient ratio {short(ratio)}"
    return finding


def overall(measurement: dict[str, Any], *, confirm_below: float = 1e-2, explode_above: float = 1e4,
            horizon_fraction: float = 0.1) -> tuple[bool, str]:  # fmt: skip
    """`vglint probe`'s one-line verdict on a measurement, and whether the model is healthy."""
    ratio, dead = measurement.get("ratio"), list(measurement.get("dead_parameters") or [])
    horizon, length = measurement.get("horizon"), measurement.get("sequence_length")
    first = measurement.get("first_layer")
    problems = []
    if ratio is not None and ratio < confirm_below:
        problems.append(
            f"vanishing: the first weight layer ({first}) gets {short(ratio)} of the last layer's relative gradient"
        )
    if ratio is not None and ratio > explode_above:
        problems.append(
            f"exploding: the first weight layer ({first}) gets {short(ratio)} times the last layer's relative gradient"
        )
    if dead:
        problems.append(
            f"cut: {len(dead)} parameters get no gradient ({', '.join(dead[:4])}{', ...' if len(dead) > 4 else ''})"
        )
    if horizon is not None and length and horizon < horizon_fraction * length:
        problems.append(f"short horizon: the gradient reaches {horizon} of {length} time steps back")
    if problems:
        return False, "; ".join(problems)
    shown = (
        f"first/last relative-gradient ratio {short(ratio)}" if ratio is not None else "fewer than two weight layers"
    )
    if horizon is not None and length:
        shown += f", the gradient reaches {horizon} of {length} time steps back"
    return True, f"healthy: {shown}"
