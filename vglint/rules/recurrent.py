"""Recurrent models: plain RNNs over long sequences, and training them without clipping (VG201, VG202)."""

from __future__ import annotations

from collections.abc import Iterator

from vglint.findings import Finding, Severity
from vglint.ir import Kind, Layer, ModelGraph
from vglint.layers import NN_CLASSES, PLAIN_RECURRENT
from vglint.rules.base import PROBE_HORIZON_OPTIONS, Option, Rule, located


def _known_length(layer: Layer, graph: ModelGraph, ctx) -> tuple[int, str] | None:
    """The sequence length the RNN sees and what it is based on: a tensor fed to the model in the
    file (its time dimension), the largest length-named constant, or, when the code does not say,
    `sequence-length` in the configuration."""
    training = ctx.training
    if layer.recurrent is not None and layer.recurrent.steps is not None:  # `for t in range(400):` in forward
        return layer.recurrent.steps, f"the loop's {layer.recurrent.steps} steps, line {layer.span.line}"
    fed = training.fed_shapes.get(graph.name, []) + training.fed_shapes.get(layer.site, [])
    time_dim = 1 if (layer.recurrent is not None and layer.recurrent.batch_first) or layer.op == "RNNCell" else 0
    for tensor in fed:
        shape, made_by = tensor.shape, tensor.made_by
        if len(shape) > time_dim and isinstance(shape[time_dim], int) and made_by is not None:
            return shape[time_dim], f"{made_by.text}, line {made_by.span.line}"
    constants = training.length_constants
    if constants:
        best = max(constants, key=lambda c: c.value)
        return best.value, f"{best.name} = {best.value}, line {best.site.span.line}"
    if ctx.sequence_length:
        return ctx.sequence_length, "sequence-length in [tool.vglint]"
    return None


class PlainRNNLongSequence(Rule):
    """
    ## What it does
    Finds a model that uses `nn.RNN` or `nn.RNNCell` (tanh or ReLU) over sequences known to be
    long: `min-seq-len` steps or more. Evidence of the length, in order: a tensor built in the
    same file and fed to the model (`torch.randn(B, 1000, F)` with `batch_first=True`, time-major
    otherwise); the largest module or class constant whose name says sequence length (`SEQ_LEN`,
    `max_len`, `WINDOW`, `CONTEXT_LENGTH`, `BLOCK_SIZE`, `num_steps`); and only when the code shows
    neither, `sequence-length` in `[tool.vglint]`. Without evidence the finding is `info`
    ("sequence length unknown"). Reported at the `nn.RNN(...)` construction.

    ## Why is this bad?
    Backpropagation through time multiplies the recurrent Jacobian once per step. For a plain
    RNN its norm is usually below 1, so the gradient from step t reaching step t-k shrinks like
    lambda^k: a default `nn.RNN` keeps about 1e-6 of it over 20 steps, and nothing that happened
    more than a few dozen steps back can be learned.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    SEQ_LEN = 1000

    class CharRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(64, 128, batch_first=True)
            self.out = nn.Linear(128, 64)

        def forward(self, x):
            h, _ = self.rnn(x)
            return self.out(h)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    SEQ_LEN = 1000

    class CharRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(64, 128, batch_first=True)
            self.out = nn.Linear(128, 64)

        def forward(self, x):
            h, _ = self.rnn(x)
            return self.out(h)
    ```

    ## References
    - Bengio, Simard & Frasconi, *Learning long-term dependencies with gradient descent is difficult*, 1994
    - Pascanu, Mikolov & Bengio, *On the difficulty of training recurrent neural networks*, ICML 2013
    - Jozefowicz et al., *An Empirical Exploration of Recurrent Network Architectures* (forget-gate bias 1), ICML 2015
    """

    code = "VG201"
    name = "plain-rnn-long-sequence"
    severity = Severity.WARNING
    message = (
        "plain {rnn} over sequences of {_length}: its gradient vanishes over long sequences; "
        "use nn.LSTM or nn.GRU (forget-gate bias 1), truncated backpropagation or gradient clipping"
    )
    fix = "use nn.LSTM or nn.GRU (forget-gate bias 1), truncate backpropagation through time, or clip gradients"
    summary = "nn.RNN / nn.RNNCell over sequences known to be long"
    example_lines = (9,)
    options = (Option("min-seq-len", 100, "shortest sequence length that is reported as long"), *PROBE_HORIZON_OPTIONS)

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        for layer in graph.declared:
            hand_written = layer.op == "recurrence" and layer.recurrent is not None
            if layer.kind is not Kind.RECURRENT or not (layer.op in PLAIN_RECURRENT or hand_written):
                continue
            if hand_written and (layer.recurrent.gated or layer.recurrent.nonlinearity not in ("tanh", "relu")):
                continue  # gates (an LSTM written by hand) keep the gradient; VG201 is about plain cells
            known = _known_length(layer, graph, ctx)
            rnn = f"{layer.recurrent.nonlinearity} recurrence written in forward" if hand_written else f"nn.{layer.op}"
            if known is None:
                yield self.finding(ctx.filename, located(layer, graph), model=graph.name, severity=Severity.INFO, rnn=rnn,
                                   sequence_length=None, length_source=None, _length="unknown length")  # fmt: skip
            elif known[0] >= self.settings["min-seq-len"]:
                length, source = known
                yield self.finding(ctx.filename, located(layer, graph), model=graph.name, rnn=rnn, sequence_length=length,
                                   length_source=source, _length=f"{length} steps ({source})")  # fmt: skip


class RNNWithoutGradientClipping(Rule):
    """
    ## What it does
    Finds a training loop (a function, or module-level code, that calls `.backward()` and an
    optimiser's or GradScaler's `step()`) in a file that defines or uses a recurrent layer
    (`nn.RNN`, `nn.LSTM`, `nn.GRU` or their cells), with no `clip_grad_norm_`/`clip_grad_value_`
    (or any call named `*clip*`, such as d2l's `grad_clipping`) in the loop or in a function of the
    same file that it calls. When the file also defines models that are not recurrent, the loop
    must refer to a recurrent model (its class, variable or factory) to be reported. It stays silent when clipping is
    configured elsewhere in the file (Lightning's `Trainer(gradient_clip_val=...)`, Accelerate's
    `accelerator.clip_grad_norm_`). Reported at the `.backward()` call.

    ## Why is this bad?
    Recurrent gradients vanish and explode for the same reason: a product of one Jacobian per time
    step. One exploding step writes NaNs or huge updates into the weights and undoes training;
    clipping the gradient norm is the standard fix (Pascanu et al. 2013) and is what makes
    truncated backpropagation through time stable.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.LSTM(16, 32)

    def train(batches, optimizer, loss_fn):
        for x, y in batches:
            out, _ = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            optimizer.step()
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.LSTM(16, 32)

    def train(batches, optimizer, loss_fn):
        for x, y in batches:
            out, _ = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    ```

    ## References
    - Pascanu, Mikolov & Bengio, *On the difficulty of training recurrent neural networks*, ICML 2013
    - [PyTorch: clip_grad_norm_](https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
    """

    code = "VG202"
    name = "rnn-without-gradient-clipping"
    severity = Severity.WARNING
    message = (
        "training loop in {function}() for a recurrent model ({rnn}) has no gradient clipping; "
        "call torch.nn.utils.clip_grad_norm_ before the optimiser step"
    )
    fix = "call torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm) between backward() and step()"
    summary = "a training loop for a recurrent model with no gradient clipping"
    options = PROBE_HORIZON_OPTIONS
    example_lines = (9,)

    def check_file(self, ctx) -> Iterator[Finding]:
        training = ctx.training
        # the file's own recurrent layers, or those of a model it builds from another file (`import model`)
        rnn = training.recurrent or next((f"nn.{layer.op}" for g in ctx.models for layer in g.declared
                                          if layer.kind is Kind.RECURRENT), None)  # fmt: skip
        if rnn is None or training.clipping_configured:
            return
        recurrent = {g.name for g in ctx.models if any(layer.kind is Kind.RECURRENT for layer in g.declared)}
        recurrent |= {name for name, op in NN_CLASSES.items() if op.kind is Kind.RECURRENT}
        other_models = any(
            g.declared and not any(layer.kind is Kind.RECURRENT for layer in g.declared) for g in ctx.models
        )
        for loop in training.loops:
            # In a file with other models too (d2l's library), the loop must refer to a recurrent one.
            if not loop.clips and (not other_models or loop.names & recurrent):
                yield self.finding(ctx.filename, loop.backward.span, function=loop.name, rnn=rnn)
