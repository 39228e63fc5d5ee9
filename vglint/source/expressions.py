"""Expressions: literals, names, subscripts, operators, comparisons and comprehensions."""

from __future__ import annotations

import operator
from typing import Any

import libcst as cst

from vglint.ir import Gap, MergeKind
from vglint.source import consts
from vglint.source.calls import UNKNOWN_ITEMS, IsGenerator
from vglint.source.statements import unknown_truth
from vglint.source.values import (
    THIS_MODULE,
    UNKNOWN,
    Budget,
    ClassInfo,
    ConstArray,
    FunctionReturn,
    Instance,
    LambdaRef,
    ModuleObj,
    QualRef,
    Tensor,
    contains_value,
    key_like,
    known,
    same_value,
)

_BINOPS = {
    cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
    cst.Divide: operator.truediv, cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}  # fmt: skip
_COMPARE = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
}  # fmt: skip


_NOT_LOOKED_UP = object()
_CONSTANTS = {"True": True, "False": False, "None": None}


class Expressions:
    """A part of `Interpreter`: evaluates expressions, dispatched by node type (`eval_Name`, ...)."""

    def eval(self, node: cst.BaseExpression, env: dict[str, Any], cls: ClassInfo | None) -> Any:
        self.tick()
        kind = type(node)
        method = self.evaluators.get(kind, _NOT_LOOKED_UP)
        if method is _NOT_LOOKED_UP:  # looked up once per node type and file: eval runs millions of times
            method = self.evaluators[kind] = getattr(type(self), "eval_" + kind.__name__, None)
        if method is None:
            return UNKNOWN
        return method(self, node, env, cls)

    def eval_Integer(self, node, env, cls):
        # `int(text, 0)` reads every integer literal as Python does; libcst's `evaluated_value`
        # compiles the text with `ast.literal_eval`, a parse per number read
        return int(node.value, 0)

    def eval_Float(self, node, env, cls):
        return float(node.value)  # a float literal's text is what `float()` reads

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
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        return self.global_value(name)

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
        if isinstance(left, ConstArray) or isinstance(right, ConstArray):
            return consts.binary(op, left, right)  # `torch.arange(depth) * w_a + w_0`
        function = _BINOPS.get(type(op))
        if isinstance(op, cst.Multiply) and isinstance(left, (list, tuple)) and isinstance(right, int):
            return left * right if len(left) * right <= Budget.MAX_SEQUENCE else UNKNOWN  # `[nn.Linear(..), nn.Tanh()] * 16`
        if isinstance(op, cst.Add) and isinstance(left, (list, tuple)) and type(left) is type(right):
            return left + right
        if function is None or not (known(left) and known(right)):
            return UNKNOWN
        try:
            result = function(left, right)
        except Exception:
            return UNKNOWN
        if isinstance(result, (list, tuple, str)) and len(result) > Budget.MAX_SEQUENCE:
            return UNKNOWN
        return result

    def tensor_binary(self, op, left, right, node) -> Any:
        if not (isinstance(left, Tensor) and isinstance(right, Tensor)):
            return left if isinstance(left, Tensor) else right
        if isinstance(op, (cst.Add, cst.Subtract)):
            return self.merge(MergeKind.ADD, [left, right], node)
        if isinstance(op, cst.Multiply):
            if "gate" in right.tags and "gate" not in left.tags:
                return self.gated(left, node)
            if "gate" in left.tags and "gate" not in right.tags:
                return self.gated(right, node)
        return self.merge(MergeKind.OTHER, [left, right], node)

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
                if isinstance(left, QualRef) and isinstance(right, QualRef):
                    same = left.name == right.name  # two reads of `nn.ReLU` are one class
                else:
                    same = left is right if not (known(left) and known(right)) else left == right
                outcome = same if isinstance(operator_, cst.Is) else not same
            elif isinstance(operator_, (cst.In, cst.NotIn)):
                if isinstance(right, (list, tuple, dict)) and not known(left):
                    found = contains_value(list(right), left)  # a class in a set of classes
                    if found is UNKNOWN:
                        return UNKNOWN
                    outcome = found == isinstance(operator_, cst.In)
                    result = result and outcome
                    left = right
                    continue
                if not known(left) or not isinstance(right, (list, tuple, str, dict)):
                    return UNKNOWN
                try:
                    outcome = (left in right) == isinstance(operator_, cst.In)
                except TypeError:
                    return UNKNOWN
            elif isinstance(operator_, (cst.Equal, cst.NotEqual)) and not (known(left) and known(right)):
                same = same_value(left, right)
                if same is UNKNOWN:
                    return UNKNOWN
                outcome = same == isinstance(operator_, cst.Equal)
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

    def eval_Yield(self, node, env, cls):
        """What a generator yields goes to the list its call returns (`Calls._run_function`)."""
        if not self.yielded:
            return UNKNOWN  # a `yield` at module level, or in code run as no call
        if self.yielded[-1] is None:
            raise IsGenerator
        if isinstance(node.value, cst.From):
            items = self.iterate(self.eval(node.value.item, env, cls))
            self.yielded[-1].extend(items if items is not None else [UNKNOWN_ITEMS])
        else:
            self.yielded[-1].append(None if node.value is None else self.eval(node.value, env, cls))
        return None

    def eval_Lambda(self, node, env, cls):
        return LambdaRef(node, env, cls)

    def eval_IfExp(self, node, env, cls):
        forced = self.branch_overrides.get(node.test)
        test = self.eval(node.test, env, cls) if forced is None else forced
        if unknown_truth(test):
            self.gap(Gap.UNKNOWN_BRANCH, node.test)
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

    def eval_Set(self, node, env, cls):
        """A set as the list of its distinct items, as `set(...)` is (`k not in {'pool_size', ...}`)."""
        return _distinct(self.eval_elements(node.elements, env, cls))

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
        try:
            self._comprehension_clause(node.for_in, local, cls, produce, results)
        except FunctionReturn:
            return UNKNOWN
        return results

    def _comprehension_clause(self, clause, local, cls, produce, results: list[Any]) -> None:
        """One `for ... in ... if ...` of a comprehension, and the clauses inside it. A method, not a
        closure calling itself: that closure is a cycle holding the interpreter and every value of
        the comprehension, left for the cyclic collector."""
        items = self.iterate(self.eval(clause.iter, local, cls))
        if items is None:
            raise FunctionReturn(UNKNOWN)
        for item in items[:Budget.MAX_LOOP]:
            self.assign(clause.target, item, local, cls)
            if not all(self.truth(self.eval(cond.test, local, cls)) for cond in clause.ifs):
                continue
            if clause.inner_for_in is not None:
                self._comprehension_clause(clause.inner_for_in, local, cls, produce, results)
            else:
                results.append(produce(local))

    def eval_ListComp(self, node, env, cls):
        return self.comprehension(node, env, cls, lambda local: self.eval(node.elt, local, cls))

    eval_GeneratorExp = eval_ListComp

    def eval_SetComp(self, node, env, cls):
        items = self.eval_ListComp(node, env, cls)
        return UNKNOWN if items is UNKNOWN else _distinct(items)

    def eval_DictComp(self, node, env, cls):
        pairs = self.comprehension(
            node, env, cls, lambda local: (self.eval(node.key, local, cls), self.eval(node.value, local, cls))
        )
        if pairs is UNKNOWN:
            return UNKNOWN
        return {k: v for k, v in pairs if key_like(k)}


def _distinct(items: list[Any]) -> Any:
    """The distinct items, first seen first (classes by identity, as `same_value` compares them);
    unknown when two cannot be told apart."""
    if all(key_like(item) for item in items):
        return list(dict.fromkeys(items))
    distinct: list[Any] = []
    for item in items:
        found = contains_value(distinct, item)
        if found is UNKNOWN:
            return UNKNOWN
        if not found:
            distinct.append(item)
    return distinct
