"""A model class whose `__init__` requires arguments is analysed on its own with the arguments of its
first construction in the file (torchvision's `_DenseBlock(num_layers=6, ...)` inside DenseNet), and
its findings say so; without such a construction its arguments stay unknown, as before.

The expected findings are written by hand from the sources below.
"""

from __future__ import annotations

import json

#: A block of `depth` sigmoid layers (class at line 4, the sigmoid at line 11), built by Net (line
#: 15) with depth 6 (line 18); Block on its own cannot know its depth.
BLOCK_BUILT_BY_NET = """\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).sigmoid()
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Block(16, 6)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.body(x))
"""


def test_a_block_is_analysed_with_the_arguments_the_file_builds_it_with(project, cli):
    project.write("net.py", BLOCK_BUILT_BY_NET)
    result = cli("net.py", "--output-format", "json")
    found = {(f["code"], f["model"], f["location"]["row"]): f for f in json.loads(result.stdout)}
    assert sorted(found) == [("VG101", "Net", 11), ("VG102", "Block", 4), ("VG102", "Net", 15)]
    block = found[("VG102", "Block", 4)]
    assert block["message"] == ("estimated gradient attenuation 6.3e-05 across 6 weight layers, mostly from sigmoid "
                                "derivatives (assuming the arguments of its construction at line 18)")  # fmt: skip
    assert block["evidence"]["assumed"] == ["the arguments of its construction at line 18"]
    # the sigmoid chain is seen in Net too, where nothing is assumed: that finding is the one kept
    assert "assumed" not in found[("VG101", "Net", 11)]["evidence"]
    assert "assuming" not in found[("VG101", "Net", 11)]["message"]


def test_the_block_counts_as_fully_analysed(project, cli):
    project.write("net.py", BLOCK_BUILT_BY_NET)
    result = cli("net.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert "net.py:4: Block: fully analysed" in result.stdout.splitlines()
    assert "net.py:15: Net: fully analysed" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "2 models in 1 file: 2 fully analysed"


def test_a_block_never_built_in_the_file_keeps_unknown_arguments(project, cli):
    project.write("block.py", BLOCK_BUILT_BY_NET.split("\n\nclass Net")[0] + "\n")
    result = cli("block.py", "--output-format", "concise", "-v")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "block.py:4: Block: partly analysed (unknown container item `nn.ModuleList`, line 7)"


def test_a_block_built_with_a_module_argument_is_not_built_with_it(project, cli):
    """A module passed in (`Wrapper(nn.Sequential(...))`) belongs to the model that built it: it is
    not reused to build the class on its own, whose argument stays unknown."""
    project.write("wrap.py", (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class Wrapper(nn.Module):\n"
        "    def __init__(self, inner):\n"
        "        super().__init__()\n"
        "        self.inner = inner\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.inner(x)\n"
        "\n"
        "\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.body = Wrapper(nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(6)]))\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.body(x)\n"
    ))  # fmt: skip
    result = cli("wrap.py", "--output-format", "concise", "-v", "--select", "VG101")
    assert result.stdout.splitlines() == [
        "wrap.py:16:76: VG101 [warning] 6 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "wrap.py:4: Wrapper: partly analysed (unknown call on a tensor `self.inner`, line 10)",
        "wrap.py:13: Net: fully analysed",
        "Found 1 finding (1 warning) in 1 file checked.",
        "2 models in 1 file: 1 fully analysed, 1 partly (unknown call on a tensor)",
    ]


def test_a_construction_in_another_module_names_that_module(project, cli):
    """timm's factories hand the class to `build_model_with_cfg` in another module, which calls it:
    the class is built with those arguments, and the finding names the module that built it."""
    project.write("pyproject.toml", "[project]\nname = 'm'\n")
    project.write("builder.py", "def build_model(cls, **kwargs):\n    return cls(**kwargs)\n")
    project.write("net.py", (
        "import torch.nn as nn\n"
        "from builder import build_model\n"
        "\n"
        "\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, width, depth):\n"
        "        super().__init__()\n"
        "        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])\n"
        "\n"
        "    def forward(self, x):\n"
        "        for layer in self.layers:\n"
        "            x = layer(x).sigmoid()\n"
        "        return x\n"
        "\n"
        "\n"
        "def block6():\n"
        "    return build_model(Block, width=16, depth=6)\n"
    ))  # fmt: skip
    result = cli("net.py", "--output-format", "concise", "-v")
    assert result.stdout.splitlines() == [
        "net.py:5:7: VG102 [warning] estimated gradient attenuation 6.3e-05 across 6 weight layers, mostly from sigmoid derivatives"
        " (assuming the arguments of its construction in builder.py)",
        "net.py:12:17: VG101 [warning] 6 saturating activations (sigmoid) in a row with no normalisation or skip connection between them",
        "net.py:16:5: VG102 [warning] estimated gradient attenuation 6.3e-05 across 6 weight layers, mostly from sigmoid derivatives",
        "net.py:5: Block: fully analysed",
        "net.py:16: block6: fully analysed",
        "Found 3 findings (3 warnings) in 1 file checked.",
        "2 models in 1 file: 2 fully analysed",
    ]


def test_a_class_built_only_in_main_is_analysed_with_its_literal_arguments(project, cli):
    """`model = Block(16, depth=6)` inside `main()`, which the analysis does not run: the literal
    arguments of that call are the ones assumed, and the finding names the line."""
    source = BLOCK_BUILT_BY_NET.split("\n\nclass Net")[0] + (
        "\n\ndef main():\n    model = Block(16, depth=6)\n    print(model)\n\n\n"
        'if __name__ == "__main__":\n    main()\n'
    )
    project.write("script.py", source)
    result = cli("script.py", "--output-format", "json")
    found = {(f["code"], f["model"], f["location"]["row"]): f for f in json.loads(result.stdout)}
    assert sorted(found) == [("VG101", "Block", 11), ("VG102", "Block", 4)]
    for finding in found.values():
        assert finding["evidence"]["assumed"] == ["the arguments of its construction at line 16"]
    assert found[("VG102", "Block", 4)]["evidence"]["weight_layers"] == 6


def test_a_call_with_arguments_that_are_not_literals_is_not_assumed(project, cli):
    source = BLOCK_BUILT_BY_NET.split("\n\nclass Net")[0] + "\n\ndef main(width):\n    return Block(width, depth=6)\n"
    project.write("script.py", source)
    result = cli("script.py", "--output-format", "concise", "-v")
    assert (
        result.stdout.splitlines()[0]
        == "script.py:4: Block: partly analysed (unknown container item `nn.ModuleList`, line 7)"
    )


#: Two blocks built by Net: Block at line 27 (a call over two lines), Stem at line 29.
TWO_BLOCKS_BUILT_BY_NET = BLOCK_BUILT_BY_NET.replace("""class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Block(16, 6)
""", """class Stem(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])

    def forward(self, x):
        return self.layers(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Block(
            16, 6)
        self.stem = Stem(16, 20)
""")


def test_each_block_names_the_line_of_its_own_construction(project, cli):
    project.write("net.py", TWO_BLOCKS_BUILT_BY_NET)
    assert TWO_BLOCKS_BUILT_BY_NET.splitlines()[26:29] == ["        self.body = Block(", "            16, 6)",
                                                          "        self.stem = Stem(16, 20)"]
    result = cli("net.py", "--output-format", "json")
    assumed = {f["model"]: f["evidence"].get("assumed") for f in json.loads(result.stdout) if f["model"] in ("Block", "Stem")}
    assert assumed == {"Block": ["the arguments of its construction at line 27"],
                       "Stem": ["the arguments of its construction at line 29"]}
