"""vglint reports nothing on guesses: a layer made by an unknown factory may be the normalisation,
so the rules that claim an absence (VG102, VG103, VG104) stay silent on that model; VG101, which
reports a chain that is there, still fires."""

from __future__ import annotations

import json

import pytest

#: A 20-layer sigmoid MLP, then a layer from a factory vglint cannot see, then a head.
UNRESOLVED = """\
import torch.nn as nn
from mylib.layers import make_norm


class SigmoidMLP(nn.Module):
    def __init__(self, depth=20, width=64):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.norm = {norm}
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.norm(self.body(x)))
"""

CHAIN = (10, 49, "VG101", "warning")  # the first nn.Sigmoid() of the list


def reported(result) -> list[tuple[int, int, str, str]]:
    return [(f["location"]["row"], f["location"]["column"], f["code"], f["severity"]) for f in json.loads(result.stdout)]


def test_the_same_model_with_a_known_layer_gets_every_architecture_finding(project, cli):
    """The control: with nn.Identity() in place of the factory the model is deep enough for all four."""
    project.write("model.py", UNRESOLVED.format(norm="nn.Identity()"))
    assert reported(cli("model.py", "--output-format", "json")) == [
        (5, 7, "VG102", "error"),
        (5, 7, "VG103", "warning"),
        (5, 7, "VG104", "warning"),
        CHAIN,
    ]


@pytest.mark.parametrize("norm", ["make_norm(64)", "make_norm(width)", "make_norm(64, kind='batch')"])
def test_unknown_imported_factory_silences_the_absence_rules(project, cli, norm):
    project.write("model.py", UNRESOLVED.format(norm=norm))
    result = cli("model.py", "--output-format", "json")
    assert reported(result) == [CHAIN]


def test_unknown_factory_silences_vg102_even_with_lowered_thresholds(project, cli):
    project.write("model.py", UNRESOLVED.format(norm="make_norm(64)"))
    project.pyproject(
        "[tool.vglint.rules.VG102]\nwarn-below = 0.5\n[tool.vglint.rules.VG103]\nmin-layers = 2\n"
        "[tool.vglint.rules.VG104]\nmin-layers = 2\n"
    )
    result = cli("model.py", "--select", "VG102,VG103,VG104", "--output-format", "json")
    assert reported(result) == []
    assert result.exit_code == 0
