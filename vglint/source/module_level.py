"""A module's top level, read without running it: the statements `run_module_level` runs, which
of them bind or change each name (another module's module level runs a name at a time), and the
`if`s of its helper functions that cannot change a model. Pure functions of the tree, walked over
statements only (a libcst visit of expressions costs about as much as the parse)."""

from __future__ import annotations

import functools

import libcst as cst

from vglint.source.names import dotted_name


def module_level_items(module: cst.Module) -> list[cst.CSTNode]:
    """The module-level code `run_module_level` runs, in order: assignments, `layers.append(...)`
    and `model.add_module(...)` statements, `for` loops, `if`s other than the `__main__` guard,
    and the definitions of a class defined more than once."""
    names = [s.name.value for s in module.body if isinstance(s, cst.ClassDef)]
    redefined = {name for name in names if names.count(name) > 1}
    items: list[cst.CSTNode] = []
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            items.extend(s for s in statement.body if _model_building(s))
        elif isinstance(statement, cst.For) or (isinstance(statement, cst.If) and not is_main_guard(statement)):
            items.append(statement)
        elif isinstance(statement, cst.ClassDef) and statement.name.value in redefined:
            items.append(statement)
    return items

def _model_building(small: cst.CSTNode) -> bool:
    if isinstance(small, (cst.Assign, cst.AugAssign)) or (isinstance(small, cst.AnnAssign) and small.value):
        return True
    # `layers.append(...)` and `model.add_module(...)`, not `train(model)`
    return isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and isinstance(small.value.func, cst.Attribute)


class LazyLevel:
    """Another module's module level, run a name at a time: `names` are the names it binds or
    changes, `todo` those whose statements have not run yet (per checked file)."""

    def __init__(self, items: tuple[cst.CSTNode, ...], binds: dict[str, tuple[int, ...]]) -> None:
        self.items = items
        self.binds = binds
        self.names = frozenset(binds)
        self.todo = set(binds)
        self.ran: set[int] = set()

    def take(self, name: str) -> list[cst.CSTNode]:
        """The statements about `name` that have not run yet, in order; they count as run now."""
        self.todo.discard(name)
        indices = [i for i in self.binds.get(name, ()) if i not in self.ran]
        self.ran.update(indices)
        return [self.items[i] for i in indices]


@functools.lru_cache(maxsize=128)  # by the tree's identity: once per parsed module, and only when a gap is in it
def harmless_branches(module: cst.Module) -> frozenset[cst.CSTNode]:
    """The tests of `if` statements, in another module's helper functions, that cannot change a
    model: the function returns nothing (a procedure, as torchvision's `_log_api_usage_once(self)`
    that every torchvision model calls), and each branch only binds local names to values made
    without a call, passes or raises. An unknown test there is no reason to doubt the model (the
    gap is dropped); anywhere else it is."""
    found: list[cst.CSTNode] = []
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef):
            quiet = _quiet_ifs(statement.body)  # a walk of its statements: cheaper than the visit below
            if quiet and not _returns_or_yields(statement.body):
                found.extend(quiet)
    return frozenset(found)


class _Effects(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Return(self, node: cst.Return) -> None:
        self.found = self.found or node.value is not None

    def visit_Yield(self, node: cst.Yield) -> None:
        self.found = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def _returns_or_yields(body: cst.BaseSuite) -> bool:
    effects = _Effects()
    body.visit(effects)
    return effects.found


class _Calls(_Effects):
    def visit_Call(self, node: cst.Call) -> None:
        self.found = True


def _quiet(block: cst.BaseSuite) -> bool:
    """Only `name = <no call>`, `pass`, `raise` and nested quiet `if`s."""
    for statement in block.body if isinstance(block, cst.IndentedBlock) else [block]:
        if isinstance(statement, cst.If):
            if not _quiet_if(statement):
                return False
            continue
        if not isinstance(statement, cst.SimpleStatementLine):
            return False
        for small in statement.body:
            if isinstance(small, (cst.Pass, cst.Raise)):
                continue
            if not isinstance(small, (cst.Assign, cst.AnnAssign)) or small.value is None:
                return False
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            calls = _Calls()
            small.value.visit(calls)
            if calls.found or not all(isinstance(t, cst.Name) for t in targets):
                return False
    return True


def _quiet_if(statement: cst.If) -> bool:
    orelse = statement.orelse
    if isinstance(orelse, cst.If):
        return _quiet(statement.body) and _quiet_if(orelse)
    return _quiet(statement.body) and (orelse is None or _quiet(orelse.body))


def _quiet_ifs(body: cst.BaseSuite) -> list[cst.CSTNode]:
    """The tests of the quiet `if`s among the statements of `body` (not inside loops or `with`)."""
    tests = []
    for statement in body.body if isinstance(body, cst.IndentedBlock) else []:
        current = statement
        while isinstance(current, cst.If) and _quiet_if(current):
            tests.append(current.test)
            current = current.orelse if isinstance(current.orelse, cst.If) else None
    return tests


def _bound_names(node: cst.CSTNode, names: set[str]) -> None:
    """Names that module-level code binds or changes: assignment and loop targets, the objects
    whose items or attributes it sets or whose methods it calls as a statement
    (`layers.append(...)`), and the classes and functions defined in top-level `if`/`for` blocks.
    A walk over statements only: expressions are not visited (a libcst visit costs about as much
    as the parse)."""
    if isinstance(node, cst.SimpleStatementLine):
        for small in node.body:
            _bound_names(small, names)
    elif isinstance(node, cst.Assign):
        for target in node.targets:
            _target_names(target.target, names)
    elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
        _target_names(node.target, names)
    elif isinstance(node, cst.Expr):
        call = node.value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):  # `layers.append(block)`
            _target_names(call.func.value, names)
    elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        names.add(node.name.value)
    elif isinstance(node, (cst.Import, cst.ImportFrom)):
        return
    elif isinstance(node, cst.BaseCompoundStatement):
        if isinstance(node, cst.For):
            _target_names(node.target, names)
        blocks = [node.body, getattr(node, "orelse", None), getattr(node, "finalbody", None),
                  *getattr(node, "handlers", ())]  # fmt: skip
        for block in blocks:
            if isinstance(block, cst.If):  # `elif`
                _bound_names(block, names)
            elif block is not None:
                suite = block if isinstance(block, cst.BaseSuite) else block.body  # a body, or an else/except/finally
                for statement in suite.body if isinstance(suite, cst.IndentedBlock) else [suite]:
                    _bound_names(statement, names)


def _target_names(node: cst.BaseExpression, names: set[str]) -> None:
    if isinstance(node, cst.Name):
        names.add(node.value)
    elif isinstance(node, (cst.Tuple, cst.List)):
        for element in node.elements:
            _target_names(element.value, names)
    elif isinstance(node, (cst.StarredElement, cst.Attribute, cst.Subscript)):  # `*rest`, `CONFIG["depth"] = 12`
        _target_names(node.value, names)


def module_level_index(module: cst.Module) -> tuple[tuple[cst.CSTNode, ...], dict[str, tuple[int, ...]]]:
    """The statements `run_module_level` runs, and for each name the statements that bind or change it."""
    items = tuple(module_level_items(module))
    binds: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        bound: set[str] = set()
        _bound_names(item, bound)
        for name in bound:
            binds.setdefault(name, []).append(index)
    return items, {name: tuple(indices) for name, indices in binds.items()}


def is_main_guard(statement: cst.If) -> bool:
    test = statement.test
    return isinstance(test, cst.Comparison) and dotted_name(test.left) == "__name__"
