"""Each rule's finding in full, on small models: code, severity, file, span, model, evidence and
message, as the JSON report shows them; and the thresholds at their boundaries.

Estimates are worked out by hand (see tests/test_estimate.py): a default-init square Linear
multiplies the gradient variance by 1/3, a sigmoid by 1/16, tanh by 1.
"""

from __future__ import annotations

import math

import pytest

from vglint.config import Settings
from vglint.engine import check_source, make_rules

NOTE = " (forward not followed: layers in declaration order)"
VG201_ADVICE = (
    ": its gradient vanishes over long sequences; use nn.LSTM or nn.GRU (forget-gate bias 1), truncated "
    "backpropagation or gradient clipping"
)
VG202_ADVICE = "has no gradient clipping; call torch.nn.utils.clip_grad_norm_ before the optimiser step"


def run(source: str, filename: str = "pkg/model.py", **settings) -> list[tuple]:
    """(code, severity, filename, (line, col, end line, end col), model, evidence, message) per finding."""
    config = Settings(**settings)
    found, errors = check_source(source.encode("utf-8"), filename, make_rules(config), config)
    assert errors == []
    return sorted(
        (f.code, str(f.severity), f.filename, (f.span.line, f.span.column, f.span.end_line, f.span.end_column),
         f.model, f.evidence, f.message)
        for f in found
    )  # fmt: skip


def codes(source: str, **settings) -> list[str]:
    return [finding[0] for finding in run(source, **settings)]


# -- VG101 ---------------------------------------------------------------------------------------

CHAIN_4 = """\
from torch import nn
model = nn.Sequential(
    nn.Linear(8, 8), nn.Tanh(),
    nn.Linear(8, 8), nn.Sigmoid(),
    nn.Linear(8, 8), nn.Tanh(),
    nn.Linear(8, 8), nn.Tanh(),
)
"""


def test_vg101_in_full():
    # 4 saturating activations: 3 tanh and 1 sigmoid, most frequent first; at the first one
    assert run(CHAIN_4) == [(
        "VG101", "warning", "pkg/model.py", (3, 22, 3, 31), "model",
        {"chain_length": 4, "activations": "tanh, sigmoid", "approximate": False},
        "4 saturating activations (tanh, sigmoid) in a row with no normalisation or skip connection between them",
    )]  # fmt: skip


def test_vg101_names_tied_activations_alphabetically():
    source = CHAIN_4.replace("nn.Linear(8, 8), nn.Tanh(),\n)", "nn.Linear(8, 8), nn.Sigmoid(),\n)")
    [finding] = run(source)
    assert finding[5]["activations"] == "sigmoid, tanh"


@pytest.mark.parametrize(("min_chain", "reported"), [(3, True), (4, True), (5, False)])
def test_vg101_min_chain_boundary(min_chain, reported):
    assert codes(CHAIN_4, rule_options={"VG101": {"min-chain": min_chain}}) == (["VG101"] if reported else [])


def test_vg101_reports_every_long_enough_chain():
    source = (
        "from torch import nn\nmodel = nn.Sequential(\n"
        + "    nn.Linear(8, 8), nn.Sigmoid(),\n" * 2
        + "    nn.Linear(8, 8), nn.ReLU(),\n"  # breaks the chain: two chains of 2 and 5
        + "    nn.Linear(8, 8), nn.Sigmoid(),\n" * 5
        + ")\n"
    )
    def chains(min_chain: int) -> list[tuple[int, int]]:
        found = run(source, rule_options={"VG101": {"min-chain": min_chain}})
        return [(f[3][0], f[5]["chain_length"]) for f in found if f[0] == "VG101"]

    assert chains(2) == [(3, 2), (6, 5)]
    assert chains(3) == [(6, 5)]


APPROXIMATE = """\
import torch.nn as nn


class Unrolled(nn.Module):
    def __init__(self, width=64, depth={depth}):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(depth):
            self.layers.append(nn.Linear(width, width))
{extra}            self.layers.append(nn.{act}())

    def forward(self, x):
        i = 0
        while i < len(self.layers):
            x = self.layers[i](x)
            i += 1
        return x
"""


def test_findings_on_a_path_in_declaration_order_are_one_severity_lower_with_a_note():
    # 12 x (Linear -> sigmoid), forward not followed: sqrt((1/48)^11) = 5.7e-10 would be an error
    found = run(APPROXIMATE.format(depth=12, extra="", act="Sigmoid"))
    assert [(f[0], f[1], f[4]) for f in found] == [("VG101", "info", "Unrolled"), ("VG102", "warning", "Unrolled")]
    vg101, vg102 = found
    assert vg101[5] == {"chain_length": 12, "activations": "sigmoid", "approximate": True}
    assert vg101[6].endswith("between them" + NOTE)
    assert vg102[5]["estimate"] == float(f"{math.sqrt(1 / 48) ** 11:.3g}") == 5.66e-10
    assert vg102[5]["approximate"] is True
    assert vg102[6] == "estimated gradient attenuation 5.7e-10 across 12 weight layers, mostly from sigmoid derivatives" + NOTE


def test_a_warning_on_an_approximate_path_becomes_info():
    # 6 x (Linear -> sigmoid): 5 factors of 1/48 between the first and last Linear:
    # 48^-2.5 = 1 / (2304 * 6.928) = 6.26e-5, a warning, lowered to info
    found = run(APPROXIMATE.format(depth=6, extra="", act="Sigmoid"))
    assert [(f[0], f[1]) for f in found] == [("VG101", "info"), ("VG102", "info")]
    assert found[1][5]["estimate"] == 6.26e-05


def test_vg103_and_vg104_stay_silent_on_an_approximate_path():
    # 20 x (Linear -> LayerNorm -> ReLU) with no skip: VG104 on the real path, nothing on a guessed one
    extra = "            self.layers.append(nn.LayerNorm(width))\n"
    assert codes(APPROXIMATE.format(depth=20, extra=extra, act="ReLU")) == []
    # without the norms only the estimate (sqrt(1/6)^19, lowered from an error) is reported
    assert codes(APPROXIMATE.format(depth=20, extra="", act="ReLU")) == ["VG102"]


# -- VG102 ---------------------------------------------------------------------------------------

TWO_LINEAR = "from torch import nn\nmodel = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64))\n"
SQRT_THIRD = math.sqrt(1 / 3)  # the estimate of TWO_LINEAR: one default-init square layer


def test_vg102_in_full():
    assert run(TWO_LINEAR, rule_options={"VG102": {"warn-below": 1.0}}) == [(
        "VG102", "warning", "pkg/model.py", (2, 1, 2, 6), "model",
        {"estimate": 0.577, "weight_layers": 2, "cause": "weight initialisation (default init)", "approximate": False},
        "estimated gradient attenuation 5.8e-01 across 2 weight layers, mostly from weight initialisation (default init)",
    )]  # fmt: skip


@pytest.mark.parametrize(
    ("warn_below", "error_below", "severity"),
    [
        (SQRT_THIRD, 1e-8, None),  # not below warn-below: nothing
        (math.nextafter(SQRT_THIRD, 1), 1e-8, "warning"),
        (1.0, SQRT_THIRD, "warning"),  # not below error-below: a warning
        (1.0, math.nextafter(SQRT_THIRD, 1), "error"),
        (0.5, 0.1, None),
    ],
)
def test_vg102_thresholds_are_strict(warn_below, error_below, severity):
    found = run(TWO_LINEAR, rule_options={"VG102": {"warn-below": warn_below, "error-below": error_below}})
    assert [f[1] for f in found] == ([severity] if severity else [])


def test_vg102_names_every_init_of_the_path():
    source = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 64)
        nn.init.xavier_uniform_(self.b.weight)
        nn.init.normal_(self.c.weight, std=0.01)

    def forward(self, x):
        return self.c(self.b(self.a(x)))
"""
    # b: xavier on a square layer, 2 * 64 / (64 + 64) = 1; c: 64 * 0.01^2 = 0.0064: sqrt(0.0064) = 0.08
    [finding] = run(source, rule_options={"VG102": {"warn-below": 1.0}})
    assert finding[3] == (4, 7, 4, 10)
    assert finding[5] == {
        "estimate": 0.08, "weight_layers": 3, "cause": "weight initialisation (default, normal, xavier_uniform init)",
        "approximate": False,
    }  # fmt: skip


def test_vg102_names_the_most_frequent_activation():
    # Linear, then tanh, sigmoid, tanh between Linears: 1/3^3 * 1/16 -> sqrt = 0.048; activation share
    # log10(1/4) = -0.6 against init 1.5 * log10(1/3) = -0.72: init dominates. With 3 sigmoids and 1 tanh
    # the activations dominate and the most frequent is named.
    source = (
        "from torch import nn\nmodel = nn.Sequential(\n    nn.Linear(8, 8),\n"
        + "    nn.Sigmoid(), nn.Linear(8, 8),\n" * 3
        + "    nn.Tanh(), nn.Linear(8, 8),\n"
        + ")\n"
    )
    # (1/48)^3 * 1/3 -> sqrt = 1.7e-3
    [finding] = [f for f in run(source, rule_options={"VG102": {"warn-below": 1.0}}) if f[0] == "VG102"]
    assert finding[5]["cause"] == "sigmoid derivatives"
    assert finding[5]["estimate"] == float(f"{math.sqrt((1 / 48) ** 3 / 3):.3g}")


# -- VG103, VG104 --------------------------------------------------------------------------------


def mlp(layers: int, act: str = "ReLU", norm: bool = False, init: str = "") -> str:
    block = f"nn.Linear(8, 8), {'nn.LayerNorm(8), ' if norm else ''}nn.{act}()"
    body = "".join(f"    {block},\n" for _ in range(layers))
    return f"import torch.nn as nn\nmodel = nn.Sequential(\n{body})\n{init}"


KAIMING = "for m in model.modules():\n    if isinstance(m, nn.Linear):\n        nn.init.kaiming_normal_(m.weight, nonlinearity='relu')\n"


def test_vg103_in_full():
    # 10 default-init ReLU layers: sqrt(1/6)^9 = 9.9e-4 < 0.1: a warning
    found = run(mlp(10))
    assert ("VG103", "warning", "pkg/model.py", (2, 1, 2, 6), "model", {"weight_layers": 10},
            "10 weight layers on the deepest path and no normalisation layer") in found  # fmt: skip


def test_vg103_is_info_while_the_init_keeps_the_gradient():
    found = {f[0]: f for f in run(mlp(10, init=KAIMING))}
    assert found["VG103"][1] == "info"  # Kaiming + ReLU: estimate 1, healthy
    assert found["VG103"][4] == "model"


@pytest.mark.parametrize(("layers", "codes_"), [(9, []), (10, ["VG103"]), (19, ["VG103"]), (20, ["VG103", "VG104"])])
def test_vg103_vg104_layer_count_boundaries(layers, codes_):
    assert [c for c in codes(mlp(layers, init=KAIMING)) if c in ("VG103", "VG104")] == codes_


def test_vg104_in_full():
    # 20 default-init ReLU layers and no norm: the gradient shrinks (VG103 says so too); a warning
    found = [f for f in run(mlp(20)) if f[0] == "VG104"]
    assert found == [("VG104", "warning", "pkg/model.py", (2, 1, 2, 6), "model", {"weight_layers": 20},
                      "20 weight layers on the deepest path and no residual or dense connection")]  # fmt: skip


def test_vg104_is_info_when_every_layer_is_normalised_and_the_estimate_is_healthy():
    # a LayerNorm after each of 20 layers holds the scale: the gradient reaches the first layer at init
    found = run(mlp(20, norm=True))
    assert found == [("VG104", "info", "pkg/model.py", (2, 1, 2, 6), "model", {"weight_layers": 20},
                      "20 weight layers on the deepest path and no residual or dense connection")]  # fmt: skip


def test_vg104_min_layers_option():
    assert codes(mlp(5, norm=True), rule_options={"VG104": {"min-layers": 5}}) == ["VG104"]
    assert codes(mlp(5, norm=True), rule_options={"VG104": {"min-layers": 6}}) == []


# -- VG105 ---------------------------------------------------------------------------------------


def test_vg105_library_stacks_in_full():
    source = (
        "from torch import nn\n"
        "decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(512, 8), num_layers=12)\n"
        "model = nn.Transformer(d_model=512, num_encoder_layers=12, num_decoder_layers=6)\n"
    )
    message = (
        "12 post-LN transformer layers (norm_first=False): deep Post-LN stacks need learning-rate warm-up "
        "and often fail to train"
    )
    assert run(source) == [
        ("VG105", "warning", "pkg/model.py", (2, 11, 2, 83), "decoder", {"num_layers": 12, "stack": "TransformerDecoder"}, message),
        ("VG105", "warning", "pkg/model.py", (3, 9, 3, 81), "model", {"num_layers": 12, "stack": "Transformer"}, message),
    ]


def hand_stack(encoders: int, decoders: int = 0) -> str:
    lines = "".join("            nn.TransformerEncoderLayer(64, 4),\n" for _ in range(encoders))
    lines += "".join("            nn.TransformerDecoderLayer(64, 4),\n" for _ in range(decoders))
    return f"""\
import torch.nn as nn


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([
{lines}        ])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
"""


def test_vg105_hand_made_stack_is_reported_at_its_first_layer():
    # 12 encoder layers and one decoder layer: the 12 encoder layers are the stack
    [finding] = run(hand_stack(12, 1))
    assert finding[:6] == (
        "VG105", "warning", "pkg/model.py", (8, 13, 8, 46), "Stack", {"num_layers": 12, "stack": "TransformerEncoderLayer"},
    )  # fmt: skip


def test_vg105_hand_made_decoder_stack():
    [finding] = run(hand_stack(1, 12))
    assert finding[3][0] == 9 and finding[5] == {"num_layers": 12, "stack": "TransformerDecoderLayer"}


def test_vg105_hand_made_stack_below_the_minimum():
    assert codes(hand_stack(11, 11)) == []
    assert codes(hand_stack(11), rule_options={"VG105": {"min-layers": 11}}) == ["VG105"]


def _package(tmp_path, sibling: str, model: str) -> str:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "blocks.py").write_text(sibling)
    (tmp_path / "pkg" / "net.py").write_text(model)
    return str(tmp_path / "pkg" / "net.py")


SIBLING_CLASS_MODEL = (
    "import torch.nn as nn\n\nfrom .blocks import make\n\n\n"
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.body = make()\n\n    def forward(self, x):\n        return self.body(x)\n"
)


SIBLING_BLOCK_MODEL = SIBLING_CLASS_MODEL.replace("import make", "import Block").replace("make()", "Block()")


@pytest.mark.parametrize(
    ("layers", "stack"),
    [
        ("nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4), num_layers=12)", "TransformerEncoder"),
        ("nn.ModuleList([nn.TransformerDecoderLayer(64, 4) for _ in range(12)])", "TransformerDecoderLayer"),
    ],
)
def test_vg105_stack_in_a_sibling_modules_class_is_reported_at_the_model(tmp_path, layers, stack):
    forward = "        return self.layers(x)\n" if "ModuleList" not in layers else (
        "        for layer in self.layers:\n            x = layer(x)\n        return x\n"
    )
    sibling = (
        "from torch import nn\n\n\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        f"        self.layers = {layers}\n\n    def forward(self, x):\n{forward}"
    )
    path = _package(tmp_path, sibling, SIBLING_BLOCK_MODEL)
    found = run(SIBLING_BLOCK_MODEL, filename=path)
    assert [(f[0], f[3], f[4], f[5]) for f in found] == [("VG105", (6, 7, 6, 10), "Net", {"num_layers": 12, "stack": stack})]


@pytest.mark.parametrize(("settings", "severity"), [({}, "info"), ({"sequence_length": 500}, "warning")])
def test_vg201_rnn_in_a_sibling_modules_class_is_reported_at_the_model(tmp_path, settings, severity):
    sibling = (
        "from torch import nn\n\n\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.rnn = nn.RNN(16, 32)\n\n    def forward(self, x):\n        return self.rnn(x)[0]\n"
    )
    path = _package(tmp_path, sibling, SIBLING_BLOCK_MODEL)
    found = run(SIBLING_BLOCK_MODEL, filename=path, **settings)
    assert [(f[0], f[1], f[3], f[4]) for f in found] == [("VG201", severity, (6, 7, 6, 10), "Net")]


def test_vg401_cut_in_a_sibling_modules_class_is_reported_at_the_model(tmp_path):
    sibling = (
        "from torch import nn\n\n\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.a = nn.Linear(8, 8)\n        self.b = nn.Linear(8, 8)\n\n"
        "    def forward(self, x):\n        return self.b(self.a(x).detach())\n"
    )
    path = _package(tmp_path, sibling, SIBLING_BLOCK_MODEL)
    found = [f for f in run(SIBLING_BLOCK_MODEL, filename=path) if f[0] == "VG401"]
    assert [(f[3], f[4], f[5]) for f in found] == [((6, 7, 6, 10), "Net", {"cut": "detach()", "layers": ["body.a"]})]


def test_vg105_stack_built_by_a_sibling_modules_function_is_reported_at_the_model(tmp_path):
    """Found by mutation testing: these were reported at 1:1 of the checked file (fixed in a4110b1)."""
    sibling = (
        "from torch import nn\n\n\ndef make():\n"
        "    layer = nn.TransformerEncoderLayer(64, 4)\n"
        "    return nn.TransformerEncoder(layer, num_layers=12)\n"
    )
    path = _package(tmp_path, sibling, SIBLING_CLASS_MODEL)
    [finding] = run(SIBLING_CLASS_MODEL, filename=path)
    assert (finding[0], finding[3], finding[4]) == ("VG105", (6, 7, 6, 10), "Net")


def test_vg101_chain_built_by_a_sibling_modules_function_is_reported_at_the_model(tmp_path):
    sibling = (
        "from torch import nn\n\n\ndef make():\n    layers = []\n    for _ in range(6):\n"
        "        layers += [nn.Linear(8, 8), nn.Sigmoid()]\n    return nn.Sequential(*layers)\n"
    )
    path = _package(tmp_path, sibling, SIBLING_CLASS_MODEL)
    found = [f for f in run(SIBLING_CLASS_MODEL, filename=path) if f[0] == "VG101"]
    assert [(f[3], f[4]) for f in found] == [((6, 7, 6, 10), "Net")]


# -- VG201, VG202 --------------------------------------------------------------------------------


def test_vg201_from_the_configured_sequence_length():
    assert run("from torch import nn\nrnn = nn.RNN(16, 32)\n", sequence_length=512) == [(
        "VG201", "warning", "pkg/model.py", (2, 7, 2, 21), "rnn",
        {"rnn": "nn.RNN", "sequence_length": 512, "length_source": "sequence-length in [tool.vglint]"},
        "plain nn.RNN over sequences of 512 steps (sequence-length in [tool.vglint])" + VG201_ADVICE,
    )]  # fmt: skip


@pytest.mark.parametrize(("length", "reported"), [(99, False), (100, True)])
def test_vg201_min_seq_len_boundary(length, reported):
    assert codes("from torch import nn\nrnn = nn.RNN(16, 32)\n", sequence_length=length) == (["VG201"] if reported else [])


def test_vg201_unknown_length_is_info():
    assert run("from torch import nn\nrnn = nn.RNN(16, 32)\n") == [(
        "VG201", "info", "pkg/model.py", (2, 7, 2, 21), "rnn",
        {"rnn": "nn.RNN", "sequence_length": None, "length_source": None},
        "plain nn.RNN over sequences of unknown length" + VG201_ADVICE,
    )]  # fmt: skip


def test_vg201_length_fed_to_a_model_whose_forward_hides_the_shape():
    source = """\
import torch
from torch import nn


class Char(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(16, 32, batch_first=True)

    def forward(self, x):
        x = helper(x)
        return self.rnn(x)[0]


model = Char()
out = model(torch.randn(8, 700, 16))
"""
    found = run(source)
    assert [(f[0], f[1], f[3][:2], f[5]["sequence_length"]) for f in found] == [("VG201", "warning", (8, 20), 700)]


def test_vg201_rnncell_reads_the_length_from_dimension_1():
    source = "import torch\nfrom torch import nn\ncell = nn.RNNCell(16, 32)\nh = cell(torch.randn(8, 500, 16))\n"
    assert run(source) == [(
        "VG201", "warning", "pkg/model.py", (3, 8, 3, 26), "cell",
        {"rnn": "nn.RNNCell", "sequence_length": 500, "length_source": "torch.randn(8, 500, 16), line 4"},
        "plain nn.RNNCell over sequences of 500 steps (torch.randn(8, 500, 16), line 4)" + VG201_ADVICE,
    )]  # fmt: skip


def test_vg201_length_of_a_tensor_fed_to_a_model_class():
    source = """\
import torch
from torch import nn


class Char(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(16, 32)

    def forward(self, x):
        return self.rnn(x)[0]


model = Char()
out = model(torch.randn(700, 8, 16))
"""
    found = run(source)
    assert [(f[0], f[1], f[3]) for f in found] == [("VG201", "warning", (8, 20, 8, 34))]
    assert found[0][5]["sequence_length"] == 700
    assert found[0][5]["length_source"] == "torch.randn(700, 8, 16), line 15"


@pytest.mark.parametrize(
    "feed",
    [
        "out, _ = rnn(torch.randn(500))",  # no time dimension
        "n = int(input())\nout, _ = rnn(torch.randn(8, n, 16))",  # a length vglint cannot know
    ],
)
def test_vg201_a_tensor_without_a_known_length_leaves_it_unknown(feed):
    source = f"import torch\nfrom torch import nn\nrnn = nn.RNN(16, 32, batch_first=True)\n{feed}\n"
    assert [(f[0], f[1], f[5]["sequence_length"]) for f in run(source)] == [("VG201", "info", None)]


LOOP = """

def train(net, batches, optimizer):
    for x, y in batches:
        loss = net(x).sum()
        loss.backward()
        optimizer.step()
"""


def test_vg202_in_full():
    found = [f for f in run("from torch import nn\nrnn = nn.GRU(8, 16)\n" + LOOP) if f[0] == "VG202"]
    assert found == [(
        "VG202", "warning", "pkg/model.py", (8, 9, 8, 24), None, {"function": "train", "rnn": "nn.GRU"},
        "training loop in train() for a recurrent model (nn.GRU) " + VG202_ADVICE,
    )]  # fmt: skip


def test_vg202_not_without_a_recurrent_layer():
    assert codes("import torch\n" + LOOP) == []
    assert codes("from torch import nn\nmlp = nn.Sequential(nn.Linear(8, 8), nn.ReLU())\n" + LOOP) == []


def test_vg202_not_when_clipping_is_configured_elsewhere():
    source = "from torch import nn\nimport lightning as L\nrnn = nn.LSTM(8, 16)\ntrainer = L.Trainer(gradient_clip_val=1.0)\n"
    assert "VG202" not in codes(source + LOOP)


def test_vg202_in_a_file_with_other_models_needs_the_loop_to_use_a_recurrent_one():
    source = """\
from torch import nn

rnn = nn.LSTM(8, 16)
mlp = nn.Sequential(nn.Linear(8, 8), nn.ReLU())


def train(batches, optimizer):
    for x, y in batches:
        loss = {model}(x).sum()
        loss.backward()
        optimizer.step()
"""
    assert "VG202" not in codes(source.format(model="mlp"))
    assert "VG202" in codes(source.format(model="rnn"))


def test_vg202_loop_using_a_recurrent_model_class():
    source = """\
from torch import nn


class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 16)

    def forward(self, x):
        return self.rnn(x)[0]


mlp = nn.Sequential(nn.Linear(8, 8), nn.ReLU())


def train(batches, optimizer):
    model = {model}
    for x, y in batches:
        loss = model(x).sum()
        loss.backward()
        optimizer.step()
"""
    assert [f[3] for f in run(source.format(model="Enc()")) if f[0] == "VG202"] == [(20, 9, 20, 24)]
    assert "VG202" not in codes(source.format(model="mlp"))


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_vg202_loop_that_builds_a_torch_recurrent_layer(cls):
    source = f"""\
from torch import nn

mlp = nn.Sequential(nn.Linear(8, 8), nn.ReLU())


def train(batches, optimizer):
    cell = nn.{cls}(8, 8)
    for x, y in batches:
        loss = cell(x).sum()
        loss.backward()
        optimizer.step()
"""
    vg202 = [f for f in run(source) if f[0] == "VG202"]
    assert [(f[3], f[5]) for f in vg202] == [((10, 9, 10, 24), {"function": "train", "rnn": f"nn.{cls}"})]


# -- VG301, VG302 --------------------------------------------------------------------------------


def test_vg301_in_full():
    source = """\
import torch.nn as nn

model = nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())
criterion = nn.BCELoss()


def train(x, y, optimizer):
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
"""
    assert [f for f in run(source) if f[0] == "VG301"] == [(
        "VG301", "warning", "pkg/model.py", (8, 12, 8, 34), None, {"loss": "nn.BCELoss", "replacement": "nn.BCEWithLogitsLoss"},
        "sigmoid output fed to nn.BCELoss: a saturated logit gets a zero gradient; drop the sigmoid and use nn.BCEWithLogitsLoss",
    )]  # fmt: skip


def test_vg302_in_full():
    source = """\
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(8, 3)


def train(x, y, optimizer):
    loss = F.cross_entropy(F.softmax(model(x), dim=1), y)
    loss.backward()
    optimizer.step()
"""
    assert [f for f in run(source) if f[0] == "VG302"] == [(
        "VG302", "warning", "pkg/model.py", (8, 12, 8, 58), None, {"loss": "F.cross_entropy"},
        ("softmax output fed to F.cross_entropy, which applies log-softmax itself: confident predictions get a "
         "vanishing gradient; pass the logits"),
    )]  # fmt: skip


# -- VG401, VG402 --------------------------------------------------------------------------------


def net(forward: str, layers: tuple[str, ...] = ("stem", "f", "g")) -> str:
    init = "".join(f"        self.{name} = nn.Linear(8, 8)\n" for name in layers)
    return (
        "import torch\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        f"        super().__init__()\n{init}\n    def forward(self, x):\n{forward}"
    )


def cuts(source: str) -> list[tuple]:
    return [(f[0], f[3][:2], f[5]) for f in run(source) if f[0] in ("VG401", "VG402")]


def test_vg401_in_full():
    source = net("        x = self.stem(x).detach()\n        return self.f(x)\n")
    assert [f for f in run(source) if f[0] == "VG401"] == [(
        "VG401", "warning", "pkg/model.py", (13, 13, 13, 34), "Net", {"cut": "detach()", "layers": ["stem"]},
        "detach() in forward cuts the gradient: stem get no gradient from the output",
    )]  # fmt: skip


def test_a_cut_after_a_residual_block_cuts_both_routes():
    source = net("        x = self.stem(x)\n        x = (x + self.f(x)).detach()\n        return self.g(x)\n")
    assert cuts(source) == [("VG401", (14, 13), {"cut": "detach()", "layers": ["stem", "f"]})]


def test_straight_through_either_way_round_keeps_the_input_alive():
    for expression in ("x + (self.f(x) - x).detach()", "(self.f(x) - x).detach() + x"):
        source = net(f"        x = self.stem(x)\n        return {expression}\n")
        assert [c[2] for c in cuts(source)] == [{"cut": "detach()", "layers": ["f"]}], expression


def test_two_cut_branches_each_report_their_layers():
    source = net("        x = self.stem(x)\n        return self.f(x).detach() + self.g(x).detach()\n")
    # the layers before the merge reach the output only through the first branch's cut as well
    assert cuts(source) == [
        ("VG401", (14, 16), {"cut": "detach()", "layers": ["stem", "f"]}),
        ("VG401", (14, 37), {"cut": "detach()", "layers": ["g"]}),
    ]


def test_a_layer_that_also_reaches_the_output_uncut_is_not_reported():
    assert cuts(net("        return self.f(x) + self.f(x).detach()\n", ("f",))) == []
    assert cuts(net("        return self.f(x) + self.f(x * 2).detach()\n", ("f",))) == []
    # f is applied on both routes, g only on the cut one: only g is reported
    source = net("        return self.f(x) + self.f(self.g(x)).detach()\n", ("f", "g"))
    assert cuts(source) == [("VG401", (12, 28), {"cut": "detach()", "layers": ["g"]})]


def test_functional_ops_in_a_no_grad_block_have_no_parameters_to_lose():
    forward = (
        "        with torch.no_grad():\n            x = torch.nn.functional.layer_norm(x, (8,))\n"
        "            x = torch.nn.functional.linear(x, torch.ones(8, 8))\n        return self.f(x)\n"
    )
    assert cuts(net(forward, ("f",))) == []


def test_a_frozen_instance_of_a_model_class_is_not_reported():
    source = """\
import torch
import torch.nn as nn


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Linear(8, 8)

    def forward(self, x):
        return self.conv(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
{freeze}        self.head = nn.Linear(8, 1)

    def forward(self, x):
        with torch.no_grad():
            x = self.backbone(x)
        return self.head(x)
"""
    assert cuts(source.format(freeze="        self.backbone.requires_grad_(False)\n")) == []
    assert cuts(source.format(freeze="")) == [("VG402", (21, 14), {"context": "torch.no_grad()", "layers": ["backbone.conv"]})]


def test_vg401_and_vg402_in_one_model():
    source = net(
        "        with torch.no_grad():\n            y = self.f(x)\n        z = self.g(x).detach()\n"
        "        return self.stem(y + z)\n"
    )
    assert [f for f in run(source) if f[0] in ("VG401", "VG402")] == [
        ("VG401", "warning", "pkg/model.py", (15, 13, 15, 31), "Net", {"cut": "detach()", "layers": ["g"]},
         "detach() in forward cuts the gradient: g get no gradient from the output"),
        ("VG402", "warning", "pkg/model.py", (13, 14, 13, 29), "Net", {"context": "torch.no_grad()", "layers": ["f"]},
         "torch.no_grad() in forward around f, whose parameters still require grad: they get no gradient"),
    ]  # fmt: skip


def test_vg402_names_at_most_three_layers():
    names = ("a", "b", "c", "d", "e", "head")
    body = "".join(f"                x = self.{n}(x)\n" for n in names[:5])
    source = net(f"        with torch.no_grad():\n{body.replace(' ' * 16, ' ' * 12)}        return self.head(x)\n", names)
    [finding] = [f for f in run(source) if f[0] == "VG402"]
    assert finding[5] == {"context": "torch.no_grad()", "layers": ["a", "b", "c", "d", "e"]}
    assert finding[6] == "torch.no_grad() in forward around a, b, c and 2 more, whose parameters still require grad: they get no gradient"


def test_frozen_layers_are_not_reported():
    source = net("        with torch.no_grad():\n            x = self.stem(x)\n        return self.f(x)\n", ("stem", "f"))
    frozen = source.replace("        self.f = nn.Linear(8, 8)\n", "        self.f = nn.Linear(8, 8)\n        self.stem.requires_grad_(False)\n")
    assert [c[0] for c in cuts(source)] == ["VG402"]
    assert cuts(frozen) == []
