"""Code in `forward` that silently stops the gradient (VG401, VG402)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vglint.findings import Finding, Severity
from vglint.ir import Kind, Layer, Merge, ModelGraph, Path
from vglint.rules.base import Rule, located


def cut_layers(outputs: Iterable[Path]) -> dict[Layer, list[Layer]]:
    """For each gradient cut, the trainable layers that reach the model's outputs only through it.

    Walking backward from each output, a cut makes every earlier layer of its route dead; a merge
    keeps the route before it alive if any branch is (the straight-through `x + (q - x).detach()`),
    and a layer that reaches any output without a cut (a loss returned beside the prediction) is alive.
    """
    dead: dict[Layer, list[Layer]] = {}
    live: set[int] = set()
    memo: dict[tuple[int, int], Layer | None] = {}  # merges of merges share branches (DenseNet)

    def visit_branch(branch: Path, killer: Layer | None) -> Layer | None:
        key = (id(branch), id(killer))
        if key not in memo:
            memo[key] = visit(branch, killer)
        return memo[key]

    def visit(steps: Path, killer: Layer | None) -> Layer | None:
        for step in reversed(steps):
            if isinstance(step, Merge):
                outcomes = [visit_branch(branch, killer) for branch in step.branches]
                killer = None if any(k is None for k in outcomes) else outcomes[0]
            elif step.kind is Kind.CUT:
                killer = killer or step
            elif step.is_trainable:
                if killer is None:
                    live.add(id(step))
                else:
                    dead.setdefault(killer, []).append(step)
        return killer

    for path in outputs:
        visit(path, None)
    result: dict[Layer, list[Layer]] = {}
    for killer, layers in dead.items():
        names: list[Layer] = []
        for layer in reversed(layers):  # forward order
            if id(layer) not in live and layer not in names:
                names.append(layer)
        if names:
            result[killer] = names
    return result


def layer_list(layers: list[Layer]) -> str:
    names = list(dict.fromkeys(layer.name for layer in layers))
    if len(names) <= 3:
        return ", ".join(names)
    return f"{', '.join(names[:3])} and {len(names) - 3} more"


def _cut_findings(rule: Rule, graph: ModelGraph, ctx, no_grad: bool, evidence_key: str) -> Iterator[Finding]:
    """VG401 reports the cuts made by expressions, VG402 those made by no-grad regions."""
    for killer, layers in cut_layers(graph.outputs or [graph.path]).items():
        if killer.cut is None or killer.cut.is_region != no_grad:
            continue
        yield rule.finding(ctx.filename, located(killer, graph), model=graph.name, **{evidence_key: killer.cut.value},
                           layers=[layer.name for layer in layers], _layers=layer_list(layers))  # fmt: skip


class GradientCutInForward(Rule):
    """
    ## What it does
    Finds `.detach()`, `.detach_()`, `.data`, `.item()`, `.tolist()`, `.numpy()` or re-wrapping
    with `torch.tensor()`/`torch.as_tensor()` in `forward` (or a method it calls) where layers
    with trainable parameters reach the returned value *only* through the cut. The message names
    the layers that get no gradient. Values used only for logging, stored on attributes or used
    for control flow are fine, and so is the straight-through estimator `x + (q - x).detach()`,
    where the gradient still reaches `x`.

    ## Why is this bad?
    A cut returns a tensor with no history: the loss's gradient stops there, and every layer
    before it keeps its initial weights while training appears to run normally. The gradient
    is not small, it is exactly zero.

    ## Example
    ```python
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(32, 16)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            features = self.encoder(x).detach()
            return self.head(features)
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(32, 16)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            features = self.encoder(x)
            return self.head(features)
    ```

    ## References
    - [PyTorch: Autograd mechanics](https://pytorch.org/docs/stable/notes/autograd.html)
    - Bengio et al., *Estimating or Propagating Gradients Through Stochastic Neurons* (straight-through estimator), 2013
    """

    code = "VG401"
    name = "gradient-cut-in-forward"
    severity = Severity.WARNING
    message = "{cut} in forward cuts the gradient: {_layers} get no gradient from the output"
    fix = "remove the cut, or freeze those layers on purpose with requires_grad_(False)"
    summary = "detach(), .data, .item(), .numpy() or torch.tensor() on the path to the output"
    example_lines = (10,)

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        return _cut_findings(self, graph, ctx, no_grad=False, evidence_key="cut")


class NoGradInForward(Rule):
    """
    ## What it does
    Finds `torch.no_grad()`, `torch.inference_mode()` or `torch.set_grad_enabled(False)` in
    `forward` (or a method it calls, also as a `@torch.no_grad()` decorator) around submodules
    whose parameters still require grad. It stays silent when those
    parameters are frozen in the file (`requires_grad_(False)`, or `p.requires_grad = False` in a
    loop over their parameters), as for an EMA teacher or a frozen backbone.

    ## Why is this bad?
    Inside the block autograd records nothing, so the submodules used there get no gradient and
    never train, even though the optimiser holds their parameters and nothing warns.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(32, 16)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            with torch.no_grad():
                features = self.backbone(x)
            return self.head(features)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(32, 16)
            self.backbone.requires_grad_(False)  # frozen on purpose
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            with torch.no_grad():
                features = self.backbone(x)
            return self.head(features)
    ```

    ## References
    - [PyTorch: torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    - Grill et al., *Bootstrap Your Own Latent* (BYOL), NeurIPS 2020
    """

    code = "VG402"
    name = "no-grad-in-forward"
    severity = Severity.WARNING
    message = "{context} in forward around {_layers}, whose parameters still require grad: they get no gradient"
    fix = "move the no_grad block out of forward, or freeze those submodules with requires_grad_(False)"
    summary = "torch.no_grad()/inference_mode() in forward around trainable submodules"
    example_lines = (11,)

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        return _cut_findings(self, graph, ctx, no_grad=True, evidence_key="context")
