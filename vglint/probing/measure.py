"""Measure how the gradient flows through a built model: one forward, then one `autograd.grad` per seed.

Imported only in the probe's child process or by API callers, so torch is imported at the top.
The model is measured in place and left as it was found (training flags, dropout, buffers, grads);
it is copied only when it must change: moved to another device, trained for `steps`, or cast to
float64 because float32 gradients underflowed.
"""

from __future__ import annotations

import copy
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.autograd.graph import get_gradient_edge

from vglint.findings import Finding, Severity, Span, Status
from vglint.probing.verdicts import HORIZON_THRESHOLD
from vglint.probing.verdicts import short as short_number

#: A first weight layer with less than this share of the last one's relative gradient is vanishing.
VANISHING_RATIO = 1e-2
#: ... and with more than this many times, exploding.
EXPLODING_RATIO = 1e4
#: A float32 norm below sqrt(numel) times this is taken again in float64. Each element whose square
#: underflows loses at most FLT_MIN (1.2e-38) of the sum of squares, so a norm above the bound has
#: lost at most about 1% of its square: far inside what a verdict or two printed digits can show.
PRECISE_BELOW_PER_ELEMENT = 1e-18
#: A model whose gradients (of its parameters and its blocks' outputs, over all seeds) hold fewer
#: elements than this keeps every seed's to norm them in one call; a larger one norms each seed's
#: and lets them go.
KEEP_GRADIENTS_BELOW = 1 << 22
#: A horizon shorter than this share of the sequence is short.
SHORT_HORIZON_SHARE = 0.1

_WEIGHT_LAYERS = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Bilinear,
    nn.RNNBase,
    nn.RNNCellBase,
)
_EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)
_DROPOUT_OWNERS = (nn.RNNBase, nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


def pick_device(name: str | None) -> str:
    """ "auto", "" or None: the best accelerator present (cuda, then mps), else cpu; any other name as given."""
    if name not in (None, "", "auto"):
        return name
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def is_weight_layer(module: nn.Module) -> bool:
    """A layer whose weight matrix carries the signal: linear, conv, bilinear, recurrent, or any own 2-D+ `weight`."""
    if isinstance(module, _WEIGHT_LAYERS):
        return True
    if isinstance(module, _EMBEDDINGS) or "Norm" in type(module).__name__:
        return False
    weight = dict(module.named_parameters(recurse=False)).get("weight")
    return weight is not None and weight.ndim >= 2


def measure(
    model: nn.Module,
    inputs: Sequence[Any],
    *,
    device: str = "cpu",
    steps: int = 0,
    seeds: Sequence[int] = (0, 1, 2),
    time_dim: int | Literal["auto"] | None = None,
) -> dict[str, Any]:
    """Measure the gradient flow of `model(*inputs)`; returns a JSON-serialisable dict.

    Keys: layers (name, kind, weight_layer, out_grad_rms, weight_grad_rms, relative per parameterised
    block in forward order), ratio, first_layer, last_layer, dead_parameters, horizon,
    sequence_length, step_gradients (the gradient norm reaching each input step, first step
    first), device, dtype, seeds. Each number is the median over one random cotangent per seed;
    non-finite numbers are None. `time_dim` is the time dimension of `inputs[0]` ("auto": inferred
    from the first block, as `probe` does); without it there is no horizon.
    """
    seeds = [int(seed) for seed in seeds]
    if not seeds:
        raise ValueError("measure() needs at least one seed")
    if steps > 0:
        model = _trained_copy(model, _to(inputs, device), device=device, steps=steps, seed=seeds[0])
    elif not _is_on(model, device):
        model = copy.deepcopy(model).to(device)
    inputs = _to(inputs, device)
    result = _measure_once(model, inputs, seeds, time_dim)
    if result.pop("underflow"):
        model = copy.deepcopy(model).double()
        result = _measure_once(model, _to(inputs, dtype=torch.float64), seeds, time_dim)
        result.pop("underflow")
    result["device"] = device
    return result


@dataclass
class ProbeReport:
    """What the probe measured of one model; `ok` when the gradient reaches every layer and time step."""

    layers: list[dict]
    ratio: float | None
    horizon: int | None
    sequence_length: int | None
    dead_parameters: list[str]
    device: str
    dtype: str
    seeds: list[int]
    first_layer: str | None = None
    last_layer: str | None = None

    @property
    def vanishing(self) -> bool:
        return self.ratio is not None and self.ratio < VANISHING_RATIO

    @property
    def exploding(self) -> bool:
        return self.ratio is not None and self.ratio > EXPLODING_RATIO

    @property
    def short_horizon(self) -> bool:
        return (
            self.horizon is not None
            and self.sequence_length is not None
            and self.horizon < self.sequence_length * SHORT_HORIZON_SHARE
        )

    @property
    def ok(self) -> bool:
        return not (self.vanishing or self.exploding or self.dead_parameters or self.short_horizon)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_measurement(cls, measurement: dict[str, Any]) -> ProbeReport:
        return cls(**{name: measurement.get(name) for name in cls.__dataclass_fields__})


def probe(model: nn.Module, *example_inputs: Any, device: str | None = None, steps: int = 0) -> ProbeReport:
    """Measure `model(*example_inputs)` on `device` (None: the best one present); the horizon when it is recurrent."""
    measurement = measure(model, list(example_inputs), device=pick_device(device), steps=steps, time_dim="auto")
    return ProbeReport.from_measurement(measurement)


def check_model(model: nn.Module, *example_inputs: Any, device: str | None = None, steps: int = 0) -> list[Finding]:
    """The findings for `model(*example_inputs)`: the measured ones (vanishing, explosion, dead
    parameters, short horizon), then the rules on its recorded forward pass (a saturating chain,
    missing normalisation or skips, Post-LN depth) that the measurement does not refute, one per
    rule. Empty for a model whose gradient flows and whose architecture raises no risk."""
    from vglint.graph.api import rule_findings

    report = probe(model, *example_inputs, device=device, steps=steps)
    measured = findings_for(report, model=type(model).__name__)
    codes = {finding.code for finding in measured}
    built = rule_findings(model, list(example_inputs), report.to_dict())
    return measured + [finding for finding in built if finding.code not in codes]


def findings_for(report: ProbeReport, *, model: str | None = None, filename: str = "<model>") -> list[Finding]:
    """One finding per problem the report shows (VG102, VG106, VG401, VG201), its evidence the whole report."""
    evidence = report.to_dict()

    def finding(code: str, name: str, message: str) -> Finding:
        return Finding(
            code=code,
            name=name,
            severity=Severity.WARNING,
            message=message,
            filename=filename,
            span=Span.at(1),
            model=model,
            status=Status.CONFIRMED,
            evidence=evidence,
        )

    findings = []
    if report.vanishing:
        findings.append(
            finding(
                "VG102",
                "gradient-attenuation",
                f"the first weight layer ({report.first_layer}) gets {short_number(report.ratio)} "
                "of the last layer's relative gradient (measured)",
            )
        )
    if report.exploding:
        findings.append(
            finding(
                "VG106",
                "exploding-gradient",
                f"the first weight layer ({report.first_layer}) gets {short_number(report.ratio)} times "
                "the last layer's relative gradient (measured)",
            )
        )
    if report.dead_parameters:
        names = ", ".join(report.dead_parameters[:5]) + (", ..." if len(report.dead_parameters) > 5 else "")
        count = len(report.dead_parameters)
        findings.append(
            finding(
                "VG401",
                "gradient-cut-in-forward",
                f"{count} parameter{'s' if count != 1 else ''} get{'' if count != 1 else 's'} no gradient: {names}",
            )
        )
    if report.short_horizon:
        findings.append(
            finding(
                "VG201",
                "plain-rnn-long-sequence",
                f"the gradient reaches {report.horizon} of {report.sequence_length} time steps back (measured)",
            )
        )
    return findings


# --- one measurement --------------------------------------------------------------------------------------------


class _Block:
    """A module with parameters of its own, as the forward pass meets it."""

    def __init__(self, name: str, module: nn.Module, own: list[tuple[str, nn.Parameter]]) -> None:
        self.name = name
        self.module = module
        self.weight_layer = is_weight_layer(module)
        self.params = [param for _, param in own if param.requires_grad]
        # weight_ih_l0 and weight_hh_l0 start with "weight" too; a block without weights is judged by all it has
        self.weights = [param for param_name, param in own if param_name.startswith("weight") and param.requires_grad]
        self.weights = self.weights or self.params
        self.numel = sum(param.numel() for param in self.params)
        self.order: int | None = None
        self.calls = 0  # more than one: a layer applied again (`[layer] * n`), whose weight gradient sums its uses
        self.out_numel = 0
        #: where each output's gradient arrives, taken when it was made (before any in-place change of it)
        self.out_edges: list[Any] = []
        #: the positions of its parameters and of its weights in the measurement's list of parameters
        self.param_index: list[int] = []
        self.weight_index: list[int] = []


def _measure_once(
    model: nn.Module, inputs: list[Any], seeds: list[int], time_dim: int | Literal["auto"] | None
) -> dict[str, Any]:
    """One forward pass, then one `torch.autograd.grad` per seed for the parameters and the blocks' outputs.

    The gradients are asked for by gradient edge rather than collected by tensor hooks and `.grad`:
    no Python runs during the backward pass and no parameter's `.grad` is touched or saved. On a
    20-layer MLP this took the probe from about 4x one plain training step to about 3x.
    """
    named = list(model.named_modules())
    # `_parameters` is what `named_parameters(recurse=False)` walks, without its generator machinery
    owned = [(name, module, [(n, p) for n, p in module._parameters.items() if p is not None]) for name, module in named]
    blocks = [_Block(name, module, own) for name, module, own in owned if own]
    params = list({id(param): param for block in blocks for param in block.params}.values())  # tied ones once
    position = {id(param): index for index, param in enumerate(params)}
    for block in blocks:
        block.param_index = [position[id(param)] for param in block.params]
        block.weight_index = [position[id(param)] for param in block.weights]
    counter = itertools.count()
    first_embedding: list[Any] = []  # the gradient edge of the first embedding's output
    handles = []

    def forward_hook(block: _Block):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            block.calls += 1
            if block.order is None:
                block.order = next(counter)
            tensor = _first_tensor(output)
            if tensor is not None and tensor.requires_grad:
                block.out_numel += tensor.numel()
                block.out_edges.append(get_gradient_edge(tensor))

        return hook

    def embedding_hook(module: nn.Module, args: Any, output: Any) -> None:
        if not first_embedding and isinstance(output, torch.Tensor) and output.requires_grad:
            first_embedding.append(get_gradient_edge(output))

    saved = _prepare(model, [module for _, module in named])
    try:
        for block in blocks:
            handles.append(block.module.register_forward_hook(forward_hook(block)))
        sequence = inputs[0] if inputs and time_dim is not None else None
        if isinstance(sequence, torch.Tensor) and sequence.is_floating_point():
            sequence = sequence.detach().clone().requires_grad_(True)
            inputs = [sequence, *inputs[1:]]
        elif isinstance(sequence, torch.Tensor):
            handles += [m.register_forward_hook(embedding_hook) for _, m in named if isinstance(m, nn.Embedding)]
        else:
            sequence = None
        output = _first_tensor(model(*inputs))
        if output is None or not output.requires_grad:
            raise ValueError("the model's output has no floating tensor that requires grad")

        ordered = sorted((block for block in blocks if block.order is not None), key=lambda block: block.order)
        if time_dim == "auto":
            time_dim = _infer_time_dim([block.module for block in ordered])
        steps_source = None  # what the gradient per time step is read from: the sequence, or its embedding
        if time_dim is not None and sequence is not None:
            steps_source = sequence if sequence.requires_grad else (first_embedding[0] if first_embedding else None)
        out_edges = [edge for block in ordered for edge in block.out_edges]
        wanted = params + out_edges + ([steps_source] if steps_source is not None else [])
        weight_norms = _norm_values(params)
        block_weight_norms = [math.sqrt(sum(weight_norms[i] ** 2 for i in block.weight_index)) for block in ordered]
        last_step = _last_step_mask(output, inputs[0], time_dim) if steps_source is not None else None
        measured = len(wanted) - (steps_source is not None)  # the time steps' gradient is read apart
        # a small model's gradients are kept for all seeds and normed in one call: per call, the
        # fixed cost is most of what a few-millisecond model pays for its measurement
        kept_numel = sum(param.numel() for param in params) + sum(block.out_numel for block in ordered)
        together = kept_numel * len(seeds) <= KEEP_GRADIENTS_BELOW
        kept, per_seed = [], []
        for index, seed in enumerate(seeds):
            cotangent = _gaussian(output, seed)
            if last_step is not None:  # what reaches step t from the last output step, not from step t's own output
                cotangent = cotangent * last_step
            grads = torch.autograd.grad(
                output, wanted, cotangent, retain_graph=index < len(seeds) - 1, allow_unused=True
            )
            steps_grad = grads[-1] if steps_source is not None else None
            if together:
                kept.append((grads[:measured], steps_grad))
            else:
                norms = _grad_norms(grads[:measured])
                per_seed.append(_seed_numbers(ordered, params, block_weight_norms, norms, steps_grad, time_dim))
            del grads, steps_grad
        if kept:
            flat = _grad_norms([grad for grads, _ in kept for grad in grads])
            for number, (_, steps_grad) in enumerate(kept):
                norms = flat[number * measured : (number + 1) * measured]
                per_seed.append(_seed_numbers(ordered, params, block_weight_norms, norms, steps_grad, time_dim))
            del kept
    finally:
        for handle in handles:
            handle.remove()
        _restore(saved)  # after the backward passes: a buffer put back in place could be one saved for them

    layers = []
    for position, block in enumerate(ordered):
        layers.append(
            {
                "name": block.name,
                "kind": type(block.module).__name__,
                "weight_layer": block.weight_layer,
                "out_grad_rms": _median(numbers["out"][position] for numbers in per_seed),
                "weight_grad_rms": _median(numbers["weight"][position] for numbers in per_seed),
                "relative": _median(numbers["relative"][position] for numbers in per_seed),
            }
        )
    # a weight layer cut off from the loss is reported as dead, not as the end of a vanishing ratio
    carriers = [p for p, block in enumerate(ordered) if block.weight_layer and per_seed[0]["reached"][p]]
    first, last = (carriers[0], carriers[-1]) if len(carriers) >= 2 else (None, None)
    ratios = (
        [_divide(numbers["relative"][first], numbers["relative"][last]) for numbers in per_seed]
        if first is not None
        else []
    )
    horizons = [numbers["horizon"] for numbers in per_seed if numbers["horizon"] is not None]
    by_step = [numbers["by_step"] for numbers in per_seed if numbers["by_step"] is not None]
    floating = [param.dtype for param in params if param.is_floating_point()]
    dead = per_seed[0]["dead"]
    names = {id(param): name for name, param in model.named_parameters()} if dead else {}
    return {
        "layers": layers,
        "ratio": _median(ratios) if first is not None else None,
        "first_layer": ordered[first].name if first is not None else None,
        "last_layer": ordered[last].name if last is not None else None,
        "dead_parameters": [names[id(param)] for param in dead],
        "horizon": int(statistics.median_low(horizons)) if horizons else None,
        "sequence_length": per_seed[0]["sequence_length"] if horizons else None,
        # the gradient norm reaching each input time step, first step first: the report plots it
        "step_gradients": [_median(step) for step in zip(*by_step)] if horizons else None,
        "device": "",
        "dtype": str(floating[0] if floating else torch.get_default_dtype()).removeprefix("torch."),
        "seeds": seeds,
        "underflow": per_seed[0]["underflow"],
        "shared_layers": [block.name for block in ordered if block.weight_layer and block.calls > 1],
    }


def _seed_numbers(
    ordered: list[_Block],
    params: list[torch.Tensor],
    block_weight_norms: list[float],
    norms: Sequence[float | None],
    steps_grad: torch.Tensor | None,
    time_dim: int | None,
) -> dict[str, Any]:
    """The numbers of one backward pass: `norms` holds the norms of the parameters' gradients, then
    of the blocks' outputs' (None: no gradient reached it). `block_weight_norms` is each block's
    weight norm, the same for every seed."""
    squares = [0.0 if norm is None else norm * norm for norm in norms]
    position = len(params)  # the blocks' outputs follow the parameters, block by block

    numbers: dict[str, Any] = {"out": [], "weight": [], "relative": [], "reached": [], "underflow": False}
    for block, weight in zip(ordered, block_weight_norms):
        outs = [squares[i] for i in range(position, position + len(block.out_edges)) if norms[i] is not None]
        position += len(block.out_edges)
        numbers["out"].append(_finite(math.sqrt(sum(outs) / block.out_numel)) if outs else None)
        numbers["weight"].append(
            _finite(math.sqrt(sum(squares[i] for i in block.param_index) / block.numel)) if block.numel else None
        )
        relative = (
            _finite(_divide(math.sqrt(sum(squares[i] for i in block.weight_index)), weight)) if block.weights else None
        )
        numbers["relative"].append(relative)
        reached = relative is not None and any(norms[index] is not None for index in block.weight_index)
        numbers["reached"].append(reached)
        # a gradient tensor of exact zeros: float32 underflowed (a parameter cut off from the loss gets None)
        if block.weight_layer and relative == 0.0 and reached:
            numbers["underflow"] = True
    numbers["dead"] = [param for param, norm in zip(params, norms) if not norm]
    numbers["horizon"] = numbers["sequence_length"] = numbers["by_step"] = None
    if steps_grad is not None and time_dim is not None:
        by_step = torch.linalg.vector_norm(
            steps_grad.movedim(time_dim, 0).reshape(steps_grad.shape[time_dim], -1), dim=1, dtype=torch.float64
        ).tolist()
        numbers["horizon"] = _horizon(by_step)
        numbers["sequence_length"] = len(by_step)
        numbers["by_step"] = by_step
    return numbers


def _last_step_mask(output: torch.Tensor, sequence: Any, time_dim: int | None) -> torch.Tensor | None:
    """A mask that keeps only the last time step of an output that has one step per input step
    (a language model's logits, an RNN's outputs). The horizon is how far back the gradient of the
    last step reaches; a cotangent on every step would give each step a gradient of its own."""
    if time_dim is None or not isinstance(sequence, torch.Tensor) or sequence.dim() <= time_dim:
        return None
    steps = sequence.shape[time_dim]
    dims = [d for d in range(output.dim()) if output.shape[d] == steps]
    if steps < 2 or not dims:
        return None  # the output already reads one step (`out[-1]`, a classifier on the last state)
    dim = time_dim if time_dim in dims else dims[0]
    mask = torch.zeros(output.shape[dim], device=output.device, dtype=output.dtype)
    mask[-1] = 1
    shape = [1] * output.dim()
    shape[dim] = steps
    return mask.reshape(shape)


def _horizon(by_step: list[float]) -> int:
    """How many steps back from the last one the gradient stays at or above HORIZON_THRESHOLD of the last step's."""
    floor = HORIZON_THRESHOLD * by_step[-1]
    if not by_step[-1] > 0:
        return 0
    count = 0
    for norm in reversed(by_step):
        if not norm >= floor:
            break
        count += 1
    return count


def _infer_time_dim(modules: list[nn.Module]) -> int | None:
    """The time dimension of the input of a model that starts with a recurrent layer (or an embedding feeding one)."""
    if not modules:
        return None
    first = modules[0]
    if isinstance(first, nn.RNNBase):
        return 1 if first.batch_first else 0
    if isinstance(first, nn.Embedding):
        recurrent = next((module for module in modules[1:] if isinstance(module, nn.RNNBase)), None)
        if recurrent is not None:
            return 1 if recurrent.batch_first else 0
    return None


# --- preparing and restoring the model --------------------------------------------------------------------------


def _prepare(model: nn.Module, modules: list[nn.Module]) -> dict[str, Any]:
    """Train mode, dropout off; returns what it changed, and the buffers the forward pass will overwrite.

    `model.train()` is called rather than each flag set, so that a model's own `train()` (one that
    keeps a frozen backbone in eval mode) has its say; only the flags it changed are put back. A
    model already in train mode throughout is left as it is.
    """
    before = [(module, module.training) for module in modules]
    saved = {
        "buffers": [(buffer, buffer.detach().clone()) for buffer in model.buffers()],
        "dropout": [],
    }
    if not all(training for _, training in before):
        model.train()
    saved["training"] = [(module, training) for module, training in before if module.training != training]
    for module in modules:
        if isinstance(module, nn.modules.dropout._DropoutNd):
            saved["dropout"].append((module, "p", module.p))
            module.p = 0.0
        elif isinstance(module, _DROPOUT_OWNERS) and isinstance(getattr(module, "dropout", None), float):
            saved["dropout"].append((module, "dropout", module.dropout))
            module.dropout = 0.0
    return saved


def _restore(saved: dict[str, Any]) -> None:
    for module, training in saved["training"]:
        module.training = training
    for module, attribute, value in saved["dropout"]:
        setattr(module, attribute, value)
    with torch.no_grad():
        for buffer, value in saved["buffers"]:
            buffer.copy_(value)


def _trained_copy(model: nn.Module, inputs: list[Any], *, device: str, steps: int, seed: int) -> nn.Module:
    """A copy of `model` after `steps` Adam steps towards a fixed random target of the output's shape."""
    trained = copy.deepcopy(model).to(device)
    saved = _prepare(trained, list(trained.modules()))
    optimiser = torch.optim.Adam([param for param in trained.parameters() if param.requires_grad], lr=1e-3)
    target = None
    for _ in range(steps):
        optimiser.zero_grad()
        output = _first_tensor(trained(*inputs))
        if target is None:
            target = _gaussian(output, seed)
        nn.functional.mse_loss(output, target).backward()
        optimiser.step()
    # the trained copy keeps its new buffers (running statistics); only the probe's own settings go back
    saved["buffers"] = []
    _restore(saved)
    trained.zero_grad(set_to_none=True)
    return trained


# --- small helpers ----------------------------------------------------------------------------------------------


def _first_tensor(value: Any) -> torch.Tensor | None:
    """The first floating tensor in a tensor, tuple, list, dict or ModelOutput-like object, depth first."""
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else None
    if isinstance(value, dict):
        value = list(value.values())
    elif hasattr(value, "to_tuple"):
        value = value.to_tuple()
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _to(value: Any, device: str | None = None, dtype: torch.dtype | None = None) -> Any:
    """`value` with its tensors on `device`, its floating tensors cast to `dtype`; lists, tuples and dicts within."""
    if isinstance(value, torch.Tensor):
        value = value.to(device) if device is not None else value
        return value.to(dtype) if dtype is not None and value.is_floating_point() else value
    if isinstance(value, dict):
        return {key: _to(item, device, dtype) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        converted = [_to(item, device, dtype) for item in value]
        return converted if isinstance(value, list) else tuple(converted)
    return value


def _is_on(model: nn.Module, device: str) -> bool:
    wanted = torch.device(device)
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        actual = tensor.device
        return actual.type == wanted.type and (wanted.index is None or actual.index == wanted.index)
    return True


def _gaussian(like: torch.Tensor, seed: int) -> torch.Tensor:
    """A standard normal tensor shaped like `like`, from its own generator: the caller's random state is untouched."""
    generator = torch.Generator(device=like.device).manual_seed(seed)
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def _grad_norms(grads: Sequence[torch.Tensor | None]) -> list[float | None]:
    """The norm of each gradient, None where none arrived."""
    present = [index for index, grad in enumerate(grads) if grad is not None]
    norms: list[float | None] = [None] * len(grads)
    for index, value in zip(present, _norm_values([grads[index] for index in present])):
        norms[index] = value
    return norms


def _norm_values(tensors: list[torch.Tensor]) -> list[float]:
    """The norm of each tensor: float32 norms, read back in one transfer, and those small enough
    for their squares to have underflowed taken again in float64."""
    if not tensors:
        return []
    with torch.no_grad():
        values = torch.stack(_fast_norms(tensors)).tolist()
        tiny = [
            index
            for index, (value, tensor) in enumerate(zip(values, tensors))
            if value < PRECISE_BELOW_PER_ELEMENT * math.sqrt(tensor.numel())
        ]
        if tiny:
            exact = torch.stack([_norm(tensors[index], precise=True) for index in tiny]).tolist()
            for index, value in zip(tiny, exact):
                values[index] = value
    return values


def _fast_norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """float32/float64 norms of many tensors, one fused call per device and type (as `clip_grad_norm_` does)."""
    kind = (tensors[0].device, tensors[0].dtype)
    if kind[1] in (torch.float32, torch.float64) and all((t.device, t.dtype) == kind for t in tensors):
        return list(torch._foreach_norm(tensors))
    groups: dict[tuple, list[int]] = {}
    for index, tensor in enumerate(tensors):
        groups.setdefault((tensor.device, tensor.dtype), []).append(index)
    norms: list[torch.Tensor | None] = [None] * len(tensors)
    for (_, dtype), indices in groups.items():
        group = [tensors[index] for index in indices]
        fused = torch._foreach_norm(group) if dtype in (torch.float32, torch.float64) else [_norm(t) for t in group]
        for index, norm in zip(indices, fused):
            norms[index] = norm
    return norms


def _norm(tensor: torch.Tensor, *, precise: bool = False) -> torch.Tensor:
    """The 2-norm, in float64 when `precise` (3x slower on CPU), else in the tensor's float type."""
    if precise and tensor.dtype != torch.float64:
        return torch.linalg.vector_norm(tensor, dtype=torch.float64)
    if tensor.dtype in (torch.float16, torch.bfloat16):
        return torch.linalg.vector_norm(tensor, dtype=torch.float32)
    return torch.linalg.vector_norm(tensor)


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _median(values: Any) -> float | None:
    """The median of the finite values (None if there are none); what `statistics.median` gives, without its cost."""
    finite = sorted(value for value in values if value is not None and math.isfinite(value))
    count = len(finite)
    if not count:
        return None
    middle = count // 2
    return float(finite[middle] if count % 2 else (finite[middle - 1] + finite[middle]) / 2)


__all__ = ["ProbeReport", "check_model", "findings_for", "is_weight_layer", "measure", "pick_device", "probe"]
