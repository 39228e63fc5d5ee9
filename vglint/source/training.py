"""Facts about a file's training code. From its syntax: where `.backward()` is called, whether the
same loop steps an optimiser and clips gradients, which recurrent layers the file uses, and which
constants name a sequence length. From interpreting it (`run_training_code`): which losses are fed
probabilities, which tensors are fed to the models, which layers are frozen."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import libcst as cst

from vglint.analysis import LengthConstant, TrainingFacts, TrainingLoop
from vglint.findings import FixedSite, Site, Span
from vglint.layers import NN_CLASSES, Kind
from vglint.source.interpret import Interpreter
from vglint.source.module_level import is_main_guard
from vglint.source.names import class_body, dotted_name
from vglint.source.stdlib import LENGTH_NAME
from vglint.source.values import Break, ClassInfo, Continue, FuncRef, FunctionReturn, Instance, OutOfBudget
from vglint.source.walk import walk

#: Set VGLINT_DEBUG=1 to see front-end errors instead of skipping the model quietly.
DEBUG = os.environ.get("VGLINT_DEBUG") == "1"

_RECURRENT_NAMES = "|".join(sorted((n for n, op in NN_CLASSES.items() if op.kind is Kind.RECURRENT), key=len, reverse=True))
_RECURRENT_CALL = re.compile(rf"(?<![\w.])((?:[A-Za-z_]\w*\.)*)({_RECURRENT_NAMES})\s*\(")
_RECURRENT_WORDS = tuple(_RECURRENT_NAMES.split("|"))
_BACKWARD_CALL = re.compile(r"\.backward\s*\(")
#: `get_linear_schedule_with_warmup(`, `warmup_steps=`, `OneCycleLR(`, `LinearLR(`: a learning-rate warm-up.
_WARMUP = re.compile(r"\b\w*warm_?up\w*(?=\s*[=(])|\b(?:OneCycleLR|LinearLR)(?=\s*\()", re.IGNORECASE)


class _Scope:
    """Calls in one function body (nested functions included, other top-level functions not)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.backward: list[cst.Call] = []
        self.steps = 0
        self.clips = False
        self.calls: set[str] = set()
        self.gradient_clip_val = False

    def read(self, code: cst.CSTNode) -> None:
        for node in walk(code):
            if isinstance(node, cst.Name):
                self.names.add(node.value)
            elif isinstance(node, cst.Call):
                self.call(node)

    def call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            if attr == "backward":
                self.backward.append(node)
            elif attr == "step":
                self.steps += 1
            if "clip" in attr.lower():  # clip_grad_norm_, d2l.grad_clipping, accelerator.clip_grad_value_
                self.clips = True
        elif isinstance(func, cst.Name):
            self.calls.add(func.value)
            if "clip" in func.value.lower():
                self.clips = True
        if any(arg.keyword is not None and arg.keyword.value in ("gradient_clip_val", "clip_grad_norm", "max_grad_norm")
               for arg in node.args):  # fmt: skip
            self.gradient_clip_val = True


def scan_training_code(module: cst.Module, imports: dict[str, str], text: str, facts: TrainingFacts,
                       site: Callable[[cst.CSTNode], Site]) -> tuple[set[cst.FunctionDef], bool]:  # fmt: skip
    """Fill `facts` with what the syntax shows (loops, clipping, recurrent layers, length constants)
    and return the functions that call `.backward()`, which the interpreter runs as training code,
    and whether the module's own top-level code (a script, a notebook) calls it.

    A libcst visit costs several times the parse, so each one runs only when the source text
    shows what it looks for (`.backward(`, an RNN class name)."""
    facts.length_constants = _length_constants(module, site) + facts.length_constants  # argparse's, from the interpreter
    facts.recurrent = _first_recurrent(text, imports)
    facts.warmup = _warmup(text)
    backward_functions: set[cst.FunctionDef] = set()
    if not _BACKWARD_CALL.search(text):
        return backward_functions, False
    scopes: dict[str, tuple[_Scope, cst.FunctionDef | None]] = {}
    module_scope = _Scope()
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef):
            scope = _Scope()
            scope.read(statement)
            scopes[statement.name.value] = (scope, statement)
        elif isinstance(statement, cst.ClassDef):
            for item in statement.body.body:
                if isinstance(item, cst.FunctionDef):
                    scope = _Scope()
                    scope.read(item)
                    scopes[f"{statement.name.value}.{item.name.value}"] = (scope, item)
        else:
            module_scope.read(statement)
    scopes["<module>"] = (module_scope, None)

    facts.clipping_configured = any(scope.gradient_clip_val for scope, _ in scopes.values())
    for name, (scope, node) in scopes.items():
        if scope.backward and node is not None:
            backward_functions.add(node)
        if scope.backward and scope.steps:
            clips = scope.clips or any(scopes[c][0].clips for c in scope.calls if c in scopes)
            facts.loops.append(TrainingLoop(name.rsplit(".", 1)[-1], site(scope.backward[0]), clips, scope.names))
    return backward_functions, bool(module_scope.backward)


def _warmup(text: str) -> FixedSite | None:
    """Where the text schedules a learning-rate warm-up: a regex, as it runs on every file. Text
    without the words the regex looks for is answered first: the search is slow (it tries its
    pattern at every word) and such text matches nothing. (Of the letters of those words, only
    the `i` of LinearLR has a non-ASCII case variant the regex would take, `İ`: no torch name.)"""
    lowered = text.lower()
    if not any(word in lowered for word in ("warm", "onecyclelr", "linearlr")):
        return None
    match = _WARMUP.search(text)
    if match is None:
        return None
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return FixedSite(Span(line, column, line, column + len(match.group(0))), match.group(0))


def _first_recurrent(text: str, imports: dict[str, str]) -> str | None:
    """The first `nn.RNN(`/`nn.LSTM(`/... constructed in the source, through any import alias.
    A regex over the text, not a tree visit: this runs on every file; text without any of the
    names is answered first, as the search tries every word."""
    if not any(name in text for name in _RECURRENT_WORDS):
        return None
    for match in _RECURRENT_CALL.finditer(text):
        prefix, short = (match.group(1) or "").rstrip("."), match.group(2)
        if prefix:
            head, _, rest = prefix.partition(".")
            full = imports.get(head, head) + ("." + rest if rest else "") + "." + short
        else:
            full = imports.get(short, "")
        if full == f"torch.nn.{short}" or full.startswith("torch.nn.modules."):
            return f"nn.{short}"
    return None


def _length_constants(module: cst.Module, site: Callable[[cst.CSTNode], Site]) -> list[LengthConstant]:
    """Module-level and class-level integer constants whose names say sequence length."""
    constants: list[LengthConstant] = []
    bodies = [module.body] + [class_body(s) for s in module.body if isinstance(s, cst.ClassDef)]
    for body in bodies:
        for statement in body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target, value = small.targets[0].target, small.value
                elif isinstance(small, cst.AnnAssign) and small.value is not None:
                    target, value = small.target, small.value
                else:
                    continue
                if isinstance(target, cst.Name) and LENGTH_NAME.search(target.value) and isinstance(value, cst.Integer):
                    constants.append(LengthConstant(target.value, int(value.evaluated_value), site(small)))
    return constants


def run_training_code(interp: Interpreter, backward_functions: set[cst.FunctionDef], module_trains: bool) -> list[str]:
    """Interpret the file's training code for the facts the loss and recurrent rules need: the
    module's top-level code when it trains (a script, a notebook exported to `.py`) together with
    its `__main__` block, every top-level function that calls `.backward()` (its parameters are
    symbolic tensors), and the `training_step` of Lightning modules. Loops run once, on symbolic
    batches; the functions they call run as they are called."""
    interp.backward_functions = backward_functions
    interp.training_code = True
    errors: list[str] = []
    entries: list[tuple[str, Any]] = []
    if module_trains:
        entries.append(("<module>", lambda: run_top_level(interp)))
    else:
        for statement in interp.module.body:
            if isinstance(statement, cst.If) and is_main_guard(statement):
                entries.append(("__main__", lambda s=statement: interp.exec_block(s.body, dict(interp.globals), None)))
    def standalone(function: cst.FunctionDef, owner: ClassInfo | None = None) -> None:
        """A training function called by no one in the file (or a training method of `owner`).
        Its parameters are symbolic tensors, except those it uses as a model (`def train(model,
        loader)` with `model.train()`): they are bound from their annotation, or to each model
        of the file in turn."""
        params = [*function.params.posonly_params, *function.params.params]
        this = None
        if owner is not None:
            this, params = interp.instantiate(owner, [], {}, owner.node), params[1:]
        annotated = {p.name.value: model for p in params if (model := annotated_model(interp, p)) is not None}
        as_models = model_parameters(function) | set(annotated)
        bound = {name: annotated.get(name) for name in as_models}
        # first with nothing assumed, so a finding that does not depend on the model names none
        choices: list[tuple[str | None, Any]] = [(None, None)]
        models = file_models(interp) if any(v is None for v in bound.values()) else []
        if as_models and len(models) <= MAX_ASSUMED_MODELS:
            choices += models
        for name, make in choices:
            args = []
            for param in params:
                model = bound.get(param.name.value)
                args.append(model if model is not None else make() if make is not None and param.name.value in as_models
                            else interp.fresh_batch())  # fmt: skip
            interp.reset_budget()
            interp.assumed_model = name
            try:
                interp.call_function(FuncRef(function, this, owner), args, {})
            except (OutOfBudget, RecursionError, FunctionReturn):
                pass
            finally:
                interp.assumed_model = None

    for name, function in interp.functions.items():
        if function in backward_functions:  # what the loss rules need; helpers run when called
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
        elif "compute_loss" in info.methods:  # a transformers Trainer that computes its own loss
            method = info.methods["compute_loss"]
            interp.backward_functions = interp.backward_functions | {method}
            entries.append((f"{name}.compute_loss", lambda method=method, info=info: standalone(method, info)))
    for label, run in entries:
        interp.reset_budget()
        interp.training_code = True
        interp.backward_scope = label == "<module>"
        try:
            run()
        except (OutOfBudget, RecursionError, FunctionReturn):
            continue
        except Exception as error:  # the front-end must never crash on user code
            if DEBUG:
                raise
            errors.append(f"training code {label}: {type(error).__name__}: {error}")
        finally:
            interp.backward_scope = False
    interp.training_code = False
    return errors


#: The most models of a file a training function's model parameter is tried with.
MAX_ASSUMED_MODELS = 4
#: Methods that only a model has: a parameter they are called on is a model.
_MODEL_METHODS = frozenset({"train", "eval", "parameters", "named_parameters", "modules", "state_dict", "zero_grad_"})


def model_parameters(function: cst.FunctionDef) -> set[str]:
    """Parameters the function uses as a model: annotated as one, or with `.train()`, `.eval()` or
    `.parameters()` called on them, or called on data when their name says model (`net(x)`)."""
    names = {p.name.value: p for p in [*function.params.posonly_params, *function.params.params]}
    found = {name for name, p in names.items() if p.annotation is not None
             and (dotted_name(p.annotation.annotation) or "").rsplit(".", 1)[-1] == "Module"}  # fmt: skip

    class Uses(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value in _MODEL_METHODS:
                found.add(func.value.value)
            elif isinstance(func, cst.Name) and func.value in names and re.search(r"model|net", func.value, re.I):
                found.add(func.value)

    function.body.visit(Uses())
    return found & set(names)


def annotated_model(interp: Interpreter, param: cst.Param) -> Any:
    """A model of the class the parameter is annotated with (`model: Classifier`), or None."""
    annotation = param.annotation.annotation if param.annotation is not None else None
    value = interp.global_value(annotation.value) if isinstance(annotation, cst.Name) else None
    if isinstance(value, ClassInfo) and interp.is_module_class(value):
        return interp.instantiate(value, [], {}, value.node)
    return None


def file_models(interp: Interpreter) -> list[tuple[str, Any]]:
    """The file's models, to bind a model parameter to: its module classes (built with their
    defaults) and its module-level models, in the order they appear."""
    found: list[tuple[str, Any]] = []
    for name, info in interp.classes.items():
        if interp.is_module_class(info):
            found.append((name, lambda info=info: interp.instantiate(info, [], {}, info.node)))
    for name, value in interp.globals.items():
        if isinstance(value, Instance):
            found.append((name, lambda value=value: value))
    return found


def run_top_level(interp: Interpreter) -> None:
    """The module's top-level statements in order, as a script runs them, in a copy of the names
    the model pass computed: definitions are already known, and each statement runs on its own
    budget, so one that cannot be followed does not stop the ones after it."""
    env = dict(interp.globals)
    for statement in interp.module.body:
        if isinstance(statement, cst.ClassDef):  # the definition in force from here on (a notebook's cells)
            env[statement.name.value] = interp.ctx.class_defs.get(statement, env.get(statement.name.value))
            continue
        if isinstance(statement, cst.FunctionDef):
            continue
        if isinstance(statement, cst.If) and is_main_guard(statement):
            targets = statement.body.body
        else:
            targets = [statement]
        for target in targets:
            interp.reset_budget()
            try:
                interp.exec_statement(target, env, None)
            except (OutOfBudget, RecursionError, FunctionReturn, Break, Continue):
                continue


