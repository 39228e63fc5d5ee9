"""Facts about a file's training code, read from its syntax: where `.backward()` is called, whether
the same loop steps an optimiser and clips gradients, which recurrent layers the file uses, and
which constants name a sequence length."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst


RECURRENT = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")
_RECURRENT_CALL = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*)((?:RNN|LSTM|GRU)(?:Cell)?)\s*\(")
_BACKWARD_CALL = re.compile(r"\.backward\s*\(")
#: Names that say "sequence length": SEQ_LEN, max_len, WINDOW, CONTEXT_LENGTH, BLOCK_SIZE, num_steps.
#: Not STEP_SIZE, NUM_BLOCKS or TRAIN_STEPS, which say something else.
_LENGTH_NAME = re.compile(
    r"seq|length|(^|_)len($|_)|window|context|block_?size|time_?steps|^(n|num)_?steps$", re.IGNORECASE
)


@dataclass
class TrainingLoop:
    """A function (or the module body) that calls `.backward()` and steps an optimiser."""

    name: str
    backward: cst.Call
    clips: bool
    calls: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # every name the loop's code refers to


@dataclass
class LengthConstant:
    name: str
    value: int
    node: cst.CSTNode


@dataclass
class TrainingCode:
    loops: list[TrainingLoop] = field(default_factory=list)
    backward_functions: set[cst.FunctionDef] = field(default_factory=set)
    recurrent: str | None = None  # the first recurrent layer class the file uses, e.g. "nn.LSTM"
    clipping_configured: bool = False  # Lightning's Trainer(gradient_clip_val=...) and the like
    length_constants: list[LengthConstant] = field(default_factory=list)


class _Scope(cst.CSTVisitor):
    """Calls in one function body (nested functions included, other top-level functions not)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.backward: list[cst.Call] = []
        self.steps = 0
        self.clips = False
        self.calls: set[str] = set()
        self.gradient_clip_val = False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
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


def scan_training_code(module: cst.Module, imports: dict[str, str], text: str) -> TrainingCode:
    """A libcst visit costs several times the parse, so each one runs only when the source text
    shows what it looks for (`.backward(`, an RNN class name)."""
    facts = TrainingCode()
    facts.length_constants = _length_constants(module)
    facts.recurrent = _first_recurrent(text, imports)
    if not _BACKWARD_CALL.search(text):
        return facts
    scopes: dict[str, tuple[_Scope, cst.FunctionDef | None]] = {}
    module_scope = _Scope()
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef):
            scope = _Scope()
            statement.visit(scope)
            scopes[statement.name.value] = (scope, statement)
        elif isinstance(statement, cst.ClassDef):
            for item in statement.body.body:
                if isinstance(item, cst.FunctionDef):
                    scope = _Scope()
                    item.visit(scope)
                    scopes[f"{statement.name.value}.{item.name.value}"] = (scope, item)
        else:
            statement.visit(module_scope)
    scopes["<module>"] = (module_scope, None)

    facts.clipping_configured = any(scope.gradient_clip_val for scope, _ in scopes.values())
    for name, (scope, node) in scopes.items():
        if scope.backward and node is not None:
            facts.backward_functions.add(node)
        if scope.backward and scope.steps:
            clips = scope.clips or any(scopes[c][0].clips for c in scope.calls if c in scopes)
            facts.loops.append(TrainingLoop(name.rsplit(".", 1)[-1], scope.backward[0], clips, scope.calls, scope.names))
    return facts


def _first_recurrent(text: str, imports: dict[str, str]) -> str | None:
    """The first `nn.RNN(`/`nn.LSTM(`/... constructed in the source, through any import alias.
    A regex over the text, not a tree visit: this runs on every file."""
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


def _length_constants(module: cst.Module) -> list[LengthConstant]:
    """Module-level and class-level integer constants whose names say sequence length."""
    constants: list[LengthConstant] = []
    bodies = [module.body] + [s.body.body for s in module.body if isinstance(s, cst.ClassDef)]
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
                if isinstance(target, cst.Name) and _LENGTH_NAME.search(target.value) and isinstance(value, cst.Integer):
                    constants.append(LengthConstant(target.value, int(value.evaluated_value), small))
    return constants
