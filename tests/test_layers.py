"""vglint's catalogue of torch's layers against the installed torch: what `hasattr(m, name)` on a
torch layer decides rests on these lists, so a name a layer really has must be in them."""

from __future__ import annotations

import inspect

import pytest

from vglint.layers import LAYER_ATTRIBUTES, MODULE_API, RECURRENT_WEIGHT, is_norm_name

nn = pytest.importorskip("torch.nn")


def _public(names) -> set[str]:
    return {name for name in names if not name.startswith("_")}


def test_module_api_is_the_public_api_of_nn_module():
    assert _public(dir(nn.Module)) | {"training"} == MODULE_API


def _layer_classes() -> list[type]:
    return [c for c in vars(nn).values() if isinstance(c, type) and issubclass(c, nn.Module)]


@pytest.mark.parametrize("cls", _layer_classes(), ids=lambda c: c.__name__)
def test_every_public_attribute_of_a_torch_layer_is_known(cls):
    names = set(dir(cls))
    try:
        names |= set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"}
    except (TypeError, ValueError):
        pass
    for klass in cls.__mro__:
        names |= set(getattr(klass, "__annotations__", {}) or {})
        names |= set(getattr(klass, "__constants__", ()) or ())
    for args in ((), (4,), (4, 4), (4, 4, 3), (4, 2)):  # what the layer holds once made, where it makes so
        try:
            made = cls(*args)
        except Exception:
            continue
        names |= set(vars(made)) | {n for n, _ in made.named_parameters(recurse=False)}
        names |= {n for n, _ in made.named_buffers(recurse=False)} | {n for n, _ in made.named_children()}
    unknown = {n for n in _public(names) - MODULE_API - LAYER_ATTRIBUTES if not RECURRENT_WEIGHT.match(n)}
    assert not unknown


def test_a_bidirectional_lstm_with_projections_has_only_known_weights():
    lstm = nn.LSTM(4, 4, 2, bidirectional=True, proj_size=2)
    assert all(RECURRENT_WEIGHT.match(name) for name, _ in lstm.named_parameters())


@pytest.mark.parametrize("name", ["LayerNorm2d", "LlamaRMSNorm", "BatchNormAct2d", "EvoNorm2dB0", "EvoNorm2dS0a", "GroupNorm32"])
def test_normalisation_classes_are_known_by_their_names(name):
    assert is_norm_name(name)


@pytest.mark.parametrize("name", ["Conv2dNormActivation", "PreNorm", "Normalize", "NormalBlock"])
def test_blocks_and_transforms_named_with_norm_are_not_norms(name):
    assert not is_norm_name(name)
