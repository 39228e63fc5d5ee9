"""Module and import resolution: the names of the checked file and of the modules of its project
that it imports from (`vglint.source.project` says which file a module name means), classes and
their bases, and the module level that defines constants and models."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import libcst as cst

from vglint.analysis import ProjectReads
from vglint.ir import Gap
from vglint.layers import MODULE_BASES, NN_CLASSES
from vglint.source.module_level import LazyLevel, harmless_branches, module_level_index, module_level_items
from vglint.source.names import canonical, class_body, dotted_name, import_table, star_imports
from vglint.source.project import NEVER_FOLLOWED, Project, find_project, import_base
from vglint.source.sibling_source import DeferredMembers, LazyDefinitions, SiblingSource
from vglint.source.sites import SiblingLocator
from vglint.source.stdlib import BUILTIN_FUNCTIONS
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

    def entered(self, ctx: ModuleContext | None) -> AbstractContextManager[None]:
        """Run code with the names of the module it is defined in. (Every call of a function and
        every instantiation asks: nearly always for the module already in force, which costs
        nothing, so this is no generator-based context manager.)"""
        if ctx is None or ctx is self.ctx:
            return _STAYING
        return _Entered(self, ctx)

    def project_module(self, name: str) -> ModuleContext | None:
        """The module `name` (`model`, `models.rnn`, `.blocks`, `..layers`, `mypkg.layers`) as the
        current module imports it, when it is a file of the project: parsed once, its module level run."""
        state = self._project_state()
        folder = state.folder(self.ctx)
        if state.project is None or folder is None:
            return None
        path = state.project.module_path(name, folder)
        return None if path is None else self.load_module(path)

    def load_module(self, path: Path) -> ModuleContext | None:
        """The module of the project at `path` (resolved), read once per checked file; None when it
        is too large, unreadable, or over the budget of modules. Its classes and functions are known
        at once; its module level runs when a name it assigns is first needed (`run_pending`)."""
        state = self._project_state()
        if path == state.home_path:
            return state.home
        if path in self.siblings:
            return self.siblings[path]
        if len(self.siblings) >= Budget.MAX_MODULES:
            return None
        self.siblings[path] = None  # unreadable, too large, or over the budget: its names stay unknown
        if path.is_dir():  # a namespace package: a folder without __init__.py, whose modules are its names
            module, imports, level, ctx_path = cst.Module(body=()), {}, None, path / "__init__.py"
        else:
            try:
                stat = path.stat()
                state.bytes_read += stat.st_size
                if stat.st_size > Budget.MAX_SIBLING_BYTES or state.bytes_read > Budget.MAX_PROJECT_BYTES:
                    return None
                source, imports, level = _parse_sibling(str(path), stat.st_mtime_ns)
            except Exception:  # unreadable or unparsable: its names stay unknown
                return None
            module, ctx_path = source.module, path
        ctx = self._context(module, imports, SiblingLocator(module), ctx_path, local=False)
        if not path.is_dir():  # its top-level definitions are parsed when first asked for
            ctx.classes = LazyDefinitions(source.class_lines, lambda lines: _DeferredClassInfo(source, lines, ctx))
            ctx.functions = LazyDefinitions(source.function_lines, source.definition)
            ctx.value_helpers = source.value_helpers
        ctx.lazy, ctx.dotted = None if level is None else LazyLevel(*level), _dotted_module(ctx_path)
        self.siblings[path] = ctx
        return ctx

    def run_pending(self, ctx: ModuleContext, name: str) -> None:
        """Run the module-level statements of another module that bind or change `name`, once,
        in order, outside the model being interpreted (whose gaps, mode and budget they must not
        touch), on the imports' own budget."""
        items = ctx.lazy.take(name)
        if not items or self.budget.importing >= Budget.MAX_IMPORT_NESTING:
            return
        with self._outside_the_model(), self.entered(ctx):
            self.run_module_level(items)

    @contextmanager
    def _outside_the_model(self) -> Iterator[None]:
        saved = (self.reasons, self.training_code, self.no_grad, self.forward_depth, self.call_stack)
        self.reasons, self.training_code, self.no_grad, self.forward_depth, self.call_stack = [], False, False, 0, []
        try:
            with self.budget.imported_module():
                yield
        finally:
            self.reasons, self.training_code, self.no_grad, self.forward_depth, self.call_stack = saved

    def project_value(self, target: str, base: bool = False) -> Any:
        """What `target` means when it names something in a module of the project: an import's
        target (`model`, `.blocks.SigmoidBlock`, `models.rnn.CharRNN`, `..layers.Block`) or a name
        reached through a module (`<module model.py>.RNNModel`). A class, function, global or module
        (as a `QualRef` that `module_ref` made); None when it is not the project's. A class of
        another module that is no `nn.Module` is None too, unless it is asked for as a `base`: made
        in model code it is an opaque object, as it was before vglint read that module."""
        dots = len(target) - len(target.lstrip("."))
        if not dots and target.partition(".")[0] in NEVER_FOLLOWED:
            return None  # `torch.nn.Linear`, `math.sqrt`: the common case, answered first
        match = _MODULE_REF.match(target) if target.startswith("<") else None
        if target.startswith("<") and match is None:
            return None  # `<this module>.X`
        state = self._project_state()
        if match is not None:
            ctx = state.refs.get(match[1])
            rest = match[2].split(".")[1:]
        else:
            key = (id(self.ctx), target, base)
            if key in state.resolved:
                return state.resolved[key]
            state.resolved[key] = None  # a cycle finds nothing
            ctx, rest = None, []
            parts = target[dots:].split(".") if target[dots:] else []
            for cut in range(len(parts), -1 if dots else 0, -1):  # the longest prefix that is a module
                ctx = self.project_module("." * dots + ".".join(parts[:cut]))
                if ctx is not None:
                    rest = parts[cut:]
                    break
            if ctx is not None and not rest and len(parts) > (0 if dots else 1):
                # `from timm.layers import create_attn`: a name the package binds (`from .create_attn
                # import create_attn`) comes before its submodule of that name, as in Python
                package = self.project_module("." * dots + ".".join(parts[:-1]))
                if package is not None and package.path is not None and package.path.name == "__init__.py" \
                        and self._binds(package, parts[-1]):
                    ctx, rest = package, parts[-1:]
        value = None if ctx is None else self.module_ref(ctx)
        for name in rest:
            value = self.module_member(value, name)
            if value is None:
                break
        if not base and isinstance(value, ClassInfo) and value.ctx is not None and not value.ctx.local:
            # a plain class of another module (timm's PretrainedCfg dataclass) is read when all of it
            # is code of the project; one derived from a class vglint cannot read (transformers'
            # ModelOutput, an OrderedDict) stays the opaque object it was before that module was read
            value = value if self.is_module_class(value) or self.reads_whole(value) else None
        if match is None:
            state.resolved[key] = value
        return value

    def reads_whole(self, info: ClassInfo) -> bool:
        """Every base of the class, and of its bases, is a class of the project, `nn.Module` itself
        or one that gives it nothing to read (`object`, `typing.Generic`): all the attributes its
        objects can have are in code vglint reads."""
        return all(isinstance(b, ClassInfo) or b in _READ_BASES for c in self.mro(info) for b in self.bases_of(c))

    def module_ref(self, ctx: ModuleContext) -> QualRef:
        """The value of a module of the project (`model` after `import model`): a `QualRef` whose name
        says which file it is, so that `model.RNNModel` finds the class in any module it reaches."""
        state = self._project_state()
        ref = state.ref_of.get(id(ctx))
        if ref is None:
            shown = ctx.path.as_posix() if ctx.path is not None else "?"
            if state.project is not None and ctx.path is not None and state.project.contains(ctx.path):
                shown = ctx.path.relative_to(state.project.root).as_posix()
            ref = state.ref_of[id(ctx)] = QualRef(f"<module {shown}>")
            state.refs[ref.name] = ctx
        return ref

    @staticmethod
    def _binds(ctx: ModuleContext, name: str) -> bool:
        """The module binds `name` itself: a class, function, import or module-level assignment."""
        return name in ctx.classes or name in ctx.functions or name in ctx.imports or bool(ctx.lazy and name in ctx.lazy.names)

    def module_member(self, module: Any, name: str) -> Any:
        """`name` in a module of the project: a class, function or global of it, a name it imports,
        or, in a package, its submodule. None when it has no such name."""
        if not isinstance(module, QualRef):
            return None
        ctx = self._project_state().refs.get(module.name)
        if ctx is None:
            return None
        if self._binds(ctx, name):
            with self.entered(ctx):
                value = self.global_value(name)
            # a name that module imports but vglint could not find is spelled relative to that module,
            # and a value it could not compute says less than the name (`gelu`, `BoxCoder`) does
            if value is UNKNOWN or isinstance(value, QualRef) and value.name.startswith("."):
                return None
            return value
        if ctx.path is not None and ctx.path.name == "__init__.py":
            with self.entered(ctx):
                sub = self.project_module("." + name)
            if sub is not None:
                return self.module_ref(sub)
        with self.entered(ctx):
            value = self.star_imported(name)
        return None if value is UNKNOWN else value

    def project_reads(self) -> ProjectReads:
        """The project's root, the module names looked up and the module files read so far."""
        state = self.__dict__.get("_project")
        if state is None or state.project is None:
            return ProjectReads()
        return ProjectReads(state.project.root, dict(state.project.lookups), set(self.siblings))

    def _project_state(self) -> _ProjectState:
        state = self.__dict__.get("_project")
        if state is None:  # first asked while the checked file's names are in use
            state = self.__dict__["_project"] = _ProjectState(self.ctx)
        return state

    @staticmethod
    def _collect(ctx: ModuleContext) -> None:
        for statement in ctx.module.body:
            if isinstance(statement, cst.ClassDef):
                ctx.classes[statement.name.value] = _class_info(statement, ctx)
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
        if self.ctx.lazy is not None and head in self.ctx.lazy.todo:
            self.run_pending(self.ctx, head)
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
        known = self.framework_base(qualified)
        if known is not None:
            return known
        local = self.local_value(qualified, base=True)
        if isinstance(local, ClassInfo):
            # a framework's own base (transformers' PreTrainedModel, read from inside transformers)
            # is the base vglint knows, as it is for code that imports it: its internals are not run
            known = f"{local.ctx.dotted}.{local.name}" if local.ctx is not None and local.ctx.dotted else None
            return known if known in MODULE_BASES else local
        return local.name if isinstance(local, QualRef) else qualified

    def framework_base(self, qualified: str) -> str | None:
        """`transformers.modeling_utils.PreTrainedModel` when `qualified` (`...modeling_utils.PreTrainedModel`,
        read inside transformers) names a base class vglint knows (`MODULE_BASES`) in a file of the
        project: that file need not be read, and the base's internals are not run, as for the code
        of its users."""
        module, _, name = qualified.rpartition(".")
        if not module.startswith(".") and qualified in MODULE_BASES:
            return qualified
        state = self._project_state()
        folder = state.folder(self.ctx)
        if not module or state.project is None or folder is None or module.partition(".")[0] in NEVER_FOLLOWED:
            return None
        path = state.project.module_path(module, folder)
        dotted = _dotted_module(path) if path is not None and path.suffix == ".py" else None
        return f"{dotted}.{name}" if dotted is not None and f"{dotted}.{name}" in MODULE_BASES else None

    def local_value(self, qualified: str, base: bool = False) -> Any:
        """What `pkg.module.Name` is when pkg.module is this very file or another module of the
        project (`model.RNNModel` after `import model`), else None."""
        prefix, _, name = qualified.rpartition(".")
        if prefix in self.self_names and (name in self.classes or name in self.functions or name in self.globals):
            return self.global_value(name)
        return self.project_value(qualified, base) if prefix else None

    def bases_of(self, info: ClassInfo) -> list[ClassInfo | str | None]:
        """The resolved bases of a class, worked out once (instantiation asks again and again)."""
        cached = self._bases.get(id(info))
        if cached is None:
            with self.entered(info.ctx):
                cached = self._bases[id(info)] = [self.resolve_base(base) for base in info.bases]
        return cached

    def base_names(self, info: ClassInfo) -> frozenset[str]:
        """Qualified names of every base, through classes of the same file (or package); worked out
        once per class, as its bases are (each forward and method lookup asks)."""
        names = self._base_names.get(id(info))
        if names is None:
            names = self._base_names[id(info)] = frozenset(self._collect_base_names(info, set()))
        return names

    def _collect_base_names(self, info: ClassInfo, seen: set[int]) -> set[str]:
        if id(info) in seen:
            return set()
        seen.add(id(info))
        names: set[str] = set()
        for resolved in self.bases_of(info):
            if isinstance(resolved, ClassInfo):
                names.add(resolved.name)
                names |= self._collect_base_names(resolved, seen)
            elif resolved is not None:
                names.add(resolved)
        return names

    def mro(self, info: ClassInfo) -> list[ClassInfo]:
        """The class and its bases of the project, in lookup order; worked out once per class."""
        order = self._mros.get(id(info))
        if order is None:
            order, todo = [], [info]
            while todo:
                current = todo.pop(0)
                if any(current is done for done in order):
                    continue
                order.append(current)
                todo.extend(b for b in self.bases_of(current) if isinstance(b, ClassInfo))
            self._mros[id(info)] = order
        return order

    def is_module_class(self, info: ClassInfo) -> bool:
        """Derived from nn.Module (or Lightning's) here or through the file's own classes; a class
        with an unresolvable base counts when it defines `forward` (transformers' PreTrainedModel).
        Worked out once per class: its bases are resolved once (`bases_of`), and it is asked often."""
        known = self._module_classes.get(id(info))
        if known is None:
            known = self._module_classes[id(info)] = (info, self._derives_from_module(info))
        return known[1]

    def _derives_from_module(self, info: ClassInfo) -> bool:
        names = self.base_names(info)
        if names & MODULE_BASES or self.torch_layer_base(info):
            return True
        # a dotted name is resolved (a library's class) unless it is a relative one vglint could not read
        resolved = all(b is not None and (isinstance(b, ClassInfo) or "." in b and not b.startswith("."))
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
        if self.ctx.lazy is not None and name in self.ctx.lazy.todo:
            self.run_pending(self.ctx, name)
        if name in self.globals:
            return self.globals[name]
        if name in self.classes:
            return self.classes[name]
        if name in self.functions:
            return FuncRef(self.functions[name], ctx=self.ctx)
        if name in self.imports:
            target = self.imports[name]
            found = self.library_ref(target) or self.project_value(target)
            return found if found is not None else QualRef(canonical(target))
        if name in BUILTIN_FUNCTIONS or name in ("range", "enumerate", "zip", "map", "list", "tuple", "dict", "isinstance",
                                          "super", "getattr", "setattr", "hasattr", "print", "OrderedDict", "dir", "type"):  # fmt: skip
            return QualRef("builtins." + name)
        return self.star_imported(name)

    def library_ref(self, qualified: str) -> QualRef | None:
        """`torch.nn.Linear`, `F.relu`, `math.sqrt`: a name of a library vglint never reads (what
        `project_value` answers None at once), as one `QualRef` per name and file. `nn` and `torch`
        are looked up for nearly every layer and call of a model's code."""
        ref = self.library_refs.get(qualified)
        if ref is None:
            if qualified.partition(".")[0] not in NEVER_FOLLOWED:
                return None
            ref = self.library_refs[qualified] = QualRef(canonical(qualified))
        return ref

    def star_imported(self, name: str) -> Any:
        """`name` from a module of the project this one imports everything from (`from .evo_norm
        import *`): a public name it binds (its `__all__` is not read)."""
        ctx = self.ctx
        if ctx.star_imports is None:
            ctx.star_imports = star_imports(ctx.module)
        if name.startswith("_"):
            return UNKNOWN
        for source in ctx.star_imports:
            found = self.project_value(f"{source}.{name}" if not source.endswith(".") else source + name)
            if found is not None:
                return found
        return UNKNOWN

    def run_module_level(self, items: list[cst.CSTNode] | None = None) -> dict[str, Any]:
        """Evaluate module-level code in order: constants, configs, layer lists built in loops and
        module-level models (or only `items` of it, for another module). Calls of the file's own
        functions as statements (`train(model)`) and the `if __name__ == "__main__":` block are
        not run: that is training code, not model code. A class defined again (a notebook's cells)
        means the definition in force at that point."""
        for item in module_level_items(self.module) if items is None else items:
            if isinstance(item, cst.ClassDef):
                self.globals[item.name.value] = self.ctx.class_defs[item]
                continue
            try:
                self.reset_budget()
                if isinstance(item, cst.BaseSmallStatement):
                    self.exec_small(item, self.globals, None)
                else:
                    self.exec_statement(item, self.globals, None)
            except (OutOfBudget, RecursionError, FunctionReturn, Break, Continue):
                continue
            if self.ctx.local and isinstance(item, cst.Assign) and len(item.targets) == 1 and isinstance(item.targets[0].target, cst.Name):
                target = item.targets[0].target  # what this very statement bound (`model = Net()`)
                self.module_assignments.append((target, self.globals.get(target.value)))
        return self.globals


_STAYING = nullcontext()


class _Entered:
    """`ModuleResolution.entered` another module: its names while inside; on the way out, the
    gaps of its `if`s that cannot change a model are dropped."""

    def __init__(self, resolution: ModuleResolution, ctx: ModuleContext) -> None:
        self.resolution, self.ctx = resolution, ctx

    def __enter__(self) -> None:
        resolution = self.resolution
        self.outer, resolution.ctx = resolution.ctx, self.ctx
        self.reasons = resolution.reasons
        self.mark = len(self.reasons)

    def __exit__(self, *exc: object) -> None:
        self.resolution.ctx = self.outer
        reasons, mark = self.reasons, self.mark
        if not self.ctx.local and any(r.gap is Gap.UNKNOWN_BRANCH for r in reasons[mark:]):
            harmless = harmless_branches(self.ctx.module)  # the gap of an `if` that cannot change a model goes
            reasons[mark:] = [r for r in reasons[mark:]
                              if r.gap is not Gap.UNKNOWN_BRANCH or getattr(r.site, "node", None) not in harmless]  # fmt: skip


_MODULE_REF = re.compile(r"^(<module [^>]*>)((?:\.\w+)*)$")


class _ProjectState:
    """What one checked file knows of its project: the project, the modules read (by
    `ModuleResolution.siblings`), the values of modules, and the import targets resolved."""

    def __init__(self, home: ModuleContext) -> None:
        self.home = home
        self.home_path = home.path.resolve() if home.path is not None else None
        self.project: Project | None = find_project(self.home_path) if self.home_path is not None else None
        self.refs: dict[str, ModuleContext] = {}
        self.ref_of: dict[int, QualRef] = {}
        self.resolved: dict[tuple[int, str, bool], Any] = {}
        self.bytes_read = 0
        self._folders: dict[int, Path | None] = {}

    def folder(self, ctx: ModuleContext) -> Path | None:
        """The resolved folder of a module, where its imports are looked up from."""
        if id(ctx) not in self._folders:
            path = self.home_path if ctx is self.home else ctx.path
            self._folders[id(ctx)] = None if path is None else path.parent
        return self._folders[id(ctx)]


#: Bases whose attributes vglint knows without reading them: `object`, the typing helpers, and
#: `nn.Module` (its own attributes are `layers.MODULE_API`).
_READ_BASES = frozenset({"object", "builtins.object", "typing.Generic", "typing.Protocol", "torch.nn.Module"})


@functools.lru_cache(maxsize=128)
def _parse_sibling(path: str, mtime_ns: int) -> tuple[SiblingSource, dict[str, str], tuple[Any, Any]]:
    """A project module's source, imports and module level (its statements, and which of them bind
    or change each name), read once per process (timm's `_builder.py` is imported by a hundred
    model files); the mtime keeps the cache honest."""
    source = SiblingSource(Path(path).read_bytes())
    return source, import_table(source.module), module_level_index(source.module)


def _class_info(statement: cst.ClassDef, ctx: ModuleContext) -> ClassInfo:
    """The class `statement` of module `ctx`: its bases, methods and class-level assignments."""
    methods, assigns = _members(statement)
    bases = [arg.value for arg in statement.bases if arg.keyword is None]
    info = ClassInfo(statement, statement.name.value, bases, methods, assigns, ctx)
    ctx.class_defs[statement] = info
    return info


class _DeferredClassInfo(ClassInfo):
    """A class of another module, its bases and the names of its members known from its
    `ClassShape`; libcst parses its body when its node or the value of one of its members is
    first asked for (most of a framework's mixins are only looked through for a method they lack)."""

    def __init__(self, source: SiblingSource, lines: tuple[int, int], ctx: ModuleContext) -> None:  # (not the dataclass's)
        shape = source.class_shapes[lines]
        self.name, self.ctx, self.bases = shape.name, ctx, source.base_expressions(shape)
        self._source, self._lines, self._shape = source, lines, shape
        self.methods = DeferredMembers(shape.methods, lambda name: self._member("method", name), lambda: self._body()[0])
        self.assigns = DeferredMembers(shape.assigns, lambda name: self._member("assign", name), lambda: self._body()[1])

    def decorated(self, name: str) -> bool:
        return name in self._shape.decorators

    def may_mention(self, word: str) -> bool:
        return "node" in self.__dict__ or word in self._source.text(self._lines)

    def _member(self, kind: str, name: str) -> Any:
        """One method (`kind` "method") or class-level assignment ("assign"), parsed on its own;
        None where its lines do not parse alone (a statement sharing the line of the class's colon)."""
        lines = self._shape.member_lines.get((kind, name))
        if lines is None:
            return None
        try:
            return _members(self._source.class_member(lines))[0 if kind == "method" else 1].get(name)
        except Exception:
            return None

    def __getattr__(self, name: str) -> Any:
        if name == "node":  # set on the instance by `_body`, after which this is not called for it
            self._body()
            return self.__dict__["node"]
        raise AttributeError(name)

    def _body(self) -> tuple[dict[str, cst.FunctionDef], dict[str, cst.BaseExpression]]:
        statement = self._source.definition(self._lines)
        assert isinstance(statement, cst.ClassDef)
        if "node" not in self.__dict__:
            self.__dict__["node"] = statement
            self.ctx.class_defs[statement] = self
        return _members(statement)


def _members(statement: cst.ClassDef) -> tuple[dict[str, cst.FunctionDef], dict[str, cst.BaseExpression]]:
    """A class's methods and class-level assignments (`expansion = 4`, `expansion: int = 4`), by name."""
    methods, assigns = {}, {}
    for item in class_body(statement):
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
    return methods, assigns


def _dotted_module(path: Path) -> str | None:
    """`transformers.modeling_utils` for .../transformers/modeling_utils.py: the module's name from
    outside its top-level package."""
    base = import_base(path.parent)
    try:
        parts = list(path.relative_to(base).with_suffix("").parts)
    except ValueError:
        return None
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or None
