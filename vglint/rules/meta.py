"""Findings about vglint's own work: files it cannot read, models it cannot build, suppression comments
that suppress nothing. The engine reports them itself."""

from __future__ import annotations

from vglint.findings import Finding, Severity, Span
from vglint.rules.base import Invalid, Rule


class SyntaxError_(Rule):
    """
    ## What it does
    Reports a file that vglint cannot read or parse: invalid Python syntax, bytes that are not
    valid in the file's encoding (UTF-8 unless a PEP 263 coding cookie says otherwise), NUL bytes,
    nesting too deep for the parser, or a file that cannot be opened.

    ## Why is this bad?
    vglint cannot check a file it cannot parse, so every other risk in it goes unreported.
    The rest of the run goes on: other files are checked as usual.

    ## Example
    ```python
    class Net(nn.Module)
        def forward(self, x):
            return x
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def forward(self, x):
            return x
    ```

    ## References
    - [PEP 263: Defining Python Source Code Encodings](https://peps.python.org/pep-0263/)
    """

    code = "VG001"
    name = "syntax-error"
    severity = Severity.ERROR
    message = "file cannot be checked: {detail}"
    fix = "fix the syntax or encoding so the file can be parsed"
    summary = "a file cannot be read or parsed"
    example_lines = (1,)
    invalid = (Invalid("class Net(nn.Module)\n    pass\n", line=1),)
    valid = ("class Net(nn.Module):\n    pass\n",)


class ModelBuildFailed(Rule):
    """
    ## What it does
    Reports a model that graph or probe mode could not import, build or run.

    ## Why is this bad?
    A model that cannot be built cannot be inspected or probed, so its static findings stay
    unconfirmed. The message carries the exception that stopped it.

    ## Example
    A model whose constructor needs arguments that the configuration does not give.

    ## Use instead
    Give the model's arguments and input shape in `[tool.vglint]`, or leave it to static checks.

    ## References
    - [PyTorch: nn.Module](https://pytorch.org/docs/stable/generated/torch.nn.Module.html)
    """

    code = "VG002"
    name = "model-build-failed"
    severity = Severity.WARNING
    message = "could not build model: {detail}"
    fix = "give the model's constructor arguments and input shape in [tool.vglint]"
    summary = "graph/probe mode could not import, build or run a model"
    measured = True


class UnusedNoqa(Rule):
    """
    ## What it does
    Reports a suppression comment (`# noqa: VG101`, `# vglint: ignore[VG101]`, a bare
    `# vglint: ignore`) that suppressed no finding of the run, at the comment, naming the codes that
    did nothing: `unused` for rules that ran and found nothing there, `non-enabled` for rules not
    selected in this run, `unknown` for codes of no vglint rule. Off by default, as ruff's RUF100:
    enable it with `--extend-select VG003`.

    Only vglint's codes are judged: `# noqa: E501` belongs to another linter, and so does a bare
    `# noqa`, which every linter reads. The codes of rules that only graph or probe mode report
    (VG002, VG106) are not judged, nor are files that could not be parsed (VG001). A line comment for
    a code that a `# vglint: file-ignore[...]` or `per-file-ignores` already ignores is unused.

    ## Why is this bad?
    A suppression outlives the code it was written for. Once the model is fixed, the stale comment
    keeps hiding whatever risk that line gets next, and readers take the line for a known problem.

    ## Example
    ```python
    from torch import nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))  # noqa: VG101
    ```

    ## Use instead
    Remove the comment, or the codes in it that suppress nothing (`--add-noqa` never adds VG003):
    ```python
    from torch import nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    ```
    To keep a comment that suppresses nothing on purpose, name VG003 in it: `# noqa: VG101, VG003`.
    A code that covers VG003 is never reported itself, and a blanket comment does not hide VG003
    (else an unused `# vglint: ignore` would hide its own report).

    ## References
    - [ruff: unused-noqa (RUF100)](https://docs.astral.sh/ruff/rules/unused-noqa/)
    - [flake8: selecting and ignoring violations](https://flake8.pycqa.org/en/latest/user/violations.html)
    """

    code = "VG003"
    name = "unused-noqa"
    severity = Severity.WARNING
    message = "unused {_blanket}noqa directive{_detail}"
    fix = "remove the comment, or the codes in it that suppress nothing"
    summary = "a suppression comment suppresses no finding of the run (off by default)"
    enabled_by_default = False
    example_lines = (2,)
    invalid = (Invalid("x = 1  # vglint: ignore\n", line=1), Invalid("x = 1  # noqa: VG1, E501\n", line=1))
    valid = ("x = 1  # noqa\n", "x = 1  # noqa: E501\n", "x = 1  # noqa: VG101, VG003\n")

    def unused(self, filename: str, span: Span, unused: list[str], non_enabled: list[str], unknown: list[str],
               blanket: bool) -> Finding:  # fmt: skip
        """The finding for one directive; the message lists its codes as ruff's RUF100 does."""
        groups = (("unused", unused), ("non-enabled", non_enabled), ("unknown", unknown))
        parts = [f"{label}: {', '.join(codes)}" for label, codes in groups if codes]
        return self.finding(filename, span, unused=unused, non_enabled=non_enabled, unknown=unknown, blanket=blanket,
                            _blanket="blanket " if blanket else "", _detail=f" ({'; '.join(parts)})" if parts else "")  # fmt: skip
