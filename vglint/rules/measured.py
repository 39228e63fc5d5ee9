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
    A 30-layer MLP whose weights are initialised with `nn.init.normal_(w, std=1.0)` (a gain of
    `fan_in` per layer instead of about 1): the probe measures a first/last ratio far above 1e4.

    ## Use instead
    Keep the default init or a variance-preserving one (`kaiming_normal_`, `xavier_uniform_`),
    add normalisation between the layers, and clip gradients (`clip_grad_norm_`) while training.

    ## References
    - [Pascanu et al., On the difficulty of training recurrent neural networks (2013)](https://arxiv.org/abs/1211.5063)
    - [He et al., Delving Deep into Rectifiers (2015)](https://arxiv.org/abs/1502.01852)
    """

    code = "VG106"
    name = "exploding-gradient"
    severity = Severity.WARNING
    message = "the first weight layer ({first_layer}) gets {_ratio} times the last layer's relative gradient (measured)"
    fix = "use a variance-preserving init, add normalisation, and clip gradients while training"
    summary = "probe only: the measured first/last gradient ratio is far above 1"
    options = (Option("ratio-above", 1e4, "measured first/last relative-gradient ratios above this are reported"),)
    measured = True
