"""The values the interpreter computes with: plain Python values it knows exactly, `UNKNOWN` for
everything else, and models of what model code builds (modules, instances, symbolic tensors), plus
the budget that bounds every interpretation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst

from vglint.ir import Layer
from vglint.ir import Path as LayerPath
from vglint.source.names import decorated
from vglint.source.sites import NodeSite

THIS_MODULE = "<this module>"


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class OutOfBudget(Exception):
    """The interpretation of one model ran past its step budget or call depth."""


class FunctionReturn(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass


class Budget:
    """Every limit on interpreting user code, in one place: steps per model and per file, call
    depth, a wall clock per model, and the sizes of loops, lists and files the interpreter takes on."""

    MAX_STEPS = 100_000  # per model
    MAX_FILE_STEPS = 10_000_000  # per file: about 20 s; timm files of ~100 factories, each a whole model built, stop here
    MAX_DEPTH = 40  # nested calls, and module trees named
    MAX_SECONDS = 5.0  # per model, a last resort: no model of the corpus comes near it
    MAX_LOOP = 1_000  # items of a range or comprehension the interpreter makes
    #: iterations of one `for` over what is already built: `for m in self.modules():` in the init of
    #: an EfficientNet-B7 (1,200 modules); each iteration still spends the model's steps
    MAX_ITERATIONS = 5_000
    MAX_SEQUENCE = 100_000  # items of a list or string built by `*` or `+`
    MAX_SIBLING_BYTES = 400_000  # a module of the project larger than this is not read
    MAX_MODULES = 64  # other modules of the project read for one checked file
    MAX_PROJECT_BYTES = 1_500_000  # their sizes together, per checked file (parsing is most of their cost)
    MAX_IMPORT_STEPS = 50_000  # steps of their module-level code, all of them together, per checked file
    MAX_IMPORT_NESTING = 8  # a module whose module level imports a module whose module level imports ...

    def __init__(self) -> None:
        self.steps = 0
        self.file_steps = 0
        self.import_steps = 0
        self.importing = 0  # how many imported modules' module levels are running, one inside the other
        self.depth = 0
        self.deadline = time.monotonic() + self.MAX_SECONDS

    def reset(self) -> None:
        """A new model: a fresh step budget and clock, unless the file's budget is spent. While an
        imported module's module level runs, a new statement of it, on the imports' budget."""
        self.deadline = time.monotonic() + self.MAX_SECONDS
        self.depth = 0
        if self.importing:
            self.import_steps += self.steps
            self.steps = 0 if self.import_steps < self.MAX_IMPORT_STEPS else self.MAX_STEPS
            return
        self.file_steps += self.steps
        self.steps = 0 if self.file_steps < self.MAX_FILE_STEPS else self.MAX_STEPS

    @contextmanager
    def imported_module(self) -> Iterator[None]:
        """Run another module's module level (loaded the first time one of its names is needed,
        perhaps deep inside a model) on the imports' budget, and give the model back its own steps,
        call depth and clock afterwards."""
        saved = self.steps, self.depth, self.deadline
        self.importing += 1
        self.steps = 0
        try:
            yield
        finally:
            self.import_steps += self.steps
            self.importing -= 1
            self.steps, self.depth, self.deadline = saved

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.MAX_STEPS:
            raise OutOfBudget
        if self.steps % 1024 == 0 and time.monotonic() > self.deadline:
            raise OutOfBudget  # steps bound the work; the clock bounds what a step may cost

    def enter_call(self) -> None:
        self.depth += 1
        if self.depth > self.MAX_DEPTH:
            raise OutOfBudget

    def exit_call(self) -> None:
        self.depth -= 1

    def loop(self, count: int) -> None:
        """Called with each iteration's index."""
        if count >= self.MAX_ITERATIONS:
            raise OutOfBudget


@dataclass(eq=False)
class QualRef:
    """A name reached through an import: `torch.nn.Linear`, `torch.sigmoid`, `F`."""

    name: str


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    name: str
    bases: list[Any]
    methods: dict[str, cst.FunctionDef]
    assigns: dict[str, cst.BaseExpression]
    ctx: ModuleContext | None = None  # the module it is defined in

    def decorated(self, name: str) -> bool:
        """`@name`, `@module.name` or `@name(...)` on the class (`names.decorated`)."""
        return decorated(self.node, name)

    def may_mention(self, word: str) -> bool:
        """Whether the class's source may hold `word`: a search of a body not parsed yet can be
        skipped where its text shows the word is not there (`_DeferredClassInfo`)."""
        return True


@dataclass(eq=False)
class FuncRef:
    node: cst.FunctionDef
    bound: Any = None  # the instance, for methods
    owner: ClassInfo | None = None
    ctx: ModuleContext | None = None  # for module-level functions of another module
    # the names of the function a nested `def` is in, which it reads as Python's closures do
    # (timm's `_ntuple(n)` returns `parse(x)`, which repeats `x` `n` times)
    closure: dict[str, Any] | None = None


@dataclass(eq=False)
class ModuleContext:
    """One module's names: the checked file, or another module of its project that it imports
    from (`from .blocks import BasicBlock`, `import model`, `from mypkg.layers import Block`). Code
    runs with the names of the module it is in."""

    module: cst.Module
    imports: dict[str, str]
    locator: Any
    path: Path | None
    self_names: set[str]
    local: bool = True  # the file being checked (findings may point into it)
    #: Another module's module level runs a name at a time, when the name is first needed, not when
    #: the module is read: its classes and functions need none of it (`modules.LazyLevel`).
    lazy: Any = None
    dotted: str | None = None  # the name it is imported by from outside its package (`transformers.modeling_utils`)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    globals: dict[str, Any] = field(default_factory=dict)
    sites: dict[cst.CSTNode, NodeSite] = field(default_factory=dict)
    #: Every class definition in order, by its node: a notebook redefines `class Net` cell after cell.
    class_defs: dict[cst.ClassDef, ClassInfo] = field(default_factory=dict)
    #: The modules it imports everything from (`from .evo_norm import *`), found when first needed.
    star_imports: list[str] | None = None
    #: Which of its functions only compute a plain value (`calls.value_helper`), by id of the node:
    #: another module's are shared by every file that reads it, as its parsed source is.
    value_helpers: dict[int, bool] = field(default_factory=dict)


@dataclass(eq=False)
class Param:
    """`layer.weight` or `layer.bias`: the target of an init call or a freeze."""

    owner: Any
    name: str


@dataclass(eq=False)
class ModuleObj:
    """A `torch.nn` layer or container made in the code."""

    cls: str
    node: cst.CSTNode
    args: list[Any]
    kwargs: dict[str, Any]
    children: list[Any] = field(default_factory=list)
    named: dict[str, Any] = field(default_factory=dict)
    init_gain: float | None = None
    init_name: str | None = None
    frozen: bool = False
    name: str | None = None  # attribute path in the model, e.g. "encoder.0"
    foreign: bool = False  # not from torch.nn: never looked up in the catalogue (vglint.layers)
    library: str | None = None  # a library model (`torchvision.models.resnet101`): a trainable block
    ctx: ModuleContext | None = field(default=None, repr=False)  # the module whose code made it: its site is there
    weight_normalized: bool = False  # wrapped in weight_norm/spectral_norm: its weight's scale is normalised
    _layer: Layer | None = None

    def arg(self, index: int, name: str, default: Any = UNKNOWN) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        return self.args[index] if index < len(self.args) else default


@dataclass(eq=False)
class Instance:
    """An object of a model class defined in the file."""

    cls: ClassInfo
    node: cst.CSTNode | None
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[Any] = field(default_factory=list)  # for subclasses of Sequential/ModuleList
    frozen: bool = False
    name: str | None = None
    layer: ModuleObj | None = None  # the torch layer a subclass of one (`class MyConv(nn.Conv2d)`) is


@dataclass(eq=False)
class PlainObject:
    """An object that is not a module: an instance of a plain class of the code (a config, a
    dataclass, `InvertedResidualConfig(...)`), or a namespace (`SimpleNamespace(depth=12)`,
    `parser.parse_args()`) when `cls` is None."""

    cls: ClassInfo | None
    attrs: dict[str, Any] = field(default_factory=dict)
    assumed: str | None = None  # built with its class's defaults for a model that requires it: its name


@dataclass(eq=False)
class LambdaRef:
    """A `lambda`, with the names it closes over."""

    node: cst.Lambda
    env: dict[str, Any]
    cls: ClassInfo | None


@dataclass(eq=False)
class ArgParser:
    """`argparse.ArgumentParser()`: the defaults of the options added to it, by destination."""

    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Tensor:
    """A symbolic tensor: the path of layers from its root input, plus tags rules may read."""

    path: LayerPath
    root: int
    tags: frozenset[str] = frozenset()
    shape: tuple[Any, ...] | None = None  # known for tensors the code builds: torch.randn(32, 1000, 8)
    made_by: cst.CSTNode | None = None  # the call that built it, for messages


#: Tags that say what the last operation on a tensor was, for the loss rules.
LAST_OP_TAGS = frozenset({"gate", "sigmoid", "softmax", "log_softmax"})


@dataclass(eq=False)
class Bound:
    """A method looked up on a value we model (`layers.append`, `x.sigmoid`, `self.modules`)."""

    obj: Any
    name: str


@dataclass(eq=False)
class Partial:
    """`functools.partial(f, *args, **kwargs)`, as in `norm_layer = partial(nn.LayerNorm, eps=1e-6)`."""

    func: Any
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(eq=False)
class SuperRef:
    instance: Any
    cls: ClassInfo


class ConstArray(tuple):
    """A 1-D tensor or numpy array computed from literals, to build a model with: RegNet's widths
    from `torch.arange(depth) * w_a + w_0`, stochastic-depth rates from `torch.linspace(0, p, n)`.
    Its items are plain numbers; arithmetic is elementwise (`vglint.source.consts`). It is a value,
    not a tensor of the model: no gradient flows through it."""

    __slots__ = ()


@dataclass(eq=False)
class NamedTupleType:
    """`collections.namedtuple("Outputs", ["logits", "aux"])`: a class whose objects are tuples."""

    fields: tuple[str, ...]


class NamedValues(tuple):
    """An object of a `NamedTupleType`: a tuple (a model may return it), whose fields are read by name."""

    fields: tuple[str, ...] = ()

    def field(self, name: str) -> Any:
        return self[self.fields.index(name)] if name in self.fields and self.fields.index(name) < len(self) else UNKNOWN


_KNOWN = (int, float, str, bool, type(None))


def key_like(value: Any) -> bool:
    """A known value that can be a dict key."""
    if not known(value):
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


def known(value: Any) -> bool:
    """True for plain Python values the interpreter computed exactly."""
    if isinstance(value, _KNOWN):
        return True
    if isinstance(value, (list, tuple)):
        return all(known(v) for v in value)
    return False


def same_value(a: Any, b: Any) -> Any:
    """`a == b` as Python would decide it on what vglint computes with, or UNKNOWN: plain values by
    equality; the code's classes, functions and objects by identity (`norm_layer in _NORM_ACT_TYPES`,
    a set of timm's classes); imported names by their name. A value and an object of another kind
    are never equal; an unknown value or a tensor is never decided."""
    if known(a) and known(b):
        try:
            return a == b
        except Exception:
            return UNKNOWN
    if any(v is UNKNOWN or isinstance(v, (Tensor, Bound, Param)) for v in (a, b)):
        return UNKNOWN
    if isinstance(a, QualRef) and isinstance(b, QualRef):
        return a.name == b.name
    if isinstance(a, FuncRef) and isinstance(b, FuncRef):
        return a.node is b.node and a.bound is b.bound
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
            return False
        if len(a) != len(b):
            return False
        return _all_same(a, b)
    return a is b


def _all_same(a: Any, b: Any) -> Any:
    outcomes = [same_value(x, y) for x, y in zip(a, b)]
    if any(o is False for o in outcomes):
        return False
    return UNKNOWN if any(o is UNKNOWN for o in outcomes) else True


def contains_value(items: list[Any], value: Any) -> Any:
    """`value in items`, decided by `same_value`: True as soon as one item is the value, unknown
    when none is but some could be."""
    outcomes = [same_value(value, item) for item in items]
    if any(o is True for o in outcomes):
        return True
    return UNKNOWN if any(o is UNKNOWN for o in outcomes) else False


def clone(value: Any) -> Any:
    """`copy.deepcopy`: new layer objects with the same settings (Annotated Transformer's `clones`),
    and new lists, dicts and plain objects holding copies."""
    if isinstance(value, ModuleObj):
        return ModuleObj(value.cls, value.node, list(value.args), dict(value.kwargs),
                         children=[clone(c) for c in value.children],
                         named={k: clone(v) for k, v in value.named.items()},
                         init_gain=value.init_gain, init_name=value.init_name, frozen=value.frozen,
                         foreign=value.foreign, library=value.library, ctx=value.ctx)  # fmt: skip
    if isinstance(value, Instance):
        copied = Instance(value.cls, value.node, frozen=value.frozen)
        copied.attrs = {k: clone(v) for k, v in value.attrs.items()}
        copied.children = [clone(c) for c in value.children]
        return copied
    if isinstance(value, list):
        return [clone(v) for v in value]
    if isinstance(value, tuple) and not isinstance(value, NamedValues):
        return tuple(clone(v) for v in value)
    if isinstance(value, dict):  # timm's `[deepcopy(ba) for _ in range(rep)]`: each block its own arguments
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, PlainObject):
        return PlainObject(value.cls, {k: clone(v) for k, v in value.attrs.items()}, value.assumed)
    return value


def flatten_values(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in flatten_values(item)]
    if isinstance(value, dict):
        return [v for item in value.values() for v in flatten_values(item)]
    return [value]
