"""Every option settable under `[tool.vglint.rules.CODE]` (and `sequence-length` under `[tool.vglint]`)
changes what is reported: a model at the boundary of each default, and a pyproject.toml that moves
the finding in or out or changes its severity.

The expected lines, columns, severities and messages are written by hand (the estimates were worked
out from the README's formula and checked once with `vglint inspect --output-format json`)."""

from __future__ import annotations

import json

import pytest

JSON = ("--output-format", "json")


def reported(result) -> list[tuple[int, int, str, str]]:
    """(row, column, code, severity) of each finding of a JSON report."""
    return [(f["location"]["row"], f["location"]["column"], f["code"], f["severity"]) for f in json.loads(result.stdout)]


def run_with(project, cli, source: str, toml: str | None, *flags: str):
    project.write("model.py", source)
    if toml is not None:
        project.pyproject(toml)
    return cli("model.py", *flags, *JSON)


# --- VG101 min-chain ------------------------------------------------------------------------------


def sigmoid_net(sigmoids: int) -> str:
    """`sigmoids` x (Linear(64, 64) -> Sigmoid) then Linear(64, 64); the first nn.Sigmoid() is on line 9, col 13."""
    body = "".join("            nn.Linear(64, 64),\n            nn.Sigmoid(),\n" for _ in range(sigmoids))
    return (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class SigmoidNet(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.net = nn.Sequential(\n"
        f"{body}"
        "            nn.Linear(64, 64),\n"
        "        )\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.net(x)\n"
    )


@pytest.mark.parametrize(
    ("sigmoids", "toml", "expected"),
    [
        (4, None, [(9, 13, "VG101", "warning")]),  # 4 >= the default 4
        (4, "[tool.vglint.rules.VG101]\nmin-chain = 5\n", []),
        (4, "[tool.vglint.rules.VG101]\nmin-chain = 4\n", [(9, 13, "VG101", "warning")]),
        (3, None, []),  # 3 < 4
        (3, "[tool.vglint.rules.VG101]\nmin-chain = 3\n", [(9, 13, "VG101", "warning")]),
    ],
    ids=["4-default", "4-min5", "4-min4", "3-default", "3-min3"],
)
def test_vg101_min_chain(project, cli, sigmoids, toml, expected):
    result = run_with(project, cli, sigmoid_net(sigmoids), toml, "--select", "VG101")
    assert reported(result) == expected


def test_vg101_min_chain_message_counts_the_chain(project, cli):
    result = run_with(project, cli, sigmoid_net(3), "[tool.vglint.rules.VG101]\nmin-chain = 3\n", "--select", "VG101")
    [finding] = json.loads(result.stdout)
    assert finding["message"] == (
        "3 saturating activations (sigmoid) in a row with no normalisation or skip connection between them"
    )
    assert result.exit_code == 1


# --- VG102 warn-below and error-below ---------------------------------------------------------------

#: 25 x Linear(128, 128) with 24 tanh between them, default init. tanh's factor is 1, each of the 24
#: steps back multiplies the variance by 1/3: estimate sqrt(3^-24) = 3^-12 = 1.88e-6, between the
#: default warn-below (1e-4) and error-below (1e-8). Reported at `class TanhMLP` (4:7).
TANH_MLP = """\
import torch.nn as nn


class TanhMLP(nn.Module):
    def __init__(self, depth=24, width=128):
        super().__init__()
        layers = [nn.Linear(width, width)]
        for _ in range(depth):
            layers += [nn.Tanh(), nn.Linear(width, width)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
"""
TANH_MLP_MESSAGE = (
    "estimated gradient attenuation 1.9e-06 across 25 weight layers, mostly from weight initialisation (default init)"
)


def test_vg102_estimate_between_the_default_thresholds_is_a_warning(project, cli):
    result = run_with(project, cli, TANH_MLP, None, "--select", "VG102")
    [finding] = json.loads(result.stdout)
    assert (finding["location"]["row"], finding["location"]["column"]) == (4, 7)
    assert finding["severity"] == "warning"
    assert finding["message"] == TANH_MLP_MESSAGE
    assert finding["evidence"]["estimate"] == pytest.approx(1.88e-6, rel=0.01)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("error-below = 1e-5", [(4, 7, "VG102", "error")]),  # 1.9e-6 < 1e-5: an error now
        ("error-below = 2e-6", [(4, 7, "VG102", "error")]),
        ("error-below = 1e-6", [(4, 7, "VG102", "warning")]),  # 1.9e-6 >= 1e-6: still a warning
        ("warn-below = 2e-6", [(4, 7, "VG102", "warning")]),
        ("warn-below = 1e-6", []),  # 1.9e-6 >= 1e-6: not reported at all
        ("warn-below = 1e-3\nerror-below = 1e-5", [(4, 7, "VG102", "error")]),
        ("warn-below = 1e-5\nerror-below = 1e-7", [(4, 7, "VG102", "warning")]),
    ],
)
def test_vg102_thresholds(project, cli, toml, expected):
    result = run_with(project, cli, TANH_MLP, f"[tool.vglint.rules.VG102]\n{toml}\n", "--select", "VG102")
    assert reported(result) == expected


def test_vg102_error_below_makes_fail_on_error_fail(project, cli):
    project.write("model.py", TANH_MLP)
    assert cli("model.py", "--select", "VG102", "--fail-on", "error").exit_code == 0
    project.pyproject("[tool.vglint.rules.VG102]\nerror-below = 1e-5\n")
    assert cli("model.py", "--select", "VG102", "--fail-on", "error").exit_code == 1


def test_vg102_error_below_lowered_under_a_deep_sigmoid_mlp(project, cli):
    """The 20-layer sigmoid MLP is an error by default (about 1e-16); error-below = 1e-20 makes it a warning."""
    project.mlp("model.py")
    assert reported(cli("model.py", "--select", "VG102", *JSON)) == [(2, 1, "VG102", "error")]
    project.pyproject("[tool.vglint.rules.VG102]\nerror-below = 1e-20\n")
    assert reported(cli("model.py", "--select", "VG102", *JSON)) == [(2, 1, "VG102", "warning")]


# 11 x Linear(256, 256) with tanh: sqrt(1/3)^10 = 3^-5 = 4.1e-3, above the default warn-below.
TANH_11 = TANH_MLP.replace("depth=24, width=128", "depth=10, width=256")


def test_vg102_warn_below_raised_over_a_healthy_estimate(project, cli):
    assert reported(run_with(project, cli, TANH_11, None, "--select", "VG102")) == []
    result = run_with(project, cli, TANH_11, "[tool.vglint.rules.VG102]\nwarn-below = 1e-2\n", "--select", "VG102")
    [finding] = json.loads(result.stdout)
    assert finding["severity"] == "warning"
    assert finding["message"] == (
        "estimated gradient attenuation 4.1e-03 across 11 weight layers, mostly from weight initialisation (default init)"
    )


# --- VG103 min-layers -------------------------------------------------------------------------------


def relu_mlp(weight_layers: int) -> str:
    """`weight_layers` x Linear(128, 128) with ReLU between, default init, no norm, no skip.
    Estimate (1/6)^((n-1)/2): 3.2e-4 for 10 layers, 7.7e-4 for 9 (no VG102; VG103 is a warning, < 0.1)."""
    return f"""\
import torch.nn as nn


class ReLUMLP(nn.Module):
    def __init__(self, depth={weight_layers}, width=128):
        super().__init__()
        layers = []
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        layers.append(nn.Linear(width, width))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
"""


@pytest.mark.parametrize(
    ("layers", "toml", "expected"),
    [
        (10, None, [(4, 7, "VG103", "warning")]),  # 10 >= the default 10
        (10, "min-layers = 11", []),
        (10, "min-layers = 10", [(4, 7, "VG103", "warning")]),
        (9, None, []),
        (9, "min-layers = 9", [(4, 7, "VG103", "warning")]),
    ],
    ids=["10-default", "10-min11", "10-min10", "9-default", "9-min9"],
)
def test_vg103_min_layers(project, cli, layers, toml, expected):
    config = None if toml is None else f"[tool.vglint.rules.VG103]\n{toml}\n"
    result = run_with(project, cli, relu_mlp(layers), config)
    assert reported(result) == expected  # every rule on: only VG103 moves


def test_vg103_min_layers_message(project, cli):
    result = run_with(project, cli, relu_mlp(9), "[tool.vglint.rules.VG103]\nmin-layers = 9\n")
    [finding] = json.loads(result.stdout)
    assert finding["message"] == "9 weight layers on the deepest path and no normalisation layer"


# --- VG104 min-layers -------------------------------------------------------------------------------


def plain_bn_net(weight_layers: int) -> str:
    """`weight_layers` x Linear(128, 128), BatchNorm1d + ReLU between them, no skip (no VG103, no VG102)."""
    return f"""\
import torch.nn as nn


class PlainBNNet(nn.Module):
    def __init__(self, depth={weight_layers}, width=128):
        super().__init__()
        layers = []
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU()]
        layers.append(nn.Linear(width, width))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
"""


@pytest.mark.parametrize(
    ("layers", "toml", "expected"),
    [
        # info: BatchNorm follows every conv and the estimate is healthy
        (20, None, [(4, 7, "VG104", "info")]),  # 20 >= the default 20
        (20, "min-layers = 21", []),
        (20, "min-layers = 20", [(4, 7, "VG104", "info")]),
        (19, None, []),
        (19, "min-layers = 19", [(4, 7, "VG104", "info")]),
    ],
    ids=["20-default", "20-min21", "20-min20", "19-default", "19-min19"],
)
def test_vg104_min_layers(project, cli, layers, toml, expected):
    config = None if toml is None else f"[tool.vglint.rules.VG104]\n{toml}\n"
    result = run_with(project, cli, plain_bn_net(layers), config)
    assert reported(result) == expected


def test_vg104_min_layers_message(project, cli):
    result = run_with(project, cli, plain_bn_net(19), "[tool.vglint.rules.VG104]\nmin-layers = 19\n")
    [finding] = json.loads(result.stdout)
    assert finding["message"] == "19 weight layers on the deepest path and no residual or dense connection"


# --- VG105 min-layers -------------------------------------------------------------------------------


def encoder(num_layers: int) -> str:
    return (
        "from torch import nn\n"
        "layer = nn.TransformerEncoderLayer(d_model=512, nhead=8)\n"
        f"encoder = nn.TransformerEncoder(layer, num_layers={num_layers})\n"
    )


@pytest.mark.parametrize(
    ("num_layers", "toml", "expected"),
    [
        (12, None, [(3, 11, "VG105", "warning")]),  # 12 >= the default 12
        (11, None, []),
        (12, "min-layers = 13", []),
        (8, "min-layers = 8", [(3, 11, "VG105", "warning")]),
        (7, "min-layers = 8", []),
    ],
    ids=["12-default", "11-default", "12-min13", "8-min8", "7-min8"],
)
def test_vg105_min_layers_at_the_boundary(project, cli, num_layers, toml, expected):
    config = None if toml is None else f"[tool.vglint.rules.VG105]\n{toml}\n"
    assert reported(run_with(project, cli, encoder(num_layers), config)) == expected


# --- VG201 min-seq-len and sequence-length ----------------------------------------------------------


def char_rnn(constant: str = "") -> str:
    """A plain nn.RNN character model; `constant` is a module-level line at line 3. nn.RNN( is at 10:20."""
    return f"""\
import torch.nn as nn

{constant}


class CharRNN(nn.Module):
    def __init__(self, vocab_size=96, hidden_size=256):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.rnn = nn.RNN(hidden_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens):
        h, _ = self.rnn(self.embed(tokens))
        return self.head(h)
"""


VG201_ADVICE = (
    ": its gradient vanishes over long sequences; use nn.LSTM or nn.GRU (forget-gate bias 1), "
    "truncated backpropagation or gradient clipping"
)


@pytest.mark.parametrize(
    ("constant", "min_seq_len", "expected"),
    [
        ("SEQ_LEN = 100", None, [(10, 20, "VG201", "warning")]),  # 100 >= the default 100
        ("SEQ_LEN = 100", 101, []),
        ("SEQ_LEN = 100", 100, [(10, 20, "VG201", "warning")]),
        ("SEQ_LEN = 99", None, []),  # known and short: nothing, not even info
        ("SEQ_LEN = 99", 99, [(10, 20, "VG201", "warning")]),
    ],
    ids=["100-default", "100-min101", "100-min100", "99-default", "99-min99"],
)
def test_vg201_min_seq_len(project, cli, constant, min_seq_len, expected):
    config = None if min_seq_len is None else f"[tool.vglint.rules.VG201]\nmin-seq-len = {min_seq_len}\n"
    assert reported(run_with(project, cli, char_rnn(constant), config)) == expected


def test_vg201_message_names_the_constant(project, cli):
    result = run_with(project, cli, char_rnn("SEQ_LEN = 99"), "[tool.vglint.rules.VG201]\nmin-seq-len = 99\n")
    [finding] = json.loads(result.stdout)
    assert finding["message"] == "plain nn.RNN over sequences of 99 steps (SEQ_LEN = 99, line 3)" + VG201_ADVICE


def test_vg201_reads_a_length_in_a_class_body_on_the_line_of_its_colon(project, cli):
    """`class Hparams: SEQ_LEN = 500` holds a class-level constant as its indented twin does; it
    had been skipped, and the finding was info, of unknown length."""
    result = run_with(project, cli, char_rnn("class Hparams: SEQ_LEN = 500"), None)
    [finding] = json.loads(result.stdout)
    assert finding["severity"] == "warning"
    assert finding["message"] == "plain nn.RNN over sequences of 500 steps (SEQ_LEN = 500, line 3)" + VG201_ADVICE


def test_vg201_without_length_evidence_is_info(project, cli):
    result = run_with(project, cli, char_rnn(), None)
    [finding] = json.loads(result.stdout)
    assert (finding["location"]["row"], finding["location"]["column"], finding["severity"]) == (10, 20, "info")
    assert finding["message"] == "plain nn.RNN over sequences of unknown length" + VG201_ADVICE
    assert finding["evidence"]["sequence_length"] is None


def test_sequence_length_key_long(project, cli):
    """No length in the code: `sequence-length = 500` makes the unknown-length info a warning that says 500."""
    result = run_with(project, cli, char_rnn(), "[tool.vglint]\nsequence-length = 500\n")
    [finding] = json.loads(result.stdout)
    assert (finding["location"]["row"], finding["location"]["column"]) == (10, 20)
    assert finding["code"] == "VG201"
    assert finding["severity"] == "warning"
    assert finding["message"] == (
        "plain nn.RNN over sequences of 500 steps (sequence-length in [tool.vglint])" + VG201_ADVICE
    )
    assert finding["evidence"]["sequence_length"] == 500
    assert result.exit_code == 1


def test_sequence_length_key_short(project, cli):
    """`sequence-length = 50` says the sequences are short: no finding at all (not even the info)."""
    result = run_with(project, cli, char_rnn(), "[tool.vglint]\nsequence-length = 50\n")
    assert reported(result) == []
    assert result.exit_code == 0


def test_a_length_the_code_shows_wins_over_the_sequence_length_key(project, cli):
    """`sequence-length` is what VG201 assumes when the code does not say (README)."""
    result = run_with(project, cli, char_rnn("SEQ_LEN = 500"), "[tool.vglint]\nsequence-length = 50\n")
    assert reported(result) == [(10, 20, "VG201", "warning")]
    [finding] = json.loads(result.stdout)
    assert finding["message"] == "plain nn.RNN over sequences of 500 steps (SEQ_LEN = 500, line 3)" + VG201_ADVICE
    result = run_with(project, cli, char_rnn("SEQ_LEN = 50"), "[tool.vglint]\nsequence-length = 500\n")
    assert reported(result) == []


def test_sequence_length_key_against_min_seq_len(project, cli):
    toml = "[tool.vglint]\nsequence-length = 500\n[tool.vglint.rules.VG201]\nmin-seq-len = 501\n"
    assert reported(run_with(project, cli, char_rnn(), toml)) == []
