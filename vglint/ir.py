"""The IR both front-ends produce and every rule reads: a `ModelGraph` per model.

A model's dataflow from its input to its output is a `Path`: a tuple of steps, each a `Layer`
(a weight layer, an activation, a normalisation, ...) or a `Merge` where branches that forked
from one value meet again (`x + f(x)`, `torch.cat([x, f(x)])`). A branch is stored relative to
the fork point, so the identity branch of a residual block is the empty path `()`.
Multiplicative gates (`x * sigmoid(g)`) are not merges: the gate branch is off the main path.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union

from vglint.findings import Span


class Kind(enum.Enum):
    WEIGHT = "weight"  # Linear, Conv*, Bilinear, Embedding: a learned matrix on the path
    ACTIVATION = "activation"
    NORM = "norm"
    RECURRENT = "recurrent"  # RNN/LSTM/GRU and their cells
    BLOCK = "block"  # a library block with its own norm and skips (nn.TransformerEncoder, ...)
    CUT = "cut"  # detach(), .data, no_grad: no gradient flows back through it
    OTHER = "other"  # pooling, dropout, reshapes: no effect on the gradient's scale we model

    def __str__(self) -> str:
        return self.value


#: Activations whose derivative is small away from zero: chains of them vanish.
SATURATING = frozenset({"sigmoid", "tanh", "hardtanh", "softsign", "hardsigmoid", "logsigmoid"})


@dataclass(frozen=True, eq=False)
class Layer:
    """One operation on the path, with the source span that created (or applied) it.

    `init_gain` is fan_in * Var(W) of a weight layer: None means PyTorch's default init
    (kaiming_uniform_ with a=sqrt(5), which gives 1/3).
    """

    kind: Kind
    op: str
    site: Any  # a Span, or an object whose .span is one (computed only when a finding needs it)
    fan_in: int | None = None
    fan_out: int | None = None
    init_gain: float | None = None
    init_name: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def span(self) -> Span:
        return self.site if isinstance(self.site, Span) else self.site.span

    @property
    def is_saturating(self) -> bool:
        return self.kind is Kind.ACTIVATION and self.op in SATURATING


@dataclass(frozen=True, eq=False)
class Merge:
    """Branches meeting again: `add` (residual), `concat` (dense) or `other` (e.g. a product)."""

    kind: str
    branches: tuple[Path, ...]
    site: Any

    @cached_property
    def branch_weights(self) -> tuple[int, ...]:
        """Weight layers on each branch, computed once: merges of merges share sub-paths (NASNet
        cells, DenseNet), and recounting them would take exponential time."""
        return tuple(count_weights(b) for b in self.branches)

    @cached_property
    def deepest_branch(self) -> Path:
        return max(zip(self.branch_weights, self.branches), key=lambda wb: (wb[0], len(wb[1])), default=(0, ()))[1]

    @property
    def is_skip(self) -> bool:
        """A residual or dense connection: one branch is a shorter route for the gradient."""
        if self.kind not in ("add", "concat") or len(self.branches) < 2:
            return False
        depths = self.branch_weights
        return min(depths) < max(depths) or any(len(b) == 0 for b in self.branches)


Step = Union[Layer, Merge]
Path = tuple[Step, ...]


class Marker(enum.Enum):
    """Boundaries of a skip connection in a flattened path."""

    SKIP_START = "skip-start"
    SKIP_END = "skip-end"


def count_weights(path: Path) -> int:
    """Weight layers along the deepest route of `path` (recurrent and block layers count as one)."""
    total = 0
    for step in path:
        if isinstance(step, Merge):
            total += max(step.branch_weights, default=0)
        elif step.kind in (Kind.WEIGHT, Kind.RECURRENT, Kind.BLOCK):
            total += 1
    return total


def deepest_path(path: Path) -> list[Layer | Marker]:
    """The route through `path` with the most weight layers, as a flat list.

    A skip connection on the way is kept as a SKIP_START/SKIP_END pair around the deep branch,
    so rules can tell that the gradient had a shorter route around those layers.
    """
    flat: list[Layer | Marker] = []
    for step in path:
        if isinstance(step, Layer):
            flat.append(step)
            continue
        deep = step.deepest_branch
        if step.is_skip:
            flat.append(Marker.SKIP_START)
            flat.extend(deepest_path(deep))
            flat.append(Marker.SKIP_END)
        else:
            flat.extend(deepest_path(deep))
    return flat


def saturating_chains(items: list[Layer | Marker]) -> list[list[Layer]]:
    """Runs of saturating activations along a flattened path. Weight layers, dropout, pooling and
    gates do not break a run; a normalisation, a skip boundary, any other activation, or an
    imported block we cannot see (it may normalise) does."""
    chains: list[list[Layer]] = []
    chain: list[Layer] = []
    for item in [*items, None]:
        if isinstance(item, Layer) and item.is_saturating:
            chain.append(item)
        elif isinstance(item, Layer) and item.kind in (Kind.WEIGHT, Kind.OTHER) and not item.attrs.get("foreign"):
            continue
        else:
            if chain:
                chains.append(chain)
            chain = []
    return chains


def iter_layers(path: Path) -> Iterator[Layer]:
    """Every layer in `path`, all branches included, in order."""
    for step in path:
        if isinstance(step, Merge):
            for branch in step.branches:
                yield from iter_layers(branch)
        else:
            yield step


def _tokens(items: list[Layer | Marker]) -> list[str]:
    """Op names, with each skip-connected group folded into one `[...]+skip` token."""
    tokens: list[str] = []
    stack: list[list[str]] = [tokens]
    for item in items:
        if item is Marker.SKIP_START:
            stack.append([])
        elif item is Marker.SKIP_END:
            inner = stack.pop()
            stack[-1].append(f"[{_repeat(inner)}]+skip")
        else:
            stack[-1].append(item.op)
    while len(stack) > 1:  # unbalanced markers cannot happen, but never lose layers
        inner = stack.pop()
        stack[-1].extend(inner)
    return tokens


def _repeat(tokens: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        best_len, best_rep = 1, 1
        for size in range(1, 7):
            unit = tokens[i : i + size]
            if len(unit) < size:
                break
            rep = 1
            while tokens[i + rep * size : i + (rep + 1) * size] == unit:
                rep += 1
            if rep > 1 and rep * size > best_len * best_rep:
                best_len, best_rep = size, rep
        unit = " -> ".join(tokens[i : i + best_len])
        if best_rep > 1:
            out.append(f"({unit}) x{best_rep}" if best_len > 1 else f"{unit} x{best_rep}")
        else:
            out.append(unit)
        i += best_len * best_rep
    return " -> ".join(out)


def compress(items: list[Layer | Marker]) -> str:
    """The path as `inspect` prints it: `Linear -> Sigmoid` twenty times reads `(Linear -> sigmoid) x20`."""
    return _repeat(_tokens(items))


@dataclass
class ModelGraph:
    """One model: its name, where it is defined, its input-to-output path and every layer it declares.

    `approximate` is set when `forward` could not be followed and the path is the declaration order;
    `uncertain` when something that may have been a layer could not be resolved, so the absence
    of a normalisation or a skip on the path proves nothing.
    """

    name: str
    site: Any
    path: Path
    declared: list[Layer] = field(default_factory=list)
    approximate: bool = False
    uncertain: bool = False

    @property
    def span(self) -> Span:
        return self.site if isinstance(self.site, Span) else self.site.span

    @property
    def deepest(self) -> list[Layer | Marker]:
        return deepest_path(self.path)
