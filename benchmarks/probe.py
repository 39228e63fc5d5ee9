"""Benchmark the probe's measurement against one plain forward+backward of the same model.

Usage: ``python benchmarks/probe.py [--device cpu]``

Why these numbers: the probe measures one forward and one backward pass per seed (three seeds,
`torch.autograd.grad` through one retained graph), so its cost is bounded by the model's own
training step; the goal is at most 3x one plain forward+backward. The "1 fwd + 3 bwd alone"
column is that floor without any measuring: (1 + 3r) / (1 + r) for a backward r times the
forward, so the probe's own overhead is the difference between the two ratios. ``import torch`` is paid
once per probe worker, so it is timed on its own, in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vglint.probing.measure import measure

GOAL = 3.0


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != width:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50(nn.Module):
    """torchvision's ResNet-50 layout (bottlenecks [3, 4, 6, 3]), written out: torchvision is not a dependency."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, inplanes = [], 64
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            layers = []
            for index in range(blocks):
                layers.append(Bottleneck(inplanes, planes, stride if index == 0 else 1))
                inplanes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(2048, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class LastStep(nn.Module):
    def __init__(self, recurrent: nn.Module) -> None:
        super().__init__()
        self.recurrent = recurrent
        self.head = nn.Linear(recurrent.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.recurrent(x)[0][-1])


def sigmoid_mlp(depth: int = 20, width: int = 64) -> nn.Sequential:
    return nn.Sequential(*(layer for _ in range(depth) for layer in (nn.Linear(width, width), nn.Sigmoid())))


def interleaved_medians(actions: dict[str, Callable[[], object]], repeat: dict[str, int], device: str) -> dict:
    """Median seconds of each action, the actions taking turns so that a busy machine slows them alike."""
    for action in actions.values():
        action()  # warm-up: allocator, kernels, lazy initialisation
    times: dict[str, list[float]] = {name: [] for name in actions}
    for round_ in range(max(repeat.values())):
        for name, action in actions.items():
            if round_ < repeat[name]:
                sync(device)
                start = time.perf_counter()
                action()
                sync(device)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def plain_step(model: nn.Module, inputs: list[torch.Tensor]) -> None:
    model.train()
    output = model(*inputs)
    output.backward(torch.randn_like(output))
    model.zero_grad(set_to_none=True)


def import_torch_seconds() -> float:
    code = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)]
    runs += [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)]
    return min(runs)


def floor_step(model: nn.Module, inputs: list[torch.Tensor], backwards: int = 3) -> None:
    """What the probe cannot go below: one forward and three backward passes through the retained graph."""
    model.train()
    output = model(*inputs)
    for index in range(backwards):
        output.backward(torch.randn_like(output), retain_graph=index < backwards - 1)
        model.zero_grad(set_to_none=True)


def row(label: str, model: nn.Module, inputs: list[torch.Tensor], time_dim: int | None, device: str) -> str:
    measured = {}

    def probe_once() -> None:
        measured.update(measure(model, inputs, device=device, time_dim=time_dim))

    actions = {
        "plain": functools.partial(plain_step, model, inputs),
        "floor": functools.partial(floor_step, model, inputs),
        "probe": probe_once,
    }
    medians = interleaved_medians(actions, {"plain": 15, "floor": 9, "probe": 9}, device)
    plain, floor, probed = medians["plain"], medians["floor"], medians["probe"]
    verdict = "ok" if probed / plain <= GOAL else "over"
    numbers = f"{measured['ratio']:.2g}" + (f", horizon {measured['horizon']}" if time_dim is not None else "")
    return (
        f"| {label} | {plain * 1e3:.1f} ms | {probed * 1e3:.1f} ms | {probed / plain:.2f}x | {verdict} "
        f"| {floor / plain:.2f}x | {numbers} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = args.device
    torch.manual_seed(0)
    cases = [
        ("ResNet-50 layout, 8x3x64x64", ResNet50(), [torch.randn(8, 3, 64, 64)], None),
        ("20-layer sigmoid MLP, 64 wide, batch 64", sigmoid_mlp(), [torch.randn(64, 64)], None),
        ("LSTM(8, 32) over 1000 steps, batch 8", LastStep(nn.LSTM(8, 32)), [torch.randn(1000, 8, 8)], 0),
    ]
    print(f"device: {device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(
        "| model | forward+backward (median of 15) | measure() (median of 9) | ratio | goal "
        "| 1 fwd + 3 bwd alone | measured first/last |"
    )
    print("|---|---:|---:|---:|---|---:|---:|")
    for label, model, inputs, time_dim in cases:
        print(row(label, model.to(device), [x.to(device) for x in inputs], time_dim, device))
    print(f"\none-time `import torch` in a fresh interpreter: {import_torch_seconds():.2f} s")


if __name__ == "__main__":
    main()
