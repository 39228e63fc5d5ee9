"""Attribute access and assignment: `self.fc`, `layer.weight`, `cfg.depth`, and module paths."""

from __future__ import annotations

from typing import Any

from vglint.ir import Cut
from vglint.layers import MODEL_OUTPUT_FIELDS
from vglint.source.names import canonical, decorated
from vglint.source.values import (
    UNKNOWN,
    ArgParser,
    Bound,
    Budget,
    ClassInfo,
    ConstArray,
    FuncRef,
    Instance,
    ModuleObj,
    NamedValues,
    Param,
    Partial,
    PlainObject,
    QualRef,
    SuperRef,
    Tensor,
)

#: String methods the interpreter computes on known strings (`arch.startswith("efficientnet_b")`).
#: The methods of `str` computed on known strings (`'k3'.isdigit()`, `name.split('.', 1)`): all
#: that make a plain value from plain values.
STR_METHODS = frozenset(name for name in dir(str) if not name.startswith("_")) - {"encode", "format_map", "maketrans"}


class Attributes:
    """A part of `Interpreter`: reads and writes attributes of the values it models."""

    def eval_Attribute(self, node, env, cls):
        base = self.eval(node.value, env, cls)
        if isinstance(base, Tensor) and node.attr.value == "data":
            return self.cut(base, Cut.DATA, node)
        return self.attribute(base, node.attr.value)

    def attribute(self, base: Any, name: str) -> Any:
        if name == "__name__":  # `norm_layer.__name__.lower()`
            if isinstance(base, (ClassInfo, FuncRef)):
                return base.name if isinstance(base, ClassInfo) else base.node.name.value
            short = base.name.rsplit(".", 1)[-1] if isinstance(base, QualRef) else ""
            if short[:1].isupper() and not short.isupper():  # an imported class: `nn.BatchNorm2d`
                return short
        if isinstance(base, QualRef):
            qualified = f"{base.name}.{name}"
            ref = self.library_ref(qualified) if base.name not in self.self_names else None  # (d2l/torch.py is `torch`)
            if ref is not None:
                return ref
            local = self.local_value(qualified)
            return local if local is not None else QualRef(canonical(qualified))
        if isinstance(base, Instance):
            if name in base.attrs:
                return base.attrs[name]
            if name == "training":
                return True  # vglint judges the gradient of the training forward pass
            if name in ("weight", "bias") and base.layer is not None:
                return Param(base.layer, name)
            member = self.class_member(base, base.cls, name)
            return Bound(base, name) if member is UNKNOWN else member
        if isinstance(base, ArgParser):
            return Bound(base, name)
        if isinstance(base, PlainObject):
            if name in base.attrs:
                value = base.attrs[name]
                if base.assumed is not None and isinstance(value, (int, float, str, bool)):
                    self.assumptions.setdefault(f"{name}={value!r} ({base.assumed} default)", None)
                return value
            return UNKNOWN if base.cls is None else self.class_member(base, base.cls, name)
        if isinstance(base, ModuleObj):
            if name in ("weight", "bias"):
                return Param(base, name)
            if name in base.named:
                return base.named[name]
            mapped = {"in_features": (0, "in_features"), "out_features": (1, "out_features"),
                      "in_channels": (0, "in_channels"), "out_channels": (1, "out_channels"),
                      "num_features": (0, "num_features"), "hidden_size": (1, "hidden_size")}  # fmt: skip
            if name in mapped:
                return base.arg(*mapped[name])
            return Bound(base, name)
        if isinstance(base, Param):
            if name == "data":
                return base
            return Bound(base, name)
        if isinstance(base, ClassInfo):
            return self.class_attribute(base, name)
        if isinstance(base, SuperRef):
            if name == "__init__":
                return Bound(base, "__init__")
            mro = self.mro(base.cls)[1:]
            for info in mro:
                if name in info.methods:
                    return FuncRef(info.methods[name], base.instance, info)
            return Bound(base, name)
        if isinstance(base, Tensor):
            if name in ("T", "mT", "real", "data") or name in MODEL_OUTPUT_FIELDS:
                return base
            if name in ("shape", "device", "dtype", "ndim"):
                return UNKNOWN
            return Bound(base, name)
        if isinstance(base, NamedValues) and name in base.fields:
            return base.field(name)
        if isinstance(base, Partial) and name in ("func", "args", "keywords"):
            # timm's `get_norm_act_layer` takes a partial apart to bind its arguments again
            return {"func": base.func, "args": tuple(base.args), "keywords": dict(base.kwargs)}[name]
        if isinstance(base, (list, dict, ConstArray)) or (isinstance(base, str) and name in STR_METHODS):
            return Bound(base, name)
        if isinstance(base, (int, float)) and name in ("item", "tolist"):
            return Bound(base, name)
        return UNKNOWN

    def class_member(self, obj: Any, info: ClassInfo, name: str) -> Any:
        """A method (bound to `obj`), property or class attribute found through the class's bases."""
        found = self.find_method(info, name)
        if found is not None:
            owner, method = found
            if decorated(method, "property"):
                return self.call_function(FuncRef(method, obj, owner), [], {})
            return FuncRef(method, obj, owner)
        for cls in self.mro(info):
            if name in cls.assigns:
                with self.entered(cls.ctx):
                    return self.eval(cls.assigns[name], {}, cls)
        return UNKNOWN

    def class_attribute(self, info: ClassInfo, name: str) -> Any:
        """`Cls.name` through the class's bases: a class attribute, a classmethod bound to the class
        (torchvision's `ResNet50_Weights.verify(weights)`, defined on the base `WeightsEnum`), or a
        function taking all its arguments (a staticmethod, or a method called as `Cls.method(obj)`)."""
        for cls in self.mro(info):
            if name in cls.assigns:
                with self.entered(cls.ctx):
                    return self.eval(cls.assigns[name], {}, cls)
            if name in cls.methods:
                method = cls.methods[name]
                bound = info if decorated(method, "classmethod") else None
                return FuncRef(method, bound, cls)
        return UNKNOWN

    def set_attr(self, owner: Any, name: str, value: Any) -> None:
        if isinstance(owner, PlainObject):
            owner.attrs[name] = value
        elif isinstance(owner, Instance):
            owner.attrs[name] = value
            self.name_tree(value, name if owner.name is None else f"{owner.name}.{name}")
            if isinstance(value, (ModuleObj, Instance)) and self.container_base(owner.cls) == "Sequential":
                owner.children.append(value)  # nn.Sequential runs its modules in registration order
        elif isinstance(owner, Param) and name == "requires_grad" and value is False:
            self.freeze(owner.owner)
        elif isinstance(owner, ModuleObj) and name in ("weight", "bias"):
            pass

    def name_tree(self, value: Any, name: str) -> None:
        """Give a module and its children their attribute paths (`encoder`, `encoder.0`, `backbone.conv`)."""
        if isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                self.name_tree(item, f"{name}.{index}")
            return
        if not isinstance(value, (ModuleObj, Instance)) or self.budget.depth > Budget.MAX_DEPTH:
            return
        value.name = name
        if isinstance(value, ModuleObj):
            keys = {id(v): k for k, v in value.named.items()}
            for index, child in enumerate(value.children):
                self.name_tree(child, f"{name}.{keys.get(id(child), index)}")
        else:
            for key, child in value.attrs.items():
                self.name_tree(child, f"{name}.{key}")
