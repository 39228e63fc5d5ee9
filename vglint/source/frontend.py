"""The libcst front-end: source bytes in, a `FileAnalysis` with the file's `ModelGraph`s and
training facts out. It never imports or runs the code it reads."""

from __future__ import annotations

import ast
import os
import re
from typing import Any

import libcst as cst

from vglint.analysis import FileAnalysis, SkippedModel
from vglint.findings import FixedSite, Span
from vglint.ir import Effect, Gap, Kind, Layer, ModelGraph, Reason, compress, count_weights, iter_layers
from vglint.layers import CONTAINERS, NN_CLASSES
from vglint.source.interpret import Interpreter
from vglint.source.names import dotted_name, import_table
from vglint.source.parse import parse
from vglint.source.sites import Locator, NodeSite
from vglint.source.training import run_training_code, scan_training_code
from vglint.source.values import (
    UNKNOWN,
    ClassInfo,
    FuncRef,
    Instance,
    ModuleObj,
    OutOfBudget,
    PlainObject,
    Tensor,
    flatten_values,
)
from vglint.source.walk import walk

#: Set VGLINT_DEBUG=1 to see front-end errors instead of skipping the model quietly.
DEBUG = os.environ.get("VGLINT_DEBUG") == "1"


def _is_model_value(value: Any) -> bool:
    if isinstance(value, Instance):
        return True
    if isinstance(value, ModuleObj):
        spec = NN_CLASSES.get(value.cls)
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


def _model_graph(interp: Interpreter, name: str, site: Any, value: Any) -> ModelGraph:
    """Run the model's forward on symbolic inputs and keep the output's path; the model's reasons
    are what the interpreter could not understand since the model's construction began."""
    interp.reset_budget()
    # root 0 is the model's input; other required inputs (masks, hidden states) are roots of their own
    inputs = [Tensor((), 0)] + [interp.fresh_batch() for _ in range(_required_forward_params(interp, value) - 1)]
    result = interp.apply(value, inputs, {}, getattr(value, "node", None))
    outputs = [v for v in flatten_values(result) if isinstance(v, Tensor) and v.root == 0]
    # the path rules judge depth by is the deepest prediction; a loss returned beside it is not one
    path = max((t.path for t in outputs if "loss" not in t.tags), key=count_weights, default=())
    if isinstance(value, ModuleObj) and value.cls not in CONTAINERS:
        declared = [interp.lower(value)]  # a module-level layer (an nn.TransformerEncoder) is its own model
    else:
        declared = [interp.lower(m) for m in interp.leaves(value)]
    declared += interp.recurrences  # loops in forward that are recurrent layers
    reasons = list({(r.gap, id(r.site)): r for r in interp.reasons}.values())  # once per gap and place
    assumed = list(interp.assumptions)
    return ModelGraph(name=name, site=site, path=path, declared=declared, reasons=reasons,
                      outputs=[t.path for t in outputs], assumed=assumed)  # fmt: skip


def build_models(interp: Interpreter, locator: Locator, text: str = "") -> tuple[list[ModelGraph], list[str]]:
    """Every model of the file: module-level models, model classes, and model-returning functions."""
    module = interp.module
    errors: list[str] = []
    graphs: list[ModelGraph] = []

    interp.skipped_models = []  # models given up on, named in the coverage report: never dropped silently

    ranked: list[tuple[int, ModelGraph]] = []  # each graph with its place in the file's order

    def guarded(label: str, make, rank: int = 0) -> None:
        try:
            graph = make()
        except (OutOfBudget, RecursionError):  # the step, depth or time limit
            skipped(label, make, "analysis budget")
            return
        except Exception as error:  # the front-end must never crash on user code
            if DEBUG:
                raise
            errors.append(f"{label}: {type(error).__name__}: {error}")
            skipped(label, make, "front-end error")
            return
        if graph is not None:
            ranked.append((rank, settle_branches(interp, graph, make)))

    def skipped(label: str, make, why: str) -> None:
        """A model given up on; a would-be factory only if it returns what may be a model (a call
        or a name, not the `{...}` of timm's `_cfg()`), since it never ran far enough to tell."""
        function = interp.functions.get(label) if make.__name__ == "make_from_factory" else None
        if function is not None:
            returned = function.body.body[-1].body[-1].value
            if not isinstance(returned, (cst.Call, cst.Name, cst.Attribute)):
                return
        interp.skipped_models.append(SkippedModel(label, defined_at(label, make), why))

    def defined_at(label: str, make) -> NodeSite:
        """The name of the model's class (`make`), factory function (`make_from_factory`) or
        module-level variable (a lambda), where the coverage listing places it."""
        info, function = interp.classes.get(label), interp.functions.get(label)
        if make.__name__ == "make" and info is not None:
            return NodeSite(info.node.name, locator)
        if make.__name__ == "make_from_factory" and function is not None:
            return NodeSite(function.name, locator)
        for statement in module.body:
            for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
                if isinstance(small, cst.Assign) and any(getattr(t.target, "value", None) == label for t in small.targets):
                    return NodeSite(small.targets[0].target, locator)
        return NodeSite(module, locator)

    try:
        interp.run_module_level()
    except Exception as error:
        if DEBUG:
            raise
        errors.append(f"module level: {type(error).__name__}: {error}")

    # module-level models: each value once (`model = model.to(device)` binds the same model), at
    # the statement that first bound it
    built_classes: set[int] = set()
    seen_values: set[int] = set()
    for target, value in interp.module_assignments:
        if not _is_model_value(value) or id(value) in seen_values:
            continue
        seen_values.add(id(value))
        if isinstance(value, Instance):
            built_classes.add(id(value.cls))
        interp.begin_model()
        guarded(target.value, lambda t=target, v=value: _model_graph(interp, t.value, NodeSite(t, locator), v))

    # model classes: every definition, a class redefined cell after cell included. Those whose
    # `__init__` requires arguments are built last, after the factories too, with the arguments of
    # their first construction that the other models showed (`_DenseBlock(num_layers=6, ...)` in DenseNet), if any.
    classes = [info for info in interp.ctx.class_defs.values() if id(info) not in built_classes and interp.is_module_class(info)]
    needing = {id(info) for info in classes if _requires_arguments(info, interp)}

    literals: dict[str, tuple[list, dict, cst.Call]] | None = None

    def build_class(info) -> ModelGraph:
        def make():
            nonlocal literals
            interp.reset_budget()
            interp.begin_model()
            construction = interp.constructions.get(id(info)) if id(info) in needing else None
            if construction is None and id(info) in needing:  # built only where nothing runs (`main()`)
                if literals is None:  # one walk of the file, and only when its text shows such a call
                    named = [i.name for i in classes if id(i) in needing]
                    literals = literal_constructions(module) if _shows_literal_call(text, named) else {}
                literal = literals.get(info.name)
                construction = None if literal is None else (*literal, interp.ctx)
            if construction is not None:
                args, kwargs, call, where = construction
                built = f"at line {locator.line(call)}" if where.local else f"in {where.path.name}"
                interp.assumptions[f"{CONSTRUCTION_ASSUMED} {built}"] = None
            else:
                args, kwargs = default_configs(interp, info), {}
            instance = interp.instantiate(info, list(args), dict(kwargs), info.node)
            return _model_graph(interp, info.name, NodeSite(info.node.name, locator), instance)

        return make

    for rank, info in enumerate(classes, start=1):
        if id(info) not in needing:
            guarded(info.name, build_class(info), rank)

    for index, (name, function) in enumerate(interp.functions.items(), start=len(classes) + 1):
        params = function.params
        if any(p.default is None for p in (*params.posonly_params, *params.params)) or not _returns_value(function):
            continue

        def make_from_factory(function=function):
            interp.reset_budget()
            interp.begin_model()
            value = interp.call_function(FuncRef(function), [], {})
            if not _is_model_value(value):
                return None
            return _model_graph(interp, function.name.value, NodeSite(function.name, locator), value)

        guarded(name, make_from_factory, index)

    # last to first: a block is usually defined above the model that builds it
    for rank, info in reversed(list(enumerate(classes, start=1))):
        if id(info) in needing:
            guarded(info.name, build_class(info), rank)
    graphs.extend(graph for _, graph in sorted(ranked, key=lambda pair: pair[0]))
    return graphs, errors


def _shows_literal_call(text: str, names: list[str]) -> bool:
    """Whether the text has a call of one of `names` with only literal arguments (`MLP(32, depth=20)`):
    a quick look before the walk of the whole tree that `literal_constructions` costs. A model's
    config (`BertModel(config)`) is no literal, so transformers' files are never walked."""
    # the calls a regex `\b(?:A|B)\((args)\)` would find, left to right, none inside another: found
    # by `str.find` per name, as the regex tries every alternative at every word of the text
    calls = sorted({(at, name) for name in set(names) for at in _occurrences(text, name + "(")})
    end = 0
    for at, name in calls:
        if at < end or (at and _WORD.match(text, at - 1)):
            continue
        # arguments may hold one level of brackets (`kernel=(3, 3)`)
        match = _ARGUMENTS.match(text, at + len(name))
        if match is None:
            continue
        end = match.end()
        if _NAME_FIRST.match(match[1]):  # `BertLayer(config, ...)`: what ast.literal_eval would refuse
            continue
        try:
            call = ast.parse(f"f({match[1]})", mode="eval").body
            [ast.literal_eval(a) for a in call.args] + [ast.literal_eval(k.value) for k in call.keywords]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, AttributeError):
            continue
        return True
    return False


_WORD = re.compile(r"\w")
_ARGUMENTS = re.compile(r"\(((?:[^()]|\([^()]*\))*)\)")
#: Arguments that begin with a name, an attribute, a call or a subscript: no literal.
_NAME_FIRST = re.compile(r"\s*(?!(?:True|False|None)\b)[^\W\d]\w*\s*(?:[,.(\[]|$)")


def _occurrences(text: str, word: str) -> list[int]:
    found, at = [], text.find(word)
    while at >= 0:
        found.append(at)
        at = text.find(word, at + 1)
    return found


def literal_constructions(module: cst.Module) -> dict[str, tuple[list, dict, cst.Call]]:
    """By the name called (`MLP`, `models.MLP`), the first call in the file whose arguments are all
    literals: `model = MLP(32, depth=20)` inside `main()`, which the analysis does not run. A class
    that requires arguments is analysed with them, as with a construction the analysis saw."""
    found: dict[str, tuple[list, dict, cst.Call]] = {}

    for node in walk(module):
        if not isinstance(node, cst.Call):
            continue
        func = node.func
        called = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
        if called is None or called in found or any(arg.star for arg in node.args):
            continue
        try:
            values = [ast.literal_eval(module.code_for_node(arg.value)) for arg in node.args]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        args = [v for arg, v in zip(node.args, values) if arg.keyword is None]
        kwargs = {arg.keyword.value: v for arg, v in zip(node.args, values) if arg.keyword is not None}
        found[called] = (args, kwargs, node)
    return found


def _requires_arguments(info, interp: Interpreter) -> bool:
    """The class's `__init__` has a parameter without a default (after `self`), or takes `*args`
    to pass on (torchvision's `QuantizableInvertedResidual(*args, **kwargs)`)."""
    found = interp.find_method(info, "__init__")
    if found is None:
        return False
    params = found[1].params
    positional = [*params.posonly_params, *params.params][1:]
    return (any(p.default is None for p in [*positional, *params.kwonly_params])
            or isinstance(params.star_arg, cst.Param))  # fmt: skip


#: Unknown branches a model may have for vglint to try the other side of each.
#: How an assumption about a class built with the literal arguments of a call that does not run
#: (`Net(784, depth=10)` in `main()`) begins; graph mode, building it with them, keeps it.
CONSTRUCTION_ASSUMED = "the arguments of its construction"

MAX_SETTLED_BRANCHES = 3


def structure(graph: ModelGraph) -> tuple:
    """What the rules read of a model's architecture: its deepest path and its declared layers."""
    return compress(graph.deepest), tuple((layer.kind, layer.op, layer.recurrent, layer.transformer) for layer in graph.declared)


def settle_branches(interp: Interpreter, graph: ModelGraph, make) -> ModelGraph:
    """An unknown branch makes a model uncertain only if its other side builds another model.

    When the only doubts about a model are a few branches on unknown values (`if weights is not
    None:`), build it again with each branch's body taken instead of skipped; if every such build
    has the same architecture (same deepest path and declared layers), the branches change nothing
    the rules read and the model counts as understood. Each branch is tried on its own, with the
    others at their default; the extra builds leave no facts behind and do not spend the file's budget.
    """
    tests = list(dict.fromkeys(r.site.node for r in graph.reasons if r.gap is Gap.UNKNOWN_BRANCH))
    others = [r for r in graph.reasons if r.effect is Effect.UNCERTAIN and r.gap is not Gap.UNKNOWN_BRANCH]
    if not tests or others or len(tests) > MAX_SETTLED_BRANCHES:
        return graph
    expected = structure(graph)
    budget, facts = interp.budget, interp.facts
    saved = (budget.file_steps, budget.steps, set(interp.frozen_sites), {k: list(v) for k, v in facts.fed_shapes.items()})
    try:
        for test in tests:
            interp.branch_overrides = {test: True}
            try:
                other = make()
            except Exception:  # out of budget, or anything else: the doubt stays
                return graph
            if other is None or structure(other) != expected or any(
                r.effect is Effect.UNCERTAIN and r.gap is not Gap.UNKNOWN_BRANCH for r in other.reasons
            ):
                return graph
    finally:
        interp.branch_overrides = {}
        budget.file_steps, budget.steps, interp.frozen_sites, facts.fed_shapes = saved
    graph.reasons = [r for r in graph.reasons if r.gap is not Gap.UNKNOWN_BRANCH]
    return graph


def default_configs(interp: Interpreter, info) -> list:
    """Arguments for a model class built on its own whose `__init__` requires a config: an object of
    the config class its annotation names (`config: GPTConfig`) or its `config_class` says
    (transformers' `config_class = BertConfig`), built with its defaults. The values the model
    reads from it are the graph's assumptions; other required arguments stay unknown."""
    found = interp.find_method(info, "__init__")
    if found is None:
        return []
    params = [*found[1].params.posonly_params, *found[1].params.params][1:]
    args = []
    for param in params:
        if param.default is not None:
            break
        config = None
        annotation = param.annotation.annotation if param.annotation is not None else None
        name = dotted_name(annotation) if annotation is not None else None
        # a class of the file, or of the module that says `config_class = ...`: another module's
        # plain classes are opaque (`ModuleResolution.project_value`), so their files are not read
        candidate = interp.ctx.classes.get(name) if name and "." not in name else None
        if candidate is None and param.name.value == "config":
            owner = next((c for c in interp.mro(info) if "config_class" in c.assigns), None)
            declared = owner.assigns["config_class"] if owner is not None else None
            if isinstance(declared, cst.Name) and owner.ctx is not None:
                candidate = owner.ctx.classes.get(declared.value)
        if isinstance(candidate, ClassInfo) and not interp.is_module_class(candidate):
            config = interp.instantiate(candidate, [], {}, candidate.node)
            if isinstance(config, PlainObject):
                config.assumed = candidate.name
        args.append(config if config is not None else UNKNOWN)
    return args if any(a is not UNKNOWN for a in args) else []


def _returns_value(function: cst.FunctionDef) -> bool:
    """A factory ends in `return <model>`; a training `main()` usually returns nothing."""
    body = function.body.body
    last = body[-1] if body else None
    return (
        isinstance(last, cst.SimpleStatementLine)
        and isinstance(last.body[-1], cst.Return)
        and last.body[-1].value is not None
    )


_WEIGHT_NORM_CALL = re.compile(r"\b(?:weight_norm|spectral_norm)\s*\(")


def _note_deferred_weight_norm(models: list[ModelGraph], text: str) -> None:
    """HiFi-GAN-style code applies `weight_norm` to its layers in a method nothing in the file runs
    (`apply_weight_norm()`, called by the training recipe): a model of such a file with no
    normalisation on its path may be normalised that way, so its absence proves nothing."""
    match = _WEIGHT_NORM_CALL.search(text) if "weight_norm" in text or "spectral_norm" in text else None
    if match is None:
        return
    line = text.count("\n", 0, match.start()) + 1
    site = FixedSite(Span(line, 1, line, 1), match.group(0))
    for graph in models:
        if not any(isinstance(step, Layer) and step.kind is Kind.NORM for step in graph.deepest):
            graph.reasons.append(Reason(Gap.DEFERRED_NORMALIZATION, site))


def _mark_frozen(models: list[ModelGraph], frozen_sites: set[cst.CSTNode]) -> None:
    """Freezing is recorded by construction site, since training code freezes its own instance of
    a model (`model.encoder.requires_grad_(False)` in `main()`): mark the models' layers made there."""
    if not frozen_sites:
        return
    for graph in models:
        for layer in [*iter_layers(graph.path), *(step for out in graph.outputs for step in iter_layers(out)), *graph.declared]:
            if isinstance(layer.site, NodeSite) and layer.site.node in frozen_sites:
                layer.frozen = True


def analyse_module(module: cst.Module, filename: str, text: str | None = None) -> FileAnalysis:
    """`text` is the module's source, if the caller has it: it lets cheap text checks skip work."""
    text = module.code if text is None else text
    locator = Locator(module)
    imports = import_table(module)
    analysis, trains = _analyse_once(module, filename, text, locator, imports, {})
    if trains and _STRING_TEST.search(text):
        _add_option_losses(analysis, module, filename, text, locator, imports)
    return analysis


def _analyse_once(module, filename, text, locator, imports, options: dict[str, str]) -> tuple[FileAnalysis, bool]:
    """One analysis of the file under the given string options; and whether the file trains."""
    interp = Interpreter(module, imports, locator, filename)
    interp.option_values = options
    models, errors = build_models(interp, locator, text)
    facts = interp.facts
    backward_functions, module_trains = scan_training_code(module, imports, text, facts, interp.site)
    errors += run_training_code(interp, backward_functions, module_trains)
    seen: set[int] = set()
    facts.loss_uses = [u for u in facts.loss_uses if id(u.site) not in seen and not seen.add(id(u.site))]
    _mark_frozen(models, interp.frozen_sites)
    _note_deferred_weight_norm(models, text)
    analysis = FileAnalysis(filename=filename, text=text, models=models, training=facts, internal_errors=errors,
                            skipped=interp.skipped_models, reads=interp.project_reads())  # fmt: skip
    interp.release()
    return analysis, bool(backward_functions) or module_trains


#: A comparison with a string literal somewhere in the text: `if loss == "binary":`.
_STRING_TEST = re.compile(r"""(==|!=|\bin)\s*[\(\[]?\s*["']""")
#: The most other analyses of one file under string options.
MAX_OPTION_RUNS = 6


def _add_option_losses(analysis: FileAnalysis, module, filename, text, locator, imports) -> None:
    """Options that choose the architecture and the loss together (`Net(loss="binary")` adds a
    sigmoid under `if loss == "binary":` where the trainer picks `nn.BCELoss()` the same way):
    the file is analysed again under each value it compares a parameter with, the same value for
    every parameter of that name, and a loss finding only one value shows says which."""
    known = {id(use.site.node) for use in analysis.training.loss_uses if isinstance(use.site, NodeSite)}
    runs = [(name, value) for name, values in string_options(module).items() for value in values][:MAX_OPTION_RUNS]
    for name, value in runs:
        try:
            variant, _ = _analyse_once(module, filename, text, locator, imports, {name: value})
        except Exception:  # the base analysis stands; a variant is a bonus
            continue
        analysis.reads.add(variant.reads)
        for use in variant.training.loss_uses:
            node = id(use.site.node) if isinstance(use.site, NodeSite) else None
            if node is not None and node not in known:
                known.add(node)
                use.under = f'{name}="{value}"'
                analysis.training.loss_uses.append(use)


def string_options(module: cst.Module) -> dict[str, list[str]]:
    """Parameters of the file's functions compared with string literals, and those literals."""
    params: set[str] = set()
    found: dict[str, list[str]] = {}

    for node in walk(module):
        if isinstance(node, cst.Param):
            params.add(node.name.value)
        elif isinstance(node, cst.Comparison):
            left = node.left
            for target in node.comparisons:
                right = target.comparator
                name, literal = (left, right) if isinstance(left, cst.Name) else (right, left)
                if isinstance(target.operator, (cst.Equal, cst.NotEqual)) and isinstance(name, cst.Name):
                    literals = [literal]
                elif isinstance(target.operator, cst.In) and isinstance(left, cst.Name) and isinstance(right, (cst.Tuple, cst.List)):
                    name, literals = left, [e.value for e in right.elements]
                else:
                    literals = []
                for item in literals:
                    if isinstance(item, cst.SimpleString) and isinstance(name, cst.Name):
                        value = item.evaluated_value
                        if isinstance(value, str) and value not in found.setdefault(name.value, []):
                            found[name.value].append(value)
                left = right
    return {name: values for name, values in found.items() if name in params}


class SourceFrontend:
    """The `Frontend` that reads source text with libcst."""

    def analyse(self, filename: str, source: bytes) -> FileAnalysis:
        module, failure = parse(source, filename)
        if module is None:
            return FileAnalysis(filename=filename, text=source.decode("utf-8", errors="replace"), unreadable=failure)
        text = source.decode(module.encoding, errors="replace")  # not module.code: that re-generates the file
        return analyse_module(module, filename, text)
