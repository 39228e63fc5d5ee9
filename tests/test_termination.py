"""No input makes the front-end hang: loops, recursion and merge-heavy graphs are bounded.
(The timeout is for termination only, generous on purpose; speed lives in benchmarks/.)"""

from __future__ import annotations

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
    """
)


def test_pathological_models_finish(tmp_path):
    path = tmp_path / "slow.py"
    path.write_text(PATHOLOGICAL)
    result = subprocess.run(
        [sys.executable, "-m", "vglint", "check", "--isolated", "--output-format", "json", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
