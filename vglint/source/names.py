"""Name resolution from a per-file import table, and what vglint knows about `torch` names.

libcst's QualifiedNameProvider costs about 8x the parse itself; an import table built from the
module's own import statements answers the questions vglint asks (what does `nn.Sigmoid` or
`F.tanh` mean here?) at almost no cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from vglint.ir import Kind


def dotted_name(node: cst.BaseExpression) -> str | None:
    """`a.b.c` as a string, or None for anything that is not a plain dotted name."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def _import_statements(body) -> list:
    """Import statements at module level, including those inside top-level if/try/with blocks."""
    found = []
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            found.extend(s for s in statement.body if isinstance(s, (cst.Import, cst.ImportFrom)))
        elif isinstance(statement, (cst.If, cst.Try, cst.With)):
            found.extend(_import_statements(statement.body.body))
            for extra in (getattr(statement, "orelse", None), *getattr(statement, "handlers", ())):
                if extra is not None and hasattr(extra, "body"):
                    found.extend(_import_statements(extra.body.body))
    return found


def import_table(module: cst.Module) -> dict[str, str]:
    """Local name -> fully qualified name, for every module-level import."""
    table: dict[str, str] = {}
    for imp in _import_statements(module.body):
        if isinstance(imp, cst.Import):
            for alias in imp.names:
                full = dotted_name(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    table[alias.asname.name.value] = full
                else:
                    head = full.split(".")[0]
                    table[head] = head
        elif isinstance(imp.names, cst.ImportStar):
            continue
        else:
            base = dotted_name(imp.module) if imp.module is not None else ""
            base = "." * len(imp.relative) + (base or "")
            for alias in imp.names:
                name = alias.name.value if isinstance(alias.name, cst.Name) else dotted_name(alias.name)
                if name is None:
                    continue
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                table[local] = f"{base}.{name}" if base and not base.endswith(".") else f"{base}{name}"
    return table


def canonical(qualified: str) -> str:
    """`torch.nn.modules.activation.Sigmoid` and `torch.nn.Sigmoid` name the same class."""
    parts = qualified.split(".")
    if len(parts) > 3 and parts[:3] == ["torch", "nn", "modules"]:
        return "torch.nn." + parts[-1]
    if qualified.startswith("torch.nn.functional."):
        return "F." + parts[-1]
    return qualified


@dataclass(frozen=True)
class LayerSpec:
    kind: Kind
    op: str


def _specs(kind: Kind, names: str, op: str | None = None) -> dict[str, LayerSpec]:
    return {name: LayerSpec(kind, op or name) for name in names.split()}


#: `torch.nn` classes by name: what each one is on a gradient path.
NN_LAYERS: dict[str, LayerSpec] = {
    **_specs(Kind.WEIGHT, "Linear LazyLinear Bilinear Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d"),
    **_specs(Kind.WEIGHT, "ConvTranspose3d LazyConv1d LazyConv2d LazyConv3d MultiheadAttention"),
    **_specs(Kind.NORM, "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d"),
    **_specs(Kind.NORM, "SyncBatchNorm LayerNorm GroupNorm InstanceNorm1d InstanceNorm2d InstanceNorm3d RMSNorm"),
    **_specs(Kind.NORM, "LocalResponseNorm"),
    **_specs(Kind.RECURRENT, "RNN LSTM GRU RNNCell LSTMCell GRUCell"),
    **_specs(Kind.BLOCK, "Transformer TransformerEncoder TransformerDecoder"),
    **_specs(Kind.BLOCK, "TransformerEncoderLayer TransformerDecoderLayer"),
    **{
        name: LayerSpec(Kind.ACTIVATION, op)
        for name, op in {
            "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardtanh": "hardtanh", "Softsign": "softsign",
            "Hardsigmoid": "hardsigmoid", "LogSigmoid": "logsigmoid", "ReLU": "relu", "ReLU6": "relu6",
            "LeakyReLU": "leaky_relu", "PReLU": "prelu", "RReLU": "rrelu", "ELU": "elu", "CELU": "celu",
            "SELU": "selu", "GELU": "gelu", "SiLU": "silu", "Hardswish": "hardswish", "Mish": "mish",
            "Softplus": "softplus",
        }.items()
    },
    **{name: LayerSpec(Kind.OTHER, op) for name, op in {
        "Softmax": "softmax", "LogSoftmax": "log_softmax", "Softmin": "softmin"}.items()},
}  # fmt: skip

CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})

#: Activation functions by the name they have in torch, torch.nn.functional or as tensor methods.
FUNCTIONAL_ACTIVATIONS = {
    "sigmoid", "tanh", "hardtanh", "softsign", "hardsigmoid", "logsigmoid", "relu", "relu6",
    "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "gelu", "silu", "hardswish", "mish",
    "softplus",
}  # fmt: skip
FUNCTIONAL_NORMS = {"layer_norm", "batch_norm", "group_norm", "instance_norm", "normalize", "rms_norm"}
FUNCTIONAL_WEIGHTS = {"linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d"}
FUNCTIONAL_OTHER = {"softmax", "log_softmax", "softmin"}


def functional_op(name: str) -> tuple[Kind, str] | None:
    """What `torch.X`, `F.X` or `tensor.X()` does, from the bare name X (in-place `X_` too)."""
    base = name[:-1] if name.endswith("_") and not name.endswith("__") else name
    if base in FUNCTIONAL_ACTIVATIONS:
        return Kind.ACTIVATION, base
    if base in FUNCTIONAL_NORMS:
        return Kind.NORM, base
    if base in FUNCTIONAL_WEIGHTS:
        return Kind.WEIGHT, base
    if base in FUNCTIONAL_OTHER:
        return Kind.OTHER, base
    return None
