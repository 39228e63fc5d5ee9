"""Statements: assignments, `if`, `for`, `with`, `try`, `return`, dispatched by node type as
expressions are."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import libcst as cst

from vglint.ir import Gap
from vglint.source.calls import value_helper
from vglint.source.names import dotted_name
from vglint.source.values import (
    UNKNOWN,
    Bound,
    Break,
    Budget,
    ClassInfo,
    Continue,
    FuncRef,
    FunctionReturn,
    Instance,
    ModuleObj,
    Partial,
    QualRef,
    Tensor,
    flatten_values,
)
from vglint.source.walk import walk

_AUG = {
    cst.AddAssign: cst.Add(), cst.SubtractAssign: cst.Subtract(), cst.MultiplyAssign: cst.Multiply(),
    cst.DivideAssign: cst.Divide(), cst.FloorDivideAssign: cst.FloorDivide(),
}  # fmt: skip


#: Builtins and modules whose calls never return a torch layer.
NO_LAYER_BUILTINS = frozenset({"int", "float", "str", "bool", "len", "max", "min", "sum", "round", "abs", "sorted",
                               "list", "tuple", "dict", "set", "getattr", "hasattr", "isinstance", "range", "enumerate",
                               "zip", "map", "repr", "print", "divmod", "pow", "any", "all"})  # fmt: skip
NO_LAYER_MODULES = frozenset({"numpy", "math", "logging", "warnings"})

#: Calls that build no layer and change no value a model is built from: output, warnings, logging,
#: loading pretrained weights into a model already built.
INERT_CALLS = frozenset({"print", "warn", "info", "debug", "warning", "error", "exception", "critical", "log",
                         "load_state_dict"})  # fmt: skip


def unknown_truth(value: Any) -> bool:
    """A branch test whose truth vglint cannot know: an unknown value, a tensor, a method, or a
    name imported from code it cannot see that is not a class (`from settings import USE_NORM`)."""
    if value is UNKNOWN or isinstance(value, (Tensor, Bound)):
        return True
    if isinstance(value, QualRef) and not value.name.startswith(("torch.", "F.", "builtins.")):
        short = value.name.rsplit(".", 1)[-1]
        return not (short[:1].isupper() and not short.isupper())  # `Block` is a class; `USE_NORM` a value
    return False


def inert(statements, in_forward: bool) -> bool:
    """Statements that cannot add, remove or apply a layer: `raise`, `assert`, `pass`, docstrings,
    printing, warnings and logging, `model.load_state_dict(...)`, a tensor reshaped (`x =
    x.unsqueeze(1)`), and `if`s made only of those;
    outside `forward`, also a bare `return`. An unknown branch made of these changes nothing the
    rules read."""
    for statement in statements:
        if isinstance(statement, cst.If):
            orelse = statement.orelse
            rest = [] if orelse is None else [orelse] if isinstance(orelse, cst.If) else orelse.body.body
            if not (inert(statement.body.body, in_forward) and inert(rest, in_forward)):
                return False
        elif not isinstance(statement, cst.SimpleStatementLine) or not all(
            _inert_small(small, in_forward) for small in statement.body
        ):
            return False
    return True


#: Tensor methods and torch functions that only change a tensor's shape or layout: no layer, no
#: merge, no cut, so a branch made of them leaves the path of layers as it is.
SHAPE_OPS = frozenset({
    "view", "reshape", "permute", "transpose", "unsqueeze", "squeeze", "flatten", "unflatten", "contiguous",
    "expand", "expand_as", "repeat", "flip", "roll", "narrow", "movedim", "swapaxes", "t", "pad",
})  # fmt: skip


def _reshapes(expr: cst.BaseExpression) -> bool:
    """`x.unsqueeze(1)`, `x.view(b, -1).permute(0, 2, 1)`, `torch.roll(x, 1, 2)`, `F.pad(x, pad)`: a
    name put through shape operations, with arguments that call nothing."""
    if isinstance(expr, cst.Name):
        return True
    if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in SHAPE_OPS):
        return False
    receiver = expr.func.value
    args = [arg.value for arg in expr.args]
    if dotted_name(receiver) in ("torch", "F", "torch.nn.functional", "nn.functional"):  # `torch.roll(x, ...)`
        return bool(args) and _reshapes(args[0]) and not any(_has_call(a) for a in args[1:])
    return _reshapes(receiver) and not any(_has_call(a) for a in args)


def _inert_small(small: cst.BaseSmallStatement, in_forward: bool) -> bool:
    if isinstance(small, (cst.Pass, cst.Raise, cst.Assert, cst.Global, cst.Nonlocal, cst.Import, cst.ImportFrom)):
        return True
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
        if isinstance(small.value, cst.Call) and _reshapes(small.value):
            return True  # `x = x.unsqueeze(expand_dim)`: the same layers, another shape
    if isinstance(small, cst.Return):
        return not in_forward and (small.value is None or (isinstance(small.value, cst.Name) and small.value.value == "None"))
    if isinstance(small, cst.Expr):
        value = small.value
        if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Ellipsis)):
            return True
        if isinstance(value, cst.Call):
            func = value.func
            name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
            return name in INERT_CALLS
    return False


class Statements:
    """A part of `Interpreter`: runs statements in an environment (`env`, the local names)."""

    def exec_block(self, body: Any, env: dict[str, Any], cls: ClassInfo | None) -> None:
        statements = body.body if hasattr(body, "body") else body
        for statement in statements:
            self.exec_statement(statement, env, cls)

    def exec_statement(self, statement: cst.CSTNode, env: dict[str, Any], cls: ClassInfo | None) -> None:
        self.tick()
        method = self.executor(type(statement))
        if method is not None:  # class definitions, `global` and the like build no layers
            method(self, statement, env, cls)

    def exec_SimpleStatementLine(self, statement: cst.SimpleStatementLine, env, cls) -> None:
        for small in statement.body:
            self.exec_small(small, env, cls)

    def exec_If(self, statement: cst.If, env, cls) -> None:
        forced = self.branch_overrides.get(statement.test)
        test = self.eval(statement.test, env, cls) if forced is None else forced
        unknown = unknown_truth(test)
        # An unknown test takes the else branch: `if weights is not None:` (pretrained loading),
        # `if self.use_checkpoint:` and `if self.training:` guard the unusual case. Skipping the
        # body is a gap only when the body could build or apply layers.
        if unknown and not inert(statement.body.body, in_forward=self.forward_depth > 0):
            targets = self.value_only_targets(statement, env, cls)
            if targets is not None:
                # `if window_size[0] >= pad_H: shift_size[0] = 0`: the branch only sets plain
                # values, so what it sets becomes unknown, and is a gap where it is used for a layer
                for target in targets:
                    self.assign(target, UNKNOWN, env, cls)
                return
            self.gap(Gap.UNKNOWN_BRANCH, statement.test)
        if not unknown and self.truth(test):
            self.exec_block(statement.body, env, cls)
        elif statement.orelse is not None:
            orelse = statement.orelse
            if isinstance(orelse, cst.If):
                self.exec_statement(orelse, env, cls)
            else:
                self.exec_block(orelse.body, env, cls)

    def value_only_targets(self, statement: cst.If, env, cls) -> list[cst.BaseExpression] | None:
        """The targets an `if` (all its branches) assigns, when all it does is assign plain values:
        no call, no tensor, no module, and nothing assigned over a tensor; else None."""
        targets: list[cst.BaseExpression] = []
        blocks = [statement.body.body]
        orelse = statement.orelse
        while orelse is not None:
            if isinstance(orelse, cst.If):
                blocks.append(orelse.body.body)
                orelse = orelse.orelse
            else:
                blocks.append(orelse.body.body)
                orelse = None
        for block in blocks:
            for line in block:
                if isinstance(line, cst.If):
                    nested = self.value_only_targets(line, env, cls)
                    if nested is None:
                        return None
                    targets += nested
                    continue
                if not isinstance(line, cst.SimpleStatementLine):
                    return None
                for small in line.body:
                    if isinstance(small, cst.Pass):
                        continue
                    if not isinstance(small, (cst.Assign, cst.AugAssign)):
                        return None
                    assigned = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                    # the value, and what each target holds now (reading them calls nothing)
                    for expr in [small.value, *assigned]:
                        if _has_call(expr) or any(isinstance(v, (Tensor, ModuleObj, Instance))
                                                  for v in flatten_values(self.eval(expr, env, cls))):  # fmt: skip
                            return None
                    targets += assigned
        return targets

    def exec_Try(self, statement: cst.Try, env, cls) -> None:
        try:
            self.exec_block(statement.body, env, cls)
        finally:
            if statement.finalbody is not None:
                self.exec_block(statement.finalbody.body, env, cls)

    def exec_FunctionDef(self, statement: cst.FunctionDef, env, cls) -> None:
        env[statement.name.value] = FuncRef(statement, ctx=self.ctx, closure=env)

    def exec_While(self, statement: cst.While, env, cls) -> None:
        self.not_followed(statement)

    def exec_With(self, statement: cst.With, env: dict[str, Any], cls: ClassInfo | None) -> None:
        """`with torch.no_grad():` cuts every tensor made inside it from the gradient."""
        context = next((item.item for item in statement.items if self.disables_grad(item.item, env, cls)), None)
        if context is None:
            for item in statement.items:
                value = self.eval(item.item, env, cls)
                if item.asname is not None:
                    self.assign(item.asname.name, value, env, cls)
            self.exec_block(statement.body, env, cls)
            return
        op = self.grad_context(context)
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

    def exec_For(self, statement: cst.For, env: dict[str, Any], cls: ClassInfo | None) -> None:
        value = self.eval(statement.iter, env, cls)
        iterable = self.iterate(value)
        if self.training_code:  # `for x, y in loader:` once, with symbolic batches; epochs once
            iterable = iterable[:1] if iterable else [self.fresh_batch(statement.target)]
        elif self.forward_depth and self.recurrence(statement, iterable, env, cls):
            return
        elif self.forward_depth and isinstance(value, Tensor):
            iterable = [value]  # `for features in x:` in forward: each item continues x's path
        if iterable is None:
            self.not_followed(statement)
            return
        for count, item in enumerate(iterable):
            self.budget.loop(count)
            self.assign(statement.target, item, env, cls)
            try:
                self.exec_block(statement.body, env, cls)
            except Break:
                return
            except Continue:
                continue
        else:
            if statement.orelse is not None:
                self.exec_block(statement.orelse.body, env, cls)

    def exec_small(self, small: cst.CSTNode, env: dict[str, Any], cls: ClassInfo | None) -> None:
        self.tick()
        method = self.executor(type(small))
        if method is not None:  # `pass`, `global`, `import`, `del`, `assert` build no layers
            method(self, small, env, cls)

    def executor(self, kind: type) -> Any:
        """The `exec_` method of a node type, looked up once per type and file."""
        if kind not in self.executors:
            self.executors[kind] = getattr(type(self), "exec_" + kind.__name__, None)
        return self.executors[kind]

    def exec_Assign(self, small: cst.Assign, env, cls) -> None:
        value = self.eval(small.value, env, cls)
        if value is UNKNOWN and isinstance(small.value, cst.Call) and self.may_make_layer(small.value, env):
            if any(isinstance(t.target, cst.Attribute) and dotted_name(t.target.value) == "self" for t in small.targets):
                self.gap(Gap.UNRESOLVED_LAYER, small.value)
        for target in small.targets:
            self.assign(target.target, value, env, cls)

    def exec_AnnAssign(self, small: cst.AnnAssign, env, cls) -> None:
        if small.value is not None:
            self.assign(small.target, self.eval(small.value, env, cls), env, cls)

    def exec_AugAssign(self, small: cst.AugAssign, env, cls) -> None:
        op = _AUG.get(type(small.operator))
        current = self.eval(small.target, env, cls)
        right = self.eval(small.value, env, cls)
        value = self.binary(op, current, right, small) if op is not None else UNKNOWN
        if isinstance(current, list) and isinstance(small.operator, cst.AddAssign) and isinstance(right, (list, tuple)):
            current.extend(right)  # `layers += [...]` mutates the list in place
            value = current
        elif (isinstance(current, ModuleObj) and current.cls in ("ModuleList", "Sequential")
              and isinstance(small.operator, cst.AddAssign) and isinstance(right, (list, tuple))):  # fmt: skip
            current.children.extend(right)  # `self.layers += [MaxVitLayer(...)]` extends the ModuleList
            value = current
        self.assign(small.target, value, env, cls)

    def exec_Expr(self, small: cst.Expr, env, cls) -> None:
        value = self.eval(small.value, env, cls)
        call = small.value
        if (isinstance(value, Tensor) and isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and call.func.attr.value.endswith("_") and isinstance(call.func.value, cst.Name)):  # fmt: skip
            env[call.func.value.value] = value  # `x.detach_()`, `x.relu_()` change x in place

    def exec_Return(self, small: cst.Return, env, cls) -> None:
        raise FunctionReturn(self.eval(small.value, env, cls) if small.value is not None else None)

    def exec_Raise(self, small: cst.Raise, env, cls) -> None:
        raise FunctionReturn(UNKNOWN)

    def exec_Break(self, small: cst.Break, env, cls) -> None:
        raise Break

    def exec_Continue(self, small: cst.Continue, env, cls) -> None:
        raise Continue

    def assign(self, target: cst.BaseExpression, value: Any, env: dict[str, Any], cls: ClassInfo | None) -> None:
        if isinstance(target, cst.Name):
            env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = self.iterate(value)
            elements = target.elements
            items = _unpacked(items, elements)
            if items is None:
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

    def iterate(self, value: Any) -> list[Any] | None:
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, dict):
            return list(value)
        if isinstance(value, range):
            return list(value) if len(value) <= Budget.MAX_LOOP else None
        if isinstance(value, str):
            return list(value)
        if isinstance(value, ModuleObj):
            if value.cls == "ModuleDict":
                return list(value.named)
            return list(value.children)
        if isinstance(value, Instance) and (value.children or self.container_base(value.cls)):
            return list(value.children)
        return None

    def may_make_layer(self, call: cst.Call, env: dict[str, Any]) -> bool:
        """Whether a call whose value is unknown could have made a layer: not a builtin
        (`int(config.hidden_size / heads)`), a function of the standard library or numpy, or one
        of the file's functions that only compute plain data (`to_2tuple(img_size)`)."""
        name = dotted_name(call.func)
        if name is None:
            return True
        if isinstance(call.func, cst.Name):
            callee = self.eval(call.func, env, None)
            if isinstance(callee, FuncRef) and value_helper(callee.node, self.value_helpers_of(callee)):
                return False
        head = name.split(".")[0]
        if "." not in name and name in NO_LAYER_BUILTINS and name not in env and name not in self.globals:
            return False
        qualified = self.qualified(call.func)
        root = (qualified or "").split(".")[0]
        return not (root in NO_LAYER_MODULES or (root in sys.stdlib_module_names and root != "copy")) or head in env

    def truth(self, value: Any) -> bool:
        if isinstance(value, (ModuleObj, Instance, Tensor, ClassInfo, FuncRef, QualRef, Partial)):
            return True
        try:
            return bool(value)
        except Exception:
            return True

    def not_followed(self, loop: cst.CSTNode) -> None:
        """A loop we cannot run: in `forward` the path is lost (declaration order takes over);
        in `__init__` some layers may be missing."""
        self.gap(Gap.FORWARD_LOOP if self.forward_depth else Gap.UNRUNNABLE_LOOP, loop)

    def fresh_batch(self, target: cst.BaseExpression | None = None) -> Any:
        """A symbolic batch shaped like the loop target: `for x, y in loader` gets two tensors."""
        if isinstance(target, (cst.Tuple, cst.List)):
            return tuple(self.fresh_batch(e.value) for e in target.elements)
        return Tensor((), next(self._roots))


def _unpacked(items: list[Any] | None, elements: Sequence[cst.BaseElement]) -> list[Any] | None:
    """The value each target of `a, *rest = items` gets (`rest` a list), or None when the counts
    do not match."""
    if items is None:
        return None
    starred = [i for i, e in enumerate(elements) if isinstance(e, cst.StarredElement)]
    if not starred:
        return items if len(items) == len(elements) else None
    star = starred[0]
    after = len(elements) - star - 1
    if len(starred) > 1 or len(items) < len(elements) - 1:
        return None
    return [*items[:star], items[star:len(items) - after], *items[len(items) - after:]]


@functools.lru_cache(maxsize=4096)  # by the node's identity: an `if` is asked again in every model that runs it
def _has_call(node: cst.CSTNode) -> bool:
    """A call or a lambda anywhere in `node`."""
    return any(isinstance(sub, (cst.Call, cst.Lambda)) for sub in walk(node))
