"""Small pieces of Python the interpreter must decide for a model to count as understood, each seen
as a user sees it: the model's line in `-v` and its findings. Expected lines are written by hand."""

from __future__ import annotations

#: timm's `create_conv2d`: a list of kernel sizes makes a mixed conv, an int a plain one. 8 plain
#: convs with sigmoids, no norm: VG101 at the sigmoid (line 15).
ISINSTANCE_FACTORY = """\
import torch.nn as nn


def create_conv(cin, cout, kernel_size):
    if isinstance(kernel_size, list):
        return MixedConv(cin, cout, kernel_size)
    return nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2)


class Net(nn.Module):
    def __init__(self, depth=8, kernel_size=3):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers += [create_conv(16, 16, kernel_size), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)
"""


def test_isinstance_with_a_builtin_type_is_decided_on_a_known_value(project, cli):
    project.write("net.py", ISINSTANCE_FACTORY)
    result = cli("net.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines() == [
        "net.py:15:58: VG101 [warning] 8 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "net.py:10: Net: fully analysed",
        "Found 1 finding (1 warning) in 1 file checked.",
        "1 model in 1 file: 1 fully analysed",
    ]


def test_isinstance_of_an_unknown_value_stays_unknown(project, cli):
    project.write("net.py", ISINSTANCE_FACTORY.replace("def __init__(self, depth=8, kernel_size=3):",
                                                       "def __init__(self, kernel_size, depth=8):"))  # fmt: skip
    result = cli("net.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines()[1].startswith(
        "net.py:10: Net: partly analysed (branch on unknown value `isinstance(kernel_size, list)`, line 5"
    )


#: An unknown branch that only sets plain values makes those values unknown, and is a gap only where
#: they build a layer: Sized's width only sizes a Linear (understood), Deep's depth sizes its stack
#: (a gap at the Sequential, line 21), Act's choice picks the activation (a gap at line 33); Shift's
#: shift only decides a roll of the input (understood), as torchvision's Swin decides its shift.
VALUE_BRANCHES = """\
import torch.nn as nn
from settings import FLAG


class Sized(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        if FLAG:
            width = 64
        self.fc = nn.Linear(16, width)

    def forward(self, x):
        return self.fc(x)


class Deep(nn.Module):
    def __init__(self, depth=4):
        super().__init__()
        if FLAG:
            depth = 12
        self.body = nn.Sequential(*[nn.Linear(8, 8) for _ in range(depth)])

    def forward(self, x):
        return self.body(x)


class Act(nn.Module):
    def __init__(self, act="relu"):
        super().__init__()
        if FLAG:
            act = "tanh"
        self.fc = nn.Linear(8, 8)
        self.act = nn.Tanh() if act == "tanh" else nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class Shift(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        shift = [3, 3]
        if x.shape[1] <= 3:
            shift[0] = 0
        if sum(shift) > 0:
            x = x.roll(shift[0], 1)
        return self.fc(x)
"""


def test_a_branch_that_only_sets_values_is_a_gap_only_where_they_build_layers(project, cli):
    project.write("settings.py", "FLAG = bool(int(__import__('os').environ.get('FLAG', '0')))\n")
    project.write("models.py", VALUE_BRANCHES)
    result = cli("models.py", "--output-format", "concise", "-v")
    assert result.stdout.splitlines() == [
        "models.py:5: Sized: fully analysed",
        "models.py:16: Deep: partly analysed (unknown container item `nn.Sequential`, line 21)",
        "models.py:27: Act: partly analysed (branch on unknown value `act == \"tanh\"`, line 33)",
        "models.py:39: Shift: fully analysed",
        "All checks passed! (1 file checked)",
        "4 models in 1 file: 2 fully analysed, 2 partly (1 branch on unknown value, 1 unknown container item)",
    ]


def test_a_stack_unpacked_from_an_unknown_list_is_not_an_empty_stack(project, cli):
    """`nn.Sequential(*[... for _ in range(depth)])` with `depth` unknown: its items are unknown, not
    absent (it read as an empty, fully analysed model)."""
    project.write("deep.py", (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class Deep(nn.Module):\n"
        "    def __init__(self, depth):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(*[nn.Linear(8, 8) for _ in range(depth)])\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.body(x)\n"
    ))  # fmt: skip
    result = cli("deep.py", "--output-format", "concise", "-v")
    assert result.stdout.splitlines()[0] == "deep.py:4: Deep: partly analysed (unknown container item `nn.Sequential`, line 7)"


def test_a_tensor_made_with_new_zeros_is_a_constant_not_a_skip(project, cli):
    """`x.new_zeros(...)` only borrows x's dtype and device: adding it (an attention mask) to a
    branch of x is no residual connection."""
    project.write("masked.py", (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class MaskedScores(nn.Module):\n"
        "    def __init__(self, dim=16):\n"
        "        super().__init__()\n"
        "        self.q = nn.Linear(dim, dim)\n"
        "        self.fc = nn.Linear(dim, dim)\n"
        "\n"
        "    def forward(self, x):\n"
        "        scores = self.q(x)\n"
        "        mask = x.new_zeros((16, 16))\n"
        "        return self.fc(scores + mask)\n"
    ))  # fmt: skip
    result = cli("inspect", "masked.py")
    assert result.stdout.splitlines()[:3] == ["masked.py:4: MaskedScores", "  path:          Linear x2", "  weight layers: 2"]


#: Configuration computed with torch and numpy on literals, as RegNet computes its stage widths and
#: every ViT its drop-path rates: 8 sigmoid blocks, one per rate (VG101 at the sigmoid, line 11;
#: VG102 at Tower, line 17), and the widths 48, 104, 208 give 3 stages of Linear + tanh (no finding:
#: 3 in a row is below 4).
CONSTANT_ARRAYS = """\
import math

import numpy as np
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim, drop_path=0.0):
        super().__init__()
        self.fc, self.act, self.drop_path = nn.Linear(dim, dim), nn.Sigmoid(), drop_path

    def forward(self, x):
        return self.act(self.fc(x))


class Tower(nn.Module):
    def __init__(self, dim=32, depth=8, drop_path_rate=0.1):
        super().__init__()
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.Sequential(*[Block(dim, p) for p in dpr])

    def forward(self, x):
        return self.blocks(x)


class Stages(nn.Module):
    def __init__(self, depth=6, w_0=48, w_a=27.89, w_m=2.09):
        super().__init__()
        widths = torch.arange(depth) * w_a + w_0
        capacity = torch.round(torch.log(widths / w_0) / math.log(w_m))
        stage_widths = (torch.round(w_0 * torch.pow(w_m, capacity) / 8) * 8).int().tolist()
        rates = np.linspace(0, 0.2, len(set(stage_widths))).tolist()
        self.stages = nn.ModuleList([nn.Sequential(nn.Linear(w, w), nn.Tanh()) for w, _ in zip(set(stage_widths), rates)])

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return x
"""


def test_configuration_computed_with_torch_and_numpy_on_literals_is_known(project, cli):
    project.write("towers.py", CONSTANT_ARRAYS)
    result = cli("towers.py", "--output-format", "concise", "-v")
    assert result.stdout.splitlines() == [
        "towers.py:11:66: VG101 [warning] 8 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "towers.py:17:7: VG102 [warning] estimated gradient attenuation 1.3e-06 across 8 weight layers, mostly from sigmoid derivatives",
        "towers.py:8: Block: fully analysed",
        "towers.py:17: Tower: fully analysed",
        "towers.py:27: Stages: fully analysed",
        "Found 2 findings (2 warnings) in 1 file checked.",
        "3 models in 1 file: 3 fully analysed",
    ]
    inspect = cli("inspect", "towers.py").stdout
    assert "  path:          (Linear -> tanh) x3\n" in inspect


def test_a_model_that_returns_a_namedtuple_is_followed(project, cli):
    """torchvision's GoogLeNet returns `GoogLeNetOutputs(x, aux2, aux1)`, a `collections.namedtuple`:
    its fields are the model's outputs (here 6 sigmoids in a row on `logits`, VG101 at line 12)."""
    project.write("net.py", (
        "from collections import namedtuple\n"
        "\n"
        "import torch.nn as nn\n"
        "\n"
        "Outputs = namedtuple(\"Outputs\", \"logits aux\")\n"
        "\n"
        "\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.aux = nn.Linear(8, 2)\n"
        "        self.body = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(6)])\n"
        "\n"
        "    def forward(self, x):\n"
        "        out = Outputs(self.body(x), aux=self.aux(x))\n"
        "        return Outputs(out.logits, out.aux)\n"
    ))  # fmt: skip
    result = cli("net.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines() == [
        "net.py:12:68: VG101 [warning] 6 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "net.py:8: Net: fully analysed",
        "Found 1 finding (1 warning) in 1 file checked.",
        "1 model in 1 file: 1 fully analysed",
    ]


#: torchvision's IntermediateLayerGetter: a ModuleDict of a backbone's children, by name, up to the
#: last layer asked for, whose forward returns a dict of the named outputs.
LAYER_GETTER = """\
from collections import OrderedDict

import torch.nn as nn


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.layer1 = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.layer2 = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.head = nn.Linear(8, 1)


class LayerGetter(nn.ModuleDict):
    def __init__(self, model, return_layers):
        return_layers = dict(return_layers)
        layers = OrderedDict()
        for name, module in model.named_children():
            layers[name] = module
            if name in return_layers:
                return_layers.pop(name)
            if not return_layers:
                break
        super().__init__(layers)
        self.return_layers = {"layer2": "out"}

    def forward(self, x):
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


class Segmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = LayerGetter(Backbone(), {"layer2": "out"})
        self.classifier = nn.Linear(8, 2)

    def forward(self, x):
        return self.classifier(self.backbone(x)["out"])
"""


def test_named_children_keep_their_names_and_a_module_dict_its_keys(project, cli):
    project.write("seg.py", LAYER_GETTER)
    result = cli("inspect", "seg.py")
    segmenter = result.stdout.split("seg.py:37: Segmenter")[1].splitlines()
    assert segmenter[1:3] == ["  path:          (Linear -> tanh) x3 -> Linear", "  weight layers: 4"]


#: timm's `get_act_layer`: a class is returned as it is (`isinstance(nn.Tanh, str)` is False), a name
#: is looked up in a table whose entries check the installed torch (`'silu' in dir(F)`).
ACT_LAYERS = """\
import torch
import torch.nn as nn

_has_silu = "silu" in dir(torch.nn.functional)
_ACT_LAYERS = dict(silu=nn.SiLU if _has_silu else None, relu=nn.ReLU)


def get_act_layer(name="relu"):
    if not isinstance(name, str):
        return name
    return _ACT_LAYERS[name]


class Net(nn.Module):
    def __init__(self, act_layer=nn.Tanh, depth=6):
        super().__init__()
        act_layer = get_act_layer(act_layer)
        self.body = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), act_layer()) for _ in range(depth)])

    def forward(self, x):
        return self.body(x)


class SiLUNet(Net):
    def __init__(self):
        super().__init__(act_layer="silu")
"""


def test_a_layer_class_or_name_passed_through_an_activation_table_is_known(project, cli):
    project.write("acts.py", ACT_LAYERS)
    result = cli("acts.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines() == [
        "acts.py:18:68: VG101 [warning] 6 saturating activations (tanh) in a row with no normalisation or skip connection between them",
        "acts.py:14: Net: fully analysed",
        "acts.py:24: SiLUNet: fully analysed",
        "Found 1 finding (1 warning) in 1 file checked.",
        "2 models in 1 file: 2 fully analysed",
    ]


def test_a_branch_that_only_reshapes_a_tensor_is_no_gap(project, cli):
    """`if x.dim() == 4: x = x.unsqueeze(2)` (torchvision's MViT) changes a shape, not the layers: the
    model is understood, with more such branches than vglint builds both ways (3). A branch that
    applies a layer on an unknown test still is a gap."""
    project.write("shapes.py", (
        "import torch.nn as nn\n"
        "import torch.nn.functional as F\n"
        "\n"
        "\n"
        "class Reshaping(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 8)\n"
        "\n"
        "    def forward(self, x):\n"
        "        if x.dim() == 4:\n"
        "            x = x.flatten(2).transpose(1, 2)\n"
        "        if x.dim() == 2:\n"
        "            x = x.unsqueeze(1)\n"
        "        if x.shape[1] == 1:\n"
        "            x = x.squeeze(1)\n"
        "        else:\n"
        "            x = x.contiguous()\n"
        "        if x.shape[-1] != 8:\n"
        "            x = F.pad(x, (0, 8 - x.shape[-1]))\n"
        "        return self.fc(x)\n"
        "\n"
        "\n"
        "class Applying(Reshaping):\n"
        "    def forward(self, x):\n"
        "        if x.dim() == 4:\n"
        "            x = self.fc(x)\n"
        "        return self.fc(x)\n"
    ))  # fmt: skip
    result = cli("shapes.py", "--output-format", "concise", "-v")
    assert result.stdout.splitlines()[:2] == [
        "shapes.py:5: Reshaping: fully analysed",
        "shapes.py:24: Applying: partly analysed (branch on unknown value `x.dim() == 4`, line 26)",
    ]


def test_a_module_list_extended_with_plus_equals_holds_its_layers(project, cli):
    """`self.layers += [Layer(...)]` (torchvision's MaxViT) extends the ModuleList: 6 sigmoid layers."""
    project.write("blocks.py", (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class Stack(nn.Module):\n"
        "    def __init__(self, depth=6):\n"
        "        super().__init__()\n"
        "        self.layers = nn.ModuleList()\n"
        "        for _ in range(depth):\n"
        "            self.layers += [nn.Sequential(nn.Linear(8, 8), nn.Sigmoid())]\n"
        "\n"
        "    def forward(self, x):\n"
        "        for layer in self.layers:\n"
        "            x = layer(x)\n"
        "        return x\n"
    ))  # fmt: skip
    result = cli("blocks.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines() == [
        "blocks.py:9:60: VG101 [warning] 6 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "blocks.py:4: Stack: fully analysed",
        "Found 1 finding (1 warning) in 1 file checked.",
        "1 model in 1 file: 1 fully analysed",
    ]


def test_isinstance_with_abstract_collections_and_partial_is_decided(project, cli):
    """timm's `to_2tuple` (`isinstance(x, collections.abc.Iterable)`) and its norm-layer check
    (`isinstance(norm_layer, functools.partial)`) on values vglint knows."""
    project.write("net.py", (
        "import collections.abc\n"
        "import functools\n"
        "\n"
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "def to_2tuple(x):\n"
        "    if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):\n"
        "        return tuple(x)\n"
        "    return (x, x)\n"
        "\n"
        "\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, size=8, norm_layer=functools.partial(nn.LayerNorm, eps=1e-6)):\n"
        "        super().__init__()\n"
        "        width, _ = to_2tuple(size)\n"
        "        if isinstance(norm_layer, functools.partial):\n"
        "            self.norm = norm_layer(width)\n"
        "        else:\n"
        "            self.norm = nn.Identity()\n"
        "        self.fc = nn.Linear(width, width)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.norm(x))\n"
    ))  # fmt: skip
    result = cli("net.py", "--output-format", "concise", "-v")
    assert result.stdout.splitlines()[0] == "net.py:13: Net: fully analysed"
    assert "  path:          LayerNorm -> Linear\n" in cli("inspect", "net.py").stdout


#: timm's `init_weights`: `hasattr(m, "zero_init_last")` over `self.modules()`. A torch layer has no
#: such attribute, a block of the file has it when its class defines it, and every model vglint
#: reads whole is decided; a model derived from a class vglint cannot see keeps the doubt where
#: the answer would change its layers.
HASATTR_OVER_MODULES = """\
import torch.nn as nn
from elsewhere import InitMixin


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.Sigmoid()

    def zero_init_last(self):
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.act(self.fc(x))


class Net(nn.Module):
    def __init__(self, depth=6):
        super().__init__()
        self.blocks = nn.Sequential(*[Block() for _ in range(depth)])
        for m in self.modules():
            if hasattr(m, "zero_init_last"):
                m.zero_init_last()

    def forward(self, x):
        return self.blocks(x)


class Opaque(InitMixin, nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*[Block() for _ in range(6)])
        if hasattr(self, "final_norm"):
            self.blocks.append(nn.LayerNorm(8))

    def forward(self, x):
        return self.blocks(x)
"""


def test_hasattr_on_the_modules_of_a_model_is_decided_when_their_classes_are_known(project, cli):
    project.write("net.py", HASATTR_OVER_MODULES)
    result = cli("net.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines() == [
        "net.py:9:20: VG101 [warning] 6 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "net.py:5: Block: fully analysed",
        "net.py:18: Net: fully analysed",
        "net.py:30: Opaque: partly analysed (branch on unknown value `hasattr(self, \"final_norm\")`, line 34)",
        "Found 1 finding (1 warning) in 1 file checked.",
        "3 models in 1 file: 2 fully analysed, 1 partly (branch on unknown value)",
    ]


#: Plain Python that timm's builders run on the way to a model: `a, *rest = name.split(".", 1)`,
#: `any(...)` of a generator, a set literal, `isinstance(None, nn.Module)`, `itertools.repeat` and
#: a closure (`_ntuple(n)` returns `parse`, which reads `n`).
PLAIN_PYTHON = """\
from itertools import repeat

import torch.nn as nn


def _ntuple(n):
    def parse(x):
        return tuple(repeat(x, n))
    return parse


def depth_of(name, layer=None):
    arch, *tags = name.split(".", 1)
    if isinstance(layer, nn.Module) or any(t in {"tiny", "small"} for t in tags):
        return 2
    return 8 if not tags else 4


class Net(nn.Module):
    def __init__(self, name="net.large"):
        super().__init__()
        widths = _ntuple(depth_of(name))(16)
        self.body = nn.Sequential(*[m for w in widths for m in (nn.Linear(w, w), nn.Sigmoid())])

    def forward(self, x):
        return self.body(x)
"""


def test_the_plain_python_of_model_builders_is_computed(project, cli):
    project.write("net.py", PLAIN_PYTHON)
    result = cli("net.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines() == [
        "net.py:23:82: VG101 [warning] 4 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "net.py:19: Net: fully analysed",
        "Found 1 finding (1 warning) in 1 file checked.",
        "1 model in 1 file: 1 fully analysed",
    ]
