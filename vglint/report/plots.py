"""The HTML report's plots, drawn with matplotlib as inline SVG (the `report` extra).

Text is drawn as paths (matplotlib's default `svg.fonttype`), so a page reads the same wherever it
is opened, with no font to fetch. Each plot has its own hash salt, so the ids of two plots on one
page never collide.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence
from typing import Any

from vglint.probing.verdicts import HORIZON_THRESHOLD, Thresholds

#: matplotlib's tab10 blue, orange, green, red and grey: the measurement, the estimate, the bands.
MEASURED, OUT_GRAD, ESTIMATE, FLAGGED, BAND_GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
#: The per-step plot shows the gradient down to this share of the last step's, no lower.
STEPS_FLOOR = 1e-12


def gradient_flow_svg(measurement: dict[str, Any], predicted: Sequence[tuple[str, float]], flagged: set[str],
                      thresholds: Thresholds, salt: str) -> str:  # fmt: skip
    """Per block in forward order, relative to the last weight layer on a log axis: the relative
    weight gradient ‖∇W‖/‖W‖ (what the verdict reads), the output-gradient RMS, and the static
    estimate's predicted decay at the layers it names. Flagged blocks are shaded."""
    from matplotlib.figure import Figure

    layers = measurement.get("layers") or []
    names = [layer["name"] or "(model)" for layer in layers]
    carriers = [layer for layer in layers if layer.get("weight_layer") and (layer.get("relative") or 0) > 0]
    # the last weight layer the gradient reached (with one only, the measurement names none)
    last = next((layer for layer in layers if layer["name"] == measurement.get("last_layer")), None) or (
        carriers[-1] if carriers else None
    )
    relative = _scaled([layer.get("relative") if layer.get("weight_layer") else None for layer in layers],
                       last and last.get("relative"))  # fmt: skip
    out_grad = _scaled([layer.get("out_grad_rms") for layer in layers], last and last.get("out_grad_rms"))
    position = {name: index for index, name in enumerate(names)}
    estimate = [(position[name], value) for name, value in predicted if name in position and value > 0]

    figure = Figure(figsize=(7.5, 3.8), layout="constrained")
    axes = figure.subplots()
    axes.set_yscale("log")
    values = [v for v in relative + out_grad if v is not None] + [v for _, v in estimate]
    low = min([*values, thresholds.confirm_below]) / 10
    high = max([*values, 10.0]) * 10
    axes.axhspan(low, thresholds.confirm_below, color=FLAGGED, alpha=0.10, lw=0, gid=f"{salt}-confirm-band",
                 label=f"confirms a depth finding (< {_short(thresholds.confirm_below)})")  # fmt: skip
    axes.axhspan(thresholds.refute_at, min(high, thresholds.explode_above), color=ESTIMATE, alpha=0.08, lw=0,
                 gid=f"{salt}-refute-band", label=f"refutes it (≥ {_short(thresholds.refute_at)})")  # fmt: skip
    if high > thresholds.explode_above:
        axes.axhspan(thresholds.explode_above, high, color=FLAGGED, alpha=0.18, lw=0, gid=f"{salt}-explode-band",
                     label=f"exploding, VG106 (> {_short(thresholds.explode_above)})")  # fmt: skip
    for index, name in enumerate(names):
        if name in flagged:
            axes.axvspan(index - 0.4, index + 0.4, color=FLAGGED, alpha=0.25, lw=0, gid=f"{salt}-flagged-{index}")
    _series(axes, relative, "o-", MEASURED, "relative weight gradient ‖∇W‖/‖W‖ (measured)", f"{salt}-relative")
    _series(axes, out_grad, "s--", OUT_GRAD, "output-gradient RMS (measured)", f"{salt}-out-grad", size=3)
    dead = [index for index, layer in enumerate(layers) if layer.get("weight_layer") and not layer.get("relative")]
    if dead:
        axes.plot(dead, [low * 2] * len(dead), "x", color=FLAGGED, markersize=9, mew=2, gid=f"{salt}-no-gradient",
                  label="no gradient (measured)")  # fmt: skip
    if estimate:
        axes.plot([x for x, _ in estimate], [v for _, v in estimate], "^:", color=ESTIMATE, markersize=4,
                  gid=f"{salt}-estimate", label="static estimate (predicted decay)")  # fmt: skip
    axes.set_ylim(low, high)
    axes.set_xlim(-0.6, max(len(names), 1) - 0.4)
    axes.set_ylabel("ratio to the last weight layer")
    axes.set_xlabel("block, in forward order (shaded: named by a finding)")
    _block_ticks(axes, names)
    axes.grid(True, which="major", axis="y", alpha=0.3)
    _legend_below(axes)
    return _svg(figure, salt, "gradient per block, relative to the last weight layer: measured and estimated")


def time_steps_svg(measurement: dict[str, Any], thresholds: Thresholds, salt: str) -> str | None:
    """The gradient reaching each input time step relative to the last step's, with the horizon
    marked; None when the model is not recurrent (nothing was measured per step)."""
    steps = measurement.get("step_gradients")
    horizon = measurement.get("horizon")
    if not steps or horizon is None or not steps[-1]:
        return None
    from matplotlib.figure import Figure

    count = len(steps)
    # x: steps back from the last one, plus one, on a log axis: a horizon of 11 in 1000 steps stays visible
    points = [(count - index, value / steps[-1]) for index, value in enumerate(steps) if value and value > 0]
    floor = max(min([v for _, v in points] + [HORIZON_THRESHOLD]), STEPS_FLOOR) / 3
    points = [(back, value) for back, value in points if value >= floor]
    figure = Figure(figsize=(7.5, 3.4), layout="constrained")
    axes = figure.subplots()
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.axvspan(1, max(thresholds.horizon_fraction * count, 1) + 1, color=FLAGGED, alpha=0.08, lw=0,
                 gid=f"{salt}-confirm-band", label=f"a horizon in here confirms a recurrent finding (< {_short(thresholds.horizon_fraction)} of the steps)")  # fmt: skip
    axes.plot([b for b, _ in points], [v for _, v in points], "-", color=MEASURED, lw=1.2,
              gid=f"{salt}-measured", label="gradient reaching the input step (measured)")  # fmt: skip
    axes.axhline(HORIZON_THRESHOLD, color=BAND_GREY, ls="--", lw=1,
                 label=f"reached: at least {_short(HORIZON_THRESHOLD)} of the last step's")  # fmt: skip
    axes.axvline(horizon + 0.5, color=FLAGGED, lw=1.5, gid=f"{salt}-horizon", label=f"horizon: {horizon} of {count} steps")
    axes.set_xlim(1, count)
    axes.set_ylim(floor, 10)
    axes.set_xlabel("steps back from the last one, plus one (log)")
    axes.set_ylabel("ratio to the last step")
    axes.grid(True, which="major", axis="y", alpha=0.3)
    _legend_below(axes)
    return _svg(figure, salt, f"gradient per input time step, relative to the last step's; horizon {horizon} steps")


def _legend_below(axes) -> None:
    """Below the plot, where it never covers a point."""
    axes.figure.legend(loc="outside lower center", ncol=2, fontsize=7, frameon=False)


def _scaled(values: list[float | None], by: float | None) -> list[float | None]:
    if not by:
        return [None] * len(values)
    return [value / by if value is not None and value > 0 and math.isfinite(value) else None for value in values]


def _series(axes, values: list[float | None], style: str, colour: str, label: str, gid: str, size: float = 4) -> None:
    points = [(x, v) for x, v in enumerate(values) if v is not None]
    if points:
        axes.plot([x for x, _ in points], [v for _, v in points], style, color=colour, markersize=size, lw=1,
                  label=label, gid=gid)  # fmt: skip


def _block_ticks(axes, names: list[str]) -> None:
    """Every block's name when they fit, else about 24 of them, evenly spread."""
    every = max(1, math.ceil(len(names) / 24))
    ticks = list(range(0, len(names), every))
    axes.set_xticks(ticks, [_clipped(names[t]) for t in ticks], rotation=60, ha="right", fontsize=7)


def _clipped(name: str, width: int = 18) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def _short(value: float) -> str:
    return f"{value:g}"


def _svg(figure, salt: str, label: str) -> str:
    """The figure as an `<svg>` element to inline: no XML prolog, no date, sized by the page, with
    `label` as its accessible name (its own text is drawn as paths)."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # the page sets the width (100% of the column); the viewBox keeps the aspect ratio
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', rf'<svg\1 class="plot" id="{salt}" role="img"', text, count=1)
    # glyphs are defined once per SVG under the font's name: prefix every id so that plots on one page never share one
    for name in set(re.findall(r' id="([^"]+)"', text)) - {salt}:
        if not name.startswith(salt + "-"):
            text = text.replace(f'id="{name}"', f'id="{salt}-{name}"').replace(f"#{name}\"", f"#{salt}-{name}\"")
            text = text.replace(f"#{name})", f"#{salt}-{name})")
    opened = text.index(">") + 1
    return f"{text[:opened]}<title>{html.escape(label)}</title>{text[opened:]}"
