"""`vglint inspect` shows what the front-end understood, and the estimate meets the measured checks
of the design (PyTorch 2.13 CPU, default init): the expected numbers are worked out by hand from
the signal-propagation formula, sqrt(fan_out * Var(W) * E[phi'^2]) per layer."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest

MLP = """\
import torch.nn as nn
import torch.nn.functional as F

class MLP(nn.Module):
    def __init__(self, depth={depth}, width=256):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth + 1)])
{init}
    def forward(self, x):
        x = self.layers[0](x)
        for layer in self.layers[1:]:
            x = layer(F.{act}(x))
        return x
"""
KAIMING = """\
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
"""


def inspect_json(tmp_path, source: str) -> list[dict]:
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(source))
    result = subprocess.run(
        [sys.executable, "-m", "vglint", "inspect", "--output-format", "json", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("depth", "act", "init", "expected"),
    [
        (20, "sigmoid", "", math.sqrt(1 / 3 * 1 / 16) ** 20),  # 1.5e-17; measured ~5e-18
        (11, "tanh", "", math.sqrt(1 / 3) ** 11),  # 2.4e-3; measured ~1.5e-3
        (10, "relu", "", math.sqrt(1 / 3 * 1 / 2) ** 10),  # 0.41x per layer
        (10, "relu", KAIMING, 1.0),  # Kaiming: fan_in * Var(W) = 2, times 1/2
    ],
    ids=["sigmoid-20", "tanh-11", "relu-default", "relu-kaiming"],
)
def test_estimate_matches_the_hand_computed_value(tmp_path, depth, act, init, expected):
    (model,) = inspect_json(tmp_path, MLP.format(depth=depth, act=act, init=init))
    assert model["weight_layers"] == depth + 1
    assert model["estimated_attenuation"] == pytest.approx(expected, rel=0.01)


def test_inspect_text_shows_the_compressed_deepest_path(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MLP.format(depth=20, act="sigmoid", init=""))
    result = subprocess.run([sys.executable, "-m", "vglint", "inspect", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "MLP" in result.stdout
    assert "path:          (Linear -> sigmoid) x20 -> Linear" in result.stdout
    assert "weight layers: 21" in result.stdout
    assert "saturating:    20" in result.stdout
    assert "estimate:      1.5e-17" in result.stdout


def test_inspect_reports_skips_and_norms(tmp_path):
    source = """\
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, c=64):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.bn = nn.BatchNorm2d(c)

        def forward(self, x):
            return x + self.bn(self.conv(x)).relu()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(*[Block() for _ in range(8)])

        def forward(self, x):
            return self.blocks(x)
    """
    models = {m["model"]: m for m in inspect_json(tmp_path, source)}
    net = models["Net"]
    assert net["deepest_path"] == "[Conv2d -> BatchNorm2d -> relu]+skip x8"
    assert net["skips"] == 8 and net["normalizations"] == 8 and net["weight_layers"] == 8
    assert net["approximate"] is False


def test_inspect_missing_path_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vglint", "inspect", str(tmp_path / "nope.py")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("vglint: error: path does not exist")


def test_a_class_named_like_a_norm_that_wraps_a_layer_is_run_not_taken_for_a_norm(tmp_path):
    """vit-pytorch's `PreNorm(dim, fn)` applies a LayerNorm, then the block it holds; d2l's
    `AddNorm()(x, y)` adds its inputs before its LayerNorm; a hand-written RMSNorm is a norm."""
    source = """
        import torch
        import torch.nn as nn


        class PreNorm(nn.Module):
            def __init__(self, dim, fn):
                super().__init__()
                self.norm = nn.LayerNorm(dim)
                self.fn = fn

            def forward(self, x):
                return self.fn(self.norm(x))


        class RMSNorm(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(dim))

            def forward(self, x):
                return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


        class AddNorm(nn.Module):
            def __init__(self, shape):
                super().__init__()
                self.ln = nn.LayerNorm(shape)

            def forward(self, x, y):
                return self.ln(y + x)


        class Net(nn.Module):
            def __init__(self, dim=16):
                super().__init__()
                self.block = PreNorm(dim, nn.Sequential(nn.Linear(dim, dim), nn.Tanh()))
                self.add_norm = AddNorm(dim)
                self.norm = RMSNorm(dim)

            def forward(self, x):
                return self.norm(self.add_norm(x, self.block(x)))
    """
    models = {m["model"]: m for m in inspect_json(tmp_path, source)}
    assert models["Net"]["deepest_path"] == "[LayerNorm -> Linear -> tanh]+skip -> LayerNorm -> RMSNorm"
    assert models["Net"]["normalizations"] == 3
