"""The probe's builder: definition-only import, input synthesis, and the isolated worker pool.

Most cases share one `run_jobs` call (`pool_run`), so each failure kind is shown to leave the other
jobs of the same run unharmed, and torch is imported by as few children as the restarts need.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vglint.build.defonly import FAILURES_ATTRIBUTE, load_definitions, statements_to_run
from vglint.build.pool import Worker, run_jobs, torch_available

#: Long enough for the first job of a cold worker on a loaded machine (3 s failed here once in a while),
#: enough that the job that hangs does not dominate the run.
TIMEOUT_S = 8
MEMORY_BYTES = int(2.5 * (1 << 30))

TRAINING_SCRIPT = """\
import torch
from torch import nn

WIDTH = 32
dataset = open("data.bin", "wb")


class Net(nn.Module):
    def __init__(self, n_in=784):
        super().__init__()
        print("building Net")  # must not reach the protocol
        self.body = nn.Sequential(nn.Linear(n_in, WIDTH), nn.Tanh(), nn.Linear(WIDTH, 10))

    def forward(self, x):
        return self.body(x)


model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    open({loop_marker!r}, "w").close()

if __name__ == "__main__":
    open({main_marker!r}, "w").close()
"""

FAILURES = """\
import ctypes
import os
import torch
from torch import nn

WIDTH = 1 // 0


class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        raise ValueError("no dataset here")


class NeedsDepth(nn.Module):
    def __init__(self, depth):
        super().__init__()
        self.fc = nn.Linear(4, 4)


class NeedsConfig(nn.Module):  # a transformers-style model: its sizes come in a config object
    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.hidden_size, config.hidden_size)


class NeedsWidth(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)


class Hangs(nn.Module):
    def __init__(self):
        super().__init__()
        while True:
            pass


class HugeTensor(nn.Module):
    def __init__(self):
        super().__init__()
        self.big = torch.ones(1 << 30)  # 4 GiB


class HugeList(nn.Module):
    def __init__(self):
        super().__init__()
        self.big = [0] * (1 << 30)  # 8 GiB of pointers


class Exits(nn.Module):
    def __init__(self):
        super().__init__()
        os._exit(3)


class Segfaults(nn.Module):
    def __init__(self):
        super().__init__()
        ctypes.string_at(0)


class NoHint(nn.Module):  # neither the code nor the built model says what it takes: a bare parameter
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 4))

    def forward(self, x):
        return x @ self.w


class HintFromTheBuiltModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


class BadForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 4)

    def forward(self, x):
        raise RuntimeError("shapes do not match")


class DownloadsWeights(nn.Module):  # a builder whose default arguments fetch a pretrained backbone
    def __init__(self):
        super().__init__()
        import urllib.request

        urllib.request.urlopen("https://download.pytorch.org/models/resnet50-0676ba61.pth")


def not_a_model():
    return 42
"""

PACKAGE_LAYERS = """\
from torch import nn


def block(width):
    return nn.Sequential(nn.Linear(width, width), nn.ReLU())
"""

PACKAGE_ZOO = """\
from torch import nn

from .layers import block


def make(width=16):
    return nn.Sequential(nn.Linear(4, width), block(width), nn.Linear(width, 1))
"""

PACKAGE_MODEL = """\
from torch import nn

from .zoo import make


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = make(8)

    def forward(self, x):
        return self.body(x)


for step in range(10):
    raise SystemExit("the script ran")
"""

STUB_MEASURE = """\
def measure(model, inputs, *, device="cpu", steps=0, time_dim=None):
    output = model(*inputs)
    output = output[0] if isinstance(output, tuple) else output
    output.float().sum().backward()
    return {"time_dim": time_dim, "shape": list(inputs[0].shape)}
"""

LINEAR_784 = {"first": "Linear", "in_features": 784}


def _job(file: Path, name: str, kind: str = "class", hint: dict | None = LINEAR_784, **extra) -> dict:
    return {"file": str(file), "module": None, "project_root": str(file.parent), "target": {"kind": kind, "name": name},
            "args": [], "kwargs": {}, "input": None, "input_dtype": None, "input_hint": hint,
            "sequence_length": None, "spatial": 8, "device": "cpu", "steps": 0, "id": name, **extra}  # fmt: skip


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("project")
    markers = {"loop_marker": str(root / "loop.marker"), "main_marker": str(root / "main.marker")}
    (root / "train.py").write_text(TRAINING_SCRIPT.format(**markers))
    (root / "failures.py").write_text(FAILURES)
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "layers.py").write_text(PACKAGE_LAYERS)
    (root / "pkg" / "zoo.py").write_text(PACKAGE_ZOO)
    (root / "pkg" / "model.py").write_text(PACKAGE_MODEL)
    train, failures = root / "train.py", root / "failures.py"
    jobs = [
        _job(train, "Net"),
        _job(train, "model", kind="variable"),
        _job(failures, "Raises"),
        _job(failures, "NeedsDepth"),
        _job(failures, "NeedsConfig"),
        _job(failures, "NeedsWidth"),
        _job(failures, "Hangs"),
        _job(train, "Net", id="after-timeout"),
        _job(failures, "HugeTensor"),
        _job(failures, "HugeList"),
        _job(failures, "Exits"),
        _job(failures, "Segfaults"),
        _job(failures, "NoHint", hint=None),
        _job(failures, "NoHint", hint=None, input=[[2, 4]], id="NoHint-configured"),
        _job(failures, "HintFromTheBuiltModel", hint=None),
        _job(failures, "BadForward"),
        _job(failures, "DownloadsWeights"),
        _job(failures, "not_a_model", kind="auto"),
        _job(failures, "Missing", kind="auto"),
        {
            **_job(root, "make", kind="factory", hint=None, input=[[8, 4]]),
            "file": None,
            "module": "pkg.zoo",
            "project_root": str(root),
            "kwargs": {"width": 12},
        },
        {
            **_job(root / "pkg" / "model.py", "Net", hint={"first": "Linear", "in_features": 4}),
            "project_root": str(root),
            "id": "pkg-Net",
        },
        _job(train, "Net", id="last"),
    ]
    progress: list[tuple[int, int]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # a relative `open("data.bin", "wb")` would land here
        if importlib.util.find_spec("vglint.probing.measure") is None:
            (root / "stub_measure.py").write_text(STUB_MEASURE)
            patch.setenv("PYTHONPATH", str(root))
            patch.setenv("VGLINT_PROBE_MEASURE", "stub_measure:measure")
        results = run_jobs(jobs, timeout_s=TIMEOUT_S, memory_bytes=MEMORY_BYTES,
                           on_progress=lambda i, n: progress.append((i, n)))  # fmt: skip
    return {"root": root, "results": {r["id"]: r for r in results}, "ordered": results, "jobs": jobs,
            "progress": progress}  # fmt: skip


def test_every_job_gets_one_result_in_order(pool_run: dict) -> None:
    assert [r["id"] for r in pool_run["ordered"]] == [j["id"] for j in pool_run["jobs"]]
    assert pool_run["progress"] == [(i + 1, len(pool_run["jobs"])) for i in range(len(pool_run["jobs"]))]


def test_a_training_script_is_built_without_running_it(pool_run: dict) -> None:
    results, root = pool_run["results"], pool_run["root"]
    assert results["Net"]["ok"], results["Net"]
    assert results["Net"]["built"] == "Net()"
    assert isinstance(results["Net"]["measurement"], dict)
    assert results["model"]["ok"], results["model"]  # `model = Net()` runs; the optimizer and the loop do not
    assert results["model"]["built"] == "model"
    assert not (root / "loop.marker").exists()
    assert not (root / "main.marker").exists()
    assert not (root / "data.bin").exists()


def test_the_worker_is_reused_and_replaced_after_a_crash(pool_run: dict) -> None:
    results = pool_run["results"]
    assert results["Net"]["pid"] == results["model"]["pid"] == results["Raises"]["pid"]
    assert results["after-timeout"]["ok"]
    assert results["after-timeout"]["pid"] != results["Net"]["pid"]
    assert results["last"]["ok"]
    assert results["last"]["pid"] not in {results["after-timeout"]["pid"], results["Net"]["pid"]}


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("Raises", "raise", ["ValueError: no dataset here", "failures.py:12"]),
        ("NeedsDepth", "needs-arguments", ["missing 1 required positional argument: 'depth'", "kwargs ="]),
        (
            "NeedsConfig",
            "needs-arguments",
            ["missing 1 required positional argument: 'config'", 'config = { factory = "package.module:ConfigClass" }'],
        ),
        ("NeedsWidth", "raise", ["NameError", "WIDTH could not be defined", "ZeroDivisionError"]),
        ("Hangs", "timeout", ["did not finish in 8 s"]),
        ("HugeTensor", "memory", ["ran out of memory (limit 2.5 GiB;"]),
        ("HugeList", "memory", ["ran out of memory (limit 2.5 GiB;"]),
        ("Exits", "crash", ["the build process exited with code 3"]),
        ("Segfaults", "crash", ["the build process was killed by SIGSEGV"]),
        ("NoHint", "input", ['add input = [[8, 3, 32, 32]] under [tool.vglint.models."failures.py:NoHint"]']),
        ("BadForward", "forward", ["shapes do not match", "(8, 784)", "add input = "]),
        (
            "DownloadsWeights",
            "needs-arguments",
            ["tried to download from download.pytorch.org", "offline", "weights=None", '"failures.py:DownloadsWeights"'],
        ),
        ("not_a_model", "not-a-module", ["not_a_model() is a int"]),
        ("Missing", "not-found", ["Missing is not defined"]),
    ],
)
def test_each_failure_becomes_its_result(pool_run: dict, name: str, kind: str, words: list[str]) -> None:
    result = pool_run["results"][name]
    assert not result["ok"]
    assert result["kind"] == kind, result
    for word in words:
        assert word in result["reason"], result


def test_a_configured_input_needs_no_hint(pool_run: dict) -> None:
    result = pool_run["results"]["NoHint-configured"]
    assert result["ok"], result


def test_without_a_hint_the_input_comes_from_the_built_models_first_layer(pool_run: dict) -> None:
    result = pool_run["results"]["HintFromTheBuiltModel"]
    assert result["ok"], result
    assert [layer["name"] for layer in result["measurement"]["layers"]] == ["fc"]


def test_module_targets_and_packages(pool_run: dict) -> None:
    results = pool_run["results"]
    assert results["make"]["ok"], results["make"]
    assert results["make"]["built"] == "make(width=12)"
    assert results["pkg-Net"]["ok"], results["pkg-Net"]  # a relative import; the loop that exits never ran


FITTING = """\
import torch
from torch import nn


class AssertsItsSize(nn.Module):  # a ViT-style patch embedding that checks the image's size
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, kernel_size=16, stride=16)

    def forward(self, x):
        assert x.shape[-1] == 224, f"Wrong image height! Expected 224 but got {x.shape[-1]}!"
        return self.patch(x)


class StemFromAList(nn.Module):  # the stem sits in a list the source does not follow
    def __init__(self, settings=((3, 96), (96, 96))):
        super().__init__()
        self.features = nn.Sequential(*[nn.Conv2d(a, b, 3, padding=1) for a, b in settings])

    def forward(self, x):
        return self.features(x)
"""


def test_a_synthesised_input_that_does_not_fit_is_made_again(tmp_path: Path) -> None:
    (tmp_path / "fitting.py").write_text(FITTING)
    jobs = [
        _job(tmp_path / "fitting.py", "AssertsItsSize", hint={"first": "Conv2d", "in_channels": 3}, mode="graph"),
        # the source's guess: the 96-channel conv it saw first; the built model's stem takes 3
        _job(tmp_path / "fitting.py", "StemFromAList", hint={"first": "Conv2d", "in_channels": 96}, mode="graph"),
        _job(tmp_path / "fitting.py", "StemFromAList", hint={"first": "Conv2d", "in_channels": 96}, id="measured"),
    ]
    sized, stem, measured = run_jobs(jobs, timeout_s=60, memory_bytes=MEMORY_BYTES)
    assert sized["ok"], sized
    assert stem["ok"], stem
    assert measured["ok"], measured
    layers = [node["name"] for node in stem["graph"]["nodes"] if node.get("name")]
    assert layers == ["features.0", "features.1"]


def test_a_resident_size_over_the_cap_is_killed(tmp_path: Path) -> None:
    """Without the address-space cap (as with CUDA) the parent's polling of /proc still stops it."""
    if not Path("/proc/self/statm").exists():
        pytest.skip("no /proc on this system")
    (tmp_path / "big.py").write_text(
        "import time, torch\nfrom torch import nn\n"
        "class Big(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.big = torch.ones(1 << 29)\n        time.sleep(60)\n"
    )
    worker = Worker(memory_bytes=1 << 30, address_cap=False)
    try:
        result = worker.run(_job(tmp_path / "big.py", "Big"), timeout_s=30)
    finally:
        worker.close()
    assert result["kind"] == "memory", result
    assert result["reason"].startswith("ran out of memory (limit 1 GiB; raise it with --probe-memory")


def test_the_parent_never_imports_torch() -> None:
    assert torch_available()
    code = "import sys, vglint.build.pool; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_definitions_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "script.py"
    path.write_text(
        textwrap.dedent(
            """\
            from __future__ import annotations
            import dataclasses
            import not_a_module_anywhere
            try:
                import also_missing
            except ImportError:
                also_missing = None
            WIDTH = 32
            SCALE = WIDTH * 2
            UNUSED = open("unused.txt", "w")
            BROKEN = 1 // 0
            loader = open("loader.txt", "w")
            print("side effect")
            for i in range(3):
                open("loop.txt", "w")
            with open("with.txt", "w"):
                pass
            if __name__ == "__main__":
                import os

            @dataclasses.dataclass
            class Config:
                width: int = SCALE

            def train(loader):  # its parameter is not the module's `loader`
                return [x for x in loader]

            def uses_broken():
                return BROKEN

            model = Config()
            """
        )
    )
    module = load_definitions(str(path), str(tmp_path), needed=["model"])
    assert module.__name__.startswith("vglint_probe_script")
    assert module.__name__ != "__main__"
    assert sys.modules[module.__name__] is module
    assert module.__file__ == str(path)
    assert module.SCALE == 64
    assert module.model.width == 64  # a dataclass works: the module is registered
    assert module.also_missing is None
    for name in ("not_a_module_anywhere", "UNUSED", "BROKEN", "loader", "os", "i"):
        assert not hasattr(module, name), name
    assert "ZeroDivisionError" in getattr(module, FAILURES_ATTRIBUTE)["BROKEN"]
    assert "ModuleNotFoundError" in getattr(module, FAILURES_ATTRIBUTE)["not_a_module_anywhere"]
    assert list(tmp_path.iterdir()) == [path]
    assert sys.path[0] == str(tmp_path)
    # A second load is a fresh module with a name of its own.
    assert load_definitions(str(path), None, needed=[]).__name__ != module.__name__


def test_an_assignment_pulls_in_only_the_earlier_ones_it_reads() -> None:
    import ast

    tree = ast.parse("A = f(1)\nB = g(A)\nC = h(5)\nA = f(2)\nmodel = make(B)\nD = log(model)\nE = 3\n")
    kept = [ast.unparse(s) for s in statements_to_run(tree, ["model"])]
    # the calls that build `model` run, other calls do not; plain constants always do (harmless,
    # and code may reach them in ways no name shows: `sys.modules[__name__].E`)
    assert kept == ["A = f(1)", "B = g(A)", "model = make(B)", "E = 3"]


def test_inputs_are_synthesised_from_the_first_layer() -> None:
    import torch

    from vglint.build.inputs import InputError, synthesise

    def shapes(hint: dict, **job) -> tuple[list, int | None]:
        inputs, time_dim = synthesise({"input_hint": hint, "spatial": 16, "target": {"name": "Net"}, **job})
        return [(tuple(t.shape), t.dtype) for t in inputs], time_dim

    assert shapes({"first": "Linear", "in_features": 5}) == ([((8, 5), torch.float32)], None)
    assert shapes({"first": "Conv1d", "in_channels": 3}) == ([((8, 3, 16), torch.float32)], None)
    assert shapes({"first": "Conv2d", "in_channels": 3}) == ([((8, 3, 16, 16), torch.float32)], None)
    assert shapes({"first": "Conv3d", "in_channels": 2}) == ([((8, 2, 16, 16, 16), torch.float32)], None)
    # a larger image is a clip of 16 frames, not a cube (a 224-voxel one takes S3D past 16 GiB)
    assert shapes({"first": "Conv3d", "in_channels": 2}, spatial=224) == ([((8, 2, 16, 224, 224), torch.float32)], None)
    assert shapes({"first": "Embedding", "num_embeddings": 100}) == ([((8, 256), torch.int64)], 1)
    embedding_rnn = {"first": "Embedding", "num_embeddings": 100, "then": {"first": "LSTM", "batch_first": False}}
    assert shapes(embedding_rnn, sequence_length=50) == ([((50, 8), torch.int64)], 0)
    lstm = {"first": "LSTM", "input_size": 32, "batch_first": True}
    assert shapes(lstm, sequence_length=1000) == ([((8, 1000, 32), torch.float32)], 1)
    assert shapes({"first": "GRU", "input_size": 32}) == ([((256, 8, 32), torch.float32)], 0)
    tokens, _ = synthesise({"input": [[4, 7]], "input_dtype": "int64"})
    assert tokens[0].dtype == torch.int64 and int(tokens[0].max()) <= 1
    with pytest.raises(InputError, match=r'add input = \[\[8, 3, 32, 32\]\] under \[tool.vglint.models."net.py:Net"\]'):
        synthesise({"file": "/x/net.py", "input_hint": None, "target": {"name": "Net"}})


def test_an_if_made_of_assignments_is_an_assignment_of_what_it_binds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytorch/examples' vae: `device` is set in `if use_accel: ... else: ...`, and `model =
    VAE().to(device)` needs it. The `if` runs with its test; an `if` that also calls or opens
    something, or binds nothing the model needs, does not."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "main.py"
    path.write_text(
        textwrap.dedent(
            """\
            import argparse
            parser = argparse.ArgumentParser()
            parser.add_argument("--no-accel", action="store_true")
            args = parser.parse_args()
            use_accel = not args.no_accel and False
            if use_accel:
                device = "accelerator"
            elif args.no_accel:
                device = "never"
            else:
                device = "cpu"
            if use_accel:
                other = "not needed"
            else:
                other = open("other.txt", "w")
            if device == "cpu":
                open("side-effect.txt", "w")
                width = 16
            model = (device, args.no_accel)
            """
        )
    )
    module = load_definitions(str(path), str(tmp_path), needed=["model"])
    assert module.model == ("cpu", False)
    assert not hasattr(module, "other") and not hasattr(module, "width")
    assert list(tmp_path.iterdir()) == [path]
