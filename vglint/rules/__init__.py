"""The registry: the one place that lists vglint's rules, and rule selection by code or prefix."""

from __future__ import annotations

from collections.abc import Iterable

from vglint.rules.architecture import (
    DeepPostNormTransformer,
    GradientAttenuation,
    MissingNormalization,
    MissingSkipConnection,
    SaturatingChain,
)
from vglint.rules.base import Option, Rule
from vglint.rules.gradient_cuts import GradientCutInForward, NoGradInForward
from vglint.rules.losses import LogOfSoftmax, SigmoidWithBCELoss, SigmoidWithMSELoss, SoftmaxBeforeCrossEntropy
from vglint.rules.measured import ExplodingGradient
from vglint.rules.meta import ModelBuildFailed, SyntaxError_, UnusedNoqa
from vglint.rules.recurrent import PlainRNNLongSequence, RNNWithoutGradientClipping

ALL_RULES: tuple[type[Rule], ...] = (
    SyntaxError_,
    ModelBuildFailed,
    UnusedNoqa,
    SaturatingChain,
    GradientAttenuation,
    MissingNormalization,
    MissingSkipConnection,
    DeepPostNormTransformer,
    ExplodingGradient,
    PlainRNNLongSequence,
    RNNWithoutGradientClipping,
    SigmoidWithBCELoss,
    SoftmaxBeforeCrossEntropy,
    SigmoidWithMSELoss,
    LogOfSoftmax,
    GradientCutInForward,
    NoGradInForward,
)

RULES_BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in ALL_RULES}

__all__ = ["ALL_RULES", "RULES_BY_CODE", "Option", "Rule", "select_codes", "check_selector"]


def check_selector(selector: str) -> str:
    """The selector upper-cased; ValueError unless it is ALL or a prefix of some rule's code."""
    selector = selector.strip().upper()
    if selector == "ALL" or any(code.startswith(selector) for code in RULES_BY_CODE):
        return selector
    raise ValueError(f"unknown rule selector {selector!r}")


def _specificity(code: str, selectors: Iterable[str]) -> int:
    """Length of the longest selector matching `code` (ALL counts as 0), or -1 if none does."""
    best = -1
    for selector in selectors:
        if selector == "ALL":
            best = max(best, 0)
        elif code.startswith(selector):
            best = max(best, len(selector))
    return best


def select_codes(select: Iterable[str], extend_select: Iterable[str], ignore: Iterable[str]) -> list[str]:
    """Codes chosen by one layer of selectors, as ruff decides: the most specific selector wins
    and a tie goes to ignore. (The defaults are `engine.selected_codes`'s business.)"""
    chosen = [*select, *extend_select]
    ignore = list(ignore)
    return [
        code
        for code in RULES_BY_CODE
        if (picked := _specificity(code, chosen)) >= 0 and picked > _specificity(code, ignore)
    ]
