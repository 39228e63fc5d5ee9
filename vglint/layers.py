"""What vglint knows about torch, declared once and read by both front-ends, the IR, the
estimate and the rules: which `torch.nn` classes and functions are weight layers, norms,
activations (saturating or not, with their E[phi'(h)^2]), recurrent layers, library blocks,
containers and losses.

Each concept is one table with one row per torch thing, in the way TorchFix keeps its knowledge
in one declarative table: adding a layer is adding a row. Nothing here imports torch or libcst.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Kind(enum.Enum):
    """What an operation is on a gradient path."""

    WEIGHT = "weight"  # Linear, Conv*, Bilinear, MultiheadAttention: a learned matrix on the path
    EMBEDDING = "embedding"  # a lookup table: trainable, but its input is indices, so no matrix on the backward path
    ACTIVATION = "activation"
    NORM = "norm"
    RECURRENT = "recurrent"  # RNN/LSTM/GRU and their cells
    BLOCK = "block"  # a library block with its own norm and skips (nn.TransformerEncoder, ...)
    CUT = "cut"  # detach(), .data, no_grad: no gradient flows back through it
    OTHER = "other"  # pooling, dropout, reshapes, softmax: no effect on the gradient's scale we model

    def __str__(self) -> str:
        return self.value

    @property
    def counts_as_depth(self) -> bool:
        """Weight, recurrent and block layers make a path deeper (a block or RNN counts as one)."""
        return self in (Kind.WEIGHT, Kind.RECURRENT, Kind.BLOCK)

    @property
    def has_parameters(self) -> bool:
        """A module of this kind holds trainable parameters of its own."""
        return self in (Kind.WEIGHT, Kind.EMBEDDING, Kind.NORM, Kind.RECURRENT, Kind.BLOCK)


@dataclass(frozen=True)
class TorchOp:
    """One torch operation: its `torch.nn` class, its functional name (in `torch`, `torch.nn.functional`
    and as a tensor method), what it is on a path, and for activations how it scales the gradient."""

    kind: Kind
    op: str  # the name in the IR, in `inspect` and in messages
    module: str | None = None  # `Sigmoid` for torch.nn.Sigmoid
    functional: str | None = None  # `sigmoid` for torch.sigmoid, F.sigmoid, x.sigmoid()
    saturating: bool = False  # derivative small away from zero: chains of these vanish
    gain: float | None = None  # E[phi'(h)^2] of an activation
    frozen_by: str | None = None  # a constructor keyword that, when True, freezes the weights


def _activation(op: str, module: str, gain: float, saturating: bool = False) -> TorchOp:
    return TorchOp(Kind.ACTIVATION, op, module, op, saturating, gain)


def _ops(kind: Kind, modules: str) -> list[TorchOp]:
    """Rows for classes that are their own op name and have no functional form we model."""
    return [TorchOp(kind, name, name) for name in modules.split()]


#: E[phi'(h)^2]: saturating activations take their value near h = 0, where default init keeps
#: pre-activations (sigmoid 1/16, tanh 1: the design's checked cases); the others are scale-free
#: (ReLU) or taken at unit-variance inputs, as behind a normalisation.
TORCH_OPS: tuple[TorchOp, ...] = (
    _activation("sigmoid", "Sigmoid", 1 / 16, saturating=True),
    _activation("tanh", "Tanh", 1.0, saturating=True),
    _activation("hardtanh", "Hardtanh", 1.0, saturating=True),
    _activation("softsign", "Softsign", 1.0, saturating=True),
    _activation("hardsigmoid", "Hardsigmoid", 1 / 36, saturating=True),
    _activation("logsigmoid", "LogSigmoid", 1 / 4, saturating=True),
    _activation("relu", "ReLU", 0.5),
    _activation("relu6", "ReLU6", 0.5),
    _activation("leaky_relu", "LeakyReLU", (1 + 0.01**2) / 2),
    _activation("prelu", "PReLU", (1 + 0.25**2) / 2),
    _activation("rrelu", "RReLU", (1 + 0.23**2) / 2),
    _activation("elu", "ELU", 0.67),
    _activation("celu", "CELU", 0.67),
    _activation("selu", "SELU", 1.07),
    _activation("gelu", "GELU", 0.46),
    _activation("silu", "SiLU", 0.38),
    _activation("hardswish", "Hardswish", 0.38),
    _activation("mish", "Mish", 0.48),
    _activation("softplus", "Softplus", 0.29),
    *_ops(Kind.WEIGHT, "Linear LazyLinear Bilinear Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d"),
    *_ops(Kind.WEIGHT, "ConvTranspose3d LazyConv1d LazyConv2d LazyConv3d MultiheadAttention"),
    # the functional forms take their weight as an argument: an op of their own, named as called
    *(TorchOp(Kind.WEIGHT, name, None, name) for name in
      ("linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d")),  # fmt: skip
    *(TorchOp(Kind.EMBEDDING, name, name, frozen_by="_freeze") for name in ("Embedding", "EmbeddingBag")),
    *_ops(Kind.NORM, "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d"),
    *_ops(Kind.NORM, "SyncBatchNorm LayerNorm GroupNorm InstanceNorm1d InstanceNorm2d InstanceNorm3d RMSNorm"),
    *_ops(Kind.NORM, "LocalResponseNorm"),
    *(TorchOp(Kind.NORM, name, None, name) for name in
      ("layer_norm", "batch_norm", "group_norm", "instance_norm", "normalize", "rms_norm")),  # fmt: skip
    *_ops(Kind.RECURRENT, "RNN LSTM GRU RNNCell LSTMCell GRUCell"),
    *_ops(Kind.BLOCK, "Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer TransformerDecoderLayer"),
    TorchOp(Kind.OTHER, "softmax", "Softmax", "softmax"),
    TorchOp(Kind.OTHER, "log_softmax", "LogSoftmax", "log_softmax"),
    TorchOp(Kind.OTHER, "softmin", "Softmin", "softmin"),
)

#: `torch.nn` classes by name.
NN_CLASSES: dict[str, TorchOp] = {row.module: row for row in TORCH_OPS if row.module}

#: Functions by their bare name in `torch`, `torch.nn.functional` or as tensor methods.
FUNCTIONS: dict[str, TorchOp] = {row.functional: row for row in TORCH_OPS if row.functional}

#: The IR op names of saturating activations.
SATURATING = frozenset(row.op for row in TORCH_OPS if row.saturating)

#: E[phi'(h)^2] by IR op name.
ACTIVATION_GAIN: dict[str, float] = {row.op: row.gain for row in TORCH_OPS if row.gain is not None}

#: The public attributes of `nn.Module`, which every layer and every model has, as torch 2.13 has them.
MODULE_API = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches
eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict
modules mtia named_buffers named_children named_modules named_parameters parameters register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
""".split())

#: The other public attributes torch's own layers have: their settings, parameters, buffers,
#: submodules and methods (`kernel_size`, `running_mean`, `reset_parameters`), the union over
#: `torch.nn`'s classes, with the per-layer weights of the recurrent layers as `RECURRENT_WEIGHT`.
#: `hasattr(m, "zero_init_last")` on a `Conv2d` is False because the name is in neither list.
#: `tests/test_layers.py` checks both lists against the installed torch.
LAYER_ATTRIBUTES = frozenset("""
activation activation_relu_or_gelu add_bias_kv add_zero_attn affine align_corners all_weights alpha append
approximate batch_first beta bias bias_hh bias_ih bias_k bias_v bidirectional blank ceil_mode
check_forward_args check_hidden_size check_input clear cls_to_become convert_sync_batchnorm copy
count_include_pad custom_decoder custom_encoder cutoffs d_model decoder decoder_layer delta device device_ids
dilation dim dim_feedforward distance_function div_value divisor_override downscale_factor dropout dropout1
dropout2 dropout3 dtype elementwise_affine embed_dim embedding_dim enable_nested_tensor encoder encoder_layer
end_dim eps extend flatten_parameters freeze from_pretrained fromkeys full gather
generate_square_subsequent_mask get get_expected_cell_size get_expected_hidden_size groups
has_uninitialized_params head head_bias head_dim hidden_size ignore_index in1_features in2_features
in_channels in_features in_proj_bias in_proj_weight include_last_offset init initialize_parameters inplace
input_size insert items k k_proj_weight kdim keepdim kernel_size keys label_smoothing lambd layer_norm_eps
linear linear1 linear2 log_input log_prob log_target lower margin mask_check max_norm max_val max_value
merge_masks min_val min_value mode module momentum multihead_attn n_classes name negative_slope nhead
nonlinearity norm norm1 norm2 norm3 norm_first norm_type normalized_shape num_batches_tracked num_channels
num_chunks num_classes num_decoder_layers num_embeddings num_encoder_layers num_features num_groups num_heads
num_layers num_parameters options out_channels out_features out_proj output_device output_padding output_ratio
output_size p padding padding_idx padding_mode parallel_apply permute_hidden pop popitem pos_weight predict
process_group proj_size q_proj_weight recompute_scale_factor reduce reduction replicate reset_parameters
reset_running_stats return_indices running_mean running_var scale_factor scale_grad_by_freq scatter self_attn
setdefault size size_average sparse start_dim stride swap tail threshold track_running_stats training
transposed unflattened_size update upper upscale_factor v_proj_weight value values vdim weight weight_hh
weight_ih zero_infinity
""".split())

#: `weight_ih_l0`, `bias_hh_l1_reverse`: the weights of each layer and direction of an RNN, LSTM or GRU.
RECURRENT_WEIGHT = re.compile(r"(weight|bias)_(ih|hh|hr)_l\d+(_reverse)?$")


#: Containers: modules that hold modules and add no operation of their own.
CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"})

#: Modules of other libraries that only reshape or pool: no parameters, no normalisation, nothing
#: hidden (einops' layers), so they are not blocks vglint cannot see into.
RESHAPING_MODULES = frozenset({"einops.layers.torch.Rearrange", "einops.layers.torch.Reduce"})

#: Recurrent layers without gates, whose gradient decays geometrically over time steps.
PLAIN_RECURRENT = frozenset({"RNN", "RNNCell"})

#: Recurrent layers that return `(output, state)`; the cells return the state alone.
SEQUENCE_RECURRENT = frozenset({"RNN", "LSTM", "GRU"})

#: Transformer layers that a stack (`nn.TransformerEncoder`) repeats, or a model lists by hand.
TRANSFORMER_LAYERS = frozenset({"TransformerEncoderLayer", "TransformerDecoderLayer"})

#: Base classes whose subclasses are `nn.Module`s.
MODULE_BASES = frozenset({
    "torch.nn.Module", "torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict",
    # frameworks' base classes, as their users import them and as the framework's own files name them
    "pytorch_lightning.LightningModule", "lightning.LightningModule", "lightning.pytorch.LightningModule",
    "pytorch_lightning.core.LightningModule", "pytorch_lightning.core.module.LightningModule",
    "lightning.pytorch.core.LightningModule", "lightning.pytorch.core.module.LightningModule",
    "transformers.PreTrainedModel", "transformers.modeling_utils.PreTrainedModel",
    "transformers.GradientCheckpointingLayer", "transformers.modeling_layers.GradientCheckpointingLayer",
})  # fmt: skip


#: Quantization's stand-ins, which hold no parameters: QuantStub and DeQuantStub pass the tensor on in
#: float training (they only mark where a converted model quantizes), and FloatFunctional's methods
#: (`skip_add.add(x, y)`, `.cat`, `.mul`, `.add_relu`) are the float ops, written as a module so the
#: converter can replace them.
QUANTIZATION_STUBS = frozenset({
    "torch.ao.quantization.QuantStub", "torch.ao.quantization.DeQuantStub", "torch.quantization.QuantStub",
    "torch.quantization.DeQuantStub", "torch.ao.quantization.stubs.QuantStub", "torch.ao.quantization.stubs.DeQuantStub",
    "torch.nn.quantized.FloatFunctional", "torch.ao.nn.quantized.FloatFunctional",
})  # fmt: skip

#: FloatFunctional's methods, as the torch functions they run.
FLOAT_FUNCTIONAL_OPS = {"add": "add", "cat": "cat", "mul": "mul", "add_relu": "add", "add_scalar": None, "mul_scalar": None}


#: Calls that say whether code is being scripted, traced, compiled or exported: vglint judges the
#: eager training forward pass, where each of them is False.
EAGER_FALSE = frozenset({
    "torch.jit.is_scripting", "torch.jit.is_tracing", "torch.compiler.is_compiling", "torch._dynamo.is_compiling",
    "torch.onnx.is_in_onnx_export", "torch._C._get_tracing_state", "torchvision._is_tracing",
})  # fmt: skip


#: Fields of the outputs of library models (transformers' ModelOutput): the tensors they hold.
MODEL_OUTPUT_FIELDS = frozenset({
    "last_hidden_state", "pooler_output", "hidden_states", "logits", "image_embeds", "text_embeds",
    "encoder_last_hidden_state", "prediction_logits",
})  # fmt: skip


_TORCHVISION_NOT_MODELS = frozenset({"get_weight", "get_model_weights", "get_model_builder", "list_models"})


def is_library_model(qualified: str) -> bool:
    """Calls that return a whole model from a library (`torchvision.models.resnet101(weights=...)`,
    `timm.create_model(...)`, `AutoModel.from_pretrained(...)`, `torch.hub.load(...)`): a block
    with trainable parameters whose inside vglint cannot see."""
    short = qualified.rsplit(".", 1)[-1]
    if qualified.startswith("torchvision.models."):  # the factories: resnet50, detection.fasterrcnn_resnet50_fpn
        parts = qualified.split(".")[2:]
        return all(p[:1].islower() for p in parts) and short not in _TORCHVISION_NOT_MODELS
    if qualified.startswith("transformers.") and short in ("from_pretrained", "from_config"):
        return True
    return qualified in ("timm.create_model", "torch.hub.load", "open_clip.create_model",
                         "segmentation_models_pytorch.create_model")  # fmt: skip


def functional_op(name: str) -> TorchOp | None:
    """What `torch.X`, `F.X` or `tensor.X()` does, from the bare name X (in-place `X_` too)."""
    base = name[:-1] if name.endswith("_") and not name.endswith("__") else name
    return FUNCTIONS.get(base)


def is_norm_name(name: str) -> bool:
    """`LlamaRMSNorm`, `LayerNorm2d`, `T5LayerNorm`, `GroupNorm32`, `BatchNormAct2d`: hand-written or
    imported normalisation classes, named for what they are. The name must end in the norm (and
    its dimensions): `Conv2dNormActivation` is a conv block and `Normalize` a transform; one that
    starts with a layer's name is a block too. A class of the code named like a norm that holds
    other modules is also told apart, by the front-ends (`holds_other_modules`)."""
    return bool(_NORM_NAME.search(name)) and not _BLOCK_NAME.match(name)


#: ... and EvoNorm's variants by their published names (`EvoNorm2dB0`, `EvoNorm2dS0a`).
_NORM_NAME = re.compile(r"Norm(Act)?(\d*d|\d+|Fp\d+)?([BS]\d+a?)?$")
#: A weight layer, or a wrapper, named with the norm that follows or precedes it: timm's
#: `ConvNormAct`, vit-pytorch's `PreNorm(dim, fn)`.
_BLOCK_NAME = re.compile(r"(Conv|Linear|Dense|Pre|Post)[A-Z0-9]")


@dataclass(frozen=True)
class Loss:
    """A loss, as a `torch.nn` class and a functional. `saturates_after` names the last operation
    that makes it saturate (a sigmoid before BCELoss or MSELoss, a log of a softmax before
    NLLLoss: the tensor tag the interpreter sets), and `instead` the loss to use then."""

    module: str
    functional: str
    saturates_after: str | None = None
    instead: tuple[str, str] | None = None  # (module, functional) to use instead


LOSSES: tuple[Loss, ...] = (
    Loss("BCELoss", "binary_cross_entropy", "sigmoid", ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits")),
    Loss("CrossEntropyLoss", "cross_entropy", "softmax"),
    Loss("BCEWithLogitsLoss", "binary_cross_entropy_with_logits"),
    Loss("NLLLoss", "nll_loss", "log_of_softmax"),
    Loss("MSELoss", "mse_loss", "sigmoid", ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits")),
    Loss("L1Loss", "l1_loss"),
    Loss("SmoothL1Loss", "smooth_l1_loss"),
    Loss("KLDivLoss", "kl_div", "log_of_softmax"),
    Loss("HuberLoss", "huber_loss"),
)

LOSS_CLASSES: dict[str, Loss] = {loss.module: loss for loss in LOSSES}
LOSS_FUNCTIONS: dict[str, Loss] = {loss.functional: loss for loss in LOSSES}
