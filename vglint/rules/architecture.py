"""Architecture rules: what the layer paths of a model do to its gradient (VG101-VG105)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from vglint.estimate import estimated_attenuation
from vglint.findings import Finding, Severity
from vglint.ir import Kind, Layer, Marker, ModelGraph, saturating_chains
from vglint.layers import TRANSFORMER_LAYERS
from vglint.rules.base import PROBE_RATIO_OPTIONS, Invalid, Option, Rule, located

_APPROXIMATE = " (forward not followed: layers in declaration order)"


def _lowered(severity: Severity, graph: ModelGraph) -> Severity:
    """A finding on a path guessed from declaration order is one step less certain."""
    return Severity(max(Severity.INFO, severity - 1)) if graph.approximate else severity


def _note(graph: ModelGraph) -> str:
    return _APPROXIMATE if graph.approximate else ""


def weight_layers(items: list[Layer | Marker]) -> list[Layer]:
    return [i for i in items if isinstance(i, Layer) and i.kind.counts_as_depth]


class SaturatingChain(Rule):
    """
    ## What it does
    Finds `min-chain` or more saturating activations (sigmoid, tanh, hardtanh, softsign,
    hardsigmoid, logsigmoid; module, functional and method forms) in a row on one path of a model,
    with no normalisation layer or skip connection between them. Weight layers, dropout and
    pooling between them do not break the chain; a block imported from another module, which
    vglint cannot see into, does (it may normalise). Reported at the first activation of the chain.

    ## Why is this bad?
    The derivative of a saturating activation is at most 1/4 (sigmoid) and falls to zero as its
    input grows. Backpropagation multiplies one such factor per layer, so the gradient reaching
    the early layers shrinks geometrically: with PyTorch's default init a 20-layer sigmoid MLP
    passes about 1e-17 of the gradient to its first layer, and those layers stop learning.

    ## Example
    ```python
    import torch.nn as nn

    class MLP(nn.Module):
        def __init__(self, depth=8):
            super().__init__()
            layers = []
            for _ in range(depth):
                layers += [nn.Linear(64, 64), nn.Sigmoid()]
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            return self.net(x)
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    class MLP(nn.Module):
        def __init__(self, depth=8):
            super().__init__()
            layers = []
            for _ in range(depth):
                layers += [nn.Linear(64, 64), nn.LayerNorm(64), nn.ReLU()]
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            return self.net(x)
    ```

    ## References
    - Glorot & Bengio, *Understanding the difficulty of training deep feedforward neural networks*, AISTATS 2010
    - Hochreiter, *Untersuchungen zu dynamischen neuronalen Netzen*, 1991
    """

    code = "VG101"
    name = "saturating-chain"
    severity = Severity.WARNING
    message = "{chain_length} saturating activations ({activations}) in a row with no normalisation or skip connection between them{_note}"
    fix = "use ReLU/GELU-family activations, or put a normalisation layer or a residual connection inside the chain"
    summary = "N or more saturating activations in a row on one path"
    example_lines = (8,)
    #: at initialisation tanh and sigmoid are not saturated yet, so a probe never refutes this rule
    options = (Option("min-chain", 4, "shortest run of saturating activations that is reported"), PROBE_RATIO_OPTIONS[0])
    invalid = (
        Invalid(
            "import torch.nn as nn\n\n"
            "net = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(8, 8), nn.Sigmoid())])\n",
            line=3,
        ),
    )
    valid = (
        "import torch.nn as nn\n\n"
        "net = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(8, 8), nn.ReLU())])\n",
    )

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        for chain in saturating_chains(graph.deepest):
            if len(chain) < self.settings["min-chain"]:
                continue
            kinds = sorted(Counter(layer.op for layer in chain).items(), key=lambda kv: (-kv[1], kv[0]))
            yield self.finding(
                ctx.filename,
                located(chain[0], graph),
                model=graph.name,
                severity=_lowered(self.severity, graph),
                chain_length=len(chain),
                activations=", ".join(op for op, _ in kinds),
                approximate=graph.approximate,
                _note=_note(graph),
            )


class GradientAttenuation(Rule):
    """
    ## What it does
    Estimates how much of the gradient at the last weight layer of a model's deepest path reaches
    its first weight layer, from signal-propagation theory: going backward, each weight layer
    multiplies the gradient's variance by `fan_out * Var(W)` (1/3 for square layers under
    PyTorch's default init, 1 under Kaiming init for ReLU), each activation by `E[phi'(h)^2]`
    (1/16 for sigmoid, 1/2 for ReLU); a normalisation layer resets the scale and a residual
    connection keeps an identity route. It stays silent when some layer of the model could not be
    resolved (an unknown factory may be a normalisation). It reports a warning when the estimate falls below
    `warn-below` and an error below `error-below`, naming the dominant cause.

    ## Why is this bad?
    When the first layers receive a millionth of the gradient of the last ones, they barely
    move: the network trains as if it were much shallower, or not at all. The estimate is checked
    against measurement: a 20-layer sigmoid MLP with default init predicts about 1e-17 and
    measures about 5e-18; an 11-layer tanh MLP predicts 2.4e-3 and measures 1.5e-3.

    ## Example
    ```python
    import torch.nn as nn

    layers = [nn.Linear(256, 256)]
    for _ in range(20):
        layers += [nn.Sigmoid(), nn.Linear(256, 256)]
    model = nn.Sequential(*layers)
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    layers = [nn.Linear(256, 256)]
    for _ in range(20):
        layers += [nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256)]
    model = nn.Sequential(*layers)
    ```

    ## References
    - Schoenholz et al., *Deep Information Propagation*, ICLR 2017
    - He et al., *Delving Deep into Rectifiers* (Kaiming init), ICCV 2015
    - Glorot & Bengio, AISTATS 2010
    """

    code = "VG102"
    name = "gradient-attenuation"
    severity = Severity.WARNING
    message = "estimated gradient attenuation {estimate:.1e} across {weight_layers} weight layers, mostly from {cause}{_note}"
    fix = "add normalisation or residual connections, use ReLU-family activations with Kaiming init, or make the model shallower"
    summary = "the estimated gradient attenuation along the deepest path is below a threshold"
    example_lines = (6,)
    options = (
        Option("warn-below", 1e-4, "estimates below this are warnings"),
        Option("error-below", 1e-8, "estimates below this are errors"),
        *PROBE_RATIO_OPTIONS,
    )
    invalid = (
        Invalid(
            "import torch.nn as nn\n\n"
            "layers = [nn.Linear(64, 64)]\n"
            "for _ in range(8):\n"
            "    layers += [nn.Sigmoid(), nn.Linear(64, 64)]\n"
            "model = nn.Sequential(*layers)\n",
            line=6,
        ),
    )
    valid = (
        "import torch.nn as nn\n\n"
        "layers = [nn.Linear(64, 64)]\n"
        "for _ in range(8):\n"
        "    layers += [nn.LayerNorm(64), nn.ReLU(), nn.Linear(64, 64)]\n"
        "model = nn.Sequential(*layers)\n",
    )

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        if graph.uncertain:  # an unresolved layer may be the normalisation that resets the scale
            return
        estimate = estimated_attenuation(graph.path)
        if estimate.attenuation >= self.settings["warn-below"]:
            return
        severity = Severity.ERROR if estimate.attenuation < self.settings["error-below"] else Severity.WARNING
        yield self.finding(
            ctx.filename,
            graph.span,
            model=graph.name,
            severity=_lowered(severity, graph),
            estimate=float(f"{estimate.attenuation:.3g}"),
            weight_layers=estimate.weight_layers,
            cause=self._cause(graph, estimate.dominant_cause),
            approximate=graph.approximate,
            _note=_note(graph),
        )

    @staticmethod
    def _cause(graph: ModelGraph, dominant: str) -> str:
        if dominant == "activation":
            activations = Counter(i.op for i in graph.deepest if isinstance(i, Layer) and i.kind is Kind.ACTIVATION)
            top = activations.most_common(1)[0][0] if activations else "activation"
            return f"{top} derivatives"
        inits = {i.init_name or "default" for i in weight_layers(graph.deepest) if i.kind is Kind.WEIGHT}
        return "weight initialisation (" + ", ".join(sorted(inits)) + " init)"


class MissingNormalization(Rule):
    """
    ## What it does
    Finds a model whose deepest path has `min-layers` or more weight layers (Linear, Conv, ...)
    and no normalisation layer (BatchNorm, LayerNorm, GroupNorm, RMSNorm, ...). It needs the path
    that `forward` really takes, so it stays silent when `forward` could not be followed or some
    layer could not be resolved (`self.norm = make_norm(dim)` with an unknown `make_norm`). When the estimated
    attenuation of that path stays healthy (above 0.1, thanks to Kaiming-style init), the finding
    is only `info`: the init compensates for now, but nothing holds the scale during training.

    ## Why is this bad?
    Without normalisation, the scale of activations and gradients drifts multiplicatively with
    depth; a deep plain network then depends entirely on its initialisation and learning rate,
    and its early layers often stop learning.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(64, 64), nn.Tanh())])
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    model = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(64, 64), nn.LayerNorm(64), nn.Tanh())])
    ```

    ## References
    - Ioffe & Szegedy, *Batch Normalization*, ICML 2015
    - Ba et al., *Layer Normalization*, 2016
    """

    code = "VG103"
    name = "missing-normalization"
    severity = Severity.WARNING
    message = "{weight_layers} weight layers on the deepest path and no normalisation layer"
    fix = "add BatchNorm/LayerNorm/GroupNorm between the weight layers"
    summary = "a path has N or more weight layers and no normalisation layer"
    example_lines = (3,)
    options = (Option("min-layers", 10, "fewest weight layers on a path that need a normalisation layer"), *PROBE_RATIO_OPTIONS)
    invalid = (
        Invalid(
            "import torch.nn as nn\n\n"
            "model = nn.Sequential(*[m for _ in range(10) for m in (nn.Linear(8, 8), nn.ReLU())])\n",
            line=3,
        ),
    )
    valid = (
        "import torch.nn as nn\n\n"
        "model = nn.Sequential(*[m for _ in range(10) for m in (nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU())])\n",
    )

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        if graph.approximate or graph.uncertain:  # an absence needs the real, fully resolved path
            return
        deepest = graph.deepest
        weights = weight_layers(deepest)
        if len(weights) < self.settings["min-layers"]:
            return
        if any(isinstance(i, Layer) and i.kind in (Kind.NORM, Kind.BLOCK) for i in deepest):
            return
        healthy = estimated_attenuation(graph.path).attenuation >= 0.1
        yield self.finding(
            ctx.filename,
            graph.span,
            model=graph.name,
            severity=Severity.INFO if healthy else self.severity,
            weight_layers=len(weights),
        )


class MissingSkipConnection(Rule):
    """
    ## What it does
    Finds a model whose deepest path has `min-layers` or more weight layers and no residual
    (`x + f(x)`) or dense (`torch.cat([x, f(x)])`) connection anywhere along it. Skips exist only
    in `forward`, so it stays silent when `forward` could not be followed or some layer could not be
    resolved. When a normalisation layer follows at least every other weight layer and the
    estimated attenuation stays healthy (above 0.1), the finding is only `info`: the gradient
    reaches the first layers at initialisation (a plain MobileNetV1 or VGG with BatchNorm trains),
    and what remains is the harder optimisation of deep plain networks that He et al. describe.

    ## Why is this bad?
    A skip connection gives the gradient an identity route around each block, so its size no
    longer depends on the product of every layer's Jacobian. Plain networks much deeper than
    about 20 layers train worse than shallower ones even with normalisation (He et al. 2016).

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(*[m for _ in range(20) for m in (nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU())])
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(64, 64, 3, padding=1)
            self.bn = nn.BatchNorm2d(64)

        def forward(self, x):
            return x + self.bn(self.conv(x)).relu()

    model = nn.Sequential(*[Block() for _ in range(20)])
    ```

    ## References
    - He et al., *Deep Residual Learning for Image Recognition*, CVPR 2016
    - Huang et al., *Densely Connected Convolutional Networks*, CVPR 2017
    """

    code = "VG104"
    name = "missing-skip-connection"
    severity = Severity.WARNING
    message = "{weight_layers} weight layers on the deepest path and no residual or dense connection"
    fix = "add residual connections (x + f(x)) around blocks of layers"
    summary = "a path has N or more weight layers and no residual or dense connection"
    example_lines = (3,)
    options = (Option("min-layers", 20, "fewest weight layers on a path that need a skip connection"), *PROBE_RATIO_OPTIONS)
    invalid = (
        Invalid(
            "import torch.nn as nn\n\n"
            "model = nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(8, 8), nn.LayerNorm(8), nn.ReLU())])\n",
            line=3,
        ),
    )
    valid = (
        "import torch.nn as nn\n\n"
        "model = nn.Sequential(*[m for _ in range(19) for m in (nn.Linear(8, 8), nn.LayerNorm(8), nn.ReLU())])\n",
    )

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        if graph.approximate or graph.uncertain:  # skips exist only in forward, on the real, resolved path
            return
        deepest = graph.deepest
        weights = weight_layers(deepest)
        if len(weights) < self.settings["min-layers"]:
            return
        if any(isinstance(i, Marker) or i.kind is Kind.BLOCK for i in deepest):
            return
        norms = sum(1 for i in deepest if isinstance(i, Layer) and i.kind is Kind.NORM)
        normalised = 2 * norms >= len(weights) and estimated_attenuation(graph.path).attenuation >= 0.1
        yield self.finding(
            ctx.filename,
            graph.span,
            model=graph.name,
            severity=Severity.INFO if normalised else self.severity,
            weight_layers=len(weights),
        )


class DeepPostNormTransformer(Rule):
    """
    ## What it does
    Finds `nn.TransformerEncoder`, `nn.TransformerDecoder` and `nn.Transformer` stacks built from
    post-LN layers (`norm_first=False`, PyTorch's default) with `min-layers` or more layers, and
    stacks of that many post-LN `nn.TransformerEncoderLayer`/`nn.TransformerDecoderLayer` modules
    made by hand (a `ModuleList` in a loop). Reported where the stack (or its first layer) is built.

    ## Why is this bad?
    In a Post-LN transformer the layer normalisation sits after each residual add, on the identity
    path, so the gradient of the early layers is scaled down layer by layer. Deep Post-LN stacks
    need a learning-rate warm-up and still often diverge or stall; Pre-LN (`norm_first=True`)
    keeps a clean identity path and trains without warm-up.

    A 12-layer Post-LN BERT trained with a warm-up schedule trains well: that is how BERT was
    trained. So when the file schedules a learning-rate warm-up (`get_linear_schedule_with_warmup`,
    `OneCycleLR`, `LinearLR`, a `warmup_steps` setting), the finding is only `info` and says where
    the warm-up is; without one it is a warning. The default of 12 layers is where Xiong et al.
    measured Post-LN failing without warm-up.

    ## Example
    ```python
    import torch.nn as nn

    layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)
    encoder = nn.TransformerEncoder(layer, num_layers=12)
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    layer = nn.TransformerEncoderLayer(d_model=512, nhead=8, norm_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=12)
    ```

    ## References
    - Xiong et al., *On Layer Normalization in the Transformer Architecture*, ICML 2020
    - Wang et al., *DeepNet: Scaling Transformers to 1,000 Layers*, 2022
    - Liu et al., *Understanding the Difficulty of Training Transformers*, EMNLP 2020
    """

    code = "VG105"
    name = "deep-post-norm-transformer"
    severity = Severity.WARNING
    message = "{num_layers} post-LN transformer layers (norm_first=False): deep Post-LN stacks need learning-rate warm-up and often fail to train{_warmup}"
    fix = "pass norm_first=True to the transformer layers (Pre-LN), or use fewer layers"
    summary = "a stack of N or more post-LN transformer layers"
    example_lines = (4,)
    options = (Option("min-layers", 12, "fewest post-LN layers in a stack that is reported"),)
    invalid = (
        Invalid(
            "from torch import nn\n\n"
            "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
            "encoder = nn.TransformerEncoder(layer, num_layers=12)\n",
            line=4,
        ),
    )
    valid = (
        "from torch import nn\n\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8, norm_first=True)\n"
        "encoder = nn.TransformerEncoder(layer, num_layers=12)\n",
    )

    def check_model(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        for finding in self._stacks(graph, ctx):
            warmup = ctx.training.warmup
            if warmup is not None:  # trained the way BERT is: a risk to know of, not a defect
                finding.severity = Severity.INFO
                finding.message += f"; the file schedules a warm-up (line {warmup.span.line})"
                finding.evidence["warmup_line"] = warmup.span.line
            yield finding

    def _stacks(self, graph: ModelGraph, ctx) -> Iterator[Finding]:
        minimum = self.settings["min-layers"]
        loose: list[Layer] = []
        for layer in graph.declared:
            stack = layer.transformer
            if stack is None or stack.norm_first is not False:
                continue
            if layer.op in TRANSFORMER_LAYERS:
                loose.append(layer)
                continue
            layers = stack.num_layers
            if isinstance(layers, int) and layers >= minimum:
                yield self.finding(ctx.filename, located(layer, graph), model=graph.name, num_layers=layers, stack=layer.op,
                                   _warmup="")  # fmt: skip
        for op in sorted(TRANSFORMER_LAYERS):
            same = [layer for layer in loose if layer.op == op]
            if len(same) >= minimum:
                yield self.finding(ctx.filename, located(same[0], graph), model=graph.name, num_layers=len(same), stack=op,
                                   _warmup="")  # fmt: skip
