"""Benchmark the graph front-end's structure pass, and graph mode over a folder of models.

Usage: ``python benchmarks/graph.py [--memory GIB] [MODELS_DIR ...]``

Why these numbers: graph mode must be cheap enough to run on models too big to train here. A
24-layer, d=2048 GPT-style transformer (1.2 billion parameters, 4.8 GB in float32) is built on
the meta device and one forward pass is recorded; the goal is under 1 GB of peak memory and under
5 s. Peak memory is the process's maximum resident size, measured in a fresh interpreter with
torch imported, so the figure includes torch itself. With a folder, ``vglint check --graph`` runs
over it and the wall time is reported with the per-model median from the worker's progress.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STRUCTURE = r"""
import resource, sys, time
sys.path.insert(0, ROOT)
import torch
from torch import nn
from vglint.graph.lower import lower
from vglint.graph.record import construction_sites, record
from vglint.findings import FixedSite, Span

class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))

class GPT(nn.Module):
    def __init__(self, layers=24, d=2048, heads=16, vocab=50304, context=1024):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
with construction_sites(), torch.device("meta"):
    model = GPT()
recorded = record(model, [torch.randint(0, 50304, (2, 16), device="meta")])
graph = lower(recorded, name="GPT", filename="gpt.py", site=FixedSite(Span.at(1)))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "torch_mb": before / 1024,
                  "parameters": recorded["parameters"], "nodes": len(recorded["nodes"]), "layers": len(graph.declared)}))
"""


def structure_pass() -> dict:
    code = "import json\nROOT = %r\n" % str(ROOT) + STRUCTURE
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the structure pass failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def graph_mode(folder: str, memory_gib: float) -> dict:
    """`vglint check --graph FOLDER`, run through the same functions as the CLI, in this process:
    the worker reports each model as it is done, and the gaps between those reports are the
    per-model times (the first includes starting the worker and importing torch)."""
    sys.path.insert(0, str(ROOT))
    from vglint.config import Settings
    from vglint.engine import check_paths
    from vglint.graph.run import graph_findings
    from vglint.probing.run import ProbeOptions

    done_at: list[float] = []
    start = time.perf_counter()
    result = check_paths([folder], Settings(), jobs=1)
    static_s = time.perf_counter() - start
    options = ProbeOptions(timeout_s=120, memory_bytes=int(memory_gib * (1 << 30)))
    built_from = time.perf_counter()
    graph_findings(result, Settings(), options, progress=lambda done, total: done_at.append(time.perf_counter()))
    wall = time.perf_counter() - start
    per_model = [b - a for a, b in zip([built_from, *done_at], done_at)]
    return {
        "wall_s": round(wall, 1), "static_s": round(static_s, 1), "models": len(per_model),
        "per_model_median_s": round(statistics.median(per_model), 3) if per_model else None,
        "per_model_max_s": round(max(per_model), 1) if per_model else None,
        "findings": len(result.findings), "vg002": sum(f.code == "VG002" for f in result.findings),
        "listed": [f"{f.filename}:{f.span.line}: {f.code} {f.message}" for f in result.findings],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="folders to run `check --graph` over (torchvision/models)")
    parser.add_argument("--memory", type=float, default=4, help="GiB for the worker (a CUDA torch needs ~16)")
    arguments = parser.parse_args()
    result = structure_pass()
    print(
        f"structure pass, 24-layer d=2048 GPT on meta: {result['parameters'] / 1e9:.2f}B parameters, "
        f"{result['nodes']} nodes, {result['seconds']:.2f} s, peak {result['peak_mb']:.0f} MB "
        f"(torch alone {result['torch_mb']:.0f} MB); goal under 5 s and 1 GB"
    )
    for folder in arguments.folders:
        measured = graph_mode(folder, arguments.memory)
        listed = measured.pop("listed")
        print(f"check --graph {folder}: {json.dumps(measured)}")
        print("\n".join(f"  {line}" for line in listed))


if __name__ == "__main__":
    main()
