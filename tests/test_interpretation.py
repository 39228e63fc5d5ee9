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
        "net.py:15:58: VG101 8 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
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
