"""Record one forward pass of a built model as a list of nodes: which module or function made each
tensor from which tensors (imports torch: only the worker and API callers load this).

Module forward hooks (global ones, so nothing is attached to the user's model) mark the leaf
modules: a `torch.nn` layer of the knowledge table, a normalisation class by its name, any
other torch module without children. Inside a leaf nothing is recorded; the leaf is one node.
Everywhere else a `TorchFunctionMode` sees every torch function and tensor method the Python
code runs, whatever its control flow (where `torch.fx` symbolic tracing fails on data-dependent
code), and records those that matter to the gradient: activations, norms, functional weight ops,
merges of two tracked tensors, gradient cuts. Reshapes and the like pass the producer on.

A tensor is *tracked* when it carries the signal: a floating model input, or a floating output
of a recorded op that had a tracked input or a parameterised leaf (an embedding of token ids).
Masks, constants, parameters and buffers are not, so adding an attention mask is not a merge.

Nodes are plain dicts (the worker sends them as JSON); `vglint.graph.lower` turns them into the
IR's paths, torch-free.
"""

from __future__ import annotations

import linecache
import math
import os
import re
import sys
import weakref
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from vglint.layers import CONTAINERS, NN_CLASSES, TRANSFORMER_LAYERS, Kind, functional_op, is_norm_name

#: fan_in * Var(W) of torch's default init; a measured gain this close to it is the default.
_DEFAULT_GAIN = 1 / 3
_DEFAULT_TOLERANCE = 0.05

_ADDS = frozenset(
    {"add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "__sub__", "__rsub__", "__isub__", "rsub"}
)
_CONCATS = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack"})
_MULS = frozenset({"mul", "mul_", "__mul__", "__rmul__", "__imul__", "multiply"})
_MATMULS = frozenset({"matmul", "mm", "bmm", "einsum", "__matmul__", "__rmatmul__", "addmm", "baddbmm", "tensordot"})
_CUTS = {
    "detach": "detach()",
    "detach_": "detach_()",
    "data": ".data",
    "tensor": "torch.tensor()",
    "as_tensor": "torch.as_tensor()",
    "item": "item()",
    "tolist": "tolist()",
    "numpy": "numpy()",
}
#: Cuts whose result is no tensor: the Python number or list is followed into the next torch call.
_LEAVING_TORCH = frozenset({"item", "tolist", "numpy"})
#: How a no-grad region is written, by the words of its line.
_REGIONS = (("inference_mode", "torch.inference_mode()"), ("set_grad_enabled", "torch.set_grad_enabled(False)"))
#: Calls that only read metadata; never recorded, never tracked.
_METADATA = frozenset({"shape", "size", "dim", "ndim", "ndimension", "numel", "dtype", "device", "is_floating_point",
                       "requires_grad", "grad_fn", "is_leaf", "is_cuda", "stride", "storage_offset", "_version",
                       "data_ptr", "element_size", "nelement", "is_contiguous", "layout", "names", "grad",
                       "is_complex", "get_device", "__len__", "__bool__", "__index__", "__format__", "__repr__"})  # fmt: skip
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (torch,)
    if getattr(module, "__file__", None)
) + (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,)


def caller_site() -> tuple[str, int, int, int, int] | None:
    """The file, line and column of the innermost frame outside torch and vglint: the user's code."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS) and not filename.startswith("<"):
            return frame_site(frame)
        frame = frame.f_back
    return None


def frame_site(frame: Any) -> tuple[str, int, int, int, int]:
    """Where a frame is: its file, and the span (1-based lines and columns, end exclusive) of the
    expression it runs: the call `nn.Sigmoid()` in `[nn.Linear(8, 8), nn.Sigmoid()]`, as the
    static front-end spans it. Falls back to the whole line."""
    line = frame.f_lineno
    positions = list(frame.f_code.co_positions())
    index = frame.f_lasti // 2
    if 0 <= index < len(positions):
        start_line, end_line, start_column, end_column = positions[index]
        if None not in (start_line, end_line, start_column, end_column):
            return os.path.abspath(frame.f_code.co_filename), start_line, start_column + 1, end_line, end_column + 1
    return os.path.abspath(frame.f_code.co_filename), line, 1, line, 1


@contextmanager
def construction_sites():
    """While models are built: remember, for every module, the line of user code that made it
    (the `nn.Linear(...)` call, not the `__init__` it runs), for findings to point at."""
    original = nn.Module.__init__

    def init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        frame = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            inside = frame.f_locals.get("self") is self or filename.startswith(_LIBRARY_DIRS[:1])
            if not inside and not filename.startswith("<"):
                object.__setattr__(self, "_vglint_site", frame_site(frame))
                break
            frame = frame.f_back

    nn.Module.__init__ = init
    try:
        yield
    finally:
        nn.Module.__init__ = original


def table_class(cls: type) -> type | None:
    """The `torch.nn` class of the knowledge table that `cls` is or subclasses: a research code's
    `class ScaledLinear(nn.Linear)` with its own init is the nn.Linear it is."""
    for base in cls.__mro__:
        if base.__module__.startswith("torch.nn") and base.__name__ in NN_CLASSES:
            return base
    return None


def is_leaf(module: nn.Module) -> bool:
    """A module recorded as one node: a table layer, a normalisation by name, a childless torch module."""
    cls = type(module)
    if cls.__name__ in CONTAINERS:
        return False
    if table_class(cls) is not None:
        return True
    if is_norm_name(cls.__name__):  # a hand-written norm; one that holds weight layers is a block (PreNorm)
        return not any(not is_norm_name(type(c).__name__) and next(c.parameters(), None) is not None
                       for c in module.children())  # fmt: skip
    return cls.__module__.startswith("torch.") and next(module.children(), None) is None


class Recorder(TorchFunctionMode):
    """Records the nodes of one forward pass; see the module docstring."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.names = {id(module): name for name, module in model.named_modules() if name}
        self.nodes: list[dict[str, Any]] = []
        #: id(tensor) -> (node, made under no_grad, a weak reference whose death removes the entry,
        #: so that an id reused by a later tensor is not taken for the dead one's)
        self.producer: dict[int, tuple[int, bool, Any]] = {}
        self.leaves: list[nn.Module | None] = []  # entered modules; None: not a leaf
        self.inside_leaf = 0
        self.module_nodes: dict[int, dict[str, Any]] = {}
        self.carried: dict[int, tuple[int, Any]] = {}  # id(a number or list from `.item()`) -> (cut node, it)
        self.region: tuple[str, Any] | None = None  # the cut and site of the no-grad region last entered
        self.grad_was_on = True

    # --- the inputs and outputs of the pass --------------------------------------------------------

    def source(self, tensor: Any, index: int) -> None:
        """A model input: a root when it is floating (token ids are not: their embedding is)."""
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            node = self._add({"kind": "input", "index": index, "inputs": []})
            self._bind(tensor, node)

    def outputs(self, value: Any) -> list[int]:
        """The nodes of the tracked tensors `value` holds, a no-grad one behind a cut."""
        return [self._consumed(tensor) for tensor in _tensors(value) if id(tensor) in self.producer]

    # --- module calls -------------------------------------------------------------------------------

    def enter(self, module: nn.Module, args: Any) -> None:
        if self.inside_leaf:
            self.inside_leaf += 1
            return
        if is_leaf(module) and not self._norm_of_several(module, args):
            self.leaves.append(module)
            self.inside_leaf = 1
        else:
            self.leaves.append(None)

    def _norm_of_several(self, module: nn.Module, args: Any) -> bool:
        """A class named like a norm and fed two signals (d2l's `AddNorm()(x, y)` adds them before
        its LayerNorm) is followed inside, so that the residual add is seen."""
        if table_class(type(module)) is not None or not is_norm_name(type(module).__name__):
            return False
        return sum(id(tensor) in self.producer for tensor in _tensors(args)) > 1

    def leave(self, module: nn.Module, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        """A leaf's inputs are read here, where the hook also gets the keyword arguments
        (`self.attn(query=x, key=x, value=x)`); nothing inside the leaf was recorded, so each input
        still has the producer it had on entering."""
        if self.inside_leaf > 1:
            self.inside_leaf -= 1
            return
        leaf = self.leaves.pop() if self.leaves else None
        if leaf is None:
            return
        self.inside_leaf = 0
        inputs = self._inputs((args, kwargs))
        if not inputs and not _has_trainable(leaf):
            return  # a layer on a mask or a constant
        node = dict(self._module_node(leaf), inputs=inputs)
        self._bind_all(output, self._add(node))

    # --- torch functions ----------------------------------------------------------------------------

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        self.grad_was_on = torch.is_grad_enabled()
        out = func(*args, **kwargs)
        if self.inside_leaf:
            return out
        name = getattr(func, "__name__", "")
        if name in ("__get__", "__set__"):
            name = getattr(getattr(func, "__self__", None), "__name__", name)
        if name in _METADATA:
            return out
        if name == "_set_grad_enabled" and args and args[0] is False and self.grad_was_on:
            self.region = _region()  # entering a no-grad region, not nesting one
        self.grad_was_on = torch.is_grad_enabled()
        inputs = self._inputs((args, kwargs))
        node = self._function_node(name, args, inputs)
        if node is not None and name in _LEAVING_TORCH:
            self.carried[id(out)] = (self._add(node), out)
            return out
        if node is None:
            if len(inputs) == 1:  # a reshape, an index, a dropout: the producer goes on
                self._bind_all(out, inputs[0], keep_flag=True)
            return out
        self._bind_all(out, self._add(node))
        return out

    def _function_node(self, name: str, args: tuple, inputs: list[int]) -> dict[str, Any] | None:
        site = caller_site()
        if name in _CUTS and inputs:
            return {"kind": "cut", "cut": _CUTS[name], "inputs": inputs, "site": site}
        if len(inputs) >= 2 and name in _ADDS:
            return {"kind": "merge", "merge": "add", "inputs": inputs, "site": site}
        if len(inputs) >= 2 and name in _CONCATS:
            return {"kind": "merge", "merge": "concat", "inputs": inputs, "site": site}
        if len(inputs) >= 2 and name in _MULS:
            return {"kind": "merge", "merge": "mul", "inputs": inputs, "site": site}
        parameter = next((a for a in _tensors(args) if isinstance(a, nn.Parameter) and a.dim() >= 2), None)
        row = functional_op(name)
        if inputs and (name in _MATMULS or (row is not None and row.kind is Kind.WEIGHT)):
            if parameter is not None:
                fan_in, fan_out = _functional_fans(name, parameter)
                return {"kind": "weight", "op": row.op if row is not None else name, "inputs": inputs[:1],
                        "fan_in": fan_in, "fan_out": fan_out, "site": site}  # fmt: skip
            if len(inputs) >= 2:
                return {"kind": "merge", "merge": "other", "inputs": inputs, "site": site}
            return None
        if row is not None and inputs and row.kind in (Kind.ACTIVATION, Kind.NORM, Kind.OTHER):
            return {"kind": row.kind.value, "op": row.op, "inputs": inputs[:1], "site": site}
        if len(inputs) >= 2:
            return {"kind": "merge", "merge": "other", "inputs": inputs, "site": site}
        return None

    # --- bookkeeping --------------------------------------------------------------------------------

    def _add(self, node: dict[str, Any]) -> int:
        node["id"] = len(self.nodes)
        node["no_grad"] = not torch.is_grad_enabled()
        self.nodes.append(node)
        return node["id"]

    def _inputs(self, value: Any) -> list[int]:
        """The producers of the tracked tensors in `value` (and of numbers taken out of them), each
        once, in order."""
        found: list[int] = []
        for tensor in _tensors(value):
            if id(tensor) in self.producer:
                node = self._consumed(tensor)
                if node not in found:
                    found.append(node)
        if self.carried:
            for item in _flat(value):
                if id(item) in self.carried and self.carried[id(item)][1] is item:
                    found.append(self.carried[id(item)][0])
        return found

    def _consumed(self, tensor: Any) -> int:
        """The producer of `tensor` as the current op sees it: behind a cut when it was made under
        no_grad and is used where gradients are on (the end of a `with torch.no_grad():` block)."""
        node, made_without_grad, _ = self.producer[id(tensor)]
        if made_without_grad and torch.is_grad_enabled():
            cut_name, site = self.region or ("torch.no_grad()", self.nodes[node].get("site"))
            cut = self._add({"kind": "cut", "cut": cut_name, "inputs": [node], "site": site})
            self._bind(tensor, cut)
            return cut
        return node

    def _bind(self, tensor: Any, node: int, no_grad: bool | None = None) -> None:
        key = id(tensor)
        producer = self.producer

        def forget(reference: Any) -> None:
            if producer.get(key, (None, None, None))[2] is reference:
                del producer[key]

        no_grad = (not torch.is_grad_enabled()) if no_grad is None else no_grad
        producer[key] = (node, no_grad, weakref.ref(tensor, forget))

    def _bind_all(self, value: Any, node: int, keep_flag: bool = False) -> None:
        no_grad = self.nodes[node]["no_grad"] if keep_flag and torch.is_grad_enabled() else None
        for tensor in _tensors(value):
            if tensor.is_floating_point():
                self._bind(tensor, node, no_grad)

    def _module_node(self, module: nn.Module) -> dict[str, Any]:
        """What a leaf module is, once per module: one identity for a layer applied twice."""
        known = self.module_nodes.get(id(module))
        if known is None:
            known = describe_module(module, self.names.get(id(module)))
            self.module_nodes[id(module)] = known
        return known


def describe_module(module: nn.Module, name: str | None) -> dict[str, Any]:
    """A leaf module as the IR's Layer needs it: kind, op, fans, measured init, settings."""
    cls = type(module)
    base = table_class(cls)
    row = NN_CLASSES[base.__name__] if base is not None else None
    if row is not None:
        kind, op = row.kind, row.op
    else:
        kind, op = (Kind.NORM if is_norm_name(cls.__name__) else Kind.OTHER), cls.__name__
    described: dict[str, Any] = {"kind": kind.value, "op": op, "name": name or cls.__name__, "module": True,
                                 "site": getattr(module, "_vglint_site", None), "frozen": _frozen(module)}  # fmt: skip
    if row is not None:
        fan_in, fan_out = _module_fans(module)
        described.update(fan_in=fan_in, fan_out=fan_out, in_size=_input_size(module))
        if kind is Kind.WEIGHT:
            described["init_gain"] = _measured_gain(module, fan_in)
    if kind is Kind.RECURRENT:
        described["recurrent"] = {"num_layers": getattr(module, "num_layers", 1),
                                  "nonlinearity": getattr(module, "nonlinearity", "tanh"),
                                  "batch_first": bool(getattr(module, "batch_first", False))}  # fmt: skip
    if kind is Kind.BLOCK:
        described["transformer"] = _transformer(module)
    return described


def _module_fans(module: nn.Module) -> tuple[int | None, int | None]:
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, nn.modules.conv._ConvNd):
        size = math.prod(module.kernel_size)
        fan_in, fan_out = module.in_channels // module.groups * size, module.out_channels // module.groups * size
        return (fan_out, fan_in) if module.transposed else (fan_in, fan_out)
    return None, None


def _functional_fans(name: str, weight: torch.Tensor) -> tuple[int | None, int | None]:
    """fan_in and fan_out of a weight given to `F.linear`, `F.conv*` or a matmul."""
    if name.startswith("conv"):
        size = math.prod(weight.shape[2:])
        if "transpose" in name:
            return weight.shape[1] * size, weight.shape[0] * size
        return weight.shape[1] * size, weight.shape[0] * size
    if name == "linear":
        return weight.shape[1], weight.shape[0]
    return weight.shape[-2], weight.shape[-1]  # x @ W: W is (in, out)


def _input_size(module: nn.Module) -> int | None:
    for attribute in ("in_features", "in1_features", "in_channels", "num_embeddings", "input_size"):
        value = getattr(module, attribute, None)
        if isinstance(value, int):
            return value
    return None


def _measured_gain(module: nn.Module, fan_in: int | None) -> float | None:
    """fan_in * Var(W) of the weights as built: the init actually applied, whatever code applied
    it. None on the meta device (no values) and for weights that torch's default init could have
    drawn (inside its bound, with a variance within four standard errors of its own)."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.is_meta or not fan_in or weight.numel() < 2:
        return None
    with torch.no_grad():
        values = weight.detach().float()
        if not bool(values.any()):
            return 0.0
        gain = fan_in * float(values.var())
        inside_bound = float(values.abs().max()) <= 1 / math.sqrt(fan_in) * (1 + 1e-6)
    # the sample variance of n uniform draws has a relative standard error of sqrt(0.8 / n)
    tolerance = max(_DEFAULT_TOLERANCE, 4 * math.sqrt(0.8 / values.numel()))
    default = inside_bound and abs(gain - _DEFAULT_GAIN) <= tolerance * _DEFAULT_GAIN
    return None if default else gain


def _transformer(module: nn.Module) -> dict[str, Any]:
    """`num_layers` and `norm_first` of an nn.Transformer* block."""
    if type(module).__name__ in TRANSFORMER_LAYERS:
        return {"num_layers": 1, "norm_first": bool(getattr(module, "norm_first", False))}
    layers = getattr(module, "layers", None)
    first = layers[0] if layers is not None and len(layers) else None
    if first is None:  # nn.Transformer: its encoder's and decoder's stacks
        encoder, decoder = getattr(module, "encoder", None), getattr(module, "decoder", None)
        stacks = [getattr(part, "layers", []) for part in (encoder, decoder) if part is not None]
        firsts = [stack[0] for stack in stacks if len(stack)]
        return {"num_layers": max((len(stack) for stack in stacks), default=None),
                "norm_first": bool(getattr(firsts[0], "norm_first", False)) if firsts else None,
                "num_encoder_layers": len(stacks[0]) if stacks else None,
                "num_decoder_layers": len(stacks[1]) if len(stacks) > 1 else None}  # fmt: skip
    return {"num_layers": len(layers), "norm_first": bool(getattr(first, "norm_first", False))}


def _frozen(module: nn.Module) -> bool:
    params = list(module.parameters(recurse=True))
    return bool(params) and not any(param.requires_grad for param in params)


def _has_trainable(module: nn.Module) -> bool:
    return any(param.requires_grad for param in module.parameters())


def _region() -> tuple[str, Any]:
    """The cut a no-grad region makes (`torch.no_grad()`, or how else its line disables gradients)
    and its site: the call in the `with` statement, or in the decorator of the function it wraps,
    as the static front-end spans it."""
    site = caller_site()
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        wrapped = getattr(frame.f_locals.get("func"), "__code__", None)  # torch's decorate_context
        if wrapped is not None and not wrapped.co_filename.startswith(_LIBRARY_DIRS):
            site = (os.path.abspath(wrapped.co_filename), wrapped.co_firstlineno, 1, wrapped.co_firstlineno, 1)
            break
        frame = frame.f_back
    if site is None:
        return "torch.no_grad()", None
    text = linecache.getline(site[0], site[1])
    cut = next((cut for word, cut in _REGIONS if word in text), "torch.no_grad()")
    call = _REGION_CALL.search(text)
    if call is None:
        return cut, site
    return cut, (site[0], site[1], call.start() + 1, site[1], call.end() + 1)


_REGION_CALL = re.compile(r"[\w.]*(?:no_grad|inference_mode|set_grad_enabled)\s*\([^()]*\)")


def _flat(value: Any):
    """Every item of a value: lists, tuples, dicts and transformers' ModelOutput opened, depth first."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _flat(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _flat(item)
    elif hasattr(value, "to_tuple") and not isinstance(value, torch.Tensor):  # transformers' ModelOutput
        yield from _flat(value.to_tuple())
    else:
        yield value


def _tensors(value: Any):
    """The tensors in a value, depth first."""
    return (item for item in _flat(value) if isinstance(item, torch.Tensor))


def record(model: nn.Module, inputs: list[Any]) -> dict[str, Any]:
    """One forward pass of `model(*inputs)` in train mode, dropout as configured, recorded.

    Returns {"nodes": [...], "outputs": [node ids], "parameters": N}. The model's mode is restored.
    """
    recorder = Recorder(model)
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    pre = nn.modules.module.register_module_forward_pre_hook(recorder.enter)
    post = nn.modules.module.register_module_forward_hook(recorder.leave, with_kwargs=True)
    try:
        for index, tensor in enumerate(inputs):
            recorder.source(tensor, index)
        with recorder:
            output = model(*inputs)
        outputs = recorder.outputs(output)
    finally:
        pre.remove()
        post.remove()
        for module, training in modes:
            module.training = training
    declared, inside = [], ()
    if is_leaf(model):  # the model is one layer (`rnn = nn.RNN(...)`): it is all it declares
        declared, inside = [recorder._module_node(model)], ("",)
    for name, module in model.named_modules():
        if not name or name.startswith(inside):
            continue
        if is_leaf(module):
            declared.append(recorder._module_node(module))
            inside = tuple({*inside, name + "."})
    return {
        "nodes": recorder.nodes,
        "outputs": outputs,
        "declared": [entry["name"] for entry in declared],
        "modules": {entry["name"]: entry for entry in declared},
        "parameters": sum(param.numel() for param in model.parameters()),
    }
