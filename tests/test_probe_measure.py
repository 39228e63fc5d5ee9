"""The probe's measurement half: reference numbers of known-good and known-bad models, measured on CPU.

torch is imported directly: CI installs it, so a missing torch must fail these tests, not skip them.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vglint.findings import Status
from vglint.probing.measure import ProbeReport, check_model, measure, pick_device, probe, short_number
from vglint.probing.table import render


def mlp(depth: int, activation: type[nn.Module], width: int = 32) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    return nn.Sequential(*layers)


def batch(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


class BasicBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class SmallResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.blocks = nn.Sequential(*(BasicBlock(16) for _ in range(4)))
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(torch.relu(self.bn(self.stem(x)))).mean((2, 3)))


class LastStep(nn.Module):
    """A recurrent layer read at its last step, as a sequence classifier does."""

    def __init__(self, recurrent: nn.Module) -> None:
        super().__init__()
        self.recurrent = recurrent
        self.head = nn.Linear(recurrent.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.recurrent(x)[0][-1])


class Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(8, 8)
        self.dec = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.relu(self.enc(x)).detach())


class ResidualMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inp = nn.Linear(16, 32)
        self.layers = nn.ModuleList(nn.Linear(32, 32) for _ in range(8))
        self.out = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for layer in self.layers:
            h = h + torch.relu(layer(h))
        return self.out(h)


def test_deep_sigmoid_mlp_vanishes():
    measured = measure(mlp(20, nn.Sigmoid), [batch(16, 32)])
    # measured: 1.1e-16 (the same at width 64 and batch 64)
    assert measured["ratio"] < 1e-12
    assert (measured["first_layer"], measured["last_layer"]) == ("0", "38")
    assert measured["dtype"] == "float32"
    finding, *architecture = check_model(mlp(20, nn.Sigmoid), batch(16, 32))
    # the measured VG102 first; then the rules on the built model, VG102's estimate left out as measured
    assert [f.code for f in architecture] == ["VG101", "VG103", "VG104"]
    assert all(f.status is Status.CONFIRMED for f in architecture if f.code != "VG101")
    assert finding.code == "VG102" and finding.status is Status.CONFIRMED
    assert finding.message.startswith("the first weight layer (0) gets 1e-16 of the last layer's relative gradient")


def test_eleven_layer_tanh_mlp_attenuates_mildly():
    # measured: 0.018 to 0.03 over init seeds and batch sizes
    assert 1e-4 < measure(mlp(11, nn.Tanh), [batch(16, 32)])["ratio"] < 1e-1


def test_resnet_with_batchnorm_keeps_its_gradient():
    model = SmallResNet()
    running_mean = model.bn.running_mean.clone()
    model.eval()
    report = probe(model, batch(8, 3, 32, 32), device="cpu")
    # measured: 0.077
    assert report.ratio > 1e-2 and report.ok
    assert report.first_layer == "stem" and report.last_layer == "fc"
    # the model is left as it was found: eval mode, running statistics, no grads
    assert not model.training and torch.equal(model.bn.running_mean, running_mean)
    assert all(param.grad is None for param in model.parameters())


def test_plain_rnn_horizon_over_a_thousand_steps():
    torch.manual_seed(0)
    report = probe(LastStep(nn.RNN(8, 32)), batch(1000, 8, 8), device="cpu")
    # measured: 11 to 12 over init seeds
    assert 3 <= report.horizon <= 60 and report.sequence_length == 1000
    [finding] = check_model(LastStep(nn.RNN(8, 32)), batch(1000, 8, 8), device="cpu")
    assert finding.code == "VG201" and finding.message.endswith("of 1000 time steps back (measured)")


def test_the_gradient_of_each_time_step_is_kept_for_the_report():
    torch.manual_seed(0)
    measured = measure(LastStep(nn.RNN(8, 32)), [batch(200, 8, 8)], time_dim="auto")
    steps = measured["step_gradients"]
    assert len(steps) == 200
    # the horizon is read from these: the last `horizon` steps hold at least 1e-3 of the last step's
    reached = [value >= 1e-3 * steps[-1] for value in steps]
    assert all(reached[-measured["horizon"] :]) and not reached[-measured["horizon"] - 1]
    assert steps[0] < 1e-6 * steps[-1]  # 200 steps back through a plain RNN: nothing arrives
    assert measure(mlp(3, nn.ReLU), [batch(8, 32)])["step_gradients"] is None


def test_lstm_horizon_is_reported():
    torch.manual_seed(0)
    report = probe(LastStep(nn.LSTM(8, 32)), batch(1000, 8, 8), device="cpu")
    # measured: 13 (default init: the forget gate sits near 0.5)
    assert report.horizon is not None and 3 <= report.horizon <= 100 and report.sequence_length == 1000


def test_horizon_through_an_embedding_with_batch_first():
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.rnn = nn.RNN(8, 32, batch_first=True)
            self.head = nn.Linear(32, 3)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(self.embed(ids))[0][:, -1])

    torch.manual_seed(0)
    report = probe(Tokens(), torch.randint(0, 50, (4, 300)), device="cpu")
    assert report.sequence_length == 300 and 3 <= report.horizon <= 60


def test_no_horizon_without_a_time_dimension():
    report = probe(ResidualMLP(), batch(8, 16), device="cpu")
    assert report.horizon is None and report.sequence_length is None


def test_detached_stage_has_dead_parameters():
    report = probe(Detached(), batch(4, 8), device="cpu")
    assert report.dead_parameters == ["enc.weight", "enc.bias"]
    assert report.ratio is None  # the cut-off layer is dead, not the start of a vanishing ratio
    [finding] = check_model(Detached(), batch(4, 8), device="cpu")
    assert finding.code == "VG401" and finding.name == "gradient-cut-in-forward"
    assert finding.message == "2 parameters get no gradient: enc.weight, enc.bias"
    assert finding.filename == "<model>" and finding.model == "Detached"


def test_healthy_residual_mlp_has_no_findings():
    assert check_model(ResidualMLP(), batch(8, 16)) == []


def test_report_is_json_serialisable():
    report = probe(LastStep(nn.GRU(8, 16)), batch(50, 4, 8), device="cpu")
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) >= {"layers", "ratio", "horizon", "sequence_length", "dead_parameters", "device", "dtype", "seeds"}
    assert data["seeds"] == [0, 1, 2] and data["device"] == "cpu"
    assert set(data["layers"][0]) == {"name", "kind", "weight_layer", "out_grad_rms", "weight_grad_rms", "relative"}
    assert ProbeReport.from_measurement(data) == report


def test_float32_underflow_falls_back_to_float64():
    measured = measure(mlp(60, nn.Sigmoid), [batch(16, 32)])
    # measured: 5e-51, below what float32 can hold
    assert measured["dtype"] == "float64"
    assert 0 < measured["ratio"] < 1e-30


def test_dropout_is_switched_off():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.9), nn.Tanh(), nn.Linear(8, 8))
    x = batch(4, 8)
    first, second = measure(model, [x])["ratio"], measure(model, [x])["ratio"]
    assert first == second
    assert model[1].p == 0.9
    assert measure(nn.Sequential(model[0], nn.Tanh(), model[3]), [x])["ratio"] == pytest.approx(first)


def test_steps_train_a_copy():
    model = ResidualMLP()
    before = [param.detach().clone() for param in model.parameters()]
    trained = measure(model, [batch(8, 16)], steps=3)
    assert trained["ratio"] != measure(model, [batch(8, 16)])["ratio"]
    assert all(torch.equal(old, new) for old, new in zip(before, model.parameters()))


def test_first_floating_output_of_a_tuple_or_dict():
    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.out = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> dict:
            return {"ids": x.argmax(-1), "logits": (self.out(torch.tanh(self.fc(x))), x)}

    measured = measure(Pair(), [batch(2, 4)])
    assert [layer["name"] for layer in measured["layers"]] == ["fc", "out"] and measured["ratio"] > 0


def test_render_shows_blocks_and_bars():
    measured = measure(mlp(4, nn.Sigmoid), [batch(4, 32)])
    text = render(measured, "Net at models/net.py")
    assert text.startswith("Net at models/net.py\n")
    for name in ("0", "2", "4", "6"):
        assert any(line.startswith(name + " ") for line in text.splitlines())
    assert "####################" in text  # the last layer, at ratio 1
    assert "parameters without gradient: none" in text
    assert "device: cpu, dtype: float32, seeds: 0, 1, 2" in text


def test_render_shows_horizon_and_dead_parameters():
    text = render(measure(Detached(), [batch(4, 8)]), "Detached")
    assert "parameters without gradient: enc.weight, enc.bias" in text
    recurrent = measure(LastStep(nn.RNN(4, 8)), [batch(200, 2, 4)], time_dim=0)
    assert f"horizon: {recurrent['horizon']} of 200 steps" in render(recurrent, "RNN")
    # one character per step back: decades under the last step's gradient; the horizon ends where 3 begins
    [line] = [line for line in render(recurrent, "RNN").splitlines() if line.startswith("steps back 1-60")]
    marks = line.rsplit(": ", 1)[1]
    assert len(marks) == 60 and marks[0] == "0"
    assert all(mark in "012" for mark in marks[: recurrent["horizon"]]) and marks[recurrent["horizon"]] not in "012"


def test_pick_device():
    assert pick_device("cpu") == "cpu" and pick_device("cuda:1") == "cuda:1"
    assert pick_device(None) == pick_device("auto") in {"cpu", "cuda", "mps"}


def test_short_number():
    assert [short_number(x) for x in (3e-18, 0.009, 190, 2e5, 0.0)] == ["3e-18", "0.009", "190", "2e+05", "0"]
