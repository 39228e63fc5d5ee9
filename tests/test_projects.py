"""Projects split over files: vglint follows the imports of the checked file into the other files
of its project (`import model`, `from models.rnn import CharRNN`, `from ..layers import Block`,
`from mypkg.layers import Block`), reports what it finds at the model in the checked file, and
never reads a file outside the project. (fixtures/projects/ holds whole projects in the shape of
real ones; these tests pin the edges.) Expected values are written by hand."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vglint.source.project import find_project

#: A 6-block sigmoid stack, its layers made in this file: VG101 wherever it is built.
SIGMOID_BLOCKS = """\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return self.act(self.fc(x))


class Deep(nn.Module):
    def __init__(self, depth=6):
        super().__init__()
        self.body = nn.Sequential(*[Block() for _ in range(depth)])

    def forward(self, x):
        return self.body(x)
"""

CHAIN = "VG101 6 saturating activations (sigmoid) in a row with no normalisation or skip connection between them"

RNN_MODEL = """\
import torch.nn as nn


class RNNModel(nn.Module):
    def __init__(self, ntoken=100, nhid=64):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, nhid)
        self.rnn = nn.RNN(nhid, nhid)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x):
        out, _ = self.rnn(self.encoder(x))
        return self.decoder(out)
"""


def seen(result) -> list[str]:
    """`FILE:LINE:COL CODE MESSAGE` of each finding, as a user reads them."""
    return [f"{f['filename']}:{f['location']['row']}:{f['location']['column']} {f['code']} {f['message']}"
            for f in json.loads(result.stdout)]  # fmt: skip


def test_import_module_as_alias_then_attribute(project, cli):
    """`import blocks as b` then `b.Deep()`: the class of the other file, reported at the model here."""
    project.write("blocks.py", SIGMOID_BLOCKS)
    project.write("main.py", "import blocks as b\n\nmodel = b.Deep()\n")
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101")) == [f"main.py:3:1 {CHAIN}"]


def test_a_module_added_between_two_runs_is_found_by_the_second(project, cli):
    """The files of a project are looked up once per run, not once per process: a watch, an
    editor or a second run in the same process sees the module that was written since."""
    project.write("main.py", "import blocks as b\n\nmodel = b.Deep()\n")
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101", "--no-cache")) == []
    project.write("blocks.py", SIGMOID_BLOCKS)
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101", "--no-cache")) == [f"main.py:3:1 {CHAIN}"]


def test_models_in_folders_of_their_own_share_the_lookups_of_one_run(project, cli):
    """Files in different folders that import the same modules (`from ..layers import Deep`, as
    transformers' models/*/ do) find them, each as its own folder sees it; and a folder that
    became a package between two runs is one in the second (a script's folder is searched for
    `import blocks`, a package's is not)."""
    project.pyproject("[project]\nname = 'zoo'\n")
    project.write("zoo/__init__.py", "")
    project.write("zoo/layers.py", SIGMOID_BLOCKS)
    for name in ("bert", "gpt2"):
        project.write(f"zoo/models/{name}/__init__.py", "")
        project.write(f"zoo/models/{name}/modeling.py", "from ...layers import Deep\n\nmodel = Deep()\n")
    found = seen(cli("zoo/models", "--output-format", "json", "--select", "VG101", "--no-cache"))
    assert found == [f"zoo/models/bert/modeling.py:3:1 {CHAIN}", f"zoo/models/gpt2/modeling.py:3:1 {CHAIN}"]
    project.write("scripts/blocks.py", SIGMOID_BLOCKS)
    project.write("scripts/main.py", "import blocks as b\n\nmodel = b.Deep()\n")
    assert seen(cli("scripts/main.py", "--output-format", "json", "--select", "VG101", "--no-cache")) == [
        f"scripts/main.py:3:1 {CHAIN}"
    ]
    project.write("scripts/__init__.py", "")
    assert seen(cli("scripts/main.py", "--output-format", "json", "--select", "VG101", "--no-cache")) == []


def test_a_class_of_another_module_with_bases_over_several_lines(project, cli):
    """Another module's class is known by its bases before its body is read: bases written over
    several lines, a mixin whose body is never needed, and a keyword that is no base."""
    project.write("blocks.py", SIGMOID_BLOCKS.replace("class Deep(nn.Module):", """\
class Logged:
    def log(self):
        return None


class Deep(
    Logged,
    (nn.
     Module),
    metaclass=type,
):"""))
    project.write("main.py", "import blocks as b\n\nmodel = b.Deep()\n")
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101")) == [f"main.py:3:1 {CHAIN}"]


def test_another_modules_class_members_read_one_by_one(project, cli):
    """Another module's methods and class attributes are parsed one at a time as the model needs
    them: a decorated method defined twice (the later one counts), an attribute written over several
    lines, and a class whose body shares the line of its colon (read whole; its attribute had been
    listed and not found, and the KeyError lost the checked file's module level)."""
    project.write("blocks.py", SIGMOID_BLOCKS + """

def traced(method):
    return method


class Sizes: extra = 2


class Base(nn.Module):
    depth = (
        4
    )

    def forward(self, x):
        return x

    @traced
    def forward(self, x):
        return self.body(x)


class Stacked(Base):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(*[Block() for _ in range(self.depth + Sizes.extra)])
""")
    project.write("main.py", "from blocks import Stacked\n\nmodel = Stacked()\n")
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101")) == [f"main.py:3:1 {CHAIN}"]


def sigmoid_stack(depth: str, params: str = "") -> str:
    """`class Deep(nn.Module)`: Linear and Sigmoid pairs in a Sequential, as many as the expression
    `depth` says, `__init__` taking `params` too; the chain's VG101 is at column 68 of its line 4."""
    return f"""\
class Deep(nn.Module):
    def __init__(self{params}):
        super().__init__()
        self.body = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range({depth})])

    def forward(self, x):
        return self.body(x)
"""


def test_a_class_body_on_the_line_of_its_colon_is_read(project, cli):
    project.write("main.py", """\
import torch.nn as nn


class Sizes: depth = 6


""" + sigmoid_stack("Sizes.depth"))
    result = cli("main.py", "-v", "--output-format", "concise", "--select", "VG101")
    assert result.stdout.splitlines()[:2] == [
        "main.py:10:68: VG101 [warning] 6 saturating activations (sigmoid) in a row with no normalisation or skip "
        "connection between them",
        "main.py:7: Deep: fully analysed",
    ]


def test_a_dataclass_whose_fields_share_the_line_of_its_colon_takes_its_arguments(project, cli):
    """`Config(depth=6)` of `class Config: depth: int = 2` is 6 deep: the field had not been seen,
    so the argument was dropped and the class default read instead, and the model was called fully
    analysed at the wrong depth, with no finding."""
    project.write("main.py", """\
import torch.nn as nn
from dataclasses import dataclass


@dataclass
class Config: depth: int = 2


""" + sigmoid_stack("config.depth", ", config") + "\n\nmodel = Deep(Config(depth=6))\n")
    result = cli("main.py", "-v", "--output-format", "concise", "--select", "VG101")
    assert result.stdout.splitlines()[:2] == [
        "main.py:12:68: VG101 [warning] 6 saturating activations (sigmoid) in a row with no normalisation or skip "
        "connection between them",
        "main.py:18: model: fully analysed",
    ]


def test_package_reexport_and_submodule_attribute(project, cli):
    """`from nets import Deep` through nets/__init__.py, and `import nets.blocks` then `nets.blocks.Deep()`."""
    project.write("nets/__init__.py", "from .blocks import Deep\n")
    project.write("nets/blocks.py", SIGMOID_BLOCKS)
    project.write("a.py", "from nets import Deep\n\nmodel = Deep()\n")
    project.write("b.py", "import nets.blocks\n\n\nmodel = nets.blocks.Deep(depth=6)\n")
    result = cli("a.py", "b.py", "--output-format", "json", "--select", "VG101")
    assert seen(result) == [f"a.py:3:1 {CHAIN}", f"b.py:4:1 {CHAIN}"]


def test_a_relative_import_that_leaves_the_project_is_not_followed(project, cli):
    """The project is the folder with pyproject.toml; `from ..outside import Deep` would read a file
    above it. vglint does not read it: the model's class stays unknown, so no finding."""
    project.pyproject("[project]\nname = 'app'\n")
    (project.root.parent / "outside.py").write_text(SIGMOID_BLOCKS, encoding="utf-8")
    project.write("app/__init__.py", "")
    project.write("app/main.py", "from ...outside import Deep\n\nmodel = Deep()\n")
    assert seen(cli("app/main.py", "--output-format", "json")) == []
    # the same file inside the project is followed
    project.write("app/inside.py", SIGMOID_BLOCKS)
    project.write("app/main.py", "from .inside import Deep\n\nmodel = Deep()\n")
    assert seen(cli("app/main.py", "--output-format", "json", "--select", "VG101")) == [f"app/main.py:3:1 {CHAIN}"]


def test_a_virtual_environment_inside_the_project_is_not_its_code(project, cli):
    """`import deepnet` must not find .venv/.../site-packages/deepnet.py, even with src/ or the root
    pointing there; a `torch/` folder in the project never shadows torch."""
    project.pyproject("[project]\nname = 'app'\n")
    project.write(".venv/lib/python3.11/site-packages/deepnet.py", SIGMOID_BLOCKS)
    project.write("torch/nn.py", SIGMOID_BLOCKS)
    project.write("main.py", "import deepnet\nfrom torch.nn import Deep\n\nmodel = deepnet.Deep()\nother = Deep()\n")
    assert seen(cli("main.py", "--output-format", "json")) == []
    root = find_project((project.root / "main.py").resolve())
    assert root.module_path("deepnet", project.root.resolve()) is None
    assert root.module_path("torch.nn", project.root.resolve()) is None


def test_an_import_cycle_terminates_and_both_files_are_checked(project, cli):
    """a.py and b.py import each other (at module level and inside the model's code)."""
    project.write("a.py", SIGMOID_BLOCKS + "\nfrom b import WIDTH\n\nmodel = Deep()\n")
    project.write("b.py", "from a import Deep\n\nWIDTH = 32\nmodel = Deep(depth=6)\n")
    started = time.monotonic()
    result = cli("a.py", "b.py", "--output-format", "json", "--select", "VG101")
    assert time.monotonic() - started < 30
    assert seen(result) == [
        f"a.py:8:20 {CHAIN}",  # a.py's own nn.Sigmoid()
        f"b.py:4:1 {CHAIN}",  # a.py's layers, built here
    ]


def test_a_large_module_of_the_project_is_not_read(project, cli):
    """A module over 400,000 bytes stays unread (its names unknown), as before."""
    project.write("big.py", SIGMOID_BLOCKS + "#" + "x" * 400_000 + "\n")
    project.write("main.py", "from big import Deep\n\nmodel = Deep()\n")
    assert seen(cli("main.py", "--output-format", "json")) == []


def test_vg202_for_a_model_imported_from_a_factory_of_another_file(project, cli):
    """The recurrent layer is in models.py (a factory returns the model); the loop here does not clip."""
    project.write("models.py", RNN_MODEL + "\n\ndef build_model(ntoken=100):\n    return RNNModel(ntoken)\n")
    project.write("train.py", (
        "import torch\n"
        "from models import build_model\n"
        "\n"
        "model = build_model()\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "\n"
        "\n"
        "def train(batches, loss_fn):\n"
        "    for x, y in batches:\n"
        "        loss = loss_fn(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    ))  # fmt: skip
    assert seen(cli("train.py", "--output-format", "json", "--select", "VG202")) == [
        (
            "train.py:11:9 VG202 training loop in train() for a recurrent model (nn.RNN) has no gradient clipping; "
            "call torch.nn.utils.clip_grad_norm_ before the optimiser step"
        )
    ]


def test_no_vg202_when_the_imported_model_is_not_recurrent(project, cli):
    project.write("models.py", SIGMOID_BLOCKS)
    project.write("train.py", (
        "import torch\n"
        "from models import Deep\n"
        "\n"
        "model = Deep(depth=2)\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "\n"
        "\n"
        "def train(batches, loss_fn):\n"
        "    for x, y in batches:\n"
        "        loss = loss_fn(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    ))  # fmt: skip
    assert seen(cli("train.py", "--output-format", "json")) == []


def test_framework_bases_are_modules(project, cli):
    """Subclasses of Lightning's and transformers' base classes, however they are imported, are models."""
    body = (
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.net = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Tanh()) for _ in range(5)])\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.net(x)\n"
    )
    for base, imports in [
        ("LightningModule", "from lightning.pytorch.core import LightningModule"),
        ("pl.LightningModule", "import pytorch_lightning as pl"),
        ("PreTrainedModel", "from transformers.modeling_utils import PreTrainedModel"),
        ("GradientCheckpointingLayer", "from transformers import GradientCheckpointingLayer"),
    ]:
        project.write("model.py", f"import torch.nn as nn\n{imports}\n\n\nclass Net({base}):\n{body}")
        assert seen(cli("model.py", "--output-format", "json")) == [
            "model.py:8:67 VG101 5 saturating activations (tanh) in a row with no normalisation or skip connection"
            + " between them"
        ], base


def test_an_unreadable_relative_base_with_forward_is_still_a_model(project, cli):
    """`from .missing import Base`: the base cannot be read, the class defines forward: a model
    (uncertain, so VG101 only)."""
    project.write("pkg/__init__.py", "")
    project.write("pkg/net.py", (
        "import torch.nn as nn\n"
        "from .missing import Base\n"
        "\n"
        "\n"
        "class Net(Base):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.net = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(4)])\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.net(x)\n"
    ))  # fmt: skip
    assert seen(cli("pkg/net.py", "--output-format", "json")) == [
        "pkg/net.py:8:67 VG101 4 saturating activations (sigmoid) in a row with no normalisation or skip "
        + "connection between them"
    ]


def test_an_imported_module_level_that_never_ends_does_not_cost_the_model(project, cli):
    """helper.py's module level recurses forever; the model here still gets its findings."""
    project.write("helper.py", "def forever(n):\n    return forever(n + 1)\n\n\nWIDTH = forever(0)\nDEPTH = 6\n")
    main = SIGMOID_BLOCKS.replace("depth=6", "depth=helper.DEPTH") + "\nimport helper\n\nmodel = Deep()\n"
    project.write("main.py", main)
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101")) == [f"main.py:8:20 {CHAIN}"]


def test_project_root_markers(tmp_path: Path):
    """The project is the nearest folder with pyproject.toml, setup.py, setup.cfg or .git; with none,
    the folder above the file's top-level package."""
    for case, marker in enumerate(("pyproject.toml", "setup.py", "setup.cfg", ".git")):
        root = tmp_path / f"case{case}" / "repo"
        (root / "pkg").mkdir(parents=True)
        (root / marker).mkdir() if marker == ".git" else (root / marker).write_text("")
        assert find_project((root / "pkg" / "mod.py").resolve()).root == root.resolve()
    loose = tmp_path / "loose"
    (loose / "top" / "sub").mkdir(parents=True)
    (loose / "top" / "__init__.py").write_text("")
    (loose / "top" / "sub" / "__init__.py").write_text("")
    assert find_project((loose / "top" / "sub" / "m.py").resolve()).root == loose.resolve()
    installed = tmp_path / "lib" / "site-packages" / "dist" / "models"
    installed.mkdir(parents=True)
    assert find_project((installed / "m.py").resolve()).root == (tmp_path / "lib" / "site-packages" / "dist").resolve()


#: A 12-layer ReLU MLP (no norm): VG103 when vglint is sure no normalisation hides in it.
MLP_CALLING = """\
import torch.nn as nn
from utils import {helper}


class MLP(nn.Module):
    def __init__(self, depth=12, width=32):
        super().__init__()
        {call}
        self.body = nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth)])

    def forward(self, x):
        return self.body(x)
"""

NO_NORM = "VG103 12 weight layers on the deepest path and no normalisation layer"


def test_a_logging_helper_of_another_module_does_not_make_the_model_uncertain(project, cli):
    """torchvision's models call `_log_api_usage_once(self)` (torchvision/utils.py): its `if`s on
    unknown values only pick a string. Following it must not cost the model its VG103."""
    project.write("utils.py", (
        "import torch\n"
        "\n"
        "\n"
        "def _log_api_usage_once(obj):\n"
        "    module = obj.__module__\n"
        "    if not module.startswith('torchvision'):\n"
        "        module = f'torchvision.internal.{module}'\n"
        "    name = obj.__class__.__name__\n"
        "    torch._C._log_api_usage_once(f'{module}.{name}')\n"
    ))  # fmt: skip
    project.write("model.py", MLP_CALLING.format(helper="_log_api_usage_once", call="_log_api_usage_once(self)"))
    assert seen(cli("model.py", "--output-format", "json", "--select", "VG103")) == [f"model.py:5:7 {NO_NORM}"]


def test_an_unknown_branch_of_another_module_that_may_add_a_layer_keeps_the_model_uncertain(project, cli):
    """The helper may add a BatchNorm on an unknown flag: vglint cannot claim there is no norm."""
    project.write("utils.py", (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "def add_norm(model, flags):\n"
        "    if flags.use_norm:\n"
        "        model.norm = nn.BatchNorm1d(32)\n"
    ))  # fmt: skip
    project.write("model.py", MLP_CALLING.format(helper="add_norm", call="add_norm(self, FLAGS)"))
    assert seen(cli("model.py", "--output-format", "json", "--select", "VG103")) == []


def test_another_modules_globals_are_built_by_every_statement_that_changes_them(project, cli):
    """vglint runs another module's module level a name at a time: for WIDTHS, the assignment and
    the loop that fills it; for CFG, the assignment and the item set after it (depth 6, not 0);
    UNUSED, never asked for, is never built."""
    project.write("config.py", (
        "import torch.nn as nn\n"
        "\n"
        "WIDTHS = []\n"
        "for _ in range(6):\n"
        "    WIDTHS.append(8)\n"
        "CFG = {'depth': 0}\n"
        "CFG['depth'] = 6\n"
        "UNUSED = [nn.Linear(8, 8) for _ in range(10 ** 6)]\n"
    ))  # fmt: skip
    project.write("main.py", (
        "import torch.nn as nn\n"
        "from config import CFG, WIDTHS\n"
        "\n"
        "stack = nn.Sequential(*[nn.Sequential(nn.Linear(w, w), nn.Sigmoid()) for w in WIDTHS])\n"
        "tower = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(CFG['depth'])])\n"
    ))  # fmt: skip
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101")) == [
        f"main.py:4:56 {CHAIN}",
        f"main.py:5:56 {CHAIN}",
    ]


def test_a_layer_made_by_a_factory_of_another_module_is_reported_at_the_model(project, cli):
    project.write("models.py", (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "def make_mlp(depth=6):\n"
        "    return nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(depth)])\n"
    ))  # fmt: skip
    project.write("train.py", "from models import make_mlp\n\nmodel = make_mlp()\n")
    assert seen(cli("train.py", "--output-format", "json", "--select", "VG101")) == [f"train.py:3:1 {CHAIN}"]


def test_a_config_derived_from_a_dataclass_transform_base_has_its_annotated_defaults(project, cli):
    """transformers 5 writes configs as dataclasses: `PreTrainedConfig` is marked
    `@dataclass_transform` (PEP 681), so a subclass's annotated class attributes are its fields and
    its `__init__` takes them. The model built from `TanhConfig()` is 8 tanh layers deep."""
    project.write("pyproject.toml", "[project]\nname = 'm'\n")
    project.write("configuration_utils.py", (
        "from dataclasses import dataclass\n"
        "from typing import dataclass_transform\n"
        "\n"
        "\n"
        "@dataclass_transform(kw_only_default=True)\n"
        "@dataclass\n"
        "class PreTrainedConfig:\n"
        "    hidden_size: int = 16\n"
    ))  # fmt: skip
    project.write("model.py", (
        "import torch.nn as nn\n"
        "from configuration_utils import PreTrainedConfig\n"
        "\n"
        "\n"
        "class TanhConfig(PreTrainedConfig):\n"
        "    num_layers: int = 8\n"
        "\n"
        "\n"
        "class TanhStack(nn.Module):\n"
        "    def __init__(self, config: TanhConfig):\n"
        "        super().__init__()\n"
        "        self.layers = nn.ModuleList([nn.Linear(config.hidden_size, config.hidden_size) for _ in range(config.num_layers)])\n"
        "\n"
        "    def forward(self, x):\n"
        "        for layer in self.layers:\n"
        "            x = layer(x).tanh()\n"
        "        return x\n"
    ))  # fmt: skip
    assert seen(cli("model.py", "--output-format", "json", "--select", "VG101")) == [
        "model.py:16:17 VG101 8 saturating activations (tanh) in a row with no normalisation or skip connection"
        " between them (assuming num_layers=8 (TanhConfig default), hidden_size=16 (TanhConfig default))"
    ]


def test_the_last_definition_of_a_name_in_another_module_is_the_one_imported(project, cli):
    """Another module's top-level definitions are read one at a time, when first imported: the last
    definition of a name wins, as in Python (a function `Deep` first, then the class), and the
    decorators, comments and form feeds around a definition do not shift which lines it is."""
    first = "def Deep(depth=6):\n    return None\n\n\n"
    decorated = SIGMOID_BLOCKS.replace("class Deep(nn.Module):", "\x0c\n# the model\n@staticmethod\nclass Deep(nn.Module):")
    project.write("blocks.py", first + decorated.replace("@staticmethod\n", ""))
    project.write("main.py", "from blocks import Deep\n\nmodel = Deep()\n")
    assert seen(cli("main.py", "--output-format", "json", "--select", "VG101")) == [f"main.py:3:1 {CHAIN}"]


def test_another_module_in_a_declared_encoding_is_read(project, cli):
    """A module of the project saved as latin-1 with its PEP 263 cookie is read as Python reads it."""
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + SIGMOID_BLOCKS
    project.write("blocks.py", data=source.encode("latin-1"))
    project.write("main.py", "from blocks import Deep\n\nmodel = Deep()\n")
    result = cli("main.py", "--output-format", "json", "--select", "VG101")
    assert result.exit_code == 1
    assert seen(result) == [f"main.py:3:1 {CHAIN}"]
