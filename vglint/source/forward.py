"""The forward pass and its lowering to the IR: modules applied to symbolic tensors, whose paths
grow by one `Layer` per operation and meet in `Merge`s; `forward` that cannot be followed falls
back to the order in which layers were declared."""

from __future__ import annotations

from typing import Any

import libcst as cst

from vglint.analysis import FedShape
from vglint.ir import (
    Cut,
    Gap,
    Kind,
    Layer,
    Merge,
    MergeKind,
    Recurrent,
    TransformerStack,
    count_weights,
    iter_layers,
    meet,
)
from vglint.layers import CONTAINERS, LOSS_CLASSES, NN_CLASSES, SEQUENCE_RECURRENT, TRANSFORMER_LAYERS, is_norm_name
from vglint.source.torch_semantics import fans
from vglint.source.values import (
    LAST_OP_TAGS,
    UNKNOWN,
    Break,
    Continue,
    FuncRef,
    FunctionReturn,
    Instance,
    ModuleObj,
    Tensor,
    flatten_values,
    known,
)
from vglint.source.walk import walk

_WEIGHT_KINDS = frozenset({Kind.WEIGHT, Kind.EMBEDDING, Kind.RECURRENT, Kind.BLOCK})


def _holds_weight_layers(instance: Instance) -> bool:
    """A class named like a norm that holds a weight layer or a model of the code is a block
    (`class PreNorm: norm, fn`), run as one; a hand-written norm holds at most norms and parameters."""
    for value in [*instance.attrs.values(), *instance.children]:
        if isinstance(value, Instance) and not is_norm_name(value.cls.name):
            return True
        if isinstance(value, ModuleObj) and not is_norm_name(value.cls):
            spec = NN_CLASSES.get(value.cls)
            if value.foreign or value.children or (spec is not None and spec.kind in _WEIGHT_KINDS):
                return True
    return False


class Forward:
    """A part of `Interpreter`: runs models on symbolic tensors and lowers modules to IR layers."""

    def apply(self, module: Any, args: list[Any], kwargs: dict[str, Any], node: cst.CSTNode) -> Any:
        """Call a module on its inputs: the symbolic forward pass."""
        if isinstance(module, Instance):
            norm = self.hand_written_norm(module, args, node)
            if norm is not None:
                return norm
            alone = args[0] if len(args) == 1 and not kwargs and isinstance(args[0], Tensor) else None
            out = self.run_forward(module, args, kwargs, node)  # (binding its parameters empties `kwargs`)
            if alone is not None:
                self.remember_single_input_run(module, alone, out)
            return out
        if not isinstance(module, ModuleObj):
            return self.passthrough(args, kwargs, node)
        if module.foreign and not is_norm_name(module.cls):
            self.gap(Gap.OPAQUE_BLOCK, module.node)  # an imported block we cannot see may hold norms and skips
        if module.cls == "Sequential":
            return self.run_sequential(module.children, args, node)
        tensors = [a for a in [*args, *kwargs.values()] if isinstance(a, Tensor)]  # `encoder(input_ids=ids)` too
        if not tensors:
            return UNKNOWN
        if module.cls in LOSS_CLASSES:
            self.record_loss(LOSS_CLASSES[module.cls], f"nn.{module.cls}", tensors[0], node)
            return self.loss_value(args, kwargs, node)
        if tensors[0].shape:
            self.facts.fed_shapes.setdefault(self.site(module.node), []).append(self.fed_shape(tensors[0]))
        layer = self.lower(module)
        result = self.extend(tensors[0], layer)
        if module.weight_normalized:  # a normalisation of the weight: the scale is held as by a norm layer
            result = self.extend(result, Layer(Kind.NORM, "weight_norm", layer.site))
        if layer.kind is Kind.RECURRENT and module.cls in SEQUENCE_RECURRENT:
            return (result, UNKNOWN)
        if module.cls == "MultiheadAttention":
            return (result, UNKNOWN)
        return result

    def fed_shape(self, tensor: Tensor) -> FedShape:
        return FedShape(tensor.shape, None if tensor.made_by is None else self.site(tensor.made_by))

    def run_sequential(self, children: list[Any], args: list[Any], node) -> Any:
        """nn.Sequential's forward: each module on the previous one's output."""
        value: Any = args[0] if args else UNKNOWN
        for child in children:
            if isinstance(child, (ModuleObj, Instance)):
                value = self.apply(child, [value], {}, node)
        return value

    def run_forward(self, instance: Instance, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        first = next((a for a in args if isinstance(a, Tensor)), None)
        if first is not None and first.shape:  # `model(torch.randn(32, 1000, 8))`: the length VG201 needs
            self.facts.fed_shapes.setdefault(instance.cls.name, []).append(self.fed_shape(first))
        if self.training_code:  # `xb, yb = get_batch("train")`: what training feeds a model is a batch
            args = [self.fresh_batch() if a is UNKNOWN else a for a in args]
            kwargs = {k: self.fresh_batch() if v is UNKNOWN else v for k, v in kwargs.items()}
        outer, self.training_code = self.training_code, False
        try:
            return self._run_forward(instance, args, kwargs, node)
        finally:
            self.training_code = outer

    def _run_forward(self, instance: Instance, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        self.forward_depth += 1
        try:
            return self._forward_or_declared(instance, args, kwargs, node)
        finally:
            self.forward_depth -= 1

    def _forward_or_declared(self, instance: Instance, args: list[Any], kwargs: dict[str, Any], node) -> Any:
        found = self.find_method(instance.cls, "forward")
        if found is None and instance.layer is not None:
            return self.apply(instance.layer, args, kwargs, node)
        if found is None:
            if self.container_base(instance.cls) == "Sequential":
                return self.run_sequential(instance.children, args, node)
            through_methods = self.through_methods(instance, args)
            if through_methods is not None:
                return through_methods
            with self.entered(instance.cls.ctx):  # the site is in the class's own module
                self.gap(Gap.NO_FORWARD, instance.cls.node.name)
            return self.declared_order(instance, args)
        owner, forward = found
        mark = len(self.reasons)
        try:
            result = self.call_function(FuncRef(forward, instance, owner), args, kwargs)
        except (Break, Continue):
            result = UNKNOWN
        lost = self.forward_lost_since(mark)
        if lost or not any(isinstance(v, Tensor) for v in flatten_values(result)):
            if not lost:
                with self.entered(owner.ctx):
                    self.gap(Gap.FORWARD_LOST, forward.name)
            return self.declared_order(instance, args)
        return result

    def recurrence(self, loop: cst.For, items: list[Any] | None, env: dict[str, Any], cls) -> bool:
        """A loop in forward that applies the same layers to a state it carries from one step to the
        next (`for t in range(T): h = torch.tanh(self.cell(torch.cat([x[t], h], -1)))`) is one
        recurrent layer applied T times, not T layers: run two steps to see that the layers are the
        same, then keep one step and put a recurrent layer in its place. True when it did that."""
        carried = self.carried_names.get(loop)
        if carried is None:  # a pure function of the loop, asked each time the loop runs
            carried = self.carried_names[loop] = _carried_names(loop)
        if not carried:
            return False
        saved = {k: list(v) if isinstance(v, list) else v for k, v in env.items()}
        before = {id(step) for value in flatten_values(list(env.values())) if isinstance(value, Tensor) for step in value.path}
        steps: list[set[int]] = []
        first: list[Layer] = []
        try:
            for index in range(2):
                item = items[index] if items is not None and index < len(items) else self.fresh_batch(loop.target)
                self.assign(loop.target, item, env, cls)
                self.exec_block(loop.body, env, cls)
                new = [s for name in carried for v in flatten_values([env.get(name)]) if isinstance(v, Tensor)
                       for s in v.path if isinstance(s, Layer) and id(s) not in before]  # fmt: skip
                steps.append({id(s) for s in new if s.kind.counts_as_depth})
                if index == 0:
                    first = new
                before |= {id(s) for s in new}
            after_two = [env.get(name) for name in carried]
        except (Break, Continue, FunctionReturn):
            steps = []
        env.clear()
        env.update(saved)
        if len(steps) < 2 or not steps[0] or steps[1]:  # the second step must reuse the first one's layers
            return False
        cell = [layer for layer in first if layer.kind.counts_as_depth]
        stepped_cell = len(cell) == 1 and cell[0].kind is Kind.RECURRENT  # `h = self.cell(x[:, i], h)`: its state is its own
        if not stepped_cell and not _fed_back(after_two, steps[0]):
            return False  # `outputs += [self.head(x[:, i])]` collects each step's result; it carries no state
        activations = [layer.op for layer in first if layer.kind is Kind.ACTIVATION]
        gated = any(layer.op in ("sigmoid", "hardsigmoid", "gate") for layer in first)  # `z * h`: a gate
        known = len(items) if items is not None else None
        if stepped_cell:
            rnn = cell[0]  # an nn.RNNCell/LSTMCell stepped by hand is that recurrent layer
        else:
            rnn = Layer(Kind.RECURRENT, "recurrence", self.site(loop), name=cell[0].name or "recurrence",
                        recurrent=Recurrent(nonlinearity=activations[-1] if activations else None, gated=gated,
                                            steps=known, cells=tuple(layer.name for layer in cell if layer.name)))  # fmt: skip
            self.recurrences.append(rnn)
        # one step for what the loop leaves behind (outputs appended, the last state), then the
        # step's layers replaced by the recurrent layer
        before = {id(s) for value in flatten_values(list(env.values())) if isinstance(value, Tensor) for s in value.path}
        self.assign(loop.target, items[0] if items else self.fresh_batch(loop.target), env, cls)
        try:
            self.exec_block(loop.body, env, cls)
        except (Break, Continue):
            pass
        step = {id(s) for name in carried for v in flatten_values([env.get(name)]) if isinstance(v, Tensor)
                for s in v.path if isinstance(s, Layer) and id(s) not in before}  # fmt: skip
        for name, value in list(env.items()):
            env[name] = _summarised(value, step, rnn)
        return True

    def through_methods(self, instance: Instance, args: list[Any]) -> Any:
        """A module with no `forward` that its code uses through methods instead (cleanrl's
        `get_value(x)` and `get_action_and_value(x)`): each public method that takes an input runs
        on it, and the tensors they return are the model's outputs, branches from the input. Only
        the methods of its class and of the bases defined with it, in its module: a framework's
        (transformers' `GenerationMixin.generate`, `PreTrainedModel.save_pretrained`) drive a model
        and are not how its code uses it. Run on a tensor, they had read `generate`'s loop as copies
        of the model stacked, added a hundred gaps to models with no layers, and cost more than the
        rest of their file (`generate_batch` on Qwen3-Omni)."""
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            return None
        outputs: list[Tensor] = []
        for cls in self.mro(instance.cls):
            if cls.ctx is not instance.cls.ctx:
                continue
            for name in cls.methods:
                if name.startswith("_"):
                    continue
                method = cls.methods[name]
                params = [*method.params.posonly_params, *method.params.params][1:]
                if not params or params[0].default is not None:
                    continue
                try:
                    result = self.call_function(FuncRef(method, instance, cls), [tensors[0]], {})
                except (Break, Continue):
                    continue
                outputs += [v for v in flatten_values(result) if isinstance(v, Tensor) and v.root == tensors[0].root]
        outputs = list({id(t.path): t for t in outputs if t.path != tensors[0].path}.values())
        if not outputs:
            return None
        return outputs[0] if len(outputs) == 1 else self.merge(MergeKind.OTHER, outputs, instance.node)

    def declared_order(self, instance: Any, args: list[Any]) -> Any:
        """Fallback when `forward` cannot be followed: the submodules in the order they were
        registered, each run as it runs itself (a residual block keeps its skip, a Sequential its
        order). A submodule follows the one before unless their sizes say it cannot (a Linear whose
        inputs are not the previous Linear's outputs): then it starts a branch of its own from the
        input, as the actor and critic heads of an actor-critic agent do."""
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            return UNKNOWN
        start = current = tensors[0]
        ends: list[Tensor] = []
        for child in self.children_of(instance):
            if isinstance(child, ModuleObj) and child.cls in LOSS_CLASSES:
                continue  # a criterion kept on the model is not on its path
            if current is not start and not _fits(current, child, self.leaves):
                ends.append(current)
                current = start
            current = self.run_in_order(child, current)
        ends.append(current)
        outputs = [t for t in ends if t is not start] or [start]
        return outputs[0] if len(outputs) == 1 else self.merge(MergeKind.OTHER, outputs, instance.node)

    def run_in_order(self, module: Any, x: Tensor) -> Tensor:
        """`module` on `x` for the fallback: containers run their items in order, other modules run
        their own forward; the first tensor of what they return goes on."""
        if not isinstance(module, (ModuleObj, Instance)):
            return x
        if isinstance(module, ModuleObj) and module.cls in ("Sequential", "ModuleList"):
            for child in module.children:
                x = self.run_in_order(child, x)
            return x
        if isinstance(module, ModuleObj) and module.cls == "ModuleDict":
            return self.declared_order(module, [x])
        done = self.single_input_runs.get(_single_input_key(module, x))
        if done is not None and done[0] is module:
            _, added, result = done
        else:
            out = self.apply(module, [x], {}, module.node)
            result = next((v for v in flatten_values(out) if isinstance(v, Tensor)), x)
            if result.path[: len(x.path)] != x.path:
                return Tensor(_without_cuts(result.path), result.root, result.tags)
            added = result.path[len(x.path):]
        # a cut inside a submodule says nothing of a chain vglint only guessed: the cut rules must
        # not read one into it (a positional table under no_grad after a projection)
        return Tensor(x.path + _without_cuts(added), result.root, result.tags)

    def remember_single_input_run(self, module: Instance, x: Tensor, out: Any) -> None:
        """Keep what `module` added to `x`, run on it alone, for the declared-order fallback
        (`run_in_order`), which runs the modules of a forward it lost on one tensor each. A lost
        forward inside a lost forward would otherwise run every module under it again at each
        level of nesting (transformers' heads around a model around an encoder around layers),
        each time adding to the same input what it added before."""
        result = next((v for v in flatten_values(out) if isinstance(v, Tensor)), x)
        if result.path[: len(x.path)] == x.path:
            self.single_input_runs[_single_input_key(module, x)] = (module, result.path[len(x.path):], result)

    def leaves(self, obj: Any) -> list[ModuleObj]:
        found: list[ModuleObj] = []
        for child in self.children_of(obj):
            if isinstance(child, ModuleObj) and child.cls not in CONTAINERS:
                found.append(child)
            else:
                found.extend(self.leaves(child))
        return found

    def hand_written_norm(self, module: Instance, args: list[Any], node: cst.CSTNode) -> Any:
        """A class of the code named like a norm (`LlamaRMSNorm`) as one NORM layer, without running
        its arithmetic; None when it is to be run as written: it holds weight layers (`PreNorm(dim,
        fn)`) or is fed two signals (d2l's `AddNorm()(x, y)` adds them before its LayerNorm)."""
        if not is_norm_name(module.cls.name) or _holds_weight_layers(module):
            return None
        tensors = [a for a in args if isinstance(a, Tensor)]
        if len(tensors) > 1:
            return None
        if not tensors:
            return UNKNOWN
        return self.extend(tensors[0], Layer(Kind.NORM, module.cls.name, self.site(module.node or node)))

    def lower(self, module: ModuleObj) -> Layer:
        """The IR layer of a torch module (made once, so weight sharing keeps one identity)."""
        if module._layer is not None:
            return module._layer
        spec = None if module.foreign else NN_CLASSES.get(module.cls)
        if module.library is not None:
            kind, op = Kind.BLOCK, module.library
        elif spec is None:
            kind, op = (Kind.NORM if is_norm_name(module.cls) else Kind.OTHER), module.cls
        else:
            kind, op = spec.kind, spec.op
        fan_in, fan_out = fans(module) if spec is not None else (None, None)
        with self.entered(module.ctx):  # the site is in the file whose code made the module
            site = self.site(module.node)
        layer = Layer(kind, op, site, fan_in=fan_in, fan_out=fan_out, init_gain=module.init_gain,
                      init_name=module.init_name, name=module.name or module.cls, frozen=module.frozen,
                      foreign=module.foreign, recurrent=recurrent_settings(module) if kind is Kind.RECURRENT else None,
                      transformer=transformer_stack(module) if kind is Kind.BLOCK else None,
                      in_size=input_size(module) if spec is not None else None)  # fmt: skip
        module._layer = layer
        return layer

    def apply_op(self, tensor: Tensor, kind: Kind, op: str, node: cst.CSTNode) -> Tensor:
        return self.extend(tensor, Layer(kind, op, self.site(node)))

    def cut(self, tensor: Tensor, cut: Cut, node: cst.CSTNode) -> Tensor:
        return self.extend(tensor, Layer(Kind.CUT, cut.value, self.site(node), cut=cut))

    @staticmethod
    def extend(tensor: Tensor, layer: Layer) -> Tensor:
        """The tensor after one more layer; its tags say what that last layer was."""
        tags = tensor.tags - LAST_OP_TAGS
        if layer.op in ("sigmoid", "hardsigmoid"):
            tags |= {"gate", "sigmoid"}
        elif layer.op in ("softmax", "log_softmax"):
            tags |= {layer.op}
        return Tensor(tensor.path + (layer,), tensor.root, tags)

    def gated(self, main: Tensor, node: cst.CSTNode) -> Tensor:
        return self.extend(main, Layer(Kind.OTHER, "gate", self.site(node)))

    def merge(self, kind: MergeKind, tensors: list[Tensor], node: cst.CSTNode) -> Tensor:
        """Where branches of one value meet: the common prefix, then a Merge of the branches."""
        main = tensors[0]
        same = [t for t in tensors if t.root == main.root]
        if len(same) < 2:
            return max(tensors, key=lambda t: count_weights(t.path))
        tags = frozenset().union(*(t.tags for t in same)) - {"gate"}
        return Tensor(meet(kind, [t.path for t in same], self.site(node)), main.root, tags)


def input_size(module: ModuleObj) -> int | None:
    """The size a layer is fed along its input dimension: what a synthetic input must have."""
    key = next((k for prefix, k in _INPUT_SIZE_ARGS if module.cls.startswith(prefix)), None)
    size = module.arg(0, key) if key is not None else None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


_INPUT_SIZE_ARGS = (("Linear", "in_features"), ("Bilinear", "in1_features"), ("Conv", "in_channels"),
                    ("Embedding", "num_embeddings"), ("RNN", "input_size"), ("LSTM", "input_size"), ("GRU", "input_size"))  # fmt: skip


def recurrent_settings(module: ModuleObj) -> Recurrent:
    """`num_layers`, `nonlinearity` and `batch_first` of an RNN/LSTM/GRU or cell, None where not known."""
    values = []
    for index, key, default in ((2, "num_layers", 1), (3, "nonlinearity", "tanh")):
        value = module.arg(index, key, default) if module.cls == "RNN" else module.kwargs.get(key, default)
        values.append(value if known(value) else None)
    return Recurrent(num_layers=values[0], nonlinearity=values[1], batch_first=module.kwargs.get("batch_first", False))


def transformer_stack(module: ModuleObj) -> TransformerStack | None:
    """`num_layers` and `norm_first` of nn.Transformer* blocks, None where not known."""

    def typed(value: Any, kind: type) -> Any:
        return value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else None

    if module.cls in TRANSFORMER_LAYERS:
        return TransformerStack(num_layers=1, norm_first=typed(module.arg(7, "norm_first", False), bool))
    if module.cls in ("TransformerEncoder", "TransformerDecoder"):
        layer = module.arg(0, "encoder_layer" if module.cls == "TransformerEncoder" else "decoder_layer")
        inner = transformer_stack(layer) if isinstance(layer, ModuleObj) else None
        return TransformerStack(num_layers=typed(module.arg(1, "num_layers"), int),
                                norm_first=None if inner is None else inner.norm_first)  # fmt: skip
    if module.cls == "Transformer":
        encoder = typed(module.arg(2, "num_encoder_layers", 6), int)
        decoder = typed(module.arg(3, "num_decoder_layers", 6), int)
        counts = [n for n in (encoder, decoder) if n is not None]
        return TransformerStack(num_layers=max(counts, default=None), norm_first=typed(module.arg(11, "norm_first", False), bool),
                                num_encoder_layers=encoder, num_decoder_layers=decoder)  # fmt: skip
    return None


def _last_depth_step(x: Tensor) -> Any:
    """The last step on `x`'s path that counts as depth: a merge, or a layer other than a dropout,
    a reshape or the like."""
    return next((step for step in reversed(x.path) if not isinstance(step, Layer) or step.kind.counts_as_depth), None)


def _single_input_key(module: Any, x: Tensor) -> tuple:
    """What a module's run on `x` alone depends on, besides the module: everything of `x` but the
    steps of its path before the last one that counts (which `_fits` reads)."""
    shape = x.shape
    if shape is not None:
        try:
            hash(shape)
        except TypeError:  # a shape with a list in it
            shape = repr(shape)
    return id(module), x.root, x.tags, shape, x.made_by, id(_last_depth_step(x))


def _fits(x: Tensor, module: Any, leaves) -> bool:
    """False when `module` starts with a Linear whose input size is not the output size of the last
    Linear on `x`'s path (both known): it cannot take `x` as its input."""
    last = _last_depth_step(x)
    first = module if isinstance(module, ModuleObj) and module.cls not in CONTAINERS else next(iter(leaves(module)), None)
    if not (isinstance(last, Layer) and last.op == "Linear" and isinstance(first, ModuleObj) and first.cls == "Linear"):
        return True
    fan_in = fans(first)[0]
    return fan_in is None or last.fan_out is None or fan_in == last.fan_out


def _without_cuts(path: tuple) -> tuple:
    """`path` without its gradient cuts, inside merges too."""
    steps = []
    for step in path:
        if isinstance(step, Merge):
            steps.append(Merge(step.kind, tuple(_without_cuts(b) for b in step.branches), step.site))
        elif step.kind is not Kind.CUT:
            steps.append(step)
    return tuple(steps)


def _carried_names(loop: cst.For) -> set[str]:
    """Names a step reads before it assigns them (its state: `h = tanh(cell(cat([x[t], h])))`), in
    a loop whose steps read the loop variable (weight-tied depth, `for _ in range(12): x =
    self.layer(x)`, is depth, not a recurrence over time). A name each step first assigns afresh
    (`out = self.conv(features)`) carries nothing."""
    target = {n.value for n in _names(loop.target)}
    if not _reads_step_input(loop.body, target):
        return set()
    defined: set[str] = set()
    read_first: set[str] = set()
    assigned: set[str] = set()
    for node in walk(loop.body, prune=(cst.Assign, cst.AugAssign)):  # in the order the body runs
        if isinstance(node, cst.Assign):
            read_first.update(n.value for n in _names(node.value) if n.value not in defined)
            targets = {n.value for t in node.targets for n in _names(t.target)}
            defined.update(targets)
            assigned.update(targets)
        elif isinstance(node, cst.AugAssign):
            names = {n.value for n in _names(node.target)}
            read_first.update(names - defined)
            assigned.update(names)
    return (read_first & assigned) - target


def _reads_step_input(body: cst.CSTNode, target: set[str]) -> bool:
    """The loop variable picks each step's input: it indexes data (`x[t]`, `emb[:, i]`) or is the
    data a call gets (`self.cell(x_t, h)`), not only a counter compared or printed."""
    for node in walk(body):
        if isinstance(node, cst.SubscriptElement) and any(n.value in target for n in _names(node)):
            return True
        if isinstance(node, cst.Arg) and isinstance(node.value, cst.Name) and node.value.value in target:
            return True
    return False


def _names(node: cst.CSTNode) -> list[cst.Name]:
    """The names in an expression, not inside attributes' right sides (`self.h` reads `self`)."""
    found: list[cst.Name] = []
    for sub in walk(node, prune=(cst.Attribute,)):
        if isinstance(sub, cst.Name):
            found.append(sub)
        elif isinstance(sub, cst.Attribute):
            found += _names(sub.value)
    return found


def _fed_back(values: list[Any], step: set[int]) -> bool:
    """After two steps, a carried tensor went through the step's layers twice: the second step ran
    on what the first one computed (a state), not on fresh input beside it (a list of outputs)."""
    for tensor in flatten_values(values):
        if isinstance(tensor, Tensor):
            seen = [id(layer) for layer in iter_layers(tensor.path) if id(layer) in step]
            if len(seen) != len(set(seen)):
                return True
    return False


def _summarised(value: Any, step: set[int], rnn: Layer) -> Any:
    """`value` with the layers of one step of a recurrence replaced by the recurrent layer."""
    if isinstance(value, list):
        return [_summarised(v, step, rnn) for v in value]
    if isinstance(value, tuple):
        return tuple(_summarised(v, step, rnn) for v in value)
    if not isinstance(value, Tensor):
        return value
    cut = next((i for i, s in enumerate(value.path) if id(s) in step or (isinstance(s, Merge) and _touches(s, step))), None)
    if cut is None:
        return value
    rest = tuple(s for s in value.path[cut:] if isinstance(s, Layer) and id(s) not in step and not s.kind.counts_as_depth)
    return Tensor(value.path[:cut] + (rnn,) + rest, value.root, value.tags)


def _touches(merge: Merge, step: set[int]) -> bool:
    return any(id(s) in step or (isinstance(s, Merge) and _touches(s, step)) for b in merge.branches for s in b)
