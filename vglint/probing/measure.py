"""Measure how the gradient flows through a built model: one forward, then one backward per seed.

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

from vglint.findings import Finding, Severity, Span, Status
from vglint.probing.verdicts import short as short_number

#: A first weight layer with less than this share of the last one's relative gradient is vanishing.
VANISHING_RATIO = 1e-2
#: ... and with more than this many times, exploding.
EXPLODING_RATIO = 1e4
#: A time step counts as reached while its gradient is at least this share of the last step's.
HORIZON_THRESHOLD = 1e-3
#: float32 norms below this may have lost their squares to underflow, and are taken again in float64.
PRECISE_BELOW = 1e-12
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
    sequence_length, device, dtype, seeds. Each number is the median over one random cotangent per
    seed; non-finite numbers are None. `time_dim` is the time dimension of `inputs[0]` ("auto":
    inferred from the first block, as `probe` does); without it there is no horizon.
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
    """The measured findings for `model(*example_inputs)`: empty for a model whose gradient flows."""
    return findings_for(probe(model, *example_inputs, device=device, steps=steps), model=type(model).__name__)


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

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name = name
        self.module = module
        self.weight_layer = is_weight_layer(module)
        own = [(param_name, param) for param_name, param in module.named_parameters(recurse=False)]
        self.params = [param for _, param in own if param.requires_grad]
        # weight_ih_l0 and weight_hh_l0 start with "weight" too; a block without weights is judged by all it has
        self.weights = [param for param_name, param in own if param_name.startswith("weight") and param.requires_grad]
        self.weights = self.weights or self.params
        self.order: int | None = None
        self.calls = 0  # more than one: a layer applied again (`[layer] * n`), whose weight gradient sums its uses
        self.out_numel = 0
        self.out_norms: list[torch.Tensor] = []
        #: set once this block's output gradient proved too small for a float32 norm
        self.precise = False

    def collect(self, grad: torch.Tensor) -> None:
        self.out_norms.append(_norm(grad.detach(), precise=self.precise))


def _measure_once(
    model: nn.Module, inputs: list[Any], seeds: list[int], time_dim: int | Literal["auto"] | None
) -> dict[str, Any]:
    blocks = [_Block(name, module) for name, module in model.named_modules() if _has_own_params(module)]
    params = [param for param in model.parameters() if param.requires_grad]
    counter = itertools.count()
    first_embedding: dict[str, Any] = {}
    handles = []

    def forward_hook(block: _Block):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            block.calls += 1
            if block.order is None:
                block.order = next(counter)
            tensor = _first_tensor(output)
            if tensor is not None and tensor.requires_grad:
                block.out_numel += tensor.numel()
                tensor.register_hook(block.collect)

        return hook

    def embedding_hook(module: nn.Module, args: Any, output: Any) -> None:
        if not first_embedding and isinstance(output, torch.Tensor) and output.requires_grad:
            first_embedding["shape"] = tuple(output.shape)
            output.register_hook(lambda grad: first_embedding.__setitem__("grad", grad.detach()))

    saved = _prepare(model)
    try:
        for block in blocks:
            handles.append(block.module.register_forward_hook(forward_hook(block)))
        sequence = inputs[0] if inputs and time_dim is not None else None
        if isinstance(sequence, torch.Tensor) and sequence.is_floating_point():
            sequence = sequence.detach().clone().requires_grad_(True)
            inputs = [sequence, *inputs[1:]]
        elif isinstance(sequence, torch.Tensor):
            handles += [m.register_forward_hook(embedding_hook) for m in model.modules() if isinstance(m, nn.Embedding)]
        else:
            sequence = None

        output = _first_tensor(model(*inputs))
        if output is None or not output.requires_grad:
            raise ValueError("the model's output has no floating tensor that requires grad")
        ordered = sorted((block for block in blocks if block.order is not None), key=lambda block: block.order)
        if time_dim == "auto":
            time_dim = _infer_time_dim([block.module for block in ordered])
            sequence = sequence if time_dim is not None else None

        weight_norms = _norms(params)
        last_step = _last_step_mask(output, inputs[0], time_dim) if sequence is not None else None
        per_seed = []
        for index, seed in enumerate(seeds):
            cotangent = _gaussian(output, seed)
            if last_step is not None:  # what reaches step t from the last output step, not from step t's own output
                cotangent = cotangent * last_step
            for param in params:
                param.grad = None
            for block in blocks:
                block.out_norms.clear()
            first_embedding.pop("grad", None)
            if sequence is not None:
                sequence.grad = None
            output.backward(cotangent, retain_graph=index < len(seeds) - 1)
            time_grad = (
                sequence.grad if sequence is not None and sequence.requires_grad else first_embedding.get("grad")
            )
            per_seed.append(
                _seed_numbers(
                    ordered,
                    params,
                    weight_norms,
                    time_grad if sequence is not None else None,
                    time_dim,
                    first_seed=index == 0,
                    single_seed=len(seeds) == 1,
                )
            )
    finally:
        for handle in handles:
            handle.remove()
        _restore(model, saved)

    names = {id(param): name for name, param in model.named_parameters()}
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
    floating = [param.dtype for param in model.parameters() if param.is_floating_point()]
    return {
        "layers": layers,
        "ratio": _median(ratios) if first is not None else None,
        "first_layer": ordered[first].name if first is not None else None,
        "last_layer": ordered[last].name if last is not None else None,
        "dead_parameters": [names[id(param)] for param in per_seed[0]["dead"]] if per_seed else [],
        "horizon": int(statistics.median_low(horizons)) if horizons else None,
        "sequence_length": per_seed[0]["sequence_length"] if horizons else None,
        "device": "",
        "dtype": str(floating[0] if floating else torch.get_default_dtype()).removeprefix("torch."),
        "seeds": seeds,
        "underflow": any(numbers["underflow"] for numbers in per_seed[:1]),
        "shared_layers": [block.name for block in ordered if block.weight_layer and block.calls > 1],
    }


def _seed_numbers(
    ordered: list[_Block],
    params: list[torch.Tensor],
    weight_norms: dict[int, float],
    time_grad: torch.Tensor | None,
    time_dim: int | None,
    first_seed: bool,
    single_seed: bool,
) -> dict[str, Any]:
    """The numbers of one backward pass, read back from the device in one transfer."""
    with_grad = [param for param in params if param.grad is not None]
    steps_norms = None
    if time_grad is not None and time_dim is not None:
        steps_norms = torch.linalg.vector_norm(
            time_grad.detach().movedim(time_dim, 0).reshape(time_grad.shape[time_dim], -1), dim=1, dtype=torch.float64
        )
    grad_norms = _norms(with_grad, [param.grad for param in with_grad])
    out_norms = [norm for block in ordered for norm in block.out_norms]
    out_values = iter(torch.stack(out_norms).tolist() if out_norms else [])
    out_sumsq = []
    for block in ordered:
        norms = [next(out_values) for _ in block.out_norms]
        if not block.precise and norms and min(norms) < PRECISE_BELOW and not single_seed:
            # float32 squares underflowed here: this seed's number is dropped, the next seeds' are exact
            block.precise = True
            out_sumsq.append(None)
        else:
            out_sumsq.append(sum(norm * norm for norm in norms) if norms else None)

    numbers: dict[str, Any] = {
        "out": [],
        "weight": [],
        "relative": [],
        "reached": [],
        "underflow": False,
        "horizon": None,
    }
    for block, sumsq in zip(ordered, out_sumsq):
        numbers["out"].append(_finite(math.sqrt(sumsq / block.out_numel)) if sumsq is not None else None)
        numel = sum(param.numel() for param in block.params)
        grad_sumsq = sum(grad_norms.get(id(param), 0.0) ** 2 for param in block.params)
        numbers["weight"].append(_finite(math.sqrt(grad_sumsq / numel)) if numel else None)
        weight_norm = math.sqrt(sum(weight_norms[id(param)] ** 2 for param in block.weights))
        weight_grad = math.sqrt(sum(grad_norms.get(id(param), 0.0) ** 2 for param in block.weights))
        relative = _finite(_divide(weight_grad, weight_norm)) if block.weights else None
        numbers["relative"].append(relative)
        reached = relative is not None and any(id(param) in grad_norms for param in block.weights)
        numbers["reached"].append(reached)
        # a gradient tensor of exact zeros: float32 underflowed (a parameter cut off from the loss gets None)
        if block.weight_layer and relative == 0.0 and reached:
            numbers["underflow"] = True
    if first_seed:
        numbers["dead"] = [param for param in params if grad_norms.get(id(param), 0.0) == 0.0]
    if steps_norms is not None:
        by_step = steps_norms.tolist()
        numbers["horizon"] = _horizon(by_step)
        numbers["sequence_length"] = len(by_step)
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


def _prepare(model: nn.Module) -> dict[str, Any]:
    """Train mode, dropout off; returns what it changed, and the buffers and grads the measurement will overwrite."""
    modules = list(model.modules())
    saved = {
        "training": [(module, module.training) for module in modules],
        "dropout": [],
        "buffers": [(buffer, buffer.detach().clone()) for buffer in model.buffers()],
        "grads": [(param, param.grad) for param in model.parameters()],
    }
    model.train()
    for module in modules:
        if isinstance(module, nn.modules.dropout._DropoutNd):
            saved["dropout"].append((module, "p", module.p))
            module.p = 0.0
        elif isinstance(module, _DROPOUT_OWNERS) and isinstance(getattr(module, "dropout", None), float):
            saved["dropout"].append((module, "dropout", module.dropout))
            module.dropout = 0.0
    return saved


def _restore(model: nn.Module, saved: dict[str, Any]) -> None:
    for module, training in saved["training"]:
        module.training = training
    for module, attribute, value in saved["dropout"]:
        setattr(module, attribute, value)
    with torch.no_grad():
        for buffer, value in saved["buffers"]:
            buffer.copy_(value)
    for param, grad in saved["grads"]:
        param.grad = grad


def _trained_copy(model: nn.Module, inputs: list[Any], *, device: str, steps: int, seed: int) -> nn.Module:
    """A copy of `model` after `steps` Adam steps towards a fixed random target of the output's shape."""
    trained = copy.deepcopy(model).to(device)
    saved = _prepare(trained)
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
    saved["grads"] = [(param, None) for param in trained.parameters()]
    _restore(trained, saved)
    return trained


# --- small helpers ----------------------------------------------------------------------------------------------


def _has_own_params(module: nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


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


def _norms(params: list[torch.Tensor], tensors: list[torch.Tensor] | None = None) -> dict[int, float]:
    """The norm of each of `tensors` (default: the parameters themselves) by its parameter's id.

    float32 norms, read back in one transfer; those small enough for their squares to underflow
    are taken again in float64.
    """
    tensors = params if tensors is None else tensors
    if not tensors:
        return {}
    values = torch.stack(_fast_norms([tensor.detach() for tensor in tensors])).tolist()
    tiny = [index for index, value in enumerate(values) if value < PRECISE_BELOW]
    if tiny:
        exact = torch.stack([_norm(tensors[index].detach(), precise=True) for index in tiny]).tolist()
        for index, value in zip(tiny, exact):
            values[index] = value
    return {id(param): value for param, value in zip(params, values)}


def _fast_norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """float32/float64 norms of many tensors, one fused call per device and type (as `clip_grad_norm_` does)."""
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
    finite = [value for value in values if value is not None and math.isfinite(value)]
    return float(statistics.median(finite)) if finite else None


__all__ = ["ProbeReport", "check_model", "findings_for", "is_weight_layer", "measure", "pick_device", "probe"]
