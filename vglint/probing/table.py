"""The gradient-flow table of one measurement, as plain ASCII for a CI log (torch-free)."""

from __future__ import annotations

import math
from typing import Any

#: The bar spans ratios to the last weight layer from 1e-20 (empty) to 1 (full), one character a decade.
BAR_DECADES = 20
#: The per-step line of a recurrent model shows this many steps back.
STEPS_SHOWN = 60


def render(measurement: dict[str, Any], title: str) -> str:
    """One row per parameterised block in forward order, then the horizon, dead parameters, and how it was measured.

    `measurement` is what `vglint.probing.measure.measure` returns. There is no verdict line: the caller adds it.
    """
    layers = measurement.get("layers") or []
    last = _last_relative(measurement)
    header = ("block", "kind", "out grad rms", "weight grad rms", "relative", "to last", "flow")
    rows = [header]
    for layer in layers:
        to_last = _divide(layer.get("relative"), last)
        rows.append(
            (
                layer["name"] or "(model)",
                layer["kind"] + ("" if layer.get("weight_layer") else " *"),
                _number(layer.get("out_grad_rms")),
                _number(layer.get("weight_grad_rms")),
                _number(layer.get("relative")),
                _number(to_last),
                bar(to_last),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    right = {2, 3, 4, 5}
    lines = [title, ""]
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    if not layers:
        lines.append("(no block with parameters ran in the forward pass)")
    if any(not layer.get("weight_layer") for layer in layers):
        lines.append("* not a weight layer: left out of the first/last ratio")
    lines.append("")
    ratio = measurement.get("ratio")
    if ratio is not None:
        first, final = measurement.get("first_layer"), measurement.get("last_layer")
        lines.append(f"first/last relative gradient: {_number(ratio)} ({first} / {final})")
    if measurement.get("horizon") is not None:
        lines.append(f"horizon: {measurement['horizon']} of {measurement.get('sequence_length')} steps")
        if measurement.get("step_gradients"):
            lines.append(f"steps back 1-{min(STEPS_SHOWN, len(measurement['step_gradients']))}, in decades under the last "
                         f"step's gradient (+: 10 or more): {decades(measurement['step_gradients'])}")  # fmt: skip
    dead = measurement.get("dead_parameters") or []
    lines.append(f"parameters without gradient: {', '.join(dead) if dead else 'none'}")
    seeds = ", ".join(str(seed) for seed in measurement.get("seeds") or [])
    lines.append(f"device: {measurement.get('device')}, dtype: {measurement.get('dtype')}, seeds: {seeds}")
    return "\n".join(lines) + "\n"


def bar(to_last: float | None) -> str:
    """`#` per decade above 1e-20 of the ratio to the last weight layer, `.` for the rest; `+` past 1; blank if unknown."""
    if to_last is None:
        return ""
    if to_last <= 0:
        return "." * BAR_DECADES
    filled = max(0, min(BAR_DECADES, round(BAR_DECADES + math.log10(to_last))))
    return "#" * filled + "." * (BAR_DECADES - filled) + ("+" if to_last > 10 else "")


def decades(step_gradients: list[float | None]) -> str:
    """One character per step back from the last one: how many decades its gradient is under the
    last step's (`0` to `9`, `+` for ten or more), so a CI log shows where the horizon falls."""
    last = step_gradients[-1]
    marks = []
    for value in reversed(step_gradients[-STEPS_SHOWN:]):
        if not last or not value or value <= 0:
            marks.append("+")
            continue
        below = max(0, math.floor(-math.log10(value / last) + 1e-9))
        marks.append(str(below) if below < 10 else "+")
    return "".join(marks)


def _last_relative(measurement: dict[str, Any]) -> float | None:
    last = measurement.get("last_layer")
    for layer in measurement.get("layers") or []:
        if layer["name"] == last and layer.get("weight_layer"):
            return layer.get("relative")
    return None


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"
