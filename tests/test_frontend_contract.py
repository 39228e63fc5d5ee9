"""The rules read only the front-end-neutral input (`vglint.analysis`): a front-end that never saw a
syntax tree, as the graph front-end will not, gets the same findings from the IR it builds.

The IR below is written by hand, as a front-end that instantiated the models would lower them, with
`FixedSite`s in place of libcst nodes; the expected findings follow from the rule definitions.
"""

from __future__ import annotations

from vglint.analysis import FedShape, FileAnalysis, LossUse, TrainingFacts, TrainingLoop
from vglint.config import Settings
from vglint.engine import check_analysis, make_rules
from vglint.findings import FixedSite, Span
from vglint.ir import Cut, Gap, Kind, Layer, Merge, MergeKind, ModelGraph, Reason, Recurrent


def at(line: int, text: str = "") -> FixedSite:
    return FixedSite(Span(line, 5, line, 25), text)


def run(*models: ModelGraph, training: TrainingFacts | None = None, text: str = "") -> list[tuple[str, int, str, str]]:
    settings = Settings()
    analysis = FileAnalysis("built.py", text=text, models=list(models), training=training or TrainingFacts())
    findings, errors = check_analysis(analysis, make_rules(settings), settings)
    assert errors == []
    return sorted((f.code, f.span.line, str(f.severity), f.message) for f in findings)


def sigmoid_mlp(depth: int = 20) -> ModelGraph:
    """Linear(64, 64) -> sigmoid, `depth` times, then a last Linear: what `net.0` ... `net.40` lower to."""
    path: list[Layer] = []
    for i in range(depth):
        path.append(Layer(Kind.WEIGHT, "Linear", at(10 + i), fan_in=64, fan_out=64, name=f"net.{2 * i}"))
        path.append(Layer(Kind.ACTIVATION, "sigmoid", at(10 + i), name=f"net.{2 * i + 1}"))
    path.append(Layer(Kind.WEIGHT, "Linear", at(30), fan_in=64, fan_out=64, name=f"net.{2 * depth}"))
    return ModelGraph("MLP", at(3), tuple(path), declared=list(path))


def test_a_hand_built_sigmoid_mlp_gets_the_architecture_findings():
    # per layer sqrt(1/3 * 1/16) = 0.1443; over 20 layers 0.1443^20 = 1.5e-17 (the design's checked case)
    assert run(sigmoid_mlp()) == [
        ("VG101", 10, "warning", "20 saturating activations (sigmoid) in a row with no normalisation or skip connection between them"),
        ("VG102", 3, "error", "estimated gradient attenuation 1.5e-17 across 21 weight layers, mostly from sigmoid derivatives"),
        ("VG103", 3, "warning", "21 weight layers on the deepest path and no normalisation layer"),
        ("VG104", 3, "warning", "21 weight layers on the deepest path and no residual or dense connection"),
    ]  # fmt: skip


def test_reasons_decide_what_absence_rules_may_claim():
    uncertain = sigmoid_mlp()
    uncertain.reasons = [Reason(Gap.OPAQUE_BLOCK, at(5))]
    assert [code for code, *_ in run(uncertain)] == ["VG101"]
    approximate = sigmoid_mlp()
    approximate.reasons = [Reason(Gap.FORWARD_LOOP, at(6))]
    found = run(approximate)
    assert [(code, severity) for code, _, severity, _ in found] == [("VG101", "info"), ("VG102", "warning")]
    assert found[0][3].endswith("(forward not followed: layers in declaration order)")


def resnet_like(blocks: int = 12, skip: bool = True) -> ModelGraph:
    """A stem, then `blocks` residual blocks x + Linear(relu(Linear(x))); without `skip`, the plain stack."""
    path: list = [Layer(Kind.WEIGHT, "Linear", at(2), 64, 64, name="stem")]
    for i in range(blocks):
        body = (Layer(Kind.WEIGHT, "Linear", at(5), 64, 64, name=f"blocks.{i}.fc1"), Layer(Kind.ACTIVATION, "relu", at(6)),
                Layer(Kind.WEIGHT, "Linear", at(7), 64, 64, name=f"blocks.{i}.fc2"))  # fmt: skip
        path += [Merge(MergeKind.ADD, ((), body), at(8))] if skip else list(body)
    return ModelGraph("ResNet", at(1), tuple(path))


def test_a_residual_merge_is_a_skip():
    # 1 + 12 * 2 = 25 weight layers; each block adds an identity route, so the estimate stays above 1
    assert run(resnet_like()) == [("VG103", 1, "info", "25 weight layers on the deepest path and no normalisation layer")]
    plain = run(resnet_like(skip=False))
    assert [(code, severity) for code, _, severity, _ in plain] == [("VG102", "warning"), ("VG103", "warning"), ("VG104", "warning")]


def test_cuts_and_freezing_come_from_the_layers():
    encoder = Layer(Kind.WEIGHT, "Linear", at(5), 32, 16, name="encoder")
    cut = Layer(Kind.CUT, Cut.DETACH.value, at(12), cut=Cut.DETACH)
    head = Layer(Kind.WEIGHT, "Linear", at(6), 16, 1, name="head")
    graph = ModelGraph("Net", at(3), (encoder, cut, head), declared=[encoder, head])
    assert run(graph) == [("VG401", 12, "warning", "detach() in forward cuts the gradient: encoder get no gradient from the output")]
    encoder.frozen = True  # what a front-end records for `encoder.requires_grad_(False)`
    assert run(graph) == []
    region = Layer(Kind.CUT, Cut.NO_GRAD.value, at(11), cut=Cut.NO_GRAD)
    encoder.frozen = False
    graph.path = (encoder, region, head)
    assert run(graph) == [("VG402", 11, "warning", "torch.no_grad() in forward around encoder, whose parameters still require grad: they get no gradient")]  # fmt: skip


def test_training_facts_feed_the_loss_and_recurrent_rules():
    rnn = Layer(Kind.RECURRENT, "RNN", at(7), name="rnn", recurrent=Recurrent(batch_first=True))
    model = ModelGraph("CharRNN", at(4), (rnn,), declared=[rnn])
    training = TrainingFacts(
        loops=[TrainingLoop("train", at(21), clips=False, names={"CharRNN"})],
        recurrent="nn.RNN",
        loss_uses=[LossUse("sigmoid", "nn.BCELoss", at(20))],
        fed_shapes={"CharRNN": [FedShape((32, 1000, 8), at(18, "torch.randn(32, 1000, 8)"))]},
    )
    assert run(model, training=training) == [
        ("VG201", 7, "warning", "plain nn.RNN over sequences of 1000 steps (torch.randn(32, 1000, 8), line 18): its gradient "
         "vanishes over long sequences; use nn.LSTM or nn.GRU (forget-gate bias 1), truncated backpropagation or gradient clipping"),
        ("VG202", 21, "warning", "training loop in train() for a recurrent model (nn.RNN) has no gradient clipping; "
         "call torch.nn.utils.clip_grad_norm_ before the optimiser step"),
        ("VG301", 20, "warning", "sigmoid output fed to nn.BCELoss: a saturated logit gets a zero gradient; drop the sigmoid "
         "and use nn.BCEWithLogitsLoss"),
    ]  # fmt: skip


def test_suppressions_read_the_text_the_front_end_gives():
    text = "\n" * 9 + "x = 1  # noqa: VG101\n"  # line 10, where VG101 is reported
    assert [code for code, *_ in run(sigmoid_mlp(), text=text)] == ["VG102", "VG103", "VG104"]
