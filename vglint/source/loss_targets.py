"""What a loss call shows of its targets, read from the code (VG303 judges an MSE loss by it).

"Class targets" is a claim vglint makes only when the code shows it: the target expression, or an
assignment to the target's name in the function that calls the loss, is

- a one-hot encoding: `F.one_hot(y, 10)`, `torch.eye(10)[y]`, `torch.zeros(n, 10).scatter_(1, y, 1)`;
- or a name, attribute or key that says labels: `labels`, `y_onehot`, `batch["label"]`, `batch.labels`;

through the conversions training code applies (`.float()`, `.to(device)`, `.view(-1, 1)`, ...).
Anything else (`y`, `target`, a value computed elsewhere) shows nothing, and VG303 stays silent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

#: A name that says class labels: `labels`, `label`, `y_onehot`, `one_hot_targets`, `classes`.
_LABEL_NAME = re.compile(r"(^|_)(labels?|one_?hot|classes)(_|$)", re.IGNORECASE)

#: Tensor methods that change a target's type, device or shape, not what it holds.
_CONVERSIONS = frozenset({"float", "double", "half", "long", "int", "to", "type", "type_as", "cuda", "cpu", "view",
                          "reshape", "unsqueeze", "squeeze", "flatten", "detach", "clone", "contiguous", "view_as"})  # fmt: skip

Qualify = Callable[[cst.BaseExpression], "str | None"]


def loss_target(call: cst.CSTNode) -> cst.BaseExpression | None:
    """The target argument of a loss call: `criterion(out, target)`, `F.mse_loss(out, target=...)`."""
    if not isinstance(call, cst.Call):
        return None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "target":
            return arg.value
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    return positional[1] if len(positional) > 1 else None


def shows_class_labels(call: cst.CSTNode, function: cst.FunctionDef | None, qualified: Qualify) -> bool:
    """True when the loss call's target is shown to be class labels (see the module docstring)."""
    target = loss_target(call)
    if target is None:
        return False
    assigned = _assignments(function) if function is not None else {}
    return _shows(target, assigned, qualified, depth=0)


def _shows(expr: cst.BaseExpression, assigned: dict[str, list[cst.BaseExpression]], qualified: Qualify, depth: int) -> bool:
    if depth > 6:
        return False
    if isinstance(expr, cst.Name):
        if _LABEL_NAME.search(expr.value):
            return True
        return any(_shows(value, assigned, qualified, depth + 1) for value in assigned.get(expr.value, ()))
    if isinstance(expr, cst.Attribute):
        return bool(_LABEL_NAME.search(expr.attr.value))
    if isinstance(expr, cst.Subscript):
        keys = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
        if any(isinstance(k, cst.SimpleString) and _LABEL_NAME.search(str(k.evaluated_value)) for k in keys):
            return True  # batch["labels"]
        if isinstance(expr.value, cst.Call) and (_callee(expr.value, qualified) or "").endswith("eye"):
            return True  # torch.eye(10)[y]
        return _shows(expr.value, assigned, qualified, depth + 1)
    if isinstance(expr, cst.Call):
        name = _callee(expr, qualified) or ""
        if name.endswith("one_hot"):
            return True
        if isinstance(expr.func, cst.Attribute):
            method = expr.func.attr.value
            if method in ("scatter", "scatter_"):
                return True  # torch.zeros(n, k).scatter_(1, y.unsqueeze(1), 1)
            if method in _CONVERSIONS:
                return _shows(expr.func.value, assigned, qualified, depth + 1)
    return False


def _callee(call: cst.Call, qualified: Qualify) -> str | None:
    """`torch.nn.functional.one_hot` for `F.one_hot`, or the dotted name as written."""
    name = qualified(call.func)
    if name is not None:
        return name
    func = call.func
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None


def _assignments(function: cst.FunctionDef) -> dict[str, list[cst.BaseExpression]]:
    """Every value assigned to a plain name in `function` (not in functions nested in it)."""
    found: dict[str, list[cst.BaseExpression]] = {}

    class Collect(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is function

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Assign(self, node: cst.Assign) -> None:
            for target in node.targets:
                _bind(target.target, node.value, found)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            if node.value is not None:
                _bind(node.target, node.value, found)

    function.visit(Collect())
    return found


def _bind(target: cst.BaseExpression, value: cst.BaseExpression, found: dict[str, list[cst.BaseExpression]]) -> None:
    if isinstance(target, cst.Name):
        found.setdefault(target.value, []).append(value)
    elif isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)):
        for t, v in zip(target.elements, value.elements):  # `data, target = data.to(d), target.to(d)`
            _bind(t.value, v.value, found)
