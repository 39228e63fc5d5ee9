"""Build a corpus of real PyTorch model code for benchmarking vglint.

Why: vglint's speed only means something on the code people will lint, so we
take the ``.py`` files of three real model zoos (transformers, torchvision,
timm) straight out of their wheels.  We never install them (and never install
torch): ``pip download --no-deps`` fetches the wheel, and only the ``.py``
members are unzipped.  Stdlib only, so it runs before anything else exists.

Usage: ``python benchmarks/corpus.py``  (idempotent: extracted dists are kept)

Layout::

    benchmarks/.corpus/.wheels/          downloaded wheels (pip's -d target)
    benchmarks/.corpus/<dist>/...        the wheel's .py files, paths as in it
    benchmarks/.corpus/<dist>/.complete  marker: extraction finished
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".corpus"
WHEELS = CORPUS / ".wheels"

# dist name -> pip requirement specs to try in order.  The machine's pip
# constraints file caps torchvision at 0.29.1, hence the series fallback.
DISTS: dict[str, list[str]] = {
    "transformers": ["transformers==5.23.0"],
    "torchvision": ["torchvision==0.29.1", "torchvision==0.29.2", "torchvision>=0.29,<0.30"],
    "timm": ["timm==1.0.31"],
}

# Where the model code lives inside each extracted dist.
MODEL_DIRS = {
    "transformers": Path("transformers") / "transformers" / "models",
    "torchvision": Path("torchvision") / "torchvision" / "models",
    "timm": Path("timm") / "timm" / "models",
}


def _find_wheel(dist: str) -> Path | None:
    """Return the newest already-downloaded wheel for ``dist``, if any."""
    found = sorted(WHEELS.glob(f"{dist}-*.whl"))
    return found[-1] if found else None


def _download(dist: str) -> Path:
    """Download the wheel for ``dist`` (no deps, binary only) and return it.

    Tries each spec in ``DISTS[dist]`` until pip succeeds, so a pinned version
    that the index or the constraints file refuses falls back gracefully.
    """
    WHEELS.mkdir(parents=True, exist_ok=True)
    errors = []
    for spec in DISTS[dist]:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
               "--only-binary=:all:", "-d", str(WHEELS), spec]
        print(f"[corpus] pip download {spec}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            wheel = _find_wheel(dist)
            if wheel is not None:
                return wheel
        errors.append(f"{spec}: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    raise SystemExit(f"[corpus] could not download {dist}:\n  " + "\n  ".join(errors))


def _extract_py(wheel: Path, dest: Path) -> int:
    """Unzip only the ``.py`` members of ``wheel`` into ``dest``; return count."""
    n = 0
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".py") and ".." not in Path(name).parts:
                zf.extract(name, dest)
                n += 1
    (dest / ".complete").write_text(wheel.name + "\n")
    return n


def ensure_corpus(verbose: bool = True) -> dict[str, Path]:
    """Download and extract every dist that is not extracted yet.

    Returns ``corpus_dirs()``.  Skips a dist whose ``.complete`` marker exists,
    so repeated runs cost nothing and need no network.
    """
    for dist in DISTS:
        dest = CORPUS / dist
        marker = dest / ".complete"
        if marker.exists():
            if verbose:
                print(f"[corpus] {dist}: already extracted from "
                      f"{marker.read_text().strip()} -> {dest}")
            continue
        wheel = _find_wheel(dist) or _download(dist)
        n = _extract_py(wheel, dest)
        if verbose:
            print(f"[corpus] {dist}: extracted {n} .py files from {wheel.name} -> {dest}")
    return corpus_dirs()


def corpus_dirs() -> dict[str, Path]:
    """Map dist name -> its models directory inside the corpus."""
    return {name: CORPUS / rel for name, rel in MODEL_DIRS.items()}


def modeling_files() -> list[Path]:
    """Sorted ``transformers/models/*/modeling_*.py`` files of the corpus."""
    return sorted(corpus_dirs()["transformers"].glob("*/modeling_*.py"))


def main() -> None:
    """Ensure the corpus and print where everything is."""
    dirs = ensure_corpus()
    print(f"[corpus] root: {CORPUS}")
    for name, path in dirs.items():
        n = sum(1 for _ in path.rglob("*.py")) if path.is_dir() else 0
        print(f"[corpus] {name:<12} {path}  ({n} .py files)")
    print(f"[corpus] transformers modeling_*.py files: {len(modeling_files())}")


if __name__ == "__main__":
    main()
