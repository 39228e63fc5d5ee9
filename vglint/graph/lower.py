"""Lower a recorded forward pass (`vglint.graph.record`) to the IR: one `ModelGraph` whose paths
the rules read exactly as they read the static front-end's (torch-free).

The nodes are replayed in the order they ran, each tracked value carrying its path from its root,
as the static interpreter's symbolic tensors do: a layer extends its input's path; two values of
one root meeting (`x + f(x)`, `torch.cat`) become the common prefix and a `Merge` of the branches;
`x * sigmoid(g)` is a gate, off the main path. Because each value keeps its own path, a DAG that
is not series-parallel (a value feeding two merges) simply repeats the shared part in each
branch: every route is kept and none is guessed.
"""

from __future__ import annotations

import linecache
import os
from dataclasses import dataclass
from typing import Any

from vglint.findings import FixedSite, Site, Span
from vglint.ir import Cut, Kind, Layer, MergeKind, ModelGraph, Path, Recurrent, TransformerStack, count_weights, meet

_CUTS = {cut.value: cut for cut in Cut}
_GATES = ("sigmoid", "hardsigmoid")


@dataclass(frozen=True)
class _Value:
    """A tracked tensor: its path from its root, which root, and its last op (for gates)."""

    path: Path
    root: int
    last_op: str | None = None


class _Lowering:
    def __init__(self, recorded: dict[str, Any], filename: str, model_site: Site, stepped: dict[str, Layer]) -> None:
        self.recorded = recorded
        self.filename = os.path.abspath(filename)
        self.model_site = model_site
        self.layers: dict[str, Layer] = {}
        self.stepped = stepped
        self.first_step: dict[int, _Value] = {}  # id(recurrent layer) -> the value of its first step

    def site(self, where: Any) -> Site:
        """A node's (file, line) as a site; local only in the checked file."""
        if not where:
            return self.model_site
        path, line, column, end_line, end_column = where
        lines = [linecache.getline(path, number) for number in range(line, end_line + 1)]
        text = "".join(lines)
        if lines:
            text = text[column - 1 :] if end_line > line else lines[0][column - 1 : end_column - 1]
            if end_line > line:
                text = text[: len(text) - len(lines[-1]) + end_column - 1]
        return FixedSite(Span(line, column, end_line, end_column), text,
                         local=os.path.abspath(path) == self.filename)  # fmt: skip

    def module_layer(self, node: dict[str, Any]) -> Layer:
        """One Layer per module, so that a module applied twice keeps one identity."""
        name = node["name"]
        if name not in self.layers:
            kind = Kind(node["kind"])
            recurrent = node.get("recurrent")
            transformer = node.get("transformer")
            self.layers[name] = Layer(
                kind,
                node["op"],
                self.site(node.get("site")),
                fan_in=node.get("fan_in"),
                fan_out=node.get("fan_out"),
                init_gain=node.get("init_gain"),
                init_name="as built" if node.get("init_gain") is not None else None,
                name=name,
                frozen=bool(node.get("frozen")),
                recurrent=Recurrent(**recurrent) if recurrent else None,
                transformer=TransformerStack(**transformer) if transformer else None,
                in_size=node.get("in_size"),
            )
        return self.layers[name]

    def layer(self, node: dict[str, Any]) -> Layer:
        if node.get("module"):
            return self.module_layer(node)
        if node["kind"] == "cut":
            cut = _CUTS[node["cut"]]
            return Layer(Kind.CUT, cut.value, self.site(node.get("site")), cut=cut)
        return Layer(Kind(node["kind"]), node["op"], self.site(node.get("site")),
                     fan_in=node.get("fan_in"), fan_out=node.get("fan_out"))  # fmt: skip

    def merge(self, kind: str, values: list[_Value], where: Any) -> _Value:
        if kind == "mul":
            gates = [v for v in values if v.last_op in _GATES]
            mains = [v for v in values if v.last_op not in _GATES]
            if gates and mains:
                main = mains[0]
                return _Value(main.path + (Layer(Kind.OTHER, "gate", self.site(where)),), main.root, "gate")
            kind = "other"
        main = values[0]
        same = [v for v in values if v.root == main.root]
        if len(same) < 2:
            return max(values, key=lambda v: count_weights(v.path))
        return _Value(meet(MergeKind(kind), [v.path for v in same], self.site(where)), main.root)

    def step(self, recurrence: Layer, inputs: list[_Value], node: int) -> _Value:
        """A module of a hand-written recurrence's step, applied at some time step: every step
        gives the first step's value, so the T steps are one recurrent layer (as the source front-end
        reads the loop), not T weight layers whose carried state looks like T dense connections."""
        first = self.first_step.get(id(recurrence))
        if first is None:
            first = self.first_step[id(recurrence)] = (
                _Value(inputs[0].path + (recurrence,), inputs[0].root, recurrence.op)
                if inputs
                else _Value((recurrence,), node, recurrence.op)
            )
        return first

    def graph(self, name: str) -> ModelGraph:
        values: dict[int, _Value] = {}
        nodes = self.recorded["nodes"]
        # each value holds its whole path, so values are dropped after their last use: kept all,
        # a forward of n ops holds n paths of up to n steps (gigabytes on a detection model)
        last_use = {index: index for index in range(len(nodes))}
        for position, node in enumerate(nodes):
            for used in node.get("inputs", []):
                last_use[used] = position
        for output in self.recorded["outputs"]:
            last_use[output] = len(nodes)
        dying: dict[int, list[int]] = {}
        for index, position in last_use.items():
            dying.setdefault(position, []).append(index)
        for position, node in enumerate(nodes):
            inputs = [values[i] for i in node.get("inputs", []) if i in values]
            kind = node["kind"]
            if kind == "input":
                values[node["id"]] = _Value((), node["id"])
            elif kind == "merge":
                if inputs:
                    values[node["id"]] = self.merge(node["merge"], inputs, node.get("site"))
            elif node.get("module") and node["name"] in self.stepped:
                values[node["id"]] = self.step(self.stepped[node["name"]], inputs, node["id"])
            else:
                layer = self.layer(node)
                if inputs:
                    values[node["id"]] = _Value(inputs[0].path + (layer,), inputs[0].root, layer.op)
                else:  # a layer on no tracked tensor: an embedding of token ids starts a path of its own
                    values[node["id"]] = _Value((layer,), node["id"], layer.op)
            for index in dying.get(position, []):
                values.pop(index, None)
        outputs = [values[i].path for i in self.recorded["outputs"] if i in values]
        path = max(outputs, key=count_weights, default=())
        modules = self.recorded.get("modules", {})
        declared: list[Layer] = []
        for module in self.recorded.get("declared", []):
            layer = self.stepped.get(module) or (self.module_layer(modules[module]) if module in modules else None)
            if layer is not None and all(layer is not seen for seen in declared):
                declared.append(layer)
        assumed = []
        if self.recorded.get("device") == "meta":
            assumed.append("torch's default initialisation (built on the meta device, which holds no weights)")
        return ModelGraph(name, self.model_site, path, declared=declared, outputs=outputs, assumed=assumed)


def lower(recorded: dict[str, Any], *, name: str, filename: str, site: Site,
          stepped: dict[str, Layer] | None = None) -> ModelGraph:  # fmt: skip
    """The `ModelGraph` of a recorded forward pass; `site` is where the model is defined in `filename`.

    `stepped` maps the modules of a hand-written recurrence's step (`for t in range(T): h =
    torch.tanh(self.cell(torch.cat([x[t], h], -1)))`, which the source front-end reads as one
    recurrent layer) to that layer: the recording sees only T applications of a Linear.
    """
    return _Lowering(recorded, filename, site, stepped or {}).graph(name)


def stepped_cells(static: ModelGraph) -> dict[str, Layer]:
    """The modules of each recurrence written out in the source's `forward`, by name, to its layer."""
    return {
        cell: layer
        for layer in static.declared
        if layer.kind is Kind.RECURRENT and layer.recurrent is not None
        for cell in layer.recurrent.cells
    }
