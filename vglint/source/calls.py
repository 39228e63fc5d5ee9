"""Calls: functions and methods of the file, and classes; Python's built-ins and the standard
library are in `vglint.source.stdlib`, torch names go to the torch semantics."""

from __future__ import annotations

import math
import re
from typing import Any

import libcst as cst

from vglint.ir import Gap, MergeKind, count_weights
from vglint.layers import EAGER_FALSE, RESHAPING_MODULES, is_library_model
from vglint.source import consts
from vglint.source.names import class_body, decorated, dotted_name
from vglint.source.values import (
    UNKNOWN,
    ArgParser,
    Bound,
    Break,
    Budget,
    ClassInfo,
    ConstArray,
    Continue,
    FuncRef,
    FunctionReturn,
    Instance,
    LambdaRef,
    ModuleObj,
    NamedTupleType,
    NamedValues,
    Param,
    Partial,
    PlainObject,
    QualRef,
    SuperRef,
    Tensor,
    clone,
    flatten_values,
    key_like,
    known,
)
from vglint.source.walk import walk


class Calls:
    """A part of `Interpreter`: calls what the code calls."""

    def eval_Call(self, node: cst.Call, env, cls):
        if isinstance(node.func, cst.Name) and node.func.value == "super" and "super" not in env:
            return SuperRef(env["__self__"], cls) if cls is not None and "__self__" in env else UNKNOWN
        func = self.eval(node.func, env, cls)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for arg in node.args:
            value = self.eval(arg.value, env, cls)
            if arg.star == "*":
                items = self.iterate(value)
                if items is None:  # `nn.Sequential(*layers)` with layers unknown: its items are unknown, not none
                    return UNKNOWN if not isinstance(func, QualRef) else self.call_qualified(func.name, [UNKNOWN], {}, node)
                args.extend(items)
            elif arg.star == "**":
                if isinstance(value, dict):
                    kwargs.update({k: v for k, v in value.items() if isinstance(k, str)})
            elif arg.keyword is not None:
                kwargs[arg.keyword.value] = value
            else:
                args.append(value)
        return self.call(func, args, kwargs, node)

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        if isinstance(func, QualRef):
            return self.call_qualified(func.name, args, kwargs, node)
        if isinstance(func, ClassInfo):
            return self.instantiate(func, args, kwargs, node)
        if isinstance(func, FuncRef):
            return self.call_function(func, args, kwargs)
        if isinstance(func, (ModuleObj, Instance)):
            return self.apply(func, args, kwargs, node)
        if isinstance(func, Bound):
            return self.call_method(func.obj, func.name, args, kwargs, node)
        if isinstance(func, Partial):
            return self.call(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node)
        if isinstance(func, LambdaRef):
            return self.call_lambda(func, args, kwargs)
        if isinstance(func, Param):
            return UNKNOWN
        if isinstance(func, NamedTupleType):  # `GoogLeNetOutputs(x, aux2, aux1)`
            values = NamedValues([*args, *(kwargs.get(f, UNKNOWN) for f in func.fields[len(args):])])
            values.fields = func.fields
            return values
        if isinstance(func, PlainObject) and func.cls is not None:
            method = self.class_member(func, func.cls, "__call__")
            if isinstance(method, FuncRef):
                return self.call_function(method, args, kwargs)
        if func is UNKNOWN and any(isinstance(a, Tensor) for a in [*args, *kwargs.values()]):
            self.gap(Gap.UNKNOWN_CALL_ON_TENSOR, node)  # an unresolved callable applied to a tensor may be any layer
        return self.passthrough(args, kwargs, node)

    def passthrough(self, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode | None = None) -> Any:
        """An unknown call on tensors returns a tensor that continues its inputs' paths: the deepest
        one, merged with the others of the same input (`torch.gather(probs, 2, index=idx)` still
        passes the gradient to `probs` when `idx` was detached)."""
        tensors = list({id(a): a for a in [*args, *kwargs.values()] if isinstance(a, Tensor)}.values())
        if not tensors:
            return UNKNOWN
        main = max(tensors, key=lambda t: (t.root == 0, count_weights(t.path), len(t.path)))
        same = [t for t in tensors if t.root == main.root and t.path != main.path]
        if not same or node is None:
            return main
        return self.merge(MergeKind.OTHER, [main, *same], node)

    def call_function(self, func: FuncRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        self.budget.enter_call()
        self.call_stack.append(func.node)
        ctx = func.ctx or (func.owner.ctx if func.owner is not None else None)
        try:
            with self.entered(ctx):
                context = next((d.decorator for d in func.node.decorators
                                if self.disables_grad(d.decorator, {}, None)), None)  # fmt: skip
                if context is None:
                    return self._run_function(func, args, kwargs)
                # `@torch.no_grad()` on a method: what it returns carries no gradient
                outer, self.no_grad = self.no_grad, True
                try:
                    result = self._run_function(func, args, kwargs)
                finally:
                    self.no_grad = outer
                return self.cut_all(result, self.grad_context(context), context)
        finally:
            self.budget.exit_call()
            self.call_stack.pop()

    def _run_function(self, func: FuncRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        env = self.bind(func.node, args, kwargs, func.bound, func.closure)
        mark = len(self.reasons)
        result = None
        # timm's `for n, m in named_modules(model):` a generator runs at once, to the list of what it
        # yields (unknown when it yields from something vglint cannot list). A function is known to
        # be one when a `yield` of it first runs (`eval_Yield` raises `IsGenerator`): it runs again
        # as a generator, from the start, having left no gaps.
        generator = id(func.node) in self.generators
        self.yielded.append([] if generator else None)
        try:
            self.exec_block(func.node.body, env, func.owner)
        except FunctionReturn as done:
            result = done.value
        except IsGenerator:
            self.generators.add(id(func.node))
            del self.reasons[mark:]
            self.yielded.pop()
            return self._run_function(func, args, kwargs)
        items = self.yielded.pop()
        if generator:
            result = UNKNOWN if UNKNOWN_ITEMS in items else items
        if len(self.reasons) > mark and self._only_a_value(func, args, kwargs, result, mark):
            # timm's `to_2tuple(img_size)` with `img_size` unknown: the branch it could not decide
            # changes only the value it returns, which is unknown, and a gap where it is used for a layer
            del self.reasons[mark:]
            return UNKNOWN
        return result

    def value_helpers_of(self, func: FuncRef) -> dict[int, bool]:
        """The `value_helper` answers of the module `func` is defined in."""
        ctx = func.ctx or (func.owner.ctx if func.owner is not None else None) or self.ctx
        return ctx.value_helpers

    def _only_a_value(self, func: FuncRef, args: list[Any], kwargs: dict[str, Any], result: Any, mark: int) -> bool:
        """Whether the gaps a call left since `mark` are all branches on unknown values inside a
        function that can do nothing but compute a plain value (see `value_helper`), called on and
        returning plain data: which way a branch went changes only the number it returns."""
        if any(reason.gap is not Gap.UNKNOWN_BRANCH for reason in self.reasons[mark:]):
            return False
        if not value_helper(func.node, self.value_helpers_of(func)):
            return False
        values = flatten_values([list(args), list(kwargs.values()), result])
        # plain data only: a class or function chosen by the branch (`return nn.Sigmoid`) may make a layer
        return not any(isinstance(v, (Tensor, ModuleObj, Instance, ClassInfo, QualRef, FuncRef, Partial, LambdaRef))
                       for v in values)  # fmt: skip

    def call_lambda(self, func: LambdaRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """`map(lambda t: rearrange(t, ...), qkv)`: the body evaluated with the parameters bound."""
        self.budget.enter_call()
        try:
            env = dict(func.env)
            values = list(args)
            for param in func.node.params.params:
                name = param.name.value
                if values:
                    env[name] = values.pop(0)
                elif name in kwargs:
                    env[name] = kwargs[name]
                else:
                    env[name] = self.eval(param.default, func.env, func.cls) if param.default is not None else UNKNOWN
            return self.eval(func.node.body, env, func.cls)
        finally:
            self.budget.exit_call()

    def bind(self, node: cst.FunctionDef, args: list[Any], kwargs: dict[str, Any], bound: Any,
             closure: dict[str, Any] | None = None) -> dict[str, Any]:
        params = node.params
        positional = [*params.posonly_params, *params.params]
        env: dict[str, Any] = dict(closure) if closure else {}
        values = list(args)
        if bound is not None and positional and not decorated(node, "staticmethod"):
            env[positional[0].name.value] = bound
            env["__self__"] = bound
            positional = positional[1:]
        for param in positional:
            name = param.name.value
            if values:
                env[name] = values.pop(0)
            elif name in kwargs:
                env[name] = kwargs.pop(name)
            elif name in self.option_values:  # the option value this analysis runs under
                env[name] = self.option_values[name]
            elif param.default is not None:
                env[name] = self.eval(param.default, {}, None)
            else:
                env[name] = UNKNOWN
            if env[name] is UNKNOWN and name in self.option_values:
                env[name] = self.option_values[name]
        if isinstance(params.star_arg, cst.Param):
            env[params.star_arg.name.value] = tuple(values)
        for param in params.kwonly_params:
            name = param.name.value
            if name in kwargs:
                env[name] = kwargs.pop(name)
            elif name in self.option_values:
                env[name] = self.option_values[name]
            else:
                env[name] = self.eval(param.default, {}, None) if param.default is not None else UNKNOWN
            if env[name] is UNKNOWN and name in self.option_values:
                env[name] = self.option_values[name]
        if params.star_kwarg is not None:
            env[params.star_kwarg.name.value] = dict(kwargs)
        return env

    def instantiate(self, info: ClassInfo, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode | None) -> Any:
        if not self.is_module_class(info):
            with self.entered(info.ctx):
                return self.plain_object(info, args, kwargs)
        # the first construction of one of the checked file's classes with plain arguments, and
        # the module whose code made it (another module's, for timm's `build_model_with_cfg`)
        if info.ctx.local and isinstance(node, cst.Call) and id(info) not in self.constructions:
            if all(_plain(v) for v in flatten_values([args, kwargs])):
                self.constructions[id(info)] = (list(args), dict(kwargs), node, self.ctx)
        outer, self.training_code = self.training_code, False
        try:
            with self.entered(info.ctx):
                return self._instantiate(info, args, kwargs, node)
        finally:
            self.training_code = outer

    def plain_object(self, info: ClassInfo, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """An object of a plain class: its `__init__` runs (a config's `self.depth = depth`), or for a
        dataclass or NamedTuple its fields are bound from the arguments and the defaults."""
        obj = PlainObject(info)
        fields = self.dataclass_fields(info)
        if fields is not None:
            values = list(args)
            for name, default in fields:
                if values:
                    obj.attrs[name] = values.pop(0)
                elif name in kwargs:
                    obj.attrs[name] = kwargs[name]
                else:
                    obj.attrs[name] = self.field_default(default, info)
            found = self.find_method(info, "__post_init__")
        else:
            found = self.find_method(info, "__init__")
        if found is not None:
            owner, init = found
            try:
                self.call_function(FuncRef(init, obj, owner), args if fields is None else [], kwargs if fields is None else {})
            except (Break, Continue):
                pass
        return obj

    def dataclass_fields(self, info: ClassInfo) -> list[tuple[str, cst.BaseExpression | None]] | None:
        """The fields of a `@dataclass` or `NamedTuple` class, bases first, with their default
        expressions (None for a field without one); None for any other class. A subclass of a class
        marked `@dataclass_transform` (PEP 681: transformers' `PreTrainedConfig`) is a dataclass too.
        Worked out once per class: transformers' model outputs are built at the end of every forward."""
        known = self._dataclass_fields.get(id(info))
        if known is None:
            known = self._dataclass_fields[id(info)] = (info, self._find_dataclass_fields(info))
        return known[1]

    def _find_dataclass_fields(self, info: ClassInfo) -> list[tuple[str, cst.BaseExpression | None]] | None:
        is_dataclass = info.decorated("dataclass") or any(base.decorated("dataclass_transform") for base in self.mro(info)[1:])
        if not is_dataclass and not {"typing.NamedTuple", "NamedTuple"} & self.base_names(info):
            return None
        fields: dict[str, cst.BaseExpression | None] = {}
        for base in reversed(self.mro(info)[1:]):
            fields.update(self.dataclass_fields(base) or [])
        for item in class_body(info.node):
            if isinstance(item, cst.SimpleStatementLine):
                for small in item.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        if "ClassVar" not in (dotted_name(small.annotation.annotation) or ""):
                            fields[small.target.value] = small.value
        return list(fields.items())

    def field_default(self, default: cst.BaseExpression | None, info: ClassInfo) -> Any:
        """A field's default: the expression, or `field(default=...)` / `field(default_factory=...)`."""
        if default is None:
            return UNKNOWN
        if isinstance(default, cst.Call) and (dotted_name(default.func) or "").rsplit(".", 1)[-1] == "field":
            for arg in default.args:
                if arg.keyword is not None and arg.keyword.value == "default":
                    return self.eval(arg.value, {}, info)
                if arg.keyword is not None and arg.keyword.value == "default_factory":
                    return self.call(self.eval(arg.value, {}, info), [], {}, default)
            return UNKNOWN
        return self.eval(default, {}, info)

    def _instantiate(self, info: ClassInfo, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode | None) -> Any:
        instance = Instance(info, node)
        found = self.find_method(info, "__init__")
        if found is not None:
            owner, init = found
            try:
                self.call_function(FuncRef(init, instance, owner), args, kwargs)
            except (Break, Continue):
                pass
        elif self.container_base(info):
            self.container_init(instance, args)
        return instance

    def container_init(self, instance: Instance, args: list[Any]) -> None:
        """`super().__init__(*layers)` in a subclass of nn.Sequential / nn.ModuleList, or
        `super().__init__(layers)` with a dict in one of nn.ModuleDict, whose keys name its modules
        (torchvision's IntermediateLayerGetter)."""
        if len(args) == 1 and isinstance(args[0], dict) and self.container_base(instance.cls) == "ModuleDict":
            for key, value in args[0].items():
                if isinstance(key, str):
                    self.set_attr(instance, key, value)
        elif len(args) == 1 and isinstance(args[0], dict):
            instance.children.extend(args[0].values())
        elif len(args) == 1 and isinstance(args[0], (list, tuple)):
            instance.children.extend(args[0])
        else:
            instance.children.extend(args)

    def call_method(self, obj: Any, name: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        if isinstance(obj, ConstArray):
            return consts.method(obj, name, args, kwargs)
        if isinstance(obj, (int, float)) and name in ("item", "tolist") and not args:
            return obj  # an item of a constant array: `[x.item() for x in torch.linspace(0, 0.1, 12)]`
        if isinstance(obj, ArgParser):
            return self.parser_method(obj, name, args, kwargs, node)
        if isinstance(obj, list):
            if name == "append" and args:
                obj.append(args[0])
            elif name == "extend" and args:
                items = self.iterate(args[0])
                obj.extend(items or [])
            elif name == "insert" and len(args) == 2 and isinstance(args[0], int):
                obj.insert(args[0], args[1])
            elif name == "pop" and obj:
                return obj.pop(args[0] if args and isinstance(args[0], int) else -1)
            return None
        if isinstance(obj, str):
            if not (known(args) and known(list(kwargs.values()))):
                return UNKNOWN
            try:
                return getattr(obj, name)(*args, **kwargs)
            except Exception:
                return UNKNOWN
        if isinstance(obj, dict):
            if name in ("items", "keys", "values"):
                return list(getattr(obj, name)())
            if name == "get" and args:
                if not key_like(args[0]):
                    return UNKNOWN
                return obj.get(args[0], args[1] if len(args) > 1 else None)
            if name == "update" and args and isinstance(args[0], dict):
                obj.update(args[0])
            if name in ("pop", "setdefault") and args and key_like(args[0]):
                if name == "pop":
                    return obj.pop(args[0], args[1] if len(args) > 1 else UNKNOWN)
                return obj.setdefault(args[0], args[1] if len(args) > 1 else None)
            return UNKNOWN
        if isinstance(obj, SuperRef) and name == "__init__":
            # the next __init__ of the code's classes, if any: `class Conv2dNormActivation(ConvNormActivation)`
            # passes its arguments on to the Sequential subclass that builds the layers
            for info in self.mro(obj.cls)[1:]:
                if "__init__" in info.methods:
                    self.call_function(FuncRef(info.methods["__init__"], obj.instance, info), args, kwargs)
                    break
                fields = self.dataclass_fields(info) if isinstance(obj.instance, PlainObject) else None
                if fields is not None:  # a dataclass base's generated __init__
                    values = list(args)
                    for field_name, default in fields:
                        obj.instance.attrs[field_name] = (values.pop(0) if values else kwargs[field_name]
                                                          if field_name in kwargs else self.field_default(default, info))  # fmt: skip
                    break
            else:
                if self.container_base(obj.cls) or any(self.container_base(c) for c in self.mro(obj.cls)):
                    self.container_init(obj.instance, args)  # torch's own container: `super().__init__(*layers)`
                else:
                    layer = self.torch_layer_base(obj.cls)
                    if layer is not None:  # `class Conv2dSame(nn.Conv2d)`: the instance is that layer too
                        obj.instance.layer = self.make_module(layer, args, kwargs, obj.instance.node or node)
            return None
        if isinstance(obj, SuperRef) and name == "forward" and isinstance(obj.instance, Instance) and obj.instance.layer:
            return self.apply(obj.instance.layer, args, kwargs, node)
        if isinstance(obj, Tensor):
            return self.tensor_method(obj, name, args, kwargs, node)
        if isinstance(obj, Param):
            return self.param_method(obj, name, args, kwargs)
        if isinstance(obj, (ModuleObj, Instance)):
            return self.module_method(obj, name, args, kwargs, node)
        return self.passthrough(args, kwargs, node)

    def call_qualified(self, name: str, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        if name.startswith("builtins."):
            return self.call_builtin(name[len("builtins."):], args, kwargs, node)
        if name == "collections.OrderedDict":
            return self.call_builtin("dict", args, kwargs, node)
        if name in EAGER_FALSE:
            return False
        if is_library_model(name):
            return ModuleObj(name.rsplit(".", 1)[-1], node, list(args), dict(kwargs), foreign=True, library=name,
                             ctx=self.ctx)  # fmt: skip
        if name.startswith(("torch.", "F.")):
            return self.call_torch(name, args, kwargs, node)
        if name.startswith("numpy."):  # `np.linspace(0, p, depth).tolist()`
            constant = consts.make(name.rsplit(".", 1)[-1], args, kwargs)
            if constant is not UNKNOWN:
                return constant
        if name in ("types.SimpleNamespace", "argparse.Namespace") and not args:
            return PlainObject(None, dict(kwargs))
        if name == "argparse.ArgumentParser":
            return ArgParser()
        short = name.rsplit(".", 1)[-1]
        if name in RESHAPING_MODULES:
            return ModuleObj(short, node, list(args), dict(kwargs), ctx=self.ctx)
        if short[:1].isupper() and not name.startswith(("builtins.", "typing.", "collections.", "dataclasses.")):
            # an imported class we cannot see (timm's `Mlp`, mxnet's `nn.RNN`): opaque, a norm only by name
            return ModuleObj(short, node, list(args), dict(kwargs), foreign=True, ctx=self.ctx)
        if name in ("copy.deepcopy", "copy.copy") and args:
            return clone(args[0])
        if name == "dataclasses.asdict" and len(args) == 1 and isinstance(args[0], PlainObject) and args[0].cls:
            return _as_dict(args[0])  # timm's `PretrainedCfg.to_dict()`
        if name == "dataclasses.replace" and len(args) == 1 and isinstance(args[0], PlainObject) and args[0].cls:
            return PlainObject(args[0].cls, {**args[0].attrs, **kwargs}, args[0].assumed)
        if name == "collections.namedtuple" and len(args) >= 2:
            names = args[1].replace(",", " ").split() if isinstance(args[1], str) else args[1]
            if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
                return NamedTupleType(tuple(names))
        if name == "itertools.repeat" and len(args) == 2 and isinstance(args[1], int) and 0 <= args[1] <= Budget.MAX_LOOP:
            return [args[0]] * args[1]  # timm's `tuple(repeat(x, n))`
        if name == "itertools.chain":
            parts = [self.iterate(a) for a in args]
            return UNKNOWN if any(p is None for p in parts) else [item for part in parts for item in part]  # type: ignore[union-attr]
        if name == "functools.partial" and args:
            return Partial(args[0], list(args[1:]), dict(kwargs))
        if name == "typing.cast" and len(args) == 2:
            return args[1]
        if name in ("os.environ.get", "os.getenv") and args and isinstance(args[0], str):
            # `os.environ.get('TIMM_USE_NAFLEXVIT', 'false')`: the file as it runs with no setting made,
            # as `parse_args()` gives the defaults; the evidence says what was assumed
            default = args[1] if len(args) > 1 else kwargs.get("default")
            if known(default):
                self.assumptions.setdefault(f"{args[0]}={default!r} (environment default)", None)
            return default
        if name in ("re.split", "re.sub", "re.findall") and known(args) and known(list(kwargs.values())):
            if all(isinstance(a, (str, int)) for a in [*args, *kwargs.values()]):
                try:  # timm's `re.split(r'(\d.*)', 'k3')` decodes a block of an architecture string
                    return getattr(re, short)(*args, **kwargs)
                except (re.error, TypeError):
                    return UNKNOWN
        if name.startswith("math.") and known(args) and callable(getattr(math, short, None)):
            try:
                return getattr(math, short)(*args)
            except (TypeError, ValueError, OverflowError):
                return UNKNOWN
        return self.passthrough(args, kwargs, node)


def _as_dict(value: Any) -> Any:
    """`dataclasses.asdict`: a dataclass object as a dict, recursively, its lists and tuples copied."""
    if isinstance(value, PlainObject) and value.cls is not None:
        return {name: _as_dict(item) for name, item in value.attrs.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_as_dict(item) for item in value)
    if isinstance(value, dict):
        return {key: _as_dict(item) for key, item in value.items()}
    return value


def _plain(value: Any) -> bool:
    """A value that can be passed again to build another object: a number, string, class, function,
    partial of them, or a plain object holding only such values (torchvision's `MBConvConfig`); not
    a module or tensor, which belong to the model that made them."""
    if isinstance(value, PlainObject):
        return all(_plain(v) for v in flatten_values(list(value.attrs.values())))
    if isinstance(value, Partial):
        return all(_plain(v) for v in flatten_values([value.args, value.kwargs])) and _plain(value.func)
    if isinstance(value, FuncRef):
        return value.bound is None or isinstance(value.bound, ClassInfo)
    return value is None or isinstance(value, (int, float, str, ClassInfo, QualRef))


#: Calls a value helper may make: built-ins that compute a plain value from plain values.
_PURE_CALLS = frozenset({
    "abs", "all", "any", "bool", "divmod", "enumerate", "float", "int", "isinstance", "len", "list", "max",
    "min", "pow", "range", "repeat", "reversed", "round", "sorted", "str", "sum", "tuple", "zip",
    "itertools.repeat", "math.ceil", "math.floor", "math.sqrt", "math.log", "math.log2", "math.prod",
})  # fmt: skip


#: What a generator yields from something vglint cannot list: the generator's items are unknown.
UNKNOWN_ITEMS = object()


class IsGenerator(Exception):
    """A `yield` ran in a function not yet known to be a generator."""


def value_helper(node: cst.FunctionDef, cache: dict[int, bool]) -> bool:
    """A function that can do nothing but compute a plain value: it calls only the built-ins of
    `_PURE_CALLS`, assigns only to its own names (no attribute or item of anything), and defines,
    imports, yields and opens nothing (`def make_divisible(v, divisor=8)`, timm's `_ntuple`'s
    `parse`). Whatever its branches decide, no layer is made and nothing outside it changes."""
    key = id(node)
    if key not in cache:
        cache[key] = _is_value_helper(node)
    return cache[key]


def _is_value_helper(node: cst.FunctionDef) -> bool:
    body = node.body
    for sub in walk(body):
        if isinstance(sub, cst.Call):
            if dotted_name(sub.func) not in _PURE_CALLS:
                return False
        elif isinstance(sub, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)):
            target = sub.target
            if any(isinstance(part, (cst.Attribute, cst.Subscript)) for part in walk(target)):
                return False
        elif isinstance(sub, (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.Yield, cst.Await, cst.Global,
                              cst.Nonlocal, cst.Import, cst.ImportFrom, cst.With, cst.Del)):  # fmt: skip
            return False
    return True
