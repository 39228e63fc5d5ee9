"""The libcst front-end: source text in, a `FileContext` with the file's `ModelGraph`s out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from vglint.findings import Span
from vglint.ir import Kind, ModelGraph, count_weights
from vglint.source.interpret import (
    FuncRef,
    FunctionReturn,
    Instance,
    Interpreter,
    ModuleObj,
    NodeSite,
    OutOfBudget,
    Tensor,
    TrainingFacts,
    flatten_values,
    is_main_guard,
)
from vglint.source.names import CONTAINERS, NN_LAYERS, import_table
from vglint.source.training import TrainingCode, scan_training_code

#: Set VGLINT_DEBUG=1 to see front-end errors instead of skipping the model quietly.
DEBUG = os.environ.get("VGLINT_DEBUG") == "1"


class Locator:
    """Source spans of nodes, computed once per file and only if some finding needs one."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._positions: Any = None

    def span(self, node: cst.CSTNode) -> Span:
        if self._positions is None:
            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        position = self._positions.get(node)
        if position is None:
            return Span.at(1, 1)
        return Span(position.start.line, position.start.column + 1, position.end.line, position.end.column + 1)


@dataclass
class FileContext:
    """What rules may read about one file."""

    filename: str
    module: cst.Module
    models: list[ModelGraph] = field(default_factory=list)
    locator: Locator | None = None
    internal_errors: list[str] = field(default_factory=list)
    training: TrainingCode = field(default_factory=TrainingCode)
    facts: TrainingFacts = field(default_factory=TrainingFacts)
    sequence_length: int | None = None  # `sequence-length` in [tool.vglint]


def _is_model_value(value: Any) -> bool:
    if isinstance(value, Instance):
        return True
    if isinstance(value, ModuleObj):
        spec = NN_LAYERS.get(value.cls)
        return value.cls in CONTAINERS or (spec is not None and spec.kind in (Kind.BLOCK, Kind.RECURRENT))
    return False


def _required_forward_params(interp: Interpreter, value: Any) -> int:
    if not isinstance(value, Instance):
        return 1
    found = interp.find_method(value.cls, "forward")
    if found is None:
        return 1
    params = found[1].params.params[1:]
    return max(1, sum(1 for p in params if p.default is None))


def _model_graph(interp: Interpreter, name: str, site: Any, value: Any, approximate: bool) -> ModelGraph:
    """Run the model's forward on symbolic inputs and keep the output's path."""
    interp.reset_budget()
    interp.approximate = approximate
    # root 0 is the model's input; other required inputs (masks, hidden states) are roots of their own
    inputs = [Tensor((), 0)] + [interp.fresh_batch() for _ in range(_required_forward_params(interp, value) - 1)]
    result = interp.apply(value, inputs, {}, getattr(value, "node", None))
    outputs = [v for v in flatten_values(result) if isinstance(v, Tensor) and v.root == 0]
    path = max((t.path for t in outputs), key=count_weights, default=())
    if isinstance(value, ModuleObj) and value.cls not in CONTAINERS:
        declared = [interp.lower(value)]  # a module-level layer (an nn.TransformerEncoder) is its own model
    else:
        declared = [interp.lower(m) for m in interp.leaves(value)]
    return ModelGraph(name=name, site=site, path=path, declared=declared, approximate=interp.approximate,
                      uncertain=interp.uncertain)  # fmt: skip


def build_models(interp: Interpreter, locator: Locator) -> tuple[list[ModelGraph], list[str]]:
    """Every model of the file: module-level models, model classes, and model-returning functions."""
    module = interp.module
    errors: list[str] = []
    graphs: list[ModelGraph] = []

    def guarded(label: str, make) -> None:
        try:
            graph = make()
        except (OutOfBudget, RecursionError):
            return
        except Exception as error:  # the front-end must never crash on user code
            if DEBUG:
                raise
            errors.append(f"{label}: {type(error).__name__}: {error}")
            return
        if graph is not None:
            graphs.append(graph)

    try:
        interp.run_module_level()
    except Exception as error:
        if DEBUG:
            raise
        errors.append(f"module level: {type(error).__name__}: {error}")

    built_classes: set[str] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if not isinstance(small, cst.Assign) or len(small.targets) != 1:
                continue
            target = small.targets[0].target
            value = interp.globals.get(target.value) if isinstance(target, cst.Name) else None
            if _is_model_value(value):
                if isinstance(value, Instance):
                    built_classes.add(value.cls.name)
                interp.uncertain = False
                guarded(target.value, lambda t=target, v=value: _model_graph(interp, t.value, NodeSite(t, locator), v, False))

    for name, info in interp.classes.items():
        if name in built_classes or not interp.is_module_class(info):
            continue

        def make(info=info):
            interp.reset_budget()
            interp.approximate = interp.uncertain = False
            instance = interp.instantiate(info, [], {}, info.node)
            return _model_graph(interp, info.name, NodeSite(info.node.name, locator), instance, interp.approximate)

        guarded(name, make)

    for name, function in interp.functions.items():
        params = function.params
        if any(p.default is None for p in (*params.posonly_params, *params.params)) or not _returns_value(function):
            continue

        def make_from_factory(function=function):
            interp.reset_budget()
            interp.approximate = interp.uncertain = False
            value = interp.call_function(FuncRef(function), [], {})
            if not _is_model_value(value):
                return None
            return _model_graph(interp, function.name.value, NodeSite(function.name, locator), value, interp.approximate)

        guarded(name, make_from_factory)
    return graphs, errors


def _returns_value(function: cst.FunctionDef) -> bool:
    """A factory ends in `return <model>`; a training `main()` usually returns nothing."""
    body = function.body.body
    last = body[-1] if body else None
    return (
        isinstance(last, cst.SimpleStatementLine)
        and isinstance(last.body[-1], cst.Return)
        and last.body[-1].value is not None
    )


def run_training_code(interp: Interpreter, training: TrainingCode) -> list[str]:
    """Interpret the file's training code for the facts the loss and recurrent rules need: the
    `__main__` block, every top-level function that calls `.backward()` (its parameters are
    symbolic tensors), and the `training_step` of Lightning modules. Loops run once, on symbolic
    batches; the functions they call run as they are called."""
    interp.backward_functions = training.backward_functions
    interp.training_code = True
    errors: list[str] = []
    entries: list[tuple[str, Any]] = []
    for statement in interp.module.body:
        if isinstance(statement, cst.If) and is_main_guard(statement):
            entries.append(("__main__", lambda s=statement: interp.exec_block(s.body, dict(interp.globals), None)))
    def standalone(function: cst.FunctionDef) -> None:
        """A training function called by no one in the file: its parameters are symbolic tensors."""
        count = len([*function.params.posonly_params, *function.params.params])
        interp.call_function(FuncRef(function), [interp.fresh_batch() for _ in range(count)], {})

    for name, function in interp.functions.items():
        if function in training.backward_functions:  # what the loss rules need; helpers run when called
            entries.append((name, lambda f=function: standalone(f)))
    for name, info in interp.classes.items():
        if "training_step" in info.methods and interp.is_module_class(info):
            def step(info=info):
                instance = interp.instantiate(info, [], {}, info.node)
                method = info.methods["training_step"]
                interp.backward_functions = interp.backward_functions | {method}
                batch = (interp.fresh_batch(), interp.fresh_batch())
                interp.call_function(FuncRef(method, instance, info), [batch, 0], {})
            entries.append((f"{name}.training_step", step))
    for label, run in entries:
        interp.reset_budget()
        interp.training_code = True
        try:
            run()
        except (OutOfBudget, RecursionError, FunctionReturn):
            continue
        except Exception as error:  # the front-end must never crash on user code
            if DEBUG:
                raise
            errors.append(f"training code {label}: {type(error).__name__}: {error}")
    interp.training_code = False
    return errors


def analyse(module: cst.Module, filename: str, sequence_length: int | None = None, text: str | None = None) -> FileContext:
    """`text` is the module's source, if the caller has it: it lets cheap text checks skip work."""
    locator = Locator(module)
    imports = import_table(module)
    interp = Interpreter(module, imports, locator, filename)
    models, errors = build_models(interp, locator)
    training = scan_training_code(module, imports, module.code if text is None else text)
    errors += run_training_code(interp, training)
    seen: set[int] = set()
    interp.facts.loss_uses = [u for u in interp.facts.loss_uses if id(u.node) not in seen and not seen.add(id(u.node))]
    return FileContext(filename=filename, module=module, models=models, locator=locator, internal_errors=errors,
                       training=training, facts=interp.facts, sequence_length=sequence_length)  # fmt: skip
