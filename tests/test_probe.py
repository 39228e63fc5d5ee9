"""`vglint check --probe` and `vglint probe`, as a user runs them: models built in the worker from
files in the shapes people write, findings confirmed or refuted with the measured numbers, and
every failure a VG002 while the other models of the run are still reported. Expected numbers come
from measurements on torch 2.13 CPU (tests/test_probe_measure.py pins the measurement itself)."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import run_vglint

SIGMOID_VARIABLE = """\
import torch.nn as nn

layers = [nn.Linear(64, 64)]
for _ in range(20):
    layers += [nn.Sigmoid(), nn.Linear(64, 64)]
model = nn.Sequential(*layers)
"""

SIGMOID_FACTORY = """\
import torch.nn as nn


def make_mlp(depth=20, width=64):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(width, 1))
"""

#: A sigmoid MLP class that requires its width and depth.
SIGMOID_CLASS = """\
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        blocks = []
        for _ in range(depth):
            blocks += [nn.Linear(width, width), nn.Sigmoid()]
        self.net = nn.Sequential(*blocks)

    def forward(self, x):
        return self.net(x)
"""

SIGMOID_CLASS_WITH_ARGUMENTS = SIGMOID_CLASS + "\n\nmodel = MLP(32, depth=20)\n"

SIGMOID_CLASS_BUILT_IN_MAIN = SIGMOID_CLASS + """

def main():
    model = MLP(32, depth=20)
    print(model)


if __name__ == "__main__":
    main()
"""

PLAIN_BN_STACK = """\
import torch.nn as nn


class PlainNet(nn.Module):
    def __init__(self, depth=24):
        super().__init__()
        layers = [nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))
"""

DETACHED_STAGES = """\
import torch.nn as nn


class TwoStage(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32))
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.encoder(x).detach())
"""

LONG_RNN = """\
import torch.nn as nn

SEQ_LEN = 1000


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(8, 32, batch_first=True)
        self.out = nn.Linear(32, 5)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.out(output)
"""

#: A training script: probing it must build the model and run nothing else.
TRAINING_SCRIPT = """\
import torch
import torch.nn as nn

MARKER = "trained.txt"
log = open("opened-at-module-level.txt", "w")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for _ in range(20):
            layers += [nn.Linear(32, 32), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    loss = model(torch.randn(4, 32)).sum()
    loss.backward()
    opt.step()
    open(MARKER, "w").write("the training loop ran")

if __name__ == "__main__":
    open("main-ran.txt", "w").write("the main block ran")
"""


def probe(project, *args: str, timeout: float = 180):
    run = run_vglint("check", "--probe", "--output-format", "json", *args, cwd=project.root, timeout=timeout)
    assert run.code in (0, 1), run.stderr
    return run, json.loads(run.stdout)


def by_code(findings: list[dict], filename: str) -> dict[str, dict]:
    return {f["code"]: f for f in findings if f["filename"] == filename}


def test_deep_sigmoid_mlps_are_confirmed_in_every_construction_style(project):
    """A module-level variable built by a loop, a factory, a class that needs arguments and is
    built with literal ones: each is built as its file builds it and measured far under 1e-2."""
    project.write("variable.py", SIGMOID_VARIABLE)
    project.write("factory.py", SIGMOID_FACTORY)
    project.write("with_arguments.py", SIGMOID_CLASS_WITH_ARGUMENTS)
    run, found = probe(project, ".")
    assert run.code == 1
    for filename in ("variable.py", "factory.py", "with_arguments.py"):
        codes = by_code(found, filename)
        assert {"VG101", "VG102", "VG103"} <= set(codes), (filename, codes)
        for code in ("VG101", "VG102", "VG103"):
            finding = codes[code]
            assert finding["status"] == "confirmed", finding
            assert finding["evidence"]["measured_ratio"] < 1e-10
            assert finding["evidence"]["device"] == "cpu"
            assert finding["evidence"]["seeds"] == [0, 1, 2]
            assert finding["verdict"].startswith("confirmed: the first weight layer (")
            assert "of the last layer's relative gradient" in finding["verdict"]
    assert "VG002" not in {f["code"] for f in found}


def test_a_plain_stack_with_batchnorm_is_refuted_and_does_not_fail_the_run(project):
    """24 conv layers with BatchNorm and no skip: VG104 statically, but at initialisation the first
    layer gets more relative gradient than the last, so the probe refutes it and the run passes."""
    project.write("plain.py", PLAIN_BN_STACK)
    run, found = probe(project, "plain.py")
    [finding] = found
    assert finding["code"] == "VG104"
    assert finding["status"] == "refuted"
    assert finding["evidence"]["measured_ratio"] >= 0.1
    assert finding["verdict"].startswith("refuted: the first weight layer (body.0)")
    assert run.code == 0  # a refuted finding does not fail the run
    concise = run_vglint("check", "--probe", "--output-format", "concise", "plain.py", cwd=project.root, timeout=180)
    assert "[refuted: the first weight layer (body.0) gets" in concise.stdout


def test_a_detach_between_stages_is_confirmed_by_the_missing_gradient(project):
    project.write("two_stage.py", DETACHED_STAGES)
    _, found = probe(project, "two_stage.py")
    finding = by_code(found, "two_stage.py")["VG401"]
    assert finding["status"] == "confirmed"
    assert finding["verdict"] == "confirmed: encoder.0, encoder.2 got no gradient"
    assert set(finding["evidence"]["dead_parameters"]) == {
        "encoder.0.weight",
        "encoder.0.bias",
        "encoder.2.weight",
        "encoder.2.bias",
    }


def test_a_plain_rnn_over_1000_steps_has_a_horizon_of_a_few_tens_of_steps(project):
    project.write("tagger.py", LONG_RNN)
    _, found = probe(project, "tagger.py")
    finding = by_code(found, "tagger.py")["VG201"]
    assert finding["status"] == "confirmed"
    assert 3 <= finding["evidence"]["horizon"] <= 60
    assert (
        finding["verdict"]
        == f"confirmed: the gradient reaches {finding['evidence']['horizon']} of 1000 time steps back"
    )


def test_a_training_script_is_probed_without_running_its_loop(project):
    project.write("train.py", TRAINING_SCRIPT)
    _, found = probe(project, "train.py")
    assert by_code(found, "train.py")["VG101"]["status"] == "confirmed"
    # nothing opened, trained or written by the script (vglint keeps its own cache of the static pass)
    assert sorted(p.name for p in project.root.iterdir()) == [".vglint_cache", "train.py"]


FAILING = {
    "raises.py": ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        raise RuntimeError('no GPU here')\n", "raise", "warning", "RuntimeError: no GPU here"),
    "hangs.py": ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        while True:\n            pass\n", "timeout", "warning", "did not finish in 5 s"),
    "exits.py": ("import os\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        os._exit(3)\n", "crash", "warning", "exited with code 3"),
    "segfault.py": ("import ctypes\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        ctypes.string_at(0)\n", "crash", "warning", "SIGSEGV"),
    "memory.py": ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.big = [0] * (1 << 33)\n", "memory", "warning", "ran out of memory"),
    "needs_args.py": ("class Net(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n", "needs-arguments",
                      "info", '[tool.vglint.models."needs_args.py:Net"]'),
}  # fmt: skip


def test_each_failure_is_vg002_and_the_other_models_are_still_probed(project):
    """One run (`--probe-all`: these models have no static finding): a model that raises, hangs,
    exits, segfaults, exhausts memory or needs arguments is each a VG002 with its reason, at the
    model's class; the sigmoid MLP of the same run is still confirmed."""
    for filename, (body, _, _, _) in FAILING.items():
        project.write(filename, "import torch.nn as nn\n" + body + "\n    def forward(self, x):\n        return x\n")
    project.write("good.py", SIGMOID_VARIABLE)
    run, found = probe(project, "--probe-all", ".", "--probe-timeout", "5", "--probe-memory", "2", timeout=300)
    assert by_code(found, "good.py")["VG101"]["status"] == "confirmed"
    for filename, (body, kind, severity, said) in FAILING.items():
        failure = by_code(found, filename)["VG002"]
        assert failure["evidence"]["kind"] == kind, failure
        assert failure["severity"] == severity
        assert failure["message"].startswith("could not build model: Net: ")
        assert said in failure["message"], failure["message"]
        assert failure["model"] == "Net"
        assert failure["location"]["row"] == 2 + body.splitlines().index("class Net(nn.Module):")
    assert run.code == 1


def test_the_configuration_gives_what_the_code_cannot_show(project):
    """`MLP(*sizes)` shows no arguments: `[tool.vglint.models]` gives them and the input."""
    project.write(
        "needs_args.py",
        SIGMOID_CLASS_BUILT_IN_MAIN.replace("    model = MLP(32, depth=20)\n", "    model = MLP(*sizes)\n"),
    )
    _, found = probe(project, "--probe-all", "needs_args.py")
    assert by_code(found, "needs_args.py")["VG002"]["evidence"]["kind"] == "needs-arguments"
    project.pyproject(
        '[tool.vglint.models."needs_args.py:MLP"]\nkwargs = { width = 24, depth = 20 }\ninput = [[4, 24]]\n'
    )
    _, found = probe(project, "--probe-all", "needs_args.py")
    assert "VG002" not in by_code(found, "needs_args.py")
    run = run_vglint("probe", "needs_args.py:MLP", "--output-format", "json", cwd=project.root, timeout=120)
    [report] = json.loads(run.stdout)
    assert run.code == 1 and report["verdict"].startswith("vanishing: ")
    assert len([layer for layer in report["measurement"]["layers"] if layer["weight_layer"]]) == 20


def test_a_model_whose_input_cannot_be_inferred_says_which_line_to_add(project):
    project.write(
        "opaque.py",
        textwrap.dedent("""\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, blocks=20):
                super().__init__()
                layers = []
                for _ in range(blocks):
                    layers += [nn.LazyLinear(16), nn.Sigmoid()]
                self.body = nn.Sequential(*layers)

            def forward(self, x):
                return self.body(x)
        """),
    )
    _, found = probe(project, "opaque.py")
    failure = by_code(found, "opaque.py")["VG002"]
    assert failure["severity"] == "info"
    assert (
        'add input = [[8, 3, 32, 32]] under [tool.vglint.models."opaque.py:Net"] in pyproject.toml'
        in failure["message"]
    )


def test_vg106_for_a_net_whose_gradient_explodes_towards_the_input(project):
    """60 Linear-BatchNorm-ReLU layers without a skip: BatchNorm makes the gradient grow towards the
    input at initialisation (Yang et al., 2019); measured about 6e4 on torch 2.13 CPU."""
    project.write(
        "explodes.py",
        textwrap.dedent("""\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, depth=60):
                super().__init__()
                layers = []
                for _ in range(depth):
                    layers += [nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU()]
                self.body = nn.Sequential(*layers, nn.Linear(64, 1))

            def forward(self, x):
                return self.body(x)
        """),
    )
    run, found = probe(project, "--probe-all", "explodes.py")
    finding = by_code(found, "explodes.py")["VG106"]
    assert finding["status"] == "confirmed"
    assert 1e4 < finding["evidence"]["measured_ratio"] < 1e7
    assert finding["message"].startswith("the first weight layer (body.0) gets ")
    assert finding["message"].endswith(" times the last layer's relative gradient (measured)")
    assert finding["location"]["row"] == 4
    refuted = by_code(found, "explodes.py")["VG104"]  # 61 weight layers, no skip: the gradient did not vanish
    assert refuted["status"] == "refuted"
    assert run.code == 1


def test_probe_command_prints_the_table_and_exits_by_the_verdict(project):
    project.write("variable.py", SIGMOID_VARIABLE)
    project.write(
        "healthy.py", "import torch.nn as nn\n\nmodel = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))\n"
    )
    sick = run_vglint("probe", "variable.py:model", cwd=project.root, timeout=120)
    assert sick.code == 1, sick.stderr
    assert "verdict: vanishing: the first weight layer (0) gets" in sick.stdout
    assert "Linear" in sick.stdout and "#" in sick.stdout
    well = run_vglint("probe", "healthy.py", "--output-format", "json", cwd=project.root, timeout=120)
    assert well.code == 0, well.stderr
    [report] = json.loads(well.stdout)
    assert report["healthy"] is True and report["target"] == "healthy.py:model"
    assert report["verdict"].startswith("healthy: first/last relative-gradient ratio ")
    assert [layer["name"] for layer in report["measurement"]["layers"]] == ["0", "2"]


def test_probe_command_builds_a_class_with_the_literal_arguments_of_its_call_in_main(project):
    project.write("built_in_main.py", SIGMOID_CLASS_BUILT_IN_MAIN)
    run = run_vglint("probe", "built_in_main.py:MLP", "--output-format", "json", cwd=project.root, timeout=120)
    assert run.code == 1, run.stdout + run.stderr
    [report] = json.loads(run.stdout)
    assert report["verdict"].startswith("vanishing: the first weight layer (net.0) gets ")
    assert len([layer for layer in report["measurement"]["layers"] if layer["weight_layer"]]) == 20
    assert not (project.root / "main-ran.txt").exists()


def test_probe_command_with_a_given_input_and_kwargs(project):
    project.write("factory.py", SIGMOID_FACTORY)
    run = run_vglint("probe", "factory.py:make_mlp", "--kwargs", '{"depth": 3, "width": 8}', "--input", "4,8",
                     "--output-format", "json", cwd=project.root, timeout=120)  # fmt: skip
    [report] = json.loads(run.stdout)
    assert [layer["name"] for layer in report["measurement"]["layers"]] == ["0", "2", "4", "6"]  # 3 blocks and the head
    assert run.code == 1 and report["verdict"].startswith("vanishing: ")  # 3 sigmoids already cost 0.004


def test_without_torch_probe_exits_2_with_how_to_install_it(main, monkeypatch, project):
    import vglint.build.pool as pool

    monkeypatch.setattr(pool, "torch_available", lambda: False)
    project.write("variable.py", SIGMOID_VARIABLE)
    run = main("check", "--probe", "variable.py")
    assert run.code == 2
    [line] = run.stderr.splitlines()
    assert "--probe needs PyTorch" in line and "pip install 'vglint[torch]'" in line


@pytest.mark.parametrize("device", ["tpu", "cuda:x"])
def test_an_unknown_device_is_a_usage_error(main, project, device):
    project.write("variable.py", SIGMOID_VARIABLE)
    run = main("check", "--probe", "--device", device, "variable.py")
    assert run.code == 2
    assert f"unknown --device {device!r}" in run.stderr


def test_a_model_defined_again_is_probed_as_defined_where_it_is_used(project):
    """Notebook-shaped: `Net` is a sigmoid MLP, `model = Net()`, then `Net` is a BatchNorm ReLU net
    and `model = Net()` again. The first model's findings are confirmed with the first model."""
    first = SIGMOID_CLASS_WITH_ARGUMENTS.replace("class MLP", "class Net").replace(
        "MLP(32, depth=20)", "Net(32, depth=20)"
    )
    second = (
        PLAIN_BN_STACK.replace("class PlainNet", "class Net").replace("depth=24", "depth=3") + "\n\nmodel = Net()\n"
    )
    project.write("notebook.py", first + "\n\n" + second.replace("import torch.nn as nn\n", ""))
    _, found = probe(project, "notebook.py")
    depth = [f for f in found if f["code"] in ("VG101", "VG102", "VG103")]
    assert depth and all(f["status"] == "confirmed" and f["evidence"]["measured_ratio"] < 1e-10 for f in depth), depth


def test_a_layer_applied_again_gets_no_verdict(project):
    """`[nn.Linear(32, 32), nn.Tanh()] * 16` applies one Linear 16 times: its weight gradient sums
    every use, so the first/last ratio says nothing about depth."""
    project.write(
        "shared.py",
        "import torch.nn as nn\n\nmodel = nn.Sequential(*[nn.Linear(32, 32), nn.Tanh()] * 16, nn.Linear(32, 1))\n",
    )
    _, found = probe(project, "shared.py")
    depth = [f for f in found if f["code"] in ("VG101", "VG102", "VG103")]
    assert depth
    for finding in depth:
        assert finding["status"] == "static"
        assert finding["verdict"].startswith("no verdict: layer 0 is applied more than once (shared weights)")
        assert finding["evidence"]["shared_layers"] == ["0"]


def test_an_inference_mode_region_confirms_vg402(project):
    project.write(
        "retriever.py",
        textwrap.dedent("""\
        import torch
        import torch.nn as nn


        class Retriever(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.Linear(16, 16)
                self.head = nn.Linear(16, 4)

            def forward(self, x):
                with torch.inference_mode():
                    x = self.encoder(x)
                return self.head(x.clone())
        """),
    )
    _, found = probe(project, "retriever.py")
    finding = by_code(found, "retriever.py")["VG402"]
    assert finding["status"] == "confirmed"
    assert finding["verdict"] == "confirmed: encoder got no gradient"


def test_probe_command_exits_2_when_the_model_cannot_be_built(project):
    project.write("variable.py", SIGMOID_VARIABLE)
    run = run_vglint("probe", "variable.py:missing", cwd=project.root, timeout=120)
    assert run.code == 2
    assert run.stdout.startswith("could not build variable.py:missing: ")


def test_an_explosion_on_a_small_synthesised_image_is_measured_again_on_a_larger_one(monkeypatch):
    """Unit: the explosion stands only if the 128x128 image shows it too (the smaller ratio wins)."""
    import vglint.build.pool as pool
    from vglint.probing.run import ProbeOptions, Target, _recheck_explosions
    from vglint.rules.measured import ExplodingGradient

    seen = []

    def fake_run_jobs(jobs, **limits):
        seen.extend(jobs)
        return [{"ok": True, "measurement": {"ratio": 3.8e3}}]

    monkeypatch.setattr(pool, "run_jobs", fake_run_jobs)
    job = {"input": None, "spatial": 32, "input_hint": {"first": "Conv2d", "in_channels": 3}}
    outcomes = [{"ok": True, "measurement": {"ratio": 2.3e4}}]
    again = _recheck_explosions([Target("net.py", "Net", 1, job)], outcomes, ExplodingGradient(), ProbeOptions())
    assert [j["spatial"] for j in seen] == [128]
    assert again[0]["measurement"]["ratio"] == 3.8e3
    seen.clear()
    linear = {**job, "input_hint": {"first": "Linear", "in_features": 64}}
    assert (
        _recheck_explosions([Target("net.py", "Net", 1, linear)], outcomes, ExplodingGradient(), ProbeOptions())
        == outcomes
    )
    assert seen == []


def test_a_build_failure_names_the_first_link_of_the_chain(project):
    """`class Net(L.LightningModule)` failed because `import lightning as L` did: the
    message ends with the import, and the failure is an import failure. (Lightning is no test
    dependency; where it is installed, the chain does not break.)"""
    import importlib.util

    if importlib.util.find_spec("lightning") is not None:
        pytest.skip("lightning is installed here")
    project.write(
        "lit.py",
        textwrap.dedent("""\
        import torch.nn as nn
        import lightning as L


        class Net(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(20)])

            def forward(self, x):
                return self.body(x)
        """),
    )
    _, found = probe(project, "--probe-all", "lit.py")
    failure = by_code(found, "lit.py")["VG002"]
    assert failure["evidence"]["kind"] == "import"
    assert failure["message"].endswith(
        "Net could not be defined: line 5: NameError: name 'L' is not defined, "
        "because line 2: ModuleNotFoundError: No module named 'lightning'"
    ), failure["message"]


def test_inputs_of_different_dtypes_one_per_input(project):
    """An image and its token ids: `dtype` gives one per input, in the configuration and on the command line."""
    project.write(
        "clip_like.py",
        textwrap.dedent("""\
        import torch.nn as nn


        class ImageText(nn.Module):
            def __init__(self):
                super().__init__()
                self.image = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16))
                self.text = nn.EmbeddingBag(100, 16)
                self.head = nn.Linear(32, 1)

            def forward(self, images, tokens):
                return self.head(__import__("torch").cat([self.image(images), self.text(tokens)], 1))
        """),
    )
    run = run_vglint("probe", "clip_like.py:ImageText", "--input", "4,3,8,8", "--input", "4,5", "--input-dtype", "float32",
                     "--input-dtype", "int64", "--output-format", "json", cwd=project.root, timeout=120)  # fmt: skip
    [report] = json.loads(run.stdout)
    assert report["ok"] is True, report
    assert {layer["name"] for layer in report["measurement"]["layers"]} == {"image.1", "text", "head"}
    project.pyproject(
        '[tool.vglint.models."clip_like.py:ImageText"]\ninput = [[4, 3, 8, 8], [4, 5]]\ndtype = ["float32", "int64"]\n'
    )
    _, found = probe(project, "--probe-all", "clip_like.py")
    assert "VG002" not in by_code(found, "clip_like.py")


def test_standard_input_is_not_probed_and_says_so(project):
    run = run_vglint("check", "--probe", "--output-format", "json", "-", cwd=project.root, input=SIGMOID_VARIABLE.encode(),
                     timeout=120)  # fmt: skip
    assert run.code == 1
    assert {f["status"] for f in json.loads(run.stdout)} == {"static"}
    assert (
        "vglint: warning: <stdin>: not probed: standard input cannot be imported; its findings stay static"
        in run.stderr
    )
