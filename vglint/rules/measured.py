"""Rules only the probe reports: what a measured backward pass shows and reading the code cannot."""

from __future__ import annotations

from vglint.findings import Severity
from vglint.rules.base import Option, Rule


class ExplodingGradient(Rule):
    """
    ## What it does
    Reports a model whose first weight layer, in a measured backward pass (`vglint check --probe`),
    gets far more relative gradient (‖∇W‖/‖W‖) than its last weight layer: more than 10,000 times
    as much by default. Reading the code cannot show this, so only the probe reports it.

    ## Why is this bad?
    Backpropagation multiplies one Jacobian per layer. When those factors are above 1, the
    gradient grows geometrically towards the input: the first layers take steps thousands of
    times larger than the last ones for the same learning rate, the loss spikes or turns NaN,
    and a learning rate small enough for the first layers leaves the last ones frozen. A healthy
    network sits well below the default: a ResNet-50-style net reads about 190 at initialisation
    and trains fine.

    ## Example
    A 60-layer MLP of `Linear → BatchNorm1d → ReLU` blocks without skip connections. BatchNorm
    makes the gradient grow towards the input at initialisation (Yang et al., 2019); the probe
    measures a first/last ratio of about 6e4 on torch 2.13 CPU, where 40 such layers read about 600.

    ## Use instead
    Add residual connections around the blocks (a ResNet of the same depth reads about 100), keep a
    variance-preserving init (`kaiming_normal_`), and clip gradients (`clip_grad_norm_`) while training.

    ## References
    - [Pascanu et al., On the difficulty of training recurrent neural networks (2013)](https://arxiv.org/abs/1211.5063)
    - [Yang et al., A Mean Field Theory of Batch Normalization (2019)](https://arxiv.org/abs/1902.08129)
    """

    code = "VG106"
    name = "exploding-gradient"
    severity = Severity.WARNING
    message = "the first weight layer ({first_layer}) gets {_ratio} times the last layer's relative gradient (measured)"
    fix = "add residual connections, use a variance-preserving init, and clip gradients while training"
    summary = "probe only: the measured first/last gradient ratio is far above 1"
    options = (Option("ratio-above", 1e4, "measured first/last relative-gradient ratios above this are reported"),)
    measured = True
