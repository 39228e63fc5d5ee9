"""No input makes the front-end hang: loops, recursion and merge-heavy graphs are bounded.
(The timeout is for termination only, generous on purpose; speed lives in benchmarks/.)"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PATHOLOGICAL = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn

    def forever(n):
        return forever(n + 1)

    class Dense(nn.Module):
        def __init__(self, depth=300):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(depth)])

        def forward(self, x):
            features = [x]
            for layer in self.layers:
                features.append(layer(torch.cat(features, 1)))
            return torch.cat(features, 1)

    class Recursive(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = forever(0)

    class Spin(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            while True:
                pass

        def forward(self, x):
            for _ in range(10 ** 9):
                x = self.fc(x)
            return x

    class Halves(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            for _ in range(40):
                x = self.a(x) + self.a(x) * x
            return x

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(8, 8), nn.Tanh(),
                nn.Linear(8, 8), nn.Tanh(),
                nn.Linear(8, 8), nn.Tanh(),
                nn.Linear(8, 8), nn.Tanh(),
                nn.Linear(8, 1),
            )

        def forward(self, x):
            return self.net(x)
    """
)

#: What must still come out, written by hand (line, column, code, severity):
EXPECTED = [
    # Dense: 300 Linear layers with no normalisation; the dense connections keep the estimate healthy: info.
    (7, 7, "VG103", "info"),
    # Halves: 40 applications of one Linear, no norm, no skip (the product is a gate, off the path).
    (35, 7, "VG103", "warning"),
    (35, 7, "VG104", "warning"),
    # Plain, after every pathological model: 4 tanh in a row, at the first nn.Tanh().
    (49, 30, "VG101", "warning"),
]


def test_pathological_models_finish(tmp_path):
    path = tmp_path / "slow.py"
    path.write_text(PATHOLOGICAL)
    result = subprocess.run(
        [sys.executable, "-m", "vglint", "check", "--isolated", "--output-format", "json", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, result.stderr
    got = [(f["location"]["row"], f["location"]["column"], f["code"], f["severity"]) for f in json.loads(result.stdout)]
    assert got == EXPECTED
    models = {f["model"] for f in json.loads(result.stdout)}
    assert models == {"Dense", "Halves", "Plain"}  # Recursive and Spin cannot be built: nothing on a guess
