"""The attenuation estimate on small hand-built paths.

Every expected number is worked out by hand from the formula in vglint/estimate.py's docstring
and shared/design.md: going backward, a weight layer multiplies the gradient variance by
`fan_out * Var(W)` (`init_gain * fan_out / fan_in`, with PyTorch's default init_gain 1/3), an
activation by `E[phi'^2]` (sigmoid 1/16, ReLU 1/2, tanh 1); the estimate is the square root of
the product between the first and the last weight layer. A normalisation resets the product, a
merge adds its branches' variances, a product of branches (`kind="other"`) follows the deepest.
"""

from __future__ import annotations

import math

import pytest

from vglint.estimate import Estimate, estimated_attenuation, estimated_profile, weight_gain
from vglint.findings import Span
from vglint.ir import Kind, Layer, Merge

try:  # the typed IR names merge kinds with an enum; before it they were strings
    from vglint.ir import MergeKind
except ImportError:  # pragma: no cover
    MergeKind = None

SITE = Span.at(1)


def linear(fan_in: int | None = 64, fan_out: int | None = 64, init_gain: float | None = None) -> Layer:
    return Layer(Kind.WEIGHT, "Linear", site=SITE, fan_in=fan_in, fan_out=fan_out, init_gain=init_gain)


def act(op: str) -> Layer:
    return Layer(Kind.ACTIVATION, op, site=SITE)


def norm() -> Layer:
    return Layer(Kind.NORM, "LayerNorm", site=SITE)


def merge(kind: str, *branches) -> Merge:
    return Merge(MergeKind(kind) if MergeKind else kind, tuple(tuple(b) for b in branches), SITE)


SIGMOID_LAYER = 1 / 3 * 1 / 16  # one default-init square Linear behind a sigmoid: 1/48


def test_twenty_layer_sigmoid_mlp_is_the_designs_checked_case():
    path = (linear(), *[s for _ in range(20) for s in (act("sigmoid"), linear())])
    estimate = estimated_attenuation(path)
    assert estimate.weight_layers == 21
    assert estimate.attenuation == pytest.approx(0.144**20, rel=0.05)  # 0.144^20 ~ 1.5e-17
    assert estimate.attenuation == pytest.approx(math.sqrt(SIGMOID_LAYER) ** 20, rel=1e-9)
    assert f"{estimate.attenuation:.1e}" == "1.5e-17"
    # log10 shares: 20 * log10(1/4) from the sigmoid, 20 * log10(sqrt(1/3)) from the init
    assert estimate.activation_log10 == pytest.approx(20 * math.log10(1 / 4))
    assert estimate.init_log10 == pytest.approx(20 * math.log10(math.sqrt(1 / 3)))
    assert estimate.dominant_cause == "activation"


def test_eleven_layer_tanh_mlp_is_the_designs_second_checked_case():
    path = (linear(), *[s for _ in range(10) for s in (act("tanh"), linear())])
    estimate = estimated_attenuation(path)
    assert estimate.weight_layers == 11
    # tanh's E[phi'^2] is 1, so only the 10 default-init factors sqrt(1/3) count: 4.1e-3
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 3) ** 10, rel=1e-9)
    assert estimate.activation_log10 == pytest.approx(0.0)
    assert estimate.init_log10 == pytest.approx(10 * math.log10(math.sqrt(1 / 3)))
    assert estimate.dominant_cause == "initialisation"


def test_one_sigmoid_between_two_square_layers():
    estimate = estimated_attenuation((linear(), act("sigmoid"), linear()))
    assert estimate == Estimate(
        attenuation=pytest.approx(math.sqrt(1 / 48)),
        weight_layers=2,
        activation_log10=pytest.approx(math.log10(1 / 16) / 2),
        init_log10=pytest.approx(math.log10(1 / 3) / 2),
    )


def test_a_single_layer_or_an_empty_path_does_not_attenuate():
    assert estimated_attenuation(()) == Estimate(1.0, 0, 0.0, 0.0)
    assert estimated_attenuation((linear(),)) == Estimate(1.0, 1, 0.0, 0.0)
    assert estimated_attenuation((act("sigmoid"), linear(), act("sigmoid"))) == Estimate(1.0, 1, 0.0, 0.0)


def test_activations_before_the_first_and_after_the_last_weight_layer_do_not_count():
    inner = math.sqrt(1 / 3)  # what one default-init square layer does alone
    assert estimated_attenuation((act("sigmoid"), linear(), linear())).attenuation == pytest.approx(inner)
    assert estimated_attenuation((linear(), linear(), act("sigmoid"))).attenuation == pytest.approx(inner)
    assert estimated_attenuation((act("sigmoid"), act("sigmoid"), linear(), linear())).attenuation == pytest.approx(inner)


def test_consecutive_activations_multiply():
    estimate = estimated_attenuation((linear(), act("sigmoid"), act("sigmoid"), linear()))
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 16 * 1 / 16 * 1 / 3))
    assert estimate.activation_log10 == pytest.approx(math.log10(1 / 256) / 2)


@pytest.mark.parametrize(
    ("op", "gain"),
    [
        ("sigmoid", 1 / 16),
        ("hardsigmoid", 1 / 36),
        ("logsigmoid", 1 / 4),
        ("tanh", 1.0),
        ("relu", 0.5),
        ("leaky_relu", (1 + 0.01**2) / 2),
        ("gelu", 0.46),
        ("Identity", 1.0),  # an activation vglint has no number for counts as 1
    ],
)
def test_activation_gain_between_two_kaiming_layers(op, gain):
    # init_gain 1 on square layers: fan_out * Var(W) = 1, so the estimate is sqrt(E[phi'^2])
    path = (linear(init_gain=1.0), act(op), linear(init_gain=1.0))
    estimate = estimated_attenuation(path)
    assert estimate.attenuation == pytest.approx(math.sqrt(gain))
    assert estimate.init_log10 == pytest.approx(0.0)


def test_kaiming_init_with_relu_keeps_the_gradient():
    # kaiming_normal_(nonlinearity="relu"): fan_in * Var(W) = 2, times ReLU's 1/2
    path = (linear(init_gain=2.0), *[s for _ in range(10) for s in (act("relu"), linear(init_gain=2.0))])
    assert estimated_attenuation(path).attenuation == pytest.approx(1.0)


def test_default_init_relu_mlp():
    path = (linear(), *[s for _ in range(10) for s in (act("relu"), linear())])
    assert estimated_attenuation(path).attenuation == pytest.approx(math.sqrt(1 / 6) ** 10)  # 1.3e-4


@pytest.mark.parametrize(
    ("layer", "gain"),
    [
        (linear(64, 64), 1 / 3),
        (linear(64, 128), 1 / 3 * 2),  # fan_out / fan_in: a widening layer passes more back
        (linear(128, 64), 1 / 3 / 2),
        (linear(None, 128), 1 / 3),  # an unknown fan leaves the ratio out
        (linear(64, None), 1 / 3),
        (linear(64, 128, init_gain=2.0), 4.0),
        (linear(64, 64, init_gain=0.5), 0.5),
        (linear(64, 128, init_gain=0.0), 1.0),  # a zero init counts as 1: it lasts one step
    ],
)
def test_weight_gain(layer, gain):
    assert weight_gain(layer) == pytest.approx(gain)
    # the second layer's gain is what the path sees; the first layer's fans do not count
    estimate = estimated_attenuation((linear(7, 3), layer))
    assert estimate.attenuation == pytest.approx(math.sqrt(gain))
    assert estimate.init_log10 == pytest.approx(math.log10(gain) / 2)


def test_the_first_weight_layers_own_gain_does_not_count():
    assert estimated_attenuation((linear(64, 4096, init_gain=9.0), linear())).attenuation == pytest.approx(math.sqrt(1 / 3))


def test_normalisation_resets_everything_before_it():
    before = [linear(), *[s for _ in range(5) for s in (act("sigmoid"), linear())]]
    path = (*before, norm(), act("sigmoid"), linear())
    estimate = estimated_attenuation(path)
    # only the sigmoid and the Linear after the norm count; every weight layer is still counted
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 48))
    assert estimate.weight_layers == 7
    assert estimate.activation_log10 == pytest.approx(math.log10(1 / 16) / 2)
    assert estimate.init_log10 == pytest.approx(math.log10(1 / 3) / 2)


def test_a_normalisation_also_drops_a_pending_activation():
    estimate = estimated_attenuation((linear(), act("sigmoid"), norm(), linear()))
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 3))


@pytest.mark.parametrize("kind", [Kind.RECURRENT, Kind.BLOCK])
def test_recurrent_and_block_layers_count_as_weight_layers_with_gain_one(kind):
    other = Layer(kind, "RNN" if kind is Kind.RECURRENT else "TransformerEncoder", site=SITE, fan_in=64, fan_out=128)
    # as the last layer: only the sigmoid's factor before it
    estimate = estimated_attenuation((linear(), act("sigmoid"), other))
    assert estimate.attenuation == pytest.approx(1 / 4)
    assert estimate.weight_layers == 2
    assert estimate.init_log10 == pytest.approx(0.0)
    assert estimate.activation_log10 == pytest.approx(math.log10(1 / 4))
    # as the first layer: it starts the path
    estimate = estimated_attenuation((act("sigmoid"), other, act("sigmoid"), linear()))
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 48))
    assert estimate.weight_layers == 2


def test_other_layers_are_transparent():
    pool = Layer(Kind.OTHER, "Dropout", site=SITE)
    cut = Layer(Kind.CUT, "detach", site=SITE)
    estimate = estimated_attenuation((linear(), pool, act("sigmoid"), cut, linear()))
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 48))
    assert estimate.weight_layers == 2


def test_residual_block_never_attenuates():
    # x + f(x): the identity branch carries variance 1, the branch 1/48; they add
    path = (linear(), merge("add", (), (act("sigmoid"), linear())))
    estimate = estimated_attenuation(path)
    assert estimate.attenuation == pytest.approx(math.sqrt(1 + 1 / 48))
    assert estimate.weight_layers == 2
    # the log shares come from the deepest branch
    assert estimate.activation_log10 == pytest.approx(math.log10(1 / 16) / 2)
    assert estimate.init_log10 == pytest.approx(math.log10(1 / 3) / 2)


def test_two_different_residual_blocks():
    first = merge("add", (), (act("sigmoid"), linear()))
    second = merge("add", (), (act("relu"), linear()))
    estimate = estimated_attenuation((linear(), first, second))
    assert estimate.attenuation == pytest.approx(math.sqrt((1 + 1 / 48) * (1 + 1 / 6)))
    assert estimate.activation_log10 == pytest.approx((math.log10(1 / 16) + math.log10(1 / 2)) / 2)
    assert estimate.init_log10 == pytest.approx(2 * math.log10(1 / 3) / 2)


def test_log_shares_before_a_merge_are_kept():
    estimate = estimated_attenuation((linear(), act("sigmoid"), linear(), merge("add", (), (act("relu"), linear()))))
    assert estimate.activation_log10 == pytest.approx((math.log10(1 / 16) + math.log10(1 / 2)) / 2)
    assert estimate.init_log10 == pytest.approx(2 * math.log10(1 / 3) / 2)


def test_an_activation_at_the_end_of_a_residual_branch_counts():
    # x + relu(W x): the branch carries 1/3 * 1/2
    path = (linear(), merge("add", (), (linear(), act("relu"))))
    assert estimated_attenuation(path).attenuation == pytest.approx(math.sqrt(1 + 1 / 6))


def test_an_activation_at_the_end_of_a_gated_branch_counts():
    # sigmoid(b(x)) * a(x), a GLU: of branches as deep, the first is followed: b then sigmoid, 1/3 * 1/16
    path = (linear(), merge("other", (linear(), act("sigmoid")), (linear(),)))
    assert estimated_attenuation(path).attenuation == pytest.approx(math.sqrt(1 / 48))


def test_a_branch_without_weights_keeps_the_activations_before_a_nested_merge():
    # x + (s + s) with s = sigmoid(x): the branch carries 1/16 * (1 + 1) = 1/8; then a Linear: 1/3
    path = (linear(), merge("add", (), (act("sigmoid"), merge("add", (), ()))), linear())
    assert estimated_attenuation(path).attenuation == pytest.approx(math.sqrt((1 + 1 / 8) / 3))


def test_deep_residual_stack_stays_above_one():
    block = merge("add", (), (act("sigmoid"), linear(), act("sigmoid"), linear()))
    path = (linear(), *[block] * 20)
    estimate = estimated_attenuation(path)
    assert estimate.attenuation == pytest.approx(math.sqrt((1 + (1 / 48) ** 2) ** 20))
    assert estimate.attenuation >= 1.0
    assert estimate.weight_layers == 41


def test_activation_before_a_merge_multiplies_the_merged_variance():
    path = (linear(), act("sigmoid"), merge("add", (), (linear(),)))
    # 1/16 * (1 + 1/3)
    assert estimated_attenuation(path).attenuation == pytest.approx(math.sqrt(1 / 16 * 4 / 3))


def test_activations_inside_a_branch_without_weights_count():
    path = (linear(), merge("add", (act("sigmoid"),), (act("sigmoid"), act("sigmoid"))), linear())
    # branches carry 1/16 and 1/256 (no weight layer: their pending factors), then a Linear: 1/3
    assert estimated_attenuation(path).attenuation == pytest.approx(math.sqrt((1 / 16 + 1 / 256) * 1 / 3))


def test_a_product_of_branches_follows_the_deepest_one():
    gate = merge("other", (act("sigmoid"),), (act("sigmoid"), linear()))
    estimate = estimated_attenuation((linear(), gate))
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 48))
    assert estimate.weight_layers == 2


def test_a_product_of_branches_without_weights_follows_the_first():
    gate = merge("other", (act("sigmoid"),), (act("relu"),))
    estimate = estimated_attenuation((linear(), gate, linear()))
    # no branch has a weight layer: the first one found is the deepest, its 1/16 counts
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 16 * 1 / 3))


def test_merge_of_the_first_weight_layers_starts_the_path():
    # two parallel first layers (an Inception-style stem), then sigmoid and Linear
    path = (merge("add", (linear(),), (linear(),)), act("sigmoid"), linear())
    estimate = estimated_attenuation(path)
    # each branch's first layer starts the path with variance 1: 2, then 1/48
    assert estimate.attenuation == pytest.approx(math.sqrt(2 / 48))
    assert estimate.weight_layers == 2


def test_merge_of_first_layers_with_an_identity_branch():
    path = (merge("add", (), (linear(),)), act("sigmoid"), linear())
    estimate = estimated_attenuation(path)
    # the identity branch has nothing and the other branch's layer starts the path: 1 + 1, then 1/48
    assert estimate.attenuation == pytest.approx(math.sqrt(2 / 48))
    assert estimate.weight_layers == 2


def test_deepest_branch_gives_the_weight_count_and_log_shares():
    shallow = (act("relu"), linear())
    deep = (act("sigmoid"), linear(), act("sigmoid"), linear())
    estimate = estimated_attenuation((linear(), merge("concat", shallow, deep)))
    assert estimate.weight_layers == 3
    assert estimate.attenuation == pytest.approx(math.sqrt(1 / 6 + (1 / 48) ** 2))
    assert estimate.activation_log10 == pytest.approx(2 * math.log10(1 / 16) / 2)
    assert estimate.init_log10 == pytest.approx(2 * math.log10(1 / 3) / 2)
    # order of the branches does not matter
    swapped = estimated_attenuation((linear(), merge("concat", deep, shallow)))
    assert swapped.weight_layers == 3
    assert swapped.attenuation == pytest.approx(estimate.attenuation)
    assert swapped.activation_log10 == pytest.approx(estimate.activation_log10)


def test_equal_depth_branches_take_the_first_for_the_log_shares():
    first = (act("sigmoid"), linear())
    second = (act("relu"), linear(init_gain=2.0))
    estimate = estimated_attenuation((linear(), merge("add", first, second)))
    assert estimate.weight_layers == 2
    assert estimate.activation_log10 == pytest.approx(math.log10(1 / 16) / 2)
    assert estimate.init_log10 == pytest.approx(math.log10(1 / 3) / 2)


def test_a_shared_merge_is_walked_once_per_context():
    # the same Merge object twice (a block reused by reference): each occurrence counts
    block = merge("add", (), (act("sigmoid"), linear()))
    path = (linear(), block, block)
    assert estimated_attenuation(path).attenuation == pytest.approx(math.sqrt((1 + 1 / 48) ** 2))
    assert estimated_attenuation(path).weight_layers == 3


def test_a_shared_merge_before_and_after_the_first_weight_layer():
    # the same Merge object seen before any weight layer and after one is walked in each context
    block = merge("add", (act("sigmoid"),), (act("sigmoid"), linear()))
    path = (block, block)
    estimate = estimated_attenuation(path)
    # first: no weight layer before: branch one 1/16, branch two starts the path with 1: 1/16 + 1
    # second: 1/16 + 1/48; the product of both
    assert estimate.attenuation == pytest.approx(math.sqrt((1 / 16 + 1) * (1 / 16 + 1 / 48)))


def test_an_underflowing_product_gives_a_tiny_number_not_an_error():
    many = tuple(act("sigmoid") for _ in range(400))  # (1/16)^400 underflows to 0.0
    straight = estimated_attenuation((linear(), *many, linear()))
    assert 0.0 <= straight.attenuation < 1e-100
    assert straight.activation_log10 < -100
    gated = estimated_attenuation((linear(), merge("other", many), linear()))
    assert 0.0 < gated.attenuation < 1e-100


@pytest.mark.parametrize(
    ("activation_log10", "init_log10", "cause"),
    [(-3.0, -1.0, "activation"), (-1.0, -3.0, "initialisation"), (-2.0, -2.0, "initialisation"), (0.0, 0.0, "initialisation")],
)
def test_dominant_cause(activation_log10, init_log10, cause):
    assert Estimate(1e-5, 10, activation_log10, init_log10).dominant_cause == cause


def test_a_dense_block_is_walked_once_per_merge_not_once_per_route():
    """DenseNet's `torch.cat(features)`: each concat holds every earlier one in its branches, 2**40
    routes through 40 layers. Walking each merge once lists every layer, each at most once per merge."""
    from vglint.ir import iter_layers

    stem = linear()
    features = [(stem,)]
    layers = [stem]
    for _ in range(40):
        layers.append(linear())
        features.append((merge("concat", *features), layers[-1]))
    walked = list(iter_layers((merge("concat", *features),)))
    assert {id(layer) for layer in walked} == {id(layer) for layer in layers}
    assert len(walked) == sum(range(1, 42))  # layer j is on the branches of the 41 - j merges after it


def named(layer: Layer, name: str) -> Layer:
    layer.name = name
    return layer


def test_the_profile_predicts_each_weight_layers_share_of_the_last_ones_gradient():
    """Four square Linear layers with sigmoids between them: each step back costs sqrt(1/48)."""
    path = (named(linear(), "0"), *[s for i in (1, 2, 3) for s in (act("sigmoid"), named(linear(), str(2 * i)))])
    profile = estimated_profile(path)
    assert [name for name, _ in profile] == ["0", "2", "4", "6"]
    step = math.sqrt(SIGMOID_LAYER)
    assert [value for _, value in profile] == pytest.approx([step**3, step**2, step, 1.0])
    assert profile[0][1] == pytest.approx(estimated_attenuation(path).attenuation)


def test_the_profile_of_a_residual_stack_does_not_decay_and_names_a_block_by_its_first_layer():
    block = [named(linear(), "blocks.0.fc1"), act("relu"), named(linear(), "blocks.0.fc2")]
    path = (named(linear(), "stem"), merge("add", (), block), act("sigmoid"), named(linear(), "head"))
    profile = estimated_profile(path)
    assert [name for name, _ in profile] == ["stem", "blocks.0.fc1", "head"]
    # from the stem: the add sums the identity (1) and the branch (1/3 * 1/2 * 1/3), then sigmoid and head (1/48)
    # from the block: its first layer starts the path, so the branch is 1/2 * 1/3
    assert [value for _, value in profile] == pytest.approx(
        [math.sqrt((1 + 1 / 18) / 48), math.sqrt((1 + 1 / 6) / 48), 1.0]
    )


def test_the_profile_of_merges_of_merges_walks_each_shared_branch_once():
    """DenseNet's blocks concatenate what came before, so merges share their branches: 40 levels
    of them would be 2^40 walks if each branch were walked again (densenet121 never finished)."""
    inner: tuple = (named(linear(), "conv"),)
    for _ in range(40):
        inner = (merge("concat", inner, inner),)
    path = (named(linear(), "stem"), *inner, act("relu"), named(linear(), "head"))
    profile = estimated_profile(path)
    assert [name for name, _ in profile] == ["stem", "conv", "head"]
    assert profile[-1][1] == 1.0
