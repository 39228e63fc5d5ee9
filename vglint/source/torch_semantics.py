"""What torch does, for the interpreter (its "torch plugin"): `torch.nn` layers and containers,
`torch` and `F` functions, `nn.init`, Module and Tensor methods, losses, no-grad regions and freezing."""

from __future__ import annotations

import math
from typing import Any

import libcst as cst

from vglint.analysis import LossUse
from vglint.ir import Cut, Gap, Kind, Layer, MergeKind
from vglint.layers import (
    CONTAINERS,
    FLOAT_FUNCTIONAL_OPS,
    LOSS_FUNCTIONS,
    NN_CLASSES,
    QUANTIZATION_STUBS,
    Loss,
    functional_op,
)
from vglint.source import consts
from vglint.source.loss_targets import shows_class_labels
from vglint.source.names import dotted_name
from vglint.source.values import LAST_OP_TAGS, UNKNOWN, ClassInfo, Instance, ModuleObj, Param, Tensor, flatten_values
from vglint.source.walk import walk

_TENSOR_CUTS = {"detach": Cut.DETACH, "detach_": Cut.DETACH_INPLACE, "item": Cut.ITEM, "tolist": Cut.TOLIST,
                "numpy": Cut.NUMPY}  # fmt: skip

#: The tag a loss is judged by, and the ops whose layer set it (`related` points there).
_TAGGED_BY = {"sigmoid": ("sigmoid", "hardsigmoid"), "softmax": ("softmax",), "log_of_softmax": ("softmax",)}


class TorchSemantics:
    """A part of `Interpreter`: the meaning of torch names and methods."""

    def call_torch(self, name: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        """A call of a `torch.` or `F.` name: an init function, a `torch.nn` class or a function."""
        short = name.rsplit(".", 1)[-1]
        if name in QUANTIZATION_STUBS:
            return self.make_module(short, args, kwargs, node)
        if name.startswith("torch.nn.init."):
            if args:
                self.apply_init(short.rstrip("_"), args[0], args[1:], kwargs)
            return args[0] if args else None
        if name.startswith("torch.nn.") and name.count(".") == 2 and short[:1].isupper():
            return self.make_module(short, args, kwargs, node)
        return self.torch_function(short, args, kwargs, node)

    def make_module(self, cls: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> ModuleObj:
        module = ModuleObj(cls, node, list(args), dict(kwargs), ctx=self.ctx)
        spec = NN_CLASSES.get(cls)
        if spec is not None and spec.frozen_by is not None and kwargs.get(spec.frozen_by) is True:
            module.frozen = True  # `nn.Embedding(n, d, _freeze=True)`: sinusoidal position tables
        if cls in CONTAINERS and any(a is UNKNOWN for a in flatten_values([args, kwargs])):
            self.gap(Gap.UNKNOWN_CONTAINER_ITEM, node)
        if cls in ("Sequential", "ModuleList", "ParameterList"):
            if len(args) == 1 and isinstance(args[0], dict):  # Sequential(OrderedDict(...))
                module.named = dict(args[0])
                module.children = list(args[0].values())
            elif cls in ("ModuleList", "ParameterList"):
                items = self.iterate(args[0]) if args else []
                module.children = [m for m in (items or [])]
            else:
                module.children = [a for a in args]
        elif cls in ("ModuleDict", "ParameterDict"):
            if args and isinstance(args[0], dict):
                module.named = dict(args[0])
                module.children = list(args[0].values())
        return module

    def torch_function(self, short: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            constant = consts.make(short, args, kwargs)  # `torch.linspace(0, drop_path_rate, depth)`
            if constant is not UNKNOWN:
                return constant
        if short in ("cat", "concat", "stack", "hstack", "vstack") and args:
            items = self.iterate(args[0])
            parts = [t for t in (items or []) if isinstance(t, Tensor)]
            return self.merge(MergeKind.CONCAT, parts, node) if parts else UNKNOWN
        if short == "add" and len(tensors) == 2:
            return self.merge(MergeKind.ADD, tensors, node)
        if short == "mul" and len(tensors) == 2:
            return self.tensor_binary(cst.Multiply(), tensors[0], tensors[1], node)
        op = functional_op(short)
        if op is not None and tensors:
            if op.kind is Kind.WEIGHT:
                if not _learned(args[1] if len(args) > 1 else kwargs.get("weight")):
                    return self.apply_op(tensors[0], Kind.OTHER, op.op, node)  # a fixed filter: no learned matrix
                # the code initialises the weight it passes, not PyTorch: its scale is not assumed
                return self.extend(tensors[0], Layer(Kind.WEIGHT, op.op, self.site(node), init_gain=1.0, init_name="own"))
            return self.apply_op(tensors[0], op.kind, op.op, node)
        if short in ("weight_norm", "spectral_norm") and args and isinstance(args[0], ModuleObj):
            args[0].weight_normalized = True  # `weight_norm(nn.Conv1d(...))`: HiFi-GAN's and DAC's normalisation
            return args[0]
        if short in ("tensor", "as_tensor") and tensors:
            return self.cut(tensors[0], Cut.TENSOR if short == "tensor" else Cut.AS_TENSOR, node)
        if short in ("randn", "rand", "zeros", "ones", "empty", "randint", "full") and not tensors:
            dims = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            if short in ("randint", "full") and len(args) >= 2:
                dims = args[-1] if isinstance(args[-1], (list, tuple)) else args[2:] if short == "randint" else args[0]
            shape = tuple(d if isinstance(d, int) else None for d in (dims if isinstance(dims, (list, tuple)) else []))
            return Tensor((), next(self._roots), shape=shape or None, made_by=node)
        if short in LOSS_FUNCTIONS and tensors:
            self.record_loss(LOSS_FUNCTIONS[short], f"F.{short}", tensors[0], node)
            return self.loss_value(args, kwargs, node)
        if short in ("log", "log_") and tensors and "softmax" in tensors[0].tags:
            return log_of_softmax(tensors[0])  # torch.log(F.softmax(x, dim=1))
        return self.passthrough(args, kwargs, node)

    def tensor_method(self, tensor: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        op = functional_op(name)
        if op is not None:
            return self.apply_op(tensor, op.kind, op.op, node)
        if name in ("log", "log_") and "softmax" in tensor.tags:
            return log_of_softmax(tensor)  # F.softmax(x, 1).log()
        if name in ("chunk", "split", "unbind"):
            count = args[0] if args and isinstance(args[0], int) and name == "chunk" else 2
            return [tensor] * max(1, min(count, 16))
        if name in _TENSOR_CUTS:
            return self.cut(tensor, _TENSOR_CUTS[name], node)
        if name in ("size", "dim", "numel"):
            return UNKNOWN
        if name in ("new_zeros", "new_ones", "new_full", "new_empty", "new_tensor"):
            return Tensor((), next(self._roots), made_by=node)  # a constant of x's dtype and device, not x
        others = [a for a in args if isinstance(a, Tensor)]
        if name in ("add", "add_") and others:
            return self.merge(MergeKind.ADD, [tensor, others[0]], node)
        if name in ("mul", "mul_") and others:
            return self.tensor_binary(cst.Multiply(), tensor, others[0], node)
        return tensor

    def module_method(self, obj: Any, name: str, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        if isinstance(obj, ModuleObj) and obj.cls == "FloatFunctional" and name in FLOAT_FUNCTIONAL_OPS:
            function = FLOAT_FUNCTIONAL_OPS[name]
            if function is None:  # `add_scalar(x, 1.0)`: the tensor goes on
                return args[0] if args else UNKNOWN
            result = self.torch_function(function, args, kwargs, node)
            return self.apply_op(result, Kind.ACTIVATION, "relu", node) if name == "add_relu" and isinstance(result, Tensor) else result
        if name in ("add_module", "register_module") and len(args) == 2:
            if args[1] is UNKNOWN:
                self.gap(Gap.UNKNOWN_CONTAINER_ITEM, node)
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
        if name == "named_children":
            return self.named_children_of(obj)
        if name == "named_modules":  # the module itself first, as "", then every submodule by its dotted path
            return [("", obj), *self.named_submodules(obj, "")]
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

    def named_children_of(self, obj: Any) -> list[tuple[str, Any]]:
        """`named_children()`: the submodules with the names torch gives them, attribute names and
        container keys or indices (torchvision's IntermediateLayerGetter keeps layers by name)."""
        named: list[tuple[str, Any]] = []
        if isinstance(obj, Instance):
            if self.container_base(obj.cls) != "Sequential":
                named = [(key, value) for key, value in obj.attrs.items() if isinstance(value, (ModuleObj, Instance))]
            named += [(str(index), child) for index, child in enumerate(obj.children)]
        elif isinstance(obj, ModuleObj):
            named = list(obj.named.items()) if obj.named else [(str(i), c) for i, c in enumerate(obj.children)]
        named = [(key, value) for key, value in named if isinstance(value, (ModuleObj, Instance))]
        return named or [("", child) for child in self.children_of(obj)]

    def named_submodules(self, obj: Any, prefix: str, seen: set[int] | None = None) -> list[tuple[str, Any]]:
        """Every submodule once, by its dotted path (`layer1.0.conv1`)."""
        seen = {id(obj)} if seen is None else seen
        found: list[tuple[str, Any]] = []
        for key, child in self.named_children_of(obj):
            if id(child) in seen:
                continue
            seen.add(id(child))
            path = f"{prefix}.{key}" if prefix and key else key or prefix
            found.append((path, child))
            found += self.named_submodules(child, path, seen)
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

    def loss_value(self, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Tensor:
        """A loss continues its inputs' paths: a loss computed in `forward` and returned (VQ-VAE's
        codebook loss) is a route for the gradient like any output."""
        value = self.passthrough(args, kwargs, node)
        return Tensor(value.path, value.root, (value.tags - LAST_OP_TAGS - {"log_of_softmax"}) | {"loss"})

    def record_loss(self, loss: Loss, called_as: str, value: Tensor, node: cst.CSTNode) -> None:
        """A loss called on probabilities, in training code that is not under no_grad; `related` is
        the sigmoid or softmax layer that made them (the last step of the path), when in this file."""
        if self.no_grad or not (self.backward_scope or any(f in self.backward_functions for f in self.call_stack)):
            return
        tag = loss.saturates_after
        if tag is None or tag not in value.tags:
            return
        last = value.path[-1] if value.path else None
        applied = last if isinstance(last, Layer) and last.op in _TAGGED_BY[tag] else None
        if tag == "log_of_softmax" and (applied is None or "softmax" in value.tags):
            return  # a stale tag: layers came after the log of the softmax (the tag outlives them)
        target = None
        if loss.module == "MSELoss" and shows_class_labels(node, self.call_stack[-1] if self.call_stack else None, self.qualified):
            target = "class"
        related = applied.site if applied is not None and applied.site.local else None
        self.facts.loss_uses.append(LossUse(tag, called_as, self.site(node), related, target, self.assumed_model))

    def grad_context(self, context: cst.Call) -> Cut:
        """Which no-grad context a `with` item or decorator is."""
        name = self.qualified(context.func) or "torch.no_grad"
        if name.endswith("set_grad_enabled"):
            return Cut.GRAD_DISABLED
        return Cut.INFERENCE_MODE if name.endswith("inference_mode") else Cut.NO_GRAD

    def disables_grad(self, expr: cst.BaseExpression, env, cls) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        if cls is not None and self.computes_own_gradients(cls):
            return False  # a reversible layer: what runs under no_grad here gets its gradient in the backward pass
        name = self.qualified(expr.func)
        if name in ("torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad"):
            return True
        if name in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and expr.args:
            return self.eval(expr.args[0].value, env, cls) is False
        return False

    def computes_own_gradients(self, cls: ClassInfo) -> bool:
        """The class runs its layers again under `torch.enable_grad()` and calls `.backward()` itself
        (a reversible layer: Reformer's, RevNet's `backward_pass`, called from a custom autograd
        Function), so its forward's no-grad region is a memory saving, not a cut."""
        found = self.own_gradients.get(id(cls))
        if found is None:
            methods = [m for c in self.mro(cls) if c.may_mention("enable_grad")  # transformers' mixins: not parsed
                       for name, m in c.methods.items() if name != "forward"]  # fmt: skip
            found = self.own_gradients[id(cls)] = any(_backward_under_enable_grad(m) for m in methods)
        return found

    def cut_all(self, value: Any, cut: Cut, node: cst.CSTNode) -> Any:
        """`value` with a gradient cut appended to each tensor in it."""
        if isinstance(value, Tensor):
            return self.cut(value, cut, node)
        if isinstance(value, (list, tuple)):
            return type(value)(self.cut_all(v, cut, node) for v in value)
        return value

    def freeze(self, owner: Any) -> None:
        """`requires_grad_(False)`: kept by construction site too, since training code freezes its
        own instance of a model (`model.encoder.requires_grad_(False)` in `main()`)."""
        if isinstance(owner, (ModuleObj, Instance)):
            owner.frozen = True
            if isinstance(owner, ModuleObj):
                self.frozen_sites.add(owner.node)


def log_of_softmax(tensor: Tensor) -> Tensor:
    """`torch.log` of softmax probabilities: the path stays (its last step is the softmax), the tag
    says that NLLLoss now gets log-probabilities that underflow (VG304)."""
    return Tensor(tensor.path, tensor.root, (tensor.tags - {"softmax"}) | {"log_of_softmax"}, tensor.shape, tensor.made_by)


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


def _learned(weight: Any) -> bool:
    """A weight a functional layer is given that the model learns: an `nn.Parameter` or a layer's
    own `.weight`, not a buffer or a tensor the code computes."""
    return isinstance(weight, Param) or (isinstance(weight, ModuleObj) and weight.cls == "Parameter")


def _backward_under_enable_grad(method: cst.FunctionDef) -> bool:
    """`with torch.enable_grad(): ... x.backward(...)` somewhere in the method."""
    return any(isinstance(node, cst.With) and _enables_grad(node) and any(_calls_backward(sub) for sub in walk(node))
               for node in walk(method.body))  # fmt: skip


def _enables_grad(node: cst.With) -> bool:
    calls = [item.item for item in node.items if isinstance(item.item, cst.Call)]
    return any((dotted_name(call.func) or "").endswith("enable_grad") for call in calls)


def _calls_backward(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "backward"
