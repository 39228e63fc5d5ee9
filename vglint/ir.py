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
from typing import Union

from vglint.findings import Site, Span
from vglint.layers import SATURATING, Kind

__all__ = ["Kind", "Cut", "MergeKind", "Recurrent", "TransformerStack", "Layer", "Merge", "Step", "Path",
           "Gap", "Reason", "ModelGraph", "Marker", "meet"]  # fmt: skip


class Cut(enum.Enum):
    """Why no gradient flows back through a CUT layer; the value is how messages name it."""

    DETACH = "detach()"
    DETACH_INPLACE = "detach_()"
    DATA = ".data"
    ITEM = "item()"
    TOLIST = "tolist()"
    NUMPY = "numpy()"
    TENSOR = "torch.tensor()"
    AS_TENSOR = "torch.as_tensor()"
    NO_GRAD = "torch.no_grad()"
    INFERENCE_MODE = "torch.inference_mode()"
    GRAD_DISABLED = "torch.set_grad_enabled(False)"

    @property
    def is_region(self) -> bool:
        """A no-grad region (a `with` block or decorator) rather than an expression."""
        return self in (Cut.NO_GRAD, Cut.INFERENCE_MODE, Cut.GRAD_DISABLED)


class MergeKind(enum.Enum):
    ADD = "add"  # a residual: x + f(x)
    CONCAT = "concat"  # a dense connection: torch.cat([x, f(x)])
    OTHER = "other"  # any other meeting of branches, e.g. a product

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Recurrent:
    """Settings of an RNN/LSTM/GRU (or cell); None where the code does not show them."""

    num_layers: int | None = 1
    nonlinearity: str | None = "tanh"
    batch_first: bool = False
    gated: bool = False  # a hand-written recurrence whose step has sigmoid gates (an LSTM/GRU by hand)
    steps: int | None = None  # the steps a hand-written recurrence runs, when the code shows them
    #: the modules one step of a hand-written recurrence applies (`cell`, or `update` and `candidate`),
    #: by attribute path: a built model applies each of them once per step, and they are this layer
    cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransformerStack:
    """`num_layers` and `norm_first` of an nn.Transformer* block, None where not known."""

    num_layers: int | None
    norm_first: bool | None
    num_encoder_layers: int | None = None  # nn.Transformer only
    num_decoder_layers: int | None = None


@dataclass(eq=False)
class Layer:
    """One operation on the path, with the site that created (or applied) it.

    `init_gain` is fan_in * Var(W) of a weight layer: None means PyTorch's default init
    (kaiming_uniform_ with a=sqrt(5), which gives 1/3). `name` is the module's attribute path in
    its model (`encoder.0`), None for a functional op, which has no parameters of its own.
    `frozen` says its parameters do not require grad; `foreign` that it is a block imported from
    code vglint cannot see (it may normalise or skip inside).
    """

    kind: Kind
    op: str
    site: Site
    fan_in: int | None = None
    fan_out: int | None = None
    init_gain: float | None = None
    init_name: str | None = None
    name: str | None = None
    frozen: bool = False
    foreign: bool = False
    recurrent: Recurrent | None = None  # Kind.RECURRENT
    transformer: TransformerStack | None = None  # Kind.BLOCK of the nn.Transformer family
    cut: Cut | None = None  # Kind.CUT
    #: What the layer is fed along its input dimension, when known: `in_features`, `in_channels`,
    #: an Embedding's `num_embeddings`, an RNN's `input_size`. The probe synthesises its input from it.
    in_size: int | None = None

    @property
    def span(self) -> Span:
        return self.site.span

    @property
    def is_saturating(self) -> bool:
        return self.kind is Kind.ACTIVATION and self.op in SATURATING

    @property
    def is_trainable(self) -> bool:
        """A module with parameters that still require grad (functional ops have none of their own)."""
        return self.name is not None and not self.frozen and self.kind.has_parameters


@dataclass(frozen=True, eq=False)
class Merge:
    """Branches meeting again: a residual add, a dense concatenation or another meeting (a product)."""

    kind: MergeKind
    branches: tuple[Path, ...]
    site: Site

    @cached_property
    def branch_weights(self) -> tuple[int, ...]:
        """Weight layers on each branch, computed once: merges of merges share sub-paths (NASNet
        cells, DenseNet), and recounting them would take exponential time."""
        return tuple(count_weights(b) for b in self.branches)

    @cached_property
    def deepest_branch(self) -> Path:
        """The branch with the most weight layers; of equally deep ones, one that holds a skip
        connection (ReXNet's `torch.cat([x[:, :c] + shortcut, x[:, c:]])`: the channels with the
        shortcut give the gradient its identity route), then the longest."""
        return max(zip(self.branch_weights, self.branches), key=lambda wb: (wb[0], _holds_skip(wb[1]), len(wb[1])),
                   default=(0, ()))[1]  # fmt: skip

    @property
    def is_skip(self) -> bool:
        """A residual or dense connection: one branch is a shorter route for the gradient."""
        if self.kind is MergeKind.OTHER or len(self.branches) < 2:
            return False
        depths = self.branch_weights
        return min(depths) < max(depths) or any(len(b) == 0 for b in self.branches)


Step = Union[Layer, Merge]
Path = tuple[Step, ...]


def _holds_skip(path: Path) -> bool:
    """A skip connection on the deepest route of `path`."""
    return any(isinstance(step, Merge) and (step.is_skip or _holds_skip(step.deepest_branch)) for step in path)


def meet(kind: MergeKind, paths: list[Path], site: Site) -> Path:
    """Branches of one value meeting (`x + f(x)`, `torch.cat`): the paths' common prefix, then a
    Merge of what follows it in each; the path itself when nothing does. Both front-ends merge so."""
    main = paths[0]
    prefix, shortest = 0, min(len(path) for path in paths)
    while prefix < shortest and all(path[prefix] is main[prefix] for path in paths):
        prefix += 1
    branches = tuple(path[prefix:] for path in paths)
    if all(len(branch) == 0 for branch in branches):
        return main
    return main[:prefix] + (Merge(kind, branches, site),)


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
        elif step.kind.counts_as_depth:
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
        elif isinstance(item, Layer) and item.kind in (Kind.WEIGHT, Kind.EMBEDDING, Kind.OTHER) and not item.foreign:
            continue
        else:
            if chain:
                chains.append(chain)
            chain = []
    return chains


def iter_layers(path: Path, _seen: set[int] | None = None) -> Iterator[Layer]:
    """Every layer in `path`, all branches included, in order. A merge met again through another
    branch is walked once: DenseNet's `torch.cat(features)` holds every earlier concat in each of
    its branches, so walking each copy made a block of 24 layers 2**24 walks (the parent process
    grew past 10 GB on torchvision's densenet.py under `--graph`)."""
    seen = set() if _seen is None else _seen
    for step in path:
        if isinstance(step, Merge):
            if id(step) in seen:
                continue
            seen.add(id(step))
            for branch in step.branches:
                yield from iter_layers(branch, seen)
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


class Effect(enum.Enum):
    """What a gap does to the rules: an `uncertain` model may hide a layer (absence rules stay
    silent); an `approximate` one has a path guessed from declaration order (lower severity)."""

    UNCERTAIN = "uncertain"
    APPROXIMATE = "approximate"


class Gap(enum.Enum):
    """Why part of a model was not understood: its effect, a phrase that says it, and the short
    label the coverage line counts it by."""

    UNRESOLVED_LAYER = (Effect.UNCERTAIN, "a call that may make a layer could not be resolved", "unknown layer factory")
    UNKNOWN_CALL_ON_TENSOR = (Effect.UNCERTAIN, "an unknown callable is applied to a tensor", "unknown call on a tensor")
    UNKNOWN_BRANCH = (Effect.UNCERTAIN, "a branch depends on a value that is not known", "branch on unknown value")
    UNRUNNABLE_LOOP = (Effect.UNCERTAIN, "a loop that builds layers could not be run", "loop not run")
    UNKNOWN_CONTAINER_ITEM = (Effect.UNCERTAIN, "a container holds a value that could not be resolved", "unknown container item")
    OPAQUE_BLOCK = (Effect.UNCERTAIN, "an imported block whose code vglint cannot see", "imported block not visible")
    DEFERRED_NORMALIZATION = (Effect.UNCERTAIN, "the file applies weight normalisation to layers in code vglint does not run",
                              "weight norm applied elsewhere")  # fmt: skip
    FORWARD_LOOP = (Effect.APPROXIMATE, "a loop in forward could not be followed", "loop in forward not followed")
    NO_FORWARD = (Effect.APPROXIMATE, "the module has no forward method vglint can follow", "no forward to follow")
    FORWARD_LOST = (Effect.APPROXIMATE, "forward returned no tensor that vglint could follow", "forward not followed")

    @property
    def effect(self) -> Effect:
        return self.value[0]

    @property
    def description(self) -> str:
        return self.value[1]

    @property
    def label(self) -> str:
        """A few words, as the coverage line and `inspect` name this kind of gap."""
        return self.value[2]


#: Gaps whose site is a call: `what` names the callee (`make_norm`), not the whole call.
_NAMED_BY_CALLEE = frozenset({Gap.UNRESOLVED_LAYER, Gap.UNKNOWN_CALL_ON_TENSOR, Gap.OPAQUE_BLOCK, Gap.UNKNOWN_CONTAINER_ITEM})


@dataclass(frozen=True, eq=False)
class Reason:
    """One gap in what a front-end understood of a model, and where it is."""

    gap: Gap
    site: Site

    @property
    def effect(self) -> Effect:
        return self.gap.effect

    @property
    def what(self) -> str:
        """The gap's label and the code it is about, in one short phrase: ``unknown layer factory
        `make_norm` ``, ``loop not run `for i in range(depth)` ``. Reads the site's text: only
        for `-v` and `inspect`, never for the plain coverage line."""
        text = self.site.text.strip()
        if self.gap in _NAMED_BY_CALLEE and "(" in text:
            text = text[: text.index("(")]
        text = " ".join(text.splitlines()[0].split()) if text else ""
        text = text.removesuffix(":").rstrip()
        if len(text) > 60:
            text = text[:57] + "..."
        where = "" if self.site.local else " (in another module)"
        return f"{self.gap.label} `{text}`{where}" if text else f"{self.gap.label}{where}"


@dataclass
class ModelGraph:
    """One model: its name, where it is defined, its deepest input-to-output path, the paths of all
    its outputs, and every layer it declares.

    `reasons` lists what could not be understood; they make the model `approximate` (`forward`
    could not be followed and the path is the declaration order) or `uncertain` (something that may
    have been a layer could not be resolved, so the absence of a normalisation or a skip on the path
    proves nothing).
    """

    name: str
    site: Site
    path: Path
    declared: list[Layer] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)  # every tensor it returns; `path` is the deepest
    #: Values the front-end assumed to build the model (`num_hidden_layers=12 (BertConfig default)`).
    assumed: list[str] = field(default_factory=list)

    @property
    def approximate(self) -> bool:
        return any(reason.effect is Effect.APPROXIMATE for reason in self.reasons)

    @property
    def uncertain(self) -> bool:
        return any(reason.effect is Effect.UNCERTAIN for reason in self.reasons)

    @property
    def span(self) -> Span:
        return self.site.span

    @property
    def deepest(self) -> list[Layer | Marker]:
        return deepest_path(self.path)
