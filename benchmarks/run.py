"""Benchmark vglint on real PyTorch model code, all in one command.

Usage: ``python benchmarks/run.py [--parse-only] [--repeat N]``

Why these numbers: vglint parses with libcst, so the bare
``libcst.parse_module`` rate is the floor cost and the honest yardstick; the
ratio vglint/bare says how much our own analysis adds.  Start-up time on a
tiny file is what a user feels from an editor or pre-commit hook, and it must
not pull in torch.  The torchvision/timm directories are real code of a size
people lint at once.

Everything is pinned to one CPU core (child processes inherit the affinity),
so numbers do not depend on how many cores the machine happens to have.
Results go to ``benchmarks/results.md`` and stdout.  If vglint cannot run yet
(``python -m vglint check --help`` fails), only the bare parse is measured.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402  (sibling script, not a package)

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.md"

TINY_MODULE = """import torch.nn as nn
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
    def forward(self, x):
        return self.fc(x)
"""

def pin_one_core() -> str:
    """Restrict this process (and its children) to a single CPU core."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def vglint_cmd(*args: str) -> list[str]:
    """Command line for ``python -m vglint ...`` with this interpreter."""
    return [sys.executable, "-m", "vglint", *args]


def run_vglint(*args: str) -> subprocess.CompletedProcess:
    """Run vglint from the repo root (so the working-tree package is used)."""
    return subprocess.run(vglint_cmd(*args), cwd=REPO, capture_output=True, text=True)


def timed(fn) -> float:
    """Wall-clock seconds of one call of ``fn``."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_wall(args: list[str], repeat: int) -> tuple[float, int, bool]:
    """Median wall seconds of ``vglint *args`` over ``repeat`` runs.

    Also returns the last exit code and whether any run printed a traceback
    (a crash must not pass for a fast run).
    """
    times, rc, crashed = [], 0, False
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = run_vglint(*args)
        times.append(time.perf_counter() - t0)
        rc, crashed = proc.returncode, crashed or "Traceback" in proc.stderr
    return statistics.median(times), rc, crashed


def bench_bare_parse(files: list[Path]) -> float:
    """Files/s of read-bytes + ``libcst.parse_module`` over ``files``."""
    import libcst

    def loop():
        for f in files:
            libcst.parse_module(f.read_bytes())

    return len(files) / timed(loop)


def vglint_help() -> str | None:
    """``vglint check --help`` text, or None when vglint cannot run yet."""
    proc = run_vglint("check", "--help")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"[bench] vglint not runnable ({last}); skipping vglint benchmarks")
        return None
    return proc.stdout


def vglint_version() -> str:
    """Best-effort vglint version string."""
    proc = subprocess.run([sys.executable, "-c", "import vglint; print(vglint.__version__)"],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()
    try:
        from importlib.metadata import version
        return version("vglint")
    except Exception:
        return "n/a"


def torch_imported(path: Path) -> str:
    """yes/no: does ``vglint check`` import torch (``-X importtime``)?

    importtime prints a line even for a failed import, so this also catches
    an attempted ``import torch`` on machines where torch is not installed.
    """
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "vglint", "check", str(path)],
                          cwd=REPO, capture_output=True, text=True)
    hit = any(re.search(r"\|\s*torch(\.|\s*$)", line) for line in proc.stderr.splitlines())
    return "yes" if hit else "no"


def machine_rows(pinning: str, version: str) -> list[tuple[str, str]]:
    """Rows describing the machine and software, for the results header."""
    import libcst
    try:
        from importlib.metadata import version as dist_version
        cst_version = dist_version("libcst")
    except Exception:
        cst_version = getattr(libcst, "__version__", "?")
    return [
        ("date", str(datetime.date.today())),
        ("machine", f"{platform.platform()} / {platform.machine()} / {platform.processor() or '?'}"),
        ("os.cpu_count()", str(os.cpu_count())),
        ("cpu affinity", pinning),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("libcst", cst_version),
        ("vglint", version),
    ]


def table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    """A two-column markdown table."""
    out = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    out += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parse-only", action="store_true", help="measure only the bare libcst parse")
    ap.add_argument("--repeat", type=int, default=7, help="runs per median (default 7)")
    opts = ap.parse_args()

    dirs = corpus.ensure_corpus()
    files = corpus.modeling_files()
    pinning = pin_one_core()
    print(f"[bench] {len(files)} modeling files; {pinning}")

    results: list[tuple[str, str]] = []
    bare = bench_bare_parse(files)
    size = sum(f.stat().st_size for f in files) / 1e6
    results.append((f"bare libcst.parse_module, {len(files)} modeling_*.py ({size:.1f} MB)",
                    f"{bare:.1f} files/s"))
    print(f"[bench] bare parse: {bare:.1f} files/s")

    help_text = None if opts.parse_only else vglint_help()
    version = vglint_version() if help_text is not None else "n/a"
    if help_text is not None:
        # Pass optional flags only when this vglint build knows them.
        # --no-cache: every run analyses the files (a warm cache would time reading its entries)
        flags = [f for f in ("--quiet", "--exit-zero", "--no-cache") if f in help_text]
        cold = ["--no-cache"] if "--no-cache" in help_text else []
        if "--jobs" in help_text:
            flags += ["--jobs", "1"]
        t0 = time.perf_counter()
        proc = run_vglint("check", *flags, *map(str, files))
        rate = len(files) / (time.perf_counter() - t0)
        note = "" if "Traceback" not in proc.stderr else " (CRASHED: traceback on stderr)"
        results.append((f"vglint check {' '.join(flags)}, same files (incl. 1 process start)",
                        f"{rate:.1f} files/s = {rate / bare:.2f}x bare parse, rc={proc.returncode}{note}"))
        print(f"[bench] vglint: {rate:.1f} files/s ({rate / bare:.2f}x bare)")

        with tempfile.TemporaryDirectory() as tmp:
            tiny = Path(tmp) / "tiny_model.py"
            tiny.write_text(TINY_MODULE)
            med, rc, crashed = median_wall(["check", *cold, str(tiny)], opts.repeat)
            results.append((f"vglint check, 7-line nn.Module, median of {opts.repeat}",
                            f"{med * 1000:.0f} ms, rc={rc}{' CRASHED' if crashed else ''}"))
            torch = torch_imported(tiny)
            results.append(("torch imported or attempted (-X importtime)", torch))
            print(f"[bench] tiny file: {med * 1000:.0f} ms; torch imported: {torch}")

        for name in ("torchvision", "timm"):
            d = dirs[name]
            n = sum(1 for _ in d.rglob("*.py"))
            med, rc, crashed = median_wall(["check", *cold, str(d)], opts.repeat)
            results.append((f"vglint check {' '.join(cold)} {name}/models ({n} .py), median of {opts.repeat}",
                            f"{med:.2f} s, rc={rc}{' CRASHED' if crashed else ''}"))
            print(f"[bench] {name}/models: {med:.2f} s")

    text = "\n\n".join([
        "# vglint benchmark results",
        "Generated by `python benchmarks/run.py`; corpus (`.py` files only) from "
        "`benchmarks/corpus.py`: " + ", ".join(
            (corpus.CORPUS / d / ".complete").read_text().strip() for d in corpus.DISTS) + ".",
        table(("", ""), machine_rows(pinning, version)),
        table(("measurement", "result"), results),
    ]) + "\n"
    RESULTS.write_text(text)
    print(f"\n{text}\n[bench] written to {RESULTS}")


if __name__ == "__main__":
    main()
