"""Constant arrays: torch and numpy on numbers known from the source, elementwise, in plain Python
(vglint never imports torch or numpy). Models compute their configuration this way: RegNet's block
widths (`torch.round(torch.log(widths / w_0) / math.log(w_m))`), drop-path rates
(`[x.item() for x in torch.linspace(0, drop_path_rate, depth)]`, `np.linspace(...).tolist()`)."""

from __future__ import annotations

import math
import operator
from typing import Any

import libcst as cst

from vglint.source.values import UNKNOWN, Budget, ConstArray

_NUMBER = (int, float)

#: Elementwise functions of one array, by the name torch, numpy and the tensor methods give them.
_UNARY = {
    "round": lambda v: float(round(v)), "floor": lambda v: float(math.floor(v)), "ceil": lambda v: float(math.ceil(v)),
    "log": math.log, "log2": math.log2, "exp": math.exp, "sqrt": math.sqrt, "abs": abs,
    "int": lambda v: int(v), "long": lambda v: int(v), "float": float, "double": float,
}  # fmt: skip

_BINARY = {"pow": operator.pow, "power": operator.pow, "divide": operator.truediv, "div": operator.truediv,
           "true_divide": operator.truediv, "mul": operator.mul, "multiply": operator.mul, "add": operator.add,
           "sub": operator.sub, "subtract": operator.sub}  # fmt: skip

_OPERATORS = {cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul, cst.Divide: operator.truediv,
              cst.FloorDivide: operator.floordiv, cst.Power: operator.pow, cst.Modulo: operator.mod}  # fmt: skip


def _number(value: Any) -> bool:
    return isinstance(value, _NUMBER)  # bool is an int, as torch and numpy take it


def elementwise(function, left: Any, right: Any) -> Any:
    """`function` over a ConstArray and a number or an array of the same length."""
    if not isinstance(left, ConstArray) and not isinstance(right, ConstArray):
        return UNKNOWN
    size = len(left) if isinstance(left, ConstArray) else len(right)
    lefts = left if isinstance(left, ConstArray) else [left] * size
    rights = right if isinstance(right, ConstArray) else [right] * size
    if len(lefts) != len(rights) or not all(_number(v) for v in (*lefts, *rights)):
        return UNKNOWN
    try:
        return ConstArray(function(a, b) for a, b in zip(lefts, rights))
    except (ArithmeticError, ValueError):
        return UNKNOWN


def binary(op: cst.CSTNode, left: Any, right: Any) -> Any:
    function = _OPERATORS.get(type(op))
    return UNKNOWN if function is None else elementwise(function, left, right)


def make(name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`arange`, `linspace` or an elementwise function of torch or numpy, or UNKNOWN."""
    if name == "arange" and args and all(_number(a) for a in args) and len(args) <= 3:
        values = range(*[int(a) for a in args]) if all(float(a).is_integer() for a in args) else None
        if values is not None and len(values) <= Budget.MAX_SEQUENCE:
            return ConstArray(values)
        return UNKNOWN
    if name == "linspace" and len(args) >= 2:
        steps = args[2] if len(args) > 2 else kwargs.get("steps", kwargs.get("num"))  # torch's and numpy's names
        start, end = args[0], args[1]
        if not (_number(start) and _number(end) and isinstance(steps, int)) or not 0 < steps <= Budget.MAX_SEQUENCE:
            return UNKNOWN
        if steps == 1:
            return ConstArray([float(start)])
        return ConstArray(start + (end - start) * i / (steps - 1) for i in range(steps))
    if name in ("tensor", "as_tensor", "array", "asarray") and len(args) == 1 and isinstance(args[0], (list, tuple)):
        numbers = list(args[0])
        return ConstArray(numbers) if numbers and all(_number(v) for v in numbers) else UNKNOWN
    arrays = [a for a in args if isinstance(a, ConstArray)]
    if not arrays:
        return UNKNOWN
    if name == "diff" and len(args) == 1:
        return ConstArray(b - a for a, b in zip(args[0], args[0][1:]))
    if len(args) == 1 and (name in _UNARY or name in ("sum", "cumsum", "tolist", "max", "min")):
        return method(args[0], name, [], {})
    if name in _BINARY and len(args) == 2:
        return elementwise(_BINARY[name], args[0], args[1])
    return UNKNOWN


def method(array: ConstArray, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`array.int()`, `.tolist()`, `.item()`, `.sum()`, `.round()`..."""
    if name in _UNARY and not args:
        try:
            return ConstArray(_UNARY[name](v) for v in array)
        except (ArithmeticError, ValueError, TypeError):
            return UNKNOWN
    if name == "tolist":
        return list(array)
    if name == "item":
        return array[0] if len(array) == 1 else UNKNOWN
    if name == "sum":
        return sum(array)
    if name == "cumsum":
        total, out = 0, []
        for v in array:
            total += v
            out.append(total)
        return ConstArray(out)
    if name in ("max", "min") and array and not args:
        return max(array) if name == "max" else min(array)
    if name in _BINARY and len(args) == 1:
        return elementwise(_BINARY[name], array, args[0])
    return UNKNOWN
