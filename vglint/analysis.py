"""What rules read about one file, from any front-end: its `ModelGraph`s and its training-code facts.

Nothing here refers to libcst: every fact carries a `Site` (a span and its source text), so a
front-end that never saw a syntax tree (the graph front-end, which builds the models) can feed
the same rules. A front-end is anything with the `Frontend` protocol's `analyse` method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vglint.findings import Site, Span
from vglint.ir import ModelGraph


@dataclass
class LossUse:
    """A loss called on probabilities in training code (`BCELoss` on a sigmoid, ...)."""

    produced_by: str  # the last op before the loss: "sigmoid", "softmax" or "log_of_softmax"
    loss: str  # as messages name it: "nn.BCELoss", "F.cross_entropy"
    site: Site  # the loss call
    related: Site | None = None  # where the sigmoid or softmax was applied, when the front-end knows
    #: What the code shows of the loss's targets: "class" for class labels (one-hot encodings,
    #: integer labels), None when it does not show (VG303 judges an MSE loss by it).
    target: str | None = None
    model: str | None = None  # the model vglint assumed a training function was given, if it had to
    under: str | None = None  # the string option this loss appears under (`loss="binary"`), if only one


@dataclass
class TrainingLoop:
    """A function (or the module body) that calls `.backward()` and steps an optimiser."""

    name: str  # the function's name, or "<module>"
    backward: Site  # its first `.backward()` call
    clips: bool  # it clips gradients, itself or in a function of the file that it calls
    names: set[str] = field(default_factory=set)  # every name the loop's code refers to


@dataclass
class LengthConstant:
    """A module or class constant whose name says sequence length (`SEQ_LEN = 1000`)."""

    name: str
    value: int
    site: Site


@dataclass
class FedShape:
    """The shape of a tensor built in the file and fed to a model or layer (`torch.randn(32, 1000, 8)`)."""

    shape: tuple[Any, ...]
    made_by: Site | None  # the call that built it


@dataclass
class TrainingFacts:
    """What the file's training code shows."""

    loops: list[TrainingLoop] = field(default_factory=list)
    recurrent: str | None = None  # the first recurrent layer class the file uses, e.g. "nn.LSTM"
    clipping_configured: bool = False  # Lightning's Trainer(gradient_clip_val=...) and the like
    length_constants: list[LengthConstant] = field(default_factory=list)
    loss_uses: list[LossUse] = field(default_factory=list)
    warmup: Site | None = None  # where the code schedules a learning-rate warm-up, if it does
    #: Tensors fed to a model, by the model's name, or to a layer, by the layer's site.
    fed_shapes: dict[Any, list[FedShape]] = field(default_factory=dict)


@dataclass
class SkippedModel:
    """A model the front-end gave up on: its name, where it is defined, and why ("analysis budget":
    it ran past the step, depth or time limit; "front-end error": vglint failed on it)."""

    name: str
    site: Site
    why: str


@dataclass
class ProjectReads:
    """What of the project one file's analysis depended on besides the file: the project's root,
    each module name looked up from a folder and the file (or namespace folder) it meant, None when
    it meant none, and each module file read. While all of these are as they were, so is the analysis."""

    root: Path | None = None
    lookups: dict[tuple[Path, str], Path | None] = field(default_factory=dict)
    files: set[Path] = field(default_factory=set)

    def add(self, other: ProjectReads) -> None:
        self.root = self.root or other.root
        self.lookups.update(other.lookups)
        self.files |= other.files


@dataclass
class FileAnalysis:
    """One file, as the rules see it. `unreadable` is set (and nothing else is) when the file could
    not be read or parsed: where and why, for VG001."""

    filename: str
    text: str  # the file's decoded source, for suppression comments
    models: list[ModelGraph] = field(default_factory=list)
    training: TrainingFacts = field(default_factory=TrainingFacts)
    unreadable: tuple[Span, str] | None = None
    internal_errors: list[str] = field(default_factory=list)  # the front-end failed on part of the file
    skipped: list[SkippedModel] = field(default_factory=list)  # models not analysed at all, never dropped silently
    sequence_length: int | None = None  # `sequence-length` in [tool.vglint], set by the engine
    reads: ProjectReads = field(default_factory=ProjectReads)  # the other files it depends on, for the cache


class Frontend(Protocol):
    """File in, models and training facts out. The source front-end reads the text with libcst;
    the graph front-end builds the models with torch."""

    def analyse(self, filename: str, source: bytes) -> FileAnalysis: ...
