"""Benchmark the result cache and parallel jobs on transformers' 530 `modeling_*.py`, in one command.

Usage: ``python benchmarks/cache.py [--repeat N]``

Why: a re-run on unchanged code (pre-commit, an editor, ``--watch``) should cost little more than
discovering and hashing the files (goal: a warm-cache run at least 20x faster than a cold one), and
``-j 2`` should use a second core (goal: at least 1.7x faster than ``-j 1`` on a 2-core machine).
Each command is ``python -m vglint check --isolated -q --exit-zero`` in a fresh process, timed by
wall clock; the cold run starts from an empty cache folder, so it pays for writing the entries.
Unlike ``run.py`` nothing is pinned to one core: ``-j 2`` needs two. vglint runs from a copy of
its package made at the start: the cache is keyed by vglint's code, so an edit of the working tree
during the benchmark would otherwise turn the warm runs cold. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402  (sibling script, not a package)

REPO = Path(__file__).resolve().parent.parent


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(code: Path, *args: str) -> tuple[float, float]:
    """Wall and CPU seconds (its worker processes' included) of one `vglint check` run of the
    package copied to `code`; a run that fails stops the benchmark."""
    command = [sys.executable, "-m", "vglint", "check", "--isolated", "-q", "--exit-zero", *args]
    started, cpu = time.perf_counter(), cpu_of_children()
    done = subprocess.run(command, cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"vglint failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, cpu_of_children() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each warm measurement (median)")
    options = parser.parse_args()
    corpus.ensure_corpus(verbose=False)
    files = [str(f) for f in corpus.modeling_files()]
    with tempfile.TemporaryDirectory() as folder:
        code = Path(folder) / "code"
        shutil.copytree(REPO / "vglint", code / "vglint", ignore=shutil.ignore_patterns("__pycache__"))
        cache = ["--cache-dir", str(Path(folder) / "cache")]
        cold, _ = timed(code, *cache, "-j", "1", *files)
        warm = statistics.median(timed(code, *cache, "-j", "1", *files)[0] for _ in range(options.repeat))
        warm_two = statistics.median(timed(code, *cache, "-j", "2", *files)[0] for _ in range(options.repeat))
        one, one_cpu = timed(code, "--no-cache", "-j", "1", *files)
        two, two_cpu = timed(code, "--no-cache", "-j", "2", *files)
    load = os.getloadavg()
    rows = [
        (f"cold cache, -j 1, {len(files)} files", f"{cold:.2f} s"),
        (f"warm cache, -j 1 (median of {options.repeat})", f"{warm:.3f} s"),
        (f"warm cache, -j 2 (median of {options.repeat})", f"{warm_two:.3f} s"),
        ("cold / warm", f"**{cold / warm:.1f}x** (goal: 20x)"),
        ("no cache, -j 1", f"{one:.2f} s (CPU {one_cpu:.1f} s)"),
        ("no cache, -j 2", f"{two:.2f} s (CPU {two_cpu:.1f} s)"),
        ("-j 1 / -j 2", f"**{one / two:.2f}x** (goal: 1.7x)"),
        ("-j 1 / -j 2 with both cores free (-j 2 taking half its CPU time)", f"{one / (two_cpu / 2):.2f}x"),
    ]
    print(f"{os.cpu_count()} CPUs, CPython {platform.python_version()}, load average after: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")  # fmt: skip
    print("| measurement | result |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
