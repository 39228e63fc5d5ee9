"""The forward input a probe feeds a model: the configured shapes, or one made from the model's first layer."""

from __future__ import annotations

import os
from typing import Any

BATCH = 8
#: A synthesised Conv3d input larger than 32 pixels is a clip of this many frames, not a cube
#: (torchvision's video models take 16; S3D fed a 224-voxel cube outgrew 16 GiB).
CLIP_FRAMES = 16
#: Sequence length when neither the job nor the configuration gives one.
DEFAULT_SEQUENCE_LENGTH = 256
_INTEGER_DTYPES = ("int64", "int32", "long", "bool")
_RECURRENT = ("RNN", "LSTM", "GRU")


class InputError(Exception):
    """No input can be made; the message says which configuration line gives one."""


def config_key(job: dict[str, Any]) -> str:
    """The `[tool.vglint.models."KEY"]` a job's model is configured under: `FILE:NAME` or `module:NAME`."""
    if job.get("config_key"):
        return job["config_key"]
    name = job.get("target", {}).get("name", "model")
    if job.get("module"):
        return f"{job['module']}:{name}"
    file = os.path.abspath(job.get("file") or "model.py")
    root = job.get("project_root")
    if root and file.startswith(os.path.abspath(root) + os.sep):
        return f"{os.path.relpath(file, root).replace(os.sep, '/')}:{name}"
    return f"{os.path.basename(file)}:{name}"


def input_line(job: dict[str, Any], example: str = "[[8, 3, 32, 32]]") -> str:
    """The words telling the user where to give an input shape."""
    return f'add input = {example} under [tool.vglint.models."{config_key(job)}"] in pyproject.toml'


def synthesise(job: dict[str, Any], model: Any = None) -> tuple[list[Any], int | None]:
    """The inputs for one forward pass and which of their dimensions is time (None: no time axis).

    `job["input"]` shapes win (`randn`, or `randint(0, 2)` for an integer `input_dtype`); otherwise the
    `input_hint` (the model's first layer) decides. Raises `InputError` when neither is given.
    """
    import torch

    shapes = job.get("input")
    if shapes:
        # one dtype for every input, or one per input (an image and its token ids)
        given = job.get("input_dtype") or "float32"
        names = list(given) if isinstance(given, list) else [given] * len(shapes)
        names += [names[-1] if names else "float32"] * (len(shapes) - len(names))
        inputs = []
        for shape, dtype_name in zip(shapes, names):
            dtype = torch.long if dtype_name == "long" else getattr(torch, dtype_name)
            if dtype_name in _INTEGER_DTYPES:
                inputs.append(torch.randint(0, 2, tuple(shape)).to(dtype))
            else:
                inputs.append(torch.randn(*shape, dtype=dtype))
        return inputs, None

    hint = job.get("input_hint") or (hint_from_model(model) if model is not None else None)
    if not hint or not hint.get("first"):
        raise InputError(f"cannot tell what input {_target_name(job)} takes: {input_line(job)}")
    first = hint["first"]
    length = job.get("sequence_length") or DEFAULT_SEQUENCE_LENGTH
    spatial = job.get("spatial") or 32
    batch = job.get("batch") or BATCH  # the graph front-end's structure pass feeds a smaller one
    if first == "Linear":
        return [torch.randn(batch, _positive(hint, "in_features", job))], None
    if first in ("Conv1d", "Conv2d", "Conv3d"):
        dims = int(first[4])
        channels = _positive(hint, "in_channels", job)
        if dims == 3 and spatial > 32:
            return [torch.randn(batch, channels, CLIP_FRAMES, spatial, spatial)], None
        return [torch.randn(batch, channels, *([spatial] * dims))], None
    if first == "Embedding":
        then = hint.get("then") or {}
        batch_first = then.get("batch_first", True) if then.get("first") in _RECURRENT else True
        shape = (batch, length) if batch_first else (length, batch)
        return [torch.randint(0, _positive(hint, "num_embeddings", job), shape)], 1 if batch_first else 0
    if first == "Sequence":  # a transformer encoder fed embeddings: no time axis to measure a horizon on
        size = _positive(hint, "features", job)
        return [torch.randn(batch, length, size) if hint.get("batch_first") else torch.randn(length, batch, size)], None
    if first in _RECURRENT:
        size = _positive(hint, "input_size", job)
        if hint.get("batch_first", False):
            return [torch.randn(batch, length, size)], 1
        return [torch.randn(length, batch, size)], 0
    raise InputError(f"cannot make an input for a first layer {first}: {input_line(job)}")


def hint_from_model(model: Any) -> dict[str, Any] | None:
    """What the built model's first layer takes, when reading the code did not tell (a depth the
    static front-end could not know): its first Linear, Conv, Embedding or recurrent module in the
    order the model registered them, which is the order `forward` usually runs them."""
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.TransformerEncoderLayer):  # a decoder layer needs a memory: not guessed
            return {
                "first": "Sequence",
                "features": module.self_attn.embed_dim,
                "batch_first": module.self_attn.batch_first,
            }
        if isinstance(module, nn.Linear):
            return {"first": "Linear", "in_features": module.in_features}
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return {"first": type(module).__name__, "in_channels": module.in_channels}
        if isinstance(module, nn.Embedding):
            hint: dict[str, Any] = {"first": "Embedding", "num_embeddings": module.num_embeddings}
            rnn = next((m for m in model.modules() if isinstance(m, nn.RNNBase)), None)
            if rnn is not None:
                hint["then"] = {
                    "first": rnn.mode.split("_")[0],
                    "input_size": rnn.input_size,
                    "batch_first": rnn.batch_first,
                }
            return hint
        if isinstance(module, nn.RNNBase):
            return {
                "first": module.mode.split("_")[0],
                "input_size": module.input_size,
                "batch_first": module.batch_first,
            }
    return None


def _positive(hint: dict[str, Any], key: str, job: dict[str, Any]) -> int:
    value = hint.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise InputError(f"the first layer's {key} is not known: {input_line(job)}")


def _target_name(job: dict[str, Any]) -> str:
    return job.get("target", {}).get("name") or "the model"
