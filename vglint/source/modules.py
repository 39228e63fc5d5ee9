"""Module and import resolution: the names of the checked file and of the sibling modules it imports
from, classes and their bases, and the module level that defines constants and models."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import libcst as cst

from vglint.layers import MODULE_BASES, NN_CLASSES
from vglint.source.calls import BUILTIN_FUNCTIONS
from vglint.source.names import canonical, dotted_name, import_table
from vglint.source.sites import SiblingLocator
from vglint.source.values import (
    THIS_MODULE,
    UNKNOWN,
    Break,
    Budget,
    ClassInfo,
    Continue,
    FuncRef,
    FunctionReturn,
    ModuleContext,
    OutOfBudget,
    QualRef,
)


class ModuleResolution:
    """A part of `Interpreter`: which module, class or function a name means."""

    module = property(lambda self: self.ctx.module)

    imports = property(lambda self: self.ctx.imports)

    locator = property(lambda self: self.ctx.locator)

    classes = property(lambda self: self.ctx.classes)

    functions = property(lambda self: self.ctx.functions)

    globals = property(lambda self: self.ctx.globals)

    self_names = property(lambda self: self.ctx.self_names)

    @staticmethod
    def _context(module: cst.Module, imports: dict[str, str], locator: Any, path: Path | None, local: bool) -> ModuleContext:
        # dotted names the module may be imported by: d2l/torch.py -> {"torch", "d2l.torch"}
        parts = [p for p in path.with_suffix("").as_posix().split("/") if p and p not in (".", "..")] if path else []
        names = {".".join(parts[i:]) for i in range(len(parts))} | {THIS_MODULE}
        ctx = ModuleContext(module, imports, locator, path, names, local)
        ModuleResolution._collect(ctx)
        return ctx

    @contextmanager
    def entered(self, ctx: ModuleContext | None) -> Iterator[None]:
        """Run code with the names of the module it is defined in."""
        if ctx is None or ctx is self.ctx:
            yield
            return
        outer, self.ctx = self.ctx, ctx
        try:
            yield
        finally:
            self.ctx = outer

    def sibling(self, relative: str) -> ModuleContext | None:
        """The module `.name` of the checked file's package, parsed once, with its module level run."""
        if self.ctx.path is None or relative.startswith("..") or not relative.startswith("."):
            return None
        folder = self.ctx.path.parent
        stem = relative[1:].replace(".", "/")
        for candidate in (folder / f"{stem}.py", folder / stem / "__init__.py"):
            if candidate.is_file():
                break
        else:
            return None
        key = candidate.resolve()
        if key in self.siblings:
            return self.siblings[key]
        self.siblings[key] = None  # an import cycle finds nothing instead of recursing
        try:
            stat = candidate.stat()
            if stat.st_size > Budget.MAX_SIBLING_BYTES:
                return None
            module, imports = _parse_sibling(str(key), stat.st_mtime_ns)
        except Exception:  # unreadable or unparsable: its names stay unknown
            return None
        ctx = self._context(module, imports, SiblingLocator(module), candidate, local=False)
        self.siblings[key] = ctx
        with self.entered(ctx):
            self.run_module_level()
        return ctx

    @staticmethod
    def _collect(ctx: ModuleContext) -> None:
        for statement in ctx.module.body:
            if isinstance(statement, cst.ClassDef):
                methods, assigns = {}, {}
                for item in statement.body.body:
                    if isinstance(item, cst.FunctionDef):
                        methods[item.name.value] = item
                    elif isinstance(item, cst.SimpleStatementLine):
                        for small in item.body:
                            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                                target = small.targets[0].target
                                if isinstance(target, cst.Name):
                                    assigns[target.value] = small.value
                            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                                if isinstance(small.target, cst.Name):  # `expansion: int = 4`
                                    assigns[small.target.value] = small.value
                bases = [arg.value for arg in statement.bases if arg.keyword is None]
                info = ClassInfo(statement, statement.name.value, bases, methods, assigns, ctx)
                ctx.classes[statement.name.value] = ctx.class_defs[statement] = info
            elif isinstance(statement, cst.FunctionDef):
                ctx.functions[statement.name.value] = statement

    def qualified(self, expr: cst.BaseExpression) -> str | None:
        """The import-resolved, canonical dotted name of `expr`, if it is one."""
        name = dotted_name(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            full = self.imports[head] + ("." + rest if rest else "")
            return canonical(full)
        if isinstance(self.globals.get(head), QualRef):  # `d2l = sys.modules[__name__]`
            return canonical(self.globals[head].name + ("." + rest if rest else ""))
        return None

    def resolve_base(self, base: cst.BaseExpression) -> ClassInfo | str | None:
        """A base class: one of this file's classes (also when reached through the file's own
        package, as d2l's `class LeNet(d2l.Classifier)` inside d2l/torch.py), or its qualified name."""
        if isinstance(base, cst.Name) and base.value in self.classes:
            return self.classes[base.value]
        qualified = self.qualified(base)
        if qualified is None:
            return dotted_name(base)
        local = self.local_value(qualified)
        if isinstance(local, ClassInfo):
            return local
        return local.name if isinstance(local, QualRef) else qualified

    def local_value(self, qualified: str) -> Any:
        """What `pkg.module.Name` is when pkg.module is this very file, else None."""
        prefix, _, name = qualified.rpartition(".")
        if prefix in self.self_names and (name in self.classes or name in self.functions or name in self.globals):
            return self.global_value(name)
        return None

    def bases_of(self, info: ClassInfo) -> list[ClassInfo | str | None]:
        """The resolved bases of a class, worked out once (instantiation asks again and again)."""
        cached = self._bases.get(id(info))
        if cached is None:
            with self.entered(info.ctx):
                cached = self._bases[id(info)] = [self.resolve_base(base) for base in info.bases]
        return cached

    def base_names(self, info: ClassInfo, seen: set[int] | None = None) -> set[str]:
        """Qualified names of every base, through classes of the same file (or package)."""
        seen = set() if seen is None else seen
        if id(info) in seen:
            return set()
        seen.add(id(info))
        names: set[str] = set()
        for resolved in self.bases_of(info):
            if isinstance(resolved, ClassInfo):
                names.add(resolved.name)
                names |= self.base_names(resolved, seen)
            elif resolved is not None:
                names.add(resolved)
        return names

    def mro(self, info: ClassInfo) -> list[ClassInfo]:
        order, todo = [], [info]
        while todo:
            current = todo.pop(0)
            if current in order:
                continue
            order.append(current)
            todo.extend(b for b in self.bases_of(current) if isinstance(b, ClassInfo))
        return order

    def is_module_class(self, info: ClassInfo) -> bool:
        """Derived from nn.Module (or Lightning's) here or through the file's own classes; a class
        with an unresolvable base counts when it defines `forward` (transformers' PreTrainedModel)."""
        names = self.base_names(info)
        if names & MODULE_BASES or self.torch_layer_base(info):
            return True
        resolved = all(b is not None and (isinstance(b, ClassInfo) or "." in b)
                       for c in self.mro(info) for b in self.bases_of(c))  # fmt: skip
        return not resolved and any("forward" in c.methods for c in self.mro(info)) and bool(names - {"object"})

    def torch_layer_base(self, info: ClassInfo) -> str | None:
        """`Conv2d` for a class of the file derived from `nn.Conv2d` (any known torch.nn layer)."""
        for name in self.base_names(info):
            short = name.rsplit(".", 1)[-1]
            if name == f"torch.nn.{short}" and short in NN_CLASSES:
                return short
        return None

    def container_base(self, info: ClassInfo) -> str | None:
        for name in self.base_names(info):
            if name in ("torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"):
                return name.rsplit(".", 1)[1]
        return None

    def find_method(self, info: ClassInfo, name: str) -> tuple[ClassInfo, cst.FunctionDef] | None:
        for cls in self.mro(info):
            if name in cls.methods:
                return cls, cls.methods[name]
        return None

    def global_value(self, name: str) -> Any:
        if name in self.globals:
            return self.globals[name]
        if name in self.classes:
            return self.classes[name]
        if name in self.functions:
            return FuncRef(self.functions[name], ctx=self.ctx)
        if name in self.imports:
            target = self.imports[name]
            module_name, _, short = target.rpartition(".")
            sibling = self.sibling(module_name) if module_name.startswith(".") else None
            if sibling is not None:
                if short in sibling.classes:
                    return sibling.classes[short]
                if short in sibling.functions:
                    return FuncRef(sibling.functions[short], ctx=sibling)
                if short in sibling.globals:
                    return sibling.globals[short]
            return QualRef(canonical(target))
        if name in BUILTIN_FUNCTIONS or name in ("range", "enumerate", "zip", "map", "list", "tuple", "dict", "isinstance",
                                          "super", "getattr", "setattr", "hasattr", "print", "OrderedDict"):  # fmt: skip
            return QualRef("builtins." + name)
        return UNKNOWN

    def run_module_level(self) -> dict[str, Any]:
        """Evaluate module-level code in order: constants, configs, layer lists built in loops and
        module-level models. Calls of the file's own functions as statements (`train(model)`) and
        the `if __name__ == "__main__":` block are not run: that is training code, not model code.
        A class defined again (a notebook's cells) means the definition in force at that point."""
        redefined = self.redefined_classes()
        for statement in self.module.body:
            if isinstance(statement, cst.ClassDef) and statement.name.value in redefined:
                self.globals[statement.name.value] = self.ctx.class_defs[statement]
                continue
            if isinstance(statement, cst.SimpleStatementLine):
                runnable = [s for s in statement.body if self._model_building(s)]
            elif isinstance(statement, cst.For) or (isinstance(statement, cst.If) and not is_main_guard(statement)):
                runnable = [statement]
            else:
                continue
            for item in runnable:
                try:
                    self.reset_budget()
                    if isinstance(item, cst.BaseSmallStatement):
                        self.exec_small(item, self.globals, None)
                    else:
                        self.exec_statement(item, self.globals, None)
                except (OutOfBudget, RecursionError, FunctionReturn, Break, Continue):
                    continue
                if isinstance(item, cst.Assign) and len(item.targets) == 1 and isinstance(item.targets[0].target, cst.Name):
                    target = item.targets[0].target  # what this very statement bound (`model = Net()`)
                    self.module_assignments.append((target, self.globals.get(target.value)))
        return self.globals

    def redefined_classes(self) -> set[str]:
        """Names of classes the module defines more than once."""
        names = [info.name for info in self.ctx.class_defs.values()]
        return {name for name in names if names.count(name) > 1}

    @staticmethod
    def _model_building(small: cst.CSTNode) -> bool:
        if isinstance(small, (cst.Assign, cst.AugAssign)) or (isinstance(small, cst.AnnAssign) and small.value):
            return True
        # `layers.append(...)` and `model.add_module(...)`, not `train(model)`
        return isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and isinstance(small.value.func, cst.Attribute)


@functools.lru_cache(maxsize=32)
def _parse_sibling(path: str, mtime_ns: int) -> tuple[cst.Module, dict[str, str]]:
    """A sibling module's tree and imports, parsed once per process (timm's `_builder.py` is
    imported by a hundred model files); the mtime keeps the cache honest."""
    module = cst.parse_module(Path(path).read_bytes())
    return module, import_table(module)


def is_main_guard(statement: cst.If) -> bool:
    test = statement.test
    return isinstance(test, cst.Comparison) and dotted_name(test.left) == "__name__"
