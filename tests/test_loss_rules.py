"""VG303 and VG304 as a user sees them, and the related place every loss finding (VG301-VG304) names:
the loss call is the finding, the sigmoid or softmax is `related` (JSON), a second block (full
output), and a `# noqa` on either line suppresses the finding. Expected values are written by hand.
"""

from __future__ import annotations

import json

import pytest

VG303_MESSAGE = ("sigmoid output trained with {loss} on class targets: the gradient sigmoid'(z)(sigmoid(z) - y) "
                 "vanishes when a prediction is confidently wrong; train the logits with {instead} or CrossEntropyLoss")  # fmt: skip
VG304_MESSAGE = ("log of softmax probabilities fed to {loss}: a probability that underflows to 0 gives log(0) = -inf "
                 "and NaN gradients; use log_softmax")  # fmt: skip

#: VG303 at 14:16 (criterion(...)), related to nn.Sigmoid() at 5:43.
SIGMOID_MSE = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Sequential(nn.Linear(784, 10), nn.Sigmoid())
criterion = nn.MSELoss()


def train(loader, optimizer):
    for images, digits in loader:
        {assign}
        optimizer.zero_grad()
        out = model(images)
        loss = criterion(out, {target})
        loss.backward()
        optimizer.step()
"""

#: VG304 at 11:16 (F.nll_loss(...)), related to F.softmax(...) at 10:17.
LOG_SOFTMAX = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(20, 5)


def train(x, y, optimizer):
    optimizer.zero_grad()
    probs = F.softmax(model(x), dim=1)
    loss = F.nll_loss({log_probs}, y)
    loss.backward()
    optimizer.step()
"""


def sigmoid_mse(target: str, assign: str = "pass") -> str:
    return SIGMOID_MSE.format(target=target, assign=assign)


def rows(result) -> list[tuple]:
    return [(f["code"], f["location"]["row"], f["location"]["column"], f["severity"], f["message"], f["related"])
            for f in json.loads(result.stdout)]  # fmt: skip


@pytest.mark.parametrize(
    ("assign", "target"),
    [
        ("pass", "F.one_hot(digits, 10).float()"),
        ("targets = F.one_hot(digits, num_classes=10).float()", "targets"),
        ("targets = torch.eye(10)[digits]", "targets.to(out.device)"),
        ("onehot = torch.zeros(len(digits), 10).scatter_(1, digits.unsqueeze(1), 1.0)", "onehot"),
        ("labels = digits", "labels.float()"),
        ("pass", 'batch["label"]'),
    ],
    ids=["inline-one-hot", "assigned-one-hot", "eye-index", "scatter", "labels-name", "label-key"],
)
def test_vg303_on_class_targets(project, cli, assign, target):
    project.write("train.py", sigmoid_mse(target, assign))
    result = cli("train.py", "--output-format", "json", "--select", "VG3")
    assert rows(result) == [
        ("VG303", 14, 16, "warning", VG303_MESSAGE.format(loss="nn.MSELoss", instead="nn.BCEWithLogitsLoss"),
         {"row": 5, "column": 43, "cell": None}),
    ]  # fmt: skip


@pytest.mark.parametrize("target", ["digits", "images", "digits.float()", "out.detach()"])
def test_vg303_is_silent_when_the_code_does_not_show_class_targets(project, cli, target):
    """`y` from a loader may be a regression target; a guess is never a warning (nor any finding)."""
    project.write("train.py", sigmoid_mse(target))
    assert rows(cli("train.py", "--output-format", "json", "--select", "VG3")) == []


def test_vg303_functional_mse(project, cli):
    source = sigmoid_mse("F.one_hot(digits, 10).float()").replace("criterion(out, ", "F.mse_loss(out, ")
    project.write("train.py", source)
    [row] = rows(cli("train.py", "--output-format", "json"))
    assert row == ("VG303", 14, 16, "warning",
                   VG303_MESSAGE.format(loss="F.mse_loss", instead="F.binary_cross_entropy_with_logits"),
                   {"row": 5, "column": 43, "cell": None})  # fmt: skip


@pytest.mark.parametrize("log_probs", ["torch.log(probs)", "probs.log()", "torch.log(probs + 1e-8)"])
def test_vg304_log_of_softmax(project, cli, log_probs):
    project.write("train.py", LOG_SOFTMAX.format(log_probs=log_probs))
    assert rows(cli("train.py", "--output-format", "json")) == [
        ("VG304", 11, 12, "warning", VG304_MESSAGE.format(loss="F.nll_loss"), {"row": 10, "column": 13, "cell": None}),
    ]


@pytest.mark.parametrize("log_probs", ["F.log_softmax(model(x), dim=1)", "torch.log_softmax(model(x), 1)",
                                       "torch.log(probs).exp().log_softmax(1)"])  # fmt: skip
def test_vg304_is_silent_on_log_softmax(project, cli, log_probs):
    project.write("train.py", LOG_SOFTMAX.format(log_probs=log_probs))
    assert rows(cli("train.py", "--output-format", "json")) == []


def test_the_full_output_shows_the_related_line(project, cli):
    project.write("train.py", sigmoid_mse("F.one_hot(digits, 10).float()"))
    lines = cli("train.py", "--select", "VG303").stdout.splitlines()
    assert lines[:9] == [
        "train.py:14:16: " + "VG303 " + VG303_MESSAGE.format(loss="nn.MSELoss", instead="nn.BCEWithLogitsLoss"),
        "   |",
        "14 |         loss = criterion(out, F.one_hot(digits, 10).float())",
        "   |                " + "^" * len("criterion(out, F.one_hot(digits, 10).float())") + " warning",
        "   |",
        " 5 | model = nn.Sequential(nn.Linear(784, 10), nn.Sigmoid())",
        "   |" + " " * 43 + "-" * len("nn.Sigmoid()") + " the sigmoid is applied here",
        ("   = help: return logits and use CrossEntropyLoss on class indices (one class per sample) or "
         "BCEWithLogitsLoss (multi-label)"),
        "",
    ]


def test_vg301_and_vg302_name_the_sigmoid_and_softmax(project, cli):
    project.write("train.py", """\
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(8, 3)


def train(x, y, optimizer):
    loss = F.binary_cross_entropy(F.sigmoid(model(x)), y) + F.cross_entropy(F.softmax(model(x), dim=1), y)
    loss.backward()
    optimizer.step()
""")
    got = [(code, row, related) for code, row, _, _, _, related in rows(cli("train.py", "--output-format", "json"))]
    assert got == [("VG301", 8, {"row": 8, "column": 35, "cell": None}), ("VG302", 8, {"row": 8, "column": 77, "cell": None})]


@pytest.mark.parametrize(
    ("line", "comment", "suppressed"),
    [(14, "# noqa", True), (5, "# noqa: VG303", True), (5, "# vglint: ignore[VG3]", True), (5, "# noqa: VG301", False),
     (6, "# noqa", False)],
    ids=["loss-line", "related-line", "related-vglint-ignore", "other-code", "unrelated-line"],
)  # fmt: skip
def test_noqa_on_either_line_suppresses(project, cli, line, comment, suppressed):
    lines = sigmoid_mse("F.one_hot(digits, 10).float()").splitlines()
    lines[line - 1] += f"  {comment}"
    project.write("train.py", "\n".join(lines) + "\n")
    codes = [row[0] for row in rows(cli("train.py", "--output-format", "json"))]
    assert codes == ([] if suppressed else ["VG303"])


def test_vg304_noqa_on_the_softmax_line(project, cli):
    source = LOG_SOFTMAX.format(log_probs="probs.log()").replace("dim=1)\n", "dim=1)  # noqa: VG304\n")
    project.write("train.py", source)
    assert rows(cli("train.py", "--output-format", "json")) == []


def test_a_finding_without_a_related_place_has_related_null(project, cli):
    project.vg105()
    [finding] = json.loads(cli("model.py", "--output-format", "json").stdout)
    assert finding["related"] is None


def test_vg304_kl_div_input(project, cli):
    """Distillation: KLDivLoss takes log-probabilities as its input, so torch.log(softmax) underflows there too;
    the softmax of the teacher as its target is right."""
    source = LOG_SOFTMAX.format(log_probs="probs.log()").replace("F.nll_loss(probs.log(), y)",
                                                                 "F.kl_div(probs.log(), F.softmax(y, 1))")  # fmt: skip
    project.write("train.py", source)
    assert rows(cli("train.py", "--output-format", "json")) == [
        ("VG304", 11, 12, "warning", VG304_MESSAGE.format(loss="F.kl_div"), {"row": 10, "column": 13, "cell": None}),
    ]
    project.write("train.py", source.replace("probs.log()", "F.log_softmax(model(x), 1)"))
    assert rows(cli("train.py", "--output-format", "json")) == []
