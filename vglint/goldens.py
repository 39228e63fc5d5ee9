"""The `.ir` sidecars of the fixtures: what a front-end understood of each model, as text.

Beside each `fixtures/**/case.py` and its `case.expected` (the findings), `case.ir` records every
model's deepest path as `inspect` prints it, its weight layers, saturating runs, normalisations,
skips and estimate, and whether it was fully understood. The findings say what the rules concluded;
the `.ir` file says what they were given, so a change in a front-end shows up as a readable diff
even when no finding moves. Both front-ends are held to the same sidecars.

After a deliberate change to what a front-end understands, regenerate them and read the diff:
`python -m vglint.goldens` (all fixtures) or `python -m vglint.goldens fixtures/recurrent`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vglint.describe import describe
from vglint.engine import on_deep_stack
from vglint.ir import ModelGraph
from vglint.notebook import Notebook, is_notebook, read_notebook
from vglint.source.frontend import SourceFrontend

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def understood(graph: ModelGraph) -> str:
    flags = [name for name, flag in (("uncertain", graph.uncertain), ("approximate", graph.approximate)) if flag]
    return ", ".join(flags) or "fully"


def ir_text(models: list[ModelGraph], notebook: Notebook | None = None) -> str:
    """The sidecar for one file's models, in the order the front-end found them; in a notebook
    each model's line is counted in its cell."""
    blocks = []
    for graph in models:
        m = describe(graph, "")
        where = f"line {m['line']}"
        if notebook is not None:
            cell, line = notebook.locate(m["line"])
            where = f"cell {cell}, line {line}"
        blocks.append(
            f"{m['model']} ({where})\n"
            f"  path: {m['deepest_path'] or '(empty)'}\n"
            f"  weight layers: {m['weight_layers']}\n"
            f"  saturating runs: {', '.join(map(str, m['saturating_runs'])) or 'none'}\n"
            f"  norms: {m['normalizations']}  skips: {m['skips']}\n"
            f"  estimate: {m['estimated_attenuation']:.2e}\n"
            f"  understood: {understood(graph)}\n"
        )
    return "\n".join(blocks)


def fixture_ir(path: Path) -> str:
    """The sidecar text of one fixture (a Python file or a notebook), from the source front-end."""
    notebook = read_notebook(path.read_bytes()) if is_notebook(path.name) else None
    source = notebook.source.encode() if notebook is not None else path.read_bytes()
    analysis = on_deep_stack(SourceFrontend().analyse, str(path), source)
    return ir_text(analysis.models, notebook)


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [FIXTURES]
    written = 0
    for root in roots:
        for path in sorted([*root.rglob("*.py"), *root.rglob("*.ipynb")]) if root.is_dir() else [root]:
            path.with_suffix(".ir").write_text(fixture_ir(path), encoding="utf-8")
            written += 1
    print(f"wrote {written} .ir sidecars")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
