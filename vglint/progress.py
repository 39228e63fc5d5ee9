"""The one progress bar of every command that works through a list (files, builds, probes)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import click


def progress_bar(label: str, stream: TextIO | None = None, after_s: float = 0.0) -> Callable[[int, int], None] | None:
    """`show(done, total)`, drawing click's bar on `stream` (stderr) when it is a terminal, once
    `after_s` seconds have passed, so a quick run prints nothing; None when it is not a terminal,
    so output that is piped or logged never holds carriage returns."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None
    started = time.monotonic()
    bar = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            if total < 2 or done >= total or time.monotonic() - started < after_s:
                return
            bar = click.progressbar(length=total, label=label, file=stream, show_pos=True)
        bar.update(done - bar.pos)
        if done >= total:
            bar.render_finish()

    return show
