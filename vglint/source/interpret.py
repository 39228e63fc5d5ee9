"""An abstract interpreter for the parts of Python that build and run `nn.Module`s.

It runs `__init__` with constants it can know (literals, module-level names, default arguments,
arithmetic), so loops, list building, helper calls and submodule classes produce the real layer
objects; then it runs `forward` on a symbolic tensor whose value is the path of layers it went
through. Whatever it cannot know is `UNKNOWN`, and unknown things never produce layers: vglint
reports nothing on guesses, and records what it could not know as the model's `reasons`. A
`Budget` bounds every input.

The interpreter is one object, written in parts along the seams of the job, as mypy splits its
checker; each part is a class in its own module:

| part | module | what it does |
| --- | --- | --- |
| `ModuleResolution` | `modules.py` | names, imports, the project's other modules, classes and bases, the module level |
| `Statements` | `statements.py` | statements, dispatched by node type |
| `Expressions` | `expressions.py` | expressions, dispatched by node type |
| `Attributes` | `attributes.py` | attribute reads and writes, module paths |
| `Calls` | `calls.py` | calls of functions, methods and classes; how a class is built |
| `Stdlib` | `stdlib.py` | Python's built-in functions, `isinstance`, argparse |
| `TorchSemantics` | `torch_semantics.py` | torch layers, functions, init, Module/Tensor methods, losses, no-grad |
| `Forward` | `forward.py` | the forward pass on symbolic tensors and the lowering to IR layers |

The values it computes with are in `values.py` (constant arrays of torch and numpy in `consts.py`);
which file a module name means is `project.py`; training code is run by `training.py`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import libcst as cst

from vglint.analysis import TrainingFacts
from vglint.ir import Effect, Gap, Layer, Reason
from vglint.source.attributes import Attributes
from vglint.source.calls import Calls
from vglint.source.expressions import Expressions
from vglint.source.forward import Forward
from vglint.source.modules import ModuleResolution
from vglint.source.sites import Locator, NodeSite
from vglint.source.statements import Statements
from vglint.source.stdlib import Stdlib
from vglint.source.torch_semantics import TorchSemantics
from vglint.source.values import Budget, ClassInfo, Instance, LayerPath, ModuleContext, QualRef, Tensor


class Interpreter(ModuleResolution, Statements, Expressions, Attributes, Calls, Stdlib, TorchSemantics, Forward):
    """Interprets one file's model code; one instance per file, `reset_budget` per model."""

    def __init__(self, module: cst.Module, imports: dict[str, str], locator: Locator, filename: str = "") -> None:
        path = Path(filename) if filename.endswith(".py") else None
        self.ctx = self._context(module, imports, locator, path, local=True)
        self.siblings: dict[Path, ModuleContext | None] = {}
        self._bases: dict[int, list[Any]] = {}  # `bases_of`, `mro` and `base_names`, by id of the class
        self._mros: dict[int, list[ClassInfo]] = {}
        self._base_names: dict[int, frozenset[str]] = {}
        self._module_classes: dict[int, tuple[ClassInfo, bool]] = {}  # `is_module_class`, by id of the class
        self._dataclass_fields: dict[int, tuple[ClassInfo, Any]] = {}  # `Calls.dataclass_fields`, by id of the class
        # the methods that run each node type (`eval_Name`, `exec_If`), by node type, or None
        self.evaluators: dict[type, Any] = {}
        self.executors: dict[type, Any] = {}
        # `torch.nn.Linear`, `F.relu`, `math.sqrt`: names of libraries vglint never reads, by the
        # dotted name (`ModuleResolution.library_ref`)
        self.library_refs: dict[str, QualRef] = {}
        self.carried_names: dict[cst.For, set[str]] = {}  # the state each loop carries (`Forward.recurrence`)
        self.own_gradients: dict[int, bool] = {}  # classes that run their own backward (`TorchSemantics.computes_own_gradients`)
        self.generators: set[int] = set()  # functions known to yield, by id of their node (`Calls._run_function`)
        self.yielded: list[list[Any] | None] = []  # per function call running: what it has yielded, if a generator
        # The first construction of each of the file's classes with plain arguments (`_DenseBlock(
        # num_layers=6, ...)` in DenseNet), by id of the class: how a class whose `__init__`
        # requires arguments is built on its own (`frontend.build_models`).
        self.constructions: dict[int, tuple[list[Any], dict[str, Any], cst.Call, ModuleContext]] = {}
        self.budget = Budget()
        self.tick = self.budget.tick  # called for every statement and expression: one lookup less
        # What could not be understood of the model being interpreted (`self.norm = make_norm(d)`
        # with an unknown `make_norm`, a loop in forward): the model graph's reasons.
        self.reasons: list[Reason] = []
        self.recurrences: list[Layer] = []  # recurrences written out in forward, as recurrent layers
        # What each module of the current model gave when run on one tensor alone (`Forward.run_in_order`)
        self.single_input_runs: dict[tuple, tuple[Instance, LayerPath, Tensor]] = {}
        # Module-level `name = value` statements of the checked file and the value each one bound.
        self.module_assignments: list[tuple[cst.Name, Any]] = []
        self.assumptions: dict[str, None] = {}  # config values read from a config built with its defaults
        # Unknown branch tests forced to a value (by their test node), to see whether taking the
        # other branch would change the model (`frontend.settle_branches`).
        self.branch_overrides: dict[cst.CSTNode, bool] = {}
        self.facts = TrainingFacts()
        self.frozen_sites: set[cst.CSTNode] = set()  # construction calls of frozen layers
        self.training_code = False  # interpreting training code: unknown loops run once, losses are recorded
        self.no_grad = False  # inside `with torch.no_grad()`
        self.forward_depth = 0
        self.call_stack: list[cst.FunctionDef] = []
        self.backward_functions: set[cst.FunctionDef] = set()
        self.backward_scope = False  # running top-level code that calls `.backward()` itself
        self.assumed_model: str | None = None  # the model a training function's parameter was bound to
        # String options (`loss="binary"`) this analysis runs under, by parameter name: a parameter
        # of that name that is not given takes the value, in the model and the training code alike.
        self.option_values: dict[str, str] = {}
        self._roots = itertools.count(1)

    def release(self) -> None:
        """Drop the names of the modules read, once the file is analysed. A module's classes point
        back at it (`ClassInfo.ctx`), and its globals at its functions and classes: cycles that
        would keep the checked file's whole tree alive until the cyclic collector traverses it
        (`engine._settle_heap`), instead of freeing it as soon as the analysis is done."""
        for ctx in [self.ctx, *(c for c in self.siblings.values() if c is not None)]:
            ctx.classes.clear()
            ctx.class_defs.clear()
            ctx.globals.clear()
            ctx.functions.clear()

    def reset_budget(self) -> None:
        self.budget.reset()

    def begin_model(self) -> None:
        """A new model: what was not understood, the recurrences found and the config values
        assumed start afresh."""
        self.reasons = []
        self.recurrences = []
        self.assumptions = {}
        self.single_input_runs = {}

    def site(self, node: cst.CSTNode) -> NodeSite:
        """One site per node, so facts about a node (a tensor fed to a layer) can be keyed by it."""
        sites = self.ctx.sites
        found = sites.get(node)
        if found is None:
            found = sites[node] = NodeSite(node, self.locator, self.ctx.local)
        return found

    def gap(self, gap: Gap, node: cst.CSTNode) -> None:
        """Record what could not be understood of the current model, and where."""
        self.reasons.append(Reason(gap, self.site(node)))

    def forward_lost_since(self, mark: int) -> bool:
        """A gap since `mark` that lost the path of `forward`."""
        return any(r.gap.effect is Effect.APPROXIMATE for r in self.reasons[mark:])
