"""What a rule is: code, name, severity, message template, typed options, documentation, examples.

A rule's class docstring is its documentation page (ruff's five parts: What it does, Why is this
bad?, Example, Use instead, References). Its Example code, reported on `example_lines`, and its
`invalid` cases must produce the rule's finding on the line given; its Use instead code and `valid`
cases must not (Fixit's VALID/INVALID, run by `tests/test_rule_examples.py`). One object, so the
rule, its proof and its page cannot drift apart.

How a rule reports: `self.finding(filename, span, model=..., severity=..., **evidence)` fills the
rule's `message` template from the evidence, so JSON and text never disagree. Evidence keys that
start with `_` (`_note`, `_layers`) are for the message only: they are left out of the JSON
`evidence`, which keeps numbers and plain values (`chain_length`, `estimate`, `layers`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from vglint.findings import Finding, Severity, Span

if TYPE_CHECKING:
    from vglint.analysis import FileAnalysis
    from vglint.ir import ModelGraph


@dataclass(frozen=True)
class Invalid:
    """Code that must produce the rule's finding on `line` (1-based, in the code)."""

    code: str
    line: int


@dataclass(frozen=True)
class Option:
    """A threshold a user may set under `[tool.vglint.rules.CODE]`."""

    name: str
    default: int | float | str | bool
    help: str

    def parse(self, value: Any) -> Any:
        """The value, checked against the default's type; ValueError names what was expected."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is not expected:
            raise ValueError(f"expected {expected.__name__}, got {type(value).__name__}")
        return value


#: The probe's verdict on a depth finding (VG101-VG104) reads the measured ratio of relative
#: gradients between the first and the last weight layer against these.
PROBE_RATIO_OPTIONS = (
    Option("probe-confirm-below", 1e-2, "with --probe: a measured first/last gradient ratio below this confirms the finding"),
    Option("probe-refute-at", 1e-1, "with --probe: a measured ratio at or above this refutes it"),
)

#: The probe's verdict on a recurrent finding (VG201, VG202): the measured horizon against the sequence.
PROBE_HORIZON_OPTIONS = (
    Option("probe-horizon-fraction", 0.1, "with --probe: a measured horizon under this fraction of the sequence confirms the finding"),
)


def located(layer: Any, graph: ModelGraph) -> Span:
    """Where a finding about `layer` goes: the layer's own span, or the model's when the layer was
    made in another module of the package (its span is in that other file)."""
    return layer.span if layer.site.local else graph.span


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    #: One line, formatted with the finding's evidence: JSON and text never disagree.
    message: ClassVar[str]
    #: One line for the `help:` line of the full output: what to change.
    fix: ClassVar[str]
    #: What the rule looks at, for `vglint rules`: one short line.
    summary: ClassVar[str]
    options: ClassVar[tuple[Option, ...]] = ()
    enabled_by_default: ClassVar[bool] = True
    #: Code that must produce this rule's finding (on the line given), and code that must not.
    invalid: ClassVar[tuple[Invalid, ...]] = ()
    valid: ClassVar[tuple[str, ...]] = ()
    #: The line of each Example block of the documentation where the finding is reported.
    example_lines: ClassVar[tuple[int, ...]] = ()
    #: Reported only by building the model (the probe), never by reading code: no code examples.
    measured: ClassVar[bool] = False

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        values = {option.name: option.default for option in self.options}
        values.update(settings or {})
        self.settings = values

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def message_template(cls) -> str:
        """The message as pages show it: without the parts that only some findings have (`{_note}`)."""
        return re.sub(r"\{_\w+\}", "", cls.message)

    @classmethod
    def url(cls) -> str:
        return f"rules/{cls.code}.md"

    def check_file(self, ctx: FileAnalysis) -> Iterable[Finding]:
        """Findings for one file; the default asks `check_model` about each model in it. A model
        built from a config's defaults says so: the values assumed go into the evidence and the
        message."""
        for graph in ctx.models:
            for finding in self.check_model(graph, ctx):
                if graph.assumed:
                    finding.evidence["assumed"] = list(graph.assumed)
                    shown = ", ".join(graph.assumed[:3]) + (", ..." if len(graph.assumed) > 3 else "")
                    finding.message += f" (assuming {shown})"
                yield finding

    def check_model(self, graph: ModelGraph, ctx: FileAnalysis | None) -> Iterator[Finding]:
        return iter(())

    def finding(
        self,
        filename: str,
        span: Span,
        *,
        model: str | None = None,
        severity: Severity | None = None,
        **evidence: Any,
    ) -> Finding:
        """A finding whose message is the rule's template filled from `evidence`."""
        return Finding(
            code=self.code,
            name=self.name,
            severity=severity or self.severity,
            message=self.message.format(**evidence),
            filename=filename,
            span=span,
            model=model,
            evidence={k: v for k, v in evidence.items() if not k.startswith("_")},
            help=self.fix,
            url=self.url(),
        )
