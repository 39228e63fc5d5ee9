"""Losses that saturate because they are fed probabilities instead of logits (VG301-VG304).

Each finding is reported at the loss call and names, as `related`, the sigmoid or softmax that
made the probabilities (when it is in the checked file): the full output shows both lines, JSON
has `related`, and a `# noqa` on either line suppresses the finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from vglint.analysis import FileAnalysis, LossUse
from vglint.findings import Finding, Severity
from vglint.layers import LOSS_CLASSES, LOSS_FUNCTIONS, Loss
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


def _loss(called_as: str) -> Loss | None:
    """The catalogue row of a loss as messages name it: `nn.BCELoss`, `F.mse_loss`."""
    prefix, _, name = called_as.partition(".")
    return LOSS_CLASSES.get(name) if prefix == "nn" else LOSS_FUNCTIONS.get(name)


def _uses(ctx: FileAnalysis, produced_by: str, *losses: str) -> Iterator[LossUse]:
    """The file's loss calls of `losses` (torch.nn class names) on the output of `produced_by`."""
    for use in ctx.training.loss_uses:
        row = _loss(use.loss)
        if use.produced_by == produced_by and row is not None and row.module in losses:
            yield use


def _with_related(finding: Finding, use: LossUse, note: str) -> Finding:
    """The finding with the sigmoid or softmax that caused it as its second place."""
    if use.related is not None:
        finding.related = use.related.span
        finding.related_note = note
    return finding


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
        for use in _uses(ctx, "sigmoid", "BCELoss"):
            finding = self.finding(ctx.filename, use.site.span, model=use.model, loss=use.loss,
                                   replacement=_logits_version(use.loss), **_assumed(use))  # fmt: skip
            yield _with_related(finding, use, "the sigmoid is applied here")


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
        for use in _uses(ctx, "softmax", "CrossEntropyLoss"):
            finding = self.finding(ctx.filename, use.site.span, model=use.model, loss=use.loss, **_assumed(use))
            yield _with_related(finding, use, "the softmax is applied here")


class SigmoidWithMSELoss(Rule):
    """
    ## What it does
    Finds a sigmoid output (an `nn.Sigmoid` last in the model, `torch.sigmoid` in the returned
    value, or inline) trained with `nn.MSELoss` or `F.mse_loss` on class targets, in training code.
    Reported at the loss call, with the sigmoid as the related place.

    The targets count as class targets only when the code shows it: the target, or what the
    function that calls the loss assigns to it, is a one-hot encoding (`F.one_hot(y, 10)`,
    `torch.eye(10)[y]`, `zeros(...).scatter_(1, y, 1)`) or a name, attribute or key that says
    labels (`labels`, `y_onehot`, `batch["label"]`), through `.float()`, `.to(device)`, `.view(...)`
    and the like. When the code does not show what the targets are (`criterion(out, y)` with `y`
    from a loader), vglint reports nothing: a sigmoid with MSE is a fair choice for a regression
    target in [0, 1] (an autoencoder's pixels), and a guess is never turned into a warning.

    ## Why is this bad?
    With `p = sigmoid(z)`, the gradient of `(p - y)^2 / 2` with respect to the logit is
    `sigmoid'(z) * (p - y) = p * (1 - p) * (p - y)`. When the prediction is confidently wrong
    (`z = -10` for a target of 1), `p * (1 - p)` is about 5e-5: the larger the error, the smaller
    the gradient, so wrong predictions are corrected slowest (the plateaus of early MNIST tutorials).
    Cross-entropy on the logits has the gradient `p - y` instead, which is largest exactly there.

    ## Example
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Sequential(nn.Linear(784, 10), nn.Sigmoid())
    criterion = nn.MSELoss()

    def train(images, labels, optimizer):
        loss = criterion(model(images), F.one_hot(labels, 10).float())
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(784, 10))
    criterion = nn.CrossEntropyLoss()

    def train(images, labels, optimizer):
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
    ```

    ## References
    - [Nielsen, Neural Networks and Deep Learning, ch. 3: the cross-entropy cost function](http://neuralnetworksanddeeplearning.com/chap3.html)
      ("the larger the error, the faster the neuron will learn", which the quadratic cost does not give)
    - [PyTorch: BCEWithLogitsLoss](https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
    """

    code = "VG303"
    name = "sigmoid-with-mse-loss"
    severity = Severity.WARNING
    message = ("sigmoid output trained with {loss} on class targets: the gradient sigmoid'(z)(sigmoid(z) - y) vanishes "
               "when a prediction is confidently wrong; train the logits with {replacement} or CrossEntropyLoss{_assumed}")  # fmt: skip
    fix = "return logits and use CrossEntropyLoss on class indices (one class per sample) or BCEWithLogitsLoss (multi-label)"
    summary = "a sigmoid output trained with MSELoss on class targets"
    example_lines = (8,)

    def check_file(self, ctx) -> Iterator[Finding]:
        for use in _uses(ctx, "sigmoid", "MSELoss"):
            if use.target == "class":
                finding = self.finding(ctx.filename, use.site.span, model=use.model, loss=use.loss,
                                       replacement=_logits_version(use.loss), **_assumed(use))  # fmt: skip
                yield _with_related(finding, use, "the sigmoid is applied here")


class LogOfSoftmax(Rule):
    """
    ## What it does
    Finds the log of softmax probabilities, `torch.log(F.softmax(x, dim))` or
    `F.softmax(x, dim).log()` (also with an `nn.Softmax` last in the model), fed to `nn.NLLLoss`
    or `F.nll_loss` in training code, or as the input of `nn.KLDivLoss` / `F.kl_div` (which expect
    log-probabilities too, as in distillation). Reported at the loss call, with the softmax as the
    related place. `F.log_softmax` (or `nn.LogSoftmax`) with `nll_loss` is the right pairing and is
    fine.

    ## Why is this bad?
    Softmax probabilities underflow: in float32 a logit 104 below the largest one gives a
    probability of exactly 0, and `log(0)` is `-inf`; the loss becomes `inf` and the backward pass
    multiplies `0 * inf`, which is NaN, into every weight. Before that point the gradient through
    `log(p)` is `(1 / p) * dp/dz`, a product of a huge and a tiny number that loses precision, and
    adding an epsilon (`log(p + 1e-8)`) makes the gradient of a confidently wrong prediction
    vanish instead. `log_softmax` computes `z - logsumexp(z)` directly: finite, exact, and its
    gradient is `p - y`.

    ## Example
    ```python
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Linear(784, 10)

    def train(images, labels, optimizer):
        loss = F.nll_loss(torch.log(F.softmax(model(images), dim=1)), labels)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Linear(784, 10)

    def train(images, labels, optimizer):
        loss = F.nll_loss(F.log_softmax(model(images), dim=1), labels)
        loss.backward()
        optimizer.step()
    ```

    ## References
    - [PyTorch: LogSoftmax](https://pytorch.org/docs/stable/generated/torch.nn.LogSoftmax.html)
    - [PyTorch: NLLLoss](https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html)
      ("Obtaining log-probabilities in a neural network is easily achieved by adding a LogSoftmax layer")
    """

    code = "VG304"
    name = "log-of-softmax"
    severity = Severity.WARNING
    message = ("log of softmax probabilities fed to {loss}: a probability that underflows to 0 gives log(0) = -inf "
               "and NaN gradients; use log_softmax{_assumed}")  # fmt: skip
    fix = "replace torch.log(F.softmax(x, dim)) with F.log_softmax(x, dim), or pass the logits to CrossEntropyLoss"
    summary = "torch.log of softmax probabilities fed to NLLLoss or KLDivLoss instead of log_softmax"
    example_lines = (8,)

    def check_file(self, ctx) -> Iterator[Finding]:
        for use in _uses(ctx, "log_of_softmax", "NLLLoss", "KLDivLoss"):
            finding = self.finding(ctx.filename, use.site.span, model=use.model, loss=use.loss, **_assumed(use))
            yield _with_related(finding, use, "the softmax is applied here")
