"""What a rule reports: one `Finding` per risk, with its evidence as numbers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol


class Severity(enum.IntEnum):
    """Ordered so that `--fail-on warning` means "warning or worse"."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected error, warning or info)") from None

    def __str__(self) -> str:
        return self.name.lower()


class Status(enum.Enum):
    """Static findings come from reading code; the probe marks them confirmed or refuted."""

    STATIC = "static"
    CONFIRMED = "confirmed"
    REFUTED = "refuted"


@dataclass(frozen=True, order=True)
class Span:
    """1-based line and column of the first character, and of the character after the last."""

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def at(cls, line: int, column: int = 1) -> Span:
        return cls(line, column, line, column)


class Site(Protocol):
    """Where a fact comes from: what the rules need of a place in the source, from any front-end.

    `span` and `text` may be computed lazily (the source front-end resolves positions only for
    files with a finding). `local` is False for a place in another file than the one checked (a
    block defined in a sibling module): a finding about it is reported at its model instead.
    """

    @property
    def span(self) -> Span: ...

    @property
    def text(self) -> str: ...

    @property
    def local(self) -> bool: ...


@dataclass(frozen=True)
class FixedSite:
    """A site whose span and text are known up front (the graph front-end, tests)."""

    span: Span
    text: str = ""
    local: bool = True


@dataclass
class Finding:
    code: str
    name: str
    severity: Severity
    message: str
    filename: str
    span: Span
    model: str | None = None
    status: Status = Status.STATIC
    evidence: dict[str, Any] = field(default_factory=dict)
    help: str | None = None
    url: str | None = None
    #: A second place the finding is about (the sigmoid whose output a loss is fed), and what it is
    #: there: shown in the full output, `related` in JSON; a noqa comment on either line suppresses it.
    related: Span | None = None
    related_note: str | None = None
    #: What the probe measured and concluded (`confirmed: the first weight layer (fc0) gets 3e-18
    #: of the last layer's relative gradient`), shown in every format; None when not probed.
    verdict: str | None = None
    #: In a notebook, the cell (numbered from 1 among all its cells) that `span` and `related` count
    #: their lines in; None in a Python file.
    cell: int | None = None
    related_cell: int | None = None

    def sort_key(self) -> tuple:
        return (self.filename, self.cell or 0, self.span.line, self.span.column, self.code, self.message)
