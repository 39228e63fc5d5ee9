"""Import a file's definitions without running it: imports, defs, classes and the assignments they need.

A training script's module level trains, downloads and writes; the probe needs only its model. So the
file is parsed, and of its module-level statements only these run, in file order, each on its own:

- `import` / `from` statements (one that fails leaves its names undefined);
- `def` and `class` statements;
- `if` / `try` blocks made only of those and of assignments without calls (`try: import apex`
  `except ImportError: apex = None`), never `if __name__ == "__main__":`;
- the assignments that bind a name a kept definition refers to (as a global, so a function's
  locals do not count) or a name the caller needs (the model variable), and, transitively, the
  earlier assignments those assignments refer to; an `if` made only of assignments counts as one
  (`if use_cuda: device = ...` / `else: device = ...`), its test run as the file runs it.

Loops, bare calls, `with` blocks and every other statement are skipped. Stdlib only.
"""

from __future__ import annotations
import __future__

import ast
import itertools
import os
import re
import symtable
import sys
import types

#: Per module: the names whose statement raised, with "line N: Type: message", for build errors to cite.
FAILURES_ATTRIBUTE = "__vglint_failures__"

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)
_TRY_TYPES = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)
_counter = itertools.count(1)


def load_definitions(path: str, project_root: str | None, needed: list[str], line: int | None = None,
                     name: str | None = None) -> types.ModuleType:  # fmt: skip
    """A fresh module holding `path`'s definitions and the assignments they (or `needed`) use.

    `line` and `name` say which model is built when a notebook-shaped file defines it again cell
    after cell: a module-level variable as it is at its `line` (only the statements above it have
    run, as in Python), a class or factory `name` as defined at `line` (its later redefinitions
    are not run).

    The module is named `vglint_probe_<stem>` (made unique), has `__file__` set and is registered in
    `sys.modules`; it is never `__main__`. The file's folder and `project_root` go to the front of
    `sys.path` first. A statement that raises leaves its names undefined; `FAILURES_ATTRIBUTE` on the
    module maps those names to why. A file that does not parse raises `SyntaxError`.
    """
    path = os.path.abspath(path)
    with open(path, "rb") as handle:
        source = handle.read()
    tree = ast.parse(source, filename=path)
    flags = _future_flags(tree)
    package, package_parent = _package_of(path)
    src = os.path.join(project_root, "src") if project_root else None
    for folder in (src if src and os.path.isdir(src) else None, package_parent, project_root, os.path.dirname(path)):
        if folder:
            _to_front_of_path(os.path.abspath(folder))

    module = _fresh_module(path, package)
    failures: dict[str, str] = {}
    setattr(module, FAILURES_ATTRIBUTE, failures)
    argv, sys.argv = sys.argv, [path]  # run as a script with no arguments: `parse_args()` gives the defaults
    try:
        _run(statements_to_run(tree, needed), module, path, flags, line, name, failures)
    finally:
        sys.argv = argv
    return module


def _run(statements: list[ast.stmt], module: types.ModuleType, path: str, flags: int, line: int | None,
         name: str | None, failures: dict[str, str]) -> None:  # fmt: skip
    """Each statement on its own, in the module: one that raises leaves its names undefined."""
    for statement in statements:
        if line is not None and statement.lineno > line and (name is None or name in _bound_names(statement)):
            continue  # after the variable's line, or a later definition of the class or factory
        code = compile(ast.Module(body=[statement], type_ignores=[]), path, "exec", flags=flags, dont_inherit=True)
        try:
            exec(code, module.__dict__)  # noqa: S102 - running the definitions is the point
        except (Exception, SystemExit) as error:  # noqa: BLE001 - any failure leaves the names undefined
            reason = f"line {statement.lineno}: {type(error).__name__}: {error}"
            for bound in _bound_names(statement):
                failures[bound] = reason


def statements_to_run(tree: ast.Module, needed: list[str]) -> list[ast.stmt]:
    """The module-level statements `load_definitions` runs, in file order."""
    definitions = {id(s) for s in tree.body if isinstance(s, _DEFINITIONS) or _is_declarative_block(s)}
    wanted = set(needed)
    for statement in tree.body:
        if id(statement) in definitions:
            wanted |= _global_references(statement)
    imported = {name for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom)) for name in _bound_names(s)}
    kept = set(definitions)
    # Backwards, so an assignment pulls in only the earlier assignments its value reads.
    for statement in reversed(tree.body):
        if (
            (isinstance(statement, _ASSIGNMENTS) and (_binds_wanted(statement, wanted, imported) or _plain(statement)))
            or _builds_wanted(statement, wanted, imported)
            or _assigns_wanted_conditionally(statement, wanted, imported)
            or _configures_wanted(statement, wanted, imported)
        ):
            kept.add(id(statement))
            wanted |= _global_references(statement)
    return [s for s in tree.body if id(s) in kept]


def _plain(statement: ast.stmt) -> bool:
    """An assignment of names to names or literals, with no call (`nn_Module = nn.Module`,
    `WIDTH = 64`): harmless, and code may reach it in ways no name shows (`sys.modules[__name__]`)."""
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    return (
        all(isinstance(t, ast.Name) for t in targets) and statement.value is not None and not _has_call(statement.value)
    )


def _binds_wanted(statement: ast.stmt, wanted: set[str], imported: set[str]) -> bool:
    if isinstance(statement, ast.AnnAssign) and statement.value is None:
        return False
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    for target in targets:
        if _target_names(target) & wanted:
            return True
        # `cfg.width = 32` changes what `cfg` is; `os.environ[...] = ...` configures a module: skipped.
        if _mutated_names(target) & (wanted - imported):
            return True
    return False


#: Methods that configure the object they are called on: an argument parser the model's code reads.
_CONFIGURING_METHODS = frozenset({"add_argument", "set_defaults"})


def _configures_wanted(statement: ast.stmt, wanted: set[str], imported: set[str]) -> bool:
    """`parser.add_argument("--bptt", type=int, default=500)` when `args = parser.parse_args()` is
    needed: the parser is what the model's sizes are read from."""
    call = statement.value if isinstance(statement, ast.Expr) else None
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in _CONFIGURING_METHODS | _BUILDING_METHODS
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id in wanted - imported
    )


def _assigns_wanted_conditionally(statement: ast.stmt, wanted: set[str], imported: set[str]) -> bool:
    """An `if` made only of assignments, one of which binds a name the model needs: `if use_cuda:
    device = torch.device("cuda")` / `else: device = torch.device("cpu")` is an assignment of
    `device`, run with its test as the file runs it. Never `if __name__ == "__main__":`."""
    if not isinstance(statement, ast.If) or _tests_main(statement.test):
        return False
    assignments = _conditional_assignments(statement)
    return assignments is not None and any(_binds_wanted(a, wanted, imported) for a in assignments)


def _conditional_assignments(statement: ast.If) -> list[ast.stmt] | None:
    """The assignments of an `if` (and its `elif`s and `else`) made only of them, else None."""
    found: list[ast.stmt] = []
    for inner in statement.body + statement.orelse:
        if isinstance(inner, _ASSIGNMENTS):
            found.append(inner)
        elif isinstance(inner, ast.If) and not _tests_main(inner.test):
            nested = _conditional_assignments(inner)
            if nested is None:
                return None
            found += nested
        elif not isinstance(inner, ast.Pass):
            return None
    return found


#: List and module methods a layer-building loop calls on what it builds.
_BUILDING_METHODS = frozenset({"append", "extend", "insert", "add_module", "update"})


def _builds_wanted(statement: ast.stmt, wanted: set[str], imported: set[str]) -> bool:
    """A module-level `for` that only builds what the model needs: `for _ in range(20): layers +=
    [nn.Sigmoid(), nn.Linear(256, 256)]`. Every statement of its body assigns to, or calls
    `append`/`extend`/`add_module`... on, names the model needs, so a training loop (which binds a
    `loss`, calls `backward()`) is never one."""
    if not isinstance(statement, ast.For) or statement.orelse:
        return False
    loop_names = _target_names(statement.target)
    for inner in statement.body:
        if isinstance(inner, _ASSIGNMENTS):
            targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
            changed = set().union(*(_target_names(t) | _mutated_names(t) for t in targets))
        elif (
            isinstance(inner, ast.Expr)
            and isinstance(inner.value, ast.Call)
            and isinstance(inner.value.func, ast.Attribute)
            and inner.value.func.attr in _BUILDING_METHODS
            and isinstance(inner.value.func.value, ast.Name)
        ):
            changed = {inner.value.func.value.id}
        else:
            return False
        if not changed or not changed <= (wanted - imported) | loop_names:
            return False
    return True


def _is_declarative_block(statement: ast.stmt) -> bool:
    """An `if`/`try` block that only imports, defines and assigns without calls."""
    if isinstance(statement, ast.If):
        if _has_call(statement.test) or _tests_main(statement.test):
            return False
        return all(map(_is_declarative, statement.body + statement.orelse))
    if isinstance(statement, _TRY_TYPES):
        handlers = [s for handler in statement.handlers for s in handler.body]
        blocks = statement.body + handlers + statement.orelse + statement.finalbody
        return all(map(_is_declarative, blocks))
    return False


def _is_declarative(statement: ast.stmt) -> bool:
    if isinstance(statement, (*_DEFINITIONS, ast.Pass)):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True
    if isinstance(statement, _ASSIGNMENTS):
        return not _has_call(statement)
    return _is_declarative_block(statement)


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _tests_main(test: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(test))


def _global_references(statement: ast.stmt) -> set[str]:
    """Names the statement reads from the module's globals (a function's own locals excluded)."""
    try:
        table = symtable.symtable(ast.unparse(statement), "<statement>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    pending = list(table.get_children())
    while pending:
        child = pending.pop()
        names |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        pending.extend(child.get_children())
    return names


def _bound_names(statement: ast.stmt) -> set[str]:
    """Module-level names the statement binds (or, for `x.a = ...`, changes)."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names if alias.name != "*"}
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, ast.Assign):
        return set().union(*(_target_names(t) | _mutated_names(t) for t in statement.targets))
    if isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
        return _target_names(statement.target) | _mutated_names(statement.target)
    names: set[str] = set()
    for child in ast.iter_child_nodes(statement):
        if isinstance(child, ast.stmt):
            names |= _bound_names(child)
        elif isinstance(child, ast.excepthandler):
            for inner in child.body:
                names |= _bound_names(inner)
    return names


def _target_names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*map(_target_names, target.elts))
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


def _mutated_names(target: ast.expr) -> set[str]:
    if isinstance(target, (ast.Attribute, ast.Subscript)):
        base = target.value
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        return {base.id} if isinstance(base, ast.Name) else set()
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*map(_mutated_names, target.elts))
    if isinstance(target, ast.Starred):
        return _mutated_names(target.value)
    return set()


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            for alias in statement.names:
                feature = getattr(__future__, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    return flags


def _package_of(path: str) -> tuple[str | None, str | None]:
    """The dotted package holding `path` (folders with `__init__.py`) and the folder above it."""
    parts: list[str] = []
    folder = os.path.dirname(path)
    while os.path.isfile(os.path.join(folder, "__init__.py")) and os.path.basename(folder).isidentifier():
        parts.insert(0, os.path.basename(folder))
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not parts and os.path.basename(folder).isidentifier():
        # no __init__.py: the folder is a namespace package to code that imports relatively from it
        return os.path.basename(folder), os.path.dirname(folder)
    return (".".join(parts), folder) if parts else (None, None)


def _fresh_module(path: str, package: str | None) -> types.ModuleType:
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0]) or "module"
    name = f"vglint_probe_{stem}"
    while name in sys.modules:
        name = f"vglint_probe_{stem}_{next(_counter)}"
    module = types.ModuleType(name)
    module.__file__ = path
    module.__package__ = package or ""
    sys.modules[name] = module
    return module


def _to_front_of_path(folder: str) -> None:
    while folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
