"""Python's built-in functions and the parts of the standard library model code uses: `len`,
`range`, `zip`, `isinstance`, `getattr`, `dir`... and argparse's options (a `--bptt` default is the
sequence length). A part of `Interpreter`."""

from __future__ import annotations

import re
from typing import Any

from vglint.analysis import LengthConstant
from vglint.layers import FUNCTIONS, LAYER_ATTRIBUTES, MODULE_API, NN_CLASSES, RECURRENT_WEIGHT
from vglint.source.values import (
    UNKNOWN,
    ArgParser,
    Bound,
    Budget,
    ClassInfo,
    FuncRef,
    Instance,
    LambdaRef,
    ModuleObj,
    Partial,
    PlainObject,
    QualRef,
    Tensor,
    key_like,
    known,
)

#: Names that say "sequence length": SEQ_LEN, max_len, WINDOW, CONTEXT_LENGTH, BLOCK_SIZE, num_steps, bptt.
#: Not STEP_SIZE, NUM_BLOCKS or TRAIN_STEPS, which say something else.
LENGTH_NAME = re.compile(
    r"seq|length|bptt|(^|_)len($|_)|window|context|block_?size|time_?steps|^(n|num)_?steps$", re.IGNORECASE
)


BUILTIN_FUNCTIONS = {
    "len": len, "int": int, "float": float, "max": max, "min": min, "abs": abs, "sum": sum,
    "round": round, "str": str, "bool": bool, "sorted": sorted, "reversed": lambda x: list(reversed(x)),
    "any": any, "all": all,
    # a set as the list of its distinct items, first seen first: `len(set(block_widths))`, `in`, iteration
    "set": lambda x=(): list(dict.fromkeys(x)),
}  # fmt: skip


class Stdlib:
    """A part of `Interpreter`: built-in functions and argparse."""

    def parser_method(self, parser: ArgParser, name: str, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        """argparse: `add_argument('--bptt', type=int, default=500)` then `parser.parse_args()` is a
        namespace of the defaults; a length-named option is length evidence for VG201."""
        if name == "add_argument" and args and all(isinstance(a, str) for a in args):
            flags = [a for a in args if a.startswith("--")] or list(args)
            dest = kwargs.get("dest") if isinstance(kwargs.get("dest"), str) else flags[0].lstrip("-").replace("-", "_")
            action = kwargs.get("action")
            default = kwargs.get("default", False if action == "store_true" else True if action == "store_false" else None)
            parser.defaults[dest] = default
            if isinstance(default, int) and not isinstance(default, bool) and LENGTH_NAME.search(dest):
                site = self.site(node)
                if all(c.site is not site for c in self.facts.length_constants):
                    self.facts.length_constants.append(LengthConstant(flags[0], default, site))
            return None
        if name == "set_defaults":
            parser.defaults.update(kwargs)
            return None
        if name in ("add_argument_group", "add_mutually_exclusive_group"):
            return parser  # a group's options land in the same namespace
        if name in ("parse_args", "parse_known_args"):
            namespace = PlainObject(None, dict(parser.defaults))
            return namespace if name == "parse_args" else (namespace, [])
        return UNKNOWN

    def call_builtin(self, name: str, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        if name == "len" and len(args) == 1 and isinstance(args[0], (list, tuple, dict, str)):
            return len(args[0])  # whatever the items are: `len(stack_args)` of a list of dicts
        if name == "len" and len(args) == 1 and isinstance(args[0], (ModuleObj, Instance)):
            items = self.iterate(args[0])  # `len(self.layers)` of a ModuleList
            return UNKNOWN if items is None else len(items)
        if name == "range":
            if args and all(isinstance(a, int) for a in args) and len(args) <= 3:
                try:
                    result = range(*args)
                except ValueError:
                    return UNKNOWN
                return result if len(result) <= Budget.MAX_LOOP else UNKNOWN
            return UNKNOWN
        if name in ("list", "tuple"):
            if not args:
                return [] if name == "list" else ()
            items = self.iterate(args[0])
            if items is None:
                return UNKNOWN
            return items if name == "list" else tuple(items)
        if name == "dict":
            result: dict[Any, Any] = {}
            if args:
                items = self.iterate(args[0]) if not isinstance(args[0], dict) else list(args[0].items())
                for item in items or []:
                    if isinstance(item, (list, tuple)) and len(item) == 2 and key_like(item[0]):
                        result[item[0]] = item[1]
            result.update(kwargs)
            return result
        if name == "enumerate" and args:
            items = self.iterate(args[0])
            start = args[1] if len(args) > 1 and isinstance(args[1], int) else 0
            return UNKNOWN if items is None else [(i + start, v) for i, v in enumerate(items)]
        if name == "map" and len(args) >= 2:
            lists = [self.iterate(a) for a in args[1:]]
            if any(x is None for x in lists):
                return UNKNOWN
            return [self.call(args[0], list(items), {}, node) for items in zip(*lists)]
        if name == "zip":
            lists = [self.iterate(a) for a in args]
            return UNKNOWN if any(x is None for x in lists) else [tuple(t) for t in zip(*lists)]
        if name == "isinstance" and len(args) == 2:
            return self.isinstance_(args[0], args[1])
        if name == "super":
            return UNKNOWN
        if name == "hasattr" and len(args) == 2 and isinstance(args[1], str):
            return self.has_attribute(args[0], args[1])
        if name == "getattr" and len(args) >= 2 and isinstance(args[1], str):
            value = self.attribute(args[0], args[1])
            if (value is UNKNOWN or isinstance(value, Bound)) and len(args) > 2:
                return args[2]
            return value
        if name == "setattr" and len(args) == 3 and isinstance(args[1], str):
            self.set_attr(args[0], args[1], args[2])
            return None
        if name == "print":
            return None
        if name == "dir" and len(args) == 1 and isinstance(args[0], QualRef):
            # feature checks of the installed torch (`'silu' in dir(torch.nn.functional)`): vglint
            # judges a current torch, which has what its catalogue knows
            if args[0].name in ("torch.nn.functional", "F"):
                return sorted(FUNCTIONS)
            if args[0].name == "torch.nn":
                return sorted(NN_CLASSES)
        function = BUILTIN_FUNCTIONS.get(name)
        if function is not None and known(args) and known(list(kwargs.values())):
            try:
                return function(*args, **kwargs)
            except Exception:
                return UNKNOWN
        return self.passthrough(args, kwargs, node)

    def has_attribute(self, obj: Any, name: str) -> Any:
        """`hasattr(m, "zero_init_last")` over a model's modules: True for what the object holds, its
        class defines or `nn.Module` has; False for a torch layer, or a model whose classes vglint
        reads whole, that has no such attribute; else unknown."""
        value = self.attribute(obj, name)
        if value is not UNKNOWN and not isinstance(value, Bound):
            return True
        if isinstance(obj, (ModuleObj, Instance)) and name in MODULE_API:
            return True
        if isinstance(obj, Instance):
            if obj.layer is not None:  # `class Conv2dSame(nn.Conv2d)`: the torch layer's attributes too
                return self.has_attribute(obj.layer, name)
            return False if self.reads_whole(obj.cls) else UNKNOWN
        if isinstance(obj, ModuleObj) and not obj.foreign:
            return UNKNOWN if name in LAYER_ATTRIBUTES or RECURRENT_WEIGHT.match(name) else False
        return UNKNOWN

    def isinstance_(self, value: Any, classes: Any) -> Any:
        options = classes if isinstance(classes, (list, tuple)) else [classes]
        for option in options:
            if isinstance(option, QualRef) and option.name == "torch.Tensor":
                if isinstance(value, Tensor):
                    return True
                if isinstance(value, (list, tuple, dict, int, float, str, ModuleObj, Instance)):
                    continue
                return UNKNOWN
            if isinstance(option, QualRef) and option.name.startswith("torch.nn."):
                short = option.name.rsplit(".", 1)[1]
                if isinstance(value, ModuleObj) and value.cls == short:
                    return True
                if short == "Module" and isinstance(value, (ModuleObj, Instance)):
                    return True
                if isinstance(value, Instance) and option.name in self.base_names(value.cls):
                    return True  # `class Conv2dSame(nn.Conv2d)`
            elif isinstance(option, ClassInfo):
                if isinstance(value, Instance) and option in self.mro(value.cls):
                    return True
            elif isinstance(option, QualRef) and option.name == "functools.partial":
                if isinstance(value, Partial):
                    return True  # `isinstance(norm_layer, functools.partial)`
                if value is UNKNOWN or isinstance(value, Bound):
                    return UNKNOWN
            elif isinstance(option, QualRef) and option.name in ("types.FunctionType", "types.LambdaType", "builtins.type"):
                # `isinstance(norm_layer, types.FunctionType)`, `isinstance(block, type)`: a function or a class
                is_class = isinstance(value, ClassInfo) or _names_a_class(value)
                is_function = isinstance(value, (FuncRef, LambdaRef)) and not is_class
                if is_class if option.name == "builtins.type" else is_function:
                    return True
                if value is UNKNOWN or isinstance(value, (Bound, Partial)) or (
                    isinstance(value, QualRef) and not is_class
                ):
                    return UNKNOWN  # an imported function, or a partial: `type`'s answer depends on it
            elif isinstance(option, QualRef) and option.name in _BUILTIN_TYPES:
                if value is UNKNOWN or isinstance(value, (Bound, PlainObject)):
                    return UNKNOWN
                if isinstance(value, _BUILTIN_TYPES[option.name]):
                    return True  # `isinstance(kernel_size, list)`, `isinstance(cfg, (tuple, list))`
            else:
                return UNKNOWN
        # a module, a plain value, or a class or function (`isinstance(nn.ReLU, str)`: timm's get_act_layer)
        known_kind = value is None or isinstance(
            value, (ModuleObj, Instance, list, tuple, dict, int, float, str, ClassInfo, FuncRef, Partial)
        )
        return False if known_kind or _names_a_class(value) else UNKNOWN


def _names_a_class(value: Any) -> bool:
    """`torch.nn.ReLU`, `timm.layers.Mlp`: an imported name that is a class (CapWords), not a value (`MODE`)."""
    if not isinstance(value, QualRef):
        return False
    short = value.name.rsplit(".", 1)[-1]
    return value.name.startswith("torch.") or (short[:1].isupper() and not short.isupper())


#: Built-in types `isinstance` can decide on the values vglint knows.
_BUILTIN_TYPES = {
    **{f"builtins.{t.__name__}": t for t in (list, tuple, dict, int, float, str, bool, set)},
    # the abstract collections, as the plain values vglint computes with (timm's `to_2tuple`)
    "collections.abc.Iterable": (list, tuple, dict, str, range), "collections.abc.Sequence": (list, tuple, str, range),
    "collections.abc.Mapping": dict, "typing.Iterable": (list, tuple, dict, str, range), "typing.Sequence": (list, tuple, str, range),
}  # fmt: skip
