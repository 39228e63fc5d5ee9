"""An abstract interpreter for the parts of Python that build and run `nn.Module`s.

It runs `__init__` with constants it can know (literals, module-level names, default arguments,
arithmetic), so loops, list building, helper calls and submodule classes produce the real layer
objects; then it runs `forward` on a symbolic tensor whose value is the path of layers it went
through. Whatever it cannot know is `UNKNOWN`, and unknown things never produce layers: vglint
reports nothing on guesses. A step budget and a call-depth limit bound every input.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
import operator
import re
import time
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from vglint.findings import Span
from vglint.ir import Kind, Layer, Merge, count_weights
from vglint.ir import Path as LayerPath
from vglint.source.names import (
    CONTAINERS,
    NN_LAYERS,
    canonical,
    dotted_name,
    functional_op,
    import_table,
)

MAX_STEPS = 100_000  # per model
MAX_FILE_STEPS = 250_000  # per file: a file of 100 factory functions (timm) stops at this
MAX_DEPTH = 40
MAX_SECONDS = 5.0  # per model, a last resort: no model of the corpus comes near it
MAX_LOOP = 1_000
MAX_SIBLING_BYTES = 400_000  # a sibling module larger than this is not read
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


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


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


@dataclass(eq=False)
class FuncRef:
    node: cst.FunctionDef
    bound: Any = None  # the instance, for methods
    owner: ClassInfo | None = None
    ctx: ModuleContext | None = None  # for module-level functions of another module


@dataclass(eq=False)
class ModuleContext:
    """One module's names: the checked file, or a sibling module of its package that it imports
    from (`from .blocks import BasicBlock`). Code runs with the names of the module it is in."""

    module: cst.Module
    imports: dict[str, str]
    locator: Any
    path: Path | None
    self_names: set[str]
    local: bool = True  # the file being checked (findings may point into it)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    globals: dict[str, Any] = field(default_factory=dict)


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
    foreign: bool = False  # not from torch.nn: never looked up in NN_LAYERS
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
class Tensor:
    """A symbolic tensor: the path of layers from its root input, plus tags rules may read."""

    path: LayerPath
    root: int
    tags: frozenset[str] = frozenset()
    shape: tuple[Any, ...] | None = None  # known for tensors the code builds: torch.randn(32, 1000, 8)
    made_by: cst.CSTNode | None = None  # the call that built it, for messages


#: Tags that say what the last operation on a tensor was, for the loss rules.
_LAST_OP_TAGS = frozenset({"gate", "sigmoid", "softmax", "log_softmax"})


@dataclass
class LossUse:
    """A loss called on probabilities (`BCELoss` on a sigmoid, `CrossEntropyLoss` on a softmax)."""

    produced_by: str  # "sigmoid" or "softmax"
    loss: str  # "nn.BCELoss", "F.cross_entropy", ...
    node: cst.CSTNode  # the loss call


@dataclass
class TrainingFacts:
    """What interpreting the file's training code found (read by the recurrent and loss rules)."""

    loss_uses: list[LossUse] = field(default_factory=list)
    # model class name (or RNN module node) -> (shape, node of the tensor-building call)
    fed_shapes: dict[Any, list[tuple[tuple[Any, ...], cst.CSTNode]]] = field(default_factory=dict)
    frozen_sites: set[cst.CSTNode] = field(default_factory=set)  # construction calls of frozen layers


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


class NodeSite:
    """Where a layer comes from; its span is resolved only when a finding needs it. `local` is
    False for a layer made in a sibling module: its span is in that other file."""

    __slots__ = ("node", "locator", "local")

    def __init__(self, node: cst.CSTNode, locator: Any, local: bool = True) -> None:
        self.node, self.locator, self.local = node, locator, local

    @property
    def span(self):
        return self.locator.span(self.node)


_BINOPS = {
    cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
    cst.Divide: operator.truediv, cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}  # fmt: skip
_AUG = {
    cst.AddAssign: cst.Add(), cst.SubtractAssign: cst.Subtract(), cst.MultiplyAssign: cst.Multiply(),
    cst.DivideAssign: cst.Divide(), cst.FloorDivideAssign: cst.FloorDivide(),
}  # fmt: skip
_COMPARE = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
}  # fmt: skip
_BUILTINS = {
    "len": len, "int": int, "float": float, "max": max, "min": min, "abs": abs, "sum": sum,
    "round": round, "str": str, "bool": bool, "sorted": sorted, "reversed": lambda x: list(reversed(x)),
}  # fmt: skip
_MODULE_BASES = {"torch.nn.Module", "torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict",
                 "pytorch_lightning.LightningModule", "lightning.LightningModule",
                 "lightning.pytorch.LightningModule"}  # fmt: skip
_KNOWN = (int, float, str, bool, type(None))
_BCE_LOSSES = {"nn.BCELoss", "F.binary_cross_entropy"}
_CE_LOSSES = {"nn.CrossEntropyLoss", "F.cross_entropy"}
LOSS_MODULES = {"BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss",
                "SmoothL1Loss", "KLDivLoss", "HuberLoss"}  # fmt: skip
LOSS_FUNCTIONS = {"binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
                  "mse_loss", "l1_loss", "smooth_l1_loss", "kl_div", "huber_loss"}  # fmt: skip


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


class Interpreter:
    """Interprets one file's model code; one instance per file, `reset_budget` per model."""

    def __init__(self, module: cst.Module, imports: dict[str, str], locator: Any, filename: str = "") -> None:
        path = Path(filename) if filename.endswith(".py") else None
        self.ctx = self._context(module, imports, locator, path, local=True)
        self.siblings: dict[Path, ModuleContext | None] = {}
        self._bases: dict[int, list[Any]] = {}
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS
        self.file_steps = 0
        self.depth = 0
        self.approximate = False
        # Set when something that may be a layer could not be resolved (`self.norm = make_norm(d)`
        # with an unknown `make_norm`): rules that claim an absence stay silent on such a model.
        self.uncertain = False
        self.facts = TrainingFacts()
        self.training_code = False  # interpreting training code: unknown loops run once, losses are recorded
        self.no_grad = False  # inside `with torch.no_grad()`
        self.forward_depth = 0
        self.call_stack: list[cst.FunctionDef] = []
        self.backward_functions: set[cst.FunctionDef] = set()
        self._roots = itertools.count(1)

    # ----- module-level tables -----------------------------------------------------------

    module = property(lambda self: self.ctx.module)
    imports = property(lambda self: self.ctx.imports)
    locator = property(lambda self: self.ctx.locator)
    classes = property(lambda self: self.ctx.classes)
    functions = property(lambda self: self.ctx.functions)
    globals = property(lambda self: self.ctx.globals)
    self_names = property(lambda self: self.ctx.self_names)

    @staticmethod
    def _context(module: cst.Module, imports: dict[str, str], locator: Any, path: Path | None, local: bool) -> ModuleContext:
        # dotted names the module may be imported by: d2l/torch.py -> {"torch", "d2l.torch"}
        parts = [p for p in path.with_suffix("").as_posix().split("/") if p and p not in (".", "..")] if path else []
        names = {".".join(parts[i:]) for i in range(len(parts))} | {THIS_MODULE}
        ctx = ModuleContext(module, imports, locator, path, names, local)
        Interpreter._collect(ctx)
        return ctx

    @contextmanager
    def entered(self, ctx: ModuleContext | None) -> Iterator[None]:
        """Run code with the names of the module it is defined in."""
        if ctx is None or ctx is self.ctx:
            yield
            return
        outer, self.ctx = self.ctx, ctx
        try:
            yield
        finally:
            self.ctx = outer

    def sibling(self, relative: str) -> ModuleContext | None:
        """The module `.name` of the checked file's package, parsed once, with its module level run."""
        if self.ctx.path is None or relative.startswith("..") or not relative.startswith("."):
            return None
        folder = self.ctx.path.parent
        stem = relative[1:].replace(".", "/")
        for candidate in (folder / f"{stem}.py", folder / stem / "__init__.py"):
            if candidate.is_file():
                break
        else:
            return None
        key = candidate.resolve()
        if key in self.siblings:
            return self.siblings[key]
        self.siblings[key] = None  # an import cycle finds nothing instead of recursing
        try:
            stat = candidate.stat()
            if stat.st_size > MAX_SIBLING_BYTES:
                return None
            module, imports = _parse_sibling(str(key), stat.st_mtime_ns)
        except Exception:  # unreadable or unparsable: its names stay unknown
            return None
        ctx = self._context(module, imports, _SiblingLocator(), candidate, local=False)
        self.siblings[key] = ctx
        with self.entered(ctx):
            self.run_module_level()
        return ctx

    @staticmethod
    def _collect(ctx: ModuleContext) -> None:
        for statement in ctx.module.body:
            if isinstance(statement, cst.ClassDef):
                methods, assigns = {}, {}
                for item in statement.body.body:
                    if isinstance(item, cst.FunctionDef):
                        methods[item.name.value] = item
                    elif isinstance(item, cst.SimpleStatementLine):
                        for small in item.body:
                            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                                target = small.targets[0].target
                                if isinstance(target, cst.Name):
                                    assigns[target.value] = small.value
                            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                                if isinstance(small.target, cst.Name):  # `expansion: int = 4`
                                    assigns[small.target.value] = small.value
                bases = [arg.value for arg in statement.bases if arg.keyword is None]
                ctx.classes[statement.name.value] = ClassInfo(statement, statement.name.value, bases, methods, assigns, ctx)
            elif isinstance(statement, cst.FunctionDef):
                ctx.functions[statement.name.value] = statement

    def qualified(self, expr: cst.BaseExpression) -> str | None:
        """The import-resolved, canonical dotted name of `expr`, if it is one."""
        name = dotted_name(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            full = self.imports[head] + ("." + rest if rest else "")
            return canonical(full)
        if isinstance(self.globals.get(head), QualRef):  # `d2l = sys.modules[__name__]`
            return canonical(self.globals[head].name + ("." + rest if rest else ""))
        return None

    def resolve_base(self, base: cst.BaseExpression) -> ClassInfo | str | None:
        """A base class: one of this file's classes (also when reached through the file's own
        package, as d2l's `class LeNet(d2l.Classifier)` inside d2l/torch.py), or its qualified name."""
        if isinstance(base, cst.Name) and base.value in self.classes:
            return self.classes[base.value]
        qualified = self.qualified(base)
        if qualified is None:
            return dotted_name(base)
        local = self.local_value(qualified)
        if isinstance(local, ClassInfo):
            return local
        return local.name if isinstance(local, QualRef) else qualified

    def local_value(self, qualified: str) -> Any:
        """What `pkg.module.Name` is when pkg.module is this very file, else None."""
        prefix, _, name = qualified.rpartition(".")
        if prefix in self.self_names and (name in self.classes or name in self.functions or name in self.globals):
            return self.global_value(name)
        return None

    def bases_of(self, info: ClassInfo) -> list[ClassInfo | str | None]:
        """The resolved bases of a class, worked out once (instantiation asks again and again)."""
        cached = self._bases.get(id(info))
        if cached is None:
            with self.entered(info.ctx):
                cached = self._bases[id(info)] = [self.resolve_base(base) for base in info.bases]
        return cached

    def base_names(self, info: ClassInfo, seen: set[int] | None = None) -> set[str]:
        """Qualified names of every base, through classes of the same file (or package)."""
        seen = set() if seen is None else seen
        if id(info) in seen:
            return set()
        seen.add(id(info))
        names: set[str] = set()
        for resolved in self.bases_of(info):
            if isinstance(resolved, ClassInfo):
                names.add(resolved.name)
                names |= self.base_names(resolved, seen)
            elif resolved is not None:
                names.add(resolved)
        return names

    def mro(self, info: ClassInfo) -> list[ClassInfo]:
        order, todo = [], [info]
        while todo:
            current = todo.pop(0)
            if current in order:
                continue
            order.append(current)
            todo.extend(b for b in self.bases_of(current) if isinstance(b, ClassInfo))
        return order

    def is_module_class(self, info: ClassInfo) -> bool:
        """Derived from nn.Module (or Lightning's) here or through the file's own classes; a class
        with an unresolvable base counts when it defines `forward` (transformers' PreTrainedModel)."""
        names = self.base_names(info)
        if names & _MODULE_BASES or self.torch_layer_base(info):
            return True
        resolved = all(b is not None and (isinstance(b, ClassInfo) or "." in b)
                       for c in self.mro(info) for b in self.bases_of(c))  # fmt: skip
        return not resolved and any("forward" in c.methods for c in self.mro(info)) and bool(names - {"object"})

    def torch_layer_base(self, info: ClassInfo) -> str | None:
        """`Conv2d` for a class of the file derived from `nn.Conv2d` (any known torch.nn layer)."""
        for name in self.base_names(info):
            short = name.rsplit(".", 1)[-1]
            if name == f"torch.nn.{short}" and short in NN_LAYERS:
                return short
        return None

    def container_base(self, info: ClassInfo) -> str | None:
        for name in self.base_names(info):
            if name in ("torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"):
                return name.rsplit(".", 1)[1]
        return None

    def find_method(self, info: ClassInfo, name: str) -> tuple[ClassInfo, cst.FunctionDef] | None:
        for cls in self.mro(info):
            if name in cls.methods:
                return cls, cls.methods[name]
        return None

    def global_value(self, name: str) -> Any:
        if name in self.globals:
            return self.globals[name]
        if name in self.classes:
            return self.classes[name]
        if name in self.functions:
            return FuncRef(self.functions[name], ctx=self.ctx)
        if name in self.imports:
            target = self.imports[name]
            module_name, _, short = target.rpartition(".")
            sibling = self.sibling(module_name) if module_name.startswith(".") else None
            if sibling is not None:
                if short in sibling.classes:
                    return sibling.classes[short]
                if short in sibling.functions:
                    return FuncRef(sibling.functions[short], ctx=sibling)
                if short in sibling.globals:
                    return sibling.globals[short]
            return QualRef(canonical(target))
        if name in _BUILTINS or name in ("range", "enumerate", "zip", "list", "tuple", "dict", "isinstance",
                                          "super", "getattr", "setattr", "hasattr", "print", "OrderedDict"):  # fmt: skip
            return QualRef("builtins." + name)
        return UNKNOWN

    def run_module_level(self) -> dict[str, Any]:
        """Evaluate module-level code in order: constants, configs, layer lists built in loops and
        module-level models. Calls of the file's own functions as statements (`train(model)`) and
        the `if __name__ == "__main__":` block are not run: that is training code, not model code."""
        for statement in self.module.body:
            if isinstance(statement, cst.SimpleStatementLine):
                runnable = [s for s in statement.body if self._model_building(s)]
            elif isinstance(statement, cst.For) or (isinstance(statement, cst.If) and not is_main_guard(statement)):
                runnable = [statement]
            else:
                continue
            for item in runnable:
                try:
                    self.reset_budget()
                    if isinstance(item, cst.BaseSmallStatement):
                        self.exec_small(item, self.globals, None)
                    else:
                        self.exec_statement(item, self.globals, None)
                except (OutOfBudget, RecursionError, FunctionReturn, _Break, _Continue):
                    continue
        return self.globals

    @staticmethod
    def _model_building(small: cst.CSTNode) -> bool:
        if isinstance(small, (cst.Assign, cst.AugAssign)) or (isinstance(small, cst.AnnAssign) and small.value):
            return True
        # `layers.append(...)` and `model.add_module(...)`, not `train(model)`
        return isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and isinstance(small.value.func, cst.Attribute)

    def reset_budget(self) -> None:
        self.deadline = time.monotonic() + MAX_SECONDS
        self.file_steps += self.steps
        self.steps = 0 if self.file_steps < MAX_FILE_STEPS else MAX_STEPS
        self.depth = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise OutOfBudget
        if self.steps % 1024 == 0 and time.monotonic() > self.deadline:
            raise OutOfBudget  # steps bound the work; the clock bounds what a step may cost

    def site(self, node: cst.CSTNode) -> NodeSite:
        return NodeSite(node, self.locator, self.ctx.local)

    # ----- statements ----------------------------------------------------------------------

    def exec_block(self, body: Any, env: dict[str, Any], cls: ClassInfo | None) -> None:
        statements = body.body if hasattr(body, "body") else body
        for statement in statements:
            self.exec_statement(statement, env, cls)

    def exec_statement(self, statement: cst.CSTNode, env: dict[str, Any], cls: ClassInfo | None) -> None:
        self.tick()
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self.exec_small(small, env, cls)
        elif isinstance(statement, cst.If):
            test = self.eval(statement.test, env, cls)
            unknown = test is UNKNOWN or isinstance(test, (Tensor, Bound))
            self.uncertain |= unknown
            # An unknown test takes the else branch: `if weights is not None:` (pretrained loading),
            # `if self.use_checkpoint:` and `if self.training:` guard the unusual case.
            if not unknown and self.truth(test):
                self.exec_block(statement.body, env, cls)
            elif statement.orelse is not None:
                orelse = statement.orelse
                if isinstance(orelse, cst.If):
                    self.exec_statement(orelse, env, cls)
                else:
                    self.exec_block(orelse.body, env, cls)
        elif isinstance(statement, cst.For):
            self.exec_for(statement, env, cls)
        elif isinstance(statement, (cst.With,)):
            self.exec_with(statement, env, cls)
        elif isinstance(statement, cst.Try):
            try:
                self.exec_block(statement.body, env, cls)
            finally:
                if statement.finalbody is not None:
                    self.exec_block(statement.finalbody.body, env, cls)
        elif isinstance(statement, cst.FunctionDef):
            env[statement.name.value] = FuncRef(statement)
        elif isinstance(statement, cst.While):
            self.not_followed()

    def exec_with(self, statement: cst.With, env: dict[str, Any], cls: ClassInfo | None) -> None:
        """`with torch.no_grad():` cuts every tensor made inside it from the gradient."""
        context = next((item.item for item in statement.items if self.disables_grad(item.item, env, cls)), None)
        if context is None:
            for item in statement.items:
                value = self.eval(item.item, env, cls)
                if item.asname is not None:
                    self.assign(item.asname.name, value, env, cls)
            self.exec_block(statement.body, env, cls)
            return
        op = self.grad_context_op(context)
        before = {key: id(value) for key, value in env.items()}
        outer, self.no_grad = self.no_grad, True
        try:
            self.exec_block(statement.body, env, cls)
        except FunctionReturn as done:
            raise FunctionReturn(self.cut_all(done.value, op, context)) from None
        finally:
            self.no_grad = outer
        for key, value in list(env.items()):
            if before.get(key) != id(value):
                env[key] = self.cut_all(value, op, context)

    def grad_context_op(self, context: cst.Call) -> str:
        """How messages name a no-grad context: `torch.no_grad()`, `torch.set_grad_enabled(False)`."""
        name = self.qualified(context.func) or "torch.no_grad"
        return "torch.set_grad_enabled(False)" if name.endswith("set_grad_enabled") else f"torch.{name.rsplit('.', 1)[-1]}()"

    def disables_grad(self, expr: cst.BaseExpression, env, cls) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        name = self.qualified(expr.func)
        if name in ("torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad"):
            return True
        if name in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and expr.args:
            return self.eval(expr.args[0].value, env, cls) is False
        return False

    def cut_all(self, value: Any, op: str, node: cst.CSTNode) -> Any:
        """`value` with a gradient cut appended to each tensor in it."""
        if isinstance(value, Tensor):
            return self.extend(value, Layer(Kind.CUT, op, self.site(node)))
        if isinstance(value, (list, tuple)):
            return type(value)(self.cut_all(v, op, node) for v in value)
        return value

    def fresh_batch(self, target: cst.BaseExpression | None = None) -> Any:
        """A symbolic batch shaped like the loop target: `for x, y in loader` gets two tensors."""
        if isinstance(target, (cst.Tuple, cst.List)):
            return tuple(self.fresh_batch(e.value) for e in target.elements)
        return Tensor((), next(self._roots))

    def not_followed(self) -> None:
        """A loop we cannot run: in `forward` the path is lost (declaration order takes over);
        in `__init__` some layers may be missing."""
        if self.forward_depth:
            self.approximate = True
        else:
            self.uncertain = True

    def truth(self, value: Any) -> bool:
        if isinstance(value, (ModuleObj, Instance, Tensor, ClassInfo, FuncRef, QualRef, Partial)):
            return True
        try:
            return bool(value)
        except Exception:
            return True

    def exec_for(self, statement: cst.For, env: dict[str, Any], cls: ClassInfo | None) -> None:
        iterable = self.iterate(self.eval(statement.iter, env, cls))
        if self.training_code:  # `for x, y in loader:` once, with symbolic batches; epochs once
            iterable = iterable[:1] if iterable else [self.fresh_batch(statement.target)]
        if iterable is None:
            self.not_followed()
            return
        for count, item in enumerate(iterable):
            if count >= MAX_LOOP:
                raise OutOfBudget
            self.assign(statement.target, item, env, cls)
            try:
                self.exec_block(statement.body, env, cls)
            except _Break:
                return
            except _Continue:
                continue
        else:
            if statement.orelse is not None:
                self.exec_block(statement.orelse.body, env, cls)

    def iterate(self, value: Any) -> list[Any] | None:
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, dict):
            return list(value)
        if isinstance(value, range):
            return list(value) if len(value) <= MAX_LOOP else None
        if isinstance(value, str):
            return list(value)
        if isinstance(value, ModuleObj):
            if value.cls == "ModuleDict":
                return list(value.named)
            return list(value.children)
        if isinstance(value, Instance) and (value.children or self.container_base(value.cls)):
            return list(value.children)
        return None

    def exec_small(self, small: cst.CSTNode, env: dict[str, Any], cls: ClassInfo | None) -> None:
        self.tick()
        if isinstance(small, cst.Assign):
            value = self.eval(small.value, env, cls)
            if value is UNKNOWN and isinstance(small.value, cst.Call):
                if any(isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self" for t in small.targets):
                    self.uncertain = True
            for target in small.targets:
                self.assign(target.target, value, env, cls)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.assign(small.target, self.eval(small.value, env, cls), env, cls)
        elif isinstance(small, cst.AugAssign):
            op = _AUG.get(type(small.operator))
            current = self.eval(small.target, env, cls)
            right = self.eval(small.value, env, cls)
            value = self.binary(op, current, right, small) if op is not None else UNKNOWN
            if isinstance(current, list) and isinstance(small.operator, cst.AddAssign) and isinstance(right, (list, tuple)):
                current.extend(right)  # `layers += [...]` mutates the list in place
                value = current
            self.assign(small.target, value, env, cls)
        elif isinstance(small, cst.Expr):
            value = self.eval(small.value, env, cls)
            call = small.value
            if (isinstance(value, Tensor) and isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value.endswith("_") and isinstance(call.func.value, cst.Name)):
                env[call.func.value.value] = value  # `x.detach_()`, `x.relu_()` change x in place
        elif isinstance(small, cst.Return):
            raise FunctionReturn(self.eval(small.value, env, cls) if small.value is not None else None)
        elif isinstance(small, cst.Raise):
            raise FunctionReturn(UNKNOWN)
        elif isinstance(small, cst.Break):
            raise _Break
        elif isinstance(small, cst.Continue):
            raise _Continue

    def assign(self, target: cst.BaseExpression, value: Any, env: dict[str, Any], cls: ClassInfo | None) -> None:
        if isinstance(target, cst.Name):
            env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = self.iterate(value)
            elements = target.elements
            if items is None or len(items) != len(elements) or any(isinstance(e, cst.StarredElement) for e in elements):
                items = [UNKNOWN] * len(elements)
                if isinstance(value, Tensor):  # `a, b = x.chunk(2)`: both come from x
                    items = [value] * len(elements)
                elif isinstance(value, list) and value and all(v is value[0] for v in value) and isinstance(value[0], Tensor):
                    items = [value[0]] * len(elements)  # `q, k, v = qkv.unbind(0)`
            for element, item in zip(elements, items):
                self.assign(element.value, item, env, cls)
        elif isinstance(target, cst.Attribute):
            owner = self.eval(target.value, env, cls)
            self.set_attr(owner, target.attr.value, value)
        elif isinstance(target, cst.Subscript):
            owner = self.eval(target.value, env, cls)
            key = self.subscript_key(target, env, cls)
            if isinstance(owner, dict) and key is not UNKNOWN:
                try:
                    owner[key] = value
                except TypeError:
                    pass
            elif isinstance(owner, list) and isinstance(key, int) and -len(owner) <= key < len(owner):
                owner[key] = value

    def set_attr(self, owner: Any, name: str, value: Any) -> None:
        if isinstance(owner, Instance):
            owner.attrs[name] = value
            self.name_tree(value, name if owner.name is None else f"{owner.name}.{name}")
            if isinstance(value, (ModuleObj, Instance)) and self.container_base(owner.cls) == "Sequential":
                owner.children.append(value)  # nn.Sequential runs its modules in registration order
        elif isinstance(owner, Param) and name == "requires_grad" and value is False:
            self.freeze(owner.owner)
        elif isinstance(owner, ModuleObj) and name in ("weight", "bias"):
            pass

    def name_tree(self, value: Any, name: str) -> None:
        """Give a module and its children their attribute paths (`encoder`, `encoder.0`, `backbone.conv`)."""
        if isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                self.name_tree(item, f"{name}.{index}")
            return
        if not isinstance(value, (ModuleObj, Instance)) or self.depth > MAX_DEPTH:
            return
        value.name = name
        if isinstance(value, ModuleObj):
            keys = {id(v): k for k, v in value.named.items()}
            for index, child in enumerate(value.children):
                self.name_tree(child, f"{name}.{keys.get(id(child), index)}")
        else:
            for key, child in value.attrs.items():
                self.name_tree(child, f"{name}.{key}")

    def freeze(self, owner: Any) -> None:
        """`requires_grad_(False)`: kept by construction site too, since training code freezes its
        own instance of a model (`model.encoder.requires_grad_(False)` in `main()`)."""
        if isinstance(owner, (ModuleObj, Instance)):
            owner.frozen = True
            if isinstance(owner, ModuleObj):
                self.facts.frozen_sites.add(owner.node)

    # ----- expressions ---------------------------------------------------------------------

    def eval(self, node: cst.BaseExpression, env: dict[str, Any], cls: ClassInfo | None) -> Any:
        self.tick()
        method = getattr(self, "eval_" + type(node).__name__, None)
        if method is None:
            return UNKNOWN
        return method(node, env, cls)

    def eval_Integer(self, node, env, cls):
        return node.evaluated_value

    eval_Float = eval_Integer

    def eval_SimpleString(self, node, env, cls):
        text = node.value
        if "\\" not in text and text[:1] in "'\"":  # no prefix, no escapes: skip libcst's literal_eval
            quote = text[:3] if text[:3] in ('"""', "'''") else text[:1]
            return text[len(quote) : -len(quote)]
        try:
            return node.evaluated_value
        except Exception:
            return UNKNOWN

    def eval_ConcatenatedString(self, node, env, cls):
        left, right = self.eval(node.left, env, cls), self.eval(node.right, env, cls)
        return left + right if isinstance(left, str) and isinstance(right, str) else UNKNOWN

    def eval_FormattedString(self, node, env, cls):
        parts = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                parts.append(part.value)
                continue
            value = self.eval(part.expression, env, cls)
            if not known(value) or part.format_spec or part.conversion:
                return UNKNOWN
            parts.append(str(value))
        return "".join(parts)

    def eval_Name(self, node, env, cls):
        name = node.value
        if name in env:
            return env[name]
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        return self.global_value(name)

    def eval_Attribute(self, node, env, cls):
        base = self.eval(node.value, env, cls)
        if isinstance(base, Tensor) and node.attr.value == "data":
            return self.extend(base, Layer(Kind.CUT, ".data", self.site(node)))
        return self.attribute(base, node.attr.value)

    def attribute(self, base: Any, name: str) -> Any:
        if isinstance(base, QualRef):
            local = self.local_value(f"{base.name}.{name}")
            return local if local is not None else QualRef(canonical(f"{base.name}.{name}"))
        if isinstance(base, Instance):
            if name in base.attrs:
                return base.attrs[name]
            if name == "training":
                return True  # vglint judges the gradient of the training forward pass
            if name in ("weight", "bias") and base.layer is not None:
                return Param(base.layer, name)
            found = self.find_method(base.cls, name)
            if found is not None:
                owner, method = found
                if any(isinstance(d.decorator, cst.Name) and d.decorator.value == "property" for d in method.decorators):
                    return self.call_function(FuncRef(method, base, owner), [], {})
                return FuncRef(method, base, owner)
            for info in self.mro(base.cls):
                if name in info.assigns:
                    with self.entered(info.ctx):
                        return self.eval(info.assigns[name], {}, info)
            return Bound(base, name)
        if isinstance(base, ModuleObj):
            if name in ("weight", "bias"):
                return Param(base, name)
            if name in base.named:
                return base.named[name]
            mapped = {"in_features": (0, "in_features"), "out_features": (1, "out_features"),
                      "in_channels": (0, "in_channels"), "out_channels": (1, "out_channels"),
                      "num_features": (0, "num_features"), "hidden_size": (1, "hidden_size")}  # fmt: skip
            if name in mapped:
                return base.arg(*mapped[name])
            return Bound(base, name)
        if isinstance(base, Param):
            if name == "data":
                return base
            return Bound(base, name)
        if isinstance(base, ClassInfo):
            if name in base.assigns:
                with self.entered(base.ctx):
                    return self.eval(base.assigns[name], {}, base)
            if name in base.methods:
                return FuncRef(base.methods[name], None, base)
            return UNKNOWN
        if isinstance(base, SuperRef):
            if name == "__init__":
                return Bound(base, "__init__")
            mro = self.mro(base.cls)[1:]
            for info in mro:
                if name in info.methods:
                    return FuncRef(info.methods[name], base.instance, info)
            return Bound(base, name)
        if isinstance(base, Tensor):
            if name in ("T", "mT", "real", "data"):
                return base
            if name in ("shape", "device", "dtype", "ndim"):
                return UNKNOWN
            return Bound(base, name)
        if isinstance(base, (list, dict)):
            return Bound(base, name)
        return UNKNOWN

    def eval_Subscript(self, node, env, cls):
        if self.qualified(node.value) == "sys.modules":  # `sys.modules[__name__]`: this very file
            inner = node.slice[0].slice if len(node.slice) == 1 else None
            if isinstance(inner, cst.Index) and isinstance(inner.value, cst.Name) and inner.value.value == "__name__":
                return QualRef(THIS_MODULE)
        base = self.eval(node.value, env, cls)
        key = self.subscript_key(node, env, cls)
        if isinstance(base, Tensor):
            return base
        if isinstance(base, ModuleObj):
            if base.cls == "ModuleDict":
                return base.named.get(key, UNKNOWN) if isinstance(key, str) else UNKNOWN
            base = base.children
        elif isinstance(base, Instance) and base.children:
            base = base.children
        if key is UNKNOWN or base is UNKNOWN:
            return UNKNOWN
        try:
            return base[key]
        except Exception:
            return UNKNOWN

    def subscript_key(self, node: cst.Subscript, env, cls) -> Any:
        if len(node.slice) != 1:
            return UNKNOWN
        inner = node.slice[0].slice
        if isinstance(inner, cst.Index):
            return self.eval(inner.value, env, cls)
        if isinstance(inner, cst.Slice):
            parts = [None if p is None else self.eval(p, env, cls) for p in (inner.lower, inner.upper, inner.step)]
            if any(p is UNKNOWN for p in parts):
                return UNKNOWN
            return slice(*parts)
        return UNKNOWN

    def eval_UnaryOperation(self, node, env, cls):
        value = self.eval(node.expression, env, cls)
        if isinstance(node.operator, cst.Not):
            return UNKNOWN if value is UNKNOWN or isinstance(value, Tensor) else not self.truth(value)
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.operator, cst.Minus) else value
        return UNKNOWN

    def eval_BinaryOperation(self, node, env, cls):
        return self.binary(node.operator, self.eval(node.left, env, cls), self.eval(node.right, env, cls), node)

    def binary(self, op: cst.CSTNode, left: Any, right: Any, node: cst.CSTNode) -> Any:
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            return self.tensor_binary(op, left, right, node)
        function = _BINOPS.get(type(op))
        if isinstance(op, cst.Multiply) and isinstance(left, (list, tuple)) and isinstance(right, int):
            return left * right if len(left) * right <= 100_000 else UNKNOWN  # `[nn.Linear(..), nn.Tanh()] * 16`
        if isinstance(op, cst.Add) and isinstance(left, (list, tuple)) and type(left) is type(right):
            return left + right
        if function is None or not (known(left) and known(right)):
            return UNKNOWN
        try:
            result = function(left, right)
        except Exception:
            return UNKNOWN
        if isinstance(result, (list, tuple, str)) and len(result) > 100_000:
            return UNKNOWN
        return result

    def tensor_binary(self, op, left, right, node) -> Any:
        if not (isinstance(left, Tensor) and isinstance(right, Tensor)):
            return left if isinstance(left, Tensor) else right
        if isinstance(op, (cst.Add, cst.Subtract)):
            return self.merge("add", [left, right], node)
        if isinstance(op, cst.Multiply):
            if "gate" in right.tags and "gate" not in left.tags:
                return self.gated(left, node)
            if "gate" in left.tags and "gate" not in right.tags:
                return self.gated(right, node)
        return self.merge("other", [left, right], node)

    def gated(self, main: Tensor, node: cst.CSTNode) -> Tensor:
        return self.extend(main, Layer(Kind.OTHER, "gate", self.site(node)))

    def merge(self, kind: str, tensors: list[Tensor], node: cst.CSTNode) -> Tensor:
        """Where branches of one value meet: the common prefix, then a Merge of the branches."""
        main = tensors[0]
        same = [t for t in tensors if t.root == main.root]
        if len(same) < 2:
            return max(tensors, key=lambda t: count_weights(t.path))
        prefix = 0
        shortest = min(len(t.path) for t in same)
        while prefix < shortest and all(t.path[prefix] is main.path[prefix] for t in same):
            prefix += 1
        branches = tuple(t.path[prefix:] for t in same)
        tags = frozenset().union(*(t.tags for t in same)) - {"gate"}
        if all(len(b) == 0 for b in branches):
            return Tensor(main.path, main.root, tags)
        return Tensor(main.path[:prefix] + (Merge(kind, branches, self.site(node)),), main.root, tags)

    def eval_BooleanOperation(self, node, env, cls):
        left = self.eval(node.left, env, cls)
        if left is UNKNOWN or isinstance(left, Tensor):
            return UNKNOWN
        if isinstance(node.operator, cst.And):
            return self.eval(node.right, env, cls) if self.truth(left) else left
        return left if self.truth(left) else self.eval(node.right, env, cls)

    def eval_Comparison(self, node, env, cls):
        left = self.eval(node.left, env, cls)
        result = True
        for target in node.comparisons:
            right = self.eval(target.comparator, env, cls)
            operator_ = target.operator
            if isinstance(operator_, (cst.Is, cst.IsNot)):
                if left is UNKNOWN or right is UNKNOWN:
                    return UNKNOWN
                same = left is right if not (known(left) and known(right)) else left == right
                outcome = same if isinstance(operator_, cst.Is) else not same
            elif isinstance(operator_, (cst.In, cst.NotIn)):
                if not known(left) or not isinstance(right, (list, tuple, str, dict)):
                    return UNKNOWN
                try:
                    outcome = (left in right) == isinstance(operator_, cst.In)
                except TypeError:
                    return UNKNOWN
            else:
                function = _COMPARE.get(type(operator_))
                if function is None or not (known(left) and known(right)):
                    return UNKNOWN
                try:
                    outcome = function(left, right)
                except TypeError:
                    return UNKNOWN
            result = result and outcome
            left = right
        return result

    def eval_IfExp(self, node, env, cls):
        test = self.eval(node.test, env, cls)
        if test is UNKNOWN or isinstance(test, Tensor):
            self.uncertain = True
            return self.eval(node.orelse, env, cls)
        return self.eval(node.body if self.truth(test) else node.orelse, env, cls)

    def eval_elements(self, elements, env, cls) -> list[Any]:
        values: list[Any] = []
        for element in elements:
            if isinstance(element, cst.StarredElement):
                items = self.iterate(self.eval(element.value, env, cls))
                values.extend(items if items is not None else [])
            else:
                values.append(self.eval(element.value, env, cls))
        return values

    def eval_List(self, node, env, cls):
        return self.eval_elements(node.elements, env, cls)

    def eval_Tuple(self, node, env, cls):
        return tuple(self.eval_elements(node.elements, env, cls))

    def eval_Dict(self, node, env, cls):
        result = {}
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = self.eval(element.key, env, cls)
                if key_like(key):
                    result[key] = self.eval(element.value, env, cls)
        return result

    def comprehension(self, node, env, cls, produce) -> list[Any] | Any:
        results: list[Any] = []
        local = dict(env)

        def run(clause) -> None:
            items = self.iterate(self.eval(clause.iter, local, cls))
            if items is None:
                raise FunctionReturn(UNKNOWN)
            for item in items[:MAX_LOOP]:
                self.assign(clause.target, item, local, cls)
                if not all(self.truth(self.eval(cond.test, local, cls)) for cond in clause.ifs):
                    continue
                if clause.inner_for_in is not None:
                    run(clause.inner_for_in)
                else:
                    results.append(produce(local))

        try:
            run(node.for_in)
        except FunctionReturn:
            return UNKNOWN
        return results

    def eval_ListComp(self, node, env, cls):
        return self.comprehension(node, env, cls, lambda local: self.eval(node.elt, local, cls))

    eval_GeneratorExp = eval_ListComp

    def eval_DictComp(self, node, env, cls):
        pairs = self.comprehension(
            node, env, cls, lambda local: (self.eval(node.key, local, cls), self.eval(node.value, local, cls))
        )
        if pairs is UNKNOWN:
            return UNKNOWN
        return {k: v for k, v in pairs if key_like(k)}

    # ----- calls ---------------------------------------------------------------------------

    def eval_Call(self, node: cst.Call, env, cls):
        if isinstance(node.func, cst.Name) and node.func.value == "super" and "super" not in env:
            return SuperRef(env["__self__"], cls) if cls is not None and "__self__" in env else UNKNOWN
        func = self.eval(node.func, env, cls)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for arg in node.args:
            value = self.eval(arg.value, env, cls)
            if arg.star == "*":
                items = self.iterate(value)
                if items is None:
                    return UNKNOWN if not isinstance(func, QualRef) else self.call_qualified(func.name, [], {}, node)
                args.extend(items)
            elif arg.star == "**":
                if isinstance(value, dict):
                    kwargs.update({k: v for k, v in value.items() if isinstance(k, str)})
            elif arg.keyword is not None:
                kwargs[arg.keyword.value] = value
            else:
                args.append(value)
        return self.call(func, args, kwargs, node)

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        if isinstance(func, QualRef):
            return self.call_qualified(func.name, args, kwargs, node)
        if isinstance(func, ClassInfo):
            return self.instantiate(func, args, kwargs, node)
        if isinstance(func, FuncRef):
            return self.call_function(func, args, kwargs)
        if isinstance(func, (ModuleObj, Instance)):
            return self.apply(func, args, kwargs, node)
        if isinstance(func, Bound):
            return self.call_method(func.obj, func.name, args, kwargs, node)
        if isinstance(func, Partial):
            return self.call(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node)
        if isinstance(func, Param):
            return UNKNOWN
        if func is UNKNOWN and any(isinstance(a, Tensor) for a in [*args, *kwargs.values()]):
            self.uncertain = True  # an unresolved callable applied to a tensor may be any layer
        return self.passthrough(args, kwargs, node)

    def passthrough(self, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode | None = None) -> Any:
        """An unknown call on tensors returns a tensor that continues its inputs' paths: the deepest
        one, merged with the others of the same input (`torch.gather(probs, 2, index=idx)` still
        passes the gradient to `probs` when `idx` was detached)."""
        tensors = list({id(a): a for a in [*args, *kwargs.values()] if isinstance(a, Tensor)}.values())
        if not tensors:
            return UNKNOWN
        main = max(tensors, key=lambda t: (t.root == 0, count_weights(t.path), len(t.path)))
        same = [t for t in tensors if t.root == main.root and t.path != main.path]
        if not same or node is None:
            return main
        return self.merge("other", [main, *same], node)

    def call_function(self, func: FuncRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise OutOfBudget
        self.call_stack.append(func.node)
        ctx = func.ctx or (func.owner.ctx if func.owner is not None else None)
        try:
            with self.entered(ctx):
                context = next((d.decorator for d in func.node.decorators
                                if self.disables_grad(d.decorator, {}, None)), None)  # fmt: skip
                if context is None:
                    return self._run_function(func, args, kwargs)
                # `@torch.no_grad()` on a method: what it returns carries no gradient
                outer, self.no_grad = self.no_grad, True
                try:
                    result = self._run_function(func, args, kwargs)
                finally:
                    self.no_grad = outer
                return self.cut_all(result, self.grad_context_op(context), context)
        finally:
            self.depth -= 1
            self.call_stack.pop()

    def _run_function(self, func: FuncRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        env = self.bind(func.node, args, kwargs, func.bound)
        try:
            self.exec_block(func.node.body, env, func.owner)
        except FunctionReturn as done:
            return done.value
        return None

    def bind(self, node: cst.FunctionDef, args: list[Any], kwargs: dict[str, Any], bound: Any) -> dict[str, Any]:
        params = node.params
        positional = [*params.posonly_params, *params.params]
        env: dict[str, Any] = {}
        values = list(args)
        is_static = any(isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod" for d in node.decorators)
        if bound is not None and positional and not is_static:
            env[positional[0].name.value] = bound
            env["__self__"] = bound
            positional = positional[1:]
        for param in positional:
            name = param.name.value
            if values:
                env[name] = values.pop(0)
            elif name in kwargs:
                env[name] = kwargs.pop(name)
            elif param.default is not None:
                env[name] = self.eval(param.default, {}, None)
            else:
                env[name] = UNKNOWN
        if isinstance(params.star_arg, cst.Param):
            env[params.star_arg.name.value] = tuple(values)
        for param in params.kwonly_params:
            name = param.name.value
            if name in kwargs:
                env[name] = kwargs.pop(name)
            else:
                env[name] = self.eval(param.default, {}, None) if param.default is not None else UNKNOWN
        if params.star_kwarg is not None:
            env[params.star_kwarg.name.value] = dict(kwargs)
        return env

    def instantiate(self, info: ClassInfo, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode | None) -> Any:
        if not self.is_module_class(info):
            return UNKNOWN
        outer, self.training_code = self.training_code, False
        try:
            with self.entered(info.ctx):
                return self._instantiate(info, args, kwargs, node)
        finally:
            self.training_code = outer

    def _instantiate(self, info: ClassInfo, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode | None) -> Any:
        instance = Instance(info, node)
        found = self.find_method(info, "__init__")
        if found is not None:
            owner, init = found
            try:
                self.call_function(FuncRef(init, instance, owner), args, kwargs)
            except (_Break, _Continue):
                pass
        elif self.container_base(info):
            self.container_init(instance, args)
        return instance

    def container_init(self, instance: Instance, args: list[Any]) -> None:
        """`super().__init__(*layers)` in a subclass of nn.Sequential / nn.ModuleList."""
        if len(args) == 1 and isinstance(args[0], dict):
            instance.children.extend(args[0].values())
        elif len(args) == 1 and isinstance(args[0], (list, tuple)):
            instance.children.extend(args[0])
        else:
            instance.children.extend(args)

    def call_method(self, obj: Any, name: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        if isinstance(obj, list):
            if name == "append" and args:
                obj.append(args[0])
            elif name == "extend" and args:
                items = self.iterate(args[0])
                obj.extend(items or [])
            elif name == "insert" and len(args) == 2 and isinstance(args[0], int):
                obj.insert(args[0], args[1])
            elif name == "pop" and obj:
                return obj.pop(args[0] if args and isinstance(args[0], int) else -1)
            return None
        if isinstance(obj, dict):
            if name in ("items", "keys", "values"):
                return list(getattr(obj, name)())
            if name == "get" and args:
                if not key_like(args[0]):
                    return UNKNOWN
                return obj.get(args[0], args[1] if len(args) > 1 else None)
            if name == "update" and args and isinstance(args[0], dict):
                obj.update(args[0])
            return UNKNOWN
        if isinstance(obj, SuperRef) and name == "__init__":
            if self.container_base(obj.cls) or any(self.container_base(c) for c in self.mro(obj.cls)):
                self.container_init(obj.instance, args)
            else:
                mro = self.mro(obj.cls)[1:]
                for info in mro:
                    if "__init__" in info.methods:
                        self.call_function(FuncRef(info.methods["__init__"], obj.instance, info), args, kwargs)
                        break
                else:
                    layer = self.torch_layer_base(obj.cls)
                    if layer is not None:  # `class Conv2dSame(nn.Conv2d)`: the instance is that layer too
                        obj.instance.layer = self.make_module(layer, args, kwargs, obj.instance.node or node)
            return None
        if isinstance(obj, SuperRef) and name == "forward" and isinstance(obj.instance, Instance) and obj.instance.layer:
            return self.apply(obj.instance.layer, args, kwargs, node)
        if isinstance(obj, Tensor):
            return self.tensor_method(obj, name, args, kwargs, node)
        if isinstance(obj, Param):
            return self.param_method(obj, name, args, kwargs)
        if isinstance(obj, (ModuleObj, Instance)):
            return self.module_method(obj, name, args, kwargs, node)
        return self.passthrough(args, kwargs, node)

    def module_method(self, obj: Any, name: str, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        if name in ("add_module", "register_module") and len(args) == 2:
            if args[1] is UNKNOWN:
                self.uncertain = True
            if isinstance(obj, Instance):
                key = args[0] if isinstance(args[0], str) else f"_{len(obj.attrs)}"
                obj.attrs[key] = args[1]
            elif isinstance(obj, ModuleObj):
                obj.children.append(args[1])
                if isinstance(args[0], str):
                    obj.named[args[0]] = args[1]
            return None
        if name in ("items", "keys", "values") and isinstance(obj, ModuleObj) and obj.cls == "ModuleDict":
            return list(getattr(obj.named, name)())
        if name in ("items", "keys", "values") and isinstance(obj, Instance) and self.container_base(obj.cls) == "ModuleDict":
            modules = {k: v for k, v in obj.attrs.items() if isinstance(v, (ModuleObj, Instance))}
            return list(getattr(modules, name)())
        if name in ("append", "extend", "insert") and isinstance(obj, ModuleObj):
            self.call_method(obj.children, name, args, kwargs, node)
            return obj
        if name in ("append", "extend") and isinstance(obj, Instance):
            self.call_method(obj.children, name, args, kwargs, node)
            return obj
        if name in ("modules", "children"):
            return self.submodules(obj, recursive=name == "modules", include_self=name == "modules")
        if name in ("named_modules", "named_children"):
            return [("", m) for m in self.submodules(obj, recursive=name == "named_modules", include_self=True)]
        if name == "apply" and args:
            for module in self.submodules(obj, recursive=True, include_self=True):
                self.call(args[0], [module], {}, node)
            return obj
        if name in ("parameters", "named_parameters"):
            return [Param(m, "weight") for m in self.submodules(obj, recursive=True, include_self=False)] or [Param(obj, "weight")]
        if name in ("requires_grad_", "eval", "train", "to", "cuda", "cpu", "float", "half", "double"):
            if name == "requires_grad_" and (args[:1] == [False] or kwargs.get("requires_grad") is False):
                for module in self.submodules(obj, recursive=True, include_self=True):
                    self.freeze(module)
            return obj
        if name == "forward":
            return self.apply(obj, args, kwargs, node)
        return self.passthrough(args, kwargs, node)

    def param_method(self, param: Param, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if name == "requires_grad_" and (args[:1] == [False] or kwargs.get("requires_grad") is False):
            self.freeze(param.owner)
        elif name in ("normal_", "uniform_", "zero_", "fill_", "copy_", "trunc_normal_"):
            self.apply_init(name.rstrip("_"), param, args[1:] if name != "copy_" else [], kwargs, method=True, method_args=args)
        return param

    def submodules(self, obj: Any, recursive: bool, include_self: bool) -> list[Any]:
        found: list[Any] = [obj] if include_self else []
        for child in self.children_of(obj):
            found.append(child)
            if recursive:
                found.extend(self.submodules(child, True, False))
        return found

    def children_of(self, obj: Any) -> list[Any]:
        """Submodules in registration order (attributes, list items, container children)."""
        values: list[Any] = []
        if isinstance(obj, Instance):
            values = list(obj.children) if self.container_base(obj.cls) == "Sequential" else [*obj.attrs.values(), *obj.children]
            if obj.layer is not None:
                values.insert(0, obj.layer)
        elif isinstance(obj, ModuleObj):
            values = list(obj.children) or [a for a in [*obj.args, *obj.kwargs.values()] if isinstance(a, (ModuleObj, Instance))]
        children: list[Any] = []
        for value in values:
            if isinstance(value, (ModuleObj, Instance)):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(v for v in value if isinstance(v, (ModuleObj, Instance)))
        return children

    # ----- torch names ---------------------------------------------------------------------

    def call_qualified(self, name: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        if name.startswith("builtins."):
            return self.call_builtin(name[len("builtins."):], args, kwargs, node)
        if name == "collections.OrderedDict":
            return self.call_builtin("dict", args, kwargs, node)
        short = name.rsplit(".", 1)[-1]
        if name.startswith("torch.nn.init."):
            if args:
                self.apply_init(short.rstrip("_"), args[0], args[1:], kwargs)
            return args[0] if args else None
        if name.startswith("torch.nn.") and name.count(".") == 2 and short[:1].isupper():
            return self.make_module(short, args, kwargs, node)
        if name.startswith(("torch.", "F.")):
            return self.torch_function(short, args, kwargs, node)
        if short[:1].isupper() and not name.startswith(("builtins.", "typing.", "collections.", "dataclasses.")):
            # an imported class we cannot see (timm's `Mlp`, mxnet's `nn.RNN`): opaque, a norm only by name
            return ModuleObj(short, node, list(args), dict(kwargs), foreign=True)
        if name in ("copy.deepcopy", "copy.copy") and args:
            return clone(args[0])
        if name == "functools.partial" and args:
            return Partial(args[0], list(args[1:]), dict(kwargs))
        if name == "typing.cast" and len(args) == 2:
            return args[1]
        if name == "math.sqrt" and args and known(args[0]):
            try:
                return math.sqrt(args[0])
            except (TypeError, ValueError):
                return UNKNOWN
        return self.passthrough(args, kwargs, node)

    def call_builtin(self, name: str, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        if name == "range":
            if args and all(isinstance(a, int) for a in args) and len(args) <= 3:
                try:
                    result = range(*args)
                except ValueError:
                    return UNKNOWN
                return result if len(result) <= MAX_LOOP else UNKNOWN
            return UNKNOWN
        if name in ("list", "tuple"):
            if not args:
                return [] if name == "list" else ()
            items = self.iterate(args[0])
            if items is None:
                return UNKNOWN
            return items if name == "list" else tuple(items)
        if name == "dict":
            result: dict[Any, Any] = {}
            if args:
                items = self.iterate(args[0]) if not isinstance(args[0], dict) else list(args[0].items())
                for item in items or []:
                    if isinstance(item, (list, tuple)) and len(item) == 2 and key_like(item[0]):
                        result[item[0]] = item[1]
            result.update(kwargs)
            return result
        if name == "enumerate" and args:
            items = self.iterate(args[0])
            start = args[1] if len(args) > 1 and isinstance(args[1], int) else 0
            return UNKNOWN if items is None else [(i + start, v) for i, v in enumerate(items)]
        if name == "zip":
            lists = [self.iterate(a) for a in args]
            return UNKNOWN if any(x is None for x in lists) else [tuple(t) for t in zip(*lists)]
        if name == "isinstance" and len(args) == 2:
            return self.isinstance_(args[0], args[1])
        if name == "super":
            return UNKNOWN
        if name in ("getattr", "hasattr") and len(args) >= 2 and isinstance(args[1], str):
            value = self.attribute(args[0], args[1])
            if name == "hasattr":
                return UNKNOWN if value is UNKNOWN or isinstance(value, Bound) else True
            if (value is UNKNOWN or isinstance(value, Bound)) and len(args) > 2:
                return args[2]
            return value
        if name == "setattr" and len(args) == 3 and isinstance(args[1], str):
            self.set_attr(args[0], args[1], args[2])
            return None
        if name == "print":
            return None
        function = _BUILTINS.get(name)
        if function is not None and known(args) and known(list(kwargs.values())):
            try:
                return function(*args, **kwargs)
            except Exception:
                return UNKNOWN
        return self.passthrough(args, kwargs, node)

    def isinstance_(self, value: Any, classes: Any) -> Any:
        options = classes if isinstance(classes, (list, tuple)) else [classes]
        for option in options:
            if isinstance(option, QualRef) and option.name == "torch.Tensor":
                if isinstance(value, Tensor):
                    return True
                if isinstance(value, (list, tuple, dict, int, float, str, ModuleObj, Instance)):
                    continue
                return UNKNOWN
            if isinstance(option, QualRef) and option.name.startswith("torch.nn."):
                short = option.name.rsplit(".", 1)[1]
                if isinstance(value, ModuleObj) and value.cls == short:
                    return True
                if short == "Module" and isinstance(value, (ModuleObj, Instance)):
                    return True
                if isinstance(value, Instance) and option.name in self.base_names(value.cls):
                    return True  # `class Conv2dSame(nn.Conv2d)`
            elif isinstance(option, ClassInfo):
                if isinstance(value, Instance) and option in self.mro(value.cls):
                    return True
            else:
                return UNKNOWN
        return False if isinstance(value, (ModuleObj, Instance, list, tuple, dict, int, float, str)) else UNKNOWN

    def make_module(self, cls: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> ModuleObj:
        module = ModuleObj(cls, node, list(args), dict(kwargs))
        if cls in CONTAINERS and any(a is UNKNOWN for a in flatten_values([args, kwargs])):
            self.uncertain = True
        if cls in ("Sequential", "ModuleList"):
            if len(args) == 1 and isinstance(args[0], dict):  # Sequential(OrderedDict(...))
                module.named = dict(args[0])
                module.children = list(args[0].values())
            elif cls == "ModuleList":
                items = self.iterate(args[0]) if args else []
                module.children = [m for m in (items or [])]
            else:
                module.children = [a for a in args]
        elif cls == "ModuleDict":
            if args and isinstance(args[0], dict):
                module.named = dict(args[0])
                module.children = list(args[0].values())
        return module

    def torch_function(self, short: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        tensors = [a for a in args if isinstance(a, Tensor)]
        if short in ("cat", "concat", "stack", "hstack", "vstack") and args:
            items = self.iterate(args[0])
            parts = [t for t in (items or []) if isinstance(t, Tensor)]
            return self.merge("concat", parts, node) if parts else UNKNOWN
        if short == "add" and len(tensors) == 2:
            return self.merge("add", tensors, node)
        if short == "mul" and len(tensors) == 2:
            return self.tensor_binary(cst.Multiply(), tensors[0], tensors[1], node)
        op = functional_op(short)
        if op is not None and tensors:
            return self.apply_op(tensors[0], op[0], op[1], node)
        if short in ("tensor", "as_tensor") and tensors:
            return self.extend(tensors[0], Layer(Kind.CUT, f"torch.{short}()", self.site(node)))
        if short in ("randn", "rand", "zeros", "ones", "empty", "randint", "full") and not tensors:
            dims = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            if short in ("randint", "full") and len(args) >= 2:
                dims = args[-1] if isinstance(args[-1], (list, tuple)) else args[2:] if short == "randint" else args[0]
            shape = tuple(d if isinstance(d, int) else None for d in (dims if isinstance(dims, (list, tuple)) else []))
            return Tensor((), next(self._roots), shape=shape or None, made_by=node)
        if short in LOSS_FUNCTIONS and tensors:
            self.record_loss(f"F.{short}", tensors[0], node)
            return Tensor((), next(self._roots))
        return self.passthrough(args, kwargs, node)

    def record_loss(self, loss: str, value: Tensor, node: cst.CSTNode) -> None:
        """A loss called on probabilities, in training code that is not under no_grad."""
        if self.no_grad or not any(f in self.backward_functions for f in self.call_stack):
            return
        for tag, losses in (("sigmoid", _BCE_LOSSES), ("softmax", _CE_LOSSES)):
            if tag in value.tags and loss in losses:
                self.facts.loss_uses.append(LossUse(tag, loss, node))

    def tensor_method(self, tensor: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        op = functional_op(name)
        if op is not None:
            return self.apply_op(tensor, op[0], op[1], node)
        if name in ("chunk", "split", "unbind"):
            count = args[0] if args and isinstance(args[0], int) and name == "chunk" else 2
            return [tensor] * max(1, min(count, 16))
        if name in ("detach", "detach_", "item", "tolist", "numpy"):
            return self.extend(tensor, Layer(Kind.CUT, f"{name}()", self.site(node)))
        if name in ("size", "dim", "numel"):
            return UNKNOWN
        others = [a for a in args if isinstance(a, Tensor)]
        if name in ("add", "add_") and others:
            return self.merge("add", [tensor, others[0]], node)
        if name in ("mul", "mul_") and others:
            return self.tensor_binary(cst.Multiply(), tensor, others[0], node)
        return tensor

    def apply_op(self, tensor: Tensor, kind: Kind, op: str, node: cst.CSTNode) -> Tensor:
        return self.extend(tensor, Layer(kind, op, self.site(node)))

    @staticmethod
    def extend(tensor: Tensor, layer: Layer) -> Tensor:
        """The tensor after one more layer; its tags say what that last layer was."""
        tags = tensor.tags - _LAST_OP_TAGS
        if layer.op in ("sigmoid", "hardsigmoid"):
            tags |= {"gate", "sigmoid"}
        elif layer.op in ("softmax", "log_softmax"):
            tags |= {layer.op}
        return Tensor(tensor.path + (layer,), tensor.root, tags)

    def apply_init(self, kind: str, target: Any, args: list[Any], kwargs: dict[str, Any], method=False, method_args=None) -> None:
        """Record `nn.init.*` (or `.normal_()` on a weight) as fan_in * Var(W) of the layer."""
        if not isinstance(target, Param) or target.name != "weight" or not isinstance(target.owner, ModuleObj):
            return
        layer = target.owner
        fan_in, fan_out = fans(layer)
        gain_sq: float | None = None
        if kind.startswith("kaiming"):
            a = kwargs.get("a", args[0] if args else 0)
            mode = kwargs.get("mode", args[1] if len(args) > 1 else "fan_in")
            nonlinearity = kwargs.get("nonlinearity", args[2] if len(args) > 2 else "leaky_relu")
            a = a if isinstance(a, (int, float)) else 0
            gain_sq = {"relu": 2.0, "leaky_relu": 2.0 / (1 + a * a), "tanh": (5 / 3) ** 2, "selu": 0.75**2}.get(nonlinearity, 1.0)
            if mode == "fan_out":
                gain_sq = gain_sq * fan_in / fan_out if fan_in and fan_out else None
        elif kind.startswith("xavier"):
            g = kwargs.get("gain", args[0] if args else 1.0)
            g = g if isinstance(g, (int, float)) else 1.0
            gain_sq = 2 * g * g * fan_in / (fan_in + fan_out) if fan_in and fan_out else g * g
        elif kind == "orthogonal":
            g = kwargs.get("gain", args[0] if args else 1.0)
            gain_sq = (g if isinstance(g, (int, float)) else 1.0) ** 2
        elif kind in ("normal", "trunc_normal"):
            values = method_args if method else args
            std = kwargs.get("std", values[1] if len(values) > 1 else 1.0)
            if isinstance(std, (int, float)) and fan_in:
                gain_sq = fan_in * std * std
        elif kind == "uniform":
            values = method_args if method else args
            low = kwargs.get("a", kwargs.get("from", values[0] if values else 0.0))
            high = kwargs.get("b", kwargs.get("to", values[1] if len(values) > 1 else 1.0))
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and fan_in:
                gain_sq = fan_in * (high - low) ** 2 / 12
        elif kind in ("zeros", "zero", "constant", "fill", "ones"):
            gain_sq = 0.0 if kind in ("zeros", "zero") else None
        elif kind == "eye" or kind == "dirac":
            gain_sq = 1.0
        if gain_sq is not None:
            layer.init_gain = gain_sq
            layer.init_name = kind

    # ----- running a model -----------------------------------------------------------------

    def apply(self, module: Any, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        """Call a module on its inputs: the symbolic forward pass."""
        if isinstance(module, Instance) and is_norm_name(module.cls.name):
            tensors = [a for a in args if isinstance(a, Tensor)]
            if not tensors:
                return UNKNOWN
            return self.extend(tensors[0], Layer(Kind.NORM, module.cls.name, self.site(module.node or node)))
        if isinstance(module, Instance):
            return self.run_forward(module, args, kwargs, node)
        if not isinstance(module, ModuleObj):
            return self.passthrough(args, kwargs, node)
        if module.foreign and not is_norm_name(module.cls):
            self.uncertain = True  # an imported block we cannot see may hold norms and skips
        if module.cls == "Sequential":
            return self.run_sequential(module.children, args, node)
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            return UNKNOWN
        if module.cls in LOSS_MODULES:
            self.record_loss(f"nn.{module.cls}", tensors[0], node)
            return Tensor((), next(self._roots))
        if tensors[0].shape:
            self.facts.fed_shapes.setdefault(module.node, []).append((tensors[0].shape, tensors[0].made_by))
        layer = self.lower(module)
        result = self.extend(tensors[0], layer)
        if layer.kind is Kind.RECURRENT and module.cls in ("RNN", "LSTM", "GRU"):
            return (result, UNKNOWN)
        if module.cls == "MultiheadAttention":
            return (result, UNKNOWN)
        return result

    def run_sequential(self, children: list[Any], args: list[Any], node) -> Any:
        """nn.Sequential's forward: each module on the previous one's output."""
        value: Any = args[0] if args else UNKNOWN
        for child in children:
            if isinstance(child, (ModuleObj, Instance)):
                value = self.apply(child, [value], {}, node)
        return value

    def run_forward(self, instance: Instance, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        first = next((a for a in args if isinstance(a, Tensor)), None)
        if first is not None and first.shape:  # `model(torch.randn(32, 1000, 8))`: the length VG201 needs
            self.facts.fed_shapes.setdefault(instance.cls.name, []).append((first.shape, first.made_by))
        outer, self.training_code = self.training_code, False
        try:
            return self._run_forward(instance, args, kwargs, node)
        finally:
            self.training_code = outer

    def _run_forward(self, instance: Instance, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        self.forward_depth += 1
        try:
            return self._forward_or_declared(instance, args, kwargs, node)
        finally:
            self.forward_depth -= 1

    def _forward_or_declared(self, instance: Instance, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        found = self.find_method(instance.cls, "forward")
        if found is None and instance.layer is not None:
            return self.apply(instance.layer, args, kwargs, node)
        if found is None:
            if self.container_base(instance.cls) == "Sequential":
                return self.run_sequential(instance.children, args, node)
            self.approximate = True
            return self.declared_order(instance, args)
        owner, forward = found
        outer, self.approximate = self.approximate, False
        try:
            result = self.call_function(FuncRef(forward, instance, owner), args, kwargs)
        except (_Break, _Continue):
            result = UNKNOWN
        lost, self.approximate = self.approximate, outer or self.approximate
        if lost or not any(isinstance(v, Tensor) for v in flatten_values(result)):
            self.approximate = True
            return self.declared_order(instance, args)
        return result

    def declared_order(self, instance: Any, args: list[Any]) -> Any:
        """Fallback when `forward` cannot be followed: layers in the order they were registered."""
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            return UNKNOWN
        path = tensors[0].path
        for child in self.leaves(instance):
            path = path + (self.lower(child),)
        return Tensor(path, tensors[0].root, tensors[0].tags)

    def leaves(self, obj: Any) -> list[ModuleObj]:
        found: list[ModuleObj] = []
        for child in self.children_of(obj):
            if isinstance(child, ModuleObj) and child.cls not in CONTAINERS:
                found.append(child)
            else:
                found.extend(self.leaves(child))
        return found

    def lower(self, module: ModuleObj) -> Layer:
        """The IR layer of a torch module (made once, so weight sharing keeps one identity)."""
        if module._layer is not None:
            return module._layer
        spec = None if module.foreign else NN_LAYERS.get(module.cls)
        fan_in, fan_out = fans(module) if spec is not None else (None, None)
        attrs: dict[str, Any] = {}
        if spec is None:
            kind, op = (Kind.NORM if is_norm_name(module.cls) else Kind.OTHER), module.cls
        else:
            kind, op = spec.kind, spec.op
        if kind is Kind.ACTIVATION and module.cls == "LeakyReLU":
            slope = module.arg(0, "negative_slope", 0.01)
            attrs["negative_slope"] = slope if isinstance(slope, (int, float)) else 0.01
        if kind is Kind.BLOCK:
            attrs.update(transformer_attrs(module))
        if kind is Kind.RECURRENT:
            for index, key, default in ((2, "num_layers", 1), (3, "nonlinearity", "tanh")):
                value = module.arg(index, key, default) if module.cls in ("RNN",) else module.kwargs.get(key, default)
                attrs[key] = value if known(value) else None
            attrs["batch_first"] = module.kwargs.get("batch_first", False)
        attrs["name"] = module.name or module.cls
        attrs["frozen"] = module.frozen
        attrs["foreign"] = module.foreign
        layer = Layer(kind, op if kind is not Kind.OTHER or spec else module.cls, self.site(module.node),
                      fan_in=fan_in, fan_out=fan_out, init_gain=module.init_gain, init_name=module.init_name,
                      attrs=attrs)  # fmt: skip
        module._layer = layer
        return layer


def fans(module: ModuleObj) -> tuple[int | None, int | None]:
    """fan_in and fan_out of a Linear or Conv layer, when its sizes are known."""
    if module.cls in ("Linear",):
        fan_in, fan_out = module.arg(0, "in_features"), module.arg(1, "out_features")
        return (fan_in if isinstance(fan_in, int) else None, fan_out if isinstance(fan_out, int) else None)
    if module.cls.startswith(("Conv", "ConvTranspose")):
        c_in, c_out = module.arg(0, "in_channels"), module.arg(1, "out_channels")
        kernel = module.arg(2, "kernel_size")
        groups = module.kwargs.get("groups", module.args[6] if len(module.args) > 6 else 1)
        if isinstance(kernel, int):
            size = kernel ** int(module.cls[-2]) if module.cls[-2].isdigit() else kernel
        elif isinstance(kernel, (list, tuple)) and all(isinstance(k, int) for k in kernel):
            size = math.prod(kernel)
        else:
            return None, None
        if not (isinstance(c_in, int) and isinstance(c_out, int) and isinstance(groups, int) and groups > 0):
            return None, None
        fan_in, fan_out = c_in // groups * size, c_out // groups * size
        if module.cls.startswith("ConvTranspose"):
            fan_in, fan_out = fan_out, fan_in
        return fan_in or None, fan_out or None
    return None, None


def transformer_attrs(module: ModuleObj) -> dict[str, Any]:
    """`num_layers` and `norm_first` of nn.Transformer* blocks, None where not known."""

    def typed(value: Any, kind: type) -> Any:
        return value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else None

    if module.cls in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        return {"num_layers": 1, "norm_first": typed(module.arg(7, "norm_first", False), bool)}
    if module.cls in ("TransformerEncoder", "TransformerDecoder"):
        layer = module.arg(0, "encoder_layer" if module.cls == "TransformerEncoder" else "decoder_layer")
        inner = transformer_attrs(layer) if isinstance(layer, ModuleObj) else {}
        return {"num_layers": typed(module.arg(1, "num_layers"), int), "norm_first": inner.get("norm_first")}
    if module.cls == "Transformer":
        encoder = typed(module.arg(2, "num_encoder_layers", 6), int)
        decoder = typed(module.arg(3, "num_decoder_layers", 6), int)
        counts = [n for n in (encoder, decoder) if n is not None]
        return {"num_layers": max(counts, default=None), "num_encoder_layers": encoder,
                "num_decoder_layers": decoder, "norm_first": typed(module.arg(11, "norm_first", False), bool)}  # fmt: skip
    return {}


@functools.lru_cache(maxsize=32)
def _parse_sibling(path: str, mtime_ns: int) -> tuple[cst.Module, dict[str, str]]:
    """A sibling module's tree and imports, parsed once per process (timm's `_builder.py` is
    imported by a hundred model files); the mtime keeps the cache honest."""
    module = cst.parse_module(Path(path).read_bytes())
    return module, import_table(module)


class _SiblingLocator:
    """Spans of a sibling module are never reported in the checked file (rules use the model's)."""

    def span(self, node: cst.CSTNode) -> Span:
        return Span.at(1, 1)


def is_norm_name(name: str) -> bool:
    """`LlamaRMSNorm`, `LayerNorm2d`, `T5LayerNorm`: hand-written or imported normalisation classes."""
    return bool(re.search(r"Norm(?!al)", name))


def is_main_guard(statement: cst.If) -> bool:
    test = statement.test
    return isinstance(test, cst.Comparison) and dotted_name(test.left) == "__name__"


def clone(value: Any) -> Any:
    """`copy.deepcopy` of a module: new layer objects with the same settings (Annotated Transformer's `clones`)."""
    if isinstance(value, ModuleObj):
        return ModuleObj(value.cls, value.node, list(value.args), dict(value.kwargs),
                         children=[clone(c) for c in value.children],
                         named={k: clone(v) for k, v in value.named.items()},
                         init_gain=value.init_gain, init_name=value.init_name, frozen=value.frozen)  # fmt: skip
    if isinstance(value, Instance):
        copied = Instance(value.cls, value.node, frozen=value.frozen)
        copied.attrs = {k: clone(v) for k, v in value.attrs.items()}
        copied.children = [clone(c) for c in value.children]
        return copied
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def flatten_values(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in flatten_values(item)]
    if isinstance(value, dict):
        return [v for item in value.values() for v in flatten_values(item)]
    return [value]

