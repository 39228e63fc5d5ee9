"""Losses that saturate because they are fed probabilities instead of logits (VG301, VG302)."""

from __future__ import annotations

from collections.abc import Iterator

from vglint.findings import Finding, Severity
from vglint.layers import LOSS_CLASSES, LOSS_FUNCTIONS
from vglint.rules.base import Rule


def _assumed(use) -> dict:
    """Evidence for a loss found only under an assumption: a training function's model parameter
    bound to one of the file's models, or a string option (`loss="binary"`). The message says which."""
    evidence: dict = {"_assumed": ""}
    if use.model is not None:
        evidence.update(assumed_model=use.model, _assumed=f" (model: {use.model}, assumed)")
    if use.under is not None:
        evidence.update(option=use.under, _assumed=evidence["_assumed"] + f" (with {use.under})")
    return evidence


def _logits_version(called_as: str) -> str:
    """`nn.BCEWithLogitsLoss` for `nn.BCELoss`, `F.binary_cross_entropy_with_logits` for the functional."""
    prefix, _, name = called_as.partition(".")
    if prefix == "nn":
        return f"nn.{LOSS_CLASSES[name].instead[0]}"
    return f"F.{LOSS_FUNCTIONS[name].instead[1]}"


class SigmoidWithBCELoss(Rule):
    """
    ## What it does
    Finds probabilities from a sigmoid (an `nn.Sigmoid` last in the model, `torch.sigmoid` in the
    returned value, or inline as in `F.binary_cross_entropy(torch.sigmoid(x), y)`) fed to
    `nn.BCELoss` or `F.binary_cross_entropy` in training code (a function that calls
    `.backward()`, what it calls, or a Lightning `training_step`). A sigmoid used only for
    prediction, under `torch.no_grad()` or outside training, is fine. Reported at the loss call.

    ## Why is this bad?
    Once the logit saturates, the sigmoid rounds to exactly 0 or 1 in floating point and BCELoss
    clamps its log at -100: with a logit of 30 and target 0 the gradient is exactly 0, so a
    confidently wrong prediction is never corrected. `BCEWithLogitsLoss` computes the same loss
    from the logit with the log-sum-exp trick and gives a gradient of 1 there.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())
    criterion = nn.BCELoss()

    def train(x, y, optimizer):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(8, 1))
    criterion = nn.BCEWithLogitsLoss()

    def train(x, y, optimizer):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## References
    - [PyTorch: BCEWithLogitsLoss](https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
      ("more numerically stable than using a plain Sigmoid followed by a BCELoss")
    """

    code = "VG301"
    name = "sigmoid-with-bce-loss"
    severity = Severity.WARNING
    message = "sigmoid output fed to {loss}: a saturated logit gets a zero gradient; drop the sigmoid and use {replacement}{_assumed}"
    fix = "return logits from the model and use BCEWithLogitsLoss (apply sigmoid only for prediction)"
    summary = "a sigmoid output fed to BCELoss instead of the logits version"
    example_lines = (7,)

    def check_file(self, ctx) -> Iterator[Finding]:
        for use in ctx.training.loss_uses:
            if use.produced_by == "sigmoid":
                yield self.finding(ctx.filename, use.site.span, model=use.model, loss=use.loss,
                                   replacement=_logits_version(use.loss), **_assumed(use))  # fmt: skip


class SoftmaxBeforeCrossEntropy(Rule):
    """
    ## What it does
    Finds softmax probabilities (`F.softmax`, `torch.softmax`, `x.softmax(dim)`, or an
    `nn.Softmax` last in the model) fed to `nn.CrossEntropyLoss` or `F.cross_entropy` in training
    code. Softmax used for metrics or prediction, and `log_softmax` with `nll_loss`, are fine.
    Reported at the loss call.

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` itself, so the model's softmax is applied twice. The
    second softmax squashes probabilities in [0, 1] into a nearly flat distribution: for logits
    [8, 0, 0] and a wrong target, the gradient is about 1900 times smaller than with the logits,
    and it shrinks further as the model grows confident.

    ## Example
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Linear(8, 3)

    def train(x, y, optimizer):
        loss = F.cross_entropy(F.softmax(model(x), dim=1), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Linear(8, 3)

    def train(x, y, optimizer):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## References
    - [PyTorch: CrossEntropyLoss](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
      ("The input is expected to contain the unnormalized logits for each class")
    """

    code = "VG302"
    name = "softmax-before-cross-entropy"
    severity = Severity.WARNING
    message = "softmax output fed to {loss}, which applies log-softmax itself: confident predictions get a vanishing gradient; pass the logits{_assumed}"
    fix = "pass the logits to the loss; apply softmax only for metrics or prediction"
    summary = "softmax probabilities fed to CrossEntropyLoss, which applies log-softmax itself"
    example_lines = (7,)

    def check_file(self, ctx) -> Iterator[Finding]:
        for use in ctx.training.loss_uses:
            if use.produced_by == "softmax":
                yield self.finding(ctx.filename, use.site.span, model=use.model, loss=use.loss, **_assumed(use))
